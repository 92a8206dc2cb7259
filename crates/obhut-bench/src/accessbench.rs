//! `obhut-bench access`: the access benchmark of issue 5 (run through
//! `scripts/bench-access`, figures in BENCHMARKS.md): time from the last
//! approval to the first decrypted byte of a 1-minute scope inside a
//! 10-hour recording, the bytes read from storage for it, and custodian CPU
//! time per approved segment.
//!
//! An in-process vault (`obhut_server::testkit::InProcess`, the real HTTP
//! server on a loopback listener, SQLite index and blob directory on the
//! real disk under `--dir`) with the system clock. Untimed setup: a 2-of-3
//! group from the real dealer ceremony, a device enrolled through
//! `POST /v1/enrol`, then ONE recording of `--hours` of media (10-second
//! media segments of `--segment-kib` each, plus a container-index segment
//! at the end, media time 0..0, as `obhut-media` cuts a progressive MP4
//! with `moov` last) sealed with `RecordingSealer` and uploaded with
//! `PUT /v1/recordings/{rid}/segments/{i}` one after the other; custodians
//! and the requester registered as readers (the requester also as
//! requester) through the store, as `obhut admin` does.
//!
//! Each trial is a fresh signed request for a 1-minute media scope
//! (`--scope-at-secs`, default the middle) approved by two custodians
//! (pairs rotate). Each custodian, as `obhut approve` does: fetches all
//! records (`GET /v1/recordings/{rid}/records`), checks every device
//! record and the chain, authenticated by the final record's signature
//! (`records_from_chain`; `custodian_partial` checks the scope's capsule
//! proofs),
//! resolves the scope (`records_in_scope`), computes `custodian_partial`,
//! POSTs the approval and PUTs the envelope. The clock starts when the last
//! envelope upload returns, then:
//!
//! - **direct**: `POST …/release`, `GrantKeys::recover`, one HTTP Range
//!   request for the first 64 KiB chunk of the first media segment in scope
//!   (`read_range` through an `FnSource`, as `obhut open --range` reads),
//!   decrypt → first byte.
//! - **as `obhut open --range`**: the CLI's order: `GET` the request and
//!   check its entry's inclusion in the log (signed checkpoint, consistency
//!   from the last one seen, inclusion proof), release, wait for and check
//!   the `released` entry's inclusion (polling as the CLI does: after
//!   5 ms, doubling up to 200 ms), resolve the scope from all records
//!   itself (fetch, signatures, chain) and compare with the released records,
//!   recover, range read → first byte.
//!
//! After the first byte, every in-scope segment is fetched whole and
//! opened with its hash check (`open_segment`): the whole scope. Bytes
//! served are counted from the blob responses' bodies; the process's
//! `read_bytes` (/proc/self/io, the vault is in this process) gives the
//! block-device reads, which are non-zero only with a cold page cache
//! (`--cold-trials`, root: `sync` and `drop_caches` before each clock
//! start). Custodian CPU is the calling thread's on-CPU time
//! (CLOCK_THREAD_CPUTIME_ID), for the 1-minute scope and for a
//! 10-minute scope (`--wide-trials`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::samples::Samples;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_core::access::{GrantKeys, records_in_scope};
use obhut_core::audit::Event;
use obhut_core::chain::records_from_chain;
use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::epoch::{EpochPublic, EpochRelease};
use obhut_core::identity::{PersonSecret, SignKey};
use obhut_core::ids::RecordingId;
use obhut_core::partial::{PartialEnvelope, custodian_partial, records_from_bytes};
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, GrantRef, RequestContent, Scope};
use obhut_core::rng::os_rng;
use obhut_core::segment::{FnSource, HEADER_LEN, SegmentKind};
use obhut_core::stream::SEALED_CHUNK_LEN;
use obhut_core::vault::body_sha256;
use obhut_log::{Hash, TrustedLog, TrustedState, VerifierKey, WitnessPolicy, leaf_hash};
use obhut_server::SystemClock;
use obhut_server::access_api::{Logged, ReleaseJson, RequestJson};
use obhut_server::config::FileConfig;
use obhut_server::log_http::{KeyResponse, ProofResponse};
use obhut_server::read::RecordsResponse;
use obhut_server::testkit::{
    HttpResponse, InProcess, Sealed, TestGroup, create_token, http, operator_entry, put_sealed,
    signed_headers,
};
use obhut_store::{AccessStore, IndexStore};

type Error = Box<dyn std::error::Error + Send + Sync>;

const CLASS: &str = "bodycam-30d";
const SEGMENT_MS: u64 = 10_000;
const DAY_MS: i64 = 86_400_000;

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct AccessArgs {
    /// Parent of the fresh work directory.
    pub dir: PathBuf,
    /// Media hours of the recording.
    pub hours: f64,
    /// Plaintext KiB per segment (media and index).
    pub segment_kib: u64,
    /// Requests per first-byte variant (warm page cache).
    pub trials: usize,
    /// Further direct-path requests with the page cache dropped first.
    pub cold_trials: usize,
    /// Requests for the wide scope.
    pub wide_trials: usize,
    /// Start of the scopes, seconds of media time.
    pub scope_at_secs: Option<u64>,
    /// Length of the narrow scope (s).
    pub scope_secs: u64,
    /// Length of the wide scope (s).
    pub wide_secs: u64,
}

