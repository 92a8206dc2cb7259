//! [`IndexStore`] on PostgreSQL: the index and the audit log of vaults
//! that outgrow one machine (docs/vault.md §6). Selected by a
//! `postgres://` database URL (`OBHUT_DATABASE_URL`); the schema is
//! `migrations-postgres/`, kept in step with the SQLite one by
//! `tests/schema_in_step.rs`.
//!
//! **Durability.** Every connection runs with `synchronous_commit=on`
//! (set at connect, whatever the server's default): a commit has reached
//! the server's WAL on disk (and its synchronous standbys, if any) when
//! it returns.
//!
//! **Isolation: one row lock, taken first.** Every write transaction that
//! reads before it writes — every one that sequences an audit entry, and
//! the few that check a state first — begins with `SELECT … FROM log_head
//! … FOR UPDATE` (`begin_write`, engine.rs). So write transactions of all
//! vault processes sharing the database run one at a time, exactly as on
//! SQLite, whose `BEGIN IMMEDIATE` takes the database's single write lock:
//!
//! - the log's next index is `log_head.size` read under the lock and
//!   advanced in the same transaction, so entries are dense and numbered
//!   in commit order, and a transaction that rolls back gives its numbers
//!   back (no gap, unlike a SEQUENCE, and never a committed entry at an
//!   index above one still in flight, which an integrator would skip);
//! - at READ COMMITTED each statement after the lock sees every
//!   transaction that held it before, so the checks of
//!   [`IndexStore::insert_segment`] (the chain head), the access
//!   workflow's state checks and the sweeper's see the latest state: two
//!   servers acknowledging the same segment store it once (the second
//!   gets [`Inserted::Existing`]), and two different records at one index
//!   give one [`StoreError::ChainConflict`], never two acknowledgements.
//!
//! Chosen over SERIALIZABLE with retry: the trait's closures
//! (`redeem_token`'s and `log_prune`'s) run once and cannot be replayed,
//! and a retry loop in every method is more code to get wrong. Chosen
//! over a bare compare-and-swap of the tree head: a lost swap would fail
//! a device's upload where waiting a millisecond for the lock succeeds.
//! The price is that logged writes commit one at a time (one WAL flush
//! each); batching entries into fewer commits is the multi-server
//! sequencer's step (issue 20, item 3). Two further guards refuse a fork
//! even from a writer that skipped the lock: the primary key of
//! `log_entries (idx)` (a second entry at an index is a unique violation,
//! not a fork) and [`crate::LogStore::log_integrate`]'s check, under the lock,
//! that a new checkpoint is larger than the latest.
//!
//! Writes that need no earlier read (a nonce, a token, the instance id)
//! are single statements or `ON CONFLICT` upserts and take no lock.

use std::str::FromStr;

use obhut_core::ids::{EpochId, GroupId, RecordingId};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::sql::column::{arr, to_i64};
use crate::sql::engine::{Engine, commit_logged_if_new};
use crate::sql::rows::{device_row, epoch_row, recording_row, segment_row};
use crate::{
    DeviceRow, EpochRow, GroupRow, Head, IndexStore, Inserted, KeyBytes, NewLogEntry, NewSegment,
    RecordingFilter, RecordingRow, Result, SegmentRow, StoreError, TokenRow,
};

mod access;
mod engine;
pub mod locks;
mod log;
mod retention;
mod sequence;

pub use locks::PgLocks;
use sequence::sequence;

/// The PostgreSQL migrations (`crates/obhut-store/migrations-postgres`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations-postgres");

/// Connections per vault process. Writes queue for the log head's lock
/// anyway; reads (listings, a records answer) run in parallel.
const MAX_CONNECTIONS: u32 = 16;

/// The PostgreSQL index. Cheap to clone (a pool).
#[derive(Debug, Clone)]
pub struct PgIndex {
    pool: PgPool,
    locks: PgLocks,
}
/// A per-group role granted to a person ([`PgIndex::grant_group_role`]).
#[derive(Debug, Clone, Copy)]
enum GroupRole {
    /// May list and fetch the group's recordings.
    Reader,
    /// May ask for access to the group's footage.
    Requester,
}

