//! Prometheus metrics (docs/vault.md §7), one registry per server (no
//! process globals, so tests can run several servers in one process).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label of the error counter.
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

/// One listener's connection metrics (shared handles into the registry).
#[derive(Clone, Debug)]
pub struct Connections {
    /// `obhut_connections_open{listener}`.
    pub open: Gauge,
    /// `obhut_connections_refused_total{listener}`: above the cap.
    pub refused: Counter,
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
        let connections_open = Family::<ListenerLabel, Gauge>::default();
        let connections_refused = Family::<ListenerLabel, Counter>::default();
        registry.register(
            "connections_open",
            "Connections being served",
            connections_open.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections refused above the cap",
            connections_refused.clone(),
        );
        Metrics {
            registry,
            connections_open,
            connections_refused,
            ingest_bytes,
            ingest_segments,
            ingest_errors,
            ingest_seconds,
        }
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
