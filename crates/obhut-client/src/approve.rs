//! The custodian's review at a vault (docs/access.md §2 step 2): pending
//! requests, approving, denying. Nothing is computed or sent before the
//! request is proved to be in the audit log in a checkpoint consistent
//! with every one this client saw; the person approving is asked (a
//! callback: a terminal prompt, a dialog) only after that, with the scope
//! resolved from the device-signed records.
//!
//! Approving has two phases. The custodian's signed approval is logged
//! first; the partial leaves only once k custodians' signed approvals of
//! the same request are proved in the log. It is kept ([`Unsent`]) before
//! it is uploaded, since the vault keeps the first envelope it receives.

use std::path::{Path, PathBuf};

use obhut_api::access::{Logged, RequestJson};
use obhut_core::audit::{Event, LogEntry};
use obhut_core::decision::{DecisionContent, Verdict};
use obhut_core::group::{CustodianShare, PinnedGroup, ShareEnvelope};
use obhut_core::identity::PersonSecret;
use obhut_core::partial::Runs;
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, GrantRef};
use obhut_core::rng::os_rng;

use crate::access::{
    AccessClient, confirm_all_logged, confirm_logged, logged_request, parse_request,
};
use crate::error::{Action, Error, Result, StateFileError};
use crate::log::LogClient;
use crate::reader::now_ms;

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
    /// Segments the approval covers.
    pub segments: usize,
    /// Log index of the approval.
    pub log_index: u64,
    /// Whether the key part went out (phase 2).
    pub delivery: Delivery,
}

/// Phase 2 of an approval: the key part is sent only once k custodians'
/// signed approvals of the same request are proved in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// k approvals were proved logged and this custodian's partial is at
    /// the vault (now or before).
    Sent,
    /// Fewer than k approvals are logged: nothing was sent. Run
    /// [`approve_as`] again once the other custodians have approved.
    Waiting {
        /// Approvals proved logged, this one included.
        have: usize,
        /// The group's threshold k.
        needed: usize,
    },
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

/// Approve request `hash` as `me`, in two phases (docs/access.md §2):
///
/// 1. the request proved logged, addressed to `group`, pending and
///    unexpired; its scope resolved; `confirm` asked; on yes, `me`'s signed
///    approval (format.md §8.6) posted and proved logged as ours. If
///    `confirm` says no, nothing is signed, logged or sent
///    ([`Error::NotConfirmed`]). If `me` approved before, this phase is
///    skipped (our earlier approval proved logged instead) without asking.
/// 2. Only if k custodians' signed approvals of this very request are
///    proved included in the log, and no denial is listed, is the partial
///    computed, kept in `unsent` and uploaded; otherwise
///    [`Delivery::Waiting`], and a later call completes it. So a vault
///    (with a requester) cannot gather k partials for anything k people did
///    not approve together (issue 15: partials of different requests
///    combined), and cannot invent an approval: each is signed.
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
    let index = custodian_index(group, me)?;
    let grant = GrantRef::new(rj.logged.log_index, &req);
    let mine = rj
        .approvals
        .iter()
        .find(|a| a.custodian_key == hex::encode(my_key));
    let now = now_ms();
    let (records, runs, log_index) = match mine {
        Some(earlier) => {
            let confirmed = confirm_logged(log, &earlier.logged, "your earlier approval", |e| {
                approval_of(e, &grant, index, group)
            })?;
            let segments = confirmed
                .entry
                .event
                .decision()
                .map_or(0, |d| d.content().segments as usize);
            if earlier.partial_uploaded {
                return Ok(Approved {
                    custodian: index,
                    segments,
                    log_index: earlier.logged.log_index,
                    delivery: Delivery::Sent,
                });
            }
            // The partial covers what was approved, no more: footage that
            // reached the vault since (an unfinished recording) needs a new
            // request and new approvals.
            let InScope { records, runs, .. } = in_scope(client, log, &req)?;
            if records.len() != segments {
                return Err(Error::ScopeChanged {
                    approved: segments,
                    now: records.len(),
                });
            }
            (records, runs, earlier.logged.log_index)
        }
        None => {
            if req.is_expired(now) {
                return Err(Error::Expired {
                    expires_utc_ms: req.expires_utc_ms,
                });
            }
            let InScope {
                records,
                runs,
                unfinished,
            } = in_scope(client, log, &req)?;
            let review = Review {
                request: &req,
                log_index: rj.logged.log_index,
                records: &records,
                unfinished,
            };
            if !confirm(&review) {
                return Err(Error::NotConfirmed);
            }
            let decision = DecisionContent {
                verdict: Verdict::Approve,
                vault: client.reader().vault(),
                request_hash: grant.request_hash,
                request_index: grant.log_index,
                custodian: index,
                segments: u32::try_from(records.len()).unwrap_or(u32::MAX),
                time_ms: now,
                reason: String::new(),
            }
            .sign(&me.sign)
            .map_err(Error::Decision)?;
            let logged = client.approve(hash, &decision)?;
            confirm_logged(log, &logged, "your approval", |e| {
                e.event.decision() == Some(&decision)
            })?;
            (records, runs, logged.log_index)
        }
    };
    let scope = Scoped {
        records: &records,
        runs: &runs,
    };
    let delivery = deliver(
        client, log, hash, &req, &grant, group, share, me, index, scope, unsent,
    )?;
    Ok(Approved {
        custodian: index,
        segments: records.len(),
        log_index,
        delivery,
    })
}

