//! Partial decryptions (docs/format.md §8.2–8.4): what a custodian computes
//! for a grant, the batched Chaum–Pedersen proof that it used its share,
//! the envelope that carries it to the requester only, and the requester's
//! combination of k partials into each segment's custody part `a`; each
//! entry also carries the custodian's share of the segment's post-quantum
//! part `c` (§5.6), which the requester combines beside `a`.
//!
//! A custodian computes s_i·R only through [`custodian_partial`], which
//! takes R from device-signed segment records after checking the record,
//! the group, the capsule's validity proof and the request's scope. There
//! is deliberately no public function that multiplies an arbitrary point by
//! a share: that is the malleability hole `tests/malleability.rs` shows.

use std::collections::HashMap;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, RefusalReason, Result, SegmentFailure};
use crate::group::{CustodianShare, PinnedGroup};
use crate::hpke_wrap::{self, ENC_LEN, KemSecretKey};
use crate::identity::{self, PersonSecret, SignKey, VerifyKey};
use crate::ids::{Fingerprint, GroupId, RecordingId, SegmentRef};
use crate::kem;
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::point::{hash_to_scalar, random_scalar, read_point, read_scalar};
use crate::pq_custody::{RunHandover, RunKey, RunKeyFailure};
use crate::record::SegmentRecord;
use crate::request::{AccessRequest, GrantRef, SegmentFacts};
use crate::wire::{MAX_FIELD_LEN, Reader, Writer};

/// Most segments one partial covers.
pub const MAX_PARTIAL_ENTRIES: usize = 65_536;
/// Encoded length of one partial entry.
pub const PARTIAL_ENTRY_LEN: usize = 16 + 4 + 32 + 32 + 2 + 32;
/// Maximum length of a partial envelope's `sealed` field (16 MiB).
pub const MAX_PARTIAL_SEALED_LEN: usize = MAX_FIELD_LEN;

const PARTIAL: &str = "partial decryption";
const PARTIAL_ENVELOPE: &str = "partial envelope";

/// One segment of a partial: R from the segment's record, D = s_i·R, and
/// the custodian's share of the segment's `c`. `Debug` leaves D and the
/// share out: k of them recover the segment's parts a and c.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PartialEntry {
    /// The segment.
    pub segment: SegmentRef,
    /// R from the segment's capsule.
    pub r: RistrettoPoint,
    /// D = s_i·R.
    pub d: RistrettoPoint,
    /// The custodian's position x in the segment's custody run (§5.6), or 0
    /// when it holds no share of this segment's `c` (it joined the group
    /// after the segment was sealed).
    pub share_x: u16,
    /// Share x of `c` (32 zero bytes when `share_x` is 0).
    pub share: [u8; 32],
}

impl core::fmt::Debug for PartialEntry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PartialEntry")
            .field("segment", &self.segment)
            .field("r", &self.r.compress())
            .finish_non_exhaustive()
    }
}

/// A custodian's partial decryption for one grant (§8.2). Parsing checks
/// the structure, points and scalars; [`combine`] checks the signature,
/// binding and proof. `Debug` shows no D value (see [`PartialEntry`]) and
/// the D values are wiped on drop: k partials recover every segment's a.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Partial {
    /// The custody group.
    pub group_id: GroupId,
    /// The key generation.
    pub generation: u32,
    /// Index i of the custodian.
    pub custodian: u16,
    /// The grant this partial is for.
    pub grant: GrantRef,
    /// Fingerprint of the requester (from the signed request).
    pub requester_fpr: Fingerprint,
    /// 1 … 65 536 segments.
    pub entries: Vec<PartialEntry>,
    /// Batched Chaum–Pedersen challenge.
    pub proof_c: Scalar,
    /// Batched Chaum–Pedersen response.
    pub proof_z: Scalar,
    /// Custodian's Ed25519 signature, context `obhut/v1/partial`.
    pub signature: [u8; 64],
}

impl Drop for Partial {
    fn drop(&mut self) {
        for e in &mut self.entries {
            e.d.zeroize();
            e.share.zeroize();
        }
    }
}

/// What the batched proof is bound to: everything in a partial except the
/// proof and signature, plus the custodian's verification share.
struct ProofStatement<'a> {
    group_id: &'a GroupId,
    generation: u32,
    custodian: u16,
    p_i: &'a RistrettoPoint,
    grant: &'a GrantRef,
    requester_fpr: &'a Fingerprint,
    entries: &'a [PartialEntry],
}

