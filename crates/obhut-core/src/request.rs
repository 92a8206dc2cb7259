//! Access requests (docs/format.md §8.1): what a requester asks for, signed
//! by the requester, with the X-Wing key every partial and release is
//! encrypted to; the in-scope rule custodians apply to each segment; and
//! the grant reference (the request's position in the audit log).

use core::fmt;
use core::ops::Deref;

use crate::error::{Error, Result};
use crate::hpke_wrap::{KEM_PUBLIC_LEN, KemPublicKey};
use crate::identity::{PersonSecret, VerifyKey, fingerprint};
use crate::ids::{Fingerprint, GroupId, RecordingId};
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::wire::{Reader, Writer};

/// Most scope entries in one request.
pub const MAX_SCOPES: usize = 1024;
/// Longest `purpose`.
pub const MAX_PURPOSE_LEN: usize = 256;
/// Longest `justification`.
pub const MAX_JUSTIFICATION_LEN: usize = 4096;
/// Longest `legal_basis`.
pub const MAX_LEGAL_BASIS_LEN: usize = 512;
/// Longest `case_ref`.
pub const MAX_CASE_REF_LEN: usize = 256;
/// Most recipients.
pub const MAX_RECIPIENTS: usize = 64;
/// Longest recipient name.
pub const MAX_RECIPIENT_LEN: usize = 256;

const REQUEST: &str = "access request";

/// Segment kind: media.
pub const KIND_MEDIA: u8 = 0;
/// Segment kind: container index (e.g. an MP4 `moov`).
pub const KIND_CONTAINER_INDEX: u8 = 1;
/// Segment kind: descriptive metadata.
pub const KIND_METADATA: u8 = 2;

/// One entry of a request's scope (§8.1). Intervals are half-open.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scope {
    /// Media time [media_start_ms, media_end_ms) of one recording.
    Recording {
        /// The recording.
        recording_id: RecordingId,
        /// Start of the media interval (ms from the recording's start).
        media_start_ms: u64,
        /// End of the media interval, exclusive (≥ start).
        media_end_ms: u64,
        /// Whether the recording's descriptive metadata is included.
        include_metadata: bool,
    },
    /// Capture time [utc_start_ms, utc_end_ms) of one device.
    Device {
        /// The device (its Ed25519 key).
        device_key: VerifyKey,
        /// Start of the UTC interval (ms since 1970).
        utc_start_ms: i64,
        /// End of the UTC interval, exclusive (≥ start).
        utc_end_ms: i64,
        /// Whether descriptive metadata of the recordings is included.
        include_metadata: bool,
    },
}

/// The header fields of one segment that the in-scope rule looks at. Take
/// them only from a device-signed segment record.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SegmentFacts {
    /// 0 media, 1 container index, 2 metadata.
    pub kind: u8,
    /// Recording the segment belongs to.
    pub recording_id: RecordingId,
    /// Ed25519 key of the sealing device.
    pub device_key: [u8; 32],
    /// Media time covered, from the recording's start.
    pub media_start_ms: u64,
    /// End of the media time covered (exclusive).
    pub media_end_ms: u64,
    /// Device wall-clock time at `media_start_ms`.
    pub capture_utc_ms: i64,
}

impl SegmentFacts {
    /// The facts of an encoded segment record (docs/format.md §7.1, §6.1),
    /// read at their fixed places **without verifying anything**: no
    /// signature, no point. For *selecting* among records that were
    /// verified when they were stored (the vault resolving a scope over a
    /// 10-hour recording reads 3,600 of them); whatever is selected must be
    /// parsed with [`crate::record::SegmentRecord::from_bytes`] before it
    /// is used, and the selection checked again on the parsed records.
    pub fn peek_record(bytes: &[u8]) -> Result<SegmentFacts> {
        let mut r = Reader::new(crate::record::SEGMENT_RECORD_WHAT, bytes);
        r.preamble(magic::SEGMENT_RECORD, VERSION, SUITE_V1)?;
        r.preamble(magic::SEGMENT_HEADER, VERSION, SUITE_V1)?;
        let kind = r.u8("kind")?;
        let recording_id = RecordingId(r.array("recording_id")?);
        let device_key = r.array("device_key")?;
        let _segment_index = r.u32("segment_index")?;
        let _chunk_size = r.u32("chunk_size")?;
        Ok(SegmentFacts {
            kind,
            recording_id,
            device_key,
            media_start_ms: r.u64("media_start_ms")?,
            media_end_ms: r.u64("media_end_ms")?,
            capture_utc_ms: r.i64("capture_utc_ms")?,
        })
    }
}

