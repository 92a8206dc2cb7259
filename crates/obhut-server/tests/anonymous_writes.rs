//! Issue 16: anonymous requests wrote state. `GET /v1/epochs?at=` made an
//! epoch (key file and row, no log entry) for whatever time an anonymous
//! caller named, and a bogus `POST /v1/enrol` wrote a nonce row. Now
//! nothing unauthenticated writes durably: epochs come from the vault's
//! schedule (logged as `epoch-created`) or from an enrolled device's
//! signed request, and enrolment checks its token before writing.

use std::path::Path;
use std::sync::Arc;

use obhut_core::audit::{Event, LogEntry, Role};
use obhut_core::identity::SignKey;
use obhut_core::rng::os_rng;
use obhut_core::vault::body_sha256;
use obhut_server::ManualClock;
use obhut_server::testkit::{
    HttpResponse, InProcess, VaultIds, create_token, custody_group, http, signed_headers,
    signed_headers_with_nonce,
};
use obhut_store::LogStore;

const NOW: i64 = 1_790_000_000_000;
const DAY: i64 = 86_400_000;
const CLASS: &str = "bodycam-30d";

struct World {
    _dir: tempfile::TempDir,
    keys: std::path::PathBuf,
    vault: InProcess,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let clock = Arc::new(ManualClock::new(NOW));
    let vault = InProcess::start(&dir.path().join("data"), &keys, clock, 1 << 20);
    World {
        _dir: dir,
        keys,
        vault,
    }
}

fn enrol_body(token: &str, device: &SignKey) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "token": token,
        "device_key": hex::encode(device.verify_key().to_bytes()),
    }))
    .unwrap()
}

fn enrol(w: &World, device: &SignKey, token: &str, nonce: &str) -> HttpResponse {
    let body = enrol_body(token, device);
    let h = signed_headers_with_nonce(
        &VaultIds::ENROL,
        device,
        false,
        "POST",
        "/v1/enrol",
        NOW,
        nonce,
        &body_sha256(&body),
    );
    http(w.vault.addr, "POST", "/v1/enrol", &h, &body).unwrap()
}

fn epoch_files(keys: &Path) -> usize {
    std::fs::read_dir(keys.join("epochs")).unwrap().count()
}

fn entries(w: &World) -> Vec<LogEntry> {
    w.vault
        .block_on(w.vault.app.index.log_entries(0, 1000))
        .unwrap()
        .into_iter()
        .map(|r| LogEntry::from_bytes(&r.body.unwrap()).unwrap())
        .collect()
}

fn sequenced(w: &World) -> u64 {
    w.vault.block_on(w.vault.app.index.log_sequenced()).unwrap()
}

#[test]
fn anonymous_epoch_requests_write_nothing() {
    let w = world();
    let token = w.vault.block_on(create_token(
        &w.vault.app.index,
        &custody_group(),
        CLASS,
        NOW,
    ));
    let device = SignKey::generate(&mut os_rng());
    assert_eq!(enrol(&w, &device, &token, &"ab".repeat(16)).status, 200);

    // The current and next epochs exist, each logged as the vault's.
    let made: Vec<LogEntry> = entries(&w)
        .into_iter()
        .filter(|e| matches!(e.event, Event::EpochCreated { .. }))
        .collect();
    assert_eq!(made.len(), 2, "{made:?}");
    assert!(made.iter().all(|e| e.actor.role == Role::Vault));
    assert_eq!(epoch_files(&w.keys), 2);

    // 68 anonymous calls for earlier capture times: refused, nothing made.
    let (files, logged) = (epoch_files(&w.keys), sequenced(&w));
    for k in 1..=68 {
        let at = NOW - k * 10 * 3_600_000;
        let r = http(
            w.vault.addr,
            "GET",
            &format!("/v1/epochs?class={CLASS}&at={at}"),
            &[],
            &[],
        )
        .unwrap();
        // Issue 18: `at` needs a device's signature, for any period.
        assert_eq!(r.status, 401, "at {at}: {:?}", r.json());
        assert_eq!(r.kind(), "bad-signature");
    }
    assert_eq!(epoch_files(&w.keys), files, "no key file written");
    assert_eq!(sequenced(&w), logged, "nothing logged");
    // Without `at`: the stored current and next epochs, nothing written.
    let r = http(
        w.vault.addr,
        "GET",
        &format!("/v1/epochs?class={CLASS}"),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(epoch_files(&w.keys), files);

    // The enrolled device, asking with a signed request, gets the epoch
    // of its footage from three days ago: made, and logged as its doing.
    let path = format!("/v1/epochs?class={CLASS}&at={}", NOW - 3 * DAY);
    let h = signed_headers(
        &w.vault.ids(),
        &device,
        false,
        "GET",
        &path,
        NOW,
        &body_sha256(&[]),
    );
    let r = http(w.vault.addr, "GET", &path, &h, &[]).unwrap();
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert!(r.json()["covering"]["epoch_id"].is_string());
    assert_eq!(epoch_files(&w.keys), files + 1);
    let last = entries(&w).pop().unwrap();
    assert!(
        matches!(last.event, Event::EpochCreated { not_before, .. } if not_before == (NOW - 3 * DAY).div_euclid(DAY) * DAY),
        "{last:?}"
    );
    assert_eq!(last.actor.role, Role::Device);
    assert_eq!(last.actor.key, device.verify_key().to_bytes());
}

#[test]
fn a_bogus_enrolment_writes_no_nonce() {
    let w = world();
    let device = SignKey::generate(&mut os_rng());
    let nonce = "cd".repeat(16);
    // Well-formed tokens no vault issued, all with one nonce: refused, and
    // none of them keeps the nonce.
    for i in 0..20u8 {
        let bogus = format!("obhut-enrol-{}", hex::encode([i; 32]));
        let r = enrol(&w, &device, &bogus, &nonce);
        assert_eq!(r.status, 403, "{:?}", r.json());
        assert_eq!(r.kind(), "invalid-token");
    }
    // So the same nonce is still fresh for the real enrolment…
    let token = w.vault.block_on(create_token(
        &w.vault.app.index,
        &custody_group(),
        CLASS,
        NOW,
    ));
    let r = enrol(&w, &device, &token, &nonce);
    assert_eq!(r.status, 200, "{:?}", r.json());
    // … which uses it: its replay is refused.
    let r = enrol(&w, &device, &token, &nonce);
    assert_eq!(r.status, 409, "{:?}", r.json());
    assert_eq!(r.kind(), "replayed-nonce");
}
