//! Storage of the access workflow (docs/access.md): requesters, signed
//! access requests, custodians' approvals with their partial envelopes,
//! denials and releases, behind [`AccessStore`].
//!
//! **Invariants** (each kept inside one write transaction):
//!
//! 1. Every change that the log records — a requester added, a request
//!    stored, an approval, a denial, a release — sequences its audit entry
//!    in the same transaction, and the row keeps the entry's index.
//! 2. A request's state moves only `pending → denied` or
//!    `pending → released`; approvals and denials are only added to a
//!    pending request.
//! 3. A custodian approves a request at most once
//!    ([`crate::StoreError::AlreadyApproved`]).
//! 4. An approval's envelope is stored only if its SHA-256 is the
//!    `partial_hash` the custodian's `approved` entry committed to, and
//!    never replaced by other bytes ([`crate::StoreError::PartialMismatch`]).

use core::fmt;
use std::future::Future;

use obhut_core::ids::GroupId;

use crate::{KeyBytes, NewLogEntry, Result};

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

/// The result of [`AccessStore::insert_request`].
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
    /// SHA-256 of the partial envelope the custodian will upload.
    pub partial_hash: [u8; 32],
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
    /// SHA-256 of the partial envelope committed to.
    pub partial_hash: [u8; 32],
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

/// Storage of the access workflow. Same durability and visibility
/// contract as [`crate::IndexStore`]. Methods that change state take the
/// audit entry of the change and sequence it in the same transaction
/// (module invariant 1); they return its index.
pub trait AccessStore: Send + Sync + 'static {
    /// Every custody group's id (to find the groups a person is a
    /// custodian of).
    fn group_ids(&self) -> impl Future<Output = Result<Vec<GroupId>>> + Send;

    /// Allow a person to ask for access to a group's footage, sequencing
    /// `log` in the same transaction unless the person already could.
    fn add_requester(
        &self,
        person_key: KeyBytes,
        group: GroupId,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Whether a person may ask for access to `group`'s footage.
    fn is_requester(
        &self,
        person_key: KeyBytes,
        group: GroupId,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Store a pending request and sequence `log` (its `access-requested`
    /// entry) in one transaction. A request already stored under the same
    /// hash is returned as [`RequestInserted::Existing`] and nothing is
    /// sequenced.
    fn insert_request(
        &self,
        request: &NewRequest,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<RequestInserted>> + Send;
    /// One request.
    fn request(&self, hash: [u8; 32]) -> impl Future<Output = Result<Option<RequestRow>>> + Send;
    /// The requests of `groups` (in `state` if given), newest first.
    fn requests_for_groups(
        &self,
        groups: &[GroupId],
        state: Option<RequestState>,
    ) -> impl Future<Output = Result<Vec<RequestRow>>> + Send;
    /// The requests a requester made (in `state` if given), newest first.
    fn requests_by_requester(
        &self,
        requester: KeyBytes,
        state: Option<RequestState>,
    ) -> impl Future<Output = Result<Vec<RequestRow>>> + Send;

    /// Add a custodian's approval and sequence `log` (its `approved`
    /// entry) in one transaction. Refused with
    /// [`crate::StoreError::NotFound`] for an unknown request,
    /// [`crate::StoreError::RequestNotPending`] unless it is pending, and
    /// [`crate::StoreError::AlreadyApproved`] if this custodian approved
    /// before. Returns the entry's index.
    fn add_approval(
        &self,
        approval: &NewApproval,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// The approvals of a request, by custodian index.
    fn approvals(&self, hash: [u8; 32]) -> impl Future<Output = Result<Vec<ApprovalRow>>> + Send;
    /// Store custodian `custodian`'s partial envelope for a request:
    /// refused with [`crate::StoreError::NotFound`] without an approval,
    /// [`crate::StoreError::PartialMismatch`] if SHA-256(`envelope`) is not
    /// the approval's `partial_hash` (so a second, different envelope is
    /// refused too), and [`crate::StoreError::RequestNotPending`] for a
    /// first upload to a request that has ended. Re-uploading the stored
    /// bytes changes nothing. Returns whether the envelope was stored now.
    /// Not logged: the `approved` entry already holds its hash.
    fn put_partial(
        &self,
        hash: [u8; 32],
        custodian: u16,
        envelope: &[u8],
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Deny a pending request (it ends) and sequence `log` (its `denied`
    /// entry) in one transaction; refused like
    /// [`AccessStore::add_approval`]. Returns the entry's index.
    fn deny(
        &self,
        hash: [u8; 32],
        custodian: u16,
        reason: &str,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// The denial of a request, if any.
    fn denial(&self, hash: [u8; 32]) -> impl Future<Output = Result<Option<DenialRow>>> + Send;

    /// Mark a pending request released with `release` (the encoded
    /// `EpochRelease`) and sequence `log` (its `released` entry) in one
    /// transaction; [`crate::StoreError::RequestNotPending`] unless it is
    /// pending (e.g. a concurrent release won). Returns the entry's index.
    fn mark_released(
        &self,
        hash: [u8; 32],
        release: &[u8],
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<u64>> + Send;
}
