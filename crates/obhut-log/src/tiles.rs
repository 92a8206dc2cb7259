//! C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): tile paths, which tile
//! holds which Merkle tree hashes, entry bundles, and a [`NodeSource`] that
//! reads node hashes out of tiles fetched by the caller.
//!
//! tlog-tiles §Merkle Tree: "the n-th tile at level l ... is the sequence of
//! the following Merkle Tree Hashes, with i from 0 to 255:
//! `MTH(D[(n * 256 + i) * 256**l : (n * 256 + i + 1) * 256**l])`". In our
//! `(level, index)` node naming that is node `(8 * l, n * 256 + i)`.

use std::ops::Range;

use crate::hash::{HASH_LEN, Hash, node_hash};
use crate::node::NodeSource;

/// Tree levels per tile level ("a tile represents the entire subtree of
/// height 8").
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile: "Full tiles MUST be exactly 256 hashes wide".
pub const TILE_WIDTH: u64 = 256;

/// Tile or path errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TileError {
    /// A path that is not a tlog-tiles path.
    #[error("malformed tile path {path:?}: {reason}")]
    BadPath {
        /// The path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A tile whose byte length is not 32 × its width.
    #[error("tile {path} has {len} bytes, expected {expected}")]
    BadTileLength {
        /// The tile's path.
        path: String,
        /// Bytes received.
        len: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// An entry too long for a bundle's u16 length prefix.
    #[error("entry of {len} bytes does not fit a uint16 length prefix")]
    EntryTooLong {
        /// Entry length.
        len: usize,
    },
    /// A truncated or over-long entry bundle.
    #[error("malformed entry bundle: {reason}")]
    BadBundle {
        /// What is wrong.
        reason: &'static str,
    },
}

/// A tile: a level-`level` hash tile (or, with [`TileId::entries_path`],
/// the matching entry bundle at level 0) with `width` hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileId {
    /// Tile level, 0..=63 ("`<L>` ... MUST be a decimal ASCII integer
    /// between 0 and 63").
    pub level: u8,
    /// Index of the tile within its level.
    pub index: u64,
    /// Number of hashes, 1..=256; below 256 the tile is partial.
    pub width: u16,
}

/// "`<N>` ... MUST be a non-negative integer encoded into zero-padded
/// 3-digit path elements. All but the last path element MUST begin with an
/// `x`. For example, index 1234067 will be encoded as `x001/x234/067`."
pub fn encode_index(mut n: u64) -> String {
    let mut groups = vec![n % 1000];
    n /= 1000;
    while n > 0 {
        groups.push(n % 1000);
        n /= 1000;
    }
    let mut s = String::new();
    for (i, g) in groups.iter().rev().enumerate() {
        if i > 0 {
            s.push('/');
        }
        if i + 1 < groups.len() {
            s.push('x');
        }
        s.push_str(&format!("{g:03}"));
    }
    s
}

fn parse_small_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse::<u64>().ok().filter(|v| *v <= max)
}

impl TileId {
    /// Whether the tile is partial (fewer than 256 hashes).
    pub fn is_partial(&self) -> bool {
        u64::from(self.width) < TILE_WIDTH
    }

    fn suffix(&self) -> String {
        if self.is_partial() {
            format!(".p/{}", self.width)
        } else {
            String::new()
        }
    }

    /// `tile/<L>/<N>[.p/<W>]`, relative to the log prefix.
    pub fn path(&self) -> String {
        format!(
            "tile/{}/{}{}",
            self.level,
            encode_index(self.index),
            self.suffix()
        )
    }

    /// `tile/entries/<N>[.p/<W>]`: the entry bundle behind this level-0
    /// tile ("`<N>` and `.p/<W>` have the same meaning as in Merkle Tree tile
    /// paths").
    pub fn entries_path(&self) -> String {
        format!("tile/entries/{}{}", encode_index(self.index), self.suffix())
    }

