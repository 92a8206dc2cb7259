//! The custody part `a` of a segment key: threshold hashed ElGamal over
//! ristretto255 with a TDH2 validity proof (docs/format.md §5.2–5.3).

use std::sync::OnceLock;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;
use zeroize::Zeroize;

use crate::error::{Error, Result, SegmentFailure};
use crate::ids::{GroupId, RecordingId, SegmentRef};
use crate::labels;
use crate::point::{decode_point, decode_scalar, hash_to_scalar, random_scalar};
use crate::secret::Secret32;
use crate::wire::{Reader, Writer};

/// Encoded length of a [`Capsule`].
pub const CAPSULE_LEN: usize = 148;

/// What a device publishes so that k custodians can recover `a`:
/// R = r·G, Ū = r·Ḡ and the proof that they share r. Stored as bytes;
/// points and scalars are validated when parsed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Capsule {
    /// Custody group the segment is sealed to.
    pub group_id: GroupId,
    /// Generation of the group's key.
    pub generation: u32,
    /// R = r·G (canonical, non-identity).
    pub r: [u8; 32],
    /// Ū = r·Ḡ (canonical, non-identity).
    pub u_bar: [u8; 32],
    /// Proof challenge c (canonical scalar).
    pub proof_c: [u8; 32],
    /// Proof response z (canonical scalar).
    pub proof_z: [u8; 32],
}

impl Capsule {
    /// Append the 148-byte encoding.
    pub fn encode(&self, w: &mut Writer) {
        w.bytes(&self.group_id.0)
            .u32(self.generation)
            .bytes(&self.r)
            .bytes(&self.u_bar)
            .bytes(&self.proof_c)
            .bytes(&self.proof_z);
    }

    /// Read a capsule, checking that R and Ū are valid points and the
    /// proof's scalars are canonical. Does not check the proof itself.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        Self::read_checking(r, true)
    }

    /// [`Capsule::read`]; with `points` false, R and Ū are read as bytes
    /// and left for [`Capsule::check_points`] (or any use: every use
    /// decodes them strictly). Decompressing a point costs a square root;
    /// a requester placing a 1-minute scope in a 10-hour recording would
    /// otherwise pay 7,200 of them for capsules it never touches.
    pub(crate) fn read_checking(r: &mut Reader<'_>, points: bool) -> Result<Self> {
        let group_id = GroupId(r.array("group_id")?);
        let generation = r.u32("generation")?;
        let rr = r.array::<32>("R")?;
        let u_bar = r.array::<32>("U_bar")?;
        if points {
            check_points(&rr, &u_bar, r.what())?;
        }
        let proof_c = r.array::<32>("proof_c")?;
        crate::point::decode_scalar(&proof_c, r.what(), "proof_c")?;
        let proof_z = r.array::<32>("proof_z")?;
        crate::point::decode_scalar(&proof_z, r.what(), "proof_z")?;
        Ok(Capsule {
            group_id,
            generation,
            r: rr,
            u_bar,
            proof_c,
            proof_z,
        })
    }
}

// ---------------------------------------------------------------------------
// Encapsulation, the TDH2 validity proof and the derivation of `a`.

const CAPSULE: &str = "capsule";

/// The public key of a custody group as a device uses it: P = s·G together
/// with the group and generation it belongs to. Obtained from a pinned
/// descriptor ([`crate::group::GroupDescriptor::group_key`] via
/// [`crate::group::PinnedGroup`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GroupKey {
    /// The custody group.
    pub group_id: GroupId,
    /// Generation of the group's key.
    pub generation: u32,
    /// P = C_0 = s·G (valid, non-identity).
    pub key: RistrettoPoint,
}

impl GroupKey {
    /// The key `capsule` was sealed under, as this group knows it
    /// (docs/format.md §4.3): same group id and a generation from 1 up to
    /// this key's. Every generation of a group has the same P (only
    /// resharing makes a new generation, and it keeps P), so the result is
    /// P with the capsule's own generation, which is what its validity
    /// proof and `a` were computed with. `None` for another group, or for a
    /// later generation than this key's (pin the successor first).
    pub fn for_capsule(&self, capsule: &Capsule) -> Option<GroupKey> {
        (capsule.group_id == self.group_id
            && capsule.generation >= 1
            && capsule.generation <= self.generation)
            .then_some(GroupKey {
                generation: capsule.generation,
                ..*self
            })
    }
}

