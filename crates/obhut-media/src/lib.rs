//! How a recording file is cut into segments for sealing (docs/format.md
//! §7.3).
//!
//! [`plan`] reads a recording through a caller's `Read + Seek` and returns a
//! [`CutPlan`]: an ordered list of byte ranges that are contiguous,
//! non-overlapping and cover exactly `0..len`, so that opening every segment
//! and concatenating them in order gives back the original file byte for
//! byte. Each [`Cut`] says whether it is media or the container index, and
//! which media time it covers. The crate is pure: no I/O beyond the
//! caller's source, no async, no unsafe code.
//!
//! # Progressive MP4 (`ftyp`, `moov`, `mdat`)
//!
//! - The **index cut** ([`CutKind::ContainerIndex`], media time 0..0) holds
//!   the `moov` box. When `moov` precedes the media (`-movflags
//!   +faststart`), the index cut is everything from byte 0 to the end of
//!   `moov` (so `ftyp`, and any `free` box before `moov`, travel with it);
//!   when `moov` follows the media, it is everything from the start of
//!   `moov` to the end of the file (so boxes trailing `moov` travel with
//!   it). A layout with video samples on both sides of `moov` is planned
//!   opaquely ([`OpaqueReason::UnsupportedLayout`]).
//! - The **media region** (the rest) is cut at byte offsets of video sync
//!   samples (`stss`; every sample when `stss` is absent). Bytes before the
//!   first cut point (`ftyp` and the `mdat` header when `moov` is last, the
//!   `free` and `mdat` headers when it is first) belong to the first media
//!   cut; bytes after the last sample (up to the index cut or the end of
//!   the file) belong to the last media cut.
//! - A media cut is closed at the first keyframe whose presentation time is
//!   at least `target_segment_ms` after the cut's own start, so every media
//!   cut but the last covers at least the target (and at most the target
//!   plus one GOP).
//!
//! # Fragmented MP4 (`ftyp`, `moov`, then `moof`+`mdat` pairs)
//!
//! The index cut is the init segment: byte 0 to the end of `moov`. Media
//! cuts start at `moof` boxes whose first video sample is a sync sample
//! (or at the `styp`/`sidx`/`prft`/`emsg` boxes immediately before such a
//! `moof`), grouping fragments up to the target duration as above; times
//! come from `tfdt` (or the running sum when absent) and the `trun`, `tfhd`
//! or `trex` durations. Trailing boxes (`mfra`) belong to the last cut.
//!
//! # Media times
//!
//! Times are presentation times of the **video track** in milliseconds
//! (floored), after its edit list (initial empty edits and the first edit's
//! `media_time`), the same timeline `ffmpeg -ss` and `ffprobe`'s `pts_time`
//! use. A cut starts at its first keyframe's presentation time (the first
//! cut at the earliest presentation time of any video sample) and ends
//! where the next cut starts; the last ends at the end of the video track.
//! Audio and other tracks are interleaved by the muxer near the video of
//! the same time, usually within a second, so a cut may hold a little audio
//! from just outside its stated interval; a clip rebuilt from whole cuts
//! already extends to keyframe boundaries.
//!
//! # Anything else
//!
//! A source that does not open with an ISO BMFF box, or an MP4 without a
//! video track or video samples, is cut into fixed-size pieces of
//! [`FALLBACK_BYTES`] with media time 0..0 ([`PlanKind::Opaque`], the reason
//! in [`CutPlan::opaque_reason`]). A **malformed** MP4 (bad box sizes,
//! truncated, inconsistent tables) is an error naming the box; a caller that
//! must seal it anyway calls [`plan_opaque`].
//!
//! # Bounds
//!
//! The parser is hand-written (about twenty box types, in `boxes`, `movie`, `strip`
//! and `frag`) rather than the `mp4` or `mp4parse` crates: it needs only
//! byte offsets and times, must bound every allocation a hostile file can
//! cause, and must not pull a large parser into the device's trusted code.
//!
//! Every box size is checked against the space its parent or the file has
//! left; only `moov` and `moof` boxes are loaded, each at most
//! [`limits::MAX_INDEX_BOX_BYTES`]; table entry counts are checked against
//! their box before use, sample counts against [`limits::MAX_SAMPLES`], and
//! the top-level walk against [`limits::MAX_TOP_LEVEL_BOXES`]. The planner
//! never panics on any input.
//!
//! # Descriptive metadata
//!
//! [`metadata`] lists the descriptive metadata of a planned MP4 (`udta` and
//! `meta` boxes in `moov` and its tracks; samples of timed metadata
//! tracks, in `moov`'s tables or in fragments) as byte ranges a cutter blanks out of the segments without
//! moving anything ([`blank_window`]), so that it travels only in the
//! recording's metadata patch (docs/format.md §7.4).
//!
//! # Rebuilding a playable clip of a scope
//!
//! The access workflow opens the cuts a scope selects ([`CutPlan::in_scope`]:
//! the media cuts whose interval overlaps the scope, plus the index cut,
//! per docs/format.md §8.1) and:
//!
//! 1. creates a sparse file of the original length and writes the opened
//!    cuts at their original offsets, plus the few bytes
//!    [`CutPlan::hole_headers`] returns: `free` box headers where a demuxer
//!    walking the top-level boxes would otherwise meet a hole (at the start
//!    of each hole of a fragmented file; at byte 0 of a moov-last file, or
//!    just after `moov` of a faststart one, when the first media cut, which
//!    holds the `ftyp`/`mdat` headers, is not opened). Other holes lie
//!    inside `mdat`, and a player that finds samples by the index never
//!    reads them;
//! 2. runs `ffmpeg -seek_timestamp 1 -ss A -to B -i sparse.mp4 -c copy
//!    clip.mp4`, where `A..B` is the scope in seconds, which remuxes the
//!    in-scope samples into a standalone, playable MP4 without re-encoding.
//!    (`-seek_timestamp 1` makes `A` absolute media time: without it ffmpeg
//!    adds the file's start time, which for a fragmented file with its first
//!    fragments missing is the first present fragment's.) Stream copy with
//!    input seeking starts at the keyframe at or before `A`, which the
//!    selected cuts always hold.
//!
//! `obhut open` does not run ffmpeg: [`plan_clip`] remuxes the opened
//! window of an MP4 (progressive or fragmented) itself (a new `moov` for the kept samples,
//! times from the first kept keyframe; docs/access.md §3.1), and
//! `tests/clip.rs` checks its clips against ffmpeg's decoder.
//!
//! Opening every cut reproduces the original file exactly. The tests in
//! `tests/ffmpeg.rs` run this workflow on real ffmpeg output in all three
//! layouts and check that the clip decodes and lasts about the scope.

