//! [`HoldStore`] on the SQLite index: the `holds` and `segment_rewraps`
//! tables (migration `20261208100001_legal_hold`).

use obhut_core::ids::{EpochId, RecordingId};
use sqlx::{Row, SqliteConnection};

use super::SqliteIndex;
use super::sequence::sequence;
use crate::sql::column::arr;
use crate::sql::rows::{hold_row, index_of};
use crate::{HoldCandidate, HoldRow, HoldStore, NewLogEntry, Result, RewrapRow, StoreError};

/// `Some(released_ms)` if hold `id` is released, `None` if active;
/// `NotFound` if unknown.
async fn released_in(tx: &mut SqliteConnection, id: &[u8]) -> Result<Option<i64>> {
    let row: Option<Option<i64>> =
        sqlx::query_scalar("SELECT released_ms FROM holds WHERE hold_id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    row.ok_or(StoreError::NotFound("hold"))
}

/// Give hold `id`'s epoch, if it has one, the expiry `at` (unless set).
async fn expire_hold_epoch(tx: &mut SqliteConnection, id: &[u8], at: i64) -> Result<()> {
    sqlx::query("UPDATE epochs SET expires_ms = ? WHERE epoch_id = ? AND expires_ms IS NULL")
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Move one segment from epoch `from` to `rewrap.epoch_id` inside the
/// caller's transaction: store the re-wrap beside it, make its row name
/// the new epoch. `false` if its row no longer names `from`.
async fn move_segment(
    tx: &mut SqliteConnection,
    from: EpochId,
    rewrap: &RewrapRow,
) -> Result<bool> {
    let now: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT epoch_id FROM segments WHERE recording_id = ? AND idx = ?")
            .bind(&rewrap.recording_id.0[..])
            .bind(i64::from(rewrap.index))
            .fetch_optional(&mut *tx)
            .await?;
    let now = now.ok_or(StoreError::NotFound("segment"))?;
    if now != from.0 {
        return Ok(false);
    }
    let to = &rewrap.epoch_id.0[..];
    sqlx::query(
        "INSERT INTO segment_rewraps (recording_id, idx, epoch_id, rewrap) VALUES (?, ?, ?, ?)
         ON CONFLICT (recording_id, idx) DO UPDATE
         SET epoch_id = excluded.epoch_id, rewrap = excluded.rewrap",
    )
    .bind(&rewrap.recording_id.0[..])
    .bind(i64::from(rewrap.index))
    .bind(to)
    .bind(&rewrap.rewrap)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE segments SET epoch_id = ? WHERE recording_id = ? AND idx = ?")
        .bind(to)
        .bind(&rewrap.recording_id.0[..])
        .bind(i64::from(rewrap.index))
        .execute(&mut *tx)
        .await?;
    Ok(true)
}

impl HoldStore for SqliteIndex {
    async fn place_hold(&self, hold: &HoldRow, log: &NewLogEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT OR IGNORE INTO holds
             (hold_id, group_id, case_ref, device_key, from_ms, to_ms, placed_ms, released_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
        )
        .bind(&hold.hold_id[..])
        .bind(&hold.group_id.0[..])
        .bind(&hold.case)
        .bind(&hold.device_key[..])
        .bind(hold.from_ms)
        .bind(hold.to_ms)
        .bind(hold.placed_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::HoldExists);
        }
        sequence(&mut tx, std::slice::from_ref(log)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn release_hold(&self, id: [u8; 16], released_ms: i64, log: &NewLogEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if released_in(&mut tx, &id).await?.is_some() {
            return Err(StoreError::HoldReleased);
        }
        sqlx::query("UPDATE holds SET released_ms = ? WHERE hold_id = ?")
            .bind(released_ms)
            .bind(&id[..])
            .execute(&mut *tx)
            .await?;
        expire_hold_epoch(&mut tx, &id, released_ms).await?;
        sequence(&mut tx, std::slice::from_ref(log)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn hold(&self, id: [u8; 16]) -> Result<Option<HoldRow>> {
        sqlx::query("SELECT * FROM holds WHERE hold_id = ?")
            .bind(&id[..])
            .fetch_optional(&self.readers)
            .await?
            .as_ref()
            .map(hold_row)
            .transpose()
    }

    async fn holds(&self) -> Result<Vec<HoldRow>> {
        sqlx::query("SELECT * FROM holds ORDER BY placed_ms, hold_id")
            .fetch_all(&self.readers)
            .await?
            .iter()
            .map(hold_row)
            .collect()
    }

    async fn hold_candidates(&self, epoch: EpochId) -> Result<Vec<HoldCandidate>> {
        sqlx::query(
            "SELECT s.recording_id, s.idx, h.hold_id
             FROM segments s INDEXED BY segments_by_epoch
             JOIN recordings r ON r.recording_id = s.recording_id
             JOIN holds h ON h.device_key = r.device_key AND h.group_id = r.group_id
             WHERE s.epoch_id = ? AND h.released_ms IS NULL AND h.hold_id != s.epoch_id
               AND s.capture_ms < h.to_ms
             ORDER BY s.recording_id, s.idx, h.placed_ms",
        )
        .bind(&epoch.0[..])
        .fetch_all(&self.readers)
        .await?
        .iter()
        .map(|r| {
            Ok(HoldCandidate {
                recording_id: RecordingId(arr(r.try_get("recording_id")?, "recording id length")?),
                index: index_of(r)?,
                hold_id: arr(r.try_get("hold_id")?, "hold id length")?,
            })
        })
        .collect()
    }

    async fn hold_segment(&self, from: EpochId, rewrap: &RewrapRow) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let hold = &rewrap.epoch_id.0[..];
        if let Some(released) = released_in(&mut tx, hold).await? {
            // Converge with a release that came before the hold's epoch
            // was made: the epoch must still expire.
            expire_hold_epoch(&mut tx, hold, released).await?;
            tx.commit().await?;
            return Err(StoreError::HoldReleased);
        }
        let moved = move_segment(&mut tx, from, rewrap).await?;
        tx.commit().await?;
        Ok(moved)
    }

    async fn split_segment(&self, from: EpochId, rewrap: &RewrapRow) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let moved = move_segment(&mut tx, from, rewrap).await?;
        tx.commit().await?;
        Ok(moved)
    }

    async fn epoch_segments(&self, epoch: EpochId) -> Result<Vec<(RecordingId, u32)>> {
        sqlx::query(
            "SELECT recording_id, idx FROM segments INDEXED BY segments_by_epoch
             WHERE epoch_id = ? ORDER BY recording_id, idx",
        )
        .bind(&epoch.0[..])
        .fetch_all(&self.readers)
        .await?
        .iter()
        .map(|r| {
            Ok((
                RecordingId(arr(r.try_get("recording_id")?, "recording id length")?),
                index_of(r)?,
            ))
        })
        .collect()
    }

    async fn segment_rewrap(
        &self,
        recording: RecordingId,
        index: u32,
    ) -> Result<Option<RewrapRow>> {
        sqlx::query(
            "SELECT epoch_id, rewrap FROM segment_rewraps WHERE recording_id = ? AND idx = ?",
        )
        .bind(&recording.0[..])
        .bind(i64::from(index))
        .fetch_optional(&self.readers)
        .await?
        .map(|r| {
            Ok(RewrapRow {
                recording_id: recording,
                index,
                epoch_id: EpochId(arr(r.try_get("epoch_id")?, "epoch id length")?),
                rewrap: r.try_get("rewrap")?,
            })
        })
        .transpose()
    }
}
