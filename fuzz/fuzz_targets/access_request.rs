//! `request::AccessRequest::from_bytes` (docs/format.md §8.1): parsing verifies the requester signature, so only mutations that keep the signed body reach the round trip.
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::request::AccessRequest;

fuzz_target!(|data: &[u8]| {
    if let Some(r) =
        obhut_fuzz::roundtrip!(data, AccessRequest::from_bytes, AccessRequest::to_bytes)
    {
        r.verify_signature().expect("a parsed request verifies");
        let _ = (r.request_hash(), r.requester_fingerprint());
    }
});
