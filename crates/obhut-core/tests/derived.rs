//! Derived artifacts and consent (docs/format.md §13) beyond the vectors:
//! every flipped byte of a record or statement refused, the consent rules
//! against a real 2-of-3 group, the purposes that call for consent.

use obhut_core::artifact::{
    ArtifactContent, ArtifactKind, ArtifactRecord, Cascade, CascadeCause, SignerRole, Source,
};
use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::consent::{
    self, Consent, ConsentAction, ConsentStatement, PURPOSE_PRODUCT_IMPROVEMENT, PURPOSE_TRAINING,
};
use obhut_core::identity::PersonSecret;
use obhut_core::ids::{GroupId, RecordingId};
use obhut_core::rng::os_rng;

fn clip() -> ArtifactContent {
    ArtifactContent {
        artifact_id: RecordingId([1; 16]),
        group_id: GroupId([2; 16]),
        kind: ArtifactKind::Clip,
        name: "clip".into(),
        purpose: "criminal investigation".into(),
        legal_basis: "court order".into(),
        consent_id: None,
        created_ms: 5,
        sources: vec![Source::Segments {
            recording_id: RecordingId([3; 16]),
            first: 0,
            end: 2,
        }],
    }
}

#[test]
fn every_flipped_byte_of_a_record_or_statement_is_refused() {
    let p = PersonSecret::generate("tool operator", &mut os_rng());
    let rec = ArtifactRecord::sign(clip(), SignerRole::Person, &p.sign).unwrap();
    let bytes = rec.to_bytes().unwrap();
    assert_eq!(ArtifactRecord::from_bytes(&bytes).unwrap(), rec);
    for i in 0..bytes.len() {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        assert!(ArtifactRecord::from_bytes(&t).is_err(), "byte {i}");
    }
    let s = ConsentStatement::sign(
        ConsentAction::Withdraw {
            consent_id: [4; 16],
            group_id: GroupId([2; 16]),
            time_ms: 9,
        },
        1,
        &p.sign,
    )
    .unwrap();
    let bytes = s.to_bytes().unwrap();
    assert_eq!(ConsentStatement::from_bytes(&bytes).unwrap(), s);
    for i in 0..bytes.len() {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        assert!(ConsentStatement::from_bytes(&t).is_err(), "byte {i}");
    }
}

#[test]
fn a_record_that_breaks_the_rules_is_not_signed() {
    let p = PersonSecret::generate("tool operator", &mut os_rng());
    let bad = [
        ArtifactContent {
            kind: ArtifactKind::Model,
            ..clip()
        },
        ArtifactContent {
            kind: ArtifactKind::TrainingSet,
            ..clip()
        },
        ArtifactContent {
            sources: vec![],
            ..clip()
        },
        ArtifactContent {
            name: String::new(),
            ..clip()
        },
        ArtifactContent {
            sources: vec![Source::Artifact {
                artifact_id: RecordingId([1; 16]),
            }],
            ..clip()
        },
    ];
    for c in bad {
        assert!(ArtifactRecord::sign(c, SignerRole::Person, &p.sign).is_err());
    }
}

#[test]
fn consent_needs_k_custodians_of_the_group_and_any_one_withdraws() {
    let custodians: Vec<_> = (0..3)
        .map(|i| PersonSecret::generate(&format!("c{i}"), &mut os_rng()))
        .collect();
    let publics: Vec<_> = custodians.iter().map(|c| c.public()).collect();
    let (descriptor, _) = obhut_core::group::deal("home", 2, 3, &publics, &mut os_rng()).unwrap();
    let c = Consent {
        consent_id: [7; 16],
        group_id: descriptor.group_id(),
        purposes: PURPOSE_TRAINING,
        not_before: 0,
        not_after: 100,
    };
    let grant = |i: u16, key: &PersonSecret, c: &Consent| {
        ConsentStatement::sign(ConsentAction::Grant(c.clone()), i, &key.sign).unwrap()
    };
    let g1 = grant(1, &custodians[0], &c);
    let g2 = grant(2, &custodians[1], &c);
    assert_eq!(
        consent::recorded_consent(&descriptor, &[g1.clone(), g2.clone()], 50).unwrap(),
        c
    );
    // One custodian twice is one custodian.
    assert!(consent::recorded_consent(&descriptor, &[g1.clone(), g1.clone()], 50).is_err());
    // A stranger (an operator with a key of their own) does not count.
    let op = PersonSecret::generate("operator", &mut os_rng());
    assert!(consent::recorded_consent(&descriptor, &[g1.clone(), grant(2, &op, &c)], 50).is_err());
    // Grants of different consents do not add up.
    let wider = Consent {
        purposes: PURPOSE_TRAINING | PURPOSE_PRODUCT_IMPROVEMENT,
        ..c.clone()
    };
    assert!(
        consent::recorded_consent(
            &descriptor,
            &[g1.clone(), grant(2, &custodians[1], &wider)],
            50
        )
        .is_err()
    );
    assert!(consent::recorded_consent(&descriptor, &[g1, g2], 100).is_err());
    let w = ConsentStatement::sign(
        ConsentAction::Withdraw {
            consent_id: [7; 16],
            group_id: descriptor.group_id(),
            time_ms: 60,
        },
        3,
        &custodians[2].sign,
    )
    .unwrap();
    assert!(w.check_signer(&descriptor).is_ok());
    assert!(c.covers(PURPOSE_TRAINING, 50));
    assert!(!c.covers(PURPOSE_PRODUCT_IMPROVEMENT, 50));
}

#[test]
fn the_purposes_that_call_for_consent() {
    for p in [
        "training",
        "Model training",
        "dataset curation",
        "annotation",
    ] {
        assert_eq!(consent::review_purpose(p), Some(PURPOSE_TRAINING), "{p}");
    }
    for p in [
        "product-improvement",
        "Quality review",
        "improving the product",
    ] {
        assert_eq!(
            consent::review_purpose(p),
            Some(PURPOSE_PRODUCT_IMPROVEMENT),
            "{p}"
        );
    }
    for p in obhut_core_default_purposes() {
        assert_eq!(consent::review_purpose(p), None, "{p}");
    }
}

fn obhut_core_default_purposes() -> [&'static str; 6] {
    [
        "criminal investigation",
        "prosecution",
        "internal investigation",
        "data subject request",
        "court order",
        "incident review",
    ]
}

#[test]
fn a_cascade_entry_round_trips() {
    let e = LogEntry {
        time_ms: 1,
        actor: Actor {
            role: Role::Vault,
            key: [0; 32],
        },
        recording: None,
        event: Event::ArtifactsCascaded(Cascade {
            cause: CascadeCause::ConsentWithdrawn {
                consent_id: [3; 16],
            },
            deleted: vec![RecordingId([1; 16]), RecordingId([2; 16])],
            tainted: vec![],
        }),
    };
    let bytes = e.to_bytes().unwrap();
    let back = LogEntry::from_bytes(&bytes).unwrap();
    assert_eq!(back, e);
    assert!(
        back.to_string()
            .contains("2 artifacts deleted, 0 models tainted")
    );
}
