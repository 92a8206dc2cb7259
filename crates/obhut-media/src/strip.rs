//! Descriptive metadata in an MP4, found so that the cutter can keep it
//! out of the segments every grant opens (docs/format.md §7.3, §9.3)
//! without moving a byte of anything else.
//!
//! [`metadata`] lists the byte ranges ([`Blank`]s) a cutter blanks out of
//! the media and index segments: each `udta` and `meta` box that is a
//! child of `moov` or of a `trak` (it becomes a `free` box of the same
//! size: its header keeps its size field, its type reads `free`, its
//! payload is zeros), and every sample of a timed metadata track (zeros)
//! with, in a progressive file, its entries in the sample size table
//! (zeros: a demuxer reads each sample as empty, where a decoder may find
//! a sample of zeros malformed). In a fragmented file the sizes in the
//! `trun`s stay: ffmpeg refuses a fragment of empty samples. A track is timed metadata when its `hdlr`
//! handler type is one of [`METADATA_HANDLERS`]. Offsets stay as they
//! were, so the sample tables, the cut plan and every other byte are
//! untouched, and a player plays the blanked file; the original bytes go
//! into the recording's metadata patch, which only `include_metadata`
//! opens.
//!
//! Left in place: sample descriptions (`stsd`) and the other sample
//! tables of metadata tracks (times; sizes in fragments and constant
//! sizes), and top-level `meta`/`udta` boxes.

use std::io::{Read, Seek};
use std::ops::Range;

use crate::boxes::{self, Bx};
use crate::error::{FourCc, MediaError};
use crate::limits::MAX_SAMPLES;
use crate::{CutKind, CutPlan, PlanKind, frag, movie};

/// Handler types (`hdlr`) of tracks whose samples are descriptive
/// metadata, not picture or sound: ISO timed metadata (`meta`, which also
/// carries GoPro's GPMF and Apple's `mebx`), QuickTime and ISO text and
/// subtitles (`text`, `sbtl`, `subt`; dashcams write their GPS track as
/// a subtitle stream), closed captions (`clcp`), timecode (`tmcd`: often
/// the time of day), camera motion metadata (`camm`) and GoPro's and
/// others' data tracks (`gpmd`, `data`). `vide`, `soun` and anything
/// unknown stay media.
pub const METADATA_HANDLERS: &[&[u8; 4]] = &[
    b"meta", b"text", b"sbtl", b"subt", b"clcp", b"tmcd", b"camm", b"gpmd", b"data",
];

/// Boxes of descriptive metadata (user data, metadata) blanked wherever a
/// `moov` or `trak` holds them.
const DESCRIPTIVE_BOXES: &[&[u8; 4]] = &[b"udta", b"meta"];

/// A byte range of the file that a cutter blanks out.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Blank {
    /// The bytes, in the original file.
    pub range: Range<u64>,
    /// For a box, its header length (8, or 16 with a 64-bit size): the
    /// header is kept with its type replaced by `free`. 0 for sample bytes
    /// (all zeros).
    pub box_header: u8,
}

impl Blank {
    /// The blanked byte at `pos` (inside [`Blank::range`]) whose original
    /// is `original`.
    fn byte(&self, pos: u64, original: u8) -> u8 {
        let rel = pos - self.range.start;
        match (self.box_header, rel) {
            (0, _) => 0,
            (_, 4..8) => b"free"[(rel - 4) as usize],
            (h, r) if r < u64::from(h) => original,
            _ => 0,
        }
    }
}

/// Blanks, in `buf` holding the file's bytes from offset `at`, whatever
/// of `blanks` (sorted, as [`metadata`] returns them) falls inside it.
pub fn blank_window(blanks: &[Blank], at: u64, buf: &mut [u8]) {
    let end = at.saturating_add(buf.len() as u64);
    let first = blanks.partition_point(|b| b.range.end <= at);
    for b in blanks[first..].iter().take_while(|b| b.range.start < end) {
        let (from, to) = (b.range.start.max(at), b.range.end.min(end));
        for pos in from..to {
            // pos - at < buf.len().
            let i = (pos - at) as usize;
            buf[i] = b.byte(pos, buf[i]);
        }
    }
}