impl From<&crate::segment::HeaderFields> for SegmentFacts {
    fn from(fields: &crate::segment::HeaderFields) -> Self {
        SegmentFacts {
            kind: fields.kind.to_u8(),
            recording_id: fields.recording_id,
            device_key: fields.device_key.to_bytes(),
            media_start_ms: fields.media_start_ms,
            media_end_ms: fields.media_end_ms,
            capture_utc_ms: fields.capture_utc_ms,
        }
    }
}

/// Segment interval [a, b) meets scope interval [c, d), both half-open. A
/// segment of zero length (a = b) is the instant a: covered when c ≤ a < d
/// (a device that cannot tell a segment's duration must still be
/// openable). An empty scope (c = d) covers nothing.
fn overlaps(a: i128, b: i128, c: i128, d: i128) -> bool {
    if a == b {
        return c <= a && a < d;
    }
    a < b && c < d && a < d && c < b
}

impl Scope {
    /// Whether this scope's interval covers `segment` as a media segment
    /// (its kind is not looked at): same recording (or device) and
    /// overlapping half-open intervals (a zero-length segment is an instant;
    /// an empty scope covers nothing).
    /// For a device scope the segment's UTC interval is [capture_utc_ms,
    /// capture_utc_ms + media_end_ms − media_start_ms).
    pub fn covers_media(&self, segment: &SegmentFacts) -> bool {
        let start = i128::from(segment.media_start_ms);
        let end = i128::from(segment.media_end_ms);
        match self {
            Scope::Recording {
                recording_id,
                media_start_ms,
                media_end_ms,
                ..
            } => {
                *recording_id == segment.recording_id
                    && overlaps(
                        start,
                        end,
                        i128::from(*media_start_ms),
                        i128::from(*media_end_ms),
                    )
            }
            Scope::Device {
                device_key,
                utc_start_ms,
                utc_end_ms,
                ..
            } => {
                let utc = i128::from(segment.capture_utc_ms);
                device_key.to_bytes() == segment.device_key
                    && overlaps(
                        utc,
                        utc + (end - start),
                        i128::from(*utc_start_ms),
                        i128::from(*utc_end_ms),
                    )
            }
        }
    }

    /// Whether descriptive metadata is included.
    pub fn include_metadata(&self) -> bool {
        match self {
            Scope::Recording {
                include_metadata, ..
            }
            | Scope::Device {
                include_metadata, ..
            } => *include_metadata,
        }
    }

