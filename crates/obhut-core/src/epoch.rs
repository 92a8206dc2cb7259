//! The epoch part `b` of a segment key, wrapped to a retention-epoch key of
//! the vault (docs/format.md §3.4, §5.4, §8.5).

use crate::error::Result;
use crate::hpke_wrap::ENC_LEN;
use crate::ids::EpochId;
use crate::wire::{Reader, Writer};

/// Encoded length of an [`EpochWrap`].
pub const EPOCH_WRAP_LEN: usize = 16 + ENC_LEN + 48;

/// `b` HPKE-encrypted to a retention epoch's X-Wing key.
#[derive(Clone, PartialEq, Eq)]
pub struct EpochWrap {
    /// The epoch whose key can unwrap `b`.
    pub epoch_id: EpochId,
    /// HPKE encapsulated key.
    pub enc: Box<[u8; ENC_LEN]>,
    /// AES-256-GCM(b) ‖ tag.
    pub ct: [u8; 48],
}

impl core::fmt::Debug for EpochWrap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "EpochWrap(epoch {})", self.epoch_id)
    }
}

impl EpochWrap {
    /// Append the 1184-byte encoding.
    pub fn encode(&self, w: &mut Writer) {
        w.bytes(&self.epoch_id.0)
            .bytes(&self.enc[..])
            .bytes(&self.ct);
    }
    /// Read the 1184-byte encoding.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        let epoch_id = EpochId(r.array("epoch_id")?);
        let enc = Box::new(r.array::<ENC_LEN>("epoch_wrap.enc")?);
        let ct = r.array::<48>("epoch_wrap.ct")?;
        Ok(EpochWrap { epoch_id, enc, ct })
    }
}

use crate::error::Error;
use crate::hpke_wrap::{self, KEM_PUBLIC_LEN, KemPublicKey, KemSecretKey};
use crate::identity::{PersonSecret, VerifyKey};
use crate::ids::{Fingerprint, RecordingId, SegmentRef};
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::secret::{Secret32, SecretBytes};

/// Maximum length of a retention class name.
pub const MAX_CLASS_LEN: usize = 64;
/// Maximum number of entries in one [`EpochRelease`].
pub const MAX_RELEASE_ENTRIES: usize = 65_536;

const EPOCH_PUBLIC: &str = "epoch public key";
const EPOCH_SECRET: &str = "epoch secret key";
const EPOCH_WRAP: &str = "epoch wrap";
const EPOCH_RELEASE: &str = "epoch release";

/// A retention epoch's public key (§3.4). Devices wrap `b` to it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EpochPublic {
    /// Epoch identifier.
    pub epoch_id: EpochId,
    /// Retention class (e.g. "bodycam-30d").
    pub retention_class: String,
    /// Segments captured at or after this UTC millisecond belong here…
    pub not_before: i64,
    /// …and before this one.
    pub not_after: i64,
    /// X-Wing encapsulation key.
    pub kem_key: KemPublicKey,
}

impl EpochPublic {
    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::EPOCH_PUBLIC, VERSION, SUITE_V1);
        w.bytes(&self.epoch_id.0)
            .string(&self.retention_class)
            .i64(self.not_before)
            .i64(self.not_after)
            .bytes(self.kem_key.as_bytes());
        w.into_vec()
    }
    /// Parse and validate.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(EPOCH_PUBLIC, bytes);
        r.preamble(magic::EPOCH_PUBLIC, VERSION, SUITE_V1)?;
        let epoch_id = EpochId(r.array("epoch_id")?);
        let retention_class = r.string("retention_class", MAX_CLASS_LEN)?.to_owned();
        let not_before = r.i64("not_before")?;
        let not_after = r.i64("not_after")?;
        if not_after <= not_before {
            return Err(Error::Malformed {
                what: EPOCH_PUBLIC,
                reason: "not_after is not after not_before",
            });
        }
        let kem = r.array::<KEM_PUBLIC_LEN>("kem_key")?;
        let kem_key = KemPublicKey::from_bytes(&kem, EPOCH_PUBLIC, "kem_key")?;
        r.finish()?;
        Ok(EpochPublic {
            epoch_id,
            retention_class,
            not_before,
            not_after,
            kem_key,
        })
    }

    /// Wrap `b` for one segment (§5.4).
    pub fn wrap(
        &self,
        b: &Secret32,
        recording_id: RecordingId,
        device_key: &VerifyKey,
        segment_index: u32,
        rng: &mut impl rand_core::CryptoRng,
    ) -> EpochWrap {
        let (enc, ct) = hpke_wrap::seal(
            &self.kem_key,
            &wrap_info(self.epoch_id),
            &wrap_aad(recording_id, device_key, segment_index),
            b.expose(),
            rng,
        );
        let ct: [u8; 48] = ct
            .as_slice()
            .try_into()
            .expect("32-byte plaintext gives 48 bytes");
        EpochWrap {
            epoch_id: self.epoch_id,
            enc,
            ct,
        }
    }
}

