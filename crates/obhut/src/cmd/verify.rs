//! `obhut verify`: check a recording without keys (docs/format.md §7.2) and
//! print a report per segment; fail naming the first bad segment.

use std::path::PathBuf;

use obhut_client::verify::{Problem, check_dir};
use obhut_core::kem::GroupKey;

use crate::util::hint::{HintExt, fail};
use crate::util::recording::{self, GROUP_COPY};
use crate::util::{Global, files, load};

/// Check a sealed recording without keys.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Check a sealed recording without any key: every record's device signature,
one recording and device throughout, the hash chain from segment 0 to the
last, the final flag on the last segment only (else the recording is
incomplete), each capsule's validity proof, and each blob's length and
BLAKE3 hash against its signed record. Prints one line per segment and
exits non-zero naming the first bad segment.

Capsule proofs need the custody group's public key: from --group, else the
group.obgd that `obhut seal` leaves in DIR (it must pin, i.e. carry k
custodian signatures); without either they are reported as not checked.

Example:
  obhut verify rec/
  obhut verify --group custody/group.obgd rec/")]
pub struct Args {
    /// The recording's directory (as written by `obhut seal`).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The custody group descriptor to check capsule proofs against.
    #[arg(long, value_name = "FILE")]
    group: Option<PathBuf>,
}

/// The group key for capsule proofs, and how it was found.
fn group_key(a: &Args) -> anyhow::Result<(Option<GroupKey>, String)> {
    let copy = a.dir.join(GROUP_COPY);
    let (path, pinned) = match &a.group {
        Some(p) => (p, load::pinned_group(p, "--group")?),
        None if !copy.exists() => {
            let note = "NOT checked (no --group, and no group.obgd in DIR)";
            return Ok((None, note.to_owned()));
        }
        None => match load::pinned_group(&copy, "DIR/group.obgd") {
            Ok(g) => (&copy, g),
            Err(e) => {
                let note = format!("NOT checked ({} does not pin: {e:#})", copy.display());
                return Ok((None, note));
            }
        },
    };
    let note = format!(
        "checked against {} (group {}, pinned)",
        path.display(),
        pinned.group_id()
    );
    Ok((Some(pinned.group_key()), note))
}

/// A segment's problem as a report line says it.
fn problem_text(p: &Problem) -> String {
    match p {
        Problem::RecordUnreadable(e) => format!("record: {}", files::read_error_text(e, "DIR")),
        other => other.to_string(),
    }
}

/// Run `obhut verify`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let (group, group_note) = group_key(a)?;
    let report = check_dir(&a.dir, group.as_ref()).map_err(|e| recording::dir_error(e, "DIR"))?;

    let (rid, dev) = report.first.map_or(
        ("(unknown)".to_owned(), "(unknown)".to_owned()),
        |(r, d)| (r.to_string(), hex::encode(d)),
    );
    if !g.quiet {
        println!("recording {rid}");
        println!("device    {dev}");
        println!(
            "segments  {} present, {} with readable records ({} plaintext bytes)",
            report.segments.len(),
            report.parsed,
            report.parsed_bytes
        );
        println!("capsule proofs: {group_note}");
        for s in &report.segments {
            let text = match &s.record {
                Some(r) => recording::describe(r),
                None => format!("segment {:>4}", s.index),
            };
            match &s.problem {
                None => println!("{text}  ok"),
                Some(p) => println!("{text}  FAILED: {}", problem_text(p)),
            }
        }
    }
    if let Some((index, problem)) = report.first_bad() {
        let count = report.bad_count();
        return Err(fail(
            format!(
                "recording {rid} in {}: segment {index} is bad: {}{}",
                a.dir.display(),
                problem_text(problem),
                if count > 1 {
                    format!(" ({} bad segments in all)", count)
                } else {
                    String::new()
                }
            ),
            if matches!(problem, Problem::Incomplete) {
                format!(
                    "the recording is incomplete: segments after {index} are missing (or sealing was interrupted); copy the rest of the recording into {}",
                    a.dir.display()
                )
            } else {
                format!(
                    "the segment's blob or record was altered or damaged; restore {} and {} from another copy of the recording",
                    recording::blob_name(index),
                    recording::record_name(index)
                )
            },
        ));
    }
    // Cross-check with the core's verifier over the whole chain.
    report.verify_chain(group.as_ref()).hint(
        format!("recording in {}", a.dir.display()),
        "the recording was altered; restore it from another copy",
    )?;
    if !g.quiet {
        println!("result: ok, the recording is complete and unaltered");
    }
    Ok(())
}
