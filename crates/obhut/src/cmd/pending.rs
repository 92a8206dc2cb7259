//! `obhut pending`: the requests waiting at a vault, in full (docs/access.md
//! §2 step 2), for a custodian to review or a requester to follow.

use std::path::PathBuf;

use obhut_client::access::AccessClient;
use obhut_client::reader::{Reader, vault_identity};

use crate::util::hint::fail;
use crate::util::request::describe;
use crate::util::{Global, keys};

/// List the requests waiting at a vault.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Show every pending access request of your custody groups (as a custodian)
or your own (as a requester), in full: scope, purpose, justification, legal
basis, case, recipients, expiry, and the approvals so far.

Example:
  obhut pending --vault http://127.0.0.1:8700 --log-key VKEY --identity alice.key")]
pub struct Args {
    /// The vault's URL.
    #[arg(long, value_name = "URL")]
    vault: String,
    /// The vault's audit-log key (C2SP vkey, pinned out of band): your
    /// requests are signed for the vault it names and no other
    #[arg(long, value_name = "VKEY")]
    log_key: String,
    /// Your locked identity.
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// Also show denied and released requests.
    #[arg(long)]
    all: bool,
}

/// Run `obhut pending`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let vkey = obhut_log::VerifierKey::parse(&a.log_key).map_err(|e| {
        fail(
            format!(
                "--log-key {:?} is not a signed-note verifier key: {e}",
                a.log_key
            ),
            "pass the vkey your organisation pinned (name+8 hex+base64)",
        )
    })?;
    let me = keys::person(g, &a.identity, "--identity")?;
    let client = AccessClient::new(Reader::new(&a.vault, vault_identity(&vkey), &me.sign));
    let list = obhut_client::approve::pending(&client, a.all)?;
    if list.is_empty() {
        g.note("no requests");
    }
    for (rj, req) in &list {
        print!("{}", describe(req));
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
