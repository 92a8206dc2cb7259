//! Proof sizes and verification times at 10^7 entries (issue 6's
//! benchmark line), plus the pure append rate.
//!
//!     cargo run --release -p obhut-log --example proof_size [-- LEAVES]
//!
//! Leaf `i` is `leaf_hash(i as u64 big-endian)`. The tree is built once with
//! a compact range, keeping only nodes at level >= 10 (as a tiled store
//! keeps tiles); lower nodes are recomputed from leaves on demand, so proof
//! generation really goes through the `NodeSource` closure.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Instant;

use obhut_log::{
    Checkpoint, CompactRange, Hash, NoteSigner, TrustedLog, WitnessPolicy, consistency_proof,
    inclusion_proof, leaf_hash, node_hash, verify_consistency, verify_inclusion,
};

const KEEP_FROM_LEVEL: u8 = 10;

fn leaf(i: u64) -> Hash {
    leaf_hash(&i.to_be_bytes())
}

fn recompute(level: u8, index: u64) -> Hash {
    if level == 0 {
        return leaf(index);
    }
    node_hash(
        &recompute(level - 1, 2 * index),
        &recompute(level - 1, 2 * index + 1),
    )
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("LEAVES is a number"))
        .unwrap_or(10_000_000);
    println!("tree of {n} leaves (leaf i = SHA-256(0x00 || u64be(i)))");

    // 1. Appends: leaf hashing plus compact-range update.
    let mut cr = CompactRange::new();
    let mut kept: HashMap<(u8, u64), Hash> = HashMap::new();
    let t = Instant::now();
    for i in 0..n {
        cr.append_visit(leaf(i), |level, index, h| {
            if level >= KEEP_FROM_LEVEL {
                kept.insert((level, index), *h);
            }
        });
    }
    let build = t.elapsed();
    let root = cr.root();
    println!(
        "append (hash entry + compact range): {:.2} s, {:.2} M appends/s; root {}",
        build.as_secs_f64(),
        n as f64 / build.as_secs_f64() / 1e6,
        root
    );
    let mut plain = CompactRange::new();
    let t = Instant::now();
    for i in 0..n {
        plain.append(Hash([(i & 0xff) as u8; 32]));
    }
    let dt = t.elapsed();
    println!(
        "append (precomputed leaf hash, no visitor): {:.2} M appends/s",
        n as f64 / dt.as_secs_f64() / 1e6
    );

    let mut src = |level: u8, index: u64| -> Result<Hash, Infallible> {
        Ok(match kept.get(&(level, index)) {
            Some(h) => *h,
            None => recompute(level, index),
        })
    };

    // 2. Inclusion proofs.
    let analytic = 64 - (n - 1).leading_zeros();
    println!(
        "inclusion proof: at most ceil(log2 n) = {analytic} hashes = {} bytes",
        analytic * 32
    );
    for index in [0, n / 3, n - 1] {
        let t = Instant::now();
        let p = inclusion_proof(index, n, &mut src).expect("index < n");
        let gen_time = t.elapsed();
        let iters = 20_000u32;
        let t = Instant::now();
        for _ in 0..iters {
            verify_inclusion(&leaf(index), index, n, &p, &root).expect("valid proof");
        }
        let v = t.elapsed() / iters;
        println!(
            "  index {index:>9}: {} hashes, {} bytes; generate {:.1} ms (incl. recomputing levels < {KEEP_FROM_LEVEL}); verify {:.1} µs",
            p.len(),
            p.len() * 32,
            gen_time.as_secs_f64() * 1e3,
            v.as_secs_f64() * 1e6
        );
    }

    // 3. Consistency proofs.
    for old in [1, n / 2 + 1, n - 12_345, n - 1] {
        let old_root = obhut_log::tree::root(old, &mut src).expect("old <= n");
        let t = Instant::now();
        let p = consistency_proof(old, n, &mut src).expect("old <= n");
        let gen_time = t.elapsed();
        let iters = 20_000u32;
        let t = Instant::now();
        for _ in 0..iters {
            verify_consistency(old, n, &old_root, &root, &p).expect("valid proof");
        }
        let v = t.elapsed() / iters;
        println!(
            "consistency {old:>9} -> {n}: {} hashes, {} bytes; generate {:.1} ms; verify {:.1} µs",
            p.len(),
            p.len() * 32,
            gen_time.as_secs_f64() * 1e3,
            v.as_secs_f64() * 1e6
        );
    }

    // 4. Checkpoint: sign, and a client's full check (signature, origin,
    //    consistency from an earlier checkpoint).
    let origin = "obhut.example/vault-bench";
    let key = NoteSigner::from_seed(origin, &[1; 32]).expect("valid name");
    let iters = 2_000u32;
    let t = Instant::now();
    let mut note = None;
    for _ in 0..iters {
        note = Some(
            Checkpoint::new(origin, n, root)
                .expect("valid")
                .sign(&key)
                .expect("signs"),
        );
    }
    let sign = t.elapsed() / iters;
    let bytes = note.expect("signed").to_bytes();
    let client = TrustedLog::new(origin, key.verifier_key(), WitnessPolicy::none());
    let old = n - 12_345;
    let old_root = obhut_log::tree::root(old, &mut src).expect("old <= n");
    let prev_note = Checkpoint::new(origin, old, old_root)
        .expect("valid")
        .sign(&key)
        .expect("signs");
    let prev = client
        .update(None, &prev_note.to_bytes(), &[])
        .expect("valid");
    let proof = consistency_proof(old, n, &mut src).expect("old <= n");
    let t = Instant::now();
    for _ in 0..iters {
        client
            .update(Some(&prev), &bytes, &proof)
            .expect("consistent");
    }
    let upd = t.elapsed() / iters;
    println!(
        "checkpoint: {} bytes signed; sign {:.1} µs; client update (verify sig + consistency) {:.1} µs",
        bytes.len(),
        sign.as_secs_f64() * 1e6,
        upd.as_secs_f64() * 1e6
    );
}
