//! C2SP tlog-tiles paths (`TileId::parse_path`), what the vault's
//! `/v1/log/tile/*` route reads: arbitrary text must not panic; a parsed
//! path re-encodes to its input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_log::tiles::TileId;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((t, entries)) = TileId::parse_path(s) {
        let again = if entries { t.entries_path() } else { t.path() };
        assert_eq!(again, s, "re-encoding changed the path");
    }
});
