//! A client of the vault's audit log (docs/log.md §What clients store):
//! keeps the last checkpoint it accepted and moves forward only along
//! consistency proofs, so a rewritten or dropped entry, a rollback or a
//! fork between clients is caught. Custodians, requesters and auditors
//! use it. Where the checkpoint is kept is the caller's
//! ([`CheckpointStore`]): a file ([`StateFile`], at
//! [`default_state_path`] unless the person chose one), memory for a
//! benchmark.
//!
//! Two clients of one state (a custodian's `pending` and `approve` run at
//! once, say) must not roll it back: each saves by compare-and-swap, under
//! a lock, and one that finds the state moved since it loaded starts over
//! from the newer state rather than overwrite it with an older checkpoint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use obhut_log::{Hash, TrustedLog, TrustedState, VerifierKey, WitnessPolicy};

use crate::error::{Endpoint, Error, Result, StateFileError};

/// Where a client keeps the last checkpoint it accepted.
pub trait CheckpointStore: Send + Sync {
    /// The stored checkpoint's bytes, if any.
    fn load(&self) -> Result<Option<Vec<u8>>>;
    /// Replace the stored checkpoint with `checkpoint` if it is still
    /// `expected` (what the caller loaded; `None`: nothing stored), as one
    /// step that no other client of the same store can interleave with;
    /// durable when this returns. [`Error::StateMoved`] if it changed.
    fn save(&self, expected: Option<&[u8]>, checkpoint: &[u8]) -> Result<()>;
    /// Where it is, for messages (a path).
    fn describe(&self) -> String;
}

/// A checkpoint kept in memory (a benchmark, a test, a short-lived client).
#[derive(Debug, Default)]
pub struct MemoryCheckpoint(Mutex<Option<Vec<u8>>>);

impl CheckpointStore for MemoryCheckpoint {
    fn load(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.0.lock().map_or(None, |s| s.clone()))
    }
    fn save(&self, expected: Option<&[u8]>, checkpoint: &[u8]) -> Result<()> {
        let Ok(mut s) = self.0.lock() else {
            return Ok(());
        };
        if s.as_deref() != expected {
            return Err(Error::StateMoved {
                store: self.describe(),
            });
        }
        *s = Some(checkpoint.to_vec());
        Ok(())
    }
    fn describe(&self) -> String {
        "(in memory)".into()
    }
}

/// The default state file of the log `origin`: `$XDG_STATE_HOME/obhut/logs/`
/// (or `~/.local/state/obhut/logs/`), one file per origin, its name the
/// origin with every character but ASCII letters, digits, `-` and `.`
/// replaced by `_`. `None` if neither variable is set.
pub fn default_state_path(origin: &str) -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".local/state"),
    };
    Some(base.join("obhut/logs").join(state_file_name(origin)))
}

fn state_file_name(origin: &str) -> String {
    let safe: String = origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.checkpoint")
}

/// The last checkpoint accepted, in a file: absent until the first
/// checkpoint is accepted, then replaced whole by each later one
/// ([`obhut_durable`]), so a crash leaves the old checkpoint or the new.
/// Saves hold an exclusive `flock` on `<file>.lock` beside it: the lock
/// file, never replaced, is what every process opens, whereas the state
/// file itself is a new inode after each save.
#[derive(Debug)]
pub struct StateFile(PathBuf);

