//! The clean clip of an opened recording (docs/access.md §4): the scope
//! laid out as the original file first ([`crate::assemble`]), then
//! remuxed by `obhut-media` ([`obhut_media::plan_clip`]) into a playable
//! MP4 of exactly the opened window: a new `moov` for the kept samples,
//! times from the window's first keyframe, no holes, nothing re-encoded.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Range;

use obhut_core::request::{AccessRequest, Scope};
use obhut_core::segment::SegmentKind;
use obhut_media::{ClipPlan, plan_clip};

use crate::error::{Error, Result};
use crate::scope::{Resolved, is_media};

/// How [`crate::open::Grant::write_to_dir`] lays out each recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileLayout {
    /// `<recording>.mp4`: a clean clip of the window (a recording that
    /// cannot be clipped, not an MP4 with video, falls back to
    /// [`FileLayout::Original`] and says why).
    #[default]
    Clip,
    /// `<recording>.media`: the original's offsets and length, zeros
    /// where segments stay sealed (a whole recording gives a
    /// byte-identical copy).
    Original,
}

/// The byte ranges of `rec`'s media file that its segments in scope hold.
pub fn opened_ranges(rec: &Resolved) -> Vec<Range<u64>> {
    let mut offset = 0u64;
    let mut out = Vec::new();
    for (i, r) in rec.records.iter().enumerate().filter(|(_, r)| is_media(r)) {
        let len = r.plaintext_len();
        if rec.in_scope.contains(&i) {
            out.push(offset..offset + len);
        }
        offset += len;
    }
    out
}

/// The media window of `rec` to clip: the interval its opened media
/// segments cover, narrowed to the request's interval for that recording
/// (a device scope's UTC interval is the segments').
pub fn window(request: &AccessRequest, rec: &Resolved) -> Range<u64> {
    let mut start = u64::MAX;
    let mut end = 0u64;
    for r in rec.covered() {
        let f = &r.header().fields;
        if f.kind == SegmentKind::Media {
            start = start.min(f.media_start_ms);
            end = end.max(f.media_end_ms);
        }
    }
    for s in &request.scope {
        if let Scope::Recording {
            recording_id,
            media_start_ms,
            media_end_ms,
            ..
        } = s
            && *recording_id == rec.recording
        {
            start = start.max(*media_start_ms);
            end = end.min(*media_end_ms).max(start);
        }
    }
    start.min(end)..end
}

/// Writes the clean clip of `rec` (opened in the original layout into
/// `original`) to `out`.
pub fn write_clip(
    request: &AccessRequest,
    rec: &Resolved,
    original: &mut File,
    out: &mut dyn Write,
) -> Result<ClipPlan> {
    let len = original.metadata().map_err(Error::Write)?.len();
    let plan = plan_clip(
        &mut BufReader::new(&mut *original),
        len,
        &opened_ranges(rec),
        window(request, rec),
    )
    .map_err(|source| Error::Clip {
        recording: rec.recording,
        source,
    })?;
    let mut w = BufWriter::with_capacity(1 << 20, out);
    w.write_all(&plan.head).map_err(Error::Write)?;
    for r in &plan.copies {
        original
            .seek(SeekFrom::Start(r.start))
            .map_err(Error::Write)?;
        let want = r.end - r.start;
        let n = std::io::copy(&mut (&mut *original).take(want), &mut w).map_err(Error::Write)?;
        if n != want {
            return Err(Error::Write(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
    w.flush().map_err(Error::Write)?;
    Ok(plan)
}

/// [`write_clip`] into `scratch`, then to `out` with Content Credentials
/// ([`crate::credentials`]) stating the clip's custody: `request` (logged
/// at `request_index`) and the checkpoint `log` the grant was proved
/// against, and the device's verified display name if known. Returns the
/// plan and the manifest box's length.
#[cfg(feature = "c2pa")]
#[allow(clippy::too_many_arguments)] // the facts the manifest states, each from its own source
pub fn write_signed_clip(
    request: &AccessRequest,
    request_index: u64,
    rec: &Resolved,
    log: Option<&obhut_log::TrustedState>,
    device_name: Option<String>,
    original: &mut File,
    mut scratch: File,
    out: &mut File,
) -> Result<(ClipPlan, u64)> {
    let plan = write_clip(request, rec, original, &mut scratch)?;
    scratch.rewind().map_err(Error::Write)?;
    let w = window(request, rec);
    let mut custody = crate::credentials::Custody::of(
        request,
        request_index,
        rec.recording,
        &rec.covered().collect::<Vec<_>>(),
        [w.start, w.end],
        log,
    );
    custody.device.name = device_name;
    let len = crate::credentials::sign_clip(&custody, &mut scratch, out).map_err(|source| {
        Error::Credentials {
            recording: rec.recording,
            source,
        }
    })?;
    Ok((plan, len))
}
