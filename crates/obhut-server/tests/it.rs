//! The crate's integration tests, one binary: every `tests/*.rs` is a
//! module here (Cargo.toml: `autotests = false`), so the dependency tree
//! is linked and its generics instantiated once instead of once per file,
//! and the tests of all files share the test harness's threads.
//! Run one file's tests with `cargo test -p obhut-server --test it FILE::`.

// Shared helpers of several files (directories, so no test files of their own).
mod hold_support;
mod retention_support;

mod access;
mod anonymous_writes;
mod audit_interop;
mod audit_log;
mod backup;
mod blob_faults;
mod derived;
mod erasure;
mod flood;
mod hold;
mod hold_crash;
mod hostile_clients;
mod keystore_identity;
mod migrate;
mod net;
mod openapi;
mod reshare;
mod retention;
mod retention_crash;
mod retention_hsm;
mod scale_out;
mod storage_faults;
mod two_vaults;
mod vault;

/// The test `name` of module `module` (its `module_path!()`) as the test
/// harness names it, for `--exact`: without the crate's name. The crash,
/// flood and HSM tests run one ignored test of this binary again as their
/// child process.
pub fn test_name(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_, path)) => format!("{path}::{name}"),
        None => name.to_string(),
    }
}
