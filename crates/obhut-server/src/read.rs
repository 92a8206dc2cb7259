//! Reader endpoints (docs/vault.md §5): person-signed requests from
//! registered readers, scoped to the groups they may read.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::ErrorKind;
use obhut_api::access::Logged;
use obhut_api::read::{ListQuery, ListResponse, RecordingJson, RecordsResponse};
use obhut_core::audit::{Event, LogEntry};
use obhut_core::ids::{GroupId, RecordingId};
use obhut_core::vault::{RECORDS_MEDIA_TYPE, encode_records_answer};
use obhut_store::{BlobKey, BlobStore, IndexStore, RecordingFilter, RecordingRow};
use tokio_util::io::ReaderStream;

use crate::app::App;
use crate::error::ApiResult;
use crate::metrics::Store;
use crate::params::{bad, parse_rid};

const HOUR_MS: i64 = 3_600_000;

fn recording_json(r: RecordingRow) -> RecordingJson {
    RecordingJson {
        recording_id: r.recording_id.to_string(),
        device_key: hex::encode(r.device_key),
        group_id: r.group_id.to_string(),
        retention_class: r.retention_class,
        first_capture_hour_ms: r.first_capture_ms.div_euclid(HOUR_MS) * HOUR_MS,
        segment_count: r.segment_count,
        total_bytes: r.total_bytes,
        complete: r.complete,
    }
}

/// `GET /v1/recordings?device=&group=&from=&to=`.
pub async fn list<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Query(q): Query<ListQuery>,
    req: Request,
) -> ApiResult<Json<ListResponse>> {
    let (parts, _) = req.into_parts();
    let mut groups = app.authenticate_person(&parts).await?;
    if let Some(g) = &q.group {
        let g = GroupId::from_hex(g)
            .ok_or_else(|| bad(ErrorKind::BadRequest, "group is not 32 hex digits"))?;
        groups.retain(|x| *x == g);
    }
    let device = match &q.device {
        None => None,
        Some(d) => {
            let mut k = [0u8; 32];
            hex::decode_to_slice(d, &mut k)
                .map_err(|_| bad(ErrorKind::BadRequest, "device is not 64 hex digits"))?;
            Some(k)
        }
    };
    let rows = app
        .index
        .list_recordings(&RecordingFilter {
            device,
            groups,
            from_ms: q.from,
            to_ms: q.to,
        })
        .await?;
    Ok(Json(ListResponse {
        recordings: rows.into_iter().map(recording_json).collect(),
    }))
}

async fn readable<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    groups: &[GroupId],
    rid: obhut_core::ids::RecordingId,
) -> ApiResult<()> {
    match app.index.recording(rid).await? {
        Some(r) if groups.contains(&r.group_id) => Ok(()),
        Some(_) => Err(bad(ErrorKind::NotFound, "no such recording in your groups")),
        None => Err(gone_or_missing(app, rid).await),
    }
}

/// `410 recording-expired` for a recording every segment of which expired
/// with its epoch (the sweeper left its tombstone), else `404`.
async fn gone_or_missing<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    rid: obhut_core::ids::RecordingId,
) -> crate::error::ApiError {
    match app.index.expired_recording(rid).await {
        Ok(Some(t)) => bad(
            ErrorKind::RecordingExpired,
            format!(
                "recording {rid} expired: its retention epoch {} was destroyed at {} (UTC ms); the log holds the deletion receipt",
                t.epoch_id, t.expired_ms
            ),
        ),
        Ok(None) => bad(ErrorKind::NotFound, "no such recording in your groups"),
        Err(e) => e.into(),
    }
}

/// Query of [`records`].
#[derive(Debug, Default, serde::Deserialize)]
pub struct RecordsQuery {
    /// Add each record's `segment-received` entry and the device's
    /// enrolment and revocation entries (what a custodian proves before
    /// taking R from a record).
    #[serde(default)]
    pub log: bool,
}

/// Whether `Accept` asks for the binary records answer
/// ([`RECORDS_MEDIA_TYPE`]) by name; `*/*` and JSON keep JSON, so that
/// clients that predate it are answered as before.
fn wants_binary(parts: &axum::http::request::Parts) -> bool {
    parts
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().map(str::trim) == Some(RECORDS_MEDIA_TYPE))
}

