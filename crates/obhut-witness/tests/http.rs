//! The witness over real HTTP on loopback, played against by a log that
//! tries every way to get a second history cosigned (C2SP tlog-witness
//! `add-checkpoint`). Each test fails if the property it names breaks.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use obhut_log::note::ALG_COSIGNATURE_V1;
use obhut_log::{Checkpoint, MemoryTree, Note, NoteSigner, VerifierKey};
use obhut_witness::{
    Clock, MAX_BODY_BYTES, Witness, WitnessConfig, WitnessState, key, request_body,
};

const ORIGIN: &str = "obhut.example/vault-3f2a9c";
const NOW: u64 = 1_767_225_600;

struct FixedClock;
impl Clock for FixedClock {
    fn now_secs(&self) -> u64 {
        NOW
    }
}

/// A log: its tree and its checkpoint key. Two `Log`s with the same key
/// and different entries are a forked log.
struct Log {
    tree: MemoryTree,
    key: NoteSigner,
}

impl Log {
    fn new(seed: u8, entries: &str, n: u64) -> Log {
        let mut log = Log {
            tree: MemoryTree::new(),
            key: NoteSigner::from_seed(ORIGIN, &[seed; 32]).unwrap(),
        };
        log.grow(entries, n);
        log
    }

    fn grow(&mut self, entries: &str, n: u64) {
        for _ in 0..n {
            let i = self.tree.size();
            self.tree.append_entry(format!("{entries} {i}").as_bytes());
        }
    }

    /// The signed checkpoint of the tree's first `size` leaves.
    fn checkpoint_at(&self, size: u64) -> Vec<u8> {
        self.sign_as(&self.key, size)
    }

    fn sign_as(&self, key: &NoteSigner, size: u64) -> Vec<u8> {
        let root = self.tree.root_at(size).unwrap();
        Checkpoint::new(ORIGIN, size, root)
            .unwrap()
            .sign(key)
            .unwrap()
            .to_bytes()
    }

    /// The `add-checkpoint` body from `old` to `new`, with the proof.
    fn body(&self, old: u64, new: u64) -> Vec<u8> {
        let proof = if old == 0 {
            Vec::new()
        } else {
            self.tree.consistency_proof(old, new).unwrap()
        };
        request_body(old, &proof, &self.checkpoint_at(new))
    }
}

fn config_for(logs: &[(&str, &NoteSigner)]) -> WitnessConfig {
    let mut text = String::new();
    for (origin, key) in logs {
        text.push_str(&format!(
            "[[log]]\norigin = \"{origin}\"\nvkey = \"{}\"\n",
            key.verifier_key()
        ));
    }
    WitnessConfig::from_toml(&text).unwrap()
}

/// A witness process: its runtime, address and shutdown switch.
struct Running {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    vkey: VerifierKey,
}

fn start(dir: &Path, log_key: &NoteSigner) -> Running {
    let signer = if dir.join(key::KEY_FILE).exists() {
        key::load(dir).unwrap()
    } else {
        key::init(dir, "dpo.example/witness").unwrap()
    };
    let vkey = signer.verifier_key().clone();
    let state = WitnessState::open(dir).unwrap();
    let witness = Arc::new(Witness::new(
        config_for(&[(ORIGIN, log_key)]),
        signer,
        state,
        Box::new(FixedClock),
    ));
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
    Running {
        rt,
        addr,
        stop: Some(tx),
        served: Some(served),
        vkey,
    }
}

