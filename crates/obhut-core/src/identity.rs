//! Long-term keys of people and devices (docs/format.md §3.1–3.2).
//!
//! Secret key types do not derive `Debug`; their manual `Debug` prints the
//! public half only. Secrets zeroize on drop (via `ed25519-dalek`'s and
//! [`Secret32`]'s `Zeroize` implementations).

use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::error::{Error, Result};
use crate::hpke_wrap::{KEM_PUBLIC_LEN, KemPublicKey, KemSecretKey};
use crate::ids::Fingerprint;
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::secret::Secret32;
use crate::wire::{Reader, Writer};

/// Maximum length of a name field.
pub const MAX_NAME_LEN: usize = 128;

/// Whether the encoded y (the low 255 bits, little-endian) is below
/// p = 2^255 − 19: RFC 8032 §5.1.3's canonical-encoding rule, checked on the
/// bytes. The one other non-canonical form, x = 0 with the sign bit set, has
/// y = ±1, a small-order point refused as weak anyway. Comparing bytes
/// instead of re-compressing the decoded point saves a field inversion per
/// key: a recording's chain decodes its device key once per record.
fn y_below_p(bytes: &[u8; 32]) -> bool {
    !(bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[0] >= 0xed)
}

/// An Ed25519 public key that decoded and is not weak (small order).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifyKey(VerifyingKey);

impl VerifyKey {
    /// Parse, refusing malformed and small-order keys.
    pub fn from_bytes(bytes: &[u8; 32], what: &'static str, field: &'static str) -> Result<Self> {
        let k = VerifyingKey::from_bytes(bytes)
            .map_err(|_| Error::InvalidSigningKey { what, field })?;
        // Small-order keys are weak; a y coordinate written as y + p decodes
        // (dalek reduces it) but is not the canonical encoding RFC 8032
        // requires, and other implementations refuse it.
        if k.is_weak() || !y_below_p(bytes) {
            return Err(Error::InvalidSigningKey { what, field });
        }
        Ok(VerifyKey(k))
    }
    /// Read from a [`Reader`].
    pub fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self> {
        let b = r.array::<32>(field)?;
        Self::from_bytes(&b, r.what(), field)
    }
    /// The 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    /// Check a signature with context `label` over `body`, strictly
    /// (`verify_strict`: rejects non-canonical and small-order components).
    pub fn verify(
        &self,
        label: &[u8],
        body: &[u8],
        sig: &[u8; 64],
        what: &'static str,
    ) -> Result<()> {
        if self.verify_message(&labels::signed_message(label, body), sig) {
            Ok(())
        } else {
            Err(Error::BadSignature { what })
        }
    }

    /// Strict verification of an unlabelled message: the one check every
    /// labelled [`VerifyKey::verify`] ends in (§1.4).
    fn verify_message(&self, message: &[u8], sig: &[u8; 64]) -> bool {
        self.0
            .verify_strict(message, &Signature::from_bytes(sig))
            .is_ok()
    }

    /// [`VerifyKey::verify`] without the label, for external test vectors
    /// (Wycheproof) that sign raw messages.
    #[cfg(any(test, feature = "test-util"))]
    pub fn verify_unlabelled(&self, message: &[u8], sig: &[u8; 64]) -> bool {
        self.verify_message(message, sig)
    }
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyKey({})", hex::encode(self.0.to_bytes()))
    }
}

/// An Ed25519 signing key (a device's or a person's). Zeroized on drop.
#[derive(Clone)]
pub struct SignKey(SigningKey);

impl SignKey {
    /// A fresh key from the given CSPRNG.
    pub fn generate(rng: &mut impl rand_core::CryptoRng) -> Self {
        let seed = Secret32::random(rng);
        SignKey(SigningKey::from_bytes(seed.expose()))
    }
    /// Rebuild from a stored 32-byte seed.
    pub fn from_seed(seed: &Secret32) -> Self {
        SignKey(SigningKey::from_bytes(seed.expose()))
    }
    /// The seed, for a locked key file.
    pub fn seed(&self) -> Secret32 {
        Secret32::new(self.0.to_bytes())
    }
    /// The public key.
    pub fn verify_key(&self) -> VerifyKey {
        VerifyKey(self.0.verifying_key())
    }
    /// Sign `body` with context `label` (docs/format.md §1.3).
    pub fn sign(&self, label: &[u8], body: &[u8]) -> [u8; 64] {
        self.0.sign(&labels::signed_message(label, body)).to_bytes()
    }
}

impl fmt::Debug for SignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SignKey(public {:?}, secret <redacted>)",
            self.verify_key()
        )
    }
}

/// A person's public identity (§3.1).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PublicIdentity {
    /// Human-readable label; not part of the fingerprint.
    pub name: String,
    /// Signing key.
    pub sign_key: VerifyKey,
    /// X-Wing key that partials, shares and releases are encrypted to.
    pub kem_key: KemPublicKey,
}

