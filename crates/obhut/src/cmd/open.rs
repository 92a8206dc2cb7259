//! `obhut open`: the requester's last step at a vault (docs/access.md §2
//! steps 3–4). Ask the vault to release, prove the release is logged,
//! combine k partials with the epoch parts, and decrypt exactly the
//! approved scope (`obhut_client::open`); here are the flags and the files.

use std::path::PathBuf;

use obhut_client::access::AccessClient;
use obhut_client::clip::FileLayout;
use obhut_client::reader::Reader;

use crate::util::logclient::LogArgs;
use crate::util::{Global, keys, load, open};

/// Open the approved scope of your request.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
As the requester: once k custodians approved your request, ask the vault to
release it, check the release is in the audit log, and decrypt the approved
scope into --out DIR.

For each recording in scope, DIR/<recording>.mp4 is a clean clip of the
approved window (--layout clip, the default): a playable MP4 of the video
from the keyframe at or before the window's start to the keyframe at or
after its end, with the sound of that span, times starting at 0, remuxed
without re-encoding. It leaves out the sealed footage, tracks other than
video and sound (metadata, subtitle, timecode tracks) and per-sample tables
it cannot carry over (sample groups). Progressive and fragmented MP4s
both give a progressive clip. A recording that is not an MP4 with video
is written as with --layout original, and a note says so. Built with the
default feature c2pa, each clip carries Content Credentials (a C2PA manifest: the device, the recording,
the signed segments it was cut from, the grant and the log checkpoint)
for C2PA tools, signed by a key made for that clip alone: they show the
clip unchanged since, not who made it (docs/access.md §3.1).

--layout original writes DIR/<recording>.media laid out like the original
file: every segment in scope at its original offset, and zeros where
segments stay sealed, with a `free` box header over a sealed start so that
a player reading the container index plays the scope (e.g. `ffmpeg -ss 10
-i DIR/<recording>.media …`); a request for a whole recording gives a
byte-identical copy of the original (with --include-metadata, below).

An MP4's descriptive metadata (`udta`/`meta` boxes, GPS, subtitle and
other metadata tracks) is blanked in every segment and comes back only
with a request made with --include-metadata. A metadata sidecar in scope
goes to DIR/<recording>.metadata.

--range START-END (with a single recording in scope) decrypts only bytes
[START, END) of the recording, fetching and decrypting only the 64 KiB
chunks that cover them, into DIR/<recording>.range (the metadata in place
only with --include-metadata, as above).

Example:
  obhut open 3f2a… --vault http://127.0.0.1:8700 --log-key VKEY \\
      --identity req.key --group custody/group.obgd --out clip/")]
pub struct Args {
    /// The request hash (64 hex digits, printed by `obhut request`).
    request: String,
    #[command(flatten)]
    log: LogArgs,
    /// Your locked identity: the one that signed the request.
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// The custody group descriptor (pinned).
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
    /// Directory to write the opened footage to (created).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Only bytes START..END (END exclusive) of the recording.
    #[arg(long, value_name = "START-END", value_parser = crate::util::request::parse_range)]
    range: Option<(u64, Option<u64>)>,
    /// clip: a playable MP4 of the window, DIR/<recording>.mp4; original:
    /// the original's offsets with zeros where sealed, DIR/<recording>.media
    /// (for experts, and byte-for-byte comparison). Not used with --range.
    #[arg(long, value_enum, default_value = "clip")]
    layout: LayoutArg,
}

/// `--layout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LayoutArg {
    Clip,
    Original,
}

/// Run `obhut open`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let group = load::pinned_group(&a.group, "--group")?;
    let log = a.log.client_for(&group)?;
    let me = keys::person(g, &a.identity, "--identity")?;
    let client = AccessClient::new(Reader::new(&a.log.vault, log.vault_identity(), &me.sign));
    let grant = obhut_client::open::open_as(&client, &log, &a.request, &group, &me)
        .map_err(load::other_group)?;
    // Shown even with --quiet: someone on the path handed over a bad partial.
    for r in grant.rejected_partials() {
        eprintln!("warning: {r}");
    }
    let layout = match a.layout {
        LayoutArg::Clip => FileLayout::Clip,
        LayoutArg::Original => FileLayout::Original,
    };
    let o = open::write_grant(g, &client, &log, &grant, &a.out, a.range, layout)?;
    g.note(format!(
        "opened {} segment(s) to {} (release logged, inclusion verified; opening logged as entry #{}, inclusion verified); {} segment(s) outside the request stay sealed",
        o.opened,
        a.out.display(),
        o.opened_entry,
        grant.sealed()
    ));
    for c in &o.clips {
        g.note(format!(
            "{}/{}.mp4: a clean clip of {} to {} of the recording (from the keyframe at or before the window to the one after it)",
            a.out.display(),
            c.recording,
            secs(c.start_ms),
            secs(c.end_ms)
        ));
    }
    for (rec, why) in &o.originals {
        g.note(format!(
            "{}/{rec}.media: written in the original layout, no clip could be made ({why})",
            a.out.display()
        ));
    }
    for rec in grant.resolved.iter().filter(|r| !r.finished) {
        g.note(format!(
            "recording {} has no final segment (still recording, or the camera stopped): these are its segments so far",
            rec.recording
        ));
    }
    Ok(())
}

/// Milliseconds as seconds with three decimals (`12.345 s`).
fn secs(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}
