//! C2SP tlog-witness interop with an implementation no one here wrote:
//! `doubleentry` 0.8.0 (crates.io, hupe1980/doubleentry), whose
//! `testing::TestWitness` answers `add-checkpoint` bodies with its own
//! signed-note, checkpoint, cosignature and consistency-proof code, and whose
//! `transparency::{WitnessSession, Verifier}` are a log's client of a witness
//! and an auditor.
//!
//! 1. Our log side → their witness: our checkpoints, growing, with our
//!    consistency proofs, in the exact bodies the vault's witnessing client
//!    (`obhut-server` `log/witnessing.rs`) builds and read the way it reads
//!    them, including its retry after a 409; their cosignature lines must
//!    verify under OUR note, client and policy code, and be byte-identical to
//!    the line our `CosignatureSigner` makes with the same key and
//!    timestamp. Every refusal status tlog-witness names is provoked.
//! 2. Their log side → our witness: their checkpoints and proofs, sent by
//!    their `WitnessSession` to `obhut witness` over HTTP; our cosignatures
//!    must pass their reply check and their `Verifier` under a 1-of-1
//!    witness policy. A twin `TestWitness` with our witness's name, key and
//!    clock gets every same body and must answer the same bytes.
//!
//! Known deviation (theirs): for a checkpoint of the size the witness holds
//! with another root, tlog-witness says "the witness MUST respond with a
//! "409 Conflict"" (we do); `TestWitness` 0.8.0 answers 422. Both refuse.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use doubleentry::log::{Hash as DeHash, leaf_hash as de_leaf_hash};
use doubleentry::store::Tree as DeTree;
use doubleentry::testing::{Reply as DeReply, TestWitness};
use doubleentry::transparency::{self as de, Next, Update};
use doubleentry::{LedgerId, TreeHead};
use obhut_log::note::ALG_COSIGNATURE_V1;
use obhut_log::witness::AddCheckpoint;
use obhut_log::{
    Checkpoint, CosignatureSigner, Hash, MemoryTree, Note, NoteSignature, NoteSigner, TrustedLog,
    TrustedState, VerifierKey, WitnessPolicy,
};
use obhut_witness::{Clock, Witness, WitnessConfig, WitnessState};

const ORIGIN: &str = "obhut.example/vault-3f2a9c";
const THEIR_ORIGIN: &str = "ledger.example/books/acme";
const WITNESS_NAME: &str = "witness.example/doubleentry";
const WITNESS_SEED: [u8; 32] = [9; 32];
const SIZE_TYPE: &str = "text/x.tlog.size";

fn ours(h: &DeHash) -> Hash {
    Hash(*h.as_bytes())
}

// ---------------------------------------------------------------------------
// 1. Our log, their witness.
// ---------------------------------------------------------------------------

/// Our log: a tree and its checkpoint key. Two with one key and other
/// entries are a forked log.
struct OurLog {
    tree: MemoryTree,
    key: NoteSigner,
    entries: &'static str,
}

impl OurLog {
    fn new(origin: &str, seed: u8, entries: &'static str) -> OurLog {
        OurLog {
            tree: MemoryTree::new(),
            key: NoteSigner::from_seed(origin, &[seed; 32]).unwrap(),
            entries,
        }
    }

    fn grow_to(&mut self, size: u64) {
        while self.tree.size() < size {
            let i = self.tree.size();
            self.tree
                .append_entry(format!("{} {i}", self.entries).as_bytes());
        }
    }

    fn checkpoint_at(&self, size: u64) -> Vec<u8> {
        let root = self.tree.root_at(size).unwrap();
        Checkpoint::new(self.key.name(), size, root)
            .unwrap()
            .sign(&self.key)
            .unwrap()
            .to_bytes()
    }

