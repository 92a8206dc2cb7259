//! Verified range reads of a sealed blob (docs/format.md §6.5).
//!
//! A record signs `ciphertext_hash`, the BLAKE3 (derive-key mode) hash of
//! the whole blob. A reader of a *range* does not hold the whole blob, and
//! AES-GCM tags alone only say that the chunks were made by someone holding
//! the segment key — which a past grantee does. So a range is checked
//! against the signed hash through BLAKE3's own tree: the vault hands out
//! the chaining values of the blob's 16 KiB groups (the "group tree"), the
//! reader merges them up to the root and compares it with the record, and
//! then checks every group it fetches against its chaining value.
//!
//! Nothing here changes the record: the groups are subtrees of the very
//! tree `ciphertext_hash` is the root of (BLAKE3 paper §2.1), computed with
//! the `blake3::hazmat` functions that exist for this purpose.

use blake3::hazmat::{
    ChainingValue, ContextKey, HasherExt, Mode, hash_derive_key_context, left_subtree_len,
    merge_subtrees_non_root, merge_subtrees_root,
};
use subtle::ConstantTimeEq;

use crate::labels;

/// Bytes in a group: 16 BLAKE3 chunks, a power of two, so that every group
/// is a subtree of the blob's BLAKE3 tree.
pub const GROUP_LEN: u64 = 16 * 1024;

