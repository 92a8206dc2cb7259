//! Hand-built MP4s: exact plans for known tables, the less common box
//! forms (64-bit sizes, size 0, co64, stz2, ctts, edit lists), and hostile
//! declarations that must be refused with a typed error before anything is
//! allocated.

use crate::common;

use std::io::Cursor;

use common::check_invariants;
use obhut_media::{
    CutKind, FALLBACK_BYTES, MediaError, OpaqueReason, PlanKind, keyframes, plan, plan_opaque,
};

fn bx(t: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(t);
    v.extend_from_slice(payload);
    v
}

fn full(t: &[u8; 4], version: u8, flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = (u32::from(version) << 24 | flags).to_be_bytes().to_vec();
    p.extend_from_slice(payload);
    bx(t, &p)
}

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_be_bytes()).collect()
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// Sample tables and track options for a synthetic video track.
#[derive(Clone)]
struct Spec {
    /// (sample_count, delta) pairs.
    stts: Vec<(u32, u32)>,
    /// 1-based sync sample numbers; `None` omits stss.
    stss: Option<Vec<u32>>,
    /// stsz: (constant size, count) or per-sample sizes.
    sizes: Result<(u32, u32), Vec<u32>>,
    /// (first_chunk, samples_per_chunk).
    stsc: Vec<(u32, u32)>,
    /// Chunk offsets, as filled in by `build`.
    co64: bool,
    stz2_16: bool,
    ctts: Option<Vec<(u32, i32)>>,
    /// elst entries (segment_duration, media_time).
    elst: Option<Vec<(u32, i32)>>,
    handler: [u8; 4],
}

impl Spec {
    /// 10 samples of 100 bytes, 1 s each (timescale 1000), sync every 2nd,
    /// in two chunks of 5.
    fn basic() -> Spec {
        Spec {
            stts: vec![(10, 1000)],
            stss: Some(vec![1, 3, 5, 7, 9]),
            sizes: Ok((100, 10)),
            stsc: vec![(1, 5)],
            co64: false,
            stz2_16: false,
            ctts: None,
            elst: None,
            handler: *b"vide",
        }
    }
}

fn moov(spec: &Spec, chunk_offsets: &[u64]) -> Vec<u8> {
    let mvhd = full(b"mvhd", 0, 0, &words(&[0, 0, 1000, 0]));
    let tkhd = full(b"tkhd", 0, 0, &words(&[0, 0, 1, 0, 0]));
    let mdhd = full(b"mdhd", 0, 0, &words(&[0, 0, 1000, 0, 0]));
    let mut h = words(&[0]);
    h.extend_from_slice(&spec.handler);
    h.extend_from_slice(&[0; 12]);
    let hdlr = full(b"hdlr", 0, 0, &h);
    let mut stbl = Vec::new();
    let stts: Vec<u32> = std::iter::once(spec.stts.len() as u32)
        .chain(spec.stts.iter().flat_map(|&(c, d)| [c, d]))
        .collect();
    stbl.push(full(b"stts", 0, 0, &words(&stts)));
    if let Some(ct) = &spec.ctts {
        let w: Vec<u32> = std::iter::once(ct.len() as u32)
            .chain(ct.iter().flat_map(|&(c, o)| [c, o as u32]))
            .collect();
        stbl.push(full(b"ctts", 1, 0, &words(&w)));
    }
    if let Some(ss) = &spec.stss {
        let w: Vec<u32> = std::iter::once(ss.len() as u32)
            .chain(ss.iter().copied())
            .collect();
        stbl.push(full(b"stss", 0, 0, &words(&w)));
    }
    match &spec.sizes {
        Ok((size, count)) => stbl.push(full(b"stsz", 0, 0, &words(&[*size, *count]))),
        Err(sizes) if spec.stz2_16 => {
            let mut p = words(&[16, sizes.len() as u32]);
            for s in sizes {
                p.extend_from_slice(&(*s as u16).to_be_bytes());
            }
            stbl.push(full(b"stz2", 0, 0, &p));
        }
        Err(sizes) => {
            let w: Vec<u32> = [0, sizes.len() as u32]
                .into_iter()
                .chain(sizes.iter().copied())
                .collect();
            stbl.push(full(b"stsz", 0, 0, &words(&w)));
        }
    }
    let stsc: Vec<u32> = std::iter::once(spec.stsc.len() as u32)
        .chain(spec.stsc.iter().flat_map(|&(f, n)| [f, n, 1]))
        .collect();
    stbl.push(full(b"stsc", 0, 0, &words(&stsc)));
    if spec.co64 {
        let mut p = words(&[chunk_offsets.len() as u32]);
        for o in chunk_offsets {
            p.extend_from_slice(&o.to_be_bytes());
        }
        stbl.push(full(b"co64", 0, 0, &p));
    } else {
        let w: Vec<u32> = std::iter::once(chunk_offsets.len() as u32)
            .chain(chunk_offsets.iter().map(|&o| o as u32))
            .collect();
        stbl.push(full(b"stco", 0, 0, &words(&w)));
    }
    let stbl = bx(b"stbl", &stbl.concat());
    let minf = bx(b"minf", &stbl);
    let mdia = bx(b"mdia", &cat(&[mdhd, hdlr, minf]));
    let mut trak = vec![tkhd];
    if let Some(e) = &spec.elst {
        let w: Vec<u32> = std::iter::once(e.len() as u32)
            .chain(e.iter().flat_map(|&(d, m)| [d, m as u32, 0x0001_0000]))
            .collect();
        trak.push(bx(b"edts", &full(b"elst", 0, 0, &words(&w))));
    }
    trak.push(mdia);
    bx(b"moov", &cat(&[mvhd, bx(b"trak", &trak.concat())]))
}

