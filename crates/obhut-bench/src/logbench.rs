//! `obhut-bench log`: the audit log's append path on the embedded store
//! (issue 6; run through `scripts/bench-log`, figures in BENCHMARKS.md).
//!
//! Everything runs against a fresh SQLite index (WAL, `synchronous=FULL`,
//! as the vault opens it) in a new temporary directory under `--dir`, on
//! the real disk. Entries are `SegmentReceived` events, the commonest kind,
//! built with [`LogEntry`] and [`NewLogEntry::new`] (encoding + leaf hash).
//!
//! 1. **Unbatched**: N entries, each in its own `log_append(&[e])` (one
//!    transaction, one WAL fsync each): the baseline.
//! 2. **Batched**: C producer tasks submit entries through a [`Batcher`]
//!    (mpsc → one task that drains up to B waiting entries and sequences
//!    them with one `log_append(&batch)`, answering each producer with its
//!    index), so concurrent appends share one transaction and one fsync.
//! 3. **Integration and checkpoint latency**: `LogService::integrate` over
//!    everything (2) sequenced; then single entries, each appended and then
//!    integrated (append returned → signed checkpoint covering it); then
//!    the batched run again with the server's integrator loop beside it,
//!    each producer waiting for a checkpoint covering its entry.
//! 4. **Proofs at 10^7** (`--proof-entries`): a fresh index, entries
//!    sequenced in transactions of 100,000, integrated; inclusion and
//!    consistency proofs generated from the stored tiles
//!    (`prove_inclusion`, `prove_consistency`) and verified against roots
//!    computed independently here (`obhut_log::verify_*`); DB size per
//!    entry.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::samples::Samples;
use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::ids::RecordingId;
use obhut_log::{CompactRange, Hash, SignedCheckpoint, verify_consistency, verify_inclusion};
use obhut_server::log::{LogService, prove_consistency, prove_inclusion};
use obhut_store::sqlite::SqliteIndex;
use obhut_store::{LogStore, NewLogEntry};
use tokio::sync::{mpsc, oneshot};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct LogArgs {
    /// Parent of the fresh work directory (default: the current directory).
    pub dir: PathBuf,
    /// Entries of the unbatched baseline (and of batch-limit-1 rows).
    pub unbatched: usize,
    /// Entries per batched row.
    pub entries: usize,
    /// Producer counts of the batched rows.
    pub producers: Vec<usize>,
    /// Batch limits of the batched rows.
    pub batches: Vec<usize>,
    /// Single-entry checkpoint-latency trials.
    pub trials: usize,
    /// Entries of the proof section (0: skip it).
    pub proof_entries: u64,
    /// Proofs of each kind sampled there.
    pub proof_samples: usize,
}

impl LogArgs {
    /// Parse `--flag value` pairs.
    pub fn parse(args: &[&str]) -> Result<Self, String> {
        let mut a = LogArgs {
            dir: PathBuf::from("."),
            unbatched: 2_000,
            entries: 200_000,
            producers: vec![64, 1024],
            batches: vec![1, 64, 1024],
            trials: 200,
            proof_entries: 10_000_000,
            proof_samples: 1_000,
        };
        let list = |v: &str| -> Result<Vec<usize>, String> {
            v.split(',')
                .map(|x| x.trim().parse().map_err(|_| format!("bad list {v:?}")))
                .collect()
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
                "--unbatched" => a.unbatched = n()? as usize,
                "--entries" => a.entries = n()? as usize,
                "--producers" => a.producers = list(v)?,
                "--batch" => a.batches = list(v)?,
                "--trials" => a.trials = n()? as usize,
                "--proof-entries" => a.proof_entries = n()?,
                "--proof-samples" => a.proof_samples = n()? as usize,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        if a.unbatched == 0
            || a.entries == 0
            || a.trials == 0
            || a.proof_samples == 0
            || a.producers.contains(&0)
            || a.batches.contains(&0)
        {
            return Err("counts must be positive".into());
        }
        Ok(a)
    }
}

// ---------------------------------------------------------------------------
// The batcher.

type Reply = oneshot::Sender<Result<u64, String>>;

/// Group commit for the audit log: producers hand entries to one task,
/// which sequences whatever is waiting (up to `max_batch`) in one
/// `log_append`, i.e. one transaction and one fsync, and answers each
/// producer with its entry's index once the transaction is durable.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<(NewLogEntry, Reply)>,
}

