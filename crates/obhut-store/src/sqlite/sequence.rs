//! Sequencing (see [`crate::LogStore`]): an audit entry gets its index
//! inside the write transaction of the change it records. Its own module
//! so that the index, the log and the access tables share it without
//! importing each other.

use sqlx::SqliteConnection;

use crate::sql::column::to_u64;
use crate::{NewLogEntry, Result, StoreError};

/// Rows per `INSERT` when sequencing a batch.
const ROWS_PER_INSERT: usize = 256;

/// Sequence `entries` inside the caller's write transaction (begun with
/// `BEGIN IMMEDIATE`, so no other writer can take the same index).
pub(super) async fn sequence(tx: &mut SqliteConnection, entries: &[NewLogEntry]) -> Result<u64> {
    let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries")
        .fetch_one(&mut *tx)
        .await?;
    // Many rows per statement: each statement is a round trip to sqlx's
    // SQLite worker thread, which is most of the cost of a row
    // (BENCHMARKS.md, audit log). 6 parameters a row, far below SQLite's
    // limit of 32,766.
    let mut idx = next;
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO log_entries (idx, time_ms, kind, recording_id, body, leaf_hash) ",
        );
        let mut row_idx = idx;
        q.push_values(chunk, |mut b, e| {
            b.push_bind(row_idx)
                .push_bind(e.time_ms)
                .push_bind(e.kind)
                .push_bind(e.recording.as_ref().map(|r| r.0.to_vec()))
                .push_bind(e.body.clone())
                .push_bind(e.leaf_hash.to_vec());
            row_idx += 1;
        });
        q.build().execute(&mut *tx).await?;
        idx = idx
            .checked_add(i64::try_from(chunk.len()).map_err(|_| StoreError::Corrupt("batch size"))?)
            .ok_or(StoreError::Corrupt("log index"))?;
    }
    to_u64(next, "log index")
}
