//! Device ingest (docs/vault.md §4): segment uploads, the recording's
//! head and stored receipts. Enrolment (§3) is in `enrol.rs`, epochs in
//! `epochs.rs`.
//!
//! ## Pipelined uploads
//!
//! A device may send segment i+1 while segment i is still being verified,
//! fsynced and acknowledged (§4, the upload window): the vault accepts an
//! upload whose index is ahead of the recording's next index by less than
//! [`UPLOAD_WINDOW`]. Such an upload is authenticated, streamed into
//! `tmp/` while hashing and its trailer checked exactly like the next one,
//! outside the per-recording lock; then, before anything is published, it
//! waits for a signal (no polling) until its predecessor is published, and
//! only then checks the chain link and publishes under the lock. If the
//! predecessor is not published within the wait bound
//! ([`DEFAULT_PREDECESSOR_WAIT`], see [`App::set_predecessor_wait`]) the
//! upload is `409 out-of-order` and its staged blob is removed: nothing
//! becomes visible out of order, a row still never names a missing blob,
//! and `201` still means durable. The lock and the signal assume one vault
//! process ([`crate::sequencing`]).
//!
//! [`DEFAULT_PREDECESSOR_WAIT`]: crate::sequencing::DEFAULT_PREDECESSOR_WAIT

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::TryStreamExt;
use obhut_api::ErrorKind;
use obhut_api::ingest::{HeadResponse, ReceiptResponse, UPLOAD_WINDOW};
use obhut_core::ids::SegmentRef;
use obhut_core::kem::verify_capsule_proof;
use obhut_core::record::{MAX_RECORD_LEN, SegmentRecord, record_len};
use obhut_core::segment;
use obhut_core::vault::{IngestReceipt, body_sha256, segment_upload_digest};
use obhut_store::{
    BlobKey, BlobStore, IndexStore, Inserted, NewSegment, SegmentRow, StagedBlob, StoreError,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::StreamReader;

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::metrics::KindLabel;
use crate::metrics::Store;
use crate::params::{bad, parse_rid};
use crate::sequencing::Waited;

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

/// `PUT /v1/recordings/{rid}/segments/{index}?record_len=N`: body = blob ‖
/// record (the signed record as an N-byte trailer), streamed; order of checks
/// in docs/vault.md §4.
pub async fn put_segment<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path((rid, index)): Path<(String, String)>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let mut reader = body_reader(body);
    let r = ingest_one(&app, &parts, &rid, &index, &mut reader).await;
    match r {
        Ok((status, row)) => {
            app.metrics
                .ingest_seconds
                .observe(started.elapsed().as_secs_f64());
            app.metrics.acked(status == StatusCode::CREATED);
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
                    kind: e.kind.as_str().to_owned(),
                })
                .inc();
            tracing::info!(error = e.kind.as_str(), "segment refused");
            if e.kind != ErrorKind::TooLarge {
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

/// The declared `Content-Length` of an upload (required: it is signed).
fn content_length(parts: &axum::http::request::Parts) -> ApiResult<u64> {
    let v = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .ok_or_else(|| {
            bad(
                ErrorKind::WrongLength,
                "a segment upload needs a Content-Length (blob length + record length); chunked bodies are refused",
            )
        })?;
    v.to_str()
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            bad(
                ErrorKind::WrongLength,
                "Content-Length is not a decimal number",
            )
        })
}

/// Where an upload's index stands against the recording's head, checked
/// before the body is read and again under the recording lock.
enum Position {
    /// The index is the next one; `prev` must be this hash.
    Next { head_hash: [u8; 32] },
    /// A segment is stored at that index (an upload may only repeat it).
    Stored(Box<SegmentRow>),
    /// Within the upload window ahead of the next index: its predecessor
    /// may still be in flight (module docs).
    Ahead,
}

