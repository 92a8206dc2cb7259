//! [`IndexStore`] on PostgreSQL: the index and the audit log of vaults
//! that outgrow one machine (docs/vault.md §6). Selected by a
//! `postgres://` database URL (`OBHUT_DATABASE_URL`); the schema is
//! `migrations-postgres/`, kept in step with the SQLite one by
//! `tests/schema_in_step.rs`.
//!
//! **Durability.** Every connection runs with `synchronous_commit=on`
//! (set at connect, whatever the server's default): a commit has reached
//! the server's WAL on disk (and its synchronous standbys, if any) when
//! it returns.
//!
//! **Isolation: one row lock, taken first.** Every write transaction that
//! reads before it writes — every one that sequences an audit entry, and
//! the few that check a state first — begins with `SELECT … FROM log_head
//! … FOR UPDATE` (`begin_write`, engine.rs). So write transactions of all
//! vault processes sharing the database run one at a time, exactly as on
//! SQLite, whose `BEGIN IMMEDIATE` takes the database's single write lock:
//!
//! - the log's next index is `log_head.size` read under the lock and
//!   advanced in the same transaction, so entries are dense and numbered
//!   in commit order, and a transaction that rolls back gives its numbers
//!   back (no gap, unlike a SEQUENCE, and never a committed entry at an
//!   index above one still in flight, which an integrator would skip);
//! - at READ COMMITTED each statement after the lock sees every
//!   transaction that held it before, so the checks of
//!   [`IndexStore::insert_segment`] (the chain head), the access
//!   workflow's state checks and the sweeper's see the latest state: two
//!   servers acknowledging the same segment store it once (the second
//!   gets [`Inserted::Existing`]), and two different records at one index
//!   give one [`StoreError::ChainConflict`], never two acknowledgements.
//!
//! Chosen over SERIALIZABLE with retry: the trait's closures
//! (`redeem_token`'s and `log_prune`'s) run once and cannot be replayed,
//! and a retry loop in every method is more code to get wrong. Chosen
//! over a bare compare-and-swap of the tree head: a lost swap would fail
//! a device's upload where waiting a millisecond for the lock succeeds.
//! The price is that logged writes commit one at a time (one WAL flush
//! each); batching entries into fewer commits is the multi-server
//! sequencer's step (issue 20, item 3). Two further guards refuse a fork
//! even from a writer that skipped the lock: the primary key of
//! `log_entries (idx)` (a second entry at an index is a unique violation,
//! not a fork) and [`crate::LogStore::log_integrate`]'s check, under the lock,
//! that a new checkpoint is larger than the latest.
//!
//! Writes that need no earlier read (a nonce, a token, the instance id)
//! are single statements or `ON CONFLICT` upserts and take no lock.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::Result;

mod engine;
pub mod locks;

pub use locks::PgLocks;

/// The PostgreSQL migrations (`crates/obhut-store/migrations-postgres`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations-postgres");

/// Connections per vault process. Writes queue for the log head's lock
/// anyway; reads (listings, a records answer) run in parallel.
const MAX_CONNECTIONS: u32 = 16;

/// The PostgreSQL index. Cheap to clone (a pool).
#[derive(Debug, Clone)]
pub struct PgIndex {
    pool: PgPool,
    locks: PgLocks,
}
impl PgIndex {
    /// Connect to `url` (`postgres://user@host:port/db`, or with
    /// `?host=/socket/dir`) and migrate. Several vault processes may
    /// open one database at once: sqlx migrates under an advisory lock.
    pub async fn connect(url: &str) -> Result<Self> {
        let opts = PgConnectOptions::from_str(url)?
            .application_name("obhut")
            .options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(opts.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgIndex {
            pool,
            locks: PgLocks::new(opts),
        })
    }

    /// The pool (tests, `obhut check`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Close the pool.
    pub async fn close(&self) {
        self.pool.close().await;
        self.locks.close().await;
    }
}
