//! A connection above the cap: its request head is read for a moment, then
//! answered without hyper, axum or a handler, and closed.
//!
//! Answering, not closing at once: a device agent treats a reset like any
//! network failure and backs off on its own schedule, but `503 overloaded`
//! with `Retry-After` says the vault is up and when to come back, and the
//! operator's health checker, refused a slot like everyone else, still
//! learns that the process answers (`GET /healthz` is served here too).
//! The head is read first because closing a socket with unread bytes
//! resets it, and a client would then never see the answer.

use std::time::Duration;

use obhut_api::{ErrorBody, ErrorKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long a refused connection has to send its request head.
pub(crate) const READ_FOR: Duration = Duration::from_secs(1);
/// How long it has to take the answer.
pub(crate) const WRITE_FOR: Duration = Duration::from_secs(1);
/// The `Retry-After` of the refusal: connections free up as their
/// timeouts pass or their uploads end, within seconds.
pub const RETRY_AFTER_SECS: u64 = 5;
/// The most of a head read: enough for the request line.
const HEAD_MAX: usize = 1024;

fn answer(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nretry-after: {RETRY_AFTER_SECS}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn overloaded() -> Vec<u8> {
    let body = ErrorBody {
        error: ErrorKind::Overloaded,
        message: format!(
            "the vault serves as many connections as it may; retry in {RETRY_AFTER_SECS} s"
        ),
    };
    // A struct of two strings always serializes.
    let json = serde_json::to_string(&body).unwrap_or_default();
    answer("503 Service Unavailable", "application/json", &json)
}

/// Read the head for at most [`READ_FOR`], answer `/healthz` or refuse,
/// and close (a TCP socket, or a TLS stream on one).
pub(crate) async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut head = [0u8; HEAD_MAX];
    let mut n = 0;
    let _ = tokio::time::timeout(READ_FOR, async {
        while n < head.len() {
            match stream.read(&mut head[n..]).await {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
            if head[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    let reply = if head[..n].starts_with(b"GET /healthz ") {
        answer("200 OK", "text/plain; charset=utf-8", "ok\n")
    } else {
        overloaded()
    };
    let _ = tokio::time::timeout(WRITE_FOR, async {
        let _ = stream.write_all(&reply).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
