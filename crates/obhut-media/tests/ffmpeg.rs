//! Plans of real ffmpeg output, cross-checked with ffprobe, and the scope
//! rebuild (sparse file + `ffmpeg -c copy`) described in the crate docs.

use crate::common;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::path::Path;

use common::{Packet, check_invariants, duration_s, run, video_packets};
use obhut_media::{CutKind, CutPlan, OpaqueReason, PlanKind, keyframes, plan};

const TARGET_MS: u64 = 5_000;
/// The test files' GOP: 50 frames at 25 fps.
const GOP_MS: u64 = 2_000;

fn plan_file(path: &Path, target: u64) -> (CutPlan, Vec<u8>) {
    let bytes = std::fs::read(path).expect("read the test file");
    let mut f = File::open(path).expect("open the test file");
    let p = plan(&mut f, bytes.len() as u64, target).expect("plan a real ffmpeg file");
    check_invariants(&p, bytes.len() as u64);
    (p, bytes)
}

fn box_type_at(bytes: &[u8], off: u64) -> &[u8] {
    &bytes[off as usize + 4..off as usize + 8]
}

/// Checks every media cut against ffprobe's video packets: it starts at a
/// keyframe (progressive) or at a fragment whose first video packet is a
/// keyframe (fragmented); its start time is that keyframe's pts; it covers
/// at least the target and at most target + GOP (but the last).
fn check_against_ffprobe(p: &CutPlan, bytes: &[u8], pk: &[Packet], fragmented: bool) {
    let media: Vec<_> = p
        .cuts()
        .iter()
        .filter(|c| c.kind == CutKind::Media)
        .collect();
    assert!(media.len() >= 5, "30 s at 5 s per cut: {media:?}");
    let by_pos: BTreeMap<u64, Packet> = pk.iter().map(|p| (p.pos, *p)).collect();
    for (i, c) in media.iter().enumerate() {
        // The first video packet stored in the cut.
        let (&pos, first) = by_pos
            .range(c.range.clone())
            .next()
            .unwrap_or_else(|| panic!("cut {i} {c:?} holds no video packet"));
        if i == 0 {
            assert!(
                first.pts_ms.abs() <= 1.0 || fragmented,
                "first cut starts at time 0"
            );
        } else {
            assert!(first.key, "cut {i} {c:?} opens with a keyframe ({first:?})");
            if fragmented {
                assert_eq!(
                    box_type_at(bytes, c.range.start),
                    b"moof",
                    "cut {i} starts at a moof"
                );
            } else {
                assert_eq!(pos, c.range.start, "cut {i} starts exactly at a keyframe");
            }
        }
        if i > 0 || fragmented {
            assert!(
                (c.media_start_ms as f64 - first.pts_ms).abs() <= 1.0,
                "cut {i} {c:?}: start time vs ffprobe pts {}",
                first.pts_ms
            );
        }
        let dur = c.media_end_ms - c.media_start_ms;
        if i + 1 < media.len() {
            assert!(
                (TARGET_MS..TARGET_MS + GOP_MS).contains(&dur),
                "cut {i} {c:?} lasts {dur} ms, want the target {TARGET_MS} up to one GOP more"
            );
        } else {
            assert!(dur > 0 && dur < TARGET_MS + GOP_MS, "last cut {c:?}");
        }
    }
    // Media times end at the end of the video.
    let last_pts = pk.iter().map(|p| p.pts_ms).fold(0.0, f64::max);
    let end = media.last().expect("media").media_end_ms as f64;
    assert!(
        end > last_pts && end <= last_pts + 100.0,
        "end {end} vs last pts {last_pts}"
    );
}

fn check_keyframes(path: &Path, bytes: &[u8], pk: &[Packet], kind: PlanKind) {
    let (k, kfs) = keyframes(&mut Cursor::new(bytes), bytes.len() as u64).expect("keyframes");
    assert_eq!(k, kind);
    let probe: Vec<&Packet> = pk.iter().filter(|p| p.key).collect();
    assert_eq!(
        kfs.len(),
        probe.len(),
        "{path:?}: one cut point per keyframe"
    );
    for (a, b) in kfs.iter().zip(probe) {
        if kind == PlanKind::Mp4Progressive {
            assert_eq!(a.offset, b.pos);
        } else {
            assert!(a.offset < b.pos && box_type_at(bytes, a.offset) == b"moof");
        }
        assert!((a.time_ms as f64 - b.pts_ms).abs() <= 1.0, "{a:?} vs {b:?}");
    }
}

