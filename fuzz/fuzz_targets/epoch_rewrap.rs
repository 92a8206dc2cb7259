//! `rewrap::EpochRewrap::from_bytes` (docs/format.md §5.5).
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input, and `unwrap` against a fixed header and
//! epoch secret fails with a typed error or succeeds, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::rewrap::EpochRewrap;

fuzz_target!(|data: &[u8]| {
    if let Some(rw) = obhut_fuzz::roundtrip!(data, EpochRewrap::from_bytes, EpochRewrap::to_bytes) {
        let (header, secret) = obhut_fuzz::rewrap_fixture();
        let _ = rw.unwrap(header, secret);
    }
});
