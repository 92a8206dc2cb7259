//! `obhut partial`: the custodian's role. Read an access request in full,
//! and on approval compute this custodian's partial decryption for the
//! segments in scope, taken from the device-signed records of the recording
//! (never from a list in the request), proved and sealed to the requester.

use std::path::PathBuf;

use obhut_core::group::ShareEnvelope;
use obhut_core::request::GrantRef;
use obhut_core::rng::os_rng;

use crate::util::files::{self, Mode};
use crate::util::hint::HintExt;
use crate::util::recording;
use crate::util::request::{confirm, describe, expired};
use crate::util::{Global, keys, load, time};

/// Approve a request as a custodian: compute your partial decryption.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
As a custodian, review an access request and compute your partial
decryption for it. The request is shown in full first; answer y to approve
(--yes approves without asking, for scripts; without a terminal --yes is
required). Before computing anything the request's signature, expiry and
group are checked, and every segment is taken from the device-signed records
in --recording: each record's signature, the chain, each capsule's validity
proof, and the request's scope. The partial is proved (Chaum–Pedersen),
signed, and encrypted to the requester's key from the signed request only.

--log-index is the request's position in the audit log; offline, use the same
number (default 0) for every partial, the release and unseal.

Example:
  obhut partial --identity alice.key --share custody/share-1.obse \\
      --group custody/group.obgd --request req.obar --recording rec/ --out p-1.obpe")]
pub struct Args {
    /// Your locked identity (from `obhut keygen person`).
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// Your share envelope (share-<i>.obse from `obhut custody init`).
    #[arg(long, value_name = "FILE")]
    share: PathBuf,
    /// The custody group descriptor (must be pinned).
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
    /// The access request to approve.
    #[arg(long, value_name = "FILE")]
    request: PathBuf,
    /// The recording's directory (as written by `obhut seal`).
    #[arg(long, value_name = "DIR")]
    recording: PathBuf,
    /// The request's position in the audit log.
    #[arg(long, value_name = "N", default_value_t = 0)]
    log_index: u64,
    /// Approve without asking (for scripts); required without a terminal.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Where to write your partial (an envelope only the requester can open).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Run `obhut partial`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    files::check_new(&a.out, "--out", g.force)?;
    let group = load::pinned_group(&a.group, "--group")?;
    let request = load::request(&a.request)?;
    let envelope = files::parse(
        &a.share,
        "--share",
        "your share envelope (share-<i>.obse from `obhut custody init`)",
        ShareEnvelope::from_bytes,
    )?;
    load::check_request_group(&request, &group)?;
    let now = time::now_ms();
    if request.is_expired(now) {
        return Err(expired(&request));
    }
    let group_key = group.group_key();
    let rec = recording::load(&a.recording, "--recording", Some(&group_key))?;
    let in_scope = recording::in_scope(&rec, &request, "--recording")?;

    if !g.quiet {
        eprint!("{}", describe(&request));
        eprintln!(
            "  in scope:      {} of {} segments of recording {}:",
            in_scope.len(),
            rec.records.len(),
            rec.summary.recording_id
        );
        for r in &in_scope {
            eprintln!("    {}", recording::describe(r));
        }
    }
    confirm(
        a.yes,
        &format!(
            "Approve, and compute your partial for these {} segment(s)?",
            in_scope.len()
        ),
    )?;

    let me = keys::person(g, &a.identity, "--identity")?;
    let share = envelope.open(&me, &group).hint(
        format!("cannot open {}", a.share.display()),
        "pass your own share-<i>.obse for this group as --share, with your identity as --identity",
    )?;
    let grant = GrantRef::new(a.log_index, &request);
    let records: Vec<_> = in_scope.into_iter().cloned().collect();
    let out = obhut_core::partial::custodian_partial(
        &me,
        &share,
        &group,
        &request,
        &grant,
        &records,
        now,
        &mut os_rng(),
    )
    .hint(
        "no partial was computed",
        "check the request, the recording and your share; the reason above names what failed",
    )?;
    drop(share);
    files::write(&a.out, &out.to_bytes(), "--out", g.force, Mode::Public)?;
    g.note(format!(
        "custodian {} approved request {} for {} segment(s); wrote {} (only the requester can open it)",
        out.custodian,
        hex::encode(grant.request_hash),
        records.len(),
        a.out.display()
    ));
    Ok(())
}
