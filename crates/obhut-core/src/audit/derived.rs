//! The derived-data entries of §12 (kinds 22 … 25, §13): artifact
//! registered, consent recorded and withdrawn, artifacts cascaded. Kept
//! apart from the other kinds so that the entry module stays small; the
//! embedded signed objects are checked when read, so the log shows only
//! signed ones.

use core::fmt;

use super::{Event, MAX_EMBEDDED_LEN, hex8};
use crate::artifact::{ArtifactRecord, Cascade, CascadeCause};
use crate::consent::{ConsentAction, ConsentStatement};
use crate::error::{Error, Result};
use crate::wire::{Reader, Writer};

const ENTRY: &str = "log entry";
/// Most grants one `consent-recorded` entry embeds (a group has at most
/// this many custodians).
const MAX_STATEMENTS: u16 = 255;

fn malformed(reason: &'static str) -> Error {
    Error::Malformed {
        what: ENTRY,
        reason,
    }
}

pub(super) fn encode(e: &Event, w: &mut Writer) {
    match e {
        Event::ArtifactRegistered { record } => {
            w.var_bytes(record);
        }
        Event::ConsentRecorded { statements } => {
            // At most MAX_STATEMENTS (checked when reading; the vault
            // embeds only the counted ones).
            w.u16(u16::try_from(statements.len()).unwrap_or(u16::MAX));
            for s in statements {
                w.var_bytes(s);
            }
        }
        Event::ConsentWithdrawn { statement } => {
            w.var_bytes(statement);
        }
        Event::ArtifactsCascaded(c) => c.encode(w),
        _ => {}
    }
}

pub(super) fn read(tag: u8, r: &mut Reader<'_>) -> Result<Event> {
    Ok(match tag {
        22 => {
            let record = r.var_bytes("record", MAX_EMBEDDED_LEN)?;
            ArtifactRecord::from_bytes(record)?;
            Event::ArtifactRegistered {
                record: record.to_vec(),
            }
        }
        23 => {
            let n = r.u16("statements")?;
            if n == 0 || n > MAX_STATEMENTS {
                return Err(malformed("a consent is recorded with 1 … 255 grants"));
            }
            let mut statements = Vec::new();
            for _ in 0..n {
                let s = r.var_bytes("statement", MAX_EMBEDDED_LEN)?;
                if !matches!(
                    ConsentStatement::from_bytes(s)?.action,
                    ConsentAction::Grant(_)
                ) {
                    return Err(malformed("a consent-recorded entry embeds grants only"));
                }
                statements.push(s.to_vec());
            }
            Event::ConsentRecorded { statements }
        }
        24 => {
            let s = r.var_bytes("statement", MAX_EMBEDDED_LEN)?;
            if !matches!(
                ConsentStatement::from_bytes(s)?.action,
                ConsentAction::Withdraw { .. }
            ) {
                return Err(malformed("a consent-withdrawn entry embeds a withdrawal"));
            }
            Event::ConsentWithdrawn {
                statement: s.to_vec(),
            }
        }
        25 => Event::ArtifactsCascaded(Cascade::read(r)?),
        _ => return Err(malformed("unknown event kind")),
    })
}

pub(super) fn display(e: &Event, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match e {
        Event::ArtifactRegistered { record } => match ArtifactRecord::from_bytes(record) {
            Ok(a) => {
                let c = &a.content;
                write!(
                    f,
                    " {} {} {:?} from {} sources, purpose {:?}",
                    c.kind.name(),
                    c.artifact_id,
                    c.name,
                    c.sources.len(),
                    c.purpose
                )
            }
            Err(_) => write!(f, " record ({} bytes)", record.len()),
        },
        Event::ConsentRecorded { statements } => {
            write!(f, " with {} custodian grants", statements.len())
        }
        Event::ConsentWithdrawn { statement } => match ConsentStatement::from_bytes(statement) {
            Ok(s) => write!(
                f,
                " consent {} by custodian {}",
                hex::encode(s.action.consent_id()),
                s.custodian
            ),
            Err(_) => write!(f, " statement ({} bytes)", statement.len()),
        },
        Event::ArtifactsCascaded(c) => {
            match c.cause {
                CascadeCause::SourceErased {
                    recording_id,
                    first,
                    end,
                } => write!(f, " source {recording_id} [{first}, {end}) erased")?,
                CascadeCause::SourceExpired {
                    recording_id,
                    first,
                    end,
                } => write!(f, " source {recording_id} [{first}, {end}) expired")?,
                CascadeCause::ConsentWithdrawn { consent_id } => {
                    write!(f, " consent {} withdrawn", hex8(&consent_id))?;
                }
            }
            write!(
                f,
                ": {} artifacts deleted, {} models tainted",
                c.deleted.len(),
                c.tainted.len()
            )
        }
        _ => Ok(()),
    }
}
