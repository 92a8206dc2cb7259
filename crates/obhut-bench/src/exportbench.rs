//! `obhut-bench export` (issue 19): `obhut export` of a 1-hour scope from a
//! 10-hour recording — its wall time and the bytes read for it. Everything
//! goes through the `obhut` binary as people run it (a real `obhut serve`
//! on loopback, `enrol`, `ingest` of an MP4 made by ffmpeg, `request`,
//! `approve` by two custodians, `export --to` an age recipient), so the
//! figure includes what a requester waits for: the release, the provenance
//! proofs, fetching and decrypting the scope, the clip's remux, age, the
//! disclosure and the chain of custody's proofs.
//!
//! Untimed setup: the keys (real Argon2id, a normal build refuses
//! `--kdf-fast`), the custody group, the vault, the MP4 (`testsrc`,
//! `--size`, 25 fps, 1 s GOP; ten hours take ffmpeg several minutes) and its
//! ingest in `--segment-secs` segments, the request and the approvals.
//! Timed: `obhut export` alone. Bytes read: the vault process's `rchar`
//! and `read_bytes` (/proc/PID/io) across the export, and the ciphertext
//! bytes the export reports fetching.
//!
//! In the same run, the clean-clip remux alone (issue 19's benchmark): the
//! scope's window of the recording remuxed by `obhut_media::plan_clip`
//! (what `obhut open` and `export` run on the decrypted original layout)
//! beside `ffmpeg -ss … -to … -c copy` of the same window, both from the
//! plaintext MP4 to a file in the work directory, neither fsynced, best of
//! `--remux-trials` (the file is in the page cache after the first).
//!
//! A small run, for checking it works: `obhut-bench export --hours 0.05
//! --scope-secs 60`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

const PASS: &str = "tarnish-oblong-velvet-quarry-mimosa";

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct ExportArgs {
    /// Parent of the fresh work directory.
    pub dir: PathBuf,
    /// The `obhut` binary.
    pub obhut: PathBuf,
    /// Media hours of the recording.
    pub hours: f64,
    /// Length of the scope (s), from the middle of the recording.
    pub scope_secs: u64,
    /// Segment length (s).
    pub segment_secs: u64,
    /// Frame size of the test video.
    pub size: String,
    /// Runs of each remux (ours and ffmpeg's); the best is reported.
    pub remux_trials: u32,
    /// Where the recording is kept between runs (`--keep-recording`):
    /// ten hours take ffmpeg a quarter of an hour to make, and only the
    /// export is measured. Made there when missing; used when its name
    /// (hours and size) matches.
    pub keep: Option<PathBuf>,
}

impl ExportArgs {
    /// Parse `--flag value` pairs.
    pub fn parse(args: &[&str]) -> Result<Self, String> {
        let mut a = ExportArgs {
            dir: PathBuf::from("target/bench-export"),
            obhut: PathBuf::from("target/release/obhut"),
            hours: 10.0,
            scope_secs: 3600,
            segment_secs: 10,
            size: "320x240".into(),
            remux_trials: 3,
            keep: None,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let v = it.next().ok_or(format!("{flag} needs a value"))?;
            let bad = |_| format!("{flag} {v}: not a number");
            match *flag {
                "--dir" => a.dir = PathBuf::from(v),
                "--obhut" => a.obhut = PathBuf::from(v),
                "--hours" => a.hours = v.parse().map_err(bad)?,
                "--scope-secs" => a.scope_secs = v.parse().map_err(|_| format!("{flag} {v}"))?,
                "--segment-secs" => {
                    a.segment_secs = v.parse().map_err(|_| format!("{flag} {v}"))?
                }
                "--size" => a.size = (*v).to_owned(),
                "--remux-trials" => {
                    a.remux_trials = v.parse().map_err(|_| format!("{flag} {v}"))?
                }
                "--keep-recording" => a.keep = Some(PathBuf::from(v)),
                other => return Err(format!("unknown flag {other}")),
            }
        }
        if a.hours.is_nan() || a.hours <= 0.0 || a.scope_secs == 0 || a.segment_secs == 0 {
            return Err("--hours, --scope-secs and --segment-secs must be positive".into());
        }
        Ok(a)
    }
}

struct Obhut<'a> {
    bin: &'a Path,
    dir: &'a Path,
}

