//! The unattended agent's loop body (`obhut agent`): each pass scans the
//! dock directory ([`Watcher`]) and ingests every file that has settled,
//! except those waiting to be retried. A file that fails waits 5 s before
//! its next try, twice as long after each further failure, at most 5 min;
//! meanwhile it must settle again, so a file still being copied is not
//! retried half-written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::ingest::{Agent, IngestOptions, Outcome, Progress};
use crate::watch::Watcher;

/// The wait after a file's first failure.
const FIRST_RETRY: Duration = Duration::from_secs(5);
/// The longest wait between tries.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// What a pass did with one file.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Ingested: every segment stored and its receipt verified.
    Ingested {
        /// The file.
        path: &'a Path,
        /// What the ingest achieved.
        outcome: Outcome,
    },
    /// Failed; the file is tried again after `retry_in` (once settled).
    Failed {
        /// The file.
        path: &'a Path,
        /// Why.
        error: Error,
        /// The wait before the next try.
        retry_in: Duration,
    },
}

/// A dock directory and the files waiting to be retried.
#[derive(Debug)]
pub struct Dock {
    watcher: Watcher,
    /// Per failed file: when to try again, and the wait that was chosen.
    retry_at: HashMap<PathBuf, (Instant, Duration)>,
}

impl Dock {
    /// Ingest what `watcher` finds settled.
    pub fn new(watcher: Watcher) -> Self {
        Dock {
            watcher,
            retry_at: HashMap::new(),
        }
    }

    /// One pass: ingest every settled file not waiting for a retry, telling
    /// `on_event` about each. Returns whether a file is still pending (it
    /// failed, or waits for its retry). An error is the scan's: the dock
    /// directory cannot be listed.
    pub fn pass(
        &mut self,
        agent: &mut Agent<'_>,
        opts: &IngestOptions,
        progress: &dyn Progress,
        mut on_event: impl FnMut(Event<'_>),
    ) -> Result<bool> {
        let now = Instant::now();
        let ready = self.watcher.scan(now)?;
        let mut pending = false;
        for p in ready {
            if self.retry_at.get(&p).is_some_and(|(t, _)| *t > now) {
                pending = true;
                continue;
            }
            match agent.ingest(&p, opts, progress) {
                Ok(outcome) => {
                    on_event(Event::Ingested { path: &p, outcome });
                    self.retry_at.remove(&p);
                    self.watcher.mark_done(&p);
                }
                Err(error) => {
                    pending = true;
                    let wait = self
                        .retry_at
                        .get(&p)
                        .map_or(FIRST_RETRY, |(_, w)| (*w * 2).min(MAX_RETRY));
                    on_event(Event::Failed {
                        path: &p,
                        error,
                        retry_in: wait,
                    });
                    self.retry_at
                        .insert(p.clone(), (Instant::now() + wait, wait));
                    self.watcher.forget(&p);
                }
            }
        }
        Ok(pending)
    }

    /// Whether every file seen in the last scan is done.
    pub fn is_idle(&self) -> bool {
        self.watcher.is_idle()
    }
}
