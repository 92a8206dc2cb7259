//! `POST /v1/requests/{hash}/release` (docs/access.md §2 step 3): the
//! checks before the vault hands out `b`, the scope resolved from its own
//! device-signed records, and the `released` entry committed with the
//! release.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::ErrorKind;
use obhut_api::access::ReleaseJson;
use obhut_core::access::{records_in_scope, release_for_grant_with};
use obhut_core::audit::{Event, Role};
use obhut_core::epoch::{EpochRelease, EpochSecret};
use obhut_core::ids::SegmentRef;
use obhut_core::ids::{EpochId, RecordingId};
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, GrantRef, Scope, SegmentFacts};
use obhut_core::rewrap::EpochRewrap;
use obhut_core::rng::os_rng;
use obhut_core::secret::Secret32;
use obhut_store::{
    ApprovalRow, BlobStore, EpochState, IndexStore, RecordingFilter, RequestState, SegmentRow,
    StoreError,
};

use super::{
    Ctx, err, load, logged_new, logged_stored, not_expired, read_signed, require_requester,
};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Store;

/// The approvals a release counts, given the segment count the scope
/// resolved to (`None`: not resolved yet): by a custodian listed at its
/// index with its key, not the requester (unless `allow_self_approval`),
/// envelope uploaded. Distinct custodians by construction (one row each).
fn counted<'a>(
    ctx: &Ctx,
    approvals: &'a [ApprovalRow],
    allow_self: bool,
    segments: Option<usize>,
) -> Vec<&'a ApprovalRow> {
    approvals
        .iter()
        .filter(|a| {
            ctx.group
                .custodian(a.custodian)
                .is_some_and(|c| c.sign_key.to_bytes() == a.custodian_key)
        })
        .filter(|a| allow_self || a.custodian_key != ctx.row.requester_key)
        .filter(|a| a.envelope.is_some())
        .filter(|a| segments.is_none_or(|n| a.segments as usize == n))
        .collect()
}

/// Whether a signed checkpoint covers entry `entry` (integrating first if
/// this process is the integrator).
async fn ensure_integrated<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    entry: u64,
) -> ApiResult<()> {
    let now = app.clock.now_ms();
    if app
        .log
        .checkpoint_covering(&app.index, entry, now)
        .await
        .is_ok()
    {
        return Ok(());
    }
    // With witnesses, a checkpoint is served only after they were asked;
    // the stored one is what was signed.
    match app.index.log_checkpoint().await? {
        Some(cp) if cp.size > entry => Ok(()),
        _ => Err(err(
            ErrorKind::NotReady,
            format!("log entry {entry} is not yet in a signed checkpoint; retry in a few seconds"),
        )),
    }
}

/// The device-signed records the request's scope covers, from the vault's
/// store, in recording and index order.
async fn records_for<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    request: &AccessRequest,
) -> ApiResult<Vec<SegmentRecord>> {
    let gid = request.group_id;
    let mut recordings: Vec<RecordingId> = Vec::new();
    for scope in &request.scope {
        match scope {
            Scope::Recording { recording_id, .. } => {
                if let Some(r) = app.index.recording(*recording_id).await?
                    && r.group_id == gid
                    && !recordings.contains(recording_id)
                {
                    recordings.push(*recording_id);
                }
            }
            Scope::Device { device_key, .. } => {
                let rows = app
                    .index
                    .list_recordings(&RecordingFilter {
                        device: Some(device_key.to_bytes()),
                        groups: vec![gid],
                        from_ms: None,
                        to_ms: None,
                    })
                    .await?;
                for r in rows {
                    if !recordings.contains(&r.recording_id) {
                        recordings.push(r.recording_id);
                    }
                }
            }
        }
    }
    // Select by the facts read in place (cheap), then verify only what was
    // selected: a 10-hour recording has 3,600 records, a 1-minute scope 7,
    // and every stored record was verified at ingest. The selection is made
    // again on the verified records, so a record whose stored bytes changed
    // since cannot slip in.
    let mut stored = Vec::new();
    for rid in recordings {
        stored.extend(app.index.segments(rid).await?);
    }
    let facts: Vec<SegmentFacts> = stored
        .iter()
        .map(|s| SegmentFacts::peek_record(&s.record).map_err(|e| damaged(s, &e)))
        .collect::<Result<_, _>>()?;
    let selected: Vec<&SegmentRow> = stored
        .iter()
        .zip(&facts)
        .filter(|(_, f)| request.covers(f, &facts))
        .map(|(s, _)| s)
        .collect();
    if selected.is_empty() {
        return Ok(Vec::new());
    }
    let parsed: Vec<SegmentRecord> = selected
        .iter()
        .map(|s| {
            let r = SegmentRecord::from_bytes(&s.record).map_err(|e| damaged(s, &e))?;
            let named = r.segment_ref();
            if named.recording != s.recording_id || named.index != s.index {
                return Err(damaged(
                    s,
                    &obhut_core::Error::Malformed {
                        what: "segment record",
                        reason: "it names another segment than its row",
                    },
                ));
            }
            Ok(r)
        })
        .collect::<Result<_, _>>()?;
    let in_scope: Vec<SegmentRecord> = records_in_scope(request, &parsed)
        .into_iter()
        .cloned()
        .collect();
    if in_scope.len() != parsed.len() {
        // Name the first record whose stored facts selected it but whose
        // verified bytes do not.
        let first = parsed
            .iter()
            .zip(&selected)
            .find(|(p, _)| !in_scope.iter().any(|r| r.segment_ref() == p.segment_ref()))
            .map(|(_, s)| *s);
        let e = obhut_core::Error::Malformed {
            what: "segment record",
            reason: "stored facts differ from the verified record",
        };
        return Err(match first {
            Some(s) => damaged(s, &e),
            None => err(ErrorKind::Internal, "the scope's records disagree"),
        });
    }
    Ok(in_scope)
}

