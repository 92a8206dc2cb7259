//! [`IndexStore`] on SQLite (`DATA/obhut.sqlite`), WAL journal with
//! `synchronous=FULL`: a commit is durable when it returns. Other processes
//! (the admin CLI) may open the same file while the server runs; writers
//! take the lock with `BEGIN IMMEDIATE` and wait up to the busy timeout.
//!
//! The schema is `schema.sql` (the authority); `migrations/` builds it and
//! `tests/schema.rs` checks that they agree. A database written by a newer
//! version is refused ([`StoreError::Migrate`]).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use obhut_core::ids::{EpochId, GroupId, RecordingId};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Row};

use crate::{
    DeviceRow, EpochRow, GroupRow, Head, IndexStore, Inserted, KeyBytes, NewLogEntry, NewSegment,
    RecordingFilter, RecordingRow, Result, SegmentRow, StoreError, TokenRow,
};

mod access;
mod engine;
#[cfg(feature = "test-util")]
mod faults;
mod log;
mod retention;
mod sequence;

use crate::sql::column::{arr, to_i64};
use crate::sql::engine::{Engine, commit_logged_if_new};
use crate::sql::rows::{device_row, epoch_row, recording_row, segment_row};
use sequence::sequence;

/// The embedded migrations (`crates/obhut-store/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The SQLite index.
///
/// Two pools: every write goes through the one connection of `writer`,
/// so writers of this process queue for it in order (an async wait)
/// instead of meeting at SQLite's file lock, whose busy handler sleeps
/// in steps of 1 ms and more while the lock is held: uploads pipelined
/// behind each other used to collide there on every segment.
/// `readers` serve the reads, in parallel, and cannot write
/// (`query_only`). Another process (the admin CLI) still meets the
/// server at the file lock (`BEGIN IMMEDIATE`, the busy timeout).
///
/// **After a failed write** the connection must not stay wedged (issue
/// 16): when a COMMIT fails (disk full, an I/O error), SQLite may already
/// have rolled the transaction back, sqlx's ROLLBACK on drop then fails
/// ("no transaction is active"), and sqlx still counts the connection as
/// inside a transaction, so every later `BEGIN IMMEDIATE` was refused —
/// one failed commit made every write, and so every authenticated
/// request, fail until a restart. The writer pool therefore checks each
/// connection it takes back ([`writer_is_clean`]) and closes one that is
/// still in a transaction; the next write opens a fresh connection.
#[derive(Debug, Clone)]
pub struct SqliteIndex {
    readers: SqlitePool,
    writer: SqlitePool,
    /// Faults tests inject into the writing connection (`faults.rs`).
    #[cfg(feature = "test-util")]
    faults: std::sync::Arc<faults::WriteFaults>,
}

/// Whether a writing connection handed back to the pool may serve the
/// next write: not left inside a transaction. The ping first lets the
/// connection's worker run the ROLLBACK a dropped transaction queued
/// (commands run in order), so a transaction that was rolled back is not
/// taken for one still open.
async fn writer_is_clean(
    conn: &mut sqlx::SqliteConnection,
) -> std::result::Result<bool, sqlx::Error> {
    conn.ping().await?;
    Ok(!conn.is_in_transaction())
}

/// A per-group role granted to a person ([`SqliteIndex::grant_group_role`]).
#[derive(Debug, Clone, Copy)]
enum GroupRole {
    /// May list and fetch the group's recordings.
    Reader,
    /// May ask for access to the group's footage.
    Requester,
}

/// How much of the database file a reading connection maps instead of
/// reading it page by page. A segment row (WITHOUT ROWID, a 1.6 KB record)
/// overflows its b-tree page, so listing a 10-hour recording's 3,601
/// records read some 5,000 pages, each a `pread` into a page cache that a
/// commit by the writer empties again: a third or more of the records
/// answer's time (50–65 ms → 30–35 ms, measured on a loaded 2-core VM).
/// Mapped, the same pages come from the OS page cache without a system
/// call. The price (docs/vault.md §6): a disk read error under a mapped
/// page is a SIGBUS, not an error for one request.
const READER_MMAP_BYTES: u64 = 1 << 30;

