//! The access workflow's endpoints (docs/access.md §3): a requester posts a
//! signed `AccessRequest`, k custodians approve it (logging the hash of
//! their partial envelope, then uploading the envelope), and the vault
//! releases `b` for exactly the segments in scope to exactly the
//! requester's key. Every call is person-signed (docs/vault.md §2), and
//! every step is an audit entry sequenced in the same transaction as the
//! change it records (docs/log.md §Service).
//!
//! The vault never holds `a`: a release without k partials is worthless,
//! and the partials are sealed to the requester. What this module enforces
//! is the policy of docs/access.md §2–§3 (roles, purposes, expiry, k
//! distinct custodians other than the requester, entries in a checkpoint
//! before release); it never logs request contents or key material.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::ErrorKind;
use obhut_api::access::{ApprovalJson, DecisionBody, DenialJson, Logged, RequestJson, RequestList};
use obhut_core::audit::{self, Event, Role};
use obhut_core::decision::{Decision, Verdict};
use obhut_core::group::PinnedGroup;
use obhut_core::ids::{GroupId, RecordingId};
use obhut_core::partial::{MAX_PARTIAL_ENTRIES, MAX_PARTIAL_SEALED_LEN, PartialEnvelope};
use obhut_core::request::{AccessRequest, Scope};
use obhut_core::vault::body_sha256;
use obhut_store::{
    BlobStore, IndexStore, KeyBytes, NewApproval, NewLogEntry, NewRequest, RequestInserted,
    RequestRow, RequestState, StoreError,
};
use serde::Deserialize;

use crate::app::App;
use crate::auth::{Signed, Signer};
use crate::error::{ApiError, ApiResult};

mod disclosed;
mod release;

pub use disclosed::disclosed;
pub use release::release;

/// Largest `PUT …/approvals/{i}/partial` body: an envelope whose sealed
/// partial is at its format bound, plus its header.
pub const MAX_PARTIAL_BODY: usize = MAX_PARTIAL_SEALED_LEN + 4096;

fn err(kind: ErrorKind, m: impl Into<String>) -> ApiError {
    ApiError::new(kind, m)
}

fn parse_hash(s: &str) -> ApiResult<[u8; 32]> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h).map_err(|_| {
        err(
            ErrorKind::BadRequest,
            "the request hash is not 64 hex digits",
        )
    })?;
    Ok(h)
}

/// Read the body (at most `limit` bytes) and verify the person signature
/// over it. The nonce is used by the caller once the role checks passed.
async fn read_signed<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    req: Request,
    limit: usize,
) -> ApiResult<(Parts, Signed, Bytes)> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
        err(
            ErrorKind::TooLarge,
            format!("the body exceeds {limit} bytes"),
        )
    })?;
    let s = app.verify_signed(&parts, Signer::Person, &body_sha256(&body))?;
    Ok((parts, s, body))
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| err(ErrorKind::BadRequest, format!("{what}: {e}")))
}

/// A stored request with its parsed form and its group.
struct Ctx {
    row: RequestRow,
    request: AccessRequest,
    group: Arc<PinnedGroup>,
}

impl Ctx {
    /// The index of the custodian with signing key `key`, if listed.
    fn custodian_of(&self, key: &KeyBytes) -> Option<u16> {
        custodian_index(&self.group, key)
    }
    /// The recording entries about this request name (the first recording
    /// scope's, if any).
    fn recording(&self) -> Option<RecordingId> {
        first_recording(&self.request)
    }
}

fn custodian_index(group: &PinnedGroup, key: &KeyBytes) -> Option<u16> {
    group
        .custodians()
        .iter()
        .find(|c| c.sign_key.to_bytes() == *key)
        .map(|c| c.index)
}

fn first_recording(request: &AccessRequest) -> Option<RecordingId> {
    request.scope.iter().find_map(|s| match s {
        Scope::Recording { recording_id, .. } => Some(*recording_id),
        Scope::Device { .. } => None,
    })
}

