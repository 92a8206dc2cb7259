//! `obhut unseal`: the requester's last step. Combine k custodians'
//! partials into each segment's custody part `a`, open the vault's release
//! for the epoch part `b`, and decrypt the segments in scope
//! (docs/format.md §8.4, §5.1, §6).

use std::path::{Path, PathBuf};

use obhut_client::assemble::{self, Layout, Progress};
use obhut_client::scope::{Resolved, is_media};
use obhut_core::Error;
use obhut_core::access::GrantKeys;
use obhut_core::epoch::EpochRelease;
use obhut_core::error::SegmentFailure;
use obhut_core::partial::PartialEnvelope;
use obhut_core::record::SegmentRecord;
use obhut_core::request::GrantRef;

use crate::util::files::{self, Mode, Output};
use crate::util::hint::{fail, with_hint};
use crate::util::recording;
use crate::util::request::parse_range;
use crate::util::{Global, keys, load, progress};

/// Open the segments a request covers (the requester's role).
#[derive(Debug, clap::Args)]
#[command(long_about = "\
As the requester: combine the partials of at least k custodians with the
vault's release, and decrypt the segments of --recording that your request
covers. Each partial is checked (custodian's signature, grant, requester,
segments, Chaum–Pedersen proof) and each segment key against the key
commitment in its header before anything is decrypted; each blob's hash
is checked against its signed record.

Media segments are written to --out in order: for a request covering the
whole recording, --out is byte-identical to the sealed file. A metadata
segment in scope goes to --metadata-out (default: OUT.metadata). Segments
outside the request stay sealed. Nothing is written unless everything opens.

--range START-END decrypts only bytes [START, END) of the recording (offsets
into the original file; END may be omitted for \"to the end\"), reading only
the 64 KiB chunks that cover it; the range must lie in segments in scope.

Example:
  obhut unseal --identity req.key --group custody/group.obgd --request req.obar \\
      --recording rec/ --partial p-1.obpe --partial p-2.obpe --release release.ober --out clip.mp4")]
pub struct Args {
    /// Your locked identity: the one that signed the request.
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// The custody group descriptor (must be pinned).
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
    /// Your access request.
    #[arg(long, value_name = "FILE")]
    request: PathBuf,
    /// The recording's directory (as written by `obhut seal`).
    #[arg(long, value_name = "DIR")]
    recording: PathBuf,
    /// A custodian's partial (from `obhut partial`); repeat, k are needed.
    #[arg(long = "partial", value_name = "FILE", required = true)]
    partials: Vec<PathBuf>,
    /// The vault's release (from `obhut release`).
    #[arg(long, value_name = "FILE")]
    release: PathBuf,
    /// The request's position in the audit log (as used for the partials).
    #[arg(long, value_name = "N", default_value_t = 0)]
    log_index: u64,
    /// Where to write the opened media.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Where to write the opened metadata segment, if in scope.
    #[arg(long, value_name = "FILE")]
    metadata_out: Option<PathBuf>,
    /// Only bytes START..END (END exclusive) of the recording's media.
    #[arg(long, value_name = "START-END", value_parser = parse_range)]
    range: Option<(u64, Option<u64>)>,
}

use crate::util::hint::BLOB_DAMAGED as DAMAGED;

/// A core error from opening the segment in `path`, with the next step.
fn open_error(e: Error, path: &Path) -> anyhow::Error {
    let (message, next) = match &e {
        Error::Segment {
            segment,
            failure: SegmentFailure::KeyCommitment,
        } => (
            format!("cannot open {segment}"),
            "the partials or the release do not belong to this segment (or its header was altered); run `obhut verify` on --recording",
        ),
        Error::Segment {
            segment,
            failure: SegmentFailure::NoKey,
        } => (
            format!("cannot open {segment}"),
            "the --partial and --release files were made for another request or recording",
        ),
        _ => (format!("cannot decrypt {}", path.display()), DAMAGED),
    };
    with_hint(e, message, next)
}

/// The progress bar, and a line per segment with `-v`.
struct Bar<'g>(&'g Global, indicatif::ProgressBar);

impl Progress for Bar<'_> {
    fn bytes(&mut self, n: u64) {
        self.1.inc(n);
    }
    fn opened(&mut self, r: &SegmentRecord) {
        self.1
            .suspend(|| self.0.detail(format!("opened {}", recording::describe(r))));
    }
}

/// A core error from combining the partials and opening the release, with
/// the file to change.
fn recover_error(e: Error, a: &Args) -> anyhow::Error {
    let release_next = || {
        format!(
            "the release must be made for this request and --log-index {} (`obhut release --request {} --log-index {}`)",
            a.log_index,
            a.request.display(),
            a.log_index
        )
    };
    let combine = "cannot combine the partials";
    let (message, next) = match &e {
        Error::NotEnoughPartials { rejected, .. } if !rejected.is_empty() => (
            combine.to_owned(),
            format!(
                "leave out the --partial files named above, or ask those custodians to run `obhut partial` again for this request (same --log-index {})",
                a.log_index
            ),
        ),
        Error::NotEnoughPartials { needed, have, .. } => (
            combine.to_owned(),
            format!(
                "ask {} more custodian(s) for a partial and pass each with --partial",
                needed.saturating_sub(*have)
            ),
        ),
        // The release is opened after the partials combined: these come from
        // it (made for another grant or requester, or it does not decrypt).
        Error::Malformed { .. } | Error::DecryptionFailed { .. } => (
            format!("cannot open the release {}", a.release.display()),
            release_next(),
        ),
        Error::Segment {
            segment,
            failure: SegmentFailure::NoKey,
        } => (
            format!(
                "the release {} has no epoch part for {segment}",
                a.release.display()
            ),
            release_next(),
        ),
        _ => (
            combine.to_owned(),
            "check --partial, --request and --group".to_owned(),
        ),
    };
    with_hint(e, message, next)
}

