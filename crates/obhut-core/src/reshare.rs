//! Resharing a custody group to a new custodian set (docs/format.md §4.3)
//! without touching sealed footage: the group key P stays the same, so
//! every capsule sealed before still opens with k′ of the new shares; the
//! generation increments.
//!
//! A set S of at least k old custodians each deals its Lagrange-weighted
//! share λ_i·s_i (λ_i over S at 0) with a fresh random polynomial g_i of
//! degree k′−1, g_i(0) = λ_i·s_i. Each [`ReshareDeal`] publishes Feldman
//! commitments F_{i,m} = b_{i,m}·G to g_i's coefficients (anyone checks
//! F_{i,0} = λ_i·P_i against the old descriptor) and carries g_i(j)
//! HPKE-encrypted to each new custodian j. New custodian j checks every
//! sub-share against its commitments and sums them into
//! s′_j = Σ_i g_i(j); the new descriptor's commitments are
//! C′_m = Σ_i F_{i,m}, so C′_0 = Σ λ_i·P_i = P.
//!
//! The flow, as a CLI would drive it:
//! 1. someone writes a [`ResharePlan`] (dealer set S, new name, k′, new
//!    custodians) and hands it to the dealers;
//! 2. each dealer i ∈ S runs [`ReshareDeal::create`] with its opened share
//!    and the pinned old descriptor, and publishes the deal (the vault may
//!    relay it: sub-shares are encrypted, the deal is signed);
//! 3. each new custodian runs [`receive`] on all deals: it gets the new
//!    descriptor signed by itself, its share, and the share sealed to
//!    itself in a [`ShareEnvelope`] for storage;
//! 4. the signatures of the new custodians are gathered
//!    ([`GroupDescriptor::add_signature`]); devices, requesters and the
//!    vault move from the old pinned descriptor to the new one with
//!    [`verify_successor`] (k old custodians' deals and k′ new signatures);
//! 5. old custodians destroy their old shares.
//!
//! Every polynomial coefficient and sub-share is zeroized when dropped.

use core::fmt;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use zeroize::Zeroize;

use crate::error::{Error, ReshareFailure, Result};
use crate::group::{
    self, Custodian, CustodianShare, GroupDescriptor, MAX_CUSTODIANS, PinnedGroup, ShareEnvelope,
};
use crate::hpke_wrap::{self, ENC_LEN, KEM_PUBLIC_LEN, KemPublicKey, TAG_LEN};
use crate::identity::{MAX_NAME_LEN, PersonSecret, PublicIdentity, SignKey, VerifyKey};
use crate::ids::GroupId;
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::point::lagrange_at_zero;
use crate::point::{decode_scalar, random_scalar, read_point};
use crate::wire::{Reader, Writer};

/// Length of a sub-share plaintext (`ReshareSubShare`, §4.3).
pub const SUBSHARE_PLAINTEXT_LEN: usize = 7 + 16 + 4 + 2 + 2 + 32;
/// Length of a sub-share ciphertext: plaintext and AES-256-GCM tag.
pub const SUBSHARE_CT_LEN: usize = SUBSHARE_PLAINTEXT_LEN + TAG_LEN;

const DEAL: &str = "reshare deal";
const SUBSHARE: &str = "reshare sub-share";

// ---------------------------------------------------------------------------
// Secrets: a dealer's polynomial and one sub-share.

/// The dealer's polynomial g_i, coefficients b_0 … b_{k′−1}. Zeroized on
/// drop; `Debug` is redacted.
struct Polynomial(Vec<Scalar>);

impl Polynomial {
    /// g(x) by Horner's rule.
    fn eval(&self, x: u16) -> SubShare {
        let x = Scalar::from(x);
        let mut acc = Scalar::ZERO;
        for b in self.0.iter().rev() {
            acc = acc * x + b;
        }
        SubShare(acc)
    }
}

impl Drop for Polynomial {
    fn drop(&mut self) {
        for b in &mut self.0 {
            b.zeroize();
        }
    }
}

