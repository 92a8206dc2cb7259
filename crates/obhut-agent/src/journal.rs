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
//! ([`write_durable`]: temp, fsync, rename, fsync dir) and the log removed,
//! so a recording's journal writes stay O(n) overall. A crash can leave the
//! log's last line torn (cut short, or not matching its checksum): that
//! change was never durable, so nothing was sent on its strength, and it is
//! ignored; the next write is then a snapshot, so nothing is appended after
//! the torn line. A bad line followed by good ones is damage, not a crash,
//! and an error. The log is named after the recording, so a new recording
//! at the same path never reads an old recording's changes.

use std::fs::OpenOptions;
use std::io::Write;
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
enum Change {
    /// [`Journal::add_pending`].
    Pending(Pending),
    /// [`Journal::ack`]: the record (base64) and its receipt (base64).
    Ack { record: String, receipt: String },
    /// [`Journal::forget_pending`] (record hash, hex).
    Forget { record_hash: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct Event {
    seq: u64,
    change: Change,
}

/// The durable write that brings a journal's files up to date
/// ([`Journal::take_write`]), for [`write_journal`].
#[derive(Debug)]
pub enum JournalWrite {
    /// Lines to append to the log (`log`); none: nothing to do.
    Append {
        /// The log file.
        log: PathBuf,
        /// Whole lines.
        lines: Vec<u8>,
    },
    /// The whole journal, to write in place of the snapshot; then the
    /// log, whose changes it includes, is removed.
    Snapshot {
        /// The log file.
        log: PathBuf,
        /// The snapshot's bytes.
        json: Vec<u8>,
    },
}

/// Perform `w` for the journal at `path`. An append that fails is cut back
/// to the log's length before it (best effort) and reported; the caller
/// must not append again before a snapshot, since a change is then missing
/// from the log ([`crate::journal_writer`] enforces that).
pub fn write_journal(path: &Path, w: &JournalWrite) -> Result<()> {
    match w {
        JournalWrite::Snapshot { log, json } => {
            write_durable(path, json)?;
            // Its changes are in the snapshot now; if the removal is lost
            // in a crash, loading skips them by their `seq`.
            match std::fs::remove_file(log) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io("remove", log)(e)),
            }
        }
        JournalWrite::Append { lines, .. } if lines.is_empty() => Ok(()),
        JournalWrite::Append { log, lines } => {
            let mut f = match OpenOptions::new().append(true).open(log) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let f = OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(log)
                        .map_err(Error::io("create", log))?;
                    // The new name must survive a crash with the lines.
                    crate::state::sync_dir(log.parent().unwrap_or(Path::new(".")))?;
                    f
                }
                Err(e) => return Err(Error::io("open", log)(e)),
            };
            let before = f.metadata().map_err(Error::io("stat", log))?.len();
            let written = f
                .write_all(lines)
                .and_then(|()| f.sync_data())
                .map_err(Error::io("append to", log));
            if written.is_err() {
                let _ = f.set_len(before).and_then(|()| f.sync_data());
            }
            written
        }
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Base64 of some bytes (for the journal's binary fields).
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

impl Journal {
    /// A new recording's journal, nothing sealed yet (write it with
    /// [`Journal::save`] or a [`crate::journal_writer::JournalWriter`]).
    pub fn new(
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
            acked: Vec::new(),
            last_record: None,
            pending: Vec::new(),
            complete: false,
            disposed: None,
            seq: 0,
            disk: OnDisk::default(),
        }
    }

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
        j.disk = OnDisk {
            snapshot_len: bytes.len() as u64,
            ..OnDisk::default()
        };
        j.replay_log(path)?;
        Ok(Some(j))
    }

    /// The log of this journal (at `path`): named after the recording, so
    /// that a new recording at the same source path starts a log of its own.
    pub fn log_path(&self, path: &Path) -> PathBuf {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        path.with_file_name(format!("{stem}.{}.log", self.recording_id))
    }

    /// Apply the log's changes after the snapshot's `seq` (module docs).
    fn replay_log(&mut self, path: &Path) -> Result<()> {
        let log = self.log_path(path);
        let bytes = match std::fs::read(&log) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("read", &log)(e)),
        };
        self.apply_log(&log, &bytes)
    }

    /// Apply the changes in `bytes` (the log, read from `log`, which names
    /// it in errors) that follow this snapshot (module docs, "On disk"):
    /// a torn last line is ignored and noted, so that the next write is a
    /// snapshot; a damaged line before good ones, or a gap, is an error.
    pub fn apply_log(&mut self, log: &Path, bytes: &[u8]) -> Result<()> {
        let mut good = 0usize;
        let mut bad_at: Option<usize> = None;
        for (at, line) in lines_with_offsets(bytes) {
            let Some(event) = line.and_then(parse_line) else {
                bad_at.get_or_insert(at);
                continue;
            };
            if let Some(b) = bad_at {
                return Err(Self::damaged(
                    log,
                    format!("the line at byte {b} is damaged and later lines are not"),
                ));
            }
            good = at + line.map_or(0, <[u8]>::len) + 1;
            if event.seq <= self.seq {
                continue;
            }
            if Some(event.seq) != self.seq.checked_add(1) {
                return Err(Self::damaged(
                    log,
                    format!("change {} follows change {}", event.seq, self.seq),
                ));
            }
            self.apply(log, event.change)?;
            self.seq = event.seq;
        }
        self.disk.log_len = good as u64;
        self.disk.torn = bad_at.is_some();
        Ok(())
    }

    /// Write the whole journal durably, now, and remove its log. An ingest
    /// writes through its [`crate::journal_writer::JournalWriter`] instead,
    /// which keeps its writes in order.
    pub fn save(&mut self, path: &Path) -> Result<()> {
        let w = self.take_write(path, true)?;
        write_journal(path, &w)
    }

    /// The write that makes every change so far durable: the unsaved lines
    /// appended to the log, or (when `snapshot`, when the log would outgrow
    /// the snapshot, or after a torn line) the whole journal. The journal
    /// counts it as done: perform it with [`write_journal`] before anything
    /// depends on it.
    pub fn take_write(&mut self, path: &Path, snapshot: bool) -> Result<JournalWrite> {
        let log = self.log_path(path);
        let log_len = self.disk.log_len + self.disk.unsaved.len() as u64;
        if snapshot || self.disk.torn || log_len > self.disk.snapshot_len.max(COMPACT_AT) {
            let json = self.to_json(path)?;
            self.disk = OnDisk {
                snapshot_len: json.len() as u64,
                ..OnDisk::default()
            };
            return Ok(JournalWrite::Snapshot { log, json });
        }
        self.disk.log_len = log_len;
        Ok(JournalWrite::Append {
            log,
            lines: std::mem::take(&mut self.disk.unsaved),
        })
    }

    /// Note `change` (already applied) as the next log line.
    fn record(&mut self, change: Change) {
        self.seq += 1;
        let event = Event {
            seq: self.seq,
            change,
        };
        // Strings and integers only: serialising cannot fail.
        let json = serde_json::to_vec(&event).unwrap_or_default();
        self.disk
            .unsaved
            .extend_from_slice(line_sum(&json).as_bytes());
        self.disk.unsaved.push(b' ');
        self.disk.unsaved.extend_from_slice(&json);
        self.disk.unsaved.push(b'\n');
    }

    /// Apply a change read from the log.
    fn apply(&mut self, path: &Path, change: Change) -> Result<()> {
        match change {
            Change::Pending(p) => {
                self.insert_pending(p);
                Ok(())
            }
            Change::Ack { record, receipt } => {
                let r = B64
                    .decode(&record)
                    .ok()
                    .and_then(|b| SegmentRecord::from_bytes(&b).ok())
                    .ok_or_else(|| Self::damaged(path, "an acknowledged record in the log"))?;
                let receipt = B64
                    .decode(&receipt)
                    .map_err(|_| Self::damaged(path, "a receipt in the log is not base64"))?;
                self.apply_ack(path, &r, &receipt)
            }
            Change::Forget { record_hash } => {
                let mut h = [0u8; 32];
                hex::decode_to_slice(&record_hash, &mut h)
                    .map_err(|_| Self::damaged(path, "a forgotten record hash in the log"))?;
                self.apply_forget(path, &h)
            }
        }
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
    pub fn forget_pending(&mut self, path: &Path, record_hash: &[u8; 32]) -> Result<()> {
        self.apply_forget(path, record_hash)?;
        self.record(Change::Forget {
            record_hash: hex::encode(record_hash),
        });
        Ok(())
    }

    fn apply_forget(&mut self, path: &Path, record_hash: &[u8; 32]) -> Result<()> {
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
        self.apply_ack(path, record, receipt)?;
        self.record(Change::Ack {
            record: b64(&record.to_bytes()),
            receipt: b64(receipt),
        });
        Ok(())
    }

    fn apply_ack(&mut self, path: &Path, record: &SegmentRecord, receipt: &[u8]) -> Result<()> {
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

/// The checksum of a log line: SHA-256 of its JSON, first 8 bytes, hex.
fn line_sum(json: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(json)[..8])
}

/// A log line's change, if the line is whole and its checksum matches.
fn parse_line(line: &[u8]) -> Option<Event> {
    let (sum, json) = (line.get(..16)?, line.get(17..)?);
    if line.get(16) != Some(&b' ') || sum != line_sum(json).as_bytes() {
        return None;
    }
    serde_json::from_slice(json).ok()
}

/// The log's lines with their offsets; a last line without its newline
/// (cut short) comes as `None`.
fn lines_with_offsets(bytes: &[u8]) -> impl Iterator<Item = (usize, Option<&[u8]>)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let start = at;
        match bytes[at..].iter().position(|&b| b == b'\n') {
            Some(n) => {
                at += n + 1;
                Some((start, Some(&bytes[start..start + n])))
            }
            None => {
                at = bytes.len();
                Some((start, None))
            }
        }
    })
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
            seq: 0,
            disk: OnDisk::default(),
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
        let mut j = Journal::load(&p).unwrap().unwrap();
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
                .contains("\"version\": 3")
        );
    }

    fn fresh(records: &[SegmentRecord]) -> Journal {
        let source = FileId {
            path: "/dock/clip.mp4".into(),
            len: 10,
            mtime_ms: 5,
        };
        Journal::new(
            source,
            None,
            records[0].segment_ref().recording,
            1,
            Vec::new(),
        )
    }

    /// A journal of `n` signed records' recording, saved in a new
    /// directory (kept alive by the first element).
    fn started(n: usize) -> (tempfile::TempDir, PathBuf, Vec<SegmentRecord>, Journal) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("j.json");
        let records = test_records::chain(n);
        let mut j = fresh(&records);
        j.save(&p).unwrap();
        (d, p, records, j)
    }

    /// Pend and acknowledge `records[range]`, each change written as the
    /// journal decides (appended, or a snapshot when due).
    fn pend_and_ack(j: &mut Journal, p: &Path, records: &[SegmentRecord]) {
        for r in records {
            j.add_pending(r);
            let w = j.take_write(p, false).unwrap();
            write_journal(p, &w).unwrap();
            j.ack(p, r, b"receipt").unwrap();
        }
        let w = j.take_write(p, false).unwrap();
        write_journal(p, &w).unwrap();
    }

    #[test]
    fn changes_are_appended_to_the_log_and_replayed_on_load() {
        let (_d, p, records, mut j) = started(6);
        let snapshot = std::fs::read(&p).unwrap();
        pend_and_ack(&mut j, &p, &records[..5]);
        j.add_pending(&records[5]);
        let w = j.take_write(&p, false).unwrap();
        assert!(matches!(w, JournalWrite::Append { .. }), "{w:?}");
        write_journal(&p, &w).unwrap();
        assert_eq!(
            std::fs::read(&p).unwrap(),
            snapshot,
            "the snapshot is not rewritten"
        );
        assert_eq!(j.seq, 11);
        let loaded = Journal::load(&p).unwrap().unwrap();
        assert_eq!(loaded, j);
        assert_eq!((loaded.acked.len(), loaded.pending.len()), (5, 1));
        assert_eq!(
            loaded.last_record(&p).unwrap().unwrap().record_hash(),
            records[4].record_hash()
        );
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_the_next_write_is_a_snapshot() {
        let (_d, p, records, mut j) = started(3);
        pend_and_ack(&mut j, &p, &records[..2]);
        let before = Journal::load(&p).unwrap().unwrap();
        j.add_pending(&records[2]);
        write_journal(&p, &j.take_write(&p, false).unwrap()).unwrap();
        let log = j.log_path(&p);
        let full = std::fs::read(&log).unwrap();
        // Cut short, or whole but not matching its checksum (a crash
        // before the fdatasync returned): that change never was.
        let mut flipped = full.clone();
        let at = full.len() - 20;
        flipped[at] ^= 1;
        for torn in [&full[..full.len() - 7], &flipped[..]] {
            std::fs::write(&log, torn).unwrap();
            let mut l = Journal::load(&p).unwrap().unwrap();
            assert_eq!(
                (l.seq, &l.pending, &l.acked),
                (before.seq, &before.pending, &before.acked)
            );
            assert!(l.disk.torn);
            // Nothing is appended after a torn line.
            l.add_pending(&records[2]);
            let w = l.take_write(&p, false).unwrap();
            assert!(matches!(w, JournalWrite::Snapshot { .. }), "{w:?}");
        }
    }

    #[test]
    fn a_damaged_line_before_good_ones_or_a_gap_is_an_error() {
        let (_d, p, records, mut j) = started(3);
        pend_and_ack(&mut j, &p, &records);
        let log = j.log_path(&p);
        let full = std::fs::read(&log).unwrap();
        let mut damaged = full.clone();
        damaged[30] ^= 1;
        std::fs::write(&log, &damaged).unwrap();
        let e = Journal::load(&p).unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");
        // A whole line missing in the middle: the changes do not follow on.
        let lines: Vec<&[u8]> = full.split_inclusive(|&b| b == b'\n').collect();
        let gap: Vec<u8> = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .flat_map(|(_, l)| l.iter().copied())
            .collect();
        std::fs::write(&log, &gap).unwrap();
        let e = Journal::load(&p).unwrap_err();
        assert!(e.to_string().contains("follows change"), "{e}");
    }

    #[test]
    fn the_log_is_compacted_once_it_outgrows_the_snapshot() {
        // About 4.6 KB of log per segment (a pending record and its ack).
        let (_d, p, records, mut j) = started(80);
        let mut snapshots = 0;
        for r in &records {
            j.add_pending(r);
            j.ack(&p, r, b"receipt").unwrap();
            let w = j.take_write(&p, false).unwrap();
            if matches!(w, JournalWrite::Snapshot { .. }) {
                snapshots += 1;
            }
            write_journal(&p, &w).unwrap();
            let log = std::fs::metadata(j.log_path(&p)).map_or(0, |m| m.len());
            assert!(log <= COMPACT_AT.max(std::fs::metadata(&p).unwrap().len()));
        }
        assert_eq!(snapshots, 1, "80 × 4.6 KB = 368 KB: one compaction");
        assert_eq!(Journal::load(&p).unwrap().unwrap(), j);
    }

    #[test]
    fn changes_already_in_the_snapshot_are_skipped_and_other_recordings_logs_ignored() {
        let (_d, p, records, mut j) = started(4);
        pend_and_ack(&mut j, &p, &records[..2]);
        let log = j.log_path(&p);
        let old_log = std::fs::read(&log).unwrap();
        j.save(&p).unwrap();
        assert!(!log.exists(), "a snapshot removes the log it includes");
        // A crash lost the removal: the log's changes are in the snapshot.
        std::fs::write(&log, &old_log).unwrap();
        let mut l = Journal::load(&p).unwrap().unwrap();
        assert_eq!((l.seq, l.acked.len()), (j.seq, 2));
        pend_and_ack(&mut l, &p, &records[2..]);
        let again = Journal::load(&p).unwrap().unwrap();
        assert_eq!((again.seq, again.acked.len()), (l.seq, 4));
        // A new recording at the same source path has a log of its own.
        let other = fresh(&test_records::chain(1));
        assert_ne!(other.log_path(&p), j.log_path(&p));
    }
}

