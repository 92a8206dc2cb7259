//! Empty on purpose: this library target exists only so that
//! `crates/obhut/Cargo.toml` can give the integration tests the test-only
//! feature `kdf-fast` through a dev-dependency on this package. The binary
//! is `main.rs`.
