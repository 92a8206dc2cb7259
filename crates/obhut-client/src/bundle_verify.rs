//! `obhut verify BUNDLE` (issue 19 item 4, docs/bundle.md §6): an export
//! bundle checked offline, with no vault and no key but the recipient's
//! age identity (for the clips and keys): every file against the
//! manifest; the checkpoint against the log key and the witnesses; each
//! log entry's tlog-proof against the checkpoint; the device-signed
//! records against their receipts in the log, their device's enrolment
//! and the request's scope; the ciphertext against the records; the
//! disclosure against the content; and every clip byte, re-derived from
//! the bundled ciphertext and keys through the sample map. Each check is a
//! [`Check`] naming the part of the bundle it concerns.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use obhut_core::audit::{Event, LogEntry};
use obhut_core::record::SegmentRecord;
use obhut_core::request::AccessRequest;
use obhut_log::{Hash, TrustedLog, TrustedState, VerifierKey, WitnessPolicy, leaf_hash};
use zeroize::Zeroizing;

use crate::bundle::{self, Exported, FileInfo, Manifest, SampleMap};

/// Whom the verifier trusts for the log. Unset fields are taken from the
/// bundle's own manifest, and the report says so: a bundle can name any
/// key, so a court pins the vault's published log key.
#[derive(Debug, Default, Clone)]
pub struct Trust {
    /// The log key (C2SP vkey).
    pub log_key: Option<VerifierKey>,
    /// Witness keys.
    pub witnesses: Vec<VerifierKey>,
    /// Cosignatures required.
    pub witnesses_required: Option<usize>,
}

/// Why a part of a bundle failed (docs/bundle.md §6 names each).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The manifest cannot be read or parsed, or is not format v1.
    #[error("manifest unreadable: {0}")]
    Manifest(String),
    /// A file the manifest lists is absent.
    #[error("listed in the manifest but absent")]
    Missing,
    /// A file the manifest does not list.
    #[error("not listed in the manifest")]
    Unlisted,
    /// A file's length, SHA-256 or BLAKE3 is not the manifest's.
    #[error("{what} differs from the manifest's")]
    HashDiffers {
        /// `size`, `SHA-256` or `BLAKE3`.
        what: &'static str,
    },
    /// The checkpoint is not signed by the log key, names another origin,
    /// or lacks the cosignatures required.
    #[error("checkpoint refused: {0}")]
    Checkpoint(String),
    /// A tlog-proof is malformed, for another index, against another
    /// checkpoint, or does not prove its entry included.
    #[error("proof refused: {0}")]
    Proof(String),
    /// A log entry does not decode, or says something other than the
    /// bundle needs.
    #[error("log entry refused: {0}")]
    Entry(String),
    /// A record does not parse or its device signature fails.
    #[error("record refused: {0}")]
    Record(String),
    /// A record is not tied to the log: no receipt, no enrolment of its
    /// device before it, or outside the request's scope.
    #[error("record not accounted for: {0}")]
    Provenance(String),
    /// A segment's ciphertext is not the one its record signs.
    #[error("ciphertext is not the signed one: {0}")]
    Ciphertext(String),
    /// The disclosure is absent, or does not match the bundle.
    #[error("disclosure refused: {0}")]
    Disclosure(String),
    /// An age file cannot be decrypted with the identities given.
    #[error("cannot decrypt: {0}")]
    Decrypt(String),
    /// The keys file is malformed or does not hold a key for each exported
    /// segment (and no other).
    #[error("segment keys refused: {0}")]
    Keys(String),
    /// The sample map is malformed or does not describe the derivation.
    #[error("sample map refused: {0}")]
    SampleMap(String),
    /// The clip is not what the signed ciphertext gives.
    #[error("clip differs from the footage re-derived from the signed ciphertext: {0}")]
    Clip(String),
    /// A display-name claim does not count (docs/bundle.md §2.1).
    #[error("display name refused: {0}")]
    Name(String),
}

/// The outcome of one check.
#[derive(Debug)]
pub enum Outcome {
    /// Passed; what was shown.
    Ok(String),
    /// Not checked, and why (an encrypted clip without the identity).
    NotChecked(String),
    /// Failed.
    Failed(Failure),
}

