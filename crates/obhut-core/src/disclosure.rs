//! A requester's signed disclosure of an export bundle (docs/bundle.md §5,
//! docs/format.md §12 kind 26): which grant it came from, how many
//! segments it carries, to whom it was handed (the recipients' age keys,
//! or `plaintext`), and the SHA-256 of the bundle's content listing. The
//! vault logs it whole, so the log shows every copy that left, and a
//! bundle shows, through its own inclusion proof, that it was logged.
//!
//! Like a decision (§8.6) it names the vault, so it cannot be replayed
//! into another vault's log, and the request by hash and log index.

use crate::error::{Error, Result};
use crate::identity::{SignKey, VerifyKey};
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::wire::{Reader, Writer};

const WHAT: &str = "disclosure";

/// Most recipients one disclosure names.
pub const MAX_RECIPIENTS: usize = 16;
/// Longest recipient (an age X25519 recipient is 62 characters).
pub const MAX_RECIPIENT_LEN: usize = 256;
/// The recipient of a bundle whose clips and keys are not encrypted.
pub const PLAINTEXT: &str = "plaintext";

/// What a disclosure says, before it is signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisclosureContent {
    /// Identity of the vault whose log it is for.
    pub vault: [u8; 32],
    /// The grant's request.
    pub request_hash: [u8; 32],
    /// Log index of the request's `access-requested` entry.
    pub request_index: u64,
    /// Segments whose keys the bundle carries.
    pub segments: u32,
    /// The requester's clock (UTC ms).
    pub time_ms: i64,
    /// Who can read it: age recipients (`age1…`), or [`PLAINTEXT`] alone.
    pub recipients: Vec<String>,
    /// SHA-256 of the bundle's content listing (docs/bundle.md §3).
    pub content_digest: [u8; 32],
}

impl DisclosureContent {
    fn validate(&self) -> Result<()> {
        let ok = !self.recipients.is_empty()
            && self.recipients.len() <= MAX_RECIPIENTS
            && self.segments != 0
            && self.recipients.iter().all(|r| {
                !r.is_empty()
                    && r.len() <= MAX_RECIPIENT_LEN
                    && r.bytes().all(|b| b.is_ascii_graphic())
            })
            && (self.recipients.len() == 1 || self.recipients.iter().all(|r| r != PLAINTEXT));
        if ok {
            Ok(())
        } else {
            Err(Error::Malformed {
                what: WHAT,
                reason: "a disclosure names 1 … 16 recipients (printable ASCII, at most 256 bytes each; `plaintext` only alone) and at least one segment",
            })
        }
    }

    fn write(&self, w: &mut Writer, person: &VerifyKey) {
        w.bytes(&self.vault)
            .bytes(&self.request_hash)
            .u64(self.request_index)
            .u32(self.segments)
            .i64(self.time_ms);
        // At most MAX_RECIPIENTS (validated before signing and after parsing).
        w.u16(u16::try_from(self.recipients.len()).unwrap_or(u16::MAX));
        for r in &self.recipients {
            w.string(r);
        }
        w.bytes(&self.content_digest).bytes(&person.to_bytes());
    }

    /// Sign as `person`.
    pub fn sign(self, person: &SignKey) -> Result<Disclosure> {
        self.validate()?;
        let person_key = person.verify_key();
        let mut w = Writer::with_preamble(magic::DISCLOSURE, VERSION, SUITE_V1);
        self.write(&mut w, &person_key);
        let signature = person.sign(labels::DISCLOSURE_SIG, w.as_slice());
        Ok(Disclosure {
            content: self,
            person: person_key,
            signature,
        })
    }
}

/// A disclosure whose signature has been verified (or which this process
/// signed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disclosure {
    content: DisclosureContent,
    person: VerifyKey,
    signature: [u8; 64],
}

impl Disclosure {
    /// What was disclosed.
    pub fn content(&self) -> &DisclosureContent {
        &self.content
    }

    /// Who disclosed it (the signer).
    pub fn person(&self) -> &VerifyKey {
        &self.person
    }

    /// The signed bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::DISCLOSURE, VERSION, SUITE_V1);
        self.content.write(&mut w, &self.person);
        w.bytes(&self.signature);
        w.into_vec()
    }

    /// Parse and verify the person's signature (strict Ed25519, §1.4).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(WHAT, bytes);
        r.preamble(magic::DISCLOSURE, VERSION, SUITE_V1)?;
        let vault = r.array("vault")?;
        let request_hash = r.array("request_hash")?;
        let request_index = r.u64("request_index")?;
        let segments = r.u32("segments")?;
        let time_ms = r.i64("time_ms")?;
        let n = usize::from(r.u16("recipients")?);
        if n > MAX_RECIPIENTS {
            return Err(Error::Malformed {
                what: WHAT,
                reason: "more than 16 recipients",
            });
        }
        let mut recipients = Vec::with_capacity(n);
        for _ in 0..n {
            recipients.push(r.string("recipient", MAX_RECIPIENT_LEN)?.to_owned());
        }
        let content = DisclosureContent {
            vault,
            request_hash,
            request_index,
            segments,
            time_ms,
            recipients,
            content_digest: r.array("content_digest")?,
        };
        let person = VerifyKey::read(&mut r, "person_key")?;
        let signed_len = r.position();
        let signature = r.array::<64>("signature")?;
        r.finish()?;
        content.validate()?;
        let signed = bytes.get(..signed_len).ok_or(Error::Malformed {
            what: WHAT,
            reason: "shorter than its own fields",
        })?;
        person.verify(labels::DISCLOSURE_SIG, signed, &signature, WHAT)?;
        Ok(Disclosure {
            content,
            person,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::os_rng;

    fn content() -> DisclosureContent {
        DisclosureContent {
            vault: [7; 32],
            request_hash: [1; 32],
            request_index: 42,
            segments: 6,
            time_ms: 1_780_000_000_000,
            recipients: vec![
                "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".into(),
            ],
            content_digest: [9; 32],
        }
    }

    #[test]
    fn a_disclosure_round_trips_and_any_changed_byte_is_refused() {
        let key = SignKey::generate(&mut os_rng());
        let d = content().sign(&key).unwrap();
        let bytes = d.to_bytes();
        assert_eq!(Disclosure::from_bytes(&bytes).unwrap(), d);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(Disclosure::from_bytes(&b).is_err(), "byte {i} changed");
        }
        assert!(Disclosure::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn shapes_that_say_nothing_are_refused() {
        let key = SignKey::generate(&mut os_rng());
        let mut c = content();
        c.recipients.clear();
        assert!(c.sign(&key).is_err(), "no recipient");
        let mut c = content();
        c.recipients.push(PLAINTEXT.into());
        assert!(c.sign(&key).is_err(), "plaintext beside a key");
        let mut c = content();
        c.segments = 0;
        assert!(c.sign(&key).is_err());
        let mut c = content();
        c.recipients = vec!["a b".into()];
        assert!(c.sign(&key).is_err(), "a space");
    }
}
