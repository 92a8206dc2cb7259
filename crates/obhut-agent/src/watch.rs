//! Watching a dock directory: a bodycam dock copies MP4s into it; a file is
//! ingested once it is *stable* — its length and modification time (and
//! those of its sidecar) unchanged for a settle period. Polling rather than
//! inotify: the stability check needs periodic `stat`s anyway, and polling
//! also works on the network and FUSE file systems docks use.
//!
//! Restarts need no state here: a file still in the directory is simply
//! seen again, and its journal resumes the recording where it stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Tracks candidate files until they settle.
#[derive(Debug)]
pub struct Watcher {
    dir: PathBuf,
    extensions: Vec<String>,
    sidecar_extension: String,
    settle: Duration,
    seen: HashMap<PathBuf, Seen>,
}

type Sig = Vec<(u64, Option<std::time::SystemTime>)>;

#[derive(Debug)]
struct Seen {
    sig: Sig,
    since: Instant,
    done: bool,
}

fn stat(p: &Path) -> Option<(u64, Option<std::time::SystemTime>)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.len(), m.modified().ok()))
}

impl Watcher {
    /// Watch `dir` for files with one of `extensions` (case-insensitive, no
    /// dot), stable for `settle`.
    pub fn new(
        dir: impl Into<PathBuf>,
        extensions: &[&str],
        sidecar_extension: &str,
        settle: Duration,
    ) -> Self {
        Watcher {
            dir: dir.into(),
            extensions: extensions.iter().map(|e| e.to_ascii_lowercase()).collect(),
            sidecar_extension: sidecar_extension.to_owned(),
            settle,
            seen: HashMap::new(),
        }
    }

    /// One scan at time `now`: the files that have been stable for the
    /// settle period, in name order.
    pub fn scan(&mut self, now: Instant) -> Result<Vec<PathBuf>> {
        let mut present = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(Error::io("list", &self.dir))? {
            let entry = entry.map_err(Error::io("list", &self.dir))?;
            let p = entry.path();
            let wanted = p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| self.extensions.contains(&e.to_ascii_lowercase()));
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if wanted && !hidden && p.is_file() {
                present.push(p);
            }
        }
        present.sort();
        self.seen.retain(|p, _| present.contains(p));
        let mut ready = Vec::new();
        for p in present {
            let sidecar = p.with_extension(&self.sidecar_extension);
            let Some(main) = stat(&p) else { continue };
            let mut sig = vec![main];
            if let Some(s) = stat(&sidecar) {
                sig.push(s);
            }
            match self.seen.get_mut(&p) {
                Some(s) if s.sig == sig => {
                    if !s.done && now.duration_since(s.since) >= self.settle {
                        ready.push(p);
                    }
                }
                Some(s) => {
                    *s = Seen {
                        sig,
                        since: now,
                        done: false,
                    }
                }
                None => {
                    self.seen.insert(
                        p,
                        Seen {
                            sig,
                            since: now,
                            done: false,
                        },
                    );
                }
            }
        }
        Ok(ready)
    }

    /// Forget a file (after a failed attempt), so it must settle again
    /// before the next one.
    pub fn forget(&mut self, p: &Path) {
        self.seen.remove(p);
    }

    /// Mark a file done: it is not offered again unless it changes.
    pub fn mark_done(&mut self, p: &Path) {
        if let Some(s) = self.seen.get_mut(p) {
            s.done = true;
        }
    }

    /// Whether every file seen in the last scan is done.
    pub fn is_idle(&self) -> bool {
        self.seen.values().all(|s| s.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_ready_only_after_settling_and_a_change_restarts_the_clock() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Watcher::new(d.path(), &["mp4"], "json", Duration::from_secs(5));
        let t0 = Instant::now();
        let clip = d.path().join("a.MP4");
        std::fs::write(&clip, b"1234").unwrap();
        std::fs::write(d.path().join("a.json"), b"{}").unwrap();
        std::fs::write(d.path().join("notes.txt"), b"x").unwrap();
        std::fs::write(d.path().join(".partial.mp4"), b"x").unwrap();
        assert!(w.scan(t0).unwrap().is_empty());
        assert!(w.scan(t0 + Duration::from_secs(2)).unwrap().is_empty());
        // The sidecar grows: not stable yet.
        std::fs::write(d.path().join("a.json"), b"{\"officer\":1}").unwrap();
        assert!(w.scan(t0 + Duration::from_secs(6)).unwrap().is_empty());
        assert!(w.scan(t0 + Duration::from_secs(9)).unwrap().is_empty());
        assert_eq!(
            w.scan(t0 + Duration::from_secs(11)).unwrap(),
            vec![clip.clone()]
        );
        assert!(!w.is_idle());
        w.mark_done(&clip);
        assert!(w.is_idle());
        assert!(w.scan(t0 + Duration::from_secs(30)).unwrap().is_empty());
        std::fs::remove_file(&clip).unwrap();
        assert!(w.scan(t0 + Duration::from_secs(32)).unwrap().is_empty());
        assert!(w.is_idle());
    }
}
