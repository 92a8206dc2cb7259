//! Strict decoding of ristretto255 points and scalars read from input
//! (docs/format.md §1.4): canonical encodings only, never the identity.

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;

use crate::error::{Error, Result};
use crate::wire::Reader;

/// Decode a point, refusing non-canonical encodings and the identity.
pub fn decode_point(
    bytes: &[u8; 32],
    what: &'static str,
    field: &'static str,
) -> Result<RistrettoPoint> {
    let p = CompressedRistretto(*bytes)
        .decompress()
        .ok_or(Error::InvalidPoint { what, field })?;
    if p.is_identity() {
        return Err(Error::InvalidPoint { what, field });
    }
    Ok(p)
}

/// Decode a canonical scalar (< l). Zero is allowed: proof responses may be
/// zero; callers that forbid it check separately.
pub fn decode_scalar(bytes: &[u8; 32], what: &'static str, field: &'static str) -> Result<Scalar> {
    Option::from(Scalar::from_canonical_bytes(*bytes)).ok_or(Error::InvalidScalar { what, field })
}

/// Read and strictly decode a point from a [`Reader`].
pub fn read_point(r: &mut Reader<'_>, field: &'static str) -> Result<RistrettoPoint> {
    let b = r.array::<32>(field)?;
    decode_point(&b, r.what(), field)
}

/// Read a canonical scalar from a [`Reader`].
pub fn read_scalar(r: &mut Reader<'_>, field: &'static str) -> Result<Scalar> {
    let b = r.array::<32>(field)?;
    decode_scalar(&b, r.what(), field)
}

/// A uniformly random non-zero scalar from 64 random bytes.
pub fn random_scalar(rng: &mut impl rand_core::CryptoRng) -> Scalar {
    loop {
        let mut wide = [0u8; 64];
        rng.fill_bytes(&mut wide);
        let s = Scalar::from_bytes_mod_order_wide(&wide);
        zeroize::Zeroize::zeroize(&mut wide);
        if s != Scalar::ZERO {
            return s;
        }
    }
}

/// `Scalar(SHA-512(parts…))`: a hash reduced modulo l (docs/format.md §1.1).
pub fn hash_to_scalar(parts: &[&[u8]]) -> Scalar {
    use sha2::Digest;
    let mut h = sha2::Sha512::new();
    for p in parts {
        h.update(p);
    }
    let wide: [u8; 64] = h.finalize().into();
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// Lagrange coefficient λ_i at 0 for the index set `set` (i ∈ set):
/// Π_{j ∈ set, j ≠ i} j / (j − i). Also weights a resharing dealer's share
/// (§4.3).
pub(crate) fn lagrange_at_zero(i: u16, set: &[u16]) -> Scalar {
    let xi = Scalar::from(i);
    let mut num = Scalar::ONE;
    let mut den = Scalar::ONE;
    for &j in set {
        if j != i {
            let xj = Scalar::from(j);
            num *= xj;
            den *= xj - xi;
        }
    }
    num * den.invert()
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;

    #[test]
    fn lagrange_coefficients_interpolate_at_zero() {
        // f(x) = 5 + 3x + 2x²; any 3 points give f(0) = 5.
        let f = |x: u16| {
            let x = Scalar::from(x);
            Scalar::from(5u8) + Scalar::from(3u8) * x + Scalar::from(2u8) * x * x
        };
        for set in [[1u16, 2, 3], [2, 4, 5], [1, 3, 255]] {
            let sum: Scalar = set.iter().map(|&i| lagrange_at_zero(i, &set) * f(i)).sum();
            assert_eq!(sum, Scalar::from(5u8));
        }
    }

    #[test]
    fn identity_and_non_canonical_points_are_refused() {
        assert!(decode_point(&[0u8; 32], "t", "p").is_err());
        // A non-canonical field element (p itself) must not decode.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(decode_point(&p, "t", "p").is_err());
        // Odd encodings (negative field elements) are non-canonical.
        let mut good = G.compress().to_bytes();
        assert!(decode_point(&good, "t", "p").is_ok());
        good[0] |= 1;
        assert!(decode_point(&good, "t", "p").is_err());
    }

    #[test]
    fn non_canonical_scalars_are_refused() {
        assert!(decode_scalar(&[0xff; 32], "t", "s").is_err());
        assert!(decode_scalar(&[0; 32], "t", "s").is_ok());
    }
}
