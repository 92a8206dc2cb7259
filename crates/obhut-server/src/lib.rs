//! # obhut-server
//!
//! The vault's HTTP API (docs/vault.md §2–§5, §7) over any
//! [`IndexStore`] + [`BlobStore`]. The vault is untrusted for
//! confidentiality: it checks what it can (device signatures, chains,
//! capsule proofs, hashes) and stores ciphertext; it never sees a key that
//! opens a segment, and it logs ids, sizes and timings only.
//!
//! - [`App`]: the shared state (stores, keystore, clock, metrics);
//! - [`router`]: the axum router; [`serve`]: bind and run until a signal;
//! - [`ingest`], [`read`], [`access`], [`ops`]: the handlers
//!   ([`access_api`]: the access workflow's JSON, shared with the CLI).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use obhut_core::group::PinnedGroup;
use obhut_core::ids::{EpochId, GroupId, RecordingId};
use obhut_store::{BlobStore, EpochRow, IndexStore};

pub mod access;
pub mod access_api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod ingest;
pub mod keystore;
pub mod log;
pub mod log_http;
pub mod metrics;
pub mod ops;
pub mod read;
#[cfg(feature = "test-util")]
pub mod testkit;
pub mod witnessing;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::ServerConfig;
pub use error::{ApiError, ErrorKind};

use error::ApiResult;
use keystore::Keystore;

/// Largest JSON body (enrolment).
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// The vault's shared state.
pub struct App<I, B> {
    /// The index.
    pub index: I,
    /// The blobs.
    pub blobs: B,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Configuration.
    pub config: ServerConfig,
    /// Receipt key and epoch secrets.
    pub keystore: Keystore,
    /// Metrics registry.
    pub metrics: metrics::Metrics,
    epoch_lock: tokio::sync::Mutex<()>,
    recording_locks: Mutex<HashMap<RecordingId, Weak<tokio::sync::Mutex<()>>>>,
    groups: Mutex<HashMap<GroupId, Arc<PinnedGroup>>>,
    /// Pipelined uploads waiting for their predecessor (ingest.rs).
    pub(crate) upload_order: ingest::UploadOrder,
    /// The audit log (log.rs).
    pub log: log::LogService,
}

impl<I: IndexStore, B: BlobStore> App<I, B> {
    /// Assemble the state. Fails only if the configured `log_origin` is
    /// not a valid signed-note key name.
    pub fn new(
        index: I,
        blobs: B,
        keystore: Keystore,
        config: ServerConfig,
        clock: Arc<dyn Clock>,
    ) -> ApiResult<Self> {
        let origin = config
            .log_origin
            .clone()
            .unwrap_or_else(|| log::default_origin(keystore.log_key()));
        let log = log::LogService::new(origin, keystore.log_key(), &config.witnesses)?;
        Ok(App {
            index,
            blobs,
            clock,
            config,
            keystore,
            metrics: metrics::Metrics::new(),
            epoch_lock: tokio::sync::Mutex::new(()),
            recording_locks: Mutex::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
            upload_order: ingest::UploadOrder::default(),
            log,
        })
    }

