//! Sealing a file offline into a recording directory: the device's role
//! without a vault (`obhut seal`). The file is cut into byte-range
//! segments, each sealed with a fresh key to the pinned custody group and
//! the retention epoch, and the chain of segment records is signed
//! (docs/format.md §6.4, §7).
//!
//! ## The directory
//!
//! `NNNNNN.seg` (the sealed blob of segment N) and `NNNNNN.rec` (its
//! device-signed record) for every segment, plus `group.obgd`, a copy of
//! the descriptor sealed to. [`blob_name`], [`record_name`],
//! [`GROUP_COPY`] and [`index_of`] are the names; whoever reads such a
//! directory uses them.
//!
//! ## The order of writes
//!
//! Everything is written into a hidden sibling of the destination
//! (`.obhut-seal-…`): per segment the blob (created new, fsynced) before
//! its record (created new, fsynced), then the descriptor copy (a durable
//! write); the directory is made 0755 and fsynced, an empty destination
//! removed, the staging directory renamed to the destination, and the
//! parent fsynced. A failure at any step leaves no half-written recording
//! at the destination.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::epoch::EpochPublic;
use obhut_core::group::PinnedGroup;
use obhut_core::identity::SignKey;
use obhut_core::ids::RecordingId;
use obhut_core::record::SegmentRecord;
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::stream::{MAX_PLAINTEXT_LEN, PlaintextReader};

pub use obhut_core::dir_names::{GROUP_COPY, blob_name, index_of, record_name};

/// Which input an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// The file sealed as media segments.
    Media,
    /// The sidecar sealed as the metadata segment.
    Metadata,
}

