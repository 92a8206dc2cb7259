//! The erasure approval (docs/format.md §12.4): its vector in
//! docs/vectors/erasure.json (`OBHUT_WRITE_VECTORS=1` rewrites it), every
//! flipped byte refused, and the checks against the group.

use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::erasure::{ErasureApproval, ErasureTerms};
use obhut_core::group::GroupDescriptor;
use obhut_core::identity::SignKey;
use obhut_core::ids::{GroupId, RecordingId};
use obhut_core::secret::Secret32;

const NOT_AFTER: i64 = 1_790_086_400_000;

fn terms() -> ErasureTerms {
    ErasureTerms {
        group_id: GroupId([0x22; 16]),
        recording_id: RecordingId([0x66; 16]),
        from_ms: i64::MIN,
        to_ms: i64::MAX,
        reason: "Art. 17 request 2026-0017".into(),
    }
}

#[test]
fn erasure_approval_vector() {
    let key = SignKey::from_seed(&Secret32::new([0x46; 32]));
    let a = ErasureApproval::sign(terms(), NOT_AFTER, 2, &key).unwrap();
    let bytes = a.to_bytes().unwrap();
    let entry = LogEntry {
        time_ms: 1_790_000_000_000,
        actor: Actor {
            role: Role::Vault,
            key: [0x11; 32],
        },
        recording: Some(RecordingId([0x66; 16])),
        event: Event::Erased {
            recording_id: RecordingId([0x66; 16]),
            from_ms: i64::MIN,
            to_ms: i64::MAX,
            segments: 2,
            copies_until_ms: 1_790_000_000_000,
            approvals: vec![bytes.clone()],
        },
    }
    .to_bytes()
    .unwrap();
    let json = serde_json::json!({
        "description": "format.md §12.4 erasure approval of a whole recording by custodian 2 (seed 0x46 * 32), and the erased entry (kind 21) embedding it",
        "custodian_seed": hex::encode([0x46u8; 32]),
        "approval": hex::encode(&bytes),
        "entry": hex::encode(&entry),
    });
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors/erasure.json");
    if std::env::var("OBHUT_WRITE_VECTORS").as_deref() == Ok("1") {
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap() + "\n").unwrap();
    }
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored, json, "docs/vectors/erasure.json is stale");
    assert_eq!(ErasureApproval::from_bytes(&bytes).unwrap(), a);
    assert!(matches!(
        LogEntry::from_bytes(&entry).unwrap().event,
        Event::Erased { .. }
    ));
    for i in 0..bytes.len() {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        assert!(ErasureApproval::from_bytes(&t).is_err(), "byte {i}");
    }
}

#[test]
fn an_approval_counts_only_from_the_groups_custodian_for_that_erasure() {
    use obhut_core::rng::os_rng;
    let custodians: Vec<_> = (0..3)
        .map(|i| obhut_core::identity::PersonSecret::generate(&format!("c{i}"), &mut os_rng()))
        .collect();
    let publics: Vec<_> = custodians.iter().map(|c| c.public()).collect();
    let (descriptor, _shares) =
        obhut_core::group::deal("g", 2, 3, &publics, &mut os_rng()).unwrap();
    let group: &GroupDescriptor = &descriptor;
    let want = ErasureTerms {
        group_id: group.group_id(),
        ..terms()
    };
    let a = ErasureApproval::sign(want.clone(), NOT_AFTER, 1, &custodians[0].sign).unwrap();
    assert!(a.check(group, &want, 0).is_ok());
    assert!(a.check(group, &want, NOT_AFTER).is_err(), "expired");
    let other = ErasureTerms {
        recording_id: RecordingId([0x67; 16]),
        ..want.clone()
    };
    assert!(a.check(group, &other, 0).is_err(), "another recording");
    let forged = ErasureApproval::sign(want.clone(), NOT_AFTER, 2, &custodians[0].sign).unwrap();
    assert!(forged.check(group, &want, 0).is_err(), "another's index");
    let elsewhere = ErasureApproval::sign(terms(), NOT_AFTER, 1, &custodians[0].sign).unwrap();
    assert!(
        elsewhere.check(group, &terms(), 0).is_err(),
        "another group"
    );
    let reasonless = ErasureTerms {
        reason: String::new(),
        ..want
    };
    assert!(ErasureApproval::sign(reasonless, NOT_AFTER, 1, &custodians[0].sign).is_err());
}
