//! Audit-log entries (docs/format.md §12): the bytes the vault appends to
//! its transparency log for every event, and that `obhut audit` decodes.
//!
//! An entry says who (an actor's role and key), when (the vault's UTC
//! clock, milliseconds), which recording, and what happened. Access events
//! embed the signed objects themselves (the requester's [`AccessRequest`]
//! with purpose, justification, legal basis, case reference and recipients),
//! so the log alone carries the fields of Directive 2016/680 Art. 25 /
//! §76 BDSG and a reader need not trust the vault's word for them.
//!
//! Entries are not signed: the log's checkpoints sign the tree over them.
//!
//! [`AccessRequest`]: crate::request::AccessRequest

use crate::decision::{Decision, Verdict};
use crate::disclosure::Disclosure;
use crate::error::{Error, Result};
use crate::ids::{EpochId, Fingerprint, GroupId, RecordingId};
use crate::labels::{SUITE_V1, VERSION, magic};
use crate::name::NameClaim;
use crate::wire::{Reader, Writer};
use approvals::write_approvals;

/// Largest encoded entry: C2SP tlog-tiles entry bundles carry a 16-bit
/// length.
pub const MAX_ENTRY_LEN: usize = 65_535;
/// Longest free text (reasons, policies): a denial's reason is the longest
/// a person writes.
pub const MAX_TEXT_LEN: usize = crate::decision::MAX_REASON_LEN;
/// Longest retention-class name.
pub const MAX_CLASS_LEN: usize = 64;
/// Largest embedded signed object.
pub const MAX_EMBEDDED_LEN: usize = 60 * 1024;

const ENTRY: &str = "log entry";

/// Who caused an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The vault itself (its receipt key).
    Vault,
    /// An enrolled device (its Ed25519 key).
    Device,
    /// A person: custodian, requester, auditor or admin (identity signing key).
    Person,
    /// An operator at the vault's console (`obhut admin`), identified by the
    /// vault key because the console has no person key of its own.
    Operator,
}

impl Role {
    fn to_u8(self) -> u8 {
        match self {
            Role::Vault => 0,
            Role::Device => 1,
            Role::Person => 2,
            Role::Operator => 3,
        }
    }
    fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            0 => Role::Vault,
            1 => Role::Device,
            2 => Role::Person,
            3 => Role::Operator,
            _ => {
                return Err(Error::Malformed {
                    what: ENTRY,
                    reason: "unknown actor role",
                });
            }
        })
    }
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Vault => "vault",
            Role::Device => "device",
            Role::Person => "person",
            Role::Operator => "operator",
        }
    }
}

/// The actor of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Which kind of key.
    pub role: Role,
    /// The Ed25519 public key.
    pub key: [u8; 32],
}

