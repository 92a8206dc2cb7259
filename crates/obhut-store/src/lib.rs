//! # obhut-store
//!
//! The vault's storage, behind two narrow traits (docs/vault.md §1, §6):
//!
//! - [`IndexStore`]: devices, enrolment tokens, revocation, replay nonces,
//!   epoch public keys, recordings and segments with their signed record
//!   bytes; with [`LogStore`] (the audit log) and [`AccessStore`] (access
//!   requests, approvals, releases) as supertraits. Embedded
//!   implementation: [`sqlite::SqliteIndex`].
//! - [`BlobStore`]: segment ciphertexts, written verify-then-publish.
//!   Embedded implementation: [`dir::DirBlobStore`].
//!
//! The server never sees which implementation it runs on; PostgreSQL and S3
//! (`object_store`) are the next implementations and may differ freely
//! below the traits (e.g. S3 publishes by a conditional PUT instead of a
//! rename) as long as they keep the written contracts.
//!
//! **Write order** (docs/vault.md §1.2): a caller stores the blob first —
//! [`BlobStore::stage`] while the upload streams in, then
//! [`BlobStore::publish`] once the record that arrives after it verified
//! (or [`BlobStore::put_verified`] when the expected hash is known up
//! front) — and inserts the index row with [`IndexStore::insert_segment`]
//! only after that returned; a row therefore never names a missing blob. A
//! crash in between leaves an orphan blob, which [`check_consistency`]
//! reports.
//!
//! [`open_embedded`] opens both embedded stores and checks they belong
//! together (the instance id stored on both sides).

use std::future::Future;
use std::path::{Path, PathBuf};

use obhut_core::ids::{EpochId, GroupId, RecordingId};
use tokio::io::AsyncRead;

pub mod access;
pub mod dir;
pub mod log;
pub mod sqlite;
mod sqlite_access;
mod sqlite_log;

pub use access::{
    AccessStore, ApprovalRow, DenialRow, NewApproval, NewRequest, RequestInserted, RequestRow,
    RequestState,
};
pub use log::{LogEntryRow, LogStore, NewLogEntry, StoredCheckpoint, TileRow};

/// Result alias of this crate.
pub type Result<T, E = StoreError> = core::result::Result<T, E>;

/// A 32-byte Ed25519 public key as stored (device or person).
pub type KeyBytes = [u8; 32];

/// Everything storage can report. Variants a caller acts on carry data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The index database failed.
    #[error("index database: {0}")]
    Db(#[from] sqlx::Error),
    /// The index database's schema could not be brought up to date.
    #[error(
        "index database schema: {0}. If it was written by a newer obhut, run that version (or restore a backup made before the upgrade)"
    )]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading the upload stream failed (client went away, body error).
    #[error("reading the upload: {0}")]
    Source(std::io::Error),
    /// The blob is not `expected` bytes long (`got` counts up to the first
    /// byte past `expected`).
    #[error("blob is {got} bytes, the record says {expected}")]
    WrongLength {
        /// Length from the record.
        expected: u64,
        /// Bytes received (at most expected + 1).
        got: u64,
    },
    /// The blob's BLAKE3 ciphertext hash differs from the record's.
    #[error("blob hash does not match the record's ciphertext_hash")]
    HashMismatch,
    /// Another record is stored at that position, or `prev` does not link.
    #[error("chain conflict at index {index}: {reason}")]
    ChainConflict {
        /// Segment index.
        index: u32,
        /// What does not match.
        reason: &'static str,
    },
    /// The segment skips ahead of the recording's next index.
    #[error("segment {index} is ahead of the recording's next index {next_index}")]
    OutOfOrder {
        /// Segment index sent.
        index: u32,
        /// The next index the vault expects.
        next_index: u32,
    },
    /// A row the operation needs does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The enrolment token cannot be used.
    #[error("enrolment token {0}")]
    Token(&'static str),
    /// The index and the blob directory belong to different vaults.
    #[error(
        "the index ({index_path}) has instance id {index_id} but the blob store ({blob_path}) has {blob_id}; they belong to different vaults. Point --data at the directory that holds both, or restore the matching backup"
    )]
    InstanceMismatch {
        /// Index database path.
        index_path: PathBuf,
        /// Id in the index.
        index_id: String,
        /// Blob store path.
        blob_path: PathBuf,
        /// Id in the blob store ("none" if missing).
        blob_id: String,
    },
    /// An audit entry could not be encoded (over-long field).
    #[error("audit entry: {0}")]
    Entry(#[from] obhut_core::Error),
    /// Stored data is not what this version wrote.
    #[error("stored data is corrupt: {0}")]
    Corrupt(&'static str),
    /// The access request has ended (or is not yet what the change needs).
    #[error("the access request is {state}, not pending")]
    RequestNotPending {
        /// Its state.
        state: RequestState,
    },
    /// The custodian approved this request before; an approval counts once.
    #[error("custodian {custodian} already approved this request")]
    AlreadyApproved {
        /// Custodian index.
        custodian: u16,
    },
    /// A partial envelope is not the one the custodian's `approved` entry
    /// committed to.
    #[error(
        "the partial envelope's SHA-256 differs from the partial_hash custodian {custodian} logged with its approval"
    )]
    PartialMismatch {
        /// Custodian index.
        custodian: u16,
    },
}

