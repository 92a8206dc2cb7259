//! The PostgreSQL index as an [`Engine`] under the shared method bodies
//! (`crate::sql`): its write transaction, its sequencing of audit
//! entries, its reading connections, and the statements whose PostgreSQL text
//! differs from SQLite's.

use sqlx::postgres::PgRow;
use sqlx::{Postgres, Transaction};

use super::{PgIndex, PgLocks};
use crate::sql::column::{to_i64, to_u64};
use crate::sql::engine::{Arg, Engine, bind, insert_entries};
use crate::{NewLogEntry, Result};

impl Engine for PgIndex {
    type Row = PgRow;
    type Tx = Transaction<'static, Postgres>;

    const INSERT_HOLD: &'static str = "INSERT INTO holds
         (hold_id, group_id, case_ref, device_key, from_ms, to_ms, placed_ms, released_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) ON CONFLICT DO NOTHING";
    const HOLD_CANDIDATES: &'static str = "SELECT s.recording_id, s.idx, h.hold_id
         FROM segments s
         JOIN recordings r ON r.recording_id = s.recording_id
         JOIN holds h ON h.device_key = r.device_key AND h.group_id = r.group_id
         WHERE s.epoch_id = $1 AND h.released_ms IS NULL AND h.hold_id != s.epoch_id
           AND s.capture_ms < h.to_ms
         ORDER BY s.recording_id, s.idx, h.placed_ms";
    const EPOCH_SEGMENTS: &'static str =
        "SELECT recording_id, idx FROM segments WHERE epoch_id = $1 ORDER BY recording_id, idx";

    const QUEUE_RECORDING: &'static str = "INSERT INTO deletion_queue (epoch_id, recording_id, idx)
         SELECT epoch_id, recording_id, idx FROM segments WHERE recording_id = $1
         ON CONFLICT DO NOTHING";
    const DERIVED_FROM_SEGMENTS: &'static str = "SELECT DISTINCT a.* FROM artifact_sources s
         JOIN artifacts a ON a.artifact_id = s.artifact_id
         WHERE s.recording_id = $1 AND s.first_idx < $2 AND s.end_idx > $3
           AND a.state != 'deleted'
         ORDER BY a.artifact_id";
    const DERIVED_FROM_ARTIFACT: &'static str = "SELECT DISTINCT a.* FROM artifact_sources s
         JOIN artifacts a ON a.artifact_id = s.artifact_id
         WHERE s.source_artifact = $1 ORDER BY a.artifact_id";
    // `end` is a keyword in PostgreSQL.
    const EPOCH_SOURCES: &'static str =
        "SELECT recording_id, MIN(idx) AS first, MAX(idx) + 1 AS \"end\" FROM segments
         WHERE epoch_id = $1 GROUP BY recording_id";

    // The size sequenced under the log head's lock (`PgIndex`).
    const LOG_SIZE: &'static str = "SELECT size FROM log_head WHERE id = 0";
    const UPSERT_TILE: &'static str =
        "INSERT INTO log_tiles (level, idx, hashes) VALUES ($1, $2, $3)
         ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes
         WHERE octet_length(excluded.hashes) > octet_length(log_tiles.hashes)";
    // SUM of a BIGINT is a NUMERIC in PostgreSQL.
    const EPOCH_RECORDINGS: &'static str =
        "SELECT recording_id, SUM(blob_len)::BIGINT AS bytes, COUNT(*) AS n FROM segments
         WHERE epoch_id = $1 GROUP BY recording_id";
    const QUEUE_EPOCH_RECORDING: &'static str =
        "INSERT INTO deletion_queue (epoch_id, recording_id, idx)
         SELECT epoch_id, recording_id, idx FROM segments WHERE epoch_id = $1 AND recording_id = $2
         ON CONFLICT DO NOTHING";
    const EXPIRE_RECORDING: &'static str =
        "INSERT INTO expired_recordings (recording_id, epoch_id, expired_ms)
         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
    const LOWER_TOTAL_BYTES: &'static str =
        "UPDATE recordings SET total_bytes = GREATEST(total_bytes - $1, 0) WHERE recording_id = $2";
    const WRITE_PROBE: &'static str =
        "INSERT INTO meta (key, value) VALUES ('write-probe', repeat('0', 8192))
         ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    const DUE_EPOCHS: &'static str = "SELECT * FROM epochs
         WHERE expires_ms IS NOT NULL AND state != 'swept' AND expires_ms <= $1
         ORDER BY expires_ms LIMIT $2";

    /// A write transaction holding the log head's row lock: write
    /// transactions of every process run one at a time (module docs of
    /// [`PgIndex`]).
    async fn begin_write(&self) -> Result<Self::Tx> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT size FROM log_head WHERE id = 0 FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// No log head lock: the readiness probe conflicts with nothing and
    /// must not wait behind the writers; and `ON CONFLICT DO NOTHING`
    /// waits for a concurrent insert of the same nonce to commit and then
    /// inserts nothing, so of two uses at once exactly one is fresh.
    async fn begin_unlocked(&self) -> Result<Self::Tx> {
        Ok(self.pool.begin().await?)
    }

    fn locks(&self) -> Option<PgLocks> {
        Some(self.locks.clone())
    }

    async fn commit(tx: Self::Tx) -> Result<()> {
        Ok(tx.commit().await?)
    }

    /// The `UPDATE` takes (or, after `begin_write`, already holds) the
    /// log head's row lock until the transaction ends, so no other
    /// transaction can take the same indexes, and one that rolls back
    /// gives them back.
    async fn sequence(tx: &mut Self::Tx, entries: &[NewLogEntry]) -> Result<u64> {
        let n = to_i64(entries.len() as u64, "batch size")?;
        let next: i64 = sqlx::query_scalar(
            "UPDATE log_head SET size = size + $1 WHERE id = 0 RETURNING size - $1",
        )
        .bind(n)
        .fetch_one(&mut **tx)
        .await?;
        insert_entries::<Postgres>(tx, next, entries).await?;
        to_u64(next, "log index")
    }

    async fn read_all(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<PgRow>> {
        Ok(bind(sql, args).fetch_all(&self.pool).await?)
    }

    async fn read_optional(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<Option<PgRow>> {
        Ok(bind(sql, args).fetch_optional(&self.pool).await?)
    }

    async fn write(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64> {
        Ok(bind(sql, args).execute(&self.pool).await?.rows_affected())
    }

    async fn all(tx: &mut Self::Tx, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<PgRow>> {
        Ok(bind(sql, args).fetch_all(&mut **tx).await?)
    }

    async fn optional(
        tx: &mut Self::Tx,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<PgRow>> {
        Ok(bind(sql, args).fetch_optional(&mut **tx).await?)
    }

    async fn execute(tx: &mut Self::Tx, sql: &'static str, args: &[Arg<'_>]) -> Result<u64> {
        Ok(bind(sql, args).execute(&mut **tx).await?.rows_affected())
    }
}
