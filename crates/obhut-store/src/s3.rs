//! [`BlobStore`] on an S3-compatible object store (issue 20; AWS S3,
//! SeaweedFS, MinIO, Ceph RGW, Garage), through the Apache Arrow project's
//! `object_store` crate:
//!
//! ```text
//! PREFIX/INSTANCE                  instance id (shared with the index)
//! PREFIX/blobs/<rid-hex>/<index>.seg segment ciphertexts
//! PREFIX/tmp/<random>.part         staged blobs (complete, not yet published)
//! PREFIX/tmp/<random>.upload       the multipart upload id of a .part
//!                                  still streaming in
//! ```
//!
//! **Why stage under `tmp/` and copy, not complete a multipart upload
//! under the final key.** The final key is not known while a blob streams
//! in: [`BlobStore::stage`] takes no key, because the record that names
//! the segment and its hash arrives after the blob (docs/vault.md §4). An
//! S3 multipart upload names its object when it is created, so staging
//! streams into a multipart upload under `tmp/<random>.part` (parts of
//! [`PART`] bytes; a blob of one part or less is one PUT), and
//! [`BlobStore::publish`], once the record verified, copies it server-side
//! to `blobs/…` and deletes the staged object. S3 creates a copy's target
//! atomically: a reader sees the whole object or none, never a prefix. The
//! price is the store writing each blob twice (CopyObject, within the
//! store, up to 5 GiB per object: above the default `max_segment_bytes`).
//! An unfinished multipart upload is never an object at all, so nothing
//! of a stage cut short is visible under any key, final or temporary.
//!
//! **Leftovers.** A stage dropped mid-way (the client went away, the task
//! was cancelled) aborts its multipart upload; a staged blob dropped
//! unpublished is deleted (both from a task spawned by `Drop`, awaited by
//! [`BlobStore::clean_temporary`]). A process that dies leaves at most a
//! `.part` and an `.upload` marker naming its open multipart upload:
//! `object_store` cannot list multipart uploads, so the marker is how
//! [`BlobStore::clean_temporary`] (at start, and `obhut check`) finds and
//! aborts it. Servers sharing a bucket would abort each other's uploads
//! in flight, so only leftovers older than [`S3BlobStore::with_grace`]
//! (default [`DEFAULT_GRACE`]) are removed; a bucket lifecycle rule
//! `AbortIncompleteMultipartUpload` is the operator's second net
//! (docs/vault.md §6.2).
//!
//! **Durability.** An S3 PUT, copy or multipart completion is durable when
//! it is acknowledged, so [`BlobStore::sync_staged`] has nothing to do.
//! **Conditional writes.** The instance id is written with
//! `PutMode::Create` (`If-None-Match: *`), so two vault servers starting
//! on one empty bucket cannot bind it to two instance ids; a store that
//! ignores the header degrades to last-writer-wins, as the directory does.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{StreamExt, TryStreamExt};
use obhut_core::ids::RecordingId;
use obhut_core::segment::ciphertext_hasher;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, MultipartId, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;

use crate::{BlobKey, BlobReader, BlobStore, Result, StagedBlob, StoreError};

/// Bytes per multipart part, and the largest blob staged with one PUT.
/// S3 wants at least 5 MiB per part but the last; each upload holds one
/// part in memory while it streams in (what a 256 KiB write buffer is to
/// the directory), so the minimum, not more.
pub const PART: usize = 5 * 1024 * 1024;
/// How old a leftover in `tmp/` must be before
/// [`BlobStore::clean_temporary`] removes it: longer than any upload a
/// live server could still be streaming.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);

const INSTANCE: &str = "INSTANCE";

