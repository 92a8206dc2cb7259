//! The access workflow as people run it (docs/access.md): `obhut serve`,
//! a device that ingested a real MP4, a requester's `obhut request
//! --vault`, custodians' `obhut pending | approve | deny`, and the
//! requester's `obhut open` — whole scope byte-identical to the capture,
//! `--range` of the scope, segments outside it sealed; k−1 approvals and
//! a denied request open nothing; every step is in the audit log. This is
//! the only way to open footage (there is no offline path that skips the
//! log), so what people can get wrong on the way is tested here too: no
//! confirmation, a wrong passphrase, a range outside the scope, a file
//! without media times.

use std::fs;
use std::path::Path;

use obhut_core::ids::RecordingId;

use crate::support;
use crate::support::credentials;
use support::*;

fn fails(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        !out.status.success(),
        "obhut {args:?} unexpectedly succeeded\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// A request for media [from, to) of `rid`, submitted; returns its hash.
fn request(
    d: &Path,
    vault: &Vault,
    vkey: &str,
    rid: &str,
    from: &str,
    to: &str,
    out: &str,
) -> String {
    request_with(
        d,
        vault,
        vkey,
        rid,
        &["--from-ms", from, "--to-ms", to],
        out,
    )
}

/// A request for `rid` with the scope flags `scope`, submitted; returns
/// its hash.
fn request_with(
    d: &Path,
    vault: &Vault,
    vkey: &str,
    rid: &str,
    scope: &[&str],
    out: &str,
) -> String {
    let mut args = vec![
        "request",
        "--identity",
        "req.key",
        "--group",
        "custody/group.obgd",
        "--recording",
        rid,
    ];
    args.extend_from_slice(scope);
    args.extend_from_slice(&[
        "--purpose",
        "criminal investigation",
        "--justification",
        "complaint 17 concerns this stop",
        "--legal-basis",
        "§ 48 BDSG",
        "--case",
        "CASE-17",
        "--recipient",
        "prosecutor",
        "--out",
        out,
        "--vault",
        &vault.url,
        "--log-key",
        vkey,
        "--log-state",
        "req.cp",
    ]);
    let o = ok(d, &args);
    let hash = o.trim().to_owned();
    assert_eq!(hash.len(), 64, "{o}");
    hash
}

/// `obhut approve HASH` as custodian `who` with the share file `share`.
fn approve_args(vault: &Vault, vkey: &str, who: &str, share: &str, hash: &str) -> Vec<String> {
    [
        "approve",
        hash,
        "--vault",
        &vault.url,
        "--log-key",
        vkey,
        "--state",
        &format!("{who}.cp"),
        "--identity",
        &format!("{who}.key"),
        "--share",
        share,
        "--group",
        "custody/group.obgd",
        "--yes",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn approve(d: &Path, vault: &Vault, vkey: &str, who: &str, share: u32, hash: &str) -> String {
    let share = format!("custody/share-{share}.obse");
    ok(d, &strs(&approve_args(vault, vkey, who, &share, hash)))
}

fn open_args<'a>(vault: &'a Vault, vkey: &'a str, hash: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "open",
        hash,
        "--vault",
        &vault.url,
        "--log-key",
        vkey,
        "--state",
        "req.cp",
        "--identity",
        "req.key",
        "--group",
        "custody/group.obgd",
        "--out",
        out,
        // These tests check the opened bytes against the original's.
        "--layout",
        "original",
    ]
}

/// Keys (custodians, a requester, a camera), a vault, the camera enrolled
/// and a real MP4 of `seconds` ingested in 2-second segments, the requester
/// registered and everyone a reader. Returns the vault, its log key, the
/// recording id and the original file.
struct Ingested {
    vault: Vault,
    vkey: String,
    rid: String,
    original: Vec<u8>,
}

fn ingested(d: &Path, seconds: u32, readers: &[&str]) -> Ingested {
    fs::create_dir_all(d.join("dock")).unwrap();
    make_mp4(&d.join("dock/clip.mp4"), seconds, "320x240");
    ingested_file(d, "dock/clip.mp4", readers).0
}

/// As [`ingested`], for the file `file` (relative to `d`) already in
/// place; also returns what `obhut ingest` said on stderr.
fn ingested_file(d: &Path, file: &str, readers: &[&str]) -> (Ingested, String) {
    ok(
        d,
        &[
            "keygen",
            "person",
            "--name",
            "requester",
            "--out",
            "req.key",
            "--kdf-fast",
        ],
    );
    let vault = Vault::start(d);
    let vkey = log_key(&vault);
    let token = vault.token(d, "custody/group.obgd");
    let fpr = fingerprint(d, "custody/group.obgd");
    ok(
        d,
        &[
            "enrol",
            "--vault",
            &vault.url,
            "--token",
            &token,
            "--device",
            "cam.key",
            "--group-fingerprint",
            &fpr,
            "--state",
            "state",
        ],
    );
    let original = fs::read(d.join(file)).unwrap();
    let out = run(
        d,
        &["ingest", "--state", "state", "--segment-ms", "2000", file],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rid = text(&out.stdout).trim().to_owned();
    assert!(RecordingId::from_hex(&rid).is_some(), "{rid}");
    let gid = group_id(d);
    let admin = |args: &[&str]| {
        let mut a = vec!["admin", "--data", "vault-data", "--keys", "vault-keys"];
        a.extend_from_slice(args);
        ok(d, &a)
    };
    admin(&[
        "add-requester",
        "--identity",
        "req.key.pub",
        "--group",
        &gid,
    ]);
    for who in readers {
        admin(&[
            "add-reader",
            "--identity",
            &format!("{who}.key.pub"),
            "--group",
            &gid,
        ]);
    }
    (
        Ingested {
            vault,
            vkey,
            rid,
            original,
        },
        text(&out.stderr),
    )
}

#[test]
fn request_approve_open_byte_identical_scope_and_refusals() {
    let dir = setup();
    let d = dir.as_path();
    let Ingested {
        vault,
        vkey,
        rid,
        original,
    } = ingested(d, 20, &["req", "alice", "bob", "carol"]);
    // A request nobody may make: not a requester.
    let e = fails(
        d,
        &[
            "request",
            "--identity",
            "alice.key",
            "--group",
            "custody/group.obgd",
            "--recording",
            &rid,
            "--purpose",
            "criminal investigation",
            "--justification",
            "x",
            "--legal-basis",
            "x",
            "--case",
            "x",
            "--out",
            "bad.obar",
            "--vault",
            &vault.url,
            "--log-key",
            &vkey,
            "--log-state",
            "alice.cp",
        ],
    );
    assert!(e.contains("forbidden"), "{e}");

    // Media 4 s – 8 s: a few segments of ten.
    let hash = request(d, &vault, &vkey, &rid, "4000", "8000", "req.obar");
    let pending = ok(
        d,
        &[
            "pending",
            "--vault",
            &vault.url,
            "--log-key",
            &vkey,
            "--identity",
            "alice.key",
        ],
    );
    assert!(
        pending.contains(&hash) && pending.contains("complaint 17") && pending.contains("CASE-17"),
        "{pending}"
    );

    // A wrong passphrase or a missing share: a clear error, nothing logged.
    let db = d.join("vault-data/obhut.sqlite");
    let before = sequenced(&db);
    // Without --yes and without a terminal: the request is shown in full
    // first, then the approval is refused, and nothing is logged or sent.
    let args = approve_args(&vault, &vkey, "bob", "custody/share-2.obse", &hash);
    let no_yes: Vec<&str> = strs(&args).into_iter().filter(|a| *a != "--yes").collect();
    let e = fails(d, &no_yes);
    for shown in [
        &format!("access request {hash}")[..],
        "  purpose:       criminal investigation",
        "  justification: complaint 17 concerns this stop",
        "  legal basis:   § 48 BDSG",
        "  case:          CASE-17",
        "  recipient:     prosecutor",
        "in scope:",
        "error: refusing to approve without confirmation: standard input is not a terminal",
        "pass --yes",
    ] {
        assert!(e.contains(shown), "expected {shown:?} in:\n{e}");
    }
    let args = approve_args(&vault, &vkey, "alice", "custody/share-1.obse", &hash);
    let out = cmd(d, &strs(&args))
        .env("OBHUT_PASSPHRASE", "not the passphrase")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("passphrase"),
        "{}",
        text(&out.stderr)
    );
    let args = approve_args(&vault, &vkey, "alice", "custody/share-9.obse", &hash);
    let e = fails(d, &strs(&args));
    assert!(e.contains("share-9.obse"), "{e}");
    assert_eq!(sequenced(&db), before, "a failed approve logged something");

    // One approval of two: nothing opens.
    approve(d, &vault, &vkey, "alice", 1, &hash);
    let e = fails(d, &open_args(&vault, &vkey, &hash, "early"));
    assert!(e.contains("not-ready"), "{e}");
    assert!(!d.join("early").exists() || fs::read_dir(d.join("early")).unwrap().next().is_none());
    // Issue 15 item 2: her partial has not left (one approval of two);
    // running approve again asks nothing, logs nothing, and still waits.
    assert_eq!(envelopes(&db, &hash), 0, "a partial left before k approved");
    let before = sequenced(&db);
    let again = run(
        d,
        &strs(&approve_args(
            &vault,
            &vkey,
            "alice",
            "custody/share-1.obse",
            &hash,
        )),
    );
    let again = text(&again.stderr);
    assert!(again.contains("1 of 2 approvals are logged"), "{again}");
    assert_eq!(sequenced(&db), before);

    // Bob's approval makes two: his partial goes at once, Alice's when she
    // runs approve again.
    approve(d, &vault, &vkey, "bob", 2, &hash);
    assert_eq!(envelopes(&db, &hash), 1);
    approve(d, &vault, &vkey, "alice", 1, &hash);
    assert_eq!(envelopes(&db, &hash), 2);
    let out = run(d, &open_args(&vault, &vkey, &hash, "opened"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let opened_note = text(&out.stderr);
    let got = fs::read(d.join(format!("opened/{rid}.media"))).unwrap();
    assert_eq!(got.len(), original.len(), "laid out like the original");
    let same = got
        .iter()
        .zip(&original)
        .filter(|(a, b)| a == b && **a != 0)
        .count();
    let zeros = got.iter().filter(|&&b| b == 0).count();
    assert!(
        same > 0 && zeros > 0,
        "part of the file opened, the rest sealed"
    );
    // Every non-zero byte is the original's — the scope is byte-identical —
    // but for the `free` box header laid over the sealed start so that a
    // demuxer steps over it, and the type of ffmpeg's `udta` box (its
    // encoder tag), which became a `free` box of the same size: metadata
    // opens only with include_metadata (docs/format.md §7.4).
    assert_eq!(
        &got[4..8],
        b"free",
        "a free box over the sealed first segment"
    );
    let udta = original
        .windows(4)
        .rposition(|w| w == b"udta")
        .expect("ffmpeg writes a udta box");
    assert_eq!(&got[udta..udta + 4], b"free", "udta blanked");
    assert!(
        got.iter()
            .zip(&original)
            .enumerate()
            .skip(8)
            .all(|(i, (a, b))| *a == 0 || a == b || (udta..udta + 4).contains(&i))
    );
    // And it plays: the container index is in scope, so ffmpeg decodes the
    // approved window (media 4.1–7.6 s) from the opened file into exactly
    // the frames it decodes from the original. (Probing the sealed start
    // prints decoder errors; the frames of the scope are what count.)
    let frames = |file: &Path| -> Vec<String> {
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-ss", "4.1", "-t", "3.5", "-i"])
            .arg(file)
            .args(["-f", "framemd5", "-"])
            .output()
            .expect("ffmpeg is needed (./scripts/test installs it)");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit(',').next().unwrap_or("").trim().to_owned())
            .collect()
    };
    let scope_frames = frames(&d.join(format!("opened/{rid}.media")));
    assert!(
        scope_frames.len() >= 80,
        "{} frames decoded",
        scope_frames.len()
    );
    assert_eq!(scope_frames, frames(&d.join("dock/clip.mp4")));

    // --range: only bytes of the scope, identical to the original's.
    // The first opened byte after the `free` header over the sealed start,
    // and the start of the sealed run after the scope (4 KiB of zeros is no
    // H.264 a camera writes).
    let first = 8 + got[8..].iter().position(|&b| b != 0).unwrap();
    let after = first
        + got[first..]
            .windows(4096)
            .position(|w| w.iter().all(|&b| b == 0))
            .unwrap();
    let range = format!("{}-{}", first, first + 1000);
    let mut args = open_args(&vault, &vkey, &hash, "ranged");
    args.extend_from_slice(&["--range", &range]);
    ok(d, &args);
    let r = fs::read(d.join(format!("ranged/{rid}.range"))).unwrap();
    assert_eq!(r, original[first..first + 1000]);
    // Across segments: 4–8 s is at least two 2-second media segments (and
    // the index), so all but the ends of the scope's bytes cross a segment
    // boundary.
    let opened: usize = opened_note
        .split("opened ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no opened count: {opened_note}"));
    assert!(
        opened >= 3,
        "two media segments and the index: {opened_note}"
    );
    let (s, t) = (first + 100, after - 100);
    let range = format!("{s}-{t}");
    let mut args = open_args(&vault, &vkey, &hash, "across");
    args.extend_from_slice(&["--range", &range]);
    ok(d, &args);
    let r = fs::read(d.join(format!("across/{rid}.range"))).unwrap();
    assert!(
        r == original[s..t],
        "the range differs from the original's bytes"
    );
    // A range reaching into sealed bytes is refused, and writes nothing.
    let range = format!("0-{}", first + 10);
    let mut args = open_args(&vault, &vkey, &hash, "outside");
    args.extend_from_slice(&["--range", &range]);
    let e = fails(d, &args);
    assert!(e.contains("which the request does not cover"), "{e}");
    assert!(e.contains("hint: the request covers bytes "), "{e}");
    assert!(!d.join(format!("outside/{rid}.range")).exists());

    // A denied request opens nothing, even with approvals afterwards refused.
    let denied = request(d, &vault, &vkey, &rid, "0", "2000", "req2.obar");
    ok(
        d,
        &[
            "deny",
            &denied,
            "--vault",
            &vault.url,
            "--log-key",
            &vkey,
            "--state",
            "carol.cp",
            "--identity",
            "carol.key",
            "--group",
            "custody/group.obgd",
            "--reason",
            "no legal basis for this part",
        ],
    );
    let e = fails(
        d,
        &strs(&approve_args(
            &vault,
            &vkey,
            "alice",
            "custody/share-1.obse",
            &denied,
        )),
    );
    assert!(e.contains("denied"), "{e}");
    let e = fails(d, &open_args(&vault, &vkey, &denied, "denied"));
    assert!(
        e.contains("denied") || e.contains("conflict") || e.contains("forbidden"),
        "{e}"
    );
}

/// A vault that tampers with what it serves: another requester key, a
/// wider scope, a substituted segment record. Each is caught by the
/// custodian's client before anything is computed, and nothing is logged
/// as approved.
#[test]
fn a_tampering_vault_gets_no_approval() {
    let dir = setup();
    let d = dir.as_path();
    let Ingested {
        vault, vkey, rid, ..
    } = ingested(d, 10, &["alice"]);
    let db = d.join("vault-data/obhut.sqlite");
    let approve_refused = |hash: &str, needles: &[&str], before: u64| {
        let e = fails(
            d,
            &strs(&approve_args(
                &vault,
                &vkey,
                "alice",
                "custody/share-1.obse",
                hash,
            )),
        );
        assert!(
            needles.iter().any(|n| e.contains(n)),
            "expected one of {needles:?}: {e}"
        );
        // Nothing was sequenced since the request: no approval logged.
        assert_eq!(
            sequenced(&db),
            before,
            "a refused approval logged something"
        );
    };

    // Another requester key: the vault serves a request signed by a key
    // of its choosing (carol's here) in place of the logged one.
    let hash = request(d, &vault, &vkey, &rid, "0", "4000", "req.obar");
    let logged_before = sequenced(&db);
    ok(
        d,
        &[
            "request",
            "--identity",
            "carol.key",
            "--group",
            "custody/group.obgd",
            "--recording",
            &rid,
            "--from-ms",
            "0",
            "--to-ms",
            "4000",
            "--purpose",
            "criminal investigation",
            "--justification",
            "complaint 17 concerns this stop",
            "--legal-basis",
            "§ 48 BDSG",
            "--case",
            "CASE-17",
            "--recipient",
            "prosecutor",
            "--out",
            "swapped.obar",
        ],
    );
    let original = fs::read(d.join("req.obar")).unwrap();
    let swapped = fs::read(d.join("swapped.obar")).unwrap();
    let set = |bytes: &[u8]| {
        sql(
            &db,
            &format!(
                "UPDATE access_requests SET request = X'{}' WHERE request_hash = X'{hash}'",
                hex::encode(bytes)
            ),
        );
    };
    set(&swapped);
    approve_refused(&hash, &["not the one asked for"], logged_before);

    // A wider scope: the signed bytes changed, the signature fails (our
    // vault already refuses to serve it; a malicious one would, and the
    // custodian's client would refuse it).
    let mut wider = original.clone();
    let at = wider.len() - 100;
    wider[at] ^= 0x01;
    set(&wider);
    approve_refused(&hash, &["does not verify", "does not parse"], logged_before);

    // A substituted segment record: the chain breaks.
    set(&original);
    sql(
        &db,
        &format!(
            "UPDATE segments SET record = (SELECT record FROM segments WHERE recording_id = X'{rid}' AND idx = 2) \
         WHERE recording_id = X'{rid}' AND idx = 1"
        ),
    );
    approve_refused(&hash, &["do not verify"], logged_before);
}

/// A file the agent cannot cut by time (not an MP4) is sealed as byte
/// ranges with media time 0..0: a request for the whole recording (with
/// its sidecar) opens it byte-identical. A wrong passphrase on the way is
/// refused, names where the passphrase came from without printing it, and
/// writes and logs nothing.
#[test]
fn a_file_without_media_times_opens_whole_and_a_wrong_passphrase_writes_nothing() {
    let dir = setup();
    let d = dir.as_path();
    fs::create_dir_all(d.join("dock")).unwrap();
    // 3 MiB of a pattern, and a sidecar sealed as the metadata segment.
    let data: Vec<u8> = (0..(3u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(d.join("dock/data.bin"), &data).unwrap();
    let sidecar = br#"{"officer":"PC 4711","gps":[[52.52,13.40]]}"#;
    fs::write(d.join("dock/data.json"), sidecar).unwrap();
    let (
        Ingested {
            vault,
            vkey,
            rid,
            original,
        },
        said,
    ) = ingested_file(d, "dock/data.bin", &["req", "alice", "bob"]);
    assert_eq!(original, data);
    assert!(
        said.contains("sealing it as byte ranges without media times"),
        "{said}"
    );

    // The whole recording (no --from-ms/--to-ms), with its metadata.
    let hash = request_with(d, &vault, &vkey, &rid, &["--include-metadata"], "req.obar");
    approve(d, &vault, &vkey, "alice", 1, &hash);
    approve(d, &vault, &vkey, "bob", 2, &hash);
    approve(d, &vault, &vkey, "alice", 1, &hash);

    // A wrong passphrase, from the environment and from a file; then none.
    let db = d.join("vault-data/obhut.sqlite");
    let before = sequenced(&db);
    let args = open_args(&vault, &vkey, &hash, "wrong");
    let out = cmd(d, &args)
        .env("OBHUT_PASSPHRASE", "not the passphrase")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(
        e.contains("error: cannot unlock req.key (given as --identity): wrong passphrase, or the key file is corrupted"),
        "{e}"
    );
    assert!(
        e.contains(
            "hint: check the passphrase (read from the environment variable OBHUT_PASSPHRASE)"
        ),
        "{e}"
    );
    assert!(
        !e.contains("not the passphrase"),
        "the passphrase was printed: {e}"
    );
    fs::write(d.join("bad.pass"), "hunter2\n").unwrap();
    let mut with_file = args.clone();
    with_file.extend_from_slice(&["--passphrase-file", "bad.pass"]);
    let e = fails(d, &with_file);
    assert!(e.contains("wrong passphrase"), "{e}");
    assert!(e.contains("read from --passphrase-file bad.pass"), "{e}");
    assert!(!e.contains("hunter2"), "the passphrase was printed: {e}");
    let out = cmd(d, &args)
        .env_remove("OBHUT_PASSPHRASE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(
        e.contains("hint: pass --passphrase-file FILE or set OBHUT_PASSPHRASE"),
        "{e}"
    );
    assert!(!d.join("wrong").exists(), "a failed open wrote its --out");
    let temporary: Vec<_> = fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".obhut-tmp"))
        .collect();
    assert!(temporary.is_empty(), "temporary files left: {temporary:?}");
    assert_eq!(sequenced(&db), before, "a failed open logged something");

    // Every segment opens: the file byte-identical, the sidecar beside it.
    let out = run(d, &open_args(&vault, &vkey, &hash, "opened"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let note = text(&out.stderr);
    assert!(
        note.contains("0 segment(s) outside the request stay sealed"),
        "{note}"
    );
    let got = fs::read(d.join(format!("opened/{rid}.media"))).unwrap();
    assert!(got == data, "the opened file differs from the original");
    assert_eq!(
        fs::read(d.join(format!("opened/{rid}.metadata"))).unwrap(),
        sidecar
    );

    // The default layout, a clean clip, cannot cut a file that is not an
    // MP4: it is written in the original layout, and the note says why.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let args: Vec<&str> = open_args(&vault, &vkey, &hash, "default")
        .into_iter()
        .take_while(|a| *a != "--layout")
        .collect();
    let out = run(d, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let note = text(&out.stderr);
    assert!(
        note.contains(&format!(
            "default/{rid}.media: written in the original layout, no clip could be made"
        )),
        "{note}"
    );
    assert!(fs::read(d.join(format!("default/{rid}.media"))).unwrap() == data);
    assert!(!d.join(format!("default/{rid}.mp4")).exists());
}

// A damaged record or blob, in SQLite and the blob directory or in
// PostgreSQL and the bucket.
on_both_backends!(a_damaged_stored_segment_is_named_to_the_requester);

/// Issue 20 item 1: the vault with its index on PostgreSQL and its blobs
/// in an S3 bucket (`OBHUT_DATABASE_URL`, `OBHUT_BLOB_URL` for `obhut
/// serve` and `obhut admin`). A real MP4 ingested by the agent is stored,
/// logged and, after two approvals, opens byte-identical. (On the
/// embedded store, `request_approve_open_byte_identical_scope_and_refusals`
/// shows the same and more.)
#[test]
fn on_postgres_s3_an_ingested_recording_opens_byte_identical() {
    let dir = setup();
    let d = dir.as_path();
    let _stores = Backend::PostgresS3.prepare(d);
    let Ingested {
        vault,
        vkey,
        rid,
        original,
    } = ingested(d, 6, &["req", "alice", "bob"]);
    assert!(
        !d.join("vault-data/obhut.sqlite").exists(),
        "the index is not SQLite"
    );
    let url = fs::read_to_string(d.join(DATABASE_URL_FILE)).unwrap();
    let stored: i64 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let index = obhut_store::postgres::PgIndex::connect(&url).await.unwrap();
            sqlx::query_scalar("SELECT COUNT(*) FROM segments")
                .fetch_one(index.pool())
                .await
                .unwrap()
        });
    assert!(
        stored >= 3,
        "the segments' rows are in PostgreSQL: {stored}"
    );
    let objects = with_blobs(d, "vault-data", |b| async move {
        obhut_store::BlobStore::list(&b).await.unwrap().len()
    });
    assert_eq!(
        objects as i64, stored,
        "the segments' blobs are in the bucket"
    );
    assert!(
        !d.join("vault-data/blobs").exists(),
        "no blob directory beside the index"
    );

    let hash = request_with(d, &vault, &vkey, &rid, &["--include-metadata"], "req.obar");
    approve(d, &vault, &vkey, "alice", 1, &hash);
    approve(d, &vault, &vkey, "bob", 2, &hash);
    approve(d, &vault, &vkey, "alice", 1, &hash);
    let out = run(d, &open_args(&vault, &vkey, &hash, "opened"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = fs::read(d.join(format!("opened/{rid}.media"))).unwrap();
    assert!(got == original, "the opened file differs from the original");
    drop(vault);
}

/// Issue 15 item 6: the vault (or a custodian's client) hands over one
/// bad partial among three; `obhut open` still opens with the two valid
/// ones and warns naming the custodian and its fingerprint. Before, the
/// combine stopped at the bad one and the open failed.
#[test]
fn a_bad_partial_among_k_valid_ones_is_named_and_the_scope_opens() {
    let dir = setup();
    let d = dir.as_path();
    let Ingested {
        vault, vkey, rid, ..
    } = ingested(d, 6, &["req", "alice", "bob", "carol"]);
    let hash = request(d, &vault, &vkey, &rid, "0", "4000", "req.obar");
    approve(d, &vault, &vkey, "alice", 1, &hash);
    approve(d, &vault, &vkey, "bob", 2, &hash);
    approve(d, &vault, &vkey, "carol", 3, &hash);
    // Alice's partial follows now that k have approved.
    approve(d, &vault, &vkey, "alice", 1, &hash);
    // Bob's stored envelope altered in its last (ciphertext) byte.
    let db = d.join("vault-data/obhut.sqlite");
    sql(
        &db,
        &format!(
            "UPDATE approvals SET envelope = CAST(substr(envelope, 1, length(envelope) - 1) || \
             CASE WHEN substr(envelope, -1, 1) = X'00' THEN X'01' ELSE X'00' END AS BLOB) \
             WHERE request_hash = X'{hash}' AND custodian = 2"
        ),
    );
    let out = run(d, &open_args(&vault, &vkey, &hash, "opened"));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let bob_fpr =
        obhut_core::identity::PublicIdentity::from_bytes(&fs::read(d.join("bob.key.pub")).unwrap())
            .unwrap()
            .fingerprint()
            .to_string();
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("warning: the partial from custodian 2"))
        .unwrap_or_else(|| panic!("no warning naming custodian 2: {stderr}"));
    assert!(warning.contains(&bob_fpr), "{warning}");
    assert!(warning.contains("does not decrypt"), "{warning}");
    assert!(stderr.contains("opened "), "{stderr}");
}

/// Partial envelopes the vault holds for request `hash`.
fn envelopes(db: &Path, hash: &str) -> usize {
    let mut h = [0u8; 32];
    hex::decode_to_slice(hash, &mut h).unwrap();
    support::with_index(db, |index| async move {
        obhut_store::AccessStore::approvals(&index, h)
            .await
            .unwrap()
            .iter()
            .filter(|a| a.envelope.is_some())
            .count()
    })
}

/// Entries sequenced in the vault's log.
fn sequenced(db: &Path) -> u64 {
    support::with_index(db, |index| async move {
        obhut_store::LogStore::log_sequenced(&index).await.unwrap()
    })
}

/// `obhut approve`/`open` with the pin's flags for `who`.
fn with_pin(cmd: &[&str], vault: &Vault, pin: &str) -> Vec<String> {
    let mut v: Vec<String> = cmd.iter().map(|s| (*s).to_owned()).collect();
    v.extend(
        [
            "--vault",
            &vault.url,
            "--log-pin",
            pin,
            "--group",
            "custody/group.obgd",
        ]
        .map(str::to_owned),
    );
    v
}

/// Issue 15 item 8: no trust on first use. k custodians sign a pin of the
/// vault's log key (and witnesses); clients given the pin trust that log
/// only, refuse a pin fewer than k signed, a `--log-key` the pin does not
/// name, and checkpoints without the witness cosignatures it requires.
#[test]
fn a_log_pin_signed_by_k_custodians_is_the_only_log_trusted() {
    let dir = setup();
    let d = dir.as_path();
    let Ingested {
        vault, vkey, rid, ..
    } = ingested(d, 6, &["req", "alice", "bob", "carol"]);
    let pin = |who: &str, out: &str, extra: &[&str]| {
        let mut args = vec![
            "custody",
            "pin-log",
            "--group",
            "custody/group.obgd",
            "--identity",
            who,
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        run(d, &args)
    };
    let o = pin("alice.key", "custody/log.oblp", &["--log-key", &vkey]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("1 of 2 signatures"),
        "{}",
        text(&o.stderr)
    );
    let hash = request(d, &vault, &vkey, &rid, "0", "4000", "req.obar");
    let approve = |who: &str, share: u32, pin: &str| {
        let share = format!("custody/share-{share}.obse");
        let key = format!("{who}.key");
        let state = format!("{who}.pinned.cp");
        run(
            d,
            &strs(&with_pin(
                &[
                    "approve",
                    &hash,
                    "--identity",
                    &key,
                    "--share",
                    &share,
                    "--state",
                    &state,
                    "--yes",
                ],
                &vault,
                pin,
            )),
        )
    };
    // One signature of the two needed: not in force.
    let e = approve("alice", 1, "custody/log.oblp");
    assert!(!e.status.success());
    assert!(
        text(&e.stderr).contains("signatures"),
        "{}",
        text(&e.stderr)
    );

    let o = pin("bob.key", "custody/log.oblp", &[]);
    assert!(
        text(&o.stderr).contains("the pin is in force"),
        "{}",
        text(&o.stderr)
    );
    // The requester too checks its request against the pinned log.
    let pinned_request = ok(
        d,
        &[
            "request",
            "--identity",
            "req.key",
            "--group",
            "custody/group.obgd",
            "--recording",
            &rid,
            "--purpose",
            "criminal investigation",
            "--justification",
            "complaint 17 concerns this stop",
            "--legal-basis",
            "§ 48 BDSG",
            "--case",
            "CASE-18",
            "--out",
            "req-pinned.obar",
            "--vault",
            &vault.url,
            "--log-pin",
            "custody/log.oblp",
            "--log-state",
            "req.pinned-request.cp",
        ],
    );
    assert_eq!(pinned_request.trim().len(), 64, "{pinned_request}");
    for (who, share) in [("alice", 1), ("bob", 2), ("alice", 1)] {
        let o = approve(who, share, "custody/log.oblp");
        assert!(o.status.success(), "{who}: {}", text(&o.stderr));
    }
    let open = |pin: &str, extra: &[&str]| {
        let mut args = with_pin(
            &[
                "open",
                &hash,
                "--identity",
                "req.key",
                "--state",
                "req.pinned.cp",
                "--out",
                "opened",
                "--force",
            ],
            &vault,
            pin,
        );
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        run(d, &strs(&args))
    };
    // A --log-key other than the pinned one is refused outright.
    let witness_key = ok(
        d,
        &[
            "witness",
            "init",
            "--dir",
            "w",
            "--name",
            "dpo.example/witness",
        ],
    )
    .trim()
    .to_owned();
    let e = open("custody/log.oblp", &["--log-key", &witness_key]);
    assert!(
        text(&e.stderr).contains("is not the log the custodians pinned"),
        "{}",
        text(&e.stderr)
    );
    // A pin that requires a witness's cosignature, which no checkpoint of
    // this vault carries: refused.
    for who in ["alice.key", "bob.key"] {
        let o = pin(
            who,
            "custody/witnessed.oblp",
            &["--log-key", &vkey, "--witness", &witness_key],
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let e = open("custody/witnessed.oblp", &[]);
    assert!(
        !e.status.success(),
        "opened without the witness's cosignature"
    );
    assert!(text(&e.stderr).contains("cosign"), "{}", text(&e.stderr));
    // The pin in force: the grant opens.
    let o = open("custody/log.oblp", &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// A vault with a recording and a request, and three log pins k = 2
/// custodians (alice, bob) signed: `custody/log.oblp` of the vault's log,
/// `custody/witnessed.oblp` requiring a witness whose cosignature no
/// checkpoint of this vault carries, and `custody/foreign.oblp` of a log
/// key under the vault's log name that is not the vault's.
fn pinned_three_ways(d: &Path) -> Ingested {
    let w = ingested(d, 6, &["req", "alice", "bob", "carol"]);
    request(d, &w.vault, &w.vkey, &w.rid, "0", "4000", "req.obar");
    let witness_key = ok(
        d,
        &[
            "witness",
            "init",
            "--dir",
            "w",
            "--name",
            "dpo.example/witness",
        ],
    )
    .trim()
    .to_owned();
    let origin = w.vkey.split('+').next().expect("a vkey has a name");
    let foreign = obhut_log::NoteSigner::from_seed(origin, &[7; 32])
        .expect("a log name")
        .verifier_key()
        .to_string();
    for (out, extra) in [
        ("custody/log.oblp", vec!["--log-key", &w.vkey]),
        (
            "custody/witnessed.oblp",
            vec!["--log-key", &w.vkey, "--witness", &witness_key],
        ),
        ("custody/foreign.oblp", vec!["--log-key", &foreign]),
    ] {
        for who in ["alice.key", "bob.key"] {
            let mut args = vec![
                "custody",
                "pin-log",
                "--group",
                "custody/group.obgd",
                "--identity",
                who,
                "--out",
                out,
            ];
            args.extend_from_slice(&extra);
            ok(d, &args);
        }
    }
    w
}

/// `obhut audit` takes `--log-pin` (with `--group`, whose custodians
/// signed it), as approve and open do: a checkpoint without the witness
/// cosignature the pin requires, or signed by a key the pin does not name,
/// is refused; the pinned log is accepted.
#[test]
fn audit_with_a_log_pin_refuses_an_uncosigned_or_foreign_checkpoint() {
    let dir = setup();
    let d = dir.as_path();
    let w = pinned_three_ways(d);
    let verify = |pin: &str, state: &str| {
        run(
            d,
            &strs(&with_pin(
                &["audit", "verify", "--state", state],
                &w.vault,
                pin,
            )),
        )
    };
    let e = verify("custody/witnessed.oblp", "a.cp");
    assert!(
        !e.status.success(),
        "accepted without the witness's cosignature"
    );
    assert!(text(&e.stderr).contains("cosign"), "{}", text(&e.stderr));
    let e = verify("custody/foreign.oblp", "b.cp");
    assert!(!e.status.success(), "accepted a checkpoint of another key");
    assert!(
        text(&e.stderr).contains("not signed"),
        "{}",
        text(&e.stderr)
    );
    let o = verify("custody/log.oblp", "c.cp");
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The pin is checked against a group: without --group, refused.
    let e = fails(
        d,
        &[
            "audit",
            "verify",
            "--vault",
            &w.vault.url,
            "--log-pin",
            "custody/log.oblp",
            "--state",
            "d.cp",
        ],
    );
    assert!(e.contains("--group"), "{e}");
}

/// `obhut pending` takes `--log-pin` too: the checkpoint must be the
/// pinned log's with the cosignatures the pin requires, and each request
/// listed is proved in it.
#[test]
fn pending_with_a_log_pin_refuses_an_uncosigned_or_foreign_checkpoint() {
    let dir = setup();
    let d = dir.as_path();
    let w = pinned_three_ways(d);
    let pending = |pin: &str, state: &str| {
        run(
            d,
            &strs(&with_pin(
                &["pending", "--identity", "alice.key", "--state", state],
                &w.vault,
                pin,
            )),
        )
    };
    let e = pending("custody/witnessed.oblp", "a.cp");
    assert!(
        !e.status.success(),
        "listed without the witness's cosignature"
    );
    assert!(text(&e.stderr).contains("cosign"), "{}", text(&e.stderr));
    let e = pending("custody/foreign.oblp", "b.cp");
    assert!(
        !e.status.success(),
        "listed under a checkpoint of another key"
    );
    assert!(
        text(&e.stderr).contains("not signed"),
        "{}",
        text(&e.stderr)
    );
    let o = pending("custody/log.oblp", "c.cp");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("CASE-17"), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("1 request(s), each proved"),
        "{}",
        text(&o.stderr)
    );
}

/// Issue 15 (the spec must stand alone, last point): a camera's
/// descriptive metadata — `udta` strings in `moov` and a timed text track
/// (a dashcam's GPS as subtitles) — travels only in the recording's
/// metadata patch (docs/format.md §7.4), which only `include_metadata`
/// opens. Without it the opened file holds neither and still decodes;
/// with it the file is the camera's, byte for byte. Fails if the cutter
/// leaves the metadata in the index and media segments.
#[test]
fn metadata_opens_only_with_include_metadata() {
    let dir = setup();
    let d = dir.as_path();
    fs::create_dir_all(d.join("dock")).unwrap();
    let mut srt = String::new();
    for i in 0..6 {
        srt.push_str(&format!(
            "{}\n00:00:0{i},000 --> 00:00:0{i},900\nGPS N52.52{i} E13.40{i} SECRETFIX{i}\n\n",
            i + 1
        ));
    }
    fs::write(d.join("gps.srt"), srt).unwrap();
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc=duration=6:size=160x120:rate=25")
        .args([
            "-i", "gps.srt", "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p",
        ])
        .args(["-c:s", "mov_text", "-metadata", "title=OFFICERNAME4711"])
        .args(["-metadata", "comment=UNITSECRET", "dock/clip.mp4"])
        .current_dir(d)
        .stdin(std::process::Stdio::null())
        .status()
        .expect("ffmpeg is needed (./scripts/test installs it)");
    assert!(status.success());
    let sidecar = br#"{"note":"a sidecar beside the patch"}"#;
    fs::write(d.join("dock/clip.json"), sidecar).unwrap();
    let (
        Ingested {
            vault,
            vkey,
            rid,
            original,
        },
        _,
    ) = ingested_file(d, "dock/clip.mp4", &["req", "alice", "bob"]);
    let secrets: [&[u8]; 3] = [b"OFFICERNAME4711", b"UNITSECRET", b"SECRETFIX3"];
    let has = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    for s in secrets {
        assert!(has(&original, s), "the camera's file holds {s:?}");
    }

    // The whole recording, once without and once with its metadata.
    let open = |flags: &[&str], req: &str, out: &str| -> (String, Vec<u8>) {
        let hash = request_with(d, &vault, &vkey, &rid, flags, req);
        approve(d, &vault, &vkey, "alice", 1, &hash);
        approve(d, &vault, &vkey, "bob", 2, &hash);
        approve(d, &vault, &vkey, "alice", 1, &hash);
        let o = run(d, &open_args(&vault, &vkey, &hash, out));
        assert!(o.status.success(), "{}", text(&o.stderr));
        (
            hash,
            fs::read(d.join(format!("{out}/{rid}.media"))).unwrap(),
        )
    };
    let (plain_hash, plain) = open(&[], "plain.obar", "plain");
    assert_eq!(plain.len(), original.len(), "nothing moved");
    for s in secrets {
        assert!(
            !has(&plain, s),
            "{} reached a grant without include_metadata",
            String::from_utf8_lossy(s)
        );
    }
    assert!(
        !d.join(format!("plain/{rid}.metadata")).exists(),
        "no metadata without include_metadata"
    );
    // Only metadata differs: the `udta` box became `free`, the subtitle
    // samples zeros.
    let differ = plain.iter().zip(&original).filter(|(a, b)| a != b).count();
    assert!(differ > 0 && differ < 1024, "{differ} bytes differ");
    let f = d.join(format!("plain/{rid}.media"));
    let o = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&f)
        .args(["-map", "0", "-c:s", "srt", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).trim().is_empty(), "{}", text(&o.stderr));

    let (full_hash, full) = open(&["--include-metadata"], "full.obar", "full");
    assert!(full == original, "with include_metadata: the camera's file");

    // A range read around the title: blanked without include_metadata,
    // the camera's bytes with it.
    let at = original
        .windows(secrets[0].len())
        .position(|w| w == secrets[0])
        .unwrap();
    let (a, b) = (at - 50, at + 50);
    let range = format!("{a}-{b}");
    for (hash, out) in [(&plain_hash, "plain-range"), (&full_hash, "full-range")] {
        let mut args = open_args(&vault, &vkey, hash, out);
        args.extend_from_slice(&["--range", &range]);
        // This test asks the vault's unauthenticated log endpoints more
        // often than its per-source limit lets through in a second.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        ok(d, &args);
    }
    let plain_range = fs::read(d.join(format!("plain-range/{rid}.range"))).unwrap();
    assert_eq!(plain_range, plain[a..b]);
    assert!(!has(&plain_range, secrets[0]));
    let full_range = fs::read(d.join(format!("full-range/{rid}.range"))).unwrap();
    assert_eq!(full_range, original[a..b]);
    assert_eq!(
        fs::read(d.join(format!("full/{rid}.metadata"))).unwrap(),
        sidecar,
        "the sidecar, apart from the patch"
    );
}

/// A damaged vault copy reaches the requester as an error naming the
/// segment (issue 19 item 5): a record changed in the index since ingest,
/// and a blob truncated on disk — not `500 internal` or a dropped
/// connection.
fn a_damaged_stored_segment_is_named_to_the_requester(backend: Backend) {
    let dir = setup();
    let d = dir.as_path();
    let _stores = backend.prepare(d);
    let Ingested {
        vault, vkey, rid, ..
    } = ingested(d, 6, &["req", "alice", "bob"]);
    let hash = request(d, &vault, &vkey, &rid, "0", "4000", "req.obar");
    approve(d, &vault, &vkey, "alice", 1, &hash);
    approve(d, &vault, &vkey, "bob", 2, &hash);
    approve(d, &vault, &vkey, "alice", 1, &hash);
    let sql = |statement: &str| index_sql(d, "vault-data", statement);
    // Segment 1's record with its last (signature) byte changed.
    sql("CREATE TABLE kept AS SELECT record FROM segments WHERE idx = 1");
    sql(match backend {
        Backend::Embedded => {
            "UPDATE segments SET record = CAST(substr(record, 1, length(record) - 1) || \
             CASE WHEN substr(record, -1, 1) = X'00' THEN X'01' ELSE X'00' END AS BLOB) \
             WHERE idx = 1"
        }
        Backend::PostgresS3 => {
            "UPDATE segments SET record = set_byte(record, length(record) - 1, \
             get_byte(record, length(record) - 1) # 1) WHERE idx = 1"
        }
    });
    let stderr = fails(d, &open_args(&vault, &vkey, &hash, "opened"));
    assert!(
        stderr.contains(&format!("recording {rid} segment 1")),
        "{stderr}"
    );
    assert!(!stderr.contains("internal"), "{stderr}");
    sql("UPDATE segments SET record = (SELECT record FROM kept) WHERE idx = 1");
    // Now its blob, cut short in the store.
    let key = obhut_store::BlobKey {
        recording: RecordingId::from_hex(&rid).expect("a recording id"),
        index: 1,
    };
    with_blobs(d, "vault-data", |b| async move {
        let bytes = get_blob(&b, key).await;
        put_blob(&b, key, &bytes[..bytes.len() - 100]).await;
    });
    let stderr = fails(d, &open_args(&vault, &vkey, &hash, "opened"));
    assert!(
        stderr.contains("segment 1: stored blob is shorter than its record"),
        "{stderr}"
    );
    assert!(!stderr.contains("disconnected"), "{stderr}");
    assert!(!d.join("opened").exists() || fs::read_dir(d.join("opened")).unwrap().count() == 0);
}

/// Every decoded video frame's MD5, in output order (`framemd5`, no frame
/// dropped or repeated).
fn frame_md5s(file: &Path) -> Vec<String> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args([
            "-map",
            "0:v",
            "-fps_mode",
            "passthrough",
            "-f",
            "framemd5",
            "-",
        ])
        .output()
        .expect("ffmpeg is needed (./scripts/test installs it)");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap_or("").trim().to_owned())
        .collect()
}

/// Issue 19 item 1: a 10-second grant from the middle of a 60-second
/// recording opens (by default, `--layout clip`) as a clean clip: it lasts 10 s (the
/// test file's GOP is 1 s), ffmpeg decodes it without one error, and its
/// frames are the original's frames of the window, in order.
#[test]
fn a_ten_second_grant_of_a_minute_opens_as_a_clean_clip_of_the_window() {
    let dir = setup();
    let d = dir.as_path();
    let Ingested {
        vault, vkey, rid, ..
    } = ingested(d, 60, &["req", "alice", "bob"]);
    let hash = request(d, &vault, &vkey, &rid, "25000", "35000", "req.obar");
    approve(d, &vault, &vkey, "alice", 1, &hash);
    approve(d, &vault, &vkey, "bob", 2, &hash);
    approve(d, &vault, &vkey, "alice", 1, &hash);
    // The device's name, signed by its own key, goes into the manifest.
    admin(d, &["set-name", "cam.key.name"]);
    // The default layout (open_args asks for the original one).
    let args: Vec<&str> = open_args(&vault, &vkey, &hash, "clip")
        .into_iter()
        .take_while(|a| *a != "--layout")
        .collect();
    let out = run(d, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let note = text(&out.stderr);
    assert!(
        note.contains(&format!("{rid}.mp4: a clean clip of 25.000 s to 35.000 s")),
        "{note}"
    );
    let clip = d.join(format!("clip/{rid}.mp4"));
    assert!(
        !d.join(format!("clip/{rid}.media")).exists(),
        "only the clip is left"
    );

    let o = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&clip)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(o.status.success());
    assert_eq!(text(&o.stderr), "", "ffmpeg -v error prints nothing");
    assert_eq!(text(&o.stdout), "");

    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&clip)
        .output()
        .expect("ffprobe");
    let secs: f64 = text(&probe.stdout).trim().parse().expect("a duration");
    assert!((9.0..=11.0).contains(&secs), "the clip lasts {secs} s");

    // The clip's frames are a run of the original's: the frames of media
    // 25 s to 35 s (25 fps), give or take one GOP at either end.
    let all = frame_md5s(&d.join("dock/clip.mp4"));
    let got = frame_md5s(&clip);
    let first = all
        .iter()
        .position(|h| *h == got[0])
        .expect("the clip's first frame is in the original");
    assert_eq!(got[..], all[first..first + got.len()]);
    assert!((600..=625).contains(&first), "starts at frame {first}");
    assert!((250..=275).contains(&got.len()), "{} frames", got.len());

    // Issue 19 item 6: the clip carries Content Credentials a C2PA
    // reader validates, naming this grant; one changed byte of video
    // makes them invalid.
    let custody = credentials::assert_credentials(&clip, &rid);
    assert_eq!(custody["grant"]["request_hash"], hash.as_str());
    assert_eq!(custody["device"]["name"], "bodycam-0042", "{custody}");
}

/// The vault with its blobs in an S3 bucket (SeaweedFS, `blob_url` in
/// `./obhut.toml`, which `obhut serve`, `obhut admin` and `obhut check`
/// read): a real MP4 ingested by the agent over HTTP lands in the bucket
/// and nowhere in the data directory, a `--range` open reads its bytes
/// back, and `obhut check` hashes every blob in the bucket.
#[test]
fn a_vault_with_its_blobs_in_s3_ingests_and_opens_a_range() {
    use obhut_store::BlobStore;
    use obhut_store::contract::s3::TestS3;
    let s3 = TestS3::shared();
    let url = TestS3::new_url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The bucket exists (SeaweedFS makes it on the first write).
    let bucket = rt.block_on(s3.store_at(&url));
    let dir = setup();
    let d = dir.as_path();
    let mut toml = format!("blob_url = \"{url}\"\n[s3]\n");
    for (k, v) in s3.options() {
        toml.push_str(&format!("{k} = \"{v}\"\n"));
    }
    fs::write(d.join("obhut.toml"), toml).unwrap();
    let Ingested {
        vault,
        vkey,
        rid,
        original,
    } = ingested(d, 8, &["req", "alice", "bob"]);

    let stored = rt.block_on(bucket.list()).unwrap();
    assert!(stored.len() >= 4, "index, media and metadata: {stored:?}");
    assert!(stored.iter().all(|k| k.recording.to_string() == rid));
    assert!(
        !d.join("vault-data/blobs").exists(),
        "no blob directory beside the index"
    );

    let hash = request(d, &vault, &vkey, &rid, "0", "8000", "req.obar");
    // Alice's partial leaves when she runs approve again after Bob's.
    approve(d, &vault, &vkey, "alice", 1, &hash);
    approve(d, &vault, &vkey, "bob", 2, &hash);
    approve(d, &vault, &vkey, "alice", 1, &hash);
    let (s, t) = (1000, original.len() - 1000);
    let range = format!("{s}-{t}");
    let mut args = open_args(&vault, &vkey, &hash, "ranged");
    args.extend_from_slice(&["--range", &range]);
    ok(d, &args);
    let r = fs::read(d.join(format!("ranged/{rid}.range"))).unwrap();
    assert!(r == original[s..t], "the range differs from the original's");

    drop(vault);
    let out = ok(d, &["check", "--data", "vault-data", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(v["segments"].as_u64(), Some(stored.len() as u64), "{out}");
    assert_eq!(v["findings"].as_array().map(Vec::len), Some(0), "{out}");
    assert!(v["bytes_hashed"].as_u64().unwrap_or(0) > original.len() as u64);

    // A blob gone from the bucket is named by the check.
    rt.block_on(bucket.delete(stored[1])).unwrap();
    let e = fails(d, &["check", "--data", "vault-data"]);
    assert!(e.contains("1 disagreement"), "{e}");
}
