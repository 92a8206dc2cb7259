//! R only from a *logged*, device-signed record (issue 15 item 4): before
//! a custodian takes R from a record, the record's `segment-received`
//! entry and its device's enrolment in the group are proved in the log,
//! and the device was not revoked before the vault received the segment.
//!
//! Without this, a vault holding a stolen (or revoked) device key could
//! sign records it never logged — old capsules under new times — and hand
//! them to a custodian as footage. The device signature alone says only
//! that someone had the key; the log says when the vault took the segment
//! in, for everyone to see.
//!
//! Revocations are taken from the vault's list: a vault that hides one is
//! caught by an auditor reading the log, not here.

use obhut_api::access::Logged;
use obhut_api::read::RecordsResponse;
use obhut_core::audit::{Event, LogEntry, Role};
use obhut_core::ids::GroupId;

use crate::access::{b64, confirm_all_logged};
use crate::error::{Error, Result};
use crate::log::LogClient;
use crate::reader::Reader;
use crate::scope::{Resolved, resolve_with};

/// [`crate::scope::resolve`], and each covered record proved logged with
/// its device enrolled (and not revoked) before the vault took it in: what
/// a custodian does before taking R.
pub fn resolve_proved(
    reader: &Reader<'_>,
    log: &LogClient,
    request: &obhut_core::request::AccessRequest,
) -> Result<Vec<Resolved>> {
    let resolved = resolve_with(reader, request, true)?;
    for (r, answer) in &resolved {
        if !r.in_scope.is_empty() {
            check(log, r, answer, request.group_id)?;
        }
    }
    Ok(resolved.into_iter().map(|(r, _)| r).collect())
}

/// Prove the covered records of `rec` logged, as `answer` (the vault's
/// `?log=true` records answer) places them, for a request to `group`.
pub fn check(
    log: &LogClient,
    rec: &Resolved,
    answer: &RecordsResponse,
    group: GroupId,
) -> Result<()> {
    let Some(first) = rec.records.first() else {
        return Ok(());
    };
    let device = first.header().fields.device_key.to_bytes();
    let refuse = |why: String| Error::Provenance {
        recording: rec.recording,
        why,
    };
    let decoded = answer
        .device
        .iter()
        .filter_map(|l| {
            let bytes = b64("log entry", &l.entry).ok()?;
            Some((l, LogEntry::from_bytes(&bytes).ok()?))
        })
        .collect::<Vec<_>>();
    let enrolled = |e: &LogEntry| {
        e.actor.role == Role::Device
            && e.actor.key == device
            && matches!(e.event, Event::DeviceEnrolled { group_id, .. } if group_id == group)
    };
    let enrolment = decoded
        .iter()
        .find(|(_, e)| enrolled(e))
        .map(|(l, _)| *l)
        .ok_or_else(|| {
            refuse(format!(
                "the vault shows no logged enrolment of its device {} in group {group}",
                hex::encode(&device[..8])
            ))
        })?;
    let revoked_at = decoded
        .iter()
        .filter(
            |(_, e)| matches!(e.event, Event::DeviceRevoked { device_key } if device_key == device),
        )
        .map(|(l, _)| l.log_index)
        .min();

    let mut items: Vec<(&Logged, String)> = vec![(enrolment, "the device's enrolment".into())];
    for &i in &rec.in_scope {
        let r = &rec.records[i];
        let seg = r.segment_ref();
        let logged = answer
            .received
            .get(i)
            .filter(|l| !l.entry.is_empty())
            .ok_or_else(|| {
                refuse(format!(
                    "segment {} has no segment-received entry the vault can show (never logged, or its body pruned by log retention)",
                    seg.index
                ))
            })?;
        if logged.log_index <= enrolment.log_index {
            return Err(refuse(format!(
                "segment {} was logged before its device's enrolment",
                seg.index
            )));
        }
        if revoked_at.is_some_and(|at| logged.log_index > at) {
            return Err(refuse(format!(
                "segment {} was received after its device was revoked",
                seg.index
            )));
        }
        items.push((
            logged,
            format!("segment {}'s segment-received entry", seg.index),
        ));
    }
    confirm_all_logged(log, &items, |k, e| {
        if k == 0 {
            return enrolled(e);
        }
        let r = &rec.records[rec.in_scope[k - 1]];
        e.actor.role == Role::Device
            && e.actor.key == device
            && e.recording == Some(rec.recording)
            && matches!(e.event, Event::SegmentReceived { index, record_hash, .. }
                if index == r.segment_ref().index && record_hash == r.record_hash())
    })?;
    Ok(())
}
