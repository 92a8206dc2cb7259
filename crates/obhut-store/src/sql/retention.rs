//! [`RetentionStore`] on either SQL engine: the `state`, `expires_ms`,
//! `destroyed_ms` and `receipt` columns of `epochs`, `deletion_queue`,
//! `expired_recordings`, and the clock floor in `meta`. The statements
//! that differ (SQLite's `INSERT OR IGNORE`, index hint and `MAX` of two
//! values, PostgreSQL's `SUM` type) are the engine's.

use obhut_core::ids::{EpochId, RecordingId};

use super::Columns;
use super::column::{arr, to_u32};
use super::engine::{Arg, Engine, commit_logged, list};
use super::rows::epoch_row;
use crate::{
    BlobKey, EpochRow, EpochState, ExpiredRecording, NewLogEntry, Result, RetentionStore,
    StoreError,
};

async fn state_in<X: Engine>(tx: &mut X::Tx, id: EpochId) -> Result<EpochState> {
    let s = X::optional(
        tx,
        "SELECT state FROM epochs WHERE epoch_id = $1",
        &[Arg::Bytes(&id.0)],
    )
    .await?
    .ok_or(StoreError::NotFound("epoch"))?
    .text("state")?;
    EpochState::parse(&s).ok_or(StoreError::Corrupt("epoch state"))
}

/// Move every segment row of epoch `id` to the deletion queue inside the
/// caller's transaction: lower each recording's byte count, and replace a
/// recording left without segments by its tombstone. Returns the rows
/// moved.
async fn queue_segments<X: Engine>(tx: &mut X::Tx, id: EpochId, now_ms: i64) -> Result<u64> {
    let epoch = Arg::Bytes(&id.0);
    let rows = X::all(tx, X::EPOCH_RECORDINGS, &[epoch]).await?;
    let mut moved = 0u64;
    for r in rows {
        let rid = r.bytes("recording_id")?;
        let bytes = r.int("bytes")?;
        let n = r.int("n")?;
        let rec = Arg::Bytes(&rid);
        X::execute(tx, X::QUEUE_EPOCH_RECORDING, &[epoch, rec]).await?;
        // A held segment's re-wrap goes with it: nothing keeps
        // referencing the hold key it was wrapped to.
        X::execute(
            tx,
            "DELETE FROM segment_rewraps WHERE recording_id = $1 AND idx IN
             (SELECT idx FROM segments WHERE epoch_id = $2 AND recording_id = $1)",
            &[rec, epoch],
        )
        .await?;
        X::execute(
            tx,
            "DELETE FROM segments WHERE epoch_id = $1 AND recording_id = $2",
            &[epoch, rec],
        )
        .await?;
        let left = X::optional(
            tx,
            "SELECT COUNT(*) AS n FROM segments WHERE recording_id = $1",
            &[rec],
        )
        .await?
        .map_or(Ok(0), |r| r.int("n"))?;
        if left == 0 {
            X::execute(tx, "DELETE FROM recordings WHERE recording_id = $1", &[rec]).await?;
            X::execute(tx, X::EXPIRE_RECORDING, &[rec, epoch, Arg::Int(now_ms)]).await?;
        } else {
            X::execute(tx, X::LOWER_TOTAL_BYTES, &[Arg::Int(bytes), rec]).await?;
        }
        moved += u64::try_from(n).map_err(|_| StoreError::Corrupt("segment count"))?;
    }
    Ok(moved)
}

impl<X: Engine> RetentionStore for X {
    async fn due_epochs(&self, now_ms: i64, limit: u32) -> Result<Vec<EpochRow>> {
        list(
            self,
            X::DUE_EPOCHS,
            &[Arg::Int(now_ms), Arg::Int(i64::from(limit))],
            epoch_row,
        )
        .await
    }

    async fn mark_expiring(&self, id: EpochId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if state_in::<X>(&mut tx, id).await? == EpochState::Live {
            X::execute(
                &mut tx,
                "UPDATE epochs SET state = 'expiring' WHERE epoch_id = $1",
                &[Arg::Bytes(&id.0)],
            )
            .await?;
        }
        X::commit(tx).await
    }

    async fn epoch_segment_count(&self, id: EpochId) -> Result<u64> {
        let n = self
            .read_optional(
                "SELECT COUNT(*) AS n FROM segments WHERE epoch_id = $1",
                &[Arg::Bytes(&id.0)],
            )
            .await?
            .map_or(Ok(0), |r| r.int("n"))?;
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
        match state_in::<X>(&mut tx, id).await? {
            EpochState::Live => return Err(StoreError::EpochLive),
            EpochState::Destroyed | EpochState::Swept => return Ok(0),
            EpochState::Expiring => {}
        }
        let moved = queue_segments::<X>(&mut tx, id, destroyed_ms).await?;
        X::execute(
            &mut tx,
            "UPDATE epochs SET state = 'destroyed', destroyed_ms = $1, receipt = $2 WHERE epoch_id = $3",
            &[Arg::Int(destroyed_ms), Arg::Bytes(receipt), Arg::Bytes(&id.0)],
        )
        .await?;
        commit_logged::<X>(tx, log).await?;
        Ok(moved)
    }

