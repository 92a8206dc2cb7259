//! The operator's changes to the vault's store: enrolment tokens,
//! revocation, readers, requesters, auditors.
//!
//! They work on the index directly, not through the HTTP API: `obhut
//! admin` opens the vault's SQLite index beside a running server (WAL mode;
//! the server sees each change on its next request) and never touches
//! blobs or `tmp/`. Every change is sequenced into the audit log in its own
//! transaction, attributed to the operator role (the console has no person
//! key; whoever can write the database is the operator, and the log makes
//! their changes visible).

use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::group::PinnedGroup;
use obhut_core::identity::PublicIdentity;
use obhut_core::ids::GroupId;
use obhut_core::reclassify::{Reclassification, ReclassifyApproval};
use obhut_core::vault::{body_sha256, descriptor_fingerprint};
use obhut_store::{GroupRow, IndexStore, NewLogEntry, StoreError, TokenRow};

use crate::Clock;

/// Validity of an enrolment token.
pub const TOKEN_VALID_MS: i64 = 24 * 3_600_000;

/// Why an operator's change was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// A retention class must have 1 to
    /// [`MAX_CLASS_LEN`](obhut_core::epoch::MAX_CLASS_LEN) bytes.
    #[error("a retention class has 1 to 64 bytes")]
    RetentionClass {
        /// The class given.
        class: String,
    },
    /// A role for a group the vault does not know (no enrolment token was
    /// ever made for it, so its descriptor is not pinned).
    #[error("the vault knows no group {0}")]
    UnknownGroup(GroupId),
    /// Revoking a device that never enrolled.
    #[error("no enrolled device {}", hex::encode(.0))]
    UnknownDevice([u8; 32]),
    /// A reclassification approval does not count (`obhut_core::reclassify`).
    #[error("approval of custodian {custodian}: {reason}")]
    Approval {
        /// The custodian index it names.
        custodian: u16,
        /// Why it does not count.
        reason: String,
    },
    /// Fewer than k distinct custodians approved the reclassification.
    #[error(
        "{have} distinct custodians approved moving the device to the new class; its custody group needs {need}"
    )]
    NotEnoughApprovals {
        /// Distinct custodians whose approvals count.
        have: usize,
        /// k of the device's group.
        need: u16,
    },
    /// Fewer than k distinct custodians approved placing or releasing a
    /// legal hold.
    #[error(
        "{have} distinct custodians approved the hold's placement or release; its custody group needs {need}"
    )]
    NotEnoughHoldApprovals {
        /// Distinct custodians whose approvals count.
        have: usize,
        /// k of the device's group.
        need: u16,
    },
    /// Releasing a hold the vault does not know.
    #[error("no hold {}", hex::encode(.0))]
    UnknownHold([u8; 16]),
    /// The device is already of that class.
    #[error("the device is already of class {0}")]
    SameClass(String),
    /// The audit entry of the change could not be encoded.
    #[error(transparent)]
    Entry(#[from] obhut_core::Error),
    /// The operating system gave no randomness for a token.
    #[error("OS randomness: {0}")]
    Randomness(getrandom::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The audit entry of an operator's change, stamped `now`.
pub(crate) fn operator_entry(now: i64, event: Event) -> Result<NewLogEntry, AdminError> {
    Ok(NewLogEntry::new(&LogEntry {
        time_ms: now,
        actor: Actor {
            role: Role::Operator,
            key: [0; 32],
        },
        recording: None,
        event,
    })?)
}

/// Refuse a retention class the vault cannot name (1 to 64 bytes).
pub fn check_retention_class(class: &str) -> Result<(), AdminError> {
    if class.is_empty() || class.len() > obhut_core::epoch::MAX_CLASS_LEN {
        return Err(AdminError::RetentionClass {
            class: class.to_owned(),
        });
    }
    Ok(())
}

/// Record the pinned group at the vault and a one-time enrolment token
/// bound to it and `retention_class`, valid [`TOKEN_VALID_MS`]. The vault
/// keeps only the token's SHA-256; the token itself is returned
/// (`obhut-enrol-<hex>`) to be shown once.
pub async fn create_enrol_token(
    index: &impl IndexStore,
    clock: &dyn Clock,
    pinned: &PinnedGroup,
    retention_class: &str,
) -> Result<String, AdminError> {
    check_retention_class(retention_class)?;
    let now = clock.now_ms();
    let fingerprint = descriptor_fingerprint(pinned);
    index
        .put_group(
            &GroupRow {
                group_id: pinned.group_id(),
                descriptor: pinned.to_bytes(),
                fingerprint: fingerprint.0,
                added_ms: now,
            },
            &operator_entry(
                now,
                Event::GroupAdded {
                    group_id: pinned.group_id(),
                    fingerprint,
                },
            )?,
        )
        .await?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(AdminError::Randomness)?;
    let token = format!("obhut-enrol-{}", hex::encode(secret));
    index
        .create_token(&TokenRow {
            token_hash: body_sha256(token.as_bytes()),
            group_id: pinned.group_id(),
            retention_class: retention_class.to_owned(),
            created_ms: now,
            expires_ms: now + TOKEN_VALID_MS,
        })
        .await?;
    Ok(token)
}

/// Revoke the device with key `device`; it is refused from its next
/// request on. Already revoked stays revoked with its first revocation time.
pub async fn revoke_device(
    index: &impl IndexStore,
    clock: &dyn Clock,
    device: [u8; 32],
) -> Result<(), AdminError> {
    let now = clock.now_ms();
    let entry = operator_entry(now, Event::DeviceRevoked { device_key: device })?;
    if !index.revoke_device(device, now, &entry).await? {
        return Err(AdminError::UnknownDevice(device));
    }
    Ok(())
}

/// Refuse a role for a group the vault does not know.
async fn require_group(index: &impl IndexStore, gid: GroupId) -> Result<(), AdminError> {
    if index.group(gid).await?.is_none() {
        return Err(AdminError::UnknownGroup(gid));
    }
    Ok(())
}

/// Let `person` read the recordings of group `gid` (records and
/// ciphertext, never keys). The vault must know the group.
pub async fn add_reader(
    index: &impl IndexStore,
    clock: &dyn Clock,
    person: &PublicIdentity,
    gid: GroupId,
) -> Result<(), AdminError> {
    require_group(index, gid).await?;
    let now = clock.now_ms();
    let key = person.sign_key.to_bytes();
    let entry = operator_entry(
        now,
        Event::ReaderAdded {
            person_key: key,
            group_id: gid,
        },
    )?;
    index.add_reader(key, gid, now, &entry).await?;
    Ok(())
}

/// Let `person` post access requests for the footage of group `gid`
/// (docs/access.md §1). The vault must know the group. Logged as a
/// `requester-added` entry naming the person and the group.
pub async fn add_requester(
    index: &impl IndexStore,
    clock: &dyn Clock,
    person: &PublicIdentity,
    gid: GroupId,
) -> Result<(), AdminError> {
    require_group(index, gid).await?;
    let now = clock.now_ms();
    let key = person.sign_key.to_bytes();
    let entry = operator_entry(
        now,
        Event::RequesterAdded {
            person_key: key,
            name: person.name.clone(),
            group_id: gid,
        },
    )?;
    index.add_requester(key, gid, now, &entry).await?;
    Ok(())
}

/// Let `person` read audit entry bodies (which hold case data): a
/// data-protection officer or an oversight body.
pub async fn add_auditor(
    index: &impl IndexStore,
    clock: &dyn Clock,
    person: &PublicIdentity,
) -> Result<(), AdminError> {
    let now = clock.now_ms();
    let key = person.sign_key.to_bytes();
    let entry = operator_entry(
        now,
        Event::AuditorAdded {
            person_key: key,
            name: person.name.clone(),
        },
    )?;
    index.add_auditor(key, now, &entry).await?;
    Ok(())
}

/// Serve a display name (docs/format.md §3.5, docs/vault.md §11): the
/// claim is parsed and its signature verified, then stored as its
/// subject's name unless a claim signed at the same time or later is, and
/// logged whole as `name-set`. Returns whether it was stored. The operator
/// relays names but cannot make one a client shows as verified: that takes
/// the subject's own key (or a key the client trusts to name others).
pub async fn set_name(
    index: &impl IndexStore,
    clock: &dyn Clock,
    claim: &[u8],
) -> Result<bool, AdminError> {
    let claim = obhut_core::name::NameClaim::from_bytes(claim)?;
    let now = clock.now_ms();
    let subject = claim.subject().to_bytes();
    let bytes = claim.to_bytes();
    let time_ms = claim.time_ms();
    let entry = operator_entry(now, Event::NameSet { claim })?;
    Ok(index
        .set_name(subject, &bytes, time_ms, now, &entry)
        .await?)
}

/// Move device `device` to retention class `to` (issue 18 item 1): only
/// with signed approvals ([`ReclassifyApproval`]) of at least k distinct
/// custodians of its custody group, each for exactly this change and
/// still valid; the change and the approvals, whole, are logged as one
/// `device-reclassified` entry in its transaction. Footage already stored
/// keeps the epochs it was sealed to, and so its expiry; what the device
/// seals from its next epoch fetch on goes to the new class's epochs.
pub async fn reclassify_device(
    index: &impl IndexStore,
    clock: &dyn Clock,
    device: [u8; 32],
    to: &str,
    approvals: &[ReclassifyApproval],
) -> Result<(), AdminError> {
    check_retention_class(to)?;
    let now = clock.now_ms();
    let row = index
        .device(device)
        .await?
        .ok_or(AdminError::UnknownDevice(device))?;
    if row.retention_class == to {
        return Err(AdminError::SameClass(to.to_owned()));
    }
    let group = index
        .group(row.group_id)
        .await?
        .ok_or(AdminError::UnknownGroup(row.group_id))?;
    let pinned = PinnedGroup::from_bytes(&group.descriptor)?;
    let descriptor = pinned.descriptor();
    let want = Reclassification {
        group_id: row.group_id,
        device_key: device,
        from_class: row.retention_class.clone(),
        to_class: to.to_owned(),
        not_after: i64::MAX,
    };
    let mut counted = std::collections::BTreeSet::new();
    let mut encoded = Vec::new();
    for a in approvals {
        a.check(descriptor, &want, now)
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
        return Err(AdminError::NotEnoughApprovals {
            have: counted.len(),
            need,
        });
    }
    let entry = operator_entry(
        now,
        Event::DeviceReclassified {
            device_key: device,
            from_class: row.retention_class.clone(),
            to_class: to.to_owned(),
            approvals: encoded,
        },
    )?;
    index
        .reclassify_device(device, &row.retention_class, to, &entry)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use obhut_core::identity::PersonSecret;
    use obhut_core::rng::os_rng;

    use super::*;
    use crate::ManualClock;

    #[test]
    fn a_retention_class_has_1_to_64_bytes() {
        assert!(check_retention_class("bodycam-30d").is_ok());
        assert!(matches!(
            check_retention_class(""),
            Err(AdminError::RetentionClass { .. })
        ));
        let long = "x".repeat(obhut_core::epoch::MAX_CLASS_LEN + 1);
        assert!(matches!(
            check_retention_class(&long),
            Err(AdminError::RetentionClass { class }) if class == long
        ));
    }

    #[tokio::test]
    async fn roles_need_a_known_group_and_revocation_a_known_device() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (index, _blobs, _) = obhut_store::open_embedded(dir.path()).await.expect("open");
        let clock = ManualClock::new(1_000);
        let person = PersonSecret::generate("reader", &mut os_rng()).public();
        let gid = GroupId::from_hex("00112233445566778899aabbccddeeff").expect("hex");
        assert!(matches!(
            add_reader(&index, &clock, &person, gid).await,
            Err(AdminError::UnknownGroup(g)) if g == gid
        ));
        assert!(matches!(
            add_requester(&index, &clock, &person, gid).await,
            Err(AdminError::UnknownGroup(_))
        ));
        assert!(matches!(
            revoke_device(&index, &clock, [7; 32]).await,
            Err(AdminError::UnknownDevice(k)) if k == [7; 32]
        ));
        add_auditor(&index, &clock, &person).await.expect("auditor");
        index.close().await;
    }
}
