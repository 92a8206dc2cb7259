//! Issue 20 item 3, stateless servers: two `obhut serve` processes on one
//! PostgreSQL database and one S3 bucket (SeaweedFS), each with its own
//! data directory and the same keystore, behind a round-robin TCP proxy
//! on loopback. Simulated devices enrol and upload through the proxy;
//! one server, the integrator's lease holder, is killed with `kill -9`
//! mid-load. Then: every acknowledged segment is in the index and its
//! bytes in the bucket, every recording was finished on the survivor,
//! the survivor took over the log (its checkpoint covers every entry)
//! and `obhut audit verify` finds it consistent.
//!
//! Before the load, what only two processes can show: an upload ahead of
//! the head on one server is published as soon as its predecessor is on
//! the other (the head is re-read, not only a local signal awaited), and
//! a signed read replayed to the other server is refused.
//!
//! [`DEVICES`] devices by default, so the run takes seconds;
//! `OBHUT_SCALE_DEVICES=1000` runs the thousand.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use obhut_core::identity::SignKey;
use obhut_core::ids::RecordingId;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::body_sha256;
use obhut_server::testkit::{
    Enrolled, Sealed, VaultIds, create_token, custody_group, http, put_sealed, seal_recording,
    signed_headers_with_nonce,
};
use obhut_server::{Clock, SystemClock};
use obhut_store::contract::pg::TestServer;
use obhut_store::contract::s3::TestS3;
use obhut_store::postgres::PgIndex;
use obhut_store::{BlobKey, BlobStore, IndexStore, LogStore, TokenRow};

const BIN: &str = env!("CARGO_BIN_EXE_obhut");
const CLASS: &str = "bodycam-30d";
/// Devices by default (`OBHUT_SCALE_DEVICES` overrides).
const DEVICES: usize = 24;
/// Segments per device's recording.
const SEGMENTS: usize = 6;
/// Bytes of each segment's payload.
const PAYLOAD: usize = 4096;
/// Threads uploading (each serves its share of the devices in turn).
const WORKERS: usize = 8;

fn now() -> i64 {
    SystemClock.now_ms()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `obhut serve` on the shared database and bucket, with its own data
/// directory and the shared keystore.
fn serve(dir: &Path, data: &str, db: &str, bucket: &str, s3: &TestS3, init: bool) -> Server {
    use std::io::BufRead as _;
    let log = std::fs::File::create(dir.join(format!("{data}.log"))).unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(["serve", "--data", data, "--keys", "keys", "--listen"])
        .arg("127.0.0.1:0")
        .args(["--database-url", db, "--blob-url", bucket])
        .args(init.then_some("--init"))
        .envs(s3.env())
        .env("RUST_LOG", "info")
        // Every device comes through the proxy, from one address: as
        // behind an operator's proxy, the per-source limit of the
        // unauthenticated endpoints is the proxy's and is raised (a
        // thousand enrolments at once were refused with 429 otherwise).
        .env("OBHUT_NET_ANON_PER_SEC", "10000")
        .env("OBHUT_NET_ANON_BURST", "10000")
        .env_remove("OBHUT_DATA")
        .env_remove("OBHUT_KEYS")
        .env_remove("OBHUT_LISTEN")
        .env_remove("OBHUT_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn obhut serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Server { child, addr }
}

/// A round-robin TCP proxy on loopback: each connection goes to the next
/// backend, or the one after if that one refuses (a dead server), as a
/// load balancer with a connect check does.
fn proxy(backends: Vec<SocketAddr>) -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            let mut next = 0usize;
            loop {
                let Ok((mut client, _)) = l.accept().await else {
                    continue;
                };
                let first = next;
                next = next.wrapping_add(1);
                let backends = backends.clone();
                tokio::spawn(async move {
                    for k in 0..backends.len() {
                        let b = backends[(first + k) % backends.len()];
                        if let Ok(mut s) = tokio::net::TcpStream::connect(b).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut s).await;
                            return;
                        }
                    }
                });
            }
        });
    });
    addr
}

