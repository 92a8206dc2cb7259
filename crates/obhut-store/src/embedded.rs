//! The embedded engines opened together: the SQLite index
//! (`DATA/obhut.sqlite`, [`SqliteIndex`]) and the blob directory
//! (`DATA/blobs/`, `DATA/tmp/`, [`DirBlobStore`]); or the SQLite index
//! with the blobs in an S3 bucket ([`open_vault`], [`BlobConfig`]).

use std::path::{Path, PathBuf};

use crate::blobs::AnyBlobStore;
use crate::dir::DirBlobStore;
use crate::s3::S3BlobStore;
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

/// Where a vault keeps its blobs: `DATA/blobs/` unless `url` names an S3
/// bucket (`s3://bucket/prefix`, `OBHUT_BLOB_URL`), reached with
/// `options` (`object_store` keys such as `aws_endpoint`, `aws_region`)
/// over what the `AWS_*` environment sets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BlobConfig {
    /// `s3://bucket/prefix`; `None`: the data directory.
    pub url: Option<String>,
    /// S3 options from the configuration file.
    pub options: Vec<(String, String)>,
}

/// The options' names only: their values may be credentials.
impl std::fmt::Debug for BlobConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.options.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("BlobConfig")
            .field("url", &self.url)
            .field("options", &names)
            .finish()
    }
}

impl BlobConfig {
    /// Open the configured blob store (creating `DATA/blobs/` and
    /// `DATA/tmp/` for the directory; contacting nothing for S3).
    pub async fn open(&self, data_dir: &Path) -> Result<AnyBlobStore> {
        match &self.url {
            None => Ok(AnyBlobStore::Dir(DirBlobStore::open(data_dir).await?)),
            Some(url) => Ok(AnyBlobStore::S3(S3BlobStore::open(
                url,
                self.options.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )?)),
        }
    }
}

/// [`open_embedded`] with the blobs where `blobs` says: the SQLite index
/// in `data_dir` and the configured blob store, checked together
/// ([`check_consistency`]).
pub async fn open_vault(
    data_dir: &Path,
    blobs: &BlobConfig,
) -> Result<(SqliteIndex, AnyBlobStore, Consistency)> {
    create_private_dir(data_dir)?;
    let db_path = data_dir.join("obhut.sqlite");
    create_private_file(&db_path)?;
    let index = SqliteIndex::open(&db_path).await?;
    let store = blobs.open(data_dir).await?;
    let at = PathBuf::from(store.location());
    let report = check_consistency(&index, &store, &db_path, &at).await?;
    Ok((index, store, report))
}

/// [`open_embedded_shared`] with the blobs where `blobs` says.
pub async fn open_vault_shared(
    data_dir: &Path,
    blobs: &BlobConfig,
) -> Result<(SqliteIndex, AnyBlobStore)> {
    let db_path = data_dir.join("obhut.sqlite");
    if !db_path.exists() {
        return Err(StoreError::NotFound(
            "vault index (obhut.sqlite) in the data directory; create it with `obhut serve --init --data DIR --keys KEYS`, or pass the right --data",
        ));
    }
    let index = SqliteIndex::open(&db_path).await?;
    let store = blobs.open(data_dir).await?;
    let a = index.instance_id().await?;
    let b = store.instance_id().await?;
    if a.is_none() || a != b {
        return Err(StoreError::InstanceMismatch {
            index_path: db_path,
            index_id: a.unwrap_or_else(|| "none".into()),
            blob_path: PathBuf::from(store.location()),
            blob_id: b.unwrap_or_else(|| "none".into()),
        });
    }
    Ok((index, store))
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
