//! Custody groups (docs/format.md §4): the signed group descriptor with its
//! Feldman commitments, the dealer ceremony, share envelopes, and the
//! custodian's share.
//!
//! A group of n custodians with threshold k shares a secret s; P = s·G is
//! the group key devices seal to. Nobody ever holds s after the ceremony:
//! custodian i holds s_i = f(i) for a polynomial f of degree k−1 with
//! f(0) = s, and the descriptor publishes C_j = a_j·G, from which anyone
//! derives P = C_0 and the verification shares P_i = Σ_j i^j·C_j.

use core::fmt;
use core::ops::Deref;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::hpke_wrap::{self, ENC_LEN, KEM_PUBLIC_LEN, KemPublicKey};
use crate::identity::{self, MAX_NAME_LEN, PersonSecret, PublicIdentity, VerifyKey};
use crate::ids::{Fingerprint, GroupId, RecordingId};
use crate::kem::GroupKey;
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::point::{random_scalar, read_point, read_scalar};
use crate::pq_custody::CustodyRun;
use crate::secret::SecretBytes;
use crate::wire::{Reader, Writer};

/// Largest number of custodians in a group (§4.1).
pub const MAX_CUSTODIANS: u16 = 255;
const _: () = assert!(MAX_CUSTODIANS == crate::pq_custody::MAX_RUN_CUSTODIANS);
/// Generation of a group created by the dealer ceremony (§4.2).
pub const FIRST_GENERATION: u32 = 1;
/// Maximum length of a share envelope's `sealed` field.
pub const MAX_SHARE_SEALED_LEN: usize = 1024;

const DESCRIPTOR: &str = "group descriptor";
const SHARE_ENVELOPE: &str = "share envelope";
const SHARE: &str = "share";

/// One custodian as listed in a descriptor.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Custodian {
    /// 1-based index i; the custodian holds s_i = f(i).
    pub index: u16,
    /// Ed25519 key that signs descriptors and partials.
    pub sign_key: VerifyKey,
    /// X-Wing key the custodian's share envelope is sealed to.
    pub kem_key: KemPublicKey,
}

/// A custodian's signature on a descriptor.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DescriptorSignature {
    /// Index of the signing custodian.
    pub index: u16,
    /// Ed25519 signature, context `obhut/v1/group-descriptor`.
    pub signature: [u8; 64],
}

impl fmt::Debug for DescriptorSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DescriptorSignature(custodian {}, {}…)",
            self.index,
            hex::encode(&self.signature[..8])
        )
    }
}

/// A custody-group descriptor (§4.1). Parsing checks the structure, every
/// point, every key and the verification shares, but not the signatures:
/// use [`GroupDescriptor::pin`] before trusting it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GroupDescriptor {
    group_id: GroupId,
    generation: u32,
    name: String,
    commitments: Vec<RistrettoPoint>,
    custodians: Vec<Custodian>,
    verification_shares: Vec<RistrettoPoint>,
    signatures: Vec<DescriptorSignature>,
}

/// `a·P` for a small non-negative `a` (≤ 255), by double-and-add: the
/// verification shares are evaluated at i ≤ 255, so Horner's rule with a
/// small multiplier is much cheaper than a full scalar multiplication.
fn mul_small(p: &RistrettoPoint, a: u16) -> RistrettoPoint {
    let mut acc = RistrettoPoint::default();
    for bit in (0..16 - a.leading_zeros()).rev() {
        acc = acc + acc;
        if (a >> bit) & 1 == 1 {
            acc += p;
        }
    }
    acc
}

/// P_i = Σ_j i^j·C_j, by Horner's rule. Also checks a resharing sub-share
/// against its dealer's commitments (§4.3).
pub(crate) fn verification_share(commitments: &[RistrettoPoint], i: u16) -> RistrettoPoint {
    let mut acc = RistrettoPoint::default();
    for c in commitments.iter().rev() {
        acc = mul_small(&acc, i) + c;
    }
    acc
}