    /// The body exactly as `log/witnessing.rs` builds it: no proof from 0
    /// or at the same size.
    fn body(&self, old: u64, size: u64) -> Vec<u8> {
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            self.tree.consistency_proof(old, size).unwrap()
        };
        let body = AddCheckpoint {
            old_size: old,
            proof: proof.clone(),
            checkpoint: self.checkpoint_at(size),
        }
        .to_bytes();
        // Their parser reads our body as we meant it, and writes it back
        // byte for byte.
        let parsed = de::AddCheckpoint::parse(&body).unwrap();
        assert_eq!(parsed.old(), old);
        assert_eq!(parsed.proof().iter().map(ours).collect::<Vec<_>>(), proof);
        assert_eq!(parsed.checkpoint().to_bytes(), self.checkpoint_at(size));
        assert_eq!(parsed.to_bytes(), body);
        body
    }
}

/// The vault's witnessing client (`log/witnessing.rs` `ask`) against their
/// witness: from the size it believes the witness holds, at most one retry
/// after a 409, a 200's lines kept only if they verify under the witness's
/// configured vkey. Returns the statuses seen and the cosignature lines.
fn vault_ask(
    witness: &mut TestWitness,
    vkey: &VerifierKey,
    log: &OurLog,
    believed: &mut u64,
    size: u64,
) -> (Vec<u16>, Vec<NoteSignature>) {
    let note = Note::parse(&log.checkpoint_at(size)).unwrap();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let reply = witness.post(&log.body(*believed, size));
        statuses.push(reply.status);
        let text = String::from_utf8(reply.body.clone()).unwrap();
        match reply.status {
            200 => {
                let mut mine = Vec::new();
                for line in text.lines().filter(|l| !l.is_empty()) {
                    let s = NoteSignature::parse_line(line).unwrap();
                    let mut n = note.clone();
                    if n.add_signature(s.clone()).is_ok()
                        && n.verify(std::slice::from_ref(vkey)).is_ok()
                    {
                        mine.push(s);
                    }
                }
                if !mine.is_empty() {
                    *believed = size;
                }
                return (statuses, mine);
            }
            409 => {
                assert_eq!(reply.content_type, Some(SIZE_TYPE), "{reply:?}");
                assert!(text.ends_with('\n'), "{reply:?}");
                *believed = text.trim().parse().unwrap();
            }
            _ => return (statuses, Vec::new()),
        }
    }
    (statuses, Vec::new())
}

/// A refusal with the status tlog-witness names, and nothing cosigned.
fn assert_refused(reply: &DeReply, status: u16) {
    assert_eq!(reply.status, status, "{reply:?}");
    if status != 409 {
        assert!(
            !String::from_utf8_lossy(&reply.body).contains('\u{2014}'),
            "{reply:?}"
        );
    }
}

