//! [`BlobStore`] on a local directory:
//!
//! ```text
//! DATA/blobs/INSTANCE              instance id (shared with the index)
//! DATA/blobs/<rid-hex>/<index>.seg segment ciphertexts
//! DATA/tmp/<random>.part           puts in progress
//! ```
//!
//! `tmp/` and `blobs/` are on the same file system (siblings), so a rename
//! publishes atomically.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use obhut_core::ids::RecordingId;
use obhut_core::segment::ciphertext_hasher;
use obhut_durable::{Staged, Step, Synced};
use tokio::fs::{self, File};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

use crate::{BlobKey, BlobReader, BlobStore, Result, StagedBlob, StoreError};

const INSTANCE_FILE: &str = "INSTANCE";
/// Bytes per write while staging (at most: a smaller blob gets a buffer of
/// its size). An upload owns one such buffer while it streams and none once
/// staged. 256 KiB rather than 64: a quarter of the write and writeback
/// calls, 8 % less vault CPU and about 5 % faster on the 1 GiB ingest of
/// `scripts/bench-vault` (A/B, four runs each).
const BUF: usize = 256 * 1024;

/// Segment blobs in a local directory.
#[derive(Debug, Clone)]
pub struct DirBlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// A durable write's failure ([`obhut_durable`]) in this module's words.
fn durable(e: obhut_durable::Error) -> StoreError {
    let op = match e.step {
        Step::Rename => "renaming into place",
        step => step.as_str(),
    };
    StoreError::Io {
        op,
        path: e.path,
        source: e.source,
    }
}

/// fsync a directory so that entries created, renamed or removed in it are
/// durable (on a blocking thread already).
fn sync_dir_blocking(dir: &Path) -> Result<()> {
    obhut_durable::sync_dir(dir).map_err(durable)
}

/// Run blocking file-system work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    op: &'static str,
    path: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| join_error(op, path, e))
}

