//! The vault over real sockets (in-process server, real loopback listener,
//! real SQLite and blob directory), with segments sealed by the core. Every
//! refusal must be a clear error and change no stored state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::ingest::UPLOAD_WINDOW;
use obhut_core::epoch::EpochPublic;
use obhut_core::group::PinnedGroup;
use obhut_core::identity::SignKey;
use obhut_core::ids::SegmentRef;
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::{IngestReceipt, body_sha256, segment_upload_digest, segment_upload_path};
use obhut_server::ManualClock;
use obhut_server::testkit::{
    HttpResponse, InProcess, Sealed, VaultIds, create_token, http, put_sealed, read_response,
    seal_recording, signed_headers, signed_headers_with_nonce, write_head,
};
use obhut_store::{BlobStore, IndexStore, RecordingFilter};

const NOW: i64 = 1_790_000_000_000;
const CLASS: &str = "bodycam-30d";

struct World {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    vault: InProcess,
    clock: Arc<ManualClock>,
    group: PinnedGroup,
    device: SignKey,
    epoch: EpochPublic,
}

impl World {
    fn new(max_segment_bytes: u64) -> World {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let keys = dir.path().join("keys");
        let clock = Arc::new(ManualClock::new(NOW));
        let vault = InProcess::start(&data, &keys, clock.clone(), max_segment_bytes);
        let group = obhut_server::testkit::custody_group();
        let token = vault.block_on(create_token(&vault.app.index, &group, CLASS, NOW));
        let device = SignKey::generate(&mut os_rng());
        let mut w = World {
            _dir: dir,
            data,
            vault,
            clock,
            group,
            device,
            epoch: placeholder_epoch(),
        };
        let r = w.enrol(&token);
        assert_eq!(r.status, 200, "{:?}", r.json());
        let j = r.json();
        assert_eq!(j["retention_class"], CLASS);
        let desc = B64.decode(j["descriptor"].as_str().unwrap()).unwrap();
        assert_eq!(
            PinnedGroup::from_bytes(&desc).unwrap().group_id(),
            w.group.group_id()
        );
        let e = w.get("/v1/epochs?class=bodycam-30d");
        assert_eq!(e.status, 200);
        let current = B64
            .decode(e.json()["current"]["public"].as_str().unwrap())
            .unwrap();
        w.epoch = EpochPublic::from_bytes(&current).unwrap();
        assert!(w.epoch.not_before <= NOW && NOW < w.epoch.not_after);
        w
    }

    fn enrol(&self, token: &str) -> HttpResponse {
        let body = serde_json::to_vec(&serde_json::json!({
            "token": token,
            "device_key": hex::encode(self.device.verify_key().to_bytes()),
        }))
        .unwrap();
        let h = signed_headers(
            &VaultIds::ENROL,
            &self.device,
            false,
            "POST",
            "/v1/enrol",
            self.clock_now(),
            &body_sha256(&body),
        );
        http(self.vault.addr, "POST", "/v1/enrol", &h, &body).unwrap()
    }

    fn clock_now(&self) -> i64 {
        obhut_server::Clock::now_ms(&*self.clock)
    }

    fn get(&self, path: &str) -> HttpResponse {
        http(self.vault.addr, "GET", path, &[], &[]).unwrap()
    }

    /// A GET on the operations listener.
    fn ops_get(&self, path: &str) -> HttpResponse {
        http(self.vault.ops_addr, "GET", path, &[], &[]).unwrap()
    }

    fn device_get(&self, key: &SignKey, path: &str) -> HttpResponse {
        let h = signed_headers(
            &self.vault.ids(),
            key,
            false,
            "GET",
            path,
            self.clock_now(),
            &body_sha256(&[]),
        );
        http(self.vault.addr, "GET", path, &h, &[]).unwrap()
    }

    fn person_get(&self, key: &SignKey, path: &str, extra: &[(String, String)]) -> HttpResponse {
        let mut h = signed_headers(
            &self.vault.ids(),
            key,
            true,
            "GET",
            path,
            self.clock_now(),
            &body_sha256(&[]),
        );
        h.extend_from_slice(extra);
        http(self.vault.addr, "GET", path, &h, &[]).unwrap()
    }

    fn put_as(&self, key: &SignKey, s: &Sealed) -> HttpResponse {
        put_sealed(self.vault.addr, &self.vault.ids(), key, s, self.clock_now()).unwrap()
    }

