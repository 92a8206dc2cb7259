//! Ingest of one file (docs/vault.md §4): cut, seal each segment straight
//! into the upload, keep the receipts, resume from `/head`, and verify
//! every receipt before disposing of the original.
//!
//! ## Two sealing passes per segment
//!
//! The upload body is `record ‖ blob`, and the request signature covers the
//! record hash (§2), so the record — which commits to the BLAKE3 hash of
//! the whole blob — must exist before the first body byte is sent. To
//! stream without holding the blob in memory or on disk, each segment is
//! sealed twice from one fresh 32-byte seed (a ChaCha20 CSPRNG standing in
//! for the OS RNG): pass 1 seals into a sink and yields the hash, from
//! which the record is signed; pass 2 re-seals identically (same r, w, b,
//! same header, same K) into a bounded pipe that feeds the HTTP body. The
//! seed lives only in this function and is zeroized when the segment is
//! done. Pass 1's ciphertext never leaves the process, so even if the
//! source changed between the passes only one ciphertext under that key is
//! ever exposed; pass 2's hash is compared with pass 1's, and the vault
//! refuses a blob whose hash differs (§1.3). A retry always draws a new
//! seed. The cost is a second AES-GCM pass (≈2 GB/s per core), cheap next
//! to the network.
//!
//! ## Resume
//!
//! Before uploading segment i the journal durably holds its record as
//! "pending". On every (re)start the agent asks `/head` and reconciles:
//! a vault at `next_index = acked` resumes at `acked`; a vault one ahead
//! whose head hash is the pending record's has stored it, so its receipt is
//! fetched (`GET /v1/receipts`) and verified; anything else (the vault lost
//! acknowledged segments, or holds segments this device never journaled) is
//! [`Error::VaultDiverged`] and nothing is disposed of. Re-sealing an
//! unacknowledged segment afresh is correct: the vault never stored it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::epoch::EpochPublic;
use obhut_core::group::PinnedGroup;
use obhut_core::identity::{SignKey, VerifyKey};
use obhut_core::ids::{RecordingId, SegmentRef};
use obhut_core::segment::{SealedSegment, SegmentKind};
use obhut_core::vault::IngestReceipt;
use rand_core::SeedableRng;
use zeroize::Zeroizing;

