//! End-to-end tests of the device agent against a real vault: `obhut serve`
//! on loopback, `obhut admin enrol-token`, then `obhut enrol`, `obhut
//! ingest` and `obhut agent` as a dock would run them, on real MP4s made by
//! ffmpeg. What the vault holds is checked with device-signed requests
//! (`/head`, `/receipts`) and its blob store (the directory, or the S3
//! bucket on PostgreSQL + S3).
//!
//! Flags of `obhut serve` and `obhut admin` follow docs/vault.md §3, §6:
//! `--data DIR --keys DIR --listen ADDR`.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use obhut_agent::client::VaultClient;
use obhut_agent::journal::Journal;
use obhut_core::identity::DeviceSecret;
use obhut_core::ids::{RecordingId, SegmentRef};
use obhut_core::vault::IngestReceipt;
use obhut_store::{BlobKey, BlobStore as _};

use crate::support;
use support::*;

fn device(dir: &Path) -> DeviceSecret {
    let file = fs::read(dir.join("cam.key")).unwrap();
    let (_, s) = obhut_core::locked::unlock(&file, PASS.as_bytes()).unwrap();
    DeviceSecret::from_secret_bytes(s.expose()).unwrap()
}

/// The vault key the device pinned at enrolment (what it signs for).
fn pinned_vault_key(dir: &Path) -> [u8; 32] {
    obhut_agent::state::StateDir::open(dir.join("state"))
        .unwrap()
        .enrolment()
        .unwrap()
        .vault_key()
        .unwrap()
        .to_bytes()
}

fn journal_of(dir: &Path, source: &Path) -> Journal {
    let p = Journal::path_for(
        &dir.join("state/journal"),
        &std::path::absolute(source).unwrap(),
    );
    Journal::load(&p)
        .unwrap()
        .expect("a journal for the source")
}

/// The vault holds exactly the journal's segments: `/head` says so, every
/// receipt verifies for the journaled record hash, and one blob per segment.
fn assert_vault_holds(dir: &Path, vault: &Vault, source: &Path) -> RecordingId {
    let j = journal_of(dir, source);
    assert!(j.complete, "journal complete");
    let rid = RecordingId::from_hex(&j.recording_id).unwrap();
    let dev = device(dir);
    let c = VaultClient::new(&vault.url, pinned_vault_key(dir), &dev.sign).unwrap();
    let head = c.head(rid).unwrap().expect("the vault knows the recording");
    assert_eq!(
        head.next_index as usize,
        j.plan.len(),
        "no missing or extra segment"
    );
    let enrolment = obhut_agent::state::StateDir::open(dir.join("state"))
        .unwrap()
        .enrolment()
        .unwrap();
    let vault_key_hex = enrolment.vault_key.as_str();
    for i in 0..j.plan.len() {
        let bytes = c.receipt(rid, i as u32).unwrap();
        let r = IngestReceipt::from_bytes(&bytes).unwrap();
        assert_eq!(hex::encode(r.vault_key.to_bytes()), vault_key_hex);
        assert_eq!(
            hex::encode(r.record_hash),
            j.acked[i].record_hash,
            "{}",
            SegmentRef {
                recording: rid,
                index: i as u32
            }
        );
    }
    // As a reader would: the signed records, chain and capsule proofs
    // verified against the pinned group, each blob against its record.
    let records = reader_records(dir, vault, rid);
    assert_eq!(records.len(), j.plan.len());
    let group = obhut_core::group::PinnedGroup::from_bytes(
        &fs::read(dir.join("custody/group.obgd")).unwrap(),
    )
    .unwrap();
    obhut_core::chain::verify_chain(&records, &[group.group_key()]).unwrap();
    let stored = stored_blobs(dir);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(hex::encode(r.record_hash()), j.acked[i].record_hash);
        let key = BlobKey {
            recording: rid,
            index: i as u32,
        };
        let blob = &stored.iter().find(|(k, _)| *k == key).expect("its blob").1;
        obhut_core::chain::verify_blob(r, &blob[..]).unwrap();
    }
    let n = stored.iter().filter(|(k, _)| k.recording == rid).count();
    assert_eq!(n, j.plan.len(), "one blob per segment");
    rid
}

/// Every blob of the vault in `dir` (in `vault-data/blobs/` or the
/// bucket), with its bytes.
fn stored_blobs(dir: &Path) -> Vec<(BlobKey, Vec<u8>)> {
    with_blobs(dir, "vault-data", |b| async move {
        let mut out = Vec::new();
        for k in b.list().await.unwrap() {
            out.push((k, get_blob(&b, k).await));
        }
        out
    })
}