const PUBLIC_IDENTITY: &str = "public identity";

impl PublicIdentity {
    /// `Digest("obhut/v1/fingerprint", sign_key ‖ kem_key)`.
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.sign_key, &self.kem_key)
    }
    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::PUBLIC_IDENTITY, VERSION, SUITE_V1);
        w.string(&self.name)
            .bytes(&self.sign_key.to_bytes())
            .bytes(self.kem_key.as_bytes());
        w.into_vec()
    }
    /// Parse, validating both keys.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(PUBLIC_IDENTITY, bytes);
        r.preamble(magic::PUBLIC_IDENTITY, VERSION, SUITE_V1)?;
        let name = r.string("name", MAX_NAME_LEN)?.to_owned();
        let sign_key = VerifyKey::read(&mut r, "sign_key")?;
        let kem = r.array::<KEM_PUBLIC_LEN>("kem_key")?;
        let kem_key = KemPublicKey::from_bytes(&kem, PUBLIC_IDENTITY, "kem_key")?;
        r.finish()?;
        Ok(PublicIdentity {
            name,
            sign_key,
            kem_key,
        })
    }
}

/// Fingerprint of a (signing key, X-Wing key) pair.
pub fn fingerprint(sign_key: &VerifyKey, kem_key: &KemPublicKey) -> Fingerprint {
    Fingerprint(labels::digest(
        labels::FINGERPRINT,
        &[&sign_key.to_bytes(), kem_key.as_bytes()],
    ))
}

/// A person's secret identity: signing key and X-Wing key.
#[derive(Clone)]
pub struct PersonSecret {
    /// Human-readable label.
    pub name: String,
    /// Signing key.
    pub sign: SignKey,
    /// X-Wing decapsulation key.
    pub kem: KemSecretKey,
}

const PERSON_SECRET: &str = "person secret key";

impl PersonSecret {
    /// A fresh identity.
    pub fn generate(name: &str, rng: &mut impl rand_core::CryptoRng) -> Self {
        PersonSecret {
            name: name.to_owned(),
            sign: SignKey::generate(rng),
            kem: KemSecretKey::generate(rng),
        }
    }
    /// The public identity.
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity {
            name: self.name.clone(),
            sign_key: self.sign.verify_key(),
            kem_key: self.kem.public_key(),
        }
    }
    /// Plaintext encoding, only ever stored inside a locked key file.
    pub fn to_secret_bytes(&self) -> crate::secret::SecretBytes {
        let mut w = Writer::with_preamble(magic::PERSON_SECRET, VERSION, SUITE_V1);
        w.string(&self.name)
            .bytes(self.sign.seed().expose())
            .bytes(self.kem.seed().expose());
        crate::secret::SecretBytes::new(w.into_vec())
    }
    /// Parse the plaintext of a locked key file.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(PERSON_SECRET, bytes);
        r.preamble(magic::PERSON_SECRET, VERSION, SUITE_V1)?;
        let name = r.string("name", MAX_NAME_LEN)?.to_owned();
        let sign = SignKey::from_seed(&Secret32::new(r.array("sign_seed")?));
        let kem = KemSecretKey::from_seed(Secret32::new(r.array("kem_seed")?));
        r.finish()?;
        Ok(PersonSecret { name, sign, kem })
    }
}

impl fmt::Debug for PersonSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PersonSecret({:?}, fingerprint {}, secret <redacted>)",
            self.name,
            self.public().fingerprint()
        )
    }
}

/// A device's public key (§3.2). The device id is its signing key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DevicePublic {
    /// Human-readable label (e.g. the bodycam's serial).
    pub name: String,
    /// The device's Ed25519 key.
    pub sign_key: VerifyKey,
}

const DEVICE_PUBLIC: &str = "device public key";
const DEVICE_SECRET: &str = "device secret key";

impl DevicePublic {
    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::DEVICE_PUBLIC, VERSION, SUITE_V1);
        w.string(&self.name).bytes(&self.sign_key.to_bytes());
        w.into_vec()
    }
    /// Parse, refusing weak keys.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(DEVICE_PUBLIC, bytes);
        r.preamble(magic::DEVICE_PUBLIC, VERSION, SUITE_V1)?;
        let name = r.string("name", MAX_NAME_LEN)?.to_owned();
        let sign_key = VerifyKey::read(&mut r, "sign_key")?;
        r.finish()?;
        Ok(DevicePublic { name, sign_key })
    }
}

/// A device's secret signing key.
#[derive(Clone)]
pub struct DeviceSecret {
    /// Human-readable label.
    pub name: String,
    /// Signing key.
    pub sign: SignKey,
}

