//! A client of the vault's audit log (docs/log.md §What clients store):
//! keeps the last checkpoint it accepted and moves forward only along
//! consistency proofs, so a rewritten or dropped entry, a rollback or a
//! fork between clients is caught. Custodians, requesters and auditors
//! use it. Where the checkpoint is kept is the caller's
//! ([`CheckpointStore`]): a file for the CLI, memory for a benchmark.

use std::sync::Mutex;

use obhut_api::log::ProofResponse;
use obhut_log::{Hash, TrustedLog, TrustedState, VerifierKey, WitnessPolicy};

use crate::error::{Endpoint, Error, Result};
use crate::reader::get_plain;

/// Where a client keeps the last checkpoint it accepted.
pub trait CheckpointStore: Send + Sync {
    /// The stored checkpoint's bytes, if any.
    fn load(&self) -> Result<Option<Vec<u8>>>;
    /// Replace the stored checkpoint; durable when this returns.
    fn save(&self, checkpoint: &[u8]) -> Result<()>;
    /// Where it is, for messages (a path).
    fn describe(&self) -> String;
}

/// A checkpoint kept in memory (a benchmark, a test, a short-lived client).
#[derive(Debug, Default)]
pub struct MemoryCheckpoint(Mutex<Option<Vec<u8>>>);

impl CheckpointStore for MemoryCheckpoint {
    fn load(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.0.lock().map_or(None, |s| s.clone()))
    }
    fn save(&self, checkpoint: &[u8]) -> Result<()> {
        if let Ok(mut s) = self.0.lock() {
            *s = Some(checkpoint.to_vec());
        }
        Ok(())
    }
    fn describe(&self) -> String {
        "(in memory)".into()
    }
}

/// One log as this client trusts it, and where its state lives.
pub struct LogClient {
    base: String,
    trusted: TrustedLog,
    store: Box<dyn CheckpointStore>,
}

impl std::fmt::Debug for LogClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogClient")
            .field("base", &self.base)
            .field("store", &self.store.describe())
            .finish_non_exhaustive()
    }
}

/// Which RFC 9162 proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// Of the entry at an index, in a tree of a size.
    Inclusion,
    /// From an older tree size to a newer one.
    Consistency,
}

impl LogClient {
    /// A client of the log at `base_url` whose checkpoints `log_key`
    /// signs (its name is the origin), with `policy` for witnesses.
    pub fn new(
        base_url: &str,
        log_key: VerifierKey,
        policy: WitnessPolicy,
        store: Box<dyn CheckpointStore>,
    ) -> Self {
        let origin = log_key.name().to_owned();
        LogClient {
            base: base_url.trim_end_matches('/').to_owned(),
            trusted: TrustedLog::new(&origin, log_key, policy),
            store,
        }
    }

    /// The identity a person's requests to this log's vault are signed
    /// for ([`crate::reader::vault_identity`] of the pinned log key).
    pub fn vault_identity(&self) -> [u8; 32] {
        crate::reader::vault_identity(self.trusted.log_key())
    }

    /// Where the state is kept.
    pub fn store(&self) -> &dyn CheckpointStore {
        &*self.store
    }

    fn get(&self, path: &str) -> Result<String> {
        let (status, body) = get_plain(&format!("{}{path}", self.base))?;
        if status != 200 {
            return Err(Error::Status {
                endpoint: Endpoint::Log,
                target: path.into(),
                status,
                body: Some(body.trim().to_owned()),
            });
        }
        Ok(body)
    }

    /// The stored state, re-verified (a state edited by hand is refused,
    /// not trusted).
    pub fn load_state(&self) -> Result<Option<TrustedState>> {
        let Some(bytes) = self.store.load()? else {
            return Ok(None);
        };
        let sc =
            self.trusted
                .verify_checkpoint(&bytes)
                .map_err(|failure| Error::StoredCheckpoint {
                    store: self.store.describe(),
                    failure: Box::new(failure),
                })?;
        Ok(Some(TrustedState {
            size: sc.checkpoint.size,
            root: sc.checkpoint.root,
            checkpoint: bytes,
        }))
    }

    /// An RFC 9162 proof from the vault: inclusion of entry `index`, or
    /// consistency from size `index`, in the tree of `size`.
    pub fn proof(&self, kind: Proof, index: u64, size: u64) -> Result<Vec<Hash>> {
        let path = match kind {
            Proof::Inclusion => format!("/v1/log/proof/inclusion?index={index}&size={size}"),
            Proof::Consistency => format!("/v1/log/proof/consistency?old={index}&size={size}"),
        };
        let body = self.get(&path)?;
        let p: ProofResponse = serde_json::from_str(&body).map_err(|e| Error::Json {
            method: "GET".into(),
            target: path.clone(),
            source: e,
        })?;
        p.proof
            .iter()
            .map(|h| Hash::from_base64(h).ok_or_else(|| Error::ProofHash { path: path.clone() }))
            .collect()
    }

    /// Fetch the vault's latest checkpoint and accept it only if it is
    /// signed by the pinned key (and enough witnesses) and consistent with
    /// the stored one; store it. Returns (previous, new).
    pub fn update(&self) -> Result<(Option<TrustedState>, TrustedState)> {
        let prev = self.load_state()?;
        let note = self.get("/v1/log/checkpoint")?;
        let attack = |failure, prev: Option<&TrustedState>| Error::LogCheck {
            failure: Box::new(failure),
            stored: prev.map(|p| p.checkpoint.clone()),
            presented: note.clone(),
        };
        let sc = self
            .trusted
            .verify_checkpoint(note.as_bytes())
            .map_err(|e| attack(e, None))?;
        let proof = match &prev {
            Some(p) if p.size > 0 && p.size < sc.checkpoint.size => {
                self.proof(Proof::Consistency, p.size, sc.checkpoint.size)?
            }
            _ => Vec::new(),
        };
        let next = self
            .trusted
            .update(prev.as_ref(), note.as_bytes(), &proof)
            .map_err(|e| attack(e, prev.as_ref()))?;
        self.store.save(&next.checkpoint)?;
        Ok((prev, next))
    }
}
