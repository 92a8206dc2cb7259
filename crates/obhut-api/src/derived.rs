//! Derived artifacts, their lineage and consent (docs/vault.md §10,
//! docs/format.md §13).

use serde::{Deserialize, Serialize};

/// `POST /v1/artifacts`: register a derived artifact.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegisterArtifact {
    /// The signed `ArtifactRecord` (base64), signed by the caller.
    pub record: String,
}

/// One entry of an artifact's lineage.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SourceJson {
    /// `segments` or `artifact`.
    pub source: String,
    /// The recording (segments) or the artifact (hex).
    pub id: String,
    /// Segments: the first index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<u32>,
    /// Segments: one past the last index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<u32>,
}

/// An artifact as the vault holds it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArtifactJson {
    /// Its id (hex; the recording holding its sealed bytes).
    pub artifact_id: String,
    /// Its custody group (hex).
    pub group_id: String,
    /// `thumbnail`, `clip`, `redacted`, `transcript`, `label`,
    /// `training-set` or `model`.
    pub kind: String,
    /// Its name for people.
    pub name: String,
    /// Why it was made.
    pub purpose: String,
    /// Its legal basis.
    pub legal_basis: String,
    /// The consent it was made under (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<String>,
    /// `device` or `person`.
    pub signer_role: String,
    /// The signer's key (hex).
    pub signer_key: String,
    /// When it was made (UTC ms, the signer's word).
    pub created_ms: i64,
    /// When the vault registered it (UTC ms).
    pub registered_ms: i64,
    /// `live`, `deleted` (went with a source) or `tainted` (a model one of
    /// whose sources went).
    pub state: String,
    /// When it was deleted or tainted (UTC ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_ms: Option<i64>,
    /// Its lineage.
    pub sources: Vec<SourceJson>,
    /// The signed record (base64).
    pub record: String,
}

/// One node of a lineage graph.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LineageNode {
    /// The recording or artifact id (hex).
    pub id: String,
    /// `recording` (footage) or the artifact's kind.
    pub kind: String,
    /// For people: an artifact's name; a recording's device key (short).
    pub name: String,
    /// `live`, `deleted`, `tainted`, `expired` or `unknown`.
    pub state: String,
    /// When it was made: an artifact's `created_ms`, a recording's first
    /// capture (UTC ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<i64>,
    /// An artifact's purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// A held recording's device key (hex), for a client to show its
    /// verified display name (docs/format.md §3.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// One edge: `to` was made from `from`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LineageEdge {
    /// The source (hex).
    pub from: String,
    /// The derived artifact (hex).
    pub to: String,
    /// For a recording source, its segments `[first, end)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<[u32; 2]>,
}

/// `GET /v1/lineage/{id}`: everything an id was made from and everything
/// made from it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LineageResponse {
    /// The id asked about (hex).
    pub root: String,
    /// Every node, the root first.
    pub nodes: Vec<LineageNode>,
    /// Every edge.
    pub edges: Vec<LineageEdge>,
    /// Whether the graph was cut at the vault's node limit.
    pub truncated: bool,
}

/// `POST /v1/consents`: record a consent with k custodians' grants.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordConsent {
    /// The signed `ConsentStatement`s with action grant (base64).
    pub statements: Vec<String>,
}

/// `POST /v1/consents/{id}/withdrawal`: one custodian withdraws.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WithdrawConsent {
    /// The signed `ConsentStatement` with action withdraw (base64).
    pub statement: String,
}

/// A recorded consent.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConsentJson {
    /// Its id (hex).
    pub consent_id: String,
    /// The custody group (hex).
    pub group_id: String,
    /// `training`, `product-improvement`.
    pub purposes: Vec<String>,
    /// Valid from (UTC ms).
    pub not_before: i64,
    /// Void at and after (UTC ms).
    pub not_after: i64,
    /// When the vault recorded it.
    pub recorded_ms: i64,
    /// When it was withdrawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn_ms: Option<i64>,
}

/// What a cascade did (the answer to a withdrawal).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CascadeJson {
    /// Artifacts deleted (hex).
    pub deleted: Vec<String>,
    /// Models listed as tainted (hex).
    pub tainted: Vec<String>,
    /// `artifacts-cascaded` entries logged.
    pub entries: u32,
}

/// The answer to a withdrawal: the consent and its cascade.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WithdrawnResponse {
    /// The consent, now withdrawn.
    pub consent: ConsentJson,
    /// What went with it.
    pub cascade: CascadeJson,
}
