//! `consent::ConsentStatement::from_bytes` (docs/format.md §13.2):
//! arbitrary bytes must not panic; whenever parsing succeeds, the
//! canonical encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::consent::ConsentStatement;

fuzz_target!(|data: &[u8]| {
    obhut_fuzz::roundtrip!(data, ConsentStatement::from_bytes, |s: &ConsentStatement| s
        .to_bytes()
        .expect("a parsed statement encodes"));
});
