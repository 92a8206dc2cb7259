//! Prometheus metrics (docs/vault.md §7, every one listed with its
//! meaning in docs/operations.md §9), one registry per server (no
//! process globals, so tests can run several servers in one process).
//!
//! Store latency is timed where the server calls the store
//! ([`Metrics::timed`]), per operation kind, not inside obhut-store: the
//! store crate stays free of any one exporter, and the operations timed
//! are the ones an operator's latency budget is made of (ingest's staging,
//! fsync and publication, reads, the log's batches, the sweep's deletes).

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label of the error counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The error kind (`chain-conflict`, …).
    pub kind: String,
}

/// Label of the connection metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    /// `api` or `ops`.
    pub listener: String,
}

/// Label of the acknowledgement counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AckLabel {
    /// `created` (first upload, 201) or `repeat` (a retry answered from
    /// the stored receipt, 200).
    pub status: &'static str,
}

/// Label of the witness counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WitnessLabel {
    /// The witness's configured base URL.
    pub witness: String,
}

/// Which store a timed call went to.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Store {
    /// The index (SQLite or PostgreSQL).
    Index,
    /// The blob store (directory or S3).
    Blob,
}

/// Label of the store latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabel {
    /// `index` or `blob`.
    pub store: &'static str,
    /// The operation (the store trait's method name).
    pub op: &'static str,
}

/// One listener's connection metrics (shared handles into the registry).
#[derive(Clone, Debug)]
pub struct Connections {
    /// `obhut_connections_open{listener}`.
    pub open: Gauge,
    /// `obhut_connections_refused_total{listener}`: above the cap.
    pub refused: Counter,
}

type StoreFamily = Family<StoreLabel, Histogram, fn() -> Histogram>;

