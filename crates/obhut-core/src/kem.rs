//! The custody part `a` of a segment key: threshold hashed ElGamal over
//! ristretto255 with a TDH2 validity proof (docs/format.md §5.2–5.3).

use crate::error::Result;
use crate::ids::GroupId;
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
        let group_id = GroupId(r.array("group_id")?);
        let generation = r.u32("generation")?;
        let rr = r.array::<32>("R")?;
        crate::point::decode_point(&rr, r.what(), "R")?;
        let u_bar = r.array::<32>("U_bar")?;
        crate::point::decode_point(&u_bar, r.what(), "U_bar")?;
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
