//! What tests/hold.rs and tests/retention_hsm.rs share: a vault of
//! retention_support with a 2-of-3 custody group whose custodians the test
//! plays, two recordings of one device in one epoch, legal holds placed
//! and released with the custodians' approvals, and the whole access flow
//! (request, k approvals with partials, the vault's release of b, the
//! requester's combine and open) to show what opens.
#![allow(dead_code)]

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::access::ReleaseJson;
use obhut_core::access::{GrantKeys, records_in_scope};
use obhut_core::decision::{DecisionContent, Verdict};
use obhut_core::epoch::EpochRelease;
use obhut_core::hold::{HoldAction, HoldApproval, HoldTerms};
use obhut_core::identity::{PersonSecret, SignKey};
use obhut_core::ids::{EpochId, RecordingId};
use obhut_core::partial::{PartialEnvelope, custodian_partial, records_from_bytes};
use obhut_core::record::SegmentRecord;
use obhut_core::request::{GrantRef, RequestContent, Scope};
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::body_sha256;
use obhut_server::admin::AdminError;
use obhut_server::hold::{place_hold, release_hold};
use obhut_server::holder::HolderError;
use obhut_server::keystore::KeystoreError;
use obhut_server::testkit::{
    Enrolled, HttpResponse, Sealed, TestGroup, create_token, http, put_sealed, seal_recording,
    signed_headers,
};
use obhut_store::{BlobKey, BlobStore, IndexStore, RetentionStore};

use crate::retention_support::*;

pub const DAY: i64 = 86_400_000;

/// One recording as the test sealed it.
pub struct Rec {
    pub rid: RecordingId,
    pub segs: Vec<Sealed>,
    pub plain: Vec<Vec<u8>>,
}

/// A vault (`w`) with a device of a 2-of-3 group the test plays.
pub struct Case {
    pub w: World,
    pub group: TestGroup,
    pub dev: Enrolled,
    pub requester: PersonSecret,
}

impl Case {
    pub fn new(w: World) -> Case {
        let group = TestGroup::new(2, 3);
        let token = w
            .vault
            .block_on(create_token(&w.vault.app.index, &group.pinned, CLASS, NOW));
        let dev = Enrolled::with_token(w.vault.addr, group.pinned.clone(), &token, CLASS, NOW);
        let requester = PersonSecret::generate("investigator", &mut os_rng());
        let (index, clock) = (&w.vault.app.index, w.clock.as_ref());
        let gid = group.pinned.group_id();
        let me = requester.public();
        w.vault
            .block_on(obhut_server::admin::add_requester(index, clock, &me, gid))
            .unwrap();
        w.vault
            .block_on(obhut_server::admin::add_reader(index, clock, &me, gid))
            .unwrap();
        Case {
            w,
            group,
            dev,
            requester,
        }
    }

    pub fn now(&self) -> i64 {
        self.w.clock_now()
    }

    /// The epoch the device seals to, and when its footage expires.
    pub fn epoch(&self) -> (EpochId, i64) {
        (self.dev.epoch.epoch_id, self.dev.epoch.not_after + KEEP)
    }

    /// Upload a two-segment recording (10 s each) captured from `capture_ms`.
    pub fn upload(&self, capture_ms: i64, tag: u8) -> Rec {
        let plain: Vec<Vec<u8>> = (0..2u8)
            .map(|i| (0..5000u32).map(|j| (j as u8) ^ tag ^ (i * 0x55)).collect())
            .collect();
        let payloads: Vec<_> = plain
            .iter()
            .map(|p| (SegmentKind::Media, p.clone()))
            .collect();
        let segs = seal_recording(
            &self.dev.device,
            &self.group.pinned,
            &self.dev.epoch,
            capture_ms,
            &payloads,
            true,
        );
        for s in &segs {
            let r = put_sealed(
                self.w.vault.addr,
                &self.w.vault.ids(),
                &self.dev.device,
                s,
                self.now(),
            )
            .unwrap();
            assert_eq!(r.status, 201, "{:?}", r.json());
        }
        Rec {
            rid: segs[0].record.segment_ref().recording,
            segs,
            plain,
        }
    }

