//! Looking for plaintext where only ciphertext should be: does any 64-byte
//! window of a file (a clip), or any of a set of strings (a sidecar's
//! values), occur in the files under some directories (a vault's data and
//! keys)? It checks what a store wrote: `obhut demo` uses it to show what
//! the vault holds (property P1, no plaintext at rest), and an operator's
//! check can run it over a vault's directories the same way.
//!
//! Every window of the needle file is indexed by a rolling hash (sorted,
//! binary-searched); every position of every scanned file is hashed the same
//! way and a hash hit is confirmed byte by byte, so the answer is exact.
//! Windows made of one repeated byte (a run of zeros) are not evidence of
//! anything and are left out, and counted.

use std::path::{Path, PathBuf};

/// A scan that could not run: the needle is too large, or a file or
/// directory could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The data to look for is larger than the index can address.
    #[error("the file to look for is larger than 4 GiB")]
    NeedleTooLarge {
        /// Its length in bytes.
        len: usize,
    },
    /// A directory could not be listed.
    #[error("listing {} to scan it", dir.display())]
    List {
        /// The directory.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A directory entry's type could not be read.
    #[error("reading {}", path.display())]
    FileType {
        /// The entry.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("reading {} to scan it", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Window length.
pub const WINDOW: usize = 64;

/// Polynomial rolling hash base (odd, so multiplication mod 2^64 is a bijection).
const BASE: u64 = 0x100_0000_01b3;

/// BASE^(WINDOW-1), to remove the byte leaving the window.
fn top_power() -> u64 {
    (1..WINDOW).fold(1u64, |p, _| p.wrapping_mul(BASE))
}

fn hash(w: &[u8]) -> u64 {
    w.iter().fold(0u64, |h, b| {
        h.wrapping_mul(BASE).wrapping_add(u64::from(*b))
    })
}

fn constant(w: &[u8]) -> bool {
    w.iter().all(|b| Some(b) == w.first())
}

/// Call `f(position, hash)` for every WINDOW-byte window of `data`.
fn each_window(data: &[u8], mut f: impl FnMut(usize, u64)) {
    if data.len() < WINDOW {
        return;
    }
    let top = top_power();
    let mut h = hash(&data[..WINDOW]);
    f(0, h);
    for i in 1..=data.len() - WINDOW {
        h = h
            .wrapping_sub(u64::from(data[i - 1]).wrapping_mul(top))
            .wrapping_mul(BASE)
            .wrapping_add(u64::from(data[i + WINDOW - 1]));
        f(i, h);
    }
}

/// What to look for.
pub struct Needles {
    data: Vec<u8>,
    /// (hash, position) of every non-constant window of `data`, sorted.
    windows: Vec<(u64, u32)>,
    filler: usize,
    strings: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Needles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Needles")
            .field("windows", &self.windows.len())
            .field("filler", &self.filler)
            .field("strings", &self.strings.len())
            .finish()
    }
}

/// One occurrence found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file it is in.
    pub file: PathBuf,
    /// Byte offset in that file.
    pub offset: usize,
    /// What was found: "bytes 1000..1064 of the clip" or a string's label.
    pub what: String,
}

/// The result of a scan.
#[derive(Debug, Default)]
pub struct Report {
    /// Files read.
    pub files: usize,
    /// Bytes read.
    pub bytes: u64,
    /// Occurrences (empty: nothing found).
    pub findings: Vec<Finding>,
}

impl Needles {
    /// Every 64-byte window of `data` (at most 4 GiB), and `strings`, each
    /// with a label for reports (the label, not the string, is printed).
    pub fn new(data: Vec<u8>, strings: Vec<(String, Vec<u8>)>) -> Result<Self, ScanError> {
        if u32::try_from(data.len()).is_err() {
            return Err(ScanError::NeedleTooLarge { len: data.len() });
        }
        let mut windows = Vec::with_capacity(data.len().saturating_sub(WINDOW - 1));
        let mut filler = 0;
        each_window(&data, |i, h| {
            if constant(&data[i..i + WINDOW]) {
                filler += 1;
            } else {
                // i < data.len() ≤ u32::MAX (checked above).
                windows.push((h, i as u32));
            }
        });
        windows.sort_unstable();
        let strings = strings.into_iter().filter(|(_, s)| !s.is_empty()).collect();
        Ok(Needles {
            data,
            windows,
            filler,
            strings,
        })
    }

