//! The witness's durable state: per log origin, the latest checkpoint it
//! cosigned. tlog-witness: "The witness MUST persist the new checkpoint
//! before responding."
//!
//! One file per origin in `DIR/state/`, named by the lower-case hex SHA-256
//! of the origin (origins are arbitrary text; the hash is a safe file
//! name). The file holds the signed checkpoint note exactly as the log sent
//! it, so it is also evidence: a later checkpoint from the same log key that
//! is inconsistent with it proves the log forked.
//!
//! Writing one file ([`WitnessState::store`], through
//! [`obhut_durable::write_atomic_via`], which has the crash analysis):
//!
//! 1. create `state/<hex>.tmp` with O_EXCL (open removed any leftover),
//!    mode 0600;
//! 2. write the note, `fsync` the file;
//! 3. `rename` it over `state/<hex>`;
//! 4. `fsync` the `state/` directory.
//!
//! A crash before 3 leaves the old file and a `.tmp` file that the next
//! [`WitnessState::open`] removes and [`WitnessState::read`] ignores; a crash
//! between 3 and 4 leaves the old or the new file, both complete. The
//! caller answers only after step 4, so a checkpoint whose store might be
//! lost was never cosigned in public. After any failed step the state
//! refuses further stores until the process restarts and reloads from disk
//! (a failed `fsync` is not retried: the page cache may already have
//! dropped the data).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use obhut_log::{Checkpoint, Hash, Note};
use sha2::{Digest, Sha256};

/// Name of the state directory inside the witness directory.
pub const STATE_DIR: &str = "state";
/// Name of the lock file inside the witness directory.
pub const LOCK_FILE: &str = "lock";
const TMP_SUFFIX: &str = ".tmp";

/// Why the state could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
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
    /// Another process holds the directory's lock.
    #[error("{path} is locked by another witness process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A state file does not hold a checkpoint for the origin its name
    /// says. Refused rather than skipped: treating it as absent would let
    /// the log roll this origin back to size 0.
    #[error("state file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// An earlier store failed; the in-memory state may disagree with the
    /// disk until the process restarts.
    #[error("an earlier write of the witness state failed; restart the witness")]
    Failed,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |error| StateError::Io {
        op,
        path: path.to_owned(),
        error,
    }
}

/// The latest checkpoint cosigned for one origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latest {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
}

/// The state file name for `origin`: lower-case hex SHA-256 of its bytes.
pub fn file_name(origin: &str) -> String {
    hex::encode(Sha256::digest(origin.as_bytes()))
}

fn is_state_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Parses a state file: a signed note whose text is a checkpoint for an
/// origin that hashes to the file's name. The log signature is not checked
/// again: the file is our own record, and the log's key may since have been
/// rotated out of the config.
fn parse_state_file(path: &Path, name: &str, bytes: &[u8]) -> Result<(String, Latest), StateError> {
    let corrupt = |reason| StateError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let note = Note::parse(bytes).map_err(|_| corrupt("not a signed note"))?;
    let cp = Checkpoint::parse_text(note.text()).map_err(|_| corrupt("not a checkpoint"))?;
    if file_name(&cp.origin) != name {
        return Err(corrupt("file name is not the SHA-256 of the origin inside"));
    }
    Ok((
        cp.origin,
        Latest {
            size: cp.size,
            root: cp.root,
        },
    ))
}

/// What [`WitnessState::read`] found in a state directory.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Latest checkpoint per origin.
    pub latest: BTreeMap<String, Latest>,
    /// Leftover `.tmp` files (from a crash before a rename).
    pub temporary: Vec<PathBuf>,
    /// Files that are neither state files nor `.tmp` files.
    pub unexpected: Vec<PathBuf>,
}

/// Per-origin latest cosigned checkpoints of a witness directory, held open
/// for writing: the directory's lock is held for this value's lifetime, so
/// one process at most decides for a directory.
///
/// Not synchronised itself: [`crate::Witness`] keeps it behind the mutex
/// that makes check-and-store atomic.
#[derive(Debug)]
pub struct WitnessState {
    dir: PathBuf,
    latest: BTreeMap<String, Latest>,
    failed: bool,
    _lock: File,
}

