//! The one registry of domain-separation labels and structure magics
//! (docs/format.md §1.3). Every hash, KDF, proof transcript, HPKE `info` and
//! signature in format version 1 uses exactly one label from this file, and
//! no label is used for two purposes. Adding a label means adding it here
//! and to the table in the spec.

/// Format version carried in every structure's preamble.
pub const VERSION: u8 = 1;
/// The only suite of version 1: AES-256-GCM STREAM, BLAKE3, HKDF-SHA256,
/// ristretto255, Ed25519, HPKE X-Wing/HKDF-SHA256/AES-256-GCM. There is no
/// negotiation: a reader rejects any other value.
pub const SUITE_V1: u16 = 0x0001;

/// Structure magics (first four bytes of every encoding).
pub mod magic {
    /// Segment header, at the start of every sealed segment blob.
    pub const SEGMENT_HEADER: &[u8; 4] = b"OBSH";
    /// Device-signed segment record.
    pub const SEGMENT_RECORD: &[u8; 4] = b"OBSR";
    /// Custody-group descriptor.
    pub const GROUP_DESCRIPTOR: &[u8; 4] = b"OBGD";
    /// A custodian's share, HPKE-encrypted to the custodian.
    pub const SHARE_ENVELOPE: &[u8; 4] = b"OBSE";
    /// Plaintext of a share envelope.
    pub const SHARE: &[u8; 4] = b"OBSS";
    /// A person's public identity.
    pub const PUBLIC_IDENTITY: &[u8; 4] = b"OBID";
    /// A device's public key.
    pub const DEVICE_PUBLIC: &[u8; 4] = b"OBDP";
    /// A passphrase-locked secret key file.
    pub const LOCKED_KEY: &[u8; 4] = b"OBLK";
    /// Plaintext inside a locked key file: person identity secret.
    pub const PERSON_SECRET: &[u8; 4] = b"OBPS";
    /// Plaintext inside a locked key file: device signing key.
    pub const DEVICE_SECRET: &[u8; 4] = b"OBDS";
    /// Plaintext inside a locked key file: retention-epoch secret key.
    pub const EPOCH_SECRET: &[u8; 4] = b"OBES";
    /// A retention epoch's public key.
    pub const EPOCH_PUBLIC: &[u8; 4] = b"OBEP";
    /// A requester-signed access request.
    pub const ACCESS_REQUEST: &[u8; 4] = b"OBAR";
    /// A custodian's partial decryption (plaintext, inside the envelope).
    pub const PARTIAL: &[u8; 4] = b"OBPD";
    /// A partial decryption HPKE-encrypted to the requester.
    pub const PARTIAL_ENVELOPE: &[u8; 4] = b"OBPE";
    /// The vault's release of epoch parts to a requester.
    pub const EPOCH_RELEASE: &[u8; 4] = b"OBER";
    /// An old custodian's resharing deal (docs/format.md §4.3).
    pub const RESHARE_DEAL: &[u8; 4] = b"OBRD";
    /// Plaintext of a resharing sub-share, inside a deal's HPKE ciphertext.
    pub const RESHARE_SUBSHARE: &[u8; 4] = b"OBRS";
    /// The vault's signed ingest receipt (docs/vault.md §4).
    pub const INGEST_RECEIPT: &[u8; 4] = b"OBIR";
    /// An audit-log entry (docs/format.md §12).
    pub const LOG_ENTRY: &[u8; 4] = b"OBLE";
    /// A person's signed decision on an access request (§8.6).
    pub const DECISION: &[u8; 4] = b"OBDC";
    /// The custodians' pin of the audit log and its witnesses (§4.4).
    pub const LOG_PIN: &[u8; 4] = b"OBLP";
    /// A segment's epoch part re-wrapped to another epoch key, beside the
    /// signed header (docs/format.md §5.5).
    pub const EPOCH_REWRAP: &[u8; 4] = b"OBRW";
    /// A custodian's wrap key of a custody run handed over to a successor
    /// after a reshare (docs/format.md §5.6).
    pub const RUN_HANDOVER: &[u8; 4] = b"OBRH";
    /// A recording's metadata patch: the descriptive-metadata bytes the
    /// cutter blanked out of its media and index segments (§7.4).
    pub const METADATA_PATCH: &[u8; 4] = b"OBMP";
    /// The vault's signed receipt for a destroyed retention epoch
    /// (§12.1).
    pub const DELETION_RECEIPT: &[u8; 4] = b"OBDL";
    /// A custodian's approval of a device's new retention class (§12.2).
    pub const RECLASSIFY_APPROVAL: &[u8; 4] = b"OBRA";
    /// A derived artifact's signed record: kind, lineage, purpose, legal
    /// basis (§13.1).
    pub const ARTIFACT: &[u8; 4] = b"OBAF";
    /// A custodian's signed consent to human review, or its withdrawal
    /// (§13.2).
    pub const CONSENT: &[u8; 4] = b"OBCN";
    /// A custodian's approval of placing or releasing a legal hold (§12.3).
    pub const HOLD_APPROVAL: &[u8; 4] = b"OBHA";
    /// A custodian's approval of erasing footage early (§12.4).
    pub const ERASURE_APPROVAL: &[u8; 4] = b"OBEA";
    /// A requester's signed disclosure of an export bundle (docs/bundle.md
    /// §5): what was handed over, to whom, by digest of its manifest.
    pub const DISCLOSURE: &[u8; 4] = b"OBXM";
    /// A signed display name of a person or device (§3.5).
    pub const NAME_CLAIM: &[u8; 4] = b"OBDN";

