//! The outcome of the vault's last write request, which `/readyz`
//! (`ops.rs`) reports until a write of that size succeeds again.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The outcome of the vault's last write request, for `/readyz`
/// (issue 16): a write that failed for the store (`507`, `500`) marks the
/// vault not ready, with the size of what it tried to write; a write that
/// succeeds, or a probe of that size (`readyz`), clears it.
///
/// Why remember, when each store's `ping` already probes a write: a probe
/// is small, and a disk with 100 KiB left takes it while every upload
/// fails. Why probe at the failed size rather than wait for the next
/// successful write: a load balancer that takes a not-ready vault out of
/// rotation sends it no write, so a flag only a write clears would never
/// clear.
#[derive(Debug, Default)]
pub struct WriteHealth {
    failed: Mutex<Option<u64>>,
    /// The last `/readyz` verdict and when it was reached.
    last_probe: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

/// How long a `/readyz` verdict is reused. `/readyz` is anonymous and each
/// verdict writes and fsyncs a probe (a row, a file): without reuse a
/// flood of health checks would be a flood of disk writes. Callers in the
/// same second queue for one probe and share its verdict.
pub const PROBE_REUSE: Duration = Duration::from_secs(1);

impl WriteHealth {
    pub(crate) fn failed(&self, bytes: u64) {
        *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(bytes);
    }

    pub(crate) fn succeeded(&self) {
        *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub(crate) fn last_failed(&self) -> Option<u64> {
        *self.failed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The readiness verdict: the last one if it is younger than
    /// [`PROBE_REUSE`], else `probe`'s, remembered. One probe at a time.
    pub(crate) async fn verdict(&self, probe: impl Future<Output = bool>) -> bool {
        let mut last = self.last_probe.lock().await;
        if let Some((at, ready)) = *last
            && at.elapsed() < PROBE_REUSE
        {
            return ready;
        }
        let ready = probe.await;
        *last = Some((Instant::now(), ready));
        ready
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_verdict_is_reused_for_a_second_then_probed_again() {
        let health = WriteHealth::default();
        let probes = AtomicU32::new(0);
        let probe = |ready| {
            let probes = &probes;
            async move {
                probes.fetch_add(1, Ordering::SeqCst);
                ready
            }
        };
        assert!(health.verdict(probe(true)).await);
        // A flood within the second gets the same verdict from one probe.
        for _ in 0..100 {
            assert!(health.verdict(probe(false)).await);
        }
        assert_eq!(probes.load(Ordering::SeqCst), 1, "one probe ran");
        tokio::time::sleep(PROBE_REUSE + Duration::from_millis(50)).await;
        assert!(!health.verdict(probe(false)).await, "probed again");
        assert_eq!(probes.load(Ordering::SeqCst), 2);
    }
}
