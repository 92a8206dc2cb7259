//! The requester's combine (docs/format.md §8.4): check each custodian's
//! partial, skip and name the ones that fail, and Lagrange-combine k valid
//! ones into each segment's custody part `a`, and the shares of its
//! post-quantum part `c` (§5.6) into `c`.

use std::collections::HashMap;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::MultiscalarMul;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, PartialFailure, RejectedPartial, Result, SegmentFailure};
use crate::group::PinnedGroup;
use crate::hpke_wrap::KemSecretKey;
use crate::identity;
use crate::ids::{Fingerprint, SegmentRef};
use crate::kem::{self, Capsule};
use crate::partial::{MAX_PARTIAL_ENTRIES, PartialEnvelope};
use crate::point::lagrange_at_zero;
use crate::pq_custody::{self, SegmentCustody};
use crate::record::SegmentRecord;
use crate::request::{AccessRequest, GrantRef};
use crate::secret::Secret32;

/// What one valid partial gives: per expected segment, D and the share of
/// `c` if the custodian holds one. Wiped on drop.
struct ValidPartial {
    d: Zeroizing<Vec<RistrettoPoint>>,
    shares: Vec<Option<(u16, Secret32)>>,
}

/// Check one envelope against everything the requester expects; on success
/// the D values and shares in the order of `expected`. A failure says
/// whether the custodian's signature had verified by then (`true`: the
/// custodian signed what failed).
fn check_partial(
    group: &PinnedGroup,
    grant: &GrantRef,
    requester_fpr: &Fingerprint,
    expected: &HashMap<SegmentRef, (usize, RistrettoPoint)>,
    custody: &[(&SegmentCustody, [u8; 32])],
    envelope: &PartialEnvelope,
    requester: &KemSecretKey,
) -> core::result::Result<ValidPartial, (PartialFailure, bool)> {
    let unsigned = |f: PartialFailure| (f, false);
    let i = envelope.custodian;
    let listed = group
        .custodian(i)
        .ok_or(unsigned(PartialFailure::UnknownCustodian))?;
    if envelope.request_hash != grant.request_hash {
        return Err(unsigned(PartialFailure::WrongGrant));
    }
    let partial = envelope.open(requester).map_err(|e| match e {
        Error::DecryptionFailed { .. } | Error::InvalidKemKey { .. } => {
            unsigned(PartialFailure::Undecryptable)
        }
        _ => unsigned(PartialFailure::Malformed(
            "the partial inside the envelope does not parse",
        )),
    })?;
    if partial.custodian != i {
        return Err(unsigned(PartialFailure::Malformed(
            "the envelope and the partial name different custodians",
        )));
    }
    partial
        .verify_signature(&listed.sign_key)
        .map_err(|_| unsigned(PartialFailure::BadSignature))?;
    let signed = |f: PartialFailure| (f, true);
    if partial.group_id != group.group_id() || partial.generation != group.generation() {
        return Err(signed(PartialFailure::UnknownCustodian));
    }
    if partial.grant != *grant {
        return Err(signed(PartialFailure::WrongGrant));
    }
    if partial.requester_fpr != *requester_fpr {
        return Err(signed(PartialFailure::WrongRequester));
    }
    if partial.entries.len() != expected.len() {
        return Err(signed(PartialFailure::WrongSegments));
    }
    let mut d: Zeroizing<Vec<Option<RistrettoPoint>>> = Zeroizing::new(vec![None; expected.len()]);
    let mut shares: Vec<Option<(u16, Secret32)>> = (0..expected.len()).map(|_| None).collect();
    for e in &partial.entries {
        match expected.get(&e.segment) {
            Some((pos, r)) if *r == e.r && d[*pos].is_none() => {
                d[*pos] = Some(e.d);
                if e.share_x != 0 {
                    let (block, header_hash) = custody[*pos];
                    let share = Secret32::new(e.share);
                    if !pq_custody::check_share(block, &header_hash, e.share_x, &share) {
                        return Err(signed(PartialFailure::BadShare(e.segment)));
                    }
                    shares[*pos] = Some((e.share_x, share));
                }
            }
            _ => return Err(signed(PartialFailure::WrongSegments)),
        }
    }
    let p_i = group
        .verification_share(i)
        .ok_or(signed(PartialFailure::UnknownCustodian))?;
    if !partial.verify_proof(p_i) {
        return Err(signed(PartialFailure::BadProof));
    }
    // Every slot is filled: as many distinct matching entries as expected.
    let mut out = Zeroizing::new(Vec::with_capacity(d.len()));
    for x in d.iter() {
        out.push(x.ok_or(signed(PartialFailure::WrongSegments))?);
    }
    Ok(ValidPartial { d: out, shares })
}

/// What [`combine`] recovered: each segment's `a` and `c`, and the
/// partials it did not use because they failed a check (a caller shows
/// these to the person: a custodian's client or the vault is misbehaving).
pub struct Combined {
    /// Each segment's custody parts `(segment, a, c)`, in the order of
    /// `records`.
    pub keys: Vec<(SegmentRef, Secret32, Secret32)>,
    /// Partials that failed a check, in the order given.
    pub rejected: Vec<RejectedPartial>,
}

