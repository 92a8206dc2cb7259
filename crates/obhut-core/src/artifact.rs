//! Derived artifacts (docs/format.md §13, issue 18 item 6): thumbnails,
//! clips, redacted copies, transcripts, labels, training sets and models,
//! each with a signed record naming its kind, its lineage (the segments or
//! artifacts it was made from), its purpose and its legal basis.
//!
//! An artifact's bytes, if it has any, are an ordinary sealed recording
//! (§6, §7) whose recording id is the artifact's id, so they are opened
//! like footage, through the same two-phase approval. The record is what
//! makes them derived data: the vault indexes its lineage so that when a
//! source goes (erased, expired, its consent withdrawn) everything made
//! from it goes too, and the models trained on it are listed as tainted.

use crate::error::{Error, Result};
use crate::identity::{SignKey, VerifyKey};
use crate::ids::{GroupId, RecordingId};
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::wire::{Reader, Writer};

const RECORD: &str = "artifact record";
const CASCADE: &str = "cascade";

/// Longest name (what people see in `obhut lineage`).
pub const MAX_NAME_LEN: usize = 256;
/// Longest purpose.
pub const MAX_PURPOSE_LEN: usize = 256;
/// Longest legal basis.
pub const MAX_LEGAL_BASIS_LEN: usize = 512;
/// Most sources of one artifact.
pub const MAX_SOURCES: usize = 1024;

/// What an artifact is. The byte values are §13's and never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ArtifactKind {
    /// A still image of a moment.
    Thumbnail,
    /// A cut of a time range.
    Clip,
    /// A copy with faces, plates or voices removed.
    Redacted,
    /// Speech as text.
    Transcript,
    /// A label or annotation (a person's or a classifier's).
    Label,
    /// A training set: each source is one member. Made under a consent.
    TrainingSet,
    /// A model trained on training sets (its sources are artifacts only).
    /// When a source goes, a model is not deleted but listed as tainted.
    Model,
}

impl ArtifactKind {
    /// Every kind, in byte order.
    pub const ALL: [ArtifactKind; 7] = [
        ArtifactKind::Thumbnail,
        ArtifactKind::Clip,
        ArtifactKind::Redacted,
        ArtifactKind::Transcript,
        ArtifactKind::Label,
        ArtifactKind::TrainingSet,
        ArtifactKind::Model,
    ];

    /// The byte of §13.
    pub fn to_u8(self) -> u8 {
        match self {
            ArtifactKind::Thumbnail => 1,
            ArtifactKind::Clip => 2,
            ArtifactKind::Redacted => 3,
            ArtifactKind::Transcript => 4,
            ArtifactKind::Label => 5,
            ArtifactKind::TrainingSet => 6,
            ArtifactKind::Model => 7,
        }
    }

    /// The kind of byte `v`, if any.
    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.to_u8() == v)
    }

    /// Kebab-case name, as the API and the CLI spell it.
    pub fn name(self) -> &'static str {
        match self {
            ArtifactKind::Thumbnail => "thumbnail",
            ArtifactKind::Clip => "clip",
            ArtifactKind::Redacted => "redacted",
            ArtifactKind::Transcript => "transcript",
            ArtifactKind::Label => "label",
            ArtifactKind::TrainingSet => "training-set",
            ArtifactKind::Model => "model",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// One entry of an artifact's lineage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Segments `[first, end)` of a recording.
    Segments {
        /// The recording.
        recording_id: RecordingId,
        /// First segment index.
        first: u32,
        /// One past the last segment index (> first).
        end: u32,
    },
    /// Another artifact.
    Artifact {
        /// Its id.
        artifact_id: RecordingId,
    },
}

impl Source {
    /// Whether this source uses any segment of `recording` in `[first, end)`.
    pub fn overlaps(&self, recording: RecordingId, first: u32, end: u32) -> bool {
        match *self {
            Source::Segments {
                recording_id,
                first: f,
                end: e,
            } => recording_id == recording && f < end && first < e,
            Source::Artifact { .. } => false,
        }
    }
}

/// Who sealed and signed an artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignerRole {
    /// An enrolled device (a camera's own thumbnailer, a vault-side tool
    /// enrolled as a device).
    Device,
    /// A person operating a tool (a redaction workstation, an annotator).
    Person,
}

impl SignerRole {
    fn to_u8(self) -> u8 {
        match self {
            SignerRole::Device => 1,
            SignerRole::Person => 2,
        }
    }
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            SignerRole::Device => "device",
            SignerRole::Person => "person",
        }
    }
}

/// What an artifact record states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactContent {
    /// The artifact's id: the recording that holds its sealed bytes, or a
    /// fresh random id for an artifact without bytes (a training set).
    pub artifact_id: RecordingId,
    /// The custody group of its sources (and of its bytes).
    pub group_id: GroupId,
    /// What it is.
    pub kind: ArtifactKind,
    /// A name for people (1 … 256 bytes).
    pub name: String,
    /// Why it was made (1 … 256 bytes).
    pub purpose: String,
    /// The legal basis of making it (1 … 512 bytes).
    pub legal_basis: String,
    /// The recorded consent it was made under (§13.2); required for a
    /// training set.
    pub consent_id: Option<[u8; 16]>,
    /// When it was made (UTC ms).
    pub created_ms: i64,
    /// Its lineage: 1 … 1024 sources.
    pub sources: Vec<Source>,
}