impl fmt::Debug for Polynomial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Polynomial(degree {}, <redacted>)",
            self.0.len().saturating_sub(1)
        )
    }
}

/// One sub-share g_i(j). Zeroized on drop; `Debug` is redacted.
struct SubShare(Scalar);

impl Drop for SubShare {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SubShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubShare(<redacted>)")
    }
}

// ---------------------------------------------------------------------------
// The plan.

/// What a reshare does (§4.3): which old custodians deal (S), and the new
/// group's name, threshold k′ and custodians. Every deal of one reshare
/// carries the same plan, byte for byte.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ResharePlan {
    dealers: Vec<u16>,
    name: String,
    threshold: u16,
    custodians: Vec<Custodian>,
}

impl ResharePlan {
    /// A plan. `dealers` are old custodian indices (any order, no
    /// repeats); whether they are at least k listed custodians is checked
    /// against the old descriptor by [`ReshareDeal::create`] and
    /// [`ReshareDeal::verify`]. New custodian j is `custodians[j − 1]`;
    /// 1 ≤ k′ ≤ n′ ≤ 255 and the custodians' keys must be pairwise
    /// distinct.
    pub fn new(
        dealers: &[u16],
        name: &str,
        threshold: u16,
        custodians: &[PublicIdentity],
    ) -> Result<Self> {
        let mut sorted = dealers.to_vec();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::Custody(
                "the dealer set names an old custodian twice",
            ));
        }
        if custodians.len() > MAX_CUSTODIANS as usize {
            return Err(Error::Custody("a group has at most 255 custodians"));
        }
        let plan = ResharePlan {
            dealers: sorted,
            name: name.to_owned(),
            threshold,
            custodians: custodians
                .iter()
                .zip(1u16..)
                .map(|(c, index)| Custodian {
                    index,
                    sign_key: c.sign_key,
                    kem_key: c.kem_key.clone(),
                })
                .collect(),
        };
        plan.check().map_err(Error::Custody)?;
        Ok(plan)
    }

    /// The structural rules shared by [`ResharePlan::new`] and the parser.
    fn check(&self) -> core::result::Result<(), &'static str> {
        if self.dealers.is_empty() || self.dealers.len() > MAX_CUSTODIANS as usize {
            return Err("the dealer set holds 1 … 255 old custodians");
        }
        if self.dealers[0] == 0
            || self.dealers.windows(2).any(|w| w[0] >= w[1])
            || *self.dealers.last().expect("non-empty") > MAX_CUSTODIANS
        {
            return Err(
                "the dealer set must be old custodian indices 1 … 255, strictly increasing",
            );
        }
        if self.name.len() > MAX_NAME_LEN {
            return Err("the group name is longer than 128 bytes");
        }
        let n = self.custodians.len();
        if self.threshold == 0 || self.threshold as usize > n || n > MAX_CUSTODIANS as usize {
            return Err("the new k′ and n′ must satisfy 1 ≤ k′ ≤ n′ ≤ 255");
        }
        for (i, a) in self.custodians.iter().enumerate() {
            if self.custodians[i + 1..]
                .iter()
                .any(|b| a.sign_key == b.sign_key || a.kem_key == b.kem_key)
            {
                return Err("a new custodian is listed twice (each must be a distinct person)");
            }
        }
        Ok(())
    }

    /// The old custodians who deal (S), in increasing index order.
    pub fn dealers(&self) -> &[u16] {
        &self.dealers
    }
    /// Name of the new descriptor.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The new threshold k′.
    pub fn threshold(&self) -> u16 {
        self.threshold
    }
    /// The number of new custodians n′.
    pub fn size(&self) -> u16 {
        self.custodians.len() as u16
    }
    /// The new custodians, index 1 … n′ in order.
    pub fn custodians(&self) -> &[Custodian] {
        &self.custodians
    }

    /// The index of `me` among the new custodians (both keys must match).
    pub fn index_of(&self, me: &PersonSecret) -> Option<u16> {
        let sign_key = me.sign.verify_key();
        let kem_key = me.kem.public_key();
        self.custodians
            .iter()
            .find(|c| c.sign_key == sign_key && c.kem_key == kem_key)
            .map(|c| c.index)
    }

    fn encode(&self, w: &mut Writer) {
        w.u16(self.dealers.len() as u16);
        for d in &self.dealers {
            w.u16(*d);
        }
        w.string(&self.name).u16(self.threshold).u16(self.size());
        for c in &self.custodians {
            w.u16(c.index)
                .bytes(&c.sign_key.to_bytes())
                .bytes(c.kem_key.as_bytes());
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let malformed = |reason| Error::Malformed { what: DEAL, reason };
        let count = r.u16("dealer_count")?;
        if count == 0 || count > MAX_CUSTODIANS {
            return Err(malformed("the dealer set holds 1 … 255 old custodians"));
        }
        let mut dealers = Vec::with_capacity(count as usize);
        for _ in 0..count {
            dealers.push(r.u16("dealer set")?);
        }
        let name = r.string("name", MAX_NAME_LEN)?.to_owned();
        let threshold = r.u16("new_k")?;
        let n = r.u16("new_n")?;
        if threshold == 0 || threshold > n || n > MAX_CUSTODIANS {
            return Err(malformed(
                "the new k′ and n′ must satisfy 1 ≤ k′ ≤ n′ ≤ 255",
            ));
        }
        let mut custodians = Vec::with_capacity(n as usize);
        for expected in 1..=n {
            let index = r.u16("new custodian index")?;
            if index != expected {
                return Err(malformed("new custodian indices must be 1 … n′ in order"));
            }
            let sign_key = VerifyKey::read(r, "new custodian sign_key")?;
            let kem = r.array::<KEM_PUBLIC_LEN>("new custodian kem_key")?;
            let kem_key = KemPublicKey::from_bytes(&kem, DEAL, "new custodian kem_key")?;
            custodians.push(Custodian {
                index,
                sign_key,
                kem_key,
            });
        }
        let plan = ResharePlan {
            dealers,
            name,
            threshold,
            custodians,
        };
        plan.check().map_err(malformed)?;
        Ok(plan)
    }

    /// Check the dealer set against the old group: every member listed,
    /// at least k of them.
    fn check_dealers(&self, old: &GroupDescriptor) -> core::result::Result<(), ReshareFailure> {
        if self.dealers.iter().any(|d| old.custodian(*d).is_none()) {
            return Err(ReshareFailure::NotADealer);
        }
        if self.dealers.len() < old.threshold() as usize {
            return Err(ReshareFailure::TooFewDealers {
                needed: old.threshold(),
                have: self.dealers.len() as u16,
            });
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The deal.

/// One new custodian's sub-share inside a deal: HPKE to its `kem_key`,
/// info `obhut/v1/reshare-subshare`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSubShare {
    /// HPKE encapsulated key.
    pub enc: Box<[u8; ENC_LEN]>,
    /// HPKE ciphertext of the `ReshareSubShare` plaintext.
    pub ct: [u8; SUBSHARE_CT_LEN],
}

impl fmt::Debug for SealedSubShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSubShare(enc {}…)", hex::encode(&self.enc[..8]))
    }
}

