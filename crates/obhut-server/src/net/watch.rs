//! One connection's timeouts (docs/vault.md §7, "Connections"): what a
//! client that stops sending may hold, and for how long.
//!
//! hyper has one timer for a request head, and it runs from the moment the
//! connection waits for one, so it cannot tell a device idling between two
//! uploads (which should keep its connection for a while) from a client
//! trickling a head (which should not). [`Watch`] keeps the phase of the
//! connection, and the three places that see it change apply its limit:
//!
//! - [`WatchedIo`], around the socket: while a read waits, the deadline of
//!   the phase ([`Phase::Head`]: the head's, from the connection's start or
//!   the head's first byte; [`Phase::Idle`]: the keep-alive idle timeout,
//!   from the end of the last answer); a write that waits longer than the
//!   body gap fails too (a client that does not read its answer);
//! - [`ProgressBody`], around each request body: the gap between two
//!   pieces of a body and the body's lowest average rate;
//! - [`EndsIdle`], around each answer's body: the connection is idle once
//!   the answer has been written (dropped by hyper), not when the handler
//!   returns, so a long download is never cut by the idle timeout.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The limits of one connection (from [`crate::config::NetConfig`]).
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From the connection's start, or a head's first byte, to the end of
    /// the head.
    pub header: Duration,
    /// From the end of an answer to the next head's first byte.
    pub idle: Duration,
    /// Longest wait for the next piece of a request body, or for the
    /// client to take the next piece of an answer.
    pub body_gap: Duration,
    /// Lowest average rate of a request body (bytes per second of waiting
    /// for it), enforced once `body_gap` of waiting has passed.
    pub body_min_rate: u64,
}

/// Where a connection is between requests.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Waiting for (the rest of) a head since then.
    Head(Instant),
    /// A request is being served: its body is [`ProgressBody`]'s, its
    /// answer's writes [`WatchedIo`]'s.
    Busy,
    /// The last answer ended then; no byte of the next head yet.
    Idle(Instant),
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// A read that waits while [`Phase::Busy`] (hyper watching for the
    /// client's close) has no deadline; it is woken when the answer ends,
    /// to take up the idle timeout.
    reader: Option<Waker>,
}

/// The phase of one connection, shared by its socket and its requests.
#[derive(Clone, Debug)]
pub struct Watch(Arc<Mutex<State>>);

