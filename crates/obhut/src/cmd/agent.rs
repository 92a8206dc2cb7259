//! `obhut agent`: watch a dock directory and ingest every MP4 that settles;
//! and the helpers `enrol` and `ingest` share (state directory, errors).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use obhut_agent::Error as AgentError;
use obhut_agent::ingest::{AfterIngest, Agent, IngestOptions, Progress};
use obhut_agent::state::StateDir;
use obhut_agent::watch::Watcher;

use crate::util::hint::{fail, with_next_step};
use crate::util::{Global, keys};

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

/// Watch a dock directory and ingest every MP4 once it settles.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Watch DIR (a bodycam dock drops MP4s there) and take every MP4 into custody
once it is stable: its size and modification time, and its sidecar's
(clip.json beside clip.mp4: officer, GPS, tags — sealed as the recording's
metadata segment), unchanged for --settle seconds. Each file is cut at
keyframes, sealed segment by segment straight into the upload, and its
progress journaled in the state directory, so a restarted agent (or vault)
resumes without duplicate or missing segments. With --after delete or move,
an original goes only once every segment has a receipt that verifies under
the vault key pinned at enrolment.

Runs until interrupted. Unlocks the device key once at start (passphrase
from --passphrase-file, OBHUT_PASSPHRASE, or the terminal).

Example:
  obhut agent --watch /srv/dock --after move --settle 10")]
pub struct WatchArgs {
    /// The directory to watch.
    #[arg(long, value_name = "DIR")]
    watch: PathBuf,
    /// Seconds a file must stay unchanged before it is ingested.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    settle: u64,
    /// Seconds between scans.
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    poll: u64,
    /// Stop after one pass that found nothing left to do (for scripts and tests).
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    after: AfterArgs,
    #[command(flatten)]
    state: StateArgs,
}

/// Progress as lines on stderr (the agent runs unattended).
struct Lines<'g>(&'g Global);
impl Progress for Lines<'_> {
    fn segment(&self, index: u32, of: usize, already: bool) {
        self.0.detail(format!(
            "  segment {index} of {of} stored{}",
            if already { " (already)" } else { "" }
        ));
    }
    fn note(&self, msg: &str) {
        self.0.note(msg);
    }
}

/// Run `obhut agent`.
pub fn run(g: &Global, a: &WatchArgs) -> anyhow::Result<()> {
    if !a.watch.is_dir() {
        return Err(fail(
            format!(
                "{} (given as --watch) is not a directory",
                a.watch.display()
            ),
            "--watch takes the directory the dock writes MP4s to",
        ));
    }
    let state = StateDir::open_locked(a.state.path()?).map_err(agent_error)?;
    let enrolment = state.enrolment().map_err(agent_error)?;
    let device = keys::device(g, &enrolment.device_key, "the enrolled device key")?;
    let mut agent = Agent::new(&state, &device.sign).map_err(agent_error)?;
    let opts = a.after.options(&a.watch);
    let sidecar = opts.sidecar_extension.clone();
    let mut watcher = Watcher::new(
        &a.watch,
        &["mp4", "mov", "m4v"],
        &sidecar,
        Duration::from_secs(a.settle),
    );
    // Files that failed permanently wait this long before another try.
    let mut retry_at: std::collections::HashMap<PathBuf, (Instant, Duration)> = Default::default();
    g.note(format!(
        "watching {} (settle {} s); vault {}",
        a.watch.display(),
        a.settle,
        enrolment.vault_url
    ));
    let progress = Lines(g);
    loop {
        let now = Instant::now();
        let ready = watcher.scan(now).map_err(agent_error)?;
        let mut pending = false;
        for p in ready {
            if retry_at.get(&p).is_some_and(|(t, _)| *t > now) {
                pending = true;
                continue;
            }
            match agent.ingest(&p, &opts, &progress) {
                Ok(o) => {
                    g.note(format!(
                        "{}: recording {} complete ({} segments, {} uploaded now), original {}",
                        p.display(),
                        o.recording,
                        o.segments,
                        o.uploaded,
                        o.disposed
                    ));
                    retry_at.remove(&p);
                    watcher.mark_done(&p);
                }
                Err(e) => {
                    pending = true;
                    let wait = retry_at.get(&p).map_or(Duration::from_secs(5), |(_, w)| {
                        (*w * 2).min(Duration::from_secs(300))
                    });
                    eprintln!(
                        "error: {}: {e} (retrying in {} s)",
                        p.display(),
                        wait.as_secs()
                    );
                    retry_at.insert(p.clone(), (Instant::now() + wait, wait));
                    watcher.forget(&p);
                }
            }
        }
        if a.once && !pending && watcher.is_idle() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(a.poll.max(1)));
    }
}
