//! `obhut pending`, `obhut approve`, `obhut deny`: the custodian's review
//! at a vault (docs/access.md §2 step 2). Nothing is computed or sent
//! before the request is proved to be in the audit log in a checkpoint
//! consistent with every one this client saw; the partials leave only
//! after the approval itself is proved logged.

use std::path::PathBuf;

use obhut_api::access::{ApproveBody, RequestJson};
use obhut_core::audit::Event;
use obhut_core::group::{PinnedGroup, ShareEnvelope};
use obhut_core::request::{AccessRequest, GrantRef};
use obhut_core::rng::os_rng;
use obhut_core::vault::body_sha256;

use crate::cmd::request::{describe, expired};
use crate::util::access::{AccessClient, b64, confirm_logged};
use crate::util::hint::{HintExt, fail};
use crate::util::logclient::{LogArgs, LogClient};
use crate::util::reader::Reader;
use crate::util::{Global, files, keys, load, recording, scope, time};

/// List the requests waiting at a vault.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Show every pending access request of your custody groups (as a custodian)
or your own (as a requester), in full: scope, purpose, justification, legal
basis, case, recipients, expiry, and the approvals so far.

Example:
  obhut pending --vault http://127.0.0.1:8700 --identity alice.key")]
pub struct PendingArgs {
    /// The vault's URL.
    #[arg(long, value_name = "URL")]
    vault: String,
    /// Your locked identity.
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// Also show denied and released requests.
    #[arg(long)]
    all: bool,
}

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
  4. on your y (or --yes), your partial decryption for those segments only
     is computed and sealed to the requester's key from the signed request;
  5. the approval (the partial's hash) is logged and proved included;
  6. only then is the partial uploaded.

Example:
  obhut approve 3f2a… --vault http://127.0.0.1:8700 --log-key 'obhut/vault-…+…+…' \\
      --identity alice.key --share custody/share-1.obse --group custody/group.obgd")]
pub struct ApproveArgs {
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

/// Deny a request as a custodian.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
As a custodian, deny an access request. The denial and your reason are
logged; the request ends and nothing is released for it.

Example:
  obhut deny 3f2a… --vault URL --log-key VKEY --identity bob.key --reason \"no legal basis given\"")]
