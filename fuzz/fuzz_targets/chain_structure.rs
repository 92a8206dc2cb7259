//! `chain::verify_chain_structure` (docs/format.md §7.2) over a list of
//! segment records built from the fuzzer's bytes, checked against a
//! straightforward model of the rules: the result is `Ok` exactly when the
//! list is non-empty, every record has the first record's recording and
//! device, record i has index i and links to record i − 1 (zeros for 0),
//! and exactly the last record is final; an `Ok` summary must describe the
//! list. `chain::records_from_chain` over the same records' bytes must
//! agree.
//!
//! Input: a sequence of items. A byte below 0x80 appends
//! `chain_pool()[byte % len]` (pre-signed records: a valid 4-record chain
//! and faulty neighbours, see `obhut_fuzz::chain_pool`). A byte 0x80 or
//! above is followed by a u16 BE length and that many bytes, parsed with
//! `SegmentRecord::from_bytes` (appended if it parses, which must then
//! round-trip). At most 64 records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::chain::{records_from_chain, verify_chain_structure};
use obhut_core::error::Error;
use obhut_core::record::SegmentRecord;

fn model_ok(records: &[SegmentRecord]) -> bool {
    let Some(first) = records.first() else {
        return false;
    };
    let f0 = &first.header().fields;
    records.iter().enumerate().all(|(i, r)| {
        let f = &r.header().fields;
        let prev = if i == 0 {
            [0u8; 32]
        } else {
            records[i - 1].record_hash()
        };
        f.recording_id == f0.recording_id
            && f.device_key == f0.device_key
            && f.segment_index as usize == i
            && *r.prev_record_hash() == prev
            && r.is_final() == (i + 1 == records.len())
    })
}

fuzz_target!(|data: &[u8]| {
    let pool = obhut_fuzz::chain_pool();
    let mut records: Vec<SegmentRecord> = Vec::new();
    let mut rest = data;
    while let Some((&tag, tail)) = rest.split_first() {
        rest = tail;
        if records.len() >= 64 {
            break;
        }
        if tag < 0x80 {
            records.push(pool[tag as usize % pool.len()].clone());
            continue;
        }
        if rest.len() < 2 {
            break;
        }
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let piece = &rest[2..2 + n];
        rest = &rest[2 + n..];
        if let Some(r) =
            obhut_fuzz::roundtrip!(piece, SegmentRecord::from_bytes, SegmentRecord::to_bytes)
        {
            records.push(r);
        }
    }
    let result = verify_chain_structure(&records);
    let expected = model_ok(&records);
    // Every record here verified on its own, so authenticating the chain by
    // its final signature must agree with the structural check.
    let bytes: Vec<Vec<u8>> = records.iter().map(SegmentRecord::to_bytes).collect();
    match records_from_chain(&bytes) {
        Ok((parsed, _)) => {
            assert!(
                result.is_ok(),
                "records_from_chain accepted what the structure check refuses"
            );
            assert_eq!(parsed, records);
        }
        Err(_) => assert!(result.is_err(), "records_from_chain refused a good chain"),
    }
    match &result {
        Ok(summary) => {
            assert!(
                expected,
                "verify_chain_structure accepted a chain the model refuses"
            );
            let first = &records[0].header().fields;
            assert_eq!(summary.recording_id, first.recording_id);
            assert_eq!(summary.device_key, first.device_key);
            assert_eq!(summary.segment_count, records.len() as u64);
            let total = records
                .iter()
                .fold(0u64, |a, r| a.saturating_add(r.plaintext_len()));
            assert_eq!(summary.plaintext_len, total);
            assert_eq!(
                summary.head_record_hash,
                records.last().expect("non-empty").record_hash()
            );
        }
        Err(Error::Chain(_)) => {
            assert!(
                !expected,
                "verify_chain_structure refused a chain the model accepts: {result:?}"
            );
        }
        Err(other) => panic!("verify_chain_structure failed with a non-chain error: {other:?}"),
    }
});
