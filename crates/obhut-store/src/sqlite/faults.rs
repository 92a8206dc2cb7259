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
