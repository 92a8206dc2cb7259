//! `obhut-bench scaleout` (scripts/bench-scaleout; issue 20): ingest
//! throughput and p99 acknowledgement latency of the embedded vault
//! (SQLite + blob directory) beside one and two `obhut serve` processes on
//! PostgreSQL + SeaweedFS (two behind a round-robin proxy on loopback),
//! in one run on one machine; then audit log appends per second on
//! PostgreSQL.
//!
//! PostgreSQL and SeaweedFS are the test harnesses' own
//! (`obhut_store::contract::{pg, s3}`: a throwaway cluster, `weed server
//! -s3`), started by this process. Per setup, untimed: the servers, N
//! tokens, N enrolments over HTTP, every segment sealed in advance. Timed:
//! W threads upload every device's segments (one device's in order, the
//! devices in turn); latency = request sent → 201 received (a new
//! connection per request, as the test kit makes them).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use obhut_core::group::PinnedGroup;
use obhut_core::identity::SignKey;
use obhut_core::ids::RecordingId;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::body_sha256;
use obhut_server::testkit::{
    Enrolled, Sealed, VaultIds, create_token, custody_group, put_sealed, seal_recording,
};
use obhut_server::{Clock, SystemClock};
use obhut_store::contract::pg::TestServer;
use obhut_store::contract::s3::TestS3;
use obhut_store::postgres::PgIndex;
use obhut_store::{IndexStore, LogStore, NewLogEntry, TokenRow};

use crate::samples::percentile;

type Error = Box<dyn std::error::Error + Send + Sync>;

const CLASS: &str = "bodycam-30d";

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct ScaleArgs {
    /// The `obhut` binary to serve with.
    pub obhut: PathBuf,
    /// Simulated devices per setup.
    pub devices: usize,
    /// Segments each device uploads.
    pub segments: usize,
    /// Payload bytes per segment.
    pub bytes: usize,
    /// Uploading threads.
    pub workers: usize,
    /// Audit log appends on PostgreSQL (0 skips).
    pub appends: usize,
}

impl ScaleArgs {
    /// Parse `--obhut BIN --devices N --segments K --bytes B --workers W
    /// --appends M`.
    pub fn parse(flags: &[&str]) -> Result<Self, String> {
        let mut a = ScaleArgs {
            obhut: PathBuf::from("target/release/obhut"),
            devices: 100,
            segments: 10,
            bytes: 1 << 20,
            workers: 16,
            appends: 5000,
        };
        let mut it = flags.iter();
        while let Some(flag) = it.next() {
            let v = it.next().ok_or(format!("{flag} needs a value"))?;
            let n = || v.parse::<usize>().map_err(|_| format!("{flag} {v}"));
            match *flag {
                "--obhut" => a.obhut = PathBuf::from(v),
                "--devices" => a.devices = n()?,
                "--segments" => a.segments = n()?,
                "--bytes" => a.bytes = n()?,
                "--workers" => a.workers = n()?.max(1),
                "--appends" => a.appends = n()?,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        Ok(a)
    }
}

fn now() -> i64 {
    SystemClock.now_ms()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where the index and the blobs of a setup are.
enum Stores<'a> {
    Embedded,
    Shared {
        db: &'a str,
        bucket: &'a str,
        s3: &'a TestS3,
    },
}

fn serve(
    a: &ScaleArgs,
    dir: &Path,
    data: &str,
    stores: &Stores<'_>,
    init: bool,
) -> Result<(Server, SocketAddr), Error> {
    use std::io::BufRead as _;
    let mut c = Command::new(&a.obhut);
    c.current_dir(dir)
        .args(["serve", "--data", data, "--keys", "keys", "--listen"])
        .arg("127.0.0.1:0")
        .args(init.then_some("--init"))
        // Every simulated device comes from this one address (through the
        // proxy, for two servers): as behind an operator's proxy, the
        // per-source limit of the unauthenticated endpoints (enrolment) is
        // raised (docs/vault.md §7); signed uploads are not limited by it.
        .env("OBHUT_NET_ANON_PER_SEC", "1000000")
        .env("OBHUT_NET_ANON_BURST", "1000000")
        .env_remove("OBHUT_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Stores::Shared { db, bucket, s3 } = stores {
        c.args(["--database-url", db, "--blob-url", bucket])
            .envs(s3.env());
    }
    let mut child = c.spawn()?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        std::io::BufReader::new(out).read_line(&mut line)?;
    }
    let server = Server(child);
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("obhut serve printed no address: {line:?}"))?;
    Ok((server, addr))
}

