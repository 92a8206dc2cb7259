//! `locked::unlock` with a fixed passphrase, and `locked::content_of`
//! (docs/format.md §3.3). Arbitrary bytes must not panic; `content_of` and
//! `unlock` must agree on the content type; a file that unlocks is one of
//! the seeds (the fuzzer cannot forge the AEAD), and its plaintext, parsed
//! as the secret the content type names, must round-trip.
//!
//! Cost: `unlock` runs Argon2id only after the header parses with in-bounds
//! costs. At the 8 MiB, 1-pass floor that is ~10 ms per input, so the
//! target skips `unlock` for in-bounds costs above the floor (a mutated
//! seed with m = 4 GiB would otherwise exhaust libFuzzer's RSS limit on a
//! legitimate, bounded KDF). Out-of-bounds costs are still passed to
//! `unlock`, which must refuse them before any work.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::epoch::EpochSecret;
use obhut_core::error::Error;
use obhut_core::identity::{DeviceSecret, PersonSecret};
use obhut_core::locked::{Content, KdfParams, content_of, unlock};

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().expect("4 bytes"))
}

fuzz_target!(|data: &[u8]| {
    let content = content_of(data);
    if data.len() >= 23 && content.is_ok() {
        let params = KdfParams {
            m_kib: be32(&data[11..15]),
            t: be32(&data[15..19]),
            p: be32(&data[19..23]),
        };
        let expensive = params.m_kib > KdfParams::MINIMUM.m_kib || params.t > KdfParams::MINIMUM.t;
        if params.check().is_ok() && expensive {
            return;
        }
    }
    match unlock(data, obhut_fuzz::PASSPHRASE) {
        Ok((c, plain)) => {
            assert_eq!(
                content.as_ref().ok(),
                Some(&c),
                "content_of and unlock disagree"
            );
            let p = plain.expose();
            let again = match c {
                Content::Person => PersonSecret::from_secret_bytes(p)
                    .ok()
                    .map(|s| s.to_secret_bytes()),
                Content::Device => DeviceSecret::from_secret_bytes(p)
                    .ok()
                    .map(|s| s.to_secret_bytes()),
                Content::Epoch => EpochSecret::from_secret_bytes(p)
                    .ok()
                    .map(|s| s.to_secret_bytes()),
            };
            if let Some(again) = again {
                assert_eq!(again.expose(), p, "secret round trip");
            }
        }
        Err(Error::WrongPassphrase) => {
            // Only reachable after the header parsed.
            assert!(
                content.is_ok(),
                "wrong passphrase reported for an unparsable header"
            );
        }
        Err(_) => {}
    }
});