/// `me`'s index among `group`'s custodians.
fn custodian_index(group: &PinnedGroup, me: &PersonSecret) -> Result<u16> {
    let key = me.sign.verify_key();
    group
        .custodians()
        .iter()
        .find(|c| c.sign_key == key)
        .map(|c| c.index)
        .ok_or(Error::NotACustodian)
}

/// What a custodian approves and releases for a request.
struct InScope {
    /// The segments in scope, from the device-signed records, each proved
    /// logged with its device enrolled (R only from a logged record).
    records: Vec<SegmentRecord>,
    /// The records that start the custody runs of `records` (format.md
    /// §5.6): where the custodian's share keys of `c` are.
    runs: Vec<SegmentRecord>,
    /// The recordings without their final segment.
    unfinished: Vec<obhut_core::ids::RecordingId>,
}

/// The in-scope records and the custody runs they need, as
/// [`deliver`] takes them.
#[derive(Clone, Copy)]
struct Scoped<'a> {
    records: &'a [SegmentRecord],
    runs: &'a [SegmentRecord],
}

fn in_scope(client: &AccessClient<'_>, log: &LogClient, req: &AccessRequest) -> Result<InScope> {
    let resolved = crate::provenance::resolve_proved(client.reader(), log, req)?;
    let records: Vec<SegmentRecord> = resolved.iter().flat_map(|r| r.covered().cloned()).collect();
    let runs = resolved
        .iter()
        .flat_map(|r| {
            let starts: std::collections::BTreeSet<u32> =
                r.covered().map(|c| c.custody().run_start).collect();
            r.records
                .iter()
                .filter(move |rec| starts.contains(&rec.segment_ref().index))
                .cloned()
        })
        .collect();
    let unfinished = resolved
        .iter()
        .filter(|r| !r.finished)
        .map(|r| r.recording)
        .collect();
    Ok(InScope {
        records,
        runs,
        unfinished,
    })
}

/// Whether `e` is custodian `index`'s signed approval of `grant`: its
/// decision signed by the key the pinned descriptor lists at `index` (the
/// entry's parse already checked the signature and that the actor is the
/// signer).
fn approval_of(e: &LogEntry, grant: &GrantRef, index: u16, group: &PinnedGroup) -> bool {
    let Event::Approved { decision } = &e.event else {
        return false;
    };
    let d = decision.content();
    d.request_hash == grant.request_hash
        && d.request_index == grant.log_index
        && d.custodian == index
        && group
            .custodian(index)
            .is_some_and(|c| c.sign_key == *decision.person())
}

