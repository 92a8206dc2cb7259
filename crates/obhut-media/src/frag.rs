//! Movie fragments (`moof`): the video track's decode time, duration and
//! whether the fragment opens with a sync sample.

use crate::boxes::Bx;
use crate::error::MediaError;
use crate::limits::MAX_SAMPLES;
use crate::movie::Trex;

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
        let tfdt = match traf.child(b"tfdt")? {
            None => None,
            Some(b) => {
                let (v, _, mut f) = b.full()?;
                Some(if v == 1 {
                    f.u64("baseMediaDecodeTime")?
                } else {
                    u64::from(f.u32("baseMediaDecodeTime")?)
                })
            }
        };
        for trun in traf.children() {
            let trun = trun?;
            if !trun.is(b"trun") {
                continue;
            }
            let (_, flags, mut f) = trun.full()?;
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
            if count == 0 {
                continue;
            }
            if flags & 0x1 != 0 {
                f.skip(4, "data_offset")?;
            }
            let first_flags = if flags & 0x4 != 0 {
                Some(f.u32("first_sample_flags")?)
            } else {
                None
            };
            let fields = (flags & 0xf00).count_ones() as usize;
            let t = f.table(u64::from(count), 4 * fields, "samples")?;
            // Word index of each optional per-sample field.
            let word = |bit: u32| -> Option<usize> {
                (flags & bit != 0).then(|| (flags & 0xf00 & (bit - 1)).count_ones() as usize)
            };
            let (w_dur, w_flags, w_cto) = (word(0x100), word(0x400), word(0x800));
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
