//! # obhut-durable
//!
//! Obhut's one durable write: a file that appears whole or not at all, and
//! stays after a crash once the call returns. Every crate that replaces a
//! file (the agent's state and journal snapshots, the vault's keystore and
//! blob directory, the witness's state, the CLI's outputs) goes through
//! here, so the sequence and its reasoning live in one place.
//!
//! ## The sequence
//!
//! ```text
//! 1. open(TMP, O_WRONLY|O_CREAT|O_EXCL, mode)   Staged::create / Staged::beside
//! 2. write(TMP, bytes)                          Staged::write_all / file_mut
//! 3. fsync(TMP)                                 Staged::sync
//! 4. rename(TMP, TARGET)                        Synced::publish
//!    (or, not clobbering: renameat2(RENAME_NOREPLACE), else link + unlink:
//!                                               Synced::publish_new)
//! 5. fsync(parent of TARGET)                    Synced::publish / sync_dir
//! ```
//!
//! [`write_atomic`] and [`write_atomic_via`] run all five for a file
//! written in one piece. TMP is
//! in TARGET's directory ([`Staged::beside`]) or in another directory of
//! the same file system ([`Staged::create`]: the blob directory's `tmp/`),
//! since a rename is atomic only within one file system.
//!
//! ## What a crash after each step leaves
//!
//! - **during or after 1–2**: TARGET untouched (the old content, or none);
//!   TMP absent, empty or partly written. TMP is never read as TARGET: its
//!   name differs, and each user either removes leftovers at startup (the
//!   blob directory's `tmp/`, the witness's `*.tmp`) or reuses a fixed TMP
//!   name that the next write removes (the keystore, whose leftovers hold
//!   key material that must not outlive a shredded epoch).
//! - **after 3**: the same; TMP is complete and durable, but nothing names
//!   it as TARGET.
//! - **after 4, before 5**: the rename may or may not survive: after a
//!   restart TARGET holds either the old content or the new, each whole
//!   (the new bytes were synced in 3, so the rename can never expose a
//!   hole). This is why the file is synced *before* the rename: without 3,
//!   a file system that commits the rename first (ext4 without
//!   `auto_da_alloc`, XFS) may show TARGET empty or short after a crash.
//! - **after 5**: TARGET holds the new content, durably. Only now may a
//!   caller act on it: answer a request, insert the index row that points
//!   at a blob ("blob before row"), send a record the journal holds.
//!
//! ## Why O_EXCL
//!
//! A fresh name is never someone else's file: not a leftover being
//! replaced under a reader, not a symlink planted to make us write
//! elsewhere, not a second writer's TMP that we would truncate while it
//! writes (two writers of one TARGET each keep their own TMP; the last
//! rename wins, and each TARGET seen is whole). An existing TMP name is
//! refused ([`Step::Create`] with `AlreadyExists`), never truncated.
//!
//! ## Why a failed fsync means abandon, not retry
//!
//! When fsync fails, Linux may already have marked the dirty pages clean
//! (or dropped them) and reports the error once: a second fsync can
//! succeed without the data ever reaching the disk. So a failed
//! [`Staged::sync`] consumes the staged file and removes it; the caller
//! reports the error and, to try again, writes a new file from its own
//! copy of the bytes. The types enforce it: only a [`Synced`] file can be
//! published. A failed fsync of the directory (step 5) is reported too;
//! the caller must treat the write as not durable.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A step of the durable write (module docs, "The sequence").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// 1: creating the temporary file (O_EXCL).
    Create,
    /// 2: writing to it.
    Write,
    /// 3: fsync of the file.
    Sync,
    /// 4: renaming (or linking) it over the target.
    Rename,
    /// 5: fsync of the directory.
    SyncDir,
}

impl Step {
    /// A short description ("creating", "writing", "syncing", "renaming",
    /// "syncing directory").
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Create => "creating",
            Step::Write => "writing",
            Step::Sync => "syncing",
            Step::Rename => "renaming",
            Step::SyncDir => "syncing directory",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step of a durable write failed.
#[derive(Debug, thiserror::Error)]
#[error("{step} {}: {source}", path.display())]
pub struct Error {
    /// The step.
    pub step: Step,
    /// The file it concerned: the temporary file for steps 1–3, the target
    /// for 4, the directory for 5.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

fn err(step: Step, path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error {
        step,
        path: path.to_owned(),
        source,
    }
}

/// Replace `path` with `bytes`, durably (all five steps; module docs). The
/// temporary file is `.NAME.tmp-…` beside it, created with `mode` (as for
/// open(2): the umask still applies), and removed if any step before the
/// rename fails.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    write_atomic_via(&tmp_beside(path), path, bytes, mode)
}

/// [`write_atomic`] through the temporary file `tmp`, an exact name on
/// `path`'s file system (O_EXCL: an existing file there is refused). For a
/// caller that removes its leftovers by name (the keystore, the witness)
/// or keeps them in a directory of their own (the blob directory's `tmp/`).
pub fn write_atomic_via(tmp: &Path, path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let mut staged = Staged::create(tmp, mode)?;
    staged.write_all(bytes)?;
    staged.sync()?.publish(path)
}

/// fsync the directory `dir`, making the entries created, renamed or
/// removed in it durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err(Step::SyncDir, dir))
}

