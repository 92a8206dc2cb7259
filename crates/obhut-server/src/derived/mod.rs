//! Derived artifacts, lineage and consent at the vault (docs/vault.md §10,
//! docs/format.md §13, issue 18 item 6).
//!
//! - registration checks an artifact's record against what the vault
//!   knows (the signer's role in the group, every source in the group,
//!   the consent a training set is made under) and logs it whole;
//! - [`check_review_consent`]: an access request whose purpose calls for
//!   consent (human review for training or product improvement) is refused
//!   unless its group has a recorded, unwithdrawn, valid consent;
//! - [`cascade_source_gone`] and [`cascade_consent_withdrawn`]: when a
//!   source goes (erased: the erasure path's hook; expired: the sweeper)
//!   or a consent is withdrawn, every artifact derived from it goes,
//!   transitively, and the models built on it are listed as tainted; one
//!   `artifacts-cascaded` entry per cascade (more if it lists over
//!   [`MAX_CASCADE_IDS`] ids).
//!
//! A cascade is idempotent: what is deleted stays deleted and is not
//! listed again, so the sweeper runs it before the destroying transaction
//! and a sweep killed in between repeats it harmlessly.

pub mod http;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Range;

use obhut_api::ErrorKind;
use obhut_core::artifact::{ArtifactKind, Cascade, CascadeCause, MAX_CASCADE_IDS};
use obhut_core::audit::{Event, Role};
use obhut_core::consent;
use obhut_core::ids::{EpochId, RecordingId};
use obhut_core::request::AccessRequest;
use obhut_store::{ArtifactRow, ArtifactState, BlobKey, BlobStore, IndexStore};

use crate::app::App;
use crate::error::{ApiError, ApiResult};

/// Why a source is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceGone {
    /// Erased on request (GDPR Art. 17; the erasure path).
    Erased,
    /// Its retention ended (the sweeper).
    Expired,
}

/// What one cascade did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CascadeReport {
    /// Artifacts this cascade deleted.
    pub deleted: Vec<RecordingId>,
    /// Models this cascade listed as tainted.
    pub tainted: Vec<RecordingId>,
    /// `artifacts-cascaded` entries logged (0 when it reached nothing).
    pub entries: u32,
    /// Blobs deleted.
    pub blobs: u64,
}

/// The artifacts a cascade reaches from its first ones: models are
/// tainted (kept, not walked further), the others deleted and walked.
struct Walk {
    deleted: BTreeSet<RecordingId>,
    tainted: BTreeSet<RecordingId>,
    next: VecDeque<RecordingId>,
}

impl Walk {
    fn new() -> Self {
        Walk {
            deleted: BTreeSet::new(),
            tainted: BTreeSet::new(),
            next: VecDeque::new(),
        }
    }

    fn visit(&mut self, a: &ArtifactRow) {
        if a.kind == ArtifactKind::Model.to_u8() {
            if a.state == ArtifactState::Live {
                self.tainted.insert(a.artifact_id);
            }
        } else if a.state != ArtifactState::Deleted && self.deleted.insert(a.artifact_id) {
            self.next.push_back(a.artifact_id);
        }
    }

    fn delete(&mut self, id: RecordingId) {
        if self.deleted.insert(id) {
            self.next.push_back(id);
        }
    }

    async fn run<I: IndexStore>(mut self, index: &I) -> ApiResult<Self> {
        while let Some(id) = self.next.pop_front() {
            for child in index.derived_from_artifact(id).await? {
                self.visit(&child);
            }
        }
        Ok(self)
    }
}

impl<I: IndexStore, B: BlobStore> App<I, B> {
    /// Apply a walk: one transaction (states, the artifacts' segments out of
    /// the index, the entries), then the blobs.
    async fn finish_cascade(&self, cause: CascadeCause, walk: Walk) -> ApiResult<CascadeReport> {
        let deleted: Vec<_> = walk.deleted.into_iter().collect();
        let tainted: Vec<_> = walk.tainted.into_iter().collect();
        let mut report = CascadeReport {
            deleted: deleted.clone(),
            tainted: tainted.clone(),
            ..CascadeReport::default()
        };
        if deleted.is_empty() && tainted.is_empty() {
            return Ok(report);
        }
        let vault = self.keystore.vault_key().verify_key().to_bytes();
        let all: Vec<(bool, RecordingId)> = deleted
            .iter()
            .map(|d| (true, *d))
            .chain(tainted.iter().map(|t| (false, *t)))
            .collect();
        let mut entries = Vec::new();
        for chunk in all.chunks(MAX_CASCADE_IDS) {
            let (d, t): (Vec<_>, Vec<_>) = chunk.iter().partition(|(del, _)| *del);
            let event = Event::ArtifactsCascaded(Cascade {
                cause,
                deleted: d.into_iter().map(|(_, id)| id).collect(),
                tainted: t.into_iter().map(|(_, id)| id).collect(),
            });
            entries.push(self.log_entry(Role::Vault, vault, None, event)?);
        }
        report.entries = u32::try_from(entries.len()).unwrap_or(u32::MAX);
        let now = self.clock.now_ms();
        let queued = self
            .index
            .apply_cascade(&deleted, &tainted, now, &entries)
            .await?;
        self.log.wake();
        let mut by_epoch: BTreeMap<EpochId, Vec<BlobKey>> = BTreeMap::new();
        for q in queued {
            by_epoch.entry(q.epoch_id).or_default().push(q.key);
        }
        for (epoch, keys) in by_epoch {
            for k in &keys {
                if self.blobs.delete(*k).await? {
                    report.blobs += 1;
                }
            }
            self.index.dequeue_blobs(epoch, &keys).await?;
        }
        tracing::info!(
            ?cause,
            deleted = report.deleted.len(),
            tainted = report.tainted.len(),
            "derived artifacts cascaded"
        );
        Ok(report)
    }
}

