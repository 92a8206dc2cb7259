//! RFC 6962 reference tree of 8 leaves, from Certificate Transparency's test
//! data as carried by transparency-dev/merkle `proof/verify_test.go`
//! (`leaves`, `roots`, `inclusionProofs`, `consistencyProofs`; its leaf
//! numbers are 1-based, ours are 0-based indexes). The same data is in
//! google/certificate-transparency's `merkle_tree_test.cc`.

use obhut_log::tiles::TileId;
use obhut_log::{
    Hash, MemoryTree, ProofError, consistency_proof, inclusion_proof, leaf_hash, tile_proofs,
    verify_consistency, verify_inclusion,
};

fn h(s: &str) -> Hash {
    Hash(hex::decode(s).unwrap().try_into().unwrap())
}

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// `roots[i]` is the root of the tree of the first `i + 1` leaves.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (leaf index, tree size, proof), converted to 0-based indexes.
fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (
            0,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            5,
            8,
            vec![
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            3,
            vec![h(
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            )],
        ),
        (
            1,
            5,
            vec![
                h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
        (0, 1, vec![]),
    ]
}

/// (old size, new size, proof).
fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            5,
            vec![
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
        (
            6,
            7,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
    ]
}

fn reference_tree() -> MemoryTree {
    let mut t = MemoryTree::new();
    for l in LEAVES {
        t.append_entry(&hex::decode(l).unwrap());
    }
    t
}

fn root(size: u64) -> Hash {
    h(ROOTS[size as usize - 1])
}

#[test]
fn roots_per_size() {
    let t = reference_tree();
    for size in 1..=8u64 {
        assert_eq!(t.root_at(size).unwrap(), root(size), "size {size}");
    }
    assert_eq!(t.root(), root(8));
    assert_eq!(t.root_at(0).unwrap(), Hash::EMPTY_ROOT);
}

#[test]
fn inclusion_proofs_generated_and_verified() {
    let t = reference_tree();
    for (index, size, proof) in inclusion_vectors() {
        assert_eq!(
            t.inclusion_proof(index, size).unwrap(),
            proof,
            "generate {index}/{size}"
        );
        let leaf = leaf_hash(&hex::decode(LEAVES[index as usize]).unwrap());
        verify_inclusion(&leaf, index, size, &proof, &root(size)).unwrap();
        // Via the closure-based generator too.
        assert_eq!(
            inclusion_proof(index, size, &mut t.source()).unwrap(),
            proof
        );
    }
}

#[test]
fn consistency_proofs_generated_and_verified() {
    let t = reference_tree();
    for (old, new, proof) in consistency_vectors() {
        assert_eq!(
            t.consistency_proof(old, new).unwrap(),
            proof,
            "generate {old}->{new}"
        );
        assert_eq!(consistency_proof(old, new, &mut t.source()).unwrap(), proof);
        verify_consistency(old, new, &root(old), &root(new), &proof).unwrap();
    }
}

/// The same vectors through the tiled path (what the vault serves): the
/// tiles each proof names, read from the reference tree's one partial
/// level-0 tile at the width of the proof's tree.
#[test]
fn vectors_through_tiles() {
    let t = reference_tree();
    let tile = |size: u64| {
        let mut src = t.source();
        let bytes: Vec<u8> = (0..size).flat_map(|i| src(0, i).unwrap().0).collect();
        let id = TileId {
            level: 0,
            index: 0,
            width: size as u16,
        };
        move |want: &TileId| {
            if *want == id {
                Ok(bytes.clone())
            } else {
                Err(*want)
            }
        }
    };
    for (index, size, proof) in inclusion_vectors() {
        let need = tile_proofs::inclusion_tiles(index, size).unwrap();
        assert!(need.len() <= 1, "{index}/{size}: {need:?}");
        assert_eq!(
            tile_proofs::prove_inclusion(index, size, tile(size)).unwrap(),
            proof,
            "tiled {index}/{size}"
        );
    }
    for (old, new, proof) in consistency_vectors() {
        assert_eq!(
            tile_proofs::prove_consistency(old, new, tile(new)).unwrap(),
            proof,
            "tiled {old}->{new}"
        );
    }
}

/// The corruptions transparency-dev/merkle applies to each known-good proof
/// (`corruptInclusionProof`, `corruptConsistencyProof`): all must fail.
#[test]
fn corrupted_vectors_fail() {
    let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
    for (index, size, proof) in inclusion_vectors() {
        let leaf = leaf_hash(&hex::decode(LEAVES[index as usize]).unwrap());
        let r = root(size);
        let mut probes: Vec<(u64, u64, Hash, Vec<Hash>, Hash)> = vec![
            (index.wrapping_sub(1), size, leaf, proof.clone(), r),
            (index + 1, size, leaf, proof.clone(), r),
            (index ^ 2, size, leaf, proof.clone(), r),
            (index, size * 2, leaf, proof.clone(), r),
            (index, size / 2, leaf, proof.clone(), r),
            (index, size, leaf_hash(b"WrongLeaf"), proof.clone(), r),
            (index, size, leaf, proof.clone(), Hash::EMPTY_ROOT),
            (index, size, leaf, proof.clone(), some),
            (index, size, leaf, [proof.clone(), vec![r]].concat(), r),
            (index, size, leaf, [vec![r], proof.clone()].concat(), r),
        ];
        for i in 0..proof.len() {
            let mut p = proof.clone();
            p[i].0[0] ^= 8;
            probes.push((index, size, leaf, p, r));
        }
        if !proof.is_empty() {
            probes.push((index, size, leaf, proof[..proof.len() - 1].to_vec(), r));
        }
        for (i, s, l, p, rt) in probes {
            assert!(
                verify_inclusion(&l, i, s, &p, &rt).is_err(),
                "{i}/{s} {p:?} verified"
            );
        }
    }
    for (old, new, proof) in consistency_vectors() {
        if proof.is_empty() {
            continue;
        }
        let (r1, r2) = (root(old), root(new));
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            (old - 1, new, r1, r2, proof.clone()),
            (old + 1, new, r1, r2, proof.clone()),
            (old ^ 2, new, r1, r2, proof.clone()),
            (old, new * 2, r1, r2, proof.clone()),
            (old, new / 2, r1, r2, proof.clone()),
            (old, new, some, r2, proof.clone()),
            (old, new, r1, some, proof.clone()),
            (old, new, r2, r1, proof.clone()),
            (old, new, r1, r2, vec![]),
            (old, new, r1, r2, [proof.clone(), vec![r1]].concat()),
            (old, new, r1, r2, [proof.clone(), vec![r2]].concat()),
            (old, new, r1, r2, [vec![r1], proof.clone()].concat()),
            (old, new, r1, r2, [vec![r2], proof.clone()].concat()),
            (old, new, r1, r2, [vec![proof[0]], proof.clone()].concat()),
            (old, new, r1, r2, proof[..proof.len() - 1].to_vec()),
        ];
        for i in 0..proof.len() {
            let mut p = proof.clone();
            p[i].0[0] ^= 16;
            probes.push((old, new, r1, r2, p));
        }
        for (o, n, a, b, p) in probes {
            assert!(
                verify_consistency(o, n, &a, &b, &p).is_err(),
                "{o}->{n} {p:?} verified"
            );
        }
    }
}