/// What happened. The tag byte of each variant is its position in
/// docs/format.md §12's table and never changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A custody group's signed descriptor was registered.
    GroupAdded {
        /// The group.
        group_id: GroupId,
        /// Fingerprint of the descriptor.
        fingerprint: Fingerprint,
    },
    /// A device enrolled (the actor is the device).
    DeviceEnrolled {
        /// Its custody group.
        group_id: GroupId,
        /// Its retention class.
        retention_class: String,
    },
    /// A device was revoked.
    DeviceRevoked {
        /// The device.
        device_key: [u8; 32],
    },
    /// A person was allowed to read a group's ciphertext index.
    ReaderAdded {
        /// The person.
        person_key: [u8; 32],
        /// The group.
        group_id: GroupId,
    },
    /// A segment was stored (the actor is the device; recording set).
    SegmentReceived {
        /// Segment index.
        index: u32,
        /// Record hash of the device-signed record.
        record_hash: [u8; 32],
        /// Ciphertext length.
        blob_len: u64,
        /// Device capture time (UTC ms).
        capture_utc_ms: i64,
    },
    /// A requester asked for access: the signed request, whole.
    AccessRequested {
        /// Encoded signed `AccessRequest`.
        request: Vec<u8>,
    },
    /// A custodian approved a logged request: its signed decision, whole
    /// (§8.6), so the log itself shows who approved.
    Approved {
        /// The custodian's signed approval (verdict approve).
        decision: Decision,
    },
    /// A custodian denied a logged request; the request ends.
    Denied {
        /// The custodian's signed denial (verdict deny, with the reason).
        decision: Decision,
    },
    /// The vault released epoch parts for a grant.
    Released {
        /// Hash of the request.
        request_hash: [u8; 32],
        /// The request's log index.
        request_index: u64,
        /// Number of segments whose epoch part was released.
        segments: u32,
    },
    /// A requester opened footage of a grant.
    Opened {
        /// The requester's signed report (verdict opened).
        decision: Decision,
    },
    /// Entry bodies older than a bound were pruned (their leaf hashes stay).
    LogPruned {
        /// Entries before this index were considered.
        before_index: u64,
        /// Bodies removed.
        count: u64,
    },
    /// A person was allowed to post access requests for a group's footage
    /// (`obhut admin add-requester`, docs/access.md §1).
    RequesterAdded {
        /// The person's identity signing key.
        person_key: [u8; 32],
        /// The name in the person's public identity.
        name: String,
        /// The group.
        group_id: GroupId,
    },
    /// A person was allowed to read audit entry bodies (`obhut admin
    /// add-auditor`).
    AuditorAdded {
        /// The person's identity signing key.
        person_key: [u8; 32],
        /// The name in the person's public identity.
        name: String,
    },
    /// The vault's policy settings in effect (logged at a start when they
    /// differ from the last ones logged, docs/log.md).
    PolicyInEffect {
        /// The settings, as `ServerConfig::policy` words them.
        policy: String,
    },
    /// The vault made a retention epoch's key pair (on its schedule: the
    /// current and next period of each class; docs/vault.md §8), so every
    /// key that can open footage is accounted for in the log.
    EpochCreated {
        /// The epoch.
        epoch_id: EpochId,
        /// Its retention class.
        retention_class: String,
        /// Start of its period (UTC ms).
        not_before: i64,
        /// End of its period (UTC ms, exclusive).
        not_after: i64,
    },
    /// The sweeper destroyed an expired retention epoch's key (docs/vault.md
    /// §9): from this entry on, no copy of the vault's data or keystore can
    /// open the epoch's footage. The vault signs the whole entry as a
    /// deletion receipt ([`crate::deletion::DeletionReceipt`]).
    EpochDestroyed {
        /// The epoch.
        epoch_id: EpochId,
        /// Its retention class.
        retention_class: String,
        /// Start of its period (UTC ms).
        not_before: i64,
        /// End of its period (UTC ms, exclusive).
        not_after: i64,
        /// When its footage expired (UTC ms): the end of its period plus
        /// the class's retention.
        expired_ms: i64,
        /// Segments sealed to it whose ciphertext and index rows go.
        segments: u64,
        /// Whether the key holder destroyed the wrapping key now (false:
        /// it was already gone, a sweep interrupted after that step).
        key_destroyed: bool,
    },
    /// A device moved to another retention class with k custodians'
    /// signed approvals, embedded whole (§12.2).
    DeviceReclassified {
        /// The device.
        device_key: [u8; 32],
        /// Its class before.
        from_class: String,
        /// Its class now.
        to_class: String,
        /// The encoded `ReclassifyApproval`s, at least k.
        approvals: Vec<Vec<u8>>,
    },
    /// A derived artifact was registered: its signed `ArtifactRecord`
    /// (§13.1), whole.
    ArtifactRegistered {
        /// The encoded record.
        record: Vec<u8>,
    },
    /// A consent to human review was recorded: k custodians' signed
    /// grants (§13.2), whole.
    ConsentRecorded {
        /// The encoded `ConsentStatement`s.
        statements: Vec<Vec<u8>>,
    },
    /// A custodian withdrew a consent: the signed withdrawal, whole.
    ConsentWithdrawn {
        /// The encoded `ConsentStatement` (action withdraw).
        statement: Vec<u8>,
    },
    /// A source went (erased, expired) or a consent was withdrawn, and
    /// the artifacts derived from it went with it (§13.3).
    ArtifactsCascaded(crate::artifact::Cascade),
    /// A legal hold placed with k custodians' signed approvals, embedded
    /// whole (§12.3): the device's footage captured in the window is kept
    /// past its retention until the hold is released.
    HoldPlaced {
        /// The hold's id (§12.3: from its terms).
        hold_id: [u8; 16],
        /// The case reference.
        case: String,
        /// The device.
        device_key: [u8; 32],
        /// Start of the capture-time window (UTC ms, inclusive).
        from_ms: i64,
        /// End (UTC ms, exclusive).
        to_ms: i64,
        /// The encoded `HoldApproval`s (action place), at least k.
        approvals: Vec<Vec<u8>>,
    },
    /// A legal hold released with k custodians' signed approvals (§12.3):
    /// its footage is back on its class's schedule.
    HoldReleased {
        /// The hold's id.
        hold_id: [u8; 16],
        /// The case reference.
        case: String,
        /// The encoded `HoldApproval`s (action release), at least k.
        approvals: Vec<Vec<u8>>,
    },
    /// Segments of a recording erased early with k custodians' signed
    /// approvals, embedded whole (§12.4): their epochs were split and the
    /// old epoch keys destroyed (each with its own `epoch-destroyed`
    /// entry and receipt).
    Erased {
        /// The recording.
        recording_id: RecordingId,
        /// Start of the capture-time window erased (UTC ms, inclusive).
        from_ms: i64,
        /// End (UTC ms, exclusive).
        to_ms: i64,
        /// Segments erased.
        segments: u64,
        /// Until when a copy could still open them (UTC ms; vault.md §9.2).
        copies_until_ms: i64,
        /// The encoded `ErasureApproval`s, at least k.
        approvals: Vec<Vec<u8>>,
    },
    /// A requester exported a grant's footage as an evidence bundle and
    /// handed it to recipients: its signed disclosure, whole
    /// (docs/bundle.md §5).
    Disclosed {
        /// The requester's signed disclosure.
        disclosure: Disclosure,
    },
    /// The vault now serves a signed display name for a person or device
    /// (`obhut admin set-name`; docs/format.md §3.5): the claim, whole, so
    /// the log shows every name ever served and who signed it.
    NameSet {
        /// The signed claim.
        claim: NameClaim,
    },
}

