//! Issue 16, hostile clients: the real server on a loopback listener
//! over SQLite and a blob directory, sent what a careless or hostile
//! client sends: signed times at the ends of i64, numbers past i64 in
//! paths, requests axum refuses before a handler runs. Every answer is a
//! JSON error with a kind, and nothing replays.

use std::net::SocketAddr;
use std::sync::Arc;

use obhut_core::audit::Event;
use obhut_core::identity::SignKey;
use obhut_core::rng::os_rng;
use obhut_core::vault::body_sha256;
use obhut_server::ManualClock;
use obhut_server::testkit::{
    HttpResponse, InProcess, custody_group, http, operator_entry, signed_headers_with_nonce,
};
use obhut_store::IndexStore;

const NOW: i64 = 1_790_000_000_000;

struct World {
    dir: tempfile::TempDir,
    vault: Option<InProcess>,
    clock: Arc<ManualClock>,
    reader: SignKey,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(NOW));
        let vault = InProcess::start(
            &dir.path().join("data"),
            &dir.path().join("keys"),
            clock.clone(),
            1 << 20,
        );
        let reader = SignKey::generate(&mut os_rng());
        let group = custody_group();
        let index = &vault.app.index;
        vault.block_on(async {
            obhut_server::testkit::create_token(index, &group, "c", NOW).await;
            let (key, group_id) = (reader.verify_key().to_bytes(), group.group_id());
            let entry = operator_entry(
                NOW,
                Event::ReaderAdded {
                    person_key: key,
                    group_id,
                },
            );
            index.add_reader(key, group_id, NOW, &entry).await.unwrap();
        });
        World {
            dir,
            vault: Some(vault),
            clock,
            reader,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.vault.as_ref().expect("the vault runs").addr
    }

    /// Stop the vault (its memory is gone) and start it again at `now_ms`
    /// over the same data.
    fn restart(&mut self, now_ms: i64) {
        self.vault = None;
        self.clock.set(now_ms);
        self.vault = Some(InProcess::start(
            &self.dir.path().join("data"),
            &self.dir.path().join("keys"),
            self.clock.clone(),
            1 << 20,
        ));
    }

    /// `GET path` as the reader, signed at `time_ms` with `nonce`.
    fn read_at(&self, path: &str, time_ms: i64, nonce: &str) -> HttpResponse {
        let ids = self.vault.as_ref().expect("the vault runs").ids();
        let h = signed_headers_with_nonce(
            &ids,
            &self.reader,
            true,
            "GET",
            path,
            time_ms,
            nonce,
            &body_sha256(&[]),
        );
        http(self.addr(), "GET", path, &h, &[]).expect("an answer")
    }
}

/// Issue 16, item 3: a signed `Obhut-Time` near −2⁶³ overflowed the
/// window check (`abs` of i64::MIN); in a release build the request
/// passed and its nonce expired at once, so it replayed forever.
#[test]
fn issue16_signed_times_at_the_ends_of_i64_are_stale_every_time() {
    let w = World::new();
    let nonce = "0123456789abcdef0123456789abcdef";
    for t in [
        i64::MIN,
        i64::MIN + 1,
        i64::MIN + 300_000,
        -1,
        0,
        NOW - 300_001,
        NOW + 300_001,
        i64::MAX - 300_000,
        i64::MAX,
    ] {
        for attempt in 0..3 {
            let r = w.read_at("/v1/recordings", t, nonce);
            r.assert_error(401, "stale-time", &format!("time {t}, attempt {attempt}"));
        }
    }
    // The window's edges are inside it, and a nonce is still used once.
    // (Reads signed before the vault started are refused: replay.rs.)
    let now = NOW + 300_000;
    w.clock.set(now);
    for (i, t) in [now - 300_000, now, now + 300_000].into_iter().enumerate() {
        let nonce = format!("{i:032x}");
        assert_eq!(w.read_at("/v1/recordings", t, &nonce).status, 200, "{t}");
        let again = w.read_at("/v1/recordings", t, &nonce);
        again.assert_error(409, "replayed-nonce", &format!("replay at {t}"));
    }
}

