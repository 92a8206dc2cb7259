//! Test helpers (feature `test-util`, enabled from dev-dependencies only):
//! a minimal blocking HTTP/1.1 client, signed-request headers, a custody
//! group and sealed segments from the real core, and an in-process vault
//! on a real loopback listener.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;

use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::epoch::EpochPublic;
use obhut_core::group::{self, CustodianShare, PinnedGroup};
use obhut_core::identity::{PersonSecret, SignKey};
use obhut_core::ids::RecordingId;
use obhut_core::labels;
use obhut_core::record::SegmentRecord;
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::{
    body_sha256, descriptor_fingerprint, request_message, segment_upload_digest,
    segment_upload_len, segment_upload_path,
};
use obhut_store::dir::DirBlobStore;
use obhut_store::sqlite::SqliteIndex;
use obhut_store::{BlobStore, GroupRow, IndexStore, TokenRow};

use crate::app::App;
use crate::clock::Clock;
use crate::config::{FileConfig, ServerConfig};

/// An HTTP answer.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body (de-chunked).
    pub body: Vec<u8>,
    /// The `Content-Type` header ("" if none).
    pub content_type: String,
}

impl HttpResponse {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// The `error` kind of a JSON error body ("" if none).
    pub fn kind(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_owned()
    }

    /// Assert an error answer of `status` and `kind` with a message for
    /// people (`what` names the case in the failure).
    #[track_caller]
    pub fn assert_error(&self, status: u16, kind: &str, what: &str) {
        assert_eq!(
            (self.status, self.kind().as_str()),
            (status, kind),
            "{what}: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(
            !self.json()["message"].as_str().unwrap_or("").is_empty(),
            "{what}: a message for people"
        );
    }
}

/// Send one request (`Connection: close`) and read the whole answer.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect(addr)?;
    write_head(&mut s, method, path, headers, body.len() as u64)?;
    // The server may answer early and close: ignore write errors, read.
    let _ = s.write_all(body);
    read_response(&mut s)
}

/// Write a request head with `Content-Length: len`.
pub fn write_head(
    s: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    len: u64,
) -> std::io::Result<()> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: vault\r\nConnection: close\r\nContent-Length: {len}\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())
}

/// Read an HTTP/1.1 response to EOF.
pub fn read_response(s: &mut TcpStream) -> std::io::Result<HttpResponse> {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP head"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    let content_type = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    Ok(HttpResponse {
        status,
        body,
        content_type,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        let start = eol + 2;
        let end = (start + n).min(b.len());
        out.extend_from_slice(&b[start..end]);
        b = &b[(end + 2).min(b.len())..];
    }
    out
}

/// The identities a vault's clients sign their requests for
/// (docs/vault.md §2; [`obhut_core::vault::request_message`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VaultIds {
    /// The receipt key: what devices sign for.
    pub vault_key: [u8; 32],
    /// The audit-log key: what people sign for.
    pub log_key: [u8; 32],
}

impl VaultIds {
    /// What an enrolment is signed for (no vault pinned yet).
    pub const ENROL: VaultIds = VaultIds {
        vault_key: obhut_core::vault::ENROL_VAULT,
        log_key: obhut_core::vault::ENROL_VAULT,
    };

    /// The ids of the vault whose keys are in the keystore `keys`, read
    /// from the key files (for a vault in another process).
    pub fn from_keystore(keys: &Path) -> VaultIds {
        let read = |name: &str| {
            let text = std::fs::read_to_string(keys.join(name)).expect("key file");
            let mut seed = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut seed).expect("hex seed");
            SignKey::from_seed(&obhut_core::secret::Secret32::new(seed))
                .verify_key()
                .to_bytes()
        };
        VaultIds {
            vault_key: read("vault.key"),
            log_key: read("log.key"),
        }
    }

    /// What a person (`true`) or a device signs for.
    pub fn for_signer(&self, person: bool) -> [u8; 32] {
        if person { self.log_key } else { self.vault_key }
    }
}

/// The four authentication headers of docs/vault.md §2, with a fresh
/// nonce, for the vault `ids`.
pub fn signed_headers(
    ids: &VaultIds,
    key: &SignKey,
    person: bool,
    method: &str,
    path: &str,
    time_ms: i64,
    body_digest: &[u8; 32],
) -> Vec<(String, String)> {
    let mut n = [0u8; 16];
    getrandom::fill(&mut n).expect("OS randomness");
    signed_headers_with_nonce(
        ids,
        key,
        person,
        method,
        path,
        time_ms,
        &hex::encode(n),
        body_digest,
    )
}

