//! README.md's shell blocks run as written (the project's rule), so a
//! README that drifts from the binary fails here.
//!
//! Every fenced shell block of README.md is found by the `## ` section it
//! sits in and handled by one entry of [`SECTIONS`]: run, or checked and
//! excluded with the reason beside it. A block in any other section fails
//! `every_readme_shell_block_is_run_or_excluded`, naming it.
//!
//! - The opening block: `cargo run --release -- demo` must be that line; it
//!   runs as `obhut demo` with this build's binary (the same program: a
//!   release build inside the tests would not fit CI's time), with no
//!   arguments and no configuration, as the README states.
//!   `tests/demo.rs` runs `obhut demo --dir DIR` to inspect what it leaves;
//!   nothing else runs the bare command, which also promises to remove its
//!   temporary directory, so it runs here once more. `./scripts/test` is
//!   the command that runs this test, so it is not run; `.ci/run` must call
//!   exactly it.
//! - "Quick start (offline)", then "With a vault" in the same fresh
//!   directory: each with `bash -euo pipefail`, `obhut` (this build) first
//!   on PATH, `OBHUT_PASSPHRASE` set as the README tells scripts to, and a
//!   real `clip.mp4` made with ffmpeg beforehand, as the README asks the
//!   reader to bring one.
//! - "Test" (`./scripts/test`): excluded, as above.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support;
use support::{BIN, PASS, make_mp4, text};

const INTRO: &str = "";
const QUICK_START: &str = "Quick start (offline)";
const WITH_A_VAULT: &str = "With a vault";
const TEST: &str = "Test";

/// Every README section with a shell block, and what this file does with
/// it. One block per section.
const SECTIONS: &[(&str, &str)] = &[
    (
        INTRO,
        "checked line by line; `obhut demo` run by readme_demo_line_runs_as_obhut_demo, \
         `./scripts/test` checked by readme_scripts_test_is_what_ci_runs",
    ),
    (
        QUICK_START,
        "run by readme_quick_start_then_vault_run_as_written",
    ),
    (
        WITH_A_VAULT,
        "run by readme_quick_start_then_vault_run_as_written, after the quick start",
    ),
    // Excluded: `./scripts/test` runs this very test (running it here
    // would recurse, and it installs packages); it is checked to be the
    // block's only command and what `.ci/run` calls.
    (
        TEST,
        "excluded; checked by readme_scripts_test_is_what_ci_runs",
    ),
];

/// Info strings that make a fenced block a shell block.
const SHELLS: &[&str] = &["sh", "bash", "shell", "console", "zsh"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let p = repo().join(rel);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// A fenced shell block of README.md.
struct Block {
    /// The `## ` heading it sits under ("" before the first one).
    section: String,
    /// README.md line number (1-based) of the block's first line.
    line: usize,
    text: String,
}

impl Block {
    fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }

    fn name(&self) -> String {
        let section = if self.section.is_empty() {
            "opening block".to_owned()
        } else {
            format!("\"{}\" block", self.section)
        };
        format!(
            "README.md's {section} (line {}, first line `{}`)",
            self.line,
            self.first_line()
        )
    }

    /// The commands, one per line, without comments and blank lines.
    fn commands(&self) -> Vec<&str> {
        commands(&self.text)
    }
}

