//! [`AccessStore`] on either SQL engine: tables `requesters`,
//! `access_requests`, `approvals`, `denials`. Every write runs in one
//! write transaction ([`Engine::begin_write`]) that re-reads the state it
//! depends on, so two concurrent calls cannot both pass a check (two
//! approvals by one custodian, a denial racing a release).

use obhut_core::ids::GroupId;

use super::Columns;
use super::column::{to_i64, to_u64};
use super::engine::{Arg, Engine, commit_logged_if_new, find, list};
use super::rows::{approval_row, custodian_index, group_of, request_row};
use crate::{
    AccessStore, ApprovalRow, DenialRow, KeyBytes, NewApproval, NewLogEntry, NewRequest,
    RequestInserted, RequestRow, RequestState, Result, StoreError,
};

/// A per-group role granted to a person ([`grant_group_role`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum GroupRole {
    /// May list and fetch the group's recordings.
    Reader,
    /// May ask for access to the group's footage.
    Requester,
}

/// Give `person_key` `role` in `group`, once: the row and its log entry
/// in one transaction; a repeat changes nothing and logs nothing.
pub(crate) async fn grant_group_role<X: Engine>(
    ix: &X,
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
    let mut tx = ix.begin_write().await?;
    let n = X::execute(
        &mut tx,
        insert,
        &[
            Arg::Bytes(&person_key),
            Arg::Bytes(&group.0),
            Arg::Int(now_ms),
        ],
    )
    .await?;
    commit_logged_if_new::<X>(tx, n > 0, log).await
}

/// The state of request `hash` inside a write transaction; `NotFound` if
/// there is none.
async fn state_in<X: Engine>(tx: &mut X::Tx, hash: &[u8; 32]) -> Result<RequestState> {
    let s = X::optional(
        tx,
        "SELECT state FROM access_requests WHERE request_hash = $1",
        &[Arg::Bytes(hash)],
    )
    .await?
    .ok_or(StoreError::NotFound("access request"))?
    .text("state")?;
    RequestState::parse(&s).ok_or(StoreError::Corrupt("request state"))
}

