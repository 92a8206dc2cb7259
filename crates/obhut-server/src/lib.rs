//! # obhut-server
//!
//! The vault's HTTP API (docs/vault.md §2–§5, §7) over any
//! [`IndexStore`] + [`BlobStore`]. The vault is untrusted for
//! confidentiality: it checks what it can (device signatures, chains,
//! capsule proofs, hashes) and stores ciphertext; it never sees a key that
//! opens a segment, and it logs ids, sizes and timings only.
//!
//! - [`App`] ([`app`]): the shared state (stores, keystore, clock,
//!   metrics, the audit log);
//! - [`router`]: the axum router; [`serve`]: bind and run until a signal;
//!   [`embedded`]: the vault on the embedded store, as `obhut serve` runs it;
//! - [`enrol`], [`epochs`], [`ingest`], [`read`], [`access`], [`ops`] and
//!   [`log::http`]: the handlers (their JSON bodies and error kinds are
//!   obhut-api's, shared with the clients);
//! - [`log`]: the audit log's integrator, proofs and witness client;
//! - [`sequencing`]: the locks and signals that assume one vault process;
//! - [`admin`]: the operator's changes (tokens, revocation, roles), made
//!   on the store beside a running vault.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use obhut_store::{BlobStore, IndexStore};

pub mod access;
pub mod admin;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod embedded;
pub mod enrol;
pub mod epochs;
pub mod error;
pub mod ingest;
pub mod keystore;
pub mod log;
pub mod metrics;
pub mod ops;
mod params;
pub mod read;
pub mod replay;
pub mod sequencing;
#[cfg(feature = "test-util")]
pub mod testkit;
pub mod write_health;

pub use app::App;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::ServerConfig;
pub use error::ApiError;
pub use params::MAX_JSON_BODY;

/// The router of docs/vault.md.
pub fn router<I: IndexStore, B: BlobStore>(app: Arc<App<I, B>>) -> Router {
    Router::new()
        .route("/v1/enrol", post(enrol::enrol::<I, B>))
        .route("/v1/epochs", get(epochs::epochs::<I, B>))
        .route("/v1/recordings/{rid}/head", get(ingest::head::<I, B>))
        .route(
            "/v1/recordings/{rid}/segments/{index}",
            put(ingest::put_segment::<I, B>).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/receipts/{rid}/{index}", get(ingest::receipt::<I, B>))
        .route("/v1/recordings", get(read::list::<I, B>))
        .route("/v1/recordings/{rid}/records", get(read::records::<I, B>))
        .route(
            "/v1/recordings/{rid}/segments/{index}/blob",
            get(read::blob::<I, B>),
        )
        .route(
            "/v1/requests",
            get(access::list::<I, B>).post(access::create::<I, B>),
        )
        .route("/v1/requests/{hash}", get(access::get_one::<I, B>))
        .route(
            "/v1/requests/{hash}/approvals",
            post(access::approve::<I, B>),
        )
        .route(
            "/v1/requests/{hash}/approvals/{i}/partial",
            put(access::put_partial::<I, B>).layer(DefaultBodyLimit::max(access::MAX_PARTIAL_BODY)),
        )
        .route("/v1/requests/{hash}/denials", post(access::deny::<I, B>))
        .route("/v1/requests/{hash}/release", post(access::release::<I, B>))
        .route("/v1/requests/{hash}/opened", post(access::opened::<I, B>))
        .route("/v1/log/checkpoint", get(log::http::checkpoint::<I, B>))
        .route(
            "/v1/log/checkpoints/{size}",
            get(log::http::checkpoint_at::<I, B>),
        )
        .route("/v1/log/key", get(log::http::key::<I, B>))
        .route("/v1/log/tile/{*path}", get(log::http::tile::<I, B>))
        .route("/v1/log/proof/inclusion", get(log::http::inclusion::<I, B>))
        .route(
            "/v1/log/proof/consistency",
            get(log::http::consistency::<I, B>),
        )
        .route("/v1/log/entries", get(log::http::entries::<I, B>))
        .route(
            "/v1/log/recordings/{rid}",
            get(log::http::recording::<I, B>),
        )
        .route("/openapi.json", get(ops::openapi))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz::<I, B>))
        .route("/metrics", get(ops::metrics::<I, B>))
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(axum::middleware::from_fn(ops::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            ops::track_writes::<I, B>,
        ))
        .layer(axum::middleware::from_fn(ops::log_request))
        .with_state(app)
}

