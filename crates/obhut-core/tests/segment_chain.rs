//! Keyless verification of a recording's chain of segment records
//! (docs/format.md §7.2): each structural fault gives its own
//! [`ChainFailure`], and capsule proofs are checked against the group key.

use crate::segment_support;

use obhut_core::chain::{verify_blob, verify_chain, verify_chain_structure};
use obhut_core::error::{ChainFailure, Error, SegmentFailure};
use obhut_core::record::SegmentRecord;
use segment_support::{Recording, data, random_group, seal_with, segment_failure};

#[track_caller]
fn chain_failure(records: &[SegmentRecord]) -> ChainFailure {
    match verify_chain_structure(records) {
        Err(Error::Chain(f)) => f,
        other => panic!("expected a chain failure, got {other:?}"),
    }
}

#[test]
fn a_complete_chain_verifies() {
    let rec = Recording::new();
    let (segs, recs) = rec.chain(4);
    let summary = verify_chain(&recs, &[rec.group]).unwrap();
    assert_eq!(summary.recording_id, rec.recording_id);
    assert_eq!(summary.device_key, rec.device.verify_key());
    assert_eq!(summary.segment_count, 4);
    assert_eq!(summary.plaintext_len, 100 + 101 + 102 + 103);
    assert_eq!(summary.head_record_hash, recs[3].record_hash());
    for (seg, r) in segs.iter().zip(&recs) {
        verify_blob(r, &seg.blob[..]).unwrap();
    }
    // A one-segment recording.
    let (_, one) = rec.chain(1);
    verify_chain(&one, &[rec.group]).unwrap();
    // Records survive their encoding.
    let parsed: Vec<_> = recs
        .iter()
        .map(|r| SegmentRecord::from_bytes(&r.to_bytes()).unwrap())
        .collect();
    assert_eq!(verify_chain(&parsed, &[rec.group]).unwrap(), summary);
}

#[test]
fn empty_missing_duplicated_and_reordered() {
    let rec = Recording::new();
    let (_, recs) = rec.chain(4);
    assert_eq!(chain_failure(&[]), ChainFailure::Empty);
    // Missing first, middle, last.
    assert_eq!(
        chain_failure(&recs[1..]),
        ChainFailure::Missing { missing: 0 }
    );
    let no_middle = [recs[0].clone(), recs[2].clone(), recs[3].clone()];
    assert_eq!(
        chain_failure(&no_middle),
        ChainFailure::Missing { missing: 1 }
    );
    assert_eq!(
        chain_failure(&recs[..3]),
        ChainFailure::NotFinal { last: 2 }
    );
    // The same record twice, and two different records for one index
    // (a device that equivocates).
    let dup = [
        recs[0].clone(),
        recs[1].clone(),
        recs[1].clone(),
        recs[2].clone(),
    ];
    assert_eq!(chain_failure(&dup), ChainFailure::Duplicate(1));
    let twin_seg = rec.seal(1, data(5, 99));
    let twin = rec.record(&twin_seg, recs[0].record_hash(), false);
    let equivocation = [recs[0].clone(), recs[1].clone(), twin, recs[2].clone()];
    assert_eq!(chain_failure(&equivocation), ChainFailure::Duplicate(1));
    // Reordered.
    let reordered = [
        recs[0].clone(),
        recs[2].clone(),
        recs[1].clone(),
        recs[3].clone(),
    ];
    assert_eq!(
        chain_failure(&reordered),
        ChainFailure::OutOfOrder {
            position: 1,
            found: 2
        }
    );
    let mut reversed = recs.clone();
    reversed.reverse();
    assert_eq!(
        chain_failure(&reversed),
        ChainFailure::OutOfOrder {
            position: 0,
            found: 3
        }
    );
}

#[test]
fn foreign_records_are_named() {
    let rec = Recording::new();
    let (_, recs) = rec.chain(3);
    // Another recording of the same device.
    let other_recording = Recording {
        recording_id: obhut_core::ids::RecordingId([0xAA; 16]),
        device: rec.device.clone(),
        group: rec.group,
    };
    let (_, theirs) = other_recording.chain(3);
    let mixed = [recs[0].clone(), theirs[1].clone(), recs[2].clone()];
    assert_eq!(
        chain_failure(&mixed),
        ChainFailure::Foreign(theirs[1].segment_ref())
    );
    // The same recording id claimed by another device.
    let other_device = Recording {
        recording_id: rec.recording_id,
        ..Recording::new()
    };
    let (_, theirs) = other_device.chain(3);
    let mixed = [recs[0].clone(), recs[1].clone(), theirs[2].clone()];
    let f = chain_failure(&mixed);
    assert_eq!(f, ChainFailure::Foreign(theirs[2].segment_ref()));
    assert!(
        Error::Chain(f)
            .to_string()
            .contains(&format!("recording {} segment 2", rec.recording_id))
    );
}