impl Running {
    /// Stops serving and waits until the witness (and its directory lock)
    /// is gone, as a process exit would.
    fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(served) = self.served.take() {
            self.rt.block_on(served).unwrap().unwrap();
        }
    }

    fn post(&self, body: &[u8]) -> Reply {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent
            .post(format!("http://{}/add-checkpoint", self.addr))
            .header("content-type", "text/plain")
            .send(body)
            .unwrap();
        Reply {
            status: r.status().as_u16(),
            content_type: r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            body: r.body_mut().read_to_string().unwrap(),
        }
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Reply {
    /// tlog-witness 409: our latest size, decimal and a newline, typed.
    fn assert_conflict(&self, latest: u64) {
        assert_eq!(self.status, 409, "{self:?}");
        assert_eq!(self.content_type, "text/x.tlog.size", "{self:?}");
        assert_eq!(self.body, format!("{latest}\n"), "{self:?}");
    }
}

/// Checks a 200 the way a client does: append the signature lines to the
/// checkpoint and verify with the witness's vkey only.
fn assert_cosigned(reply: &Reply, checkpoint: &[u8], vkey: &VerifierKey) {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.content_type.starts_with("text/plain"), "{reply:?}");
    assert!(reply.body.starts_with('\u{2014}') && reply.body.ends_with('\n'));
    let mut cosigned = checkpoint.to_vec();
    cosigned.extend_from_slice(reply.body.as_bytes());
    let note = Note::parse(&cosigned).unwrap();
    let v = note.verify(std::slice::from_ref(vkey)).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].alg, ALG_COSIGNATURE_V1);
    assert_eq!(v[0].timestamp, Some(NOW));
}

fn witness_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn first_checkpoint_is_cosigned_by_the_witness_key() {
    let dir = witness_dir();
    let log = Log::new(1, "honest", 3);
    let w = start(dir.path(), &log.key);
    let r = w.post(&log.body(0, 3));
    assert_cosigned(&r, &log.checkpoint_at(3), &w.vkey);
    // The lines are ours, not any key's: another witness key rejects them.
    let other = key::init(&dir.path().join("other"), "dpo.example/witness")
        .unwrap()
        .verifier_key()
        .clone();
    let mut note = log.checkpoint_at(3);
    note.extend_from_slice(r.body.as_bytes());
    assert!(Note::parse(&note).unwrap().verify(&[other]).is_err());
    w.stop();
}

#[test]
fn consistent_growth_is_cosigned_and_same_checkpoint_again_too() {
    let dir = witness_dir();
    let mut log = Log::new(1, "honest", 3);
    let w = start(dir.path(), &log.key);
    assert_eq!(w.post(&log.body(0, 3)).status, 200);
    log.grow("honest", 4);
    assert_cosigned(&w.post(&log.body(3, 7)), &log.checkpoint_at(7), &w.vkey);
    // Resubmitting the latest checkpoint (old = size, same root) is fine.
    assert_cosigned(&w.post(&log.body(7, 7)), &log.checkpoint_at(7), &w.vkey);
    w.stop();
}

#[test]
fn stale_old_size_after_growth_is_409_with_the_latest_size() {
    let dir = witness_dir();
    let mut log = Log::new(1, "honest", 3);
    let w = start(dir.path(), &log.key);
    assert_eq!(w.post(&log.body(0, 3)).status, 200);
    log.grow("honest", 6);
    assert_eq!(w.post(&log.body(3, 9)).status, 200);
    // Replaying the old request, and a rollback to size 5 from the same
    // old size, and starting over from zero: all get our latest size.
    w.post(&log.body(3, 9)).assert_conflict(9);
    w.post(&log.body(3, 5)).assert_conflict(9);
    w.post(&log.body(0, 3)).assert_conflict(9);
    w.stop();
}

#[test]
fn fork_at_the_same_size_is_409() {
    let dir = witness_dir();
    let honest = Log::new(1, "honest", 7);
    let forked = Log::new(1, "forked", 7);
    let w = start(dir.path(), &honest.key);
    assert_eq!(w.post(&honest.body(0, 7)).status, 200);
    // Same key, same size, another root.
    w.post(&forked.body(7, 7)).assert_conflict(7);
    w.stop();
}

