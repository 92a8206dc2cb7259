//! Interop with an independent implementation no one here wrote:
//! Cloudflare's `signed_note` and `tlog_tiles` 0.2.0 (crates.io; repository
//! cloudflare/azul; Rust ports of Go's `golang.org/x/mod/sumdb/note` and
//! `sumdb/tlog`). Our checkpoints verify with theirs and theirs with ours;
//! our roots and proofs check with theirs and theirs with ours; tiles
//! coincide.
//!
//! Limits: `signed_note` 0.2.0 has no cosignature (type 0x04) support, so
//! for cosignatures it checks only the note/line/key-ID structure, and the
//! Ed25519 signature is checked with `ed25519-dalek` 2 (not our 3) over the
//! message built here from the tlog-cosignature spec text. Their tile paths
//! are the Go sumdb form `tile/8/<L>/<N>` (with the height), which C2SP
//! tlog-tiles dropped; compared after removing `8/`.

use std::cell::RefCell;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use obhut_log::note::{ALG_COSIGNATURE_V1, ALG_ED25519, VerifierKey, key_id};
use obhut_log::tiles::{TileId, TileSource, new_tiles};
use obhut_log::{
    Checkpoint, CosignatureSigner, Hash, MemoryTree, NoteSigner, SignedCheckpoint, tree,
    verify_consistency, verify_inclusion,
};
use signed_note::{
    Note as TheirNote, StandardSigner, StandardVerifier, Verifier as _, VerifierList,
};
use tlog_tiles::{
    Checkpoint as TheirCheckpoint, Hash as TheirHash, HashReader, Tile as TheirTile, check_record,
    check_tree, prove_record, prove_tree, stored_hashes, tree_hash,
};

const ORIGIN: &str = "obhut.example/vault-3f2a9c";

fn th(h: &Hash) -> TheirHash {
    TheirHash(h.0)
}
fn oh(h: &TheirHash) -> Hash {
    Hash(h.0)
}

/// Their signer key string for our seed (`PRIVATE+KEY+name+id+base64(0x01||seed)`,
/// Go's note format, not a C2SP one).
fn their_signer(name: &str, seed: &[u8; 32]) -> StandardSigner {
    let ours = NoteSigner::from_seed(name, seed).unwrap();
    let raw = [&[ALG_ED25519][..], seed].concat();
    let skey = format!(
        "PRIVATE+KEY+{name}+{:08x}+{}",
        ours.key_id(),
        STANDARD.encode(raw)
    );
    StandardSigner::new(&skey).unwrap()
}

#[test]
fn our_checkpoint_verifies_with_theirs() {
    let mut t = MemoryTree::new();
    for i in 0..1000u32 {
        t.append_entry(&i.to_be_bytes());
    }
    let signer = NoteSigner::from_seed(ORIGIN, &[42; 32]).unwrap();
    let note = Checkpoint::new(ORIGIN, t.size(), t.root())
        .unwrap()
        .sign(&signer)
        .unwrap();
    let bytes = note.to_bytes();

    // Their verifier from our vkey string.
    let vkey = signer.verifier_key().to_string();
    let v = StandardVerifier::new(&vkey).unwrap();
    assert_eq!(v.key_id(), signer.key_id());
    let theirs = TheirNote::from_bytes(&bytes).unwrap();
    let (verified, unverified) = theirs
        .verify(&VerifierList::new(vec![Box::new(v)]))
        .unwrap();
    assert_eq!((verified.len(), unverified.len()), (1, 0));
    let cp = TheirCheckpoint::from_bytes(theirs.text()).unwrap();
    assert_eq!(
        (cp.origin(), cp.size(), oh(cp.hash())),
        (ORIGIN, 1000, t.root())
    );
    // Re-encoded by them, byte for byte ours.
    assert_eq!(theirs.to_bytes(), bytes);
    assert_eq!(cp.to_bytes(), note.text().as_bytes());

    // A tampered note fails with them too.
    let bad = String::from_utf8(bytes)
        .unwrap()
        .replacen("\n1000\n", "\n1001\n", 1);
    let v = StandardVerifier::new(&vkey).unwrap();
    assert!(
        TheirNote::from_bytes(bad.as_bytes())
            .unwrap()
            .verify(&VerifierList::new(vec![Box::new(v)]))
            .is_err()
    );
}

