//! `meta_patch::MetadataPatch::parse` (docs/format.md §7.4). Arbitrary
//! bytes must not panic; whenever parsing succeeds, the canonical encoding
//! must equal the input, the entries are sorted, disjoint and inside
//! `file_len`, and applying the patch to a window of any offset never
//! panics and writes exactly the entries' bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::meta_patch::MetadataPatch;

fuzz_target!(|data: &[u8]| {
    if let Some(p) = obhut_fuzz::roundtrip!(data, MetadataPatch::parse, MetadataPatch::to_bytes) {
        let mut end = 0;
        for e in p.entries() {
            assert!(e.offset >= end && e.end() <= p.file_len() && !e.data.is_empty());
            end = e.end();
        }
        assert!(p.check_file_len(p.file_len()).is_ok());
        // A window over the first entry, starting a byte early if it can.
        if let Some(first) = p.entries().first() {
            let at = first.offset.saturating_sub(1);
            let mut window = vec![0u8; first.data.len().min(4096) + 2];
            p.apply_window(at, &mut window);
            let skip = (first.offset - at) as usize;
            let n = (window.len() - skip).min(first.data.len());
            assert_eq!(&window[skip..skip + n], &first.data[..n]);
        }
    }
});
