//! Legal holds (docs/vault.md §9.1, issue 18 item 3): placed and released
//! by the operator only with k custodians' signed approvals
//! ([`HoldApproval`]), and kept by the sweeper, which re-wraps each held
//! segment's `b` to the hold's key before its epoch's key is destroyed.
//!
//! The hold's key is an epoch key of its own (id = the hold's id, class
//! `hold-<hex id>`), in the same key holder as every epoch key, so a
//! PKCS#11 token keeps it too and destroying it destroys the token
//! object. The sweeper makes it when the first held segment's epoch
//! expires (the operator's console, which places holds, has no
//! keystore). Releasing the hold gives that epoch the release time as
//! its expiry: the next sweep destroys it like any other, with its
//! `epoch-destroyed` entry and deletion receipt, and the segments it kept
//! go with it: their own epochs expired before they were moved.

use std::collections::{BTreeSet, HashMap};

use obhut_core::audit::{Event, Role};
use obhut_core::epoch::{EpochPublic, EpochSecret};
use obhut_core::group::PinnedGroup;
use obhut_core::hold::{HoldAction, HoldApproval, HoldTerms};
use obhut_core::ids::EpochId;
use obhut_core::record::SegmentRecord;
use obhut_core::rewrap::{EpochRewrap, RewrapReason, rewrap_segment};
use obhut_core::rng::os_rng;
use obhut_store::{BlobStore, EpochRow, EpochState, HoldRow, IndexStore, RewrapRow, StoreError};

use crate::Clock;
use crate::admin::{AdminError, operator_entry};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::holder::HolderError;
use crate::keystore::KeystoreError;
use crate::sweep::{Step, crash_point};
use obhut_api::ErrorKind;

/// The retention class of hold `id`'s key epoch.
pub fn hold_class(id: [u8; 16]) -> String {
    format!("hold-{}", hex::encode(id))
}

/// The approvals that count for `action` of `terms`: by distinct
/// custodians of the group, each for exactly this, still valid; at least
/// k of them, or `NotEnoughHoldApprovals`. Returns them encoded, for the
/// log entry.
fn counted(
    group: &PinnedGroup,
    action: HoldAction,
    terms: &HoldTerms,
    approvals: &[HoldApproval],
    now: i64,
) -> Result<Vec<Vec<u8>>, AdminError> {
    let descriptor = group.descriptor();
    let mut counted = BTreeSet::new();
    let mut encoded = Vec::new();
    for a in approvals {
        a.check(descriptor, action, terms, now)
            .map_err(|e| AdminError::Approval {
                custodian: a.custodian,
                reason: e.to_string(),
            })?;
        if counted.insert(a.custodian) {
            encoded.push(a.to_bytes()?);
        }
    }
    let need = descriptor.threshold();
    if counted.len() < usize::from(need) {
        return Err(AdminError::NotEnoughHoldApprovals {
            have: counted.len(),
            need,
        });
    }
    Ok(encoded)
}

async fn pinned(index: &impl IndexStore, terms: &HoldTerms) -> Result<PinnedGroup, AdminError> {
    let group = index
        .group(terms.group_id)
        .await?
        .ok_or(AdminError::UnknownGroup(terms.group_id))?;
    Ok(PinnedGroup::from_bytes(&group.descriptor)?)
}

/// Place the hold `terms` (issue 18 item 3): only with signed approvals
/// of at least k distinct custodians of the device's custody group, each
/// for exactly these terms; logged with the approvals whole as one
/// `hold-placed` entry in its transaction. The device must be enrolled in
/// the terms' group. Returns the hold's id. What the hold covers is kept
/// from the next sweep on; footage whose epoch was destroyed before is
/// gone.
pub async fn place_hold(
    index: &impl IndexStore,
    clock: &dyn Clock,
    terms: &HoldTerms,
    approvals: &[HoldApproval],
) -> Result<[u8; 16], AdminError> {
    let now = clock.now_ms();
    let device = index
        .device(terms.device_key)
        .await?
        .ok_or(AdminError::UnknownDevice(terms.device_key))?;
    if device.group_id != terms.group_id {
        return Err(AdminError::UnknownDevice(terms.device_key));
    }
    let group = pinned(index, terms).await?;
    let encoded = counted(&group, HoldAction::Place, terms, approvals, now)?;
    let hold_id = terms.hold_id();
    let entry = operator_entry(
        now,
        Event::HoldPlaced {
            hold_id,
            case: terms.case.clone(),
            device_key: terms.device_key,
            from_ms: terms.from_ms,
            to_ms: terms.to_ms,
            approvals: encoded,
        },
    )?;
    index
        .place_hold(
            &HoldRow {
                hold_id,
                group_id: terms.group_id,
                case: terms.case.clone(),
                device_key: terms.device_key,
                from_ms: terms.from_ms,
                to_ms: terms.to_ms,
                placed_ms: now,
                released_ms: None,
            },
            &entry,
        )
        .await?;
    Ok(hold_id)
}