#[test]
fn our_log_their_witness() {
    let mut log = OurLog::new(ORIGIN, 1, "evidence");
    let log_vkey = log.key.verifier_key();
    // Their witness trusts our log key as we print it.
    let their_log_vkey: de::Vkey = log_vkey.to_string().parse().unwrap();
    assert_eq!(their_log_vkey.to_string(), log_vkey.to_string());
    let mut witness = TestWitness::new(WITNESS_NAME, WITNESS_SEED)
        .unwrap()
        .log(their_log_vkey);
    // Their witness vkey is ours for the same name and seed (key ID
    // SHA-256(name || "\n" || 0x04 || key)[:4], type byte, base64).
    let same_key = CosignatureSigner::from_seed(WITNESS_NAME, &WITNESS_SEED).unwrap();
    assert_eq!(
        witness.vkey().to_string(),
        same_key.verifier_key().to_string()
    );
    let wvkey = VerifierKey::parse(&witness.vkey().to_string()).unwrap();
    assert_eq!(wvkey.alg(), ALG_COSIGNATURE_V1);

    // A custodian's view: our log key, 1-of-1 of their witness.
    let client = TrustedLog::new(
        ORIGIN,
        log_vkey.clone(),
        WitnessPolicy::new(vec![wvkey.clone()], 1).unwrap(),
    );
    let mut trusted: Option<TrustedState> = None;
    let mut believed = 0u64;
    let mut timestamp = 0u64;
    // First contact, growth by one, across subtree boundaries, big jumps,
    // the same size again (a fresh cosignature), then a vault that lost its
    // witness state (old 0: a 409 names the size, the retry carries the
    // proof).
    let steps: [(u64, bool, &[u16]); 10] = [
        (5, false, &[200]),
        (6, false, &[200]),
        (13, false, &[200]),
        (16, false, &[200]),
        (17, false, &[200]),
        (100, false, &[200]),
        (256, false, &[200]),
        (256, false, &[200]),
        (300, false, &[200]),
        (310, true, &[409, 200]),
    ];
    for (size, forget, expect) in steps {
        log.grow_to(size);
        if forget {
            believed = 0;
        }
        let (statuses, sigs) = vault_ask(&mut witness, &wvkey, &log, &mut believed, size);
        assert_eq!(statuses, expect, "size {size}");
        assert_eq!(sigs.len(), 1, "size {size}");
        assert_eq!(believed, size);
        timestamp += 1; // TestWitness's clock: one tick per cosignature.

        // The line is the one our cosigner makes with that key and time.
        let checkpoint = log.checkpoint_at(size);
        let mut note = Note::parse(&checkpoint).unwrap();
        let expected = same_key.cosign(note.text(), timestamp).unwrap();
        assert_eq!(sigs[0].to_line(), expected.to_line(), "size {size}");
        note.add_signature(sigs[0].clone()).unwrap();
        let verified = note.verify(std::slice::from_ref(&wvkey)).unwrap();
        assert_eq!(verified.len(), 1);
        assert_eq!(verified[0].alg, ALG_COSIGNATURE_V1);
        assert_eq!(verified[0].timestamp, Some(timestamp));

        // The cosigned checkpoint passes our client: log signature, witness
        // policy, consistency from what it trusted before.
        let proof = match &trusted {
            Some(t) if t.size != size => log.tree.consistency_proof(t.size, size).unwrap(),
            _ => Vec::new(),
        };
        let next = client
            .update(trusted.as_ref(), &note.to_bytes(), &proof)
            .unwrap();
        assert_eq!(next.size, size);
        trusted = Some(next);
        // The bare checkpoint does not.
        assert!(client.verify_checkpoint(&checkpoint).is_err());
    }

    let held = (310u64, log.tree.root_at(310).unwrap());
    let head_is = |w: &TestWitness, (size, root): (u64, Hash)| {
        let origin = de::KeyName::new(ORIGIN).unwrap();
        let head = w.head(&origin).unwrap();
        assert_eq!((head.size, ours(&head.root)), (size, root));
    };
    head_is(&witness, held);

    // A forked log: our key, other entries.
    let mut fork = OurLog::new(ORIGIN, 1, "rewritten");
    fork.grow_to(320);
    // Same size, another root. tlog-witness: "If the old size matches the
    // checkpoint size, the witness MUST check that the root hashes are also
    // identical. If they don't match, the witness MUST respond with a "409
    // Conflict"". doubleentry 0.8.0 answers 422 (its deviation; it refuses,
    // which is what matters for safety). If this starts failing with 409,
    // they conformed: drop the exception here and in docs/log.md.
    assert_refused(&witness.post(&fork.body(310, 310)), 422);
    // Larger, with the fork's own proof: the proof does not bind our root.
    assert_refused(&witness.post(&fork.body(310, 320)), 422);

    log.grow_to(320);
    let good = log.body(310, 320);
    // A bad proof: one bit flipped, one hash dropped, one hash added.
    let proof = log.tree.consistency_proof(310, 320).unwrap();
    let with_proof = |p: Vec<Hash>| {
        AddCheckpoint {
            old_size: 310,
            proof: p,
            checkpoint: log.checkpoint_at(320),
        }
        .to_bytes()
    };
    let mut flipped = proof.clone();
    flipped[0].0[0] ^= 1;
    assert_refused(&witness.post(&with_proof(flipped)), 422);
    assert_refused(&witness.post(&with_proof(proof[1..].to_vec())), 422);
    let mut longer = proof.clone();
    longer.push(proof[0]);
    assert_refused(&witness.post(&with_proof(longer)), 422);
    // A stale old size: 409 with the size it holds, typed.
    let stale = witness.post(&log.body(256, 320));
    assert_refused(&stale, 409);
    assert_eq!(
        (stale.content_type, stale.body.as_slice()),
        (Some(SIZE_TYPE), b"310\n".as_slice())
    );
    // A rollback: old above the checkpoint's size is a 400.
    let rollback = AddCheckpoint {
        old_size: 310,
        proof: Vec::new(),
        checkpoint: log.checkpoint_at(300),
    };
    assert_refused(&witness.post(&rollback.to_bytes()), 400);
    // Not signed by the log's key: 403. Unknown origin: 404.
    let mut impostor = OurLog::new(ORIGIN, 2, "evidence");
    impostor.grow_to(320);
    assert_refused(&witness.post(&impostor.body(310, 320)), 403);
    let mut stranger = OurLog::new("other.example/log", 1, "evidence");
    stranger.grow_to(3);
    assert_refused(&witness.post(&stranger.body(0, 3)), 404);
    // Not a body at all: 400.
    assert_refused(&witness.post(b"old 310\n"), 400);

    // Nothing moved the witness; the honest update still goes through.
    head_is(&witness, held);
    let (statuses, sigs) = vault_ask(&mut witness, &wvkey, &log, &mut believed, 320);
    assert_eq!((statuses, sigs.len()), (vec![200], 1));
    head_is(&witness, (320, log.tree.root_at(320).unwrap()));
    assert_eq!(witness.post(&good).status, 409); // replayed: stale now
}