pub struct DenyArgs {
    /// The request hash.
    request: String,
    #[command(flatten)]
    log: LogArgs,
    /// Your locked identity (a custodian of the group).
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// Why (recorded in the audit log; at most 4096 bytes).
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

pub fn parse_request(rj: &RequestJson, asked: Option<&str>) -> anyhow::Result<AccessRequest> {
    let bytes = b64("request", &rj.request)?;
    let req = AccessRequest::from_bytes(&bytes).hint(
        "the vault's copy of the request does not verify",
        "the vault is misbehaving; do not approve, and report it",
    )?;
    let hash = hex::encode(req.request_hash());
    if hash != rj.request_hash || asked.is_some_and(|a| a != hash) {
        return Err(fail(
            format!("the vault answered with request {hash}, not the one asked for"),
            "the vault is misbehaving; do not approve, and report it",
        ));
    }
    Ok(req)
}

/// The request, verified and proved logged (steps 1–2).
fn logged_request(
    client: &AccessClient<'_>,
    log: &LogClient,
    hash: &str,
    group: Option<&PinnedGroup>,
) -> anyhow::Result<(RequestJson, AccessRequest)> {
    let rj = client.get(hash)?;
    let req = parse_request(&rj, Some(hash))?;
    if let Some(g) = group {
        load::check_request_group(&req, g.descriptor())?;
    }
    let bytes = req.to_bytes();
    confirm_logged(
        log,
        &rj.logged,
        "the request",
        |e| matches!(&e.event, Event::AccessRequested { request } if *request == bytes),
    )?;
    Ok((rj, req))
}

/// Run `obhut pending`.
pub fn pending(g: &Global, a: &PendingArgs) -> anyhow::Result<()> {
    let me = keys::person(g, &a.identity, "--identity")?;
    let client = AccessClient::new(Reader::new(&a.vault, &me.sign));
    let list = client.list(!a.all)?;
    if list.requests.is_empty() {
        g.note("no requests");
    }
    for rj in &list.requests {
        let req = parse_request(rj, None)?;
        print!("{}", describe(&req));
        println!("  state:         {}", rj.state);
        println!("  logged:        entry #{}", rj.logged.log_index);
        for ap in &rj.approvals {
            println!(
                "  approved by:   custodian {} (entry #{}){}",
                ap.custodian,
                ap.logged.log_index,
                if ap.partial_uploaded {
                    ""
                } else {
                    ", partial not yet uploaded"
                }
            );
        }
        if let Some(d) = &rj.denial {
            println!(
                "  denied by:     custodian {}: {} (entry #{})",
                d.custodian, d.reason, d.logged.log_index
            );
        }
        println!();
    }
    Ok(())
}

/// Run `obhut approve`.
pub fn approve(g: &Global, a: &ApproveArgs) -> anyhow::Result<()> {
    let group = load::pinned_group(&a.group, "--group")?;
    let envelope = files::parse(
        &a.share,
        "--share",
        "your share envelope (share-<i>.obse from `obhut custody init`)",
        ShareEnvelope::from_bytes,
    )?;
    let log = a.log.client()?;
    let me = keys::person(g, &a.identity, "--identity")?;
    let client = AccessClient::new(Reader::new(&a.log.vault, &me.sign));
    let done = approve_as(g, &client, &log, &a.request, &group, &envelope, &me, a.yes)?;
    g.note(format!(
        "custodian {} approved request {} for {} segment(s): approval logged as entry #{} (inclusion verified), partial uploaded (only the requester can open it)",
        done.custodian, a.request, done.segments, done.log_index
    ));
    Ok(())
}

/// What [`approve_as`] did.
#[derive(Debug)]
pub struct Approved {
    /// The custodian's index.
    pub custodian: u16,
    /// Segments the partial covers.
    pub segments: usize,
    /// Log index of the approval.
    pub log_index: u64,
}

/// Steps 1–6 of `obhut approve` as `me` (the demo calls this too).
#[allow(clippy::too_many_arguments)]
pub fn approve_as(
    g: &Global,
    client: &AccessClient<'_>,
    log: &LogClient,
    request_hash_hex: &str,
    group: &PinnedGroup,
    envelope: &ShareEnvelope,
    me: &obhut_core::identity::PersonSecret,
    yes: bool,
) -> anyhow::Result<Approved> {
    let (rj, req) = logged_request(client, log, request_hash_hex, Some(group))?;
    if rj.state != "pending" {
        return Err(fail(
            format!("request {request_hash_hex} is {}, not pending", rj.state),
            "nothing to approve",
        ));
    }
    let now = time::now_ms();
    if req.is_expired(now) {
        return Err(expired(&req));
    }
    let resolved = scope::resolve(client.reader(), &req)?;
    let records: Vec<_> = resolved.iter().flat_map(|r| r.covered().cloned()).collect();
    if !g.quiet {
        eprint!("{}", describe(&req));
        eprintln!(
            "  logged:        entry #{} (inclusion verified)",
            rj.logged.log_index
        );
        eprintln!("  in scope:      {} segment(s):", records.len());
        for r in &records {
            eprintln!("    {}", recording::describe(r));
        }
    }
    crate::cmd::partial::confirm(
        yes,
        &format!(
            "Approve, and compute your partial for these {} segment(s)?",
            records.len()
        ),
    )?;
    let share = envelope.open(me, group).hint(
        "cannot open your share",
        "pass your own share-<i>.obse for this group as --share, with your identity as --identity",
    )?;
    let grant = GrantRef::new(rj.logged.log_index, &req);
    let partial = obhut_core::partial::custodian_partial(
        me,
        &share,
        group,
        &req,
        &grant,
        &records,
        now,
        &mut os_rng(),
    )
    .hint(
        "no partial was computed",
        "the reason above names what failed",
    )?;
    drop(share);
    let bytes = partial.to_bytes();
    let partial_hash = body_sha256(&bytes);
    let segments = u32::try_from(records.len()).unwrap_or(u32::MAX);
    let logged = client.approve(
        request_hash_hex,
        &ApproveBody {
            partial_hash: hex::encode(partial_hash),
            segments,
        },
    )?;
    let my_key = me.sign.verify_key().to_bytes();
    let request_hash = req.request_hash();
    let request_index = rj.logged.log_index;
    confirm_logged(log, &logged, "your approval", |e| {
        e.actor.key == my_key
            && matches!(&e.event, Event::Approved { request_hash: h, request_index: i, partial_hash: p, .. }
                if *h == request_hash && *i == request_index && *p == partial_hash)
    })?;
    client.upload_partial(request_hash_hex, partial.custodian, &bytes)?;
    Ok(Approved {
        custodian: partial.custodian,
        segments: records.len(),
        log_index: logged.log_index,
    })
}

/// Run `obhut deny`.
pub fn deny(g: &Global, a: &DenyArgs) -> anyhow::Result<()> {
    let log = a.log.client()?;
    let me = keys::person(g, &a.identity, "--identity")?;
    let client = AccessClient::new(Reader::new(&a.log.vault, &me.sign));
    let (rj, req) = logged_request(&client, &log, &a.request, None)?;
    if rj.state != "pending" {
        return Err(fail(
            format!("request {} is {}, not pending", a.request, rj.state),
            "nothing to deny",
        ));
    }
    let logged = client.deny(&a.request, &a.reason)?;
    let request_hash = req.request_hash();
    let reason = a.reason.clone();
    confirm_logged(&log, &logged, "your denial", |e| {
        matches!(&e.event, Event::Denied { request_hash: h, reason: r, .. }
            if *h == request_hash && *r == reason)
    })?;
    g.note(format!(
        "request {} denied: logged as entry #{} (inclusion verified); nothing will be released for it",
        a.request, logged.log_index
    ));
    Ok(())
}
