//! `epoch::EpochRelease::from_bytes` (docs/format.md §8.5).
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::epoch::EpochRelease;

fuzz_target!(|data: &[u8]| {
    obhut_fuzz::roundtrip!(data, EpochRelease::from_bytes, EpochRelease::to_bytes);
});
