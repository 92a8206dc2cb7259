//! A [`BlobStore`] that fails on command, for tests of the layers above
//! under storage faults (Sunlight's test backend and Tessera's fault tests
//! do the same for their logs).
//!
//! A test arms a [`Fault`] for the next N operations of its kind; each of
//! them then fails with [`StoreError::Io`] the way the real operation
//! fails, leaving the wrapped store in the state the contract promises
//! for that failure:
//!
//! | fault | the operation | what the wrapped store holds afterwards |
//! |---|---|---|
//! | [`Fault::Write`] | `stage` | nothing: the bytes were read, then the write failed |
//! | [`Fault::Sync`] | `sync_staged` | the staged blob, untrusted (the caller must discard it) |
//! | [`Fault::Publish`] | `publish` | nothing: the rename failed, the staged bytes are gone |
//! | [`Fault::AfterPublish`] | `publish` | the blob, published: the process "died" before it could answer |
//! | [`Fault::Full`] | `stage`, `publish`; `ping` while armed | nothing: the disk is full (`ENOSPC`) |
//!
//! [`Fault::AfterPublish`] is a crash between blob and row: the caller
//! sees an error, so it never commits the index row, yet the blob is
//! there — the orphan [`crate::check_consistency`] reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::AsyncRead;

use crate::{BlobKey, BlobReader, BlobStore, Result, StoreError};

/// Which operation fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Writing the staged bytes ([`BlobStore::stage`]).
    Write,
    /// Their fsync ([`BlobStore::sync_staged`]).
    Sync,
    /// The publication, before anything is visible ([`BlobStore::publish`]).
    Publish,
    /// After the publication landed: the blob is visible, the caller gets
    /// an error ([`BlobStore::publish`]).
    AfterPublish,
    /// The disk is full: writing or publishing fails with `ENOSPC`, and
    /// [`BlobStore::ping`] fails while any is armed (arm `usize::MAX`, then
    /// [`FaultyBlobStore::disarm`] to free the space).
    Full,
}

impl Fault {
    const ALL: [Fault; 5] = [
        Fault::Write,
        Fault::Sync,
        Fault::Publish,
        Fault::AfterPublish,
        Fault::Full,
    ];

    fn slot(self) -> usize {
        match self {
            Fault::Write => 0,
            Fault::Sync => 1,
            Fault::Publish => 2,
            Fault::AfterPublish => 3,
            Fault::Full => 4,
        }
    }

    fn error(self) -> StoreError {
        let other = std::io::Error::other;
        let (op, source) = match self {
            Fault::Write => ("writing the staged blob", other("injected write fault")),
            Fault::Sync => ("syncing the staged blob", other("injected fsync fault")),
            Fault::Publish => ("renaming into place", other("injected rename fault")),
            Fault::AfterPublish => (
                "answering after the publication",
                other("injected crash between blob and row"),
            ),
            // ENOSPC, as the kernel reports a full disk.
            Fault::Full => (
                "writing the staged blob",
                std::io::Error::from_raw_os_error(28),
            ),
        };
        StoreError::Io {
            op,
            path: "faulty-blob-store".into(),
            source,
        }
    }
}

/// Armed faults and counts of injected ones, shared by every clone of a
/// [`FaultyBlobStore`] (the test keeps one, the server owns another).
#[derive(Debug, Default)]
struct Switchboard {
    armed: [AtomicUsize; 5],
    injected: [AtomicUsize; 5],
}

/// Wraps a [`BlobStore`]; operations fail while a [`Fault`] of their kind
/// is armed. Clones share the faults.
#[derive(Debug)]
pub struct FaultyBlobStore<B> {
    inner: Arc<B>,
    faults: Arc<Switchboard>,
}

impl<B> Clone for FaultyBlobStore<B> {
    fn clone(&self) -> Self {
        FaultyBlobStore {
            inner: self.inner.clone(),
            faults: self.faults.clone(),
        }
    }
}

impl<B: BlobStore> FaultyBlobStore<B> {
    /// Wrap `inner`, nothing armed.
    pub fn new(inner: B) -> Self {
        FaultyBlobStore {
            inner: Arc::new(inner),
            faults: Arc::default(),
        }
    }

    /// The wrapped store (to look behind the faults).
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// Fail the next `times` operations of `fault`'s kind (replacing what
    /// was armed for it).
    pub fn arm(&self, fault: Fault, times: usize) {
        self.faults.armed[fault.slot()].store(times, Ordering::SeqCst);
    }

    /// Disarm every fault.
    pub fn disarm(&self) {
        for f in Fault::ALL {
            self.faults.armed[f.slot()].store(0, Ordering::SeqCst);
        }
    }

    /// How many operations `fault` has failed so far.
    pub fn injected(&self, fault: Fault) -> usize {
        self.faults.injected[fault.slot()].load(Ordering::SeqCst)
    }

    /// Whether this operation is to fail (taking one from the armed count).
    fn fires(&self, fault: Fault) -> bool {
        let fired = self.faults.armed[fault.slot()]
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fired {
            self.faults.injected[fault.slot()].fetch_add(1, Ordering::SeqCst);
        }
        fired
    }
}

impl<B: BlobStore> BlobStore for FaultyBlobStore<B> {
    type Staged = B::Staged;

    async fn instance_id(&self) -> Result<Option<String>> {
        self.inner.instance_id().await
    }

    async fn set_instance_id(&self, id: &str) -> Result<()> {
        self.inner.set_instance_id(id).await
    }

    async fn ping(&self) -> Result<()> {
        if self.faults.armed[Fault::Full.slot()].load(Ordering::SeqCst) > 0 {
            return Err(Fault::Full.error());
        }
        self.inner.ping().await
    }

    async fn clean_temporary(&self) -> Result<usize> {
        self.inner.clean_temporary().await
    }

    async fn stage<R: AsyncRead + Send + Unpin>(&self, source: R, len: u64) -> Result<B::Staged> {
        let staged = self.inner.stage(source, len).await?;
        for fault in [Fault::Write, Fault::Full] {
            if self.fires(fault) {
                self.inner.discard(staged).await;
                return Err(fault.error());
            }
        }
        Ok(staged)
    }

    async fn sync_staged(&self, staged: &mut B::Staged) -> Result<()> {
        if self.fires(Fault::Sync) {
            return Err(Fault::Sync.error());
        }
        self.inner.sync_staged(staged).await
    }

    async fn publish(
        &self,
        key: BlobKey,
        staged: B::Staged,
        expected_hash: [u8; 32],
    ) -> Result<()> {
        for fault in [Fault::Publish, Fault::Full] {
            if self.fires(fault) {
                self.inner.discard(staged).await;
                return Err(fault.error());
            }
        }
        self.inner.publish(key, staged, expected_hash).await?;
        if self.fires(Fault::AfterPublish) {
            return Err(Fault::AfterPublish.error());
        }
        Ok(())
    }

    async fn discard(&self, staged: B::Staged) {
        self.inner.discard(staged).await;
    }

    async fn len(&self, key: BlobKey) -> Result<Option<u64>> {
        self.inner.len(key).await
    }

    async fn get_range(&self, key: BlobKey, start: u64, end: u64) -> Result<BlobReader> {
        self.inner.get_range(key, start, end).await
    }

    async fn delete(&self, key: BlobKey) -> Result<bool> {
        self.inner.delete(key).await
    }

    async fn list(&self) -> Result<Vec<BlobKey>> {
        self.inner.list().await
    }
}
