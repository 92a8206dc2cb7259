//! The access workflow over loopback HTTP (docs/access.md): a requester
//! asks, k custodians approve and upload partials sealed to the requester,
//! the vault releases `b` for exactly the scope, and the requester opens
//! segments byte-identical to the capture. Each adversarial test fails if
//! the property it names breaks; every step must be an audit entry
//! carrying who, when, what, why and to whom.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::access::{Logged, ReleaseJson, RequestJson, RequestList};
use obhut_core::access::{GrantKeys, records_in_scope};
use obhut_core::audit::{Event, LogEntry, Role};
use obhut_core::decision::{DecisionContent, Verdict};
use obhut_core::epoch::{EpochPublic, EpochRelease};
use obhut_core::identity::{PersonSecret, SignKey};
use obhut_core::ids::RecordingId;
use obhut_core::partial::{PartialEnvelope, custodian_partial, records_from_bytes};
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, GrantRef, RequestContent, Scope};
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::body_sha256;
use obhut_server::ManualClock;
use obhut_server::config::FileConfig;
use obhut_server::testkit::{
    HttpResponse, InProcess, Sealed, TestGroup, VaultIds, create_token, http, operator_entry,
    put_sealed, seal_recording, signed_headers,
};
use obhut_store::{AccessStore, IndexStore, LogStore, RequestState};

const NOW: i64 = 1_790_000_000_000;
const CLASS: &str = "bodycam-30d";
const DAY: i64 = 86_400_000;

struct World {
    _dir: tempfile::TempDir,
    vault: InProcess,
    clock: Arc<ManualClock>,
    group: TestGroup,
    device: SignKey,
    rid: RecordingId,
    segs: Vec<Sealed>,
    plaintexts: Vec<Vec<u8>>,
    requester: PersonSecret,
}

fn media(i: u8) -> Vec<u8> {
    (0..70_000u32)
        .map(|j| (j.wrapping_mul(31) as u8) ^ i)
        .collect()
}

impl World {
    /// A vault with a 2-of-3 group, one device that uploaded a complete
    /// recording of three 10-second media segments, the custodians
    /// registered as readers (they fetch records), and a registered
    /// requester (also a reader: it fetches ciphertext to open).
    fn new() -> World {
        Self::with(FileConfig::default())
    }

