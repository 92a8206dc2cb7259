//! `obhut release`: the vault's role, offline. Unwrap the epoch part `b` of
//! each segment in the request's scope with the retention-epoch secret, and
//! encrypt it to the requester's key from the signed request
//! (docs/format.md §8.5).

use std::path::PathBuf;

use obhut_core::access;
use obhut_core::epoch::MAX_RELEASE_ENTRIES;
use obhut_core::error::{Error, RefusalReason, SegmentFailure};
use obhut_core::request::GrantRef;
use obhut_core::rng::os_rng;

use crate::util::files::{self, Mode};
use crate::util::hint::{fail, with_hint};
use crate::util::recording;
use crate::util::request::expired;
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
    let request = load::request(&a.request)?;
    if request.is_expired(time::now_ms()) {
        return Err(expired(&request));
    }
    let group_key = match &a.group {
        Some(p) => {
            let group = load::pinned_group(p, "--group")?;
            load::check_request_group(&request, &group)?;
            Some(group.group_key())
        }
        None => None,
    };
    let rec = recording::load(&a.recording, "--recording", group_key.as_ref())?;
    let in_scope = recording::in_scope(&rec, &request, "--recording")?;
    let epoch = keys::epoch(g, &a.epoch, "--epoch")?;
    let grant = GrantRef::new(a.log_index, &request);
    let release = access::release_for_grant(
        |id| (id == epoch.epoch_id).then_some(&epoch),
        &request,
        &grant,
        &in_scope,
        time::now_ms(),
        &mut os_rng(),
    )
    .map_err(|e| match e {
        Error::Refused(RefusalReason::Expired) => expired(&request),
        Error::Segment {
            segment,
            failure: SegmentFailure::NoKey,
        } => {
            // Only a segment wrapped to another epoch than --epoch has no key.
            let wrapped_to = in_scope
                .iter()
                .find(|r| r.segment_ref() == segment)
                .map_or_else(
                    || "another epoch".to_owned(),
                    |r| format!("epoch {}", r.header().fields.epoch_wrap.epoch_id),
                );
            fail(
                format!(
                    "{segment} is wrapped to {wrapped_to}, but --epoch is epoch {}",
                    epoch.epoch_id
                ),
                "pass the epoch key of the period the segment was captured in",
            )
        }
        Error::Refused(RefusalReason::BatchSize(n)) => fail(
            format!(
                "the request covers {n} segments; one release holds at most {MAX_RELEASE_ENTRIES}"
            ),
            "ask the requester for requests over narrower time ranges (--from-ms, --to-ms)",
        ),
        other => with_hint(
            other,
            "cannot release the epoch part",
            "a segment's epoch wrap is damaged, or --epoch is not the key it was wrapped to; run `obhut verify` on --recording",
        ),
    })?;
    drop(epoch);
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
