//! The vault over real sockets (in-process server, real loopback listener,
//! real SQLite and blob directory), with segments sealed by the core. Every
//! refusal must be a clear error and change no stored state.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_core::epoch::EpochPublic;
use obhut_core::group::PinnedGroup;
use obhut_core::identity::SignKey;
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::{IngestReceipt, body_sha256};
use obhut_server::ManualClock;
use obhut_server::testkit::{
    HttpResponse, InProcess, Sealed, create_token, http, seal_recording, signed_headers,
    signed_headers_with_nonce,
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

    fn device_get(&self, key: &SignKey, path: &str) -> HttpResponse {
        let h = signed_headers(key, false, "GET", path, self.clock_now(), &body_sha256(&[]));
        http(self.vault.addr, "GET", path, &h, &[]).unwrap()
    }

    fn person_get(&self, key: &SignKey, path: &str, extra: &[(String, String)]) -> HttpResponse {
        let mut h = signed_headers(key, true, "GET", path, self.clock_now(), &body_sha256(&[]));
        h.extend_from_slice(extra);
        http(self.vault.addr, "GET", path, &h, &[]).unwrap()
    }

    fn put_as(&self, key: &SignKey, s: &Sealed) -> HttpResponse {
        self.put_raw(key, &s.digest(), &s.body())
    }

    fn put_raw(&self, key: &SignKey, digest: &[u8; 32], body: &[u8]) -> HttpResponse {
        let h = signed_headers(key, false, "PUT", "/v1/segments", self.clock_now(), digest);
        http(self.vault.addr, "PUT", "/v1/segments", &h, body).unwrap()
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
        receipt.verify_for(&vault_key, &s.digest()).unwrap();
        let h = w.device_get(&w.device, &format!("/v1/recordings/{rid}/head"));
        assert_eq!(h.json()["next_index"], i as u64 + 1);
        assert_eq!(h.json()["head_record_hash"], hex::encode(s.digest()));
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
    let m = String::from_utf8(w.get("/metrics").body).unwrap();
    assert!(m.contains("obhut_ingest_segments_total 3"), "{m}");
    assert!(m.contains("obhut_ingest_bytes_total"));
    assert!(m.contains("obhut_ingest_seconds"));
    let api = w.get("/openapi.json").json();
    assert_eq!(api["openapi"], "3.1.0");
}

#[test]
fn refusals_are_clear_and_change_nothing() {
    let w = World::new(200_000);
    let segs = w.seal(&[media(1000, 1), media(1000, 2), media(1000, 3)], false);
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
        w.put_raw(&w.device, &[7; 32], &segs[1].body()),
        401,
        "bad-signature",
    );
    // Stale time.
    let h = signed_headers(
        &w.device,
        false,
        "PUT",
        "/v1/segments",
        NOW - 301_000,
        &segs[1].digest(),
    );
    check(
        http(w.vault.addr, "PUT", "/v1/segments", &h, &segs[1].body()).unwrap(),
        401,
        "stale-time",
    );
    // Replayed nonce: the first request was refused later (out of order),
    // its replay is refused as a replay.
    let nonce = "00112233445566778899aabbccddeeff";
    let h = signed_headers_with_nonce(
        &w.device,
        false,
        "PUT",
        "/v1/segments",
        NOW,
        nonce,
        &segs[2].digest(),
    );
    check(
        http(w.vault.addr, "PUT", "/v1/segments", &h, &segs[2].body()).unwrap(),
        409,
        "out-of-order",
    );
    check(
        http(w.vault.addr, "PUT", "/v1/segments", &h, &segs[2].body()).unwrap(),
        409,
        "replayed-nonce",
    );
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
    // Truncated body (Content-Length says so too).
    let body = segs[1].body();
    check(
        w.put_raw(&w.device, &segs[1].digest(), &body[..body.len() - 10]),
        400,
        "wrong-length",
    );
    // Too long.
    let mut long = body.clone();
    long.extend_from_slice(&[0; 10]);
    check(
        w.put_raw(&w.device, &segs[1].digest(), &long),
        400,
        "wrong-length",
    );
    // Wrong hash: flip a ciphertext byte.
    let mut flipped = body.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    check(
        w.put_raw(&w.device, &segs[1].digest(), &flipped),
        400,
        "hash-mismatch",
    );
    // Malformed record: flip a signed byte (the digest matches the bytes).
    let mut bad_rec = body.clone();
    bad_rec[100] ^= 1;
    let d = obhut_core::labels::digest(
        obhut_core::labels::RECORD_HASH,
        &[&bad_rec[..obhut_core::record::RECORD_LEN]],
    );
    check(w.put_raw(&w.device, &d, &bad_rec), 400, "malformed-record");
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
    // Revoked device.
    w.vault
        .block_on(
            w.vault
                .app
                .index
                .revoke_device(w.device.verify_key().to_bytes(), NOW),
        )
        .unwrap();
    let revoked_before = w.state();
    let r = w.put(&segs[1]);
    assert_eq!((r.status, r.kind().as_str()), (403, "revoked-device"));
    assert_eq!(w.state(), revoked_before);
    // Metrics counted the refusals by kind.
    let m = String::from_utf8(w.get("/metrics").body).unwrap();
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
    let h = signed_headers_with_nonce(
        &w.device,
        false,
        "PUT",
        "/v1/segments",
        NOW,
        nonce,
        &segs[0].digest(),
    );
    assert_eq!(
        http(w.vault.addr, "PUT", "/v1/segments", &h, &segs[0].body())
            .unwrap()
            .status,
        201
    );
    // Past the window the same request is stale, not a replay.
    w.clock.advance(301_000);
    let r = http(w.vault.addr, "PUT", "/v1/segments", &h, &segs[0].body()).unwrap();
    assert_eq!(r.kind(), "stale-time");
    // Epochs roll over with the clock: the next period's epoch becomes current.
    let e1 = w.get("/v1/epochs?class=bodycam-30d").json();
    w.clock.advance(86_400_000);
    let e2 = w.get("/v1/epochs?class=bodycam-30d").json();
    assert_eq!(e1["next"]["epoch_id"], e2["current"]["epoch_id"]);
    assert_eq!(w.get("/v1/epochs?class=nope").kind(), "unknown-class");
}