    fn with(settings: FileConfig) -> World {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(NOW));
        let vault = InProcess::start_with(
            &dir.path().join("data"),
            &dir.path().join("keys"),
            clock.clone(),
            FileConfig {
                max_segment_bytes: Some(1 << 20),
                ..settings
            },
        );
        let group = TestGroup::new(2, 3);
        let mut w = World {
            _dir: dir,
            vault,
            clock,
            group,
            device: SignKey::generate(&mut os_rng()),
            rid: RecordingId([0; 16]),
            segs: Vec::new(),
            plaintexts: Vec::new(),
            requester: PersonSecret::generate("investigator", &mut os_rng()),
        };
        w.enrol_and_upload();
        for c in &w.group.custodians {
            w.add_reader(&c.sign);
        }
        let requester = w.requester.sign.clone();
        w.add_reader(&requester);
        w.add_requester(&requester);
        w
    }

    fn now(&self) -> i64 {
        obhut_server::Clock::now_ms(&*self.clock)
    }

    fn enrol_and_upload(&mut self) {
        let token = self.vault.block_on(create_token(
            &self.vault.app.index,
            &self.group.pinned,
            CLASS,
            NOW,
        ));
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
            self.now(),
            &body_sha256(&body),
        );
        let r = http(self.vault.addr, "POST", "/v1/enrol", &h, &body).unwrap();
        assert_eq!(r.status, 200, "{:?}", r.json());
        let e = http(
            self.vault.addr,
            "GET",
            "/v1/epochs?class=bodycam-30d",
            &[],
            &[],
        )
        .unwrap();
        let epoch = EpochPublic::from_bytes(
            &B64.decode(e.json()["current"]["public"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        self.plaintexts = (0..3).map(media).collect();
        let payloads: Vec<_> = self
            .plaintexts
            .iter()
            .map(|p| (SegmentKind::Media, p.clone()))
            .collect();
        self.segs = seal_recording(
            &self.device,
            &self.group.pinned,
            &epoch,
            NOW - 60_000,
            &payloads,
            true,
        );
        for s in &self.segs {
            let r = put_sealed(
                self.vault.addr,
                &self.vault.ids(),
                &self.device,
                s,
                self.now(),
            )
            .unwrap();
            assert_eq!(r.status, 201, "{:?}", r.json());
        }
        self.rid = self.segs[0].record.segment_ref().recording;
    }

    fn add_reader(&self, who: &SignKey) {
        let key = who.verify_key().to_bytes();
        let gid = self.group.pinned.group_id();
        self.vault
            .block_on(self.vault.app.index.add_reader(
                key,
                gid,
                NOW,
                &operator_entry(
                    NOW,
                    Event::ReaderAdded {
                        person_key: key,
                        group_id: gid,
                    },
                ),
            ))
            .unwrap();
    }

    fn add_requester(&self, who: &SignKey) {
        let key = who.verify_key().to_bytes();
        self.vault
            .block_on(self.vault.app.index.add_requester(
                key,
                self.group.pinned.group_id(),
                NOW,
                &operator_entry(
                    NOW,
                    Event::RequesterAdded {
                        person_key: key,
                        name: "requester".into(),
                        group_id: self.group.pinned.group_id(),
                    },
                ),
            ))
            .unwrap();
    }

    fn call(&self, key: &SignKey, method: &str, path: &str, body: &[u8]) -> HttpResponse {
        let h = signed_headers(
            &self.vault.ids(),
            key,
            true,
            method,
            path,
            self.now(),
            &body_sha256(body),
        );
        http(self.vault.addr, method, path, &h, body).unwrap()
    }

    fn custodian(&self, i: u16) -> &SignKey {
        &self.group.custodian(i).0.sign
    }

    /// Segments 1 and 2 (media 10 s … 25 s), signed by the requester.
    fn request_content(&self) -> RequestContent {
        RequestContent {
            request_id: rand_id(),
            group_id: self.group.pinned.group_id(),
            generation: self.group.pinned.generation(),
            scope: vec![Scope::Recording {
                recording_id: self.rid,
                media_start_ms: 12_000,
                media_end_ms: 25_000,
                include_metadata: false,
            }],
            purpose: "criminal investigation".into(),
            justification: "assault reported at 14:02 near the main entrance".into(),
            legal_basis: "StPO §94".into(),
            case_ref: "2026-K-0042".into(),
            recipients: vec!["public prosecutor Berlin".into(), "defence counsel".into()],
            created_utc_ms: self.now(),
            expires_utc_ms: self.now() + DAY,
        }
    }

    fn request(&self) -> AccessRequest {
        self.request_content().sign(&self.requester).unwrap()
    }

    fn post_request_as(&self, key: &SignKey, r: &AccessRequest) -> HttpResponse {
        self.call(key, "POST", "/v1/requests", &r.to_bytes())
    }

    /// Post `r` as its requester; 201 and the grant's log index.
    fn post_request(&self, r: &AccessRequest) -> u64 {
        let resp = self.post_request_as(&self.requester.sign, r);
        assert_eq!(resp.status, 201, "{:?}", resp.json());
        serde_json::from_slice::<Logged>(&resp.body)
            .unwrap()
            .log_index
    }

    fn path(r: &AccessRequest, rest: &str) -> String {
        format!("/v1/requests/{}{rest}", hex::encode(r.request_hash()))
    }

    fn get_request(&self, key: &SignKey, r: &AccessRequest) -> RequestJson {
        let resp = self.call(key, "GET", &Self::path(r, ""), &[]);
        assert_eq!(resp.status, 200, "{:?}", resp.json());
        serde_json::from_slice(&resp.body).unwrap()
    }

    /// Custodian `i` resolves the scope from the records it fetched (as a
    /// reader) and computes its partial envelope.
    fn partial(&self, i: u16, r: &AccessRequest, grant_index: u64) -> Vec<u8> {
        let (me, share) = self.group.custodian(i);
        let resp = self.call(
            &me.sign,
            "GET",
            &format!("/v1/recordings/{}/records", self.rid),
            &[],
        );
        assert_eq!(resp.status, 200, "{:?}", resp.json());
        let raw: Vec<Vec<u8>> = resp.json()["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| B64.decode(v.as_str().unwrap()).unwrap())
            .collect();
        let records = records_from_bytes(&raw).unwrap();
        let in_scope: Vec<SegmentRecord> =
            records_in_scope(r, &records).into_iter().cloned().collect();
        custodian_partial(
            me,
            share,
            &self.group.pinned,
            r,
            &GrantRef::new(grant_index, r),
            &in_scope,
            obhut_core::partial::Runs::in_records(&records),
            self.now(),
            &mut os_rng(),
        )
        .unwrap()
        .to_bytes()
    }

    /// A decision about `r` (logged at `grant`) as custodian `custodian`
    /// (0: the requester), for this vault, now.
    fn content(
        &self,
        verdict: Verdict,
        r: &AccessRequest,
        grant: u64,
        custodian: u16,
        segments: u32,
        reason: &str,
    ) -> DecisionContent {
        DecisionContent {
            verdict,
            vault: self.vault.ids().log_key,
            request_hash: r.request_hash(),
            request_index: grant,
            custodian,
            segments,
            time_ms: self.now(),
            reason: reason.into(),
        }
    }

    /// POST `content` signed by `key` to `r`'s `endpoint`.
    fn post_decision(
        &self,
        key: &SignKey,
        r: &AccessRequest,
        endpoint: &str,
        content: DecisionContent,
    ) -> HttpResponse {
        let d = content.sign(key).unwrap();
        let body = serde_json::to_vec(&serde_json::json!({
            "decision": B64.encode(d.to_bytes()),
        }))
        .unwrap();
        self.call(key, "POST", &Self::path(r, endpoint), &body)
    }

    /// Phase 1 only: custodian `i`'s signed approval of 2 segments.
    fn approve_only(&self, i: u16, r: &AccessRequest, grant: u64) -> HttpResponse {
        let c = self.content(Verdict::Approve, r, grant, i, 2, "");
        self.post_decision(self.custodian(i), r, "/approvals", c)
    }

    /// The requester's signed report of `n` segments opened.
    fn opened(&self, key: &SignKey, r: &AccessRequest, grant: u64, n: u32) -> HttpResponse {
        let c = self.content(Verdict::Opened, r, grant, 0, n, "");
        self.post_decision(key, r, "/opened", c)
    }

    fn upload(&self, i: u16, r: &AccessRequest, envelope: &[u8]) -> HttpResponse {
        self.call(
            self.custodian(i),
            "PUT",
            &Self::path(r, &format!("/approvals/{i}/partial")),
            envelope,
        )
    }

    /// Custodian `i` approves (phase 1); once k have, every approver
    /// without an envelope at the vault uploads one (phase 2), as their
    /// clients do when run again.
    fn approve(&self, i: u16, r: &AccessRequest, grant_index: u64) -> Logged {
        let a = self.approve_only(i, r, grant_index);
        assert_eq!(a.status, 201, "{:?}", a.json());
        let approvals = self
            .vault
            .block_on(self.vault.app.index.approvals(r.request_hash()))
            .unwrap();
        if approvals.len() >= usize::from(self.group.pinned.threshold()) {
            for a in approvals.iter().filter(|a| a.envelope.is_none()) {
                let env = self.partial(a.custodian, r, grant_index);
                let u = self.upload(a.custodian, r, &env);
                assert_eq!(u.status, 204, "{:?}", u.json());
            }
        }
        serde_json::from_slice(&a.body).unwrap()
    }

    fn release_as(&self, key: &SignKey, r: &AccessRequest) -> HttpResponse {
        self.call(key, "POST", &Self::path(r, "/release"), &[])
    }

    fn deny(&self, i: u16, r: &AccessRequest, grant: u64, reason: &str) -> HttpResponse {
        let c = self.content(Verdict::Deny, r, grant, i, 0, reason);
        self.post_decision(self.custodian(i), r, "/denials", c)
    }

    fn entries(&self) -> Vec<LogEntry> {
        let rows = self
            .vault
            .block_on(self.vault.app.index.log_entries(0, 10_000))
            .unwrap();
        rows.iter()
            .map(|r| LogEntry::from_bytes(r.body.as_ref().unwrap()).unwrap())
            .collect()
    }

    fn kinds(&self, kind: &str) -> usize {
        self.entries()
            .iter()
            .filter(|e| e.event.kind() == kind)
            .count()
    }

    fn sequenced(&self) -> u64 {
        self.vault
            .block_on(self.vault.app.index.log_sequenced())
            .unwrap()
    }

    fn state(&self, r: &AccessRequest) -> RequestState {
        self.vault
            .block_on(self.vault.app.index.request(r.request_hash()))
            .unwrap()
            .unwrap()
            .state
    }
}

fn rand_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).unwrap();
    id
}

