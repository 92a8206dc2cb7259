//! The reader endpoints' JSON (docs/vault.md §5): which recordings a
//! reader's groups hold and their signed records. Ciphertext itself is
//! served as bytes, not JSON.

use serde::{Deserialize, Serialize};

/// `GET /v1/recordings` query.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ListQuery {
    /// Device key (hex).
    pub device: Option<String>,
    /// Group id (hex).
    pub group: Option<String>,
    /// First capture at or after (UTC ms).
    pub from: Option<i64>,
    /// First capture before (UTC ms).
    pub to: Option<i64>,
}

/// One recording, minimal metadata only.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordingJson {
    /// Recording id (hex).
    pub recording_id: String,
    /// Device key (hex).
    pub device_key: String,
    /// Group id (hex).
    pub group_id: String,
    /// Retention class.
    pub retention_class: String,
    /// First capture time rounded down to the hour (UTC ms).
    pub first_capture_hour_ms: i64,
    /// Stored segments.
    pub segment_count: u32,
    /// Stored ciphertext bytes.
    pub total_bytes: u64,
    /// Whether the final segment is stored.
    pub complete: bool,
}

/// `GET /v1/recordings` answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ListResponse {
    /// Matching recordings.
    pub recordings: Vec<RecordingJson>,
}

/// `GET /v1/recordings/{rid}/records[?log=true]` answer (the JSON form;
/// the binary form, docs/vault.md §5, is `obhut_core::vault`'s).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordsResponse {
    /// The signed records in index order, base64.
    pub records: Vec<String>,
    /// With `?log=true`: for each record, in the same order, its
    /// `segment-received` entry (docs/format.md §12) where it sits in the
    /// log, so a custodian proves each in-scope record was logged before
    /// taking R from it; an empty `entry` once its body was pruned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub received: Vec<crate::access::Logged>,
    /// With `?log=true`: the recording's device's `device-enrolled` and
    /// `device-revoked` entries, in log order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device: Vec<crate::access::Logged>,
}
