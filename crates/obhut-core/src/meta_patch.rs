//! The metadata patch (docs/format.md §7.4): the bytes of a recording's
//! descriptive metadata that the cutter blanked out of its media and index
//! segments, each with its file offset. It is the plaintext of the
//! recording's one `kind = 2` segment made by the cutter, so only a grant
//! with `include_metadata` opens it; applying it to the file assembled from
//! the other segments gives back the camera's file byte for byte.
//!
//! Parsing never panics and allocates nothing that the input's own length
//! does not bound: the entries are slices of the input.

use crate::error::{Error, PatchFailure, Result};
use crate::labels::magic;
use crate::wire::{Reader, Writer};

/// Largest metadata patch, whole (and so largest entry): 64 MiB. A reader
/// holds the patch in memory to apply it; a camera's metadata (a GPS fix a
/// second for ten hours is a few MiB) stays far below. A cutter whose
/// metadata would not fit leaves it in place (§7.3).
pub const MAX_PATCH_BYTES: u64 = 64 << 20;

const WHAT: &str = "metadata patch";
/// Preamble, `file_len`, `entry_count`.
const FIXED_LEN: u64 = 4 + 1 + 2 + 8 + 4;
/// `offset` and the length prefix of `data`.
const ENTRY_OVERHEAD: u64 = 8 + 4;

/// One entry: the original bytes at `offset` of the file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PatchEntry<'a> {
    /// Where the bytes go in the file.
    pub offset: u64,
    /// The original bytes.
    pub data: &'a [u8],
}

impl PatchEntry<'_> {
    /// One past the last byte this entry writes.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.data.len() as u64)
    }
}

/// Metadata is what the patch exists to keep from grantees: never printed.
impl std::fmt::Debug for PatchEntry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatchEntry")
            .field("offset", &self.offset)
            .field("len", &self.data.len())
            .finish()
    }
}

/// A parsed, checked metadata patch borrowing its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataPatch<'a> {
    file_len: u64,
    entries: Vec<PatchEntry<'a>>,
}

/// Whether `plaintext` opens like a metadata patch (its magic), to tell a
/// cutter's patch from a sidecar among a recording's `kind = 2` segments.
pub fn looks_like_patch(plaintext: &[u8]) -> bool {
    plaintext.starts_with(magic::METADATA_PATCH)
}

/// The encoded length of a patch whose entries hold `lens` bytes each.
pub fn encoded_len(lens: impl IntoIterator<Item = u64>) -> u64 {
    lens.into_iter().fold(FIXED_LEN, |n, l| {
        n.saturating_add(ENTRY_OVERHEAD).saturating_add(l)
    })
}

impl<'a> MetadataPatch<'a> {
    /// Parse and check `buf` (§7.4): the structure left to right
    /// (`BadMagic` … `Truncated`, `FieldTooLong`, `Malformed` for a count
    /// of 0 or an empty entry, `TrailingBytes`), then each entry in order:
    /// `Patch.OutOfBounds`, then `Patch.Overlap`.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(WHAT, buf);
        r.preamble(magic::METADATA_PATCH, 0x01, 0x0001)?;
        let file_len = r.u64("file_len")?;
        let count = r.u32("entry_count")?;
        if count == 0 {
            return Err(Error::Malformed {
                what: WHAT,
                reason: "entry_count is 0",
            });
        }
        // Not reserved by `count`: the input bounds the entries.
        let mut entries = Vec::new();
        for _ in 0..count {
            let offset = r.u64("offset")?;
            let data = r.var_bytes("data", MAX_PATCH_BYTES as usize)?;
            if data.is_empty() {
                return Err(Error::Malformed {
                    what: WHAT,
                    reason: "an entry holds no bytes",
                });
            }
            entries.push(PatchEntry { offset, data });
        }
        r.finish()?;
        check(file_len, &entries)?;
        Ok(MetadataPatch { file_len, entries })
    }

    /// Build a patch for a file of `file_len` bytes, checked as [`parse`]
    /// checks it.
    ///
    /// [`parse`]: MetadataPatch::parse
    pub fn new(file_len: u64, entries: Vec<PatchEntry<'a>>) -> Result<Self> {
        if entries.is_empty() || entries.iter().any(|e| e.data.is_empty()) {
            return Err(Error::Malformed {
                what: WHAT,
                reason: "no entries, or an entry holds no bytes",
            });
        }
        check(file_len, &entries)?;
        Ok(MetadataPatch { file_len, entries })
    }

    /// The encoding (§7.4).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::METADATA_PATCH, 0x01, 0x0001);
        w.u64(self.file_len).u32(self.entries.len() as u32);
        for e in &self.entries {
            w.u64(e.offset).var_bytes(e.data);
        }
        w.into_vec()
    }

    /// The length of the file this patch is for.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The entries, sorted by offset, not overlapping.
    pub fn entries(&self) -> &[PatchEntry<'a>] {
        &self.entries
    }

    /// `Patch.LengthMismatch` unless the file it is applied to has the
    /// length the patch states.
    pub fn check_file_len(&self, found: u64) -> Result<()> {
        if found != self.file_len {
            return Err(Error::Patch(PatchFailure::LengthMismatch {
                expected: self.file_len,
                found,
            }));
        }
        Ok(())
    }

    /// Writes the patched bytes into `buf`, which holds the file's bytes
    /// from offset `at`: for tools that patch a window (a range read).
    pub fn apply_window(&self, at: u64, buf: &mut [u8]) {
        let end = at.saturating_add(buf.len() as u64);
        for e in &self.entries {
            let (from, to) = (e.offset.max(at), e.end().min(end));
            if from >= to {
                continue;
            }
            // Both differences are below buf.len() and e.data.len().
            let (b, d) = ((from - at) as usize, (from - e.offset) as usize);
            let n = (to - from) as usize;
            buf[b..b + n].copy_from_slice(&e.data[d..d + n]);
        }
    }
}