    /// PUT `body` at `seg`'s path, correctly signed for its length; the
    /// declared record length is that of the record `body` ends with (one
    /// that starts a custody run, or not), else of a record that does not.
    fn put_raw(&self, key: &SignKey, seg: SegmentRef, body: &[u8]) -> HttpResponse {
        let n = self.group.custodians().len();
        let record_len = [true, false]
            .into_iter()
            .map(|run| obhut_core::record::record_len(n, run))
            .find(|&len| {
                body.len() >= len
                    && obhut_core::record::SegmentRecord::from_bytes(&body[body.len() - len..])
                        .is_ok()
            })
            .unwrap_or(obhut_core::record::record_len(n, false));
        let digest = segment_upload_digest(seg.recording, seg.index, body.len() as u64);
        self.put_signed(key, &segment_upload_path(seg, record_len), &digest, body)
    }

    /// PUT `body` at `path`, signed with `digest` as the body digest.
    fn put_signed(
        &self,
        key: &SignKey,
        path: &str,
        digest: &[u8; 32],
        body: &[u8],
    ) -> HttpResponse {
        let h = signed_headers(
            &self.vault.ids(),
            key,
            false,
            "PUT",
            path,
            self.clock_now(),
            digest,
        );
        http(self.vault.addr, "PUT", path, &h, body).unwrap()
    }

    fn put(&self, s: &Sealed) -> HttpResponse {
        self.put_as(&self.device, s)
    }

    fn seal(&self, payloads: &[(SegmentKind, Vec<u8>)], finish: bool) -> Vec<Sealed> {
        seal_recording(
            &self.device,
            &self.group,
            &self.epoch,
            NOW - 1000,
            payloads,
            finish,
        )
    }

    /// Everything but nonces: devices, segments, recordings, blob files,
    /// temporary files.
    fn state(&self) -> String {
        let app = &self.vault.app;
        let (devices, keys, recs, blobs) = self.vault.block_on(async {
            (
                app.index.devices().await.unwrap(),
                app.index.segment_keys().await.unwrap(),
                app.index
                    .list_recordings(&RecordingFilter {
                        groups: vec![self.group.group_id()],
                        ..Default::default()
                    })
                    .await
                    .unwrap(),
                app.blobs.list().await.unwrap(),
            )
        });
        let mut files: Vec<String> = walk(&self.data.join("blobs"))
            .into_iter()
            .chain(walk(&self.data.join("tmp")))
            .map(|p| {
                format!(
                    "{} {}",
                    p.display(),
                    std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0)
                )
            })
            .collect();
        files.sort();
        format!("{devices:?}\n{keys:?}\n{recs:?}\n{blobs:?}\n{files:?}")
    }
}