// ---------------------------------------------------------------------------
// 2. Their log, our witness (over HTTP).
// ---------------------------------------------------------------------------

/// Their log: their tree and their checkpoint key.
struct TheirLog {
    tree: DeTree,
    key: de::LogKey,
    origin: de::KeyName,
}

impl TheirLog {
    fn new(seed: u8, entries: &str, size: u64) -> TheirLog {
        let ledger = LedgerId::new(THEIR_ORIGIN).unwrap();
        let mut log = TheirLog {
            tree: DeTree::new(),
            key: de::LogKey::from_seed(&ledger, [seed; 32]),
            origin: de::KeyName::from(&ledger),
        };
        log.grow_to(entries, size);
        log
    }

    fn grow_to(&mut self, entries: &str, size: u64) {
        while self.tree.head().size < size {
            let i = self.tree.head().size;
            self.tree
                .push(de_leaf_hash(format!("{entries} {i}").as_bytes()))
                .unwrap();
        }
    }

    fn head_at(&self, size: u64) -> TreeHead {
        self.tree.head_at(size).unwrap()
    }

    fn checkpoint_at(&self, size: u64) -> de::SignedCheckpoint {
        let checkpoint = de::Checkpoint::new(self.origin.clone(), self.head_at(size));
        self.key.sign(&checkpoint).unwrap()
    }

    fn proof(&self, needed: Option<(u64, u64)>) -> Option<doubleentry::log::ConsistencyProof> {
        needed.map(|(old, new)| self.tree.consistency_proof(old, new).unwrap())
    }
}

