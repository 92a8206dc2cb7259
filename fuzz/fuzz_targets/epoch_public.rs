//! `epoch::EpochPublic::from_bytes` (docs/format.md §3.4).
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::epoch::EpochPublic;

fuzz_target!(|data: &[u8]| {
    obhut_fuzz::roundtrip!(data, EpochPublic::from_bytes, EpochPublic::to_bytes);
});