const FTYP: &[u8] = b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00";

#[derive(Clone, Copy, PartialEq)]
enum Mdat {
    Plain,
    Large,
    ToEnd,
}

/// ftyp, mdat (1000 bytes of samples), moov — or ftyp, moov, mdat when
/// `moov_first`. Chunks of 500 bytes. Returns (file, offset of sample data).
fn build(spec: &Spec, moov_first: bool, mdat: Mdat) -> (Vec<u8>, u64) {
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let mdat_header: Vec<u8> = match mdat {
        Mdat::Plain => [&(1008u32).to_be_bytes()[..], b"mdat"].concat(),
        Mdat::Large => [&1u32.to_be_bytes()[..], b"mdat", &1016u64.to_be_bytes()].concat(),
        Mdat::ToEnd => [&0u32.to_be_bytes()[..], b"mdat"].concat(),
    };
    let moov_len = moov(spec, &[0, 0]).len() as u64;
    let data_at =
        FTYP.len() as u64 + mdat_header.len() as u64 + if moov_first { moov_len } else { 0 };
    let m = moov(spec, &[data_at, data_at + 500]);
    let file = if moov_first {
        cat(&[FTYP.to_vec(), m, mdat_header, data])
    } else {
        cat(&[FTYP.to_vec(), mdat_header, data, m])
    };
    (file, data_at)
}

fn plan_bytes(b: &[u8], target: u64) -> Result<obhut_media::CutPlan, MediaError> {
    let r = plan(&mut Cursor::new(b), b.len() as u64, target);
    if let Ok(p) = &r {
        check_invariants(p, b.len() as u64);
    }
    r
}

/// (range, start, end) of the media cuts.
fn media(p: &obhut_media::CutPlan) -> Vec<(std::ops::Range<u64>, u64, u64)> {
    p.cuts()
        .iter()
        .filter(|c| c.kind == CutKind::Media)
        .map(|c| (c.range.clone(), c.media_start_ms, c.media_end_ms))
        .collect()
}

