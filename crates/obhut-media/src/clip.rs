//! A clean clip of an MP4's opened window (docs/access.md §3.1): a new
//! `ftyp`, a new `moov` describing only the samples kept, and an `mdat`
//! with exactly their bytes, without re-encoding. Progressive and
//! fragmented inputs both give a progressive clip: a fragmented file's
//! samples are read from its opened `moof`/`trun` boxes (and `tfdt`), its
//! sample descriptions from the init segment's `moov`.
//!
//! [`plan_clip`] reads the opened file in its original layout (the opened
//! segments at their offsets, zeros elsewhere, `free` box headers over the
//! holes) through the caller's `Read + Seek`, and returns the new header
//! and the byte ranges of the original to copy after it, in order. Only
//! `moov` and the opened `moof` boxes are loaded; sample bytes are never
//! read here, so a caller streams them straight from the opened file.
//!
//! What is kept: the planned video track from the last keyframe at or
//! before the window's start (the first opened one if none is) up to the
//! first keyframe at or after its end, or the first sample not opened;
//! every sound track's opened samples whose presentation falls in that
//! span. What is left out: other tracks (timed metadata, subtitles,
//! timecode, hint tracks), per-sample groupings (`sgpd`/`sbgp`, `sdtp`,
//! `subs`), track references, and `udta`/`meta` inside tracks; the
//! movie's own `udta` and `meta` boxes are copied as opened (blanked
//! unless the grant includes the metadata, docs/format.md §7.4).

use std::io::{Read, Seek};
use std::ops::Range;

use crate::boxes::{self, Bx};
use crate::error::{FourCc, MediaError};
use crate::frag;
use crate::limits::{MAX_INDEX_BOX_BYTES, MAX_SAMPLES};
use crate::movie::{self, Sample, Track};

/// The ISO BMFF `uuid` box type of a C2PA manifest store (C2PA 2.x
/// §A.4.2, "ContentProvenanceBox"): the box a C2PA writer inserts after
/// `ftyp`.
pub const C2PA_UUID: [u8; 16] = [
    0xd8, 0xfe, 0xc3, 0xd6, 0x1b, 0x0e, 0x48, 0x3c, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7e, 0xc4, 0x81,
];

/// Where the box after a clip's `ftyp` is, if it is a C2PA manifest
/// box: from the first bytes of a clip (at least `ftyp`'s and the next
/// box's headers, 8 + 24 bytes past `ftyp`), its offset and declared
/// length. `None` for anything else (no `ftyp` first, another box, a
/// 64-bit or zero size): such a clip carries no manifest where writers
/// put one.
pub fn c2pa_box_at(head: &[u8]) -> Option<Range<u64>> {
    let be32 = |at: usize| -> Option<u64> {
        let b: [u8; 4] = head.get(at..at + 4)?.try_into().ok()?;
        Some(u64::from(u32::from_be_bytes(b)))
    };
    if head.get(4..8)? != b"ftyp" {
        return None;
    }
    let ftyp = be32(0)?;
    let at = usize::try_from(ftyp).ok()?;
    let size = be32(at)?;
    let usertype = head.get(at + 8..at + 24)?;
    (ftyp >= 8 && size >= 24 && head.get(at + 4..at + 8)? == b"uuid" && usertype == C2PA_UUID)
        .then_some(ftyp..ftyp + size)
}

/// The clip of a window: `head` (`ftyp`, `moov`, the `mdat` header), then
/// the bytes of `copies` of the original, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipPlan {
    /// `ftyp`, `moov` and the `mdat` header.
    pub head: Vec<u8>,
    /// Byte ranges of the original file whose bytes follow `head`.
    pub copies: Vec<Range<u64>>,
    /// Presentation time of the clip's first video frame in the original
    /// (ms).
    pub start_ms: u64,
    /// Presentation end of its last video frame in the original (ms).
    pub end_ms: u64,
    /// Video samples kept.
    pub video_samples: usize,
}