/// An old custodian's resharing deal (§4.3), signed with its Ed25519 key
/// from the old descriptor (context `obhut/v1/reshare-deal`). Parsing
/// checks structure, points and keys; [`ReshareDeal::verify`] checks the
/// deal against the pinned old descriptor.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReshareDeal {
    /// The custody group (unchanged by resharing).
    pub group_id: GroupId,
    /// Generation g of the old descriptor.
    pub old_generation: u32,
    /// g + 1, the new descriptor's generation.
    pub new_generation: u32,
    /// Index i of the dealing old custodian (i ∈ S).
    pub dealer: u16,
    /// Dealer set, new name, k′ and new custodians.
    pub plan: ResharePlan,
    /// F_{i,0} … F_{i,k′−1}: commitments to g_i's coefficients;
    /// F_{i,0} = λ_i·P_i.
    pub commitments: Vec<RistrettoPoint>,
    /// g_i(j) sealed to new custodian j, in custodian order.
    pub subshares: Vec<SealedSubShare>,
    /// The dealer's signature.
    pub signature: [u8; 64],
}

/// HPKE aad of the sub-share for `recipient`: the deal's preamble and ids.
fn subshare_aad(
    group_id: &GroupId,
    old_generation: u32,
    new_generation: u32,
    dealer: u16,
    recipient: u16,
) -> Vec<u8> {
    let mut w = Writer::with_preamble(magic::RESHARE_DEAL, VERSION, SUITE_V1);
    w.bytes(&group_id.0)
        .u32(old_generation)
        .u32(new_generation)
        .u16(dealer)
        .u16(recipient);
    w.into_vec()
}