/// What a batcher did, for the table.
#[derive(Debug, Default, Clone, Copy)]
pub struct BatchStats {
    /// `log_append` calls (transactions).
    pub transactions: u64,
    /// Entries sequenced.
    pub entries: u64,
    /// Largest batch.
    pub largest: usize,
    /// Time spent inside `log_append` (the store's share of the run).
    pub busy: Duration,
}

impl Batcher {
    /// Start the batcher task over `index`; `after` runs after each durable
    /// batch (e.g. waking the integrator). The task ends, returning its
    /// statistics, when every `Batcher` clone is dropped.
    pub fn spawn<I: LogStore>(
        index: Arc<I>,
        max_batch: usize,
        after: impl Fn() + Send + 'static,
    ) -> (Self, tokio::task::JoinHandle<BatchStats>) {
        let (tx, mut rx) = mpsc::channel::<(NewLogEntry, Reply)>(max_batch.max(1024));
        let task = tokio::spawn(async move {
            let mut stats = BatchStats::default();
            let mut waiting = Vec::with_capacity(max_batch);
            let mut entries = Vec::with_capacity(max_batch);
            // recv_many waits for one and takes whatever else is queued.
            while rx.recv_many(&mut waiting, max_batch).await > 0 {
                let replies: Vec<Reply> = waiting
                    .drain(..)
                    .map(|(e, r)| {
                        entries.push(e);
                        r
                    })
                    .collect();
                let t = Instant::now();
                let r = index.log_append(&entries).await;
                stats.busy += t.elapsed();
                stats.transactions += 1;
                stats.entries += entries.len() as u64;
                stats.largest = stats.largest.max(entries.len());
                entries.clear();
                if r.is_ok() {
                    after();
                }
                for (i, reply) in replies.into_iter().enumerate() {
                    let _ = reply.send(match &r {
                        Ok(first) => Ok(first + i as u64),
                        Err(e) => Err(e.to_string()),
                    });
                }
            }
            stats
        });
        (Batcher { tx }, task)
    }

    /// Sequence `entry`; returns its index once its batch is durable.
    pub async fn append(&self, entry: NewLogEntry) -> Result<u64, Error> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((entry, reply))
            .await
            .map_err(|_| "the batcher stopped")?;
        Ok(answer.await.map_err(|_| "the batcher dropped an entry")??)
    }
}

// ---------------------------------------------------------------------------
// Entries, statistics, the machine.

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// SplitMix64: deterministic sample positions, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The `SegmentReceived` entry of segment `seg` of device `device`'s
/// recording: what the vault logs for every upload.
fn segment_entry(device: u64, seg: u32) -> NewLogEntry {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&device.to_be_bytes());
    let mut rec = [0u8; 16];
    rec[..8].copy_from_slice(&device.to_be_bytes());
    let mut h = blake3::Hasher::new();
    h.update(&device.to_be_bytes()).update(&seg.to_be_bytes());
    let now = now_ms();
    NewLogEntry::new(&LogEntry {
        time_ms: now,
        actor: Actor {
            role: Role::Device,
            key,
        },
        recording: Some(RecordingId(rec)),
        event: Event::SegmentReceived {
            index: seg,
            record_hash: *h.finalize().as_bytes(),
            blob_len: 4 << 20,
            capture_utc_ms: now - 60_000,
        },
    })
    .expect("a SegmentReceived entry is far below the size limit")
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn rate(n: u64, d: Duration) -> String {
    format!("{:.0}", n as f64 / d.as_secs_f64())
}

/// Bytes of `obhut.sqlite` and its `-wal` and `-shm` files.
fn db_bytes(db: &Path) -> (u64, u64) {
    let len = |suffix: &str| {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        std::fs::metadata(PathBuf::from(p)).map_or(0, |m| m.len())
    };
    (len(""), len("-wal") + len("-shm"))
}

fn log_service() -> Result<LogService, Error> {
    let key = obhut_core::identity::SignKey::generate(&mut obhut_core::rng::os_rng());
    Ok(LogService::new(
        obhut_server::log::default_origin(&key),
        &key,
        &[],
    )?)
}

// ---------------------------------------------------------------------------
// The measurements.

