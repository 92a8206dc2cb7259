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
//! - the records sealed and sent (or about to be) whose fate is not yet
//!   known ("pending", in index order): every segment in flight, written
//!   once the segment is sealed and *before* the record is sent as the
//!   upload's trailer (the vault cannot store a segment before it has the
//!   record), so that whatever the vault stored but never acknowledged is
//!   recognised at `/head` by its hash and its receipt fetched, instead of
//!   sealing a conflicting segment. A record stays pending until its index
//!   is acknowledged (with it or another record) or the vault refused its
//!   upload outright ([`Journal::forget_pending`]); an upload cut off on
//!   the way may still be stored later, and a later reconcile recognises
//!   it. [`Journal::prune`] drops those that can no longer be stored
//!   because their chain link can no longer be the vault's head.
//!
//! Order for segment i (up to [`crate::ingest::PIPELINE`] segments in
//! flight, docs/vault.md §4): blob_i sealed into the upload → (segment
//! i+1 starts) and, on the journal writer thread, journal(pending +=
//! record_i), durable → record_i sent as the trailer → the vault's
//! answer, receipt verified → acked +=
//! (hash_i, receipt_i), last = record_i, pending −= record_i, in memory
//! only: the next durable write (the next segment's pending record, or
//! completion) carries it, and a crash before that loses only what `/head`
//! and `GET /v1/receipts` give back (module docs of `ingest`, "Resume").
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

/// The journal format this agent writes (2: `pending` is a list; version
/// 1, with one optional pending record, is read too).
pub const VERSION: u32 = 2;

