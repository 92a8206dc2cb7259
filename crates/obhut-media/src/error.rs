//! Errors that name the box and what is wrong with it.

use std::fmt;

/// A four-character box type, as in the file (`moov`, `stsz`, …).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    /// Pseudo box type naming the file itself (the top level).
    pub const FILE: FourCc = FourCc(*b"file");
}

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            // Every byte is printable ASCII, so this is valid UTF-8.
            f.write_str(&String::from_utf8_lossy(&self.0))
        } else {
            write!(f, "0x{:08x}", u32::from_be_bytes(self.0))
        }
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{self}'")
    }
}

/// Why a recording could not be planned.
///
/// Offsets are absolute byte offsets into the source. A caller that must
/// seal the file anyway (evidence is evidence, broken or not) falls back to
/// [`crate::plan_opaque`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The source failed or ended early while reading.
    #[error("reading {len} bytes at offset {offset}: {source}")]
    Io {
        /// Where the read started.
        offset: u64,
        /// How many bytes were wanted.
        len: u64,
        /// The underlying error (`UnexpectedEof` when the source is shorter than `len`).
        #[source]
        source: std::io::Error,
    },
    /// A box is structurally wrong (bad size, short payload, inconsistent tables).
    #[error("box '{fourcc}' at offset {offset}: {what}")]
    Malformed {
        /// The box at fault.
        fourcc: FourCc,
        /// Its offset in the file.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A box declares more of something than this parser accepts (checked
    /// before anything is allocated).
    #[error("box '{fourcc}' at offset {offset}: {what} is {value}, above the limit {limit}")]
    Limit {
        /// The box at fault.
        fourcc: FourCc,
        /// Its offset in the file.
        offset: u64,
        /// The quantity (sample count, box size, …).
        what: &'static str,
        /// The declared value.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// A required child box is absent.
    #[error("box '{parent}' at offset {offset} has no '{child}' box")]
    Missing {
        /// The parent box (`file` for the top level).
        parent: FourCc,
        /// The parent's offset.
        offset: u64,
        /// The missing child.
        child: FourCc,
    },
    /// A clip cannot be cut from what was opened (`crate::clip`): the
    /// reason says what is missing or unsupported.
    #[error("no clip: {0}")]
    NoClip(String),
}

impl MediaError {
    pub(crate) fn malformed(fourcc: FourCc, offset: u64, what: impl Into<String>) -> Self {
        MediaError::Malformed {
            fourcc,
            offset,
            what: what.into(),
        }
    }
}
