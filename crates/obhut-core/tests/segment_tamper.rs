//! Single-bit flips in sealed blobs and signed records are all rejected
//! (docs/format.md §5.1, §6, §7.1), and records with invalid points, weak
//! device keys or malleated signatures are refused at parse.

use crate::segment_support;

use std::io::Cursor;

use obhut_core::chain::verify_blob;
use obhut_core::error::{Error, SegmentFailure};
use obhut_core::labels;
use obhut_core::record::{SegmentRecord, record_len};
use obhut_core::segment::{HEADER_LEN, SegmentOpener};
use obhut_core::stream::{CHUNK_SIZE, SEALED_CHUNK_LEN, TAG_LEN};
use segment_support::{Recording, data, open, segment_failure};

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[bit / 8] ^= 1 << (bit % 8);
    v
}

#[test]
fn every_header_bit_flip_is_rejected() {
    let rec = Recording::new();
    let seg = rec.seal(1, data(2 * CHUNK_SIZE + 500, 1));
    let record = rec.record(&seg, [9; 32], false);
    let trusted = seg.opener();
    let sref = seg.segment_ref();
    for bit in 0..HEADER_LEN * 8 {
        let blob = flip(&seg.blob, bit);
        // With the header from the signed record: the blob's header differs.
        let e = open(&trusted, &blob).unwrap_err();
        assert_eq!(segment_failure(e, sref), SegmentFailure::HeaderMismatch);
        let e = verify_blob(&record, &blob[..]).unwrap_err();
        assert_eq!(segment_failure(e, sref), SegmentFailure::HeaderMismatch);
        // Trusting the altered header instead: it does not parse, or its key
        // commitment fails (every header byte feeds K or is the commitment).
        match SegmentOpener::new(&blob[..HEADER_LEN], &seg.parts()) {
            Ok(_) => panic!("bit {bit}: altered header opened"),
            Err(Error::Segment { failure, .. }) => {
                assert_eq!(failure, SegmentFailure::KeyCommitment, "bit {bit}")
            }
            Err(_) => {} // parse error (magic, kind, point, key, …)
        }
    }
}

#[test]
fn chunk_bit_flips_are_rejected_naming_the_chunk() {
    // Three chunks: two full ones and a short final one. Every bit of the
    // final chunk's tag is flipped, and a sample of bits across every chunk
    // (flipping all 1.1 million bits would take minutes in a debug build).
    let rec = Recording::new();
    let len = 2 * CHUNK_SIZE + 3000;
    let seg = rec.seal(0, data(len, 2));
    let record = rec.record(&seg, [0; 32], true);
    let opener = seg.opener();
    let sref = seg.segment_ref();
    let chunk_lens = [SEALED_CHUNK_LEN, SEALED_CHUNK_LEN, 3000 + TAG_LEN];
    let mut start = HEADER_LEN;
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let mut flips = 0;
    for (i, &clen) in chunk_lens.iter().enumerate() {
        let last = i + 1 == chunk_lens.len();
        let ct_bits = (clen - TAG_LEN) * 8;
        let mut bits: Vec<usize> = vec![0, 7, ct_bits - 1];
        bits.extend((0..40).map(|_| next(ct_bits)));
        if last {
            bits.extend(ct_bits..clen * 8);
        } else {
            bits.extend((0..16).map(|_| ct_bits + next(TAG_LEN * 8)));
        }
        let chunk_range = (
            (i * CHUNK_SIZE) as u64,
            (((i + 1) * CHUNK_SIZE).min(len)) as u64,
        );
        for (n, bit) in bits.into_iter().enumerate() {
            let blob = flip(&seg.blob, start * 8 + bit);
            let expected = SegmentFailure::ChunkAuthentication { chunk: i as u64 };
            // Random access to the chunk.
            let e = opener
                .read_range(
                    &mut Cursor::new(&blob),
                    len as u64,
                    chunk_range.0,
                    chunk_range.1,
                    &mut Vec::new(),
                )
                .unwrap_err();
            assert_eq!(segment_failure(e, sref), expected, "chunk {i} bit {bit}");
            // Keyless: the ciphertext hash.
            let e = verify_blob(&record, &blob[..]).unwrap_err();
            assert_eq!(segment_failure(e, sref), SegmentFailure::HashMismatch);
            // Streaming open of the whole blob (decrypts the chunks before
            // the altered one, so only for a sample).
            if n < 3 || n.is_multiple_of(16) {
                let e = open(&opener, &blob).unwrap_err();
                assert_eq!(segment_failure(e, sref), expected, "chunk {i} bit {bit}");
            }
            flips += 1;
        }
        start += clen;
    }
    assert!(flips > 128 + 3 * 43);
}

