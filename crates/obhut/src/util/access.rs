//! The access workflow's client side (docs/access.md §3): person-signed
//! calls to the vault, and the checks a client makes on what comes back —
//! above all that each event it caused is in the audit log, in a
//! checkpoint consistent with every one it saw before (docs/log.md).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::access::{
    ApproveBody, DenyBody, Logged, OpenedBody, ReleaseJson, RequestJson, RequestList,
};
use obhut_api::{ErrorBody, ErrorKind};
use obhut_core::audit::LogEntry;
use obhut_core::request::AccessRequest;
use obhut_log::{TrustedState, leaf_hash};
use serde::de::DeserializeOwned;

use super::hint::fail;
use super::logclient::LogClient;
use super::reader::Reader;

/// How long a client waits for the vault to integrate an entry.
const LOG_WAIT: Duration = Duration::from_secs(30);

/// A person's client of the access endpoints.
#[derive(Debug)]
pub struct AccessClient<'k> {
    reader: Reader<'k>,
}

/// What to do next after a refusal, by the vault's error kind (`None`:
/// the answer was not the vault's JSON error body).
fn next_step(kind: Option<&ErrorKind>) -> &'static str {
    match kind {
        Some(ErrorKind::Forbidden) => {
            "check your role: requesters are added with `obhut admin add-requester`, custodians are those in the group descriptor"
        }
        Some(ErrorKind::NotReady) => {
            "wait for more custodians to approve (`obhut pending` shows the approvals)"
        }
        Some(ErrorKind::Expired) => "the request has expired; make a new one with `obhut request`",
        Some(ErrorKind::NotFound | ErrorKind::UnknownRecording) => {
            "check the request hash and the recording or device ids"
        }
        Some(ErrorKind::Conflict) => "the request changed state meanwhile; see `obhut pending`",
        _ => "the message above names what the vault refused",
    }
}

impl<'k> AccessClient<'k> {
    /// A client of the vault at `base_url` signing with `person`.
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
    ) -> anyhow::Result<T> {
        let ct = if json {
            "application/json"
        } else {
            "application/octet-stream"
        };
        let (status, answer) =
            self.reader
                .send(method, path, body, &[("Content-Type", ct.to_owned())])?;
        if !(200..300).contains(&status) {
            let refusal: Option<ErrorBody> = serde_json::from_slice(&answer).ok();
            let kind = refusal.as_ref().map(|r| &r.error);
            let message = match &refusal {
                Some(r) if !r.message.is_empty() => r.message.clone(),
                _ => String::from_utf8_lossy(&answer).into_owned(),
            };
            return Err(fail(
                format!(
                    "{method} {path}: the vault refused ({status} {}): {message}",
                    kind.map_or("", ErrorKind::as_str)
                ),
                next_step(kind),
            ));
        }
        serde_json::from_slice(&answer)
            .with_context(|| format!("{method} {path}: the answer is not the documented JSON"))
    }

    /// `POST /v1/requests`.
    pub fn submit(&self, request: &AccessRequest) -> anyhow::Result<Logged> {
        self.call("POST", "/v1/requests", &request.to_bytes(), false)
    }

    /// `GET /v1/requests[?state=pending]`.
    pub fn list(&self, pending_only: bool) -> anyhow::Result<RequestList> {
        let path = if pending_only {
            "/v1/requests?state=pending"
        } else {
            "/v1/requests"
        };
        self.call("GET", path, &[], false)
    }

    /// `GET /v1/requests/{hash}`.
    pub fn get(&self, hash: &str) -> anyhow::Result<RequestJson> {
        self.call("GET", &format!("/v1/requests/{hash}"), &[], false)
    }

    /// `POST /v1/requests/{hash}/approvals`.
    pub fn approve(&self, hash: &str, body: &ApproveBody) -> anyhow::Result<Logged> {
        self.call(
            "POST",
            &format!("/v1/requests/{hash}/approvals"),
            &serde_json::to_vec(body)?,
            true,
        )
    }

    /// `PUT /v1/requests/{hash}/approvals/{i}/partial`.
    pub fn upload_partial(
        &self,
        hash: &str,
        custodian: u16,
        envelope: &[u8],
    ) -> anyhow::Result<()> {
        let path = format!("/v1/requests/{hash}/approvals/{custodian}/partial");
        let (status, answer) = self.reader.send(
            "PUT",
            &path,
            envelope,
            &[("Content-Type", "application/octet-stream".to_owned())],
        )?;
        if !(200..300).contains(&status) {
            return Err(fail(
                format!(
                    "PUT {path}: the vault refused ({status}): {}",
                    String::from_utf8_lossy(&answer)
                ),
                "your approval is logged; run `obhut approve` again to upload the partial",
            ));
        }
        Ok(())
    }

    /// `POST /v1/requests/{hash}/denials`.
    pub fn deny(&self, hash: &str, reason: &str) -> anyhow::Result<Logged> {
        self.call(
            "POST",
            &format!("/v1/requests/{hash}/denials"),
            &serde_json::to_vec(&DenyBody {
                reason: reason.to_owned(),
            })?,
            true,
        )
    }

    /// `POST /v1/requests/{hash}/release`.
    pub fn release(&self, hash: &str) -> anyhow::Result<ReleaseJson> {
        self.call("POST", &format!("/v1/requests/{hash}/release"), &[], false)
    }

    /// `POST /v1/requests/{hash}/opened`.
    pub fn opened(&self, hash: &str, segments: u32) -> anyhow::Result<Logged> {
        self.call(
            "POST",
            &format!("/v1/requests/{hash}/opened"),
            &serde_json::to_vec(&OpenedBody { segments })?,
            true,
        )
    }
}