async fn position<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    seg: SegmentRef,
    device: &obhut_store::DeviceRow,
) -> ApiResult<Position> {
    let rec = app.index.recording(seg.recording).await?;
    if let Some(rec) = &rec
        && rec.device_key != device.device_key
    {
        return Err(bad(
            ErrorKind::ChainConflict,
            "the recording belongs to another device",
        ));
    }
    let (next_index, head_hash) = match app.index.head(seg.recording).await? {
        Some(h) => (h.next_index, h.head_record_hash),
        None => (0, [0; 32]),
    };
    if seg.index >= next_index.saturating_add(UPLOAD_WINDOW) {
        return Err(bad(
            ErrorKind::OutOfOrder,
            format!(
                "segment {} is ahead of the next index {next_index} by {} or more (the upload window); upload from {next_index}",
                seg.index, UPLOAD_WINDOW
            ),
        ));
    }
    if seg.index < next_index {
        let stored = app.index.segment(seg.recording, seg.index).await?.ok_or_else(|| {
            tracing::error!(recording = %seg.recording, index = seg.index, "segment row missing below the head");
            bad(ErrorKind::Internal, "the vault's index is inconsistent")
        })?;
        return Ok(Position::Stored(Box::new(stored)));
    }
    if rec.is_some_and(|r| r.complete) {
        return Err(bad(
            ErrorKind::ChainConflict,
            "the recording's final segment is already stored",
        ));
    }
    if seg.index > next_index {
        return Ok(Position::Ahead);
    }
    Ok(Position::Next { head_hash })
}

/// An upload ahead of the head (already staged and checked): wait, without
/// holding the recording lock, until its predecessor is published, for at
/// most the configured bound ([`crate::sequencing::Sequencing::wait_for_predecessor`]: woken
/// on publication, never by polling). Returns once the upload's index is no
/// longer ahead (the lock step re-checks everything).
async fn wait_for_predecessor<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    seg: SegmentRef,
    device: &obhut_store::DeviceRow,
) -> ApiResult<()> {
    let ahead = || async move {
        Ok::<_, ApiError>(matches!(position(app, seg, device).await?, Position::Ahead))
    };
    let bound = match app
        .sequencing
        .wait_for_predecessor(seg.recording, ahead)
        .await?
    {
        Waited::Ready => return Ok(()),
        Waited::TimedOut { bound } => bound,
    };
    let next = app
        .index
        .head(seg.recording)
        .await?
        .map_or(0, |h| h.next_index);
    Err(bad(
        ErrorKind::OutOfOrder,
        format!(
            "segment {} waited {} ms for segment {} to be stored, which did not arrive; nothing was stored, upload from {next}",
            seg.index,
            bound.as_millis(),
            seg.index - 1
        ),
    ))
}

/// The record's length from the signed query (`?record_len=N`, docs/vault.md
/// §4): a record's length varies with its custody block (format.md §7.1),
/// and the vault must know where the blob ends before it reads the record.
fn declared_record_len(parts: &axum::http::request::Parts) -> ApiResult<u64> {
    let shortest = record_len(1, false) as u64;
    let longest = MAX_RECORD_LEN as u64;
    let value = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("record_len="))
        .ok_or_else(|| {
            bad(
                ErrorKind::WrongLength,
                "a segment upload names its record's length: ?record_len=N",
            )
        })?;
    match value.parse::<u64>() {
        Ok(n) if (shortest..=longest).contains(&n) => Ok(n),
        _ => Err(bad(
            ErrorKind::WrongLength,
            format!("record_len is {value:?}; a segment record is {shortest} to {longest} bytes"),
        )),
    }
}

fn stage_error(e: StoreError) -> ApiError {
    match e {
        StoreError::WrongLength { expected, got } => bad(
            ErrorKind::WrongLength,
            format!(
                "the body ended after {got} bytes; Content-Length announced a {expected}-byte blob and then the record"
            ),
        ),
        other => ApiError::from(other),
    }
}

/// Read the record trailer of `len` bytes (bounded by [`MAX_RECORD_LEN`]).
async fn read_trailer(reader: &mut BodyReader, len: u64) -> ApiResult<Vec<u8>> {
    let mut raw = vec![
        0u8;
        usize::try_from(len)
            .unwrap_or(MAX_RECORD_LEN)
            .min(MAX_RECORD_LEN)
    ];
    reader.read_exact(&mut raw).await.map_err(|_| {
        bad(
            ErrorKind::WrongLength,
            format!("the body ended before the end of the {len}-byte record trailer"),
        )
    })?;
    Ok(raw)
}