    /// Parses a tile or entry-bundle path. Returns the tile and whether it
    /// is an entry bundle (then `level` is 0).
    pub fn parse_path(path: &str) -> Result<(TileId, bool), TileError> {
        let bad = |reason| TileError::BadPath {
            path: path.into(),
            reason,
        };
        let rest = path
            .strip_prefix("tile/")
            .ok_or(bad("does not start with tile/"))?;
        let (lvl, rest) = rest.split_once('/').ok_or(bad("no level"))?;
        let (level, entries) = if lvl == "entries" {
            (0u8, true)
        } else {
            let l = parse_small_decimal(lvl, 63)
                .ok_or(bad("level is not 0..=63 without leading zeroes"))?;
            (l as u8, false)
        };
        let (idx, width) = match rest.split_once(".p/") {
            Some((idx, w)) => {
                let w = parse_small_decimal(w, 255)
                    .filter(|w| *w >= 1)
                    .ok_or(bad("partial width is not 1..=255 without leading zeroes"))?;
                (idx, w as u16)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        let groups: Vec<&str> = idx.split('/').collect();
        let mut index: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let last = i + 1 == groups.len();
            let digits = if last {
                *g
            } else {
                g.strip_prefix('x')
                    .ok_or(bad("non-final index element without 'x'"))?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("index element is not 3 digits"));
            }
            if i == 0 && groups.len() > 1 && digits == "000" {
                return Err(bad("index has a leading zero group"));
            }
            let v: u64 = digits
                .parse()
                .map_err(|_| bad("index element is not decimal"))?;
            index = index
                .checked_mul(1000)
                .and_then(|x| x.checked_add(v))
                .ok_or(bad("index overflows 64 bits"))?;
        }
        Ok((
            TileId {
                level,
                index,
                width,
            },
            entries,
        ))
    }

    /// The leaf range `[start, end)` a full tile of this position spans:
    /// "The tile's start index is defined to be `n * 256**(l+1)`."
    pub fn leaf_range(&self) -> Range<u128> {
        let span = 1u128 << (u32::from(TILE_HEIGHT) * (u32::from(self.level) + 1));
        let start = u128::from(self.index) * span;
        start..start + span
    }
}

/// Width of tile `index` at tile level `level` in a tree of `size` leaves:
/// 256 for a full tile, "floor(s / 256**l) mod 256" for the partial one,
/// `None` if the tile does not exist ("Empty tiles MUST NOT be served").
pub fn tile_width(level: u8, index: u64, size: u64) -> Option<u16> {
    let shift = u32::from(TILE_HEIGHT) * u32::from(level);
    let hashes = if shift >= 64 { 0 } else { size >> shift };
    let first = u128::from(index) * u128::from(TILE_WIDTH);
    let avail = u128::from(hashes).checked_sub(first)?;
    if avail == 0 {
        return None;
    }
    Some(avail.min(u128::from(TILE_WIDTH)) as u16)
}

/// Whether tile `t` exists in a tree of `size` leaves at its stated width
/// (a partial tile may be asked for at any width up to the current one:
/// tlog-tiles keeps serving the partial tiles of published checkpoints).
pub fn tile_in_tree(t: &TileId, size: u64) -> bool {
    tile_width(t.level, t.index, size).is_some_and(|w| w >= t.width)
}

/// The tiles a tree of `size` leaves is published as, after growing from
/// `old_size`: every tile that is new or wider (partial tiles of the new
/// size included). Level by level, lowest first.
pub fn new_tiles(old_size: u64, size: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    for level in 0..=63u8 {
        let shift = u32::from(TILE_HEIGHT) * u32::from(level);
        if shift >= 64 || size >> shift == 0 {
            break;
        }
        let old_hashes = old_size >> shift;
        let new_hashes = size >> shift;
        let first = old_hashes / TILE_WIDTH;
        let last = (new_hashes - 1) / TILE_WIDTH;
        for index in first..=last {
            let Some(width) = tile_width(level, index, size) else {
                continue;
            };
            if tile_width(level, index, old_size) == Some(width) {
                continue;
            }
            out.push(TileId {
                level,
                index,
                width,
            });
        }
    }
    out
}

