//! Log entries of legal holds and erasures (kinds 19–21, §12.3–12.4):
//! their encoding, decoding and one line for people, kept beside the
//! approvals they embed.

use core::fmt;

use super::approvals::{read_approvals, write_approvals};
use super::{Event, hex8};
use crate::error::{Error, Result};
use crate::hold::{HoldAction, MAX_CASE_LEN};
use crate::ids::RecordingId;
use crate::wire::{Reader, Writer};

/// Encode a hold or erasure event's fields (after its kind).
pub(super) fn encode(e: &Event, w: &mut Writer) {
    match e {
        Event::HoldPlaced {
            hold_id,
            case,
            device_key,
            from_ms,
            to_ms,
            approvals,
        } => {
            w.bytes(hold_id)
                .string(case)
                .bytes(device_key)
                .i64(*from_ms)
                .i64(*to_ms);
            write_approvals(w, approvals);
        }
        Event::HoldReleased {
            hold_id,
            case,
            approvals,
        } => {
            w.bytes(hold_id).string(case);
            write_approvals(w, approvals);
        }
        Event::Erased {
            recording_id,
            from_ms,
            to_ms,
            segments,
            copies_until_ms,
            approvals,
        } => {
            w.bytes(&recording_id.0)
                .i64(*from_ms)
                .i64(*to_ms)
                .u64(*segments)
                .i64(*copies_until_ms);
            write_approvals(w, approvals);
        }
        _ => {}
    }
}

/// Decode the fields of kind `tag` (19, 20 or 21).
pub(super) fn read(tag: u8, r: &mut Reader<'_>) -> Result<Event> {
    Ok(match tag {
        19 => Event::HoldPlaced {
            hold_id: r.array("hold_id")?,
            case: r.string("case", MAX_CASE_LEN)?.to_owned(),
            device_key: r.array("device_key")?,
            from_ms: r.i64("from_ms")?,
            to_ms: r.i64("to_ms")?,
            approvals: read_approvals(r, Some(HoldAction::Place))?,
        },
        20 => Event::HoldReleased {
            hold_id: r.array("hold_id")?,
            case: r.string("case", MAX_CASE_LEN)?.to_owned(),
            approvals: read_approvals(r, Some(HoldAction::Release))?,
        },
        21 => Event::Erased {
            recording_id: RecordingId(r.array("recording_id")?),
            from_ms: r.i64("from_ms")?,
            to_ms: r.i64("to_ms")?,
            segments: r.u64("segments")?,
            copies_until_ms: r.i64("copies_until_ms")?,
            approvals: read_approvals(r, None)?,
        },
        _ => {
            return Err(Error::Malformed {
                what: super::ENTRY,
                reason: "unknown event kind",
            });
        }
    })
}

/// The event's line for people (after kind, actor and recording).
pub(super) fn display(e: &Event, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match e {
        Event::HoldPlaced {
            hold_id,
            case,
            device_key,
            from_ms,
            to_ms,
            approvals,
        } => write!(
            f,
            " hold {} case {case:?} device {} [{from_ms}, {to_ms}) with {} custodian approvals",
            hex8(hold_id),
            hex8(device_key),
            approvals.len()
        ),
        Event::HoldReleased {
            hold_id,
            case,
            approvals,
        } => write!(
            f,
            " hold {} case {case:?} released with {} custodian approvals",
            hex8(hold_id),
            approvals.len()
        ),
        Event::Erased {
            recording_id: r,
            from_ms: a,
            to_ms: b,
            segments: n,
            copies_until_ms: until,
            approvals,
        } => write!(
            f,
            " recording {r} [{a}, {b}): {n} segments erased, no copy opens them after {until}; {} custodian approvals",
            approvals.len()
        ),
        _ => Ok(()),
    }
}