impl PgIndex {
    /// Connect to `url` (`postgres://user@host:port/db`, or with
    /// `?host=/socket/dir`) and migrate. Several vault processes may
    /// open one database at once: sqlx migrates under an advisory lock.
    pub async fn connect(url: &str) -> Result<Self> {
        let opts = PgConnectOptions::from_str(url)?
            .application_name("obhut")
            .options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(opts.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgIndex {
            pool,
            locks: PgLocks::new(opts),
        })
    }

    /// The pool (tests, `obhut check`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Give `person_key` `role` in `group`, once: the row and its log entry
    /// in one transaction; a repeat changes nothing and logs nothing.
    async fn grant_group_role(
        &self,
        role: GroupRole,
        person_key: KeyBytes,
        group: GroupId,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> Result<()> {
        let insert = match role {
            GroupRole::Reader => {
                "INSERT INTO readers (person_key, group_id, added_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
            }
            GroupRole::Requester => {
                "INSERT INTO requesters (person_key, group_id, added_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
            }
        };
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(insert)
            .bind(&person_key[..])
            .bind(&group.0[..])
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        commit_logged_if_new::<Self>(tx, r.rows_affected() > 0, log).await
    }

    /// Close the pool.
    pub async fn close(&self) {
        self.pool.close().await;
        self.locks.close().await;
    }
}

impl IndexStore for PgIndex {
    async fn instance_id(&self) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'instance_id'")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn set_instance_id(&self, id: &str) -> Result<()> {
        sqlx::query("INSERT INTO meta (key, value) VALUES ('instance_id', $1)")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn shared_locks(&self) -> Option<PgLocks> {
        Some(self.locks.clone())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        // A write probe: a row big enough to need pages (8 KiB) is written
        // and removed in one committed transaction, so the commit appends
        // to the WAL and fails as a real write would — on a full disk, a
        // full database, an I/O error. A read alone (or a rolled-back
        // write, which never reaches the disk) said "ready" while every
        // write failed (issue 16). No log head lock: the probe conflicts
        // with nothing and must not wait behind the writers.
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('write-probe', repeat('0', 8192))
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM meta WHERE key = 'write-probe'")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn put_group(&self, g: &GroupRow, log: &NewLogEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO custody_groups (group_id, descriptor, fingerprint, added_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (group_id) DO UPDATE SET descriptor = excluded.descriptor, fingerprint = excluded.fingerprint",
        )
        .bind(&g.group_id.0[..])
        .bind(&g.descriptor)
        .bind(&g.fingerprint[..])
        .bind(g.added_ms)
        .execute(&mut *tx)
        .await?;
        sequence(&mut tx, std::slice::from_ref(log)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn group(&self, id: GroupId) -> Result<Option<GroupRow>> {
        let Some(r) = sqlx::query("SELECT * FROM custody_groups WHERE group_id = $1")
            .bind(&id.0[..])
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(GroupRow {
            group_id: id,
            descriptor: r.try_get("descriptor")?,
            fingerprint: arr(r.try_get("fingerprint")?, "fingerprint length")?,
            added_ms: r.try_get("added_ms")?,
        }))
    }

