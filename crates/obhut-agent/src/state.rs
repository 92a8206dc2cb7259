//! The device's state directory and its durable writes.
//!
//! ```text
//! STATE/agent.json          enrolment: vault URL, device key path and id,
//!                           vault receipt key, retention class, group fingerprint
//! STATE/group.obgd          the pinned custody-group descriptor
//! STATE/epochs/<id>.obep    cached retention-epoch public keys
//! STATE/journal/<key>.json  per-recording progress (journal.rs), and
//! STATE/journal/<key>.<recording>.log  its changes since, appended
//! STATE/lock                held (flock) by the one agent using STATE
//! ```
//!
//! Every file here but the journal logs is written by [`write_durable`]
//! (the crash analysis is in [`obhut_durable`]): a crash leaves either the
//! old or the new file, never a torn one. A
//! journal log only grows by whole lines, each made durable before
//! anything depends on it; its last line may be torn by a crash, which
//! loading recognises (journal.rs).

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use obhut_core::epoch::EpochPublic;
use obhut_core::group::PinnedGroup;
use obhut_core::identity::VerifyKey;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const CONFIG: &str = "agent.json";
const GROUP: &str = "group.obgd";
const EPOCHS: &str = "epochs";
const JOURNAL: &str = "journal";
const LOCK: &str = "lock";

/// The state directory when none is given: `$OBHUT_STATE`, else
/// `$XDG_STATE_HOME/obhut`, else `~/.local/state/obhut`; `None` when none
/// of these variables (nor `HOME`) is set.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OBHUT_STATE") {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("XDG_STATE_HOME") {
        return Some(PathBuf::from(p).join("obhut"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/obhut"))
}

/// What enrolment records (`agent.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Enrolment {
    /// Format of this file.
    pub version: u32,
    /// Base URL of the vault, e.g. `https://vault.example:8443`.
    pub vault_url: String,
    /// The device's locked key file (absolute path).
    pub device_key: PathBuf,
    /// The device id: hex Ed25519 public key.
    pub device_id: String,
    /// The vault's receipt key: hex Ed25519 public key, pinned at enrolment.
    pub vault_key: String,
    /// Retention class the enrolment token named.
    pub retention_class: String,
    /// Fingerprint of the pinned group descriptor (hex).
    pub group_fingerprint: String,
    /// When enrolment completed (UTC ms).
    pub enrolled_utc_ms: i64,
}

impl Enrolment {
    /// The vault's receipt key.
    pub fn vault_key(&self) -> Result<VerifyKey> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(&self.vault_key, &mut b).map_err(|_| Error::Journal {
            path: PathBuf::from(CONFIG),
            reason: "vault_key is not 64 hex digits".into(),
        })?;
        VerifyKey::from_bytes(&b, "vault key", "vault_key")
            .map_err(Error::core("vault key in agent.json"))
    }
}

/// An open state directory.
#[derive(Debug)]
pub struct StateDir {
    root: PathBuf,
    _lock: Option<File>,
}

impl StateDir {
    /// Open (creating if needed) the state directory at `root` without
    /// locking it.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for d in [root.clone(), root.join(EPOCHS), root.join(JOURNAL)] {
            fs::create_dir_all(&d).map_err(Error::io("create", &d))?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&root, fs::Permissions::from_mode(0o700));
        }
        Ok(StateDir { root, _lock: None })
    }

    /// Open and take the directory's exclusive lock, so that two agents
    /// never work on the same journals. Fails at once if another holds it.
    pub fn open_locked(root: impl Into<PathBuf>) -> Result<Self> {
        let mut s = Self::open(root)?;
        let path = s.root.join(LOCK);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io("open", &path))?;
        f.try_lock().map_err(|e| Error::Io {
            op: "lock (is another obhut agent or ingest using this state directory?)",
            path: path.clone(),
            source: match e {
                fs::TryLockError::Error(e) => e,
                fs::TryLockError::WouldBlock => {
                    std::io::Error::from(std::io::ErrorKind::WouldBlock)
                }
            },
        })?;
        s._lock = Some(f);
        Ok(s)
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory of the per-recording journals.
    pub fn journal_dir(&self) -> PathBuf {
        self.root.join(JOURNAL)
    }

    /// The enrolment, or [`Error::NotEnrolled`].
    pub fn enrolment(&self) -> Result<Enrolment> {
        let path = self.root.join(CONFIG);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotEnrolled {
                    state: self.root.clone(),
                });
            }
            Err(e) => return Err(Error::io("read", &path)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::Journal {
            path,
            reason: e.to_string(),
        })
    }

    /// Whether an enrolment is recorded.
    pub fn is_enrolled(&self) -> bool {
        self.root.join(CONFIG).exists()
    }

    /// Record an enrolment: the pinned descriptor first, then `agent.json`
    /// (whose presence means "enrolled").
    pub fn save_enrolment(&self, e: &Enrolment, group: &PinnedGroup) -> Result<()> {
        write_durable(&self.root.join(GROUP), &group.to_bytes())?;
        let json = serde_json::to_vec_pretty(e).map_err(|e| Error::Journal {
            path: self.root.join(CONFIG),
            reason: e.to_string(),
        })?;
        write_durable(&self.root.join(CONFIG), &json)
    }

    /// The pinned group, re-checked (k valid signatures) on every load.
    pub fn pinned_group(&self) -> Result<PinnedGroup> {
        let path = self.root.join(GROUP);
        let bytes = fs::read(&path).map_err(Error::io("read", &path))?;
        PinnedGroup::from_bytes(&bytes).map_err(Error::GroupNotPinned)
    }

    /// Cached epochs.
    pub fn epochs(&self) -> Result<Vec<EpochPublic>> {
        let dir = self.root.join(EPOCHS);
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(Error::io("list", &dir))? {
            let entry = entry.map_err(Error::io("list", &dir))?;
            let p = entry.path();
            if p.extension().is_some_and(|x| x == "obep") {
                let bytes = fs::read(&p).map_err(Error::io("read", &p))?;
                // A damaged cache entry is dropped, not fatal: the vault
                // serves the epochs again.
                match EpochPublic::from_bytes(&bytes) {
                    Ok(e) => out.push(e),
                    Err(_) => {
                        let _ = fs::remove_file(&p);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Cache an epoch.
    pub fn save_epoch(&self, e: &EpochPublic) -> Result<()> {
        write_durable(
            &self.root.join(EPOCHS).join(format!("{}.obep", e.epoch_id)),
            &e.to_bytes(),
        )
    }
}

/// Replace `path` with `bytes` durably ([`obhut_durable::write_atomic`]:
/// O_EXCL temporary, write, fsync, rename, fsync dir; mode 0666 less the
/// umask, inside the 0700 state directory).
pub fn write_durable(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(obhut_durable::write_atomic(path, bytes, 0o666)?)
}

/// fsync a directory, making renames and unlinks in it durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    Ok(obhut_durable::sync_dir(dir)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_writes_replace_whole_files_and_leave_no_temporaries() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        write_durable(&p, b"one").unwrap();
        write_durable(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_second_locked_open_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let _a = StateDir::open_locked(d.path()).unwrap();
        let e = StateDir::open_locked(d.path()).unwrap_err();
        assert!(e.to_string().contains("another obhut"), "{e}");
    }

    #[test]
    fn no_enrolment_is_a_typed_error() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::open(d.path()).unwrap();
        assert!(matches!(s.enrolment(), Err(Error::NotEnrolled { .. })));
    }
}
