//! The legal-hold approval (docs/format.md §12.3): its vector in
//! docs/vectors/hold.json (`OBHUT_WRITE_VECTORS=1` rewrites it), every
//! flipped byte refused, and the checks against the group.

use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::group::GroupDescriptor;
use obhut_core::hold::{HoldAction, HoldApproval, HoldTerms};
use obhut_core::identity::SignKey;
use obhut_core::ids::GroupId;
use obhut_core::secret::Secret32;

const NOT_AFTER: i64 = 1_790_086_400_000;

fn terms() -> HoldTerms {
    HoldTerms {
        group_id: GroupId([0x22; 16]),
        case: "2026-K-0042".into(),
        device_key: [0x33; 32],
        from_ms: 1_790_000_000_000,
        to_ms: 1_790_003_600_000,
    }
}

fn entry(event: Event) -> Vec<u8> {
    LogEntry {
        time_ms: 1_790_000_000_000,
        actor: Actor {
            role: Role::Operator,
            key: [0; 32],
        },
        recording: None,
        event,
    }
    .to_bytes()
    .unwrap()
}

#[test]
fn hold_approval_vector() {
    let key = SignKey::from_seed(&Secret32::new([0x45; 32]));
    let place = HoldApproval::sign(HoldAction::Place, terms(), NOT_AFTER, 2, &key).unwrap();
    let release = HoldApproval::sign(HoldAction::Release, terms(), NOT_AFTER, 2, &key).unwrap();
    let (pb, rb) = (place.to_bytes().unwrap(), release.to_bytes().unwrap());
    let t = terms();
    let placed = entry(Event::HoldPlaced {
        hold_id: t.hold_id(),
        case: t.case.clone(),
        device_key: t.device_key,
        from_ms: t.from_ms,
        to_ms: t.to_ms,
        approvals: vec![pb.clone()],
    });
    let released = entry(Event::HoldReleased {
        hold_id: t.hold_id(),
        case: t.case.clone(),
        approvals: vec![rb.clone()],
    });
    let json = serde_json::json!({
        "description": "format.md §12.3 legal-hold approvals (place, release) by custodian 2 (seed 0x45 * 32), the hold id of their terms, and the hold-placed (19) and hold-released (20) entries embedding them",
        "custodian_seed": hex::encode([0x45u8; 32]),
        "hold_id": hex::encode(t.hold_id()),
        "place": hex::encode(&pb),
        "release": hex::encode(&rb),
        "hold_placed_entry": hex::encode(&placed),
        "hold_released_entry": hex::encode(&released),
    });
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors/hold.json");
    if std::env::var("OBHUT_WRITE_VECTORS").as_deref() == Ok("1") {
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap() + "\n").unwrap();
    }
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored, json, "docs/vectors/hold.json is stale");
    assert_eq!(HoldApproval::from_bytes(&pb).unwrap(), place);
    assert_eq!(HoldApproval::from_bytes(&rb).unwrap(), release);
    assert!(matches!(
        LogEntry::from_bytes(&placed).unwrap().event,
        Event::HoldPlaced { .. }
    ));
    assert!(matches!(
        LogEntry::from_bytes(&released).unwrap().event,
        Event::HoldReleased { .. }
    ));
    for i in 0..pb.len() {
        let mut t = pb.clone();
        t[i] ^= 0x01;
        assert!(HoldApproval::from_bytes(&t).is_err(), "byte {i}");
    }
}

#[test]
fn an_approval_counts_only_from_the_groups_custodian_for_that_hold_and_action() {
    use obhut_core::rng::os_rng;
    let custodians: Vec<_> = (0..3)
        .map(|i| obhut_core::identity::PersonSecret::generate(&format!("c{i}"), &mut os_rng()))
        .collect();
    let publics: Vec<_> = custodians.iter().map(|c| c.public()).collect();
    let (descriptor, _shares) =
        obhut_core::group::deal("g", 2, 3, &publics, &mut os_rng()).unwrap();
    let group: &GroupDescriptor = &descriptor;
    let want = HoldTerms {
        group_id: group.group_id(),
        ..terms()
    };
    let sign = |t: HoldTerms, i: u16, signer: usize| {
        HoldApproval::sign(HoldAction::Place, t, NOT_AFTER, i, &custodians[signer].sign).unwrap()
    };
    let a = sign(want.clone(), 1, 0);
    assert!(a.check(group, HoldAction::Place, &want, 0).is_ok());
    // Expired, the other action, another window, another group, another
    // custodian's index.
    assert!(a.check(group, HoldAction::Place, &want, NOT_AFTER).is_err());
    assert!(a.check(group, HoldAction::Release, &want, 0).is_err());
    let wider = HoldTerms {
        to_ms: want.to_ms + 1,
        ..want.clone()
    };
    assert!(a.check(group, HoldAction::Place, &wider, 0).is_err());
    let elsewhere = sign(terms(), 1, 0);
    assert!(
        elsewhere
            .check(group, HoldAction::Place, &terms(), 0)
            .is_err()
    );
    let forged = sign(want.clone(), 2, 0);
    assert!(forged.check(group, HoldAction::Place, &want, 0).is_err());
    // A window that ends before it starts, or no case: not even signed.
    let custodian = &custodians[0].sign;
    let backwards = HoldTerms {
        from_ms: want.to_ms,
        ..want.clone()
    };
    assert!(HoldApproval::sign(HoldAction::Place, backwards, NOT_AFTER, 1, custodian).is_err());
    let nameless = HoldTerms {
        case: String::new(),
        ..want
    };
    assert!(HoldApproval::sign(HoldAction::Place, nameless, NOT_AFTER, 1, custodian).is_err());
}