mod boxes;
mod clip;
mod error;
mod frag;
pub mod limits;
mod movie;
mod strip;

use std::io::{Read, Seek};
use std::ops::Range;

pub use clip::{C2PA_UUID, ClipPlan, c2pa_box_at, plan_clip, plan_clip_with};
pub use error::{FourCc, MediaError};
pub use strip::{Blank, METADATA_HANDLERS, blank_window, metadata};

use boxes::{Bx, TopBox};

/// Size of the pieces an opaque (non-MP4) recording is cut into: 16 MiB.
/// Without media times there is no time scope to cut for, and random
/// access works by chunk inside a segment (format.md §6), so the size only
/// trades the fixed cost of each segment (a capsule with its proof, a
/// signed record, an upload, a receipt) against the bytes a cut-off upload
/// sends again; 16 MiB amortises the one and bounds the other.
pub const FALLBACK_BYTES: u64 = 16 << 20;

/// What a cut holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CutKind {
    /// Media data (and, at the edges, the container bytes around it); a
    /// segment of kind 0.
    Media,
    /// The container index (`moov`, or the init segment); a segment of
    /// kind 1 (docs/format.md §7.3).
    ContainerIndex,
}

/// One segment-to-be: a byte range of the recording and the media time it
/// covers (half-open, in milliseconds; 0..0 for the index and for opaque
/// pieces).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cut {
    /// Byte range in the original file.
    pub range: Range<u64>,
    /// Media or container index.
    pub kind: CutKind,
    /// Presentation time where the cut starts (ms).
    pub media_start_ms: u64,
    /// Presentation time where the cut ends (ms, exclusive).
    pub media_end_ms: u64,
}

/// How the file was understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlanKind {
    /// MP4 with a `moov` describing all samples (moov first or last).
    Mp4Progressive,
    /// Fragmented MP4 (`moof`+`mdat` pairs after an init segment).
    Mp4Fragmented,
    /// Fixed-size byte pieces without media times.
    Opaque,
}

