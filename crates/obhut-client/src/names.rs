//! Display names beside fingerprints (docs/format.md §3.5, docs/vault.md
//! §11): the vault's name claims for the keys a command is about to show,
//! each checked here before it is shown.
//!
//! The vault relays names; it does not vouch for them. A claim counts only
//! if its signature verifies, it names the key asked about, and its signer
//! is that key itself (or a key the caller trusts to name others, such as
//! a custody group's custodians). Anything else — a claim signed by another
//! key, as an operator substituting a name would have to make, or bytes
//! that do not parse — is shown as "name not verified", never as a name.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::names::{MAX_KEYS, NamesResponse};
use obhut_core::identity::VerifyKey;
use obhut_core::name::NameClaim;

use crate::error::{Endpoint, Error, Result};
use crate::reader::Reader;

/// What is known of one key's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Name {
    /// A claim signed by the key itself (or a trusted signer).
    Verified(String),
    /// The vault served something for this key that does not count.
    Unverified,
}

/// The names of the keys a command shows, checked.
#[derive(Clone, Debug, Default)]
pub struct Names {
    by_key: BTreeMap<[u8; 32], Name>,
    /// The claims behind the verified names, as served: an export carries
    /// them so that its verifier checks the same names offline.
    claims: BTreeMap<[u8; 32], Vec<u8>>,
}

impl Names {
    /// No names: every key is shown by its fingerprint alone.
    pub fn none() -> Self {
        Names::default()
    }

    /// Check `claims` (key → claim bytes, as served): `trusted` are the
    /// keys allowed to name keys other than their own.
    pub fn check<'a>(
        claims: impl IntoIterator<Item = ([u8; 32], &'a [u8])>,
        trusted: &[VerifyKey],
    ) -> Self {
        let mut names = Names::default();
        for (key, bytes) in claims {
            let name = judge(key, bytes, trusted);
            if matches!(name, Name::Verified(_)) {
                names.claims.insert(key, bytes.to_vec());
            }
            names.by_key.insert(key, name);
        }
        names
    }

    /// The claim bytes of each verified name, by key.
    pub fn verified_claims(&self) -> &BTreeMap<[u8; 32], Vec<u8>> {
        &self.claims
    }

    /// Add `claim` if it is a verified name (self-signed or by a key in
    /// `trusted`) for a key not named yet; whether it was added.
    pub fn add_if_unnamed(&mut self, claim: &[u8], trusted: &[VerifyKey]) -> bool {
        let Ok(c) = NameClaim::from_bytes(claim) else {
            return false;
        };
        let key = c.subject().to_bytes();
        if matches!(self.by_key.get(&key), Some(Name::Verified(_))) {
            return false;
        }
        let name = judge(key, claim, trusted);
        let added = matches!(name, Name::Verified(_));
        if added {
            self.claims.insert(key, claim.to_vec());
            self.by_key.insert(key, name);
        }
        added
    }

    /// `GET /v1/names` for `keys` as `reader`'s person, checked. A vault
    /// that does not serve names (older, or the route refused) gives none:
    /// fingerprints alone are what was shown before.
    pub fn fetch(reader: &Reader<'_>, keys: &[[u8; 32]], trusted: &[VerifyKey]) -> Result<Self> {
        let mut served: Vec<([u8; 32], Vec<u8>)> = Vec::new();
        let mut keys: Vec<[u8; 32]> = keys.to_vec();
        keys.sort_unstable();
        keys.dedup();
        for chunk in keys.chunks(MAX_KEYS) {
            let list: Vec<String> = chunk.iter().map(hex::encode).collect();
            let path = format!("/v1/names?keys={}", list.join(","));
            let (status, body) = reader.get_any(&path)?;
            match status {
                200 => {}
                404 | 403 => return Ok(Names::none()),
                _ => {
                    return Err(Error::Status {
                        endpoint: Endpoint::Reader,
                        target: format!("{}{path}", reader.base()),
                        status,
                        body: Some(
                            String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
                        ),
                    });
                }
            }
            let r: NamesResponse = serde_json::from_slice(&body).map_err(|e| Error::Json {
                method: "GET".into(),
                target: path.clone(),
                source: e,
            })?;
            for (k, v) in r.claims {
                let Some(key) = hex::decode(&k)
                    .ok()
                    .and_then(|k| <[u8; 32]>::try_from(k).ok())
                else {
                    continue;
                };
                // Only keys asked about: the vault cannot add names.
                if chunk.contains(&key) {
                    served.push((key, B64.decode(v).unwrap_or_default()));
                }
            }
        }
        Ok(Names::check(
            served.iter().map(|(k, b)| (*k, b.as_slice())),
            trusted,
        ))
    }

    /// [`Names::fetch`] for showing, not deciding: a vault that cannot
    /// answer leaves every key to its fingerprint (as before names
    /// existed) rather than stop the command.
    pub fn fetch_or_none(reader: &Reader<'_>, keys: &[[u8; 32]], trusted: &[VerifyKey]) -> Self {
        Names::fetch(reader, keys, trusted).unwrap_or_default()
    }

    /// What is known of `key`'s name.
    pub fn get(&self, key: &[u8; 32]) -> Option<&Name> {
        self.by_key.get(key)
    }

    /// `key` for people: "Name (ID)" with a verified name, "ID (name not
    /// verified)" with one that does not count, "ID" without; `id` is what
    /// the command shows for the key (its fingerprint or hex).
    pub fn label(&self, key: &[u8; 32], id: &str) -> String {
        match self.get(key) {
            // A verified name passed `valid_name`: no control, bidirectional
            // or zero-width characters, so it prints as it reads.
            Some(Name::Verified(n)) => format!("{n} ({id})"),
            Some(Name::Unverified) => format!("{id} (name not verified)"),
            None => id.to_owned(),
        }
    }
}

fn judge(key: [u8; 32], bytes: &[u8], trusted: &[VerifyKey]) -> Name {
    match NameClaim::from_bytes(bytes) {
        Ok(c)
            if c.subject().to_bytes() == key
                && (c.self_signed() || trusted.contains(c.signer())) =>
        {
            Name::Verified(c.name().to_owned())
        }
        _ => Name::Unverified,
    }
}

#[cfg(test)]
mod tests {
    use obhut_core::identity::SignKey;
    use obhut_core::name::Subject;
    use obhut_core::rng::os_rng;

    use super::*;

    #[test]
    fn only_a_self_signed_or_trusted_claim_for_the_key_asked_is_a_name() {
        let me = SignKey::generate(&mut os_rng());
        let other = SignKey::generate(&mut os_rng());
        let k = me.verify_key().to_bytes();
        let own = NameClaim::sign_own(Subject::Person, "Anna", 1, &me)
            .unwrap()
            .to_bytes();
        let forged = NameClaim::sign(Subject::Person, &me.verify_key(), "Mallory", 2, &other)
            .unwrap()
            .to_bytes();
        let n = Names::check([(k, own.as_slice())], &[]);
        assert_eq!(n.label(&k, "fp"), "Anna (fp)");
        let n = Names::check([(k, forged.as_slice())], &[]);
        assert_eq!(n.label(&k, "fp"), "fp (name not verified)");
        let n = Names::check([(k, forged.as_slice())], &[other.verify_key()]);
        assert_eq!(n.label(&k, "fp"), "Mallory (fp)");
        // A valid claim about another key, served for this one.
        let n = Names::check([([9; 32], own.as_slice())], &[]);
        assert_eq!(n.label(&[9; 32], "fp"), "fp (name not verified)");
        assert_eq!(Names::none().label(&k, "fp"), "fp");
    }
}
