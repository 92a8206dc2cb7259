//! Display names (docs/vault.md §11): `GET /v1/names?keys=…` serves the
//! signed name claims `obhut admin set-name` stored (docs/format.md §3.5).
//! The vault passes claims on; it never vouches for a name, and a client
//! shows none whose signature or signer it has not checked.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, Request, State};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::ErrorKind;
use obhut_api::names::{MAX_KEYS, NamesQuery, NamesResponse};
use obhut_store::{BlobStore, IndexStore};

use crate::app::App;
use crate::auth::Signer;
use crate::error::{ApiError, ApiResult};
use crate::params::bad;

/// `GET /v1/names?keys=HEX,HEX…`: person-signed, by a reader or an
/// auditor — the names of the vault's people are not for anyone on the
/// network.
pub async fn names<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    req: Request,
) -> ApiResult<Json<NamesResponse>> {
    let (parts, _) = req.into_parts();
    let Query(q) = Query::<NamesQuery>::try_from_uri(&parts.uri)
        .map_err(|e| bad(ErrorKind::BadRequest, format!("query: {e}")))?;
    let s = app.verify_signed(&parts, Signer::Person, &obhut_core::vault::body_sha256(&[]))?;
    if app.index.reader_groups(s.key).await?.is_empty() && !app.index.is_auditor(s.key).await? {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            format!(
                "person {} is neither a reader nor an auditor of this vault",
                hex::encode(s.key)
            ),
        ));
    }
    app.use_nonce(&s).await?;
    let keys: Vec<&str> = q.keys.split(',').filter(|k| !k.is_empty()).collect();
    if keys.len() > MAX_KEYS {
        return Err(bad(
            ErrorKind::BadRequest,
            format!("at most {MAX_KEYS} keys per request"),
        ));
    }
    let mut claims = BTreeMap::new();
    for k in keys {
        let key: [u8; 32] = hex::decode(k)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| {
                bad(
                    ErrorKind::BadRequest,
                    format!("key {k:?}: not 64 hex digits"),
                )
            })?;
        if let Some(claim) = app.index.name(key).await? {
            claims.insert(hex::encode(key), B64.encode(claim));
        }
    }
    Ok(Json(NamesResponse { claims }))
}
