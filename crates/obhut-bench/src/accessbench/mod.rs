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

mod report;
mod setup;

use setup::payload;

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::samples::Samples;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::access::Logged;
use obhut_api::read::RecordsResponse;
use obhut_client::access::{AccessClient, confirm_logged, logged_request};
use obhut_client::log::LogClient;
use obhut_client::open::Released;
use obhut_client::reader::Reader;
use obhut_core::access::records_in_scope;
use obhut_core::chain::records_from_chain;
use obhut_core::decision::{DecisionContent, Verdict};
use obhut_core::identity::{PersonSecret, SignKey};
use obhut_core::ids::RecordingId;
use obhut_core::partial::custodian_partial;
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, GrantRef, RequestContent, Scope};
use obhut_core::rng::os_rng;
use obhut_core::segment::{FnSource, SegmentKind};
use obhut_server::SystemClock;
use obhut_server::testkit::{HttpResponse, InProcess, TestGroup, http};

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
    /// The requester's log client (state in memory).
    log: LogClient,
}

fn now_ms() -> i64 {
    obhut_server::Clock::now_ms(&SystemClock)
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
    fn url(&self) -> String {
        format!("http://{}", self.vault.addr)
    }

    /// A client of the vault signing as `key`.
    fn client<'k>(&self, key: &'k SignKey) -> AccessClient<'k> {
        AccessClient::new(Reader::new(&self.url(), self.vault.ids().log_key, key))
    }
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
    /// POST signed approval + PUT envelope once k approved (wall).
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
    let path = format!("/v1/recordings/{}/records", w.rid);
    let t = Instant::now();
    let (status, body) = Reader::new(&w.url(), w.vault.ids().log_key, key).get_any(&path)?;
    if status != 200 {
        return Err(format!("records: HTTP {status}").into());
    }
    let fetch = t.elapsed();
    let c0 = thread_cpu();
    let list: RecordsResponse = serde_json::from_slice(&body)?;
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

/// Phase 1 of custodian `i`'s approval (its signed decision posted, as
/// `obhut approve` does, without the client's log checks) and its partial,
/// computed now and uploaded by [`deliver`] once k have approved.
fn approve(
    w: &World,
    i: u16,
    req: &AccessRequest,
    grant: u64,
) -> Result<(Approval, Vec<u8>), Error> {
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
        obhut_core::partial::Runs::in_records(&records),
        now_ms(),
        &mut os_rng(),
    )?
    .to_bytes();
    let (partial_cpu, partial_wall) = (thread_cpu() - c0, t0.elapsed());
    let t = Instant::now();
    let client = w.client(&me.sign);
    let hash = hex::encode(req.request_hash());
    let decision = DecisionContent {
        verdict: Verdict::Approve,
        vault: w.vault.ids().log_key,
        request_hash: req.request_hash(),
        request_index: grant,
        custodian: i,
        segments: u32::try_from(in_scope.len())?,
        time_ms: now_ms(),
        reason: String::new(),
    }
    .sign(&me.sign)?;
    client.approve(&hash, &decision)?;
    Ok((
        Approval {
            fetch,
            parse_cpu,
            chain_cpu,
            scope_cpu,
            partial_cpu,
            partial_wall,
            post: t.elapsed(),
            segments: in_scope.len(),
        },
        env,
    ))
}