fn wrap_info(epoch: EpochId) -> Vec<u8> {
    [labels::EPOCH_WRAP_INFO, &epoch.0[..]].concat()
}

fn wrap_aad(recording_id: RecordingId, device_key: &VerifyKey, segment_index: u32) -> Vec<u8> {
    [
        &recording_id.0[..],
        &device_key.to_bytes(),
        &segment_index.to_be_bytes(),
    ]
    .concat()
}

/// A retention epoch's secret key, held in the vault's keystore only.
/// Destroying every copy makes all footage of the epoch unrecoverable.
#[derive(Clone)]
pub struct EpochSecret {
    /// Epoch identifier.
    pub epoch_id: EpochId,
    kem: KemSecretKey,
}

impl core::fmt::Debug for EpochSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "EpochSecret(epoch {}, secret <redacted>)", self.epoch_id)
    }
}

impl EpochSecret {
    /// A fresh epoch key.
    pub fn generate(epoch_id: EpochId, rng: &mut impl rand_core::CryptoRng) -> Self {
        EpochSecret {
            epoch_id,
            kem: KemSecretKey::generate(rng),
        }
    }
    /// The public key with its retention class and validity period.
    pub fn public(&self, retention_class: &str, not_before: i64, not_after: i64) -> EpochPublic {
        EpochPublic {
            epoch_id: self.epoch_id,
            retention_class: retention_class.to_owned(),
            not_before,
            not_after,
            kem_key: self.kem.public_key(),
        }
    }
    /// Plaintext encoding, only ever stored in the keystore (locked file).
    pub fn to_secret_bytes(&self) -> SecretBytes {
        let mut w = Writer::with_preamble(magic::EPOCH_SECRET, VERSION, SUITE_V1);
        w.bytes(&self.epoch_id.0).bytes(self.kem.seed().expose());
        SecretBytes::new(w.into_vec())
    }
    /// Parse the keystore encoding.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(EPOCH_SECRET, bytes);
        r.preamble(magic::EPOCH_SECRET, VERSION, SUITE_V1)?;
        let epoch_id = EpochId(r.array("epoch_id")?);
        let kem = KemSecretKey::from_seed(Secret32::new(r.array("kem_seed")?));
        r.finish()?;
        Ok(EpochSecret { epoch_id, kem })
    }

    /// The X-Wing key, for the re-wrap of `b` to this epoch (§5.5).
    pub(crate) fn kem(&self) -> &KemSecretKey {
        &self.kem
    }
    /// Recover `b` of one segment.
    pub fn unwrap(
        &self,
        wrap: &EpochWrap,
        recording_id: RecordingId,
        device_key: &VerifyKey,
        segment_index: u32,
    ) -> Result<Secret32> {
        if wrap.epoch_id != self.epoch_id {
            return Err(Error::Malformed {
                what: EPOCH_WRAP,
                reason: "wrapped to another epoch",
            });
        }
        let pt = hpke_wrap::open(
            &self.kem,
            &wrap_info(self.epoch_id),
            &wrap_aad(recording_id, device_key, segment_index),
            &wrap.enc,
            &wrap.ct,
            EPOCH_WRAP,
        )?;
        Secret32::from_slice(pt.expose()).ok_or(Error::Malformed {
            what: EPOCH_WRAP,
            reason: "b is not 32 bytes",
        })
    }
}

