//! Issue 18 from the command line: `obhut serve --sweep-once` (the
//! operator's one sweep, refused while the vault runs: it holds the data
//! directory), the deletion bound in `obhut serve --help`, and a device
//! moved to another retention class with k custodians' approvals
//! (`obhut custody approve-reclassify`, `obhut admin reclassify`). What a
//! sweep does is tested against a real vault in
//! crates/obhut-server/tests/retention*.rs.

mod support;

use support::{Vault, enrol, ok, run, setup, text};

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

#[test]
fn a_device_changes_class_with_k_custodian_approvals_only() {
    let dir = setup();
    let d = dir.as_path();
    let vault = Vault::start(d);
    enrol(d, &vault);
    let devices = ok(d, &["admin", "--data", "vault-data", "devices"]);
    let line = devices.lines().nth(1).expect("one device");
    let device = line.split('\t').next().unwrap().to_owned();
    let from = line.split('\t').nth(2).unwrap().to_owned();
    for who in ["alice", "bob"] {
        ok(
            d,
            &[
                "custody",
                "approve-reclassify",
                "--group",
                "custody/group.obgd",
                "--identity",
                &format!("{who}.key"),
                "--device",
                &device,
                "--from",
                &from,
                "--to",
                "evidence",
                "--out",
                &format!("{who}.obra"),
            ],
        );
    }
    let reclassify = |approvals: &[&str]| {
        let mut args = vec![
            "admin",
            "--data",
            "vault-data",
            "reclassify",
            "--device",
            &device,
            "--class",
            "evidence",
        ];
        for a in approvals {
            args.extend(["--approval", a]);
        }
        run(d, &args)
    };
    let one = reclassify(&["alice.obra"]);
    assert!(!one.status.success());
    let err = text(&one.stderr);
    assert!(err.contains("needs 2"), "{err}");
    assert!(ok(d, &["admin", "--data", "vault-data", "devices"]).contains(&from));
    let two = reclassify(&["alice.obra", "bob.obra"]);
    assert!(two.status.success(), "{}", text(&two.stderr));
    let after = ok(d, &["admin", "--data", "vault-data", "devices"]);
    assert!(after.contains("\tevidence\t"), "{after}");
    drop(vault);
    let _ = std::fs::remove_dir_all(&dir);
}
