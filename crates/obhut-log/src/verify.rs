//! Proof verification, as the algorithms of RFC 9162 §2.1.3.2 (inclusion)
//! and §2.1.4.2 (consistency), step by step.

use crate::hash::{Hash, node_hash};

/// A proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// Leaf index claimed.
        index: u64,
        /// Tree size claimed.
        size: u64,
    },
    /// The proof has the wrong number of hashes for these sizes.
    #[error("proof has the wrong number of hashes ({got}) for these tree sizes")]
    WrongLength {
        /// Number of hashes supplied.
        got: usize,
    },
    /// The proof's hashes do not lead to the expected root.
    #[error("proof leads to root {computed}, expected {expected}")]
    RootMismatch {
        /// What the proof computes.
        computed: Hash,
        /// The root from the checkpoint.
        expected: Hash,
    },
    /// A consistency proof from a larger tree to a smaller one: the log
    /// shrank.
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldLargerThanNew {
        /// Old size.
        old: u64,
        /// New size.
        new: u64,
    },
    /// Two trees of the same size with different roots: a fork.
    #[error("two different roots for tree size {size}")]
    SameSizeDifferentRoot {
        /// The common size.
        size: u64,
    },
    /// The old root does not match what the consistency proof computes for
    /// the old tree.
    #[error("consistency proof does not match the old root")]
    OldRootMismatch,
    /// The new root does not match what the consistency proof computes.
    #[error("consistency proof does not match the new root")]
    NewRootMismatch,
}

/// The root an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1–4).
pub fn root_from_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    // 1. "Compare leaf_index from the inclusion_proof_v2 structure against
    //    tree_size. If leaf_index is greater than or equal to tree_size,
    //    then fail the proof verification."
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // 2. "Set fn to leaf_index and sn to tree_size - 1."
    let (mut fnn, mut sn) = (index, size - 1);
    // 3. "Set r to hash."
    let mut r = *leaf;
    // 4. "For each value p in the inclusion_path array:"
    for p in proof {
        // a. "If sn is 0, then stop the iteration and fail the proof
        //    verification."
        if sn == 0 {
            return Err(ProofError::WrongLength { got: proof.len() });
        }
        // b. "If LSB(fn) is set, or if fn is equal to sn, then:"
        if fnn & 1 == 1 || fnn == sn {
            // i. "Set r to HASH(0x01 || p || r)."
            r = node_hash(p, &r);
            // ii. "If LSB(fn) is not set, then right-shift both fn and sn
            //     equally until either LSB(fn) is set or fn is 0."
            if fnn & 1 == 0 {
                while fnn & 1 == 0 && fnn != 0 {
                    fnn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            // "Otherwise: Set r to HASH(0x01 || r || p)."
            r = node_hash(&r, p);
        }
        // c. "Finally, right-shift both fn and sn one time."
        fnn >>= 1;
        sn >>= 1;
    }
    // 5. "Compare sn to 0. ..." (root compared by the caller)
    if sn != 0 {
        return Err(ProofError::WrongLength { got: proof.len() });
    }
    Ok(r)
}

/// Verifies that `leaf` (a leaf hash) is at `index` in the tree of `size`
/// leaves with root `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion(leaf, index, size, proof)?;
    // 5. "... Compare r against the root_hash. If sn is equal to 0 and r
    //    and the root_hash are equal, then the log has proven the inclusion
    //    of hash. Otherwise, fail the proof verification."
    if computed != *root {
        return Err(ProofError::RootMismatch {
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// Verifies that the tree of `old` leaves with root `old_root` is a prefix
/// of the tree of `new` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// Edge cases outside the RFC's `0 < first < second` algorithm: from size
/// 0 the proof must be empty and `old_root` the empty-tree hash; between
/// equal sizes the proof must be empty and the roots equal (unequal roots
/// are a fork, [`ProofError::SameSizeDifferentRoot`]).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::OldLargerThanNew { old, new });
    }
    if old == new {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { got: proof.len() });
        }
        if old_root != new_root {
            return Err(ProofError::SameSizeDifferentRoot { size: old });
        }
        return Ok(());
    }
    if old == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { got: proof.len() });
        }
        if *old_root != Hash::EMPTY_ROOT {
            return Err(ProofError::OldRootMismatch);
        }
        return Ok(());
    }
    // 1. "If consistency_path is an empty array, stop and fail the proof
    //    verification."
    if proof.is_empty() {
        return Err(ProofError::WrongLength { got: 0 });
    }
    // 2. "If first is an exact power of 2, then prepend first_hash to the
    //    consistency_path array."
    let prepended = old.is_power_of_two();
    let path_len = proof.len() + usize::from(prepended);
    let path = |i: usize| -> &Hash {
        if prepended {
            if i == 0 { old_root } else { &proof[i - 1] }
        } else {
            &proof[i]
        }
    };
    // 3. "Set fn to first - 1 and sn to second - 1."
    let (mut fnn, mut sn) = (old - 1, new - 1);
    // 4. "If LSB(fn) is set, then right-shift both fn and sn equally until
    //    LSB(fn) is not set."
    while fnn & 1 == 1 {
        fnn >>= 1;
        sn >>= 1;
    }
    // 5. "Set both fr and sr to the first value in the consistency_path
    //    array."
    let (mut fr, mut sr) = (*path(0), *path(0));
    // 6. "For each subsequent value c in the consistency_path array:"
    for i in 1..path_len {
        let c = path(i);
        // a. "If sn is 0, then stop the iteration and fail the proof
        //    verification."
        if sn == 0 {
            return Err(ProofError::WrongLength { got: proof.len() });
        }
        // b. "If LSB(fn) is set, or if fn is equal to sn, then:"
        if fnn & 1 == 1 || fnn == sn {
            // i. "Set fr to HASH(0x01 || c || fr)."
            fr = node_hash(c, &fr);
            // ii. "Set sr to HASH(0x01 || c || sr)."
            sr = node_hash(c, &sr);
            // iii. "If LSB(fn) is not set, then right-shift both fn and sn
            //      equally until either LSB(fn) is set or fn is 0."
            if fnn & 1 == 0 {
                while fnn & 1 == 0 && fnn != 0 {
                    fnn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            // "Otherwise: Set sr to HASH(0x01 || sr || c)."
            sr = node_hash(&sr, c);
        }
        // c. "Finally, right-shift both fn and sn one time."
        fnn >>= 1;
        sn >>= 1;
    }
    // 7. "... verify that the fr calculated is equal to the first_hash
    //    supplied, that the sr calculated is equal to the second_hash
    //    supplied, and that sn is 0."
    if sn != 0 {
        return Err(ProofError::WrongLength { got: proof.len() });
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}
