//! The startup check that the index and the blob store agree
//! (docs/vault.md §1.2), written against the traits so that every engine
//! runs the same one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::{BlobKey, BlobStore, IndexStore, Result, StoreError};

/// What [`check_consistency`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consistency {
    /// Temporary files removed.
    pub temporary_removed: usize,
    /// Blobs without an index row (crash between rename and commit);
    /// re-adopted when the device re-uploads the record.
    pub orphan_blobs: Vec<BlobKey>,
    /// Index rows whose blob is missing (must never happen; data loss).
    pub missing_blobs: Vec<BlobKey>,
    /// Blobs whose length differs from their row's (truncated or grown
    /// since they were verified): (segment, row's length, stored length).
    /// Only lengths: hashing every blob at each start would make a start
    /// take as long as reading the whole store (`obhut check` does that).
    pub wrong_length: Vec<(BlobKey, u64, u64)>,
}

/// Startup check (docs/vault.md §1.2): establish or compare the instance
/// id on both sides (refusing a mismatch), remove temporary leftovers, and
/// report orphan and missing blobs and blobs whose length is not their
/// row's.
pub async fn check_consistency(
    index: &impl IndexStore,
    blobs: &impl BlobStore,
    index_path: &Path,
    blob_path: &Path,
) -> Result<Consistency> {
    let a = index.instance_id().await?;
    let b = blobs.instance_id().await?;
    match (a, b) {
        (Some(a), Some(b)) if a == b => {}
        (None, None) => {
            let id = new_instance_id()?;
            // Blob side first: an index row is never written before the
            // state it describes (same order as segments).
            blobs.set_instance_id(&id).await?;
            index.set_instance_id(&id).await?;
        }
        (a, b) => {
            return Err(StoreError::InstanceMismatch {
                index_path: index_path.to_owned(),
                index_id: a.unwrap_or_else(|| "none".into()),
                blob_path: blob_path.to_owned(),
                blob_id: b.unwrap_or_else(|| "none".into()),
            });
        }
    }
    let temporary_removed = blobs.clean_temporary().await?;
    let rows: BTreeSet<BlobKey> = index
        .segment_keys()
        .await?
        .into_iter()
        .map(|(recording, index)| BlobKey { recording, index })
        .collect();
    let stored: BTreeSet<BlobKey> = blobs.list().await?.into_iter().collect();
    let mut wrong_length = Vec::new();
    for key in rows.intersection(&stored) {
        let (Some(row), Some(got)) = (
            index.segment(key.recording, key.index).await?,
            blobs.len(*key).await?,
        ) else {
            continue;
        };
        if row.blob_len != got {
            wrong_length.push((*key, row.blob_len, got));
        }
    }
    Ok(Consistency {
        temporary_removed,
        orphan_blobs: stored.difference(&rows).copied().collect(),
        missing_blobs: rows.difference(&stored).copied().collect(),
        wrong_length,
    })
}

fn new_instance_id() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| StoreError::Io {
        op: "drawing a random instance id",
        path: PathBuf::new(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(hex::encode(b))
}
