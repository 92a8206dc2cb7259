//! `obhut verify BUNDLE`: an export bundle checked offline
//! (`obhut_client::bundle_verify`, docs/bundle.md §6), a verdict printed
//! per file and per event.

use std::path::Path;

use obhut_client::bundle_verify::{Outcome, Trust, parse_identities, verify_bundle};
use obhut_log::VerifierKey;

use crate::util::Global;
use crate::util::hint::fail;

/// Run the bundle's checks and print them.
pub fn run(
    g: &Global,
    dir: &Path,
    log_key: Option<&str>,
    witnesses: &[String],
    witnesses_required: Option<usize>,
    identity: Option<&Path>,
) -> anyhow::Result<()> {
    let parse = |v: &str, flag: &str| {
        VerifierKey::parse(v).map_err(|e| {
            fail(
                format!("{flag} {v}: {e}"),
                "give a C2SP vkey (origin+id+base64)",
            )
        })
    };
    let trust = Trust {
        log_key: log_key.map(|k| parse(k, "--log-key")).transpose()?,
        witnesses: witnesses
            .iter()
            .map(|w| parse(w, "--witness"))
            .collect::<anyhow::Result<_>>()?,
        witnesses_required,
    };
    let identities = match identity {
        None => Vec::new(),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                fail(
                    format!("--age-identity {}: {e}", p.display()),
                    "give the recipient's age key file",
                )
            })?;
            parse_identities(&text).map_err(|e| {
                fail(
                    format!("--age-identity {}: {e}", p.display()),
                    "give the file age-keygen wrote (AGE-SECRET-KEY-1…)",
                )
            })?
        }
    };
    let report = verify_bundle(dir, &trust, &identities);
    if !g.quiet {
        println!("bundle {}", dir.display());
        for c in &report.checks {
            match &c.outcome {
                Outcome::Ok(what) => println!("ok           {}: {what}", c.part),
                Outcome::NotChecked(why) => println!("NOT CHECKED  {}: {why}", c.part),
                Outcome::Failed(f) => println!("FAILED       {}: {f}", c.part),
            }
        }
    }
    let failed = report.failed();
    if !failed.is_empty() {
        let parts: Vec<String> = failed
            .iter()
            .map(|c| match &c.outcome {
                Outcome::Failed(f) => format!("{} ({f})", c.part),
                _ => c.part.clone(),
            })
            .collect();
        return Err(fail(
            format!(
                "bundle {} failed verification: {}",
                dir.display(),
                parts.join("; ")
            ),
            "the named parts were altered or damaged after export; ask the exporter for another copy",
        ));
    }
    if !g.quiet {
        if report.trust_from_bundle {
            println!(
                "note: the log key was taken from the bundle itself; pass --log-key (the vault's published key) to pin it"
            );
        }
        println!("result: ok, every check above passed");
    }
    Ok(())
}
