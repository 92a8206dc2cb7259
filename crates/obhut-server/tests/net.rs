//! Issue 16: what a client that stops sending may hold (docs/vault.md §7,
//! "Connections"), over real sockets against the in-process vault: the
//! header timeout, the keep-alive idle timeout, the body's gap and lowest
//! rate, the per-source limit of the unauthenticated endpoints, and the
//! operations listener. Deadlines are generous liveness bounds: each test
//! checks that a connection ends, not how fast.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use obhut_server::config::{FileConfig, NetFile};
use obhut_server::testkit::{Enrolled, HttpResponse, InProcess, http, put_sealed, signed_headers};
use obhut_server::{Clock, SystemClock};

const CLASS: &str = "bodycam-30d";
/// Longest a test waits for the vault to end a connection.
const LIVENESS: Duration = Duration::from_secs(15);

fn start(net: NetFile) -> (tempfile::TempDir, InProcess) {
    let dir = tempfile::tempdir().unwrap();
    let vault = InProcess::start_with(
        &dir.path().join("data"),
        &dir.path().join("keys"),
        Arc::new(SystemClock),
        FileConfig {
            net,
            ..FileConfig::default()
        },
    );
    (dir, vault)
}

fn now() -> i64 {
    SystemClock.now_ms()
}

/// Whether the vault closes `s` within [`LIVENESS`] (bytes it sends first,
/// such as an error answer, are read and dropped).
fn closed_by_vault(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let until = Instant::now() + LIVENESS;
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Send `pieces` one after the other, `pause` apart, until the vault ends
/// the exchange: `Some(true)` if it answered (bytes before the close),
/// `Some(false)` if it closed without a word, `None` if it let the
/// trickle go on for [`LIVENESS`].
fn trickled(
    s: &mut TcpStream,
    pieces: impl Iterator<Item = Vec<u8>>,
    pause: Duration,
) -> Option<bool> {
    s.set_read_timeout(Some(pause)).unwrap();
    let until = Instant::now() + LIVENESS;
    let mut buf = [0u8; 4096];
    for piece in pieces {
        if Instant::now() > until {
            return None;
        }
        if s.write_all(&piece).is_err() {
            return Some(false);
        }
        match s.read(&mut buf) {
            Ok(0) => return Some(false),
            Ok(_) => return Some(true),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(false),
        }
    }
    None
}

/// A keep-alive `GET` on `s`; the status (the answers read here are short
/// and carry a Content-Length).
fn keep_alive_get(s: &mut TcpStream, path: &str) -> u16 {
    s.set_read_timeout(Some(LIVENESS)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: vault\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let mut b = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "the answer's head ended early");
        raw.push(b[0]);
    }
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_silent_connection_and_a_trickled_head_end_at_the_header_timeout() {
    let (_d, vault) = start(NetFile {
        header_timeout_secs: Some(1),
        idle_timeout_secs: Some(60),
        ..NetFile::default()
    });
    // Connected, nothing said: not idle, a head overdue.
    let mut silent = TcpStream::connect(vault.addr).unwrap();
    assert!(
        closed_by_vault(&mut silent),
        "a silent connection stayed open"
    );

    // A head trickled a line every 200 ms never completes.
    let mut trickle = TcpStream::connect(vault.addr).unwrap();
    trickle.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    let lines = (0..).map(|i| format!("X-{i}: y\r\n").into_bytes());
    let ended = trickled(&mut trickle, lines, Duration::from_millis(200));
    assert_eq!(
        ended,
        Some(false),
        "a trickled head kept its connection or was answered"
    );

    // The header timeout is not the idle timeout: a keep-alive connection
    // idle for longer than the head's second is still served.
    let mut device = TcpStream::connect(vault.addr).unwrap();
    assert_eq!(keep_alive_get(&mut device, "/healthz"), 200);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(keep_alive_get(&mut device, "/healthz"), 200);
}

#[test]
fn an_idle_keep_alive_connection_ends_at_the_idle_timeout() {
    let (_d, vault) = start(NetFile {
        header_timeout_secs: Some(30),
        idle_timeout_secs: Some(2),
        ..NetFile::default()
    });
    let mut s = TcpStream::connect(vault.addr).unwrap();
    assert_eq!(keep_alive_get(&mut s, "/healthz"), 200);
    assert_eq!(keep_alive_get(&mut s, "/readyz"), 200);
    assert!(closed_by_vault(&mut s), "an idle connection stayed open");
}

fn slow_net() -> NetFile {
    NetFile {
        body_gap_secs: Some(2),
        body_min_rate: Some(32 * 1024),
        ..NetFile::default()
    }
}

#[test]
fn a_stalled_body_is_cut_off_at_the_gap() {
    let (_d, vault) = start(slow_net());
    let mut s = TcpStream::connect(vault.addr).unwrap();
    s.write_all(
        b"POST /v1/enrol HTTP/1.1\r\nHost: vault\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"token\":",
    )
    .unwrap();
    assert!(
        closed_by_vault(&mut s),
        "a stalled body kept its connection"
    );
}

#[test]
fn a_trickled_body_is_cut_off_below_the_lowest_rate() {
    let (_d, vault) = start(slow_net());
    let e = Enrolled::new(&vault, CLASS, now());
    let seg = e.seal(now() - 1000, 256 * 1024);
    let path = seg.path();
    let h = signed_headers(
        &vault.ids(),
        &e.device,
        false,
        "PUT",
        &path,
        now(),
        &seg.digest(),
    );
    let body = seg.body();
    let mut s = TcpStream::connect(vault.addr).unwrap();
    obhut_server::testkit::write_head(&mut s, "PUT", &path, &h, body.len() as u64).unwrap();
    // 100 bytes every 500 ms: never a gap, far below 32 KiB/s.
    let pieces = body.chunks(100).map(<[u8]>::to_vec);
    let ended = trickled(&mut s, pieces, Duration::from_millis(500));
    assert!(ended.is_some(), "a trickled body kept its connection");
    // Nothing was stored.
    let stored = vault.block_on(obhut_store::IndexStore::segment_keys(&vault.app.index));
    assert!(stored.unwrap().is_empty());
}

#[test]
fn a_slow_steady_upload_of_one_mib_succeeds() {
    let (_d, vault) = start(slow_net());
    let e = Enrolled::new(&vault, CLASS, now());
    let seg = e.seal(now() - 1000, 1 << 20);
    let path = seg.path();
    let h = signed_headers(
        &vault.ids(),
        &e.device,
        false,
        "PUT",
        &path,
        now(),
        &seg.digest(),
    );
    let body = seg.body();
    let mut s = TcpStream::connect(vault.addr).unwrap();
    obhut_server::testkit::write_head(&mut s, "PUT", &path, &h, body.len() as u64).unwrap();
    // 64 KiB every 250 ms: 256 KiB/s, with pauses shorter than the gap.
    for chunk in body.chunks(64 * 1024) {
        s.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    s.set_read_timeout(Some(LIVENESS)).unwrap();
    let r = obhut_server::testkit::read_response(&mut s).unwrap();
    assert_eq!(r.status, 201, "{:?}", r.json());
}

fn anon(addr: SocketAddr) -> HttpResponse {
    http(addr, "GET", "/v1/log/checkpoint", &[], &[]).unwrap()
}

#[test]
fn unauthenticated_requests_are_limited_per_source() {
    let (_d, vault) = start(NetFile {
        anon_per_sec: Some(1),
        anon_burst: Some(20),
        ..NetFile::default()
    });
    let e = Enrolled::new(&vault, CLASS, now());
    // Enrolment and the epochs took two of the burst; the rest go to the
    // log, then the bucket is empty.
    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(anon(vault.addr).status);
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!((3..=7).contains(&limited), "{statuses:?}");
    let r = anon(vault.addr);
    assert_eq!((r.status, r.kind().as_str()), (429, "rate-limited"));
    // Signed requests are not the unauthenticated bucket's.
    let seg = e.seal(now() - 1000, 1000);
    let put = put_sealed(vault.addr, &vault.ids(), &e.device, &seg, now()).unwrap();
    assert_eq!(put.status, 201, "{:?}", put.json());
    // Nor is the operations listener.
    assert_eq!(
        http(vault.ops_addr, "GET", "/healthz", &[], &[])
            .unwrap()
            .status,
        200
    );
    // The bucket refills.
    std::thread::sleep(Duration::from_millis(2100));
    assert_ne!(anon(vault.addr).status, 429);
}

#[test]
fn a_rate_limited_answer_says_when_to_come_back() {
    let (_d, vault) = start(NetFile {
        anon_per_sec: Some(1),
        anon_burst: Some(1),
        ..NetFile::default()
    });
    assert_ne!(anon(vault.addr).status, 429);
    let mut s = TcpStream::connect(vault.addr).unwrap();
    write!(
        s,
        "GET /v1/log/checkpoint HTTP/1.1\r\nHost: vault\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let head = raw.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 429"), "{raw}");
    assert!(head.contains("\r\nretry-after: "), "{raw}");
}

#[test]
fn metrics_are_served_on_the_operations_listener_only() {
    let (_d, vault) = start(NetFile::default());
    let api = http(vault.addr, "GET", "/metrics", &[], &[]).unwrap();
    assert_eq!((api.status, api.kind().as_str()), (404, "not-found"));
    let ops = http(vault.ops_addr, "GET", "/metrics", &[], &[]).unwrap();
    assert_eq!(ops.status, 200);
    let text = String::from_utf8(ops.body).unwrap();
    assert!(text.contains("obhut_connections_open"), "{text}");
    // The operations listener serves nothing of the API.
    let ops_api = http(vault.ops_addr, "GET", "/v1/log/checkpoint", &[], &[]).unwrap();
    assert_eq!(ops_api.status, 404);
}
