//! One line per audit entry for people (`obhut audit`).

use core::fmt;

use super::{Event, LogEntry, derived, hex8, holds};

impl fmt::Display for LogEntry {
    /// One line for people: kind, actor, recording, the event's fields.
    /// Embedded signed objects are summarised by length; callers that can
    /// parse them (the CLI) print their fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} by {} {}",
            self.event.kind(),
            self.actor.role.name(),
            hex8(&self.actor.key)
        )?;
        if let Some(r) = &self.recording {
            write!(f, " recording {r}")?;
        }
        match &self.event {
            Event::GroupAdded {
                group_id,
                fingerprint,
            } => write!(f, " group {group_id} fingerprint {fingerprint}"),
            Event::DeviceEnrolled {
                group_id,
                retention_class,
            } => write!(f, " group {group_id} class {retention_class}"),
            Event::DeviceRevoked { device_key } => write!(f, " device {}", hex8(device_key)),
            Event::ReaderAdded {
                person_key,
                group_id,
            } => write!(f, " reader {} group {group_id}", hex8(person_key)),
            Event::SegmentReceived {
                index,
                record_hash,
                blob_len,
                capture_utc_ms,
            } => write!(
                f,
                " segment {index} record {} {blob_len} bytes captured {capture_utc_ms}",
                hex8(record_hash)
            ),
            Event::AccessRequested { request } => {
                write!(f, " signed request ({} bytes)", request.len())
            }
            Event::Approved { decision } => {
                let d = decision.content();
                write!(
                    f,
                    " request {} (log #{}) for {} segments, signed by custodian {}",
                    hex8(&d.request_hash),
                    d.request_index,
                    d.segments,
                    d.custodian
                )
            }
            Event::Denied { decision } => {
                let d = decision.content();
                write!(
                    f,
                    " request {} (log #{}) by custodian {}: {:?}",
                    hex8(&d.request_hash),
                    d.request_index,
                    d.custodian,
                    d.reason
                )
            }
            Event::Released {
                request_hash,
                request_index,
                segments,
            } => write!(
                f,
                " request {} (log #{request_index}), {segments} epoch parts",
                hex8(request_hash)
            ),
            Event::Opened { decision } => {
                let d = decision.content();
                write!(
                    f,
                    " request {} {} segments",
                    hex8(&d.request_hash),
                    d.segments
                )
            }
            Event::LogPruned {
                before_index,
                count,
            } => write!(f, " {count} bodies before #{before_index}"),
            Event::RequesterAdded {
                person_key,
                name,
                group_id,
            } => write!(
                f,
                " requester {name:?} ({}) group {group_id}",
                hex8(person_key)
            ),
            Event::AuditorAdded { person_key, name } => {
                write!(f, " auditor {name:?} ({})", hex8(person_key))
            }
            Event::PolicyInEffect { policy } => write!(f, ": {policy}"),
            Event::EpochCreated {
                epoch_id,
                retention_class,
                not_before,
                not_after,
            } => write!(
                f,
                " epoch {epoch_id} class {retention_class} [{not_before}, {not_after})"
            ),
            Event::EpochDestroyed {
                epoch_id,
                retention_class,
                not_before,
                not_after,
                expired_ms,
                segments,
                key_destroyed,
            } => write!(
                f,
                " epoch {epoch_id} class {retention_class} [{not_before}, {not_after}) expired {expired_ms}, {segments} segments, key {}",
                if *key_destroyed {
                    "destroyed now"
                } else {
                    "already gone"
                }
            ),
            Event::DeviceReclassified {
                device_key,
                from_class,
                to_class,
                approvals,
            } => write!(
                f,
                " device {} from class {from_class} to {to_class} with {} custodian approvals",
                hex8(device_key),
                approvals.len()
            ),
            Event::ArtifactRegistered { .. }
            | Event::ConsentRecorded { .. }
            | Event::ConsentWithdrawn { .. }
            | Event::ArtifactsCascaded(_) => derived::display(&self.event, f),
            Event::HoldPlaced { .. } | Event::HoldReleased { .. } | Event::Erased { .. } => {
                holds::display(&self.event, f)
            }
            Event::NameSet { claim } => write!(
                f,
                " {} {} named {:?}, signed by {}",
                claim.kind().word(),
                hex8(&claim.subject().to_bytes()),
                claim.name(),
                if claim.self_signed() {
                    "itself".to_owned()
                } else {
                    hex8(&claim.signer().to_bytes())
                }
            ),
            Event::Disclosed { disclosure } => {
                let d = disclosure.content();
                write!(
                    f,
                    " request {} {} segments to {}",
                    hex8(&d.request_hash),
                    d.segments,
                    d.recipients.join(", ")
                )
            }
        }
    }
}