impl ClipPlan {
    /// Length of the clip file.
    pub fn len(&self) -> u64 {
        self.copies.iter().fold(self.head.len() as u64, |a, r| {
            a.saturating_add(r.end - r.start)
        })
    }

    /// Whether the clip is empty (never, for a plan [`plan_clip`] returns).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn no(what: impl Into<String>) -> MediaError {
    MediaError::NoClip(what.into())
}

/// Plans the clip of the window `[window.start, window.end)` (video
/// presentation time, ms) of the progressive MP4 `src[0..len]`, of which
/// only the bytes in `present` (sorted or not) were opened.
pub fn plan_clip(
    src: &mut (impl Read + Seek),
    len: u64,
    present: &[Range<u64>],
    window: Range<u64>,
) -> Result<ClipPlan, MediaError> {
    plan_clip_with(src, len, present, window, &[])
}

/// [`plan_clip`] with `after_ftyp` (whole boxes, copied as they are)
/// between the new `ftyp` and `moov`, the chunk offsets counting them.
/// This is where a C2PA writer puts its manifest box ([`C2PA_UUID`]) and
/// how it shifts the offsets, so a clip signed after the remux is this
/// plan's output given the signed box: how a bundle's verifier re-derives
/// it byte for byte (docs/bundle.md).
pub fn plan_clip_with(
    src: &mut (impl Read + Seek),
    len: u64,
    present: &[Range<u64>],
    window: Range<u64>,
    after_ftyp: &[u8],
) -> Result<ClipPlan, MediaError> {
    let top = boxes::top_level(src, len)?;
    // The opened fragments (a fragmented file's holes are `free` boxes,
    // docs/format.md §7.3): each loaded, marked when a hole precedes it.
    let mut moofs: Vec<Moof> = Vec::new();
    let mut loaded = 0u64;
    let mut gap = false;
    for b in &top {
        if b.is(b"free") || b.is(b"skip") {
            gap = true;
        }
        if !b.is(b"moof") {
            continue;
        }
        loaded = loaded.saturating_add(b.end - b.start);
        if loaded > MAX_INDEX_BOX_BYTES {
            return Err(MediaError::Limit {
                fourcc: b.fourcc,
                offset: b.start,
                what: "bytes of the opened fragments' moof boxes",
                value: loaded,
                limit: MAX_INDEX_BOX_BYTES,
            });
        }
        moofs.push(Moof {
            start: b.start,
            bytes: boxes::load(src, b)?,
            after_gap: std::mem::take(&mut gap),
        });
    }
    let moov_box = top
        .iter()
        .find(|b| b.is(b"moov"))
        .ok_or(MediaError::Missing {
            parent: FourCc::FILE,
            offset: 0,
            child: FourCc(*b"moov"),
        })?;
    let buf = boxes::load(src, moov_box)?;
    let moov = Bx::whole(&buf, moov_box.start)?;
    let mut present: Vec<Range<u64>> = present
        .iter()
        .filter(|r| r.start < r.end)
        .cloned()
        .collect();
    present.sort_by_key(|r| r.start);
    // Adjacent segments make one range: a sample may span their boundary.
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(present.len());
    for r in present {
        match merged.last_mut() {
            Some(m) if r.start <= m.end => m.end = m.end.max(r.end),
            _ => merged.push(r),
        }
    }
    let present = merged;
    plan_moov(moov, &moofs, &present, window, after_ftyp)
}

/// An opened `moof`, loaded.
struct Moof {
    start: u64,
    bytes: Vec<u8>,
    /// Whether a hole (sealed fragments) lies between it and the previous one.
    after_gap: bool,
}

/// Is `[off, off + size)` inside one of the sorted `present` ranges?
fn is_present(present: &[Range<u64>], off: u64, size: u32) -> bool {
    let Some(end) = off.checked_add(u64::from(size)) else {
        return false;
    };
    let i = present.partition_point(|r| r.start <= off);
    i > 0 && present[i - 1].end >= end
}

