//! RFC 6962 / RFC 9162 Merkle tree hashing with SHA-256.
//!
//! RFC 9162 §2.1.1: "The hash of an empty list is the hash of an empty
//! string: `MTH({}) = HASH()`". "The hash of a list with one entry (also
//! known as a leaf hash) is: `MTH({d(0)}) = HASH(0x00 || d(0))`". For n > 1,
//! "`MTH(D_n) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`" where k is the
//! largest power of two smaller than n.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// Length of a SHA-256 hash in bytes.
pub const HASH_LEN: usize = 32;

/// A SHA-256 Merkle tree hash (a leaf hash, an interior node hash or a root).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    /// The root of the empty tree: `MTH({}) = SHA-256()` (RFC 9162 §2.1.1).
    pub const EMPTY_ROOT: Hash = Hash([
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ]);

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Standard base64 (RFC 4648 §4), as used in checkpoints and witness
    /// requests.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Parses standard, canonically padded base64 of exactly 32 bytes.
    pub fn from_base64(s: &str) -> Option<Hash> {
        // `decode_slice` into a 33-byte buffer so a 33-byte input is
        // detected rather than truncated.
        let mut buf = [0u8; HASH_LEN + 3];
        let n = STANDARD.decode_slice(s.as_bytes(), &mut buf).ok()?;
        if n != HASH_LEN {
            return None;
        }
        let mut out = [0u8; HASH_LEN];
        out.copy_from_slice(&buf[..HASH_LEN]);
        Some(Hash(out))
    }

    /// Lower-case hex, for logs and error messages.
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        let mut s = String::with_capacity(2 * HASH_LEN);
        for b in self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl From<[u8; HASH_LEN]> for Hash {
    fn from(b: [u8; HASH_LEN]) -> Self {
        Hash(b)
    }
}

/// `HASH(0x00 || entry)`: the leaf hash of a log entry (RFC 9162 §2.1.1).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    Hash(h.finalize().into())
}

/// `HASH(0x01 || left || right)`: an interior node (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 1 + 2 * HASH_LEN];
    buf[0] = 0x01;
    buf[1..1 + HASH_LEN].copy_from_slice(&left.0);
    buf[1 + HASH_LEN..].copy_from_slice(&right.0);
    Hash(Sha256::digest(buf).into())
}

/// The Merkle tree hash of a list of leaf hashes, computed in memory
/// (RFC 9162 §2.1.1). Intended for small lists (tiles, tests); large trees
/// use [`crate::CompactRange`].
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    let mut cr = crate::CompactRange::new();
    for l in leaves {
        cr.append(*l);
    }
    cr.root()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(Hash::EMPTY_ROOT, Hash(Sha256::digest([]).into()));
        assert_eq!(root_from_leaf_hashes(&[]), Hash::EMPTY_ROOT);
    }

    #[test]
    fn base64_is_strict() {
        let h = leaf_hash(b"x");
        assert_eq!(Hash::from_base64(&h.to_base64()), Some(h));
        // 31 and 33 bytes, missing padding, non-canonical trailing bits.
        assert_eq!(Hash::from_base64(&STANDARD.encode([0u8; 31])), None);
        assert_eq!(Hash::from_base64(&STANDARD.encode([0u8; 33])), None);
        let b = h.to_base64();
        assert_eq!(Hash::from_base64(b.trim_end_matches('=')), None);
        // 32 zero bytes are "AAA…AA=": the last 'A' carries two unused bits;
        // 'B' sets one of them, a non-canonical encoding that must be refused.
        let zero = Hash([0; 32]).to_base64();
        assert!(zero.ends_with("A="));
        let tweaked = format!("{}B=", &zero[..zero.len() - 2]);
        assert_eq!(Hash::from_base64(&tweaked), None);
    }
}