fn refused(r: &HttpResponse, status: u16, kind: &str) {
    assert_eq!(r.status, status, "{:?}", r.json());
    assert_eq!(r.kind(), kind, "{:?}", r.json());
}

/// Decode a `Logged` answer's entry and check it is the stored one.
fn entry_of(w: &World, l: &Logged) -> LogEntry {
    let body = B64.decode(&l.entry).unwrap();
    let stored = w
        .vault
        .block_on(w.vault.app.index.log_entries(l.log_index, 1))
        .unwrap();
    assert_eq!(stored[0].body.as_deref(), Some(&body[..]));
    LogEntry::from_bytes(&body).unwrap()
}

#[test]
fn the_whole_flow_releases_exactly_the_scope_and_opens_byte_identical() {
    let w = World::new();
    let req = w.request();
    let req_resp = w.post_request_as(&w.requester.sign, &req);
    assert_eq!(req_resp.status, 201, "{:?}", req_resp.json());
    let logged: Logged = serde_json::from_slice(&req_resp.body).unwrap();
    let grant = logged.log_index;
    // The same request again is answered from what was stored.
    let again = w.post_request_as(&w.requester.sign, &req);
    assert_eq!(again.status, 200, "{:?}", again.json());
    assert_eq!(
        serde_json::from_slice::<Logged>(&again.body).unwrap(),
        logged
    );
    assert_eq!(w.kinds("access-requested"), 1);

    // Custodians see it pending, in full.
    let list = w.call(w.custodian(3), "GET", "/v1/requests?state=pending", &[]);
    assert_eq!(list.status, 200, "{:?}", list.json());
    let list: RequestList = serde_json::from_slice(&list.body).unwrap();
    assert_eq!(list.requests.len(), 1);
    assert_eq!(list.requests[0].request, B64.encode(req.to_bytes()));
    assert_eq!(list.requests[0].state, "pending");
    let mine = w.call(&w.requester.sign, "GET", "/v1/requests", &[]);
    assert_eq!(mine.json()["requests"].as_array().unwrap().len(), 1);

    let a1 = w.approve(1, &req, grant);
    let a3 = w.approve(3, &req, grant);
    let got = w.get_request(&w.requester.sign, &req);
    assert_eq!(got.approvals.len(), 2);
    assert!(got.approvals.iter().all(|a| a.partial_uploaded));
    assert_eq!(got.logged, logged);

    let rel = w.release_as(&w.requester.sign, &req);
    assert_eq!(rel.status, 200, "{:?}", rel.json());
    let rel: ReleaseJson = serde_json::from_slice(&rel.body).unwrap();
    assert_eq!(w.state(&req), RequestState::Released);
    let release = EpochRelease::from_bytes(&B64.decode(&rel.release).unwrap()).unwrap();
    let raw: Vec<Vec<u8>> = rel.records.iter().map(|r| B64.decode(r).unwrap()).collect();
    let records = records_from_bytes(&raw).unwrap();
    // Exactly segments 1 and 2: the scope, resolved from device-signed records.
    let indices: Vec<u32> = records.iter().map(|r| r.segment_ref().index).collect();
    assert_eq!(indices, [1, 2]);
    assert_eq!(release.entries.len(), 2);
    assert_eq!(release.grant_log_index, grant);
    let partials: Vec<PartialEnvelope> = rel
        .partials
        .iter()
        .map(|p| PartialEnvelope::from_bytes(&B64.decode(p).unwrap()).unwrap())
        .collect();
    assert_eq!(partials.len(), 2);

    // The requester combines and opens: byte-identical plaintext.
    let refs: Vec<&SegmentRecord> = records.iter().collect();
    let keys = GrantKeys::recover(
        &w.group.pinned,
        &req,
        &GrantRef::new(grant, &req),
        &refs,
        &partials,
        &release,
        &w.requester,
    )
    .unwrap();
    for rec in &records {
        let i = rec.segment_ref().index;
        let blob = w.call(
            &w.requester.sign,
            "GET",
            &format!("/v1/recordings/{}/segments/{i}/blob", w.rid),
            &[],
        );
        assert_eq!(blob.status, 200);
        let mut out = Vec::new();
        keys.open_segment(rec, &blob.body[..], &mut out).unwrap();
        assert_eq!(out, w.plaintexts[i as usize], "segment {i}");
    }
    // Segment 0 is outside the scope: no key for it.
    assert!(keys.opener(&w.segs[0].record).is_err());

    // Issue 16: a count beyond what was released (2 segments) is refused
    // and logs nothing.
    let before = w.sequenced();
    for n in [3, u32::MAX] {
        let r = w.opened(&w.requester.sign, &req, grant, n);
        assert_eq!(r.status, 400, "{n}: {:?}", r.json());
        assert_eq!(r.kind(), "bad-request");
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains("2 segments released")
        );
    }
    assert_eq!(w.sequenced(), before);
    let opened = w.opened(&w.requester.sign, &req, grant, 2);
    assert_eq!(opened.status, 201, "{:?}", opened.json());
    let opened: Logged = serde_json::from_slice(&opened.body).unwrap();

    // A second release call answers the stored release; nothing new is logged.
    let before = w.sequenced();
    let rel2 = w.release_as(&w.requester.sign, &req);
    assert_eq!(rel2.status, 200, "{:?}", rel2.json());
    let rel2: ReleaseJson = serde_json::from_slice(&rel2.body).unwrap();
    assert_eq!(rel2, rel);
    assert_eq!(w.sequenced(), before);

    // Art. 25: who, when, what, why and to whom, from the log alone.
    let requested = entry_of(&w, &logged);
    assert_eq!(requested.actor.role, Role::Person);
    assert_eq!(
        requested.actor.key,
        w.requester.sign.verify_key().to_bytes()
    );
    assert_eq!(requested.time_ms, NOW);
    assert_eq!(requested.recording, Some(w.rid));
    let Event::AccessRequested { request } = &requested.event else {
        panic!("{requested:?}")
    };
    let embedded = AccessRequest::from_bytes(request).unwrap();
    assert_eq!(embedded, req);
    assert_eq!(embedded.purpose, "criminal investigation");
    assert_eq!(
        embedded.justification,
        "assault reported at 14:02 near the main entrance"
    );
    assert_eq!(embedded.legal_basis, "StPO §94");
    assert_eq!(embedded.case_ref, "2026-K-0042");
    assert_eq!(
        embedded.recipients,
        ["public prosecutor Berlin", "defence counsel"]
    );
    for (a, i) in [(&a1, 1u16), (&a3, 3)] {
        let e = entry_of(&w, a);
        assert_eq!(e.actor.role, Role::Person);
        assert_eq!(e.actor.key, w.custodian(i).verify_key().to_bytes());
        let Event::Approved { decision } = e.event else {
            panic!("{e:?}")
        };
        // The custodian's own signed statement, whole.
        let d = decision.content();
        assert_eq!(
            (d.request_hash, d.request_index, d.segments, d.custodian),
            (req.request_hash(), grant, 2, i)
        );
        assert_eq!(*decision.person(), w.custodian(i).verify_key());
    }
    let released = entry_of(&w, &rel.logged);
    assert_eq!(released.actor.role, Role::Vault);
    assert_eq!(
        released.event,
        Event::Released {
            request_hash: req.request_hash(),
            request_index: grant,
            segments: 2
        }
    );
    let o = entry_of(&w, &opened);
    assert_eq!(o.actor.key, w.requester.sign.verify_key().to_bytes());
    let Event::Opened { decision } = &o.event else {
        panic!("{o:?}")
    };
    assert_eq!(
        (decision.content().request_hash, decision.content().segments),
        (req.request_hash(), 2)
    );
    // Order in the log: request, approvals, release, opened.
    assert!(grant < a1.log_index && a3.log_index < rel.logged.log_index);
    assert!(rel.logged.log_index < opened.log_index);
}

