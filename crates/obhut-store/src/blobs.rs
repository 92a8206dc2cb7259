//! [`AnyBlobStore`]: the blob store a vault is configured with, the
//! directory ([`DirBlobStore`], the embedded default) or an S3 bucket
//! ([`S3BlobStore`], `OBHUT_BLOB_URL=s3://bucket/prefix`), behind one type
//! so that `obhut serve` and `obhut check` run either without being
//! generic over it.

use crate::dir::{DirBlobStore, DirStaged};
use crate::s3::{S3BlobStore, S3Staged};
use crate::{BlobKey, BlobReader, BlobStore, Result, StagedBlob};
use tokio::io::AsyncRead;

/// Where a vault keeps its blobs.
#[derive(Debug, Clone)]
pub enum AnyBlobStore {
    /// `DATA/blobs/` (the default).
    Dir(DirBlobStore),
    /// An S3 bucket.
    S3(S3BlobStore),
}

/// A blob staged by either store.
#[derive(Debug)]
pub enum AnyStaged {
    /// In `DATA/tmp/`.
    Dir(DirStaged),
    /// Under the bucket's `tmp/`.
    S3(S3Staged),
}

impl StagedBlob for AnyStaged {
    fn len(&self) -> u64 {
        match self {
            AnyStaged::Dir(s) => s.len(),
            AnyStaged::S3(s) => s.len(),
        }
    }
    fn hash(&self) -> [u8; 32] {
        match self {
            AnyStaged::Dir(s) => s.hash(),
            AnyStaged::S3(s) => s.hash(),
        }
    }
}

impl AnyBlobStore {
    /// Where the blobs are, for messages: the `blobs/` directory or
    /// `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        match self {
            AnyBlobStore::Dir(d) => d.root().display().to_string(),
            AnyBlobStore::S3(s) => s.url().to_owned(),
        }
    }

    /// The same store removing every leftover in `tmp/` however young
    /// ([`S3BlobStore::with_grace`] zero): for `obhut check --repair`,
    /// which runs with the vault stopped.
    pub fn without_grace(self) -> Self {
        match self {
            AnyBlobStore::S3(s) => AnyBlobStore::S3(s.with_grace(std::time::Duration::ZERO)),
            d => d,
        }
    }

    /// What interrupted uploads left (`obhut check`): files in `tmp/`, or
    /// staged objects and open multipart uploads' markers under the
    /// bucket's `tmp/`.
    pub async fn temporary_files(&self) -> Result<Vec<String>> {
        match self {
            AnyBlobStore::Dir(d) => Ok(d
                .temporary_files()
                .await?
                .iter()
                .map(|p| p.display().to_string())
                .collect()),
            AnyBlobStore::S3(s) => Ok(s
                .objects()
                .await?
                .into_iter()
                .filter(|o| o.starts_with("tmp/"))
                .map(|o| format!("{}/{o}", s.url().trim_end_matches('/')))
                .collect()),
        }
    }
}

/// Calls `$body` on the store inside, whichever it is.
macro_rules! each {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            AnyBlobStore::Dir($s) => $body,
            AnyBlobStore::S3($s) => $body,
        }
    };
}

impl BlobStore for AnyBlobStore {
    type Staged = AnyStaged;

    async fn instance_id(&self) -> Result<Option<String>> {
        each!(self, s => s.instance_id().await)
    }
    async fn set_instance_id(&self, id: &str) -> Result<()> {
        each!(self, s => s.set_instance_id(id).await)
    }
    async fn ping(&self) -> Result<()> {
        each!(self, s => s.ping().await)
    }
    async fn clean_temporary(&self) -> Result<usize> {
        each!(self, s => s.clean_temporary().await)
    }
    async fn stage<R: AsyncRead + Send + Unpin>(&self, source: R, len: u64) -> Result<AnyStaged> {
        match self {
            AnyBlobStore::Dir(s) => s.stage(source, len).await.map(AnyStaged::Dir),
            AnyBlobStore::S3(s) => s.stage(source, len).await.map(AnyStaged::S3),
        }
    }
    async fn sync_staged(&self, staged: &mut AnyStaged) -> Result<()> {
        match (self, staged) {
            (AnyBlobStore::Dir(s), AnyStaged::Dir(b)) => s.sync_staged(b).await,
            (AnyBlobStore::S3(s), AnyStaged::S3(b)) => s.sync_staged(b).await,
            _ => Err(crate::StoreError::Config("a blob staged by another store")),
        }
    }
    async fn publish(
        &self,
        key: BlobKey,
        staged: AnyStaged,
        expected_hash: [u8; 32],
    ) -> Result<()> {
        match (self, staged) {
            (AnyBlobStore::Dir(s), AnyStaged::Dir(b)) => s.publish(key, b, expected_hash).await,
            (AnyBlobStore::S3(s), AnyStaged::S3(b)) => s.publish(key, b, expected_hash).await,
            _ => Err(crate::StoreError::Config("a blob staged by another store")),
        }
    }
    async fn discard(&self, staged: AnyStaged) {
        match (self, staged) {
            (AnyBlobStore::Dir(s), AnyStaged::Dir(b)) => s.discard(b).await,
            (AnyBlobStore::S3(s), AnyStaged::S3(b)) => s.discard(b).await,
            // Dropped: each staged blob cleans up after itself.
            _ => {}
        }
    }
    async fn len(&self, key: BlobKey) -> Result<Option<u64>> {
        each!(self, s => s.len(key).await)
    }
    async fn get_range(&self, key: BlobKey, start: u64, end: u64) -> Result<BlobReader> {
        each!(self, s => s.get_range(key, start, end).await)
    }
    async fn delete(&self, key: BlobKey) -> Result<bool> {
        each!(self, s => s.delete(key).await)
    }
    async fn list(&self) -> Result<Vec<BlobKey>> {
        each!(self, s => s.list().await)
    }
}
