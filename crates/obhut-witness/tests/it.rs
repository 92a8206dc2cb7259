//! The crate's integration tests, one binary: every `tests/*.rs` is a
//! module here (Cargo.toml: `autotests = false`), so the dependency tree
//! is linked and its generics instantiated once instead of once per file,
//! and the tests of all files share the test harness's threads.
//! Run one file's tests with `cargo test -p obhut-witness --test it FILE::`.

// Shared helpers of several files (directories, so no test files of their own).

mod http;
mod interop_doubleentry;