/// One segment's `b`, HPKE-encrypted to the requester (§8.5).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReleaseEntry {
    /// The segment.
    pub segment: SegmentRef,
    /// HPKE encapsulated key.
    pub enc: Box<[u8; hpke_wrap::ENC_LEN]>,
    /// AES-256-GCM(b) ‖ tag.
    pub ct: [u8; 48],
}

/// The vault's release of epoch parts for an approved grant (§8.5).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EpochRelease {
    /// Position of the access request in the audit log.
    pub grant_log_index: u64,
    /// Hash of the signed access request.
    pub request_hash: [u8; 32],
    /// Fingerprint of the requester the entries are encrypted to.
    pub requester_fpr: Fingerprint,
    /// One entry per released segment.
    pub entries: Vec<ReleaseEntry>,
}

fn release_aad(request_hash: &[u8; 32], segment: SegmentRef) -> Vec<u8> {
    [
        &request_hash[..],
        &segment.recording.0,
        &segment.index.to_be_bytes(),
    ]
    .concat()
}

impl ReleaseEntry {
    /// Encrypt `b` to the requester's X-Wing key, taken from the signed request.
    pub fn seal(
        b: &Secret32,
        segment: SegmentRef,
        request_hash: &[u8; 32],
        requester_kem: &KemPublicKey,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Self {
        let (enc, ct) = hpke_wrap::seal(
            requester_kem,
            labels::EPOCH_RELEASE_INFO,
            &release_aad(request_hash, segment),
            b.expose(),
            rng,
        );
        let ct: [u8; 48] = ct
            .as_slice()
            .try_into()
            .expect("32-byte plaintext gives 48 bytes");
        ReleaseEntry { segment, enc, ct }
    }
}

impl EpochRelease {
    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::EPOCH_RELEASE, VERSION, SUITE_V1);
        w.u64(self.grant_log_index)
            .bytes(&self.request_hash)
            .bytes(&self.requester_fpr.0)
            .u32(self.entries.len() as u32);
        for e in &self.entries {
            w.bytes(&e.segment.recording.0)
                .u32(e.segment.index)
                .bytes(&e.enc[..])
                .bytes(&e.ct);
        }
        w.into_vec()
    }
    /// Parse.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(EPOCH_RELEASE, bytes);
        r.preamble(magic::EPOCH_RELEASE, VERSION, SUITE_V1)?;
        let grant_log_index = r.u64("grant_log_index")?;
        let request_hash = r.array("request_hash")?;
        let requester_fpr = Fingerprint(r.array("requester_fpr")?);
        let count = r.u32("count")? as usize;
        if count == 0 || count > MAX_RELEASE_ENTRIES {
            return Err(Error::Malformed {
                what: EPOCH_RELEASE,
                reason: "entry count outside 1..=65536",
            });
        }
        // Each entry is 1188 bytes: check before allocating.
        if r.remaining() < count * (16 + 4 + hpke_wrap::ENC_LEN + 48) {
            return Err(Error::Truncated {
                what: EPOCH_RELEASE,
                field: "entries",
            });
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let recording = RecordingId(r.array("recording_id")?);
            let index = r.u32("segment_index")?;
            let enc = Box::new(r.array("enc")?);
            let ct = r.array("ct")?;
            entries.push(ReleaseEntry {
                segment: SegmentRef { recording, index },
                enc,
                ct,
            });
        }
        r.finish()?;
        Ok(EpochRelease {
            grant_log_index,
            request_hash,
            requester_fpr,
            entries,
        })
    }

    /// Decrypt every entry with the requester's identity, after checking the
    /// release is for the expected grant and this requester.
    pub fn open(
        &self,
        requester: &PersonSecret,
        grant_log_index: u64,
        request_hash: &[u8; 32],
    ) -> Result<Vec<(SegmentRef, Secret32)>> {
        if self.grant_log_index != grant_log_index || &self.request_hash != request_hash {
            return Err(Error::Malformed {
                what: EPOCH_RELEASE,
                reason: "made for another grant",
            });
        }
        if self.requester_fpr != requester.public().fingerprint() {
            return Err(Error::Malformed {
                what: EPOCH_RELEASE,
                reason: "made for another requester",
            });
        }
        self.entries
            .iter()
            .map(|e| {
                let pt = hpke_wrap::open(
                    &requester.kem,
                    labels::EPOCH_RELEASE_INFO,
                    &release_aad(request_hash, e.segment),
                    &e.enc,
                    &e.ct,
                    EPOCH_RELEASE,
                )?;
                let b = Secret32::from_slice(pt.expose()).ok_or(Error::Malformed {
                    what: EPOCH_RELEASE,
                    reason: "b is not 32 bytes",
                })?;
                Ok((e.segment, b))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SignKey;

    #[test]
    fn wrap_unwrap_binds_segment_and_epoch() {
        let mut rng = crate::rng::os_rng();
        let sec = EpochSecret::generate(EpochId([7; 16]), &mut rng);
        let public = sec.public("bodycam-30d", 0, 86_400_000);
        assert_eq!(EpochPublic::from_bytes(&public.to_bytes()).unwrap(), public);
        let dev = SignKey::generate(&mut rng).verify_key();
        let rec = RecordingId([1; 16]);
        let b = Secret32::random(&mut rng);
        let w = public.wrap(&b, rec, &dev, 3, &mut rng);
        let mut enc = Writer::new();
        w.encode(&mut enc);
        assert_eq!(enc.as_slice().len(), EPOCH_WRAP_LEN);
        assert_eq!(sec.unwrap(&w, rec, &dev, 3).unwrap(), b);
        // Moved to another segment index or recording: refused.
        assert!(sec.unwrap(&w, rec, &dev, 4).is_err());
        assert!(sec.unwrap(&w, RecordingId([2; 16]), &dev, 3).is_err());
        // Another epoch's key cannot unwrap.
        let other = EpochSecret::generate(EpochId([7; 16]), &mut rng);
        assert!(other.unwrap(&w, rec, &dev, 3).is_err());
        let back = EpochSecret::from_secret_bytes(sec.to_secret_bytes().expose()).unwrap();
        assert_eq!(back.unwrap(&w, rec, &dev, 3).unwrap(), b);
        assert!(!format!("{sec:?}").contains(&hex::encode(sec.kem.seed().expose())));
    }

    #[test]
    fn release_goes_to_the_requester_only() {
        let mut rng = crate::rng::os_rng();
        let alice = PersonSecret::generate("alice", &mut rng);
        let mallory = PersonSecret::generate("mallory", &mut rng);
        let seg = SegmentRef {
            recording: RecordingId([3; 16]),
            index: 0,
        };
        let b = Secret32::random(&mut rng);
        let h = [9u8; 32];
        let rel = EpochRelease {
            grant_log_index: 5,
            request_hash: h,
            requester_fpr: alice.public().fingerprint(),
            entries: vec![ReleaseEntry::seal(
                &b,
                seg,
                &h,
                &alice.public().kem_key,
                &mut rng,
            )],
        };
        let rel = EpochRelease::from_bytes(&rel.to_bytes()).unwrap();
        let got = rel.open(&alice, 5, &h).unwrap();
        assert_eq!(got[0].0, seg);
        assert_eq!(got[0].1, b);
        assert!(rel.open(&mallory, 5, &h).is_err());
        assert!(rel.open(&alice, 6, &h).is_err());
        let mut forged = rel.clone();
        forged.requester_fpr = mallory.public().fingerprint();
        assert!(forged.open(&mallory, 5, &h).is_err());
    }
}