/// Phase 2: custodian `i` uploads its partial (k approvals are logged).
fn deliver(w: &World, i: u16, req: &AccessRequest, env: &[u8]) -> Result<Duration, Error> {
    let (me, _) = w.group.custodian(i);
    let t = Instant::now();
    w.client(&me.sign)
        .upload_partial(&hex::encode(req.request_hash()), i, env)?;
    Ok(t.elapsed())
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
        let logged = self.client(&self.requester.sign).submit(&req)?;
        Ok((req, logged))
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
        let client = self.client(&self.requester.sign);
        if path == Route::Cli {
            let s = Instant::now();
            let group = self.group.pinned.descriptor();
            logged_request(&client, &self.log, &hash, Some(group), "your request")?;
            t.request_check = s.elapsed();
        }
        // As `obhut_client::open::open_as`: on the CLI path the requester's
        // own scope resolution runs while the vault makes the release.
        let (rel, resolved) = std::thread::scope(|scope| -> Result<_, Error> {
            let resolving = (path == Route::Cli).then(|| {
                scope.spawn(|| {
                    let s = Instant::now();
                    let r = obhut_client::scope::resolve(client.reader(), req);
                    (r, s.elapsed())
                })
            });
            let s = Instant::now();
            let rel = client.release(&hash)?;
            t.release = s.elapsed();
            if path == Route::Cli {
                let s = Instant::now();
                t.release_polls =
                    confirm_logged(&self.log, &rel.logged, "the release", |_| true)?.polls;
                t.release_check = s.elapsed();
            }
            let resolved = match resolving {
                Some(h) => {
                    let (r, took) = h.join().map_err(|_| "scope resolution panicked")?;
                    t.resolve = took;
                    Some(r?)
                }
                None => None,
            };
            Ok((rel, resolved))
        })?;
        let released = Released::decode(&rel)?;
        let mine: Vec<SegmentRecord> = match resolved {
            Some(resolved) => {
                let mine: Vec<SegmentRecord> =
                    resolved.iter().flat_map(|r| r.covered().cloned()).collect();
                released.check_scope(&mine.iter().collect::<Vec<_>>())?;
                mine
            }
            None => released.records.clone(),
        };
        let s = Instant::now();
        let refs: Vec<&SegmentRecord> = mine.iter().collect();
        let keys = released.recover(
            &self.group.pinned,
            req,
            logged.log_index,
            &refs,
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
        let reader = client.reader();
        let blob = |seg: u32, range: Option<(u64, u64)>| -> std::io::Result<Vec<u8>> {
            let mut body = Vec::new();
            reader
                .blob(self.rid, seg, range)
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .read_to_end(&mut body)?;
            Ok(body)
        };
        let s = Instant::now();
        let disk1 = read_bytes();
        let mut served = 0u64;
        let mut out = Vec::with_capacity(1);
        if path == Route::Cli {
            // As `obhut open --range`: the blob's group tree checked against
            // the signed hash, then whole 16 KiB groups around the chunk.
            let mut vault = obhut_client::assemble::VaultBlobs(reader);
            let mut source = obhut_client::assemble::Blobs::ranged(&mut vault, first)?;
            let mut source = FnSource(|at: u64, buf: &mut [u8]| source.read_exact_at(at, buf));
            keys.read_range(first, &mut source, 0, 1, &mut out)?;
            // Bytes served are counted on the direct path (the report's
            // table of bytes read takes its figures from there).
        } else {
            let mut source = FnSource(|at: u64, buf: &mut [u8]| -> std::io::Result<()> {
                let body = blob(seg, Some((at, at + buf.len() as u64)))?;
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
            let body = blob(i, None)?;
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
        let report = client.reader().sign_decision(DecisionContent {
            verdict: Verdict::Opened,
            vault: self.vault.ids().log_key,
            request_hash: req.request_hash(),
            request_index: logged.log_index,
            custodian: 0,
            segments: u32::try_from(mine.len())?,
            time_ms: now_ms(),
            reason: String::new(),
        })?;
        client.opened(&hash, &report)?;
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
        let mut envelopes = Vec::new();
        for i in [pair.0, pair.1] {
            let (approval, env) = approve(self, i, &req, logged.log_index)?;
            t.approvals.push(approval);
            envelopes.push((i, env));
        }
        for ((i, env), approval) in envelopes.iter().zip(&mut t.approvals) {
            approval.post += deliver(self, *i, &req, env)?;
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
    let metrics = http(w.vault.ops_addr, "GET", "/metrics", &[], &[])?;
    report::report(a, &w, total_blob, &direct, &cli, &cold, &wides, &metrics);
    Ok(())
}
