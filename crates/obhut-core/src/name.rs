//! Display names (docs/format.md §3.5): a signed claim that a key — a
//! person's identity signing key or a device key — goes by a name.
//!
//! The name inside a public identity (§3.1–3.2) is a label nobody signed:
//! whoever relays the identity file, or the vault that shows it back, could
//! change it. A name claim is signed, so a reader can tell a name the key's
//! holder (or a signer the reader trusts) chose from one the operator put
//! there. v1 readers show a claim as the subject's name only when its
//! signer is the subject itself, or a key the reader trusts to name others
//! (custodians of the group it works with); anything else is "unverified".
//!
//! Names are untrusted text all the same: the parser refuses control and
//! bidirectional-formatting characters, so a name cannot move a terminal's
//! cursor or reorder what is printed after it, and bounds their length.

use crate::error::{Error, Result};
use crate::identity::{SignKey, VerifyKey};
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::wire::{Reader, Writer};

const WHAT: &str = "name claim";

/// Longest display name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 64;

/// What a claim names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A person, by identity signing key.
    Person,
    /// A device, by device key.
    Device,
}

impl Subject {
    fn to_u8(self) -> u8 {
        match self {
            Subject::Person => 1,
            Subject::Device => 2,
        }
    }

    fn from_u8(v: u8) -> Result<Self> {
        match v {
            1 => Ok(Subject::Person),
            2 => Ok(Subject::Device),
            _ => Err(Error::Malformed {
                what: WHAT,
                reason: "subject_kind is neither 1 (person) nor 2 (device)",
            }),
        }
    }

    /// "person" or "device".
    pub fn word(self) -> &'static str {
        match self {
            Subject::Person => "person",
            Subject::Device => "device",
        }
    }
}

/// Whether `name` may be a display name: 1 to [`MAX_NAME_LEN`] bytes, no
/// control characters (C0, DEL, C1), no bidirectional formatting or
/// zero-width characters, no line or paragraph separators, and no
/// whitespace at either end (so two names that print alike are alike).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.trim() == name
        && name.chars().all(|c| !c.is_control() && !invisible(c))
}

/// Characters that change how text around them is shown without showing
/// themselves (Unicode's bidi controls, zero-width and separator marks).
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}'
        | '\u{061C}')
}

/// A name claim whose signature has been verified (or which this process
/// signed). Who may sign for whom is the reader's decision
/// ([`NameClaim::self_signed`], [`NameClaim::signer`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameClaim {
    kind: Subject,
    subject: VerifyKey,
    name: String,
    time_ms: i64,
    signer: VerifyKey,
    signature: [u8; 64],
}

fn write_body(
    w: &mut Writer,
    kind: Subject,
    subject: &VerifyKey,
    name: &str,
    time_ms: i64,
    signer: &VerifyKey,
) {
    w.u8(kind.to_u8())
        .bytes(&subject.to_bytes())
        .string(name)
        .i64(time_ms)
        .bytes(&signer.to_bytes());
}

fn bad_name() -> Error {
    Error::Malformed {
        what: WHAT,
        reason: "a display name has 1 … 64 bytes, no control, bidirectional-formatting or zero-width characters and no surrounding whitespace",
    }
}

impl NameClaim {
    /// `signer` claims that `subject` (of `kind`) goes by `name`, at
    /// `time_ms` (the signer's clock, UTC ms; the newest claim wins).
    pub fn sign(
        kind: Subject,
        subject: &VerifyKey,
        name: &str,
        time_ms: i64,
        signer: &SignKey,
    ) -> Result<Self> {
        if !valid_name(name) {
            return Err(bad_name());
        }
        let signer_key = signer.verify_key();
        let mut w = Writer::with_preamble(magic::NAME_CLAIM, VERSION, SUITE_V1);
        write_body(&mut w, kind, subject, name, time_ms, &signer_key);
        let signature = signer.sign(labels::NAME_CLAIM_SIG, w.as_slice());
        Ok(NameClaim {
            kind,
            subject: *subject,
            name: name.to_owned(),
            time_ms,
            signer: signer_key,
            signature,
        })
    }

