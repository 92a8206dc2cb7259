//! The vault's keystore (docs/vault.md §6), a directory separate from the
//! data directory so that a copy of DATA (a backup, a stolen disk) holds no
//! key:
//!
//! ```text
//! KEYS/            0700
//!   vault.key      0600  Ed25519 receipt key: 64 hex digits of the seed
//!   log.key        0600  Ed25519 checkpoint key, the same
//!   epochs/        0700
//!     <id>.sealed  0600  EpochSecret::to_secret_bytes(), sealed under the
//!                        epoch's wrapping key (crate::holder)
//!   instance       0600  the data directory's instance id (hex), written last
//! ```
//!
//! Files are written tmp → fsync → rename → fsync(dir) ([`obhut_durable`]),
//! like blobs.
//!
//! Keys are made only by [`Keystore::create`] (`obhut serve --init`), never
//! on a plain start: a vault that quietly made new keys for a missing
//! keystore would sign receipts its devices refuse and checkpoints its
//! auditors cannot verify. `instance` holds the id the index and the blob
//! store share (`obhut_store::check_consistency`), so a keystore is opened
//! only beside its own data directory ([`Keystore::open`]), as Moonfire NVR
//! checks its sample-file directories against its database. It is written
//! after both keys, so a keystore with an `instance` file is complete.
//! The wrapping keys are not in this directory but in the epoch key holder
//! ([`crate::holder`]): destroying an epoch's wrapping key there is what
//! makes its footage unrecoverable, from this directory and every backup
//! of it (docs/threat-model.md P6, docs/vault.md §9). An epoch secret a
//! version before that wrote in plain (`epochs/<id>.key`) is sealed and
//! its plain file removed the first time it is read.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use obhut_core::epoch::EpochSecret;
use obhut_core::identity::SignKey;
use obhut_core::ids::EpochId;
use obhut_core::rng::os_rng;
use obhut_core::secret::Secret32;

use crate::holder::{EpochKeyHolder, FileHolder, HolderError};

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
    /// `instance` names another vault's data directory.
    #[error(
        "the keystore {dir} belongs to the vault with instance id {keystore_id}, not to the data directory with {data_id}; pass the --keys of this --data (or the --data of this keystore)"
    )]
    Foreign {
        /// The keystore.
        dir: PathBuf,
        /// The id in `KEYS/instance`.
        keystore_id: String,
        /// The data directory's id.
        data_id: String,
    },
    /// A bound keystore lacks one of its keys.
    #[error(
        "keystore {path} is missing. Restore the keystore from its backup; never replace a key with a new one while devices hold receipts and auditors hold checkpoints"
    )]
    MissingKey {
        /// The missing file.
        path: PathBuf,
    },
    /// The epoch key holder failed, or the epoch's key is destroyed.
    #[error(transparent)]
    Holder(#[from] HolderError),
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
    /// The configured holder ([`Keystore::set_holder`]), else the file
    /// holder beside the keystore, opened (and made) on first use.
    holder: std::sync::OnceLock<Box<dyn EpochKeyHolder>>,
}

/// Where the file key holder of the keystore `keys` lives unless
/// configured (`epoch_holder_dir`): beside it, never inside it, so that a
/// copy of the keystore does not carry the wrapping keys.
pub fn default_holder_dir(keys: &Path) -> PathBuf {
    let mut name = keys
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "obhut-keys".into());
    name.push(".epoch-holder");
    keys.with_file_name(name)
}

/// What a keystore directory holds, before anything is opened or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The directory does not exist.
    Absent,
    /// It exists and holds neither key nor `instance`.
    Empty,
    /// Keys but no `instance`: written before instance ids, or an
    /// interrupted `--init`.
    Unbound,
    /// `instance` with this id.
    Bound(String),
}

impl Probe {
    /// Whether the keystore holds nothing to lose.
    pub fn is_empty(&self) -> bool {
        matches!(self, Probe::Absent | Probe::Empty)
    }
}

const INSTANCE: &str = "instance";
const VAULT_KEY: &str = "vault.key";
const LOG_KEY: &str = "log.key";

/// An Ed25519 seed file (64 hex digits, mode 0600); its absence is an
/// error ([`KeystoreError::MissingKey`]).
fn load_key(key_path: &Path) -> Result<SignKey> {
    if !key_path.exists() {
        return Err(KeystoreError::MissingKey {
            path: key_path.to_owned(),
        });
    }
    {
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
    }
}

