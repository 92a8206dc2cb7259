//! `obhut open`: the requester's last step at a vault (docs/access.md §2
//! steps 3–4). Ask the vault to release, prove the release is logged,
//! combine k partials with the epoch parts, and decrypt exactly the
//! approved scope.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;

use obhut_core::access::GrantKeys;
use obhut_core::audit::Event;
use obhut_core::epoch::EpochRelease;
use obhut_core::partial::{PartialEnvelope, records_from_bytes};
use obhut_core::record::SegmentRecord;
use obhut_core::request::GrantRef;
use obhut_core::segment::{FnSource, SegmentKind};

use crate::cmd::review;
use crate::util::access::{AccessClient, b64, confirm_logged};
use crate::util::files::{Mode, Output};
use crate::util::hint::{HintExt, fail};
use crate::util::logclient::LogArgs;
use crate::util::reader::Reader;
use crate::util::{Global, keys, load, progress, scope};

/// Open the approved scope of your request.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
As the requester: once k custodians approved your request, ask the vault to
release it, check the release is in the audit log, and decrypt the approved
scope into --out DIR.

For each recording in scope, DIR/<recording>.media is laid out like the
original file: every segment in scope at its original offset, byte-identical
to what the device captured, and zeros where segments stay sealed, with a
`free` box header over a sealed start so that a player reading the container
index plays the scope (e.g. `ffmpeg -ss 10 -i DIR/<recording>.media …`). A
request for a whole recording gives a byte-identical copy of the original. A metadata
segment in scope goes to DIR/<recording>.metadata.

--range START-END (with a single recording in scope) decrypts only bytes
[START, END) of the recording, fetching and decrypting only the 64 KiB
chunks that cover them, into DIR/<recording>.range.

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
    #[arg(long, value_name = "START-END", value_parser = crate::cmd::unseal::parse_range)]
    range: Option<(u64, Option<u64>)>,
}

fn is_media(r: &SegmentRecord) -> bool {
    r.header().fields.kind != SegmentKind::Metadata
}

/// Run `obhut open`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let group = load::pinned_group(&a.group, "--group")?;
    let log = a.log.client()?;
    let me = keys::person(g, &a.identity, "--identity")?;
    let client = AccessClient::new(Reader::new(&a.log.vault, &me.sign));
    let o = open_as(g, &client, &log, &a.request, &group, &me, &a.out, a.range)?;
    g.note(format!(
        "opened {} segment(s) to {} (release logged, inclusion verified; opening logged as entry #{}); {} segment(s) outside the request stay sealed",
        o.opened,
        a.out.display(),
        o.opened_entry,
        o.sealed
    ));
    Ok(())
}

/// What [`open_as`] did.
#[derive(Debug)]
pub struct Opened {
    /// Segments decrypted.
    pub opened: u32,
    /// Segments of the scoped recordings left sealed.
    pub sealed: usize,
    /// Log index of the release.
    pub release_entry: u64,
    /// Log index of the `opened` report.
    pub opened_entry: u64,
    /// The recordings opened, with their records and covered segments.
    pub resolved: Vec<scope::Resolved>,
}