#[test]
fn every_record_bit_flip_is_rejected() {
    let rec = Recording::new();
    let seg = rec.seal(3, data(10, 3));
    let record = rec.record(&seg, [5; 32], true);
    let bytes = record.to_bytes();
    // One custodian, and the record starts its own custody run.
    assert_eq!(bytes.len(), record_len(1, true));
    assert_eq!(SegmentRecord::from_bytes(&bytes).unwrap(), record);
    for bit in 0..bytes.len() * 8 {
        assert!(
            SegmentRecord::from_bytes(&flip(&bytes, bit)).is_err(),
            "bit {bit} accepted"
        );
    }
    // Truncated or extended records.
    assert!(SegmentRecord::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        SegmentRecord::from_bytes(&long),
        Err(Error::TrailingBytes { .. })
    ));
}

/// Offsets inside an encoded record.
const HDR: usize = 7; // record preamble
const DEVICE_KEY: usize = HDR + 7 + 1 + 16;
const CAPSULE: usize = HDR + 7 + 1 + 16 + 32 + 4 + 4 + 8 + 8 + 8;
const CAPSULE_R: usize = CAPSULE + 16 + 4;
const CAPSULE_U_BAR: usize = CAPSULE_R + 32;
/// Where the signature starts in the records these tests make (one
/// custodian; each record starts its own custody run).
const SIG: usize = 7 + 1452 + 8 + 32 + 32 + 1 + 40 + 1200 + 64;

/// Re-sign an edited record body with the device key, so that only the
/// edit can be the reason for a rejection.
fn resign(rec: &Recording, bytes: &mut [u8]) {
    let sig = rec.device.sign(labels::SEGMENT_RECORD_SIG, &bytes[..SIG]);
    bytes[SIG..].copy_from_slice(&sig);
}