/// One appends row.
struct AppendRow {
    what: String,
    producers: usize,
    batch: usize,
    entries: u64,
    elapsed: Duration,
    stats: BatchStats,
    latency: Samples,
    /// Append returned → a checkpoint covering the entry (with integrator).
    to_checkpoint: Option<Samples>,
}

impl AppendRow {
    fn print(&self) {
        let mean = self.stats.entries as f64 / self.stats.transactions.max(1) as f64;
        println!(
            "| {} | {} | {} | {} | {:.2} | **{}** | {} ({:.1} / {}) | {:.2} s, {:.1} µs/entry | {} / {} |{}",
            self.what,
            self.producers,
            self.batch,
            self.entries,
            self.elapsed.as_secs_f64(),
            rate(self.entries, self.elapsed),
            self.stats.transactions,
            mean,
            self.stats.largest,
            self.stats.busy.as_secs_f64(),
            self.stats.busy.as_secs_f64() * 1e6 / self.stats.entries.max(1) as f64,
            ms(self.latency.median()),
            ms(self.latency.p99()),
            self.to_checkpoint
                .as_ref()
                .map_or(String::new(), |s| format!(
                    " {} / {} |",
                    ms(s.median()),
                    ms(s.p99())
                )),
        );
    }
}

/// N entries, one `log_append` each.
async fn unbatched(index: &SqliteIndex, n: usize) -> Result<AppendRow, Error> {
    let mut lat = Vec::with_capacity(n);
    let t = Instant::now();
    for i in 0..n {
        let e = segment_entry(u64::MAX, i as u32);
        let t0 = Instant::now();
        index.log_append(std::slice::from_ref(&e)).await?;
        lat.push(t0.elapsed());
    }
    let elapsed = t.elapsed();
    let busy = lat.iter().sum();
    Ok(AppendRow {
        what: "unbatched: one `log_append(&[e])` per entry, sequential".into(),
        producers: 1,
        batch: 1,
        entries: n as u64,
        elapsed,
        stats: BatchStats {
            transactions: n as u64,
            entries: n as u64,
            largest: 1,
            busy,
        },
        latency: Samples::new(lat),
        to_checkpoint: None,
    })
}

