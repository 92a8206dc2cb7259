//! Operations endpoints (docs/vault.md §7) and the request log.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use obhut_api::ErrorKind;
use obhut_store::{BlobStore, IndexStore};

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
    ("RECORD_LEN", obhut_core::record::RECORD_LEN as u64),
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
        "MAX_ENTRIES_PER_PAGE",
        obhut_api::log::MAX_ENTRIES_PER_PAGE as u64,
    ),
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

/// `GET /readyz`: index and blob store answer.
pub async fn readyz<I: IndexStore, B: BlobStore>(State(app): State<Arc<App<I, B>>>) -> Response {
    let index = app.index.ping().await;
    let blobs = app.blobs.ping().await;
    match (index, blobs) {
        (Ok(()), Ok(())) => "ready\n".into_response(),
        (i, b) => {
            if let Err(e) = &i {
                tracing::warn!(error = %e, "index not ready");
            }
            if let Err(e) = &b {
                tracing::warn!(error = %e, "blob store not ready");
            }
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics<I: IndexStore, B: BlobStore>(State(app): State<Arc<App<I, B>>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
        .into_response()
}

/// Unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "no such endpoint (see /openapi.json)")
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
