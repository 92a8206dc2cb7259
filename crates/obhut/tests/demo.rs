//! `obhut demo` as a person runs it: the real binary, zero configuration,
//! checked by what it prints and what it leaves in its working directory;
//! and `--keep`, with a real HTTP request to the vault it leaves running.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use obhut_core::group::GroupDescriptor;
use obhut_core::vault::descriptor_fingerprint;

const BIN: &str = env!("CARGO_BIN_EXE_obhut");

fn demo(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("demo")
        .args(args)
        // Zero configuration: nothing from the environment may matter.
        .env_remove("OBHUT_PASSPHRASE")
        .env_remove("OBHUT_STATE")
        .env_remove("OBHUT_DATA")
        .env_remove("OBHUT_KEYS")
        .env_remove("OBHUT_LISTEN")
        .stdin(Stdio::null());
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("obhut-demo-test-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a scratch directory")
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The group fingerprint the demo printed: the 64-hex line after the
/// "Group fingerprint" line.
fn printed_fingerprint(out: &str) -> String {
    let mut lines = out.lines();
    lines
        .find(|l| l.contains("Group fingerprint"))
        .and_then(|_| lines.next())
        .map(|l| l.trim().to_owned())
        .filter(|l| is_hex(l, 64))
        .unwrap_or_else(|| panic!("no group fingerprint printed:\n{out}"))
}

/// The recording id from the `recording <hex>` result line.
fn printed_recording(out: &str) -> String {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("recording "))
        .find(|r| is_hex(r, 32))
        .unwrap_or_else(|| panic!("no recording id printed:\n{out}"))
        .to_owned()
}

/// What every successful run must show and leave behind.
fn assert_demo_result(dir: &Path, out: &str) -> String {
    // The fingerprint is the real one of the group descriptor it wrote.
    let fp = printed_fingerprint(out);
    let d = GroupDescriptor::from_bytes(&std::fs::read(dir.join("custody/group.obgd")).unwrap())
        .unwrap();
    assert_eq!(fp, descriptor_fingerprint(&d).to_string());
    assert!(d.pin().is_ok(), "the descriptor pins");
    // The recording, listed by the reader API.
    let rid = printed_recording(out);
    assert!(
        out.contains(&format!("\"recording_id\": \"{rid}\"")),
        "listing shows the recording:\n{out}"
    );
    assert!(out.contains("\"complete\": true"), "{out}");
    assert!(out.contains("no plaintext found"), "{out}");
    // The vault's data: index, keystore, one blob per segment.
    let data = dir.join("vault/data");
    assert!(
        data.join("obhut.sqlite").is_file(),
        "index in {}",
        data.display()
    );
    assert!(dir.join("vault/keys/vault.key").is_file(), "receipt key");
    let blobs: Vec<PathBuf> = std::fs::read_dir(data.join("blobs").join(&rid))
        .expect("a blob directory for the recording")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    assert!(blobs.len() >= 2, "segments stored: {blobs:?}");
    // Secrets stay out of the output: no demo passphrase, no token.
    for who in [
        "custodians/alice",
        "custodians/bob",
        "custodians/carol",
        "device/cam",
    ] {
        let pass = std::fs::read_to_string(dir.join(format!("{who}.pass"))).unwrap();
        let pass = pass.trim();
        assert!(pass.len() >= 32, "{who}.pass holds a passphrase");
        assert!(!out.contains(pass), "the passphrase of {who} was printed");
    }
    assert!(
        !out.contains("obhut-enrol-"),
        "the enrolment token was printed"
    );
    // The access workflow: the scope opened byte-identical (the demo
    // compares it with the clip and fails otherwise), the rest sealed, and
    // every step in the records shown.
    let opened = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("opened "))
        .unwrap_or_else(|| panic!("no opened line:\n{out}"));
    assert!(opened.ends_with("bytes identical"), "{opened}");
    let sealed: usize = out
        .split(" segment(s) outside the scope stay sealed")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no sealed count:\n{out}"));
    assert!(sealed >= 1, "something stays sealed");
    for kind in [
        "access-requested by person",
        "approved by person",
        "released by vault",
        "opened by person",
    ] {
        assert!(out.contains(kind), "records show {kind}:\n{out}");
    }
    let opened_media = dir.join(format!("opened/{rid}.media"));
    assert!(opened_media.is_file(), "{}", opened_media.display());
    rid
}