/// One check of one part (a file, an event).
#[derive(Debug)]
pub struct Check {
    /// The bundle-relative path, or a name of the event.
    pub part: String,
    /// What came of it.
    pub outcome: Outcome,
}

/// All the checks of a bundle.
#[derive(Debug, Default)]
pub struct Report {
    /// In order.
    pub checks: Vec<Check>,
    /// Whether the log key came from the bundle itself.
    pub trust_from_bundle: bool,
}

impl Report {
    fn ok(&mut self, part: impl Into<String>, what: impl Into<String>) {
        self.checks.push(Check {
            part: part.into(),
            outcome: Outcome::Ok(what.into()),
        });
    }
    fn fail(&mut self, part: impl Into<String>, f: Failure) {
        self.checks.push(Check {
            part: part.into(),
            outcome: Outcome::Failed(f),
        });
    }
    fn skip(&mut self, part: impl Into<String>, why: impl Into<String>) {
        self.checks.push(Check {
            part: part.into(),
            outcome: Outcome::NotChecked(why.into()),
        });
    }

    /// The parts that failed.
    pub fn failed(&self) -> Vec<&Check> {
        self.checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
            .collect()
    }
}

/// Parse an age identity file (`AGE-SECRET-KEY-1…` lines, `#` comments),
/// as `age-keygen` writes it.
pub fn parse_identities(text: &str) -> Result<Vec<age::x25519::Identity>, String> {
    let ids: Vec<age::x25519::Identity> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.parse::<age::x25519::Identity>()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err("no AGE-SECRET-KEY-1 line".into());
    }
    Ok(ids)
}

/// Check the bundle in `dir` (see the module docs). Never fails as a
/// whole: every problem is a failed [`Check`] naming its part.
pub fn verify_bundle(dir: &Path, trust: &Trust, identities: &[age::x25519::Identity]) -> Report {
    let mut rep = Report::default();
    let manifest = match std::fs::read(dir.join(bundle::MANIFEST))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Manifest>(&b).map_err(|e| e.to_string()))
    {
        Ok(m) if m.format == bundle::FORMAT => m,
        Ok(m) => {
            rep.fail(
                bundle::MANIFEST,
                Failure::Manifest(format!("format {:?}, not {}", m.format, bundle::FORMAT)),
            );
            return rep;
        }
        Err(e) => {
            rep.fail(bundle::MANIFEST, Failure::Manifest(e));
            return rep;
        }
    };
    rep.ok(
        bundle::MANIFEST,
        format!(
            "{} files, request {} (log #{}), recipients {}",
            manifest.files.len(),
            manifest.request.hash,
            manifest.request.index,
            manifest.recipients.join(", ")
        ),
    );
    let actual = check_files(dir, &manifest, &mut rep);
    let Some(state) = check_checkpoint(dir, &manifest, trust, &mut rep) else {
        return rep;
    };
    let entries = check_entries(dir, &state, &mut rep);
    let request = check_request(&manifest, &entries, &mut rep);
    // Names before the events' lines, which show them; a name is checked
    // only against a request (its approvers may name others).
    let trusted = request
        .as_ref()
        .map_or_else(Vec::new, |r| crate::bundle_names::approvers(&entries, r));
    let (checked, names) = crate::bundle_names::check(dir, &trusted);
    for (part, verdict) in checked {
        match verdict {
            Ok(what) => rep.ok(part, what),
            Err(why) => rep.fail(part, Failure::Name(why)),
        }
    }
    for (i, e) in &entries {
        let who = crate::bundle_names::actor(e, &names, request.as_ref());
        let when = crate::time::show(e.time_ms);
        rep.ok(
            format!("log #{i}"),
            format!(
                "{} at {when}: included in the checkpoint{who}",
                crate::show::log_entry(e)
            ),
        );
    }
    let Some(request) = request else {
        return rep;
    };
    check_disclosure(&manifest, &entries, &actual, &mut rep);
    for r in &manifest.recordings {
        check_recording(dir, &manifest, r, &request, &entries, identities, &mut rep);
    }
    rep
}