/// Round-robin TCP proxy on loopback (the load balancer).
fn proxy(backends: Vec<SocketAddr>) -> Result<SocketAddr, Error> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    l.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        rt.block_on(async move {
            let Ok(l) = tokio::net::TcpListener::from_std(l) else {
                return;
            };
            let mut next = 0usize;
            loop {
                let Ok((mut client, _)) = l.accept().await else {
                    continue;
                };
                let b = backends[next % backends.len()];
                next = next.wrapping_add(1);
                tokio::spawn(async move {
                    if let Ok(mut s) = tokio::net::TcpStream::connect(b).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut s).await;
                    }
                });
            }
        });
    });
    Ok(addr)
}

/// `n` one-time tokens of `group` in `index`.
async fn tokens<I: IndexStore>(index: &I, group: &PinnedGroup, n: usize) -> Vec<String> {
    let mut out = vec![create_token(index, group, CLASS, now()).await];
    for _ in 1..n {
        let mut rng = obhut_core::rng::os_rng();
        let (x, y) = (RecordingId::random(&mut rng), RecordingId::random(&mut rng));
        let secret = [x.0, y.0].concat();
        let token = format!("obhut-enrol-{}", hex::encode(secret));
        let row = TokenRow {
            token_hash: body_sha256(token.as_bytes()),
            group_id: group.group_id(),
            retention_class: CLASS.to_owned(),
            created_ms: now(),
            expires_ms: now() + 86_400_000,
        };
        if index.create_token(&row).await.is_ok() {
            out.push(token);
        }
    }
    out
}