/// The directory of `path` (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Distinguishes the temporary names one process draws.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name for `target`: `.NAME.tmp-PID-N-NANOS` in its
/// directory. Unique within this process by the counter, across processes
/// by the pid, across restarts (a reused pid) by the clock; O_EXCL refuses
/// the rare collision left.
fn tmp_beside(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    parent_of(target).join(format!(
        ".{name}.tmp-{}-{n}-{nanos:08x}",
        std::process::id()
    ))
}

/// A temporary file being written (steps 1–2). Dropped before it is
/// published, it is removed (one unlink; a caller's startup clean-up
/// catches what a crash leaves).
#[derive(Debug)]
pub struct Staged {
    file: Option<File>,
    path: PathBuf,
}

impl Staged {
    /// Step 1: create `tmp` with O_EXCL and `mode` (as for open(2): the
    /// umask still applies). An existing file at `tmp` is refused
    /// ([`Step::Create`], `AlreadyExists`), never truncated.
    pub fn create(tmp: &Path, mode: u32) -> Result<Self, Error> {
        let mut o = OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let file = o.open(tmp).map_err(err(Step::Create, tmp))?;
        Ok(Staged {
            file: Some(file),
            path: tmp.to_owned(),
        })
    }

    /// Step 1 for a file that will replace `target`: a fresh temporary
    /// name in its directory (`.NAME.tmp-…`).
    pub fn beside(target: &Path, mode: u32) -> Result<Self, Error> {
        Self::create(&tmp_beside(target), mode)
    }

    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file (for hints such as `sync_file_range`).
    pub fn file(&self) -> &File {
        self.file
            .as_ref()
            .expect("the file is taken only by sync, which consumes self")
    }

    /// The open file, to write with (step 2).
    pub fn file_mut(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("the file is taken only by sync, which consumes self")
    }

