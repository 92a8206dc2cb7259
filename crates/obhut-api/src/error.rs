//! The error answer of every endpoint (docs/vault.md §4, docs/access.md
//! §3): `{"error": kind, "message": text}`, where the kind is one of the
//! wire strings below and the message is for people. The HTTP status that
//! goes with a kind is the vault's business (obhut-server maps it in one
//! function); a client acts on the kind.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares [`ErrorKind`] from one table of variants and wire strings, so
/// that the enum, [`ErrorKind::as_str`] and [`ErrorKind::KNOWN`] (which the
/// parser searches) cannot disagree.
macro_rules! error_kinds {
    ($($(#[doc = $doc:literal])* $variant:ident = $wire:literal,)*) => {
        /// What went wrong, as a client can act on it: the `error` field of
        /// [`ErrorBody`].
        ///
        /// A vault newer than this build may answer with a kind it does not
        /// know; that parses as [`ErrorKind::Unknown`], which keeps the
        /// wire string so that it can still be shown and passed on (a kind
        /// carrying nothing would lose it). Hence the enum is `Clone`, not
        /// `Copy`.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorKind {
            $($(#[doc = $doc])* $variant,)*
            /// A kind this build does not know (a newer vault's), verbatim.
            /// Never one of the known strings: only [`ErrorKind::parse`]
            /// makes it.
            Unknown(UnknownKind),
        }

        impl ErrorKind {
            /// Every kind this build knows, in the order of docs/vault.md.
            pub const KNOWN: &[ErrorKind] = &[$(ErrorKind::$variant),*];

            /// The `error` string of the JSON body.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorKind::$variant => $wire,)*
                    ErrorKind::Unknown(u) => &u.0,
                }
            }
        }
    };
}

error_kinds! {
    /// The body does not start with a valid signed segment record.
    MalformedRecord = "malformed-record",
    /// The blob's length differs from the record's.
    WrongLength = "wrong-length",
    /// The blob's BLAKE3 differs from the record's `ciphertext_hash`.
    HashMismatch = "hash-mismatch",
    /// Another record at that index, or `prev` mismatch.
    ChainConflict = "chain-conflict",
    /// The index is ahead of the recording's next index.
    OutOfOrder = "out-of-order",
    /// The body exceeds the vault's limit.
    TooLarge = "too-large",
    /// The capsule is not sealed to the device's custody group.
    NotEnrolledGroup = "not-enrolled-group",
    /// The wrap names no epoch of the device's class covering the capture.
    UnknownEpoch = "unknown-epoch",
    /// The request's key is not an enrolled device.
    UnknownDevice = "unknown-device",
    /// The request's key is not a registered reader.
    UnknownPerson = "unknown-person",
    /// Authentication headers missing, malformed or not verifying.
    BadSignature = "bad-signature",
    /// `Obhut-Time` outside ±300 s of the vault's clock.
    StaleTime = "stale-time",
    /// The (key, nonce) pair was used before.
    ReplayedNonce = "replayed-nonce",
    /// The device was revoked.
    RevokedDevice = "revoked-device",
    /// The enrolment token is unknown, used or expired.
    InvalidToken = "invalid-token",
    /// Not allowed to read that group's recordings.
    Forbidden = "forbidden",
    /// Nothing at that path.
    NotFound = "not-found",
    /// Unknown retention class.
    UnknownClass = "unknown-class",
    /// A malformed request (JSON, query, path).
    BadRequest = "bad-request",
    /// The path exists, the method does not (e.g. `DELETE` of a
    /// recording).
    MethodNotAllowed = "method-not-allowed",
    /// The requested byte range is outside the blob.
    RangeNotSatisfiable = "range-not-satisfiable",
    /// Audit entry bodies asked for were pruned (log retention).
    Pruned = "pruned",
    /// A state conflict of the access workflow: a second approval by one
    /// custodian, a change to a denied or released request, an envelope
    /// other than the one logged (docs/access.md §3).
    Conflict = "conflict",
    /// The access request has expired.
    Expired = "expired",
    /// The retention epoch's key is destroyed (or the epoch expired): its
    /// period is never issued a key again, and its footage is gone
    /// (docs/vault.md §9).
    EpochDestroyed = "epoch-destroyed",
    /// Every segment of the recording expired with its retention epoch.
    RecordingExpired = "recording-expired",
    /// The release's preconditions do not hold yet: approvals or envelopes
    /// missing, entries not yet in a checkpoint.
    NotReady = "not-ready",
    /// A recording named by an access request is not in its group.
    UnknownRecording = "unknown-recording",
    /// The vault's storage is full (disk, quota, database): nothing was
    /// stored; the same request succeeds once the operator frees space.
    InsufficientStorage = "insufficient-storage",
    /// Too many unauthenticated requests from one source (enrolment,
    /// epochs, the log): wait `Retry-After` seconds.
    RateLimited = "rate-limited",
    /// The vault holds as many connections as it may: retry after
    /// `Retry-After` seconds.
    Overloaded = "overloaded",
    /// A stored segment the answer needs is damaged: its blob is missing
    /// or shorter than its record, or its record no longer verifies. The
    /// message names the segment; asking again does not help, the
    /// operator must restore it (`obhut check` lists every such segment).
    StoredSegmentCorrupt = "stored-segment-corrupt",
    /// Human review for training or product improvement (a request whose
    /// purpose calls for consent, docs/format.md §13.2) of a custody group
    /// that has no recorded, unwithdrawn, valid consent for that purpose;
    /// or a training set registered without one.
    ConsentRequired = "consent-required",
    /// The artifact was deleted with its source (erased, expired, consent
    /// withdrawn); its record stays as the tombstone.
    ArtifactDeleted = "artifact-deleted",
    /// The store failed; details are in the vault's log.
    Internal = "internal",
}

/// The wire string of an [`ErrorKind::Unknown`]. Opaque, so that no one
/// but the parser makes one and it never shadows a known kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnknownKind(String);

impl UnknownKind {
    /// The string as the vault sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ErrorKind {
    /// The kind named by a wire string; a string this build does not know
    /// is [`ErrorKind::Unknown`], never an error, so that a newer vault's
    /// answer still reads.
    pub fn parse(s: &str) -> ErrorKind {
        ErrorKind::KNOWN
            .iter()
            .find(|k| k.as_str() == s)
            .cloned()
            .unwrap_or_else(|| ErrorKind::Unknown(UnknownKind(s.to_owned())))
    }
}

impl FromStr for ErrorKind {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Infallible> {
        Ok(ErrorKind::parse(s))
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ErrorKind::parse(&s))
    }
}

