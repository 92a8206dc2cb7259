//! Passphrase-locked key files (docs/format.md §3.3): Argon2id then
//! AES-256-GCM. The one format for every secret a person or device keeps on
//! disk; the content magic says which secret is inside.

use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::secret::{Secret32, SecretBytes};
use crate::stream::GcmKey;
use crate::wire::{Reader, Writer};

const WHAT: &str = "locked key file";
/// Largest plaintext a locked key file may hold.
pub const MAX_SECRET_LEN: usize = 65_536;

/// Argon2id cost parameters, stored in the file so they can be raised later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// Default for new files: 64 MiB, 3 passes, 1 lane (about 0.2 s here).
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 65_536,
        t: 3,
        p: 1,
    };
    /// The weakest parameters a reader accepts (8 MiB, 1 pass); for tests.
    pub const MINIMUM: KdfParams = KdfParams {
        m_kib: 8_192,
        t: 1,
        p: 1,
    };

    /// Refuse parameters outside the bounds of §3.3 before doing any work,
    /// so a forged file cannot make the reader allocate without limit.
    pub fn check(&self) -> Result<()> {
        let bad = |reason| Err(Error::WeakKdfParameters { reason });
        if self.m_kib < 8_192 {
            return bad("memory below 8 MiB");
        }
        if self.m_kib > 4_194_304 {
            return bad("memory above 4 GiB");
        }
        if !(1..=64).contains(&self.t) {
            return bad("passes outside 1..=64");
        }
        if !(1..=16).contains(&self.p) {
            return bad("lanes outside 1..=16");
        }
        Ok(())
    }

    fn derive(&self, passphrase: &[u8], salt: &[u8; 16]) -> Result<Secret32> {
        self.check()?;
        let params = argon2::Params::new(self.m_kib, self.t, self.p, Some(32)).map_err(|_| {
            Error::WeakKdfParameters {
                reason: "rejected by Argon2",
            }
        })?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        Secret32::filled_by(|key| argon.hash_password_into(passphrase, salt, key)).map_err(|_| {
            Error::WeakKdfParameters {
                reason: "rejected by Argon2",
            }
        })
    }
}

/// Which secret a locked file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// A person's identity ([`crate::identity::PersonSecret`]).
    Person,
    /// A device's signing key ([`crate::identity::DeviceSecret`]).
    Device,
    /// A retention epoch's secret ([`crate::epoch::EpochSecret`]).
    Epoch,
}

impl Content {
    fn magic(self) -> &'static [u8; 4] {
        match self {
            Content::Person => magic::PERSON_SECRET,
            Content::Device => magic::DEVICE_SECRET,
            Content::Epoch => magic::EPOCH_SECRET,
        }
    }
    fn from_magic(m: &[u8; 4]) -> Option<Self> {
        [Content::Person, Content::Device, Content::Epoch]
            .into_iter()
            .find(|c| c.magic() == m)
    }
    /// What a person calls this kind of file.
    pub fn describe(self) -> &'static str {
        match self {
            Content::Person => "person identity",
            Content::Device => "device key",
            Content::Epoch => "retention-epoch key",
        }
    }
}

fn aad(header: &[u8]) -> Vec<u8> {
    labels::signed_message(labels::LOCKED_KEY, header)
}

/// Encrypt `secret` under `passphrase`.
pub fn lock(
    content: Content,
    secret: &SecretBytes,
    passphrase: &[u8],
    params: KdfParams,
    rng: &mut impl rand_core::CryptoRng,
) -> Result<Vec<u8>> {
    if secret.expose().len() > MAX_SECRET_LEN {
        return Err(Error::Malformed {
            what: WHAT,
            reason: "secret too large",
        });
    }
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let key = params.derive(passphrase, &salt)?;

    let mut w = Writer::with_preamble(magic::LOCKED_KEY, VERSION, SUITE_V1);
    w.bytes(content.magic())
        .u32(params.m_kib)
        .u32(params.t)
        .u32(params.p)
        .bytes(&salt)
        .bytes(&nonce);
    let mut sealed = SecretBytes::new(secret.expose().to_vec());
    let mut buf = sealed.expose().to_vec();
    let tag = GcmKey::new(&key)
        .seal_in_place(nonce, &aad(w.as_slice()), buf.as_mut_slice())
        .ok_or(Error::Malformed {
            what: WHAT,
            reason: "secret too large",
        })?;
    buf.extend_from_slice(&tag);
    w.var_bytes(&buf);
    buf.zeroize();
    sealed.zeroize();
    Ok(w.into_vec())
}

