//! The clean clip (`plan_clip`) of real ffmpeg output: the scope's cuts
//! laid out as `obhut open --layout original` does (zeros elsewhere, hole
//! headers), then remuxed; the clip must decode without a single error and
//! its frames must be a run of the original's, covering the window.
#![allow(clippy::single_range_in_vec_init, clippy::reversed_empty_ranges)]

use crate::common;

use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path;

use common::{duration_s, run};
use obhut_media::{C2PA_UUID, ClipPlan, MediaError, c2pa_box_at, plan, plan_clip, plan_clip_with};

/// The frames' MD5s in decode output order (`framemd5`, video only).
fn frame_hashes(path: &Path) -> Vec<String> {
    let p = path.to_str().expect("utf-8 path");
    let out = run(
        "ffmpeg",
        &[
            "-nostdin",
            "-v",
            "error",
            "-i",
            p,
            "-map",
            "0:v",
            "-fps_mode",
            "passthrough",
            "-f",
            "framemd5",
            "-",
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_owned()))
        .collect()
}

/// The original layout of a scope `[a, b)` ms of `path` (as the opener
/// writes it) and the byte ranges it opened.
fn opened(path: &Path, a: u64, b: u64) -> (Vec<u8>, Vec<Range<u64>>) {
    let bytes = std::fs::read(path).expect("read");
    let len = bytes.len() as u64;
    let p = plan(&mut Cursor::new(&bytes), len, 2_000).expect("plan");
    let sel = p.in_scope(a, b);
    let mut out = vec![0u8; bytes.len()];
    let mut present = Vec::new();
    for &i in &sel {
        let r = p.cuts()[i].range.clone();
        out[r.start as usize..r.end as usize]
            .copy_from_slice(&bytes[r.start as usize..r.end as usize]);
        present.push(r);
    }
    for (at, h) in p.hole_headers(&sel) {
        out[at as usize..at as usize + h.len()].copy_from_slice(&h);
    }
    (out, present)
}

fn write_clip(src: &[u8], plan: &ClipPlan, to: &Path) {
    let mut f = File::create(to).expect("create clip");
    f.write_all(&plan.head).unwrap();
    let mut c = Cursor::new(src);
    for r in &plan.copies {
        c.seek(SeekFrom::Start(r.start)).unwrap();
        let mut buf = vec![0u8; (r.end - r.start) as usize];
        c.read_exact(&mut buf).unwrap();
        f.write_all(&buf).unwrap();
    }
    assert_eq!(f.metadata().unwrap().len(), plan.len());
}

fn sixty_seconds(name: &str, extra: &[&str]) -> std::path::PathBuf {
    let mut a = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=60:size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=1000:duration=60",
        "-c:v",
        "libx264",
        "-g",
        "50",
        "-c:a",
        "aac",
    ];
    a.extend_from_slice(extra);
    common::generate(name, &a)
}