    fn encode(&self, w: &mut Writer) {
        match self {
            Scope::Recording {
                recording_id,
                media_start_ms,
                media_end_ms,
                include_metadata,
            } => {
                w.u8(0)
                    .bytes(&recording_id.0)
                    .u64(*media_start_ms)
                    .u64(*media_end_ms)
                    .u8(u8::from(*include_metadata));
            }
            Scope::Device {
                device_key,
                utc_start_ms,
                utc_end_ms,
                include_metadata,
            } => {
                w.u8(1)
                    .bytes(&device_key.to_bytes())
                    .i64(*utc_start_ms)
                    .i64(*utc_end_ms)
                    .u8(u8::from(*include_metadata));
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        match r.u8("scope type")? {
            0 => Ok(Scope::Recording {
                recording_id: RecordingId(r.array("scope recording_id")?),
                media_start_ms: r.u64("scope media_start_ms")?,
                media_end_ms: r.u64("scope media_end_ms")?,
                include_metadata: r.bool("scope include_metadata")?,
            }),
            1 => Ok(Scope::Device {
                device_key: VerifyKey::read(r, "scope device_key")?,
                utc_start_ms: r.i64("scope utc_start_ms")?,
                utc_end_ms: r.i64("scope utc_end_ms")?,
                include_metadata: r.bool("scope include_metadata")?,
            }),
            _ => Err(Error::Malformed {
                what: REQUEST,
                reason: "unknown scope type (0 recording, 1 device)",
            }),
        }
    }

    fn is_ordered(&self) -> bool {
        match self {
            Scope::Recording {
                media_start_ms,
                media_end_ms,
                ..
            } => media_start_ms <= media_end_ms,
            Scope::Device {
                utc_start_ms,
                utc_end_ms,
                ..
            } => utc_start_ms <= utc_end_ms,
        }
    }
}

/// Everything a requester states in a request; [`RequestContent::sign`]
/// turns it into a signed [`AccessRequest`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RequestContent {
    /// Random id chosen by the requester.
    pub request_id: [u8; 16],
    /// Custody group whose custodians are asked.
    pub group_id: GroupId,
    /// Generation of the group's key.
    pub generation: u32,
    /// What is asked for: 1 … 1024 entries.
    pub scope: Vec<Scope>,
    /// Purpose (≤ 256 bytes).
    pub purpose: String,
    /// Justification (≤ 4096 bytes).
    pub justification: String,
    /// Legal basis (≤ 512 bytes).
    pub legal_basis: String,
    /// Case reference (≤ 256 bytes).
    pub case_ref: String,
    /// Who will see the footage: ≤ 64 names of ≤ 256 bytes.
    pub recipients: Vec<String>,
    /// When the request was made (UTC ms).
    pub created_utc_ms: i64,
    /// When it stops being valid (UTC ms, exclusive; > created).
    pub expires_utc_ms: i64,
}

fn malformed(reason: &'static str) -> Error {
    Error::Malformed {
        what: REQUEST,
        reason,
    }
}

fn too_long(field: &'static str, len: usize, max: usize) -> Error {
    Error::FieldTooLong {
        what: REQUEST,
        field,
        len,
        max,
    }
}

impl RequestContent {
    /// Check the bounds of §8.1.
    fn validate(&self) -> Result<()> {
        if self.scope.is_empty() || self.scope.len() > MAX_SCOPES {
            return Err(malformed("a request has 1 … 1024 scope entries"));
        }
        if !self.scope.iter().all(Scope::is_ordered) {
            return Err(malformed("a scope interval ends before it starts"));
        }
        for (field, value, max) in [
            ("purpose", &self.purpose, MAX_PURPOSE_LEN),
            ("justification", &self.justification, MAX_JUSTIFICATION_LEN),
            ("legal_basis", &self.legal_basis, MAX_LEGAL_BASIS_LEN),
            ("case_ref", &self.case_ref, MAX_CASE_REF_LEN),
        ] {
            if value.len() > max {
                return Err(too_long(field, value.len(), max));
            }
        }
        if self.recipients.len() > MAX_RECIPIENTS {
            return Err(malformed("a request names at most 64 recipients"));
        }
        if let Some(r) = self.recipients.iter().find(|r| r.len() > MAX_RECIPIENT_LEN) {
            return Err(too_long("recipient", r.len(), MAX_RECIPIENT_LEN));
        }
        if self.expires_utc_ms <= self.created_utc_ms {
            return Err(malformed("the request expires before it is created"));
        }
        Ok(())
    }

