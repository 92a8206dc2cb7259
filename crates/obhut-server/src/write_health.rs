//! The outcome of the vault's last write request, which `/readyz`
//! (`ops.rs`) reports until a write of that size succeeds again.

use std::sync::Mutex;

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
}

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
}
