//! Structural attacks on a sealed blob (docs/format.md §6.2, §9.6):
//! swapping chunks, truncating at every chunk boundary, appending bytes or
//! chunks, and splicing chunks or whole segments from another segment,
//! recording or device. Every one is detected, and the error names the
//! segment and what failed.

use crate::segment_support;

use std::io::Cursor;

use obhut_core::chain::verify_blob;
use obhut_core::error::SegmentFailure;
use obhut_core::segment::{HEADER_LEN, SegmentKeys, SegmentOpener};
use obhut_core::stream::{CHUNK_SIZE, SEALED_CHUNK_LEN};
use segment_support::{Recording, Segment, data, open, seal_with, segment_failure};

fn chunk(blob: &[u8], i: usize) -> &[u8] {
    let s = HEADER_LEN + i * SEALED_CHUNK_LEN;
    &blob[s..(s + SEALED_CHUNK_LEN).min(blob.len())]
}

fn replace_chunk(blob: &[u8], i: usize, with: &[u8]) -> Vec<u8> {
    let s = HEADER_LEN + i * SEALED_CHUNK_LEN;
    let e = (s + SEALED_CHUNK_LEN).min(blob.len());
    [&blob[..s], with, &blob[e..]].concat()
}

/// Open with the trusted (record) header, expecting `failure`; also check
/// the keyless blob check rejects it.
#[track_caller]
fn expect_open_failure(rec: &Recording, seg: &Segment, blob: &[u8], failure: SegmentFailure) {
    let e = open(&seg.opener(), blob).unwrap_err();
    assert_eq!(segment_failure(e, seg.segment_ref()), failure);
    let record = rec.record(seg, [0; 32], true);
    assert!(verify_blob(&record, blob).is_err());
}

#[test]
fn swapped_chunks_fail_authentication() {
    let rec = Recording::new();
    let seg = rec.seal(0, data(3 * CHUNK_SIZE, 1));
    let c0 = chunk(&seg.blob, 0).to_vec();
    let c1 = chunk(&seg.blob, 1).to_vec();
    let swapped = replace_chunk(&replace_chunk(&seg.blob, 0, &c1), 1, &c0);
    expect_open_failure(
        &rec,
        &seg,
        &swapped,
        SegmentFailure::ChunkAuthentication { chunk: 0 },
    );
    // Moving the final chunk forward: it fails at its new position.
    let c2 = chunk(&seg.blob, 2).to_vec();
    let moved = replace_chunk(&seg.blob, 1, &c2);
    expect_open_failure(
        &rec,
        &seg,
        &moved,
        SegmentFailure::ChunkAuthentication { chunk: 1 },
    );
}

#[test]
fn truncation_at_every_chunk_boundary_is_detected() {
    let rec = Recording::new();
    // A short final chunk, and a full final chunk.
    for len in [3 * CHUNK_SIZE + 10, 3 * CHUNK_SIZE] {
        let seg = rec.seal(1, data(len, 2));
        let chunks = len.div_ceil(CHUNK_SIZE);
        let opener = seg.opener();
        for k in 0..chunks {
            let cut = &seg.blob[..HEADER_LEN + k * SEALED_CHUNK_LEN];
            expect_open_failure(
                &rec,
                &seg,
                cut,
                SegmentFailure::Truncated {
                    chunks_read: k as u64,
                },
            );
            // Random access to the final chunk using the signed length.
            let e = opener
                .read_range(
                    &mut Cursor::new(cut),
                    len as u64,
                    len as u64 - 1,
                    len as u64,
                    &mut Vec::new(),
                )
                .unwrap_err();
            assert_eq!(
                segment_failure(e, seg.segment_ref()),
                SegmentFailure::Truncated {
                    chunks_read: chunks as u64 - 1
                }
            );
        }
        // Cut inside the final chunk, and inside the header.
        let cut = &seg.blob[..seg.blob.len() - 1];
        expect_open_failure(
            &rec,
            &seg,
            cut,
            SegmentFailure::ChunkAuthentication {
                chunk: chunks as u64 - 1,
            },
        );
        expect_open_failure(
            &rec,
            &seg,
            &seg.blob[..HEADER_LEN - 1],
            SegmentFailure::HeaderMismatch,
        );
        // The keyless check reports the length.
        let record = rec.record(&seg, [0; 32], false);
        let e = verify_blob(&record, &seg.blob[..HEADER_LEN + SEALED_CHUNK_LEN]).unwrap_err();
        assert!(matches!(
            segment_failure(e, seg.segment_ref()),
            SegmentFailure::LengthMismatch { .. }
        ));
    }
}

