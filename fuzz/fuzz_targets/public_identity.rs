//! `identity::PublicIdentity::from_bytes` (docs/format.md §3.1).
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::identity::PublicIdentity;

fuzz_target!(|data: &[u8]| {
    if let Some(id) =
        obhut_fuzz::roundtrip!(data, PublicIdentity::from_bytes, PublicIdentity::to_bytes)
    {
        let _ = id.fingerprint();
    }
});
