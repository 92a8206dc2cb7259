//! The per-recording progress journal (docs/vault.md §4, "Resume").
//!
//! Per source file, a JSON snapshot `STATE/journal/<key>.json`, where `key`
//! is derived from the source path, and the changes made since that
//! snapshot in an append-only log beside it (see "On disk" below). It holds
//! what the device needs to continue a recording after a cut connection, a
//! killed agent or a restarted vault, and nothing secret (no segment key
//! ever reaches disk):
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
//!
//! ## On disk (version 3)
//!
//! A recording changes its journal once or twice per segment (a pending
//! record, an acknowledgement), and a recording may have thousands of
//! segments (8 hours cut every 2 s: 14,400). Rewriting the whole journal for
//! each change, as versions 1 and 2 did, writes O(n²) bytes over a
//! recording; so each change is a line appended to the log
//! `<key>.<recording id>.log` and made durable with one `fdatasync`:
//!
//! ```text
//! <16 hex digits: SHA-256 of the JSON, first 8 bytes> {"seq":7,"change":{"pending":{…}}}
//! ```
//!
//! `seq` counts changes; the snapshot names the last change it includes
//! (`seq`), and loading applies the log's later changes, which must follow
//! on without a gap. When the log outgrows the snapshot (at least
//! [`COMPACT_AT`] bytes), the journal is written whole again
//! ([`crate::state::write_durable`]: temp, fsync, rename, fsync dir) and
//! the log removed,
//! so a recording's journal writes stay O(n) overall. A crash can leave the
//! log's last line torn (cut short, or not matching its checksum): that
//! change was never durable, so nothing was sent on its strength, and it is
//! ignored; the next write is then a snapshot, so nothing is appended after
//! the torn line. A bad line followed by good ones is damage, not a crash,
//! and an error. The log is named after the recording, so a new recording
//! at the same path never reads an old recording's changes.
//!
//! A [`Journal`] knows its own file ([`Journal::path`]); the log's format,
//! loading and writing are in `log.rs`.

use std::path::{Path, PathBuf};

use base64::Engine;
use obhut_core::ids::RecordingId;
use obhut_core::record::SegmentRecord;
use obhut_core::segment::SegmentKind;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod log;
#[cfg(test)]
pub(crate) mod test_records;

pub use log::{JournalWrite, write_journal};

/// Which file a planned segment's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The media file.
    Main,
    /// The descriptive-metadata sidecar.
    Sidecar,
    /// The metadata patch made from the media file's blanked metadata
    /// ([`Journal::blanks`]; docs/format.md §7.4).
    Patch,
}

/// A byte range of the media file blanked out of its segments
/// ([`obhut_media::Blank`]), as the journal keeps it so that a resumed
/// run seals the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlankRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Box header kept (its type made `free`), 0 for sample bytes.
    pub box_header: u8,
}

impl From<&obhut_media::Blank> for BlankRange {
    fn from(b: &obhut_media::Blank) -> Self {
        BlankRange {
            start: b.range.start,
            end: b.range.end,
            box_header: b.box_header,
        }
    }
}

impl From<&BlankRange> for obhut_media::Blank {
    fn from(b: &BlankRange) -> Self {
        obhut_media::Blank {
            range: b.start..b.end,
            box_header: b.box_header,
        }
    }
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

/// The journal format this agent writes (3: a snapshot and a log of
/// changes, module docs). Versions 1 (one optional pending record) and 2
/// (`pending` a list, no log) are read too.
pub const VERSION: u32 = 3;

/// The log is compacted into a new snapshot once it would exceed both this
/// and the snapshot's size (module docs, "On disk").
pub const COMPACT_AT: u64 = 256 * 1024;

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
    /// The media file's descriptive metadata, blanked out of its segments
    /// and sealed as the metadata patch (sorted; [`Source::Patch`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blanks: Vec<BlankRange>,
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
    /// The last change the snapshot includes; the log holds later ones
    /// (version 3; 0 before).
    #[serde(default)]
    pub seq: u64,
    /// What is on disk, and the changes not yet written.
    #[serde(skip)]
    pub(crate) disk: OnDisk,
    /// The snapshot's file (`STATE/journal/<key>.json`), named in errors;
    /// the log lies beside it.
    #[serde(skip)]
    pub(crate) path: PathBuf,
}

/// The journal's files as this process last wrote or read them, and the
/// changes since.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OnDisk {
    /// Log lines of the changes made since the last durable write.
    unsaved: Vec<u8>,
    /// Bytes of good lines in the log.
    log_len: u64,
    /// Bytes of the snapshot.
    snapshot_len: u64,
    /// The log ends in a torn line: write a snapshot before appending.
    torn: bool,
}

