//! The vault's single-process assumptions, named in one place.
//!
//! One vault process owns the data directory (`obhut serve` holds an
//! exclusive lock on `DATA/lock`, docs/vault.md). These orderings rely on
//! it, because they are kept in this process's memory:
//!
//! 1. **Per-recording publication lock** ([`Sequencing::lock_recording`]):
//!    one upload at a time runs the blob-then-row step for a recording, so
//!    a concurrent upload of a different record at the same index cannot
//!    replace a published blob (ingest.rs, step 6–7).
//! 2. **Upload order** ([`Sequencing::wait_for_predecessor`],
//!    [`Sequencing::published`]): an upload ahead of the recording's head
//!    waits on an in-memory signal, bounded by [`DEFAULT_PREDECESSOR_WAIT`]
//!    (or [`Sequencing::set_predecessor_wait`]), for its predecessor to be
//!    published here; a predecessor published by another process would
//!    only be seen when the wait re-checks the head at its deadline.
//! 3. **Epoch creation** ([`Sequencing::lock_epochs`]): one task at a time
//!    checks for, creates and stores the epoch of a class and period, so
//!    two requests cannot create two epoch keys for one class and period.
//! 4. **The audit log's single integrator**: [`crate::log::LogService`]
//!    keeps the tree's right edge and partial tiles in memory behind its
//!    own mutex and is the only writer of tiles and checkpoints;
//!    [`crate::serve`] runs its loop in this process. Entries are
//!    sequenced in the store, in each change's own transaction, so other
//!    processes (the admin CLI) may append; only integration is single.
//!    The witnesses' last cosigned sizes (`log::witnessing`) are this
//!    integrator's memory too.
//!
//! With several vault processes, the scale-out issue replaces this module
//! (and the integrator's mutex) with database leases and advisory locks
//! held for the same spans: the handlers call only the operations of
//! [`Sequencing`], so they need not change.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use obhut_core::ids::RecordingId;
use tokio::sync::{Mutex as AsyncMutex, MutexGuard, Notify, OwnedMutexGuard};

/// How long an upload ahead of the head waits, by default, for its
/// predecessor to be published before it is refused as `out-of-order`.
pub const DEFAULT_PREDECESSOR_WAIT: Duration = Duration::from_secs(30);

/// The in-process locks and signals of the assumptions above.
#[derive(Debug)]
pub struct Sequencing {
    recording_locks: Mutex<HashMap<RecordingId, Weak<AsyncMutex<()>>>>,
    upload_order: UploadOrder,
    epoch_lock: AsyncMutex<()>,
}

impl Default for Sequencing {
    fn default() -> Self {
        Sequencing {
            recording_locks: Mutex::new(HashMap::new()),
            upload_order: UploadOrder::default(),
            epoch_lock: AsyncMutex::new(()),
        }
    }
}

/// Held while a recording's next segment is checked against the head and
/// published (assumption 1); dropping it lets the next upload in.
#[derive(Debug)]
pub struct RecordingLock {
    _held: OwnedMutexGuard<()>,
}

/// Held while epochs are looked up and created (assumption 3).
#[derive(Debug)]
pub struct EpochsLock<'a> {
    _held: MutexGuard<'a, ()>,
}

/// How a wait for an upload's predecessor ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    /// The upload is no longer ahead of the head.
    Ready,
    /// The bound passed with the upload still ahead; `bound` is the wait
    /// that was allowed.
    TimedOut {
        /// The configured bound.
        bound: Duration,
    },
}

impl Sequencing {
    /// Takes the recording's publication lock, waiting for the upload that
    /// holds it.
    pub async fn lock_recording(&self, id: RecordingId) -> RecordingLock {
        let lock = {
            let mut m = self
                .recording_locks
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match m.get(&id).and_then(Weak::upgrade) {
                Some(l) => l,
                None => {
                    m.retain(|_, w| w.strong_count() > 0);
                    let l = Arc::new(AsyncMutex::new(()));
                    m.insert(id, Arc::downgrade(&l));
                    l
                }
            }
        };
        RecordingLock {
            _held: lock.lock_owned().await,
        }
    }

    /// Takes the epoch-creation lock.
    pub async fn lock_epochs(&self) -> EpochsLock<'_> {
        EpochsLock {
            _held: self.epoch_lock.lock().await,
        }
    }

    /// Waits, without holding the recording lock, until `ahead()` says the
    /// upload is no longer ahead of recording `id`'s head, for at most the
    /// configured bound. Woken by [`Sequencing::published`], never by
    /// polling: the signal is armed before each `ahead()`, so a publication
    /// between the check and the wait is not missed. At the deadline
    /// `ahead()` is asked once more.
    pub async fn wait_for_predecessor<E, F, Fut>(
        &self,
        id: RecordingId,
        mut ahead: F,
    ) -> Result<Waited, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool, E>>,
    {
        let signal = self.upload_order.signal(id);
        let bound = self.upload_order.wait();
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !ahead().await? {
                return Ok(Waited::Ready);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if !ahead().await? {
                    return Ok(Waited::Ready);
                }
                return Ok(Waited::TimedOut { bound });
            }
        }
    }

    /// Wakes every upload waiting on recording `id` (a segment of it was
    /// published).
    pub fn published(&self, id: RecordingId) {
        self.upload_order.published(id);
    }

    /// Bounds the wait of an upload ahead of the head for its predecessor
    /// (default [`DEFAULT_PREDECESSOR_WAIT`]); tests shorten it.
    pub fn set_predecessor_wait(&self, d: Duration) {
        self.upload_order.wait_ms.store(
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Per-recording signals "a segment was published", for uploads waiting on
/// their predecessor, and the bound on that wait.
#[derive(Debug)]
struct UploadOrder {
    signals: Mutex<HashMap<RecordingId, Weak<Notify>>>,
    wait_ms: AtomicU64,
}

impl Default for UploadOrder {
    fn default() -> Self {
        UploadOrder {
            signals: Mutex::new(HashMap::new()),
            wait_ms: AtomicU64::new(DEFAULT_PREDECESSOR_WAIT.as_millis() as u64),
        }
    }
}

impl UploadOrder {
    /// The recording's signal, shared by every upload waiting on it.
    fn signal(&self, id: RecordingId) -> Arc<Notify> {
        let mut m = self.signals.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get(&id).and_then(Weak::upgrade) {
            return n;
        }
        m.retain(|_, w| w.strong_count() > 0);
        let n = Arc::new(Notify::new());
        m.insert(id, Arc::downgrade(&n));
        n
    }

    /// Wake every upload waiting on `id`.
    fn published(&self, id: RecordingId) {
        let n = self
            .signals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .and_then(Weak::upgrade);
        if let Some(n) = n {
            n.notify_waiters();
        }
    }

    fn wait(&self) -> Duration {
        Duration::from_millis(self.wait_ms.load(Ordering::Relaxed))
    }
}
