//! Issue 18 from the command line: `obhut serve --sweep-once` (the
//! operator's one sweep, refused while the vault runs: it holds the data
//! directory), the deletion bound in `obhut serve --help`, and a device
//! moved to another retention class with k custodians' approvals
//! (`obhut custody approve-reclassify`, `obhut admin reclassify`), legal
//! holds, and an erasure run with `obhut serve --erase`. What a
//! sweep does is tested against a real vault in
//! crates/obhut-server/tests/retention*.rs.

use crate::support;

use std::path::Path;

use obhut_store::BlobStore as _;
use support::{Backend, Vault, enrol, index_sql, ingest_clip, ok, run, setup, text, with_blobs};

// Each on the embedded store and on PostgreSQL + S3: the sweep, the
// class change, the hold and the erasure go through the index and the
// blobs the vault is configured with.
on_both_backends!(
    one_sweep_runs_on_a_stopped_vault_only,
    a_device_changes_class_with_k_custodian_approvals_only,
    a_legal_hold_is_placed_and_released_with_k_custodian_approvals_only,
    an_erasure_runs_on_a_stopped_vault_with_custodian_approvals,
    a_sweep_keeps_held_footage_and_deletes_it_after_the_release,
);

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

fn one_sweep_runs_on_a_stopped_vault_only(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let _stores = backend.prepare(dir.path());
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

fn a_device_changes_class_with_k_custodian_approvals_only(backend: Backend) {
    let dir = setup();
    let d = dir.as_path();
    let _stores = backend.prepare(d);
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
fn a_legal_hold_is_placed_and_released_with_k_custodian_approvals_only(backend: Backend) {
    let dir = setup();
    let d = dir.as_path();
    let _stores = backend.prepare(d);
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
    approve_hold(d, &window);
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

/// Alice's and Bob's approvals of placing (`WHO-false.obha`) and of
/// releasing (`WHO-true.obha`) the hold of `window` (`--case … --to …`).
fn approve_hold(d: &Path, window: &[&str]) {
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
}

/// `date -u` of `when` (e.g. "1 day ago") as RFC 3339.
fn utc(when: &str) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", when, "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    text(&out.stdout).trim().to_owned()
}

/// Issue 18 items 3 and 4 end to end: footage ingested by a device, a
/// legal hold placed over it, its epoch expired (its expiry set back in
/// the index, as time passing would), and `obhut serve --sweep-once`
/// destroys the epoch's key but keeps the held footage under the hold's
/// key; once the hold is released the next sweep destroys that key too
/// and deletes every blob, and `obhut check` finds the index and blobs in
/// agreement. On the embedded store and on PostgreSQL + S3 (where the
/// blobs go from the bucket).
fn a_sweep_keeps_held_footage_and_deletes_it_after_the_release(backend: Backend) {
    let dir = setup();
    let d = dir.as_path();
    let _stores = backend.prepare(d);
    let vault = Vault::start(d);
    enrol(d, &vault);
    let rid = ingest_clip(d, 4, "160x120");
    let devices = ok(d, &["admin", "--data", "vault-data", "devices"]);
    let line = devices.lines().nth(1).expect("one device");
    let device = line.split('\t').next().unwrap().to_owned();
    let group = line.split('\t').nth(2).unwrap().to_owned();
    let (from, to) = (utc("1 day ago"), utc("1 day"));
    let window = [
        "--case",
        "2026-K-0042",
        "--device",
        &device,
        "--from",
        &from,
        "--to",
        &to,
    ];
    approve_hold(d, &window);
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
    place.extend([
        "--approval",
        "alice-false.obha",
        "--approval",
        "bob-false.obha",
    ]);
    let hold = ok(d, &place).trim().to_owned();
    drop(vault);
    let stored = || with_blobs(d, "vault-data", |b| async move { b.list().await.unwrap() });
    let segments = stored();
    assert!(segments.len() >= 2, "{segments:?}");
    assert!(segments.iter().all(|k| k.recording.to_string() == rid));
    let n = segments.len();

    index_sql(d, "vault-data", "UPDATE epochs SET expires_ms = 1");
    let sweep = [
        "serve",
        "--sweep-once",
        "--data",
        "vault-data",
        "--keys",
        "vault-keys",
    ];
    let out = ok(d, &sweep);
    assert!(out.contains(" keys destroyed, 0 segments removed"), "{out}");
    assert!(
        out.contains(&format!("0 blobs deleted, {n} held segments re-wrapped")),
        "{out}"
    );
    assert!(!out.contains(" 0 keys destroyed"), "{out}");
    assert_eq!(stored().len(), n, "held footage is kept");

    let release = ok(
        d,
        &[
            "admin",
            "--data",
            "vault-data",
            "hold",
            "release",
            "--hold",
            &hold,
            "--approval",
            "alice-true.obha",
            "--approval",
            "bob-true.obha",
        ],
    );
    let _ = release;
    let out = ok(d, &sweep);
    assert!(
        out.contains(&format!(
            "swept 1 expired epochs: 1 keys destroyed, {n} segments removed from the index, {n} blobs deleted"
        )),
        "{out}"
    );
    assert_eq!(stored(), Vec::new(), "every blob deleted");
    let check = run(
        d,
        &["check", "--data", "vault-data", "--keys", "vault-keys"],
    );
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(
        text(&check.stderr).contains("0 disagreements"),
        "{}",
        text(&check.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 18 item 5 from the command line: custodians sign erasure
/// approvals (`obhut custody approve-erasure`); `obhut serve --erase`
/// refuses while the vault runs, refuses approvals of different
/// erasures, and on the stopped vault opens its stores and keystore and
/// asks `App::erase`, which answers (here: the vault holds no such
/// recording). What an erasure does is tested against a real vault in
/// crates/obhut-server/tests/{erasure,derived}.rs.
fn an_erasure_runs_on_a_stopped_vault_with_custodian_approvals(backend: Backend) {
    let dir = setup();
    let d = dir.as_path();
    let _stores = backend.prepare(d);
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
