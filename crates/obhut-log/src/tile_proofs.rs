//! Inclusion and consistency proofs of a tiled log (C2SP tlog-tiles): which
//! hash tiles a proof reads, and the proof from those tiles. Fetching them
//! is the caller's business; this module never does I/O.
//!
//! The nodes a proof asks for depend on the tree sizes only, never on the
//! hashes, so the tiles can be named before any is read. A server with an
//! async store therefore proves in three steps, none of which blocks inside
//! the tree math:
//!
//! 1. [`inclusion_tiles`] (or [`consistency_tiles`]): the tiles needed;
//! 2. fetch them, each cut to the width the tree of `size` gives it;
//! 3. [`prove_inclusion`] (or [`prove_consistency`]) with a closure over
//!    what was fetched.
//!
//! This is tessera's `integrate.go` habit (pass I/O into pure code), the
//! same seam as [`NodeSource`] one level up.

use std::convert::Infallible;

use crate::hash::Hash;
use crate::node::NodeSource;
use crate::tiles::{TileId, TileSource, TileSourceError, locate_node};
use crate::tree::{ProveError, consistency_proof, inclusion_proof};

/// A proof from tiles failed: bad sizes ([`ProveError::IndexOutOfRange`],
/// [`ProveError::OldLargerThanNew`]) or a tile that could not be read
/// ([`ProveError::Source`], carrying the fetch closure's error `E`).
pub type TileProveError<E> = ProveError<TileSourceError<E>>;

/// A [`NodeSource`] that answers every node with a placeholder and notes the
/// tile holding it: running a proof over it names the tiles the proof reads.
struct NeededTiles {
    size: u64,
    tiles: Vec<TileId>,
}

impl NodeSource for NeededTiles {
    type Error = TileSourceError<Infallible>;

    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        let (tile, _) =
            locate_node(level, index, self.size).ok_or(TileSourceError::NoSuchNode {
                level,
                index,
                size: self.size,
            })?;
        if !self.tiles.contains(&tile) {
            self.tiles.push(tile);
        }
        Ok(Hash::default())
    }
}

/// The hash tiles [`prove_inclusion`] reads for leaf `index` in the tree of
/// `size` leaves, each once, in the order it reads them.
pub fn inclusion_tiles(index: u64, size: u64) -> Result<Vec<TileId>, TileProveError<Infallible>> {
    let mut need = NeededTiles {
        size,
        tiles: Vec::new(),
    };
    inclusion_proof(index, size, &mut need)?;
    Ok(need.tiles)
}

/// The hash tiles [`prove_consistency`] reads between the trees of `old` and
/// `size` leaves, each once, in the order it reads them.
pub fn consistency_tiles(old: u64, size: u64) -> Result<Vec<TileId>, TileProveError<Infallible>> {
    let mut need = NeededTiles {
        size,
        tiles: Vec::new(),
    };
    consistency_proof(old, size, &mut need)?;
    Ok(need.tiles)
}

/// RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the tree of `size`
/// leaves, from hash tiles: `fetch` returns a tile's bytes (exactly
/// `32 × width`).
pub fn prove_inclusion<E>(
    index: u64,
    size: u64,
    fetch: impl FnMut(&TileId) -> Result<Vec<u8>, E>,
) -> Result<Vec<Hash>, TileProveError<E>> {
    inclusion_proof(index, size, &mut TileSource::new(size, fetch))
}

