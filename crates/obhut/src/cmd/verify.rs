//! `obhut verify`: check a recording without keys (docs/format.md §7.2) and
//! print a report per segment; fail naming the first bad segment.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use obhut_core::chain;
use obhut_core::kem::{self, GroupKey};
use obhut_core::record::SegmentRecord;

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
    if let Some(p) = &a.group {
        let g = load::pinned_group(p, "--group")?;
        return Ok((
            Some(g.group_key()),
            format!(
                "checked against {} (group {}, pinned)",
                p.display(),
                g.group_id()
            ),
        ));
    }
    let copy = a.dir.join(GROUP_COPY);
    if !copy.exists() {
        return Ok((
            None,
            "NOT checked (no --group, and no group.obgd in DIR)".to_owned(),
        ));
    }
    match load::pinned_group(&copy, "DIR/group.obgd") {
        Ok(g) => Ok((
            Some(g.group_key()),
            format!(
                "checked against {} (group {}, pinned)",
                copy.display(),
                g.group_id()
            ),
        )),
        Err(e) => Ok((
            None,
            format!("NOT checked ({} does not pin: {e:#})", copy.display()),
        )),
    }
}

/// Result of the checks on one segment.
struct Line {
    index: u32,
    text: String,
    failure: Option<String>,
}

/// A core error without the "recording … segment …:" prefix (the report
/// line already names the segment).
fn reason(e: &obhut_core::Error) -> String {
    match e {
        obhut_core::Error::Segment { failure, .. } => failure.to_string(),
        other => other.to_string(),
    }
}

const INCOMPLETE: &str = "incomplete: the last segment present is not marked final";

/// Run `obhut verify`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let (group, group_note) = group_key(a)?;
    let rec_files = recording::record_files(&a.dir, "DIR")?;
    let mut indices: BTreeSet<u32> = rec_files.iter().map(|(i, _)| *i).collect();
    for e in
        std::fs::read_dir(&a.dir).hint(format!("cannot read {}", a.dir.display()), "check DIR")?
    {
        let e = e.hint(format!("cannot read {}", a.dir.display()), "check DIR")?;
        if let Some(i) = e
            .file_name()
            .to_str()
            .and_then(|n| recording::index_of(n, "seg"))
        {
            indices.insert(i);
        }
    }
    let last = indices.last().copied().unwrap_or(0);

    let mut records: Vec<SegmentRecord> = Vec::new();
    let mut lines: Vec<Line> = Vec::new();
    let mut prev: Option<Option<[u8; 32]>> = None; // None: before segment 0; Some(None): predecessor bad
    let mut first: Option<(obhut_core::ids::RecordingId, [u8; 32])> = None;
    let (mut parsed, mut parsed_bytes) = (0u32, 0u64);
    for index in 0..=last {
        let rec_path = a.dir.join(recording::record_name(index));
        let (text, failure, hash) = check_segment(
            &a.dir,
            index,
            last,
            &rec_path,
            group.as_ref(),
            prev,
            &mut first,
            &mut records,
            &mut parsed,
            &mut parsed_bytes,
        );
        prev = Some(hash);
        lines.push(Line {
            index,
            text,
            failure,
        });
    }

    let (rid, dev) = first.map_or(
        ("(unknown)".to_owned(), "(unknown)".to_owned()),
        |(r, d)| (r.to_string(), hex::encode(d)),
    );
    if !g.quiet {
        println!("recording {rid}");
        println!("device    {dev}");
        println!(
            "segments  {} present, {parsed} with readable records ({parsed_bytes} plaintext bytes)",
            last + 1
        );
        println!("capsule proofs: {group_note}");
        for l in &lines {
            match &l.failure {
                None => println!("{}  ok", l.text),
                Some(f) => println!("{}  FAILED: {f}", l.text),
            }
        }
    }
    if let Some(bad) = lines.iter().find(|l| l.failure.is_some()) {
        let count = lines.iter().filter(|l| l.failure.is_some()).count();
        return Err(fail(
            format!(
                "recording {rid} in {}: segment {} is bad: {}{}",
                a.dir.display(),
                bad.index,
                bad.failure.as_deref().unwrap_or_default(),
                if count > 1 {
                    format!(" ({} bad segments in all)", count)
                } else {
                    String::new()
                }
            ),
            if bad.failure.as_deref() == Some(INCOMPLETE) {
                format!(
                    "the recording is incomplete: segments after {} are missing (or sealing was interrupted); copy the rest of the recording into {}",
                    bad.index,
                    a.dir.display()
                )
            } else {
                format!(
                    "the segment's blob or record was altered or damaged; restore {} and {} from another copy of the recording",
                    recording::blob_name(bad.index),
                    recording::record_name(bad.index)
                )
            },
        ));
    }
    // Cross-check with the core's verifier over the whole chain.
    match &group {
        Some(k) => chain::verify_chain(&records, std::slice::from_ref(k)),
        None => chain::verify_chain_structure(&records),
    }
    .hint(
        format!("recording in {}", a.dir.display()),
        "the recording was altered; restore it from another copy",
    )?;
    if !g.quiet {
        println!("result: ok, the recording is complete and unaltered");
    }
    Ok(())
}