fn check(file_len: u64, entries: &[PatchEntry<'_>]) -> Result<()> {
    let mut previous_end = 0u64;
    for (i, e) in entries.iter().enumerate() {
        let entry = i as u32;
        let len = e.data.len() as u64;
        if e.offset.checked_add(len).is_none_or(|end| end > file_len) {
            return Err(Error::Patch(PatchFailure::OutOfBounds {
                entry,
                offset: e.offset,
                len,
                file_len,
            }));
        }
        if i > 0 && e.offset < previous_end {
            return Err(Error::Patch(PatchFailure::Overlap {
                entry,
                offset: e.offset,
                previous_end,
            }));
        }
        previous_end = e.end();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(offset: u64, data: &[u8]) -> PatchEntry<'_> {
        PatchEntry { offset, data }
    }

    fn raw(file_len: u64, entries: &[(u64, &[u8])]) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::METADATA_PATCH, 0x01, 0x0001);
        w.u64(file_len).u32(entries.len() as u32);
        for (o, d) in entries {
            w.u64(*o).var_bytes(d);
        }
        w.into_vec()
    }

    #[test]
    fn round_trips_and_applies() {
        let p =
            MetadataPatch::new(10, vec![entry(1, b"ab"), entry(3, b"c"), entry(8, b"yz")]).unwrap();
        let bytes = p.to_bytes();
        assert_eq!(bytes.len() as u64, encoded_len([2, 1, 2]));
        assert!(looks_like_patch(&bytes));
        let q = MetadataPatch::parse(&bytes).unwrap();
        assert_eq!(q, p);
        let mut file = [0u8; 10];
        q.apply_window(0, &mut file);
        assert_eq!(&file, b"\0abc\0\0\0\0yz");
        let mut window = [0u8; 3];
        q.apply_window(2, &mut window);
        assert_eq!(&window, b"bc\0");
        q.check_file_len(10).unwrap();
        assert!(matches!(
            q.check_file_len(11),
            Err(Error::Patch(PatchFailure::LengthMismatch {
                expected: 10,
                found: 11
            }))
        ));
    }

    #[test]
    fn refuses_what_the_spec_names() {
        let name = |b: &[u8]| match MetadataPatch::parse(b) {
            Err(Error::Patch(PatchFailure::OutOfBounds { .. })) => "Patch.OutOfBounds",
            Err(Error::Patch(PatchFailure::Overlap { .. })) => "Patch.Overlap",
            Err(Error::Truncated { .. }) => "Truncated",
            Err(Error::TrailingBytes { .. }) => "TrailingBytes",
            Err(Error::Malformed { .. }) => "Malformed",
            Err(Error::BadMagic { .. }) => "BadMagic",
            Err(Error::FieldTooLong { .. }) => "FieldTooLong",
            Err(e) => panic!("{e}"),
            Ok(_) => "ok",
        };
        assert_eq!(name(&raw(4, &[(3, b"ab")])), "Patch.OutOfBounds");
        assert_eq!(name(&raw(4, &[(u64::MAX, b"a")])), "Patch.OutOfBounds");
        assert_eq!(name(&raw(9, &[(1, b"ab"), (2, b"c")])), "Patch.Overlap");
        assert_eq!(name(&raw(9, &[(5, b"a"), (1, b"c")])), "Patch.Overlap");
        // Out of bounds is checked before overlap for the same entry.
        assert_eq!(
            name(&raw(3, &[(1, b"ab"), (2, b"cd")])),
            "Patch.OutOfBounds"
        );
        assert_eq!(name(&raw(9, &[])), "Malformed");
        assert_eq!(name(&raw(9, &[(1, b"")])), "Malformed");
        let good = raw(9, &[(1, b"ab")]);
        assert_eq!(name(&good), "ok");
        assert_eq!(name(&good[..good.len() - 1]), "Truncated");
        assert_eq!(name(&[&good[..], b"x"].concat()), "TrailingBytes");
        let mut other = good.clone();
        other[3] = b'X';
        assert_eq!(name(&other), "BadMagic");
        // A huge length prefix is FieldTooLong before anything is read.
        let mut huge = good[..good.len() - 6].to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(name(&huge), "FieldTooLong");
        assert!(matches!(
            MetadataPatch::new(9, vec![entry(2, b"a"), entry(2, b"b")]),
            Err(Error::Patch(PatchFailure::Overlap { entry: 1, .. }))
        ));
    }

    #[test]
    fn debug_never_shows_the_metadata() {
        let p = MetadataPatch::new(9, vec![entry(1, b"secret")]).unwrap();
        assert!(!format!("{p:?}").contains("115"));
    }
}
