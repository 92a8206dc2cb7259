//! `obhut-bench`: seal and open throughput of the core on real files, and
//! the raw primitives they are built from. Run through `scripts/bench`,
//! which puts openssl and age beside these figures in the same run.
//!
//! ```text
//! obhut-bench primitives BYTES THREADS
//! obhut-bench custody                    # what the post-quantum part c adds per segment
//! obhut-bench seal INPUT DIR THREADS     # seals INPUT as one recording into DIR
//! obhut-bench seal-mem BYTES THREADS    # the same, memory to sink
//! obhut-bench open DIR OUTPUT THREADS    # recovers keys (2-of-3) and opens DIR
//!                                        # (OUTPUT "-": blobs preloaded, memory to sink)
//! obhut-bench load --vault URL --data DIR --devices N --secs S [--server-pid PID]
//!                  [--period-secs 10] [--segment-bytes 1048576] [--class C]
//! obhut-bench flood --vault URL --ops URL [--connections 10000] [--secs 30]
//!                   [--server-pid PID]
//! obhut-bench log [--dir PARENT] [--unbatched 2000] [--entries 200000]
//!                 [--producers 64,1024] [--batch 1,64,1024] [--trials 200]
//!                 [--proof-entries 10000000] [--proof-samples 1000]
//! obhut-bench access [--dir target/bench-access] [--hours 10] [--segment-kib 256]
//!                    [--trials 20] [--cold-trials 0] [--wide-trials 5]
//!                    [--scope-at-secs S] [--scope-secs 60] [--wide-secs 600]
//! obhut-bench sweep [--dir PARENT] [--recordings 1000000] [--expired 10000] [--per-epoch 100]
//! obhut-bench export [--dir target/bench-export] [--obhut target/release/obhut] [--hours 10]
//!                    [--scope-secs 3600] [--segment-secs 10] [--size 320x240] [--remux-trials 3]
//!                    [--keep-recording DIR]
//! obhut-bench migrate [--dir target/bench-migrate] [--mib 256] [--segment-mib 4]
//! ```
//!
//! `load` (run through `scripts/bench-vault`) simulates N enrolled devices
//! uploading to a real `obhut serve` process: see `load.rs`; `flood` (run
//! by the same script after it) measures `/healthz` under a flood of
//! silent connections: see `flood.rs`. `log` (run
//! through `scripts/bench-log`) measures the audit log's append path,
//! integration, checkpoint latency and proofs on the embedded store: see
//! `logbench.rs`. `access` (run through `scripts/bench-access`) measures
//! last approval → first decrypted byte of a 1-minute scope in a 10-hour
//! recording, the bytes read for it and custodian CPU: see `accessbench/`.
//! `sweep` times one sweep of E expired recordings among N indexed, and
//! its peak RSS: see `sweepbench.rs`. `export` times `obhut export` of a
//! 1-hour scope from a 10-hour recording and the bytes read for it, and
//! the clean-clip remux of that window beside `ffmpeg -c copy`: see
//! `exportbench.rs`. `migrate` times `obhut migrate` of M MiB from the
//! embedded stores to PostgreSQL and an S3 bucket (SeaweedFS), by phase:
//! see `migratebench.rs`.

mod accessbench;
mod custody;
mod exportbench;
mod flood;
mod flow;
mod load;
mod logbench;
mod migratebench;
mod primitives;
mod samples;
mod scaleout;
mod sweepbench;

use std::time::Duration;

/// One measured figure, printed as a Markdown table row.
pub struct Figure {
    what: String,
    bytes: u64,
    elapsed: Duration,
    cores: usize,
}

impl Figure {
    fn new(what: &str, bytes: u64, elapsed: Duration) -> Self {
        Figure {
            what: what.to_owned(),
            bytes,
            elapsed,
            cores: 1,
        }
    }
    fn print(&self) {
        let mbps = self.bytes as f64 / self.elapsed.as_secs_f64() / 1e6;
        println!(
            "| {} | {} | {:.0} | {} MiB |",
            self.what,
            self.cores,
            mbps,
            peak_rss_mib()
        );
    }
}

/// Peak resident set size of this process so far (VmHWM), in MiB.
pub fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// "CPU model, N cores, M GiB RAM; kernel".
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / (1 << 20));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {mem_gib} GiB RAM; Linux {}",
        kernel.trim()
    )
}

/// (device, mount point, filesystem type) holding `dir`, from /proc/mounts.
pub fn filesystem(dir: &std::path::Path) -> (String, String, String) {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && dir.starts_with(f[1]))
                .then(|| (f[0].to_owned(), f[1].to_owned(), f[2].to_owned()))
        })
        .max_by_key(|(_, m, _)| m.len())
        .unwrap_or_else(|| ("?".into(), "?".into(), "?".into()))
}

