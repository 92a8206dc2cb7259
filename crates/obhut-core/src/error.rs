//! Typed errors. Every variant names the structure, field, segment or
//! custodian at fault, so a caller (and the person reading the CLI's
//! message) can tell what is wrong without a debugger.

use crate::ids::SegmentRef;

/// Result alias for this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a field could be read.
    #[error("{what}: input ends early while reading {field}")]
    Truncated {
        /// Structure being parsed.
        what: &'static str,
        /// Field that was cut off.
        field: &'static str,
    },
    /// Bytes follow a complete structure.
    #[error("{what}: {count} unexpected bytes after the end")]
    TrailingBytes {
        /// Structure being parsed.
        what: &'static str,
        /// Number of extra bytes.
        count: usize,
    },
    /// The first four bytes are not this structure's magic.
    #[error("{what}: wrong magic bytes; this is not an Obhut {what}")]
    BadMagic {
        /// Structure expected.
        what: &'static str,
    },
    /// A version this build does not read.
    #[error("{what}: format version {found} is not supported (this build reads version 1)")]
    UnsupportedVersion {
        /// Structure being parsed.
        what: &'static str,
        /// Version found.
        found: u8,
    },
    /// A suite this build does not read. There is no negotiation.
    #[error("{what}: cipher suite 0x{found:04x} is not supported (this build reads suite 0x0001)")]
    UnsupportedSuite {
        /// Structure being parsed.
        what: &'static str,
        /// Suite found.
        found: u16,
    },
    /// A length prefix exceeds the field's bound.
    #[error("{what}: field {field} claims {len} bytes, more than the {max} allowed")]
    FieldTooLong {
        /// Structure being parsed.
        what: &'static str,
        /// Field at fault.
        field: &'static str,
        /// Length claimed.
        len: usize,
        /// Bound.
        max: usize,
    },
    /// Any other structural problem.
    #[error("{what}: {reason}")]
    Malformed {
        /// Structure being parsed.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A ristretto255 point that is non-canonical or the identity.
    #[error(
        "{what}: {field} is not a valid ristretto255 point (non-canonical encoding or the identity)"
    )]
    InvalidPoint {
        /// Structure being parsed.
        what: &'static str,
        /// Field at fault.
        field: &'static str,
    },
    /// A scalar that is not reduced modulo the group order (or is zero where
    /// zero is forbidden).
    #[error("{what}: {field} is not a canonical non-zero scalar")]
    InvalidScalar {
        /// Structure being parsed.
        what: &'static str,
        /// Field at fault.
        field: &'static str,
    },
    /// An Ed25519 public key that is malformed or of small order.
    #[error("{what}: {field} is not a valid Ed25519 public key (malformed or weak)")]
    InvalidSigningKey {
        /// Structure being parsed.
        what: &'static str,
        /// Field at fault.
        field: &'static str,
    },
    /// An X-Wing public key or ciphertext that does not decode.
    #[error("{what}: {field} is not a valid X-Wing key or ciphertext")]
    InvalidKemKey {
        /// Structure being parsed.
        what: &'static str,
        /// Field at fault.
        field: &'static str,
    },
    /// A signature that does not verify under the stated key.
    #[error("{what}: signature does not verify")]
    BadSignature {
        /// Structure whose signature failed.
        what: &'static str,
    },
    /// HPKE decryption failed: wrong recipient key, or altered ciphertext.
    #[error("{what}: cannot decrypt: not encrypted to this key, or altered in transit or storage")]
    DecryptionFailed {
        /// Structure being decrypted.
        what: &'static str,
    },
    /// A passphrase-locked key file did not open.
    #[error("wrong passphrase, or the key file is corrupted")]
    WrongPassphrase,
    /// Key-derivation parameters in a locked key file are out of bounds.
    #[error("key file: passphrase KDF parameters out of bounds ({reason})")]
    WeakKdfParameters {
        /// Which bound was violated.
        reason: &'static str,
    },
    /// A problem with one segment; names the segment.
    #[error("{segment}: {failure}")]
    Segment {
        /// The segment at fault.
        segment: SegmentRef,
        /// What failed.
        failure: SegmentFailure,
    },
    /// A problem with a recording's chain of segment records.
    #[error("recording chain: {0}")]
    Chain(ChainFailure),
    /// Too few valid partials to reach the threshold. Every partial that
    /// was not used is listed, naming its custodian and the check it failed
    /// (docs/format.md §8.4).
    #[error(
        "need partials from {needed} distinct custodians, have {have}{}",
        list_rejected(.rejected)
    )]
    NotEnoughPartials {
        /// The group threshold k.
        needed: u16,
        /// Valid partials from distinct custodians.
        have: u16,
        /// Every partial that failed a check, in the order given.
        rejected: Vec<RejectedPartial>,
    },
    /// A custodian refuses to compute a partial (request-side problem).
    #[error("refusing to compute a partial: {0}")]
    Refused(RefusalReason),
    /// Custody-group or ceremony parameters are invalid.
    #[error("custody group: {0}")]
    Custody(&'static str),
    /// A custodian's signature on a group descriptor does not verify.
    #[error("custody group descriptor: the signature of custodian {custodian} does not verify")]
    DescriptorSignature {
        /// Index (1..=n) of the custodian whose signature failed.
        custodian: u16,
    },
    /// A group descriptor carries too few custodian signatures to be pinned.
    #[error(
        "custody group descriptor: signed by {have} distinct custodians, pinning needs {needed}"
    )]
    NotEnoughSignatures {
        /// Signatures required (the threshold k).
        needed: u16,
        /// Valid signatures present.
        have: u16,
    },
    /// A resharing deal was refused (§4.3); names the dealing old custodian.
    #[error("reshare deal from old custodian {dealer}: {failure}")]
    Reshare {
        /// Index (1..=n, in the old group) of the dealer at fault.
        dealer: u16,
        /// What failed.
        failure: ReshareFailure,
    },
    /// A re-wrap of a segment's epoch part (§5.5) does not belong to the
    /// segment, header or epoch key it is used with.
    #[error("epoch re-wrap: {0}")]
    Rewrap(RewrapFailure),
    /// A metadata patch (§7.4) whose entries do not fit the file they
    /// patch.
    #[error("metadata patch: {0}")]
    Patch(PatchFailure),
    /// Reading or writing a stream supplied by the caller failed.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// What was wrong with a segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentFailure {
    /// The header's key commitment does not match the derived key: the keys
    /// are wrong, or the header was altered.
    #[error("key commitment mismatch (wrong keys, or the header was altered)")]
    KeyCommitment,
    /// A chunk failed authentication: altered, reordered, spliced, or from
    /// another segment.
    #[error("chunk {chunk} failed authentication (altered, reordered or spliced)")]
    ChunkAuthentication {
        /// Zero-based chunk index.
        chunk: u64,
    },
    /// The stream ended without a final chunk.
    #[error("truncated: the stream ends after chunk {chunks_read} without a final chunk")]
    Truncated {
        /// Number of whole chunks read.
        chunks_read: u64,
    },
    /// Bytes follow the final chunk.
    #[error("unexpected data after the final chunk")]
    TrailingData,
    /// The ciphertext hash differs from the signed record's.
    #[error("ciphertext hash does not match the signed record")]
    HashMismatch,
    /// A length differs from the signed record's.
    #[error("{field} is {found}, the signed record says {expected}")]
    LengthMismatch {
        /// Which length.
        field: &'static str,
        /// Length in the record.
        expected: u64,
        /// Length found.
        found: u64,
    },
    /// The blob's header differs from the header in the signed record.
    #[error("segment header does not match the signed record")]
    HeaderMismatch,
    /// The device signature over the record does not verify.
    #[error("device signature does not verify")]
    BadSignature,
    /// The TDH2 validity proof on R, Ū does not verify.
    #[error("KEM validity proof on R does not verify")]
    BadKemProof,
    /// The segment belongs to another recording, device or position.
    #[error("belongs elsewhere: {0}")]
    Misplaced(&'static str),
    /// A requested byte range lies outside the segment.
    #[error("range {start}..{end} is outside the segment's {len} bytes")]
    RangeOutOfBounds {
        /// Requested start.
        start: u64,
        /// Requested end (exclusive).
        end: u64,
        /// Plaintext length.
        len: u64,
    },
    /// No key material was supplied for this segment.
    #[error("no key for this segment in the grant")]
    NoKey,
    /// Too few valid shares of the segment's post-quantum part `c` (§5.6).
    #[error("{have} valid shares of its post-quantum part c, {needed} needed")]
    TooFewShares {
        /// The record's threshold.
        needed: u16,
        /// Valid shares from distinct positions.
        have: u16,
    },
}