/// A kept track: its boxes and its kept samples (decode order).
struct Kept<'a> {
    trak: Bx<'a>,
    mdia: Bx<'a>,
    track: Track<'a>,
    samples: Vec<Sample>,
    /// Media time of the first kept sample's decode time.
    base: u64,
    /// Empty edit before it, in movie time.
    delay: u64,
    has_ctts: bool,
    has_stss: bool,
}

/// Presentation time in microseconds of media time `t` of `track`.
fn us(track: &Track<'_>, t: i128) -> i128 {
    let ts = i128::from(track.timescale.max(1));
    (t - i128::from(track.shift.media_time)) * 1_000_000 / ts
        + i128::from(track.shift.empty_ms) * 1000
}

fn plan_moov(
    moov: Bx<'_>,
    moofs: &[Moof],
    present: &[Range<u64>],
    window: Range<u64>,
    after_ftyp: &[u8],
) -> Result<ClipPlan, MediaError> {
    let movie_ts = crate::movie::header_timescale(moov.need(b"mvhd")?)?;

    // The tracks: the first video track, every sound track.
    let mut video: Option<(Bx<'_>, Bx<'_>)> = None;
    let mut sound = Vec::new();
    for c in moov.children() {
        let c = c?;
        if !c.is(b"trak") {
            continue;
        }
        let mdia = c.need(b"mdia")?;
        let (_, _, mut h) = mdia.need(b"hdlr")?.full()?;
        h.skip(4, "pre_defined")?;
        match &h.fourcc("handler_type")?.0 {
            b"vide" if video.is_none() => video = Some((c, mdia)),
            b"soun" => sound.push((c, mdia)),
            _ => {}
        }
    }
    let Some((vtrak, vmdia)) = video else {
        return Err(no("the recording has no video track"));
    };
    let vtrack = movie::track(vtrak, vmdia, movie_ts)?;

    // Video: the opened samples, then the span from the keyframe.
    let opened = opened_samples(moov, &vtrack, moofs, present)?;
    let ms = |s: &Sample| vtrack.ms(s.pts());
    let syncs: Vec<usize> = (0..opened.len()).filter(|&k| opened[k].1.sync).collect();
    let first = syncs
        .iter()
        .rev()
        .find(|&&k| ms(&opened[k].1) <= window.start)
        .or_else(|| syncs.iter().find(|&&k| ms(&opened[k].1) < window.end))
        .copied()
        .ok_or_else(|| no("no keyframe of the window was opened"))?;
    let mut vsamples = vec![opened[first].1];
    for k in first + 1..opened.len() {
        let (i, s) = opened[k];
        if i != opened[k - 1].0 + 1 || (s.sync && ms(&s) >= window.end) {
            break;
        }
        vsamples.push(s);
    }
    let pmin = vsamples.iter().map(Sample::pts).min().unwrap_or(0);
    let pend = vsamples
        .iter()
        .map(|s| s.pts() + i128::from(s.duration))
        .max()
        .unwrap_or(0);
    let (vs, ve) = (us(&vtrack, pmin), us(&vtrack, pend));

    let mut kept = vec![make_kept(vtrak, vmdia, vtrack, vsamples, 0)];
    for (trak, mdia) in sound {
        let track = movie::track(trak, mdia, movie_ts)?;
        let mut samples: Vec<Sample> = Vec::new();
        let mut prev = None;
        for (i, s) in opened_samples(moov, &track, moofs, present)? {
            let t = us(&track, s.pts());
            if t < vs {
                continue;
            }
            if t >= ve || prev.is_some_and(|p| p + 1 != i) {
                break;
            }
            samples.push(s);
            prev = Some(i);
        }
        let Some(a) = samples.first() else { continue };
        let delay_us = us(&track, a.pts()) - vs;
        let delay = delay_us.max(0) * i128::from(movie_ts) / 1_000_000;
        kept.push(kept_with_delay(trak, mdia, track, samples, delay));
    }

    let start_ms = vtrack_ms(vs);
    let end_ms = vtrack_ms(ve);
    let video_samples = kept[0].samples.len();

    // The mdat: every kept sample in original file order; a run of one
    // track's samples is a chunk.
    let mut order: Vec<(u64, usize, usize)> = Vec::new();
    for (t, k) in kept.iter().enumerate() {
        for (j, s) in k.samples.iter().enumerate() {
            order.push((s.offset, t, j));
        }
    }
    order.sort();
    let mut last = vec![None::<usize>; kept.len()];
    for &(_, t, j) in &order {
        if last[t].is_some_and(|p| p > j) {
            return Err(no("a track's samples are not stored in decode order"));
        }
        last[t] = Some(j);
    }
    // Per track: (chunk position in the mdat, samples in it).
    let mut chunks: Vec<Vec<(u64, u32)>> = vec![Vec::new(); kept.len()];
    let mut copies: Vec<Range<u64>> = Vec::new();
    let mut pos = 0u64;
    let mut prev_track = None;
    for &(off, t, j) in &order {
        let size = u64::from(kept[t].samples[j].size);
        if prev_track == Some(t)
            && let Some(c) = chunks[t].last_mut()
        {
            c.1 += 1;
        } else {
            chunks[t].push((pos, 1));
        }
        prev_track = Some(t);
        let end = off + size; // checked by the sample walk
        match copies.last_mut() {
            Some(r) if r.end == off => r.end = end,
            _ => copies.push(off..end),
        }
        pos = pos
            .checked_add(size)
            .ok_or_else(|| no("clip larger than 2^64 bytes"))?;
    }
    let mdat_header: u64 = if pos > u64::from(u32::MAX) - 8 { 16 } else { 8 };

    let ftyp = full_box(
        b"ftyp",
        &[b"isom".as_slice(), &0x200u32.to_be_bytes(), b"isomiso2mp41"].concat(),
    );
    // Chunk offsets need the moov's length, which depends on their width:
    // build with 32-bit offsets, and again with 64-bit ones if the clip
    // is too long for them.
    let mut wide = false;
    loop {
        let probe = build_moov(moov, movie_ts, &kept, &chunks, 0, wide)?;
        let base = (ftyp.len() + after_ftyp.len() + probe.len()) as u64 + mdat_header;
        if !wide && base.saturating_add(pos) > u64::from(u32::MAX) {
            wide = true;
            continue;
        }
        let moov_new = build_moov(moov, movie_ts, &kept, &chunks, base, wide)?;
        let mut head = ftyp;
        head.extend_from_slice(after_ftyp);
        head.extend_from_slice(&moov_new);
        if mdat_header == 16 {
            head.extend_from_slice(&1u32.to_be_bytes());
            head.extend_from_slice(b"mdat");
            head.extend_from_slice(&(pos + 16).to_be_bytes());
        } else {
            // pos + 8 <= u32::MAX here.
            head.extend_from_slice(&((pos + 8) as u32).to_be_bytes());
            head.extend_from_slice(b"mdat");
        }
        return Ok(ClipPlan {
            head,
            copies,
            start_ms,
            end_ms,
            video_samples,
        });
    }
}

