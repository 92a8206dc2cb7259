//! Legal holds (docs/vault.md §9.1): `obhut custody approve-hold`, a
//! custodian's signed approval of placing or releasing one; `obhut admin
//! hold place|release|list`, the operator's change with k such approvals.

use std::path::PathBuf;

use obhut_core::hold::{HoldAction, HoldApproval, HoldTerms};
use obhut_server::SystemClock;
use obhut_server::hold::{place_hold, release_hold, terms_of};

use crate::util::files::Mode;
use crate::util::hint::admin_error;
use crate::util::hint::fail;
use crate::util::{Global, files, keys, load, time};

/// What a hold covers, as flags.
#[derive(Debug, clap::Args)]
pub struct Terms {
    /// The case reference (1 to 256 bytes), e.g. 2026-K-0042
    #[arg(long, value_name = "REF")]
    case: String,
    /// The device's key, 64 hex digits (`obhut admin devices`)
    #[arg(long, value_name = "HEX")]
    device: String,
    /// Start of the capture-time window (inclusive)
    #[arg(long, value_name = "TIME", value_parser = time::parse_instant)]
    from: i64,
    /// End of the capture-time window (exclusive)
    #[arg(long, value_name = "TIME", value_parser = time::parse_instant)]
    to: i64,
}

fn device_key(device: &str) -> anyhow::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(device, &mut key).map_err(|_| {
        fail(
            format!("{device:?} is not a device key"),
            "pass the 64 hex digits shown by `obhut admin devices`",
        )
    })?;
    Ok(key)
}

/// Approve placing or releasing a legal hold (k custodians sign).
#[derive(Debug, clap::Args)]
#[command(long_about = "\
As a custodian, sign your approval of placing (or releasing) a legal hold
on one device's footage captured in a time window, for a case. A held
segment is kept past its retention until the hold is released; the vault
places or releases the hold only with approvals of k custodians of the
group, each for exactly this case, device and window, and logs them whole.
The approval is void after --valid-hours.

Example:
  obhut custody approve-hold --group custody/group.obgd --identity alice.key \\
      --case 2026-K-0042 --device 3f…(64 hex) \\
      --from 2026-12-01T14:00:00Z --to 2026-12-01T15:00:00Z --out alice.obha")]
