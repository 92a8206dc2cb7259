//! The orderings vault processes keep for each other, named in one place.
//! The handlers call only the operations of [`Sequencing`]; what backs
//! them depends on the index (docs/vault.md §6.3):
//!
//! - On the **embedded** store one vault process owns the data directory
//!   (`obhut serve` holds an exclusive lock on `DATA/lock`), so they live
//!   in this process's memory.
//! - On **PostgreSQL** any number of `obhut serve` processes share the
//!   database and the bucket, so each is also held in the database
//!   ([`obhut_store::postgres::locks`]), after the in-memory one (which
//!   keeps a process's own contenders off the database's connections).
//!
//! 1. **Per-recording publication lock** ([`Sequencing::lock_recording`]):
//!    one upload at a time runs the blob-then-row step for a recording, so
//!    a concurrent upload of a different record at the same index cannot
//!    replace a published blob (ingest.rs, step 6–7). Shared: an advisory
//!    lock keyed by the recording id, held for the same span.
//! 2. **Upload order** ([`Sequencing::wait_for_predecessor`],
//!    [`Sequencing::published`]): an upload ahead of the recording's head
//!    waits, bounded by [`DEFAULT_PREDECESSOR_WAIT`] (or
//!    [`Sequencing::set_predecessor_wait`]), for its predecessor to be
//!    published; woken by an in-memory signal when it was published here,
//!    and, shared, by re-reading the head every [`UPLOAD_ORDER_POLL`] for
//!    a predecessor another process published.
//! 3. **Epoch creation** ([`Sequencing::lock_epochs`]): one task at a time
//!    checks for, creates and stores the epoch of a class and period, so
//!    two requests cannot create two epoch keys for one class and period;
//!    sweeps and erasures hold it too. Shared: one advisory lock.
//! 4. **The audit log's integrator** ([`Sequencing::lead_integration`]):
//!    entries are sequenced in the store, in each change's own
//!    transaction, by any process; [`crate::log::LogService`] integrates
//!    them into tiles and checkpoints. Embedded, this process is the
//!    integrator. Shared, the integrator is the holder of a lease (a
//!    session advisory lock): when its process dies the database ends the
//!    session, and another server, asking every [`LEASE_RETRY`], takes
//!    over. The lease keeps integration to one writer in the normal case;
//!    what makes two writers harmless is the compare-and-swap of the tree
//!    head ([`obhut_store::LogStore::log_integrate`]): a stale or
//!    lease-less integrator writes nothing, reloads and never forks the
//!    tree. The witnesses' last cosigned sizes (`log::witnessing`) are
//!    the integrator's memory.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use obhut_core::ids::RecordingId;
use obhut_store::StoreError;
use obhut_store::postgres::PgLocks;
use obhut_store::postgres::locks::{HeldLock, Lease, LockKey};
use tokio::sync::{Mutex as AsyncMutex, MutexGuard, Notify, OwnedMutexGuard};

/// How long an upload ahead of the head waits, by default, for its
/// predecessor to be published before it is refused as `out-of-order`.
pub const DEFAULT_PREDECESSOR_WAIT: Duration = Duration::from_secs(30);

/// Shared store: how often an upload waiting for its predecessor re-reads
/// the head, for a predecessor another process published.
pub const UPLOAD_ORDER_POLL: Duration = Duration::from_millis(100);

/// Shared store: how often a server that is not the integrator asks for
/// the lease, and the holder checks it still has it. With the holder
/// killed, another server integrates within about this long (plus the
/// time the database takes to see the holder's connection close).
pub const LEASE_RETRY: Duration = Duration::from_secs(1);

/// The integrator's lease (assumption 4).
const INTEGRATOR: &str = "log integrator";

/// The locks and signals of the assumptions above.
#[derive(Debug)]
pub struct Sequencing {
    recording_locks: Mutex<HashMap<RecordingId, Weak<AsyncMutex<()>>>>,
    upload_order: UploadOrder,
    epoch_lock: AsyncMutex<()>,
    /// The database's locks when several processes share the store.
    shared: Option<PgLocks>,
    lease: AsyncMutex<Option<Lease>>,
}

