//! Attacks on the log (issue 6, "What it must show"), each detected by a
//! test that fails if it is not: an old entry rewritten, an entry dropped,
//! the log forked between two clients, a rollback to an earlier
//! checkpoint, a checkpoint signed with the wrong key, a forged witness
//! cosignature.
//!
//! The vault is modelled as a malicious server holding the real log key:
//! signatures alone cannot catch it, only consistency, inclusion and
//! witnesses can.

use obhut_log::client::{ClientError, TrustedLog, TrustedState, WitnessPolicy, check_consistent};
use obhut_log::note::{NoteError, NoteSignature};
use obhut_log::witness::{AddCheckpoint, WitnessError, WitnessedLog, add_checkpoint};
use obhut_log::{
    Checkpoint, CheckpointError, CosignatureSigner, Hash, MemoryTree, Note, NoteSigner, ProofError,
};

const ORIGIN: &str = "obhut.example/vault-3f2a9c";
const NOW: u64 = 1_764_000_000;

fn log_key() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[7; 32]).unwrap()
}

fn witness(n: u8) -> CosignatureSigner {
    CosignatureSigner::from_seed(&format!("witness{n}.example/w"), &[100 + n; 32]).unwrap()
}

fn entries(n: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("event {i}: access requested").into_bytes())
        .collect()
}

fn tree(entries: &[Vec<u8>]) -> MemoryTree {
    let mut t = MemoryTree::new();
    for e in entries {
        t.append_entry(e);
    }
    t
}

/// The vault signs its current tree head with the real log key.
fn checkpoint(t: &MemoryTree, size: u64) -> Note {
    Checkpoint::new(ORIGIN, size, t.root_at(size).unwrap())
        .unwrap()
        .sign(&log_key())
        .unwrap()
}

fn client(policy: WitnessPolicy) -> TrustedLog {
    TrustedLog::new(ORIGIN, log_key().verifier_key(), policy)
}

/// A client that has seen the honest log at `size`.
fn seen(t: &MemoryTree, size: u64) -> TrustedState {
    client(WitnessPolicy::none())
        .update(None, &checkpoint(t, size).to_bytes(), &[])
        .unwrap()
}

#[test]
fn honest_log_is_accepted() {
    let honest = tree(&entries(20));
    let c = client(WitnessPolicy::none());
    let s10 = seen(&honest, 10);
    let proof = honest.consistency_proof(10, 20).unwrap();
    let s20 = c
        .update(Some(&s10), &checkpoint(&honest, 20).to_bytes(), &proof)
        .unwrap();
    assert_eq!(s20.size, 20);
    let e = &entries(20)[13];
    s20.verify_inclusion(e, 13, &honest.inclusion_proof(13, 20).unwrap())
        .unwrap();
    // Same checkpoint again: fine (empty proof).
    c.update(Some(&s20), &checkpoint(&honest, 20).to_bytes(), &[])
        .unwrap();
}

#[test]
fn attack_old_entry_rewritten() {
    let honest_entries = entries(10);
    let honest = tree(&honest_entries);
    let state = seen(&honest, 10);

    // The vault rewrites entry 3 (say, who approved) and keeps appending.
    let mut forged_entries = entries(14);
    forged_entries[3] = b"event 3: access approved by nobody".to_vec();
    let forged = tree(&forged_entries);
    let proof = forged.consistency_proof(10, 14).unwrap();
    let err = client(WitnessPolicy::none())
        .update(Some(&state), &checkpoint(&forged, 14).to_bytes(), &proof)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Inconsistent {
                old: 10,
                new: 14,
                ..
            }
        ),
        "{err:?}"
    );

    // And the rewritten entry does not verify against what the client saw.
    let p = forged.inclusion_proof(3, 10).unwrap();
    let err = state
        .verify_inclusion(&forged_entries[3], 3, &p)
        .unwrap_err();
    assert!(
        matches!(err, ClientError::NotIncluded { index: 3, .. }),
        "{err:?}"
    );
    // Nor does any honest proof help the forged entry.
    let p = honest.inclusion_proof(3, 10).unwrap();
    assert!(state.verify_inclusion(&forged_entries[3], 3, &p).is_err());
}

