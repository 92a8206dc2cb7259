//! Errors with a next step. The core returns typed errors that say what is
//! wrong; the CLI adds which flag or file to change (STYLE.md, "Errors").
//!
//! A [`Hinted`] error sits in an `anyhow` chain like any other; [`report`]
//! prints the whole chain on one line and every hint found in it below.

use std::borrow::Cow;
use std::fmt;

use obhut_api::ErrorKind;
use obhut_client::Error as ClientErr;
use obhut_client::error::{Action, Endpoint, StateFileError};
use obhut_log::client::ClientError;
use obhut_server::admin::AdminError;

/// An error with the next step a person can take.
#[derive(Debug)]
pub struct Hinted {
    inner: anyhow::Error,
    next: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The outermost message only; causes follow through `source`.
        fmt::Display::fmt(&*self.inner, f)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

/// A new error: what is wrong, and what to do about it.
pub fn fail(message: impl fmt::Display, next: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        inner: anyhow::anyhow!("{message}"),
        next: next.to_string(),
    })
}

/// Wrap an error with what was being done and the next step.
pub fn with_hint(
    e: impl Into<anyhow::Error>,
    message: impl fmt::Display,
    next: impl fmt::Display,
) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        inner: e.into().context(message.to_string()),
        next: next.to_string(),
    })
}

/// Attach only a next step to an error; its message stays its own.
pub fn with_next_step(e: impl Into<anyhow::Error>, next: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        inner: e.into(),
        next: next.to_string(),
    })
}

/// Attach a next step (and optionally a message) to any error.
pub trait HintExt<T> {
    /// Add what was being done and what to do next.
    fn hint(self, message: impl fmt::Display, next: impl fmt::Display) -> anyhow::Result<T>;
    /// Add only a next step; the message stays the error's own.
    fn next_step(self, next: impl fmt::Display) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> HintExt<T> for Result<T, E> {
    fn hint(self, message: impl fmt::Display, next: impl fmt::Display) -> anyhow::Result<T> {
        self.map_err(|e| with_hint(e, message, next))
    }
    fn next_step(self, next: impl fmt::Display) -> anyhow::Result<T> {
        self.map_err(|e| with_next_step(e, next))
    }
}

/// The hints in an error chain, outermost first, without repeats: a
/// [`Hinted`]'s, or the next step after an `obhut_client::Error`.
pub fn hints(e: &anyhow::Error) -> Vec<Cow<'_, str>> {
    let mut out: Vec<Cow<'_, str>> = Vec::new();
    // Before the causes' own hints: "check that the vault is running" is
    // wrong for a vault that answered with a certificate we do not trust.
    if e.chain().any(obhut_http::is_certificate_refusal) {
        out.push(Cow::Borrowed(CERTIFICATE));
    }
    for cause in e.chain() {
        let next = match cause.downcast_ref::<Hinted>() {
            Some(h) => Some(Cow::Borrowed(h.next.as_str())),
            None => cause.downcast_ref::<ClientErr>().and_then(client_next_step),
        };
        if let Some(n) = next
            && !out.contains(&n)
        {
            out.push(n);
        }
    }
    out
}

/// Print an error for a person: `error: what: why: cause`, then each hint.
pub fn report(e: &anyhow::Error, verbose: bool) {
    eprintln!("error: {e:#}");
    for h in hints(e) {
        eprintln!("hint: {h}");
    }
    if verbose {
        for (depth, cause) in e.chain().enumerate() {
            eprintln!("  cause {depth}: {cause}");
        }
    }
}

// --- the next step after each error of `obhut_client` (the texts `obhut`
// has always printed): the client says what went wrong, the CLI which
// command or flag to try.

const CERTIFICATE: &str = "the vault's TLS certificate is not trusted here: pass --ca-cert FILE (or OBHUT_CA_CERT) with the PEM certificate of the CA that signed it, or add that CA to the system store (update-ca-certificates); check also the URL's host name and the certificate's dates";
const REPORT: &str = "the vault is misbehaving; report it";
const STOP: &str = "the vault is misbehaving; do not go on, and report it";
const KEEP: &str = "the vault is misbehaving; keep this output and report it";
const DO_NOT_APPROVE: &str = "the vault is misbehaving; do not approve, and report it";

