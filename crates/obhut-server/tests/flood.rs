//! Issue 16: a flood of silent and slow connections against a vault with
//! 1,024 file descriptors. Before the connection limits, some 1,100
//! half-open connections made such a vault unreachable: `accept` failed
//! with EMFILE, health checks included.
//!
//! The vault runs in a process of its own (this test binary again, running
//! only [`flood_vault`]), so that its descriptors and memory are its own:
//! its soft `RLIMIT_NOFILE` is 1,024 and its connection cap the default
//! derived from it. This process then opens [`FLOOD`] connections (a third
//! silent, a third trickling a head, a third trickling a body; each
//! reconnects a second after the vault ends it) for [`FLOOD_SECS`], and
//! meanwhile checks every second that `/healthz` answers on the
//! operations listener and on the API listener (where a health checker
//! may be refused a slot and retry), that a device's signed 1 MiB upload
//! is stored (retrying on `503 overloaded` as the agent does), and that
//! the vault's open descriptors stay below its limit and its RSS bounded.
//!
//! `OBHUT_FLOOD_UNLIMITED=1` starts the vault without a cap and with
//! day-long timeouts: the test then fails (the vault runs out of
//! descriptors and stops answering), which is what it is for.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use obhut_core::group::PinnedGroup;
use obhut_server::config::{FileConfig, NetFile};
use obhut_server::testkit::{Enrolled, InProcess, Sealed, VaultIds, signed_headers};
use obhut_server::{Clock, SystemClock};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHILD_ENV: &str = "OBHUT_FLOOD_CHILD";
const CLASS: &str = "bodycam-30d";
/// The vault's soft open-file limit, a common default.
const VAULT_NOFILE: u64 = 1024;
/// Flood connections held at once (scaled down to this process's hard
/// open-file limit if it is lower).
const FLOOD: usize = 5000;
/// How long the flood lasts.
const FLOOD_SECS: u64 = 20;
/// Liveness bound of one health check or one HTTP exchange.
const LIVENESS: Duration = Duration::from_secs(10);
/// The vault's peak RSS must stay below this (it serves at most its cap).
const RSS_MAX_KIB: u64 = 256 * 1024;

fn now() -> i64 {
    SystemClock.now_ms()
}

/// The vault process: not a test of its own (ignored), run by
/// [`a_flood_leaves_health_and_uploads_alive`] with [`CHILD_ENV`] set.
#[test]
#[ignore = "the vault process of a_flood_leaves_health_and_uploads_alive"]
fn flood_vault() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let hard = getrlimit(Resource::Nofile).maximum;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(VAULT_NOFILE),
            maximum: hard,
        },
    )
    .expect("lowering RLIMIT_NOFILE");
    let net = if std::env::var_os("OBHUT_FLOOD_UNLIMITED").is_some() {
        NetFile {
            max_connections: Some(1 << 20),
            header_timeout_secs: Some(86_400),
            idle_timeout_secs: Some(86_400),
            body_gap_secs: Some(86_400),
            body_min_rate: Some(0),
            ..NetFile::default()
        }
    } else {
        // The default cap (from the limit above); shorter timeouts than
        // the defaults so that slots turn over within the test.
        NetFile {
            header_timeout_secs: Some(2),
            idle_timeout_secs: Some(5),
            body_gap_secs: Some(2),
            ..NetFile::default()
        }
    };
    let vault = InProcess::start_with(
        &dir.join("data"),
        &dir.join("keys"),
        Arc::new(SystemClock),
        FileConfig {
            net,
            ..FileConfig::default()
        },
    );
    let group = obhut_server::testkit::custody_group();
    let token = vault.block_on(obhut_server::testkit::create_token(
        &vault.app.index,
        &group,
        CLASS,
        now(),
    ));
    println!(
        "FLOOD-VAULT {} {} {} {}",
        vault.addr,
        vault.ops_addr,
        token,
        hex::encode(group.to_bytes())
    );
    std::io::stdout().flush().unwrap();
    // Serve until the test closes our stdin (or dies).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// The vault process, ended when dropped.