#[test]
fn fork_at_a_larger_size_is_422_and_leaves_the_state_alone() {
    let dir = witness_dir();
    let mut honest = Log::new(1, "honest", 7);
    let forked = Log::new(1, "forked", 12);
    let w = start(dir.path(), &honest.key);
    assert_eq!(w.post(&honest.body(0, 7)).status, 200);
    // The forked log's own proof 7 → 12 starts from its own root at 7.
    assert_eq!(w.post(&forked.body(7, 12)).status, 422);
    // With no proof at all.
    let r = w.post(&request_body(7, &[], &forked.checkpoint_at(12)));
    assert_eq!(r.status, 422, "{r:?}");
    // With the honest log's proof for that size: the roots differ.
    honest.grow("honest", 5);
    let proof = honest.tree.consistency_proof(7, 12).unwrap();
    let r = w.post(&request_body(7, &proof, &forked.checkpoint_at(12)));
    assert_eq!(r.status, 422, "{r:?}");
    // Nothing was stored: the honest log still extends from 7.
    assert_cosigned(
        &w.post(&honest.body(7, 12)),
        &honest.checkpoint_at(12),
        &w.vkey,
    );
    w.stop();
}

#[test]
fn checkpoint_signed_by_another_key_is_403() {
    let dir = witness_dir();
    let log = Log::new(1, "honest", 3);
    let w = start(dir.path(), &log.key);
    // Another key under the log's name (a different key ID), and a
    // signature line claiming the log's key that does not verify.
    let impostor = NoteSigner::from_seed(ORIGIN, &[2; 32]).unwrap();
    let r = w.post(&request_body(0, &[], &log.sign_as(&impostor, 3)));
    assert_eq!(r.status, 403, "{r:?}");
    let mut tampered = log.checkpoint_at(3);
    let sig_at = tampered.len() - 10;
    tampered[sig_at] = if tampered[sig_at] == b'A' { b'B' } else { b'A' };
    let r = w.post(&request_body(0, &[], &tampered));
    assert_eq!(r.status, 403, "{r:?}");
    // And nothing was stored by either.
    assert_eq!(w.post(&log.body(0, 3)).status, 200);
    w.stop();
}

#[test]
fn unknown_origin_is_404() {
    let dir = witness_dir();
    let log = Log::new(1, "honest", 3);
    let w = start(dir.path(), &log.key);
    let stranger = NoteSigner::from_seed("elsewhere.example/log", &[1; 32]).unwrap();
    let cp = Checkpoint::new("elsewhere.example/log", 3, log.tree.root())
        .unwrap()
        .sign(&stranger)
        .unwrap()
        .to_bytes();
    let r = w.post(&request_body(0, &[], &cp));
    assert_eq!(r.status, 404, "{r:?}");
    w.stop();
}

#[test]
fn old_size_above_the_checkpoint_is_400() {
    let dir = witness_dir();
    let log = Log::new(1, "honest", 3);
    let w = start(dir.path(), &log.key);
    let r = w.post(&request_body(4, &[], &log.checkpoint_at(3)));
    assert_eq!(r.status, 400, "{r:?}");
    w.stop();
}

#[test]
fn garbage_is_400_and_oversized_is_413() {
    let dir = witness_dir();
    let log = Log::new(1, "honest", 3);
    let w = start(dir.path(), &log.key);
    for body in [
        &b""[..],
        b"\xff\xfe\x00garbage",
        b"old 0\n\nnot a note\n",
        b"old 01\n\n",
        b"old -1\n\n",
        b"new 0\n\n",
    ] {
        let r = w.post(body);
        assert_eq!(r.status, 400, "{body:?}: {r:?}");
    }
    // A valid request padded past the limit with extra signature-like
    // lines is refused before it is read.
    let mut big = log.body(0, 3);
    big.resize(MAX_BODY_BYTES + 1, b'A');
    let r = w.post(&big);
    assert_eq!(r.status, 413, "{r:?}");
    // Exactly at the limit is read (and then refused as malformed).
    big.truncate(MAX_BODY_BYTES);
    assert_eq!(w.post(&big).status, 400);
    w.stop();
}