    /// Sign as `requester`: its signing key and X-Wing key go into the
    /// request; every partial and release will be encrypted to that X-Wing
    /// key only.
    pub fn sign(self, requester: &PersonSecret) -> Result<AccessRequest> {
        self.validate()?;
        let mut req = AccessRequest {
            content: self,
            requester_sign: requester.sign.verify_key(),
            requester_kem: requester.kem.public_key(),
            signature: [0u8; 64],
        };
        req.signature = requester
            .sign
            .sign(labels::ACCESS_REQUEST_SIG, &req.signed_body());
        Ok(req)
    }
}

/// A signed access request. Every value of this type carries a signature
/// that verifies under its own `requester_sign` (checked when parsed and
/// made when signed), so its `requester_kem` is the key the requester
/// vouched for.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AccessRequest {
    content: RequestContent,
    requester_sign: VerifyKey,
    requester_kem: KemPublicKey,
    signature: [u8; 64],
}

impl Deref for AccessRequest {
    type Target = RequestContent;
    fn deref(&self) -> &RequestContent {
        &self.content
    }
}

impl AccessRequest {
    /// What the requester asked for.
    pub fn content(&self) -> &RequestContent {
        &self.content
    }
    /// The requester's signing key.
    pub fn requester_sign(&self) -> &VerifyKey {
        &self.requester_sign
    }
    /// The requester's X-Wing key: the only key partials and releases for
    /// this request are encrypted to.
    pub fn requester_kem(&self) -> &KemPublicKey {
        &self.requester_kem
    }
    /// The requester's signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    fn signed_body(&self) -> Vec<u8> {
        let c = &self.content;
        let mut w = Writer::with_preamble(magic::ACCESS_REQUEST, VERSION, SUITE_V1);
        w.bytes(&c.request_id)
            .bytes(&self.requester_sign.to_bytes())
            .bytes(self.requester_kem.as_bytes())
            .bytes(&c.group_id.0)
            .u32(c.generation)
            .u16(c.scope.len() as u16);
        for s in &c.scope {
            s.encode(&mut w);
        }
        w.string(&c.purpose)
            .string(&c.justification)
            .string(&c.legal_basis)
            .string(&c.case_ref)
            .u16(c.recipients.len() as u16);
        for r in &c.recipients {
            w.string(r);
        }
        w.i64(c.created_utc_ms).i64(c.expires_utc_ms);
        w.into_vec()
    }

    /// Canonical encoding, signature included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.signed_body();
        b.extend_from_slice(&self.signature);
        b
    }

    /// Parse and verify the signature (`verify_strict` under the embedded
    /// `requester_sign`). A request whose signature does not verify is
    /// refused with [`Error::BadSignature`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(REQUEST, bytes);
        r.preamble(magic::ACCESS_REQUEST, VERSION, SUITE_V1)?;
        let request_id = r.array::<16>("request_id")?;
        let requester_sign = VerifyKey::read(&mut r, "requester_sign")?;
        let kem = r.array::<KEM_PUBLIC_LEN>("requester_kem")?;
        let requester_kem = KemPublicKey::from_bytes(&kem, REQUEST, "requester_kem")?;
        let group_id = GroupId(r.array("group_id")?);
        let generation = r.u32("generation")?;
        let scope_count = r.u16("scope_count")? as usize;
        if scope_count == 0 || scope_count > MAX_SCOPES {
            return Err(malformed("a request has 1 … 1024 scope entries"));
        }
        let mut scope = Vec::with_capacity(scope_count);
        for _ in 0..scope_count {
            scope.push(Scope::read(&mut r)?);
        }
        let purpose = r.string("purpose", MAX_PURPOSE_LEN)?.to_owned();
        let justification = r.string("justification", MAX_JUSTIFICATION_LEN)?.to_owned();
        let legal_basis = r.string("legal_basis", MAX_LEGAL_BASIS_LEN)?.to_owned();
        let case_ref = r.string("case_ref", MAX_CASE_REF_LEN)?.to_owned();
        let recipient_count = r.u16("recipient_count")? as usize;
        if recipient_count > MAX_RECIPIENTS {
            return Err(malformed("a request names at most 64 recipients"));
        }
        let mut recipients = Vec::with_capacity(recipient_count);
        for _ in 0..recipient_count {
            recipients.push(r.string("recipient", MAX_RECIPIENT_LEN)?.to_owned());
        }
        let created_utc_ms = r.i64("created_utc_ms")?;
        let expires_utc_ms = r.i64("expires_utc_ms")?;
        let signature = r.array::<64>("signature")?;
        r.finish()?;
        let content = RequestContent {
            request_id,
            group_id,
            generation,
            scope,
            purpose,
            justification,
            legal_basis,
            case_ref,
            recipients,
            created_utc_ms,
            expires_utc_ms,
        };
        content.validate()?;
        let req = AccessRequest {
            content,
            requester_sign,
            requester_kem,
            signature,
        };
        req.requester_sign.verify(
            labels::ACCESS_REQUEST_SIG,
            &req.signed_body(),
            &req.signature,
            REQUEST,
        )?;
        Ok(req)
    }

    /// Verify the signature again (every constructor already did).
    pub fn verify_signature(&self) -> Result<()> {
        self.requester_sign.verify(
            labels::ACCESS_REQUEST_SIG,
            &self.signed_body(),
            &self.signature,
            REQUEST,
        )
    }

    /// `Digest("obhut/v1/request-hash", entire request including signature)`.
    pub fn request_hash(&self) -> [u8; 32] {
        labels::digest(labels::REQUEST_HASH, &[&self.to_bytes()])
    }

    /// `Digest("obhut/v1/fingerprint", requester_sign ‖ requester_kem)`.
    pub fn requester_fingerprint(&self) -> Fingerprint {
        fingerprint(&self.requester_sign, &self.requester_kem)
    }

    /// Whether the request has expired at `now_utc_ms` (expiry is
    /// exclusive: at `expires_utc_ms` it has expired).
    pub fn is_expired(&self, now_utc_ms: i64) -> bool {
        now_utc_ms >= self.content.expires_utc_ms
    }

    /// The in-scope rule (§8.1). A media segment (kind 0) is in scope if
    /// any scope entry covers it. A container-index segment (kind 1) is in
    /// scope when any media segment of its recording is: `recording_media`
    /// lists the (device-signed) media segments of the same recording
    /// known to the caller; entries of other recordings or devices, and
    /// non-media entries, are ignored. A metadata segment (kind 2) is in
    /// scope only under an entry with `include_metadata` that covers a media
    /// segment of its recording. Any other kind is never in scope.
    pub fn covers(&self, segment: &SegmentFacts, recording_media: &[SegmentFacts]) -> bool {
        let scopes = &self.content.scope;
        let sibling_covered = |s: &Scope| {
            recording_media.iter().any(|m| {
                m.kind == KIND_MEDIA
                    && m.recording_id == segment.recording_id
                    && m.device_key == segment.device_key
                    && s.covers_media(m)
            })
        };
        match segment.kind {
            KIND_MEDIA => scopes.iter().any(|s| s.covers_media(segment)),
            KIND_CONTAINER_INDEX => scopes.iter().any(sibling_covered),
            KIND_METADATA => scopes
                .iter()
                .any(|s| s.include_metadata() && sibling_covered(s)),
            _ => false,
        }
    }
}

/// A grant: the request's position in the audit log and its hash (§8.1).
/// Every partial is bound to one grant.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrantRef {
    /// Index of the request's entry in the audit log.
    pub log_index: u64,
    /// `request_hash` of the granted request.
    pub request_hash: [u8; 32],
}

impl GrantRef {
    /// The grant of `request` logged at `log_index`.
    pub fn new(log_index: u64, request: &AccessRequest) -> Self {
        GrantRef {
            log_index,
            request_hash: request.request_hash(),
        }
    }
}

impl fmt::Debug for GrantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GrantRef(log {}, request {})",
            self.log_index,
            hex::encode(self.request_hash)
        )
    }
}
