//! The custodians' approvals a reclassification, hold or erasure entry
//! embeds whole (§12.2–§12.4): a count u16 and each as var_bytes.

use super::{ENTRY, MAX_EMBEDDED_LEN};
use crate::error::{Error, Result};
use crate::hold::HoldAction;
use crate::wire::{Reader, Writer};

/// A count u16 and that many approvals, each var_bytes.
pub(super) fn write_approvals(w: &mut Writer, approvals: &[Vec<u8>]) {
    // The vault refuses more than fit before logging.
    w.u16(u16::try_from(approvals.len()).unwrap_or(u16::MAX));
    for a in approvals {
        w.var_bytes(a);
    }
}

/// The approvals of a hold entry (`Some` of its action: each parses,
/// verifies and approves that action) or of an erasure entry (`None`:
/// each an `ErasureApproval` that parses and verifies). The log shows
/// only signed ones.
pub(super) fn read_approvals(r: &mut Reader<'_>, hold: Option<HoldAction>) -> Result<Vec<Vec<u8>>> {
    let n = r.u16("approvals")?;
    let mut approvals = Vec::new();
    for _ in 0..n {
        let a = r.var_bytes("approval", MAX_EMBEDDED_LEN)?;
        let fits = match hold {
            Some(action) => crate::hold::HoldApproval::from_bytes(a)?.action == action,
            None => crate::erasure::ErasureApproval::from_bytes(a).map(|_| true)?,
        };
        if !fits {
            return Err(Error::Malformed {
                what: ENTRY,
                reason: "a hold entry embeds an approval of the other action",
            });
        }
        approvals.push(a.to_vec());
    }
    Ok(approvals)
}