fn check_window(path: &Path, tag: &str) {
    let (a, b) = (25_000, 35_000);
    let (file, present) = opened(path, a, b);
    let p = plan_clip(&mut Cursor::new(&file), file.len() as u64, &present, a..b)
        .expect("plan the clip");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("obhut-media");
    let clip = dir.join(format!("clip_{tag}.mp4"));
    write_clip(&file, &p, &clip);

    // Plays without one error.
    let c = clip.to_str().unwrap();
    let out = run(
        "ffmpeg",
        &["-nostdin", "-v", "error", "-i", c, "-f", "null", "-"],
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 10 s within one GOP (2 s) either way, starting at or before the window.
    let d = duration_s(&clip);
    assert!((8.0..=12.1).contains(&d), "clip lasts {d} s");
    assert!(p.start_ms <= a && p.end_ms >= b, "{p:?}");

    // Its frames are the original's, in order, from the keyframe at or
    // before the window's start.
    let all = frame_hashes(path);
    let got = frame_hashes(&clip);
    let first = all
        .iter()
        .position(|h| *h == got[0])
        .expect("the clip's first frame is the original's");
    assert_eq!(got.len(), p.video_samples);
    assert_eq!(got[..], all[first..first + got.len()]);
    // Frame `first` is shown at first/25 s (give or take the two frames a
    // file without an edit list shows late).
    let at = (first as u64) * 40;
    assert!(at <= p.start_ms && p.start_ms <= at + 80, "{at} vs {p:?}");
}

#[test]
fn a_ten_second_window_of_a_moov_last_recording_plays_and_equals_the_original() {
    check_window(&sixty_seconds("av60_moov_last.mp4", &[]), "moov_last");
}

#[test]
fn a_ten_second_window_of_a_faststart_recording_plays_and_equals_the_original() {
    let p = sixty_seconds("av60_faststart.mp4", &["-movflags", "+faststart"]);
    check_window(&p, "faststart");
}

#[test]
fn a_ten_second_window_of_a_fragmented_recording_plays_and_equals_the_original() {
    let p = sixty_seconds(
        "av60_fragmented.mp4",
        &["-movflags", "frag_keyframe+empty_moov"],
    );
    check_window(&p, "fragmented");
}

/// Room for a C2PA manifest box after `ftyp` (what a C2PA writer inserts
/// when it signs a clip, docs/bundle.md §4): the box sits where the
/// writers put it, the chunk offsets count it, and the clip still plays
/// the same frames.
#[test]
fn a_clip_with_a_c2pa_box_after_ftyp_plays_the_same_frames() {
    let path = sixty_seconds("av60_moov_last.mp4", &[]);
    let (a, b) = (25_000, 35_000);
    let (file, present) = opened(&path, a, b);
    let mut uuid = 40u32.to_be_bytes().to_vec();
    uuid.extend_from_slice(b"uuid");
    uuid.extend_from_slice(&C2PA_UUID);
    uuid.extend_from_slice(&[0x5a; 16]);
    let len = file.len() as u64;
    let plain = plan_clip(&mut Cursor::new(&file), len, &present, a..b).unwrap();
    let boxed = plan_clip_with(&mut Cursor::new(&file), len, &present, a..b, &uuid).unwrap();
    assert_eq!(boxed.head.len(), plain.head.len() + uuid.len());
    assert_eq!(boxed.copies, plain.copies);
    assert_eq!(c2pa_box_at(&boxed.head), Some(28..68));
    assert_eq!(c2pa_box_at(&plain.head), None);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("obhut-media");
    let (p, q) = (dir.join("clip_plain.mp4"), dir.join("clip_c2pa_box.mp4"));
    write_clip(&file, &plain, &p);
    write_clip(&file, &boxed, &q);
    let c = q.to_str().unwrap();
    let out = run(
        "ffmpeg",
        &["-nostdin", "-v", "error", "-i", c, "-f", "null", "-"],
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(frame_hashes(&q), frame_hashes(&p));
}

#[test]
fn nothing_opened_is_no_clip_and_truncated_or_mutated_files_never_panic() {
    for layout in ["moov_last", "fragmented"] {
        never_panics(&std::fs::read(common::small(layout)).unwrap());
    }
}

fn never_panics(bytes: &[u8]) {
    let bytes = bytes.to_vec();
    let len = bytes.len() as u64;
    let e = plan_clip(&mut Cursor::new(&bytes), len, &[], 0..4000).unwrap_err();
    assert!(matches!(e, MediaError::NoClip(_)), "{e}");
    // Every 97th truncation.
    for cut in (0..bytes.len()).step_by(97) {
        let b = &bytes[..cut];
        let _ = plan_clip(&mut Cursor::new(b), cut as u64, &[0..len, 5..3], 0..4000);
    }
    // Every byte of the moov (and the first fragment's moof).
    let moov = bytes.windows(4).position(|w| w == b"moov").unwrap() - 4;
    let end = bytes
        .windows(4)
        .position(|w| w == b"mdat")
        .filter(|&m| m > moov)
        .unwrap_or(bytes.len());
    for i in moov..end {
        let mut m = bytes.clone();
        m[i] ^= 0xff;
        let _ = plan_clip(&mut Cursor::new(&m), len, &[0..len], 1000..3000);
        m[i] = 0;
        let _ = plan_clip(&mut Cursor::new(&m), len, &[0..len], 0..u64::MAX);
    }
}