/// Which secret a locked file holds, read without the passphrase.
pub fn content_of(file: &[u8]) -> Result<Content> {
    let mut r = Reader::new(WHAT, file);
    r.preamble(magic::LOCKED_KEY, VERSION, SUITE_V1)?;
    let m = r.array::<4>("content")?;
    Content::from_magic(&m).ok_or(Error::Malformed {
        what: WHAT,
        reason: "unknown content type",
    })
}

/// Decrypt a locked key file. Returns what it holds and the plaintext.
pub fn unlock(file: &[u8], passphrase: &[u8]) -> Result<(Content, SecretBytes)> {
    let mut r = Reader::new(WHAT, file);
    r.preamble(magic::LOCKED_KEY, VERSION, SUITE_V1)?;
    let m = r.array::<4>("content")?;
    let content = Content::from_magic(&m).ok_or(Error::Malformed {
        what: WHAT,
        reason: "unknown content type",
    })?;
    let params = KdfParams {
        m_kib: r.u32("m_kib")?,
        t: r.u32("t")?,
        p: r.u32("p")?,
    };
    params.check()?;
    let salt = r.array::<16>("salt")?;
    let nonce = r.array::<12>("nonce")?;
    let header_len = r.position();
    let sealed = r.var_bytes("sealed", MAX_SECRET_LEN + 16)?;
    r.finish()?;
    if sealed.len() < 16 {
        return Err(Error::Truncated {
            what: WHAT,
            field: "sealed",
        });
    }
    let key = params.derive(passphrase, &salt)?;
    let (ct, tag) = sealed.split_at(sealed.len() - 16);
    let mut buf = ct.to_vec();
    let tag: [u8; 16] = tag.try_into().map_err(|_| Error::Truncated {
        what: WHAT,
        field: "sealed",
    })?;
    if GcmKey::new(&key).open_in_place(nonce, &aad(&file[..header_len]), &mut buf, &tag) {
        Ok((content, SecretBytes::new(buf)))
    } else {
        // AWS-LC has zeroed `buf` already; wiping again costs nothing and
        // does not depend on that.
        buf.zeroize();
        Err(Error::WrongPassphrase)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_unlock_wrong_passphrase_and_tamper() {
        let mut rng = crate::rng::os_rng();
        let secret = SecretBytes::new(b"OBPS top secret".to_vec());
        let file = lock(
            Content::Person,
            &secret,
            b"correct horse",
            KdfParams::MINIMUM,
            &mut rng,
        )
        .unwrap();
        let (c, back) = unlock(&file, b"correct horse").unwrap();
        assert_eq!(c, Content::Person);
        assert_eq!(back.expose(), secret.expose());
        assert!(matches!(
            unlock(&file, b"wrong"),
            Err(Error::WrongPassphrase)
        ));
        // Tampering with the content type is caught by the AEAD (it is in the aad).
        let mut t = file.clone();
        t[7..11].copy_from_slice(magic::DEVICE_SECRET);
        assert!(matches!(
            unlock(&t, b"correct horse"),
            Err(Error::WrongPassphrase)
        ));
        // Plaintext never appears in the file.
        assert!(!file.windows(10).any(|w| w == b"top secret"));
    }

    #[test]
    fn forged_costs_are_refused_before_work() {
        let mut rng = crate::rng::os_rng();
        let file = lock(
            Content::Device,
            &SecretBytes::new(vec![1; 8]),
            b"p",
            KdfParams::MINIMUM,
            &mut rng,
        )
        .unwrap();
        let mut t = file.clone();
        t[11..15].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            unlock(&t, b"p"),
            Err(Error::WeakKdfParameters { .. })
        ));
        let mut t = file.clone();
        t[11..15].copy_from_slice(&1u32.to_be_bytes());
        assert!(matches!(
            unlock(&t, b"p"),
            Err(Error::WeakKdfParameters { .. })
        ));
        for cut in 0..file.len() {
            assert!(unlock(&file[..cut], b"p").is_err());
        }
    }
}