/// Segment blobs in an S3 bucket, under a prefix.
#[derive(Clone)]
pub struct S3BlobStore {
    store: Arc<AmazonS3>,
    /// `s3://bucket/prefix`, named in errors.
    url: String,
    prefix: Path,
    grace: Duration,
    /// Deletions and aborts that `Drop` started; awaited by
    /// `clean_temporary` so that what a dropped stage leaves is gone
    /// before it counts leftovers.
    pending: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// The bucket and prefix only: the client's configuration holds the
/// credentials.
impl std::fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("url", &self.url)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

/// Split `s3://bucket/prefix` into bucket and prefix.
fn parse_url(url: &str) -> Result<(&str, &str)> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or(StoreError::Config("the blob URL must start with s3://"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(StoreError::Config("the blob URL names no bucket"));
    }
    Ok((bucket, prefix.trim_matches('/')))
}

impl S3BlobStore {
    /// Open the bucket and prefix of `url` (`s3://bucket/prefix`; the
    /// prefix may be empty). Endpoint, region and credentials come from
    /// the environment (`AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, …;
    /// `object_store`'s `AmazonS3Builder::from_env`), then from `options`
    /// (`object_store` config keys such as `aws_endpoint`, `aws_region`),
    /// which win. Contacts nothing: [`BlobStore::ping`] does.
    pub fn open<'a>(
        url: &str,
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self> {
        let (bucket, prefix) = parse_url(url)?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (k, v) in options {
            let key: AmazonS3ConfigKey = k
                .parse()
                .map_err(|_| StoreError::Config("an unknown S3 option"))?;
            builder = builder.with_config(key, v);
        }
        let store = builder
            .build()
            .map_err(|source| remote("configuring", url.to_owned(), source))?;
        Ok(S3BlobStore {
            store: Arc::new(store),
            url: format!("s3://{bucket}/{prefix}"),
            prefix: Path::from(prefix),
            grace: DEFAULT_GRACE,
            pending: Arc::default(),
        })
    }

    /// Remove leftovers in `tmp/` once they are `grace` old (default
    /// [`DEFAULT_GRACE`]); zero for a store no other server shares.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every object under the prefix (blobs, staged blobs, markers, the
    /// instance id), relative to it: what an operator would see in the
    /// bucket (`obhut check`, the crash tests).
    pub async fn objects(&self) -> Result<Vec<String>> {
        let listed: Vec<_> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(self.err("listing", &self.prefix))?;
        let mut out: Vec<String> = listed
            .iter()
            .map(|m| rel(&self.prefix, &m.location))
            .collect();
        out.sort();
        Ok(out)
    }

    fn path(&self, rel: &str) -> Path {
        rel.split('/')
            .fold(self.prefix.clone(), |p, part| p.join(part))
    }

    fn blob_path(&self, key: BlobKey) -> Path {
        self.path(&format!("blobs/{}/{}.seg", key.recording, key.index))
    }

    fn err(&self, op: &'static str, path: &Path) -> impl FnOnce(object_store::Error) -> StoreError {
        let at = format!(
            "{}/{}",
            self.url.trim_end_matches('/'),
            rel(&self.prefix, path)
        );
        move |source| remote(op, at, source)
    }

    /// Start a deletion (or an abort) from `Drop`, remembered so that
    /// `clean_temporary` waits for it.
    fn spawn_cleanup(&self, f: impl Future<Output = ()> + Send + 'static) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return; // no runtime left: clean_temporary removes it later
        };
        let h = rt.spawn(f);
        if let Ok(mut p) = self.pending.lock() {
            p.retain(|h| !h.is_finished());
            p.push(h);
        }
    }

    async fn delete_quietly(store: &AmazonS3, path: &Path) {
        if let Err(e) = store.delete(path).await
            && !matches!(e, object_store::Error::NotFound { .. })
        {
            tracing_free_warn(&e);
        }
    }

    /// Stage a blob of at most [`PART`] bytes with one PUT.
    async fn stage_small<R: AsyncRead + Unpin>(
        &self,
        source: R,
        len: u64,
        tmp: &Path,
    ) -> Result<[u8; 32]> {
        let cap = usize::try_from(len).unwrap_or(PART);
        let (buf, hash) = read_exact_hashing(source, cap, len, ciphertext_hasher()).await?;
        let hash = finish(hash);
        self.store
            .put(tmp, PutPayload::from(buf))
            .await
            .map_err(self.err("staging", tmp))?;
        Ok(hash)
    }

