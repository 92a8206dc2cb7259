//! The pure part of a C2SP tlog-witness (<https://c2sp.org/tlog-witness>)
//! cosigner: parsing and encoding `add-checkpoint` request bodies, and the
//! decision a witness takes on one, given the latest checkpoint it cosigned.
//! Storage (which must check-and-update atomically, see the spec's race
//! example) and HTTP belong to `obhut witness`.

use crate::cosignature::{CosignError, CosignatureSigner};
use crate::hash::Hash;
use crate::note::{NoteError, NoteSignature, VerifierKey};
use crate::verify::verify_consistency;

/// "The client MUST NOT send more than 63 consistency proof lines."
pub const MAX_PROOF_LINES: usize = 63;

/// An `add-checkpoint` request body: "an old size line, zero or more
/// consistency proof lines, and an empty line, followed by a checkpoint."
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// Size of the previous checkpoint the client believes the witness has.
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint, as a note.
    pub checkpoint: Vec<u8>,
}

/// Why a witness refuses a request; [`WitnessError::http_status`] is the
/// status tlog-witness prescribes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// Malformed body, or old size larger than the checkpoint's (400).
    #[error("bad add-checkpoint request: {reason}")]
    BadRequest {
        /// What is wrong.
        reason: &'static str,
    },
    /// "If the checkpoint origin is unknown, the witness MUST respond with
    /// a "404 Not Found""
    #[error("unknown log origin {origin:?}")]
    UnknownOrigin {
        /// The origin.
        origin: String,
    },
    /// "If none of the signatures verify against a trusted public key, the
    /// witness MUST respond with a "403 Forbidden""
    #[error("checkpoint not signed by the log: {0}")]
    Forbidden(NoteError),
    /// Old size differs from our latest size, or same size with another
    /// root (409; the body is our latest size).
    #[error("conflict: the latest cosigned size is {latest_size}")]
    Conflict {
        /// Our latest cosigned size.
        latest_size: u64,
    },
    /// "If the Merkle Consistency Proof doesn't verify, the witness MUST
    /// respond with a "422 Unprocessable Entity""
    #[error("consistency proof does not verify")]
    BadProof,
    /// Cosigning failed (timestamp out of range): a local fault (500).
    #[error(transparent)]
    Cosign(#[from] CosignError),
}

impl WitnessError {
    /// The HTTP status code tlog-witness requires for this outcome.
    pub fn http_status(&self) -> u16 {
        match self {
            WitnessError::BadRequest { .. } => 400,
            WitnessError::UnknownOrigin { .. } => 404,
            WitnessError::Forbidden(_) => 403,
            WitnessError::Conflict { .. } => 409,
            WitnessError::BadProof => 422,
            WitnessError::Cosign(_) => 500,
        }
    }
}

fn bad(reason: &'static str) -> WitnessError {
    WitnessError::BadRequest { reason }
}

impl AddCheckpoint {
    /// Parses a request body strictly.
    pub fn parse(body: &[u8]) -> Result<Self, WitnessError> {
        let text = std::str::from_utf8(body).map_err(|_| bad("body is not UTF-8"))?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(bad("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines.next().unwrap_or_default();
        // "The old size line MUST consist of the string `old`, a single space
        // (0x20), and the tree size ... encoded as an ASCII decimal with no
        // leading zeroes"
        let digits = old
            .strip_prefix("old ")
            .ok_or(bad("first line is not 'old <size>'"))?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return Err(bad("old size is not a decimal without leading zeroes"));
        }
        let old_size = digits.parse().map_err(|_| bad("old size overflows"))?;
        // "Each consistency proof line MUST encode a single hash in base64."
        let proof = lines
            .map(|l| Hash::from_base64(l).ok_or(bad("proof line is not a base64 hash")))
            .collect::<Result<Vec<_>, _>>()?;
        if proof.len() > MAX_PROOF_LINES {
            return Err(bad("more than 63 consistency proof lines"));
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }

    /// Encodes the request body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old_size);
        for h in &self.proof {
            out.push_str(&h.to_base64());
            out.push('\n');
        }
        out.push('\n');
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.checkpoint);
        out
    }
}

/// A log the witness follows.
#[derive(Clone, Debug)]
pub struct WitnessedLog {
    /// Checkpoint origin.
    pub origin: String,
    /// The log's checkpoint key(s).
    pub keys: Vec<VerifierKey>,
}

/// A cosigned checkpoint: what to persist (atomically, before answering)
/// and the response body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosigned {
    /// Origin of the log.
    pub origin: String,
    /// New latest size.
    pub size: u64,
    /// New latest root.
    pub root: Hash,
    /// The cosignature.
    pub cosignature: NoteSignature,
}

impl Cosigned {
    /// The 200 response body: "a sequence of one or more note signature
    /// lines".
    pub fn response_body(&self) -> String {
        self.cosignature.to_line()
    }
}

/// Decides an `add-checkpoint` request. `latest(origin)` returns the
/// latest checkpoint this witness cosigned for that origin. `now` is POSIX
/// seconds (injected clock).
pub fn add_checkpoint(
    logs: &[WitnessedLog],
    latest: impl FnOnce(&str) -> Option<(u64, Hash)>,
    req: &AddCheckpoint,
    signer: &CosignatureSigner,
    now: u64,
) -> Result<Cosigned, WitnessError> {
    let note = crate::note::Note::parse(&req.checkpoint)
        .map_err(|_| bad("checkpoint is not a signed note"))?;
    let cp = crate::checkpoint::Checkpoint::parse_text(note.text())
        .map_err(|_| bad("checkpoint body is malformed"))?;
    let log =
        logs.iter()
            .find(|l| l.origin == cp.origin)
            .ok_or_else(|| WitnessError::UnknownOrigin {
                origin: cp.origin.clone(),
            })?;
    // "The witness MUST verify the checkpoint signature against the public
    // key(s) it trusts for the checkpoint origin, and it MUST ignore
    // signatures from unknown keys."
    note.verify(&log.keys).map_err(WitnessError::Forbidden)?;
    let (size, root) = (cp.size, cp.root);
    // "The old size MUST be equal to or lower than the checkpoint size.
    // Otherwise, the witness MUST respond with a "400 Bad Request""
    if req.old_size > size {
        return Err(bad("old size is larger than the checkpoint size"));
    }
    // "The witness MUST check that the old size matches the size of the
    // latest checkpoint it cosigned ... (or zero if it never cosigned a
    // checkpoint for that origin)."
    let (latest_size, latest_root) = latest(&cp.origin).unwrap_or((0, Hash::EMPTY_ROOT));
    if req.old_size != latest_size {
        return Err(WitnessError::Conflict { latest_size });
    }
    // "If the old size matches the checkpoint size, the witness MUST check
    // that the root hashes are also identical."
    if size == latest_size && root != latest_root {
        return Err(WitnessError::Conflict { latest_size });
    }
    // "The proof MUST be empty if the old size is zero."
    if req.old_size == 0 && !req.proof.is_empty() {
        return Err(WitnessError::BadProof);
    }
    verify_consistency(latest_size, size, &latest_root, &root, &req.proof)
        .map_err(|_| WitnessError::BadProof)?;
    let cosignature = signer.cosign(note.text(), now)?;
    Ok(Cosigned {
        origin: cp.origin,
        size,
        root,
        cosignature,
    })
}