#[test]
fn exact_plan_moov_last_all_box_forms() {
    for mdat in [Mdat::Plain, Mdat::Large] {
        for (co64, stz2) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut spec = Spec::basic();
            spec.co64 = co64;
            if stz2 {
                spec.stz2_16 = true;
                spec.sizes = Err(vec![100; 10]);
            }
            let (f, d) = build(&spec, false, mdat);
            let p = plan_bytes(&f, 2000).expect("plan");
            assert_eq!(p.kind(), PlanKind::Mp4Progressive);
            let moov_at = d + 1000;
            assert_eq!(
                media(&p),
                vec![
                    (0..d + 200, 0, 2000),
                    (d + 200..d + 400, 2000, 4000),
                    (d + 400..d + 600, 4000, 6000),
                    (d + 600..d + 800, 6000, 8000),
                    (d + 800..moov_at, 8000, 10000),
                ]
            );
            let ix = p.cuts().last().expect("cut");
            assert_eq!(
                (ix.kind, ix.range.clone()),
                (CutKind::ContainerIndex, moov_at..f.len() as u64)
            );
        }
    }
}

#[test]
fn exact_plan_moov_first_size_zero_mdat() {
    for mdat in [Mdat::Plain, Mdat::Large, Mdat::ToEnd] {
        let (f, d) = build(&Spec::basic(), true, mdat);
        let p = plan_bytes(&f, 3000).expect("plan");
        let ix = &p.cuts()[0];
        assert_eq!(ix.kind, CutKind::ContainerIndex);
        let header = if mdat == Mdat::Large { 16 } else { 8 };
        assert_eq!(ix.range, 0..d - header, "ftyp + moov");
        assert_eq!(
            media(&p),
            vec![
                (d - header..d + 400, 0, 4000),
                (d + 400..d + 800, 4000, 8000),
                (d + 800..f.len() as u64, 8000, 10000),
            ]
        );
    }
}

#[test]
fn keyframe_list_and_no_stss_means_all_sync() {
    let (f, d) = build(&Spec::basic(), false, Mdat::Plain);
    let (k, kf) = keyframes(&mut Cursor::new(&f), f.len() as u64).expect("keyframes");
    assert_eq!(k, PlanKind::Mp4Progressive);
    let got: Vec<(u64, u64)> = kf.iter().map(|k| (k.offset, k.time_ms)).collect();
    assert_eq!(
        got,
        (0..5).map(|i| (d + 200 * i, 2000 * i)).collect::<Vec<_>>()
    );
    let mut spec = Spec::basic();
    spec.stss = None;
    let (f, _) = build(&spec, false, Mdat::Plain);
    let p = plan_bytes(&f, 0).expect("plan");
    assert_eq!(media(&p).len(), 10);
}

#[test]
fn edit_list_and_composition_offsets() {
    let mut spec = Spec::basic();
    // Every sample presented 2 s after its decode time; the edit list
    // starts presentation at media time 2000 after a 500 ms empty edit.
    spec.ctts = Some(vec![(10, 2000)]);
    spec.elst = Some(vec![(500, -1), (10_000, 2000)]);
    let (f, d) = build(&spec, false, Mdat::Plain);
    let p = plan_bytes(&f, 2000).expect("plan");
    assert_eq!(media(&p)[0], (0..d + 200, 500, 2500));
    assert_eq!(media(&p)[4], (d + 800..d + 1000, 8500, 10500));
}

#[test]
fn per_sample_sizes_and_chunk_runs() {
    let mut spec = Spec::basic();
    spec.sizes = Err(vec![50, 150, 100, 100, 100, 100, 100, 100, 60, 140]);
    spec.stsc = vec![(1, 2), (2, 8)];
    // build() puts chunks at data+0 and data+500: first chunk holds 2
    // samples (200 bytes), the second 8 (800 bytes) — then the second chunk
    // does not start at 500. Rebuild with matching offsets.
    let (_, d) = build(&spec, false, Mdat::Plain);
    let data: Vec<u8> = vec![7; 1000];
    let m = moov(&spec, &[d, d + 200]);
    let f = cat(&[
        FTYP.to_vec(),
        [&(1008u32).to_be_bytes()[..], b"mdat"].concat(),
        data,
        m,
    ]);
    let p = plan_bytes(&f, 2000).expect("plan");
    assert_eq!(
        media(&p).iter().map(|m| m.0.start).collect::<Vec<_>>(),
        vec![0, d + 200, d + 400, d + 600, d + 800]
    );
}

