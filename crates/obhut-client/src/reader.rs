//! A person's signed calls to a vault (docs/vault.md §2, §5): the reader
//! API, as a custodian, requester or auditor registered with the vault
//! makes them. Every request carries the §2 headers with `Obhut-Person`
//! and the context `obhut/v1/person-request`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::read::{ListResponse, RecordsResponse};
use obhut_core::identity::SignKey;
use obhut_core::ids::RecordingId;
use obhut_core::record::SegmentRecord;
use obhut_core::vault::{RECORDS_MEDIA_TYPE, body_sha256, decode_records_answer, request_message};

use crate::error::{Endpoint, Error, Result};

/// Largest answer read (a listing or a recording's records).
const MAX_ANSWER: u64 = 16 << 20;
/// Bytes of an error answer read when a blob is refused.
const ERROR_ANSWER: u64 = 64 * 1024;

/// The vault's answer that the segment asked for is damaged in its store
/// (`stored-segment-corrupt`, naming it) as [`Error::Refused`], so that a
/// person reads which segment and why rather than a bare status.
fn damaged_segment(path: &str, status: u16, answer: &[u8]) -> Option<Error> {
    let body: obhut_api::ErrorBody = serde_json::from_slice(answer).ok()?;
    (body.error == obhut_api::ErrorKind::StoredSegmentCorrupt).then(|| Error::Refused {
        method: "GET".into(),
        path: path.into(),
        status,
        kind: body.error,
        message: body.message,
    })
}

/// A client signing as one person, for one vault.
pub struct Reader<'k> {
    agent: ureq::Agent,
    base: String,
    vault: [u8; 32],
    person: &'k SignKey,
}

impl std::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        obhut_http::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .build(),
    )
}

/// Milliseconds since the Unix epoch (the signed requests' `Obhut-Time`).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `GET url` without authentication (`/healthz`, `/readyz`, the log): the
/// status and the body as text.
pub fn get_plain(url: &str) -> Result<(u16, String)> {
    let (status, body) = get_bytes(url, 1 << 20)?;
    let body = String::from_utf8(body).map_err(|e| Error::ReadAnswer {
        method: "GET".into(),
        url: url.into(),
        source: Box::new(ureq::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e,
        ))),
    })?;
    Ok((status, body))
}

/// `GET url` for a binary answer of at most `limit` bytes: (status, body).
pub fn get_bytes(url: &str, limit: u64) -> Result<(u16, Vec<u8>)> {
    let resp = agent().get(url).call().map_err(|e| Error::Unreachable {
        method: "GET".into(),
        url: url.into(),
        source: Box::new(e),
    })?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| Error::ReadAnswer {
            method: "GET".into(),
            url: url.into(),
            source: Box::new(e),
        })?;
    Ok((status, body))
}

/// The identity a person's requests are signed for: the public key of the
/// vault's audit-log verifier key (C2SP vkey), which people pin out of band
/// (docs/vault.md §2).
pub fn vault_identity(log_key: &obhut_log::VerifierKey) -> [u8; 32] {
    log_key.public_key().to_bytes()
}

impl<'k> Reader<'k> {
    /// A reader of the vault at `base_url` (`http://127.0.0.1:8700`) whose
    /// audit-log key is `log_key` (the Ed25519 key of the `--log-key` the
    /// person pinned, [`vault_identity`]): every request is signed for that
    /// vault and no other accepts it (docs/vault.md §2).
    pub fn new(base_url: &str, log_key: [u8; 32], person: &'k SignKey) -> Self {
        Reader {
            agent: agent(),
            base: base_url.trim_end_matches('/').to_owned(),
            vault: log_key,
            person,
        }
    }

    /// The identity of the vault this reader signs for (its log key's,
    /// docs/vault.md §2): what a person's decisions name.
    pub fn vault(&self) -> [u8; 32] {
        self.vault
    }

    /// Sign `content` as this reader's person (docs/format.md §8.6).
    pub fn sign_decision(
        &self,
        content: obhut_core::decision::DecisionContent,
    ) -> obhut_core::Result<obhut_core::decision::Decision> {
        content.sign(self.person)
    }