/// Why a plan is opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpaqueReason {
    /// The source does not open with an ISO BMFF box.
    NotMp4,
    /// The MP4 has no video track.
    NoVideoTrack,
    /// The video track has no samples (in `moov` or any fragment).
    NoVideoSamples,
    /// A valid MP4 whose layout this planner does not cut by time.
    UnsupportedLayout(&'static str),
    /// The caller asked for an opaque plan ([`plan_opaque`]).
    Requested,
}

/// The ordered cuts of one recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutPlan {
    kind: PlanKind,
    opaque: Option<OpaqueReason>,
    len: u64,
    cuts: Vec<Cut>,
}

impl CutPlan {
    /// How the file was understood.
    pub fn kind(&self) -> PlanKind {
        self.kind
    }

    /// Why the plan is opaque (`None` for MP4 plans).
    pub fn opaque_reason(&self) -> Option<OpaqueReason> {
        self.opaque
    }

    /// The planned file length.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// The cuts, in file order.
    pub fn cuts(&self) -> &[Cut] {
        &self.cuts
    }

    /// The cuts, in file order.
    pub fn into_cuts(self) -> Vec<Cut> {
        self.cuts
    }

    /// Indices of the cuts a scope `[start_ms, end_ms)` needs, per
    /// docs/format.md §8.1: media cuts whose interval overlaps it (a
    /// zero-length cut `[t, t)` is the instant t), plus the container index
    /// whenever any media cut is selected. In file order.
    pub fn in_scope(&self, start_ms: u64, end_ms: u64) -> Vec<usize> {
        let covers = |c: &Cut| {
            if c.media_start_ms == c.media_end_ms {
                start_ms <= c.media_start_ms && c.media_start_ms < end_ms
            } else {
                c.media_start_ms < end_ms && start_ms < c.media_end_ms
            }
        };
        let media = |c: &Cut| c.kind == CutKind::Media && covers(c);
        if !self.cuts.iter().any(media) {
            return Vec::new();
        }
        (0..self.cuts.len())
            .filter(|&i| self.cuts[i].kind == CutKind::ContainerIndex || media(&self.cuts[i]))
            .collect()
    }
}

impl CutPlan {
    /// The plan of a file as someone who holds only its cuts (a requester
    /// with the signed records, not the file) can rebuild it: `cuts` in file
    /// order, contiguous from 0. The container index's position gives the
    /// layout: last, a progressive MP4 with `moov` at the end (as most
    /// cameras and ffmpeg write it); first, a fragmented MP4's init segment
    /// (a progressive MP4 with `moov` first looks the same from its cuts and
    /// is taken as fragmented); elsewhere or absent, opaque.
    pub fn from_cuts(cuts: Vec<Cut>) -> CutPlan {
        let index = cuts.iter().position(|c| c.kind == CutKind::ContainerIndex);
        let kind = match index {
            Some(0) => PlanKind::Mp4Fragmented,
            Some(ix) if ix + 1 == cuts.len() => PlanKind::Mp4Progressive,
            _ => PlanKind::Opaque,
        };
        CutPlan {
            kind,
            opaque: (kind == PlanKind::Opaque).then_some(OpaqueReason::Requested),
            len: cuts.last().map_or(0, |c| c.range.end),
            cuts,
        }
    }
}

impl CutPlan {
    /// For rebuilding a scope in a sparse file (crate docs): the bytes to
    /// write besides the `selected` cuts themselves (indices into
    /// [`CutPlan::cuts`]), as `(offset, bytes)`: `free` box headers where a
    /// demuxer walking the top-level boxes would otherwise meet a hole.
    ///
    /// - Fragmented: one spanning each hole (holes fall on top-level box
    ///   boundaries).
    /// - Progressive with `moov` last, first cut not opened: one at 0
    ///   spanning up to `moov` (the `ftyp` and `mdat` header are in that
    ///   cut; players find samples by the offsets in `moov`, not by `mdat`).
    /// - Progressive with `moov` first, first media cut not opened: one
    ///   after `moov` spanning to the end (in place of the `mdat` header).
    /// - Opaque: nothing.
    pub fn hole_headers(&self, selected: &[usize]) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let cuts = &self.cuts;
        let mut opened = vec![false; cuts.len()];
        for &i in selected {
            if let Some(o) = opened.get_mut(i) {
                *o = true;
            }
        }
        let opened = |i: usize| opened.get(i).copied().unwrap_or(false);
        // A header at the start of unopened cut `i` spanning `start..end`,
        // if the cut has room for it (it always does for real files).
        let put = |i: usize, end: u64, out: &mut Vec<(u64, Vec<u8>)>| {
            let Some(c) = cuts.get(i) else { return };
            if opened(i) || end < c.range.end {
                return;
            }
            let size = end - c.range.start;
            let header = match u32::try_from(size) {
                Ok(s) => [&s.to_be_bytes()[..], b"free"].concat(),
                Err(_) => [&1u32.to_be_bytes()[..], b"free", &size.to_be_bytes()].concat(),
            };
            if header.len() as u64 <= c.range.end - c.range.start {
                out.push((c.range.start, header));
            }
        };
        match self.kind {
            PlanKind::Opaque => {}
            PlanKind::Mp4Progressive => {
                match cuts.iter().position(|c| c.kind == CutKind::ContainerIndex) {
                    Some(0) => put(1, self.len, &mut out),
                    Some(ix) => put(0, cuts[ix].range.start, &mut out),
                    None => {}
                }
            }
            PlanKind::Mp4Fragmented => {
                let mut i = 0;
                while i < cuts.len() {
                    if opened(i) {
                        i += 1;
                        continue;
                    }
                    let mut j = i;
                    while j + 1 < cuts.len() && !opened(j + 1) {
                        j += 1;
                    }
                    put(i, cuts[j].range.end, &mut out);
                    i = j + 1;
                }
            }
        }
        out
    }
}