/// Every listed file against its hashes, and no file unlisted. Returns
/// the files as they are (for the content listing).
fn check_files(dir: &Path, manifest: &Manifest, rep: &mut Report) -> Vec<FileInfo> {
    let actual = match crate::export::list_files(dir) {
        Ok(a) => a,
        Err(e) => {
            rep.fail(
                ".",
                Failure::Manifest(format!("cannot list the bundle: {e}")),
            );
            return Vec::new();
        }
    };
    let by_path: BTreeMap<&str, &FileInfo> = actual.iter().map(|f| (f.path.as_str(), f)).collect();
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    for f in &manifest.files {
        match by_path.get(f.path.as_str()) {
            None => rep.fail(&f.path, Failure::Missing),
            Some(a) if a.size != f.size => rep.fail(&f.path, Failure::HashDiffers { what: "size" }),
            Some(a) if a.sha256 != f.sha256 => {
                rep.fail(&f.path, Failure::HashDiffers { what: "SHA-256" })
            }
            Some(a) if a.blake3 != f.blake3 => {
                rep.fail(&f.path, Failure::HashDiffers { what: "BLAKE3" })
            }
            Some(_) => rep.ok(&f.path, "SHA-256 and BLAKE3 as listed"),
        }
    }
    for a in &actual {
        if !listed.contains(a.path.as_str()) {
            rep.fail(&a.path, Failure::Unlisted);
        }
    }
    actual
}

fn check_checkpoint(
    dir: &Path,
    manifest: &Manifest,
    trust: &Trust,
    rep: &mut Report,
) -> Option<TrustedState> {
    let refuse = |rep: &mut Report, why: String| {
        rep.fail(bundle::CHECKPOINT, Failure::Checkpoint(why));
        None
    };
    let log_key = match &trust.log_key {
        Some(k) => k.clone(),
        None => {
            rep.trust_from_bundle = true;
            match VerifierKey::parse(&manifest.log.vkey) {
                Ok(k) => k,
                Err(e) => return refuse(rep, format!("the manifest's log key: {e}")),
            }
        }
    };
    let (witnesses, required) = if trust.log_key.is_some() {
        (
            trust.witnesses.clone(),
            trust.witnesses_required.unwrap_or(trust.witnesses.len()),
        )
    } else {
        let mut w = Vec::new();
        for v in &manifest.log.witnesses {
            match VerifierKey::parse(v) {
                Ok(k) => w.push(k),
                Err(e) => return refuse(rep, format!("the manifest's witness key {v}: {e}")),
            }
        }
        (w, manifest.log.witnesses_required)
    };
    let policy = match WitnessPolicy::new(witnesses, required) {
        Ok(p) => p,
        Err(e) => return refuse(rep, e.to_string()),
    };
    let origin = log_key.name().to_owned();
    let trusted = TrustedLog::new(&origin, log_key, policy);
    let bytes = match std::fs::read(dir.join(bundle::CHECKPOINT)) {
        Ok(b) => b,
        Err(e) => return refuse(rep, e.to_string()),
    };
    match trusted.verify_checkpoint(&bytes) {
        Ok(sc) => {
            rep.ok(
                bundle::CHECKPOINT,
                format!(
                    "signed by the log {origin}{}, size {}, {} of {} required witness cosignatures",
                    if rep.trust_from_bundle {
                        " (key taken from the bundle: compare it with the vault's published key, or pass --log-key)"
                    } else {
                        ""
                    },
                    sc.checkpoint.size,
                    required,
                    trusted.policy().witnesses().len()
                ),
            );
            Some(TrustedState {
                size: sc.checkpoint.size,
                root: sc.checkpoint.root,
                checkpoint: bytes,
            })
        }
        Err(e) => refuse(rep, e.to_string()),
    }
}

