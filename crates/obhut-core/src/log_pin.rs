//! The log pin (docs/format.md §4.4): which audit log a custody group's
//! clients trust, and which witnesses must cosign its checkpoints, signed
//! by at least k of the group's custodians like the descriptor itself.
//!
//! Without it a client trusts whatever `--log-key` it was handed on first
//! use; a vault that hands out its own key (or a second log's) to some
//! clients forks the log for them. With the pin, the key and the witness
//! quorum come from the same k custodians whose descriptor fingerprint is
//! checked out of band, and a client refuses any other log and any
//! checkpoint without the required cosignatures.

use crate::error::{Error, Result};
use crate::group::PinnedGroup;
use crate::identity::SignKey;
use crate::ids::GroupId;
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::wire::{Reader, Writer};

const WHAT: &str = "log pin";
/// Longest verifier key (C2SP vkey text).
pub const MAX_VKEY_LEN: usize = 1024;
/// Most witnesses a pin names.
pub const MAX_WITNESSES: usize = 32;

/// What a log pin says, before the custodians sign it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPinContent {
    /// The custody group it pins the log for.
    pub group_id: GroupId,
    /// The descriptor generation whose custodians sign it.
    pub generation: u32,
    /// The log's C2SP signed-note verifier key (`origin+id+base64`).
    pub log_key: String,
    /// Witnesses' verifier keys.
    pub witnesses: Vec<String>,
    /// How many of them must cosign a checkpoint (0 without witnesses).
    pub witnesses_required: u16,
}

impl LogPinContent {
    fn validate(&self) -> Result<()> {
        let bad = |reason| Err(Error::Malformed { what: WHAT, reason });
        if self.log_key.is_empty() || self.log_key.len() > MAX_VKEY_LEN {
            return bad("the log key is 1 … 1024 bytes");
        }
        if self.witnesses.len() > MAX_WITNESSES {
            return bad("a pin names at most 32 witnesses");
        }
        if self
            .witnesses
            .iter()
            .any(|w| w.is_empty() || w.len() > MAX_VKEY_LEN || *w == self.log_key)
        {
            return bad("a witness key is 1 … 1024 bytes and not the log's key");
        }
        let mut sorted = self.witnesses.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != self.witnesses.len() {
            return bad("a witness is named twice");
        }
        let n = self.witnesses.len();
        let required = usize::from(self.witnesses_required);
        if (n == 0 && required != 0) || (n > 0 && (required == 0 || required > n)) {
            return bad(
                "witnesses_required is 1 … the number of witnesses, or 0 without witnesses",
            );
        }
        Ok(())
    }

    fn signed_body(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::LOG_PIN, VERSION, SUITE_V1);
        w.bytes(&self.group_id.0)
            .u32(self.generation)
            .string(&self.log_key)
            // validate() bounds the count to 32.
            .u16(self.witnesses.len() as u16);
        for k in &self.witnesses {
            w.string(k);
        }
        w.u16(self.witnesses_required);
        w.into_vec()
    }
}

/// A log pin with the signatures it carries (not yet checked against a
/// group: see [`LogPin::verify`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPin {
    content: LogPinContent,
    /// (custodian index, signature), strictly increasing by index.
    signatures: Vec<(u16, [u8; 64])>,
}

impl LogPin {
    /// An unsigned pin.
    pub fn new(content: LogPinContent) -> Result<Self> {
        content.validate()?;
        Ok(LogPin {
            content,
            signatures: Vec::new(),
        })
    }

    /// What it pins.
    pub fn content(&self) -> &LogPinContent {
        &self.content
    }