/// The segment identity a capsule's validity proof is bound to
/// (docs/format.md §5.3): the proof for one segment does not verify for any
/// other, nor for the same segment with other times. The times are what a
/// scope reads: without them, whoever holds a device key (stolen or
/// revoked) and the vault could re-sign an old capsule under a record
/// re-timed into a narrow grant.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CapsuleContext {
    /// Recording the segment belongs to.
    pub recording_id: RecordingId,
    /// Ed25519 public key of the sealing device.
    pub device_key: [u8; 32],
    /// Position of the segment in the recording.
    pub segment_index: u32,
    /// Segment kind (0 media, 1 container index, 2 metadata).
    pub kind: u8,
    /// Media time covered, from the recording's start (inclusive).
    pub media_start_ms: u64,
    /// Media time covered (exclusive).
    pub media_end_ms: u64,
    /// Device wall-clock time (UTC ms) at `media_start_ms`.
    pub capture_utc_ms: i64,
}

impl CapsuleContext {
    /// The segment this context names, for error messages.
    pub fn segment(&self) -> SegmentRef {
        SegmentRef {
            recording: self.recording_id,
            index: self.segment_index,
        }
    }
}

/// Ḡ, the second generator of the TDH2 proof:
/// `RistrettoHash(SHA-512("obhut/v1/kem/generator-bar"))` (RFC 9496 one-way
/// map), so that nobody knows log_G Ḡ.
pub fn generator_bar() -> &'static RistrettoPoint {
    static G_BAR: OnceLock<RistrettoPoint> = OnceLock::new();
    G_BAR.get_or_init(|| {
        use sha2::Digest;
        let wide: [u8; 64] = sha2::Sha512::digest(labels::KEM_GENERATOR_BAR).into();
        RistrettoPoint::from_uniform_bytes(&wide)
    })
}

/// The TDH2 challenge (§5.3).
fn validity_challenge(
    group: &GroupKey,
    ctx: &CapsuleContext,
    r: &[u8; 32],
    u_bar: &[u8; 32],
    a: &RistrettoPoint,
    a_bar: &RistrettoPoint,
) -> Scalar {
    hash_to_scalar(&[
        labels::KEM_VALIDITY_PROOF,
        &[0u8],
        &labels::SUITE_V1.to_be_bytes(),
        &group.group_id.0,
        &group.generation.to_be_bytes(),
        group.key.compress().as_bytes(),
        &ctx.recording_id.0,
        &ctx.device_key,
        &ctx.segment_index.to_be_bytes(),
        &[ctx.kind],
        &ctx.media_start_ms.to_be_bytes(),
        &ctx.media_end_ms.to_be_bytes(),
        &ctx.capture_utc_ms.to_be_bytes(),
        r,
        u_bar,
        a.compress().as_bytes(),
        a_bar.compress().as_bytes(),
    ])
}

/// `a = HKDF(salt = "", ikm = (r·P) ‖ R ‖ P ‖ group_id ‖ generation,
/// info = "obhut/v1/kem", 32)` (§5.2), from the shared point r·P = s·R.
fn derive_a_inner(
    shared: &RistrettoPoint,
    r: &[u8; 32],
    p: &RistrettoPoint,
    group_id: &GroupId,
    generation: u32,
) -> Secret32 {
    let mut shared_bytes = shared.compress().to_bytes();
    let mut ext = hkdf::HkdfExtract::<sha2::Sha256>::new(Some(&[]));
    ext.input_ikm(&shared_bytes);
    ext.input_ikm(r);
    ext.input_ikm(p.compress().as_bytes());
    ext.input_ikm(&group_id.0);
    ext.input_ikm(&generation.to_be_bytes());
    shared_bytes.zeroize();
    // The extract state holds s·R; its SHA-256 cores and block buffer wipe
    // themselves on drop (sha2 and digest with their `zeroize` features).
    let (_, hk) = ext.finalize();
    Secret32::filled_by(|out| hk.expand(labels::KEM, out))
        .expect("32 bytes is a valid HKDF-SHA256 output length")
}