/// `GET /v1/recordings/{rid}/records[?log=true]`: JSON, or without
/// `?log=true` and with `Accept: application/octet-stream`, the binary
/// answer (docs/vault.md §5): a requester placing a scope in a 10-hour
/// recording reads 3,600 records, and base64 inside JSON cost it more
/// than parsing them.
pub async fn records<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(rid): Path<String>,
    Query(q): Query<RecordsQuery>,
    req: Request,
) -> ApiResult<Response> {
    let (parts, _) = req.into_parts();
    let binary = !q.log && wants_binary(&parts);
    let groups = app.authenticate_person(&parts).await?;
    let rid = parse_rid(&rid)?;
    let row = match app.index.recording(rid).await? {
        Some(r) if groups.contains(&r.group_id) => r,
        Some(_) => return Err(bad(ErrorKind::NotFound, "no such recording in your groups")),
        None => return Err(gone_or_missing(&app, rid).await),
    };
    let segs = app.index.segments(rid).await?;
    if binary {
        let body = encode_records_answer(&segs.iter().map(|s| &s.record).collect::<Vec<_>>());
        let mut resp = Response::new(Body::from(body));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(RECORDS_MEDIA_TYPE),
        );
        return Ok(resp);
    }
    let mut answer = RecordsResponse {
        records: segs.iter().map(|s| B64.encode(&s.record)).collect(),
        received: Vec::new(),
        device: Vec::new(),
    };
    if q.log {
        answer.received = received_entries(&app, rid).await?;
        answer.device = device_entries(&app, row.device_key).await?;
    }
    Ok(Json(answer).into_response())
}

fn logged(row: &obhut_store::LogEntryRow) -> Logged {
    Logged {
        log_index: row.index,
        entry: row.body.as_ref().map(|b| B64.encode(b)).unwrap_or_default(),
    }
}

/// The recording's `segment-received` entries in log order: one per
/// segment, in index order, since segments become visible strictly in
/// index order (docs/vault.md §1) — which also places a pruned entry.
async fn received_entries<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    rid: RecordingId,
) -> ApiResult<Vec<Logged>> {
    Ok(app
        .index
        .log_recording_entries(rid)
        .await?
        .iter()
        .filter(|r| r.kind == "segment-received")
        .map(logged)
        .collect())
}

/// The device's `device-enrolled` and `device-revoked` entries, in log
/// order (bodies pruned by log retention cannot be matched and are left
/// out).
async fn device_entries<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    device: [u8; 32],
) -> ApiResult<Vec<Logged>> {
    let mut out = Vec::new();
    for kind in ["device-enrolled", "device-revoked"] {
        for row in app.index.log_entries_of_kind(kind).await? {
            let Some(body) = &row.body else { continue };
            let Ok(e) = LogEntry::from_bytes(body) else {
                continue;
            };
            let about_device = match e.event {
                Event::DeviceEnrolled { .. } => e.actor.key == device,
                Event::DeviceRevoked { device_key } => device_key == device,
                _ => false,
            };
            if about_device {
                out.push(logged(&row));
            }
        }
    }
    out.sort_by_key(|l| l.log_index);
    Ok(out)
}

/// Parse a single `bytes=` range against `len` into `start..end`.
pub fn parse_range(h: &str, len: u64) -> Option<(u64, u64)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // multipart ranges: not supported
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return None;
        }
        (len.saturating_sub(n), len)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len
        } else {
            b.parse::<u64>().ok()?.checked_add(1)?.min(len)
        };
        (start, end)
    };
    (start < end && start < len).then_some((start, end))
}

/// Bytes read from the blob store per piece of a blob answer. Each read is
/// a trip through the blocking pool: with `ReaderStream`'s default of 4 KiB
/// a 256 KiB segment took 64 trips, and fetching a 1-minute scope whole
/// took twice as long (59.5 → 28.7 ms in bench-access). 64 KiB is the
/// store's write size and [`crate::CONN_BUF_MAX`]. History: BENCHMARKS.md,
/// "Tuning decisions".
const BLOB_READ_BUF: usize = 64 * 1024;

/// Segment `index` of recording `rid`, for a person who may read it, its
/// blob present and at least as long as its record says.
async fn readable_segment<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    parts: &axum::http::request::Parts,
    rid: &str,
    index: u32,
) -> ApiResult<(RecordingId, obhut_store::SegmentRow)> {
    let groups = app.authenticate_person(parts).await?;
    let rid = parse_rid(rid)?;
    readable(app, &groups, rid).await?;
    let seg = app
        .metrics
        .timed(Store::Index, "segment", app.index.segment(rid, index))
        .await?
        .ok_or_else(|| bad(ErrorKind::NotFound, "no such stored segment"))?;
    let key = BlobKey {
        recording: rid,
        index,
    };
    // Before any byte is sent: once a 200 with its length has gone out, a
    // blob that ends early can only cut the connection, which a reader
    // sees as "peer disconnected" with no segment named.
    let stored = app
        .metrics
        .timed(Store::Blob, "len", app.blobs.len(key))
        .await?;
    if stored.is_none_or(|got| got < seg.blob_len) {
        let what = if stored.is_none() {
            "stored blob is missing"
        } else {
            "stored blob is shorter than its record"
        };
        tracing::error!(recording = %rid, segment = index, stored, expected = seg.blob_len, "{what}");
        return Err(bad(
            ErrorKind::StoredSegmentCorrupt,
            format!(
                "recording {rid} segment {index}: {what}; the vault's operator must restore it (`obhut check` names it)"
            ),
        ));
    }
    Ok((rid, seg))
}