/// Phase 2: send our partial once k approvals of this request are proved
/// logged; the vault's list of approvals is only a hint of where to look.
#[allow(clippy::too_many_arguments)]
fn deliver(
    client: &AccessClient<'_>,
    log: &LogClient,
    hash: &str,
    req: &AccessRequest,
    grant: &GrantRef,
    group: &PinnedGroup,
    share: Share<'_>,
    me: &PersonSecret,
    index: u16,
    scope: Scoped<'_>,
    unsent: &Unsent,
) -> Result<Delivery> {
    let rj = client.get(hash)?;
    if rj.denial.is_some() || rj.state == "denied" {
        return Err(Error::NotPending {
            hash: hash.to_owned(),
            state: "denied".into(),
            action: Action::Approve,
        });
    }
    let needed = usize::from(group.threshold());
    // Every listed approval proved against one checkpoint: one log update,
    // then an inclusion proof each.
    let items: Vec<_> = rj
        .approvals
        .iter()
        .map(|a| (&a.logged, format!("custodian {}'s approval", a.custodian)))
        .collect();
    confirm_all_logged(log, &items, |i, e| {
        approval_of(e, grant, rj.approvals[i].custodian, group)
    })?;
    let approvers: std::collections::BTreeSet<u16> =
        rj.approvals.iter().map(|a| a.custodian).collect();
    if approvers.len() < needed {
        return Ok(Delivery::Waiting {
            have: approvers.len(),
            needed,
        });
    }
    let bytes = match unsent.load(hash, index)? {
        Some(kept) => kept,
        None => {
            // The opened share lives only in this block.
            let opened;
            let share = match share {
                Share::Open(s) => s,
                Share::Sealed(envelope) => {
                    opened = envelope.open(me, group).map_err(Error::Share)?;
                    &opened
                }
            };
            let partial = obhut_core::partial::custodian_partial(
                me,
                share,
                group,
                req,
                grant,
                scope.records,
                Runs::in_records(scope.runs),
                now_ms(),
                &mut os_rng(),
            )
            .map_err(Error::Partial)?;
            let bytes = partial.to_bytes();
            // Kept before it leaves: the vault keeps the first envelope it
            // receives, so a retry after a lost answer sends these bytes.
            unsent.keep(hash, index, &bytes)?;
            bytes
        }
    };
    client.upload_partial(hash, index, &bytes)?;
    unsent.sent(hash, index);
    Ok(Delivery::Sent)
}

/// Deny request `hash` for `reason` as `me`: the request proved logged and
/// pending; `me`'s signed denial logged and proved included.
pub fn deny_as(
    client: &AccessClient<'_>,
    log: &LogClient,
    hash: &str,
    group: &PinnedGroup,
    me: &PersonSecret,
    reason: &str,
) -> Result<Logged> {
    let (rj, req) = logged_request(client, log, hash, Some(group.descriptor()), "the request")?;
    if rj.state != "pending" {
        return Err(Error::NotPending {
            hash: hash.to_owned(),
            state: rj.state,
            action: Action::Deny,
        });
    }
    let index = custodian_index(group, me)?;
    let decision = DecisionContent {
        verdict: Verdict::Deny,
        vault: client.reader().vault(),
        request_hash: req.request_hash(),
        request_index: rj.logged.log_index,
        custodian: index,
        segments: 0,
        time_ms: now_ms(),
        reason: reason.to_owned(),
    }
    .sign(&me.sign)
    .map_err(Error::Decision)?;
    let logged = client.deny(hash, &decision)?;
    // Logged as ours, word for word: a denial the vault attributes to
    // someone else, or rewords, is not the one we made.
    confirm_logged(log, &logged, "your denial", |e| {
        e.event.decision() == Some(&decision)
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

/// [`pending`], with the log's latest checkpoint accepted under `log`'s
/// trust (its key, the witnesses' cosignatures it requires) and every
/// request listed proved included in it: for a custodian whose log key and
/// witnesses are pinned (`--log-pin`), a vault showing another log is
/// refused even when nothing is pending.
pub fn pending_logged(
    client: &AccessClient<'_>,
    log: &LogClient,
    all: bool,
) -> Result<Vec<(RequestJson, AccessRequest)>> {
    log.update()?;
    let list = pending(client, all)?;
    let items: Vec<(&Logged, String)> = list
        .iter()
        .map(|(rj, _)| (&rj.logged, format!("request {}", rj.request_hash)))
        .collect();
    let bytes: Vec<Vec<u8>> = list.iter().map(|(_, req)| req.to_bytes()).collect();
    confirm_all_logged(
        log,
        &items,
        |i, e| matches!(&e.event, Event::AccessRequested { request } if *request == bytes[i]),
    )?;
    Ok(list)
}
