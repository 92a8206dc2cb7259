//! Epoch keys in custody of their own (issue 18 item 2): each epoch
//! secret in `KEYS/epochs/<id>.sealed` is sealed under a wrapping key of
//! its own, and the wrapping keys live in an [`EpochKeyHolder`] outside
//! the keystore directory. Destroying an epoch destroys its wrapping key,
//! so a backup of the keystore (and the data directory) taken before
//! opens nothing after.
//!
//! [`FileHolder`]: one file per wrapping key in a directory of its own
//! (`epoch_holder_dir`), each sealed under the holder's master key;
//! destroyed by overwriting, fsync, unlink, fsync of the directory.
//! `crate::pkcs11::TokenHolder`: one non-extractable AES key per epoch
//! on a PKCS#11 token; destroyed with `C_DestroyObject`.

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use obhut_core::ids::EpochId;
use obhut_core::secret::SecretBytes;
use zeroize::Zeroize;

/// Key-holder failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HolderError {
    /// File-system failure.
    #[error("epoch key holder {path}: {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Path concerned.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The epoch's wrapping key is gone (destroyed): nothing sealed under
    /// it opens again.
    #[error("the wrapping key of epoch {0} is destroyed")]
    Destroyed(EpochId),
    /// A sealed value or a stored key does not authenticate.
    #[error("epoch key holder: {0} does not authenticate (a wrong master key, or damage)")]
    Corrupt(String),
    /// The PKCS#11 token failed.
    #[error("PKCS#11 token: {0}")]
    Token(String),
}

/// Where epoch wrapping keys live.
pub trait EpochKeyHolder: Send + Sync + std::fmt::Debug + 'static {
    /// Make the wrapping key of epoch `id` (a no-op if it exists).
    fn create(&self, id: EpochId) -> Result<(), HolderError>;
    /// Seal `plain` under epoch `id`'s wrapping key.
    fn seal(&self, id: EpochId, plain: &[u8]) -> Result<Vec<u8>, HolderError>;
    /// Open what [`EpochKeyHolder::seal`] made.
    fn open(&self, id: EpochId, sealed: &[u8]) -> Result<SecretBytes, HolderError>;
    /// Destroy epoch `id`'s wrapping key. `Ok(true)` if it existed,
    /// `Ok(false)` if it was already gone (idempotent).
    fn destroy(&self, id: EpochId) -> Result<bool, HolderError>;
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> HolderError + 'a {
    move |source| HolderError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// AES-256-GCM with a random nonce: `nonce ‖ ct ‖ tag`, bound to `aad`.
pub(crate) fn gcm_seal(key: &[u8; 32], aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, HolderError> {
    let k = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key).map_err(|_| HolderError::Corrupt("a key".into()))?,
    );
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce)
        .map_err(|e| HolderError::Token(format!("no OS randomness: {e}")))?;
    let mut buf = plain.to_vec();
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut buf,
    )
    .map_err(|_| HolderError::Corrupt("sealing".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    buf.zeroize();
    Ok(out)
}

/// Open [`gcm_seal`]'s output.
pub(crate) fn gcm_open(
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
    what: &str,
) -> Result<SecretBytes, HolderError> {
    let bad = || HolderError::Corrupt(what.to_owned());
    let (nonce, ct) = sealed.split_at_checked(NONCE_LEN).ok_or_else(bad)?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| bad())?;
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| bad())?);
    let mut buf = ct.to_vec();
    let n = k
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| bad())?
        .len();
    let out = SecretBytes::new(buf[..n].to_vec());
    buf.zeroize();
    Ok(out)
}

/// The associated data binding a sealed epoch secret to its epoch.
pub(crate) fn epoch_aad(id: EpochId) -> Vec<u8> {
    let mut aad = b"obhut/v1/sealed-epoch-secret\0".to_vec();
    aad.extend_from_slice(&id.0);
    aad
}

/// Wrapping keys as files under a master key, in a directory that is not
/// the keystore's (module docs).
#[derive(Debug)]
pub struct FileHolder {
    dir: PathBuf,
    master: Master,
}