/// What one setup measured.
struct Measured {
    name: &'static str,
    segments: usize,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn measure(
    a: &ScaleArgs,
    name: &'static str,
    front: SocketAddr,
    ids: VaultIds,
    tokens: &[String],
    group: &PinnedGroup,
) -> Result<Measured, Error> {
    let enrolled: Vec<Enrolled> = tokens
        .iter()
        .map(|t| Enrolled::with_token(front, group.clone(), t, CLASS, now()))
        .collect();
    let recordings: Vec<(SignKey, Vec<Sealed>)> = enrolled
        .iter()
        .map(|e| {
            let payloads: Vec<_> = (0..a.segments)
                .map(|_| (SegmentKind::Media, vec![0x5a; a.bytes]))
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
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let workers: Vec<_> = (0..a.workers)
        .map(|w| {
            let (recordings, latencies, workers, segments) =
                (recordings.clone(), latencies.clone(), a.workers, a.segments);
            std::thread::spawn(move || -> Result<(), String> {
                let mine: Vec<usize> = (w..recordings.len()).step_by(workers).collect();
                let mut lat = Vec::new();
                for k in 0..segments {
                    for &d in &mine {
                        let (device, segs) = &recordings[d];
                        let t = Instant::now();
                        let r = put_sealed(front, &ids, device, &segs[k], now())
                            .map_err(|e| e.to_string())?;
                        if r.status != 201 {
                            return Err(format!("upload answered {}", r.status));
                        }
                        lat.push(t.elapsed());
                    }
                }
                latencies
                    .lock()
                    .map_err(|_| "poisoned".to_owned())?
                    .extend(lat);
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| "an upload thread panicked")??;
    }
    let secs = t0.elapsed().as_secs_f64();
    let mut lat = latencies.lock().map_err(|_| "poisoned")?.clone();
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok(Measured {
        name,
        segments: lat.len(),
        secs,
        p50_ms: ms(percentile(&lat, 0.50)),
        p99_ms: ms(percentile(&lat, 0.99)),
    })
}

/// Run every setup and print one table.
pub fn run(a: &ScaleArgs) -> Result<(), Error> {
    // The servers run in their own directories.
    let a = &ScaleArgs {
        obhut: std::fs::canonicalize(&a.obhut)
            .map_err(|e| format!("{}: {e}", a.obhut.display()))?,
        ..a.clone()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pg = TestServer::shared()?;
    let s3 = TestS3::shared();
    let group = custody_group();
    let mut results = Vec::new();

    // The embedded default.
    {
        let dir = tempfile::tempdir()?;
        let (_srv, addr) = serve(a, dir.path(), "data", &Stores::Embedded, true)?;
        let ids = VaultIds::from_keystore(&dir.path().join("keys"));
        let (index, _blobs) =
            rt.block_on(obhut_store::open_embedded_shared(&dir.path().join("data")))?;
        let t = rt.block_on(tokens(&index, &group, a.devices));
        rt.block_on(index.close());
        results.push(measure(
            a,
            "embedded (SQLite + directory)",
            addr,
            ids,
            &t,
            &group,
        )?);
    }
    // One and two servers on PostgreSQL + SeaweedFS.
    for (servers, name) in [
        (1, "PostgreSQL + SeaweedFS, 1 server"),
        (2, "PostgreSQL + SeaweedFS, 2 servers"),
    ] {
        let dir = tempfile::tempdir()?;
        let db = rt.block_on(pg.database())?.url;
        let bucket = TestS3::new_url();
        let _ = rt.block_on(s3.store_at(&bucket));
        let stores = Stores::Shared {
            db: &db,
            bucket: &bucket,
            s3,
        };
        let mut running = Vec::new();
        let mut addrs = Vec::new();
        for i in 0..servers {
            let (srv, addr) = serve(a, dir.path(), &format!("data{i}"), &stores, i == 0)?;
            running.push(srv);
            addrs.push(addr);
        }
        let front = if servers == 1 {
            addrs[0]
        } else {
            proxy(addrs)?
        };
        let ids = VaultIds::from_keystore(&dir.path().join("keys"));
        let index = rt.block_on(PgIndex::connect(&db))?;
        let t = rt.block_on(tokens(&index, &group, a.devices));
        rt.block_on(index.close());
        results.push(measure(a, name, front, ids, &t, &group)?);
    }

    println!(
        "\n{} devices × {} segments of {} KiB, {} upload threads\n",
        a.devices,
        a.segments,
        a.bytes / 1024,
        a.workers
    );
    println!("| setup | segments/s | MiB/s | p50 ack (ms) | p99 ack (ms) |");
    println!("|---|---:|---:|---:|---:|");
    for m in &results {
        let per_s = m.segments as f64 / m.secs;
        println!(
            "| {} | {:.0} | {:.1} | {:.1} | {:.1} |",
            m.name,
            per_s,
            per_s * a.bytes as f64 / f64::from(1 << 20),
            m.p50_ms,
            m.p99_ms
        );
    }
    if a.appends > 0 {
        let per_s = rt.block_on(appends(&pg, a.appends))?;
        println!(
            "\naudit log appends on PostgreSQL (8 writers, one entry per commit): {per_s:.0}/s"
        );
    }
    Ok(())
}

/// Appends per second on a fresh PostgreSQL database: 8 writers, one
/// entry per transaction (each takes the log head's lock and commits
/// synchronously, docs/vault.md §6.0).
async fn appends(pg: &Arc<TestServer>, n: usize) -> Result<f64, Error> {
    let db = pg.database().await?.url;
    let index = PgIndex::connect(&db).await?;
    let entry = |i: usize| {
        obhut_server::log::entry(
            1,
            obhut_core::audit::Role::Operator,
            [0; 32],
            None,
            obhut_core::audit::Event::PolicyInEffect {
                policy: format!("entry {i}"),
            },
        )
    };
    let entries: Vec<NewLogEntry> = (0..n)
        .map(entry)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let entries = Arc::new(entries);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (index, entries) = (index.clone(), entries.clone());
        tasks.push(tokio::spawn(async move {
            for e in entries.iter().skip(w).step_by(8) {
                index.log_append(std::slice::from_ref(e)).await?;
            }
            Ok::<_, obhut_store::StoreError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = t0.elapsed().as_secs_f64().max(f64::EPSILON);
    index.close().await;
    Ok(n as f64 / secs)
}