/// The descriptive metadata of the file `plan` was made from, sorted by
/// offset, not overlapping (contiguous samples merged). Empty for opaque
/// plans. An error when the metadata cannot be blanked safely: a sample
/// of a metadata track outside the media region or the file (or, in a
/// fragmented file, outside an `mdat`, or placed after another track's
/// data), or sharing bytes with a video sample or another blank; the
/// caller then leaves the file as it is.
pub fn metadata(src: &mut (impl Read + Seek), plan: &CutPlan) -> Result<Vec<Blank>, MediaError> {
    if plan.kind() == PlanKind::Opaque {
        return Ok(Vec::new());
    }
    let len = plan.file_len();
    let top = boxes::top_level(src, len)?;
    let Some(moov_box) = top.iter().find(|b| b.is(b"moov")) else {
        return Ok(Vec::new());
    };
    let buf = boxes::load(src, moov_box)?;
    let moov = Bx::whole(&buf, moov_box.start)?;
    let index = plan
        .cuts()
        .iter()
        .find(|c| c.kind == CutKind::ContainerIndex)
        .map_or(0..0, |c| c.range.clone());
    let progressive = plan.kind() == PlanKind::Mp4Progressive;

    let mut out = Vec::new();
    let descriptive = |b: &Bx<'_>, out: &mut Vec<Blank>| {
        if DESCRIPTIVE_BOXES.iter().any(|t| b.is(t)) {
            out.push(Blank {
                range: b.offset..b.end(),
                box_header: b.header_len() as u8,
            });
        }
    };
    // A metadata sample must lie in the media region (for a fragmented
    // file: inside an `mdat`), within the file.
    let mdats: Vec<Range<u64>> = top
        .iter()
        .filter(|b| b.is(b"mdat"))
        .map(|b| b.start..b.end)
        .collect();
    let sample = |range: Range<u64>, at: u64, out: &mut Vec<Blank>| {
        let in_mdat = progressive
            || mdats
                .get(mdats.partition_point(|m| m.end <= range.start))
                .is_some_and(|m| m.start <= range.start && range.end <= m.end);
        if range.end > len || (range.start < index.end && index.start < range.end) || !in_mdat {
            return Err(MediaError::malformed(
                FourCc(*b"trak"),
                at,
                format!(
                    "a metadata sample at {}..{} lies outside the media data",
                    range.start, range.end
                ),
            ));
        }
        if out.len() as u64 >= MAX_SAMPLES {
            return Err(MediaError::Limit {
                fourcc: FourCc(*b"trak"),
                offset: at,
                what: "metadata samples",
                value: out.len() as u64 + 1,
                limit: MAX_SAMPLES,
            });
        }
        out.push(Blank {
            range,
            box_header: 0,
        });
        Ok(())
    };
    let mut fragment_tracks = Vec::new();
    for c in moov.children() {
        let c = c?;
        descriptive(&c, &mut out);
        if !c.is(b"trak") {
            continue;
        }
        for t in c.children() {
            descriptive(&t?, &mut out);
        }
        let mdia = c.need(b"mdia")?;
        let (_, _, mut h) = mdia.need(b"hdlr")?.full()?;
        h.skip(4, "pre_defined")?;
        let handler = h.fourcc("handler_type")?;
        if !METADATA_HANDLERS.iter().any(|t| **t == handler.0) {
            continue;
        }
        if !progressive {
            let (v, _, mut f) = c.need(b"tkhd")?.full()?;
            f.skip(
                if v == 1 { 16 } else { 8 },
                "creation and modification times",
            )?;
            fragment_tracks.push(frag::MetaTrack {
                id: f.u32("track_ID")?,
                default_size: None,
            });
            continue;
        }
        let stbl = mdia.need(b"minf")?.need(b"stbl")?;
        let tables = movie::tables(stbl)?;
        out.extend(size_table(stbl)?);
        for s in tables.samples() {
            let s = s?;
            if s.size > 0 {
                // The end is checked in Samples.
                sample(s.offset..s.offset + u64::from(s.size), c.offset, &mut out)?;
            }
        }
    }
    if !fragment_tracks.is_empty() {
        trex_sizes(moov, &mut fragment_tracks)?;
        for b in top.iter().filter(|b| b.is(b"moof")) {
            let buf = boxes::load(src, b)?;
            let moof = Bx::whole(&buf, b.start)?;
            for r in frag::metadata_samples(moof, &fragment_tracks)? {
                sample(r, b.start, &mut out)?;
            }
        }
    }
    out.sort_by_key(|b| b.range.start);
    let out = merge(out)?;
    if progressive && let Some(video) = movie::parse(moov)?.video {
        for s in video.tables.samples() {
            let s = s?;
            let end = s.offset + u64::from(s.size);
            let i = out.partition_point(|b| b.range.end <= s.offset);
            if s.size > 0 && out.get(i).is_some_and(|b| b.range.start < end) {
                return Err(MediaError::malformed(
                    FourCc(*b"stco"),
                    moov.offset,
                    format!(
                        "a metadata sample shares bytes with the video sample at {}",
                        s.offset
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// The entries of a metadata track's sample size table (`stsz` with a
/// size per sample, or `stz2`), blanked with the samples: a demuxer then
/// reads every sample as empty, where zeroed bytes would be a malformed
/// sample to a decoder (a `tx3g` subtitle of zeros is), and the sizes of
/// the metadata are not disclosed either. A constant `sample_size` stays
/// (zeroing it would leave the table it then needs missing).
fn size_table(stbl: Bx<'_>) -> Result<Option<Blank>, MediaError> {
    // The box and the bits of each entry, which follow its version and
    // flags, sample_size (or field_size) and sample_count.
    let (b, bits) = if let Some(stsz) = stbl.child(b"stsz")? {
        let (_, _, mut f) = stsz.full()?;
        if f.u32("sample_size")? != 0 {
            return Ok(None);
        }
        (stsz, 32)
    } else if let Some(stz2) = stbl.child(b"stz2")? {
        let (_, _, mut f) = stz2.full()?;
        (stz2, u64::from(f.u32("field_size")? & 0xff))
    } else {
        return Ok(None);
    };
    let (_, _, mut f) = b.full()?;
    f.skip(4, "sample_size")?;
    let count = f.u32("sample_count")?;
    // Checked to fit the box when the tables were read.
    let bytes = (u64::from(count) * bits).div_ceil(8);
    let start = b.end() - b.payload.len() as u64 + 12;
    Ok((bytes > 0).then(|| Blank {
        range: start..start + bytes,
        box_header: 0,
    }))
}

/// The `trex` default sample size of each of `tracks`.
fn trex_sizes(moov: Bx<'_>, tracks: &mut [frag::MetaTrack]) -> Result<(), MediaError> {
    let Some(mvex) = moov.child(b"mvex")? else {
        return Ok(());
    };
    for c in mvex.children() {
        let c = c?;
        if !c.is(b"trex") {
            continue;
        }
        let (_, _, mut f) = c.full()?;
        let id = f.u32("track_ID")?;
        f.skip(8, "default_sample_description_index and duration")?;
        let size = f.u32("default_sample_size")?;
        for t in tracks.iter_mut().filter(|t| t.id == id) {
            t.default_size = Some(size);
        }
    }
    Ok(())
}

/// Merges contiguous sample blanks; refuses overlapping ones.
fn merge(sorted: Vec<Blank>) -> Result<Vec<Blank>, MediaError> {
    let mut out: Vec<Blank> = Vec::with_capacity(sorted.len());
    for b in sorted {
        if let Some(last) = out.last_mut() {
            if b.range.start < last.range.end {
                return Err(MediaError::malformed(
                    FourCc(*b"moov"),
                    b.range.start,
                    "two pieces of metadata share bytes",
                ));
            }
            if last.box_header == 0
                && b.box_header == 0
                && last.range.end == b.range.start
                && b.range.end - last.range.start <= u64::from(u32::MAX)
            {
                last.range.end = b.range.end;
                continue;
            }
        }
        out.push(b);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_becomes_free_and_samples_zeros() {
        let blanks = [
            Blank {
                range: 2..14,
                box_header: 8,
            },
            Blank {
                range: 16..18,
                box_header: 0,
            },
        ];
        let mut file = *b"..\0\0\0\x0cudtaABCD..XY..";
        blank_window(&blanks, 0, &mut file);
        assert_eq!(&file, b"..\0\0\0\x0cfree\0\0\0\0..\0\0..");
        // A window cutting through both.
        let mut window = *b"udtaABCD..X";
        blank_window(&blanks, 6, &mut window);
        assert_eq!(&window, b"free\0\0\0\0..\0");
    }

    #[test]
    fn contiguous_samples_merge_and_overlaps_are_refused() {
        let s = |a, b| Blank {
            range: a..b,
            box_header: 0,
        };
        assert_eq!(
            merge(vec![s(0, 2), s(2, 5), s(6, 7)]).unwrap(),
            [s(0, 5), s(6, 7)]
        );
        assert!(merge(vec![s(0, 3), s(2, 5)]).is_err());
    }
}