impl core::fmt::Debug for Combined {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Combined")
            .field("segments", &self.keys.len())
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

/// The requester's combine (§8.4). Opens each envelope with `requester`
/// (the X-Wing key of the signed `request`) and checks, per partial: the
/// custodian is listed, the signature under that custodian's sign_key, the
/// group and generation, the grant, the requester fingerprint, that the
/// entries are exactly `expected` (same segments, same R; any order), and
/// the batched proof against P_i, and every share of `c` against its hash
/// in the record (§5.6). A partial that fails a check is not
/// used and is reported in [`Combined::rejected`] (custodian index,
/// fingerprint, the check); one bad partial does not block the others.
/// Duplicate valid partials from one custodian count once. With valid
/// partials from at least k distinct custodians it Lagrange-combines
/// s·R_j = Σ λ_i·D_ij over the k lowest valid indices, and each segment's
/// `c` from the first `threshold` valid shares by x; it returns each
/// segment's `a` and `c`, in the order of `records`; with fewer partials,
/// [`Error::NotEnoughPartials`] listing every rejected partial; with fewer
/// shares of a segment's `c`, [`SegmentFailure::TooFewShares`] naming it.
///
/// `records` are the (verified) records of the grant's segments; a
/// capsule may be of this group's generation or an earlier one
/// ([`kem::GroupKey::for_capsule`]), and its `a` is derived with the
/// capsule's own generation.
pub fn combine(
    group: &PinnedGroup,
    request: &AccessRequest,
    grant: &GrantRef,
    records: &[&SegmentRecord],
    envelopes: &[PartialEnvelope],
    requester: &KemSecretKey,
) -> Result<Combined> {
    let expected: Vec<(SegmentRef, Capsule)> = records
        .iter()
        .map(|r| (r.segment_ref(), r.header().fields.capsule))
        .collect();
    if request.group_id != group.group_id() || request.generation != group.generation() {
        return Err(Error::Custody(
            "the access request is for another custody group or generation",
        ));
    }
    if grant.request_hash != request.request_hash() {
        return Err(Error::Custody(
            "the grant reference names another access request",
        ));
    }
    if requester.public_key() != *request.requester_kem() {
        return Err(Error::Custody(
            "this key is not the requester key of the access request",
        ));
    }
    if expected.is_empty() || expected.len() > MAX_PARTIAL_ENTRIES {
        return Err(Error::Custody(
            "a grant's partials cover 1 to 65536 segments",
        ));
    }
    let group_key = group.group_key();
    let mut by_segment = HashMap::with_capacity(expected.len());
    for (pos, (segment, capsule)) in expected.iter().enumerate() {
        if group_key.for_capsule(capsule).is_none() {
            return Err(Error::Segment {
                segment: *segment,
                failure: SegmentFailure::Misplaced("sealed to another custody group or generation"),
            });
        }
        let r = capsule.r_point()?;
        if by_segment.insert(*segment, (pos, r)).is_some() {
            return Err(Error::Custody("a segment is expected twice"));
        }
    }

    let requester_fpr = request.requester_fingerprint();
    // Each record's custody block and header hash, hashed once for every
    // partial's shares.
    let custody: Vec<(&SegmentCustody, [u8; 32])> = records
        .iter()
        .map(|r| (r.custody(), r.header().header_hash()))
        .collect();
    // Each valid partial's D values stay in a `Zeroizing` vector: k of them
    // recover every segment's a.
    let mut valid: Vec<(u16, ValidPartial)> = Vec::new();
    let mut rejected = Vec::new();
    for env in envelopes {
        match check_partial(
            group,
            grant,
            &requester_fpr,
            &by_segment,
            &custody,
            env,
            requester,
        ) {
            Ok(p) => {
                if !valid.iter().any(|(i, _)| *i == env.custodian) {
                    valid.push((env.custodian, p));
                }
            }
            Err((failure, signed)) => rejected.push(RejectedPartial {
                custodian: env.custodian,
                fingerprint: group
                    .custodian(env.custodian)
                    .map(|c| identity::fingerprint(&c.sign_key, &c.kem_key)),
                signed,
                failure,
            }),
        }
    }
    let k = group.threshold();
    if valid.len() < k as usize {
        return Err(Error::NotEnoughPartials {
            needed: k,
            have: valid.len() as u16,
            rejected,
        });
    }
    valid.sort_by_key(|(i, _)| *i);
    // Shares of c come from every valid partial: a custodian who joined
    // after a segment was sealed has none of it.
    let mut cs = Vec::with_capacity(expected.len());
    for (j, (segment, _)) in expected.iter().enumerate() {
        let mut shares: Vec<(u16, &Secret32)> = valid
            .iter()
            .filter_map(|(_, p)| p.shares[j].as_ref().map(|(x, s)| (*x, s)))
            .collect();
        shares.sort_by_key(|(x, _)| *x);
        shares.dedup_by_key(|(x, _)| *x);
        let needed = records[j].custody().threshold;
        let c = pq_custody::combine_c(needed, &shares).ok_or(Error::Segment {
            segment: *segment,
            failure: SegmentFailure::TooFewShares {
                needed,
                have: shares.len() as u16,
            },
        })?;
        cs.push(c);
    }
    valid.truncate(k as usize);
    let set: Vec<u16> = valid.iter().map(|(i, _)| *i).collect();
    let lambdas: Vec<Scalar> = set.iter().map(|i| lagrange_at_zero(*i, &set)).collect();

    let mut keys = Vec::with_capacity(expected.len());
    for ((j, (segment, capsule)), c) in expected.iter().enumerate().zip(cs) {
        let mut s_r = RistrettoPoint::multiscalar_mul(&lambdas, valid.iter().map(|(_, p)| p.d[j]));
        keys.push((*segment, kem::derive_a(&s_r, capsule, &group_key.key), c));
        s_r.zeroize();
    }
    Ok(Combined { keys, rejected })
}
