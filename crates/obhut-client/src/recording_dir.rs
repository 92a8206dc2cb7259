//! A recording on disk, as `obhut seal` writes it: one directory holding
//! `NNNNNN.seg` (the sealed blob of segment N) and `NNNNNN.rec` (its
//! device-signed record) for every segment, plus `group.obgd`, a copy of the
//! descriptor the device sealed to. Offline, for checking only
//! ([`crate::verify`]): no key part is ever released against a directory,
//! only against a logged request at a vault.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use obhut_core::segment::SegmentKind;

pub use obhut_core::dir_names::{GROUP_COPY, blob_name, index_of, record_name};

/// A segment kind for people.
pub fn kind_name(kind: SegmentKind) -> &'static str {
    match kind {
        SegmentKind::Media => "media",
        SegmentKind::ContainerIndex => "index",
        SegmentKind::Metadata => "metadata",
    }
}

/// Largest structure file read whole: a video passed where a structure
/// is expected fails fast.
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

/// Why a recording directory could not be listed.
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
