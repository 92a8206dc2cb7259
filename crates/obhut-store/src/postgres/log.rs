//! [`LogStore`] on PostgreSQL: tables `log_entries`, `log_tiles`,
//! `log_checkpoints`, and `log_head` (the sequenced size under its row
//! lock; see [`super::PgIndex`]).

use obhut_core::ids::RecordingId;

use super::PgIndex;
use super::sequence::sequence;
use crate::sql::column::{lookup_i64, to_i64, to_u64};
use crate::sql::engine::Engine;
use crate::sql::rows::{checkpoint_row, entry_row};
use crate::{LogEntryRow, LogStore, NewLogEntry, Result, StoreError, StoredCheckpoint, TileRow};

impl LogStore for PgIndex {
    async fn log_append(&self, entries: &[NewLogEntry]) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let first = sequence(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(first)
    }

    async fn log_sequenced(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT size FROM log_head WHERE id = 0")
            .fetch_one(&self.pool)
            .await?;
        to_u64(n, "log size")
    }

    async fn log_leaf_hashes(&self, from: u64, limit: u32) -> Result<Vec<[u8; 32]>> {
        let Some(from) = lookup_i64(from) else {
            return Ok(Vec::new());
        };
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT leaf_hash FROM log_entries WHERE idx >= $1 ORDER BY idx LIMIT $2",
        )
        .bind(from)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|h| {
                h.try_into()
                    .map_err(|_| StoreError::Corrupt("leaf hash length"))
            })
            .collect()
    }

    async fn log_integrate(
        &self,
        from: u64,
        tiles: &[TileRow],
        cp: &StoredCheckpoint,
    ) -> Result<()> {
        // The compare-and-swap of the tree head, under the log head's
        // lock: only a checkpoint grown from the latest one is written.
        let mut tx = self.begin_write().await?;
        let latest: Option<i64> = sqlx::query_scalar("SELECT MAX(size) FROM log_checkpoints")
            .fetch_one(&mut *tx)
            .await?;
        let latest = u64::try_from(latest.unwrap_or(0)).unwrap_or(0);
        let size = to_i64(cp.size, "checkpoint size")?;
        if latest != from || cp.size <= from {
            return Err(StoreError::HeadMoved {
                expected: from,
                latest,
            });
        }
        for t in tiles {
            // A tile only ever grows: never let a shorter write replace
            // hashes another checkpoint already covers.
            sqlx::query(
                "INSERT INTO log_tiles (level, idx, hashes) VALUES ($1, $2, $3)
                 ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes
                 WHERE octet_length(excluded.hashes) > octet_length(log_tiles.hashes)",
            )
            .bind(i64::from(t.level))
            .bind(to_i64(t.index, "tile index")?)
            .bind(&t.hashes)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO log_checkpoints (size, time_ms, note, edge) VALUES ($1, $2, $3, $4)",
        )
        .bind(size)
        .bind(cp.time_ms)
        .bind(&cp.note)
        .bind(&cp.edge)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn log_cosigned(&self, size: u64, note: &[u8]) -> Result<()> {
        sqlx::query("UPDATE log_checkpoints SET note = $1 WHERE size = $2")
            .bind(note)
            .bind(to_i64(size, "checkpoint size")?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn log_tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>> {
        let Some(index) = lookup_i64(index) else {
            return Ok(None);
        };
        Ok(
            sqlx::query_scalar("SELECT hashes FROM log_tiles WHERE level = $1 AND idx = $2")
                .bind(i64::from(level))
                .bind(index)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn log_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        sqlx::query("SELECT * FROM log_checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(checkpoint_row)
            .transpose()
    }

    async fn log_checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>> {
        let Some(size) = lookup_i64(size) else {
            return Ok(None);
        };
        sqlx::query("SELECT * FROM log_checkpoints WHERE size = $1")
            .bind(size)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(checkpoint_row)
            .transpose()
    }

    async fn log_entries(&self, from: u64, limit: u32) -> Result<Vec<LogEntryRow>> {
        let Some(from) = lookup_i64(from) else {
            return Ok(Vec::new());
        };
        sqlx::query("SELECT * FROM log_entries WHERE idx >= $1 ORDER BY idx LIMIT $2")
            .bind(from)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(entry_row)
            .collect()
    }

    async fn log_recording_entries(&self, recording: RecordingId) -> Result<Vec<LogEntryRow>> {
        sqlx::query("SELECT * FROM log_entries WHERE recording_id = $1 ORDER BY idx")
            .bind(&recording.0[..])
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(entry_row)
            .collect()
    }

    async fn log_entries_of_kind(&self, kind: &str) -> Result<Vec<LogEntryRow>> {
        sqlx::query("SELECT * FROM log_entries WHERE kind = $1 ORDER BY idx")
            .bind(kind)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(entry_row)
            .collect()
    }

    async fn log_prune(
        &self,
        before_ms: i64,
        integrated: u64,
        now_ms: i64,
        receipt: impl FnOnce(u64) -> Option<NewLogEntry> + Send,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE log_entries SET body = NULL, pruned_ms = $1
             WHERE time_ms < $2 AND idx < $3 AND body IS NOT NULL",
        )
        .bind(now_ms)
        .bind(before_ms)
        .bind(to_i64(integrated, "log size")?)
        .execute(&mut *tx)
        .await?;
        let n = r.rows_affected();
        if let Some(e) = receipt(n) {
            sequence(&mut tx, std::slice::from_ref(&e)).await?;
        }
        tx.commit().await?;
        Ok(n)
    }
}
