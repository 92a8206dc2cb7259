//! What vault processes sharing one database hold for each other
//! (docs/vault.md §6.3): PostgreSQL advisory locks for the spans one
//! process used to hold a mutex for, and the audit log integrator's
//! lease.
//!
//! Locks and leases run on a pool of their own ([`LOCK_CONNECTIONS`]):
//! a holder needs connections of the index's pool to finish what it
//! holds the lock for, and no index connection is ever held while a lock
//! is awaited, so the two pools cannot starve each other.
//!
//! - A **lock** ([`PgLocks::lock`]) is `pg_advisory_xact_lock` inside a
//!   transaction that does nothing else: released when the guard drops
//!   (the transaction is rolled back) or when the holder's connection
//!   dies, so a server killed while holding it blocks nobody.
//! - The **lease** ([`PgLocks::try_lease`]) is a session lock
//!   (`pg_try_advisory_lock`) on a connection taken out of the pool: held
//!   while that session lives. A holder killed with `kill -9` loses it as
//!   soon as the server sees its socket close; a holder whose host died
//!   or was cut off loses it when its session has been idle for 15 s
//!   (`idle_session_timeout`; the holder checks in every second), and
//!   [`Lease::held`] tells it so on its next check. A lease is a hint,
//!   not the guard: the compare-and-swap of the tree head
//!   ([`crate::LogStore::log_integrate`]) is what keeps two integrators
//!   from writing over each other.

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::Result;

/// Connections per process for locks and the lease.
pub const LOCK_CONNECTIONS: u32 = 32;

/// The lease session ends after this long without a word from its
/// holder.
const LEASE_IDLE_TIMEOUT: &str = "SET idle_session_timeout = '15s'";

/// How long a lock waits for one of its pool's connections before the
/// request fails (uploads past [`LOCK_CONNECTIONS`] wait their turn).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(120);

/// Which advisory lock: one 64-bit key in PostgreSQL's single key space,
/// derived from a name (and an id) so that other users of the database
/// are unlikely to collide with it; a collision only serialises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LockKey(i64);

impl LockKey {
    /// The lock named `what`, for `id` (empty for a single lock).
    pub fn new(what: &str, id: &[u8]) -> LockKey {
        let mut h = blake3::Hasher::new_derive_key("obhut 2026 advisory lock key");
        h.update(&(what.len() as u64).to_le_bytes());
        h.update(what.as_bytes());
        h.update(id);
        let mut b = [0u8; 8];
        b.copy_from_slice(&h.finalize().as_bytes()[..8]);
        LockKey(i64::from_le_bytes(b))
    }

    /// The key as PostgreSQL takes it.
    pub fn value(self) -> i64 {
        self.0
    }
}

/// Advisory locks and leases on the database of a [`super::PgIndex`].
/// Cheap to clone (a pool).
#[derive(Clone, Debug)]
pub struct PgLocks {
    pool: PgPool,
}

/// A held advisory lock; released when dropped.
#[derive(Debug)]
pub struct HeldLock {
    tx: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let Some(tx) = self.tx.take() else { return };
        // Roll back now rather than when the connection is next used, so
        // the next holder need not wait for that.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = tx.rollback().await;
            });
        }
    }
}

/// A held session lock (the integrator's lease).
#[derive(Debug)]
pub struct Lease {
    conn: Option<PgConnection>,
    key: LockKey,
}

impl PgLocks {
    /// Locks on the database `opts` names; connects lazily.
    pub(crate) fn new(opts: PgConnectOptions) -> PgLocks {
        PgLocks {
            pool: PgPoolOptions::new()
                .max_connections(LOCK_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_lazy_with(opts),
        }
    }

    /// Close the pool (the index closes).
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// Wait for the lock `key`; it is held until the guard drops.
    pub async fn lock(&self, key: LockKey) -> Result<HeldLock> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key.value())
            .execute(&mut *tx)
            .await?;
        Ok(HeldLock { tx: Some(tx) })
    }

    /// The lease `key` if no other session holds it.
    pub async fn try_lease(&self, key: LockKey) -> Result<Option<Lease>> {
        let mut conn = self.pool.acquire().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key.value())
            .fetch_one(&mut *conn)
            .await?;
        if !got {
            return Ok(None);
        }
        // A holder whose host died or was cut off closes no socket: the
        // server ends its session once it has been idle this long (the
        // holder checks it every second), and the lease with it.
        // PostgreSQL before 14 has no such setting; its TCP keepalive
        // then bounds the wait (docs/vault.md §6.3).
        let _ = sqlx::query(LEASE_IDLE_TIMEOUT).execute(&mut *conn).await;
        Ok(Some(Lease {
            // Out of the pool: the lease lives exactly as long as this
            // session, never recycled to another task.
            conn: Some(conn.detach()),
            key,
        }))
    }
}

impl Lease {
    /// Whether the lease is still held. A session lock ends only with
    /// an unlock (never sent) or with its session, so the lease is held
    /// while its session answers; an operator's `pg_terminate_backend`, a
    /// restarted server or a cut connection end it.
    pub async fn held(&mut self) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        if conn.ping().await.is_ok() {
            return true;
        }
        self.conn = None;
        false
    }

    /// The lock this lease holds.
    pub fn key(&self) -> LockKey {
        self.key
    }

    /// Give the lease up (a clean stop): the next holder need not wait
    /// for the session to time out.
    pub async fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }
}
