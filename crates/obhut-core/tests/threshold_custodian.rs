//! The custodian procedure (docs/format.md §8.3) refuses before computing
//! anything: bad or expired requests, other groups, wrong shares, unsigned
//! records, out-of-scope segments, and the in-scope rule of §8.1.

use crate::threshold_support;

use obhut_core::combine::combine;
use obhut_core::error::{Error, RefusalReason};
use obhut_core::identity::PersonSecret;
use obhut_core::ids::RecordingId;
use obhut_core::partial::Runs;
use obhut_core::partial::{PartialEnvelope, custodian_partial, records_from_bytes};
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, GrantRef, RequestContent, Scope, SegmentFacts};
use obhut_core::segment::SegmentKind;
use threshold_support::*;

struct Setup {
    group: Group,
    device: Device,
    rec: RecordingId,
    /// Media [0, 4000), [4000, 8000), [8000, 12000); container index;
    /// metadata.
    segments: Vec<Sealed>,
    requester: PersonSecret,
}

fn setup(rng: &mut Rng) -> Setup {
    let group = Group::new(2, 3, rng);
    let device = Device::new("bodycam 9", rng);
    let rec = RecordingId::random(rng);
    let mut segments: Vec<Sealed> = (0..3u32)
        .map(|i| {
            let s = Spec::media(rec, i, u64::from(i) * 4000, u64::from(i + 1) * 4000);
            device.seal(&group, s, rng)
        })
        .collect();
    for (index, kind) in [(3, SegmentKind::ContainerIndex), (4, SegmentKind::Metadata)] {
        let mut s = Spec::media(rec, index, 0, 0);
        s.kind = kind;
        segments.push(device.seal(&group, s, rng));
    }
    let requester = PersonSecret::generate("requester", rng);
    Setup {
        group,
        device,
        rec,
        segments,
        requester,
    }
}

impl Setup {
    fn ask(
        &self,
        request: &AccessRequest,
        grant: &GrantRef,
        records: &[&Sealed],
        now: i64,
        rng: &mut Rng,
    ) -> obhut_core::Result<PartialEnvelope> {
        let (me, share) = self.group.custodian(1);
        let records: Vec<SegmentRecord> = records.iter().map(|s| s.record.clone()).collect();
        custodian_partial(
            me,
            share,
            &self.group.pinned,
            request,
            grant,
            &records,
            Runs::default(),
            now,
            rng,
        )
    }
    fn scoped(&self, scope: Vec<Scope>, rng: &mut Rng) -> AccessRequest {
        request(&self.requester, &self.group.pinned, scope, rng)
    }
    fn first_four_seconds(&self, include_metadata: bool) -> Scope {
        Scope::Recording {
            recording_id: self.rec,
            media_start_ms: 0,
            media_end_ms: 4000,
            include_metadata,
        }
    }
}