fn placeholder_epoch() -> EpochPublic {
    // Replaced in World::new before use.
    obhut_core::epoch::EpochSecret::generate(obhut_core::ids::EpochId([0; 16]), &mut os_rng())
        .public("x", 0, 1)
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn media(n: usize, seed: u8) -> (SegmentKind, Vec<u8>) {
    (
        SegmentKind::Media,
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect(),
    )
}

#[test]
fn ingest_receipts_head_and_reading() {
    let w = World::new(1 << 30);
    let segs = w.seal(&[media(150_000, 1), media(70_000, 2), media(10, 3)], true);
    let vault_key = {
        let j = w.enrol("obhut-enrol-".to_owned().as_str()); // bad token: refused
        assert_eq!(j.status, 403);
        w.vault.app.keystore.vault_key().verify_key()
    };
    let rid = segs[0].record.segment_ref().recording;
    assert_eq!(
        w.device_get(&w.device, &format!("/v1/recordings/{rid}/head"))
            .status,
        404
    );
    for (i, s) in segs.iter().enumerate() {
        let r = w.put(s);
        assert_eq!(r.status, 201, "segment {i}: {:?}", r.json());
        let receipt = B64.decode(r.json()["receipt"].as_str().unwrap()).unwrap();
        let receipt = IngestReceipt::from_bytes(&receipt).unwrap();
        receipt
            .verify_for(&vault_key, &s.record.record_hash())
            .unwrap();
        let h = w.device_get(&w.device, &format!("/v1/recordings/{rid}/head"));
        assert_eq!(h.json()["next_index"], i as u64 + 1);
        assert_eq!(
            h.json()["head_record_hash"],
            hex::encode(s.record.record_hash())
        );
    }
    // Idempotent re-upload: 200 with the same receipt, no new state.
    let before = w.state();
    let again = w.put(&segs[1]);
    assert_eq!(again.status, 200);
    let stored = w.device_get(&w.device, &format!("/v1/receipts/{rid}/1"));
    assert_eq!(stored.status, 200);
    assert_eq!(again.json()["receipt"], stored.json()["receipt"]);
    assert_eq!(w.state(), before);

    // Reading needs a registered reader.
    let reader = SignKey::generate(&mut os_rng());
    assert_eq!(
        w.person_get(&reader, "/v1/recordings", &[]).kind(),
        "unknown-person"
    );
    w.vault
        .block_on(w.vault.app.index.add_reader(
            reader.verify_key().to_bytes(),
            w.group.group_id(),
            NOW,
            &obhut_server::testkit::operator_entry(
                NOW,
                obhut_core::audit::Event::ReaderAdded {
                    person_key: reader.verify_key().to_bytes(),
                    group_id: w.group.group_id(),
                },
            ),
        ))
        .unwrap();
    let list = w.person_get(&reader, "/v1/recordings", &[]);
    assert_eq!(list.status, 200);
    let recs = list.json()["recordings"].as_array().unwrap().clone();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["segment_count"], 3);
    assert_eq!(recs[0]["complete"], true);
    assert_eq!(
        recs[0]["first_capture_hour_ms"].as_i64().unwrap() % 3_600_000,
        0
    );
    let records = w.person_get(&reader, &format!("/v1/recordings/{rid}/records"), &[]);
    let records = records.json()["records"].as_array().unwrap().clone();
    assert_eq!(records.len(), 3);
    assert_eq!(
        B64.decode(records[2].as_str().unwrap()).unwrap(),
        segs[2].record.to_bytes()
    );
    // The binary answer on request (docs/vault.md §5): the same records,
    // count- and length-prefixed; JSON for any other Accept and with
    // ?log=true.
    let accept = |v: &str| vec![("Accept".to_owned(), v.to_owned())];
    let path = format!("/v1/recordings/{rid}/records");
    let binary = w.person_get(&reader, &path, &accept("application/octet-stream"));
    assert_eq!(binary.status, 200);
    assert_eq!(binary.content_type, "application/octet-stream");
    let split = obhut_core::vault::decode_records_answer(&binary.body).unwrap();
    let stored: Vec<Vec<u8>> = segs.iter().map(|s| s.record.to_bytes()).collect();
    assert_eq!(split, stored.iter().map(Vec::as_slice).collect::<Vec<_>>());
    assert_eq!(binary.body[..4], [0, 0, 0, 3]);
    let listed = w.person_get(
        &reader,
        &path,
        &accept("application/json, application/octet-stream;q=0.9"),
    );
    assert_eq!(listed.status, 200);
    assert!(obhut_core::vault::decode_records_answer(&listed.body).is_ok());
    for (path, accept) in [
        (path.clone(), accept("*/*")),
        (path.clone(), accept("application/json")),
        (
            format!("{path}?log=true"),
            accept("application/octet-stream"),
        ),
    ] {
        let r = w.person_get(&reader, &path, &accept);
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type, "application/json");
        assert_eq!(
            r.json()["records"].as_array().map(Vec::len),
            Some(3),
            "{path} {accept:?}"
        );
    }
    let path = format!("/v1/recordings/{rid}/segments/0/blob");
    let whole = w.person_get(&reader, &path, &[]);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, segs[0].blob);
    let part = w.person_get(&reader, &path, &[("Range".into(), "bytes=100-199".into())]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, segs[0].blob[100..200]);
    let bad = w.person_get(
        &reader,
        &path,
        &[("Range".into(), "bytes=99999999-".into())],
    );
    assert_eq!(bad.status, 416);

    // Ops endpoints.
    assert_eq!(w.get("/healthz").status, 200);
    assert_eq!(w.get("/readyz").status, 200);
    // /metrics is the operations listener's, not the API's.
    assert_eq!(w.get("/metrics").status, 404);
    let m = String::from_utf8(w.ops_get("/metrics").body).unwrap();
    assert!(m.contains("obhut_ingest_segments_total 3"), "{m}");
    assert!(m.contains("obhut_ingest_bytes_total"));
    assert!(m.contains("obhut_ingest_seconds"));
    let api = w.get("/openapi.json").json();
    assert_eq!(api["openapi"], "3.1.0");
}