#[test]
fn their_checkpoint_verifies_with_ours() {
    let mut t = MemoryTree::new();
    for i in 0..77u32 {
        t.append_entry(&i.to_le_bytes());
    }
    let seed = [43u8; 32];
    let signer = their_signer(ORIGIN, &seed);
    let cp = TheirCheckpoint::new(ORIGIN, 77, th(&t.root()), "").unwrap();
    let mut note = TheirNote::new(&cp.to_bytes(), &[]).unwrap();
    note.add_sigs(&[&signer]).unwrap();
    let bytes = note.to_bytes();

    // Their vkey string, parsed by us.
    let dalek2 = ed25519_dalek_v2::SigningKey::from_bytes(&seed);
    let their_vkey = signed_note::new_ed25519_verifier_key(ORIGIN, &dalek2.verifying_key());
    let vk: VerifierKey = their_vkey.parse().unwrap();
    assert_eq!(
        vk,
        NoteSigner::from_seed(ORIGIN, &seed).unwrap().verifier_key()
    );
    assert_eq!(vk.to_string(), their_vkey);

    let sc = SignedCheckpoint::open(&bytes, &vk).unwrap();
    assert_eq!(
        sc.checkpoint,
        Checkpoint::new(ORIGIN, 77, t.root()).unwrap()
    );
    assert_eq!(sc.to_bytes(), bytes);

    // With extension lines too.
    let cp = TheirCheckpoint::new(ORIGIN, 77, th(&t.root()), "ext one\next two\n").unwrap();
    let mut note = TheirNote::new(&cp.to_bytes(), &[]).unwrap();
    note.add_sigs(&[&signer]).unwrap();
    let sc = SignedCheckpoint::open(&note.to_bytes(), &vk).unwrap();
    assert_eq!(sc.checkpoint.extensions, vec!["ext one", "ext two"]);
}

#[test]
fn key_ids_agree() {
    for (name, seed) in [
        ("a", [1u8; 32]),
        ("obhut.example/vault-1", [2; 32]),
        ("dpo.example/witness", [3; 32]),
    ] {
        let pk = ed25519_dalek_v2::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        for alg in [ALG_ED25519, ALG_COSIGNATURE_V1] {
            let theirs = signed_note::key_id(name, &[&[alg][..], &pk].concat());
            assert_eq!(key_id(name, alg, &pk), theirs);
        }
    }
}

/// Our cosignature, checked with their note parser and an independent
/// Ed25519 (`ed25519-dalek` 2) over the message as the spec defines it.
#[test]
fn our_cosignature_checks_independently() {
    let mut t = MemoryTree::new();
    t.append_entry(b"only");
    let log = NoteSigner::from_seed(ORIGIN, &[1; 32]).unwrap();
    let cp = Checkpoint::new(ORIGIN, 1, t.root()).unwrap();
    let mut note = cp.sign(&log).unwrap();
    let seed = [77u8; 32];
    let w = CosignatureSigner::from_seed("witness.example/w1", &seed).unwrap();
    let ts = 1_700_000_000u64;
    note.add_signature(w.cosign(note.text(), ts).unwrap())
        .unwrap();
    let bytes = note.to_bytes();

    let theirs = TheirNote::from_bytes(&bytes).unwrap();
    // Their note verification with the log key: the cosignature is an
    // unknown key there and is passed through unverified.
    let v = StandardVerifier::new(&log.verifier_key().to_string()).unwrap();
    let (_, unverified) = theirs
        .verify(&VerifierList::new(vec![Box::new(v)]))
        .unwrap();
    assert_eq!(unverified.len(), 1);
    let sig = &unverified[0];
    let pk = ed25519_dalek_v2::SigningKey::from_bytes(&seed).verifying_key();
    assert_eq!(sig.name(), "witness.example/w1");
    assert_eq!(
        sig.id(),
        signed_note::key_id("witness.example/w1", &[&[0x04][..], pk.as_bytes()].concat())
    );
    let raw = sig.signature();
    assert_eq!(raw.len(), 72);
    assert_eq!(u64::from_be_bytes(raw[..8].try_into().unwrap()), ts);
    let msg = [
        format!("cosignature/v1\ntime {ts}\n").as_bytes(),
        theirs.text(),
    ]
    .concat();
    let s = ed25519_dalek_v2::Signature::from_bytes(raw[8..].try_into().unwrap());
    pk.verify_strict(&msg, &s).unwrap();

    // And the reverse: a cosignature made with ed25519-dalek 2 verifies
    // with ours.
    let sk2 = ed25519_dalek_v2::SigningKey::from_bytes(&seed);
    use ed25519_dalek_v2::Signer as _;
    let ts2 = ts + 60;
    let msg2 = [
        format!("cosignature/v1\ntime {ts2}\n").as_bytes(),
        note.text().as_bytes(),
    ]
    .concat();
    let raw2 = [&ts2.to_be_bytes()[..], &sk2.sign(&msg2).to_bytes()].concat();
    let line = format!(
        "\u{2014} witness.example/w1 {}",
        STANDARD.encode([&sig.id().to_be_bytes()[..], &raw2].concat())
    );
    let mut n2 = obhut_log::Note::parse(&note.to_bytes()).unwrap();
    n2.add_signature(obhut_log::NoteSignature::parse_line(&line).unwrap())
        .unwrap();
    let v = n2.verify(std::slice::from_ref(w.verifier_key())).unwrap();
    assert_eq!(v[0].timestamp, Some(ts2));
}

