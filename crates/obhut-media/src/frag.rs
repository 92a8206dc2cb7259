//! Movie fragments (`moof`): the video track's decode time, duration and
//! whether the fragment opens with a sync sample.

use std::ops::Range;

use crate::boxes::{Bx, Fields, Table};
use crate::error::MediaError;
use crate::limits::MAX_SAMPLES;
use crate::movie::{Sample, Trex};

/// `sample_is_non_sync_sample` in ISO BMFF sample flags.
const NON_SYNC: u32 = 0x0001_0000;

/// The video track's part of one fragment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frag {
    /// `tfdt` baseMediaDecodeTime, if present.
    pub tfdt: Option<u64>,
    /// Sum of the video samples' durations.
    pub duration: u64,
    /// Composition offset of the first video sample.
    pub first_cto: i64,
    /// Whether the first video sample is a sync sample (assumed when no
    /// flags say otherwise).
    pub first_sync: bool,
}

/// Parses `moof` for track `id`; `None` if it carries no sample of it.
pub(crate) fn parse(moof: Bx<'_>, id: u32, trex: Trex) -> Result<Option<Frag>, MediaError> {
    let mut out: Option<Frag> = None;
    for traf in moof.children() {
        let traf = traf?;
        if !traf.is(b"traf") {
            continue;
        }
        let tfhd = traf.need(b"tfhd")?;
        let (_, flags, mut f) = tfhd.full()?;
        if f.u32("track_ID")? != id {
            continue;
        }
        if flags & 0x1 != 0 {
            f.skip(8, "base_data_offset")?;
        }
        if flags & 0x2 != 0 {
            f.skip(4, "sample_description_index")?;
        }
        let default_duration = if flags & 0x8 != 0 {
            Some(f.u32("default_sample_duration")?)
        } else {
            trex.duration
        };
        if flags & 0x10 != 0 {
            f.skip(4, "default_sample_size")?;
        }
        let default_flags = if flags & 0x20 != 0 {
            Some(f.u32("default_sample_flags")?)
        } else {
            trex.flags
        };
        let tfdt = base_decode_time(traf)?;
        for trun in traf.children() {
            let trun = trun?;
            if !trun.is(b"trun") {
                continue;
            }
            let (_, flags, mut f) = trun.full()?;
            let count = sample_count(&trun, &mut f)?;
            if count == 0 {
                continue;
            }
            if flags & 0x1 != 0 {
                f.skip(4, "data_offset")?;
            }
            let TrunSamples {
                first_flags,
                table: t,
                duration: w_dur,
                flags: w_flags,
                cto: w_cto,
                ..
            } = trun_samples(&mut f, flags, count)?;
            let duration = match w_dur {
                // Bounded by the table, which fits in the box.
                Some(w) => (0..t.len()).map(|i| u64::from(t.u32(i, w))).sum::<u64>(),
                None => u64::from(count) * u64::from(default_duration.unwrap_or(0)),
            };
            let sample0_flags = first_flags
                .or(w_flags.map(|w| t.u32(0, w)))
                .or(default_flags);
            let first_cto = w_cto.map_or(0, |w| i64::from(t.u32(0, w) as i32));
            match &mut out {
                None => {
                    out = Some(Frag {
                        tfdt,
                        duration,
                        first_cto,
                        first_sync: sample0_flags.is_none_or(|fl| fl & NON_SYNC == 0),
                    })
                }
                Some(o) => o.duration = o.duration.saturating_add(duration),
            }
        }
    }
    Ok(out)
}

/// A timed metadata track of a fragmented file: its id and its `trex`
/// default sample size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MetaTrack {
    pub id: u32,
    pub default_size: Option<u32>,
}

/// In one `moof`, the byte ranges of the samples of `tracks` (in the
/// fragment's `mdat`), in file order: each track's samples as
/// [`track_samples`] reads them (the one `trun` reader, so a clip and the
/// metadata blanking agree on where a sample is). Their sizes in the `trun`
/// stay: ffmpeg refuses, as it reads the header, a fragment whose samples
/// have size 0.
pub(crate) fn metadata_samples(
    moof: Bx<'_>,
    tracks: &[MetaTrack],
) -> Result<Vec<Range<u64>>, MediaError> {
    let mut samples = Vec::new();
    for track in tracks {
        let defaults = Defaults {
            size: track.default_size,
            ..Defaults::default()
        };
        let (mut decode_time, mut found) = (0, Vec::new());
        track_samples(moof, track.id, defaults, &mut decode_time, &mut found)?;
        // track_samples checked that every end fits in a u64.
        samples.extend(
            found
                .iter()
                .filter(|x| x.size > 0)
                .map(|x| x.offset..x.offset + u64::from(x.size)),
        );
    }
    samples.sort_by_key(|r| r.start);
    Ok(samples)
}

/// A track's fragment defaults from `trex`, for [`track_samples`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Defaults {
    pub duration: Option<u32>,
    pub size: Option<u32>,
    pub flags: Option<u32>,
}

