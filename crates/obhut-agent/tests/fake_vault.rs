//! The agent against an in-process fake vault that implements the device
//! half of docs/vault.md (§2 request signatures, §3 enrolment, §4 ingest,
//! with the upload window: an upload ahead of the head waits, bounded, for
//! its predecessor) with fault injection: a connection cut mid-body, a
//! segment stored whose answer never arrives, two segments in flight cut
//! together, a vault that lost acknowledged segments, and a vault offering
//! another custody group.
//!
//! The fake checks what the real vault checks for a device: every request
//! signature (for uploads, over the framing: rid, index, Content-Length),
//! the record trailer against the path, the chain (index and prev), and
//! the blob's length and ciphertext hash, streaming the body `blob ‖
//! record` (protocol draft 2).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use obhut_agent::Error;
use obhut_agent::enrol::enrol;
use obhut_agent::ingest::{AfterIngest, Agent, IngestOptions, NoProgress, PIPELINE};
use obhut_agent::state::StateDir;
use obhut_api::ingest::{EnrolResponse, EpochJson, EpochsResponse, HeadResponse, ReceiptResponse};
use obhut_api::{ErrorBody, ErrorKind};
use obhut_core::epoch::{EpochPublic, EpochSecret};
use obhut_core::group::{self, GroupDescriptor};
use obhut_core::identity::{PersonSecret, SignKey, VerifyKey};
use obhut_core::ids::{EpochId, Fingerprint, RecordingId, SegmentRef};
use obhut_core::record::SegmentRecord;
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::{
    IngestReceipt, body_sha256, descriptor_fingerprint, request_message, segment_upload_digest,
};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const TOKEN: &str = "obhut-enrol-test";
const CLASS: &str = "bodycam-30d";

/// What the fake does to the first upload of one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Close the connection after this many body bytes of segment `index`.
    CutAfter { index: u32, bytes: usize },
    /// Close the connection inside the record trailer of segment `index`
    /// (after the whole blob and this many record bytes).
    CutInTrailer { index: u32, bytes: usize },
    /// Store segment `index`, then close without answering.
    StoreSilently { index: u32 },
    /// Hold segment `index` (its whole body received) until segment
    /// `index + 1` has arrived whole as well — two segments in flight at
    /// once — then close both connections without answering, storing
    /// segment `index` first if `store_first`.
    CutTwoInFlight { index: u32, store_first: bool },
}

/// A stored segment: record, blob, receipt.
type Stored = (SegmentRecord, Vec<u8>, Vec<u8>);

/// The vault's upload window (docs/vault.md §4), as the real one
/// (`obhut_api::ingest::UPLOAD_WINDOW`; the agent keeps as many in
/// flight). It was 2 here after the real vault's went to 4, so the agent's
/// third and fourth uploads met a smaller window than any real vault has,
/// and the tests that cut a segment passed or failed by timing.
const WINDOW: usize = 4;

struct Vault {
    /// rid hex → stored segments in index order.
    recordings: HashMap<String, Vec<Stored>>,
    fault: Option<Fault>,
    /// The fault has been applied (each applies once).
    fired: bool,
    /// CutTwoInFlight: segment index+1 arrived whole while index was held.
    second_arrived: bool,
    nonces: Vec<String>,
    /// Uploads being handled now.
    busy: usize,
    /// How long an upload ahead of the head waits for its predecessor.
    wait: Duration,
    /// The upload window (1: a vault from before the window).
    window: usize,
    /// A pause before each store (a slow disk).
    store_delay: Duration,
    /// Uploads refused as out-of-order.
    out_of_order: usize,
}

impl Default for Vault {
    fn default() -> Self {
        Vault {
            recordings: HashMap::new(),
            fault: None,
            fired: false,
            second_arrived: false,
            nonces: Vec::new(),
            busy: 0,
            wait: Duration::from_secs(3),
            window: WINDOW,
            store_delay: Duration::ZERO,
            out_of_order: 0,
        }
    }
}

struct Fake {
    url: String,
    state: Arc<Mutex<Vault>>,
    cv: Arc<Condvar>,
}

impl Fake {
    /// Cut the connection after `bytes` body bytes of segment `index`.
    fn cut_after(&self, index: u32, bytes: usize) {
        self.state.lock().unwrap().fault = Some(Fault::CutAfter { index, bytes });
    }

    /// Wait until the fake handles no upload (the agent may have abandoned
    /// some in flight; they end on their own).
    fn settle(&self) {
        let g = self.state.lock().unwrap();
        let (g, t) = self
            .cv
            .wait_timeout_while(g, Duration::from_secs(30), |v| v.busy > 0)
            .unwrap();
        assert!(!t.timed_out(), "{} uploads still busy", g.busy);
    }
}

/// Counts an upload as busy while it lives.
struct Busy(Arc<Mutex<Vault>>, Arc<Condvar>);