/// A custody group the vault enrols devices into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRow {
    /// Group id (from the descriptor).
    pub group_id: GroupId,
    /// The descriptor with its custodian signatures (format.md §4.1).
    pub descriptor: Vec<u8>,
    /// Descriptor fingerprint (docs/vault.md §3).
    pub fingerprint: [u8; 32],
    /// When the admin added it.
    pub added_ms: i64,
}

/// A one-time enrolment token; only its SHA-256 is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    /// SHA-256 of the token string.
    pub token_hash: [u8; 32],
    /// Group the device will be enrolled in.
    pub group_id: GroupId,
    /// Retention class of the device's footage.
    pub retention_class: String,
    /// Creation time.
    pub created_ms: i64,
    /// Not usable at or after this time.
    pub expires_ms: i64,
}

/// An enrolled device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRow {
    /// Ed25519 public key (the device id).
    pub device_key: KeyBytes,
    /// Custody group its segments must be sealed to.
    pub group_id: GroupId,
    /// Retention class of its footage.
    pub retention_class: String,
    /// Enrolment time.
    pub enrolled_ms: i64,
    /// Revocation time, if revoked.
    pub revoked_ms: Option<i64>,
}

/// A retention epoch's public key (the secret stays in the keystore).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochRow {
    /// Epoch id.
    pub epoch_id: EpochId,
    /// Retention class.
    pub retention_class: String,
    /// Start of the capture-time period (UTC ms, inclusive).
    pub not_before: i64,
    /// End (exclusive).
    pub not_after: i64,
    /// `EpochPublic::to_bytes()`.
    pub public: Vec<u8>,
}

/// A recording's minimal metadata (docs/vault.md §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingRow {
    /// Recording id.
    pub recording_id: RecordingId,
    /// Capturing device.
    pub device_key: KeyBytes,
    /// Custody group.
    pub group_id: GroupId,
    /// Retention class.
    pub retention_class: String,
    /// Capture time of segment 0 (UTC ms). Listings round it to the hour.
    pub first_capture_ms: i64,
    /// Stored segments.
    pub segment_count: u32,
    /// Stored ciphertext bytes.
    pub total_bytes: u64,
    /// Whether the final segment is stored.
    pub complete: bool,
}

/// A stored segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentRow {
    /// Recording id.
    pub recording_id: RecordingId,
    /// Segment index.
    pub index: u32,
    /// The device-signed record, verbatim.
    pub record: Vec<u8>,
    /// Its record hash.
    pub record_hash: [u8; 32],
    /// Blob length.
    pub blob_len: u64,
    /// Capture time from the header.
    pub capture_ms: i64,
    /// Epoch the header's wrap names.
    pub epoch_id: EpochId,
    /// When it became durable.
    pub received_ms: i64,
    /// The vault's signed receipt (`IngestReceipt::to_bytes()`).
    pub receipt: Vec<u8>,
}

/// What a caller knows about a verified segment it is about to insert.
#[derive(Clone, Debug)]
pub struct NewSegment {
    /// The row to insert.
    pub row: SegmentRow,
    /// The record's `prev_record_hash`.
    pub prev_record_hash: [u8; 32],
    /// The record's final flag.
    pub is_final: bool,
    /// The uploading device (owner of the recording).
    pub device_key: KeyBytes,
    /// The device's group.
    pub group_id: GroupId,
    /// The device's retention class.
    pub retention_class: String,
    /// Its `segment-received` audit entry, sequenced with the row.
    pub log: NewLogEntry,
}

/// The result of [`IndexStore::insert_segment`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// A new row was committed.
    New,
    /// A byte-identical record was already stored; this is that row.
    Existing(SegmentRow),
}

/// Where a recording's chain stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Index the next segment must have.
    pub next_index: u32,
    /// Record hash of segment `next_index − 1`.
    pub head_record_hash: [u8; 32],
}

