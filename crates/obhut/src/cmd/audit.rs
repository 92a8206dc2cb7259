//! `obhut audit`: check the vault's audit log (docs/log.md) and read a
//! recording's chain of custody, as a data-protection officer, an
//! oversight body or anyone holding the log's public key.

use std::path::PathBuf;

use anyhow::Context as _;
use obhut_client::audit::{chain_of_custody, rebuild};
use obhut_client::names::Names;
use obhut_client::reader::Reader;
use obhut_core::ids::RecordingId;

use crate::util::entry::{actors, describe};
use crate::util::hint::fail;
use crate::util::logclient::GroupLogArgs;
use crate::util::{Global, keys};

/// `obhut audit`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Check the vault's audit log and read a recording's chain of custody",
    long_about = "Check the vault's audit log and read a recording's chain of custody.\n\n\
Every change at the vault (enrolment, segment received, request, approval, denial, release, \
admin action) is an entry in an append-only Merkle tree whose checkpoints the vault signs with \
its log key. This client keeps the last checkpoint it accepted (--state) and accepts a new one \
only with a consistency proof from it: a rewritten or dropped entry, a rollback, or a vault \
showing different logs to different people is reported, with both signed checkpoints as \
evidence. With --log-pin FILE --group FILE only the log k custodians pinned is trusted, and \
only checkpoints carrying the witness cosignatures the pin requires. Checkpoints and proofs are \
public; entry bodies hold case data and need an auditor identity (obhut admin add-auditor).",
    after_help = "Examples:\n  \
obhut audit verify --vault http://127.0.0.1:8700 --log-key 'obhut/vault-3f2a…+1a2b3c4d+AX…'\n  \
obhut audit verify --vault URL --log-key VKEY --full --identity dpo.key\n  \
obhut audit log --vault URL --log-key VKEY --identity dpo.key --recording 0f1e…\n  \
obhut audit verify --vault URL --log-pin custody/log.oblp --group custody/group.obgd"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// Subcommands of `obhut audit`.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Accept the vault's latest checkpoint if it extends the last one seen;
    /// with --full, also rebuild the tree from every entry body.
    Verify {
        #[command(flatten)]
        log: GroupLogArgs,
        /// Fetch every entry and recompute the root (needs --identity of an auditor)
        #[arg(long, requires = "identity")]
        full: bool,
        /// Your locked identity (an auditor's, for entry bodies)
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Print one recording's chain of custody, each entry proved included
    /// in the verified checkpoint.
    Log {
        #[command(flatten)]
        log: GroupLogArgs,
        /// The recording (32 hex digits)
        #[arg(long, value_name = "ID")]
        recording: String,
        /// Your locked identity (an auditor's)
        #[arg(long, value_name = "FILE")]
        identity: PathBuf,
    },
}

/// Run `obhut audit`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    match &a.command {
        AuditCommand::Verify {
            log,
            full,
            identity,
        } => {
            let c = log.client()?;
            let (prev, now) = c.update()?;
            match &prev {
                None => g.note(format!(
                    "first checkpoint accepted: {} entries (stored in {}; later runs must extend it)",
                    now.size,
                    c.store().describe()
                )),
                Some(p) => g.note(format!(
                    "checkpoint of {} entries is consistent with the one seen before ({} entries)",
                    now.size, p.size
                )),
            }
            if *full {
                let id = identity.as_ref().context("--full needs --identity")?;
                let person = keys::person(g, id, "--identity")?;
                let reader = Reader::new(&log.log.vault, c.vault_identity(), &person.sign);
                let pruned = rebuild(&reader, now.size, &now.root)?;
                g.note(format!(
                    "rebuilt the tree from {} entries ({pruned} pruned by retention, checked by their leaf hashes): the root matches",
                    now.size
                ));
            }
            println!("{} {}", now.size, now.root.to_base64());
        }
        AuditCommand::Log {
            log,
            recording,
            identity,
        } => {
            let rid = RecordingId::from_hex(recording).ok_or_else(|| {
                fail(
                    format!("{recording:?} is not a recording id"),
                    "pass the 32 hex digits shown by the vault's listing",
                )
            })?;
            let c = log.client()?;
            let person = keys::person(g, identity, "--identity")?;
            let reader = Reader::new(&log.log.vault, c.vault_identity(), &person.sign);
            let entries = chain_of_custody(&c, &reader, rid)?;
            let names = Names::fetch_or_none(&reader, &actors(&entries), &[]);
            let lines: Vec<String> = entries.iter().map(|e| describe(e, &names)).collect();
            for l in &lines {
                println!("{l}");
            }
            g.note(format!(
                "{} entries about recording {rid}, each proved included in the latest checkpoint",
                lines.len()
            ));
        }
    }
    Ok(())
}