/// Signed, chained records of one recording, for tests.
#[cfg(test)]
pub(crate) mod test_records {
    use obhut_core::device::{RecordingSealer, SegmentSpec};
    use obhut_core::epoch::EpochSecret;
    use obhut_core::group;
    use obhut_core::identity::{PersonSecret, SignKey};
    use obhut_core::ids::{EpochId, RecordingId};
    use obhut_core::record::SegmentRecord;
    use obhut_core::rng::os_rng;
    use obhut_core::segment::SegmentKind;

    /// `n` records (segments 0 … n−1, the last one final).
    pub(crate) fn chain(n: usize) -> Vec<SegmentRecord> {
        let rng = &mut os_rng();
        let people: Vec<PersonSecret> = ["a", "b"]
            .iter()
            .map(|n| PersonSecret::generate(n, rng))
            .collect();
        let publics: Vec<_> = people.iter().map(|p| p.public()).collect();
        let (mut d, envs) = group::deal("journal", 2, 2, &publics, rng).unwrap();
        for (p, e) in people.iter().zip(&envs) {
            let share = e.open(p, &d).unwrap();
            group::sign_descriptor(&mut d, &share, p).unwrap();
        }
        let group = d.pin().unwrap();
        let epoch = EpochSecret::generate(EpochId::random(rng), rng).public("c", 0, i64::MAX);
        let key = SignKey::generate(rng);
        let mut sealer = RecordingSealer::new(&key, &group, &epoch, RecordingId::random(rng));
        (0..n)
            .map(|i| {
                let spec = SegmentSpec {
                    kind: SegmentKind::Media,
                    media_start_ms: 0,
                    media_end_ms: 0,
                    capture_utc_ms: 1_000,
                    is_final: i + 1 == n,
                };
                sealer
                    .seal_segment(spec, &[i as u8; 10][..], std::io::sink(), &mut os_rng())
                    .unwrap()
            })
            .collect()
    }
}