impl AccessArgs {
    /// Parse `--flag value` pairs.
    pub fn parse(args: &[&str]) -> Result<Self, String> {
        let mut a = AccessArgs {
            dir: PathBuf::from("target/bench-access"),
            hours: 10.0,
            segment_kib: 256,
            trials: 20,
            cold_trials: 0,
            wide_trials: 5,
            scope_at_secs: None,
            scope_secs: 60,
            wide_secs: 600,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let n = || {
                v.parse::<u64>()
                    .map_err(|_| format!("{flag}: bad number {v:?}"))
            };
            match *flag {
                "--dir" => a.dir = PathBuf::from(v),
                "--hours" => {
                    a.hours = v
                        .parse::<f64>()
                        .map_err(|_| format!("--hours: bad number {v:?}"))?;
                }
                "--segment-kib" => a.segment_kib = n()?,
                "--trials" => a.trials = n()? as usize,
                "--cold-trials" => a.cold_trials = n()? as usize,
                "--wide-trials" => a.wide_trials = n()? as usize,
                "--scope-at-secs" => a.scope_at_secs = Some(n()?),
                "--scope-secs" => a.scope_secs = n()?,
                "--wide-secs" => a.wide_secs = n()?,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        if a.hours.is_nan()
            || a.hours <= 0.0
            || a.segment_kib == 0
            || a.trials == 0
            || a.scope_secs == 0
        {
            return Err(
                "--hours, --segment-kib, --trials and --scope-secs must be positive".into(),
            );
        }
        let media_ms = a.media_segments() * SEGMENT_MS;
        let at = a.scope_at_ms();
        if at + a.scope_secs.max(a.wide_secs) * 1000 > media_ms {
            return Err(format!(
                "the scopes ({} s and {} s from {} s) must lie within the {} s of media",
                a.scope_secs,
                a.wide_secs,
                at / 1000,
                media_ms / 1000
            ));
        }
        Ok(a)
    }

    fn media_segments(&self) -> u64 {
        ((self.hours * 3_600_000.0) as u64).div_ceil(SEGMENT_MS)
    }

    fn scope_at_ms(&self) -> u64 {
        self.scope_at_secs
            .map_or(self.media_segments() * SEGMENT_MS / 2, |s| s * 1000)
    }

    fn segment_bytes(&self) -> usize {
        (self.segment_kib * 1024) as usize
    }
}

// ---------------------------------------------------------------------------
// Measuring.

/// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID).
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Bytes this process (the vault's threads included) caused to be read
/// from the block device, from /proc/self/io.
fn read_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("read_bytes:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn col<T>(v: &[T], f: impl Fn(&T) -> Duration) -> Samples {
    Samples::new(v.iter().map(f).collect())
}

fn mib(b: u64) -> String {
    format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64)
}

// ---------------------------------------------------------------------------
// The world: a vault, a group, a device, one long recording, a requester.

struct World {
    _work: tempfile::TempDir,
    vault: InProcess,
    group: TestGroup,
    requester: PersonSecret,
    rid: RecordingId,
    records: Vec<SegmentRecord>,
    segment_bytes: usize,
    log: TrustedLog,
    log_state: Option<TrustedState>,
}

fn now_ms() -> i64 {
    obhut_server::Clock::now_ms(&SystemClock)
}

/// The plaintext of segment `index`: `len` pseudo-random bytes, reproducible
/// so that opened segments can be compared without keeping them.
fn payload(index: u32, len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (u64::from(index) << 17) ^ 0x5851_f42d;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn check(r: &HttpResponse, status: u16, what: &str) -> Result<(), Error> {
    if r.status == status {
        Ok(())
    } else {
        Err(format!(
            "{what}: HTTP {} (wanted {status}): {}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(400)])
        )
        .into())
    }
}

fn b64(s: &str) -> Result<Vec<u8>, Error> {
    Ok(B64.decode(s)?)
}

impl World {
    fn addr(&self) -> SocketAddr {
        self.vault.addr
    }

    /// A person-signed request.
    fn call(
        &self,
        key: &SignKey,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<HttpResponse, Error> {
        let h = signed_headers(key, true, method, path, now_ms(), &body_sha256(body));
        Ok(http(self.addr(), method, path, &h, body)?)
    }

    fn get_plain(&self, path: &str) -> Result<HttpResponse, Error> {
        Ok(http(self.addr(), "GET", path, &[], &[])?)
    }

    fn setup(a: &AccessArgs, work: tempfile::TempDir) -> Result<(World, Ingest), Error> {
        let vault = InProcess::start_with(
            &work.path().join("data"),
            &work.path().join("keys"),
            Arc::new(SystemClock),
            FileConfig::default(),
        );
        let group = TestGroup::new(2, 3);
        let device = SignKey::generate(&mut os_rng());
        let token = vault.block_on(create_token(
            &vault.app.index,
            &group.pinned,
            CLASS,
            now_ms(),
        ));
        let body = serde_json::to_vec(&serde_json::json!({
            "token": token,
            "device_key": hex::encode(device.verify_key().to_bytes()),
        }))?;
        let h = signed_headers(
            &device,
            false,
            "POST",
            "/v1/enrol",
            now_ms(),
            &body_sha256(&body),
        );
        check(
            &http(vault.addr, "POST", "/v1/enrol", &h, &body)?,
            200,
            "enrol",
        )?;

        // The recording is yesterday's shift: the whole of it inside one
        // epoch (the device seals a recording under one epoch key).
        let e = http(
            vault.addr,
            "GET",
            &format!("/v1/epochs?class={CLASS}"),
            &[],
            &[],
        )?;
        check(&e, 200, "epochs")?;
        let cur = &e.json()["current"];
        let (nb, na) = (
            cur["not_before"].as_i64().unwrap_or(0),
            cur["not_after"].as_i64().unwrap_or(0),
        );
        let period = na - nb;
        let media_ms = a.media_segments() * SEGMENT_MS;
        if media_ms as i64 > period {
            return Err(format!(
                "a {} h recording does not fit in one epoch of {} h; pass a smaller --hours",
                a.hours,
                period / 3_600_000
            )
            .into());
        }
        let capture0 = nb - period;
        let e = http(
            vault.addr,
            "GET",
            &format!("/v1/epochs?class={CLASS}&at={capture0}"),
            &[],
            &[],
        )?;
        check(&e, 200, "epochs?at")?;
        let epoch =
            EpochPublic::from_bytes(&b64(e.json()["covering"]["public"].as_str().unwrap_or(""))?)?;

        let rid = RecordingId::random(&mut os_rng());
        let ingest = ingest(a, &vault, &group, &device, &epoch, rid, capture0)?;

        let requester = PersonSecret::generate("investigator", &mut os_rng());
        let gid = group.pinned.group_id();
        let t = now_ms();
        for key in group
            .custodians
            .iter()
            .map(|c| &c.sign)
            .chain([&requester.sign])
        {
            let k = key.verify_key().to_bytes();
            vault.block_on(vault.app.index.add_reader(
                k,
                gid,
                t,
                &operator_entry(
                    t,
                    Event::ReaderAdded {
                        person_key: k,
                        group_id: gid,
                    },
                ),
            ))?;
        }
        let k = requester.sign.verify_key().to_bytes();
        vault.block_on(vault.app.index.add_requester(
            k,
            gid,
            t,
            &operator_entry(
                t,
                Event::RequesterAdded {
                    person_key: k,
                    name: "requester".into(),
                    group_id: gid,
                },
            ),
        ))?;

        // The log key, pinned here from the vault's own answer (a real
        // client takes it from its organisation).
        let kr = http(vault.addr, "GET", "/v1/log/key", &[], &[])?;
        check(&kr, 200, "log key")?;
        let kr: KeyResponse = serde_json::from_slice(&kr.body)?;
        let log = TrustedLog::new(
            &kr.origin,
            VerifierKey::parse(&kr.vkey).map_err(|e| format!("log key: {e}"))?,
            WitnessPolicy::none(),
        );
        let records = ingest.records.clone();
        Ok((
            World {
                _work: work,
                vault,
                group,
                requester,
                rid,
                records,
                segment_bytes: a.segment_bytes(),
                log,
                log_state: None,
            },
            ingest,
        ))
    }
}

/// What the ingest did.
struct Ingest {
    records: Vec<SegmentRecord>,
    elapsed: Duration,
    blob_bytes: u64,
}

/// Seal (one thread) and upload (this thread) the recording.
fn ingest(
    a: &AccessArgs,
    vault: &InProcess,
    group: &TestGroup,
    device: &SignKey,
    epoch: &EpochPublic,
    rid: RecordingId,
    capture0: i64,
) -> Result<Ingest, Error> {
    let media = a.media_segments();
    let n = media + 1;
    let len = a.segment_bytes();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Sealed>(8);
    let started = Instant::now();
    let sealed = std::thread::scope(|s| {
        let sealer = s.spawn(move || -> Result<(), String> {
            let mut sealer = RecordingSealer::new(device, &group.pinned, epoch, rid);
            let mut rng = os_rng();
            for i in 0..n {
                let spec = if i < media {
                    SegmentSpec {
                        kind: SegmentKind::Media,
                        media_start_ms: i * SEGMENT_MS,
                        media_end_ms: (i + 1) * SEGMENT_MS,
                        capture_utc_ms: capture0 + (i * SEGMENT_MS) as i64,
                        is_final: false,
                    }
                } else {
                    // The container index (`moov` last), written at the end.
                    SegmentSpec {
                        kind: SegmentKind::ContainerIndex,
                        media_start_ms: 0,
                        media_end_ms: 0,
                        capture_utc_ms: capture0,
                        is_final: true,
                    }
                };
                let p = payload(i as u32, len);
                let mut blob = Vec::with_capacity(len + len / 512 + 4096);
                let record = sealer
                    .seal_segment(spec, &p[..], &mut blob, &mut rng)
                    .map_err(|e| e.to_string())?;
                if tx.send(Sealed { record, blob }).is_err() {
                    return Ok(()); // the uploader failed and says why
                }
            }
            Ok(())
        });
        let mut records = Vec::with_capacity(n as usize);
        let mut bytes = 0u64;
        for s in rx {
            let r =
                put_sealed(vault.addr, device, &s, now_ms()).map_err(|e| format!("upload: {e}"))?;
            if r.status != 201 {
                return Err(format!(
                    "upload of segment {}: HTTP {}: {}",
                    s.record.segment_ref().index,
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
            }
            bytes += s.blob.len() as u64;
            records.push(s.record);
            if records.len() % 600 == 0 {
                eprintln!("  ingested {} of {n} segments", records.len());
            }
        }
        sealer
            .join()
            .map_err(|_| "the sealer panicked".to_owned())??;
        Ok((records, bytes))
    });
    let (records, blob_bytes) = sealed.map_err(Error::from)?;
    Ok(Ingest {
        records,
        elapsed: started.elapsed(),
        blob_bytes,
    })
}

// ---------------------------------------------------------------------------
// The custodian.

/// One custodian's approval, timed.
#[derive(Clone, Copy, Debug, Default)]
struct Approval {
    /// `GET …/records` (wall).
    fetch: Duration,
    /// JSON and base64, CPU.
    parse_cpu: Duration,
    /// `records_from_chain` (every record parsed, links, the final signature), CPU.
    chain_cpu: Duration,
    /// `records_in_scope`, CPU.
    scope_cpu: Duration,
    /// `custodian_partial`, CPU.
    partial_cpu: Duration,
    /// `custodian_partial`, wall.
    partial_wall: Duration,
    /// POST approval + PUT envelope (wall).
    post: Duration,
    /// Segments approved.
    segments: usize,
}

/// Fetch the records and check them as `obhut approve` and `obhut open`
/// do: signatures and the chain's structure. Returns them with timings
/// (fetch wall, parse CPU, chain CPU).
fn fetch_records(
    w: &World,
    key: &SignKey,
) -> Result<(Vec<SegmentRecord>, Duration, Duration, Duration), Error> {
    let t = Instant::now();
    let resp = w.call(
        key,
        "GET",
        &format!("/v1/recordings/{}/records", w.rid),
        &[],
    )?;
    check(&resp, 200, "records")?;
    let fetch = t.elapsed();
    let c0 = thread_cpu();
    let list: RecordsResponse = serde_json::from_slice(&resp.body)?;
    let raw = list
        .records
        .iter()
        .map(|r| b64(r))
        .collect::<Result<Vec<_>, _>>()?;
    let c1 = thread_cpu();
    // As `obhut` does: the chain's structure, authenticated by the final
    // record's signature (`records_from_chain`); the scope's capsule proofs
    // are checked by `custodian_partial` and not needed to open.
    let (records, _) = records_from_chain(&raw)?;
    let c2 = thread_cpu();
    Ok((records, fetch, c1 - c0, c2 - c1))
}

fn req_path(r: &AccessRequest, rest: &str) -> String {
    format!("/v1/requests/{}{rest}", hex::encode(r.request_hash()))
}

fn approve(w: &World, i: u16, req: &AccessRequest, grant: u64) -> Result<Approval, Error> {
    let (me, share) = w.group.custodian(i);
    let (records, fetch, parse_cpu, chain_cpu) = fetch_records(w, &me.sign)?;
    let c0 = thread_cpu();
    let in_scope: Vec<SegmentRecord> = records_in_scope(req, &records)
        .into_iter()
        .cloned()
        .collect();
    let scope_cpu = thread_cpu() - c0;
    let (c0, t0) = (thread_cpu(), Instant::now());
    let env = custodian_partial(
        me,
        share,
        &w.group.pinned,
        req,
        &GrantRef::new(grant, req),
        &in_scope,
        now_ms(),
        &mut os_rng(),
    )?
    .to_bytes();
    let (partial_cpu, partial_wall) = (thread_cpu() - c0, t0.elapsed());
    let t = Instant::now();
    let body = serde_json::to_vec(&serde_json::json!({
        "partial_hash": hex::encode(body_sha256(&env)),
        "segments": in_scope.len(),
    }))?;
    check(
        &w.call(&me.sign, "POST", &req_path(req, "/approvals"), &body)?,
        201,
        "approval",
    )?;
    check(
        &w.call(
            &me.sign,
            "PUT",
            &req_path(req, &format!("/approvals/{i}/partial")),
            &env,
        )?,
        204,
        "envelope upload",
    )?;
    Ok(Approval {
        fetch,
        parse_cpu,
        chain_cpu,
        scope_cpu,
        partial_cpu,
        partial_wall,
        post: t.elapsed(),
        segments: in_scope.len(),
    })
}

// ---------------------------------------------------------------------------
// The requester.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Direct,
    Cli,
}

/// One request, timed from the last envelope upload.
#[derive(Clone, Debug, Default)]
struct Trial {
    approvals: Vec<Approval>,
    /// Scope: segments, their ciphertext bytes.
    segments: usize,
    scope_blob_bytes: u64,
    /// CLI path: GET request + its inclusion check.
    request_check: Duration,
    /// `POST …/release` (wall, request → parsed answer).
    release: Duration,
    /// CLI path: waiting for and checking the release's inclusion.
    release_check: Duration,
    release_polls: u32,
    /// CLI path: the requester's own scope resolution (all records).
    resolve: Duration,
    /// `GrantKeys::recover`.
    recover: Duration,
    /// Range GET + decrypt of the first chunk.
    range: Duration,
    /// Clock start → first decrypted byte.
    first_byte: Duration,
    /// Bytes of blob responses for the first byte.
    first_served: u64,
    /// Block-device bytes read by the process: clock start → first byte,
    /// and during the range read alone.
    first_disk_total: u64,
    first_disk_range: u64,
    /// Whole scope: every in-scope segment fetched whole and opened.
    whole_fetch: Duration,
    whole_served: u64,
    whole_disk: u64,
    /// Clock start → keys ready (release + recover [+ checks]).
    keys_ready: Duration,
}

impl World {
    fn request(&self, from_ms: u64, len_ms: u64) -> Result<(AccessRequest, Logged), Error> {
        let mut id = [0u8; 16];
        rand_core::Rng::fill_bytes(&mut os_rng(), &mut id);
        let now = now_ms();
        let req = RequestContent {
            request_id: id,
            group_id: self.group.pinned.group_id(),
            generation: self.group.pinned.generation(),
            scope: vec![Scope::Recording {
                recording_id: self.rid,
                media_start_ms: from_ms,
                media_end_ms: from_ms + len_ms,
                include_metadata: false,
            }],
            purpose: "criminal investigation".into(),
            justification: "assault reported near the main entrance".into(),
            legal_basis: "StPO §94".into(),
            case_ref: "2026-K-0042".into(),
            recipients: vec!["public prosecutor".into()],
            created_utc_ms: now,
            expires_utc_ms: now + DAY_MS,
        }
        .sign(&self.requester)?;
        let r = self.call(
            &self.requester.sign,
            "POST",
            "/v1/requests",
            &req.to_bytes(),
        )?;
        check(&r, 201, "request")?;
        let logged: Logged = serde_json::from_slice(&r.body)?;
        Ok((req, logged))
    }

    /// The requester's log client: accept the latest checkpoint (signed,
    /// consistent with the last one accepted).
    fn log_update(&mut self) -> Result<TrustedState, Error> {
        let note = self.get_plain("/v1/log/checkpoint")?;
        check(&note, 200, "checkpoint")?;
        let sc = self
            .log
            .verify_checkpoint(&note.body)
            .map_err(|e| format!("checkpoint: {e}"))?;
        let proof = match &self.log_state {
            Some(p) if p.size > 0 && p.size < sc.checkpoint.size => {
                self.proof("consistency", "old", p.size, sc.checkpoint.size)?
            }
            _ => Vec::new(),
        };
        let next = self
            .log
            .update(self.log_state.as_ref(), &note.body, &proof)
            .map_err(|e| format!("log update: {e}"))?;
        self.log_state = Some(next.clone());
        Ok(next)
    }

    fn proof(&self, kind: &str, key: &str, index: u64, size: u64) -> Result<Vec<Hash>, Error> {
        let r = self.get_plain(&format!("/v1/log/proof/{kind}?{key}={index}&size={size}"))?;
        check(&r, 200, "proof")?;
        let p: ProofResponse = serde_json::from_slice(&r.body)?;
        p.proof
            .iter()
            .map(|h| Hash::from_base64(h).ok_or_else(|| Error::from("proof hash")))
            .collect()
    }

    /// As `obhut`'s `confirm_logged`: wait (polling after 5 ms, doubling up
    /// to 200 ms) for a
    /// checkpoint covering the entry, then check its inclusion. Returns the
    /// polls made.
    fn confirm_logged(&mut self, logged: &Logged) -> Result<u32, Error> {
        let entry = b64(&logged.entry)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut polls = 0;
        let mut pause = Duration::from_millis(5);
        let state = loop {
            polls += 1;
            let s = self.log_update()?;
            if s.size > logged.log_index {
                break s;
            }
            if Instant::now() >= deadline {
                return Err(format!("entry {} not integrated after 30 s", logged.log_index).into());
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(200));
        };
        let proof = self.proof("inclusion", "index", logged.log_index, state.size)?;
        state
            .verify_leaf_inclusion(&leaf_hash(&entry), logged.log_index, &proof)
            .map_err(|e| format!("inclusion: {e}"))?;
        Ok(polls)
    }

    /// A blob GET as the requester (optionally a byte range); the body.
    fn blob(&self, seg: u32, range: Option<(u64, u64)>) -> std::io::Result<Vec<u8>> {
        let path = format!("/v1/recordings/{}/segments/{seg}/blob", self.rid);
        let mut h = signed_headers(
            &self.requester.sign,
            true,
            "GET",
            &path,
            now_ms(),
            &body_sha256(b""),
        );
        if let Some((start, end)) = range {
            h.push(("Range".into(), format!("bytes={start}-{}", end - 1)));
        }
        let r = http(self.addr(), "GET", &path, &h, &[])?;
        if !(r.status == 200 || r.status == 206) {
            return Err(std::io::Error::other(format!(
                "blob {seg}: HTTP {}",
                r.status
            )));
        }
        Ok(r.body)
    }

    /// Everything from the clock start to the first decrypted byte, then
    /// the whole scope.
    fn open(
        &mut self,
        req: &AccessRequest,
        logged: &Logged,
        path: Route,
        t: &mut Trial,
    ) -> Result<(), Error> {
        let start = Instant::now();
        let disk0 = read_bytes();
        let hash = hex::encode(req.request_hash());
        if path == Route::Cli {
            let s = Instant::now();
            let rj = self.call(&self.requester.sign, "GET", &req_path(req, ""), &[])?;
            check(&rj, 200, "GET request")?;
            let rj: RequestJson = serde_json::from_slice(&rj.body)?;
            if AccessRequest::from_bytes(&b64(&rj.request)?)?.request_hash() != req.request_hash() {
                return Err("the vault answered another request".into());
            }
            self.confirm_logged(&rj.logged)?;
            t.request_check = s.elapsed();
        }
        let s = Instant::now();
        let rel = self.call(
            &self.requester.sign,
            "POST",
            &req_path(req, "/release"),
            &[],
        )?;
        check(&rel, 200, "release")?;
        let rel: ReleaseJson = serde_json::from_slice(&rel.body)?;
        t.release = s.elapsed();
        if path == Route::Cli {
            let s = Instant::now();
            t.release_polls = self.confirm_logged(&rel.logged)?;
            t.release_check = s.elapsed();
        }
        let shipped = records_from_bytes(
            &rel.records
                .iter()
                .map(|r| b64(r))
                .collect::<Result<Vec<_>, _>>()?,
        )?;
        let mine: Vec<SegmentRecord> = if path == Route::Cli {
            let s = Instant::now();
            let key = self.requester.sign.clone();
            let (all, ..) = fetch_records(self, &key)?;
            let mine: Vec<SegmentRecord> =
                records_in_scope(req, &all).into_iter().cloned().collect();
            let mut a: Vec<_> = mine.iter().map(SegmentRecord::record_hash).collect();
            let mut b: Vec<_> = shipped.iter().map(SegmentRecord::record_hash).collect();
            a.sort();
            b.sort();
            if a != b {
                return Err(format!(
                    "request {hash}: the vault released {} segments, the scope has {}",
                    b.len(),
                    a.len()
                )
                .into());
            }
            t.resolve = s.elapsed();
            mine
        } else {
            shipped
        };
        let s = Instant::now();
        let envelopes = rel
            .partials
            .iter()
            .map(|p| Ok(PartialEnvelope::from_bytes(&b64(p)?)?))
            .collect::<Result<Vec<_>, Error>>()?;
        let release = EpochRelease::from_bytes(&b64(&rel.release)?)?;
        let refs: Vec<&SegmentRecord> = mine.iter().collect();
        let keys = GrantKeys::recover(
            &self.group.pinned,
            req,
            &GrantRef::new(logged.log_index, req),
            &refs,
            &envelopes,
            &release,
            &self.requester,
        )?;
        t.recover = s.elapsed();
        t.keys_ready = start.elapsed();

        // The first media segment of the scope, its first chunk.
        let first = mine
            .iter()
            .filter(|r| r.header().fields.kind == SegmentKind::Media)
            .min_by_key(|r| r.segment_ref().index)
            .ok_or("no media segment in scope")?;
        let seg = first.segment_ref().index;
        let s = Instant::now();
        let disk1 = read_bytes();
        let mut served = 0u64;
        let mut out = Vec::with_capacity(1);
        {
            let mut source = FnSource(|at: u64, buf: &mut [u8]| -> std::io::Result<()> {
                let body = self.blob(seg, Some((at, at + buf.len() as u64)))?;
                served += body.len() as u64;
                if body.len() != buf.len() {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.copy_from_slice(&body);
                Ok(())
            });
            keys.read_range(first, &mut source, 0, 1, &mut out)?;
        }
        t.range = s.elapsed();
        t.first_byte = start.elapsed();
        let disk2 = read_bytes();
        t.first_disk_range = disk2 - disk1;
        t.first_disk_total = disk2 - disk0;
        t.first_served = served;
        if out[..] != payload(seg, 1)[..] {
            return Err(format!("segment {seg}: the first byte is wrong").into());
        }

        // The whole scope, as `obhut open` without --range reads it.
        let s = Instant::now();
        let disk3 = read_bytes();
        let mut plain = Vec::with_capacity(self.segment_bytes);
        for r in &mine {
            let i = r.segment_ref().index;
            let body = self.blob(i, None)?;
            t.whole_served += body.len() as u64;
            plain.clear();
            keys.open_segment(r, &body[..], &mut plain)?;
            if plain != payload(i, self.segment_bytes) {
                return Err(format!("segment {i}: plaintext differs").into());
            }
        }
        t.whole_fetch = s.elapsed();
        t.whole_disk = read_bytes() - disk3;
        t.segments = mine.len();
        t.scope_blob_bytes = mine.iter().map(SegmentRecord::blob_len).sum();
        let o = self.call(
            &self.requester.sign,
            "POST",
            &req_path(req, "/opened"),
            format!("{{\"segments\":{}}}", mine.len()).as_bytes(),
        )?;
        check(&o, 201, "opened")?;
        Ok(())
    }

    fn trial(
        &mut self,
        n: usize,
        from_ms: u64,
        len_ms: u64,
        path: Route,
        cold: bool,
    ) -> Result<Trial, Error> {
        let (req, logged) = self.request(from_ms, len_ms)?;
        let pair = [(1u16, 2u16), (2, 3), (3, 1)][n % 3];
        let mut t = Trial::default();
        for i in [pair.0, pair.1] {
            t.approvals.push(approve(self, i, &req, logged.log_index)?);
        }
        if cold {
            drop_caches()?;
        }
        self.open(&req, &logged, path, &mut t)?;
        Ok(t)
    }
}

/// `sync`, then drop the page cache, dentries and inodes (root only).
fn drop_caches() -> Result<(), Error> {
    std::process::Command::new("sync").status()?;
    std::fs::write("/proc/sys/vm/drop_caches", "3")
        .map_err(|e| format!("/proc/sys/vm/drop_caches: {e} (--cold-trials needs root)"))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Run and report.

/// Run the benchmark; prints Markdown.
pub fn run(a: &AccessArgs) -> Result<(), Error> {
    let (work, _) = crate::work_dir(&a.dir, "obhut-access-bench.")?;
    println!(
        "load average at start: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let media = a.media_segments();
    eprintln!(
        "ingesting {} media segments + 1 container index of {} KiB …",
        media, a.segment_kib
    );
    let (mut w, ing) = World::setup(a, work)?;
    let total_blob: u64 = w.records.iter().map(SegmentRecord::blob_len).sum();
    debug_assert_eq!(total_blob, ing.blob_bytes);
    println!(
        "recording: {:.1} h of media = {} media segments of 10 s + 1 container-index segment (media 0..0, last), {} KiB plaintext each; {} of ciphertext",
        a.hours,
        media,
        a.segment_kib,
        mib(total_blob)
    );
    println!(
        "ingest (untimed setup, one uploader, sealing on a second thread): {:.1} s, {:.0} MB/s",
        ing.elapsed.as_secs_f64(),
        total_blob as f64 / ing.elapsed.as_secs_f64() / 1e6
    );
    let at = a.scope_at_ms();
    let narrow = a.scope_secs * 1000;
    let wide = a.wide_secs * 1000;
    let hms = |ms: u64| {
        let s = ms / 1000;
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    println!(
        "scopes: media {}–{} ({} s) and {}–{} ({} s); 2 of 3 custodians approve each request (pairs rotate)",
        hms(at),
        hms(at + narrow),
        a.scope_secs,
        hms(at),
        hms(at + wide),
        a.wide_secs
    );

    let mut direct = Vec::new();
    let mut cli = Vec::new();
    let mut cold = Vec::new();
    let mut wides = Vec::new();
    let mut n = 0;
    for k in 0..a.trials {
        eprintln!("trial {} of {} (both paths)", k + 1, a.trials);
        direct.push(w.trial(n, at, narrow, Route::Direct, false)?);
        n += 1;
        cli.push(w.trial(n, at, narrow, Route::Cli, false)?);
        n += 1;
    }
    for k in 0..a.cold_trials {
        eprintln!("cold trial {} of {}", k + 1, a.cold_trials);
        cold.push(w.trial(n, at, narrow, Route::Direct, true)?);
        n += 1;
    }
    for k in 0..a.wide_trials {
        eprintln!("wide trial {} of {}", k + 1, a.wide_trials);
        wides.push(w.trial(n, at, wide, Route::Direct, false)?);
        n += 1;
    }
    let metrics = w.get_plain("/metrics")?;
    report(a, &w, total_blob, &direct, &cli, &cold, &wides, &metrics);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report(
    a: &AccessArgs,
    w: &World,
    total_blob: u64,
    direct: &[Trial],
    cli: &[Trial],
    cold: &[Trial],
    wides: &[Trial],
    metrics: &HttpResponse,
) {
    let seg_len = w.records[0].blob_len();
    let scope = &direct[0];
    println!();
    println!(
        "### Time to first decrypted byte ({} s scope = {} segments, from the last envelope upload's answer)",
        a.scope_secs, scope.segments
    );
    println!();
    println!("| path | requests | median ms | p95 ms | max ms | breakdown (medians, ms) |");
    println!("|---|---|---|---|---|---|");
    let row = |name: &str, v: &[Trial], cli: bool| {
        if v.is_empty() {
            return;
        }
        let fb = col(v, |t| t.first_byte);
        let mut parts = Vec::new();
        if cli {
            parts.push(format!(
                "GET request + inclusion {}",
                ms(col(v, |t| t.request_check).median())
            ));
        }
        parts.push(format!("release {}", ms(col(v, |t| t.release).median())));
        if cli {
            let polls: u32 = v.iter().map(|t| t.release_polls).sum();
            parts.push(format!(
                "release inclusion {} ({:.1} checkpoint polls)",
                ms(col(v, |t| t.release_check).median()),
                f64::from(polls) / v.len() as f64
            ));
            parts.push(format!(
                "own scope resolution (all records) {}",
                ms(col(v, |t| t.resolve).median())
            ));
        }
        parts.push(format!("recover {}", ms(col(v, |t| t.recover).median())));
        parts.push(format!(
            "range GET + decrypt {}",
            ms(col(v, |t| t.range).median())
        ));
        println!(
            "| {name} | {} | **{}** | {} | {} | {} |",
            v.len(),
            ms(fb.median()),
            ms(fb.p95()),
            ms(fb.max()),
            parts.join("; ")
        );
    };
    row(
        "direct: release, recover, Range GET of chunk 0, decrypt",
        direct,
        false,
    );
    row(
        "as `obhut open --range`: + request and release inclusion checks, own scope resolution",
        cli,
        true,
    );
    row(
        "direct, page cache dropped before the clock starts",
        cold,
        false,
    );

    println!();
    println!("### Whole scope: every in-scope segment fetched whole, opened, hash-checked");
    println!();
    println!(
        "| scope | requests | segments | ciphertext | fetch + decrypt median ms | clock start → whole scope median ms (keys + fetch + decrypt) | p95 ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    let whole = |name: &str, v: &[Trial]| {
        if v.is_empty() {
            return;
        }
        let total = col(v, |t| t.keys_ready + t.whole_fetch);
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            v.len(),
            v[0].segments,
            mib(v[0].scope_blob_bytes),
            ms(col(v, |t| t.whole_fetch).median()),
            ms(total.median()),
            ms(total.p95())
        );
    };
    whole(&format!("{} s (direct path)", a.scope_secs), direct);
    whole(&format!("{} s (direct path)", a.wide_secs), wides);

    println!();
    println!("### Bytes read from storage");
    println!();
    println!(
        "| what | blob bytes served by the vault | block-device reads (process read_bytes, warm / cold median) | scope ciphertext | recording ciphertext | served / scope | served / recording |"
    );
    println!("|---|---|---|---|---|---|---|");
    let med_u64 = |v: &[Trial], f: &dyn Fn(&Trial) -> u64| -> Option<u64> {
        let mut x: Vec<u64> = v.iter().map(f).collect();
        x.sort_unstable();
        x.get(x.len().saturating_sub(1) / 2).copied()
    };
    let disk = |f: &dyn Fn(&Trial) -> u64| {
        let warm = med_u64(direct, f).unwrap_or(0);
        match med_u64(cold, f) {
            Some(c) => format!("{warm} B / {c} B"),
            None => format!("{warm} B / (no cold trials)"),
        }
    };
    let served_fb = scope.first_served;
    println!(
        "| first byte (Range GET of chunk 0) | {served_fb} B | {} (range GET) | {} | {} | {:.4} | {:.2e} |",
        disk(&|t| t.first_disk_range),
        mib(scope.scope_blob_bytes),
        mib(total_blob),
        served_fb as f64 / scope.scope_blob_bytes as f64,
        served_fb as f64 / total_blob as f64
    );
    println!(
        "| clock start → first byte (release included) | {served_fb} B | {} | | | | |",
        disk(&|t| t.first_disk_total),
    );
    println!(
        "| whole {} s scope | {} B | {} | {} | {} | {:.3} | {:.2e} |",
        a.scope_secs,
        scope.whole_served,
        disk(&|t| t.whole_disk),
        mib(scope.scope_blob_bytes),
        mib(total_blob),
        scope.whole_served as f64 / scope.scope_blob_bytes as f64,
        scope.whole_served as f64 / total_blob as f64
    );
    println!();
    println!(
        "One chunk on the wire is {} B (64 KiB + 16 B tag) at blob offset {HEADER_LEN} (the header comes from the signed record); a segment's blob is {seg_len} B.",
        SEALED_CHUNK_LEN
    );
    let text = String::from_utf8_lossy(&metrics.body);
    let names: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("# TYPE"))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let read_metrics: Vec<&&str> = names
        .iter()
        .filter(|n| n.contains("read") || n.contains("served") || n.contains("blob"))
        .collect();
    if read_metrics.is_empty() {
        println!(
            "/metrics (HTTP {}) has no metric of bytes read or served (it exposes: {}).",
            metrics.status,
            names.join(", ")
        );
    } else {
        println!("/metrics read metrics: {read_metrics:?}");
    }

    println!();
    println!("### Custodian CPU (one approval = one custodian; calling thread's CPU time)");
    println!();
    println!(
        "| scope | approvals | segments | custodian_partial CPU median ms | per segment µs | records fetch (wall) ms | JSON + base64 CPU ms | records_from_chain CPU ms | records_in_scope CPU ms | POST approval + PUT envelope ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let cust = |name: &str, v: &[&Trial]| -> Option<(usize, Duration)> {
        let ap: Vec<Approval> = v.iter().flat_map(|t| t.approvals.iter().copied()).collect();
        if ap.is_empty() {
            return None;
        }
        let segs = ap[0].segments;
        let p = col(&ap, |x| x.partial_cpu).median();
        println!(
            "| {name} | {} | {segs} | {} | {:.0} | {} | {} | {} | {} | {} |",
            ap.len(),
            ms(p),
            p.as_secs_f64() * 1e6 / segs as f64,
            ms(col(&ap, |x| x.fetch).median()),
            ms(col(&ap, |x| x.parse_cpu).median()),
            ms(col(&ap, |x| x.chain_cpu).median()),
            ms(col(&ap, |x| x.scope_cpu).median()),
            ms(col(&ap, |x| x.post).median()),
        );
        Some((segs, p))
    };
    let narrow: Vec<&Trial> = direct.iter().chain(cli).chain(cold).collect();
    let wide: Vec<&Trial> = wides.iter().collect();
    let n1 = cust(&format!("{} s", a.scope_secs), &narrow);
    let n2 = cust(&format!("{} s", a.wide_secs), &wide);
    if let (Some((s1, p1)), Some((s2, p2))) = (n1, n2)
        && s2 > s1
    {
        let marginal = (p2.as_secs_f64() - p1.as_secs_f64()) / (s2 - s1) as f64;
        let fixed = p1.as_secs_f64() - marginal * s1 as f64;
        println!();
        println!(
            "custodian_partial: marginal {:.0} µs CPU per approved segment ({} → {} segments), fixed {:.2} ms per approval; wall/CPU {:.2} (median of the {} s approvals).",
            marginal * 1e6,
            s1,
            s2,
            fixed * 1e3,
            {
                let ap: Vec<Approval> = narrow
                    .iter()
                    .flat_map(|t| t.approvals.iter().copied())
                    .collect();
                col(&ap, |x| x.partial_wall).median().as_secs_f64()
                    / col(&ap, |x| x.partial_cpu).median().as_secs_f64()
            },
            a.scope_secs
        );
    }
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "load average at end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