#[test]
fn broken_links_and_final_flags() {
    let rec = Recording::new();
    let (segs, recs) = rec.chain(4);
    // Segment 2 linked to segment 0 instead of 1.
    let mut broken = recs.clone();
    broken[2] = rec.record(&segs[2], recs[0].record_hash(), false);
    assert_eq!(chain_failure(&broken), ChainFailure::BrokenLink(2));
    // Segment 0 with a non-zero previous hash.
    let mut broken = recs.clone();
    broken[0] = rec.record(&segs[0], [1; 32], false);
    assert_eq!(chain_failure(&broken), ChainFailure::BrokenLink(0));
    // Segment 1 re-signed as final, in the middle of the list.
    let mut broken = recs.clone();
    broken[1] = SegmentRecord::sign(
        &rec.device,
        &segs[1].sealed,
        *recs[1].prev_record_hash(),
        true,
    )
    .unwrap();
    assert_eq!(chain_failure(&broken), ChainFailure::FinalFlag(1));
    // Final flag missing at the end.
    let mut unfinished = recs.clone();
    unfinished[3] = rec.record(&segs[3], recs[2].record_hash(), false);
    assert_eq!(
        chain_failure(&unfinished),
        ChainFailure::NotFinal { last: 3 }
    );
    // Final flag in the middle (with correct links up to there).
    let mut early = recs[..2].to_vec();
    early[1] = rec.record(&segs[1], recs[0].record_hash(), true);
    let after = rec.record(&segs[2], early[1].record_hash(), false);
    early.push(after);
    assert_eq!(chain_failure(&early), ChainFailure::FinalFlag(1));
    // A replaced middle record (re-signed, same index) breaks the next link.
    let mut replaced = recs.clone();
    let seg = rec.seal(1, data(7, 7));
    replaced[1] = rec.record(&seg, recs[0].record_hash(), false);
    assert_eq!(chain_failure(&replaced), ChainFailure::BrokenLink(2));
}

#[test]
fn capsule_proofs_are_checked_against_the_group() {
    let rec = Recording::new();
    let (_, recs) = rec.chain(2);
    // Without the group key the chain cannot be vouched for.
    let e = verify_chain(&recs, &[]).unwrap_err();
    assert!(matches!(
        segment_failure(e, recs[0].segment_ref()),
        SegmentFailure::Misplaced(_)
    ));
    // Another group's key with the same id: the proof does not verify.
    let impostor = obhut_core::kem::GroupKey {
        key: random_group().key,
        ..rec.group
    };
    let e = verify_chain(&recs, &[impostor]).unwrap_err();
    assert_eq!(
        segment_failure(e, recs[0].segment_ref()),
        SegmentFailure::BadKemProof
    );
    // A capsule moved from segment 1 into segment 0's header (the device
    // signs it, but the proof is bound to segment 1).
    let (seg1_fields, a1, _) = rec.fields(1);
    let (mut fields, _, b) = rec.fields(0);
    fields.capsule = seg1_fields.capsule;
    let moved = seal_with(fields, a1, b, data(3, 3));
    let r0 = rec.record(&moved, [0; 32], false);
    let r1 = rec.record(&rec.seal(1, Vec::new()), r0.record_hash(), true);
    let chain = [r0, r1];
    verify_chain_structure(&chain).unwrap();
    let e = verify_chain(&chain, &[rec.group]).unwrap_err();
    assert_eq!(
        segment_failure(e, chain[0].segment_ref()),
        SegmentFailure::BadKemProof
    );
}

/// `records_so_far_lazy` (format.md §7.2, placing a scope): the same
/// records as `records_so_far` on a good chain; a record whose R is not a
/// valid point (signed by its device) passes the lazy parse and is refused
/// by `Capsule::check_points`, which the scope runs on covered records,
/// with the error the full parse gives. A device key that differs in one
/// record is still decoded and caught (`Chain.Foreign`).
#[test]
fn a_lazy_chain_parse_leaves_only_the_points_to_the_covered_records() {
    use obhut_core::chain::{records_so_far, records_so_far_lazy};
    let rec = Recording::new();
    let (_, recs) = rec.chain(4);
    let raw: Vec<Vec<u8>> = recs.iter().map(SegmentRecord::to_bytes).collect();
    let (lazy, summary) = records_so_far_lazy(&raw).unwrap();
    assert_eq!(lazy, recs);
    assert_eq!(summary, records_so_far(&raw).unwrap().1);
    for r in &lazy {
        r.header().fields.capsule.check_points().unwrap();
    }

    // Segment 1 with the identity as R, signed by the device, chained.
    let mut bad_recs: Vec<SegmentRecord> = Vec::new();
    for i in 0..4u32 {
        let mut seg = rec.seal(i, data(100, u64::from(i)));
        if i == 1 {
            seg.sealed.header.fields.capsule.r = [0; 32];
        }
        let prev = bad_recs.last().map(|r| r.record_hash()).unwrap_or([0; 32]);
        bad_recs.push(rec.record(&seg, prev, i == 3));
    }
    let bad: Vec<Vec<u8>> = bad_recs.iter().map(SegmentRecord::to_bytes).collect();
    let full = records_so_far(&bad).unwrap_err();
    assert!(
        matches!(full, Error::InvalidPoint { field: "R", .. }),
        "{full}"
    );
    assert!(SegmentRecord::from_bytes(&bad[1]).is_err());
    let (lazy, _) = records_so_far_lazy(&bad).unwrap();
    lazy[0].header().fields.capsule.check_points().unwrap();
    let e = lazy[1].header().fields.capsule.check_points().unwrap_err();
    assert_eq!(e.to_string(), full.to_string());

    // A foreign device key in a later record is decoded, not assumed.
    let other = Recording {
        device: obhut_core::identity::SignKey::generate(&mut obhut_core::rng::os_rng()),
        group: rec.group,
        recording_id: rec.recording_id,
    };
    let mut mixed = raw.clone();
    let seg = other.seal(2, data(100, 2));
    mixed[2] = other.record(&seg, recs[1].record_hash(), false).to_bytes();
    assert!(matches!(
        records_so_far_lazy(&mixed).unwrap_err(),
        Error::Chain(ChainFailure::Foreign(s)) if s.index == 2
    ));
}