/// [`signed_headers`] with a chosen nonce (replay tests).
#[expect(
    clippy::too_many_arguments,
    reason = "each is one field of the signed message; tests spell them out"
)]
pub fn signed_headers_with_nonce(
    ids: &VaultIds,
    key: &SignKey,
    person: bool,
    method: &str,
    path: &str,
    time_ms: i64,
    nonce: &str,
    body_digest: &[u8; 32],
) -> Vec<(String, String)> {
    let label = if person {
        labels::PERSON_REQUEST_SIG
    } else {
        labels::DEVICE_REQUEST_SIG
    };
    let sig = key.sign(
        label,
        &request_message(
            &ids.for_signer(person),
            method,
            path,
            time_ms,
            nonce,
            body_digest,
        ),
    );
    vec![
        (
            if person {
                "Obhut-Person"
            } else {
                "Obhut-Device"
            }
            .to_owned(),
            hex::encode(key.verify_key().to_bytes()),
        ),
        ("Obhut-Time".to_owned(), time_ms.to_string()),
        ("Obhut-Nonce".to_owned(), nonce.to_owned()),
        ("Obhut-Signature".to_owned(), hex::encode(sig)),
    ]
}

/// A 2-of-3 custody group signed by its custodians.
pub fn custody_group() -> PinnedGroup {
    TestGroup::new(2, 3).pinned
}

/// A k-of-n custody group whose custodians' identities and opened shares
/// the test keeps (to approve access requests), from the real dealer
/// ceremony and signed by all n.
pub struct TestGroup {
    /// Custodian i is `custodians[i − 1]`.
    pub custodians: Vec<PersonSecret>,
    /// Their shares, in the same order.
    pub shares: Vec<CustodianShare>,
    /// The signed, pinned descriptor.
    pub pinned: PinnedGroup,
}

impl TestGroup {
    /// Deal a k-of-n group.
    pub fn new(k: u16, n: u16) -> Self {
        let mut rng = os_rng();
        let custodians: Vec<PersonSecret> = (1..=n)
            .map(|i| PersonSecret::generate(&format!("c{i}"), &mut rng))
            .collect();
        let publics: Vec<_> = custodians.iter().map(PersonSecret::public).collect();
        let (mut d, envelopes) =
            group::deal("test", k, n, &publics, &mut rng).expect("dealing a group");
        let shares: Vec<CustodianShare> = envelopes
            .iter()
            .zip(&custodians)
            .map(|(e, c)| e.open(c, &d).expect("opening a share"))
            .collect();
        for (share, c) in shares.iter().zip(&custodians) {
            group::sign_descriptor(&mut d, share, c).expect("signing the descriptor");
        }
        TestGroup {
            custodians,
            shares,
            pinned: d.pin().expect("pinning a fully signed descriptor"),
        }
    }

    /// Custodian `index` (1-based): identity and share.
    pub fn custodian(&self, index: u16) -> (&PersonSecret, &CustodianShare) {
        let i = usize::from(index) - 1;
        (&self.custodians[i], &self.shares[i])
    }
}

/// A sealed segment: record bytes and blob.
#[derive(Clone)]
pub struct Sealed {
    /// The signed record.
    pub record: SegmentRecord,
    /// The ciphertext.
    pub blob: Vec<u8>,
}

impl Sealed {
    /// The upload body, `blob ‖ record` (docs/vault.md §4, draft 2).
    pub fn body(&self) -> Vec<u8> {
        let mut b = self.blob.clone();
        b.extend_from_slice(&self.record.to_bytes());
        b
    }
    /// The upload path, `/v1/recordings/{rid}/segments/{index}?record_len=N`.
    pub fn path(&self) -> String {
        segment_upload_path(self.record.segment_ref(), self.record.encoded_len())
    }
    /// The body digest the upload is signed with (docs/vault.md §2): the
    /// segment-upload digest of (rid, index, Content-Length).
    pub fn digest(&self) -> [u8; 32] {
        let seg = self.record.segment_ref();
        let len = segment_upload_len(self.blob.len() as u64, self.record.encoded_len())
            .expect("blob length");
        segment_upload_digest(seg.recording, seg.index, len)
    }
}

/// Upload `s` as `key` (signed at `time_ms`, fresh nonce) and read the
/// answer.
pub fn put_sealed(
    addr: SocketAddr,
    ids: &VaultIds,
    key: &SignKey,
    s: &Sealed,
    time_ms: i64,
) -> std::io::Result<HttpResponse> {
    let path = s.path();
    let h = signed_headers(ids, key, false, "PUT", &path, time_ms, &s.digest());
    http(addr, "PUT", &path, &h, &s.body())
}

/// Seal `payloads` as one recording (the last one final if `finish`).
pub fn seal_recording(
    device: &SignKey,
    group: &PinnedGroup,
    epoch: &EpochPublic,
    capture_ms: i64,
    payloads: &[(SegmentKind, Vec<u8>)],
    finish: bool,
) -> Vec<Sealed> {
    seal_recording_with(
        device,
        group,
        epoch,
        capture_ms,
        payloads,
        finish,
        &mut os_rng(),
    )
}