    /// A key naming itself.
    pub fn sign_own(kind: Subject, name: &str, time_ms: i64, key: &SignKey) -> Result<Self> {
        Self::sign(kind, &key.verify_key(), name, time_ms, key)
    }

    /// Person or device.
    pub fn kind(&self) -> Subject {
        self.kind
    }

    /// The key named.
    pub fn subject(&self) -> &VerifyKey {
        &self.subject
    }

    /// The name (valid by [`valid_name`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When it was signed (the signer's clock, UTC ms).
    pub fn time_ms(&self) -> i64 {
        self.time_ms
    }

    /// Who signed it.
    pub fn signer(&self) -> &VerifyKey {
        &self.signer
    }

    /// Whether the subject named itself.
    pub fn self_signed(&self) -> bool {
        self.signer == self.subject
    }

    /// The signed bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::NAME_CLAIM, VERSION, SUITE_V1);
        write_body(
            &mut w,
            self.kind,
            &self.subject,
            &self.name,
            self.time_ms,
            &self.signer,
        );
        w.bytes(&self.signature);
        w.into_vec()
    }

    /// Parse and verify the signer's signature (strict Ed25519, §1.4).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(WHAT, bytes);
        r.preamble(magic::NAME_CLAIM, VERSION, SUITE_V1)?;
        let kind = Subject::from_u8(r.u8("subject_kind")?)?;
        let subject = VerifyKey::read(&mut r, "subject")?;
        let name = r.string("name", MAX_NAME_LEN)?.to_owned();
        let time_ms = r.i64("time_ms")?;
        let signer = VerifyKey::read(&mut r, "signer")?;
        let signed_len = r.position();
        let signature = r.array::<64>("signature")?;
        r.finish()?;
        if !valid_name(&name) {
            return Err(bad_name());
        }
        let signed = bytes.get(..signed_len).ok_or(Error::Malformed {
            what: WHAT,
            reason: "shorter than its own fields",
        })?;
        signer.verify(labels::NAME_CLAIM_SIG, signed, &signature, WHAT)?;
        Ok(NameClaim {
            kind,
            subject,
            name,
            time_ms,
            signer,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::os_rng;

    #[test]
    fn a_claim_round_trips_and_any_changed_byte_is_refused() {
        let key = SignKey::generate(&mut os_rng());
        let c = NameClaim::sign_own(Subject::Person, "Anna Weiß", 1_780_000_000_000, &key).unwrap();
        assert!(c.self_signed());
        let bytes = c.to_bytes();
        assert_eq!(NameClaim::from_bytes(&bytes).unwrap(), c);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(NameClaim::from_bytes(&b).is_err(), "byte {i} changed");
        }
        assert!(NameClaim::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn names_that_would_fool_a_terminal_or_a_reader_are_refused() {
        let key = SignKey::generate(&mut os_rng());
        for bad in [
            "",
            " Anna",
            "Anna\n",
            "Anna\x1b[2J",
            "Anna\u{202E}nimda",
            "An\u{200B}na",
            "Anna\u{85}",
            &"x".repeat(MAX_NAME_LEN + 1),
        ] {
            assert!(!valid_name(bad), "{bad:?}");
            assert!(NameClaim::sign_own(Subject::Person, bad, 0, &key).is_err());
        }
        assert!(valid_name("Kamera 7 – Wache Süd"));
        assert!(valid_name(&"ß".repeat(MAX_NAME_LEN / 2)));
    }

    #[test]
    fn another_signer_is_not_self_signed() {
        let device = SignKey::generate(&mut os_rng());
        let admin = SignKey::generate(&mut os_rng());
        let c = NameClaim::sign(Subject::Device, &device.verify_key(), "Cam 7", 5, &admin).unwrap();
        assert!(!c.self_signed());
        let back = NameClaim::from_bytes(&c.to_bytes()).unwrap();
        assert_eq!(back.signer(), &admin.verify_key());
        assert_eq!(back.kind(), Subject::Device);
    }
}
