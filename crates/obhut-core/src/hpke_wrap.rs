//! HPKE (RFC 9180) base mode with X-Wing / HKDF-SHA256 / AES-256-GCM: the one
//! way this format encrypts to a person or a retention epoch
//! (docs/format.md §2). Post-quantum: X-Wing combines ML-KEM-768 and X25519,
//! so a wrap stays confidential if either holds.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::{Kem as _, XWing};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};

use crate::error::{Error, Result};
use crate::secret::Secret32;
use crate::secret::SecretBytes;

/// Length of an X-Wing encapsulation key.
pub const KEM_PUBLIC_LEN: usize = 1216;
/// Length of an X-Wing ciphertext (HPKE `enc`).
pub const ENC_LEN: usize = 1120;
/// AES-256-GCM tag length.
pub const TAG_LEN: usize = 16;

/// An X-Wing public key, validated at parse time.
#[derive(Clone, PartialEq, Eq)]
pub struct KemPublicKey {
    key: <XWing as hpke::Kem>::PublicKey,
    bytes: Box<[u8; KEM_PUBLIC_LEN]>,
}

impl KemPublicKey {
    /// Parse and validate an encapsulation key.
    pub fn from_bytes(
        bytes: &[u8; KEM_PUBLIC_LEN],
        what: &'static str,
        field: &'static str,
    ) -> Result<Self> {
        let key = <XWing as hpke::Kem>::PublicKey::from_bytes(bytes)
            .map_err(|_| Error::InvalidKemKey { what, field })?;
        Ok(KemPublicKey {
            key,
            bytes: Box::new(*bytes),
        })
    }
    /// The 1216-byte encoding.
    pub fn as_bytes(&self) -> &[u8; KEM_PUBLIC_LEN] {
        &self.bytes
    }
}

impl core::fmt::Debug for KemPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "KemPublicKey({}…)", hex::encode(&self.bytes[..8]))
    }
}

/// An X-Wing decapsulation key (its 32-byte seed). Zeroized on drop; Debug
/// is redacted.
#[derive(Clone)]
pub struct KemSecretKey {
    seed: Secret32,
}

impl KemSecretKey {
    /// Rebuild from the 32-byte seed stored in a locked key file.
    pub fn from_seed(seed: Secret32) -> Self {
        KemSecretKey { seed }
    }
    /// A fresh random key.
    pub fn generate(rng: &mut impl rand_core::CryptoRng) -> Self {
        KemSecretKey {
            seed: Secret32::random(rng),
        }
    }
    /// The seed, for storing in a locked key file.
    pub fn seed(&self) -> &Secret32 {
        &self.seed
    }
    fn hpke_key(&self) -> <XWing as hpke::Kem>::PrivateKey {
        <XWing as hpke::Kem>::PrivateKey::from_bytes(self.seed.expose())
            .expect("an X-Wing private key is any 32-byte seed")
    }
    /// The matching public key.
    pub fn public_key(&self) -> KemPublicKey {
        let key = XWing::sk_to_pk(&self.hpke_key());
        let mut bytes = Box::new([0u8; KEM_PUBLIC_LEN]);
        bytes.copy_from_slice(&key.to_bytes());
        KemPublicKey { key, bytes }
    }
}

impl core::fmt::Debug for KemSecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("KemSecretKey(<redacted>)")
    }
}

/// HPKE single-shot seal. Returns `(enc, ciphertext ‖ tag)`.
pub fn seal(
    to: &KemPublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut impl rand_core::CryptoRng,
) -> (Box<[u8; ENC_LEN]>, Vec<u8>) {
    let (enc, ct) = hpke::single_shot_seal_with_rng::<AesGcm256, HkdfSha256, XWing>(
        &OpModeS::Base,
        &to.key,
        info,
        plaintext,
        aad,
        rng,
    )
    .expect("HPKE seal to a validated X-Wing key cannot fail");
    let mut enc_bytes = Box::new([0u8; ENC_LEN]);
    enc_bytes.copy_from_slice(&enc.to_bytes());
    (enc_bytes, ct)
}

/// HPKE single-shot open. `what` names the structure in the error. The
/// plaintext (a share, a partial, an epoch part) is wiped when dropped.
pub fn open(
    with: &KemSecretKey,
    info: &[u8],
    aad: &[u8],
    enc: &[u8; ENC_LEN],
    ciphertext: &[u8],
    what: &'static str,
) -> Result<SecretBytes> {
    let enc = <XWing as hpke::Kem>::EncappedKey::from_bytes(enc)
        .map_err(|_| Error::InvalidKemKey { what, field: "enc" })?;
    hpke::single_shot_open::<AesGcm256, HkdfSha256, XWing>(
        &OpModeR::Base,
        &with.hpke_key(),
        &enc,
        info,
        ciphertext,
        aad,
    )
    .map(SecretBytes::new)
    .map_err(|_| Error::DecryptionFailed { what })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_wrong_key() {
        let mut rng = crate::rng::os_rng();
        let sk = KemSecretKey::generate(&mut rng);
        let pk = sk.public_key();
        let (enc, ct) = seal(&pk, b"info", b"aad", b"hello", &mut rng);
        assert_eq!(
            open(&sk, b"info", b"aad", &enc, &ct, "t").unwrap().expose(),
            b"hello"
        );
        assert!(open(&sk, b"info", b"other", &enc, &ct, "t").is_err());
        let other = KemSecretKey::generate(&mut rng);
        assert!(matches!(
            open(&other, b"info", b"aad", &enc, &ct, "t"),
            Err(Error::DecryptionFailed { .. })
        ));
        assert_eq!(ct.len(), 5 + TAG_LEN);
        let reparsed = KemPublicKey::from_bytes(pk.as_bytes(), "t", "k").unwrap();
        assert_eq!(reparsed, pk);
        assert_eq!(format!("{sk:?}"), "KemSecretKey(<redacted>)");
    }
}
