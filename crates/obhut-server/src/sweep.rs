//! The sweeper (docs/vault.md §9, issue 18 item 4): destroys the keys of
//! expired retention epochs, then deletes their ciphertext and index rows.
//!
//! Per due epoch, each step idempotent, so a sweep killed anywhere (kill
//! -9, power loss) is finished by the next:
//!
//! 1. mark it expiring (no new segments, no releases); re-wrap each
//!    segment a legal hold covers to the hold's key and move it there
//!    (`crate::hold`, docs/vault.md §9.1);
//! 2. destroy its wrapping key in the key holder, then its sealed secret;
//! 3. in one transaction: the `epoch-destroyed` entry, the signed
//!    deletion receipt, every segment row moved to the deletion queue,
//!    recordings left without segments tombstoned — readers see a
//!    recording whole before this commit and expired after it;
//! 4. delete the queued blobs, then dequeue them;
//! 5. mark it swept (its row stays as the tombstone).
//!
//! "Now" is the clock floor ([`obhut_store::RetentionStore::clock_floor`]):
//! the highest clock reading ever passed, so a clock set back never holds
//! back a deletion already due. Due epochs come from an index on expiry
//! and their segments from an index on epoch: a sweep's cost follows what
//! expires, not what is stored.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::ingest::DeletionReceiptResponse;
use obhut_core::audit::{Event, Role};
use obhut_core::deletion::DeletionReceipt;
use obhut_core::ids::EpochId;
use obhut_store::{BlobStore, EpochRow, IndexStore};

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Store;
use obhut_api::ErrorKind;

/// Epochs taken per query, and blobs deleted per transaction.
const BATCH: u32 = 1000;

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Epochs finished (swept) by this run.
    pub epochs: u64,
    /// Epoch keys this run destroyed (not ones an interrupted run had).
    pub keys_destroyed: u64,
    /// Segments whose index rows this run removed.
    pub segments: u64,
    /// Blobs this run deleted.
    pub blobs: u64,
    /// Derived artifacts deleted with their expired sources.
    pub artifacts: u64,
    /// Held segments this run re-wrapped to their holds' keys and kept.
    pub held: u64,
}

/// A step a test may stop the sweep after, to play a crash there
/// (`OBHUT_TEST_SWEEP_CRASH_AFTER`, honoured only in builds with feature
/// `test-util`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// After marking the epoch expiring.
    Expiring,
    /// After destroying the wrapping key.
    KeyDestroyed,
    /// After the destroying transaction.
    Destroyed,
    /// After deleting the first blob, before dequeuing it.
    BlobDeleted,
    /// After making a legal hold's key in the holder, before its row.
    HoldKeyMade,
    /// After moving the first held segment to its hold's key.
    Held,
}

pub(crate) fn crash_point(step: Step) {
    #[cfg(feature = "test-util")]
    if let Ok(want) = std::env::var("OBHUT_TEST_SWEEP_CRASH_AFTER")
        && want == format!("{step:?}")
    {
        // A kill -9 at this step: no destructor, no flush.
        std::process::abort();
    }
    #[cfg(not(feature = "test-util"))]
    let _ = step;
}

fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "{what}");
    ApiError::new(ErrorKind::Internal, format!("the sweep failed: {what}"))
}

impl<I: IndexStore, B: BlobStore> App<I, B> {
    /// Run one sweep: every epoch due by the clock floor, to the end;
    /// counted and timed in the metrics (`obhut_sweep_*`).
    pub async fn sweep_once(&self) -> ApiResult<SweepReport> {
        let started = std::time::Instant::now();
        let r = self.sweep_due().await;
        let m = &self.metrics;
        m.sweep_runs.inc();
        m.sweep_seconds.observe(started.elapsed().as_secs_f64());
        if r.is_err() {
            m.sweep_failures.inc();
        }
        r
    }

    async fn sweep_due(&self) -> ApiResult<SweepReport> {
        // One sweep at a time (the periodic one and an operator's), and
        // none while an epoch is being made: a period's tombstone and its
        // creation never race, and an entry's `key_destroyed` is this
        // sweep's own doing.
        let _guard = self.sequencing.lock_epochs().await?;
        let now = self.index.clock_floor(self.clock.now_ms()).await?;
        let mut report = SweepReport::default();
        loop {
            let due = self.index.due_epochs(now, BATCH).await?;
            if due.is_empty() {
                break;
            }
            for e in due {
                self.sweep_epoch(&e, now, crate::derived::SourceGone::Expired, &mut report)
                    .await?;
            }
        }
        if report.epochs > 0 {
            tracing::info!(?report, "sweep");
        }
        Ok(report)
    }