/// A stored record that no longer verifies (changed in the index since
/// ingest): the requester's answer names the segment, with a 4xx kind,
/// since asking again cannot help; the vault's log says why.
fn damaged(s: &SegmentRow, e: &obhut_core::Error) -> ApiError {
    tracing::error!(
        recording = %s.recording_id,
        segment = s.index,
        error = %e,
        "a stored segment record does not verify"
    );
    err(
        ErrorKind::StoredSegmentCorrupt,
        format!(
            "recording {} segment {}: the stored record does not verify; the vault's operator must restore it (`obhut check` names it)",
            s.recording_id, s.index
        ),
    )
}

/// `POST /v1/requests/{hash}/release`: the requester asks for `b` of the
/// segments in scope (docs/access.md §2 step 3). Checks, in order:
/// requester, not denied, unexpired, k counted approvals with envelopes,
/// the request and those approvals in a signed checkpoint; then resolves
/// the scope from the stored records, seals `b` to the request's key and
/// logs `released` with the release in one transaction. A released
/// request is answered again from what was stored until it expires.
pub async fn release<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(hash): Path<String>,
    req: Request,
) -> ApiResult<Json<ReleaseJson>> {
    let (_, s, _) = read_signed(&app, req, crate::params::MAX_JSON_BODY).await?;
    let ctx = load(&app, &hash).await?;
    require_requester(&ctx, &s.key, "ask for its release")?;
    app.use_nonce(&s).await?;
    match ctx.row.state {
        RequestState::Denied => {
            return Err(err(
                ErrorKind::Conflict,
                "the request was denied; nothing is released",
            ));
        }
        RequestState::Released => {
            not_expired(&app, &ctx)?;
            return Ok(Json(stored_release(&app, &ctx).await?));
        }
        RequestState::Pending => {}
    }
    not_expired(&app, &ctx)?;
    let k = usize::from(ctx.group.threshold());
    let approvals = app.index.approvals(ctx.row.request_hash).await?;
    let allow_self = app.config.allow_self_approval;
    let ready = counted(&ctx, &approvals, allow_self, None);
    if ready.len() < k {
        return Err(not_ready(&ctx, &approvals, allow_self, k, ready.len()));
    }
    let last = ready
        .iter()
        .map(|a| a.log_index)
        .chain([ctx.row.log_index])
        .max()
        .unwrap_or(ctx.row.log_index);
    ensure_integrated(&app, last).await?;

    let records = records_for(&app, &ctx.request).await?;
    if records.is_empty() {
        return Err(err(
            ErrorKind::NotReady,
            "the request's scope covers no stored segment",
        ));
    }
    let n = records.len();
    let counted_now = counted(&ctx, &approvals, allow_self, Some(n));
    if counted_now.len() < k {
        let seen: Vec<String> = ready
            .iter()
            .map(|a| format!("custodian {}: {}", a.custodian, a.segments))
            .collect();
        return Err(err(
            ErrorKind::Conflict,
            format!(
                "the scope now covers {n} stored segments, but fewer than {k} approvals resolved it to as many ({}); footage in scope arrived after approval: the requester must ask again",
                seen.join(", ")
            ),
        ));
    }
    let keys = release_keys(&app, &records).await?;
    let grant = GrantRef::new(ctx.row.log_index, &ctx.request);
    let in_scope: Vec<&SegmentRecord> = records.iter().collect();
    let rel = release_for_grant_with(
        |r| keys.b_of(r),
        &ctx.request,
        &grant,
        &in_scope,
        app.clock.now_ms(),
        &mut os_rng(),
    )
    .map_err(|e| match e {
        obhut_core::Error::Refused(obhut_core::error::RefusalReason::Expired) => {
            err(ErrorKind::Expired, "the request has expired")
        }
        obhut_core::Error::Refused(r) => err(ErrorKind::Conflict, r.to_string()),
        other => {
            tracing::error!(error = %other, "building a release");
            err(ErrorKind::Internal, "the vault could not build the release")
        }
    })?;
    drop(keys);
    let release_bytes = rel.to_bytes();
    let entry = app.log_entry(
        Role::Vault,
        app.keystore.vault_key().verify_key().to_bytes(),
        ctx.recording(),
        Event::Released {
            request_hash: ctx.row.request_hash,
            request_index: ctx.row.log_index,
            segments: u32::try_from(n).unwrap_or(u32::MAX),
        },
    )?;
    let marked = app
        .index
        .mark_released(ctx.row.request_hash, &release_bytes, &entry);
    match app
        .metrics
        .timed(Store::Index, "mark_released", marked)
        .await
    {
        Ok(index) => {
            app.log.wake();
            app.metrics.releases.inc();
            app.metrics
                .released_segments
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
            tracing::info!(request = %hex::encode(ctx.row.request_hash), segments = n, log_index = index, "epoch parts released");
            Ok(Json(ReleaseJson {
                release: B64.encode(&release_bytes),
                records: records.iter().map(|r| B64.encode(r.to_bytes())).collect(),
                partials: envelopes(&counted_now),
                logged: logged_new(index, &entry),
            }))
        }
        // A concurrent call released first: answer with what it stored.
        Err(StoreError::RequestNotPending {
            state: RequestState::Released,
        }) => {
            let ctx = load(&app, &hash).await?;
            Ok(Json(stored_release(&app, &ctx).await?))
        }
        Err(e) => Err(e.into()),
    }
}

