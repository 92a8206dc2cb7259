//! Erasure requests (docs/vault.md §9.2, issue 18 item 5; GDPR Art. 17):
//! one recording, or the segments of it captured in a window, deleted
//! before its retention ends, only with k custodians' signed approvals
//! ([`ErasureApproval`]).
//!
//! Erasing inside an epoch is an **epoch split** (format.md §9.2 item 7):
//! every other segment of each epoch the erased segments are in gets its
//! `b` re-wrapped (an `EpochRewrap`, reason 1) to a fresh epoch key with
//! the same expiry, and moves there; then the old epoch is destroyed as
//! the sweeper destroys an expired one (key in the holder, then the
//! `epoch-destroyed` entry with its signed receipt, then the erased
//! segments' rows and blobs). A copy of the data and keystore taken before
//! holds the old sealed secret, which opens nothing once its wrapping key
//! is gone. Footage under an active legal hold is refused: the hold wins
//! (Art. 17(3)(e)).

use std::collections::BTreeSet;

use obhut_api::ErrorKind;
use obhut_core::audit::{Event, Role};
use obhut_core::erasure::{ErasureApproval, ErasureTerms};
use obhut_core::group::PinnedGroup;
use obhut_core::ids::{EpochId, RecordingId};
use obhut_core::record::SegmentRecord;
use obhut_core::rewrap::{EpochRewrap, RewrapReason, rewrap_segment};
use obhut_core::rng::os_rng;
use obhut_store::{BlobStore, EpochRow, EpochState, IndexStore, RewrapRow};

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::hold::terms_of;
use crate::sweep::SweepReport;

/// What an erasure did, and until when a copy could still open it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErasureReport {
    /// Segments erased (their rows and blobs deleted, their epoch keys
    /// destroyed).
    pub segments: u64,
    /// Epochs split and destroyed.
    pub epochs: u64,
    /// Other segments of those epochs re-wrapped to fresh keys and kept.
    pub moved: u64,
    /// From this time (UTC ms) on no copy of the vault's data and keystore
    /// opens the erased segments.
    pub copies_until_ms: i64,
    /// Why that bound, for the person who asked.
    pub why: String,
    /// Derived artifacts deleted with the erased footage (thumbnails,
    /// clips, training sets; models built on it are tainted, not counted).
    pub artifacts: u64,
}

fn refuse(kind: ErrorKind, msg: impl Into<String>) -> ApiError {
    ApiError::new(kind, msg)
}

fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "{what}");
    ApiError::new(ErrorKind::Internal, format!("the erasure failed: {what}"))
}

/// The capture span of a segment record, as holds and erasures read it.
fn span(r: &SegmentRecord) -> (i64, i64) {
    let f = &r.header().fields;
    let len = f.media_end_ms.saturating_sub(f.media_start_ms);
    (
        f.capture_utc_ms,
        f.capture_utc_ms
            .saturating_add(i64::try_from(len).unwrap_or(i64::MAX)),
    )
}

