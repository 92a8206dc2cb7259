//! What the vault owes a client before any handler runs, and what it
//! refuses to give one (docs/vault.md §7, "Connections"): the accept loop,
//! a cap on connections with a clear refusal above it, each connection's
//! timeouts ([`watch`]), and the per-source limit of the unauthenticated
//! endpoints ([`rate`]).
//!
//! Every connection holds a file descriptor, and an upload or a blob
//! answer a second one (its file); a process out of descriptors accepts
//! nothing, health checks included. So connections are capped below
//! `RLIMIT_NOFILE` ([`default_max_connections`]), every connection is
//! bounded in time by what its client does, and the API listener keeps a
//! small, short-lived path ([`refuse`]) for connections above the cap: a
//! `503 overloaded` with `Retry-After`, or `/healthz`'s answer.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use tokio::sync::Semaphore;

pub mod rate;
mod refuse;
pub mod tls;
pub mod watch;

pub use watch::Timeouts;

/// Upper bound of each connection's HTTP/1 read buffer (and write queue),
/// hyper's `max_buf_size`. hyper's default lets an idle keep-alive
/// connection hold up to 408 KiB; 64 KiB (the store's write size) bounds
/// 1,000 idle devices to 64 MiB at the same single-upload throughput (RSS
/// 460 → 91 MiB in the N = 1,000 load bench). History: BENCHMARKS.md,
/// "Tuning decisions".
pub const CONN_BUF_MAX: usize = 64 * 1024;

/// Descriptors kept back from the connection cap for everything else: the
/// index (five SQLite connections, each with the database, its WAL and its
/// shared memory), the data directory's lock, the keystore, the listeners,
/// the runtime's epoll and wakers, stdio, the witnesses' connections.
pub const RESERVED_FDS: u64 = 128;

/// Connections above the cap answered at once (a `503 overloaded`, or
/// `/healthz`), each for at most [`refuse::READ_FOR`] plus
/// [`refuse::WRITE_FOR`]; beyond these, a connection is closed unanswered.
pub const REFUSALS_MAX: usize = 64;

/// Connections of the operations listener (metrics, health): a scraper
/// and a health checker or two.
pub const OPS_CONNECTIONS_MAX: usize = 16;

/// Default header timeout: a signed request head is under 1 KiB.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default keep-alive idle timeout: a device cutting one-minute segments
/// keeps its connection from one upload to the next.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default longest gap in a body (and in the client's reading of an
/// answer). TCP's retransmission backoff passes 30 s after five lost
/// tries: a link silent for longer is down, and the agent resumes.
pub const DEFAULT_BODY_GAP: Duration = Duration::from_secs(30);
/// Default lowest average body rate: 1 KiB/s (8 kbit/s), below any
/// cellular data link (GPRS carries some 5 KiB/s), so a device on the
/// slowest link still uploads 1 MiB (in 17 minutes at this rate), while a
/// client trickling a byte now and then is cut off after the first gap.
pub const DEFAULT_BODY_MIN_RATE: u64 = 1024;
/// Default unauthenticated requests per second per source, after the
/// burst.
pub const DEFAULT_ANON_PER_SEC: u32 = 10;
/// Default burst of unauthenticated requests per source: a custodian's
/// client checking a log proof asks for a checkpoint, a proof and a few
/// tiles; an auditor more.
pub const DEFAULT_ANON_BURST: u32 = 120;

/// The validated connection limits (config keys of docs/vault.md §7).
#[derive(Clone, Copy, Debug)]
pub struct NetConfig {
    /// Connections served at once on the API listener; `None`:
    /// [`default_max_connections`].
    pub max_connections: Option<usize>,
    /// Each connection's timeouts.
    pub timeouts: Timeouts,
    /// Unauthenticated requests per second per source.
    pub anon_per_sec: NonZeroU32,
    /// Their burst.
    pub anon_burst: NonZeroU32,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            max_connections: None,
            timeouts: Timeouts {
                header: DEFAULT_HEADER_TIMEOUT,
                idle: DEFAULT_IDLE_TIMEOUT,
                body_gap: DEFAULT_BODY_GAP,
                body_min_rate: DEFAULT_BODY_MIN_RATE,
            },
            anon_per_sec: NonZeroU32::new(DEFAULT_ANON_PER_SEC).expect("nonzero"),
            anon_burst: NonZeroU32::new(DEFAULT_ANON_BURST).expect("nonzero"),
        }
    }
}