    /// Sign a disclosure of an export bundle (docs/bundle.md §5) as this
    /// reader's person.
    pub fn sign_disclosure(
        &self,
        content: obhut_core::disclosure::DisclosureContent,
    ) -> obhut_core::Result<obhut_core::disclosure::Disclosure> {
        content.sign(self.person)
    }

    /// The public key of the person this reader signs as.
    pub fn person_key(&self) -> [u8; 32] {
        self.person.verify_key().to_bytes()
    }

    /// The vault's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A person-signed GET of `path` (which must include any base path of
    /// the vault's URL); 200 only.
    fn get(&self, path: &str) -> Result<Vec<u8>> {
        let (status, body) = self.get_any(path)?;
        if let Some(e) = damaged_segment(path, status, &body) {
            return Err(e);
        }
        if status != 200 {
            return Err(Error::Status {
                endpoint: Endpoint::Reader,
                target: format!("{}{path}", self.base),
                status,
                body: Some(String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()),
            });
        }
        Ok(body)
    }

    /// A person-signed GET of `path`: status and body, whatever the status.
    pub fn get_any(&self, path: &str) -> Result<(u16, Vec<u8>)> {
        self.send("GET", path, &[], &[])
    }

    /// `method path` with `body` and extra `headers`, signed as this person
    /// (docs/vault.md §2), sent; the response whatever its status.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, String)],
    ) -> Result<(String, ureq::http::Response<ureq::Body>)> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| Error::Randomness(e.to_string()))?;
        let nonce = hex::encode(nonce);
        let time = now_ms();
        let msg = request_message(&self.vault, method, path, time, &nonce, &body_sha256(body));
        let sig = self
            .person
            .sign(obhut_core::labels::PERSON_REQUEST_SIG, &msg);
        let url = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header(
                "Obhut-Person",
                hex::encode(self.person.verify_key().to_bytes()),
            )
            .header("Obhut-Time", time.to_string())
            .header("Obhut-Nonce", nonce)
            .header("Obhut-Signature", hex::encode(sig));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req.body(body.to_vec()).map_err(|e| Error::BuildRequest {
            method: method.into(),
            url: url.clone(),
            source: e,
        })?;
        let resp = self.agent.run(req).map_err(|e| Error::Unreachable {
            method: method.into(),
            url: url.clone(),
            source: Box::new(e),
        })?;
        Ok((url, resp))
    }

    /// A person-signed request: `method path` with `body` and extra
    /// `headers`; status and answer, whatever the status.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, String)],
    ) -> Result<(u16, Vec<u8>)> {
        let (url, resp) = self.call(method, path, body, headers)?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|e| Error::ReadAnswer {
                method: method.into(),
                url,
                source: Box::new(e),
            })?;
        Ok((status, body))
    }

    /// A segment's ciphertext, streamed (`GET …/blob`), or bytes
    /// `[start, end)` of it (`Range`).
    pub fn blob(
        &self,
        rid: RecordingId,
        index: u32,
        range: Option<(u64, u64)>,
    ) -> Result<Box<dyn std::io::Read + Send>> {
        let path = format!("/v1/recordings/{rid}/segments/{index}/blob");
        let headers: Vec<(&str, String)> = range
            .map(|(start, end)| ("Range", format!("bytes={start}-{}", end.saturating_sub(1))))
            .into_iter()
            .collect();
        let (url, resp) = self.call("GET", &path, &[], &headers)?;
        let status = resp.status().as_u16();
        if !(status == 200 || status == 206) {
            // A JSON error answer is short; the vault names a damaged
            // segment there.
            let answer = resp
                .into_body()
                .with_config()
                .limit(ERROR_ANSWER)
                .read_to_vec()
                .unwrap_or_default();
            if let Some(e) = damaged_segment(&path, status, &answer) {
                return Err(e);
            }
            return Err(Error::Status {
                endpoint: Endpoint::Blob,
                target: url,
                status,
                body: None,
            });
        }
        Ok(Box::new(resp.into_body().into_reader()))
    }

    /// A segment blob's group tree (`GET …/tree`, docs/format.md §6.5),
    /// unchecked: [`obhut_core::blob_tree::VerifiedTree::check`] it against
    /// the record before trusting it.
    pub fn blob_tree(&self, rid: RecordingId, index: u32) -> Result<Vec<u8>> {
        self.get(&format!("/v1/recordings/{rid}/segments/{index}/tree"))
    }

    /// `GET /v1/recordings`: the recordings of the groups this person may
    /// read, minimal metadata only.
    pub fn recordings(&self) -> Result<ListResponse> {
        let body = self.get("/v1/recordings")?;
        serde_json::from_slice(&body).map_err(|e| Error::Json {
            method: "GET".into(),
            target: "/v1/recordings".into(),
            source: e,
        })
    }

    /// `GET /v1/recordings/{rid}/records`: the device-signed records, each
    /// parsed (so its signature checked); chain them with
    /// `obhut_core::chain::verify_chain`.
    pub fn records(&self, rid: RecordingId) -> Result<Vec<SegmentRecord>> {
        let path = format!("/v1/recordings/{rid}/records");
        self.raw_records(rid)?
            .iter()
            .enumerate()
            .map(|(index, bytes)| {
                SegmentRecord::from_bytes(bytes).map_err(|source| Error::Record {
                    path: path.clone(),
                    index,
                    source,
                })
            })
            .collect()
    }

    /// `GET /v1/recordings/{rid}/records` in the binary form
    /// (docs/vault.md §5), the records' bytes unparsed (for
    /// `obhut_core::chain::records_from_chain`). An answer in another
    /// media type is [`Error::ContentType`]; a malformed one
    /// [`Error::RecordsAnswer`].
    pub fn raw_records(&self, rid: RecordingId) -> Result<Vec<Vec<u8>>> {
        let path = format!("/v1/recordings/{rid}/records");
        let headers = [("Accept", RECORDS_MEDIA_TYPE.to_owned())];
        let (url, resp) = self.call("GET", &path, &[], &headers)?;
        let status = resp.status().as_u16();
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = resp
            .into_body()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|e| Error::ReadAnswer {
                method: "GET".into(),
                url: url.clone(),
                source: Box::new(e),
            })?;
        if status != 200 {
            return Err(Error::Status {
                endpoint: Endpoint::Reader,
                target: url,
                status,
                body: Some(String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()),
            });
        }
        if media_type.split(';').next().map(str::trim) != Some(RECORDS_MEDIA_TYPE) {
            return Err(Error::ContentType {
                path,
                expected: RECORDS_MEDIA_TYPE,
                got: media_type,
            });
        }
        let records = decode_records_answer(&body).map_err(|source| Error::RecordsAnswer {
            path: path.clone(),
            source,
        })?;
        Ok(records.into_iter().map(<[u8]>::to_vec).collect())
    }

    /// `GET /v1/recordings/{rid}/records[?log=true]`: the records' bytes and,
    /// with `log`, the answer's log entries (each record's
    /// `segment-received` entry, the device's enrolment and revocations),
    /// unchecked. Without `log`, the binary answer ([`Reader::raw_records`])
    /// and no log entries.
    pub fn records_logged(
        &self,
        rid: RecordingId,
        log: bool,
    ) -> Result<(Vec<Vec<u8>>, RecordsResponse)> {
        if !log {
            return Ok((self.raw_records(rid)?, RecordsResponse::default()));
        }
        let path = format!("/v1/recordings/{rid}/records?log=true");
        let body = self.get(&path)?;
        let list: RecordsResponse = serde_json::from_slice(&body).map_err(|e| Error::Json {
            method: "GET".into(),
            target: path.clone(),
            source: e,
        })?;
        let raw = list
            .records
            .iter()
            .enumerate()
            .map(|(i, b64)| {
                B64.decode(b64).map_err(|_| Error::NotBase64 {
                    field: format!("record {i} of {path}"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((raw, list))
    }
}
