//! Ingest of one file (docs/vault.md §4): cut, seal each segment straight
//! into the upload, keep the receipts, resume from `/head`, and verify
//! every receipt before disposing of the original.
//!
//! ## One sealing pass per segment
//!
//! The upload body is `blob ‖ record` (protocol draft 2): the blob first,
//! then the 1596-byte signed record as a trailer. The request signature
//! covers the upload's framing — recording, index and `Content-Length` —
//! not its content (§2), and the blob's length is a function of the
//! plaintext length ([`obhut_core::segment::blob_len`]), so the headers go
//! out before sealing starts. Each segment is then sealed exactly once,
//! with fresh randomness from the OS, by the thread that sends its HTTP
//! body ([`crate::client::VaultClient::start_segment_stream`]): the body
//! ([`crate::body`]) seals the plaintext chunk by chunk as the connection
//! takes it. When the blob is complete the agent checks that it read the
//! planned number of bytes from an unchanged file, signs the record (which
//! commits to the BLAKE3 hash computed while sealing) and hands the
//! journal, with the record pending, to the journal writer thread
//! ([`crate::journal_writer`]), which writes it durably and only then
//! gives the record to the body as its trailer. The vault verifies the record
//! against the path, the device and the blob it received before anything
//! becomes durable (§4), so a stream that fails or is cut at any point
//! leaves nothing stored. Every key and nonce is used for exactly one
//! ciphertext, and the device's crypto cost is one AES-GCM and one BLAKE3
//! pass over the plaintext.
//!
//! ## Pipeline
//!
//! A segment costs the device sealing and sending, and the vault
//! verifying, fsyncing, committing and answering; done one after the other
//! the device and the vault mostly wait for each other. So up to
//! [`PIPELINE`] segments are in flight (§4, the upload window), each
//! sealed and sent by its own upload thread on its own connection, at once:
//! segments are independent until their records are signed, which the
//! agent does strictly in index order (record i+1 chains on record i) as
//! each blob is complete, while earlier records are journaled and sent
//! and the vault stores and acknowledges earlier segments.
//! The vault holds i+1, staged and checked, until i is published, so
//! segments still become visible strictly in order and an acknowledgement
//! still means durable. Acknowledgements are taken in index order: each
//! receipt is verified before the segment counts as acknowledged. When
//! the oldest upload fails, the later ones are abandoned (their records
//! stay pending) and the run fails or retries from a fresh reconcile. A
//! vault without the window, or with a smaller one, refuses the uploads
//! beyond it as out-of-order; the run then goes on one segment at a time.
//!
//! ## Resume
//!
//! The journal durably holds each segment's record as pending before the
//! record's first byte is sent, so the vault can never have stored a
//! segment whose record the journal lacks. An acknowledgement needs no
//! journal write of its own (see `land`): the journal may lag the vault,
//! never lead it. On every (re)start the agent asks `/head` and
//! reconciles: a vault at `next_index = acked` resumes at `acked` (pending
//! records it does not hold stay pending, in case an upload of one still
//! arrives, and those segments are re-sealed afresh with new keys); a
//! vault ahead must be ahead by pending records only — walking back from
//! its head hash through their `prev` links to the last acknowledged
//! record identifies each of them, and each one's receipt is fetched
//! (`GET /v1/receipts`) and verified; anything else (the vault lost
//! acknowledged segments, or holds segments this device never journaled)
//! is [`Error::VaultDiverged`] and nothing is disposed of. A `409` on an
//! upload (the trace of an earlier, cut-off upload stored meanwhile)
//! leads to another reconcile within the run's attempts.
//!
//! The pipeline itself (launching, signing and landing segments in flight)
//! is in `pipeline.rs`.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use obhut_api::ErrorKind;
use obhut_api::ingest::UPLOAD_WINDOW;
use obhut_core::epoch::EpochPublic;
use obhut_core::group::PinnedGroup;
use obhut_core::identity::{SignKey, VerifyKey};
use obhut_core::ids::{RecordingId, SegmentRef};
use obhut_core::segment::SegmentKind;
use obhut_core::vault::IngestReceipt;

use crate::client::VaultClient;
use crate::cut::{self, CutOptions};
use crate::error::{Error, Result};
use crate::journal::{FileId, Journal, PlannedSegment, Source};
use crate::journal_writer::JournalWriter;
use crate::state::{Enrolment, StateDir};

mod pipeline;