/// The keys a release needs: the secret of each header's epoch, or, for
/// a segment whose epoch is destroyed but which a legal hold kept, the
/// re-wrap stored beside it and its hold's secret (docs/vault.md §9.1).
struct ReleaseKeys {
    epochs: HashMap<EpochId, EpochSecret>,
    rewraps: HashMap<SegmentRef, EpochRewrap>,
}

impl ReleaseKeys {
    fn b_of(&self, r: &SegmentRecord) -> obhut_core::Result<Secret32> {
        let header = r.header();
        let fields = &header.fields;
        let misplaced = |_| obhut_core::Error::Segment {
            segment: r.segment_ref(),
            failure: obhut_core::error::SegmentFailure::Misplaced(
                "its epoch part does not open with the key the vault holds for it",
            ),
        };
        let no_key = || obhut_core::Error::Segment {
            segment: r.segment_ref(),
            failure: obhut_core::error::SegmentFailure::NoKey,
        };
        if let Some(rw) = self.rewraps.get(&r.segment_ref()) {
            let secret = self.epochs.get(&rw.new_epoch_id).ok_or_else(no_key)?;
            return rw.unwrap(header, secret).map_err(misplaced);
        }
        let secret = self
            .epochs
            .get(&fields.epoch_wrap.epoch_id)
            .ok_or_else(no_key)?;
        secret
            .unwrap(
                &fields.epoch_wrap,
                fields.recording_id,
                &fields.device_key,
                fields.segment_index,
            )
            .map_err(misplaced)
    }
}

/// Load the keys of `records` (see [`ReleaseKeys`]): `410
/// epoch-destroyed` for a segment whose epoch key is destroyed and which
/// no hold kept.
async fn release_keys<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    records: &[SegmentRecord],
) -> ApiResult<ReleaseKeys> {
    let mut keys = ReleaseKeys {
        epochs: HashMap::new(),
        rewraps: HashMap::new(),
    };
    let mut destroyed: Vec<EpochId> = Vec::new();
    for r in records {
        let header_epoch = r.header().fields.epoch_wrap.epoch_id;
        if keys.epochs.contains_key(&header_epoch) {
            continue;
        }
        if !destroyed.contains(&header_epoch) {
            match load_epoch(app, header_epoch, r).await? {
                Some(secret) => {
                    keys.epochs.insert(header_epoch, secret);
                    continue;
                }
                None => destroyed.push(header_epoch),
            }
        }
        // Its epoch is destroyed: only a re-wrap a hold keeps opens it.
        let seg = r.segment_ref();
        let Some(stored) = app.index.segment_rewrap(seg.recording, seg.index).await? else {
            return Err(expired(r));
        };
        let rw = EpochRewrap::from_bytes(&stored.rewrap).map_err(|e| {
            tracing::error!(segment = %seg, error = %e, "a stored re-wrap does not parse");
            err(
                ErrorKind::Internal,
                format!("the stored re-wrap of segment {seg} does not parse"),
            )
        })?;
        let id = rw.new_epoch_id;
        keys.rewraps.insert(seg, rw);
        if let std::collections::hash_map::Entry::Vacant(v) = keys.epochs.entry(id) {
            v.insert(load_epoch(app, id, r).await?.ok_or_else(|| expired(r))?);
        }
    }
    Ok(keys)
}