    /// Number of windows looked for.
    pub fn window_count(&self) -> usize {
        self.windows.len()
    }

    /// Windows of one repeated byte, not looked for.
    pub fn filler_windows(&self) -> usize {
        self.filler
    }

    /// Number of strings looked for.
    pub fn string_count(&self) -> usize {
        self.strings.len()
    }

    /// Occurrences in `hay` (a file's content), reported under `file`. At
    /// most `limit` findings.
    pub fn find_in(&self, hay: &[u8], file: &Path, limit: usize) -> Vec<Finding> {
        let mut out = Vec::new();
        each_window(hay, |p, h| {
            if out.len() >= limit {
                return;
            }
            let start = self.windows.partition_point(|(x, _)| *x < h);
            for (x, pos) in &self.windows[start..] {
                if *x != h {
                    break;
                }
                let pos = *pos as usize;
                if self.data[pos..pos + WINDOW] == hay[p..p + WINDOW] {
                    out.push(Finding {
                        file: file.to_owned(),
                        offset: p,
                        what: format!("bytes {pos}..{} of the clip", pos + WINDOW),
                    });
                    break;
                }
            }
        });
        for (label, s) in &self.strings {
            if out.len() >= limit {
                break;
            }
            if let Some(p) = hay.windows(s.len()).position(|w| w == s.as_slice()) {
                out.push(Finding {
                    file: file.to_owned(),
                    offset: p,
                    what: label.clone(),
                });
            }
        }
        out
    }

    /// Read every file under `dirs` (recursively; symbolic links are not
    /// followed) and look for the needles.
    pub fn scan(&self, dirs: &[&Path]) -> Result<Report, ScanError> {
        let mut report = Report::default();
        for dir in dirs {
            for file in files_under(dir)? {
                let hay = std::fs::read(&file).map_err(|source| ScanError::Read {
                    path: file.clone(),
                    source,
                })?;
                report.files += 1;
                report.bytes += hay.len() as u64;
                report.findings.extend(self.find_in(&hay, &file, 10));
            }
        }
        Ok(report)
    }
}

/// The regular files under `dir`, sorted.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>, ScanError> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let list = |source| ScanError::List {
            dir: d.clone(),
            source,
        };
        let entries = std::fs::read_dir(&d).map_err(list)?;
        for e in entries {
            let e = e.map_err(list)?;
            let t = e.file_type().map_err(|source| ScanError::FileType {
                path: e.path(),
                source,
            })?;
            if t.is_dir() {
                todo.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn rolling_hash_matches_direct_hash() {
        let d = pseudo(300, 1);
        each_window(&d, |i, h| assert_eq!(h, hash(&d[i..i + WINDOW])));
    }

    #[test]
    fn finds_any_window_anywhere_and_nothing_in_unrelated_bytes() {
        let clip = pseudo(10_000, 7);
        let n = Needles::new(clip.clone(), vec![("officer".into(), b"PC 4711".to_vec())]).unwrap();
        let p = Path::new("f");
        assert!(n.find_in(&pseudo(50_000, 99), p, 10).is_empty());
        // An unaligned window embedded at an odd offset.
        let mut hay = pseudo(5_000, 3);
        hay.splice(1_237..1_237, clip[4_321..4_321 + WINDOW].iter().copied());
        let f = n.find_in(&hay, p, 10);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].offset, 1_237);
        assert_eq!(f[0].what, "bytes 4321..4385 of the clip");
        // 63 bytes are not a window.
        let mut hay = pseudo(5_000, 3);
        hay.splice(10..10, clip[100..100 + WINDOW - 1].iter().copied());
        assert!(n.find_in(&hay, p, 10).is_empty());
        // A string.
        let f = n.find_in(b"xx PC 4711 yy", p, 10);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].offset, f[0].what.as_str()), (3, "officer"));
    }

    #[test]
    fn runs_of_one_byte_are_not_evidence() {
        let mut clip = pseudo(1_000, 5);
        clip.extend([0u8; 200]);
        let n = Needles::new(clip, vec![]).unwrap();
        assert_eq!(n.filler_windows(), 200 - WINDOW + 1);
        assert!(n.find_in(&[0u8; 4096], Path::new("f"), 10).is_empty());
    }
}
