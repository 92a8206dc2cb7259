//! The custodian's review at a vault (docs/access.md §2 step 2): pending
//! requests, approving, denying. Nothing is computed or sent before the
//! request is proved to be in the audit log in a checkpoint consistent
//! with every one this client saw; the person approving is asked (a
//! callback: a terminal prompt, a dialog) only after that, with the scope
//! resolved from the device-signed records; the partial leaves only after
//! the approval itself is proved logged.
//!
//! The approval commits to the envelope's hash, and a partial is
//! randomised: one computed again would not match. So the envelope is kept
//! ([`Unsent`]) before the approval is posted, and an approval whose upload
//! failed (the network, the vault, a crash) is completed by the next
//! `approve_as` of the same request with the same bytes.

use std::path::{Path, PathBuf};

use obhut_api::access::{ApprovalJson, ApproveBody, Logged, RequestJson};
use obhut_core::audit::Event;
use obhut_core::group::{CustodianShare, PinnedGroup, ShareEnvelope};
use obhut_core::identity::PersonSecret;
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, GrantRef};
use obhut_core::rng::os_rng;
use obhut_core::vault::body_sha256;

use crate::access::{AccessClient, confirm_logged, logged_request, parse_request};
use crate::error::{Action, Error, Result, StateFileError};
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
    /// Recordings in scope without their final segment (still recording,
    /// or the device stopped): later segments may exist that are not shown.
    pub unfinished: Vec<obhut_core::ids::RecordingId>,
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

/// Partial envelopes between posting their approval and uploading them:
/// one private file per request and custodian in a directory of the
/// custodian's (`<request hash>.<custodian>.obpe`), written durably before
/// the approval is posted, removed once the vault has the envelope.
#[derive(Debug, Clone)]
pub struct Unsent(PathBuf);

impl Unsent {
    /// Envelopes kept in `dir` (created on the first approval).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Unsent(dir.into())
    }

    /// The directory beside a log state file: `<state>.unsent/`, so each
    /// log (and each `--state`) keeps its own.
    pub fn beside(state_file: &Path) -> Self {
        let mut name = state_file.as_os_str().to_owned();
        name.push(".unsent");
        Unsent(PathBuf::from(name))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.0
    }

    fn path(&self, hash: &str, custodian: u16) -> PathBuf {
        self.0.join(format!("{hash}.{custodian}.obpe"))
    }

    fn keep(&self, hash: &str, custodian: u16, envelope: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.0).map_err(|source| StateFileError::CreateDir {
            dir: self.0.clone(),
            source,
        })?;
        let path = self.path(hash, custodian);
        // Private although only the requester can open it: it is ours.
        obhut_durable::write_atomic(&path, envelope, 0o600)
            .map_err(|failure| StateFileError::Write { path, failure }.into())
    }

    fn load(&self, hash: &str, custodian: u16) -> Result<Option<Vec<u8>>> {
        let path = self.path(hash, custodian);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateFileError::Read { path, source }.into()),
        }
    }

    fn sent(&self, hash: &str, custodian: u16) {
        // Best effort: a leftover envelope is already at the vault, and only
        // the requester can open it.
        let _ = std::fs::remove_file(self.path(hash, custodian));
    }
}

/// Approve request `hash` as `me`: the request proved logged, addressed to
/// `group`, pending and unexpired; its scope resolved; `confirm` asked;
/// on yes, the partial computed and kept in `unsent`, the approval logged
/// and proved included, then the partial uploaded. If `confirm` says no,
/// nothing is computed, logged or sent ([`Error::NotConfirmed`]). If `me`
/// approved before but the vault lacks the envelope, the kept one is
/// uploaded instead (its approval proved logged first), without asking.
#[allow(clippy::too_many_arguments)]
pub fn approve_as(
    client: &AccessClient<'_>,
    log: &LogClient,
    hash: &str,
    group: &PinnedGroup,
    share: Share<'_>,
    me: &PersonSecret,
    unsent: &Unsent,
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
    let my_key = me.sign.verify_key().to_bytes();
    let mine = rj
        .approvals
        .iter()
        .find(|a| a.custodian_key == hex::encode(my_key));
    if let Some(approval) = mine.filter(|a| !a.partial_uploaded) {
        return complete(client, log, hash, &rj, &req, approval, &my_key, unsent);
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
        unfinished: resolved
            .iter()
            .filter(|r| !r.finished)
            .map(|r| r.recording)
            .collect(),
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
    unsent.keep(hash, partial.custodian, &bytes)?;
    let logged = client.approve(
        hash,
        &ApproveBody {
            partial_hash: hex::encode(partial_hash),
            segments,
        },
    )?;
    let request_hash = req.request_hash();
    let request_index = rj.logged.log_index;
    confirm_logged(log, &logged, "your approval", |e| {
        e.actor.key == my_key
            && matches!(&e.event, Event::Approved { request_hash: h, request_index: i, partial_hash: p, .. }
                if *h == request_hash && *i == request_index && *p == partial_hash)
    })?;
    client.upload_partial(hash, partial.custodian, &bytes)?;
    unsent.sent(hash, partial.custodian);
    Ok(Approved {
        custodian: partial.custodian,
        segments: records.len(),
        log_index: logged.log_index,
    })
}

/// Upload the kept envelope of an approval the vault holds without it:
/// the approval proved logged as ours, the envelope the one it commits to.
#[allow(clippy::too_many_arguments)]
fn complete(
    client: &AccessClient<'_>,
    log: &LogClient,
    hash: &str,
    rj: &RequestJson,
    req: &AccessRequest,
    approval: &ApprovalJson,
    my_key: &[u8; 32],
    unsent: &Unsent,
) -> Result<Approved> {
    let lost = || Error::UnsentLost {
        hash: hash.to_owned(),
        custodian: approval.custodian,
        dir: unsent.dir().to_owned(),
    };
    let bytes = unsent.load(hash, approval.custodian)?.ok_or_else(lost)?;
    let partial_hash = body_sha256(&bytes);
    if hex::encode(partial_hash) != approval.partial_hash {
        return Err(lost());
    }
    let request_hash = req.request_hash();
    let request_index = rj.logged.log_index;
    let confirmed = confirm_logged(log, &approval.logged, "your earlier approval", |e| {
        e.actor.key == *my_key
            && matches!(&e.event, Event::Approved { request_hash: h, request_index: i, partial_hash: p, .. }
                if *h == request_hash && *i == request_index && *p == partial_hash)
    })?;
    let segments = match confirmed.entry.event {
        Event::Approved { segments, .. } => segments as usize,
        _ => 0,
    };
    client.upload_partial(hash, approval.custodian, &bytes)?;
    unsent.sent(hash, approval.custodian);
    Ok(Approved {
        custodian: approval.custodian,
        segments,
        log_index: approval.logged.log_index,
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