impl<I: IndexStore, B: BlobStore> App<I, B> {
    /// Erase what `terms` names, with `approvals` of at least k distinct
    /// custodians of the recording's group for exactly these terms (see
    /// the module docs). Refused: fewer than k (`403 forbidden`), nothing
    /// stored in the window (`404 not-found`), footage under an active
    /// hold, an epoch whose period is still open (devices may still seal
    /// to it) or being swept (`409 conflict`). Logged: per epoch its
    /// split key (`epoch-created`) and its destruction (`epoch-destroyed`
    /// with a receipt), then one `erased` entry with the approvals.
    pub async fn erase(
        &self,
        terms: &ErasureTerms,
        approvals: &[ErasureApproval],
    ) -> ApiResult<ErasureReport> {
        // No sweep and no new epoch while the epochs are split.
        let _guard = self.sequencing.lock_epochs().await?;
        let now = self.index.clock_floor(self.clock.now_ms()).await?;
        let rid = terms.recording_id;
        let rec = self
            .index
            .recording(rid)
            .await?
            .filter(|r| r.group_id == terms.group_id)
            .ok_or_else(|| {
                refuse(
                    ErrorKind::NotFound,
                    format!("no recording {rid} in that group"),
                )
            })?;
        let group = self
            .index
            .group(terms.group_id)
            .await?
            .ok_or_else(|| refuse(ErrorKind::NotFound, "the vault does not know that group"))?;
        let pinned = PinnedGroup::from_bytes(&group.descriptor)
            .map_err(|e| internal("a stored group descriptor does not parse", e))?;
        let encoded = counted(&pinned, terms, approvals, now)?;

        let mut erased: Vec<(u32, EpochId)> = Vec::new();
        let mut spans = Vec::new();
        for s in self.index.segments(rid).await? {
            let r = SegmentRecord::from_bytes(&s.record)
                .map_err(|e| internal("a stored record does not parse", e))?;
            let (start, end) = span(&r);
            if terms.covers(start, end) {
                erased.push((s.index, s.epoch_id));
                spans.push((start, end));
            }
        }
        if erased.is_empty() {
            return Err(refuse(
                ErrorKind::NotFound,
                format!("recording {rid} has no stored segment captured in the window"),
            ));
        }
        for h in self.index.holds().await? {
            let t = terms_of(&h);
            if h.released_ms.is_none()
                && t.device_key == rec.device_key
                && t.group_id == rec.group_id
                && spans.iter().any(|&(a, b)| t.covers(a, b))
            {
                return Err(refuse(
                    ErrorKind::Conflict,
                    format!(
                        "footage in the window is under legal hold {} (case {:?}); release the hold first",
                        hex::encode(h.hold_id),
                        h.case
                    ),
                ));
            }
        }
        let epochs: BTreeSet<EpochId> = erased.iter().map(|&(_, e)| e).collect();
        let mut rows = Vec::new();
        for id in &epochs {
            let e = self
                .index
                .epoch(*id)
                .await?
                .ok_or_else(|| internal("a segment names an unknown epoch", id))?;
            let own_key =
                e.retention_class.starts_with("hold-") || e.retention_class.starts_with("split-");
            if e.state != EpochState::Live {
                return Err(refuse(
                    ErrorKind::Conflict,
                    format!("epoch {id} is being swept; retry after the sweep"),
                ));
            }
            if !own_key && e.not_after > now {
                return Err(refuse(
                    ErrorKind::Conflict,
                    format!(
                        "epoch {id} is still open for sealing until {} (UTC ms): devices may still seal to it; erase after then",
                        e.not_after
                    ),
                ));
            }
            rows.push(e);
        }

        let erased_set: BTreeSet<(RecordingId, u32)> =
            erased.iter().map(|&(i, _)| (rid, i)).collect();
        let mut report = ErasureReport {
            segments: erased.len() as u64,
            epochs: 0,
            moved: 0,
            copies_until_ms: now,
            why: String::new(),
            artifacts: 0,
        };
        let mut swept = SweepReport::default();
        for e in rows {
            report.moved += self.split_epoch(&e, &erased_set).await?;
            // Destroyed now, as the sweeper destroys an expired epoch. After
            // the split the epoch holds only erased segments, so the
            // cascade it runs (before its key and rows go, so that a crash
            // repeats it) takes exactly what was derived from them, logged
            // as caused by the erasure.
            let at_once = EpochRow {
                expires_ms: Some(now),
                ..e
            };
            self.sweep_epoch(
                &at_once,
                now,
                crate::derived::SourceGone::Erased,
                &mut swept,
            )
            .await?;
            report.epochs += 1;
        }
        report.why = format!(
            "the wrapping keys of the erased segments' epochs were destroyed in the key holder at {now}: \
             every copy of the vault's data and keystore (backups included) holds their epoch secrets \
             only sealed under those keys, and opens nothing from then on. Only a copy of the key \
             holder itself (a backup of the file holder's directory, which must not be backed up) \
             would open them until that copy is destroyed; what was released to a requester before \
             is that requester's"
        );
        let entry = self.log_entry(
            Role::Vault,
            self.keystore.vault_key().verify_key().to_bytes(),
            Some(rid),
            Event::Erased {
                recording_id: rid,
                from_ms: terms.from_ms,
                to_ms: terms.to_ms,
                segments: report.segments,
                copies_until_ms: report.copies_until_ms,
                approvals: encoded,
            },
        )?;
        self.index.log_append(std::slice::from_ref(&entry)).await?;
        self.log.wake();
        report.artifacts = swept.artifacts;
        tracing::info!(recording = %rid, segments = report.segments, epochs = report.epochs, moved = report.moved, "erased");
        Ok(report)
    }