impl ProofStatement<'_> {
    /// T = SHA-512(suite ‖ group_id ‖ generation ‖ i ‖ P_i ‖ grant_log_index ‖
    /// request_hash ‖ requester_fpr ‖ count ‖ entries).
    fn transcript(&self) -> [u8; 64] {
        use sha2::Digest;
        let mut h = sha2::Sha512::new();
        h.update(SUITE_V1.to_be_bytes());
        h.update(self.group_id.0);
        h.update(self.generation.to_be_bytes());
        h.update(self.custodian.to_be_bytes());
        h.update(self.p_i.compress().as_bytes());
        h.update(self.grant.log_index.to_be_bytes());
        h.update(self.grant.request_hash);
        h.update(self.requester_fpr.0);
        h.update((self.entries.len() as u32).to_be_bytes());
        for e in self.entries {
            h.update(e.segment.recording.0);
            h.update(e.segment.index.to_be_bytes());
            h.update(e.r.compress().as_bytes());
            h.update(e.d.compress().as_bytes());
        }
        h.finalize().into()
    }

    /// M = Σ d_j·R_j and Z = Σ d_j·D_j with d_j = Scalar(SHA-512(seed ‖ j)),
    /// seed = SHA-512("obhut/v1/partial-proof/weights" ‖ 0x00 ‖ T), j = 0 …
    /// count − 1. All inputs are public, so variable time is fine.
    fn composites(&self, t: &[u8; 64]) -> (RistrettoPoint, RistrettoPoint) {
        use sha2::Digest;
        let mut h = sha2::Sha512::new();
        h.update(labels::PARTIAL_PROOF_WEIGHTS);
        h.update([0u8]);
        h.update(t);
        let seed: [u8; 64] = h.finalize().into();
        let weights: Vec<Scalar> = (0..self.entries.len() as u32)
            .map(|j| hash_to_scalar(&[&seed, &j.to_be_bytes()]))
            .collect();
        let m = RistrettoPoint::vartime_multiscalar_mul(&weights, self.entries.iter().map(|e| e.r));
        let z = RistrettoPoint::vartime_multiscalar_mul(&weights, self.entries.iter().map(|e| e.d));
        (m, z)
    }

    fn challenge(
        t: &[u8; 64],
        m: &RistrettoPoint,
        z: &RistrettoPoint,
        a1: &RistrettoPoint,
        a2: &RistrettoPoint,
    ) -> Scalar {
        hash_to_scalar(&[
            labels::PARTIAL_PROOF,
            &[0u8],
            t,
            m.compress().as_bytes(),
            z.compress().as_bytes(),
            a1.compress().as_bytes(),
            a2.compress().as_bytes(),
        ])
    }

    /// Prove log_G P_i = log_{R_j} D_j for all j, knowing s_i.
    fn prove(&self, s_i: &Scalar, rng: &mut impl rand_core::CryptoRng) -> (Scalar, Scalar) {
        let t = self.transcript();
        let (m, z_pt) = self.composites(&t);
        let mut w = random_scalar(rng);
        let a1 = RistrettoPoint::mul_base(&w);
        let a2 = w * m;
        let c = Self::challenge(&t, &m, &z_pt, &a1, &a2);
        let z = w + c * s_i;
        w.zeroize();
        (c, z)
    }

    /// Verify a batched proof (§8.3).
    fn verify(&self, c: &Scalar, z: &Scalar) -> bool {
        let t = self.transcript();
        let (m, z_pt) = self.composites(&t);
        if m.is_identity() || z_pt.is_identity() {
            return false;
        }
        let a1 = RistrettoPoint::vartime_multiscalar_mul([*z, -c], [G, *self.p_i]);
        let a2 = RistrettoPoint::vartime_multiscalar_mul([*z, -c], [m, z_pt]);
        Self::challenge(&t, &m, &z_pt, &a1, &a2) == *c
    }
}

impl Partial {
    fn statement<'a>(&'a self, p_i: &'a RistrettoPoint) -> ProofStatement<'a> {
        ProofStatement {
            group_id: &self.group_id,
            generation: self.generation,
            custodian: self.custodian,
            p_i,
            grant: &self.grant,
            requester_fpr: &self.requester_fpr,
            entries: &self.entries,
        }
    }

