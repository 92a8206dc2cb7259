//! A custodian's signed approval of placing or releasing a legal hold
//! (docs/format.md §12.3, issue 18 item 3). A hold keeps footage past its
//! retention, so placing one needs k custodians of the device's custody
//! group, as reclassifying does; releasing it lets the footage go, so that
//! needs k too. The vault embeds the approvals whole in the `hold-placed`
//! and `hold-released` log entries.
//!
//! A hold names a case, one device and a capture-time window: what a case
//! concerns is an incident (an officer's bodycam between two times), and
//! footage of that window still uploading when the hold is placed is held
//! too, which a list of recording ids would miss.

use crate::error::{Error, Result};
use crate::group::GroupDescriptor;
use crate::identity::{SignKey, VerifyKey};
use crate::ids::GroupId;
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::wire::{Reader, Writer};

const APPROVAL: &str = "hold approval";

/// Longest case reference, in bytes.
pub const MAX_CASE_LEN: usize = 256;

/// Place or release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldAction {
    /// Keep the footage the terms cover past its retention.
    Place,
    /// Put it back on its class's schedule.
    Release,
}

impl HoldAction {
    /// The action byte of the encoding.
    pub fn to_u8(self) -> u8 {
        match self {
            HoldAction::Place => 1,
            HoldAction::Release => 2,
        }
    }
    /// Parse an action byte; `None` for values version 1 does not define.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(HoldAction::Place),
            2 => Some(HoldAction::Release),
            _ => None,
        }
    }
}

/// What a hold covers: the segments of one device of one custody group
/// whose capture overlaps `[from_ms, to_ms)`, for a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldTerms {
    /// The device's custody group.
    pub group_id: GroupId,
    /// The case reference (1 to [`MAX_CASE_LEN`] bytes).
    pub case: String,
    /// The device (its Ed25519 key).
    pub device_key: [u8; 32],
    /// Start of the capture-time window (UTC ms, inclusive).
    pub from_ms: i64,
    /// End (UTC ms, exclusive); after `from_ms`.
    pub to_ms: i64,
}