/// The opened samples of `track` (in `moov`'s tables, then in the
/// fragments), each with its number in the track; numbers skip where
/// samples were not opened.
fn opened_samples(
    moov: Bx<'_>,
    track: &Track<'_>,
    moofs: &[Moof],
    present: &[Range<u64>],
) -> Result<Vec<(usize, Sample)>, MediaError> {
    let mut out = Vec::new();
    let mut n = 0usize;
    let mut cursor = 0u64;
    for s in track.tables.samples() {
        let s = s?;
        if is_present(present, s.offset, s.size) {
            out.push((n, s));
        }
        n += 1;
        cursor = s.dts.saturating_add(u64::from(s.duration));
    }
    if moofs.is_empty() {
        return Ok(out);
    }
    let defaults = trex(moov, track.id)?;
    let mut buf = Vec::new();
    for m in moofs {
        if m.after_gap {
            n += 1;
        }
        buf.clear();
        frag::track_samples(
            Bx::whole(&m.bytes, m.start)?,
            track.id,
            defaults,
            &mut cursor,
            &mut buf,
        )?;
        for s in buf.drain(..) {
            if is_present(present, s.offset, s.size) {
                out.push((n, s));
            }
            n += 1;
        }
        if n as u64 > MAX_SAMPLES {
            return Err(MediaError::Limit {
                fourcc: FourCc(*b"moof"),
                offset: m.start,
                what: "samples of a track in the opened fragments",
                value: n as u64,
                limit: MAX_SAMPLES,
            });
        }
    }
    Ok(out)
}