    /// Every magic, for the uniqueness test and the spec's registry (§1.3).
    pub const ALL: &[&[u8; 4]] = &[
        SEGMENT_HEADER,
        SEGMENT_RECORD,
        GROUP_DESCRIPTOR,
        SHARE_ENVELOPE,
        SHARE,
        PUBLIC_IDENTITY,
        DEVICE_PUBLIC,
        LOCKED_KEY,
        PERSON_SECRET,
        DEVICE_SECRET,
        EPOCH_SECRET,
        EPOCH_PUBLIC,
        ACCESS_REQUEST,
        PARTIAL,
        PARTIAL_ENVELOPE,
        EPOCH_RELEASE,
        RESHARE_DEAL,
        RESHARE_SUBSHARE,
        INGEST_RECEIPT,
        LOG_ENTRY,
        EPOCH_REWRAP,
        DECISION,
        LOG_PIN,
        RUN_HANDOVER,
        METADATA_PATCH,
        DELETION_RECEIPT,
        RECLASSIFY_APPROVAL,
        ARTIFACT,
        CONSENT,
        HOLD_APPROVAL,
        ERASURE_APPROVAL,
        DISCLOSURE,
        NAME_CLAIM,
    ];

    /// What the file starting with `bytes` holds, for a person who passed
    /// the wrong file ("a group descriptor"): only the structures people
    /// hand around as files; `None` for anything else.
    pub fn describe(bytes: &[u8]) -> Option<&'static str> {
        let magic: &[u8; 4] = bytes.get(..4)?.try_into().ok()?;
        Some(match magic {
            SEGMENT_HEADER => "a sealed segment (blob)",
            SEGMENT_RECORD => "a segment record",
            GROUP_DESCRIPTOR => "a group descriptor",
            SHARE_ENVELOPE => "a share envelope",
            PUBLIC_IDENTITY => "a person's public identity",
            DEVICE_PUBLIC => "a device public key",
            LOCKED_KEY => "a locked secret key",
            EPOCH_PUBLIC => "a retention-epoch public key",
            ACCESS_REQUEST => "an access request",
            PARTIAL_ENVELOPE => "a partial-decryption envelope",
            EPOCH_RELEASE => "an epoch release",
            RUN_HANDOVER => "a custody-run handover",
            ARTIFACT => "an artifact record",
            CONSENT => "a consent statement",
            RECLASSIFY_APPROVAL => "a reclassification approval",
            HOLD_APPROVAL => "a legal-hold approval",
            ERASURE_APPROVAL => "an erasure approval",
            NAME_CLAIM => "a display-name claim",
            _ => return None,
        })
    }
}