impl Obhut<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.bin);
        c.current_dir(self.dir)
            .args(args)
            .env("OBHUT_PASSPHRASE", PASS)
            .stdin(Stdio::null());
        c
    }

    fn ok(&self, args: &[&str]) -> Result<Output, Error> {
        let out = self.cmd(args).output()?;
        if !out.status.success() {
            return Err(format!(
                "obhut {}: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(out)
    }

    fn stdout(&self, args: &[&str]) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(&self.ok(args)?.stdout).into_owned())
    }
}

/// Kills the vault on drop.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `rchar` and `read_bytes` of process `pid`.
fn io_of(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("rchar:"), field("read_bytes:"))
}

fn get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    Some(r)
}

/// `secs` of `testsrc` at `size`, 25 fps, a keyframe a second, as
/// `dir/rec.mp4`.
fn make_recording(dir: &Path, secs: u64, size: &str) -> Result<(), Error> {
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
        .arg(format!("testsrc=duration={secs}:size={size}:rate=25"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "rec.mp4",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .status()?;
    if !status.success() {
        return Err("ffmpeg failed making the recording".into());
    }
    Ok(())
}

/// Run the benchmark and print its figures.
pub fn run(a: &ExportArgs) -> Result<(), Error> {
    let (work, _) = crate::work_dir(&a.dir, "export-")?;
    let dir = work.path();
    let bin = std::fs::canonicalize(&a.obhut).map_err(|e| {
        format!(
            "--obhut {}: {e} (cargo build --release -p obhut)",
            a.obhut.display()
        )
    })?;
    let o = Obhut { bin: &bin, dir };

    let secs = (a.hours * 3600.0).round() as u64;
    let t = Instant::now();
    let kept = a
        .keep
        .as_ref()
        .map(|k| k.join(format!("rec-{secs}s-{}.mp4", a.size)));
    if let Some(k) = kept.as_ref().filter(|k| k.exists()) {
        std::fs::hard_link(k, dir.join("rec.mp4"))
            .or_else(|_| std::fs::copy(k, dir.join("rec.mp4")).map(drop))?;
    } else {
        make_recording(dir, secs, &a.size)?;
        if let Some(k) = &kept {
            std::fs::create_dir_all(k.parent().unwrap_or(dir))?;
            std::fs::hard_link(dir.join("rec.mp4"), k)
                .or_else(|_| std::fs::copy(dir.join("rec.mp4"), k).map(drop))?;
        }
    }
    let mp4_len = std::fs::metadata(dir.join("rec.mp4"))?.len();
    println!(
        "recording: {secs} s of {} video, {mp4_len} bytes (ready in {:.0} s{})",
        a.size,
        t.elapsed().as_secs_f64(),
        if kept.is_some() {
            ", kept between runs"
        } else {
            ""
        }
    );

    for who in ["alice", "bob", "req"] {
        o.ok(&[
            "keygen",
            "person",
            "--name",
            who,
            "--out",
            &format!("{who}.key"),
        ])?;
    }
    o.ok(&["keygen", "device", "--name", "cam", "--out", "cam.key"])?;
    o.ok(&[
        "custody",
        "init",
        "--name",
        "custody",
        "--threshold",
        "2",
        "--custodian",
        "alice.key.pub",
        "--custodian",
        "bob.key.pub",
        "--custodian",
        "req.key.pub",
        "--out",
        "custody",
    ])?;
    for (i, who) in ["alice", "bob"].iter().enumerate() {
        o.ok(&[
            "custody",
            "sign",
            "--group",
            "custody/group.obgd",
            "--identity",
            &format!("{who}.key"),
            "--share",
            &format!("custody/share-{}.obse", i + 1),
        ])?;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("http://{addr}");
    let serve = Serve(
        o.cmd(&[
            "serve",
            "--init",
            "--data",
            "vault-data",
            "--keys",
            "vault-keys",
            "--listen",
            &addr,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?,
    );
    let t0 = Instant::now();
    while !get(&addr, "/healthz").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
        if t0.elapsed() > Duration::from_secs(60) {
            return Err("obhut serve did not start".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let key = get(&addr, "/v1/log/key").ok_or("GET /v1/log/key")?;
    let body = &key[key.find("\r\n\r\n").ok_or("no body")? + 4..];
    let vkey = serde_json::from_str::<serde_json::Value>(body.trim())?["vkey"]
        .as_str()
        .ok_or("no vkey")?
        .to_owned();
    let admin = |args: &[&str]| {
        let mut v = vec!["admin", "--data", "vault-data", "--keys", "vault-keys"];
        v.extend_from_slice(args);
        o.stdout(&v)
    };
    let token = admin(&[
        "enrol-token",
        "--group",
        "custody/group.obgd",
        "--retention-class",
        "bodycam-30d",
    ])?
    .lines()
    .find(|l| l.starts_with("obhut-enrol-"))
    .ok_or("no token")?
    .trim()
    .to_owned();
    let show = o.stdout(&["custody", "show", "--group", "custody/group.obgd"])?;
    let field = |name: &str| {
        show.lines()
            .find_map(|l| l.strip_prefix(name).map(|s| s.trim().to_owned()))
            .ok_or(format!("custody show printed no {name}"))
    };
    // "fingerprint: HEX  (for …)": the first word.
    let fpr = field("fingerprint:")?
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let gid = field("group id:")?;
    o.ok(&[
        "enrol",
        "--vault",
        &url,
        "--token",
        &token,
        "--device",
        "cam.key",
        "--group-fingerprint",
        &fpr,
        "--state",
        "state",
    ])?;
    let t = Instant::now();
    let seg_ms = (a.segment_secs * 1000).to_string();
    let rid = o
        .stdout(&[
            "ingest",
            "--state",
            "state",
            "--segment-ms",
            &seg_ms,
            "rec.mp4",
        ])?
        .trim()
        .to_owned();
    println!("ingested in {:.0} s", t.elapsed().as_secs_f64());
    admin(&[
        "add-requester",
        "--identity",
        "req.key.pub",
        "--group",
        &gid,
    ])?;
    for who in ["req", "alice", "bob"] {
        admin(&[
            "add-reader",
            "--identity",
            &format!("{who}.key.pub"),
            "--group",
            &gid,
        ])?;
    }
    let from = (secs / 2).saturating_sub(a.scope_secs / 2) * 1000;
    let to = (from + a.scope_secs * 1000).min(secs * 1000);
    let log = ["--vault", url.as_str(), "--log-key", vkey.as_str()];
    let mut req = vec![
        "request",
        "--identity",
        "req.key",
        "--group",
        "custody/group.obgd",
        "--recording",
        &rid,
    ];
    let (from_s, to_s) = (from.to_string(), to.to_string());
    req.extend_from_slice(&["--from-ms", &from_s, "--to-ms", &to_s]);
    req.extend_from_slice(&[
        "--purpose",
        "criminal investigation",
        "--justification",
        "benchmark",
        "--legal-basis",
        "§ 48 BDSG",
        "--case",
        "BENCH",
        "--recipient",
        "court",
        "--out",
        "req.obar",
        "--log-state",
        "req.cp",
    ]);
    req.extend_from_slice(&log);
    let hash = o.stdout(&req)?.trim().to_owned();
    for (who, share) in [("alice", 1), ("bob", 2), ("alice", 1)] {
        let mut v = vec!["approve", hash.as_str()];
        v.extend_from_slice(&log);
        let (state, ident, share) = (
            format!("{who}.cp"),
            format!("{who}.key"),
            format!("custody/share-{share}.obse"),
        );
        v.extend_from_slice(&[
            "--state",
            &state,
            "--identity",
            &ident,
            "--share",
            &share,
            "--group",
            "custody/group.obgd",
            "--yes",
        ]);
        o.ok(&v)?;
    }
    let recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    let pid = serve.0.id();
    let (rchar0, read0) = io_of(pid);
    let t = Instant::now();
    let mut v = vec!["export", hash.as_str()];
    v.extend_from_slice(&log);
    v.extend_from_slice(&[
        "--state",
        "req.cp",
        "--identity",
        "req.key",
        "--group",
        "custody/group.obgd",
        "--to",
        recipient,
        "--out",
        "bundle",
    ]);
    let out = o.ok(&v)?;
    let elapsed = t.elapsed();
    let (rchar1, read1) = io_of(pid);
    let note = String::from_utf8_lossy(&out.stderr);
    // "…; N bytes of ciphertext fetched)": the word before.
    let fetched = note
        .split(" bytes of ciphertext fetched")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    let bundle: u64 = walk_len(&dir.join("bundle"));
    println!(
        "| scope | recording | export wall time | ciphertext fetched | vault rchar | vault read_bytes | bundle |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} s | {secs} s ({mp4_len} B) | {:.2} s | {fetched} B | {} B | {} B | {bundle} B |",
        (to - from) / 1000,
        elapsed.as_secs_f64(),
        rchar1.saturating_sub(rchar0),
        read1.saturating_sub(read0),
    );
    remux(dir, from, to, a.remux_trials.max(1))
}

/// The clean-clip remux of media `[from_ms, to_ms)` of `rec.mp4` by
/// `obhut_media::plan_clip`, beside `ffmpeg -c copy` of the same window:
/// best wall time of `trials` each, bytes written, throughput.
fn remux(dir: &Path, from_ms: u64, to_ms: u64, trials: u32) -> Result<(), Error> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let src_path = dir.join("rec.mp4");
    let len = std::fs::metadata(&src_path)?.len();
    let ours = |out: &Path| -> Result<(u64, usize), Error> {
        let mut src = std::fs::File::open(&src_path)?;
        let mut reader = std::io::BufReader::new(&mut src);
        // The whole file is present: one range, as an opened file in its
        // original layout with every segment in scope.
        let present = std::iter::once(0..len).collect::<Vec<_>>();
        let plan = obhut_media::plan_clip(&mut reader, len, &present, from_ms..to_ms)?;
        let mut dst = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
        dst.write_all(&plan.head)?;
        for r in &plan.copies {
            src.seek(SeekFrom::Start(r.start))?;
            let n = std::io::copy(&mut (&mut src).take(r.end - r.start), &mut dst)?;
            if n != r.end - r.start {
                return Err("rec.mp4 is shorter than its clip plan".into());
            }
        }
        dst.flush()?;
        Ok((plan.len(), plan.video_samples))
    };
    let secs = |ms: u64| format!("{}.{:03}", ms / 1000, ms % 1000);
    let ffmpeg = |out: &Path| -> Result<(), Error> {
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-ss"])
            .arg(secs(from_ms))
            .arg("-to")
            .arg(secs(to_ms))
            .arg("-i")
            .arg(&src_path)
            .args(["-map", "0", "-c", "copy"])
            .arg(out)
            .stdin(Stdio::null())
            .status()?;
        if !status.success() {
            return Err("ffmpeg -c copy failed".into());
        }
        Ok(())
    };
    let best = |f: &mut dyn FnMut() -> Result<(), Error>| -> Result<Duration, Error> {
        let mut best = Duration::MAX;
        for _ in 0..trials {
            let t = Instant::now();
            f()?;
            best = best.min(t.elapsed());
        }
        Ok(best)
    };
    let (clip_path, ff_path) = (dir.join("clip-obhut.mp4"), dir.join("clip-ffmpeg.mp4"));
    let mut kept = (0, 0);
    let t_ours = best(&mut || {
        kept = ours(&clip_path)?;
        Ok(())
    })?;
    let t_ff = best(&mut || ffmpeg(&ff_path))?;
    let ff_len = std::fs::metadata(&ff_path)?.len();
    let mbps = |bytes: u64, t: Duration| bytes as f64 / 1e6 / t.as_secs_f64().max(1e-9);
    println!();
    println!(
        "| remux of media {}–{} s | wall time (best of {trials}) | clip bytes | MB/s |",
        secs(from_ms),
        secs(to_ms)
    );
    println!("|---|---|---|---|");
    println!(
        "| obhut_media::plan_clip ({} video samples) | {:.3} s | {} B | {:.0} |",
        kept.1,
        t_ours.as_secs_f64(),
        kept.0,
        mbps(kept.0, t_ours)
    );
    println!(
        "| ffmpeg -c copy | {:.3} s | {ff_len} B | {:.0} |",
        t_ff.as_secs_f64(),
        mbps(ff_len, t_ff)
    );
    Ok(())
}

fn walk_len(p: &Path) -> u64 {
    std::fs::read_dir(p).map_or(0, |rd| {
        rd.flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => walk_len(&e.path()),
                _ => e.metadata().map_or(0, |m| m.len()),
            })
            .sum()
    })
}