#[test]
fn k_minus_one_approvals_release_nothing() {
    let w = World::new();
    let req = w.request();
    let grant = w.post_request(&req);
    w.approve(2, &req, grant);
    let r = w.release_as(&w.requester.sign, &req);
    refused(&r, 422, "not-ready");
    assert!(r.json()["message"].as_str().unwrap().contains("0 of 2"));
    // Issue 15: a key part before k approvals are logged is refused.
    let early = w.partial(2, &req, grant);
    let r = w.upload(2, &req, &early);
    refused(&r, 409, "conflict");
    assert!(r.json()["message"].as_str().unwrap().contains("1 of the 2"));
    // A second approval whose envelopes are not uploaded does not count.
    assert_eq!(w.approve_only(3, &req, grant).status, 201);
    let r = w.release_as(&w.requester.sign, &req);
    refused(&r, 422, "not-ready");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("custodian(s) 2, 3")
    );
    assert_eq!(w.kinds("released"), 0);
    assert_eq!(w.state(&req), RequestState::Pending);
    // Once both are uploaded, the release goes through.
    assert_eq!(w.upload(2, &req, &early).status, 204);
    assert_eq!(w.upload(3, &req, &w.partial(3, &req, grant)).status, 204);
    assert_eq!(w.release_as(&w.requester.sign, &req).status, 200);
    assert_eq!(w.kinds("released"), 1);
}

