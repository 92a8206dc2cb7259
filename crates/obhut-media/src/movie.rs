//! The `moov` box: the video track, its timing and its sample tables.

use crate::boxes::{Bx, Table};
use crate::error::{FourCc, MediaError};
use crate::limits::MAX_SAMPLES;

/// Defaults for fragments of a track (`trex`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Trex {
    pub duration: Option<u32>,
    pub flags: Option<u32>,
}

/// Maps a track's media time to presentation time in milliseconds: the
/// first edit of the edit list (initial empty edits delay, the first
/// non-empty edit's `media_time` is where presentation starts).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Shift {
    pub media_time: i64,
    pub empty_ms: u64,
}

/// The parsed `moov`.
pub(crate) struct Movie<'a> {
    pub video: Option<Track<'a>>,
}

/// The first video track.
pub(crate) struct Track<'a> {
    pub id: u32,
    pub timescale: u32,
    pub shift: Shift,
    pub trex: Trex,
    pub tables: Tables<'a>,
}

impl Track<'_> {
    /// Presentation time in ms (floored, clamped to 0) of media time `t`.
    pub fn ms(&self, t: i128) -> u64 {
        let ts = i128::from(self.timescale.max(1));
        let v = (t - i128::from(self.shift.media_time)) * 1000;
        let v = v.div_euclid(ts) + i128::from(self.shift.empty_ms);
        v.clamp(0, i128::from(u64::MAX)) as u64
    }
}

pub(crate) fn parse(moov: Bx<'_>) -> Result<Movie<'_>, MediaError> {
    let mvhd = moov.need(b"mvhd")?;
    let (v, _, mut f) = mvhd.full()?;
    f.skip(
        if v == 1 { 16 } else { 8 },
        "creation and modification times",
    )?;
    let movie_timescale = f.u32("timescale")?;

    let mut video = None;
    for c in moov.children() {
        let c = c?;
        if !c.is(b"trak") {
            continue;
        }
        let mdia = c.need(b"mdia")?;
        let (_, _, mut h) = mdia.need(b"hdlr")?.full()?;
        h.skip(4, "pre_defined")?;
        if h.fourcc("handler_type")?.0 == *b"vide" {
            video = Some(track(c, mdia, movie_timescale)?);
            break;
        }
    }
    if let (Some(t), Some(mvex)) = (video.as_mut(), moov.child(b"mvex")?) {
        for c in mvex.children() {
            let c = c?;
            if !c.is(b"trex") {
                continue;
            }
            let (_, _, mut f) = c.full()?;
            if f.u32("track_ID")? == t.id {
                f.skip(4, "default_sample_description_index")?;
                let duration = f.u32("default_sample_duration")?;
                f.skip(4, "default_sample_size")?;
                let flags = f.u32("default_sample_flags")?;
                t.trex = Trex {
                    duration: Some(duration),
                    flags: Some(flags),
                };
            }
        }
    }
    Ok(Movie { video })
}

pub(crate) fn track<'a>(
    trak: Bx<'a>,
    mdia: Bx<'a>,
    movie_timescale: u32,
) -> Result<Track<'a>, MediaError> {
    let tkhd = trak.need(b"tkhd")?;
    let (v, _, mut f) = tkhd.full()?;
    f.skip(
        if v == 1 { 16 } else { 8 },
        "creation and modification times",
    )?;
    let id = f.u32("track_ID")?;

    let timescale = header_timescale(mdia.need(b"mdhd")?)?;

    let mut shift = Shift::default();
    if let Some(elst) = trak
        .child(b"edts")?
        .map(|e| e.child(b"elst"))
        .transpose()?
        .flatten()
    {
        let (v, _, mut f) = elst.full()?;
        let count = f.u32("entry_count")?;
        let t = f.table(u64::from(count), if v == 1 { 20 } else { 12 }, "edit list")?;
        for i in 0..t.len() {
            let (dur, mt) = if v == 1 {
                (t.u64(i, 0), t.u64(i, 8) as i64)
            } else {
                (u64::from(t.u32(i, 0)), i64::from(t.u32(i, 1) as i32))
            };
            if mt == -1 {
                if movie_timescale == 0 {
                    return Err(elst.err("empty edit but the movie timescale (mvhd) is 0"));
                }
                let ms = u128::from(dur) * 1000 / u128::from(movie_timescale);
                shift.empty_ms = shift
                    .empty_ms
                    .saturating_add(u64::try_from(ms).unwrap_or(u64::MAX));
            } else {
                shift.media_time = mt;
                break;
            }
        }
    }

    let stbl = mdia.need(b"minf")?.need(b"stbl")?;
    Ok(Track {
        id,
        timescale,
        shift,
        trex: Trex::default(),
        tables: tables(stbl)?,
    })
}