/// A fresh working directory under `parent` (on the disk being measured),
/// after printing the machine and the filesystem it is on; returns it and
/// the filesystem type.
pub fn work_dir(
    parent: &std::path::Path,
    prefix: &str,
) -> std::io::Result<(tempfile::TempDir, String)> {
    std::fs::create_dir_all(parent)?;
    let work = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
    let (dev, mount, fstype) = filesystem(work.path());
    println!("machine: {}", machine());
    println!(
        "disk: {} ({dev} {fstype}, mounted at {mount})",
        work.path().display()
    );
    Ok((work, fstype))
}

fn usage() -> ! {
    eprintln!(
        "usage: obhut-bench primitives BYTES THREADS | custody | seal INPUT DIR THREADS | seal-mem BYTES THREADS | open DIR OUTPUT THREADS\n       obhut-bench load --vault URL --data DIR --devices N --secs S [--server-pid PID] [--period-secs P] [--segment-bytes B] [--class C]\n       obhut-bench log [--dir PARENT] [--unbatched N] [--entries N] [--producers C,..] [--batch B,..] [--trials N] [--proof-entries N] [--proof-samples N]\n       obhut-bench access [--dir PARENT] [--hours H] [--segment-kib K] [--trials N] [--cold-trials N] [--wide-trials N] [--scope-at-secs S] [--scope-secs S] [--wide-secs S]\n       obhut-bench sweep [--dir PARENT] [--recordings N] [--expired E] [--per-epoch P]\n       obhut-bench scaleout [--obhut BIN] [--devices N] [--segments K] [--bytes B] [--workers W] [--appends M]\n       obhut-bench export [--dir PARENT] [--obhut BIN] [--hours H] [--scope-secs S] [--segment-secs S] [--size WxH] [--remux-trials N] [--keep-recording DIR]\n       obhut-bench migrate [--dir PARENT] [--mib M] [--segment-mib S]"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |s: &str| s.parse::<u64>().unwrap_or_else(|_| usage());
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["primitives", bytes, threads] => {
            let (n, t) = (num(bytes), num(threads) as usize);
            primitives::aead_aws_lc(n, t).print();
            primitives::aead_rustcrypto(n, t).print();
            primitives::hash(n, t).print();
            primitives::aead_then_hash(n, t).print();
            Ok(())
        }
        ["custody"] => custody::overhead(),
        ["seal", input, dir, threads] => {
            flow::seal(input.as_ref(), dir.as_ref(), num(threads) as usize)
        }
        ["seal-mem", bytes, threads] => flow::seal_in_memory(num(bytes), num(threads) as usize),
        ["open", dir, output, threads] => {
            flow::open(dir.as_ref(), output.as_ref(), num(threads) as usize)
        }
        ["load", flags @ ..] => match load::LoadArgs::parse(flags) {
            Ok(a) => load::run(&a).map_err(|e| e as Box<dyn std::error::Error>),
            Err(e) => {
                eprintln!("obhut-bench load: {e}");
                usage()
            }
        },
        ["flood", flags @ ..] => match flood::FloodArgs::parse(flags) {
            Ok(a) => flood::run(&a).map_err(|e| e as Box<dyn std::error::Error>),
            Err(e) => {
                eprintln!("obhut-bench flood: {e}");
                std::process::exit(2);
            }
        },
        ["export", flags @ ..] => match exportbench::ExportArgs::parse(flags) {
            Ok(a) => exportbench::run(&a).map_err(|e| e as Box<dyn std::error::Error>),
            Err(e) => {
                eprintln!("{e}");
                usage()
            }
        },
        ["log", flags @ ..] => match logbench::LogArgs::parse(flags) {
            Ok(a) => logbench::run(&a).map_err(|e| e as Box<dyn std::error::Error>),
            Err(e) => {
                eprintln!("obhut-bench log: {e}");
                usage()
            }
        },
        ["access", flags @ ..] => match accessbench::AccessArgs::parse(flags) {
            Ok(a) => accessbench::run(&a).map_err(|e| e as Box<dyn std::error::Error>),
            Err(e) => {
                eprintln!("obhut-bench access: {e}");
                usage()
            }
        },
        ["scaleout", flags @ ..] => match scaleout::ScaleArgs::parse(flags) {
            Ok(a) => scaleout::run(&a).map_err(|e| e as Box<dyn std::error::Error>),
            Err(e) => {
                eprintln!("obhut-bench scaleout: {e}");
                usage()
            }
        },
        ["migrate", flags @ ..] => match migratebench::MigrateArgs::parse(flags) {
            Ok(a) => migratebench::run(&a).map_err(|e| e as Box<dyn std::error::Error>),
            Err(e) => {
                eprintln!("obhut-bench migrate: {e}");
                usage()
            }
        },
        ["sweep", flags @ ..] => match sweepbench::SweepArgs::parse(flags) {
            Ok(a) => sweepbench::run(&a).map_err(|e| e as Box<dyn std::error::Error>),
            Err(e) => {
                eprintln!("{e}");
                usage()
            }
        },
        _ => usage(),
    };
    if let Err(e) = result {
        eprintln!("obhut-bench: {e}");
        std::process::exit(1);
    }
}
