//! `obhut pending`: the requests waiting at a vault, in full (docs/access.md
//! §2 step 2), for a custodian to review or a requester to follow.

use std::path::PathBuf;

use obhut_client::access::AccessClient;
use obhut_client::names::Names;
use obhut_client::reader::Reader;
use obhut_client::show::describe_request_named;

use crate::util::logclient::GroupLogArgs;
use crate::util::{Global, keys};

/// List the requests waiting at a vault.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Show every pending access request of your custody groups (as a custodian)
or your own (as a requester), in full: scope, purpose, justification, legal
basis, case, recipients, expiry, and the approvals so far.

With --log-pin FILE --group FILE (or --witness), the log's latest checkpoint
must be signed by the pinned log key and carry the cosignatures required,
and every request listed is proved in it.

Example:
  obhut pending --vault http://127.0.0.1:8700 --log-key VKEY --identity alice.key
  obhut pending --vault URL --log-pin custody/log.oblp --group custody/group.obgd --identity alice.key")]
pub struct Args {
    #[command(flatten)]
    log: GroupLogArgs,
    /// Your locked identity.
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// Also show denied and released requests.
    #[arg(long)]
    all: bool,
}

/// Run `obhut pending`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let log = a.log.client()?;
    let me = keys::person(g, &a.identity, "--identity")?;
    let client = AccessClient::new(Reader::new(
        &a.log.log.vault,
        log.vault_identity(),
        &me.sign,
    ));
    let list = if a.log.pinned() {
        let list = obhut_client::approve::pending_logged(&client, &log, a.all)?;
        g.note(format!(
            "{} request(s), each proved in a checkpoint of the pinned log",
            list.len()
        ));
        list
    } else {
        obhut_client::approve::pending(&client, a.all)?
    };
    if list.is_empty() {
        g.note("no requests");
    }
    let keys: Vec<[u8; 32]> = list
        .iter()
        .map(|(_, req)| req.requester_sign().to_bytes())
        .collect();
    let names = Names::fetch_or_none(client.reader(), &keys, &[]);
    for (rj, req) in &list {
        print!("{}", describe_request_named(req, &names));
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
