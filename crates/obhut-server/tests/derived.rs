//! Issue 18 item 6 end to end (a real vault over HTTP on loopback, SQLite,
//! the file key holder, an injected clock): derived artifacts registered
//! with their lineage; consent recorded by k custodians; human review for
//! training refused without it, also to an operator who made themselves a
//! requester; withdrawing consent deletes what was made under it (its
//! bytes unfetchable) and lists the model built on it as tainted, in the
//! log; a source's expiry in the sweeper takes its artifacts with it, and
//! so does its erasure (issue 18: "erasure cascades").

use crate::retention_support;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_core::artifact::{
    ArtifactContent, ArtifactKind, ArtifactRecord, CascadeCause, SignerRole, Source,
};
use obhut_core::audit::{Event, LogEntry};
use obhut_core::consent::{self, Consent, ConsentAction, ConsentStatement};
use obhut_core::epoch::EpochPublic;
use obhut_core::erasure::{ErasureApproval, ErasureTerms};
use obhut_core::identity::{PersonSecret, SignKey};
use obhut_core::ids::RecordingId;
use obhut_core::request::{RequestContent, Scope};
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::body_sha256;
use obhut_server::ManualClock;
use obhut_server::config::FileConfig;
use obhut_server::testkit::{
    Enrolled, HttpResponse, InProcess, TestGroup, create_token, http, put_sealed, seal_recording,
    signed_headers,
};
use obhut_store::{LogStore, RetentionStore};
use retention_support::{CLASS, HOUR, KEEP, NOW, holder_dir, settings};

struct World {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    vault: InProcess,
    group: TestGroup,
    device: Enrolled,
    reader: PersonSecret,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let vault = InProcess::start_with(
        &dir.path().join("data"),
        &dir.path().join("keys"),
        clock.clone(),
        FileConfig {
            // The operator configured a training purpose: the vault must
            // still refuse it without consent.
            access_purposes: Some(vec!["criminal investigation".into(), "training".into()]),
            ..settings(FileConfig {
                epoch_holder_dir: Some(holder_dir(dir.path())),
                ..FileConfig::default()
            })
        },
    );
    let group = TestGroup::new(2, 3);
    let token = vault.block_on(create_token(&vault.app.index, &group.pinned, CLASS, NOW));
    let device = Enrolled::with_token(vault.addr, group.pinned.clone(), &token, CLASS, NOW);
    let reader = PersonSecret::generate("investigator", &mut os_rng());
    let clk: &dyn obhut_server::Clock = clock.as_ref();
    vault
        .block_on(obhut_server::admin::add_reader(
            &vault.app.index,
            clk,
            &reader.public(),
            group.pinned.group_id(),
        ))
        .unwrap();
    World {
        _dir: dir,
        clock,
        vault,
        group,
        device,
        reader,
    }
}

impl World {
    fn now(&self) -> i64 {
        use obhut_server::Clock;
        self.clock.now_ms()
    }

