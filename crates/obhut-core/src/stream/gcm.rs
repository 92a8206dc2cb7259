//! AES-256-GCM of AWS-LC, the one implementation behind payload chunks
//! ([`super::ChunkCipher`]) and key files (`locked`).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use super::TAG_LEN;
use crate::secret::Secret32;

/// An AES-256-GCM key schedule in AWS-LC (through `aws-lc-rs`): the one
/// AEAD implementation of payload chunks ([`ChunkCipher`]) and key files
/// (`locked`). The format does not depend on it (docs/format.md §2): any
/// correct AES-256-GCM gives the same bytes, which tests/aead_cross_check.rs
/// checks against the `aes-gcm` crate.
///
/// Zeroization: `aws-lc-rs` copies the key into an `EVP_AEAD_CTX` that
/// AWS-LC allocates on the C heap; Rust never holds the key schedule by
/// value, so moving the key leaves no copy behind. Dropping it calls
/// `EVP_AEAD_CTX_free`, whose `OPENSSL_free` overwrites the whole
/// allocation with `OPENSSL_cleanse` before freeing it (AWS-LC's
/// allocator records each allocation's size for exactly this). The caller's
/// key bytes stay in their [`Secret32`], which wipes itself.
pub(crate) struct GcmKey(LessSafeKey);

impl GcmKey {
    pub(crate) fn new(key: &Secret32) -> Self {
        // `UnboundKey::new` fails only for a key that is not 32 bytes (a
        // `Secret32` always is) or when AWS-LC cannot allocate its context,
        // which the Rust allocator would treat as fatal as well.
        let unbound = UnboundKey::new(&AES_256_GCM, key.expose())
            .expect("a 32-byte key and an allocation AWS-LC could make");
        GcmKey(LessSafeKey::new(unbound))
    }

    /// Encrypt `buf` in place; returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Option<[u8; TAG_LEN]> {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
            .ok()?;
        tag.as_ref().try_into().ok()
    }

    /// Encrypt `plaintext` into `out` (same length); returns the tag.
    pub(crate) fn seal_into(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Option<[u8; TAG_LEN]> {
        let mut tag = [0u8; TAG_LEN];
        self.0
            .seal_out_of_place_scatter(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                plaintext,
                out,
                &[],
                &mut tag,
            )
            .ok()?;
        Some(tag)
    }

    /// Authenticate and decrypt `buf` in place. On failure AWS-LC
    /// overwrites `buf` with zeros (`EVP_AEAD_CTX_open_gather`): it holds
    /// neither plaintext nor the ciphertext any more.
    pub(crate) fn open_in_place(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> bool {
        self.0
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                tag,
                buf,
            )
            .is_ok()
    }

    /// Authenticate `ciphertext` and decrypt it into `out` (same length),
    /// leaving `ciphertext` as it was. On failure `out` is all zeros.
    pub(crate) fn open_into(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut [u8],
    ) -> bool {
        if ciphertext.len() != out.len() {
            return false;
        }
        self.0
            .open_separate_gather(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                ciphertext,
                tag,
                out,
            )
            .is_ok()
    }
}