/// The `ReshareSubShare` plaintext, built in a fixed buffer (no
/// reallocation leaves copies behind) that the caller zeroizes.
fn subshare_plaintext(
    group_id: &GroupId,
    new_generation: u32,
    dealer: u16,
    recipient: u16,
    value: &SubShare,
) -> [u8; SUBSHARE_PLAINTEXT_LEN] {
    let mut pt = [0u8; SUBSHARE_PLAINTEXT_LEN];
    pt[0..4].copy_from_slice(magic::RESHARE_SUBSHARE);
    pt[4] = VERSION;
    pt[5..7].copy_from_slice(&SUITE_V1.to_be_bytes());
    pt[7..23].copy_from_slice(&group_id.0);
    pt[23..27].copy_from_slice(&new_generation.to_be_bytes());
    pt[27..29].copy_from_slice(&dealer.to_be_bytes());
    pt[29..31].copy_from_slice(&recipient.to_be_bytes());
    let mut bytes = value.0.to_bytes();
    pt[31..63].copy_from_slice(&bytes);
    bytes.zeroize();
    pt
}

impl ReshareDeal {
    /// Deal (§4.3), as old custodian `me` holding `share` of the pinned
    /// group `old`: checks that the share is custodian i's (s_i·G = P_i)
    /// and `me` is listed at i, that i is in the plan's dealer set and the
    /// set is at least k listed custodians; then draws g_i with
    /// g_i(0) = λ_i·s_i, commits to it, seals g_i(j) to each new custodian
    /// and signs. The polynomial and sub-shares are zeroized before
    /// returning.
    pub fn create(
        me: &PersonSecret,
        share: &CustodianShare,
        old: &PinnedGroup,
        plan: &ResharePlan,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<Self> {
        if !share.matches(old) {
            return Err(Error::Custody(
                "refusing to deal: the share does not match the old descriptor's verification share",
            ));
        }
        let i = share.index();
        let listed = old.custodian(i).ok_or(Error::Custody(
            "refusing to deal: the old descriptor does not list this custodian index",
        ))?;
        if listed.sign_key != me.sign.verify_key() {
            return Err(Error::Custody(
                "refusing to deal: this identity is not the custodian listed at the share's index",
            ));
        }
        if !plan.dealers.contains(&i) {
            return Err(Error::Custody(
                "refusing to deal: this custodian is not in the plan's dealer set",
            ));
        }
        match plan.check_dealers(old) {
            Ok(()) => {}
            Err(ReshareFailure::TooFewDealers { .. }) => {
                return Err(Error::Custody(
                    "refusing to deal: the dealer set has fewer old custodians than the old threshold k",
                ));
            }
            Err(_) => {
                return Err(Error::Custody(
                    "refusing to deal: the dealer set names an index the old descriptor does not list",
                ));
            }
        }
        let new_generation = old.generation().checked_add(1).ok_or(Error::Custody(
            "the group's generation counter is exhausted",
        ))?;
        let group_id = old.group_id();
        let lambda = lagrange_at_zero(i, &plan.dealers);

        let (poly, values) = loop {
            let mut coefficients = Vec::with_capacity(plan.threshold as usize);
            coefficients.push(lambda * share.scalar());
            for _ in 1..plan.threshold {
                coefficients.push(random_scalar(rng));
            }
            let poly = Polynomial(coefficients);
            let values: Vec<SubShare> = (1..=plan.size()).map(|j| poly.eval(j)).collect();
            // Sub-shares may not be zero (§1.4); with k′ ≥ 2 this has
            // probability about n′/l, and with k′ = 1 every value is
            // λ_i·s_i ≠ 0. Redraw rather than send a zero.
            if values.iter().all(|v| v.0 != Scalar::ZERO) {
                break (poly, values);
            }
        };
        let commitments: Vec<RistrettoPoint> =
            poly.0.iter().map(RistrettoPoint::mul_base).collect();
        drop(poly);
        let subshares = plan
            .custodians
            .iter()
            .zip(&values)
            .map(|(c, v)| {
                let aad = subshare_aad(&group_id, old.generation(), new_generation, i, c.index);
                let mut pt = subshare_plaintext(&group_id, new_generation, i, c.index, v);
                let (enc, sealed) =
                    hpke_wrap::seal(&c.kem_key, labels::RESHARE_SUBSHARE_INFO, &aad, &pt, rng);
                pt.zeroize();
                let mut ct = [0u8; SUBSHARE_CT_LEN];
                ct.copy_from_slice(&sealed);
                SealedSubShare { enc, ct }
            })
            .collect();
        drop(values);
        let mut deal = ReshareDeal {
            group_id,
            old_generation: old.generation(),
            new_generation,
            dealer: i,
            plan: plan.clone(),
            commitments,
            subshares,
            signature: [0u8; 64],
        };
        deal.sign(&me.sign);
        Ok(deal)
    }

    /// The signed body: the encoding up to (excluding) the signature.
    pub fn signed_body(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::RESHARE_DEAL, VERSION, SUITE_V1);
        w.bytes(&self.group_id.0)
            .u32(self.old_generation)
            .u32(self.new_generation)
            .u16(self.dealer);
        self.plan.encode(&mut w);
        for c in &self.commitments {
            w.bytes(c.compress().as_bytes());
        }
        for s in &self.subshares {
            w.bytes(&s.enc[..]).bytes(&s.ct);
        }
        w.into_vec()
    }

