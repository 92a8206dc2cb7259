//! `obhut enrol`: enrol this device with a vault (docs/vault.md §3.2).

use std::path::PathBuf;

use obhut_agent::enrol::{enrol, parse_fingerprint};
use obhut_agent::state::StateDir;

use crate::util::agent::{StateArgs, agent_error, enrol_error};
use crate::util::hint::fail;
use crate::util::{Global, keys};

/// Enrol this device with a vault and pin its custody group.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Enrol this device with a vault: present the one-time token an admin made
(`obhut admin enrol-token`), receive the custody group's descriptor, and pin
it only if its fingerprint is --group-fingerprint (as the custodians publish
it with `obhut custody show`) and it carries valid signatures from at least
k custodians. A vault offering any other group key is refused and nothing
is recorded.

Records the vault URL, the vault's receipt key, the pinned descriptor and
the path of --device in the state directory (--state, default
$OBHUT_STATE, else $XDG_STATE_HOME/obhut, else ~/.local/state/obhut);
`obhut ingest` and `obhut agent` use them.

Example:
  obhut enrol --vault https://vault.example:8443 --token obhut-enrol-… \\
      --device cam.key --group-fingerprint 3f2a…")]
pub struct Args {
    /// Base URL of the vault.
    #[arg(long, value_name = "URL")]
    vault: String,
    /// The one-time enrolment token (`obhut-enrol-…`).
    #[arg(long, value_name = "TOKEN")]
    token: String,
    /// The device's locked signing key (from `obhut keygen device`).
    #[arg(long, value_name = "KEY")]
    device: PathBuf,
    /// Fingerprint of the custody group descriptor the custodians published.
    #[arg(long, value_name = "HEX")]
    group_fingerprint: String,
    #[command(flatten)]
    state: StateArgs,
}

/// Run `obhut enrol`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let expected = parse_fingerprint(&a.group_fingerprint).ok_or_else(|| {
        fail(
            format!("`{}` is not a descriptor fingerprint", a.group_fingerprint),
            "--group-fingerprint takes the 64 hex digits printed by `obhut custody show`",
        )
    })?;
    let state_path = a.state.path()?;
    let state = StateDir::open_locked(&state_path).map_err(agent_error)?;
    let device = keys::device(g, &a.device, "--device")?;
    let done = enrol(
        &state,
        &a.vault,
        &a.token,
        &device.sign,
        &a.device,
        &expected,
    )
    .map_err(enrol_error)?;
    g.note(format!(
        "enrolled device {} with {}: custody group \"{}\" {} ({} of {}, signed by custodians {:?}), retention class {}",
        hex::encode(device.sign.verify_key().to_bytes()),
        a.vault,
        crate::util::printable(&done.group_name),
        done.group,
        done.threshold,
        done.size,
        done.signers,
        done.retention_class
    ));
    g.note(format!("state directory: {}", state_path.display()));
    println!("{}", done.group);
    Ok(())
}