impl StateFile {
    /// The state kept at `path` (its directory is created on the first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateFile(path.into())
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.0.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Hold the lock until the returned file is dropped (closing it
    /// releases the `flock`; so does the process dying).
    fn lock(&self) -> std::result::Result<std::fs::File, StateFileError> {
        let path = self.lock_path();
        let lock_error = |source| StateFileError::Lock {
            path: path.clone(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(lock_error)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| lock_error(e.into()))?;
        Ok(file)
    }

    fn write(&self, checkpoint: &[u8]) -> std::result::Result<(), obhut_durable::Error> {
        let mut tmp = obhut_durable::Staged::beside(&self.0, 0o644)?;
        tmp.write_all(checkpoint)?;
        // Readable by anyone whatever the umask: a checkpoint is public.
        tmp.set_mode(0o644)?;
        tmp.sync()?.publish(&self.0)
    }
}

impl CheckpointStore for StateFile {
    fn load(&self) -> Result<Option<Vec<u8>>> {
        match std::fs::read(&self.0) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateFileError::Read {
                path: self.0.clone(),
                source,
            }
            .into()),
        }
    }

    fn save(&self, expected: Option<&[u8]>, checkpoint: &[u8]) -> Result<()> {
        if let Some(dir) = self.0.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateFileError::CreateDir {
                dir: dir.to_owned(),
                source,
            })?;
        }
        let _held = self.lock()?;
        if self.load()?.as_deref() != expected {
            return Err(Error::StateMoved {
                store: self.describe(),
            });
        }
        self.write(checkpoint).map_err(|failure| {
            StateFileError::Write {
                path: self.0.clone(),
                failure,
            }
            .into()
        })
    }

    fn describe(&self) -> String {
        self.0.display().to_string()
    }
}

/// One log as this client trusts it, and where its state lives.
pub struct LogClient {
    base: String,
    trusted: TrustedLog,
    store: Box<dyn CheckpointStore>,
    /// Hash tiles read so far, by path (which names their width): proofs
    /// of many entries against one checkpoint share most of their tiles.
    tiles: Mutex<HashMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for LogClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogClient")
            .field("base", &self.base)
            .field("store", &self.store.describe())
            .finish_non_exhaustive()
    }
}

/// Which RFC 9162 proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// Of the entry at an index, in a tree of a size.
    Inclusion,
    /// From an older tree size to a newer one.
    Consistency,
}

impl LogClient {
    /// A client of the log at `base_url` whose checkpoints `log_key`
    /// signs (its name is the origin), with `policy` for witnesses.
    pub fn new(
        base_url: &str,
        log_key: VerifierKey,
        policy: WitnessPolicy,
        store: Box<dyn CheckpointStore>,
    ) -> Self {
        let origin = log_key.name().to_owned();
        LogClient {
            base: base_url.trim_end_matches('/').to_owned(),
            trusted: TrustedLog::new(&origin, log_key, policy),
            store,
            tiles: Mutex::new(HashMap::new()),
        }
    }

    /// The identity a person's requests to this log's vault are signed
    /// for ([`crate::reader::vault_identity`] of the pinned log key).
    pub fn vault_identity(&self) -> [u8; 32] {
        crate::reader::vault_identity(self.trusted.log_key())
    }

    /// The pinned key of the log.
    pub fn log_key(&self) -> &VerifierKey {
        self.trusted.log_key()
    }

    /// The log as this client trusts it (key, origin, witness policy).
    pub fn trusted(&self) -> &TrustedLog {
        &self.trusted
    }

    /// Where the state is kept.
    pub fn store(&self) -> &dyn CheckpointStore {
        &*self.store
    }

    fn get(&self, path: &str) -> Result<String> {
        let body = self.get_bytes(path, 1 << 20)?;
        String::from_utf8(body).map_err(|_| Error::Status {
            endpoint: Endpoint::Log,
            target: path.into(),
            status: 200,
            body: Some("an answer that is not UTF-8 text".into()),
        })
    }

