//! `obhut export` (issue 19 item 2, docs/bundle.md): an approved grant's
//! footage as an evidence bundle for a recipient outside the system. The
//! grant is released and its keys recovered as `obhut open` does
//! ([`crate::open::open_as`]); the bundle then holds, for exactly the
//! segments in scope, the device-signed records, the ciphertext and the
//! segment keys `K`, a clean clip derived from them
//! ([`crate::bundle::derive_clip`]) with its sample map, the chain of
//! custody's log entries with C2SP tlog-proofs against one checkpoint, and
//! a manifest of every file's SHA-256 and BLAKE3. Clips and keys are
//! age-encrypted to the recipients unless asked otherwise. The export is
//! logged as a `disclosed` entry (format.md §12 kind 26) signed by the
//! requester, naming the recipients and the digest of the content; the
//! bundle carries its proof too.
//!
//! Recipients are classic age X25519 keys, which age 0.13 marks deprecated
//! in favour of its post-quantum hybrid: the recipients of a bundle (a
//! court, a prosecutor) open it with the `age` tool their system ships,
//! and Debian's (1.1.1) reads X25519 only. The footage inside is still
//! sealed post-quantum in the vault (format.md §5.6); the bundle is a copy
//! made for that recipient.
#![allow(deprecated)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use obhut_api::access::Logged;
use obhut_core::audit::Event;
use obhut_core::disclosure::{DisclosureContent, PLAINTEXT};
use obhut_log::leaf_hash;

use crate::access::{AccessClient, b64, confirm_logged};
use crate::assemble::hole_headers;
use crate::bundle::{self, Exported, FileInfo, Manifest, RecordingInfo, SampleMap};
use crate::clip::window;
use crate::error::{Error, Result};
use crate::export_report::{Facts, ReportSpec};
use crate::log::{LogClient, Proof};
use crate::open::Grant;
use crate::reader::now_ms;
use crate::scope::{Resolved, is_media};

/// Who can read the bundle's clips and keys.
#[derive(Clone)]
pub enum Recipients {
    /// age X25519 recipients (`age1…`).
    Age(Vec<age::x25519::Recipient>),
    /// Nobody in particular: clips and keys in the clear (`--plaintext`).
    Plaintext,
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.names().join(", "))
    }
}

impl Recipients {
    /// Parse `age1…` recipients.
    pub fn parse(keys: &[String]) -> Result<Self> {
        keys.iter()
            .map(|k| {
                k.trim()
                    .parse::<age::x25519::Recipient>()
                    .map_err(|why| Error::Recipient {
                        recipient: k.clone(),
                        why: why.to_string(),
                    })
            })
            .collect::<Result<Vec<_>>>()
            .map(Recipients::Age)
    }

    /// As the disclosure and the manifest name them.
    pub fn names(&self) -> Vec<String> {
        match self {
            Recipients::Age(r) => r.iter().map(ToString::to_string).collect(),
            Recipients::Plaintext => vec![PLAINTEXT.to_owned()],
        }
    }

    fn encrypted(&self) -> bool {
        matches!(self, Recipients::Age(_))
    }

    /// Write `plain` to `path`, age-encrypted to these recipients (binary
    /// age format, which `age -d` reads) or as it is.
    fn write(&self, path: &Path, plain: &mut dyn std::io::Read) -> Result<()> {
        let file = create(path)?;
        let io = |e: std::io::Error| Error::BundleWrite {
            path: path.to_owned(),
            source: e,
        };
        match self {
            Recipients::Age(r) => {
                let enc =
                    age::Encryptor::with_recipients(r.iter().map(|r| r as &dyn age::Recipient))
                        .map_err(|e| Error::Recipient {
                            recipient: self.names().join(", "),
                            why: e.to_string(),
                        })?;
                let mut w = enc.wrap_output(std::io::BufWriter::new(file)).map_err(io)?;
                std::io::copy(plain, &mut w).map_err(io)?;
                w.finish().and_then(|mut b| b.flush()).map_err(io)?;
            }
            Recipients::Plaintext => {
                let mut w = std::io::BufWriter::new(file);
                std::io::copy(plain, &mut w).map_err(io)?;
                w.flush().map_err(io)?;
            }
        }
        Ok(())
    }
}

/// What [`export`] made.
#[derive(Debug)]
pub struct ExportDone {
    /// The bundle's manifest.
    pub manifest: Manifest,
    /// Log index of the disclosure.
    pub disclosure_index: u64,
    /// Size of the checkpoint the proofs are against.
    pub checkpoint_size: u64,
    /// Bytes of ciphertext fetched from the vault.
    pub bytes_fetched: u64,
}

