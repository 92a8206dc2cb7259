//! One error type for every endpoint: a kind (which fixes the HTTP status,
//! [`status`], and the JSON `error` string of docs/vault.md,
//! [`ErrorKind::as_str`]) and a message for people. The kinds and the
//! JSON body are obhut-api's, shared with the clients.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obhut_api::{ErrorBody, ErrorKind};
use obhut_store::StoreError;

/// The one mapping from kind to HTTP status.
pub fn status(kind: &ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::MalformedRecord
        | ErrorKind::WrongLength
        | ErrorKind::HashMismatch
        | ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::UnknownDevice
        | ErrorKind::UnknownPerson
        | ErrorKind::BadSignature
        | ErrorKind::StaleTime => StatusCode::UNAUTHORIZED,
        ErrorKind::RevokedDevice
        | ErrorKind::InvalidToken
        | ErrorKind::Forbidden
        | ErrorKind::ConsentRequired => StatusCode::FORBIDDEN,
        ErrorKind::NotFound | ErrorKind::UnknownClass | ErrorKind::UnknownRecording => {
            StatusCode::NOT_FOUND
        }
        ErrorKind::ChainConflict
        | ErrorKind::OutOfOrder
        | ErrorKind::ReplayedNonce
        | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::NotEnrolledGroup
        | ErrorKind::UnknownEpoch
        | ErrorKind::NotReady
        | ErrorKind::StoredSegmentCorrupt => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        ErrorKind::Pruned
        | ErrorKind::Expired
        | ErrorKind::EpochDestroyed
        | ErrorKind::RecordingExpired
        | ErrorKind::ArtifactDeleted => StatusCode::GONE,
        ErrorKind::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        // The vault never answers with a kind it does not know
        // (`ErrorKind::Unknown` is a client's reading of a newer vault);
        // the enum is non-exhaustive, so a kind added to obhut-api and not
        // yet mapped here is a 500 until it is.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
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
            | StoreError::PartialMismatch { .. }
            | StoreError::Duplicate(_) => ApiError::new(ErrorKind::Conflict, e.to_string()),
            StoreError::Source(_) => ApiError::new(
                ErrorKind::WrongLength,
                format!("the body ended early or failed: {e}"),
            ),
            // Before the catch-all: a full disk is the operator's to fix
            // and the client's to retry, not an unexplained 500.
            full if full.is_out_of_space() => {
                tracing::error!(error = %full, "storage full");
                ApiError::new(
                    ErrorKind::InsufficientStorage,
                    "the vault's storage is full; nothing was stored. Retry once the \
                     operator has freed space (the vault's log names the store)",
                )
            }
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
        let status = status(&self.kind);
        let body = ErrorBody {
            error: self.kind.clone(),
            message: self.message,
        };
        let mut r = (status, Json(body)).into_response();
        r.extensions_mut().insert(self.kind);
        r
    }
}

/// Result alias of the handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// `status` ends in a wildcard (the kinds are non-exhaustive): a kind
    /// added to obhut-api without a status here would be a 500.
    #[test]
    fn every_known_kind_has_its_own_status() {
        for k in ErrorKind::KNOWN {
            let s = status(k);
            assert_eq!(
                s == StatusCode::INTERNAL_SERVER_ERROR,
                *k == ErrorKind::Internal,
                "{k} is {s}"
            );
        }
    }
}