/// Segments in flight at once (module docs, "Pipeline"): the upload window
/// W of docs/vault.md §4, which a vault accepts (`index < next_index + W`).
/// Segments are sealed and sent at once while earlier ones are fsynced,
/// published and acknowledged at the vault; 4 measured about 20 % faster
/// than 2 on a 1 GiB ingest (`scripts/bench-vault`). Each costs a thread,
/// two 64 KiB buffers and a connection here and a staged blob at the
/// vault. History: BENCHMARKS.md, "Tuning decisions".
pub const PIPELINE: usize = UPLOAD_WINDOW as usize;

/// What to do with an original once every segment has a verified receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterIngest {
    /// Delete it (and its sidecar).
    Delete,
    /// Move it (and its sidecar) into this directory.
    MoveTo(PathBuf),
    /// Leave it where it is.
    Keep,
}

/// Ingest settings.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Disposal of originals after verified receipts.
    pub after: AfterIngest,
    /// Cutting.
    pub cut: CutOptions,
    /// Extension of the metadata sidecar next to a media file
    /// (`clip.json` for `clip.mp4`).
    pub sidecar_extension: String,
    /// Upload attempts per run for transient failures (≥ 1).
    pub attempts: u32,
    /// First back-off between attempts (doubles, at most 60 s).
    pub backoff: Duration,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            after: AfterIngest::Keep,
            cut: CutOptions::default(),
            sidecar_extension: "json".into(),
            attempts: 5,
            backoff: Duration::from_secs(1),
        }
    }
}

/// Progress reports; every method has a no-op default.
pub trait Progress: Send + Sync {
    /// A recording is planned or resumed.
    fn start(
        &self,
        _source: &Path,
        _recording: RecordingId,
        _segments: usize,
        _bytes: u64,
        _done_bytes: u64,
    ) {
    }
    /// Plaintext bytes sealed and sent.
    fn bytes(&self, _n: u64) {}
    /// Segment stored and its receipt verified.
    fn segment(&self, _index: u32, _of: usize, _already_stored: bool) {}
    /// A remark worth telling a person (fallback cut, retry, resume).
    fn note(&self, _msg: &str) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// What an ingest achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The recording.
    pub recording: RecordingId,
    /// Number of segments (all acknowledged).
    pub segments: usize,
    /// Segments this run uploaded.
    pub uploaded: usize,
    /// The record hash of each segment, in order: each has a receipt that
    /// verified under the vault key pinned at enrolment, the last one
    /// before the original was disposed of.
    pub receipted: Vec<[u8; 32]>,
    /// What happened to the original: "deleted", "moved to …", "kept".
    pub disposed: String,
}

/// A device agent bound to its state directory, vault and key.
pub struct Agent<'a> {
    state: &'a StateDir,
    enrolment: Enrolment,
    group: PinnedGroup,
    vault_key: VerifyKey,
    device: &'a SignKey,
    client: VaultClient<'a>,
    epochs: Vec<EpochPublic>,
    /// Segments in flight for the ingest under way: [`PIPELINE`], or 1
    /// after a vault refused the oldest upload in flight as out of order
    /// (a vault without the upload window).
    window: usize,
    /// Every journal write of an ingest, in order; signing the next record
    /// does not wait for the pending record's write (module docs).
    journal_writer: JournalWriter,
    /// Every upload sends a token here when its blob is sealed and when
    /// its answer is in; the pipeline waits on it when it has nothing to do.
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
    /// The custody run of the recording being sealed (format.md §5.6): one
    /// run spans up to 64 segments, not one per segment. Never written
    /// down: a restart starts a new run.
    custody_run: Option<std::sync::Arc<obhut_core::pq_custody::CustodyRun>>,
}

impl std::fmt::Debug for Agent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("state", &self.state.root())
            .field("vault", &self.enrolment.vault_url)
            .finish_non_exhaustive()
    }
}

/// `clip.json` for `clip.mp4`.
pub fn sidecar_of(path: &Path, ext: &str) -> PathBuf {
    path.with_extension(ext)
}

/// Whether the file at `path` starts with the metadata patch's magic.
fn opens_like_patch(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut head = Vec::with_capacity(4);
    std::fs::File::open(path)
        .and_then(|f| f.take(4).read_to_end(&mut head))
        .map_err(Error::io("read", path))?;
    Ok(obhut_core::meta_patch::looks_like_patch(&head))
}