/// Hash `len` blob bytes without keeping them (an idempotent retry).
async fn hash_discard(reader: &mut BodyReader, len: u64) -> ApiResult<[u8; 32]> {
    let mut hasher = obhut_core::segment::ciphertext_hasher();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got: u64 = 0;
    while got < len {
        let want = usize::try_from(len - got)
            .unwrap_or(buf.len())
            .min(buf.len());
        let n = reader
            .read(&mut buf[..want])
            .await
            .map_err(|e| ApiError::from(StoreError::Source(e)))?;
        if n == 0 {
            return Err(stage_error(StoreError::WrongLength { expected: len, got }));
        }
        hasher.update(&buf[..n]);
        got += n as u64;
    }
    Ok(*hasher.finalize().as_bytes())
}

/// The record trailer against the upload: signature, signer, segment,
/// length and hash of the blob received.
fn check_record(
    raw: &[u8],
    seg: SegmentRef,
    blob_len: u64,
    blob_hash: &[u8; 32],
    device: &obhut_store::DeviceRow,
) -> ApiResult<SegmentRecord> {
    let record = SegmentRecord::from_bytes(raw).map_err(|e| {
        bad(
            ErrorKind::MalformedRecord,
            format!("the record trailer: {e}"),
        )
    })?;
    if record.header().fields.device_key.to_bytes() != device.device_key {
        return Err(bad(
            ErrorKind::MalformedRecord,
            "the record was signed by another device than the one authenticated",
        ));
    }
    if record.segment_ref() != seg {
        return Err(bad(
            ErrorKind::MalformedRecord,
            format!(
                "the record is for {} but the upload path names {seg}",
                record.segment_ref()
            ),
        ));
    }
    if record.blob_len() != blob_len {
        return Err(bad(
            ErrorKind::WrongLength,
            format!(
                "Content-Length announced a {blob_len}-byte blob; the record says {} bytes",
                record.blob_len()
            ),
        ));
    }
    if record.ciphertext_hash() != blob_hash {
        return Err(bad(
            ErrorKind::HashMismatch,
            "the blob's BLAKE3 hash does not match the record's ciphertext_hash",
        ));
    }
    Ok(record)
}

/// The record's capsule and epoch against the device's enrolment.
async fn check_custody<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    record: &SegmentRecord,
    device: &obhut_store::DeviceRow,
) -> ApiResult<()> {
    let fields = &record.header().fields;
    let capsule = &fields.capsule;
    let mut group = app.pinned_group(device.group_id).await?;
    if capsule.group_id == group.group_id() && capsule.generation > group.generation() {
        // Resharing stored a later generation since this process cached it.
        group = app.reload_group(device.group_id).await?;
    }
    // Any generation 1 … g of the group: resharing keeps the key P, and a
    // device that has not yet learnt of the reshare seals to the one it
    // pinned (format.md §4.3).
    let key = group
        .group_key()
        .for_capsule(capsule)
        .unwrap_or_else(|| group.group_key());
    verify_capsule_proof(capsule, &key, &fields.capsule_context()).map_err(|e| {
        bad(
            ErrorKind::NotEnrolledGroup,
            format!("the capsule is not sealed to the device's custody group: {e}"),
        )
    })?;
    // A record that starts a custody run (format.md §5.6) must share c
    // among this group's custodians with its threshold, or k custodians
    // could never open the run's footage. Checked against the generation
    // the vault holds; a device still on an earlier one is not judged.
    if let Some(run) = &record.custody().run
        && capsule.generation == group.generation()
    {
        let listed = group
            .custodians()
            .iter()
            .map(|c| obhut_core::identity::fingerprint(&c.sign_key, &c.kem_key));
        if !run.iter().map(|e| e.custodian).eq(listed)
            || record.custody().threshold != group.threshold()
        {
            return Err(bad(
                ErrorKind::NotEnrolledGroup,
                "the record's custody run (format.md §5.6) does not share c among the custody group's custodians with its threshold",
            ));
        }
    }
    let epoch_id = fields.epoch_wrap.epoch_id;
    let epoch = app.index.epoch(epoch_id).await?.ok_or_else(|| {
        bad(
            ErrorKind::UnknownEpoch,
            format!("epoch {epoch_id} is not one of this vault's"),
        )
    })?;
    if epoch.state != obhut_store::EpochState::Live
        || epoch.expires_ms.is_some_and(|x| x <= app.clock.now_ms())
    {
        return Err(bad(
            ErrorKind::EpochDestroyed,
            format!(
                "epoch {epoch_id} has expired (its footage is being deleted); seal to a current epoch (GET /v1/epochs)"
            ),
        ));
    }
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
    Ok(())
}

