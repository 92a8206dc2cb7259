//! The client's errors: each variant carries what a caller acts on (the
//! vault's status and error kind, which request, segment or log entry
//! failed). Texts say what is wrong; the next step (which flag, which
//! command) is the front end's (the CLI's `util/hint.rs`).

use std::path::PathBuf;

use obhut_core::ids::{RecordingId, SegmentRef};
use obhut_log::client::ClientError;

/// Which part of the vault's API answered with an unexpected status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// The reader API (`/v1/recordings…`): needs the reader role.
    Reader,
    /// A segment's ciphertext (`…/blob`): needs the reader role.
    Blob,
    /// The public log API (`/v1/log/checkpoint`, proofs).
    Log,
    /// Log entry bodies (`/v1/log/entries`, `/v1/log/recordings/…`): need
    /// the auditor role.
    Entries,
}

/// What the client did that an [`Error::NotPending`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An approval.
    Approve,
    /// A denial.
    Deny,
}

/// An error of the client roles.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The vault could not be reached (connection, TLS, timeout).
    #[error("{method} {url}")]
    Unreachable {
        /// HTTP method.
        method: String,
        /// The URL called.
        url: String,
        /// What the HTTP client reported.
        #[source]
        source: Box<ureq::Error>,
    },
    /// The vault's answer could not be read.
    #[error("{method} {url}: reading the answer")]
    ReadAnswer {
        /// HTTP method.
        method: String,
        /// The URL called.
        url: String,
        /// What the HTTP client reported.
        #[source]
        source: Box<ureq::Error>,
    },
    /// A request could not be built (a malformed URL).
    #[error("{method} {url}: building the request")]
    BuildRequest {
        /// HTTP method.
        method: String,
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: ureq::http::Error,
    },
    /// The OS random number generator failed (a local fault).
    #[error("OS randomness: {0}")]
    Randomness(String),
    /// A GET answered another status than 200 (or 206 for a range).
    #[error("GET {target}: the vault answered {status}{}", .body.as_deref().map(|b| format!(": {b}")).unwrap_or_default())]
    Status {
        /// Which API.
        endpoint: Endpoint,
        /// The path or URL asked for.
        target: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer, if the API has one worth showing.
        body: Option<String>,
    },
    /// The access API refused a call (docs/access.md §3).
    #[error("{method} {path}: the vault refused ({status} {kind}): {message}")]
    Refused {
        /// HTTP method.
        method: String,
        /// The path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The vault's error kind (`forbidden`, `not-ready`, …).
        kind: obhut_api::ErrorKind,
        /// The vault's message.
        message: String,
    },
    /// The upload of a partial was refused after the approval was logged.
    #[error("PUT {path}: the vault refused ({status}): {message}")]
    PartialUpload {
        /// The path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The vault's answer.
        message: String,
    },
    /// An answer is not the API's documented JSON.
    #[error("{method} {target}: the answer is not the documented JSON")]
    Json {
        /// HTTP method.
        method: String,
        /// The path.
        target: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A body could not be encoded as JSON (a local fault).
    #[error("encoding a request body")]
    Encode(#[source] serde_json::Error),

    // --- the vault misbehaved: stop, keep the evidence -------------------
    /// A field of an answer is not base64 (or not the length it must be).
    #[error("the vault's {field} is not base64")]
    NotBase64 {
        /// Which field.
        field: String,
    },
    /// The binary records answer (docs/vault.md §5) is malformed:
    /// truncated, a record too long, or bytes after the last record.
    #[error("GET {path}: the binary records answer is malformed")]
    RecordsAnswer {
        /// The path.
        path: String,
        /// Why (the core's error names the field).
        #[source]
        source: obhut_core::Error,
    },
    /// An answer came in another media type than asked for.
    #[error("GET {path}: the vault answered {got:?}, not {expected}")]
    ContentType {
        /// The path.
        path: String,
        /// The media type asked for.
        expected: &'static str,
        /// The `Content-Type` of the answer.
        got: String,
    },
    /// A record served by the vault does not parse or its signature fails.
    #[error("GET {path}: record {index} does not verify")]
    Record {
        /// The path.
        path: String,
        /// Which record.
        index: usize,
        /// Why.
        #[source]
        source: obhut_core::Error,
    },
    /// A recording's chain of records does not verify.
    #[error("the records of recording {recording} from the vault do not verify")]
    Chain {
        /// The recording.
        recording: RecordingId,
        /// Why.
        #[source]
        source: obhut_core::Error,
    },
    /// The vault's copy of a request does not verify.
    #[error("the vault's copy of the request does not verify")]
    RequestInvalid(#[source] obhut_core::Error),
    /// The vault answered with another request than the one asked for.
    #[error("the vault answered with request {got}, not the one asked for")]
    OtherRequest {
        /// The hash of the request the vault sent.
        got: String,
    },
    /// A log entry the vault returned does not decode.
    #[error("the vault's log entry for {what} does not decode: {failure}")]
    EntryUndecodable {
        /// What the entry was for.
        what: String,
        /// Why.
        failure: obhut_core::Error,
    },
    /// The vault logged another event than the call asked for.
    #[error("the vault logged something else than {what}: {entry}")]
    WrongEntry {
        /// What the entry should be.
        what: String,
        /// The entry logged, described.
        entry: String,
    },
    /// An entry did not appear in the log in time.
    #[error(
        "{what} (log entry #{index}) is not in the vault's log after 30 s (checkpoint size {size})"
    )]
    NotIntegrated {
        /// What the entry is.
        what: String,
        /// Its index.
        index: u64,
        /// The size of the latest checkpoint.
        size: u64,
    },
    /// An entry's inclusion proof fails.
    #[error("{what} is not provably in the log: {failure}")]
    NotIncluded {
        /// What the entry is.
        what: String,
        /// Why.
        failure: Box<ClientError>,
    },
    /// A hash of a proof is not base64 of 32 bytes.
    #[error("GET {path}: a proof hash is not base64 of 32 bytes")]
    ProofHash {
        /// The path.
        path: String,
    },
    /// A proof could not be built from the log's hash tiles: a tile of the
    /// wrong length, or sizes the tree does not have.
    #[error("the log's {what}: {why}")]
    TileProof {
        /// Which proof.
        what: String,
        /// What was wrong.
        why: String,
    },
    /// The log check failed: a rollback, a fork, a bad signature… The two
    /// checkpoints are the evidence (two signed, inconsistent checkpoints
    /// prove the vault misbehaved).
    #[error("the audit log check failed: {failure}{}", evidence(.stored.as_deref(), .presented))]
    LogCheck {
        /// What failed.
        failure: Box<ClientError>,
        /// The checkpoint stored earlier, if any.
        stored: Option<Vec<u8>>,
        /// The checkpoint the vault presents now.
        presented: String,
    },
    /// The stored checkpoint does not verify under the log key.
    #[error("the stored checkpoint {store} does not verify: {failure}")]
    StoredCheckpoint {
        /// Where it is stored.
        store: String,
        /// Why.
        failure: Box<ClientError>,
    },
    /// A record in scope is not proved logged with its device enrolled (and
    /// not revoked) when the vault took it in: R is not taken from it.
    #[error("recording {recording}: {why}")]
    Provenance {
        /// The recording.
        recording: obhut_core::ids::RecordingId,
        /// What is missing or wrong.
        why: String,
    },
    /// The scope resolves to other segments than the approval logged.
    #[error(
        "you approved {approved} segment(s), but the request now covers {now}: footage arrived since; nothing was sent"
    )]
    ScopeChanged {
        /// Segments in the logged approval.
        approved: usize,
        /// Segments the scope resolves to now.
        now: usize,
    },
    /// This identity is not listed as a custodian in the pinned group.
    #[error("your identity is not a custodian of this request's group")]
    NotACustodian,
    /// A decision (approval, denial, opened report) could not be signed.
    #[error("cannot sign the decision")]
    Decision(#[source] obhut_core::Error),
    /// Another client of the same checkpoint store saved a newer state
    /// since this one loaded it, again and again; nothing was overwritten.
    #[error("another client keeps moving the log state {store}; try again")]
    StateMoved {
        /// Where it is stored.
        store: String,
    },
    /// A store or source the caller supplied failed (the checkpoint store,
    /// a file of ciphertext): its own error, which says what and where.
    #[error("{0}")]
    Caller(Box<dyn std::error::Error + Send + Sync>),
    /// The state file ([`crate::log::StateFile`]) could not be read or
    /// written.
    #[error(transparent)]
    StateFile(#[from] StateFileError),
    /// The release's records do not verify.
    #[error("the release's records do not verify")]
    ReleaseRecords(#[source] obhut_core::Error),
    /// The vault released another set of segments than the request covers.
    #[error("the vault released {released} segment(s), the request covers {covered}")]
    ReleaseMismatch {
        /// Segments released.
        released: usize,
        /// Segments the request covers.
        covered: usize,
    },
    /// A partial from the vault does not parse.
    #[error("a partial from the vault does not parse")]
    PartialInvalid(#[source] obhut_core::Error),
    /// The vault's epoch release does not parse.
    #[error("the vault's release does not parse")]
    ReleaseInvalid(#[source] obhut_core::Error),

    // --- the request, the person, the scope ------------------------------
    /// The request is addressed to another custody group or generation.
    #[error(
        "the request is for custody group {request_group} (generation {request_generation}), the group given is {group} (generation {generation})"
    )]
    OtherGroup {
        /// The request's group id.
        request_group: String,
        /// The request's generation.
        request_generation: u32,
        /// The given group's id.
        group: String,
        /// The given group's generation.
        generation: u32,
    },
    /// The request has expired.
    #[error("the request expired at {expires_utc_ms} ms UTC")]
    Expired {
        /// When it expired.
        expires_utc_ms: i64,
    },
    /// The request is not pending (approved, denied or released meanwhile).
    #[error("request {hash} is {state}, not pending")]
    NotPending {
        /// The request hash.
        hash: String,
        /// Its state.
        state: String,
        /// What was refused.
        action: Action,
    },
    /// The person asked did not confirm the approval.
    #[error("not approved; no partial was computed")]
    NotConfirmed,
    /// The request was signed by another identity than the one opening.
    #[error("this request was signed by another identity")]
    NotRequester,
    /// The request covers no segment of the recordings it names.
    #[error("the request covers no segment of the recordings it names")]
    EmptyScope,
    /// The custodian's share does not open.
    #[error("cannot open your share")]
    Share(#[source] obhut_core::Error),
    /// The partial could not be computed.
    #[error("no partial was computed")]
    Partial(#[source] obhut_core::Error),
    /// The segment keys could not be recovered from the partials and release.
    #[error("cannot recover the segment keys")]
    Recover(#[source] obhut_core::Error),
    /// The vault's group tree of a segment does not prove against the
    /// record's signed ciphertext hash: its bytes cannot be trusted.
    #[error("{segment}: the vault's blob does not match the device-signed record ({source})")]
    Forged {
        /// The segment.
        segment: SegmentRef,
        /// What did not match.
        #[source]
        source: obhut_core::blob_tree::TreeError,
    },
    /// A recording's metadata patch (docs/format.md §7.4) does not fit
    /// its media: the device that signed it wrote a bad one.
    #[error("{segment}: its metadata patch does not fit the recording ({source})")]
    MetadataPatch {
        /// The segment holding the patch.
        segment: SegmentRef,
        /// What did not fit.
        #[source]
        source: obhut_core::Error,
    },
    /// A segment did not open (key, header, hash, length).
    #[error("cannot open {segment}")]
    Segment {
        /// The segment.
        segment: SegmentRef,
        /// Why.
        #[source]
        source: obhut_core::Error,
    },
    /// A range outside the recording.
    #[error("--range {start}-{end} is outside the recording's {len} bytes")]
    RangeOutside {
        /// Start (inclusive).
        start: u64,
        /// End (exclusive).
        end: u64,
        /// The recording's media length.
        len: u64,
    },
    /// A range reaching into a segment the request does not cover.
    #[error(
        "bytes {start}-{end} of --range lie in segment {segment}, which the request does not cover"
    )]
    RangeNotCovered {
        /// First byte of the range in that segment.
        start: u64,
        /// End of the range in that segment.
        end: u64,
        /// The segment's index.
        segment: u32,
        /// The byte ranges the request covers.
        covered: Vec<(u64, u64)>,
    },
    /// A range read needs exactly one recording in scope.
    #[error("--range needs a request with a single recording in scope")]
    RangeNeedsOneRecording,
    /// A recording could not be cut into a clean clip (not an MP4 with
    /// video, or no keyframe of the window opened); `write_to_dir` falls back to
    /// the original layout on it.
    #[error("recording {recording}: {source}")]
    Clip {
        /// The recording.
        recording: obhut_core::ids::RecordingId,
        /// Why.
        #[source]
        source: obhut_media::MediaError,
    },
    /// The clip's Content Credentials could not be signed (feature
    /// `c2pa`; nothing is written without them).
    #[cfg(feature = "c2pa")]
    #[error("recording {recording}: {source}")]
    Credentials {
        /// The recording.
        recording: obhut_core::ids::RecordingId,
        /// Why.
        #[source]
        source: crate::credentials::CredentialsError,
    },
    /// Writing the output failed.
    #[error("cannot write the output")]
    Write(#[source] std::io::Error),
    /// The directory for the opened files could not be created.
    #[error("cannot create {}", dir.display())]
    OutputDir {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// An output file exists, and the caller did not allow replacing it.
    #[error("{} already exists", path.display())]
    OutputExists {
        /// The file.
        path: PathBuf,
    },
    /// A step of an output file's durable write failed.
    #[error("cannot write {}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// Which step, and what the OS said.
        #[source]
        source: obhut_durable::Error,
    },

    // --- the audit log's entries ----------------------------------------
    /// An entry's leaf hash is not 64 hex digits.
    #[error("entry #{index}: leaf hash is not 64 hex digits")]
    LeafHash {
        /// The entry.
        index: u64,
    },
    /// An entry's body does not hash to its leaf: it was rewritten.
    #[error("entry #{index} was rewritten: its body does not hash to its leaf")]
    Rewritten {
        /// The entry.
        index: u64,
    },
    /// An entry does not decode.
    #[error("entry #{index} does not decode: {failure}")]
    EntryInvalid {
        /// The entry.
        index: u64,
        /// Why.
        failure: obhut_core::Error,
    },
    /// An entry is not in the verified log.
    #[error("entry #{index} is not in the verified log: {failure}")]
    EntryNotIncluded {
        /// The entry.
        index: u64,
        /// Why.
        failure: Box<ClientError>,
    },
    /// An entry is missing from the vault's answer.
    #[error("entry #{expected} is missing (the vault skipped from #{expected} to #{got})")]
    EntryMissing {
        /// The index expected next.
        expected: u64,
        /// The index served.
        got: u64,
    },
    /// The vault served fewer entries than its checkpoint says.
    #[error("the vault served {served} entries; its checkpoint says {size}")]
    EntriesShort {
        /// Entries served.
        served: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// An `--to` recipient is not an age X25519 recipient (`age1…`).
    #[error("recipient {recipient:?}: {why}")]
    Recipient {
        /// As given.
        recipient: String,
        /// Why (the age crate's words).
        why: String,
    },
    /// The bundle directory exists already.
    #[error("{} exists: an export goes into a new directory", dir.display())]
    BundleExists {
        /// The directory.
        dir: PathBuf,
    },
    /// Writing a file of the bundle failed.
    #[error("cannot write {}", path.display())]
    BundleWrite {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The grant covers no segment.
    #[error("the grant covers no segment: nothing to export")]
    NothingToExport,
    /// The clip of a recording could not be derived from the bundled
    /// segments (not an MP4 with video, …).
    #[error("recording {recording}: no clip can be exported: {why}")]
    ExportClip {
        /// The recording.
        recording: obhut_core::ids::RecordingId,
        /// Why.
        why: String,
    },
    /// A log entry of the chain of custody could not be proved.
    #[error("{what}: {why}")]
    ExportLog {
        /// Which entry.
        what: String,
        /// Why.
        why: String,
    },
    /// A manifest or sample map could not be serialised.
    #[error("cannot serialise the bundle's JSON")]
    Serialize(#[source] serde_json::Error),
    /// The entries do not hash to the signed root.
    #[error(
        "the entries hash to root {computed}, the signed checkpoint says {signed}: an entry was rewritten or dropped"
    )]
    RootMismatch {
        /// The root computed (base64).
        computed: String,
        /// The root signed (base64).
        signed: String,
    },
}

/// Why a [`crate::log::StateFile`] could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateFileError {
    /// The file exists but cannot be read.
    #[error("reading {}", path.display())]
    Read {
        /// The state file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Its directory could not be created.
    #[error("creating {}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The lock beside it could not be taken.
    #[error("cannot lock {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A step of the durable write failed.
    #[error("cannot write {}: {failure}", path.display())]
    Write {
        /// The state file.
        path: PathBuf,
        /// Which step, and what the OS said (in the message, which would
        /// otherwise show the OS error twice).
        failure: obhut_durable::Error,
    },
}

fn evidence(stored: Option<&[u8]>, presented: &str) -> String {
    stored
        .map(|p| {
            format!(
                "\n--- checkpoint stored earlier ---\n{}--- checkpoint the vault presents now ---\n{presented}",
                String::from_utf8_lossy(p)
            )
        })
        .unwrap_or_default()
}

impl Error {
    /// Whether the error shows the vault (or its log) misbehaving, as
    /// opposed to a refusal, a local fault or a wrong input: the caller
    /// should stop and keep the evidence.
    pub fn is_attack(&self) -> bool {
        matches!(
            self,
            Error::NotBase64 { .. }
                | Error::Record { .. }
                | Error::Chain { .. }
                | Error::RequestInvalid(_)
                | Error::OtherRequest { .. }
                | Error::EntryUndecodable { .. }
                | Error::WrongEntry { .. }
                | Error::NotIncluded { .. }
                | Error::ProofHash { .. }
                | Error::TileProof { .. }
                | Error::LogCheck { .. }
                | Error::ReleaseRecords(_)
                | Error::ReleaseMismatch { .. }
                | Error::PartialInvalid(_)
                | Error::ReleaseInvalid(_)
                | Error::Rewritten { .. }
                | Error::EntryNotIncluded { .. }
                | Error::EntryMissing { .. }
                | Error::EntriesShort { .. }
                | Error::RootMismatch { .. }
                | Error::Forged { .. }
                | Error::Provenance { .. }
        )
    }
}

/// A result of the client.
pub type Result<T, E = Error> = std::result::Result<T, E>;
