//! A recording on disk, as `obhut seal` writes it: one directory holding
//! `NNNNNN.seg` (the sealed blob of segment N) and `NNNNNN.rec` (its
//! device-signed record) for every segment, plus `group.obgd`, a copy of the
//! descriptor the device sealed to. Offline: no vault is involved.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use obhut_core::access;
use obhut_core::chain::{self, ChainSummary};
use obhut_core::ids::RecordingId;
use obhut_core::kem::GroupKey;
use obhut_core::record::SegmentRecord;
use obhut_core::request::AccessRequest;
use obhut_core::segment::{HEADER_LEN, RangeSource, SegmentKind};

use crate::assemble::Blobs;

pub use obhut_core::dir_names::{GROUP_COPY, blob_name, index_of, record_name};

/// A segment kind for people.
pub fn kind_name(kind: SegmentKind) -> &'static str {
    match kind {
        SegmentKind::Media => "media",
        SegmentKind::ContainerIndex => "index",
        SegmentKind::Metadata => "metadata",
    }
}

/// Largest structure file read whole (a partial envelope is ≤ 16 MiB): a
/// video passed where a structure is expected fails fast.
pub const MAX_STRUCTURE_FILE: u64 = 32 * 1024 * 1024;

/// Why a structure file could not be read whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file does not open.
    #[error("cannot open {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The file opened but reading it failed.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The file is larger than [`MAX_STRUCTURE_FILE`].
    #[error("{} is larger than {} MiB, too large for an Obhut structure", path.display(), MAX_STRUCTURE_FILE >> 20)]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
}

