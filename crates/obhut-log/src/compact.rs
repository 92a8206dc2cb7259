//! Compact range: the right edge of a Merkle tree, enough to append and to
//! compute the root without the rest of the tree.
//!
//! A tree of size `n` is the concatenation of perfect subtrees, one per set
//! bit of `n`, largest first (RFC 9162 §2.1.1's split at the largest power
//! of two, applied repeatedly). Keeping their roots (at most 64 hashes) is
//! enough to append a leaf in amortised one node hash and to compute
//! `MTH(D_n)` in at most 63 more. This is the structure transparency-dev's
//! `compact.Range` and tessera's integrate step use.

use crate::hash::{Hash, leaf_hash, node_hash};
use crate::node::NodeSource;

/// The right edge of a tree `[0, size)`: one perfect-subtree root per set
/// bit of `size`, largest (leftmost) first.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CompactRange {
    size: u64,
    /// Roots of the perfect subtrees, leftmost (highest level) first.
    edge: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the right edge of a stored tree of `size` leaves from its
    /// perfect-subtree roots, fetched from `src` (for example tiles). Costs
    /// `popcount(size)` node look-ups.
    pub fn from_source<S: NodeSource>(size: u64, src: &mut S) -> Result<Self, S::Error> {
        let mut edge = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size & (1u64 << level) != 0 {
                edge.push(src.node(level, start >> level)?);
                start += 1u64 << level;
            }
        }
        Ok(CompactRange { size, edge })
    }

    /// Builds from stored edge hashes (as returned by [`CompactRange::edge`]).
    /// Returns `None` when their number does not match `size`.
    pub fn from_edge(size: u64, edge: Vec<Hash>) -> Option<Self> {
        (edge.len() == size.count_ones() as usize).then_some(CompactRange { size, edge })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree roots, leftmost first.
    pub fn edge(&self) -> &[Hash] {
        &self.edge
    }

    /// Appends an entry (hashing it as a leaf) and returns its index.
    pub fn append_entry(&mut self, entry: &[u8]) -> u64 {
        self.append(leaf_hash(entry))
    }

    /// Appends a leaf hash and returns its index.
    pub fn append(&mut self, leaf: Hash) -> u64 {
        self.append_visit(leaf, |_, _, _| {})
    }

    /// Appends a leaf hash, calling `visit(level, index, hash)` for the
    /// leaf (level 0) and for every perfect subtree it completes, so a store
    /// can persist the hashes its tiles need. Returns the leaf's index.
    ///
    /// # Panics
    /// When the tree already holds 2^64 - 1 leaves.
    pub fn append_visit(&mut self, leaf: Hash, mut visit: impl FnMut(u8, u64, &Hash)) -> u64 {
        let index = self.size;
        let new_size = index
            .checked_add(1)
            .expect("a log of 2^64 - 1 entries is full");
        visit(0, index, &leaf);
        let mut h = leaf;
        let mut level = 0u8;
        // Every trailing one bit of the old size is a perfect subtree of the
        // same height as `h` directly to its left: merge them.
        while index & (1u64 << level) != 0 {
            let left = self.edge.pop().expect("edge has one hash per set bit");
            h = node_hash(&left, &h);
            level += 1;
            visit(level, index >> level, &h);
        }
        self.edge.push(h);
        self.size = new_size;
        index
    }

    /// `MTH(D[0:size])`: folds the perfect subtrees from the right
    /// (RFC 9162 §2.1.1).
    pub fn root(&self) -> Hash {
        let mut it = self.edge.iter().rev();
        let Some(last) = it.next() else {
            return Hash::EMPTY_ROOT;
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visit_reports_every_completed_node() {
        let mut cr = CompactRange::new();
        let mut seen = Vec::new();
        for i in 0..8u64 {
            cr.append_visit(leaf_hash(&i.to_be_bytes()), |l, n, _| seen.push((l, n)));
        }
        assert_eq!(
            seen,
            vec![
                (0, 0),
                (0, 1),
                (1, 0),
                (0, 2),
                (0, 3),
                (1, 1),
                (2, 0),
                (0, 4),
                (0, 5),
                (1, 2),
                (0, 6),
                (0, 7),
                (1, 3),
                (2, 1),
                (3, 0)
            ]
        );
        assert_eq!(cr.edge().len(), 1);
    }
}
