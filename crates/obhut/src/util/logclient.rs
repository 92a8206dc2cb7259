//! A client of the vault's audit log (docs/log.md §What clients store):
//! keeps the last checkpoint it accepted in a state file and moves forward
//! only along consistency proofs, so a rewritten or dropped entry, a
//! rollback or a fork between clients is caught. Custodians, requesters
//! and `obhut audit` use it.

use std::path::{Path, PathBuf};

use obhut_api::log::ProofResponse;
use obhut_log::client::ClientError;
use obhut_log::{Hash, TrustedLog, TrustedState, VerifierKey, WitnessPolicy};

use super::hint::fail;
use super::reader::get_plain;

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
        Ok(LogClient::new(&a.vault, vkey, policy, state))
    }
}

/// One log as this client trusts it, and where its state lives.
#[derive(Debug)]
pub struct LogClient {
    base: String,
    trusted: TrustedLog,
    state_path: PathBuf,
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

impl LogClient {
    /// A client of the log at `base_url` whose checkpoints `log_key`
    /// signs (its name is the origin), with `policy` for witnesses.
    pub fn new(
        base_url: &str,
        log_key: VerifierKey,
        policy: WitnessPolicy,
        state_path: PathBuf,
    ) -> Self {
        let origin = log_key.name().to_owned();
        LogClient {
            base: base_url.trim_end_matches('/').to_owned(),
            trusted: TrustedLog::new(&origin, log_key, policy),
            state_path,
        }
    }

    /// The state file.
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }

    fn get(&self, path: &str) -> anyhow::Result<String> {
        let (status, body) = get_plain(&format!("{}{path}", self.base))?;
        if status != 200 {
            return Err(fail(
                format!("GET {path}: the vault answered {status}: {}", body.trim()),
                "check the vault URL; the log may still be empty",
            ));
        }
        Ok(body)
    }

    /// The stored state, re-verified (a state file edited by hand is
    /// refused, not trusted).
    pub fn load_state(&self) -> anyhow::Result<Option<TrustedState>> {
        let bytes = match std::fs::read(&self.state_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(fail(
                    format!("reading {}: {e}", self.state_path.display()),
                    "check the permissions of the state file (--state)",
                ));
            }
        };
        let sc = self.trusted.verify_checkpoint(&bytes).map_err(|e| {
            fail(
                format!("the stored checkpoint {} does not verify: {e}", self.state_path.display()),
                "the state file belongs to another log or was altered; pass the right --log-key or --state",
            )
        })?;
        Ok(Some(TrustedState {
            size: sc.checkpoint.size,
            root: sc.checkpoint.root,
            checkpoint: bytes,
        }))
    }

    fn save(&self, s: &TrustedState) -> anyhow::Result<()> {
        if let Some(dir) = self.state_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                fail(
                    format!("creating {}: {e}", dir.display()),
                    "pass --state FILE in a writable directory",
                )
            })?;
        }
        super::files::write(
            &self.state_path,
            &s.checkpoint,
            "--state",
            true,
            super::files::Mode::Public,
        )
    }

    /// An RFC 9162 proof from the vault.
    pub fn proof(&self, kind: &str, index: u64, size: u64) -> anyhow::Result<Vec<Hash>> {
        let key = if kind == "inclusion" { "index" } else { "old" };
        let path = format!("/v1/log/proof/{kind}?{key}={index}&size={size}");
        let body = self.get(&path)?;
        let p: ProofResponse = serde_json::from_str(&body).map_err(|e| {
            fail(
                format!("GET {path}: not the documented JSON ({e})"),
                "check the vault URL",
            )
        })?;
        p.proof
            .iter()
            .map(|h| {
                Hash::from_base64(h).ok_or_else(|| {
                    fail(
                        format!("GET {path}: a proof hash is not base64 of 32 bytes"),
                        "the vault is misbehaving; report it",
                    )
                })
            })
            .collect()
    }

    /// Fetch the vault's latest checkpoint and accept it only if it is
    /// signed by the pinned key (and enough witnesses) and consistent with
    /// the stored one; store it. Returns (previous, new).
    pub fn update(&self) -> anyhow::Result<(Option<TrustedState>, TrustedState)> {
        let prev = self.load_state()?;
        let note = self.get("/v1/log/checkpoint")?;
        let sc = self
            .trusted
            .verify_checkpoint(note.as_bytes())
            .map_err(|e| attack(&e, None, &note))?;
        let proof = match &prev {
            Some(p) if p.size > 0 && p.size < sc.checkpoint.size => {
                self.proof("consistency", p.size, sc.checkpoint.size)?
            }
            _ => Vec::new(),
        };
        let next = self
            .trusted
            .update(prev.as_ref(), note.as_bytes(), &proof)
            .map_err(|e| attack(&e, prev.as_ref(), &note))?;
        self.save(&next)?;
        Ok((prev, next))
    }
}

/// An update refused: say what it means and keep both notes as evidence.
fn attack(e: &ClientError, prev: Option<&TrustedState>, got: &str) -> anyhow::Error {
    let evidence = prev
        .map(|p| {
            format!(
                "\n--- checkpoint stored earlier ---\n{}--- checkpoint the vault presents now ---\n{got}",
                String::from_utf8_lossy(&p.checkpoint)
            )
        })
        .unwrap_or_default();
    let next = match e {
        ClientError::Rollback { .. }
        | ClientError::Fork { .. }
        | ClientError::Inconsistent { .. } => {
            "do not approve or release anything; keep both checkpoints above (two signed, inconsistent checkpoints prove the vault misbehaved) and tell your data-protection officer"
        }
        ClientError::NotSignedByLog { .. } | ClientError::WrongOrigin { .. } => {
            "check --log-key is the vkey your organisation pinned for this vault; if it is, the answer did not come from the vault's log"
        }
        ClientError::NotEnoughWitnesses { .. } => {
            "the checkpoint lacks the witness cosignatures your policy requires; check the witnesses are running and followed by the vault"
        }
        _ => "the vault is misbehaving or damaged; keep this output and report it",
    };
    fail(format!("the audit log check failed: {e}{evidence}"), next)
}
