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
//! - [`sequencing`]: per-recording publication, upload order, epoch
//!   creation and the log's integrator: in memory, or as database locks
//!   and a lease when vault processes share a store;
//! - [`derived`]: derived artifacts, lineage, consent and the cascade
//!   when a source goes;
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
pub mod config_print;
pub mod derived;
pub mod embedded;
pub mod enrol;
pub mod epochs;
pub mod erasure;
pub mod error;
pub mod hold;
pub mod holder;
pub mod ingest;
pub mod keystore;
pub mod log;
pub mod metrics;
pub mod names;
pub mod net;
pub mod ops;
mod params;
pub mod pkcs11;
pub mod read;
pub mod replay;
pub mod sequencing;
pub mod sweep;
#[cfg(feature = "test-util")]
pub mod testkit;
pub mod write_health;

pub use app::App;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::ServerConfig;
pub use error::ApiError;
pub use params::MAX_JSON_BODY;

/// The router of docs/vault.md on the API listener: every endpoint but
/// `/metrics` (the operations listener's, [`ops_router`]). The
/// unauthenticated endpoints (enrolment, epochs, the log) are limited per
/// source ([`net::rate`]).
pub fn router<I: IndexStore, B: BlobStore>(app: Arc<App<I, B>>) -> Router {
    let n = app.config.net;
    let limits = net::rate::SourceLimits::new(n.anon_per_sec, n.anon_burst);
    let limited = axum::middleware::from_fn_with_state(limits, net::rate::limit);
    let anonymous = Router::new()
        .route("/v1/enrol", post(enrol::enrol::<I, B>))
        .route("/v1/epochs", get(epochs::epochs::<I, B>))
        .route("/v1/epochs/{id}/receipt", get(sweep::receipt::<I, B>))
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
        .route_layer(limited);
    Router::new()
        .merge(anonymous)
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
            "/v1/recordings/{rid}/segments/{index}/tree",
            get(read::tree::<I, B>),
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
        .route("/v1/artifacts", post(derived::http::register::<I, B>))
        .route(
            "/v1/artifacts/{id}",
            get(derived::http::get_artifact::<I, B>),
        )
        .route("/v1/lineage/{id}", get(derived::http::lineage::<I, B>))
        .route("/v1/names", get(names::names::<I, B>))
        .route("/v1/consents", post(derived::http::record_consent::<I, B>))
        .route(
            "/v1/consents/{id}/withdrawal",
            post(derived::http::withdraw_consent::<I, B>),
        )
        .route(
            "/v1/requests/{hash}/disclosed",
            post(access::disclosed::<I, B>),
        )
        .route("/openapi.json", get(ops::openapi))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz::<I, B>))
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(axum::middleware::from_fn(ops::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            ops::track_writes::<I, B>,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            ops::count_errors::<I, B>,
        ))
        .layer(axum::middleware::from_fn(ops::log_request))
        .with_state(app)
}

/// The router of the operations listener (`ops_listen`): `/metrics`,
/// `/healthz`, `/readyz`; kept off the API listener, which anyone who can
/// reach the vault can reach.
pub fn ops_router<I: IndexStore, B: BlobStore>(app: Arc<App<I, B>>) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz::<I, B>))
        .route("/metrics", get(ops::metrics::<I, B>))
        .fallback(ops::not_found)
        .with_state(app)
}

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

pub use net::CONN_BUF_MAX;

/// Serve the API on `listener` (and, if given, [`ops_router`] on `ops`)
/// until `shutdown` resolves. The caller has run [`startup`]; the epoch
/// schedule runs again every hour.
pub async fn serve<I: IndexStore, B: BlobStore>(
    app: Arc<App<I, B>>,
    listener: tokio::net::TcpListener,
    ops: Option<tokio::net::TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_tls(app, listener, ops, None, shutdown).await
}

