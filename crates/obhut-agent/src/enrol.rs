//! Enrolment (docs/vault.md §3.2): present the one-time token, receive the
//! custody-group descriptor, and pin it only if its fingerprint is the one
//! the custodians published **and** it carries valid signatures from at
//! least k of its custodians. A vault offering any other group key is
//! refused before anything is written to the state directory.

use std::path::Path;

use obhut_core::group::GroupDescriptor;
use obhut_core::identity::{SignKey, VerifyKey};
use obhut_core::ids::{Fingerprint, GroupId};
use obhut_core::vault::descriptor_fingerprint;

use crate::client::VaultClient;
use crate::error::{Error, Result};
use crate::state::{Enrolment, StateDir};

/// What enrolment pinned.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// The custody group.
    pub group: GroupId,
    /// Its name.
    pub group_name: String,
    /// k of n.
    pub threshold: u16,
    /// n.
    pub size: u16,
    /// Custodians whose signatures verified.
    pub signers: Vec<u16>,
    /// The vault's receipt key.
    pub vault_key: VerifyKey,
    /// Retention class of the token.
    pub retention_class: String,
}

/// Parse a descriptor fingerprint as printed (64 hex digits; spaces and
/// colons between groups are ignored).
pub fn parse_fingerprint(s: &str) -> Option<Fingerprint> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    let mut b = [0u8; 32];
    hex::decode_to_slice(clean.to_ascii_lowercase(), &mut b).ok()?;
    Some(Fingerprint(b))
}

/// Check an offered descriptor: fingerprint first (the installer's anchor),
/// then the custodians' signatures (≥ k, none invalid).
pub fn check_descriptor(
    bytes: &[u8],
    expected: &Fingerprint,
) -> Result<obhut_core::group::PinnedGroup> {
    let d = GroupDescriptor::from_bytes(bytes).map_err(Error::GroupNotPinned)?;
    let offered = descriptor_fingerprint(&d);
    if &offered != expected {
        return Err(Error::GroupMismatch {
            expected: *expected,
            offered,
            offered_group: d.group_id().to_string(),
        });
    }
    d.pin().map_err(Error::GroupNotPinned)
}

/// Enrol `device` with the vault at `vault_url` using `token`, recording
/// the result in `state`. `device_key` is the locked key file the agent
/// will unlock later (stored as an absolute path).
pub fn enrol(
    state: &StateDir,
    vault_url: &str,
    token: &str,
    device: &SignKey,
    device_key: &Path,
    expected: &Fingerprint,
) -> Result<Enrolled> {
    if let Ok(e) = state.enrolment() {
        return Err(Error::AlreadyEnrolled {
            state: state.root().to_owned(),
            device: e.device_id,
        });
    }
    // No vault is pinned yet: the enrolment is signed for none, and the
    // one-time token, known to one vault only, binds it to that vault.
    let client = VaultClient::new(vault_url, obhut_core::vault::ENROL_VAULT, device)?;
    let answer = client.enrol(token)?;
    let pinned = check_descriptor(&answer.descriptor, expected)?;
    let vault_key = VerifyKey::from_bytes(&answer.vault_key, "vault key", "vault_key")
        .map_err(Error::core("the vault's receipt key is invalid"))?;
    let device_key = std::path::absolute(device_key).map_err(Error::io("resolve", device_key))?;
    let e = Enrolment {
        version: 1,
        vault_url: vault_url.trim_end_matches('/').to_owned(),
        device_key,
        device_id: hex::encode(device.verify_key().to_bytes()),
        vault_key: hex::encode(answer.vault_key),
        retention_class: answer.retention_class.clone(),
        group_fingerprint: expected.to_string(),
        enrolled_utc_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0),
    };
    state.save_enrolment(&e, &pinned)?;
    Ok(Enrolled {
        group: pinned.group_id(),
        group_name: pinned.name().to_owned(),
        threshold: pinned.threshold(),
        size: pinned.size(),
        signers: pinned.signers().to_vec(),
        vault_key,
        retention_class: answer.retention_class,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_separators() {
        let hex64 = "ab".repeat(32);
        let f = parse_fingerprint(&hex64).unwrap();
        assert_eq!(f.0, [0xab; 32]);
        assert_eq!(parse_fingerprint(&hex64.to_uppercase()), Some(f));
        let spaced: String = hex64
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(parse_fingerprint(&spaced), Some(f));
        assert_eq!(parse_fingerprint("abc"), None);
        assert_eq!(parse_fingerprint(&"zz".repeat(32)), None);
    }
}
