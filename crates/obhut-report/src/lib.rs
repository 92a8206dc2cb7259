//! # obhut-report
//!
//! The chain-of-custody report inside an evidence bundle (issue 19 item
//! 3): which device recorded what and when, every access and disclosure
//! with its purpose, legal basis and case, the people by display name and
//! key fingerprint, the hashes of every file, the log checkpoint, and how
//! to check all of it with the public tool. A judge reads it; an expert
//! recomputes it.
//!
//! The caller (`obhut export`) gathers the facts — already verified — into
//! a [`CustodyReport`]; this crate only presents them, in German or
//! English, as HTML ([`html`]) and as PDF ([`pdf`]). Both render one
//! [`document`] (headings, paragraphs, fields, tables), so the two files
//! always say the same thing. The report is a reading aid: what a court
//! relies on is the signed material beside it, which `obhut verify`
//! checks, and the report says so.
//!
//! Pure: no I/O, no clock (the caller passes the time the report was made
//! and the time zone to show local times in).

mod document;
mod html;
mod pdf;
mod words;

pub use document::{Block, document};
pub use html::html;
pub use pdf::pdf;

/// The report's language (`obhut export --lang de|en`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Deutsch.
    De,
    /// English.
    En,
}

impl Lang {
    /// The BCP 47 tag (HTML `lang`, the PDF's language).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }
}

/// A person, device, vault or witness as people see it: the display name
/// its key signed (or an administrator's directory gave), and the key's
/// fingerprint as every other command prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    /// The display name, if one is known.
    pub name: Option<String>,
    /// The key fingerprint.
    pub fingerprint: String,
}

/// The access request the bundle answers.
#[derive(Clone, Debug)]
pub struct RequestFacts {
    /// Who asked.
    pub requester: Party,
    /// The stated purpose.
    pub purpose: String,
    /// The stated legal basis.
    pub legal_basis: String,
    /// The case reference.
    pub case: String,
    /// The granted window, UTC milliseconds (start inclusive, end exclusive).
    pub window_ms: (i64, i64),
    /// The request's audit-log index.
    pub log_index: u64,
    /// The request hash (hex), which every approval and partial binds.
    pub request_hash: String,
}

/// One recording the bundle draws on.
#[derive(Clone, Debug)]
pub struct RecordingFacts {
    /// The recording id (hex).
    pub id: String,
    /// The device that recorded and signed it.
    pub device: Party,
    /// When its first exported segment starts and its last ends, UTC ms.
    pub span_ms: (i64, i64),
    /// The exported segments' indexes, first and last (inclusive).
    pub segments: (u32, u32),
    /// How many segments the recording has in all.
    pub segments_total: u32,
}

/// What happened, as the audit log records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The device's enrolment.
    DeviceEnrolled,
    /// A segment received and stored by the vault.
    SegmentReceived,
    /// The access request.
    Requested,
    /// A custodian's approval.
    Approved,
    /// A custodian's denial.
    Denied,
    /// The vault released the epoch part.
    Released,
    /// The requester reported opening.
    Opened,
    /// This export: a disclosure to its recipients.
    Disclosed,
    /// Any other logged event (its kind is in the detail).
    Other,
}

/// One logged event of the chain of custody.
#[derive(Clone, Debug)]
pub struct EventFacts {
    /// When it was logged, UTC ms.
    pub at_ms: i64,
    /// What it was.
    pub kind: EventKind,
    /// Who did it.
    pub actor: Party,
    /// The event's details in plain words (e.g. the reason given, the
    /// recipients of a disclosure), already made safe to show.
    pub detail: String,
    /// Its index in the audit log.
    pub log_index: u64,
}

/// One file of the bundle.
#[derive(Clone, Debug)]
pub struct FileFacts {
    /// Its path inside the bundle, `/`-separated.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// BLAKE3, hex.
    pub blake3: String,
}

/// The log checkpoint every proof in the bundle leads to.
#[derive(Clone, Debug)]
pub struct CheckpointFacts {
    /// The log's origin line.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash (base64, as in the checkpoint).
    pub root: String,
    /// The witnesses whose cosignatures it carries.
    pub witnesses: Vec<Party>,
    /// The signed note itself, verbatim.
    pub text: String,
}

/// Everything the report shows. Every field comes from material in the
/// bundle that `obhut verify` checks.
#[derive(Clone, Debug)]
pub struct CustodyReport {
    /// The language.
    pub lang: Lang,
    /// The zone local times are shown in, beside UTC.
    pub time_zone: jiff::tz::TimeZone,
    /// When the bundle was made, UTC ms.
    pub made_ms: i64,
    /// The vault the footage was kept in.
    pub vault: Party,
    /// The recipients the bundle was disclosed to.
    pub recipients: Vec<Party>,
    /// The request it answers.
    pub request: RequestFacts,
    /// The recordings it draws on.
    pub recordings: Vec<RecordingFacts>,
    /// The chain of custody, in log order.
    pub events: Vec<EventFacts>,
    /// Every file of the bundle but the report itself.
    pub files: Vec<FileFacts>,
    /// The checkpoint the proofs lead to.
    pub checkpoint: CheckpointFacts,
}

/// What can go wrong making the PDF.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A bundled font could not be read (a broken build, not bad input).
    #[error("the report's bundled font {0} cannot be read")]
    Font(&'static str),
    /// The PDF writer refused the document.
    #[error("the PDF writer failed: {0}")]
    Pdf(String),
}
