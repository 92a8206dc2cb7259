//! Operations endpoints (docs/vault.md §7) and the request log.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use obhut_api::ErrorKind;
use obhut_store::{BlobStore, IndexStore};
use tokio::io::AsyncReadExt;

use crate::app::App;
use crate::error::ApiError;

/// The OpenAPI 3.1 description, maintained by hand beside the code with
/// every limit it states as a `{{NAME}}` of [`OPENAPI_LIMITS`];
/// `tests/openapi.rs` checks it covers every route and states no number
/// of its own.
pub const OPENAPI_TEMPLATE: &str = include_str!("../openapi.json");

/// The limits the OpenAPI description states, from the constants the code
/// enforces (the document once said W = 2 while the vault took 4).
pub const OPENAPI_LIMITS: &[(&str, u64)] = &[
    (
        "MIN_RECORD_LEN",
        obhut_core::record::record_len(1, false) as u64,
    ),
    ("MAX_RECORD_LEN", obhut_core::record::MAX_RECORD_LEN as u64),
    ("HEADER_LEN", obhut_core::segment::HEADER_LEN as u64),
    ("CHUNK_SIZE", obhut_core::stream::CHUNK_SIZE as u64),
    ("TAG_LEN", obhut_core::stream::TAG_LEN as u64),
    ("UPLOAD_WINDOW", obhut_api::ingest::UPLOAD_WINDOW as u64),
    (
        "PREDECESSOR_WAIT_SECS",
        crate::sequencing::DEFAULT_PREDECESSOR_WAIT.as_secs(),
    ),
    ("MAX_TEXT_LEN", obhut_core::audit::MAX_TEXT_LEN as u64),
    (
        "MAX_ANSWER_RECORD_LEN",
        obhut_core::vault::MAX_ANSWER_RECORD_LEN as u64,
    ),
    (
        "MAX_ENTRIES_PER_PAGE",
        obhut_api::log::MAX_ENTRIES_PER_PAGE as u64,
    ),
    ("MAX_NAME_KEYS", obhut_api::names::MAX_KEYS as u64),
];

/// [`OPENAPI_TEMPLATE`] with [`OPENAPI_LIMITS`] filled in: a `"{{NAME}}"`
/// JSON value becomes the number, a `{{NAME}}` inside a string its
/// digits.
pub fn render_openapi(template: &str) -> String {
    let mut doc = template.to_owned();
    for (name, value) in OPENAPI_LIMITS {
        doc = doc
            .replace(&format!("\"{{{{{name}}}}}\""), &value.to_string())
            .replace(&format!("{{{{{name}}}}}"), &value.to_string());
    }
    doc
}

/// The served OpenAPI document, rendered once.
pub fn openapi_json() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| render_openapi(OPENAPI_TEMPLATE))
}

/// `GET /openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The largest probe `/readyz` stages after a failed write: enough to
/// tell "full" from "has room for a segment" without writing gigabytes
/// every few seconds when a huge upload failed.
const MAX_PROBE: u64 = 64 << 20;

/// Remember the outcome of every write request
/// ([`crate::write_health::WriteHealth`]). Reads (GET, HEAD) change
/// nothing: they need no write (docs/vault.md §2.1).
pub async fn track_writes<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    req: Request,
    next: Next,
) -> Response {
    let write = !matches!(req.method(), &Method::GET | &Method::HEAD);
    let bytes = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(0);
    let resp = next.run(req).await;
    if write {
        match resp.extensions().get::<ErrorKind>() {
            Some(ErrorKind::InsufficientStorage | ErrorKind::Internal) => app.writes.failed(bytes),
            None if resp.status().is_success() => app.writes.succeeded(),
            _ => {}
        }
    }
    resp
}

