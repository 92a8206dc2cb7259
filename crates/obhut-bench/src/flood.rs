//! `obhut-bench flood`: `/healthz` latency while N silent connections
//! flood a running vault's API listener (issue 16). Each flood connection
//! says nothing, is ended by the vault (its header timeout, or the cap's
//! refusal), and reconnects a second later, for SECS seconds. Every 200 ms
//! one `GET /healthz` goes to the operations listener and one to the API
//! listener (one try each: a refusal counts as such). Prints one Markdown
//! table row; `scripts/bench-vault` runs it after the load benchmark.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Flags of `flood`.
pub struct FloodArgs {
    api: SocketAddr,
    ops: SocketAddr,
    connections: usize,
    secs: u64,
    server_pid: Option<u32>,
}

fn addr(url: &str) -> Result<SocketAddr, String> {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .map_err(|_| format!("{url}: not http://IP:PORT"))
}

impl FloodArgs {
    /// `--vault URL --ops URL --connections N --secs S [--server-pid PID]`.
    pub fn parse(flags: &[&str]) -> Result<Self, String> {
        let (mut api, mut ops, mut connections, mut secs, mut server_pid) =
            (None, None, 10_000, 30, None);
        let mut it = flags.iter();
        while let Some(flag) = it.next() {
            let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let num = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{flag} {v}: a number"))
            };
            match *flag {
                "--vault" => api = Some(addr(v)?),
                "--ops" => ops = Some(addr(v)?),
                "--connections" => connections = num(v)? as usize,
                "--secs" => secs = num(v)?,
                "--server-pid" => server_pid = Some(num(v)? as u32),
                other => return Err(format!("unknown flag {other}")),
            }
        }
        Ok(FloodArgs {
            api: api.ok_or("--vault URL is required")?,
            ops: ops.ok_or("--ops URL (the vault's ops_listen) is required")?,
            connections,
            secs,
            server_pid,
        })
    }
}

#[derive(Default)]
struct Counts {
    open: AtomicU64,
    max_open: AtomicU64,
    connections: AtomicU64,
    refused: AtomicU64,
}

async fn flooder(api: SocketAddr, stop: Arc<AtomicBool>, c: Arc<Counts>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(Ok(mut s)) =
            tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(api))
                .await
        else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        c.connections.fetch_add(1, Ordering::Relaxed);
        let open = c.open.fetch_add(1, Ordering::Relaxed) + 1;
        c.max_open.fetch_max(open, Ordering::Relaxed);
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            match tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) if stop.load(Ordering::Relaxed) => break,
                Err(_) => {}
            }
        }
        c.open.fetch_sub(1, Ordering::Relaxed);
        if got.starts_with(b"HTTP/1.1 503") {
            c.refused.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One `GET /healthz`: its latency if answered 200, else the status (0:
/// no answer).
fn healthz(addr: SocketAddr) -> Result<Duration, u16> {
    let t = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(|_| 0u16)?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: vault\r\nConnection: close\r\n\r\n")
        .map_err(|_| 0u16)?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let status: u16 = String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if status == 200 {
        Ok(t.elapsed())
    } else {
        Err(status)
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn proc_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn hwm_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// Run the flood and print the row.
pub fn run(a: &FloodArgs) -> Result<(), Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    for _ in 0..a.connections {
        rt.spawn(flooder(a.api, stop.clone(), counts.clone()));
    }
    // Let the flood take every slot before measuring.
    std::thread::sleep(Duration::from_secs(3));
    let end = Instant::now() + Duration::from_secs(a.secs);
    let (mut ops_ok, mut api_ok) = (Vec::new(), Vec::new());
    let (mut ops_failed, mut api_refused, mut api_failed, mut api_tries) = (0, 0, 0, 0);
    let mut max_fds = 0;
    while Instant::now() < end {
        let tick = Instant::now();
        match healthz(a.ops) {
            Ok(d) => ops_ok.push(d),
            Err(_) => ops_failed += 1,
        }
        api_tries += 1;
        match healthz(a.api) {
            Ok(d) => api_ok.push(d),
            Err(503) => api_refused += 1,
            Err(_) => api_failed += 1,
        }
        if let Some(pid) = a.server_pid {
            max_fds = max_fds.max(proc_fds(pid));
        }
        std::thread::sleep(Duration::from_millis(200).saturating_sub(tick.elapsed()));
    }
    stop.store(true, Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_secs(5));
    ops_ok.sort();
    api_ok.sort();
    let server = a.server_pid.map_or("n/a".to_owned(), |pid| {
        format!("{max_fds} / {} MiB", hwm_mib(pid))
    });
    println!(
        "| {} | {} | {} | {} | {:.1} / {:.1} / {:.1} | {} | {}/{} ({} refused, {} failed) | {:.1} / {:.1} / {:.1} | {} |",
        a.connections,
        counts.max_open.load(Ordering::Relaxed),
        counts.connections.load(Ordering::Relaxed),
        counts.refused.load(Ordering::Relaxed),
        pct(&ops_ok, 0.5),
        pct(&ops_ok, 0.99),
        pct(&ops_ok, 1.0),
        if ops_failed == 0 {
            "0".to_owned()
        } else {
            format!("**{ops_failed}**")
        },
        api_ok.len(),
        api_tries,
        api_refused,
        api_failed,
        pct(&api_ok, 0.5),
        pct(&api_ok, 0.99),
        pct(&api_ok, 1.0),
        server,
    );
    Ok(())
}
