//! Device endpoints: enrolment (docs/vault.md §3) and ingest (§4).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::TryStreamExt;
use obhut_core::ids::RecordingId;
use obhut_core::kem::verify_capsule_proof;
use obhut_core::labels;
use obhut_core::record::{RECORD_LEN, SegmentRecord};
use obhut_core::vault::{IngestReceipt, body_sha256};
use obhut_store::{BlobKey, BlobStore, IndexStore, Inserted, NewSegment, SegmentRow, StoreError};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::StreamReader;

use crate::App;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::metrics::KindLabel;

/// `POST /v1/enrol` body.
#[derive(Debug, Deserialize)]
pub struct EnrolRequest {
    /// `obhut-enrol-<64 hex>`.
    pub token: String,
    /// The device's Ed25519 key (64 hex digits); equals `Obhut-Device`.
    pub device_key: String,
}

/// `POST /v1/enrol` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// The device's key (hex).
    pub device_key: String,
    /// Custody group id (hex).
    pub group_id: String,
    /// Retention class.
    pub retention_class: String,
    /// Group descriptor with signatures (base64 of `to_bytes()`); the
    /// device pins it only if it verifies and its fingerprint is the one
    /// the custodians published.
    pub descriptor: String,
    /// The vault's fingerprint of the descriptor (hex; informative only).
    pub fingerprint: String,
    /// The vault's receipt key (hex); the device pins it.
    pub vault_key: String,
}

pub(crate) fn bad(kind: ErrorKind, m: impl Into<String>) -> ApiError {
    ApiError::new(kind, m)
}

pub(crate) fn parse_rid(s: &str) -> ApiResult<RecordingId> {
    RecordingId::from_hex(s)
        .ok_or_else(|| bad(ErrorKind::BadRequest, "recording id is not 32 hex digits"))
}

/// `POST /v1/enrol`.
pub async fn enrol<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    req: Request,
) -> ApiResult<Json<EnrolResponse>> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, crate::MAX_JSON_BODY)
        .await
        .map_err(|_| bad(ErrorKind::TooLarge, "the enrolment body exceeds 64 KiB"))?;
    let s = crate::auth::verify(
        &parts,
        crate::auth::Signer::Device,
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
    app.use_nonce(&s).await?;
    let token_hash = body_sha256(r.token.as_bytes());
    let device = app
        .index
        .redeem_token(token_hash, s.key, app.clock.now_ms())
        .await?;
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

/// `GET /v1/epochs?class=C` query.
#[derive(Debug, Deserialize)]
pub struct EpochsQuery {
    /// Retention class.
    pub class: String,
}

/// One epoch public key.
#[derive(Debug, Serialize, Deserialize)]
pub struct EpochJson {
    /// Epoch id (hex).
    pub epoch_id: String,
    /// Start (UTC ms, inclusive).
    pub not_before: i64,
    /// End (UTC ms, exclusive).
    pub not_after: i64,
    /// `EpochPublic::to_bytes()`, base64.
    pub public: String,
}

/// `GET /v1/epochs` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct EpochsResponse {
    /// Retention class.
    pub class: String,
    /// The epoch covering now.
    pub current: EpochJson,
    /// The following one.
    pub next: EpochJson,
}

fn epoch_json(e: obhut_store::EpochRow) -> EpochJson {
    EpochJson {
        epoch_id: e.epoch_id.to_string(),
        not_before: e.not_before,
        not_after: e.not_after,
        public: B64.encode(&e.public),
    }
}

/// `GET /v1/epochs?class=C` (public keys; no authentication).
pub async fn epochs<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Query(q): Query<EpochsQuery>,
) -> ApiResult<Json<EpochsResponse>> {
    if !app.class_known(&q.class).await? {
        return Err(bad(
            ErrorKind::UnknownClass,
            format!("retention class {:?} is not served by this vault", q.class),
        ));
    }
    let (cur, next) = app.ensure_epochs(&q.class).await?;
    Ok(Json(EpochsResponse {
        class: q.class,
        current: epoch_json(cur),
        next: epoch_json(next),
    }))
}

/// `GET /v1/recordings/{rid}/head` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct HeadResponse {
    /// Index the next segment must have.
    pub next_index: u32,
    /// Record hash of segment `next_index − 1` (hex).
    pub head_record_hash: String,
}

/// `GET /v1/recordings/{rid}/head` (device-signed; own recordings only).
pub async fn head<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(rid): Path<String>,
    req: Request,
) -> ApiResult<Json<HeadResponse>> {
    let (parts, _) = req.into_parts();
    let device = app.authenticate_device(&parts, &body_sha256(&[])).await?;
    let rid = parse_rid(&rid)?;
    let rec = app.index.recording(rid).await?;
    let h = match rec {
        Some(r) if r.device_key == device.device_key => app.index.head(rid).await?,
        _ => None,
    };
    let h = h.ok_or_else(|| {
        bad(
            ErrorKind::NotFound,
            "no segment of this recording is stored",
        )
    })?;
    Ok(Json(HeadResponse {
        next_index: h.next_index,
        head_record_hash: hex::encode(h.head_record_hash),
    }))
}

