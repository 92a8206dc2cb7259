//! The journal on disk (module docs of [`super`], "On disk"): loading a
//! snapshot and replaying its log, the log's lines, and the durable write
//! that brings both up to date.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use obhut_core::record::SegmentRecord;
use serde::{Deserialize, Serialize};

use super::{B64, COMPACT_AT, Change, Journal, OnDisk, VERSION};
use crate::error::{Error, Result};
use crate::state::write_durable;

/// One log line's content: the change and its sequence number.
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
        /// The journal's file ([`Journal::path`]), named in errors.
        path: PathBuf,
        /// The log file.
        log: PathBuf,
        /// Whole lines.
        lines: Vec<u8>,
    },
    /// The whole journal, to write in place of the snapshot; then the
    /// log, whose changes it includes, is removed.
    Snapshot {
        /// The snapshot file ([`Journal::path`]).
        path: PathBuf,
        /// The log file.
        log: PathBuf,
        /// The snapshot's bytes.
        json: Vec<u8>,
    },
}

impl JournalWrite {
    /// The journal's file.
    pub fn path(&self) -> &Path {
        match self {
            JournalWrite::Append { path, .. } | JournalWrite::Snapshot { path, .. } => path,
        }
    }
}

/// Perform `w`. An append that fails is cut back
/// to the log's length before it (best effort) and reported; the caller
/// must not append again before a snapshot, since a change is then missing
/// from the log ([`crate::journal_writer`] enforces that).
pub fn write_journal(w: &JournalWrite) -> Result<()> {
    match w {
        JournalWrite::Snapshot { path, log, json } => {
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
        JournalWrite::Append { log, lines, .. } => {
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

impl Journal {
    /// Load the journal at `path`, if present (it keeps `path` as its own).
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
        j.path = path.to_owned();
        j.version = VERSION;
        j.disk = OnDisk {
            snapshot_len: bytes.len() as u64,
            ..OnDisk::default()
        };
        j.replay_log()?;
        Ok(Some(j))
    }

    /// The log of this journal, beside its file: named after the recording,
    /// so that a new recording at the same source path starts a log of its
    /// own.
    pub fn log_path(&self) -> PathBuf {
        let path = &self.path;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        path.with_file_name(format!("{stem}.{}.log", self.recording_id))
    }

    /// Apply the log's changes after the snapshot's `seq` (module docs).
    fn replay_log(&mut self) -> Result<()> {
        let log = self.log_path();
        let bytes = match std::fs::read(&log) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("read", &log)(e)),
        };
        self.apply_log(&bytes)
    }

    /// Apply the changes in `bytes` (the log, [`Journal::log_path`], which
    /// errors name) that follow this snapshot (module docs, "On disk"):
    /// a torn last line is ignored and noted, so that the next write is a
    /// snapshot; a damaged line before good ones, or a gap, is an error.
    pub fn apply_log(&mut self, bytes: &[u8]) -> Result<()> {
        let log = &self.log_path();
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
    pub fn save(&mut self) -> Result<()> {
        let w = self.take_write(true)?;
        write_journal(&w)
    }

    /// The write that makes every change so far durable: the unsaved lines
    /// appended to the log, or (when `snapshot`, when the log would outgrow
    /// the snapshot, or after a torn line) the whole journal. The journal
    /// counts it as done: perform it with [`write_journal`] before anything
    /// depends on it.
    pub fn take_write(&mut self, snapshot: bool) -> Result<JournalWrite> {
        let log = self.log_path();
        let log_len = self.disk.log_len + self.disk.unsaved.len() as u64;
        if snapshot || self.disk.torn || log_len > self.disk.snapshot_len.max(COMPACT_AT) {
            let json = self.to_json()?;
            self.disk = OnDisk {
                snapshot_len: json.len() as u64,
                ..OnDisk::default()
            };
            return Ok(JournalWrite::Snapshot {
                path: self.path.clone(),
                log,
                json,
            });
        }
        self.disk.log_len = log_len;
        Ok(JournalWrite::Append {
            path: self.path.clone(),
            log,
            lines: std::mem::take(&mut self.disk.unsaved),
        })
    }

    /// Note `change` (already applied) as the next log line.
    pub(super) fn record(&mut self, change: Change) {
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

    /// Apply a change read from the log (`path`, named in errors).
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
                self.apply_ack(&r, &receipt)
            }
            Change::Forget { record_hash } => {
                let mut h = [0u8; 32];
                hex::decode_to_slice(&record_hash, &mut h)
                    .map_err(|_| Self::damaged(path, "a forgotten record hash in the log"))?;
                self.apply_forget(&h)
            }
        }
    }

    /// The snapshot's bytes.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| Error::Journal {
            path: self.path.clone(),
            reason: e.to_string(),
        })
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
    use crate::journal::test_records;
    use crate::journal::{FileId, Pending, PlannedSegment, Source};

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
            blanks: vec![crate::journal::BlankRange {
                start: 2,
                end: 4,
                box_header: 0,
            }],
            acked: vec![],
            last_record: None,
            pending: vec![],
            complete: false,
            disposed: None,
            seq: 0,
            disk: OnDisk::default(),
            path: p.clone(),
        };
        j.save().unwrap();
        assert_eq!(Journal::load(&p).unwrap(), Some(j.clone()));
        j.version = VERSION + 1;
        j.save().unwrap();
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
        j.save().unwrap();
        let again = Journal::load(&p).unwrap().unwrap();
        assert_eq!(again, j);
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .contains("\"version\": 3")
        );
    }

    fn fresh(p: &Path, records: &[SegmentRecord]) -> Journal {
        let source = FileId {
            path: "/dock/clip.mp4".into(),
            len: 10,
            mtime_ms: 5,
        };
        Journal::new(
            p.to_owned(),
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
        let mut j = fresh(&p, &records);
        j.save().unwrap();
        (d, p, records, j)
    }

    /// Pend and acknowledge `records[range]`, each change written as the
    /// journal decides (appended, or a snapshot when due).
    fn pend_and_ack(j: &mut Journal, records: &[SegmentRecord]) {
        for r in records {
            j.add_pending(r);
            let w = j.take_write(false).unwrap();
            write_journal(&w).unwrap();
            j.ack(r, b"receipt").unwrap();
        }
        let w = j.take_write(false).unwrap();
        write_journal(&w).unwrap();
    }

    #[test]
    fn changes_are_appended_to_the_log_and_replayed_on_load() {
        let (_d, p, records, mut j) = started(6);
        let snapshot = std::fs::read(&p).unwrap();
        pend_and_ack(&mut j, &records[..5]);
        j.add_pending(&records[5]);
        let w = j.take_write(false).unwrap();
        assert!(matches!(w, JournalWrite::Append { .. }), "{w:?}");
        write_journal(&w).unwrap();
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
            loaded.last_record().unwrap().unwrap().record_hash(),
            records[4].record_hash()
        );
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_the_next_write_is_a_snapshot() {
        let (_d, p, records, mut j) = started(3);
        pend_and_ack(&mut j, &records[..2]);
        let before = Journal::load(&p).unwrap().unwrap();
        j.add_pending(&records[2]);
        write_journal(&j.take_write(false).unwrap()).unwrap();
        let log = j.log_path();
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
            let w = l.take_write(false).unwrap();
            assert!(matches!(w, JournalWrite::Snapshot { .. }), "{w:?}");
        }
    }

    #[test]
    fn a_damaged_line_before_good_ones_or_a_gap_is_an_error() {
        let (_d, p, records, mut j) = started(3);
        pend_and_ack(&mut j, &records);
        let log = j.log_path();
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
            j.ack(r, b"receipt").unwrap();
            let w = j.take_write(false).unwrap();
            if matches!(w, JournalWrite::Snapshot { .. }) {
                snapshots += 1;
            }
            write_journal(&w).unwrap();
            let log = std::fs::metadata(j.log_path()).map_or(0, |m| m.len());
            assert!(log <= COMPACT_AT.max(std::fs::metadata(&p).unwrap().len()));
        }
        assert_eq!(snapshots, 1, "80 × 4.6 KB = 368 KB: one compaction");
        assert_eq!(Journal::load(&p).unwrap().unwrap(), j);
    }

    #[test]
    fn changes_already_in_the_snapshot_are_skipped_and_other_recordings_logs_ignored() {
        let (_d, p, records, mut j) = started(4);
        pend_and_ack(&mut j, &records[..2]);
        let log = j.log_path();
        let old_log = std::fs::read(&log).unwrap();
        j.save().unwrap();
        assert!(!log.exists(), "a snapshot removes the log it includes");
        // A crash lost the removal: the log's changes are in the snapshot.
        std::fs::write(&log, &old_log).unwrap();
        let mut l = Journal::load(&p).unwrap().unwrap();
        assert_eq!((l.seq, l.acked.len()), (j.seq, 2));
        pend_and_ack(&mut l, &records[2..]);
        let again = Journal::load(&p).unwrap().unwrap();
        assert_eq!((again.seq, again.acked.len()), (l.seq, 4));
        // A new recording at the same source path has a log of its own.
        let other = fresh(&p, &test_records::chain(1));
        assert_ne!(other.log_path(), j.log_path());
    }
}