use crate::client::VaultClient;
use crate::cut::{self, CutOptions};
use crate::error::{Error, Result};
use crate::journal::{FileId, Journal, Pending, PlannedSegment, Source, b64};
use crate::pipe;
use crate::state::{Enrolment, StateDir};

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
        let client = VaultClient::new(&enrolment.vault_url, device)?;
        let epochs = state.epochs()?;
        Ok(Agent {
            state,
            enrolment,
            group,
            vault_key,
            device,
            client,
            epochs,
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
        for e in self.client.epochs(&self.enrolment.retention_class)? {
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
    ) -> Result<(PathBuf, Journal)> {
        let jpath = Journal::path_for(&self.state.journal_dir(), source);
        let id = FileId::of(source)?;
        let sidecar_path = sidecar_of(source, &opts.sidecar_extension);
        let sidecar = if sidecar_path != source && sidecar_path.is_file() {
            Some(FileId::of(&sidecar_path)?)
        } else {
            None
        };
        if let Some(j) = Journal::load(&jpath)? {
            if j.source == id && (j.complete || j.sidecar == sidecar) {
                return Ok((jpath, j));
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
        let (mut plan, why) = cut::plan_media(source, id.len, &opts.cut)?;
        if let Some(why) = why {
            progress.note(&format!(
                "{} is not a cuttable MP4 ({why}); sealing it as byte ranges without media times",
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
        let j = Journal {
            version: 1,
            source: id,
            sidecar,
            recording_id: recording.to_string(),
            capture_utc_ms,
            plan,
            acked: Vec::new(),
            last_record: None,
            pending: None,
            complete: false,
            disposed: None,
        };
        j.save(&jpath)?;
        Ok((jpath, j))
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
        let (jpath, mut j) = self.journal_for(&source, opts, progress)?;
        let recording = j.recording(&jpath)?;
        let total: u64 = j.plan.iter().map(|p| p.len).sum();
        let mut uploaded = 0;
        if !j.complete {
            let mut attempt = 0;
            let mut backoff = opts.backoff;
            loop {
                attempt += 1;
                let done: u64 = j.plan.iter().take(j.acked.len()).map(|p| p.len).sum();
                progress.start(&source, recording, j.plan.len(), total, done);
                match self.upload_remaining(&jpath, &mut j, recording, progress, &mut uploaded) {
                    Ok(()) => break,
                    Err(e) if e.is_transient() && attempt < opts.attempts.max(1) => {
                        progress.note(&format!("{e}; retrying in {} s", backoff.as_secs_f32()));
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                    }
                    Err(e) => return Err(e),
                }
            }
            self.verify_all(&jpath, &j, recording)?;
            j.complete = true;
            j.save(&jpath)?;
        }
        let disposed = match &j.disposed {
            Some(d) => d.clone(),
            None => {
                // Verify before wipe: re-check every receipt from the journal.
                self.verify_all(&jpath, &j, recording)?;
                let d = dispose(&j, &opts.after)?;
                j.disposed = Some(d.clone());
                j.save(&jpath)?;
                d
            }
        };
        Ok(Outcome {
            recording,
            segments: j.plan.len(),
            uploaded,
            disposed,
        })
    }

    /// Reconcile with `/head`, then seal and upload every segment from the
    /// vault's next index.
    fn upload_remaining(
        &mut self,
        jpath: &Path,
        j: &mut Journal,
        recording: RecordingId,
        progress: &dyn Progress,
        uploaded: &mut usize,
    ) -> Result<()> {
        self.reconcile(jpath, j, recording)?;
        while j.acked.len() < j.plan.len() {
            let index = u32::try_from(j.acked.len()).map_err(|_| Error::Cut {
                path: j.source.path.clone(),
                reason: "more than 2^32 segments".into(),
            })?;
            let already = self.upload_one(jpath, j, recording, index, progress)?;
            if !already {
                *uploaded += 1;
            }
            progress.segment(index, j.plan.len(), already);
        }
        Ok(())
    }

    /// Bring the journal in line with the vault's head (module docs).
    fn reconcile(&self, jpath: &Path, j: &mut Journal, recording: RecordingId) -> Result<()> {
        let acked = j.acked.len();
        let head = self.client.head(recording)?;
        let vault_next = head.as_ref().map_or(0, |h| h.next_index as usize);
        let diverged = |reason: String| Error::VaultDiverged { recording, reason };
        if vault_next < acked {
            return Err(diverged(format!(
                "the vault holds {vault_next} segment(s) but acknowledged {acked}"
            )));
        }
        if vault_next == acked {
            if acked > 0 {
                let h = head
                    .as_ref()
                    .map(|h| h.head_record_hash)
                    .unwrap_or_default();
                if h != j.acked_hash(jpath, acked - 1)? {
                    return Err(diverged(format!(
                        "segment {} differs from the acknowledged one",
                        acked - 1
                    )));
                }
            }
            if j.pending.take().is_some() {
                j.save(jpath)?;
            }
            return Ok(());
        }
        // The vault is ahead: only by the pending segment, with its hash.
        let pending = j.pending_record(jpath)?;
        match (pending, head) {
            (Some(rec), Some(h))
                if vault_next == acked + 1
                    && rec.segment_ref().index as usize == acked
                    && rec.record_hash() == h.head_record_hash =>
            {
                let index = rec.segment_ref().index;
                let receipt = self.client.receipt(recording, index)?;
                self.check_receipt(rec.segment_ref(), &receipt, &rec.record_hash())?;
                j.ack(&rec, &receipt);
                j.save(jpath)?;
                Ok(())
            }
            _ => Err(diverged(format!(
                "the vault holds {vault_next} segment(s), this device acknowledged {acked} and sealed no other"
            ))),
        }
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
    fn verify_all(&self, jpath: &Path, j: &Journal, recording: RecordingId) -> Result<()> {
        if j.acked.len() != j.plan.len() {
            return Err(Error::Journal {
                path: jpath.to_owned(),
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
            self.check_receipt(
                segment,
                &j.acked_receipt(jpath, i)?,
                &j.acked_hash(jpath, i)?,
            )?;
        }
        let last = j.last_record(jpath)?.ok_or_else(|| Error::Journal {
            path: jpath.to_owned(),
            reason: "no last record".into(),
        })?;
        if !last.is_final()
            || last.segment_ref().recording != recording
            || Some(last.record_hash())
                != j.acked
                    .len()
                    .checked_sub(1)
                    .map(|i| j.acked_hash(jpath, i))
                    .transpose()?
        {
            return Err(Error::Journal {
                path: jpath.to_owned(),
                reason: "the last acknowledged record is not the recording's final one".into(),
            });
        }
        Ok(())
    }

    /// Seal segment `index` twice (module docs) and upload it. Returns
    /// whether the vault already held it.
    fn upload_one(
        &mut self,
        jpath: &Path,
        j: &mut Journal,
        recording: RecordingId,
        index: u32,
        progress: &dyn Progress,
    ) -> Result<bool> {
        let p = *j.plan.get(index as usize).ok_or_else(|| Error::Journal {
            path: jpath.to_owned(),
            reason: "index beyond the plan".into(),
        })?;
        let kind = p.segment_kind().ok_or_else(|| Error::Journal {
            path: jpath.to_owned(),
            reason: format!("unknown segment kind {}", p.kind),
        })?;
        let is_final = index as usize + 1 == j.plan.len();
        let media_offset = if kind == SegmentKind::Metadata {
            0
        } else {
            p.media_start_ms
        };
        let capture_utc_ms = j
            .capture_utc_ms
            .saturating_add(i64::try_from(media_offset).unwrap_or(i64::MAX));
        let spec = SegmentSpec {
            kind,
            media_start_ms: p.media_start_ms,
            media_end_ms: p.media_end_ms,
            capture_utc_ms,
            is_final,
        };
        let epoch_idx = self.epoch_for(capture_utc_ms)?;
        let epoch = &self.epochs[epoch_idx];
        let last = j.last_record(jpath)?;
        let file = match p.source {
            Source::Main => j.source.clone(),
            Source::Sidecar => j.sidecar.clone().ok_or_else(|| Error::Journal {
                path: jpath.to_owned(),
                reason: "a sidecar segment without a sidecar".into(),
            })?,
        };
        if FileId::of(&file.path)? != file {
            return Err(Error::SourceChanged {
                path: file.path,
                recording,
                reason: "its length or modification time changed",
            });
        }
        let open = || -> Result<std::io::Take<File>> {
            let mut f = File::open(&file.path).map_err(Error::io("open", &file.path))?;
            f.seek(SeekFrom::Start(p.offset))
                .map_err(Error::io("seek", &file.path))?;
            Ok(f.take(p.len))
        };
        let device = self.device;
        let group = &self.group;
        let make = || -> Result<RecordingSealer<'_>> {
            match &last {
                None => Ok(RecordingSealer::new(device, group, epoch, recording)),
                Some(l) => RecordingSealer::resume(device, group, epoch, l)
                    .map_err(Error::core("cannot continue the chain")),
            }
        };
        let segment = SegmentRef { recording, index };
        let mut seed = Zeroizing::new([0u8; 32]);
        rand_core::Rng::fill_bytes(&mut obhut_core::rng::os_rng(), &mut *seed);

        // Pass 1: hash only.
        let mut sealer = make()?;
        let s1 = sealer
            .seal_at(
                index,
                spec,
                open()?,
                std::io::sink(),
                &mut chacha20::ChaCha20Rng::from_seed(*seed),
            )
            .map_err(Error::core(format!("cannot seal {segment}")))?;
        if s1.plaintext_len != p.len {
            return Err(Error::SourceChanged {
                path: file.path,
                recording,
                reason: "fewer bytes than planned",
            });
        }
        let record = sealer
            .sign_next(&s1, is_final)
            .map_err(Error::core(format!("cannot sign {segment}")))?;
        let record_bytes = record.to_bytes();
        let record_hash = record.record_hash();
        j.pending = Some(Pending {
            index,
            record: b64(&record_bytes),
        });
        j.save(jpath)?;

        // Pass 2: the same bytes again, into the upload.
        let blob_len = record.blob_len();
        let (uploaded, sealed2) = std::thread::scope(|s| {
            let (writer, reader) = pipe::pipe();
            let seed2 = *seed;
            let file_path = &file.path;
            let sealer_thread = s.spawn(move || -> Result<SealedSegment> {
                let mut rng = chacha20::ChaCha20Rng::from_seed(seed2);
                let mut seed2 = seed2;
                zeroize::Zeroize::zeroize(&mut seed2);
                let mut w = writer;
                let mut run = || -> Result<SealedSegment> {
                    let b = make()?;
                    let input = Counted {
                        inner: open()?,
                        progress,
                    };
                    b.seal_at(index, spec, input, &mut w, &mut rng)
                        .map_err(Error::core(format!("cannot seal {segment}")))
                };
                match run() {
                    Ok(s2) => {
                        w.finish().map_err(Error::io("stream", file_path))?;
                        Ok(s2)
                    }
                    Err(e) => {
                        w.fail(e.to_string());
                        Err(e)
                    }
                }
            });
            let up = self
                .client
                .put_segment(&record_bytes, &record_hash, reader, blob_len);
            let sealed = sealer_thread.join().unwrap_or_else(|_| {
                Err(Error::Protocol {
                    what: format!("sealing {segment}"),
                    reason: "the sealing thread panicked".into(),
                })
            });
            (up, sealed)
        });
        drop(seed);
        // A broken upload stops the sealer (its pipe closes), so the
        // upload's error is the cause; a sealer that failed on its own made
        // the upload fail with its message.
        let up = uploaded?;
        let s2 = sealed2?;
        if s2.ciphertext_hash != s1.ciphertext_hash || s2.header != s1.header {
            return Err(Error::SourceChanged {
                path: file.path,
                recording,
                reason: "its bytes changed while being sealed",
            });
        }
        self.check_receipt(segment, &up.receipt, &record_hash)?;
        j.ack(&record, &up.receipt);
        j.save(jpath)?;
        Ok(up.already_stored)
    }
}

/// A reader that reports the bytes it reads.
struct Counted<'p, R> {
    inner: R,
    progress: &'p dyn Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes(n as u64);
        Ok(n)
    }
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