/// `pending` as version 2 writes it (a list) or version 1 did (`null` or
/// one record).
fn pending_any_version<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<Pending>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<Pending>),
        One(Pending),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => Vec::new(),
        Some(Either::One(p)) => vec![p],
        Some(Either::List(v)) => v,
    })
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
    /// Records sealed and sent, or about to be, whose segment is not yet
    /// acknowledged, in index order (module docs).
    #[serde(default, deserialize_with = "pending_any_version")]
    pub pending: Vec<Pending>,
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
        if j.version != 1 && j.version != VERSION {
            return Err(Error::Journal {
                path: path.to_owned(),
                reason: format!(
                    "version {} (this agent reads versions 1 and {VERSION})",
                    j.version
                ),
            });
        }
        let mut j = j;
        j.version = VERSION;
        Ok(Some(j))
    }

    /// Write durably (temp, fsync, rename, fsync dir). An ingest saves
    /// through its [`crate::journal_writer::JournalWriter`] instead, which
    /// keeps its writes in order.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_durable(path, &self.to_json(path)?)
    }

    /// The file's bytes (`path` names it in errors).
    pub fn to_json(&self, path: &Path) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| Error::Journal {
            path: path.to_owned(),
            reason: e.to_string(),
        })
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

    /// The pending records in journal order, signatures re-verified.
    pub fn pending_records(&self, path: &Path) -> Result<Vec<SegmentRecord>> {
        let rid = self.recording(path)?;
        self.pending
            .iter()
            .map(|p| {
                let bytes = B64
                    .decode(&p.record)
                    .map_err(|_| Self::damaged(path, "a pending record is not base64"))?;
                let r = SegmentRecord::from_bytes(&bytes)
                    .map_err(|e| Self::damaged(path, format!("pending record: {e}")))?;
                if r.segment_ref().index != p.index || r.segment_ref().recording != rid {
                    return Err(Self::damaged(
                        path,
                        "a pending record names another segment",
                    ));
                }
                Ok(r)
            })
            .collect()
    }

    /// Journal `record` as pending (kept in index order; the caller saves
    /// before sending it).
    pub fn add_pending(&mut self, record: &SegmentRecord) {
        let index = record.segment_ref().index;
        let at = self.pending.partition_point(|p| p.index <= index);
        self.pending.insert(
            at,
            Pending {
                index,
                record: b64(&record.to_bytes()),
            },
        );
    }

    /// The vault refused the upload of the pending record `record_hash`
    /// outright: it can never be stored. Forget it and what chains on it.
    pub fn forget_pending(&mut self, path: &Path, record_hash: &[u8; 32]) -> Result<()> {
        let records = self.pending_records(path)?;
        let keep: Vec<Pending> = self
            .pending
            .iter()
            .zip(&records)
            .filter(|(_, r)| r.record_hash() != *record_hash)
            .map(|(p, _)| p.clone())
            .collect();
        self.pending = keep;
        self.prune(path)
    }

    /// Drop the pending records that can no longer be stored: those at an
    /// acknowledged index, and those whose `prev` is neither the last
    /// acknowledged record (for the next index) nor a pending record one
    /// index below (the vault stores a segment only after its predecessor).
    pub fn prune(&mut self, path: &Path) -> Result<()> {
        let acked = self.acked.len();
        let head = match acked {
            0 => [0u8; 32],
            n => self.acked_hash(path, n - 1)?,
        };
        let records = self.pending_records(path)?;
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_by_key(|&i| records[i].segment_ref().index);
        let mut level = acked;
        let mut below: Vec<[u8; 32]> = vec![head];
        let mut at_level: Vec<[u8; 32]> = Vec::new();
        let mut keep = Vec::new();
        for i in order {
            let r = &records[i];
            let index = r.segment_ref().index as usize;
            if index < acked {
                continue;
            }
            while level < index {
                below = std::mem::take(&mut at_level);
                level += 1;
            }
            if below.contains(r.prev_record_hash()) {
                at_level.push(r.record_hash());
                keep.push(self.pending[i].clone());
            }
        }
        self.pending = keep;
        Ok(())
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

    /// Record segment `record` as acknowledged with `receipt` (the next
    /// index), and prune the pending records it rules out.
    pub fn ack(&mut self, path: &Path, record: &SegmentRecord, receipt: &[u8]) -> Result<()> {
        if record.segment_ref().index as usize != self.acked.len() {
            return Err(Self::damaged(path, "acknowledging a segment out of order"));
        }
        self.acked.push(Acked {
            record_hash: hex::encode(record.record_hash()),
            receipt: b64(receipt),
        });
        self.last_record = Some(b64(&record.to_bytes()));
        self.prune(path)
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
            version: VERSION,
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
            pending: vec![],
            complete: false,
            disposed: None,
        };
        j.save(&p).unwrap();
        assert_eq!(Journal::load(&p).unwrap(), Some(j.clone()));
        j.version = VERSION + 1;
        j.save(&p).unwrap();
        assert!(matches!(Journal::load(&p), Err(Error::Journal { .. })));
        std::fs::write(&p, b"{not json").unwrap();
        assert!(matches!(Journal::load(&p), Err(Error::Journal { .. })));
    }

    /// A version-1 journal (one optional pending record) left by an older
    /// agent mid-upload reads as version 2 with a list of pending records.
    #[test]
    fn version_1_journals_still_load() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("j.json");
        let v1 = |pending: &str| {
            format!(
                r#"{{"version":1,"source":{{"path":"/dock/a.mp4","len":10,"mtime_ms":5}},
                "sidecar":null,"recording_id":"{}","capture_utc_ms":1,"plan":[],"acked":[],
                "last_record":null,"pending":{pending},"complete":false,"disposed":null}}"#,
                "00".repeat(16)
            )
        };
        std::fs::write(&p, v1("null")).unwrap();
        let j = Journal::load(&p).unwrap().unwrap();
        assert_eq!((j.version, j.pending.len()), (VERSION, 0));
        std::fs::write(&p, v1(r#"{"index":3,"record":"AAAA"}"#)).unwrap();
        let j = Journal::load(&p).unwrap().unwrap();
        assert_eq!(
            j.pending,
            vec![Pending {
                index: 3,
                record: "AAAA".into()
            }]
        );
        j.save(&p).unwrap();
        let again = Journal::load(&p).unwrap().unwrap();
        assert_eq!(again, j);
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .contains("\"version\": 2")
        );
    }
}