fn check_parameters(k: u16, n: u16) -> Result<()> {
    if k == 0 || k > n || n > MAX_CUSTODIANS {
        return Err(Error::Custody(
            "need 1 ≤ k ≤ n ≤ 255 (threshold k, custodians n)",
        ));
    }
    Ok(())
}

impl GroupDescriptor {
    /// Build an unsigned descriptor from its parts, validating them.
    pub(crate) fn from_parts(
        group_id: GroupId,
        generation: u32,
        name: &str,
        commitments: Vec<RistrettoPoint>,
        custodians: Vec<Custodian>,
    ) -> Result<Self> {
        let d = GroupDescriptor {
            group_id,
            generation,
            name: name.to_owned(),
            commitments,
            custodians,
            verification_shares: Vec::new(),
            signatures: Vec::new(),
        };
        // Round-trip through the parser so that one code path enforces
        // every rule (bounds, distinct keys, points, verification shares).
        GroupDescriptor::from_bytes(&d.to_bytes())
    }

    /// The custody group's id.
    pub fn group_id(&self) -> GroupId {
        self.group_id
    }
    /// The key generation (incremented by resharing, §4.3).
    pub fn generation(&self) -> u32 {
        self.generation
    }
    /// Human-readable name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Threshold k: partials needed to recover a segment's custody part.
    pub fn threshold(&self) -> u16 {
        self.commitments.len() as u16
    }
    /// Number of custodians n.
    pub fn size(&self) -> u16 {
        self.custodians.len() as u16
    }
    /// The Feldman commitments C_0 … C_{k−1}.
    pub fn commitments(&self) -> &[RistrettoPoint] {
        &self.commitments
    }
    /// The group key P = C_0 with the group id and generation.
    pub fn group_key(&self) -> GroupKey {
        GroupKey {
            group_id: self.group_id,
            generation: self.generation,
            key: self.commitments[0],
        }
    }
    /// Custodians in index order (index i at position i − 1).
    pub fn custodians(&self) -> &[Custodian] {
        &self.custodians
    }
    /// The custodian with 1-based index `index`, if listed.
    pub fn custodian(&self, index: u16) -> Option<&Custodian> {
        (index as usize)
            .checked_sub(1)
            .and_then(|i| self.custodians.get(i))
    }
    /// The verification share P_i = s_i·G of custodian `index`, if listed.
    pub fn verification_share(&self, index: u16) -> Option<&RistrettoPoint> {
        (index as usize)
            .checked_sub(1)
            .and_then(|i| self.verification_shares.get(i))
    }
    /// The index of the custodian with this signing key, if listed.
    pub fn index_of(&self, sign_key: &VerifyKey) -> Option<u16> {
        self.custodians
            .iter()
            .find(|c| &c.sign_key == sign_key)
            .map(|c| c.index)
    }
    /// Signatures carried, in increasing custodian index.
    pub fn signatures(&self) -> &[DescriptorSignature] {
        &self.signatures
    }

