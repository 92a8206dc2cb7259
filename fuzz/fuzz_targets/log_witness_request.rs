//! C2SP tlog-witness `add-checkpoint` bodies (`AddCheckpoint::parse`), what
//! `obhut witness` reads from any log: arbitrary bytes must not panic; a
//! parsed body re-encodes to its input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_log::witness::AddCheckpoint;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = AddCheckpoint::parse(data) {
        assert_eq!(r.to_bytes(), data, "re-encoding changed the input");
    }
});
