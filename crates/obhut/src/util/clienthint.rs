//! The next step after each error of `obhut_client` (the texts `obhut`
//! has always printed): the client says what went wrong, the CLI which
//! command or flag to try. [`super::hint::report`] finds these in any
//! error chain.

use std::borrow::Cow;

use obhut_api::ErrorKind;
use obhut_client::Error;
use obhut_client::error::{Action, Endpoint};
use obhut_log::client::ClientError;

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
        ErrorKind::NotFound | ErrorKind::UnknownRecording => {
            "check the request hash and the recording or device ids"
        }
        ErrorKind::Conflict => "the request changed state meanwhile; see `obhut pending`",
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
pub fn next_step(e: &Error) -> Option<Cow<'_, str>> {
    let s: &'static str = match e {
        Error::Unreachable { .. } => "check that the vault is running and the URL is right",
        Error::Status { endpoint, .. } => match endpoint {
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
        Error::Refused { kind, .. } => refused(kind),
        Error::PartialUpload { .. } => {
            "your approval is logged; run `obhut approve` again to upload the partial"
        }
        Error::NotBase64 { .. }
        | Error::ProofHash { .. }
        | Error::ReleaseRecords(_)
        | Error::PartialInvalid(_)
        | Error::ReleaseInvalid(_)
        | Error::LeafHash { .. }
        | Error::EntryInvalid { .. } => REPORT,
        Error::Chain { .. } => {
            "the vault is misbehaving or the recording is damaged; do not go on, and report it"
        }
        Error::RequestInvalid(_) | Error::OtherRequest { .. } => DO_NOT_APPROVE,
        Error::EntryUndecodable { .. } | Error::WrongEntry { .. } | Error::NotIncluded { .. } => {
            STOP
        }
        Error::NotIntegrated { .. } => {
            "the vault is not integrating its log; do not go on, and tell its operator"
        }
        Error::LogCheck { failure, .. } => log_check(failure),
        Error::StoredCheckpoint { .. } => {
            "the state file belongs to another log or was altered; pass the right --log-key or --state"
        }
        Error::Caller(inner) => {
            return inner
                .downcast_ref::<super::hint::Hinted>()
                .map(|h| Cow::Borrowed(h.next()));
        }
        Error::ReleaseMismatch { .. } | Error::EntryNotIncluded { .. } => KEEP,
        Error::OtherGroup { .. } => "pass the group descriptor the request names as --group",
        Error::Expired { .. } => "ask the requester for a new request",
        Error::NotPending { action, .. } => match action {
            Action::Approve => "nothing to approve",
            Action::Deny => "nothing to deny",
        },
        Error::NotConfirmed => "run the command again and answer y to approve",
        Error::NotRequester => {
            "open with the identity that signed the request: keys are encrypted to it only"
        }
        Error::EmptyScope => {
            "check the scope: media times are from the recording's start, capture times UTC"
        }
        Error::Share(_) => {
            "pass your own share-<i>.obse for this group as --share, with your identity as --identity"
        }
        Error::Partial(_) => "the reason above names what failed",
        Error::Recover(_) => {
            "a partial or the release does not fit this request; the message names which"
        }
        Error::Segment { .. } => "the message names what failed",
        Error::RangeOutside { len, .. } => {
            return Some(Cow::Owned(format!("give a range within 0-{len}")));
        }
        Error::RangeNotCovered { covered, .. } => {
            let covered: Vec<String> = covered.iter().map(|(s, e)| format!("{s}-{e}")).collect();
            return Some(Cow::Owned(format!(
                "the request covers bytes {}; narrow --range",
                covered.join(", ")
            )));
        }
        Error::RangeNeedsOneRecording => "open without --range, or request one recording",
        Error::Write(_) => "check --out",
        Error::Rewritten { .. } => {
            "keep this output; the stored entry differs from the one the log committed to"
        }
        Error::EntryMissing { .. } => {
            "an entry was dropped from the vault's store; keep this output and report it"
        }
        Error::EntriesShort { .. } => {
            "entries were dropped from the vault's store; keep this output and report it"
        }
        Error::RootMismatch { .. } => {
            "keep this output; the stored entries differ from what the log key signed"
        }
        _ => return None,
    };
    Some(Cow::Borrowed(s))
}
