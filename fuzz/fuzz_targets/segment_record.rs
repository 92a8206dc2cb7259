//! `record::SegmentRecord::from_bytes` (docs/format.md §7.1): parsing also verifies the device signature strictly, so only mutations that keep the signed bytes (and the signature) reach the round trip.
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::record::SegmentRecord;
use obhut_core::request::SegmentFacts;

fuzz_target!(|data: &[u8]| {
    // The unverified peek never panics, and agrees with a verified parse.
    let peeked = SegmentFacts::peek_record(data);
    if let Some(r) =
        obhut_fuzz::roundtrip!(data, SegmentRecord::from_bytes, SegmentRecord::to_bytes)
    {
        let _ = (r.record_hash(), r.blob_len());
        assert_eq!(peeked.ok(), Some(SegmentFacts::from(&r.header().fields)));
    }
});
