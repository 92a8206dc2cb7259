//! `POST /v1/requests/{hash}/disclosed` (docs/bundle.md §5): the
//! requester's signed disclosure of an export bundle, logged whole as a
//! `disclosed` entry (docs/format.md §12 kind 26), so the log names every
//! copy of footage that left the vault and to whom.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::ErrorKind;
use obhut_api::access::DisclosureBody;
use obhut_core::audit::{Event, Role};
use obhut_core::disclosure::Disclosure;
use obhut_store::{BlobStore, IndexStore, RequestState};

use super::{created, err, json, load, logged_new, read_signed, require_requester};
use crate::app::App;
use crate::error::ApiResult;

/// `POST /v1/requests/{hash}/disclosed`: checked like a report of what
/// was opened (signer = requester, this vault, this request, the clock, no
/// more segments than were released), then logged.
pub async fn disclosed<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(hash): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (_, s, body) = read_signed(&app, req, crate::params::MAX_JSON_BODY).await?;
    let ctx = load(&app, &hash).await?;
    require_requester(&ctx, &s.key, "disclose what it exported")?;
    app.use_nonce(&s).await?;
    let b: DisclosureBody = json(&body, "disclosure body")?;
    let bytes = B64.decode(&b.disclosure).map_err(|e| {
        err(
            ErrorKind::BadRequest,
            format!("disclosure: not base64 ({e})"),
        )
    })?;
    let d = Disclosure::from_bytes(&bytes)
        .map_err(|e| err(ErrorKind::BadRequest, format!("disclosure: {e}")))?;
    let c = d.content();
    let wrong = if d.person().to_bytes() != s.key {
        Some("is signed by another person than the request")
    } else if c.vault != app.identity(crate::auth::Signer::Person) {
        Some("names another vault")
    } else if c.request_hash != ctx.row.request_hash || c.request_index != ctx.row.log_index {
        Some("names another request or log index")
    } else {
        None
    };
    if let Some(why) = wrong {
        return Err(err(ErrorKind::BadRequest, format!("the disclosure {why}")));
    }
    crate::auth::check_time(c.time_ms, app.clock.now_ms())?;
    if ctx.row.state != RequestState::Released {
        return Err(err(
            ErrorKind::Conflict,
            format!(
                "the request is {}; only a released request can be exported",
                ctx.row.state
            ),
        ));
    }
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
    let segments = c.segments;
    if usize::try_from(segments).map_or(true, |n| n > released) {
        return Err(err(
            ErrorKind::BadRequest,
            format!(
                "segments {segments} is more than the {released} segments released for this request"
            ),
        ));
    }
    let recipients = c.recipients.len();
    let entry = app.log_entry(
        Role::Person,
        s.key,
        ctx.recording(),
        Event::Disclosed { disclosure: d },
    )?;
    let index = app.index.log_append(std::slice::from_ref(&entry)).await?;
    app.log.wake();
    tracing::info!(request = %hex::encode(ctx.row.request_hash), segments, recipients, log_index = index, "export disclosed");
    Ok(created(logged_new(index, &entry)))
}