    /// Step 2: write all of `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let file = self
            .file
            .as_mut()
            .expect("the file is taken only by sync, which consumes self");
        file.write_all(bytes).map_err(err(Step::Write, &self.path))
    }

    /// Part of step 2: set the file's permission bits to exactly `mode`,
    /// whatever the umask took away at step 1 (a public file that must stay
    /// readable by others; a private one whatever the umask granted).
    pub fn set_mode(&self, mode: u32) -> Result<(), Error> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            self.file()
                .set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(err(Step::Write, &self.path))
        }
        #[cfg(not(unix))]
        {
            let _ = mode;
            Ok(())
        }
    }

    /// Step 3: fsync the file. On failure the file is closed and removed
    /// (module docs, "Why a failed fsync means abandon"): write a new one
    /// to try again.
    pub fn sync(mut self) -> Result<Synced, Error> {
        let file = self
            .file
            .take()
            .expect("the file is taken only here, and this consumes self");
        file.sync_all().map_err(err(Step::Sync, &self.path))?;
        let path = std::mem::take(&mut self.path);
        Ok(Synced { file, path })
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A temporary file whose bytes are on stable storage (after step 3),
/// ready to be published. Dropped unpublished, it is removed.
#[derive(Debug)]
pub struct Synced {
    file: File,
    path: PathBuf,
}

impl Synced {
    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file (for hints such as `posix_fadvise`).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Steps 4–5: rename over `target` (replacing it), then fsync its
    /// directory.
    pub fn publish(mut self, target: &Path) -> Result<(), Error> {
        std::fs::rename(&self.path, target).map_err(err(Step::Rename, target))?;
        self.path = PathBuf::new();
        sync_dir(parent_of(target))
    }

    /// Steps 4–5 without replacing: fails ([`Step::Rename`],
    /// `AlreadyExists`) if `target` exists, leaving it alone. Linux:
    /// `renameat2(RENAME_NOREPLACE)`; where the file system does not
    /// support it, and elsewhere, `link` then `unlink` of the temporary
    /// name (a crash between them leaves a second name for the published
    /// file, never a torn target).
    pub fn publish_new(mut self, target: &Path) -> Result<(), Error> {
        no_clobber_rename(&self.path, target).map_err(err(Step::Rename, target))?;
        self.path = PathBuf::new();
        sync_dir(parent_of(target))
    }
}

impl Drop for Synced {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(target_os = "linux")]
fn no_clobber_rename(from: &Path, to: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => link_then_unlink(from, to),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn no_clobber_rename(from: &Path, to: &Path) -> std::io::Result<()> {
    link_then_unlink(from, to)
}

fn link_then_unlink(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::hard_link(from, to)?;
    // The target is published; a leftover second name is only untidy.
    let _ = std::fs::remove_file(from);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[cfg(unix)]
    #[test]
    fn set_mode_gives_exactly_the_bits_asked_for() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("public");
        // Created 0600, as a umask of 077 would leave a 0644 file.
        let staged = Staged::beside(&target, 0o600).unwrap();
        staged.set_mode(0o644).unwrap();
        staged.sync().unwrap().publish(&target).unwrap();
        let mode = fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_replaces_the_whole_file_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two, longer", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two, longer");
        assert_eq!(names(d.path()), vec!["x.json"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn the_file_appears_whole_or_not_at_all() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        write_atomic(&p, b"old", 0o644).unwrap();
        // Written but not published (a crash before step 4): the target
        // keeps its old content.
        let mut s = Staged::beside(&p, 0o644).unwrap();
        s.write_all(b"new but unpublished").unwrap();
        let synced = s.sync().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read(synced.path()).unwrap(), b"new but unpublished");
        synced.publish(&p).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new but unpublished");
        assert_eq!(names(d.path()), vec!["x"]);
    }

    #[test]
    fn dropped_unpublished_files_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        let mut s = Staged::beside(&p, 0o644).unwrap();
        s.write_all(b"partial").unwrap();
        drop(s);
        let s = Staged::beside(&p, 0o644).unwrap().sync().unwrap();
        drop(s);
        assert!(names(d.path()).is_empty());
    }

    #[test]
    fn an_existing_tmp_name_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let tmp = d.path().join("x.tmp");
        fs::write(&tmp, b"someone else's").unwrap();
        let e = Staged::create(&tmp, 0o600).unwrap_err();
        assert_eq!(e.step, Step::Create);
        assert_eq!(e.source.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(e.path, tmp);
        assert_eq!(fs::read(&tmp).unwrap(), b"someone else's", "not truncated");
        assert!(e.to_string().starts_with("creating "), "{e}");
    }

    #[test]
    fn leftover_tmp_files_are_not_mistaken_for_the_target() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        // A crash after step 3 left a complete temporary file.
        let leftover = Staged::beside(&p, 0o644).unwrap();
        let mut leftover = leftover;
        leftover.write_all(b"leftover").unwrap();
        let leftover = leftover.sync().unwrap();
        let leftover_path = leftover.path().to_owned();
        std::mem::forget(leftover);
        assert!(!p.exists());
        write_atomic(&p, b"real", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"real");
        assert_eq!(fs::read(&leftover_path).unwrap(), b"leftover");
        assert_ne!(leftover_path, p);
    }

    #[test]
    fn staged_in_another_directory_publishes_there() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        fs::create_dir(d.path().join("blobs")).unwrap();
        let tmp = d.path().join("tmp/a.part");
        let target = d.path().join("blobs/a.seg");
        let mut s = Staged::create(&tmp, 0o644).unwrap();
        s.file_mut().write_all(b"blob").unwrap();
        s.sync().unwrap().publish(&target).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"blob");
        assert!(!tmp.exists());
    }

    #[test]
    fn publish_new_does_not_clobber() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        fs::write(&p, b"keep").unwrap();
        let mut s = Staged::beside(&p, 0o644).unwrap();
        s.write_all(b"other").unwrap();
        let e = s.sync().unwrap().publish_new(&p).unwrap_err();
        assert_eq!(
            (e.step, e.source.kind()),
            (Step::Rename, std::io::ErrorKind::AlreadyExists)
        );
        assert_eq!(fs::read(&p).unwrap(), b"keep");
        assert_eq!(names(d.path()), vec!["x"], "the temporary is removed");
        let q = d.path().join("y");
        let mut s = Staged::beside(&q, 0o644).unwrap();
        s.write_all(b"new").unwrap();
        s.sync().unwrap().publish_new(&q).unwrap();
        assert_eq!(fs::read(&q).unwrap(), b"new");
        assert_eq!(names(d.path()), vec!["x", "y"]);
    }

    #[test]
    fn a_missing_directory_names_the_step_and_path() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("missing/x");
        let e = write_atomic(&p, b"x", 0o644).unwrap_err();
        assert_eq!(e.step, Step::Create);
        assert!(e.path.starts_with(d.path().join("missing")));
        let e = sync_dir(&d.path().join("missing")).unwrap_err();
        assert_eq!(e.step, Step::SyncDir);
    }
}