/// transparency-dev/merkle `TestVerifyConsistency` edge cases.
#[test]
fn consistency_edge_cases() {
    let (a, b) = (leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2"));
    let e = Hash::EMPTY_ROOT;
    // Same size: roots must match, proof empty.
    assert_eq!(verify_consistency(0, 0, &e, &e, &[]), Ok(()));
    assert_eq!(verify_consistency(1, 1, &b, &b, &[]), Ok(()));
    assert_eq!(
        verify_consistency(1, 1, &a, &b, &[]),
        Err(ProofError::SameSizeDifferentRoot { size: 1 })
    );
    assert!(verify_consistency(1, 1, &e, &e, &[e]).is_err());
    // From the empty tree: always consistent with an empty proof.
    assert_eq!(verify_consistency(0, 1, &e, &b, &[]), Ok(()));
    assert!(verify_consistency(0, 1, &e, &b, &[e]).is_err());
    // Time travel to the past.
    assert_eq!(
        verify_consistency(2, 1, &a, &b, &[]),
        Err(ProofError::OldLargerThanNew { old: 2, new: 1 })
    );
    // Empty proof between different sizes.
    assert!(verify_consistency(1, 2, &a, &b, &[]).is_err());
    // Inclusion in an empty tree or past the end.
    assert!(verify_inclusion(&a, 0, 0, &[], &e).is_err());
    assert!(verify_inclusion(&a, 2, 1, &[], &a).is_err());
    // Single-entry tree: root == leaf hash.
    let d = leaf_hash(b"data");
    assert_eq!(verify_inclusion(&d, 0, 1, &[], &d), Ok(()));
}