/// An upload at an index that is already stored: 200 with the stored
/// receipt if the trailer is byte-identical to the stored record (and the
/// blob is its blob), else a chain conflict.
fn repeat_of(
    existing: SegmentRow,
    raw: &[u8],
    seg: SegmentRef,
    blob_len: u64,
    blob_hash: &[u8; 32],
    device: &obhut_store::DeviceRow,
) -> ApiResult<(StatusCode, SegmentRow)> {
    if existing.record != raw {
        return Err(bad(
            ErrorKind::ChainConflict,
            format!("another record is stored at index {}", seg.index),
        ));
    }
    check_record(raw, seg, blob_len, blob_hash, device)?;
    Ok((StatusCode::OK, existing))
}

async fn ingest_one<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    parts: &axum::http::request::Parts,
    rid: &str,
    index: &str,
    reader: &mut BodyReader,
) -> ApiResult<(StatusCode, SegmentRow)> {
    // 1. The path and the declared framing, before any byte is read.
    let seg = SegmentRef {
        recording: parse_rid(rid)?,
        index: index
            .parse()
            .map_err(|_| bad(ErrorKind::BadRequest, "segment index is not a decimal u32"))?,
    };
    let content_length = content_length(parts)?;
    let trailer = declared_record_len(parts)?;
    let max = app.config.max_segment_bytes;
    if content_length > max.saturating_add(trailer) {
        return Err(bad(
            ErrorKind::TooLarge,
            format!(
                "the body is {content_length} bytes; this vault accepts segment blobs up to {max} bytes plus the {trailer}-byte record"
            ),
        ));
    }
    let smallest = segment::blob_len(0) + trailer;
    if content_length < smallest {
        return Err(bad(
            ErrorKind::WrongLength,
            format!(
                "Content-Length is {content_length}; the smallest upload (an empty segment and its record) is {smallest} bytes"
            ),
        ));
    }
    let blob_len = content_length - trailer;

    // 2. Who: signature over method, path, time, nonce and the framing;
    //    device enrolled and not revoked; nonce unused.
    let device = app
        .authenticate_device(
            parts,
            &segment_upload_digest(seg.recording, seg.index, content_length),
        )
        .await?;

    // 3. Where: the index against the recording's head (the chain link is
    //    checked under the lock, step 6). Below the head: a retry, read and
    //    compared, never stored. At or beyond head + UPLOAD_WINDOW: refused
    //    here, before reading.
    let ahead = match position(app, seg, &device).await? {
        Position::Stored(existing) => {
            let hash = hash_discard(reader, blob_len).await?;
            let raw = read_trailer(reader, trailer).await?;
            return repeat_of(*existing, &raw, seg, blob_len, &hash, &device);
        }
        Position::Ahead => true,
        Position::Next { .. } => false,
    };

    // 4. The blob into tmp/ while hashing; 5. the trailer and every check
    //    of the record. Any failure from here on discards the staged blob.
    // Staging reads the body from the network as it writes: its time is
    // the client's upload as much as the store's.
    let mut staged = app
        .metrics
        .timed(
            Store::Blob,
            "stage",
            app.blobs.stage(&mut *reader, blob_len),
        )
        .await
        .map_err(stage_error)?;
    let checked = async {
        let raw = read_trailer(reader, trailer).await?;
        let record = check_record(&raw, seg, blob_len, &staged.hash(), &device)?;
        check_custody(app, &record, &device).await?;
        Ok::<_, ApiError>((raw, record))
    }
    .await;
    let (raw, record) = match checked {
        Ok(x) => x,
        Err(e) => {
            app.blobs.discard(staged).await;
            return Err(e);
        }
    };
    //    The verified bytes to stable storage now, outside the recording
    //    lock: a pipelined upload's fsync overlaps its predecessor's
    //    publication, and the lock covers only rename, directory fsync
    //    and the row (step 7).
    let synced = app.metrics.timed(
        Store::Blob,
        "sync_staged",
        app.blobs.sync_staged(&mut staged),
    );
    if let Err(e) = synced.await {
        app.blobs.discard(staged).await;
        return Err(e.into());
    }

    // 6. Ahead of the head (pipelined): wait, unlocked and bounded, until
    //    the predecessor is published; else 409 out-of-order, the staged
    //    blob removed, nothing visible.
    if ahead && let Err(e) = wait_for_predecessor(app, seg, &device).await {
        app.blobs.discard(staged).await;
        return Err(e);
    }

    //    Under the recording lock: nothing else can publish at (recording,
    //    index) between this check and the row insert.
    let _held = app.sequencing.lock_recording(seg.recording).await?;
    let linked = match position(app, seg, &device).await {
        Ok(Position::Next { head_hash: now }) => {
            if record.prev_record_hash() == &now {
                Ok(None)
            } else {
                Err(bad(
                    ErrorKind::ChainConflict,
                    format!(
                        "prev_record_hash of segment {} does not match the stored segment {}",
                        seg.index,
                        seg.index.wrapping_sub(1)
                    ),
                ))
            }
        }
        // Stored meanwhile by a concurrent upload.
        Ok(Position::Stored(existing)) => {
            repeat_of(*existing, &raw, seg, blob_len, &staged.hash(), &device).map(Some)
        }
        // The head moved back (it cannot: rows are never removed by
        // ingest); refuse rather than publish out of order.
        Ok(Position::Ahead) => Err(bad(
            ErrorKind::OutOfOrder,
            format!("segment {} is ahead of the head", seg.index),
        )),
        Err(e) => Err(e),
    };
    match linked {
        Ok(None) => {}
        Ok(Some(repeat)) => {
            app.blobs.discard(staged).await;
            return Ok(repeat);
        }
        Err(e) => {
            app.blobs.discard(staged).await;
            return Err(e);
        }
    }

    // 7. Published: rename, fsync dir (the bytes were synced above); then
    //    the row; then the receipt.
    let key = BlobKey {
        recording: seg.recording,
        index: seg.index,
    };
    app.metrics
        .timed(
            Store::Blob,
            "publish",
            app.blobs.publish(key, staged, *record.ciphertext_hash()),
        )
        .await?;
    let fields = &record.header().fields;
    let record_hash = record.record_hash();
    let received = app.clock.now_ms();
    let receipt = IngestReceipt::sign(app.keystore.vault_key(), record_hash, received);
    let row = SegmentRow {
        recording_id: seg.recording,
        index: seg.index,
        record: raw,
        record_hash,
        blob_len,
        capture_ms: fields.capture_utc_ms,
        epoch_id: fields.epoch_wrap.epoch_id,
        received_ms: received,
        receipt: receipt.to_bytes(),
    };
    let new = NewSegment {
        row: row.clone(),
        prev_record_hash: *record.prev_record_hash(),
        is_final: record.is_final(),
        device_key: device.device_key,
        group_id: device.group_id,
        retention_class: device.retention_class.clone(),
        log: app.log_entry(
            obhut_core::audit::Role::Device,
            device.device_key,
            Some(seg.recording),
            obhut_core::audit::Event::SegmentReceived {
                index: seg.index,
                record_hash,
                blob_len,
                capture_utc_ms: fields.capture_utc_ms,
            },
        )?,
    };
    let inserted = app
        .metrics
        .timed(
            Store::Index,
            "insert_segment",
            app.index.insert_segment(&new),
        )
        .await?;
    app.log.wake();
    // Wake uploads of this recording waiting on their predecessor (step 6).
    app.sequencing.published(seg.recording);
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