#[test]
fn a_custodian_of_another_group_cannot_approve_deny_or_read() {
    let w = World::new();
    let other = TestGroup::new(2, 3);
    w.vault
        .block_on(create_token(&w.vault.app.index, &other.pinned, CLASS, NOW));
    let req = w.request();
    let grant = w.post_request(&req);
    let outsider = &other.custodian(1).0.sign;
    let before = w.sequenced();
    refused(
        &w.post_decision(
            outsider,
            &req,
            "/approvals",
            w.content(Verdict::Approve, &req, grant, 1, 2, ""),
        ),
        403,
        "forbidden",
    );
    refused(
        &w.post_decision(
            outsider,
            &req,
            "/denials",
            w.content(Verdict::Deny, &req, grant, 1, 0, "no"),
        ),
        403,
        "forbidden",
    );
    refused(
        &w.call(outsider, "GET", &World::path(&req, ""), &[]),
        403,
        "forbidden",
    );
    // Uploading as custodian 1 of this group with another group's key.
    let env = w.partial(1, &req, grant);
    refused(
        &w.call(
            outsider,
            "PUT",
            &World::path(&req, "/approvals/1/partial"),
            &env,
        ),
        403,
        "forbidden",
    );
    // The outsider's own list does not show this group's requests.
    let list = w.call(outsider, "GET", "/v1/requests", &[]);
    assert_eq!(list.status, 200, "{:?}", list.json());
    assert!(list.json()["requests"].as_array().unwrap().is_empty());
    assert_eq!(w.sequenced(), before);
    assert!(
        w.vault
            .block_on(w.vault.app.index.approvals(req.request_hash()))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_requester_may_not_approve_its_own_request() {
    let w = World::new();
    // Custodian 1 is also a requester and asks.
    let c1 = w.group.custodian(1).0;
    w.add_requester(&c1.sign);
    let req = w.request_content().sign(c1).unwrap();
    let resp = w.post_request_as(&c1.sign, &req);
    assert_eq!(resp.status, 201, "{:?}", resp.json());
    let grant = serde_json::from_slice::<Logged>(&resp.body)
        .unwrap()
        .log_index;
    let before = w.sequenced();
    let r = w.approve_only(1, &req, grant);
    refused(&r, 403, "forbidden");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("allow_self_approval")
    );
    assert_eq!(w.sequenced(), before);
    // One other approval is k − 1: nothing is released.
    w.approve(2, &req, grant);
    refused(&w.release_as(&c1.sign, &req), 422, "not-ready");
    assert_eq!(w.kinds("released"), 0);
}

#[test]
fn with_allow_self_approval_the_requesters_approval_counts() {
    let w = World::with(FileConfig {
        allow_self_approval: Some(true),
        ..FileConfig::default()
    });
    let c1 = w.group.custodian(1).0;
    w.add_requester(&c1.sign);
    let req = w.request_content().sign(c1).unwrap();
    let resp = w.post_request_as(&c1.sign, &req);
    assert_eq!(resp.status, 201, "{:?}", resp.json());
    let grant = serde_json::from_slice::<Logged>(&resp.body)
        .unwrap()
        .log_index;
    w.approve(1, &req, grant);
    w.approve(2, &req, grant);
    let r = w.release_as(&c1.sign, &req);
    assert_eq!(r.status, 200, "{:?}", r.json());
}

#[test]
fn the_same_custodian_approving_twice_counts_once() {
    let w = World::new();
    let req = w.request();
    let grant = w.post_request(&req);
    w.approve(1, &req, grant);
    let before = w.sequenced();
    refused(&w.approve_only(1, &req, grant), 409, "conflict");
    assert_eq!(w.sequenced(), before);
    assert_eq!(w.kinds("approved"), 1);
    let got = w.get_request(w.custodian(2), &req);
    assert_eq!(got.approvals.len(), 1);
    refused(&w.release_as(&w.requester.sign, &req), 422, "not-ready");
}

#[test]
fn an_envelope_once_stored_is_never_replaced() {
    let w = World::new();
    let req = w.request();
    let grant = w.post_request(&req);
    assert_eq!(w.approve_only(2, &req, grant).status, 201);
    assert_eq!(w.approve_only(3, &req, grant).status, 201);
    let logged_env = w.partial(2, &req, grant);
    // Another valid envelope of the same custodian (fresh randomness).
    let other_env = w.partial(2, &req, grant);
    assert_ne!(other_env, logged_env);
    let got = w.get_request(w.custodian(2), &req);
    assert!(!got.approvals[0].partial_uploaded);
    // Custodian 2's envelope uploaded by custodian 3 on its own path.
    refused(&w.upload(3, &req, &logged_env), 400, "bad-request");
    assert_eq!(w.upload(2, &req, &logged_env).status, 204);
    // Re-uploading the same bytes is idempotent; other bytes still refused.
    assert_eq!(w.upload(2, &req, &logged_env).status, 204);
    refused(&w.upload(2, &req, &other_env), 409, "conflict");
}

#[test]
fn a_denied_request_is_not_released() {
    let w = World::new();
    let req = w.request();
    let grant = w.post_request(&req);
    w.approve(1, &req, grant);
    w.approve(2, &req, grant);
    let d = w.deny(3, &req, grant, "not proportionate to the offence");
    assert_eq!(d.status, 201, "{:?}", d.json());
    let d: Logged = serde_json::from_slice(&d.body).unwrap();
    let e = entry_of(&w, &d);
    assert_eq!(e.actor.key, w.custodian(3).verify_key().to_bytes());
    let Event::Denied { decision } = &e.event else {
        panic!("{e:?}")
    };
    let c = decision.content();
    assert_eq!(
        (
            c.request_hash,
            c.request_index,
            c.custodian,
            c.reason.as_str()
        ),
        (
            req.request_hash(),
            grant,
            3,
            "not proportionate to the offence"
        )
    );
    refused(&w.release_as(&w.requester.sign, &req), 409, "conflict");
    assert_eq!(w.kinds("released"), 0);
    assert_eq!(w.state(&req), RequestState::Denied);
    // Further approvals and denials are refused too.
    refused(&w.deny(1, &req, grant, "also no"), 409, "conflict");
    let got = w.get_request(&w.requester.sign, &req);
    assert_eq!(got.state, "denied");
    assert_eq!(got.denial.unwrap().custodian, 3);
}

#[test]
fn an_expired_request_releases_nothing() {
    let w = World::new();
    let mut content = w.request_content();
    content.expires_utc_ms = NOW + 3_600_000;
    let req = content.sign(&w.requester).unwrap();
    let grant = w.post_request(&req);
    w.approve(1, &req, grant);
    w.approve(2, &req, grant);
    w.clock.advance(2 * 3_600_000);
    refused(&w.release_as(&w.requester.sign, &req), 410, "expired");
    assert_eq!(w.kinds("released"), 0);
    assert_eq!(w.state(&req), RequestState::Pending);
    // Approving an expired request is refused as well.
    let mut late = w.content(Verdict::Approve, &req, grant, 3, 2, "");
    late.time_ms = w.now();
    refused(
        &w.post_decision(w.custodian(3), &req, "/approvals", late),
        410,
        "expired",
    );
}

#[test]
fn a_released_request_is_not_released_again_after_expiry() {
    let w = World::new();
    let mut content = w.request_content();
    content.expires_utc_ms = NOW + 3_600_000;
    let req = content.sign(&w.requester).unwrap();
    let grant = w.post_request(&req);
    w.approve(1, &req, grant);
    w.approve(2, &req, grant);
    assert_eq!(w.release_as(&w.requester.sign, &req).status, 200);
    w.clock.advance(2 * 3_600_000);
    refused(&w.release_as(&w.requester.sign, &req), 410, "expired");
}

#[test]
fn an_unknown_recording_in_a_request_changes_nothing() {
    let w = World::new();
    let mut content = w.request_content();
    content.scope.push(Scope::Recording {
        recording_id: RecordingId([0xee; 16]),
        media_start_ms: 0,
        media_end_ms: 10_000,
        include_metadata: false,
    });
    let req = content.sign(&w.requester).unwrap();
    let before = w.sequenced();
    refused(
        &w.post_request_as(&w.requester.sign, &req),
        404,
        "unknown-recording",
    );
    assert_eq!(w.sequenced(), before);
    assert!(
        w.vault
            .block_on(w.vault.app.index.request(req.request_hash()))
            .unwrap()
            .is_none()
    );
    // An unknown device too.
    let mut content = w.request_content();
    content.scope = vec![Scope::Device {
        device_key: SignKey::generate(&mut os_rng()).verify_key(),
        utc_start_ms: NOW - DAY,
        utc_end_ms: NOW,
        include_metadata: false,
    }];
    let req = content.sign(&w.requester).unwrap();
    refused(
        &w.post_request_as(&w.requester.sign, &req),
        404,
        "not-found",
    );
    assert_eq!(w.sequenced(), before);
}

#[test]
fn only_registered_requesters_post_their_own_requests() {
    let w = World::new();
    let before = w.sequenced();
    // Not a requester (a custodian and reader, but never registered).
    let c2 = w.group.custodian(2).0;
    let req = w.request_content().sign(c2).unwrap();
    refused(&w.post_request_as(&c2.sign, &req), 403, "forbidden");
    // A registered requester posting a request someone else signed.
    refused(
        &w.post_request_as(&w.requester.sign, &req),
        403,
        "forbidden",
    );
    // Someone else posting the requester's request.
    refused(&w.post_request_as(&c2.sign, &w.request()), 403, "forbidden");
    // A stranger may not list requests.
    let stranger = SignKey::generate(&mut os_rng());
    refused(
        &w.call(&stranger, "GET", "/v1/requests", &[]),
        403,
        "forbidden",
    );
    assert_eq!(w.sequenced(), before);
    assert!(
        w.vault
            .block_on(
                w.vault
                    .app
                    .index
                    .requests_by_requester(c2.sign.verify_key().to_bytes(), None)
            )
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_vaults_policy_on_purpose_and_validity_is_enforced() {
    let w = World::new();
    let before = w.sequenced();
    let mut content = w.request_content();
    content.purpose = "curiosity".into();
    let r = w.post_request_as(&w.requester.sign, &content.sign(&w.requester).unwrap());
    refused(&r, 400, "bad-request");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("criminal investigation")
    );
    let mut content = w.request_content();
    content.expires_utc_ms = NOW + 31 * DAY;
    let r = w.post_request_as(&w.requester.sign, &content.sign(&w.requester).unwrap());
    refused(&r, 400, "bad-request");
    assert!(r.json()["message"].as_str().unwrap().contains("30 days"));
    assert_eq!(w.sequenced(), before);
}

#[test]
fn only_the_requester_may_ask_for_the_release() {
    let w = World::new();
    let req = w.request();
    let grant = w.post_request(&req);
    w.approve(1, &req, grant);
    w.approve(2, &req, grant);
    let before = w.sequenced();
    refused(&w.release_as(w.custodian(1), &req), 403, "forbidden");
    let stranger = SignKey::generate(&mut os_rng());
    refused(&w.release_as(&stranger, &req), 403, "forbidden");
    refused(&w.opened(w.custodian(1), &req, grant, 2), 403, "forbidden");
    assert_eq!(w.sequenced(), before);
    assert_eq!(w.state(&req), RequestState::Pending);
    assert_eq!(w.release_as(&w.requester.sign, &req).status, 200);
}

#[test]
fn a_device_scope_covers_the_devices_footage_in_the_window() {
    let w = World::new();
    let mut content = w.request_content();
    // Capture times: NOW − 60 s + 10 s·i; the window holds segment 2 only.
    content.scope = vec![Scope::Device {
        device_key: w.device.verify_key(),
        utc_start_ms: NOW - 39_000,
        utc_end_ms: NOW - 30_000,
        include_metadata: false,
    }];
    let req = content.sign(&w.requester).unwrap();
    let grant = w.post_request(&req);
    for i in [2u16, 3] {
        let c = w.content(Verdict::Approve, &req, grant, i, 1, "");
        let a = w.post_decision(w.custodian(i), &req, "/approvals", c);
        assert_eq!(a.status, 201, "{:?}", a.json());
    }
    for i in [2u16, 3] {
        let env = w.partial(i, &req, grant);
        assert_eq!(w.upload(i, &req, &env).status, 204);
    }
    let rel = w.release_as(&w.requester.sign, &req);
    assert_eq!(rel.status, 200, "{:?}", rel.json());
    let rel: ReleaseJson = serde_json::from_slice(&rel.body).unwrap();
    let raw: Vec<Vec<u8>> = rel.records.iter().map(|r| B64.decode(r).unwrap()).collect();
    let records = records_from_bytes(&raw).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].segment_ref().index, 2);
    let release = EpochRelease::from_bytes(&B64.decode(&rel.release).unwrap()).unwrap();
    let partials: Vec<PartialEnvelope> = rel
        .partials
        .iter()
        .map(|p| PartialEnvelope::from_bytes(&B64.decode(p).unwrap()).unwrap())
        .collect();
    let keys = GrantKeys::recover(
        &w.group.pinned,
        &req,
        &GrantRef::new(grant, &req),
        &[&records[0]],
        &partials,
        &release,
        &w.requester,
    )
    .unwrap();
    let mut out = Vec::new();
    keys.open_segment(&records[0], &w.segs[2].blob[..], &mut out)
        .unwrap();
    assert_eq!(out, w.plaintexts[2]);
}

