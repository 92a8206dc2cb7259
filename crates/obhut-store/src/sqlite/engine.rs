//! The SQLite index as an [`Engine`] under the shared method bodies
//! (`crate::sql`): its write transaction, its sequencing of audit
//! entries, its reading connections, and the statements whose SQLite text
//! differs from PostgreSQL's.

use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, Transaction};

use super::SqliteIndex;
use crate::sql::column::to_u64;
use crate::sql::engine::{Arg, Engine, bind, insert_entries};
use crate::{NewLogEntry, Result};

impl Engine for SqliteIndex {
    type Row = SqliteRow;
    type Tx = Transaction<'static, Sqlite>;

    // `INSERT OR IGNORE` and the index hints are SQLite's.
    const INSERT_HOLD: &'static str = "INSERT OR IGNORE INTO holds
         (hold_id, group_id, case_ref, device_key, from_ms, to_ms, placed_ms, released_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)";
    const HOLD_CANDIDATES: &'static str = "SELECT s.recording_id, s.idx, h.hold_id
         FROM segments s INDEXED BY segments_by_epoch
         JOIN recordings r ON r.recording_id = s.recording_id
         JOIN holds h ON h.device_key = r.device_key AND h.group_id = r.group_id
         WHERE s.epoch_id = $1 AND h.released_ms IS NULL AND h.hold_id != s.epoch_id
           AND s.capture_ms < h.to_ms
         ORDER BY s.recording_id, s.idx, h.placed_ms";
    const EPOCH_SEGMENTS: &'static str = "SELECT recording_id, idx FROM segments
         INDEXED BY segments_by_epoch WHERE epoch_id = $1 ORDER BY recording_id, idx";

    const QUEUE_RECORDING: &'static str =
        "INSERT OR IGNORE INTO deletion_queue (epoch_id, recording_id, idx)
         SELECT epoch_id, recording_id, idx FROM segments WHERE recording_id = $1";
    const DERIVED_FROM_SEGMENTS: &'static str = "SELECT DISTINCT a.* FROM artifact_sources s
         INDEXED BY artifact_sources_by_recording
         JOIN artifacts a ON a.artifact_id = s.artifact_id
         WHERE s.recording_id = $1 AND s.first_idx < $2 AND s.end_idx > $3
           AND a.state != 'deleted'
         ORDER BY a.artifact_id";
    const DERIVED_FROM_ARTIFACT: &'static str = "SELECT DISTINCT a.* FROM artifact_sources s
         INDEXED BY artifact_sources_by_artifact
         JOIN artifacts a ON a.artifact_id = s.artifact_id
         WHERE s.source_artifact = $1 ORDER BY a.artifact_id";
    const EPOCH_SOURCES: &'static str =
        "SELECT recording_id, MIN(idx) AS first, MAX(idx) + 1 AS end FROM segments
         INDEXED BY segments_by_epoch WHERE epoch_id = $1 GROUP BY recording_id";

    const LOG_SIZE: &'static str = "SELECT COALESCE(MAX(idx) + 1, 0) AS size FROM log_entries";
    const UPSERT_TILE: &'static str =
        "INSERT INTO log_tiles (level, idx, hashes) VALUES ($1, $2, $3)
         ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes
         WHERE length(excluded.hashes) > length(log_tiles.hashes)";
    const EPOCH_RECORDINGS: &'static str =
        "SELECT recording_id, SUM(blob_len) AS bytes, COUNT(*) AS n FROM segments
         WHERE epoch_id = $1 GROUP BY recording_id";
    const QUEUE_EPOCH_RECORDING: &'static str = "INSERT OR IGNORE INTO deletion_queue (epoch_id, recording_id, idx)
         SELECT epoch_id, recording_id, idx FROM segments WHERE epoch_id = $1 AND recording_id = $2";
    const EXPIRE_RECORDING: &'static str =
        "INSERT OR IGNORE INTO expired_recordings (recording_id, epoch_id, expired_ms)
         VALUES ($1, $2, $3)";
    const LOWER_TOTAL_BYTES: &'static str =
        "UPDATE recordings SET total_bytes = MAX(total_bytes - $1, 0) WHERE recording_id = $2";
    const WRITE_PROBE: &'static str =
        "INSERT INTO meta (key, value) VALUES ('write-probe', hex(zeroblob(4096)))
         ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    const DUE_EPOCHS: &'static str = "SELECT * FROM epochs INDEXED BY epochs_by_expiry
         WHERE expires_ms IS NOT NULL AND state != 'swept' AND expires_ms <= $1
         ORDER BY expires_ms LIMIT $2";

    /// A write transaction on the writing connection. `BEGIN IMMEDIATE`
    /// takes SQLite's write lock at once, so another process writing at
    /// the same moment is met here, not halfway through.
    async fn begin_write(&self) -> Result<Self::Tx> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn begin_unlocked(&self) -> Result<Self::Tx> {
        self.begin_write().await
    }

    async fn commit(tx: Self::Tx) -> Result<()> {
        Ok(tx.commit().await?)
    }

    /// The next index is the log's own size, read inside the caller's
    /// write transaction (begun with `BEGIN IMMEDIATE`, so no other
    /// writer can take the same index).
    async fn sequence(tx: &mut Self::Tx, entries: &[NewLogEntry]) -> Result<u64> {
        let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries")
            .fetch_one(&mut **tx)
            .await?;
        insert_entries::<Sqlite>(tx, next, entries).await?;
        to_u64(next, "log index")
    }

    async fn read_all(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<SqliteRow>> {
        Ok(bind(sql, args).fetch_all(&self.readers).await?)
    }

    async fn read_optional(
        &self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<SqliteRow>> {
        Ok(bind(sql, args).fetch_optional(&self.readers).await?)
    }

    async fn write(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64> {
        Ok(bind(sql, args).execute(&self.writer).await?.rows_affected())
    }

    async fn all(tx: &mut Self::Tx, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<SqliteRow>> {
        Ok(bind(sql, args).fetch_all(&mut **tx).await?)
    }

    async fn optional(
        tx: &mut Self::Tx,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<SqliteRow>> {
        Ok(bind(sql, args).fetch_optional(&mut **tx).await?)
    }

    async fn execute(tx: &mut Self::Tx, sql: &'static str, args: &[Arg<'_>]) -> Result<u64> {
        Ok(bind(sql, args).execute(&mut **tx).await?.rows_affected())
    }
}
