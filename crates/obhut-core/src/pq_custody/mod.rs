//! The post-quantum custody part `c` (docs/format.md §5.6).
//!
//! `a` (threshold ElGamal over ristretto255) falls to anyone who can
//! compute discrete logarithms, and `b` is wrapped to epoch keys the vault
//! holds; without a third part, a vault operator with a quantum computer
//! would open everything alone. `c` is drawn per segment, Shamir-shared
//! k-of-n over the ristretto255 scalar field (information-theoretic, and
//! computed with curve25519-dalek's constant-time `Scalar`), and each share
//! is padded under a wrap key the custodian alone can unwrap with its
//! X-Wing (post-quantum) key.
//!
//! The X-Wing encapsulations are made once per *custody run* (at most
//! [`RUN_SEGMENTS`] consecutive segments of one recording) and travel
//! inline in the record of the run's first segment; every record carries
//! its run's hash and its own n sealed shares with their hashes. A device
//! forgets a run's wrap keys when the run ends, so a device captured later
//! exposes at most the `c` of its current run's segments (and still no `a`
//! or `b`).

use curve25519_dalek::Scalar;
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::hpke_wrap::{self, ENC_LEN, KemPublicKey, KemSecretKey, TAG_LEN};
use crate::identity::VerifyKey;
use crate::ids::{Fingerprint, RecordingId};
use crate::labels;
use crate::point::{lagrange_at_zero, random_scalar};
use crate::secret::Secret32;
use crate::wire::{Reader, Writer};

mod handover;
pub use handover::{RUN_HANDOVER_LEN, RunHandover};

/// Most custodians a run shares c among (the group's bound, checked
/// equal there: [`crate::group::MAX_RUN_CUSTODIANS`]).
pub const MAX_RUN_CUSTODIANS: u16 = 255;

/// Segments per custody run: the device makes fresh wrap keys (n X-Wing
/// encapsulations) at least this often, and on every restart.
pub const RUN_SEGMENTS: u32 = 64;
/// A wrap key sealed with HPKE: 32 bytes and the tag.
pub const SEALED_WRAP_LEN: usize = 32 + TAG_LEN;
/// One run entry: custodian fingerprint, HPKE `enc`, sealed wrap key.
pub const RUN_ENTRY_LEN: usize = 32 + ENC_LEN + SEALED_WRAP_LEN;
/// One share slot: the padded share and its hash.
pub const SHARE_SLOT_LEN: usize = 64;
/// The fixed part of a record's custody block: run_start, threshold,
/// count, run_hash.
pub const CUSTODY_FIXED_LEN: usize = 4 + 2 + 2 + 32;

const CUSTODY: &str = "segment custody block";

/// One custodian's place in a custody run: who (fingerprint of its public
/// identity, so a custodian finds its entry across generations) and its
/// wrap key, HPKE-sealed to its X-Wing key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RunEntry {
    /// Fingerprint of the custodian's sign and X-Wing keys.
    pub custodian: Fingerprint,
    /// HPKE encapsulated key.
    pub enc: Box<[u8; ENC_LEN]>,
    /// The 32-byte wrap key w_x, sealed.
    pub sealed_wrap: [u8; SEALED_WRAP_LEN],
}

/// One custodian's share of a segment's `c`: padded under its wrap key,
/// and hashed so a requester can name a custodian that sends a wrong one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ShareSlot {
    /// share_x ⊕ pad(w_x, header_hash, x).
    pub sealed: [u8; 32],
    /// Digest("obhut/v1/pq-share-hash", header_hash ‖ x ‖ share_x).
    pub hash: [u8; 32],
}

/// The custody block of one segment record (§5.6, §7.1).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SegmentCustody {
    /// Index of the segment whose record carries the run's entries.
    pub run_start: u32,
    /// Shares needed to recover `c` (the group's k when sealed).
    pub threshold: u16,
    /// Hash of the run (§5.6), the same in every record of the run.
    pub run_hash: [u8; 32],
    /// The run's entries: present exactly in the record of segment
    /// `run_start`.
    pub run: Option<Vec<RunEntry>>,
    /// One slot per run entry, x = 1 … n in order.
    pub shares: Vec<ShareSlot>,
}