/// Upper bound of each connection's HTTP/1 read buffer (and write queue),
/// hyper's `max_buf_size`. hyper's default lets an idle keep-alive
/// connection hold up to 408 KiB; 64 KiB (the store's write size) bounds
/// 1,000 idle devices to 64 MiB at the same single-upload throughput (RSS
/// 460 → 91 MiB in the N = 1,000 load bench). History: BENCHMARKS.md,
/// "Tuning decisions".
pub const CONN_BUF_MAX: usize = 64 * 1024;

/// What a vault does once before it serves: record its start (the floor
/// of the read-replay window, `replay.rs`), log the policy in effect and
/// make the epochs of every served class for the current and the next
/// period (the first run of the schedule [`serve`] repeats hourly).
/// Failures are logged, not fatal.
pub async fn startup<I: IndexStore, B: BlobStore>(app: &App<I, B>) {
    app.record_start().await;
    app.record_policy().await;
    if let Err(e) = app.ensure_all_epochs().await {
        tracing::warn!(error = %e, "creating epochs at startup");
    }
}

/// Bind `listener` and serve until `shutdown` resolves. The caller has run
/// [`startup`]; the epoch schedule runs again every hour.
pub async fn serve<I: IndexStore, B: BlobStore>(
    app: Arc<App<I, B>>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ticker = app.clone();
    let task = tokio::spawn(async move {
        let hour = std::time::Duration::from_secs(3600);
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + hour, hour);
        loop {
            t.tick().await;
            if let Err(e) = ticker.ensure_all_epochs().await {
                tracing::warn!(error = %e, "creating epochs");
            }
        }
    });
    let integrator = tokio::spawn(run_integrator(app.clone()));
    let r = serve_router(listener, router(app), shutdown).await;
    task.abort();
    integrator.abort();
    r
}

/// The single integrator of the audit log: runs when woken by a local
/// append, and every second for entries other processes sequenced (the
/// admin CLI); prunes entry bodies past retention hourly.
async fn run_integrator<I: IndexStore, B: BlobStore>(app: Arc<App<I, B>>) {
    let mut last_prune = i64::MIN;
    loop {
        match app.log.integrate(&app.index, app.clock.now_ms()).await {
            Ok(Some(_)) => {
                if let Err(e) = app.log.cosign_latest(&app.index).await {
                    tracing::warn!(error = %e, "asking witnesses to cosign");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "integrating the audit log"),
        }
        let now = app.clock.now_ms();
        if let Some(retention) = app.config.log_retention_ms
            && now.saturating_sub(last_prune) >= 3_600_000
        {
            last_prune = now;
            let vault = app.keystore.vault_key().verify_key().to_bytes();
            if let Err(e) = log::prune(&app.index, &app.log, vault, retention, now).await {
                tracing::warn!(error = %e, "pruning the audit log");
            }
        }
        tokio::select! {
            () = app.log.woken() => {}
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// The accept loop (what `axum::serve(..).with_graceful_shutdown(..)` does,
/// HTTP/1 only, with the connection buffers bounded by [`CONN_BUF_MAX`]):
/// one task per connection; when `shutdown` resolves, stop accepting, let
/// requests in flight finish, close idle connections, and return once every
/// connection has ended.
async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::TokioIo;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(CONN_BUF_MAX);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    // Without TCP_NODELAY a keep-alive client waits out its
                    // delayed ACK (40 ms on Linux) whenever hyper writes an
                    // answer's head and body apart: measured as +40 ms per
                    // call of obhut-client in scripts/bench-access.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "setting TCP_NODELAY");
                    }
                    stream
                }
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let conn = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
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
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}