/// `GET /v1/recordings/{rid}/records` signed by alice, registered as a
/// reader of the custody group with `obhut admin add-reader`.
fn reader_records(
    dir: &Path,
    vault: &Vault,
    rid: RecordingId,
) -> Vec<obhut_core::record::SegmentRecord> {
    use base64::Engine;
    let show = ok(dir, &["custody", "show", "--group", "custody/group.obgd"]);
    let gid = show
        .lines()
        .find_map(|l| l.strip_prefix("group id:"))
        .map(|l| l.trim().to_owned())
        .unwrap();
    // Registering twice is refused or accepted; either way alice reads.
    let _ = run(
        dir,
        &[
            "admin",
            "add-reader",
            "--data",
            "vault-data",
            "--keys",
            "vault-keys",
            "--identity",
            "alice.key.pub",
            "--group",
            &gid,
        ],
    );
    let file = fs::read(dir.join("alice.key")).unwrap();
    let (_, secret) = obhut_core::locked::unlock(&file, PASS.as_bytes()).unwrap();
    let alice = obhut_core::identity::PersonSecret::from_secret_bytes(secret.expose()).unwrap();
    let path = format!("/v1/recordings/{rid}/records");
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let nonce = hex::encode(rand_nonce());
    // Signed for this vault: the public key of its log key (what people pin).
    let log_key = obhut_server::testkit::VaultIds::from_keystore(&dir.join("vault-keys")).log_key;
    let msg = obhut_core::vault::request_message(
        &log_key,
        "GET",
        &path,
        time,
        &nonce,
        &obhut_core::vault::body_sha256(b""),
    );
    let sig = alice
        .sign
        .sign(obhut_core::labels::PERSON_REQUEST_SIG, &msg);
    let mut s = TcpStream::connect(&vault.addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nObhut-Person: {}\r\nObhut-Time: {time}\r\nObhut-Nonce: {nonce}\r\nObhut-Signature: {}\r\n\r\n",
        hex::encode(alice.sign.verify_key().to_bytes()),
        hex::encode(sig)
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    // {"records":["b64",…]}
    let list = &resp[resp.find('[').unwrap() + 1..resp.rfind(']').unwrap()];
    list.split(',')
        .map(|q| q.trim().trim_matches('"'))
        .filter(|q| !q.is_empty())
        .map(|q| {
            let b = base64::engine::general_purpose::STANDARD.decode(q).unwrap();
            obhut_core::record::SegmentRecord::from_bytes(&b).unwrap()
        })
        .collect()
}

/// 16 random bytes (a random id is exactly that).
fn rand_nonce() -> [u8; 16] {
    RecordingId::random(&mut obhut_core::rng::os_rng()).0
}

// What the vault stored, and what it left staged, in the blob directory
// and SQLite or in the bucket and PostgreSQL.
on_both_backends!(
    enrol_then_ingest_a_20s_clip_with_metadata_and_delete_after_receipts,
    an_ingest_killed_with_segments_in_flight_resumes,
);

fn enrol_then_ingest_a_20s_clip_with_metadata_and_delete_after_receipts(backend: Backend) {
    let dir = setup();
    let d = dir.as_path();
    let _stores = backend.prepare(d);
    let vault = Vault::start(d);
    enrol(d, &vault);
    fs::create_dir_all(d.join("dock")).unwrap();
    let clip = d.join("dock/clip.mp4");
    make_mp4(&clip, 20, "320x240");
    let original = fs::read(&clip).unwrap();
    fs::write(
        d.join("dock/clip.json"),
        br#"{"officer":"PC 4711","gps":[[52.52,13.40]],"tags":["stop"]}"#,
    )
    .unwrap();
    let out = ok(
        d,
        &[
            "ingest",
            "--state",
            "state",
            "--after",
            "delete",
            "dock/clip.mp4",
        ],
    );
    let rid = out.trim().to_owned();
    assert_eq!(rid.len(), 32, "{out}");
    assert!(
        !clip.exists() && !d.join("dock/clip.json").exists(),
        "deleted after receipts"
    );
    let got = assert_vault_holds(d, &vault, &clip);
    assert_eq!(got.to_string(), rid);
    let j = journal_of(d, &clip);
    // Cut at keyframes: an index segment, several media segments with
    // times, the metadata last.
    let kinds: Vec<u8> = j.plan.iter().map(|p| p.kind).collect();
    assert!(kinds.contains(&1), "container index segment: {kinds:?}");
    assert_eq!(kinds.last(), Some(&2), "metadata last: {kinds:?}");
    assert!(kinds.iter().filter(|k| **k == 0).count() >= 5, "{kinds:?}");
    assert!(j.plan.iter().any(|p| p.media_end_ms >= 19_000));
    let media: u64 = j.plan.iter().filter(|p| p.kind != 2).map(|p| p.len).sum();
    assert_eq!(media, original.len() as u64);
    // Nothing of the clip or its metadata in what the vault wrote: its
    // data directory and its blobs (there or in the bucket).
    let needle = &original[original.len() / 2..original.len() / 2 + 64];
    let files = walk(&vault.data).into_iter().map(|e| {
        let b = fs::read(&e).unwrap();
        (e.display().to_string(), b)
    });
    let blobs = stored_blobs(d)
        .into_iter()
        .map(|(k, b)| (format!("blob {} {}", k.recording, k.index), b));
    for (name, b) in files.chain(blobs) {
        assert!(!b.windows(64).any(|w| w == needle), "plaintext in {name}");
        assert!(!b.windows(7).any(|w| w == b"PC 4711"), "metadata in {name}");
    }
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Start `obhut ingest --after AFTER --segment-ms 1000 CLIP` and SIGKILL it
/// as soon as its journal (polled every `poll_ms`) satisfies `ready`.
/// Returns the journal's path and the journal seen at the kill, or `None`
/// if the ingest finished first.
fn kill_ingest_when(
    d: &Path,
    clip: &Path,
    after: &str,
    poll_ms: u64,
    ready: impl Fn(&Journal) -> bool,
) -> (PathBuf, Option<Journal>) {
    let rel = clip.strip_prefix(d).unwrap().to_str().unwrap();
    let mut child = cmd(
        d,
        &[
            "ingest",
            "--state",
            "state",
            "--after",
            after,
            "--segment-ms",
            "1000",
            rel,
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let jpath = Journal::path_for(
        &d.join("state/journal"),
        &std::path::absolute(clip).unwrap(),
    );
    let t0 = Instant::now();
    let mut seen = None;
    while t0.elapsed() < Duration::from_secs(120) {
        if let Ok(Some(j)) = Journal::load(&jpath)
            && ready(&j)
        {
            child.kill().unwrap();
            seen = Some(j);
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(poll_ms));
    }
    let _ = child.wait();
    (jpath, seen)
}

#[test]
fn a_killed_ingest_resumes_with_no_duplicate_or_missing_segment() {
    let dir = setup();
    let d = dir.as_path();
    let vault = Vault::start(d);
    enrol(d, &vault);
    fs::create_dir_all(d.join("dock")).unwrap();
    let clip = d.join("dock/long.mp4");
    make_mp4(&clip, 60, "640x480");
    // Kill it (SIGKILL) once some but not all segments are acknowledged.
    let (jpath, at_kill) = kill_ingest_when(d, &clip, "move", 20, |j| j.acked.len() >= 3);
    let killed_at = at_kill
        .expect("the ingest was killed mid-upload (make the clip longer if it finished first)")
        .acked
        .len();
    let j = Journal::load(&jpath).unwrap().unwrap();
    assert!(
        j.acked.len() < j.plan.len(),
        "killed before the end ({killed_at} of {})",
        j.plan.len()
    );
    assert!(clip.exists(), "nothing moved before every receipt");
    // A crash in the middle of a journal append leaves its log's last line
    // torn; that change was never durable, and the resume ignores it.
    {
        use std::io::Write;
        let mut log = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(j.log_path())
            .unwrap();
        log.write_all(b"0123456789abcdef {\"seq\":").unwrap();
    }
    ok(
        d,
        &[
            "ingest",
            "--state",
            "state",
            "--after",
            "move",
            "dock/long.mp4",
        ],
    );
    assert!(!clip.exists() && d.join("dock/done/long.mp4").exists());
    // The journal is keyed by the original path.
    assert_vault_holds(d, &vault, &clip);
}

/// Killed mid-pipeline (docs/vault.md §4, the upload window): the journal
/// on disk holds several records in flight at once. The resumed run finds
/// whichever of them the vault stored by their hashes, re-seals the rest,
/// and the vault ends with every segment once and nothing left staged.
fn an_ingest_killed_with_segments_in_flight_resumes(backend: Backend) {
    let dir = setup();
    let d = dir.as_path();
    let _stores = backend.prepare(d);
    let vault = Vault::start(d);
    enrol(d, &vault);
    fs::create_dir_all(d.join("dock")).unwrap();
    let clip = d.join("dock/long.mp4");
    make_mp4(&clip, 40, "640x480");
    // Kill it (SIGKILL) once some segments are acknowledged and two or
    // more records are journaled in flight.
    let (jpath, at_kill) = kill_ingest_when(d, &clip, "delete", 5, |j| {
        j.acked.len() >= 2 && j.pending.len() >= 2
    });
    assert!(
        at_kill.is_some_and(|j| j.pending.len() >= 2),
        "the ingest was killed with segments in flight (make the clip longer if it finished first)"
    );
    let j = Journal::load(&jpath).unwrap().unwrap();
    assert!(!j.complete && j.pending.len() >= 2, "{:?}", j.pending.len());
    assert!(clip.exists(), "nothing deleted before every receipt");
    // The vault holds nothing the journal does not know: at most the
    // records journaled in flight beyond the acknowledged ones.
    let rid = RecordingId::from_hex(&j.recording_id).unwrap();
    let dev = device(d);
    let c = VaultClient::new(&vault.url, pinned_vault_key(d), &dev.sign).unwrap();
    let held = c.head(rid).unwrap().map_or(0, |h| h.next_index as usize);
    assert!(
        held <= j.acked.len() + j.pending.len(),
        "the vault holds {held}, the journal {} acknowledged and {} in flight",
        j.acked.len(),
        j.pending.len()
    );
    ok(
        d,
        &[
            "ingest",
            "--state",
            "state",
            "--after",
            "delete",
            "dock/long.mp4",
        ],
    );
    assert!(!clip.exists());
    assert_vault_holds(d, &vault, &clip);
    let j = journal_of(d, &clip);
    assert!(j.pending.is_empty(), "nothing left in flight");
    // The vault dropped the uploads the kill cut off: nothing staged (in
    // `tmp/` of the data directory or of the bucket).
    let staged = || {
        with_blobs(
            d,
            "vault-data",
            |b| async move { b.temporary_files().await },
        )
    };
    let t0 = Instant::now();
    while !staged().unwrap().is_empty() {
        if backend == Backend::PostgresS3 && t0.elapsed() > Duration::from_secs(20) {
            // A request cut off while its PUT to the bucket was in flight
            // can leave a staged object that no task knows of (the delete
            // may run before the PUT lands): the bucket's leftovers are
            // swept after a grace period, or at once by `obhut check
            // --repair` with the vault stopped (s3.rs "Leftovers"), which
            // must then leave nothing.
            drop(vault);
            let mut check = std::process::Command::new(support::BIN);
            check.current_dir(d).args([
                "check",
                "--data",
                "vault-data",
                "--keys",
                "vault-keys",
                "--repair",
            ]);
            support::store_env(d, &mut check);
            let out = check.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                staged().unwrap().is_empty(),
                "check --repair left staged uploads"
            );
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "staged uploads left in the vault's tmp/"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_vault_offering_another_group_is_refused_at_enrolment() {
    let dir = setup();
    let d = dir.as_path();
    let vault = Vault::start(d);
    // The token is bound to "other", the installer expects "custody".
    let token = vault.token(d, "other/group.obgd");
    let f = fingerprint(d, "custody/group.obgd");
    let out = run(
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
            &f,
            "--state",
            "state",
        ],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("refusing to pin"), "{err}");
    assert!(!d.join("state/agent.json").exists());
    assert!(!d.join("state/group.obgd").exists());
}

#[test]
fn the_agent_watches_a_dock_and_moves_settled_files_to_done() {
    let dir = setup();
    let d = dir.as_path();
    let vault = Vault::start(d);
    enrol(d, &vault);
    fs::create_dir_all(d.join("dock")).unwrap();
    make_mp4(&d.join("a.mp4"), 5, "320x240");
    fs::rename(d.join("a.mp4"), d.join("dock/a.mp4")).unwrap();
    fs::write(d.join("dock/a.json"), br#"{"officer":"PC 4711"}"#).unwrap();
    let out = cmd(
        d,
        &[
            "agent", "--watch", "dock", "--state", "state", "--after", "move", "--settle", "1",
            "--poll", "1", "--once",
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(d.join("dock/done/a.mp4").exists() && d.join("dock/done/a.json").exists());
    assert_vault_holds(d, &vault, &d.join("dock/a.mp4"));
}

/// A clip recorded three days ago (its file time says so) is sealed to the
/// retention epoch of its capture time, which the vault issues on request:
/// a bodycam docked after a weekend still uploads.
#[test]
fn a_clip_recorded_days_ago_uploads_under_its_own_epoch() {
    let dir = setup();
    let d = dir.as_path();
    let vault = Vault::start(d);
    enrol(d, &vault);
    fs::create_dir_all(d.join("dock")).unwrap();
    let clip = d.join("dock/old.mp4");
    make_mp4(&clip, 4, "160x120");
    let st = Command::new("touch")
        .args(["-d", "3 days ago"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(st.success());
    let out = ok(d, &["ingest", "--state", "state", "dock/old.mp4"]);
    assert_eq!(out.trim().len(), 32, "{out}");
    assert_vault_holds(d, &vault, &clip);
    let j = journal_of(d, &clip);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        j.capture_utc_ms < now - 2 * 86_400_000,
        "capture time {} is the file's, three days back",
        j.capture_utc_ms
    );
}
