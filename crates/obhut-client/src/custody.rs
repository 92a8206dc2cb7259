//! The custody group as files (docs/format.md §4): the dealer ceremony
//! that writes a k-of-n group's shares and descriptor to a directory, a
//! custodian checking its share and signing the descriptor, and the state
//! of a descriptor's signatures. Offline: no vault is involved.
//!
//! The files are written through [`Files`], so that a front end keeps its
//! own atomic writes, refusals to overwrite and messages.

use std::path::{Path, PathBuf};

use obhut_core::group::{self, GroupDescriptor, ShareEnvelope};
use obhut_core::identity::{PersonSecret, PublicIdentity};
use obhut_core::labels;
use obhut_core::rng::os_rng;

use crate::output::{OutputFile, PRIVATE, PUBLIC};

/// Where a ceremony's files go. Each call names one file; an error is the
/// front end's own and is handed back unchanged ([`CeremonyError::Files`]).
pub trait Files {
    /// The front end's error.
    type Error;
    /// Create `dir` and its parents if missing.
    fn create_dir(&mut self, dir: &Path) -> Result<(), Self::Error>;
    /// Refuse `path` if it exists (unless the front end may overwrite).
    fn check_new(&mut self, path: &Path) -> Result<(), Self::Error>;
    /// Write `bytes` to `path` atomically and durably; `private`: readable
    /// by its owner only (a share), else by anyone (a descriptor).
    fn write(&mut self, path: &Path, bytes: &[u8], private: bool) -> Result<(), Self::Error>;
}

/// A ceremony's files on disk, each written whole and durably (0600 for
/// a share, 0644 for a descriptor, whatever the umask); an existing file
/// is refused unless `overwrite`.
#[derive(Debug, Clone, Copy)]
pub struct DirFiles {
    /// Replace existing files.
    pub overwrite: bool,
}

impl Files for DirFiles {
    type Error = crate::Error;
    fn create_dir(&mut self, dir: &Path) -> crate::Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| crate::Error::OutputDir {
            dir: dir.to_owned(),
            source,
        })
    }
    fn check_new(&mut self, path: &Path) -> crate::Result<()> {
        if !self.overwrite && std::fs::symlink_metadata(path).is_ok() {
            return Err(crate::Error::OutputExists {
                path: path.to_owned(),
            });
        }
        Ok(())
    }
    fn write(&mut self, path: &Path, bytes: &[u8], private: bool) -> crate::Result<()> {
        let mode = if private { PRIVATE } else { PUBLIC };
        let mut out = OutputFile::create(path.to_owned(), self.overwrite, mode)?;
        out.write_all(bytes)?;
        out.commit()
    }
}

/// Why a custody step refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CustodyError {
    /// More custodians than a group can have.
    #[error(
        "{count} custodians given; a group has at most {}",
        group::MAX_CUSTODIANS
    )]
    TooManyCustodians {
        /// How many were given.
        count: usize,
    },
    /// k is 0 or larger than n.
    #[error("threshold {threshold} with {n} custodian(s)")]
    Threshold {
        /// k.
        threshold: u16,
        /// n.
        n: u16,
    },
    /// The core refused to deal the group (name, duplicate custodians…).
    #[error("cannot create the group")]
    Deal(#[source] obhut_core::Error),
    /// The share belongs to another group or generation than the descriptor.
    #[error(
        "the share is of group {share_group} (generation {share_generation}), the descriptor is group {group} (generation {generation})"
    )]
    OtherGroup {
        /// The share's group id.
        share_group: String,
        /// The share's generation.
        share_generation: u32,
        /// The descriptor's group id.
        group: String,
        /// The descriptor's generation.
        generation: u32,
    },
    /// The share does not open with the custodian's key.
    #[error("cannot open the share of custodian {index}")]
    ShareOpen {
        /// The custodian the share is for.
        index: u16,
        /// Why.
        #[source]
        source: obhut_core::Error,
    },
    /// The share does not match the descriptor, or signing failed.
    #[error("refusing to sign the descriptor")]
    Sign(#[source] obhut_core::Error),
}

/// A ceremony's error: the custody step's, or the front end's file error.
#[derive(Debug)]
pub enum CeremonyError<E> {
    /// A custody step refused or failed.
    Custody(CustodyError),
    /// Checking or writing a file failed ([`Files`]).
    Files(E),
}

impl<E> From<CustodyError> for CeremonyError<E> {
    fn from(e: CustodyError) -> Self {
        CeremonyError::Custody(e)
    }
}

/// n, if `threshold` of `count` custodians makes a group.
pub fn check_threshold(threshold: u16, count: usize) -> Result<u16, CustodyError> {
    let n = u16::try_from(count)
        .ok()
        .filter(|n| *n <= group::MAX_CUSTODIANS)
        .ok_or(CustodyError::TooManyCustodians { count })?;
    if threshold == 0 || threshold > n {
        return Err(CustodyError::Threshold { threshold, n });
    }
    Ok(n)
}