    /// Stage a larger blob as a multipart upload under `tmp`, with its id
    /// in the `.upload` marker while it is open.
    async fn stage_multipart<R: AsyncRead + Unpin>(
        &self,
        mut source: R,
        len: u64,
        tmp: &Path,
        marker: &Path,
    ) -> Result<[u8; 32]> {
        let id = self
            .store
            .create_multipart(tmp)
            .await
            .map_err(self.err("starting a multipart upload", tmp))?;
        let mut open = OpenUpload {
            owner: self.clone(),
            tmp: tmp.clone(),
            marker: marker.clone(),
            id: Some(id.clone()),
        };
        if let Err(e) = self
            .store
            .put_opts(
                marker,
                PutPayload::from(id.clone().into_bytes()),
                PutOptions::default(),
            )
            .await
        {
            open.abort().await;
            return Err(self.err("recording a multipart upload", marker)(e));
        }
        let mut hasher = ciphertext_hasher();
        let mut parts: Vec<PartId> = Vec::new();
        let mut total = 0u64;
        while total < len {
            let want = usize::try_from(len - total).unwrap_or(PART).min(PART);
            let (buf, h) = match read_exact_hashing(&mut source, want, want as u64, hasher).await {
                Ok(r) => r,
                Err(StoreError::WrongLength { got, .. }) => {
                    open.abort().await;
                    return Err(StoreError::WrongLength {
                        expected: len,
                        got: total + got,
                    });
                }
                Err(e) => {
                    open.abort().await;
                    return Err(e);
                }
            };
            hasher = h;
            total += buf.len() as u64;
            match self
                .store
                .put_part(tmp, &id, parts.len(), PutPayload::from(buf))
                .await
            {
                Ok(p) => parts.push(p),
                Err(e) => {
                    open.abort().await;
                    return Err(self.err("uploading a part", tmp)(e));
                }
            }
        }
        if let Err(e) = self.store.complete_multipart(tmp, &id, parts).await {
            open.abort().await;
            return Err(self.err("completing a multipart upload", tmp)(e));
        }
        // Completed: nothing to abort. A marker left by a crash here names
        // an upload that no longer exists; clean_temporary removes it.
        open.id = None;
        Self::delete_quietly(&self.store, marker).await;
        Ok(finish(hasher))
    }
}

/// `path` relative to `prefix`, for messages.
fn rel(prefix: &Path, path: &Path) -> String {
    match path.prefix_match(prefix) {
        Some(parts) => parts
            .map(|p| p.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join("/"),
        None => path.to_string(),
    }
}

fn remote(op: &'static str, at: String, source: object_store::Error) -> StoreError {
    StoreError::Remote {
        op,
        at,
        source: Box::new(source),
    }
}

/// A failure of best-effort clean-up: nothing to return it to, and the
/// leftover is removed by `clean_temporary` later. This crate does not
/// log (the server does), so it is dropped here on purpose.
fn tracing_free_warn(_e: &object_store::Error) {}

fn finish(h: blake3::Hasher) -> [u8; 32] {
    *h.finalize().as_bytes()
}

/// Read exactly `want` bytes (never more) into a buffer of that size,
/// hashing them. A source that ends early is [`StoreError::WrongLength`]
/// (`expected` = `len`, `got` = the bytes read), one that fails
/// [`StoreError::Source`].
async fn read_exact_hashing<R: AsyncRead + Unpin>(
    mut source: R,
    want: usize,
    len: u64,
    mut hasher: blake3::Hasher,
) -> Result<(Vec<u8>, blake3::Hasher)> {
    let mut buf = vec![0u8; want];
    let mut filled = 0;
    while filled < want {
        match source.read(&mut buf[filled..]).await {
            Ok(0) => {
                return Err(StoreError::WrongLength {
                    expected: len,
                    got: filled as u64,
                });
            }
            Ok(n) => filled += n,
            Err(e) => return Err(StoreError::Source(e)),
        }
    }
    hasher.update(&buf);
    Ok((buf, hasher))
}

/// A multipart upload being streamed: aborted (and its marker deleted) if
/// the stage fails or its future is dropped before completion.
struct OpenUpload {
    owner: S3BlobStore,
    tmp: Path,
    marker: Path,
    /// `None` once completed or aborted.
    id: Option<MultipartId>,
}

impl OpenUpload {
    async fn abort(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = self.owner.store.abort_multipart(&self.tmp, &id).await;
            S3BlobStore::delete_quietly(&self.owner.store, &self.marker).await;
        }
    }
}

impl Drop for OpenUpload {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let (store, tmp, marker) = (
            self.owner.store.clone(),
            self.tmp.clone(),
            self.marker.clone(),
        );
        self.owner.spawn_cleanup(async move {
            let _ = store.abort_multipart(&tmp, &id).await;
            S3BlobStore::delete_quietly(&store, &marker).await;
        });
    }
}