    /// A hold of this device's footage captured in `[from_ms, to_ms)`.
    pub fn terms(&self, case: &str, from_ms: i64, to_ms: i64) -> HoldTerms {
        HoldTerms {
            group_id: self.group.pinned.group_id(),
            case: case.into(),
            device_key: self.dev.device.verify_key().to_bytes(),
            from_ms,
            to_ms,
        }
    }

    /// Custodian `signer`'s approval of `action`, claiming index `as_index`.
    pub fn approval(
        &self,
        action: HoldAction,
        t: &HoldTerms,
        as_index: u16,
        signer: u16,
    ) -> HoldApproval {
        HoldApproval::sign(
            action,
            t.clone(),
            self.now() + DAY,
            as_index,
            &self.group.custodian(signer).0.sign,
        )
        .unwrap()
    }

    pub fn place(&self, t: &HoldTerms, custodians: &[u16]) -> Result<[u8; 16], AdminError> {
        let a: Vec<_> = custodians
            .iter()
            .map(|&i| self.approval(HoldAction::Place, t, i, i))
            .collect();
        let app = &self.w.vault.app;
        self.w
            .vault
            .block_on(place_hold(&app.index, self.w.clock.as_ref(), t, &a))
    }

    pub fn release(&self, t: &HoldTerms, custodians: &[u16]) -> Result<(), AdminError> {
        let a: Vec<_> = custodians
            .iter()
            .map(|&i| self.approval(HoldAction::Release, t, i, i))
            .collect();
        let app = &self.w.vault.app;
        self.w.vault.block_on(release_hold(
            &app.index,
            self.w.clock.as_ref(),
            t.hold_id(),
            &a,
        ))
    }

    fn call(&self, key: &SignKey, method: &str, path: &str, body: &[u8]) -> HttpResponse {
        let h = signed_headers(
            &self.w.vault.ids(),
            key,
            true,
            method,
            path,
            self.now(),
            &body_sha256(body),
        );
        http(self.w.vault.addr, method, path, &h, body).unwrap()
    }

