//! `audit::LogEntry::from_bytes` (docs/format.md §12): arbitrary bytes must
//! not panic; whenever parsing succeeds, the canonical encoding must equal
//! the input and `Display` must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::audit::LogEntry;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = LogEntry::from_bytes(data) {
        let again = e.to_bytes().expect("a parsed entry encodes");
        assert_eq!(again, data, "parse-then-serialize changed the input");
        let _ = e.to_string();
    }
});