    /// Move every segment of epoch `e` not in `erased` to a fresh epoch
    /// key of the same expiry (class `split-<hex id>`), its `b` re-wrapped
    /// (reason 1). Returns the segments moved.
    async fn split_epoch(
        &self,
        e: &EpochRow,
        erased: &BTreeSet<(RecordingId, u32)>,
    ) -> ApiResult<u64> {
        let others: Vec<(RecordingId, u32)> = self
            .index
            .epoch_segments(e.epoch_id)
            .await?
            .into_iter()
            .filter(|k| !erased.contains(k))
            .collect();
        if others.is_empty() {
            return Ok(0);
        }
        let from = self
            .keystore
            .epoch(e.epoch_id)
            .map_err(|err| internal("loading the epoch key to split", err))?;
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|err| internal("OS randomness", err))?;
        let split = EpochId(id);
        let class = format!("split-{}", hex::encode(id));
        let entry = self.log_entry(
            Role::Vault,
            self.keystore.vault_key().verify_key().to_bytes(),
            None,
            Event::EpochCreated {
                epoch_id: split,
                retention_class: class.clone(),
                not_before: e.not_before,
                not_after: e.not_after,
            },
        )?;
        let secret = self
            .keystore
            .create_epoch(split)
            .map_err(|err| internal("making the split epoch's key", err))?;
        let to = secret.public(&class, e.not_before, e.not_after);
        self.index
            .put_epoch(
                &EpochRow {
                    epoch_id: split,
                    retention_class: class,
                    not_before: e.not_before,
                    not_after: e.not_after,
                    public: to.to_bytes(),
                    expires_ms: e.expires_ms,
                    state: EpochState::Live,
                    destroyed_ms: None,
                },
                &entry,
            )
            .await?;
        let mut moved = 0;
        let mut rng = os_rng();
        for (rid, index) in others {
            let Some(row) = self.index.segment(rid, index).await? else {
                continue;
            };
            let record = SegmentRecord::from_bytes(&row.record)
                .map_err(|err| internal("a stored record does not parse", err))?;
            let header = record.header();
            let rewrap = if header.fields.epoch_wrap.epoch_id == e.epoch_id {
                rewrap_segment(header, &from, &to, RewrapReason::EpochSplit, &mut rng)
            } else {
                let stored = self
                    .index
                    .segment_rewrap(rid, index)
                    .await?
                    .ok_or_else(|| internal("a moved segment has no re-wrap", rid))?;
                EpochRewrap::from_bytes(&stored.rewrap).and_then(|r| {
                    r.rewrap_again(header, &from, &to, RewrapReason::EpochSplit, &mut rng)
                })
            }
            .map_err(|err| internal("re-wrapping a segment", err))?;
            let stored = RewrapRow {
                recording_id: rid,
                index,
                epoch_id: split,
                rewrap: rewrap.to_bytes(),
            };
            if self.index.split_segment(e.epoch_id, &stored).await? {
                moved += 1;
            }
        }
        Ok(moved)
    }
}

/// The approvals that count for `terms`: distinct custodians of the
/// group, each for exactly these terms, still valid; at least k, else
/// `403 forbidden`. Returns them encoded, for the log entry.
fn counted(
    group: &PinnedGroup,
    terms: &ErasureTerms,
    approvals: &[ErasureApproval],
    now: i64,
) -> ApiResult<Vec<Vec<u8>>> {
    let d = group.descriptor();
    let mut seen = BTreeSet::new();
    let mut encoded = Vec::new();
    for a in approvals {
        a.check(d, terms, now).map_err(|e| {
            refuse(
                ErrorKind::Forbidden,
                format!("approval of custodian {}: {e}", a.custodian),
            )
        })?;
        if seen.insert(a.custodian) {
            encoded.push(
                a.to_bytes()
                    .map_err(|e| internal("encoding an approval", e))?,
            );
        }
    }
    let need = d.threshold();
    if seen.len() < usize::from(need) {
        return Err(refuse(
            ErrorKind::Forbidden,
            format!(
                "{} distinct custodians approved the erasure; the recording's custody group needs {need}",
                seen.len()
            ),
        ));
    }
    Ok(encoded)
}
