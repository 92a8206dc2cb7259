//! `obhut-bench migrate` (issue 20): the cost of `obhut migrate` per GiB,
//! SQLite + blob directory → PostgreSQL + an S3 bucket, on loopback.
//!
//! A fresh vault (the embedded stores, in-process, on an injected clock)
//! in a new directory under `--dir` takes `--mib` MiB of sealed footage
//! over HTTP in segments of `--segment-mib` MiB, sixteen to a recording,
//! and stops. A throwaway PostgreSQL cluster and a SeaweedFS `weed server
//! -s3` (the test harnesses of `obhut_store::contract`) are started, and
//! one `Migration::run` is timed, by phase: the blob copy (every byte read
//! and hashed at the source, written to the bucket), the row copy, and
//! the verification (every byte read back from the bucket and hashed,
//! every table hashed on both sides, the log folded). Everything runs on
//! this machine: the store servers compete with the migration for its
//! cores, as they would not on an operator's separate hosts.
//!
//! Beside it, in the same run, the peer: the same blob files PUT straight
//! into a fresh prefix of the same bucket, eight in flight, each written
//! once and nothing read back — what the bucket on this machine can take
//! at best. A migration stages each blob and copies it to its key (s3.rs
//! says why), and reads everything back to verify, so it cannot reach
//! that; the ratio says how far it stays from it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use obhut_core::segment::SegmentKind;
use obhut_server::ManualClock;
use obhut_server::testkit::{Enrolled, InProcess, put_sealed, seal_recording};
use obhut_store::contract::pg::TestServer;
use obhut_store::contract::s3::TestS3;
use obhut_store::dir::DirBlobStore;
use obhut_store::migrate::{Migration, Progress};
use obhut_store::sqlite::SqliteIndex;

type Error = Box<dyn std::error::Error + Send + Sync>;

const NOW: i64 = 1_790_000_000_000;

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct MigrateArgs {
    /// Parent of the fresh work directory.
    pub dir: PathBuf,
    /// Footage, in MiB.
    pub mib: u64,
    /// Segment size, in MiB.
    pub segment_mib: u64,
}

