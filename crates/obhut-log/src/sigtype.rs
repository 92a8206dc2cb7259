//! The signed-note signature types Obhut implements, each with its type
//! byte, the message it signs and its verification: Ed25519 (C2SP
//! signed-note, type 0x01) and timestamped witness cosignatures (C2SP
//! tlog-cosignature, `cosignature/v1`, type 0x04).
//!
//! Notes ([`crate::note`]) verify through `verify` here; the cosigner
//! ([`crate::cosignature`]) signs [`signed_message_v1`]. Both build on this
//! module, which knows neither notes nor signers.

use ed25519_dalek::{Signature, VerifyingKey};

/// signed-note §Signature types: "`0x01` — Ed25519 signatures as specified
/// by this document."
pub const ALG_ED25519: u8 = 0x01;

/// signed-note §Signature types: "`0x04` — Timestamped Ed25519 witness
/// cosignatures, as specified by c2sp.org/tlog-cosignature."
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// Largest cosignature timestamp: "It MUST NOT exceed 2^63 - 1".
pub const MAX_TIMESTAMP: u64 = (1u64 << 63) - 1;

/// tlog-cosignature §Ed25519 signed message: "two newline (U+000A)
/// terminated lines (one header line and one timestamp line) followed by the
/// whole note body of the cosigned checkpoint (including the final newline,
/// but not including any signature lines)". "The header line MUST be the
/// fixed string `cosignature/v1`"; "The timestamp line MUST consist of the
/// string `time`, a single space (0x20), and `timestamped_signature.timestamp`
/// encoded as an ASCII decimal with no leading zeroes."
pub fn signed_message_v1(checkpoint_text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}").into_bytes()
}

/// Verifies a `timestamped_signature` ("u64 timestamp; opaque
/// ed25519_signature[64]", timestamp big-endian per RFC 8446 §3.3) over
/// `text`; returns the timestamp.
fn verify_cosignature_v1(key: &VerifyingKey, text: &str, sig: &[u8]) -> Option<u64> {
    let sig: &[u8; 72] = sig.try_into().ok()?;
    let (ts, s) = sig.split_at(8);
    let timestamp = u64::from_be_bytes(ts.try_into().ok()?);
    if timestamp > MAX_TIMESTAMP {
        return None;
    }
    let s: [u8; 64] = s.try_into().ok()?;
    key.verify_strict(
        &signed_message_v1(text, timestamp),
        &Signature::from_bytes(&s),
    )
    .ok()?;
    Some(timestamp)
}

/// Verifies `sig` of type `alg` by `key` over note `text`. `Some(None)` for
/// a valid plain signature, `Some(Some(t))` for a valid cosignature made at
/// time `t`, `None` if invalid or of a type not implemented. Uses
/// `verify_strict` (RFC 8032 §5.1.7 with canonical, non-small-order checks).
pub(crate) fn verify(alg: u8, key: &VerifyingKey, text: &str, sig: &[u8]) -> Option<Option<u64>> {
    match alg {
        // signed-note §Ed25519 signatures: "Ed25519 signatures are
        // generated according to RFC 8032 over the note text."
        ALG_ED25519 => {
            let s: [u8; 64] = sig.try_into().ok()?;
            key.verify_strict(text.as_bytes(), &Signature::from_bytes(&s))
                .ok()?;
            Some(None)
        }
        ALG_COSIGNATURE_V1 => verify_cosignature_v1(key, text, sig).map(Some),
        _ => None,
    }
}
