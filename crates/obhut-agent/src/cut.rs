//! Cutting a source file into planned segments (docs/format.md §7.3): an
//! MP4 is cut at keyframes by `obhut-media` into byte ranges, its index
//! (moov) a `kind = 1` segment, so that the opened segments concatenated in
//! index order give back the file byte for byte. A file `obhut-media`
//! cannot parse is still taken into custody, cut into fixed-size byte
//! ranges with no media time (an instant at 0): losing footage because a
//! camera wrote an odd container would be worse.
//!
//! An MP4's descriptive metadata (`obhut_media::metadata`: `udta`/`meta`
//! boxes, timed metadata tracks) is blanked out of the media and index
//! segments as they are sealed ([`crate::read_ahead`]), and its original
//! bytes become one more segment, of `kind = 2`, holding the metadata
//! patch (docs/format.md §7.4): only a grant with `include_metadata`
//! opens it, and applying it gives back the camera's file.

use std::path::Path;

use obhut_core::segment::SegmentKind;

use obhut_core::meta_patch::{MAX_PATCH_BYTES, encoded_len};
use obhut_media::Blank;

use crate::error::{Error, Result};
use crate::journal::{PlannedSegment, Source};

/// How to cut.
#[derive(Debug, Clone, Copy)]
pub struct CutOptions {
    /// Media time per segment the MP4 cutter aims for.
    pub target_segment_ms: u64,
    /// Bytes per segment when the file is not a parseable MP4.
    pub fallback_segment_bytes: u64,
}

impl Default for CutOptions {
    fn default() -> Self {
        CutOptions {
            target_segment_ms: 2_000,
            fallback_segment_bytes: obhut_media::FALLBACK_BYTES,
        }
    }
}

/// Cut `len` bytes into fixed-size byte ranges (at least one segment).
pub fn fixed(len: u64, seg: u64) -> Vec<PlannedSegment> {
    let seg = seg.max(1);
    let count = len.div_ceil(seg).max(1);
    (0..count)
        .map(|i| {
            let offset = i * seg;
            PlannedSegment {
                kind: SegmentKind::Media.to_u8(),
                source: Source::Main,
                offset,
                len: seg.min(len - offset.min(len)),
                media_start_ms: 0,
                media_end_ms: 0,
            }
        })
        .collect()
}

/// A media file planned for sealing.
#[derive(Debug)]
pub struct Planned {
    /// The segments, in index order: the cuts, then the metadata patch if
    /// there is metadata to move.
    pub segments: Vec<PlannedSegment>,
    /// Why the file is not cut by media time, if it is not (not an MP4, no
    /// video, or malformed — a malformed MP4 is still sealed, as byte
    /// ranges).
    pub why: Option<String>,
    /// The descriptive metadata blanked out of the cuts (sorted), whose
    /// original bytes the patch segment holds.
    pub blanks: Vec<Blank>,
    /// Why metadata found in the file stays in place, if it does.
    pub metadata_kept: Option<String>,
}