#[test]
fn not_mp4_and_no_video_are_opaque() {
    let len = u32::try_from(2 * FALLBACK_BYTES + (2 << 20)).expect("small");
    let noise: Vec<u8> = (0..len)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let p = plan_bytes(&noise, 2000).expect("plan");
    assert_eq!(p.kind(), PlanKind::Opaque);
    assert_eq!(p.opaque_reason(), Some(OpaqueReason::NotMp4));
    let sizes: Vec<u64> = p
        .cuts()
        .iter()
        .map(|c| c.range.end - c.range.start)
        .collect();
    assert_eq!(sizes, vec![FALLBACK_BYTES, FALLBACK_BYTES, 2 << 20]);
    assert!(
        p.cuts()
            .iter()
            .all(|c| c.media_start_ms == 0 && c.media_end_ms == 0)
    );
    // A zero-length opaque cut is the instant 0.
    assert_eq!(p.in_scope(0, 1), vec![0, 1, 2]);
    assert!(p.in_scope(1, 5).is_empty());

    for short in [&b""[..], b"abc", b"1234567"] {
        let p = plan_bytes(short, 2000).expect("plan");
        assert_eq!(p.opaque_reason(), Some(OpaqueReason::NotMp4));
        assert_eq!(p.cuts().len(), 1);
    }
    let mut spec = Spec::basic();
    spec.handler = *b"soun";
    let (f, _) = build(&spec, false, Mdat::Plain);
    assert_eq!(
        plan_bytes(&f, 2000).expect("plan").opaque_reason(),
        Some(OpaqueReason::NoVideoTrack)
    );
    let p = plan_opaque(10, 4);
    assert_eq!(
        p.cuts().iter().map(|c| c.range.clone()).collect::<Vec<_>>(),
        vec![0..4, 4..8, 8..10]
    );
}

#[test]
fn scope_selection() {
    let (f, _) = build(&Spec::basic(), false, Mdat::Plain);
    let p = plan_bytes(&f, 2000).expect("plan");
    // Media cuts are [0,2) [2,4) [4,6) [6,8) [8,10) s; the index is cut 5.
    assert_eq!(p.in_scope(2500, 4001), vec![1, 2, 5]);
    assert_eq!(p.in_scope(2000, 2000), Vec::<usize>::new());
    assert_eq!(p.in_scope(10_000, 20_000), Vec::<usize>::new());
    assert_eq!(p.in_scope(0, u64::MAX), vec![0, 1, 2, 3, 4, 5]);
}

fn err(b: &[u8]) -> MediaError {
    match plan_bytes(b, 2000) {
        Ok(p) => panic!("expected an error, got {p:?}"),
        Err(e) => e,
    }
}

/// Replaces the first occurrence of `pat` (a box type and what follows).
fn patch(f: &mut [u8], pat: &[u8], new: &[u8]) {
    let at = f
        .windows(pat.len())
        .position(|w| w == pat)
        .unwrap_or_else(|| panic!("pattern {pat:?} not found"));
    f[at..at + new.len()].copy_from_slice(new);
}