/// Everything sealing into a directory can fail at, with the paths and
/// numbers a caller needs to say which input or option to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The destination exists and holds files.
    #[error("{} exists and is not empty", out.display())]
    OutNotEmpty {
        /// The destination.
        out: PathBuf,
    },
    /// The destination cannot be inspected.
    #[error("cannot use {} as the recording directory", out.display())]
    OutUnusable {
        /// The destination.
        out: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An input cannot be opened.
    #[error("cannot open {}", path.display())]
    Open {
        /// Which input.
        input: Input,
        /// Its path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An input's length cannot be read.
    #[error("cannot read {}", path.display())]
    Stat {
        /// Which input.
        input: Input,
        /// Its path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The metadata sidecar is larger than one segment may be.
    #[error("{} is too large", path.display())]
    MetadataTooLarge {
        /// The sidecar.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
    },
    /// The segment size is 0 or larger than one segment may be.
    #[error("segments of {bytes} bytes: a segment holds 1 byte to 256 TiB")]
    SegmentBytes {
        /// The size asked for.
        bytes: u64,
    },
    /// The file would need more segments than a recording may have.
    #[error("{count} segments: a recording has at most 2^32")]
    TooManySegments {
        /// The number of segments needed.
        count: usize,
    },
    /// Capture time plus media time overflows.
    #[error("capture time out of range")]
    CaptureOutOfRange,
    /// A segment's capture time lies outside the epoch's period.
    #[error(
        "segment {index} is captured at {captured_at_ms} ms, outside the epoch ({class}: captures in [{not_before}, {not_after}) ms)"
    )]
    OutsideEpoch {
        /// The segment.
        index: usize,
        /// Its capture time, ms since 1970.
        captured_at_ms: i64,
        /// The epoch's retention class.
        class: String,
        /// First capture time the epoch covers.
        not_before: i64,
        /// First capture time the epoch no longer covers.
        not_after: i64,
    },
    /// The destination's parent cannot be created.
    #[error("cannot create {}", dir.display())]
    CreateParent {
        /// The parent directory.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The staging directory cannot be created.
    #[error("cannot create a directory in {}", dir.display())]
    Staging {
        /// The parent directory.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A blob or record cannot be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file (in the staging directory).
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The core refused to seal a segment (or reading the input failed).
    #[error("cannot seal segment {index}")]
    Seal {
        /// The segment.
        index: u32,
        /// The core's error.
        source: obhut_core::Error,
    },
    /// The input was shorter or longer than planned: it changed meanwhile.
    #[error(
        "segment {index}: read {read} bytes, expected {expected}; the input changed while being sealed"
    )]
    InputChanged {
        /// The segment.
        index: u32,
        /// Bytes read.
        read: u64,
        /// Bytes planned.
        expected: u64,
    },
    /// Signing a record failed (a bug: the chain is built in order).
    #[error(transparent)]
    Sign(obhut_core::Error),
    /// The descriptor copy cannot be written.
    #[error("cannot write {}", path.display())]
    GroupCopy {
        /// The copy's path (in the staging directory).
        path: PathBuf,
        /// The failed step.
        source: obhut_durable::Error,
    },
    /// The recording directory's permissions cannot be set.
    #[error("cannot set the permissions of the recording directory")]
    Permissions {
        /// The OS error.
        source: std::io::Error,
    },
    /// The recording directory cannot be fsynced.
    #[error("cannot sync the recording directory")]
    SyncStaging {
        /// The OS error.
        source: std::io::Error,
    },
    /// The empty destination cannot be removed to make way.
    #[error("cannot replace the empty directory {}", out.display())]
    ReplaceEmpty {
        /// The destination.
        out: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The sealed recording cannot be renamed to the destination.
    #[error("cannot move the sealed recording to {}", out.display())]
    Publish {
        /// The destination.
        out: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The destination's parent cannot be fsynced after the rename.
    #[error("cannot sync {}, the parent of the recording directory", dir.display())]
    SyncParent {
        /// The parent directory.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How to cut and date the file.
#[derive(Debug, Clone, Copy)]
pub struct SealOptions {
    /// Plaintext bytes per media segment (1 to 256 TiB).
    pub segment_bytes: u64,
    /// Media duration of the file in ms; segment times are apportioned
    /// linearly by byte offset. `None`: every segment gets 0..0.
    pub duration_ms: Option<u64>,
    /// Capture time of the start of the file, ms since 1970.
    pub captured_at_ms: i64,
}

/// Told about progress while sealing; every method has an empty default.
pub trait SealProgress {
    /// The staging directory exists; `total_bytes` will be read.
    fn start(&mut self, total_bytes: u64) {
        let _ = total_bytes;
    }
    /// `n` more bytes of input were read.
    fn read(&mut self, n: u64) {
        let _ = n;
    }
    /// A segment's blob and record are written.
    fn sealed(&mut self, record: &SegmentRecord) {
        let _ = record;
    }
    /// Every segment is sealed; the directory is being finished.
    fn finished(&mut self) {}
}

/// No progress reports.
impl SealProgress for () {}

/// One planned segment: which bytes, which media time.
#[derive(Debug, Clone, Copy)]
struct Plan {
    len: u64,
    media_start_ms: u64,
    media_end_ms: u64,
}

/// Cut `total` bytes into segments of `seg` (> 0) bytes, apportioning
/// `duration` linearly by byte offset.
fn plan(total: u64, seg: u64, duration: Option<u64>) -> Vec<Plan> {
    let count = total.div_ceil(seg).max(1);
    let d = duration.unwrap_or(0);
    let at = |offset: u64| -> u64 {
        if total == 0 {
            return 0;
        }
        // offset ≤ total, so the quotient is ≤ d and fits in u64.
        (u128::from(offset) * u128::from(d) / u128::from(total)) as u64
    };
    (0..count)
        .map(|i| {
            let start = i * seg;
            let end = (start + seg).min(total);
            Plan {
                len: end - start,
                media_start_ms: at(start),
                media_end_ms: if i + 1 == count { d } else { at(end) },
            }
        })
        .collect()
}

/// The destination must be new or an empty directory. Check it before
/// anything else, so that a mistake costs nothing.
pub fn check_out_dir(out: &Path) -> Result<(), SealError> {
    match fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(SealError::OutNotEmpty {
                    out: out.to_owned(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SealError::OutUnusable {
            out: out.to_owned(),
            source,
        }),
    }
}

/// A file opened and planned for sealing: everything that can be checked
/// before the device key is needed has been checked.
#[derive(Debug)]
pub struct SealJob<'a> {
    group: &'a PinnedGroup,
    epoch: &'a EpochPublic,
    media: File,
    media_len: u64,
    metadata: Option<(File, u64)>,
    plans: Vec<Plan>,
    /// Capture time of each planned media segment.
    captures: Vec<i64>,
    opts: SealOptions,
}

impl<'a> SealJob<'a> {
    /// Open `media` (and the `metadata` sidecar), cut it into segments and
    /// check each segment's capture time lies in `epoch`.
    pub fn prepare(
        group: &'a PinnedGroup,
        epoch: &'a EpochPublic,
        media: &Path,
        metadata: Option<&Path>,
        opts: SealOptions,
    ) -> Result<Self, SealError> {
        if opts.segment_bytes == 0 || opts.segment_bytes > MAX_PLAINTEXT_LEN {
            return Err(SealError::SegmentBytes {
                bytes: opts.segment_bytes,
            });
        }
        let (media, media_len) = open(media, Input::Media)?;
        let metadata = match metadata {
            Some(p) => {
                let (f, len) = open(p, Input::Metadata)?;
                if len > MAX_PLAINTEXT_LEN {
                    return Err(SealError::MetadataTooLarge {
                        path: p.to_owned(),
                        len,
                    });
                }
                Some((f, len))
            }
            None => None,
        };
        let plans = plan(media_len, opts.segment_bytes, opts.duration_ms);
        let count = plans.len() + usize::from(metadata.is_some());
        if u32::try_from(count).is_err() {
            return Err(SealError::TooManySegments { count });
        }
        let mut captures = Vec::with_capacity(plans.len());
        for (index, p) in plans.iter().enumerate() {
            let t = i64::try_from(p.media_start_ms)
                .ok()
                .and_then(|m| opts.captured_at_ms.checked_add(m))
                .ok_or(SealError::CaptureOutOfRange)?;
            if t < epoch.not_before || t >= epoch.not_after {
                return Err(SealError::OutsideEpoch {
                    index,
                    captured_at_ms: t,
                    class: epoch.retention_class.clone(),
                    not_before: epoch.not_before,
                    not_after: epoch.not_after,
                });
            }
            captures.push(t);
        }
        Ok(SealJob {
            group,
            epoch,
            media,
            media_len,
            metadata,
            plans,
            captures,
            opts,
        })
    }

    /// Bytes of the media file.
    pub fn media_bytes(&self) -> u64 {
        self.media_len
    }

    /// Bytes to read in all: media and metadata.
    pub fn total_bytes(&self) -> u64 {
        self.media_len + self.metadata.as_ref().map_or(0, |m| m.1)
    }

    /// Segments the recording will have (media, then metadata).
    pub fn segment_count(&self) -> usize {
        self.plans.len() + usize::from(self.metadata.is_some())
    }

    /// Seal every segment with `device` into a new recording directory at
    /// `out` (checked with [`check_out_dir`] beforehand), in the order of
    /// the module docs. Returns the new recording's id.
    pub fn seal_into(
        mut self,
        device: &SignKey,
        out: &Path,
        progress: &mut dyn SealProgress,
    ) -> Result<RecordingId, SealError> {
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|source| SealError::CreateParent {
            dir: parent.clone(),
            source,
        })?;
        let staging = tempfile::Builder::new()
            .prefix(".obhut-seal-")
            .tempdir_in(&parent)
            .map_err(|source| SealError::Staging {
                dir: parent.clone(),
                source,
            })?;
        let recording_id = RecordingId::random(&mut os_rng());
        let mut writer = Writer {
            inner: RecordingSealer::new(device, self.group, self.epoch, recording_id),
            dir: staging.path(),
        };
        progress.start(self.total_bytes());
        let media_count = self.plans.len();
        for (i, (p, capture)) in self.plans.iter().zip(&self.captures).enumerate() {
            let is_final = i + 1 == media_count && self.metadata.is_none();
            let reader = Counting {
                inner: (&mut self.media).take(p.len),
                progress: &mut *progress,
            };
            let rec = writer.seal(SegmentKind::Media, p, *capture, reader, is_final)?;
            progress.sealed(&rec);
        }
        if let Some((f, len)) = self.metadata.take() {
            let p = Plan {
                len,
                media_start_ms: 0,
                media_end_ms: self.opts.duration_ms.unwrap_or(0),
            };
            let reader = Counting {
                inner: f,
                progress: &mut *progress,
            };
            let rec = writer.seal(
                SegmentKind::Metadata,
                &p,
                self.opts.captured_at_ms,
                reader,
                true,
            )?;
            progress.sealed(&rec);
        }
        progress.finished();
        write_group_copy(staging.path(), self.group)?;
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(staging.path(), fs::Permissions::from_mode(0o755))
                .map_err(|source| SealError::Permissions { source })?;
        }
        obhut_durable::sync_dir(staging.path())
            .map_err(|e| SealError::SyncStaging { source: e.source })?;
        if out.is_dir() {
            // Checked empty beforehand; an empty directory can be replaced.
            fs::remove_dir(out).map_err(|source| SealError::ReplaceEmpty {
                out: out.to_owned(),
                source,
            })?;
        }
        let staged = staging.keep();
        if let Err(source) = fs::rename(&staged, out) {
            let _ = fs::remove_dir_all(&staged);
            return Err(SealError::Publish {
                out: out.to_owned(),
                source,
            });
        }
        obhut_durable::sync_dir(&parent).map_err(|e| SealError::SyncParent {
            dir: parent,
            source: e.source,
        })?;
        Ok(recording_id)
    }
}

/// Open an input and read its length.
fn open(path: &Path, input: Input) -> Result<(File, u64), SealError> {
    let f = File::open(path).map_err(|source| SealError::Open {
        input,
        path: path.to_owned(),
        source,
    })?;
    let len = f
        .metadata()
        .map_err(|source| SealError::Stat {
            input,
            path: path.to_owned(),
            source,
        })?
        .len();
    Ok((f, len))
}

/// The descriptor copy, written as the CLI writes a public output: a
/// temporary file made exactly 0644, fsynced, renamed without clobbering.
fn write_group_copy(dir: &Path, group: &PinnedGroup) -> Result<(), SealError> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(GROUP_COPY);
    let failed = |source| SealError::GroupCopy {
        path: path.clone(),
        source,
    };
    let mut tmp = obhut_durable::Staged::beside(&path, 0o600).map_err(failed)?;
    tmp.write_all(&group.to_bytes()).map_err(failed)?;
    // Exactly these bits, whatever the umask.
    if let Err(source) = tmp
        .file()
        .set_permissions(fs::Permissions::from_mode(0o644))
    {
        return Err(failed(obhut_durable::Error {
            step: obhut_durable::Step::Write,
            path: tmp.path().to_owned(),
            source,
        }));
    }
    tmp.sync()
        .and_then(|s| s.publish_new(&path))
        .map_err(failed)
}

/// A reader that reports what it reads.
struct Counting<'p, R> {
    inner: R,
    progress: &'p mut dyn SealProgress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.read(n as u64);
        Ok(n)
    }
}