    /// Check the batched Chaum–Pedersen proof against the custodian's
    /// verification share P_i.
    pub fn verify_proof(&self, p_i: &RistrettoPoint) -> bool {
        !self.entries.is_empty() && self.statement(p_i).verify(&self.proof_c, &self.proof_z)
    }

    /// The signed body: the encoding up to (excluding) the signature.
    pub fn signed_body(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::PARTIAL, VERSION, SUITE_V1);
        w.bytes(&self.group_id.0)
            .u32(self.generation)
            .u16(self.custodian)
            .u64(self.grant.log_index)
            .bytes(&self.grant.request_hash)
            .bytes(&self.requester_fpr.0)
            .u32(self.entries.len() as u32);
        for e in &self.entries {
            w.bytes(&e.segment.recording.0)
                .u32(e.segment.index)
                .bytes(e.r.compress().as_bytes())
                .bytes(e.d.compress().as_bytes())
                .u16(e.share_x)
                .bytes(&e.share);
        }
        w.bytes(self.proof_c.as_bytes())
            .bytes(self.proof_z.as_bytes());
        w.into_vec()
    }

    /// Sign with the custodian's key (context `obhut/v1/partial`).
    pub fn sign(&mut self, key: &SignKey) {
        let body = Zeroizing::new(self.signed_body());
        self.signature = key.sign(labels::PARTIAL_SIG, &body);
    }

    /// Check the signature under `key`.
    pub fn verify_signature(&self, key: &VerifyKey) -> Result<()> {
        key.verify(
            labels::PARTIAL_SIG,
            &Zeroizing::new(self.signed_body()),
            &self.signature,
            PARTIAL,
        )
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.signed_body();
        b.extend_from_slice(&self.signature);
        b
    }

    /// Parse: 1 … 65 536 entries, every R and D a valid non-identity point,
    /// canonical proof scalars, no trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(PARTIAL, bytes);
        r.preamble(magic::PARTIAL, VERSION, SUITE_V1)?;
        let group_id = GroupId(r.array("group_id")?);
        let generation = r.u32("generation")?;
        let custodian = r.u16("custodian")?;
        let log_index = r.u64("grant_log_index")?;
        let request_hash = r.array("request_hash")?;
        let requester_fpr = Fingerprint(r.array("requester_fpr")?);
        let count = r.u32("count")? as usize;
        if count == 0 || count > MAX_PARTIAL_ENTRIES {
            return Err(Error::Malformed {
                what: PARTIAL,
                reason: "a partial covers 1 … 65 536 segments",
            });
        }
        if count * PARTIAL_ENTRY_LEN > r.remaining() {
            return Err(Error::Truncated {
                what: PARTIAL,
                field: "entries",
            });
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let recording = RecordingId(r.array("entry recording_id")?);
            let index = r.u32("entry segment_index")?;
            let rr = read_point(&mut r, "entry R")?;
            let d = read_point(&mut r, "entry D")?;
            let share_x = r.u16("entry share_x")?;
            let share = r.array("entry share")?;
            if share_x == 0 && share != [0u8; 32] {
                return Err(Error::Malformed {
                    what: PARTIAL,
                    reason: "an entry without a share (share_x 0) has a non-zero share",
                });
            }
            entries.push(PartialEntry {
                segment: SegmentRef { recording, index },
                r: rr,
                d,
                share_x,
                share,
            });
        }
        let proof_c = read_scalar(&mut r, "proof_c")?;
        let proof_z = read_scalar(&mut r, "proof_z")?;
        let signature = r.array::<64>("signature")?;
        r.finish()?;
        Ok(Partial {
            group_id,
            generation,
            custodian,
            grant: GrantRef {
                log_index,
                request_hash,
            },
            requester_fpr,
            entries,
            proof_c,
            proof_z,
            signature,
        })
    }
}

/// A partial HPKE-sealed to the requester's X-Wing key from the signed
/// request (§8.2).
#[derive(Clone, PartialEq, Eq)]
pub struct PartialEnvelope {
    /// Index of the custodian (must equal the partial's).
    pub custodian: u16,
    /// The request's hash (must equal the partial's).
    pub request_hash: [u8; 32],
    /// HPKE encapsulated key.
    pub enc: Box<[u8; ENC_LEN]>,
    /// HPKE ciphertext of the partial (≤ 16 MiB).
    pub sealed: Vec<u8>,
}

impl core::fmt::Debug for PartialEnvelope {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "PartialEnvelope(custodian {}, request {}, {} sealed bytes)",
            self.custodian,
            hex::encode(self.request_hash),
            self.sealed.len()
        )
    }
}

