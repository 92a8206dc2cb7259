//! Sequencing (see [`crate::LogStore`]) on PostgreSQL: an audit entry
//! gets its index inside the write transaction of the change it records,
//! from `log_head.size` under its row lock (module docs of
//! [`super::PgIndex`]).

use sqlx::PgConnection;

use crate::sql::column::{to_i64, to_u64};
use crate::{NewLogEntry, Result, StoreError};

/// Rows per `INSERT` when sequencing a batch (6 parameters a row, far
/// below PostgreSQL's 65,535 per statement).
const ROWS_PER_INSERT: usize = 256;

/// Sequence `entries` inside the caller's transaction. The `UPDATE` takes
/// (or, after `begin_write` (engine.rs), already holds) the log
/// head's row lock until the transaction ends, so no other transaction
/// can take the same indexes, and one that rolls back gives them back.
pub(super) async fn sequence(tx: &mut PgConnection, entries: &[NewLogEntry]) -> Result<u64> {
    let n = to_i64(entries.len() as u64, "batch size")?;
    let next: i64 =
        sqlx::query_scalar("UPDATE log_head SET size = size + $1 WHERE id = 0 RETURNING size - $1")
            .bind(n)
            .fetch_one(&mut *tx)
            .await?;
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