    /// Custodian indices that signed, in order.
    pub fn signers(&self) -> impl Iterator<Item = u16> + '_ {
        self.signatures.iter().map(|(i, _)| *i)
    }

    /// Sign as custodian `index` of `group` (replacing an earlier
    /// signature of the same custodian).
    pub fn sign(&mut self, group: &PinnedGroup, index: u16, key: &SignKey) -> Result<()> {
        self.check_group(group)?;
        let listed = group
            .custodian(index)
            .ok_or(Error::DescriptorSignature { custodian: index })?;
        if listed.sign_key != key.verify_key() {
            return Err(Error::Custody(
                "this identity is not the custodian listed at that index",
            ));
        }
        let sig = key.sign(labels::LOG_PIN_SIG, &self.content.signed_body());
        match self.signatures.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(at) => self.signatures[at].1 = sig,
            Err(at) => self.signatures.insert(at, (index, sig)),
        }
        Ok(())
    }

    fn check_group(&self, group: &PinnedGroup) -> Result<()> {
        if self.content.group_id != group.group_id()
            || self.content.generation != group.generation()
        {
            return Err(Error::Custody(
                "the log pin is for another custody group or generation",
            ));
        }
        Ok(())
    }

    /// Check the pin against the pinned group: same group and generation,
    /// every carried signature valid (one that is not names its custodian),
    /// and at least k of them.
    pub fn verify(&self, group: &PinnedGroup) -> Result<&LogPinContent> {
        self.check_group(group)?;
        let body = self.content.signed_body();
        for (index, sig) in &self.signatures {
            let c = group
                .custodian(*index)
                .ok_or(Error::DescriptorSignature { custodian: *index })?;
            c.sign_key
                .verify(labels::LOG_PIN_SIG, &body, sig, WHAT)
                .map_err(|_| Error::DescriptorSignature { custodian: *index })?;
        }
        let k = group.threshold();
        if self.signatures.len() < usize::from(k) {
            return Err(Error::NotEnoughSignatures {
                needed: k,
                have: self.signatures.len() as u16,
            });
        }
        Ok(&self.content)
    }

    /// The encoding: the signed body, then `sig_count u16` and each
    /// `index u16 ‖ signature [64]`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.content.signed_body();
        let mut w = Writer::new();
        w.u16(self.signatures.len() as u16);
        for (i, s) in &self.signatures {
            w.u16(*i).bytes(s);
        }
        b.extend_from_slice(w.as_slice());
        b
    }

    /// Parse (signatures are checked by [`LogPin::verify`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(WHAT, bytes);
        r.preamble(magic::LOG_PIN, VERSION, SUITE_V1)?;
        let group_id = GroupId(r.array("group_id")?);
        let generation = r.u32("generation")?;
        let log_key = r.string("log_key", MAX_VKEY_LEN)?.to_owned();
        let n = usize::from(r.u16("witness_count")?);
        if n > MAX_WITNESSES {
            return Err(Error::Malformed {
                what: WHAT,
                reason: "a pin names at most 32 witnesses",
            });
        }
        let mut witnesses = Vec::with_capacity(n);
        for _ in 0..n {
            witnesses.push(r.string("witness", MAX_VKEY_LEN)?.to_owned());
        }
        let witnesses_required = r.u16("witnesses_required")?;
        let content = LogPinContent {
            group_id,
            generation,
            log_key,
            witnesses,
            witnesses_required,
        };
        content.validate()?;
        let count = usize::from(r.u16("sig_count")?);
        if count > 255 {
            return Err(Error::Malformed {
                what: WHAT,
                reason: "at most 255 signatures",
            });
        }
        let mut signatures: Vec<(u16, [u8; 64])> = Vec::with_capacity(count);
        for _ in 0..count {
            let index = r.u16("signer")?;
            let sig = r.array::<64>("signature")?;
            if signatures.last().is_some_and(|(i, _)| *i >= index) {
                return Err(Error::Malformed {
                    what: WHAT,
                    reason: "signatures are in strictly increasing custodian order",
                });
            }
            signatures.push((index, sig));
        }
        r.finish()?;
        Ok(LogPin {
            content,
            signatures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::PersonSecret;

    fn group_of(k: u16, n: u16) -> (PinnedGroup, Vec<PersonSecret>) {
        let mut rng = crate::rng::os_rng();
        let people: Vec<PersonSecret> = (0..n)
            .map(|i| PersonSecret::generate(&format!("custodian {i}"), &mut rng))
            .collect();
        let publics: Vec<_> = people.iter().map(PersonSecret::public).collect();
        let (mut d, _) = crate::group::deal("test", k, n, &publics, &mut rng).unwrap();
        for (i, p) in people.iter().enumerate() {
            let sig = p.sign.sign(labels::GROUP_DESCRIPTOR_SIG, &d.signed_body());
            d.add_signature(i as u16 + 1, sig).unwrap();
        }
        (d.pin().unwrap(), people)
    }

    #[test]
    fn k_custodians_pin_a_log_and_nothing_less_or_altered_verifies() {
        let (group, custodians) = group_of(2, 3);
        let content = LogPinContent {
            group_id: group.group_id(),
            generation: group.generation(),
            log_key: "vault.example/log+01020304+AAAA".into(),
            witnesses: vec!["dpo.example/witness+05060708+BBBB".into()],
            witnesses_required: 1,
        };
        let mut pin = LogPin::new(content.clone()).unwrap();
        pin.sign(&group, 1, &custodians[0].sign).unwrap();
        assert!(matches!(
            pin.verify(&group),
            Err(Error::NotEnoughSignatures { needed: 2, have: 1 })
        ));
        pin.sign(&group, 3, &custodians[2].sign).unwrap();
        let back = LogPin::from_bytes(&pin.to_bytes()).unwrap();
        assert_eq!(back.verify(&group).unwrap(), &content);
        // Another log key under the same signatures.
        let mut bytes = pin.to_bytes();
        let at = bytes.windows(5).position(|w| w == b"vault").unwrap();
        bytes[at] = b'w';
        assert!(matches!(
            LogPin::from_bytes(&bytes).unwrap().verify(&group),
            Err(Error::DescriptorSignature { custodian: 1 })
        ));
        // A custodian signing at another's index.
        assert!(pin.sign(&group, 2, &custodians[0].sign).is_err());
        for cut in 0..pin.to_bytes().len() {
            assert!(LogPin::from_bytes(&pin.to_bytes()[..cut]).is_err());
        }
    }
}
