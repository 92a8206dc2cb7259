//! The device side of docs/format.md §6.4: seal one recording segment by
//! segment, chaining the signed records. The sealer holds the device's
//! signing key, the pinned group and the epoch key; every per-segment
//! secret (r, w, a, b, c, K) lives only inside [`RecordingSealer::seal_segment`]
//! and is zeroized before it returns. The one secret that outlives a
//! segment is the current custody run's wrap keys (§5.6): at most
//! [`crate::pq_custody::RUN_SEGMENTS`] segments, forgotten when the next run starts or the
//! sealer is dropped. So a device captured later reveals nothing it sealed
//! before, and one captured mid-recording reveals at most the `c` of its
//! current run (never an `a` or a `b`).

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex, PoisonError};

use crate::epoch::EpochPublic;
use crate::error::{Error, Result};
use crate::group::PinnedGroup;
use crate::identity::SignKey;
use crate::ids::RecordingId;
use crate::kem::{self, CapsuleContext, GroupKey};
use crate::pq_custody::{CustodyRun, SegmentCustody};
use crate::record::{self, SegmentRecord};
use crate::secret::Secret32;
use crate::segment::{
    HeaderFields, KeyParts, SealedSegment, SealingReader, SegmentKind, seal_payload,
    seal_payload_reader,
};

/// What the device says about one segment before sealing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentSpec {
    /// Media, container index or descriptive metadata.
    pub kind: SegmentKind,
    /// Media time covered, from the recording's start (inclusive).
    pub media_start_ms: u64,
    /// Media time covered (exclusive).
    pub media_end_ms: u64,
    /// Device wall-clock time at `media_start_ms`.
    pub capture_utc_ms: i64,
    /// Whether this is the recording's last segment.
    pub is_final: bool,
}

/// Seals the segments of one recording in order.
#[derive(Debug)]
pub struct RecordingSealer<'a> {
    device: &'a SignKey,
    group: GroupKey,
    pinned: PinnedGroup,
    /// The custody run of the segments being sealed (§5.6), replaced when
    /// a segment falls outside it. Behind a lock because several threads
    /// may seal segments of one recording at once.
    run: Mutex<Option<Arc<CustodyRun>>>,
    epoch: &'a EpochPublic,
    recording_id: RecordingId,
    next_index: u32,
    prev_record_hash: [u8; 32],
    finished: bool,
}

impl<'a> RecordingSealer<'a> {
    /// Start a recording. `group` must be pinned (signed by at least k
    /// custodians), never taken on the server's word.
    pub fn new(
        device: &'a SignKey,
        group: &PinnedGroup,
        epoch: &'a EpochPublic,
        recording_id: RecordingId,
    ) -> Self {
        RecordingSealer {
            device,
            group: group.group_key(),
            pinned: group.clone(),
            run: Mutex::new(None),
            epoch,
            recording_id,
            next_index: 0,
            prev_record_hash: [0; 32],
            finished: false,
        }
    }

    /// Resume a recording after segment `last` (e.g. after a restart), given
    /// that segment's signed record.
    pub fn resume(
        device: &'a SignKey,
        group: &PinnedGroup,
        epoch: &'a EpochPublic,
        last: &SegmentRecord,
    ) -> Result<Self> {
        let segment = last.segment_ref();
        if last.header().fields.device_key != device.verify_key() {
            return Err(Error::Segment {
                segment,
                failure: crate::error::SegmentFailure::Misplaced("sealed by another device"),
            });
        }
        let next_index = segment.index.checked_add(1).ok_or(Error::Malformed {
            what: "segment record",
            reason: "segment index space exhausted",
        })?;
        // The wrap keys of the interrupted run were never kept: the next
        // segment starts a new run.
        Ok(RecordingSealer {
            device,
            group: group.group_key(),
            pinned: group.clone(),
            run: Mutex::new(None),
            epoch,
            recording_id: segment.recording,
            next_index,
            prev_record_hash: last.record_hash(),
            finished: last.is_final(),
        })
    }

    /// The recording being sealed.
    pub fn recording_id(&self) -> RecordingId {
        self.recording_id
    }

    /// Index the next segment will get.
    pub fn next_index(&self) -> u32 {
        self.next_index
    }

