//! A custodian's signed approval of moving one device to another retention
//! class (docs/format.md §12.2, issue 18 item 1). A device's class decides
//! how long its footage is kept, so changing it needs k custodians of the
//! device's custody group, like opening footage does; the vault embeds the
//! approvals whole in the `device-reclassified` log entry, so the log
//! itself shows who agreed.

use crate::epoch::MAX_CLASS_LEN;
use crate::error::{Error, Result};
use crate::group::GroupDescriptor;
use crate::identity::{SignKey, VerifyKey};
use crate::ids::GroupId;
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::wire::{Reader, Writer};

const APPROVAL: &str = "reclassification approval";

/// What a custodian approves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reclassification {
    /// The device's custody group.
    pub group_id: GroupId,
    /// The device (its Ed25519 key).
    pub device_key: [u8; 32],
    /// Its class now.
    pub from_class: String,
    /// Its class after.
    pub to_class: String,
    /// The approval is void at and after this time (UTC ms).
    pub not_after: i64,
}

/// One custodian's signed [`Reclassification`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReclassifyApproval {
    /// What is approved.
    pub content: Reclassification,
    /// The custodian's index in the group.
    pub custodian: u16,
    /// The custodian's identity signing key.
    pub custodian_key: VerifyKey,
    /// Ed25519 over everything before it, context
    /// `obhut/v1/reclassify-approval`.
    pub signature: [u8; 64],
}

fn body(c: &Reclassification, custodian: u16, key: &VerifyKey) -> Result<Vec<u8>> {
    for (field, class) in [("from_class", &c.from_class), ("to_class", &c.to_class)] {
        if class.is_empty() || class.len() > MAX_CLASS_LEN {
            return Err(Error::FieldTooLong {
                what: APPROVAL,
                field,
                len: class.len(),
                max: MAX_CLASS_LEN,
            });
        }
    }
    let mut w = Writer::with_preamble(magic::RECLASSIFY_APPROVAL, VERSION, SUITE_V1);
    w.bytes(&c.group_id.0)
        .u16(custodian)
        .bytes(&key.to_bytes())
        .bytes(&c.device_key)
        .string(&c.from_class)
        .string(&c.to_class)
        .i64(c.not_after);
    Ok(w.into_vec())
}

impl ReclassifyApproval {
    /// Custodian `custodian` (index in the group) signs `content`.
    pub fn sign(content: Reclassification, custodian: u16, key: &SignKey) -> Result<Self> {
        let custodian_key = key.verify_key();
        let signature = key.sign(
            labels::RECLASSIFY_APPROVAL_SIG,
            &body(&content, custodian, &custodian_key)?,
        );
        Ok(ReclassifyApproval {
            content,
            custodian,
            custodian_key,
            signature,
        })
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = body(&self.content, self.custodian, &self.custodian_key)?;
        out.extend_from_slice(&self.signature);
        Ok(out)
    }

    /// Parse and verify the signature under the embedded key. Whether the
    /// key is the group's custodian `custodian` is
    /// [`ReclassifyApproval::check`]'s.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(APPROVAL, bytes);
        r.preamble(magic::RECLASSIFY_APPROVAL, VERSION, SUITE_V1)?;
        let group_id = GroupId(r.array("group_id")?);
        let custodian = r.u16("custodian")?;
        let custodian_key = VerifyKey::read(&mut r, "custodian_key")?;
        let device_key = r.array("device_key")?;
        let from_class = r.string("from_class", MAX_CLASS_LEN)?.to_owned();
        let to_class = r.string("to_class", MAX_CLASS_LEN)?.to_owned();
        let not_after = r.i64("not_after")?;
        let signature = r.array::<64>("signature")?;
        r.finish()?;
        let content = Reclassification {
            group_id,
            device_key,
            from_class,
            to_class,
            not_after,
        };
        custodian_key.verify(
            labels::RECLASSIFY_APPROVAL_SIG,
            &body(&content, custodian, &custodian_key)?,
            &signature,
            APPROVAL,
        )?;
        Ok(ReclassifyApproval {
            content,
            custodian,
            custodian_key,
            signature,
        })
    }

    /// That the signer is custodian `custodian` of `group` (its signing
    /// key in the descriptor) and that it approves exactly `want`'s change
    /// (group, device, from, to), still valid at `now_ms`.
    pub fn check(
        &self,
        group: &GroupDescriptor,
        want: &Reclassification,
        now_ms: i64,
    ) -> Result<()> {
        let refuse = |reason| {
            Err(Error::Malformed {
                what: APPROVAL,
                reason,
            })
        };
        if group.group_id() != self.content.group_id {
            return refuse("approves a change in another custody group");
        }
        match group.custodian(self.custodian) {
            Some(c) if c.sign_key == self.custodian_key => {}
            _ => return refuse("not signed by that custodian of the group"),
        }
        let c = &self.content;
        if c.device_key != want.device_key
            || c.from_class != want.from_class
            || c.to_class != want.to_class
        {
            return refuse("approves another change");
        }
        if now_ms >= c.not_after {
            return refuse("has expired");
        }
        Ok(())
    }
}
