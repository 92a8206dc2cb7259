//! `partial::PartialEnvelope::from_bytes` (docs/format.md §8.2).
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::partial::PartialEnvelope;

fuzz_target!(|data: &[u8]| {
    obhut_fuzz::roundtrip!(data, PartialEnvelope::from_bytes, PartialEnvelope::to_bytes);
});
