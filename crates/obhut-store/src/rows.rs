//! The index's rows and the values its methods take and return
//! ([`crate::IndexStore`]).

use obhut_core::ids::{EpochId, GroupId, RecordingId};
use tokio::io::AsyncRead;

use crate::{KeyBytes, NewLogEntry};

/// A custody group the vault enrols devices into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRow {
    /// Group id (from the descriptor).
    pub group_id: GroupId,
    /// The descriptor with its custodian signatures (format.md §4.1).
    pub descriptor: Vec<u8>,
    /// Descriptor fingerprint (docs/vault.md §3).
    pub fingerprint: [u8; 32],
    /// When the admin added it.
    pub added_ms: i64,
}

/// A one-time enrolment token; only its SHA-256 is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    /// SHA-256 of the token string.
    pub token_hash: [u8; 32],
    /// Group the device will be enrolled in.
    pub group_id: GroupId,
    /// Retention class of the device's footage.
    pub retention_class: String,
    /// Creation time.
    pub created_ms: i64,
    /// Not usable at or after this time.
    pub expires_ms: i64,
}

/// An enrolled device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRow {
    /// Ed25519 public key (the device id).
    pub device_key: KeyBytes,
    /// Custody group its segments must be sealed to.
    pub group_id: GroupId,
    /// Retention class of its footage.
    pub retention_class: String,
    /// Enrolment time.
    pub enrolled_ms: i64,
    /// Revocation time, if revoked.
    pub revoked_ms: Option<i64>,
}

/// A retention epoch's public key (the secret stays in the keystore).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochRow {
    /// Epoch id.
    pub epoch_id: EpochId,
    /// Retention class.
    pub retention_class: String,
    /// Start of the capture-time period (UTC ms, inclusive).
    pub not_before: i64,
    /// End (exclusive).
    pub not_after: i64,
    /// `EpochPublic::to_bytes()`.
    pub public: Vec<u8>,
    /// When its footage expires (UTC ms): `not_after` plus the class's
    /// retention; `None` for a class kept until released.
    pub expires_ms: Option<i64>,
    /// Where it is on its way to a tombstone.
    pub state: EpochState,
    /// When its key was destroyed.
    pub destroyed_ms: Option<i64>,
}

/// An epoch's life (docs/vault.md §9). The row of a destroyed epoch stays
/// as its tombstone: a period is never issued a second key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochState {
    /// Devices may seal to it; releases may use it.
    Live,
    /// Expired; the sweeper is destroying its key. No new segments, no
    /// releases.
    Expiring,
    /// Its key is destroyed and logged; its blobs are being deleted.
    Destroyed,
    /// Nothing of it is left but this tombstone and the log.
    Swept,
}

impl EpochState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            EpochState::Live => "live",
            EpochState::Expiring => "expiring",
            EpochState::Destroyed => "destroyed",
            EpochState::Swept => "swept",
        }
    }
    /// Parse the stored word.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "live" => EpochState::Live,
            "expiring" => EpochState::Expiring,
            "destroyed" => EpochState::Destroyed,
            "swept" => EpochState::Swept,
            _ => return None,
        })
    }
}

/// A recording every segment of which expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiredRecording {
    /// The epoch whose destruction took its last segments.
    pub epoch_id: EpochId,
    /// When (the epoch's destruction).
    pub expired_ms: i64,
}

/// A recording's minimal metadata (docs/vault.md §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingRow {
    /// Recording id.
    pub recording_id: RecordingId,
    /// Capturing device.
    pub device_key: KeyBytes,
    /// Custody group.
    pub group_id: GroupId,
    /// Retention class.
    pub retention_class: String,
    /// Capture time of segment 0 (UTC ms). Listings round it to the hour.
    pub first_capture_ms: i64,
    /// Stored segments.
    pub segment_count: u32,
    /// Stored ciphertext bytes.
    pub total_bytes: u64,
    /// Whether the final segment is stored.
    pub complete: bool,
}

/// A stored segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentRow {
    /// Recording id.
    pub recording_id: RecordingId,
    /// Segment index.
    pub index: u32,
    /// The device-signed record, verbatim.
    pub record: Vec<u8>,
    /// Its record hash.
    pub record_hash: [u8; 32],
    /// Blob length.
    pub blob_len: u64,
    /// Capture time from the header.
    pub capture_ms: i64,
    /// Epoch the header's wrap names.
    pub epoch_id: EpochId,
    /// When it became durable.
    pub received_ms: i64,
    /// The vault's signed receipt (`IngestReceipt::to_bytes()`).
    pub receipt: Vec<u8>,
}

/// What a caller knows about a verified segment it is about to insert.
#[derive(Clone, Debug)]
pub struct NewSegment {
    /// The row to insert.
    pub row: SegmentRow,
    /// The record's `prev_record_hash`.
    pub prev_record_hash: [u8; 32],
    /// The record's final flag.
    pub is_final: bool,
    /// The uploading device (owner of the recording).
    pub device_key: KeyBytes,
    /// The device's group.
    pub group_id: GroupId,
    /// The device's retention class.
    pub retention_class: String,
    /// Its `segment-received` audit entry, sequenced with the row.
    pub log: NewLogEntry,
}

/// The result of [`crate::IndexStore::insert_segment`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// A new row was committed.
    New,
    /// A byte-identical record was already stored; this is that row.
    Existing(SegmentRow),
}

/// Where a recording's chain stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Index the next segment must have.
    pub next_index: u32,
    /// Record hash of segment `next_index − 1`.
    pub head_record_hash: [u8; 32],
}

/// Filter of [`crate::IndexStore::list_recordings`].
#[derive(Clone, Debug, Default)]
pub struct RecordingFilter {
    /// Only this device's.
    pub device: Option<KeyBytes>,
    /// Only these groups' (a reader's groups; none: no recordings).
    pub groups: Vec<GroupId>,
    /// First capture at or after (UTC ms).
    pub from_ms: Option<i64>,
    /// First capture before (UTC ms).
    pub to_ms: Option<i64>,
}

/// Names one segment's blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey {
    /// Recording id.
    pub recording: RecordingId,
    /// Segment index.
    pub index: u32,
}

/// A byte range of a blob, ready to stream.
pub type BlobReader = Box<dyn AsyncRead + Send + Unpin>;
