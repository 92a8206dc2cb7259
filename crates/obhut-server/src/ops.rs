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

/// The OpenAPI 3.1 description, maintained by hand beside the code;
/// `tests/openapi.rs` checks it covers every route.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// `GET /openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
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
