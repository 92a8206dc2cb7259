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

    #[test]
    fn equality_is_by_value() {
        assert_eq!(Secret32::new([1; 32]), Secret32::new([1; 32]));
        assert_ne!(Secret32::new([1; 32]), Secret32::new([2; 32]));
    }
}
