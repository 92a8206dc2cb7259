//! What `obhut agent`, `obhut enrol`, `obhut ingest` and `obhut demo`
//! share: the device's state directory ([`StateArgs`]), what to do with
//! originals ([`AfterArgs`]), ingesting a file with a progress bar
//! ([`ingest_file`]) and the agent's errors with a next step
//! ([`agent_error`], [`enrol_error`]).

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use obhut_agent::Error as AgentError;
use obhut_agent::ingest::{AfterIngest, Agent, IngestOptions, Outcome, Progress};
use obhut_agent::state;
use obhut_core::ids::RecordingId;

use super::hint::{fail, with_next_step};
use super::{Global, progress};

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
        match &self.state {
            Some(p) => Ok(p.clone()),
            None => state::default_dir().ok_or_else(|| {
                fail(
                    "no state directory: neither --state, OBHUT_STATE, XDG_STATE_HOME nor HOME is set",
                    "pass --state DIR",
                )
            }),
        }
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

/// An enrolment error with the next step (`obhut enrol`, `obhut demo`).
pub fn enrol_error(e: AgentError) -> anyhow::Error {
    match e {
        AgentError::GroupMismatch { .. } => fail(
            e,
            "do not ingest to this vault: it is not offering the custody group you expect. Check --vault and compare --group-fingerprint with `obhut custody show` from the custodians",
        ),
        AgentError::GroupNotPinned(_) => fail(
            e,
            "the custodians must sign the descriptor (`obhut custody sign`) and the vault admin upload the signed one",
        ),
        AgentError::AlreadyEnrolled { .. } => fail(
            e,
            "use another --state directory, or remove this one to enrol again",
        ),
        other => agent_error(other),
    }
}

/// Progress on a bar, each segment as a detail line.
struct Bar<'g> {
    bar: ProgressBar,
    g: &'g Global,
}

impl Progress for Bar<'_> {
    fn start(&self, source: &Path, recording: RecordingId, segments: usize, bytes: u64, done: u64) {
        self.bar.set_length(bytes);
        self.bar.set_position(done);
        self.bar.set_message(
            source
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        self.bar.suspend(|| {
            self.g.detail(format!(
                "{}: recording {recording}, {segments} segment(s)",
                source.display()
            ))
        });
    }
    fn bytes(&self, n: u64) {
        self.bar.inc(n);
    }
    fn segment(&self, index: u32, of: usize, already: bool) {
        self.bar.suspend(|| {
            self.g.detail(format!(
                "  segment {index} of {of} stored, receipt verified{}",
                if already {
                    " (the vault already had it)"
                } else {
                    ""
                }
            ))
        });
    }
    fn note(&self, msg: &str) {
        self.bar.suspend(|| self.g.note(msg));
    }
}

/// Ingest one file with a progress bar (on a terminal, without --quiet):
/// the agent cuts, seals, uploads and verifies every receipt under the
/// vault key pinned at enrolment before it returns.
pub fn ingest_file(
    g: &Global,
    agent: &mut Agent<'_>,
    file: &Path,
    opts: &IngestOptions,
) -> anyhow::Result<Outcome> {
    let p = Bar {
        bar: progress::bytes(g, 0, "ingest"),
        g,
    };
    let o = agent
        .ingest(file, opts, &p)
        .map_err(|e| agent_error(e).context(format!("cannot ingest {}", file.display())))?;
    p.bar.finish_and_clear();
    Ok(o)
}
