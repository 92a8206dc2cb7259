//! `obhut seal`: the device's role. Cut a file into byte-range segments,
//! seal each to the pinned custody group and the retention epoch, and sign
//! the chain of segment records (docs/format.md §6.4, §7).

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::epoch::EpochPublic;
use obhut_core::ids::RecordingId;
use obhut_core::record::SegmentRecord;
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::stream::MAX_PLAINTEXT_LEN;

use crate::util::files;
use crate::util::hint::{HintExt, fail};
use crate::util::recording::{self, GROUP_COPY};
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

Media times: with --duration-ms D, segment times are apportioned linearly by
byte offset over [0, D). Without it every segment gets media time 0..0, an
instant at the recording's start: a request whose range starts at 0 (the
default: the whole recording) covers all of them, and no narrower time
range can tell them apart. Pass --duration-ms for footage you will want to
open by time range. (Keyframe-accurate MP4 cutting, with the moov box as its
own segment, comes with the ingest agent.)

--metadata FILE seals a sidecar (e.g. JSON: officer, GPS track) as a
metadata segment after the media; a request opens it only with
--include-metadata.

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

/// One planned segment: which bytes, which media time.
#[derive(Debug, Clone, Copy)]
struct Plan {
    len: u64,
    media_start_ms: u64,
    media_end_ms: u64,
}

/// Cut `total` bytes into segments of `seg` bytes, apportioning `duration`
/// linearly by byte offset.
fn plan(total: u64, seg: u64, duration: Option<u64>) -> Vec<Plan> {
    let count = total.div_ceil(seg).max(1);
    let d = duration.unwrap_or(0);
    let at = |offset: u64| -> u64 {
        if total == 0 {
            return 0;
        }
        // offset ≤ total, so the quotient is ≤ d and fits in u64.
        (u128::from(offset) * u128::from(d) / u128::from(total)) as u64
    };
    (0..count)
        .map(|i| {
            let start = i * seg;
            let end = (start + seg).min(total);
            Plan {
                len: end - start,
                media_start_ms: at(start),
                media_end_ms: if i + 1 == count { d } else { at(end) },
            }
        })
        .collect()
}

/// Writes each sealed segment as a blob and a record file in `dir`.
struct Sealer<'a> {
    inner: RecordingSealer<'a>,
    dir: &'a Path,
}

impl Sealer<'_> {
    /// Seal the next segment (docs/format.md §6.4; the core draws fresh r
    /// and b and zeroizes every per-segment secret), write its blob, check
    /// the length read, then sign and write its record. Blob before record.
    fn seal(
        &mut self,
        kind: SegmentKind,
        p: &Plan,
        capture_utc_ms: i64,
        reader: impl Read,
        is_final: bool,
    ) -> anyhow::Result<SegmentRecord> {
        let index = self.inner.next_index();
        let spec = SegmentSpec {
            kind,
            media_start_ms: p.media_start_ms,
            media_end_ms: p.media_end_ms,
            capture_utc_ms,
            is_final,
        };
        let blob_path = self.dir.join(recording::blob_name(index));
        let ctx_msg = || format!("cannot write {}", blob_path.display());
        let blob = File::create_new(&blob_path).hint(ctx_msg(), "check --out")?;
        let mut w = BufWriter::with_capacity(1 << 20, blob);
        let sealed = self
            .inner
            .seal_at(index, spec, reader, &mut w, &mut os_rng())
            .hint(
                format!("cannot seal segment {index}"),
                "check the input file and --out",
            )?;
        let blob = w
            .into_inner()
            .map_err(|e| e.into_error())
            .hint(ctx_msg(), "check --out")?;
        blob.sync_all().hint(ctx_msg(), "check --out")?;
        if sealed.plaintext_len != p.len {
            return Err(fail(
                format!(
                    "segment {index}: read {} bytes, expected {}; the input changed while being sealed",
                    sealed.plaintext_len, p.len
                ),
                "seal a file that is not being written to",
            ));
        }
        let rec = self
            .inner
            .sign_next(&sealed, is_final)
            .next_step("this is a bug in obhut; please report it")?;
        let rec_path = self.dir.join(recording::record_name(index));
        let mut f = File::create_new(&rec_path).hint(
            format!("cannot write {}", rec_path.display()),
            "check --out",
        )?;
        f.write_all(&rec.to_bytes())
            .and_then(|()| f.sync_all())
            .hint(
                format!("cannot write {}", rec_path.display()),
                "check --out",
            )?;
        Ok(rec)
    }
}

/// `--out` must be new or an empty directory.
fn check_out_dir(out: &Path) -> anyhow::Result<()> {
    match fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(fail(
                    format!("{} (given as --out) exists and is not empty", out.display()),
                    "choose a new directory for --out; each recording gets its own",
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).hint(
            format!("cannot use {} (given as --out)", out.display()),
            "--out takes a new (or empty) directory",
        ),
    }
}

