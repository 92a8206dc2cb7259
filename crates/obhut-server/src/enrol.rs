//! `POST /v1/enrol` (docs/vault.md §3): a device redeems an enrolment
//! token, is bound to the token's custody group and retention class, and
//! gets what it pins (the group descriptor and the vault's receipt key).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::ErrorKind;
use obhut_api::ingest::{EnrolRequest, EnrolResponse};
use obhut_core::vault::body_sha256;
use obhut_store::{BlobStore, IndexStore};

use crate::app::App;
use crate::error::ApiResult;
use crate::params::bad;

/// `POST /v1/enrol`.
pub async fn enrol<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    req: Request,
) -> ApiResult<Json<EnrolResponse>> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, crate::params::MAX_JSON_BODY)
        .await
        .map_err(|_| bad(ErrorKind::TooLarge, "the enrolment body exceeds 64 KiB"))?;
    let s = crate::auth::verify(
        &parts,
        crate::auth::Signer::Device,
        &obhut_core::vault::ENROL_VAULT,
        &body_sha256(&body),
        app.clock.now_ms(),
    )?;
    let r: EnrolRequest = serde_json::from_slice(&body)
        .map_err(|e| bad(ErrorKind::BadRequest, format!("enrolment body: {e}")))?;
    if r.device_key != hex::encode(s.key) {
        return Err(bad(
            ErrorKind::BadSignature,
            "device_key differs from the Obhut-Device header",
        ));
    }
    let token_hex = r.token.strip_prefix("obhut-enrol-").ok_or_else(|| {
        bad(
            ErrorKind::InvalidToken,
            "the token does not start with obhut-enrol-",
        )
    })?;
    if token_hex.len() != 64 || !token_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(
            ErrorKind::InvalidToken,
            "the token is not obhut-enrol- followed by 64 hex digits",
        ));
    }
    // The token is checked (and redeemed) before the nonce is written: a
    // bogus token writes nothing (issue 16). A replay of a redeemed
    // token's request redeems nothing anew and is then refused here.
    let token_hash = body_sha256(r.token.as_bytes());
    let now = app.clock.now_ms();
    let device = app
        .index
        .redeem_token(token_hash, s.key, now, |d| {
            obhut_store::NewLogEntry::new(&obhut_core::audit::LogEntry {
                time_ms: now,
                actor: obhut_core::audit::Actor {
                    role: obhut_core::audit::Role::Device,
                    key: d.device_key,
                },
                recording: None,
                event: obhut_core::audit::Event::DeviceEnrolled {
                    group_id: d.group_id,
                    retention_class: d.retention_class.clone(),
                },
            })
        })
        .await?;
    app.log.wake();
    app.use_nonce(&s).await?;
    let group = app
        .index
        .group(device.group_id)
        .await?
        .ok_or_else(|| bad(ErrorKind::Internal, "the token's custody group is missing"))?;
    // Epochs for the class now, so the device can seal right away.
    app.ensure_epochs(&device.retention_class).await?;
    tracing::info!(device = %hex::encode(s.key), group = %device.group_id, class = %device.retention_class, "device enrolled");
    Ok(Json(EnrolResponse {
        device_key: hex::encode(s.key),
        group_id: device.group_id.to_string(),
        retention_class: device.retention_class,
        descriptor: B64.encode(&group.descriptor),
        fingerprint: hex::encode(group.fingerprint),
        vault_key: hex::encode(app.keystore.vault_key().verify_key().to_bytes()),
    }))
}