impl DeviceSecret {
    /// A fresh device key.
    pub fn generate(name: &str, rng: &mut impl rand_core::CryptoRng) -> Self {
        DeviceSecret {
            name: name.to_owned(),
            sign: SignKey::generate(rng),
        }
    }
    /// The public half.
    pub fn public(&self) -> DevicePublic {
        DevicePublic {
            name: self.name.clone(),
            sign_key: self.sign.verify_key(),
        }
    }
    /// Plaintext encoding, only ever stored inside a locked key file.
    pub fn to_secret_bytes(&self) -> crate::secret::SecretBytes {
        let mut w = Writer::with_preamble(magic::DEVICE_SECRET, VERSION, SUITE_V1);
        w.string(&self.name).bytes(self.sign.seed().expose());
        crate::secret::SecretBytes::new(w.into_vec())
    }
    /// Parse the plaintext of a locked key file.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(DEVICE_SECRET, bytes);
        r.preamble(magic::DEVICE_SECRET, VERSION, SUITE_V1)?;
        let name = r.string("name", MAX_NAME_LEN)?.to_owned();
        let sign = SignKey::from_seed(&Secret32::new(r.array("sign_seed")?));
        r.finish()?;
        Ok(DeviceSecret { name, sign })
    }
}

impl fmt::Debug for DeviceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DeviceSecret({:?}, {:?}, secret <redacted>)",
            self.name,
            self.sign.verify_key()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_check_agrees_with_re_compression_around_p() {
        // y = p − 1, p, p + 18 and the top of the range, each sign.
        let mut cases = Vec::new();
        for low in [0xec_u8, 0xed, 0xee, 0xff] {
            for top in [0x7f_u8, 0xff] {
                let mut b = [0xff_u8; 32];
                b[0] = low;
                b[31] = top;
                cases.push(b);
            }
        }
        for b in cases {
            let Ok(k) = VerifyingKey::from_bytes(&b) else {
                continue;
            };
            // The whole rule, weak keys included: y = p − 1 with the sign
            // bit is x = 0 written negative, refused as small order.
            let by_compression = !k.is_weak() && k.to_edwards().compress().to_bytes() == b;
            let by_bytes = !k.is_weak() && y_below_p(&b);
            assert_eq!(by_bytes, by_compression, "{b:02x?}");
        }
        let key = SignKey::generate(&mut crate::rng::os_rng())
            .verify_key()
            .to_bytes();
        assert!(y_below_p(&key));
    }

    #[test]
    fn identities_round_trip_and_debug_is_redacted() {
        let mut rng = crate::rng::os_rng();
        let p = PersonSecret::generate("alice", &mut rng);
        let pubid = p.public();
        assert_eq!(
            PublicIdentity::from_bytes(&pubid.to_bytes()).unwrap(),
            pubid
        );
        let again = PersonSecret::from_secret_bytes(p.to_secret_bytes().expose()).unwrap();
        assert_eq!(again.public(), pubid);
        let seed_hex = hex::encode(p.sign.seed().expose());
        let kem_hex = hex::encode(p.kem.seed().expose());
        for shown in [
            format!("{p:?}"),
            format!("{:?}", p.sign),
            format!("{:?}", p.kem),
        ] {
            assert!(
                !shown.contains(&seed_hex[..16]) && !shown.contains(&kem_hex[..16]),
                "{shown}"
            );
        }
        let d = DeviceSecret::generate("cam-1", &mut rng);
        assert_eq!(
            DevicePublic::from_bytes(&d.public().to_bytes()).unwrap(),
            d.public()
        );
        assert!(!format!("{d:?}").contains(&hex::encode(d.sign.seed().expose())[..16]));
    }

    #[test]
    fn weak_and_malformed_signing_keys_are_refused() {
        // The identity point (small order) encoded as an Ed25519 key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(VerifyKey::from_bytes(&identity, "t", "k").is_err());
        // A y-coordinate with no curve point.
        let mut bad = [0xffu8; 32];
        bad[31] = 0x7f;
        bad[0] = 0xee;
        let _ = VerifyKey::from_bytes(&bad, "t", "k"); // must not panic
        // y = 3 + p: a valid point, non-canonically encoded.
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xf0;
        non_canonical[31] = 0x7f;
        assert!(VerifyKey::from_bytes(&non_canonical, "t", "k").is_err());
    }

    #[test]
    fn signatures_bind_label_and_body() {
        let mut rng = crate::rng::os_rng();
        let k = SignKey::generate(&mut rng);
        let sig = k.sign(b"obhut/v1/a", b"body");
        let v = k.verify_key();
        v.verify(b"obhut/v1/a", b"body", &sig, "t").unwrap();
        assert!(v.verify(b"obhut/v1/b", b"body", &sig, "t").is_err());
        assert!(v.verify(b"obhut/v1/a", b"bodz", &sig, "t").is_err());
    }
}