/// Check segment `index`; returns the report line, the failure if any, and
/// the record hash (for the next segment's link) if the record is usable.
#[allow(clippy::too_many_arguments)]
fn check_segment(
    dir: &Path,
    index: u32,
    last: u32,
    rec_path: &Path,
    group: Option<&GroupKey>,
    prev: Option<Option<[u8; 32]>>,
    first: &mut Option<(obhut_core::ids::RecordingId, [u8; 32])>,
    records: &mut Vec<SegmentRecord>,
    parsed: &mut u32,
    parsed_bytes: &mut u64,
) -> (String, Option<String>, Option<[u8; 32]>) {
    let unnamed = format!("segment {index:>4}");
    if !rec_path.exists() {
        return (
            unnamed,
            Some(format!(
                "record {} is missing",
                recording::record_name(index)
            )),
            None,
        );
    }
    let rec = match files::read(rec_path, "DIR")
        .and_then(|b| SegmentRecord::from_bytes(&b).map_err(anyhow::Error::new))
    {
        Ok(r) => r,
        Err(e) => {
            let why = match e.downcast_ref::<obhut_core::Error>() {
                Some(core) => reason(core),
                None => format!("{e:#}"),
            };
            return (unnamed, Some(format!("record: {why}")), None);
        }
    };
    *parsed += 1;
    *parsed_bytes += rec.plaintext_len();
    let text = recording::describe(&rec);
    let hash = rec.record_hash();
    let f = &rec.header().fields;
    let bad = |reason: String| (text.clone(), Some(reason), Some(hash));
    if f.segment_index != index {
        return bad(format!(
            "{} holds the record of segment {}",
            recording::record_name(index),
            f.segment_index
        ));
    }
    let me = (f.recording_id, f.device_key.to_bytes());
    match first {
        None => *first = Some(me),
        Some(first) if *first != me => {
            return bad("belongs to another recording or device than segment 0".to_owned());
        }
        Some(_) => {}
    }
    match prev {
        None if rec.prev_record_hash() != &[0u8; 32] => {
            return bad("segment 0 must have an all-zero previous-record hash".to_owned());
        }
        Some(Some(p)) if rec.prev_record_hash() != &p => {
            return bad(format!(
                "previous-record hash does not match segment {}",
                index - 1
            ));
        }
        _ => {}
    }
    if rec.is_final() && index != last {
        return bad("marked final, but later segments exist".to_owned());
    }
    if !rec.is_final() && index == last {
        return bad(INCOMPLETE.to_owned());
    }
    if let Some(k) = group
        && let Err(e) = kem::verify_capsule_proof(&f.capsule, k, &f.capsule_context())
    {
        return bad(format!("capsule: {}", reason(&e)));
    }
    let blob_path = dir.join(recording::blob_name(index));
    let blob = match File::open(&blob_path) {
        Ok(b) => b,
        Err(e) => return bad(format!("blob {}: {e}", recording::blob_name(index))),
    };
    if let Err(e) = chain::verify_blob(&rec, BufReader::with_capacity(1 << 20, blob)) {
        return bad(format!(
            "blob {}: {}",
            recording::blob_name(index),
            reason(&e)
        ));
    }
    records.push(rec);
    (text, None, Some(hash))
}
