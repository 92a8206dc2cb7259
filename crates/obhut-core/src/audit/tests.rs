use super::*;
use crate::decision::DecisionContent;
use crate::identity::SignKey;

fn decision(person: &SignKey, verdict: Verdict) -> Decision {
    DecisionContent {
        verdict,
        vault: [5; 32],
        request_hash: [6; 32],
        request_index: 42,
        custodian: if verdict == Verdict::Opened { 0 } else { 2 },
        segments: if verdict == Verdict::Deny { 0 } else { 3 },
        time_ms: 1_764_000_000_000,
        reason: if verdict == Verdict::Deny {
            "no legal basis".into()
        } else {
            String::new()
        },
    }
    .sign(person)
    .unwrap()
}

fn person() -> SignKey {
    SignKey::generate(&mut crate::rng::os_rng())
}

fn all_events(person: &SignKey) -> Vec<Event> {
    vec![
        Event::GroupAdded {
            group_id: GroupId([1; 16]),
            fingerprint: Fingerprint([2; 32]),
        },
        Event::DeviceEnrolled {
            group_id: GroupId([1; 16]),
            retention_class: "bodycam".into(),
        },
        Event::DeviceRevoked {
            device_key: [3; 32],
        },
        Event::ReaderAdded {
            person_key: [4; 32],
            group_id: GroupId([1; 16]),
        },
        Event::SegmentReceived {
            index: 7,
            record_hash: [5; 32],
            blob_len: 1 << 33,
            capture_utc_ms: -1,
        },
        Event::AccessRequested {
            request: vec![9; 1000],
        },
        Event::Approved {
            decision: decision(person, Verdict::Approve),
        },
        Event::Denied {
            decision: decision(person, Verdict::Deny),
        },
        Event::Released {
            request_hash: [6; 32],
            request_index: 42,
            segments: 3,
        },
        Event::Opened {
            decision: decision(person, Verdict::Opened),
        },
        Event::LogPruned {
            before_index: 10,
            count: 9,
        },
        Event::RequesterAdded {
            person_key: [10; 32],
            name: "Erika Requester".into(),
            group_id: GroupId([1; 16]),
        },
        Event::AuditorAdded {
            person_key: [11; 32],
            name: "Dana Auditor".into(),
        },
        Event::PolicyInEffect {
            policy: "max_grant_days=30".into(),
        },
        Event::EpochCreated {
            epoch_id: EpochId([12; 16]),
            retention_class: "bodycam-30d".into(),
            not_before: 1_764_000_000_000,
            not_after: 1_764_086_400_000,
        },
        Event::EpochDestroyed {
            epoch_id: EpochId([13; 16]),
            retention_class: "cctv".into(),
            not_before: 1_764_000_000_000,
            not_after: 1_764_003_600_000,
            expired_ms: 1_764_262_800_000,
            segments: 7,
            key_destroyed: true,
        },
        Event::DeviceReclassified {
            device_key: [14; 32],
            from_class: "cctv".into(),
            to_class: "evidence".into(),
            approvals: vec![
                crate::reclassify::ReclassifyApproval::sign(
                    crate::reclassify::Reclassification {
                        group_id: GroupId([1; 16]),
                        device_key: [14; 32],
                        from_class: "cctv".into(),
                        to_class: "evidence".into(),
                        not_after: 1_764_086_400_000,
                    },
                    1,
                    person,
                )
                .unwrap()
                .to_bytes()
                .unwrap(),
            ],
        },
        Event::HoldPlaced {
            hold_id: hold_terms().hold_id(),
            case: "2026-K-0042".into(),
            device_key: [14; 32],
            from_ms: 1_764_000_000_000,
            to_ms: 1_764_003_600_000,
            approvals: vec![hold_approval(person, crate::hold::HoldAction::Place)],
        },
        Event::HoldReleased {
            hold_id: hold_terms().hold_id(),
            case: "2026-K-0042".into(),
            approvals: vec![hold_approval(person, crate::hold::HoldAction::Release)],
        },
        Event::Erased {
            recording_id: RecordingId([15; 16]),
            from_ms: i64::MIN,
            to_ms: i64::MAX,
            segments: 3,
            copies_until_ms: 1_764_000_000_000,
            approvals: vec![
                crate::erasure::ErasureApproval::sign(
                    crate::erasure::ErasureTerms {
                        group_id: GroupId([1; 16]),
                        recording_id: RecordingId([15; 16]),
                        from_ms: i64::MIN,
                        to_ms: i64::MAX,
                        reason: "Art. 17 request 2026-0017".into(),
                    },
                    1_764_086_400_000,
                    1,
                    person,
                )
                .unwrap()
                .to_bytes()
                .unwrap(),
            ],
        },
        Event::NameSet {
            claim: crate::name::NameClaim::sign_own(
                crate::name::Subject::Person,
                "Anna Weiß",
                1_764_000_000_000,
                person,
            )
            .unwrap(),
        },
    ]
}

