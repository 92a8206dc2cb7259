//! Faults of the SQLite index's writing connection, for tests (feature
//! `test-util`): a failed COMMIT and a full database, made by SQLite
//! itself so that the code above meets the real error and the real state
//! of the connection afterwards.
//!
//! - **A failed commit** ([`SqliteIndex::fail_next_commits`]): a commit
//!   hook that turns the next N COMMITs into ROLLBACKs; SQLite answers
//!   `SQLITE_CONSTRAINT_COMMITHOOK` and has rolled the transaction back,
//!   as it may after an I/O error or `SQLITE_FULL` during COMMIT (SQLite,
//!   "Response To Errors Within A Transaction"). This is what wedged the
//!   writer (issue 16).
//! - **A full database** ([`SqliteIndex::fill_up`]): `PRAGMA
//!   max_page_count` lowered to the pages in use, so any write that needs
//!   a page more fails with a real `SQLITE_FULL`, as on a full disk;
//!   [`SqliteIndex::free_space`] lifts the limit.
//!
//! Both are kept in [`WriteFaults`], shared by every connection the pool
//! opens for writing, so a connection replaced after a failure gets them
//! too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use sqlx::sqlite::SqliteConnection;

use super::SqliteIndex;
use crate::Result;

/// What the writing connection is to fail (shared by its connections).
#[derive(Debug, Default)]
pub struct WriteFaults {
    commits: AtomicUsize,
    injected_commits: AtomicUsize,
    /// `max_page_count` while full; 0: no limit.
    page_limit: AtomicU32,
}

/// SQLite's own ceiling of `max_page_count`.
const NO_LIMIT: u32 = 4_294_967_294;

impl WriteFaults {
    /// Install the faults on a newly opened writing connection.
    pub(super) async fn install(self: &Arc<Self>, conn: &mut SqliteConnection) -> Result<()> {
        let faults = self.clone();
        conn.lock_handle().await?.set_commit_hook(move || {
            let fire = faults
                .commits
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if fire {
                faults.injected_commits.fetch_add(1, Ordering::SeqCst);
            }
            !fire
        });
        let limit = self.page_limit.load(Ordering::SeqCst);
        if limit != 0 {
            set_max_pages(conn, limit).await?;
        }
        Ok(())
    }
}

async fn set_max_pages(conn: &mut SqliteConnection, pages: u32) -> Result<()> {
    // A PRAGMA's value cannot be bound; `pages` is a number we computed.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA max_page_count = {pages}"
    )))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(())
}

impl SqliteIndex {
    /// Turn the next `n` COMMITs of the writing connection into rollbacks
    /// (SQLite rolls the transaction back and the commit fails).
    pub fn fail_next_commits(&self, n: usize) {
        self.faults.commits.store(n, Ordering::SeqCst);
    }

    /// How many commits [`SqliteIndex::fail_next_commits`] failed so far.
    pub fn failed_commits(&self) -> usize {
        self.faults.injected_commits.load(Ordering::SeqCst)
    }

    /// Make the database full: no write may add a page (`SQLITE_FULL`).
    pub async fn fill_up(&self) -> Result<()> {
        let mut conn = self.writer.acquire().await?;
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut *conn)
            .await?;
        let pages = u32::try_from(pages).unwrap_or(NO_LIMIT).max(1);
        self.faults.page_limit.store(pages, Ordering::SeqCst);
        set_max_pages(&mut conn, pages).await
    }

    /// Lift [`SqliteIndex::fill_up`]'s limit: space is back.
    pub async fn free_space(&self) -> Result<()> {
        self.faults.page_limit.store(0, Ordering::SeqCst);
        let mut conn = self.writer.acquire().await?;
        set_max_pages(&mut conn, NO_LIMIT).await
    }
}

#[cfg(test)]
mod tests {
    use crate::IndexStore;
    use crate::sqlite::tests::index;

    /// Issue 16, item 1: one failed COMMIT left the single writing
    /// connection inside a transaction as sqlx counts it, so every later
    /// write failed ("cannot start a transaction within a transaction")
    /// until a restart.
    #[tokio::test]
    async fn issue16_a_failed_commit_rolls_back_and_the_next_write_succeeds() {
        let (_d, index) = index().await;
        let key = [1; 32];
        assert!(index.use_nonce(key, [1; 16], i64::MAX, 0).await.unwrap());
        index.fail_next_commits(1);
        let e = index
            .use_nonce(key, [2; 16], i64::MAX, 0)
            .await
            .unwrap_err();
        assert_eq!(index.failed_commits(), 1, "the commit failed: {e}");
        assert!(!e.is_out_of_space(), "{e}");
        // Nothing of the failed write stayed, and writing goes on.
        assert!(
            index.use_nonce(key, [2; 16], i64::MAX, 0).await.unwrap(),
            "the failed write was rolled back"
        );
        for n in 3..20u8 {
            assert!(index.use_nonce(key, [n; 16], i64::MAX, 0).await.unwrap());
        }
        // Several failures in a row, and writes of every shape after them.
        index.fail_next_commits(3);
        for n in 20..23u8 {
            assert!(index.use_nonce(key, [n; 16], i64::MAX, 0).await.is_err());
        }
        index.set_instance_id("after the faults").await.unwrap();
        assert!(!index.use_nonce(key, [19; 16], i64::MAX, 0).await.unwrap());
        assert!(index.use_nonce(key, [20; 16], i64::MAX, 0).await.unwrap());
    }

    /// A full database fails writes with an error that says so, keeps
    /// answering reads, and takes writes again once space is back.
    #[tokio::test]
    async fn a_full_database_refuses_writes_as_out_of_space_then_recovers() {
        let (_d, index) = index().await;
        index.set_instance_id("full").await.unwrap();
        index.fill_up().await.unwrap();
        let mut refused = None;
        for n in 0..10_000u32 {
            let mut nonce = [0; 16];
            nonce[..4].copy_from_slice(&n.to_be_bytes());
            match index.use_nonce([2; 32], nonce, i64::MAX, 0).await {
                Ok(fresh) => assert!(fresh),
                Err(e) => {
                    refused = Some((n, e));
                    break;
                }
            }
        }
        let (n, e) = refused.expect("a full database refuses a write");
        assert!(e.is_out_of_space(), "{e}");
        assert!(index.ping().await.is_err(), "not ready while full");
        assert_eq!(index.instance_id().await.unwrap().as_deref(), Some("full"));
        index.free_space().await.unwrap();
        let mut nonce = [0; 16];
        nonce[..4].copy_from_slice(&n.to_be_bytes());
        assert!(index.use_nonce([2; 32], nonce, i64::MAX, 0).await.unwrap());
        index.ping().await.unwrap();
    }
}