    /// Seal the next segment: stream `plaintext` into `blob` and return the
    /// signed record. Constant memory whatever the segment's size.
    pub fn seal_segment(
        &mut self,
        spec: SegmentSpec,
        plaintext: impl BufRead,
        blob: impl Write,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<SegmentRecord> {
        let sealed = self.seal_at(self.next_index, spec, plaintext, blob, rng)?;
        self.sign_next(&sealed, spec.is_final)
    }

    /// Seal segment `index` without signing it. Takes `&self`, so several
    /// threads may seal distinct segments of one recording at once; the
    /// records are then signed in order with [`RecordingSealer::sign_next`].
    pub fn seal_at(
        &self,
        index: u32,
        spec: SegmentSpec,
        plaintext: impl BufRead,
        blob: impl Write,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<SealedSegment> {
        let (fields, custody, parts) = self.fields_at(index, spec, rng)?;
        seal_payload(fields, custody, &parts, plaintext, blob)
        // a, b and c drop (and zeroize) here.
    }

    /// [`RecordingSealer::seal_at`] in pull form: the capsule, the wrap of
    /// b and the keys now, then a reader of the blob that seals
    /// `plaintext` as it is read ([`SealingReader`]), e.g. by the thread
    /// that uploads it. Sign its [`SealingReader::sealed`] in order with
    /// [`RecordingSealer::sign_next`].
    pub fn seal_reader<R: BufRead>(
        &self,
        index: u32,
        spec: SegmentSpec,
        plaintext: R,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<SealingReader<R>> {
        let (fields, custody, parts) = self.fields_at(index, spec, rng)?;
        seal_payload_reader(fields, custody, &parts, plaintext)
        // a, b and c drop (and zeroize) here.
    }

    /// Continue `run` (the custody run of an earlier sealer of this
    /// recording in this process, [`RecordingSealer::custody_run`]) rather
    /// than start a new one: a caller that makes a sealer per segment keeps
    /// one run for [`crate::pq_custody::RUN_SEGMENTS`] segments. A run of
    /// another recording is ignored.
    pub fn continuing(self, run: Option<Arc<CustodyRun>>) -> Self {
        if let Some(run) = run.filter(|r| r.recording() == self.recording_id) {
            *self.run.lock().unwrap_or_else(PoisonError::into_inner) = Some(run);
        }
        self
    }

    /// The custody run in use, to continue in a later sealer
    /// ([`RecordingSealer::continuing`]).
    pub fn custody_run(&self) -> Option<Arc<CustodyRun>> {
        self.run
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The length of segment `index`'s record: it carries its custody run
    /// when it starts one. Exact for the next segment sealed in order.
    pub fn record_len(&self, index: u32) -> usize {
        let starts_run = !self
            .run
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|run| run.covers(index));
        record::record_len(self.pinned.custodians().len(), starts_run)
    }

    /// The custody run segment `index` belongs to, starting a new one at
    /// `index` when the current run does not cover it.
    fn run_for(&self, index: u32, rng: &mut impl rand_core::CryptoRng) -> Arc<CustodyRun> {
        let mut current = self.run.lock().unwrap_or_else(PoisonError::into_inner);
        match current.as_ref() {
            Some(run) if run.covers(index) => Arc::clone(run),
            _ => {
                let run = Arc::new(self.pinned.custody_run(
                    self.recording_id,
                    &self.device.verify_key(),
                    index,
                    rng,
                ));
                *current = Some(Arc::clone(&run));
                run
            }
        }
    }

    /// The header fields of segment `index` with a fresh capsule (its a),
    /// a fresh b wrapped to the epoch and a fresh c shared among the
    /// custodians.
    fn fields_at(
        &self,
        index: u32,
        spec: SegmentSpec,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<(HeaderFields, SegmentCustody, KeyParts)> {
        if self.finished {
            return Err(Error::Malformed {
                what: "recording",
                reason: "the final segment was already sealed",
            });
        }
        let device_key = self.device.verify_key();
        let ctx = CapsuleContext {
            recording_id: self.recording_id,
            device_key: device_key.to_bytes(),
            segment_index: index,
            kind: spec.kind.to_u8(),
            media_start_ms: spec.media_start_ms,
            media_end_ms: spec.media_end_ms,
            capture_utc_ms: spec.capture_utc_ms,
        };
        let (capsule, a) = kem::encapsulate(&self.group, &ctx, rng);
        let b = Secret32::random(rng);
        let epoch_wrap = self
            .epoch
            .wrap(&b, self.recording_id, &device_key, index, rng);
        let fields = HeaderFields {
            kind: spec.kind,
            recording_id: self.recording_id,
            device_key,
            segment_index: index,
            media_start_ms: spec.media_start_ms,
            media_end_ms: spec.media_end_ms,
            capture_utc_ms: spec.capture_utc_ms,
            capsule,
            epoch_wrap,
        };
        let (c, custody) = self
            .run_for(index, rng)
            .seal_c(index, &fields.header_hash(), rng);
        Ok((fields, custody, KeyParts { a, b, c }))
    }

    /// Sign the record of the next segment in order, linking it to the
    /// previous record.
    pub fn sign_next(&mut self, sealed: &SealedSegment, is_final: bool) -> Result<SegmentRecord> {
        let segment = sealed.header.segment_ref();
        if segment.recording != self.recording_id || segment.index != self.next_index {
            return Err(Error::Segment {
                segment,
                failure: crate::error::SegmentFailure::Misplaced(
                    "not the next segment of this recording",
                ),
            });
        }
        if self.finished {
            return Err(Error::Malformed {
                what: "recording",
                reason: "the final segment was already sealed",
            });
        }
        let record = SegmentRecord::sign(self.device, sealed, self.prev_record_hash, is_final)?;
        self.prev_record_hash = record.record_hash();
        self.next_index += 1;
        self.finished = is_final;
        Ok(record)
    }
}
