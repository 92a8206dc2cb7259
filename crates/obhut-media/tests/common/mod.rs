//! Shared helpers: real MP4s generated with ffmpeg (cached under
//! CARGO_TARGET_TMPDIR), ffprobe packet lists, plan invariants.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use obhut_media::{CutKind, CutPlan};

/// Runs a tool, failing the test with a clear message when it is missing.
pub fn run(tool: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(tool)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{tool}` ({e}): these tests generate and check real MP4 files with \
                 ffmpeg/ffprobe; install ffmpeg (e.g. `apt-get install ffmpeg`) and put it on PATH"
            )
        });
    assert!(
        out.status.success(),
        "`{tool} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cache_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("obhut-media");
    std::fs::create_dir_all(&d).expect("create the test cache directory");
    d
}

/// Generates `name` with ffmpeg `args` (inputs and codecs; output appended)
/// once, atomically, and returns its path.
pub fn generate(name: &str, args: &[&str]) -> PathBuf {
    // One generator at a time in this process; the rename makes it atomic
    // across test binaries running in parallel.
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = cache_dir().join(name);
    if path.exists() {
        return path;
    }
    let tmp = cache_dir().join(format!("{name}.{}.tmp.mp4", std::process::id()));
    let tmp_s = tmp.to_str().expect("utf-8 path");
    let mut all = vec!["-y", "-nostdin", "-loglevel", "error"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-f", "mp4", tmp_s]);
    run("ffmpeg", &all);
    std::fs::rename(&tmp, &path).expect("move the generated file into place");
    path
}

const AV_30S: &[&str] = &[
    "-f",
    "lavfi",
    "-i",
    "testsrc=duration=30:size=320x240:rate=25",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=1000:duration=30",
    "-c:v",
    "libx264",
    "-g",
    "50",
    "-c:a",
    "aac",
];

/// 30 s, 320x240, 25 fps H.264 (GOP 50) + AAC; `moov` after `mdat`.
pub fn moov_last() -> PathBuf {
    generate("av30_moov_last.mp4", AV_30S)
}

/// The same with `-movflags +faststart` (`moov` before `mdat`).
pub fn faststart() -> PathBuf {
    let mut a = AV_30S.to_vec();
    a.extend_from_slice(&["-movflags", "+faststart"]);
    generate("av30_faststart.mp4", &a)
}

/// The same, fragmented at keyframes with an empty `moov`.
pub fn fragmented() -> PathBuf {
    let mut a = AV_30S.to_vec();
    a.extend_from_slice(&["-movflags", "frag_keyframe+empty_moov"]);
    generate("av30_fragmented.mp4", &a)
}

const AV_SMALL: &[&str] = &[
    "-f",
    "lavfi",
    "-i",
    "testsrc=duration=4:size=64x48:rate=10",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=1000:duration=4",
    "-c:v",
    "libx264",
    "-g",
    "10",
    "-c:a",
    "aac",
];

/// A small (4 s, 64x48) file for mutation tests, in the three layouts.
pub fn small(layout: &str) -> PathBuf {
    let mut a = AV_SMALL.to_vec();
    match layout {
        "moov_last" => {}
        "faststart" => a.extend_from_slice(&["-movflags", "+faststart"]),
        "fragmented" => a.extend_from_slice(&["-movflags", "frag_keyframe+empty_moov"]),
        other => panic!("unknown layout {other}"),
    }
    generate(&format!("small_{layout}.mp4"), &a)
}

/// A video packet as ffprobe sees it.
#[derive(Clone, Copy, Debug)]
pub struct Packet {
    pub pos: u64,
    pub pts_ms: f64,
    pub key: bool,
}

/// The video packets of `path`, in file order (ffprobe).
pub fn video_packets(path: &Path) -> Vec<Packet> {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_packets",
            "-show_entries",
            "packet=pos,pts_time,flags",
            "-of",
            "csv",
            path.to_str().expect("utf-8 path"),
        ],
    );
    let text = String::from_utf8(out.stdout).expect("ffprobe output is utf-8");
    let mut v = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("packet,")) {
        // ffprobe prints the fields in its own order: pts_time, pos, flags.
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 4, "unexpected ffprobe line {line:?}");
        v.push(Packet {
            pts_ms: f[1].parse::<f64>().expect("pts_time") * 1000.0,
            pos: f[2].parse().expect("pos"),
            key: f[3].starts_with('K'),
        });
    }
    assert!(!v.is_empty(), "ffprobe found no video packets in {path:?}");
    v
}

/// A stream's or the container's duration in seconds (ffprobe).
pub fn duration_s(path: &Path) -> f64 {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            path.to_str().expect("utf-8 path"),
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("ffprobe prints a duration")
}

/// The plan's invariants: contiguous, non-overlapping, exactly `0..len`;
/// media times monotone and well-formed; at most one index cut.
pub fn check_invariants(plan: &CutPlan, len: u64) {
    let cuts = plan.cuts();
    assert!(!cuts.is_empty(), "a plan has at least one cut");
    assert_eq!(cuts[0].range.start, 0, "first cut starts at 0");
    assert_eq!(cuts[cuts.len() - 1].range.end, len, "last cut ends at len");
    for w in cuts.windows(2) {
        assert_eq!(
            w[0].range.end, w[1].range.start,
            "cuts are contiguous: {w:?}"
        );
    }
    for c in cuts {
        assert!(c.range.start <= c.range.end, "{c:?}");
        assert!(c.media_start_ms <= c.media_end_ms, "{c:?}");
        if len > 0 {
            assert!(
                c.range.start < c.range.end,
                "no empty cut in a non-empty file: {c:?}"
            );
        }
    }
    assert!(
        cuts.iter()
            .filter(|c| c.kind == CutKind::ContainerIndex)
            .count()
            <= 1
    );
    let media: Vec<_> = cuts.iter().filter(|c| c.kind == CutKind::Media).collect();
    for w in media.windows(2) {
        assert!(
            w[0].media_end_ms <= w[1].media_start_ms || w[0].media_start_ms == w[0].media_end_ms,
            "media times are monotone: {w:?}"
        );
        assert!(w[0].media_start_ms <= w[1].media_start_ms, "{w:?}");
    }
}
