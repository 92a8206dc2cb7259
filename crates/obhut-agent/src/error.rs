//! The agent's errors: each variant says what failed, with the data a caller
//! (the CLI, the watch loop) needs to report it or decide to retry.

use std::path::PathBuf;

use obhut_api::ErrorKind;
use obhut_core::ids::{Fingerprint, RecordingId, SegmentRef};

/// Result alias for the agent.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the agent can fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A local file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "write", "rename" …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The vault could not be reached, or the connection broke.
    #[error("cannot reach the vault at {url}: {source}")]
    Transport {
        /// The request URL.
        url: String,
        /// The HTTP client's error.
        source: Box<ureq::Error>,
    },
    /// The vault answered with an error (docs/vault.md §4 error kinds).
    #[error(
        "the vault refused {what}: {status} {}: {message}",
        kind.as_ref().map_or("unknown", ErrorKind::as_str)
    )]
    Vault {
        /// The request, e.g. "PUT /v1/recordings/{rid}/segments/3".
        what: String,
        /// HTTP status.
        status: u16,
        /// The error kind from the JSON body, e.g. `chain-conflict`;
        /// `None` when the answer was not the vault's JSON error body (a
        /// proxy's page, a crash), shown as `unknown`.
        kind: Option<ErrorKind>,
        /// The vault's message.
        message: String,
    },
    /// The vault answered something this agent cannot parse.
    #[error("the vault's answer to {what} is malformed: {reason}")]
    Protocol {
        /// The request.
        what: String,
        /// What is wrong with the answer.
        reason: String,
    },
    /// The state directory holds no enrolment.
    #[error("{} holds no enrolment (no agent.json)", state.display())]
    NotEnrolled {
        /// The state directory.
        state: PathBuf,
    },
    /// The state directory already holds an enrolment.
    #[error("{} already holds an enrolment (for device {device})", state.display())]
    AlreadyEnrolled {
        /// The state directory.
        state: PathBuf,
        /// The enrolled device id (hex).
        device: String,
    },
    /// The vault offered a group descriptor whose fingerprint is not the
    /// one the installer expects: another group key. Refused.
    #[error(
        "the vault offered custody group {offered_group} with fingerprint {offered}, not the expected {expected}: refusing to pin it"
    )]
    GroupMismatch {
        /// The fingerprint given by the installer.
        expected: Fingerprint,
        /// The fingerprint of the descriptor the vault sent.
        offered: Fingerprint,
        /// The offered group's id (hex).
        offered_group: String,
    },
    /// The offered descriptor does not carry k valid custodian signatures.
    #[error("the vault's custody group descriptor cannot be pinned: {0}")]
    GroupNotPinned(#[source] obhut_core::Error),
    /// A receipt does not verify (wrong key, wrong record, bad signature).
    #[error("the receipt for {segment} does not verify: {reason}")]
    BadReceipt {
        /// The segment.
        segment: SegmentRef,
        /// What is wrong.
        reason: &'static str,
    },
    /// No known retention epoch covers a capture time.
    #[error(
        "the vault offers no epoch of retention class {class} covering capture time {capture_utc_ms} ms"
    )]
    NoEpoch {
        /// Retention class from enrolment.
        class: String,
        /// UTC milliseconds.
        capture_utc_ms: i64,
    },
    /// A progress journal is damaged.
    #[error("the journal {} is damaged: {reason}", path.display())]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The source file changed after its recording started.
    #[error("{} changed after its recording {recording} started ({reason})", path.display())]
    SourceChanged {
        /// The source file.
        path: PathBuf,
        /// Its recording.
        recording: RecordingId,
        /// What differs.
        reason: &'static str,
    },
    /// The vault's chain disagrees with what this agent had acknowledged:
    /// it lost or replaced acknowledged segments. Nothing is wiped.
    #[error(
        "the vault's copy of recording {recording} disagrees with this device's receipts: {reason}"
    )]
    VaultDiverged {
        /// The recording.
        recording: RecordingId,
        /// What disagrees.
        reason: String,
    },
    /// The file cannot be cut into segments.
    #[error("cannot cut {} into segments: {reason}", path.display())]
    Cut {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A core operation (sealing, parsing a record) failed.
    #[error("{what}: {source}")]
    Core {
        /// What was being done.
        what: String,
        /// The core's error.
        source: obhut_core::Error,
    },
}

impl Error {
    /// Whether retrying later may succeed (network trouble, a vault that is
    /// restarting), as opposed to a refusal that needs a person.
    pub fn is_transient(&self) -> bool {
        match self {
            // A certificate this host does not trust stays untrusted
            // until its operator passes the CA: fail at once, saying so.
            Error::Transport { source, .. } => !obhut_http::is_certificate_error(source),
            Error::Vault { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            Error::Io { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    pub(crate) fn core(what: impl Into<String>) -> impl FnOnce(obhut_core::Error) -> Self {
        let what = what.into();
        move |source| Error::Core { what, source }
    }
}

/// A durable write's failure, in the words the agent has always used.
impl From<obhut_durable::Error> for Error {
    fn from(e: obhut_durable::Error) -> Self {
        use obhut_durable::Step;
        let op = match e.step {
            Step::Create => "create",
            Step::Write => "write",
            Step::Sync => "fsync",
            Step::Rename => "rename into place",
            Step::SyncDir => "fsync directory",
        };
        Error::Io {
            op,
            path: e.path,
            source: e.source,
        }
    }
}
