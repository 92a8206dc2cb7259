//! `obhut deny`: a custodian's denial at a vault (docs/access.md §2): the
//! denial and its reason are logged; nothing is released for the request.

use std::path::PathBuf;

use obhut_client::access::AccessClient;
use obhut_client::reader::Reader;

use crate::util::logclient::LogArgs;
use crate::util::{Global, keys, load};

/// Deny a request as a custodian.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
As a custodian, deny an access request. The denial and your reason are
logged; the request ends and nothing is released for it.

Example:
  obhut deny 3f2a… --vault URL --log-key VKEY --identity bob.key \\
      --group custody/group.obgd --reason \"no legal basis given\"")]
pub struct Args {
    /// The request hash.
    request: String,
    #[command(flatten)]
    log: LogArgs,
    /// Your locked identity (a custodian of the group).
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// The custody group descriptor (pinned): your denial names your
    /// custodian index in it.
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
    /// Why (recorded in the audit log; at most 4096 bytes).
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

/// Run `obhut deny`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let group = load::pinned_group(&a.group, "--group")?;
    let log = a.log.client_for(&group)?;
    let me = keys::person(g, &a.identity, "--identity")?;
    let client = AccessClient::new(Reader::new(&a.log.vault, log.vault_identity(), &me.sign));
    let logged = obhut_client::approve::deny_as(&client, &log, &a.request, &group, &me, &a.reason)?;
    g.note(format!(
        "request {} denied: logged as entry #{} (inclusion verified); nothing will be released for it",
        a.request, logged.log_index
    ));
    Ok(())
}