#[test]
fn records_with_invalid_points_are_refused_even_if_signed() {
    let rec = Recording::new();
    let seg = rec.seal(0, Vec::new());
    let good = rec.record(&seg, [0; 32], true).to_bytes();
    assert_eq!(
        &good[CAPSULE_R..CAPSULE_R + 32],
        &seg.sealed.header.fields.capsule.r
    );
    // The re-signing itself is sound: the unedited body verifies.
    let mut same = good.clone();
    resign(&rec, &mut same);
    SegmentRecord::from_bytes(&same).unwrap();

    let mut non_canonical = seg.sealed.header.fields.capsule.r;
    non_canonical[0] |= 1; // a negative field element: never canonical
    let mut p_plus_1 = [0xff; 32]; // the field prime + 1, i.e. 1 non-reduced
    p_plus_1[0] = 0xee;
    p_plus_1[31] = 0x7f;
    for (offset, value, field) in [
        (CAPSULE_R, [0u8; 32], "R"),
        (CAPSULE_R, non_canonical, "R"),
        (CAPSULE_R, p_plus_1, "R"),
        (CAPSULE_U_BAR, [0u8; 32], "U_bar"),
    ] {
        let mut b = good.clone();
        b[offset..offset + 32].copy_from_slice(&value);
        resign(&rec, &mut b);
        match SegmentRecord::from_bytes(&b) {
            Err(Error::InvalidPoint { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field} = {value:02x?}: {other:?}"),
        }
    }
}

#[test]
fn records_with_weak_device_keys_are_refused() {
    let rec = Recording::new();
    let seg = rec.seal(0, Vec::new());
    let good = rec.record(&seg, [0; 32], true).to_bytes();
    // Small-order Ed25519 points: the identity (y = 1), y = −1 (order 2),
    // and y = 0 (order 4).
    let mut minus_one = [0xff; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    let mut identity = [0u8; 32];
    identity[0] = 1;
    for key in [identity, minus_one, [0u8; 32]] {
        let mut b = good.clone();
        b[DEVICE_KEY..DEVICE_KEY + 32].copy_from_slice(&key);
        match SegmentRecord::from_bytes(&b) {
            Err(Error::InvalidSigningKey { field, .. }) => assert_eq!(field, "device_key"),
            other => panic!("{key:02x?}: {other:?}"),
        }
    }
}

#[test]
fn malleated_and_foreign_signatures_are_refused() {
    let rec = Recording::new();
    let seg = rec.seal(6, Vec::new());
    let good = rec.record(&seg, [1; 32], false).to_bytes();
    let sref = seg.segment_ref();
    // S + l (the group order): the same signature under cofactorless
    // arithmetic, refused as non-canonical.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut b = good.clone();
    let mut carry = 0u16;
    for i in 0..32 {
        let s = u16::from(b[SIG + 32 + i]) + u16::from(L[i]) + carry;
        b[SIG + 32 + i] = s as u8;
        carry = s >> 8;
    }
    let e = SegmentRecord::from_bytes(&b).unwrap_err();
    assert_eq!(segment_failure(e, sref), SegmentFailure::BadSignature);
    // A non-canonical R in the signature (the identity encoded as p + 1).
    let mut b = good.clone();
    b[SIG..SIG + 32].copy_from_slice(&{
        let mut r = [0xff; 32];
        r[0] = 0xee;
        r[31] = 0x7f;
        r
    });
    let e = SegmentRecord::from_bytes(&b).unwrap_err();
    assert_eq!(segment_failure(e, sref), SegmentFailure::BadSignature);
    // Signed by a key other than the header's device key.
    let other = Recording::new();
    let mut b = good.clone();
    resign(&other, &mut b);
    let e = SegmentRecord::from_bytes(&b).unwrap_err();
    assert_eq!(segment_failure(e, sref), SegmentFailure::BadSignature);
    // And a device will not sign a header that names another device.
    let e = SegmentRecord::sign(&other.device, &seg.sealed, [0; 32], false).unwrap_err();
    assert!(matches!(
        segment_failure(e, sref),
        SegmentFailure::Misplaced(_)
    ));
}

#[test]
fn every_bit_flip_of_a_whole_small_segment_is_rejected() {
    // A one-chunk segment is small enough to flip every bit of the blob:
    // header, ciphertext and tag. Each flip must be refused by the opener
    // (header from the signed record) and by keyless verification.
    let rec = Recording::new();
    let seg = rec.seal(0, data(300, 3));
    let record = rec.record(&seg, [0; 32], true);
    let opener = seg.opener();
    let sref = seg.segment_ref();
    assert_eq!(open(&opener, &seg.blob).unwrap(), data(300, 3));
    for bit in 0..seg.blob.len() * 8 {
        let blob = flip(&seg.blob, bit);
        let e = open(&opener, &blob).unwrap_err();
        let failure = segment_failure(e, sref);
        if bit < HEADER_LEN * 8 {
            assert_eq!(failure, SegmentFailure::HeaderMismatch, "bit {bit}");
        } else {
            assert_eq!(
                failure,
                SegmentFailure::ChunkAuthentication { chunk: 0 },
                "bit {bit}"
            );
        }
        let e = verify_blob(&record, &blob[..]).unwrap_err();
        assert!(
            matches!(
                segment_failure(e, sref),
                SegmentFailure::HeaderMismatch | SegmentFailure::HashMismatch
            ),
            "bit {bit}"
        );
    }
}
