//! The HTTP side of derived data (docs/vault.md §10): registering an
//! artifact, reading it and its lineage, recording and withdrawing
//! consent.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::ErrorKind;
use obhut_api::derived::{
    ArtifactJson, CascadeJson, ConsentJson, LineageEdge, LineageNode, LineageResponse,
    RecordConsent, RegisterArtifact, SourceJson, WithdrawConsent, WithdrawnResponse,
};
use obhut_core::artifact::{ArtifactKind, ArtifactRecord, SignerRole, Source};
use obhut_core::audit::{self, Event, Role};
use obhut_core::consent::{self, ConsentAction, ConsentStatement};
use obhut_core::ids::{GroupId, RecordingId};
use obhut_core::vault::body_sha256;
use obhut_store::{ArtifactRow, ArtifactState, BlobStore, ConsentRow, IndexStore, KeyBytes};

use super::{CascadeReport, cascade_consent_withdrawn, live_consent, purpose_name};
use crate::app::App;
use crate::auth::{Signed, Signer};
use crate::error::{ApiError, ApiResult};

/// Most nodes a lineage answer holds.
const MAX_NODES: usize = 1000;

fn err(kind: ErrorKind, msg: impl Into<String>) -> ApiError {
    ApiError::new(kind, msg)
}

async fn read_signed<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    req: Request,
) -> ApiResult<(Parts, Signer, Signed, bytes::Bytes)> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, crate::params::MAX_JSON_BODY)
        .await
        .map_err(|_| err(ErrorKind::TooLarge, "the body is too large"))?;
    let signer = if parts.headers.contains_key("obhut-device") {
        Signer::Device
    } else {
        Signer::Person
    };
    let s = app.verify_signed(&parts, signer, &body_sha256(&body))?;
    Ok((parts, signer, s, body))
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| err(ErrorKind::BadRequest, format!("{what}: {e}")))
}

fn b64(s: &str, what: &str) -> ApiResult<Vec<u8>> {
    B64.decode(s)
        .map_err(|_| err(ErrorKind::BadRequest, format!("{what} is not base64")))
}

fn parse_id(s: &str) -> ApiResult<RecordingId> {
    RecordingId::from_hex(s).ok_or_else(|| err(ErrorKind::BadRequest, "an id is 32 hex digits"))
}

fn parse_consent_id(s: &str) -> ApiResult<[u8; 16]> {
    Ok(parse_id(s)?.0)
}

/// Whether person `key` may see group `gid`'s artifacts: a reader or
/// requester of the group, or one of its custodians.
async fn may_see<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    key: &KeyBytes,
    gid: GroupId,
) -> ApiResult<bool> {
    if app.index.reader_groups(*key).await?.contains(&gid)
        || app.index.is_requester(*key, gid).await?
    {
        return Ok(true);
    }
    Ok(app.index.group(gid).await?.is_some()
        && app
            .pinned_group(gid)
            .await?
            .custodians()
            .iter()
            .any(|c| c.sign_key.to_bytes() == *key))
}