#[test]
fn hostile_sizes_and_counts_are_refused() {
    let (good, _) = build(&Spec::basic(), false, Mdat::Plain);

    // A sample count of 4 G with a constant size: refused before any
    // allocation or walk.
    let mut f = good.clone();
    patch(
        &mut f,
        b"stsz\x00\x00\x00\x00\x00\x00\x00\x64\x00\x00\x00\x0a",
        b"stsz\x00\x00\x00\x00\x00\x00\x00\x64\xff\xff\xff\xff",
    );
    let e = err(&f);
    assert!(
        matches!(e, MediaError::Limit { fourcc, what: "sample count", value: 0xffff_ffff, .. } if fourcc.to_string() == "stsz"),
        "{e}"
    );

    // A per-sample size table claiming more entries than the box holds.
    let mut spec = Spec::basic();
    spec.sizes = Err(vec![100; 10]);
    let (mut f, _) = build(&spec, false, Mdat::Plain);
    patch(
        &mut f,
        b"stsz\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0a",
        b"stsz\x00\x00\x00\x00\x00\x00\x00\x00\x00\x98\x96\x80",
    );
    let e = err(&f);
    assert!(
        e.to_string().contains("'stsz'") && e.to_string().contains("do not fit"),
        "{e}"
    );

    // stts covering fewer samples than stsz.
    let mut f = good.clone();
    patch(
        &mut f,
        b"stts\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x0a",
        b"stts\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x09",
    );
    let e = err(&f);
    assert!(e.to_string().contains("'stts'"), "{e}");

    // Chunk offsets pointing past the end of the file.
    let mut f = good.clone();
    patch(
        &mut f,
        b"stco\x00\x00\x00\x00\x00\x00\x00\x02",
        b"stco\x00\x00\x00\x00\x00\x00\x00\x02\x7f\xff\xff\xff",
    );
    let e = err(&f);
    assert!(e.to_string().contains("past the end of the file"), "{e}");

    // A moov claiming more than the file has.
    let mut f = good.clone();
    let moov_at = f.windows(4).position(|w| w == b"moov").expect("moov") - 4;
    f[moov_at..moov_at + 4].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    let e = err(&f);
    assert!(
        matches!(&e, MediaError::Malformed { fourcc, .. } if fourcc.to_string() == "moov"),
        "{e}"
    );

    // A 64-bit size smaller than its header; a 64-bit size of 2^63.
    for large in [8u64, 1 << 63] {
        let mut f = FTYP.to_vec();
        f.extend_from_slice(&[0, 0, 0, 1]);
        f.extend_from_slice(b"mdat");
        f.extend_from_slice(&large.to_be_bytes());
        f.extend_from_slice(&[0; 64]);
        let e = err(&f);
        assert!(e.to_string().contains("'mdat'"), "{e}");
    }

    // A child box larger than its parent.
    let mut f = good.clone();
    patch(&mut f, b"\x00\x00\x00\x20mdhd", b"\x7f\x00\x00\x20mdhd");
    let e = err(&f);
    assert!(
        e.to_string().contains("'mdhd'") && e.to_string().contains("parent"),
        "{e}"
    );

    // No moov at all (an unfinished recording).
    let e = err(&good[..good.len() - moov(&Spec::basic(), &[0, 0]).len()]);
    assert!(matches!(e, MediaError::Missing { .. }), "{e}");

    // Trailing bytes too short for a box.
    let mut f = good.clone();
    f.extend_from_slice(&[0; 5]);
    assert!(err(&f).to_string().contains("trailing"));

    // Zero timescale.
    let mut f = good.clone();
    patch(
        &mut f,
        b"mdhd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\xe8",
        b"mdhd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    );
    assert!(err(&f).to_string().contains("timescale"));
}

#[test]
fn hostile_fragment_sample_count_is_refused() {
    let spec = Spec {
        stts: vec![],
        stss: None,
        sizes: Ok((0, 0)),
        stsc: vec![],
        ..Spec::basic()
    };
    let m = moov(&spec, &[]);
    // Add mvex/trex inside moov.
    let trex = full(b"trex", 0, 0, &words(&[1, 1, 40, 0, 0]));
    let mut m2 = m[8..].to_vec();
    m2.extend_from_slice(&bx(b"mvex", &trex));
    let moov = bx(b"moov", &m2);
    let tfhd = full(b"tfhd", 0, 0x20000, &words(&[1]));
    let tfdt = full(b"tfdt", 1, 0, &0u64.to_be_bytes());
    // trun: no per-sample fields, sample_count 4 G.
    let trun = full(b"trun", 0, 0, &words(&[0xffff_ffff]));
    let moof = bx(
        b"moof",
        &cat(&[
            full(b"mfhd", 0, 0, &words(&[1])),
            bx(b"traf", &cat(&[tfhd.clone(), tfdt.clone(), trun])),
        ]),
    );
    let f = cat(&[FTYP.to_vec(), moov.clone(), moof, bx(b"mdat", &[0; 16])]);
    let e = err(&f);
    assert!(
        matches!(&e, MediaError::Limit { fourcc, .. } if fourcc.to_string() == "trun"),
        "{e}"
    );

    // The same with 25 samples of the trex default duration: a valid
    // fragmented plan, times from tfdt + durations.
    let mut frags = Vec::new();
    for i in 0..4u64 {
        let tfdt = full(b"tfdt", 1, 0, &(i * 1000).to_be_bytes());
        let trun = full(b"trun", 0, 0, &words(&[25]));
        frags.push(bx(
            b"moof",
            &cat(&[
                full(b"mfhd", 0, 0, &words(&[1])),
                bx(b"traf", &cat(&[tfhd.clone(), tfdt, trun])),
            ]),
        ));
        frags.push(bx(b"mdat", &[0; 16]));
    }
    let f = cat(&[vec![FTYP.to_vec(), moov], frags].concat());
    let p = plan_bytes(&f, 2000).expect("plan");
    assert_eq!(p.kind(), PlanKind::Mp4Fragmented);
    assert_eq!(
        media(&p).iter().map(|m| (m.1, m.2)).collect::<Vec<_>>(),
        vec![(0, 2000), (2000, 4000)]
    );
}

/// A requester rebuilds the plan from the signed records' cuts alone
/// (`CutPlan::from_cuts`): the index's position gives the layout, and the
/// hole headers are those a planner's plan gives.
#[test]
fn plans_rebuilt_from_cuts_place_the_same_hole_headers() {
    use obhut_media::{Cut, CutPlan};
    let cut = |start: u64, end: u64, kind: CutKind| Cut {
        range: start..end,
        kind,
        media_start_ms: 0,
        media_end_ms: 0,
    };
    let free = |size: u64| [&(size as u32).to_be_bytes()[..], b"free"].concat();
    // moov last: the first cut sealed gets a header spanning up to moov.
    let moov_last = CutPlan::from_cuts(vec![
        cut(0, 100, CutKind::Media),
        cut(100, 200, CutKind::Media),
        cut(200, 260, CutKind::ContainerIndex),
    ]);
    assert_eq!(moov_last.kind(), PlanKind::Mp4Progressive);
    assert_eq!(moov_last.file_len(), 260);
    assert_eq!(moov_last.hole_headers(&[1, 2]), vec![(0, free(200))]);
    assert!(moov_last.hole_headers(&[0, 1, 2]).is_empty());
    // Init segment first: each run of sealed fragments gets one header.
    let fragmented = CutPlan::from_cuts(vec![
        cut(0, 50, CutKind::ContainerIndex),
        cut(50, 150, CutKind::Media),
        cut(150, 250, CutKind::Media),
        cut(250, 350, CutKind::Media),
        cut(350, 450, CutKind::Media),
    ]);
    assert_eq!(fragmented.kind(), PlanKind::Mp4Fragmented);
    assert_eq!(
        fragmented.hole_headers(&[0, 3]),
        vec![(50, free(200)), (350, free(100))]
    );
    // No index: opaque pieces, nothing to step over.
    let opaque = CutPlan::from_cuts(vec![
        cut(0, 10, CutKind::Media),
        cut(10, 20, CutKind::Media),
    ]);
    assert_eq!(opaque.kind(), PlanKind::Opaque);
    assert!(opaque.hole_headers(&[1]).is_empty());
}
