//! Device-signed segment records (docs/format.md §7.1).
//!
//! A [`SegmentRecord`] value always carries a valid device signature: the
//! only ways to obtain one are [`SegmentRecord::sign`] and
//! [`SegmentRecord::from_bytes`], which checks the signature (strictly,
//! against the header's device key) before returning. Its fields are
//! read-only.

use crate::error::{Error, Result, SegmentFailure};
use crate::identity::SignKey;
use crate::ids::SegmentRef;
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::pq_custody::{
    CUSTODY_FIXED_LEN, MAX_RUN_CUSTODIANS, RUN_ENTRY_LEN, SHARE_SLOT_LEN, SegmentCustody,
};
use crate::segment::{self, HEADER_LEN, HeaderCheck, SealedSegment, SegmentHeader};
use crate::stream::MAX_PLAINTEXT_LEN;
use crate::wire::{Reader, Writer};

/// Encoded length of a segment record without its custody block's
/// entries and shares: the shortest record has `count` = 1 and no run,
/// [`RECORD_FIXED_LEN`] + 64 bytes.
pub const RECORD_FIXED_LEN: usize = 7 + HEADER_LEN + 8 + 32 + 32 + 1 + CUSTODY_FIXED_LEN + 64;
/// The longest record: 255 custodians, carrying its run.
pub const MAX_RECORD_LEN: usize =
    RECORD_FIXED_LEN + MAX_RUN_CUSTODIANS as usize * (SHARE_SLOT_LEN + RUN_ENTRY_LEN);

/// Encoded length of a record whose custody block has `count` shares and,
/// if `carries_run`, the run's `count` entries.
pub const fn record_len(count: usize, carries_run: bool) -> usize {
    RECORD_FIXED_LEN - CUSTODY_FIXED_LEN + SegmentCustody::encoded_len(count, carries_run)
}

/// What errors about segment records name.
pub(crate) const SEGMENT_RECORD_WHAT: &str = "segment record";
const SEGMENT_RECORD: &str = SEGMENT_RECORD_WHAT;

/// A segment record whose device signature has been verified (or which
/// this process signed).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SegmentRecord {
    header: SegmentHeader,
    plaintext_len: u64,
    ciphertext_hash: [u8; 32],
    prev_record_hash: [u8; 32],
    is_final: bool,
    custody: SegmentCustody,
    signature: [u8; 64],
}

impl SegmentRecord {
    /// Sign the record of a sealed segment (§6.4 step 5). `prev_record_hash`
    /// is the [`SegmentRecord::record_hash`] of segment `index − 1`, or 32
    /// zero bytes for segment 0; `is_final` marks the recording's last
    /// segment. `device` must be the key named in the header.
    pub fn sign(
        device: &SignKey,
        sealed: &SealedSegment,
        prev_record_hash: [u8; 32],
        is_final: bool,
    ) -> Result<Self> {
        let segment = sealed.header.segment_ref();
        if device.verify_key() != sealed.header.fields.device_key {
            return Err(Error::Segment {
                segment,
                failure: SegmentFailure::Misplaced(
                    "the signing key is not the header's device key",
                ),
            });
        }
        if sealed.plaintext_len > MAX_PLAINTEXT_LEN {
            return Err(plaintext_too_long());
        }
        let mut rec = SegmentRecord {
            header: sealed.header.clone(),
            plaintext_len: sealed.plaintext_len,
            ciphertext_hash: sealed.ciphertext_hash,
            prev_record_hash,
            is_final,
            custody: sealed.custody.clone(),
            signature: [0; 64],
        };
        rec.signature = device.sign(labels::SEGMENT_RECORD_SIG, &rec.body());
        Ok(rec)
    }

