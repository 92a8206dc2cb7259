//! One `add-checkpoint` request, end to end: parse, decide, persist, answer.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use obhut_log::witness::{AddCheckpoint, Cosigned, WitnessError, WitnessedLog};
use obhut_log::{Checkpoint, CosignatureSigner, Hash, Note, VerifierKey};

use crate::config::WitnessConfig;
use crate::state::{Latest, StateError, WitnessState};

/// The time cosignatures carry, injected so tests can pin it.
pub trait Clock: Send + Sync {
    /// POSIX seconds.
    fn now_secs(&self) -> u64;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_secs(&self) -> u64 {
        // A clock before 1970 yields 0, which `add_checkpoint` refuses.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// Why a request was not cosigned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// The protocol's refusal (400, 403, 404, 409, 422).
    #[error(transparent)]
    Rejected(#[from] WitnessError),
    /// The state could not be stored, or an earlier store failed (500).
    #[error("witness state: {0}")]
    State(#[from] StateError),
    /// The clock gave 0: tlog-witness "the timestamp MUST NOT be zero"
    /// (500).
    #[error("the system clock reads 1970-01-01 or earlier; cannot timestamp a cosignature")]
    Clock,
}

impl AddError {
    /// The HTTP status tlog-witness prescribes (500 for local faults).
    pub fn http_status(&self) -> u16 {
        match self {
            AddError::Rejected(e) => e.http_status(),
            AddError::State(_) | AddError::Clock => 500,
        }
    }

    /// For a 409, the size of the latest cosigned checkpoint (the response
    /// body tlog-witness requires).
    pub fn conflict_size(&self) -> Option<u64> {
        match self {
            AddError::Rejected(WitnessError::Conflict { latest_size }) => Some(*latest_size),
            _ => None,
        }
    }
}

/// The outcome of the atomic step, each side with the latest checkpoint the
/// state held for the origin before it.
type Decided = Result<(Cosigned, Option<Latest>), (AddError, Option<Latest>)>;

/// A running witness: the logs it follows, its key, its state.
pub struct Witness {
    logs: Vec<WitnessedLog>,
    signer: CosignatureSigner,
    clock: Box<dyn Clock>,
    // tlog-witness: "checking the old size against the latest checkpoint
    // and persisting the new checkpoint must be performed atomically". One
    // mutex for all origins: a store is one small fsync'd file, and
    // correctness beats per-origin parallelism here.
    state: Mutex<WitnessState>,
    // Mirrors a failed store outside the mutex, so `/healthz` never waits
    // behind an fsync.
    failed: AtomicBool,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("vkey", self.signer.verifier_key())
            .field("logs", &self.logs.len())
            .finish_non_exhaustive()
    }
}

/// What the log line of a request can say about it, read before deciding
/// (the decision's errors do not carry it).
struct Summary {
    origin: Option<String>,
    size: Option<u64>,
}

fn summarize(req: &AddCheckpoint) -> Summary {
    let cp = Note::parse(&req.checkpoint)
        .ok()
        .and_then(|n| Checkpoint::parse_text(n.text()).ok());
    Summary {
        origin: cp.as_ref().map(|c| c.origin.clone()),
        size: cp.map(|c| c.size),
    }
}

impl Witness {
    /// A witness following `config`'s logs, cosigning with `signer`, over
    /// opened `state`.
    pub fn new(
        config: WitnessConfig,
        signer: CosignatureSigner,
        state: WitnessState,
        clock: Box<dyn Clock>,
    ) -> Self {
        Witness {
            logs: config.logs,
            signer,
            clock,
            state: Mutex::new(state),
            failed: AtomicBool::new(false),
        }
    }

    /// [`Witness::new`] over the state of the witness directory `dir`,
    /// opened (and locked, [`WitnessState::open`]) here; logs what it
    /// cosigned last and which logs it follows.
    pub fn open(
        dir: &std::path::Path,
        config: WitnessConfig,
        signer: CosignatureSigner,
        clock: Box<dyn Clock>,
    ) -> Result<Self, StateError> {
        let state = WitnessState::open(dir)?;
        for (origin, latest) in state.all() {
            tracing::info!(origin = %origin, size = latest.size, "latest cosigned checkpoint");
        }
        for log in &config.logs {
            tracing::info!(origin = %log.origin, keys = log.keys.len(), "following log");
        }
        Ok(Witness::new(config, signer, state, clock))
    }

    /// The witness's vkey (type 0x04), which clients pin.
    pub fn verifier_key(&self) -> &VerifierKey {
        self.signer.verifier_key()
    }

    /// False once a store has failed (or a thread panicked while deciding):
    /// the witness refuses to cosign until restarted.
    pub fn is_healthy(&self) -> bool {
        !self.failed.load(Ordering::Relaxed)
    }

    /// The latest cosigned checkpoint for `origin`.
    pub fn latest(&self, origin: &str) -> Option<Latest> {
        self.state.lock().ok()?.latest(origin)
    }

    /// Handles one `add-checkpoint` body: on success the new checkpoint is
    /// durable and the cosignature can be returned. Blocks on an fsync;
    /// call it from a blocking thread.
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<Cosigned, AddError> {
        let req = match AddCheckpoint::parse(body) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(status = e.http_status(), error = %e, "add-checkpoint refused");
                return Err(e.into());
            }
        };
        let summary = summarize(&req);
        let now = self.clock.now_secs();
        let result = self.decide_and_store(&req, now);
        if let Err((AddError::State(_), _)) = &result {
            self.failed.store(true, Ordering::Relaxed);
        }
        let origin = summary.origin.as_deref().unwrap_or("");
        match &result {
            Ok((c, _)) => {
                tracing::info!(origin, old_size = req.old_size, size = c.size, "cosigned")
            }
            Err((e, latest)) => {
                let status = e.http_status();
                let latest_size = latest.map(|l| l.size);
                // A validly signed checkpoint that does not extend what we
                // cosigned may be proof that the log forked ("the witness
                // MAY log the request even if the consistency proof doesn't
                // verify"): keep it, it is public data.
                let fork = match e {
                    AddError::Rejected(WitnessError::BadProof) => true,
                    AddError::Rejected(WitnessError::Conflict { latest_size }) => {
                        req.old_size == *latest_size
                    }
                    _ => false,
                };
                if fork {
                    tracing::warn!(
                        origin,
                        status,
                        old_size = req.old_size,
                        size = summary.size,
                        latest_size,
                        checkpoint = %String::from_utf8_lossy(&req.checkpoint),
                        error = %e,
                        "refused a signed checkpoint inconsistent with the latest cosigned one"
                    );
                } else if status >= 500 {
                    tracing::error!(origin, status, error = %e, "add-checkpoint failed");
                } else {
                    tracing::info!(
                        origin,
                        status,
                        old_size = req.old_size,
                        size = summary.size,
                        latest_size,
                        error = %e,
                        "add-checkpoint refused"
                    );
                }
            }
        }
        result.map(|(c, _)| c).map_err(|(e, _)| e)
    }