/// A clock the test sets before each request.
#[derive(Clone, Default)]
struct SetClock(Arc<AtomicU64>);
impl Clock for SetClock {
    fn now_secs(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// `obhut witness` serving on loopback.
struct Running {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    fn start(dir: &std::path::Path, log_vkey: &str, clock: SetClock) -> (Running, VerifierKey) {
        let config = WitnessConfig::from_toml(&format!(
            "[[log]]\norigin = \"{THEIR_ORIGIN}\"\nvkey = \"{log_vkey}\"\n"
        ))
        .unwrap();
        let signer = CosignatureSigner::from_seed(WITNESS_NAME, &WITNESS_SEED).unwrap();
        let vkey = signer.verifier_key().clone();
        let state = WitnessState::open(dir).unwrap();
        let witness = Arc::new(Witness::new(config, signer, state, Box::new(clock)));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = rt.spawn(obhut_witness::serve(listener, witness, async {
            let _ = rx.await;
        }));
        let running = Running {
            rt,
            addr,
            stop: Some(tx),
            served: Some(served),
        };
        (running, vkey)
    }

    /// `POST /add-checkpoint`: status, Content-Type, body.
    fn post(&self, body: &[u8]) -> (u16, Option<String>, Vec<u8>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent
            .post(format!("http://{}/add-checkpoint", self.addr))
            .header("content-type", "text/plain")
            .send(body)
            .unwrap();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r.body_mut().read_to_vec().unwrap();
        (r.status().as_u16(), content_type, body)
    }

    fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(served) = self.served.take() {
            self.rt.block_on(served).unwrap().unwrap();
        }
    }
}

/// Our witness and their `TestWitness` with our witness's name, key and
/// (set) clock, fed the same bodies.
struct Pair {
    ours: Running,
    clock: SetClock,
    twin: TestWitness,
    /// Cosignatures the twin gave: its clock.
    ticks: u64,
}

impl Pair {
    /// Posts `body` to both; returns our answer. A 200 from both must be the
    /// same line; a refusal the same status (and 409 body), except where
    /// `twin_status` says how the twin deviates.
    fn post(&mut self, body: &[u8], twin_status: Option<u16>) -> (u16, Option<String>, Vec<u8>) {
        self.clock.0.store(self.ticks + 1, Ordering::SeqCst);
        let answer = self.ours.post(body);
        let twin = self.twin.post(body);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let seen = format!(
            "ours {} {:?} {:?}, twin {} {:?}",
            answer.0,
            answer.1,
            text(&answer.2),
            twin.status,
            text(&twin.body)
        );
        match twin_status {
            Some(status) => assert_eq!(twin.status, status, "{seen}"),
            None => {
                assert_eq!(answer.0, twin.status, "{seen}");
                if twin.status == 200 || twin.status == 409 {
                    assert_eq!(text(&answer.2), text(&twin.body), "{seen}");
                }
            }
        }
        if twin.status == 200 {
            self.ticks += 1;
        }
        answer
    }

    /// One checkpoint through their `WitnessSession` from `old`: the
    /// session's result and every status our witness gave.
    fn session(
        &mut self,
        log: &TheirLog,
        witness: &de::Vkey,
        size: u64,
        old: u64,
        twin_status: Option<u16>,
    ) -> (Result<Next, de::Error>, Vec<u16>) {
        let mut session = de::WitnessSession::new(log.checkpoint_at(size), witness.clone(), old)
            .expect("session");
        let mut statuses = Vec::new();
        loop {
            let proof = log.proof(session.needed_proof());
            let body = session.request(proof.as_ref()).unwrap();
            // Their body is the one our log side would build.
            let ours_body = obhut_witness::request_body(
                session.old(),
                &proof
                    .as_ref()
                    .map(|p| p.path.iter().map(ours).collect::<Vec<_>>())
                    .unwrap_or_default(),
                &log.checkpoint_at(size).to_bytes(),
            );
            assert_eq!(
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(&ours_body)
            );
            let (status, content_type, reply) = self.post(&body, twin_status);
            statuses.push(status);
            match session.receive(status, content_type.as_deref(), &reply) {
                Ok(Next::Retry) => continue,
                result => return (result, statuses),
            }
        }
    }
}

#[test]
fn their_log_our_witness() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = TheirLog::new(3, "sale", 1);
    let log_vkey = log.key.vkey().to_string();
    // Our config and note code read their log vkey as they print it.
    assert_eq!(VerifierKey::parse(&log_vkey).unwrap().to_string(), log_vkey);
    let clock = SetClock::default();
    let (running, our_vkey) = Running::start(dir.path(), &log_vkey, clock.clone());
    let twin = TestWitness::new(WITNESS_NAME, WITNESS_SEED)
        .unwrap()
        .log(log.key.vkey());
    let mut pair = Pair {
        ours: running,
        clock,
        twin,
        ticks: 0,
    };
    // They read our witness vkey; it is the one their twin derives.
    let witness: de::Vkey = our_vkey.to_string().parse().unwrap();
    assert_eq!(witness, pair.twin.vkey());
    // Their auditor: their log key, 1 of 1 — our witness.
    let policy = de::Policy::k_of_n(
        log.key.vkey(),
        1,
        [(String::from("obhut-witness"), witness.clone())],
    )
    .unwrap();
    let mut auditor = de::Verifier::from_policy(policy);
    let mut held = 0u64;
    for size in [1u64, 2, 7, 8, 9, 64, 100, 100, 257] {
        log.grow_to("sale", size);
        let (result, statuses) = pair.session(&log, &witness, size, held, None);
        assert_eq!(statuses, [200], "size {size}");
        let Ok(Next::Cosigned {
            cosignature,
            witness_size,
        }) = result
        else {
            panic!("size {size}: {result:?}");
        };
        assert_eq!(witness_size, size);
        assert_eq!(cosignature.timestamp(), pair.ticks);
        let cosigned = log
            .checkpoint_at(size)
            .with_cosignature(&cosignature)
            .unwrap();
        assert_eq!(
            cosigned
                .verify(&[log.key.vkey(), witness.clone()])
                .unwrap()
                .len(),
            2
        );
        let proof = log.proof((held != 0 && held != size).then_some((held, size)));
        let update = auditor.update(&cosigned, proof.as_ref()).unwrap();
        let expected = match held {
            0 => Update::First,
            h if h == size => Update::Unchanged,
            h => Update::Advanced {
                from: log.head_at(h),
            },
        };
        assert_eq!(update, expected, "size {size}");
        // Without our cosignature their auditor refuses it.
        assert!(auditor.update(&log.checkpoint_at(size), None).is_err());
        held = size;
    }

