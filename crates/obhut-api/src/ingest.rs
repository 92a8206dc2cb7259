//! The device endpoints' JSON (docs/vault.md §3 enrolment, §4 ingest):
//! enrolment, epoch keys, a recording's head and ingest receipts. A
//! segment upload itself is binary (`blob ‖ record`); its answer is a
//! [`ReceiptResponse`].

use serde::{Deserialize, Serialize};

/// The upload window W of docs/vault.md §4: an upload of index `i` is
/// accepted when `i < next_index + W`, so a device may keep W segments in
/// flight (segment i+1 is sealed and sent while i is verified, fsynced and
/// acknowledged). Beyond the window an upload is `409 out-of-order` before
/// a byte of its body is read. The vault enforces it; the agent keeps as
/// many uploads in flight.
///
/// Why 4: segments are published one after the other, but each upload's
/// own fsync runs before it waits for its predecessor (docs/vault.md §4
/// step 6), so several arriving behind the one being published keep the
/// disk and both sides busy: 4 measured about 20 % faster than 2 on the
/// 1 GiB ingest of `scripts/bench-vault` (4 MiB segments; BENCHMARKS.md).
/// Each waiting upload holds a staged blob in the vault's `tmp/` and a
/// connection.
pub const UPLOAD_WINDOW: u32 = 4;

/// `POST /v1/enrol` body.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnrolRequest {
    /// `obhut-enrol-<64 hex>`.
    pub token: String,
    /// The device's Ed25519 key (64 hex digits); equals `Obhut-Device`.
    pub device_key: String,
}

/// `POST /v1/enrol` answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnrolResponse {
    /// The device's key (hex).
    pub device_key: String,
    /// Custody group id (hex).
    pub group_id: String,
    /// Retention class.
    pub retention_class: String,
    /// Group descriptor with signatures (base64 of `to_bytes()`); the
    /// device pins it only if it verifies and its fingerprint is the one
    /// the custodians published.
    pub descriptor: String,
    /// The vault's fingerprint of the descriptor (hex; informative only).
    pub fingerprint: String,
    /// The vault's receipt key (hex); the device pins it.
    pub vault_key: String,
}

/// `GET /v1/epochs?class=C[&at=T]` query.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EpochsQuery {
    /// Retention class.
    pub class: String,
    /// A capture time (UTC ms) whose epoch is wanted as well.
    pub at: Option<i64>,
}

/// One epoch public key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EpochJson {
    /// Epoch id (hex).
    pub epoch_id: String,
    /// Start (UTC ms, inclusive).
    pub not_before: i64,
    /// End (UTC ms, exclusive).
    pub not_after: i64,
    /// `EpochPublic::to_bytes()`, base64.
    pub public: String,
}

/// `GET /v1/epochs` answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EpochsResponse {
    /// Retention class.
    pub class: String,
    /// The epoch covering now.
    pub current: EpochJson,
    /// The following one.
    pub next: EpochJson,
    /// The epoch covering `at`, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covering: Option<EpochJson>,
}

/// `GET /v1/epochs/{id}/receipt` answer: the vault's signed deletion
/// receipt of a destroyed epoch (docs/format.md §12.1).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeletionReceiptResponse {
    /// Epoch id (hex).
    pub epoch_id: String,
    /// When its key was destroyed (UTC ms).
    pub destroyed_ms: i64,
    /// `DeletionReceipt::to_bytes()`, base64.
    pub receipt: String,
    /// The leaf hash of its `epoch-destroyed` entry (hex): what a checker
    /// proves included in a checkpoint.
    pub leaf_hash: String,
}

/// `GET /v1/recordings/{rid}/head` answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeadResponse {
    /// Index the next segment must have.
    pub next_index: u32,
    /// Record hash of segment `next_index − 1` (hex).
    pub head_record_hash: String,
}

/// Receipt answer of `PUT /v1/recordings/{rid}/segments/{index}` and
/// `GET /v1/receipts/…`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReceiptResponse {
    /// `IngestReceipt::to_bytes()`, base64.
    pub receipt: String,
    /// Recording id (hex).
    pub recording_id: String,
    /// Segment index.
    pub index: u32,
    /// Record hash (hex).
    pub record_hash: String,
    /// When the segment became durable (UTC ms).
    pub received_utc_ms: i64,
}
