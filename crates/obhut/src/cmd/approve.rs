//! `obhut approve`: a custodian's approval at a vault (docs/access.md §2
//! step 2). The protocol is `obhut_client::approve`; here are the flags,
//! the request shown in full and the prompt.

use std::path::PathBuf;

use obhut_client::access::AccessClient;
use obhut_client::approve::{Approved, Delivery, Review, Share, Unsent};
use obhut_client::log::LogClient;
use obhut_client::names::Names;
use obhut_client::reader::Reader;
use obhut_client::show::describe_request_named;
use obhut_core::group::{PinnedGroup, ShareEnvelope};
use obhut_core::identity::PersonSecret;

use crate::util::logclient::LogArgs;
use crate::util::request::confirm;
use crate::util::{Global, files, keys, load, recording};

/// Approve a request as a custodian.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
As a custodian, approve an access request at the vault. In order:
  1. your client moves its audit-log state to the vault's latest checkpoint
     (consistency proof from the last one it saw; a rollback or fork stops here);
  2. the request's log entry is proved included; its signature, group and
     expiry are checked; the request is shown in full;
  3. the scope is resolved from the device-signed records (signatures and
     chain checked), never from a list the vault hands over;
  4. on your y (or --yes), your signed approval (request, segment count,
     time, this vault) is logged and proved included;
  5. only once k custodians' signed approvals of this same request are
     proved in the log (and no denial) is your partial decryption for those
     segments computed, sealed to the requester's key from the signed
     request, kept beside your log state (STATE.unsent/) and uploaded.
Until k custodians have approved, nothing leaves your machine but the
approval: run the same command again later to send your partial (it asks
nothing the second time). So a vault cannot combine key parts of requests
that k people did not approve together, nor invent an approval.

Example:
  obhut approve 3f2a… --vault http://127.0.0.1:8700 --log-key 'obhut/vault-…+…+…' \\
      --identity alice.key --share custody/share-1.obse --group custody/group.obgd")]
pub struct Args {
    /// The request hash (64 hex digits, from `obhut pending`).
    request: String,
    #[command(flatten)]
    log: LogArgs,
    /// Your locked identity (a custodian of the group).
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// Your share envelope (share-<i>.obse).
    #[arg(long, value_name = "FILE")]
    share: PathBuf,
    /// The custody group descriptor (pinned).
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
    /// Approve without asking (for scripts); required without a terminal.
    #[arg(long, short = 'y')]
    yes: bool,
}

/// Run `obhut approve`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let group = load::pinned_group(&a.group, "--group")?;
    let envelope = files::parse(
        &a.share,
        "--share",
        "your share envelope (share-<i>.obse from `obhut custody init`)",
        ShareEnvelope::from_bytes,
    )?;
    let log = a.log.client_for(&group)?;
    let me = keys::person(g, &a.identity, "--identity")?;
    let client = AccessClient::new(Reader::new(&a.log.vault, log.vault_identity(), &me.sign));
    let unsent = a.log.unsent(&log)?;
    let done = approve_as(
        g, &client, &log, &a.request, &group, &envelope, &me, &unsent, a.yes,
    )?;
    match done.delivery {
        Delivery::Sent => g.note(format!(
            "custodian {} approved request {} for {} segment(s): approval logged as entry #{} (inclusion verified); k approvals are logged, so your partial is uploaded (only the requester can open it)",
            done.custodian, a.request, done.segments, done.log_index
        )),
        Delivery::Waiting { have, needed } => g.note(format!(
            "custodian {} approved request {} for {} segment(s): approval logged as entry #{} (inclusion verified); {have} of {needed} approvals are logged, so nothing else was sent. Once the others have approved, run this command again to send your partial.",
            done.custodian, a.request, done.segments, done.log_index
        )),
    }
    Ok(())
}

/// `obhut_client::approve::approve_as` with the request shown on stderr
/// (unless `--quiet`) and the terminal prompt (unless `yes`).
#[allow(clippy::too_many_arguments)]
pub fn approve_as(
    g: &Global,
    client: &AccessClient<'_>,
    log: &LogClient,
    request_hash: &str,
    group: &PinnedGroup,
    envelope: &ShareEnvelope,
    me: &PersonSecret,
    unsent: &Unsent,
    yes: bool,
) -> anyhow::Result<Approved> {
    // The prompt's own refusal (no terminal, no answer), kept for after the
    // client reports the approval not confirmed.
    let mut refusal = None;
    let ask = |r: &Review<'_>| {
        if !g.quiet {
            let mut keys = vec![r.request.requester_sign().to_bytes()];
            keys.extend(
                r.records
                    .iter()
                    .map(|rec| rec.header().fields.device_key.to_bytes()),
            );
            let trusted: Vec<_> = group
                .descriptor()
                .custodians()
                .iter()
                .map(|c| c.sign_key)
                .collect();
            let names = Names::fetch_or_none(client.reader(), &keys, &trusted);
            eprint!("{}", describe_request_named(r.request, &names));
            eprintln!(
                "  logged:        entry #{} (inclusion verified)",
                r.log_index
            );
            let mut devices: Vec<_> = keys.iter().skip(1).collect();
            devices.sort_unstable();
            devices.dedup();
            for d in devices {
                eprintln!("  device:        {}", names.label(d, &hex::encode(d)));
            }
            eprintln!("  in scope:      {} segment(s):", r.records.len());
            for rec in r.records {
                eprintln!("    {}", recording::describe(rec));
            }
            for id in &r.unfinished {
                eprintln!(
                    "  unfinished:    recording {id} has no final segment (still recording, or the camera stopped): later footage may exist"
                );
            }
        }
        let question = format!(
            "Approve these {} segment(s)? (your partial follows once k custodians approve)",
            r.records.len()
        );
        match confirm(yes, &question) {
            Ok(()) => true,
            Err(e) => {
                refusal = Some(e);
                false
            }
        }
    };
    let done = obhut_client::approve::approve_as(
        client,
        log,
        request_hash,
        group,
        Share::Sealed(envelope),
        me,
        unsent,
        ask,
    );
    match done {
        Ok(d) => Ok(d),
        Err(obhut_client::Error::NotConfirmed) => {
            Err(refusal.unwrap_or_else(|| obhut_client::Error::NotConfirmed.into()))
        }
        Err(e) => Err(load::other_group(e)),
    }
}