impl HoldTerms {
    fn check(&self) -> Result<()> {
        if self.case.is_empty() || self.case.len() > MAX_CASE_LEN {
            return Err(Error::FieldTooLong {
                what: APPROVAL,
                field: "case",
                len: self.case.len(),
                max: MAX_CASE_LEN,
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

    fn encode(&self, w: &mut Writer) {
        w.string(&self.case)
            .bytes(&self.device_key)
            .i64(self.from_ms)
            .i64(self.to_ms);
    }

    /// The hold's id: the first 16 bytes of
    /// `Digest("obhut/v1/hold-id", group_id ‖ case ‖ device_key ‖ from_ms ‖
    /// to_ms)`. Every custodian computes it from the terms alone, so k
    /// approvals of the same terms name the same hold without anyone
    /// handing out an id.
    pub fn hold_id(&self) -> [u8; 16] {
        let mut w = Writer::new();
        w.bytes(&self.group_id.0);
        self.encode(&mut w);
        let d = labels::digest(labels::HOLD_ID, &[&w.into_vec()]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        id
    }

    /// Whether a segment captured over `[start_ms, end_ms]` is held.
    pub fn covers(&self, start_ms: i64, end_ms: i64) -> bool {
        start_ms < self.to_ms && end_ms >= self.from_ms
    }
}

/// One custodian's signed approval of placing or releasing a hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldApproval {
    /// Place or release.
    pub action: HoldAction,
    /// The hold.
    pub terms: HoldTerms,
    /// The approval is void at and after this time (UTC ms).
    pub not_after: i64,
    /// The custodian's index in the group.
    pub custodian: u16,
    /// The custodian's identity signing key.
    pub custodian_key: VerifyKey,
    /// Ed25519 over everything before it, context `obhut/v1/hold-approval`.
    pub signature: [u8; 64],
}

fn body(
    action: HoldAction,
    t: &HoldTerms,
    not_after: i64,
    custodian: u16,
    key: &VerifyKey,
) -> Result<Vec<u8>> {
    t.check()?;
    let mut w = Writer::with_preamble(magic::HOLD_APPROVAL, VERSION, SUITE_V1);
    w.bytes(&t.group_id.0)
        .u16(custodian)
        .bytes(&key.to_bytes())
        .u8(action.to_u8());
    t.encode(&mut w);
    w.i64(not_after);
    Ok(w.into_vec())
}

impl HoldApproval {
    /// Custodian `custodian` (index in the group) signs `action` of the
    /// hold `terms`, valid until `not_after`.
    pub fn sign(
        action: HoldAction,
        terms: HoldTerms,
        not_after: i64,
        custodian: u16,
        key: &SignKey,
    ) -> Result<Self> {
        let custodian_key = key.verify_key();
        let signature = key.sign(
            labels::HOLD_APPROVAL_SIG,
            &body(action, &terms, not_after, custodian, &custodian_key)?,
        );
        Ok(HoldApproval {
            action,
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
            self.action,
            &self.terms,
            self.not_after,
            self.custodian,
            &self.custodian_key,
        )?;
        out.extend_from_slice(&self.signature);
        Ok(out)
    }

    /// Parse and verify the signature under the embedded key. Whether the
    /// key is the group's custodian `custodian` is [`HoldApproval::check`]'s.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(APPROVAL, bytes);
        r.preamble(magic::HOLD_APPROVAL, VERSION, SUITE_V1)?;
        let group_id = GroupId(r.array("group_id")?);
        let custodian = r.u16("custodian")?;
        let custodian_key = VerifyKey::read(&mut r, "custodian_key")?;
        let action = HoldAction::from_u8(r.u8("action")?).ok_or(Error::Malformed {
            what: APPROVAL,
            reason: "unknown hold action",
        })?;
        let case = r.string("case", MAX_CASE_LEN)?.to_owned();
        let device_key = r.array("device_key")?;
        let from_ms = r.i64("from_ms")?;
        let to_ms = r.i64("to_ms")?;
        let not_after = r.i64("not_after")?;
        let signature = r.array::<64>("signature")?;
        r.finish()?;
        let terms = HoldTerms {
            group_id,
            case,
            device_key,
            from_ms,
            to_ms,
        };
        custodian_key.verify(
            labels::HOLD_APPROVAL_SIG,
            &body(action, &terms, not_after, custodian, &custodian_key)?,
            &signature,
            APPROVAL,
        )?;
        Ok(HoldApproval {
            action,
            terms,
            not_after,
            custodian,
            custodian_key,
            signature,
        })
    }

    /// That the signer is custodian `custodian` of `group` (its signing
    /// key in the descriptor) and that it approves exactly `action` of the
    /// hold `want`, still valid at `now_ms`.
    pub fn check(
        &self,
        group: &GroupDescriptor,
        action: HoldAction,
        want: &HoldTerms,
        now_ms: i64,
    ) -> Result<()> {
        let refuse = |reason| {
            Err(Error::Malformed {
                what: APPROVAL,
                reason,
            })
        };
        if group.group_id() != self.terms.group_id {
            return refuse("approves a hold in another custody group");
        }
        match group.custodian(self.custodian) {
            Some(c) if c.sign_key == self.custodian_key => {}
            _ => return refuse("not signed by that custodian of the group"),
        }
        if self.action != action {
            return refuse("approves the other action (place, release)");
        }
        if self.terms != *want {
            return refuse("approves another hold");
        }
        if now_ms >= self.not_after {
            return refuse("has expired");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms() -> HoldTerms {
        HoldTerms {
            group_id: GroupId([1; 16]),
            case: "2026-K-0042".into(),
            device_key: [2; 32],
            from_ms: 10,
            to_ms: 20,
        }
    }

    #[test]
    fn the_id_follows_every_term_and_the_window_is_half_open() {
        let t = terms();
        let mut other = t.clone();
        other.to_ms = 21;
        assert_ne!(t.hold_id(), other.hold_id());
        assert!(t.covers(5, 10) && t.covers(19, 30) && !t.covers(20, 30) && !t.covers(0, 9));
        assert_eq!(HoldAction::from_u8(3), None);
    }
}