/// `POST /v1/artifacts` (a device enrolled in the record's group, or a
/// person who may read it; the caller is the record's signer): register a
/// derived artifact, logged whole as `artifact-registered`.
pub async fn register<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    req: Request,
) -> ApiResult<Response> {
    let (_, signer, s, body) = read_signed(&app, req).await?;
    let body: RegisterArtifact = json(&body, "the registration")?;
    let bytes = b64(&body.record, "record")?;
    if bytes.len() > audit::MAX_EMBEDDED_LEN {
        return Err(err(
            ErrorKind::TooLarge,
            "an artifact record is logged whole and is too long",
        ));
    }
    let rec = ArtifactRecord::from_bytes(&bytes)
        .map_err(|e| err(ErrorKind::BadRequest, format!("the artifact record: {e}")))?;
    let c = &rec.content;
    let role_matches = matches!(
        (signer, rec.signer_role),
        (Signer::Device, SignerRole::Device) | (Signer::Person, SignerRole::Person)
    );
    if !role_matches || rec.signer_key.to_bytes() != s.key {
        return Err(err(
            ErrorKind::Forbidden,
            "the record is signed by someone other than the caller; register your own record",
        ));
    }
    let gid = c.group_id;
    let allowed = match signer {
        Signer::Device => match app.index.device(s.key).await? {
            Some(d) => d.group_id == gid && d.revoked_ms.is_none(),
            None => false,
        },
        Signer::Person => may_see(&app, &s.key, gid).await?,
    };
    if !allowed {
        return Err(err(
            ErrorKind::Forbidden,
            format!("the signer may not register artifacts of group {gid}"),
        ));
    }
    app.use_nonce(&s).await?;
    check_sources(&app, gid, &c.sources).await?;
    let needs = if c.kind == ArtifactKind::TrainingSet {
        Some(consent::PURPOSE_TRAINING)
    } else {
        consent::review_purpose(&c.purpose)
    };
    if let Some(purpose) = needs {
        let ok = match c.consent_id {
            Some(id) => live_consent(&app, gid, purpose, Some(id)).await?.is_some(),
            None => false,
        };
        if !ok {
            return Err(err(
                ErrorKind::ConsentRequired,
                format!(
                    "a {} for {} needs a recorded, unwithdrawn consent of group {gid} named in its record",
                    c.kind.name(),
                    purpose_name(purpose)
                ),
            ));
        }
    }
    let now = app.clock.now_ms();
    let entry = app.log_entry(
        match signer {
            Signer::Device => Role::Device,
            Signer::Person => Role::Person,
        },
        s.key,
        Some(c.artifact_id),
        Event::ArtifactRegistered {
            record: bytes.clone(),
        },
    )?;
    let row = ArtifactRow {
        artifact_id: c.artifact_id,
        group_id: gid,
        kind: c.kind.to_u8(),
        name: c.name.clone(),
        consent_id: c.consent_id,
        signer_key: s.key,
        record: bytes,
        registered_ms: now,
        state: ArtifactState::Live,
        changed_ms: None,
        sources: c.sources.clone(),
    };
    app.index.put_artifact(&row, &entry).await?;
    app.log.wake();
    tracing::info!(artifact = %c.artifact_id, kind = c.kind.name(), "artifact registered");
    Ok((StatusCode::CREATED, Json(artifact_json(&row)?)).into_response())
}

/// Every source in group `gid`: recordings holding those segments,
/// artifacts registered and not deleted.
async fn check_sources<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    gid: GroupId,
    sources: &[Source],
) -> ApiResult<()> {
    for s in sources {
        match *s {
            Source::Segments {
                recording_id, end, ..
            } => match app.index.recording(recording_id).await? {
                Some(r) if r.group_id == gid && end <= r.segment_count => {}
                _ => {
                    return Err(err(
                        ErrorKind::UnknownRecording,
                        format!(
                            "no recording {recording_id} of group {gid} with segments up to {end}"
                        ),
                    ));
                }
            },
            Source::Artifact { artifact_id } => match app.index.artifact(artifact_id).await? {
                Some(a) if a.group_id == gid && a.state != ArtifactState::Deleted => {}
                Some(a) if a.state == ArtifactState::Deleted => {
                    return Err(err(
                        ErrorKind::ArtifactDeleted,
                        format!("source artifact {artifact_id} was deleted"),
                    ));
                }
                _ => {
                    return Err(err(
                        ErrorKind::NotFound,
                        format!("no artifact {artifact_id} in group {gid}"),
                    ));
                }
            },
        }
    }
    Ok(())
}

fn source_json(s: &Source) -> SourceJson {
    match *s {
        Source::Segments {
            recording_id,
            first,
            end,
        } => SourceJson {
            source: "segments".into(),
            id: recording_id.to_string(),
            first: Some(first),
            end: Some(end),
        },
        Source::Artifact { artifact_id } => SourceJson {
            source: "artifact".into(),
            id: artifact_id.to_string(),
            first: None,
            end: None,
        },
    }
}

