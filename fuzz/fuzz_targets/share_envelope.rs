//! `group::ShareEnvelope::from_bytes` (docs/format.md §4.2).
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::group::ShareEnvelope;

fuzz_target!(|data: &[u8]| {
    obhut_fuzz::roundtrip!(data, ShareEnvelope::from_bytes, ShareEnvelope::to_bytes);
});
