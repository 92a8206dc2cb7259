//! The audit log endpoints' JSON (docs/log.md, docs/vault.md §5): the log
//! key, RFC 9162 proofs and entries. Checkpoints and tiles are served in
//! their C2SP text and binary forms, not as JSON.

use serde::{Deserialize, Serialize};

/// The most entries one `GET /v1/log/entries` answer holds.
pub const MAX_ENTRIES_PER_PAGE: u32 = 1000;

/// `GET /v1/log/key`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyResponse {
    /// Checkpoint origin.
    pub origin: String,
    /// The log key as a C2SP vkey, to pin.
    pub vkey: String,
}

/// Query of the proof endpoints.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProofQuery {
    /// Leaf index (inclusion) or old size (consistency).
    #[serde(alias = "old")]
    pub index: u64,
    /// Tree size; default: the latest checkpoint's.
    pub size: Option<u64>,
}

/// A proof.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProofResponse {
    /// Leaf index or old size.
    pub index: u64,
    /// Tree size the proof is for.
    pub size: u64,
    /// The proof hashes, base64, in RFC 9162 order.
    pub proof: Vec<String>,
}

/// One entry as served to auditors.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EntryJson {
    /// Index in the log.
    pub index: u64,
    /// Logged at (UTC ms).
    pub time_ms: i64,
    /// Kind name.
    pub kind: String,
    /// The encoded entry, base64; absent once pruned.
    pub body: Option<String>,
    /// Leaf hash, hex.
    pub leaf_hash: String,
}

/// A page of entries.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EntriesResponse {
    /// The entries.
    pub entries: Vec<EntryJson>,
    /// Size of the latest checkpoint (entries beyond it are not yet
    /// integrated and not served).
    pub checkpoint_size: u64,
}

/// Query of `GET /v1/log/entries`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EntriesQuery {
    /// First index.
    #[serde(default)]
    pub from: u64,
    /// How many (at most [`MAX_ENTRIES_PER_PAGE`]).
    pub count: Option<u32>,
}
