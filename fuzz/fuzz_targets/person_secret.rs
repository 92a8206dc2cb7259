//! `identity::PersonSecret::from_secret_bytes` (the plaintext of a locked person key file, docs/format.md §3.1, §3.3).
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::identity::PersonSecret;

fuzz_target!(|data: &[u8]| {
    if let Some(p) =
        obhut_fuzz::roundtrip!(data, PersonSecret::from_secret_bytes, |p: &PersonSecret| p
            .to_secret_bytes()
            .expose()
            .to_vec())
    {
        // Any 32-byte seeds make a usable key pair.
        let _ = p.public().fingerprint();
    }
});