/// Property 2 against the operator: after a complete grant, everything
/// the vault holds — every stored partial envelope, the stored release,
/// and every epoch key in its keystore — opens no segment. The operator
/// gets `b` for every segment, but the envelopes and the release open only
/// with the requester's key, and `b` with any `a` but the real one fails
/// the key commitment.
#[test]
fn everything_the_vault_holds_opens_no_segment() {
    use obhut_core::error::{Error, SegmentFailure};
    use obhut_core::segment::SegmentOpener;

    let w = World::new();
    let req = w.request();
    let grant = w.post_request(&req);
    w.approve(1, &req, grant);
    w.approve(2, &req, grant);
    let rel = w.release_as(&w.requester.sign, &req);
    assert_eq!(rel.status, 200, "{:?}", rel.json());
    // What the vault stored for the grant, read back from its own store.
    let stored: ReleaseJson = serde_json::from_slice(&w.release_as(&w.requester.sign, &req).body)
        .expect("the stored release");
    let operator = PersonSecret::generate("operator", &mut os_rng());
    for p in &stored.partials {
        let env = PartialEnvelope::from_bytes(&B64.decode(p).unwrap()).unwrap();
        assert!(
            env.open(&operator.kem).is_err(),
            "a partial opened for the operator"
        );
    }
    let release = EpochRelease::from_bytes(&B64.decode(&stored.release).unwrap()).unwrap();
    assert!(release.open(&operator, grant, &req.request_hash()).is_err());
    // Every segment of the recording, in scope or not.
    for s in &w.segs {
        let f = &s.record.header().fields;
        let epoch = w
            .vault
            .app
            .keystore
            .epoch(f.epoch_wrap.epoch_id)
            .expect("the operator holds the epoch key");
        let b = epoch
            .unwrap(
                &f.epoch_wrap,
                f.recording_id,
                &f.device_key,
                f.segment_index,
            )
            .expect("the operator recovers b");
        for guess in [[0u8; 32], [0xff; 32], b.expose().to_owned()] {
            // Guessed a and c (the operator holds neither; §5.6).
            let parts = obhut_core::segment::KeyParts {
                a: obhut_core::secret::Secret32::new(guess),
                b: b.clone(),
                c: obhut_core::secret::Secret32::new(guess),
            };
            let err = SegmentOpener::from_header(s.record.header(), &parts).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Segment {
                        failure: SegmentFailure::KeyCommitment,
                        ..
                    }
                ),
                "{err}"
            );
        }
    }
}

