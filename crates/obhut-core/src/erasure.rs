//! A custodian's signed approval of erasing footage early (docs/format.md
//! §12.4, issue 18 item 5; GDPR Art. 17): one recording, or the segments
//! of it captured in a window. Erasure destroys footage before its
//! retention ends, so it needs k custodians of the recording's custody
//! group; the vault embeds the approvals whole in the `erased` entry.

use crate::error::{Error, Result};
use crate::group::GroupDescriptor;
use crate::identity::{SignKey, VerifyKey};
use crate::ids::{GroupId, RecordingId};
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::wire::{Reader, Writer};

const APPROVAL: &str = "erasure approval";

/// Longest reason, in bytes.
pub const MAX_REASON_LEN: usize = 4096;

/// What is erased: the segments of one recording whose capture overlaps
/// `[from_ms, to_ms)` (`i64::MIN`, `i64::MAX` for the whole recording).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErasureTerms {
    /// The recording's custody group.
    pub group_id: GroupId,
    /// The recording.
    pub recording_id: RecordingId,
    /// Start of the capture-time window (UTC ms, inclusive).
    pub from_ms: i64,
    /// End (UTC ms, exclusive); after `from_ms`.
    pub to_ms: i64,
    /// Why (the request's reference and ground, 1 to [`MAX_REASON_LEN`]
    /// bytes).
    pub reason: String,
}

impl ErasureTerms {
    fn check(&self) -> Result<()> {
        if self.reason.is_empty() || self.reason.len() > MAX_REASON_LEN {
            return Err(Error::FieldTooLong {
                what: APPROVAL,
                field: "reason",
                len: self.reason.len(),
                max: MAX_REASON_LEN,
            });
        }
        if self.from_ms >= self.to_ms {
            return Err(Error::Malformed {
                what: APPROVAL,
                reason: "the window ends before it starts",
            });
        }
        Ok(())
    }

    /// Whether a segment captured over `[start_ms, end_ms]` is erased.
    pub fn covers(&self, start_ms: i64, end_ms: i64) -> bool {
        start_ms < self.to_ms && end_ms >= self.from_ms
    }
}

/// One custodian's signed approval of an erasure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErasureApproval {
    /// What is erased.
    pub terms: ErasureTerms,
    /// The approval is void at and after this time (UTC ms).
    pub not_after: i64,
    /// The custodian's index in the group.
    pub custodian: u16,
    /// The custodian's identity signing key.
    pub custodian_key: VerifyKey,
    /// Ed25519 over everything before it, context
    /// `obhut/v1/erasure-approval`.
    pub signature: [u8; 64],
}

fn body(t: &ErasureTerms, not_after: i64, custodian: u16, key: &VerifyKey) -> Result<Vec<u8>> {
    t.check()?;
    let mut w = Writer::with_preamble(magic::ERASURE_APPROVAL, VERSION, SUITE_V1);
    w.bytes(&t.group_id.0)
        .u16(custodian)
        .bytes(&key.to_bytes())
        .bytes(&t.recording_id.0)
        .i64(t.from_ms)
        .i64(t.to_ms)
        .string(&t.reason)
        .i64(not_after);
    Ok(w.into_vec())
}

impl ErasureApproval {
    /// Custodian `custodian` (index in the group) signs the erasure
    /// `terms`, valid until `not_after`.
    pub fn sign(
        terms: ErasureTerms,
        not_after: i64,
        custodian: u16,
        key: &SignKey,
    ) -> Result<Self> {
        let custodian_key = key.verify_key();
        let signature = key.sign(
            labels::ERASURE_APPROVAL_SIG,
            &body(&terms, not_after, custodian, &custodian_key)?,
        );
        Ok(ErasureApproval {
            terms,
            not_after,
            custodian,
            custodian_key,
            signature,
        })
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = body(
            &self.terms,
            self.not_after,
            self.custodian,
            &self.custodian_key,
        )?;
        out.extend_from_slice(&self.signature);
        Ok(out)
    }

    /// Parse and verify the signature under the embedded key. Whether the
    /// key is the group's custodian `custodian` is
    /// [`ErasureApproval::check`]'s.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(APPROVAL, bytes);
        r.preamble(magic::ERASURE_APPROVAL, VERSION, SUITE_V1)?;
        let group_id = GroupId(r.array("group_id")?);
        let custodian = r.u16("custodian")?;
        let custodian_key = VerifyKey::read(&mut r, "custodian_key")?;
        let recording_id = RecordingId(r.array("recording_id")?);
        let from_ms = r.i64("from_ms")?;
        let to_ms = r.i64("to_ms")?;
        let reason = r.string("reason", MAX_REASON_LEN)?.to_owned();
        let not_after = r.i64("not_after")?;
        let signature = r.array::<64>("signature")?;
        r.finish()?;
        let terms = ErasureTerms {
            group_id,
            recording_id,
            from_ms,
            to_ms,
            reason,
        };
        custodian_key.verify(
            labels::ERASURE_APPROVAL_SIG,
            &body(&terms, not_after, custodian, &custodian_key)?,
            &signature,
            APPROVAL,
        )?;
        Ok(ErasureApproval {
            terms,
            not_after,
            custodian,
            custodian_key,
            signature,
        })
    }

    /// That the signer is custodian `custodian` of `group` and that it
    /// approves exactly the erasure `want`, still valid at `now_ms`.
    pub fn check(&self, group: &GroupDescriptor, want: &ErasureTerms, now_ms: i64) -> Result<()> {
        let refuse = |reason| {
            Err(Error::Malformed {
                what: APPROVAL,
                reason,
            })
        };
        if group.group_id() != self.terms.group_id {
            return refuse("approves an erasure in another custody group");
        }
        match group.custodian(self.custodian) {
            Some(c) if c.sign_key == self.custodian_key => {}
            _ => return refuse("not signed by that custodian of the group"),
        }
        if self.terms != *want {
            return refuse("approves another erasure");
        }
        if now_ms >= self.not_after {
            return refuse("has expired");
        }
        Ok(())
    }
}