/// `GET /readyz`: index and blob store answer and take writes. Each
/// store's `ping` probes a small write (a row, a file, written and
/// removed), and after a failed write request the blob store stages as
/// many bytes as that request carried
/// ([`crate::write_health::WriteHealth`]): "not ready" while the disk is
/// full or a device fails writes, "ready" again as soon as such a write
/// succeeds. Anonymous callers share one verdict a second
/// ([`crate::write_health::PROBE_REUSE`]), so health checks cannot turn
/// into a stream of disk writes.
pub async fn readyz<I: IndexStore, B: BlobStore>(State(app): State<Arc<App<I, B>>>) -> Response {
    if app.writes.verdict(probe_all(&app)).await {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

/// The probes behind a `/readyz` verdict (reused for
/// [`crate::write_health::PROBE_REUSE`]).
async fn probe_all<I: IndexStore, B: BlobStore>(app: &App<I, B>) -> bool {
    let index = app.index.ping().await;
    let blobs = app.blobs.ping().await;
    let retry = match app.writes.last_failed() {
        Some(bytes) if index.is_ok() && blobs.is_ok() => Some(probe(&app.blobs, bytes).await),
        _ => None,
    };
    match (index, blobs, retry) {
        (Ok(()), Ok(()), None | Some(Ok(()))) => {
            app.writes.succeeded();
            true
        }
        (i, b, r) => {
            for (what, e) in [
                ("index", i),
                ("blob store", b),
                ("failed write", r.unwrap_or(Ok(()))),
            ] {
                if let Err(e) = e {
                    tracing::warn!(error = %e, "{what} not ready");
                }
            }
            false
        }
    }
}

/// Stage `bytes` zeros (at most [`MAX_PROBE`]) the way an upload is
/// staged, make them durable, and throw them away.
async fn probe<B: BlobStore>(blobs: &B, bytes: u64) -> Result<(), obhut_store::StoreError> {
    let n = bytes.clamp(1, MAX_PROBE);
    let mut staged = blobs.stage(tokio::io::repeat(0).take(n), n).await?;
    let synced = blobs.sync_staged(&mut staged).await;
    blobs.discard(staged).await;
    synced
}

/// Count every error answer by its kind (`obhut_errors_total`), axum's own
/// refusals included: outside [`json_errors`], which gives them theirs.
pub async fn count_errors<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    req: Request,
    next: Next,
) -> Response {
    let resp = next.run(req).await;
    if let Some(kind) = resp.extensions().get::<ErrorKind>() {
        app.metrics.error(kind);
    }
    resp
}

/// `GET /metrics`: Prometheus text format. The log's gauges are read from
/// the index at each scrape, so that every vault process sharing one
/// database reports the log as it is, not as this process last wrote it.
pub async fn metrics<I: IndexStore, B: BlobStore>(State(app): State<Arc<App<I, B>>>) -> Response {
    refresh_log_gauges(&app).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
        .into_response()
}

/// `obhut_log_entries`, `obhut_log_sequenced_entries` and
/// `obhut_log_checkpoint_age_seconds` as the index has them now; on a
/// failed read they keep their last values (and the store's failure shows
/// in `/readyz`).
async fn refresh_log_gauges<I: IndexStore, B: BlobStore>(app: &App<I, B>) {
    let m = &app.metrics;
    match app.index.log_checkpoint().await {
        Ok(Some(cp)) => {
            m.log_entries
                .set(i64::try_from(cp.size).unwrap_or(i64::MAX));
            let age_ms = app.clock.now_ms().saturating_sub(cp.time_ms).max(0);
            // Milliseconds to seconds: exact enough for an age in f64.
            m.log_checkpoint_age.set(age_ms as f64 / 1000.0);
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "reading the latest checkpoint for /metrics"),
    }
    match app.index.log_sequenced().await {
        Ok(n) => {
            m.log_sequenced.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        Err(e) => tracing::warn!(error = %e, "reading the log's size for /metrics"),
    }
}

/// Unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "no such endpoint (see /openapi.json)")
}

/// What axum answers on its own, before a handler runs (a path parameter
/// that does not parse, a query or JSON body it cannot read, a body over
/// the limit, a method the route lacks), as the API's JSON error with a
/// kind: clients act on the kind, and axum's answers are plain text or
/// empty. The kind fixes the status ([`crate::error::status`]), so a
/// few statuses change: 415 and 422 from axum's extractors are
/// `400 bad-request`. Answers that carry a kind already pass unchanged.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    // 503 is `/readyz`'s "not ready", for load balancers, not clients.
    if !(status.is_client_error() || status == StatusCode::INTERNAL_SERVER_ERROR)
        || resp.extensions().get::<ErrorKind>().is_some()
    {
        return resp;
    }
    let kind = match status {
        StatusCode::NOT_FOUND => ErrorKind::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorKind::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::TooLarge,
        StatusCode::RANGE_NOT_SATISFIABLE => ErrorKind::RangeNotSatisfiable,
        s if s.is_client_error() => ErrorKind::BadRequest,
        _ => ErrorKind::Internal,
    };
    let allow = resp.headers().get(header::ALLOW).cloned();
    // axum's own text says what it could not read; keep it, bounded.
    let text = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = match (&kind, text.is_empty()) {
        (ErrorKind::MethodNotAllowed, _) => format!(
            "this path does not take that method{} (see /openapi.json)",
            allow
                .as_ref()
                .and_then(|a| a.to_str().ok())
                .map(|a| format!("; it takes {a}"))
                .unwrap_or_default()
        ),
        (_, false) => text,
        (_, true) => format!("the request was refused ({status})"),
    };
    let mut r = ApiError::new(kind, message).into_response();
    if let Some(a) = allow {
        r.headers_mut().insert(header::ALLOW, a);
    }
    r
}

static REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// One log line per request: id, method, path (ids only; the query is
/// left out), status, error kind, duration. Never bodies or headers.
pub async fn log_request(req: Request, next: Next) -> Response {
    let id = REQUEST_ID.fetch_add(1, Ordering::Relaxed);
    let method = req.method().clone();
    // The path without the query: ids only (recording, index), never bodies.
    let route = req.uri().path().to_owned();
    let started = Instant::now();
    let span = tracing::info_span!("request", id, %method, route = %route);
    let resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let kind = resp.extensions().get::<ErrorKind>().map(|k| k.as_str());
    span.in_scope(|| {
        tracing::info!(
            status = resp.status().as_u16(),
            error = kind,
            ms = started.elapsed().as_millis() as u64,
            "response"
        )
    });
    resp
}