/// `total` entries from `producers` tasks through a batcher of `batch`;
/// with `log`, the server's integrator loop runs beside it and every
/// producer also waits for a checkpoint covering its entry.
async fn batched(
    index: &Arc<SqliteIndex>,
    producers: usize,
    batch: usize,
    total: usize,
    log: Option<Arc<LogService>>,
) -> Result<AppendRow, Error> {
    let wake = log.clone();
    let (batcher, task) = Batcher::spawn(index.clone(), batch, move || {
        if let Some(l) = &wake {
            l.wake();
        }
    });
    let integrator = log.clone().map(|log| {
        let index = index.clone();
        // As `obhut serve`'s run_integrator: integrate, then wait for a
        // wake-up (or a second).
        tokio::spawn(async move {
            loop {
                if let Err(e) = log.integrate(&*index, now_ms()).await {
                    eprintln!("integrator: {e}");
                }
                tokio::select! {
                    () = log.woken() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    });
    let per = total / producers;
    let extra = total % producers;
    let t = Instant::now();
    let mut tasks = Vec::with_capacity(producers);
    for p in 0..producers {
        let b = batcher.clone();
        let log = log.clone();
        let n = per + usize::from(p < extra);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            let mut cover = Vec::new();
            let mut seen = log.as_ref().map(|l| l.subscribe());
            for k in 0..n {
                let e = segment_entry(p as u64, k as u32);
                let t0 = Instant::now();
                let idx = b.append(e).await?;
                let t1 = Instant::now();
                lat.push(t1 - t0);
                if let Some(rx) = seen.as_mut() {
                    rx.wait_for(|cp| cp.as_ref().is_some_and(|c| c.size > idx))
                        .await
                        .map_err(|_| "the log service stopped")?;
                    cover.push(t1.elapsed());
                }
            }
            Ok::<_, Error>((lat, cover))
        }));
    }
    drop(batcher);
    let mut lat = Vec::with_capacity(total);
    let mut cover = Vec::new();
    for t in tasks {
        let (l, c) = t.await??;
        lat.extend(l);
        cover.extend(c);
    }
    let elapsed = t.elapsed();
    let stats = task.await?;
    if let Some(i) = integrator {
        i.abort();
        let _ = i.await;
    }
    let what = if log.is_some() {
        "batched, integrator running (`obhut serve`'s loop)"
    } else {
        "batched: producers → batcher → `log_append(&batch)`"
    };
    Ok(AppendRow {
        what: what.into(),
        producers,
        batch,
        entries: total as u64,
        elapsed,
        stats,
        latency: Samples::new(lat),
        to_checkpoint: log.map(|_| Samples::new(cover)),
    })
}

async fn appends_and_checkpoints(a: &LogArgs, work: &Path) -> Result<(), Error> {
    let db = work.join("append").join("obhut.sqlite");
    std::fs::create_dir_all(db.parent().ok_or("no parent")?)?;
    let index = Arc::new(SqliteIndex::open(&db).await?);

    println!("\n## Appends: SegmentReceived entries, fresh index\n");
    println!(
        "| path | producers | batch limit | entries | seconds | appends/s | transactions (mean / largest batch) | inside `log_append` | append latency p50 / p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    unbatched(&index, a.unbatched).await?.print();
    let mut best_batched: Option<(usize, usize, f64)> = None;
    for &batch in &a.batches {
        for &producers in &a.producers {
            // Batch limit 1 is the fsync-bound baseline whatever the
            // producers (run once, with the fewest); a limit above the
            // producer count cannot be reached (each producer has one
            // entry in flight).
            if batch == 1 && producers != *a.producers.iter().min().unwrap_or(&1) {
                continue;
            }
            if batch > producers && batch > 1 {
                continue;
            }
            let total = if batch == 1 { a.unbatched } else { a.entries };
            let row = batched(&index, producers, batch, total, None).await?;
            row.print();
            let r = row.entries as f64 / row.elapsed.as_secs_f64();
            if best_batched.is_none_or(|b| r > b.2) {
                best_batched = Some((producers, batch, r));
            }
        }
    }
    let sequenced = index.log_sequenced().await?;

    println!("\n## Integration and checkpoint latency\n");
    println!("| what | figure |");
    println!("|---|---|");
    let log = Arc::new(log_service()?);
    let t = Instant::now();
    let size = log.integrate(&*index, now_ms()).await?.unwrap_or(0);
    let d = t.elapsed();
    println!(
        "| `LogService::integrate` of {sequenced} sequenced entries ({} checkpoint(s) of ≤ {}: leaf hashes read, tiles written, checkpoint signed, one transaction each) | {:.2} s, **{} entries/s** |",
        sequenced.div_ceil(u64::from(obhut_server::log::MAX_BATCH)),
        obhut_server::log::MAX_BATCH,
        d.as_secs_f64(),
        rate(size, d)
    );

    let mut append_lat = Vec::with_capacity(a.trials);
    let mut cp_lat = Vec::with_capacity(a.trials);
    for i in 0..a.trials {
        let e = segment_entry(u64::MAX - 1, i as u32);
        let t0 = Instant::now();
        let idx = index.log_append(std::slice::from_ref(&e)).await?;
        let t1 = Instant::now();
        let size = log.integrate(&*index, now_ms()).await?.unwrap_or(0);
        let t2 = Instant::now();
        if size <= idx {
            return Err(format!("checkpoint of {size} does not cover entry {idx}").into());
        }
        append_lat.push(t1 - t0);
        cp_lat.push(t2 - t1);
    }
    let (append_lat, cp_lat) = (Samples::new(append_lat), Samples::new(cp_lat));
    println!(
        "| single entry: `log_append` (one transaction), median / p99 over {} trials | {} / {} ms |",
        a.trials,
        ms(append_lat.median()),
        ms(append_lat.p99())
    );
    println!(
        "| single entry: checkpoint latency, `log_append` returned → `integrate` returned with a signed checkpoint covering it, median / p99 | **{} / {} ms** |",
        ms(cp_lat.median()),
        ms(cp_lat.p99())
    );

    // The batched path again, with the integrator loop beside it.
    let (producers, batch) = best_batched.map_or((64, 64), |b| (b.0, b.1));
    println!("\n## Appends with the integrator running\n");
    println!(
        "| path | producers | batch limit | entries | seconds | appends/s | transactions (mean / largest batch) | inside `log_append` | append latency p50 / p99 ms | append returned → covering checkpoint p50 / p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let checkpoints_before = checkpoint_count(&index).await?;
    batched(&index, producers, batch, a.entries, Some(log.clone()))
        .await?
        .print();
    let checkpoints = checkpoint_count(&index).await? - checkpoints_before;
    println!("\ncheckpoints signed during that run: {checkpoints}");

    let (main, wal) = db_bytes(&db);
    let n = index.log_sequenced().await?;
    index.close().await;
    let (after, _) = db_bytes(&db);
    println!(
        "index after this section: {n} entries, {main} B + {wal} B WAL/shm while open, {after} B closed ({:.0} B per entry)",
        after as f64 / n.max(1) as f64
    );
    Ok(())
}

async fn checkpoint_count(index: &SqliteIndex) -> Result<i64, Error> {
    sqlx_count(index, "SELECT COUNT(*) FROM log_checkpoints").await
}

async fn sqlx_count(index: &SqliteIndex, q: &'static str) -> Result<i64, Error> {
    Ok(sqlx::query_scalar::<_, i64>(q)
        .fetch_one(index.pool())
        .await?)
}

async fn proofs(a: &LogArgs, work: &Path) -> Result<(), Error> {
    let n = a.proof_entries;
    const TX: u64 = 100_000;
    let db = work.join("proofs").join("obhut.sqlite");
    std::fs::create_dir_all(db.parent().ok_or("no parent")?)?;
    let index = SqliteIndex::open(&db).await?;
    let mut rng = Rng(0x6f62_6875_742d_6c6f);

    // Sample positions, chosen before sequencing so the leaves and the old
    // roots can be kept on the way (roots computed here, independently of
    // the store, with a compact range of our own).
    let mut leaves: Vec<u64> = (0..a.proof_samples).map(|_| rng.below(n)).collect();
    leaves.sort_unstable();
    let mut olds: Vec<u64> = (0..a.proof_samples).map(|_| 1 + rng.below(n - 1)).collect();
    olds.sort_unstable();
    olds.dedup();
    let mut leaf_hashes: Vec<(u64, Hash)> = Vec::with_capacity(leaves.len());
    let mut old_roots: Vec<(u64, Hash)> = Vec::with_capacity(olds.len());
    let (mut li, mut oi) = (0, 0);
    let mut cr = CompactRange::new();

    println!("\n## Proofs at {n} entries\n");
    eprintln!("log: sequencing {n} entries in transactions of {TX} ...");
    let mut append_time = Duration::ZERO;
    let t_all = Instant::now();
    let mut next = 0u64;
    while next < n {
        let m = TX.min(n - next);
        let batch: Vec<NewLogEntry> = (next..next + m)
            .map(|i| segment_entry(i / 1000, (i % 1000) as u32))
            .collect();
        for (j, e) in batch.iter().enumerate() {
            let i = next + j as u64;
            cr.append(Hash(e.leaf_hash));
            while li < leaves.len() && leaves[li] == i {
                leaf_hashes.push((i, Hash(e.leaf_hash)));
                li += 1;
            }
            while oi < olds.len() && olds[oi] == i + 1 {
                old_roots.push((i + 1, cr.root()));
                oi += 1;
            }
        }
        let t = Instant::now();
        let first = index.log_append(&batch).await?;
        append_time += t.elapsed();
        if first != next {
            return Err(format!("sequenced at {first}, expected {next}").into());
        }
        next += m;
        if (next / TX).is_multiple_of(10) {
            eprintln!(
                "log: {next} sequenced, {:.0} s",
                t_all.elapsed().as_secs_f64()
            );
        }
    }
    let seq_all = t_all.elapsed();
    let (main_seq, wal_seq) = db_bytes(&db);

    eprintln!("log: integrating ...");
    let log = log_service()?;
    let t = Instant::now();
    let size = log.integrate(&index, now_ms()).await?.unwrap_or(0);
    let integrate = t.elapsed();
    if size != n {
        return Err(format!("integrated to {size}, expected {n}").into());
    }
    let cp = index.log_checkpoint().await?.ok_or("no checkpoint")?;
    let signed = SignedCheckpoint::open(&cp.note, &log.verifier_key())
        .map_err(|e| format!("the checkpoint does not verify: {e}"))?;
    let root = signed.checkpoint.root;
    if root != cr.root() || signed.checkpoint.size != n {
        return Err("the signed root differs from the independently computed one".into());
    }

    eprintln!("log: proofs ...");
    let (mut inc_len, mut inc_gen, mut inc_ver) = (vec![], vec![], vec![]);
    for (i, leaf) in &leaf_hashes {
        let t = Instant::now();
        let proof = prove_inclusion(&index, *i, n).await?;
        inc_gen.push(t.elapsed());
        let t = Instant::now();
        let ok = verify_inclusion(leaf, *i, n, &proof, &root);
        inc_ver.push(t.elapsed());
        ok.map_err(|e| format!("inclusion proof of {i} does not verify: {e}"))?;
        inc_len.push(proof.len() * 32);
    }
    let (mut con_len, mut con_gen, mut con_ver) = (vec![], vec![], vec![]);
    for (old, old_root) in &old_roots {
        let t = Instant::now();
        let proof = prove_consistency(&index, *old, n).await?;
        con_gen.push(t.elapsed());
        let t = Instant::now();
        let ok = verify_consistency(*old, n, old_root, &root, &proof);
        con_ver.push(t.elapsed());
        ok.map_err(|e| format!("consistency proof from {old} does not verify: {e}"))?;
        con_len.push(proof.len() * 32);
    }
    inc_len.sort_unstable();
    con_len.sort_unstable();
    let sizes = |v: &[usize]| {
        format!(
            "{} / {} / {}",
            v.first().unwrap_or(&0),
            v[v.len() / 2],
            v.last().unwrap_or(&0)
        )
    };

    let tiles = sqlx_count(&index, "SELECT COUNT(*) FROM log_tiles").await?;
    let checkpoints = sqlx_count(&index, "SELECT COUNT(*) FROM log_checkpoints").await?;
    let (main_open, wal_open) = db_bytes(&db);
    index.close().await;
    let (closed, wal_closed) = db_bytes(&db);

    println!("| what | figure |");
    println!("|---|---|");
    println!(
        "| sequencing {n} entries, `log_append` of {TX} per transaction | {:.1} s in `log_append` ({} entries/s); {:.1} s with building the entries |",
        append_time.as_secs_f64(),
        rate(n, append_time),
        seq_all.as_secs_f64()
    );
    println!(
        "| `LogService::integrate` of all {n} ({checkpoints} checkpoints, {tiles} tile rows) | {:.1} s, {} entries/s |",
        integrate.as_secs_f64(),
        rate(n, integrate)
    );
    println!(
        "| DB size on disk, closed (WAL checkpointed) | {closed} B = **{:.0} B per entry** ({wal_closed} B WAL/shm left) |",
        closed as f64 / n as f64
    );
    println!(
        "| DB size after sequencing / after integration, open | {main_seq} + {wal_seq} WAL/shm B / {main_open} + {wal_open} WAL/shm B |"
    );
    println!();
    println!(
        "| proof ({} samples) | bytes min / median / max | generate from the store µs, median / p99 | verify µs, median / p99 |",
        a.proof_samples
    );
    println!("|---|---|---|---|");
    let (g, v) = (Samples::new(inc_gen), Samples::new(inc_ver));
    println!(
        "| inclusion of a random entry in {n} | {} | {} / {} | {} / {} |",
        sizes(&inc_len),
        us(g.median()),
        us(g.p99()),
        us(v.median()),
        us(v.p99())
    );
    let (g, v) = (Samples::new(con_gen), Samples::new(con_ver));
    println!(
        "| consistency from a random size to {n} ({} sizes) | {} | {} / {} | {} / {} |",
        old_roots.len(),
        sizes(&con_len),
        us(g.median()),
        us(g.p99()),
        us(v.median()),
        us(v.p99())
    );
    Ok(())
}

/// Run every section; prints Markdown.
pub fn run(a: &LogArgs) -> Result<(), Error> {
    let (work, fstype) = crate::work_dir(&a.dir, "obhut-log-bench.")?;
    if fstype == "tmpfs" || fstype == "ramfs" {
        eprintln!("warning: {fstype} has no real fsync; pass --dir on a disk");
    }
    println!(
        "store: SqliteIndex (WAL, synchronous=FULL), entries: SegmentReceived, {} B encoded",
        segment_entry(1, 1).body.len()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        appends_and_checkpoints(a, work.path()).await?;
        if a.proof_entries > 1 {
            proofs(a, work.path()).await?;
        }
        Ok::<_, Error>(())
    })?;
    Ok(())
}
