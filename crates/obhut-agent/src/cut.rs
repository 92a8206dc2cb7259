//! Cutting a source file into planned segments (docs/format.md §7.3): an
//! MP4 is cut at keyframes by `obhut-media` into byte ranges, its index
//! (moov) a `kind = 1` segment, so that the opened segments concatenated in
//! index order give back the file byte for byte. A file `obhut-media`
//! cannot parse is still taken into custody, cut into fixed-size byte
//! ranges with no media time (an instant at 0): losing footage because a
//! camera wrote an odd container would be worse.

use std::path::Path;

use obhut_core::segment::SegmentKind;

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

/// Plan the media file at `path` (`len` bytes) with `obhut-media`. Returns
/// the plan and, when it is not cut by media time, why (not an MP4, no
/// video, or malformed — a malformed MP4 is still sealed, as byte ranges).
pub fn plan_media(
    path: &Path,
    len: u64,
    opts: &CutOptions,
) -> Result<(Vec<PlannedSegment>, Option<String>)> {
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
    Ok((out, why))
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
        let (plan, why) = plan_media(
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
