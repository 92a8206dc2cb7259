//! The vault's audit log end to end over loopback HTTP (docs/log.md): every
//! change is logged in its own transaction, checkpoints are signed by the
//! log key, proofs and tiles verify with the pure client code, entry bodies
//! go to auditors only, and retention prunes bodies without breaking
//! proofs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_core::audit::{Event, LogEntry};
use obhut_core::epoch::EpochPublic;
use obhut_core::identity::SignKey;
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::body_sha256;
use obhut_log::tiles::{TileId, TileSource};
use obhut_log::{
    Hash, SignedCheckpoint, VerifierKey, inclusion_proof, leaf_hash, verify_consistency,
    verify_inclusion,
};
use obhut_server::ManualClock;
use obhut_server::testkit::{
    HttpResponse, InProcess, VaultIds, create_token, http, put_sealed, seal_recording,
    signed_headers,
};
use obhut_store::{IndexStore, LogStore};

const NOW: i64 = 1_790_000_000_000;
const CLASS: &str = "bodycam-30d";

struct World {
    _dir: tempfile::TempDir,
    vault: InProcess,
    clock: Arc<ManualClock>,
    auditor: SignKey,
    vkey: VerifierKey,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(NOW));
        let vault = InProcess::start(
            &dir.path().join("data"),
            &dir.path().join("keys"),
            clock.clone(),
            1 << 20,
        );
        // A client pins the vkey out of band; here it comes from the vault,
        // and must match the key the service signs with.
        let k = http(vault.addr, "GET", "/v1/log/key", &[], &[]).unwrap();
        assert_eq!(k.status, 200);
        let vkey = VerifierKey::parse(k.json()["vkey"].as_str().unwrap()).unwrap();
        assert_eq!(vkey, vault.app.log.verifier_key());
        assert_eq!(vkey.name(), k.json()["origin"].as_str().unwrap());
        World {
            _dir: dir,
            vault,
            clock,
            auditor: SignKey::generate(&mut os_rng()),
            vkey,
        }
    }

    fn now(&self) -> i64 {
        obhut_server::Clock::now_ms(&*self.clock)
    }

    fn get(&self, path: &str) -> HttpResponse {
        http(self.vault.addr, "GET", path, &[], &[]).unwrap()
    }

    fn get_as(&self, key: &SignKey, path: &str) -> HttpResponse {
        let h = signed_headers(
            &self.vault.ids(),
            key,
            true,
            "GET",
            path,
            self.now(),
            &body_sha256(&[]),
        );
        http(self.vault.addr, "GET", path, &h, &[]).unwrap()
    }

    fn make_auditor(&self) {
        let key = self.auditor.verify_key().to_bytes();
        self.vault
            .block_on(self.vault.app.index.add_auditor(
                key,
                NOW,
                &obhut_server::testkit::operator_entry(
                    NOW,
                    Event::AuditorAdded {
                        person_key: key,
                        name: "auditor".into(),
                    },
                ),
            ))
            .unwrap();
    }

    /// Enrol a device and upload a 3-segment recording; returns the device.
    fn ingest(&self) -> (SignKey, obhut_core::ids::RecordingId) {
        let group = obhut_server::testkit::custody_group();
        let token = self
            .vault
            .block_on(create_token(&self.vault.app.index, &group, CLASS, NOW));
        let device = SignKey::generate(&mut os_rng());
        let body = serde_json::to_vec(&serde_json::json!({
            "token": token,
            "device_key": hex::encode(device.verify_key().to_bytes()),
        }))
        .unwrap();
        let h = signed_headers(
            &VaultIds::ENROL,
            &device,
            false,
            "POST",
            "/v1/enrol",
            self.now(),
            &body_sha256(&body),
        );
        let r = http(self.vault.addr, "POST", "/v1/enrol", &h, &body).unwrap();
        assert_eq!(r.status, 200, "{:?}", r.json());
        let e = self.get("/v1/epochs?class=bodycam-30d");
        let epoch = EpochPublic::from_bytes(
            &B64.decode(e.json()["current"]["public"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        let segs = seal_recording(
            &device,
            &group,
            &epoch,
            NOW - 1000,
            &[
                (SegmentKind::Media, vec![1; 1000]),
                (SegmentKind::Media, vec![2; 1000]),
                (SegmentKind::Media, vec![3; 1000]),
            ],
            true,
        );
        for s in &segs {
            let r = put_sealed(self.vault.addr, &self.vault.ids(), &device, s, self.now()).unwrap();
            assert_eq!(r.status, 201, "{:?}", r.json());
        }
        // A replayed upload is answered from the stored row, not logged twice.
        let r = put_sealed(
            self.vault.addr,
            &self.vault.ids(),
            &device,
            &segs[0],
            self.now(),
        )
        .unwrap();
        assert_eq!(r.status, 200);
        (device, segs[0].record.segment_ref().recording)
    }

    /// The latest checkpoint once it covers everything sequenced.
    fn settled_checkpoint(&self) -> SignedCheckpoint {
        let want = self
            .vault
            .block_on(self.vault.app.index.log_sequenced())
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.get("/v1/log/checkpoint");
            if r.status == 200 {
                let cp = SignedCheckpoint::open(&r.body, &self.vkey).unwrap();
                if cp.checkpoint.size == want {
                    return cp;
                }
            }
            assert!(Instant::now() < deadline, "no checkpoint of size {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn entries(&self) -> Vec<(u64, Option<Vec<u8>>, Hash)> {
        let r = self.get_as(&self.auditor, "/v1/log/entries?from=0&count=1000");
        assert_eq!(r.status, 200, "{:?}", r.json());
        r.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["index"].as_u64().unwrap(),
                    e["body"].as_str().map(|b| B64.decode(b).unwrap()),
                    Hash(
                        hex::decode(e["leaf_hash"].as_str().unwrap())
                            .unwrap()
                            .try_into()
                            .unwrap(),
                    ),
                )
            })
            .collect()
    }

    fn proof(&self, path: &str) -> Vec<Hash> {
        let r = self.get(path);
        assert_eq!(r.status, 200, "{path}: {:?}", r.json());
        r.json()["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
            .collect()
    }
}

#[test]
fn every_change_is_logged_and_the_log_verifies_from_bodies_proofs_and_tiles() {
    let w = World::new();
    w.make_auditor();
    let (device, rid) = w.ingest();
    let cp = w.settled_checkpoint();
    // policy (at start) + auditor + group + enrolment + the class's two
    // epochs (made at enrolment) + 3 segments (the replay logged nothing).
    assert_eq!(cp.checkpoint.size, 9);

    // Full audit: rebuild the tree from the bodies.
    w.make_auditor();
    let entries = w.entries();
    assert_eq!(entries.len(), 9);
    let kinds: Vec<&'static str> = entries
        .iter()
        .map(|(_, b, _)| {
            LogEntry::from_bytes(b.as_ref().unwrap())
                .unwrap()
                .event
                .kind()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "policy-in-effect",
            "auditor-added",
            "group-added",
            "device-enrolled",
            "epoch-created",
            "epoch-created",
            "segment-received",
            "segment-received",
            "segment-received"
        ]
    );
    let leaves: Vec<Hash> = entries
        .iter()
        .map(|(_, b, _)| leaf_hash(b.as_ref().unwrap()))
        .collect();
    assert_eq!(
        obhut_log::hash::root_from_leaf_hashes(&leaves),
        cp.checkpoint.root
    );
    let enrolled = LogEntry::from_bytes(entries[3].1.as_ref().unwrap()).unwrap();
    assert_eq!(enrolled.actor.key, device.verify_key().to_bytes());
    let seg = LogEntry::from_bytes(entries[7].1.as_ref().unwrap()).unwrap();
    assert_eq!(seg.recording, Some(rid));

    // Inclusion of every entry and consistency from every earlier size.
    for (i, leaf) in leaves.iter().enumerate() {
        let p = w.proof(&format!("/v1/log/proof/inclusion?index={i}&size=9"));
        verify_inclusion(leaf, i as u64, 9, &p, &cp.checkpoint.root).unwrap();
    }
    for old in 1..9u64 {
        let old_root = obhut_log::hash::root_from_leaf_hashes(&leaves[..old as usize]);
        let p = w.proof(&format!("/v1/log/proof/consistency?old={old}&size=9"));
        verify_consistency(old, 9, &old_root, &cp.checkpoint.root, &p).unwrap();
    }

    // Tiles: a client builds the same proof from the public tiles alone.
    let mut src = TileSource::new(9, |t: &TileId| -> Result<Vec<u8>, String> {
        let r = w.get(&format!("/v1/log/{}", t.path()));
        if r.status == 200 {
            Ok(r.body.clone())
        } else {
            Err(format!("{} → {}", t.path(), r.status))
        }
    });
    let p = inclusion_proof(7, 9, &mut src).unwrap();
    verify_inclusion(&leaves[7], 7, 9, &p, &cp.checkpoint.root).unwrap();

    // Chain of custody of one recording.
    let r = w.get_as(&w.auditor, &format!("/v1/log/recordings/{rid}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["entries"].as_array().unwrap().len(), 3);
}

#[test]
fn entry_bodies_are_for_auditors_only_and_proofs_are_public() {
    let w = World::new();
    w.ingest();
    w.settled_checkpoint();
    let stranger = SignKey::generate(&mut os_rng());
    for path in [
        "/v1/log/entries?from=0",
        "/v1/log/tile/entries/000.p/5",
        "/v1/log/recordings/00000000000000000000000000000000",
    ] {
        let r = w.get_as(&stranger, path);
        assert_eq!(r.status, 403, "{path}: {:?}", r.json());
        let r = w.get(path);
        assert_eq!(r.status, 401, "{path} unsigned: {:?}", r.json());
    }
    assert_eq!(w.get("/v1/log/tile/0/000.p/5").status, 200);
    assert_eq!(w.get("/v1/log/proof/inclusion?index=0").status, 200);
    // Sizes beyond the latest checkpoint, and tiles not in the tree.
    assert_eq!(w.get("/v1/log/proof/inclusion?index=0&size=99").status, 404);
    assert_eq!(w.get("/v1/log/tile/0/001").status, 404);
    assert_eq!(w.get("/v1/log/tile/0/not-a-tile").status, 400);
    assert_eq!(w.get("/v1/log/proof/inclusion?index=5&size=5").status, 400);
}

#[test]
fn a_restarted_vault_resumes_the_same_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = (dir.path().join("data"), dir.path().join("keys"));
    let clock = Arc::new(ManualClock::new(NOW));
    let first = {
        let v = InProcess::start(&data, &keys, clock.clone(), 1 << 20);
        let group = obhut_server::testkit::custody_group();
        for _ in 0..299 {
            v.block_on(create_token(&v.app.index, &group, CLASS, NOW));
        }
        v.block_on(v.app.log.integrate(&v.app.index, NOW)).unwrap();
        let cp = v.block_on(v.app.index.log_checkpoint()).unwrap().unwrap();
        // The policy logged at start, and 299 changes.
        assert_eq!(cp.size, 300);
        cp
    };
    let v = InProcess::start(&data, &keys, clock, 1 << 20);
    let group = obhut_server::testkit::custody_group();
    for _ in 0..3 {
        v.block_on(create_token(&v.app.index, &group, CLASS, NOW));
    }
    v.block_on(v.app.log.integrate(&v.app.index, NOW)).unwrap();
    let cp = v.block_on(v.app.index.log_checkpoint()).unwrap().unwrap();
    // The same policy again is not logged again; the schedule's first run
    // made the tokens' class's two epochs.
    assert_eq!(cp.size, 305);
    let vkey = v.app.log.verifier_key();
    let old = SignedCheckpoint::open(&first.note, &vkey).unwrap();
    let new = SignedCheckpoint::open(&cp.note, &vkey).unwrap();
    let p = v
        .block_on(obhut_server::log::prove_consistency(&v.app.index, 300, 305))
        .unwrap();
    verify_consistency(300, 305, &old.checkpoint.root, &new.checkpoint.root, &p).unwrap();
}

#[test]
fn retention_prunes_bodies_but_not_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let v = InProcess::start(
        &dir.path().join("data"),
        &dir.path().join("keys"),
        clock.clone(),
        1 << 20,
    );
    let group = obhut_server::testkit::custody_group();
    for _ in 0..4 {
        v.block_on(create_token(&v.app.index, &group, CLASS, NOW));
    }
    v.block_on(v.app.log.integrate(&v.app.index, NOW)).unwrap();
    // The policy logged at start and 4 changes.
    let before = v.block_on(v.app.index.log_entries(0, 100)).unwrap();
    clock.advance(2 * 86_400_000);
    let later = obhut_server::Clock::now_ms(&*clock);
    let vault_key = v.app.keystore.vault_key().verify_key().to_bytes();
    let n = v
        .block_on(obhut_server::log::prune(
            &v.app.index,
            &v.app.log,
            vault_key,
            86_400_000,
            later,
        ))
        .unwrap();
    assert_eq!(n, 5);
    v.block_on(v.app.log.integrate(&v.app.index, later))
        .unwrap();
    let after = v.block_on(v.app.index.log_entries(0, 100)).unwrap();
    assert_eq!(after.len(), 6, "the prune receipt is logged");
    for (b, a) in before.iter().zip(&after) {
        assert!(a.body.is_none());
        assert_eq!(a.leaf_hash, b.leaf_hash);
    }
    let receipt = LogEntry::from_bytes(after[5].body.as_ref().unwrap()).unwrap();
    assert_eq!(
        receipt.event,
        Event::LogPruned {
            before_index: 5,
            count: 5
        }
    );
    // The tree and proofs still verify over the kept leaf hashes.
    let cp = v.block_on(v.app.index.log_checkpoint()).unwrap().unwrap();
    let signed = SignedCheckpoint::open(&cp.note, &v.app.log.verifier_key()).unwrap();
    let leaves: Vec<Hash> = after.iter().map(|e| Hash(e.leaf_hash)).collect();
    assert_eq!(
        obhut_log::hash::root_from_leaf_hashes(&leaves),
        signed.checkpoint.root
    );
    let p = v
        .block_on(obhut_server::log::prove_inclusion(&v.app.index, 2, 6))
        .unwrap();
    verify_inclusion(&leaves[2], 2, 6, &p, &signed.checkpoint.root).unwrap();
    // A later pass prunes nothing new and logs nothing.
    let n = v
        .block_on(obhut_server::log::prune(
            &v.app.index,
            &v.app.log,
            vault_key,
            86_400_000,
            later,
        ))
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(v.block_on(v.app.index.log_sequenced()).unwrap(), 6);
}

#[test]
fn a_policy_change_is_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = (dir.path().join("data"), dir.path().join("keys"));
    let clock = Arc::new(ManualClock::new(NOW));
    let policies = |v: &InProcess| -> Vec<String> {
        v.block_on(v.app.index.log_entries(0, 100))
            .unwrap()
            .iter()
            .filter_map(
                |e| match LogEntry::from_bytes(e.body.as_ref()?).ok()?.event {
                    Event::PolicyInEffect { policy } => Some(policy),
                    _ => None,
                },
            )
            .collect()
    };
    drop(InProcess::start(&data, &keys, clock.clone(), 1 << 20));
    // Restarted with the same settings: nothing new.
    drop(InProcess::start(&data, &keys, clock.clone(), 1 << 20));
    // With another one: logged.
    let v = InProcess::start_with(
        &data,
        &keys,
        clock,
        obhut_server::config::FileConfig {
            max_grant_days: Some(3),
            ..Default::default()
        },
    );
    let p = policies(&v);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(
        p[0].contains("max_grant_days=30") && p[1].contains("max_grant_days=3;"),
        "{p:#?}"
    );
}