impl MigrateArgs {
    /// Parse `--flag value` pairs.
    pub fn parse(args: &[&str]) -> Result<Self, String> {
        let mut a = MigrateArgs {
            dir: PathBuf::from("target/bench-migrate"),
            mib: 256,
            segment_mib: 4,
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
                "--mib" => a.mib = n()?,
                "--segment-mib" => a.segment_mib = n()?.max(1),
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        Ok(a)
    }
}

/// When each phase began.
#[derive(Default)]
struct Phases {
    marks: Mutex<Vec<(&'static str, Instant)>>,
}

impl Progress for Phases {
    fn phase(&self, what: &'static str, _: u64, _: u64, _: bool) {
        if let Ok(mut m) = self.marks.lock() {
            m.push((what, Instant::now()));
        }
    }
    fn advance(&self, _: u64) {}
}

/// Seconds of the `blobs` phase.
fn rows_blob_secs(marks: &[(&'static str, Instant)], end: Instant) -> f64 {
    marks
        .iter()
        .position(|(w, _)| *w == "blobs")
        .map_or(0.0, |i| {
            let until = marks.get(i + 1).map_or(end, |(_, e)| *e);
            until.duration_since(marks[i].1).as_secs_f64()
        })
}

/// Every `*.seg` under `blobs`, PUT whole into `peer/` of `url`'s bucket,
/// eight at a time: (files, bytes, time).
async fn put_straight(
    blobs: &std::path::Path,
    s3: &TestS3,
    url: &str,
) -> Result<(usize, u64, Duration), Error> {
    use futures_util::{StreamExt, TryStreamExt};
    use object_store::ObjectStoreExt;
    let bucket = url
        .strip_prefix("s3://")
        .and_then(|r| r.split('/').next())
        .ok_or("bad bucket url")?;
    let mut b = object_store::aws::AmazonS3Builder::new().with_bucket_name(bucket);
    for (k, v) in s3.options() {
        b = b.with_config(k.parse()?, v);
    }
    let store = b.build()?;
    let mut files = Vec::new();
    for dir in std::fs::read_dir(blobs)? {
        let dir = dir?.path();
        if dir.is_dir() {
            for f in std::fs::read_dir(&dir)? {
                files.push(f?.path());
            }
        }
    }
    let n = files.len();
    let t = Instant::now();
    let bytes: Vec<u64> = futures_util::stream::iter(files.into_iter().enumerate())
        .map(|(i, f)| {
            let store = &store;
            async move {
                let data = tokio::fs::read(&f).await?;
                let len = data.len() as u64;
                let key = object_store::path::Path::from(format!("peer/{i}.seg"));
                store.put(&key, data.into()).await?;
                Ok::<u64, Error>(len)
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    Ok((n, bytes.iter().sum(), t.elapsed()))
}

/// Run it and print the figures.
pub fn run(a: &MigrateArgs) -> Result<(), Error> {
    let (work, _) = crate::work_dir(&a.dir, "migrate-")?;
    let root = work.path();
    let segments = (a.mib / a.segment_mib).max(1);
    let seg_bytes = usize::try_from(a.segment_mib << 20)?;
    let vault = InProcess::start(
        &root.join("data"),
        &root.join("keys"),
        Arc::new(ManualClock::new(NOW)),
        (a.segment_mib << 20) + (1 << 20),
    );
    let dev = Enrolled::new(&vault, "bench", NOW);
    let t = Instant::now();
    let mut left = segments;
    let mut r = 0i64;
    while left > 0 {
        let n = left.min(16);
        let payloads: Vec<_> = (0..n)
            // Sealing encrypts: the blobs are random whatever goes in.
            .map(|i| (SegmentKind::Media, vec![i as u8; seg_bytes]))
            .collect();
        let sealed = seal_recording(
            &dev.device,
            &dev.group,
            &dev.epoch,
            NOW + r * 100_000,
            &payloads,
            true,
        );
        for s in &sealed {
            let answer = put_sealed(vault.addr, &vault.ids(), &dev.device, s, NOW)?;
            if answer.status != 201 {
                return Err(format!("upload answered {}", answer.status).into());
            }
        }
        left -= n;
        r += 1;
    }
    println!(
        "source: {segments} segments of {} MiB in {r} recordings, ingested in {:.1} s",
        a.segment_mib,
        t.elapsed().as_secs_f64()
    );
    let index = vault.app.index.clone();
    vault.block_on(index.close());
    drop(vault);

    let pg = TestServer::shared()?;
    let s3 = TestS3::shared();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let src = SqliteIndex::open(&root.join("data/obhut.sqlite")).await?;
        let src_blobs = DirBlobStore::open(&root.join("data")).await?;
        let db = pg.database().await?;
        let url = TestS3::new_url();
        let bucket = s3.store_at(&url).await;
        let to = obhut_store::postgres::PgIndex::connect(&db.url).await?;
        let m = Migration {
            source: &src,
            source_blobs: &src_blobs,
            to_index: Some(&to),
            to_blobs: Some((&bucket, url.clone())),
        };
        let phases = Phases::default();
        let t = Instant::now();
        let report = m.run(&phases).await?;
        let total = t.elapsed();
        let marks = phases.marks.lock().map(|m| m.clone()).unwrap_or_default();
        let gib = report.bytes as f64 / f64::from(1u32 << 30);
        println!(
            "migrated {} blobs ({} MiB), {} rows, {} log entries in {:.2} s",
            report.blobs,
            report.bytes >> 20,
            report.rows,
            report.log_entries,
            total.as_secs_f64()
        );
        println!("| phase | s | s per GiB | MB/s |");
        println!("|---|---|---|---|");
        let mut rows: Vec<(&str, Duration)> = Vec::new();
        for (i, (what, at)) in marks.iter().enumerate() {
            let end = marks.get(i + 1).map_or(t + total, |(_, e)| *e);
            rows.push((what, end.duration_since(*at)));
        }
        rows.push(("whole migration", total));
        for (what, d) in rows {
            // The rows' phase moves no blob bytes: no rate of them.
            let rate = if what == "rows" {
                "-".to_owned()
            } else {
                format!("{:.0}", report.bytes as f64 / d.as_secs_f64() / 1e6)
            };
            println!(
                "| {what} | {:.2} | {:.1} | {rate} |",
                d.as_secs_f64(),
                d.as_secs_f64() / gib,
            );
        }
        let (files, bytes, took) = put_straight(&root.join("data/blobs"), s3, &url).await?;
        println!(
            "| peer: the same {files} blobs PUT straight into the bucket | {:.2} | {:.1} | {:.0} |",
            took.as_secs_f64(),
            took.as_secs_f64() / (bytes as f64 / f64::from(1u32 << 30)),
            bytes as f64 / took.as_secs_f64() / 1e6
        );
        println!(
            "blob copy / peer: {:.2}×, whole migration / peer: {:.2}×",
            rows_blob_secs(&marks, t + total) / took.as_secs_f64(),
            total.as_secs_f64() / took.as_secs_f64()
        );
        src.close().await;
        to.close().await;
        Ok::<(), Error>(())
    })?;
    println!("peak RSS: {} MiB", crate::peak_rss_mib());
    Ok(())
}
