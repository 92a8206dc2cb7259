//! What every handler module uses to read a request (body limit, path
//! parameters) and to answer with an error, kept below the handlers so
//! none imports another.

use obhut_api::ErrorKind;
use obhut_core::ids::RecordingId;

use crate::error::{ApiError, ApiResult};

/// Largest JSON body (enrolment).
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// An error of `kind` with a message for people.
pub(crate) fn bad(kind: ErrorKind, m: impl Into<String>) -> ApiError {
    ApiError::new(kind, m)
}

/// A recording id from a path segment (32 hex digits).
pub(crate) fn parse_rid(s: &str) -> ApiResult<RecordingId> {
    RecordingId::from_hex(s)
        .ok_or_else(|| bad(ErrorKind::BadRequest, "recording id is not 32 hex digits"))
}
