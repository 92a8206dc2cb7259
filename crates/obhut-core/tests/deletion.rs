//! The deletion receipt (docs/format.md §12.1): its vector in
//! docs/vectors/deletion.json (`OBHUT_WRITE_VECTORS=1` rewrites it), and
//! every flipped byte refused.

use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::deletion::DeletionReceipt;
use obhut_core::identity::SignKey;
use obhut_core::ids::EpochId;
use obhut_core::secret::Secret32;

fn vector() -> (SignKey, Vec<u8>) {
    let key = SignKey::from_seed(&Secret32::new([0x42; 32]));
    let entry = LogEntry {
        time_ms: 1_790_000_000_000,
        actor: Actor {
            role: Role::Vault,
            key: key.verify_key().to_bytes(),
        },
        recording: None,
        event: Event::EpochDestroyed {
            epoch_id: EpochId([0x11; 16]),
            retention_class: "cctv".into(),
            not_before: 1_789_740_800_000,
            not_after: 1_789_744_400_000,
            expired_ms: 1_790_003_600_000,
            segments: 3,
            key_destroyed: true,
        },
    };
    (key, entry.to_bytes().unwrap())
}

#[test]
fn deletion_receipt_vector() {
    let (key, entry) = vector();
    let receipt = DeletionReceipt::sign(&key, &entry).unwrap();
    let bytes = receipt.to_bytes();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors/deletion.json");
    let json = serde_json::json!({
        "description": "format.md §12.1 deletion receipt; vault seed = 0x42 * 32",
        "vault_seed": hex::encode([0x42u8; 32]),
        "vault_key": hex::encode(key.verify_key().to_bytes()),
        "entry": hex::encode(&entry),
        "leaf_hash": hex::encode(receipt.leaf_hash()),
        "receipt": hex::encode(&bytes),
    });
    if std::env::var("OBHUT_WRITE_VECTORS").as_deref() == Ok("1") {
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap() + "\n").unwrap();
    }
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored, json, "docs/vectors/deletion.json is stale");
    let back = DeletionReceipt::from_bytes(&bytes).unwrap();
    assert_eq!(back, receipt);
    assert!(matches!(
        back.log_entry().unwrap().event,
        Event::EpochDestroyed { segments: 3, .. }
    ));
}

#[test]
fn a_flipped_byte_or_another_entry_kind_is_refused() {
    let (key, entry) = vector();
    let bytes = DeletionReceipt::sign(&key, &entry).unwrap().to_bytes();
    for i in 0..bytes.len() {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        assert!(DeletionReceipt::from_bytes(&t).is_err(), "byte {i}");
    }
    assert!(DeletionReceipt::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    let other = LogEntry {
        time_ms: 1,
        actor: Actor {
            role: Role::Vault,
            key: [0; 32],
        },
        recording: None,
        event: Event::PolicyInEffect { policy: "x".into() },
    };
    assert!(DeletionReceipt::sign(&key, &other.to_bytes().unwrap()).is_err());
}
