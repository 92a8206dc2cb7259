//! Randomness. Production code draws only from the operating system and
//! fails closed: if the OS cannot provide entropy we abort rather than seal
//! footage under a predictable key.

use rand_core::UnwrapErr;

/// The operating system's CSPRNG. Panics (fails closed) if the OS reports an
/// error, as `getrandom` failures are local faults, never peer input.
pub fn os_rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

/// Draw a uniformly random 32-byte array.
pub fn random_32(rng: &mut impl rand_core::CryptoRng) -> [u8; 32] {
    let mut out = [0u8; 32];
    rng.fill_bytes(&mut out);
    out
}
