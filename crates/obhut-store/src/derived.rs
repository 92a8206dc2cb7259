//! [`DerivedStore`]: derived artifacts, their lineage and the consents
//! they are made under (docs/vault.md §10, docs/format.md §13).
//!
//! Lineage is indexed both ways: by source recording (what the sweeper and
//! the erasure path ask when a source goes) and by source artifact (the
//! next step of a cascade), so a cascade costs in proportion to what it
//! removes. An artifact's row stays after a cascade as its tombstone
//! (state deleted), so `obhut lineage` still shows what went and why.

use std::future::Future;

use obhut_core::artifact::Source;
use obhut_core::ids::{EpochId, GroupId, RecordingId};

use crate::{BlobKey, KeyBytes, NewLogEntry, Result};

/// Where an artifact stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactState {
    /// Registered and fetchable.
    Live,
    /// Gone with a source (its bytes deleted); the row is the tombstone.
    Deleted,
    /// A model one of whose sources went: kept, listed as tainted.
    Tainted,
}

impl ArtifactState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactState::Live => "live",
            ArtifactState::Deleted => "deleted",
            ArtifactState::Tainted => "tainted",
        }
    }
    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "live" => ArtifactState::Live,
            "deleted" => ArtifactState::Deleted,
            "tainted" => ArtifactState::Tainted,
            _ => return None,
        })
    }
}

/// A registered artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactRow {
    /// Its id (the recording holding its bytes, if any).
    pub artifact_id: RecordingId,
    /// Its custody group.
    pub group_id: GroupId,
    /// Its kind's byte (`obhut_core::artifact::ArtifactKind`).
    pub kind: u8,
    /// Its name for people.
    pub name: String,
    /// The consent it was made under.
    pub consent_id: Option<[u8; 16]>,
    /// Who signed its record.
    pub signer_key: KeyBytes,
    /// The signed record, whole.
    pub record: Vec<u8>,
    /// When the vault registered it (UTC ms).
    pub registered_ms: i64,
    /// Where it stands.
    pub state: ArtifactState,
    /// When it was deleted or tainted (UTC ms).
    pub changed_ms: Option<i64>,
    /// Its lineage.
    pub sources: Vec<Source>,
}

/// A recorded consent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRow {
    /// Its id.
    pub consent_id: [u8; 16],
    /// The custody group whose footage it covers.
    pub group_id: GroupId,
    /// Purpose bits (`obhut_core::consent`).
    pub purposes: u8,
    /// Valid from (UTC ms).
    pub not_before: i64,
    /// Void at and after (UTC ms).
    pub not_after: i64,
    /// When the vault recorded it.
    pub recorded_ms: i64,
    /// When it was withdrawn, if it was.
    pub withdrawn_ms: Option<i64>,
}

/// The segments of one recording sealed to one epoch: what a sweep of
/// that epoch removes from the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochSource {
    /// The recording.
    pub recording_id: RecordingId,
    /// Its lowest segment index in the epoch.
    pub first: u32,
    /// One past its highest.
    pub end: u32,
}

/// A blob a cascade took out of the index, to be deleted (then dequeued
/// with [`crate::RetentionStore::dequeue_blobs`] under `epoch_id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuedBlob {
    /// The epoch whose deletion queue holds it.
    pub epoch_id: EpochId,
    /// The blob.
    pub key: BlobKey,
}

/// The index's derived-data operations.
pub trait DerivedStore: Send + Sync + 'static {
    /// Register an artifact with its lineage and `log` (its
    /// `artifact-registered` entry) in one transaction. `Conflict` if the
    /// id is registered already.
    fn put_artifact(
        &self,
        row: &ArtifactRow,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<()>> + Send;

    /// An artifact, with its lineage, in any state.
    fn artifact(&self, id: RecordingId)
    -> impl Future<Output = Result<Option<ArtifactRow>>> + Send;

    /// Artifacts not deleted that use a segment of `recording` in
    /// `[first, end)` directly.
    fn derived_from_segments(
        &self,
        recording: RecordingId,
        first: u32,
        end: u32,
    ) -> impl Future<Output = Result<Vec<ArtifactRow>>> + Send;

    /// Artifacts (in any state) that name artifact `id` as a source.
    fn derived_from_artifact(
        &self,
        id: RecordingId,
    ) -> impl Future<Output = Result<Vec<ArtifactRow>>> + Send;

    /// Artifacts not deleted made under consent `consent_id`.
    fn made_under_consent(
        &self,
        consent_id: [u8; 16],
    ) -> impl Future<Output = Result<Vec<ArtifactRow>>> + Send;

    /// The recordings with segments sealed to epoch `id`, each with its
    /// segment range in the epoch.
    fn epoch_sources(&self, id: EpochId) -> impl Future<Output = Result<Vec<EpochSource>>> + Send;

    /// In one transaction: mark `deleted` artifacts deleted and `tainted`
    /// ones tainted at `now_ms` (an artifact already deleted stays so; a
    /// tainted one stays tainted), move every segment row of a deleted
    /// artifact's recording to the deletion queue and remove the
    /// recording, and append `log`. Returns the blobs queued, for the
    /// caller to delete and dequeue. Idempotent.
    fn apply_cascade(
        &self,
        deleted: &[RecordingId],
        tainted: &[RecordingId],
        now_ms: i64,
        log: &[NewLogEntry],
    ) -> impl Future<Output = Result<Vec<QueuedBlob>>> + Send;

    /// Record a consent with `log` (its `consent-recorded` entry).
    /// `Conflict` if its id is recorded already.
    fn put_consent(
        &self,
        row: &ConsentRow,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<()>> + Send;

    /// A consent, withdrawn or not.
    fn consent(&self, id: [u8; 16]) -> impl Future<Output = Result<Option<ConsentRow>>> + Send;

    /// The consents of group `group` not withdrawn.
    fn group_consents(
        &self,
        group: GroupId,
    ) -> impl Future<Output = Result<Vec<ConsentRow>>> + Send;

    /// Mark consent `id` withdrawn at `now_ms` with `log` (its
    /// `consent-withdrawn` entry). `false` (nothing logged) if it was
    /// withdrawn already; `NotFound` if unknown.
    fn withdraw_consent(
        &self,
        id: [u8; 16],
        now_ms: i64,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<bool>> + Send;
}