/// Refuse unless request `hash` is pending.
async fn require_pending<X: Engine>(tx: &mut X::Tx, hash: &[u8; 32]) -> Result<()> {
    match state_in::<X>(tx, hash).await? {
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

impl<X: Engine> AccessStore for X {
    async fn group_ids(&self) -> Result<Vec<GroupId>> {
        list(
            self,
            "SELECT group_id FROM custody_groups ORDER BY added_ms, group_id",
            &[],
            group_of,
        )
        .await
    }

    async fn add_requester(
        &self,
        person_key: KeyBytes,
        group: GroupId,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> Result<()> {
        grant_group_role(self, GroupRole::Requester, person_key, group, now_ms, log).await
    }

    async fn is_requester(&self, person_key: KeyBytes, group: GroupId) -> Result<bool> {
        let n = self
            .read_optional(
                "SELECT COUNT(*) AS n FROM requesters WHERE person_key = $1 AND group_id = $2",
                &[Arg::Bytes(&person_key), Arg::Bytes(&group.0)],
            )
            .await?
            .map_or(Ok(0), |r| r.int("n"))?;
        Ok(n > 0)
    }

    async fn insert_request(&self, r: &NewRequest, log: &NewLogEntry) -> Result<RequestInserted> {
        let mut tx = self.begin_write().await?;
        if let Some(existing) = X::optional(
            &mut tx,
            "SELECT * FROM access_requests WHERE request_hash = $1",
            &[Arg::Bytes(&r.request_hash)],
        )
        .await?
        {
            return Ok(RequestInserted::Existing(request_row(&existing)?));
        }
        let index = X::sequence(&mut tx, std::slice::from_ref(log)).await?;
        X::execute(
            &mut tx,
            "INSERT INTO access_requests (request_hash, group_id, requester_key, request, log_index, state, created_ms, expires_ms)
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
            &[
                Arg::Bytes(&r.request_hash),
                Arg::Bytes(&r.group_id.0),
                Arg::Bytes(&r.requester_key),
                Arg::Bytes(&r.request),
                Arg::Int(to_i64(index, "log index")?),
                Arg::Int(r.created_ms),
                Arg::Int(r.expires_ms),
            ],
        )
        .await?;
        X::commit(tx).await?;
        Ok(RequestInserted::New(index))
    }

    async fn request(&self, hash: [u8; 32]) -> Result<Option<RequestRow>> {
        find(
            self,
            "SELECT * FROM access_requests WHERE request_hash = $1",
            &[Arg::Bytes(&hash)],
            request_row,
        )
        .await
    }

    async fn requests_for_groups(
        &self,
        groups: &[GroupId],
        state: Option<RequestState>,
    ) -> Result<Vec<RequestRow>> {
        let mut out = Vec::new();
        for g in groups {
            let rows = self
                .read_all(
                    "SELECT * FROM access_requests WHERE group_id = $1 AND ($2 IS NULL OR state = $2)",
                    &[Arg::Bytes(&g.0), Arg::OptText(state.map(RequestState::as_str))],
                )
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
        let mut out = self
            .read_all(
                "SELECT * FROM access_requests WHERE requester_key = $1 AND ($2 IS NULL OR state = $2)",
                &[Arg::Bytes(&requester), Arg::OptText(state.map(RequestState::as_str))],
            )
            .await?
            .iter()
            .map(request_row)
            .collect::<Result<Vec<_>>>()?;
        newest_first(&mut out);
        Ok(out)
    }

    async fn add_approval(&self, a: &NewApproval, log: &NewLogEntry) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        require_pending::<X>(&mut tx, &a.request_hash).await?;
        let n = X::optional(
            &mut tx,
            "SELECT COUNT(*) AS n FROM approvals WHERE request_hash = $1 AND custodian = $2",
            &[
                Arg::Bytes(&a.request_hash),
                Arg::Int(i64::from(a.custodian)),
            ],
        )
        .await?
        .map_or(Ok(0), |r| r.int("n"))?;
        if n > 0 {
            return Err(StoreError::AlreadyApproved {
                custodian: a.custodian,
            });
        }
        let index = X::sequence(&mut tx, std::slice::from_ref(log)).await?;
        X::execute(
            &mut tx,
            "INSERT INTO approvals (request_hash, custodian, custodian_key, segments, log_index)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                Arg::Bytes(&a.request_hash),
                Arg::Int(i64::from(a.custodian)),
                Arg::Bytes(&a.custodian_key),
                Arg::Int(i64::from(a.segments)),
                Arg::Int(to_i64(index, "log index")?),
            ],
        )
        .await?;
        X::commit(tx).await?;
        Ok(index)
    }

    async fn approvals(&self, hash: [u8; 32]) -> Result<Vec<ApprovalRow>> {
        list(
            self,
            "SELECT * FROM approvals WHERE request_hash = $1 ORDER BY custodian",
            &[Arg::Bytes(&hash)],
            approval_row,
        )
        .await
    }

    async fn put_partial(&self, hash: [u8; 32], custodian: u16, envelope: &[u8]) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let key = [Arg::Bytes(&hash), Arg::Int(i64::from(custodian))];
        let Some(row) = X::optional(
            &mut tx,
            "SELECT * FROM approvals WHERE request_hash = $1 AND custodian = $2",
            &key,
        )
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
        require_pending::<X>(&mut tx, &hash).await?;
        X::execute(
            &mut tx,
            "UPDATE approvals SET envelope = $1 WHERE request_hash = $2 AND custodian = $3",
            &[Arg::Bytes(envelope), key[0], key[1]],
        )
        .await?;
        X::commit(tx).await?;
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
        require_pending::<X>(&mut tx, &hash).await?;
        let index = X::sequence(&mut tx, std::slice::from_ref(log)).await?;
        X::execute(
            &mut tx,
            "UPDATE access_requests SET state = 'denied' WHERE request_hash = $1",
            &[Arg::Bytes(&hash)],
        )
        .await?;
        X::execute(
            &mut tx,
            "INSERT INTO denials (request_hash, custodian, reason, log_index) VALUES ($1, $2, $3, $4)",
            &[
                Arg::Bytes(&hash),
                Arg::Int(i64::from(custodian)),
                Arg::Text(reason),
                Arg::Int(to_i64(index, "log index")?),
            ],
        )
        .await?;
        X::commit(tx).await?;
        Ok(index)
    }

    async fn denial(&self, hash: [u8; 32]) -> Result<Option<DenialRow>> {
        let Some(r) = self
            .read_optional(
                "SELECT * FROM denials WHERE request_hash = $1",
                &[Arg::Bytes(&hash)],
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(DenialRow {
            request_hash: hash,
            custodian: custodian_index(r.int("custodian")?)?,
            reason: r.text("reason")?,
            log_index: to_u64(r.int("log_index")?, "log index")?,
        }))
    }

    async fn mark_released(
        &self,
        hash: [u8; 32],
        release: &[u8],
        log: &NewLogEntry,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        require_pending::<X>(&mut tx, &hash).await?;
        let index = X::sequence(&mut tx, std::slice::from_ref(log)).await?;
        X::execute(
            &mut tx,
            "UPDATE access_requests SET state = 'released', release = $1, release_log_index = $2
             WHERE request_hash = $3",
            &[
                Arg::Bytes(release),
                Arg::Int(to_i64(index, "log index")?),
                Arg::Bytes(&hash),
            ],
        )
        .await?;
        X::commit(tx).await?;
        Ok(index)
    }
}