fn envelope_aad(custodian: u16, request_hash: &[u8; 32]) -> Vec<u8> {
    let mut w = Writer::with_preamble(magic::PARTIAL_ENVELOPE, VERSION, SUITE_V1);
    w.u16(custodian).bytes(request_hash);
    w.into_vec()
}

impl PartialEnvelope {
    /// Seal `partial` to the X-Wing key of the signed `request` (the only
    /// key a partial is ever encrypted to).
    pub fn seal(
        partial: &Partial,
        request: &AccessRequest,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Self {
        let request_hash = partial.grant.request_hash;
        let aad = envelope_aad(partial.custodian, &request_hash);
        let (enc, sealed) = hpke_wrap::seal(
            request.requester_kem(),
            labels::PARTIAL_ENVELOPE_INFO,
            &aad,
            &Zeroizing::new(partial.to_bytes()),
            rng,
        );
        PartialEnvelope {
            custodian: partial.custodian,
            request_hash,
            enc,
            sealed,
        }
    }

    /// Open with the requester's X-Wing key and parse the partial. Does not
    /// check it: [`combine`] does.
    pub fn open(&self, requester: &KemSecretKey) -> Result<Partial> {
        let pt = hpke_wrap::open(
            requester,
            labels::PARTIAL_ENVELOPE_INFO,
            &envelope_aad(self.custodian, &self.request_hash),
            &self.enc,
            &self.sealed,
            PARTIAL_ENVELOPE,
        )?;
        Partial::from_bytes(pt.expose())
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(&envelope_aad(self.custodian, &self.request_hash))
            .bytes(&self.enc[..])
            .var_bytes(&self.sealed);
        w.into_vec()
    }

    /// Parse an envelope.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(PARTIAL_ENVELOPE, bytes);
        r.preamble(magic::PARTIAL_ENVELOPE, VERSION, SUITE_V1)?;
        let custodian = r.u16("custodian")?;
        let request_hash = r.array("request_hash")?;
        let enc = Box::new(r.array::<ENC_LEN>("enc")?);
        let sealed = r.var_bytes("sealed", MAX_PARTIAL_SEALED_LEN)?.to_vec();
        r.finish()?;
        Ok(PartialEnvelope {
            custodian,
            request_hash,
            enc,
            sealed,
        })
    }
}

/// Parse segment records as a custodian receives them (e.g. from the
/// vault): a record whose device signature does not verify is refused with
/// [`RefusalReason::UnsignedRecord`] naming the segment; other parse
/// errors are returned as they are.
pub fn records_from_bytes<B: AsRef<[u8]>>(records: &[B]) -> Result<Vec<SegmentRecord>> {
    records
        .iter()
        .map(|b| {
            SegmentRecord::from_bytes(b.as_ref()).map_err(|e| match e {
                Error::Segment {
                    segment,
                    failure: SegmentFailure::BadSignature,
                } => Error::Refused(RefusalReason::UnsignedRecord(segment)),
                other => other,
            })
        })
        .collect()
}

/// Where a custodian finds its keys to the custody runs of the segments
/// it releases: the records that start the runs (those of the recording,
/// or at least the runs' first ones) and handovers to it (§5.6).
#[derive(Clone, Copy, Default, Debug)]
pub struct Runs<'a> {
    /// Records, among which those of the runs' first segments.
    pub records: &'a [SegmentRecord],
    /// Wrap keys handed over to this custodian.
    pub handovers: &'a [RunHandover],
}

impl<'a> Runs<'a> {
    /// Runs found among `records` only.
    pub fn in_records(records: &'a [SegmentRecord]) -> Self {
        Runs {
            records,
            handovers: &[],
        }
    }

    /// The record carrying the run that starts at segment `run_start` of
    /// `recording`.
    pub fn start(&self, recording: RecordingId, run_start: u32) -> Option<&'a SegmentRecord> {
        self.records.iter().find(|r| {
            let s = r.segment_ref();
            s.recording == recording && s.index == run_start
        })
    }

    /// This custodian's key to the run carried by `start` (the record of
    /// the run's first segment): its own entry, else a handover to it.
    pub fn key(
        &self,
        start: &SegmentRecord,
        me: &Fingerprint,
        me_kem: &KemSecretKey,
    ) -> core::result::Result<RunKey, RunKeyFailure> {
        let fields = &start.header().fields;
        let custody = start.custody();
        match RunKey::unwrap(custody, fields.recording_id, &fields.device_key, me, me_kem) {
            Err(RunKeyFailure::NotInRun) => self
                .handovers
                .iter()
                .filter(|h| {
                    h.recording == fields.recording_id
                        && h.run_start == custody.run_start
                        && h.run_hash == custody.run_hash
                        && h.to == *me
                })
                .find_map(|h| h.open(me, me_kem).ok())
                .ok_or(RunKeyFailure::NotInRun),
            other => other,
        }
    }
}

