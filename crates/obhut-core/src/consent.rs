//! Consent to human review for training or product improvement (docs/
//! format.md §13.2, issue 18 item 6).
//!
//! Footage is in a custody group's care; for a household's cameras the
//! household's members are the group's custodians. Consent is recorded
//! when k custodians of the group sign the same grant, in the style of
//! the reclassification approval (§12.2), so that no operator and no
//! single member consents for the others. Withdrawing needs one
//! custodian's signature: consent is withdrawn as easily as given, or
//! more (GDPR Art. 7(3)), and any one member's withdrawal ends it.

use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::group::GroupDescriptor;
use crate::identity::{SignKey, VerifyKey};
use crate::ids::GroupId;
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::wire::{Reader, Writer};

const STATEMENT: &str = "consent statement";

/// Purpose bit: human review of footage to train models.
pub const PURPOSE_TRAINING: u8 = 1;
/// Purpose bit: human review of footage to improve the product.
pub const PURPOSE_PRODUCT_IMPROVEMENT: u8 = 2;
const PURPOSES_ALL: u8 = PURPOSE_TRAINING | PURPOSE_PRODUCT_IMPROVEMENT;

/// The consent purpose bit an access request's (or artifact's) purpose
/// calls for, if any: the reserved purposes `training` and
/// `product-improvement`, and, because the vault's list of purposes is the
/// operator's to configure, any purpose whose words speak of training,
/// models, datasets or product improvement (§13.2). A purpose that needs
/// no consent is ordinary access.
pub fn review_purpose(purpose: &str) -> Option<u8> {
    let p = purpose.to_lowercase();
    let training = [
        "train",
        "model",
        "dataset",
        "data set",
        "annotat",
        "machine learning",
    ];
    let product = ["product", "improv", "quality review"];
    if training.iter().any(|w| p.contains(w)) {
        Some(PURPOSE_TRAINING)
    } else if product.iter().any(|w| p.contains(w)) {
        Some(PURPOSE_PRODUCT_IMPROVEMENT)
    } else {
        None
    }
}

/// What k custodians consent to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    /// Random id chosen by whoever drafts it.
    pub consent_id: [u8; 16],
    /// The custody group whose footage it covers.
    pub group_id: GroupId,
    /// [`PURPOSE_TRAINING`] and/or [`PURPOSE_PRODUCT_IMPROVEMENT`].
    pub purposes: u8,
    /// Valid from (UTC ms).
    pub not_before: i64,
    /// Void at and after (UTC ms; > not_before).
    pub not_after: i64,
}

impl Consent {
    /// Whether it covers purpose bit `purpose` at `now_ms`.
    pub fn covers(&self, purpose: u8, now_ms: i64) -> bool {
        self.purposes & purpose == purpose && self.not_before <= now_ms && now_ms < self.not_after
    }
}

/// What one statement says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsentAction {
    /// The signer consents.
    Grant(Consent),
    /// The signer withdraws a recorded consent.
    Withdraw {
        /// The consent.
        consent_id: [u8; 16],
        /// Its group.
        group_id: GroupId,
        /// When the signer withdrew (UTC ms).
        time_ms: i64,
    },
}

impl ConsentAction {
    /// The consent's id.
    pub fn consent_id(&self) -> [u8; 16] {
        match self {
            ConsentAction::Grant(c) => c.consent_id,
            ConsentAction::Withdraw { consent_id, .. } => *consent_id,
        }
    }
    /// The consent's group.
    pub fn group_id(&self) -> GroupId {
        match self {
            ConsentAction::Grant(c) => c.group_id,
            ConsentAction::Withdraw { group_id, .. } => *group_id,
        }
    }
}

/// One custodian's signed [`ConsentAction`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentStatement {
    /// What is stated.
    pub action: ConsentAction,
    /// The custodian's index in the group.
    pub custodian: u16,
    /// The custodian's identity signing key.
    pub custodian_key: VerifyKey,
    /// Ed25519 over everything before it, context `obhut/v1/consent`.
    pub signature: [u8; 64],
}

fn malformed(reason: &'static str) -> Error {
    Error::Malformed {
        what: STATEMENT,
        reason,
    }
}