    /// Sign with the dealer's key (context `obhut/v1/reshare-deal`).
    pub fn sign(&mut self, key: &SignKey) {
        self.signature = key.sign(labels::RESHARE_DEAL_SIG, &self.signed_body());
    }

    /// Check the signature under `key`.
    pub fn verify_signature(&self, key: &VerifyKey) -> Result<()> {
        key.verify(
            labels::RESHARE_DEAL_SIG,
            &self.signed_body(),
            &self.signature,
            DEAL,
        )
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.signed_body();
        b.extend_from_slice(&self.signature);
        b
    }

    /// Parse a deal: preamble, new_generation = old_generation + 1, dealer
    /// index 1 … 255, a well-formed plan (§4.3), k′ commitments that are
    /// valid non-identity points, n′ sub-share ciphertexts, no trailing
    /// bytes. Does not check the deal against the old group: see
    /// [`ReshareDeal::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(DEAL, bytes);
        r.preamble(magic::RESHARE_DEAL, VERSION, SUITE_V1)?;
        let group_id = GroupId(r.array("group_id")?);
        let old_generation = r.u32("old_generation")?;
        let new_generation = r.u32("new_generation")?;
        if old_generation.checked_add(1) != Some(new_generation) {
            return Err(Error::Malformed {
                what: DEAL,
                reason: "new_generation must be old_generation + 1",
            });
        }
        let dealer = r.u16("dealer")?;
        if dealer == 0 || dealer > MAX_CUSTODIANS {
            return Err(Error::Malformed {
                what: DEAL,
                reason: "the dealer index must be 1 … 255",
            });
        }
        let plan = ResharePlan::read(&mut r)?;
        let mut commitments = Vec::with_capacity(plan.threshold as usize);
        for _ in 0..plan.threshold {
            commitments.push(read_point(&mut r, "commitment")?);
        }
        let mut subshares = Vec::with_capacity(plan.custodians.len());
        for _ in 0..plan.custodians.len() {
            let enc = Box::new(r.array::<ENC_LEN>("sub-share enc")?);
            let ct = r.array::<SUBSHARE_CT_LEN>("sub-share ct")?;
            subshares.push(SealedSubShare { enc, ct });
        }
        let signature = r.array::<64>("signature")?;
        r.finish()?;
        Ok(ReshareDeal {
            group_id,
            old_generation,
            new_generation,
            dealer,
            plan,
            commitments,
            subshares,
            signature,
        })
    }

    fn fail(&self, failure: ReshareFailure) -> Error {
        Error::Reshare {
            dealer: self.dealer,
            failure,
        }
    }

    /// The public checks of one deal against the pinned old descriptor
    /// (§4.3), which anyone can run: the deal is for this group and
    /// generation (and the next one); the signature verifies under the old
    /// sign_key of `dealer`; the dealer is in the deal's dealer set, which
    /// names at least k listed old custodians; there are k′ commitments
    /// and n′ sub-shares; and F_{i,0} = λ_i·P_i, so the deal cannot change
    /// the group key. Failures are [`Error::Reshare`] naming the dealer.
    pub fn verify(&self, old: &PinnedGroup) -> Result<()> {
        if self.group_id != old.group_id()
            || self.old_generation != old.generation()
            || old.generation().checked_add(1) != Some(self.new_generation)
        {
            return Err(self.fail(ReshareFailure::OtherGroup));
        }
        let listed = old
            .custodian(self.dealer)
            .ok_or(self.fail(ReshareFailure::NotADealer))?;
        self.verify_signature(&listed.sign_key)
            .map_err(|_| self.fail(ReshareFailure::BadSignature))?;
        if !self.plan.dealers.contains(&self.dealer) {
            return Err(self.fail(ReshareFailure::NotADealer));
        }
        self.plan.check_dealers(old).map_err(|f| self.fail(f))?;
        if self.commitments.len() != self.plan.threshold as usize {
            return Err(self.fail(ReshareFailure::Malformed(
                "the number of commitments is not the new threshold k′",
            )));
        }
        if self.subshares.len() != self.plan.custodians.len() {
            return Err(self.fail(ReshareFailure::Malformed(
                "the number of sub-shares is not the number of new custodians n′",
            )));
        }
        let p_i = old
            .verification_share(self.dealer)
            .ok_or(self.fail(ReshareFailure::NotADealer))?;
        let lambda = lagrange_at_zero(self.dealer, &self.plan.dealers);
        if self.commitments[0] != lambda * p_i {
            return Err(self.fail(ReshareFailure::WrongConstant));
        }
        Ok(())
    }

    /// Open the sub-share for new custodian `j` = `me` and check it against
    /// the commitments: v·G = Σ_m j^m·F_{i,m}.
    fn open_subshare(&self, me: &PersonSecret, j: u16) -> Result<SubShare> {
        let undecryptable = || self.fail(ReshareFailure::Undecryptable { recipient: j });
        let sealed = self
            .subshares
            .get(usize::from(j).wrapping_sub(1))
            .ok_or_else(undecryptable)?;
        let aad = subshare_aad(
            &self.group_id,
            self.old_generation,
            self.new_generation,
            self.dealer,
            j,
        );
        let pt = hpke_wrap::open(
            &me.kem,
            labels::RESHARE_SUBSHARE_INFO,
            &aad,
            &sealed.enc,
            &sealed.ct,
            SUBSHARE,
        )
        .map_err(|_| undecryptable())?;
        let mut r = Reader::new(SUBSHARE, pt.expose());
        r.preamble(magic::RESHARE_SUBSHARE, VERSION, SUITE_V1)
            .map_err(|_| undecryptable())?;
        let group_id = GroupId(r.array("group_id")?);
        let new_generation = r.u32("new_generation")?;
        let dealer = r.u16("dealer")?;
        let recipient = r.u16("recipient")?;
        let mut bytes = r.array::<32>("value")?;
        let value = decode_scalar(&bytes, SUBSHARE, "value").map(SubShare);
        bytes.zeroize();
        r.finish()?;
        let value = value.map_err(|_| undecryptable())?;
        if group_id != self.group_id
            || new_generation != self.new_generation
            || dealer != self.dealer
            || recipient != j
            || value.0 == Scalar::ZERO
        {
            return Err(undecryptable());
        }
        if RistrettoPoint::mul_base(&value.0) != group::verification_share(&self.commitments, j) {
            return Err(self.fail(ReshareFailure::BadSubShare { recipient: j }));
        }
        Ok(value)
    }
}