    /// Log the policy in effect ([`ServerConfig::policy`]) if it differs
    /// from the last one logged. Failures are logged, not fatal: the vault
    /// still serves, and the next start tries again.
    pub async fn record_policy(&self) {
        let policy = self.config.policy();
        let entry = self.log_entry(
            obhut_core::audit::Role::Vault,
            self.keystore.vault_key().verify_key().to_bytes(),
            None,
            obhut_core::audit::Event::PolicyInEffect {
                policy: policy.clone(),
            },
        );
        match entry {
            Ok(entry) => match self.index.record_policy(&policy, &entry).await {
                Ok(true) => {
                    tracing::info!(%policy, "policy changed; logged");
                    self.log.wake();
                }
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "recording the policy"),
            },
            Err(e) => tracing::error!(error = %e, "the policy does not fit an audit entry"),
        }
    }

    /// The audit entry of an event now.
    pub fn log_entry(
        &self,
        role: obhut_core::audit::Role,
        key: [u8; 32],
        recording: Option<RecordingId>,
        event: obhut_core::audit::Event,
    ) -> ApiResult<obhut_store::NewLogEntry> {
        log::entry(self.clock.now_ms(), role, key, recording, event)
    }

    /// The per-recording write lock: one upload at a time may run the
    /// blob-then-row sequence for a recording, so a concurrent upload of a
    /// different record at the same index cannot replace a published blob.
    pub fn recording_lock(&self, id: RecordingId) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self
            .recording_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(l) = m.get(&id).and_then(Weak::upgrade) {
            return l;
        }
        m.retain(|_, w| w.strong_count() > 0);
        let l = Arc::new(tokio::sync::Mutex::new(()));
        m.insert(id, Arc::downgrade(&l));
        l
    }

    /// A custody group's pinned descriptor (cached: pinning verifies k
    /// signatures).
    pub async fn pinned_group(&self, id: GroupId) -> ApiResult<Arc<PinnedGroup>> {
        if let Some(g) = self
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return Ok(g.clone());
        }
        let row = self.index.group(id).await?.ok_or_else(|| {
            ApiError::new(ErrorKind::Internal, "the device's custody group is missing")
        })?;
        let g = Arc::new(PinnedGroup::from_bytes(&row.descriptor).map_err(|e| {
            tracing::error!(group = %id, error = %e, "stored descriptor does not pin");
            ApiError::new(
                ErrorKind::Internal,
                "the stored custody group does not verify",
            )
        })?);
        self.groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, g.clone());
        Ok(g)
    }

    /// Make sure the epochs of `class` for the period containing `now` and
    /// the next one exist (key file first, then the public row). Returns
    /// (current, next).
    pub async fn ensure_epochs(&self, class: &str) -> ApiResult<(EpochRow, EpochRow)> {
        let _guard = self.epoch_lock.lock().await;
        let period = self.config.period_of(class);
        let start = self.clock.now_ms().div_euclid(period) * period;
        let cur = self.ensure_epoch_locked(class, start, period).await?;
        let next = self
            .ensure_epoch_locked(class, start + period, period)
            .await?;
        Ok((cur, next))
    }

    /// The epoch of `class` covering capture time `t`, made if missing, for
    /// footage recorded earlier and uploaded now (a bodycam docked after a
    /// shift that crossed midnight, a camera offline for days). Refused for
    /// `t` older than `max_capture_age` or later than the end of the next
    /// period (a device clock that runs ahead).
    pub async fn ensure_epoch_covering(&self, class: &str, t: i64) -> ApiResult<EpochRow> {
        let _guard = self.epoch_lock.lock().await;
        let period = self.config.period_of(class);
        let now = self.clock.now_ms();
        let start = now.div_euclid(period) * period;
        let oldest = now.saturating_sub(self.config.max_capture_age_ms);
        if t < oldest || t >= start.saturating_add(2 * period) {
            return Err(ApiError::new(
                ErrorKind::UnknownEpoch,
                format!(
                    "capture time {t} (UTC ms) is outside what this vault issues epoch keys for: \
                     from {oldest} (now minus max_capture_age_secs = {} s) to the end of the next \
                     period ({}); check the device's clock, or raise max_capture_age_secs in \
                     obhut.toml for footage this old",
                    self.config.max_capture_age_ms / 1000,
                    start.saturating_add(2 * period)
                ),
            ));
        }
        let nb = t.div_euclid(period) * period;
        self.ensure_epoch_locked(class, nb, period).await
    }

    /// The epoch of `class` starting at `not_before`, created if missing.
    /// The caller holds `epoch_lock`.
    async fn ensure_epoch_locked(
        &self,
        class: &str,
        not_before: i64,
        period: i64,
    ) -> ApiResult<EpochRow> {
        if let Some(e) = self.index.epoch_at(class, not_before).await? {
            return Ok(e);
        }
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)
            .map_err(|_| ApiError::new(ErrorKind::Internal, "no OS randomness"))?;
        let id = EpochId(id);
        let secret = self.keystore.create_epoch(id).map_err(|e| {
            tracing::error!(error = %e, "keystore failure");
            ApiError::new(ErrorKind::Internal, "the vault's keystore failed")
        })?;
        let not_after = not_before + period;
        let public = secret.public(class, not_before, not_after);
        let row = EpochRow {
            epoch_id: id,
            retention_class: class.to_owned(),
            not_before,
            not_after,
            public: public.to_bytes(),
        };
        self.index.put_epoch(&row).await?;
        tracing::info!(epoch = %id, class, not_before, "epoch created");
        Ok(row)
    }

    /// Whether `class` is served: configured, or used by a device or an
    /// unexpired token.
    pub async fn class_known(&self, class: &str) -> ApiResult<bool> {
        if self.config.epoch_period_ms.contains_key(class) {
            return Ok(true);
        }
        Ok(self
            .index
            .known_classes(self.clock.now_ms())
            .await?
            .iter()
            .any(|c| c == class))
    }

    /// Create the epochs of every known class ahead of time.
    pub async fn ensure_all_epochs(&self) -> ApiResult<()> {
        let mut classes: Vec<String> = self.config.epoch_period_ms.keys().cloned().collect();
        classes.extend(self.index.known_classes(self.clock.now_ms()).await?);
        classes.sort();
        classes.dedup();
        for c in classes {
            self.ensure_epochs(&c).await?;
        }
        Ok(())
    }
}