/// Concatenating the cuts gives the original bytes (reading each cut
/// through the same Read + Seek interface the agent will use).
fn check_concat(p: &CutPlan, path: &Path, bytes: &[u8]) {
    let mut f = File::open(path).expect("open");
    let mut out = Vec::with_capacity(bytes.len());
    for c in p.cuts() {
        f.seek(SeekFrom::Start(c.range.start)).expect("seek");
        let mut buf = vec![0u8; (c.range.end - c.range.start) as usize];
        f.read_exact(&mut buf).expect("read cut");
        out.extend_from_slice(&buf);
    }
    assert!(out == bytes, "concatenated cuts equal the original");
}

#[test]
fn progressive_moov_last() {
    let path = common::moov_last();
    let (p, bytes) = plan_file(&path, TARGET_MS);
    assert_eq!(p.kind(), PlanKind::Mp4Progressive);
    assert_eq!(p.opaque_reason(), None);
    let idx = p.cuts().last().expect("cuts");
    assert_eq!(idx.kind, CutKind::ContainerIndex);
    assert_eq!(box_type_at(&bytes, idx.range.start), b"moov");
    assert_eq!((idx.media_start_ms, idx.media_end_ms), (0, 0));
    assert_eq!(
        p.cuts()[0].range.start,
        0,
        "ftyp travels with the first media cut"
    );
    let pk = video_packets(&path);
    check_against_ffprobe(&p, &bytes, &pk, false);
    check_keyframes(&path, &bytes, &pk, PlanKind::Mp4Progressive);
    check_concat(&p, &path, &bytes);
}

#[test]
fn progressive_faststart() {
    let path = common::faststart();
    let (p, bytes) = plan_file(&path, TARGET_MS);
    assert_eq!(p.kind(), PlanKind::Mp4Progressive);
    let idx = &p.cuts()[0];
    assert_eq!(idx.kind, CutKind::ContainerIndex);
    assert_eq!(box_type_at(&bytes, 0), b"ftyp");
    // The index cut is ftyp + moov and ends where moov ends.
    let moov_at = u32::from_be_bytes(bytes[0..4].try_into().expect("4")) as u64;
    assert_eq!(box_type_at(&bytes, moov_at), b"moov");
    let moov_len = u32::from_be_bytes(bytes[moov_at as usize..][..4].try_into().expect("4"));
    assert_eq!(idx.range, 0..moov_at + u64::from(moov_len));
    let pk = video_packets(&path);
    check_against_ffprobe(&p, &bytes, &pk, false);
    check_keyframes(&path, &bytes, &pk, PlanKind::Mp4Progressive);
    check_concat(&p, &path, &bytes);
}

#[test]
fn fragmented_keyframe_fragments() {
    let path = common::fragmented();
    let (p, bytes) = plan_file(&path, TARGET_MS);
    assert_eq!(p.kind(), PlanKind::Mp4Fragmented);
    let idx = &p.cuts()[0];
    assert_eq!(idx.kind, CutKind::ContainerIndex);
    assert_eq!(
        box_type_at(&bytes, idx.range.end),
        b"moof",
        "init segment ends at the first moof"
    );
    let pk = video_packets(&path);
    check_against_ffprobe(&p, &bytes, &pk, true);
    check_keyframes(&path, &bytes, &pk, PlanKind::Mp4Fragmented);
    check_concat(&p, &path, &bytes);
}

#[test]
fn target_zero_cuts_at_every_keyframe() {
    let path = common::faststart();
    let (p, _) = plan_file(&path, 0);
    let media = p.cuts().iter().filter(|c| c.kind == CutKind::Media).count();
    let keys = video_packets(&path).iter().filter(|p| p.key).count();
    assert_eq!(media, keys);
}

/// The access workflow of the crate docs: the index cut and the scope's
/// media cuts at their original offsets in a sparse file of the original
/// length, remuxed with `ffmpeg -ss A -to B -c copy`, play as a clip of the
/// scope.
fn rebuild_scopes(path: &Path, name: &str) {
    // A scope in the middle, one at the start, one at the end.
    for (a, b) in [(11_000u64, 17_000u64), (0, 3_000), (26_000, 30_000)] {
        rebuild_scope(path, &format!("{name}_{a}_{b}"), a, b);
    }
}