/// Receipt answer of `PUT /v1/segments` and `GET /v1/receipts/…`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReceiptResponse {
    /// `IngestReceipt::to_bytes()`, base64.
    pub receipt: String,
    /// Recording id (hex).
    pub recording_id: String,
    /// Segment index.
    pub index: u32,
    /// Record hash (hex).
    pub record_hash: String,
    /// When the segment became durable (UTC ms).
    pub received_utc_ms: i64,
}

fn receipt_json(s: &SegmentRow) -> ReceiptResponse {
    ReceiptResponse {
        receipt: B64.encode(&s.receipt),
        recording_id: s.recording_id.to_string(),
        index: s.index,
        record_hash: hex::encode(s.record_hash),
        received_utc_ms: s.received_ms,
    }
}

/// `GET /v1/receipts/{rid}/{index}` (device-signed; own recordings only).
pub async fn receipt<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path((rid, index)): Path<(String, u32)>,
    req: Request,
) -> ApiResult<Json<ReceiptResponse>> {
    let (parts, _) = req.into_parts();
    let device = app.authenticate_device(&parts, &body_sha256(&[])).await?;
    let rid = parse_rid(&rid)?;
    let owned =
        matches!(app.index.recording(rid).await?, Some(r) if r.device_key == device.device_key);
    let seg = if owned {
        app.index.segment(rid, index).await?
    } else {
        None
    };
    let seg = seg.ok_or_else(|| bad(ErrorKind::NotFound, "no such stored segment"))?;
    Ok(Json(receipt_json(&seg)))
}

/// Read and discard up to `cap` bytes, so that an early answer does not
/// cut the client off mid-body (it then reads our JSON error).
async fn drain(mut r: impl AsyncRead + Unpin, cap: u64) {
    let mut sink = tokio::io::sink();
    let _ = tokio::io::copy(&mut (&mut r).take(cap), &mut sink).await;
}

const DRAIN_CAP: u64 = 8 << 20;

/// `PUT /v1/segments`: body = record ‖ blob, streamed.
pub async fn put_segment<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let mut reader = body_reader(body);
    let r = ingest_one(&app, &parts, &mut reader).await;
    match r {
        Ok((status, row)) => {
            app.metrics
                .ingest_seconds
                .observe(started.elapsed().as_secs_f64());
            tracing::info!(
                recording = %row.recording_id,
                index = row.index,
                bytes = row.blob_len,
                status = status.as_u16(),
                ms = started.elapsed().as_millis() as u64,
                "segment acknowledged"
            );
            (status, Json(receipt_json(&row))).into_response()
        }
        Err(e) => {
            app.metrics
                .ingest_errors
                .get_or_create(&KindLabel {
                    kind: e.kind.as_str(),
                })
                .inc();
            tracing::info!(error = e.kind.as_str(), "segment refused");
            if e.kind != ErrorKind::WrongLength && e.kind != ErrorKind::TooLarge {
                drain(&mut reader, DRAIN_CAP).await;
            }
            e.into_response()
        }
    }
}

type BodyReader = StreamReader<
    std::pin::Pin<Box<dyn futures_util::Stream<Item = std::io::Result<Bytes>> + Send>>,
    Bytes,
>;

fn body_reader(body: Body) -> BodyReader {
    let s = body.into_data_stream().map_err(std::io::Error::other);
    StreamReader::new(Box::pin(s))
}

