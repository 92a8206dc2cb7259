//! `obhut-bench load`: N simulated devices uploading to one real vault
//! process (issue #4), each a 1 MiB segment every 10 s.
//!
//! Everything on the wire is the device agent's own code: tokens are made
//! as `obhut admin enrol-token` makes them (`obhut-server`'s testkit over
//! the vault's SQLite index, which WAL lets a second process write while
//! the server runs), every device enrols with its own key through
//! `POST /v1/enrol` and uploads with [`VaultClient::put_segment`], so a
//! change of the upload format upstream flows through here unchanged.
//!
//! Phases, only the last one timed:
//! 1. a 2-of-3 custody group, N device keys, N one-time tokens;
//! 2. N enrolments over HTTP (a few threads);
//! 3. every segment every device will send is sealed in advance (real
//!    `RecordingSealer`, one recording per device, chained), so the
//!    client's sealing CPU does not compete with the server during the
//!    measurement;
//! 4. device d sends its k-th segment at `t0 + d·P/N + k·P` (start times
//!    spread uniformly over one period P); one tokio task per device
//!    sleeps until then and hands the upload to a blocking thread (ureq is
//!    synchronous), so every device uploads on time whatever the others
//!    do. Latency = `put_segment` call → 201 and receipt received.
//!
//! The server's peak RSS is its `VmHWM` (/proc/PID/status), sampled at the
//! end, so it covers the whole process lifetime (start a fresh server for
//! each N); its CPU time over the timed phase comes from /proc/PID/stat.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use obhut_agent::client::VaultClient;
use obhut_api::ErrorKind;
use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::epoch::EpochPublic;
use obhut_core::group::PinnedGroup;
use obhut_core::identity::{SignKey, VerifyKey};
use obhut_core::ids::RecordingId;
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::IngestReceipt;

use crate::peak_rss_mib;
use crate::samples::percentile;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Settings of one load run.
#[derive(Debug, Clone)]
pub struct LoadArgs {
    /// Vault base URL (`http://127.0.0.1:PORT`).
    pub vault: String,
    /// The vault's data directory (for the enrolment tokens).
    pub data: PathBuf,
    /// Simulated devices.
    pub devices: usize,
    /// Length of the timed phase (whole periods).
    pub secs: u64,
    /// Seconds between two uploads of one device.
    pub period_secs: u64,
    /// Plaintext bytes per segment.
    pub segment_bytes: usize,
    /// PID of the `obhut serve` process, for its RSS and CPU.
    pub server_pid: Option<u32>,
    /// Retention class of the tokens.
    pub class: String,
}