/// Run `obhut unseal`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    files::check_new(&a.out, "--out", g.force)?;
    let group = load::pinned_group(&a.group, "--group")?;
    let request = load::request(&a.request)?;
    load::check_request_group(&request, &group)?;
    let rec = recording::load(&a.recording, "--recording", Some(&group.group_key()))?;
    let in_scope = recording::in_scope(&rec, &request, "--recording")?;
    let has_metadata = in_scope.iter().any(|r| !is_media(r)) && a.range.is_none();
    let metadata_out = a.metadata_out.clone().unwrap_or_else(|| {
        let mut s = a.out.as_os_str().to_owned();
        s.push(".metadata");
        PathBuf::from(s)
    });
    if has_metadata {
        files::check_new(&metadata_out, "--metadata-out", g.force)?;
    }

    let resolved = Resolved::new(rec.summary.recording_id, rec.records.clone(), &request);
    let total = match a.range {
        Some((start, end)) => assemble::check_range(&resolved, start, end)?
            .iter()
            .map(|(_, s, e)| e - s)
            .sum(),
        None => in_scope
            .iter()
            .filter(|r| is_media(r))
            .map(|r| r.plaintext_len())
            .sum(),
    };

    // Count distinct custodians before asking for a passphrase.
    let mut envelopes = Vec::with_capacity(a.partials.len());
    for p in &a.partials {
        envelopes.push(files::parse(
            p,
            "--partial",
            "a custodian's partial (p-<i>.obpe from `obhut partial`)",
            PartialEnvelope::from_bytes,
        )?);
    }
    let mut custodians: Vec<u16> = envelopes.iter().map(|e| e.custodian).collect();
    custodians.sort_unstable();
    custodians.dedup();
    let k = group.threshold();
    if custodians.len() < usize::from(k) {
        return Err(fail(
            format!(
                "need partials from {k} distinct custodians, have {} (custodian {})",
                custodians.len(),
                custodians
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "ask {} more custodian(s) to run `obhut partial` for this request, and pass each file with --partial",
                usize::from(k) - custodians.len()
            ),
        ));
    }
    let release = files::parse(
        &a.release,
        "--release",
        "the vault's release (release.ober from `obhut release`)",
        EpochRelease::from_bytes,
    )?;

    let me = keys::person(g, &a.identity, "--identity")?;
    if me.public().fingerprint() != request.requester_fingerprint() {
        return Err(fail(
            format!(
                "the request was signed by {}, --identity is {}",
                request.requester_fingerprint(),
                me.public().fingerprint()
            ),
            "unseal with the identity that signed the request: partials and releases are encrypted to it only",
        ));
    }
    let grant = GrantRef::new(a.log_index, &request);
    let keys = GrantKeys::recover(
        &group, &request, &grant, &in_scope, &envelopes, &release, &me,
    )
    .map_err(|e| recover_error(e, a))?;
    drop(me);

    let mut bar = Bar(g, progress::bytes(g, total, "opening"));
    let mut out = Output::create(&a.out, "--out", g.force, Mode::Private)?;
    let mut meta_out = if has_metadata {
        Some(Output::create(
            &metadata_out,
            "--metadata-out",
            g.force,
            Mode::Private,
        )?)
    } else {
        None
    };
    let blobs = &mut rec.blobs();
    let done = match a.range {
        None => assemble::assemble(
            &keys,
            &resolved,
            Layout::Packed,
            blobs,
            out.file(),
            meta_out
                .as_mut()
                .map(|m| m.file() as &mut dyn std::io::Write),
            &mut bar,
        ),
        Some((start, end)) => {
            assemble::assemble_range(&keys, &resolved, start, end, blobs, out.file(), &mut bar)
        }
    }
    .map_err(|e| match e {
        obhut_client::Error::Segment { segment, source } => {
            open_error(source, &rec.blob_path(segment.index))
        }
        obhut_client::Error::Write(e) => with_hint(
            e,
            format!("cannot write {}", a.out.display()),
            "check --out",
        ),
        e => e.into(),
    })?;
    bar.1.finish_and_clear();
    out.commit()?;
    if let Some(m) = meta_out {
        m.commit()?;
    }
    let opened = done.media_segments;
    let sealed = rec.records.len() - in_scope.len();
    g.note(format!(
        "opened {opened} segment(s), {total} bytes, to {}{}; {sealed} segment(s) outside the request stay sealed",
        a.out.display(),
        if has_metadata {
            format!(", metadata to {}", metadata_out.display())
        } else {
            String::new()
        }
    ));
    Ok(())
}