impl SqliteIndex {
    /// Open (creating if missing) and migrate.
    pub async fn open(path: &Path) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        #[cfg(feature = "test-util")]
        let faults = std::sync::Arc::new(faults::WriteFaults::default());
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .after_release(|conn, _| Box::pin(writer_is_clean(conn)));
        #[cfg(feature = "test-util")]
        let writer = {
            let f = faults.clone();
            writer.after_connect(move |conn, _| {
                let f = f.clone();
                Box::pin(async move {
                    f.install(conn)
                        .await
                        .map_err(|e| sqlx::Error::Configuration(e.to_string().into()))
                })
            })
        };
        let writer = writer.connect_with(opts.clone()).await?;
        MIGRATOR.run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(
                opts.pragma("query_only", "ON")
                    .pragma("mmap_size", READER_MMAP_BYTES.to_string()),
            )
            .await?;
        Ok(SqliteIndex {
            readers,
            writer,
            #[cfg(feature = "test-util")]
            faults,
        })
    }

    /// The writing connection (tests, `obhut check`): it may read and
    /// write.
    pub fn pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// The reading connections (they refuse writes).
    fn readers(&self) -> &SqlitePool {
        &self.readers
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
                "INSERT INTO readers (person_key, group_id, added_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
            }
            GroupRole::Requester => {
                "INSERT INTO requesters (person_key, group_id, added_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
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

    /// Close the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

impl IndexStore for SqliteIndex {
    async fn instance_id(&self) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'instance_id'")
                .fetch_optional(&self.readers)
                .await?,
        )
    }

    async fn set_instance_id(&self, id: &str) -> Result<()> {
        sqlx::query("INSERT INTO meta (key, value) VALUES ('instance_id', ?)")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        // A write probe: a row big enough to need pages (8 KiB) is written
        // and removed in one committed transaction, so the commit appends
        // to the WAL and fails as a real write would — on a full disk, a
        // full database, an I/O error. A read alone (or a rolled-back
        // write, which never reaches the disk) said "ready" while every
        // write failed (issue 16).
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('write-probe', hex(zeroblob(4096)))
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
            "INSERT INTO custody_groups (group_id, descriptor, fingerprint, added_ms) VALUES (?, ?, ?, ?)
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
        let Some(r) = sqlx::query("SELECT * FROM custody_groups WHERE group_id = ?")
            .bind(&id.0[..])
            .fetch_optional(&self.readers)
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
            "INSERT INTO enrol_tokens (token_hash, group_id, retention_class, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&t.token_hash[..])
        .bind(&t.group_id.0[..])
        .bind(&t.retention_class)
        .bind(t.created_ms)
        .bind(t.expires_ms)
        .execute(&self.writer)
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
        let Some(t) = sqlx::query("SELECT * FROM enrol_tokens WHERE token_hash = ?")
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
        if let Some(d) = sqlx::query("SELECT * FROM devices WHERE device_key = ?")
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
            "INSERT INTO devices (device_key, group_id, retention_class, enrolled_ms) VALUES (?, ?, ?, ?)",
        )
        .bind(&device_key[..])
        .bind(&group_id.0[..])
        .bind(&class)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE enrol_tokens SET used_by = ?, used_ms = ? WHERE token_hash = ?")
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
        sqlx::query("SELECT * FROM devices WHERE device_key = ?")
            .bind(&key[..])
            .fetch_optional(&self.readers)
            .await?
            .as_ref()
            .map(device_row)
            .transpose()
    }

    async fn devices(&self) -> Result<Vec<DeviceRow>> {
        sqlx::query("SELECT * FROM devices ORDER BY enrolled_ms, device_key")
            .fetch_all(&self.readers)
            .await?
            .iter()
            .map(device_row)
            .collect()
    }

    async fn revoke_device(&self, key: KeyBytes, now_ms: i64, log: &NewLogEntry) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let revoked: Option<Option<i64>> =
            sqlx::query_scalar("SELECT revoked_ms FROM devices WHERE device_key = ?")
                .bind(&key[..])
                .fetch_optional(&mut *tx)
                .await?;
        match revoked {
            None => return Ok(false),
            Some(Some(_)) => return Ok(true),
            Some(None) => {}
        }
        sqlx::query("UPDATE devices SET revoked_ms = ? WHERE device_key = ?")
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
            "INSERT INTO auditors (person_key, added_ms) VALUES (?, ?) ON CONFLICT DO NOTHING",
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
            "INSERT INTO meta (key, value) VALUES ('policy', ?)
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
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM auditors WHERE person_key = ?")
            .bind(&person_key[..])
            .fetch_one(&self.readers)
            .await?;
        Ok(n > 0)
    }

    async fn reader_groups(&self, person_key: KeyBytes) -> Result<Vec<GroupId>> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT group_id FROM readers WHERE person_key = ?")
                .bind(&person_key[..])
                .fetch_all(&self.readers)
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
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM nonces WHERE expires_ms < ?")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query(
            "INSERT INTO nonces (device_key, nonce, expires_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
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
            sqlx::query_scalar("SELECT COUNT(*) FROM nonces WHERE device_key = ? AND nonce = ?")
                .bind(&key[..])
                .bind(&nonce[..])
                .fetch_one(&self.readers)
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
            "INSERT INTO meta (key, value) VALUES ('started_ms', ?)
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
            "INSERT INTO epochs (epoch_id, retention_class, not_before, not_after, public, expires_ms) VALUES (?, ?, ?, ?, ?, ?)",
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
        sqlx::query("SELECT * FROM epochs WHERE epoch_id = ?")
            .bind(&id.0[..])
            .fetch_optional(&self.readers)
            .await?
            .as_ref()
            .map(epoch_row)
            .transpose()
    }

    async fn epoch_at(&self, class: &str, not_before: i64) -> Result<Option<EpochRow>> {
        sqlx::query("SELECT * FROM epochs WHERE retention_class = ? AND not_before = ?")
            .bind(class)
            .bind(not_before)
            .fetch_optional(&self.readers)
            .await?
            .as_ref()
            .map(epoch_row)
            .transpose()
    }

    async fn known_classes(&self, now_ms: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT retention_class FROM devices WHERE revoked_ms IS NULL
             UNION SELECT retention_class FROM enrol_tokens WHERE used_by IS NULL AND expires_ms > ?
             ORDER BY 1",
        )
        .bind(now_ms)
        .fetch_all(&self.readers)
        .await?)
    }

    async fn head(&self, id: RecordingId) -> Result<Option<Head>> {
        let r = sqlx::query(
            "SELECT idx, record_hash FROM segments WHERE recording_id = ? ORDER BY idx DESC LIMIT 1",
        )
        .bind(&id.0[..])
        .fetch_optional(&self.readers)
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
        sqlx::query("SELECT * FROM recordings WHERE recording_id = ?")
            .bind(&id.0[..])
            .fetch_optional(&self.readers)
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
             WHERE (?1 IS NULL OR device_key = ?1)
               AND (?2 IS NULL OR first_capture_ms >= ?2)
               AND (?3 IS NULL OR first_capture_ms < ?3)
             ORDER BY first_capture_ms, recording_id",
        )
        .bind(f.device.as_ref().map(|d| d.to_vec()))
        .bind(f.from_ms)
        .bind(f.to_ms)
        .fetch_all(&self.readers)
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
        sqlx::query("SELECT * FROM segments WHERE recording_id = ? AND idx = ?")
            .bind(&id.0[..])
            .bind(i64::from(index))
            .fetch_optional(&self.readers)
            .await?
            .as_ref()
            .map(segment_row)
            .transpose()
    }

    async fn segments(&self, id: RecordingId) -> Result<Vec<SegmentRow>> {
        sqlx::query("SELECT * FROM segments WHERE recording_id = ? ORDER BY idx")
            .bind(&id.0[..])
            .fetch_all(&self.readers)
            .await?
            .iter()
            .map(segment_row)
            .collect()
    }

    async fn segment_keys(&self) -> Result<Vec<(RecordingId, u32)>> {
        let rows = sqlx::query("SELECT recording_id, idx FROM segments")
            .fetch_all(&self.readers)
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
            sqlx::query("SELECT * FROM segments WHERE recording_id = ? AND idx = ?")
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
        let rec = sqlx::query("SELECT * FROM recordings WHERE recording_id = ?")
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
                "SELECT record_hash FROM segments WHERE recording_id = ? AND idx = ?",
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
                 VALUES (?, ?, ?, ?, ?, 0, 0, 0)",
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
            "UPDATE recordings SET segment_count = segment_count + 1, total_bytes = total_bytes + ?,
                    complete = ? WHERE recording_id = ?",
        )
        .bind(blob_len)
        .bind(i64::from(s.is_final))
        .bind(rid)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO segments (recording_id, idx, record, record_hash, blob_len, capture_ms, epoch_id, received_ms, receipt)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) async fn index() -> (tempfile::TempDir, SqliteIndex) {
        let d = tempfile::tempdir().unwrap();
        let index = SqliteIndex::open(&d.path().join("obhut.sqlite"))
            .await
            .unwrap();
        (d, index)
    }

    #[tokio::test]
    async fn the_reading_connections_refuse_writes() {
        let (_d, index) = index().await;
        let e = sqlx::query("INSERT INTO meta (key, value) VALUES ('x', 'y')")
            .execute(index.readers())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("readonly"), "{e}");
        // What the writer commits, a reader sees.
        index.set_instance_id("written").await.unwrap();
        assert_eq!(
            index.instance_id().await.unwrap().as_deref(),
            Some("written")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_of_one_process_all_commit() {
        let (_d, index) = index().await;
        let tasks: Vec<_> = (0u8..64)
            .map(|i| {
                let index = index.clone();
                tokio::spawn(async move {
                    let mut nonce = [0u8; 16];
                    nonce[0] = i;
                    index.use_nonce([7; 32], nonce, i64::MAX, 0).await
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().unwrap(), "every nonce is fresh");
        }
        // And a repeat is seen by the next writer.
        assert!(
            !index
                .use_nonce([7; 32], [0; 16], i64::MAX, 0)
                .await
                .unwrap()
        );
    }
}