/// Sample sizes (`stsz` or `stz2`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sizes<'a> {
    Constant(u32),
    Table(Table<'a>, u8),
}

impl Sizes<'_> {
    fn get(&self, i: usize) -> u32 {
        match self {
            Sizes::Constant(s) => *s,
            Sizes::Table(t, 32) => t.u32(i, 0),
            Sizes::Table(t, 16) => (t.byte(2 * i) << 8) | t.byte(2 * i + 1),
            Sizes::Table(t, 8) => t.byte(i),
            Sizes::Table(t, _) => {
                let b = t.byte(i / 2);
                if i.is_multiple_of(2) { b >> 4 } else { b & 0xf }
            }
        }
    }
}

/// The sample tables of a track, each checked to fit its box.
pub(crate) struct Tables<'a> {
    stbl_offset: u64,
    pub count: usize,
    sizes: Sizes<'a>,
    stts: Table<'a>,
    ctts: Option<Table<'a>>,
    stss: Option<Table<'a>>,
    stsc: Table<'a>,
    chunks: Table<'a>,
    chunks64: bool,
}

pub(crate) fn tables(stbl: Bx<'_>) -> Result<Tables<'_>, MediaError> {
    let limit = |b: &Bx<'_>, n: u32| {
        if u64::from(n) > MAX_SAMPLES {
            Err(MediaError::Limit {
                fourcc: b.fourcc,
                offset: b.offset,
                what: "sample count",
                value: u64::from(n),
                limit: MAX_SAMPLES,
            })
        } else {
            Ok(())
        }
    };
    let (count, sizes) = if let Some(stsz) = stbl.child(b"stsz")? {
        let (_, _, mut f) = stsz.full()?;
        let size = f.u32("sample_size")?;
        let n = f.u32("sample_count")?;
        limit(&stsz, n)?;
        if size == 0 {
            (
                n,
                Sizes::Table(f.table(u64::from(n), 4, "sample sizes")?, 32),
            )
        } else {
            (n, Sizes::Constant(size))
        }
    } else if let Some(stz2) = stbl.child(b"stz2")? {
        let (_, _, mut f) = stz2.full()?;
        let bits = (f.u32("field_size")? & 0xff) as u8;
        if !matches!(bits, 4 | 8 | 16) {
            return Err(stz2.err(format!("field_size {bits} is not 4, 8 or 16")));
        }
        let n = f.u32("sample_count")?;
        limit(&stz2, n)?;
        let bytes = (u64::from(n) * u64::from(bits)).div_ceil(8);
        let t = f.table(bytes, 1, "sample sizes")?;
        (n, Sizes::Table(t, bits))
    } else {
        return Err(MediaError::Missing {
            parent: stbl.fourcc,
            offset: stbl.offset,
            child: FourCc(*b"stsz"),
        });
    };

    let table = |t: &[u8; 4], entry: usize| -> Result<Option<Table<'_>>, MediaError> {
        match stbl.child(t)? {
            None => Ok(None),
            Some(b) => {
                let (_, _, mut f) = b.full()?;
                let n = f.u32("entry_count")?;
                Ok(Some(f.table(u64::from(n), entry, "entries")?))
            }
        }
    };
    let missing = |t: &[u8; 4]| MediaError::Missing {
        parent: stbl.fourcc,
        offset: stbl.offset,
        child: FourCc(*t),
    };
    let stts = table(b"stts", 8)?.ok_or_else(|| missing(b"stts"))?;
    let stsc = table(b"stsc", 12)?.ok_or_else(|| missing(b"stsc"))?;
    let (chunks, chunks64) = match table(b"stco", 4)? {
        Some(t) => (t, false),
        None => (table(b"co64", 8)?.ok_or_else(|| missing(b"stco"))?, true),
    };
    Ok(Tables {
        stbl_offset: stbl.offset,
        count: count as usize,
        sizes,
        stts,
        ctts: table(b"ctts", 8)?,
        stss: table(b"stss", 4)?,
        stsc,
        chunks,
        chunks64,
    })
}

/// One sample, in decode order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub offset: u64,
    pub size: u32,
    pub dts: u64,
    pub duration: u32,
    pub cts: i64,
    pub sync: bool,
}

impl Sample {
    pub fn pts(&self) -> i128 {
        i128::from(self.dts) + i128::from(self.cts)
    }
}

/// Walks the sample tables in step, yielding samples in decode order.
pub(crate) struct Samples<'t, 'a> {
    t: &'t Tables<'a>,
    i: usize,
    stts_e: usize,
    stts_left: u32,
    delta: u32,
    dts: u64,
    ctts_e: usize,
    ctts_left: u32,
    cts: i64,
    stss_p: usize,
    stsc_e: usize,
    chunk: Option<usize>,
    chunk_left: u32,
    next_offset: u64,
    failed: bool,
}