/// Why a re-wrap of `b` (§5.5) was refused before any decryption, in the
/// order a reader checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RewrapFailure {
    /// It names another recording, device or segment index than the
    /// header it is used with.
    #[error("made for {rewrap}, not for {header}")]
    WrongSegment {
        /// The segment the re-wrap names.
        rewrap: SegmentRef,
        /// The segment of the header it was used with.
        header: SegmentRef,
    },
    /// It names another header hash: made for a header other than the
    /// signed one (a replaced or altered header).
    #[error("made for another header of this segment (header hash differs)")]
    HeaderMismatch,
    /// It is wrapped to another epoch than the key given.
    #[error("wrapped to another epoch key than the one given")]
    WrongEpoch,
}

/// Why a metadata patch (§7.4) was refused, in the order a reader checks
/// (after its parse errors, entry by entry).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchFailure {
    /// An entry reaches past the end of the file the patch states.
    #[error("entry {entry} ({offset}+{len}) reaches past the file's {file_len} bytes")]
    OutOfBounds {
        /// Zero-based entry index.
        entry: u32,
        /// Its offset.
        offset: u64,
        /// Its length.
        len: u64,
        /// The file length the patch states.
        file_len: u64,
    },
    /// An entry starts before the previous one ends (overlapping or out
    /// of order).
    #[error("entry {entry} starts at {offset}, before the previous entry ends at {previous_end}")]
    Overlap {
        /// Zero-based entry index.
        entry: u32,
        /// Its offset.
        offset: u64,
        /// Where the previous entry ends.
        previous_end: u64,
    },
    /// The patch is for a file of another length than the one it is
    /// applied to.
    #[error("made for a file of {expected} bytes, applied to one of {found}")]
    LengthMismatch {
        /// The length the patch states.
        expected: u64,
        /// The length of the file it was applied to.
        found: u64,
    },
}