impl Event {
    /// The person's signed decision an approved, denied or opened entry
    /// carries.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            Event::Approved { decision }
            | Event::Denied { decision }
            | Event::Opened { decision } => Some(decision),
            _ => None,
        }
    }

    fn tag(&self) -> u8 {
        match self {
            Event::GroupAdded { .. } => 1,
            Event::DeviceEnrolled { .. } => 2,
            Event::DeviceRevoked { .. } => 3,
            Event::ReaderAdded { .. } => 4,
            Event::SegmentReceived { .. } => 5,
            Event::AccessRequested { .. } => 6,
            Event::Approved { .. } => 7,
            Event::Denied { .. } => 8,
            Event::Released { .. } => 9,
            Event::Opened { .. } => 10,
            // 11 was the free-text `admin` entry of draft 1; never reused.
            Event::LogPruned { .. } => 12,
            Event::RequesterAdded { .. } => 13,
            Event::AuditorAdded { .. } => 14,
            Event::PolicyInEffect { .. } => 15,
            Event::EpochCreated { .. } => 16,
            Event::EpochDestroyed { .. } => 17,
            Event::DeviceReclassified { .. } => 18,
            Event::HoldPlaced { .. } => 19,
            Event::HoldReleased { .. } => 20,
            Event::Erased { .. } => 21,
            Event::ArtifactRegistered { .. } => 22,
            Event::ConsentRecorded { .. } => 23,
            Event::ConsentWithdrawn { .. } => 24,
            Event::ArtifactsCascaded(_) => 25,
            Event::Disclosed { .. } => 26,
            Event::NameSet { .. } => 27,
        }
    }

    /// Short kebab-case name (stored beside the entry for filtering).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::GroupAdded { .. } => "group-added",
            Event::DeviceEnrolled { .. } => "device-enrolled",
            Event::DeviceRevoked { .. } => "device-revoked",
            Event::ReaderAdded { .. } => "reader-added",
            Event::SegmentReceived { .. } => "segment-received",
            Event::AccessRequested { .. } => "access-requested",
            Event::Approved { .. } => "approved",
            Event::Denied { .. } => "denied",
            Event::Released { .. } => "released",
            Event::Opened { .. } => "opened",
            Event::LogPruned { .. } => "log-pruned",
            Event::RequesterAdded { .. } => "requester-added",
            Event::AuditorAdded { .. } => "auditor-added",
            Event::PolicyInEffect { .. } => "policy-in-effect",
            Event::EpochCreated { .. } => "epoch-created",
            Event::EpochDestroyed { .. } => "epoch-destroyed",
            Event::DeviceReclassified { .. } => "device-reclassified",
            Event::HoldPlaced { .. } => "hold-placed",
            Event::HoldReleased { .. } => "hold-released",
            Event::Erased { .. } => "erased",
            Event::ArtifactRegistered { .. } => "artifact-registered",
            Event::ConsentRecorded { .. } => "consent-recorded",
            Event::ConsentWithdrawn { .. } => "consent-withdrawn",
            Event::ArtifactsCascaded(_) => "artifacts-cascaded",
            Event::Disclosed { .. } => "disclosed",
            Event::NameSet { .. } => "name-set",
        }
    }

    fn encode(&self, w: &mut Writer) {
        match self {
            Event::GroupAdded {
                group_id,
                fingerprint,
            } => {
                w.bytes(&group_id.0).bytes(&fingerprint.0);
            }
            Event::DeviceEnrolled {
                group_id,
                retention_class,
            } => {
                w.bytes(&group_id.0).string(retention_class);
            }
            Event::DeviceRevoked { device_key } => {
                w.bytes(device_key);
            }
            Event::ReaderAdded {
                person_key,
                group_id,
            } => {
                w.bytes(person_key).bytes(&group_id.0);
            }
            Event::SegmentReceived {
                index,
                record_hash,
                blob_len,
                capture_utc_ms,
            } => {
                w.u32(*index)
                    .bytes(record_hash)
                    .u64(*blob_len)
                    .i64(*capture_utc_ms);
            }
            Event::AccessRequested { request } => {
                w.var_bytes(request);
            }
            Event::Approved { decision }
            | Event::Denied { decision }
            | Event::Opened { decision } => {
                w.var_bytes(&decision.to_bytes());
            }
            Event::Released {
                request_hash,
                request_index,
                segments,
            } => {
                w.bytes(request_hash).u64(*request_index).u32(*segments);
            }
            Event::LogPruned {
                before_index,
                count,
            } => {
                w.u64(*before_index).u64(*count);
            }
            Event::RequesterAdded {
                person_key,
                name,
                group_id,
            } => {
                w.bytes(person_key).string(name).bytes(&group_id.0);
            }
            Event::AuditorAdded { person_key, name } => {
                w.bytes(person_key).string(name);
            }
            Event::PolicyInEffect { policy } => {
                w.string(policy);
            }
            Event::EpochCreated {
                epoch_id,
                retention_class,
                not_before,
                not_after,
            } => {
                w.bytes(&epoch_id.0)
                    .string(retention_class)
                    .i64(*not_before)
                    .i64(*not_after);
            }
            Event::EpochDestroyed {
                epoch_id,
                retention_class,
                not_before,
                not_after,
                expired_ms,
                segments,
                key_destroyed,
            } => {
                w.bytes(&epoch_id.0)
                    .string(retention_class)
                    .i64(*not_before)
                    .i64(*not_after)
                    .i64(*expired_ms)
                    .u64(*segments)
                    .u8(u8::from(*key_destroyed));
            }
            Event::DeviceReclassified {
                device_key,
                from_class,
                to_class,
                approvals,
            } => {
                w.bytes(device_key).string(from_class).string(to_class);
                write_approvals(w, approvals);
            }
            Event::ArtifactRegistered { .. }
            | Event::ConsentRecorded { .. }
            | Event::ConsentWithdrawn { .. }
            | Event::ArtifactsCascaded(_) => derived::encode(self, w),
            Event::HoldPlaced { .. } | Event::HoldReleased { .. } | Event::Erased { .. } => {
                holds::encode(self, w)
            }
            Event::Disclosed { disclosure } => {
                w.var_bytes(&disclosure.to_bytes());
            }
            Event::NameSet { claim } => {
                w.var_bytes(&claim.to_bytes());
            }
        }
    }

    fn read(tag: u8, r: &mut Reader<'_>) -> Result<Self> {
        let text = |r: &mut Reader<'_>, f| r.string(f, MAX_TEXT_LEN).map(str::to_owned);
        let decision = |r: &mut Reader<'_>, verdict: Verdict| -> Result<Decision> {
            let d = Decision::from_bytes(r.var_bytes("decision", MAX_EMBEDDED_LEN)?)?;
            if d.content().verdict != verdict {
                return Err(Error::Malformed {
                    what: ENTRY,
                    reason: "the decision's verdict is not the entry's kind",
                });
            }
            Ok(d)
        };
        Ok(match tag {
            1 => Event::GroupAdded {
                group_id: GroupId(r.array("group_id")?),
                fingerprint: Fingerprint(r.array("fingerprint")?),
            },
            2 => Event::DeviceEnrolled {
                group_id: GroupId(r.array("group_id")?),
                retention_class: r.string("retention_class", MAX_CLASS_LEN)?.to_owned(),
            },
            3 => Event::DeviceRevoked {
                device_key: r.array("device_key")?,
            },
            4 => Event::ReaderAdded {
                person_key: r.array("person_key")?,
                group_id: GroupId(r.array("group_id")?),
            },
            5 => Event::SegmentReceived {
                index: r.u32("index")?,
                record_hash: r.array("record_hash")?,
                blob_len: r.u64("blob_len")?,
                capture_utc_ms: r.i64("capture_utc_ms")?,
            },
            6 => Event::AccessRequested {
                request: r.var_bytes("request", MAX_EMBEDDED_LEN)?.to_vec(),
            },
            7 => Event::Approved {
                decision: decision(r, Verdict::Approve)?,
            },
            8 => Event::Denied {
                decision: decision(r, Verdict::Deny)?,
            },
            9 => Event::Released {
                request_hash: r.array("request_hash")?,
                request_index: r.u64("request_index")?,
                segments: r.u32("segments")?,
            },
            10 => Event::Opened {
                decision: decision(r, Verdict::Opened)?,
            },
            12 => Event::LogPruned {
                before_index: r.u64("before_index")?,
                count: r.u64("count")?,
            },
            13 => Event::RequesterAdded {
                person_key: r.array("person_key")?,
                name: text(r, "name")?,
                group_id: GroupId(r.array("group_id")?),
            },
            14 => Event::AuditorAdded {
                person_key: r.array("person_key")?,
                name: text(r, "name")?,
            },
            15 => Event::PolicyInEffect {
                policy: text(r, "policy")?,
            },
            16 => Event::EpochCreated {
                epoch_id: EpochId(r.array("epoch_id")?),
                retention_class: r.string("retention_class", MAX_CLASS_LEN)?.to_owned(),
                not_before: r.i64("not_before")?,
                not_after: r.i64("not_after")?,
            },
            17 => Event::EpochDestroyed {
                epoch_id: EpochId(r.array("epoch_id")?),
                retention_class: r.string("retention_class", MAX_CLASS_LEN)?.to_owned(),
                not_before: r.i64("not_before")?,
                not_after: r.i64("not_after")?,
                expired_ms: r.i64("expired_ms")?,
                segments: r.u64("segments")?,
                key_destroyed: r.bool("key_destroyed")?,
            },
            18 => {
                let device_key = r.array("device_key")?;
                let from_class = r.string("from_class", MAX_CLASS_LEN)?.to_owned();
                let to_class = r.string("to_class", MAX_CLASS_LEN)?.to_owned();
                let n = r.u16("approvals")?;
                let mut approvals = Vec::new();
                for _ in 0..n {
                    let a = r.var_bytes("approval", MAX_EMBEDDED_LEN)?;
                    // Each approval verifies: the log shows only signed ones.
                    crate::reclassify::ReclassifyApproval::from_bytes(a)?;
                    approvals.push(a.to_vec());
                }
                Event::DeviceReclassified {
                    device_key,
                    from_class,
                    to_class,
                    approvals,
                }
            }
            19..=21 => holds::read(tag, r)?,
            22..=25 => derived::read(tag, r)?,
            26 => Event::Disclosed {
                disclosure: Disclosure::from_bytes(r.var_bytes("disclosure", MAX_EMBEDDED_LEN)?)?,
            },
            27 => Event::NameSet {
                claim: NameClaim::from_bytes(r.var_bytes("claim", MAX_EMBEDDED_LEN)?)?,
            },
            _ => {
                return Err(Error::Malformed {
                    what: ENTRY,
                    reason: "unknown event kind",
                });
            }
        })
    }
}

