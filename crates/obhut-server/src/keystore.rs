//! The vault's keystore (docs/vault.md §6), a directory separate from the
//! data directory so that a copy of DATA (a backup, a stolen disk) holds no
//! key:
//!
//! ```text
//! KEYS/            0700
//!   vault.key      0600  Ed25519 receipt key: 64 hex digits of the seed
//!   epochs/        0700
//!     <id>.key     0600  EpochSecret::to_secret_bytes()
//! ```
//!
//! Files are written tmp → fsync → rename → fsync(dir) ([`obhut_durable`]),
//! like blobs.
//! Destroying `epochs/<id>.key` (every copy) is what makes an epoch's
//! footage unrecoverable (docs/threat-model.md P6).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use obhut_core::epoch::EpochSecret;
use obhut_core::identity::SignKey;
use obhut_core::ids::EpochId;
use obhut_core::rng::os_rng;
use obhut_core::secret::Secret32;

/// Keystore failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// File-system failure.
    #[error("keystore {path}: {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Path concerned.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A key file is not what this version writes.
    #[error(
        "keystore {path}: {reason}. Restore it from the keystore backup; never replace vault.key with a new key while devices hold receipts"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// Permissions let others read the keys.
    #[error(
        "keystore {path} has mode {mode:o}; run `chmod {want:o} {path}` (keys must not be readable by others)"
    )]
    Permissions {
        /// The file or directory.
        path: PathBuf,
        /// Current mode.
        mode: u32,
        /// Required mode.
        want: u32,
    },
}

type Result<T> = std::result::Result<T, KeystoreError>;

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> KeystoreError + 'a {
    move |source| KeystoreError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// The open keystore.
#[derive(Debug)]
pub struct Keystore {
    dir: PathBuf,
    vault_key: SignKey,
    log_key: SignKey,
}

/// An Ed25519 seed file (64 hex digits, mode 0600), created on first use.
fn load_or_create_key(key_path: &Path) -> Result<SignKey> {
    if key_path.exists() {
        let mode = std::fs::metadata(key_path)
            .map_err(io("reading", key_path))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeystoreError::Permissions {
                path: key_path.to_owned(),
                mode,
                want: 0o600,
            });
        }
        let text = std::fs::read_to_string(key_path).map_err(io("reading", key_path))?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| KeystoreError::Corrupt {
            path: key_path.to_owned(),
            reason: "not 64 hex digits",
        })?;
        zeroize_string(text);
        let key = SignKey::from_seed(&Secret32::new(seed));
        zeroize::Zeroize::zeroize(&mut seed);
        Ok(key)
    } else {
        let k = SignKey::generate(&mut os_rng());
        let seed = k.seed();
        let mut text = hex::encode(seed.expose());
        text.push('\n');
        write_secret_file(key_path, text.as_bytes())?;
        zeroize_string(text);
        Ok(k)
    }
}

fn ensure_dir(path: &Path) -> Result<()> {
    if !path.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(io("creating directory", path))?;
    }
    let mode = std::fs::metadata(path)
        .map_err(io("reading", path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeystoreError::Permissions {
            path: path.to_owned(),
            mode,
            want: 0o700,
        });
    }
    Ok(())
}

/// tmp (O_EXCL, 0600) → write → fsync → rename → fsync(dir)
/// ([`obhut_durable`]). The temporary name is fixed (`NAME.tmp`) and a
/// leftover of a crash removed first: it holds key material, which must
/// not outlive the key it was written for.
fn write_secret_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    obhut_durable::write_atomic_via(&tmp, path, bytes, 0o600).map_err(|e| KeystoreError::Io {
        op: e.step.as_str(),
        path: e.path,
        source: e.source,
    })
}

impl Keystore {
    /// Open `dir`, creating it and the vault key on first start.
    pub fn open(dir: &Path) -> Result<Self> {
        ensure_dir(dir)?;
        ensure_dir(&dir.join("epochs"))?;
        let vault_key = load_or_create_key(&dir.join("vault.key"))?;
        let log_key = load_or_create_key(&dir.join("log.key"))?;
        Ok(Keystore {
            dir: dir.to_owned(),
            vault_key,
            log_key,
        })
    }

    /// The receipt signing key.
    pub fn vault_key(&self) -> &SignKey {
        &self.vault_key
    }

    /// The audit log's checkpoint key (`log.key`): separate from the
    /// receipt key so either can be rotated or moved to hardware alone.
    pub fn log_key(&self) -> &SignKey {
        &self.log_key
    }

    /// Generate an epoch secret and store it durably; returns it.
    pub fn create_epoch(&self, id: EpochId) -> Result<EpochSecret> {
        let secret = EpochSecret::generate(id, &mut os_rng());
        let path = self.epoch_path(id);
        write_secret_file(&path, secret.to_secret_bytes().expose())?;
        Ok(secret)
    }

    /// Load an epoch secret (for the release endpoint of the access issue).
    pub fn epoch(&self, id: EpochId) -> Result<EpochSecret> {
        let path = self.epoch_path(id);
        let bytes = std::fs::read(&path).map_err(io("reading", &path))?;
        EpochSecret::from_secret_bytes(&bytes).map_err(|_| KeystoreError::Corrupt {
            path,
            reason: "not an epoch secret key",
        })
    }

    fn epoch_path(&self, id: EpochId) -> PathBuf {
        self.dir.join("epochs").join(format!("{id}.key"))
    }
}

fn zeroize_string(mut s: String) {
    use zeroize::Zeroize;
    s.zeroize();
}
