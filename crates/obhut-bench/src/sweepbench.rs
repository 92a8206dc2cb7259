//! `obhut-bench sweep` (issue 18): the cost of one sweep of E expired
//! recordings with N recordings indexed, to show that it follows what
//! expires and not what is stored.
//!
//! A fresh vault (the embedded stores and keystore, `--init`) in a new
//! directory under `--dir`. N recordings of one segment each are indexed
//! straight into SQLite in large transactions (the ingest path would take
//! hours at 10^6); they are spread over epochs of `--per-epoch`
//! recordings, and the first E recordings' epochs are expired. Only the
//! expiring segments have blob files (the sweep never looks at the
//! others'), each with a sealed epoch secret and a wrapping key in the file
//! holder, as the vault makes them. Then one `App::sweep_once` is timed:
//! keys destroyed, `epoch-destroyed` entries and receipts, index rows
//! moved, blobs deleted. Peak RSS is the process's high-water mark reset
//! just before the sweep (`/proc/self/clear_refs`), so it is the sweep's.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use obhut_core::ids::EpochId;
use obhut_server::App;
use obhut_server::ManualClock;
use obhut_server::config::{FileConfig, ServerConfig};
use obhut_server::embedded::{Start, open_stores};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct SweepArgs {
    /// Parent of the fresh work directory.
    pub dir: PathBuf,
    /// Recordings indexed.
    pub recordings: u64,
    /// Of them, expired.
    pub expired: u64,
    /// Recordings per epoch.
    pub per_epoch: u64,
}

impl SweepArgs {
    /// Parse `--flag value` pairs.
    pub fn parse(args: &[&str]) -> Result<Self, String> {
        let mut a = SweepArgs {
            dir: PathBuf::from("."),
            recordings: 1_000_000,
            expired: 10_000,
            per_epoch: 100,
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
                "--recordings" => a.recordings = n()?,
                "--expired" => a.expired = n()?,
                "--per-epoch" => a.per_epoch = n()?,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        if a.per_epoch == 0 || a.expired > a.recordings || !a.expired.is_multiple_of(a.per_epoch) {
            return Err("--per-epoch must be positive and divide --expired ≤ --recordings".into());
        }
        Ok(a)
    }
}

const CLASS: &str = "cctv";
const HOUR: i64 = 3_600_000;
const T0: i64 = 1_700_000_000_000 / HOUR * HOUR;
const ROWS_PER_TX: u64 = 100_000;

/// Run the benchmark and print its table row.
pub fn run(a: &SweepArgs) -> Result<(), Error> {
    let (work, _fstype) = crate::work_dir(&a.dir, "obhut-bench-sweep-")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let data = work.path().join("data");
        let keys = work.path().join("keys");
        let o = open_stores(&data, &keys, Start::Init).await?;
        let epochs = a.recordings.div_ceil(a.per_epoch);
        let expired_epochs = a.expired / a.per_epoch;
        let now = T0 + (epochs as i64 + 10) * HOUR;
        let t = Instant::now();
        let pool = o.index.pool().clone();
        let mut tx = pool.begin().await?;
        // One device and group the rows name (foreign keys).
        sqlx::query("INSERT INTO custody_groups VALUES (?, x'00', ?, 0)")
            .bind(&[7u8; 16][..])
            .bind(&[0u8; 32][..])
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO devices VALUES (?, ?, ?, 0, NULL)")
            .bind(&[9u8; 32][..])
            .bind(&[7u8; 16][..])
            .bind(CLASS)
            .execute(&mut *tx)
            .await?;
        let mut ids = Vec::new();
        for e in 0..epochs {
            let id = EpochId(id_bytes(e));
            let nb = T0 + e as i64 * HOUR;
            // Expired ones: expiry in the past; the rest far ahead.
            let expires = if e < expired_epochs { nb + 2 * HOUR } else { now + 1000 * HOUR };
            let public = if e < expired_epochs {
                let s = o.keystore.create_epoch(id)?;
                s.public(CLASS, nb, nb + HOUR).to_bytes()
            } else {
                vec![0u8; 8]
            };
            sqlx::query(
                "INSERT INTO epochs (epoch_id, retention_class, not_before, not_after, public, expires_ms) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&id.0[..])
            .bind(CLASS)
            .bind(nb)
            .bind(nb + HOUR)
            .bind(public)
            .bind(expires)
            .execute(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        let mut tx = pool.begin().await?;
        for r in 0..a.recordings {
            let rid = id_bytes(r | (1 << 60));
            let e = r / a.per_epoch;
            let capture = T0 + e as i64 * HOUR + 1;
            sqlx::query("INSERT INTO recordings VALUES (?, ?, ?, ?, ?, 1, 100, 1)")
                .bind(&rid[..])
                .bind(&[9u8; 32][..])
                .bind(&[7u8; 16][..])
                .bind(CLASS)
                .bind(capture)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO segments (recording_id, idx, record, record_hash, blob_len, capture_ms, epoch_id, received_ms, receipt) VALUES (?, 0, x'00', ?, 100, ?, ?, ?, x'00')",
            )
            .bind(&rid[..])
            .bind(&[1u8; 32][..])
            .bind(capture)
            .bind(&ids[e as usize].0[..])
            .bind(capture)
            .execute(&mut *tx)
            .await?;
            if r < a.expired {
                let dir = data.join("blobs").join(hex::encode(rid));
                std::fs::create_dir_all(&dir)?;
                std::fs::write(dir.join("0.seg"), [0u8; 100])?;
            }
            if (r + 1).is_multiple_of(ROWS_PER_TX) {
                tx.commit().await?;
                tx = pool.begin().await?;
            }
        }
        tx.commit().await?;
        println!(
            "indexed {} recordings in {} epochs ({} expired, {} recordings) in {:.1} s",
            a.recordings,
            epochs,
            expired_epochs,
            a.expired,
            t.elapsed().as_secs_f64()
        );
        let config = ServerConfig::from_layers(FileConfig {
            data: Some(data.clone()),
            keys: Some(keys.clone()),
            listen: Some("127.0.0.1:0".into()),
            epoch_period_secs: [(CLASS.to_owned(), 3600)].into(),
            retention: [(CLASS.to_owned(), "2 hours".to_owned())].into(),
            ..FileConfig::default()
        })?;
        let app = App::new(o.index, o.blobs, o.keystore, config, Arc::new(ManualClock::new(now)))
            .map_err(|e| format!("{e:?}"))?;
        // The sweep's own peak: reset the high-water mark (Linux ≥ 4.0).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let t = Instant::now();
        let report = app.sweep_once().await.map_err(|e| format!("{e:?}"))?;
        let secs = t.elapsed().as_secs_f64();
        let rss = crate::peak_rss_mib();
        if report.segments != a.expired || report.blobs != a.expired {
            return Err(format!("the sweep did not remove what expired: {report:?}").into());
        }
        println!("| recordings indexed | expired | epochs destroyed | sweep | per expired recording | peak RSS (sweep) |");
        println!("|---|---|---|---|---|---|");
        println!(
            "| {} | {} | {} | {:.2} s | {:.0} µs | {} MiB |",
            a.recordings,
            a.expired,
            report.keys_destroyed,
            secs,
            secs * 1e6 / a.expired.max(1) as f64,
            rss
        );
        app.index.close().await;
        Ok::<(), Error>(())
    })?;
    Ok(())
}

fn id_bytes(n: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[8..].copy_from_slice(&n.to_be_bytes());
    b[0] = 0x5e;
    b
}