async fn load<I: IndexStore, B: BlobStore>(app: &App<I, B>, hash: &str) -> ApiResult<Ctx> {
    let hash = parse_hash(hash)?;
    let row = app.index.request(hash).await?.ok_or_else(|| {
        err(
            ErrorKind::NotFound,
            format!("no access request {}", hex::encode(hash)),
        )
    })?;
    let request = AccessRequest::from_bytes(&row.request).map_err(|e| {
        tracing::error!(request = %hex::encode(hash), error = %e, "a stored access request does not parse");
        err(ErrorKind::Internal, "a stored access request does not parse")
    })?;
    let group = app.pinned_group(row.group_id).await?;
    Ok(Ctx {
        row,
        request,
        group,
    })
}

fn logged_new(log_index: u64, entry: &NewLogEntry) -> Logged {
    Logged {
        log_index,
        entry: B64.encode(&entry.body),
    }
}

/// The stored entry at `log_index` (empty `entry` once its body was pruned
/// by log retention; the leaf hash stays in the tree).
async fn logged_stored<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    log_index: u64,
) -> ApiResult<Logged> {
    let rows = app.index.log_entries(log_index, 1).await?;
    let row = rows
        .into_iter()
        .find(|r| r.index == log_index)
        .ok_or_else(|| err(ErrorKind::Internal, "a logged access event has no entry"))?;
    Ok(Logged {
        log_index,
        entry: row.body.map(|b| B64.encode(b)).unwrap_or_default(),
    })
}

async fn request_json<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    row: &RequestRow,
) -> ApiResult<RequestJson> {
    let mut approvals = Vec::new();
    for a in app.index.approvals(row.request_hash).await? {
        approvals.push(ApprovalJson {
            custodian: a.custodian,
            custodian_key: hex::encode(a.custodian_key),
            partial_uploaded: a.envelope.is_some(),
            logged: logged_stored(app, a.log_index).await?,
        });
    }
    let denial = match app.index.denial(row.request_hash).await? {
        None => None,
        Some(d) => Some(DenialJson {
            custodian: d.custodian,
            reason: d.reason,
            logged: logged_stored(app, d.log_index).await?,
        }),
    };
    Ok(RequestJson {
        request_hash: hex::encode(row.request_hash),
        request: B64.encode(&row.request),
        state: row.state.as_str().to_owned(),
        logged: logged_stored(app, row.log_index).await?,
        approvals,
        denial,
    })
}

fn created(logged: Logged) -> Response {
    (StatusCode::CREATED, Json(logged)).into_response()
}

/// `POST /v1/requests`: store a signed `AccessRequest` and log it
/// (docs/access.md §2 step 1). 201 when stored now, 200 when the same
/// request was stored before.
pub async fn create<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    req: Request,
) -> ApiResult<Response> {
    let (_, s, body) = read_signed(&app, req, crate::params::MAX_JSON_BODY).await?;
    if body.len() > audit::MAX_EMBEDDED_LEN {
        return Err(err(
            ErrorKind::TooLarge,
            format!(
                "an access request is logged whole and may have at most {} bytes; this one has {}",
                audit::MAX_EMBEDDED_LEN,
                body.len()
            ),
        ));
    }
    let request = AccessRequest::from_bytes(&body)
        .map_err(|e| err(ErrorKind::BadRequest, format!("the access request: {e}")))?;
    if request.requester_sign().to_bytes() != s.key {
        return Err(err(
            ErrorKind::Forbidden,
            "the request is signed by another requester than the one calling; post your own request",
        ));
    }
    let gid = request.group_id;
    if !app.index.is_requester(s.key, gid).await? {
        return Err(err(
            ErrorKind::Forbidden,
            format!(
                "person {} may not ask for access to group {gid} (an admin adds requesters with `obhut admin add-requester`)",
                hex::encode(s.key)
            ),
        ));
    }
    app.use_nonce(&s).await?;
    check_policy(&app, &request)?;
    check_scope(&app, &request).await?;
    crate::derived::check_review_consent(&app, &request).await?;
    let hash = request.request_hash();
    let entry = app.log_entry(
        Role::Person,
        s.key,
        first_recording(&request),
        Event::AccessRequested {
            request: body.to_vec(),
        },
    )?;
    let new = NewRequest {
        request_hash: hash,
        group_id: gid,
        requester_key: s.key,
        request: body.to_vec(),
        created_ms: app.clock.now_ms(),
        expires_ms: request.expires_utc_ms,
    };
    match app.index.insert_request(&new, &entry).await? {
        RequestInserted::New(index) => {
            app.log.wake();
            tracing::info!(request = %hex::encode(hash), group = %gid, log_index = index, "access requested");
            Ok(created(logged_new(index, &entry)))
        }
        RequestInserted::Existing(row) => Ok((
            StatusCode::OK,
            Json(logged_stored(&app, row.log_index).await?),
        )
            .into_response()),
    }
}

