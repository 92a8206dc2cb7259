//! [`StoreError`]: everything storage can report.

use std::path::PathBuf;

use crate::RequestState;

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
    /// An object-store request failed (the S3 blob store, [`crate::s3`]).
    #[error("{op} {at}: {source}")]
    Remote {
        /// What was being done.
        op: &'static str,
        /// The object concerned (`s3://bucket/prefix/…`).
        at: String,
        /// The object store's error.
        source: Box<object_store::Error>,
    },
    /// A store's configuration is unusable (a blob URL, an option).
    #[error("store configuration: {0}")]
    Config(&'static str),
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
    /// A reclassification's approvals name a class the device no longer has.
    #[error("the device's retention class is {now}, not {expected}")]
    ClassChanged {
        /// The class the change expected.
        expected: String,
        /// The device's class now.
        now: String,
    },
    /// An epoch's key may be reported destroyed only once the epoch is
    /// marked expiring ([`crate::RetentionStore::destroy_epoch`]).
    #[error("epoch is live: mark it expiring before destroying it")]
    EpochLive,
    /// A legal hold with that id (the same terms) was placed before.
    #[error("a hold on these terms was placed before (hold ids follow from the terms)")]
    HoldExists,
    /// The legal hold was released; it holds nothing any more.
    #[error("the hold was released")]
    HoldReleased,
    /// A custodian's partial envelope is already stored with other bytes.
    #[error(
        "custodian {custodian} already uploaded a different partial envelope for this request; the first is kept"
    )]
    PartialMismatch {
        /// Custodian index.
        custodian: u16,
    },
    /// A row with that id exists already (an artifact, a consent).
    #[error("{0} is registered already")]
    Duplicate(&'static str),
    /// The tree head is not the one the integrator grew its checkpoint
    /// from: another integrator wrote since (or this one's memory is
    /// stale). Reload the head and integrate again
    /// ([`crate::LogStore::log_integrate`]).
    #[error("the log's tree head is at size {latest}, not {expected}: another integrator wrote")]
    HeadMoved {
        /// The size the checkpoint was grown from.
        expected: u64,
        /// The latest checkpoint's size (0: none).
        latest: u64,
    },
}

/// `SQLITE_FULL`: the primary result code (the low byte of an extended
/// one) when a write needs space the disk (or `max_page_count`) lacks.
const SQLITE_FULL: i64 = 13;
/// PostgreSQL's SQLSTATE `disk_full`.
const PG_DISK_FULL: &str = "53100";
/// `ENOSPC` and `EDQUOT` (Linux): no space, or the quota is used up.
const ENOSPC: i32 = 28;
const EDQUOT: i32 = 122;

impl StoreError {
    /// Whether the store failed because its storage is full (`ENOSPC`,
    /// a quota, `SQLITE_FULL`, PostgreSQL's `disk_full`): an operator frees space and the same
    /// write then succeeds. The vault answers these with
    /// `507 insufficient-storage` rather than `500 internal`.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            // PostgreSQL: SQLSTATE class 53, disk_full.
            StoreError::Db(sqlx::Error::Database(e))
                if e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .is_some() =>
            {
                e.code().as_deref() == Some(PG_DISK_FULL)
            }
            StoreError::Db(sqlx::Error::Database(e)) => e
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .is_some_and(|c| c & 0xff == SQLITE_FULL),
            StoreError::Db(sqlx::Error::Io(e)) | StoreError::Io { source: e, .. } => {
                io_out_of_space(e)
            }
            _ => false,
        }
    }
}

fn io_out_of_space(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<std::io::Error>())
            .is_some_and(io_out_of_space)
}