    /// `GET {base}{path}`, at most `limit` bytes, 200 or an error naming
    /// the path. The log endpoints are public, so the vault limits them per
    /// source (docs/vault.md, `anon_per_sec`); a client with many reads to
    /// make waits its turn rather than fail. Bounded: a vault that never
    /// lets us in is an error after about half a minute.
    fn get_bytes(&self, path: &str, limit: u64) -> Result<Vec<u8>> {
        let url = format!("{}{path}", self.base);
        let (mut status, mut body) = crate::reader::get_bytes(&url, limit)?;
        let mut waited = 0;
        while status == 429 && waited < RATE_LIMIT_WAITS {
            std::thread::sleep(std::time::Duration::from_secs(1));
            waited += 1;
            (status, body) = crate::reader::get_bytes(&url, limit)?;
        }
        if status != 200 {
            return Err(Error::Status {
                endpoint: Endpoint::Log,
                target: path.into(),
                status,
                body: Some(String::from_utf8_lossy(&body).trim().to_owned()),
            });
        }
        Ok(body)
    }

    /// The stored state, re-verified (a state edited by hand is refused,
    /// not trusted).
    pub fn load_state(&self) -> Result<Option<TrustedState>> {
        let Some(bytes) = self.store.load()? else {
            return Ok(None);
        };
        let sc =
            self.trusted
                .verify_checkpoint(&bytes)
                .map_err(|failure| Error::StoredCheckpoint {
                    store: self.store.describe(),
                    failure: Box::new(failure),
                })?;
        Ok(Some(TrustedState {
            size: sc.checkpoint.size,
            root: sc.checkpoint.root,
            checkpoint: bytes,
        }))
    }

    /// An RFC 9162 proof: inclusion of entry `index`, or consistency from
    /// size `index`, in the tree of `size`, built here from the log's hash
    /// tiles (C2SP tlog-tiles). One request per proof would let the vault's
    /// per-source limit of its public endpoints pace an export of an hour
    /// (hundreds of receipts) at ten proofs a second; the tiles of one tree
    /// size are a handful, shared by every proof against it. The proof is
    /// checked against a signed checkpoint by the caller as before, so a
    /// vault that serves a wrong tile only makes that check fail.
    pub fn proof(&self, kind: Proof, index: u64, size: u64) -> Result<Vec<Hash>> {
        use obhut_log::tile_proofs::{prove_consistency, prove_inclusion};
        use obhut_log::tiles::TileSourceError;
        use obhut_log::tree::ProveError;
        let fetch = |t: &obhut_log::tiles::TileId| self.tile(&t.path());
        let proved = match kind {
            Proof::Inclusion => prove_inclusion(index, size, fetch),
            Proof::Consistency => prove_consistency(index, size, fetch),
        };
        proved.map_err(|e| match e {
            ProveError::Source(TileSourceError::Fetch(err)) => err,
            other => Error::TileProof {
                what: match kind {
                    Proof::Inclusion => {
                        format!("inclusion proof of entry {index} in the tree of {size}")
                    }
                    Proof::Consistency => {
                        format!("consistency proof from size {index} to {size}")
                    }
                },
                why: other.to_string(),
            },
        })
    }

    /// A hash tile, from the cache or the vault (`GET /v1/log/tile/…`,
    /// paced like the other public log endpoints).
    fn tile(&self, path: &str) -> Result<Vec<u8>> {
        if let Some(t) = self.tiles.lock().ok().and_then(|c| c.get(path).cloned()) {
            return Ok(t);
        }
        // `path` is "tile/L/N[.p/W]"; a full tile is 256 hashes of 32 bytes.
        let body = self.get_bytes(&format!("/v1/log/{path}"), 256 * 32)?;
        if let Ok(mut c) = self.tiles.lock() {
            c.insert(path.to_owned(), body.clone());
        }
        Ok(body)
    }

    /// Fetch the vault's latest checkpoint and accept it only if it is
    /// signed by the pinned key (and enough witnesses) and consistent with
    /// the stored one; store it. Returns (previous, new).
    pub fn update(&self) -> Result<(Option<TrustedState>, TrustedState)> {
        // Another client of the same state may save between our load and
        // our save; then we go again from its (newer) state. A few rounds
        // are plenty: each lost round means another client made progress.
        let mut round = 0;
        loop {
            match self.update_once() {
                Err(Error::StateMoved { .. }) if round < STATE_RACE_ROUNDS => round += 1,
                done => return done,
            }
        }
    }