#[test]
fn state_survives_a_restart_so_rollback_stays_refused() {
    let dir = witness_dir();
    let mut log = Log::new(1, "honest", 3);
    let w = start(dir.path(), &log.key);
    assert_eq!(w.post(&log.body(0, 3)).status, 200);
    log.grow("honest", 5);
    assert_eq!(w.post(&log.body(3, 8)).status, 200);
    w.stop();

    let w = start(dir.path(), &log.key);
    // A witness that forgot would cosign these (from 0, and from 3).
    w.post(&log.body(0, 3)).assert_conflict(8);
    w.post(&log.body(3, 5)).assert_conflict(8);
    let forked = Log::new(1, "forked", 8);
    w.post(&forked.body(8, 8)).assert_conflict(8);
    log.grow("honest", 2);
    assert_cosigned(&w.post(&log.body(8, 10)), &log.checkpoint_at(10), &w.vkey);
    w.stop();
}

#[test]
fn concurrent_successors_of_one_size_get_one_cosignature() {
    // The spec's race: two requests from the same old size, checked
    // before either is stored, would both be cosigned and the smaller
    // one would roll the state back.
    let dir = witness_dir();
    let log = Log::new(1, "honest", 20);
    let w = start(dir.path(), &log.key);
    assert_eq!(w.post(&log.body(0, 3)).status, 200);
    let replies: Vec<(u64, Reply)> = std::thread::scope(|s| {
        let handles: Vec<_> = (4..=19)
            .map(|size| {
                let (w, log) = (&w, &log);
                s.spawn(move || (size, w.post(&log.body(3, size))))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<u64> = replies
        .iter()
        .filter(|(_, r)| r.status == 200)
        .map(|(size, _)| *size)
        .collect();
    let statuses: Vec<(u64, u16)> = replies.iter().map(|(s, r)| (*s, r.status)).collect();
    assert_eq!(winners.len(), 1, "(size, status): {statuses:?}");
    for (_, r) in &replies {
        if r.status != 200 {
            r.assert_conflict(winners[0]);
        }
    }
    w.stop();
    let state = WitnessState::open(dir.path()).unwrap();
    assert_eq!(state.latest(ORIGIN).map(|l| l.size), Some(winners[0]));
}

#[test]
fn healthz_answers() {
    let dir = witness_dir();
    let log = Log::new(1, "honest", 1);
    let w = start(dir.path(), &log.key);
    let r = ureq::get(format!("http://{}/healthz", w.addr))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert_eq!(r, "ok\n");
    w.stop();
}

#[test]
fn after_a_failed_store_nothing_is_cosigned_until_restart() {
    let dir = witness_dir();
    let mut log = Log::new(1, "honest", 3);
    let w = start(dir.path(), &log.key);
    assert_eq!(w.post(&log.body(0, 3)).status, 200);
    // A directory where the next store's tmp file goes: the write fails.
    let blocker = dir
        .path()
        .join(obhut_witness::state::STATE_DIR)
        .join(format!("{}.tmp", obhut_witness::state::file_name(ORIGIN)));
    std::fs::create_dir(&blocker).unwrap();
    log.grow("honest", 2);
    let r = w.post(&log.body(3, 5));
    assert_eq!(r.status, 500, "{r:?}");
    // The body does not leak paths or OS errors to the client.
    assert_eq!(r.body, "internal error\n");
    let health = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(format!("http://{}/healthz", w.addr))
        .call()
        .unwrap();
    assert_eq!(health.status().as_u16(), 503);
    // Even once the disk is fine again, this process stays refused.
    std::fs::remove_dir(&blocker).unwrap();
    assert_eq!(w.post(&log.body(3, 5)).status, 500);
    w.stop();
    // A restart reloads what is on disk: size 3 was stored, 5 was not.
    let w = start(dir.path(), &log.key);
    assert_cosigned(&w.post(&log.body(3, 5)), &log.checkpoint_at(5), &w.vkey);
    w.stop();
}
