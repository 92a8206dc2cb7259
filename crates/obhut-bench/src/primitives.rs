//! Raw single-core throughput of the primitives sealing is built from, so
//! the seal and open figures can be read against their limit in the same run.

use std::time::Instant;

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit};

use crate::Figure;

const CHUNK: usize = 64 * 1024;

/// AES-256-GCM over `total` bytes in 64 KiB chunks, in place, one core.
pub fn aead(total: u64) -> Figure {
    let cipher = Aes256Gcm::new(&[7u8; 32].into());
    let mut buf = vec![0x5au8; CHUNK];
    let chunks = total / CHUNK as u64;
    let start = Instant::now();
    for i in 0..chunks {
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&i.to_be_bytes());
        let tag = cipher
            .encrypt_inout_detached(&nonce.into(), b"", buf.as_mut_slice().into())
            .expect("64 KiB is within GCM's limit");
        std::hint::black_box(tag);
    }
    Figure::new(
        "AES-256-GCM (aes-gcm crate), 1 core",
        chunks * CHUNK as u64,
        start.elapsed(),
    )
}

/// BLAKE3 over `total` bytes fed in 64 KiB updates, one core.
pub fn hash(total: u64) -> Figure {
    let buf = vec![0xa5u8; CHUNK];
    let chunks = total / CHUNK as u64;
    let start = Instant::now();
    let mut h = blake3::Hasher::new_derive_key("obhut-bench");
    for _ in 0..chunks {
        h.update(&buf);
    }
    std::hint::black_box(h.finalize());
    Figure::new(
        "BLAKE3 (blake3 crate), 1 core",
        chunks * CHUNK as u64,
        start.elapsed(),
    )
}

/// AES-256-GCM then BLAKE3 over the same chunks back to back: the one-core
/// limit of sealing, which must encrypt and hash every byte.
pub fn aead_then_hash(total: u64) -> Figure {
    let cipher = Aes256Gcm::new(&[7u8; 32].into());
    let mut buf = vec![0x5au8; CHUNK];
    let chunks = total / CHUNK as u64;
    let mut h = blake3::Hasher::new_derive_key("obhut-bench");
    let start = Instant::now();
    for i in 0..chunks {
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&i.to_be_bytes());
        let tag = cipher
            .encrypt_inout_detached(&nonce.into(), b"", buf.as_mut_slice().into())
            .expect("64 KiB is within GCM's limit");
        h.update(&buf);
        h.update(&tag);
    }
    std::hint::black_box(h.finalize());
    Figure::new(
        "limit: AES-256-GCM + BLAKE3 back to back, 1 core",
        chunks * CHUNK as u64,
        start.elapsed(),
    )
}
