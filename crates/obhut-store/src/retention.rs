//! [`RetentionStore`]: what the sweeper (docs/vault.md §9) asks of the
//! index. Every method costs in proportion to what expires, never to what
//! is stored: due epochs come from an index on expiry, their segments from
//! an index on epoch.
//!
//! The order, each step idempotent so that a sweep killed anywhere is
//! finished by the next: [`RetentionStore::mark_expiring`] (no new
//! segments, no releases) → the key holder destroys the wrapping key →
//! [`RetentionStore::destroy_epoch`] (one transaction: the
//! `epoch-destroyed` entry, the receipt, every segment row of the epoch
//! moved to the deletion queue, recordings left empty tombstoned) → blobs
//! deleted, then dequeued ([`RetentionStore::dequeue_blobs`]) →
//! [`RetentionStore::finish_sweep`]. A reader sees a segment whole (index
//! row and blob) until the one transaction removes its row, and after it
//! sees it expired: never half.

use std::future::Future;

use obhut_core::ids::{EpochId, RecordingId};

use crate::{BlobKey, EpochRow, ExpiredRecording, NewLogEntry, Result};

/// The index's retention operations (see the module docs for the order).
pub trait RetentionStore: Send + Sync + 'static {
    /// Epochs with `expires_ms <= now_ms` not yet swept, earliest expiry
    /// first, at most `limit`.
    fn due_epochs(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<EpochRow>>> + Send;

    /// Live → expiring. No-op in any later state; `NotFound` for an
    /// unknown epoch.
    fn mark_expiring(&self, id: EpochId) -> impl Future<Output = Result<()>> + Send;

    /// Segments sealed to epoch `id` still in the index.
    fn epoch_segment_count(&self, id: EpochId) -> impl Future<Output = Result<u64>> + Send;

    /// Expiring → destroyed, in one transaction: store `receipt` and
    /// `destroyed_ms`, append `log`, move every segment row of the epoch to
    /// the deletion queue, lower its recordings' byte counts and replace a
    /// recording left without segments by its tombstone. Returns the
    /// segments moved. An epoch already destroyed (or swept) is left as it
    /// is and nothing is logged (`Ok(0)`); a live one is refused
    /// (`Conflict`): its key must be known to be going first.
    fn destroy_epoch(
        &self,
        id: EpochId,
        destroyed_ms: i64,
        receipt: &[u8],
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Up to `limit` queued blobs of epoch `id`.
    fn queued_blobs(
        &self,
        id: EpochId,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<BlobKey>>> + Send;

    /// Forget queued blobs (after they were deleted).
    fn dequeue_blobs(
        &self,
        id: EpochId,
        keys: &[BlobKey],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Destroyed → swept, if its queue is empty and no segment row of it
    /// remains; otherwise moves any straggler rows (a segment committed
    /// while the epoch was being destroyed) to the queue and returns
    /// `false`, for the sweeper to delete them first.
    fn finish_sweep(&self, id: EpochId) -> impl Future<Output = Result<bool>> + Send;

    /// The signed deletion receipt of a destroyed epoch.
    fn deletion_receipt(&self, id: EpochId)
    -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;

    /// The tombstone of a recording all of whose segments expired.
    fn expired_recording(
        &self,
        id: RecordingId,
    ) -> impl Future<Output = Result<Option<ExpiredRecording>>> + Send;

    /// Move device `device` from class `from` to class `to`, with `log`
    /// (its `device-reclassified` entry) in the same transaction.
    /// `NotFound` for an unknown device, `ClassChanged` if its class is no
    /// longer `from` (the approvals were for another change). Footage
    /// already stored keeps its epochs and so its expiry; new footage is
    /// sealed to the new class's epochs.
    fn reclassify_device(
        &self,
        device: crate::KeyBytes,
        from: &str,
        to: &str,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Raise the stored clock floor to `now_ms` if lower; return the floor
    /// (the highest reading ever passed).
    fn clock_floor(&self, now_ms: i64) -> impl Future<Output = Result<i64>> + Send;
}
