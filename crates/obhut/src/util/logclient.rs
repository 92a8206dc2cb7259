//! The flags that say where the vault's audit log is and how it is
//! trusted, and where the client keeps the last checkpoint it accepted (a
//! state file, `obhut_client::log::StateFile`): they build an
//! `obhut_client::log::LogClient`.

use std::path::PathBuf;

use obhut_client::approve::Unsent;
use obhut_client::log::{LogClient, StateFile, default_state_path};
use obhut_core::group::PinnedGroup;
use obhut_core::log_pin::LogPin;
use obhut_log::{VerifierKey, WitnessPolicy};

use super::hint::fail;
use super::{files, load};

/// Where the log is and how it is trusted.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// The vault's URL
    #[arg(long, value_name = "URL")]
    pub vault: String,
    /// The log's verifier key (C2SP vkey, `origin+id+base64`), pinned out of band
    /// (`GET /v1/log/key` shows it, but take it from your organisation, not the vault);
    /// not needed with --log-pin
    #[arg(long, value_name = "VKEY", required_unless_present = "log_pin")]
    pub log_key: Option<String>,
    /// The custodians' log pin (`obhut custody pin-log`): the log key and the
    /// witnesses whose cosignatures every checkpoint must carry, signed by k
    /// custodians of --group
    #[arg(long, value_name = "FILE")]
    pub log_pin: Option<PathBuf>,
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

/// [`LogArgs`] for a command without a custody group of its own (`obhut
/// audit`, `obhut pending`): `--group` names the group whose custodians
/// signed `--log-pin`.
#[derive(Debug, clap::Args)]
pub struct GroupLogArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// The custody group descriptor (pinned) whose k custodians signed --log-pin
    #[arg(long, value_name = "FILE", requires = "log_pin")]
    pub group: Option<PathBuf>,
}

impl GroupLogArgs {
    /// [`LogArgs::client_for`] `--group` with `--log-pin`, else
    /// [`LogArgs::client`].
    pub fn client(&self) -> anyhow::Result<LogClient> {
        match (&self.group, &self.log.log_pin) {
            (Some(path), _) => self.log.client_for(&load::pinned_group(path, "--group")?),
            (None, Some(_)) => Err(fail(
                "--log-pin is checked against the custody group whose custodians signed it",
                "pass --group FILE (the pinned group descriptor)",
            )),
            (None, None) => self.log.client(),
        }
    }

    /// Whether the flags ask for more than the log key: a pin or witnesses.
    pub fn pinned(&self) -> bool {
        self.log.log_pin.is_some() || !self.log.witnesses.is_empty()
    }
}

impl LogArgs {
    /// The client these flags describe (`--log-key` and `--witness`; a
    /// `--log-pin` needs the group: [`LogArgs::client_for`]).
    pub fn client(&self) -> anyhow::Result<LogClient> {
        if self.log_pin.is_some() {
            return Err(fail(
                "--log-pin is checked against a custody group, and this command has none",
                "pass --log-key (and --witness) instead",
            ));
        }
        let key = self.log_key.as_deref().unwrap_or_default();
        self.build(key, &self.witnesses, self.witnesses_required)
    }

    /// The client for `group`'s footage: with `--log-pin`, the log and
    /// witnesses k of its custodians signed (and `--log-key`, if given,
    /// must be that log); otherwise as [`LogArgs::client`].
    pub fn client_for(&self, group: &PinnedGroup) -> anyhow::Result<LogClient> {
        let Some(path) = &self.log_pin else {
            return self.client();
        };
        let pin = files::parse(
            path,
            "--log-pin",
            "the custodians' log pin (from `obhut custody pin-log`)",
            LogPin::from_bytes,
        )?;
        let (have, k) = (pin.signers().count(), usize::from(group.threshold()));
        if have < k {
            return Err(fail(
                format!(
                    "--log-pin {}: {have} of the {k} custodians' signatures it needs",
                    path.display()
                ),
                "more custodians of --group must sign it (obhut custody pin-log) before it is in force",
            ));
        }
        let c = pin.verify(group).map_err(|e| {
            fail(
                format!("--log-pin {}: {e}", path.display()),
                "k custodians of --group must sign it (obhut custody pin-log)",
            )
        })?;
        if let Some(k) = &self.log_key
            && *k != c.log_key
        {
            return Err(fail(
                format!(
                    "--log-key {k} is not the log the custodians pinned ({})",
                    c.log_key
                ),
                "drop --log-key: the pin names the log; a vault offering another log is not to be trusted",
            ));
        }
        if !self.witnesses.is_empty() || self.witnesses_required.is_some() {
            return Err(fail(
                "--witness and --witnesses-required cannot be combined with --log-pin",
                "the pin names the witnesses and how many must cosign",
            ));
        }
        self.build(
            &c.log_key,
            &c.witnesses,
            Some(usize::from(c.witnesses_required)),
        )
    }

    fn build(
        &self,
        log_key: &str,
        witnesses: &[String],
        required: Option<usize>,
    ) -> anyhow::Result<LogClient> {
        let a = self;
        let vkey = VerifierKey::parse(log_key).map_err(|e| {
            fail(
                format!("--log-key {log_key:?} is not a signed-note verifier key: {e}"),
                "pass the vkey your organisation pinned (name+8 hex+base64)",
            )
        })?;
        let witnesses = witnesses
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
            let n = required.unwrap_or(witnesses.len());
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
