//! Handing a custody run's wrap key over to a successor (docs/format.md
//! §5.6): after a reshare (§4.3) a custodian who leaves, or one whose
//! identity changes, re-seals its wrap key w_x of each run to the person
//! who takes over its position x. The successor then serves share x of
//! every segment of the run, checked against the device-signed share
//! hashes, so a handover needs no signature: one that carries a wrong key
//! only yields shares that fail their hash.
//!
//! The threshold of `c` does not change: footage keeps the k-of-n of the
//! group it was sealed to, over positions, whoever holds them now.

use super::{RunKey, RunKeyFailure, SEALED_WRAP_LEN, SegmentCustody};
use crate::error::{Error, Result};
use crate::hpke_wrap::{self, ENC_LEN, KemPublicKey, KemSecretKey};
use crate::identity::{PersonSecret, VerifyKey};
use crate::ids::{Fingerprint, RecordingId};
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::secret::Secret32;
use crate::wire::{Reader, Writer};

/// Encoded length of a [`RunHandover`].
pub const RUN_HANDOVER_LEN: usize = 7 + 16 + 4 + 32 + 2 + 32 + ENC_LEN + SEALED_WRAP_LEN;

const RUN_HANDOVER: &str = "custody-run handover";

/// Wrap key x of one custody run, HPKE-sealed to a successor.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RunHandover {
    /// The recording.
    pub recording: RecordingId,
    /// The run's first segment.
    pub run_start: u32,
    /// The run's hash (from the device-signed records).
    pub run_hash: [u8; 32],
    /// The position handed over.
    pub x: u16,
    /// Fingerprint of the successor.
    pub to: Fingerprint,
    /// HPKE encapsulated key.
    pub enc: Box<[u8; ENC_LEN]>,
    /// The wrap key, sealed.
    pub sealed_wrap: [u8; SEALED_WRAP_LEN],
}

impl RunHandover {
    /// Hand `me`'s position in the run carried by `run` (the custody block
    /// of the record of segment `run.run_start` of `recording`, sealed by
    /// `device`) over to the person with fingerprint `to` and X-Wing key
    /// `to_kem`.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        me: &PersonSecret,
        run: &SegmentCustody,
        recording: RecordingId,
        device: &VerifyKey,
        to: Fingerprint,
        to_kem: &KemPublicKey,
        rng: &mut impl rand_core::CryptoRng,
    ) -> core::result::Result<Self, RunKeyFailure> {
        let key = RunKey::unwrap(run, recording, device, &me.public().fingerprint(), &me.kem)?;
        let mut h = RunHandover {
            recording,
            run_start: run.run_start,
            run_hash: run.run_hash,
            x: key.x,
            to,
            enc: Box::new([0; ENC_LEN]),
            sealed_wrap: [0; SEALED_WRAP_LEN],
        };
        let (enc, ct) = hpke_wrap::seal(
            to_kem,
            labels::PQ_HANDOVER_INFO,
            &h.aad(),
            key.wrap.expose(),
            rng,
        );
        h.enc = enc;
        h.sealed_wrap.copy_from_slice(&ct);
        Ok(h)
    }

    fn aad(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::RUN_HANDOVER, VERSION, SUITE_V1);
        w.bytes(&self.recording.0)
            .u32(self.run_start)
            .bytes(&self.run_hash)
            .u16(self.x)
            .bytes(&self.to.0);
        w.into_vec()
    }

    /// The successor's side: the run key this handover carries, for a
    /// successor with fingerprint `me` and X-Wing key `me_kem`, usable on
    /// the records of the run with hash `self.run_hash`.
    pub fn open(
        &self,
        me: &Fingerprint,
        me_kem: &KemSecretKey,
    ) -> core::result::Result<RunKey, RunKeyFailure> {
        if self.to != *me {
            return Err(RunKeyFailure::NotInRun);
        }
        let opened = hpke_wrap::open(
            me_kem,
            labels::PQ_HANDOVER_INFO,
            &self.aad(),
            &self.enc,
            &self.sealed_wrap,
            RUN_HANDOVER,
        )
        .map_err(|_| RunKeyFailure::Undecryptable)?;
        let wrap = Secret32::from_slice(opened.expose()).ok_or(RunKeyFailure::Undecryptable)?;
        Ok(RunKey {
            x: self.x,
            run_hash: self.run_hash,
            wrap,
        })
    }

    /// Canonical encoding ([`RUN_HANDOVER_LEN`] bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.aad();
        out.extend_from_slice(&self.enc[..]);
        out.extend_from_slice(&self.sealed_wrap);
        out
    }

    /// Parse a handover; x must be 1 … 255.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(RUN_HANDOVER, bytes);
        r.preamble(magic::RUN_HANDOVER, VERSION, SUITE_V1)?;
        let recording = RecordingId(r.array("recording_id")?);
        let run_start = r.u32("run_start")?;
        let run_hash = r.array("run_hash")?;
        let x = r.u16("x")?;
        if x == 0 || x > super::MAX_RUN_CUSTODIANS {
            return Err(Error::Malformed {
                what: RUN_HANDOVER,
                reason: "x is not 1 … 255",
            });
        }
        let to = Fingerprint(r.array("to")?);
        let enc = Box::new(r.array::<ENC_LEN>("enc")?);
        let sealed_wrap = r.array("sealed_wrap")?;
        r.finish()?;
        Ok(RunHandover {
            recording,
            run_start,
            run_hash,
            x,
            to,
            enc,
            sealed_wrap,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_lengths_and_positions_are_refused() {
        let h = RunHandover {
            recording: RecordingId([1; 16]),
            run_start: 64,
            run_hash: [2; 32],
            x: 3,
            to: Fingerprint([4; 32]),
            enc: Box::new([5; ENC_LEN]),
            sealed_wrap: [6; SEALED_WRAP_LEN],
        };
        let bytes = h.to_bytes();
        assert_eq!(bytes.len(), RUN_HANDOVER_LEN);
        assert_eq!(RunHandover::from_bytes(&bytes).unwrap(), h);
        assert!(RunHandover::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut zero = bytes.clone();
        zero[7 + 16 + 4 + 32..7 + 16 + 4 + 32 + 2].copy_from_slice(&[0, 0]);
        assert!(RunHandover::from_bytes(&zero).is_err());
    }
}