    /// Destroy and sweep epoch `e` (the steps of the module docs). The
    /// caller holds the epoch lock. `gone` is why its footage goes, the
    /// cause its derived artifacts' cascade names: `Expired` for the
    /// sweeper, `Erased` when an erasure destroys its split epoch.
    pub(crate) async fn sweep_epoch(
        &self,
        e: &EpochRow,
        now: i64,
        gone: crate::derived::SourceGone,
        report: &mut SweepReport,
    ) -> ApiResult<()> {
        let id = e.epoch_id;
        self.index.mark_expiring(id).await?;
        crash_point(Step::Expiring);
        // Held footage leaves the epoch before its key goes (§9.1).
        report.held += self.hold_before_destroy(id).await?;
        let key_destroyed = self
            .keystore
            .destroy_epoch(id)
            .map_err(|err| internal("destroying an epoch key", err))?;
        crash_point(Step::KeyDestroyed);
        if key_destroyed {
            report.keys_destroyed += 1;
            self.metrics.epochs_destroyed.inc();
        }
        let segments = self.index.epoch_segment_count(id).await?;
        // Derived data goes with its source: before the source's rows do,
        // so that a sweep killed after this step repeats it (a cascade is
        // idempotent) rather than losing which recordings went.
        for src in self.index.epoch_sources(id).await? {
            let r = crate::derived::cascade_source_gone(
                self,
                src.recording_id,
                src.first..src.end,
                gone,
            )
            .await?;
            report.artifacts += u64::try_from(r.deleted.len()).unwrap_or(u64::MAX);
        }
        let vault = self.keystore.vault_key();
        let entry = self.log_entry(
            Role::Vault,
            vault.verify_key().to_bytes(),
            None,
            Event::EpochDestroyed {
                epoch_id: id,
                retention_class: e.retention_class.clone(),
                not_before: e.not_before,
                not_after: e.not_after,
                expired_ms: e.expires_ms.unwrap_or(now),
                segments,
                key_destroyed,
            },
        )?;
        let receipt = DeletionReceipt::sign(vault, &entry.body)
            .map_err(|err| internal("signing a deletion receipt", err))?;
        let moved = self
            .metrics
            .timed(
                Store::Index,
                "destroy_epoch",
                self.index
                    .destroy_epoch(id, now, &receipt.to_bytes(), &entry),
            )
            .await?;
        report.segments += moved;
        self.log.wake();
        crash_point(Step::Destroyed);
        loop {
            let queued = self.index.queued_blobs(id, BATCH).await?;
            if queued.is_empty() {
                if self.index.finish_sweep(id).await? {
                    break;
                }
                continue;
            }
            for k in &queued {
                let deleted = self
                    .metrics
                    .timed(Store::Blob, "delete", self.blobs.delete(*k));
                if deleted.await? {
                    report.blobs += 1;
                }
                crash_point(Step::BlobDeleted);
            }
            self.index.dequeue_blobs(id, &queued).await?;
        }
        report.epochs += 1;
        tracing::info!(epoch = %id, class = %e.retention_class, key_destroyed, "epoch destroyed and swept");
        Ok(())
    }
}

/// `GET /v1/epochs/{id}/receipt` (anyone: a receipt holds no secret): the
/// signed deletion receipt of a destroyed epoch, `404 not-found` for an
/// epoch not (yet) destroyed.
pub async fn receipt<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeletionReceiptResponse>> {
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(&id, &mut bytes)
        .map_err(|_| ApiError::new(ErrorKind::BadRequest, "an epoch id is 32 hex digits"))?;
    let id = EpochId(bytes);
    let not_destroyed = || {
        ApiError::new(
            ErrorKind::NotFound,
            format!("epoch {id} has no deletion receipt: it is unknown or not destroyed"),
        )
    };
    let row = app.index.epoch(id).await?.ok_or_else(not_destroyed)?;
    let stored = app
        .index
        .deletion_receipt(id)
        .await?
        .ok_or_else(not_destroyed)?;
    let parsed = DeletionReceipt::from_bytes(&stored)
        .map_err(|e| internal("a stored deletion receipt does not parse", e))?;
    Ok(Json(DeletionReceiptResponse {
        epoch_id: id.to_string(),
        destroyed_ms: row.destroyed_ms.unwrap_or_default(),
        receipt: B64.encode(&stored),
        leaf_hash: hex::encode(parsed.leaf_hash()),
    }))
}