/// The vault's policy on a request's content: a listed purpose, unexpired,
/// valid at most `max_grant_days`, the group's current generation.
fn check_policy<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    request: &AccessRequest,
) -> ApiResult<()> {
    let purposes = &app.config.access_purposes;
    if !purposes.iter().any(|p| *p == request.purpose) {
        return Err(err(
            ErrorKind::BadRequest,
            format!(
                "purpose {:?} is not one this vault accepts; choose one of: {}",
                request.purpose,
                purposes.join(", ")
            ),
        ));
    }
    let now = app.clock.now_ms();
    if request.is_expired(now) {
        return Err(err(
            ErrorKind::Expired,
            "the request has already expired; sign a new one",
        ));
    }
    let latest = now.saturating_add(app.config.max_grant_ms);
    if request.expires_utc_ms > latest {
        return Err(err(
            ErrorKind::BadRequest,
            format!(
                "the request is valid until {} (UTC ms), past this vault's limit of {} days from now ({latest}); ask for a shorter validity",
                request.expires_utc_ms,
                app.config.max_grant_ms / 86_400_000
            ),
        ));
    }
    Ok(())
}

/// The group is known at the request's generation and every named
/// recording or device is in it (404 otherwise; nothing is stored).
async fn check_scope<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    request: &AccessRequest,
) -> ApiResult<()> {
    let gid = request.group_id;
    if app.index.group(gid).await?.is_none() {
        return Err(err(ErrorKind::NotFound, format!("no custody group {gid}")));
    }
    let group = app.pinned_group(gid).await?;
    if request.generation != group.generation() {
        return Err(err(
            ErrorKind::BadRequest,
            format!(
                "the request is for generation {} of group {gid}, whose key is at generation {}",
                request.generation,
                group.generation()
            ),
        ));
    }
    for scope in &request.scope {
        match scope {
            Scope::Recording { recording_id, .. } => {
                match app.index.recording(*recording_id).await? {
                    Some(r) if r.group_id == gid => {}
                    _ => {
                        return Err(err(
                            ErrorKind::UnknownRecording,
                            format!("no recording {recording_id} in group {gid}"),
                        ));
                    }
                }
            }
            Scope::Device { device_key, .. } => {
                let key = device_key.to_bytes();
                match app.index.device(key).await? {
                    Some(d) if d.group_id == gid => {}
                    _ => {
                        return Err(err(
                            ErrorKind::NotFound,
                            format!("no device {} in group {gid}", hex::encode(key)),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// `GET /v1/requests` query.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Only requests in this state (`pending`, `denied`, `released`).
    pub state: Option<String>,
}

/// `GET /v1/requests[?state=…]`: the requests of the caller's groups (as a
/// custodian) and the caller's own (as a requester), newest first.
pub async fn list<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Query(q): Query<ListQuery>,
    req: Request,
) -> ApiResult<Json<RequestList>> {
    let (_, s, _) = read_signed(&app, req, 0).await?;
    let state = match q.state.as_deref() {
        None => None,
        Some(v) => Some(RequestState::parse(v).ok_or_else(|| {
            err(
                ErrorKind::BadRequest,
                "state is one of pending, denied, released",
            )
        })?),
    };
    let mut custodian_of: Vec<GroupId> = Vec::new();
    let mut requester = false;
    for g in app.index.group_ids().await? {
        if custodian_index(&*app.pinned_group(g).await?, &s.key).is_some() {
            custodian_of.push(g);
        }
        requester = requester || app.index.is_requester(s.key, g).await?;
    }
    if custodian_of.is_empty() && !requester {
        return Err(err(
            ErrorKind::Forbidden,
            format!(
                "person {} is neither a custodian of a group this vault knows nor a requester",
                hex::encode(s.key)
            ),
        ));
    }
    app.use_nonce(&s).await?;
    let mut rows = app.index.requests_for_groups(&custodian_of, state).await?;
    let mut seen: HashSet<[u8; 32]> = rows.iter().map(|r| r.request_hash).collect();
    for r in app.index.requests_by_requester(s.key, state).await? {
        if seen.insert(r.request_hash) {
            rows.push(r);
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse((r.created_ms, r.log_index)));
    let mut requests = Vec::with_capacity(rows.len());
    for r in &rows {
        requests.push(request_json(&app, r).await?);
    }
    Ok(Json(RequestList { requests }))
}

/// `GET /v1/requests/{hash}`: the request with its approvals and denial,
/// for a custodian of its group or its requester.
pub async fn get_one<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(hash): Path<String>,
    req: Request,
) -> ApiResult<Json<RequestJson>> {
    let (_, s, _) = read_signed(&app, req, 0).await?;
    let ctx = load(&app, &hash).await?;
    if s.key != ctx.row.requester_key && ctx.custodian_of(&s.key).is_none() {
        return Err(err(
            ErrorKind::Forbidden,
            "only the requester and the custodians of its group may read a request",
        ));
    }
    app.use_nonce(&s).await?;
    Ok(Json(request_json(&app, &ctx.row).await?))
}

/// The custodian index of the signer, or 403.
fn require_custodian(ctx: &Ctx, key: &KeyBytes) -> ApiResult<u16> {
    ctx.custodian_of(key).ok_or_else(|| {
        err(
            ErrorKind::Forbidden,
            format!(
                "person {} is not a custodian of group {}",
                hex::encode(key),
                ctx.row.group_id
            ),
        )
    })
}

/// The person's signed decision in `body`, checked against the HTTP
/// signer, this vault, the request and the clock: the vault logs only a
/// statement its signer made, for this log and this request, now.
fn signed_decision<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    ctx: &Ctx,
    s: &Signed,
    body: &[u8],
    verdict: Verdict,
    custodian: u16,
) -> ApiResult<Decision> {
    let b: DecisionBody = json(body, "decision body")?;
    let bytes = B64
        .decode(&b.decision)
        .map_err(|e| err(ErrorKind::BadRequest, format!("decision: not base64 ({e})")))?;
    let d = Decision::from_bytes(&bytes)
        .map_err(|e| err(ErrorKind::BadRequest, format!("decision: {e}")))?;
    let c = d.content();
    let wrong = if d.person().to_bytes() != s.key {
        Some("is signed by another person than the request")
    } else if c.verdict != verdict {
        Some("is not the decision this endpoint takes (approve, deny or opened)")
    } else if c.vault != app.identity(crate::auth::Signer::Person) {
        Some("names another vault")
    } else if c.request_hash != ctx.row.request_hash || c.request_index != ctx.row.log_index {
        Some("names another request or log index")
    } else if c.custodian != custodian {
        Some("names another custodian index than the signer's in the group")
    } else {
        None
    };
    if let Some(why) = wrong {
        return Err(err(ErrorKind::BadRequest, format!("the decision {why}")));
    }
    crate::auth::check_time(c.time_ms, app.clock.now_ms())?;
    Ok(d)
}

/// `POST /v1/requests/{hash}/approvals`: a custodian's signed approval
/// (phase 1 of docs/access.md §2), logged whole.
pub async fn approve<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(hash): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (_, s, body) = read_signed(&app, req, crate::params::MAX_JSON_BODY).await?;
    let ctx = load(&app, &hash).await?;
    let custodian = require_custodian(&ctx, &s.key)?;
    if s.key == ctx.row.requester_key && !app.config.allow_self_approval {
        return Err(err(
            ErrorKind::Forbidden,
            "a requester may not approve its own request (this vault's allow_self_approval is off); ask the other custodians",
        ));
    }
    app.use_nonce(&s).await?;
    let decision = signed_decision(&app, &ctx, &s, &body, Verdict::Approve, custodian)?;
    let segments = decision.content().segments;
    if segments as usize > MAX_PARTIAL_ENTRIES {
        return Err(err(
            ErrorKind::BadRequest,
            "segments is between 1 and 65536 (a partial covers that many)",
        ));
    }
    not_expired(&app, &ctx)?;
    let entry = app.log_entry(
        Role::Person,
        s.key,
        ctx.recording(),
        Event::Approved { decision },
    )?;
    let index = app
        .index
        .add_approval(
            &NewApproval {
                request_hash: ctx.row.request_hash,
                custodian,
                custodian_key: s.key,
                segments,
            },
            &entry,
        )
        .await?;
    app.log.wake();
    tracing::info!(request = %hex::encode(ctx.row.request_hash), custodian, log_index = index, "access approved");
    Ok(created(logged_new(index, &entry)))
}

fn not_expired<I: IndexStore, B: BlobStore>(app: &App<I, B>, ctx: &Ctx) -> ApiResult<()> {
    if ctx.request.is_expired(app.clock.now_ms()) {
        return Err(err(
            ErrorKind::Expired,
            format!(
                "the request expired at {} (UTC ms); the requester must ask again",
                ctx.request.expires_utc_ms
            ),
        ));
    }
    Ok(())
}

/// `PUT /v1/requests/{hash}/approvals/{i}/partial`: custodian `i`'s
/// partial envelope (phase 2), accepted only once k custodians' approvals
/// of this request are logged; the first envelope is kept. 204.
pub async fn put_partial<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path((hash, i)): Path<(String, u16)>,
    req: Request,
) -> ApiResult<StatusCode> {
    let ctx = load(&app, &hash).await?;
    let listed = ctx.group.custodian(i).ok_or_else(|| {
        err(
            ErrorKind::NotFound,
            format!("group {} lists no custodian {i}", ctx.row.group_id),
        )
    })?;
    let listed_key = listed.sign_key.to_bytes();
    // Refuse anyone but custodian i before reading up to 16 MiB.
    let claimed = req
        .headers()
        .get("obhut-person")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !claimed.eq_ignore_ascii_case(&hex::encode(listed_key)) {
        return Err(err(
            ErrorKind::Forbidden,
            format!("only custodian {i} uploads custodian {i}'s partial"),
        ));
    }
    let (_, s, body) = read_signed(&app, req, MAX_PARTIAL_BODY).await?;
    if s.key != listed_key {
        return Err(err(
            ErrorKind::Forbidden,
            format!("only custodian {i} uploads custodian {i}'s partial"),
        ));
    }
    app.use_nonce(&s).await?;
    let env = PartialEnvelope::from_bytes(&body)
        .map_err(|e| err(ErrorKind::BadRequest, format!("the partial envelope: {e}")))?;
    if env.custodian != i || env.request_hash != ctx.row.request_hash {
        return Err(err(
            ErrorKind::BadRequest,
            "the envelope names another custodian or request than its path",
        ));
    }
    // Phase 2 only after phase 1 is complete. Each custodian's client checks
    // this itself, in the log, before it sends; the vault refusing too keeps
    // a lone early envelope from sitting in its store.
    let approvals = app.index.approvals(ctx.row.request_hash).await?;
    let k = usize::from(ctx.group.threshold());
    if approvals.len() < k {
        return Err(err(
            ErrorKind::Conflict,
            format!(
                "{} of the {k} approvals needed are logged; a key part is sent only once {k} custodians have approved",
                approvals.len()
            ),
        ));
    }
    let stored = app
        .index
        .put_partial(ctx.row.request_hash, i, &body)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => err(
                ErrorKind::NotFound,
                format!("custodian {i} has not approved this request; POST the approval first"),
            ),
            other => other.into(),
        })?;
    if stored {
        tracing::info!(request = %hex::encode(ctx.row.request_hash), custodian = i, bytes = body.len(), "partial envelope stored");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/requests/{hash}/denials`: a custodian ends the request.
pub async fn deny<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(hash): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (_, s, body) = read_signed(&app, req, crate::params::MAX_JSON_BODY).await?;
    let ctx = load(&app, &hash).await?;
    let custodian = require_custodian(&ctx, &s.key)?;
    app.use_nonce(&s).await?;
    let decision = signed_decision(&app, &ctx, &s, &body, Verdict::Deny, custodian)?;
    let reason = decision.content().reason.clone();
    let entry = app.log_entry(
        Role::Person,
        s.key,
        ctx.recording(),
        Event::Denied { decision },
    )?;
    let index = app
        .index
        .deny(ctx.row.request_hash, custodian, &reason, &entry)
        .await?;
    app.log.wake();
    tracing::info!(request = %hex::encode(ctx.row.request_hash), custodian, log_index = index, "access denied");
    Ok(created(logged_new(index, &entry)))
}

/// The requester, or 403.
fn require_requester(ctx: &Ctx, key: &KeyBytes, what: &str) -> ApiResult<()> {
    if *key != ctx.row.requester_key {
        return Err(err(
            ErrorKind::Forbidden,
            format!("only the requester who signed the request may {what}"),
        ));
    }
    Ok(())
}

/// `POST /v1/requests/{hash}/opened`: the requester reports the segments
/// it opened (an `opened` entry).
pub async fn opened<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(hash): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (_, s, body) = read_signed(&app, req, crate::params::MAX_JSON_BODY).await?;
    let ctx = load(&app, &hash).await?;
    require_requester(&ctx, &s.key, "report what it opened")?;
    app.use_nonce(&s).await?;
    let decision = signed_decision(&app, &ctx, &s, &body, Verdict::Opened, 0)?;
    let segments = decision.content().segments;
    if ctx.row.state != RequestState::Released {
        return Err(err(
            ErrorKind::Conflict,
            format!(
                "the request is {}; only a released request can be opened",
                ctx.row.state
            ),
        ));
    }
    // The log records what the requester says it opened; it cannot have
    // opened more than was released (issue 16: 4,294,967,295 was logged).
    let released = match ctx
        .row
        .release
        .as_deref()
        .map(obhut_core::epoch::EpochRelease::from_bytes)
    {
        Some(Ok(r)) => r.entries.len(),
        Some(Err(e)) => {
            tracing::error!(error = %e, "a stored release does not parse");
            return Err(err(
                ErrorKind::Internal,
                "the stored release does not parse",
            ));
        }
        None => 0,
    };
    if usize::try_from(segments).map_or(true, |n| n > released) {
        return Err(err(
            ErrorKind::BadRequest,
            format!(
                "segments {segments} is more than the {released} segments released for this request"
            ),
        ));
    }
    let entry = app.log_entry(
        Role::Person,
        s.key,
        ctx.recording(),
        Event::Opened { decision },
    )?;
    let index = app.index.log_append(std::slice::from_ref(&entry)).await?;
    app.log.wake();
    tracing::info!(request = %hex::encode(ctx.row.request_hash), segments, log_index = index, "footage opened");
    Ok(created(logged_new(index, &entry)))
}