    async fn create_token(&self, t: &TokenRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO enrol_tokens (token_hash, group_id, retention_class, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.token_hash[..])
        .bind(&t.group_id.0[..])
        .bind(&t.retention_class)
        .bind(t.created_ms)
        .bind(t.expires_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn redeem_token(
        &self,
        token_hash: [u8; 32],
        device_key: KeyBytes,
        now_ms: i64,
        log: impl FnOnce(&DeviceRow) -> Result<NewLogEntry, obhut_core::Error> + Send,
    ) -> Result<DeviceRow> {
        let mut tx = self.begin_write().await?;
        let Some(t) = sqlx::query("SELECT * FROM enrol_tokens WHERE token_hash = $1")
            .bind(&token_hash[..])
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Err(StoreError::Token("is unknown"));
        };
        let used_by: Option<Vec<u8>> = t.try_get("used_by")?;
        if let Some(u) = &used_by
            && u[..] != device_key[..]
        {
            return Err(StoreError::Token("was already used by another device"));
        }
        if used_by.is_none() && t.try_get::<i64, _>("expires_ms")? <= now_ms {
            return Err(StoreError::Token("has expired"));
        }
        let group_id = GroupId(arr(t.try_get("group_id")?, "group id length")?);
        let class: String = t.try_get("retention_class")?;
        if let Some(d) = sqlx::query("SELECT * FROM devices WHERE device_key = $1")
            .bind(&device_key[..])
            .fetch_optional(&mut *tx)
            .await?
        {
            let d = device_row(&d)?;
            if d.revoked_ms.is_some() {
                return Err(StoreError::Token("cannot re-enrol a revoked device"));
            }
            if d.group_id != group_id || d.retention_class != class {
                return Err(StoreError::Token(
                    "cannot move an enrolled device to another group or class",
                ));
            }
            tx.commit().await?;
            return Ok(d);
        }
        sqlx::query(
            "INSERT INTO devices (device_key, group_id, retention_class, enrolled_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(&device_key[..])
        .bind(&group_id.0[..])
        .bind(&class)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE enrol_tokens SET used_by = $1, used_ms = $2 WHERE token_hash = $3")
            .bind(&device_key[..])
            .bind(now_ms)
            .bind(&token_hash[..])
            .execute(&mut *tx)
            .await?;
        let device = DeviceRow {
            device_key,
            group_id,
            retention_class: class,
            enrolled_ms: now_ms,
            revoked_ms: None,
        };
        sequence(&mut tx, &[log(&device)?]).await?;
        tx.commit().await?;
        Ok(device)
    }

    async fn device(&self, key: KeyBytes) -> Result<Option<DeviceRow>> {
        sqlx::query("SELECT * FROM devices WHERE device_key = $1")
            .bind(&key[..])
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(device_row)
            .transpose()
    }

    async fn devices(&self) -> Result<Vec<DeviceRow>> {
        sqlx::query("SELECT * FROM devices ORDER BY enrolled_ms, device_key")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(device_row)
            .collect()
    }

    async fn revoke_device(&self, key: KeyBytes, now_ms: i64, log: &NewLogEntry) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let revoked: Option<Option<i64>> =
            sqlx::query_scalar("SELECT revoked_ms FROM devices WHERE device_key = $1")
                .bind(&key[..])
                .fetch_optional(&mut *tx)
                .await?;
        match revoked {
            None => return Ok(false),
            Some(Some(_)) => return Ok(true),
            Some(None) => {}
        }
        sqlx::query("UPDATE devices SET revoked_ms = $1 WHERE device_key = $2")
            .bind(now_ms)
            .bind(&key[..])
            .execute(&mut *tx)
            .await?;
        sequence(&mut tx, std::slice::from_ref(log)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn add_reader(
        &self,
        person_key: KeyBytes,
        group: GroupId,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> Result<()> {
        self.grant_group_role(GroupRole::Reader, person_key, group, now_ms, log)
            .await
    }

    async fn add_auditor(
        &self,
        person_key: KeyBytes,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "INSERT INTO auditors (person_key, added_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&person_key[..])
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        commit_logged_if_new::<Self>(tx, r.rows_affected() > 0, log).await
    }

    async fn record_policy(&self, policy: &str, log: &NewLogEntry) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let last: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'policy'")
                .fetch_optional(&mut *tx)
                .await?;
        if last.as_deref() == Some(policy) {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('policy', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(policy)
        .execute(&mut *tx)
        .await?;
        sequence(&mut tx, std::slice::from_ref(log)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn is_auditor(&self, person_key: KeyBytes) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM auditors WHERE person_key = $1")
            .bind(&person_key[..])
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    async fn reader_groups(&self, person_key: KeyBytes) -> Result<Vec<GroupId>> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT group_id FROM readers WHERE person_key = $1")
                .bind(&person_key[..])
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|g| Ok(GroupId(arr(g, "group id length")?)))
            .collect()
    }

    async fn use_nonce(
        &self,
        key: KeyBytes,
        nonce: [u8; 16],
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        // No log head lock: `ON CONFLICT DO NOTHING` waits for a concurrent
        // insert of the same nonce to commit and then inserts nothing, so
        // of two uses at once exactly one is fresh.
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM nonces WHERE expires_ms < $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query(
            "INSERT INTO nonces (device_key, nonce, expires_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(&key[..])
        .bind(&nonce[..])
        .bind(expires_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    async fn nonce_seen(&self, key: KeyBytes, nonce: [u8; 16]) -> Result<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM nonces WHERE device_key = $1 AND nonce = $2")
                .bind(&key[..])
                .bind(&nonce[..])
                .fetch_one(&self.pool)
                .await?;
        Ok(n > 0)
    }

    async fn record_start(&self, now_ms: i64) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let before: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'started_ms'")
                .fetch_optional(&mut *tx)
                .await?;
        let before = before
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| StoreError::Corrupt("started_ms"))
            })
            .transpose()?;
        let start = before.map_or(now_ms, |b| b.max(now_ms));
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('started_ms', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(start.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(start)
    }

    async fn put_epoch(&self, e: &EpochRow, log: &NewLogEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO epochs (epoch_id, retention_class, not_before, not_after, public, expires_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&e.epoch_id.0[..])
        .bind(&e.retention_class)
        .bind(e.not_before)
        .bind(e.not_after)
        .bind(&e.public)
        .bind(e.expires_ms)
        .execute(&mut *tx)
        .await?;
        commit_logged_if_new::<Self>(tx, true, log).await
    }

    async fn epoch(&self, id: EpochId) -> Result<Option<EpochRow>> {
        sqlx::query("SELECT * FROM epochs WHERE epoch_id = $1")
            .bind(&id.0[..])
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(epoch_row)
            .transpose()
    }

    async fn epoch_at(&self, class: &str, not_before: i64) -> Result<Option<EpochRow>> {
        sqlx::query("SELECT * FROM epochs WHERE retention_class = $1 AND not_before = $2")
            .bind(class)
            .bind(not_before)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(epoch_row)
            .transpose()
    }

    async fn known_classes(&self, now_ms: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT retention_class FROM devices WHERE revoked_ms IS NULL
             UNION SELECT retention_class FROM enrol_tokens WHERE used_by IS NULL AND expires_ms > $1
             ORDER BY 1",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn head(&self, id: RecordingId) -> Result<Option<Head>> {
        let r = sqlx::query(
            "SELECT idx, record_hash FROM segments WHERE recording_id = $1 ORDER BY idx DESC LIMIT 1",
        )
        .bind(&id.0[..])
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = r else { return Ok(None) };
        let idx = u32::try_from(r.try_get::<i64, _>("idx")?)
            .map_err(|_| StoreError::Corrupt("segment index"))?;
        Ok(Some(Head {
            next_index: idx.checked_add(1).ok_or(StoreError::Corrupt("index"))?,
            head_record_hash: arr(r.try_get("record_hash")?, "record hash length")?,
        }))
    }

    async fn recording(&self, id: RecordingId) -> Result<Option<RecordingRow>> {
        sqlx::query("SELECT * FROM recordings WHERE recording_id = $1")
            .bind(&id.0[..])
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(recording_row)
            .transpose()
    }

    async fn list_recordings(&self, f: &RecordingFilter) -> Result<Vec<RecordingRow>> {
        // Filter by group in Rust: the reader's group list is short and
        // static SQL keeps every statement a compile-time string.
        let rows = sqlx::query(
            "SELECT * FROM recordings
             WHERE ($1 IS NULL OR device_key = $1)
               AND ($2 IS NULL OR first_capture_ms >= $2)
               AND ($3 IS NULL OR first_capture_ms < $3)
             ORDER BY first_capture_ms, recording_id",
        )
        .bind(f.device.as_ref().map(|d| d.to_vec()))
        .bind(f.from_ms)
        .bind(f.to_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let r = recording_row(r)?;
            if f.groups.contains(&r.group_id) {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn segment(&self, id: RecordingId, index: u32) -> Result<Option<SegmentRow>> {
        sqlx::query("SELECT * FROM segments WHERE recording_id = $1 AND idx = $2")
            .bind(&id.0[..])
            .bind(i64::from(index))
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(segment_row)
            .transpose()
    }

    async fn segments(&self, id: RecordingId) -> Result<Vec<SegmentRow>> {
        sqlx::query("SELECT * FROM segments WHERE recording_id = $1 ORDER BY idx")
            .bind(&id.0[..])
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(segment_row)
            .collect()
    }

    async fn segment_keys(&self) -> Result<Vec<(RecordingId, u32)>> {
        let rows = sqlx::query("SELECT recording_id, idx FROM segments")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    RecordingId(arr(r.try_get("recording_id")?, "recording id length")?),
                    u32::try_from(r.try_get::<i64, _>("idx")?)
                        .map_err(|_| StoreError::Corrupt("segment index"))?,
                ))
            })
            .collect()
    }

    async fn insert_segment(&self, s: &NewSegment) -> Result<Inserted> {
        let row = &s.row;
        let rid = &row.recording_id.0[..];
        let mut tx = self.begin_write().await?;
        if let Some(existing) =
            sqlx::query("SELECT * FROM segments WHERE recording_id = $1 AND idx = $2")
                .bind(rid)
                .bind(i64::from(row.index))
                .fetch_optional(&mut *tx)
                .await?
        {
            let existing = segment_row(&existing)?;
            if existing.record == row.record {
                return Ok(Inserted::Existing(existing));
            }
            return Err(StoreError::ChainConflict {
                index: row.index,
                reason: "another record is stored at this index",
            });
        }
        let rec = sqlx::query("SELECT * FROM recordings WHERE recording_id = $1")
            .bind(rid)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(recording_row)
            .transpose()?;
        let next_index = rec.as_ref().map_or(0, |r| r.segment_count);
        if row.index > next_index {
            return Err(StoreError::OutOfOrder {
                index: row.index,
                next_index,
            });
        }
        if let Some(r) = &rec {
            if r.device_key != s.device_key {
                return Err(StoreError::ChainConflict {
                    index: row.index,
                    reason: "the recording belongs to another device",
                });
            }
            if r.complete {
                return Err(StoreError::ChainConflict {
                    index: row.index,
                    reason: "the recording's final segment is already stored",
                });
            }
        }
        if row.index == 0 {
            if s.prev_record_hash != [0; 32] {
                return Err(StoreError::ChainConflict {
                    index: 0,
                    reason: "segment 0 must have a zero prev_record_hash",
                });
            }
        } else {
            let prev: Vec<u8> = sqlx::query_scalar(
                "SELECT record_hash FROM segments WHERE recording_id = $1 AND idx = $2",
            )
            .bind(rid)
            .bind(i64::from(row.index - 1))
            .fetch_one(&mut *tx)
            .await?;
            if prev[..] != s.prev_record_hash[..] {
                return Err(StoreError::ChainConflict {
                    index: row.index,
                    reason: "prev_record_hash does not match the stored previous record",
                });
            }
        }
        let blob_len = to_i64(row.blob_len, "blob length")?;
        if rec.is_none() {
            sqlx::query(
                "INSERT INTO recordings (recording_id, device_key, group_id, retention_class, first_capture_ms, segment_count, total_bytes, complete)
                 VALUES ($1, $2, $3, $4, $5, 0, 0, 0)",
            )
            .bind(rid)
            .bind(&s.device_key[..])
            .bind(&s.group_id.0[..])
            .bind(&s.retention_class)
            .bind(row.capture_ms)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE recordings SET segment_count = segment_count + 1, total_bytes = total_bytes + $1,
                    complete = $2 WHERE recording_id = $3",
        )
        .bind(blob_len)
        .bind(i64::from(s.is_final))
        .bind(rid)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO segments (recording_id, idx, record, record_hash, blob_len, capture_ms, epoch_id, received_ms, receipt)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(rid)
        .bind(i64::from(row.index))
        .bind(&row.record)
        .bind(&row.record_hash[..])
        .bind(blob_len)
        .bind(row.capture_ms)
        .bind(&row.epoch_id.0[..])
        .bind(row.received_ms)
        .bind(&row.receipt)
        .execute(&mut *tx)
        .await?;
        sequence(&mut tx, std::slice::from_ref(&s.log)).await?;
        tx.commit().await?;
        Ok(Inserted::New)
    }
}