fn rebuild_scope(path: &Path, name: &str, a: u64, b: u64) {
    let (p, bytes) = plan_file(path, TARGET_MS);
    let sel = p.in_scope(a, b);
    let media: Vec<_> = sel
        .iter()
        .filter(|&&i| p.cuts()[i].kind == CutKind::Media)
        .collect();
    assert!(
        !media.is_empty() && media.len() < p.cuts().len() - 1,
        "a partial scope selects some, not all, media cuts: {sel:?}"
    );
    assert!(
        sel.iter()
            .any(|&i| p.cuts()[i].kind == CutKind::ContainerIndex)
    );

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("obhut-media");
    let sparse = dir.join(format!("{name}.sparse.mp4"));
    let clip = dir.join(format!("{name}.clip.mp4"));
    {
        let mut f = File::create(&sparse).expect("create sparse file");
        f.set_len(bytes.len() as u64).expect("set_len");
        for &i in &sel {
            let r = p.cuts()[i].range.clone();
            f.seek(SeekFrom::Start(r.start)).expect("seek");
            f.write_all(&bytes[r.start as usize..r.end as usize])
                .expect("write cut");
        }
        for (off, header) in p.hole_headers(&sel) {
            f.seek(SeekFrom::Start(off)).expect("seek");
            f.write_all(&header).expect("write hole header");
        }
    }
    let (sa, sb) = (
        format!("{}", a as f64 / 1000.0),
        format!("{}", b as f64 / 1000.0),
    );
    let remux = |input: &Path, output: &Path| {
        run(
            "ffmpeg",
            &[
                "-y",
                "-nostdin",
                "-loglevel",
                "error",
                "-seek_timestamp",
                "1",
                "-ss",
                &sa,
                "-to",
                &sb,
                "-i",
                input.to_str().expect("utf-8"),
                "-c",
                "copy",
                output.to_str().expect("utf-8"),
            ],
        );
    };
    remux(&sparse, &clip);
    // The same command on the original file gives the same video packets.
    let reference = dir.join(format!("{name}.reference.mp4"));
    remux(path, &reference);
    let packet_md5 = |f: &Path| {
        let out = run(
            "ffmpeg",
            &[
                "-nostdin",
                "-v",
                "error",
                "-i",
                f.to_str().expect("utf-8"),
                "-map",
                "0:v",
                "-c",
                "copy",
                "-f",
                "framemd5",
                "-",
            ],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (got, want_md5) = (packet_md5(&clip), packet_md5(&reference));
    assert!(!got.is_empty());
    assert!(
        got == want_md5,
        "{name}: the clip rebuilt from the opened cuts differs from the clip of the original"
    );
    // ffprobe reads it, its duration is about the scope (input seeking with
    // stream copy starts at the keyframe at or before A: up to one GOP more).
    let d = duration_s(&clip);
    let want = (b - a) as f64 / 1000.0;
    assert!(
        d >= want - 0.5 && d <= want + GOP_MS as f64 / 1000.0 + 0.5,
        "{name}: clip lasts {d} s, scope {want} s"
    );
    // Every video frame of the clip decodes.
    let out = run(
        "ffmpeg",
        &[
            "-nostdin",
            "-v",
            "error",
            "-i",
            clip.to_str().expect("utf-8"),
            "-map",
            "0:v",
            "-f",
            "null",
            "-",
        ],
    );
    assert!(
        out.stderr.is_empty(),
        "{name}: decoding the clip's video reports errors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frames = video_packets(&clip).len() as f64;
    assert!(
        frames >= (want - 0.5) * 25.0,
        "{name}: the clip has {frames} frames"
    );
}

#[test]
fn rebuild_scope_moov_last() {
    rebuild_scopes(&common::moov_last(), "moov_last");
}

#[test]
fn rebuild_scope_faststart() {
    rebuild_scopes(&common::faststart(), "faststart");
}

#[test]
fn rebuild_scope_fragmented() {
    rebuild_scopes(&common::fragmented(), "fragmented");
}

#[test]
fn audio_only_is_opaque() {
    let path = common::generate(
        "audio_only.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=500:duration=2",
            "-c:a",
            "aac",
        ],
    );
    let (p, bytes) = plan_file(&path, TARGET_MS);
    assert_eq!(p.kind(), PlanKind::Opaque);
    assert_eq!(p.opaque_reason(), Some(OpaqueReason::NoVideoTrack));
    assert_eq!(p.cuts().len(), 1);
    assert_eq!(p.cuts()[0].range, 0..bytes.len() as u64);
}
