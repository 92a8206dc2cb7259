//! `partial::Partial::from_bytes` (docs/format.md §8.2), then the batched proof check against a fixed P_i (must return false, never panic, for inputs the fuzzer can make).
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use libfuzzer_sys::fuzz_target;
use obhut_core::partial::Partial;

fuzz_target!(|data: &[u8]| {
    if let Some(p) = obhut_fuzz::roundtrip!(data, Partial::from_bytes, Partial::to_bytes) {
        let p_i = RistrettoPoint::mul_base(&Scalar::from(3u64));
        let _ = p.verify_proof(&p_i);
    }
});
