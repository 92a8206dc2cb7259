//! The embedded engines opened together: the SQLite index
//! (`DATA/obhut.sqlite`, [`SqliteIndex`]) and the blob directory
//! (`DATA/blobs/`, `DATA/tmp/`, [`DirBlobStore`]).

use std::path::Path;

use crate::dir::DirBlobStore;
use crate::sqlite::SqliteIndex;
use crate::{BlobStore, Consistency, IndexStore, Result, StoreError, check_consistency};

/// The embedded stores in `data_dir`: `obhut.sqlite` and `blobs/` + `tmp/`.
///
/// A new data directory is made 0700 and a new index file 0600 (SQLite
/// gives its `-wal` and `-shm` files the index file's mode): they hold
/// case numbers, justifications and who asked for what.
pub async fn open_embedded(data_dir: &Path) -> Result<(SqliteIndex, DirBlobStore, Consistency)> {
    create_private_dir(data_dir)?;
    let db_path = data_dir.join("obhut.sqlite");
    create_private_file(&db_path)?;
    let index = SqliteIndex::open(&db_path).await?;
    let blobs = DirBlobStore::open(data_dir).await?;
    let report = check_consistency(&index, &blobs, &db_path, blobs.root()).await?;
    Ok((index, blobs, report))
}

/// Open the embedded stores of a vault that may be running (the admin
/// CLI): no clean-up, no orphan scan (the server owns `tmp/`), and the
/// instance ids must already match. Refuses a directory without a vault.
pub async fn open_embedded_shared(data_dir: &Path) -> Result<(SqliteIndex, DirBlobStore)> {
    let db_path = data_dir.join("obhut.sqlite");
    if !db_path.exists() {
        return Err(StoreError::NotFound(
            "vault index (obhut.sqlite) in the data directory; create it with `obhut serve --init --data DIR --keys KEYS`, or pass the right --data",
        ));
    }
    let index = SqliteIndex::open(&db_path).await?;
    let blobs = DirBlobStore::open(data_dir).await?;
    let a = index.instance_id().await?;
    let b = blobs.instance_id().await?;
    if a.is_none() || a != b {
        return Err(StoreError::InstanceMismatch {
            index_path: db_path,
            index_id: a.unwrap_or_else(|| "none".into()),
            blob_path: blobs.root().to_owned(),
            blob_id: b.unwrap_or_else(|| "none".into()),
        });
    }
    Ok((index, blobs))
}

/// `dir` and any missing parents, mode 0700 (an existing one is left as
/// it is).
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::Io {
            op: "creating the data directory",
            path: dir.to_owned(),
            source,
        })
}

/// An empty `path`, mode 0600, unless it exists (SQLite takes an empty
/// file for an empty database).
fn create_private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Io {
            op: "creating the index file",
            path: path.to_owned(),
            source,
        }),
    }
}