fn hold_terms() -> crate::hold::HoldTerms {
    crate::hold::HoldTerms {
        group_id: GroupId([1; 16]),
        case: "2026-K-0042".into(),
        device_key: [14; 32],
        from_ms: 1_764_000_000_000,
        to_ms: 1_764_003_600_000,
    }
}

fn hold_approval(person: &SignKey, action: crate::hold::HoldAction) -> Vec<u8> {
    crate::hold::HoldApproval::sign(action, hold_terms(), 1_764_086_400_000, 1, person)
        .unwrap()
        .to_bytes()
        .unwrap()
}

/// A hold entry embedding an approval of the other action (a release
/// approval presented as a placement) is refused.
#[test]
fn a_hold_entry_with_the_other_actions_approval_is_refused() {
    let person = person();
    let e = LogEntry {
        time_ms: 1,
        actor: Actor {
            role: Role::Operator,
            key: [0; 32],
        },
        recording: None,
        event: Event::HoldPlaced {
            hold_id: hold_terms().hold_id(),
            case: "2026-K-0042".into(),
            device_key: [14; 32],
            from_ms: 1,
            to_ms: 2,
            approvals: vec![hold_approval(&person, crate::hold::HoldAction::Release)],
        },
    };
    assert!(LogEntry::from_bytes(&e.to_bytes().unwrap()).is_err());
}

#[test]
fn every_event_round_trips_and_truncation_is_refused() {
    let person = person();
    for (i, event) in all_events(&person).into_iter().enumerate() {
        let e = LogEntry {
            time_ms: 1_764_000_000_123,
            actor: Actor {
                role: Role::Person,
                key: person.verify_key().to_bytes(),
            },
            recording: (i % 2 == 0).then_some(RecordingId([0xaa; 16])),
            event,
        };
        let b = e.to_bytes().unwrap();
        assert_eq!(LogEntry::from_bytes(&b).unwrap(), e);
        for cut in 0..b.len() {
            assert!(LogEntry::from_bytes(&b[..cut]).is_err(), "cut {cut}");
        }
        let mut long = b.clone();
        long.push(0);
        assert!(LogEntry::from_bytes(&long).is_err());
        assert!(!e.to_string().is_empty());
    }
}

/// A vault that logs a custodian's signed approval as someone else's,
/// or as its own, writes an entry no reader accepts.
#[test]
fn a_decision_logged_under_another_actor_is_refused() {
    let custodian = person();
    let approval = decision(&custodian, Verdict::Approve);
    for actor in [
        Actor {
            role: Role::Person,
            key: person().verify_key().to_bytes(),
        },
        Actor {
            role: Role::Vault,
            key: custodian.verify_key().to_bytes(),
        },
    ] {
        let e = LogEntry {
            time_ms: 1,
            actor,
            recording: None,
            event: Event::Approved {
                decision: approval.clone(),
            },
        };
        assert!(LogEntry::from_bytes(&e.to_bytes().unwrap()).is_err());
    }
    // Nor under another kind: a denial is not an approval.
    let e = LogEntry {
        time_ms: 1,
        actor: Actor {
            role: Role::Person,
            key: custodian.verify_key().to_bytes(),
        },
        recording: None,
        event: Event::Denied { decision: approval },
    };
    assert!(LogEntry::from_bytes(&e.to_bytes().unwrap()).is_err());
}

