//! Erasure requests (docs/vault.md §9.2): `obhut custody approve-erasure`,
//! a custodian's signed approval of erasing one recording (or a window of
//! it); `obhut serve --erase APPROVAL...`, the operator's run of it on a
//! stopped vault with k such approvals.

use std::path::PathBuf;

use obhut_core::erasure::{ErasureApproval, ErasureTerms};
use obhut_core::ids::RecordingId;
use obhut_server::ServerConfig;
use obhut_server::embedded::{CloseIndex, Start, Vault};
use obhut_server::erasure::ErasureReport;

use crate::util::files::Mode;
use crate::util::hint::fail;
use crate::util::vault::vault_error;
use crate::util::{Global, files, keys, load, time};

/// Approve erasing a recording, or a window of it (k custodians sign).
#[derive(Debug, clap::Args)]
#[command(long_about = "\
As a custodian, sign your approval of erasing one recording, or the part
of it captured in a time window, before its retention ends (GDPR Art. 17).
The vault's operator runs the erasure (`obhut serve --erase`) only with
approvals of k custodians of the group, each for exactly this recording,
window and reason; it destroys the footage's epoch keys, deletes what was
derived from it, taints the models built on it, and logs the approvals.
The approval is void after --valid-hours.

Example:
  obhut custody approve-erasure --group custody/group.obgd --identity alice.key \\
      --recording 5a…(32 hex) --reason 'Art. 17 request 2026-0017' --out alice.obea")]
pub struct ApproveArgs {
    /// The pinned custody group descriptor of the recording.
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
    /// Your locked identity (a custodian of the group).
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// The recording's id (32 hex digits, `obhut request list` or the log)
    #[arg(long, value_name = "ID")]
    recording: String,
    /// Why: the request's reference and ground (1 to 256 bytes)
    #[arg(long, value_name = "TEXT")]
    reason: String,
    /// Erase only segments captured from this time (inclusive) [default: the start]
    #[arg(long, value_name = "TIME", value_parser = time::parse_instant)]
    from: Option<i64>,
    /// ... up to this time (exclusive) [default: the end]
    #[arg(long, value_name = "TIME", value_parser = time::parse_instant)]
    to: Option<i64>,
    /// Hours the approval stays valid.
    #[arg(long, value_name = "H", default_value_t = 72)]
    valid_hours: u32,
    /// Where to write the approval (to hand to the vault's operator).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Run `obhut custody approve-erasure`.
pub fn approve(g: &Global, a: &ApproveArgs) -> anyhow::Result<()> {
    let group = load::pinned_group(&a.group, "--group")?;
    let recording_id = RecordingId::from_hex(&a.recording).ok_or_else(|| {
        fail(
            format!("{:?} is not a recording id", a.recording),
            "pass the recording's 32 hex digits",
        )
    })?;
    let terms = ErasureTerms {
        group_id: group.group_id(),
        recording_id,
        from_ms: a.from.unwrap_or(i64::MIN),
        to_ms: a.to.unwrap_or(i64::MAX),
        reason: a.reason.clone(),
    };
    let (me, index) = keys::custodian(g, &a.identity, &group)?;
    let not_after = time::now_ms().saturating_add(i64::from(a.valid_hours) * 3_600_000);
    let approval = ErasureApproval::sign(terms, not_after, index, &me.sign).map_err(|e| {
        fail(
            format!("cannot approve this erasure: {e}"),
            "pass a reason of 1 to 256 bytes and --from before --to",
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
        "custodian {index} approves erasing recording {recording_id}; give {} to the vault's operator",
        a.out.display()
    ));
    Ok(())
}

/// The approvals in `paths`, all for one erasure; its terms.
fn approvals(paths: &[PathBuf]) -> anyhow::Result<(ErasureTerms, Vec<ErasureApproval>)> {
    let all: Vec<ErasureApproval> = paths
        .iter()
        .map(|p| {
            files::parse(
                p,
                "--erase",
                "an erasure approval (from `obhut custody approve-erasure`)",
                ErasureApproval::from_bytes,
            )
        })
        .collect::<anyhow::Result<_>>()?;
    let Some(first) = all.first() else {
        return Err(fail(
            "--erase names no approval",
            "pass the approval files of k custodians",
        ));
    };
    let terms = first.terms.clone();
    if all.iter().any(|a| a.terms != terms) {
        return Err(fail(
            "the approvals are for different erasures (recording, window or reason differ)",
            "pass approvals of one erasure only; each custodian signs the same terms",
        ));
    }
    Ok((terms, all))
}

/// `obhut serve --erase`: open the stopped vault's stores and keystore,
/// erase with the approvals in `paths`, print the report.
pub async fn run(mut config: ServerConfig, paths: &[PathBuf]) -> anyhow::Result<()> {
    let (terms, approvals) = approvals(paths)?;
    // Its own port: the erasure serves nothing.
    config.listen = ([127, 0, 0, 1], 0).into();
    config.ops_listen = None;
    let report = match config.database_url.clone() {
        None => {
            erase_on(
                Vault::open(config, Start::Existing)
                    .await
                    .map_err(vault_error)?,
                &terms,
                &approvals,
            )
            .await?
        }
        Some(url) => {
            erase_on(
                Vault::open_postgres(config, url.expose(), Start::Existing)
                    .await
                    .map_err(vault_error)?,
                &terms,
                &approvals,
            )
            .await?
        }
    };
    print!("{}", describe(&terms, &report, time::show));
    Ok(())
}

async fn erase_on<I: CloseIndex>(
    vault: Vault<I>,
    terms: &ErasureTerms,
    approvals: &[ErasureApproval],
) -> anyhow::Result<ErasureReport> {
    let r = vault.app().erase(terms, approvals).await;
    vault.app().index.close_index().await;
    r.map_err(|e| {
        fail(
            format!("the erasure was refused or failed: {e}"),
            "collect approvals of k custodians of the recording's group for exactly this erasure \
             (`obhut custody approve-erasure`); after a failure run it again, it resumes",
        )
    })
}

/// The report for people; `show` renders an instant (local time).
fn describe(terms: &ErasureTerms, r: &ErasureReport, show: impl Fn(i64) -> String) -> String {
    format!(
        "erased {} segments of recording {} ({} epochs split and destroyed, {} other segments \
         re-wrapped and kept)\n\
         deleted {} derived artifacts (models built on them are listed as tainted in the log)\n\
         copies could open them until {}: {}\n",
        r.segments,
        terms.recording_id,
        r.epochs,
        r.moved,
        r.artifacts,
        show(r.copies_until_ms),
        r.why
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_says_what_went_and_until_when_copies_open_it() {
        let terms = ErasureTerms {
            group_id: obhut_core::ids::GroupId([1; 16]),
            recording_id: RecordingId([0x5a; 16]),
            from_ms: i64::MIN,
            to_ms: i64::MAX,
            reason: "r".into(),
        };
        let r = ErasureReport {
            segments: 3,
            epochs: 1,
            moved: 2,
            copies_until_ms: 7,
            why: "the keys were destroyed".into(),
            artifacts: 4,
        };
        let text = describe(&terms, &r, |ms| format!("T{ms}"));
        assert!(
            text.contains("erased 3 segments of recording 5a5a"),
            "{text}"
        );
        assert!(text.contains("1 epochs split"), "{text}");
        assert!(text.contains("deleted 4 derived artifacts"), "{text}");
        assert!(
            text.contains("copies could open them until T7: the keys were destroyed"),
            "{text}"
        );
    }
}