impl SegmentCustody {
    /// Encoded length of a block with `count` entries.
    pub const fn encoded_len(count: usize, carries_run: bool) -> usize {
        CUSTODY_FIXED_LEN
            + count * SHARE_SLOT_LEN
            + if carries_run {
                count * RUN_ENTRY_LEN
            } else {
                0
            }
    }

    /// Number of shares n.
    pub fn count(&self) -> u16 {
        self.shares.len() as u16
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u32(self.run_start)
            .u16(self.threshold)
            .u16(self.count())
            .bytes(&self.run_hash);
        if let Some(run) = &self.run {
            for e in run {
                w.bytes(&e.custodian.0)
                    .bytes(&e.enc[..])
                    .bytes(&e.sealed_wrap);
            }
        }
        for s in &self.shares {
            w.bytes(&s.sealed).bytes(&s.hash);
        }
    }

    /// Parse the block of the record of segment `index` of `recording`,
    /// sealed by `device`, and check what it alone can show (§5.6).
    pub(crate) fn read(
        r: &mut Reader<'_>,
        recording: RecordingId,
        device: &VerifyKey,
        index: u32,
    ) -> Result<Self> {
        let run_start = r.u32("custody run_start")?;
        let threshold = r.u16("custody threshold")?;
        let count = r.u16("custody count")?;
        let run_hash = r.array("custody run_hash")?;
        if count == 0 || count > MAX_RUN_CUSTODIANS {
            return Err(malformed("custody count is not 1 … 255"));
        }
        if threshold == 0 || threshold > count {
            return Err(malformed("custody threshold is not 1 … count"));
        }
        if run_start > index {
            return Err(malformed("custody run_start is after the segment"));
        }
        let carries_run = run_start == index;
        let need = Self::encoded_len(usize::from(count), carries_run) - CUSTODY_FIXED_LEN;
        if r.remaining() < need {
            return Err(Error::Truncated {
                what: CUSTODY,
                field: "custody entries and shares",
            });
        }
        let run = if carries_run {
            let mut entries = Vec::with_capacity(usize::from(count));
            for _ in 0..count {
                let custodian = Fingerprint(r.array("run entry custodian")?);
                let enc = Box::new(r.array::<ENC_LEN>("run entry enc")?);
                let sealed_wrap = r.array("run entry sealed_wrap")?;
                if entries.iter().any(|e: &RunEntry| e.custodian == custodian) {
                    return Err(malformed("a custodian appears twice in the custody run"));
                }
                entries.push(RunEntry {
                    custodian,
                    enc,
                    sealed_wrap,
                });
            }
            if run_hash != run_hash_of(recording, device, run_start, threshold, &entries) {
                return Err(malformed(
                    "custody run_hash does not match the run's entries",
                ));
            }
            Some(entries)
        } else {
            None
        };
        let mut shares = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            shares.push(ShareSlot {
                sealed: r.array("share sealed")?,
                hash: r.array("share hash")?,
            });
        }
        Ok(SegmentCustody {
            run_start,
            threshold,
            run_hash,
            run,
            shares,
        })
    }
}

fn malformed(reason: &'static str) -> Error {
    Error::Malformed {
        what: CUSTODY,
        reason,
    }
}

/// `Digest("obhut/v1/pq-run", recording ‖ device_key ‖ run_start u32 ‖
/// threshold u16 ‖ count u16 ‖ entries)`.
fn run_hash_of(
    recording: RecordingId,
    device: &VerifyKey,
    run_start: u32,
    threshold: u16,
    entries: &[RunEntry],
) -> [u8; 32] {
    let mut w = Writer::new();
    w.bytes(&recording.0)
        .bytes(&device.to_bytes())
        .u32(run_start)
        .u16(threshold)
        .u16(entries.len() as u16);
    for e in entries {
        w.bytes(&e.custodian.0)
            .bytes(&e.enc[..])
            .bytes(&e.sealed_wrap);
    }
    labels::digest(labels::PQ_RUN, &[w.as_slice()])
}