/// Read a structure file of at most [`MAX_STRUCTURE_FILE`] bytes.
pub fn read_structure(path: &Path) -> Result<Vec<u8>, ReadError> {
    let f = File::open(path).map_err(|source| ReadError::Open {
        path: path.to_owned(),
        source,
    })?;
    let mut buf = Vec::new();
    f.take(MAX_STRUCTURE_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|source| ReadError::Read {
            path: path.to_owned(),
            source,
        })?;
    if buf.len() as u64 > MAX_STRUCTURE_FILE {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(buf)
}

/// Why a recording directory could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirError {
    /// The directory cannot be listed.
    #[error("cannot read the recording directory {}", dir.display())]
    List {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// An entry of the directory cannot be read.
    #[error("cannot read the recording directory {}", dir.display())]
    Entry {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The directory holds no `*.rec` file.
    #[error("{} holds no segment records (*.rec)", dir.display())]
    NoRecords {
        /// The directory.
        dir: PathBuf,
    },
    /// The directory cannot be listed a second time, for the blobs.
    #[error("cannot read {}", dir.display())]
    Scan {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A record file cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A record does not parse or its signature fails.
    #[error("segment record {}", path.display())]
    Record {
        /// The record file.
        path: PathBuf,
        /// Why.
        #[source]
        source: obhut_core::Error,
    },
    /// A record file holds another segment's record.
    #[error("{} holds the record of segment {holds}, not {expected}", path.display())]
    Misnamed {
        /// The record file.
        path: PathBuf,
        /// The segment its record is for.
        holds: u32,
        /// The segment its name stands for.
        expected: u32,
    },
    /// The records do not form one complete chain (or a capsule proof fails).
    #[error("recording in {}", dir.display())]
    Chain {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: obhut_core::Error,
    },
    /// A request covers no segment of the recording.
    #[error("the request covers no segment of recording {recording_id} in {}", dir.display())]
    NotInScope {
        /// The recording.
        recording_id: RecordingId,
        /// The directory.
        dir: PathBuf,
    },
}

/// The `.rec` files of a directory, by the index in their name, sorted.
pub fn record_files(dir: &Path) -> Result<Vec<(u32, PathBuf)>, DirError> {
    let mut out = indexed_files(dir, "rec")?;
    out.sort();
    if out.is_empty() {
        return Err(DirError::NoRecords {
            dir: dir.to_owned(),
        });
    }
    Ok(out)
}

/// The `<digits>.<ext>` files in `dir` by their index, in directory order.
pub(crate) fn indexed_files(dir: &Path, ext: &str) -> Result<Vec<(u32, PathBuf)>, DirError> {
    let entries = fs::read_dir(dir).map_err(|source| DirError::List {
        dir: dir.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|source| DirError::Entry {
            dir: dir.to_owned(),
            source,
        })?;
        if let Some(i) = e.file_name().to_str().and_then(|n| index_of(n, ext)) {
            out.push((i, e.path()));
        }
    }
    Ok(out)
}

/// A recording whose records all carry valid device signatures and form a
/// complete chain (docs/format.md §7.2); with a group key, every capsule's
/// validity proof was checked too.
#[derive(Debug)]
pub struct Recording {
    /// The directory.
    pub dir: PathBuf,
    /// Records in segment order (index = position).
    pub records: Vec<SegmentRecord>,
    /// What the chain establishes.
    pub summary: ChainSummary,
}

impl Recording {
    /// Load and verify. `group`: check the capsule proofs against it.
    pub fn load(dir: &Path, group: Option<&GroupKey>) -> Result<Self, DirError> {
        let mut records = Vec::new();
        for (i, path) in record_files(dir)? {
            let bytes = read_structure(&path)?;
            let rec = SegmentRecord::from_bytes(&bytes).map_err(|source| DirError::Record {
                path: path.clone(),
                source,
            })?;
            if rec.segment_ref().index != i {
                return Err(DirError::Misnamed {
                    path,
                    holds: rec.segment_ref().index,
                    expected: i,
                });
            }
            records.push(rec);
        }
        let summary = match group {
            Some(g) => chain::verify_chain(&records, std::slice::from_ref(g)),
            None => chain::verify_chain_structure(&records),
        }
        .map_err(|source| DirError::Chain {
            dir: dir.to_owned(),
            source,
        })?;
        Ok(Recording {
            dir: dir.to_owned(),
            records,
            summary,
        })
    }

    /// Path of segment `index`'s blob.
    pub fn blob_path(&self, index: u32) -> PathBuf {
        self.dir.join(blob_name(index))
    }

    /// The records `request` covers (docs/format.md §8.1, the core's
    /// [`access::records_in_scope`]), in order; an error if it covers none.
    pub fn in_scope(&self, request: &AccessRequest) -> Result<Vec<&SegmentRecord>, DirError> {
        let in_scope = access::records_in_scope(request, &self.records);
        if in_scope.is_empty() {
            return Err(DirError::NotInScope {
                recording_id: self.summary.recording_id,
                dir: self.dir.clone(),
            });
        }
        Ok(in_scope)
    }

    /// The ciphertext of this recording for the scope assembler.
    pub fn blobs(&self) -> RecordingBlobs<'_> {
        RecordingBlobs(self)
    }
}

/// The ciphertext of a [`Recording`]: one file per segment.
#[derive(Debug)]
pub struct RecordingBlobs<'r>(&'r Recording);

impl RecordingBlobs<'_> {
    fn open(&self, r: &SegmentRecord) -> crate::Result<File> {
        let path = self.0.blob_path(r.segment_ref().index);
        File::open(&path).map_err(|io| crate::Error::BlobFile { path, io })
    }
}

impl Blobs for RecordingBlobs<'_> {
    fn whole(&mut self, r: &SegmentRecord) -> crate::Result<Box<dyn Read + '_>> {
        Ok(Box::new(BufReader::with_capacity(1 << 20, self.open(r)?)))
    }

    fn ranged(&mut self, r: &SegmentRecord) -> crate::Result<Box<dyn RangeSource + '_>> {
        let path = self.0.blob_path(r.segment_ref().index);
        let mut blob = self.open(r)?;
        // Decryption uses the signed record's header; a blob whose own header
        // differs is damaged all the same, and refused as a whole open would.
        let mut header = [0u8; HEADER_LEN];
        blob.read_exact(&mut header)
            .map_err(|source| crate::Error::BlobRead {
                path: path.clone(),
                source,
            })?;
        if header[..] != r.header().to_bytes()[..] {
            return Err(crate::Error::BlobHeader {
                segment: r.segment_ref(),
                path,
            });
        }
        Ok(Box::new(blob))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        assert_eq!(blob_name(7), "000007.seg");
        assert_eq!(index_of(&record_name(123), "rec"), Some(123));
        assert_eq!(index_of("7.rec", "rec"), Some(7));
        assert_eq!(index_of("group.obgd", "rec"), None);
        assert_eq!(index_of(".rec", "rec"), None);
        assert_eq!(index_of("+1.rec", "rec"), None);
        assert_eq!(index_of("99999999999.rec", "rec"), None);
        assert_eq!(index_of("000001.seg", "rec"), None);
    }
}