impl Busy {
    fn new(v: &Arc<Mutex<Vault>>, cv: &Arc<Condvar>) -> Busy {
        v.lock().unwrap().busy += 1;
        Busy(v.clone(), cv.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.busy -= 1;
        self.1.notify_all();
    }
}

struct World {
    group: GroupDescriptor,
    fingerprint: Fingerprint,
    epoch: EpochPublic,
    vault: SignKey,
}

fn world() -> World {
    let rng = &mut os_rng();
    let people: Vec<PersonSecret> = ["a", "b", "c"]
        .iter()
        .map(|n| PersonSecret::generate(n, rng))
        .collect();
    let publics: Vec<_> = people.iter().map(|p| p.public()).collect();
    let (mut d, envs) = group::deal("evidence", 2, 3, &publics, rng).unwrap();
    for (p, e) in people.iter().zip(&envs).take(2) {
        let share = e.open(p, &d).unwrap();
        group::sign_descriptor(&mut d, &share, p).unwrap();
    }
    let fingerprint = descriptor_fingerprint(&d);
    let epoch =
        EpochSecret::generate(EpochId::random(rng), rng).public(CLASS, 0, 4_102_444_800_000);
    World {
        group: d,
        fingerprint,
        epoch,
        vault: SignKey::generate(rng),
    }
}

fn respond(s: &mut TcpStream, status: u16, body: &serde_json::Value) {
    let b = body.to_string();
    let _ = write!(
        s,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
        b.len()
    );
}

/// A receipt answer, the real vault's JSON.
fn receipt_json(record: &SegmentRecord, receipt: &[u8]) -> serde_json::Value {
    let seg = record.segment_ref();
    serde_json::to_value(ReceiptResponse {
        receipt: B64.encode(receipt),
        recording_id: seg.recording.to_string(),
        index: seg.index,
        record_hash: hex::encode(record.record_hash()),
        received_utc_ms: 1,
    })
    .unwrap()
}

/// An epoch as the real vault lists it.
fn epoch_json(e: &EpochPublic) -> EpochJson {
    EpochJson {
        epoch_id: e.epoch_id.to_string(),
        not_before: e.not_before,
        not_after: e.not_after,
        public: B64.encode(e.to_bytes()),
    }
}

fn err(s: &mut TcpStream, status: u16, kind: ErrorKind) {
    let message = kind.to_string();
    respond(
        s,
        status,
        &serde_json::to_value(ErrorBody {
            error: kind,
            message,
        })
        .unwrap(),
    );
}

/// Serve one connection (keep-alive) until it closes.
fn serve(
    stream: TcpStream,
    w: Arc<World>,
    v: Arc<Mutex<Vault>>,
    cv: Arc<Condvar>,
    descriptor: Vec<u8>,
) {
    let mut out = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, val)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), val.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let h = |k: &str| headers.get(k).cloned().unwrap_or_default();
        let device_hex = h("obhut-device");
        let auth_ok = |digest: &[u8; 32]| -> bool {
            let mut dk = [0u8; 32];
            let mut sig = [0u8; 64];
            if hex::decode_to_slice(&device_hex, &mut dk).is_err()
                || hex::decode_to_slice(h("obhut-signature"), &mut sig).is_err()
            {
                return false;
            }
            let Ok(time) = h("obhut-time").parse::<i64>() else {
                return false;
            };
            let Ok(key) = VerifyKey::from_bytes(&dk, "device", "key") else {
                return false;
            };
            // As the real vault (docs/vault.md §2): an enrolment is signed
            // for no vault, everything else for this vault's receipt key.
            let vault = if path == "/v1/enrol" {
                obhut_core::vault::ENROL_VAULT
            } else {
                w.vault.verify_key().to_bytes()
            };
            let msg = request_message(&vault, &method, &path, time, &h("obhut-nonce"), digest);
            key.verify(
                obhut_core::labels::DEVICE_REQUEST_SIG,
                &msg,
                &sig,
                "request",
            )
            .is_ok()
        };
        {
            let mut g = v.lock().unwrap();
            let nonce = h("obhut-nonce");
            if nonce.len() != 32 || g.nonces.contains(&nonce) {
                drop(g);
                err(&mut out, 409, ErrorKind::ReplayedNonce);
                return;
            }
            g.nonces.push(nonce);
        }
        let upload_target = {
            let (route, query) = path.split_once('?').unwrap_or((&path, ""));
            let record_len = query
                .strip_prefix("record_len=")
                .and_then(|n| n.parse::<usize>().ok());
            let p: Vec<&str> = route.trim_start_matches('/').split('/').collect();
            match p.as_slice() {
                ["v1", "recordings", rid, "segments", i] => RecordingId::from_hex(rid)
                    .zip(i.parse::<u32>().ok())
                    .zip(record_len),
                _ => None,
            }
        };
        if method == "PUT"
            && let Some(((rid, index), record_len)) = upload_target
        {
            let Some(blob_len) = len.checked_sub(record_len) else {
                err(&mut out, 400, ErrorKind::WrongLength);
                return;
            };
            // Authenticated before a byte of the body is read.
            if !auth_ok(&segment_upload_digest(rid, index, len as u64)) {
                err(&mut out, 401, ErrorKind::BadSignature);
                return;
            }
            let _busy = Busy::new(&v, &cv);
            // The fault for this segment, if it has not fired yet.
            let fault = {
                let mut g = v.lock().unwrap();
                let f = g.fault.filter(|_| !g.fired);
                let hits = match f {
                    Some(
                        Fault::CutAfter { index: i, .. }
                        | Fault::CutInTrailer { index: i, .. }
                        | Fault::StoreSilently { index: i }
                        | Fault::CutTwoInFlight { index: i, .. },
                    ) => i == index,
                    None => false,
                };
                if hits && !matches!(f, Some(Fault::CutTwoInFlight { .. })) {
                    g.fired = true;
                }
                f.filter(|_| hits)
            };
            // Beyond the window on arrival: refused before the body is
            // read, as the real vault does (for a vault from before the
            // window, anything but the next index).
            {
                let mut g = v.lock().unwrap();
                let have = g.recordings.get(&rid.to_string()).map_or(0, Vec::len);
                if index as usize >= have + g.window {
                    g.out_of_order += 1;
                    drop(g);
                    let mut sink = vec![0u8; len];
                    if r.read_exact(&mut sink).is_err() {
                        return;
                    }
                    err(&mut out, 409, ErrorKind::OutOfOrder);
                    continue;
                }
            }
            let cut = match fault {
                Some(Fault::CutAfter { bytes, .. }) => Some(bytes),
                Some(Fault::CutInTrailer { bytes, .. }) => Some(blob_len + bytes),
                _ => None,
            };
            // CutTwoInFlight, the successor's side: arrived whole while its
            // predecessor is held; wait for the cut, then close unanswered.
            let second_of_pair = {
                let g = v.lock().unwrap();
                matches!(g.fault, Some(Fault::CutTwoInFlight { index: i, .. }) if i + 1 == index)
                    && !g.fired
            };
            // The body, blob then record, streamed.
            let mut body = Vec::new();
            let mut buf = [0u8; 8192];
            while body.len() < len {
                if cut.is_some_and(|c| body.len() >= c) {
                    // Connection cut mid-body: nothing stored.
                    let _ = out.shutdown(std::net::Shutdown::Both);
                    return;
                }
                let want = (len - body.len()).min(buf.len());
                let want = cut.map_or(want, |c| want.min(c - body.len()).max(1));
                match r.read(&mut buf[..want]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => body.extend_from_slice(&buf[..n]),
                }
            }
            if second_of_pair {
                let mut g = v.lock().unwrap();
                g.second_arrived = true;
                cv.notify_all();
                let _g = cv
                    .wait_timeout_while(g, Duration::from_secs(20), |g| !g.fired)
                    .unwrap();
                let _ = out.shutdown(std::net::Shutdown::Both);
                return;
            }
            let rec = body.split_off(blob_len);
            let blob = body;
            let Ok(record) = SegmentRecord::from_bytes(&rec) else {
                err(&mut out, 400, ErrorKind::MalformedRecord);
                continue;
            };
            if record.segment_ref()
                != (SegmentRef {
                    recording: rid,
                    index,
                })
                || hex::encode(record.header().fields.device_key.to_bytes()) != device_hex
            {
                err(&mut out, 400, ErrorKind::MalformedRecord);
                continue;
            }
            if blob.len() as u64 != record.blob_len() {
                err(&mut out, 400, ErrorKind::WrongLength);
                continue;
            }
            let mut hasher = obhut_core::segment::ciphertext_hasher();
            hasher.update(&blob);
            if hasher.finalize().as_bytes() != record.ciphertext_hash() {
                err(&mut out, 400, ErrorKind::HashMismatch);
                continue;
            }
            let seg = record.segment_ref();
            let i = seg.index as usize;
            if let Some(Fault::CutTwoInFlight { store_first, .. }) = fault {
                // Hold until the successor has arrived whole (two in
                // flight) and, as the real vault waits, the predecessor is
                // stored: its upload may still be under way.
                let rid = seg.recording.to_string();
                let g = v.lock().unwrap();
                let (mut g, t) = cv
                    .wait_timeout_while(g, Duration::from_secs(20), |g| {
                        !g.second_arrived || g.recordings.get(&rid).map_or(0, Vec::len) < i
                    })
                    .unwrap();
                assert!(!t.timed_out(), "the agent never had two segments in flight");
                if store_first {
                    let receipt = IngestReceipt::sign(&w.vault, record.record_hash(), 1).to_bytes();
                    let chain = g.recordings.entry(seg.recording.to_string()).or_default();
                    assert_eq!(chain.len(), i);
                    chain.push((record, blob, receipt));
                }
                g.fired = true;
                cv.notify_all();
                drop(g);
                let _ = out.shutdown(std::net::Shutdown::Both);
                return;
            }
            let delay = v.lock().unwrap().store_delay;
            std::thread::sleep(delay);
            let mut g = v.lock().unwrap();
            // Within the window ahead of the head: wait (bounded) for the
            // predecessor, as the real vault does.
            let deadline = Instant::now() + g.wait;
            let window = g.window;
            loop {
                let have = g
                    .recordings
                    .get(&seg.recording.to_string())
                    .map_or(0, Vec::len);
                if i <= have || i >= have + window || Instant::now() >= deadline {
                    break;
                }
                g = cv
                    .wait_timeout(g, deadline.saturating_duration_since(Instant::now()))
                    .unwrap()
                    .0;
            }
            let chain = g.recordings.entry(seg.recording.to_string()).or_default();
            let answered = record.clone();
            let (status, receipt) = if i < chain.len() {
                if chain[i].0 == record {
                    (200, chain[i].2.clone())
                } else {
                    drop(g);
                    err(&mut out, 409, ErrorKind::ChainConflict);
                    continue;
                }
            } else if i > chain.len() {
                g.out_of_order += 1;
                drop(g);
                err(&mut out, 409, ErrorKind::OutOfOrder);
                continue;
            } else {
                let prev = chain.last().map_or([0; 32], |c| c.0.record_hash());
                if *record.prev_record_hash() != prev {
                    drop(g);
                    err(&mut out, 409, ErrorKind::ChainConflict);
                    continue;
                }
                let receipt = IngestReceipt::sign(&w.vault, record.record_hash(), 1).to_bytes();
                chain.push((record, blob, receipt.clone()));
                cv.notify_all();
                (201, receipt)
            };
            drop(g);
            if matches!(fault, Some(Fault::StoreSilently { .. })) {
                let _ = out.shutdown(std::net::Shutdown::Both);
                return;
            }
            respond(&mut out, status, &receipt_json(&answered, &receipt));
            continue;
        }
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        if !auth_ok(&body_sha256(&body)) {
            err(&mut out, 401, ErrorKind::BadSignature);
            continue;
        }
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), segs.as_slice()) {
            ("POST", ["v1", "enrol"]) => {
                let j: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if j["token"] != TOKEN || j["device_key"] != device_hex {
                    err(&mut out, 401, ErrorKind::InvalidToken);
                    continue;
                }
                let offered = GroupDescriptor::from_bytes(&descriptor).unwrap();
                let answer = EnrolResponse {
                    device_key: device_hex.clone(),
                    group_id: offered.group_id().to_string(),
                    retention_class: CLASS.to_owned(),
                    descriptor: B64.encode(&descriptor),
                    fingerprint: descriptor_fingerprint(&offered).to_string(),
                    vault_key: hex::encode(w.vault.verify_key().to_bytes()),
                };
                respond(&mut out, 201, &serde_json::to_value(answer).unwrap());
            }
            ("GET", ["v1", q]) if q.starts_with("epochs?class=") => {
                respond(
                    &mut out,
                    200,
                    &serde_json::to_value(EpochsResponse {
                        class: CLASS.to_owned(),
                        current: epoch_json(&w.epoch),
                        next: epoch_json(&w.epoch),
                        covering: None,
                    })
                    .unwrap(),
                );
            }
            ("GET", ["v1", "recordings", rid, "head"]) => {
                let g = v.lock().unwrap();
                match g.recordings.get(*rid).filter(|c| !c.is_empty()) {
                    None => {
                        drop(g);
                        err(&mut out, 404, ErrorKind::UnknownRecording);
                    }
                    Some(c) => {
                        let body = serde_json::to_value(HeadResponse {
                            next_index: u32::try_from(c.len()).unwrap(),
                            head_record_hash: hex::encode(
                                c.last().map(|x| x.0.record_hash()).unwrap_or_default(),
                            ),
                        })
                        .unwrap();
                        drop(g);
                        respond(&mut out, 200, &body);
                    }
                }
            }
            ("GET", ["v1", "receipts", rid, i]) => {
                let g = v.lock().unwrap();
                let rc = i.parse::<usize>().ok().and_then(|i| {
                    g.recordings
                        .get(*rid)?
                        .get(i)
                        .map(|x| (x.0.clone(), x.2.clone()))
                });
                drop(g);
                match rc {
                    Some((record, rc)) => respond(&mut out, 200, &receipt_json(&record, &rc)),
                    None => err(&mut out, 404, ErrorKind::NotFound),
                }
            }
            _ => err(&mut out, 404, ErrorKind::NotFound),
        }
    }
}