/// What to do next after a refusal, by the vault's error kind.
fn refused(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Forbidden => {
            "check your role: requesters are added with `obhut admin add-requester`, custodians are those in the group descriptor"
        }
        ErrorKind::NotReady => {
            "wait for more custodians to approve (`obhut pending` shows the approvals)"
        }
        ErrorKind::Expired => "the request has expired; make a new one with `obhut request`",
        ErrorKind::EpochDestroyed | ErrorKind::RecordingExpired => {
            "the footage's retention period is over and its epoch key destroyed: nothing can open it any more (the vault's log holds the deletion receipt)"
        }
        ErrorKind::NotFound | ErrorKind::UnknownRecording => {
            "check the request hash and the recording or device ids"
        }
        ErrorKind::Conflict => "the request changed state meanwhile; see `obhut pending`",
        ErrorKind::InsufficientStorage => {
            "the vault's disk is full and nothing was stored; ask its operator to free space, then try again"
        }
        ErrorKind::RateLimited | ErrorKind::Overloaded => {
            "the vault is busy; try again in a minute"
        }
        ErrorKind::ConsentRequired => {
            "human review for training or product improvement needs the custody group's recorded consent (k of its custodians sign it); ask for access for another purpose or get consent first"
        }
        ErrorKind::ArtifactDeleted => {
            "the artifact went with its source (erased, expired or its consent withdrawn); `obhut lineage` shows what went and why"
        }
        ErrorKind::StoredSegmentCorrupt => {
            "the vault's copy of the named segment is damaged; ask its operator to run `obhut check` and restore it from backup"
        }
        _ => "the message above names what the vault refused",
    }
}

/// A log check refused: what it means for the person.
fn log_check(e: &ClientError) -> &'static str {
    match e {
        ClientError::Rollback { .. }
        | ClientError::Fork { .. }
        | ClientError::Inconsistent { .. } => {
            "do not approve or release anything; keep both checkpoints above (two signed, inconsistent checkpoints prove the vault misbehaved) and tell your data-protection officer"
        }
        ClientError::NotSignedByLog { .. } | ClientError::WrongOrigin { .. } => {
            "check --log-key is the vkey your organisation pinned for this vault; if it is, the answer did not come from the vault's log"
        }
        ClientError::NotEnoughWitnesses { .. } => {
            "the checkpoint lacks the witness cosignatures your policy requires; check the witnesses are running and followed by the vault"
        }
        _ => "the vault is misbehaving or damaged; keep this output and report it",
    }
}

/// The next step after `e`, if there is one to say.
pub fn client_next_step(e: &ClientErr) -> Option<Cow<'_, str>> {
    let s: &'static str = match e {
        ClientErr::Unreachable { .. } => "check that the vault is running and the URL is right",
        ClientErr::Status { endpoint, .. } => match endpoint {
            Endpoint::Reader => {
                "the person must be registered as a reader of the group (obhut admin add-reader)"
            }
            Endpoint::Blob => {
                "reading ciphertext needs the reader role for the group (obhut admin add-reader)"
            }
            Endpoint::Log => "check the vault URL; the log may still be empty",
            Endpoint::Entries => {
                "entry bodies need an auditor identity (obhut admin add-auditor --identity YOU.pub)"
            }
            _ => "the message above names what the vault answered",
        },
        ClientErr::Refused { kind, .. } => refused(kind),
        ClientErr::PartialUpload { .. } => {
            "your approval is logged; run `obhut approve` again to upload the partial"
        }
        ClientErr::NotBase64 { .. }
        | ClientErr::ProofHash { .. }
        | ClientErr::ReleaseRecords(_)
        | ClientErr::PartialInvalid(_)
        | ClientErr::ReleaseInvalid(_)
        | ClientErr::LeafHash { .. }
        | ClientErr::EntryInvalid { .. } => REPORT,
        ClientErr::Chain { .. } => {
            "the vault is misbehaving or the recording is damaged; do not go on, and report it"
        }
        ClientErr::RequestInvalid(_) | ClientErr::OtherRequest { .. } => DO_NOT_APPROVE,
        ClientErr::EntryUndecodable { .. }
        | ClientErr::WrongEntry { .. }
        | ClientErr::NotIncluded { .. }
        | ClientErr::Provenance { .. }
        | ClientErr::Forged { .. } => STOP,
        ClientErr::NotIntegrated { .. } => {
            "the vault is not integrating its log; do not go on, and tell its operator"
        }
        ClientErr::LogCheck { failure, .. } => log_check(failure),
        ClientErr::StoredCheckpoint { .. } => {
            "the state file belongs to another log or was altered; pass the right --log-key or --state"
        }
        ClientErr::ScopeChanged { .. } => {
            "ask the requester to make a new request for the footage as it now stands"
        }
        ClientErr::NotACustodian => {
            "pass the --identity of a custodian listed in this --group (obhut custody show)"
        }
        ClientErr::StateMoved { .. } => {
            "another obhut command is updating the same log state; run this one again"
        }
        ClientErr::StateFile(e) => match e {
            StateFileError::Read { .. } => "check the permissions of the state file (--state)",
            StateFileError::CreateDir { .. } => "pass --state FILE in a writable directory",
            StateFileError::Lock { .. } => {
                "check that the directory of --state is writable (its .lock file is made there)"
            }
            StateFileError::Write { failure, .. }
                if failure.step == obhut_durable::Step::Create =>
            {
                "check that the directory of --state exists and is writable"
            }
            _ => "check --state",
        },
        ClientErr::ReleaseMismatch { .. } | ClientErr::EntryNotIncluded { .. } => KEEP,
        ClientErr::OtherGroup { .. } => "pass the group descriptor the request names as --group",
        ClientErr::Expired { .. } => "ask the requester for a new request",
        ClientErr::NotPending { action, .. } => match action {
            Action::Approve => "nothing to approve",
            Action::Deny => "nothing to deny",
        },
        ClientErr::NotConfirmed => "run the command again and answer y to approve",
        ClientErr::NotRequester => {
            "open with the identity that signed the request: keys are encrypted to it only"
        }
        ClientErr::EmptyScope => {
            "check the scope: media times are from the recording's start, capture times UTC"
        }
        ClientErr::Share(_) => {
            "pass your own share-<i>.obse for this group as --share, with your identity as --identity"
        }
        ClientErr::Partial(_) => "the reason above names what failed",
        ClientErr::Recover(_) => {
            "a partial or the release does not fit this request; the message names which (a partial's custodian and fingerprint: ask that custodian to approve again, or another custodian to approve)"
        }
        ClientErr::Segment { .. } => "the message names what failed",
        ClientErr::RangeOutside { len, .. } => {
            return Some(Cow::Owned(format!("give a range within 0-{len}")));
        }
        ClientErr::RangeNotCovered { covered, .. } => {
            let covered: Vec<String> = covered.iter().map(|(s, e)| format!("{s}-{e}")).collect();
            return Some(Cow::Owned(format!(
                "the request covers bytes {}; narrow --range",
                covered.join(", ")
            )));
        }
        ClientErr::RangeNeedsOneRecording => "open without --range, or request one recording",
        ClientErr::Write(_) => "check --out",
        ClientErr::Rewritten { .. } => {
            "keep this output; the stored entry differs from the one the log committed to"
        }
        ClientErr::EntryMissing { .. } => {
            "an entry was dropped from the vault's store; keep this output and report it"
        }
        ClientErr::EntriesShort { .. } => {
            "entries were dropped from the vault's store; keep this output and report it"
        }
        ClientErr::RootMismatch { .. } => {
            "keep this output; the stored entries differ from what the log key signed"
        }
        _ => return None,
    };
    Some(Cow::Borrowed(s))
}

