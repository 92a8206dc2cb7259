//! Checking a recording directory without keys (docs/format.md §7.2),
//! segment by segment, so that a report can name every bad segment rather
//! than the first error of the chain verifier.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use obhut_core::chain::{self, ChainSummary};
use obhut_core::ids::RecordingId;
use obhut_core::kem::{self, GroupKey};
use obhut_core::record::SegmentRecord;

use crate::recording_dir::{self, DirError, ReadError, blob_name, record_name};

/// What is wrong with one segment.
#[derive(Debug)]
#[non_exhaustive]
pub enum Problem {
    /// Its record file is missing.
    MissingRecord {
        /// The segment.
        index: u32,
    },
    /// Its record file cannot be read.
    RecordUnreadable(ReadError),
    /// Its record does not parse or its signature fails.
    RecordInvalid(obhut_core::Error),
    /// Its record file holds another segment's record.
    Misnamed {
        /// The segment the name stands for.
        index: u32,
        /// The segment the record is for.
        holds: u32,
    },
    /// It belongs to another recording or device than segment 0.
    OtherRecording,
    /// Segment 0's previous-record hash is not all zero.
    FirstLinkNotZero,
    /// Its previous-record hash does not match the segment before.
    BrokenLink {
        /// The segment.
        index: u32,
    },
    /// It is marked final but later segments exist.
    FinalNotLast,
    /// It is the last segment present and not marked final.
    Incomplete,
    /// Its capsule's validity proof fails.
    Capsule(obhut_core::Error),
    /// Its blob does not open.
    BlobMissing {
        /// The segment.
        index: u32,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Its blob's length or hash differs from the record.
    Blob {
        /// The segment.
        index: u32,
        /// Why.
        source: obhut_core::Error,
    },
}

/// A core error without the "recording … segment …:" prefix (a report line
/// already names the segment).
fn reason(e: &obhut_core::Error) -> String {
    match e {
        obhut_core::Error::Segment { failure, .. } => failure.to_string(),
        other => other.to_string(),
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MissingRecord { index } => {
                write!(f, "record {} is missing", record_name(*index))
            }
            Problem::RecordUnreadable(e) => write!(f, "record: {e}"),
            Problem::RecordInvalid(e) => write!(f, "record: {}", reason(e)),
            Problem::Misnamed { index, holds } => write!(
                f,
                "{} holds the record of segment {holds}",
                record_name(*index)
            ),
            Problem::OtherRecording => {
                f.write_str("belongs to another recording or device than segment 0")
            }
            Problem::FirstLinkNotZero => {
                f.write_str("segment 0 must have an all-zero previous-record hash")
            }
            Problem::BrokenLink { index } => write!(
                f,
                "previous-record hash does not match segment {}",
                index - 1
            ),
            Problem::FinalNotLast => f.write_str("marked final, but later segments exist"),
            Problem::Incomplete => {
                f.write_str("incomplete: the last segment present is not marked final")
            }
            Problem::Capsule(e) => write!(f, "capsule: {}", reason(e)),
            Problem::BlobMissing { index, source } => {
                write!(f, "blob {}: {source}", blob_name(*index))
            }
            Problem::Blob { index, source } => {
                write!(f, "blob {}: {}", blob_name(*index), reason(source))
            }
        }
    }
}

/// The verdict on one segment.
#[derive(Debug)]
pub struct SegmentCheck {
    /// The segment.
    pub index: u32,
    /// Its record, if it parsed.
    pub record: Option<SegmentRecord>,
    /// What is wrong with it, if anything.
    pub problem: Option<Problem>,
}

/// The verdicts on a recording directory, segment 0 to the last present.
#[derive(Debug)]
pub struct Report {
    /// The recording and device of segment 0 (or the first readable record).
    pub first: Option<(RecordingId, [u8; 32])>,
    /// One verdict per segment.
    pub segments: Vec<SegmentCheck>,
    /// Records that parsed.
    pub parsed: u32,
    /// Their plaintext bytes.
    pub parsed_bytes: u64,
}

impl Report {
    /// The first bad segment, if any.
    pub fn first_bad(&self) -> Option<(u32, &Problem)> {
        self.segments
            .iter()
            .find_map(|s| s.problem.as_ref().map(|p| (s.index, p)))
    }

    /// How many segments are bad.
    pub fn bad_count(&self) -> usize {
        self.segments.iter().filter(|s| s.problem.is_some()).count()
    }