    /// The signed body: the encoding up to (excluding) `sig_count`.
    pub fn signed_body(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::GROUP_DESCRIPTOR, VERSION, SUITE_V1);
        w.bytes(&self.group_id.0)
            .u32(self.generation)
            .string(&self.name)
            .u16(self.threshold())
            .u16(self.size());
        for c in &self.commitments {
            w.bytes(c.compress().as_bytes());
        }
        for c in &self.custodians {
            w.u16(c.index)
                .bytes(&c.sign_key.to_bytes())
                .bytes(c.kem_key.as_bytes());
        }
        w.into_vec()
    }

    /// Canonical encoding, signatures included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(&self.signed_body());
        w.u16(self.signatures.len() as u16);
        for s in &self.signatures {
            w.u16(s.index).bytes(&s.signature);
        }
        w.into_vec()
    }

    /// Parse a descriptor. Checks bounds (1 ≤ k ≤ n ≤ 255), custodian
    /// indices 1 … n in order with distinct keys, every commitment and
    /// verification share a valid non-identity point, and signature indices
    /// strictly increasing among listed custodians. Signatures themselves
    /// are checked by [`GroupDescriptor::verify_signatures`] and
    /// [`GroupDescriptor::pin`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(DESCRIPTOR, bytes);
        r.preamble(magic::GROUP_DESCRIPTOR, VERSION, SUITE_V1)?;
        let group_id = GroupId(r.array("group_id")?);
        let generation = r.u32("generation")?;
        let name = r.string("name", MAX_NAME_LEN)?.to_owned();
        let k = r.u16("k")?;
        let n = r.u16("n")?;
        if k == 0 || k > n || n > MAX_CUSTODIANS {
            return Err(Error::Malformed {
                what: DESCRIPTOR,
                reason: "k and n must satisfy 1 ≤ k ≤ n ≤ 255",
            });
        }
        let mut commitments = Vec::with_capacity(k as usize);
        for _ in 0..k {
            commitments.push(read_point(&mut r, "commitment")?);
        }
        let mut custodians: Vec<Custodian> = Vec::with_capacity(n as usize);
        for expected in 1..=n {
            let index = r.u16("custodian index")?;
            if index != expected {
                return Err(Error::Malformed {
                    what: DESCRIPTOR,
                    reason: "custodian indices must be 1 … n in order",
                });
            }
            let sign_key = VerifyKey::read(&mut r, "custodian sign_key")?;
            let kem = r.array::<KEM_PUBLIC_LEN>("custodian kem_key")?;
            let kem_key = KemPublicKey::from_bytes(&kem, DESCRIPTOR, "custodian kem_key")?;
            if custodians
                .iter()
                .any(|c| c.sign_key == sign_key || c.kem_key == kem_key)
            {
                return Err(Error::Malformed {
                    what: DESCRIPTOR,
                    reason: "two custodians share a key (each custodian must be a distinct person)",
                });
            }
            custodians.push(Custodian {
                index,
                sign_key,
                kem_key,
            });
        }
        let sig_count = r.u16("sig_count")?;
        if sig_count > n {
            return Err(Error::Malformed {
                what: DESCRIPTOR,
                reason: "more signatures than custodians",
            });
        }
        let mut signatures: Vec<DescriptorSignature> = Vec::with_capacity(sig_count as usize);
        for _ in 0..sig_count {
            let index = r.u16("signature index")?;
            let signature = r.array::<64>("signature")?;
            if index == 0 || index > n || signatures.last().is_some_and(|s| s.index >= index) {
                return Err(Error::Malformed {
                    what: DESCRIPTOR,
                    reason: "signature indices must name listed custodians in strictly increasing order",
                });
            }
            signatures.push(DescriptorSignature { index, signature });
        }
        r.finish()?;
        let mut verification_shares = Vec::with_capacity(n as usize);
        for i in 1..=n {
            let p_i = verification_share(&commitments, i);
            if p_i.is_identity() {
                return Err(Error::InvalidPoint {
                    what: DESCRIPTOR,
                    field: "verification share P_i",
                });
            }
            verification_shares.push(p_i);
        }
        Ok(GroupDescriptor {
            group_id,
            generation,
            name,
            commitments,
            custodians,
            verification_shares,
            signatures,
        })
    }

    /// Verify every carried signature against the listed custodian's key
    /// and require at least `min` of them. Returns the signers' indices.
    /// Any signature that does not verify is an error naming its custodian:
    /// a descriptor carrying a forged signature has been tampered with.
    pub fn verify_signatures(&self, min: u16) -> Result<Vec<u16>> {
        let body = self.signed_body();
        let mut signers = Vec::with_capacity(self.signatures.len());
        for s in &self.signatures {
            let custodian = self
                .custodian(s.index)
                .ok_or(Error::DescriptorSignature { custodian: s.index })?;
            custodian
                .sign_key
                .verify(
                    labels::GROUP_DESCRIPTOR_SIG,
                    &body,
                    &s.signature,
                    DESCRIPTOR,
                )
                .map_err(|_| Error::DescriptorSignature { custodian: s.index })?;
            signers.push(s.index);
        }
        // Indices are strictly increasing (parser and `add_signature`
        // enforce it), so the signers are distinct.
        if signers.len() < min as usize {
            return Err(Error::NotEnoughSignatures {
                needed: min,
                have: signers.len() as u16,
            });
        }
        Ok(signers)
    }

    /// Pin this descriptor (§4.1): succeeds only if it carries valid
    /// signatures from at least k distinct listed custodians and no invalid
    /// one.
    pub fn pin(&self) -> Result<PinnedGroup> {
        let signers = self.verify_signatures(self.threshold())?;
        Ok(PinnedGroup {
            descriptor: self.clone(),
            signers,
        })
    }

    /// Add a signature received from custodian `index`, after checking it.
    /// Replaces an earlier signature from the same custodian.
    pub fn add_signature(&mut self, index: u16, signature: [u8; 64]) -> Result<()> {
        let custodian = self
            .custodian(index)
            .ok_or(Error::DescriptorSignature { custodian: index })?;
        custodian
            .sign_key
            .verify(
                labels::GROUP_DESCRIPTOR_SIG,
                &self.signed_body(),
                &signature,
                DESCRIPTOR,
            )
            .map_err(|_| Error::DescriptorSignature { custodian: index })?;
        self.insert_signature(DescriptorSignature { index, signature });
        Ok(())
    }

    fn insert_signature(&mut self, sig: DescriptorSignature) {
        match self
            .signatures
            .binary_search_by_key(&sig.index, |s| s.index)
        {
            Ok(pos) => self.signatures[pos] = sig,
            Err(pos) => self.signatures.insert(pos, sig),
        }
    }
}

