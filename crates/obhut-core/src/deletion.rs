//! The vault's signed deletion receipt (docs/format.md §12.1): its
//! `epoch-destroyed` audit entry, whole, signed with its receipt key, so
//! anyone holding the receipt can check it against the log (the entry's
//! leaf hash must be in a checkpointed tree) without trusting the vault's
//! word that the key is gone.

use crate::audit::{Event, LogEntry, MAX_ENTRY_LEN};
use crate::error::{Error, Result};
use crate::identity::{SignKey, VerifyKey};
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::wire::{Reader, Writer};

const RECEIPT: &str = "deletion receipt";

/// "The vault destroyed this epoch's key and is deleting its footage",
/// signed by the vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletionReceipt {
    /// The vault's Ed25519 receipt key.
    pub vault_key: VerifyKey,
    /// The encoded `epoch-destroyed` log entry (§12), whole.
    pub entry: Vec<u8>,
    /// The vault's signature over the body.
    pub signature: [u8; 64],
}

fn body(vault_key: &VerifyKey, entry: &[u8]) -> Vec<u8> {
    let mut w = Writer::with_preamble(magic::DELETION_RECEIPT, VERSION, SUITE_V1);
    w.bytes(&vault_key.to_bytes()).var_bytes(entry);
    w.into_vec()
}

fn check_entry(entry: &[u8]) -> Result<LogEntry> {
    let e = LogEntry::from_bytes(entry)?;
    if !matches!(e.event, Event::EpochDestroyed { .. }) {
        return Err(Error::Malformed {
            what: RECEIPT,
            reason: "the entry is not an epoch-destroyed entry",
        });
    }
    Ok(e)
}

impl DeletionReceipt {
    /// Sign `entry` (an encoded `epoch-destroyed` entry).
    pub fn sign(vault: &SignKey, entry: &[u8]) -> Result<Self> {
        check_entry(entry)?;
        let vault_key = vault.verify_key();
        let signature = vault.sign(labels::DELETION_RECEIPT_SIG, &body(&vault_key, entry));
        Ok(DeletionReceipt {
            vault_key,
            entry: entry.to_vec(),
            signature,
        })
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = body(&self.vault_key, &self.entry);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parse, check that the entry is an `epoch-destroyed` entry, and
    /// verify the signature under the embedded key. A checker must also
    /// compare [`DeletionReceipt::vault_key`] with the vault's key it knows
    /// and find [`DeletionReceipt::leaf_hash`] in the log.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(RECEIPT, bytes);
        r.preamble(magic::DELETION_RECEIPT, VERSION, SUITE_V1)?;
        let vault_key = VerifyKey::read(&mut r, "vault_key")?;
        let entry = r.var_bytes("entry", MAX_ENTRY_LEN)?.to_vec();
        let signature = r.array::<64>("signature")?;
        r.finish()?;
        check_entry(&entry)?;
        vault_key.verify(
            labels::DELETION_RECEIPT_SIG,
            &body(&vault_key, &entry),
            &signature,
            RECEIPT,
        )?;
        Ok(DeletionReceipt {
            vault_key,
            entry,
            signature,
        })
    }

    /// The decoded entry (checked when the receipt was made or parsed).
    pub fn log_entry(&self) -> Result<LogEntry> {
        check_entry(&self.entry)
    }

    /// The entry's RFC 9162 leaf hash, `SHA-256(0x00 ‖ entry)`: what a
    /// checker proves included in a checkpoint of the vault's log.
    pub fn leaf_hash(&self) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update([0u8]);
        h.update(&self.entry);
        h.finalize().into()
    }
}