/// HKDF info for the custody part `a` of a segment key.
pub const KEM: &[u8] = b"obhut/v1/kem";
/// Hash-to-group input for the second generator Ḡ of the TDH2 proof.
pub const KEM_GENERATOR_BAR: &[u8] = b"obhut/v1/kem/generator-bar";
/// Challenge hash of the TDH2 validity proof (R and Ū share r).
pub const KEM_VALIDITY_PROOF: &[u8] = b"obhut/v1/kem/validity-proof";
/// HKDF salt deriving the segment key K from a ‖ b ‖ c.
pub const SEGMENT_KEY: &[u8] = b"obhut/v1/segment-key";
/// HKDF-Expand info for the payload AEAD key, from K.
pub const PAYLOAD_KEY: &[u8] = b"obhut/v1/payload-key";
/// HKDF-Expand info for the key commitment, from K.
pub const KEY_COMMITMENT: &[u8] = b"obhut/v1/key-commitment";
/// Digest of a segment header (SHA-256 of label ‖ header body).
pub const HEADER_HASH: &[u8] = b"obhut/v1/header-hash";
/// BLAKE3 derive_key context for the ciphertext hash of a segment blob.
pub const CIPHERTEXT_HASH: &str = "obhut/v1/ciphertext-hash";
/// Signature context of a device's segment record.
pub const SEGMENT_RECORD_SIG: &[u8] = b"obhut/v1/segment-record";
/// Digest of a whole signed segment record (the chain's `prev` link).
pub const RECORD_HASH: &[u8] = b"obhut/v1/record-hash";
/// Signature context of a custody-group descriptor.
pub const GROUP_DESCRIPTOR_SIG: &[u8] = b"obhut/v1/group-descriptor";
/// HPKE info of a share envelope.
pub const SHARE_ENVELOPE_INFO: &[u8] = b"obhut/v1/share-envelope";
/// HPKE info of the epoch wrap of `b`.
pub const EPOCH_WRAP_INFO: &[u8] = b"obhut/v1/epoch-wrap";
/// HPKE info of the vault's release of `b` to a requester.
pub const EPOCH_RELEASE_INFO: &[u8] = b"obhut/v1/epoch-release";
/// Signature context of an access request.
pub const ACCESS_REQUEST_SIG: &[u8] = b"obhut/v1/access-request";
/// Digest of a signed access request (the grant's hash).
pub const REQUEST_HASH: &[u8] = b"obhut/v1/request-hash";
/// Challenge hash of a custodian's batched Chaum–Pedersen proof.
pub const PARTIAL_PROOF: &[u8] = b"obhut/v1/partial-proof";
/// Seed of the per-segment weights of the batched proof (RFC 9497 §2.2.1 style).
pub const PARTIAL_PROOF_WEIGHTS: &[u8] = b"obhut/v1/partial-proof/weights";
/// Signature context of a custodian's partial decryption.
pub const PARTIAL_SIG: &[u8] = b"obhut/v1/partial";
/// HPKE info of a partial decryption sent to the requester.
pub const PARTIAL_ENVELOPE_INFO: &[u8] = b"obhut/v1/partial-envelope";
/// Fingerprint of a public identity or key.
pub const FINGERPRINT: &[u8] = b"obhut/v1/fingerprint";
/// AEAD associated-data prefix of a locked key file.
pub const LOCKED_KEY: &[u8] = b"obhut/v1/locked-key";
/// Domain of the deterministic X-Wing key derivation from a seed.
pub const XWING_SEED: &[u8] = b"obhut/v1/xwing-seed";
/// Signature context of an old custodian's resharing deal (§4.3).
pub const RESHARE_DEAL_SIG: &[u8] = b"obhut/v1/reshare-deal";
/// HPKE info of a resharing sub-share sent to a new custodian (§4.3).
pub const RESHARE_SUBSHARE_INFO: &[u8] = b"obhut/v1/reshare-subshare";
/// Signature context of a device's authenticated HTTP request, bound to
/// one vault (docs/vault.md §2). Replaces `obhut/v1/device-request`
/// ([`RETIRED`]), whose message named no vault.
pub const DEVICE_REQUEST_SIG: &[u8] = b"obhut/v1/device-request-v2";
/// Signature context of the vault's ingest receipt (docs/vault.md §4).
pub const INGEST_RECEIPT_SIG: &[u8] = b"obhut/v1/ingest-receipt";
/// Signature context of a person's authenticated HTTP request, bound to
/// one vault (docs/vault.md §2, §5). Replaces `obhut/v1/person-request`
/// ([`RETIRED`]).
pub const PERSON_REQUEST_SIG: &[u8] = b"obhut/v1/person-request-v2";
/// Labels no longer used, never to be reused for anything else: a
/// signature made under one of them must not verify under a new meaning
/// (docs/format.md §1.3).
pub const RETIRED: &[&[u8]] = &[b"obhut/v1/device-request", b"obhut/v1/person-request"];
/// `Digest` of a segment upload's declared framing (recording, index,
/// Content-Length): the `body_digest` a device signs for
/// `PUT /v1/recordings/{rid}/segments/{index}` (docs/vault.md §2).
pub const SEGMENT_UPLOAD: &[u8] = b"obhut/v1/segment-upload";
/// Signature context of a person's decision on an access request: a
/// custodian's approval or denial, a requester's opened report (§8.6).
pub const DECISION_SIG: &[u8] = b"obhut/v1/decision";
/// Signature context of a custodian's signature on a log pin (§4.4).
pub const LOG_PIN_SIG: &[u8] = b"obhut/v1/log-pin";

