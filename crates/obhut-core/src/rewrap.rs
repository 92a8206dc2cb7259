//! The re-wrap side structure (docs/format.md §5.5): a segment's epoch part
//! `b` wrapped to another retention-epoch key, kept *beside* the segment.
//!
//! Why a side structure: `epoch_wrap` sits inside the signed header, and
//! K, the key commitment, the record signature and the ciphertext hash all
//! cover it, so it can never be rewritten. Erasing one recording inside a
//! live epoch ("epoch split", §9.2 item 7) and legal holds instead store an
//! [`EpochRewrap`] per segment, sealed to the new key, then destroy the old
//! epoch secret. Pure: no I/O; randomness from the caller.

use crate::epoch::{EpochPublic, EpochSecret};
use crate::error::{Error, Result, RewrapFailure};
use crate::hpke_wrap::{self, ENC_LEN};
use crate::identity::VerifyKey;
use crate::ids::{EpochId, RecordingId, SegmentRef};
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::secret::Secret32;
use crate::segment::SegmentHeader;
use crate::wire::{Reader, Writer};

const WHAT: &str = "epoch re-wrap";

/// Bytes from the magic through `new_epoch_id`: the HPKE associated data.
pub const REWRAP_AAD_LEN: usize = 7 + 16 + 32 + 4 + 32 + 1 + 16;
/// Encoded length of an [`EpochRewrap`].
pub const REWRAP_LEN: usize = REWRAP_AAD_LEN + ENC_LEN + CT_LEN;
/// AES-256-GCM(b) ‖ tag.
const CT_LEN: usize = 32 + hpke_wrap::TAG_LEN;

/// Why `b` was wrapped again. Bound into the associated data, so a hold
/// cannot be presented as a split or the other way round.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RewrapReason {
    /// The segment's epoch is being split: every recording but the erased
    /// one moves to a fresh epoch key, then the old secret is destroyed.
    EpochSplit,
    /// A legal hold keeps the segment past its epoch's expiry under a hold
    /// key (an epoch key of its own).
    LegalHold,
}

impl RewrapReason {
    /// The reason byte of the encoding.
    pub fn to_u8(self) -> u8 {
        match self {
            RewrapReason::EpochSplit => 1,
            RewrapReason::LegalHold => 2,
        }
    }
    /// Parse a reason byte; `None` for values version 1 does not define.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(RewrapReason::EpochSplit),
            2 => Some(RewrapReason::LegalHold),
            _ => None,
        }
    }
}

/// A segment's `b`, HPKE-encrypted to another epoch key than the one in
/// its signed header (§5.5). Public: it holds no secret in the clear.
#[derive(Clone, PartialEq, Eq)]
pub struct EpochRewrap {
    /// The recording the segment belongs to.
    pub recording_id: RecordingId,
    /// The sealing device's key (from the signed header).
    pub device_key: VerifyKey,
    /// The segment's index.
    pub segment_index: u32,
    /// `header_hash` (§5.1) of the segment's signed header.
    pub header_hash: [u8; 32],
    /// Why it was re-wrapped.
    pub reason: RewrapReason,
    /// The epoch whose key unwraps it.
    pub new_epoch_id: EpochId,
    /// HPKE encapsulated key (X-Wing ciphertext).
    pub enc: Box<[u8; ENC_LEN]>,
    /// AES-256-GCM(b) ‖ tag.
    pub ct: [u8; CT_LEN],
}

impl core::fmt::Debug for EpochRewrap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "EpochRewrap({} to epoch {}, {:?})",
            self.segment_ref(),
            self.new_epoch_id,
            self.reason
        )
    }
}

impl EpochRewrap {
    /// The segment it names.
    pub fn segment_ref(&self) -> SegmentRef {
        SegmentRef {
            recording: self.recording_id,
            index: self.segment_index,
        }
    }

