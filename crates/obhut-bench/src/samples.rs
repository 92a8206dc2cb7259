//! Latency samples and their nearest-rank percentiles, shared by the
//! benchmarks.

use std::time::Duration;

/// The nearest-rank percentile `p` (0 < p ≤ 1) of sorted samples; zero for
/// none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    // A percent (50.0) for a fraction silently gave the maximum as every
    // percentile once (scaleout's p50 = p99).
    assert!(
        p > 0.0 && p <= 1.0,
        "percentile {p} is not a fraction in (0, 1]"
    );
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Sorted samples.
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Sort `v`.
    pub fn new(mut v: Vec<Duration>) -> Self {
        v.sort();
        Samples(v)
    }
    /// The nearest-rank percentile `p`.
    pub fn pct(&self, p: f64) -> Duration {
        percentile(&self.0, p)
    }
    /// The median.
    pub fn median(&self) -> Duration {
        self.pct(0.5)
    }
    /// The 95th percentile.
    pub fn p95(&self) -> Duration {
        self.pct(0.95)
    }
    /// The 99th percentile.
    pub fn p99(&self) -> Duration {
        self.pct(0.99)
    }
    /// The largest sample.
    pub fn max(&self) -> Duration {
        self.0.last().copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&d, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&d[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
        let s = Samples::new(d.into_iter().rev().collect());
        assert_eq!(
            (s.median(), s.max()),
            (Duration::from_millis(50), Duration::from_millis(100))
        );
    }
}