/// One change, as a log line holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Change {
    /// [`Journal::add_pending`].
    Pending(Pending),
    /// [`Journal::ack`]: the record (base64) and its receipt (base64).
    Ack { record: String, receipt: String },
    /// [`Journal::forget_pending`] (record hash, hex).
    Forget { record_hash: String },
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Base64 of some bytes (for the journal's binary fields).
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

impl Journal {
    /// A new recording's journal at `path` ([`Journal::path_for`]), nothing
    /// sealed yet (write it with [`Journal::save`] or a
    /// [`crate::journal_writer::JournalWriter`]).
    pub fn new(
        path: PathBuf,
        source: FileId,
        sidecar: Option<FileId>,
        recording: RecordingId,
        capture_utc_ms: i64,
        plan: Vec<PlannedSegment>,
    ) -> Self {
        Journal {
            version: VERSION,
            source,
            sidecar,
            recording_id: recording.to_string(),
            capture_utc_ms,
            plan,
            blanks: Vec::new(),
            acked: Vec::new(),
            last_record: None,
            pending: Vec::new(),
            complete: false,
            disposed: None,
            seq: 0,
            disk: OnDisk::default(),
            path,
        }
    }

    /// The journal's file (its snapshot; the log lies beside it,
    /// [`Journal::log_path`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Path of the journal for the (absolute) source `path`.
    pub fn path_for(dir: &Path, source: &Path) -> PathBuf {
        use sha2::Digest;
        let h = sha2::Sha256::digest(source.as_os_str().as_encoded_bytes());
        dir.join(format!("{}.json", hex::encode(&h[..16])))
    }

    fn damaged(path: &Path, reason: impl Into<String>) -> Error {
        Error::Journal {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    /// The recording id.
    pub fn recording(&self) -> Result<RecordingId> {
        RecordingId::from_hex(&self.recording_id)
            .ok_or_else(|| Self::damaged(&self.path, "recording_id is not 32 hex digits"))
    }

    /// The last acknowledged record, signature re-verified.
    pub fn last_record(&self) -> Result<Option<SegmentRecord>> {
        match &self.last_record {
            None => Ok(None),
            Some(s) => {
                let bytes = B64
                    .decode(s)
                    .map_err(|_| Self::damaged(&self.path, "last_record is not base64"))?;
                SegmentRecord::from_bytes(&bytes)
                    .map(Some)
                    .map_err(|e| Self::damaged(&self.path, format!("last_record: {e}")))
            }
        }
    }

    /// The pending records in journal order, signatures re-verified.
    pub fn pending_records(&self) -> Result<Vec<SegmentRecord>> {
        let rid = self.recording()?;
        self.pending
            .iter()
            .map(|p| {
                let bytes = B64
                    .decode(&p.record)
                    .map_err(|_| Self::damaged(&self.path, "a pending record is not base64"))?;
                let r = SegmentRecord::from_bytes(&bytes)
                    .map_err(|e| Self::damaged(&self.path, format!("pending record: {e}")))?;
                if r.segment_ref().index != p.index || r.segment_ref().recording != rid {
                    return Err(Self::damaged(
                        &self.path,
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
        let p = Pending {
            index: record.segment_ref().index,
            record: b64(&record.to_bytes()),
        };
        self.insert_pending(p.clone());
        self.record(Change::Pending(p));
    }

    fn insert_pending(&mut self, p: Pending) {
        let at = self.pending.partition_point(|q| q.index <= p.index);
        self.pending.insert(at, p);
    }

    /// The vault refused the upload of the pending record `record_hash`
    /// outright: it can never be stored. Forget it and what chains on it.
    pub fn forget_pending(&mut self, record_hash: &[u8; 32]) -> Result<()> {
        self.apply_forget(record_hash)?;
        self.record(Change::Forget {
            record_hash: hex::encode(record_hash),
        });
        Ok(())
    }

    fn apply_forget(&mut self, record_hash: &[u8; 32]) -> Result<()> {
        let records = self.pending_records()?;
        let keep: Vec<Pending> = self
            .pending
            .iter()
            .zip(&records)
            .filter(|(_, r)| r.record_hash() != *record_hash)
            .map(|(p, _)| p.clone())
            .collect();
        self.pending = keep;
        self.prune()
    }

    /// Drop the pending records that can no longer be stored: those at an
    /// acknowledged index, and those whose `prev` is neither the last
    /// acknowledged record (for the next index) nor a pending record one
    /// index below (the vault stores a segment only after its predecessor).
    pub fn prune(&mut self) -> Result<()> {
        let acked = self.acked.len();
        let head = match acked {
            0 => [0u8; 32],
            n => self.acked_hash(n - 1)?,
        };
        let records = self.pending_records()?;
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
    pub fn acked_hash(&self, i: usize) -> Result<[u8; 32]> {
        let a = self
            .acked
            .get(i)
            .ok_or_else(|| Self::damaged(&self.path, "acked index out of range"))?;
        let mut h = [0u8; 32];
        hex::decode_to_slice(&a.record_hash, &mut h)
            .map_err(|_| Self::damaged(&self.path, "record_hash is not 64 hex digits"))?;
        Ok(h)
    }

    /// Receipt bytes of acknowledged segment `i`.
    pub fn acked_receipt(&self, i: usize) -> Result<Vec<u8>> {
        let a = self
            .acked
            .get(i)
            .ok_or_else(|| Self::damaged(&self.path, "acked index out of range"))?;
        B64.decode(&a.receipt)
            .map_err(|_| Self::damaged(&self.path, "receipt is not base64"))
    }

    /// Record segment `record` as acknowledged with `receipt` (the next
    /// index), and prune the pending records it rules out.
    pub fn ack(&mut self, record: &SegmentRecord, receipt: &[u8]) -> Result<()> {
        self.apply_ack(record, receipt)?;
        self.record(Change::Ack {
            record: b64(&record.to_bytes()),
            receipt: b64(receipt),
        });
        Ok(())
    }

    fn apply_ack(&mut self, record: &SegmentRecord, receipt: &[u8]) -> Result<()> {
        if record.segment_ref().index as usize != self.acked.len() {
            return Err(Self::damaged(
                &self.path,
                "acknowledging a segment out of order",
            ));
        }
        self.acked.push(Acked {
            record_hash: hex::encode(record.record_hash()),
            receipt: b64(receipt),
        });
        self.last_record = Some(b64(&record.to_bytes()));
        self.prune()
    }
}
