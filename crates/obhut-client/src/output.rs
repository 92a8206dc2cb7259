//! A file the client writes for a person (an opened grant, a ceremony's
//! shares and descriptor): staged beside its path, published whole with
//! exactly the permission bits asked for, or removed ([`obhut_durable`]).

use std::fs::File;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Readable by its owner only: opened footage, a share.
pub(crate) const PRIVATE: u32 = 0o600;
/// Readable by anyone: a descriptor.
pub(crate) const PUBLIC: u32 = 0o644;

/// An output file being written; dropped before [`OutputFile::commit`],
/// it is removed.
pub(crate) struct OutputFile {
    path: PathBuf,
    tmp: obhut_durable::Staged,
    overwrite: bool,
    mode: u32,
}

impl OutputFile {
    /// Start writing `path`; an existing file is refused unless `overwrite`.
    pub(crate) fn create(path: PathBuf, overwrite: bool, mode: u32) -> Result<Self> {
        if !overwrite && std::fs::symlink_metadata(&path).is_ok() {
            return Err(Error::OutputExists { path });
        }
        match obhut_durable::Staged::beside(&path, PRIVATE) {
            Ok(tmp) => Ok(OutputFile {
                path,
                tmp,
                overwrite,
                mode,
            }),
            Err(source) => Err(Error::Output { path, source }),
        }
    }

    /// The file being written.
    pub(crate) fn file(&mut self) -> &mut File {
        self.tmp.file_mut()
    }

    /// The staged file opened again for reading (what was written so far;
    /// the staged file itself is write-only).
    pub(crate) fn reopen_read(&self) -> Result<File> {
        File::open(self.tmp.path()).map_err(Error::Write)
    }

    /// Write all of `bytes`.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.tmp.write_all(bytes).map_err(|source| Error::Output {
            path: self.path.clone(),
            source,
        })
    }

    /// Its mode set whatever the umask, synced, then renamed into place
    /// (without `overwrite`, never over a file that appeared meanwhile).
    pub(crate) fn commit(self) -> Result<()> {
        let OutputFile {
            path,
            tmp,
            overwrite,
            mode,
        } = self;
        let published = tmp.set_mode(mode).and_then(|()| tmp.sync()).and_then(|s| {
            if overwrite {
                s.publish(&path)
            } else {
                s.publish_new(&path)
            }
        });
        published.map_err(|source| Error::Output { path, source })
    }
}
