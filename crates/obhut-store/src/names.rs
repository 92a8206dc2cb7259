//! [`NameStore`]: the display names the vault serves (docs/format.md §3.5,
//! docs/vault.md §11). The vault keeps the newest signed claim per key and
//! hands it out whole; it never vouches for a name itself — every client
//! checks the claim's signature and signer before showing it.

use std::future::Future;

use crate::{KeyBytes, NewLogEntry, Result};

/// Display names: one signed claim per person or device key.
pub trait NameStore: Send + Sync + 'static {
    /// Store `claim` (its bytes, already verified) as the name of
    /// `subject` unless a claim signed at `claim_ms` or later is stored
    /// already; sequence `log` in the same transaction when it is stored.
    /// Returns whether it was.
    fn set_name(
        &self,
        subject: KeyBytes,
        claim: &[u8],
        claim_ms: i64,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// The claim stored for `subject`.
    fn name(&self, subject: KeyBytes) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;
}
