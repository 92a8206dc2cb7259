//! The access workflow's rows (docs/access.md): requests, approvals and
//! denials, and a request's state, as [`crate::AccessStore`] takes and
//! returns them.

use core::fmt;

use obhut_core::ids::GroupId;

use crate::KeyBytes;

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestState {
    /// Stored and logged; approvals may be added.
    Pending,
    /// A custodian denied it; it has ended.
    Denied,
    /// The vault released the epoch parts; it has ended.
    Released,
}

impl RequestState {
    /// The stored (and JSON) name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Denied => "denied",
            RequestState::Released => "released",
        }
    }

    /// Parse a stored or queried name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(RequestState::Pending),
            "denied" => Some(RequestState::Denied),
            "released" => Some(RequestState::Released),
            _ => None,
        }
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request about to be stored (the caller verified its signature).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRequest {
    /// `AccessRequest::request_hash()`.
    pub request_hash: [u8; 32],
    /// The custody group it asks.
    pub group_id: GroupId,
    /// The requester's Ed25519 key (`requester_sign`).
    pub requester_key: KeyBytes,
    /// The signed `AccessRequest`, verbatim.
    pub request: Vec<u8>,
    /// Vault clock when stored (UTC ms).
    pub created_ms: i64,
    /// The request's `expires_utc_ms`.
    pub expires_ms: i64,
}

/// A stored request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRow {
    /// `AccessRequest::request_hash()`.
    pub request_hash: [u8; 32],
    /// The custody group it asks.
    pub group_id: GroupId,
    /// The requester's Ed25519 key.
    pub requester_key: KeyBytes,
    /// The signed `AccessRequest`, verbatim.
    pub request: Vec<u8>,
    /// Index of its `access-requested` entry (the grant's log index).
    pub log_index: u64,
    /// Where it stands.
    pub state: RequestState,
    /// Vault clock when stored (UTC ms).
    pub created_ms: i64,
    /// The request's `expires_utc_ms`.
    pub expires_ms: i64,
    /// The `EpochRelease` once released.
    pub release: Option<Vec<u8>>,
    /// Index of the `released` entry once released.
    pub release_log_index: Option<u64>,
}

/// The result of [`crate::AccessStore::insert_request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestInserted {
    /// Stored now; its entry got this index.
    New(u64),
    /// The same request (same hash, hence the same bytes) was stored
    /// before; nothing changed.
    Existing(RequestRow),
}

/// An approval about to be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApproval {
    /// The request approved.
    pub request_hash: [u8; 32],
    /// The custodian's 1-based index in the group descriptor.
    pub custodian: u16,
    /// The custodian's Ed25519 key.
    pub custodian_key: KeyBytes,
    /// Segments the custodian resolved the scope to.
    pub segments: u32,
}

/// A stored approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRow {
    /// The request approved.
    pub request_hash: [u8; 32],
    /// The custodian's 1-based index.
    pub custodian: u16,
    /// The custodian's Ed25519 key.
    pub custodian_key: KeyBytes,
    /// Segments the custodian resolved the scope to.
    pub segments: u32,
    /// Index of the `approved` entry.
    pub log_index: u64,
    /// The envelope, once uploaded.
    pub envelope: Option<Vec<u8>>,
}

/// A stored denial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DenialRow {
    /// The request denied.
    pub request_hash: [u8; 32],
    /// The denying custodian's index.
    pub custodian: u16,
    /// Why, in the custodian's words.
    pub reason: String,
    /// Index of the `denied` entry.
    pub log_index: u64,
}
