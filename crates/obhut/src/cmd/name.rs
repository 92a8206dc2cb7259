//! `obhut name set`: the holder of a person or device key gives it a new
//! display name (docs/format.md §3.5) — a fresh claim signed by the key,
//! later than the one it replaces, which the operator then serves with
//! `obhut admin set-name`, as a name made at keygen.

use std::io::Write;
use std::path::{Path, PathBuf};

use obhut_core::identity::SignKey;
use obhut_core::locked::{self, Content};
use obhut_core::name::{MAX_NAME_LEN, NameClaim, Subject, valid_name};

use crate::util::hint::fail;
use crate::util::{Global, files, keys, time};

/// Display names of keys.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: NameCommand,
}

#[derive(Debug, clap::Subcommand)]
enum NameCommand {
    /// Sign a new display name for your own key (person or device).
    #[command(long_about = "\
Sign NAME as the display name of the person or device key in KEY (asks for
its passphrase as other commands do) and write the claim to KEY.name, or
--out FILE, replacing the older claim there. Give the file to the vault's
operator, who serves it.

Example:
  obhut name set --key alice.key --name \"Alice Schmidt (custodian)\"
  obhut admin --data DIR --keys DIR set-name alice.key.name   (operator)

Every client then shows \"Alice Schmidt (custodian) (FINGERPRINT)\". A name
is shown only because the key itself signed it (or a custodian of the
group did): the operator relays names but cannot make or change one.

Order: a claim carries its signer's time, and the vault keeps the latest.
The new claim is dated now, or just after the claim it replaces if that
one is dated later (a clock that ran fast), so it always wins over the
key's earlier names; an old claim sent again is refused (`set-name` says
the key keeps its name) and cannot roll the name back.

NAME: 1 to 64 bytes of UTF-8, no surrounding spaces, no control,
bidirectional-formatting or zero-width characters.")]
    Set {
        /// Your locked key file (person or device), from `obhut keygen`.
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// The display name.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Where to write the claim (default KEY.name).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Run `obhut name`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    match &a.command {
        NameCommand::Set { key, name, out } => {
            if !valid_name(name) {
                return Err(fail(
                    format!("--name {name:?} is not a display name"),
                    format!(
                        "give 1 to {MAX_NAME_LEN} bytes with no surrounding spaces and no \
                         control, bidirectional-formatting or zero-width characters"
                    ),
                ));
            }
            let out = out.clone().unwrap_or_else(|| files::name_path(key));
            let content = locked::content_of(&files::read(key, "--key")?).map_err(|e| {
                fail(
                    format!(
                        "{} (given as --key) is not a locked key file ({e})",
                        key.display()
                    ),
                    "give the person or device key file `obhut keygen` wrote (not KEY.pub)",
                )
            })?;
            let claim = match content {
                Content::Person => {
                    let me = keys::person(g, key, "--key")?;
                    fresh(&out, Subject::Person, name, &me.sign)?
                }
                Content::Device => {
                    let me = keys::device(g, key, "--key")?;
                    fresh(&out, Subject::Device, name, &me.sign)?
                }
                Content::Epoch => {
                    return Err(fail(
                        format!("{} holds an epoch key, which has no name", key.display()),
                        "give a person or device key file",
                    ));
                }
            };
            write_claim(g, &out, "--out", &claim, true)?;
            g.note(format!(
                "give {} to the vault's operator: `obhut admin set-name {}`",
                out.display(),
                out.display()
            ));
            Ok(())
        }
    }
}

/// A claim of `name` for `key`, dated now, or one millisecond after the
/// claim for the same key already at `previous` if that is dated later.
fn fresh(previous: &Path, kind: Subject, name: &str, key: &SignKey) -> anyhow::Result<NameClaim> {
    let mut at = time::now_ms();
    if let Ok(bytes) = std::fs::read(previous)
        && let Ok(old) = NameClaim::from_bytes(&bytes)
        && old.subject() == &key.verify_key()
    {
        at = at.max(old.time_ms().saturating_add(1));
    }
    Ok(NameClaim::sign_own(kind, name, at, key)?)
}

/// Write `claim` to `path` (a public file), `replace` allowing an older
/// claim there to be overwritten.
pub fn write_claim(
    g: &Global,
    path: &Path,
    flag: &str,
    claim: &NameClaim,
    replace: bool,
) -> anyhow::Result<()> {
    let mut f = files::Output::create(path, flag, replace || g.force, files::Mode::Public)?;
    f.file().write_all(&claim.to_bytes())?;
    f.commit()?;
    g.note(format!(
        "wrote {}: {} {} is named {:?} (signed by that key, dated {})",
        path.display(),
        claim.kind().word(),
        hex::encode(claim.subject().to_bytes()),
        claim.name(),
        time::show(claim.time_ms())
    ));
    Ok(())
}