    // A log that lost track (old 0): our 409 must be a size their session
    // reads (`text/x.tlog.size`), and its retry carries the proof.
    log.grow_to("sale", 300);
    let (result, statuses) = pair.session(&log, &witness, 300, 0, None);
    assert_eq!(statuses, [409, 200]);
    assert!(
        matches!(
            result,
            Ok(Next::Cosigned {
                witness_size: 300,
                ..
            })
        ),
        "{result:?}"
    );
    held = 300;

    // A fork of their log (same key, other entries) at the size we hold:
    // we answer 409 with that size each time (tlog-witness); their session
    // retries and gives up after three. Their twin answers 422.
    let mut fork = TheirLog::new(3, "rewritten", 300);
    let (result, statuses) = pair.session(&fork, &witness, 300, held, Some(422));
    assert_eq!(statuses, [409, 409, 409]);
    assert!(
        matches!(
            &result,
            Err(de::Error::Witness(de::WitnessError::TooManyConflicts { sizes })) if sizes == &[300, 300, 300]
        ),
        "{result:?}"
    );
    // Larger, with the fork's proof: 422 from both.
    fork.grow_to("rewritten", 310);
    let (result, statuses) = pair.session(&fork, &witness, 310, held, None);
    assert_eq!(statuses, [422]);
    assert!(
        matches!(
            result,
            Err(de::Error::Witness(de::WitnessError::Unprocessable))
        ),
        "{result:?}"
    );
    // Another key for their origin: 403 from both.
    let mut impostor = TheirLog::new(4, "sale", 310);
    impostor.grow_to("sale", 310);
    let (result, statuses) = pair.session(&impostor, &witness, 310, held, None);
    assert_eq!(statuses, [403]);
    assert!(
        matches!(result, Err(de::Error::Witness(de::WitnessError::Forbidden))),
        "{result:?}"
    );

    // We still hold the honest 300 and move on to 310 with their proof.
    log.grow_to("sale", 310);
    let (result, statuses) = pair.session(&log, &witness, 310, held, None);
    assert_eq!(statuses, [200]);
    let Ok(Next::Cosigned { cosignature, .. }) = result else {
        panic!("{result:?}");
    };
    let cosigned = log
        .checkpoint_at(310)
        .with_cosignature(&cosignature)
        .unwrap();
    let proof = log.tree.consistency_proof(300, 310).unwrap();
    // Their auditor trusted 257; it needs 257 → 310.
    assert!(auditor.update(&cosigned, Some(&proof)).is_err());
    let proof = log.tree.consistency_proof(257, 310).unwrap();
    assert_eq!(
        auditor.update(&cosigned, Some(&proof)).unwrap(),
        Update::Advanced {
            from: log.head_at(257)
        }
    );
    pair.ours.stop();
}