/// An approval replayed onto another request: custodian 1's envelope for
/// request A, committed and uploaded for request B, is refused by the
/// vault; and were a vault to hand it over anyway, the requester's
/// combine refuses a partial bound to another grant.
#[test]
fn an_approval_replayed_onto_another_request_is_refused() {
    let w = World::new();
    let a = w.request();
    let grant_a = w.post_request(&a);
    w.approve(1, &a, grant_a);
    w.approve(2, &a, grant_a);
    let env_a = w.partial(1, &a, grant_a);
    let b = w.request();
    let grant_b = w.post_request(&b);
    let before = w.sequenced();
    // Custodian 1's signed approval of A, posted to B: it names A, and the
    // vault refuses it without logging anything.
    let approval_of_a = w.content(Verdict::Approve, &a, grant_a, 1, 2, "");
    refused(
        &w.post_decision(w.custodian(1), &b, "/approvals", approval_of_a),
        400,
        "bad-request",
    );
    assert_eq!(w.sequenced(), before);
    // B approved by k; A's envelope is still refused on B: it names A.
    w.approve_only(1, &b, grant_b);
    w.approve_only(2, &b, grant_b);
    refused(&w.upload(1, &b, &env_a), 400, "bad-request");
    let got = w.get_request(w.custodian(1), &b);
    assert!(!got.approvals[0].partial_uploaded);
    // The requester's side: A's partial with a genuine one for B.
    let env_b = w.partial(2, &b, grant_b);
    let envelopes = [
        PartialEnvelope::from_bytes(&env_a).unwrap(),
        PartialEnvelope::from_bytes(&env_b).unwrap(),
    ];
    let records: Vec<SegmentRecord> = w.segs.iter().map(|s| s.record.clone()).collect();
    let in_scope = records_in_scope(&b, &records);
    // The partials are combined before the release is opened: an empty
    // release is enough to see the combine refuse.
    let err = GrantKeys::recover(
        &w.group.pinned,
        &b,
        &GrantRef::new(grant_b, &b),
        &in_scope,
        &envelopes,
        &EpochRelease {
            grant_log_index: grant_b,
            request_hash: b.request_hash(),
            requester_fpr: b.requester_fingerprint(),
            entries: Vec::new(),
        },
        &w.requester,
    )
    .unwrap_err();
    assert!(err.to_string().contains("custodian 1"), "{err}");
}

/// Malformed or oversized input changes nothing: no row, no log entry.
#[test]
fn a_malformed_request_changes_nothing() {
    let w = World::new();
    let before = w.sequenced();
    let mut bytes = w.request().to_bytes();
    for body in [
        vec![],
        b"not a request".to_vec(),
        bytes[..bytes.len() / 2].to_vec(),
    ] {
        let r = w.call(&w.requester.sign, "POST", "/v1/requests", &body);
        assert_eq!(r.status, 400, "{:?}", r.json());
    }
    bytes.push(0);
    let r = w.call(&w.requester.sign, "POST", "/v1/requests", &bytes);
    assert_eq!(r.status, 400, "{:?}", r.json());
    let r = w.call(
        &w.requester.sign,
        "POST",
        "/v1/requests",
        &vec![0u8; 2 << 20],
    );
    assert!(r.status == 413 || r.status == 400, "{:?}", r.json());
    assert_eq!(w.sequenced(), before);
    let list = w.call(&w.requester.sign, "GET", "/v1/requests", &[]);
    assert_eq!(list.json()["requests"].as_array().unwrap().len(), 0);
}

