//! Unlocking key files: check what the file holds before asking for a
//! passphrase, then unlock and parse, with errors that name the file, the
//! flag and where the passphrase came from.

use std::path::Path;

use obhut_core::group::PinnedGroup;
use obhut_core::identity::{DeviceSecret, PersonSecret};
use obhut_core::locked::{self, Content};
use obhut_core::secret::SecretBytes;

use super::Global;
use super::files;
use super::hint::{HintExt, fail};
use super::passphrase;

fn keygen_for(want: Content) -> &'static str {
    match want {
        Content::Person => "obhut keygen person",
        Content::Device => "obhut keygen device",
        Content::Epoch => "obhut keygen epoch",
    }
}

/// Read the locked key file at `path`, check it holds `want`, ask for its
/// passphrase and unlock it.
fn unlock(g: &Global, path: &Path, flag: &str, want: Content) -> anyhow::Result<SecretBytes> {
    let expected = format!(
        "the {} file written by `{} --out PATH` (PATH itself, not PATH.pub)",
        want.describe(),
        keygen_for(want)
    );
    let file = files::read(path, flag)?;
    let content = locked::content_of(&file).map_err(|e| {
        let holds = obhut_core::labels::magic::describe(&file)
            .map(|k| format!("; the file holds {k}"))
            .unwrap_or_default();
        fail(
            format!(
                "{} (given as {flag}) is not a locked key file{holds} ({e})",
                path.display()
            ),
            format!("{flag} takes {expected}"),
        )
    })?;
    if content != want {
        return Err(fail(
            format!(
                "{} (given as {flag}) holds a {}, not a {}",
                path.display(),
                content.describe(),
                want.describe()
            ),
            format!("{flag} takes {expected}"),
        ));
    }
    let pass = passphrase::for_unlock(g, path, want.describe())?;
    let (_, secret) = locked::unlock(&file, pass.expose()).map_err(|e| match e {
        obhut_core::Error::WrongPassphrase => fail(
            format!("cannot unlock {} (given as {flag}): {e}", path.display()),
            format!(
                "check the passphrase (read from {}) is the one chosen when {} was created",
                pass.source,
                path.display()
            ),
        ),
        other => anyhow::Error::new(other).context(format!(
            "cannot unlock {} (given as {flag})",
            path.display()
        )),
    })?;
    Ok(secret)
}

/// Unlock a person's identity (custodian, requester).
/// Unlock the person key at `path` (given as `--identity`) and find it
/// among `group`'s custodians: the key and its custodian index, as the
/// approvals of holds, erasures and reclassifications are signed with.
pub fn custodian(
    g: &Global,
    path: &Path,
    group: &PinnedGroup,
) -> anyhow::Result<(PersonSecret, u16)> {
    let me = person(g, path, "--identity")?;
    let index = group
        .descriptor()
        .index_of(&me.sign.verify_key())
        .ok_or_else(|| {
            fail(
                format!(
                    "{} is not a custodian of group {}",
                    path.display(),
                    group.group_id()
                ),
                "pass the identity of one of the group's custodians (`obhut custody show`)",
            )
        })?;
    Ok((me, index))
}

pub fn person(g: &Global, path: &Path, flag: &str) -> anyhow::Result<PersonSecret> {
    let s = unlock(g, path, flag, Content::Person)?;
    PersonSecret::from_secret_bytes(s.expose()).hint(
        format!("{} (given as {flag}) is damaged", path.display()),
        "restore the key file from a backup",
    )
}

/// Unlock a device's signing key.
pub fn device(g: &Global, path: &Path, flag: &str) -> anyhow::Result<DeviceSecret> {
    let s = unlock(g, path, flag, Content::Device)?;
    DeviceSecret::from_secret_bytes(s.expose()).hint(
        format!("{} (given as {flag}) is damaged", path.display()),
        "restore the key file from a backup",
    )
}
