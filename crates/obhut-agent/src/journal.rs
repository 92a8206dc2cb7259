//! The per-recording progress journal (docs/vault.md §4, "Resume").
//!
//! One small JSON file per source file, `STATE/journal/<key>.json`, where
//! `key` is derived from the source path. It holds what the device needs to
//! continue a recording after a cut connection, a killed agent or a
//! restarted vault, and nothing secret (no segment key ever reaches disk):
//!
//! - the source's identity (path, length, mtime) and the cut plan, fixed
//!   when the recording starts, so that a resumed run cuts identically;
//! - the recording id and capture time;
//! - per acknowledged segment, its record hash and the vault's receipt;
//! - the signed record of the last acknowledged segment (the chain link
//!   [`obhut_core::device::RecordingSealer::resume`] continues from);
//! - the record of the segment being uploaded ("pending"), written once
//!   the segment is sealed and *before* the record is sent as the upload's
//!   trailer (the vault cannot store a segment before it has the record),
//!   so that if the vault stored it but the receipt never arrived, the
//!   agent recognises it at `/head` and fetches the receipt instead of
//!   sealing a conflicting segment.
//!
//! Order for segment i: blob_i sealed into the upload → journal(pending =
//! record_i) → record_i sent as the trailer → verify receipt →
//! journal(acked += (hash_i, receipt_i), last = record_i, pending = none).
//! Every journal write is [`write_durable`].

use std::path::{Path, PathBuf};

use base64::Engine;
use obhut_core::ids::RecordingId;
use obhut_core::record::SegmentRecord;
use obhut_core::segment::SegmentKind;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::state::write_durable;

/// Which file a planned segment's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The media file.
    Main,
    /// The descriptive-metadata sidecar.
    Sidecar,
}

/// One segment of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedSegment {
    /// Segment kind as a format byte (0 media, 1 container index, 2 metadata).
    pub kind: u8,
    /// Which file.
    pub source: Source,
    /// First byte in that file.
    pub offset: u64,
    /// Number of bytes.
    pub len: u64,
    /// Media time covered (start, inclusive).
    pub media_start_ms: u64,
    /// Media time covered (end, exclusive).
    pub media_end_ms: u64,
}

impl PlannedSegment {
    /// The segment kind.
    pub fn segment_kind(&self) -> Option<SegmentKind> {
        SegmentKind::from_u8(self.kind)
    }
}

/// A file's identity: if any of it changes, the bytes may have too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    /// Absolute path.
    pub path: PathBuf,
    /// Length in bytes.
    pub len: u64,
    /// Modification time, ms since 1970.
    pub mtime_ms: i64,
}

impl FileId {
    /// Stat `path` (which should be absolute).
    pub fn of(path: &Path) -> Result<Self> {
        let m = std::fs::metadata(path).map_err(Error::io("stat", path))?;
        let mtime_ms = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Ok(FileId {
            path: path.to_owned(),
            len: m.len(),
            mtime_ms,
        })
    }
}

/// An acknowledged segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acked {
    /// Record hash (hex).
    pub record_hash: String,
    /// The vault's receipt (base64), verified when it was recorded.
    pub receipt: String,
}

/// A segment whose record is signed and whose upload may have happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Its index.
    pub index: u32,
    /// The signed record (base64).
    pub record: String,
}