/// `GET /v1/recordings/{rid}/segments/{i}/tree`: the blob's group tree
/// (docs/format.md §6.5), the BLAKE3 chaining value of each 16 KiB group,
/// with which a reader checks a byte range against the record's signed
/// `ciphertext_hash`. AES-GCM tags alone would not do: a past grantee who
/// kept the segment key could, with the vault, feed a later reader forged
/// chunks that authenticate under that key.
///
/// The tree is computed from the blob at each call, 16 KiB at a time (one
/// BLAKE3 pass, about 1.5 ms for a 4 MiB segment here) rather than stored
/// beside it: a
/// range read touches a few segments, and nothing new has to be kept in
/// step with the blobs, erased with them, or migrated.
pub async fn tree<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path((rid, index)): Path<(String, u32)>,
    req: Request,
) -> ApiResult<Response> {
    let (parts, _) = req.into_parts();
    let (rid, seg) = readable_segment(&app, &parts, &rid, index).await?;
    let len = seg.blob_len;
    let key = BlobKey {
        recording: rid,
        index,
    };
    // Group by group: a 16 KiB buffer, never the whole blob, and one BLAKE3
    // pass over 16 KiB at a time (microseconds) between reads.
    let mut source = app
        .metrics
        .timed(Store::Blob, "get_range", app.blobs.get_range(key, 0, len))
        .await?;
    let mut tree = obhut_core::blob_tree::GroupTree::new(len);
    let mut group = vec![0u8; obhut_core::blob_tree::GROUP_LEN as usize];
    let mut left = len;
    while left > 0 {
        let take = left.min(obhut_core::blob_tree::GROUP_LEN) as usize;
        tokio::io::AsyncReadExt::read_exact(&mut source, &mut group[..take])
            .await
            .map_err(|e| {
                bad(
                    ErrorKind::Internal,
                    format!("segment {index}: reading the stored blob: {e}"),
                )
            })?;
        tree.push(&group[..take]);
        left -= take as u64;
    }
    let tree = tree.finish();
    let mut resp = Response::new(Body::from(tree));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    Ok(resp)
}

/// `GET /v1/recordings/{rid}/segments/{i}/blob`, honouring `Range`.
pub async fn blob<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path((rid, index)): Path<(String, u32)>,
    req: Request,
) -> ApiResult<Response> {
    let (parts, _) = req.into_parts();
    let (rid, seg) = readable_segment(&app, &parts, &rid, index).await?;
    let key = BlobKey {
        recording: rid,
        index,
    };
    let len = seg.blob_len;
    let range = parts
        .headers
        .get(header::RANGE)
        .map(|v| v.to_str().ok().and_then(|s| parse_range(s, len)));
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, len),
        Some(Some((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e),
        Some(None) => {
            let mut r = bad(
                ErrorKind::RangeNotSatisfiable,
                format!("the range is not a single satisfiable bytes= range of a {len}-byte blob"),
            )
            .into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                format!("bytes */{len}")
                    .parse()
                    .map_err(|_| bad(ErrorKind::Internal, "header"))?,
            );
            return Ok(r);
        }
    };
    // The time to open the range; the bytes stream to the client after.
    let reader = app
        .metrics
        .timed(
            Store::Blob,
            "get_range",
            app.blobs.get_range(key, start, end),
        )
        .await?;
    let stream = ReaderStream::with_capacity(reader, BLOB_READ_BUF);
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::ACCEPT_RANGES,
        header::HeaderValue::from_static("bytes"),
    );
    h.insert(
        header::CONTENT_LENGTH,
        header::HeaderValue::from(end - start),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        let v = format!("bytes {start}-{}/{len}", end - 1);
        h.insert(
            header::CONTENT_RANGE,
            v.parse().map_err(|_| bad(ErrorKind::Internal, "header"))?,
        );
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 100)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-4", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