fn refused(result: obhut_core::Result<PartialEnvelope>) -> RefusalReason {
    match result {
        Err(Error::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn expired_request_is_refused() {
    let mut rng = rng();
    let s = setup(&mut rng);
    let req = s.scoped(vec![whole_recording(s.rec)], &mut rng);
    let g = grant(&req);
    let seg0 = [&s.segments[0]];
    s.ask(&req, &g, &seg0, req.expires_utc_ms - 1, &mut rng)
        .unwrap();
    assert_eq!(
        refused(s.ask(&req, &g, &seg0, req.expires_utc_ms, &mut rng)),
        RefusalReason::Expired
    );
}

#[test]
fn badly_signed_requests_never_reach_a_custodian() {
    let mut rng = rng();
    let s = setup(&mut rng);
    let req = s.scoped(vec![whole_recording(s.rec)], &mut rng);
    let bytes = req.to_bytes();
    assert_eq!(AccessRequest::from_bytes(&bytes).unwrap(), req);
    // Any altered byte after the keys (scope, purpose, times, signature).
    for pos in [1300, bytes.len() - 100, bytes.len() - 70, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x01;
        assert!(AccessRequest::from_bytes(&bad).is_err(), "byte {pos}");
    }
    // Another key signing the same request as if it were the requester.
    let mallory = PersonSecret::generate("mallory", &mut rng);
    let mut forged = bytes.clone();
    let n = forged.len();
    let sig = mallory
        .sign
        .sign(obhut_core::labels::ACCESS_REQUEST_SIG, &bytes[..n - 64]);
    forged[n - 64..].copy_from_slice(&sig);
    assert!(matches!(
        AccessRequest::from_bytes(&forged),
        Err(Error::BadSignature {
            what: "access request"
        })
    ));
    // Swapping the requester's X-Wing key for mallory's breaks the signature.
    let mut swapped = bytes.clone();
    swapped[7 + 16 + 32..7 + 16 + 32 + 1216].copy_from_slice(mallory.kem.public_key().as_bytes());
    assert!(matches!(
        AccessRequest::from_bytes(&swapped),
        Err(Error::BadSignature { .. })
    ));
}

#[test]
fn request_for_another_group_or_grant_is_refused() {
    let mut rng = rng();
    let s = setup(&mut rng);
    let seg0 = [&s.segments[0]];
    let other = Group::new(2, 3, &mut rng);
    let theirs = request(
        &s.requester,
        &other.pinned,
        vec![whole_recording(s.rec)],
        &mut rng,
    );
    assert_eq!(
        refused(s.ask(&theirs, &grant(&theirs), &seg0, NOW, &mut rng)),
        RefusalReason::RequestForOtherGroup
    );
    let mut content = s
        .scoped(vec![whole_recording(s.rec)], &mut rng)
        .content()
        .clone();
    content.generation += 1;
    let next_gen = content.sign(&s.requester).unwrap();
    assert_eq!(
        refused(s.ask(&next_gen, &grant(&next_gen), &seg0, NOW, &mut rng)),
        RefusalReason::RequestForOtherGroup
    );

    let req = s.scoped(vec![whole_recording(s.rec)], &mut rng);
    let wrong = GrantRef {
        log_index: 7,
        request_hash: theirs.request_hash(),
    };
    assert_eq!(
        refused(s.ask(&req, &wrong, &seg0, NOW, &mut rng)),
        RefusalReason::GrantMismatch
    );
}

#[test]
fn wrong_share_or_identity_is_refused() {
    let mut rng = rng();
    let s = setup(&mut rng);
    let req = s.scoped(vec![whole_recording(s.rec)], &mut rng);
    let records = [s.segments[0].record.clone()];
    let other = Group::new(2, 3, &mut rng);
    let (me, _) = s.group.custodian(1);
    let (_, foreign_share) = other.custodian(1);
    let r = custodian_partial(
        me,
        foreign_share,
        &s.group.pinned,
        &req,
        &grant(&req),
        &records,
        Runs::default(),
        NOW,
        &mut rng,
    );
    assert_eq!(refused(r), RefusalReason::WrongShare(1));
    // Custodian 1's identity with custodian 2's share.
    let (_, share2) = s.group.custodian(2);
    let r = custodian_partial(
        me,
        share2,
        &s.group.pinned,
        &req,
        &grant(&req),
        &records,
        Runs::default(),
        NOW,
        &mut rng,
    );
    assert!(matches!(r, Err(Error::Custody(_))), "{r:?}");
}

#[test]
fn unsigned_or_foreign_records_are_refused() {
    let mut rng = rng();
    let s = setup(&mut rng);
    let req = s.scoped(vec![whole_recording(s.rec)], &mut rng);
    let g = grant(&req);
    // A record whose signed bytes were altered (here: media times moved)
    // fails its device signature when the custodian reads it.
    let mut bytes = s.segments[1].record.to_bytes();
    let media_start_at = 7 + 7 + 1 + 16 + 32 + 4 + 4;
    bytes[media_start_at + 7] ^= 0x10;
    match records_from_bytes(&[bytes]) {
        Err(Error::Refused(RefusalReason::UnsignedRecord(seg))) => {
            assert_eq!(seg, s.segments[1].segment())
        }
        other => panic!("{other:?}"),
    }
    // Untouched records parse.
    let ok = records_from_bytes(&[s.segments[0].record.to_bytes()]).unwrap();
    assert_eq!(ok[0], s.segments[0].record);

    // A record sealed to another custody group.
    let other = Group::new(2, 3, &mut rng);
    let foreign = s
        .device
        .seal(&other, Spec::media(s.rec, 7, 0, 1000), &mut rng);
    assert_eq!(
        refused(s.ask(&req, &g, &[&s.segments[0], &foreign], NOW, &mut rng)),
        RefusalReason::OtherGroup(foreign.segment())
    );

    // No records, or the same record twice.
    assert_eq!(
        refused(s.ask(&req, &g, &[], NOW, &mut rng)),
        RefusalReason::BatchSize(0)
    );
    assert_eq!(
        refused(s.ask(&req, &g, &[&s.segments[0], &s.segments[0]], NOW, &mut rng)),
        RefusalReason::DuplicateSegment(s.segments[0].segment())
    );
}

#[test]
fn out_of_scope_segments_are_refused() {
    let mut rng = rng();
    let s = setup(&mut rng);
    let [m0, m1, m2, index, meta] = [0, 1, 2, 3, 4].map(|i| &s.segments[i]);

    // Media [4000, 8000) is outside [0, 4000): half-open intervals.
    let req = s.scoped(vec![s.first_four_seconds(false)], &mut rng);
    let g = grant(&req);
    s.ask(&req, &g, &[m0], NOW, &mut rng).unwrap();
    assert_eq!(
        refused(s.ask(&req, &g, &[m0, m1], NOW, &mut rng)),
        RefusalReason::OutOfScope(m1.segment())
    );
    // The container index is in scope with an in-scope media segment of
    // its recording, and not on its own.
    s.ask(&req, &g, &[m0, index], NOW, &mut rng).unwrap();
    assert_eq!(
        refused(s.ask(&req, &g, &[index], NOW, &mut rng)),
        RefusalReason::OutOfScope(index.segment())
    );
    // Metadata needs include_metadata.
    assert_eq!(
        refused(s.ask(&req, &g, &[m0, meta], NOW, &mut rng)),
        RefusalReason::OutOfScope(meta.segment())
    );
    let with_meta = s.scoped(vec![s.first_four_seconds(true)], &mut rng);
    s.ask(
        &with_meta,
        &grant(&with_meta),
        &[m0, index, meta],
        NOW,
        &mut rng,
    )
    .unwrap();

    // Another recording is out of scope, even from the same device.
    let other_rec = s.device.seal(
        &s.group,
        Spec::media(RecordingId::random(&mut rng), 0, 0, 4000),
        &mut rng,
    );
    assert_eq!(
        refused(s.ask(&req, &g, &[m0, &other_rec], NOW, &mut rng)),
        RefusalReason::OutOfScope(other_rec.segment())
    );

    // A device scope selects by capture time.
    let dev = s.device.secret.sign.verify_key();
    let capture2 = m2.record.header().fields.capture_utc_ms;
    let by_time = s.scoped(
        vec![Scope::Device {
            device_key: dev,
            utc_start_ms: capture2,
            utc_end_ms: capture2 + 1,
            include_metadata: false,
        }],
        &mut rng,
    );
    let bg = grant(&by_time);
    s.ask(&by_time, &bg, &[m2, index], NOW, &mut rng).unwrap();
    assert_eq!(
        refused(s.ask(&by_time, &bg, &[m1], NOW, &mut rng)),
        RefusalReason::OutOfScope(m1.segment())
    );
    let other_device = Device::new("other", &mut rng).secret.sign.verify_key();
    let wrong_device = s.scoped(
        vec![Scope::Device {
            device_key: other_device,
            utc_start_ms: i64::MIN,
            utc_end_ms: i64::MAX,
            include_metadata: true,
        }],
        &mut rng,
    );
    assert_eq!(
        refused(s.ask(&wrong_device, &grant(&wrong_device), &[m0], NOW, &mut rng)),
        RefusalReason::OutOfScope(m0.segment())
    );

    // A refused request leaves nothing to combine; an allowed one combines.
    let p1 = s.ask(&req, &g, &[m0], NOW, &mut rng).unwrap();
    let (me2, share2) = s.group.custodian(2);
    let p2 = custodian_partial(
        me2,
        share2,
        &s.group.pinned,
        &req,
        &g,
        std::slice::from_ref(&m0.record),
        Runs::default(),
        NOW,
        &mut rng,
    )
    .unwrap();
    let keys = combine(
        &s.group.pinned,
        &req,
        &g,
        &[&m0.record],
        &[p1, p2],
        &s.requester.kem,
    )
    .unwrap()
    .keys;
    assert_eq!(keys[0].1, m0.a);
}

#[test]
fn in_scope_rule_edges() {
    let mut rng = rng();
    let rec = RecordingId::random(&mut rng);
    let device = Device::new("d", &mut rng).secret.sign.verify_key();
    let media = |start: u64, end: u64, utc: i64| SegmentFacts {
        kind: 0,
        recording_id: rec,
        device_key: device.to_bytes(),
        media_start_ms: start,
        media_end_ms: end,
        capture_utc_ms: utc,
    };
    let rec_scope = |start: u64, end: u64| Scope::Recording {
        recording_id: rec,
        media_start_ms: start,
        media_end_ms: end,
        include_metadata: false,
    };
    assert!(rec_scope(0, 4001).covers_media(&media(4000, 8000, 0)));
    assert!(!rec_scope(0, 4000).covers_media(&media(4000, 8000, 0)));
    assert!(!rec_scope(8000, 9000).covers_media(&media(4000, 8000, 0)));
    assert!(rec_scope(7999, 9000).covers_media(&media(4000, 8000, 0)));
    // A zero-length segment is the instant it starts at; an empty scope
    // covers nothing.
    assert!(rec_scope(0, u64::MAX).covers_media(&media(5, 5, 0)));
    assert!(rec_scope(5, 6).covers_media(&media(5, 5, 0)));
    assert!(!rec_scope(6, u64::MAX).covers_media(&media(5, 5, 0)));
    assert!(!rec_scope(0, 5).covers_media(&media(5, 5, 0)));
    assert!(!rec_scope(5, 5).covers_media(&media(5, 5, 0)));
    assert!(!rec_scope(4000, 4000).covers_media(&media(4000, 8000, 0)));
    let dev_scope = |start: i64, end: i64| Scope::Device {
        device_key: device,
        utc_start_ms: start,
        utc_end_ms: end,
        include_metadata: false,
    };
    // UTC interval [capture, capture + duration).
    assert!(dev_scope(1_000, 1_001).covers_media(&media(4000, 8000, 1_000)));
    assert!(dev_scope(4_999, 6_000).covers_media(&media(4000, 8000, 1_000)));
    assert!(!dev_scope(5_000, 6_000).covers_media(&media(4000, 8000, 1_000)));
    assert!(!dev_scope(0, 1_000).covers_media(&media(4000, 8000, 1_000)));
    // No overflow at the extremes.
    assert!(dev_scope(i64::MIN, i64::MAX).covers_media(&media(0, u64::MAX, i64::MAX - 1)));
    assert!(!dev_scope(i64::MIN, i64::MAX).covers_media(&media(0, u64::MAX, i64::MAX)));
}

#[test]
fn request_bounds_are_enforced_when_signing_and_parsing() {
    let mut rng = rng();
    let s = setup(&mut rng);
    let base = s
        .scoped(vec![whole_recording(s.rec)], &mut rng)
        .content()
        .clone();
    let bad: Vec<(&str, RequestContent)> = vec![
        (
            "no scope",
            RequestContent {
                scope: vec![],
                ..base.clone()
            },
        ),
        (
            "1025 scopes",
            RequestContent {
                scope: vec![whole_recording(s.rec); 1025],
                ..base.clone()
            },
        ),
        (
            "reversed interval",
            RequestContent {
                scope: vec![Scope::Recording {
                    recording_id: s.rec,
                    media_start_ms: 10,
                    media_end_ms: 9,
                    include_metadata: false,
                }],
                ..base.clone()
            },
        ),
        (
            "long purpose",
            RequestContent {
                purpose: "x".repeat(257),
                ..base.clone()
            },
        ),
        (
            "long justification",
            RequestContent {
                justification: "x".repeat(4097),
                ..base.clone()
            },
        ),
        (
            "long legal basis",
            RequestContent {
                legal_basis: "x".repeat(513),
                ..base.clone()
            },
        ),
        (
            "long case ref",
            RequestContent {
                case_ref: "x".repeat(257),
                ..base.clone()
            },
        ),
        (
            "65 recipients",
            RequestContent {
                recipients: vec!["r".into(); 65],
                ..base.clone()
            },
        ),
        (
            "long recipient",
            RequestContent {
                recipients: vec!["x".repeat(257)],
                ..base.clone()
            },
        ),
        (
            "expires before created",
            RequestContent {
                expires_utc_ms: base.created_utc_ms,
                ..base.clone()
            },
        ),
    ];
    for (what, content) in bad {
        assert!(content.sign(&s.requester).is_err(), "{what}");
    }
    // At the bounds it signs and round-trips.
    let max = RequestContent {
        scope: vec![whole_recording(s.rec); 1024],
        purpose: "p".repeat(256),
        justification: "j".repeat(4096),
        legal_basis: "l".repeat(512),
        case_ref: "c".repeat(256),
        recipients: vec!["r".repeat(256); 64],
        ..base
    }
    .sign(&s.requester)
    .unwrap();
    let bytes = max.to_bytes();
    assert_eq!(AccessRequest::from_bytes(&bytes).unwrap(), max);
    assert_eq!(AccessRequest::from_bytes(&bytes).unwrap().to_bytes(), bytes);
}