/// `n` enrolment tokens of one custody group, made in the database as
/// `obhut admin enrol-token` does.
fn tokens(db: &str, group: &obhut_core::group::PinnedGroup, n: usize) -> Vec<String> {
    rt().block_on(async {
        let index = PgIndex::connect(db).await.unwrap();
        let mut out = vec![create_token(&index, group, CLASS, now()).await];
        for _ in 1..n {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).unwrap();
            let token = format!("obhut-enrol-{}", hex::encode(secret));
            index
                .create_token(&TokenRow {
                    token_hash: body_sha256(token.as_bytes()),
                    group_id: group.group_id(),
                    retention_class: CLASS.to_owned(),
                    created_ms: now(),
                    expires_ms: now() + 86_400_000,
                })
                .await
                .unwrap();
            out.push(token);
        }
        index.close().await;
        out
    })
}

/// Upload `s` through `addr` until it is acknowledged, as the agent
/// resumes: a connection cut by a dying server, or a refusal while the
/// survivor is busy, is retried (freshly signed).
fn upload(addr: SocketAddr, ids: &VaultIds, device: &SignKey, s: &Sealed) -> u32 {
    let t0 = Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        match put_sealed(addr, ids, device, s, now()) {
            Ok(r) if r.status == 201 || r.status == 200 => return tries,
            Ok(r) if r.status >= 500 => {}
            Ok(r) => panic!("upload refused: {} {:?}", r.status, r.json()),
            Err(_) => {}
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "an upload was not acknowledged within a minute"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn obhut(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env("XDG_STATE_HOME", dir.join("state"))
        .env_remove("OBHUT_DATA")
        .output()
        .unwrap()
}

#[test]
fn two_servers_behind_a_proxy_survive_kill_9_of_one_mid_load() {
    let devices: usize = std::env::var("OBHUT_SCALE_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEVICES);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pg = TestServer::shared().expect("a PostgreSQL test cluster");
    let db = rt().block_on(pg.database()).expect("a fresh database").url;
    let s3 = TestS3::shared();
    let bucket_url = TestS3::new_url();
    let bucket = rt().block_on(s3.store_at(&bucket_url));

    let mut one = serve(dir, "data1", &db, &bucket_url, s3, true);
    let two = serve(dir, "data2", &db, &bucket_url, s3, false);
    let ids = VaultIds::from_keystore(&dir.join("keys"));
    let front = proxy(vec![one.addr, two.addr]);

    let group = custody_group();
    let tokens = tokens(&db, &group, devices + 1);
    let enrolled: Vec<Enrolled> = tokens
        .iter()
        .map(|t| Enrolled::with_token(front, group.clone(), t, CLASS, now()))
        .collect();

    // Upload order across servers: segment 1 sent to server two waits
    // for segment 0, sent a moment later to server one.
    let probe = &enrolled[devices];
    let segs = seal_recording(
        &probe.device,
        &probe.group,
        &probe.epoch,
        now() - 60_000,
        &[
            (SegmentKind::Media, vec![1; PAYLOAD]),
            (SegmentKind::Media, vec![2; PAYLOAD]),
        ],
        true,
    );
    let ahead = {
        let (s, key) = (segs[1].clone(), probe.device.clone());
        let addr = two.addr;
        std::thread::spawn(move || {
            let r = put_sealed(addr, &ids, &key, &s, now()).unwrap();
            (r.status, Instant::now())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let r = put_sealed(one.addr, &ids, &probe.device, &segs[0], now()).unwrap();
    assert_eq!(r.status, 201, "{:?}", r.json());
    let published = Instant::now();
    let (status, done) = ahead.join().unwrap();
    assert_eq!(
        status, 201,
        "the upload ahead was published after its predecessor"
    );
    assert!(
        done.duration_since(published) < Duration::from_secs(5),
        "the waiting server saw the other's publication within {:?}",
        done.duration_since(published)
    );

    // A signed read replayed to the other server is refused.
    let rid = segs[0].record.segment_ref().recording;
    let path = format!("/v1/recordings/{rid}/head");
    let h = signed_headers_with_nonce(
        &ids,
        &probe.device,
        false,
        "GET",
        &path,
        now(),
        &hex::encode([9u8; 16]),
        &body_sha256(b""),
    );
    assert_eq!(http(one.addr, "GET", &path, &h, &[]).unwrap().status, 200);
    let replayed = http(two.addr, "GET", &path, &h, &[]).unwrap();
    assert_eq!(replayed.kind(), "replayed-nonce", "{:?}", replayed.json());

    // The load: every device records SEGMENTS segments; the workers send
    // one segment of each of their devices in turn.
    let recordings: Vec<(SignKey, Vec<Sealed>)> = enrolled[..devices]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let payloads: Vec<_> = (0..SEGMENTS)
                .map(|k| (SegmentKind::Media, vec![(i + k) as u8; PAYLOAD]))
                .collect();
            let s = seal_recording(
                &e.device,
                &e.group,
                &e.epoch,
                now() - 60_000,
                &payloads,
                true,
            );
            (e.device.clone(), s)
        })
        .collect();
    let recordings = Arc::new(recordings);
    let acked = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    // Per recording: segments acknowledged before and after the kill.
    let sides = Arc::new(Mutex::new(vec![(0usize, 0usize); devices]));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (recordings, acked, killed, sides) = (
                recordings.clone(),
                acked.clone(),
                killed.clone(),
                sides.clone(),
            );
            std::thread::spawn(move || {
                let mine: Vec<usize> = (w..recordings.len()).step_by(WORKERS).collect();
                for k in 0..SEGMENTS {
                    for &d in &mine {
                        let (device, segs) = &recordings[d];
                        upload(front, &ids, device, &segs[k]);
                        let after = killed.load(Ordering::SeqCst);
                        acked.fetch_add(1, Ordering::SeqCst);
                        let mut s = sides.lock().unwrap();
                        if after {
                            s[d].1 += 1;
                        } else {
                            s[d].0 += 1;
                        }
                    }
                }
            })
        })
        .collect();
    let total = devices * SEGMENTS;
    let t0 = Instant::now();
    while acked.load(Ordering::SeqCst) < total * 2 / 5 {
        assert!(t0.elapsed() < Duration::from_secs(120), "the load stalled");
        std::thread::sleep(Duration::from_millis(5));
    }
    // kill -9 (SIGKILL) the first server: the one that took the lease.
    one.child.kill().unwrap();
    one.child.wait().unwrap();
    killed.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().expect("a worker failed");
    }
    let load_time = t0.elapsed();

    // Every recording finished, most of them on both servers.
    let sides = sides.lock().unwrap().clone();
    assert!(sides.iter().all(|&(b, a)| b + a == SEGMENTS));
    let straddling = sides.iter().filter(|&&(b, a)| b > 0 && a > 0).count();
    assert!(
        straddling * 2 > devices,
        "recordings resumed on the survivor: {straddling} of {devices}"
    );

    // Zero acknowledged segments lost: each in the index, and its bytes
    // in the bucket exactly as sealed.
    rt().block_on(async {
        use tokio::io::AsyncReadExt as _;
        let index = PgIndex::connect(&db).await.unwrap();
        for (_, segs) in recordings.iter() {
            let rid: RecordingId = segs[0].record.segment_ref().recording;
            let head = index.head(rid).await.unwrap().expect("recording indexed");
            assert_eq!(head.next_index as usize, SEGMENTS, "{rid}");
            for (k, s) in segs.iter().enumerate() {
                assert!(index.segment(rid, k as u32).await.unwrap().is_some());
                let key = BlobKey {
                    recording: rid,
                    index: k as u32,
                };
                let len = bucket.len(key).await.unwrap().expect("blob in the bucket");
                let mut got = Vec::new();
                bucket
                    .get_range(key, 0, len)
                    .await
                    .unwrap()
                    .read_to_end(&mut got)
                    .await
                    .unwrap();
                assert!(got == s.blob, "segment {k} of {rid} differs");
            }
        }
        // The survivor took the integration over: its checkpoint covers
        // every entry sequenced, the load's included.
        let sequenced = index.log_sequenced().await.unwrap();
        let t = Instant::now();
        while index.log_checkpoint().await.unwrap().map(|c| c.size) != Some(sequenced) {
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "the survivor did not take the log's integration over"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        index.close().await;
    });

    let key = http(two.addr, "GET", "/v1/log/key", &[], &[])
        .unwrap()
        .json();
    let vkey = key["vkey"].as_str().unwrap().to_owned();
    let url = format!("http://{}", two.addr);
    let out = obhut(
        dir,
        &["audit", "verify", "--vault", &url, "--log-key", &vkey],
    );
    assert!(
        out.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The killed server held the integrator's lease, the survivor took
    // it over.
    let lease = "holding the audit log integrator's lease";
    for log in ["data1.log", "data2.log"] {
        let text = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
        assert!(text.contains(lease), "{log}: {text}");
    }
    eprintln!(
        "{devices} devices, {total} segments in {load_time:?}; {straddling} recordings on both servers"
    );
    drop(two);
}
