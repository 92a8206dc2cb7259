//! Prometheus metrics (docs/vault.md §7), one registry per server (no
//! process globals, so tests can run several servers in one process).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label of the error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The error kind (`chain-conflict`, …).
    pub kind: String,
}

/// The vault's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `obhut_ingest_bytes_total`.
    pub ingest_bytes: Counter,
    /// `obhut_ingest_segments_total`.
    pub ingest_segments: Counter,
    /// `obhut_ingest_errors_total{kind}`.
    pub ingest_errors: Family<KindLabel, Counter>,
    /// `obhut_ingest_seconds`.
    pub ingest_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("obhut");
        let ingest_bytes = Counter::default();
        let ingest_segments = Counter::default();
        let ingest_errors = Family::<KindLabel, Counter>::default();
        let ingest_seconds = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "ingest_bytes",
            "Ciphertext bytes stored",
            ingest_bytes.clone(),
        );
        registry.register(
            "ingest_segments",
            "Segments stored (first uploads, not retries)",
            ingest_segments.clone(),
        );
        registry.register(
            "ingest_errors",
            "Refused segment uploads by error kind",
            ingest_errors.clone(),
        );
        registry.register(
            "ingest_seconds",
            "Time to verify and store one segment",
            ingest_seconds.clone(),
        );
        Metrics {
            registry,
            ingest_bytes,
            ingest_segments,
            ingest_errors,
            ingest_seconds,
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
