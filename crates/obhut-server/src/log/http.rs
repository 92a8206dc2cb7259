//! The audit log over HTTP (docs/log.md §HTTP). Checkpoints, hash tiles
//! and proofs are public: anyone may check the log is append-only. Entry
//! bodies hold case data and go to auditors only.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::ErrorKind;
use obhut_api::log::{
    EntriesQuery, EntriesResponse, EntryJson, KeyResponse, MAX_ENTRIES_PER_PAGE, ProofQuery,
    ProofResponse,
};
use obhut_log::tiles::{TileId, encode_bundle, tile_in_tree};
use obhut_store::{BlobStore, IndexStore, LogEntryRow, StoredCheckpoint};

use super::proofs::{prove_consistency, prove_inclusion};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::params::parse_rid;

async fn latest<I: IndexStore, B: BlobStore>(app: &App<I, B>) -> ApiResult<Arc<StoredCheckpoint>> {
    if let Some(cp) = app.log.subscribe().borrow().clone() {
        return Ok(cp);
    }
    // Another process may be the integrator; the store has what it signed.
    app.index
        .log_checkpoint()
        .await?
        .map(Arc::new)
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "the audit log is still empty"))
}

fn note(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response()
}

/// `GET /v1/log/checkpoint`: the latest signed checkpoint (C2SP
/// tlog-checkpoint, text/plain).
pub async fn checkpoint<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
) -> ApiResult<Response> {
    Ok(note(latest(&app).await?.note.clone()))
}

/// `GET /v1/log/checkpoints/{size}`: the checkpoint signed at exactly
/// that size, for auditors comparing what two clients were shown.
pub async fn checkpoint_at<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(size): Path<u64>,
) -> ApiResult<Response> {
    let cp = app.index.log_checkpoint_at(size).await?.ok_or_else(|| {
        ApiError::new(ErrorKind::NotFound, format!("no checkpoint of size {size}"))
    })?;
    Ok(note(cp.note))
}

/// `GET /v1/log/key`: origin and vkey (pin them out of band; this answer
/// is only a convenience for setting up).
pub async fn key<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
) -> Json<KeyResponse> {
    Json(KeyResponse {
        origin: app.log.origin().to_owned(),
        vkey: app.log.verifier_key().to_string(),
    })
}

/// `GET /v1/log/tile/{path}`: a hash tile (public) or an entry bundle
/// (auditors), C2SP tlog-tiles paths.
pub async fn tile<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(path): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (t, entries) = TileId::parse_path(&format!("tile/{path}"))
        .map_err(|e| ApiError::new(ErrorKind::BadRequest, format!("tile path: {e}")))?;
    let size = latest(&app).await?.size;
    if !tile_in_tree(&t, size) {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            format!("{} is not in the tree of {size} entries", t.path()),
        ));
    }
    if entries {
        let (parts, _) = req.into_parts();
        app.authenticate_auditor(&parts).await?;
        let rows = app
            .index
            .log_entries(t.index * 256, u32::from(t.width))
            .await?;
        let bodies = bodies(&rows)?;
        let bundle = encode_bundle(&bodies)
            .map_err(|e| ApiError::new(ErrorKind::Internal, format!("entry bundle: {e}")))?;
        return Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bundle).into_response());
    }
    let mut hashes = app
        .index
        .log_tile(t.level, t.index)
        .await?
        .ok_or_else(|| ApiError::new(ErrorKind::Internal, "an integrated tile is missing"))?;
    hashes.truncate(usize::from(t.width) * 32);
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            // Full tiles never change.
            (
                header::CACHE_CONTROL,
                if t.is_partial() {
                    "no-cache"
                } else {
                    "public, max-age=31536000, immutable"
                },
            ),
        ],
        hashes,
    )
        .into_response())
}

fn bodies(rows: &[LogEntryRow]) -> ApiResult<Vec<&[u8]>> {
    rows.iter()
        .map(|r| {
            r.body.as_deref().ok_or_else(|| {
                ApiError::new(
                    ErrorKind::Pruned,
                    format!(
                        "the body of entry {} was pruned (log retention); its leaf hash stays in the tree",
                        r.index
                    ),
                )
            })
        })
        .collect()
}

async fn proof_size<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    q: &ProofQuery,
) -> ApiResult<u64> {
    let latest = latest(app).await?.size;
    let size = q.size.unwrap_or(latest);
    if size > latest {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            format!("size {size} is beyond the latest checkpoint ({latest})"),
        ));
    }
    Ok(size)
}

/// `GET /v1/log/proof/inclusion?index=I[&size=N]`.
pub async fn inclusion<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Query(q): Query<ProofQuery>,
) -> ApiResult<Json<ProofResponse>> {
    let size = proof_size(&app, &q).await?;
    let proof = prove_inclusion(&app.index, q.index, size).await?;
    Ok(Json(ProofResponse {
        index: q.index,
        size,
        proof: proof.iter().map(|h| h.to_base64()).collect(),
    }))
}

/// `GET /v1/log/proof/consistency?old=M[&size=N]`.
pub async fn consistency<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Query(q): Query<ProofQuery>,
) -> ApiResult<Json<ProofResponse>> {
    let size = proof_size(&app, &q).await?;
    let proof = prove_consistency(&app.index, q.index, size).await?;
    Ok(Json(ProofResponse {
        index: q.index,
        size,
        proof: proof.iter().map(|h| h.to_base64()).collect(),
    }))
}

fn entries_json(rows: Vec<LogEntryRow>, size: u64) -> EntriesResponse {
    EntriesResponse {
        entries: rows
            .into_iter()
            .filter(|r| r.index < size)
            .map(|r| EntryJson {
                index: r.index,
                time_ms: r.time_ms,
                kind: r.kind,
                body: r.body.map(|b| B64.encode(b)),
                leaf_hash: hex::encode(r.leaf_hash),
            })
            .collect(),
        checkpoint_size: size,
    }
}

/// `GET /v1/log/entries?from=I&count=N` (auditors).
pub async fn entries<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Query(q): Query<EntriesQuery>,
    req: Request,
) -> ApiResult<Json<EntriesResponse>> {
    let (parts, _) = req.into_parts();
    app.authenticate_auditor(&parts).await?;
    let size = latest(&app).await?.size;
    let count = q
        .count
        .unwrap_or(MAX_ENTRIES_PER_PAGE)
        .min(MAX_ENTRIES_PER_PAGE);
    let rows = app.index.log_entries(q.from, count).await?;
    Ok(Json(entries_json(rows, size)))
}

/// `GET /v1/log/recordings/{rid}` (auditors): every entry about one
/// recording, the chain of custody.
pub async fn recording<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(rid): Path<String>,
    req: Request,
) -> ApiResult<Json<EntriesResponse>> {
    let rid = parse_rid(&rid)?;
    let (parts, _) = req.into_parts();
    app.authenticate_auditor(&parts).await?;
    let size = latest(&app).await?.size;
    let rows = app.index.log_recording_entries(rid).await?;
    Ok(Json(entries_json(rows, size)))
}