/// Shell lines without comments (whole-line or after ` #`) and blanks.
fn commands(script: &str) -> Vec<&str> {
    script
        .lines()
        .map(|l| l.find(" #").map_or(l, |i| &l[..i]).trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Every fenced shell block of a Markdown text, in order.
fn shell_blocks(md: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut section = String::new();
    // The open fence: its marker, whether it is a shell block, its lines.
    let mut open: Option<(String, bool, Block)> = None;
    for (i, line) in md.lines().enumerate() {
        let t = line.trim_start();
        if let Some((marker, shell, mut block)) = open.take() {
            if t.starts_with(&marker) && t[marker.len()..].trim().is_empty() {
                if shell {
                    blocks.push(block);
                }
            } else {
                block.text.push_str(line);
                block.text.push('\n');
                open = Some((marker, shell, block));
            }
            continue;
        }
        if let Some(h) = line.strip_prefix("## ") {
            section = h.trim().to_owned();
        }
        for fence in ['`', '~'] {
            let n = t.chars().take_while(|&c| c == fence).count();
            if n >= 3 {
                let lang = t[n..].split_whitespace().next().unwrap_or("");
                let shell = SHELLS.contains(&lang);
                open = Some((
                    t[..n].to_owned(),
                    shell,
                    Block {
                        section: section.clone(),
                        line: i + 2,
                        text: String::new(),
                    },
                ));
            }
        }
    }
    if let Some((_, _, b)) = open {
        panic!(
            "README.md: the fence before line {} is never closed",
            b.line
        );
    }
    blocks
}

/// The one shell block of README.md in `section`.
fn block(section: &str) -> Block {
    let mut found: Vec<Block> = shell_blocks(&read("README.md"))
        .into_iter()
        .filter(|b| b.section == section)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "README.md should have one shell block in section {section:?}, has {}; \
         tests/readme.rs runs them by section (SECTIONS)",
        found.len()
    );
    found.remove(0)
}

#[test]
fn every_readme_shell_block_is_run_or_excluded() {
    let blocks = shell_blocks(&read("README.md"));
    let mut unknown = Vec::new();
    for b in &blocks {
        if !SECTIONS.iter().any(|(s, _)| *s == b.section) {
            unknown.push(format!("{}:\n{}", b.name(), b.text));
        }
    }
    assert!(
        unknown.is_empty(),
        "README.md shell blocks that no test runs: run each in tests/readme.rs, \
         or exclude it there (SECTIONS) with the reason\n\n{}",
        unknown.join("\n")
    );
    for (section, what) in SECTIONS {
        let n = blocks.iter().filter(|b| b.section == *section).count();
        assert_eq!(
            n, 1,
            "README.md section {section:?} ({what}) should have one shell block, has {n}"
        );
    }
}

#[test]
fn readme_demo_line_runs_as_obhut_demo() {
    let b = block(INTRO);
    assert_eq!(
        b.commands().first().copied(),
        Some("cargo run --release -- demo"),
        "{}: the test runs that line as `obhut demo`; if it changed, change the test",
        b.name()
    );
    // `cargo run` in the workspace root runs the `obhut` binary.
    let manifest = read("Cargo.toml");
    assert!(
        manifest.contains(r#"default-members = ["crates/obhut"]"#),
        "Cargo.toml: `cargo run` should run crates/obhut"
    );
    assert_eq!(
        read("crates/obhut/Cargo.toml").matches("[[bin]]").count(),
        1,
        "crates/obhut has one binary, `obhut`"
    );

    // As written: no arguments, no configuration; its working directory is
    // a fresh temporary one, removed at the end (README "Demo").
    let tmp = tempfile::Builder::new()
        .prefix("obhut-readme-demo-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let t0 = Instant::now();
    let out = Command::new(BIN)
        .arg("demo")
        .current_dir(tmp.path())
        .env("TMPDIR", tmp.path())
        .env_remove("OBHUT_PASSPHRASE")
        .env_remove("OBHUT_STATE")
        .env_remove("OBHUT_DATA")
        .env_remove("OBHUT_KEYS")
        .env_remove("OBHUT_LISTEN")
        .stdin(Stdio::null())
        .output()
        .expect("run obhut demo");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "{}: `obhut demo` failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        b.name(),
        out.status
    );
    eprintln!("obhut demo took {:.1} s", t0.elapsed().as_secs_f64());
    let left: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        left.is_empty(),
        "`obhut demo` left {left:?} behind; the README says its directory is removed\n{stdout}"
    );
}

#[test]
fn readme_scripts_test_is_what_ci_runs() {
    let intro = block(INTRO);
    assert_eq!(
        intro.commands().get(1..),
        Some(&["./scripts/test"][..]),
        "{}: after the demo line, only `./scripts/test`",
        intro.name()
    );
    let test = block(TEST);
    assert_eq!(
        test.commands(),
        ["./scripts/test"],
        "{}: only `./scripts/test`",
        test.name()
    );
    // .ci/run: apart from its shell set-up, exactly that command.
    let ci = read(".ci/run");
    let run: Vec<&str> = commands(&ci)
        .into_iter()
        .filter(|l| !l.starts_with("set ") && !l.starts_with("cd "))
        .collect();
    assert_eq!(
        run,
        ["./scripts/test"],
        ".ci/run should run exactly ./scripts/test:\n{ci}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(repo().join("scripts/test"))
        .expect("scripts/test exists")
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "scripts/test is executable");
}

#[test]
fn readme_quick_start_then_vault_run_as_written() {
    let quick = block(QUICK_START);
    let vault = block(WITH_A_VAULT);
    // The quick start seals and verifies; opening needs the log, so it
    // opens nothing and the vault block shows the opened file is the clip.
    assert_eq!(
        quick.commands().last().copied(),
        Some("obhut verify rec"),
        "{}: it ends by verifying the sealed recording",
        quick.name()
    );
    for verb in ["partial", "release", "unseal", "open"] {
        assert!(
            !quick
                .commands()
                .iter()
                .any(|c| c.starts_with(&format!("obhut {verb} "))),
            "{}: opening without the vault's log (`obhut {verb}`)",
            quick.name()
        );
    }
    assert!(
        vault
            .commands()
            .iter()
            .any(|c| c.starts_with("cmp clip.mp4 ")),
        "{}: it shows the opened file is the clip (`cmp clip.mp4 …`)",
        vault.name()
    );

    let tmp = tempfile::Builder::new()
        .prefix("obhut-readme-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let shell = Shell::new(tmp.path());
    // The clip the quick start asks the reader to bring: 20 s, as its
    // `--duration-ms 20000` says.
    make_mp4(&shell.work.join("clip.mp4"), 20, "320x240");

    shell.run(&quick, Duration::from_secs(120));
    shell.run(&vault, Duration::from_secs(120));
}

/// Where README blocks run: `work` (fresh, the reader's directory), a
/// HOME of their own, and `obhut` (this build) first on PATH.
struct Shell {
    root: PathBuf,
    work: PathBuf,
}

impl Shell {
    fn new(root: &Path) -> Shell {
        let work = root.join("work");
        let bin = root.join("bin");
        for d in [&work, &bin, &root.join("home")] {
            fs::create_dir_all(d).unwrap();
        }
        std::os::unix::fs::symlink(BIN, bin.join("obhut")).unwrap();
        // Sourced by bash before the block (BASH_ENV): on a failure, name
        // the line and the command. -E: also inside $(…).
        fs::write(
            root.join("on-error.sh"),
            "set -E\ntrap 'echo \"readme-test: exit $? at line $LINENO: $BASH_COMMAND\" >&2' ERR\n",
        )
        .unwrap();
        Shell {
            root: root.to_owned(),
            work,
        }
    }

    /// Run `b` with `bash -euo pipefail` in `work`; panic with the block,
    /// the failed command and the output if it fails or outlasts `limit`.
    fn run(&self, b: &Block, limit: Duration) {
        let script = self.root.join(format!("readme-line-{}.sh", b.line));
        fs::write(&script, &b.text).unwrap();
        let path = format!(
            "{}:{}",
            self.root.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.args(["-euo", "pipefail"])
            .arg(&script)
            .current_dir(&self.work)
            .env("PATH", path)
            .env("OBHUT_PASSPHRASE", PASS)
            .env("HOME", self.root.join("home"))
            .env("BASH_ENV", self.root.join("on-error.sh"))
            // curl to the vault on 127.0.0.1, never through a proxy.
            .env("no_proxy", "127.0.0.1,localhost")
            .env("NO_PROXY", "127.0.0.1,localhost");
        for var in [
            "OBHUT_STATE",
            "OBHUT_DATA",
            "OBHUT_KEYS",
            "OBHUT_LISTEN",
            "OBHUT_MAX_SEGMENT_BYTES",
            "XDG_STATE_HOME",
            "XDG_CONFIG_HOME",
            "RUST_LOG",
        ] {
            cmd.env_remove(var);
        }
        // Its own process group, so that what the block started in the
        // background (the vault) is stopped with it, even on failure.
        use std::os::unix::process::CommandExt as _;
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let t0 = Instant::now();
        let child = cmd.spawn().expect("run bash");
        let mut group = Group(child);
        let stdout = drain(group.0.stdout.take().unwrap());
        let stderr = drain(group.0.stderr.take().unwrap());
        let status = loop {
            if let Some(s) = group.0.try_wait().unwrap() {
                break Some(s);
            }
            if t0.elapsed() > limit {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let took = t0.elapsed();
        drop(group);
        let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
        eprintln!("{}: {:.1} s", b.name(), took.as_secs_f64());
        if status.is_some_and(|s| s.success()) {
            return;
        }
        let what = match status {
            Some(s) => format!("failed ({s})"),
            None => format!("did not finish within {} s", limit.as_secs()),
        };
        let readme: Vec<&str> = b.text.lines().collect();
        let failed: Vec<String> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("readme-test: "))
            .map(|l| {
                // "exit N at line L: COMMAND"; L counts from the block's
                // first line.
                let at = l
                    .split(" at line ")
                    .nth(1)
                    .and_then(|r| r.split(':').next())
                    .and_then(|n| n.parse::<usize>().ok());
                match at {
                    Some(n) if n >= 1 && n <= readme.len() => format!(
                        "  README.md line {}: `{}`\n    ({l})",
                        b.line + n - 1,
                        readme[n - 1].trim()
                    ),
                    _ => format!("  ({l})"),
                }
            })
            .collect();
        let failed = match (failed.is_empty(), status) {
            (false, _) => failed.join("\n"),
            (true, None) => "  none: the block was stopped while a command still ran".to_owned(),
            (true, Some(_)) => "  (bash reported none)".to_owned(),
        };
        let mut logs = String::new();
        for e in fs::read_dir(&self.work).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "log") {
                let l = fs::read(&p).unwrap_or_default();
                let l = text(&l);
                logs.push_str(&format!("\n{} (its end):\n{}", p.display(), tail(&l, 2000)));
            }
        }
        panic!(
            "{} {what}\nthe command that failed:\n{failed}\nstdout:\n{}\nstderr:\n{}{logs}",
            b.name(),
            tail(&stdout, 6000),
            tail(&stderr, 6000)
        );
    }
}

/// The block's shell and everything it started: killed (the whole
/// process group) when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = r.read_to_end(&mut b);
        text(&b)
    })
}

/// The last `n` bytes or so of `s`, on a character boundary.
fn tail(s: &str, n: usize) -> &str {
    let mut at = s.len().saturating_sub(n);
    while !s.is_char_boundary(at) {
        at += 1;
    }
    &s[at..]
}
