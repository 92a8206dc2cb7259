//! Interop over HTTP: what a running vault serves — its signed checkpoint,
//! its inclusion and consistency proofs and its hash tiles — checked by
//! Cloudflare's `signed_note` and `tlog_tiles` 0.2 (crates.io, ports of
//! Go's sumdb `note` and `tlog`), which no one here wrote.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_server::ManualClock;
use obhut_server::testkit::{InProcess, create_token, http};
use obhut_store::LogStore;
use signed_note::{Note as TheirNote, StandardVerifier, VerifierList};
use tlog_tiles::{Checkpoint as TheirCheckpoint, Hash as TheirHash, check_record, check_tree};

const NOW: i64 = 1_790_000_000_000;

fn proof(addr: std::net::SocketAddr, path: &str) -> Vec<TheirHash> {
    let r = http(addr, "GET", path, &[], &[]).unwrap();
    assert_eq!(r.status, 200, "{path}");
    r.json()["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| TheirHash(B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap()))
        .collect()
}

#[test]
fn an_independent_implementation_verifies_what_the_vault_serves() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let v = InProcess::start(
        &dir.path().join("data"),
        &dir.path().join("keys"),
        clock,
        1 << 20,
    );
    let group = obhut_server::testkit::custody_group();
    // 300 entries (the policy the vault logged at start and 299 changes):
    // a full level-0 tile and a partial one.
    for _ in 0..299 {
        v.block_on(create_token(&v.app.index, &group, "cctv-7d", NOW));
    }
    v.block_on(v.app.log.integrate(&v.app.index, NOW)).unwrap();
    let leaves: Vec<TheirHash> = v
        .block_on(v.app.index.log_entries(0, 1000))
        .unwrap()
        .iter()
        .map(|e| TheirHash(e.leaf_hash))
        .collect();
    assert_eq!(leaves.len(), 300);

    // The checkpoint, verified by their note and checkpoint code with the
    // vkey the vault publishes.
    let key = http(v.addr, "GET", "/v1/log/key", &[], &[]).unwrap().json();
    let verifier = StandardVerifier::new(key["vkey"].as_str().unwrap()).unwrap();
    let body = http(v.addr, "GET", "/v1/log/checkpoint", &[], &[])
        .unwrap()
        .body;
    let note = TheirNote::from_bytes(&body).unwrap();
    let (ok, _) = note
        .verify(&VerifierList::new(vec![Box::new(verifier)]))
        .unwrap();
    assert_eq!(ok.len(), 1);
    let cp = TheirCheckpoint::from_bytes(note.text()).unwrap();
    assert_eq!(
        (cp.origin(), cp.size()),
        (key["origin"].as_str().unwrap(), 300)
    );
    let root = *cp.hash();

    // Their root over the leaf hashes, from the public level-0 tiles.
    let mut tile_leaves = Vec::new();
    for path in ["/v1/log/tile/0/000", "/v1/log/tile/0/001.p/44"] {
        let r = http(v.addr, "GET", path, &[], &[]).unwrap();
        assert_eq!(r.status, 200, "{path}");
        tile_leaves.extend(
            r.body
                .chunks_exact(32)
                .map(|c| TheirHash(c.try_into().unwrap())),
        );
    }
    assert_eq!(tile_leaves, leaves);

    // The vault's proofs, checked by theirs.
    for index in [0u64, 1, 255, 256, 299] {
        let p = proof(
            v.addr,
            &format!("/v1/log/proof/inclusion?index={index}&size=300"),
        );
        check_record(&p, 300, root, index, leaves[index as usize]).unwrap();
    }
    let old_note = http(v.addr, "GET", "/v1/log/checkpoints/300", &[], &[]).unwrap();
    assert_eq!(old_note.body, body);
    // A later checkpoint and a consistency proof between the two.
    for _ in 0..7 {
        v.block_on(create_token(&v.app.index, &group, "cctv-7d", NOW));
    }
    v.block_on(v.app.log.integrate(&v.app.index, NOW)).unwrap();
    let body = http(v.addr, "GET", "/v1/log/checkpoint", &[], &[])
        .unwrap()
        .body;
    let new = TheirCheckpoint::from_bytes(TheirNote::from_bytes(&body).unwrap().text()).unwrap();
    assert_eq!(new.size(), 307);
    let p = proof(v.addr, "/v1/log/proof/consistency?old=300&size=307");
    check_tree(&p, 307, *new.hash(), 300, root).unwrap();
    // A proof for the wrong old root fails with them.
    let mut wrong = root;
    wrong.0[0] ^= 1;
    assert!(check_tree(&p, 307, *new.hash(), 300, wrong).is_err());
}