#[test]
fn refusals_are_clear_and_change_nothing() {
    let w = World::new(200_000);
    // Segment `beyond` is ahead of the head (1, once segment 0 is stored)
    // by the whole upload window: refused before its body is read.
    let beyond = 1 + UPLOAD_WINDOW as usize;
    let payloads: Vec<_> = (0..=beyond).map(|i| media(1000, i as u8 + 1)).collect();
    let segs = w.seal(&payloads, false);
    assert_eq!(w.put(&segs[0]).status, 201);
    let before = w.state();
    let check = |r: HttpResponse, status: u16, kind: &str| {
        assert_eq!(
            (r.status, r.kind().as_str()),
            (status, kind),
            "{:?}",
            r.json()
        );
        assert!(!r.json()["message"].as_str().unwrap_or("").is_empty());
        assert_eq!(w.state(), before, "state changed after {kind}");
    };

    // Unknown device.
    let stranger = SignKey::generate(&mut os_rng());
    let theirs = seal_recording(&stranger, &w.group, &w.epoch, NOW, &[media(10, 9)], false);
    check(w.put_as(&stranger, &theirs[0]), 401, "unknown-device");
    // Bad signature: signed over another digest.
    check(
        w.put_signed(&w.device, &segs[1].path(), &[7; 32], &segs[1].body()),
        401,
        "bad-signature",
    );
    // Stale time.
    let h = signed_headers(
        &w.vault.ids(),
        &w.device,
        false,
        "PUT",
        &segs[1].path(),
        NOW - 301_000,
        &segs[1].digest(),
    );
    check(
        http(w.vault.addr, "PUT", &segs[1].path(), &h, &segs[1].body()).unwrap(),
        401,
        "stale-time",
    );
    // Replayed nonce: the first request was refused later (out of order),
    // its replay is refused as a replay.
    let nonce = "00112233445566778899aabbccddeeff";
    let h = signed_headers_with_nonce(
        &w.vault.ids(),
        &w.device,
        false,
        "PUT",
        &segs[beyond].path(),
        NOW,
        nonce,
        &segs[beyond].digest(),
    );
    // The same request twice: refused for its order, then as a replay.
    let send = || {
        http(
            w.vault.addr,
            "PUT",
            &segs[beyond].path(),
            &h,
            &segs[beyond].body(),
        )
        .unwrap()
    };
    check(send(), 409, "out-of-order");
    check(send(), 409, "replayed-nonce");
    // Chain conflict: a second, different sealing of index 0.
    let alt0 = {
        let s = obhut_core::device::RecordingSealer::new(
            &w.device,
            &w.group,
            &w.epoch,
            segs[0].record.segment_ref().recording,
        );
        let spec = obhut_core::device::SegmentSpec {
            kind: SegmentKind::Media,
            media_start_ms: 0,
            media_end_ms: 10_000,
            capture_utc_ms: NOW,
            is_final: false,
        };
        let mut blob = Vec::new();
        let sealed = s
            .seal_at(0, spec, &b"other"[..], &mut blob, &mut os_rng())
            .unwrap();
        let mut s = s;
        Sealed {
            record: s.sign_next(&sealed, false).unwrap(),
            blob,
        }
    };
    check(w.put(&alt0), 409, "chain-conflict");
    // Oversized: limit is 200 000 bytes.
    let big = seal_recording(
        &w.device,
        &w.group,
        &w.epoch,
        NOW,
        &[media(250_000, 6)],
        false,
    );
    check(w.put(&big[0]), 413, "too-large");
    // A blob shorter than the trailer's blob_len (Content-Length says so
    // too, and is signed): the trailer is read, its length disagrees.
    let seg1 = segs[1].record.segment_ref();
    let blob = &segs[1].blob;
    let trailer = segs[1].record.to_bytes();
    let short = [&blob[..blob.len() - 10], &trailer[..]].concat();
    check(w.put_raw(&w.device, seg1, &short), 400, "wrong-length");
    // A blob longer than the trailer's blob_len.
    let long = [&blob[..], &[0; 10], &trailer[..]].concat();
    check(w.put_raw(&w.device, seg1, &long), 400, "wrong-length");
    // Wrong hash: flip the blob's last ciphertext byte.
    let mut flipped = segs[1].body();
    flipped[blob.len() - 1] ^= 1;
    check(w.put_raw(&w.device, seg1, &flipped), 400, "hash-mismatch");
    // Malformed record: flip a signed byte of the trailer.
    let mut bad_rec = segs[1].body();
    bad_rec[blob.len() + 100] ^= 1;
    check(
        w.put_raw(&w.device, seg1, &bad_rec),
        400,
        "malformed-record",
    );
    // Shorter than any upload.
    check(w.put_raw(&w.device, seg1, &trailer), 400, "wrong-length");
    // Unknown epoch: sealed to an epoch the vault never made.
    let fake = placeholder_epoch();
    let fake = obhut_core::epoch::EpochPublic {
        not_before: 0,
        not_after: i64::MAX,
        ..fake
    };
    let foreign = seal_recording(&w.device, &w.group, &fake, NOW, &[media(10, 7)], false);
    check(w.put(&foreign[0]), 422, "unknown-epoch");
    // Another custody group.
    let other_group = obhut_server::testkit::custody_group();
    let foreign = seal_recording(
        &w.device,
        &other_group,
        &w.epoch,
        NOW,
        &[media(10, 8)],
        false,
    );
    check(w.put(&foreign[0]), 422, "not-enrolled-group");
    // The right group, but c shared among strangers (format.md §5.6): k
    // custodians could never open it.
    let strangers = {
        let mut rng = os_rng();
        let rid = obhut_core::ids::RecordingId::random(&mut rng);
        let stranger = obhut_core::identity::PersonSecret::generate("stranger", &mut rng);
        let run = obhut_core::pq_custody::CustodyRun::for_custodians(
            &[(stranger.public().fingerprint(), &stranger.public().kem_key)],
            1,
            rid,
            &w.device.verify_key(),
            0,
            &mut rng,
        );
        let mut sealer =
            obhut_core::device::RecordingSealer::new(&w.device, &w.group, &w.epoch, rid)
                .continuing(Some(Arc::new(run)));
        let mut blob = Vec::new();
        let spec = obhut_core::device::SegmentSpec {
            kind: SegmentKind::Media,
            media_start_ms: 0,
            media_end_ms: 10_000,
            capture_utc_ms: NOW,
            is_final: false,
        };
        let record = sealer
            .seal_segment(spec, &b"frames"[..], &mut blob, &mut rng)
            .unwrap();
        Sealed { record, blob }
    };
    check(w.put(&strangers), 422, "not-enrolled-group");
    // Revoked device.
    w.vault
        .block_on(w.vault.app.index.revoke_device(
            w.device.verify_key().to_bytes(),
            NOW,
            &obhut_server::testkit::operator_entry(
                NOW,
                obhut_core::audit::Event::DeviceRevoked {
                    device_key: w.device.verify_key().to_bytes(),
                },
            ),
        ))
        .unwrap();
    let revoked_before = w.state();
    let r = w.put(&segs[1]);
    assert_eq!((r.status, r.kind().as_str()), (403, "revoked-device"));
    assert_eq!(w.state(), revoked_before);
    // Metrics counted the refusals by kind.
    let m = String::from_utf8(w.ops_get("/metrics").body).unwrap();
    assert!(
        m.contains("obhut_ingest_errors_total{kind=\"chain-conflict\"} 1"),
        "{m}"
    );
}