/// The fragment defaults of track `id` (`mvex`/`trex`).
fn trex(moov: Bx<'_>, id: u32) -> Result<frag::Defaults, MediaError> {
    let Some(mvex) = moov.child(b"mvex")? else {
        return Ok(frag::Defaults::default());
    };
    for c in mvex.children() {
        let c = c?;
        if !c.is(b"trex") {
            continue;
        }
        let (_, _, mut f) = c.full()?;
        if f.u32("track_ID")? == id {
            f.skip(4, "default_sample_description_index")?;
            return Ok(frag::Defaults {
                duration: Some(f.u32("default_sample_duration")?),
                size: Some(f.u32("default_sample_size")?),
                flags: Some(f.u32("default_sample_flags")?),
            });
        }
    }
    Ok(frag::Defaults::default())
}

fn vtrack_ms(us: i128) -> u64 {
    (us / 1000).clamp(0, i128::from(u64::MAX)) as u64
}

fn make_kept<'a>(
    trak: Bx<'a>,
    mdia: Bx<'a>,
    track: Track<'a>,
    samples: Vec<Sample>,
    delay: u64,
) -> Kept<'a> {
    let base = samples.first().map_or(0, |s| s.dts);
    // A fragmented file's tables are empty: its fragments say.
    let has_ctts = track.tables.has_ctts() || samples.iter().any(|s| s.cts != 0);
    let has_stss = track.tables.has_stss() || samples.iter().any(|s| !s.sync);
    Kept {
        trak,
        mdia,
        track,
        samples,
        base,
        delay,
        has_ctts,
        has_stss,
    }
}

fn kept_with_delay<'a>(
    trak: Bx<'a>,
    mdia: Bx<'a>,
    track: Track<'a>,
    samples: Vec<Sample>,
    delay: i128,
) -> Kept<'a> {
    let delay = u64::try_from(delay).unwrap_or(u64::MAX);
    make_kept(trak, mdia, track, samples, delay)
}

/// A box of type `t` around `payload`.
fn full_box(t: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 16);
    match u32::try_from(payload.len() + 8) {
        Ok(size) => out.extend_from_slice(&size.to_be_bytes()),
        Err(_) => {
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(t);
            out.extend_from_slice(&(payload.len() as u64 + 16).to_be_bytes());
            out.extend_from_slice(payload);
            return out;
        }
    }
    out.extend_from_slice(t);
    out.extend_from_slice(payload);
    out
}

/// A full box (version and flags, then `body`).
fn versioned(t: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(body.len() + 4);
    p.extend_from_slice(&(u32::from(version) << 24).to_be_bytes());
    p.extend_from_slice(body);
    full_box(t, &p)
}

/// A copy of `b` (re-framed with a 32-bit size where it fits).
fn copy(b: &Bx<'_>) -> Vec<u8> {
    full_box(&b.fourcc.0, b.payload)
}

