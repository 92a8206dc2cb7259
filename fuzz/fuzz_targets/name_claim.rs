//! `name::NameClaim::from_bytes` (docs/format.md §3.5): arbitrary bytes
//! must not panic; whenever parsing succeeds (the name's rules hold and the
//! signature verifies), the canonical encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::name::NameClaim;

fuzz_target!(|data: &[u8]| {
    obhut_fuzz::roundtrip!(data, NameClaim::from_bytes, |c: &NameClaim| c.to_bytes());
});
