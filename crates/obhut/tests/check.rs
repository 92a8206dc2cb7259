//! `obhut check` on a real vault's data directory (docs/vault.md §6.1):
//! footage ingested over loopback by `obhut ingest`, the vault stopped,
//! then the operator's damage — a flipped byte, a truncated blob, a
//! deleted blob, an index row without a blob, a blob without a row — each
//! named by recording and segment, with a non-zero exit; a clean vault
//! passes; `--repair` removes a leftover tmp file and nothing else.

use std::path::Path;

use obhut_core::ids::RecordingId;
use obhut_store::{BlobKey, BlobStore as _};

use crate::support;
use support::*;

fn check(d: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["check", "--data", "vault-data", "--keys", "vault-keys"];
    args.extend_from_slice(extra);
    let out = run(d, &args);
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Every blob of the vault in `d`, sorted, with its bytes.
fn snapshot(d: &Path) -> Vec<(BlobKey, Vec<u8>)> {
    with_blobs(d, "vault-data", |b| async move {
        let mut keys = b.list().await.unwrap();
        keys.sort_by_key(|k| (k.recording.to_string(), k.index));
        let mut out = Vec::new();
        for k in keys {
            out.push((k, get_blob(&b, k).await));
        }
        out
    })
}

// On the embedded store (blob files, SQLite) and on PostgreSQL + S3 (the
// same damage done to objects in the bucket and rows in the database).
on_both_backends!(check_names_a_flipped_byte_a_truncated_blob_a_missing_blob_and_orphans);

fn check_names_a_flipped_byte_a_truncated_blob_a_missing_blob_and_orphans(backend: Backend) {
    let dir = setup();
    let d = dir.as_path();
    let _stores = backend.prepare(d);
    let vault = Vault::start(d);
    enrol(d, &vault);
    let rid = ingest_clip(d, 8, "320x240");
    let recording = RecordingId::from_hex(&rid).expect("a recording id");
    let key = |index: u32| BlobKey { recording, index };
    drop(vault);

    // A clean vault passes, and says what it looked at.
    let (passed, stdout, stderr) = check(d, &[]);
    assert!(passed, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("0 disagreements"), "{stderr}");
    let before = snapshot(d);
    let count = before.len();
    assert!(count >= 5, "{count} segments");
    assert!(
        stderr.contains(&format!("checked {count} segments")),
        "{stderr}"
    );

    // --repair removes a leftover of an interrupted upload (a blob staged
    // and never published) and nothing else.
    with_blobs(d, "vault-data", |b| async move {
        let staged = b.stage(&b"half an upload"[..], 14).await.unwrap();
        // Dropped, it would be removed: an interrupted process leaves it.
        std::mem::forget(staged);
    });
    let (passed, stdout, _) = check(d, &[]);
    assert!(passed, "a leftover is no disagreement: {stdout}");
    assert!(
        stdout.contains(".part: left by an interrupted upload"),
        "{stdout}"
    );
    let leftovers = || {
        with_blobs(
            d,
            "vault-data",
            |b| async move { b.temporary_files().await },
        )
    };
    assert_eq!(
        leftovers().unwrap().len(),
        1,
        "listed, not removed, without --repair"
    );
    let (passed, stdout, stderr) = check(d, &["--repair"]);
    assert!(passed, "{stdout}{stderr}");
    assert!(stdout.contains(".part: removed"), "{stdout}");
    assert_eq!(leftovers().unwrap(), Vec::<String>::new());
    assert!(snapshot(d) == before, "blobs untouched");

    // The damage.
    with_blobs(d, "vault-data", |b| async move {
        let mut one = get_blob(&b, key(1)).await;
        let mid = one.len() / 2;
        one[mid] ^= 0x01;
        put_blob(&b, key(1), &one).await;
        let two = get_blob(&b, key(2)).await;
        put_blob(&b, key(2), &two[..two.len() - 100]).await;
        assert!(b.delete(key(3)).await.unwrap());
        put_blob(&b, key(4000), &get_blob(&b, key(0)).await).await;
    });
    index_sql(
        d,
        "vault-data",
        "INSERT INTO segments SELECT recording_id, 1000, record, record_hash, blob_len, \
         capture_ms, epoch_id, received_ms, receipt FROM segments WHERE idx = 0",
    );
    // The vault's startup check warns about what it can see cheaply.
    // (Lengths and presence; the flipped byte needs `obhut check`.)
    let serve = cmd(
        d,
        &[
            "serve",
            "--data",
            "vault-data",
            "--keys",
            "vault-keys",
            "--listen",
            "127.0.0.1:0",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut serve = support::Listening {
        child: serve,
        addr: "127.0.0.1:1".parse().unwrap(),
    };
    {
        use std::io::BufRead as _;
        let mut first = String::new();
        std::io::BufReader::new(serve.child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.contains("listening"), "{first}");
    }
    let _ = serve.child.kill();
    let _ = serve.child.wait();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut serve.child.stderr.take().unwrap(), &mut log).unwrap();
    for (index, what) in [
        (2, "length is not its record's"),
        (3, "blob is missing"),
        (1000, "blob is missing"),
        (4000, "without an index row"),
    ] {
        assert!(
            log.lines().any(|l| l.contains(what)
                && l.contains(&rid)
                && l.contains(&format!("\"segment\":{index}"))),
            "no startup warning for segment {index} ({what}) in:\n{log}"
        );
    }

    // A running vault holds the lock: the check refuses rather than read
    // a store that is being written.
    let vault = support::spawn_listening(
        d,
        &[
            "serve",
            "--data",
            "vault-data",
            "--keys",
            "vault-keys",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let (passed, _, stderr) = check(d, &[]);
    assert!(!passed);
    assert!(stderr.contains("in use by another obhut serve"), "{stderr}");
    drop(vault);

    // The audit log: an entry's leaf hash changed in the index no longer
    // folds to its tile or to the signed checkpoint's root.
    let (_, stdout, _) = check(d, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(
        v["log_entries"].as_u64().unwrap() > 0,
        "a checkpoint to check against: {v}"
    );
    let zeros = match backend {
        Backend::Embedded => "CAST(zeroblob(32) AS BLOB)",
        Backend::PostgresS3 => "decode(repeat('00', 32), 'hex')",
    };
    index_sql(
        d,
        "vault-data",
        &format!("UPDATE log_entries SET leaf_hash = {zeros} WHERE idx = 0"),
    );
    let (passed, stdout, _) = check(d, &[]);
    assert!(!passed);
    assert!(
        stdout.contains("audit log: stored tile 0/0 disagrees with the entries' hashes"),
        "{stdout}"
    );
    assert!(
        stdout.contains("audit log: the entries do not hash to the latest checkpoint's root"),
        "{stdout}"
    );
}
