//! The access workflow's calls (docs/access.md §3): person-signed calls to
//! the vault, and the checks a client makes on what comes back — above
//! all that each event it caused is in the audit log, in a checkpoint
//! consistent with every one it saw before (docs/log.md).

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::ErrorKind;
use obhut_api::access::{DecisionBody, Logged, ReleaseJson, RequestJson, RequestList};
use obhut_core::audit::{Event, LogEntry};
use obhut_core::decision::Decision;
use obhut_core::group::GroupDescriptor;
use obhut_core::request::AccessRequest;
use obhut_log::{TrustedState, leaf_hash};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::log::{LogClient, Proof};
use crate::reader::Reader;

/// How long a client waits for the vault to integrate an entry.
const LOG_WAIT: Duration = Duration::from_secs(30);

/// A person's client of the access endpoints.
#[derive(Debug)]
pub struct AccessClient<'k> {
    reader: Reader<'k>,
}

impl<'k> AccessClient<'k> {
    /// A client over `reader` (which signs as the person).
    pub fn new(reader: Reader<'k>) -> Self {
        AccessClient { reader }
    }

    /// The underlying reader (records, blobs).
    pub fn reader(&self) -> &Reader<'k> {
        &self.reader
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        json: bool,
    ) -> Result<T> {
        let ct = if json {
            "application/json"
        } else {
            "application/octet-stream"
        };
        let (status, answer) =
            self.reader
                .send(method, path, body, &[("Content-Type", ct.to_owned())])?;
        if !(200..300).contains(&status) {
            let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
            return Err(Error::Refused {
                method: method.into(),
                path: path.into(),
                status,
                kind: ErrorKind::parse(v["error"].as_str().unwrap_or("")),
                message: v["message"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| String::from_utf8_lossy(&answer).into_owned()),
            });
        }
        serde_json::from_slice(&answer).map_err(|e| Error::Json {
            method: method.into(),
            target: path.into(),
            source: e,
        })
    }

    fn json<T: serde::Serialize>(body: &T) -> Result<Vec<u8>> {
        serde_json::to_vec(body).map_err(Error::Encode)
    }

    /// `POST /v1/requests`.
    pub fn submit(&self, request: &AccessRequest) -> Result<Logged> {
        self.call("POST", "/v1/requests", &request.to_bytes(), false)
    }

    /// `GET /v1/requests[?state=pending]`.
    pub fn list(&self, pending_only: bool) -> Result<RequestList> {
        let path = if pending_only {
            "/v1/requests?state=pending"
        } else {
            "/v1/requests"
        };
        self.call("GET", path, &[], false)
    }

    /// `GET /v1/requests/{hash}`.
    pub fn get(&self, hash: &str) -> Result<RequestJson> {
        self.call("GET", &format!("/v1/requests/{hash}"), &[], false)
    }

    /// `POST /v1/requests/{hash}/approvals`: a signed approval (phase 1).
    pub fn approve(&self, hash: &str, decision: &Decision) -> Result<Logged> {
        self.post_decision(&format!("/v1/requests/{hash}/approvals"), decision)
    }

    fn post_decision(&self, path: &str, decision: &Decision) -> Result<Logged> {
        let body = Self::json(&DecisionBody {
            decision: B64.encode(decision.to_bytes()),
        })?;
        self.call("POST", path, &body, true)
    }

    /// `PUT /v1/requests/{hash}/approvals/{i}/partial`.
    pub fn upload_partial(&self, hash: &str, custodian: u16, envelope: &[u8]) -> Result<()> {
        let path = format!("/v1/requests/{hash}/approvals/{custodian}/partial");
        let (status, answer) = self.reader.send(
            "PUT",
            &path,
            envelope,
            &[("Content-Type", "application/octet-stream".to_owned())],
        )?;
        if !(200..300).contains(&status) {
            return Err(Error::PartialUpload {
                path,
                status,
                message: String::from_utf8_lossy(&answer).into_owned(),
            });
        }
        Ok(())
    }

    /// `POST /v1/requests/{hash}/denials`: a signed denial.
    pub fn deny(&self, hash: &str, decision: &Decision) -> Result<Logged> {
        self.post_decision(&format!("/v1/requests/{hash}/denials"), decision)
    }

    /// `POST /v1/requests/{hash}/release`.
    pub fn release(&self, hash: &str) -> Result<ReleaseJson> {
        self.call("POST", &format!("/v1/requests/{hash}/release"), &[], false)
    }

    /// `POST /v1/requests/{hash}/opened`: the requester's signed report.
    pub fn opened(&self, hash: &str, decision: &Decision) -> Result<Logged> {
        self.post_decision(&format!("/v1/requests/{hash}/opened"), decision)
    }

    /// `POST /v1/requests/{hash}/disclosed`: the signed disclosure of an
    /// export bundle (docs/bundle.md §5).
    pub fn disclosed(
        &self,
        hash: &str,
        disclosure: &obhut_core::disclosure::Disclosure,
    ) -> Result<Logged> {
        let body = Self::json(&obhut_api::access::DisclosureBody {
            disclosure: B64.encode(disclosure.to_bytes()),
        })?;
        self.call(
            "POST",
            &format!("/v1/requests/{hash}/disclosed"),
            &body,
            true,
        )
    }
}

/// Decode a base64 field of an answer.
pub fn b64(field: &str, s: &str) -> Result<Vec<u8>> {
    B64.decode(s).map_err(|_| Error::NotBase64 {
        field: field.into(),
    })
}