/// Where node `(level, index)` of a tree of `size` leaves is found: the tile
/// to read and the range of its hashes whose perfect-subtree root is the
/// node. "The Merkle Tree levels between those expressed by the tile hashes
/// are reconstructed by hashing the leaves." `None` if the node is not
/// complete in this tree.
pub fn locate_node(level: u8, index: u64, size: u64) -> Option<(TileId, Range<usize>)> {
    if level >= 64 {
        return None;
    }
    let end = (u128::from(index) + 1) << level;
    if end > u128::from(size) {
        return None;
    }
    let tile_level = level / TILE_HEIGHT;
    let sub = level % TILE_HEIGHT;
    let first_hash = u128::from(index) << sub;
    let tile_index = (first_hash / u128::from(TILE_WIDTH)) as u64;
    let offset = (first_hash % u128::from(TILE_WIDTH)) as usize;
    let width = tile_width(tile_level, tile_index, size)?;
    let tile = TileId {
        level: tile_level,
        index: tile_index,
        width,
    };
    Some((tile, offset..offset + (1usize << sub)))
}

/// The root of a perfect subtree given its `2^k` bottom hashes (a slice of
/// a tile).
pub fn subtree_root(hashes: &[Hash]) -> Hash {
    debug_assert!(hashes.len().is_power_of_two());
    if hashes.len() == 1 {
        return hashes[0];
    }
    let (l, r) = hashes.split_at(hashes.len() / 2);
    node_hash(&subtree_root(l), &subtree_root(r))
}

/// Splits a hash tile's bytes into hashes, checking the length against the
/// tile's width.
pub fn parse_tile(tile: &TileId, bytes: &[u8]) -> Result<Vec<Hash>, TileError> {
    let expected = usize::from(tile.width) * HASH_LEN;
    if bytes.len() != expected {
        return Err(TileError::BadTileLength {
            path: tile.path(),
            len: bytes.len(),
            expected,
        });
    }
    Ok(bytes
        .chunks_exact(HASH_LEN)
        .map(|c| Hash(c.try_into().expect("chunks are 32 bytes")))
        .collect())
}

/// Encodes an entry bundle: "sequences of big-endian uint16 length-prefixed
/// log entries".
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::new();
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLong { len: e.len() })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decodes an entry bundle of exactly `width` entries.
pub fn decode_bundle(bytes: &[u8], width: u16) -> Result<Vec<&[u8]>, TileError> {
    let mut out = Vec::with_capacity(usize::from(width));
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 2 {
            return Err(TileError::BadBundle {
                reason: "truncated length",
            });
        }
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        if rest.len() < 2 + len {
            return Err(TileError::BadBundle {
                reason: "truncated entry",
            });
        }
        out.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    if out.len() != usize::from(width) {
        return Err(TileError::BadBundle {
            reason: "entry count differs from the tile width",
        });
    }
    Ok(out)
}

/// A [`NodeSource`] over tiles: `fetch` returns a hash tile's bytes (the
/// caller's storage or HTTP), this type picks the tile for each node and
/// rehashes inside it. The last tile read is cached.
pub struct TileSource<F> {
    size: u64,
    fetch: F,
    cache: Option<(TileId, Vec<Hash>)>,
}

