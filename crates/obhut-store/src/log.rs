//! The audit log's rows (docs/log.md §Service): entries, hash tiles and
//! signed checkpoints, as [`crate::LogStore`] takes and returns them.

use obhut_core::audit::LogEntry;
use obhut_core::ids::RecordingId;

use crate::Result;

/// An entry ready to be sequenced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLogEntry {
    /// Vault clock when logged (UTC ms), copied from the entry for
    /// retention queries.
    pub time_ms: i64,
    /// The event's kind name, for filtering.
    pub kind: &'static str,
    /// The recording concerned, for `obhut audit log --recording`.
    pub recording: Option<RecordingId>,
    /// The encoded entry.
    pub body: Vec<u8>,
    /// Its RFC 9162 leaf hash.
    pub leaf_hash: [u8; 32],
}

impl NewLogEntry {
    /// Encode `entry` and hash it as a leaf.
    pub fn new(entry: &LogEntry) -> Result<Self, obhut_core::Error> {
        let body = entry.to_bytes()?;
        Ok(NewLogEntry {
            time_ms: entry.time_ms,
            kind: entry.event.kind(),
            recording: entry.recording,
            leaf_hash: obhut_log::leaf_hash(&body).0,
            body,
        })
    }
}

/// A sequenced entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntryRow {
    /// Its index in the log.
    pub index: u64,
    /// When it was logged (UTC ms).
    pub time_ms: i64,
    /// Kind name.
    pub kind: String,
    /// Recording concerned.
    pub recording: Option<RecordingId>,
    /// The encoded entry; `None` once pruned (log retention).
    pub body: Option<Vec<u8>>,
    /// Its leaf hash (kept when the body is pruned).
    pub leaf_hash: [u8; 32],
}

/// A signed checkpoint and the tree edge it was computed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Tree size.
    pub size: u64,
    /// When it was signed (UTC ms).
    pub time_ms: i64,
    /// The signed note (C2SP tlog-checkpoint).
    pub note: Vec<u8>,
    /// The compact range of the tree (perfect-subtree roots, leftmost
    /// first, 32 bytes each), so integration resumes without re-reading
    /// the tree.
    pub edge: Vec<u8>,
}

/// A hash tile as stored: all hashes known so far at its position; a
/// partial tile grows in place (hashes never change, so any prefix is the
/// tile of an earlier size).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileRow {
    /// Tile level (tree level / 8).
    pub level: u8,
    /// Tile index.
    pub index: u64,
    /// Concatenated 32-byte hashes, at most 256.
    pub hashes: Vec<u8>,
}
