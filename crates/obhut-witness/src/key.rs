//! The witness key: an Ed25519 seed (`DIR/witness.key`, 32 raw bytes, mode
//! 0600) and the cosigner name beside it (`DIR/witness.name`). Clients and
//! the vault pin the resulting vkey (type 0x04, tlog-cosignature); the key
//! must therefore never change for a given name, and [`init`] refuses to
//! replace one.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use obhut_log::CosignatureSigner;
use obhut_log::note::is_valid_key_name;
use zeroize::Zeroizing;

/// The seed file inside the witness directory.
pub const KEY_FILE: &str = "witness.key";
/// The cosigner-name file inside the witness directory.
pub const NAME_FILE: &str = "witness.name";

/// Why the witness key could not be created or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A file-system operation failed.
    #[error("{op} {path}: {error}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// OS error (in the message rather than `source()`, so a chain
        /// printed in full names it once).
        error: std::io::Error,
    },
    /// `init` found a key already there.
    #[error("{path} already exists")]
    Exists {
        /// The key file.
        path: PathBuf,
    },
    /// No key in the directory.
    #[error("{path} does not exist")]
    Missing {
        /// The missing file.
        path: PathBuf,
    },
    /// The key file or directory is readable by others.
    #[error("{path} has mode {mode:03o}; it must not be accessible to group or others")]
    Permissions {
        /// The file or directory.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// A file does not hold what it should.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The cosigner name is not a valid signed-note key name.
    #[error(
        "invalid witness name {name:?}: a key name has no spaces or '+', e.g. dpo.example/witness"
    )]
    InvalidName {
        /// The name.
        name: String,
    },
    /// The OS random source failed.
    #[error("reading OS randomness: {0}")]
    Random(getrandom::Error),
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> KeyError + 'a {
    move |error| KeyError::Io {
        op,
        path: path.to_owned(),
        error,
    }
}

fn check_private(path: &Path) -> Result<(), KeyError> {
    let mode = fs::metadata(path)
        .map_err(io("reading", path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), KeyError> {
    obhut_durable::sync_dir(dir).map_err(|e| io("syncing directory", dir)(e.source))
}

/// Creates witness directory `dir` (0700) if needed and a new key named
/// `name` in it. Refuses if a key is already there.
///
/// The name is written before the key, so a crash in between leaves no key
/// and a second `init` simply starts over.
pub fn init(dir: &Path, name: &str) -> Result<CosignatureSigner, KeyError> {
    if !is_valid_key_name(name) {
        return Err(KeyError::InvalidName { name: name.into() });
    }
    let key_path = dir.join(KEY_FILE);
    if key_path.exists() {
        return Err(KeyError::Exists { path: key_path });
    }
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io("creating", dir))?;
    }

    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(KeyError::Random)?;
    let signer = CosignatureSigner::from_seed(name, &seed)
        .map_err(|_| KeyError::InvalidName { name: name.into() })?;

    let name_path = dir.join(NAME_FILE);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&name_path)
        .map_err(io("creating", &name_path))?;
    f.write_all(format!("{name}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io("writing", &name_path))?;

    // O_EXCL: two concurrent inits must not both believe they made the key.
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyError::Exists {
                path: key_path.clone(),
            },
            _ => io("creating", &key_path)(e),
        })?;
    f.write_all(seed.as_ref())
        .and_then(|()| f.sync_all())
        .map_err(io("writing", &key_path))?;
    sync_dir(dir)?;
    Ok(signer)
}

/// Loads the key of witness directory `dir`. Refuses a key file that group
/// or others can access, as ssh does.
pub fn load(dir: &Path) -> Result<CosignatureSigner, KeyError> {
    let key_path = dir.join(KEY_FILE);
    let name_path = dir.join(NAME_FILE);
    if !key_path.exists() {
        return Err(KeyError::Missing { path: key_path });
    }
    check_private(&key_path)?;
    let name = fs::read_to_string(&name_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => KeyError::Missing {
            path: name_path.clone(),
        },
        _ => io("reading", &name_path)(e),
    })?;
    let name = name.strip_suffix('\n').unwrap_or(&name);
    if !is_valid_key_name(name) {
        return Err(KeyError::Corrupt {
            path: name_path,
            reason: "not a valid key name",
        });
    }
    // One byte beyond the seed, so a longer file is caught, not cut; the
    // capacity is reserved up front so no unzeroized copy is left behind.
    let mut buf = Zeroizing::new(Vec::with_capacity(64));
    File::open(&key_path)
        .and_then(|f| f.take(33).read_to_end(&mut buf))
        .map_err(io("reading", &key_path))?;
    if buf.len() != 32 {
        return Err(KeyError::Corrupt {
            path: key_path,
            reason: "not 32 bytes",
        });
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&buf);
    CosignatureSigner::from_seed(name, &seed).map_err(|_| KeyError::Corrupt {
        path: name_path,
        reason: "not a valid key name",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use obhut_log::note::ALG_COSIGNATURE_V1;

    #[test]
    fn init_then_load_gives_the_same_vkey() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("w");
        let made = init(&dir, "dpo.example/witness").unwrap();
        let loaded = load(&dir).unwrap();
        assert_eq!(made.verifier_key(), loaded.verifier_key());
        assert_eq!(loaded.verifier_key().alg(), ALG_COSIGNATURE_V1);
        assert_eq!(loaded.verifier_key().name(), "dpo.example/witness");
        let meta = fs::metadata(dir.join(KEY_FILE)).unwrap();
        assert_eq!(meta.len(), 32);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn init_never_replaces_a_key() {
        let tmp = tempfile::tempdir().unwrap();
        let first = init(tmp.path(), "dpo.example/witness").unwrap();
        assert!(matches!(
            init(tmp.path(), "dpo.example/witness"),
            Err(KeyError::Exists { .. })
        ));
        assert_eq!(
            load(tmp.path()).unwrap().verifier_key(),
            first.verifier_key()
        );
    }

    #[test]
    fn bad_names_modes_and_lengths_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            init(tmp.path(), "has space"),
            Err(KeyError::InvalidName { .. })
        ));
        assert!(!tmp.path().join(KEY_FILE).exists());
        init(tmp.path(), "w.example/w").unwrap();
        let key = tmp.path().join(KEY_FILE);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            load(tmp.path()),
            Err(KeyError::Permissions { .. })
        ));
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let mut f = OpenOptions::new().append(true).open(&key).unwrap();
        f.write_all(b"x").unwrap();
        assert!(matches!(load(tmp.path()), Err(KeyError::Corrupt { .. })));
    }
}