/// Associated data of a sealed wrap key: recording ‖ device_key ‖
/// run_start u32 ‖ x u16 ‖ custodian fingerprint.
fn wrap_aad(
    recording: RecordingId,
    device: &VerifyKey,
    run_start: u32,
    x: u16,
    custodian: &Fingerprint,
) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(&recording.0)
        .bytes(&device.to_bytes())
        .u32(run_start)
        .u16(x)
        .bytes(&custodian.0);
    w.into_vec()
}

/// `HKDF-SHA256(salt = "obhut/v1/pq-share", ikm = w_x, info = header_hash ‖ x u16)`.
fn pad(wrap: &Secret32, header_hash: &[u8; 32], x: u16) -> Zeroizing<[u8; 32]> {
    let mut info = [0u8; 34];
    info[..32].copy_from_slice(header_hash);
    info[32..].copy_from_slice(&x.to_be_bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(labels::PQ_SHARE), wrap.expose())
        .expand(&info, &mut out[..])
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

fn share_hash(header_hash: &[u8; 32], x: u16, share: &[u8; 32]) -> [u8; 32] {
    labels::digest(
        labels::PQ_SHARE_HASH,
        &[header_hash, &x.to_be_bytes(), share],
    )
}

/// A device's custody run: the wrap keys it shares with each custodian for
/// up to [`RUN_SEGMENTS`] segments. Zeroized on drop; `Debug` redacted.
pub struct CustodyRun {
    recording: RecordingId,
    start: u32,
    threshold: u16,
    run_hash: [u8; 32],
    entries: Vec<RunEntry>,
    wraps: Vec<Secret32>,
}

impl core::fmt::Debug for CustodyRun {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "CustodyRun({} from segment {}, {} of {}, wrap keys <redacted>)",
            self.recording,
            self.start,
            self.threshold,
            self.entries.len()
        )
    }
}

