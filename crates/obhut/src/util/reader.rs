//! A reader's view of a vault (docs/vault.md §5): person-signed requests
//! to the reader API, as a custodian or auditor registered with
//! `obhut admin add-reader` makes them. Sessions and roles come with the
//! access issue; until then every request carries the §2 headers with
//! `Obhut-Person` and the context `obhut/v1/person-request`.

use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::read::{ListResponse, RecordsResponse};
use obhut_core::identity::SignKey;
use obhut_core::ids::RecordingId;
use obhut_core::record::SegmentRecord;
use obhut_core::vault::{body_sha256, request_message};

use super::hint::{HintExt, fail};

/// Largest answer read (a listing or a recording's records).
const MAX_ANSWER: u64 = 16 << 20;

/// A client signing as one person.
pub struct Reader<'k> {
    agent: ureq::Agent,
    base: String,
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
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .max_redirects(0)
            .build(),
    )
}

/// `GET url` without authentication (`/healthz`, `/readyz`): the status
/// and the body as text.
pub fn get_plain(url: &str) -> anyhow::Result<(u16, String)> {
    let resp = agent()
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .with_context(|| format!("GET {url}: reading the answer"))?;
    Ok((status, body))
}

impl<'k> Reader<'k> {
    /// A reader of the vault at `base_url` (`http://127.0.0.1:8700`).
    pub fn new(base_url: &str, person: &'k SignKey) -> Self {
        Reader {
            agent: agent(),
            base: base_url.trim_end_matches('/').to_owned(),
            person,
        }
    }

    /// A person-signed GET of `path` (which must include any base path of
    /// the vault's URL; the demo's vault has none); 200 only.
    fn get(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let (status, body) = self.get_any(path)?;
        if status != 200 {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            return Err(fail(
                format!(
                    "GET {}{path}: the vault answered {status}: {text}",
                    self.base
                ),
                "the person must be registered as a reader of the group (obhut admin add-reader)",
            ));
        }
        Ok(body)
    }

    /// A person-signed GET of `path`: status and body, whatever the status.
    pub fn get_any(&self, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
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
    ) -> anyhow::Result<(String, ureq::http::Response<ureq::Body>)> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("OS randomness: {e}"))?;
        let nonce = hex::encode(nonce);
        let time = super::time::now_ms();
        let msg = request_message(method, path, time, &nonce, &body_sha256(body));
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
        let req = req
            .body(body.to_vec())
            .with_context(|| format!("{method} {url}: building the request"))?;
        let resp = self.agent.run(req).hint(
            format!("{method} {url}"),
            "check that the vault is running and the URL is right",
        )?;
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
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let (url, resp) = self.call(method, path, body, headers)?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .with_context(|| format!("{method} {url}: reading the answer"))?;
        Ok((status, body))
    }

    /// A segment's ciphertext, streamed (`GET …/blob`), or bytes
    /// `[start, end)` of it (`Range`).
    pub fn blob(
        &self,
        rid: RecordingId,
        index: u32,
        range: Option<(u64, u64)>,
    ) -> anyhow::Result<Box<dyn std::io::Read + Send>> {
        let path = format!("/v1/recordings/{rid}/segments/{index}/blob");
        let headers: Vec<(&str, String)> = range
            .map(|(start, end)| ("Range", format!("bytes={start}-{}", end.saturating_sub(1))))
            .into_iter()
            .collect();
        let (url, resp) = self.call("GET", &path, &[], &headers)?;
        let status = resp.status().as_u16();
        if !(status == 200 || status == 206) {
            return Err(fail(
                format!("GET {url}: the vault answered {status}"),
                "reading ciphertext needs the reader role for the group (obhut admin add-reader)",
            ));
        }
        Ok(Box::new(resp.into_body().into_reader()))
    }

    /// `GET /v1/recordings`: the recordings of the groups this person may
    /// read, minimal metadata only.
    pub fn recordings(&self) -> anyhow::Result<ListResponse> {
        let body = self.get("/v1/recordings")?;
        serde_json::from_slice(&body)
            .context("GET /v1/recordings: the answer is not the documented JSON")
    }

    /// `GET /v1/recordings/{rid}/records`: the device-signed records, each
    /// parsed (so its signature checked); chain them with
    /// `obhut_core::chain::verify_chain`.
    pub fn records(&self, rid: RecordingId) -> anyhow::Result<Vec<SegmentRecord>> {
        let path = format!("/v1/recordings/{rid}/records");
        self.raw_records(rid)?
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                SegmentRecord::from_bytes(bytes)
                    .with_context(|| format!("GET {path}: record {i} does not verify"))
            })
            .collect()
    }

    /// `GET /v1/recordings/{rid}/records`, the records' bytes unparsed
    /// (for `obhut_core::chain::records_from_chain`).
    pub fn raw_records(&self, rid: RecordingId) -> anyhow::Result<Vec<Vec<u8>>> {
        let path = format!("/v1/recordings/{rid}/records");
        let body = self.get(&path)?;
        let list: RecordsResponse = serde_json::from_slice(&body)
            .with_context(|| format!("GET {path}: the answer is not the documented JSON"))?;
        list.records
            .iter()
            .enumerate()
            .map(|(i, b64)| {
                B64.decode(b64)
                    .with_context(|| format!("GET {path}: record {i} is not base64"))
            })
            .collect()
    }
}