/// Plan the media file at `path` (`len` bytes) with `obhut-media`: its
/// cuts and its metadata patch.
pub fn plan_media(path: &Path, len: u64, opts: &CutOptions) -> Result<Planned> {
    let mut f =
        std::io::BufReader::new(std::fs::File::open(path).map_err(Error::io("open", path))?);
    let (plan, why) = match obhut_media::plan(&mut f, len, opts.target_segment_ms) {
        Ok(plan) => match plan.opaque_reason() {
            None => (plan, None),
            Some(r) => (
                obhut_media::plan_opaque(len, opts.fallback_segment_bytes),
                Some(format!("{r:?}")),
            ),
        },
        Err(e @ obhut_media::MediaError::Io { .. }) => {
            return Err(Error::Cut {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
        Err(e) => (
            obhut_media::plan_opaque(len, opts.fallback_segment_bytes),
            Some(format!("malformed MP4: {e}")),
        ),
    };
    let mut out = Vec::with_capacity(plan.cuts().len());
    let mut expect = 0u64;
    for c in plan.cuts() {
        if c.range.start != expect || c.range.end < c.range.start {
            return Err(Error::Cut {
                path: path.to_owned(),
                reason: "the cut plan is not contiguous".into(),
            });
        }
        expect = c.range.end;
        let kind = match c.kind {
            obhut_media::CutKind::Media => SegmentKind::Media,
            obhut_media::CutKind::ContainerIndex => SegmentKind::ContainerIndex,
        };
        out.push(PlannedSegment {
            kind: kind.to_u8(),
            source: Source::Main,
            offset: c.range.start,
            len: c.range.end - c.range.start,
            media_start_ms: c.media_start_ms,
            media_end_ms: c.media_end_ms,
        });
    }
    if expect != len || out.is_empty() {
        return Err(Error::Cut {
            path: path.to_owned(),
            reason: "the cut plan does not cover the whole file".into(),
        });
    }
    let (blanks, metadata_kept) = match obhut_media::metadata(&mut f, &plan) {
        Ok(b) if b.is_empty() => (b, None),
        Ok(b) => {
            let patch_len = encoded_len(b.iter().map(|b| b.range.end - b.range.start));
            if patch_len <= MAX_PATCH_BYTES {
                let duration = out.iter().map(|p| p.media_end_ms).max().unwrap_or(0);
                out.push(PlannedSegment {
                    kind: SegmentKind::Metadata.to_u8(),
                    source: Source::Patch,
                    offset: 0,
                    len: patch_len,
                    media_start_ms: 0,
                    media_end_ms: duration,
                });
                (b, None)
            } else {
                let why = format!(
                    "its metadata patch would be {patch_len} bytes, above {MAX_PATCH_BYTES}"
                );
                (Vec::new(), Some(why))
            }
        }
        Err(e @ obhut_media::MediaError::Io { .. }) => {
            return Err(Error::Cut {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Ok(Planned {
        segments: out,
        why,
        blanks,
        metadata_kept,
    })
}

/// The metadata patch of `file` (`file_len` bytes): the original bytes of
/// each of `blanks`, read from `file` (docs/format.md §7.4).
pub fn patch_bytes(
    file: &Path,
    file_len: u64,
    blanks: &[Blank],
) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(file).map_err(Error::io("open", file))?;
    let mut data = Vec::with_capacity(blanks.len());
    for b in blanks {
        let n = usize::try_from(b.range.end - b.range.start).map_err(|_| Error::Cut {
            path: file.to_owned(),
            reason: "a metadata range does not fit in memory".into(),
        })?;
        let mut buf = vec![0u8; n];
        f.seek(SeekFrom::Start(b.range.start))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(Error::io("read", file))?;
        data.push((b.range.start, buf));
    }
    let entries = data
        .iter()
        .map(|(offset, d)| obhut_core::meta_patch::PatchEntry {
            offset: *offset,
            data: d,
        })
        .collect();
    let patch =
        obhut_core::meta_patch::MetadataPatch::new(file_len, entries).map_err(|e| Error::Cut {
            path: file.to_owned(),
            reason: format!("its metadata patch: {e}"),
        })?;
    Ok(zeroize::Zeroizing::new(patch.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_cuts_cover_the_file() {
        let p = fixed(10, 4);
        assert_eq!(
            p.iter().map(|p| (p.offset, p.len)).collect::<Vec<_>>(),
            [(0, 4), (4, 4), (8, 2)]
        );
        let p = fixed(0, 4);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].len, 0);
        assert_eq!(fixed(8, 4).len(), 2);
    }

    #[test]
    fn a_file_that_is_not_mp4_falls_back_to_byte_ranges() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.mp4");
        std::fs::write(&p, vec![7u8; 100]).unwrap();
        let Planned {
            segments: plan,
            why,
            ..
        } = plan_media(
            &p,
            100,
            &CutOptions {
                target_segment_ms: 1000,
                fallback_segment_bytes: 40,
            },
        )
        .unwrap();
        assert!(why.is_some());
        assert_eq!(plan.len(), 3);
    }
}
