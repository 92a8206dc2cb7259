//! `obhut lineage ID`: what a recording or derived artifact was made from
//! and what was made from it (docs/vault.md §10), for people or Graphviz.

use std::path::PathBuf;

use obhut_client::names::Names;
use obhut_client::reader::Reader;

use crate::util::logclient::LogArgs;
use crate::util::{Global, keys};

/// How to print the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Names, kinds, local times and states, one node per paragraph.
    Text,
    /// Graphviz `dot` (`obhut lineage ID --format dot | dot -Tsvg > g.svg`).
    Dot,
}

/// Show the lineage of a recording or derived artifact.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Show the lineage graph of a recording or derived artifact (thumbnail, clip,
redacted copy, transcript, label, training set, model): what it was made
from and everything made from it, with names, kinds, local times and
states. A deleted artifact went with its source (erased, expired or its
consent withdrawn); a tainted model was trained on something that went.

Needs the reader role (or requester, or custodian) of its custody group.

Example:
  obhut lineage 0123456789abcdef0123456789abcdef --vault http://127.0.0.1:8700 --log-key VKEY --identity dpo.key
  obhut lineage ID --vault URL --log-key VKEY --identity dpo.key --format dot | dot -Tsvg > lineage.svg")]
pub struct Args {
    /// The recording or artifact id (32 hex digits).
    #[arg(value_name = "ID")]
    id: String,
    #[command(flatten)]
    log: LogArgs,
    /// Your locked identity.
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Run `obhut lineage`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    if obhut_core::ids::RecordingId::from_hex(&a.id).is_none() {
        anyhow::bail!(
            "{:?} is not an id: a recording or artifact id has 32 hex digits",
            a.id
        );
    }
    let log = a.log.client()?;
    let me = keys::person(g, &a.identity, "--identity")?;
    let reader = Reader::new(&a.log.vault, log.vault_identity(), &me.sign);
    let graph = obhut_client::lineage::fetch(&reader, &a.id)?;
    // Devices by the names their own keys signed (no custody group is
    // given here to trust for naming others).
    let devices = obhut_client::lineage::devices(&graph);
    let names = Names::fetch_or_none(&reader, &devices, &[]);
    match a.format {
        Format::Text => print!("{}", obhut_client::lineage::text(&graph, &names)),
        Format::Dot => print!("{}", obhut_client::lineage::dot(&graph, &names)),
    }
    Ok(())
}