    async fn queued_blobs(&self, id: EpochId, limit: u32) -> Result<Vec<BlobKey>> {
        self.read_all(
            "SELECT recording_id, idx FROM deletion_queue WHERE epoch_id = $1 LIMIT $2",
            &[Arg::Bytes(&id.0), Arg::Int(i64::from(limit))],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(BlobKey {
                recording: RecordingId(arr(r.bytes("recording_id")?, "recording id length")?),
                index: to_u32(r.int("idx")?, "segment index")?,
            })
        })
        .collect()
    }

    async fn dequeue_blobs(&self, id: EpochId, keys: &[BlobKey]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for k in keys {
            X::execute(
                &mut tx,
                "DELETE FROM deletion_queue WHERE epoch_id = $1 AND recording_id = $2 AND idx = $3",
                &[
                    Arg::Bytes(&id.0),
                    Arg::Bytes(&k.recording.0),
                    Arg::Int(i64::from(k.index)),
                ],
            )
            .await?;
        }
        X::commit(tx).await
    }

    async fn finish_sweep(&self, id: EpochId) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        match state_in::<X>(&mut tx, id).await? {
            EpochState::Swept => return Ok(true),
            EpochState::Destroyed => {}
            _ => return Err(StoreError::EpochLive),
        }
        let epoch = [Arg::Bytes(&id.0)];
        let destroyed = X::optional(
            &mut tx,
            "SELECT destroyed_ms FROM epochs WHERE epoch_id = $1",
            &epoch,
        )
        .await?
        .ok_or(StoreError::NotFound("epoch"))?
        .opt_int("destroyed_ms")?;
        let stragglers = queue_segments::<X>(&mut tx, id, destroyed.unwrap_or(0)).await?;
        let queued = X::optional(
            &mut tx,
            "SELECT COUNT(*) AS n FROM deletion_queue WHERE epoch_id = $1",
            &epoch,
        )
        .await?
        .map_or(Ok(0), |r| r.int("n"))?;
        let done = stragglers == 0 && queued == 0;
        if done {
            X::execute(
                &mut tx,
                "UPDATE epochs SET state = 'swept' WHERE epoch_id = $1",
                &epoch,
            )
            .await?;
        }
        X::commit(tx).await?;
        Ok(done)
    }

    async fn deletion_receipt(&self, id: EpochId) -> Result<Option<Vec<u8>>> {
        Ok(self
            .read_optional(
                "SELECT receipt FROM epochs WHERE epoch_id = $1",
                &[Arg::Bytes(&id.0)],
            )
            .await?
            .map(|r| r.opt_bytes("receipt"))
            .transpose()?
            .flatten())
    }

    async fn expired_recording(&self, id: RecordingId) -> Result<Option<ExpiredRecording>> {
        self.read_optional(
            "SELECT epoch_id, expired_ms FROM expired_recordings WHERE recording_id = $1",
            &[Arg::Bytes(&id.0)],
        )
        .await?
        .map(|r| {
            Ok(ExpiredRecording {
                epoch_id: EpochId(arr(r.bytes("epoch_id")?, "epoch id length")?),
                expired_ms: r.int("expired_ms")?,
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
        let now = X::optional(
            &mut tx,
            "SELECT retention_class FROM devices WHERE device_key = $1",
            &[Arg::Bytes(&device)],
        )
        .await?
        .ok_or(StoreError::NotFound("device"))?
        .text("retention_class")?;
        if now != from {
            return Err(StoreError::ClassChanged {
                expected: from.to_owned(),
                now,
            });
        }
        X::execute(
            &mut tx,
            "UPDATE devices SET retention_class = $1 WHERE device_key = $2",
            &[Arg::Text(to), Arg::Bytes(&device)],
        )
        .await?;
        commit_logged::<X>(tx, log).await
    }

    async fn clock_floor(&self, now_ms: i64) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let stored = X::optional(
            &mut tx,
            "SELECT value FROM meta WHERE key = 'clock_floor_ms'",
            &[],
        )
        .await?
        .map(|r| r.text("value"))
        .transpose()?;
        let stored = match stored {
            None => i64::MIN,
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| StoreError::Corrupt("clock floor"))?,
        };
        let floor = stored.max(now_ms);
        if floor != stored {
            let value = floor.to_string();
            X::execute(
                &mut tx,
                "INSERT INTO meta (key, value) VALUES ('clock_floor_ms', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[Arg::Text(&value)],
            )
            .await?;
        }
        X::commit(tx).await?;
        Ok(floor)
    }
}
