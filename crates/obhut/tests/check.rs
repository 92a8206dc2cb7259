//! `obhut check` on a real vault's data directory (docs/vault.md §6.1):
//! footage ingested over loopback by `obhut ingest`, the vault stopped,
//! then the operator's damage — a flipped byte, a truncated blob, a
//! deleted blob, an index row without a blob, a blob without a row — each
//! named by recording and segment, with a non-zero exit; a clean vault
//! passes; `--repair` removes a leftover tmp file and nothing else.

use std::fs;
use std::path::{Path, PathBuf};

mod support;
use support::*;

fn check(d: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["check", "--data", "vault-data", "--keys", "vault-keys"];
    args.extend_from_slice(extra);
    let out = run(d, &args);
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Every file under `p`, sorted, with its bytes.
fn snapshot(p: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![p.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn check_names_a_flipped_byte_a_truncated_blob_a_missing_blob_and_orphans() {
    let dir = setup();
    let d = dir.as_path();
    let vault = Vault::start(d);
    enrol(d, &vault);
    let rid = ingest_clip(d, 8, "320x240");
    drop(vault);

    // A clean vault passes, and says what it looked at.
    let (passed, stdout, stderr) = check(d, &[]);
    assert!(passed, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("0 disagreements"), "{stderr}");
    let blobs = d.join("vault-data/blobs").join(&rid);
    let count = fs::read_dir(&blobs).unwrap().count();
    assert!(count >= 5, "{count} segments");
    assert!(
        stderr.contains(&format!("checked {count} segments")),
        "{stderr}"
    );

    // --repair removes a tmp leftover and nothing else.
    let data = d.join("vault-data");
    let before = snapshot(&data);
    let leftover = data.join("tmp/0123abcd.part");
    fs::write(&leftover, b"half an upload").unwrap();
    let (passed, stdout, _) = check(d, &[]);
    assert!(passed, "a leftover is no disagreement: {stdout}");
    assert!(
        stdout.contains("0123abcd.part: left by an interrupted upload"),
        "{stdout}"
    );
    assert!(leftover.exists(), "listed, not removed, without --repair");
    let (passed, stdout, stderr) = check(d, &["--repair"]);
    assert!(passed, "{stdout}{stderr}");
    assert!(stdout.contains("0123abcd.part: removed"), "{stdout}");
    assert!(!leftover.exists());
    let after = snapshot(&data);
    let unchanged = |v: &[(PathBuf, Vec<u8>)]| -> Vec<(PathBuf, Vec<u8>)> {
        // The index's -wal/-shm files come and go with each opening.
        v.iter()
            .filter(|(p, _)| p.starts_with(data.join("blobs")))
            .cloned()
            .collect()
    };
    assert_eq!(unchanged(&before), unchanged(&after), "blobs untouched");

    // The damage.
    let seg = |i: u32| blobs.join(format!("{i}.seg"));
    let mut b = fs::read(seg(1)).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x01;
    fs::write(seg(1), &b).unwrap();
    let b = fs::read(seg(2)).unwrap();
    fs::write(seg(2), &b[..b.len() - 100]).unwrap();
    fs::remove_file(seg(3)).unwrap();
    fs::copy(seg(0), seg(4000)).unwrap();
    sql(
        &data.join("obhut.sqlite"),
        "INSERT INTO segments SELECT recording_id, 1000, record, record_hash, blob_len, \
         capture_ms, epoch_id, received_ms, receipt FROM segments WHERE idx = 0",
    );

    let (passed, stdout, stderr) = check(d, &[]);
    assert!(!passed, "damage must fail the check: {stdout}{stderr}");
    let line = |index: u32, what: &str| {
        let prefix = format!("recording {rid} segment {index}: ");
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(what)),
            "no line `{prefix}…{what}…` in:\n{stdout}"
        );
    };
    line(1, "does not match its record's BLAKE3");
    line(2, "stored blob is shorter than its record");
    line(3, "blob is missing");
    line(1000, "blob is missing");
    line(4000, "blob has no index row");
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    assert!(stderr.contains("5 disagreements"), "{stderr}");

    // The same as JSON, for scripts.
    let (_, stdout, _) = check(d, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let kinds: Vec<(&str, u64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap(), f["segment"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("hash-mismatch", 1),
            ("short-blob", 2),
            ("missing-blob", 3),
            ("missing-blob", 1000),
            ("orphan-blob", 4000)
        ]
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
    sql(
        &data.join("obhut.sqlite"),
        "UPDATE log_entries SET leaf_hash = CAST(zeroblob(32) AS BLOB) WHERE idx = 0",
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