#[test]
fn appended_bytes_and_chunks_are_detected() {
    let rec = Recording::new();
    // Short final chunk: appended data becomes part of it and breaks its tag.
    let seg = rec.seal(0, data(CHUNK_SIZE + 100, 3));
    let mut more = seg.blob.clone();
    more.extend_from_slice(b"x");
    expect_open_failure(
        &rec,
        &seg,
        &more,
        SegmentFailure::ChunkAuthentication { chunk: 1 },
    );
    let record = rec.record(&seg, [0; 32], true);
    let e = verify_blob(&record, &more[..]).unwrap_err();
    assert_eq!(
        segment_failure(e, seg.segment_ref()),
        SegmentFailure::LengthMismatch {
            field: "blob length",
            expected: seg.blob.len() as u64,
            found: seg.blob.len() as u64 + 1,
        }
    );

    // Full final chunk: anything after it is reported as trailing data.
    let seg = rec.seal(0, data(2 * CHUNK_SIZE, 4));
    for extra in [&b"x"[..], chunk(&seg.blob, 0)] {
        let more = [&seg.blob[..], extra].concat();
        expect_open_failure(&rec, &seg, &more, SegmentFailure::TrailingData);
    }
    // Even a key holder cannot extend a finished segment: a valid final
    // chunk 2 appended after final chunk 1.
    let keys = SegmentKeys::derive(&seg.parts(), &seg.fields);
    let mut extra = b"appended".to_vec();
    let tag = keys.chunk_cipher().seal_chunk(2, true, &mut extra).unwrap();
    let more = [&seg.blob[..], &extra, &tag].concat();
    expect_open_failure(&rec, &seg, &more, SegmentFailure::TrailingData);
    // Nor write the non-canonical layout "full non-final chunk, then an
    // empty final chunk" (§6.2: the last chunk is empty only if it is the
    // only one).
    let seg = rec.seal(0, data(CHUNK_SIZE, 5));
    let cipher = SegmentKeys::derive(&seg.parts(), &seg.fields).chunk_cipher();
    let mut c0 = seg.plaintext.clone();
    let t0 = cipher.seal_chunk(0, false, &mut c0).unwrap();
    let t1 = cipher.seal_chunk(1, true, &mut []).unwrap();
    let odd = [&seg.blob[..HEADER_LEN], &c0, &t0, &t1].concat();
    expect_open_failure(&rec, &seg, &odd, SegmentFailure::TrailingData);
}

#[test]
fn chunks_spliced_from_other_segments_fail_authentication() {
    let rec = Recording::new();
    let other_recording = Recording::new();
    let target = rec.seal(1, data(2 * CHUNK_SIZE + 5, 5));
    let same_recording = rec.seal(2, data(2 * CHUNK_SIZE + 5, 5));
    let other_rec = other_recording.seal(1, data(2 * CHUNK_SIZE + 5, 5));
    // Same a and b, same plaintext, different header (another index): the
    // header hash feeds K, so even this does not splice.
    let (mut fields, _, _) = rec.fields(7);
    fields.capsule = target.fields.capsule;
    let same_keys = seal_with(
        fields,
        target.a.clone(),
        target.b.clone(),
        target.plaintext.clone(),
    );
    for donor in [&same_recording, &other_rec, &same_keys] {
        for i in 0..3 {
            let spliced = replace_chunk(&target.blob, i, chunk(&donor.blob, i));
            expect_open_failure(
                &rec,
                &target,
                &spliced,
                SegmentFailure::ChunkAuthentication { chunk: i as u64 },
            );
        }
    }
}

#[test]
fn whole_segments_spliced_from_elsewhere_are_detected() {
    let rec = Recording::new();
    let seg0 = rec.seal(0, data(1000, 6));
    let seg1 = rec.seal(1, data(1000, 6));
    let other_device = Recording {
        recording_id: rec.recording_id,
        ..Recording::new()
    };
    let foreign = other_device.seal(0, data(1000, 6));
    let record0 = rec.record(&seg0, [0; 32], false);
    for donor in [&seg1, &foreign] {
        // Presented as segment 0's blob: the header is not the record's.
        let e = open(&seg0.opener(), &donor.blob).unwrap_err();
        assert_eq!(
            segment_failure(e, seg0.segment_ref()),
            SegmentFailure::HeaderMismatch
        );
        let e = verify_blob(&record0, &donor.blob[..]).unwrap_err();
        assert_eq!(
            segment_failure(e, seg0.segment_ref()),
            SegmentFailure::HeaderMismatch
        );
        // Segment 0's keys do not open the donor's header.
        let e = SegmentOpener::new(&donor.blob[..HEADER_LEN], &seg0.parts()).unwrap_err();
        assert_eq!(
            segment_failure(e, donor.segment_ref()),
            SegmentFailure::KeyCommitment
        );
        // Donor's header with segment 0's chunks, opened with the donor's keys.
        let mixed = [&donor.blob[..HEADER_LEN], &seg0.blob[HEADER_LEN..]].concat();
        let e = open(&donor.opener(), &mixed).unwrap_err();
        assert_eq!(
            segment_failure(e, donor.segment_ref()),
            SegmentFailure::ChunkAuthentication { chunk: 0 }
        );
    }
}