/// Run `obhut seal`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    check_out_dir(&a.out)?;
    let group = load::pinned_group(&a.group, "--group")?;
    let epoch = files::parse(
        &a.epoch,
        "--epoch",
        "a retention-epoch public key (PATH.pub from `obhut keygen epoch --out PATH`)",
        EpochPublic::from_bytes,
    )?;
    let input = File::open(&a.file).hint(
        format!("cannot open {}", a.file.display()),
        "check the FILE argument",
    )?;
    let total = input
        .metadata()
        .hint(
            format!("cannot read {}", a.file.display()),
            "check the FILE argument",
        )?
        .len();
    let meta = match &a.metadata {
        Some(p) => {
            let f =
                File::open(p).hint(format!("cannot open {}", p.display()), "check --metadata")?;
            let len = f
                .metadata()
                .hint(format!("cannot read {}", p.display()), "check --metadata")?
                .len();
            if len > MAX_PLAINTEXT_LEN {
                return Err(fail(
                    format!("{} is too large", p.display()),
                    "check --metadata",
                ));
            }
            Some((f, len))
        }
        None => None,
    };
    let plans = plan(total, a.segment_bytes, a.duration_ms);
    let media_count = plans.len();
    let count = media_count + usize::from(meta.is_some());
    if u32::try_from(count).is_err() {
        return Err(fail(
            format!("{count} segments: a recording has at most 2^32"),
            "raise --segment-bytes",
        ));
    }
    let captured_at = a.captured_at.unwrap_or_else(time::now_ms);
    let capture_of = |p: &Plan| -> anyhow::Result<i64> {
        i64::try_from(p.media_start_ms)
            .ok()
            .and_then(|m| captured_at.checked_add(m))
            .ok_or_else(|| {
                fail(
                    "capture time out of range",
                    "check --captured-at and --duration-ms",
                )
            })
    };
    for (i, p) in plans.iter().enumerate() {
        let t = capture_of(p)?;
        if t < epoch.not_before || t >= epoch.not_after {
            return Err(fail(
                format!(
                    "segment {i} is captured at {}, outside the epoch of {} ({}: captures in [{}, {}))",
                    time::show(t),
                    a.epoch.display(),
                    epoch.retention_class,
                    time::show(epoch.not_before),
                    time::show(epoch.not_after)
                ),
                "pass the epoch key for that period as --epoch, or the real capture time as --captured-at",
            ));
        }
    }
    let device = keys::device(g, &a.device, "--device")?;

    // Seal into a hidden sibling directory and rename it to --out at the
    // end, so a failure leaves no half-written recording behind.
    let parent = match a.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)
        .hint(format!("cannot create {}", parent.display()), "check --out")?;
    let staging = tempfile::Builder::new()
        .prefix(".obhut-seal-")
        .tempdir_in(&parent)
        .hint(
            format!("cannot create a directory in {}", parent.display()),
            "check that the parent of --out is writable",
        )?;
    let recording_id = RecordingId::random(&mut os_rng());
    let mut sealer = Sealer {
        inner: RecordingSealer::new(&device.sign, &group, &epoch, recording_id),
        dir: staging.path(),
    };
    let bar = progress::bytes(g, total + meta.as_ref().map_or(0, |m| m.1), "sealing");
    let mut reader = bar.wrap_read(input);
    if a.duration_ms.is_none() {
        g.note("warning: no --duration-ms: segments get media time 0..0: only a whole-recording request (range starting at 0) selects them (see `obhut seal --help`)");
    }
    for (i, p) in plans.iter().enumerate() {
        let is_final = i + 1 == media_count && meta.is_none();
        let rec = sealer.seal(
            SegmentKind::Media,
            p,
            capture_of(p)?,
            (&mut reader).take(p.len),
            is_final,
        )?;
        bar.suspend(|| g.detail(recording::describe(&rec)));
    }
    if let Some((f, len)) = meta {
        let p = Plan {
            len,
            media_start_ms: 0,
            media_end_ms: a.duration_ms.unwrap_or(0),
        };
        let rec = sealer.seal(
            SegmentKind::Metadata,
            &p,
            captured_at,
            bar.wrap_read(f),
            true,
        )?;
        bar.suspend(|| g.detail(recording::describe(&rec)));
    }
    bar.finish_and_clear();
    drop(device);
    files::write(
        &staging.path().join(GROUP_COPY),
        &group.to_bytes(),
        "--out",
        false,
        files::Mode::Public,
    )?;
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(staging.path(), fs::Permissions::from_mode(0o755)).hint(
            "cannot set the permissions of the recording directory",
            "check --out",
        )?;
    }
    files::sync_dir(staging.path()).hint("cannot sync the recording directory", "check --out")?;
    if a.out.is_dir() {
        // Checked empty above; an empty directory can be replaced.
        fs::remove_dir(&a.out).hint(
            format!("cannot replace the empty directory {}", a.out.display()),
            "remove it, or choose another --out",
        )?;
    }
    let staged = staging.keep();
    if let Err(e) = fs::rename(&staged, &a.out) {
        let _ = fs::remove_dir_all(&staged);
        return Err(e).hint(
            format!("cannot move the sealed recording to {}", a.out.display()),
            "check --out",
        );
    }
    files::sync_dir(&parent).hint("cannot sync the parent of --out", "check --out")?;

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

    #[test]
    fn plans_cover_the_file_and_the_duration() {
        let p = plan(10, 4, Some(1000));
        assert_eq!(p.iter().map(|p| p.len).collect::<Vec<_>>(), [4, 4, 2]);
        assert_eq!(p[0].media_start_ms, 0);
        assert_eq!(p[0].media_end_ms, 400);
        assert_eq!(p[1].media_start_ms, 400);
        assert_eq!(p[2].media_end_ms, 1000);
        for w in p.windows(2) {
            assert_eq!(w[0].media_end_ms, w[1].media_start_ms);
        }
        let empty = plan(0, 4, None);
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].len, 0);
        assert_eq!((empty[0].media_start_ms, empty[0].media_end_ms), (0, 0));
        assert_eq!(plan(8, 4, None).len(), 2);
    }
}
