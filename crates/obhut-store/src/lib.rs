//! # obhut-store
//!
//! The vault's storage, behind two narrow traits (docs/vault.md §1, §6):
//!
//! - [`IndexStore`]: devices, enrolment tokens, revocation, replay nonces,
//!   epoch public keys, recordings and segments with their signed record
//!   bytes; with [`LogStore`] (the audit log) and [`AccessStore`] (access
//!   requests, approvals, releases) as supertraits. Embedded
//!   implementation: [`sqlite::SqliteIndex`]; past one machine
//!   [`postgres::PgIndex`].
//! - [`BlobStore`]: segment ciphertexts, written verify-then-publish.
//!   Embedded implementation: [`dir::DirBlobStore`]; in an S3-compatible
//!   bucket: [`s3::S3BlobStore`] (which publishes by a server-side copy
//!   instead of a rename); either, as configured: [`blobs::AnyBlobStore`].
//!
//! The server never sees which implementation it runs on: PostgreSQL is
//! one of two index implementations, S3 one of two blob stores, and
//! they may differ freely below the traits as long as they keep the
//! written contracts.
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
//!
//! **Layout.** This file holds the traits and their contracts only. The
//! values they take and return live by concern in `rows` (index),
//! [`log`] and [`access`], the error in `error`; the startup check
//! written against the traits in `consistency` and the operator's full
//! check (`obhut check`) in `check`; the embedded engines in
//! [`sqlite`] and [`dir`], opened together by `embedded`; the index's
//! SQL, written once for SQLite and [`postgres`], in `sql`; the S3 blob
//! store in [`s3`]. With the
//! feature `test-util`, `contract` holds the suite every implementation
//! must pass and a fault-injecting blob store. [`scan`] checks what a
//! store wrote from outside: it looks for plaintext in every file under
//! the store's directories (property P1, no plaintext at rest).
//! [`migrate`] copies a stopped embedded vault to PostgreSQL and/or an S3
//! bucket, resumable and verified (`obhut migrate`); [`backup`] takes an
//! online backup of the embedded stores (`obhut backup`).

use std::future::Future;

use obhut_core::ids::{EpochId, GroupId, RecordingId};
use tokio::io::AsyncRead;

pub mod access;
pub mod backup;
pub mod blobs;
mod check;
mod consistency;
#[cfg(feature = "test-util")]
pub mod contract;
pub mod derived;
pub mod dir;
mod embedded;
mod error;
pub mod hold;
pub mod log;
pub mod migrate;
pub mod names;
pub mod postgres;
pub mod retention;
mod rows;
pub mod s3;
pub mod scan;
mod sql;
pub mod sqlite;

pub use access::{
    ApprovalRow, DenialRow, NewApproval, NewRequest, RequestInserted, RequestRow, RequestState,
};
pub use check::{CheckReport, Finding, check_store};
pub use consistency::{Consistency, check_consistency};
pub use derived::{ArtifactRow, ArtifactState, ConsentRow, DerivedStore, EpochSource, QueuedBlob};
pub use embedded::{
    BlobConfig, create_private_dir, open_embedded, open_embedded_shared, open_vault,
    open_vault_shared,
};
pub use error::StoreError;
pub use hold::{HoldCandidate, HoldRow, HoldStore, RewrapRow};
pub use log::{LogEntryRow, NewLogEntry, StoredCheckpoint, TileRow};
pub use names::NameStore;
pub use retention::RetentionStore;
pub use rows::{
    BlobKey, BlobReader, DeviceRow, EpochRow, EpochState, ExpiredRecording, GroupRow, Head,
    Inserted, NewSegment, RecordingFilter, RecordingRow, SegmentRow, TokenRow,
};

/// What [`IndexStore::shared_locks`] returns, for the implementations
/// written against the trait alone (`sql`).
pub(crate) type SharedLocks = postgres::PgLocks;

/// Result alias of this crate.
pub type Result<T, E = StoreError> = core::result::Result<T, E>;

/// A 32-byte Ed25519 public key as stored (device or person).
pub type KeyBytes = [u8; 32];

