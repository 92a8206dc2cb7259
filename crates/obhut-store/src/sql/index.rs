//! [`IndexStore`] on either SQL engine: groups, enrolment tokens,
//! devices, people's roles, nonces, epochs, recordings and segments. What
//! differs is the engine's: the write probe's row
//! ([`Engine::WRITE_PROBE`]), the transaction of a write that needs no
//! lock ([`Engine::begin_unlocked`]) and the locks servers sharing a
//! database hold ([`Engine::locks`]).

use obhut_core::ids::{EpochId, GroupId, RecordingId};

use super::Columns;
use super::access::{GroupRole, grant_group_role};
use super::column::{arr, to_i64, to_u32};
use super::engine::{Arg, Engine, commit_logged, commit_logged_if_new, find, list};
use super::rows::{device_row, epoch_row, group_of, index_of, recording_row, segment_row};
use crate::{
    DeviceRow, EpochRow, GroupRow, Head, IndexStore, Inserted, KeyBytes, NewLogEntry, NewSegment,
    RecordingFilter, RecordingRow, Result, SegmentRow, SharedLocks, StoreError, TokenRow,
};

/// A `COUNT(*) AS n` read on the reading connections.
async fn count<X: Engine>(ix: &X, sql: &'static str, args: &[Arg<'_>]) -> Result<i64> {
    ix.read_optional(sql, args)
        .await?
        .map_or(Ok(0), |r| r.int("n"))
}

/// The `value` of `meta` row `key`, inside a write transaction.
async fn meta_in<X: Engine>(tx: &mut X::Tx, key: &str) -> Result<Option<String>> {
    X::optional(
        tx,
        "SELECT value FROM meta WHERE key = $1",
        &[Arg::Text(key)],
    )
    .await?
    .map(|r| r.text("value"))
    .transpose()
}

/// Set `meta` row `key` to `value` inside a write transaction.
async fn set_meta_in<X: Engine>(tx: &mut X::Tx, key: &str, value: &str) -> Result<()> {
    X::execute(
        tx,
        "INSERT INTO meta (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[Arg::Text(key), Arg::Text(value)],
    )
    .await?;
    Ok(())
}

impl<X: Engine> IndexStore for X {
    async fn instance_id(&self) -> Result<Option<String>> {
        self.read_optional("SELECT value FROM meta WHERE key = 'instance_id'", &[])
            .await?
            .map(|r| r.text("value"))
            .transpose()
    }

    async fn set_instance_id(&self, id: &str) -> Result<()> {
        self.write(
            "INSERT INTO meta (key, value) VALUES ('instance_id', $1)",
            &[Arg::Text(id)],
        )
        .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        self.read_all("SELECT 1", &[]).await?;
        // A write probe: a row big enough to need pages (8 KiB) is written
        // and removed in one committed transaction, so the commit appends
        // to the WAL and fails as a real write would — on a full disk, a
        // full database, an I/O error. A read alone (or a rolled-back
        // write, which never reaches the disk) said "ready" while every
        // write failed (issue 16).
        let mut tx = self.begin_unlocked().await?;
        X::execute(&mut tx, X::WRITE_PROBE, &[]).await?;
        X::execute(&mut tx, "DELETE FROM meta WHERE key = 'write-probe'", &[]).await?;
        X::commit(tx).await
    }

    fn shared_locks(&self) -> Option<SharedLocks> {
        self.locks()
    }

    async fn put_group(&self, g: &GroupRow, log: &NewLogEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        X::execute(
            &mut tx,
            "INSERT INTO custody_groups (group_id, descriptor, fingerprint, added_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (group_id) DO UPDATE SET descriptor = excluded.descriptor, fingerprint = excluded.fingerprint",
            &[
                Arg::Bytes(&g.group_id.0),
                Arg::Bytes(&g.descriptor),
                Arg::Bytes(&g.fingerprint),
                Arg::Int(g.added_ms),
            ],
        )
        .await?;
        commit_logged::<X>(tx, log).await
    }

    async fn group(&self, id: GroupId) -> Result<Option<GroupRow>> {
        let Some(r) = self
            .read_optional(
                "SELECT * FROM custody_groups WHERE group_id = $1",
                &[Arg::Bytes(&id.0)],
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(GroupRow {
            group_id: id,
            descriptor: r.bytes("descriptor")?,
            fingerprint: arr(r.bytes("fingerprint")?, "fingerprint length")?,
            added_ms: r.int("added_ms")?,
        }))
    }