/// Segments `segments` of `recording` are gone (erased or expired): delete
/// every artifact derived from them, transitively, and list the models
/// built on them as tainted (docs/format.md §13.3). If `recording` is
/// itself an artifact's bytes, that artifact goes too. Idempotent; logs
/// nothing when nothing is reached. The erasure path and the sweeper call
/// it before they remove the source's own rows.
pub async fn cascade_source_gone<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    recording: RecordingId,
    segments: Range<u32>,
    why: SourceGone,
) -> ApiResult<CascadeReport> {
    if segments.is_empty() {
        return Ok(CascadeReport::default());
    }
    let mut walk = Walk::new();
    if let Some(own) = app.index.artifact(recording).await?
        && own.state != ArtifactState::Deleted
    {
        walk.delete(recording);
    }
    for a in app
        .index
        .derived_from_segments(recording, segments.start, segments.end)
        .await?
    {
        walk.visit(&a);
    }
    let walk = walk.run(&app.index).await?;
    let (first, end) = (segments.start, segments.end);
    let cause = match why {
        SourceGone::Erased => CascadeCause::SourceErased {
            recording_id: recording,
            first,
            end,
        },
        SourceGone::Expired => CascadeCause::SourceExpired {
            recording_id: recording,
            first,
            end,
        },
    };
    app.finish_cascade(cause, walk).await
}

/// Consent `consent_id` was withdrawn: delete every artifact made under it
/// and every artifact derived from those, and list the models built on
/// them as tainted. Idempotent.
pub async fn cascade_consent_withdrawn<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    consent_id: [u8; 16],
) -> ApiResult<CascadeReport> {
    let mut walk = Walk::new();
    for a in app.index.made_under_consent(consent_id).await? {
        walk.visit(&a);
    }
    let walk = walk.run(&app.index).await?;
    app.finish_cascade(CascadeCause::ConsentWithdrawn { consent_id }, walk)
        .await
}

/// Whether group `gid` has a consent covering purpose bit `purpose` now,
/// recorded and not withdrawn; its id if so.
pub async fn live_consent<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    gid: obhut_core::ids::GroupId,
    purpose: u8,
    consent_id: Option<[u8; 16]>,
) -> ApiResult<Option<[u8; 16]>> {
    let now = app.clock.now_ms();
    let found = app.index.group_consents(gid).await?.into_iter().find(|c| {
        consent_id.is_none_or(|id| id == c.consent_id)
            && c.purposes & purpose == purpose
            && c.not_before <= now
            && now < c.not_after
    });
    Ok(found.map(|c| c.consent_id))
}

/// Refuse (`consent-required`) an access request whose purpose calls for
/// consent (human review for training or product improvement,
/// docs/format.md §13.2) unless its group has a recorded, unwithdrawn
/// consent valid now for that purpose. Who asks does not matter: an
/// operator who made themselves a requester is refused like anyone.
pub async fn check_review_consent<I: IndexStore, B: BlobStore>(
    app: &App<I, B>,
    request: &AccessRequest,
) -> ApiResult<()> {
    let Some(purpose) = consent::review_purpose(&request.purpose) else {
        return Ok(());
    };
    if live_consent(app, request.group_id, purpose, None)
        .await?
        .is_some()
    {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorKind::ConsentRequired,
        format!(
            "purpose {:?} is human review for {}: group {} has no recorded consent for it \
             (k of its custodians sign one, docs/vault.md §10)",
            request.purpose,
            purpose_name(purpose),
            request.group_id
        ),
    ))
}

/// The name of a consent purpose bit.
pub fn purpose_name(bit: u8) -> &'static str {
    if bit == consent::PURPOSE_TRAINING {
        "training"
    } else {
        "product-improvement"
    }
}
