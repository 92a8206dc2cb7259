//! `segment::SegmentHeader::from_bytes` (docs/format.md §6.1).
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::segment::SegmentHeader;

fuzz_target!(|data: &[u8]| {
    if let Some(h) =
        obhut_fuzz::roundtrip!(data, SegmentHeader::from_bytes, SegmentHeader::to_bytes)
    {
        // A parsed header always satisfies its own validation and hashes.
        h.fields.validate().expect("a parsed header validates");
        assert_eq!(h.fields.to_hashed_bytes(), data[..data.len() - 32]);
        let _ = h.header_hash();
    }
});
