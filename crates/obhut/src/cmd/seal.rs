//! `obhut seal`: the device's role. Flags, key loading, the progress bar
//! and the messages; cutting, sealing and writing the recording directory
//! are `obhut_agent::seal_dir`'s.

use std::path::PathBuf;

use indicatif::ProgressBar;
use obhut_agent::seal_dir::{self, Input, SealError, SealJob, SealOptions, SealProgress};
use obhut_core::epoch::EpochPublic;
use obhut_core::record::SegmentRecord;
use obhut_core::stream::MAX_PLAINTEXT_LEN;

use crate::util::files;
use crate::util::hint::{fail, with_hint, with_next_step};
use crate::util::recording;
use crate::util::{Global, keys, load, progress, time};

/// Seal a file as a recording (the device's role).
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Seal FILE as a recording, as a device does: cut it into byte-range segments
(4 MiB by default), seal each with a fresh key that needs both k custodians
(threshold part, to the pinned --group) and the vault's epoch key (epoch
part, to --epoch), and sign the chain of segment records with --device. The
last record is marked final. The device keeps no segment key afterwards.

Writes DIR/NNNNNN.seg (sealed blobs), DIR/NNNNNN.rec (signed records) and
DIR/group.obgd (the descriptor sealed to). DIR must not exist or be empty.
FILE is streamed, never read into memory whole. Prints the recording id.
Anyone can check DIR without keys (`obhut verify`).

Nothing opens DIR: key parts are released only against a request logged at
a vault, with k logged approvals. Footage that is to be opened is taken into
custody at a vault instead (`obhut enrol`, `obhut ingest`, which also cuts an
MP4 at keyframes).

Media times: with --duration-ms D, segment times are apportioned linearly by
byte offset over [0, D). Without it every segment gets media time 0..0, an
instant at the recording's start.

--metadata FILE seals a sidecar (e.g. JSON: officer, GPS track) as a
metadata segment after the media.

Example:
  obhut seal --device cam.key --group custody/group.obgd --epoch epoch.key.pub \\
      --duration-ms 20000 --metadata notes.json --out rec/ clip.mp4")]
pub struct Args {
    /// The file to seal.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The device's locked signing key (from `obhut keygen device`).
    #[arg(long, value_name = "KEY")]
    device: PathBuf,
    /// The custody group descriptor; must be pinned (signed by k custodians).
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
    /// The retention epoch's public key (PATH.pub from `obhut keygen epoch`).
    #[arg(long, value_name = "PUB")]
    epoch: PathBuf,
    /// Directory for the sealed recording (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// A sidecar file sealed as the recording's metadata segment.
    #[arg(long, value_name = "FILE")]
    metadata: Option<PathBuf>,
    /// Plaintext bytes per segment: a number, optionally with KiB, MiB or GiB.
    #[arg(long, value_name = "N", default_value = "4MiB", value_parser = parse_size)]
    segment_bytes: u64,
    /// Media duration of FILE in ms; segment times are apportioned by byte offset.
    #[arg(long, value_name = "MS")]
    duration_ms: Option<u64>,
    /// Capture time of the start of FILE (RFC 3339 or ms since 1970); default: now.
    #[arg(long, value_name = "TIME", value_parser = time::parse_instant, allow_hyphen_values = true)]
    captured_at: Option<i64>,
}

/// Parse a byte count with an optional binary suffix.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("`{s}` is not a size; write e.g. 65536, 512KiB, 4MiB or 1GiB");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "k" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        _ => return Err(bad()),
    };
    let v = n.checked_mul(mult).ok_or_else(bad)?;
    if v == 0 || v > MAX_PLAINTEXT_LEN {
        return Err(format!("`{s}`: a segment holds 1 byte to 256 TiB"));
    }
    Ok(v)
}

/// Progress on a bar (on a terminal, without --quiet), made once the
/// staging directory exists; each segment as a detail line.
struct Bar<'g> {
    g: &'g Global,
    bar: Option<ProgressBar>,
    no_duration: bool,
}