/// What the dealer ceremony wrote.
#[derive(Debug)]
pub struct Dealt {
    /// The new descriptor, not yet signed.
    pub descriptor: GroupDescriptor,
    /// `DIR/group.obgd`.
    pub group_path: PathBuf,
    /// `DIR/share-<i>.obse`, custodian i at position i − 1.
    pub share_paths: Vec<PathBuf>,
}

/// The dealer ceremony: a k-of-n group for `people` (custodians 1..n in
/// that order), each share sealed to its custodian in `out/share-<i>.obse`,
/// then the unsigned descriptor in `out/group.obgd`. Every output is
/// checked before the secret is drawn; the group secret and the shares are
/// forgotten when this returns.
pub fn deal_to_dir<F: Files>(
    name: &str,
    threshold: u16,
    people: &[PublicIdentity],
    out: &Path,
    files: &mut F,
) -> Result<Dealt, CeremonyError<F::Error>> {
    let n = check_threshold(threshold, people.len())?;
    let group_path = out.join("group.obgd");
    let share_paths: Vec<PathBuf> = (1..=n)
        .map(|i| out.join(format!("share-{i}.obse")))
        .collect();
    files.create_dir(out).map_err(CeremonyError::Files)?;
    files.check_new(&group_path).map_err(CeremonyError::Files)?;
    for p in &share_paths {
        files.check_new(p).map_err(CeremonyError::Files)?;
    }
    let (descriptor, envelopes) =
        group::deal(name, threshold, n, people, &mut os_rng()).map_err(CustodyError::Deal)?;
    // Shares first, descriptor last: a complete descriptor means a complete ceremony.
    for (env, path) in envelopes.iter().zip(&share_paths) {
        files
            .write(path, &env.to_bytes(), true)
            .map_err(CeremonyError::Files)?;
    }
    files
        .write(&group_path, &descriptor.to_bytes(), false)
        .map_err(CeremonyError::Files)?;
    Ok(Dealt {
        descriptor,
        group_path,
        share_paths,
    })
}

/// Refuse a share of another group or generation than `descriptor` (before
/// any passphrase is asked).
pub fn check_share(
    descriptor: &GroupDescriptor,
    envelope: &ShareEnvelope,
) -> Result<(), CustodyError> {
    if envelope.group_id != descriptor.group_id() || envelope.generation != descriptor.generation()
    {
        return Err(CustodyError::OtherGroup {
            share_group: envelope.group_id.to_string(),
            share_generation: envelope.generation,
            group: descriptor.group_id().to_string(),
            generation: descriptor.generation(),
        });
    }
    Ok(())
}

/// The state of a descriptor after one more custodian signed it.
#[derive(Debug, Clone, Copy)]
pub struct Signed {
    /// The custodian who signed.
    pub index: u16,
    /// Valid signatures now on the descriptor.
    pub valid: usize,
    /// k.
    pub threshold: u16,
    /// n.
    pub size: u16,
}

impl Signed {
    /// Whether k custodians have signed (devices can pin the group).
    pub fn pins(&self) -> bool {
        self.valid >= usize::from(self.threshold)
    }
}

/// What a custodian does once its key is unlocked: open the share, check
/// it against the descriptor's verification share (so the dealer did not
/// cheat), sign, and replace `group_path` through `files`.
pub fn sign_and_write<F: Files>(
    group_path: &Path,
    mut descriptor: GroupDescriptor,
    envelope: &ShareEnvelope,
    me: &PersonSecret,
    files: &mut F,
) -> Result<Signed, CeremonyError<F::Error>> {
    let share = envelope
        .open(me, &descriptor)
        .map_err(|source| CustodyError::ShareOpen {
            index: envelope.index,
            source,
        })?;
    group::sign_descriptor(&mut descriptor, &share, me).map_err(CustodyError::Sign)?;
    drop(share);
    files
        .write(group_path, &descriptor.to_bytes(), false)
        .map_err(CeremonyError::Files)?;
    let valid = descriptor
        .verify_signatures(0)
        .map(|s| s.len())
        .unwrap_or(0);
    Ok(Signed {
        index: envelope.index,
        valid,
        threshold: descriptor.threshold(),
        size: descriptor.size(),
    })
}

/// The state of custodian `index`'s signature on `d`: `None` if absent,
/// else whether it verifies over `body` (`d.signed_body()`).
pub fn signature_state(d: &GroupDescriptor, index: u16, body: &[u8]) -> Option<bool> {
    let sig = d.signatures().iter().find(|s| s.index == index)?;
    let c = d.custodian(index)?;
    Some(
        c.sign_key
            .verify(
                labels::GROUP_DESCRIPTOR_SIG,
                body,
                &sig.signature,
                "group descriptor",
            )
            .is_ok(),
    )
}