#[test]
fn attack_entry_dropped() {
    let honest = tree(&entries(10));
    let state = seen(&honest, 10);

    // Entry 4 (an embarrassing release) silently removed, log continues.
    let mut dropped = entries(13);
    dropped.remove(4);
    let forged = tree(&dropped);
    let proof = forged.consistency_proof(10, 12).unwrap();
    let err = client(WitnessPolicy::none())
        .update(Some(&state), &checkpoint(&forged, 12).to_bytes(), &proof)
        .unwrap_err();
    assert!(matches!(err, ClientError::Inconsistent { .. }), "{err:?}");

    // The last entry dropped (truncation): the tree shrinks, a rollback.
    let truncated = tree(&entries(9));
    let err = client(WitnessPolicy::none())
        .update(Some(&state), &checkpoint(&truncated, 9).to_bytes(), &[])
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::Rollback {
            seen: 10,
            offered: 9
        }
    );
}

#[test]
fn attack_rollback_to_earlier_checkpoint() {
    let honest = tree(&entries(20));
    let state = seen(&honest, 20);
    // A genuine, correctly signed, older checkpoint.
    let old = checkpoint(&honest, 12);
    let err = client(WitnessPolicy::none())
        .update(Some(&state), &old.to_bytes(), &[])
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::Rollback {
            seen: 20,
            offered: 12
        }
    );
    // Even with a "proof" attached.
    let p = honest.consistency_proof(12, 20).unwrap();
    assert!(
        client(WitnessPolicy::none())
            .update(Some(&state), &old.to_bytes(), &p)
            .is_err()
    );
}