#[test]
fn time_moves_nonces_expire_and_tokens_are_one_time() {
    let w = World::new(1 << 20);
    // The enrolment token was used; a second device cannot reuse it.
    // (Tokens are stored hashed; re-enrolling the same device is idempotent.)
    let segs = w.seal(&[media(100, 1)], false);
    let nonce = "ffeeddccbbaa99887766554433221100";
    let path = segs[0].path();
    let h = signed_headers_with_nonce(
        &w.vault.ids(),
        &w.device,
        false,
        "PUT",
        &path,
        NOW,
        nonce,
        &segs[0].digest(),
    );
    assert_eq!(
        http(w.vault.addr, "PUT", &path, &h, &segs[0].body())
            .unwrap()
            .status,
        201
    );
    // Past the window the same request is stale, not a replay.
    w.clock.advance(301_000);
    let r = http(w.vault.addr, "PUT", &path, &h, &segs[0].body()).unwrap();
    assert_eq!(r.kind(), "stale-time");
    // Epochs roll over with the clock: the next period's epoch becomes current.
    let e1 = w.get("/v1/epochs?class=bodycam-30d").json();
    w.clock.advance(86_400_000);
    // The hourly schedule makes the new next period's epoch (an anonymous
    // request makes none).
    w.vault.block_on(w.vault.app.ensure_all_epochs()).unwrap();
    let e2 = w.get("/v1/epochs?class=bodycam-30d").json();
    assert_eq!(e1["next"]["epoch_id"], e2["current"]["epoch_id"]);
    assert_eq!(w.get("/v1/epochs?class=nope").kind(), "unknown-class");
}

/// `check` for the framing tests: status, kind, a message, no state change.
fn refused(w: &World, before: &str, r: HttpResponse, status: u16, kind: &str) {
    assert_eq!(
        (r.status, r.kind().as_str()),
        (status, kind),
        "{:?}",
        r.json()
    );
    assert!(!r.json()["message"].as_str().unwrap_or("").is_empty());
    assert_eq!(w.state(), before, "state changed after {kind}");
}

#[test]
fn a_trailer_for_another_segment_than_the_path_is_refused() {
    let w = World::new(1 << 20);
    let segs = w.seal(&[media(1000, 1), media(1000, 2), media(1000, 3)], false);
    assert_eq!(w.put(&segs[0]).status, 201);
    let before = w.state();
    // Index 1 is next: segment 2's upload sent (and signed) as index 1.
    let rid = segs[0].record.segment_ref().recording;
    let at1 = SegmentRef {
        recording: rid,
        index: 1,
    };
    let r = w.put_raw(&w.device, at1, &segs[2].body());
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("upload path names"),
        "{:?}",
        r.json()
    );
    refused(&w, &before, r, 400, "malformed-record");
    // Segment 1's upload sent as index 0 of a fresh recording.
    let elsewhere = SegmentRef {
        recording: obhut_core::ids::RecordingId([0x5a; 16]),
        index: 0,
    };
    let r = w.put_raw(&w.device, elsewhere, &segs[1].body());
    refused(&w, &before, r, 400, "malformed-record");
    // Segment 0 (stored) sent as index 1: not a retry of index 1.
    let r = w.put_raw(&w.device, at1, &segs[0].body());
    refused(&w, &before, r, 400, "malformed-record");
    // And the right upload still goes through.
    assert_eq!(w.put(&segs[1]).status, 201);
}