async fn ingest_one<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    parts: &axum::http::request::Parts,
    reader: &mut BodyReader,
) -> ApiResult<(StatusCode, SegmentRow)> {
    let max = app.config.max_segment_bytes;
    let content_length = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(cl) = content_length
        && cl > RECORD_LEN as u64 + max
    {
        return Err(bad(
            ErrorKind::TooLarge,
            format!("the body is {cl} bytes; this vault accepts segments up to {max} bytes"),
        ));
    }
    let mut raw = vec![0u8; RECORD_LEN];
    reader.read_exact(&mut raw).await.map_err(|_| {
        bad(
            ErrorKind::MalformedRecord,
            format!("the body is shorter than a segment record ({RECORD_LEN} bytes)"),
        )
    })?;
    // The body digest of an upload is the record hash of its raw record.
    let record_hash = labels::digest(labels::RECORD_HASH, &[&raw]);
    let device = app.authenticate_device(parts, &record_hash).await?;
    let record = SegmentRecord::from_bytes(&raw)
        .map_err(|e| bad(ErrorKind::MalformedRecord, e.to_string()))?;
    let seg = record.segment_ref();
    let fields = &record.header().fields;
    if fields.device_key.to_bytes() != device.device_key {
        return Err(bad(
            ErrorKind::MalformedRecord,
            "the record was signed by another device than the one authenticated",
        ));
    }
    let blob_len = record.blob_len();
    if blob_len > max {
        return Err(bad(
            ErrorKind::TooLarge,
            format!("the segment blob is {blob_len} bytes; this vault accepts up to {max}"),
        ));
    }
    if let Some(cl) = content_length
        && cl != RECORD_LEN as u64 + blob_len
    {
        return Err(bad(
            ErrorKind::WrongLength,
            format!(
                "Content-Length is {cl}; record and blob need {}",
                RECORD_LEN as u64 + blob_len
            ),
        ));
    }
    // Idempotent retry: the same record is stored already.
    if let Some(existing) = app.index.segment(seg.recording, seg.index).await? {
        if existing.record == raw {
            return Ok((StatusCode::OK, existing));
        }
        return Err(bad(
            ErrorKind::ChainConflict,
            format!("another record is stored at index {}", seg.index),
        ));
    }
    check_chain(app, &record, &device).await?;
    let group = app.pinned_group(device.group_id).await?;
    verify_capsule_proof(
        &fields.capsule,
        &group.group_key(),
        &fields.capsule_context(),
    )
    .map_err(|e| {
        bad(
            ErrorKind::NotEnrolledGroup,
            format!("the capsule is not sealed to the device's custody group: {e}"),
        )
    })?;
    let epoch_id = fields.epoch_wrap.epoch_id;
    let epoch = app.index.epoch(epoch_id).await?.ok_or_else(|| {
        bad(
            ErrorKind::UnknownEpoch,
            format!("epoch {epoch_id} is not one of this vault's"),
        )
    })?;
    if epoch.retention_class != device.retention_class
        || fields.capture_utc_ms < epoch.not_before
        || fields.capture_utc_ms >= epoch.not_after
    {
        return Err(bad(
            ErrorKind::UnknownEpoch,
            format!(
                "epoch {epoch_id} ({}, {}..{}) does not cover this segment's class and capture time",
                epoch.retention_class, epoch.not_before, epoch.not_after
            ),
        ));
    }

    let lock = app.recording_lock(seg.recording);
    let _held = lock.lock().await;
    // Under the lock: nothing else can publish at (recording, index).
    if let Some(existing) = app.index.segment(seg.recording, seg.index).await? {
        if existing.record == raw {
            return Ok((StatusCode::OK, existing));
        }
        return Err(bad(
            ErrorKind::ChainConflict,
            format!("another record is stored at index {}", seg.index),
        ));
    }
    let key = BlobKey {
        recording: seg.recording,
        index: seg.index,
    };
    app.blobs
        .put_verified(key, &mut *reader, blob_len, *record.ciphertext_hash())
        .await
        .map_err(|e| match e {
            StoreError::WrongLength { expected, got } if got < expected => bad(
                ErrorKind::WrongLength,
                format!("the blob ended after {got} bytes; the record says {expected}"),
            ),
            other => ApiError::from(other),
        })?;
    let received = app.clock.now_ms();
    let receipt = IngestReceipt::sign(app.keystore.vault_key(), record_hash, received);
    let row = SegmentRow {
        recording_id: seg.recording,
        index: seg.index,
        record: raw,
        record_hash,
        blob_len,
        capture_ms: fields.capture_utc_ms,
        epoch_id,
        received_ms: received,
        receipt: receipt.to_bytes(),
    };
    let inserted = app
        .index
        .insert_segment(&NewSegment {
            row: row.clone(),
            prev_record_hash: *record.prev_record_hash(),
            is_final: record.is_final(),
            device_key: device.device_key,
            group_id: device.group_id,
            retention_class: device.retention_class.clone(),
        })
        .await?;
    match inserted {
        Inserted::New => {
            app.metrics.ingest_segments.inc();
            app.metrics.ingest_bytes.inc_by(blob_len);
            tracing::info!(
                device = %hex::encode(device.device_key),
                recording = %seg.recording,
                index = seg.index,
                bytes = blob_len,
                "segment stored"
            );
            Ok((StatusCode::CREATED, row))
        }
        Inserted::Existing(existing) => Ok((StatusCode::OK, existing)),
    }
}

async fn check_chain<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    record: &SegmentRecord,
    device: &obhut_store::DeviceRow,
) -> ApiResult<()> {
    let seg = record.segment_ref();
    if let Some(rec) = app.index.recording(seg.recording).await? {
        if rec.device_key != device.device_key {
            return Err(bad(
                ErrorKind::ChainConflict,
                "the recording belongs to another device",
            ));
        }
        if rec.complete {
            return Err(bad(
                ErrorKind::ChainConflict,
                "the recording's final segment is already stored",
            ));
        }
    }
    let (next_index, head_hash) = match app.index.head(seg.recording).await? {
        Some(h) => (h.next_index, h.head_record_hash),
        None => (0, [0; 32]),
    };
    if seg.index > next_index {
        return Err(bad(
            ErrorKind::OutOfOrder,
            format!(
                "segment {} is ahead of the next index {next_index}; upload from {next_index}",
                seg.index
            ),
        ));
    }
    if seg.index < next_index {
        return Err(bad(
            ErrorKind::ChainConflict,
            format!("another record is stored at index {}", seg.index),
        ));
    }
    if record.prev_record_hash() != &head_hash {
        return Err(bad(
            ErrorKind::ChainConflict,
            format!(
                "prev_record_hash of segment {} does not match the stored segment {}",
                seg.index,
                seg.index.wrapping_sub(1)
            ),
        ));
    }
    Ok(())
}