/// Decode a base64 field of an answer.
pub fn b64(field: &str, s: &str) -> anyhow::Result<Vec<u8>> {
    B64.decode(s).map_err(|_| {
        fail(
            format!("the vault's {field} is not base64"),
            "the vault is misbehaving; report it",
        )
    })
}

/// Check that `logged` is the entry `expected` says it should be and that
/// it is included in a checkpoint consistent with everything this client
/// saw (waiting up to 30 s for the vault to integrate it). Returns the
/// decoded entry and the state it was proved against.
pub fn confirm_logged(
    log: &LogClient,
    logged: &Logged,
    what: &str,
    expected: impl Fn(&LogEntry) -> bool,
) -> anyhow::Result<(LogEntry, TrustedState)> {
    let bytes = b64("log entry", &logged.entry)?;
    let entry = LogEntry::from_bytes(&bytes).map_err(|e| {
        fail(
            format!("the vault's log entry for {what} does not decode: {e}"),
            "the vault is misbehaving; do not go on, and report it",
        )
    })?;
    if !expected(&entry) {
        return Err(fail(
            format!("the vault logged something else than {what}: {entry}"),
            "the vault is misbehaving; do not go on, and report it",
        ));
    }
    let deadline = Instant::now() + LOG_WAIT;
    // The vault integrates within milliseconds of a local change: ask again
    // soon, then back off.
    let mut pause = Duration::from_millis(5);
    let state = loop {
        let (_, state) = log.update()?;
        if state.size > logged.log_index {
            break state;
        }
        if Instant::now() >= deadline {
            return Err(fail(
                format!(
                    "{what} (log entry #{}) is not in the vault's log after 30 s (checkpoint size {})",
                    logged.log_index, state.size
                ),
                "the vault is not integrating its log; do not go on, and tell its operator",
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    };
    let proof = log.proof("inclusion", logged.log_index, state.size)?;
    state
        .verify_leaf_inclusion(&leaf_hash(&bytes), logged.log_index, &proof)
        .map_err(|e| {
            fail(
                format!("{what} is not provably in the log: {e}"),
                "the vault is misbehaving; do not go on, and report it",
            )
        })?;
    Ok((entry, state))
}
