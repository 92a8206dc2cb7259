//! Issue 16: signatures are bound to one vault. Two vaults on loopback
//! know the same device and the same reader; a request signed for vault A
//! and replayed to vault B (within the time window, with an unused nonce)
//! is refused there, and accepted by A (docs/vault.md §2).

use std::sync::Arc;

use obhut_core::identity::SignKey;
use obhut_core::rng::os_rng;
use obhut_core::vault::body_sha256;
use obhut_server::ManualClock;
use obhut_server::testkit::{
    HttpResponse, InProcess, VaultIds, create_token, custody_group, http, operator_entry,
    signed_headers,
};
use obhut_store::IndexStore;

const NOW: i64 = 1_790_000_000_000;
const CLASS: &str = "bodycam-30d";

fn enrol(vault: &InProcess, device: &SignKey, token: &str) {
    let body = serde_json::to_vec(&serde_json::json!({
        "token": token,
        "device_key": hex::encode(device.verify_key().to_bytes()),
    }))
    .unwrap();
    let h = signed_headers(
        &VaultIds::ENROL,
        device,
        false,
        "POST",
        "/v1/enrol",
        NOW,
        &body_sha256(&body),
    );
    let r = http(vault.addr, "POST", "/v1/enrol", &h, &body).unwrap();
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(
        r.json()["vault_key"],
        hex::encode(vault.ids().vault_key),
        "what the device pins is what it signs for"
    );
}

fn send(vault: &InProcess, path: &str, h: &[(String, String)]) -> HttpResponse {
    http(vault.addr, "GET", path, h, &[]).unwrap()
}

#[test]
fn a_request_signed_for_one_vault_is_refused_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let start = |name: &str| {
        InProcess::start(
            &dir.path().join(format!("{name}-data")),
            &dir.path().join(format!("{name}-keys")),
            clock.clone(),
            1 << 20,
        )
    };
    let (a, b) = (start("a"), start("b"));
    assert_ne!(a.ids(), b.ids());
    let group = custody_group();
    let device = SignKey::generate(&mut os_rng());
    let reader = SignKey::generate(&mut os_rng());
    for v in [&a, &b] {
        let token = v.block_on(create_token(&v.app.index, &group, CLASS, NOW));
        enrol(v, &device, &token);
        v.block_on(v.app.index.add_reader(
            reader.verify_key().to_bytes(),
            group.group_id(),
            NOW,
            &operator_entry(
                NOW,
                obhut_core::audit::Event::ReaderAdded {
                    person_key: reader.verify_key().to_bytes(),
                    group_id: group.group_id(),
                },
            ),
        ))
        .unwrap();
    }

    // A device's request for A, replayed to B first (its nonce unused at
    // both), then sent to A.
    let path = "/v1/recordings/00112233445566778899aabbccddeeff/head";
    let h = signed_headers(
        &a.ids(),
        &device,
        false,
        "GET",
        path,
        NOW,
        &body_sha256(&[]),
    );
    let at_b = send(&b, path, &h);
    assert_eq!(at_b.status, 401, "{:?}", at_b.json());
    assert_eq!(at_b.kind(), "bad-signature");
    assert_eq!(send(&a, path, &h).status, 404, "A knows no such recording");

    // A person's request for A (bound to A's log key), replayed to B.
    let path = "/v1/recordings";
    let h = signed_headers(&a.ids(), &reader, true, "GET", path, NOW, &body_sha256(&[]));
    let at_b = send(&b, path, &h);
    assert_eq!(at_b.status, 401, "{:?}", at_b.json());
    assert_eq!(at_b.kind(), "bad-signature");
    assert_eq!(send(&a, path, &h).status, 200);

    // Signed for B, it works at B.
    let h = signed_headers(&b.ids(), &reader, true, "GET", path, NOW, &body_sha256(&[]));
    assert_eq!(send(&b, path, &h).status, 200);
}
