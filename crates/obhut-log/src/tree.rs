//! Proof generation over node hashes supplied by the caller.
//!
//! The tree math never touches storage: it asks a [`NodeSource`] for the
//! hash of a perfect subtree, and the vault answers from its tiles (or a
//! test from memory). This is tessera's `integrate.go` habit: the pure code
//! takes its I/O as a closure.
//!
//! A node is named by `(level, index)`: the root of the perfect subtree
//! over leaves `[index * 2^level, (index + 1) * 2^level)`. Level 0 nodes are
//! leaf hashes. Proof generation only asks for nodes that lie entirely
//! inside the tree it proves for, so a tiled store needs only full tiles and
//! the partial tiles of published checkpoints (C2SP tlog-tiles).

use std::convert::Infallible;

use crate::compact::CompactRange;
use crate::hash::Hash;
pub use crate::node::NodeSource;

/// Proof generation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProveError<E> {
    /// Asked to prove a leaf the tree does not have.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// Asked for consistency from a larger tree to a smaller one.
    #[error("no consistency proof from size {old} to smaller size {new}")]
    OldLargerThanNew {
        /// The old (first) size.
        old: u64,
        /// The new (second) size.
        new: u64,
    },
    /// Asked about a tree size beyond what the store holds.
    #[error("tree size {requested} is beyond the stored {available} leaves")]
    BeyondTree {
        /// Size asked for.
        requested: u64,
        /// Leaves stored.
        available: u64,
    },
    /// The node source failed.
    #[error("node source failed")]
    Source(#[source] E),
}

/// Largest power of two strictly smaller than `n` (`n >= 2`): RFC 9162
/// §2.1.1's split point `k`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[lo:hi])` for a range produced by RFC 9162's recursive split, i.e.
/// `lo` is a multiple of the smallest power of two `>= hi - lo`. The range
/// is a sequence of perfect subtrees (one per set bit of `hi - lo`), folded
/// from the right.
pub fn range_hash<S: NodeSource>(lo: u64, hi: u64, src: &mut S) -> Result<Hash, S::Error> {
    debug_assert!(lo <= hi);
    let width = hi - lo;
    if width == 0 {
        return Ok(Hash::EMPTY_ROOT);
    }
    let mut nodes = [Hash::default(); 64];
    let mut count = 0;
    let mut start = lo;
    for level in (0..64u8).rev() {
        if width & (1u64 << level) != 0 {
            debug_assert_eq!(start % (1u64 << level), 0, "unaligned range");
            nodes[count] = src.node(level, start >> level)?;
            count += 1;
            start += 1u64 << level;
        }
    }
    let mut acc = nodes[count - 1];
    for left in nodes[..count - 1].iter().rev() {
        acc = crate::hash::node_hash(left, &acc);
    }
    Ok(acc)
}

/// `MTH(D[0:size])` from stored nodes.
pub fn root<S: NodeSource>(size: u64, src: &mut S) -> Result<Hash, S::Error> {
    range_hash(0, size, src)
}

/// The inclusion proof (audit path) of leaf `index` in the tree of `size`
/// leaves: RFC 9162 §2.1.3.1,
///
/// ```text
/// PATH(m, D_n) = PATH(m, D[0:k]) : MTH(D[k:n])   for m < k
/// PATH(m, D_n) = PATH(m - k, D[k:n]) : MTH(D[0:k])   for m >= k
/// ```
///
/// Hashes are ordered from the leaf's sibling up to the root's child.
pub fn inclusion_proof<S: NodeSource>(
    index: u64,
    size: u64,
    src: &mut S,
) -> Result<Vec<Hash>, ProveError<S::Error>> {
    if index >= size {
        return Err(ProveError::IndexOutOfRange { index, size });
    }
    let (mut lo, mut hi, mut m) = (0u64, size, index);
    let mut top_down = Vec::with_capacity(64);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if m < k {
            top_down.push(range_hash(lo + k, hi, src).map_err(ProveError::Source)?);
            hi = lo + k;
        } else {
            top_down.push(range_hash(lo, lo + k, src).map_err(ProveError::Source)?);
            lo += k;
            m -= k;
        }
    }
    top_down.reverse();
    Ok(top_down)
}