    async fn create_token(&self, t: &TokenRow) -> Result<()> {
        self.write(
            "INSERT INTO enrol_tokens (token_hash, group_id, retention_class, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5)",
            &[
                Arg::Bytes(&t.token_hash),
                Arg::Bytes(&t.group_id.0),
                Arg::Text(&t.retention_class),
                Arg::Int(t.created_ms),
                Arg::Int(t.expires_ms),
            ],
        )
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
        let Some(t) = X::optional(
            &mut tx,
            "SELECT * FROM enrol_tokens WHERE token_hash = $1",
            &[Arg::Bytes(&token_hash)],
        )
        .await?
        else {
            return Err(StoreError::Token("is unknown"));
        };
        let used_by = t.opt_bytes("used_by")?;
        if let Some(u) = &used_by
            && u[..] != device_key[..]
        {
            return Err(StoreError::Token("was already used by another device"));
        }
        if used_by.is_none() && t.int("expires_ms")? <= now_ms {
            return Err(StoreError::Token("has expired"));
        }
        let group_id = GroupId(arr(t.bytes("group_id")?, "group id length")?);
        let class = t.text("retention_class")?;
        if let Some(d) = X::optional(
            &mut tx,
            "SELECT * FROM devices WHERE device_key = $1",
            &[Arg::Bytes(&device_key)],
        )
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
            X::commit(tx).await?;
            return Ok(d);
        }
        X::execute(
            &mut tx,
            "INSERT INTO devices (device_key, group_id, retention_class, enrolled_ms) VALUES ($1, $2, $3, $4)",
            &[
                Arg::Bytes(&device_key),
                Arg::Bytes(&group_id.0),
                Arg::Text(&class),
                Arg::Int(now_ms),
            ],
        )
        .await?;
        X::execute(
            &mut tx,
            "UPDATE enrol_tokens SET used_by = $1, used_ms = $2 WHERE token_hash = $3",
            &[
                Arg::Bytes(&device_key),
                Arg::Int(now_ms),
                Arg::Bytes(&token_hash),
            ],
        )
        .await?;
        let device = DeviceRow {
            device_key,
            group_id,
            retention_class: class,
            enrolled_ms: now_ms,
            revoked_ms: None,
        };
        X::sequence(&mut tx, &[log(&device)?]).await?;
        X::commit(tx).await?;
        Ok(device)
    }

    async fn device(&self, key: KeyBytes) -> Result<Option<DeviceRow>> {
        find(
            self,
            "SELECT * FROM devices WHERE device_key = $1",
            &[Arg::Bytes(&key)],
            device_row,
        )
        .await
    }

    async fn devices(&self) -> Result<Vec<DeviceRow>> {
        list(
            self,
            "SELECT * FROM devices ORDER BY enrolled_ms, device_key",
            &[],
            device_row,
        )
        .await
    }

    async fn revoke_device(&self, key: KeyBytes, now_ms: i64, log: &NewLogEntry) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let Some(d) = X::optional(
            &mut tx,
            "SELECT revoked_ms FROM devices WHERE device_key = $1",
            &[Arg::Bytes(&key)],
        )
        .await?
        else {
            return Ok(false);
        };
        if d.opt_int("revoked_ms")?.is_some() {
            return Ok(true);
        }
        X::execute(
            &mut tx,
            "UPDATE devices SET revoked_ms = $1 WHERE device_key = $2",
            &[Arg::Int(now_ms), Arg::Bytes(&key)],
        )
        .await?;
        commit_logged::<X>(tx, log).await?;
        Ok(true)
    }

    async fn add_reader(
        &self,
        person_key: KeyBytes,
        group: GroupId,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> Result<()> {
        grant_group_role(self, GroupRole::Reader, person_key, group, now_ms, log).await
    }

    async fn add_auditor(
        &self,
        person_key: KeyBytes,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = X::execute(
            &mut tx,
            "INSERT INTO auditors (person_key, added_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[Arg::Bytes(&person_key), Arg::Int(now_ms)],
        )
        .await?;
        commit_logged_if_new::<X>(tx, n > 0, log).await
    }

    async fn record_policy(&self, policy: &str, log: &NewLogEntry) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        if meta_in::<X>(&mut tx, "policy").await?.as_deref() == Some(policy) {
            return Ok(false);
        }
        set_meta_in::<X>(&mut tx, "policy", policy).await?;
        commit_logged::<X>(tx, log).await?;
        Ok(true)
    }

    async fn is_auditor(&self, person_key: KeyBytes) -> Result<bool> {
        let n = count(
            self,
            "SELECT COUNT(*) AS n FROM auditors WHERE person_key = $1",
            &[Arg::Bytes(&person_key)],
        )
        .await?;
        Ok(n > 0)
    }

    async fn reader_groups(&self, person_key: KeyBytes) -> Result<Vec<GroupId>> {
        list(
            self,
            "SELECT group_id FROM readers WHERE person_key = $1",
            &[Arg::Bytes(&person_key)],
            group_of,
        )
        .await
    }

    async fn use_nonce(
        &self,
        key: KeyBytes,
        nonce: [u8; 16],
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_unlocked().await?;
        X::execute(
            &mut tx,
            "DELETE FROM nonces WHERE expires_ms < $1",
            &[Arg::Int(now_ms)],
        )
        .await?;
        let n = X::execute(
            &mut tx,
            "INSERT INTO nonces (device_key, nonce, expires_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[Arg::Bytes(&key), Arg::Bytes(&nonce), Arg::Int(expires_ms)],
        )
        .await?;
        X::commit(tx).await?;
        Ok(n == 1)
    }

    async fn nonce_seen(&self, key: KeyBytes, nonce: [u8; 16]) -> Result<bool> {
        let n = count(
            self,
            "SELECT COUNT(*) AS n FROM nonces WHERE device_key = $1 AND nonce = $2",
            &[Arg::Bytes(&key), Arg::Bytes(&nonce)],
        )
        .await?;
        Ok(n > 0)
    }

    async fn record_start(&self, now_ms: i64) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let before = meta_in::<X>(&mut tx, "started_ms")
            .await?
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| StoreError::Corrupt("started_ms"))
            })
            .transpose()?;
        let start = before.map_or(now_ms, |b| b.max(now_ms));
        set_meta_in::<X>(&mut tx, "started_ms", &start.to_string()).await?;
        X::commit(tx).await?;
        Ok(start)
    }

    async fn put_epoch(&self, e: &EpochRow, log: &NewLogEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        X::execute(
            &mut tx,
            "INSERT INTO epochs (epoch_id, retention_class, not_before, not_after, public, expires_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                Arg::Bytes(&e.epoch_id.0),
                Arg::Text(&e.retention_class),
                Arg::Int(e.not_before),
                Arg::Int(e.not_after),
                Arg::Bytes(&e.public),
                Arg::OptInt(e.expires_ms),
            ],
        )
        .await?;
        commit_logged::<X>(tx, log).await
    }

    async fn epoch(&self, id: EpochId) -> Result<Option<EpochRow>> {
        find(
            self,
            "SELECT * FROM epochs WHERE epoch_id = $1",
            &[Arg::Bytes(&id.0)],
            epoch_row,
        )
        .await
    }

    async fn epoch_at(&self, class: &str, not_before: i64) -> Result<Option<EpochRow>> {
        find(
            self,
            "SELECT * FROM epochs WHERE retention_class = $1 AND not_before = $2",
            &[Arg::Text(class), Arg::Int(not_before)],
            epoch_row,
        )
        .await
    }

    async fn known_classes(&self, now_ms: i64) -> Result<Vec<String>> {
        self.read_all(
            "SELECT retention_class FROM devices WHERE revoked_ms IS NULL
             UNION SELECT retention_class FROM enrol_tokens WHERE used_by IS NULL AND expires_ms > $1
             ORDER BY 1",
            &[Arg::Int(now_ms)],
        )
        .await?
        .iter()
        .map(|r| r.text("retention_class"))
        .collect()
    }

    async fn head(&self, id: RecordingId) -> Result<Option<Head>> {
        let Some(r) = self
            .read_optional(
                "SELECT idx, record_hash FROM segments WHERE recording_id = $1 ORDER BY idx DESC LIMIT 1",
                &[Arg::Bytes(&id.0)],
            )
            .await?
        else {
            return Ok(None);
        };
        let idx = index_of(&r)?;
        Ok(Some(Head {
            next_index: idx.checked_add(1).ok_or(StoreError::Corrupt("index"))?,
            head_record_hash: arr(r.bytes("record_hash")?, "record hash length")?,
        }))
    }

    async fn recording(&self, id: RecordingId) -> Result<Option<RecordingRow>> {
        find(
            self,
            "SELECT * FROM recordings WHERE recording_id = $1",
            &[Arg::Bytes(&id.0)],
            recording_row,
        )
        .await
    }

    async fn list_recordings(&self, f: &RecordingFilter) -> Result<Vec<RecordingRow>> {
        // Filter by group in Rust: the reader's group list is short and
        // static SQL keeps every statement a compile-time string.
        let rows = self
            .read_all(
                "SELECT * FROM recordings
                 WHERE ($1 IS NULL OR device_key = $1)
                   AND ($2 IS NULL OR first_capture_ms >= $2)
                   AND ($3 IS NULL OR first_capture_ms < $3)
                 ORDER BY first_capture_ms, recording_id",
                &[
                    Arg::OptBytes(f.device.as_ref().map(|d| &d[..])),
                    Arg::OptInt(f.from_ms),
                    Arg::OptInt(f.to_ms),
                ],
            )
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
        find(
            self,
            "SELECT * FROM segments WHERE recording_id = $1 AND idx = $2",
            &[Arg::Bytes(&id.0), Arg::Int(i64::from(index))],
            segment_row,
        )
        .await
    }

    async fn segments(&self, id: RecordingId) -> Result<Vec<SegmentRow>> {
        list(
            self,
            "SELECT * FROM segments WHERE recording_id = $1 ORDER BY idx",
            &[Arg::Bytes(&id.0)],
            segment_row,
        )
        .await
    }

    async fn segment_keys(&self) -> Result<Vec<(RecordingId, u32)>> {
        self.read_all("SELECT recording_id, idx FROM segments", &[])
            .await?
            .iter()
            .map(|r| {
                Ok((
                    RecordingId(arr(r.bytes("recording_id")?, "recording id length")?),
                    to_u32(r.int("idx")?, "segment index")?,
                ))
            })
            .collect()
    }

    async fn insert_segment(&self, s: &NewSegment) -> Result<Inserted> {
        let row = &s.row;
        let rid = Arg::Bytes(&row.recording_id.0);
        let mut tx = self.begin_write().await?;
        if let Some(existing) = X::optional(
            &mut tx,
            "SELECT * FROM segments WHERE recording_id = $1 AND idx = $2",
            &[rid, Arg::Int(i64::from(row.index))],
        )
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
        let rec = X::optional(
            &mut tx,
            "SELECT * FROM recordings WHERE recording_id = $1",
            &[rid],
        )
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
            let prev = X::optional(
                &mut tx,
                "SELECT record_hash FROM segments WHERE recording_id = $1 AND idx = $2",
                &[rid, Arg::Int(i64::from(row.index - 1))],
            )
            .await?
            .ok_or(StoreError::Corrupt("previous segment"))?
            .bytes("record_hash")?;
            if prev[..] != s.prev_record_hash[..] {
                return Err(StoreError::ChainConflict {
                    index: row.index,
                    reason: "prev_record_hash does not match the stored previous record",
                });
            }
        }
        let blob_len = Arg::Int(to_i64(row.blob_len, "blob length")?);
        if rec.is_none() {
            X::execute(
                &mut tx,
                "INSERT INTO recordings (recording_id, device_key, group_id, retention_class, first_capture_ms, segment_count, total_bytes, complete)
                 VALUES ($1, $2, $3, $4, $5, 0, 0, 0)",
                &[
                    rid,
                    Arg::Bytes(&s.device_key),
                    Arg::Bytes(&s.group_id.0),
                    Arg::Text(&s.retention_class),
                    Arg::Int(row.capture_ms),
                ],
            )
            .await?;
        }
        X::execute(
            &mut tx,
            "UPDATE recordings SET segment_count = segment_count + 1, total_bytes = total_bytes + $1,
                    complete = $2 WHERE recording_id = $3",
            &[blob_len, Arg::Int(i64::from(s.is_final)), rid],
        )
        .await?;
        X::execute(
            &mut tx,
            "INSERT INTO segments (recording_id, idx, record, record_hash, blob_len, capture_ms, epoch_id, received_ms, receipt)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                rid,
                Arg::Int(i64::from(row.index)),
                Arg::Bytes(&row.record),
                Arg::Bytes(&row.record_hash),
                blob_len,
                Arg::Int(row.capture_ms),
                Arg::Bytes(&row.epoch_id.0),
                Arg::Int(row.received_ms),
                Arg::Bytes(&row.receipt),
            ],
        )
        .await?;
        X::sequence(&mut tx, std::slice::from_ref(&s.log)).await?;
        X::commit(tx).await?;
        Ok(Inserted::New)
    }
}