/// The JSON body of every error answer: `{"error": kind, "message": text}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorKind,
    /// For people: names what is wrong, never record bodies, metadata or
    /// key material.
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_kind_round_trips_through_its_wire_string() {
        assert_eq!(ErrorKind::KNOWN.len(), 35);
        for k in ErrorKind::KNOWN {
            assert!(!matches!(k, ErrorKind::Unknown(_)));
            assert_eq!(&ErrorKind::parse(k.as_str()), k);
            assert_eq!(k.as_str().parse::<ErrorKind>(), Ok(k.clone()));
            assert_eq!(k.to_string(), k.as_str());
        }
    }

    #[test]
    fn wire_strings_are_distinct() {
        let mut all: Vec<&str> = ErrorKind::KNOWN.iter().map(ErrorKind::as_str).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), ErrorKind::KNOWN.len());
    }

    #[test]
    fn unknown_strings_parse_as_the_unknown_kind_and_keep_the_string() {
        for s in ["slow-down", "", "Out-Of-Order", "out-of-order "] {
            let k = ErrorKind::parse(s);
            match &k {
                ErrorKind::Unknown(u) => assert_eq!(u.as_str(), s),
                other => panic!("{s:?} parsed as {other:?}"),
            }
            assert_eq!(k.as_str(), s);
            assert_eq!(ErrorKind::parse(k.as_str()), k);
        }
    }

    #[test]
    fn the_error_body_is_the_documented_json() {
        let b = ErrorBody {
            error: ErrorKind::OutOfOrder,
            message: "index 7 is ahead".into(),
        };
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(
            json,
            r#"{"error":"out-of-order","message":"index 7 is ahead"}"#
        );
        assert_eq!(serde_json::from_str::<ErrorBody>(&json).unwrap(), b);
        let newer: ErrorBody =
            serde_json::from_str(r#"{"error":"rate-limited","message":"later"}"#).unwrap();
        assert_eq!(newer.error, ErrorKind::parse("rate-limited"));
        assert_eq!(
            serde_json::to_value(&newer).unwrap()["error"],
            "rate-limited"
        );
        let bare: ErrorBody = serde_json::from_str(r#"{"error":"not-ready"}"#).unwrap();
        assert_eq!(bare.error, ErrorKind::NotReady);
        assert_eq!(bare.message, "");
    }
}