/// Appends the samples of track `id` in `moof` to `out`, in decode order,
/// with decode times from `tfdt` (else from `cursor`, the end of the
/// track's previous fragment, which it advances). Where a track fragment
/// has neither `base_data_offset` nor default-base-is-moof, its data is
/// taken to follow the previous one's (ISO/IEC 14496-12 §8.8.7).
pub(crate) fn track_samples(
    moof: Bx<'_>,
    id: u32,
    defaults: Defaults,
    cursor: &mut u64,
    out: &mut Vec<Sample>,
) -> Result<(), MediaError> {
    let mut data_end = moof.offset;
    for traf in moof.children() {
        let traf = traf?;
        if !traf.is(b"traf") {
            continue;
        }
        let tfhd = traf.need(b"tfhd")?;
        let (_, flags, mut f) = tfhd.full()?;
        let this = f.u32("track_ID")? == id;
        let base = if flags & 0x1 != 0 {
            f.u64("base_data_offset")?
        } else if flags & 0x2_0000 != 0 {
            moof.offset
        } else {
            data_end
        };
        if flags & 0x2 != 0 {
            f.skip(4, "sample_description_index")?;
        }
        let d_dur = if flags & 0x8 != 0 {
            Some(f.u32("default_sample_duration")?)
        } else {
            defaults.duration
        };
        let d_size = if flags & 0x10 != 0 {
            Some(f.u32("default_sample_size")?)
        } else {
            defaults.size
        };
        let d_flags = if flags & 0x20 != 0 {
            Some(f.u32("default_sample_flags")?)
        } else {
            defaults.flags
        };
        if this && let Some(t) = base_decode_time(traf)? {
            *cursor = t;
        }
        let mut pos = base;
        for trun in traf.children() {
            let trun = trun?;
            if !trun.is(b"trun") {
                continue;
            }
            let (_, flags, mut f) = trun.full()?;
            let count = sample_count(&trun, &mut f)?;
            if flags & 0x1 != 0 {
                let d = i64::from(f.u32("data_offset")? as i32);
                pos = base
                    .checked_add_signed(d)
                    .ok_or_else(|| trun.err("data_offset points before the file"))?;
            }
            let TrunSamples {
                first_flags,
                table: t,
                duration: w_dur,
                size: w_size,
                flags: w_flags,
                cto: w_cto,
            } = trun_samples(&mut f, flags, count)?;
            for i in 0..t.len() {
                let size = match (w_size, d_size) {
                    (Some(w), _) => t.u32(i, w),
                    (None, Some(d)) => d,
                    (None, None) => return Err(trun.err("no sample size")),
                };
                let duration = w_dur.map_or(d_dur.unwrap_or(0), |w| t.u32(i, w));
                let fl = match (i, first_flags) {
                    (0, Some(ff)) => Some(ff),
                    _ => w_flags.map(|w| t.u32(i, w)).or(d_flags),
                };
                let end = pos
                    .checked_add(u64::from(size))
                    .ok_or_else(|| trun.err("a sample's end overflows"))?;
                if this {
                    out.push(Sample {
                        offset: pos,
                        size,
                        dts: *cursor,
                        duration,
                        cts: w_cto.map_or(0, |w| i64::from(t.u32(i, w) as i32)),
                        sync: fl.is_none_or(|fl| fl & NON_SYNC == 0),
                    });
                    *cursor = cursor.saturating_add(u64::from(duration));
                }
                pos = end;
            }
        }
        data_end = pos;
    }
    Ok(())
}

/// A `traf`'s `tfdt` baseMediaDecodeTime, if it has one.
fn base_decode_time(traf: Bx<'_>) -> Result<Option<u64>, MediaError> {
    let Some(b) = traf.child(b"tfdt")? else {
        return Ok(None);
    };
    let (v, _, mut f) = b.full()?;
    Ok(Some(if v == 1 {
        f.u64("baseMediaDecodeTime")?
    } else {
        u64::from(f.u32("baseMediaDecodeTime")?)
    }))
}

/// A `trun`'s sample count (its first field after version and flags),
/// refused above [`MAX_SAMPLES`].
fn sample_count(trun: &Bx<'_>, f: &mut Fields<'_>) -> Result<u32, MediaError> {
    let count = f.u32("sample_count")?;
    if u64::from(count) > MAX_SAMPLES {
        return Err(MediaError::Limit {
            fourcc: trun.fourcc,
            offset: trun.offset,
            what: "sample count",
            value: u64::from(count),
            limit: MAX_SAMPLES,
        });
    }
    Ok(count)
}

/// A `trun`'s per-sample part, read after its `data_offset`: the first
/// sample's flags if given, the table of per-sample fields, and the word
/// index in each row of the optional fields it carries (ISO/IEC 14496-12
/// §8.8.8: duration, size, flags, composition offset, in that order).
struct TrunSamples<'a> {
    first_flags: Option<u32>,
    table: Table<'a>,
    duration: Option<usize>,
    size: Option<usize>,
    flags: Option<usize>,
    cto: Option<usize>,
}

fn trun_samples<'a>(
    f: &mut Fields<'a>,
    flags: u32,
    count: u32,
) -> Result<TrunSamples<'a>, MediaError> {
    let first_flags = if flags & 0x4 != 0 {
        Some(f.u32("first_sample_flags")?)
    } else {
        None
    };
    let fields = (flags & 0xf00).count_ones() as usize;
    let table = f.table(u64::from(count), 4 * fields, "samples")?;
    let word = |bit: u32| -> Option<usize> {
        (flags & bit != 0).then(|| (flags & 0xf00 & (bit - 1)).count_ones() as usize)
    };
    Ok(TrunSamples {
        first_flags,
        table,
        duration: word(0x100),
        size: word(0x200),
        flags: word(0x400),
        cto: word(0x800),
    })
}
