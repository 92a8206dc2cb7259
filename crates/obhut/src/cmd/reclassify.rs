//! `obhut custody approve-reclassify`: a custodian signs the move of one
//! device to another retention class (docs/format.md §12.2); the operator
//! makes the change with k such approvals (`obhut admin reclassify`).

use std::path::PathBuf;

use obhut_core::reclassify::{Reclassification, ReclassifyApproval};

use crate::util::files::Mode;
use crate::util::hint::fail;
use crate::util::{Global, files, keys, load};

/// Approve moving a device to another retention class (k custodians sign).
#[derive(Debug, clap::Args)]
#[command(long_about = "\
As a custodian, sign your approval of moving one device of your group to
another retention class: how long its footage is kept. The vault makes the
change only with approvals of k custodians of the group, each for exactly
this device and these two classes, and logs them whole. The approval is
void after --valid-hours.

Example:
  obhut custody approve-reclassify --group custody/group.obgd --identity alice.key \\
      --device 3f…(64 hex) --from cctv --to evidence --out alice.obra")]
pub struct Args {
    /// The pinned custody group descriptor of the device.
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
    /// Your locked identity (a custodian of the group).
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// The device's key, 64 hex digits (`obhut admin devices`).
    #[arg(long, value_name = "HEX")]
    device: String,
    /// Its class now.
    #[arg(long, value_name = "CLASS")]
    from: String,
    /// Its class after.
    #[arg(long, value_name = "CLASS")]
    to: String,
    /// Hours the approval stays valid.
    #[arg(long, value_name = "H", default_value_t = 72)]
    valid_hours: u32,
    /// Where to write the approval (to hand to the vault's operator).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Run `obhut custody approve-reclassify`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let group = load::pinned_group(&a.group, "--group")?;
    let mut device_key = [0u8; 32];
    hex::decode_to_slice(&a.device, &mut device_key).map_err(|_| {
        fail(
            format!("{:?} is not a device key", a.device),
            "pass the 64 hex digits shown by `obhut admin devices`",
        )
    })?;
    let (me, index) = keys::custodian(g, &a.identity, &group)?;
    let now = obhut_client::time::now_ms();
    let approval = ReclassifyApproval::sign(
        Reclassification {
            group_id: group.group_id(),
            device_key,
            from_class: a.from.clone(),
            to_class: a.to.clone(),
            not_after: now.saturating_add(i64::from(a.valid_hours) * 3_600_000),
        },
        index,
        &me.sign,
    )?;
    files::write(
        &a.out,
        &approval.to_bytes()?,
        "--out",
        g.force,
        Mode::Public,
    )?;
    g.note(format!(
        "custodian {index} approves moving device {} from {} to {}; give {} to the vault's operator",
        a.device,
        a.from,
        a.to,
        a.out.display()
    ));
    Ok(())
}