    fn call(
        &self,
        key: &SignKey,
        person: bool,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> HttpResponse {
        let h = signed_headers(
            &self.vault.ids(),
            key,
            person,
            method,
            path,
            self.now(),
            &body_sha256(body),
        );
        http(self.vault.addr, method, path, &h, body).unwrap()
    }

    /// Upload a recording of `n` segments sealed to `epoch`; its id.
    fn upload(&self, epoch: &EpochPublic, capture_ms: i64, n: u8) -> RecordingId {
        let parts: Vec<_> = (0..n)
            .map(|i| (SegmentKind::Media, vec![i; 2000]))
            .collect();
        let segs = seal_recording(
            &self.device.device,
            &self.group.pinned,
            epoch,
            capture_ms,
            &parts,
            true,
        );
        for s in &segs {
            let r = put_sealed(
                self.vault.addr,
                &self.vault.ids(),
                &self.device.device,
                s,
                self.now(),
            )
            .unwrap();
            assert_eq!(r.status, 201, "{:?}", r.json());
        }
        segs[0].record.segment_ref().recording
    }

    fn register(&self, content: ArtifactContent, signer: &SignKey, person: bool) -> HttpResponse {
        let role = if person {
            SignerRole::Person
        } else {
            SignerRole::Device
        };
        let rec = ArtifactRecord::sign(content, role, signer).unwrap();
        let body = serde_json::to_vec(&serde_json::json!({
            "record": B64.encode(rec.to_bytes().unwrap()),
        }))
        .unwrap();
        self.call(signer, person, "POST", "/v1/artifacts", &body)
    }

    fn blob(&self, rid: RecordingId) -> u16 {
        let path = format!("/v1/recordings/{rid}/segments/0/blob");
        self.call(&self.reader.sign, true, "GET", &path, &[]).status
    }

    fn artifact_state(&self, id: RecordingId) -> String {
        let r = self.call(
            &self.reader.sign,
            true,
            "GET",
            &format!("/v1/artifacts/{id}"),
            &[],
        );
        assert_eq!(r.status, 200, "{:?}", r.json());
        r.json()["state"].as_str().unwrap().to_owned()
    }

    fn entries(&self, kind: &str) -> Vec<Event> {
        self.vault
            .block_on(self.vault.app.index.log_entries_of_kind(kind))
            .unwrap()
            .into_iter()
            .map(|e| {
                LogEntry::from_bytes(e.body.as_deref().unwrap())
                    .unwrap()
                    .event
            })
            .collect()
    }

    fn consent(&self, purposes: u8) -> Consent {
        Consent {
            consent_id: RecordingId::random(&mut os_rng()).0,
            group_id: self.group.pinned.group_id(),
            purposes,
            not_before: NOW - HOUR,
            not_after: NOW + 30 * 24 * HOUR,
        }
    }

    fn post_consent(&self, poster: &SignKey, grants: &[ConsentStatement]) -> HttpResponse {
        let body = serde_json::to_vec(&serde_json::json!({
            "statements": grants.iter().map(|g| B64.encode(g.to_bytes().unwrap())).collect::<Vec<_>>(),
        }))
        .unwrap();
        self.call(poster, true, "POST", "/v1/consents", &body)
    }

    /// An access request for `purpose` over `rid`, posted by `who`.
    fn request(&self, who: &PersonSecret, rid: RecordingId, purpose: &str) -> HttpResponse {
        let req = RequestContent {
            request_id: [9; 16],
            group_id: self.group.pinned.group_id(),
            generation: self.group.pinned.generation(),
            scope: vec![Scope::Recording {
                recording_id: rid,
                media_start_ms: 0,
                media_end_ms: u64::MAX,
                include_metadata: false,
            }],
            purpose: purpose.into(),
            justification: "label review".into(),
            legal_basis: "consent".into(),
            case_ref: "-".into(),
            recipients: vec!["annotators".into()],
            created_utc_ms: self.now(),
            expires_utc_ms: self.now() + HOUR,
        }
        .sign(who)
        .unwrap();
        self.call(&who.sign, true, "POST", "/v1/requests", &req.to_bytes())
    }
}

fn content(
    id: RecordingId,
    w: &World,
    kind: ArtifactKind,
    name: &str,
    sources: Vec<Source>,
) -> ArtifactContent {
    ArtifactContent {
        artifact_id: id,
        group_id: w.group.pinned.group_id(),
        kind,
        name: name.into(),
        purpose: "criminal investigation".into(),
        legal_basis: "§ 163 StPO".into(),
        consent_id: None,
        created_ms: w.now(),
        sources,
    }
}

fn segs(rid: RecordingId, first: u32, end: u32) -> Source {
    Source::Segments {
        recording_id: rid,
        first,
        end,
    }
}

fn of(id: RecordingId) -> Source {
    Source::Artifact { artifact_id: id }
}

#[test]
fn withdrawing_consent_deletes_what_was_made_under_it_and_taints_the_model() {
    let w = world();
    let source = w.upload(&w.device.epoch, NOW, 3);
    let (c1, c2, c3) = (
        &w.group.custodians[0],
        &w.group.custodians[1],
        &w.group.custodians[2],
    );

    // Review for training without consent: refused, whoever asks. The
    // operator makes themselves a requester (they can write the index) and
    // tries; so does a requester the custodians trust.
    let operator = PersonSecret::generate("operator", &mut os_rng());
    let clk: &dyn obhut_server::Clock = w.clock.as_ref();
    w.vault
        .block_on(obhut_server::admin::add_requester(
            &w.vault.app.index,
            clk,
            &operator.public(),
            w.group.pinned.group_id(),
        ))
        .unwrap();
    let r = w.request(&operator, source, "training");
    assert_eq!(
        (r.status, r.kind().as_str()),
        (403, "consent-required"),
        "{:?}",
        r.json()
    );
    // An ordinary purpose is ordinary access (the same person may ask).
    assert_eq!(
        w.request(&operator, source, "criminal investigation")
            .status,
        201
    );
    // The operator cannot record a consent: grants signed with their own
    // key, or one custodian's grant alone, do not count.
    let c = w.consent(consent::PURPOSE_TRAINING);
    let grant = |i: u16, key: &PersonSecret| {
        ConsentStatement::sign(ConsentAction::Grant(c.clone()), i, &key.sign).unwrap()
    };
    let forged = [grant(1, &operator), grant(2, &operator)];
    let r = w.post_consent(&operator.sign, &forged);
    assert_eq!(
        (r.status, r.kind().as_str()),
        (403, "forbidden"),
        "{:?}",
        r.json()
    );
    let r = w.post_consent(&c1.sign, &[grant(1, c1)]);
    assert_eq!(
        (r.status, r.kind().as_str()),
        (403, "forbidden"),
        "{:?}",
        r.json()
    );
    assert!(w.entries("consent-recorded").is_empty());

    // k = 2 custodians consent.
    let r = w.post_consent(&c1.sign, &[grant(1, c1), grant(2, c2)]);
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(w.entries("consent-recorded").len(), 1);
    let r = w.request(&operator, source, "training");
    assert_eq!(
        r.status,
        201,
        "with consent, its own grant may be asked: {:?}",
        r.json()
    );

    // Derived data under the consent: a thumbnail and a clip of the
    // recording (their bytes sealed by the device), a training set holding
    // the recording and the thumbnail, a model trained on the set. And a
    // clip for an investigation, not under the consent.
    let thumb = w.upload(&w.device.epoch, NOW, 1);
    let clip = w.upload(&w.device.epoch, NOW, 1);
    let case_clip = w.upload(&w.device.epoch, NOW, 1);
    let set = RecordingId::random(&mut os_rng());
    let model = RecordingId::random(&mut os_rng());
    let training = |mut a: ArtifactContent| {
        a.purpose = "training".into();
        a.legal_basis = "consent (GDPR Art. 6(1)(a))".into();
        a.consent_id = Some(c.consent_id);
        a
    };
    let dev = &w.device.device;
    // A training set naming a consent never recorded is refused.
    let r = w.register(
        training(content(
            set,
            &w,
            ArtifactKind::TrainingSet,
            "set",
            vec![segs(source, 0, 3)],
        ))
        .clone_with_consent(Some([0x66; 16])),
        &c3.sign,
        true,
    );
    assert_eq!(
        (r.status, r.kind().as_str()),
        (403, "consent-required"),
        "{:?}",
        r.json()
    );
    for (a, signer, person) in [
        (
            training(content(
                thumb,
                &w,
                ArtifactKind::Thumbnail,
                "thumbnail",
                vec![segs(source, 0, 1)],
            )),
            dev,
            false,
        ),
        (
            training(content(
                clip,
                &w,
                ArtifactKind::Clip,
                "clip 0-2",
                vec![segs(source, 0, 2)],
            )),
            dev,
            false,
        ),
        (
            content(
                case_clip,
                &w,
                ArtifactKind::Clip,
                "case clip",
                vec![segs(source, 2, 3)],
            ),
            dev,
            false,
        ),
        (
            training(content(
                set,
                &w,
                ArtifactKind::TrainingSet,
                "doorbell set",
                vec![segs(source, 0, 3), of(thumb)],
            )),
            &c3.sign,
            true,
        ),
        (
            training(content(
                model,
                &w,
                ArtifactKind::Model,
                "person detector v1",
                vec![of(set)],
            )),
            &c3.sign,
            true,
        ),
    ] {
        let r = w.register(a, signer, person);
        assert_eq!(r.status, 201, "{:?}", r.json());
    }
    assert_eq!(w.entries("artifact-registered").len(), 5);
    assert_eq!(w.blob(thumb), 200);
    assert_eq!(w.blob(clip), 200);

    // Lineage of the recording: everything made from it.
    let r = w.call(
        &w.reader.sign,
        true,
        "GET",
        &format!("/v1/lineage/{source}"),
        &[],
    );
    assert_eq!(r.status, 200);
    let nodes = r.json()["nodes"].as_array().unwrap().len();
    assert_eq!(nodes, 6, "{:?}", r.json());

    // Withdrawn by one custodian (c3 did not even grant it).
    let wd = ConsentStatement::sign(
        ConsentAction::Withdraw {
            consent_id: c.consent_id,
            group_id: c.group_id,
            time_ms: w.now(),
        },
        3,
        &c3.sign,
    )
    .unwrap();
    let body =
        serde_json::to_vec(&serde_json::json!({"statement": B64.encode(wd.to_bytes().unwrap())}))
            .unwrap();
    // The operator cannot post it for them.
    let path = format!("/v1/consents/{}/withdrawal", hex::encode(c.consent_id));
    assert_eq!(
        w.call(&operator.sign, true, "POST", &path, &body).status,
        403
    );
    let r = w.call(&c3.sign, true, "POST", &path, &body);
    assert_eq!(r.status, 200, "{:?}", r.json());
    let j = r.json();
    let listed = |k: &str| -> Vec<String> {
        j["cascade"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let mut want = vec![thumb.to_string(), clip.to_string(), set.to_string()];
    want.sort();
    assert_eq!(listed("deleted"), want);
    assert_eq!(listed("tainted"), vec![model.to_string()]);

    // Unfetchable: the bytes are gone from index and blob store.
    assert_eq!(w.blob(thumb), 404);
    assert_eq!(w.blob(clip), 404);
    assert_eq!(w.artifact_state(thumb), "deleted");
    assert_eq!(w.artifact_state(model), "tainted");
    // The investigation's clip was not made under the consent: it stays.
    assert_eq!(w.blob(case_clip), 200);
    assert_eq!(w.artifact_state(case_clip), "live");
    // And review for training is refused again.
    let r = w.request(&operator, source, "training");
    assert_eq!((r.status, r.kind().as_str()), (403, "consent-required"));

    // The log: the withdrawal, and one cascade entry listing what went.
    assert_eq!(w.entries("consent-withdrawn").len(), 1);
    let cascades = w.entries("artifacts-cascaded");
    assert_eq!(cascades.len(), 1);
    let Event::ArtifactsCascaded(cas) = &cascades[0] else {
        unreachable!()
    };
    assert_eq!(
        cas.cause,
        CascadeCause::ConsentWithdrawn {
            consent_id: c.consent_id
        }
    );
    assert_eq!(cas.deleted.len(), 3);
    assert_eq!(cas.tainted, vec![model]);
    // Withdrawing again changes nothing and logs no second cascade.
    let wd2 = ConsentStatement::sign(
        ConsentAction::Withdraw {
            consent_id: c.consent_id,
            group_id: c.group_id,
            time_ms: w.now(),
        },
        1,
        &c1.sign,
    )
    .unwrap();
    let body =
        serde_json::to_vec(&serde_json::json!({"statement": B64.encode(wd2.to_bytes().unwrap())}))
            .unwrap();
    let r = w.call(&c1.sign, true, "POST", &path, &body);
    assert_eq!(r.status, 200);
    assert_eq!(w.entries("artifacts-cascaded").len(), 1);
}

trait WithConsent {
    fn clone_with_consent(self, id: Option<[u8; 16]>) -> Self;
}
impl WithConsent for ArtifactContent {
    fn clone_with_consent(mut self, id: Option<[u8; 16]>) -> Self {
        self.consent_id = id;
        self
    }
}

#[test]
fn a_source_expiring_in_the_sweep_takes_its_artifacts_with_it() {
    let w = world();
    let source = w.upload(&w.device.epoch, NOW, 2);
    // The thumbnail's bytes are sealed in the next period: they would
    // outlive the source by an epoch if lineage did not take them.
    let next_period = w.device.epoch.not_after;
    w.clock.set(next_period + 60_000);
    // The hourly schedule's run: the period after the new one.
    w.vault.block_on(w.vault.app.ensure_all_epochs()).unwrap();
    let e = http(
        w.vault.addr,
        "GET",
        &format!("/v1/epochs?class={CLASS}"),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(e.status, 200, "{:?}", e.json());
    let epoch2 = EpochPublic::from_bytes(
        &B64.decode(e.json()["current"]["public"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_ne!(epoch2.epoch_id, w.device.epoch.epoch_id);
    let thumb = w.upload(&epoch2, next_period + 60_000, 1);
    let label = RecordingId::random(&mut os_rng());
    let r = w.register(
        content(
            thumb,
            &w,
            ArtifactKind::Thumbnail,
            "thumb",
            vec![segs(source, 1, 2)],
        ),
        &w.device.device,
        false,
    );
    assert_eq!(r.status, 201, "{:?}", r.json());
    let r = w.register(
        content(
            label,
            &w,
            ArtifactKind::Label,
            "label: bicycle",
            vec![of(thumb)],
        ),
        &w.reader.sign,
        true,
    );
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(w.blob(thumb), 200);

    w.clock.set(w.device.epoch.not_after + KEEP);
    let report = w.vault.block_on(w.vault.app.sweep_once()).unwrap();
    assert_eq!((report.epochs, report.artifacts), (1, 2), "{report:?}");
    // The source expired; its thumbnail's bytes (in a live epoch) went
    // with it, and the label made from the thumbnail too.
    assert_eq!(w.blob(thumb), 404);
    assert_eq!(w.artifact_state(thumb), "deleted");
    assert_eq!(w.artifact_state(label), "deleted");
    let cascades = w.entries("artifacts-cascaded");
    assert_eq!(cascades.len(), 1);
    let Event::ArtifactsCascaded(cas) = &cascades[0] else {
        unreachable!()
    };
    assert_eq!(
        cas.cause,
        CascadeCause::SourceExpired {
            recording_id: source,
            first: 0,
            end: 2
        }
    );
    let mut want = vec![thumb, label];
    want.sort();
    assert_eq!(cas.deleted, want);
    // A second sweep finds nothing more (the cascade is idempotent).
    let again = w.vault.block_on(w.vault.app.sweep_once()).unwrap();
    assert_eq!(again.artifacts, 0);
    assert_eq!(w.entries("artifacts-cascaded").len(), 1);
    // The lineage still shows what went: the label's graph reaches its
    // deleted thumbnail and the expired recording.
    let r = w.call(
        &w.reader.sign,
        true,
        "GET",
        &format!("/v1/lineage/{label}"),
        &[],
    );
    assert_eq!(r.status, 200);
    let states: Vec<String> = r.json()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["deleted", "deleted", "expired"]);
}

#[test]
fn erasure_cascades() {
    let w = world();
    let source = w.upload(&w.device.epoch, NOW, 3);
    // A thumbnail and a clip of the recording, their bytes sealed by the
    // device to the same epoch (the erasure's split moves them, then the
    // cascade deletes them); a label made from the thumbnail; a training
    // set holding the recording under a consent, and a model trained on it.
    let thumb = w.upload(&w.device.epoch, NOW, 1);
    let clip = w.upload(&w.device.epoch, NOW, 1);
    let label = RecordingId::random(&mut os_rng());
    let set = RecordingId::random(&mut os_rng());
    let model = RecordingId::random(&mut os_rng());
    let c = w.consent(consent::PURPOSE_TRAINING);
    let grant = |i: u16| {
        ConsentStatement::sign(
            ConsentAction::Grant(c.clone()),
            i,
            &w.group.custodian(i).0.sign,
        )
        .unwrap()
    };
    let r = w.post_consent(&w.group.custodian(1).0.sign, &[grant(1), grant(2)]);
    assert_eq!(r.status, 201, "{:?}", r.json());
    let training = |mut a: ArtifactContent| {
        a.purpose = "training".into();
        a.legal_basis = "consent (GDPR Art. 6(1)(a))".into();
        a.consent_id = Some(c.consent_id);
        a
    };
    let (dev, c3) = (&w.device.device, &w.group.custodian(3).0.sign);
    for (a, signer, person) in [
        (
            content(
                thumb,
                &w,
                ArtifactKind::Thumbnail,
                "thumb",
                vec![segs(source, 0, 1)],
            ),
            dev,
            false,
        ),
        (
            content(
                clip,
                &w,
                ArtifactKind::Clip,
                "clip 1-3",
                vec![segs(source, 1, 3)],
            ),
            dev,
            false,
        ),
        (
            content(
                label,
                &w,
                ArtifactKind::Label,
                "label: cat",
                vec![of(thumb)],
            ),
            &w.reader.sign,
            true,
        ),
        (
            training(content(
                set,
                &w,
                ArtifactKind::TrainingSet,
                "doorbell set",
                vec![segs(source, 0, 3)],
            )),
            c3,
            true,
        ),
        (
            training(content(
                model,
                &w,
                ArtifactKind::Model,
                "detector v2",
                vec![of(set)],
            )),
            c3,
            true,
        ),
    ] {
        let r = w.register(a, signer, person);
        assert_eq!(r.status, 201, "{:?}", r.json());
    }
    assert_eq!(
        (w.blob(thumb), w.blob(clip), w.blob(source)),
        (200, 200, 200)
    );

    // The source's epoch closed for sealing; k = 2 custodians approve.
    w.clock.set(w.device.epoch.not_after + 60_000);
    let terms = ErasureTerms {
        group_id: w.group.pinned.group_id(),
        recording_id: source,
        from_ms: i64::MIN,
        to_ms: i64::MAX,
        reason: "Art. 17 request 2026-0018".into(),
    };
    let approvals: Vec<_> = [1u16, 3]
        .iter()
        .map(|&i| {
            ErasureApproval::sign(
                terms.clone(),
                w.now() + 24 * HOUR,
                i,
                &w.group.custodian(i).0.sign,
            )
            .unwrap()
        })
        .collect();
    let report = w
        .vault
        .block_on(w.vault.app.erase(&terms, &approvals))
        .unwrap();
    assert_eq!(
        (report.segments, report.epochs, report.artifacts),
        (3, 1, 4),
        "{report:?}"
    );

    // None of the derived artifacts can be fetched: their bytes are gone
    // (404), their records are tombstones, and nothing new may be made
    // from them (410 artifact-deleted). The model stays, tainted.
    // (The erased recording itself answers 410, as an expired one does.)
    assert_eq!(
        (w.blob(source), w.blob(thumb), w.blob(clip)),
        (410, 404, 404)
    );
    for id in [thumb, clip, label, set] {
        assert_eq!(w.artifact_state(id), "deleted", "{id}");
    }
    assert_eq!(w.artifact_state(model), "tainted");
    let r = w.register(
        content(
            RecordingId::random(&mut os_rng()),
            &w,
            ArtifactKind::Label,
            "label: dog",
            vec![of(thumb)],
        ),
        &w.reader.sign,
        true,
    );
    assert_eq!(
        (r.status, r.kind().as_str()),
        (410, "artifact-deleted"),
        "{:?}",
        r.json()
    );

    // The log: the erasure, the epoch's destruction with its receipt, and
    // the cascade naming the erasure as its cause.
    let erased = w.entries("erased");
    assert!(
        matches!(&erased[..], [Event::Erased { recording_id, segments: 3, approvals, .. }]
            if *recording_id == source && approvals.len() == 2),
        "{erased:?}"
    );
    let epoch = w.device.epoch.epoch_id;
    assert!(w.entries("epoch-destroyed").iter().any(|e| matches!(e,
            Event::EpochDestroyed { epoch_id, key_destroyed: true, .. } if *epoch_id == epoch)));
    assert!(
        w.vault
            .block_on(w.vault.app.index.deletion_receipt(epoch))
            .unwrap()
            .is_some()
    );
    let cascades = w.entries("artifacts-cascaded");
    assert_eq!(cascades.len(), 1, "{cascades:?}");
    let Event::ArtifactsCascaded(cas) = &cascades[0] else {
        unreachable!()
    };
    assert_eq!(
        cas.cause,
        CascadeCause::SourceErased {
            recording_id: source,
            first: 0,
            end: 3
        }
    );
    let mut want = vec![thumb, clip, label, set];
    want.sort();
    assert_eq!(cas.deleted, want);
    assert_eq!(cas.tainted, vec![model]);
}
