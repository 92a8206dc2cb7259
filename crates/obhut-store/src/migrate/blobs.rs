//! The blobs copied from one store to another and re-hashed where they
//! landed. A segment's blob is put with the BLAKE3 its device-signed
//! record names (`put_verified`: the destination refuses other bytes);
//! a blob without a row (an orphan of a crash) with the hash of the
//! source's bytes. Verification then reads every copied blob back from the
//! destination and hashes it again.

use std::collections::BTreeSet;

use futures_util::{StreamExt, TryStreamExt};
use obhut_core::record::SegmentRecord;
use obhut_core::segment::ciphertext_hasher;
use tokio::io::AsyncReadExt;

use super::{MigrateError, Progress};
use crate::sqlite::SqliteIndex;
use crate::{BlobKey, BlobStore, IndexStore, StoreError};

/// Blobs in flight at once: an object store answers each request after a
/// round trip, so a few overlap.
const PARALLEL: usize = 8;
/// Bytes read per step while hashing.
const BUF: usize = 256 * 1024;

/// What a blob should hash to: its record's `ciphertext_hash`, or `None`
/// for an orphan (no row).
async fn expected_hash(src: &SqliteIndex, key: BlobKey) -> Result<Option<[u8; 32]>, MigrateError> {
    let Some(row) = src.segment(key.recording, key.index).await? else {
        return Ok(None);
    };
    let record = SegmentRecord::from_bytes(&row.record).map_err(|e| MigrateError::SourceBlob {
        key,
        reason: format!("its stored record does not parse ({e})"),
    })?;
    Ok(Some(*record.ciphertext_hash()))
}

/// BLAKE3 (the ciphertext hash of format.md §6.3) and length of a whole
/// blob.
async fn hash_blob(store: &impl BlobStore, key: BlobKey) -> Result<([u8; 32], u64), StoreError> {
    let Some(len) = store.len(key).await? else {
        return Err(StoreError::NotFound("blob"));
    };
    let mut reader = store.get_range(key, 0, len).await?;
    let mut hasher = ciphertext_hasher();
    let mut buf = vec![0u8; BUF];
    let mut read = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|source| StoreError::Io {
                op: "reading the blob of",
                path: format!("{}/{}", key.recording, key.index).into(),
                source,
            })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        read += n as u64;
    }
    Ok((*hasher.finalize().as_bytes(), read))
}

/// The source's blobs, in key order, and their total length.
pub(super) async fn source_blobs(
    from: &impl BlobStore,
) -> Result<(Vec<(BlobKey, u64)>, u64), MigrateError> {
    let mut keys = from.list().await?;
    keys.sort();
    let mut out = Vec::with_capacity(keys.len());
    let mut total = 0u64;
    for key in keys {
        // Listed, then gone: the source is stopped, so this is damage.
        let len = from
            .len(key)
            .await?
            .ok_or_else(|| MigrateError::SourceBlob {
                key,
                reason: "it was listed and is gone".into(),
            })?;
        total += len;
        out.push((key, len));
    }
    Ok((out, total))
}

/// Copy every blob the destination lacks (absent, or of another length:
/// a blob is published whole or not at all, so one of the right length
/// was copied by an earlier run; verification re-hashes it anyway).
/// Returns the number copied.
pub(super) async fn copy_blobs(
    src: &SqliteIndex,
    from: &impl BlobStore,
    to: &impl BlobStore,
    blobs: &[(BlobKey, u64)],
    progress: &dyn Progress,
) -> Result<u64, MigrateError> {
    let present: BTreeSet<BlobKey> = to.list().await?.into_iter().collect();
    let copied = futures_util::stream::iter(blobs.iter().copied())
        .map(|(key, len)| {
            let present = present.contains(&key);
            async move {
                if present && to.len(key).await? == Some(len) {
                    progress.advance(len);
                    return Ok::<u64, MigrateError>(0);
                }
                copy_one(src, from, to, key, len).await?;
                progress.advance(len);
                Ok(1)
            }
        })
        .buffer_unordered(PARALLEL)
        .try_fold(0u64, |n, c| async move { Ok(n + c) })
        .await?;
    Ok(copied)
}

async fn copy_one(
    src: &SqliteIndex,
    from: &impl BlobStore,
    to: &impl BlobStore,
    key: BlobKey,
    len: u64,
) -> Result<(), MigrateError> {
    let reader = from.get_range(key, 0, len).await?;
    let source_err = |reason: String| MigrateError::SourceBlob { key, reason };
    match expected_hash(src, key).await? {
        Some(hash) => match to.put_verified(key, reader, len, hash).await {
            Ok(()) => Ok(()),
            Err(StoreError::HashMismatch) => Err(source_err(
                "its bytes do not match its record's BLAKE3".into(),
            )),
            Err(StoreError::WrongLength { expected, got }) => Err(source_err(format!(
                "it is {got} bytes long, not {expected}"
            ))),
            Err(e) => Err(e.into()),
        },
        None => {
            let staged = to.stage(reader, len).await?;
            let hash = crate::StagedBlob::hash(&staged);
            to.publish(key, staged, hash).await?;
            Ok(())
        }
    }
}

/// Re-hash every copied blob at the destination: against its record's
/// BLAKE3, or for an orphan against the source's bytes. A blob that
/// disagrees is deleted at the destination (so that the next run copies
/// it again) and named in the returned list.
pub(super) async fn verify_blobs(
    src: &SqliteIndex,
    from: &impl BlobStore,
    to: &impl BlobStore,
    blobs: &[(BlobKey, u64)],
    progress: &dyn Progress,
) -> Result<Vec<String>, MigrateError> {
    let bad: Vec<Option<String>> = futures_util::stream::iter(blobs.iter().copied())
        .map(|(key, len)| async move {
            let want = match expected_hash(src, key).await? {
                Some(h) => h,
                None => hash_blob(from, key).await?.0,
            };
            let got = match hash_blob(to, key).await {
                Ok(g) => Some(g),
                Err(StoreError::NotFound(_)) => None,
                Err(e) => return Err(MigrateError::from(e)),
            };
            progress.advance(len);
            let what = format!("recording {} segment {}", key.recording, key.index);
            Ok(match got {
                None => Some(format!("{what}: missing at the destination")),
                Some((h, n)) if n != len || h != want => {
                    to.delete(key).await?;
                    Some(format!(
                        "{what}: the destination's copy does not hash to {} ({n} of {len} bytes); removed, the next run copies it again",
                        if expected_hash(src, key).await?.is_some() {
                            "its record's BLAKE3"
                        } else {
                            "the source's BLAKE3"
                        }
                    ))
                }
                Some(_) => None,
            })
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    let mut bad: Vec<String> = bad.into_iter().flatten().collect();
    bad.sort();
    Ok(bad)
}
