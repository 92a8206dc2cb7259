//! [`HoldStore`] on either SQL engine: the `holds` and `segment_rewraps`
//! tables (migration `20261208100001_legal_hold`). The statements that
//! differ (SQLite's `INSERT OR IGNORE` and index hints) are the engine's
//! ([`Engine::INSERT_HOLD`], [`Engine::HOLD_CANDIDATES`],
//! [`Engine::EPOCH_SEGMENTS`]).

use obhut_core::ids::{EpochId, RecordingId};

use super::Columns;
use super::column::arr;
use super::engine::{Arg, Engine, commit_logged, find, list};
use super::rows::{hold_row, index_of};
use crate::{HoldCandidate, HoldRow, HoldStore, NewLogEntry, Result, RewrapRow, StoreError};

/// `Some(released_ms)` if hold `id` is released, `None` if active;
/// `NotFound` if unknown.
async fn released_in<X: Engine>(tx: &mut X::Tx, id: &[u8]) -> Result<Option<i64>> {
    X::optional(
        tx,
        "SELECT released_ms FROM holds WHERE hold_id = $1",
        &[Arg::Bytes(id)],
    )
    .await?
    .ok_or(StoreError::NotFound("hold"))?
    .opt_int("released_ms")
}

/// Give hold `id`'s epoch, if it has one, the expiry `at` (unless set).
async fn expire_hold_epoch<X: Engine>(tx: &mut X::Tx, id: &[u8], at: i64) -> Result<()> {
    X::execute(
        tx,
        "UPDATE epochs SET expires_ms = $1 WHERE epoch_id = $2 AND expires_ms IS NULL",
        &[Arg::Int(at), Arg::Bytes(id)],
    )
    .await?;
    Ok(())
}

/// Move one segment from epoch `from` to `rewrap.epoch_id` inside the
/// caller's transaction: store the re-wrap beside it, make its row name
/// the new epoch. `false` if its row no longer names `from`.
async fn move_segment<X: Engine>(
    tx: &mut X::Tx,
    from: EpochId,
    rewrap: &RewrapRow,
) -> Result<bool> {
    let rid = Arg::Bytes(&rewrap.recording_id.0);
    let idx = Arg::Int(i64::from(rewrap.index));
    let now = X::optional(
        tx,
        "SELECT epoch_id FROM segments WHERE recording_id = $1 AND idx = $2",
        &[rid, idx],
    )
    .await?
    .ok_or(StoreError::NotFound("segment"))?
    .bytes("epoch_id")?;
    if now != from.0 {
        return Ok(false);
    }
    let to = Arg::Bytes(&rewrap.epoch_id.0);
    X::execute(
        tx,
        "INSERT INTO segment_rewraps (recording_id, idx, epoch_id, rewrap) VALUES ($1, $2, $3, $4)
         ON CONFLICT (recording_id, idx) DO UPDATE
         SET epoch_id = excluded.epoch_id, rewrap = excluded.rewrap",
        &[rid, idx, to, Arg::Bytes(&rewrap.rewrap)],
    )
    .await?;
    X::execute(
        tx,
        "UPDATE segments SET epoch_id = $1 WHERE recording_id = $2 AND idx = $3",
        &[to, rid, idx],
    )
    .await?;
    Ok(true)
}

impl<X: Engine> HoldStore for X {
    async fn place_hold(&self, hold: &HoldRow, log: &NewLogEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = X::execute(
            &mut tx,
            X::INSERT_HOLD,
            &[
                Arg::Bytes(&hold.hold_id),
                Arg::Bytes(&hold.group_id.0),
                Arg::Text(&hold.case),
                Arg::Bytes(&hold.device_key),
                Arg::Int(hold.from_ms),
                Arg::Int(hold.to_ms),
                Arg::Int(hold.placed_ms),
            ],
        )
        .await?;
        if done == 0 {
            return Err(StoreError::HoldExists);
        }
        commit_logged::<X>(tx, log).await
    }

    async fn release_hold(&self, id: [u8; 16], released_ms: i64, log: &NewLogEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if released_in::<X>(&mut tx, &id).await?.is_some() {
            return Err(StoreError::HoldReleased);
        }
        X::execute(
            &mut tx,
            "UPDATE holds SET released_ms = $1 WHERE hold_id = $2",
            &[Arg::Int(released_ms), Arg::Bytes(&id)],
        )
        .await?;
        expire_hold_epoch::<X>(&mut tx, &id, released_ms).await?;
        commit_logged::<X>(tx, log).await
    }

    async fn hold(&self, id: [u8; 16]) -> Result<Option<HoldRow>> {
        find(
            self,
            "SELECT * FROM holds WHERE hold_id = $1",
            &[Arg::Bytes(&id)],
            hold_row,
        )
        .await
    }

    async fn holds(&self) -> Result<Vec<HoldRow>> {
        list(
            self,
            "SELECT * FROM holds ORDER BY placed_ms, hold_id",
            &[],
            hold_row,
        )
        .await
    }

    async fn hold_candidates(&self, epoch: EpochId) -> Result<Vec<HoldCandidate>> {
        self.read_all(X::HOLD_CANDIDATES, &[Arg::Bytes(&epoch.0)])
            .await?
            .iter()
            .map(|r| {
                Ok(HoldCandidate {
                    recording_id: RecordingId(arr(
                        r.bytes("recording_id")?,
                        "recording id length",
                    )?),
                    index: index_of(r)?,
                    hold_id: arr(r.bytes("hold_id")?, "hold id length")?,
                })
            })
            .collect()
    }

    async fn hold_segment(&self, from: EpochId, rewrap: &RewrapRow) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let hold = &rewrap.epoch_id.0[..];
        if let Some(released) = released_in::<X>(&mut tx, hold).await? {
            // Converge with a release that came before the hold's epoch
            // was made: the epoch must still expire.
            expire_hold_epoch::<X>(&mut tx, hold, released).await?;
            X::commit(tx).await?;
            return Err(StoreError::HoldReleased);
        }
        let moved = move_segment::<X>(&mut tx, from, rewrap).await?;
        X::commit(tx).await?;
        Ok(moved)
    }

    async fn split_segment(&self, from: EpochId, rewrap: &RewrapRow) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let moved = move_segment::<X>(&mut tx, from, rewrap).await?;
        X::commit(tx).await?;
        Ok(moved)
    }

    async fn epoch_segments(&self, epoch: EpochId) -> Result<Vec<(RecordingId, u32)>> {
        self.read_all(X::EPOCH_SEGMENTS, &[Arg::Bytes(&epoch.0)])
            .await?
            .iter()
            .map(|r| {
                Ok((
                    RecordingId(arr(r.bytes("recording_id")?, "recording id length")?),
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
        self.read_optional(
            "SELECT epoch_id, rewrap FROM segment_rewraps WHERE recording_id = $1 AND idx = $2",
            &[Arg::Bytes(&recording.0), Arg::Int(i64::from(index))],
        )
        .await?
        .map(|r| {
            Ok(RewrapRow {
                recording_id: recording,
                index,
                epoch_id: EpochId(arr(r.bytes("epoch_id")?, "epoch id length")?),
                rewrap: r.bytes("rewrap")?,
            })
        })
        .transpose()
    }
}