impl LoadArgs {
    /// Parse `--flag value` pairs.
    pub fn parse(args: &[&str]) -> Result<Self, String> {
        let mut a = LoadArgs {
            vault: String::new(),
            data: PathBuf::new(),
            devices: 10,
            secs: 60,
            period_secs: 10,
            segment_bytes: 1 << 20,
            server_pid: None,
            class: "bench-load".into(),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let num = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{flag}: not a number"))
            };
            match *flag {
                "--vault" => a.vault = (*v).to_owned(),
                "--data" => a.data = PathBuf::from(v),
                "--devices" => a.devices = num(v)? as usize,
                "--secs" => a.secs = num(v)?,
                "--period-secs" => a.period_secs = num(v)?,
                "--segment-bytes" => a.segment_bytes = num(v)? as usize,
                "--server-pid" => a.server_pid = Some(num(v)? as u32),
                "--class" => a.class = (*v).to_owned(),
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        if a.vault.is_empty() || a.data.as_os_str().is_empty() {
            return Err("--vault URL and --data DIR are required".into());
        }
        if a.devices == 0 || a.period_secs == 0 || a.secs < a.period_secs {
            return Err("need --devices ≥ 1 and --secs ≥ --period-secs ≥ 1".into());
        }
        Ok(a)
    }
}

/// One segment sealed ahead of time.
struct Presealed {
    record: Vec<u8>,
    record_hash: [u8; 32],
    blob: Vec<u8>,
}

/// A simulated device after enrolment.
struct Device {
    client: VaultClient<'static>,
    vault_key: VerifyKey,
}

/// What one upload did.
struct Sample {
    /// Start of the upload relative to t0.
    started: Duration,
    /// How late it started against its schedule (client lag).
    late: Duration,
    latency: Duration,
    bytes: u64,
    outcome: Result<(), String>,
}

/// Run the benchmark and print one Markdown row (header from the script).
pub fn run(a: &LoadArgs) -> Result<(), Error> {
    let n = a.devices;
    let per_device = (a.secs / a.period_secs) as usize;
    let need = n * per_device * (a.segment_bytes + 4096);
    if let Some(avail) = mem_available()
        && need as u64 > avail / 10 * 7
    {
        return Err(format!(
            "pre-sealing {n}×{per_device} segments needs {} MiB, more than 70% of the {} MiB available: lower the duration",
            need >> 20,
            avail >> 20
        )
        .into());
    }

    // 1. Group, keys, tokens.
    let t = Instant::now();
    let group = obhut_server::testkit::custody_group();
    let keys: Vec<&'static SignKey> = (0..n)
        .map(|_| &*Box::leak(Box::new(SignKey::generate(&mut os_rng()))))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tokens = rt.block_on(async {
        let (index, _blobs) = obhut_store::open_embedded_shared(&a.data).await?;
        let now = obhut_server::Clock::now_ms(&obhut_server::SystemClock);
        let mut tokens = Vec::with_capacity(n);
        for _ in 0..n {
            tokens.push(obhut_server::testkit::create_token(&index, &group, &a.class, now).await);
        }
        index.close().await;
        Ok::<_, Error>(tokens)
    })?;
    drop(rt);
    eprintln!("load: {n} tokens in {:.1} s", t.elapsed().as_secs_f64());

    // 2. Enrolment over HTTP, a few at a time.
    let t = Instant::now();
    let devices = enrol_all(a, &keys, &tokens, &group)?;
    eprintln!(
        "load: {n} devices enrolled in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let epochs = devices[0].client.epochs(&a.class)?;

    // 3. Seal every segment in advance.
    let t = Instant::now();
    let plan = preseal(a, &keys, &group, &epochs, per_device)?;
    eprintln!(
        "load: {} segments of {} bytes sealed in advance in {:.1} s",
        n * per_device,
        a.segment_bytes,
        t.elapsed().as_secs_f64()
    );

    // 4. The timed phase.
    let cpu_before = a.server_pid.and_then(cpu_ticks);
    let (samples, window) = drive(a, devices, plan)?;
    let cpu_after = a.server_pid.and_then(cpu_ticks);
    report(a, per_device, &samples, window, cpu_before.zip(cpu_after));
    Ok(())
}

fn enrol_all(
    a: &LoadArgs,
    keys: &[&'static SignKey],
    tokens: &[String],
    group: &PinnedGroup,
) -> Result<Vec<Device>, Error> {
    let fingerprint = obhut_core::vault::descriptor_fingerprint(group);
    let next = AtomicUsize::new(0);
    let mut out: Vec<Option<Device>> = (0..keys.len()).map(|_| None).collect();
    let results = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| -> Result<Vec<(usize, Device)>, String> {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(key) = keys.get(i) else {
                            return Ok(done);
                        };
                        let enrolling =
                            VaultClient::new(&a.vault, obhut_core::vault::ENROL_VAULT, key)
                                .map_err(|e| e.to_string())?;
                        let answer = enrolling
                            .enrol(&tokens[i])
                            .map_err(|e| format!("enrolling device {i}: {e}"))?;
                        // The device pins the group as the agent does.
                        obhut_agent::enrol::check_descriptor(&answer.descriptor, &fingerprint)
                            .map_err(|e| format!("device {i}: {e}"))?;
                        let vault_key =
                            VerifyKey::from_bytes(&answer.vault_key, "vault key", "vault_key")
                                .map_err(|e| e.to_string())?;
                        // From now on signed for the vault it pinned.
                        let client = VaultClient::new(&a.vault, answer.vault_key, key)
                            .map_err(|e| e.to_string())?;
                        done.push((i, Device { client, vault_key }));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("enrol thread panicked".into()))
            })
            .collect::<Vec<_>>()
    });
    for r in results {
        for (i, d) in r? {
            out[i] = Some(d);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// The epoch covering `t`.
fn epoch_for(epochs: &[EpochPublic], t: i64) -> Result<&EpochPublic, Error> {
    epochs
        .iter()
        .find(|e| e.not_before <= t && t < e.not_after)
        .ok_or_else(|| format!("the vault offers no epoch covering {t}").into())
}

/// Seal `per_device` chained segments for every device, on every core.
fn preseal(
    a: &LoadArgs,
    keys: &[&'static SignKey],
    group: &PinnedGroup,
    epochs: &[EpochPublic],
    per_device: usize,
) -> Result<Vec<Vec<Presealed>>, Error> {
    let mut plaintext = vec![0u8; a.segment_bytes];
    rand_core::Rng::fill_bytes(&mut os_rng(), &mut plaintext);
    let now = obhut_server::Clock::now_ms(&obhut_server::SystemClock);
    let period_ms = a.period_secs as i64 * 1000;
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut out: Vec<Option<Vec<Presealed>>> = (0..keys.len()).map(|_| None).collect();
    let results = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<Vec<(usize, Vec<Presealed>)>, String> {
                    let mut rng = os_rng();
                    let mut done = Vec::new();
                    loop {
                        let d = next.fetch_add(1, Ordering::Relaxed);
                        let Some(key) = keys.get(d) else {
                            return Ok(done);
                        };
                        let rid = RecordingId::random(&mut rng);
                        let mut segs = Vec::with_capacity(per_device);
                        let mut last: Option<obhut_core::record::SegmentRecord> = None;
                        for k in 0..per_device {
                            let capture = now + k as i64 * period_ms;
                            let epoch = epoch_for(epochs, capture).map_err(|e| e.to_string())?;
                            // A new sealer per segment (resuming from the
                            // last record) so each may use its own epoch.
                            let mut sealer = match &last {
                                None => RecordingSealer::new(key, group, epoch, rid),
                                Some(l) => RecordingSealer::resume(key, group, epoch, l)
                                    .map_err(|e| e.to_string())?,
                            };
                            let spec = SegmentSpec {
                                kind: SegmentKind::Media,
                                media_start_ms: k as u64 * period_ms as u64,
                                media_end_ms: (k as u64 + 1) * period_ms as u64,
                                capture_utc_ms: capture,
                                is_final: k + 1 == per_device,
                            };
                            let mut blob = Vec::with_capacity(a.segment_bytes + 4096);
                            let record = sealer
                                .seal_segment(spec, &plaintext[..], &mut blob, &mut rng)
                                .map_err(|e| e.to_string())?;
                            segs.push(Presealed {
                                record: record.to_bytes(),
                                record_hash: record.record_hash(),
                                blob,
                            });
                            last = Some(record);
                        }
                        done.push((d, segs));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("seal thread panicked".into()))
            })
            .collect::<Vec<_>>()
    });
    for r in results {
        for (d, segs) in r? {
            out[d] = Some(segs);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// The timed phase: one task per device on a small runtime, uploads on
/// blocking threads. Returns the samples and the window (t0 → last answer).
fn drive(
    a: &LoadArgs,
    devices: Vec<Device>,
    plan: Vec<Vec<Presealed>>,
) -> Result<(Vec<Sample>, Duration), Error> {
    let n = devices.len();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .max_blocking_threads(n + 16)
        .build()?;
    let period = Duration::from_secs(a.period_secs);
    let samples = rt.block_on(async move {
        let t0 = tokio::time::Instant::now() + Duration::from_millis(500);
        let tasks: Vec<_> = devices
            .into_iter()
            .zip(plan)
            .enumerate()
            .map(|(d, (device, segs))| {
                let first = t0 + period.mul_f64(d as f64 / n as f64);
                tokio::spawn(device_task(Arc::new(device), segs, t0, first, period))
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap_or_default());
        }
        all
    });
    let window = samples
        .iter()
        .map(|s| s.started + s.latency)
        .max()
        .unwrap_or_default();
    Ok((samples, window))
}

/// One device: segment k is due at `first + k·period`.
async fn device_task(
    device: Arc<Device>,
    segs: Vec<Presealed>,
    t0: tokio::time::Instant,
    first: tokio::time::Instant,
    period: Duration,
) -> Vec<Sample> {
    let mut out = Vec::with_capacity(segs.len());
    let mut failed = false;
    for (k, seg) in segs.into_iter().enumerate() {
        let due = first + period * k as u32;
        tokio::time::sleep_until(due).await;
        let now = tokio::time::Instant::now();
        let bytes = (seg.record.len() + seg.blob.len()) as u64;
        if failed {
            // The chain is broken: later segments would be out of order.
            // Counted, not sent.
            out.push(Sample {
                started: now - t0,
                late: Duration::ZERO,
                latency: Duration::ZERO,
                bytes,
                outcome: Err("not sent (an earlier upload of the device failed)".into()),
            });
            continue;
        }
        let dev = device.clone();
        let (latency, outcome) = tokio::task::spawn_blocking(move || upload(&dev, seg))
            .await
            .unwrap_or_else(|_| (Duration::ZERO, Err("upload thread panicked".into())));
        failed = outcome.is_err();
        out.push(Sample {
            started: now - t0,
            late: now - due,
            latency,
            bytes,
            outcome,
        });
    }
    out
}

/// One upload through the agent's client (the only place that knows its
/// signature): the time from the call to the receipt, and whether a fresh
/// receipt verifying under the vault key came back.
fn upload(dev: &Device, seg: Presealed) -> (Duration, Result<(), String>) {
    let start = Instant::now();
    let blob_len = seg.blob.len() as u64;
    let r = dev.client.put_segment(
        &seg.record,
        &seg.record_hash,
        Cursor::new(seg.blob),
        blob_len,
    );
    let latency = start.elapsed();
    let outcome = match r {
        Ok(up) if up.already_stored => Err("200 already stored".to_owned()),
        Ok(up) => IngestReceipt::from_bytes(&up.receipt)
            .and_then(|rc| rc.verify_for(&dev.vault_key, &seg.record_hash))
            .map_err(|_| "receipt does not verify".to_owned()),
        Err(e) => Err(error_kind(&e)),
    };
    (latency, outcome)
}

/// A short name for an upload error: the vault's status and kind, or the
/// transport failure.
fn error_kind(e: &obhut_agent::Error) -> String {
    match e {
        obhut_agent::Error::Vault { status, kind, .. } => format!(
            "{status} {}",
            kind.as_ref().map_or("unknown", ErrorKind::as_str)
        ),
        obhut_agent::Error::Transport { source, .. } => {
            let s = source.to_string();
            let s = s.split(':').next().unwrap_or("").trim();
            format!("transport: {s}")
        }
        other => {
            let s = other.to_string();
            s.chars().take(60).collect()
        }
    }
}

fn report(
    a: &LoadArgs,
    per_device: usize,
    samples: &[Sample],
    window: Duration,
    cpu: Option<(u64, u64)>,
) {
    let mut lat: Vec<Duration> = samples
        .iter()
        .filter(|s| s.outcome.is_ok())
        .map(|s| s.latency)
        .collect();
    lat.sort();
    let ok = lat.len();
    let bytes: u64 = samples
        .iter()
        .filter(|s| s.outcome.is_ok())
        .map(|s| s.bytes)
        .sum();
    let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
    for s in samples {
        if let Err(e) = &s.outcome {
            *errors.entry(e.as_str()).or_default() += 1;
        }
    }
    let errors = if errors.is_empty() {
        "0".to_owned()
    } else {
        errors
            .iter()
            .map(|(k, v)| format!("{v}× {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let max_late = samples.iter().map(|s| s.late).max().unwrap_or_default();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let server_rss = a
        .server_pid
        .and_then(|p| status_kb(p, "VmHWM:"))
        .map_or_else(|| "?".to_owned(), |kb| format!("{} MiB", kb / 1024));
    let server_cpu = cpu.map_or_else(
        || "?".to_owned(),
        // USER_HZ is 100 on Linux.
        |(b, e)| {
            format!(
                "{:.1}%",
                (e - b) as f64 / 100.0 / window.as_secs_f64() * 100.0
            )
        },
    );
    println!(
        "| {} | {}/{} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {:.1} ms / {} MiB |",
        a.devices,
        ok,
        a.devices * per_device,
        bytes as f64 / window.as_secs_f64() / 1e6,
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
        errors,
        server_rss,
        server_cpu,
        ms(max_late),
        peak_rss_mib(),
    );
}

fn mem_available() -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// A `kB` field of /proc/PID/status.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        let a = LoadArgs::parse(&[
            "--vault",
            "http://127.0.0.1:1",
            "--data",
            "d",
            "--devices",
            "100",
            "--secs",
            "30",
        ])
        .unwrap();
        assert_eq!((a.devices, a.secs, a.period_secs), (100, 30, 10));
        assert!(LoadArgs::parse(&["--vault", "x"]).is_err());
        assert!(LoadArgs::parse(&["--devices"]).is_err());
    }
}
