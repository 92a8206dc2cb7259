//! The custodian's review at a vault (docs/access.md §2 step 2): pending
//! requests, approving, denying. Nothing is computed or sent before the
//! request is proved to be in the audit log in a checkpoint consistent
//! with every one this client saw; the person approving is asked (a
//! callback: a terminal prompt, a dialog) only after that, with the scope
//! resolved from the device-signed records; the partial leaves only after
//! the approval itself is proved logged.

use obhut_api::access::{ApproveBody, Logged, RequestJson};
use obhut_core::audit::Event;
use obhut_core::group::{CustodianShare, PinnedGroup, ShareEnvelope};
use obhut_core::identity::PersonSecret;
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, GrantRef};
use obhut_core::rng::os_rng;
use obhut_core::vault::body_sha256;

use crate::access::{AccessClient, confirm_logged, logged_request, parse_request};
use crate::error::{Action, Error, Result};
use crate::log::LogClient;
use crate::reader::now_ms;
use crate::scope;

/// What a custodian is asked to approve: the request, proved logged, and
/// the segments it covers, from the device-signed records.
#[derive(Debug)]
pub struct Review<'a> {
    /// The request, its signature checked.
    pub request: &'a AccessRequest,
    /// Its entry in the audit log (inclusion verified).
    pub log_index: u64,
    /// The segments in scope.
    pub records: &'a [SegmentRecord],
}

/// The custodian's share: sealed (opened only once approved) or open.
#[derive(Clone, Copy)]
pub enum Share<'a> {
    /// The share envelope from the dealer ceremony, opened with the
    /// custodian's identity after the approval is confirmed.
    Sealed(&'a ShareEnvelope),
    /// An opened share.
    Open(&'a CustodianShare),
}

/// What [`approve_as`] did.
#[derive(Debug, Clone, Copy)]
pub struct Approved {
    /// The custodian's index.
    pub custodian: u16,
    /// Segments the partial covers.
    pub segments: usize,
    /// Log index of the approval.
    pub log_index: u64,
}

/// Approve request `hash` as `me`: the request proved logged, addressed to
/// `group`, pending and unexpired; its scope resolved; `confirm` asked;
/// on yes, the partial computed, the approval logged and proved included,
/// then the partial uploaded. If `confirm` says no, nothing is computed,
/// logged or sent ([`Error::NotConfirmed`]).
pub fn approve_as(
    client: &AccessClient<'_>,
    log: &LogClient,
    hash: &str,
    group: &PinnedGroup,
    share: Share<'_>,
    me: &PersonSecret,
    mut confirm: impl FnMut(&Review<'_>) -> bool,
) -> Result<Approved> {
    let (rj, req) = logged_request(client, log, hash, Some(group.descriptor()), "the request")?;
    if rj.state != "pending" {
        return Err(Error::NotPending {
            hash: hash.to_owned(),
            state: rj.state,
            action: Action::Approve,
        });
    }
    let now = now_ms();
    if req.is_expired(now) {
        return Err(Error::Expired {
            expires_utc_ms: req.expires_utc_ms,
        });
    }
    let resolved = scope::resolve(client.reader(), &req)?;
    let records: Vec<SegmentRecord> = resolved.iter().flat_map(|r| r.covered().cloned()).collect();
    let review = Review {
        request: &req,
        log_index: rj.logged.log_index,
        records: &records,
    };
    if !confirm(&review) {
        return Err(Error::NotConfirmed);
    }
    let grant = GrantRef::new(rj.logged.log_index, &req);
    // The opened share lives only in this block.
    let partial = {
        let opened;
        let share = match share {
            Share::Open(s) => s,
            Share::Sealed(envelope) => {
                opened = envelope.open(me, group).map_err(Error::Share)?;
                &opened
            }
        };
        obhut_core::partial::custodian_partial(
            me,
            share,
            group,
            &req,
            &grant,
            &records,
            now,
            &mut os_rng(),
        )
        .map_err(Error::Partial)?
    };
    let bytes = partial.to_bytes();
    let partial_hash = body_sha256(&bytes);
    let segments = u32::try_from(records.len()).unwrap_or(u32::MAX);
    let logged = client.approve(
        hash,
        &ApproveBody {
            partial_hash: hex::encode(partial_hash),
            segments,
        },
    )?;
    let my_key = me.sign.verify_key().to_bytes();
    let request_hash = req.request_hash();
    let request_index = rj.logged.log_index;
    confirm_logged(log, &logged, "your approval", |e| {
        e.actor.key == my_key
            && matches!(&e.event, Event::Approved { request_hash: h, request_index: i, partial_hash: p, .. }
                if *h == request_hash && *i == request_index && *p == partial_hash)
    })?;
    client.upload_partial(hash, partial.custodian, &bytes)?;
    Ok(Approved {
        custodian: partial.custodian,
        segments: records.len(),
        log_index: logged.log_index,
    })
}

/// Deny request `hash` for `reason`: the request proved logged and
/// pending; the denial logged and proved included.
pub fn deny_as(
    client: &AccessClient<'_>,
    log: &LogClient,
    hash: &str,
    reason: &str,
) -> Result<Logged> {
    let (rj, req) = logged_request(client, log, hash, None, "the request")?;
    if rj.state != "pending" {
        return Err(Error::NotPending {
            hash: hash.to_owned(),
            state: rj.state,
            action: Action::Deny,
        });
    }
    let logged = client.deny(hash, reason)?;
    let request_hash = req.request_hash();
    // Logged as ours: a denial the vault attributes to someone else is not
    // the one we made.
    let my_key = client.reader().person_key();
    confirm_logged(log, &logged, "your denial", |e| {
        e.actor.key == my_key
            && matches!(&e.event, Event::Denied { request_hash: h, reason: r, .. }
                if *h == request_hash && r == reason)
    })?;
    Ok(logged)
}

/// The requests of this person's groups (a custodian's) or their own (a
/// requester's): pending ones, or all; each request's signature checked.
pub fn pending(client: &AccessClient<'_>, all: bool) -> Result<Vec<(RequestJson, AccessRequest)>> {
    client
        .list(!all)?
        .requests
        .into_iter()
        .map(|rj| {
            let req = parse_request(&rj, None)?;
            Ok((rj, req))
        })
        .collect()
}