/// The custodian procedure (§8.3). Before computing anything, custodian
/// `me` holding `share` checks: the request's signature and expiry at
/// `now_utc_ms`; that the request is for `group` (id and generation) and
/// `grant` names it; that `share` is the group's custodian i's share and
/// `me` is the custodian listed at i; that there are 1 … 65 536 records
/// naming distinct segments; for each record that it is sealed to this
/// group at this or an earlier generation (resharing keeps the key, §4.3;
/// [`kem::GroupKey::for_capsule`]), that its capsule's validity proof
/// verifies for the record's segment, and that the segment is in the
/// request's scope (§8.1; a container-index or metadata segment counts as
/// in scope through the media records of its recording given in the same
/// call). R is taken only from those records. Any failure is
/// [`Error::Refused`] naming the reason (and segment). Then D_j = s_i·R_j,
/// the batched proof, the signature, and an envelope sealed to the
/// request's `requester_kem`.
///
/// Each entry also carries this custodian's share of the segment's `c`
/// (§5.6), unwrapped with its X-Wing key from the custody run carried by
/// the record of segment `run_start`, found among `runs.records` (the
/// caller passes the recording's records, or at least those starting the
/// runs of `records`) or `records`, or from a handover to it in
/// `runs.handovers`. A segment whose run has no entry and no handover for
/// this custodian gets no share (`share_x` 0); a run record found nowhere
/// is [`RefusalReason::MissingRun`].
///
/// `records` are device-signed by construction ([`SegmentRecord`] values
/// only come from signing or a verified parse; see
/// [`records_from_bytes`]).
#[allow(clippy::too_many_arguments)]
pub fn custodian_partial(
    me: &PersonSecret,
    share: &CustodianShare,
    group: &PinnedGroup,
    request: &AccessRequest,
    grant: &GrantRef,
    records: &[SegmentRecord],
    runs: Runs<'_>,
    now_utc_ms: i64,
    rng: &mut impl rand_core::CryptoRng,
) -> Result<PartialEnvelope> {
    request
        .verify_signature()
        .map_err(|_| Error::Refused(RefusalReason::BadRequestSignature))?;
    if request.is_expired(now_utc_ms) {
        return Err(Error::Refused(RefusalReason::Expired));
    }
    if request.group_id != group.group_id() || request.generation != group.generation() {
        return Err(Error::Refused(RefusalReason::RequestForOtherGroup));
    }
    if grant.request_hash != request.request_hash() {
        return Err(Error::Refused(RefusalReason::GrantMismatch));
    }
    if !share.matches(group) {
        return Err(Error::Refused(RefusalReason::WrongShare(share.index())));
    }
    let listed = group
        .custodian(share.index())
        .ok_or(Error::Refused(RefusalReason::WrongShare(share.index())))?;
    if listed.sign_key != me.sign.verify_key() {
        return Err(Error::Custody(
            "this identity is not the custodian listed at the share's index",
        ));
    }
    if records.is_empty() || records.len() > MAX_PARTIAL_ENTRIES {
        return Err(Error::Refused(RefusalReason::BatchSize(records.len())));
    }

    let group_key = group.group_key();
    let mut seen = std::collections::HashSet::with_capacity(records.len());
    let mut facts = Vec::with_capacity(records.len());
    for rec in records {
        let fields = &rec.header().fields;
        let segment = fields.segment_ref();
        if !seen.insert(segment) {
            return Err(Error::Refused(RefusalReason::DuplicateSegment(segment)));
        }
        let capsule = &fields.capsule;
        // Capsules of earlier generations of this group share its key P
        // (resharing, §4.3) and are checked with their own generation.
        let sealed_to = group_key
            .for_capsule(capsule)
            .ok_or(Error::Refused(RefusalReason::OtherGroup(segment)))?;
        kem::verify_capsule_proof(capsule, &sealed_to, &fields.capsule_context())
            .map_err(|_| Error::Refused(RefusalReason::UnprovenR(segment)))?;
        facts.push(SegmentFacts::from(fields));
    }
    for (rec, f) in records.iter().zip(&facts) {
        if !request.covers(f, &facts) {
            return Err(Error::Refused(RefusalReason::OutOfScope(
                rec.header().segment_ref(),
            )));
        }
    }
    let me_fingerprint = identity::fingerprint(&listed.sign_key, &listed.kem_key);
    let mut run_keys: HashMap<(RecordingId, u32), Option<RunKey>> = HashMap::new();
    let mut entries = Vec::with_capacity(records.len());
    for rec in records {
        let fields = &rec.header().fields;
        let segment = fields.segment_ref();
        let custody = rec.custody();
        let key = match run_keys.entry((segment.recording, custody.run_start)) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let in_scope = Runs::in_records(records);
                let start = runs
                    .start(segment.recording, custody.run_start)
                    .or_else(|| in_scope.start(segment.recording, custody.run_start))
                    .ok_or(Error::Refused(RefusalReason::MissingRun(segment)))?;
                // Not in the run (joined later, no handover), or an entry
                // that does not open: no share of this run; others may
                // have theirs.
                v.insert(runs.key(start, &me_fingerprint, &me.kem).ok())
            }
        };
        let mine = key
            .as_ref()
            .and_then(|k| Some((k.x(), k.share(custody, &fields.header_hash())?)));
        let (share_x, share_bytes) = match &mine {
            Some((x, s)) => (*x, *s.expose()),
            None => (0, [0u8; 32]),
        };
        entries.push(CheckedEntry {
            segment,
            r: fields.capsule.r_point()?,
            share_x,
            share: Zeroizing::new(share_bytes),
        });
    }
    Ok(partial_for_checked_entries(
        me, share, group, request, grant, &entries, rng,
    ))
}