impl Watch {
    /// A connection accepted now: its head is due within the header
    /// timeout (a client that connects and says nothing is not idle).
    pub fn new() -> Self {
        Watch(Arc::new(Mutex::new(State {
            phase: Phase::Head(Instant::now()),
            reader: None,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A head was read: the request is the handler's now.
    pub fn busy(&self) {
        self.lock().phase = Phase::Busy;
    }

    fn idle(&self) {
        let reader = {
            let mut s = self.lock();
            s.phase = Phase::Idle(Instant::now());
            s.reader.take()
        };
        if let Some(w) = reader {
            w.wake();
        }
    }

    /// Bytes arrived: the first of a head ends idleness.
    fn bytes_read(&self) {
        let mut s = self.lock();
        if let Phase::Idle(_) = s.phase {
            s.phase = Phase::Head(Instant::now());
        }
    }

    /// When a read that waits now must have given up, and why; `None`
    /// while busy, after leaving `cx`'s waker to be woken at the answer's
    /// end.
    fn read_deadline(&self, t: &Timeouts, cx: &Context<'_>) -> Option<(Instant, &'static str)> {
        let mut s = self.lock();
        match s.phase {
            Phase::Head(since) => Some((since + t.header, "header timeout")),
            Phase::Idle(since) => Some((since + t.idle, "keep-alive idle timeout")),
            Phase::Busy => {
                s.reader = Some(cx.waker().clone());
                None
            }
        }
    }
}

impl Default for Watch {
    fn default() -> Self {
        Self::new()
    }
}

/// The socket with [`Watch`]'s read deadlines and the answer's write gap.
pub struct WatchedIo<S> {
    inner: S,
    watch: Watch,
    t: Timeouts,
    read_sleep: Pin<Box<Sleep>>,
    read_deadline: Option<Instant>,
    write_sleep: Pin<Box<Sleep>>,
    write_waiting: bool,
}

impl<S> WatchedIo<S> {
    /// Watch `inner` with the phase `watch` and the limits `t`.
    pub fn new(inner: S, watch: Watch, t: Timeouts) -> Self {
        let far = Instant::now() + Duration::from_secs(86_400);
        WatchedIo {
            inner,
            watch,
            t,
            read_sleep: Box::pin(tokio::time::sleep_until(far)),
            read_deadline: None,
            write_sleep: Box::pin(tokio::time::sleep_until(far)),
            write_waiting: false,
        }
    }
}

fn timed_out(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what)
}

impl<S: AsyncRead + Unpin> AsyncRead for WatchedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.watch.bytes_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some((deadline, what)) = this.watch.read_deadline(&this.t, cx) else {
                    return Poll::Pending;
                };
                if this.read_deadline != Some(deadline) {
                    this.read_sleep.as_mut().reset(deadline);
                    this.read_deadline = Some(deadline);
                }
                match this.read_sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(timed_out(what))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> WatchedIo<S> {
    /// A write that waits: fail once it has waited the body gap.
    fn write_waits(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if !self.write_waiting {
            self.write_waiting = true;
            self.write_sleep
                .as_mut()
                .reset(Instant::now() + self.t.body_gap);
        }
        ready!(self.write_sleep.as_mut().poll(cx));
        Poll::Ready(timed_out("send timeout (the client does not read)"))
    }

    fn watched<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match r {
            Poll::Pending => self.write_waits(cx).map(Err),
            done => {
                self.write_waiting = false;
                done
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WatchedIo<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, b);
        this.watched(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watched(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.watched(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watched(cx, r)
    }
}

/// Why a request body was cut off.
#[derive(Debug, thiserror::Error)]
pub enum BodyTimeout {
    /// Nothing arrived for the gap.
    #[error("no byte of the body for {0:?}")]
    Stalled(Duration),
    /// Bytes arrive, but slower than the lowest rate.
    #[error("the body arrives at under {0} bytes per second")]
    TooSlow(u64),
}

/// A request body held to [`Timeouts::body_gap`] and
/// [`Timeouts::body_min_rate`]. Only time spent waiting for the client
/// counts: while the handler is busy (hashing, an fsync, the upload
/// window) the body is not polled, and the client is not to blame.
pub struct ProgressBody<B> {
    inner: B,
    t: Timeouts,
    sleep: Pin<Box<Sleep>>,
    waiting_since: Option<Instant>,
    waited: Duration,
    bytes: u64,
}

impl<B> ProgressBody<B> {
    /// Watch `inner` with `t`.
    pub fn new(inner: B, t: Timeouts) -> Self {
        ProgressBody {
            inner,
            t,
            sleep: Box::pin(tokio::time::sleep_until(
                Instant::now() + Duration::from_secs(86_400),
            )),
            waiting_since: None,
            waited: Duration::ZERO,
            bytes: 0,
        }
    }

    /// Whether the bytes so far keep up with the lowest rate: the first
    /// `body_gap` of waiting is free (a link's slow start, a retransmit).
    fn keeps_up(&self) -> bool {
        let Some(counted) = self.waited.checked_sub(self.t.body_gap) else {
            return true;
        };
        let due = (self.t.body_min_rate as f64 * counted.as_secs_f64()) as u64;
        self.bytes >= due
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> Body for ProgressBody<B>
where
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(since) = this.waiting_since.take() {
                    this.waited += since.elapsed();
                }
                if let Some(d) = frame.data_ref() {
                    this.bytes += d.remaining() as u64;
                }
                if !this.keeps_up() {
                    return Poll::Ready(Some(Err(
                        BodyTimeout::TooSlow(this.t.body_min_rate).into()
                    )));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if this.waiting_since.is_none() {
                    let now = Instant::now();
                    this.waiting_since = Some(now);
                    this.sleep.as_mut().reset(now + this.t.body_gap);
                }
                ready!(this.sleep.as_mut().poll(cx));
                Poll::Ready(Some(Err(BodyTimeout::Stalled(this.t.body_gap).into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An answer's body that marks its connection idle when hyper has written
/// it and drops it (hyper drops a body it knows is empty without polling
/// it, hence `Drop`, not the last frame).
pub struct EndsIdle<B> {
    inner: B,
    watch: Watch,
}

impl<B> EndsIdle<B> {
    /// `inner`, ending `watch`'s request when dropped.
    pub fn new(inner: B, watch: Watch) -> Self {
        EndsIdle { inner, watch }
    }
}

impl<B> Drop for EndsIdle<B> {
    fn drop(&mut self) {
        self.watch.idle();
    }
}

impl<B: Body + Unpin> Body for EndsIdle<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