#[test]
fn attack_log_forked_between_two_clients() {
    // The vault shows custodian A a log with the request, custodian B a log
    // without it (so B never sees that A was asked).
    let base = entries(10);
    let mut branch_a = base.clone();
    branch_a.push(b"event 10: request R by requester Q".to_vec());
    branch_a.push(b"event 11: approval of R by A".to_vec());
    let mut branch_b = base.clone();
    branch_b.push(b"event 10: retention change".to_vec());
    branch_b.push(b"event 11: nothing to see".to_vec());
    let (ta, tb) = (tree(&branch_a), tree(&branch_b));
    let c = client(WitnessPolicy::none());
    let start = seen(&ta, 10);
    let a = c
        .update(
            Some(&start),
            &checkpoint(&ta, 12).to_bytes(),
            &ta.consistency_proof(10, 12).unwrap(),
        )
        .unwrap();
    let b = c
        .update(
            Some(&start),
            &checkpoint(&tb, 12).to_bytes(),
            &tb.consistency_proof(10, 12).unwrap(),
        )
        .unwrap();

    // 1. The clients compare views (gossip, or via an auditor): same size,
    //    different roots, both signed by the log — proof of a fork.
    let err = check_consistent(a.size, &a.root, b.size, &b.root, &[]).unwrap_err();
    assert!(matches!(err, ClientError::Fork { size: 12, .. }), "{err:?}");

    // 2. Different sizes: B's branch grows; no proof the vault can make
    //    links A's view to it.
    let mut longer_b = branch_b.clone();
    longer_b.push(b"event 12".to_vec());
    let tb2 = tree(&longer_b);
    for proof in [
        tb2.consistency_proof(12, 13).unwrap(),
        ta.consistency_proof(10, 12).unwrap(),
        vec![],
    ] {
        let err = c
            .update(Some(&a), &checkpoint(&tb2, 13).to_bytes(), &proof)
            .unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Inconsistent {
                    old: 12,
                    new: 13,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    // 3. With a witness: it cosigns the first branch it is shown and
    //    refuses the other, so a client requiring its cosignature never
    //    accepts B's view.
    let w = witness(1);
    let logs = [WitnessedLog {
        origin: ORIGIN.into(),
        keys: vec![log_key().verifier_key()],
    }];
    let ra = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        checkpoint: checkpoint(&ta, 12).to_bytes(),
    };
    let cos = add_checkpoint(&logs, |_| None, &ra, &w, NOW).unwrap();
    let latest = Some((cos.size, cos.root));
    let rb = AddCheckpoint {
        old_size: 12,
        proof: vec![],
        checkpoint: checkpoint(&tb, 12).to_bytes(),
    };
    let err = add_checkpoint(&logs, |_| latest, &rb, &w, NOW).unwrap_err();
    assert_eq!(err, WitnessError::Conflict { latest_size: 12 });
    assert_eq!(err.http_status(), 409);
    let rb2 = AddCheckpoint {
        old_size: 12,
        proof: tb2.consistency_proof(12, 13).unwrap(),
        checkpoint: checkpoint(&tb2, 13).to_bytes(),
    };
    let err = add_checkpoint(&logs, |_| latest, &rb2, &w, NOW).unwrap_err();
    assert_eq!(err, WitnessError::BadProof);
    assert_eq!(err.http_status(), 422);

    let policy = WitnessPolicy::new(vec![w.verifier_key().clone()], 1).unwrap();
    let strict = client(policy);
    let mut note_a = checkpoint(&ta, 12);
    note_a.add_signature(cos.cosignature.clone()).unwrap();
    strict
        .update(
            Some(&start),
            &note_a.to_bytes(),
            &ta.consistency_proof(10, 12).unwrap(),
        )
        .unwrap();
    let err = strict
        .update(
            Some(&start),
            &checkpoint(&tb, 12).to_bytes(),
            &tb.consistency_proof(10, 12).unwrap(),
        )
        .unwrap_err();
    assert_eq!(err, ClientError::NotEnoughWitnesses { need: 1, got: 0 });
    // Moving A's witness cosignature onto B's checkpoint does not verify.
    let mut note_b = checkpoint(&tb, 12);
    note_b.add_signature(cos.cosignature).unwrap();
    let err = strict
        .update(
            Some(&start),
            &note_b.to_bytes(),
            &tb.consistency_proof(10, 12).unwrap(),
        )
        .unwrap_err();
    assert!(
        matches!(err, ClientError::InvalidCosignature { .. }),
        "{err:?}"
    );
}

#[test]
fn attack_checkpoint_signed_with_wrong_key() {
    let t = tree(&entries(5));
    let cp = Checkpoint::new(ORIGIN, 5, t.root()).unwrap();
    let c = client(WitnessPolicy::none());

    // Another key under the log's name: a different key ID, so an unknown
    // key, so no log signature.
    let other = NoteSigner::from_seed(ORIGIN, &[9; 32]).unwrap();
    let err = c
        .update(None, &cp.sign(&other).unwrap().to_bytes(), &[])
        .unwrap_err();
    assert!(matches!(err, ClientError::NotSignedByLog { .. }), "{err:?}");

    // Another key whose signature line claims the log key's ID.
    let mut note = Note::new(&cp.to_text()).unwrap();
    let forged = other.sign_text(note.text());
    let claimed =
        NoteSignature::new(ORIGIN, log_key().key_id(), forged.signature().to_vec()).unwrap();
    note.add_signature(claimed).unwrap();
    let err = c.update(None, &note.to_bytes(), &[]).unwrap_err();
    assert_eq!(
        err,
        ClientError::Checkpoint(CheckpointError::Note(NoteError::InvalidSignature {
            name: ORIGIN.into(),
            key_id: log_key().key_id()
        }))
    );

    // The right key, but the text changed after signing (size bumped).
    let signed = cp.sign(&log_key()).unwrap().to_bytes();
    let tampered = String::from_utf8(signed)
        .unwrap()
        .replacen("\n5\n", "\n6\n", 1);
    let err = c.update(None, tampered.as_bytes(), &[]).unwrap_err();
    assert!(matches!(
        err,
        ClientError::Checkpoint(CheckpointError::Note(NoteError::InvalidSignature { .. }))
    ));

    // The log key, but a checkpoint for another log (origin confusion).
    let elsewhere = Checkpoint::new("obhut.example/vault-other", 5, t.root()).unwrap();
    let err = c
        .update(None, &elsewhere.sign(&log_key()).unwrap().to_bytes(), &[])
        .unwrap_err();
    assert!(matches!(err, ClientError::WrongOrigin { .. }), "{err:?}");

    // A witness key is not a log key.
    let w = witness(1);
    let mut note = Note::new(&cp.to_text()).unwrap();
    note.add_signature(w.cosign(&cp.to_text(), NOW).unwrap())
        .unwrap();
    let err = c.update(None, &note.to_bytes(), &[]).unwrap_err();
    assert!(matches!(err, ClientError::NotSignedByLog { .. }), "{err:?}");
}

#[test]
fn attack_forged_witness_cosignature() {
    let t = tree(&entries(8));
    let cp = Checkpoint::new(ORIGIN, 8, t.root()).unwrap();
    let (w1, w2, w3) = (witness(1), witness(2), witness(3));
    let policy = WitnessPolicy::new(
        vec![
            w1.verifier_key().clone(),
            w2.verifier_key().clone(),
            w3.verifier_key().clone(),
        ],
        2,
    )
    .unwrap();
    let c = client(policy);
    let signed = |extra: Vec<NoteSignature>| {
        let mut n = cp.sign(&log_key()).unwrap();
        for s in extra {
            n.add_signature(s).unwrap();
        }
        n.to_bytes()
    };
    let text = cp.to_text();

    // 2 of 3 genuine: accepted.
    let ok = signed(vec![
        w1.cosign(&text, NOW).unwrap(),
        w3.cosign(&text, NOW + 1).unwrap(),
    ]);
    c.update(None, &ok, &[]).unwrap();

    // The log forges w2's cosignature with a key of its own under w2's name
    // and key ID.
    let impostor = CosignatureSigner::from_seed(w2.verifier_key().name(), &[66; 32]).unwrap();
    let fake = impostor.cosign(&text, NOW).unwrap();
    let fake = NoteSignature::new(
        fake.name(),
        w2.verifier_key().key_id(),
        fake.signature().to_vec(),
    )
    .unwrap();
    let err = c
        .update(
            None,
            &signed(vec![w1.cosign(&text, NOW).unwrap(), fake]),
            &[],
        )
        .unwrap_err();
    assert!(
        matches!(err, ClientError::InvalidCosignature { .. }),
        "{err:?}"
    );

    // Cosignature with its timestamp altered.
    let real = w2.cosign(&text, NOW).unwrap();
    let mut raw = real.signature().to_vec();
    raw[7] ^= 1;
    let altered = NoteSignature::new(real.name(), real.key_id(), raw).unwrap();
    let err = c
        .update(
            None,
            &signed(vec![w1.cosign(&text, NOW).unwrap(), altered]),
            &[],
        )
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidCosignature { .. }));

    // A cosignature for an older checkpoint replayed on this one.
    let older = Checkpoint::new(ORIGIN, 7, t.root_at(7).unwrap()).unwrap();
    let replayed = w2.cosign(&older.to_text(), NOW).unwrap();
    let err = c
        .update(
            None,
            &signed(vec![w1.cosign(&text, NOW).unwrap(), replayed]),
            &[],
        )
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidCosignature { .. }));

    // An impostor under its own (unknown) key is ignored, so the quorum is
    // short; one witness signing twice counts once.
    let own = impostor.cosign(&text, NOW).unwrap();
    let err = c
        .update(
            None,
            &signed(vec![w1.cosign(&text, NOW).unwrap(), own]),
            &[],
        )
        .unwrap_err();
    assert_eq!(err, ClientError::NotEnoughWitnesses { need: 2, got: 1 });
    let mut n = cp.sign(&log_key()).unwrap().to_bytes();
    n.extend_from_slice(w1.cosign(&text, NOW).unwrap().to_line().as_bytes());
    n.extend_from_slice(w1.cosign(&text, NOW + 5).unwrap().to_line().as_bytes());
    let err = c.update(None, &n, &[]).unwrap_err();
    assert_eq!(err, ClientError::NotEnoughWitnesses { need: 2, got: 1 });

    // A plain Ed25519 (0x01) signature by the witness key is not a
    // cosignature: different key ID, ignored.
    let plain = NoteSigner::from_seed(w2.verifier_key().name(), &[102; 32]).unwrap();
    let err = c
        .update(
            None,
            &signed(vec![w1.cosign(&text, NOW).unwrap(), plain.sign_text(&text)]),
            &[],
        )
        .unwrap_err();
    assert_eq!(err, ClientError::NotEnoughWitnesses { need: 2, got: 1 });
}