impl<'a> Tables<'a> {
    /// Whether the track has composition offsets (`ctts`).
    pub fn has_ctts(&self) -> bool {
        self.ctts.is_some()
    }

    /// Whether the track lists its sync samples (`stss`; all are sync
    /// without it).
    pub fn has_stss(&self) -> bool {
        self.stss.is_some()
    }

    pub fn samples(&self) -> Samples<'_, 'a> {
        Samples {
            t: self,
            i: 0,
            stts_e: 0,
            stts_left: 0,
            delta: 0,
            dts: 0,
            ctts_e: 0,
            ctts_left: 0,
            cts: 0,
            stss_p: 0,
            stsc_e: 0,
            chunk: None,
            chunk_left: 0,
            next_offset: 0,
            failed: false,
        }
    }

    fn err(&self, t: &[u8; 4], what: String) -> MediaError {
        MediaError::Malformed {
            fourcc: FourCc(*t),
            offset: self.stbl_offset,
            what: format!("{what} (in the 'stbl' box at this offset)"),
        }
    }
}

impl Samples<'_, '_> {
    fn step(&mut self) -> Result<Sample, MediaError> {
        let t = self.t;
        let n = self.i + 1; // 1-based sample number, <= MAX_SAMPLES

        while self.chunk_left == 0 {
            let c = self.chunk.map_or(0, |c| c + 1);
            if c >= t.chunks.len() {
                return Err(t.err(
                    b"stsc",
                    format!(
                        "stsc and chunk offsets describe fewer samples than the {} in stsz",
                        t.count
                    ),
                ));
            }
            if c == 0 && t.stsc.u32(0, 0) != 1 {
                return Err(t.err(b"stsc", "first entry does not start at chunk 1".into()));
            }
            // Chunk numbers are 1-based in stsc.
            let number = c as u64 + 1;
            while self.stsc_e + 1 < t.stsc.len()
                && u64::from(t.stsc.u32(self.stsc_e + 1, 0)) <= number
            {
                self.stsc_e += 1;
            }
            self.chunk = Some(c);
            self.chunk_left = t.stsc.u32(self.stsc_e, 1);
            self.next_offset = if t.chunks64 {
                t.chunks.u64(c, 0)
            } else {
                u64::from(t.chunks.u32(c, 0))
            };
        }
        self.chunk_left -= 1;
        let size = t.sizes.get(self.i);
        let offset = self.next_offset;
        self.next_offset = offset
            .checked_add(u64::from(size))
            .ok_or_else(|| t.err(b"stco", format!("sample {n} at offset {offset} overflows")))?;

        while self.stts_left == 0 {
            if self.stts_e >= t.stts.len() {
                return Err(t.err(
                    b"stts",
                    format!("time-to-sample table ends before sample {n}"),
                ));
            }
            self.stts_left = t.stts.u32(self.stts_e, 0);
            self.delta = t.stts.u32(self.stts_e, 1);
            self.stts_e += 1;
        }
        self.stts_left -= 1;
        let dts = self.dts;
        self.dts = self.dts.saturating_add(u64::from(self.delta));

        if let Some(ctts) = &t.ctts {
            while self.ctts_left == 0 && self.ctts_e < ctts.len() {
                self.ctts_left = ctts.u32(self.ctts_e, 0);
                // Read as signed in both versions, as common demuxers do.
                self.cts = i64::from(ctts.u32(self.ctts_e, 1) as i32);
                self.ctts_e += 1;
            }
            if self.ctts_left == 0 {
                self.cts = 0;
            } else {
                self.ctts_left -= 1;
            }
        }

        let sync = match &t.stss {
            None => true,
            Some(s) => {
                while self.stss_p < s.len() && (s.u32(self.stss_p, 0) as usize) < n {
                    self.stss_p += 1;
                }
                self.stss_p < s.len() && s.u32(self.stss_p, 0) as usize == n
            }
        };
        self.i += 1;
        Ok(Sample {
            offset,
            size,
            dts,
            duration: self.delta,
            cts: self.cts,
            sync,
        })
    }
}

impl Iterator for Samples<'_, '_> {
    type Item = Result<Sample, MediaError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.i >= self.t.count {
            return None;
        }
        let r = self.step();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

/// The timescale of an `mvhd` or `mdhd` (after version, flags and the
/// creation and modification times, 32 or 64 bits each by version); 0 is
/// refused, as every time would divide by it.
pub(crate) fn header_timescale(b: Bx<'_>) -> Result<u32, MediaError> {
    let (v, _, mut f) = b.full()?;
    f.skip(
        if v == 1 { 16 } else { 8 },
        "creation and modification times",
    )?;
    let timescale = f.u32("timescale")?;
    if timescale == 0 {
        return Err(b.err("timescale is 0"));
    }
    Ok(timescale)
}
