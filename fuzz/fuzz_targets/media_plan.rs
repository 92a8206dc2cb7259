//! `obhut_media::plan` and `obhut_media::keyframes` (docs/format.md §7.3)
//! over arbitrary bytes. Must never panic, hang or allocate beyond the
//! crate's limits; whenever planning succeeds, the cuts must be contiguous,
//! cover exactly `0..len`, and have monotone media times; the metadata
//! `metadata` finds is sorted, disjoint and inside the file; `plan_clip`
//! copies only opened bytes.
//!
//! Input layout: bytes 0..2 the target segment duration in units of 16 ms
//! (u16 BE), then the file. Seed with small ffmpeg MP4s (the crate's test
//! files under `target/tmp/obhut-media/small_*.mp4`).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use obhut_media::{CutKind, blank_window, keyframes, metadata, plan, plan_clip};

fuzz_target!(|data: &[u8]| {
    let Some((t, file)) = data.split_first_chunk::<2>() else {
        return;
    };
    let target = u64::from(u16::from_be_bytes(*t)) * 16;
    let len = file.len() as u64;
    let _ = keyframes(&mut Cursor::new(file), len);
    // The clean clip of a window, with part of the file opened (two
    // overlapping ranges, whose union ends 7 bytes short of the end):
    // never a panic, and it copies only opened bytes.
    let end = len.saturating_sub(7);
    let opened = [0..len / 2, len / 3..end];
    if let Ok(c) = plan_clip(&mut Cursor::new(file), len, &opened, target..target * 3) {
        assert!(c.copies.iter().all(|r| r.start < r.end && r.end <= end));
    }
    let Ok(p) = plan(&mut Cursor::new(file), len, target) else {
        return;
    };
    let cuts = p.cuts();
    assert!(!cuts.is_empty());
    assert_eq!(cuts[0].range.start, 0);
    assert_eq!(cuts[cuts.len() - 1].range.end, len);
    for w in cuts.windows(2) {
        assert_eq!(w[0].range.end, w[1].range.start);
    }
    for c in cuts {
        assert!(c.range.start < c.range.end || len == 0);
        assert!(c.media_start_ms <= c.media_end_ms);
    }
    let media: Vec<_> = cuts.iter().filter(|c| c.kind == CutKind::Media).collect();
    for w in media.windows(2) {
        assert!(w[0].media_start_ms <= w[1].media_start_ms);
    }
    let sel = p.in_scope(0, u64::MAX);
    let _ = p.hole_headers(&sel);
    // The metadata to blank: sorted, disjoint, inside the file; blanking
    // never panics.
    if let Ok(blanks) = metadata(&mut Cursor::new(file), &p) {
        for w in blanks.windows(2) {
            assert!(w[0].range.end <= w[1].range.start);
        }
        assert!(
            blanks
                .iter()
                .all(|b| b.range.start < b.range.end && b.range.end <= len)
        );
        let mut copy = file.to_vec();
        blank_window(&blanks, 0, &mut copy);
    }
});
