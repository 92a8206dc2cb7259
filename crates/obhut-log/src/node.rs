//! The seam between the tree math and storage: a [`NodeSource`] answers
//! "the hash of node `(level, index)`", and everything that needs stored
//! hashes (proof generation in [`crate::tree`], rebuilding a right edge in
//! [`crate::compact`], reading tiles in [`crate::tiles`]) asks through it.
//! This is tessera's `integrate.go` habit: the pure code takes its I/O as a
//! closure.
//!
//! A node is named by `(level, index)`: the root of the perfect subtree
//! over leaves `[index * 2^level, (index + 1) * 2^level)`. Level 0 nodes are
//! leaf hashes.

use crate::hash::Hash;

/// Where proof generation gets node hashes from.
pub trait NodeSource {
    /// Why a node could not be read (missing tile, I/O failure upstream).
    type Error;

    /// The hash of the perfect subtree at `(level, index)`, which covers
    /// leaves `[index << level, (index + 1) << level)`.
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

impl<E, F: FnMut(u8, u64) -> Result<Hash, E>> NodeSource for F {
    type Error = E;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, E> {
        self(level, index)
    }
}
