//! [`HoldStore`]: legal holds (docs/vault.md §9.1, issue 18 item 3) and the
//! re-wraps that keep held segments openable after their epoch is
//! destroyed.
//!
//! The sweeper, before destroying an epoch's key, asks for the segments of
//! the epoch that an active hold may cover ([`HoldStore::hold_candidates`]),
//! re-wraps each one's `b` to its hold's key and moves it there
//! ([`HoldStore::hold_segment`]): the re-wrap is stored beside the segment
//! and the segment's row then names the hold's epoch, so the epoch's
//! destruction passes it by. Releasing the hold
//! ([`HoldStore::release_hold`]) gives the hold's epoch an expiry of the
//! release time: the next sweep destroys the hold key and deletes what it
//! kept, as for any other epoch.

use std::future::Future;

use obhut_core::ids::{EpochId, GroupId, RecordingId};

use crate::{KeyBytes, NewLogEntry, Result};

/// A legal hold as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldRow {
    /// Its id (docs/format.md §12.3: from its terms); also the id of its
    /// key's epoch.
    pub hold_id: [u8; 16],
    /// The device's custody group.
    pub group_id: GroupId,
    /// The case reference.
    pub case: String,
    /// The device whose footage it holds.
    pub device_key: KeyBytes,
    /// Start of the capture-time window (UTC ms, inclusive).
    pub from_ms: i64,
    /// End (UTC ms, exclusive).
    pub to_ms: i64,
    /// When it was placed.
    pub placed_ms: i64,
    /// When it was released; `None` while active.
    pub released_ms: Option<i64>,
}

/// A segment an active hold may cover: of the hold's device, captured
/// from before the window's end (whether its capture reaches into the
/// window is the caller's to check against the signed record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldCandidate {
    /// The segment's recording.
    pub recording_id: RecordingId,
    /// The segment's index.
    pub index: u32,
    /// The hold.
    pub hold_id: [u8; 16],
}

/// A held segment's `b` re-wrapped to another epoch's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewrapRow {
    /// The segment's recording.
    pub recording_id: RecordingId,
    /// The segment's index.
    pub index: u32,
    /// The epoch whose key unwraps it (the hold's).
    pub epoch_id: EpochId,
    /// The encoded `EpochRewrap` (docs/format.md §5.5).
    pub rewrap: Vec<u8>,
}

/// The index's legal-hold operations (see the module docs).
pub trait HoldStore: Send + Sync + 'static {
    /// Store a new active hold with `log` (its `hold-placed` entry) in the
    /// same transaction. `HoldExists` if a hold with that id was ever
    /// placed (its id follows from its terms, so the same terms again
    /// name the same hold).
    fn place_hold(
        &self,
        hold: &HoldRow,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Release hold `id` at `released_ms` with `log` (its `hold-released`
    /// entry) in the same transaction, and give its key's epoch, if the
    /// sweeper made one, the expiry `released_ms`. `NotFound` for an
    /// unknown hold, `HoldReleased` for one released before.
    fn release_hold(
        &self,
        id: [u8; 16],
        released_ms: i64,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<()>> + Send;

    /// A hold by id.
    fn hold(&self, id: [u8; 16]) -> impl Future<Output = Result<Option<HoldRow>>> + Send;

    /// Every hold, active or released, in the order placed.
    fn holds(&self) -> impl Future<Output = Result<Vec<HoldRow>>> + Send;

    /// The segments whose row names epoch `epoch` that an active hold
    /// other than `epoch` itself may cover (see [`HoldCandidate`]); a
    /// segment under two holds comes once per hold. Cost by the epoch's
    /// segments, like its sweep.
    fn hold_candidates(
        &self,
        epoch: EpochId,
    ) -> impl Future<Output = Result<Vec<HoldCandidate>>> + Send;

    /// Move one segment from epoch `from` to its hold, in one
    /// transaction: store `rewrap` beside it (replacing an earlier one)
    /// and make its row name `rewrap.epoch_id`. `Ok(false)` (nothing
    /// changed) if its row no longer names `from`; `NotFound` if it is
    /// gone; `HoldReleased` if the hold `rewrap.epoch_id` is no longer
    /// active (then that hold's epoch gets its expiry, if it had none).
    fn hold_segment(
        &self,
        from: EpochId,
        rewrap: &RewrapRow,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// [`HoldStore::hold_segment`] for an epoch split (an erasure, docs/vault.md
    /// §9.2): move the segment from `from` to `rewrap.epoch_id`, storing
    /// the re-wrap, whatever that epoch is. `Ok(false)` if its row no
    /// longer names `from`; `NotFound` if it is gone.
    fn split_segment(
        &self,
        from: EpochId,
        rewrap: &RewrapRow,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// The segments whose row names epoch `epoch` (recording, index), in
    /// order. Cost by the epoch's segments.
    fn epoch_segments(
        &self,
        epoch: EpochId,
    ) -> impl Future<Output = Result<Vec<(RecordingId, u32)>>> + Send;

    /// The stored re-wrap of a segment.
    fn segment_rewrap(
        &self,
        recording: RecordingId,
        index: u32,
    ) -> impl Future<Output = Result<Option<RewrapRow>>> + Send;
}