fn start(w: &Arc<World>, descriptor: Vec<u8>) -> Fake {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let state = Arc::new(Mutex::new(Vault::default()));
    let cv = Arc::new(Condvar::new());
    let (w2, s2, c2, d2) = (w.clone(), state.clone(), cv.clone(), descriptor);
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let (w3, s3, c3, d3) = (w2.clone(), s2.clone(), c2.clone(), d2.clone());
            std::thread::spawn(move || serve(c, w3, s3, c3, d3));
        }
    });
    Fake { url, state, cv }
}

struct Device {
    key: SignKey,
    dir: tempfile::TempDir,
}

impl Device {
    fn new() -> Self {
        Device {
            key: SignKey::generate(&mut os_rng()),
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    fn enrol(&self, fake: &Fake, fpr: &Fingerprint) -> obhut_agent::Result<()> {
        let s = StateDir::open_locked(self.state())?;
        enrol(
            &s,
            &fake.url,
            TOKEN,
            &self.key,
            &self.dir.path().join("cam.key"),
            fpr,
        )
        .map(|_| ())
    }
    /// A 300 KiB non-MP4 "clip" (cut as 64 KiB byte ranges) and a sidecar.
    fn clip(&self, name: &str) -> (PathBuf, Vec<u8>) {
        let dock = self.dir.path().join("dock");
        std::fs::create_dir_all(&dock).unwrap();
        let p = dock.join(format!("{name}.mp4"));
        let data: Vec<u8> = (0..300 * 1024u32).map(|i| (i * 7 % 253) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        std::fs::write(
            dock.join(format!("{name}.json")),
            br#"{"officer":"PC 4711"}"#,
        )
        .unwrap();
        (p, data)
    }
    fn ingest(
        &self,
        p: &Path,
        after: AfterIngest,
    ) -> obhut_agent::Result<obhut_agent::ingest::Outcome> {
        self.ingest_with(p, after, 1)
    }

    /// As `ingest`, with `attempts` for transient failures, 10 ms apart.
    fn ingest_with(
        &self,
        p: &Path,
        after: AfterIngest,
        attempts: u32,
    ) -> obhut_agent::Result<obhut_agent::ingest::Outcome> {
        let s = StateDir::open_locked(self.state())?;
        let mut a = Agent::new(&s, &self.key)?;
        let mut o = IngestOptions {
            after,
            attempts,
            backoff: Duration::from_millis(10),
            ..IngestOptions::default()
        };
        o.cut.fallback_segment_bytes = 64 * 1024;
        a.ingest(p, &o, &NoProgress)
    }
}

/// A fake vault offering `w`'s group and a device enrolled with it.
fn enrolled(w: &Arc<World>) -> (Fake, Device) {
    let fake = start(w, w.group.to_bytes());
    let dev = Device::new();
    dev.enrol(&fake, &w.fingerprint).unwrap();
    (fake, dev)
}

/// The vault's chain for the only recording: records valid, chained,
/// indices 0…n−1, last final, and blob bytes as stored.
fn stored(fake: &Fake) -> Vec<(SegmentRecord, Vec<u8>)> {
    let g = fake.state.lock().unwrap();
    assert_eq!(g.recordings.len(), 1, "one recording");
    let chain = g.recordings.values().next().unwrap();
    let mut prev = [0u8; 32];
    for (i, (r, _, _)) in chain.iter().enumerate() {
        assert_eq!(r.segment_ref().index as usize, i);
        assert_eq!(*r.prev_record_hash(), prev);
        assert!(!r.is_final() || i + 1 == chain.len());
        prev = r.record_hash();
    }
    chain
        .iter()
        .map(|(r, b, _)| (r.clone(), b.clone()))
        .collect()
}

fn check_complete(fake: &Fake, len: usize) {
    let chain = stored(fake);
    // 300 KiB in 64 KiB pieces = 5 media segments, then the metadata.
    assert_eq!(chain.len(), 6);
    let media: u64 = chain[..5].iter().map(|(r, _)| r.plaintext_len()).sum();
    assert_eq!(media, len as u64);
    assert_eq!(chain[5].0.header().fields.kind, SegmentKind::Metadata);
    assert!(chain[5].0.is_final());
    for (r, b) in &chain {
        assert_eq!(b.len() as u64, r.blob_len());
    }
}

#[test]
fn enrol_then_ingest_stores_every_segment_and_deletes_only_after_receipts() {
    let w = Arc::new(world());
    let (fake, dev) = enrolled(&w);
    let (clip, data) = dev.clip("clip");
    let o = dev.ingest(&clip, AfterIngest::Delete).unwrap();
    assert_eq!((o.segments, o.uploaded), (6, 6));
    assert_eq!(o.disposed, "deleted");
    assert!(!clip.exists() && !clip.with_extension("json").exists());
    check_complete(&fake, data.len());
    // No plaintext (media or metadata) in anything the vault holds.
    let chain = stored(&fake);
    for (_, b) in &chain {
        for needle in [&data[..32], &data[100_000..100_032]] {
            assert!(!b.windows(32).any(|x| x == needle));
        }
        assert!(!b.windows(7).any(|x| x == b"PC 4711"));
    }
}

#[test]
fn a_connection_cut_mid_upload_resumes_without_duplicates() {
    let w = Arc::new(world());
    let (fake, dev) = enrolled(&w);
    let (clip, data) = dev.clip("clip");
    fake.cut_after(2, 20_000);
    let e = dev.ingest(&clip, AfterIngest::Delete).unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(
        clip.exists(),
        "the original stays until every receipt verifies"
    );
    fake.settle();
    assert_eq!(stored(&fake).len(), 2);
    let o = dev.ingest(&clip, AfterIngest::Delete).unwrap();
    assert_eq!(o.uploaded, 4);
    check_complete(&fake, data.len());
    assert!(!clip.exists());
}

#[test]
fn a_segment_stored_without_an_answer_is_recognised_at_head() {
    let w = Arc::new(world());
    let (fake, dev) = enrolled(&w);
    let (clip, data) = dev.clip("clip");
    fake.state.lock().unwrap().fault = Some(Fault::StoreSilently { index: 1 });
    assert!(dev.ingest(&clip, AfterIngest::Keep).is_err());
    // Segment 1 is stored; those behind it whose records were already
    // sent when its upload failed (at most PIPELINE − 1: abandoned by the
    // agent, stored by the vault after segment 1) are stored too, those
    // still being sealed never complete. How many depends on timing.
    fake.settle();
    let held = stored(&fake).len();
    assert!(
        (2..=(1 + PIPELINE).min(6)).contains(&held),
        "{held} segments stored"
    );
    let o = dev.ingest(&clip, AfterIngest::Keep).unwrap();
    // Their receipts were fetched, not re-uploaded.
    assert_eq!(o.uploaded, 6 - held);
    assert_eq!(o.disposed, "kept");
    assert!(clip.exists());
    check_complete(&fake, data.len());
    // Ingesting again is a no-op.
    let again = dev.ingest(&clip, AfterIngest::Keep).unwrap();
    assert_eq!(again.uploaded, 0);
    assert_eq!(again.recording, o.recording);
}

#[test]
fn a_vault_that_lost_acknowledged_segments_is_reported_and_nothing_is_wiped() {
    let w = Arc::new(world());
    let (fake, dev) = enrolled(&w);
    let (clip, _) = dev.clip("clip");
    fake.cut_after(3, 10);
    assert!(dev.ingest(&clip, AfterIngest::Delete).is_err());
    fake.settle();
    fake.state.lock().unwrap().recordings.clear();
    let e = dev.ingest(&clip, AfterIngest::Delete).unwrap_err();
    assert!(matches!(e, Error::VaultDiverged { .. }), "{e}");
    assert!(clip.exists());
}

#[test]
fn a_vault_offering_another_group_is_refused() {
    let w = Arc::new(world());
    let other = world();
    // The vault offers another (validly signed) group.
    let fake = start(&w, other.group.to_bytes());
    let dev = Device::new();
    let e = dev.enrol(&fake, &w.fingerprint).unwrap_err();
    assert!(matches!(e, Error::GroupMismatch { .. }), "{e}");
    assert!(!dev.state().join("agent.json").exists());
    assert!(!dev.state().join("group.obgd").exists());

    // The right group, but with fewer than k signatures.
    let mut unsigned = GroupDescriptor::from_bytes(&w.group.to_bytes()).unwrap();
    let one_sig = {
        let mut bytes = unsigned.signed_body();
        let s = w.group.signatures()[0];
        bytes.extend_from_slice(&1u16.to_be_bytes());
        bytes.extend_from_slice(&s.index.to_be_bytes());
        bytes.extend_from_slice(&s.signature);
        bytes
    };
    unsigned = GroupDescriptor::from_bytes(&one_sig).unwrap();
    let fake = start(&w, unsigned.to_bytes());
    let e = dev.enrol(&fake, &w.fingerprint).unwrap_err();
    assert!(matches!(e, Error::GroupNotPinned(_)), "{e}");
    assert!(!dev.state().join("agent.json").exists());
}

#[test]
fn a_changed_source_starts_a_new_recording() {
    let w = Arc::new(world());
    let (fake, dev) = enrolled(&w);
    let (clip, _) = dev.clip("clip");
    fake.cut_after(1, 10);
    assert!(dev.ingest(&clip, AfterIngest::Keep).is_err());
    fake.settle();
    std::fs::write(&clip, b"something else entirely").unwrap();
    let o = dev.ingest(&clip, AfterIngest::Keep).unwrap();
    assert_eq!(o.segments, 2);
    assert_eq!(fake.state.lock().unwrap().recordings.len(), 2);
}

/// The journal of `clip`.
fn journal(dev: &Device, clip: &Path) -> obhut_agent::journal::Journal {
    let jpath = obhut_agent::journal::Journal::path_for(&dev.state().join("journal"), clip);
    obhut_agent::journal::Journal::load(&jpath)
        .unwrap()
        .expect("a journal")
}

/// The journal's pending records for `clip`, in index order.
fn pending_records(dev: &Device, clip: &Path) -> Vec<SegmentRecord> {
    journal(dev, clip).pending_records().unwrap()
}

#[test]
fn a_cut_inside_the_record_trailer_reseals_the_segment_afresh() {
    let w = Arc::new(world());
    let (fake, dev) = enrolled(&w);
    let (clip, data) = dev.clip("clip");
    // Segment 2: the whole blob and 100 bytes of its record.
    fake.state.lock().unwrap().fault = Some(Fault::CutInTrailer {
        index: 2,
        bytes: 100,
    });
    let e = dev.ingest(&clip, AfterIngest::Delete).unwrap_err();
    assert!(e.is_transient(), "{e}");
    // The segments in flight behind it wait for it in vain and are refused.
    fake.settle();
    assert_eq!(stored(&fake).len(), 2, "a cut trailer stores nothing");
    // The record was journaled as pending before it was sent.
    let pending = pending_records(&dev, &clip);
    let pending = pending.first().expect("segment 2 pending").clone();
    assert_eq!(pending.segment_ref().index, 2);
    let o = dev.ingest(&clip, AfterIngest::Delete).unwrap();
    assert_eq!(o.uploaded, 4);
    check_complete(&fake, data.len());
    // The vault never had the pending record, so segment 2 was sealed
    // again with a fresh key: another record, another capsule.
    let chain = stored(&fake);
    let again = &chain[2].0;
    assert_ne!(again.record_hash(), pending.record_hash());
    assert_ne!(
        again.header().fields.capsule.r,
        pending.header().fields.capsule.r
    );
    assert_ne!(again.ciphertext_hash(), pending.ciphertext_hash());
    assert!(!clip.exists());
}

/// Two segments in flight (the pipeline, docs/vault.md §4) when both
/// connections are cut: with neither stored, or with the older one stored
/// but unanswered. The resumed run recognises what the vault holds by its
/// hash and re-seals the rest afresh: no duplicate, no missing segment.
#[test]
fn two_segments_in_flight_cut_together_resume_without_duplicates() {
    for store_first in [false, true] {
        let w = Arc::new(world());
        let fake = start(&w, w.group.to_bytes());
        let dev = Device::new();
        dev.enrol(&fake, &w.fingerprint).unwrap();
        let (clip, data) = dev.clip("clip");
        fake.state.lock().unwrap().fault = Some(Fault::CutTwoInFlight {
            index: 2,
            store_first,
        });
        let e = dev.ingest(&clip, AfterIngest::Delete).unwrap_err();
        assert!(e.is_transient(), "{e}");
        fake.settle();
        assert!(fake.state.lock().unwrap().fired, "two were in flight");
        let held = if store_first { 3 } else { 2 };
        assert_eq!(stored(&fake).len(), held);
        assert!(clip.exists());
        // Both cut records were journaled before they were sent.
        let cut: Vec<u32> = pending_records(&dev, &clip)
            .iter()
            .map(|r| r.segment_ref().index)
            .collect();
        assert!(cut.contains(&2) && cut.contains(&3), "{cut:?}");
        let stored_2 = stored(&fake).get(2).map(|(r, _)| r.record_hash());
        let o = dev.ingest(&clip, AfterIngest::Delete).unwrap();
        assert_eq!(o.uploaded, 6 - held, "store_first = {store_first}");
        check_complete(&fake, data.len());
        let chain = stored(&fake);
        if let Some(h) = stored_2 {
            // Recognised at /head, not sealed again.
            assert_eq!(chain[2].0.record_hash(), h);
        }
        // The journal agrees with the vault, record by record.
        let j = journal(&dev, &clip);
        assert!(j.complete && j.pending.is_empty());
        for (i, (r, _)) in chain.iter().enumerate() {
            assert_eq!(j.acked[i].record_hash, hex::encode(r.record_hash()));
        }
        assert!(!clip.exists());
    }
}

/// A cut with two segments in flight, the older one stored but never
/// answered, is reconciled within the same run (its attempts): the stored
/// one is recognised by its hash, the other sealed afresh.
#[test]
fn a_cut_mid_pipeline_is_reconciled_within_the_run() {
    let w = Arc::new(world());
    let (fake, dev) = enrolled(&w);
    let (clip, data) = dev.clip("clip");
    // Segment 1 held back until segment 2 is in flight behind it, then
    // stored and both connections cut.
    fake.state.lock().unwrap().fault = Some(Fault::CutTwoInFlight {
        index: 1,
        store_first: true,
    });
    // Retried within the run: the reconcile after the cut finds segment 1.
    let out = dev.ingest_with(&clip, AfterIngest::Keep, 3).unwrap();
    assert_eq!(out.uploaded, 5, "segment 1 recognised, not re-uploaded");
    fake.settle();
    check_complete(&fake, data.len());
}

/// A vault with a smaller window than the agent's (1: from before the
/// window; 2: draft 2 before W = 4) refuses the uploads beyond it as
/// out-of-order; the agent reconciles and carries on one segment at a
/// time, with no duplicate or missing segment.
#[test]
fn a_vault_with_a_smaller_window_gets_one_segment_at_a_time() {
    for window in [1, 2] {
        let w = Arc::new(world());
        let fake = start(&w, w.group.to_bytes());
        {
            let mut g = fake.state.lock().unwrap();
            g.window = window;
            g.store_delay = Duration::from_millis(50);
        }
        let dev = Device::new();
        dev.enrol(&fake, &w.fingerprint).unwrap();
        let (clip, data) = dev.clip("clip");
        let out = dev.ingest_with(&clip, AfterIngest::Keep, 2).unwrap();
        assert_eq!(out.uploaded, 6, "window {window}");
        fake.settle();
        assert!(
            fake.state.lock().unwrap().out_of_order >= 1,
            "pipelined first (window {window})"
        );
        check_complete(&fake, data.len());
    }
}

#[derive(Default)]
struct Counting {
    bytes: std::sync::atomic::AtomicU64,
    segments: std::sync::atomic::AtomicUsize,
}

impl obhut_agent::ingest::Progress for Counting {
    fn bytes(&self, n: u64) {
        self.bytes
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
    fn segment(&self, _index: u32, _of: usize, _already_stored: bool) {
        self.segments
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn progress_counts_every_plaintext_byte_once() {
    let w = Arc::new(world());
    let (fake, dev) = enrolled(&w);
    let (clip, data) = dev.clip("clip");
    let sidecar = std::fs::metadata(clip.with_extension("json"))
        .unwrap()
        .len();
    let s = StateDir::open_locked(dev.state()).unwrap();
    let mut a = Agent::new(&s, &dev.key).unwrap();
    let mut o = IngestOptions {
        attempts: 1,
        ..IngestOptions::default()
    };
    o.cut.fallback_segment_bytes = 64 * 1024;
    let p = Counting::default();
    a.ingest(&clip, &o, &p).unwrap();
    // One sealing pass: each plaintext byte is read (and reported) once.
    assert_eq!(
        p.bytes.load(std::sync::atomic::Ordering::Relaxed),
        data.len() as u64 + sidecar
    );
    assert_eq!(p.segments.load(std::sync::atomic::Ordering::Relaxed), 6);
    check_complete(&fake, data.len());
}

#[test]
fn a_presealed_segment_uploads_with_put_segment() {
    use obhut_agent::client::VaultClient;
    use obhut_core::device::{RecordingSealer, SegmentSpec};
    let w = Arc::new(world());
    let fake = start(&w, w.group.to_bytes());
    let key = SignKey::generate(&mut os_rng());
    let group = w.group.pin().unwrap();
    let mut sealer =
        RecordingSealer::new(&key, &group, &w.epoch, RecordingId::random(&mut os_rng()));
    let spec = SegmentSpec {
        kind: SegmentKind::Media,
        media_start_ms: 0,
        media_end_ms: 1000,
        capture_utc_ms: 1_790_000_000_000,
        is_final: false,
    };
    let mut blob = Vec::new();
    let record = sealer
        .seal_segment(spec, &[7u8; 100_000][..], &mut blob, &mut os_rng())
        .unwrap();
    let (rb, rh, len) = (record.to_bytes(), record.record_hash(), blob.len() as u64);
    let c = VaultClient::new(&fake.url, w.vault.verify_key().to_bytes(), &key).unwrap();
    let cur = |b: &Vec<u8>| std::io::Cursor::new(b.clone());
    // A record hash or blob length that is not the record's: refused here.
    assert!(c.put_segment(&rb, &[0; 32], cur(&blob), len).is_err());
    assert!(c.put_segment(&rb, &rh, cur(&blob), len + 1).is_err());
    assert!(fake.state.lock().unwrap().recordings.is_empty());
    // Sent as blob ‖ record to the record's path.
    let up = c.put_segment(&rb, &rh, cur(&blob), len).unwrap();
    assert!(!up.already_stored);
    IngestReceipt::from_bytes(&up.receipt)
        .unwrap()
        .verify_for(&w.vault.verify_key(), &rh)
        .unwrap();
    let again = c.put_segment(&rb, &rh, cur(&blob), len).unwrap();
    assert!(again.already_stored);
    assert_eq!(again.receipt, up.receipt);
    let chain = stored(&fake);
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0], (record, blob));
}
