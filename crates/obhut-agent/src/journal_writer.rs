//! Durable journal writes off the signing path (`ingest`, "Pipeline").
//!
//! A segment's record must be durable in the journal before its first byte
//! is sent as the upload's trailer, but nothing requires the agent to wait
//! for that write before signing the next record: that only needs the
//! record in memory (its chain link). So the agent hands the journal's
//! write ([`Journal::take_write`]: the changes since the last one, as log
//! lines, or now and then the whole journal), together with the upload's
//! trailer sender ([`crate::body::TrailerSender`]) and the record, to one
//! writer thread, and goes on at once. The thread makes the write durable
//! ([`write_journal`]) and only then gives the upload its trailer; if the
//! write fails, it fails the upload instead, so a record that is not
//! journaled is never sent.
//!
//! Writes are performed in the order they were handed over, so the log
//! only ever grows by whole changes in order. After an append fails, a
//! change is missing from the log, so later appends are refused until a
//! snapshot (which holds every change) succeeds: the journal on disk stays
//! one the next run can load. A synchronous write
//! ([`JournalWriter::save`], [`JournalWriter::snapshot`]) goes through the
//! same queue and waits for its turn, so it can never be overtaken by an
//! older write still queued.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use crate::body::TrailerSender;
use crate::error::{Error, Result};
use crate::journal::{Journal, JournalWrite, write_journal};

/// What to do once a write is durable.
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
    write: JournalWrite,
    then: Then,
}