/// A new Ed25519 seed file (64 hex digits, mode 0600).
fn create_key(key_path: &Path) -> Result<SignKey> {
    let k = SignKey::generate(&mut os_rng());
    let seed = k.seed();
    let mut text = hex::encode(seed.expose());
    text.push('\n');
    write_secret_file(key_path, text.as_bytes())?;
    zeroize_string(text);
    Ok(k)
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
    /// What `dir` holds (nothing is created).
    pub fn probe(dir: &Path) -> Result<Probe> {
        if !dir.exists() {
            return Ok(Probe::Absent);
        }
        let instance = dir.join(INSTANCE);
        if instance.exists() {
            let text = std::fs::read_to_string(&instance).map_err(io("reading", &instance))?;
            let id = text.trim();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(KeystoreError::Corrupt {
                    path: instance,
                    reason: "not an instance id (hex digits)",
                });
            }
            return Ok(Probe::Bound(id.to_owned()));
        }
        if dir.join(VAULT_KEY).exists() || dir.join(LOG_KEY).exists() {
            Ok(Probe::Unbound)
        } else {
            Ok(Probe::Empty)
        }
    }

    /// Open the keystore of the data directory whose instance id is
    /// `instance`: refused if `dir` is bound to another one
    /// ([`KeystoreError::Foreign`]) or misses a key
    /// ([`KeystoreError::MissingKey`]). The caller has checked with
    /// [`Keystore::probe`] that `dir` is bound.
    pub fn open(dir: &Path, instance: &str) -> Result<Self> {
        match Keystore::probe(dir)? {
            Probe::Bound(id) if id == instance => {}
            Probe::Bound(id) => {
                return Err(KeystoreError::Foreign {
                    dir: dir.to_owned(),
                    keystore_id: id,
                    data_id: instance.to_owned(),
                });
            }
            _ => {
                return Err(KeystoreError::MissingKey {
                    path: dir.join(INSTANCE),
                });
            }
        }
        Keystore::load(dir)
    }

    /// Load the keys of `dir` without looking at `instance`: for
    /// binding an unbound keystore ([`Keystore::bind`]) once its keys are
    /// shown to be the vault's.
    pub fn load_unbound(dir: &Path) -> Result<Self> {
        ensure_dir(dir)?;
        ensure_dir(&dir.join("epochs"))?;
        let vault_key = load_key(&dir.join(VAULT_KEY))?;
        let log_key = load_key(&dir.join(LOG_KEY))?;
        Ok(Keystore {
            dir: dir.to_owned(),
            vault_key,
            log_key,
            holder: std::sync::OnceLock::new(),
        })
    }

    fn load(dir: &Path) -> Result<Self> {
        Keystore::load_unbound(dir)
    }

    /// Make the keys of a new vault in `dir` (absent or empty) and bind
    /// them to `instance`: both keys first, `instance` last, each written
    /// durably, so that an interrupted run leaves a keystore
    /// [`Probe::Unbound`] or [`Probe::Empty`], never a bound one with a key
    /// missing.
    pub fn create(dir: &Path, instance: &str) -> Result<Self> {
        ensure_dir(dir)?;
        ensure_dir(&dir.join("epochs"))?;
        for name in [VAULT_KEY, LOG_KEY] {
            let path = dir.join(name);
            if !path.exists() {
                create_key(&path)?;
            }
        }
        Keystore::load(dir)?.bind(instance)
    }

    /// Write `instance` into the keystore: from now on it opens only
    /// beside that data directory.
    pub fn bind(self, instance: &str) -> Result<Self> {
        write_secret_file(&self.dir.join(INSTANCE), format!("{instance}\n").as_bytes())?;
        Ok(self)
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

    /// Hold epoch wrapping keys in `holder` from now on (the configured
    /// one: a PKCS#11 token, or a file holder elsewhere).
    pub fn set_holder(&mut self, holder: Box<dyn EpochKeyHolder>) {
        self.holder = std::sync::OnceLock::from(holder);
    }

    fn holder(&self) -> Result<&dyn EpochKeyHolder> {
        if let Some(h) = self.holder.get() {
            return Ok(h.as_ref());
        }
        let made: Box<dyn EpochKeyHolder> =
            Box::new(FileHolder::open(&default_holder_dir(&self.dir))?);
        // Two first uses at once both open the same directory; one wins.
        Ok(self.holder.get_or_init(|| made).as_ref())
    }

    /// Generate an epoch secret and store it durably, sealed under a new
    /// wrapping key of its own; returns it.
    pub fn create_epoch(&self, id: EpochId) -> Result<EpochSecret> {
        let secret = EpochSecret::generate(id, &mut os_rng());
        self.holder()?.create(id)?;
        let sealed = self.holder()?.seal(id, secret.to_secret_bytes().expose())?;
        write_secret_file(&self.sealed_path(id), &sealed)?;
        Ok(secret)
    }

    /// Whether the keystore has a (sealed or legacy) secret of epoch `id`
    /// on disk: for a hold's key, made once by the sweeper.
    pub fn has_epoch(&self, id: EpochId) -> bool {
        self.sealed_path(id).exists() || self.legacy_path(id).exists()
    }

    /// Load an epoch secret (for releases): `Holder(Destroyed)` once the
    /// epoch is destroyed.
    pub fn epoch(&self, id: EpochId) -> Result<EpochSecret> {
        let sealed_path = self.sealed_path(id);
        if !sealed_path.exists() {
            let legacy = self.legacy_path(id);
            if legacy.exists() {
                return self.seal_legacy(id, &legacy);
            }
        }
        let sealed = std::fs::read(&sealed_path).map_err(io("reading", &sealed_path))?;
        self.open_sealed(id, &sealed).map_err(|e| match e {
            KeystoreError::Corrupt { reason, .. } => KeystoreError::Corrupt {
                path: sealed_path,
                reason,
            },
            e => e,
        })
    }

    /// Open a sealed epoch secret (`epochs/<id>.sealed`) with this
    /// keystore's holder: for a keystore restored from a backup, whose
    /// sealed files open only while the holder still has their epochs'
    /// wrapping keys.
    pub fn open_sealed(&self, id: EpochId, sealed: &[u8]) -> Result<EpochSecret> {
        let bytes = self.holder()?.open(id, sealed)?;
        EpochSecret::from_secret_bytes(bytes.expose()).map_err(|_| KeystoreError::Corrupt {
            path: self.sealed_path(id),
            reason: "not an epoch secret key",
        })
    }

    /// Destroy epoch `id`: its wrapping key in the holder first (what
    /// makes every copy of the sealed secret useless), then the sealed
    /// file. `Ok(true)` if the wrapping key existed until now.
    pub fn destroy_epoch(&self, id: EpochId) -> Result<bool> {
        let destroyed = self.holder()?.destroy(id)?;
        for path in [self.sealed_path(id), self.legacy_path(id)] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("removing", &path)(e)),
            }
        }
        Ok(destroyed)
    }

    fn seal_legacy(&self, id: EpochId, legacy: &Path) -> Result<EpochSecret> {
        let mut bytes = std::fs::read(legacy).map_err(io("reading", legacy))?;
        let secret = EpochSecret::from_secret_bytes(&bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        let secret = secret.map_err(|_| KeystoreError::Corrupt {
            path: legacy.to_owned(),
            reason: "not an epoch secret key",
        })?;
        self.holder()?.create(id)?;
        let sealed = self.holder()?.seal(id, secret.to_secret_bytes().expose())?;
        write_secret_file(&self.sealed_path(id), &sealed)?;
        std::fs::remove_file(legacy).map_err(io("removing", legacy))?;
        Ok(secret)
    }

    fn sealed_path(&self, id: EpochId) -> PathBuf {
        self.dir.join("epochs").join(format!("{id}.sealed"))
    }

    fn legacy_path(&self, id: EpochId) -> PathBuf {
        self.dir.join("epochs").join(format!("{id}.key"))
    }
}

fn zeroize_string(mut s: String) {
    use zeroize::Zeroize;
    s.zeroize();
}

/// The key holder `config` names, if other than the default file holder
/// beside the keystore: a PKCS#11 token (user PIN from
/// `OBHUT_PKCS11_PIN`), or a file holder in `epoch_holder_dir`.
pub fn configured_holder(
    config: &crate::config::ServerConfig,
) -> std::result::Result<Option<Box<dyn EpochKeyHolder>>, HolderError> {
    if let Some((module, token)) = &config.pkcs11 {
        let pin = std::env::var("OBHUT_PKCS11_PIN").map_err(|_| {
            HolderError::Token("set OBHUT_PKCS11_PIN to the token's user PIN".into())
        })?;
        let holder = crate::pkcs11::TokenHolder::open(module, token, &pin)?;
        return Ok(Some(Box::new(holder)));
    }
    match &config.epoch_holder_dir {
        Some(dir) => Ok(Some(Box::new(FileHolder::open(dir)?))),
        None => Ok(None),
    }
}