/// Why a group tree or a group of bytes was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TreeError {
    /// The tree has the wrong number of chaining values for the blob length
    /// the record implies.
    #[error("the group tree has {got} bytes; a {blob_len}-byte blob needs {expected}")]
    WrongLength {
        /// Length of the blob (from the record).
        blob_len: u64,
        /// Bytes expected (32 per group, or none for a one-group blob).
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// The chaining values do not merge to the record's `ciphertext_hash`.
    #[error("the group tree does not hash to the record's ciphertext hash")]
    RootMismatch,
    /// A fetched group does not hash to its chaining value.
    #[error("bytes {start}..{end} of the blob do not match the record's ciphertext hash")]
    GroupMismatch {
        /// First byte of the group.
        start: u64,
        /// One past its last byte.
        end: u64,
    },
    /// The bytes handed over do not cover exactly the groups asked for.
    #[error("expected {expected} bytes from blob offset {start}, got {got}")]
    WrongCover {
        /// Blob offset the bytes start at.
        start: u64,
        /// Bytes expected.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
}

fn context_key() -> ContextKey {
    hash_derive_key_context(labels::CIPHERTEXT_HASH)
}

fn group_count(blob_len: u64) -> u64 {
    blob_len.div_ceil(GROUP_LEN)
}

fn group_cv(key: &ContextKey, index: u64, bytes: &[u8]) -> ChainingValue {
    let mut h = blake3::Hasher::new_from_context_key(key);
    h.set_input_offset(index * GROUP_LEN);
    h.update(bytes);
    h.finalize_non_root()
}

/// The group tree of a blob, as the vault serves it: the 32-byte chaining
/// value of each 16 KiB group in order, or nothing for a blob of one group
/// (which a reader fetches whole).
pub fn group_tree(blob: &[u8]) -> Vec<u8> {
    let mut tree = GroupTree::new(blob.len() as u64);
    for group in blob.chunks(GROUP_LEN as usize) {
        tree.push(group);
    }
    tree.finish()
}

/// [`group_tree`] built group by group, for a blob read from storage a
/// group at a time (the vault never holds a whole blob in memory for it).
#[derive(Debug)]
pub struct GroupTree {
    key: ContextKey,
    one_group: bool,
    next: u64,
    out: Vec<u8>,
}

impl GroupTree {
    /// A tree for a blob of `blob_len` bytes.
    pub fn new(blob_len: u64) -> Self {
        let one_group = blob_len <= GROUP_LEN;
        let groups = if one_group { 0 } else { group_count(blob_len) };
        GroupTree {
            key: context_key(),
            one_group,
            next: 0,
            out: Vec::with_capacity(usize::try_from(groups * 32).unwrap_or(0)),
        }
    }

    /// The next group's bytes: [`GROUP_LEN`] of them, fewer for the last.
    pub fn push(&mut self, group: &[u8]) {
        if !self.one_group {
            self.out
                .extend_from_slice(&group_cv(&self.key, self.next, group));
        }
        self.next += 1;
    }

    /// The tree's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// The ciphertext hash of a blob (docs/format.md §6.3) from bytes handed
/// over in pieces of any length, as a sealer or opener produces them: the
/// same hash as a BLAKE3 hasher in derive-key mode with the ciphertext
/// hash's context fed every piece (the segment module's
/// `ciphertext_hasher`).
///
/// BLAKE3 hashes sixteen 1 KiB chunks at once (AVX-512) only in subtrees
/// that start at a multiple of their own size. A blob's pieces start
/// after a 1 452-byte header and 65 552-byte sealed chunks, so a plain
/// hasher fed each of them begins every update inside a chunk: it
/// finishes that chunk one 64-byte block at a time and then climbs back
/// to full width through subtrees of 1, 2, 4 and 8 chunks. This hasher
/// gives BLAKE3 only whole groups ([`GROUP_LEN`], 16 chunks) at group
/// offsets and holds the rest back, at the price of copying at most one
/// group per piece (BENCHMARKS.md, issue 17).
#[derive(Clone, Debug)]
pub struct BlobHasher {
    hasher: blake3::Hasher,
    /// Bytes after the last group boundary given to `hasher`.
    tail: Vec<u8>,
}

impl Default for BlobHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl BlobHasher {
    /// A hasher for a blob's first byte onwards.
    pub fn new() -> Self {
        BlobHasher {
            hasher: blake3::Hasher::new_from_context_key(&context_key()),
            tail: Vec::with_capacity(GROUP_LEN as usize),
        }
    }

    /// The next bytes of the blob.
    pub fn update(&mut self, mut bytes: &[u8]) {
        let group = GROUP_LEN as usize;
        if !self.tail.is_empty() {
            let n = (group - self.tail.len()).min(bytes.len());
            self.tail.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.tail.len() < group {
                return;
            }
            self.hasher.update(&self.tail);
            self.tail.clear();
        }
        let whole = bytes.len() - bytes.len() % group;
        if whole > 0 {
            self.hasher.update(&bytes[..whole]);
        }
        self.tail.extend_from_slice(&bytes[whole..]);
    }

    /// The hash of every byte given so far.
    pub fn finalize(&self) -> [u8; 32] {
        let mut h = self.hasher.clone();
        h.update(&self.tail);
        *h.finalize().as_bytes()
    }
}

/// A group tree checked against a record: groups of the blob can now be
/// verified one by one.
#[derive(Clone, Debug)]
pub struct VerifiedTree {
    blob_len: u64,
    expected: [u8; 32],
    cvs: Vec<ChainingValue>,
    key: ContextKey,
}

impl VerifiedTree {
    /// Check `tree` (from [`group_tree`], served by the vault) for a blob of
    /// `blob_len` bytes whose signed hash is `ciphertext_hash`.
    pub fn check(
        blob_len: u64,
        ciphertext_hash: &[u8; 32],
        tree: &[u8],
    ) -> Result<Self, TreeError> {
        let key = context_key();
        let expected_len = if blob_len <= GROUP_LEN {
            0
        } else {
            group_count(blob_len) * 32
        };
        if tree.len() as u64 != expected_len {
            return Err(TreeError::WrongLength {
                blob_len,
                expected: expected_len,
                got: tree.len() as u64,
            });
        }
        let cvs: Vec<ChainingValue> = tree
            .chunks_exact(32)
            .map(|c| c.try_into().unwrap_or([0; 32]))
            .collect();
        if !cvs.is_empty() {
            let root = root_of(&key, &cvs, blob_len);
            if !bool::from(root.as_bytes().ct_eq(ciphertext_hash)) {
                return Err(TreeError::RootMismatch);
            }
        }
        Ok(VerifiedTree {
            blob_len,
            expected: *ciphertext_hash,
            cvs,
            key,
        })
    }

    /// The blob bytes to fetch to read `[start, end)`: whole groups.
    pub fn cover(&self, start: u64, end: u64) -> (u64, u64) {
        let from = start / GROUP_LEN * GROUP_LEN;
        let to = end.div_ceil(GROUP_LEN).saturating_mul(GROUP_LEN);
        (from.min(self.blob_len), to.min(self.blob_len))
    }

    /// Check `bytes`, the blob from offset `start` (a group boundary, as
    /// [`VerifiedTree::cover`] gives) to the end of the last group they reach.
    pub fn check_groups(&self, start: u64, bytes: &[u8]) -> Result<(), TreeError> {
        let end = start.saturating_add(bytes.len() as u64);
        let (from, to) = self.cover(start, end);
        if from != start || to != end {
            return Err(TreeError::WrongCover {
                start,
                expected: to.saturating_sub(start),
                got: bytes.len() as u64,
            });
        }
        if self.cvs.is_empty() {
            // One group: the group is the whole blob and its hash the root.
            let mut h = blake3::Hasher::new_from_context_key(&self.key);
            h.update(bytes);
            if start != 0 || !bool::from(h.finalize().as_bytes().ct_eq(&self.expected)) {
                return Err(TreeError::GroupMismatch { start, end });
            }
            return Ok(());
        }
        let first = start / GROUP_LEN;
        for (i, group) in bytes.chunks(GROUP_LEN as usize).enumerate() {
            let index = first + i as u64;
            let cv = group_cv(&self.key, index, group);
            let ok = self
                .cvs
                .get(index as usize)
                .is_some_and(|want| bool::from(cv.ct_eq(want)));
            if !ok {
                let g = index * GROUP_LEN;
                return Err(TreeError::GroupMismatch {
                    start: g,
                    end: g + group.len() as u64,
                });
            }
        }
        Ok(())
    }
}

/// The root hash over the groups `cvs` of a `len`-byte blob of more than
/// one group: BLAKE3's left-balanced tree, whose left subtrees are the
/// largest power of two of bytes — always a whole number of groups, since
/// `GROUP_LEN` is itself a power of two.
fn root_of(key: &ContextKey, cvs: &[ChainingValue], len: u64) -> blake3::Hash {
    let left_len = left_subtree_len(len);
    let left_groups = (left_len / GROUP_LEN) as usize;
    let (l, r) = cvs.split_at(left_groups);
    let left = subtree(key, l, left_len);
    let right = subtree(key, r, len - left_len);
    merge_subtrees_root(&left, &right, Mode::DeriveKeyMaterial(key))
}

fn subtree(key: &ContextKey, cvs: &[ChainingValue], len: u64) -> ChainingValue {
    if cvs.len() == 1 {
        return cvs[0];
    }
    let left_len = left_subtree_len(len);
    let (l, r) = cvs.split_at((left_len / GROUP_LEN) as usize);
    merge_subtrees_non_root(
        &subtree(key, l, left_len),
        &subtree(key, r, len - left_len),
        Mode::DeriveKeyMaterial(key),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn hash(b: &[u8]) -> [u8; 32] {
        *blake3::Hasher::new_derive_key(labels::CIPHERTEXT_HASH)
            .update(b)
            .finalize()
            .as_bytes()
    }

    #[test]
    fn the_groups_merge_to_the_ciphertext_hash_at_every_shape() {
        let g = GROUP_LEN as usize;
        for len in [
            1,
            g - 1,
            g,
            g + 1,
            2 * g,
            2 * g + 1,
            3 * g + 17,
            5 * g,
            7 * g + 1024,
            64 * g + 3,
            4 * 1024 * 1024 + 1452 + 1024,
        ] {
            let b = blob(len);
            let tree = VerifiedTree::check(len as u64, &hash(&b), &group_tree(&b))
                .unwrap_or_else(|e| panic!("len {len}: {e}"));
            let (from, to) = tree.cover(len as u64 / 2, len as u64);
            tree.check_groups(from, &b[from as usize..to as usize])
                .unwrap_or_else(|e| panic!("len {len}: {e}"));
        }
    }

    #[test]
    fn a_changed_byte_is_caught_in_its_group_and_a_changed_tree_at_the_root() {
        let len = 5 * GROUP_LEN as usize + 100;
        let b = blob(len);
        let h = hash(&b);
        let tree_bytes = group_tree(&b);
        let tree = VerifiedTree::check(len as u64, &h, &tree_bytes).unwrap();
        let mut forged = b.clone();
        forged[3 * GROUP_LEN as usize + 5] ^= 1;
        let (from, to) = tree.cover(3 * GROUP_LEN, 3 * GROUP_LEN + 10);
        assert_eq!(
            tree.check_groups(from, &forged[from as usize..to as usize]),
            Err(TreeError::GroupMismatch {
                start: 3 * GROUP_LEN,
                end: 4 * GROUP_LEN
            })
        );
        // A vault that serves the forged blob's own tree fails at the root.
        assert_eq!(
            VerifiedTree::check(len as u64, &h, &group_tree(&forged)).unwrap_err(),
            TreeError::RootMismatch
        );
        let mut short = tree_bytes.clone();
        short.pop();
        assert!(matches!(
            VerifiedTree::check(len as u64, &h, &short),
            Err(TreeError::WrongLength { .. })
        ));
    }

    #[test]
    fn the_blob_hasher_agrees_with_one_update_whatever_the_pieces() {
        let g = GROUP_LEN as usize;
        let b = blob(20 * g + 1452 + 77);
        let want = hash(&b);
        for pieces in [
            vec![1452, 65_552, 65_552, 65_552, 65_552],
            vec![g, g, 3 * g + 5],
            vec![1, g - 1, 1, 2 * g + 1],
            vec![b.len()],
            vec![0, 7, 0],
        ] {
            let mut h = BlobHasher::new();
            let mut at = 0;
            for n in pieces.iter().cycle() {
                if at == b.len() {
                    break;
                }
                let n = (*n).max(1).min(b.len() - at);
                h.update(&b[at..at + n]);
                at += n;
            }
            assert_eq!(h.finalize(), want, "pieces {pieces:?}");
        }
        assert_eq!(BlobHasher::new().finalize(), hash(&[]));
    }

    #[test]
    fn a_one_group_blob_is_checked_whole() {
        let b = blob(1500);
        let tree = VerifiedTree::check(1500, &hash(&b), &[]).unwrap();
        assert_eq!(tree.cover(10, 20), (0, 1500));
        tree.check_groups(0, &b).unwrap();
        let mut f = b.clone();
        f[0] ^= 1;
        assert!(tree.check_groups(0, &f).is_err());
        assert!(matches!(
            tree.check_groups(0, &b[..100]),
            Err(TreeError::WrongCover { .. })
        ));
    }
}