impl SealProgress for Bar<'_> {
    fn start(&mut self, total_bytes: u64) {
        self.bar = Some(progress::bytes(self.g, total_bytes, "sealing"));
        if self.no_duration {
            self.g.note("warning: no --duration-ms: every segment gets media time 0..0 (see `obhut seal --help`)");
        }
    }
    fn read(&mut self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
    fn sealed(&mut self, record: &SegmentRecord) {
        if let Some(b) = &self.bar {
            b.suspend(|| self.g.detail(recording::describe(record)));
        }
    }
    fn finished(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A sealing error in the words `obhut seal` has always used, with the
/// flag to change.
fn seal_error(a: &Args, e: SealError) -> anyhow::Error {
    let input_next = |input| match input {
        Input::Metadata => "check --metadata",
        _ => "check the FILE argument",
    };
    match e {
        SealError::OutNotEmpty { out } => fail(
            format!("{} (given as --out) exists and is not empty", out.display()),
            "choose a new directory for --out; each recording gets its own",
        ),
        SealError::OutUnusable { out, source } => with_hint(
            source,
            format!("cannot use {} (given as --out)", out.display()),
            "--out takes a new (or empty) directory",
        ),
        SealError::Open { input, .. } | SealError::Stat { input, .. } => {
            with_next_step(e, input_next(input))
        }
        SealError::MetadataTooLarge { .. } => with_next_step(e, "check --metadata"),
        SealError::SegmentBytes { .. } | SealError::TooManySegments { .. } => {
            with_next_step(e, "raise --segment-bytes")
        }
        SealError::CaptureOutOfRange => with_next_step(e, "check --captured-at and --duration-ms"),
        SealError::OutsideEpoch {
            index,
            captured_at_ms,
            class,
            not_before,
            not_after,
        } => fail(
            format!(
                "segment {index} is captured at {}, outside the epoch of {} ({class}: captures in [{}, {}))",
                time::show(captured_at_ms),
                a.epoch.display(),
                time::show(not_before),
                time::show(not_after)
            ),
            "pass the epoch key for that period as --epoch, or the real capture time as --captured-at",
        ),
        SealError::Staging { .. } => {
            with_next_step(e, "check that the parent of --out is writable")
        }
        SealError::Seal { .. } => with_next_step(e, "check the input file and --out"),
        SealError::InputChanged { .. } => {
            with_next_step(e, "seal a file that is not being written to")
        }
        SealError::Sign(core) => with_next_step(core, "this is a bug in obhut; please report it"),
        SealError::GroupCopy { path, source } => files::durable_error(source, &path, "--out"),
        SealError::ReplaceEmpty { .. } => with_next_step(e, "remove it, or choose another --out"),
        SealError::SyncParent { source, .. } => {
            with_hint(source, "cannot sync the parent of --out", "check --out")
        }
        _ => with_next_step(e, "check --out"),
    }
}

/// Run `obhut seal`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    seal_dir::check_out_dir(&a.out).map_err(|e| seal_error(a, e))?;
    let group = load::pinned_group(&a.group, "--group")?;
    let epoch = files::parse(
        &a.epoch,
        "--epoch",
        "a retention-epoch public key (PATH.pub from `obhut keygen epoch --out PATH`)",
        EpochPublic::from_bytes,
    )?;
    let opts = SealOptions {
        segment_bytes: a.segment_bytes,
        duration_ms: a.duration_ms,
        captured_at_ms: a.captured_at.unwrap_or_else(time::now_ms),
    };
    let job = SealJob::prepare(&group, &epoch, &a.file, a.metadata.as_deref(), opts)
        .map_err(|e| seal_error(a, e))?;
    let (total, count) = (job.media_bytes(), job.segment_count());
    let device = keys::device(g, &a.device, "--device")?;
    let mut bar = Bar {
        g,
        bar: None,
        no_duration: a.duration_ms.is_none(),
    };
    let recording_id = job
        .seal_into(&device.sign, &a.out, &mut bar)
        .map_err(|e| seal_error(a, e))?;
    drop(device);

    g.note(format!(
        "sealed {} ({total} bytes) into {count} segment(s) in {}, to custody group {} ({} of {}) and epoch {} ({})",
        a.file.display(),
        a.out.display(),
        group.group_id(),
        group.threshold(),
        group.size(),
        epoch.epoch_id,
        epoch.retention_class,
    ));
    g.note("the device kept no segment key; recording id:");
    println!("{recording_id}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4MiB").unwrap(), 4 << 20);
        assert_eq!(parse_size("65536").unwrap(), 65536);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert!(parse_size("0").is_err());
        assert!(parse_size("4 parsecs").is_err());
        assert!(parse_size("99999999999999999999").is_err());
    }
}