impl Default for Sequencing {
    fn default() -> Self {
        Sequencing::new(None)
    }
}

/// Held while a recording's next segment is checked against the head and
/// published (assumption 1); dropping it lets the next upload in.
#[derive(Debug)]
pub struct RecordingLock {
    _shared: Option<HeldLock>,
    _held: OwnedMutexGuard<()>,
}

/// Held while epochs are looked up and created (assumption 3).
#[derive(Debug)]
pub struct EpochsLock<'a> {
    _shared: Option<HeldLock>,
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
    /// In memory only (`None`: one process owns the store), or also in
    /// the database `shared` ([`obhut_store::IndexStore::shared_locks`]).
    pub fn new(shared: Option<PgLocks>) -> Self {
        Sequencing {
            recording_locks: Mutex::new(HashMap::new()),
            upload_order: UploadOrder::default(),
            epoch_lock: AsyncMutex::new(()),
            shared,
            lease: AsyncMutex::new(None),
        }
    }

    /// Whether other vault processes may share the store.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Takes the recording's publication lock, waiting for the upload that
    /// holds it (in this process, then in any).
    pub async fn lock_recording(&self, id: RecordingId) -> Result<RecordingLock, StoreError> {
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
        let held = lock.lock_owned().await;
        let shared = match &self.shared {
            Some(locks) => Some(locks.lock(LockKey::new("recording", &id.0)).await?),
            None => None,
        };
        Ok(RecordingLock {
            _shared: shared,
            _held: held,
        })
    }

    /// Takes the epoch-creation lock.
    pub async fn lock_epochs(&self) -> Result<EpochsLock<'_>, StoreError> {
        let held = self.epoch_lock.lock().await;
        let shared = match &self.shared {
            Some(locks) => Some(locks.lock(LockKey::new("epochs", &[])).await?),
            None => None,
        };
        Ok(EpochsLock {
            _shared: shared,
            _held: held,
        })
    }

    /// Waits, without holding the recording lock, until `ahead()` says the
    /// upload is no longer ahead of recording `id`'s head, for at most the
    /// configured bound. Woken by [`Sequencing::published`]; the signal is
    /// armed before each `ahead()`, so a publication between the check and
    /// the wait is not missed. On a shared store `ahead()` is also asked
    /// every [`UPLOAD_ORDER_POLL`] (another process publishes without this
    /// one's signal). At the deadline `ahead()` is asked once more.
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
        let poll = self.shared.as_ref().map(|_| UPLOAD_ORDER_POLL);
        loop {
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !ahead().await? {
                return Ok(Waited::Ready);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Waited::TimedOut { bound });
            }
            let wake = poll.map_or(deadline, |p| (now + p).min(deadline));
            let _ = tokio::time::timeout_at(wake, notified).await;
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

    /// Whether this process is the audit log's integrator now (assumption
    /// 4): always on the embedded store; on a shared one while it holds
    /// the lease, which it takes when no other process does. Asked before
    /// each round of integration, at least every [`LEASE_RETRY`].
    pub async fn lead_integration(&self) -> Result<bool, StoreError> {
        let Some(locks) = &self.shared else {
            return Ok(true);
        };
        let mut lease = self.lease.lock().await;
        if let Some(l) = lease.as_mut() {
            if l.held().await {
                return Ok(true);
            }
            tracing::warn!("lost the audit log integrator's lease");
            *lease = None;
        }
        *lease = locks.try_lease(LockKey::new(INTEGRATOR, &[])).await?;
        if lease.is_some() {
            tracing::info!("holding the audit log integrator's lease");
        }
        Ok(lease.is_some())
    }

    /// Give the integrator's lease up (a clean stop), so another server
    /// takes over at once.
    pub async fn resign(&self) {
        if let Some(l) = self.lease.lock().await.take() {
            l.release().await;
        }
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