/// A descriptor that carries valid signatures from at least k distinct
/// custodians (§4.1). Only [`GroupDescriptor::pin`] makes one; devices seal
/// and requesters combine only against a pinned group.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PinnedGroup {
    descriptor: GroupDescriptor,
    signers: Vec<u16>,
}

impl PinnedGroup {
    /// A custody run from segment `start` of `recording` (format.md §5.6):
    /// c is shared among this group's custodians with its threshold, each
    /// wrap key HPKE-sealed to the custodian's X-Wing key.
    pub fn custody_run(
        &self,
        recording: RecordingId,
        device: &VerifyKey,
        start: u32,
        rng: &mut impl rand_core::CryptoRng,
    ) -> CustodyRun {
        let custodians: Vec<(Fingerprint, &KemPublicKey)> = self
            .custodians()
            .iter()
            .map(|c| (identity::fingerprint(&c.sign_key, &c.kem_key), &c.kem_key))
            .collect();
        CustodyRun::for_custodians(&custodians, self.threshold(), recording, device, start, rng)
    }

    /// Parse and pin in one step.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        GroupDescriptor::from_bytes(bytes)?.pin()
    }
    /// The pinned descriptor.
    pub fn descriptor(&self) -> &GroupDescriptor {
        &self.descriptor
    }
    /// Indices of the custodians whose signatures were verified.
    pub fn signers(&self) -> &[u16] {
        &self.signers
    }
}

impl Deref for PinnedGroup {
    type Target = GroupDescriptor;
    fn deref(&self) -> &GroupDescriptor {
        &self.descriptor
    }
}

/// A custodian's secret share s_i, opened from its envelope and checked
/// against the descriptor. Zeroized on drop; `Debug` is redacted; not
/// `Clone`, so that copies of the scalar are not made by accident.
pub struct CustodianShare {
    group_id: GroupId,
    generation: u32,
    index: u16,
    share: Scalar,
}

