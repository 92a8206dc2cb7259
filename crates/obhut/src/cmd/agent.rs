//! `obhut agent`: watch a dock directory and ingest every MP4 that settles.

use std::path::PathBuf;
use std::time::Duration;

use obhut_agent::dock::{Dock, Event};
use obhut_agent::ingest::{Agent, Progress};
use obhut_agent::state::StateDir;
use obhut_agent::watch::Watcher;

use crate::util::agent::{AfterArgs, StateArgs, agent_error};
use crate::util::hint::fail;
use crate::util::{Global, keys};

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
    let mut dock = Dock::new(Watcher::new(
        &a.watch,
        &["mp4", "mov", "m4v"],
        &sidecar,
        Duration::from_secs(a.settle),
    ));
    g.note(format!(
        "watching {} (settle {} s); vault {}",
        a.watch.display(),
        a.settle,
        enrolment.vault_url
    ));
    let progress = Lines(g);
    loop {
        let pending = dock
            .pass(&mut agent, &opts, &progress, |event| match event {
                Event::Ingested { path, outcome: o } => g.note(format!(
                    "{}: recording {} complete ({} segments, {} uploaded now), original {}",
                    path.display(),
                    o.recording,
                    o.segments,
                    o.uploaded,
                    o.disposed
                )),
                Event::Failed {
                    path,
                    error,
                    retry_in,
                } => eprintln!(
                    "error: {}: {error} (retrying in {} s)",
                    path.display(),
                    retry_in.as_secs()
                ),
                _ => {}
            })
            .map_err(agent_error)?;
        if a.once && !pending && dock.is_idle() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(a.poll.max(1)));
    }
}
