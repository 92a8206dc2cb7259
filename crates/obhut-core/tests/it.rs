//! The crate's integration tests, one binary: every `tests/*.rs` is a
//! module here (Cargo.toml: `autotests = false`), so the dependency tree
//! is linked and its generics instantiated once instead of once per file,
//! and the tests of all files share the test harness's threads.
//! Run one file's tests with `cargo test -p obhut-core --test it FILE::`.

// Shared helpers of several files (directories, so no test files of their own).
mod segment_support;
mod threshold_support;

mod access_flow;
mod aead_cross_check;
mod debug_redaction;
mod deletion;
mod derived;
mod erasure;
mod hold;
mod malleability;
mod quantum_custody;
mod reclassify;
mod reshare;
mod rewrap;
mod segment_chain;
mod segment_roundtrip;
mod segment_splice;
mod segment_tamper;
mod spec_sync;
mod threshold;
mod threshold_custodian;
mod threshold_encoding;
mod wycheproof;