    /// Everything the signature covers: the encoding up to the signature.
    fn body(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::SEGMENT_RECORD, VERSION, SUITE_V1);
        w.bytes(&self.header.to_bytes())
            .u64(self.plaintext_len)
            .bytes(&self.ciphertext_hash)
            .bytes(&self.prev_record_hash)
            .u8(u8::from(self.is_final));
        self.custody.encode(&mut w);
        w.into_vec()
    }

    /// The canonical encoding ([`record_len`] bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.body();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parse a record and verify its device signature. Refuses malformed
    /// headers (invalid points or device key, unknown kind, wrong chunk
    /// size), trailing bytes, a plaintext length above 2^48, and a signature
    /// that does not verify strictly
    /// ([`SegmentFailure::BadSignature`], naming the segment).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let rec = Self::parse_unverified(bytes)?;
        rec.verify_signature()?;
        Ok(rec)
    }

    /// Everything [`SegmentRecord::from_bytes`] checks but the signature.
    /// Crate-private: a record parsed this way must be authenticated
    /// another way before it leaves the crate ([`crate::chain::records_from_chain`]).
    pub(crate) fn parse_unverified(bytes: &[u8]) -> Result<Self> {
        Self::parse_checking(bytes, HeaderCheck::default())
    }

    /// [`SegmentRecord::parse_unverified`] with the header checks `check`
    /// relaxes (for a whole chain: [`crate::chain::records_so_far_lazy`]).
    pub(crate) fn parse_checking(bytes: &[u8], check: HeaderCheck) -> Result<Self> {
        let mut r = Reader::new(SEGMENT_RECORD, bytes);
        r.preamble(magic::SEGMENT_RECORD, VERSION, SUITE_V1)?;
        let header = SegmentHeader::parse(r.take(HEADER_LEN, "header")?, check)?;
        let plaintext_len = r.u64("plaintext_len")?;
        if plaintext_len > MAX_PLAINTEXT_LEN {
            return Err(plaintext_too_long());
        }
        let ciphertext_hash = r.array("ciphertext_hash")?;
        let prev_record_hash = r.array("prev_record_hash")?;
        let is_final = r.bool("final")?;
        let fields = &header.fields;
        let custody = SegmentCustody::read(
            &mut r,
            fields.recording_id,
            &fields.device_key,
            fields.segment_index,
        )?;
        let signature = r.array::<64>("signature")?;
        r.finish()?;
        Ok(SegmentRecord {
            header,
            plaintext_len,
            ciphertext_hash,
            prev_record_hash,
            is_final,
            custody,
            signature,
        })
    }

    /// The device signature over the record's body, checked strictly
    /// under the header's device key.
    pub(crate) fn verify_signature(&self) -> Result<()> {
        self.header
            .fields
            .device_key
            .verify(
                labels::SEGMENT_RECORD_SIG,
                &self.body(),
                &self.signature,
                SEGMENT_RECORD,
            )
            .map_err(|_| Error::Segment {
                segment: self.header.segment_ref(),
                failure: SegmentFailure::BadSignature,
            })
    }

    /// `Digest("obhut/v1/record-hash", record)`: the chain link to this
    /// record from the next one.
    pub fn record_hash(&self) -> [u8; 32] {
        labels::digest(labels::RECORD_HASH, &[&self.to_bytes()])
    }

    /// Length of this segment's blob (§6.2 formula).
    pub fn blob_len(&self) -> u64 {
        segment::blob_len(self.plaintext_len)
    }

    /// The segment header, verbatim.
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }
    /// The segment this record describes.
    pub fn segment_ref(&self) -> SegmentRef {
        self.header.segment_ref()
    }
    /// Plaintext bytes in the segment.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }
    /// BLAKE3 hash of the blob (§6.3).
    pub fn ciphertext_hash(&self) -> &[u8; 32] {
        &self.ciphertext_hash
    }
    /// Record hash of the previous segment (zeros for segment 0).
    pub fn prev_record_hash(&self) -> &[u8; 32] {
        &self.prev_record_hash
    }
    /// Whether this is the recording's last segment.
    pub fn is_final(&self) -> bool {
        self.is_final
    }
    /// Length of [`SegmentRecord::to_bytes`].
    pub fn encoded_len(&self) -> usize {
        record_len(self.custody.shares.len(), self.custody.run.is_some())
    }
    /// The custody block: this segment's shares of `c`, and its run.
    pub fn custody(&self) -> &SegmentCustody {
        &self.custody
    }
    /// The device's Ed25519 signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
}

fn plaintext_too_long() -> Error {
    Error::Malformed {
        what: SEGMENT_RECORD,
        reason: "plaintext_len exceeds 2^48 bytes (2^32 chunks)",
    }
}
