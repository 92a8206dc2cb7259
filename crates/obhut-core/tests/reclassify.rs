//! The reclassification approval (docs/format.md §12.2): its vector in
//! docs/vectors/reclassify.json (`OBHUT_WRITE_VECTORS=1` rewrites it),
//! every flipped byte refused, and the checks against the group.

use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::group::GroupDescriptor;
use obhut_core::identity::SignKey;
use obhut_core::ids::GroupId;
use obhut_core::reclassify::{Reclassification, ReclassifyApproval};
use obhut_core::secret::Secret32;

fn content() -> Reclassification {
    Reclassification {
        group_id: GroupId([0x22; 16]),
        device_key: [0x33; 32],
        from_class: "cctv".into(),
        to_class: "evidence".into(),
        not_after: 1_790_086_400_000,
    }
}

#[test]
fn reclassify_approval_vector() {
    let key = SignKey::from_seed(&Secret32::new([0x44; 32]));
    let a = ReclassifyApproval::sign(content(), 2, &key).unwrap();
    let bytes = a.to_bytes().unwrap();
    let entry = LogEntry {
        time_ms: 1_790_000_000_000,
        actor: Actor {
            role: Role::Operator,
            key: [0; 32],
        },
        recording: None,
        event: Event::DeviceReclassified {
            device_key: [0x33; 32],
            from_class: "cctv".into(),
            to_class: "evidence".into(),
            approvals: vec![bytes.clone()],
        },
    }
    .to_bytes()
    .unwrap();
    let json = serde_json::json!({
        "description": "format.md §12.2 reclassification approval by custodian 2 (seed 0x44 * 32), and the device-reclassified entry (kind 18) embedding it",
        "custodian_seed": hex::encode([0x44u8; 32]),
        "approval": hex::encode(&bytes),
        "entry": hex::encode(&entry),
    });
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors/reclassify.json");
    if std::env::var("OBHUT_WRITE_VECTORS").as_deref() == Ok("1") {
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap() + "\n").unwrap();
    }
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored, json, "docs/vectors/reclassify.json is stale");
    assert_eq!(ReclassifyApproval::from_bytes(&bytes).unwrap(), a);
    assert!(matches!(
        LogEntry::from_bytes(&entry).unwrap().event,
        Event::DeviceReclassified { .. }
    ));
    for i in 0..bytes.len() {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        assert!(ReclassifyApproval::from_bytes(&t).is_err(), "byte {i}");
    }
}

#[test]
fn an_approval_counts_only_from_the_groups_custodian_for_that_change() {
    use obhut_core::rng::os_rng;
    let custodians: Vec<_> = (0..3)
        .map(|i| obhut_core::identity::PersonSecret::generate(&format!("c{i}"), &mut os_rng()))
        .collect();
    let publics: Vec<_> = custodians.iter().map(|c| c.public()).collect();
    let (descriptor, _shares) =
        obhut_core::group::deal("g", 2, 3, &publics, &mut os_rng()).unwrap();
    let group: &GroupDescriptor = &descriptor;
    let want = Reclassification {
        group_id: group.group_id(),
        ..content()
    };
    let a = ReclassifyApproval::sign(want.clone(), 1, &custodians[0].sign).unwrap();
    assert!(a.check(group, &want, 0).is_ok());
    // Expired, another change, another group, another custodian's index.
    assert!(a.check(group, &want, want.not_after).is_err());
    let other = Reclassification {
        to_class: "bodycam".into(),
        ..want.clone()
    };
    assert!(a.check(group, &other, 0).is_err());
    let elsewhere = ReclassifyApproval::sign(content(), 1, &custodians[0].sign).unwrap();
    assert!(elsewhere.check(group, &content(), 0).is_err());
    let forged = ReclassifyApproval::sign(want.clone(), 2, &custodians[0].sign).unwrap();
    assert!(forged.check(group, &want, 0).is_err());
}