/// Each `log/N.entry` with its proof; the decoded entries by index.
fn check_entries(dir: &Path, state: &TrustedState, rep: &mut Report) -> BTreeMap<u64, LogEntry> {
    let mut out = BTreeMap::new();
    let mut indexes = BTreeSet::new();
    let mut proofs = BTreeSet::new();
    if let Ok(rd) = std::fs::read_dir(dir.join("log")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(i) = name
                .strip_suffix(".entry")
                .and_then(|s| s.parse::<u64>().ok())
            {
                indexes.insert(i);
            } else if let Some(i) = name
                .strip_suffix(".tlog-proof")
                .and_then(|s| s.parse::<u64>().ok())
            {
                proofs.insert(i);
            }
        }
    }
    for i in proofs.difference(&indexes) {
        rep.fail(
            bundle::proof_path(*i),
            Failure::Proof("no entry beside it".into()),
        );
    }
    for i in indexes {
        let entry_path = bundle::entry_path(i);
        let proof_path = bundle::proof_path(i);
        let Ok(bytes) = std::fs::read(dir.join(&entry_path)) else {
            rep.fail(&entry_path, Failure::Entry("unreadable".into()));
            continue;
        };
        let proof = match std::fs::read(dir.join(&proof_path)) {
            Ok(p) => p,
            Err(e) => {
                rep.fail(&proof_path, Failure::Proof(e.to_string()));
                continue;
            }
        };
        let (index, hashes, checkpoint) = match bundle::parse_tlog_proof(&proof) {
            Ok(p) => p,
            Err(why) => {
                rep.fail(&proof_path, Failure::Proof(why.into()));
                continue;
            }
        };
        if index != i {
            rep.fail(
                &proof_path,
                Failure::Proof(format!("it is for index {index}, not {i}")),
            );
            continue;
        }
        if checkpoint != state.checkpoint {
            rep.fail(
                &proof_path,
                Failure::Proof(format!("its checkpoint is not {}", bundle::CHECKPOINT)),
            );
            continue;
        }
        let hashes: Vec<Hash> = hashes;
        if let Err(e) = state.verify_leaf_inclusion(&leaf_hash(&bytes), i, &hashes) {
            rep.fail(
                &proof_path,
                Failure::Proof(format!("{entry_path} is not included: {e}")),
            );
            continue;
        }
        // Included entries get their verdict line once names are known.
        match LogEntry::from_bytes(&bytes) {
            Ok(e) => {
                out.insert(i, e);
            }
            Err(e) => rep.fail(&entry_path, Failure::Entry(e.to_string())),
        }
    }
    out
}

fn check_request(
    manifest: &Manifest,
    entries: &BTreeMap<u64, LogEntry>,
    rep: &mut Report,
) -> Option<AccessRequest> {
    let part = bundle::entry_path(manifest.request.index);
    let Some(Event::AccessRequested { request }) =
        entries.get(&manifest.request.index).map(|e| &e.event)
    else {
        rep.fail(
            part,
            Failure::Entry("the request's access-requested entry is not in the bundle".into()),
        );
        return None;
    };
    match AccessRequest::from_bytes(request) {
        Ok(r) if hex::encode(r.request_hash()) == manifest.request.hash => {
            rep.ok(
                "request",
                format!(
                    "signed by the requester {}; purpose {:?}, legal basis {:?}, case {:?}",
                    r.requester_fingerprint(),
                    r.purpose,
                    r.legal_basis,
                    r.case_ref
                ),
            );
            Some(r)
        }
        Ok(_) => {
            rep.fail(
                part,
                Failure::Entry("the request is not the manifest's".into()),
            );
            None
        }
        Err(e) => {
            rep.fail(part, Failure::Entry(e.to_string()));
            None
        }
    }
}