/// One thread writing journal changes in order.
pub struct JournalWriter {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// An append failed and no snapshot has succeeded since.
    broken: Arc<AtomicBool>,
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
        let broken = Arc::new(AtomicBool::new(false));
        let b = broken.clone();
        let thread = std::thread::Builder::new()
            .name("obhut-journal".into())
            .spawn(move || run(rx, &b))
            .map_err(|e| Error::Io {
                op: "start the journal writer thread",
                path: PathBuf::new(),
                source: e,
            })?;
        Ok(JournalWriter {
            jobs: Some(tx),
            thread: Some(thread),
            broken,
        })
    }

    fn submit(&self, job: Job) -> std::result::Result<(), Job> {
        match &self.jobs {
            Some(tx) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }

    /// Make `journal`'s changes durable after every write handed over
    /// before, and wait for the outcome.
    pub fn save(&self, journal: &mut Journal) -> Result<()> {
        let write = journal.take_write(false)?;
        self.wait_for(write)
    }

    /// Write the whole of `journal` (and drop its log) after every write
    /// handed over before, and wait for the outcome.
    pub fn snapshot(&self, journal: &mut Journal) -> Result<()> {
        let write = journal.take_write(true)?;
        self.wait_for(write)
    }

    fn wait_for(&self, write: JournalWrite) -> Result<()> {
        let (tx, rx) = sync_channel(1);
        let path = write.path().to_owned();
        let job = Job {
            write,
            then: Then::Report(tx),
        };
        match self.submit(job) {
            Ok(()) => rx.recv().unwrap_or_else(|_| Err(stopped(&path))),
            // The thread is gone (it never panics on its own; be safe):
            // write here, in order, since nothing else can be queued.
            Err(job) => finish(job, &self.broken),
        }
    }

    /// Make `journal`'s changes durable (in order), then give `trailer` to
    /// `upload` to send; if the write fails, fail the upload with the
    /// reason instead, so it stops without its record. Returns at once.
    pub fn save_then_send(
        &self,
        journal: &mut Journal,
        upload: TrailerSender,
        trailer: Vec<u8>,
    ) -> Result<()> {
        let write = match journal.take_write(false) {
            Ok(w) => w,
            Err(e) => {
                upload.fail(format!("the journal could not be serialised: {e}"));
                return Err(e);
            }
        };
        let job = Job {
            write,
            then: Then::SendTrailer { upload, trailer },
        };
        if let Err(job) = self.submit(job) {
            let _ = finish(job, &self.broken);
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

fn run(rx: Receiver<Job>, broken: &AtomicBool) {
    while let Ok(job) = rx.recv() {
        let _ = finish(job, broken);
    }
}

/// Perform one job; its outcome goes where the job says and is returned.
fn finish(job: Job, broken: &AtomicBool) -> Result<()> {
    let written = match &job.write {
        JournalWrite::Append { .. } if broken.load(Ordering::Relaxed) => Err(Error::Journal {
            path: job.write.path().to_owned(),
            reason: "an earlier journal write failed; only a whole new journal can follow".into(),
        }),
        w => {
            let r = write_journal(w);
            match (w, &r) {
                (JournalWrite::Snapshot { .. }, Ok(())) => broken.store(false, Ordering::Relaxed),
                (JournalWrite::Append { .. }, Err(_)) => broken.store(true, Ordering::Relaxed),
                _ => {}
            }
            r
        }
    };
    let outcome = written.as_ref().map(|_| ()).map_err(|e| e.to_string());
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
    outcome.map_err(|reason| Error::Journal {
        path: job.write.path().to_owned(),
        reason,
    })
}

impl Drop for JournalWriter {
    /// Let every queued write be performed, then stop the thread.
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
    use crate::journal::test_records;
    use obhut_core::record::SegmentRecord;
    use std::io::{Cursor, Read};

    fn journal(path: &Path, records: &[SegmentRecord]) -> Journal {
        let source = crate::journal::FileId {
            path: PathBuf::from("/x"),
            len: 0,
            mtime_ms: 0,
        };
        Journal::new(
            path.to_owned(),
            source,
            None,
            records[0].segment_ref().recording,
            0,
            Vec::new(),
        )
    }

    /// A writer and a journal of `n` signed records' recording, written
    /// whole in a new directory (kept alive by the first element).
    fn started(
        n: usize,
    ) -> (
        tempfile::TempDir,
        PathBuf,
        Vec<SegmentRecord>,
        Journal,
        JournalWriter,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.json");
        let records = test_records::chain(n);
        let mut j = journal(&path, &records);
        let w = JournalWriter::spawn().unwrap();
        w.snapshot(&mut j).unwrap();
        (dir, path, records, j, w)
    }

    #[test]
    fn writes_land_in_order_and_trailers_follow_their_write() {
        let (_dir, path, records, mut j, w) = started(20);
        let mut readers = Vec::new();
        for (n, r) in records.iter().enumerate() {
            let (body, sealed, trailer) = upload_body(FakeBlob(Cursor::new(Vec::new())));
            j.add_pending(r);
            w.save_then_send(&mut j, trailer, vec![n as u8; 3]).unwrap();
            readers.push((body, sealed));
        }
        w.save(&mut j).unwrap();
        assert_eq!(Journal::load(&path).unwrap().unwrap(), j);
        assert_eq!(j.pending.len(), 20);
        for (n, (mut body, mut sealed)) in readers.into_iter().enumerate() {
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
        let records = test_records::chain(2);
        let mut j = journal(&path, &records);
        let w = JournalWriter::spawn().unwrap();
        let (mut body, _sealed, trailer) = upload_body(FakeBlob(Cursor::new(Vec::new())));
        j.add_pending(&records[0]);
        w.save_then_send(&mut j, trailer, b"RECORD".to_vec())
            .unwrap();
        let mut got = Vec::new();
        let err = body.read_to_end(&mut got).unwrap_err();
        assert!(got.is_empty(), "no trailer byte may leave");
        assert!(
            err.to_string().contains("journal could not be written"),
            "{err}"
        );
        j.add_pending(&records[1]);
        assert!(w.save(&mut j).is_err());
    }

    /// After a failed append a change is missing from the log: appending
    /// later ones would leave a journal with a gap, which no run could load.
    #[test]
    fn after_a_failed_append_only_a_snapshot_is_written() {
        let (_dir, path, records, mut j, w) = started(3);
        // The log's name is taken by a directory: the append fails.
        let log = j.log_path();
        std::fs::create_dir(&log).unwrap();
        j.add_pending(&records[0]);
        assert!(w.save(&mut j).is_err());
        std::fs::remove_dir(&log).unwrap();
        j.add_pending(&records[1]);
        let e = w.save(&mut j).unwrap_err();
        assert!(
            e.to_string().contains("earlier journal write failed"),
            "{e}"
        );
        assert!(!log.exists(), "nothing appended after the failure");
        w.snapshot(&mut j).unwrap();
        j.add_pending(&records[2]);
        w.save(&mut j).unwrap();
        let loaded = Journal::load(&path).unwrap().unwrap();
        assert_eq!(loaded, j);
        assert_eq!(loaded.pending.len(), 3);
    }
}
