//! The flags that say where the vault's audit log is and how it is
//! trusted, and where the client keeps the last checkpoint it accepted (a
//! state file): they build an `obhut_client::log::LogClient`.

use std::path::PathBuf;

use obhut_client::log::{CheckpointStore, LogClient};
use obhut_log::{VerifierKey, WitnessPolicy};

use super::hint::{fail, hinted};

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
        let state = match &a.state {
            Some(p) => p.clone(),
            None => default_state_path(vkey.name())?,
        };
        Ok(LogClient::new(
            &a.vault,
            vkey,
            policy,
            Box::new(StateFile(state)),
        ))
    }
}

/// The default state file of `origin`: `$XDG_STATE_HOME/obhut/logs/` (or
/// `~/.local/state/obhut/logs/`), one file per origin.
pub fn default_state_path(origin: &str) -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let home = std::env::var_os("HOME").ok_or_else(|| {
                fail(
                    "neither XDG_STATE_HOME nor HOME is set",
                    "pass --state FILE for the last checkpoint this client saw",
                )
            })?;
            PathBuf::from(home).join(".local/state")
        }
    };
    let safe: String = origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(base.join("obhut/logs").join(format!("{safe}.checkpoint")))
}

/// The last checkpoint accepted, in a file (`--state`).
#[derive(Debug)]
pub struct StateFile(pub PathBuf);

impl CheckpointStore for StateFile {
    fn load(&self) -> obhut_client::Result<Option<Vec<u8>>> {
        match std::fs::read(&self.0) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(obhut_client::Error::Caller(Box::new(hinted(
                format!("reading {}: {e}", self.0.display()),
                "check the permissions of the state file (--state)",
            )))),
        }
    }

    fn save(&self, checkpoint: &[u8]) -> obhut_client::Result<()> {
        let caller = |e: anyhow::Error| {
            obhut_client::Error::Caller(Box::new(hinted(
                format!("{e:#}"),
                super::hint::hints(&e)
                    .first()
                    .map_or("check --state", |h| h.as_ref()),
            )))
        };
        if let Some(dir) = self.0.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                caller(fail(
                    format!("creating {}: {e}", dir.display()),
                    "pass --state FILE in a writable directory",
                ))
            })?;
        }
        super::files::write(
            &self.0,
            checkpoint,
            "--state",
            true,
            super::files::Mode::Public,
        )
        .map_err(caller)
    }

    fn describe(&self) -> String {
        self.0.display().to_string()
    }
}
