//! Property tests: every proof we generate verifies, every altered proof
//! fails, and the three ways of computing nodes (in memory, compact range,
//! tiles) agree.

use std::convert::Infallible;

use obhut_log::tiles::{TileId, TileSource, new_tiles};
use obhut_log::{
    CompactRange, Hash, MemoryTree, leaf_hash, tree, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

fn tree_of(n: u64, salt: u8) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        t.append_entry(&[&[salt][..], &i.to_be_bytes()].concat());
    }
    t
}

/// The bytes of hash tile `tile` of `t` (tlog-tiles layout: hash `i` of
/// tile `(L, N)` is node `(8L, 256N + i)`).
fn tile_bytes(t: &MemoryTree, tile: &TileId) -> Vec<u8> {
    let mut src = t.source();
    let mut out = Vec::new();
    for i in 0..u64::from(tile.width) {
        let h = src(tile.level * 8, tile.index * 256 + i).unwrap();
        out.extend_from_slice(&h.0);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// All inclusion proofs of a random tree verify; flipping any bit of
    /// any proof hash, or using the wrong index, fails.
    #[test]
    fn every_inclusion_proof_verifies(n in 1u64..160, salt: u8, bit in 0usize..256) {
        let t = tree_of(n, salt);
        let root = t.root();
        for i in 0..n {
            let leaf = t.leaf(i).unwrap();
            let proof = t.inclusion_proof(i, n).unwrap();
            prop_assert!(verify_inclusion(&leaf, i, n, &proof, &root).is_ok());
            for k in 0..proof.len() {
                let mut bad = proof.clone();
                bad[k].0[bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_inclusion(&leaf, i, n, &bad, &root).is_err());
            }
            if n > 1 {
                prop_assert!(verify_inclusion(&leaf, (i + 1) % n, n, &proof, &root).is_err());
            }
        }
    }

    /// All consistency proofs between sizes m <= n of a random tree verify;
    /// altering any hash fails.
    #[test]
    fn every_consistency_proof_verifies(n in 1u64..100, salt: u8, bit in 0usize..256) {
        let t = tree_of(n, salt);
        let roots: Vec<Hash> = (0..=n).map(|s| t.root_at(s).unwrap()).collect();
        for m in 0..=n {
            for k in m..=n {
                let proof = t.consistency_proof(m, k).unwrap();
                prop_assert!(
                    verify_consistency(m, k, &roots[m as usize], &roots[k as usize], &proof).is_ok(),
                    "{} -> {}", m, k
                );
                for j in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[j].0[bit / 8] ^= 1 << (bit % 8);
                    prop_assert!(
                        verify_consistency(m, k, &roots[m as usize], &roots[k as usize], &bad).is_err()
                    );
                }
            }
        }
    }

    /// Larger trees: random proofs in trees up to 2^14 leaves, nodes
    /// computed on demand from a leaf function.
    #[test]
    fn proofs_in_larger_trees(n in 1u64..(1 << 14), a: u64, b: u64) {
        let mut src = |level: u8, index: u64| -> Result<Hash, Infallible> {
            Ok(synthetic_node(level, index))
        };
        let root = tree::root(n, &mut src).unwrap();
        let i = a % n;
        let p = tree::inclusion_proof(i, n, &mut src).unwrap();
        prop_assert!(verify_inclusion(&synthetic_node(0, i), i, n, &p, &root).is_ok());
        let m = b % (n + 1);
        let rm = tree::root(m, &mut src).unwrap();
        let c = tree::consistency_proof(m, n, &mut src).unwrap();
        prop_assert!(verify_consistency(m, n, &rm, &root, &c).is_ok());
    }

    /// The compact range, the in-memory tree and tiles give the same roots
    /// and proofs; a compact range resumed from stored nodes continues
    /// correctly.
    #[test]
    fn compact_memory_and_tiles_agree(n in 1u64..1500, extra in 0u64..600, salt: u8, i: u64) {
        let t = tree_of(n + extra, salt);
        let mut cr = CompactRange::new();
        for k in 0..n {
            cr.append(t.leaf(k).unwrap());
        }
        prop_assert_eq!(cr.root(), t.root_at(n).unwrap());
        let mut resumed = CompactRange::from_source(n, &mut t.source()).unwrap();
        prop_assert_eq!(&resumed, &cr);
        for k in n..n + extra {
            resumed.append(t.leaf(k).unwrap());
        }
        prop_assert_eq!(resumed.root(), t.root());

        let size = n + extra;
        let mut fetched = Vec::new();
        let mut ts = TileSource::new(size, |tile: &TileId| -> Result<Vec<u8>, Infallible> {
            fetched.push(*tile);
            Ok(tile_bytes(&t, tile))
        });
        prop_assert_eq!(tree::root(size, &mut ts).unwrap(), t.root());
        let i = i % size;
        prop_assert_eq!(
            tree::inclusion_proof(i, size, &mut ts).unwrap(),
            t.inclusion_proof(i, size).unwrap()
        );
        prop_assert_eq!(
            tree::consistency_proof(n, size, &mut ts).unwrap(),
            t.consistency_proof(n, size).unwrap()
        );
        drop(ts);
        // Only tiles that a checkpoint of this size publishes were read.
        let published = new_tiles(0, size);
        for f in fetched {
            prop_assert!(published.contains(&f), "read unpublished tile {:?}", f);
        }
    }
}

/// A node of a virtual tree whose leaf `i` is `leaf_hash(i as big-endian)`,
/// computed recursively (no storage).
fn synthetic_node(level: u8, index: u64) -> Hash {
    if level == 0 {
        return leaf_hash(&index.to_be_bytes());
    }
    obhut_log::node_hash(
        &synthetic_node(level - 1, 2 * index),
        &synthetic_node(level - 1, 2 * index + 1),
    )
}