impl CustodianShare {
    /// Wrap a share computed by a ceremony (dealing or resharing, §4.3).
    /// The caller zeroizes its own copy of `share`.
    pub(crate) fn new(group_id: GroupId, generation: u32, index: u16, share: Scalar) -> Self {
        CustodianShare {
            group_id,
            generation,
            index,
            share,
        }
    }
    /// The custody group.
    pub fn group_id(&self) -> GroupId {
        self.group_id
    }
    /// The key generation.
    pub fn generation(&self) -> u32 {
        self.generation
    }
    /// The custodian's 1-based index i.
    pub fn index(&self) -> u16 {
        self.index
    }
    /// s_i·G, to compare with the descriptor's P_i.
    pub fn public(&self) -> RistrettoPoint {
        RistrettoPoint::mul_base(&self.share)
    }
    /// Whether this share is custodian i's share of `descriptor`'s group:
    /// same group, generation, and s_i·G = P_i.
    pub fn matches(&self, descriptor: &GroupDescriptor) -> bool {
        self.group_id == descriptor.group_id()
            && self.generation == descriptor.generation()
            && descriptor
                .verification_share(self.index)
                .is_some_and(|p_i| *p_i == self.public())
    }
    /// The secret scalar, for the partial computation only.
    pub(crate) fn scalar(&self) -> &Scalar {
        &self.share
    }
}

impl Drop for CustodianShare {
    fn drop(&mut self) {
        self.share.zeroize();
    }
}

impl fmt::Debug for CustodianShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CustodianShare(group {}, generation {}, custodian {}, share <redacted>)",
            self.group_id, self.generation, self.index
        )
    }
}

/// A custodian's share, HPKE-sealed to the custodian's X-Wing key (§4.2).
/// At rest the share stays inside this envelope.
#[derive(Clone, PartialEq, Eq)]
pub struct ShareEnvelope {
    /// The custody group.
    pub group_id: GroupId,
    /// The key generation.
    pub generation: u32,
    /// Index of the custodian the share belongs to.
    pub index: u16,
    /// HPKE encapsulated key.
    pub enc: Box<[u8; ENC_LEN]>,
    /// HPKE ciphertext of the `Share` plaintext (≤ 1024 bytes).
    pub sealed: Vec<u8>,
}

impl fmt::Debug for ShareEnvelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ShareEnvelope(group {}, generation {}, custodian {}, {} sealed bytes)",
            self.group_id,
            self.generation,
            self.index,
            self.sealed.len()
        )
    }
}

fn share_envelope_aad(group_id: &GroupId, generation: u32, index: u16) -> Vec<u8> {
    let mut w = Writer::with_preamble(magic::SHARE_ENVELOPE, VERSION, SUITE_V1);
    w.bytes(&group_id.0).u32(generation).u16(index);
    w.into_vec()
}

fn share_plaintext(group_id: &GroupId, generation: u32, index: u16, share: &Scalar) -> SecretBytes {
    let mut w = Writer::with_preamble(magic::SHARE, VERSION, SUITE_V1);
    let mut bytes = share.to_bytes();
    w.bytes(&group_id.0)
        .u32(generation)
        .u16(index)
        .bytes(&bytes);
    bytes.zeroize();
    SecretBytes::new(w.into_vec())
}