// ---------------------------------------------------------------------------
// Combining deals.

/// Verify every deal and pick one per dealer of the common plan, in dealer
/// order. See [`new_descriptor`].
fn select_deals<'d>(old: &PinnedGroup, deals: &'d [ReshareDeal]) -> Result<Vec<&'d ReshareDeal>> {
    if deals.is_empty() {
        return Err(Error::Custody("no reshare deals were given"));
    }
    for d in deals {
        d.verify(old)?;
    }
    // The plan most deals carry (the first such on a tie); a deal with
    // another plan is named.
    let plan = &deals
        .iter()
        .max_by_key(|d| {
            (
                deals.iter().filter(|e| e.plan == d.plan).count(),
                core::cmp::Reverse(deals.iter().position(|e| e.plan == d.plan)),
            )
        })
        .expect("non-empty")
        .plan;
    if let Some(d) = deals.iter().find(|d| d.plan != *plan) {
        return Err(d.fail(ReshareFailure::PlanMismatch));
    }
    let mut selected: Vec<&ReshareDeal> = Vec::with_capacity(plan.dealers.len());
    for &dealer in &plan.dealers {
        let from: Vec<&ReshareDeal> = deals.iter().filter(|d| d.dealer == dealer).collect();
        if from.iter().any(|d| *d != from[0]) {
            return Err(Error::Reshare {
                dealer,
                failure: ReshareFailure::Duplicate,
            });
        }
        selected.push(from.first().ok_or(Error::Reshare {
            dealer,
            failure: ReshareFailure::Missing,
        })?);
    }
    Ok(selected)
}

