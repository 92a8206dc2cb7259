//! `identity::DeviceSecret::from_secret_bytes` (docs/format.md §3.2, §3.3).
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::identity::DeviceSecret;

fuzz_target!(|data: &[u8]| {
    if let Some(d) =
        obhut_fuzz::roundtrip!(data, DeviceSecret::from_secret_bytes, |d: &DeviceSecret| d
            .to_secret_bytes()
            .expose()
            .to_vec())
    {
        let _ = d.public().to_bytes();
    }
});