fn create(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::BundleWrite {
            path: dir.to_owned(),
            source,
        })?;
    }
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| Error::BundleWrite {
            path: path.to_owned(),
            source,
        })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    create(path)?
        .write_all(bytes)
        .map_err(|source| Error::BundleWrite {
            path: path.to_owned(),
            source,
        })
}

/// Export `grant` (from [`crate::open::open_as`]) into the new directory
/// `dir` for `to`: see the module docs and docs/bundle.md. A directory
/// that exists is refused, so nothing is mixed into an older bundle.
pub fn export(
    client: &AccessClient<'_>,
    log: &LogClient,
    grant: &Grant,
    dir: &Path,
    to: &Recipients,
    report: &ReportSpec,
) -> Result<ExportDone> {
    if dir.exists() {
        return Err(Error::BundleExists {
            dir: dir.to_owned(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::BundleWrite {
        path: dir.to_owned(),
        source,
    })?;
    let enc = to.encrypted();
    let reader = client.reader();
    let mut custody: Vec<(Logged, String)> = Vec::new();
    custody.push((
        grant.request_json.logged.clone(),
        "the request's entry".into(),
    ));
    for a in &grant.request_json.approvals {
        custody.push((
            a.logged.clone(),
            format!("custodian {}'s approval", a.custodian),
        ));
    }
    custody.push((grant.release_logged.clone(), "the release".into()));
    let mut recordings = Vec::new();
    let mut segments = 0u32;
    let mut fetched = 0u64;
    for rec in grant.resolved.iter().filter(|r| !r.in_scope.is_empty()) {
        let rid = rec.recording.to_string();
        // The records' log entries (device enrolment, each segment's
        // receipt), proved as a custodian proves them before taking R.
        let (_, answer) = reader.records_logged(rec.recording, true)?;
        crate::provenance::check(log, rec, &answer, grant.request.group_id)?;
        let device = rec.records[0].header().fields.device_key.to_bytes();
        let enrolment = answer
            .device
            .iter()
            .find(|l| {
                b64("log entry", &l.entry)
                    .ok()
                    .and_then(|b| obhut_core::audit::LogEntry::from_bytes(&b).ok())
                    .is_some_and(|e| {
                        e.actor.key == device
                            && matches!(e.event, Event::DeviceEnrolled { group_id, .. }
                                if group_id == grant.request.group_id)
                    })
            })
            .ok_or_else(|| Error::Provenance {
                recording: rec.recording,
                why: "the vault shows no logged enrolment of its device".into(),
            })?;
        custody.push((enrolment.clone(), "the device's enrolment".into()));
        let mut keys = BTreeMap::new();
        let mut exported = Vec::new();
        let mut blobs: Vec<PathBuf> = Vec::new();
        let offsets = media_offsets(rec);
        for &i in &rec.in_scope {
            let r = &rec.records[i];
            let index = r.segment_ref().index;
            if let Some(l) = answer.received.get(i) {
                custody.push((l.clone(), format!("segment {index}'s receipt")));
            }
            write_file(&dir.join(bundle::record_path(&rid, index)), &r.to_bytes())?;
            let blob_path = dir.join(bundle::segment_path(&rid, index));
            let mut out = create(&blob_path)?;
            let mut blob = reader.blob(rec.recording, index, None)?;
            fetched += std::io::copy(&mut blob, &mut out).map_err(|source| Error::BundleWrite {
                path: blob_path.clone(),
                source,
            })?;
            blobs.push(blob_path);
            keys.insert(
                index,
                grant.keys.segment_key(r).map_err(|source| Error::Segment {
                    segment: r.segment_ref(),
                    source,
                })?,
            );
            segments += 1;
        }
        for (n, &i) in rec.in_scope.iter().enumerate() {
            exported.push(Exported {
                record: &rec.records[i],
                blob: &blobs[n],
                offset: offsets.get(&i).copied().unwrap_or(0),
            });
        }
        let media_len: u64 = rec
            .records
            .iter()
            .filter(|r| is_media(r))
            .map(|r| r.plaintext_len())
            .sum();
        let fill = hole_headers(rec);
        let win = window(&grant.request, rec);
        let mut clip = tempfile::tempfile().map_err(Error::Write)?;
        let (head_len, pieces) = bundle::derive_clip(
            &exported,
            &keys,
            media_len,
            &fill,
            win.clone(),
            &[],
            &mut clip,
        )
        .map_err(|e| Error::ExportClip {
            recording: rec.recording,
            why: e.to_string(),
        })?;
        let device_name = match report.names.get(&device) {
            Some(crate::names::Name::Verified(n)) => Some(n.clone()),
            _ => None,
        };
        let (mut clip, c2pa_len) =
            credentials(grant, log, rec, clip, [win.start, win.end], device_name)?;
        // The manifest box sits after ftyp: everything the remux wrote
        // after it moves by its length (docs/bundle.md §3).
        let head_len = head_len + c2pa_len;
        let pieces: Vec<bundle::Piece> = pieces
            .into_iter()
            .map(|p| bundle::Piece {
                clip_offset: p.clip_offset + c2pa_len,
                ..p
            })
            .collect();
        let clip_len = clip.metadata().map_err(Error::Write)?.len();
        let map = SampleMap {
            recording: rid.clone(),
            media_len,
            window_ms: [win.start, win.end],
            segments: exported
                .iter()
                .map(|e| bundle::MapSegment {
                    index: e.record.segment_ref().index,
                    kind: bundle::kind_name(e.record.header().fields.kind).into(),
                    offset: e.offset,
                    plaintext_len: e.record.plaintext_len(),
                    ciphertext_hash: hex::encode(e.record.ciphertext_hash()),
                })
                .collect(),
            fill: fill
                .iter()
                .map(|(at, b)| bundle::Fill {
                    offset: *at,
                    hex: hex::encode(b),
                })
                .collect(),
            clip_len,
            head_len,
            c2pa_len,
            pieces,
        };
        let json = serde_json::to_vec_pretty(&map).map_err(Error::Serialize)?;
        write_file(&dir.join(bundle::samples_path(&rid)), &json)?;
        use std::io::Seek;
        clip.rewind().map_err(Error::Write)?;
        to.write(&dir.join(bundle::clip_path(&rid, enc)), &mut clip)?;
        let text = bundle::keys_text(&keys);
        to.write(
            &dir.join(bundle::keys_path(&rid, enc)),
            &mut text.as_bytes(),
        )?;
        recordings.push(RecordingInfo {
            id: rid.clone(),
            clip: bundle::clip_path(&rid, enc),
            keys: bundle::keys_path(&rid, enc),
            samples: bundle::samples_path(&rid),
            segments: exported
                .iter()
                .map(|e| e.record.segment_ref().index)
                .collect(),
        });
    }
    if segments == 0 {
        return Err(Error::NothingToExport);
    }
    // The verified names, inside the content the disclosure signs: the
    // bundle names people as the report does, and `obhut verify` checks
    // each claim again (docs/bundle.md §2.1).
    for (key, claim) in report.names.verified_claims() {
        write_file(&dir.join(bundle::name_path(key)), claim)?;
    }

    // The disclosure signs the content listing, then goes into the log.
    let files = list_files(dir)?;
    let (_, digest) = bundle::content_listing(&files);
    let disclosure = reader
        .sign_disclosure(DisclosureContent {
            vault: reader.vault(),
            request_hash: grant.request.request_hash(),
            request_index: grant.request_index,
            segments,
            time_ms: now_ms(),
            recipients: to.names(),
            content_digest: digest,
        })
        .map_err(Error::Decision)?;
    let logged = client.disclosed(&grant.request_hash, &disclosure)?;
    confirm_logged(
        log,
        &logged,
        "your disclosure of the export",
        |e| matches!(&e.event, Event::Disclosed { disclosure: d } if *d == disclosure),
    )?;
    let disclosure_index = logged.log_index;
    custody.push((logged, "the disclosure".into()));

    // Every entry proved against one checkpoint, the latest (which holds
    // the disclosure: confirm_logged waited for it).
    let (_, state) = log.update()?;
    custody.sort_by_key(|(l, _)| l.log_index);
    custody.dedup_by_key(|(l, _)| l.log_index);
    for (l, what) in &custody {
        let bytes = b64("log entry", &l.entry)?;
        let proof = log.proof(Proof::Inclusion, l.log_index, state.size)?;
        state
            .verify_leaf_inclusion(&leaf_hash(&bytes), l.log_index, &proof)
            .map_err(|failure| Error::EntryNotIncluded {
                index: l.log_index,
                failure: Box::new(failure),
            })
            .map_err(|e| Error::ExportLog {
                what: what.clone(),
                why: e.to_string(),
            })?;
        write_file(&dir.join(bundle::entry_path(l.log_index)), &bytes)?;
        write_file(
            &dir.join(bundle::proof_path(l.log_index)),
            &bundle::tlog_proof(l.log_index, &proof, &state.checkpoint),
        )?;
    }
    write_file(&dir.join(bundle::CHECKPOINT), &state.checkpoint)?;

    // The report last but the manifest: it names every other file's
    // hashes, and the manifest then covers it (docs/bundle.md §2).
    let trusted = log.trusted();
    let others = list_files(dir)?;
    let rendered = crate::export_report::render(
        report,
        &Facts {
            grant,
            vault: reader.vault(),
            recipients: to.names(),
            custody: &custody,
            files: &others,
            checkpoint: &state.checkpoint,
            checkpoint_size: state.size,
            log: trusted,
            made_ms: now_ms(),
        },
    )?;
    for (path, bytes) in &rendered {
        write_file(&dir.join(path), bytes)?;
    }
    let manifest = Manifest {
        format: bundle::FORMAT.into(),
        vault: hex::encode(reader.vault()),
        log: bundle::LogInfo {
            origin: trusted.origin().into(),
            vkey: trusted.log_key().to_string(),
            witnesses: trusted
                .policy()
                .witnesses()
                .iter()
                .map(ToString::to_string)
                .collect(),
            witnesses_required: trusted.policy().threshold(),
        },
        request: bundle::RequestInfo {
            hash: grant.request_hash.clone(),
            index: grant.request_index,
        },
        recipients: to.names(),
        encrypted: enc,
        recordings,
        disclosure_index,
        content_digest: hex::encode(digest),
        files: list_files(dir)?,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(Error::Serialize)?;
    write_file(&dir.join(bundle::MANIFEST), &json)?;
    Ok(ExportDone {
        manifest,
        disclosure_index,
        checkpoint_size: state.size,
        bytes_fetched: fetched,
    })
}

/// The derived `clip` of `rec` with Content Credentials (feature `c2pa`,
/// [`crate::credentials`]) and the length of their box; as it is, and 0,
/// without the feature.
#[cfg(feature = "c2pa")]
fn credentials(
    grant: &Grant,
    log: &LogClient,
    rec: &Resolved,
    mut clip: File,
    window: [u64; 2],
    device_name: Option<String>,
) -> Result<(File, u64)> {
    use std::io::Seek;
    clip.rewind().map_err(Error::Write)?;
    let mut signed = tempfile::tempfile().map_err(Error::Write)?;
    let state = log.load_state()?;
    let mut custody = crate::credentials::Custody::of(
        &grant.request,
        grant.request_index,
        rec.recording,
        &rec.covered().collect::<Vec<_>>(),
        window,
        state.as_ref(),
    );
    // Only a verified name (docs/bundle.md §4.1): an unverified one is
    // left out rather than stated.
    custody.device.name = device_name;
    let len =
        crate::credentials::sign_clip(&custody, &mut clip, &mut signed).map_err(|source| {
            Error::Credentials {
                recording: rec.recording,
                source,
            }
        })?;
    Ok((signed, len))
}

#[cfg(not(feature = "c2pa"))]
fn credentials(
    _grant: &Grant,
    _log: &LogClient,
    _rec: &Resolved,
    clip: File,
    _window: [u64; 2],
    _device_name: Option<String>,
) -> Result<(File, u64)> {
    Ok((clip, 0))
}

/// The offset in the media file of each media record of `rec` (by index
/// into `rec.records`).
fn media_offsets(rec: &Resolved) -> BTreeMap<usize, u64> {
    let mut at = 0u64;
    let mut out = BTreeMap::new();
    for (i, r) in rec.records.iter().enumerate().filter(|(_, r)| is_media(r)) {
        out.insert(i, at);
        at += r.plaintext_len();
    }
    out
}

/// Every file under `dir` but the manifest, with its hashes, sorted by
/// path.
pub fn list_files(dir: &Path) -> Result<Vec<FileInfo>> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(root: &Path, at: &Path, out: &mut Vec<FileInfo>) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::BundleWrite { path, source }
    };
    for e in std::fs::read_dir(at).map_err(io(at))? {
        let e = e.map_err(io(at))?;
        let path = e.path();
        if e.file_type().map_err(io(&path))?.is_dir() {
            walk(root, &path, out)?;
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .map_err(|_| Error::BundleWrite {
                path: path.clone(),
                source: std::io::ErrorKind::InvalidInput.into(),
            })?
            .to_string_lossy()
            .replace('\\', "/");
        if rel == bundle::MANIFEST {
            continue;
        }
        let (size, sha, b3) = bundle::hash_file(&path).map_err(io(&path))?;
        out.push(FileInfo {
            path: rel,
            size,
            sha256: hex::encode(sha),
            blake3: hex::encode(b3),
        });
    }
    Ok(())
}