fn check_disclosure(
    manifest: &Manifest,
    entries: &BTreeMap<u64, LogEntry>,
    actual: &[FileInfo],
    rep: &mut Report,
) {
    let part = bundle::entry_path(manifest.disclosure_index);
    let Some(Event::Disclosed { disclosure }) =
        entries.get(&manifest.disclosure_index).map(|e| &e.event)
    else {
        rep.fail(
            part,
            Failure::Disclosure("the disclosed entry is not in the bundle".into()),
        );
        return;
    };
    let c = disclosure.content();
    let (_, digest) = bundle::content_listing(actual);
    let wrong = if hex::encode(c.request_hash) != manifest.request.hash
        || c.request_index != manifest.request.index
    {
        Some("it is for another request".to_owned())
    } else if c.recipients != manifest.recipients {
        Some(format!(
            "it names the recipients {}, the manifest {}",
            c.recipients.join(", "),
            manifest.recipients.join(", ")
        ))
    } else if c.content_digest != digest {
        Some(
            "the clips, keys, records, samples and segments are not the ones disclosed (content digest)"
                .to_owned(),
        )
    } else if hex::encode(c.content_digest) != manifest.content_digest {
        Some("the manifest's content digest is not the disclosed one".to_owned())
    } else {
        None
    };
    match wrong {
        Some(why) => rep.fail(part, Failure::Disclosure(why)),
        None => rep.ok(
            "disclosure",
            format!(
                "{} segments to {}, signed by the requester, content digest matches",
                c.segments,
                c.recipients.join(", ")
            ),
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn check_recording(
    dir: &Path,
    manifest: &Manifest,
    info: &bundle::RecordingInfo,
    request: &AccessRequest,
    entries: &BTreeMap<u64, LogEntry>,
    identities: &[age::x25519::Identity],
    rep: &mut Report,
) {
    let rid = &info.id;
    let mut records = Vec::new();
    for &i in &info.segments {
        let part = bundle::record_path(rid, i);
        match std::fs::read(dir.join(&part))
            .map_err(|e| e.to_string())
            .and_then(|b| SegmentRecord::from_bytes(&b).map_err(|e| e.to_string()))
        {
            Ok(r)
                if r.segment_ref().index == i && r.segment_ref().recording.to_string() == *rid =>
            {
                records.push((part, r))
            }
            Ok(_) => rep.fail(part, Failure::Record("it is another segment's".into())),
            Err(e) => rep.fail(part, Failure::Record(e)),
        }
    }
    if records.len() != info.segments.len() {
        rep.skip(format!("clips of {rid}"), "not checked: a record failed");
        return;
    }
    let plain: Vec<SegmentRecord> = records.iter().map(|(_, r)| r.clone()).collect();
    let covered = obhut_core::access::records_in_scope(request, &plain);
    let mut ok = true;
    for (part, r) in &records {
        let i = r.segment_ref().index;
        let device = r.header().fields.device_key.to_bytes();
        let received = entries.iter().find(|(_, e)| {
            e.actor.key == device
                && e.recording.is_some_and(|x| x.to_string() == *rid)
                && matches!(e.event, Event::SegmentReceived { index, record_hash, .. }
                    if index == i && record_hash == r.record_hash())
        });
        let enrolled = entries.iter().find(|(_, e)| {
            e.actor.key == device
                && matches!(e.event, Event::DeviceEnrolled { group_id, .. } if group_id == request.group_id)
        });
        let why = match (received, enrolled) {
            (None, _) => {
                Some("no segment-received entry in the bundle names its record hash".to_owned())
            }
            (_, None) => {
                Some("no logged enrolment of its device in the request's group".to_owned())
            }
            (Some((ri, _)), Some((ei, _))) if ei >= ri => {
                Some("its device was enrolled after the segment was received".to_owned())
            }
            _ if !covered.iter().any(|c| c.record_hash() == r.record_hash()) => {
                Some("it is outside the request's scope".to_owned())
            }
            _ => None,
        };
        match why {
            Some(w) => {
                ok = false;
                rep.fail(part, Failure::Provenance(w));
            }
            None => rep.ok(
                part,
                format!(
                    "segment {i} signed by device {}, received at log #{}, in scope",
                    hex::encode(&device[..8]),
                    received.map_or(0, |(x, _)| *x)
                ),
            ),
        }
        let seg = bundle::segment_path(rid, i);
        match ciphertext_hash(&dir.join(&seg)) {
            Ok((len, h)) if len == r.blob_len() && h == *r.ciphertext_hash() => {
                rep.ok(&seg, "ciphertext is the one its record signs (BLAKE3)")
            }
            Ok((len, _)) if len != r.blob_len() => {
                ok = false;
                rep.fail(
                    &seg,
                    Failure::Ciphertext(format!("{len} bytes, the record says {}", r.blob_len())),
                );
            }
            Ok(_) => {
                ok = false;
                rep.fail(
                    &seg,
                    Failure::Ciphertext("BLAKE3 differs from the record's".into()),
                );
            }
            Err(e) => {
                ok = false;
                rep.fail(&seg, Failure::Ciphertext(e.to_string()));
            }
        }
    }
    if !ok {
        rep.skip(&info.clip, "not checked: a record or its ciphertext failed");
        return;
    }
    if manifest.encrypted && identities.is_empty() {
        rep.skip(
            &info.clip,
            "encrypted: pass the recipient's age identity (--age-identity) to check every byte",
        );
        return;
    }
    check_clip(dir, manifest, info, &records, identities, rep);
}

fn check_clip(
    dir: &Path,
    manifest: &Manifest,
    info: &bundle::RecordingInfo,
    records: &[(String, SegmentRecord)],
    identities: &[age::x25519::Identity],
    rep: &mut Report,
) {
    let keys_text = match read_maybe_age(&dir.join(&info.keys), manifest.encrypted, identities) {
        Ok(mut r) => {
            let mut s = Zeroizing::new(String::new());
            match r.read_to_string(&mut s) {
                Ok(_) => s,
                Err(e) => return rep.fail(&info.keys, Failure::Decrypt(e.to_string())),
            }
        }
        Err(f) => return rep.fail(&info.keys, f),
    };
    let keys = match bundle::parse_keys(&keys_text) {
        Ok(k) => k,
        Err(line) => {
            return rep.fail(
                &info.keys,
                Failure::Keys(format!("line {line} is malformed")),
            );
        }
    };
    let want: BTreeSet<u32> = info.segments.iter().copied().collect();
    let have: BTreeSet<u32> = keys.keys().copied().collect();
    if want != have {
        return rep.fail(
            &info.keys,
            Failure::Keys(format!(
                "keys for segments {have:?}, the bundle exports {want:?}"
            )),
        );
    }
    let map: SampleMap = match std::fs::read(dir.join(&info.samples))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => return rep.fail(&info.samples, Failure::SampleMap(e)),
    };
    let mut exported = Vec::new();
    let blobs: Vec<PathBuf> = records
        .iter()
        .map(|(_, r)| dir.join(bundle::segment_path(&info.id, r.segment_ref().index)))
        .collect();
    for ((_, r), blob) in records.iter().zip(&blobs) {
        let i = r.segment_ref().index;
        let Some(m) = map.segments.iter().find(|s| s.index == i) else {
            return rep.fail(
                &info.samples,
                Failure::SampleMap(format!("segment {i} is not in it")),
            );
        };
        if m.ciphertext_hash != hex::encode(r.ciphertext_hash())
            || m.plaintext_len != r.plaintext_len()
        {
            return rep.fail(
                &info.samples,
                Failure::SampleMap(format!("segment {i}: not its record's hash or length")),
            );
        }
        exported.push(Exported {
            record: r,
            blob,
            offset: m.offset,
        });
    }
    let mut fill = Vec::new();
    for f in &map.fill {
        match hex::decode(&f.hex) {
            Ok(b) => fill.push((f.offset, b)),
            Err(_) => {
                return rep.fail(
                    &info.samples,
                    Failure::SampleMap("a fill is not hex".into()),
                );
            }
        }
    }
    let mut clip = match read_maybe_age(&dir.join(&info.clip), manifest.encrypted, identities) {
        Ok(r) => r,
        Err(f) => return rep.fail(&info.clip, f),
    };
    // The clip's C2PA box is its own bytes, not derived: the manifest's
    // hashes cover them, a C2PA reader checks what they say, and the
    // derivation is checked around them (docs/bundle.md §3).
    let (prefix, box_at) = match c2pa_prefix(&mut clip, map.c2pa_len) {
        Ok(p) => p,
        Err(why) => return rep.fail(&info.clip, Failure::Clip(why)),
    };
    let mut derived = match tempfile::tempfile() {
        Ok(f) => f,
        Err(e) => return rep.fail(&info.clip, Failure::Clip(e.to_string())),
    };
    let (head_len, pieces) = match bundle::derive_clip(
        &exported,
        &keys,
        map.media_len,
        &fill,
        map.window_ms[0]..map.window_ms[1],
        &prefix[box_at..],
        &mut derived,
    ) {
        Ok(d) => d,
        Err(bundle::DeriveError::Segment { index, source }) => {
            return rep.fail(
                &info.keys,
                Failure::Keys(format!(
                    "segment {index} does not open with its key: {source}"
                )),
            );
        }
        Err(e) => return rep.fail(&info.samples, Failure::SampleMap(e.to_string())),
    };
    if head_len != map.head_len || pieces != map.pieces {
        return rep.fail(
            &info.samples,
            Failure::SampleMap("its pieces are not the derivation's".into()),
        );
    }
    rep.ok(
        &info.samples,
        format!(
            "{} bytes of remuxed header, then {} pieces of signed plaintext from {} segments",
            head_len,
            pieces.len(),
            exported.len()
        ),
    );
    use std::io::Seek;
    if let Err(e) = derived.rewind() {
        return rep.fail(&info.clip, Failure::Clip(e.to_string()));
    }
    let clip = std::io::Cursor::new(&prefix).chain(clip);
    let credentials = match map.c2pa_len {
        0 => String::new(),
        n => format!(" but its C2PA manifest box ({n} bytes, hashed above)"),
    };
    match crate::stream_cmp::first_difference(clip, BufReader::new(derived)) {
        Ok(None) => rep.ok(
            &info.clip,
            format!(
                "every byte ({}){credentials} re-derived from the signed ciphertext with the bundled keys",
                map.clip_len
            ),
        ),
        Ok(Some(at)) => rep.fail(&info.clip, Failure::Clip(format!("first at byte {at}"))),
        Err(e) => rep.fail(&info.clip, Failure::Decrypt(e.to_string())),
    }
}

/// A manifest box larger than this is refused before it is read: a
/// C2PA manifest of a clip (claim, assertions, certificate chain) is a
/// few KiB.
const MAX_C2PA_BOX: u64 = 1 << 24;

/// The clip's first bytes up to the end of its C2PA box of `len` bytes
/// right after `ftyp` (nothing if `len` is 0), and where the box starts
/// in them.
fn c2pa_prefix(clip: &mut impl Read, len: u64) -> Result<(Vec<u8>, usize), String> {
    if len == 0 {
        return Ok((Vec::new(), 0));
    }
    if len > MAX_C2PA_BOX {
        return Err(format!(
            "the sample map's C2PA box of {len} bytes is too long"
        ));
    }
    let mut head = [0u8; 8];
    clip.read_exact(&mut head).map_err(|e| e.to_string())?;
    let ftyp = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
    if &head[4..] != b"ftyp" || !(8..=4096).contains(&ftyp) {
        return Err("it does not start with an ftyp box".into());
    }
    let mut prefix = head.to_vec();
    clip.take(ftyp - 8 + len)
        .read_to_end(&mut prefix)
        .map_err(|e| e.to_string())?;
    match obhut_media::c2pa_box_at(&prefix) {
        Some(r) if r.start == ftyp && r.end == ftyp + len && prefix.len() as u64 == r.end => {
            // ftyp ≤ 4096 bytes: fits in usize.
            Ok((prefix, ftyp as usize))
        }
        _ => Err(format!(
            "no C2PA box of {len} bytes after its ftyp, as the sample map says"
        )),
    }
}

/// A reader of `path`, age-decrypted if `encrypted`.
fn read_maybe_age(
    path: &Path,
    encrypted: bool,
    identities: &[age::x25519::Identity],
) -> Result<Box<dyn Read>, Failure> {
    let file = File::open(path).map_err(|e| Failure::Decrypt(e.to_string()))?;
    if !encrypted {
        return Ok(Box::new(BufReader::new(file)));
    }
    let d = age::Decryptor::new_buffered(BufReader::new(file))
        .map_err(|e| Failure::Decrypt(e.to_string()))?;
    let r = d
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .map_err(|e| Failure::Decrypt(e.to_string()))?;
    Ok(Box::new(r))
}

/// Length and ciphertext hash (§6.3) of a blob file.
fn ciphertext_hash(path: &Path) -> std::io::Result<(u64, [u8; 32])> {
    let mut f = File::open(path)?;
    let mut h = obhut_core::segment::ciphertext_hasher();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok((n, *h.finalize().as_bytes()));
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
}