fn join_error(op: &'static str, path: &Path, e: tokio::task::JoinError) -> StoreError {
    StoreError::Io {
        op,
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// fsync a directory so that entries created, renamed or removed in it are
/// durable.
async fn sync_dir(dir: &Path) -> Result<()> {
    let d = dir.to_owned();
    blocking("syncing directory", dir, move || sync_dir_blocking(&d)).await?
}

/// Write `bytes` to `path` durably and atomically (small files: the
/// instance id), staged in `tmp_dir` like a blob
/// ([`obhut_durable::write_atomic_via`]).
async fn write_durable(tmp_dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_dir.join(format!("{}.part", random_name()?));
    let (target, bytes) = (path.to_owned(), bytes.to_vec());
    blocking("writing", path, move || {
        obhut_durable::write_atomic_via(&tmp, &target, &bytes, 0o666).map_err(durable)
    })
    .await?
}

fn random_name() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| StoreError::Io {
        op: "drawing a random file name",
        path: PathBuf::new(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(hex::encode(b))
}

impl DirBlobStore {
    /// Open (creating `blobs/` and `tmp/` if needed) under `data_dir`.
    pub async fn open(data_dir: &Path) -> Result<Self> {
        let blobs = data_dir.join("blobs");
        let tmp = data_dir.join("tmp");
        for d in [&blobs, &tmp] {
            fs::create_dir_all(d)
                .await
                .map_err(io("creating directory", d))?;
        }
        sync_dir(data_dir).await?;
        Ok(DirBlobStore { blobs, tmp })
    }

    /// The `blobs/` directory.
    pub fn root(&self) -> &Path {
        &self.blobs
    }

    /// The files in `tmp/`: uploads in progress while a vault runs, and
    /// leftovers of an interrupted one when none does (`obhut check`).
    pub async fn temporary_files(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut rd = fs::read_dir(&self.tmp)
            .await
            .map_err(io("listing", &self.tmp))?;
        while let Some(e) = rd.next_entry().await.map_err(io("listing", &self.tmp))? {
            out.push(e.path());
        }
        out.sort();
        Ok(out)
    }

    /// Path of a blob.
    pub fn path_of(&self, key: BlobKey) -> PathBuf {
        self.blobs
            .join(key.recording.to_string())
            .join(format!("{}.seg", key.index))
    }

    /// Stream exactly `len` bytes of `source` into `file`, hashing; never
    /// reads past them. Returns the file, the bytes received (fewer than
    /// `len` only if the source ended) and their hash.
    ///
    /// Each [`BUF`] bytes are written with `std::fs` right here, on the
    /// async task: a write into the page cache costs about what hashing
    /// them does, and the wait for the disk is the fsync, which runs on the
    /// blocking pool ([`BlobStore::sync_staged`], `publish`). Inline writes
    /// took 28 % less vault CPU than a `spawn_blocking` per write; the price
    /// is a stalled tokio worker when the disk falls far behind. One buffer
    /// per upload, freed when this returns. History: BENCHMARKS.md,
    /// "Tuning decisions".
    async fn copy_exact<R: AsyncRead + Unpin>(
        mut source: R,
        mut file: Staged,
        len: u64,
    ) -> Result<(Staged, u64, [u8; 32])> {
        let mut hasher = ciphertext_hasher();
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(BUF).min(BUF)];
        let mut total: u64 = 0;
        while total < len {
            // Fill the buffer first: a slow sender's small reads become one
            // write, not one each.
            let want = usize::try_from(len - total)
                .unwrap_or(buf.len())
                .min(buf.len());
            let mut filled = 0;
            while filled < want {
                match source.read(&mut buf[filled..want]).await {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) => return Err(StoreError::Source(e)),
                }
            }
            hasher.update(&buf[..filled]);
            file.write_all(&buf[..filled]).map_err(durable)?;
            start_writeback(file.file(), total, filled);
            total += filled as u64;
            if filled < want {
                break;
            }
        }
        Ok((file, total, *hasher.finalize().as_bytes()))
    }
}

/// A staged blob whose file an earlier failed fsync closed: it can only
/// be discarded.
fn closed_by_failure(tmp: PathBuf) -> StoreError {
    StoreError::Io {
        op: "syncing",
        path: tmp,
        source: std::io::Error::other("the staged file was closed by an earlier failure"),
    }
}

/// Ask the kernel to start writing `len` bytes at `offset` of `file` to
/// the disk now, without waiting (Linux `sync_file_range(2)` with
/// `SYNC_FILE_RANGE_WRITE` only). Without it a staged blob's pages stay
/// dirty until the fsync before publication, which then writes the whole
/// blob in one burst while the disk sat idle during the upload; with it
/// the disk writes behind the network. The 1 GiB ingest of
/// `scripts/bench-vault` ran about 8 % faster (A/B, four runs each). Only a
/// hint: durability still comes from the fsync, so a failure is ignored.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn start_writeback(file: &std::fs::File, offset: u64, len: usize) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: a system call on a descriptor `file` owns and keeps open for
    // the call's duration; no memory is passed, and the kernel checks the
    // range. The result is ignored (see above).
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: u64, _len: usize) {}

/// Make a staged blob's bytes durable (`fsync`; on failure the file is
/// abandoned, [`obhut_durable`]), then drop its pages from the page cache
/// ([`drop_cached`]): the one way both `sync_staged` and `publish` sync a
/// blob.
fn sync_blob(staged: Staged) -> Result<Synced> {
    let synced = staged.sync().map_err(durable)?;
    drop_cached(synced.file());
    Ok(synced)
}

/// Drop a synced blob's pages from the page cache
/// (`posix_fadvise(DONTNEED)`; they are clean, so this only frees them).
/// A vault writes each blob once and reads it rarely (an access grant, a
/// court export), so keeping a gigabyte of ciphertext cached per gigabyte
/// ingested only pushes out pages worth keeping (the index's). Freed
/// pages are also what the next blob's writes land in: on this project's
/// 2-core VM the 1 GiB ingest of `scripts/bench-vault` took about 6 %
/// less time with the vault alone doing this (one A/B), 5–10 % with the
/// agent dropping the footage it read as well (four A/Bs), and the
/// vault's CPU fell by about 10 % (BENCHMARKS.md). Only a hint: a failure
/// is ignored.
#[cfg(target_os = "linux")]
fn drop_cached(file: &std::fs::File) {
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
}