#[test]
fn tags_are_distinct_and_unknown_tags_refused() {
    let tags: Vec<u8> = all_events(&person()).iter().map(Event::tag).collect();
    let mut sorted = tags.clone();
    sorted.dedup();
    assert_eq!(tags.len(), sorted.len());
    let e = LogEntry {
        time_ms: 0,
        actor: Actor {
            role: Role::Vault,
            key: [0; 32],
        },
        recording: None,
        event: Event::PolicyInEffect { policy: "x".into() },
    };
    let mut b = e.to_bytes().unwrap();
    // 11 (the retired free-text admin entry), 28 (after the last) and
    // far beyond are all unknown.
    for tag in [0, 11, 28, 200] {
        b[7] = tag;
        assert!(
            matches!(
                LogEntry::from_bytes(&b),
                Err(Error::Malformed {
                    reason: "unknown event kind",
                    ..
                })
            ),
            "tag {tag}"
        );
    }
}

/// Each admin event's fields, tag and kind as docs/format.md §12
/// states them.
#[test]
fn admin_events_encode_as_specified() {
    let entry = |event| LogEntry {
        time_ms: 5,
        actor: Actor {
            role: Role::Operator,
            key: [0; 32],
        },
        recording: None,
        event,
    };
    // Preamble 7 bytes, kind, time 8, role 1, actor 32, has_recording 1.
    const FIELDS: usize = 7 + 1 + 8 + 1 + 32 + 1;
    let str_of = |s: &str| {
        let mut v = (s.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(s.as_bytes());
        v
    };
    let cases = [
        (
            Event::RequesterAdded {
                person_key: [3; 32],
                name: "Erika".into(),
                group_id: GroupId([4; 16]),
            },
            13,
            "requester-added",
            [&[3u8; 32][..], &str_of("Erika"), &[4; 16]].concat(),
        ),
        (
            Event::AuditorAdded {
                person_key: [5; 32],
                name: "Dana".into(),
            },
            14,
            "auditor-added",
            [&[5u8; 32][..], &str_of("Dana")].concat(),
        ),
        (
            Event::PolicyInEffect {
                policy: "p=1".into(),
            },
            15,
            "policy-in-effect",
            str_of("p=1"),
        ),
        (
            Event::EpochCreated {
                epoch_id: EpochId([6; 16]),
                retention_class: "c".into(),
                not_before: 1,
                not_after: 2,
            },
            16,
            "epoch-created",
            [
                &[6u8; 16][..],
                &str_of("c"),
                &1i64.to_be_bytes(),
                &2i64.to_be_bytes(),
            ]
            .concat(),
        ),
    ];
    for (event, tag, kind, fields) in cases {
        assert_eq!(event.kind(), kind);
        let e = entry(event);
        let b = e.to_bytes().unwrap();
        assert_eq!(b[7], tag, "{kind}");
        assert_eq!(&b[FIELDS..], &fields[..], "{kind}");
        assert_eq!(LogEntry::from_bytes(&b).unwrap(), e);
        assert!(e.to_string().starts_with(kind), "{e}");
    }
}

#[test]
fn oversized_entries_are_refused_on_both_sides() {
    let e = LogEntry {
        time_ms: 0,
        actor: Actor {
            role: Role::Person,
            key: [0; 32],
        },
        recording: None,
        event: Event::AccessRequested {
            request: vec![0; MAX_ENTRY_LEN],
        },
    };
    assert!(e.to_bytes().is_err());
    assert!(LogEntry::from_bytes(&vec![0; MAX_ENTRY_LEN + 1]).is_err());
}