/// One audit-log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Vault clock when the event was logged (UTC ms).
    pub time_ms: i64,
    /// Who.
    pub actor: Actor,
    /// The recording concerned, if one.
    pub recording: Option<RecordingId>,
    /// What.
    pub event: Event,
}

impl LogEntry {
    /// Canonical encoding (docs/format.md §12). Fails only if the entry
    /// would exceed [`MAX_ENTRY_LEN`] (an over-long request or text).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::with_preamble(magic::LOG_ENTRY, VERSION, SUITE_V1);
        w.u8(self.event.tag())
            .i64(self.time_ms)
            .u8(self.actor.role.to_u8())
            .bytes(&self.actor.key);
        match &self.recording {
            Some(r) => w.u8(1).bytes(&r.0),
            None => w.u8(0),
        };
        self.event.encode(&mut w);
        let out = w.into_vec();
        if out.len() > MAX_ENTRY_LEN {
            return Err(Error::FieldTooLong {
                what: ENTRY,
                field: "entry",
                len: out.len(),
                max: MAX_ENTRY_LEN,
            });
        }
        Ok(out)
    }

    /// Parse an entry.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_ENTRY_LEN {
            return Err(Error::FieldTooLong {
                what: ENTRY,
                field: "entry",
                len: bytes.len(),
                max: MAX_ENTRY_LEN,
            });
        }
        let mut r = Reader::new(ENTRY, bytes);
        r.preamble(magic::LOG_ENTRY, VERSION, SUITE_V1)?;
        let tag = r.u8("kind")?;
        let time_ms = r.i64("time_ms")?;
        let role = Role::from_u8(r.u8("role")?)?;
        let key = r.array("actor")?;
        let recording = match r.u8("has_recording")? {
            0 => None,
            1 => Some(RecordingId(r.array("recording")?)),
            _ => {
                return Err(Error::Malformed {
                    what: ENTRY,
                    reason: "has_recording is neither 0 nor 1",
                });
            }
        };
        let event = Event::read(tag, &mut r)?;
        r.finish()?;
        if let Event::Disclosed { disclosure } = &event
            && (role != Role::Person || key != disclosure.person().to_bytes())
        {
            return Err(Error::Malformed {
                what: ENTRY,
                reason: "the actor of a disclosed entry is the person who signed its disclosure",
            });
        }
        if let Some(d) = event.decision() {
            // The statement is the person's; the entry may not say otherwise.
            if role != Role::Person || key != d.person().to_bytes() {
                return Err(Error::Malformed {
                    what: ENTRY,
                    reason: "the actor of an approved, denied or opened entry is the person who signed its decision",
                });
            }
        }
        Ok(LogEntry {
            time_ms,
            actor: Actor { role, key },
            recording,
            event,
        })
    }
}

pub(crate) fn hex8(b: &[u8]) -> String {
    b.iter().take(8).map(|x| format!("{x:02x}")).collect()
}

mod approvals;
mod derived;
mod display;
mod holds;
#[cfg(test)]
mod tests;
