//! Client-side log state: what a custodian, requester, auditor or witness
//! remembers about a log, and the checks that move it forward.
//!
//! docs/threat-model.md P3 ("No secret access"): a custodian's client refuses
//! to release "unless it has verified the request's inclusion in the log
//! against a checkpoint consistent with every checkpoint it has seen
//! before". Every checkpoint a client accepts passes [`TrustedLog::update`]
//! from the last one it stored, so by induction it is consistent with all
//! earlier ones; [`TrustedState::verify_inclusion`] then checks entries
//! against it.
//!
//! State transitions (the only ones): `None -> S(n, r)` on a first verified
//! checkpoint (trust on first use, or a state shipped with the client);
//! `S(n, r) -> S(n', r')` iff `n' >= n` and a consistency proof from
//! `(n, r)` to `(n', r')` verifies (RFC 9162 §2.1.4.2); for `n' == n`
//! only if `r' == r`. Anything else is an error and the state is unchanged.

use crate::checkpoint::{CheckpointError, SignedCheckpoint};
use crate::hash::{Hash, leaf_hash};
use crate::note::{ALG_COSIGNATURE_V1, Note, NoteError, VerifierKey};
use crate::verify::{ProofError, verify_consistency, verify_inclusion};

/// A checkpoint or proof was refused. Each variant is an attack or a fault
/// the caller can name to a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The checkpoint is malformed, or a trusted key's signature on it is
    /// invalid (a forged signature or cosignature).
    #[error("checkpoint refused: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// No valid signature by the log's key: signed by another key, or
    /// unsigned.
    #[error("checkpoint is not signed by the log key {key}")]
    NotSignedByLog {
        /// The vkey we trust.
        key: String,
    },
    /// The checkpoint is for another log.
    #[error("checkpoint origin {got:?} is not this log ({expected:?})")]
    WrongOrigin {
        /// Our log's origin.
        expected: String,
        /// What the checkpoint says.
        got: String,
    },
    /// The log offers a smaller tree than one we already saw.
    #[error("rollback: log shows size {offered} after we saw size {seen}")]
    Rollback {
        /// Size we stored.
        seen: u64,
        /// Size offered now.
        offered: u64,
    },
    /// Two different roots signed for one size: the log forked.
    #[error("fork: two different roots signed for tree size {size} ({seen} and {offered})")]
    Fork {
        /// The size.
        size: u64,
        /// Root we stored.
        seen: Hash,
        /// Root offered.
        offered: Hash,
    },
    /// The new checkpoint is not shown consistent with the one we stored:
    /// a fork, a rewritten or dropped entry, or a bad proof.
    #[error("checkpoint of size {new} is not consistent with the one of size {old} we saw")]
    Inconsistent {
        /// Size we stored.
        old: u64,
        /// Size offered.
        new: u64,
        /// Why the proof failed.
        #[source]
        cause: ProofError,
    },
    /// A cosignature line naming a trusted witness (name and key ID) that
    /// does not verify: forged, altered or moved from another checkpoint.
    #[error("invalid cosignature claiming trusted witness {name}+{key_id:08x}")]
    InvalidCosignature {
        /// Witness name.
        name: String,
        /// Witness key ID.
        key_id: u32,
    },
    /// Fewer trusted witness cosignatures than the policy requires.
    #[error("{got} of the required {need} witness cosignatures")]
    NotEnoughWitnesses {
        /// Required.
        need: usize,
        /// Valid ones found.
        got: usize,
    },
    /// An entry's inclusion proof failed.
    #[error("entry {index} is not proven in the tree of size {size}")]
    NotIncluded {
        /// Entry index.
        index: u64,
        /// Tree size.
        size: u64,
        /// Why.
        #[source]
        cause: ProofError,
    },
    /// A witness policy that cannot be met or holds a non-cosigner key.
    #[error("invalid witness policy: {reason}")]
    BadPolicy {
        /// What is wrong.
        reason: &'static str,
    },
}

/// "Clients can require N witness cosignatures on a checkpoint": at least
/// `threshold` of `witnesses` (tlog-cosignature v1 keys, type 0x04) must
/// have cosigned. A witness that signed twice counts once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessPolicy {
    witnesses: Vec<VerifierKey>,
    threshold: usize,
}

impl WitnessPolicy {
    /// No witnesses required (development; tests).
    pub fn none() -> Self {
        WitnessPolicy {
            witnesses: Vec::new(),
            threshold: 0,
        }
    }

    /// `threshold` of `witnesses`. Every key must be a cosignature key and
    /// keys must be distinct; `threshold` must be reachable.
    pub fn new(witnesses: Vec<VerifierKey>, threshold: usize) -> Result<Self, ClientError> {
        if witnesses.iter().any(|w| w.alg() != ALG_COSIGNATURE_V1) {
            return Err(ClientError::BadPolicy {
                reason: "witness key is not a cosignature/v1 (0x04) key",
            });
        }
        for (i, a) in witnesses.iter().enumerate() {
            if witnesses[..i].iter().any(|b| {
                (b.name() == a.name() && b.key_id() == a.key_id())
                    || b.public_key() == a.public_key()
            }) {
                return Err(ClientError::BadPolicy {
                    reason: "the same witness is listed twice",
                });
            }
        }
        if threshold > witnesses.len() {
            return Err(ClientError::BadPolicy {
                reason: "threshold larger than the number of witnesses",
            });
        }
        Ok(WitnessPolicy {
            witnesses,
            threshold,
        })
    }

