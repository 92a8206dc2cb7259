//! Durable journal writes off the signing path (`ingest`, "Pipeline").
//!
//! A segment's record must be durable in the journal before its first byte
//! is sent as the upload's trailer, but nothing requires the agent to wait
//! for that write before signing the next record: that only needs the
//! record in memory (its chain link). So the agent hands the journal,
//! serialised, together with the upload's trailer sender
//! ([`crate::body::TrailerSender`]) and the record to one writer thread,
//! and goes on at once. The thread writes each snapshot durably
//! ([`write_durable`]) and only then gives the upload its trailer; if the
//! write fails, it fails the upload instead, so a record that is not
//! journaled is never sent.
//!
//! Snapshots are written in the order they were handed over, and each is
//! the whole journal at that moment, so the file on disk only ever moves
//! forward. A synchronous save ([`JournalWriter::save`]) goes through the
//! same queue and waits for its turn, so it can never be overtaken by an
//! older snapshot still queued.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use crate::body::TrailerSender;
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::state::write_durable;

/// What to do once a snapshot is durable.
enum Then {
    /// Send the record as the upload's trailer.
    SendTrailer {
        upload: TrailerSender,
        trailer: Vec<u8>,
    },
    /// Report the write's outcome to a waiting caller.
    Report(SyncSender<Result<()>>),
}

struct Job {
    path: PathBuf,
    json: Vec<u8>,
    then: Then,
}

/// One thread writing journal snapshots in order.
pub struct JournalWriter {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter").finish_non_exhaustive()
    }
}

impl JournalWriter {
    /// Start the writer thread.
    pub fn spawn() -> Result<Self> {
        let (tx, rx) = channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("obhut-journal".into())
            .spawn(move || run(rx))
            .map_err(|e| Error::Io {
                op: "start the journal writer thread",
                path: PathBuf::new(),
                source: e,
            })?;
        Ok(JournalWriter {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    fn submit(&self, job: Job) -> std::result::Result<(), Job> {
        match &self.jobs {
            Some(tx) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }

    /// Write `journal` durably to `path` after every snapshot handed over
    /// before it, and wait for the outcome.
    pub fn save(&self, journal: &Journal, path: &Path) -> Result<()> {
        let json = journal.to_json(path)?;
        let (tx, rx) = sync_channel(1);
        let job = Job {
            path: path.to_owned(),
            json,
            then: Then::Report(tx),
        };
        match self.submit(job) {
            Ok(()) => rx.recv().unwrap_or_else(|_| Err(stopped(path))),
            // The thread is gone (it never panics on its own; be safe):
            // write here, in order, since nothing else can be queued.
            Err(job) => write_durable(&job.path, &job.json),
        }
    }

    /// Write `journal` durably to `path` (in order), then give `trailer`
    /// to `upload` to send; if the write fails, fail the upload with the
    /// reason instead, so it stops without its record. Returns at once.
    pub fn save_then_send(
        &self,
        journal: &Journal,
        path: &Path,
        upload: TrailerSender,
        trailer: Vec<u8>,
    ) -> Result<()> {
        let json = match journal.to_json(path) {
            Ok(j) => j,
            Err(e) => {
                upload.fail(format!("the journal could not be serialised: {e}"));
                return Err(e);
            }
        };
        let job = Job {
            path: path.to_owned(),
            json,
            then: Then::SendTrailer { upload, trailer },
        };
        if let Err(job) = self.submit(job) {
            finish(job);
        }
        Ok(())
    }
}

fn stopped(path: &Path) -> Error {
    Error::Journal {
        path: path.to_owned(),
        reason: "the journal writer thread stopped".into(),
    }
}

fn run(rx: Receiver<Job>) {
    while let Ok(job) = rx.recv() {
        finish(job);
    }
}

fn finish(job: Job) {
    let written = write_durable(&job.path, &job.json);
    match job.then {
        Then::Report(tx) => {
            let _ = tx.send(written);
        }
        Then::SendTrailer { upload, trailer } => match written {
            // From here the record may reach the vault: the upload's
            // answer (or its absence) decides (`ingest`, `land`).
            Ok(()) => upload.send(trailer),
            Err(e) => upload.fail(format!(
                "the record was not sent because the journal could not be written: {e}"
            )),
        },
    }
}

impl Drop for JournalWriter {
    /// Let every queued snapshot be written, then stop the thread.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{FakeBlob, upload_body};
    use std::io::{Cursor, Read};

    fn journal(n: u32) -> Journal {
        Journal {
            version: crate::journal::VERSION,
            source: crate::journal::FileId {
                path: PathBuf::from("/x"),
                len: u64::from(n),
                mtime_ms: 0,
            },
            sidecar: None,
            recording_id: "00".repeat(16),
            capture_utc_ms: 0,
            plan: Vec::new(),
            acked: Vec::new(),
            last_record: None,
            pending: Vec::new(),
            complete: false,
            disposed: None,
        }
    }

    #[test]
    fn snapshots_land_in_order_and_trailers_follow_their_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.json");
        let w = JournalWriter::spawn().unwrap();
        let mut readers = Vec::new();
        for n in 0..20 {
            let (body, sealed, trailer) = upload_body(FakeBlob(Cursor::new(Vec::new())));
            w.save_then_send(&journal(n), &path, trailer, vec![n as u8; 3])
                .unwrap();
            readers.push((body, sealed));
        }
        w.save(&journal(99), &path).unwrap();
        assert_eq!(Journal::load(&path).unwrap().unwrap().source.len, 99);
        for (n, (mut body, sealed)) in readers.into_iter().enumerate() {
            let t = std::thread::spawn(move || {
                let mut got = Vec::new();
                body.read_to_end(&mut got).map(|_| got)
            });
            assert_eq!(sealed.wait(), Some(0));
            assert_eq!(t.join().unwrap().unwrap(), vec![n as u8; 3]);
        }
    }

    #[test]
    fn a_failed_write_fails_the_upload_instead_of_sending_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("j.json");
        let w = JournalWriter::spawn().unwrap();
        let (mut body, _sealed, trailer) = upload_body(FakeBlob(Cursor::new(Vec::new())));
        w.save_then_send(&journal(1), &path, trailer, b"RECORD".to_vec())
            .unwrap();
        let mut got = Vec::new();
        let err = body.read_to_end(&mut got).unwrap_err();
        assert!(got.is_empty(), "no trailer byte may leave");
        assert!(
            err.to_string().contains("journal could not be written"),
            "{err}"
        );
        assert!(w.save(&journal(2), &path).is_err());
    }
}