    /// The core's verifier over the good records: a cross-check once every
    /// segment passed.
    pub fn verify_chain(&self, group: Option<&GroupKey>) -> obhut_core::Result<ChainSummary> {
        let records: Vec<SegmentRecord> = self
            .segments
            .iter()
            .filter(|s| s.problem.is_none())
            .filter_map(|s| s.record.clone())
            .collect();
        match group {
            Some(k) => chain::verify_chain(&records, std::slice::from_ref(k)),
            None => chain::verify_chain_structure(&records),
        }
    }
}

/// Check every segment of the recording in `dir`: each record's device
/// signature, one recording and device throughout, the hash chain, the
/// final flag on the last segment only, each capsule's proof (with
/// `group`), and each blob's length and hash against its record.
pub fn check_dir(dir: &Path, group: Option<&GroupKey>) -> Result<Report, DirError> {
    let mut indices: BTreeSet<u32> = recording_dir::record_files(dir)?
        .iter()
        .map(|(i, _)| *i)
        .collect();
    let blobs = recording_dir::indexed_files(dir, "seg").map_err(|e| match e {
        DirError::List { dir, source } | DirError::Entry { dir, source } => {
            DirError::Scan { dir, source }
        }
        other => other,
    })?;
    indices.extend(blobs.into_iter().map(|(i, _)| i));
    let last = indices.last().copied().unwrap_or(0);
    let mut report = Report {
        first: None,
        segments: Vec::new(),
        parsed: 0,
        parsed_bytes: 0,
    };
    // None: before segment 0; Some(None): the predecessor is unusable.
    let mut prev: Option<Option<[u8; 32]>> = None;
    for index in 0..=last {
        let (record, problem) = check_segment(dir, index, last, group, prev, &mut report);
        prev = Some(record.as_ref().map(SegmentRecord::record_hash));
        report.segments.push(SegmentCheck {
            index,
            record,
            problem,
        });
    }
    Ok(report)
}

/// Check segment `index`; returns its record if it parsed (for the next
/// segment's link) and what is wrong with it.
fn check_segment(
    dir: &Path,
    index: u32,
    last: u32,
    group: Option<&GroupKey>,
    prev: Option<Option<[u8; 32]>>,
    report: &mut Report,
) -> (Option<SegmentRecord>, Option<Problem>) {
    let rec_path = dir.join(record_name(index));
    if !rec_path.exists() {
        return (None, Some(Problem::MissingRecord { index }));
    }
    let bytes = match recording_dir::read_structure(&rec_path) {
        Ok(b) => b,
        Err(e) => return (None, Some(Problem::RecordUnreadable(e))),
    };
    let rec = match SegmentRecord::from_bytes(&bytes) {
        Ok(r) => r,
        Err(e) => return (None, Some(Problem::RecordInvalid(e))),
    };
    report.parsed += 1;
    report.parsed_bytes += rec.plaintext_len();
    let problem = check_record(dir, index, last, group, prev, &rec, &mut report.first);
    (Some(rec), problem)
}

/// The checks on a segment whose record parsed.
fn check_record(
    dir: &Path,
    index: u32,
    last: u32,
    group: Option<&GroupKey>,
    prev: Option<Option<[u8; 32]>>,
    rec: &SegmentRecord,
    first: &mut Option<(RecordingId, [u8; 32])>,
) -> Option<Problem> {
    let f = &rec.header().fields;
    if f.segment_index != index {
        return Some(Problem::Misnamed {
            index,
            holds: f.segment_index,
        });
    }
    let me = (f.recording_id, f.device_key.to_bytes());
    match first {
        None => *first = Some(me),
        Some(first) if *first != me => return Some(Problem::OtherRecording),
        Some(_) => {}
    }
    match prev {
        None if rec.prev_record_hash() != &[0u8; 32] => return Some(Problem::FirstLinkNotZero),
        Some(Some(p)) if rec.prev_record_hash() != &p => {
            return Some(Problem::BrokenLink { index });
        }
        _ => {}
    }
    if rec.is_final() && index != last {
        return Some(Problem::FinalNotLast);
    }
    if !rec.is_final() && index == last {
        return Some(Problem::Incomplete);
    }
    if let Some(k) = group
        && let Err(e) = kem::verify_capsule_proof(&f.capsule, k, &f.capsule_context())
    {
        return Some(Problem::Capsule(e));
    }
    let blob = match File::open(dir.join(blob_name(index))) {
        Ok(b) => b,
        Err(source) => return Some(Problem::BlobMissing { index, source }),
    };
    if let Err(source) = chain::verify_blob(rec, BufReader::with_capacity(1 << 20, blob)) {
        return Some(Problem::Blob { index, source });
    }
    None
}