#[test]
fn a_content_length_that_disagrees_with_the_trailer_is_wrong_length() {
    let w = World::new(1 << 20);
    let segs = w.seal(&[media(70_000, 1)], false);
    let before = w.state();
    let seg = segs[0].record.segment_ref();
    let blob = &segs[0].blob;
    let trailer = segs[0].record.to_bytes();
    for cut in [1usize, 16, 65_536] {
        let short = [&blob[..blob.len() - cut], &trailer[..]].concat();
        let r = w.put_raw(&w.device, seg, &short);
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains("the record says"),
            "{:?}",
            r.json()
        );
        refused(&w, &before, r, 400, "wrong-length");
        let long = [&blob[..], &vec![0; cut][..], &trailer[..]].concat();
        refused(
            &w,
            &before,
            w.put_raw(&w.device, seg, &long),
            400,
            "wrong-length",
        );
    }
    // A body without Content-Length (chunked) cannot be signed.
    let path = segs[0].path();
    let h = signed_headers(
        &w.vault.ids(),
        &w.device,
        false,
        "PUT",
        &path,
        NOW,
        &segs[0].digest(),
    );
    let mut s = std::net::TcpStream::connect(w.vault.addr).unwrap();
    let mut head = format!(
        "PUT {path} HTTP/1.1\r\nHost: vault\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
    );
    for (k, v) in &h {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n5\r\nhello\r\n0\r\n\r\n");
    std::io::Write::write_all(&mut s, head.as_bytes()).unwrap();
    refused(
        &w,
        &before,
        read_response(&mut s).unwrap(),
        400,
        "wrong-length",
    );
    assert_eq!(w.put(&segs[0]).status, 201);
}

#[test]
fn a_body_cut_before_the_trailer_leaves_nothing() {
    let w = World::new(1 << 22);
    let segs = w.seal(&[media(2_000_000, 1)], false);
    let before = w.state();
    let s0 = &segs[0];
    let body = s0.body();
    let path = s0.path();
    // Cut after the whole blob, inside the trailer, and mid-blob.
    for sent in [s0.blob.len(), s0.blob.len() + 800, s0.blob.len() / 2] {
        let h = signed_headers(
            &w.vault.ids(),
            &w.device,
            false,
            "PUT",
            &path,
            NOW,
            &s0.digest(),
        );
        let mut s = std::net::TcpStream::connect(w.vault.addr).unwrap();
        write_head(&mut s, "PUT", &path, &h, body.len() as u64).unwrap();
        std::io::Write::write_all(&mut s, &body[..sent]).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        // The vault answers (the connection is half open) or just closes;
        // either way nothing is stored and tmp/ is clean.
        if let Ok(r) = read_response(&mut s) {
            assert_eq!(
                (r.status, r.kind().as_str()),
                (400, "wrong-length"),
                "{:?}",
                r.json()
            );
        }
        let t0 = std::time::Instant::now();
        while w.state() != before && t0.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(w.state(), before, "cut after {sent} bytes");
        let rid = s0.record.segment_ref().recording;
        assert_eq!(
            w.device_get(&w.device, &format!("/v1/recordings/{rid}/head"))
                .status,
            404
        );
    }
    assert_eq!(w.put(s0).status, 201);
}

#[test]
fn a_signature_for_one_content_length_does_not_cover_another() {
    let w = World::new(1 << 20);
    let segs = w.seal(&[media(5000, 1), media(5000, 2)], false);
    assert_eq!(w.put(&segs[0]).status, 201);
    let before = w.state();
    // Headers signed for segment 1's real Content-Length …
    let path = segs[1].path();
    let h = signed_headers(
        &w.vault.ids(),
        &w.device,
        false,
        "PUT",
        &path,
        NOW,
        &segs[1].digest(),
    );
    // … replayed with another Content-Length (a blob padded by 16 bytes).
    let blob = &segs[1].blob;
    let padded = [&blob[..], &[0; 16], &segs[1].record.to_bytes()].concat();
    let r = http(w.vault.addr, "PUT", &path, &h, &padded).unwrap();
    refused(&w, &before, r, 401, "bad-signature");
    // … or shortened.
    let r = http(
        w.vault.addr,
        "PUT",
        &path,
        &h,
        &segs[1].body()[..blob.len()],
    )
    .unwrap();
    refused(&w, &before, r, 401, "bad-signature");
    // … or at another index's path.
    let other = segment_upload_path(
        SegmentRef {
            recording: segs[1].record.segment_ref().recording,
            index: 2,
        },
        segs[1].record.encoded_len(),
    );
    let r = http(w.vault.addr, "PUT", &other, &h, &segs[1].body()).unwrap();
    refused(&w, &before, r, 401, "bad-signature");
    // The signature was never accepted, so the nonce is still fresh: the
    // request as signed goes through once.
    let r = http(w.vault.addr, "PUT", &path, &h, &segs[1].body()).unwrap();
    assert_eq!(r.status, 201, "{:?}", r.json());
    let r = http(w.vault.addr, "PUT", &path, &h, &segs[1].body()).unwrap();
    assert_eq!(r.kind(), "replayed-nonce");
}

