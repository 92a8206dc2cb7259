//! The audit log's storage (docs/log.md §Service): entries, hash tiles and
//! signed checkpoints, behind [`LogStore`].
//!
//! Two steps, as in Sunlight and Tessera. **Sequencing** gives an entry its
//! index durably, in the same transaction as the change it records (a
//! segment row, an enrolment), so no change is ever stored without its
//! entry and no entry without its change. **Integration** (the vault's log
//! service) reads the leaf hashes of sequenced entries in order, extends
//! the tree, and commits the new tiles with a checkpoint signed over them,
//! in one transaction. Any process may sequence (the admin CLI does);
//! one integrates.

use std::future::Future;

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

/// Storage of the audit log. Same durability and visibility contract as
/// [`crate::IndexStore`].
pub trait LogStore: Send + Sync + 'static {
    /// Sequence `entries` in one transaction, in order; returns the index
    /// of the first. Empty input sequences nothing and returns the size.
    fn log_append(&self, entries: &[NewLogEntry]) -> impl Future<Output = Result<u64>> + Send;
    /// Number of sequenced entries.
    fn log_sequenced(&self) -> impl Future<Output = Result<u64>> + Send;
    /// Leaf hashes of entries `[from, from + limit)` that exist, in order.
    fn log_leaf_hashes(
        &self,
        from: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<[u8; 32]>>> + Send;
    /// In one transaction: write (insert or widen) `tiles` and insert
    /// `checkpoint`. Refused ([`crate::StoreError::Corrupt`]) unless the
    /// checkpoint is larger than the latest, so two integrators cannot
    /// interleave.
    fn log_integrate(
        &self,
        tiles: &[TileRow],
        checkpoint: &StoredCheckpoint,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Replace the note of the checkpoint of `size` by the same checkpoint
    /// with witness cosignatures added (the caller checked they verify and
    /// that the log's own signature is unchanged).
    fn log_cosigned(&self, size: u64, note: &[u8]) -> impl Future<Output = Result<()>> + Send;
    /// The stored hashes of tile `(level, index)`.
    fn log_tile(
        &self,
        level: u8,
        index: u64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;
    /// The latest checkpoint.
    fn log_checkpoint(&self) -> impl Future<Output = Result<Option<StoredCheckpoint>>> + Send;
    /// The checkpoint of exactly `size`, if one was signed.
    fn log_checkpoint_at(
        &self,
        size: u64,
    ) -> impl Future<Output = Result<Option<StoredCheckpoint>>> + Send;
    /// Entries `[from, from + limit)` that exist.
    fn log_entries(
        &self,
        from: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<LogEntryRow>>> + Send;
    /// Every entry about one recording, in log order.
    fn log_recording_entries(
        &self,
        recording: RecordingId,
    ) -> impl Future<Output = Result<Vec<LogEntryRow>>> + Send;
    /// Log retention: drop the bodies of entries logged before `before_ms`
    /// with an index below `integrated` (the tree keeps their leaf hashes),
    /// and sequence `receipt` (built from the count by the caller's
    /// closure) in the same transaction. Returns the number pruned.
    fn log_prune(
        &self,
        before_ms: i64,
        integrated: u64,
        now_ms: i64,
        receipt: impl FnOnce(u64) -> Option<NewLogEntry> + Send,
    ) -> impl Future<Output = Result<u64>> + Send;
}
