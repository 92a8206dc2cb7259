//! Issue 18 from the command line: `obhut serve --sweep-once` (the
//! operator's one sweep, refused while the vault runs: it holds the data
//! directory), the deletion bound in `obhut serve --help`, and a device
//! moved to another retention class with k custodians' approvals
//! (`obhut custody approve-reclassify`, `obhut admin reclassify`), legal
//! holds, and an erasure run with `obhut serve --erase`. What a
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
    let from = line.split('\t').nth(3).unwrap().to_owned();
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

/// Issue 18 item 3 from the command line: custodians sign hold approvals
/// (`obhut custody approve-hold`), the operator places the hold with k of
/// them only, lists it and releases it with k release approvals.
#[test]
fn a_legal_hold_is_placed_and_released_with_k_custodian_approvals_only() {
    let dir = setup();
    let d = dir.as_path();
    let vault = Vault::start(d);
    enrol(d, &vault);
    let devices = ok(d, &["admin", "--data", "vault-data", "devices"]);
    let line = devices.lines().nth(1).expect("one device");
    let device = line.split('\t').next().unwrap().to_owned();
    let group = line.split('\t').nth(2).unwrap().to_owned();
    let window = [
        "--case",
        "2026-K-0042",
        "--device",
        &device,
        "--from",
        "2026-12-01T14:00:00Z",
        "--to",
        "2026-12-01T15:00:00Z",
    ];
    for (who, release) in [
        ("alice", false),
        ("bob", false),
        ("alice", true),
        ("bob", true),
    ] {
        let out = format!("{who}-{release}.obha");
        let mut args = vec![
            "custody",
            "approve-hold",
            "--group",
            "custody/group.obgd",
            "--identity",
        ];
        let key = format!("{who}.key");
        args.push(&key);
        args.extend(window);
        args.extend(["--out", &out]);
        if release {
            args.push("--release");
        }
        ok(d, &args);
    }
    let mut place = vec![
        "admin",
        "--data",
        "vault-data",
        "hold",
        "place",
        "--group",
        &group,
    ];
    place.extend(window);
    let mut one = place.clone();
    one.extend(["--approval", "alice-false.obha"]);
    let refused = run(d, &one);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("needs 2"),
        "{}",
        text(&refused.stderr)
    );
    let list = || ok(d, &["admin", "--data", "vault-data", "hold", "list"]);
    assert_eq!(list().lines().count(), 1, "only the header");
    place.extend([
        "--approval",
        "alice-false.obha",
        "--approval",
        "bob-false.obha",
    ]);
    let id = ok(d, &place).trim().to_owned();
    assert_eq!(id.len(), 32, "{id}");
    let listed = list();
    let row = listed.lines().nth(1).expect("the hold");
    assert!(
        row.starts_with(&format!("{id}\t2026-K-0042\t{device}\t")),
        "{row}"
    );
    assert!(row.ends_with("\t-"), "active: {row}");
    let release = |approvals: &[&str]| {
        let mut args = vec![
            "admin",
            "--data",
            "vault-data",
            "hold",
            "release",
            "--hold",
            &id,
        ];
        for a in approvals {
            args.extend(["--approval", a]);
        }
        run(d, &args)
    };
    // Placement approvals do not release it.
    assert!(
        !release(&["alice-false.obha", "bob-false.obha"])
            .status
            .success()
    );
    let done = release(&["alice-true.obha", "bob-true.obha"]);
    assert!(done.status.success(), "{}", text(&done.stderr));
    assert!(!list().lines().nth(1).unwrap().ends_with("\t-"), "released");
    drop(vault);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 18 item 5 from the command line: custodians sign erasure
/// approvals (`obhut custody approve-erasure`); `obhut serve --erase`
/// refuses while the vault runs, refuses approvals of different
/// erasures, and on the stopped vault opens its stores and keystore and
/// asks `App::erase`, which answers (here: the vault holds no such
/// recording). What an erasure does is tested against a real vault in
/// crates/obhut-server/tests/{erasure,derived}.rs.
#[test]
fn an_erasure_runs_on_a_stopped_vault_with_custodian_approvals() {
    let dir = setup();
    let d = dir.as_path();
    let vault = Vault::start(d);
    let recording = "5a".repeat(16);
    for (who, reason) in [
        ("alice", "Art. 17 request 2026-0017"),
        ("bob", "Art. 17 request 2026-0017"),
        ("carol", "another request"),
    ] {
        let key = format!("{who}.key");
        let out = format!("{who}.obea");
        ok(
            d,
            &[
                "custody",
                "approve-erasure",
                "--group",
                "custody/group.obgd",
                "--identity",
                &key,
                "--recording",
                &recording,
                "--reason",
                reason,
                "--out",
                &out,
            ],
        );
        assert!(d.join(&out).exists());
    }
    let erase = |approvals: &[&str]| {
        let mut args = vec![
            "serve",
            "--data",
            "vault-data",
            "--keys",
            "vault-keys",
            "--erase",
        ];
        args.extend(approvals);
        run(d, &args)
    };
    let busy = erase(&["alice.obea", "bob.obea"]);
    assert!(!busy.status.success());
    assert!(
        text(&busy.stderr).contains("stop the other server"),
        "{}",
        text(&busy.stderr)
    );
    drop(vault);
    let mixed = erase(&["alice.obea", "carol.obea"]);
    assert!(!mixed.status.success());
    assert!(
        text(&mixed.stderr).contains("different erasures"),
        "{}",
        text(&mixed.stderr)
    );
    let out = erase(&["alice.obea", "bob.obea"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("the erasure was refused")
            && err.contains(&format!("no recording {recording}")),
        "{err}"
    );
    let help = ok(d, &["serve", "--help"]);
    assert!(help.contains("--erase"), "{help}");
    let _ = std::fs::remove_dir_all(&dir);
}
