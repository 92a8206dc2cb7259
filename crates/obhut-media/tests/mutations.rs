//! Mutations of small real files (ffmpeg): truncations and byte flips in
//! the index and fragment headers return errors or valid plans, never
//! panics; truncated progressive files are always errors.

use crate::common;

use std::io::Cursor;
use std::sync::OnceLock;

use common::check_invariants;
use obhut_media::{CutKind, PlanKind, keyframes, plan};
use proptest::prelude::*;

struct Sample {
    bytes: Vec<u8>,
    /// Byte ranges worth mutating: the index cut and, for fragmented
    /// files, the first bytes of each media cut (moof headers).
    hot: Vec<std::ops::Range<usize>>,
}

fn load(layout: &str) -> Sample {
    let bytes = std::fs::read(common::small(layout)).expect("read small test file");
    let p = plan(&mut Cursor::new(&bytes), bytes.len() as u64, 1000).expect("plan the original");
    check_invariants(&p, bytes.len() as u64);
    assert_ne!(p.kind(), PlanKind::Opaque, "{layout}");
    let mut hot = Vec::new();
    for c in p.cuts() {
        let r = c.range.start as usize..c.range.end as usize;
        match c.kind {
            CutKind::ContainerIndex => hot.push(r),
            CutKind::Media if p.kind() == PlanKind::Mp4Fragmented => {
                hot.push(r.start..r.end.min(r.start + 600))
            }
            CutKind::Media => {}
        }
    }
    Sample { bytes, hot }
}

fn sample(layout: &'static str) -> &'static Sample {
    static MOOV_LAST: OnceLock<Sample> = OnceLock::new();
    static FASTSTART: OnceLock<Sample> = OnceLock::new();
    static FRAGMENTED: OnceLock<Sample> = OnceLock::new();
    let cell = match layout {
        "moov_last" => &MOOV_LAST,
        "faststart" => &FASTSTART,
        _ => &FRAGMENTED,
    };
    cell.get_or_init(|| load(layout))
}

const LAYOUTS: [&str; 3] = ["moov_last", "faststart", "fragmented"];

/// Plans `b` (and lists its keyframes); any Ok plan must be valid.
fn try_plan(b: &[u8], target: u64) -> bool {
    let len = b.len() as u64;
    let r = plan(&mut Cursor::new(b), len, target);
    let _ = keyframes(&mut Cursor::new(b), len);
    match r {
        Ok(p) => {
            check_invariants(&p, len);
            // Finding and blanking the metadata never panics either.
            if let Ok(blanks) = obhut_media::metadata(&mut Cursor::new(b), &p) {
                let mut copy = b.to_vec();
                obhut_media::blank_window(&blanks, 0, &mut copy);
            }
            true
        }
        Err(e) => {
            // Errors render (and name something).
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn truncation_is_an_error_never_a_panic(layout in 0usize..3, cut in 0.0f64..1.0) {
        let s = sample(LAYOUTS[layout]);
        let n = ((s.bytes.len() as f64) * cut) as usize;
        let ok = try_plan(&s.bytes[..n], 1000);
        if LAYOUTS[layout] != "fragmented" && n >= 8 {
            // A progressive file cut short always loses samples or moov.
            prop_assert!(!ok, "truncated at {n} but planned");
        }
    }

    #[test]
    fn truncation_near_box_boundaries(layout in 0usize..3, pick in any::<prop::sample::Index>(), delta in -20i64..20) {
        // Cuts land exactly at and around cut boundaries too.
        let s = sample(LAYOUTS[layout]);
        let r = s.hot[pick.index(s.hot.len())].clone();
        let n = (r.start as i64 + delta).clamp(0, s.bytes.len() as i64 - 1) as usize;
        let ok = try_plan(&s.bytes[..n], 1000);
        if LAYOUTS[layout] != "fragmented" && n >= 8 {
            prop_assert!(!ok, "truncated at {n} but planned");
        }
    }

    #[test]
    fn byte_flips_in_index_never_panic(
        layout in 0usize..3,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), 1u8..=255), 1..8),
        target in prop_oneof![Just(0u64), Just(1000u64), any::<u64>()],
    ) {
        let s = sample(LAYOUTS[layout]);
        let mut b = s.bytes.clone();
        for (range, at, x) in flips {
            let r = s.hot[range.index(s.hot.len())].clone();
            let i = r.start + at.index(r.len());
            b[i] ^= x;
        }
        try_plan(&b, target);
    }

    #[test]
    fn big_endian_words_set_to_extremes_never_panic(
        layout in 0usize..3,
        at in any::<prop::sample::Index>(),
        range in any::<prop::sample::Index>(),
        word in prop_oneof![Just(0u32), Just(1), Just(7), Just(8), Just(u32::MAX), Just(0x8000_0000), any::<u32>()],
    ) {
        // Sizes and counts are 32-bit words: overwrite one with an extreme.
        let s = sample(LAYOUTS[layout]);
        let r = s.hot[range.index(s.hot.len())].clone();
        let i = r.start + at.index(r.len().saturating_sub(3).max(1));
        let mut b = s.bytes.clone();
        let end = (i + 4).min(b.len());
        b[i..end].copy_from_slice(&word.to_be_bytes()[..end - i]);
        try_plan(&b, 1000);
    }
}

#[test]
fn fragmented_truncated_at_a_fragment_boundary_is_a_shorter_recording() {
    let s = sample("fragmented");
    let p = plan(&mut Cursor::new(&s.bytes), s.bytes.len() as u64, 0).expect("plan");
    let media: Vec<_> = p
        .cuts()
        .iter()
        .filter(|c| c.kind == CutKind::Media)
        .collect();
    assert!(media.len() >= 3);
    let n = media[2].range.start as usize;
    let q = plan(&mut Cursor::new(&s.bytes[..n]), n as u64, 0).expect("plan the prefix");
    check_invariants(&q, n as u64);
    assert_eq!(
        q.cuts(),
        &p.cuts()[..3],
        "same cuts as the full file's first ones"
    );
}