/// The journal of one recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// Format of this file.
    pub version: u32,
    /// The media file.
    pub source: FileId,
    /// The metadata sidecar, if any.
    pub sidecar: Option<FileId>,
    /// Recording id (hex).
    pub recording_id: String,
    /// Capture time of media time 0 (UTC ms).
    pub capture_utc_ms: i64,
    /// The plan, in index order; the last entry is the final segment.
    pub plan: Vec<PlannedSegment>,
    /// Acknowledged segments 0 … acked.len() − 1.
    pub acked: Vec<Acked>,
    /// The record of segment acked.len() − 1 (base64), if any.
    pub last_record: Option<String>,
    /// The record being uploaded.
    pub pending: Option<Pending>,
    /// Every segment acknowledged and every receipt re-verified.
    pub complete: bool,
    /// What was done with the original after completion, if anything.
    pub disposed: Option<String>,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Base64 of some bytes (for the journal's binary fields).
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

impl Journal {
    /// Path of the journal for the (absolute) source `path`.
    pub fn path_for(dir: &Path, source: &Path) -> PathBuf {
        use sha2::Digest;
        let h = sha2::Sha256::digest(source.as_os_str().as_encoded_bytes());
        dir.join(format!("{}.json", hex::encode(&h[..16])))
    }

    /// Load the journal at `path`, if present.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path)(e)),
        };
        let j: Journal = serde_json::from_slice(&bytes).map_err(|e| Error::Journal {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        if j.version != 1 {
            return Err(Error::Journal {
                path: path.to_owned(),
                reason: format!("version {} (this agent reads version 1)", j.version),
            });
        }
        Ok(Some(j))
    }

    /// Write durably (temp, fsync, rename, fsync dir).
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Journal {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        write_durable(path, &json)
    }

    fn damaged(path: &Path, reason: impl Into<String>) -> Error {
        Error::Journal {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    /// The recording id.
    pub fn recording(&self, path: &Path) -> Result<RecordingId> {
        RecordingId::from_hex(&self.recording_id)
            .ok_or_else(|| Self::damaged(path, "recording_id is not 32 hex digits"))
    }

    /// The last acknowledged record, signature re-verified.
    pub fn last_record(&self, path: &Path) -> Result<Option<SegmentRecord>> {
        match &self.last_record {
            None => Ok(None),
            Some(s) => {
                let bytes = B64
                    .decode(s)
                    .map_err(|_| Self::damaged(path, "last_record is not base64"))?;
                SegmentRecord::from_bytes(&bytes)
                    .map(Some)
                    .map_err(|e| Self::damaged(path, format!("last_record: {e}")))
            }
        }
    }

    /// The pending record, signature re-verified.
    pub fn pending_record(&self, path: &Path) -> Result<Option<SegmentRecord>> {
        match &self.pending {
            None => Ok(None),
            Some(p) => {
                let bytes = B64
                    .decode(&p.record)
                    .map_err(|_| Self::damaged(path, "pending record is not base64"))?;
                let r = SegmentRecord::from_bytes(&bytes)
                    .map_err(|e| Self::damaged(path, format!("pending record: {e}")))?;
                if r.segment_ref().index != p.index {
                    return Err(Self::damaged(path, "pending record has another index"));
                }
                Ok(Some(r))
            }
        }
    }

    /// Record hash of acknowledged segment `i`.
    pub fn acked_hash(&self, path: &Path, i: usize) -> Result<[u8; 32]> {
        let a = self
            .acked
            .get(i)
            .ok_or_else(|| Self::damaged(path, "acked index out of range"))?;
        let mut h = [0u8; 32];
        hex::decode_to_slice(&a.record_hash, &mut h)
            .map_err(|_| Self::damaged(path, "record_hash is not 64 hex digits"))?;
        Ok(h)
    }

    /// Receipt bytes of acknowledged segment `i`.
    pub fn acked_receipt(&self, path: &Path, i: usize) -> Result<Vec<u8>> {
        let a = self
            .acked
            .get(i)
            .ok_or_else(|| Self::damaged(path, "acked index out of range"))?;
        B64.decode(&a.receipt)
            .map_err(|_| Self::damaged(path, "receipt is not base64"))
    }

    /// Record segment `record` as acknowledged with `receipt`.
    pub fn ack(&mut self, record: &SegmentRecord, receipt: &[u8]) {
        self.acked.push(Acked {
            record_hash: hex::encode(record.record_hash()),
            receipt: b64(receipt),
        });
        self.last_record = Some(b64(&record.to_bytes()));
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_round_trips_and_rejects_other_versions() {
        let d = tempfile::tempdir().unwrap();
        let p = Journal::path_for(d.path(), Path::new("/dock/clip.mp4"));
        assert_ne!(p, Journal::path_for(d.path(), Path::new("/dock/clip2.mp4")));
        assert!(Journal::load(&p).unwrap().is_none());
        let mut j = Journal {
            version: 1,
            source: FileId {
                path: "/dock/clip.mp4".into(),
                len: 10,
                mtime_ms: 5,
            },
            sidecar: None,
            recording_id: "00".repeat(16),
            capture_utc_ms: 1,
            plan: vec![PlannedSegment {
                kind: 0,
                source: Source::Main,
                offset: 0,
                len: 10,
                media_start_ms: 0,
                media_end_ms: 0,
            }],
            acked: vec![],
            last_record: None,
            pending: None,
            complete: false,
            disposed: None,
        };
        j.save(&p).unwrap();
        assert_eq!(Journal::load(&p).unwrap(), Some(j.clone()));
        j.version = 2;
        j.save(&p).unwrap();
        assert!(matches!(Journal::load(&p), Err(Error::Journal { .. })));
        std::fs::write(&p, b"{not json").unwrap();
        assert!(matches!(Journal::load(&p), Err(Error::Journal { .. })));
    }
}