/// The new descriptor, unsigned (§4.3): checks every deal against the
/// pinned old descriptor ([`ReshareDeal::verify`]), that all carry the
/// same plan, that there is exactly one deal per member of the dealer set
/// (byte-identical repeats count once), then sums the commitments
/// C′_m = Σ_i F_{i,m} and requires C′_0 = P. Same group id, generation
/// g + 1, the plan's name, k′ and custodians. Anyone holding the deals can
/// compute it; [`verify_successor`] compares a signed descriptor with it.
pub fn new_descriptor(old: &PinnedGroup, deals: &[ReshareDeal]) -> Result<GroupDescriptor> {
    let selected = select_deals(old, deals)?;
    descriptor_from(old, &selected)
}

fn descriptor_from(old: &PinnedGroup, selected: &[&ReshareDeal]) -> Result<GroupDescriptor> {
    let first = selected[0];
    let plan = &first.plan;
    let mut commitments = vec![RistrettoPoint::default(); plan.threshold as usize];
    for d in selected {
        for (c, f) in commitments.iter_mut().zip(&d.commitments) {
            *c += f;
        }
    }
    if commitments[0] != old.group_key().key {
        // Unreachable when every deal passed `verify`: Σ λ_i·P_i = P.
        return Err(Error::Custody(
            "the deals' constant commitments do not add up to the group key",
        ));
    }
    GroupDescriptor::from_parts(
        first.group_id,
        first.new_generation,
        &plan.name,
        commitments,
        plan.custodians.clone(),
    )
}

/// What a new custodian takes away from a reshare. `Debug` shows the
/// share redacted.
#[derive(Debug)]
pub struct ReceivedShare {
    /// The new descriptor, signed by this custodian only; gather the other
    /// new custodians' signatures with [`GroupDescriptor::add_signature`].
    pub descriptor: GroupDescriptor,
    /// This custodian's new share s′_j (generation g + 1).
    pub share: CustodianShare,
    /// The share sealed to this custodian's own X-Wing key (§4.2), for
    /// storage at rest.
    pub envelope: ShareEnvelope,
}

