//! `epoch::EpochSecret::from_secret_bytes` (docs/format.md §3.4).
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::epoch::EpochSecret;

fuzz_target!(|data: &[u8]| {
    obhut_fuzz::roundtrip!(data, EpochSecret::from_secret_bytes, |e: &EpochSecret| e
        .to_secret_bytes()
        .expose()
        .to_vec());
});