#[cfg(not(target_os = "linux"))]
fn drop_cached(_file: &std::fs::File) {}

/// A blob staged in `DATA/tmp/<random>.part` ([`BlobStore::stage`]). The
/// file is removed when this is dropped unless it was published (one
/// unlink; startup clean-up catches what that misses).
#[derive(Debug)]
pub struct DirStaged {
    file: StagedFile,
    /// The temporary file, named in errors.
    tmp: PathBuf,
    len: u64,
    hash: [u8; 32],
}

/// Where a staged blob's file is in the durable write.
#[derive(Debug)]
enum StagedFile {
    /// Written, not yet synced.
    Written(Staged),
    /// Its bytes are on stable storage ([`BlobStore::sync_staged`]).
    Synced(Synced),
    /// An earlier failure closed (and removed) it.
    Closed,
}

impl StagedBlob for DirStaged {
    fn len(&self) -> u64 {
        self.len
    }
    fn hash(&self) -> [u8; 32] {
        self.hash
    }
}

impl BlobStore for DirBlobStore {
    type Staged = DirStaged;

    async fn instance_id(&self) -> Result<Option<String>> {
        let p = self.blobs.join(INSTANCE_FILE);
        match fs::read_to_string(&p).await {
            Ok(s) => Ok(Some(s.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("reading", &p)(e)),
        }
    }

    async fn set_instance_id(&self, id: &str) -> Result<()> {
        write_durable(
            &self.tmp,
            &self.blobs.join(INSTANCE_FILE),
            format!("{id}\n").as_bytes(),
        )
        .await
    }

    async fn ping(&self) -> Result<()> {
        fs::metadata(&self.blobs)
            .await
            .map_err(io("checking", &self.blobs))?;
        fs::metadata(&self.tmp)
            .await
            .map_err(io("checking", &self.tmp))?;
        // A write probe, as a blob is written (create, write, fsync) and
        // then removed: a full disk or a failing device shows here rather
        // than only in the next upload. 64 KiB, the store's write size: a
        // disk with less free space cannot take a segment either. The name
        // is one `clean_temporary` removes if the process dies meanwhile.
        let probe = self.tmp.join(format!("{}.probe", random_name()?));
        blocking("probing writes", &probe.clone(), move || {
            use std::io::Write;
            let r = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)
                .and_then(|mut f| {
                    f.write_all(&[0u8; 64 * 1024])?;
                    f.sync_data()
                });
            let removed = std::fs::remove_file(&probe);
            r.map_err(io("probing writes in", &probe))?;
            removed.map_err(io("removing the write probe", &probe))
        })
        .await?
    }

    async fn clean_temporary(&self) -> Result<usize> {
        let mut n = 0;
        let mut rd = fs::read_dir(&self.tmp)
            .await
            .map_err(io("listing", &self.tmp))?;
        while let Some(e) = rd.next_entry().await.map_err(io("listing", &self.tmp))? {
            let p = e.path();
            fs::remove_file(&p).await.map_err(io("removing", &p))?;
            n += 1;
        }
        if n > 0 {
            sync_dir(&self.tmp).await?;
        }
        Ok(n)
    }

