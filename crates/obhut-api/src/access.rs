//! The access workflow's JSON (docs/access.md §3), served by the vault's
//! access handlers and read by requesters and custodians. Binary
//! structures travel as standard base64 of their docs/format.md encodings;
//! hashes as hex.

use serde::{Deserialize, Serialize};

/// Answer to `POST /v1/requests`, `POST …/approvals`, `POST …/denials`,
/// `POST …/opened`: where the event sits in the audit log, and the entry
/// itself so the client can check its inclusion (docs/log.md).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Logged {
    /// Index of the entry in the audit log.
    pub log_index: u64,
    /// The entry (docs/format.md §12), base64.
    pub entry: String,
}

/// One approval as the vault stores it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApprovalJson {
    /// Custodian index in the group descriptor (1-based).
    pub custodian: u16,
    /// The custodian's Ed25519 key, hex.
    pub custodian_key: String,
    /// Whether the custodian's partial envelope has been uploaded (phase
    /// 2, after k approvals were logged).
    pub partial_uploaded: bool,
    /// Where the approval sits in the log.
    pub logged: Logged,
}

/// A request as the vault holds it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestJson {
    /// Request hash (`obhut/v1/request-hash`), hex.
    pub request_hash: String,
    /// The signed `AccessRequest`, base64.
    pub request: String,
    /// `pending`, `denied` or `released`.
    pub state: String,
    /// Where the request sits in the log (the grant's log index).
    pub logged: Logged,
    /// Approvals so far.
    pub approvals: Vec<ApprovalJson>,
    /// The denial, if any: the denying custodian's index and reason.
    pub denial: Option<DenialJson>,
}

/// A denial.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DenialJson {
    /// Custodian index.
    pub custodian: u16,
    /// Why, in the custodian's words.
    pub reason: String,
    /// Where the denial sits in the log.
    pub logged: Logged,
}

/// `GET /v1/requests`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestList {
    /// Requests of the caller's groups (custodian) or the caller's own
    /// (requester), newest first.
    pub requests: Vec<RequestJson>,
}

/// Body of `POST /v1/requests/{hash}/approvals`, `…/denials` and
/// `…/opened`: the person's signed decision (docs/format.md §8.6), which
/// the vault logs whole.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DecisionBody {
    /// The signed `Decision`, base64.
    pub decision: String,
}

/// Body of `POST /v1/requests/{hash}/disclosed`: the requester's signed
/// disclosure of an export bundle (docs/bundle.md §5), which the vault
/// logs whole.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DisclosureBody {
    /// The signed `Disclosure`, base64.
    pub disclosure: String,
}

/// Answer to `POST /v1/requests/{hash}/release`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReleaseJson {
    /// The `EpochRelease` (docs/format.md §8.5), base64.
    pub release: String,
    /// The signed segment records the release covers, base64, in order
    /// (the requester checks them and the scope itself).
    pub records: Vec<String>,
    /// The uploaded partial envelopes of the approvals, base64.
    pub partials: Vec<String>,
    /// Where the release sits in the log.
    pub logged: Logged,
}
