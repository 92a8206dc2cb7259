//! `obhut release`: the vault's role, offline. Unwrap the epoch part `b` of
//! each segment in the request's scope with the retention-epoch secret, and
//! encrypt it to the requester's key from the signed request
//! (docs/format.md §8.5).

use std::path::PathBuf;

use obhut_core::epoch::{EpochRelease, ReleaseEntry};
use obhut_core::request::AccessRequest;
use obhut_core::rng::os_rng;

use crate::cmd::request::REQUEST_FILE;
use crate::util::files::{self, Mode};
use crate::util::hint::{HintExt, fail};
use crate::util::recording::Recording;
use crate::util::{Global, keys, load, time};

/// Release the epoch part of the segments in scope (the vault's role).
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Play the vault, offline: for each segment of --recording that the signed
request covers, unwrap the segment's epoch part with the retention-epoch
secret and encrypt it to the requester's key from the request. The segments
are taken from the device-signed records (signatures and chain checked); the
request's signature and expiry are checked. With --group, each capsule's
validity proof is checked too.

The vault releases only for a grant that is logged and approved by k
custodians; offline there is no log, so that check is yours. --log-index must
match the one used for the partials (default 0).

Example:
  obhut release --epoch epoch.key --request req.obar --recording rec/ --out release.ober")]
pub struct Args {
    /// The locked retention-epoch secret (from `obhut keygen epoch`).
    #[arg(long, value_name = "KEY")]
    epoch: PathBuf,
    /// The access request.
    #[arg(long, value_name = "FILE")]
    request: PathBuf,
    /// The recording's directory (as written by `obhut seal`).
    #[arg(long, value_name = "DIR")]
    recording: PathBuf,
    /// Also check every capsule's proof against this pinned group descriptor.
    #[arg(long, value_name = "FILE")]
    group: Option<PathBuf>,
    /// The request's position in the audit log.
    #[arg(long, value_name = "N", default_value_t = 0)]
    log_index: u64,
    /// Where to write the release (only the requester can open it).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Run `obhut release`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    files::check_new(&a.out, "--out", g.force)?;
    let request = files::parse(
        &a.request,
        "--request",
        REQUEST_FILE,
        AccessRequest::from_bytes,
    )?;
    if request.is_expired(time::now_ms()) {
        return Err(fail(
            format!(
                "the request expired at {}",
                time::show(request.expires_utc_ms)
            ),
            "ask the requester for a new request",
        ));
    }
    let group_key = match &a.group {
        Some(p) => {
            let group = load::pinned_group(p, "--group")?;
            if request.group_id != group.group_id() || request.generation != group.generation() {
                return Err(fail(
                    format!(
                        "the request is for custody group {}, --group is {}",
                        request.group_id,
                        group.group_id()
                    ),
                    "pass the group descriptor the request names as --group",
                ));
            }
            Some(group.group_key())
        }
        None => None,
    };
    let rec = Recording::load(&a.recording, "--recording", group_key.as_ref())?;
    let in_scope = rec.in_scope(&request);
    if in_scope.is_empty() {
        return Err(fail(
            format!(
                "the request covers no segment of recording {} in {}",
                rec.summary.recording_id,
                a.recording.display()
            ),
            "check --recording is the recording the request names",
        ));
    }
    let epoch = keys::epoch(g, &a.epoch, "--epoch")?;
    let request_hash = request.request_hash();
    let mut rng = os_rng();
    let mut entries = Vec::with_capacity(in_scope.len());
    for r in &in_scope {
        let f = &r.header().fields;
        let segment = r.segment_ref();
        if f.epoch_wrap.epoch_id != epoch.epoch_id {
            return Err(fail(
                format!(
                    "{segment} is wrapped to epoch {}, but --epoch is epoch {}",
                    f.epoch_wrap.epoch_id, epoch.epoch_id
                ),
                "pass the epoch key of the period the segment was captured in",
            ));
        }
        let b = epoch
            .unwrap(
                &f.epoch_wrap,
                f.recording_id,
                &f.device_key,
                f.segment_index,
            )
            .hint(
                format!("cannot unwrap the epoch part of {segment}"),
                "the segment's epoch wrap is damaged, or --epoch is not the key it was wrapped to",
            )?;
        entries.push(ReleaseEntry::seal(
            &b,
            segment,
            &request_hash,
            request.requester_kem(),
            &mut rng,
        ));
    }
    drop(epoch);
    let release = EpochRelease {
        grant_log_index: a.log_index,
        request_hash,
        requester_fpr: request.requester_fingerprint(),
        entries,
    };
    files::write(&a.out, &release.to_bytes(), "--out", g.force, Mode::Public)?;
    g.note(format!(
        "released the epoch part of {} of {} segment(s) of recording {} to requester {}; wrote {}",
        in_scope.len(),
        rec.records.len(),
        rec.summary.recording_id,
        request.requester_fingerprint(),
        a.out.display()
    ));
    Ok(())
}