impl ShareEnvelope {
    /// Seal custodian `index`'s share to its X-Wing key.
    pub(crate) fn seal(
        to: &KemPublicKey,
        group_id: GroupId,
        generation: u32,
        index: u16,
        share: &Scalar,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Self {
        let aad = share_envelope_aad(&group_id, generation, index);
        let pt = share_plaintext(&group_id, generation, index, share);
        let (enc, sealed) =
            hpke_wrap::seal(to, labels::SHARE_ENVELOPE_INFO, &aad, pt.expose(), rng);
        ShareEnvelope {
            group_id,
            generation,
            index,
            enc,
            sealed,
        }
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(&share_envelope_aad(
            &self.group_id,
            self.generation,
            self.index,
        ));
        w.bytes(&self.enc[..]).var_bytes(&self.sealed);
        w.into_vec()
    }

    /// Parse an envelope.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(SHARE_ENVELOPE, bytes);
        r.preamble(magic::SHARE_ENVELOPE, VERSION, SUITE_V1)?;
        let group_id = GroupId(r.array("group_id")?);
        let generation = r.u32("generation")?;
        let index = r.u16("index")?;
        if index == 0 || index > MAX_CUSTODIANS {
            return Err(Error::Malformed {
                what: SHARE_ENVELOPE,
                reason: "custodian index must be 1 … 255",
            });
        }
        let enc = Box::new(r.array::<ENC_LEN>("enc")?);
        let sealed = r.var_bytes("sealed", MAX_SHARE_SEALED_LEN)?.to_vec();
        r.finish()?;
        Ok(ShareEnvelope {
            group_id,
            generation,
            index,
            enc,
            sealed,
        })
    }

    /// Open the envelope as custodian `me` (§4.2). Checks that `me` is the
    /// custodian the descriptor lists at this index, that the plaintext's
    /// ids equal the envelope's and the descriptor's, and that
    /// share·G = P_index.
    pub fn open(&self, me: &PersonSecret, descriptor: &GroupDescriptor) -> Result<CustodianShare> {
        if self.group_id != descriptor.group_id() || self.generation != descriptor.generation() {
            return Err(Error::Custody(
                "the share envelope is for another group or generation than the descriptor",
            ));
        }
        let listed = descriptor.custodian(self.index).ok_or(Error::Custody(
            "the share envelope names a custodian index the descriptor does not list",
        ))?;
        if listed.sign_key != me.sign.verify_key() || listed.kem_key != me.kem.public_key() {
            return Err(Error::Custody(
                "this identity is not the custodian the share envelope is for",
            ));
        }
        let aad = share_envelope_aad(&self.group_id, self.generation, self.index);
        let pt = hpke_wrap::open(
            &me.kem,
            labels::SHARE_ENVELOPE_INFO,
            &aad,
            &self.enc,
            &self.sealed,
            SHARE_ENVELOPE,
        )?;
        let mut r = Reader::new(SHARE, pt.expose());
        r.preamble(magic::SHARE, VERSION, SUITE_V1)?;
        let group_id = GroupId(r.array("group_id")?);
        let generation = r.u32("generation")?;
        let index = r.u16("index")?;
        let share = CustodianShare {
            group_id,
            generation,
            index,
            share: read_scalar(&mut r, "share")?,
        };
        r.finish()?;
        if group_id != self.group_id || generation != self.generation || index != self.index {
            return Err(Error::Malformed {
                what: SHARE,
                reason: "the share's group, generation or index differ from its envelope's",
            });
        }
        if share.share == Scalar::ZERO {
            return Err(Error::InvalidScalar {
                what: SHARE,
                field: "share",
            });
        }
        if !share.matches(descriptor) {
            return Err(Error::Custody(
                "the share does not match the descriptor's verification share for its index",
            ));
        }
        Ok(share)
    }
}