fn expired(r: &SegmentRecord) -> ApiError {
    err(
        ErrorKind::EpochDestroyed,
        format!(
            "segment {} expired: its retention epoch's key is destroyed and nothing can release it",
            r.segment_ref()
        ),
    )
}

/// Epoch `id`'s secret; `None` once it is destroyed (by the key holder's
/// word, or the epoch's row: the sweep removes the sealed file too).
async fn load_epoch<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    id: EpochId,
    r: &SegmentRecord,
) -> ApiResult<Option<EpochSecret>> {
    match app.keystore.epoch(id) {
        Ok(s) => Ok(Some(s)),
        Err(crate::keystore::KeystoreError::Holder(crate::holder::HolderError::Destroyed(_))) => {
            Ok(None)
        }
        Err(_)
            if app
                .index
                .epoch(id)
                .await?
                .is_some_and(|e| matches!(e.state, EpochState::Destroyed | EpochState::Swept)) =>
        {
            Ok(None)
        }
        Err(e) => {
            tracing::error!(epoch = %id, error = %e, "epoch key for a release is not in the keystore");
            Err(err(
                ErrorKind::Internal,
                format!(
                    "the epoch key of segment {} is not in the vault's keystore; its footage cannot be released",
                    r.segment_ref()
                ),
            ))
        }
    }
}

fn envelopes(approvals: &[&ApprovalRow]) -> Vec<String> {
    approvals
        .iter()
        .filter_map(|a| a.envelope.as_ref().map(|e| B64.encode(e)))
        .collect()
}

/// The 422 naming what a release still waits for.
fn not_ready(
    ctx: &Ctx,
    approvals: &[ApprovalRow],
    allow_self: bool,
    k: usize,
    have: usize,
) -> ApiError {
    let mut missing = vec![format!(
        "{have} of {k} approvals by distinct custodians with their partials uploaded"
    )];
    let waiting: Vec<String> = approvals
        .iter()
        .filter(|a| a.envelope.is_none())
        .map(|a| a.custodian.to_string())
        .collect();
    if !waiting.is_empty() {
        missing.push(format!(
            "custodian(s) {} approved but have not uploaded their partial",
            waiting.join(", ")
        ));
    }
    if !allow_self
        && approvals
            .iter()
            .any(|a| a.custodian_key == ctx.row.requester_key)
    {
        missing.push("the requester's own approval does not count".into());
    }
    err(ErrorKind::NotReady, missing.join("; "))
}

/// A released request's answer again, from the stored release: the
/// records of exactly the released segments and the envelopes counted.
async fn stored_release<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    ctx: &Ctx,
) -> ApiResult<ReleaseJson> {
    let (Some(bytes), Some(index)) = (&ctx.row.release, ctx.row.release_log_index) else {
        return Err(err(
            ErrorKind::Internal,
            "a released request has no release",
        ));
    };
    let rel = EpochRelease::from_bytes(bytes).map_err(|e| {
        tracing::error!(error = %e, "a stored release does not parse");
        err(ErrorKind::Internal, "a stored release does not parse")
    })?;
    let mut records = Vec::with_capacity(rel.entries.len());
    for e in &rel.entries {
        let seg = app
            .index
            .segment(e.segment.recording, e.segment.index)
            .await?
            .ok_or_else(|| {
                err(
                    ErrorKind::NotFound,
                    format!("released segment {} is no longer stored", e.segment),
                )
            })?;
        records.push(B64.encode(&seg.record));
    }
    let approvals = app.index.approvals(ctx.row.request_hash).await?;
    let counted = counted(
        ctx,
        &approvals,
        app.config.allow_self_approval,
        Some(rel.entries.len()),
    );
    Ok(ReleaseJson {
        release: B64.encode(bytes),
        records,
        partials: envelopes(&counted),
        logged: logged_stored(app, index).await?,
    })
}
