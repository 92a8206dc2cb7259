//! [`RetentionStore`] on PostgreSQL (as on the SQLite index): the `state`, `expires_ms`,
//! `destroyed_ms` and `receipt` columns of `epochs`, `deletion_queue`,
//! `expired_recordings`, and the clock floor in `meta` (migrations-postgres/).
//! Due epochs are read through `epochs_by_expiry` and their segments
//! through `segments_by_epoch`: a sweep touches only what expires.

use obhut_core::ids::{EpochId, RecordingId};
use sqlx::{PgConnection, Row};

use super::PgIndex;
use super::sequence::sequence;
use crate::sql::column::arr;
use crate::sql::engine::Engine;
use crate::sql::rows::epoch_row;
use crate::{
    BlobKey, EpochRow, EpochState, ExpiredRecording, NewLogEntry, Result, RetentionStore,
    StoreError,
};

async fn state_in(tx: &mut PgConnection, id: EpochId) -> Result<EpochState> {
    let s: Option<String> = sqlx::query_scalar("SELECT state FROM epochs WHERE epoch_id = $1")
        .bind(&id.0[..])
        .fetch_optional(&mut *tx)
        .await?;
    let s = s.ok_or(StoreError::NotFound("epoch"))?;
    EpochState::parse(&s).ok_or(StoreError::Corrupt("epoch state"))
}

/// Move every segment row of epoch `id` to the deletion queue inside the
/// caller's transaction: lower each recording's byte count, and replace a
/// recording left without segments by its tombstone. Returns the rows
/// moved.
async fn queue_segments(tx: &mut PgConnection, id: EpochId, now_ms: i64) -> Result<u64> {
    let rows = sqlx::query(
        "SELECT recording_id, SUM(blob_len)::BIGINT AS bytes, COUNT(*) AS n FROM segments
         WHERE epoch_id = $1 GROUP BY recording_id",
    )
    .bind(&id.0[..])
    .fetch_all(&mut *tx)
    .await?;
    let mut moved = 0u64;
    for r in rows {
        let rid: Vec<u8> = r.try_get("recording_id")?;
        let bytes: i64 = r.try_get("bytes")?;
        let n: i64 = r.try_get("n")?;
        sqlx::query(
            "INSERT INTO deletion_queue (epoch_id, recording_id, idx)
             SELECT epoch_id, recording_id, idx FROM segments WHERE epoch_id = $1 AND recording_id = $2
             ON CONFLICT DO NOTHING",
        )
        .bind(&id.0[..])
        .bind(&rid)
        .execute(&mut *tx)
        .await?;
        // A held segment's re-wrap goes with it: nothing keeps
        // referencing the hold key it was wrapped to.
        sqlx::query(
            "DELETE FROM segment_rewraps WHERE recording_id = $1 AND idx IN
             (SELECT idx FROM segments WHERE epoch_id = $2 AND recording_id = $1)",
        )
        .bind(&rid)
        .bind(&id.0[..])
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM segments WHERE epoch_id = $1 AND recording_id = $2")
            .bind(&id.0[..])
            .bind(&rid)
            .execute(&mut *tx)
            .await?;
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM segments WHERE recording_id = $1")
            .bind(&rid)
            .fetch_one(&mut *tx)
            .await?;
        if left == 0 {
            sqlx::query("DELETE FROM recordings WHERE recording_id = $1")
                .bind(&rid)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO expired_recordings (recording_id, epoch_id, expired_ms)
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(&rid)
            .bind(&id.0[..])
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "UPDATE recordings SET total_bytes = GREATEST(total_bytes - $1, 0) WHERE recording_id = $2",
            )
            .bind(bytes)
            .bind(&rid)
            .execute(&mut *tx)
            .await?;
        }
        moved += u64::try_from(n).map_err(|_| StoreError::Corrupt("segment count"))?;
    }
    Ok(moved)
}