    /// The whole access flow for recording `rec`: the requester asks,
    /// custodians 1 and 2 approve and upload partials, the vault releases
    /// b, the requester combines and opens each segment. `Ok(plaintexts)`
    /// or the first refusal.
    pub fn open(&self, rec: &Rec) -> Result<Vec<Vec<u8>>, HttpResponse> {
        let records: Vec<SegmentRecord> = rec.segs.iter().map(|s| s.record.clone()).collect();
        let req = RequestContent {
            request_id: {
                let mut id = [0u8; 16];
                getrandom::fill(&mut id).unwrap();
                id
            },
            group_id: self.group.pinned.group_id(),
            generation: self.group.pinned.generation(),
            scope: vec![Scope::Recording {
                recording_id: rec.rid,
                media_start_ms: 0,
                media_end_ms: 20_000,
                include_metadata: false,
            }],
            purpose: "criminal investigation".into(),
            justification: "the incident of the case".into(),
            legal_basis: "StPO §94".into(),
            case_ref: "2026-K-0042".into(),
            recipients: vec!["public prosecutor".into()],
            created_utc_ms: self.now(),
            expires_utc_ms: self.now() + DAY,
        }
        .sign(&self.requester)
        .unwrap();
        let base = format!("/v1/requests/{}", hex::encode(req.request_hash()));
        let posted = self.call(
            &self.requester.sign,
            "POST",
            "/v1/requests",
            &req.to_bytes(),
        );
        if posted.status != 201 {
            return Err(posted);
        }
        let grant = posted.json()["log_index"].as_u64().unwrap();
        let in_scope: Vec<SegmentRecord> = records_in_scope(&req, &records)
            .into_iter()
            .cloned()
            .collect();
        for i in [1u16, 2] {
            let d = DecisionContent {
                verdict: Verdict::Approve,
                vault: self.w.vault.ids().log_key,
                request_hash: req.request_hash(),
                request_index: grant,
                custodian: i,
                segments: in_scope.len() as u32,
                time_ms: self.now(),
                reason: String::new(),
            }
            .sign(&self.group.custodian(i).0.sign)
            .unwrap();
            let body =
                serde_json::to_vec(&serde_json::json!({ "decision": B64.encode(d.to_bytes()) }))
                    .unwrap();
            let r = self.call(
                &self.group.custodian(i).0.sign,
                "POST",
                &format!("{base}/approvals"),
                &body,
            );
            if r.status != 201 {
                return Err(r);
            }
        }
        for i in [1u16, 2] {
            let (me, share) = self.group.custodian(i);
            let env = custodian_partial(
                me,
                share,
                &self.group.pinned,
                &req,
                &GrantRef::new(grant, &req),
                &in_scope,
                obhut_core::partial::Runs::in_records(&records),
                self.now(),
                &mut os_rng(),
            )
            .unwrap()
            .to_bytes();
            let r = self.call(
                &me.sign,
                "PUT",
                &format!("{base}/approvals/{i}/partial"),
                &env,
            );
            if r.status != 204 {
                return Err(r);
            }
        }
        let rel = self.call(
            &self.requester.sign,
            "POST",
            &format!("{base}/release"),
            &[],
        );
        if rel.status != 200 {
            return Err(rel);
        }
        let rel: ReleaseJson = serde_json::from_slice(&rel.body).unwrap();
        let release = EpochRelease::from_bytes(&B64.decode(&rel.release).unwrap()).unwrap();
        let raw: Vec<Vec<u8>> = rel.records.iter().map(|r| B64.decode(r).unwrap()).collect();
        let released = records_from_bytes(&raw).unwrap();
        let partials: Vec<PartialEnvelope> = rel
            .partials
            .iter()
            .map(|p| PartialEnvelope::from_bytes(&B64.decode(p).unwrap()).unwrap())
            .collect();
        let refs: Vec<&SegmentRecord> = released.iter().collect();
        let keys = GrantKeys::recover(
            &self.group.pinned,
            &req,
            &GrantRef::new(grant, &req),
            &refs,
            &partials,
            &release,
            &self.requester,
        )
        .unwrap();
        let mut out = Vec::new();
        for r in &released {
            let i = r.segment_ref().index;
            let blob = self.call(
                &self.requester.sign,
                "GET",
                &format!("/v1/recordings/{}/segments/{i}/blob", rec.rid),
                &[],
            );
            if blob.status != 200 {
                return Err(blob);
            }
            let mut plain = Vec::new();
            keys.open_segment(r, &blob.body[..], &mut plain).unwrap();
            out.push(plain);
        }
        Ok(out)
    }

    /// Whether the vault still stores `rec`: index rows and blobs.
    pub fn stored(&self, rec: &Rec) -> bool {
        let app = &self.w.vault.app;
        let rows = self.w.vault.block_on(app.index.segments(rec.rid)).unwrap();
        let blobs = (0..2)
            .filter(|&index| {
                let k = BlobKey {
                    recording: rec.rid,
                    index,
                };
                self.w.vault.block_on(app.blobs.len(k)).unwrap().is_some()
            })
            .count();
        assert_eq!(rows.len(), blobs, "rows and blobs go together");
        rows.len() == 2
    }

    pub fn backup(&self, name: &str) -> std::path::PathBuf {
        let root = self.w.dir.path();
        let backup = root.join(name);
        copy_dir(&root.join("data"), &backup.join("data"));
        copy_dir(&root.join("keys"), &backup.join("keys"));
        backup
    }
}

