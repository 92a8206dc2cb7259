//! The payload AEAD (AWS-LC's AES-256-GCM through `aws-lc-rs`, stream.rs)
//! against an independent implementation, RustCrypto's `aes-gcm`: both must
//! give identical ciphertexts and tags, and each must open what the other
//! sealed. The format names AES-256-GCM, not an implementation
//! (docs/format.md §2); docs/vectors (tests/vectors.rs) pin the bytes, this
//! pins the two implementations to each other on random inputs and on the
//! chunk sizes the stream uses.

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit};
use obhut_core::ids::{RecordingId, SegmentRef};
use obhut_core::rng::DeterministicRng;
use obhut_core::secret::Secret32;
use obhut_core::stream::{
    CHUNK_SIZE, ChunkCipher, SEALED_CHUNK_LEN, StreamEncryptor, TAG_LEN, chunk_nonce,
    decrypt_stream,
};
use proptest::prelude::*;
use rand_core::Rng;

fn rustcrypto_seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
    Aes256Gcm::new(key.into())
        .encrypt_inout_detached(nonce.into(), aad, buf.into())
        .expect("test inputs fit GCM")
        .into()
}

fn rustcrypto_open(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; 16],
) -> bool {
    Aes256Gcm::new(key.into())
        .decrypt_inout_detached(nonce.into(), aad, buf.into(), tag.into())
        .is_ok()
}

fn check_one(key: [u8; 32], nonce: [u8; 12], aad: &[u8], pt: &[u8]) {
    let secret = Secret32::new(key);
    let mut ours = pt.to_vec();
    let our_tag = ChunkCipher::gcm_seal_raw(&secret, &nonce, aad, &mut ours);
    let mut theirs = pt.to_vec();
    let their_tag = rustcrypto_seal(&key, &nonce, aad, &mut theirs);
    assert_eq!(ours, theirs, "ciphertext, {} bytes", pt.len());
    assert_eq!(our_tag, their_tag, "tag, {} bytes", pt.len());
    // Each opens what the other sealed.
    let mut back = theirs.clone();
    assert!(ChunkCipher::gcm_open_raw(
        &secret, &nonce, aad, &mut back, &their_tag
    ));
    assert_eq!(back, pt);
    let mut back = ours.clone();
    assert!(rustcrypto_open(&key, &nonce, aad, &mut back, &our_tag));
    assert_eq!(back, pt);
    // A flipped tag bit is refused by both.
    let mut bad_tag = our_tag;
    bad_tag[0] ^= 1;
    let mut buf = ours.clone();
    assert!(!ChunkCipher::gcm_open_raw(
        &secret, &nonce, aad, &mut buf, &bad_tag
    ));
    let mut buf = ours;
    assert!(!rustcrypto_open(&key, &nonce, aad, &mut buf, &bad_tag));
}

proptest! {
    #[test]
    fn random_inputs_seal_identically(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 12]>(),
        aad in proptest::collection::vec(any::<u8>(), 0..80),
        pt in proptest::collection::vec(any::<u8>(), 0..2100),
    ) {
        check_one(key, nonce, &aad, &pt);
    }
}

#[test]
fn chunk_sized_inputs_seal_identically() {
    let mut rng = DeterministicRng::new([17; 32]);
    for len in [0, 1, 15, 16, 17, 255, 4096, CHUNK_SIZE - 1, CHUNK_SIZE] {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let mut aad = [0u8; 32];
        rng.fill_bytes(&mut aad);
        let mut pt = vec![0u8; len];
        rng.fill_bytes(&mut pt);
        for (index, last) in [
            (0, false),
            (0, true),
            (7, false),
            (u64::from(u32::MAX), true),
        ] {
            check_one(key, chunk_nonce(index, last), &aad, &pt);
        }
    }
}

/// A whole STREAM payload (§6.2) from `StreamEncryptor` equals the same
/// construction written with RustCrypto's AES-256-GCM, and opens again;
/// the out-of-place seal gives the in-place seal's bytes.
#[test]
fn stream_equals_rustcrypto_construction() {
    let mut rng = DeterministicRng::new([23; 32]);
    let mut key = [0u8; 32];
    rng.fill_bytes(&mut key);
    let mut header_hash = [0u8; 32];
    rng.fill_bytes(&mut header_hash);
    let segment = SegmentRef {
        recording: RecordingId([4; 16]),
        index: 2,
    };
    let cipher = || ChunkCipher::new(&Secret32::new(key), header_hash, segment);
    for len in [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 12_345] {
        let mut pt = vec![0u8; len];
        rng.fill_bytes(&mut pt);

        let mut enc = StreamEncryptor::new(cipher(), Vec::new());
        enc.update(&pt).unwrap();
        let (ours, n) = enc.finish().unwrap();
        assert_eq!(n, len as u64);

        let mut theirs = Vec::new();
        let chunks: Vec<&[u8]> = if pt.is_empty() {
            vec![&[][..]]
        } else {
            pt.chunks(CHUNK_SIZE).collect()
        };
        for (i, c) in chunks.iter().enumerate() {
            let mut buf = c.to_vec();
            let nonce = chunk_nonce(i as u64, i + 1 == chunks.len());
            let tag = rustcrypto_seal(&key, &nonce, &header_hash, &mut buf);
            theirs.extend_from_slice(&buf);
            theirs.extend_from_slice(&tag);
        }
        assert_eq!(ours, theirs, "{len} bytes");

        let mut out = Vec::new();
        decrypt_stream(&cipher(), &mut &theirs[..], &mut out).unwrap();
        assert_eq!(out, pt);

        // Out of place, chunk by chunk: the same bytes as in place.
        let c = cipher();
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let mut ct = vec![0u8; chunk.len()];
            let tag = c.seal_chunk_into(i as u64, last, chunk, &mut ct).unwrap();
            let at = i * SEALED_CHUNK_LEN;
            assert_eq!(&theirs[at..at + chunk.len()], &ct[..]);
            assert_eq!(
                &theirs[at + chunk.len()..at + chunk.len() + TAG_LEN],
                &tag[..]
            );
        }
    }
}