/// A blob staged as `PREFIX/tmp/<random>.part` ([`BlobStore::stage`]).
/// Deleted when dropped unpublished (from a spawned task).
#[derive(Debug)]
pub struct S3Staged {
    owner: S3BlobStore,
    tmp: Path,
    len: u64,
    hash: [u8; 32],
    /// Published or discarded: nothing left to delete.
    done: bool,
}

impl StagedBlob for S3Staged {
    fn len(&self) -> u64 {
        self.len
    }
    fn hash(&self) -> [u8; 32] {
        self.hash
    }
}

impl Drop for S3Staged {
    fn drop(&mut self) {
        if !self.done {
            let (store, tmp) = (self.owner.store.clone(), self.tmp.clone());
            self.owner
                .spawn_cleanup(async move { S3BlobStore::delete_quietly(&store, &tmp).await });
        }
    }
}

fn random_name() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|_| StoreError::Config("no random numbers for a name"))?;
    Ok(hex::encode(b))
}

fn not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

impl BlobStore for S3BlobStore {
    type Staged = S3Staged;

    async fn instance_id(&self) -> Result<Option<String>> {
        let p = self.path(INSTANCE);
        match self.store.get(&p).await {
            Ok(r) => {
                let b = r.bytes().await.map_err(self.err("reading", &p))?;
                let s = std::str::from_utf8(&b)
                    .map_err(|_| StoreError::Corrupt("the instance id is not UTF-8"))?;
                Ok(Some(s.trim().to_owned()))
            }
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(self.err("reading", &p)(e)),
        }
    }