    /// The associated data: the encoding from the magic through
    /// `new_epoch_id`, so every field before `enc` is authenticated.
    fn aad(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::EPOCH_REWRAP, VERSION, SUITE_V1);
        w.bytes(&self.recording_id.0)
            .bytes(&self.device_key.to_bytes())
            .u32(self.segment_index)
            .bytes(&self.header_hash)
            .u8(self.reason.to_u8())
            .bytes(&self.new_epoch_id.0);
        w.into_vec()
    }

    /// The 1276-byte encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.aad();
        out.extend_from_slice(&self.enc[..]);
        out.extend_from_slice(&self.ct);
        out
    }

    /// Parse. Checks the structure and the device key only; whether it
    /// belongs to a segment is [`EpochRewrap::unwrap`]'s to check.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(WHAT, bytes);
        r.preamble(magic::EPOCH_REWRAP, VERSION, SUITE_V1)?;
        let recording_id = RecordingId(r.array("recording_id")?);
        let device_key = VerifyKey::from_bytes(&r.array("device_key")?, WHAT, "device_key")?;
        let segment_index = r.u32("segment_index")?;
        let header_hash = r.array("header_hash")?;
        let reason = RewrapReason::from_u8(r.u8("reason")?).ok_or(Error::Malformed {
            what: WHAT,
            reason: "unknown re-wrap reason",
        })?;
        let new_epoch_id = EpochId(r.array("new_epoch_id")?);
        let enc = Box::new(r.array::<ENC_LEN>("enc")?);
        let ct = r.array::<CT_LEN>("ct")?;
        r.finish()?;
        Ok(EpochRewrap {
            recording_id,
            device_key,
            segment_index,
            header_hash,
            reason,
            new_epoch_id,
            enc,
            ct,
        })
    }

    /// Wrap `b` of the segment with signed header `header` to the epoch
    /// key `to`. The caller has `b` from [`EpochSecret::unwrap`] of the
    /// header's own wrap, or from an earlier re-wrap ([`rewrap_segment`],
    /// [`EpochRewrap::rewrap_again`] do both steps).
    pub fn seal(
        b: &Secret32,
        header: &SegmentHeader,
        reason: RewrapReason,
        to: &EpochPublic,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Self {
        let fields = &header.fields;
        let mut out = EpochRewrap {
            recording_id: fields.recording_id,
            device_key: fields.device_key,
            segment_index: fields.segment_index,
            header_hash: header.header_hash(),
            reason,
            new_epoch_id: to.epoch_id,
            enc: Box::new([0u8; ENC_LEN]),
            ct: [0u8; CT_LEN],
        };
        let (enc, ct) =
            hpke_wrap::seal(&to.kem_key, &info(to.epoch_id), &out.aad(), b.expose(), rng);
        out.enc = enc;
        out.ct = ct
            .as_slice()
            .try_into()
            .expect("a 32-byte plaintext seals to 48 bytes");
        out
    }

    /// Recover `b` for the segment whose signed header is `header`, with
    /// the secret of the re-wrap's epoch. Checks, in this order (§5.5):
    /// the segment ([`RewrapFailure::WrongSegment`]), the header hash
    /// ([`RewrapFailure::HeaderMismatch`]), the epoch
    /// ([`RewrapFailure::WrongEpoch`]), then decrypts
    /// ([`Error::DecryptionFailed`]).
    pub fn unwrap(&self, header: &SegmentHeader, with: &EpochSecret) -> Result<Secret32> {
        let fields = &header.fields;
        if self.recording_id != fields.recording_id
            || self.device_key != fields.device_key
            || self.segment_index != fields.segment_index
        {
            return Err(Error::Rewrap(RewrapFailure::WrongSegment {
                rewrap: self.segment_ref(),
                header: header.segment_ref(),
            }));
        }
        if self.header_hash != header.header_hash() {
            return Err(Error::Rewrap(RewrapFailure::HeaderMismatch));
        }
        if self.new_epoch_id != with.epoch_id {
            return Err(Error::Rewrap(RewrapFailure::WrongEpoch));
        }
        let pt = hpke_wrap::open(
            with.kem(),
            &info(self.new_epoch_id),
            &self.aad(),
            &self.enc,
            &self.ct,
            WHAT,
        )?;
        // AES-GCM of a 48-byte ciphertext opens to exactly 32 bytes.
        Ok(Secret32::from_slice(pt.expose()).expect("48-byte ciphertext holds 32 bytes"))
    }

    /// Move this re-wrap on to another epoch key (a second split, or a
    /// hold taken over from a split): unwrap with `from`, the secret of
    /// this re-wrap's epoch, and seal to `to`. `b` is wiped on return.
    pub fn rewrap_again(
        &self,
        header: &SegmentHeader,
        from: &EpochSecret,
        to: &EpochPublic,
        reason: RewrapReason,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<Self> {
        let b = self.unwrap(header, from)?;
        Ok(Self::seal(&b, header, reason, to, rng))
    }
}

/// Re-wrap the `b` of the segment with signed header `header` from the
/// epoch key in its header (`from`, whose secret unwraps `epoch_wrap`) to
/// `to`. `b` is wiped on return. Fails as [`EpochSecret::unwrap`] does.
pub fn rewrap_segment(
    header: &SegmentHeader,
    from: &EpochSecret,
    to: &EpochPublic,
    reason: RewrapReason,
    rng: &mut impl rand_core::CryptoRng,
) -> Result<EpochRewrap> {
    let fields = &header.fields;
    let b = from.unwrap(
        &fields.epoch_wrap,
        fields.recording_id,
        &fields.device_key,
        fields.segment_index,
    )?;
    Ok(EpochRewrap::seal(&b, header, reason, to, rng))
}

/// HPKE info: the label and the new epoch id, as for `epoch_wrap` (§5.4).
fn info(epoch: EpochId) -> Vec<u8> {
    [labels::EPOCH_REWRAP_INFO, &epoch.0[..]].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_bytes_round_trip_and_unknown_ones_are_refused() {
        for r in [RewrapReason::EpochSplit, RewrapReason::LegalHold] {
            assert_eq!(RewrapReason::from_u8(r.to_u8()), Some(r));
        }
        assert_eq!(RewrapReason::from_u8(0), None);
        assert_eq!(RewrapReason::from_u8(3), None);
        assert_eq!(REWRAP_LEN, 1276);
    }
}