struct VaultProcess(std::process::Child);

impl Drop for VaultProcess {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Open descriptors of `pid`.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// `VmRSS` of `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// One HTTP exchange with liveness bounds: status and body, or why not.
fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, LIVENESS).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(LIVENESS))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(LIVENESS))
        .map_err(|e| e.to_string())?;
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    // The vault may refuse before the body: read its answer regardless.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no answer ({} bytes)", raw.len()))?;
    Ok((status, text))
}

fn healthz(addr: SocketAddr) -> Result<(u16, String), String> {
    exchange(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: vault\r\nConnection: close\r\n\r\n",
        &[],
    )
}

/// The device's upload, retried on refusals and transport failures as the
/// agent retries them, until stored or `until`.
fn upload(
    addr: SocketAddr,
    ids: &VaultIds,
    e: &Enrolled,
    seg: &Sealed,
    until: Instant,
) -> Result<u32, String> {
    let path = seg.path();
    let body = seg.body();
    let mut tries = 0;
    loop {
        tries += 1;
        let mut head = format!(
            "PUT {path} HTTP/1.1\r\nHost: vault\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in signed_headers(ids, &e.device, false, "PUT", &path, now(), &seg.digest()) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        match exchange(addr, &head, &body) {
            Ok((201, _)) => return Ok(tries),
            Ok((503 | 429, _)) | Err(_) if Instant::now() < until => {}
            other => return Err(format!("after {tries} tries: {other:?}")),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What the flood saw.
#[derive(Default)]
struct FloodCounts {
    connections: AtomicU64,
    refused: AtomicU64,
    connect_failed: AtomicU64,
}

/// One flood connection after another until `stop`: silent (`kind` 0), a
/// head trickled a line a second (1), or a body trickled 10 bytes a
/// second (2).
async fn flooder(addr: SocketAddr, kind: usize, stop: Arc<AtomicBool>, c: Arc<FloodCounts>) {
    while !stop.load(Ordering::Relaxed) {
        let s = tokio::time::timeout(LIVENESS, tokio::net::TcpStream::connect(addr)).await;
        let Ok(Ok(s)) = s else {
            c.connect_failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        c.connections.fetch_add(1, Ordering::Relaxed);
        let (mut r, mut w) = s.into_split();
        let stop_w = stop.clone();
        let writer = tokio::spawn(async move {
            let first: &[u8] = match kind {
                0 => b"",
                1 => b"GET /v1/epochs?class=x HTTP/1.1\r\nHost: vault\r\n",
                _ => b"POST /v1/enrol HTTP/1.1\r\nHost: vault\r\nContent-Length: 1048576\r\n\r\n",
            };
            if w.write_all(first).await.is_err() {
                return;
            }
            let mut i = 0u64;
            while kind != 0 && !stop_w.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let more = if kind == 1 {
                    format!("X-{i}: y\r\n").into_bytes()
                } else {
                    vec![b'x'; 10]
                };
                if w.write_all(&more).await.is_err() {
                    return;
                }
                i += 1;
            }
            // Hold the write half open until the vault ends the connection.
            std::future::pending::<()>().await;
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let read = tokio::time::timeout(Duration::from_millis(500), r.read(&mut buf)).await;
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) if stop.load(Ordering::Relaxed) => break,
                Err(_) => {}
            }
        }
        writer.abort();
        if got.starts_with(b"HTTP/1.1 503") && got.windows(10).any(|w| w == b"overloaded") {
            c.refused.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[test]
fn a_flood_leaves_health_and_uploads_alive() {
    // This process holds the flood: raise its soft limit as far as needed.
    let lim = getrlimit(Resource::Nofile);
    let hard = lim.maximum.unwrap_or(u64::MAX);
    let want = (FLOOD as u64 + 512).min(hard);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want),
            maximum: lim.maximum,
        },
    )
    .expect("raising RLIMIT_NOFILE");
    let flood = FLOOD.min(want.saturating_sub(512) as usize);
    assert!(
        flood as u64 > VAULT_NOFILE,
        "a hard open-file limit of {hard} cannot flood a vault of {VAULT_NOFILE}"
    );
    if flood < FLOOD {
        eprintln!("flood scaled to {flood} connections (hard RLIMIT_NOFILE {hard})");
    }

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            crate::test_name(module_path!(), "flood_vault").as_str(),
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = BufReader::new(child.stdout.take().unwrap());
    let vault = VaultProcess(child);
    let mut lines = out.lines();
    let line = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with("FLOOD-VAULT "))
        .expect("the vault process did not start");
    // Keep reading, so that the vault process's last words find a reader.
    std::thread::spawn(move || lines.for_each(drop));
    let f: Vec<&str> = line.split(' ').collect();
    let (api, ops): (SocketAddr, SocketAddr) = (f[1].parse().unwrap(), f[2].parse().unwrap());
    let group = PinnedGroup::from_bytes(&hex::decode(f[4]).unwrap()).unwrap();
    let device = Enrolled::with_token(api, group, f[3], CLASS, now());
    // What the device signs for: the vault's receipt key, in its keystore.
    let ids = VaultIds::from_keystore(&dir.path().join("keys"));
    let seg = device.seal(now() - 1000, 1 << 20);
    let fds_before = fds(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(FloodCounts::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for i in 0..flood {
        rt.spawn(flooder(api, i % 3, stop.clone(), counts.clone()));
    }

    let started = Instant::now();
    let end = started + Duration::from_secs(FLOOD_SECS);
    let uploader = std::thread::spawn({
        let until = end + Duration::from_secs(10);
        move || {
            // Once the flood holds every slot.
            std::thread::sleep(Duration::from_secs(3));
            upload(api, &ids, &device, &seg, until)
        }
    });
    let mut failures = Vec::new();
    let (mut max_fds, mut max_rss, mut api_tries) = (0, 0, Vec::new());
    while Instant::now() < end {
        let second = Instant::now();
        match healthz(ops) {
            Ok((200, _)) => {}
            other => failures.push(format!("{:?} ops /healthz: {other:?}", started.elapsed())),
        }
        // A health checker on the API listener retries a refused slot.
        let mut tries = 0;
        let deadline = Instant::now() + LIVENESS;
        loop {
            tries += 1;
            match healthz(api) {
                Ok((200, _)) => break,
                other if Instant::now() > deadline => {
                    failures.push(format!(
                        "{:?} API /healthz after {tries} tries: {other:?}",
                        started.elapsed()
                    ));
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        api_tries.push(tries);
        max_fds = max_fds.max(fds(pid));
        max_rss = max_rss.max(rss_kib(pid));
        std::thread::sleep(Duration::from_secs(1).saturating_sub(second.elapsed()));
    }
    let upload = uploader.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_secs(5));
    drop(vault);

    let refused = counts.refused.load(Ordering::Relaxed);
    eprintln!(
        "flood: {flood} at once, {} connections, {refused} refused with 503 overloaded, {} connects failed; vault: descriptors {fds_before} before, at most {max_fds} during; RSS at most {} MiB; API /healthz tries per check {api_tries:?}; upload {upload:?}",
        counts.connections.load(Ordering::Relaxed),
        counts.connect_failed.load(Ordering::Relaxed),
        max_rss / 1024,
    );
    assert!(failures.is_empty(), "{failures:#?}");
    let tries = upload.expect("the signed upload was not stored during the flood");
    assert!(tries >= 1);
    assert!(refused > 0, "the flood never saw the cap's refusal");
    assert!(
        (max_fds as u64) < VAULT_NOFILE,
        "the vault reached its descriptor limit ({max_fds})"
    );
    assert!(max_rss < RSS_MAX_KIB, "vault RSS {max_rss} KiB");
}