/// What was wrong with a chain of segment records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainFailure {
    /// No records at all.
    #[error("no segment records")]
    Empty,
    /// Records of more than one recording or device were mixed.
    #[error("{0} does not belong to the same recording and device as segment 0")]
    Foreign(SegmentRef),
    /// An index is missing.
    #[error("segment {missing} is missing")]
    Missing {
        /// First missing index.
        missing: u32,
    },
    /// Two records claim the same index.
    #[error("two records claim segment {0}")]
    Duplicate(u32),
    /// Records are not in segment-index order (the index is present, but
    /// at another position).
    #[error("the record at position {position} is segment {found}; records must be in index order")]
    OutOfOrder {
        /// Zero-based position in the list of records.
        position: u32,
        /// Segment index found there.
        found: u32,
    },
    /// A record's `prev` hash does not match its predecessor.
    #[error("segment {0}: previous-record hash does not match segment {prev}", prev = .0.saturating_sub(1))]
    BrokenLink(u32),
    /// The last record is not marked final, or a middle one is.
    #[error("segment {0}: final flag is wrong (only the last segment is final)")]
    FinalFlag(u32),
    /// The recording is not complete: no record is marked final.
    #[error("incomplete: no segment is marked final (last seen: {last})")]
    NotFinal {
        /// Highest index seen.
        last: u32,
    },
}

fn list_rejected(rejected: &[RejectedPartial]) -> String {
    rejected.iter().map(|r| format!("; {r}")).collect()
}

/// A partial the requester's combine did not use (docs/format.md §8.4):
/// who it claims to be from and which check it failed. A combine that
/// still reached k valid partials returns these beside the keys so that a
/// person sees them; one that did not returns them inside
/// [`Error::NotEnoughPartials`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedPartial {
    /// Index (1..=n) the envelope names.
    pub custodian: u16,
    /// Fingerprint of the custodian listed at that index in the group
    /// descriptor (`None` when no custodian is listed there).
    pub fingerprint: Option<crate::ids::Fingerprint>,
    /// Whether the custodian's signature on the partial verified. Only a
    /// signed partial is the custodian's own doing; an unsigned failure
    /// may come from whoever delivered the envelope (the vault, the
    /// network), since the envelope's custodian field is not authenticated.
    pub signed: bool,
    /// The first check it failed.
    pub failure: PartialFailure,
}

impl core::fmt::Display for RejectedPartial {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "the partial from custodian {}", self.custodian)?;
        if let Some(fpr) = &self.fingerprint {
            write!(f, " (fingerprint {fpr})")?;
        }
        write!(f, " was not used: {}", self.failure)?;
        if !self.signed {
            f.write_str(
                " (not signed by that custodian: it may have been altered or forged in delivery)",
            )?;
        }
        Ok(())
    }
}