#[test]
fn witness_protocol_requests() {
    let t = tree(&entries(30));
    let w = witness(1);
    let logs = [WitnessedLog {
        origin: ORIGIN.into(),
        keys: vec![log_key().verifier_key()],
    }];
    let req = AddCheckpoint {
        old_size: 10,
        proof: t.consistency_proof(10, 30).unwrap(),
        checkpoint: checkpoint(&t, 30).to_bytes(),
    };
    let body = req.to_bytes();
    assert_eq!(AddCheckpoint::parse(&body).unwrap(), req);
    let latest = Some((10, t.root_at(10).unwrap()));
    let cos = add_checkpoint(&logs, |_| latest, &req, &w, NOW).unwrap();
    assert_eq!((cos.size, cos.root), (30, t.root()));
    // The response line verifies as a cosignature on the checkpoint.
    let mut note = Note::parse(&req.checkpoint).unwrap();
    note.add_signature(
        NoteSignature::parse_line(cos.response_body().trim_end_matches('\n')).unwrap(),
    )
    .unwrap();
    let v = note.verify(std::slice::from_ref(w.verifier_key())).unwrap();
    assert_eq!(v[0].timestamp, Some(NOW));

    // Stale old size: 409 with our size.
    let err =
        add_checkpoint(&logs, |_| Some((20, t.root_at(20).unwrap())), &req, &w, NOW).unwrap_err();
    assert_eq!(err, WitnessError::Conflict { latest_size: 20 });
    // Unknown origin: 404. Wrong key: 403. Old > new: 400.
    let err = add_checkpoint(&[], |_| latest, &req, &w, NOW).unwrap_err();
    assert_eq!(err.http_status(), 404);
    let other = [WitnessedLog {
        origin: ORIGIN.into(),
        keys: vec![
            NoteSigner::from_seed(ORIGIN, &[1; 32])
                .unwrap()
                .verifier_key(),
        ],
    }];
    assert_eq!(
        add_checkpoint(&other, |_| latest, &req, &w, NOW)
            .unwrap_err()
            .http_status(),
        403
    );
    let back = AddCheckpoint {
        old_size: 31,
        ..req.clone()
    };
    assert_eq!(
        add_checkpoint(&logs, |_| latest, &back, &w, NOW)
            .unwrap_err()
            .http_status(),
        400
    );
    // Malformed bodies.
    for bad in [
        &b"old 010\n\n"[..],
        b"old 1\nnot-base64\n\n",
        b"old -1\n\n",
        b"new 1\n\n",
        b"old 1\n",
    ] {
        assert!(AddCheckpoint::parse(bad).is_err(), "{bad:?}");
    }
    let too_long = format!(
        "old 1\n{}\n",
        vec![Hash::EMPTY_ROOT.to_base64(); 64].join("\n")
    );
    assert!(AddCheckpoint::parse(too_long.as_bytes()).is_err());
}

#[test]
fn proof_error_kinds_are_specific() {
    let t = tree(&entries(10));
    let (r5, r10) = (t.root_at(5).unwrap(), t.root());
    let p = t.consistency_proof(5, 10).unwrap();
    assert_eq!(
        obhut_log::verify_consistency(5, 10, &r10, &r10, &p),
        Err(ProofError::OldRootMismatch)
    );
    assert_eq!(
        obhut_log::verify_consistency(5, 10, &r5, &r5, &p),
        Err(ProofError::NewRootMismatch)
    );
}