/// The connection cap when none is configured: half of what
/// `RLIMIT_NOFILE` leaves after [`RESERVED_FDS`] and [`REFUSALS_MAX`]
/// (a connection may hold a file besides its socket). At the common soft
/// limit of 1,024 that is 416; raise the limit (`ulimit -n`,
/// systemd's `LimitNOFILE=`) to serve more devices at once.
pub fn default_max_connections() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
        .min(1 << 21);
    let spare = soft.saturating_sub(RESERVED_FDS + REFUSALS_MAX as u64);
    usize::try_from(spare / 2).unwrap_or(usize::MAX).max(1)
}

/// One listener and how it treats its connections.
pub(crate) struct Listener {
    /// The socket.
    pub listener: tokio::net::TcpListener,
    /// What it serves.
    pub router: Router,
    /// Connections served at once.
    pub max_connections: usize,
    /// Whether connections above the cap get an answer ([`refuse`]) or
    /// are closed at once.
    pub refuse: bool,
    /// Each connection's timeouts.
    pub timeouts: Timeouts,
    /// Counts of connections.
    pub metrics: crate::metrics::Connections,
    /// TLS, if the listener serves it ([`tls`]).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// The accept loop (what `axum::serve(..).with_graceful_shutdown(..)` does,
/// HTTP/1 only, with the connection buffers bounded by [`CONN_BUF_MAX`],
/// the cap and the timeouts): one task per connection; when `stop` turns
/// true, stop accepting, let requests in flight finish, close idle
/// connections, and return once every connection has ended.
pub(crate) async fn serve_listener(
    l: Listener,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    use hyper_util::rt::TokioIo;
    use hyper_util::server::graceful::GracefulShutdown;

    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's own header timer would also be the idle timeout (it runs
    // from the moment a connection waits for a head); watch.rs keeps both.
    http.max_buf_size(CONN_BUF_MAX).header_read_timeout(None);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(l.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS_MAX));
    let t = l.timeouts;
    loop {
        let (stream, peer) = tokio::select! {
            r = l.listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            l.metrics.refused.inc();
            if l.refuse
                && let Ok(permit) = refusals.clone().try_acquire_owned()
            {
                let tls = l.tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => refuse::refuse(stream).await,
                        // The handshake counts against the head's time.
                        Some(tls) => {
                            if let Ok(Ok(s)) =
                                tokio::time::timeout(refuse::READ_FOR, tls.accept(stream)).await
                            {
                                refuse::refuse(s).await;
                            }
                        }
                    }
                    drop(permit);
                });
            }
            // Else dropped here: closed unanswered.
            continue;
        };
        // Without TCP_NODELAY a keep-alive client waits out its delayed
        // ACK (40 ms on Linux) whenever hyper writes an answer's head and
        // body apart: measured as +40 ms per call of obhut-client in
        // scripts/bench-access.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "setting TCP_NODELAY");
        }
        let watch = watch::Watch::new();
        // TLS rides on the watched socket: the handshake is read under the
        // header timeout (the connection is in its first head phase), and
        // every later read and write under the phase's own limit.
        let io = watch::WatchedIo::new(stream, watch.clone(), t);
        let router = l.router.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            watch.busy();
            let mut req = req.map(|b| axum::body::Body::new(watch::ProgressBody::new(b, t)));
            req.extensions_mut().insert(ConnectInfo(peer));
            let answer = tower::ServiceExt::oneshot(router.clone(), req);
            let watch = watch.clone();
            async move {
                let resp = answer.await?;
                Ok::<_, std::convert::Infallible>(
                    resp.map(|b| watch::EndsIdle::new(b, watch.clone())),
                )
            }
        });
        let watcher = graceful.watcher();
        let http = http.clone();
        let tls = l.tls.clone();
        let open = l.metrics.open.clone();
        open.inc();
        tokio::spawn(async move {
            let r = match tls {
                None => {
                    watcher
                        .watch(http.serve_connection(TokioIo::new(io), service))
                        .await
                }
                Some(tls) => match tls.accept(io).await {
                    Ok(s) => {
                        watcher
                            .watch(http.serve_connection(TokioIo::new(s), service))
                            .await
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, %peer, "TLS handshake failed");
                        Ok(())
                    }
                },
            };
            if let Err(e) = r {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            open.dec();
            drop(slot);
        });
    }
    drop(l.listener);
    graceful.shutdown().await;
    Ok(())
}

/// Resolves when `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// A failed `accept`: a connection that died before it was accepted is
/// nobody's concern; anything else (EMFILE: out of file descriptors) is
/// logged and retried after a second, as hyper and axum do.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind as K;
    if matches!(
        e.kind(),
        K::ConnectionRefused | K::ConnectionAborted | K::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The peer of a request, as the accept loop recorded it.
pub fn peer(req: &axum::extract::Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}
