//! Secret byte strings: zeroized on drop, compared in constant time, and
//! never printed. `Debug` prints a fixed placeholder so that a secret
//! reaching a log line through `{:?}` leaks nothing.

use core::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 32-byte secret (a key, a KEM share, a seed).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret32([u8; 32]);

impl Secret32 {
    /// Wrap bytes that are secret. The caller's copy should be zeroized.
    pub fn new(bytes: [u8; 32]) -> Self {
        Secret32(bytes)
    }

    /// Draw a fresh random secret.
    pub fn random(rng: &mut impl rand_core::CryptoRng) -> Self {
        let mut s = Secret32([0u8; 32]);
        rng.fill_bytes(&mut s.0);
        s
    }

    /// Borrow the secret bytes. Named so that every use is easy to audit.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// Copy a 32-byte slice straight into a secret (no copy left on the
    /// stack); `None` if it is not 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut s = Secret32([0u8; 32]);
        if bytes.len() != 32 {
            return None;
        }
        s.0.copy_from_slice(bytes);
        Some(s)
    }

    /// A secret written in place by `fill` (a KDF's output buffer), so that
    /// the derived bytes never sit in a temporary that is not wiped.
    pub(crate) fn filled_by<E>(
        fill: impl FnOnce(&mut [u8; 32]) -> core::result::Result<(), E>,
    ) -> core::result::Result<Self, E> {
        let mut s = Secret32([0u8; 32]);
        fill(&mut s.0)?;
        Ok(s)
    }
}

impl ConstantTimeEq for Secret32 {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for Secret32 {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}
impl Eq for Secret32 {}

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret32(<redacted>)")
    }
}

/// A variable-length secret byte string (a share file's plaintext, a key
/// file's contents).
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wrap bytes that are secret.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }
    /// Borrow the secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl ConstantTimeEq for SecretBytes {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secret_bytes() {
        let s = Secret32::new([0xAB; 32]);
        let shown = format!("{s:?}");
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
        let b = SecretBytes::new(vec![0xCD; 5]);
        let shown = format!("{b:?}");
        assert!(!shown.to_lowercase().contains("cd"), "{shown}");
        assert!(!shown.contains("205"), "{shown}");
    }

    /// HKDF's extract and expand states are HMAC-SHA256 states: two SHA-256
    /// cores and a block buffer, which wipe themselves on drop only with
    /// the `zeroize` features of sha2 and digest (Cargo.toml). If a
    /// dependency change drops them, this stops compiling. The AES-GCM key
    /// schedule lives in AWS-LC, which wipes it in C on drop (stream.rs
    /// `GcmKey` says how); no Rust trait can state that.
    #[test]
    fn kdf_states_wipe_themselves_on_drop() {
        fn wiped_on_drop<T: ZeroizeOnDrop>() {}
        wiped_on_drop::<sha2::Sha256>();
        wiped_on_drop::<sha2::Sha512>();
        wiped_on_drop::<Secret32>();
        wiped_on_drop::<SecretBytes>();
    }

    #[test]
    fn equality_is_by_value() {
        assert_eq!(Secret32::new([1; 32]), Secret32::new([1; 32]));
        assert_ne!(Secret32::new([1; 32]), Secret32::new([2; 32]));
    }
}