/// Issue 16, item 2: reads are remembered in memory, not on disk; a
/// restart forgets the memory but must not let a read replay. A read
/// signed before the restart is stale; one signed ahead of the clock was
/// recorded durably and stays a replay; a clock set back across a restart
/// does not lower the floor (replay.rs).
#[test]
fn a_restart_does_not_reopen_the_replay_window() {
    let mut w = World::new();
    let path = "/v1/recordings";
    let (now_nonce, ahead_nonce) = ("a".repeat(32), "b".repeat(32));
    assert_eq!(w.read_at(path, NOW, &now_nonce).status, 200);
    assert_eq!(w.read_at(path, NOW + 200_000, &ahead_nonce).status, 200);
    let again = w.read_at(path, NOW, &now_nonce);
    again.assert_error(409, "replayed-nonce", "a replay before the restart");

    w.restart(NOW + 10_000);
    let r = w.read_at(path, NOW, &now_nonce);
    r.assert_error(401, "stale-time", "a read signed before the restart");
    let r = w.read_at(path, NOW + 200_000, &ahead_nonce);
    r.assert_error(409, "replayed-nonce", "a read signed ahead, replayed");
    w.clock.set(NOW + 250_000);
    let r = w.read_at(path, NOW + 200_000, &ahead_nonce);
    r.assert_error(409, "replayed-nonce", "the same, once the clock passed it");

    // The clock goes back 70 s across a restart: the floor does not.
    w.restart(NOW - 60_000);
    let r = w.read_at(path, NOW, "c".repeat(32).as_str());
    r.assert_error(401, "stale-time", "signed before the recorded start");
    assert_eq!(w.read_at(path, NOW + 10_000, &"d".repeat(32)).status, 200);
}

/// Issue 16, item 4: a checkpoint size past i64::MAX answered 500 and
/// logged "stored data is corrupt"; axum's own refusals (a path parameter
/// that does not parse, a bad query, a body over the limit, a method the
/// route lacks) answered plain text or nothing. Every error is
/// now the API's JSON with a kind, and none of these is a 500.
#[test]
fn issue16_every_refusal_is_json_with_a_kind() {
    let w = World::new();
    let rid = "00112233445566778899aabbccddeeff";
    let big = "9223372036854775808"; // i64::MAX + 1
    let cases: &[(&str, String, Vec<u8>, u16, &str)] = &[
        (
            "GET",
            format!("/v1/log/checkpoints/{big}"),
            vec![],
            404,
            "not-found",
        ),
        (
            "GET",
            format!("/v1/log/checkpoints/{}", u64::MAX),
            vec![],
            404,
            "not-found",
        ),
        (
            "GET",
            "/v1/log/checkpoints/-1".into(),
            vec![],
            400,
            "bad-request",
        ),
        (
            "GET",
            "/v1/log/checkpoints/x".into(),
            vec![],
            400,
            "bad-request",
        ),
        (
            "GET",
            format!("/v1/log/checkpoints/{big}0"),
            vec![],
            400,
            "bad-request",
        ),
        (
            "GET",
            format!("/v1/receipts/{rid}/x"),
            vec![],
            400,
            "bad-request",
        ),
        (
            "GET",
            format!("/v1/receipts/{rid}/4294967296"),
            vec![],
            400,
            "bad-request",
        ),
        (
            "GET",
            "/v1/log/proof/inclusion?index=x".into(),
            vec![],
            400,
            "bad-request",
        ),
        (
            "GET",
            "/v1/log/entries?from=-1".into(),
            vec![],
            400,
            "bad-request",
        ),
        (
            "DELETE",
            "/v1/recordings".into(),
            vec![],
            405,
            "method-not-allowed",
        ),
        (
            "PUT",
            "/v1/log/checkpoint".into(),
            vec![],
            405,
            "method-not-allowed",
        ),
        ("GET", "/v1/nothing-here".into(), vec![], 404, "not-found"),
        (
            "POST",
            "/v1/enrol".into(),
            vec![b' '; 200_000],
            413,
            "too-large",
        ),
    ];
    for (method, path, body, status, kind) in cases {
        let r = http(w.addr(), method, path, &[], body).expect("an answer");
        r.assert_error(*status, kind, &format!("{method} {path}"));
    }
    // Proofs and tiles past i64::MAX: refused, never a 500.
    for path in [
        format!("/v1/log/proof/inclusion?index={big}"),
        format!("/v1/log/proof/inclusion?index=0&size={big}"),
        format!("/v1/log/proof/consistency?old=1&size={big}"),
        format!("/v1/log/proof/consistency?old={big}"),
        format!("/v1/log/tile/0/x{big}"),
        format!("/v1/log/tile/0/{}", u64::MAX),
        format!("/v1/log/tile/entries/{big}"),
    ] {
        let r = http(w.addr(), "GET", &path, &[], &[]).expect("an answer");
        assert!(r.status >= 400 && r.status < 500, "{path}: {}", r.status);
        assert!(!r.kind().is_empty(), "{path}: a kind");
    }
}
