//! `pq_custody::RunHandover::from_bytes` (docs/format.md §5.6). Arbitrary
//! bytes must not panic; whenever parsing succeeds, the canonical encoding
//! must equal the input, and opening it with a fixed successor key fails
//! with a typed error or succeeds, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::pq_custody::RunHandover;

fuzz_target!(|data: &[u8]| {
    if let Some(h) = obhut_fuzz::roundtrip!(data, RunHandover::from_bytes, RunHandover::to_bytes) {
        let (fingerprint, kem) = obhut_fuzz::handover_successor();
        let _ = h.open(fingerprint, kem);
    }
});