#[test]
fn a_retry_of_a_stored_segment_is_read_and_compared() {
    let w = World::new(1 << 20);
    let segs = w.seal(&[media(5000, 1), media(5000, 2)], false);
    assert_eq!(w.put(&segs[0]).status, 201);
    let first = w.put(&segs[1]);
    assert_eq!(first.status, 201);
    let before = w.state();
    // Same record, same blob: 200 and the stored receipt.
    let again = w.put(&segs[1]);
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["receipt"], first.json()["receipt"]);
    assert_eq!(w.state(), before);
    // Same record, another blob: refused.
    let mut flipped = segs[1].body();
    flipped[10] ^= 1;
    let r = w.put_raw(&w.device, segs[1].record.segment_ref(), &flipped);
    refused(&w, &before, r, 400, "hash-mismatch");
}

/// Footage recorded days ago (a bodycam docked after a long shift that
/// crossed midnight, a camera offline over a weekend) is sealed to the
/// epoch of its capture time, which the vault makes when the enrolled
/// device asks with a signed request; a capture time beyond
/// `max_capture_age` or in the far future is refused by name.
#[test]
fn late_footage_gets_the_epoch_covering_its_capture_time() {
    let w = World::new(1 << 20);
    let three_days_ago = NOW - 3 * 86_400_000;
    let r = w.device_get(
        &w.device,
        &format!("/v1/epochs?class={CLASS}&at={three_days_ago}"),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    let covering = &r.json()["covering"];
    let nb = covering["not_before"].as_i64().unwrap();
    let na = covering["not_after"].as_i64().unwrap();
    assert!(nb <= three_days_ago && three_days_ago < na);
    assert_ne!(covering["epoch_id"], r.json()["current"]["epoch_id"]);
    // Asking again gives the same epoch, not a second key for the period.
    let again = w.device_get(
        &w.device,
        &format!("/v1/epochs?class={CLASS}&at={}", three_days_ago + 1),
    );
    assert_eq!(again.status, 200, "it now exists");
    assert_eq!(again.json()["covering"]["epoch_id"], covering["epoch_id"]);

    let old_epoch =
        EpochPublic::from_bytes(&B64.decode(covering["public"].as_str().unwrap()).unwrap())
            .unwrap();
    let segs = seal_recording(
        &w.device,
        &w.group,
        &old_epoch,
        three_days_ago,
        &[media(500, 1), media(500, 2)],
        true,
    );
    for s in &segs {
        assert_eq!(w.put(s).status, 201);
    }
    // The current epoch does not cover three days ago: refused by name.
    let wrong = seal_recording(
        &w.device,
        &w.group,
        &w.epoch,
        three_days_ago,
        &[media(500, 3)],
        true,
    );
    let before = w.state();
    let r = w.put(&wrong[0]);
    assert_eq!(r.kind(), "unknown-epoch", "{:?}", r.json());
    assert_eq!(w.state(), before);

    for at in [NOW - 31 * 86_400_000, NOW + 3 * 86_400_000] {
        let r = w.device_get(&w.device, &format!("/v1/epochs?class={CLASS}&at={at}"));
        assert_eq!((r.status, r.kind().as_str()), (422, "unknown-epoch"));
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains("max_capture_age_secs"),
            "{:?}",
            r.json()
        );
    }
}

/// Files in the vault's `tmp/` (staged uploads), with their sizes.
fn staged(w: &World) -> Vec<u64> {
    walk(&w.data.join("tmp"))
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .collect()
}

