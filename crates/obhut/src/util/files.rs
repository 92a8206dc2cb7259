//! Reading inputs and writing outputs.
//!
//! Inputs are read whole (they are small structures) with a size cap, so that
//! passing a video where a descriptor is expected fails fast with a message
//! naming the flag. Outputs are written atomically ([`obhut_durable`]): a
//! temporary file in the destination directory, then a rename, so that a
//! failed command leaves no partial output behind.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use obhut_client::recording_dir::{MAX_STRUCTURE_FILE, ReadError, read_structure};
use obhut_core::labels::magic;
use obhut_durable::Step;

use super::hint::{HintExt, fail, with_hint};

/// Read an input file of at most 32 MiB
/// ([`obhut_client::recording_dir::read_structure`]). `flag` names where
/// the path came from, for the error message.
pub fn read(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    read_structure(path).map_err(|e| read_error(e, flag))
}

/// What went wrong reading an input given as `flag`, and the next step.
fn read_message(e: &ReadError, flag: &str) -> (String, String) {
    let next = format!("check the path given to {flag}");
    let message = match e {
        ReadError::Open { path, .. } => {
            format!("cannot open {} (given as {flag})", path.display())
        }
        ReadError::Read { path, .. } => {
            format!("cannot read {} (given as {flag})", path.display())
        }
        ReadError::TooLarge { path } => format!(
            "{} (given as {flag}) is larger than {} MiB, too large for an Obhut structure",
            path.display(),
            MAX_STRUCTURE_FILE >> 20
        ),
        other => other.to_string(),
    };
    (message, next)
}

/// A failed read of an input given as `flag`, with the next step.
pub fn read_error(e: ReadError, flag: &str) -> anyhow::Error {
    let (message, next) = read_message(&e, flag);
    match e {
        ReadError::Open { source, .. } | ReadError::Read { source, .. } => {
            with_hint(source, message, next)
        }
        _ => fail(message, next),
    }
}

/// [`read_error`] as one line (`message: cause`), for a report.
pub fn read_error_text(e: &ReadError, flag: &str) -> String {
    let (message, _) = read_message(e, flag);
    match e {
        ReadError::Open { source, .. } | ReadError::Read { source, .. } => {
            format!("{message}: {source}")
        }
        _ => message,
    }
}

/// Read and parse an input file. `expected` says what the flag takes, e.g.
/// "a group descriptor (group.obgd from `obhut custody init`)".
pub fn parse<T>(
    path: &Path,
    flag: &str,
    expected: &str,
    parse: impl FnOnce(&[u8]) -> obhut_core::Result<T>,
) -> anyhow::Result<T> {
    let bytes = read(path, flag)?;
    parse(&bytes).hint(
        match magic::describe(&bytes) {
            Some(kind) => format!(
                "cannot use {} (given as {flag}); the file holds {kind}",
                path.display()
            ),
            None => format!("cannot use {} (given as {flag})", path.display()),
        },
        format!("{flag} takes {expected}"),
    )
}

/// Refuse to overwrite an existing output unless `--force`. Called before
/// any work, so a mistake costs nothing.
pub fn check_new(path: &Path, flag: &str, force: bool) -> anyhow::Result<()> {
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(exists_error(path, flag));
    }
    Ok(())
}

/// The refusal to overwrite `path` (given as `flag`) without `--force`.
pub fn exists_error(path: &Path, flag: &str) -> anyhow::Error {
    fail(
        format!("{} already exists (given as {flag})", path.display()),
        format!("choose another {flag}, remove the file, or pass --force to overwrite it"),
    )
}

/// Who may read an output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Public structures: 0644.
    Public,
    /// Locked key files: 0600 (they are encrypted, but still nobody else's business).
    Private,
}

/// An output file being written: a temporary file in the destination's
/// directory until [`Output::commit`] renames it into place. Dropped without
/// commit, it is deleted.
pub struct Output {
    tmp: obhut_durable::Staged,
    path: PathBuf,
    flag: String,
    force: bool,
    mode: Mode,
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A durable write of `path` (given as `flag`) that failed, with the next
/// step for the step that failed.
pub fn durable_error(e: obhut_durable::Error, path: &Path, flag: &str) -> anyhow::Error {
    let what = format!("cannot write {} (given as {flag})", path.display());
    match e.step {
        Step::Create => with_hint(
            e.source,
            format!(
                "cannot create a file in {} (for {flag})",
                parent_of(path).display()
            ),
            format!("check that the directory of {flag} exists and is writable"),
        ),
        Step::Rename => with_hint(
            e.source,
            what,
            format!("check {flag}; pass --force to overwrite an existing file"),
        ),
        _ => anyhow::Error::new(e.source).context(what),
    }
}

impl Output {
    /// Start writing `path` (after [`check_new`]).
    pub fn create(path: &Path, flag: &str, force: bool, mode: Mode) -> anyhow::Result<Self> {
        check_new(path, flag, force)?;
        let tmp =
            obhut_durable::Staged::beside(path, 0o600).map_err(|e| durable_error(e, path, flag))?;
        Ok(Output {
            tmp,
            path: path.to_owned(),
            flag: flag.to_owned(),
            force,
            mode,
        })
    }

    /// The file being written.
    pub fn file(&mut self) -> &mut File {
        self.tmp.file_mut()
    }

    /// Make the file durable and move it into place. Sequence: write (done),
    /// set its mode, fsync the file, rename over (or, without `--force`,
    /// rename without clobbering) the destination, fsync the directory.
    pub fn commit(self) -> anyhow::Result<()> {
        let Output {
            tmp,
            path,
            flag,
            force,
            mode,
        } = self;
        let what = || format!("cannot write {} (given as {flag})", path.display());
        let mut tmp = tmp;
        tmp.file_mut().flush().with_context(what)?;
        let bits = match mode {
            Mode::Public => 0o644,
            Mode::Private => 0o600,
        };
        tmp.set_mode(bits)
            .map_err(|e| durable_error(e, &path, &flag))?;
        let synced = tmp.sync().map_err(|e| durable_error(e, &path, &flag))?;
        let published = if force {
            synced.publish(&path)
        } else {
            synced.publish_new(&path)
        };
        published.map_err(|e| durable_error(e, &path, &flag))
    }
}

/// Write `bytes` to `path` atomically (see [`Output::commit`]).
pub fn write(path: &Path, bytes: &[u8], flag: &str, force: bool, mode: Mode) -> anyhow::Result<()> {
    let mut out = Output::create(path, flag, force, mode)?;
    out.file()
        .write_all(bytes)
        .with_context(|| format!("cannot write {} (given as {flag})", path.display()))?;
    out.commit()
}

/// `PATH` with `.pub` appended (`cam.key` → `cam.key.pub`).
pub fn pub_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// `path` + `.name`: the signed display name `obhut keygen` writes beside
/// a key.
pub fn name_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".name");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_atomic_and_refuses_to_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        write(&p, b"one", "--out", false, Mode::Public).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        let e = write(&p, b"two", "--out", false, Mode::Public).unwrap_err();
        assert!(format!("{e:#}").contains("already exists"), "{e:#}");
        write(&p, b"two", "--out", true, Mode::Private).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        // An output dropped without commit leaves nothing behind.
        let q = dir.path().join("y.bin");
        let mut out = Output::create(&q, "--out", false, Mode::Public).unwrap();
        out.file().write_all(b"partial").unwrap();
        drop(out);
        assert!(!q.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn pub_path_appends() {
        assert_eq!(
            pub_path(Path::new("a/cam.key")),
            PathBuf::from("a/cam.key.pub")
        );
    }
}