    fn update_once(&self) -> Result<(Option<TrustedState>, TrustedState)> {
        let prev = self.load_state()?;
        let note = self.get("/v1/log/checkpoint")?;
        let attack = |failure, prev: Option<&TrustedState>| Error::LogCheck {
            failure: Box::new(failure),
            stored: prev.map(|p| p.checkpoint.clone()),
            presented: note.clone(),
        };
        let sc = self
            .trusted
            .verify_checkpoint(note.as_bytes())
            .map_err(|e| attack(e, None))?;
        let proof = match &prev {
            Some(p) if p.size > 0 && p.size < sc.checkpoint.size => {
                self.proof(Proof::Consistency, p.size, sc.checkpoint.size)?
            }
            _ => Vec::new(),
        };
        let next = self
            .trusted
            .update(prev.as_ref(), note.as_bytes(), &proof)
            .map_err(|e| attack(e, prev.as_ref()))?;
        let expected = prev.as_ref().map(|p| p.checkpoint.as_slice());
        self.store.save(expected, &next.checkpoint)?;
        Ok((prev, next))
    }
}

/// How many one-second waits [`LogClient`] makes for a rate-limited log
/// endpoint before it gives up.
const RATE_LIMIT_WAITS: u32 = 30;

/// How many times [`LogClient::update`] starts over when another client
/// moved the state under it.
const STATE_RACE_ROUNDS: u32 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves the hash tiles of `tree` on loopback, with `flip` (a tile
    /// path) answered one byte off, as a lying vault would.
    fn tile_server(tree: obhut_log::tree::MemoryTree, flip: Option<String>) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut line = String::new();
                let mut r = BufReader::new(conn.try_clone().unwrap());
                r.read_line(&mut line).unwrap();
                while {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap() > 2
                } {}
                let path = line
                    .split(' ')
                    .nth(1)
                    .unwrap()
                    .trim_start_matches("/v1/log/");
                let (t, _) = obhut_log::tiles::TileId::parse_path(path).unwrap();
                let mut node = tree.source();
                let mut body: Vec<u8> = (0..u64::from(t.width))
                    .flat_map(|k| {
                        node(t.level * 8, t.index * 256 + k)
                            .unwrap()
                            .as_bytes()
                            .to_vec()
                    })
                    .collect();
                if flip.as_deref() == Some(path) {
                    body[5] ^= 1;
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                conn.write_all(head.as_bytes()).unwrap();
                conn.write_all(&body).unwrap();
            }
        });
        format!("http://{addr}")
    }

    fn client(base: &str) -> LogClient {
        let signer = obhut_log::NoteSigner::from_seed("test.example/log", &[7; 32]).unwrap();
        LogClient::new(
            base,
            signer.verifier_key(),
            WitnessPolicy::none(),
            Box::new(MemoryCheckpoint::default()),
        )
    }

    /// Proofs built from tiles are the tree's own proofs, across tile
    /// boundaries and partial tiles; a tile one bit off gives a proof that
    /// no longer verifies against the root (what every caller checks).
    #[test]
    fn proofs_from_tiles_match_the_tree_and_a_lying_tile_fails_verification() {
        let mut tree = obhut_log::tree::MemoryTree::new();
        for i in 0..70_000u32 {
            tree.append_entry(&i.to_be_bytes());
        }
        let size = 66_000;
        let root = tree.root_at(size).unwrap();
        let honest = client(&tile_server(tree.clone(), None));
        for index in [0, 1, 255, 256, 65_535, 65_536, 65_999] {
            let proof = honest.proof(Proof::Inclusion, index, size).unwrap();
            assert_eq!(proof, tree.inclusion_proof(index, size).unwrap(), "{index}");
            obhut_log::verify::verify_inclusion(
                &tree.leaf(index).unwrap(),
                index,
                size,
                &proof,
                &root,
            )
            .unwrap();
        }
        for old in [1, 256, 65_536] {
            let proof = honest.proof(Proof::Consistency, old, size).unwrap();
            assert_eq!(proof, tree.consistency_proof(old, size).unwrap(), "{old}");
        }
        // Entry 300's proof reads level-0 tile 1 (its siblings there).
        let lying = client(&tile_server(tree.clone(), Some("tile/0/001".into())));
        let proof = lying.proof(Proof::Inclusion, 300, size).unwrap();
        assert!(
            obhut_log::verify::verify_inclusion(&tree.leaf(300).unwrap(), 300, size, &proof, &root)
                .is_err()
        );
        // Sizes the tree cannot have are named, not a panic.
        let err = honest.proof(Proof::Inclusion, size, size).unwrap_err();
        assert!(
            err.to_string().contains("inclusion proof of entry"),
            "{err}"
        );
    }

    #[test]
    fn a_state_file_is_absent_until_saved_then_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::new(dir.path().join("logs/a.checkpoint"));
        assert_eq!(state.load().unwrap(), None);
        state.save(None, b"first").unwrap();
        state.save(Some(b"first"), b"second").unwrap();
        assert_eq!(state.load().unwrap().as_deref(), Some(&b"second"[..]));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        // Nothing but the state file and its lock is left in its directory.
        let mut left: Vec<_> = std::fs::read_dir(dir.path().join("logs"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["a.checkpoint", "a.checkpoint.lock"]);
    }

    #[test]
    fn a_save_over_a_state_that_moved_is_refused_and_keeps_the_newer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.checkpoint");
        let (one, other) = (StateFile::new(&path), StateFile::new(&path));
        one.save(None, b"size 5").unwrap();
        // Both loaded size 5; the other client saves size 9 first.
        other.save(Some(b"size 5"), b"size 9").unwrap();
        // Ours, computed from size 5, would roll the state back.
        assert!(matches!(
            one.save(Some(b"size 5"), b"size 7"),
            Err(Error::StateMoved { .. })
        ));
        assert!(matches!(
            one.save(None, b"size 1"),
            Err(Error::StateMoved { .. })
        ));
        assert_eq!(one.load().unwrap().as_deref(), Some(&b"size 9"[..]));
        let memory = MemoryCheckpoint::default();
        memory.save(None, b"size 9").unwrap();
        assert!(memory.save(None, b"size 7").is_err());
    }

    #[test]
    fn concurrent_savers_never_lose_an_increment() {
        // Each thread reads a counter and saves counter + 1 by
        // compare-and-swap, retrying when it moved: with the lock and the
        // comparison, every increment lands exactly once.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.checkpoint");
        StateFile::new(&path).save(None, b"0").unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let state = StateFile::new(&path);
                    for _ in 0..25 {
                        loop {
                            let seen = state.load().unwrap().unwrap();
                            let n: u32 = std::str::from_utf8(&seen).unwrap().parse().unwrap();
                            let next = (n + 1).to_string();
                            match state.save(Some(&seen), next.as_bytes()) {
                                Ok(()) => break,
                                Err(Error::StateMoved { .. }) => continue,
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let end = StateFile::new(&path).load().unwrap().unwrap();
        assert_eq!(end, b"100");
    }

    #[test]
    fn a_state_file_that_cannot_be_read_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: reading it fails.
        let state = StateFile::new(dir.path());
        assert!(matches!(
            state.load(),
            Err(Error::StateFile(StateFileError::Read { .. }))
        ));
    }

    #[test]
    fn state_file_names_keep_only_safe_characters() {
        assert_eq!(
            state_file_name("obhut.example/vault-3f2a"),
            "obhut.example_vault-3f2a.checkpoint"
        );
        assert_eq!(state_file_name("../x y"), ".._x_y.checkpoint");
    }
}