    /// Phase 1 of the durable-write sequence (docs/vault.md §1.1–1.2):
    ///
    /// 1. `open(tmp/<random>.part, O_WRONLY|O_CREAT|O_EXCL)` — a fresh name,
    ///    never someone else's file;
    /// 2. `write` exactly `len` bytes of the stream while hashing (BLAKE3,
    ///    format.md §6.3); a short or failing stream `unlink`s the file.
    ///
    /// Nothing is durable or visible yet.
    async fn stage<R: AsyncRead + Send + Unpin>(&self, source: R, len: u64) -> Result<DirStaged> {
        let tmp = self.tmp.join(format!("{}.part", random_name()?));
        let path = tmp.clone();
        let file = blocking("creating", &tmp, move || Staged::create(&path, 0o666))
            .await?
            .map_err(durable)?;
        let (file, got, hash) = Self::copy_exact(source, file, len).await?;
        if got != len {
            return Err(StoreError::WrongLength { expected: len, got });
        }
        Ok(DirStaged {
            file: StagedFile::Written(file),
            tmp,
            len,
            hash,
        })
    }

    /// Step 4 of phase 2 ahead of time: `fsync(file)`. On failure the file
    /// is closed and removed, and the blob can only be discarded.
    async fn sync_staged(&self, staged: &mut DirStaged) -> Result<()> {
        let file = match std::mem::replace(&mut staged.file, StagedFile::Closed) {
            StagedFile::Written(file) => file,
            StagedFile::Synced(synced) => {
                staged.file = StagedFile::Synced(synced);
                return Ok(());
            }
            StagedFile::Closed => return Err(closed_by_failure(staged.tmp.clone())),
        };
        let synced = blocking("syncing", &staged.tmp, move || sync_blob(file)).await??;
        staged.file = StagedFile::Synced(synced);
        Ok(())
    }

    /// Phase 2, only for a blob the caller has verified:
    ///
    /// 3. compare the hash; on mismatch `unlink` — nothing was published;
    /// 4. `fsync(file)` unless [`BlobStore::sync_staged`] did — the bytes
    ///    are on stable storage; on failure abandon (unlink, error): a
    ///    failed fsync is never retried;
    /// 5. `mkdir blobs/<rid>` if new, then `fsync(blobs/)` so the new
    ///    directory entry is durable;
    /// 6. `rename(tmp/…part, blobs/<rid>/<index>.seg)` — atomic publish
    ///    (replaces an orphan of an earlier crash: same verified content);
    /// 7. `fsync(blobs/<rid>/)` — the rename is durable.
    ///
    /// Only then may the caller insert the index row (blob before row).
    ///
    /// Steps 4–7 run in this order in one blocking task.
    async fn publish(
        &self,
        key: BlobKey,
        mut staged: DirStaged,
        expected_hash: [u8; 32],
    ) -> Result<()> {
        if staged.hash != expected_hash {
            return Err(StoreError::HashMismatch);
        }
        let blobs = self.blobs.clone();
        let dir = self.blobs.join(key.recording.to_string());
        let dest = self.path_of(key);
        let at = dest.clone();
        blocking("publishing", &at, move || {
            let synced = match std::mem::replace(&mut staged.file, StagedFile::Closed) {
                StagedFile::Written(file) => sync_blob(file)?,
                StagedFile::Synced(synced) => synced,
                StagedFile::Closed => return Err(closed_by_failure(staged.tmp.clone())),
            };
            if std::fs::metadata(&dir).is_err() {
                std::fs::create_dir_all(&dir).map_err(io("creating directory", &dir))?;
                sync_dir_blocking(&blobs)?;
            }
            synced.publish(&dest).map_err(durable)
        })
        .await?
    }

    async fn discard(&self, staged: DirStaged) {
        // Dropping the staged file removes it.
        drop(staged);
    }

