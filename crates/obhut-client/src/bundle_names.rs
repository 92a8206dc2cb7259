//! The display names an evidence bundle carries (`names/KEY.name`,
//! docs/bundle.md §2.1), checked offline by the rule every client applies
//! (docs/format.md §3.5, [`crate::names`]): a claim counts only if it
//! verifies, is for the key its file names, and is signed by that key or
//! by a custodian of the request's group — as the bundle shows them, the
//! signers of the `approved` entries of this request it holds. A claim
//! that fails is a named failure, never left out in silence.

use std::collections::BTreeMap;
use std::path::Path;

use obhut_core::audit::{Event, LogEntry, Role};
use obhut_core::decision::Verdict;
use obhut_core::identity::VerifyKey;
use obhut_core::name::NameClaim;
use obhut_core::request::AccessRequest;

use crate::names::Names;

/// The directory of the claims.
pub const NAMES_DIR: &str = "names";

/// One checked claim file: its bundle path, and what it says or why it
/// does not count.
pub type Checked = (String, Result<String, String>);

/// The keys a bundle trusts to name others: the custodians whose approval
/// of `request` is among `entries` (each entry's decision is signed by its
/// actor, format.md §12).
pub fn approvers(entries: &BTreeMap<u64, LogEntry>, request: &AccessRequest) -> Vec<VerifyKey> {
    let hash = request.request_hash();
    let mut keys: Vec<VerifyKey> = entries
        .values()
        .filter_map(|e| match &e.event {
            Event::Approved { decision }
                if decision.content().request_hash == hash
                    && decision.content().verdict == Verdict::Approve =>
            {
                Some(*decision.person())
            }
            _ => None,
        })
        .collect();
    keys.sort_by_key(VerifyKey::to_bytes);
    keys.dedup();
    keys
}

/// Check every file under `names/` of the bundle in `dir`: each verdict,
/// and the names that count.
pub fn check(dir: &Path, trusted: &[VerifyKey]) -> (Vec<Checked>, Names) {
    let mut out = Vec::new();
    let mut good: Vec<([u8; 32], Vec<u8>)> = Vec::new();
    let mut files: Vec<String> = match std::fs::read_dir(dir.join(NAMES_DIR)) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    for file in files {
        let part = format!("{NAMES_DIR}/{file}");
        let key = file
            .strip_suffix(".name")
            .and_then(|h| hex::decode(h).ok())
            .and_then(|k| <[u8; 32]>::try_from(k).ok());
        let Some(key) = key else {
            out.push((
                part,
                Err("not KEY.name (KEY: 64 hex digits of an Ed25519 key)".into()),
            ));
            continue;
        };
        let verdict = std::fs::read(dir.join(&part))
            .map_err(|e| e.to_string())
            .and_then(|b| judge(&key, &b, trusted).map(|what| (what, b)));
        match verdict {
            Ok((what, bytes)) => {
                out.push((part, Ok(what)));
                good.push((key, bytes));
            }
            Err(why) => out.push((part, Err(why))),
        }
    }
    let names = Names::check(good.iter().map(|(k, b)| (*k, b.as_slice())), trusted);
    (out, names)
}

fn judge(key: &[u8; 32], bytes: &[u8], trusted: &[VerifyKey]) -> Result<String, String> {
    let c = NameClaim::from_bytes(bytes).map_err(|e| format!("the claim does not verify: {e}"))?;
    if c.subject().to_bytes() != *key {
        return Err(format!(
            "it names {} {}, not the key of its file name",
            c.kind().word(),
            hex::encode(c.subject().to_bytes())
        ));
    }
    let by = if c.self_signed() {
        "signed by that key itself".to_owned()
    } else if trusted.contains(c.signer()) {
        format!(
            "signed by {}, a custodian who approved the request",
            hex::encode(c.signer().to_bytes())
        )
    } else {
        return Err(format!(
            "signed by {}, neither the key it names nor a custodian whose approval of the request the bundle holds",
            hex::encode(c.signer().to_bytes())
        ));
    };
    Ok(format!(
        "{} {} is named {:?}, {by}",
        c.kind().word(),
        hex::encode(key),
        c.name()
    ))
}

/// What an event's verdict line adds about its actor: "; ROLE: Name (ID)"
/// when the bundle names it, ID the requester's fingerprint for the
/// requester and the key in hex otherwise; nothing when it does not.
pub fn actor(entry: &LogEntry, names: &Names, request: Option<&AccessRequest>) -> String {
    let key = entry.actor.key;
    if !matches!(entry.actor.role, Role::Person | Role::Device) || names.get(&key).is_none() {
        return String::new();
    }
    let id = match request {
        Some(r) if r.requester_sign().to_bytes() == key => r.requester_fingerprint().to_string(),
        _ => hex::encode(key),
    };
    format!("; {}: {}", entry.actor.role.name(), names.label(&key, &id))
}
