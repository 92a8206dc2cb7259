//! Shared fixtures for the `segment_*` integration tests: a device, a custody
//! group key (a random P = s·G; the threshold side is not exercised here),
//! real capsules from `kem::encapsulate`, random epoch wraps, and helpers to
//! seal segments and records.
#![allow(dead_code)]

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use obhut_core::epoch::EpochWrap;
use obhut_core::error::{Error, SegmentFailure};
use obhut_core::hpke_wrap::ENC_LEN;
use obhut_core::hpke_wrap::KemSecretKey;
use obhut_core::identity::SignKey;
use obhut_core::ids::Fingerprint;
use obhut_core::ids::{EpochId, GroupId, RecordingId, SegmentRef};
use obhut_core::kem::{GroupKey, encapsulate};
use obhut_core::point::random_scalar;
use obhut_core::pq_custody::CustodyRun;
use obhut_core::record::SegmentRecord;
use obhut_core::rng::os_rng;
use obhut_core::secret::Secret32;
use obhut_core::segment::{
    HeaderFields, KeyParts, SealedSegment, SegmentKind, SegmentOpener, seal_payload,
};

/// Deterministic pseudo-random bytes (splitmix64), so failures reproduce.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn random_group() -> GroupKey {
    let mut rng = os_rng();
    GroupKey {
        group_id: GroupId::random(&mut rng),
        generation: 1,
        key: random_scalar(&mut rng) * G,
    }
}

pub fn random_epoch_wrap() -> EpochWrap {
    let mut rng = os_rng();
    let mut enc = Box::new([0u8; ENC_LEN]);
    rand_fill(&mut enc[..]);
    let mut ct = [0u8; 48];
    rand_fill(&mut ct);
    EpochWrap {
        epoch_id: EpochId::random(&mut rng),
        enc,
        ct,
    }
}

fn rand_fill(buf: &mut [u8]) {
    let mut rng = os_rng();
    for chunk in buf.chunks_mut(32) {
        let r = obhut_core::rng::random_32(&mut rng);
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
}

/// One recording of one device, sealed to one group.
pub struct Recording {
    pub device: SignKey,
    pub group: GroupKey,
    pub recording_id: RecordingId,
}

/// A sealed segment with everything a test may need.
pub struct Segment {
    pub fields: HeaderFields,
    pub sealed: SealedSegment,
    pub blob: Vec<u8>,
    pub a: Secret32,
    pub b: Secret32,
    pub c: Secret32,
    pub plaintext: Vec<u8>,
}

/// The key parts `a`, `b`, `c` (copied) as the opener takes them.
pub fn parts(a: &Secret32, b: &Secret32, c: &Secret32) -> KeyParts {
    KeyParts {
        a: a.clone(),
        b: b.clone(),
        c: c.clone(),
    }
}

impl Segment {
    pub fn opener(&self) -> SegmentOpener {
        SegmentOpener::from_header(&self.sealed.header, &self.parts()).expect("opens")
    }
    /// This segment's key parts.
    pub fn parts(&self) -> KeyParts {
        parts(&self.a, &self.b, &self.c)
    }
    pub fn segment_ref(&self) -> SegmentRef {
        self.sealed.header.segment_ref()
    }
}

impl Recording {
    pub fn new() -> Self {
        let mut rng = os_rng();
        Recording {
            device: SignKey::generate(&mut rng),
            group: random_group(),
            recording_id: RecordingId::random(&mut rng),
        }
    }

    /// Header fields for segment `index` with a real capsule; returns `a`
    /// and a fresh `b`.
    pub fn fields(&self, index: u32) -> (HeaderFields, Secret32, Secret32) {
        let mut rng = os_rng();
        let mut fields = HeaderFields {
            kind: SegmentKind::Media,
            recording_id: self.recording_id,
            device_key: self.device.verify_key(),
            segment_index: index,
            media_start_ms: u64::from(index) * 2000,
            media_end_ms: u64::from(index) * 2000 + 2000,
            capture_utc_ms: 1_790_000_000_000 + i64::from(index) * 2000,
            capsule: obhut_core::kem::Capsule {
                group_id: self.group.group_id,
                generation: 0,
                r: [0; 32],
                u_bar: [0; 32],
                proof_c: [0; 32],
                proof_z: [0; 32],
            },
            epoch_wrap: random_epoch_wrap(),
        };
        let (capsule, a) = encapsulate(&self.group, &fields.capsule_context(), &mut rng);
        fields.capsule = capsule;
        (fields, a, Secret32::random(&mut rng))
    }

    /// Seal `plaintext` as segment `index`.
    pub fn seal(&self, index: u32, plaintext: Vec<u8>) -> Segment {
        let (fields, a, b) = self.fields(index);
        seal_with(fields, a, b, plaintext)
    }

    /// Sign the record of `seg`.
    pub fn record(&self, seg: &Segment, prev: [u8; 32], is_final: bool) -> SegmentRecord {
        SegmentRecord::sign(&self.device, &seg.sealed, prev, is_final).expect("signs")
    }

    /// A complete chain of `n` small segments: (segments, records).
    pub fn chain(&self, n: u32) -> (Vec<Segment>, Vec<SegmentRecord>) {
        let mut segs = Vec::new();
        let mut recs: Vec<SegmentRecord> = Vec::new();
        for i in 0..n {
            let seg = self.seal(i, data(100 + i as usize, u64::from(i)));
            let prev = recs.last().map(|r| r.record_hash()).unwrap_or([0; 32]);
            recs.push(self.record(&seg, prev, i + 1 == n));
            segs.push(seg);
        }
        (segs, recs)
    }
}

/// Seal with `a` and `b` and a fresh `c`, shared with one throwaway
/// custodian in a custody run that starts at this segment (§5.6).
pub fn seal_with(fields: HeaderFields, a: Secret32, b: Secret32, plaintext: Vec<u8>) -> Segment {
    let mut rng = os_rng();
    let custodian = KemSecretKey::generate(&mut rng).public_key();
    let run = CustodyRun::for_custodians(
        &[(Fingerprint([7; 32]), &custodian)],
        1,
        fields.recording_id,
        &fields.device_key,
        fields.segment_index,
        &mut rng,
    );
    let (c, custody) = run.seal_c(fields.segment_index, &fields.header_hash(), &mut rng);
    let mut blob = Vec::new();
    let sealed = seal_payload(
        fields.clone(),
        custody,
        &parts(&a, &b, &c),
        &plaintext[..],
        &mut blob,
    )
    .expect("seals");
    Segment {
        fields,
        sealed,
        blob,
        a,
        b,
        c,
        plaintext,
    }
}

/// Unwrap a segment error, checking that it names `expected` both in the
/// value and in the message, and return what failed.
#[track_caller]
pub fn segment_failure(err: Error, expected: SegmentRef) -> SegmentFailure {
    let msg = err.to_string();
    match err {
        Error::Segment { segment, failure } => {
            assert_eq!(segment, expected, "{msg}");
            let name = format!(
                "recording {} segment {}",
                expected.recording, expected.index
            );
            assert!(
                msg.contains(&name),
                "message does not name the segment: {msg}"
            );
            failure
        }
        other => panic!("expected a segment error, got {other:?}: {msg}"),
    }
}

/// Open a whole blob with `opener`.
pub fn open(opener: &SegmentOpener, blob: &[u8]) -> obhut_core::Result<Vec<u8>> {
    let mut out = Vec::new();
    opener.open_stream(blob, &mut out)?;
    Ok(out)
}