/// A point where a media cut may begin: a video sync sample's byte offset
/// (progressive) or the start of a fragment opening with one (fragmented),
/// and its presentation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Keyframe {
    /// Byte offset in the file.
    pub offset: u64,
    /// Presentation time (ms).
    pub time_ms: u64,
}

/// Plans the cuts of the recording `source[0..len]`, aiming for media cuts
/// of `target_segment_ms` each (see the crate docs for the rules).
///
/// Non-MP4 sources and MP4s without video get an opaque plan of
/// [`FALLBACK_BYTES`] pieces; malformed MP4s are an error.
pub fn plan(
    source: &mut (impl Read + Seek),
    len: u64,
    target_segment_ms: u64,
) -> Result<CutPlan, MediaError> {
    let mut greedy = Greedy::new(target_segment_ms);
    match scan(source, len, &mut greedy)? {
        Layout::Opaque(reason) => Ok(opaque(len, FALLBACK_BYTES, reason)),
        Layout::Mp4 {
            kind,
            index,
            region,
            end_ms,
        } => Ok(greedy.finish(kind, len, index, region, end_ms)),
    }
}

/// The cut points of an MP4 recording, in file order, and its kind (an
/// empty list for opaque sources). For tools that rebuild or re-plan
/// scopes; [`plan`] picks from these.
pub fn keyframes(
    source: &mut (impl Read + Seek),
    len: u64,
) -> Result<(PlanKind, Vec<Keyframe>), MediaError> {
    struct Collect(Vec<Keyframe>);
    impl Sink for Collect {
        fn begin(&mut self, _: &Range<u64>, _: Option<u64>) {}
        fn point(&mut self, k: Keyframe) {
            self.0.push(k);
        }
    }
    let mut c = Collect(Vec::new());
    let layout = scan(source, len, &mut c)?;
    let mut out = c.0;
    Ok(match layout {
        Layout::Opaque(_) => (PlanKind::Opaque, Vec::new()),
        Layout::Mp4 { kind, region, .. } => {
            out.retain(|k| k.offset >= region.start && k.offset < region.end);
            (kind, out)
        }
    })
}

/// Cuts `0..len` into pieces of `piece_bytes` (the last may be shorter;
/// `FALLBACK_BYTES` if 0) with media time 0..0. An empty file is one empty
/// cut, so that every recording has at least one segment.
pub fn plan_opaque(len: u64, piece_bytes: u64) -> CutPlan {
    opaque(len, piece_bytes, OpaqueReason::Requested)
}

fn opaque(len: u64, piece_bytes: u64, reason: OpaqueReason) -> CutPlan {
    let step = if piece_bytes == 0 {
        FALLBACK_BYTES
    } else {
        piece_bytes
    };
    let mut cuts = Vec::new();
    let mut pos = 0u64;
    loop {
        let end = pos.saturating_add(step).min(len);
        cuts.push(Cut {
            range: pos..end,
            kind: CutKind::Media,
            media_start_ms: 0,
            media_end_ms: 0,
        });
        pos = end;
        if pos >= len {
            break;
        }
    }
    CutPlan {
        kind: PlanKind::Opaque,
        opaque: Some(reason),
        len,
        cuts,
    }
}