/// [`seal_recording`] drawing from `rng`: the same seed and payload
/// lengths give the same recording id, capsules and keys — so a test can
/// make a second blob with the very header and key of a first one, as a
/// holder of that key could.
pub fn seal_recording_with(
    device: &SignKey,
    group: &PinnedGroup,
    epoch: &EpochPublic,
    capture_ms: i64,
    payloads: &[(SegmentKind, Vec<u8>)],
    finish: bool,
    rng: &mut impl rand_core::CryptoRng,
) -> Vec<Sealed> {
    let mut sealer = RecordingSealer::new(device, group, epoch, RecordingId::random(rng));
    let n = payloads.len();
    payloads
        .iter()
        .enumerate()
        .map(|(i, (kind, p))| {
            let media = *kind != SegmentKind::Metadata;
            let spec = SegmentSpec {
                kind: *kind,
                media_start_ms: if media { i as u64 * 10_000 } else { 0 },
                media_end_ms: if media { (i as u64 + 1) * 10_000 } else { 0 },
                capture_utc_ms: capture_ms + i as i64 * 10_000,
                is_final: finish && i + 1 == n,
            };
            let mut blob = Vec::new();
            let record = sealer
                .seal_segment(spec, &p[..], &mut blob, rng)
                .expect("sealing");
            Sealed { record, blob }
        })
        .collect()
}

/// Register `group` and create an enrolment token for it (as `obhut admin
/// enrol-token` does); returns the token string.
pub async fn create_token(
    index: &impl IndexStore,
    group: &PinnedGroup,
    class: &str,
    now_ms: i64,
) -> String {
    let entry = crate::log::entry(
        now_ms,
        obhut_core::audit::Role::Operator,
        [0; 32],
        None,
        obhut_core::audit::Event::GroupAdded {
            group_id: group.group_id(),
            fingerprint: descriptor_fingerprint(group),
        },
    )
    .expect("audit entry");
    index
        .put_group(
            &GroupRow {
                group_id: group.group_id(),
                descriptor: group.to_bytes(),
                fingerprint: descriptor_fingerprint(group).0,
                added_ms: now_ms,
            },
            &entry,
        )
        .await
        .expect("storing the group");
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).expect("OS randomness");
    let token = format!("obhut-enrol-{}", hex::encode(secret));
    index
        .create_token(&TokenRow {
            token_hash: body_sha256(token.as_bytes()),
            group_id: group.group_id(),
            retention_class: class.to_owned(),
            created_ms: now_ms,
            expires_ms: now_ms + 86_400_000,
        })
        .await
        .expect("storing the token");
    token
}

/// The embedded app type.
pub type EmbeddedApp = App<SqliteIndex, DirBlobStore>;

/// An in-process vault on a real loopback listener, with its own runtime;
/// on the embedded stores unless started with
/// [`InProcess::start_wrapped`].
pub struct InProcess<I = SqliteIndex, B = DirBlobStore> {
    /// Listening address.
    pub addr: SocketAddr,
    /// The operations listener's address (`/metrics`, health).
    pub ops_addr: SocketAddr,
    /// The shared state (query the stores directly).
    pub app: Arc<App<I, B>>,
    /// The runtime serving it.
    pub rt: tokio::runtime::Runtime,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl InProcess {
    /// Start a vault over `data`/`keys` with `clock`.
    pub fn start(data: &Path, keys: &Path, clock: Arc<dyn Clock>, max_segment_bytes: u64) -> Self {
        Self::start_with(
            data,
            keys,
            clock,
            FileConfig {
                max_segment_bytes: Some(max_segment_bytes),
                ..FileConfig::default()
            },
        )
    }

    /// Start a vault over `data`/`keys` with `clock` and further settings
    /// (`data`, `keys` and `listen` of `settings` are replaced).
    pub fn start_with(
        data: &Path,
        keys: &Path,
        clock: Arc<dyn Clock>,
        settings: FileConfig,
    ) -> Self {
        InProcess::start_wrapped(data, keys, clock, settings, |index, blobs| (index, blobs))
    }
}

impl<I: IndexStore, B: BlobStore> InProcess<I, B> {
    /// What this vault's clients sign for.
    pub fn ids(&self) -> VaultIds {
        use crate::auth::Signer;
        VaultIds {
            vault_key: self.app.identity(Signer::Device),
            log_key: self.app.identity(Signer::Person),
        }
    }