/// A segment whose R passed every check, with this custodian's share of
/// its `c`.
struct CheckedEntry {
    segment: SegmentRef,
    r: RistrettoPoint,
    share_x: u16,
    share: Zeroizing<[u8; 32]>,
}

/// Compute, prove, sign and seal a partial for entries whose R values have
/// ALREADY been checked (record signature, group, capsule proof, scope).
/// Private on purpose: called on unchecked R this is the malleability hole.
fn partial_for_checked_entries(
    me: &PersonSecret,
    share: &CustodianShare,
    group: &PinnedGroup,
    request: &AccessRequest,
    grant: &GrantRef,
    entries: &[CheckedEntry],
    rng: &mut impl rand_core::CryptoRng,
) -> PartialEnvelope {
    let s_i = share.scalar();
    let entries: Vec<PartialEntry> = entries
        .iter()
        .map(|e| PartialEntry {
            segment: e.segment,
            r: e.r,
            d: s_i * e.r,
            share_x: e.share_x,
            share: *e.share,
        })
        .collect();
    let p_i = share.public();
    let mut partial = Partial {
        group_id: group.group_id(),
        generation: group.generation(),
        custodian: share.index(),
        grant: *grant,
        requester_fpr: request.requester_fingerprint(),
        entries,
        proof_c: Scalar::ZERO,
        proof_z: Scalar::ZERO,
        signature: [0u8; 64],
    };
    let (c, z) = partial.statement(&p_i).prove(s_i, rng);
    partial.proof_c = c;
    partial.proof_z = z;
    partial.sign(&me.sign);
    PartialEnvelope::seal(&partial, request, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_out_the_partial_decryptions() {
        let d = RistrettoPoint::mul_base(&Scalar::from(7u64));
        let entry = PartialEntry {
            segment: SegmentRef {
                recording: crate::ids::RecordingId([1; 16]),
                index: 3,
            },
            r: RistrettoPoint::mul_base(&Scalar::from(5u64)),
            d,
            share_x: 1,
            share: [0x5a; 32],
        };
        let shown = format!("{entry:?}");
        assert!(shown.contains("index: 3"), "{shown}");
        assert!(
            !shown.contains("90, 90") && !shown.contains("5a5a"),
            "{shown}"
        );
        for encoding in [
            hex::encode(d.compress().as_bytes()),
            format!("{:?}", d.compress()),
            format!("{d:?}"),
        ] {
            assert!(!shown.contains(&encoding), "{shown}");
        }
    }
}