    /// The atomic step. Returns, with an error, what the state held (for
    /// the log line).
    fn decide_and_store(&self, req: &AddCheckpoint, now: u64) -> Decided {
        if now == 0 {
            return Err((AddError::Clock, None));
        }
        // A poisoned mutex means a panic between check and store; the
        // in-memory state cannot be trusted, so refuse like a failed store.
        let mut state = self
            .state
            .lock()
            .map_err(|_| (AddError::State(StateError::Failed), None))?;
        if !state.is_healthy() {
            return Err((AddError::State(StateError::Failed), None));
        }
        let mut seen: Option<Latest> = None;
        let decided = obhut_log::witness::add_checkpoint(
            &self.logs,
            |origin| {
                seen = state.latest(origin);
                seen.map(|l| (l.size, l.root))
            },
            req,
            &self.signer,
            now,
        );
        let cosigned = decided.map_err(|e| (AddError::from(e), seen))?;
        let latest = Latest {
            size: cosigned.size,
            root: cosigned.root,
        };
        state
            .store(&cosigned.origin, latest, &req.checkpoint)
            .map_err(|e| (AddError::from(e), seen))?;
        Ok((cosigned, seen))
    }
}

/// The `add-checkpoint` request body a log sends to a witness: `old_size`
/// (the size the witness last cosigned, 0 at first), the consistency proof
/// from it, and the signed checkpoint note.
pub fn request_body(old_size: u64, proof: &[Hash], checkpoint_note: &[u8]) -> Vec<u8> {
    AddCheckpoint {
        old_size,
        proof: proof.to_vec(),
        checkpoint: checkpoint_note.to_vec(),
    }
    .to_bytes()
}