fn artifact_json(row: &ArtifactRow) -> ApiResult<ArtifactJson> {
    let rec = ArtifactRecord::from_bytes(&row.record).map_err(|e| {
        tracing::error!(error = %e, "a stored artifact record does not parse");
        err(
            ErrorKind::Internal,
            "a stored artifact record does not parse",
        )
    })?;
    let c = rec.content;
    Ok(ArtifactJson {
        artifact_id: c.artifact_id.to_string(),
        group_id: c.group_id.to_string(),
        kind: c.kind.name().into(),
        name: c.name,
        purpose: c.purpose,
        legal_basis: c.legal_basis,
        consent_id: c.consent_id.map(hex::encode),
        signer_role: rec.signer_role.name().into(),
        signer_key: hex::encode(row.signer_key),
        created_ms: c.created_ms,
        registered_ms: row.registered_ms,
        state: row.state.as_str().into(),
        changed_ms: row.changed_ms,
        sources: c.sources.iter().map(source_json).collect(),
        record: B64.encode(&row.record),
    })
}

/// A person-signed GET (empty body), nonce used.
async fn person_get<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    parts: &Parts,
) -> ApiResult<KeyBytes> {
    let s = app.verify_signed(parts, Signer::Person, &body_sha256(&[]))?;
    app.use_nonce(&s).await?;
    Ok(s.key)
}

/// `GET /v1/artifacts/{id}`: an artifact in any state (a deleted one is
/// its tombstone), for whoever may see its group.
pub async fn get_artifact<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<ArtifactJson>> {
    let (parts, _) = req.into_parts();
    let key = person_get(&app, &parts).await?;
    let id = parse_id(&id)?;
    let row = app
        .index
        .artifact(id)
        .await?
        .ok_or_else(|| err(ErrorKind::NotFound, format!("no artifact {id}")))?;
    if !may_see(&app, &key, row.group_id).await? {
        return Err(err(
            ErrorKind::Forbidden,
            "you may not see this group's artifacts",
        ));
    }
    Ok(Json(artifact_json(&row)?))
}

/// `GET /v1/lineage/{id}`: what a recording or artifact was made from and
/// what was made from it, for whoever may see its group.
pub async fn lineage<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<LineageResponse>> {
    let (parts, _) = req.into_parts();
    let key = person_get(&app, &parts).await?;
    let root = parse_id(&id)?;
    let gid = match app.index.artifact(root).await? {
        Some(a) => a.group_id,
        None => match app.index.recording(root).await? {
            Some(r) => r.group_id,
            None => {
                return Err(err(
                    ErrorKind::NotFound,
                    format!("no artifact or recording {root}"),
                ));
            }
        },
    };
    if !may_see(&app, &key, gid).await? {
        return Err(err(
            ErrorKind::Forbidden,
            "you may not see this group's artifacts",
        ));
    }
    Ok(Json(graph(&app, root).await?))
}

