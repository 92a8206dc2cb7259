//! [`IndexStore`] on SQLite (`DATA/obhut.sqlite`), WAL journal with
//! `synchronous=FULL`: a commit is durable when it returns. Other processes
//! (the admin CLI) may open the same file while the server runs; writers
//! take the lock with `BEGIN IMMEDIATE` and wait up to the busy timeout.
//!
//! The schema is `schema.sql` (the authority); `migrations/` builds it and
//! `tests/schema.rs` checks that they agree. A database written by a newer
//! version is refused ([`StoreError::Migrate`]).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::Result;

mod engine;
#[cfg(feature = "test-util")]
mod faults;

/// The embedded migrations (`crates/obhut-store/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The SQLite index.
///
/// Two pools: every write goes through the one connection of `writer`,
/// so writers of this process queue for it in order (an async wait)
/// instead of meeting at SQLite's file lock, whose busy handler sleeps
/// in steps of 1 ms and more while the lock is held: uploads pipelined
/// behind each other used to collide there on every segment.
/// `readers` serve the reads, in parallel, and cannot write
/// (`query_only`). Another process (the admin CLI) still meets the
/// server at the file lock (`BEGIN IMMEDIATE`, the busy timeout).
///
/// **After a failed write** the connection must not stay wedged (issue
/// 16): when a COMMIT fails (disk full, an I/O error), SQLite may already
/// have rolled the transaction back, sqlx's ROLLBACK on drop then fails
/// ("no transaction is active"), and sqlx still counts the connection as
/// inside a transaction, so every later `BEGIN IMMEDIATE` was refused —
/// one failed commit made every write, and so every authenticated
/// request, fail until a restart. The writer pool therefore checks each
/// connection it takes back ([`writer_is_clean`]) and closes one that is
/// still in a transaction; the next write opens a fresh connection.
#[derive(Debug, Clone)]
pub struct SqliteIndex {
    readers: SqlitePool,
    writer: SqlitePool,
    /// Faults tests inject into the writing connection (`faults.rs`).
    #[cfg(feature = "test-util")]
    faults: std::sync::Arc<faults::WriteFaults>,
}

/// Whether a writing connection handed back to the pool may serve the
/// next write: not left inside a transaction. The ping first lets the
/// connection's worker run the ROLLBACK a dropped transaction queued
/// (commands run in order), so a transaction that was rolled back is not
/// taken for one still open.
async fn writer_is_clean(
    conn: &mut sqlx::SqliteConnection,
) -> std::result::Result<bool, sqlx::Error> {
    conn.ping().await?;
    Ok(!conn.is_in_transaction())
}

/// How much of the database file a reading connection maps instead of
/// reading it page by page. A segment row (WITHOUT ROWID, a 1.6 KB record)
/// overflows its b-tree page, so listing a 10-hour recording's 3,601
/// records read some 5,000 pages, each a `pread` into a page cache that a
/// commit by the writer empties again: a third or more of the records
/// answer's time (50–65 ms → 30–35 ms, measured on a loaded 2-core VM).
/// Mapped, the same pages come from the OS page cache without a system
/// call. The price (docs/vault.md §6): a disk read error under a mapped
/// page is a SIGBUS, not an error for one request.
const READER_MMAP_BYTES: u64 = 1 << 30;

impl SqliteIndex {
    /// Open (creating if missing) and migrate.
    pub async fn open(path: &Path) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        #[cfg(feature = "test-util")]
        let faults = std::sync::Arc::new(faults::WriteFaults::default());
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .after_release(|conn, _| Box::pin(writer_is_clean(conn)));
        #[cfg(feature = "test-util")]
        let writer = {
            let f = faults.clone();
            writer.after_connect(move |conn, _| {
                let f = f.clone();
                Box::pin(async move {
                    f.install(conn)
                        .await
                        .map_err(|e| sqlx::Error::Configuration(e.to_string().into()))
                })
            })
        };
        let writer = writer.connect_with(opts.clone()).await?;
        MIGRATOR.run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(
                opts.pragma("query_only", "ON")
                    .pragma("mmap_size", READER_MMAP_BYTES.to_string()),
            )
            .await?;
        Ok(SqliteIndex {
            readers,
            writer,
            #[cfg(feature = "test-util")]
            faults,
        })
    }

    /// The writing connection (tests, `obhut check`): it may read and
    /// write.
    pub fn pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// Close the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IndexStore;

    pub(super) async fn index() -> (tempfile::TempDir, SqliteIndex) {
        let d = tempfile::tempdir().unwrap();
        let index = SqliteIndex::open(&d.path().join("obhut.sqlite"))
            .await
            .unwrap();
        (d, index)
    }

    #[tokio::test]
    async fn the_reading_connections_refuse_writes() {
        let (_d, index) = index().await;
        let e = sqlx::query("INSERT INTO meta (key, value) VALUES ('x', 'y')")
            .execute(&index.readers)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("readonly"), "{e}");
        // What the writer commits, a reader sees.
        index.set_instance_id("written").await.unwrap();
        assert_eq!(
            index.instance_id().await.unwrap().as_deref(),
            Some("written")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_of_one_process_all_commit() {
        let (_d, index) = index().await;
        let tasks: Vec<_> = (0u8..64)
            .map(|i| {
                let index = index.clone();
                tokio::spawn(async move {
                    let mut nonce = [0u8; 16];
                    nonce[0] = i;
                    index.use_nonce([7; 32], nonce, i64::MAX, 0).await
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().unwrap(), "every nonce is fresh");
        }
        // And a repeat is seen by the next writer.
        assert!(
            !index
                .use_nonce([7; 32], [0; 16], i64::MAX, 0)
                .await
                .unwrap()
        );
    }
}