/// The requester's steps 3–4 as `me`: release, checks, decryption into
/// `out` (the demo calls this too).
#[allow(clippy::too_many_arguments)]
pub fn open_as(
    g: &Global,
    client: &AccessClient<'_>,
    log: &crate::util::logclient::LogClient,
    request_hash: &str,
    group: &obhut_core::group::PinnedGroup,
    me: &obhut_core::identity::PersonSecret,
    out: &std::path::Path,
    range: Option<(u64, Option<u64>)>,
) -> anyhow::Result<Opened> {
    let rj = client.get(request_hash)?;
    let req = review::parse_request(&rj, Some(request_hash))?;
    load::check_request_group(&req, group.descriptor())?;
    if me.public().fingerprint() != req.requester_fingerprint() {
        return Err(fail(
            "this request was signed by another identity",
            "open with the identity that signed the request: keys are encrypted to it only",
        ));
    }
    let bytes = req.to_bytes();
    confirm_logged(
        log,
        &rj.logged,
        "your request",
        |e| matches!(&e.event, Event::AccessRequested { request } if *request == bytes),
    )?;

    // The release: logged before anything is decrypted.
    let release = client.release(request_hash)?;
    let rh = req.request_hash();
    let request_index = rj.logged.log_index;
    confirm_logged(log, &release.logged, "the release", |e| {
        matches!(&e.event, Event::Released { request_hash: h, request_index: i, .. }
            if *h == rh && *i == request_index)
    })?;

    // The scope from the device-signed records, checked against what the
    // vault released.
    let resolved = scope::resolve(client.reader(), &req)?;
    let mine: Vec<&SegmentRecord> = resolved.iter().flat_map(|r| r.covered()).collect();
    let shipped = records_from_bytes(
        &release
            .records
            .iter()
            .map(|r| b64("record", r))
            .collect::<anyhow::Result<Vec<_>>>()?,
    )
    .hint(
        "the release's records do not verify",
        "the vault is misbehaving; report it",
    )?;
    let mut a_hashes: Vec<_> = mine.iter().map(|r| r.record_hash()).collect();
    let mut b_hashes: Vec<_> = shipped.iter().map(SegmentRecord::record_hash).collect();
    a_hashes.sort();
    b_hashes.sort();
    if a_hashes != b_hashes {
        return Err(fail(
            format!(
                "the vault released {} segment(s), the request covers {}",
                b_hashes.len(),
                a_hashes.len()
            ),
            "the vault is misbehaving; keep this output and report it",
        ));
    }
    let envelopes = release
        .partials
        .iter()
        .map(|p| {
            PartialEnvelope::from_bytes(&b64("partial", p)?).hint(
                "a partial from the vault does not parse",
                "the vault is misbehaving; report it",
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let epoch_release = EpochRelease::from_bytes(&b64("release", &release.release)?).hint(
        "the vault's release does not parse",
        "the vault is misbehaving; report it",
    )?;
    let grant = GrantRef::new(request_index, &req);
    let keys = GrantKeys::recover(group, &req, &grant, &mine, &envelopes, &epoch_release, me)
        .hint(
            "cannot recover the segment keys",
            "a partial or the release does not fit this request; the message names which",
        )?;

    std::fs::create_dir_all(out).hint(
        format!("cannot create {}", out.display()),
        "pass another --out",
    )?;
    let total: u64 = mine.iter().map(|r| r.plaintext_len()).sum();
    let bar = progress::bytes(g, total, "opening");
    let mut opened = 0u32;
    match range {
        Some((start, end)) => {
            let [one] = &resolved[..] else {
                return Err(fail(
                    "--range needs a request with a single recording in scope",
                    "open without --range, or request one recording",
                ));
            };
            opened = open_range(client, &keys, one, start, end, out, g)?;
        }
        None => {
            for rec in &resolved {
                opened += open_recording(client, &keys, rec, out, g, &bar)?;
            }
        }
    }
    bar.finish_and_clear();
    let logged = client.opened(request_hash, opened)?;
    let sealed: usize = resolved
        .iter()
        .map(|r| r.records.len() - r.in_scope.len())
        .sum();
    Ok(Opened {
        opened,
        sealed,
        release_entry: release.logged.log_index,
        opened_entry: logged.log_index,
        resolved,
    })
}

/// Each covered segment at its original offset in DIR/<rid>.media;
/// metadata to DIR/<rid>.metadata.
fn open_recording(
    client: &AccessClient<'_>,
    keys: &GrantKeys,
    rec: &scope::Resolved,
    dir: &std::path::Path,
    g: &Global,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<u32> {
    let media_path = dir.join(format!("{}.media", rec.recording));
    let mut media = Output::create(&media_path, "--out", g.force, Mode::Private)?;
    let mut offset = 0u64;
    let mut opened = 0;
    let mut metadata: Option<Output> = None;
    for (i, r) in rec.records.iter().enumerate() {
        let covered = rec.in_scope.contains(&i);
        let seg = r.segment_ref();
        if !is_media(r) {
            if covered {
                let p = dir.join(format!("{}.metadata", rec.recording));
                let mut m = Output::create(&p, "--out", g.force, Mode::Private)?;
                let blob = client.reader().blob(seg.recording, seg.index, None)?;
                keys.open_segment(r, blob, m.file()).hint(
                    format!("cannot open {seg}"),
                    "the message names what failed",
                )?;
                metadata = Some(m);
                opened += 1;
            }
            continue;
        }
        if covered {
            let f: &mut File = media.file();
            f.seek(SeekFrom::Start(offset))
                .hint("cannot write the output", "check --out")?;
            let blob = client.reader().blob(seg.recording, seg.index, None)?;
            let mut w = bar.wrap_write(BufWriter::with_capacity(1 << 20, &mut *f));
            keys.open_segment(r, blob, &mut w).hint(
                format!("cannot open {seg}"),
                "the message names what failed",
            )?;
            w.flush().hint("cannot write the output", "check --out")?;
            opened += 1;
        }
        offset += r.plaintext_len();
    }
    // Sealed segments at the end still count for the original's length.
    media
        .file()
        .set_len(offset)
        .hint("cannot write the output", "check --out")?;
    // `free` box headers over holes a demuxer would otherwise walk into
    // (obhut-media's crate docs, "Rebuilding a playable clip").
    for (at, header) in hole_headers(rec) {
        let f = media.file();
        f.seek(SeekFrom::Start(at))
            .and_then(|_| f.write_all(&header))
            .hint("cannot write the output", "check --out")?;
    }
    media.commit()?;
    if let Some(m) = metadata {
        m.commit()?;
    }
    Ok(opened)
}

/// Where the sparse file needs a `free` box header so that an MP4 demuxer
/// walking the top-level boxes steps over sealed segments, as
/// `obhut_media::CutPlan::hole_headers` computes it from the device's
/// plan, here from the records (the requester has no plan):
/// - index segment last (a progressive MP4 with `moov` at the end, as most
///   cameras and ffmpeg write it) and the first segment sealed: one header
///   at 0 spanning up to the index (the `ftyp` and `mdat` headers were in
///   that first segment; players find samples through `moov`);
/// - index segment first (a fragmented MP4's init segment): one header at
///   the start of each run of sealed media segments, spanning the run
///   (fragments are top-level boxes).
///
/// Not handled: a progressive MP4 with `moov` first whose first media
/// segment is sealed (its `mdat` header is lost; such a scope opens
/// byte-identical but does not play without the first segment).
fn hole_headers(rec: &scope::Resolved) -> Vec<(u64, Vec<u8>)> {
    let mut spans = Vec::new();
    let mut offset = 0u64;
    for (i, r) in rec.records.iter().enumerate().filter(|(_, r)| is_media(r)) {
        let len = r.plaintext_len();
        let index = r.header().fields.kind == SegmentKind::ContainerIndex;
        spans.push((offset, offset + len, index, rec.in_scope.contains(&i)));
        offset += len;
    }
    let free = |start: u64, end: u64| -> Option<(u64, Vec<u8>)> {
        let size = end - start;
        let header = match u32::try_from(size) {
            Ok(s) => [&s.to_be_bytes()[..], b"free"].concat(),
            Err(_) => [&1u32.to_be_bytes()[..], b"free", &size.to_be_bytes()].concat(),
        };
        (header.len() as u64 <= size).then_some((start, header))
    };
    let mut out = Vec::new();
    match spans.iter().position(|s| s.2) {
        Some(ix) if ix + 1 == spans.len() && ix > 0 && !spans[0].3 => {
            out.extend(free(0, spans[ix].0));
        }
        Some(0) => {
            let mut i = 1;
            while i < spans.len() {
                if spans[i].3 {
                    i += 1;
                    continue;
                }
                let mut j = i;
                while j + 1 < spans.len() && !spans[j + 1].3 {
                    j += 1;
                }
                out.extend(free(spans[i].0, spans[j].1));
                i = j + 1;
            }
        }
        _ => {}
    }
    out
}

/// Bytes [start, end) of one recording, reading only the chunks needed
/// (HTTP Range requests), into DIR/<rid>.range.
fn open_range(
    client: &AccessClient<'_>,
    keys: &GrantKeys,
    rec: &scope::Resolved,
    start: u64,
    end: Option<u64>,
    dir: &std::path::Path,
    g: &Global,
) -> anyhow::Result<u32> {
    let mut offset = 0u64;
    let mut spans = Vec::new();
    for (i, r) in rec.records.iter().enumerate().filter(|(_, r)| is_media(r)) {
        spans.push((i, r, offset));
        offset += r.plaintext_len();
    }
    let end = end.unwrap_or(offset);
    if start >= offset || end > offset {
        return Err(fail(
            format!("--range {start}-{end} is outside the recording's {offset} bytes"),
            format!("give a range within 0-{offset}"),
        ));
    }
    let path = dir.join(format!("{}.range", rec.recording));
    let mut out = Output::create(&path, "--out", g.force, Mode::Private)?;
    let mut opened = 0;
    {
        let mut w = BufWriter::new(out.file());
        for (i, r, seg_start) in spans {
            let seg_end = seg_start + r.plaintext_len();
            if seg_end <= start || seg_start >= end {
                continue;
            }
            if !rec.in_scope.contains(&i) {
                return Err(fail(
                    format!(
                        "bytes {}-{} of --range lie in segment {}, which the request does not cover",
                        start.max(seg_start),
                        end.min(seg_end),
                        r.segment_ref().index
                    ),
                    "narrow --range to the approved scope",
                ));
            }
            let seg = r.segment_ref();
            let mut source = FnSource(|at: u64, buf: &mut [u8]| -> std::io::Result<()> {
                let mut body = client
                    .reader()
                    .blob(seg.recording, seg.index, Some((at, at + buf.len() as u64)))
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                std::io::Read::read_exact(&mut body, buf)
            });
            keys.read_range(
                r,
                &mut source,
                start.max(seg_start) - seg_start,
                end.min(seg_end) - seg_start,
                &mut w,
            )
            .hint(
                format!("cannot open {seg}"),
                "the message names what failed",
            )?;
            opened += 1;
        }
        w.flush().hint("cannot write the output", "check --out")?;
    }
    out.commit()?;
    Ok(opened)
}