/// Signature context of the vault's deletion receipt (§12.1).
pub const DELETION_RECEIPT_SIG: &[u8] = b"obhut/v1/deletion-receipt";
/// Signature context of a custodian's reclassification approval (§12.2).
pub const RECLASSIFY_APPROVAL_SIG: &[u8] = b"obhut/v1/reclassify-approval";
/// Signature context of a derived artifact's record (§13.1).
pub const ARTIFACT_SIG: &[u8] = b"obhut/v1/artifact";
/// Signature context of a custodian's consent statement (§13.2).
pub const CONSENT_SIG: &[u8] = b"obhut/v1/consent";
/// Signature context of a custodian's legal-hold approval (§12.3).
pub const HOLD_APPROVAL_SIG: &[u8] = b"obhut/v1/hold-approval";
/// `Digest` of a legal hold's terms: its id (§12.3).
pub const HOLD_ID: &[u8] = b"obhut/v1/hold-id";
/// Signature context of a custodian's erasure approval (§12.4).
pub const ERASURE_APPROVAL_SIG: &[u8] = b"obhut/v1/erasure-approval";
/// Signature label of a requester's disclosure of an export (docs/bundle.md §5).
pub const DISCLOSURE_SIG: &[u8] = b"obhut/v1/disclosure";
/// Signature label of a display-name claim (§3.5).
pub const NAME_CLAIM_SIG: &[u8] = b"obhut/v1/name-claim";

/// HPKE info prefix of a re-wrap of `b` to another epoch key (§5.5).
pub const EPOCH_REWRAP_INFO: &[u8] = b"obhut/v1/epoch-rewrap";