/// Why a partial decryption was refused by the requester's `combine`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartialFailure {
    /// The Chaum–Pedersen proof does not verify against the custodian's
    /// verification share.
    #[error("proof does not verify against the custodian's verification share")]
    BadProof,
    /// The partial was made for another grant.
    #[error("made for another grant")]
    WrongGrant,
    /// The partial was made for another requester key.
    #[error("made for another requester")]
    WrongRequester,
    /// The partial covers other segments than asked.
    #[error("covers other segments than the grant's")]
    WrongSegments,
    /// The partial names a custodian not in the group, or another group.
    #[error("not a custodian of this group")]
    UnknownCustodian,
    /// Two partials from the same custodian.
    #[error("duplicate partial from the same custodian")]
    Duplicate,
    /// The custodian's signature does not verify.
    #[error("custodian signature does not verify")]
    BadSignature,
    /// The envelope does not open with the requester's key (not encrypted
    /// to it, or altered).
    #[error("envelope does not decrypt with the requester's key (wrong key, or altered)")]
    Undecryptable,
    /// The envelope or the partial inside it does not parse, or the two
    /// disagree.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// A share of a segment's `c` does not match the hash in the
    /// device-signed record (§5.6).
    #[error("{0}: its share of the post-quantum part c does not match the record")]
    BadShare(SegmentRef),
}

/// What was wrong with a resharing deal (§4.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReshareFailure {
    /// The dealer's signature does not verify under the old descriptor's
    /// sign_key for its index.
    #[error("signature does not verify under the old custodian's key")]
    BadSignature,
    /// The deal is for another custody group or generation.
    #[error("made for another custody group or generation")]
    OtherGroup,
    /// The dealer is not in the deal's dealer set, or the dealer set names
    /// an index the old group does not list.
    #[error(
        "not a dealer of this reshare (not in the dealer set, or the set names unknown custodians)"
    )]
    NotADealer,
    /// The dealer set is smaller than the old threshold k.
    #[error("its dealer set has {have} old custodians, the old threshold is {needed}")]
    TooFewDealers {
        /// The old threshold k.
        needed: u16,
        /// Size of the deal's dealer set.
        have: u16,
    },
    /// The deal's plan (dealer set, name, new threshold or custodians)
    /// differs from the one most other deals carry.
    #[error(
        "its plan (dealer set, name, new threshold or custodians) differs from the other deals'"
    )]
    PlanMismatch,
    /// The constant commitment is not λ_i·P_i: the deal would change the
    /// group key.
    #[error("its constant commitment is not λ_i·P_i (it would change the group key)")]
    WrongConstant,
    /// A sub-share does not match the deal's commitments.
    #[error("the sub-share for new custodian {recipient} does not match the deal's commitments")]
    BadSubShare {
        /// Index of the new custodian (1..=n′).
        recipient: u16,
    },
    /// A sub-share does not decrypt for its new custodian, or its plaintext
    /// names another group, dealer or recipient.
    #[error("the sub-share for new custodian {recipient} does not decrypt, or names another deal")]
    Undecryptable {
        /// Index of the new custodian (1..=n′).
        recipient: u16,
    },
    /// Two different deals from the same dealer (equivocation).
    #[error("two different deals from the same dealer")]
    Duplicate,
    /// No deal from a member of the dealer set.
    #[error("no deal from this member of the dealer set")]
    Missing,
    /// Field counts disagree with the plan.
    #[error("malformed: {0}")]
    Malformed(&'static str),
}

/// Why a custodian refused to compute a partial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefusalReason {
    /// A segment record's device signature does not verify.
    #[error("{0}: segment record signature does not verify")]
    UnsignedRecord(SegmentRef),
    /// A record's KEM validity proof does not verify (blinded or foreign R).
    #[error("{0}: R has no valid proof for this segment (blinded or foreign R)")]
    UnprovenR(SegmentRef),
    /// A record is sealed to another custody group or generation.
    #[error("{0}: sealed to another custody group")]
    OtherGroup(SegmentRef),
    /// A segment lies outside the request's scope.
    #[error("{0}: outside the request's scope")]
    OutOfScope(SegmentRef),
    /// The access request's signature does not verify.
    #[error("the access request's signature does not verify")]
    BadRequestSignature,
    /// The access request has expired.
    #[error("the access request has expired")]
    Expired,
    /// The share does not match this group's verification share.
    #[error("this share does not belong to the group's custodian {0}")]
    WrongShare(u16),
    /// The access request names another custody group or generation.
    #[error("the access request is for another custody group or generation")]
    RequestForOtherGroup,
    /// The grant reference does not name this access request.
    #[error("the grant reference names another access request")]
    GrantMismatch,
    /// A partial covers 1 … 65 536 segments.
    #[error("a partial covers 1 to 65536 segments, {0} were given")]
    BatchSize(usize),
    /// The same segment was given twice.
    #[error("{0}: given twice")]
    DuplicateSegment(SegmentRef),
    /// The record that carries the segment's custody run (§5.6) was not
    /// given.
    #[error("{0}: the record starting its custody run was not given")]
    MissingRun(SegmentRef),
}
