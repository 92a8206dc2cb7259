//! Locked key files and their public halves, as `obhut keygen` writes them
//! (shared by `keygen` and `demo`).

use std::path::{Path, PathBuf};

use obhut_core::locked::{self, Content, KdfParams};
use obhut_core::rng::os_rng;
use obhut_core::secret::SecretBytes;

use super::files::{self, Mode};
use super::hint::HintExt;

/// How a key file is locked: the passphrase and the Argon2id cost.
pub struct Lock<'a> {
    /// The passphrase (never printed).
    pub passphrase: &'a [u8],
    /// The KDF cost ([`KdfParams::DEFAULT`] unless a test or demo says otherwise).
    pub params: KdfParams,
}

/// Lock `secret` under `passphrase` and write it to `path` (0600), and the
/// public half to `path`.pub (0644): the files `obhut keygen` writes, for
/// every caller that makes keys (`keygen`, `demo`). Returns the .pub path.
pub fn write_key_files(
    path: &Path,
    flag: &str,
    force: bool,
    content: Content,
    secret: &SecretBytes,
    public: &[u8],
    lock: Lock<'_>,
) -> anyhow::Result<PathBuf> {
    let pub_path = files::pub_path(path);
    // Every key file the CLI writes passes the same strength check, whoever
    // chose the passphrase (keygen checks it earlier with a better message).
    super::passphrase::check_strength(lock.passphrase, "the caller", &[])?;
    let locked = locked::lock(content, secret, lock.passphrase, lock.params, &mut os_rng())
        .next_step("this is a bug in obhut; please report it")?;
    files::write(path, &locked, flag, force, Mode::Private)?;
    files::write(
        &pub_path,
        public,
        &format!("{flag} (PATH.pub)"),
        force,
        Mode::Public,
    )?;
    Ok(pub_path)
}