/// The next step after an operator's change the vault refused (`obhut
/// admin`, holds, reclassification).
pub fn admin_error(e: AdminError) -> anyhow::Error {
    let next = match &e {
        AdminError::RetentionClass { .. } => "pass --retention-class NAME, e.g. bodycam-30d",
        AdminError::UnknownGroup(_) => {
            "create an enrolment token for the group first (obhut admin enrol-token)"
        }
        AdminError::UnknownDevice(_) => "list devices with `obhut admin devices`",
        AdminError::NotEnoughApprovals { .. } => {
            "collect approvals of k custodians of the device's group for exactly this change (`obhut custody approve-reclassify`)"
        }
        AdminError::NotEnoughHoldApprovals { .. } => {
            "collect approvals of k custodians of the device's group for exactly this hold (`obhut custody approve-hold`, with --release to release)"
        }
        AdminError::Approval { .. } => {
            "collect approvals of k custodians of the device's group for exactly this change (`obhut custody approve-reclassify` or `approve-hold`)"
        }
        AdminError::UnknownHold(_) => "list holds with `obhut admin hold list`",
        _ => return e.into(),
    };
    with_next_step(e, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_survive_context_and_chain_prints_once() {
        let r: Result<(), std::io::Error> = Err(std::io::Error::other("disk on fire"));
        let e = r
            .hint("reading group.obgd", "check --group")
            .map_err(|e| e.context("sealing"))
            .unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "sealing: reading group.obgd: disk on fire"
        );
        assert_eq!(hints(&e), vec!["check --group"]);
        let e = fail("no partials", "pass --partial");
        assert_eq!(format!("{e:#}"), "no partials");
        assert_eq!(hints(&e), vec!["pass --partial"]);
    }

    #[test]
    fn a_client_error_gets_the_next_step_the_cli_gives_it() {
        let e = anyhow::Error::new(obhut_client::Error::NotConfirmed).context("approving");
        assert_eq!(
            hints(&e),
            vec!["run the command again and answer y to approve"]
        );
        let e = anyhow::Error::new(obhut_client::Error::RangeOutside {
            start: 5,
            end: 50,
            len: 10,
        });
        assert_eq!(
            format!("{e:#}"),
            "--range 5-50 is outside the recording's 10 bytes"
        );
        assert_eq!(hints(&e), vec!["give a range within 0-10"]);
        let e = anyhow::Error::new(obhut_client::Error::from(StateFileError::Read {
            path: "s.checkpoint".into(),
            source: std::io::Error::other("denied"),
        }));
        assert_eq!(format!("{e:#}"), "reading s.checkpoint: denied");
        assert_eq!(
            hints(&e),
            vec!["check the permissions of the state file (--state)"]
        );
    }
}