/// The index: transactional rows (docs/vault.md §6).
///
/// **Durability.** Every method that writes has committed durably when its
/// future resolves `Ok` (SQLite: WAL with `synchronous=FULL`; PostgreSQL:
/// commit with `synchronous_commit=on`). A write whose future resolved
/// `Err` or was dropped changed nothing.
///
/// **Visibility.** A committed write is visible to every later call, in
/// this process and in others opening the same store (the admin CLI).
pub trait IndexStore:
    LogStore
    + AccessStore
    + RetentionStore
    + DerivedStore
    + HoldStore
    + NameStore
    + Send
    + Sync
    + 'static
{
    /// The instance id shared with the blob store, if set.
    fn instance_id(&self) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Set the instance id (once, when both stores are new).
    fn set_instance_id(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Answer if the store is reachable and takes writes now (`/readyz`):
    /// `Err` while a write would fail for want of space or an I/O error
    /// ([`StoreError::is_out_of_space`] tells the first), `Ok` again once
    /// writes succeed. May write (a probe that leaves nothing behind).
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
    /// The advisory locks of a database several vault processes share
    /// (PostgreSQL), or `None` for a store one process owns (the embedded
    /// SQLite index, whose data directory `obhut serve` locks): the vault
    /// then keeps its orderings in memory (obhut-server's `sequencing`).
    fn shared_locks(&self) -> Option<postgres::PgLocks> {
        None
    }

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
    /// device stays revoked and an enrolled one is not moved to another
    /// group or class ([`StoreError::Token`]). A new enrolment sequences
    /// `log(&device)` in the same transaction; if `log` fails, nothing
    /// is stored ([`StoreError::Entry`]).
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

    /// Whether (key, nonce) was recorded by [`IndexStore::use_nonce`] and
    /// not yet forgotten. Reads only: the vault checks the nonces of read
    /// requests against memory and this, so a read needs no write.
    fn nonce_seen(
        &self,
        key: KeyBytes,
        nonce: [u8; 16],
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Record that a vault process starts at `now_ms`: store the later of
    /// `now_ms` and the start recorded before, and return it. The vault
    /// refuses read requests signed before it (their nonces were kept in
    /// the memory of a process that is gone; docs/vault.md §2).
    fn record_start(&self, now_ms: i64) -> impl Future<Output = Result<i64>> + Send;

    /// Store an epoch's public key, sequencing `log` (its `epoch-created`
    /// entry) in the same transaction.
    fn put_epoch(
        &self,
        epoch: &EpochRow,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<()>> + Send;
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

/// The audit log's storage (docs/log.md §Service): entries, hash tiles and
/// signed checkpoints, behind [`LogStore`].
///
/// Two steps, as in Sunlight and Tessera. **Sequencing** gives an entry its
/// index durably, in the same transaction as the change it records (a
/// segment row, an enrolment), so no change is ever stored without its
/// entry and no entry without its change. **Integration** (the vault's log
/// service) reads the leaf hashes of sequenced entries in order, extends
/// the tree, and commits the new tiles with a checkpoint signed over them,
/// in one transaction. Any process may sequence (the admin CLI does);
/// one integrates.
///
/// Same durability and visibility contract as [`IndexStore`].
pub trait LogStore: Send + Sync + 'static {
    /// Sequence `entries` in one transaction, in order; returns the index
    /// of the first. Empty input sequences nothing and returns the size.
    /// Indexes are dense and follow commit order: the first entry is 0,
    /// each next one the previous plus one, and a batch takes consecutive
    /// indexes that no concurrent writer shares (the same holds for the
    /// entries other methods sequence with their change).
    fn log_append(&self, entries: &[NewLogEntry]) -> impl Future<Output = Result<u64>> + Send;
    /// Number of sequenced entries.
    fn log_sequenced(&self) -> impl Future<Output = Result<u64>> + Send;
    /// Leaf hashes of entries `[from, from + limit)` that exist, in order.
    fn log_leaf_hashes(
        &self,
        from: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<[u8; 32]>>> + Send;
    /// In one transaction: write (insert or widen) `tiles` and insert
    /// `checkpoint`, grown from the tree of size `from` (0: none). The
    /// compare-and-swap of the tree head (as in Sunlight and Tessera):
    /// refused whole ([`StoreError::HeadMoved`]) unless the latest
    /// checkpoint's size is exactly `from` and `checkpoint` is larger, so
    /// an integrator with a stale right edge, or one that lost its lease,
    /// writes nothing and reloads.
    fn log_integrate(
        &self,
        from: u64,
        tiles: &[TileRow],
        checkpoint: &StoredCheckpoint,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Replace the note of the checkpoint of `size` by the same checkpoint
    /// with witness cosignatures added (the caller checked they verify and
    /// that the log's own signature is unchanged).
    fn log_cosigned(&self, size: u64, note: &[u8]) -> impl Future<Output = Result<()>> + Send;
    /// The stored hashes of tile `(level, index)`.
    fn log_tile(
        &self,
        level: u8,
        index: u64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;
    /// The latest checkpoint.
    fn log_checkpoint(&self) -> impl Future<Output = Result<Option<StoredCheckpoint>>> + Send;
    /// The checkpoint of exactly `size`, if one was signed.
    fn log_checkpoint_at(
        &self,
        size: u64,
    ) -> impl Future<Output = Result<Option<StoredCheckpoint>>> + Send;
    /// Entries `[from, from + limit)` that exist.
    fn log_entries(
        &self,
        from: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<LogEntryRow>>> + Send;
    /// Every entry about one recording, in log order.
    fn log_recording_entries(
        &self,
        recording: RecordingId,
    ) -> impl Future<Output = Result<Vec<LogEntryRow>>> + Send;
    /// Every entry of one kind (`device-enrolled`, …), in log order: what a
    /// custodian needs to check a device's enrolment and revocation.
    fn log_entries_of_kind(
        &self,
        kind: &str,
    ) -> impl Future<Output = Result<Vec<LogEntryRow>>> + Send;
    /// Log retention: drop the bodies of entries logged before `before_ms`
    /// with an index below `integrated` (the tree keeps their leaf hashes),
    /// and sequence `receipt` (built from the count by the caller's
    /// closure) in the same transaction. Returns the number pruned.
    fn log_prune(
        &self,
        before_ms: i64,
        integrated: u64,
        now_ms: i64,
        receipt: impl FnOnce(u64) -> Option<NewLogEntry> + Send,
    ) -> impl Future<Output = Result<u64>> + Send;
}

/// Storage of the access workflow (docs/access.md): requesters, signed
/// access requests, custodians' approvals with their partial envelopes,
/// denials and releases, behind [`AccessStore`].
///
/// **Invariants** (each kept inside one write transaction):
///
/// 1. Every change that the log records — a requester added, a request
///    stored, an approval, a denial, a release — sequences its audit entry
///    in the same transaction, and the row keeps the entry's index.
/// 2. A request's state moves only `pending → denied` or
///    `pending → released`; approvals and denials are only added to a
///    pending request.
/// 3. A custodian approves a request at most once
///    ([`StoreError::AlreadyApproved`]).
/// 4. An approval's envelope, once stored, is never replaced by other
///    bytes ([`StoreError::PartialMismatch`]).
///
/// Same durability and visibility contract as [`IndexStore`]. Methods
/// that change state take the audit entry of the change and sequence it in
/// the same transaction (invariant 1); they return its index.
pub trait AccessStore: Send + Sync + 'static {
    /// Every custody group's id (to find the groups a person is a
    /// custodian of).
    fn group_ids(&self) -> impl Future<Output = Result<Vec<GroupId>>> + Send;

    /// Allow a person to ask for access to a group's footage, sequencing
    /// `log` in the same transaction unless the person already could.
    fn add_requester(
        &self,
        person_key: KeyBytes,
        group: GroupId,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Whether a person may ask for access to `group`'s footage.
    fn is_requester(
        &self,
        person_key: KeyBytes,
        group: GroupId,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Store a pending request and sequence `log` (its `access-requested`
    /// entry) in one transaction. A request already stored under the same
    /// hash is returned as [`RequestInserted::Existing`] and nothing is
    /// sequenced.
    fn insert_request(
        &self,
        request: &NewRequest,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<RequestInserted>> + Send;
    /// One request.
    fn request(&self, hash: [u8; 32]) -> impl Future<Output = Result<Option<RequestRow>>> + Send;
    /// The requests of `groups` (in `state` if given), newest first.
    fn requests_for_groups(
        &self,
        groups: &[GroupId],
        state: Option<RequestState>,
    ) -> impl Future<Output = Result<Vec<RequestRow>>> + Send;
    /// The requests a requester made (in `state` if given), newest first.
    fn requests_by_requester(
        &self,
        requester: KeyBytes,
        state: Option<RequestState>,
    ) -> impl Future<Output = Result<Vec<RequestRow>>> + Send;

    /// Add a custodian's approval and sequence `log` (its `approved`
    /// entry) in one transaction. Refused with
    /// [`StoreError::NotFound`] for an unknown request,
    /// [`StoreError::RequestNotPending`] unless it is pending, and
    /// [`StoreError::AlreadyApproved`] if this custodian approved
    /// before. Returns the entry's index.
    fn add_approval(
        &self,
        approval: &NewApproval,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// The approvals of a request, by custodian index.
    fn approvals(&self, hash: [u8; 32]) -> impl Future<Output = Result<Vec<ApprovalRow>>> + Send;
    /// Store custodian `custodian`'s partial envelope for a request:
    /// refused with [`StoreError::NotFound`] without an approval,
    /// [`StoreError::PartialMismatch`] if the custodian's envelope is
    /// already stored with other bytes, and
    /// [`StoreError::RequestNotPending`] for a first upload to a request
    /// that has ended. Re-uploading the stored bytes changes nothing.
    /// Returns whether the envelope was stored now. Not logged: whether k
    /// approvals were logged first is the caller's check (the vault's,
    /// and each custodian's before it sends), and the `released` entry
    /// records what went out.
    fn put_partial(
        &self,
        hash: [u8; 32],
        custodian: u16,
        envelope: &[u8],
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Deny a pending request (it ends) and sequence `log` (its `denied`
    /// entry) in one transaction; refused like
    /// [`AccessStore::add_approval`]. Returns the entry's index.
    fn deny(
        &self,
        hash: [u8; 32],
        custodian: u16,
        reason: &str,
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// The denial of a request, if any.
    fn denial(&self, hash: [u8; 32]) -> impl Future<Output = Result<Option<DenialRow>>> + Send;

    /// Mark a pending request released with `release` (the encoded
    /// `EpochRelease`) and sequence `log` (its `released` entry) in one
    /// transaction; [`StoreError::RequestNotPending`] unless it is
    /// pending (e.g. a concurrent release won). Returns the entry's index.
    fn mark_released(
        &self,
        hash: [u8; 32],
        release: &[u8],
        log: &NewLogEntry,
    ) -> impl Future<Output = Result<u64>> + Send;
}

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
    /// Answer if the store is reachable and takes writes now (`/readyz`),
    /// as [`IndexStore::ping`]; a probe leaves nothing behind.
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