fn body(action: &ConsentAction, custodian: u16, key: &VerifyKey) -> Result<Vec<u8>> {
    let mut w = Writer::with_preamble(magic::CONSENT, VERSION, SUITE_V1);
    let tag = match action {
        ConsentAction::Grant(_) => 1,
        ConsentAction::Withdraw { .. } => 2,
    };
    w.u8(tag)
        .bytes(&action.consent_id())
        .bytes(&action.group_id().0)
        .u16(custodian)
        .bytes(&key.to_bytes());
    match action {
        ConsentAction::Grant(c) => {
            if c.purposes == 0 || c.purposes & !PURPOSES_ALL != 0 {
                return Err(malformed("purposes are 1, 2 or 3"));
            }
            if c.not_after <= c.not_before {
                return Err(malformed("the consent ends before it starts"));
            }
            w.u8(c.purposes).i64(c.not_before).i64(c.not_after);
        }
        ConsentAction::Withdraw { time_ms, .. } => {
            w.i64(*time_ms);
        }
    }
    Ok(w.into_vec())
}

impl ConsentStatement {
    /// Custodian `custodian` (index in the group) signs `action`.
    pub fn sign(action: ConsentAction, custodian: u16, key: &SignKey) -> Result<Self> {
        let custodian_key = key.verify_key();
        let signature = key.sign(
            labels::CONSENT_SIG,
            &body(&action, custodian, &custodian_key)?,
        );
        Ok(ConsentStatement {
            action,
            custodian,
            custodian_key,
            signature,
        })
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = body(&self.action, self.custodian, &self.custodian_key)?;
        out.extend_from_slice(&self.signature);
        Ok(out)
    }

    /// Parse and verify the signature under the embedded key; whether it is
    /// the group's custodian is [`ConsentStatement::check_signer`]'s.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(STATEMENT, bytes);
        r.preamble(magic::CONSENT, VERSION, SUITE_V1)?;
        let tag = r.u8("action")?;
        let consent_id = r.array("consent_id")?;
        let group_id = GroupId(r.array("group_id")?);
        let custodian = r.u16("custodian")?;
        let custodian_key = VerifyKey::read(&mut r, "custodian_key")?;
        let action = match tag {
            1 => ConsentAction::Grant(Consent {
                consent_id,
                group_id,
                purposes: r.u8("purposes")?,
                not_before: r.i64("not_before")?,
                not_after: r.i64("not_after")?,
            }),
            2 => ConsentAction::Withdraw {
                consent_id,
                group_id,
                time_ms: r.i64("time_ms")?,
            },
            _ => return Err(malformed("unknown action")),
        };
        let signature = r.array::<64>("signature")?;
        r.finish()?;
        let signed = body(&action, custodian, &custodian_key)?;
        custodian_key.verify(labels::CONSENT_SIG, &signed, &signature, STATEMENT)?;
        Ok(ConsentStatement {
            action,
            custodian,
            custodian_key,
            signature,
        })
    }

    /// That the signer is custodian `custodian` of `group` (its signing key
    /// in the descriptor) and the statement is about that group.
    pub fn check_signer(&self, group: &GroupDescriptor) -> Result<()> {
        if group.group_id() != self.action.group_id() {
            return Err(malformed("about another custody group"));
        }
        match group.custodian(self.custodian) {
            Some(c) if c.sign_key == self.custodian_key => Ok(()),
            _ => Err(malformed("not signed by that custodian of the group")),
        }
    }
}

/// The consent k custodians of `group` granted in `statements`: each a
/// grant of the same [`Consent`] by a custodian of the group, at least k
/// distinct ones, still valid at `now_ms` (§13.2's order: each statement's
/// signer, then sameness, then the count, then time).
pub fn recorded_consent(
    group: &GroupDescriptor,
    statements: &[ConsentStatement],
    now_ms: i64,
) -> Result<Consent> {
    let mut consent: Option<&Consent> = None;
    let mut custodians = BTreeSet::new();
    for s in statements {
        s.check_signer(group)?;
        let ConsentAction::Grant(c) = &s.action else {
            return Err(malformed("a withdrawal among the grants"));
        };
        match consent {
            Some(first) if first != c => return Err(malformed("the grants differ")),
            _ => consent = Some(c),
        }
        custodians.insert(s.custodian);
    }
    let need = group.threshold();
    let have = u16::try_from(custodians.len()).unwrap_or(u16::MAX);
    let consent = match consent {
        Some(c) if have >= need => c,
        _ => return Err(Error::NotEnoughSignatures { needed: need, have }),
    };
    if now_ms >= consent.not_after {
        return Err(malformed("has expired"));
    }
    Ok(consent.clone())
}