/// RFC 9162 §2.1.4.1 consistency proof from the tree of `old` leaves to the
/// tree of `size` leaves, from hash tiles: `fetch` returns a tile's bytes
/// (exactly `32 × width`).
pub fn prove_consistency<E>(
    old: u64,
    size: u64,
    fetch: impl FnMut(&TileId) -> Result<Vec<u8>, E>,
) -> Result<Vec<Hash>, TileProveError<E>> {
    consistency_proof(old, size, &mut TileSource::new(size, fetch))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::tiles::{TILE_HEIGHT, TILE_WIDTH, new_tiles, tile_in_tree, tile_width};
    use crate::tree::MemoryTree;

    fn tree_of(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.append_entry(&i.to_be_bytes());
        }
        t
    }

    /// Every hash tile of `t` (tlog-tiles layout: hash `i` of tile `(L, N)`
    /// is node `(8L, 256N + i)`), as a store would hold them.
    fn tiles_of(t: &MemoryTree) -> HashMap<TileId, Vec<u8>> {
        let mut src = t.source();
        let mut out = HashMap::new();
        for tile in new_tiles(0, t.size()) {
            let mut bytes = Vec::new();
            for i in 0..u64::from(tile.width) {
                let h = src
                    .node(tile.level * TILE_HEIGHT, tile.index * TILE_WIDTH + i)
                    .unwrap();
                bytes.extend_from_slice(&h.0);
            }
            out.insert(tile, bytes);
        }
        out
    }

    /// A fetch over `tiles` that records each tile it was asked for, once,
    /// in the order first asked ([`TileSource`] keeps only the last tile, so
    /// it may ask for one again).
    fn fetcher<'a>(
        tiles: &'a HashMap<TileId, Vec<u8>>,
        asked: &'a mut Vec<TileId>,
    ) -> impl FnMut(&TileId) -> Result<Vec<u8>, TileId> + 'a {
        move |t| {
            if !asked.contains(t) {
                asked.push(*t);
            }
            tiles.get(t).cloned().ok_or(*t)
        }
    }

    #[test]
    fn tiled_proofs_equal_the_in_memory_ones() {
        // Sizes around the tile boundaries of levels 0 and 1.
        for n in [
            1u64, 2, 7, 255, 256, 257, 511, 513, 65_535, 65_536, 65_537, 70_000,
        ] {
            let t = tree_of(n);
            let tiles = tiles_of(&t);
            let mut probes = vec![0, n / 3, n / 2, n - 1];
            probes.dedup();
            for &i in &probes {
                let need = inclusion_tiles(i, n).unwrap();
                let mut asked = Vec::new();
                let p = prove_inclusion(i, n, fetcher(&tiles, &mut asked)).unwrap();
                assert_eq!(p, t.inclusion_proof(i, n).unwrap(), "inclusion {i}/{n}");
                assert_eq!(asked, need, "tiles read for inclusion {i}/{n}");
            }
            for &old in &probes {
                let need = consistency_tiles(old, n).unwrap();
                let mut asked = Vec::new();
                let p = prove_consistency(old, n, fetcher(&tiles, &mut asked)).unwrap();
                assert_eq!(
                    p,
                    t.consistency_proof(old, n).unwrap(),
                    "consistency {old}->{n}"
                );
                assert_eq!(asked, need, "tiles read for consistency {old}->{n}");
            }
        }
    }

    #[test]
    fn only_tiles_of_the_tree_are_read() {
        // Proving in an older, smaller tree of a grown log reads that tree's
        // tiles only: the partial ones at their older width.
        let t = tree_of(1_000);
        for (i, n) in [(3u64, 300u64), (299, 300), (0, 513)] {
            for tile in inclusion_tiles(i, n).unwrap() {
                assert!(tile_in_tree(&tile, n), "{tile:?} in {n}");
                assert_eq!(Some(tile.width), tile_width(tile.level, tile.index, n));
            }
            for tile in consistency_tiles(i + 1, n).unwrap() {
                assert!(tile_in_tree(&tile, n), "{tile:?} in {n}");
            }
            let older = tiles_of(&tree_of(n));
            let p = prove_inclusion(i, n, |t: &TileId| older.get(t).cloned().ok_or(*t)).unwrap();
            assert_eq!(p, t.inclusion_proof(i, n).unwrap());
        }
    }

    #[test]
    fn sizes_and_missing_tiles_are_errors() {
        assert!(matches!(
            inclusion_tiles(5, 5),
            Err(ProveError::IndexOutOfRange { index: 5, size: 5 })
        ));
        assert!(matches!(
            consistency_tiles(6, 5),
            Err(ProveError::OldLargerThanNew { old: 6, new: 5 })
        ));
        assert!(consistency_tiles(0, 5).unwrap().is_empty());
        assert!(consistency_tiles(5, 5).unwrap().is_empty());
        // The first node leaf 0's path needs is MTH(D[256:300]), in the
        // partial level-0 tile.
        let missing = prove_inclusion(0, 300, |t: &TileId| Err::<Vec<u8>, _>(*t));
        assert!(matches!(
            missing,
            Err(ProveError::Source(TileSourceError::Fetch(TileId {
                level: 0,
                index: 1,
                width: 44
            })))
        ));
        let short = prove_inclusion(0, 2, |_: &TileId| Ok::<_, Infallible>(vec![0; 32]));
        assert!(matches!(
            short,
            Err(ProveError::Source(TileSourceError::Tile(_)))
        ));
    }
}