impl WitnessState {
    /// Reads the state of witness directory `dir` without locking or
    /// changing anything (for `obhut witness show`, also while a witness
    /// serves: renames are atomic, `.tmp` files are skipped).
    pub fn read(dir: &Path) -> Result<Snapshot, StateError> {
        let state_dir = dir.join(STATE_DIR);
        let mut snap = Snapshot::default();
        let entries = match fs::read_dir(&state_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(snap),
            Err(e) => return Err(io("listing", &state_dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io("listing", &state_dir))?;
            let path = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                snap.unexpected.push(path);
                continue;
            };
            if name.ends_with(TMP_SUFFIX) {
                snap.temporary.push(path);
                continue;
            }
            if !is_state_name(name) || !entry.file_type().map_err(io("reading", &path))?.is_file() {
                snap.unexpected.push(path);
                continue;
            }
            let bytes = fs::read(&path).map_err(io("reading", &path))?;
            let (origin, latest) = parse_state_file(&path, name, &bytes)?;
            snap.latest.insert(origin, latest);
        }
        Ok(snap)
    }

    /// Opens witness directory `dir` for writing: creates `state/` if
    /// missing, takes the lock, removes leftover `.tmp` files and loads
    /// every state file. Any corrupt state file refuses the open.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        let state_dir = dir.join(STATE_DIR);
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io("opening", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StateError::Locked { path: lock_path });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io("locking", &lock_path)(e)),
        }
        if !state_dir.is_dir() {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&state_dir)
                .map_err(io("creating", &state_dir))?;
            // The new directory entry must survive a crash too.
            sync_dir(dir)?;
        }
        let snap = Self::read(dir)?;
        for tmp in &snap.temporary {
            tracing::info!(path = %tmp.display(), "removing an unfinished state write");
            fs::remove_file(tmp).map_err(io("removing", tmp))?;
        }
        for path in &snap.unexpected {
            tracing::warn!(path = %path.display(), "ignoring a file that is not witness state");
        }
        Ok(WitnessState {
            dir: state_dir,
            latest: snap.latest,
            failed: false,
            _lock: lock,
        })
    }

    /// The latest cosigned checkpoint for `origin`, if any.
    pub fn latest(&self, origin: &str) -> Option<Latest> {
        self.latest.get(origin).copied()
    }

    /// Every origin's latest cosigned checkpoint.
    pub fn all(&self) -> &BTreeMap<String, Latest> {
        &self.latest
    }

    /// False once a store has failed (see the module docs).
    pub fn is_healthy(&self) -> bool {
        !self.failed
    }

    /// Makes `note` (a signed checkpoint for `origin` at `latest`) the
    /// latest for `origin`, durably, before returning. The caller has
    /// checked that it is a consistent successor; `note`'s text must be the
    /// checkpoint for `origin` at `latest` (a debug assertion checks it).
    pub fn store(&mut self, origin: &str, latest: Latest, note: &[u8]) -> Result<(), StateError> {
        if self.failed {
            return Err(StateError::Failed);
        }
        debug_assert!(
            parse_state_file(Path::new(""), &file_name(origin), note)
                .is_ok_and(|(o, l)| o == origin && l == latest),
            "note does not match the origin and checkpoint being stored"
        );
        if self.latest.get(origin) == Some(&latest) {
            return Ok(());
        }
        match self.write(origin, note) {
            Ok(()) => {
                self.latest.insert(origin.to_owned(), latest);
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn write(&self, origin: &str, note: &[u8]) -> Result<(), StateError> {
        let name = file_name(origin);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}{TMP_SUFFIX}"));
        obhut_durable::write_atomic_via(&tmp, &path, note, 0o600).map_err(durable)
    }
}

/// A durable write's failure as a [`StateError::Io`].
fn durable(e: obhut_durable::Error) -> StateError {
    StateError::Io {
        op: e.step.as_str(),
        path: e.path,
        error: e.source,
    }
}

fn sync_dir(dir: &Path) -> Result<(), StateError> {
    obhut_durable::sync_dir(dir).map_err(durable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use obhut_log::{MemoryTree, NoteSigner};

    const ORIGIN: &str = "obhut.example/vault-00ff";

    fn signed(size: u64) -> (Latest, Vec<u8>) {
        let mut tree = MemoryTree::new();
        for i in 0..size {
            tree.append_entry(&i.to_be_bytes());
        }
        let key = NoteSigner::from_seed(ORIGIN, &[7; 32]).unwrap();
        let cp = Checkpoint::new(ORIGIN, size, tree.root()).unwrap();
        let note = cp.sign(&key).unwrap().to_bytes();
        (
            Latest {
                size,
                root: tree.root(),
            },
            note,
        )
    }

    #[test]
    fn store_then_reopen_returns_the_latest() {
        let tmp = tempfile::tempdir().unwrap();
        let (l3, n3) = signed(3);
        let (l5, n5) = signed(5);
        {
            let mut s = WitnessState::open(tmp.path()).unwrap();
            assert_eq!(s.latest(ORIGIN), None);
            s.store(ORIGIN, l3, &n3).unwrap();
            s.store(ORIGIN, l5, &n5).unwrap();
            assert_eq!(s.latest(ORIGIN), Some(l5));
        }
        let s = WitnessState::open(tmp.path()).unwrap();
        assert_eq!(s.latest(ORIGIN), Some(l5));
        assert_eq!(s.all().len(), 1);
        // The file is the checkpoint note as received, named by the origin.
        let on_disk = fs::read(tmp.path().join(STATE_DIR).join(file_name(ORIGIN))).unwrap();
        assert_eq!(on_disk, n5);
    }

    #[test]
    fn leftover_temporary_file_is_ignored_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let (l3, n3) = signed(3);
        let (_, n9) = signed(9);
        WitnessState::open(tmp.path())
            .unwrap()
            .store(ORIGIN, l3, &n3)
            .unwrap();
        // A crash between writing the tmp file and the rename: half of a
        // newer checkpoint, then a whole one, must both count for nothing.
        let tmp_file = tmp
            .path()
            .join(STATE_DIR)
            .join(format!("{}{TMP_SUFFIX}", file_name(ORIGIN)));
        fs::write(&tmp_file, &n9[..n9.len() / 2]).unwrap();
        let snap = WitnessState::read(tmp.path()).unwrap();
        assert_eq!(snap.latest.get(ORIGIN), Some(&l3));
        assert_eq!(snap.temporary, vec![tmp_file.clone()]);

        fs::write(&tmp_file, &n9).unwrap();
        let s = WitnessState::open(tmp.path()).unwrap();
        assert_eq!(s.latest(ORIGIN), Some(l3));
        assert!(!tmp_file.exists(), "open removes leftover tmp files");
    }

    #[test]
    fn corrupt_or_misnamed_state_file_refuses_to_open() {
        let tmp = tempfile::tempdir().unwrap();
        let (l3, n3) = signed(3);
        WitnessState::open(tmp.path())
            .unwrap()
            .store(ORIGIN, l3, &n3)
            .unwrap();
        let path = tmp.path().join(STATE_DIR).join(file_name(ORIGIN));
        // Truncated: must not be read as "never cosigned" (a rollback to 0).
        fs::write(&path, &n3[..n3.len() - 5]).unwrap();
        assert!(matches!(
            WitnessState::open(tmp.path()),
            Err(StateError::Corrupt { .. })
        ));
        // A valid checkpoint under another origin's name.
        fs::write(&path, &n3).unwrap();
        let other = tmp
            .path()
            .join(STATE_DIR)
            .join(file_name("other.example/log"));
        fs::rename(&path, &other).unwrap();
        assert!(matches!(
            WitnessState::read(tmp.path()),
            Err(StateError::Corrupt { .. })
        ));
    }

    #[test]
    fn one_process_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let first = WitnessState::open(tmp.path()).unwrap();
        assert!(matches!(
            WitnessState::open(tmp.path()),
            Err(StateError::Locked { .. })
        ));
        drop(first);
        WitnessState::open(tmp.path()).unwrap();
    }

    #[test]
    fn a_failed_write_stops_further_stores() {
        let tmp = tempfile::tempdir().unwrap();
        let (l3, n3) = signed(3);
        let (l5, n5) = signed(5);
        let mut s = WitnessState::open(tmp.path()).unwrap();
        // A directory where the tmp file goes makes the create fail.
        fs::create_dir(
            tmp.path()
                .join(STATE_DIR)
                .join(format!("{}{TMP_SUFFIX}", file_name(ORIGIN))),
        )
        .unwrap();
        assert!(matches!(
            s.store(ORIGIN, l3, &n3),
            Err(StateError::Io { .. })
        ));
        assert!(!s.is_healthy());
        assert_eq!(s.latest(ORIGIN), None);
        assert!(matches!(s.store(ORIGIN, l5, &n5), Err(StateError::Failed)));
    }
}