/// Their hash storage (Go sumdb tlog layout), filled by their code from
/// the entries: an independent tree build.
struct Store(RefCell<Vec<TheirHash>>);

impl HashReader for Store {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<TheirHash>, tlog_tiles::Error> {
        let v = self.0.borrow();
        Ok(indexes.iter().map(|&i| v[i as usize]).collect())
    }
}

fn both_trees(n: u64) -> (MemoryTree, Store) {
    let mut ours = MemoryTree::new();
    let theirs = Store(RefCell::new(Vec::new()));
    for i in 0..n {
        let e = format!("entry {i}");
        ours.append_entry(e.as_bytes());
        let hs = stored_hashes(i, e.as_bytes(), &theirs).unwrap();
        theirs.0.borrow_mut().extend(hs);
    }
    (ours, theirs)
}

#[test]
fn roots_and_proofs_agree_both_ways() {
    let (ours, theirs) = both_trees(300);
    for size in [1u64, 2, 3, 7, 8, 9, 100, 255, 256, 257, 299, 300] {
        let root = ours.root_at(size).unwrap();
        assert_eq!(oh(&tree_hash(size, &theirs).unwrap()), root, "root {size}");
        for index in [0, size / 3, size / 2, size - 1] {
            let leaf = ours.leaf(index).unwrap();
            // Ours checked by theirs.
            let p: Vec<TheirHash> = ours
                .inclusion_proof(index, size)
                .unwrap()
                .iter()
                .map(th)
                .collect();
            check_record(&p, size, th(&root), index, th(&leaf)).unwrap();
            // Theirs checked by ours.
            let tp: Vec<Hash> = prove_record(size, index, &theirs)
                .unwrap()
                .iter()
                .map(oh)
                .collect();
            verify_inclusion(&leaf, index, size, &tp, &root).unwrap();
            assert_eq!(tp, ours.inclusion_proof(index, size).unwrap());
        }
        for old in [1u64, size / 2, size - 1, size] {
            if old == 0 {
                continue;
            }
            let old_root = ours.root_at(old).unwrap();
            let p: Vec<TheirHash> = ours
                .consistency_proof(old, size)
                .unwrap()
                .iter()
                .map(th)
                .collect();
            check_tree(&p, size, th(&root), old, th(&old_root)).unwrap();
            let tp: Vec<Hash> = prove_tree(size, old, &theirs)
                .unwrap()
                .iter()
                .map(oh)
                .collect();
            verify_consistency(old, size, &old_root, &root, &tp).unwrap();
            // And a corrupted proof of ours fails with theirs.
            if let Some(first) = p.first() {
                let mut bad = p.clone();
                bad[0] = TheirHash([first.0[0] ^ 1; 32]);
                assert!(check_tree(&bad, size, th(&root), old, th(&old_root)).is_err());
            }
        }
    }
}

#[test]
fn tiles_agree() {
    let size = 70_000u64;
    let (ours, theirs) = both_trees(size);
    // Which tiles a tree publishes, and their paths.
    let mine = new_tiles(0, size);
    let their_tiles = TheirTile::new_tiles(8, 0, size);
    assert_eq!(mine.len(), their_tiles.len());
    for (m, t) in mine.iter().zip(&their_tiles) {
        assert_eq!(m.path(), t.path().replacen("tile/8/", "tile/", 1));
        assert_eq!(TileId::parse_path(&m.path()).unwrap(), (*m, false));
    }
    for (old, new) in [
        (1000u64, 1300u64),
        (65_536, 70_000),
        (255, 256),
        (69_999, 70_000),
    ] {
        let m: Vec<String> = new_tiles(old, new).iter().map(TileId::path).collect();
        let t: Vec<String> = TheirTile::new_tiles(8, old, new)
            .iter()
            .map(|t| t.path().replacen("tile/8/", "tile/", 1))
            .collect();
        assert_eq!(m, t, "{old} -> {new}");
    }
    // Tile contents served by their code; our TileSource computes roots and
    // proofs from them.
    let fetch = |tile: &TileId| -> Result<Vec<u8>, tlog_tiles::Error> {
        let t = TheirTile::new(8, tile.level, tile.index, u32::from(tile.width), false);
        t.read_data(&theirs)
    };
    let mut src = TileSource::new(size, fetch);
    assert_eq!(tree::root(size, &mut src).unwrap(), ours.root());
    for i in [0u64, 255, 256, 65_535, 65_536, 69_999] {
        assert_eq!(
            tree::inclusion_proof(i, size, &mut src).unwrap(),
            ours.inclusion_proof(i, size).unwrap()
        );
    }
    assert_eq!(
        tree::consistency_proof(65_537, size, &mut src).unwrap(),
        ours.consistency_proof(65_537, size).unwrap()
    );
}