/// The terms of a stored hold.
pub fn terms_of(h: &HoldRow) -> HoldTerms {
    HoldTerms {
        group_id: h.group_id,
        case: h.case.clone(),
        device_key: h.device_key,
        from_ms: h.from_ms,
        to_ms: h.to_ms,
    }
}

/// Release hold `id`: only with signed release approvals of at least k
/// distinct custodians of its group for exactly its terms; logged as one
/// `hold-released` entry. Its footage is back on its class's schedule:
/// what it kept past its epoch's expiry goes at the next sweep, with the
/// hold's key.
pub async fn release_hold(
    index: &impl IndexStore,
    clock: &dyn Clock,
    id: [u8; 16],
    approvals: &[HoldApproval],
) -> Result<(), AdminError> {
    let now = clock.now_ms();
    let hold = index.hold(id).await?.ok_or(AdminError::UnknownHold(id))?;
    if hold.released_ms.is_some() {
        return Err(AdminError::Store(StoreError::HoldReleased));
    }
    let terms = terms_of(&hold);
    let group = pinned(index, &terms).await?;
    let encoded = counted(&group, HoldAction::Release, &terms, approvals, now)?;
    let entry = operator_entry(
        now,
        Event::HoldReleased {
            hold_id: id,
            case: hold.case.clone(),
            approvals: encoded,
        },
    )?;
    index.release_hold(id, now, &entry).await?;
    Ok(())
}

fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "{what}");
    ApiError::new(ErrorKind::Internal, format!("the sweep failed: {what}"))
}

