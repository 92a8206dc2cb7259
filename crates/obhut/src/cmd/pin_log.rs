//! `obhut custody pin-log`: k custodians pin the audit log their group's
//! clients trust and the witnesses that must cosign its checkpoints
//! (docs/format.md §4.4), so no client takes a log key on first use.

use std::path::PathBuf;

use obhut_core::log_pin::{LogPin, LogPinContent};

use crate::util::hint::fail;
use crate::util::{Global, files, keys, load};

/// Pin the audit log and its witnesses for a custody group (k custodians sign).
#[derive(Debug, clap::Args)]
#[command(long_about = "\
As a custodian, sign the group's log pin: the audit log's verifier key and
the witnesses whose cosignatures every checkpoint must carry. The first
custodian creates the file from --log-key and --witness; the others sign the
same file (their flags, if given, must say the same). Once k custodians have
signed, `obhut approve`, `deny` and `open` with --log-pin FILE (and `obhut
audit` and `pending` with --log-pin FILE --group FILE) trust that log and no
other, and refuse a checkpoint without the required cosignatures.

Take the log key from your organisation, not from the vault: the pin is only
as good as what the custodians checked before signing it.

Example:
  obhut custody pin-log --group custody/group.obgd --identity alice.key \\
      --log-key 'obhut/vault-…+…+…' --witness 'dpo.example/witness+…+…' --out custody/log.oblp
  obhut custody pin-log --group custody/group.obgd --identity bob.key --out custody/log.oblp")]
pub struct Args {
    /// The pinned custody group descriptor.
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
    /// Your locked identity (a custodian of the group).
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// The log's verifier key (C2SP vkey); needed to create the pin.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    /// A witness whose cosignature checkpoints must carry (C2SP vkey); repeat for several.
    #[arg(long = "witness", value_name = "VKEY")]
    witnesses: Vec<String>,
    /// How many of the witnesses must cosign (default: all of them).
    #[arg(long, value_name = "N")]
    witnesses_required: Option<u16>,
    /// The pin file: created by the first custodian, signed in place by the others.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Run `obhut custody pin-log`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let group = load::pinned_group(&a.group, "--group")?;
    let mut pin = if a.out.exists() {
        let pin = files::parse(&a.out, "--out", "a log pin", LogPin::from_bytes)?;
        let c = pin.content();
        let differs = a.log_key.as_ref().is_some_and(|k| *k != c.log_key)
            || (!a.witnesses.is_empty() && a.witnesses != c.witnesses);
        if differs {
            return Err(fail(
                format!(
                    "{} pins log {} with witnesses {:?}, not what your flags say",
                    a.out.display(),
                    c.log_key,
                    c.witnesses
                ),
                "read the pin with care before signing it; sign without --log-key and --witness to sign it as it is",
            ));
        }
        pin
    } else {
        let log_key = a.log_key.clone().ok_or_else(|| {
            fail(
                format!("{} does not exist yet", a.out.display()),
                "the first custodian passes --log-key (and any --witness) to create it",
            )
        })?;
        let n = u16::try_from(a.witnesses.len()).unwrap_or(u16::MAX);
        LogPin::new(LogPinContent {
            group_id: group.group_id(),
            generation: group.generation(),
            log_key,
            witnesses: a.witnesses.clone(),
            witnesses_required: a.witnesses_required.unwrap_or(n),
        })
        .map_err(|e| {
            fail(
                format!("the log pin: {e}"),
                "check --log-key, --witness and --witnesses-required",
            )
        })?
    };
    let me = keys::person(g, &a.identity, "--identity")?;
    let my_key = me.sign.verify_key();
    let index = group
        .custodians()
        .iter()
        .find(|c| c.sign_key == my_key)
        .map(|c| c.index)
        .ok_or_else(|| {
            fail(
                format!("{} is not a custodian of this group", a.identity.display()),
                "sign with the identity of a custodian listed in --group (obhut custody show)",
            )
        })?;
    pin.sign(&group, index, &me.sign)?;
    obhut_durable::write_atomic(&a.out, &pin.to_bytes(), 0o644)
        .map_err(|e| files::durable_error(e, &a.out, "--out"))?;
    let have = pin.signers().count();
    let k = usize::from(group.threshold());
    let c = pin.content();
    g.note(format!(
        "custodian {index} signed the pin of log {} ({} witness(es), {} required): {have} of {k} signatures{}",
        c.log_key,
        c.witnesses.len(),
        c.witnesses_required,
        if have >= k {
            "; the pin is in force"
        } else {
            "; more custodians must sign"
        }
    ));
    Ok(())
}
