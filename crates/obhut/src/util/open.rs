//! Writing a released grant into `--out` (`obhut open`, the demo) through
//! `obhut_client::open::Grant::write_to_dir`, with a progress bar and
//! errors that name the flag.

use std::path::Path;

use obhut_client::Error as ClientErr;
use obhut_client::access::AccessClient;
use obhut_client::assemble::Progress;
use obhut_client::clip::FileLayout;
use obhut_client::log::LogClient;
use obhut_client::open::{Grant, OpenAs, Opened};
use obhut_core::record::SegmentRecord;

use super::files;
use super::hint::with_hint;
use super::{Global, progress};

/// The progress bar, told of bytes written.
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn bytes(&mut self, n: u64) {
        self.0.inc(n);
    }
}

/// Decrypt `grant`'s scope (or bytes `range` of its one recording) into
/// `dir`, then report it opened and prove the report logged.
pub fn write_grant(
    g: &Global,
    client: &AccessClient<'_>,
    log: &LogClient,
    grant: &Grant,
    dir: &Path,
    range: Option<(u64, Option<u64>)>,
    layout: FileLayout,
) -> anyhow::Result<Opened> {
    let what = match range {
        Some((start, end)) => OpenAs::Range(start, end),
        None => OpenAs::Files(layout),
    };
    let total: u64 = grant.covered().map(SegmentRecord::plaintext_len).sum();
    let mut bar = Bar(progress::bytes(g, total, "opening"));
    let opened = grant
        .write_to_dir(client, log, dir, what, g.force, &mut bar)
        .map_err(|e| match e {
            ClientErr::OutputDir { dir, source } => with_hint(
                source,
                format!("cannot create {}", dir.display()),
                "pass another --out",
            ),
            ClientErr::OutputExists { path } => files::exists_error(&path, "--out"),
            ClientErr::Output { path, source } => files::durable_error(source, &path, "--out"),
            e => e.into(),
        })?;
    bar.0.finish_and_clear();
    Ok(opened)
}