impl CustodyRun {
    /// A run from segment `start` for custodians given as (fingerprint,
    /// X-Wing key) in x order, with a threshold of 1 … their number: a fresh
    /// wrap key per custodian, each HPKE-sealed to its X-Wing key. A device
    /// makes it for its pinned group ([`crate::group::PinnedGroup::custody_run`]).
    ///
    /// # Panics
    /// If the threshold or the number of custodians is out of range: a
    /// caller's bug, never input.
    pub fn for_custodians(
        custodians: &[(Fingerprint, &KemPublicKey)],
        threshold: u16,
        recording: RecordingId,
        device: &VerifyKey,
        start: u32,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Self {
        assert!(
            !custodians.is_empty()
                && custodians.len() <= usize::from(MAX_RUN_CUSTODIANS)
                && threshold >= 1
                && usize::from(threshold) <= custodians.len(),
            "a custody run needs 1 … 255 custodians and a threshold of 1 … n"
        );
        let mut entries = Vec::with_capacity(custodians.len());
        let mut wraps = Vec::with_capacity(custodians.len());
        for (pos, (custodian, kem_key)) in custodians.iter().enumerate() {
            let x = pos as u16 + 1;
            let custodian = *custodian;
            let wrap = Secret32::random(rng);
            let (enc, ct) = hpke_wrap::seal(
                kem_key,
                labels::PQ_WRAP_INFO,
                &wrap_aad(recording, device, start, x, &custodian),
                wrap.expose(),
                rng,
            );
            let mut sealed_wrap = [0u8; SEALED_WRAP_LEN];
            sealed_wrap.copy_from_slice(&ct);
            entries.push(RunEntry {
                custodian,
                enc,
                sealed_wrap,
            });
            wraps.push(wrap);
        }
        let run_hash = run_hash_of(recording, device, start, threshold, &entries);
        CustodyRun {
            recording,
            start,
            threshold,
            run_hash,
            entries,
            wraps,
        }
    }

    /// The recording of the run.
    pub fn recording(&self) -> RecordingId {
        self.recording
    }

    /// The first segment of the run.
    pub fn start(&self) -> u32 {
        self.start
    }

    /// Whether segment `index` belongs to this run.
    pub fn covers(&self, index: u32) -> bool {
        index >= self.start && index - self.start < RUN_SEGMENTS
    }

    /// A fresh `c` for segment `index` (whose header hash is
    /// `header_hash`), split k-of-n, each share padded for its custodian.
    pub fn seal_c(
        &self,
        index: u32,
        header_hash: &[u8; 32],
        rng: &mut impl rand_core::CryptoRng,
    ) -> (Secret32, SegmentCustody) {
        let mut coefficients: Zeroizing<Vec<Scalar>> =
            Zeroizing::new((0..self.threshold).map(|_| random_scalar(rng)).collect());
        let c = Secret32::new(coefficients[0].to_bytes());
        let shares = self
            .wraps
            .iter()
            .enumerate()
            .map(|(pos, wrap)| {
                let x = pos as u16 + 1;
                let mut share = Zeroizing::new(evaluate(&coefficients, x).to_bytes());
                let hash = share_hash(header_hash, x, &share);
                let pad = pad(wrap, header_hash, x);
                let mut sealed = [0u8; 32];
                for (out, (s, p)) in sealed.iter_mut().zip(share.iter().zip(pad.iter())) {
                    *out = s ^ p;
                }
                share.zeroize();
                ShareSlot { sealed, hash }
            })
            .collect();
        coefficients.zeroize();
        let custody = SegmentCustody {
            run_start: self.start,
            threshold: self.threshold,
            run_hash: self.run_hash,
            run: (index == self.start).then(|| self.entries.clone()),
            shares,
        };
        (c, custody)
    }
}

/// f(x) = Σ coefficients[m]·x^m (Horner).
fn evaluate(coefficients: &[Scalar], x: u16) -> Scalar {
    let x = Scalar::from(x);
    let mut acc = Scalar::ZERO;
    for a in coefficients.iter().rev() {
        acc = acc * x + a;
    }
    acc
}

/// A custodian's unwrapped key for one custody run. Zeroized on drop.
pub struct RunKey {
    x: u16,
    run_hash: [u8; 32],
    wrap: Secret32,
}

impl core::fmt::Debug for RunKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RunKey(x = {}, <redacted>)", self.x)
    }
}

/// Why a custodian could not take its share of `c` from a custody run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunKeyFailure {
    /// The record given as the run's first does not carry the run.
    #[error("the record does not carry its custody run's entries")]
    NotARunStart,
    /// The run has no entry for this custodian (e.g. it joined the group
    /// after the segment was sealed).
    #[error("the custody run has no entry for this custodian")]
    NotInRun,
    /// The entry does not open with this custodian's X-Wing key.
    #[error("the custody run's entry for this custodian does not decrypt")]
    Undecryptable,
}

impl RunKey {
    /// Find `me`'s entry in the run carried by `custody` (the block of the
    /// record of segment `custody.run_start`) and unwrap its wrap key.
    pub fn unwrap(
        custody: &SegmentCustody,
        recording: RecordingId,
        device: &VerifyKey,
        me_fingerprint: &Fingerprint,
        me_kem: &KemSecretKey,
    ) -> core::result::Result<Self, RunKeyFailure> {
        let run = custody.run.as_ref().ok_or(RunKeyFailure::NotARunStart)?;
        let pos = run
            .iter()
            .position(|e| e.custodian == *me_fingerprint)
            .ok_or(RunKeyFailure::NotInRun)?;
        let x = pos as u16 + 1;
        let entry = &run[pos];
        let opened = hpke_wrap::open(
            me_kem,
            labels::PQ_WRAP_INFO,
            &wrap_aad(recording, device, custody.run_start, x, me_fingerprint),
            &entry.enc,
            &entry.sealed_wrap,
            CUSTODY,
        )
        .map_err(|_| RunKeyFailure::Undecryptable)?;
        let wrap = Secret32::from_slice(opened.expose()).ok_or(RunKeyFailure::Undecryptable)?;
        Ok(RunKey {
            x,
            run_hash: custody.run_hash,
            wrap,
        })
    }