struct Master([u8; 32]);

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Master(redacted)")
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl FileHolder {
    /// Open the holder in `dir`, making it (mode 0700) and its master key
    /// (`master.key`, 0600) if absent.
    pub fn open(dir: &Path) -> Result<Self, HolderError> {
        std::fs::create_dir_all(dir.join("wrap")).map_err(io("creating", dir))?;
        for d in [dir.to_owned(), dir.join("wrap")] {
            std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .map_err(io("chmod", &d))?;
        }
        let path = dir.join("master.key");
        if !path.exists() {
            let mut k = [0u8; 32];
            getrandom::fill(&mut k)
                .map_err(|e| HolderError::Token(format!("no OS randomness: {e}")))?;
            let tmp = path.with_extension("tmp");
            let _ = std::fs::remove_file(&tmp);
            obhut_durable::write_atomic_via(&tmp, &path, &k, 0o600).map_err(|e| {
                HolderError::Io {
                    op: e.step.as_str(),
                    path: e.path,
                    source: e.source,
                }
            })?;
            k.zeroize();
        }
        let mut bytes = std::fs::read(&path).map_err(io("reading", &path))?;
        let master: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| HolderError::Corrupt(format!("{} (not 32 bytes)", path.display())))?;
        bytes.zeroize();
        Ok(FileHolder {
            dir: dir.to_owned(),
            master: Master(master),
        })
    }

    fn key_path(&self, id: EpochId) -> PathBuf {
        self.dir.join("wrap").join(format!("{id}.wrap"))
    }

    fn key(&self, id: EpochId) -> Result<[u8; 32], HolderError> {
        let path = self.key_path(id);
        let sealed = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(HolderError::Destroyed(id));
            }
            Err(e) => return Err(io("reading", &path)(e)),
        };
        let k = gcm_open(&self.master.0, &epoch_aad(id), &sealed, "a wrapping key")?;
        k.expose()
            .try_into()
            .map_err(|_| HolderError::Corrupt("a wrapping key".into()))
    }
}

impl EpochKeyHolder for FileHolder {
    fn create(&self, id: EpochId) -> Result<(), HolderError> {
        let path = self.key_path(id);
        if path.exists() {
            return Ok(());
        }
        let mut k = [0u8; 32];
        getrandom::fill(&mut k)
            .map_err(|e| HolderError::Token(format!("no OS randomness: {e}")))?;
        let sealed = gcm_seal(&self.master.0, &epoch_aad(id), &k)?;
        k.zeroize();
        let tmp = path.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        obhut_durable::write_atomic_via(&tmp, &path, &sealed, 0o600).map_err(|e| HolderError::Io {
            op: e.step.as_str(),
            path: e.path,
            source: e.source,
        })
    }

    fn seal(&self, id: EpochId, plain: &[u8]) -> Result<Vec<u8>, HolderError> {
        let mut k = self.key(id)?;
        let out = gcm_seal(&k, &epoch_aad(id), plain);
        k.zeroize();
        out
    }

    fn open(&self, id: EpochId, sealed: &[u8]) -> Result<SecretBytes, HolderError> {
        let mut k = self.key(id)?;
        let out = gcm_open(&k, &epoch_aad(id), sealed, "a sealed epoch secret");
        k.zeroize();
        out
    }

    fn destroy(&self, id: EpochId) -> Result<bool, HolderError> {
        let path = self.key_path(id);
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io("reading", &path)(e)),
        };
        // Overwrite in place before unlinking: on a file system that
        // writes in place the old bytes are gone; on copy-on-write or
        // flash they may linger in free blocks, still sealed under the
        // master key (docs/vault.md §9 says what this bounds).
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io("overwriting", &path))?;
            let zeros = vec![0u8; usize::try_from(len).unwrap_or(0)];
            f.write_all(&zeros).map_err(io("overwriting", &path))?;
            f.sync_all().map_err(io("fsync", &path))?;
        }
        std::fs::remove_file(&path).map_err(io("removing", &path))?;
        let dir = self.dir.join("wrap");
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync", &dir))?;
        Ok(true)
    }
}
