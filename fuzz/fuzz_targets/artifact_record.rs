//! `artifact::ArtifactRecord::from_bytes` (docs/format.md §13.1):
//! arbitrary bytes must not panic; whenever parsing succeeds, the
//! canonical encoding must equal the input, and the cascade reader of
//! §13.3 must not panic on the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::artifact::{ArtifactRecord, Cascade};
use obhut_core::wire::Reader;

fuzz_target!(|data: &[u8]| {
    obhut_fuzz::roundtrip!(data, ArtifactRecord::from_bytes, |r: &ArtifactRecord| r
        .to_bytes()
        .expect("a parsed record encodes"));
    let mut r = Reader::new("cascade", data);
    let _ = Cascade::read(&mut r);
});
