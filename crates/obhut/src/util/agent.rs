//! What `obhut agent`, `obhut enrol` and `obhut ingest` share: the device's
//! state directory ([`StateArgs`]), what to do with originals
//! ([`AfterArgs`]) and the agent's errors with a next step
//! ([`agent_error`]).

use std::path::PathBuf;

use obhut_agent::Error as AgentError;
use obhut_agent::ingest::{AfterIngest, IngestOptions};

use super::hint::{fail, with_next_step};

/// Where the device's state lives.
#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// The device's state directory (default: $OBHUT_STATE, else
    /// $XDG_STATE_HOME/obhut, else ~/.local/state/obhut).
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
}

impl StateArgs {
    /// The directory to use.
    pub fn path(&self) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.state {
            return Ok(p.clone());
        }
        if let Some(p) = std::env::var_os("OBHUT_STATE") {
            return Ok(PathBuf::from(p));
        }
        if let Some(p) = std::env::var_os("XDG_STATE_HOME") {
            return Ok(PathBuf::from(p).join("obhut"));
        }
        if let Some(h) = std::env::var_os("HOME") {
            return Ok(PathBuf::from(h).join(".local/state/obhut"));
        }
        Err(fail(
            "no state directory: neither --state, OBHUT_STATE, XDG_STATE_HOME nor HOME is set",
            "pass --state DIR",
        ))
    }
}

/// What to do with originals after verified receipts.
#[derive(Debug, Clone, clap::Args)]
pub struct AfterArgs {
    /// After every segment has a verified receipt: delete the original
    /// (and its sidecar), move it to --done-dir, or keep it.
    #[arg(long, value_name = "WHAT", value_enum, default_value = "keep")]
    after: After,
    /// Directory for --after move (default: done/ beside the original).
    #[arg(long, value_name = "DIR")]
    done_dir: Option<PathBuf>,
    /// Media time per segment the MP4 cutter aims for, in ms.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    segment_ms: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum After {
    Delete,
    Move,
    Keep,
}

impl AfterArgs {
    /// Ingest options for a file in `dir`.
    pub fn options(&self, dir: &std::path::Path) -> IngestOptions {
        let after = match self.after {
            After::Delete => AfterIngest::Delete,
            After::Keep => AfterIngest::Keep,
            After::Move => {
                AfterIngest::MoveTo(self.done_dir.clone().unwrap_or_else(|| dir.join("done")))
            }
        };
        let mut o = IngestOptions {
            after,
            ..IngestOptions::default()
        };
        o.cut.target_segment_ms = self.segment_ms.max(1);
        o
    }
}

/// An agent error with the next step.
pub fn agent_error(e: AgentError) -> anyhow::Error {
    let next = match &e {
        AgentError::NotEnrolled { .. } => "run `obhut enrol` first (with the same --state)",
        AgentError::Transport { .. } => {
            "check the vault URL and the network; ingest resumes where it stopped"
        }
        AgentError::Vault {
            status: 401 | 403, ..
        } => "the vault does not accept this device: check it is enrolled and not revoked",
        AgentError::VaultDiverged { .. } => {
            "do not delete the original; report this to the vault's operator"
        }
        AgentError::NoEpoch { .. } => {
            "ask the vault's operator to create the retention epoch for this period"
        }
        AgentError::SourceChanged { .. } => "ingest only files the camera has finished writing",
        AgentError::Io { .. } => "check the path and permissions",
        _ => "run again with -v for details; ingest resumes where it stopped",
    };
    with_next_step(e, next)
}
