//! [`AccessStore`] on the SQLite index: tables `requesters`,
//! `access_requests`, `approvals`, `denials` (schema.sql). Every write
//! runs in one `BEGIN IMMEDIATE` transaction that re-reads the state it
//! depends on, so two concurrent calls cannot both pass a check (two
//! approvals by one custodian, a denial racing a release).

use obhut_core::ids::GroupId;
use sqlx::{Row, SqliteConnection};

use super::sequence::sequence;
use super::{GroupRole, SqliteIndex};
use crate::sql::column::{arr, to_i64, to_u64};
use crate::sql::engine::Engine;
use crate::sql::rows::{approval_row, custodian_index, request_row};
use crate::{
    AccessStore, ApprovalRow, DenialRow, KeyBytes, NewApproval, NewLogEntry, NewRequest,
    RequestInserted, RequestRow, RequestState, Result, StoreError,
};

/// The state of request `hash` inside a write transaction; `NotFound` if
/// there is none.
async fn state_in(tx: &mut SqliteConnection, hash: &[u8; 32]) -> Result<RequestState> {
    let s: Option<String> =
        sqlx::query_scalar("SELECT state FROM access_requests WHERE request_hash = ?")
            .bind(&hash[..])
            .fetch_optional(&mut *tx)
            .await?;
    let s = s.ok_or(StoreError::NotFound("access request"))?;
    RequestState::parse(&s).ok_or(StoreError::Corrupt("request state"))
}

/// Refuse unless request `hash` is pending.
async fn require_pending(tx: &mut SqliteConnection, hash: &[u8; 32]) -> Result<()> {
    match state_in(tx, hash).await? {
        RequestState::Pending => Ok(()),
        state => Err(StoreError::RequestNotPending { state }),
    }
}

fn newest_first(rows: &mut [RequestRow]) {
    rows.sort_by(|a, b| {
        (b.created_ms, b.log_index)
            .cmp(&(a.created_ms, a.log_index))
            .then(b.request_hash.cmp(&a.request_hash))
    });
}