pub struct ApproveArgs {
    /// The pinned custody group descriptor of the device.
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
    /// Your locked identity (a custodian of the group).
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    #[command(flatten)]
    terms: Terms,
    /// Approve the hold's release instead of its placement.
    #[arg(long)]
    release: bool,
    /// Hours the approval stays valid.
    #[arg(long, value_name = "H", default_value_t = 72)]
    valid_hours: u32,
    /// Where to write the approval (to hand to the vault's operator).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Run `obhut custody approve-hold`.
pub fn approve(g: &Global, a: &ApproveArgs) -> anyhow::Result<()> {
    let group = load::pinned_group(&a.group, "--group")?;
    let terms = HoldTerms {
        group_id: group.group_id(),
        case: a.terms.case.clone(),
        device_key: device_key(&a.terms.device)?,
        from_ms: a.terms.from,
        to_ms: a.terms.to,
    };
    let (me, index) = keys::custodian(g, &a.identity, &group)?;
    let action = if a.release {
        HoldAction::Release
    } else {
        HoldAction::Place
    };
    let not_after = time::now_ms().saturating_add(i64::from(a.valid_hours) * 3_600_000);
    let approval =
        HoldApproval::sign(action, terms.clone(), not_after, index, &me.sign).map_err(|e| {
            fail(
                format!("cannot approve this hold: {e}"),
                "pass a case of 1 to 256 bytes and --from before --to",
            )
        })?;
    files::write(
        &a.out,
        &approval.to_bytes()?,
        "--out",
        g.force,
        Mode::Public,
    )?;
    g.note(format!(
        "custodian {index} approves {} hold {} (case {:?}); give {} to the vault's operator",
        if a.release { "releasing" } else { "placing" },
        hex::encode(terms.hold_id()),
        terms.case,
        a.out.display()
    ));
    Ok(())
}

/// `obhut admin hold …`.
#[derive(Debug, clap::Subcommand)]
pub enum HoldCommand {
    /// Place a legal hold: only with signed approvals of k custodians of
    /// the device's group (`obhut custody approve-hold`); logged with them.
    Place {
        /// Group id of the device (32 hex digits, `obhut custody show`)
        #[arg(long, value_name = "ID")]
        group: String,
        #[command(flatten)]
        terms: Terms,
        /// A custodian's approval file; repeat for each (at least k)
        #[arg(long = "approval", value_name = "FILE")]
        approvals: Vec<PathBuf>,
    },
    /// Release a legal hold: only with k custodians' release approvals
    /// (`obhut custody approve-hold --release`); what it kept past its
    /// retention goes at the next sweep.
    Release {
        /// The hold's id (32 hex digits, `obhut admin hold list`)
        #[arg(long, value_name = "ID")]
        hold: String,
        /// A custodian's approval file; repeat for each (at least k)
        #[arg(long = "approval", value_name = "FILE")]
        approvals: Vec<PathBuf>,
    },
    /// List the holds, active and released.
    List,
}

fn approvals(paths: &[PathBuf]) -> anyhow::Result<Vec<HoldApproval>> {
    paths
        .iter()
        .map(|p| {
            files::parse(
                p,
                "--approval",
                "a legal-hold approval (from `obhut custody approve-hold`)",
                HoldApproval::from_bytes,
            )
        })
        .collect()
}

/// Run `obhut admin hold …` on the vault's index.
pub async fn admin(
    g: &Global,
    cmd: &HoldCommand,
    index: &impl obhut_store::IndexStore,
) -> anyhow::Result<()> {
    match cmd {
        HoldCommand::Place {
            group,
            terms,
            approvals: paths,
        } => {
            let group_id = obhut_core::ids::GroupId::from_hex(group).ok_or_else(|| {
                fail(
                    format!("{group:?} is not a group id"),
                    "pass the 32 hex digits shown by `obhut custody show`",
                )
            })?;
            let t = HoldTerms {
                group_id,
                case: terms.case.clone(),
                device_key: device_key(&terms.device)?,
                from_ms: terms.from,
                to_ms: terms.to,
            };
            let parsed = approvals(paths)?;
            let id = place_hold(index, &SystemClock, &t, &parsed)
                .await
                .map_err(admin_error)?;
            g.note(format!(
                "hold {} placed for case {:?} ({} custodian approvals logged)",
                hex::encode(id),
                t.case,
                parsed.len()
            ));
            println!("{}", hex::encode(id));
        }
        HoldCommand::Release {
            hold,
            approvals: paths,
        } => {
            let mut id = [0u8; 16];
            hex::decode_to_slice(hold, &mut id).map_err(|_| {
                fail(
                    format!("{hold:?} is not a hold id"),
                    "pass the 32 hex digits shown by `obhut admin hold list`",
                )
            })?;
            let parsed = approvals(paths)?;
            release_hold(index, &SystemClock, id, &parsed)
                .await
                .map_err(admin_error)?;
            g.note(format!(
                "hold {hold} released; what it kept past its retention goes at the next sweep"
            ));
        }
        HoldCommand::List => {
            // Tab-separated for scripts, times as people read them.
            println!("hold\tcase\tdevice\tname\tfrom\tto\tplaced\treleased");
            let holds = index.holds().await?;
            let keys: Vec<[u8; 32]> = holds.iter().map(|h| h.device_key).collect();
            let names = crate::util::stored_names::read(index, &keys).await?;
            for h in holds {
                let t = terms_of(&h);
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    hex::encode(h.hold_id),
                    obhut_client::show::printable(&t.case),
                    hex::encode(t.device_key),
                    crate::util::stored_names::column(&names, &t.device_key),
                    time::show(t.from_ms),
                    time::show(t.to_ms),
                    time::show(h.placed_ms),
                    h.released_ms.map_or_else(|| "-".to_owned(), time::show)
                );
            }
        }
    }
    Ok(())
}
