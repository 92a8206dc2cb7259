//! A recording directory named on the command line (`obhut verify`): the
//! client's [`obhut_client::recording_dir`] errors naming the flag, and a
//! segment described for people.

use obhut_client::recording_dir::{DirError, kind_name};
use obhut_core::record::SegmentRecord;

pub use obhut_client::recording_dir::{GROUP_COPY, blob_name, record_name};

use super::hint::{fail, with_hint};
use super::time;

/// A recording directory's error, naming `flag` and the next step.
pub fn dir_error(e: DirError, flag: &str) -> anyhow::Error {
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
