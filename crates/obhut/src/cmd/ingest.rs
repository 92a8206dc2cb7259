//! `obhut ingest`: take files into custody at the enrolled vault now.

use std::path::PathBuf;

use obhut_agent::ingest::Agent;
use obhut_agent::state::StateDir;

use crate::util::agent::{AfterArgs, StateArgs, agent_error, ingest_file};
use crate::util::{Global, keys};

/// Seal and upload files to the enrolled vault, resuming earlier attempts.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Take each FILE into custody at the vault this device is enrolled with
(`obhut enrol`): cut it at keyframes (an MP4's index as its own segment),
seal every segment to the pinned custody group and the vault's retention
epoch straight into its upload (never the whole file in memory), and keep
each receipt. A sidecar beside the file (clip.json for clip.mp4: officer,
GPS, tags) is sealed as the recording's metadata segment, the final one.

Progress is journaled in the state directory: after a broken connection, a
killed process or a restarted vault, running the same command again resumes
from the vault's head without duplicate or missing segments.

With --after delete or --after move, the original (and its sidecar) goes
only once every segment has a receipt verifying under the vault key pinned
at enrolment. Prints each recording id.

Example:
  obhut ingest --after move clip.mp4")]
pub struct Args {
    /// Files to ingest.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    after: AfterArgs,
    #[command(flatten)]
    state: StateArgs,
}

/// Run `obhut ingest`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let state = StateDir::open_locked(a.state.path()?).map_err(agent_error)?;
    let enrolment = state.enrolment().map_err(agent_error)?;
    let device = keys::device(g, &enrolment.device_key, "the enrolled device key")?;
    let mut agent = Agent::new(&state, &device.sign).map_err(agent_error)?;
    for f in &a.files {
        let dir = f
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        let opts = a.after.options(&dir);
        let o = ingest_file(g, &mut agent, f, &opts)?;
        g.note(format!(
            "{}: {} segment(s) stored at {} ({} uploaded now), every receipt verified; original {}",
            f.display(),
            o.segments,
            enrolment.vault_url,
            o.uploaded,
            o.disposed
        ));
        println!("{}", o.recording);
    }
    Ok(())
}