fn store_histogram() -> Histogram {
    // 0.25 ms (a cached SQLite read) to about 4 s (an fsync on a failing
    // disk, a slow bucket).
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

/// The handles the audit log service counts with (it is made before the
/// [`crate::App`] that holds the registry, and by benchmarks without one).
#[derive(Clone, Debug)]
pub struct LogMetrics {
    /// `obhut_witness_failures_total{witness}`.
    pub witness_failures: Family<WitnessLabel, Counter>,
    /// `obhut_log_head_moved_total`.
    pub head_moved: Counter,
    store_seconds: StoreFamily,
}

impl Default for LogMetrics {
    fn default() -> Self {
        LogMetrics {
            witness_failures: Family::default(),
            head_moved: Counter::default(),
            store_seconds: Family::new_with_constructor(store_histogram),
        }
    }
}

impl LogMetrics {
    /// [`Metrics::timed`], for the log service.
    pub async fn timed<T>(&self, store: Store, op: &'static str, f: impl Future<Output = T>) -> T {
        timed(&self.store_seconds, store, op, f).await
    }

    /// Count a witness that did not cosign.
    pub fn witness_failed(&self, url: &str) {
        self.witness_failures
            .get_or_create(&WitnessLabel {
                witness: url.to_owned(),
            })
            .inc();
    }
}

async fn timed<T>(
    family: &StoreFamily,
    store: Store,
    op: &'static str,
    f: impl Future<Output = T>,
) -> T {
    let started = Instant::now();
    let out = f.await;
    let store = match store {
        Store::Index => "index",
        Store::Blob => "blob",
    };
    family
        .get_or_create(&StoreLabel { store, op })
        .observe(started.elapsed().as_secs_f64());
    out
}

/// The vault's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `obhut_ingest_bytes_total`.
    pub ingest_bytes: Counter,
    /// `obhut_ingest_segments_total`.
    pub ingest_segments: Counter,
    /// `obhut_ingest_acks_total{status}`.
    pub ingest_acks: Family<AckLabel, Counter>,
    /// `obhut_ingest_errors_total{kind}`.
    pub ingest_errors: Family<KindLabel, Counter>,
    /// `obhut_ingest_seconds`.
    pub ingest_seconds: Histogram,
    /// `obhut_errors_total{kind}`: every error answer of the API.
    pub errors: Family<KindLabel, Counter>,
    /// `obhut_log_entries`: the size of the latest checkpoint's tree.
    pub log_entries: Gauge,
    /// `obhut_log_sequenced_entries`: entries sequenced (integrated or
    /// not yet).
    pub log_sequenced: Gauge,
    /// `obhut_log_checkpoint_age_seconds`.
    pub log_checkpoint_age: Gauge<f64, AtomicU64>,
    /// `obhut_releases_total`.
    pub releases: Counter,
    /// `obhut_released_segments_total`.
    pub released_segments: Counter,
    /// `obhut_sweep_runs_total`.
    pub sweep_runs: Counter,
    /// `obhut_sweep_failures_total`.
    pub sweep_failures: Counter,
    /// `obhut_epochs_destroyed_total`.
    pub epochs_destroyed: Counter,
    /// `obhut_sweep_seconds`.
    pub sweep_seconds: Histogram,
    /// The log service's handles (witness failures, its store calls).
    pub log: LogMetrics,
    connections_open: Family<ListenerLabel, Gauge>,
    connections_refused: Family<ListenerLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("obhut");
        let m = Metrics {
            registry: Registry::default(),
            ingest_bytes: Counter::default(),
            ingest_segments: Counter::default(),
            ingest_acks: Family::default(),
            ingest_errors: Family::default(),
            ingest_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            errors: Family::default(),
            log_entries: Gauge::default(),
            log_sequenced: Gauge::default(),
            log_checkpoint_age: Gauge::default(),
            releases: Counter::default(),
            released_segments: Counter::default(),
            sweep_runs: Counter::default(),
            sweep_failures: Counter::default(),
            epochs_destroyed: Counter::default(),
            sweep_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            log: LogMetrics::default(),
            connections_open: Family::default(),
            connections_refused: Family::default(),
        };
        // The names, types and meanings are documented in
        // docs/operations.md §Metrics; keep the two in step.
        r.register(
            "ingest_bytes",
            "Ciphertext bytes stored",
            m.ingest_bytes.clone(),
        );
        r.register(
            "ingest_segments",
            "Segments stored (first uploads, not retries)",
            m.ingest_segments.clone(),
        );
        r.register(
            "ingest_acks",
            "Segment uploads answered with a receipt, by status (created, repeat)",
            m.ingest_acks.clone(),
        );
        r.register(
            "ingest_errors",
            "Refused segment uploads by error kind",
            m.ingest_errors.clone(),
        );
        r.register(
            "ingest_seconds",
            "Time to verify and store one segment",
            m.ingest_seconds.clone(),
        );
        r.register(
            "errors",
            "Error answers of the API by error kind",
            m.errors.clone(),
        );
        r.register(
            "log_entries",
            "Entries in the audit log's latest checkpoint",
            m.log_entries.clone(),
        );
        r.register(
            "log_sequenced_entries",
            "Entries sequenced into the audit log, integrated or not yet",
            m.log_sequenced.clone(),
        );
        r.register(
            "log_checkpoint_age_seconds",
            "Seconds since the latest checkpoint was signed",
            m.log_checkpoint_age.clone(),
        );
        r.register(
            "witness_failures",
            "Checkpoints a witness did not cosign, by witness",
            m.log.witness_failures.clone(),
        );
        r.register(
            "log_head_moved",
            "Checkpoint writes refused because another integrator moved the tree head",
            m.log.head_moved.clone(),
        );
        r.register(
            "releases",
            "Access requests released (epoch parts handed out)",
            m.releases.clone(),
        );
        r.register(
            "released_segments",
            "Segments covered by releases",
            m.released_segments.clone(),
        );
        r.register("sweep_runs", "Retention sweeps run", m.sweep_runs.clone());
        r.register(
            "sweep_failures",
            "Retention sweeps that stopped on an error",
            m.sweep_failures.clone(),
        );
        r.register(
            "epochs_destroyed",
            "Retention epoch keys destroyed (by the sweep, or an erasure's split epoch)",
            m.epochs_destroyed.clone(),
        );
        r.register(
            "sweep_seconds",
            "Duration of one retention sweep",
            m.sweep_seconds.clone(),
        );
        r.register(
            "store_seconds",
            "Latency of the server's calls to the index and the blob store, by store and operation",
            m.log.store_seconds.clone(),
        );
        r.register(
            "connections_open",
            "Connections being served",
            m.connections_open.clone(),
        );
        r.register(
            "connections_refused",
            "Connections refused above the cap",
            m.connections_refused.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// Run `f`, a call to `store`, and record how long it took under
    /// `op` in `obhut_store_seconds`.
    pub async fn timed<T>(&self, store: Store, op: &'static str, f: impl Future<Output = T>) -> T {
        self.log.timed(store, op, f).await
    }

    /// Count an acknowledged upload (`created` or `repeat`).
    pub fn acked(&self, created: bool) {
        let status = if created { "created" } else { "repeat" };
        self.ingest_acks.get_or_create(&AckLabel { status }).inc();
    }

    /// Count an error answer of the API.
    pub fn error(&self, kind: &obhut_api::ErrorKind) {
        self.errors
            .get_or_create(&KindLabel {
                kind: kind.as_str().to_owned(),
            })
            .inc();
    }

    /// The connection metrics of `listener` (`api`, `ops`).
    pub fn connections(&self, listener: &str) -> Connections {
        let label = ListenerLabel {
            listener: listener.to_owned(),
        };
        Connections {
            open: self.connections_open.get_or_create(&label).clone(),
            refused: self.connections_refused.get_or_create(&label).clone(),
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/operations.md §9 lists every metric with its type, and no
    /// other: an operator's dashboards are built from that table.
    #[test]
    fn the_operations_guide_lists_every_metric() {
        let doc = include_str!("../../../docs/operations.md");
        let m = Metrics::new();
        // A family is exported once it has a member.
        m.acked(true);
        m.error(&obhut_api::ErrorKind::Internal);
        m.ingest_errors
            .get_or_create(&KindLabel {
                kind: "internal".into(),
            })
            .inc();
        m.log.witness_failed("http://witness.example");
        m.log
            .store_seconds
            .get_or_create(&StoreLabel {
                store: "index",
                op: "segment",
            })
            .observe(0.001);
        m.connections("api");
        let text = m.encode();
        let mut registered = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("# TYPE ") else {
                continue;
            };
            let (name, kind) = rest.split_once(' ').unwrap();
            let name = match kind {
                "counter" => format!("{name}_total"),
                _ => name.to_owned(),
            };
            let row = format!("| `{name}` | {kind} |");
            assert!(doc.contains(&row), "docs/operations.md has no row {row}");
            registered.push(name);
        }
        assert_eq!(registered.len(), 20, "{text}");
        for row in doc.lines().filter(|l| l.starts_with("| `obhut_")) {
            let name = row.split('`').nth(1).unwrap();
            assert!(
                registered.iter().any(|r| r == name),
                "docs/operations.md lists {name}, which the vault does not export"
            );
        }
    }
}