impl<'a> Agent<'a> {
    /// Load the enrolment and pinned group; `device` must be the enrolled key.
    pub fn new(state: &'a StateDir, device: &'a SignKey) -> Result<Self> {
        let enrolment = state.enrolment()?;
        let id = hex::encode(device.verify_key().to_bytes());
        if id != enrolment.device_id {
            return Err(Error::Protocol {
                what: "device key".into(),
                reason: format!(
                    "the key given is device {id}, but {} is enrolled as device {}",
                    state.root().display(),
                    enrolment.device_id
                ),
            });
        }
        let group = state.pinned_group()?;
        let vault_key = enrolment.vault_key()?;
        let client = VaultClient::new(&enrolment.vault_url, vault_key.to_bytes(), device)?;
        let epochs = state.epochs()?;
        let (wake_tx, wake_rx) = channel();
        Ok(Agent {
            state,
            enrolment,
            group,
            vault_key,
            device,
            client,
            epochs,
            window: PIPELINE,
            journal_writer: JournalWriter::spawn()?,
            wake_tx,
            wake_rx,
            custody_run: None,
        })
    }

    /// The epoch covering `t`, from the cache or else the vault.
    fn epoch_for(&mut self, t: i64) -> Result<usize> {
        let find = |es: &[EpochPublic]| {
            es.iter().position(|e| {
                e.retention_class == self.enrolment.retention_class
                    && e.not_before <= t
                    && t < e.not_after
            })
        };
        if let Some(i) = find(&self.epochs) {
            return Ok(i);
        }
        for e in self
            .client
            .epochs_covering(&self.enrolment.retention_class, t)?
        {
            if !self.epochs.contains(&e) {
                self.state.save_epoch(&e)?;
                self.epochs.push(e);
            }
        }
        find(&self.epochs).ok_or_else(|| Error::NoEpoch {
            class: self.enrolment.retention_class.clone(),
            capture_utc_ms: t,
        })
    }

    /// Start or resume the journal of `source`.
    fn journal_for(
        &self,
        source: &Path,
        opts: &IngestOptions,
        progress: &dyn Progress,
    ) -> Result<Journal> {
        let jpath = Journal::path_for(&self.state.journal_dir(), source);
        let id = FileId::of(source)?;
        let sidecar_path = sidecar_of(source, &opts.sidecar_extension);
        let sidecar = if sidecar_path != source && sidecar_path.is_file() {
            if opens_like_patch(&sidecar_path)? {
                // A reader would take it for the metadata patch
                // (docs/format.md §7.4).
                progress.note(&format!(
                    "{} starts like a metadata patch (OBMP); not sealed as the sidecar",
                    sidecar_path.display()
                ));
                None
            } else {
                Some(FileId::of(&sidecar_path)?)
            }
        } else {
            None
        };
        if let Some(j) = Journal::load(&jpath)? {
            if j.source == id && (j.complete || j.sidecar == sidecar) {
                return Ok(j);
            }
            // Another file now lives at this path (or the file changed):
            // keep the old journal for the record and start afresh.
            let aside = jpath.with_extension(format!("json.superseded-{}", j.recording_id));
            std::fs::rename(&jpath, &aside).map_err(Error::io("rename", &jpath))?;
            if !j.complete {
                progress.note(&format!(
                    "{} changed since recording {} started; that recording stays incomplete at the vault, starting a new one",
                    source.display(),
                    j.recording_id
                ));
            }
        }
        let cut::Planned {
            segments: mut plan,
            why,
            blanks,
            metadata_kept,
        } = cut::plan_media(source, id.len, &opts.cut)?;
        if let Some(why) = why {
            progress.note(&format!(
                "{} is not a cuttable MP4 ({why}); sealing it as byte ranges without media times",
                source.display()
            ));
        }
        if let Some(why) = metadata_kept {
            progress.note(&format!(
                "{}: its metadata stays in the segments every grant opens ({why})",
                source.display()
            ));
        }
        let duration = plan.iter().map(|p| p.media_end_ms).max().unwrap_or(0);
        if let Some(s) = &sidecar {
            plan.push(PlannedSegment {
                kind: SegmentKind::Metadata.to_u8(),
                source: Source::Sidecar,
                offset: 0,
                len: s.len,
                media_start_ms: 0,
                media_end_ms: duration,
            });
        }
        if u32::try_from(plan.len()).is_err() {
            return Err(Error::Cut {
                path: source.to_owned(),
                reason: "more than 2^32 segments".into(),
            });
        }
        // A camera closes the file when recording stops: its mtime is the
        // end, so media time 0 was captured `duration` earlier.
        let capture_utc_ms = id
            .mtime_ms
            .saturating_sub(i64::try_from(duration).unwrap_or(i64::MAX));
        let recording = RecordingId::random(&mut obhut_core::rng::os_rng());
        let mut j = Journal::new(jpath, id, sidecar, recording, capture_utc_ms, plan);
        j.blanks = blanks.iter().map(Into::into).collect();
        self.journal_writer.snapshot(&mut j)?;
        Ok(j)
    }