impl RetentionStore for PgIndex {
    async fn due_epochs(&self, now_ms: i64, limit: u32) -> Result<Vec<EpochRow>> {
        sqlx::query(
            "SELECT * FROM epochs
             WHERE expires_ms IS NOT NULL AND state != 'swept' AND expires_ms <= $1
             ORDER BY expires_ms LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(epoch_row)
        .collect()
    }

    async fn mark_expiring(&self, id: EpochId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if state_in(&mut tx, id).await? == EpochState::Live {
            sqlx::query("UPDATE epochs SET state = 'expiring' WHERE epoch_id = $1")
                .bind(&id.0[..])
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn epoch_segment_count(&self, id: EpochId) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM segments WHERE epoch_id = $1")
            .bind(&id.0[..])
            .fetch_one(&self.pool)
            .await?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt("segment count"))
    }

    async fn destroy_epoch(
        &self,
        id: EpochId,
        destroyed_ms: i64,
        receipt: &[u8],
        log: &NewLogEntry,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        match state_in(&mut tx, id).await? {
            EpochState::Live => return Err(StoreError::EpochLive),
            EpochState::Destroyed | EpochState::Swept => return Ok(0),
            EpochState::Expiring => {}
        }
        let moved = queue_segments(&mut tx, id, destroyed_ms).await?;
        sqlx::query(
            "UPDATE epochs SET state = 'destroyed', destroyed_ms = $1, receipt = $2 WHERE epoch_id = $3",
        )
        .bind(destroyed_ms)
        .bind(receipt)
        .bind(&id.0[..])
        .execute(&mut *tx)
        .await?;
        sequence(&mut tx, std::slice::from_ref(log)).await?;
        tx.commit().await?;
        Ok(moved)
    }

    async fn queued_blobs(&self, id: EpochId, limit: u32) -> Result<Vec<BlobKey>> {
        sqlx::query("SELECT recording_id, idx FROM deletion_queue WHERE epoch_id = $1 LIMIT $2")
            .bind(&id.0[..])
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(BlobKey {
                    recording: RecordingId(arr(r.try_get("recording_id")?, "recording id length")?),
                    index: u32::try_from(r.try_get::<i64, _>("idx")?)
                        .map_err(|_| StoreError::Corrupt("segment index"))?,
                })
            })
            .collect()
    }

    async fn dequeue_blobs(&self, id: EpochId, keys: &[BlobKey]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for k in keys {
            sqlx::query(
                "DELETE FROM deletion_queue WHERE epoch_id = $1 AND recording_id = $2 AND idx = $3",
            )
            .bind(&id.0[..])
            .bind(&k.recording.0[..])
            .bind(i64::from(k.index))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn finish_sweep(&self, id: EpochId) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        match state_in(&mut tx, id).await? {
            EpochState::Swept => return Ok(true),
            EpochState::Destroyed => {}
            _ => return Err(StoreError::EpochLive),
        }
        let destroyed: Option<i64> =
            sqlx::query_scalar("SELECT destroyed_ms FROM epochs WHERE epoch_id = $1")
                .bind(&id.0[..])
                .fetch_one(&mut *tx)
                .await?;
        let stragglers = queue_segments(&mut tx, id, destroyed.unwrap_or(0)).await?;
        let queued: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM deletion_queue WHERE epoch_id = $1")
                .bind(&id.0[..])
                .fetch_one(&mut *tx)
                .await?;
        let done = stragglers == 0 && queued == 0;
        if done {
            sqlx::query("UPDATE epochs SET state = 'swept' WHERE epoch_id = $1")
                .bind(&id.0[..])
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn deletion_receipt(&self, id: EpochId) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar::<_, Option<Vec<u8>>>(
            "SELECT receipt FROM epochs WHERE epoch_id = $1",
        )
        .bind(&id.0[..])
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }

    async fn expired_recording(&self, id: RecordingId) -> Result<Option<ExpiredRecording>> {
        sqlx::query("SELECT epoch_id, expired_ms FROM expired_recordings WHERE recording_id = $1")
            .bind(&id.0[..])
            .fetch_optional(&self.pool)
            .await?
            .map(|r| {
                Ok(ExpiredRecording {
                    epoch_id: EpochId(arr(r.try_get("epoch_id")?, "epoch id length")?),
                    expired_ms: r.try_get("expired_ms")?,
                })
            })
            .transpose()
    }

    async fn reclassify_device(
        &self,
        device: crate::KeyBytes,
        from: &str,
        to: &str,
        log: &NewLogEntry,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let now: Option<String> =
            sqlx::query_scalar("SELECT retention_class FROM devices WHERE device_key = $1")
                .bind(&device[..])
                .fetch_optional(&mut *tx)
                .await?;
        let now = now.ok_or(StoreError::NotFound("device"))?;
        if now != from {
            return Err(StoreError::ClassChanged {
                expected: from.to_owned(),
                now,
            });
        }
        sqlx::query("UPDATE devices SET retention_class = $1 WHERE device_key = $2")
            .bind(to)
            .bind(&device[..])
            .execute(&mut *tx)
            .await?;
        sequence(&mut tx, std::slice::from_ref(log)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn clock_floor(&self, now_ms: i64) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let stored: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'clock_floor_ms'")
                .fetch_optional(&mut *tx)
                .await?;
        let stored = match stored {
            None => i64::MIN,
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| StoreError::Corrupt("clock floor"))?,
        };
        let floor = stored.max(now_ms);
        if floor != stored {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES ('clock_floor_ms', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(floor.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(floor)
    }
}
