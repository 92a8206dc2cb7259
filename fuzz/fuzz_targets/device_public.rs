//! `identity::DevicePublic::from_bytes` (docs/format.md §3.2).
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::identity::DevicePublic;

fuzz_target!(|data: &[u8]| {
    obhut_fuzz::roundtrip!(data, DevicePublic::from_bytes, DevicePublic::to_bytes);
});