    /// Ingest `source` (and its sidecar): the whole §4 procedure, resuming
    /// whatever an earlier run left, retrying transient failures
    /// `opts.attempts` times.
    pub fn ingest(
        &mut self,
        source: &Path,
        opts: &IngestOptions,
        progress: &dyn Progress,
    ) -> Result<Outcome> {
        let source = std::path::absolute(source).map_err(Error::io("resolve", source))?;
        let mut j = self.journal_for(&source, opts, progress)?;
        let recording = j.recording()?;
        let total: u64 = j.plan.iter().map(|p| p.len).sum();
        let mut uploaded = 0;
        if !j.complete {
            let mut attempt = 0;
            let mut backoff = opts.backoff;
            self.window = PIPELINE;
            loop {
                attempt += 1;
                let done: u64 = j.plan.iter().take(j.acked.len()).map(|p| p.len).sum();
                progress.start(&source, recording, j.plan.len(), total, done);
                match self.upload_remaining(&mut j, recording, progress, &mut uploaded) {
                    Ok(()) => break,
                    Err(e)
                        if (e.is_transient() || reconcile_and_retry(&e))
                            && attempt < opts.attempts.max(1) =>
                    {
                        if is_out_of_order(&e) && self.window > 1 {
                            // The oldest upload in flight was refused although
                            // its predecessor was acknowledged: a vault
                            // without the upload window (docs/vault.md §4,
                            // before draft 2's window), or one that kept it
                            // waiting past its bound. One at a time from here.
                            self.window = 1;
                            progress.note("the vault refused a pipelined segment; uploading one segment at a time");
                        }
                        progress.note(&format!("{e}; retrying in {} s", backoff.as_secs_f32()));
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                    }
                    Err(e) => return Err(e),
                }
            }
            self.verify_all(&j, recording)?;
            j.complete = true;
            self.journal_writer.snapshot(&mut j)?;
        }
        let disposed = match &j.disposed {
            Some(d) => d.clone(),
            None => {
                // Verify before wipe: re-check every receipt from the journal.
                self.verify_all(&j, recording)?;
                let d = dispose(&j, &opts.after)?;
                j.disposed = Some(d.clone());
                self.journal_writer.snapshot(&mut j)?;
                d
            }
        };
        Ok(Outcome {
            recording,
            segments: j.plan.len(),
            uploaded,
            disposed,
            receipted: (0..j.acked.len())
                .map(|i| j.acked_hash(i))
                .collect::<Result<_>>()?,
        })
    }

    /// Bring the journal in line with the vault's head (module docs).
    fn reconcile(&self, j: &mut Journal, recording: RecordingId) -> Result<()> {
        let acked = j.acked.len();
        let head = self.client.head(recording)?;
        let (vault_next, head_hash) = head.as_ref().map_or((0, [0; 32]), |h| {
            (h.next_index as usize, h.head_record_hash)
        });
        let diverged = |reason: String| Error::VaultDiverged { recording, reason };
        if vault_next < acked {
            return Err(diverged(format!(
                "the vault holds {vault_next} segment(s) but acknowledged {acked}"
            )));
        }
        let base = match acked {
            0 => [0; 32],
            n => j.acked_hash(n - 1)?,
        };
        if vault_next == acked {
            if acked > 0 && head_hash != base {
                return Err(diverged(format!(
                    "segment {} differs from the acknowledged one",
                    acked - 1
                )));
            }
            // Pending records the vault does not hold stay pending: an
            // upload of one may still be on its way, and if the vault stores
            // it, the next reconcile recognises it. These indices are sealed
            // afresh (new keys).
            return Ok(());
        }
        // The vault is ahead: only by records this device journaled as
        // pending. Walk back from its head through their chain links (the
        // vault stores a segment only after its predecessor) to the last
        // acknowledged record.
        let pending = j.pending_records()?;
        let mut stored = Vec::with_capacity(vault_next - acked);
        let mut want = head_hash;
        for k in (acked..vault_next).rev() {
            let rec = pending
                .iter()
                .find(|r| r.segment_ref().index as usize == k && r.record_hash() == want)
                .ok_or_else(|| {
                    diverged(format!(
                        "the vault holds {vault_next} segment(s), this device acknowledged {acked} and sealed no record that is the vault's segment {k}"
                    ))
                })?;
            want = *rec.prev_record_hash();
            stored.push(rec.clone());
        }
        if want != base {
            return Err(diverged(format!(
                "the vault's segment {acked} does not follow the acknowledged ones"
            )));
        }
        for rec in stored.iter().rev() {
            let segment = rec.segment_ref();
            let receipt = self.client.receipt(recording, segment.index)?;
            self.check_receipt(segment, &receipt, &rec.record_hash())?;
            j.ack(rec, &receipt)?;
        }
        self.journal_writer.save(j)
    }

