//! One error type for every endpoint: a kind (which fixes the HTTP status
//! and the JSON `error` string of docs/vault.md) and a message for people.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obhut_store::StoreError;

/// What went wrong, as a client can act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The body does not start with a valid signed segment record.
    MalformedRecord,
    /// The blob's length differs from the record's.
    WrongLength,
    /// The blob's BLAKE3 differs from the record's `ciphertext_hash`.
    HashMismatch,
    /// Another record at that index, or `prev` mismatch.
    ChainConflict,
    /// The index is ahead of the recording's next index.
    OutOfOrder,
    /// The body exceeds the vault's limit.
    TooLarge,
    /// The capsule is not sealed to the device's custody group.
    NotEnrolledGroup,
    /// The wrap names no epoch of the device's class covering the capture.
    UnknownEpoch,
    /// The request's key is not an enrolled device.
    UnknownDevice,
    /// The request's key is not a registered reader.
    UnknownPerson,
    /// Authentication headers missing, malformed or not verifying.
    BadSignature,
    /// `Obhut-Time` outside ±300 s of the vault's clock.
    StaleTime,
    /// The (key, nonce) pair was used before.
    ReplayedNonce,
    /// The device was revoked.
    RevokedDevice,
    /// The enrolment token is unknown, used or expired.
    InvalidToken,
    /// Not allowed to read that group's recordings.
    Forbidden,
    /// Nothing at that path.
    NotFound,
    /// Unknown retention class.
    UnknownClass,
    /// A malformed request (JSON, query, path).
    BadRequest,
    /// The requested byte range is outside the blob.
    RangeNotSatisfiable,
    /// Audit entry bodies asked for were pruned (log retention).
    Pruned,
    /// A state conflict of the access workflow: a second approval by one
    /// custodian, a change to a denied or released request, an envelope
    /// other than the one logged (docs/access.md §3).
    Conflict,
    /// The access request has expired.
    Expired,
    /// The release's preconditions do not hold yet: approvals or envelopes
    /// missing, entries not yet in a checkpoint.
    NotReady,
    /// A recording named by an access request is not in its group.
    UnknownRecording,
    /// The store failed; details are in the vault's log.
    Internal,
}

impl ErrorKind {
    /// The `error` string of the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::MalformedRecord => "malformed-record",
            ErrorKind::WrongLength => "wrong-length",
            ErrorKind::HashMismatch => "hash-mismatch",
            ErrorKind::ChainConflict => "chain-conflict",
            ErrorKind::OutOfOrder => "out-of-order",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::NotEnrolledGroup => "not-enrolled-group",
            ErrorKind::UnknownEpoch => "unknown-epoch",
            ErrorKind::UnknownDevice => "unknown-device",
            ErrorKind::UnknownPerson => "unknown-person",
            ErrorKind::BadSignature => "bad-signature",
            ErrorKind::StaleTime => "stale-time",
            ErrorKind::ReplayedNonce => "replayed-nonce",
            ErrorKind::RevokedDevice => "revoked-device",
            ErrorKind::InvalidToken => "invalid-token",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not-found",
            ErrorKind::UnknownClass => "unknown-class",
            ErrorKind::BadRequest => "bad-request",
            ErrorKind::RangeNotSatisfiable => "range-not-satisfiable",
            ErrorKind::Pruned => "pruned",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Expired => "expired",
            ErrorKind::NotReady => "not-ready",
            ErrorKind::UnknownRecording => "unknown-recording",
            ErrorKind::Internal => "internal",
        }
    }

    /// The one mapping from kind to HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::MalformedRecord
            | ErrorKind::WrongLength
            | ErrorKind::HashMismatch
            | ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::UnknownDevice
            | ErrorKind::UnknownPerson
            | ErrorKind::BadSignature
            | ErrorKind::StaleTime => StatusCode::UNAUTHORIZED,
            ErrorKind::RevokedDevice | ErrorKind::InvalidToken | ErrorKind::Forbidden => {
                StatusCode::FORBIDDEN
            }
            ErrorKind::NotFound | ErrorKind::UnknownClass | ErrorKind::UnknownRecording => {
                StatusCode::NOT_FOUND
            }
            ErrorKind::ChainConflict
            | ErrorKind::OutOfOrder
            | ErrorKind::ReplayedNonce
            | ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::NotEnrolledGroup | ErrorKind::UnknownEpoch | ErrorKind::NotReady => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ErrorKind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorKind::Pruned | ErrorKind::Expired => StatusCode::GONE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An endpoint's error: kind plus a message naming what is wrong. The
/// message never contains record bodies, metadata or key material.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", kind.as_str())]
pub struct ApiError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// For people.
    pub message: String,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongLength { .. } => ApiError::new(ErrorKind::WrongLength, e.to_string()),
            StoreError::HashMismatch => ApiError::new(ErrorKind::HashMismatch, e.to_string()),
            StoreError::ChainConflict { .. } => {
                ApiError::new(ErrorKind::ChainConflict, e.to_string())
            }
            StoreError::OutOfOrder { .. } => ApiError::new(ErrorKind::OutOfOrder, e.to_string()),
            StoreError::Token(_) => ApiError::new(ErrorKind::InvalidToken, e.to_string()),
            StoreError::NotFound(_) => ApiError::new(ErrorKind::NotFound, e.to_string()),
            StoreError::RequestNotPending { .. }
            | StoreError::AlreadyApproved { .. }
            | StoreError::PartialMismatch { .. } => {
                ApiError::new(ErrorKind::Conflict, e.to_string())
            }
            StoreError::Source(_) => ApiError::new(
                ErrorKind::WrongLength,
                format!("the body ended early or failed: {e}"),
            ),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::new(
                    ErrorKind::Internal,
                    "the vault's store failed; the operator finds details in its log",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.kind.as_str(), "message": self.message});
        let mut r = (self.kind.status(), Json(body)).into_response();
        r.extensions_mut().insert(self.kind);
        r
    }
}

/// Result alias of the handlers.
pub type ApiResult<T> = Result<T, ApiError>;