/// Filter of [`IndexStore::list_recordings`].
#[derive(Clone, Debug, Default)]
pub struct RecordingFilter {
    /// Only this device's.
    pub device: Option<KeyBytes>,
    /// Only these groups' (a reader's groups).
    pub groups: Vec<GroupId>,
    /// First capture at or after (UTC ms).
    pub from_ms: Option<i64>,
    /// First capture before (UTC ms).
    pub to_ms: Option<i64>,
}

/// The index: transactional rows (docs/vault.md §6).
///
/// **Durability.** Every method that writes has committed durably when its
/// future resolves `Ok` (SQLite: WAL with `synchronous=FULL`; PostgreSQL:
/// commit with `synchronous_commit=on`). A write whose future resolved
/// `Err` or was dropped changed nothing.
///
/// **Visibility.** A committed write is visible to every later call, in
/// this process and in others opening the same store (the admin CLI).
pub trait IndexStore: LogStore + AccessStore + Send + Sync + 'static {
    /// The instance id shared with the blob store, if set.
    fn instance_id(&self) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Set the instance id (once, when both stores are new).
    fn set_instance_id(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Answer if the store is reachable (`/readyz`).
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;

    /// Add or replace a custody group's descriptor, sequencing `log` in
    /// the same transaction.
    fn put_group(
        &self,
        group: &GroupRow,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A custody group by id.
    fn group(&self, id: GroupId) -> impl Future<Output = Result<Option<GroupRow>>> + Send;

    /// Store a new enrolment token.
    fn create_token(&self, token: &TokenRow) -> impl Future<Output = Result<()>> + Send;
    /// In one transaction: check the token (exists, unexpired, unused or
    /// used by this same device), enrol the device, mark the token used.
    /// Re-enrolling with the same token and key is idempotent; a revoked
    /// device stays revoked ([`StoreError::Token`]). A new enrolment
    /// sequences `log(&device)` in the same transaction.
    fn redeem_token(
        &self,
        token_hash: [u8; 32],
        device_key: KeyBytes,
        now_ms: i64,
        log: impl FnOnce(&DeviceRow) -> Result<NewLogEntry, obhut_core::Error> + Send,
    ) -> impl Future<Output = Result<DeviceRow>> + Send;
    /// A device by key (revoked ones too).
    fn device(&self, key: KeyBytes) -> impl Future<Output = Result<Option<DeviceRow>>> + Send;
    /// All devices.
    fn devices(&self) -> impl Future<Output = Result<Vec<DeviceRow>>> + Send;
    /// Revoke a device; `false` if unknown. Already revoked stays revoked
    /// with its first revocation time. A first revocation sequences `log`
    /// in the same transaction.
    fn revoke_device(
        &self,
        key: KeyBytes,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Add a person allowed to read a group's recordings, sequencing `log`
    /// in the same transaction unless the person already was one.
    fn add_reader(
        &self,
        person_key: KeyBytes,
        group: GroupId,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Let a person read audit entry bodies, sequencing `log` in the same
    /// transaction unless the person already could.
    fn add_auditor(
        &self,
        person_key: KeyBytes,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Record the vault's policy (configuration that decides who may do
    /// what): if `policy` differs from the last recorded one, store it and
    /// sequence `log` in the same transaction; returns whether it changed.
    fn record_policy(
        &self,
        policy: &str,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Whether a person may read audit entry bodies.
    fn is_auditor(&self, person_key: KeyBytes) -> impl Future<Output = Result<bool>> + Send;
    /// The groups a person may read.
    fn reader_groups(
        &self,
        person_key: KeyBytes,
    ) -> impl Future<Output = Result<Vec<GroupId>>> + Send;

    /// Record a request nonce; `false` if (key, nonce) was seen before.
    /// Also forgets nonces whose `expires_ms` is before `now_ms`.
    fn use_nonce(
        &self,
        key: KeyBytes,
        nonce: [u8; 16],
        expires_ms: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Store an epoch's public key.
    fn put_epoch(&self, epoch: &EpochRow) -> impl Future<Output = Result<()>> + Send;
    /// An epoch by id.
    fn epoch(&self, id: EpochId) -> impl Future<Output = Result<Option<EpochRow>>> + Send;
    /// The epoch of `class` starting at `not_before`.
    fn epoch_at(
        &self,
        class: &str,
        not_before: i64,
    ) -> impl Future<Output = Result<Option<EpochRow>>> + Send;
    /// Retention classes of devices and unexpired tokens.
    fn known_classes(&self, now_ms: i64) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// The recording's chain head; `None` if no segment is stored.
    fn head(&self, id: RecordingId) -> impl Future<Output = Result<Option<Head>>> + Send;
    /// One recording's metadata.
    fn recording(
        &self,
        id: RecordingId,
    ) -> impl Future<Output = Result<Option<RecordingRow>>> + Send;
    /// Recordings matching the filter, by first capture time.
    fn list_recordings(
        &self,
        filter: &RecordingFilter,
    ) -> impl Future<Output = Result<Vec<RecordingRow>>> + Send;
    /// One segment.
    fn segment(
        &self,
        id: RecordingId,
        index: u32,
    ) -> impl Future<Output = Result<Option<SegmentRow>>> + Send;
    /// All segments of a recording, by index.
    fn segments(&self, id: RecordingId) -> impl Future<Output = Result<Vec<SegmentRow>>> + Send;
    /// Every (recording, index) with a row, for the startup orphan check.
    fn segment_keys(&self) -> impl Future<Output = Result<Vec<(RecordingId, u32)>>> + Send;
    /// In one transaction: re-check the chain (index 0 with zero `prev`, or
    /// `prev` = stored hash of index − 1; or a byte-identical record, which
    /// returns [`Inserted::Existing`]), insert the row and update the
    /// recording's counters. Errors: [`StoreError::ChainConflict`],
    /// [`StoreError::OutOfOrder`]. Call only after the blob is durable.
    fn insert_segment(&self, seg: &NewSegment) -> impl Future<Output = Result<Inserted>> + Send;
}

/// Names one segment's blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey {
    /// Recording id.
    pub recording: RecordingId,
    /// Segment index.
    pub index: u32,
}

/// A byte range of a blob, ready to stream.
pub type BlobReader = Box<dyn AsyncRead + Send + Unpin>;

/// A blob streamed into a store's private temporary location by
/// [`BlobStore::stage`]: complete and hashed, but neither durable nor
/// visible. Pass it to [`BlobStore::publish`] or [`BlobStore::discard`];
/// dropping it discards it too (best effort).
pub trait StagedBlob: Send + Sync + 'static {
    /// Bytes staged.
    fn len(&self) -> u64;
    /// Whether nothing was staged.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// BLAKE3 ciphertext hash of the staged bytes (format.md §6.3).
    fn hash(&self) -> [u8; 32];
}

/// Segment ciphertexts.
///
/// **Durability and visibility.** A blob is written in two phases:
/// [`BlobStore::stage`] streams exactly the announced number of bytes into
/// a private temporary location while hashing (so the caller may verify a
/// record that arrives after the blob), and [`BlobStore::publish`] checks
/// the hash, makes the bytes durable, publishes them atomically under the
/// key and makes the publication durable. When `publish` resolves `Ok`, a
/// reader sees exactly the verified bytes, also after a crash; until then
/// readers see the previous state (nothing, or an earlier verified blob
/// under the same key). A staged blob that is discarded, dropped or
/// refused leaves nothing behind; an interrupted process leaves at most a
/// temporary file, removed by [`BlobStore::clean_temporary`].
pub trait BlobStore: Send + Sync + 'static {
    /// A blob staged by [`BlobStore::stage`].
    type Staged: StagedBlob;

    /// The instance id shared with the index, if set.
    fn instance_id(&self) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Set the instance id durably.
    fn set_instance_id(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Answer if the store is reachable (`/readyz`).
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
    /// Remove leftovers of interrupted puts; returns how many.
    fn clean_temporary(&self) -> impl Future<Output = Result<usize>> + Send;

    /// Stream exactly `len` bytes of `source` into a temporary location,
    /// hashing them; reads nothing past them (the caller may read on, e.g.
    /// a trailer). A source that ends early is
    /// [`StoreError::WrongLength`], one that fails is
    /// [`StoreError::Source`]; either way nothing is left behind.
    fn stage<R: AsyncRead + Send + Unpin>(
        &self,
        source: R,
        len: u64,
    ) -> impl Future<Output = Result<Self::Staged>> + Send;

    /// Make a staged blob's bytes durable ahead of [`BlobStore::publish`]
    /// (the fsync of phase 2), so that the caller can overlap that wait
    /// with other work: the vault syncs an upload while its predecessor is
    /// still being published, and keeps only the publication itself under
    /// the recording's lock. Optional: `publish` makes the bytes durable
    /// itself when this was not called; a store with nothing to do here
    /// keeps the default. Nothing becomes visible. On error the staged
    /// bytes cannot be trusted (a failed fsync is never retried): discard
    /// them.
    fn sync_staged(&self, staged: &mut Self::Staged) -> impl Future<Output = Result<()>> + Send {
        let _ = staged;
        async { Ok(()) }
    }

    /// Publish a staged blob under `key` if its hash is `expected_hash`
    /// (else [`StoreError::HashMismatch`] and it is discarded): fsync,
    /// atomic publish (replacing an orphan of an earlier crash under the
    /// same key), fsync of the publication. On any error nothing is
    /// published and the staged bytes are gone.
    fn publish(
        &self,
        key: BlobKey,
        staged: Self::Staged,
        expected_hash: [u8; 32],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Throw a staged blob away.
    fn discard(&self, staged: Self::Staged) -> impl Future<Output = ()> + Send;

    /// Verify-then-publish in one call, when the expected length and hash
    /// are known before the bytes: [`BlobStore::stage`], refuse a source
    /// longer than `expected_len` ([`StoreError::WrongLength`] with `got =
    /// expected_len + 1`) or with another hash, then [`BlobStore::publish`].
    /// `expected_hash` is the record's `ciphertext_hash` (BLAKE3 keyed as
    /// in format.md §6.3).
    fn put_verified<R: AsyncRead + Send + Unpin>(
        &self,
        key: BlobKey,
        mut source: R,
        expected_len: u64,
        expected_hash: [u8; 32],
    ) -> impl Future<Output = Result<()>> + Send {
        async move {
            use tokio::io::AsyncReadExt;
            let staged = self.stage(&mut source, expected_len).await?;
            let mut one = [0u8; 1];
            let more = match source.read(&mut one).await {
                Ok(n) => n,
                Err(e) => {
                    self.discard(staged).await;
                    return Err(StoreError::Source(e));
                }
            };
            if more != 0 {
                self.discard(staged).await;
                return Err(StoreError::WrongLength {
                    expected: expected_len,
                    got: expected_len.saturating_add(1),
                });
            }
            self.publish(key, staged, expected_hash).await
        }
    }
    /// Length of a stored blob, `None` if absent.
    fn len(&self, key: BlobKey) -> impl Future<Output = Result<Option<u64>>> + Send;
    /// Bytes `start..end` of a blob (caller checks the bounds with `len`).
    fn get_range(
        &self,
        key: BlobKey,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<BlobReader>> + Send;
    /// Delete a blob durably; `false` if it was absent.
    fn delete(&self, key: BlobKey) -> impl Future<Output = Result<bool>> + Send;
    /// Every stored blob.
    fn list(&self) -> impl Future<Output = Result<Vec<BlobKey>>> + Send;
}

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
}

/// Startup check (docs/vault.md §1.2): establish or compare the instance
/// id on both sides (refusing a mismatch), remove temporary leftovers, and
/// report orphan and missing blobs.
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
    let rows: std::collections::BTreeSet<BlobKey> = index
        .segment_keys()
        .await?
        .into_iter()
        .map(|(recording, index)| BlobKey { recording, index })
        .collect();
    let stored: std::collections::BTreeSet<BlobKey> = blobs.list().await?.into_iter().collect();
    Ok(Consistency {
        temporary_removed,
        orphan_blobs: stored.difference(&rows).copied().collect(),
        missing_blobs: rows.difference(&stored).copied().collect(),
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

/// The embedded stores in `data_dir`: `obhut.sqlite` and `blobs/` + `tmp/`.
pub async fn open_embedded(
    data_dir: &Path,
) -> Result<(sqlite::SqliteIndex, dir::DirBlobStore, Consistency)> {
    std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
        op: "creating the data directory",
        path: data_dir.to_owned(),
        source,
    })?;
    let db_path = data_dir.join("obhut.sqlite");
    let index = sqlite::SqliteIndex::open(&db_path).await?;
    let blobs = dir::DirBlobStore::open(data_dir).await?;
    let report = check_consistency(&index, &blobs, &db_path, blobs.root()).await?;
    Ok((index, blobs, report))
}

/// Open the embedded stores of a vault that may be running (the admin
/// CLI): no clean-up, no orphan scan (the server owns `tmp/`), and the
/// instance ids must already match. Refuses a directory without a vault.
pub async fn open_embedded_shared(
    data_dir: &Path,
) -> Result<(sqlite::SqliteIndex, dir::DirBlobStore)> {
    let db_path = data_dir.join("obhut.sqlite");
    if !db_path.exists() {
        return Err(StoreError::NotFound(
            "vault index (obhut.sqlite) in the data directory; start `obhut serve` once with this --data to create it, or pass the right --data",
        ));
    }
    let index = sqlite::SqliteIndex::open(&db_path).await?;
    let blobs = dir::DirBlobStore::open(data_dir).await?;
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