    /// This custodian's x (1-based position in the run).
    pub fn x(&self) -> u16 {
        self.x
    }

    /// The share of the segment whose record carries `custody` and whose
    /// header hash is `header_hash`; `None` if the segment is of another
    /// run or the unpadded share does not match its hash (the device
    /// sealed it wrongly).
    pub fn share(&self, custody: &SegmentCustody, header_hash: &[u8; 32]) -> Option<Secret32> {
        if custody.run_hash != self.run_hash {
            return None;
        }
        let slot = custody.shares.get(usize::from(self.x) - 1)?;
        let pad = pad(&self.wrap, header_hash, self.x);
        let share = Secret32::filled_by(|out| {
            for (o, (s, p)) in out.iter_mut().zip(slot.sealed.iter().zip(pad.iter())) {
                *o = s ^ p;
            }
            Ok::<(), ()>(())
        })
        .ok()?;
        check_share(custody, header_hash, self.x, &share).then_some(share)
    }
}

/// Whether `share` is the share x of the segment whose record carries
/// `custody` (its hash matches, in constant time).
pub fn check_share(
    custody: &SegmentCustody,
    header_hash: &[u8; 32],
    x: u16,
    share: &Secret32,
) -> bool {
    let Some(slot) = usize::from(x)
        .checked_sub(1)
        .and_then(|i| custody.shares.get(i))
    else {
        return false;
    };
    bool::from(share_hash(header_hash, x, share.expose()).ct_eq(&slot.hash))
}

/// Recover `c` from shares `(x, share)` already checked with
/// [`check_share`]: Lagrange interpolation at 0 over the first `threshold`
/// distinct x. `None` with fewer, or if a share is not a canonical scalar.
pub fn combine_c(threshold: u16, shares: &[(u16, &Secret32)]) -> Option<Secret32> {
    let mut chosen: Vec<(u16, &Secret32)> = Vec::with_capacity(usize::from(threshold));
    for (x, s) in shares {
        if chosen.len() == usize::from(threshold) {
            break;
        }
        if *x != 0 && !chosen.iter().any(|(y, _)| y == x) {
            chosen.push((*x, s));
        }
    }
    if chosen.len() < usize::from(threshold) || threshold == 0 {
        return None;
    }
    let set: Vec<u16> = chosen.iter().map(|(x, _)| *x).collect();
    let mut c = Scalar::ZERO;
    for (x, s) in &chosen {
        let mut y = Option::<Scalar>::from(Scalar::from_canonical_bytes(*s.expose()))?;
        c += lagrange_at_zero(*x, &set) * y;
        y.zeroize();
    }
    let out = Secret32::new(c.to_bytes());
    c.zeroize();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_k_shares_recover_c_and_fewer_do_not() {
        let mut rng = crate::rng::os_rng();
        let coefficients: Vec<Scalar> = (0..3).map(|_| random_scalar(&mut rng)).collect();
        let shares: Vec<(u16, Secret32)> = (1..=5)
            .map(|x| (x, Secret32::new(evaluate(&coefficients, x).to_bytes())))
            .collect();
        let c = Secret32::new(coefficients[0].to_bytes());
        for set in [[0usize, 1, 2], [4, 2, 0], [1, 3, 4]] {
            let picked: Vec<(u16, &Secret32)> =
                set.iter().map(|&i| (shares[i].0, &shares[i].1)).collect();
            assert_eq!(combine_c(3, &picked).unwrap(), c);
        }
        let two: Vec<(u16, &Secret32)> = shares[..2].iter().map(|(x, s)| (*x, s)).collect();
        assert!(combine_c(3, &two).is_none());
        // A repeated x counts once.
        let dup = vec![(1, &shares[0].1), (1, &shares[0].1), (2, &shares[1].1)];
        assert!(combine_c(3, &dup).is_none());
    }

    #[test]
    fn debug_redacts_wrap_keys() {
        let key = RunKey {
            x: 2,
            run_hash: [0; 32],
            wrap: Secret32::new([0xab; 32]),
        };
        assert!(!format!("{key:?}").contains("ab"));
    }
}