    async fn set_instance_id(&self, id: &str) -> Result<()> {
        let p = self.path(INSTANCE);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&p, PutPayload::from(format!("{id}\n").into_bytes()), opts)
            .await
        {
            Ok(_) => Ok(()),
            // Another server bound the bucket first: the same id is fine,
            // another one is the mismatch the startup check reports.
            Err(object_store::Error::AlreadyExists { .. }) => match self.instance_id().await? {
                Some(got) if got == id => Ok(()),
                got => Err(StoreError::InstanceMismatch {
                    index_path: std::path::PathBuf::from("(the index)"),
                    index_id: id.to_owned(),
                    blob_path: std::path::PathBuf::from(&self.url),
                    blob_id: got.unwrap_or_else(|| "none".into()),
                }),
            },
            Err(e) => Err(self.err("writing", &p)(e)),
        }
    }

    async fn ping(&self) -> Result<()> {
        let p = self.path(&format!("tmp/{}.probe", random_name()?));
        self.store
            .put(&p, PutPayload::from_static(b"probe"))
            .await
            .map_err(self.err("probing writes in", &p))?;
        self.store
            .delete(&p)
            .await
            .map_err(self.err("removing the write probe", &p))
    }

    async fn clean_temporary(&self) -> Result<usize> {
        let pending: Vec<JoinHandle<()>> = match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => Vec::new(),
        };
        for h in pending {
            let _ = h.await;
        }
        let tmp = self.path("tmp");
        let listed: Vec<_> = self
            .store
            .list(Some(&tmp))
            .try_collect()
            .await
            .map_err(self.err("listing", &tmp))?;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let grace_ms = i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX);
        let mut n = 0;
        // Markers first: abort the upload they name, then the .part.
        let (markers, rest): (Vec<_>, Vec<_>) = listed
            .into_iter()
            .filter(|m| now_ms.saturating_sub(m.last_modified.timestamp_millis()) >= grace_ms)
            .partition(|m| m.location.as_ref().ends_with(".upload"));
        for m in markers {
            let id = self
                .store
                .get(&m.location)
                .await
                .map_err(self.err("reading", &m.location))?
                .bytes()
                .await
                .map_err(self.err("reading", &m.location))?;
            if let (Ok(id), Some(part)) = (
                std::str::from_utf8(&id),
                m.location.as_ref().strip_suffix(".upload"),
            ) {
                let part = Path::from(format!("{part}.part"));
                match self.store.abort_multipart(&part, &id.to_owned()).await {
                    Ok(()) => {}
                    Err(e) if not_found(&e) => {}
                    Err(e) => return Err(self.err("aborting a multipart upload", &part)(e)),
                }
            }
            self.store
                .delete(&m.location)
                .await
                .map_err(self.err("removing", &m.location))?;
            n += 1;
        }
        for m in rest {
            match self.store.delete(&m.location).await {
                Ok(()) => n += 1,
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(self.err("removing", &m.location)(e)),
            }
        }
        Ok(n)
    }

    async fn stage<R: AsyncRead + Send + Unpin>(&self, source: R, len: u64) -> Result<S3Staged> {
        let name = random_name()?;
        let tmp = self.path(&format!("tmp/{name}.part"));
        let hash = if len <= PART as u64 {
            self.stage_small(source, len, &tmp).await?
        } else {
            let marker = self.path(&format!("tmp/{name}.upload"));
            self.stage_multipart(source, len, &tmp, &marker).await?
        };
        Ok(S3Staged {
            owner: self.clone(),
            tmp,
            len,
            hash,
            done: false,
        })
    }

    async fn publish(
        &self,
        key: BlobKey,
        mut staged: S3Staged,
        expected_hash: [u8; 32],
    ) -> Result<()> {
        staged.done = true;
        let tmp = staged.tmp.clone();
        if staged.hash != expected_hash {
            Self::delete_quietly(&self.store, &tmp).await;
            return Err(StoreError::HashMismatch);
        }
        let to = self.blob_path(key);
        // Copy replaces an orphan under the same key (the contract's
        // re-adoption); S3 creates the target atomically.
        let copied = self
            .store
            .copy(&tmp, &to)
            .await
            .map_err(self.err("publishing", &to));
        Self::delete_quietly(&self.store, &tmp).await;
        copied
    }

    async fn discard(&self, mut staged: S3Staged) {
        staged.done = true;
        Self::delete_quietly(&self.store, &staged.tmp).await;
    }

    async fn len(&self, key: BlobKey) -> Result<Option<u64>> {
        let p = self.blob_path(key);
        match self.store.head(&p).await {
            Ok(m) => Ok(Some(m.size)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(self.err("reading the length of", &p)(e)),
        }
    }

    async fn get_range(&self, key: BlobKey, start: u64, end: u64) -> Result<BlobReader> {
        let p = self.blob_path(key);
        if start >= end {
            // No zero-length Range in HTTP: ask whether it exists.
            return match self.len(key).await? {
                Some(_) => Ok(Box::new(tokio::io::empty())),
                None => Err(StoreError::NotFound("blob")),
            };
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(start..end)),
            ..GetOptions::default()
        };
        match self.store.get_opts(&p, opts).await {
            Ok(r) => {
                let stream = r.into_stream().map(|c| c.map_err(std::io::Error::other));
                Ok(Box::new(tokio_util::io::StreamReader::new(stream)))
            }
            Err(e) if not_found(&e) => Err(StoreError::NotFound("blob")),
            Err(e) => Err(self.err("reading", &p)(e)),
        }
    }

    async fn delete(&self, key: BlobKey) -> Result<bool> {
        // S3 deletes answer the same whether or not the object existed.
        if self.len(key).await?.is_none() {
            return Ok(false);
        }
        let p = self.blob_path(key);
        match self.store.delete(&p).await {
            Ok(()) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(self.err("deleting", &p)(e)),
        }
    }

    async fn list(&self) -> Result<Vec<BlobKey>> {
        let root = self.path("blobs");
        let listed: Vec<_> = self
            .store
            .list(Some(&root))
            .try_collect()
            .await
            .map_err(self.err("listing", &root))?;
        let mut out: Vec<BlobKey> = listed
            .iter()
            .filter_map(|m| {
                let mut parts = m.location.prefix_match(&root)?;
                let recording = RecordingId::from_hex(parts.next()?.as_ref())?;
                let index = parts.next()?.as_ref().strip_suffix(".seg")?.parse().ok()?;
                parts
                    .next()
                    .is_none()
                    .then_some(BlobKey { recording, index })
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        assert_eq!(parse_url("s3://b/p/q/").unwrap(), ("b", "p/q"));
        assert_eq!(parse_url("s3://b").unwrap(), ("b", ""));
        assert!(parse_url("s3:///p").is_err());
        assert!(parse_url("https://b/p").is_err());
    }
}
