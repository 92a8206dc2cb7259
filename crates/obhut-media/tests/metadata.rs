//! Descriptive metadata of real ffmpeg output (`udta` strings, a mov_text
//! subtitle track such as dashcams write their GPS into), in the three
//! layouts, found by
//! `obhut_media::metadata` and blanked with `blank_window`: the blanked
//! file has none of it, plans the same, and decodes cleanly (every
//! stream, subtitles included); the blanked bytes are the patch that
//! gives back the original.

use crate::common;

use std::fs::File;
use std::path::{Path, PathBuf};

use common::{generate, run};
use obhut_media::{Blank, CutKind, CutPlan, PlanKind, blank_window, metadata, plan};

const TITLE: &[u8] = b"OFFICERNAME4711";
const COMMENT: &[u8] = b"UNITSECRET";
const FIX: &[u8] = b"SECRETFIX";

/// 6 s of video with a title, a comment and a subtitle track holding a
/// "GPS fix" per second, in `layout`.
fn with_metadata(layout: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("obhut-media");
    std::fs::create_dir_all(&dir).unwrap();
    let srt = dir.join("gps.srt");
    let mut text = String::new();
    for i in 0..6 {
        text.push_str(&format!(
            "{}\n00:00:0{i},000 --> 00:00:0{i},900\nGPS N52.52{i} E13.40{i} SECRETFIX{i}\n\n",
            i + 1
        ));
    }
    std::fs::write(&srt, text).unwrap();
    let srt = srt.to_str().unwrap().to_owned();
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=6:size=160x120:rate=25",
        "-i",
        &srt,
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-c:s",
        "mov_text",
        "-metadata",
        "title=OFFICERNAME4711",
        "-metadata",
        "comment=UNITSECRET",
    ];
    match layout {
        "moov_last" => {}
        "faststart" => args.extend_from_slice(&["-movflags", "+faststart"]),
        "fragmented" => args.extend_from_slice(&["-movflags", "frag_keyframe+empty_moov"]),
        other => panic!("unknown layout {other}"),
    }
    generate(&format!("meta_{layout}.mp4"), &args)
}

fn has(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn plan_of(path: &Path) -> CutPlan {
    let len = std::fs::metadata(path).unwrap().len();
    plan(&mut File::open(path).unwrap(), len, 2_000).unwrap()
}

/// Blanks `path` into `blanked`; returns the original, the plan and the
/// blanks.
fn blank(path: &Path, blanked: &Path) -> (Vec<u8>, CutPlan, Vec<Blank>) {
    let original = std::fs::read(path).unwrap();
    let p = plan_of(path);
    let blanks = metadata(&mut File::open(path).unwrap(), &p).unwrap();
    // Sorted, disjoint, and each inside one cut: the index (boxes, size
    // tables) or a media cut (samples).
    for w in blanks.windows(2) {
        assert!(w[0].range.end <= w[1].range.start, "{blanks:?}");
    }
    for b in &blanks {
        let cut = p
            .cuts()
            .iter()
            .find(|c| c.range.start <= b.range.start && b.range.end <= c.range.end)
            .unwrap_or_else(|| panic!("{b:?} spans cuts"));
        if b.box_header > 0 {
            assert_eq!(cut.kind, CutKind::ContainerIndex, "{b:?}");
        }
    }
    // Blanked in odd-sized windows, as the agent's read-ahead does.
    let mut out = original.clone();
    for (i, chunk) in out.chunks_mut(777).enumerate() {
        blank_window(&blanks, i as u64 * 777, chunk);
    }
    std::fs::write(blanked, &out).unwrap();
    // The blanked bytes are all that changed; the originals restore it.
    let mut restored = out.clone();
    for b in &blanks {
        let r = b.range.start as usize..b.range.end as usize;
        restored[r.clone()].copy_from_slice(&original[r]);
    }
    assert!(restored == original);
    (original, p, blanks)
}

/// ffmpeg decodes `path` without a word on stderr: every stream
/// (subtitles included), or with `all` false those it picks itself.
fn decodes_cleanly(path: &Path, all: bool) {
    let mut args = vec!["-v", "error", "-i", path.to_str().unwrap()];
    if all {
        args.extend_from_slice(&["-map", "0", "-c:s", "srt"]);
    }
    args.extend_from_slice(&["-f", "null", "-"]);
    let out = run("ffmpeg", &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.trim().is_empty(), "{err}");
}

fn progressive(layout: &str) {
    let path = with_metadata(layout);
    let blanked = path.with_extension("blanked.mp4");
    let (original, p, blanks) = blank(&path, &blanked);
    assert_eq!(p.kind(), PlanKind::Mp4Progressive);
    let out = std::fs::read(&blanked).unwrap();
    for s in [TITLE, COMMENT, FIX] {
        assert!(has(&original, s));
        assert!(
            !has(&out, s),
            "{} left in {layout}",
            String::from_utf8_lossy(s)
        );
    }
    assert!(blanks.iter().any(|b| b.box_header == 8), "the udta box");
    assert!(blanks.iter().any(|b| b.box_header == 0), "subtitle samples");
    assert_eq!(plan_of(&blanked), p, "blanking moves no cut");
    decodes_cleanly(&path, true);
    decodes_cleanly(&blanked, true);
}

#[test]
fn moov_last_loses_its_udta_and_subtitle_samples() {
    progressive("moov_last");
}

#[test]
fn faststart_loses_its_udta_and_subtitle_samples() {
    progressive("faststart");
}

/// Fragmented: the init segment's `udta` goes, and the subtitle samples
/// inside the fragments (their sizes stay, so ffmpeg's mov_text decoder
/// finds the zeros malformed and says so: the video plays cleanly and the
/// subtitles are empty).
#[test]
fn fragmented_loses_its_udta_and_fragment_samples() {
    let path = with_metadata("fragmented");
    let blanked = path.with_extension("blanked.mp4");
    let (original, p, blanks) = blank(&path, &blanked);
    assert_eq!(p.kind(), PlanKind::Mp4Fragmented);
    let out = std::fs::read(&blanked).unwrap();
    for s in [TITLE, COMMENT, FIX] {
        assert!(has(&original, s));
        assert!(!has(&out, s), "{} left", String::from_utf8_lossy(s));
    }
    // Samples in the media cuts.
    let index = &p.cuts()[0];
    assert_eq!(index.kind, CutKind::ContainerIndex);
    assert!(
        blanks
            .iter()
            .any(|b| b.box_header == 0 && b.range.start >= index.range.end)
    );
    assert_eq!(plan_of(&blanked), p);
    decodes_cleanly(&blanked, false);
    run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            blanked.to_str().unwrap(),
            "-map",
            "0",
            "-c:s",
            "srt",
            "-f",
            "null",
            "-",
        ],
    );
}

/// A file without metadata tracks still has ffmpeg's encoder tag in
/// `udta`; a non-MP4 has nothing.
#[test]
fn plain_files() {
    let path = common::moov_last();
    let p = plan_of(&path);
    let blanks = metadata(&mut File::open(&path).unwrap(), &p).unwrap();
    assert_eq!(blanks.len(), 1, "{blanks:?}");
    let opaque = obhut_media::plan_opaque(100, 10);
    let mut src = std::io::Cursor::new(vec![0u8; 100]);
    assert!(metadata(&mut src, &opaque).unwrap().is_empty());
}
