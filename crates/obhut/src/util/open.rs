//! Writing a released grant into a directory (`obhut open`, the demo):
//! DIR/<recording>.media laid out like the original, DIR/<recording>.metadata
//! for a metadata segment in scope, or DIR/<recording>.range for a
//! `--range`; each file private and whole or not at all. The opening is
//! reported to the vault (logged) once everything is written.

use std::path::Path;

use obhut_client::access::AccessClient;
use obhut_client::assemble::Progress;
use obhut_client::open::Grant;
use obhut_core::record::SegmentRecord;

use super::files::{Mode, Output};
use super::hint::HintExt;
use super::{Global, progress};

/// What [`write_grant`] did.
#[derive(Debug)]
pub struct Opened {
    /// Segments decrypted.
    pub opened: u32,
    /// Log index of the `opened` report.
    pub opened_entry: u64,
}

/// The progress bar, told of bytes written.
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn bytes(&mut self, n: u64) {
        self.0.inc(n);
    }
}

/// Decrypt `grant`'s scope (or bytes `range` of its one recording) into
/// `dir`, then report it opened.
pub fn write_grant(
    g: &Global,
    client: &AccessClient<'_>,
    grant: &Grant,
    dir: &Path,
    range: Option<(u64, Option<u64>)>,
) -> anyhow::Result<Opened> {
    std::fs::create_dir_all(dir).hint(
        format!("cannot create {}", dir.display()),
        "pass another --out",
    )?;
    let total: u64 = grant.covered().map(SegmentRecord::plaintext_len).sum();
    let mut bar = Bar(progress::bytes(g, total, "opening"));
    let mut opened = 0u32;
    match range {
        Some((start, end)) => {
            let [one] = &grant.resolved[..] else {
                return Err(obhut_client::Error::RangeNeedsOneRecording.into());
            };
            let path = dir.join(format!("{}.range", one.recording));
            let mut out = Output::create(&path, "--out", g.force, Mode::Private)?;
            opened = grant.open_range(client, start, end, out.file())?.segments();
            out.commit()?;
        }
        None => {
            for rec in &grant.resolved {
                let mut media = Output::create(
                    &dir.join(format!("{}.media", rec.recording)),
                    "--out",
                    g.force,
                    Mode::Private,
                )?;
                let mut metadata = if rec.covers_metadata() {
                    Some(Output::create(
                        &dir.join(format!("{}.metadata", rec.recording)),
                        "--out",
                        g.force,
                        Mode::Private,
                    )?)
                } else {
                    None
                };
                let done = grant.open_recording(
                    client,
                    rec,
                    media.file(),
                    metadata
                        .as_mut()
                        .map(|m| m.file() as &mut dyn std::io::Write),
                    &mut bar,
                )?;
                opened += done.segments();
                media.commit()?;
                if let Some(m) = metadata {
                    m.commit()?;
                }
            }
        }
    }
    bar.0.finish_and_clear();
    let logged = grant.report_opened(client, opened)?;
    Ok(Opened {
        opened,
        opened_entry: logged.log_index,
    })
}