/// The router of docs/vault.md.
pub fn router<I: IndexStore, B: BlobStore>(app: Arc<App<I, B>>) -> Router {
    Router::new()
        .route("/v1/enrol", post(ingest::enrol::<I, B>))
        .route("/v1/epochs", get(ingest::epochs::<I, B>))
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
        .route("/v1/log/checkpoint", get(log_http::checkpoint::<I, B>))
        .route(
            "/v1/log/checkpoints/{size}",
            get(log_http::checkpoint_at::<I, B>),
        )
        .route("/v1/log/key", get(log_http::key::<I, B>))
        .route("/v1/log/tile/{*path}", get(log_http::tile::<I, B>))
        .route("/v1/log/proof/inclusion", get(log_http::inclusion::<I, B>))
        .route(
            "/v1/log/proof/consistency",
            get(log_http::consistency::<I, B>),
        )
        .route("/v1/log/entries", get(log_http::entries::<I, B>))
        .route("/v1/log/recordings/{rid}", get(log_http::recording::<I, B>))
        .route("/openapi.json", get(ops::openapi))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz::<I, B>))
        .route("/metrics", get(ops::metrics::<I, B>))
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(axum::middleware::from_fn(ops::log_request))
        .with_state(app)
}

/// Upper bound of each connection's HTTP/1 read buffer (and write queue),
/// hyper's `max_buf_size`.
///
/// hyper grows a connection's read buffer while a body streams in, doubling
/// up to its default of 408 KiB, and keeps that size for the life of the
/// connection: between requests it reserves the grown size again to watch
/// for the next one. Devices keep their connection open between uploads,
/// so with `axum::serve` (which cannot set this) an idle device cost up to
/// 408 KiB: at 1,000 devices uploading 1 MiB every 10 s, 96 % of the
/// server's peak heap (heaptrack: 419 of 437 MiB, all from
/// `Buffered::poll_read_from_io`), RSS 460 MiB after 60 s. The store
/// writes blobs in 64 KiB chunks (obhut-store `dir.rs`); 64 KiB bounds
/// 1,000 idle connections to 64 MiB (RSS 91 MiB in the same run) at the
/// same single-upload throughput. 16 KiB saved another 50 MiB at 1,000
/// devices but cost about 10 % of single-upload throughput (more reads per
/// MiB). Request heads are far smaller (signed headers, under 1 KiB).
pub const CONN_BUF_MAX: usize = 64 * 1024;

/// Bind `listener` and serve until `shutdown` resolves.
pub async fn serve<I: IndexStore, B: BlobStore>(
    app: Arc<App<I, B>>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    app.record_policy().await;
    // Epochs ahead of time, then hourly.
    if let Err(e) = app.ensure_all_epochs().await {
        tracing::warn!(error = %e, "creating epochs at startup");
    }
    let ticker = app.clone();
    let task = tokio::spawn(async move {
        let mut t = tokio::time::interval(std::time::Duration::from_secs(3600));
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
                Ok((stream, _)) => stream,
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
