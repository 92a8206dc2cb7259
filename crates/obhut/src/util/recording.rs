//! A recording on disk, as `obhut seal` writes it
//! (`obhut_agent::seal_dir`): one directory holding `NNNNNN.seg` (the
//! sealed blob of segment N) and `NNNNNN.rec` (its device-signed record)
//! for every segment, plus `group.obgd`, a copy of the descriptor the
//! device sealed to.

use std::fs;
use std::path::{Path, PathBuf};

use obhut_core::access;
use obhut_core::chain::{self, ChainSummary};
use obhut_core::kem::GroupKey;
use obhut_core::record::SegmentRecord;
use obhut_core::request::AccessRequest;
use obhut_core::segment::SegmentKind;

use super::files;
use super::hint::{HintExt, fail};
use super::time;

// The directory's names are the writer's (`obhut_agent::seal_dir`).
pub use obhut_agent::seal_dir::{GROUP_COPY, blob_name, index_of, record_name};

/// The `.rec` files of a directory, by the index in their name, sorted.
pub fn record_files(dir: &Path, flag: &str) -> anyhow::Result<Vec<(u32, PathBuf)>> {
    let entries = fs::read_dir(dir).hint(
        format!(
            "cannot read the recording directory {} (given as {flag})",
            dir.display()
        ),
        format!("{flag} takes the directory written by `obhut seal --out DIR`"),
    )?;
    let mut out = Vec::new();
    for e in entries {
        let e = e.hint(
            format!("cannot read the recording directory {}", dir.display()),
            format!("check {flag}"),
        )?;
        let name = e.file_name();
        if let Some(i) = name.to_str().and_then(|n| index_of(n, "rec")) {
            out.push((i, e.path()));
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(fail(
            format!(
                "{} (given as {flag}) holds no segment records (*.rec)",
                dir.display()
            ),
            format!("{flag} takes the directory written by `obhut seal --out DIR`"),
        ));
    }
    Ok(out)
}

/// A recording whose records all carry valid device signatures and form a
/// complete chain (docs/format.md §7.2); with a group key, every capsule's
/// validity proof was checked too.
#[derive(Debug)]
pub struct Recording {
    /// The directory.
    pub dir: PathBuf,
    /// Records in segment order (index = position).
    pub records: Vec<SegmentRecord>,
    /// What the chain establishes.
    pub summary: ChainSummary,
}

impl Recording {
    /// Load and verify. `group`: check the capsule proofs against it.
    pub fn load(dir: &Path, flag: &str, group: Option<&GroupKey>) -> anyhow::Result<Self> {
        let next = format!(
            "the recording in {} is damaged or altered; run `obhut verify {}` for a per-segment report",
            dir.display(),
            dir.display()
        );
        let mut records = Vec::new();
        for (i, path) in record_files(dir, flag)? {
            let bytes = files::read(&path, flag)?;
            let rec = SegmentRecord::from_bytes(&bytes)
                .hint(format!("segment record {}", path.display()), &next)?;
            if rec.segment_ref().index != i {
                return Err(fail(
                    format!(
                        "{} holds the record of segment {}, not {i}",
                        path.display(),
                        rec.segment_ref().index
                    ),
                    &next,
                ));
            }
            records.push(rec);
        }
        let summary = match group {
            Some(g) => chain::verify_chain(&records, std::slice::from_ref(g)),
            None => chain::verify_chain_structure(&records),
        }
        .hint(format!("recording in {}", dir.display()), &next)?;
        Ok(Recording {
            dir: dir.to_owned(),
            records,
            summary,
        })
    }

    /// Path of segment `index`'s blob.
    pub fn blob_path(&self, index: u32) -> PathBuf {
        self.dir.join(blob_name(index))
    }

    /// The records `request` covers (docs/format.md §8.1, the core's
    /// [`access::records_in_scope`]), in order; an error with the next step
    /// if it covers none. `flag` is the option that named the directory.
    pub fn in_scope(
        &self,
        request: &AccessRequest,
        flag: &str,
    ) -> anyhow::Result<Vec<&SegmentRecord>> {
        let in_scope = access::records_in_scope(request, &self.records);
        if in_scope.is_empty() {
            return Err(fail(
                format!(
                    "the request covers no segment of recording {} in {}",
                    self.summary.recording_id,
                    self.dir.display()
                ),
                format!(
                    "check {flag} is the recording the request names (segments sealed without --duration-ms have media time 0..0 and are covered only by a range that starts at 0)"
                ),
            ));
        }
        Ok(in_scope)
    }
}

/// A segment kind for people.
pub fn kind_name(kind: SegmentKind) -> &'static str {
    match kind {
        SegmentKind::Media => "media",
        SegmentKind::ContainerIndex => "index",
        SegmentKind::Metadata => "metadata",
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
