//! The flags that say where the vault's audit log is and how it is
//! trusted, and where the client keeps the last checkpoint it accepted (a
//! state file, `obhut_client::log::StateFile`): they build an
//! `obhut_client::log::LogClient`.

use std::path::PathBuf;

use obhut_client::approve::Unsent;
use obhut_client::log::{LogClient, StateFile, default_state_path};
use obhut_log::{VerifierKey, WitnessPolicy};

use super::hint::fail;

/// Where the log is and how it is trusted.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// The vault's URL
    #[arg(long, value_name = "URL")]
    pub vault: String,
    /// The log's verifier key (C2SP vkey, `origin+id+base64`), pinned out of band
    /// (`GET /v1/log/key` shows it, but take it from your organisation, not the vault)
    #[arg(long, value_name = "VKEY")]
    pub log_key: String,
    /// Last checkpoint this client accepted (default: ~/.local/state/obhut/logs/ORIGIN.checkpoint)
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// A witness whose cosignature is required (C2SP vkey); repeat for several
    #[arg(long = "witness", value_name = "VKEY")]
    pub witnesses: Vec<String>,
    /// How many of the --witness keys must cosign (default: all of them)
    #[arg(long, value_name = "N")]
    pub witnesses_required: Option<usize>,
}

impl LogArgs {
    /// The client these flags describe.
    pub fn client(&self) -> anyhow::Result<LogClient> {
        let a = self;
        let vkey = VerifierKey::parse(&a.log_key).map_err(|e| {
            fail(
                format!(
                    "--log-key {:?} is not a signed-note verifier key: {e}",
                    a.log_key
                ),
                "pass the vkey your organisation pinned (name+8 hex+base64)",
            )
        })?;
        let witnesses = a
            .witnesses
            .iter()
            .map(|w| {
                VerifierKey::parse(w).map_err(|e| {
                    fail(
                        format!("--witness {w:?} is not a verifier key: {e}"),
                        "pass the vkey printed by `obhut witness init`",
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let policy = if witnesses.is_empty() {
            WitnessPolicy::none()
        } else {
            let n = a.witnesses_required.unwrap_or(witnesses.len());
            WitnessPolicy::new(witnesses, n).map_err(|e| {
                fail(
                    format!("witness policy: {e}"),
                    "--witnesses-required must be between 1 and the number of --witness keys",
                )
            })?
        };
        let state = a.state_path(&vkey)?;
        Ok(LogClient::new(
            &a.vault,
            vkey,
            policy,
            Box::new(StateFile::new(state)),
        ))
    }

    fn state_path(&self, vkey: &VerifierKey) -> anyhow::Result<PathBuf> {
        match &self.state {
            Some(p) => Ok(p.clone()),
            None => default_state_path(vkey.name()).ok_or_else(|| {
                fail(
                    "neither XDG_STATE_HOME nor HOME is set",
                    "pass --state FILE for the last checkpoint this client saw",
                )
            }),
        }
    }

    /// Where a custodian keeps partial envelopes until the vault has them:
    /// beside the state file (`STATE.unsent/`).
    pub fn unsent(&self, log: &LogClient) -> anyhow::Result<Unsent> {
        Ok(Unsent::beside(&self.state_path(log.log_key())?))
    }
}
