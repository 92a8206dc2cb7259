//! `obhut serve --sweep-once` (issue 18 item 4): the operator's one sweep,
//! refused while the vault runs (it holds the data directory), and the
//! deletion bound in `obhut serve --help`. What a sweep does is tested
//! against a real vault in crates/obhut-server/tests/retention*.rs.

mod support;

use support::{Vault, ok, run, text};

#[test]
fn serve_help_states_the_deletion_bound() {
    let dir = tempfile::tempdir().unwrap();
    let help = ok(dir.path(), &["serve", "--help"]);
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("the epoch length bounds how late deletion can be"),
        "{help}"
    );
    assert!(flat.contains("--sweep-once"), "{help}");
}

#[test]
fn one_sweep_runs_on_a_stopped_vault_only() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::start(dir.path());
    let args = [
        "serve",
        "--sweep-once",
        "--data",
        "vault-data",
        "--keys",
        "vault-keys",
    ];
    let busy = run(dir.path(), &args);
    assert!(!busy.status.success());
    assert!(
        text(&busy.stderr).contains("stop the other server"),
        "{}",
        text(&busy.stderr)
    );
    drop(vault);
    let out = ok(dir.path(), &args);
    assert!(out.contains("swept 0 expired epochs"), "{out}");
}