    async fn len(&self, key: BlobKey) -> Result<Option<u64>> {
        let p = self.path_of(key);
        match fs::metadata(&p).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("reading", &p)(e)),
        }
    }

    async fn get_range(&self, key: BlobKey, start: u64, end: u64) -> Result<BlobReader> {
        let p = self.path_of(key);
        let mut f = File::open(&p).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::NotFound("blob")
            } else {
                io("opening", &p)(e)
            }
        })?;
        f.seek(SeekFrom::Start(start))
            .await
            .map_err(io("seeking", &p))?;
        Ok(Box::new(f.take(end.saturating_sub(start))))
    }

    /// `unlink(blobs/<rid>/<index>.seg)`, then `fsync(blobs/<rid>/)`.
    async fn delete(&self, key: BlobKey) -> Result<bool> {
        let p = self.path_of(key);
        match fs::remove_file(&p).await {
            Ok(()) => {
                if let Some(parent) = p.parent() {
                    sync_dir(parent).await?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io("removing", &p)(e)),
        }
    }

    async fn list(&self) -> Result<Vec<BlobKey>> {
        let mut out = Vec::new();
        let mut rd = fs::read_dir(&self.blobs)
            .await
            .map_err(io("listing", &self.blobs))?;
        while let Some(e) = rd.next_entry().await.map_err(io("listing", &self.blobs))? {
            let name = e.file_name();
            let Some(recording) = name.to_str().and_then(RecordingId::from_hex) else {
                continue; // INSTANCE and anything foreign
            };
            let d = e.path();
            let mut inner = fs::read_dir(&d).await.map_err(io("listing", &d))?;
            while let Some(s) = inner.next_entry().await.map_err(io("listing", &d))? {
                let n = s.file_name();
                if let Some(index) = n
                    .to_str()
                    .and_then(|n| n.strip_suffix(".seg"))
                    .and_then(|i| i.parse::<u32>().ok())
                {
                    out.push(BlobKey { recording, index });
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(b: &[u8]) -> [u8; 32] {
        let mut h = ciphertext_hasher();
        h.update(b);
        *h.finalize().as_bytes()
    }

    #[tokio::test]
    async fn put_verified_refuses_then_publishes() {
        let d = tempfile::tempdir().unwrap();
        let s = DirBlobStore::open(d.path()).await.unwrap();
        let key = BlobKey {
            recording: RecordingId([1; 16]),
            index: 0,
        };
        let data = vec![7u8; 200_000];
        let h = hash(&data);
        assert!(matches!(
            s.put_verified(key, &data[..199_999], 200_000, h).await,
            Err(StoreError::WrongLength { got: 199_999, .. })
        ));
        let mut long = data.clone();
        long.push(0);
        assert!(matches!(
            s.put_verified(key, &long[..], 200_000, h).await,
            Err(StoreError::WrongLength { got: 200_001, .. })
        ));
        assert!(matches!(
            s.put_verified(key, &data[..], 200_000, [0; 32]).await,
            Err(StoreError::HashMismatch)
        ));
        assert!(s.list().await.unwrap().is_empty());
        assert_eq!(std::fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
        s.put_verified(key, &data[..], 200_000, h).await.unwrap();
        assert_eq!(s.list().await.unwrap(), vec![key]);
        assert_eq!(s.len(key).await.unwrap(), Some(200_000));
        let mut r = s.get_range(key, 10, 20).await.unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, vec![7u8; 10]);
        assert!(s.delete(key).await.unwrap());
        assert!(!s.delete(key).await.unwrap());
    }

    fn tmp_count(d: &Path) -> usize {
        std::fs::read_dir(d.join("tmp")).unwrap().count()
    }

    #[tokio::test]
    async fn stage_reads_exactly_then_publishes_or_discards() {
        let d = tempfile::tempdir().unwrap();
        let s = DirBlobStore::open(d.path()).await.unwrap();
        let key = BlobKey {
            recording: RecordingId([2; 16]),
            index: 3,
        };
        let blob = vec![9u8; 150_000];
        let mut body = blob.clone();
        body.extend_from_slice(b"TRAILER");
        // Exactly the blob is staged; the trailer stays in the source.
        let mut src = &body[..];
        let staged = s.stage(&mut src, 150_000).await.unwrap();
        assert_eq!(src, b"TRAILER");
        assert_eq!((staged.len(), staged.hash()), (150_000, hash(&blob)));
        assert_eq!(tmp_count(d.path()), 1);
        assert!(s.list().await.unwrap().is_empty(), "staged is not visible");
        s.discard(staged).await;
        assert_eq!(tmp_count(d.path()), 0);
        // Dropping a staged blob removes it too.
        let staged = s.stage(&blob[..], 150_000).await.unwrap();
        drop(staged);
        assert_eq!(tmp_count(d.path()), 0);
        // A short source leaves nothing.
        assert!(matches!(
            s.stage(&blob[..1000], 150_000).await,
            Err(StoreError::WrongLength {
                expected: 150_000,
                got: 1000
            })
        ));
        assert_eq!(tmp_count(d.path()), 0);
        // Publishing refuses another hash, then accepts the right one.
        let staged = s.stage(&blob[..], 150_000).await.unwrap();
        assert!(matches!(
            s.publish(key, staged, [0; 32]).await,
            Err(StoreError::HashMismatch)
        ));
        assert_eq!(tmp_count(d.path()), 0);
        assert!(s.list().await.unwrap().is_empty());
        let staged = s.stage(&blob[..], 150_000).await.unwrap();
        s.publish(key, staged, hash(&blob)).await.unwrap();
        assert_eq!(tmp_count(d.path()), 0);
        assert_eq!(s.list().await.unwrap(), vec![key]);
        assert_eq!(std::fs::read(s.path_of(key)).unwrap(), blob);
        // Synced ahead of publication (twice is once): still invisible
        // until published, then published like any other.
        let other = BlobKey { index: 4, ..key };
        let mut staged = s.stage(&blob[..], 150_000).await.unwrap();
        s.sync_staged(&mut staged).await.unwrap();
        s.sync_staged(&mut staged).await.unwrap();
        assert_eq!(s.list().await.unwrap(), vec![key], "synced is not visible");
        s.publish(other, staged, hash(&blob)).await.unwrap();
        assert_eq!(tmp_count(d.path()), 0);
        assert_eq!(std::fs::read(s.path_of(other)).unwrap(), blob);
    }

    /// A source that hands out at most `step` bytes per read.
    struct Trickle<'a> {
        rest: &'a [u8],
        step: usize,
    }

    impl AsyncRead for Trickle<'_> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            out: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let n = self.rest.len().min(self.step).min(out.remaining());
            out.put_slice(&self.rest[..n]);
            self.rest = &self.rest[n..];
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn stage_across_write_chunks() {
        let d = tempfile::tempdir().unwrap();
        let s = DirBlobStore::open(d.path()).await.unwrap();
        let blob: Vec<u8> = (0..3 * BUF + 17).map(|i| (i % 251) as u8).collect();
        for len in [0, 1, BUF - 1, BUF, BUF + 1, 2 * BUF, 3 * BUF + 17] {
            for step in [1000, 7, BUF, usize::MAX] {
                let key = BlobKey {
                    recording: RecordingId([4; 16]),
                    index: len as u32,
                };
                // A source longer than `len`: exactly `len` bytes are taken.
                let mut src = Trickle { rest: &blob, step };
                let staged = s.stage(&mut src, len as u64).await.unwrap();
                assert_eq!(src.rest.len(), blob.len() - len, "len {len} step {step}");
                assert_eq!(staged.hash(), hash(&blob[..len]));
                s.publish(key, staged, hash(&blob[..len])).await.unwrap();
                assert_eq!(std::fs::read(s.path_of(key)).unwrap(), &blob[..len]);
            }
        }
        // A source that ends on a chunk boundary before `len`.
        let short = Trickle {
            rest: &blob[..2 * BUF],
            step: 1000,
        };
        assert!(matches!(
            s.stage(short, 3 * BUF as u64).await,
            Err(StoreError::WrongLength { got, .. }) if got == 2 * BUF as u64
        ));
        assert_eq!(tmp_count(d.path()), 0);
    }

    #[tokio::test]
    async fn startup_cleans_tmp() {
        let d = tempfile::tempdir().unwrap();
        let s = DirBlobStore::open(d.path()).await.unwrap();
        std::fs::write(d.path().join("tmp/abc.part"), b"partial").unwrap();
        assert_eq!(s.clean_temporary().await.unwrap(), 1);
        assert_eq!(s.clean_temporary().await.unwrap(), 0);
    }
}