/// The value of the sample `series` (name with its labels, as the text
/// exposition writes them) in a `/metrics` answer.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

fn scrape(w: &World) -> String {
    let r = http(w.vault.ops_addr, "GET", "/metrics", &[], &[]).unwrap();
    assert_eq!(r.status, 200);
    String::from_utf8(r.body).unwrap()
}

/// What an operator watches (docs/operations.md §Metrics), scraped over
/// real HTTP from the operations listener after an ingest, a retried
/// upload, an access released and read, a refusal, a witness that never
/// answers and a sweep that destroys the footage's epoch: every metric is
/// there and moved by what happened.
#[test]
fn metrics_show_ingest_access_log_witnesses_sweeps_store_latency_and_errors() {
    let cosigner = obhut_log::CosignatureSigner::from_seed("witness.example/w1", &[7; 32]).unwrap();
    // Nothing listens on the discard port: every cosigning attempt fails.
    let unreachable = "http://127.0.0.1:9";
    let w = World::with(FileConfig {
        witness: vec![obhut_server::config::WitnessFile {
            url: unreachable.into(),
            vkey: cosigner.verifier_key().to_string(),
        }],
        epoch_period_secs: [(CLASS.to_owned(), 86_400)].into(),
        retention: [(CLASS.to_owned(), "30 days".to_owned())].into(),
        ..FileConfig::default()
    });
    // World::with uploaded three segments; the same upload again is
    // acknowledged from the stored receipt.
    let again = put_sealed(w.vault.addr, &w.vault.ids(), &w.device, &w.segs[0], w.now()).unwrap();
    assert_eq!(again.status, 200, "{:?}", again.json());
    let req = w.request();
    let grant = w.post_request(&req);
    w.approve(1, &req, grant);
    w.approve(3, &req, grant);
    let rel = w.release_as(&w.requester.sign, &req);
    assert_eq!(rel.status, 200, "{:?}", rel.json());
    let blob = w.call(
        &w.requester.sign,
        "GET",
        &format!("/v1/recordings/{}/segments/1/blob", w.rid),
        &[],
    );
    assert_eq!(blob.status, 200);
    let stranger = SignKey::generate(&mut os_rng());
    refused(
        &w.call(&stranger, "GET", "/v1/recordings", &[]),
        401,
        "unknown-person",
    );

    // Wait until the integrator has taken in every entry and asked the
    // witness, then let a minute pass with nothing logged.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let m = loop {
        let m = scrape(&w);
        let integrated = sample(&m, "obhut_log_entries") == Some(w.sequenced() as f64);
        let asked = sample(
            &m,
            &format!("obhut_witness_failures_total{{witness=\"{unreachable}\"}}"),
        )
        .is_some();
        if integrated && asked {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "{m}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let at = |m: &str, s: &str| sample(m, s).unwrap_or_else(|| panic!("no {s} in\n{m}"));
    assert_eq!(at(&m, "obhut_ingest_segments_total"), 3.0);
    assert_eq!(
        at(&m, "obhut_ingest_bytes_total"),
        w.segs.iter().map(|s| s.blob.len() as f64).sum::<f64>()
    );
    assert_eq!(at(&m, "obhut_ingest_acks_total{status=\"created\"}"), 3.0);
    assert_eq!(at(&m, "obhut_ingest_acks_total{status=\"repeat\"}"), 1.0);
    assert_eq!(at(&m, "obhut_ingest_seconds_count"), 4.0);
    assert_eq!(at(&m, "obhut_releases_total"), 1.0);
    assert_eq!(at(&m, "obhut_released_segments_total"), 2.0);
    assert_eq!(at(&m, "obhut_errors_total{kind=\"unknown-person\"}"), 1.0);
    assert!(at(&m, "obhut_log_sequenced_entries") >= at(&m, "obhut_log_entries"));
    // Three segments received, the request, two approvals, the release at least.
    assert!(at(&m, "obhut_log_entries") >= 7.0, "{m}");
    for (store, op, at_least) in [
        ("blob", "stage", 3.0),
        ("blob", "sync_staged", 3.0),
        ("blob", "publish", 3.0),
        ("blob", "get_range", 1.0),
        ("index", "insert_segment", 3.0),
        ("index", "segment", 1.0),
        ("index", "mark_released", 1.0),
        ("index", "log_integrate", 1.0),
    ] {
        let n = at(
            &m,
            &format!("obhut_store_seconds_count{{store=\"{store}\",op=\"{op}\"}}"),
        );
        assert!(n >= at_least, "{store} {op}: {n}");
    }
    // The sweep at start ran and found nothing due.
    assert!(at(&m, "obhut_sweep_runs_total") >= 1.0);
    assert_eq!(at(&m, "obhut_epochs_destroyed_total"), 0.0);
    assert_eq!(at(&m, "obhut_sweep_failures_total"), 0.0);

    // A minute without a new checkpoint shows as its age.
    let before = at(&m, "obhut_log_checkpoint_age_seconds");
    w.clock.advance(60_000);
    let m = scrape(&w);
    assert!(
        at(&m, "obhut_log_checkpoint_age_seconds") >= before + 60.0,
        "{m}"
    );

    // Long after the class's retention, a sweep destroys the epoch.
    let runs = at(&m, "obhut_sweep_runs_total");
    w.clock.advance(120 * DAY);
    let report = w.vault.block_on(w.vault.app.sweep_once()).unwrap();
    assert!(report.keys_destroyed >= 1, "{report:?}");
    let m = scrape(&w);
    assert_eq!(at(&m, "obhut_sweep_runs_total"), runs + 1.0);
    assert_eq!(
        at(&m, "obhut_epochs_destroyed_total"),
        report.keys_destroyed as f64
    );
    assert!(at(&m, "obhut_sweep_seconds_count") >= 2.0);
    let deleted = at(
        &m,
        "obhut_store_seconds_count{store=\"blob\",op=\"delete\"}",
    );
    assert_eq!(deleted, report.blobs as f64);
}