async fn graph<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    root: RecordingId,
) -> ApiResult<LineageResponse> {
    let mut seen = BTreeSet::from([root]);
    let mut order = vec![root];
    let mut edges = BTreeSet::new();
    let mut truncated = false;
    // Up (what it was made from) and down (what was made from it).
    let mut todo: VecDeque<(RecordingId, bool, bool)> = VecDeque::from([(root, true, true)]);
    while let Some((id, up, down)) = todo.pop_front() {
        let art = app.index.artifact(id).await?;
        if up && let Some(a) = &art {
            for s in &a.sources {
                let (from, seg) = match *s {
                    Source::Segments {
                        recording_id,
                        first,
                        end,
                    } => (recording_id, Some([first, end])),
                    Source::Artifact { artifact_id } => (artifact_id, None),
                };
                edges.insert((from, id, seg));
                if seen.len() < MAX_NODES && seen.insert(from) {
                    order.push(from);
                    todo.push_back((from, true, false));
                } else if !seen.contains(&from) {
                    truncated = true;
                }
            }
        }
        if down {
            let mut children = app.index.derived_from_artifact(id).await?;
            if art.is_none() {
                children.extend(app.index.derived_from_segments(id, 0, u32::MAX).await?);
            }
            for c in children {
                for s in &c.sources {
                    match *s {
                        Source::Segments {
                            recording_id,
                            first,
                            end,
                        } if recording_id == id => {
                            edges.insert((id, c.artifact_id, Some([first, end])));
                        }
                        Source::Artifact { artifact_id } if artifact_id == id => {
                            edges.insert((id, c.artifact_id, None));
                        }
                        _ => {}
                    }
                }
                if seen.len() < MAX_NODES && seen.insert(c.artifact_id) {
                    order.push(c.artifact_id);
                    todo.push_back((c.artifact_id, false, true));
                } else if !seen.contains(&c.artifact_id) {
                    truncated = true;
                }
            }
        }
    }
    let mut nodes = Vec::with_capacity(order.len());
    for id in order {
        nodes.push(node(app, id).await?);
    }
    Ok(LineageResponse {
        root: root.to_string(),
        nodes,
        edges: edges
            .into_iter()
            .filter(|(f, t, _)| seen.contains(f) && seen.contains(t))
            .map(|(from, to, segments)| LineageEdge {
                from: from.to_string(),
                to: to.to_string(),
                segments,
            })
            .collect(),
        truncated,
    })
}

async fn node<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    id: RecordingId,
) -> ApiResult<LineageNode> {
    if let Some(a) = app.index.artifact(id).await? {
        let j = artifact_json(&a)?;
        return Ok(LineageNode {
            id: j.artifact_id,
            kind: j.kind,
            name: j.name,
            state: j.state,
            time_ms: Some(j.created_ms),
            purpose: Some(j.purpose),
            device: None,
        });
    }
    let (name, state, time_ms, device) = match app.index.recording(id).await? {
        Some(r) => (
            format!("recording by device {}", &hex::encode(r.device_key)[..16]),
            "live",
            Some(r.first_capture_ms),
            Some(hex::encode(r.device_key)),
        ),
        None if app.index.expired_recording(id).await?.is_some() => {
            ("recording".to_owned(), "expired", None, None)
        }
        None => ("recording".to_owned(), "unknown", None, None),
    };
    Ok(LineageNode {
        id: id.to_string(),
        kind: "recording".into(),
        name,
        state: state.into(),
        time_ms,
        purpose: None,
        device,
    })
}

fn consent_json(c: &ConsentRow) -> ConsentJson {
    let mut purposes = Vec::new();
    for bit in [
        consent::PURPOSE_TRAINING,
        consent::PURPOSE_PRODUCT_IMPROVEMENT,
    ] {
        if c.purposes & bit != 0 {
            purposes.push(purpose_name(bit).to_owned());
        }
    }
    ConsentJson {
        consent_id: hex::encode(c.consent_id),
        group_id: c.group_id.to_string(),
        purposes,
        not_before: c.not_before,
        not_after: c.not_after,
        recorded_ms: c.recorded_ms,
        withdrawn_ms: c.withdrawn_ms,
    }
}

