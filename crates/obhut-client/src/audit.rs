//! The auditor's reads of the audit log (docs/log.md): one recording's
//! chain of custody, each entry proved included in a checkpoint
//! consistent with this client's state; and a full audit that rebuilds
//! the tree from every entry and compares its root with the signed one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::log::{EntriesResponse, EntryJson};
use obhut_core::audit::LogEntry;
use obhut_core::ids::RecordingId;
use obhut_log::{CompactRange, Hash, leaf_hash};

use crate::error::{Endpoint, Error, Result};
use crate::log::{LogClient, Proof};
use crate::reader::Reader;

/// One entry of a chain of custody.
#[derive(Debug)]
pub struct CustodyEntry {
    /// Its index in the log.
    pub index: u64,
    /// When the vault logged it (ms UTC).
    pub time_ms: i64,
    /// The vault's name for its kind (shown when the body is pruned).
    pub kind: String,
    /// The entry, unless retention pruned its body.
    pub entry: Option<LogEntry>,
}

/// One recording's chain of custody: every entry about it, each proved
/// included in a checkpoint consistent with this client's state.
pub fn chain_of_custody(
    log: &LogClient,
    reader: &Reader<'_>,
    rid: RecordingId,
) -> Result<Vec<CustodyEntry>> {
    let (_, now) = log.update()?;
    let page = fetch(reader, &format!("/v1/log/recordings/{rid}"))?;
    let mut out = Vec::new();
    for e in page.entries.iter().filter(|e| e.index < now.size) {
        let body = checked_body(e)?;
        let proof = log.proof(Proof::Inclusion, e.index, now.size)?;
        now.verify_leaf_inclusion(&leaf_of(e)?, e.index, &proof)
            .map_err(|failure| Error::EntryNotIncluded {
                index: e.index,
                failure: Box::new(failure),
            })?;
        let entry = body
            .map(|b| {
                LogEntry::from_bytes(&b).map_err(|failure| Error::EntryInvalid {
                    index: e.index,
                    failure,
                })
            })
            .transpose()?;
        out.push(CustodyEntry {
            index: e.index,
            time_ms: e.time_ms,
            kind: e.kind.clone(),
            entry,
        });
    }
    Ok(out)
}

fn fetch(reader: &Reader<'_>, path: &str) -> Result<EntriesResponse> {
    let (status, body) = reader.get_any(path)?;
    if status != 200 {
        return Err(Error::Status {
            endpoint: Endpoint::Entries,
            target: path.into(),
            status,
            body: Some(String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()),
        });
    }
    serde_json::from_slice(&body).map_err(|e| Error::Json {
        method: "GET".into(),
        target: path.into(),
        source: e,
    })
}

fn leaf_of(e: &EntryJson) -> Result<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(&e.leaf_hash, &mut h).map_err(|_| Error::LeafHash { index: e.index })?;
    Ok(Hash(h))
}

/// The entry's body if kept, checked against its leaf hash.
fn checked_body(e: &EntryJson) -> Result<Option<Vec<u8>>> {
    let Some(b64) = &e.body else { return Ok(None) };
    let body = B64.decode(b64).map_err(|_| Error::NotBase64 {
        field: format!("body of entry #{}", e.index),
    })?;
    if leaf_hash(&body) != leaf_of(e)? {
        return Err(Error::Rewritten { index: e.index });
    }
    Ok(Some(body))
}

/// Full audit: every entry of the tree of `size` in order, bodies checked,
/// the root recomputed and compared with `root`. Returns how many bodies
/// were pruned by retention (checked by their leaf hashes only).
pub fn rebuild(reader: &Reader<'_>, size: u64, root: &Hash) -> Result<u64> {
    let mut tree = CompactRange::new();
    let mut pruned = 0;
    while tree.size() < size {
        let page = fetch(
            reader,
            &format!("/v1/log/entries?from={}&count=1000", tree.size()),
        )?;
        let mut progressed = false;
        for e in page.entries.iter().take_while(|e| e.index < size) {
            if e.index != tree.size() {
                return Err(Error::EntryMissing {
                    expected: tree.size(),
                    got: e.index,
                });
            }
            match checked_body(e)? {
                Some(b) => {
                    LogEntry::from_bytes(&b).map_err(|failure| Error::EntryInvalid {
                        index: e.index,
                        failure,
                    })?;
                }
                None => pruned += 1,
            }
            tree.append(leaf_of(e)?);
            progressed = true;
        }
        if !progressed {
            return Err(Error::EntriesShort {
                served: tree.size(),
                size,
            });
        }
    }
    if tree.root() != *root {
        return Err(Error::RootMismatch {
            computed: tree.root().to_base64(),
            signed: root.to_base64(),
        });
    }
    Ok(pruned)
}
