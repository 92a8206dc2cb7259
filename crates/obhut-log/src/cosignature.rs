//! C2SP tlog-cosignature (<https://c2sp.org/tlog-cosignature>), the
//! Ed25519 `cosignature/v1` type (signature type 0x04): a witness's
//! timestamped statement that a checkpoint is the largest consistent one it
//! has seen for the log.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey};

use crate::note::{ALG_COSIGNATURE_V1, NoteError, NoteSignature, VerifierKey, is_valid_key_name};
pub use crate::sigtype::{MAX_TIMESTAMP, signed_message_v1};

/// Why a cosignature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// The timestamp is above 2^63 - 1.
    #[error("cosignature timestamp {0} exceeds 2^63 - 1")]
    TimestampTooLarge(u64),
    /// The text is not a valid note text.
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// A witness's cosigning key (type 0x04). The key ID is "`SHA-256(<name> ||
/// "\n" || 0x04 || 32-byte Ed25519 cosigner public key)[:4]`". No `Debug` of
/// the secret; zeroized on drop by `ed25519-dalek`.
///
/// tlog-cosignature: "A cosigner operator that operates multiple Ed25519
/// cosigners ... MUST use distinct public keys for each cosigner."
pub struct CosignatureSigner {
    name: String,
    key: SigningKey,
    vkey: VerifierKey,
}

impl fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CosignatureSigner({}, secret redacted)", self.vkey)
    }
}

impl CosignatureSigner {
    /// A cosigner named `name` (a schema-less URL, e.g.
    /// `dpo.example/witness`) over the RFC 8032 secret `seed`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName { name: name.into() });
        }
        let key = SigningKey::from_bytes(seed);
        let vkey = VerifierKey::new(name, ALG_COSIGNATURE_V1, key.verifying_key())?;
        Ok(CosignatureSigner {
            name: name.into(),
            key,
            vkey,
        })
    }

    /// The verifier key clients configure (a vkey of type 0x04).
    pub fn verifier_key(&self) -> &VerifierKey {
        &self.vkey
    }

    /// Cosigns the checkpoint note text at POSIX time `timestamp`.
    pub fn cosign(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<NoteSignature, CosignError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignError::TimestampTooLarge(timestamp));
        }
        crate::note::check_text(checkpoint_text)?;
        let s = self
            .key
            .sign(&signed_message_v1(checkpoint_text, timestamp));
        let mut raw = Vec::with_capacity(72);
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&s.to_bytes());
        Ok(NoteSignature::new(&self.name, self.vkey.key_id(), raw)?)
    }
}