/// [`serve`], the API over TLS with `tls`'s certificate if given
/// (reloaded on SIGHUP; the operations listener stays plain HTTP: it is
/// for a scraper and a health checker on the host or its network).
pub async fn serve_with_tls<I: IndexStore, B: BlobStore>(
    app: Arc<App<I, B>>,
    listener: tokio::net::TcpListener,
    ops: Option<tokio::net::TcpListener>,
    tls: Option<Arc<net::tls::Certs>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (acceptor, reload) = match tls {
        None => (None, None),
        Some(certs) => {
            let acceptor = certs.acceptor().map_err(std::io::Error::other)?;
            #[cfg(unix)]
            let reload = Some(net::tls::reload_on_sighup(certs)?);
            #[cfg(not(unix))]
            let reload: Option<tokio::task::JoinHandle<()>> = None;
            (Some(acceptor), reload)
        }
    };
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
    let sweeper = app.clone();
    let sweep_task = tokio::spawn(async move {
        // The first sweep at start, then every interval: footage outlives
        // its expiry by at most one interval (docs/vault.md §9).
        let every = std::time::Duration::from_millis(
            u64::try_from(sweeper.config.sweep_interval_ms).unwrap_or(300_000),
        );
        let mut t = tokio::time::interval(every);
        loop {
            t.tick().await;
            if let Err(e) = sweeper.sweep_once().await {
                tracing::warn!(error = %e, "sweeping expired epochs");
            }
        }
    });
    let integrator = tokio::spawn(run_integrator(app.clone()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let n = app.config.net;
    let max_connections = n
        .max_connections
        .unwrap_or_else(net::default_max_connections);
    tracing::info!(max_connections, "connection cap");
    let ops = ops.map(|listener| {
        tokio::spawn(net::serve_listener(
            net::Listener {
                listener,
                router: ops_router(app.clone()),
                max_connections: net::OPS_CONNECTIONS_MAX,
                refuse: false,
                timeouts: n.timeouts,
                metrics: app.metrics.connections("ops"),
                tls: None,
            },
            stopped.clone(),
        ))
    });
    let api = net::Listener {
        listener,
        router: router(app.clone()),
        max_connections,
        refuse: true,
        timeouts: n.timeouts,
        metrics: app.metrics.connections("api"),
        tls: acceptor,
    };
    let r = net::serve_listener(api, stopped).await;
    if let Some(ops) = ops {
        let _ = ops.await;
    }
    task.abort();
    sweep_task.abort();
    integrator.abort();
    app.sequencing.resign().await;
    if let Some(reload) = reload {
        reload.abort();
    }
    r
}

/// The audit log's integrator: runs when woken by a local append, and
/// every second for entries other processes sequenced (the admin CLI,
/// other servers); prunes entry bodies past retention hourly. On a store
/// other servers share, only while this process holds the integrator's
/// lease ([`sequencing::Sequencing::lead_integration`]); otherwise it
/// serves the checkpoints the holder signs.
async fn run_integrator<I: IndexStore, B: BlobStore>(app: Arc<App<I, B>>) {
    let mut last_prune = i64::MIN;
    loop {
        let lead = match app.sequencing.lead_integration().await {
            Ok(lead) => lead,
            Err(e) => {
                tracing::warn!(error = %e, "asking for the audit log integrator's lease");
                false
            }
        };
        if lead {
            integrate_once(&app, &mut last_prune).await;
        } else if let Err(e) = app.log.refresh(&app.index).await {
            tracing::warn!(error = %e, "reading the latest checkpoint");
        }
        tokio::select! {
            () = app.log.woken() => {}
            () = tokio::time::sleep(sequencing::LEASE_RETRY) => {}
        }
    }
}

/// One round of the integrator: integrate, ask the witnesses, prune.
async fn integrate_once<I: IndexStore, B: BlobStore>(app: &App<I, B>, last_prune: &mut i64) {
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
        && now.saturating_sub(*last_prune) >= 3_600_000
    {
        *last_prune = now;
        let vault = app.keystore.vault_key().verify_key().to_bytes();
        if let Err(e) = log::prune(&app.index, &app.log, vault, retention, now).await {
            tracing::warn!(error = %e, "pruning the audit log");
        }
    }
}
