//! The witness's HTTP API: C2SP tlog-witness `POST /add-checkpoint`
//! (submission prefix = the root) and `GET /healthz`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::witness::{AddError, Witness};

/// Largest request body accepted; larger ones get 413. A request is an
/// `old` line, at most 63 proof lines of 45 bytes and a checkpoint note
/// (about 200 bytes plus ~100 per signature line), so 64 KiB leaves room
/// for hundreds of signatures while bounding what one request can make us
/// buffer.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const TEXT: &str = "text/plain; charset=utf-8";
/// tlog-witness: "The response MUST have a `Content-Type` of
/// `text/x.tlog.size`."
const SIZE: &str = "text/x.tlog.size";

/// The router: `POST /add-checkpoint`, `GET /healthz`.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(witness)
}

/// Serves `witness` on `listener` until `shutdown` resolves; requests in
/// flight finish first (a cosignature is never cut off after its store).
pub async fn serve(
    listener: tokio::net::TcpListener,
    witness: Arc<Witness>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(witness))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Why the witness could not listen or stopped serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("listening on {addr}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bound listener did not say its address.
    #[error("reading the bound address")]
    LocalAddr(#[source] std::io::Error),
    /// Serving failed.
    #[error("serving")]
    Serve(#[source] std::io::Error),
}

/// A witness bound to its address, not yet serving.
pub struct Server {
    witness: Arc<Witness>,
    listener: tokio::net::TcpListener,
    addr: std::net::SocketAddr,
}

impl Server {
    /// Bind `listen` (port 0 picks a free one) for `witness`.
    pub async fn bind(
        witness: Arc<Witness>,
        listen: std::net::SocketAddr,
    ) -> Result<Self, ServeError> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(ServeError::LocalAddr)?;
        tracing::info!(%addr, vkey = %witness.verifier_key(), "witness listening");
        Ok(Server {
            witness,
            listener,
            addr,
        })
    }

    /// The address it is bound to.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// [`serve`] until `shutdown` resolves.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        serve(self.listener, self.witness, shutdown)
            .await
            .map_err(ServeError::Serve)?;
        tracing::info!("witness stopped");
        Ok(())
    }
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    // The decision ends in an fsync: keep it off the async workers.
    let outcome = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body)).await;
    match outcome {
        // "The response body MUST be a sequence of one or more note
        // signature lines"
        Ok(Ok(cosigned)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, TEXT)],
            cosigned.response_body(),
        )
            .into_response(),
        Ok(Err(e)) => error_response(&e),
        Err(join) => {
            tracing::error!(error = %join, "add-checkpoint task failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, TEXT)],
                "internal error\n",
            )
                .into_response()
        }
    }
}

fn error_response(e: &AddError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // "The response body MUST consist of the tree size of the latest
    // cosigned checkpoint in decimal, followed by a newline (U+000A)."
    if let Some(size) = e.conflict_size() {
        return (status, [(header::CONTENT_TYPE, SIZE)], format!("{size}\n")).into_response();
    }
    // Local faults are logged in full; the client learns only that it was
    // not its fault (paths and OS errors are none of its business).
    let body = if status.is_server_error() {
        "internal error\n".to_owned()
    } else {
        format!("{e}\n")
    };
    (status, [(header::CONTENT_TYPE, TEXT)], body).into_response()
}

async fn healthz(State(witness): State<Arc<Witness>>) -> Response {
    if witness.is_healthy() {
        (StatusCode::OK, [(header::CONTENT_TYPE, TEXT)], "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, TEXT)],
            "witness state failed; restart the witness\n",
        )
            .into_response()
    }
}