/// The request in a vault's answer, its signature checked, and (with
/// `asked`) the one asked for.
pub fn parse_request(rj: &RequestJson, asked: Option<&str>) -> Result<AccessRequest> {
    let bytes = b64("request", &rj.request)?;
    let req = AccessRequest::from_bytes(&bytes).map_err(Error::RequestInvalid)?;
    let hash = hex::encode(req.request_hash());
    if hash != rj.request_hash || asked.is_some_and(|a| a != hash) {
        return Err(Error::OtherRequest { got: hash });
    }
    Ok(req)
}

/// Refuse a request addressed to another custody group or generation.
pub fn check_group(request: &AccessRequest, group: &GroupDescriptor) -> Result<()> {
    if request.group_id != group.group_id() || request.generation != group.generation() {
        return Err(Error::OtherGroup {
            request_group: request.group_id.to_string(),
            request_generation: request.generation,
            group: group.group_id().to_string(),
            generation: group.generation(),
        });
    }
    Ok(())
}

/// An entry proved in the log by [`confirm_logged`].
#[derive(Debug)]
pub struct Confirmed {
    /// The entry, decoded.
    pub entry: LogEntry,
    /// The checkpoint it was proved against.
    pub state: TrustedState,
    /// Checkpoints fetched while waiting for it.
    pub polls: u32,
}

/// Check that `logged` is the entry `expected` says it should be and that
/// it is included in a checkpoint consistent with everything this client
/// saw (waiting up to 30 s for the vault to integrate it).
pub fn confirm_logged(
    log: &LogClient,
    logged: &Logged,
    what: &str,
    expected: impl Fn(&LogEntry) -> bool,
) -> Result<Confirmed> {
    let (bytes, entry) = decode_expected(logged, what, &expected)?;
    let (state, polls) = integrated(log, logged.log_index, what)?;
    prove_included(log, &state, logged.log_index, &bytes, what)?;
    Ok(Confirmed {
        entry,
        state,
        polls,
    })
}

/// [`confirm_logged`] for many entries against one checkpoint: each
/// `(logged, what)` decoded and checked by `expected(i, entry)`, then
/// proved included. Returns the decoded entries in order.
pub fn confirm_all_logged(
    log: &LogClient,
    items: &[(&Logged, String)],
    expected: impl Fn(usize, &LogEntry) -> bool,
) -> Result<Vec<LogEntry>> {
    let mut decoded = Vec::with_capacity(items.len());
    for (i, (logged, what)) in items.iter().enumerate() {
        decoded.push(decode_expected(logged, what, &|e| expected(i, e))?);
    }
    let Some(last) = items.iter().map(|(l, _)| l.log_index).max() else {
        return Ok(Vec::new());
    };
    let (state, _) = integrated(log, last, "the entries")?;
    for ((logged, what), (bytes, _)) in items.iter().zip(&decoded) {
        prove_included(log, &state, logged.log_index, bytes, what)?;
    }
    Ok(decoded.into_iter().map(|(_, e)| e).collect())
}

fn decode_expected(
    logged: &Logged,
    what: &str,
    expected: &dyn Fn(&LogEntry) -> bool,
) -> Result<(Vec<u8>, LogEntry)> {
    let bytes = b64("log entry", &logged.entry)?;
    let entry = LogEntry::from_bytes(&bytes).map_err(|failure| Error::EntryUndecodable {
        what: what.into(),
        failure,
    })?;
    if !expected(&entry) {
        return Err(Error::WrongEntry {
            what: what.into(),
            entry: entry.to_string(),
        });
    }
    Ok((bytes, entry))
}

/// The log state once it holds entry `index`: polled, since the vault
/// integrates within milliseconds of a local change (up to 30 s).
fn integrated(log: &LogClient, index: u64, what: &str) -> Result<(TrustedState, u32)> {
    let deadline = Instant::now() + LOG_WAIT;
    let mut pause = Duration::from_millis(5);
    let mut polls = 0;
    loop {
        polls += 1;
        let (_, state) = log.update()?;
        if state.size > index {
            return Ok((state, polls));
        }
        if Instant::now() >= deadline {
            return Err(Error::NotIntegrated {
                what: what.into(),
                index,
                size: state.size,
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

fn prove_included(
    log: &LogClient,
    state: &TrustedState,
    index: u64,
    bytes: &[u8],
    what: &str,
) -> Result<()> {
    let proof = log.proof(Proof::Inclusion, index, state.size)?;
    state
        .verify_leaf_inclusion(&leaf_hash(bytes), index, &proof)
        .map_err(|failure| Error::NotIncluded {
            what: what.into(),
            failure: Box::new(failure),
        })
}

/// The request `hash` from the vault, verified, addressed to `group` (if
/// given) and proved logged (docs/access.md §2: nothing is computed or
/// sent for a request before this).
pub fn logged_request(
    client: &AccessClient<'_>,
    log: &LogClient,
    hash: &str,
    group: Option<&GroupDescriptor>,
    what: &str,
) -> Result<(RequestJson, AccessRequest)> {
    let rj = client.get(hash)?;
    let req = parse_request(&rj, Some(hash))?;
    if let Some(g) = group {
        check_group(&req, g)?;
    }
    let bytes = req.to_bytes();
    confirm_logged(
        log,
        &rj.logged,
        what,
        |e| matches!(&e.event, Event::AccessRequested { request } if *request == bytes),
    )?;
    Ok((rj, req))
}

/// Submit `req` to the vault and check its entry is in the log.
pub fn submit(client: &AccessClient<'_>, log: &LogClient, req: &AccessRequest) -> Result<Logged> {
    let logged = client.submit(req)?;
    let bytes = req.to_bytes();
    confirm_logged(
        log,
        &logged,
        "your request",
        |e| matches!(&e.event, Event::AccessRequested { request } if *request == bytes),
    )?;
    Ok(logged)
}
