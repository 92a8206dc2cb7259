//! Raw throughput of the primitives sealing is built from, on one core and
//! on several, so the seal and open figures can be read against the
//! machine's limit in the same run (scripts/bench computes the limits from
//! these rows and `openssl speed`).

use std::time::Instant;

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::Figure;

const CHUNK: usize = 64 * 1024;

/// Run `work(chunks)` on `threads` threads at once, each over its share of
/// `total` bytes in 64 KiB chunks; the figure is all bytes over the wall
/// time from the first start to the last finish.
fn parallel(what: &str, total: u64, threads: usize, work: impl Fn(u64) + Sync) -> Figure {
    let threads = threads.max(1);
    let per_thread = total / CHUNK as u64 / threads as u64;
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| work(per_thread));
        }
    });
    let cores = if threads == 1 {
        "1 core".to_owned()
    } else {
        format!("{threads} cores")
    };
    let mut f = Figure::new(
        &format!("{what}, {cores}"),
        per_thread * threads as u64 * CHUNK as u64,
        start.elapsed(),
    );
    f.cores = threads;
    f
}

fn nonce(i: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[3..11].copy_from_slice(&i.to_be_bytes());
    nonce
}

/// AES-256-GCM of AWS-LC (`aws-lc-rs`, what obhut-core seals with) over
/// 64 KiB chunks in place, with a 32-byte AAD as the stream has.
pub fn aead_aws_lc(total: u64, threads: usize) -> Figure {
    parallel("AES-256-GCM (aws-lc-rs)", total, threads, |chunks| {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("32-byte key"));
        let mut buf = vec![0x5au8; CHUNK];
        for i in 0..chunks {
            let tag = key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce(i)),
                    Aad::from([3u8; 32]),
                    &mut buf,
                )
                .expect("64 KiB is within GCM's limit");
            std::hint::black_box(&tag);
        }
    })
}

/// AES-256-GCM of the `aes-gcm` crate (RustCrypto), for comparison.
pub fn aead_rustcrypto(total: u64, threads: usize) -> Figure {
    parallel("AES-256-GCM (aes-gcm crate)", total, threads, |chunks| {
        let cipher = Aes256Gcm::new(&[7u8; 32].into());
        let mut buf = vec![0x5au8; CHUNK];
        for i in 0..chunks {
            let tag = cipher
                .encrypt_inout_detached(&nonce(i).into(), &[3u8; 32], buf.as_mut_slice().into())
                .expect("64 KiB is within GCM's limit");
            std::hint::black_box(tag);
        }
    })
}

/// BLAKE3 (derive-key mode, as the ciphertext hash) fed 64 KiB updates.
pub fn hash(total: u64, threads: usize) -> Figure {
    parallel("BLAKE3 (blake3 crate)", total, threads, |chunks| {
        let buf = vec![0xa5u8; CHUNK];
        let mut h = blake3::Hasher::new_derive_key("obhut-bench");
        for _ in 0..chunks {
            h.update(&buf);
        }
        std::hint::black_box(h.finalize());
    })
}

/// AWS-LC's AES-256-GCM then BLAKE3 over the same chunks back to back:
/// what sealing must do to every byte, measured (scripts/bench also
/// computes it from the separate rows and the faster of this and openssl).
pub fn aead_then_hash(total: u64, threads: usize) -> Figure {
    parallel(
        "AES-256-GCM (aws-lc-rs) + BLAKE3 back to back",
        total,
        threads,
        |chunks| {
            let key =
                LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("32-byte key"));
            let mut buf = vec![0x5au8; CHUNK];
            let mut h = blake3::Hasher::new_derive_key("obhut-bench");
            for i in 0..chunks {
                let tag = key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce(i)),
                        Aad::from([3u8; 32]),
                        &mut buf,
                    )
                    .expect("64 KiB is within GCM's limit");
                h.update(&buf);
                h.update(tag.as_ref());
            }
            std::hint::black_box(h.finalize());
        },
    )
}
