//! The binary's end-to-end tests, one test binary: every `tests/*.rs` is
//! a module here (Cargo.toml: `autotests = false`), so the dependency tree
//! is linked and its generics instantiated once instead of once per file,
//! and the tests of all files share the test harness's threads.
//! Run one file's tests with `cargo test -p obhut --test it FILE::`.

// Shared helpers (a directory, so no test file of its own); `#[macro_use]`
// for `on_both_backends!`, which the files below use.
#[macro_use]
mod support;

mod access;
mod agent;
mod audit;
mod check;
mod cli;
mod demo;
mod export;
mod lineage;
mod migrate;
mod names;
mod package;
mod readme;
mod retention;
mod scale_out;
mod settings;
mod tls;
mod vault_process;
mod witness;

/// Autotests are off in every crate that has a `tests/it.rs`, so a
/// `tests/*.rs` named nowhere would silently never build or run: each must
/// be a module of its crate's `tests/it.rs` or a test target of its own in
/// its Cargo.toml. One check for the whole workspace, here.
#[test]
fn every_test_file_is_built() {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for krate in std::fs::read_dir(&crates).unwrap() {
        let dir = krate.unwrap().path();
        let Ok(root) = std::fs::read_to_string(dir.join("tests/it.rs")) else {
            continue;
        };
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("autotests = false"),
            "{}: tests/it.rs but autotests on",
            dir.display()
        );
        for entry in std::fs::read_dir(dir.join("tests")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let Some(stem) = name.strip_suffix(".rs") else {
                continue;
            };
            assert!(
                stem == "it"
                    || root.contains(&format!("\nmod {stem};\n"))
                    || manifest.contains(&format!("path = \"tests/{name}\"")),
                "{}/tests/{name} is not built: add `mod {stem};` to its tests/it.rs",
                dir.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} crates with tests/it.rs found");
}
