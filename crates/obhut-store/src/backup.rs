//! `obhut backup` (issue 20 item 5, docs/backup.md): an online backup of
//! the embedded stores while the vault runs, into a directory that is a
//! complete data directory (`obhut.sqlite`, `blobs/`) to restore by
//! putting it back (or pointing `--data` at it).
//!
//! **Order, and why.** The index first, as one snapshot (`VACUUM INTO`,
//! which reads one consistent read transaction beside the running
//! writer, WAL included); then exactly the blobs its segment rows name,
//! each written with the BLAKE3 its device-signed record names. A vault
//! stores a blob before its row (lib.rs, write order), so every row of
//! the snapshot has its blob; a blob uploaded after the snapshot has no
//! row in it and is not copied. A blob that vanished after the snapshot
//! was deleted by a sweep (its epoch key is already destroyed): the
//! backup is refused ([`BackupError::BlobGone`]) rather than leave a row
//! without its blob; run it again.
//!
//! The keystore is not in it (docs/backup.md): back up `KEYS` apart, and
//! never the epoch key holder, whose destruction of a key is what makes
//! a backup's footage of an expired epoch unopenable.

use std::path::{Path, PathBuf};

use obhut_core::record::SegmentRecord;

use crate::dir::DirBlobStore;
use crate::migrate::Progress;
use crate::sqlite::SqliteIndex;
use crate::{BlobKey, BlobStore, IndexStore, StoreError};

/// Why a backup stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The target exists and is not an empty directory.
    #[error("{} exists and is not empty: back up into a new directory", .0.display())]
    TargetNotEmpty(PathBuf),
    /// The live index holds no vault.
    #[error("the index holds no vault (no instance id)")]
    NoVault,
    /// A blob named by the snapshot is gone from the live store.
    #[error(
        "the blob of recording {} segment {} went while the backup ran (a sweep deleted it); run the backup again",
        key.recording,
        key.index
    )]
    BlobGone {
        /// The segment.
        key: BlobKey,
    },
    /// A live blob does not match its record.
    #[error(
        "the blob of recording {} segment {} does not match its record ({reason}); run `obhut check`",
        key.recording,
        key.index
    )]
    BadBlob {
        /// The segment.
        key: BlobKey,
        /// How.
        reason: String,
    },
}

/// What a backup holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// Segments (rows, each with its blob).
    pub segments: u64,
    /// Blob bytes copied.
    pub bytes: u64,
    /// Audit-log entries in the snapshot.
    pub log_entries: u64,
}

/// Back up the running vault's `index` and `blobs` into `target` (new,
/// or an empty directory), which then holds `obhut.sqlite` and `blobs/`.
pub async fn backup_embedded(
    index: &SqliteIndex,
    blobs: &impl BlobStore,
    target: &Path,
    progress: &dyn Progress,
) -> Result<BackupReport, BackupError> {
    let instance = index.instance_id().await?.ok_or(BackupError::NoVault)?;
    if target.exists() {
        let empty = std::fs::read_dir(target)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(BackupError::TargetNotEmpty(target.to_owned()));
        }
    }
    crate::create_private_dir(target)?;
    let db = target.join("obhut.sqlite");
    let db_text = db.to_str().ok_or(StoreError::Config(
        "the backup directory's path is not UTF-8 (SQLite takes a string)",
    ))?;
    sqlx::query("VACUUM INTO ?")
        .bind(db_text)
        .execute(index.pool())
        .await
        .map_err(StoreError::from)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| StoreError::Io {
                op: "restricting",
                path: db.clone(),
                source,
            },
        )?;
    }
    let snapshot = SqliteIndex::open(&db).await?;
    let result = copy_named(&snapshot, blobs, target, &instance, progress).await;
    snapshot.close().await;
    result
}

async fn copy_named(
    snapshot: &SqliteIndex,
    blobs: &impl BlobStore,
    target: &Path,
    instance: &str,
    progress: &dyn Progress,
) -> Result<BackupReport, BackupError> {
    use crate::LogStore;
    let to = DirBlobStore::open(target).await?;
    to.set_instance_id(instance).await?;
    let mut keys = snapshot.segment_keys().await?;
    keys.sort();
    let mut report = BackupReport {
        log_entries: snapshot.log_sequenced().await?,
        ..BackupReport::default()
    };
    let mut rows = Vec::with_capacity(keys.len());
    let mut total = 0u64;
    for (recording, i) in keys {
        let Some(row) = snapshot.segment(recording, i).await? else {
            continue;
        };
        total += row.blob_len;
        rows.push(row);
    }
    progress.phase("blobs", total, 0, true);
    for row in rows {
        let key = BlobKey {
            recording: row.recording_id,
            index: row.index,
        };
        let record = SegmentRecord::from_bytes(&row.record).map_err(|e| BackupError::BadBlob {
            key,
            reason: format!("its record does not parse: {e}"),
        })?;
        let len = record.blob_len();
        if blobs.len(key).await? != Some(len) {
            return match blobs.len(key).await? {
                None => Err(BackupError::BlobGone { key }),
                Some(n) => Err(BackupError::BadBlob {
                    key,
                    reason: format!("{n} bytes, not {len}"),
                }),
            };
        }
        let reader = blobs.get_range(key, 0, len).await?;
        match to
            .put_verified(key, reader, len, *record.ciphertext_hash())
            .await
        {
            Ok(()) => {}
            Err(StoreError::HashMismatch) => {
                return Err(BackupError::BadBlob {
                    key,
                    reason: "another BLAKE3".into(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        report.segments += 1;
        report.bytes += len;
        progress.advance(len);
    }
    Ok(report)
}
