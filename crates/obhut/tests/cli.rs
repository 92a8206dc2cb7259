//! End-to-end tests of the `obhut` binary: every role run from a shell in a
//! temporary directory, on a real MP4 made with ffmpeg.
//!
//! The sealed fixture (keys, a 2-of-3 custody group signed by all three
//! custodians, a 20 s H.264 clip sealed in 16 KiB segments with a metadata
//! sidecar) is built once per test process; tests that alter files work on
//! their own copies.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_obhut");
const PASS: &str = "correct horse battery staple";
const SEGMENT_BYTES: u64 = 16 * 1024;
const DURATION_MS: u64 = 20_000;

/// Run `obhut` in `dir` with `OBHUT_PASSPHRASE` set to `pass` (if any) and
/// no terminal on stdin.
fn run_in(dir: &Path, pass: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .args(args)
        .env_remove("OBHUT_PASSPHRASE")
        .stdin(Stdio::null());
    if let Some(p) = pass {
        c.env("OBHUT_PASSPHRASE", p);
    }
    c.output().expect("run the obhut binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run and require success; returns stdout.
#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run_in(dir, Some(PASS), args);
    assert!(
        out.status.success(),
        "obhut {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Run and require failure; returns stderr.
#[track_caller]
fn fails(dir: &Path, pass: Option<&str>, args: &[&str]) -> String {
    let out = run_in(dir, pass, args);
    assert!(
        !out.status.success(),
        "obhut {args:?} unexpectedly succeeded\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "errors exit with status 1");
    text(&out.stderr)
}

#[track_caller]
fn assert_contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected to find\n  {needle}\nin\n{haystack}"
    );
}

/// Make a 20 s H.264 MP4 with ffmpeg, or fail saying how to get ffmpeg.
fn make_mp4(path: &Path) {
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc=duration=20:size=320x240:rate=25")
        .args(["-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p"])
        .arg(path)
        .stdin(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("ffmpeg failed ({s}) making the test MP4; is libx264 available?"),
        Err(e) => panic!(
            "ffmpeg is needed to make the test MP4 but could not be run ({e}). \
             Install it (`apt-get install ffmpeg`; ./scripts/test does this) and run the tests again."
        ),
    }
}

struct Fixture {
    dir: PathBuf,
    recording_id: String,
}

impl Fixture {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }
    /// A new empty work directory for one test.
    fn workdir(&self, name: &str) -> PathBuf {
        let d = self.dir.join("work").join(name);
        fs::create_dir_all(&d).unwrap();
        d
    }
}

/// Keys, group, sealed recording: built once.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // The fixture outlives the test threads (a static is never dropped):
        // remove those of earlier runs, older than an hour.
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        for e in fs::read_dir(tmp).into_iter().flatten().flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 3600);
            if old && e.file_name().to_string_lossy().starts_with("obhut-cli-") {
                let _ = fs::remove_dir_all(e.path());
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("obhut-cli-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        let d = dir.as_path();
        for who in ["alice", "bob", "carol"] {
            let fpr = ok(
                d,
                &[
                    "keygen",
                    "person",
                    "--name",
                    who,
                    "--out",
                    &format!("{who}.key"),
                    "--kdf-fast",
                ],
            );
            assert_eq!(
                fpr.trim().len(),
                64,
                "a fingerprint is 64 hex digits: {fpr}"
            );
        }
        // The requester's passphrase comes from a file.
        fs::write(d.join("req.pass"), format!("{PASS}\n")).unwrap();
        let out = run_in(
            d,
            None,
            &[
                "keygen",
                "person",
                "--name",
                "requester",
                "--out",
                "req.key",
                "--kdf-fast",
                "--passphrase-file",
                "req.pass",
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        ok(
            d,
            &[
                "keygen",
                "device",
                "--name",
                "bodycam-0042",
                "--out",
                "cam.key",
                "--kdf-fast",
            ],
        );
        ok(
            d,
            &[
                "keygen",
                "epoch",
                "--class",
                "bodycam-30d",
                "--not-before",
                "2026-01-01T00:00:00Z",
                "--not-after",
                "2099-01-01T00:00:00Z",
                "--out",
                "epoch.key",
                "--kdf-fast",
            ],
        );
        ok(
            d,
            &[
                "custody",
                "init",
                "--name",
                "evidence",
                "--threshold",
                "2",
                "--custodian",
                "alice.key.pub",
                "--custodian",
                "bob.key.pub",
                "--custodian",
                "carol.key.pub",
                "--out",
                "custody",
            ],
        );
        for (i, who) in ["alice", "bob", "carol"].iter().enumerate() {
            ok(
                d,
                &[
                    "custody",
                    "sign",
                    "--group",
                    "custody/group.obgd",
                    "--identity",
                    &format!("{who}.key"),
                    "--share",
                    &format!("custody/share-{}.obse", i + 1),
                ],
            );
        }
        make_mp4(&d.join("clip.mp4"));
        fs::write(
            d.join("notes.json"),
            br#"{"officer":"PC 4711","gps":[[52.52,13.40]]}"#,
        )
        .unwrap();
        let id = ok(
            d,
            &[
                "seal",
                "--device",
                "cam.key",
                "--group",
                "custody/group.obgd",
                "--epoch",
                "epoch.key.pub",
                "--out",
                "rec",
                "--segment-bytes",
                "16KiB",
                "--duration-ms",
                "20000",
                "--metadata",
                "notes.json",
                "clip.mp4",
            ],
        );
        let recording_id = id.trim().to_owned();
        assert_eq!(
            recording_id.len(),
            32,
            "a recording id is 32 hex digits: {id}"
        );
        Fixture { dir, recording_id }
    })
}

/// Number of media segments and each one's [start, end) media time, as
/// `seal` apportions them.
fn media_plan(len: u64) -> Vec<(u64, u64, u64, u64)> {
    let count = len.div_ceil(SEGMENT_BYTES);
    let at = |o: u64| (u128::from(o) * u128::from(DURATION_MS) / u128::from(len)) as u64;
    (0..count)
        .map(|i| {
            let s = i * SEGMENT_BYTES;
            let e = (s + SEGMENT_BYTES).min(len);
            let end_ms = if i + 1 == count { DURATION_MS } else { at(e) };
            (s, e, at(s), end_ms)
        })
        .collect()
}

/// Request (in `w`), two partials, release for the fixture's recording:
/// leaves req.obar, p-1.obpe, p-3.obpe, release.ober in `w`.
fn grant(f: &Fixture, w: &Path, scope: &[&str]) {
    let rec = f.path("rec");
    grant_for(f, w, &f.recording_id, &rec, scope);
}

/// As [`grant`], for the recording `recording_id` sealed in `rec`.
fn grant_for(f: &Fixture, w: &Path, recording_id: &str, rec: &Path, scope: &[&str]) {
    let group = f.path("custody/group.obgd");
    let group = group.to_str().unwrap();
    let rec = rec.to_str().unwrap();
    let mut args = vec![
        "request",
        "--identity",
        "../../req.key",
        "--passphrase-file",
        "../../req.pass",
        "--group",
        group,
        "--recording",
        recording_id,
        "--purpose",
        "complaint review",
        "--justification",
        "complaint 17 concerns this traffic stop",
        "--legal-basis",
        "Art. 6(1)(e) GDPR",
        "--case",
        "CASE-2026-17",
        "--recipient",
        "review board",
        "--expires-in",
        "2d",
        "--out",
        "req.obar",
    ];
    args.extend_from_slice(scope);
    let out = run_in(w, None, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim().len(),
        64,
        "prints the request hash"
    );
    for (i, who) in [(1, "alice"), (3, "carol")] {
        ok(
            w,
            &[
                "partial",
                "--identity",
                &format!("../../{who}.key"),
                "--share",
                &format!("../../custody/share-{i}.obse"),
                "--group",
                group,
                "--request",
                "req.obar",
                "--recording",
                rec,
                "--yes",
                "--out",
                &format!("p-{i}.obpe"),
            ],
        );
    }
    ok(
        w,
        &[
            "release",
            "--epoch",
            "../../epoch.key",
            "--request",
            "req.obar",
            "--recording",
            rec,
            "--group",
            group,
            "--out",
            "release.ober",
        ],
    );
}

fn unseal_args<'a>(f: &'a Fixture, group: &'a str, rec: &'a str, out: &'a str) -> Vec<&'a str> {
    let _ = f;
    vec![
        "unseal",
        "--identity",
        "../../req.key",
        "--passphrase-file",
        "../../req.pass",
        "--group",
        group,
        "--request",
        "req.obar",
        "--recording",
        rec,
        "--partial",
        "p-1.obpe",
        "--partial",
        "p-3.obpe",
        "--release",
        "release.ober",
        "--out",
        out,
    ]
}

#[test]
fn full_flow_whole_recording_is_byte_identical() {
    let f = fixture();
    let w = f.workdir("whole");
    grant(f, &w, &[]);
    let group = f.path("custody/group.obgd");
    let rec = f.path("rec");
    let args = unseal_args(
        f,
        group.to_str().unwrap(),
        rec.to_str().unwrap(),
        "clip.mp4",
    );
    let out = run_in(&w, None, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let original = fs::read(f.path("clip.mp4")).unwrap();
    let opened = fs::read(w.join("clip.mp4")).unwrap();
    assert!(
        opened == original,
        "the unsealed MP4 differs from the original"
    );
    let media = media_plan(original.len() as u64).len();
    assert_contains(
        &text(&out.stderr),
        &format!(
            "opened {media} segment(s), {} bytes, to clip.mp4; 1 segment(s) outside the request stay sealed",
            original.len()
        ),
    );
    // The metadata segment was not asked for.
    assert!(!w.join("clip.mp4.metadata").exists());
}

#[test]
fn scoped_request_opens_only_segments_in_scope() {
    let f = fixture();
    let w = f.workdir("scoped");
    grant(
        f,
        &w,
        &["--from-ms", "5000", "--to-ms", "9000", "--include-metadata"],
    );
    let original = fs::read(f.path("clip.mp4")).unwrap();
    let plan = media_plan(original.len() as u64);
    let in_scope: Vec<_> = plan.iter().filter(|p| p.2 < 9000 && 5000 < p.3).collect();
    assert!(!in_scope.is_empty() && in_scope.len() < plan.len());
    let (from, to) = (in_scope[0].0, in_scope[in_scope.len() - 1].1);

    let group = f.path("custody/group.obgd");
    let rec = f.path("rec");
    let (group, rec) = (group.to_str().unwrap(), rec.to_str().unwrap());
    let out = run_in(&w, None, &unseal_args(f, group, rec, "part.mp4"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let part = fs::read(w.join("part.mp4")).unwrap();
    assert!(
        part == original[from as usize..to as usize],
        "the scoped output is not the in-scope segments"
    );
    let sealed = plan.len() - in_scope.len();
    assert_contains(
        &text(&out.stderr),
        &format!(
            "opened {} segment(s), {} bytes, to part.mp4, metadata to part.mp4.metadata; {sealed} segment(s) outside the request stay sealed",
            in_scope.len(),
            to - from
        ),
    );
    assert_eq!(
        fs::read(w.join("part.mp4.metadata")).unwrap(),
        fs::read(f.path("notes.json")).unwrap()
    );

    // Bytes outside the scope stay sealed: a range reaching into them is refused.
    let mut args = unseal_args(f, group, rec, "more.mp4");
    let range = format!("{}-{}", from.saturating_sub(10), from + 10);
    args.extend(["--range", &range]);
    let err = fails(&w, None, &args);
    assert_contains(&err, "which the request does not cover");
    assert_contains(&err, &format!("hint: the request covers bytes {from}-"));
    assert!(!w.join("more.mp4").exists());

    // A range inside the scope decrypts just those bytes.
    let mut args = unseal_args(f, group, rec, "slice.bin");
    let range = format!("{}-{}", from + 100, to - 100);
    args.extend(["--range", &range]);
    let out = run_in(&w, None, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        fs::read(w.join("slice.bin")).unwrap() == original[from as usize + 100..to as usize - 100]
    );
}

#[test]
fn sealed_without_duration_opens_with_a_whole_recording_request() {
    let f = fixture();
    let w = f.workdir("no-duration");
    // 5 MiB of a pattern in 1 MiB segments, all with media time 0..0.
    let data: Vec<u8> = (0..(5u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(w.join("data.bin"), &data).unwrap();
    let group = f.path("custody/group.obgd");
    let group = group.to_str().unwrap();
    let out = run_in(
        &w,
        Some(PASS),
        &[
            "seal",
            "--device",
            "../../cam.key",
            "--group",
            group,
            "--epoch",
            "../../epoch.key.pub",
            "--out",
            "rec",
            "--segment-bytes",
            "1MiB",
            "data.bin",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_contains(
        &text(&out.stderr),
        "only a whole-recording request (range starting at 0) selects them",
    );
    let recording_id = text(&out.stdout).trim().to_owned();
    assert_eq!(recording_id.len(), 32, "prints the recording id");

    // The whole recording: every segment is in scope, and opens.
    let rec = w.join("rec");
    grant_for(f, &w, &recording_id, &rec, &[]);
    let rec = rec.to_str().unwrap();
    let out = run_in(&w, None, &unseal_args(f, group, rec, "data.out"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        fs::read(w.join("data.out")).unwrap() == data,
        "the unsealed file differs from the original"
    );
    assert_contains(
        &text(&out.stderr),
        &format!(
            "opened 5 segment(s), {} bytes, to data.out; 0 segment(s) outside the request stay sealed",
            data.len()
        ),
    );
}

#[test]
fn range_across_segments_matches_the_original_slice() {
    let f = fixture();
    let w = f.workdir("range");
    grant(f, &w, &[]);
    let original = fs::read(f.path("clip.mp4")).unwrap();
    let group = f.path("custody/group.obgd");
    let rec = f.path("rec");
    let mut args = unseal_args(
        f,
        group.to_str().unwrap(),
        rec.to_str().unwrap(),
        "slice.bin",
    );
    // Crosses the boundary between segments 0 and 2 (16 KiB and 32 KiB).
    let (s, e) = (SEGMENT_BYTES - 1000, 2 * SEGMENT_BYTES + 77);
    let range = format!("{s}-{e}");
    args.extend(["--range", &range]);
    let out = run_in(&w, None, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(fs::read(w.join("slice.bin")).unwrap() == original[s as usize..e as usize]);
}

#[test]
fn one_partial_is_not_enough() {
    let f = fixture();
    let w = f.workdir("one-partial");
    grant(f, &w, &[]);
    let group = f.path("custody/group.obgd");
    let rec = f.path("rec");
    let (group, rec) = (group.to_str().unwrap(), rec.to_str().unwrap());
    // The same custodian's partial twice still counts once.
    let args = [
        "unseal",
        "--identity",
        "../../req.key",
        "--passphrase-file",
        "../../req.pass",
        "--group",
        group,
        "--request",
        "req.obar",
        "--recording",
        rec,
        "--partial",
        "p-1.obpe",
        "--partial",
        "p-1.obpe",
        "--release",
        "release.ober",
        "--out",
        "clip.mp4",
    ];
    let err = fails(&w, None, &args);
    assert_contains(
        &err,
        "error: need partials from 2 distinct custodians, have 1 (custodian 1)",
    );
    assert_contains(&err, "hint: ask 1 more custodian(s) to run `obhut partial`");
    assert!(!w.join("clip.mp4").exists());
}

#[test]
fn wrong_passphrase_is_refused_and_writes_nothing() {
    let f = fixture();
    let w = f.workdir("wrong-pass");
    grant(f, &w, &[]);
    let group = f.path("custody/group.obgd");
    let rec = f.path("rec");
    let (group, rec) = (group.to_str().unwrap(), rec.to_str().unwrap());
    let args: Vec<&str> = unseal_args(f, group, rec, "clip.mp4")
        .into_iter()
        .filter(|a| *a != "--passphrase-file" && *a != "../../req.pass")
        .collect();
    let err = fails(&w, Some("not the passphrase"), &args);
    assert_contains(
        &err,
        "error: cannot unlock ../../req.key (given as --identity): wrong passphrase, or the key file is corrupted",
    );
    assert_contains(
        &err,
        "hint: check the passphrase (read from the environment variable OBHUT_PASSPHRASE)",
    );
    assert!(
        !err.contains("not the passphrase"),
        "the passphrase must never be printed"
    );
    // From a file, too.
    fs::write(w.join("bad.pass"), "hunter2\n").unwrap();
    let mut args = args.clone();
    args.extend(["--passphrase-file", "bad.pass"]);
    let err = fails(&w, None, &args);
    assert_contains(&err, "wrong passphrase");
    assert_contains(&err, "read from --passphrase-file bad.pass");
    assert!(!err.contains("hunter2"));
    assert!(
        !w.join("clip.mp4").exists(),
        "no output file after a failure"
    );
    let leftovers: Vec<_> = fs::read_dir(&w)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".obhut-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
    // Without any passphrase source and no terminal: say where to put one.
    let err = fails(&w, None, &args[..args.len() - 2]);
    assert_contains(
        &err,
        "hint: pass --passphrase-file FILE or set OBHUT_PASSPHRASE",
    );
}

#[test]
fn verify_reports_every_segment_and_names_a_tampered_blob() {
    let f = fixture();
    let out = run_in(&f.dir, None, &["verify", "rec"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert_contains(&report, &format!("recording {}", f.recording_id));
    assert_contains(&report, "capsule proofs: checked against rec/group.obgd");
    assert_contains(&report, "segment    0  media     00:00.000–");
    assert_contains(&report, "metadata");
    assert_contains(
        &report,
        "result: ok, the recording is complete and unaltered",
    );

    let w = f.workdir("tamper");
    let copy = w.join("rec");
    fs::create_dir_all(&copy).unwrap();
    for e in fs::read_dir(f.path("rec")).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    let blob = copy.join("000002.seg");
    let mut bytes = fs::read(&blob).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x01;
    fs::write(&blob, bytes).unwrap();
    let out = run_in(&w, None, &["verify", "rec"]);
    assert_eq!(out.status.code(), Some(1));
    assert_contains(
        &text(&out.stdout),
        "FAILED: blob 000002.seg: ciphertext hash does not match the signed record",
    );
    let err = text(&out.stderr);
    assert_contains(
        &err,
        "segment 2 is bad: blob 000002.seg: ciphertext hash does not match the signed record",
    );
    assert_contains(
        &err,
        "hint: the segment's blob or record was altered or damaged; restore 000002.seg and 000002.rec",
    );

    // A missing last segment makes the recording incomplete.
    let last = fs::read_dir(&copy)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".rec"))
                .map(str::to_owned)
        })
        .max()
        .unwrap();
    fs::remove_file(copy.join(format!("{last}.rec"))).unwrap();
    fs::remove_file(copy.join(format!("{last}.seg"))).unwrap();
    fs::write(&blob, fs::read(f.path("rec/000002.seg")).unwrap()).unwrap();
    let err = fails(&w, None, &["verify", "rec"]);
    assert_contains(
        &err,
        "incomplete: the last segment present is not marked final",
    );
}

#[test]
fn seal_refuses_an_unpinned_group() {
    let f = fixture();
    let w = f.workdir("unpinned");
    ok(
        &w,
        &[
            "custody",
            "init",
            "--name",
            "fresh",
            "--threshold",
            "2",
            "--custodian",
            "../../alice.key.pub",
            "--custodian",
            "../../bob.key.pub",
            "--out",
            "g",
        ],
    );
    ok(
        &w,
        &[
            "custody",
            "sign",
            "--group",
            "g/group.obgd",
            "--identity",
            "../../alice.key",
            "--share",
            "g/share-1.obse",
        ],
    );
    let show = ok(&w, &["custody", "show", "--group", "g/group.obgd"]);
    assert_contains(&show, "threshold:   2 of 2 custodians");
    assert_contains(&show, "signatures:  1 valid of 2 needed");
    assert_contains(&show, "pins:        no");
    let err = fails(
        &w,
        Some(PASS),
        &[
            "seal",
            "--device",
            "../../cam.key",
            "--group",
            "g/group.obgd",
            "--epoch",
            "../../epoch.key.pub",
            "--out",
            "rec",
            "../../notes.json",
        ],
    );
    assert_contains(
        &err,
        "error: g/group.obgd (given as --group) cannot be pinned: it carries valid signatures from 1 custodian(s), the group needs 2",
    );
    assert_contains(
        &err,
        "hint: each custodian signs with `obhut custody sign --group g/group.obgd",
    );
    assert!(!w.join("rec").exists());

    let show = ok(
        &f.dir,
        &["custody", "show", "--group", "custody/group.obgd"],
    );
    assert_contains(&show, "signatures:  3 valid of 2 needed");
    assert_contains(&show, "pins:        yes");
}

#[test]
fn partial_shows_the_request_and_needs_yes_without_a_terminal() {
    let f = fixture();
    let w = f.workdir("no-yes");
    grant(f, &w, &[]);
    let group = f.path("custody/group.obgd");
    let rec = f.path("rec");
    let err = fails(
        &w,
        Some(PASS),
        &[
            "partial",
            "--identity",
            "../../bob.key",
            "--share",
            "../../custody/share-2.obse",
            "--group",
            group.to_str().unwrap(),
            "--request",
            "req.obar",
            "--recording",
            rec.to_str().unwrap(),
            "--out",
            "p-2.obpe",
        ],
    );
    assert_contains(&err, "  purpose:       complaint review");
    assert_contains(
        &err,
        "  justification: complaint 17 concerns this traffic stop",
    );
    assert_contains(&err, "  legal basis:   Art. 6(1)(e) GDPR");
    assert_contains(&err, "  case:          CASE-2026-17");
    assert_contains(&err, "  recipient:     review board");
    assert_contains(
        &err,
        "error: refusing to approve without confirmation: standard input is not a terminal",
    );
    assert_contains(&err, "pass --yes");
    assert!(!w.join("p-2.obpe").exists());
}

#[test]
fn wrong_files_are_named_with_the_flag_that_takes_them() {
    let f = fixture();
    let err = fails(
        &f.dir,
        Some(PASS),
        &[
            "custody",
            "sign",
            "--group",
            "alice.key.pub",
            "--identity",
            "alice.key",
            "--share",
            "custody/share-1.obse",
        ],
    );
    assert_contains(
        &err,
        "cannot use alice.key.pub (given as --group); the file holds a person's public identity",
    );
    assert_contains(&err, "hint: --group takes a group descriptor");
    let err = fails(
        &f.dir,
        Some(PASS),
        &[
            "custody",
            "sign",
            "--group",
            "custody/group.obgd",
            "--identity",
            "alice.key.pub",
            "--share",
            "custody/share-1.obse",
        ],
    );
    assert_contains(
        &err,
        "alice.key.pub (given as --identity) is not a locked key file",
    );
    assert_contains(&err, "(PATH itself, not PATH.pub)");
    let err = fails(
        &f.dir,
        Some(PASS),
        &[
            "custody",
            "sign",
            "--group",
            "custody/group.obgd",
            "--identity",
            "bob.key",
            "--share",
            "custody/share-1.obse",
        ],
    );
    assert_contains(
        &err,
        "this identity is not the custodian the share envelope is for",
    );
    // Outputs are never overwritten silently.
    let err = fails(
        &f.dir,
        Some(PASS),
        &[
            "keygen",
            "person",
            "--name",
            "x",
            "--out",
            "alice.key",
            "--kdf-fast",
        ],
    );
    assert_contains(&err, "alice.key already exists (given as --out)");
    assert_contains(&err, "pass --force to overwrite it");
}

#[test]
fn help_teaches_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &[],
        &["keygen"],
        &["keygen", "person"],
        &["keygen", "device"],
        &["keygen", "epoch"],
        &["custody"],
        &["custody", "init"],
        &["custody", "sign"],
        &["custody", "show"],
        &["seal"],
        &["request"],
        &["partial"],
        &["release"],
        &["unseal"],
        &["verify"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let out = run_in(dir.path(), None, &args);
        assert!(
            out.status.success(),
            "obhut {args:?} exits {:?}",
            out.status
        );
        let help = text(&out.stdout);
        assert_contains(&help, "Usage: obhut");
        if !c.is_empty() {
            assert!(
                help.contains("Example"),
                "obhut {args:?} has no example:\n{help}"
            );
        }
    }
    // No arguments: the help, on stderr, and a usage status.
    let out = run_in(dir.path(), None, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&text(&out.stderr), "Usage: obhut");
    assert_contains(&text(&out.stderr), "unseal");
}

#[test]
fn times_are_shown_in_local_time_with_utc_beside() {
    let d = tempfile::tempdir().unwrap();
    // The refusal quotes both times back; no key is written.
    let out = Command::new(BIN)
        .current_dir(d.path())
        .env("TZ", "Europe/Berlin")
        .env("OBHUT_PASSPHRASE", PASS)
        .stdin(Stdio::null())
        .args(["keygen", "epoch", "--class", "bodycam-30d", "--kdf-fast"])
        .args(["--not-before", "2026-06-01T10:00:00Z"])
        .args(["--not-after", "2026-01-01T00:00:00Z", "--out", "epoch.key"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_contains(&err, "2026-06-01 12:00:00 CEST (10:00:00 UTC)");
    assert_contains(&err, "2026-01-01 01:00:00 CET (00:00:00 UTC)");
    assert!(!d.path().join("epoch.key").exists());
}
