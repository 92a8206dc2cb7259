//! A person's signed decision on an access request (docs/format.md §8.6):
//! a custodian's approval or denial, or a requester's report of what it
//! opened. The vault logs each one whole inside its audit entry (§12), so
//! whoever reads the log checks who decided what, and a vault cannot log
//! an approval nobody made.
//!
//! The statement names the vault it was made for, so it cannot be replayed
//! into another vault's log, and the request by hash and log index, so it
//! cannot be counted for another request.

use crate::error::{Error, Result};
use crate::identity::{SignKey, VerifyKey};
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::wire::{Reader, Writer};

const WHAT: &str = "decision";

/// Longest reason a denial gives (and so the longest free text a log
/// entry carries, `audit::MAX_REASON_LEN`).
pub const MAX_REASON_LEN: usize = 4096;

/// What a person decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A custodian approves the request (phase 1 of §8.6).
    Approve,
    /// A custodian denies it; the request ends.
    Deny,
    /// The requester reports the segments it opened.
    Opened,
}

impl Verdict {
    fn to_u8(self) -> u8 {
        match self {
            Verdict::Approve => 1,
            Verdict::Deny => 2,
            Verdict::Opened => 3,
        }
    }

    fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            1 => Verdict::Approve,
            2 => Verdict::Deny,
            3 => Verdict::Opened,
            _ => {
                return Err(Error::Malformed {
                    what: WHAT,
                    reason: "verdict is 1 (approve), 2 (deny) or 3 (opened)",
                });
            }
        })
    }
}

/// What a decision says, before it is signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionContent {
    /// Approve, deny or opened.
    pub verdict: Verdict,
    /// Identity of the vault whose log it is for (its log key's identity,
    /// as in the signed HTTP request, docs/vault.md §2).
    pub vault: [u8; 32],
    /// The request decided on.
    pub request_hash: [u8; 32],
    /// Log index of the request's `access-requested` entry.
    pub request_index: u64,
    /// The person's 1-based custodian index in the group descriptor
    /// (approve, deny); 0 for the requester (opened).
    pub custodian: u16,
    /// Segments: the scope as the custodian resolved it (approve), the
    /// segments opened (opened), 0 (deny).
    pub segments: u32,
    /// The person's clock (UTC ms) when deciding.
    pub time_ms: i64,
    /// Why (deny: 1 … 4096 bytes); empty otherwise.
    pub reason: String,
}

impl DecisionContent {
    fn validate(&self) -> Result<()> {
        let ok = match self.verdict {
            Verdict::Approve => self.custodian != 0 && self.segments != 0 && self.reason.is_empty(),
            Verdict::Deny => {
                self.custodian != 0
                    && self.segments == 0
                    && !self.reason.trim().is_empty()
                    && self.reason.len() <= MAX_REASON_LEN
            }
            Verdict::Opened => self.custodian == 0 && self.reason.is_empty(),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Malformed {
                what: WHAT,
                reason: "an approval names a custodian and at least one segment and no reason; a denial a custodian, no segments and a reason of 1 … 4096 bytes; an opened report no custodian and no reason",
            })
        }
    }

    fn write(&self, w: &mut Writer, person: &VerifyKey) {
        w.u8(self.verdict.to_u8())
            .bytes(&self.vault)
            .bytes(&self.request_hash)
            .u64(self.request_index)
            .u16(self.custodian)
            .u32(self.segments)
            .i64(self.time_ms)
            .string(&self.reason)
            .bytes(&person.to_bytes());
    }

    /// Sign as `person`.
    pub fn sign(self, person: &SignKey) -> Result<Decision> {
        self.validate()?;
        let person_key = person.verify_key();
        let mut w = Writer::with_preamble(magic::DECISION, VERSION, SUITE_V1);
        self.write(&mut w, &person_key);
        let signature = person.sign(labels::DECISION_SIG, w.as_slice());
        Ok(Decision {
            content: self,
            person: person_key,
            signature,
        })
    }
}

/// A decision whose signature has been verified (or which this process
/// signed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    content: DecisionContent,
    person: VerifyKey,
    signature: [u8; 64],
}

impl Decision {
    /// What was decided.
    pub fn content(&self) -> &DecisionContent {
        &self.content
    }

    /// Who decided (the signer).
    pub fn person(&self) -> &VerifyKey {
        &self.person
    }

    /// The signed bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::DECISION, VERSION, SUITE_V1);
        self.content.write(&mut w, &self.person);
        w.bytes(&self.signature);
        w.into_vec()
    }

    /// Parse and verify the person's signature (strict Ed25519, §1.4).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(WHAT, bytes);
        r.preamble(magic::DECISION, VERSION, SUITE_V1)?;
        let verdict = Verdict::from_u8(r.u8("verdict")?)?;
        let content = DecisionContent {
            verdict,
            vault: r.array("vault")?,
            request_hash: r.array("request_hash")?,
            request_index: r.u64("request_index")?,
            custodian: r.u16("custodian")?,
            segments: r.u32("segments")?,
            time_ms: r.i64("time_ms")?,
            reason: r.string("reason", MAX_REASON_LEN)?.to_owned(),
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
        person.verify(labels::DECISION_SIG, signed, &signature, WHAT)?;
        Ok(Decision {
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

    fn approval() -> DecisionContent {
        DecisionContent {
            verdict: Verdict::Approve,
            vault: [7; 32],
            request_hash: [1; 32],
            request_index: 42,
            custodian: 2,
            segments: 6,
            time_ms: 1_780_000_000_000,
            reason: String::new(),
        }
    }

    #[test]
    fn a_decision_round_trips_and_any_changed_byte_is_refused() {
        let key = SignKey::generate(&mut os_rng());
        let d = approval().sign(&key).unwrap();
        let bytes = d.to_bytes();
        assert_eq!(Decision::from_bytes(&bytes).unwrap(), d);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(Decision::from_bytes(&b).is_err(), "byte {i} changed");
        }
        assert!(Decision::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn shapes_that_say_nothing_are_refused() {
        let key = SignKey::generate(&mut os_rng());
        let mut c = approval();
        c.segments = 0;
        assert!(c.sign(&key).is_err());
        let mut c = approval();
        c.verdict = Verdict::Deny;
        c.segments = 0;
        assert!(c.clone().sign(&key).is_err(), "a denial needs a reason");
        c.reason = "no legal basis".into();
        c.sign(&key).unwrap();
    }
}