/// The consistency proof from the tree of `old` leaves to the tree of `new`
/// leaves: RFC 9162 §2.1.4.1,
///
/// ```text
/// PROOF(m, D_n) = SUBPROOF(m, D_n, true)
/// SUBPROOF(m, D_m, true) = {}        SUBPROOF(m, D_m, false) = {MTH(D_m)}
/// SUBPROOF(m, D_n, b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])      for m <= k
/// SUBPROOF(m, D_n, b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])   for m > k
/// ```
///
/// The proof between equal sizes, or from size 0, is empty.
pub fn consistency_proof<S: NodeSource>(
    old: u64,
    new: u64,
    src: &mut S,
) -> Result<Vec<Hash>, ProveError<S::Error>> {
    if old > new {
        return Err(ProveError::OldLargerThanNew { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let (mut lo, mut hi, mut m, mut b) = (0u64, new, old, true);
    let mut top_down = Vec::with_capacity(64);
    while m != hi - lo {
        let k = split(hi - lo);
        if m <= k {
            top_down.push(range_hash(lo + k, hi, src).map_err(ProveError::Source)?);
            hi = lo + k;
        } else {
            top_down.push(range_hash(lo, lo + k, src).map_err(ProveError::Source)?);
            lo += k;
            m -= k;
            b = false;
        }
    }
    let mut proof = Vec::with_capacity(top_down.len() + 1);
    if !b {
        proof.push(range_hash(lo, hi, src).map_err(ProveError::Source)?);
    }
    proof.extend(top_down.into_iter().rev());
    Ok(proof)
}

/// A whole tree in memory, every level stored: for tests, tools that rebuild
/// a log from its entries (`obhut audit verify` in full mode) and small logs.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is node `(l, i)`.
    levels: Vec<Vec<Hash>>,
    edge: CompactRange,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.edge.size()
    }

    /// Appends an entry; returns its index.
    pub fn append_entry(&mut self, entry: &[u8]) -> u64 {
        self.append(crate::hash::leaf_hash(entry))
    }

    /// Appends a leaf hash; returns its index.
    pub fn append(&mut self, leaf: Hash) -> u64 {
        let levels = &mut self.levels;
        self.edge.append_visit(leaf, |level, index, h| {
            let l = usize::from(level);
            if levels.len() <= l {
                levels.resize_with(l + 1, Vec::new);
            }
            debug_assert_eq!(levels[l].len() as u64, index);
            levels[l].push(*h);
        })
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        self.edge.root()
    }

    /// The root of the tree's first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProveError<Infallible>> {
        if size > self.size() {
            return Err(ProveError::BeyondTree {
                requested: size,
                available: self.size(),
            });
        }
        Ok(root(size, &mut self.source()).unwrap_or_else(|e| match e {}))
    }

    /// Leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels
            .first()?
            .get(usize::try_from(index).ok()?)
            .copied()
    }

    /// Inclusion proof of leaf `index` in the tree of the first `size`
    /// leaves.
    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, ProveError<Infallible>> {
        if size > self.size() {
            return Err(ProveError::BeyondTree {
                requested: size,
                available: self.size(),
            });
        }
        inclusion_proof(index, size, &mut self.source())
    }

    /// Consistency proof between two of this tree's past sizes.
    pub fn consistency_proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<Vec<Hash>, ProveError<Infallible>> {
        if new > self.size() {
            return Err(ProveError::BeyondTree {
                requested: new,
                available: self.size(),
            });
        }
        consistency_proof(old, new, &mut self.source())
    }

    /// This tree as a [`NodeSource`]. Panics (a caller bug) if asked for a
    /// node the tree does not hold.
    pub fn source(&self) -> impl FnMut(u8, u64) -> Result<Hash, Infallible> + '_ {
        |level, index| {
            Ok(self.levels[usize::from(level)][usize::try_from(index).expect("index fits usize")])
        }
    }
}