    /// [`InProcess::start_with`] on the embedded stores of `data` as
    /// `wrap` returns them, e.g. with a fault-injecting blob store
    /// (`obhut_store::contract::FaultyBlobStore`) around the directory.
    pub fn start_wrapped(
        data: &Path,
        keys: &Path,
        clock: Arc<dyn Clock>,
        settings: FileConfig,
        wrap: impl FnOnce(SqliteIndex, DirBlobStore) -> (I, B),
    ) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let config = ServerConfig::from_layers(FileConfig {
            data: Some(data.to_owned()),
            keys: Some(keys.to_owned()),
            listen: Some("127.0.0.1:0".into()),
            ..settings
        })
        .expect("config");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (app, addr, ops_addr) = rt.block_on(async {
            // As `obhut serve --init`: a new vault the first time, the
            // same one when a test restarts it on the same directories.
            let opened = crate::embedded::open_stores(data, keys, crate::embedded::Start::Init)
                .await
                .expect("stores and keystore");
            let (index, blobs) = wrap(opened.index, opened.blobs);
            let mut keystore = opened.keystore;
            if let Some(holder) =
                crate::keystore::configured_holder(&config).expect("epoch key holder")
            {
                keystore.set_holder(holder);
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let ops = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let ops_addr = ops.local_addr().expect("addr");
            let app = Arc::new(App::new(index, blobs, keystore, config, clock).expect("app"));
            // As `Vault::open` does; before the test touches the index, so
            // entry indexes are deterministic.
            crate::startup(&app).await;
            let a = app.clone();
            tokio::spawn(async move {
                let _ = crate::serve(a, listener, Some(ops), async {
                    let _ = rx.await;
                })
                .await;
            });
            (app, addr, ops_addr)
        });
        InProcess {
            addr,
            ops_addr,
            app,
            rt,
            shutdown: Some(tx),
        }
    }

    /// Run a future on the vault's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

impl<I, B> Drop for InProcess<I, B> {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// An operator's audit entry for tests that change the index directly.
pub fn operator_entry(now_ms: i64, event: obhut_core::audit::Event) -> obhut_store::NewLogEntry {
    crate::log::entry(
        now_ms,
        obhut_core::audit::Role::Operator,
        [0; 32],
        None,
        event,
    )
    .expect("audit entry")
}

/// A device enrolled over HTTP, with the current epoch of its class.
pub struct Enrolled {
    /// The device's key.
    pub device: SignKey,
    /// The custody group it seals to.
    pub group: PinnedGroup,
    /// The current epoch of its class.
    pub epoch: EpochPublic,
}

impl Enrolled {
    /// Register a custody group and a token in `vault`'s index, enrol a new
    /// device with it through `POST /v1/enrol` and fetch the current epoch
    /// of `class` through `GET /v1/epochs`, as the agent does.
    pub fn new<I: IndexStore, B: BlobStore>(
        vault: &InProcess<I, B>,
        class: &str,
        now_ms: i64,
    ) -> Self {
        let group = custody_group();
        let token = vault.block_on(create_token(&vault.app.index, &group, class, now_ms));
        Self::with_token(vault.addr, group, &token, class, now_ms)
    }

    /// Enrol a new device of `group` with `token` at the vault `addr`
    /// and fetch the current epoch of `class`.
    pub fn with_token(
        addr: SocketAddr,
        group: PinnedGroup,
        token: &str,
        class: &str,
        now_ms: i64,
    ) -> Self {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let device = SignKey::generate(&mut os_rng());
        let body = serde_json::to_vec(&serde_json::json!({
            "token": token,
            "device_key": hex::encode(device.verify_key().to_bytes()),
        }))
        .expect("JSON");
        let h = signed_headers(
            &VaultIds::ENROL,
            &device,
            false,
            "POST",
            "/v1/enrol",
            now_ms,
            &body_sha256(&body),
        );
        let r = http(addr, "POST", "/v1/enrol", &h, &body).expect("enrolling");
        assert_eq!(r.status, 200, "enrolling: {:?}", r.json());
        let e = http(addr, "GET", &format!("/v1/epochs?class={class}"), &[], &[]).expect("epochs");
        assert_eq!(e.status, 200, "epochs: {:?}", e.json());
        let public = b64
            .decode(e.json()["current"]["public"].as_str().unwrap_or(""))
            .expect("base64 epoch");
        let epoch = EpochPublic::from_bytes(&public).expect("epoch");
        Enrolled {
            device,
            group,
            epoch,
        }
    }

    /// One sealed segment of `len` random bytes, captured at `capture_ms`.
    pub fn seal(&self, capture_ms: i64, len: usize) -> Sealed {
        let mut p = vec![0u8; len];
        getrandom::fill(&mut p).expect("OS randomness");
        let mut v = seal_recording(
            &self.device,
            &self.group,
            &self.epoch,
            capture_ms,
            &[(SegmentKind::Media, p)],
            true,
        );
        v.remove(0)
    }
}