/// Pipelining (docs/vault.md §4, the upload window): segment 2 arrives
/// while the head is at 1. It is received, staged and checked, then waits
/// — visible nowhere — until segment 1 is published, and is published
/// after it.
#[test]
fn an_upload_one_ahead_waits_and_is_published_after_its_predecessor() {
    let w = World::new(1 << 20);
    let segs = w.seal(&[media(5000, 1), media(70_000, 2), media(5000, 3)], false);
    assert_eq!(w.put(&segs[0]).status, 201);
    let rid = segs[0].record.segment_ref().recording;
    let head_path = format!("/v1/recordings/{rid}/head");
    let before = w.state();
    std::thread::scope(|sc| {
        let ahead = sc.spawn(|| w.put(&segs[2]));
        // Staged whole in tmp/ and waiting.
        let t0 = Instant::now();
        while staged(&w) != vec![segs[2].blob.len() as u64] {
            assert!(t0.elapsed() < Duration::from_secs(20), "never staged");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        assert!(!ahead.is_finished(), "answered before its predecessor");
        let head = w.device_get(&w.device, &head_path).json();
        assert_eq!(head["next_index"], 1, "nothing published out of order");
        let blobs = w.vault.block_on(w.vault.app.blobs.list()).unwrap();
        assert_eq!(blobs.len(), 1);
        // The predecessor arrives: both are stored, in order.
        let r1 = w.put(&segs[1]);
        assert_eq!(r1.status, 201, "{:?}", r1.json());
        let r2 = ahead.join().unwrap();
        assert_eq!(r2.status, 201, "{:?}", r2.json());
        assert_eq!(r2.json()["index"], 2);
    });
    let head = w.device_get(&w.device, &head_path).json();
    assert_eq!(head["next_index"], 3);
    assert_eq!(
        head["head_record_hash"],
        hex::encode(segs[2].record.record_hash())
    );
    assert!(staged(&w).is_empty());
    assert_ne!(w.state(), before);
    for (i, s) in segs.iter().enumerate() {
        let r = w.device_get(&w.device, &format!("/v1/receipts/{rid}/{i}"));
        let bytes = B64.decode(r.json()["receipt"].as_str().unwrap()).unwrap();
        IngestReceipt::from_bytes(&bytes)
            .unwrap()
            .verify_for(
                &w.vault.app.keystore.vault_key().verify_key(),
                &s.record.record_hash(),
            )
            .unwrap();
    }
}

/// An upload one ahead whose predecessor never arrives is refused as
/// out-of-order once the wait bound passes, and leaves nothing: no blob,
/// no row, no staged file. The segments then upload in order as usual.
#[test]
fn an_upload_ahead_whose_predecessor_never_arrives_is_out_of_order() {
    let w = World::new(1 << 20);
    w.vault.app.set_predecessor_wait(Duration::from_millis(300));
    let segs = w.seal(&[media(5000, 1), media(5000, 2), media(5000, 3)], false);
    assert_eq!(w.put(&segs[0]).status, 201);
    let before = w.state();
    let t0 = Instant::now();
    let r = w.put(&segs[2]);
    assert!(t0.elapsed() >= Duration::from_millis(300), "it waited");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("did not arrive"),
        "{:?}",
        r.json()
    );
    refused(&w, &before, r, 409, "out-of-order");
    assert_eq!(w.put(&segs[1]).status, 201);
    assert_eq!(w.put(&segs[2]).status, 201);
}

/// An upload ahead of the head by the whole window (or more) is refused
/// before a byte of its body is read: a body of zeros, which any reading
/// would refuse as a bad blob or record, is answered out-of-order, as is a
/// request whose body never comes.
#[test]
fn an_upload_beyond_the_window_is_refused_before_reading() {
    let w = World::new(1 << 20);
    let n = 1 + UPLOAD_WINDOW as usize;
    let payloads: Vec<_> = (0..=n).map(|i| media(5000, i as u8)).collect();
    let segs = w.seal(&payloads, false);
    assert_eq!(w.put(&segs[0]).status, 201);
    let before = w.state();
    // Head 1: index 1 + W is beyond the window, 1 + W − 1 within it.
    let beyond = &segs[n];
    let zeros = vec![0u8; beyond.body().len()];
    let r = w.put_raw(&w.device, beyond.record.segment_ref(), &zeros);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("upload window"),
        "{:?}",
        r.json()
    );
    refused(&w, &before, r, 409, "out-of-order");
    // The head only; the body never comes (the writing side closes).
    let path = beyond.path();
    let h = signed_headers(
        &w.vault.ids(),
        &w.device,
        false,
        "PUT",
        &path,
        NOW,
        &beyond.digest(),
    );
    let mut s = std::net::TcpStream::connect(w.vault.addr).unwrap();
    write_head(&mut s, "PUT", &path, &h, beyond.body().len() as u64).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    refused(
        &w,
        &before,
        read_response(&mut s).unwrap(),
        409,
        "out-of-order",
    );
    // Within the window, the same request is read: its trailer of zeros
    // is no record.
    let within = &segs[n - 1];
    let r = w.put_raw(&w.device, within.record.segment_ref(), &zeros);
    refused(&w, &before, r, 400, "malformed-record");
}