/// The custodians whose signature on `d` is present but does not verify.
pub fn bad_signatures(d: &GroupDescriptor) -> Vec<u16> {
    let body = d.signed_body();
    d.custodians()
        .iter()
        .filter(|c| signature_state(d, c.index, &body) == Some(false))
        .map(|c| c.index)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Files in memory: (bytes, private) by path.
    #[derive(Default)]
    struct Memory(BTreeMap<PathBuf, (Vec<u8>, bool)>);

    impl Files for Memory {
        type Error = String;
        fn create_dir(&mut self, _dir: &Path) -> Result<(), String> {
            Ok(())
        }
        fn check_new(&mut self, path: &Path) -> Result<(), String> {
            match self.0.contains_key(path) {
                true => Err(format!("{} exists", path.display())),
                false => Ok(()),
            }
        }
        fn write(&mut self, path: &Path, bytes: &[u8], private: bool) -> Result<(), String> {
            self.0.insert(path.to_owned(), (bytes.to_vec(), private));
            Ok(())
        }
    }

    #[test]
    fn deal_sign_and_pin() {
        let people: Vec<PersonSecret> = (1..=3)
            .map(|i| PersonSecret::generate(&format!("c{i}"), &mut os_rng()))
            .collect();
        let public: Vec<_> = people.iter().map(PersonSecret::public).collect();
        let mut files = Memory::default();
        let out = Path::new("custody");
        let dealt = deal_to_dir("evidence", 2, &public, out, &mut files).unwrap();
        assert_eq!(dealt.share_paths.len(), 3);
        assert!(files.0[&dealt.share_paths[0]].1, "shares are private");
        assert!(!files.0[&dealt.group_path].1, "the descriptor is public");
        // A second ceremony into the same directory is refused before dealing.
        assert!(matches!(
            deal_to_dir("evidence", 2, &public, out, &mut files),
            Err(CeremonyError::Files(_))
        ));

        for (i, me) in people.iter().enumerate().take(2) {
            let d = GroupDescriptor::from_bytes(&files.0[&dealt.group_path].0).unwrap();
            let env = ShareEnvelope::from_bytes(&files.0[&dealt.share_paths[i]].0).unwrap();
            check_share(&d, &env).unwrap();
            let signed = sign_and_write(&dealt.group_path, d, &env, me, &mut files).unwrap();
            assert_eq!(signed.valid, i + 1);
            assert_eq!(signed.pins(), i == 1);
        }
        let d = GroupDescriptor::from_bytes(&files.0[&dealt.group_path].0).unwrap();
        assert!(d.pin().is_ok());
        assert!(bad_signatures(&d).is_empty());

        // Custodian 3 cannot open custodian 1's share.
        let env = ShareEnvelope::from_bytes(&files.0[&dealt.share_paths[0]].0).unwrap();
        assert!(matches!(
            sign_and_write(&dealt.group_path, d, &env, &people[2], &mut files),
            Err(CeremonyError::Custody(CustodyError::ShareOpen {
                index: 1,
                ..
            }))
        ));
    }

    #[test]
    fn a_ceremony_on_disk_writes_private_shares_and_refuses_to_overwrite() {
        use std::os::unix::fs::PermissionsExt;
        let public: Vec<_> = (1..=2)
            .map(|i| PersonSecret::generate(&format!("c{i}"), &mut os_rng()).public())
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("custody");
        let mut files = DirFiles { overwrite: false };
        let dealt = deal_to_dir("evidence", 2, &public, &out, &mut files).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dealt.share_paths[0]), 0o600);
        assert_eq!(mode(&dealt.group_path), 0o644);
        let d = GroupDescriptor::from_bytes(&std::fs::read(&dealt.group_path).unwrap()).unwrap();
        assert_eq!(d.group_id(), dealt.descriptor.group_id());
        assert!(matches!(
            deal_to_dir("evidence", 2, &public, &out, &mut files),
            Err(CeremonyError::Files(crate::Error::OutputExists { .. }))
        ));
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);
    }

    #[test]
    fn thresholds() {
        assert_eq!(check_threshold(2, 3).unwrap(), 3);
        assert!(matches!(
            check_threshold(0, 3),
            Err(CustodyError::Threshold { threshold: 0, n: 3 })
        ));
        assert!(matches!(
            check_threshold(4, 3),
            Err(CustodyError::Threshold { threshold: 4, n: 3 })
        ));
        assert!(matches!(
            check_threshold(1, 256),
            Err(CustodyError::TooManyCustodians { count: 256 })
        ));
    }
}