/// A [`TileSource`] read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TileSourceError<E> {
    /// The node is not complete in a tree of this size (a caller bug).
    #[error("node ({level}, {index}) is not in a tree of size {size}")]
    NoSuchNode {
        /// Node level.
        level: u8,
        /// Node index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// The fetch closure failed.
    #[error("fetching a tile failed")]
    Fetch(#[source] E),
    /// The tile has the wrong length.
    #[error(transparent)]
    Tile(TileError),
}

impl<F> TileSource<F> {
    /// Nodes of the tree of `size` leaves, read with `fetch`.
    pub fn new(size: u64, fetch: F) -> Self {
        TileSource {
            size,
            fetch,
            cache: None,
        }
    }
}

impl<E, F: FnMut(&TileId) -> Result<Vec<u8>, E>> NodeSource for TileSource<F> {
    type Error = TileSourceError<E>;

    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        let (tile, range) =
            locate_node(level, index, self.size).ok_or(TileSourceError::NoSuchNode {
                level,
                index,
                size: self.size,
            })?;
        let cached = matches!(&self.cache, Some((t, _)) if *t == tile);
        if !cached {
            let bytes = (self.fetch)(&tile).map_err(TileSourceError::Fetch)?;
            let hashes = parse_tile(&tile, &bytes).map_err(TileSourceError::Tile)?;
            self.cache = Some((tile, hashes));
        }
        let (_, hashes) = self.cache.as_ref().expect("filled above");
        Ok(subtree_root(&hashes[range]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_encoding_matches_spec_example() {
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(1000), "x001/000");
        let t = TileId {
            level: 1,
            index: 1234067,
            width: 17,
        };
        assert_eq!(t.path(), "tile/1/x001/x234/067.p/17");
        assert_eq!(TileId::parse_path(&t.path()), Ok((t, false)));
        let e = TileId {
            level: 0,
            index: 5,
            width: 256,
        };
        assert_eq!(e.entries_path(), "tile/entries/005");
        assert_eq!(TileId::parse_path("tile/entries/005"), Ok((e, true)));
        for bad in [
            "tile/64/000",
            "tile/01/000",
            "tile/0/5",
            "tile/0/x000/005",
            "tile/0/001/002",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/017x",
            "tiles/0/000",
        ] {
            assert!(TileId::parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spec_example_tree_of_70000() {
        // "a tree of size 70,000 will be represented by 273 full level 0
        // tiles, one partial level 0 tile of width 112, one full level 1
        // tile, one partial level 1 tile of width 17, and one partial level
        // 2 tile of width 1."
        let tiles = new_tiles(0, 70_000);
        let full0 = tiles
            .iter()
            .filter(|t| t.level == 0 && !t.is_partial())
            .count();
        assert_eq!(full0, 273);
        let partial: Vec<_> = tiles
            .iter()
            .filter(|t| t.is_partial())
            .map(|t| (t.level, t.width))
            .collect();
        assert_eq!(partial, vec![(0, 112), (1, 17), (2, 1)]);
        assert_eq!(
            tiles
                .iter()
                .filter(|t| t.level == 1 && !t.is_partial())
                .count(),
            1
        );
        // "a tree of size 256 will be represented by a full level 0 tile and
        // a partial level 1 tile of width 1."
        let t256 = new_tiles(0, 256);
        assert_eq!(t256.len(), 2);
        assert_eq!((t256[1].level, t256[1].width), (1, 1));
    }

    #[test]
    fn bundles_round_trip_and_refuse_garbage() {
        let e: Vec<&[u8]> = vec![b"", b"a", &[7u8; 300]];
        let b = encode_bundle(&e).unwrap();
        assert_eq!(decode_bundle(&b, 3).unwrap(), e);
        assert!(decode_bundle(&b, 2).is_err());
        assert!(decode_bundle(&b[..b.len() - 1], 3).is_err());
        assert!(encode_bundle(&[vec![0u8; 70_000]]).is_err());
    }

    #[test]
    fn tiles_in_tree() {
        let full = |level, index| TileId {
            level,
            index,
            width: 256,
        };
        let partial = |level, index, width| TileId {
            level,
            index,
            width,
        };
        assert!(tile_in_tree(&full(0, 0), 256));
        assert!(!tile_in_tree(&full(0, 1), 300));
        assert!(tile_in_tree(&partial(0, 1, 44), 300));
        assert!(tile_in_tree(&partial(0, 1, 10), 300));
        assert!(!tile_in_tree(&partial(0, 1, 45), 300));
        assert!(tile_in_tree(&partial(1, 0, 1), 300));
        assert!(!tile_in_tree(&partial(1, 0, 2), 300));
        assert!(!tile_in_tree(&partial(2, 0, 1), 300));
        assert!(!tile_in_tree(&partial(0, 0, 1), 0));
    }
}