/// `POST /v1/consents` (person-signed by one of the granting custodians):
/// record a consent from the grants of k distinct custodians of its group,
/// logged whole as `consent-recorded`. An operator, holding no custodian
/// key, can neither sign a grant nor post one.
pub async fn record_consent<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    req: Request,
) -> ApiResult<Response> {
    let (_, _, s, body) = read_signed(&app, req).await?;
    let body: RecordConsent = json(&body, "the consent")?;
    let mut statements = Vec::new();
    let mut encoded = Vec::new();
    for (i, st) in body.statements.iter().enumerate() {
        let bytes = b64(st, "a statement")?;
        let parsed = ConsentStatement::from_bytes(&bytes)
            .map_err(|e| err(ErrorKind::BadRequest, format!("statement {i}: {e}")))?;
        if !encoded.contains(&bytes) {
            statements.push(parsed);
            encoded.push(bytes);
        }
    }
    if !statements
        .iter()
        .any(|st| st.custodian_key.to_bytes() == s.key)
    {
        return Err(err(
            ErrorKind::Forbidden,
            "a consent is posted by one of the custodians who grant it",
        ));
    }
    let gid = statements
        .first()
        .map(|st| st.action.group_id())
        .ok_or_else(|| err(ErrorKind::BadRequest, "no statements"))?;
    if app.index.group(gid).await?.is_none() {
        return Err(err(ErrorKind::NotFound, format!("no custody group {gid}")));
    }
    let group = app.pinned_group(gid).await?;
    let now = app.clock.now_ms();
    let c = consent::recorded_consent(group.descriptor(), &statements, now).map_err(|e| {
        err(
            ErrorKind::Forbidden,
            format!("the grants do not record a consent: {e}"),
        )
    })?;
    app.use_nonce(&s).await?;
    let entry = app.log_entry(
        Role::Person,
        s.key,
        None,
        Event::ConsentRecorded {
            statements: encoded,
        },
    )?;
    let row = ConsentRow {
        consent_id: c.consent_id,
        group_id: gid,
        purposes: c.purposes,
        not_before: c.not_before,
        not_after: c.not_after,
        recorded_ms: now,
        withdrawn_ms: None,
    };
    app.index.put_consent(&row, &entry).await?;
    app.log.wake();
    tracing::info!(consent = %hex::encode(c.consent_id), group = %gid, "consent recorded");
    Ok((StatusCode::CREATED, Json(consent_json(&row))).into_response())
}

/// `POST /v1/consents/{id}/withdrawal` (person-signed by the withdrawing
/// custodian): withdraw, logged as `consent-withdrawn`, then cascade:
/// every artifact made under it goes and the models built on them are
/// listed as tainted. Repeating it finishes a cascade a crash cut short.
pub async fn withdraw_consent<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<WithdrawnResponse>> {
    let (_, _, s, body) = read_signed(&app, req).await?;
    let id = parse_consent_id(&id)?;
    let body: WithdrawConsent = json(&body, "the withdrawal")?;
    let bytes = b64(&body.statement, "statement")?;
    let st = ConsentStatement::from_bytes(&bytes)
        .map_err(|e| err(ErrorKind::BadRequest, format!("the withdrawal: {e}")))?;
    if !matches!(st.action, ConsentAction::Withdraw { .. }) || st.action.consent_id() != id {
        return Err(err(
            ErrorKind::BadRequest,
            "the statement does not withdraw this consent",
        ));
    }
    if st.custodian_key.to_bytes() != s.key {
        return Err(err(
            ErrorKind::Forbidden,
            "a withdrawal is posted by the custodian who signed it",
        ));
    }
    let row = app.index.consent(id).await?.ok_or_else(|| {
        err(
            ErrorKind::NotFound,
            format!("no consent {}", hex::encode(id)),
        )
    })?;
    let group = app.pinned_group(row.group_id).await?;
    st.check_signer(group.descriptor())
        .map_err(|e| err(ErrorKind::Forbidden, format!("the withdrawal: {e}")))?;
    app.use_nonce(&s).await?;
    let entry = app.log_entry(
        Role::Person,
        s.key,
        None,
        Event::ConsentWithdrawn { statement: bytes },
    )?;
    app.index
        .withdraw_consent(id, app.clock.now_ms(), &entry)
        .await?;
    app.log.wake();
    let report = cascade_consent_withdrawn(&app, id).await?;
    let row = app
        .index
        .consent(id)
        .await?
        .ok_or_else(|| err(ErrorKind::Internal, "the consent vanished"))?;
    Ok(Json(WithdrawnResponse {
        consent: consent_json(&row),
        cascade: cascade_json(&report),
    }))
}

/// The JSON of a cascade's report.
pub fn cascade_json(r: &CascadeReport) -> CascadeJson {
    CascadeJson {
        deleted: r.deleted.iter().map(ToString::to_string).collect(),
        tainted: r.tainted.iter().map(ToString::to_string).collect(),
        entries: r.entries,
    }
}