    /// The witness keys.
    pub fn witnesses(&self) -> &[VerifierKey] {
        &self.witnesses
    }

    /// Required number of cosignatures.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// Checks `note`'s cosignatures; returns the names of the witnesses
    /// whose cosignatures verified. A cosignature line naming a trusted
    /// witness (name and key ID) that does not verify is a forgery and
    /// rejects the note.
    pub fn check(&self, note: &Note) -> Result<Vec<String>, ClientError> {
        if self.witnesses.is_empty() {
            return Ok(Vec::new());
        }
        let verified = match note.verify(&self.witnesses) {
            Ok(v) => v,
            Err(NoteError::NoTrustedSignature) => Vec::new(),
            Err(NoteError::InvalidSignature { name, key_id }) => {
                return Err(ClientError::InvalidCosignature { name, key_id });
            }
            Err(e) => return Err(CheckpointError::Note(e).into()),
        };
        if verified.len() < self.threshold {
            return Err(ClientError::NotEnoughWitnesses {
                need: self.threshold,
                got: verified.len(),
            });
        }
        Ok(verified.into_iter().map(|v| v.name).collect())
    }
}

/// What a client stores per log: the last checkpoint it accepted, raw, so
/// it can show it as evidence (two signed checkpoints that are not
/// consistent prove the log misbehaved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedState {
    /// Tree size.
    pub size: u64,
    /// Root hash at that size.
    pub root: Hash,
    /// The signed checkpoint as received (all signature lines).
    pub checkpoint: Vec<u8>,
}

impl TrustedState {
    /// Checks that `entry` is at `index` in this state's tree (RFC 9162
    /// §2.1.3.2): the custodian's check before approving a request.
    pub fn verify_inclusion(
        &self,
        entry: &[u8],
        index: u64,
        proof: &[Hash],
    ) -> Result<(), ClientError> {
        self.verify_leaf_inclusion(&leaf_hash(entry), index, proof)
    }

    /// As [`TrustedState::verify_inclusion`], for a leaf hash.
    pub fn verify_leaf_inclusion(
        &self,
        leaf: &Hash,
        index: u64,
        proof: &[Hash],
    ) -> Result<(), ClientError> {
        verify_inclusion(leaf, index, self.size, proof, &self.root).map_err(|cause| {
            ClientError::NotIncluded {
                index,
                size: self.size,
                cause,
            }
        })
    }
}

/// A log as a client trusts it: origin, log key, witness policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedLog {
    origin: String,
    log_key: VerifierKey,
    policy: WitnessPolicy,
}

impl TrustedLog {
    /// A log with origin `origin`, checkpoints signed by `log_key` (an
    /// Ed25519 note key) and cosigned per `policy`.
    pub fn new(origin: &str, log_key: VerifierKey, policy: WitnessPolicy) -> Self {
        TrustedLog {
            origin: origin.into(),
            log_key,
            policy,
        }
    }

    /// The origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log's verifier key.
    pub fn log_key(&self) -> &VerifierKey {
        &self.log_key
    }

    /// The witness policy.
    pub fn policy(&self) -> &WitnessPolicy {
        &self.policy
    }

    /// Verifies a signed checkpoint on its own: the log's signature, the
    /// origin, the witness policy. Says nothing about consistency.
    pub fn verify_checkpoint(&self, msg: &[u8]) -> Result<SignedCheckpoint, ClientError> {
        let sc = match SignedCheckpoint::open(msg, &self.log_key) {
            Ok(sc) => sc,
            Err(CheckpointError::Note(NoteError::NoTrustedSignature)) => {
                return Err(ClientError::NotSignedByLog {
                    key: self.log_key.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        if sc.checkpoint.origin != self.origin {
            return Err(ClientError::WrongOrigin {
                expected: self.origin.clone(),
                got: sc.checkpoint.origin.clone(),
            });
        }
        self.policy.check(&sc.note)?;
        Ok(sc)
    }

    /// Moves from the stored state `prev` (or none: first contact) to the
    /// signed checkpoint `msg`, given a consistency proof from `prev.size`
    /// to the new size. Returns the state to store; on error the caller
    /// keeps `prev`.
    pub fn update(
        &self,
        prev: Option<&TrustedState>,
        msg: &[u8],
        consistency: &[Hash],
    ) -> Result<TrustedState, ClientError> {
        let sc = self.verify_checkpoint(msg)?;
        let (size, root) = (sc.checkpoint.size, sc.checkpoint.root);
        if let Some(prev) = prev {
            check_consistent(prev.size, &prev.root, size, &root, consistency)?;
        }
        Ok(TrustedState {
            size,
            root,
            checkpoint: sc.to_bytes(),
        })
    }
}

/// The transition rule between two views `(old_size, old_root)` and
/// `(new_size, new_root)`, with typed attack errors. Also used to compare
/// two clients' views (gossip): order them by size and pass the proof.
pub fn check_consistent(
    old_size: u64,
    old_root: &Hash,
    new_size: u64,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ClientError> {
    if new_size < old_size {
        return Err(ClientError::Rollback {
            seen: old_size,
            offered: new_size,
        });
    }
    if new_size == old_size && new_root != old_root {
        return Err(ClientError::Fork {
            size: new_size,
            seen: *old_root,
            offered: *new_root,
        });
    }
    verify_consistency(old_size, new_size, old_root, new_root, proof).map_err(|cause| {
        ClientError::Inconsistent {
            old: old_size,
            new: new_size,
            cause,
        }
    })
}