/// New custodian `me` receives its share (§4.3): all checks of
/// [`new_descriptor`]; `me` must be listed among the new custodians (index
/// j); each dealer's sub-share must decrypt, name this deal, be non-zero
/// and match the dealer's commitments (else [`Error::Reshare`] naming the
/// dealer: refuse to sign, and rerun the reshare without that dealer);
/// s′_j = Σ_i g_i(j) must match the new P′_j. Signs the new descriptor and
/// seals the share to `me`. Every sub-share and the sum are zeroized.
pub fn receive(
    me: &PersonSecret,
    old: &PinnedGroup,
    deals: &[ReshareDeal],
    rng: &mut impl rand_core::CryptoRng,
) -> Result<ReceivedShare> {
    let selected = select_deals(old, deals)?;
    let plan = &selected[0].plan;
    let j = plan.index_of(me).ok_or(Error::Custody(
        "this identity is not among the reshare's new custodians",
    ))?;
    let mut descriptor = descriptor_from(old, &selected)?;
    let mut sum = SubShare(Scalar::ZERO);
    for d in &selected {
        let v = d.open_subshare(me, j)?;
        sum.0 += v.0;
    }
    let share = CustodianShare::new(descriptor.group_id(), descriptor.generation(), j, sum.0);
    drop(sum);
    if share.scalar() == &Scalar::ZERO || !share.matches(&descriptor) {
        // Unreachable when every sub-share matched its commitments.
        return Err(Error::Custody(
            "the summed share does not match the new descriptor's verification share",
        ));
    }
    group::sign_descriptor(&mut descriptor, &share, me)?;
    let listed = descriptor
        .custodian(j)
        .expect("j is listed: it came from the plan");
    let envelope = ShareEnvelope::seal(
        &listed.kem_key,
        descriptor.group_id(),
        descriptor.generation(),
        j,
        share.scalar(),
        rng,
    );
    Ok(ReceivedShare {
        descriptor,
        share,
        envelope,
    })
}

/// Move from the pinned old descriptor to its successor (§4.3): `new`
/// must be exactly the descriptor the deals define ([`new_descriptor`]:
/// at least k old custodians dealt, and C′_0 = P) and carry valid
/// signatures from at least k′ of its custodians. Devices, requesters and
/// the vault use this to re-pin; someone meeting the group first at the
/// new generation pins it as any descriptor (§4.1).
pub fn verify_successor(
    old: &PinnedGroup,
    deals: &[ReshareDeal],
    new: &GroupDescriptor,
) -> Result<PinnedGroup> {
    let expected = new_descriptor(old, deals)?;
    if expected.signed_body() != new.signed_body() {
        return Err(Error::Custody(
            "the new descriptor is not the one the reshare deals define",
        ));
    }
    new.pin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug() {
        let p = Polynomial(vec![Scalar::from(0xABCDu16), Scalar::from(7u8)]);
        assert_eq!(format!("{p:?}"), "Polynomial(degree 1, <redacted>)");
        let v = p.eval(2);
        assert_eq!(v.0, Scalar::from(0xABCDu16 + 14));
        assert_eq!(format!("{v:?}"), "SubShare(<redacted>)");
    }

    #[test]
    fn subshare_plaintext_layout() {
        let v = SubShare(Scalar::from(5u8));
        let pt = subshare_plaintext(&GroupId([9; 16]), 2, 3, 4, &v);
        let mut r = Reader::new(SUBSHARE, &pt);
        r.preamble(magic::RESHARE_SUBSHARE, VERSION, SUITE_V1)
            .unwrap();
        assert_eq!(r.array::<16>("g").unwrap(), [9; 16]);
        assert_eq!(r.u32("gen").unwrap(), 2);
        assert_eq!(r.u16("d").unwrap(), 3);
        assert_eq!(r.u16("r").unwrap(), 4);
        assert_eq!(r.array::<32>("v").unwrap(), Scalar::from(5u8).to_bytes());
        r.finish().unwrap();
    }
}