/// The sealed secret of epoch `id` in the keystore copy `keys` opens
/// nothing with the vault's key holder.
pub fn copy_opens_nothing(c: &Case, keys: &Path, id: EpochId) {
    let sealed = std::fs::read(keys.join("epochs").join(format!("{id}.sealed"))).unwrap();
    assert!(matches!(
        c.w.vault.app.keystore.open_sealed(id, &sealed),
        Err(KeystoreError::Holder(HolderError::Destroyed(_)))
    ));
}

/// The backup test of issue 18 with a legal hold, on `w`'s key holder: a
/// copy of DATA and KEYS taken before expiry; at expiry the sweep keeps
/// the held recording (re-wrapped to the hold's key) and deletes the
/// unheld one of the same epoch; the held one opens for k custodians, the
/// unheld one for nobody, and the copy's epoch secret opens nothing; once
/// the hold is released the next sweep destroys the hold's key and the
/// held recording, which then opens for nobody, and a copy taken while it
/// was held opens nothing either.
pub fn held_backup(w: World) {
    let c = Case::new(w);
    let (epoch, expiry) = c.epoch();
    let held = c.upload(NOW, 1);
    let unheld = c.upload(NOW + 10 * 60_000, 2);
    let t = c.terms("2026-K-0042", NOW - 1000, NOW + 60_000);
    let hold_id = c.place(&t, &[1, 3]).unwrap();
    assert_eq!(hold_id, t.hold_id());
    let before = c.backup("backup-before-expiry");

    c.w.clock.set(expiry);
    let r = c.w.sweep();
    assert_eq!(
        (r.epochs, r.keys_destroyed, r.held, r.segments, r.blobs),
        (1, 1, 2, 2, 2),
        "{r:?}"
    );
    assert!(c.stored(&held) && !c.stored(&unheld));
    assert_eq!(c.open(&held).unwrap(), held.plain, "k custodians open it");
    let refused = c.open(&unheld).unwrap_err();
    assert!(
        matches!(refused.status, 404 | 410 | 422),
        "{:?}",
        refused.json()
    );
    // The copy has the unheld blobs and the epoch's sealed secret; the
    // secret opens nothing, so neither do they.
    copy_opens_nothing(&c, &before.join("keys"), epoch);
    assert!(c.w.vault.app.keystore.epoch(epoch).is_err());
    // Sweeping again keeps it.
    assert_eq!(c.w.sweep(), Default::default());
    assert!(c.stored(&held));

    // k-1 cannot release it; k can. Its time has passed: the next sweep
    // destroys the hold's key and the recording.
    assert!(matches!(
        c.release(&t, &[2]),
        Err(AdminError::NotEnoughHoldApprovals { have: 1, need: 2 })
    ));
    assert!(c.stored(&held));
    c.release(&t, &[2, 3]).unwrap();
    let during = c.backup("backup-while-held");
    // A minute on: the hold's epoch is due (its expiry is the release
    // time), the device's next epoch not yet.
    c.w.clock.set(expiry + 60_000);
    let r = c.w.sweep();
    assert_eq!(
        (r.epochs, r.keys_destroyed, r.held, r.segments, r.blobs),
        (1, 1, 0, 2, 2),
        "{r:?}"
    );
    assert!(!c.stored(&held));
    assert!(c.open(&held).is_err(), "gone for everyone");
    copy_opens_nothing(&c, &during.join("keys"), EpochId(hold_id));
    let app = &c.w.vault.app;
    assert!(
        c.w.vault
            .block_on(app.index.expired_recording(held.rid))
            .unwrap()
            .is_some()
    );
    // The hold key's destruction is logged with a receipt, like an epoch's.
    assert!(
        c.w.vault
            .block_on(obhut_store::RetentionStore::deletion_receipt(
                &app.index,
                EpochId(hold_id)
            ))
            .unwrap()
            .is_some()
    );
}
