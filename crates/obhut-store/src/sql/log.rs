//! [`LogStore`] on either SQL engine: tables `log_entries`, `log_tiles`,
//! `log_checkpoints`. Where the log's size comes from differs
//! ([`Engine::LOG_SIZE`]: SQLite counts the entries, PostgreSQL reads
//! `log_head`), as does a byte string's length in the tile upsert
//! ([`Engine::UPSERT_TILE`]).

use obhut_core::ids::RecordingId;

use super::Columns;
use super::column::{arr, lookup_i64, to_i64, to_u64};
use super::engine::{Arg, Engine, find, list};
use super::rows::{checkpoint_row, entry_row};
use crate::{LogEntryRow, LogStore, NewLogEntry, Result, StoreError, StoredCheckpoint, TileRow};

impl<X: Engine> LogStore for X {
    async fn log_append(&self, entries: &[NewLogEntry]) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let first = X::sequence(&mut tx, entries).await?;
        X::commit(tx).await?;
        Ok(first)
    }

    async fn log_sequenced(&self) -> Result<u64> {
        let n = self
            .read_optional(X::LOG_SIZE, &[])
            .await?
            .ok_or(StoreError::Corrupt("log size"))?
            .int("size")?;
        to_u64(n, "log size")
    }

    async fn log_leaf_hashes(&self, from: u64, limit: u32) -> Result<Vec<[u8; 32]>> {
        let Some(from) = lookup_i64(from) else {
            return Ok(Vec::new());
        };
        self.read_all(
            "SELECT leaf_hash FROM log_entries WHERE idx >= $1 ORDER BY idx LIMIT $2",
            &[Arg::Int(from), Arg::Int(i64::from(limit))],
        )
        .await?
        .iter()
        .map(|r| arr(r.bytes("leaf_hash")?, "leaf hash length"))
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
        let latest = X::optional(
            &mut tx,
            "SELECT MAX(size) AS latest FROM log_checkpoints",
            &[],
        )
        .await?
        .map(|r| r.opt_int("latest"))
        .transpose()?
        .flatten();
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
            X::execute(
                &mut tx,
                X::UPSERT_TILE,
                &[
                    Arg::Int(i64::from(t.level)),
                    Arg::Int(to_i64(t.index, "tile index")?),
                    Arg::Bytes(&t.hashes),
                ],
            )
            .await?;
        }
        X::execute(
            &mut tx,
            "INSERT INTO log_checkpoints (size, time_ms, note, edge) VALUES ($1, $2, $3, $4)",
            &[
                Arg::Int(size),
                Arg::Int(cp.time_ms),
                Arg::Bytes(&cp.note),
                Arg::Bytes(&cp.edge),
            ],
        )
        .await?;
        X::commit(tx).await
    }

    async fn log_cosigned(&self, size: u64, note: &[u8]) -> Result<()> {
        self.write(
            "UPDATE log_checkpoints SET note = $1 WHERE size = $2",
            &[Arg::Bytes(note), Arg::Int(to_i64(size, "checkpoint size")?)],
        )
        .await?;
        Ok(())
    }

    async fn log_tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>> {
        let Some(index) = lookup_i64(index) else {
            return Ok(None);
        };
        self.read_optional(
            "SELECT hashes FROM log_tiles WHERE level = $1 AND idx = $2",
            &[Arg::Int(i64::from(level)), Arg::Int(index)],
        )
        .await?
        .map(|r| r.bytes("hashes"))
        .transpose()
    }

    async fn log_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        find(
            self,
            "SELECT * FROM log_checkpoints ORDER BY size DESC LIMIT 1",
            &[],
            checkpoint_row,
        )
        .await
    }

    async fn log_checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>> {
        let Some(size) = lookup_i64(size) else {
            return Ok(None);
        };
        find(
            self,
            "SELECT * FROM log_checkpoints WHERE size = $1",
            &[Arg::Int(size)],
            checkpoint_row,
        )
        .await
    }

    async fn log_entries(&self, from: u64, limit: u32) -> Result<Vec<LogEntryRow>> {
        let Some(from) = lookup_i64(from) else {
            return Ok(Vec::new());
        };
        list(
            self,
            "SELECT * FROM log_entries WHERE idx >= $1 ORDER BY idx LIMIT $2",
            &[Arg::Int(from), Arg::Int(i64::from(limit))],
            entry_row,
        )
        .await
    }

    async fn log_recording_entries(&self, recording: RecordingId) -> Result<Vec<LogEntryRow>> {
        list(
            self,
            "SELECT * FROM log_entries WHERE recording_id = $1 ORDER BY idx",
            &[Arg::Bytes(&recording.0)],
            entry_row,
        )
        .await
    }

    async fn log_entries_of_kind(&self, kind: &str) -> Result<Vec<LogEntryRow>> {
        list(
            self,
            "SELECT * FROM log_entries WHERE kind = $1 ORDER BY idx",
            &[Arg::Text(kind)],
            entry_row,
        )
        .await
    }

    async fn log_prune(
        &self,
        before_ms: i64,
        integrated: u64,
        now_ms: i64,
        receipt: impl FnOnce(u64) -> Option<NewLogEntry> + Send,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let n = X::execute(
            &mut tx,
            "UPDATE log_entries SET body = NULL, pruned_ms = $1
             WHERE time_ms < $2 AND idx < $3 AND body IS NOT NULL",
            &[
                Arg::Int(now_ms),
                Arg::Int(before_ms),
                Arg::Int(to_i64(integrated, "log size")?),
            ],
        )
        .await?;
        if let Some(e) = receipt(n) {
            X::sequence(&mut tx, std::slice::from_ref(&e)).await?;
        }
        X::commit(tx).await?;
        Ok(n)
    }
}