/// A signed [`ArtifactContent`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactRecord {
    /// Who signed.
    pub signer_role: SignerRole,
    /// Their Ed25519 key.
    pub signer_key: VerifyKey,
    /// What is stated.
    pub content: ArtifactContent,
    /// Ed25519 over everything before it, context `obhut/v1/artifact`.
    pub signature: [u8; 64],
}

fn malformed(reason: &'static str) -> Error {
    Error::Malformed {
        what: RECORD,
        reason,
    }
}

fn check_text(field: &'static str, v: &str, max: usize) -> Result<()> {
    if v.len() > max {
        return Err(Error::FieldTooLong {
            what: RECORD,
            field,
            len: v.len(),
            max,
        });
    }
    if v.is_empty() {
        return Err(malformed("name, purpose and legal basis are not empty"));
    }
    Ok(())
}

/// The checks of §13.1 after parsing, in its order.
fn validate(c: &ArtifactContent) -> Result<()> {
    check_text("name", &c.name, MAX_NAME_LEN)?;
    check_text("purpose", &c.purpose, MAX_PURPOSE_LEN)?;
    check_text("legal_basis", &c.legal_basis, MAX_LEGAL_BASIS_LEN)?;
    if c.sources.is_empty() || c.sources.len() > MAX_SOURCES {
        return Err(malformed("an artifact has 1 … 1024 sources"));
    }
    for s in &c.sources {
        match *s {
            Source::Segments { first, end, .. } if first >= end => {
                return Err(malformed("a source's segment range is empty"));
            }
            Source::Segments { recording_id, .. }
            | Source::Artifact {
                artifact_id: recording_id,
            } if recording_id == c.artifact_id => {
                return Err(malformed("an artifact is not its own source"));
            }
            Source::Segments { .. } if c.kind == ArtifactKind::Model => {
                return Err(malformed("a model is built from artifacts, not segments"));
            }
            _ => {}
        }
    }
    if c.kind == ArtifactKind::TrainingSet && c.consent_id.is_none() {
        return Err(malformed(
            "a training set names the consent it is made under",
        ));
    }
    Ok(())
}

fn body(role: SignerRole, key: &VerifyKey, c: &ArtifactContent) -> Result<Vec<u8>> {
    validate(c)?;
    let mut w = Writer::with_preamble(magic::ARTIFACT, VERSION, SUITE_V1);
    w.u8(role.to_u8())
        .bytes(&key.to_bytes())
        .bytes(&c.artifact_id.0)
        .bytes(&c.group_id.0)
        .u8(c.kind.to_u8())
        .string(&c.name)
        .string(&c.purpose)
        .string(&c.legal_basis);
    match &c.consent_id {
        Some(id) => w.u8(1).bytes(id),
        None => w.u8(0),
    };
    w.i64(c.created_ms);
    // At most MAX_SOURCES (validated above).
    w.u16(u16::try_from(c.sources.len()).unwrap_or(u16::MAX));
    for s in &c.sources {
        match s {
            Source::Segments {
                recording_id,
                first,
                end,
            } => w.u8(1).bytes(&recording_id.0).u32(*first).u32(*end),
            Source::Artifact { artifact_id } => w.u8(2).bytes(&artifact_id.0),
        };
    }
    Ok(w.into_vec())
}

impl ArtifactRecord {
    /// Sign `content` as `role` with `key`.
    pub fn sign(content: ArtifactContent, role: SignerRole, key: &SignKey) -> Result<Self> {
        let signer_key = key.verify_key();
        let signature = key.sign(labels::ARTIFACT_SIG, &body(role, &signer_key, &content)?);
        Ok(ArtifactRecord {
            signer_role: role,
            signer_key,
            content,
            signature,
        })
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = body(self.signer_role, &self.signer_key, &self.content)?;
        out.extend_from_slice(&self.signature);
        Ok(out)
    }

