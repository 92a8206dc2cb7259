//! The ingest pipeline (module docs of [`super`], "Pipeline"): up to
//! [`PIPELINE`](super::PIPELINE) segments in flight, each sealed by its own upload thread as
//! it is sent; records signed in index order; acknowledgements landed in
//! index order.

use std::collections::VecDeque;
use std::fs::File;

use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::ids::{RecordingId, SegmentRef};
use obhut_core::record::SegmentRecord;
use obhut_core::segment::{self, SegmentKind};

use super::{Agent, Progress, refused_outright};
use crate::body;
use crate::client::UploadHandle;
use crate::cut;
use crate::error::{Error, Result};
use crate::journal::{FileId, Journal, Source};
use crate::read_ahead::{Plaintext, ReadAhead};
use obhut_media::Blank;
use std::sync::Arc;

impl Agent<'_> {
    /// Reconcile with `/head`, then seal and upload every segment from the
    /// vault's next index, up to [`PIPELINE`](super::PIPELINE) at once (module docs).
    pub(super) fn upload_remaining(
        &mut self,
        j: &mut Journal,
        recording: RecordingId,
        progress: &dyn Progress,
        uploaded: &mut usize,
    ) -> Result<()> {
        self.reconcile(j, recording)?;
        let mut flight = Flight::default();
        let r = self.pump(j, recording, progress, uploaded, &mut flight);
        if r.is_err() {
            // Whatever is still in flight is abandoned: a segment whose
            // record was never signed never completes (its body fails when
            // its trailer sender is dropped), and an upload whose record
            // was sent ends when the vault answers (a successor of a failed
            // segment is refused once the vault's wait bound passes) or
            // the connection drops. Its record stays pending, so if the
            // vault stores it after all, the next reconcile recognises it.
            // The journal is saved (best effort) so that the
            // acknowledgements so far are on disk; nothing depends on it
            // (module docs).
            drop(flight);
            let _ = self.journal_writer.snapshot(j);
        }
        r
    }

    /// The pipeline: up to [`PIPELINE`](super::PIPELINE) (the window) segments in flight,
    /// each sealed by its own upload thread as it is sent; records signed
    /// strictly in index order as each blob is complete (each chains on the
    /// one before); acknowledgements landed in index order. With nothing
    /// to do it waits for any upload to report (its blob sealed, or its
    /// answer in), not for one in particular: an answer then frees its
    /// place in the window at once, even while an older blob is still
    /// being sealed, and the next segment starts.
    fn pump(
        &mut self,
        j: &mut Journal,
        recording: RecordingId,
        progress: &dyn Progress,
        uploaded: &mut usize,
        flight: &mut Flight,
    ) -> Result<()> {
        // The chain link of the next record: the last record signed, which
        // may still be in flight.
        let mut last = j.last_record()?;
        loop {
            while flight.sent.front_mut().is_some_and(|f| f.upload.is_done()) {
                if let Some(f) = flight.sent.pop_front() {
                    self.land(j, f, progress, uploaded)?;
                }
            }
            let next = j.acked.len() + flight.len();
            if next < j.plan.len() && flight.len() < self.window {
                let index = u32::try_from(next).map_err(|_| Error::Cut {
                    path: j.source.path.clone(),
                    reason: "more than 2^32 segments".into(),
                })?;
                match self.launch(j, recording, index) {
                    Ok(s) => flight.sealing.push_back(s),
                    Err(e) => return Err(self.drain(j, flight, progress, uploaded, e)),
                }
                continue;
            }
            if flight.sealing.front_mut().is_some_and(Sealing::ready) {
                let Some(s) = flight.sealing.pop_front() else {
                    continue;
                };
                match self.sign(j, recording, s, last.as_ref(), progress) {
                    Ok(f) => {
                        last = Some(f.record.clone());
                        flight.sent.push_back(f);
                    }
                    Err(e) => return Err(self.drain(j, flight, progress, uploaded, e)),
                }
                continue;
            }
            if flight.len() == 0 {
                return Ok(());
            }
            // Every state checked above is kept by its channel, and every
            // change to it sends a token after it happened: a token taken
            // here, or one that arrived before the checks, only makes the
            // loop look again, so the tokens queued behind it are dropped
            // too (they would otherwise pile up over a long-running agent's
            // uploads). The agent holds a sender, so this never fails.
            let _ = self.wake_rx.recv();
            while self.wake_rx.try_recv().is_ok() {}
        }
    }

    /// After `e` (a segment that could not be launched or signed): the
    /// segments before it do not depend on it, so take their answers first
    /// (an earlier failure is the more fundamental cause); segments after
    /// it are abandoned unsigned.
    fn drain(
        &mut self,
        j: &mut Journal,
        flight: &mut Flight,
        progress: &dyn Progress,
        uploaded: &mut usize,
        e: Error,
    ) -> Error {
        flight.sealing.clear();
        while let Some(f) = flight.sent.pop_front() {
            if let Err(earlier) = self.land(j, f, progress, uploaded) {
                return earlier;
            }
        }
        e
    }

    /// Wait for the oldest upload in flight and acknowledge it.
    ///
    /// The acknowledgement is recorded in memory only, with no journal
    /// write of its own: the next durable write (the next segment's pending
    /// record, which must be durable anyway, or completion) carries it. A
    /// crash before then loses nothing: the journal on disk still holds
    /// the record as pending, and the next run's reconcile finds the vault
    /// ahead by exactly that record's hash and fetches and verifies its
    /// receipt again (`GET /v1/receipts`), which is what this write would
    /// have saved. Nothing is disposed of before the durable completion
    /// write, which includes every acknowledgement.
    fn land(
        &self,
        j: &mut Journal,
        f: InFlight,
        progress: &dyn Progress,
        uploaded: &mut usize,
    ) -> Result<()> {
        let segment = f.record.segment_ref();
        match f.upload.wait() {
            Ok(up) => {
                self.check_receipt(segment, &up.receipt, &f.record.record_hash())?;
                j.ack(&f.record, &up.receipt)?;
                if !up.already_stored {
                    *uploaded += 1;
                }
                progress.segment(segment.index, j.plan.len(), up.already_stored);
                Ok(())
            }
            Err(e) => {
                if refused_outright(&e) {
                    j.forget_pending(&f.record.record_hash())?;
                }
                Err(e)
            }
        }
    }

    /// Start segment `index`: its capsule, the wrap of b and its keys now,
    /// then its upload on a thread (and connection) of its own, which seals
    /// the blob as it sends it ([`crate::body`]). Nothing is signed yet
    /// ([`Agent::sign`] does that, in order).
    fn launch(&mut self, j: &Journal, recording: RecordingId, index: u32) -> Result<Sealing> {
        let p = *j.plan.get(index as usize).ok_or_else(|| Error::Journal {
            path: j.path().to_owned(),
            reason: "index beyond the plan".into(),
        })?;
        let kind = p.segment_kind().ok_or_else(|| Error::Journal {
            path: j.path().to_owned(),
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
        let file = match p.source {
            Source::Main | Source::Patch => j.source.clone(),
            Source::Sidecar => j.sidecar.clone().ok_or_else(|| Error::Journal {
                path: j.path().to_owned(),
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
        let input = match p.source {
            Source::Patch => {
                let blanks: Vec<Blank> = j.blanks.iter().map(Into::into).collect();
                let bytes = cut::patch_bytes(&file.path, file.len, &blanks)?;
                Plaintext::Memory(std::io::Cursor::new(bytes))
            }
            Source::Main | Source::Sidecar => {
                let input = File::open(&file.path).map_err(Error::io("open", &file.path))?;
                let blanks: Arc<[Blank]> = match p.source {
                    Source::Main => j.blanks.iter().map(Into::into).collect(),
                    _ => Arc::from([]),
                };
                Plaintext::File(
                    ReadAhead::start_blanked(input, p.offset, p.len, blanks)
                        .map_err(Error::io("read", &file.path))?,
                )
            }
        };
        let segment = SegmentRef { recording, index };
        let sealer = RecordingSealer::new(self.device, &self.group, epoch, recording)
            .continuing(self.custody_run.take());
        let record_len = sealer.record_len(index);
        let blob = sealer
            .seal_reader(index, spec, input, &mut obhut_core::rng::os_rng())
            .map_err(Error::core(format!("cannot seal {segment}")))?;
        self.custody_run = sealer.custody_run();
        let (body, sealed, trailer) = body::upload_body(blob);
        let body = body.with_wake(self.wake_tx.clone());
        // Known before sealing: the blob's length depends only on the
        // plaintext's and the record's on the custody run, so
        // Content-Length and record_len (signed) go out first.
        let upload = self.client.start_segment_stream(
            segment,
            body,
            segment::blob_len(p.len),
            record_len,
            Some(self.wake_tx.clone()),
        )?;
        Ok(Sealing {
            segment,
            planned_len: p.len,
            is_final,
            file,
            epoch: epoch_idx,
            sealed,
            trailer,
            upload,
        })
    }

    /// Wait until segment `s`'s blob is sealed and sent, check its source,
    /// sign its record chained on `last` (the last record signed, maybe
    /// still in flight), and hand the journal with the record pending to
    /// the journal writer, which gives the record to the upload as its
    /// trailer once it is durable (module docs). Returns the segment in
    /// flight; an error means its record was never sent.
    fn sign(
        &mut self,
        j: &mut Journal,
        recording: RecordingId,
        s: Sealing,
        last: Option<&SegmentRecord>,
        progress: &dyn Progress,
    ) -> Result<InFlight> {
        let Sealing {
            segment,
            planned_len,
            is_final,
            file,
            epoch,
            mut sealed,
            trailer,
            upload,
        } = s;
        let Some(sealed) = sealed.wait() else {
            // The upload stopped before the end of the blob: a broken
            // connection, or the source could not be read; its answer says.
            return Err(match upload.wait() {
                Err(e) => e,
                Ok(_) => Error::Protocol {
                    what: format!("PUT {segment}"),
                    reason: "the vault answered before the whole segment was sent".into(),
                },
            });
        };
        let signed = (|| -> Result<SegmentRecord> {
            if sealed.plaintext_len != planned_len {
                return Err(Error::SourceChanged {
                    path: file.path.clone(),
                    recording,
                    reason: "fewer bytes than planned",
                });
            }
            if FileId::of(&file.path)? != file {
                return Err(Error::SourceChanged {
                    path: file.path.clone(),
                    recording,
                    reason: "it changed while being sealed",
                });
            }
            let epoch = &self.epochs[epoch];
            let mut signer = match last {
                None => RecordingSealer::new(self.device, &self.group, epoch, recording),
                Some(l) => RecordingSealer::resume(self.device, &self.group, epoch, l)
                    .map_err(Error::core("cannot continue the chain"))?,
            };
            signer
                .sign_next(&sealed, is_final)
                .map_err(Error::core(format!("cannot sign {segment}")))
        })();
        let record = match signed {
            Ok(r) => r,
            Err(e) => {
                trailer.fail(e.to_string());
                let _ = upload.wait();
                // The sealer's own finding (the source changed) is the
                // cause, and the upload it aborted stored nothing.
                return Err(e);
            }
        };
        progress.bytes(sealed.plaintext_len);
        // Pending, durably, before the trailer's first byte leaves: the
        // journal writer appends this change, then gives the upload its
        // trailer (or, if the write fails, fails it), while this thread
        // goes on. Whatever happens, the upload's answer (or its absence)
        // decides, in `land`.
        j.add_pending(&record);
        if let Err(e) = self
            .journal_writer
            .save_then_send(j, trailer, record.to_bytes())
        {
            let _ = upload.wait();
            j.forget_pending(&record.record_hash())?;
            return Err(e);
        }
        Ok(InFlight { record, upload })
    }
}

/// Segments in flight, oldest first: those still being sealed and sent
/// (no record yet), after those whose record was signed and sent.
#[derive(Default)]
struct Flight {
    sent: VecDeque<InFlight>,
    sealing: VecDeque<Sealing>,
}

impl Flight {
    fn len(&self) -> usize {
        self.sent.len() + self.sealing.len()
    }
}

/// A segment whose upload is running and sealing its blob.
struct Sealing {
    segment: SegmentRef,
    planned_len: u64,
    is_final: bool,
    file: FileId,
    /// Index into the agent's epochs.
    epoch: usize,
    sealed: body::SealedReceiver<obhut_core::segment::SealedSegment>,
    trailer: body::TrailerSender,
    upload: UploadHandle,
}

impl Sealing {
    /// Whether [`Agent::sign`] would go on at once: the blob is sealed, or
    /// the upload stopped before the end of it.
    fn ready(&mut self) -> bool {
        self.sealed.ready() || self.upload.is_done()
    }
}

/// A segment whose record is pending and whose upload is running.
struct InFlight {
    record: SegmentRecord,
    upload: UploadHandle,
}
