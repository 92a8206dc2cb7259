//! The index's rows read from either engine ([`Columns`]): one mapper per
//! row type, for the SQLite and the PostgreSQL index alike.

use obhut_core::artifact::Source;
use obhut_core::ids::{EpochId, GroupId, RecordingId};

use super::Columns;
use super::column::{arr, to_u32, to_u64};
use crate::{
    ApprovalRow, ArtifactRow, ArtifactState, ConsentRow, DeviceRow, EpochRow, EpochState, HoldRow,
    LogEntryRow, RecordingRow, RequestRow, RequestState, Result, SegmentRow, StoreError,
    StoredCheckpoint,
};

/// A stored integer as a `u8` (a kind, a set of flags).
fn to_u8(v: i64, what: &'static str) -> Result<u8> {
    u8::try_from(v).map_err(|_| StoreError::Corrupt(what))
}

/// The `group_id` of a row.
pub(crate) fn group_of(r: &impl Columns) -> Result<GroupId> {
    Ok(GroupId(arr(r.bytes("group_id")?, "group id length")?))
}

pub(crate) fn device_row(r: &impl Columns) -> Result<DeviceRow> {
    Ok(DeviceRow {
        device_key: arr(r.bytes("device_key")?, "device key length")?,
        group_id: GroupId(arr(r.bytes("group_id")?, "group id length")?),
        retention_class: r.text("retention_class")?,
        enrolled_ms: r.int("enrolled_ms")?,
        revoked_ms: r.opt_int("revoked_ms")?,
    })
}

pub(crate) fn epoch_row(r: &impl Columns) -> Result<EpochRow> {
    Ok(EpochRow {
        epoch_id: EpochId(arr(r.bytes("epoch_id")?, "epoch id length")?),
        retention_class: r.text("retention_class")?,
        not_before: r.int("not_before")?,
        not_after: r.int("not_after")?,
        public: r.bytes("public")?,
        expires_ms: r.opt_int("expires_ms")?,
        state: EpochState::parse(&r.text("state")?).ok_or(StoreError::Corrupt("epoch state"))?,
        destroyed_ms: r.opt_int("destroyed_ms")?,
    })
}

pub(crate) fn recording_row(r: &impl Columns) -> Result<RecordingRow> {
    Ok(RecordingRow {
        recording_id: RecordingId(arr(r.bytes("recording_id")?, "recording id length")?),
        device_key: arr(r.bytes("device_key")?, "device key length")?,
        group_id: GroupId(arr(r.bytes("group_id")?, "group id length")?),
        retention_class: r.text("retention_class")?,
        first_capture_ms: r.int("first_capture_ms")?,
        segment_count: to_u32(r.int("segment_count")?, "segment count")?,
        total_bytes: to_u64(r.int("total_bytes")?, "total bytes")?,
        complete: r.int("complete")? != 0,
    })
}

/// The segment index of a row's `idx` column.
pub(crate) fn index_of(r: &impl Columns) -> Result<u32> {
    to_u32(r.int("idx")?, "segment index")
}

pub(crate) fn segment_row(r: &impl Columns) -> Result<SegmentRow> {
    Ok(SegmentRow {
        recording_id: RecordingId(arr(r.bytes("recording_id")?, "recording id length")?),
        index: index_of(r)?,
        record: r.bytes("record")?,
        record_hash: arr(r.bytes("record_hash")?, "record hash length")?,
        blob_len: to_u64(r.int("blob_len")?, "blob length")?,
        capture_ms: r.int("capture_ms")?,
        epoch_id: EpochId(arr(r.bytes("epoch_id")?, "epoch id length")?),
        received_ms: r.int("received_ms")?,
        receipt: r.bytes("receipt")?,
    })
}

pub(crate) fn entry_row(r: &impl Columns) -> Result<LogEntryRow> {
    Ok(LogEntryRow {
        index: to_u64(r.int("idx")?, "log index")?,
        time_ms: r.int("time_ms")?,
        kind: r.text("kind")?,
        recording: r
            .opt_bytes("recording_id")?
            .map(|v| arr(v, "recording id length").map(RecordingId))
            .transpose()?,
        body: r.opt_bytes("body")?,
        leaf_hash: arr(r.bytes("leaf_hash")?, "leaf hash length")?,
    })
}

pub(crate) fn checkpoint_row(r: &impl Columns) -> Result<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        size: to_u64(r.int("size")?, "checkpoint size")?,
        time_ms: r.int("time_ms")?,
        note: r.bytes("note")?,
        edge: r.bytes("edge")?,
    })
}