    /// Parse, check §13.1's rules and verify the signature under the
    /// embedded key. Whether that key may sign for the group is the
    /// vault's check.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(RECORD, bytes);
        r.preamble(magic::ARTIFACT, VERSION, SUITE_V1)?;
        let signer_role = match r.u8("signer_role")? {
            1 => SignerRole::Device,
            2 => SignerRole::Person,
            _ => return Err(malformed("unknown signer role")),
        };
        let signer_key = VerifyKey::read(&mut r, "signer_key")?;
        let artifact_id = RecordingId(r.array("artifact_id")?);
        let group_id = GroupId(r.array("group_id")?);
        let kind = ArtifactKind::from_u8(r.u8("kind")?).ok_or(malformed("unknown kind"))?;
        let name = r.string("name", MAX_NAME_LEN)?.to_owned();
        let purpose = r.string("purpose", MAX_PURPOSE_LEN)?.to_owned();
        let legal_basis = r.string("legal_basis", MAX_LEGAL_BASIS_LEN)?.to_owned();
        let consent_id = match r.u8("has_consent")? {
            0 => None,
            1 => Some(r.array("consent_id")?),
            _ => return Err(malformed("has_consent is neither 0 nor 1")),
        };
        let created_ms = r.i64("created_ms")?;
        let n = usize::from(r.u16("source_count")?);
        if n == 0 || n > MAX_SOURCES {
            return Err(malformed("an artifact has 1 … 1024 sources"));
        }
        let mut sources = Vec::with_capacity(n);
        for _ in 0..n {
            sources.push(match r.u8("source_tag")? {
                1 => Source::Segments {
                    recording_id: RecordingId(r.array("recording_id")?),
                    first: r.u32("first")?,
                    end: r.u32("end")?,
                },
                2 => Source::Artifact {
                    artifact_id: RecordingId(r.array("source_artifact")?),
                },
                _ => return Err(malformed("unknown source tag")),
            });
        }
        let signature = r.array::<64>("signature")?;
        r.finish()?;
        let content = ArtifactContent {
            artifact_id,
            group_id,
            kind,
            name,
            purpose,
            legal_basis,
            consent_id,
            created_ms,
            sources,
        };
        let signed = body(signer_role, &signer_key, &content)?;
        signer_key.verify(labels::ARTIFACT_SIG, &signed, &signature, RECORD)?;
        Ok(ArtifactRecord {
            signer_role,
            signer_key,
            content,
            signature,
        })
    }
}

/// Why a cascade ran (§13.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CascadeCause {
    /// Segments `[first, end)` of a recording were erased on request.
    SourceErased {
        /// The recording.
        recording_id: RecordingId,
        /// First segment index.
        first: u32,
        /// One past the last.
        end: u32,
    },
    /// Segments `[first, end)` of a recording expired (the sweeper).
    SourceExpired {
        /// The recording.
        recording_id: RecordingId,
        /// First segment index.
        first: u32,
        /// One past the last.
        end: u32,
    },
    /// A consent was withdrawn.
    ConsentWithdrawn {
        /// The consent.
        consent_id: [u8; 16],
    },
}

/// What one cascade did: the body of an `artifacts-cascaded` entry (§12
/// kind 25).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cascade {
    /// Why.
    pub cause: CascadeCause,
    /// Artifacts deleted (their records stay, their bytes go).
    pub deleted: Vec<RecordingId>,
    /// Models listed as tainted (kept, to be retrained or withdrawn).
    pub tainted: Vec<RecordingId>,
}

/// Most ids one `artifacts-cascaded` entry lists (deleted and tainted
/// together), so that an entry stays below its 65,535-byte bound; a
/// larger cascade is logged as consecutive entries with the same cause.
pub const MAX_CASCADE_IDS: usize = 3072;

impl Cascade {
    /// Append the entry fields of §12 kind 25.
    pub fn encode(&self, w: &mut Writer) {
        match self.cause {
            CascadeCause::SourceErased {
                recording_id,
                first,
                end,
            } => w.u8(1).bytes(&recording_id.0).u32(first).u32(end),
            CascadeCause::SourceExpired {
                recording_id,
                first,
                end,
            } => w.u8(2).bytes(&recording_id.0).u32(first).u32(end),
            CascadeCause::ConsentWithdrawn { consent_id } => w.u8(3).bytes(&consent_id),
        };
        for list in [&self.deleted, &self.tainted] {
            // Bounded by MAX_CASCADE_IDS (the vault splits larger ones).
            w.u32(u32::try_from(list.len()).unwrap_or(u32::MAX));
            for id in list {
                w.bytes(&id.0);
            }
        }
    }

    /// Read the entry fields of §12 kind 25.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        let bad = |reason| Error::Malformed {
            what: CASCADE,
            reason,
        };
        let cause = match r.u8("cause")? {
            c @ (1 | 2) => {
                let recording_id = RecordingId(r.array("recording_id")?);
                let first = r.u32("first")?;
                let end = r.u32("end")?;
                if first >= end {
                    return Err(bad("the cause's segment range is empty"));
                }
                if c == 1 {
                    CascadeCause::SourceErased {
                        recording_id,
                        first,
                        end,
                    }
                } else {
                    CascadeCause::SourceExpired {
                        recording_id,
                        first,
                        end,
                    }
                }
            }
            3 => CascadeCause::ConsentWithdrawn {
                consent_id: r.array("consent_id")?,
            },
            _ => return Err(bad("unknown cause")),
        };
        let mut lists = [Vec::new(), Vec::new()];
        let mut total = 0usize;
        for (list, field) in lists.iter_mut().zip(["deleted", "tainted"]) {
            let n = r.u32(field)? as usize;
            total = total.saturating_add(n);
            if total > MAX_CASCADE_IDS {
                return Err(Error::FieldTooLong {
                    what: CASCADE,
                    field,
                    len: total,
                    max: MAX_CASCADE_IDS,
                });
            }
            for _ in 0..n {
                list.push(RecordingId(r.array(field)?));
            }
        }
        let [deleted, tainted] = lists;
        Ok(Cascade {
            cause,
            deleted,
            tainted,
        })
    }
}