impl AccessStore for SqliteIndex {
    async fn group_ids(&self) -> Result<Vec<GroupId>> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT group_id FROM custody_groups ORDER BY added_ms, group_id")
                .fetch_all(self.readers())
                .await?;
        rows.into_iter()
            .map(|g| Ok(GroupId(arr(g, "group id length")?)))
            .collect()
    }

    async fn add_requester(
        &self,
        person_key: KeyBytes,
        group: GroupId,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> Result<()> {
        self.grant_group_role(GroupRole::Requester, person_key, group, now_ms, log)
            .await
    }

    async fn is_requester(&self, person_key: KeyBytes, group: GroupId) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM requesters WHERE person_key = ? AND group_id = ?",
        )
        .bind(&person_key[..])
        .bind(&group.0[..])
        .fetch_one(self.readers())
        .await?;
        Ok(n > 0)
    }

    async fn insert_request(&self, r: &NewRequest, log: &NewLogEntry) -> Result<RequestInserted> {
        let mut tx = self.begin_write().await?;
        if let Some(existing) = sqlx::query("SELECT * FROM access_requests WHERE request_hash = ?")
            .bind(&r.request_hash[..])
            .fetch_optional(&mut *tx)
            .await?
        {
            return Ok(RequestInserted::Existing(request_row(&existing)?));
        }
        let index = sequence(&mut tx, std::slice::from_ref(log)).await?;
        sqlx::query(
            "INSERT INTO access_requests (request_hash, group_id, requester_key, request, log_index, state, created_ms, expires_ms)
             VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
        )
        .bind(&r.request_hash[..])
        .bind(&r.group_id.0[..])
        .bind(&r.requester_key[..])
        .bind(&r.request)
        .bind(to_i64(index, "log index")?)
        .bind(r.created_ms)
        .bind(r.expires_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RequestInserted::New(index))
    }

    async fn request(&self, hash: [u8; 32]) -> Result<Option<RequestRow>> {
        sqlx::query("SELECT * FROM access_requests WHERE request_hash = ?")
            .bind(&hash[..])
            .fetch_optional(self.readers())
            .await?
            .as_ref()
            .map(request_row)
            .transpose()
    }

    async fn requests_for_groups(
        &self,
        groups: &[GroupId],
        state: Option<RequestState>,
    ) -> Result<Vec<RequestRow>> {
        let mut out = Vec::new();
        for g in groups {
            let rows = sqlx::query(
                "SELECT * FROM access_requests WHERE group_id = ?1 AND (?2 IS NULL OR state = ?2)",
            )
            .bind(&g.0[..])
            .bind(state.map(RequestState::as_str))
            .fetch_all(self.readers())
            .await?;
            for r in &rows {
                out.push(request_row(r)?);
            }
        }
        newest_first(&mut out);
        Ok(out)
    }

    async fn requests_by_requester(
        &self,
        requester: KeyBytes,
        state: Option<RequestState>,
    ) -> Result<Vec<RequestRow>> {
        let mut out = sqlx::query(
            "SELECT * FROM access_requests WHERE requester_key = ?1 AND (?2 IS NULL OR state = ?2)",
        )
        .bind(&requester[..])
        .bind(state.map(RequestState::as_str))
        .fetch_all(self.readers())
        .await?
        .iter()
        .map(request_row)
        .collect::<Result<Vec<_>>>()?;
        newest_first(&mut out);
        Ok(out)
    }

    async fn add_approval(&self, a: &NewApproval, log: &NewLogEntry) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        require_pending(&mut tx, &a.request_hash).await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM approvals WHERE request_hash = ? AND custodian = ?",
        )
        .bind(&a.request_hash[..])
        .bind(i64::from(a.custodian))
        .fetch_one(&mut *tx)
        .await?;
        if n > 0 {
            return Err(StoreError::AlreadyApproved {
                custodian: a.custodian,
            });
        }
        let index = sequence(&mut tx, std::slice::from_ref(log)).await?;
        sqlx::query(
            "INSERT INTO approvals (request_hash, custodian, custodian_key, segments, log_index)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&a.request_hash[..])
        .bind(i64::from(a.custodian))
        .bind(&a.custodian_key[..])
        .bind(i64::from(a.segments))
        .bind(to_i64(index, "log index")?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(index)
    }

    async fn approvals(&self, hash: [u8; 32]) -> Result<Vec<ApprovalRow>> {
        sqlx::query("SELECT * FROM approvals WHERE request_hash = ? ORDER BY custodian")
            .bind(&hash[..])
            .fetch_all(self.readers())
            .await?
            .iter()
            .map(approval_row)
            .collect()
    }

    async fn put_partial(&self, hash: [u8; 32], custodian: u16, envelope: &[u8]) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let Some(row) =
            sqlx::query("SELECT * FROM approvals WHERE request_hash = ? AND custodian = ?")
                .bind(&hash[..])
                .bind(i64::from(custodian))
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Err(StoreError::NotFound("approval by this custodian"));
        };
        let row = approval_row(&row)?;
        match row.envelope.as_deref() {
            // The same bytes again: an idempotent retry.
            Some(stored) if stored == envelope => return Ok(false),
            Some(_) => return Err(StoreError::PartialMismatch { custodian }),
            None => {}
        }
        require_pending(&mut tx, &hash).await?;
        sqlx::query("UPDATE approvals SET envelope = ? WHERE request_hash = ? AND custodian = ?")
            .bind(envelope)
            .bind(&hash[..])
            .bind(i64::from(custodian))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn deny(
        &self,
        hash: [u8; 32],
        custodian: u16,
        reason: &str,
        log: &NewLogEntry,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        require_pending(&mut tx, &hash).await?;
        let index = sequence(&mut tx, std::slice::from_ref(log)).await?;
        sqlx::query("UPDATE access_requests SET state = 'denied' WHERE request_hash = ?")
            .bind(&hash[..])
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO denials (request_hash, custodian, reason, log_index) VALUES (?, ?, ?, ?)",
        )
        .bind(&hash[..])
        .bind(i64::from(custodian))
        .bind(reason)
        .bind(to_i64(index, "log index")?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(index)
    }

    async fn denial(&self, hash: [u8; 32]) -> Result<Option<DenialRow>> {
        let Some(r) = sqlx::query("SELECT * FROM denials WHERE request_hash = ?")
            .bind(&hash[..])
            .fetch_optional(self.readers())
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(DenialRow {
            request_hash: hash,
            custodian: custodian_index(r.try_get("custodian")?)?,
            reason: r.try_get("reason")?,
            log_index: to_u64(r.try_get("log_index")?, "log index")?,
        }))
    }

    async fn mark_released(
        &self,
        hash: [u8; 32],
        release: &[u8],
        log: &NewLogEntry,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        require_pending(&mut tx, &hash).await?;
        let index = sequence(&mut tx, std::slice::from_ref(log)).await?;
        sqlx::query(
            "UPDATE access_requests SET state = 'released', release = ?, release_log_index = ?
             WHERE request_hash = ?",
        )
        .bind(release)
        .bind(to_i64(index, "log index")?)
        .bind(&hash[..])
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(index)
    }
}