/// A copy of the full box `b` with its duration field set: at `v0` bytes
/// into the payload as 32 bits in version 0, at `v1` as 64 in version 1.
fn with_duration(b: &Bx<'_>, v0: usize, v1: usize, duration: u64) -> Result<Vec<u8>, MediaError> {
    let mut p = b.payload.to_vec();
    let version = p.first().copied().unwrap_or(0);
    let (at, bytes): (usize, Vec<u8>) = if version == 1 {
        (v1, duration.to_be_bytes().to_vec())
    } else {
        let d = u32::try_from(duration).unwrap_or(u32::MAX);
        (v0, d.to_be_bytes().to_vec())
    };
    let slot = at
        .checked_add(bytes.len())
        .and_then(|e| p.get_mut(at..e))
        .ok_or_else(|| b.err("payload too short for duration"))?;
    slot.copy_from_slice(&bytes);
    Ok(full_box(&b.fourcc.0, &p))
}

fn rescale(v: i128, from: u32, to: u32) -> u64 {
    let v = v.max(0) * i128::from(to) / i128::from(from.max(1));
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn build_moov(
    moov: Bx<'_>,
    movie_ts: u32,
    kept: &[Kept<'_>],
    chunks: &[Vec<(u64, u32)>],
    base: u64,
    wide: bool,
) -> Result<Vec<u8>, MediaError> {
    let mut traks = Vec::new();
    let mut movie_dur = 0u64;
    for (k, chunks) in kept.iter().zip(chunks) {
        let (trak, movie_len) = build_trak(k, movie_ts, chunks, base, wide)?;
        movie_dur = movie_dur.max(movie_len);
        traks.extend_from_slice(&trak);
    }
    let mut p = with_duration(&moov.need(b"mvhd")?, 16, 24, movie_dur)?;
    p.extend_from_slice(&traks);
    for c in moov.children() {
        let c = c?;
        if c.is(b"udta") || c.is(b"meta") {
            p.extend_from_slice(&copy(&c));
        }
    }
    Ok(full_box(b"moov", &p))
}

/// One kept track as a new `trak`, and its length in movie time.
fn build_trak(
    k: &Kept<'_>,
    movie_ts: u32,
    chunks: &[(u64, u32)],
    base: u64,
    wide: bool,
) -> Result<(Vec<u8>, u64), MediaError> {
    let ts = k.track.timescale;
    let media_dur: u64 = k
        .samples
        .iter()
        .fold(0u64, |a, s| a.saturating_add(u64::from(s.duration)));
    // Presentation: from the earliest kept presentation time to the
    // latest end, in the rebased timeline (decode time from `base`).
    let rebased = |s: &Sample| s.pts() - i128::from(k.base);
    let pmin = k.samples.iter().map(rebased).min().unwrap_or(0);
    let pend = k
        .samples
        .iter()
        .map(|s| rebased(s) + i128::from(s.duration))
        .max()
        .unwrap_or(0);
    let shown = rescale(pend - pmin, ts, movie_ts);
    let movie_len = k.delay.saturating_add(shown);

    let mut edits: Vec<(u64, i64)> = Vec::new();
    if k.delay > 0 {
        edits.push((k.delay, -1));
    }
    edits.push((shown, i64::try_from(pmin).unwrap_or(0)));
    let v1 = edits
        .iter()
        .any(|&(d, m)| d > u64::from(u32::MAX) || i32::try_from(m).is_err());
    let mut elst = (edits.len() as u32).to_be_bytes().to_vec();
    for (d, m) in &edits {
        if v1 {
            elst.extend_from_slice(&d.to_be_bytes());
            elst.extend_from_slice(&m.to_be_bytes());
        } else {
            elst.extend_from_slice(&(*d as u32).to_be_bytes());
            elst.extend_from_slice(&(*m as i32).to_be_bytes());
        }
        elst.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // rate 1.0
    }
    let edts = full_box(b"edts", &versioned(b"elst", u8::from(v1), &elst));

    let mut stbl = Vec::new();
    let stbl_box = k.mdia.need(b"minf")?.need(b"stbl")?;
    stbl.extend_from_slice(&copy(&stbl_box.need(b"stsd")?));
    stbl.extend_from_slice(&versioned(
        b"stts",
        0,
        &runs(k.samples.iter().map(|s| s.duration)),
    ));
    if k.has_ctts {
        let neg = k.samples.iter().any(|s| s.cts < 0);
        let offs = k.samples.iter().map(|s| s.cts as i32 as u32);
        stbl.extend_from_slice(&versioned(b"ctts", u8::from(neg), &runs(offs)));
    }
    if k.has_stss {
        let sync: Vec<u32> = (1u32..)
            .zip(&k.samples)
            .filter(|(_, s)| s.sync)
            .map(|(n, _)| n)
            .collect();
        let mut p = (sync.len() as u32).to_be_bytes().to_vec();
        for n in sync {
            p.extend_from_slice(&n.to_be_bytes());
        }
        stbl.extend_from_slice(&versioned(b"stss", 0, &p));
    }
    // stsc: runs of chunks with the same sample count.
    let mut stsc: Vec<(u32, u32)> = Vec::new();
    for (n, &(_, count)) in (1u32..).zip(chunks) {
        if stsc.last().is_none_or(|l| l.1 != count) {
            stsc.push((n, count));
        }
    }
    let mut p = (stsc.len() as u32).to_be_bytes().to_vec();
    for (first, count) in stsc {
        for w in [first, count, 1] {
            p.extend_from_slice(&w.to_be_bytes());
        }
    }
    stbl.extend_from_slice(&versioned(b"stsc", 0, &p));
    let mut p = 0u32.to_be_bytes().to_vec();
    p.extend_from_slice(&(k.samples.len() as u32).to_be_bytes());
    for s in &k.samples {
        p.extend_from_slice(&s.size.to_be_bytes());
    }
    stbl.extend_from_slice(&versioned(b"stsz", 0, &p));
    let mut p = (chunks.len() as u32).to_be_bytes().to_vec();
    for &(at, _) in chunks {
        let at = base.saturating_add(at);
        if wide {
            p.extend_from_slice(&at.to_be_bytes());
        } else {
            p.extend_from_slice(&u32::try_from(at).unwrap_or(u32::MAX).to_be_bytes());
        }
    }
    stbl.extend_from_slice(&versioned(if wide { b"co64" } else { b"stco" }, 0, &p));

    let minf = k.mdia.need(b"minf")?;
    let mut minf_p = Vec::new();
    for c in minf.children() {
        let c = c?;
        if !c.is(b"stbl") {
            minf_p.extend_from_slice(&copy(&c));
        }
    }
    minf_p.extend_from_slice(&full_box(b"stbl", &stbl));

    let mut mdia_p = with_duration(&k.mdia.need(b"mdhd")?, 16, 24, media_dur)?;
    mdia_p.extend_from_slice(&copy(&k.mdia.need(b"hdlr")?));
    mdia_p.extend_from_slice(&full_box(b"minf", &minf_p));

    let mut trak_p = with_duration(&k.trak.need(b"tkhd")?, 20, 28, movie_len)?;
    trak_p.extend_from_slice(&edts);
    trak_p.extend_from_slice(&full_box(b"mdia", &mdia_p));
    Ok((full_box(b"trak", &trak_p), movie_len))
}

/// Run-length entries (count, value) of a table like `stts`, with the
/// entry count in front.
fn runs(values: impl Iterator<Item = u32>) -> Vec<u8> {
    let mut r: Vec<(u32, u32)> = Vec::new();
    for v in values {
        match r.last_mut() {
            Some(l) if l.1 == v => l.0 += 1,
            _ => r.push((1, v)),
        }
    }
    let mut p = (r.len() as u32).to_be_bytes().to_vec();
    for (n, v) in r {
        p.extend_from_slice(&n.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    p
}
