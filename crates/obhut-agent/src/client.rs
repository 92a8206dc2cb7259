//! The device's HTTP client for the vault (docs/vault.md §2–§4).
//!
//! Every request is device-signed (§2): `Obhut-Device`, `Obhut-Time`,
//! `Obhut-Nonce` and `Obhut-Signature` over
//! [`obhut_core::vault::request_message`]. A segment upload (protocol
//! draft 2) streams its body, `blob ‖ record`, from a [`Read`] with an
//! exact `Content-Length`, signed over the upload's framing
//! ([`obhut_core::vault::segment_upload_digest`]) so that the headers can
//! go out before the record exists; nothing here holds a blob in memory.
//!
//! Why `ureq`: the agent seals on one thread and streams each segment's
//! upload from a thread of its own ([`VaultClient::start_segment_stream`];
//! a few segments are in flight at once, each on its own connection from
//! the agent's pool), so a synchronous client that pulls the body from a
//! `Read` is the whole need; `ureq` does that without an async runtime,
//! and its rustls build uses the `ring` provider (no C toolchain beyond
//! `cc`).

use std::io::Read;
use std::time::Duration;

use base64::Engine;
use obhut_api::ErrorBody;
use obhut_api::ingest::{
    EnrolRequest, EnrolResponse, EpochsResponse, HeadResponse, ReceiptResponse,
};
use obhut_core::epoch::EpochPublic;
use obhut_core::identity::SignKey;
use obhut_core::ids::{RecordingId, SegmentRef};
use obhut_core::record::SegmentRecord;
use obhut_core::vault::{
    body_sha256, request_message, segment_upload_digest, segment_upload_len, segment_upload_path,
};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The answer to `GET /v1/recordings/{rid}/head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Index the vault expects next (= number of stored segments).
    pub next_index: u32,
    /// Record hash of segment `next_index − 1`.
    pub head_record_hash: [u8; 32],
}

/// The answer to `POST /v1/enrol`.
#[derive(Debug, Clone)]
pub struct EnrolAnswer {
    /// The custody-group descriptor the token is bound to (not yet pinned).
    pub descriptor: Vec<u8>,
    /// The vault's receipt key (32 bytes).
    pub vault_key: [u8; 32],
    /// Retention class of the token.
    pub retention_class: String,
}

/// The bytes an upload hands the socket per write, and the size of the
/// buffer ureq reads a request body into: four sealed chunks, so that each
/// read seals four chunks in place in it
/// ([`obhut_core::segment::SealingReader`]), with no copy through the
/// sealer's own buffer, and hashes them in one BLAKE3 update. (ureq's
/// default, 128 KiB, is 32 bytes short of two sealed chunks.)
const UPLOAD_WRITE: usize = 4 * obhut_core::stream::SEALED_CHUNK_LEN;

/// An upload's outcome: the receipt bytes and whether the vault already
/// held the segment (200) rather than storing it now (201).
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// The receipt, as sent (not yet verified).
    pub receipt: Vec<u8>,
    /// 200: an idempotent retry of a stored segment.
    pub already_stored: bool,
}

/// A segment upload running on a thread (and connection) of its own,
/// started by [`VaultClient::start_segment_stream`]. Dropping the handle
/// abandons the answer, not the upload: the thread ends when the vault
/// answers or the connection fails.
#[derive(Debug)]
pub struct UploadHandle {
    rx: std::sync::mpsc::Receiver<Result<Uploaded>>,
    answer: Option<Result<Uploaded>>,
    what: String,
}

impl UploadHandle {
    /// Whether the upload has ended (its answer is in, or its thread
    /// stopped), so that [`UploadHandle::wait`] returns at once.
    pub fn is_done(&mut self) -> bool {
        if self.answer.is_some() {
            return true;
        }
        match self.rx.try_recv() {
            Ok(a) => {
                self.answer = Some(a);
                true
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => false,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => true,
        }
    }

    /// Wait for the vault's answer (the receipt, not yet verified).
    pub fn wait(self) -> Result<Uploaded> {
        if let Some(a) = self.answer {
            return a;
        }
        self.rx.recv().unwrap_or_else(|_| {
            Err(Error::Protocol {
                what: self.what,
                reason: "the upload thread stopped without an answer".into(),
            })
        })
    }
}

/// A client bound to one vault and one device key.
pub struct VaultClient<'k> {
    agent: ureq::Agent,
    base: String,
    base_path: String,
    vault: [u8; 32],
    device: &'k SignKey,
}

impl std::fmt::Debug for VaultClient<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Parse the JSON answer to `what`.
fn answer<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::Protocol {
        what: what.into(),
        reason: e.to_string(),
    })
}

/// Decode a binary field the vault sends as base64 (descriptors, epoch
/// keys, receipts).
fn decode_bin(what: &str, field: &str, s: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| Error::Protocol {
            what: what.into(),
            reason: format!("{field} is not base64: {e}"),
        })
}

fn hex32(what: &str, field: &str, s: &str) -> Result<[u8; 32]> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(s, &mut b).map_err(|_| Error::Protocol {
        what: what.into(),
        reason: format!("{field} is not 64 hex digits"),
    })?;
    Ok(b)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl<'k> VaultClient<'k> {
    /// A client for the vault at `base_url` (e.g. `https://vault:8443`),
    /// signing as `device` for the vault whose receipt key is `vault`
    /// (pinned at enrolment; [`obhut_core::vault::ENROL_VAULT`] to enrol),
    /// so that no other vault accepts its requests (docs/vault.md §2).
    pub fn new(base_url: &str, vault: [u8; 32], device: &'k SignKey) -> Result<Self> {
        let base = base_url.trim_end_matches('/').to_owned();
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .ok_or_else(|| Error::Protocol {
                what: "vault URL".into(),
                reason: format!("`{base_url}` does not start with https:// or http://"),
            })?;
        let base_path = rest
            .find('/')
            .map(|i| rest[i..].to_owned())
            .unwrap_or_default();
        let config = obhut_http::config_builder()
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .timeout_per_write(Some(Duration::from_secs(120)))
            .output_buffer_size(UPLOAD_WRITE)
            .build();
        Ok(VaultClient {
            agent: ureq::Agent::new_with_config(config),
            base,
            base_path,
            vault,
            device,
        })
    }

    /// The four §2 headers for one request.
    fn auth(
        &self,
        method: &str,
        path_and_query: &str,
        body_digest: &[u8; 32],
    ) -> [(&'static str, String); 4] {
        let mut nonce = [0u8; 16];
        rand_core::Rng::fill_bytes(&mut obhut_core::rng::os_rng(), &mut nonce);
        let nonce = hex::encode(nonce);
        let time = now_ms();
        let full_path = format!("{}{}", self.base_path, path_and_query);
        let msg = request_message(&self.vault, method, &full_path, time, &nonce, body_digest);
        let sig = self
            .device
            .sign(obhut_core::labels::DEVICE_REQUEST_SIG, &msg);
        [
            (
                "Obhut-Device",
                hex::encode(self.device.verify_key().to_bytes()),
            ),
            ("Obhut-Time", time.to_string()),
            ("Obhut-Nonce", nonce),
            ("Obhut-Signature", hex::encode(sig)),
        ]
    }

    fn transport(&self, path: &str) -> impl FnOnce(ureq::Error) -> Error + use<> {
        transport_error(&self.base, path)
    }

    /// Read a response: its status and body (bounded), or the vault's
    /// error as [`Error::Vault`].
    fn finish(
        &self,
        what: &str,
        path: &str,
        resp: ureq::http::Response<ureq::Body>,
        ok: &[u16],
    ) -> Result<(u16, Vec<u8>)> {
        finish_response(&self.base, what, path, resp, ok)
    }

    fn get(&self, path: &str, ok: &[u16]) -> Result<(u16, Vec<u8>)> {
        let what = format!("GET {path}");
        let mut req = self.agent.get(format!("{}{}", self.base, path));
        for (k, v) in self.auth("GET", path, &body_sha256(b"")) {
            req = req.header(k, v);
        }
        let resp = req.call().map_err(self.transport(path))?;
        self.finish(&what, path, resp, ok)
    }

    /// `POST /v1/enrol` (§3.2), device-signed.
    pub fn enrol(&self, token: &str) -> Result<EnrolAnswer> {
        const PATH: &str = "/v1/enrol";
        let what = format!("POST {PATH}");
        let body = serde_json::to_vec(&EnrolRequest {
            token: token.to_owned(),
            device_key: hex::encode(self.device.verify_key().to_bytes()),
        })
        .map_err(|e| Error::Protocol {
            what: what.clone(),
            reason: e.to_string(),
        })?;
        let mut req = self
            .agent
            .post(format!("{}{}", self.base, PATH))
            .header("Content-Type", "application/json");
        for (k, v) in self.auth("POST", PATH, &body_sha256(&body)) {
            req = req.header(k, v);
        }
        let resp = req.send(&body[..]).map_err(self.transport(PATH))?;
        let (_, body) = self.finish(&what, PATH, resp, &[200, 201])?;
        let a: EnrolResponse = answer(&what, &body)?;
        Ok(EnrolAnswer {
            descriptor: decode_bin(&what, "descriptor", &a.descriptor)?,
            vault_key: hex32(&what, "vault_key", &a.vault_key)?,
            retention_class: a.retention_class,
        })
    }

    /// `GET /v1/epochs?class=C`: the current and next epoch keys.
    pub fn epochs(&self, class: &str) -> Result<Vec<EpochPublic>> {
        self.fetch_epochs(format!("/v1/epochs?class={}", percent_encode(class)))
    }

    /// `GET /v1/epochs?class=C&at=T`: the current and next epoch keys and
    /// the one covering capture time `t` (footage recorded before an
    /// earlier period ended and uploaded now).
    pub fn epochs_covering(&self, class: &str, t: i64) -> Result<Vec<EpochPublic>> {
        self.fetch_epochs(format!("/v1/epochs?class={}&at={t}", percent_encode(class)))
    }

    fn fetch_epochs(&self, path: String) -> Result<Vec<EpochPublic>> {
        let what = format!("GET {path}");
        let (_, body) = self.get(&path, &[200])?;
        let e: EpochsResponse = answer(&what, &body)?;
        let mut out = Vec::new();
        for epoch in [Some(e.current), Some(e.next), e.covering]
            .into_iter()
            .flatten()
        {
            let bytes = decode_bin(&what, "epoch", &epoch.public)?;
            out.push(EpochPublic::from_bytes(&bytes).map_err(Error::core(what.clone()))?);
        }
        Ok(out)
    }

    /// `GET /v1/recordings/{rid}/head`, or `None` for an unknown recording.
    pub fn head(&self, rid: RecordingId) -> Result<Option<Head>> {
        let path = format!("/v1/recordings/{rid}/head");
        let what = format!("GET {path}");
        match self.get(&path, &[200]) {
            Ok((_, body)) => {
                let h: HeadResponse = answer(&what, &body)?;
                Ok(Some(Head {
                    next_index: h.next_index,
                    head_record_hash: hex32(&what, "head_record_hash", &h.head_record_hash)?,
                }))
            }
            Err(Error::Vault { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/receipts/{rid}/{index}`: the receipt again (unverified).
    pub fn receipt(&self, rid: RecordingId, index: u32) -> Result<Vec<u8>> {
        let path = format!("/v1/receipts/{rid}/{index}");
        let what = format!("GET {path}");
        let (_, body) = self.get(&path, &[200])?;
        receipt_from_json(&what, &body)
    }

    /// `PUT /v1/recordings/{rid}/segments/{index}` (§4, draft 2) of a
    /// segment sealed beforehand: its signed `record` (with `record_hash`,
    /// checked) and its blob, streamed from `blob` (exactly `blob_len`
    /// bytes). Sends `blob ‖ record` through
    /// [`VaultClient::put_segment_stream`]; the segment (path) is the
    /// record's.
    pub fn put_segment(
        &self,
        record: &[u8],
        record_hash: &[u8; 32],
        blob: impl Read + Send + 'static,
        blob_len: u64,
    ) -> Result<Uploaded> {
        let parsed = SegmentRecord::from_bytes(record)
            .map_err(Error::core("the segment record to upload"))?;
        let segment = parsed.segment_ref();
        let what = format!("PUT {}", segment_upload_path(segment, record.len()));
        if &parsed.record_hash() != record_hash {
            return Err(Error::Protocol {
                what,
                reason: "the record hash given is not the record's".into(),
            });
        }
        if parsed.blob_len() != blob_len {
            return Err(Error::Protocol {
                what,
                reason: format!(
                    "the blob is {blob_len} bytes; the record says {}",
                    parsed.blob_len()
                ),
            });
        }
        let record_len = record.len();
        let body = blob.chain(std::io::Cursor::new(record.to_vec()));
        self.put_segment_stream(segment, body, blob_len, record_len)
    }

    /// `PUT /v1/recordings/{rid}/segments/{index}` (§4, draft 2), streaming:
    /// `body` must yield exactly `blob ‖ record` — the `blob_len`-byte
    /// blob, then the `record_len`-byte signed record as a trailer — and is
    /// sent with `Content-Length: blob_len + record_len` and `record_len` in
    /// the (signed) query. The request is signed over
    /// `segment_upload_digest(rid, index, Content-Length)` (§2), so the
    /// record may be produced while the blob streams (the agent seals once,
    /// straight into `body`). A body that fails or ends early aborts the
    /// upload, and the vault stores nothing.
    pub fn put_segment_stream(
        &self,
        segment: SegmentRef,
        body: impl Read + Send + 'static,
        blob_len: u64,
        record_len: usize,
    ) -> Result<Uploaded> {
        self.start_segment_stream(segment, body, blob_len, record_len, None)?
            .wait()
    }

    /// [`VaultClient::put_segment_stream`] on a thread of its own: signs
    /// the request here, then sends it and reads the answer there, so the
    /// caller can seal the next segment (into another upload, on another
    /// pooled connection) while the vault verifies, stores and answers
    /// this one (docs/vault.md §4, the upload window). The body is read on
    /// that thread; [`UploadHandle::wait`] gives the answer. Once the
    /// answer is in, `wake` (if given) gets a token, so that a caller
    /// waiting for any of several uploads learns of it.
    pub fn start_segment_stream(
        &self,
        segment: SegmentRef,
        body: impl Read + Send + 'static,
        blob_len: u64,
        record_len: usize,
        wake: Option<std::sync::mpsc::Sender<()>>,
    ) -> Result<UploadHandle> {
        let path = segment_upload_path(segment, record_len);
        let what = format!("PUT {path}");
        let total = segment_upload_len(blob_len, record_len).ok_or_else(|| Error::Protocol {
            what: what.clone(),
            reason: "segment too large".into(),
        })?;
        let digest = segment_upload_digest(segment.recording, segment.index, total);
        let auth = self.auth("PUT", &path, &digest);
        let agent = self.agent.clone();
        let base = self.base.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let w = what.clone();
        std::thread::Builder::new()
            .name(format!("obhut-upload-{}", segment.index))
            .spawn(move || {
                let run = || -> Result<Uploaded> {
                    let mut req = agent
                        .put(format!("{base}{path}"))
                        .header("Content-Type", "application/octet-stream")
                        .header("Content-Length", total.to_string());
                    for (k, v) in auth {
                        req = req.header(k, v);
                    }
                    let resp = req
                        .send(ureq::SendBody::from_owned_reader(body))
                        .map_err(transport_error(&base, &path))?;
                    let (status, body) = finish_response(&base, &w, &path, resp, &[200, 201])?;
                    Ok(Uploaded {
                        receipt: receipt_from_json(&w, &body)?,
                        already_stored: status == 200,
                    })
                };
                // Nobody may be waiting any more (an abandoned upload).
                let _ = tx.send(run());
                if let Some(w) = wake {
                    let _ = w.send(());
                }
            })
            .map_err(|e| Error::Io {
                op: "start an upload thread for",
                path: what.clone().into(),
                source: e,
            })?;
        Ok(UploadHandle {
            rx,
            answer: None,
            what,
        })
    }
}

/// [`VaultClient::finish`] without the client (upload threads).
fn finish_response(
    base: &str,
    what: &str,
    path: &str,
    resp: ureq::http::Response<ureq::Body>,
    ok: &[u16],
) -> Result<(u16, Vec<u8>)> {
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .map_err(transport_error(base, path))?;
    if ok.contains(&status) {
        return Ok((status, body));
    }
    let (kind, message) = match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(e) => (Some(e.error), e.message),
        // Not the vault's JSON (a proxy's page, a crash): show its start.
        Err(_) => (
            None,
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        ),
    };
    Err(Error::Vault {
        what: what.into(),
        status,
        kind,
        message,
    })
}

fn transport_error(base: &str, path: &str) -> impl FnOnce(ureq::Error) -> Error + use<> {
    let url = format!("{base}{path}");
    move |e| Error::Transport {
        url,
        source: Box::new(e),
    }
}

fn receipt_from_json(what: &str, body: &[u8]) -> Result<Vec<u8>> {
    let r: ReceiptResponse = answer(what, body)?;
    decode_bin(what, "receipt", &r.receipt)
}

/// Percent-encode a query value (RFC 3986 unreserved characters pass).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_fields_decode_from_base64() {
        assert_eq!(decode_bin("x", "f", "AP8=").unwrap(), vec![0, 0xff]);
        assert!(decode_bin("x", "f", "not base64!").is_err());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("bodycam-30d"), "bodycam-30d");
        assert_eq!(percent_encode("a b&c"), "a%20b%26c");
    }

    #[test]
    fn base_path_is_kept_for_signing() {
        let k = SignKey::generate(&mut obhut_core::rng::os_rng());
        let c = VaultClient::new("https://vault.example/obhut/", [0; 32], &k).unwrap();
        assert_eq!(c.base_path, "/obhut");
        assert_eq!(c.base, "https://vault.example/obhut");
        let c = VaultClient::new("http://127.0.0.1:8080", [0; 32], &k).unwrap();
        assert_eq!(c.base_path, "");
        assert!(VaultClient::new("ftp://x", [0; 32], &k).is_err());
    }
}