#[test]
fn demo_runs_the_custody_path_in_a_chosen_dir() {
    let tmp = scratch();
    let dir = tmp.path().join("work");
    let t0 = Instant::now();
    let out: Output = demo(&["--dir", dir.to_str().unwrap()])
        .output()
        .expect("run obhut demo");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "obhut demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    eprintln!("obhut demo took {:.1} s", t0.elapsed().as_secs_f64());
    let all = format!("{stdout}{stderr}");
    assert_demo_result(&dir, &all);
    // ffmpeg made a real MP4 (scripts/test installs it), cut at keyframes.
    if Command::new("ffmpeg").arg("-version").output().is_ok() {
        assert!(dir.join("dock/clip.mp4").is_file(), "{stdout}");
        assert!(stdout.contains("MP4 at keyframes"), "{stdout}");
        assert!(
            stdout.contains(" media,") || stdout.contains(" media)"),
            "{stdout}"
        );
    }
    assert!(dir.join("dock/clip.json").is_file());
    // A chosen directory stays; the vault was stopped.
    assert!(stdout.contains("Vault stopped."), "{stdout}");
    assert!(stdout.contains("stays"), "{stdout}");
}

/// Read the child's stdout on a thread, line by line.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to the demo's vault");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Kills the child if the test fails before it ends.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn demo_keep_leaves_the_vault_serving_until_terminated() {
    let tmp = scratch();
    let dir = tmp.path().join("work");
    // The synthetic clip: quicker, and it covers the no-ffmpeg path.
    let child = demo(&["--dir", dir.to_str().unwrap(), "--keep", "--synthetic-clip"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn obhut demo --keep");
    let mut guard = Guard(child);
    let mut stderr = guard.0.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let rx = lines_of(&mut guard.0);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let url = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if let Some(u) = line.trim().strip_prefix("vault URL: ") {
                    break u.to_owned();
                }
            }
            Err(_) => panic!("no vault URL printed; output so far:\n{seen}"),
        }
    };
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(seen.contains("synthetic"), "the fallback is said:\n{seen}");
    assert_demo_result(&dir, &seen);

    // The vault answers a real HTTP request at the printed URL.
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let resp = http_get(addr, "/healthz");
    assert!(resp.starts_with("HTTP/1.1 200"), "GET /healthz:\n{resp}");

    // SIGTERM stops it cleanly; the directory stays.
    let pid = guard.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.is_ok_and(|s| s.success()), "kill -TERM {pid}");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = guard.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "obhut demo --keep did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        rest.push_str(&line);
        rest.push('\n');
    }
    let err = err_thread.join().unwrap();
    assert!(status.success(), "exit {status:?}\n{rest}\nstderr:\n{err}");
    assert!(rest.contains("Ctrl-C"), "{rest}");
    assert!(rest.contains("Vault stopped."), "{rest}");
    assert!(dir.join("vault/data/obhut.sqlite").is_file());
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens any more"
    );
}

#[test]
fn demo_refuses_a_non_empty_dir() {
    let tmp = scratch();
    std::fs::write(tmp.path().join("notes.txt"), b"mine").unwrap();
    let out = demo(&["--dir", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("is not empty"), "{err}");
    assert!(err.contains("hint: pass a new or empty directory"), "{err}");
    assert_eq!(
        std::fs::read(tmp.path().join("notes.txt")).unwrap(),
        b"mine"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
fn demo_help_teaches_with_an_example() {
    let out = Command::new(BIN).args(["demo", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    for want in [
        "Example",
        "obhut demo --dir",
        "--keep",
        "--dir <DIR>",
        "ffmpeg",
    ] {
        assert!(help.contains(want), "help lacks {want:?}:\n{help}");
    }
}