/// Writes each sealed segment as a blob and a record file in `dir`.
struct Writer<'a> {
    inner: RecordingSealer<'a>,
    dir: &'a Path,
}

impl Writer<'_> {
    /// Seal the next segment (docs/format.md §6.4; the core draws fresh r
    /// and b and zeroizes every per-segment secret), write its blob, check
    /// the length read, then sign and write its record. Blob before record.
    fn seal(
        &mut self,
        kind: SegmentKind,
        p: &Plan,
        capture_utc_ms: i64,
        reader: impl Read,
        is_final: bool,
    ) -> Result<SegmentRecord, SealError> {
        let index = self.inner.next_index();
        let spec = SegmentSpec {
            kind,
            media_start_ms: p.media_start_ms,
            media_end_ms: p.media_end_ms,
            capture_utc_ms,
            is_final,
        };
        let blob_path = self.dir.join(blob_name(index));
        let blob = File::create_new(&blob_path).map_err(write_error(&blob_path))?;
        let mut w = BufWriter::with_capacity(1 << 20, blob);
        let sealed = self
            .inner
            .seal_at(
                index,
                spec,
                PlaintextReader::new(reader),
                &mut w,
                &mut os_rng(),
            )
            .map_err(|source| SealError::Seal { index, source })?;
        let blob = w
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(write_error(&blob_path))?;
        blob.sync_all().map_err(write_error(&blob_path))?;
        if sealed.plaintext_len != p.len {
            return Err(SealError::InputChanged {
                index,
                read: sealed.plaintext_len,
                expected: p.len,
            });
        }
        let rec = self
            .inner
            .sign_next(&sealed, is_final)
            .map_err(SealError::Sign)?;
        let rec_path = self.dir.join(record_name(index));
        let mut f = File::create_new(&rec_path).map_err(write_error(&rec_path))?;
        f.write_all(&rec.to_bytes())
            .and_then(|()| f.sync_all())
            .map_err(write_error(&rec_path))?;
        Ok(rec)
    }
}

/// A [`SealError::Write`] for `path`.
fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> SealError {
    let path = path.to_owned();
    move |source| SealError::Write { path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_the_file_and_the_duration() {
        let p = plan(10, 4, Some(1000));
        assert_eq!(p.iter().map(|p| p.len).collect::<Vec<_>>(), [4, 4, 2]);
        assert_eq!(p[0].media_start_ms, 0);
        assert_eq!(p[0].media_end_ms, 400);
        assert_eq!(p[1].media_start_ms, 400);
        assert_eq!(p[2].media_end_ms, 1000);
        for w in p.windows(2) {
            assert_eq!(w[0].media_end_ms, w[1].media_start_ms);
        }
        let empty = plan(0, 4, None);
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].len, 0);
        assert_eq!((empty[0].media_start_ms, empty[0].media_end_ms), (0, 0));
        assert_eq!(plan(8, 4, None).len(), 2);
    }
}