enum Layout {
    Opaque(OpaqueReason),
    Mp4 {
        kind: PlanKind,
        index: Range<u64>,
        region: Range<u64>,
        end_ms: u64,
    },
}

/// Receives the media region, then the cut points in file order.
trait Sink {
    /// The media region and, if known, the earliest presentation time.
    fn begin(&mut self, region: &Range<u64>, start_ms: Option<u64>);
    /// A candidate cut point.
    fn point(&mut self, k: Keyframe);
}

/// Understands the file and reports its cut points to `sink`. For
/// progressive files, all sample tables are validated before the first
/// point is reported.
fn scan(src: &mut (impl Read + Seek), len: u64, sink: &mut dyn Sink) -> Result<Layout, MediaError> {
    if !boxes::looks_like_mp4(src, len)? {
        return Ok(Layout::Opaque(OpaqueReason::NotMp4));
    }
    let top = boxes::top_level(src, len)?;
    let mut moovs = top.iter().filter(|b| b.is(b"moov"));
    let moov_box = match (moovs.next(), moovs.next()) {
        (Some(m), None) => *m,
        (Some(_), Some(second)) => {
            return Err(MediaError::malformed(
                second.fourcc,
                second.start,
                "a second 'moov' box",
            ));
        }
        (None, _) => {
            return Err(MediaError::Missing {
                parent: FourCc::FILE,
                offset: 0,
                child: FourCc(*b"moov"),
            });
        }
    };
    let buf = boxes::load(src, &moov_box)?;
    let moov = Bx::whole(&buf, moov_box.start)?;
    let movie = movie::parse(moov)?;
    let Some(video) = movie.video else {
        return Ok(Layout::Opaque(OpaqueReason::NoVideoTrack));
    };

    // Validate the moov's own samples and find their extent and times.
    let mut first_off = u64::MAX;
    let mut last_end = 0u64;
    let mut prev_off = 0u64;
    let mut in_order = true;
    let mut start_ms: Option<u64> = None;
    let mut end_ms = 0u64;
    let mut end_dts = 0u64;
    for s in video.tables.samples() {
        let s = s?;
        let end = s.offset + u64::from(s.size); // checked in Samples
        if end > len {
            return Err(MediaError::malformed(
                FourCc(*b"stco"),
                moov_box.start,
                format!(
                    "video sample at offset {} ({} bytes) ends past the end of the file ({len})",
                    s.offset, s.size
                ),
            ));
        }
        in_order &= s.offset >= prev_off;
        prev_off = s.offset;
        first_off = first_off.min(s.offset);
        last_end = last_end.max(end);
        let t = video.ms(s.pts());
        start_ms = Some(start_ms.map_or(t, |m| m.min(t)));
        end_ms = end_ms.max(video.ms(s.pts() + i128::from(s.duration)));
        end_dts = s.dts.saturating_add(u64::from(s.duration));
    }
    let has_samples = video.tables.count > 0;

    let first_moof = top.iter().position(|b| b.is(b"moof"));
    let Some(first_moof) = first_moof else {
        // Progressive.
        if !has_samples {
            return Ok(Layout::Opaque(OpaqueReason::NoVideoSamples));
        }
        if !in_order {
            return Ok(Layout::Opaque(OpaqueReason::UnsupportedLayout(
                "video samples are not stored in decode order",
            )));
        }
        let (index, region) = if moov_box.end <= first_off {
            (0..moov_box.end, moov_box.end..len)
        } else if moov_box.start >= last_end {
            (moov_box.start..len, 0..moov_box.start)
        } else {
            return Ok(Layout::Opaque(OpaqueReason::UnsupportedLayout(
                "moov lies between video samples",
            )));
        };
        sink.begin(&region, start_ms);
        for s in video.tables.samples() {
            let s = s?;
            if s.sync {
                sink.point(Keyframe {
                    offset: s.offset,
                    time_ms: video.ms(s.pts()),
                });
            }
        }
        return Ok(Layout::Mp4 {
            kind: PlanKind::Mp4Progressive,
            index,
            region,
            end_ms,
        });
    };

    // Fragmented.
    if top[..first_moof].iter().all(|b| !b.is(b"moov")) {
        return Ok(Layout::Opaque(OpaqueReason::UnsupportedLayout(
            "moov follows the first moof",
        )));
    }
    if has_samples && last_end > top[first_moof].start {
        return Ok(Layout::Opaque(OpaqueReason::UnsupportedLayout(
            "moov samples lie among the fragments",
        )));
    }
    let index = 0..moov_box.end;
    let region = moov_box.end..len;
    sink.begin(&region, start_ms);
    let mut cursor = end_dts;
    let mut seen_video = has_samples;
    let mut prefix: Option<u64> = None;
    for b in &top[first_moof..] {
        if is_fragment_prefix(b) {
            prefix.get_or_insert(b.start);
            continue;
        }
        let at = prefix.take().unwrap_or(b.start);
        if !b.is(b"moof") {
            continue;
        }
        let buf = boxes::load(src, b)?;
        let moof = Bx::whole(&buf, b.start)?;
        let Some(f) = frag::parse(moof, video.id, video.trex)? else {
            continue;
        };
        seen_video = true;
        let dts = f.tfdt.unwrap_or(cursor);
        let pts = i128::from(dts) + i128::from(f.first_cto);
        let t = video.ms(pts);
        end_ms = end_ms.max(video.ms(pts + i128::from(f.duration)));
        cursor = dts.saturating_add(f.duration);
        if f.first_sync {
            sink.point(Keyframe {
                offset: at,
                time_ms: t,
            });
        }
    }
    if !seen_video {
        return Ok(Layout::Opaque(OpaqueReason::NoVideoSamples));
    }
    Ok(Layout::Mp4 {
        kind: PlanKind::Mp4Fragmented,
        index,
        region,
        end_ms,
    })
}

