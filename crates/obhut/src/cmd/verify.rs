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

With an export bundle (a directory with manifest.json, from `obhut
export`), checks it offline instead (docs/bundle.md): every file against
the manifest's SHA-256 and BLAKE3; the checkpoint against the log key
(--log-key, else the bundle's own, with a note) and --witness keys; each
audit-log entry's tlog-proof; each display-name claim under names/ (signed
by the key it names or by a custodian who approved the request; events
then show \"Name (fingerprint)\"); each device-signed record against its
receipt in the log, its device's enrolment and the request's scope; each
segment's ciphertext against its record; the logged disclosure against
the content; and, with --age-identity (or a --plaintext bundle), every
byte of each clip re-derived from the signed ciphertext with the bundled
keys. Prints a verdict per file and per event; exits non-zero naming
every part that failed.

Example:
  obhut verify rec/
  obhut verify --group custody/group.obgd rec/
  obhut verify --log-key VKEY --age-identity recipient.txt bundle/")]
pub struct Args {
    /// The recording's directory (as written by `obhut seal`).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The custody group descriptor to check capsule proofs against.
    #[arg(long, value_name = "FILE")]
    group: Option<PathBuf>,
    /// (bundle) The vault's published log key (C2SP vkey); default: the
    /// bundle's own, with a note.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    /// (bundle) A witness whose cosignature the checkpoint must carry;
    /// repeat for several.
    #[arg(long = "witness", value_name = "VKEY")]
    witnesses: Vec<String>,
    /// (bundle) How many of the --witness keys must cosign (default: all).
    #[arg(long, value_name = "N")]
    witnesses_required: Option<usize>,
    /// (bundle) The recipient's age identity file, to decrypt and check
    /// every byte of the clips and the keys.
    #[arg(long, value_name = "FILE")]
    age_identity: Option<PathBuf>,
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
    if a.dir.join(obhut_client::bundle::MANIFEST).exists() {
        return super::verify_bundle::run(
            g,
            &a.dir,
            a.log_key.as_deref(),
            &a.witnesses,
            a.witnesses_required,
            a.age_identity.as_deref(),
        );
    }
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