/// The dealer ceremony (§4.2), run on a custodian's machine: draw s and
/// a_1 … a_{k−1}, compute the shares s_i = f(i), build the unsigned
/// descriptor (generation [`FIRST_GENERATION`], fresh random group id) and
/// seal each share to its custodian. Every coefficient and share is
/// zeroized before returning. `n` must equal `custodians.len()`; custodian
/// i is `custodians[i − 1]`.
pub fn deal(
    name: &str,
    k: u16,
    n: u16,
    custodians: &[PublicIdentity],
    rng: &mut impl rand_core::CryptoRng,
) -> Result<(GroupDescriptor, Vec<ShareEnvelope>)> {
    check_parameters(k, n)?;
    if custodians.len() != n as usize {
        return Err(Error::Custody(
            "the number of custodians given differs from n",
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::Custody("the group name is longer than 128 bytes"));
    }
    let listed: Vec<Custodian> = custodians
        .iter()
        .zip(1u16..)
        .map(|(c, index)| Custodian {
            index,
            sign_key: c.sign_key,
            kem_key: c.kem_key.clone(),
        })
        .collect();
    for (i, a) in listed.iter().enumerate() {
        if listed[i + 1..]
            .iter()
            .any(|b| a.sign_key == b.sign_key || a.kem_key == b.kem_key)
        {
            return Err(Error::Custody(
                "a custodian is listed twice (each custodian must be a distinct person)",
            ));
        }
    }
    let group_id = GroupId::random(rng);
    let generation = FIRST_GENERATION;

    let (mut coefficients, mut shares) = loop {
        let coefficients: Vec<Scalar> = (0..k).map(|_| random_scalar(rng)).collect();
        let shares: Vec<Scalar> = (1..=n)
            .map(|i| {
                let x = Scalar::from(i);
                coefficients
                    .iter()
                    .rev()
                    .fold(Scalar::ZERO, |acc, a| acc * x + a)
            })
            .collect();
        // Shares may not be zero (§1.4); with k ≥ 2 this has probability
        // about n/l, but redraw rather than publish P_i = identity.
        if shares.iter().all(|s| *s != Scalar::ZERO) {
            break (coefficients, shares);
        }
    };
    let commitments: Vec<RistrettoPoint> =
        coefficients.iter().map(RistrettoPoint::mul_base).collect();
    let built = GroupDescriptor::from_parts(group_id, generation, name, commitments, listed);
    let result = built.map(|descriptor| {
        let envelopes = descriptor
            .custodians()
            .iter()
            .zip(&shares)
            .map(|(c, s)| ShareEnvelope::seal(&c.kem_key, group_id, generation, c.index, s, rng))
            .collect();
        (descriptor, envelopes)
    });
    for s in coefficients.iter_mut().chain(shares.iter_mut()) {
        s.zeroize();
    }
    result
}

/// Custodian `me` signs `descriptor` with its share (§4.1): checks that the
/// share is this descriptor's custodian i's (s_i·G = P_i) and that `me` is
/// the custodian listed at i, then adds the signature.
pub fn sign_descriptor(
    descriptor: &mut GroupDescriptor,
    share: &CustodianShare,
    me: &PersonSecret,
) -> Result<()> {
    if !share.matches(descriptor) {
        return Err(Error::Custody(
            "refusing to sign: the share does not match the descriptor's verification share",
        ));
    }
    let listed = descriptor.custodian(share.index()).ok_or(Error::Custody(
        "refusing to sign: the descriptor does not list this custodian index",
    ))?;
    if listed.sign_key != me.sign.verify_key() {
        return Err(Error::Custody(
            "refusing to sign: this identity is not the custodian listed at the share's index",
        ));
    }
    let signature = me
        .sign
        .sign(labels::GROUP_DESCRIPTOR_SIG, &descriptor.signed_body());
    descriptor.insert_signature(DescriptorSignature {
        index: share.index(),
        signature,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_multiplication_matches_scalar_multiplication() {
        let p = RistrettoPoint::mul_base(&Scalar::from(7u8));
        for a in [0u16, 1, 2, 3, 128, 255] {
            assert_eq!(mul_small(&p, a), Scalar::from(a) * p);
        }
    }

    #[test]
    fn verification_shares_are_commitments_to_shares() {
        let mut rng = crate::rng::os_rng();
        let coeffs: Vec<Scalar> = (0..3).map(|_| random_scalar(&mut rng)).collect();
        let commitments: Vec<_> = coeffs.iter().map(RistrettoPoint::mul_base).collect();
        for i in 1..=5u16 {
            let x = Scalar::from(i);
            let s_i = coeffs.iter().rev().fold(Scalar::ZERO, |acc, a| acc * x + a);
            assert_eq!(
                verification_share(&commitments, i),
                RistrettoPoint::mul_base(&s_i)
            );
        }
    }
}