/// Device side (§5.2–5.3): draw r and w, build the capsule with its TDH2
/// validity proof bound to `ctx`, and return it with the custody part `a`.
/// r, w and r·P are zeroized before returning.
pub fn encapsulate(
    group: &GroupKey,
    ctx: &CapsuleContext,
    rng: &mut impl rand_core::CryptoRng,
) -> (Capsule, Secret32) {
    let g_bar = generator_bar();
    let mut r = random_scalar(rng);
    let big_r = (r * G).compress().to_bytes();
    let u_bar = (r * g_bar).compress().to_bytes();
    let mut w = random_scalar(rng);
    let a_pt = w * G;
    let a_bar = w * g_bar;
    let c = validity_challenge(group, ctx, &big_r, &u_bar, &a_pt, &a_bar);
    let mut z = w + c * r;
    let mut shared = r * group.key;
    let a = derive_a_inner(
        &shared,
        &big_r,
        &group.key,
        &group.group_id,
        group.generation,
    );
    let capsule = Capsule {
        group_id: group.group_id,
        generation: group.generation,
        r: big_r,
        u_bar,
        proof_c: c.to_bytes(),
        proof_z: z.to_bytes(),
    };
    r.zeroize();
    w.zeroize();
    z.zeroize();
    shared.zeroize();
    (capsule, a)
}

/// Check a capsule's TDH2 validity proof (§5.3) against the group key and
/// the segment identity. Fails with [`SegmentFailure::Misplaced`] if the
/// capsule names another group or generation, and with
/// [`SegmentFailure::BadKemProof`] if the proof does not verify (a blinded
/// or foreign R, or a capsule moved to another segment).
pub fn verify_capsule_proof(
    capsule: &Capsule,
    group: &GroupKey,
    ctx: &CapsuleContext,
) -> Result<()> {
    let segment = ctx.segment();
    if capsule.group_id != group.group_id || capsule.generation != group.generation {
        return Err(Error::Segment {
            segment,
            failure: SegmentFailure::Misplaced("sealed to another custody group or generation"),
        });
    }
    let big_r = decode_point(&capsule.r, CAPSULE, "R")?;
    let u_bar = decode_point(&capsule.u_bar, CAPSULE, "U_bar")?;
    let c = decode_scalar(&capsule.proof_c, CAPSULE, "proof_c")?;
    let z = decode_scalar(&capsule.proof_z, CAPSULE, "proof_z")?;
    // A' = z·G − c·R,  Ā' = z·Ḡ − c·Ū  (public values: variable time is fine)
    let a_pt = RistrettoPoint::vartime_multiscalar_mul([z, -c], [G, big_r]);
    let a_bar = RistrettoPoint::vartime_multiscalar_mul([z, -c], [*generator_bar(), u_bar]);
    let expected = validity_challenge(group, ctx, &capsule.r, &capsule.u_bar, &a_pt, &a_bar);
    if expected != c {
        return Err(Error::Segment {
            segment,
            failure: SegmentFailure::BadKemProof,
        });
    }
    Ok(())
}

/// Requester side (§5.2, §8.4): derive `a` from the recovered point
/// s·R (= r·P), the capsule, and the group key P.
pub fn derive_a(s_r: &RistrettoPoint, capsule: &Capsule, group_key: &RistrettoPoint) -> Secret32 {
    derive_a_inner(
        s_r,
        &capsule.r,
        group_key,
        &capsule.group_id,
        capsule.generation,
    )
}

/// R and Ū valid (canonical, not the identity), as [`Capsule::read`]
/// checks them; errors name `what` (the encoding they were read from).
fn check_points(r: &[u8; 32], u_bar: &[u8; 32], what: &'static str) -> Result<()> {
    decode_point(r, what, "R")?;
    decode_point(u_bar, what, "U_bar")?;
    Ok(())
}

/// What the errors of [`Capsule::check_points`] name: the segment header
/// the capsule was read from (the header parse names itself the same way).
pub(crate) const SEGMENT_HEADER_WHAT: &str = "segment header";

impl Capsule {
    /// The point check [`Capsule::read`] makes, for a capsule read without
    /// it ([`crate::chain::records_so_far_lazy`]); errors as that parse's,
    /// naming the segment header.
    pub fn check_points(&self) -> Result<()> {
        check_points(&self.r, &self.u_bar, SEGMENT_HEADER_WHAT)
    }

    /// R as a point (validated: canonical and not the identity).
    pub fn r_point(&self) -> Result<RistrettoPoint> {
        decode_point(&self.r, CAPSULE, "R")
    }
}