/// Digest of a custody run: the X-Wing-sealed wrap keys of the
/// post-quantum part `c` (§5.6).
pub const PQ_RUN: &[u8] = b"obhut/v1/pq-run";
/// HPKE info of a custody run's wrap key sealed to a custodian (§5.6).
pub const PQ_WRAP_INFO: &[u8] = b"obhut/v1/pq-wrap";
/// HPKE info of a custody run's wrap key handed over to a successor (§5.6).
pub const PQ_HANDOVER_INFO: &[u8] = b"obhut/v1/pq-handover";
/// HKDF salt of the pad of a share of `c` (§5.6).
pub const PQ_SHARE: &[u8] = b"obhut/v1/pq-share";
/// Digest of a share of `c`, so a requester can name a wrong one (§5.6).
pub const PQ_SHARE_HASH: &[u8] = b"obhut/v1/pq-share-hash";

/// Every label, for the uniqueness test and the spec's table.
pub const ALL: &[&[u8]] = &[
    KEM,
    KEM_GENERATOR_BAR,
    KEM_VALIDITY_PROOF,
    SEGMENT_KEY,
    PAYLOAD_KEY,
    KEY_COMMITMENT,
    HEADER_HASH,
    CIPHERTEXT_HASH.as_bytes(),
    SEGMENT_RECORD_SIG,
    RECORD_HASH,
    GROUP_DESCRIPTOR_SIG,
    SHARE_ENVELOPE_INFO,
    EPOCH_WRAP_INFO,
    EPOCH_RELEASE_INFO,
    ACCESS_REQUEST_SIG,
    REQUEST_HASH,
    PARTIAL_PROOF,
    PARTIAL_PROOF_WEIGHTS,
    PARTIAL_SIG,
    PARTIAL_ENVELOPE_INFO,
    FINGERPRINT,
    LOCKED_KEY,
    XWING_SEED,
    RESHARE_DEAL_SIG,
    RESHARE_SUBSHARE_INFO,
    DEVICE_REQUEST_SIG,
    INGEST_RECEIPT_SIG,
    PERSON_REQUEST_SIG,
    SEGMENT_UPLOAD,
    DECISION_SIG,
    LOG_PIN_SIG,
    EPOCH_REWRAP_INFO,
    PQ_RUN,
    PQ_WRAP_INFO,
    PQ_HANDOVER_INFO,
    PQ_SHARE,
    PQ_SHARE_HASH,
    DELETION_RECEIPT_SIG,
    RECLASSIFY_APPROVAL_SIG,
    ARTIFACT_SIG,
    CONSENT_SIG,
    HOLD_APPROVAL_SIG,
    HOLD_ID,
    ERASURE_APPROVAL_SIG,
    DISCLOSURE_SIG,
    NAME_CLAIM_SIG,
];

/// The message an Ed25519 signature covers: `label ‖ 0x00 ‖ body`. The zero
/// byte cannot occur inside a label, so no two (label, body) pairs collide.
pub fn signed_message(label: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(label.len() + 1 + body.len());
    m.extend_from_slice(label);
    m.push(0);
    m.extend_from_slice(body);
    m
}

/// SHA-256 of `label ‖ 0x00 ‖ parts…`, the digest of a structure.
pub fn digest(label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(label);
    h.update([0u8]);
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_versioned() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(
                a.starts_with(b"obhut/v1/"),
                "{}",
                String::from_utf8_lossy(a)
            );
            assert!(!a.contains(&0));
            for b in &ALL[i + 1..] {
                assert_ne!(a, b);
            }
            assert!(!RETIRED.contains(a), "{}", String::from_utf8_lossy(a));
        }
    }

    #[test]
    fn files_are_described_by_their_magic() {
        assert_eq!(magic::describe(b"OBGD\x01rest"), Some("a group descriptor"));
        assert_eq!(
            magic::describe(magic::EPOCH_RELEASE),
            Some("an epoch release")
        );
        // Plaintexts inside envelopes are never files a person holds.
        assert_eq!(magic::describe(magic::SHARE), None);
        assert_eq!(magic::describe(b"OBG"), None);
        assert_eq!(magic::describe(b"\x00\x00\x00\x18ftypisom"), None);
    }

    #[test]
    fn magics_are_unique() {
        let all = magic::ALL;
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