/// Boxes that open a fragment before its `moof` (ISO/IEC 14496-12 §8.16,
/// ISO/IEC 23009-1).
fn is_fragment_prefix(b: &TopBox) -> bool {
    [b"styp", b"sidx", b"ssix", b"prft", b"emsg"]
        .iter()
        .any(|t| b.is(t))
}

/// Chooses cut points: a cut closes at the first candidate whose time is at
/// least the target after the cut's start (and strictly after it, at a
/// strictly later offset inside the media region).
struct Greedy {
    target: u64,
    region: Range<u64>,
    /// Cut starts (offset, time); the first is the region's start, its time
    /// `None` until known (fragmented files take the first candidate's).
    bounds: Vec<(u64, Option<u64>)>,
}

impl Greedy {
    fn new(target: u64) -> Self {
        Greedy {
            target,
            region: 0..0,
            bounds: Vec::new(),
        }
    }

    fn finish(
        self,
        kind: PlanKind,
        len: u64,
        index: Range<u64>,
        region: Range<u64>,
        end_ms: u64,
    ) -> CutPlan {
        let bounds = if self.bounds.is_empty() {
            vec![(region.start, None)]
        } else {
            self.bounds
        };
        let mut media = Vec::with_capacity(bounds.len());
        for (i, &(off, t)) in bounds.iter().enumerate() {
            let t = t.unwrap_or(0);
            let (end, end_t) = match bounds.get(i + 1) {
                Some(&(o, nt)) => (o, nt.unwrap_or(t)),
                None => (region.end, end_ms.max(t)),
            };
            media.push(Cut {
                range: off..end,
                kind: CutKind::Media,
                media_start_ms: t,
                media_end_ms: end_t,
            });
        }
        let index_cut = Cut {
            range: index.clone(),
            kind: CutKind::ContainerIndex,
            media_start_ms: 0,
            media_end_ms: 0,
        };
        let cuts = if index.start == 0 {
            std::iter::once(index_cut).chain(media).collect()
        } else {
            media
                .into_iter()
                .chain(std::iter::once(index_cut))
                .collect()
        };
        CutPlan {
            kind,
            opaque: None,
            len,
            cuts,
        }
    }
}

impl Sink for Greedy {
    fn begin(&mut self, region: &Range<u64>, start_ms: Option<u64>) {
        self.region = region.clone();
        self.bounds = vec![(region.start, start_ms)];
    }

    fn point(&mut self, k: Keyframe) {
        let Some(&mut (last_off, ref mut last_t)) = self.bounds.last_mut() else {
            return;
        };
        let Some(last_t) = *last_t else {
            // The first candidate fixes the start time of the first cut.
            *last_t = Some(k.time_ms);
            return;
        };
        if k.offset > last_off
            && k.offset < self.region.end
            && k.time_ms > last_t
            && k.time_ms >= last_t.saturating_add(self.target)
        {
            self.bounds.push((k.offset, Some(k.time_ms)));
        }
    }
}