pub(crate) fn request_row(r: &impl Columns) -> Result<RequestRow> {
    Ok(RequestRow {
        request_hash: arr(r.bytes("request_hash")?, "request hash length")?,
        group_id: GroupId(arr(r.bytes("group_id")?, "group id length")?),
        requester_key: arr(r.bytes("requester_key")?, "requester key length")?,
        request: r.bytes("request")?,
        log_index: to_u64(r.int("log_index")?, "log index")?,
        state: RequestState::parse(&r.text("state")?)
            .ok_or(StoreError::Corrupt("request state"))?,
        created_ms: r.int("created_ms")?,
        expires_ms: r.int("expires_ms")?,
        release: r.opt_bytes("release")?,
        release_log_index: r
            .opt_int("release_log_index")?
            .map(|i| to_u64(i, "release log index"))
            .transpose()?,
    })
}

/// A stored custodian index.
pub(crate) fn custodian_index(v: i64) -> Result<u16> {
    u16::try_from(v).map_err(|_| StoreError::Corrupt("custodian index"))
}

pub(crate) fn approval_row(r: &impl Columns) -> Result<ApprovalRow> {
    Ok(ApprovalRow {
        request_hash: arr(r.bytes("request_hash")?, "request hash length")?,
        custodian: custodian_index(r.int("custodian")?)?,
        custodian_key: arr(r.bytes("custodian_key")?, "custodian key length")?,
        segments: to_u32(r.int("segments")?, "segment count")?,
        log_index: to_u64(r.int("log_index")?, "log index")?,
        envelope: r.opt_bytes("envelope")?,
    })
}

pub(crate) fn source_row(r: &impl Columns) -> Result<Source> {
    Ok(
        match (
            r.opt_bytes("recording_id")?,
            r.opt_bytes("source_artifact")?,
        ) {
            (Some(rid), None) => Source::Segments {
                recording_id: RecordingId(arr(rid, "recording id length")?),
                first: to_u32(r.opt_int("first_idx")?.unwrap_or(-1), "first")?,
                end: to_u32(r.opt_int("end_idx")?.unwrap_or(-1), "end")?,
            },
            (None, Some(a)) => Source::Artifact {
                artifact_id: RecordingId(arr(a, "artifact id length")?),
            },
            _ => return Err(StoreError::Corrupt("artifact source")),
        },
    )
}

/// An artifact row without its sources (a second query adds them).
pub(crate) fn artifact_head(r: &impl Columns) -> Result<ArtifactRow> {
    Ok(ArtifactRow {
        artifact_id: RecordingId(arr(r.bytes("artifact_id")?, "artifact id length")?),
        group_id: GroupId(arr(r.bytes("group_id")?, "group id length")?),
        kind: to_u8(r.int("kind")?, "artifact kind")?,
        name: r.text("name")?,
        consent_id: r
            .opt_bytes("consent_id")?
            .map(|c| arr(c, "consent id length"))
            .transpose()?,
        signer_key: arr(r.bytes("signer_key")?, "signer key length")?,
        record: r.bytes("record")?,
        registered_ms: r.int("registered_ms")?,
        state: ArtifactState::parse(&r.text("state")?)
            .ok_or(StoreError::Corrupt("artifact state"))?,
        changed_ms: r.opt_int("changed_ms")?,
        sources: Vec::new(),
    })
}

pub(crate) fn consent_row(r: &impl Columns) -> Result<ConsentRow> {
    Ok(ConsentRow {
        consent_id: arr(r.bytes("consent_id")?, "consent id length")?,
        group_id: GroupId(arr(r.bytes("group_id")?, "group id length")?),
        purposes: to_u8(r.int("purposes")?, "consent purposes")?,
        not_before: r.int("not_before")?,
        not_after: r.int("not_after")?,
        recorded_ms: r.int("recorded_ms")?,
        withdrawn_ms: r.opt_int("withdrawn_ms")?,
    })
}

pub(crate) fn hold_row(r: &impl Columns) -> Result<HoldRow> {
    Ok(HoldRow {
        hold_id: arr(r.bytes("hold_id")?, "hold id length")?,
        group_id: GroupId(arr(r.bytes("group_id")?, "group id length")?),
        case: r.text("case_ref")?,
        device_key: arr(r.bytes("device_key")?, "device key length")?,
        from_ms: r.int("from_ms")?,
        to_ms: r.int("to_ms")?,
        placed_ms: r.int("placed_ms")?,
        released_ms: r.opt_int("released_ms")?,
    })
}
