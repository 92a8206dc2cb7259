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

/// A deterministic RNG for test vectors, fuzz targets and benchmarks:
/// `SHA-256("obhut/test-rng" ‖ 0x00 ‖ seed ‖ counter)` blocks, in order.
/// Never for real keys; only built with the `test-util` feature or in tests.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug)]
pub struct DeterministicRng {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

#[cfg(any(test, feature = "test-util"))]
impl DeterministicRng {
    /// Start the stream for `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        DeterministicRng {
            seed,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }
}

#[cfg(any(test, feature = "test-util"))]
impl rand_core::TryRng for DeterministicRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst {
            if self.used == 32 {
                self.block = crate::labels::digest(
                    b"obhut/test-rng",
                    &[&self.seed, &self.counter.to_be_bytes()],
                );
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
        Ok(())
    }
}

#[cfg(any(test, feature = "test-util"))]
impl rand_core::TryCryptoRng for DeterministicRng {}
