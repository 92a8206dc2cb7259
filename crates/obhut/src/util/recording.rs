//! A recording directory named on the command line: the client's offline
//! [`obhut_client::recording_dir`] with errors that name the flag, and a
//! segment described for people.

use std::path::Path;

use obhut_client::recording_dir::{DirError, Recording, kind_name};
use obhut_core::kem::GroupKey;
use obhut_core::record::SegmentRecord;
use obhut_core::request::AccessRequest;

pub use obhut_client::recording_dir::{GROUP_COPY, blob_name, record_name};

use super::files;
use super::hint::{fail, with_hint};
use super::time;

/// Load and verify the recording in `dir` (given as `flag`). `group`: check
/// the capsule proofs against it.
pub fn load(dir: &Path, flag: &str, group: Option<&GroupKey>) -> anyhow::Result<Recording> {
    Recording::load(dir, group).map_err(|e| dir_error(e, dir, flag))
}

/// The records `request` covers, in order; an error with the next step if
/// it covers none. `flag` is the option that named the directory.
pub fn in_scope<'r>(
    rec: &'r Recording,
    request: &AccessRequest,
    flag: &str,
) -> anyhow::Result<Vec<&'r SegmentRecord>> {
    rec.in_scope(request)
        .map_err(|e| dir_error(e, &rec.dir, flag))
}

/// A recording directory's error, naming `flag` and the next step.
pub fn dir_error(e: DirError, dir: &Path, flag: &str) -> anyhow::Error {
    let damaged = || {
        format!(
            "the recording in {} is damaged or altered; run `obhut verify {}` for a per-segment report",
            dir.display(),
            dir.display()
        )
    };
    let seal_dir = || format!("{flag} takes the directory written by `obhut seal --out DIR`");
    match e {
        DirError::List { dir, source } => with_hint(
            source,
            format!(
                "cannot read the recording directory {} (given as {flag})",
                dir.display()
            ),
            seal_dir(),
        ),
        DirError::Entry { dir, source } => with_hint(
            source,
            format!("cannot read the recording directory {}", dir.display()),
            format!("check {flag}"),
        ),
        DirError::NoRecords { dir } => fail(
            format!(
                "{} (given as {flag}) holds no segment records (*.rec)",
                dir.display()
            ),
            seal_dir(),
        ),
        DirError::Scan { dir, source } => with_hint(
            source,
            format!("cannot read {}", dir.display()),
            format!("check {flag}"),
        ),
        DirError::Read(e) => files::read_error(e, flag),
        DirError::Record { path, source } => with_hint(
            source,
            format!("segment record {}", path.display()),
            damaged(),
        ),
        DirError::Misnamed {
            path,
            holds,
            expected,
        } => fail(
            format!(
                "{} holds the record of segment {holds}, not {expected}",
                path.display()
            ),
            damaged(),
        ),
        DirError::Chain { dir, source } => {
            with_hint(source, format!("recording in {}", dir.display()), damaged())
        }
        DirError::NotInScope { recording_id, dir } => fail(
            format!(
                "the request covers no segment of recording {recording_id} in {}",
                dir.display()
            ),
            format!(
                "check {flag} is the recording the request names (segments sealed without --duration-ms have media time 0..0 and are covered only by a range that starts at 0)"
            ),
        ),
        other => other.into(),
    }
}

/// One line describing a segment: index, kind, media time, size.
pub fn describe(rec: &SegmentRecord) -> String {
    let f = &rec.header().fields;
    format!(
        "segment {:>4}  {:<8}  {}–{}  {:>10} bytes",
        f.segment_index,
        kind_name(f.kind),
        time::show_media(f.media_start_ms),
        time::show_media(f.media_end_ms),
        rec.plaintext_len()
    )
}