impl<I: IndexStore, B: BlobStore> App<I, B> {
    /// Before epoch `id`'s key is destroyed: re-wrap the `b` of each of
    /// its segments an active hold covers to that hold's key and move the
    /// segment there (docs/vault.md §9.1). Returns the segments moved.
    /// Each move is its own transaction and a segment moved is no longer
    /// the epoch's, so a sweep killed here is finished by the next; once
    /// the key is gone (an interrupted sweep destroyed it after moving
    /// everything it could) there is nothing left to move.
    pub(crate) async fn hold_before_destroy(&self, id: EpochId) -> ApiResult<u64> {
        let candidates = self.index.hold_candidates(id).await?;
        if candidates.is_empty() {
            return Ok(0);
        }
        let secret = match self.keystore.epoch(id) {
            Ok(s) => s,
            Err(KeystoreError::Holder(HolderError::Destroyed(_))) => return Ok(0),
            Err(e) => return Err(internal("loading an expiring epoch's key", e)),
        };
        let mut holds: HashMap<[u8; 16], Option<HoldRow>> = HashMap::new();
        let mut hold_keys: HashMap<[u8; 16], EpochPublic> = HashMap::new();
        let mut done = BTreeSet::new();
        let mut moved = 0u64;
        for c in candidates {
            if done.contains(&(c.recording_id, c.index)) {
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(v) = holds.entry(c.hold_id) {
                let h = self.index.hold(c.hold_id).await?;
                v.insert(h.filter(|h| h.released_ms.is_none()));
            }
            let Some(Some(hold)) = holds.get(&c.hold_id) else {
                continue;
            };
            let Some(row) = self.index.segment(c.recording_id, c.index).await? else {
                continue;
            };
            let record = SegmentRecord::from_bytes(&row.record)
                .map_err(|e| internal("a stored record does not parse", e))?;
            let fields = &record.header().fields;
            let start = fields.capture_utc_ms;
            let span = fields.media_end_ms.saturating_sub(fields.media_start_ms);
            let end = start.saturating_add(i64::try_from(span).unwrap_or(i64::MAX));
            if !terms_of(hold).covers(start, end) {
                continue;
            }
            // The hold's key is made for its first segment that needs it.
            let to = match hold_keys.get(&c.hold_id) {
                Some(k) => k,
                None => {
                    let k = self.hold_key(hold).await?;
                    hold_keys.entry(c.hold_id).or_insert(k)
                }
            };
            let rewrap = self.rewrap_to(&record, id, &secret, to).await?;
            let stored = RewrapRow {
                recording_id: c.recording_id,
                index: c.index,
                epoch_id: to.epoch_id,
                rewrap: rewrap.to_bytes(),
            };
            match self.index.hold_segment(id, &stored).await {
                Ok(true) => {
                    moved += 1;
                    done.insert((c.recording_id, c.index));
                    crash_point(Step::Held);
                }
                Ok(false) | Err(StoreError::HoldReleased) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if moved > 0 {
            tracing::info!(epoch = %id, moved, "held segments re-wrapped to their holds' keys");
        }
        Ok(moved)
    }

    /// `b` of `record`, whose row names epoch `id` (`secret`), sealed to
    /// `to`: from the header's own wrap if that is `id`'s, else from the
    /// re-wrap stored beside it (a segment moving from one hold to
    /// another).
    async fn rewrap_to(
        &self,
        record: &SegmentRecord,
        id: EpochId,
        secret: &EpochSecret,
        to: &EpochPublic,
    ) -> ApiResult<EpochRewrap> {
        let header = record.header();
        let mut rng = os_rng();
        if header.fields.epoch_wrap.epoch_id == id {
            return rewrap_segment(header, secret, to, RewrapReason::LegalHold, &mut rng)
                .map_err(|e| internal("re-wrapping a held segment", e));
        }
        let seg = record.segment_ref();
        let stored = self
            .index
            .segment_rewrap(seg.recording, seg.index)
            .await?
            .ok_or_else(|| internal("a moved segment has no re-wrap", seg))?;
        EpochRewrap::from_bytes(&stored.rewrap)
            .and_then(|r| r.rewrap_again(header, secret, to, RewrapReason::LegalHold, &mut rng))
            .map_err(|e| internal("re-wrapping a held segment again", e))
    }

    /// The public key of hold `h`'s epoch, made (key in the holder, then
    /// its row and `epoch-created` entry) if this is its first segment.
    async fn hold_key(&self, h: &HoldRow) -> ApiResult<EpochPublic> {
        let id = EpochId(h.hold_id);
        let keystore = |e: KeystoreError| internal("a hold's key in the keystore", e);
        if let Some(row) = self.index.epoch(id).await? {
            return EpochPublic::from_bytes(&row.public)
                .map_err(|e| internal("a stored hold key does not parse", e));
        }
        // A key made by a sweep killed before its row was stored is used,
        // not made again.
        let secret = if self.keystore.has_epoch(id) {
            self.keystore.epoch(id).map_err(keystore)?
        } else {
            self.keystore.create_epoch(id).map_err(keystore)?
        };
        crash_point(Step::HoldKeyMade);
        let class = hold_class(h.hold_id);
        let public = secret.public(&class, h.from_ms, h.to_ms);
        let entry = self.log_entry(
            Role::Vault,
            self.keystore.vault_key().verify_key().to_bytes(),
            None,
            Event::EpochCreated {
                epoch_id: id,
                retention_class: class.clone(),
                not_before: h.from_ms,
                not_after: h.to_ms,
            },
        )?;
        self.index
            .put_epoch(
                &EpochRow {
                    epoch_id: id,
                    retention_class: class,
                    not_before: h.from_ms,
                    not_after: h.to_ms,
                    public: public.to_bytes(),
                    expires_ms: h.released_ms,
                    state: EpochState::Live,
                    destroyed_ms: None,
                },
                &entry,
            )
            .await?;
        self.log.wake();
        tracing::info!(hold = %hex::encode(h.hold_id), "hold key created");
        Ok(public)
    }
}