    fn check_receipt(
        &self,
        segment: SegmentRef,
        bytes: &[u8],
        record_hash: &[u8; 32],
    ) -> Result<()> {
        let r = IngestReceipt::from_bytes(bytes).map_err(|_| Error::BadReceipt {
            segment,
            reason: "malformed or its signature does not verify",
        })?;
        r.verify_for(&self.vault_key, record_hash)
            .map_err(|_| Error::BadReceipt {
                segment,
                reason: "not from the vault key pinned at enrolment, or for another record",
            })
    }

    /// Verify before wipe: every planned segment acknowledged, each receipt
    /// verifying under the pinned vault key for that segment's record hash,
    /// and the last record final.
    fn verify_all(&self, j: &Journal, recording: RecordingId) -> Result<()> {
        if j.acked.len() != j.plan.len() {
            return Err(Error::Journal {
                path: j.path().to_owned(),
                reason: format!(
                    "{} of {} segments acknowledged",
                    j.acked.len(),
                    j.plan.len()
                ),
            });
        }
        for i in 0..j.acked.len() {
            let segment = SegmentRef {
                recording,
                index: u32::try_from(i).unwrap_or(u32::MAX),
            };
            self.check_receipt(segment, &j.acked_receipt(i)?, &j.acked_hash(i)?)?;
        }
        let last = j.last_record()?.ok_or_else(|| Error::Journal {
            path: j.path().to_owned(),
            reason: "no last record".into(),
        })?;
        if !last.is_final()
            || last.segment_ref().recording != recording
            || Some(last.record_hash())
                != j.acked
                    .len()
                    .checked_sub(1)
                    .map(|i| j.acked_hash(i))
                    .transpose()?
        {
            return Err(Error::Journal {
                path: j.path().to_owned(),
                reason: "the last acknowledged record is not the recording's final one".into(),
            });
        }
        Ok(())
    }
}

/// Whether the vault itself refused an upload (a §4 error answer, which
/// it gives only without storing), as opposed to a failure that leaves
/// the upload's fate unknown (a cut connection, a proxy's 5xx): only then
/// can the record never be stored.
fn refused_outright(e: &Error) -> bool {
    matches!(e, Error::Vault { status, kind: Some(_), .. } if (400..500).contains(status))
}

/// A vault's `409 out-of-order` for a segment upload.
fn is_out_of_order(e: &Error) -> bool {
    matches!(e, Error::Vault { status: 409, kind: Some(ErrorKind::OutOfOrder), what, .. }
        if what.starts_with("PUT "))
}

/// Whether a failed run should reconcile and try again although the
/// failure is not transient: a `409` from an upload of this recording can
/// be the trace of an earlier upload of this device that was cut off on
/// its way and stored meanwhile (a successor in flight refused because
/// its predecessor failed; a fresh segment losing to a stored one). The
/// next attempt's reconcile recognises a stored pending record, or
/// reports a real divergence ([`Error::VaultDiverged`]).
fn reconcile_and_retry(e: &Error) -> bool {
    matches!(e, Error::Vault {
            status: 409,
            kind: Some(ErrorKind::OutOfOrder | ErrorKind::ChainConflict),
            what,
            ..
        } if what.starts_with("PUT "))
}

/// Dispose of the original and its sidecar per `after`. Each removal or
/// move is followed by an fsync of the directory.
fn dispose(j: &Journal, after: &AfterIngest) -> Result<String> {
    let files: Vec<&Path> = std::iter::once(j.source.path.as_path())
        .chain(j.sidecar.as_ref().map(|s| s.path.as_path()))
        .collect();
    match after {
        AfterIngest::Keep => Ok("kept".into()),
        AfterIngest::Delete => {
            for f in &files {
                match std::fs::remove_file(f) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("delete", *f)(e)),
                }
                if let Some(d) = f.parent() {
                    crate::state::sync_dir(d)?;
                }
            }
            Ok("deleted".into())
        }
        AfterIngest::MoveTo(dir) => {
            std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
            for f in &files {
                let Some(name) = f.file_name() else { continue };
                let to = dir.join(name);
                match std::fs::rename(f, &to) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && to.exists() => {}
                    Err(e) => return Err(Error::io("move", *f)(e)),
                }
                crate::state::sync_dir(dir)?;
                if let Some(d) = f.parent() {
                    crate::state::sync_dir(d)?;
                }
            }
            Ok(format!("moved to {}", dir.display()))
        }
    }
}
