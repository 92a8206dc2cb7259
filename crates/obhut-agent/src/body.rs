//! The body of one segment upload (`blob ‖ record`, docs/vault.md §4),
//! read by the upload's own thread: the blob is sealed as it is sent
//! ([`obhut_core::segment::SealingReader`]), so the thread that writes to
//! the connection also does the segment's AES-GCM and BLAKE3, with no
//! pipe or sealing thread between. When the blob is complete, the body
//! hands the sealed segment (its length and hash) to the agent, which
//! signs the record in order and has it journaled; only then does the
//! agent give the body the record to send as the trailer
//! ([`TrailerSender::send`]).
//!
//! End of stream is explicit: the body ends only after its trailer. A
//! trailer that is refused ([`TrailerSender::fail`]) or never given (the
//! agent dropped its end) makes the body fail, so the upload stops without
//! a record and the vault stores nothing.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, sync_channel};

use obhut_core::segment::{SealedSegment, SealingReader};

/// A blob reader that knows, once read to its end, what it sealed.
pub trait SealedBlob: Read {
    /// What the agent signs ([`SealedSegment`] for a real blob).
    type Sealed: Send;
    /// What was sealed, once the reader reported its end.
    fn sealed(&self) -> Option<Self::Sealed>;
}

impl<R: BufRead> SealedBlob for SealingReader<R> {
    type Sealed = SealedSegment;
    fn sealed(&self) -> Option<SealedSegment> {
        SealingReader::sealed(self).cloned()
    }
}

enum Trailer {
    Send(Vec<u8>),
    Failed(String),
}

/// The upload's side: a reader of `blob ‖ record`.
pub struct UploadBody<B: SealedBlob> {
    blob: B,
    sealed: Option<SyncSender<B::Sealed>>,
    trailer_rx: Receiver<Trailer>,
    trailer: Option<(Vec<u8>, usize)>,
    wake: Option<Sender<()>>,
}

/// The agent's side: what was sealed, once the blob is sent.
pub struct SealedReceiver<S> {
    rx: Receiver<S>,
    got: Option<S>,
    stopped: bool,
}

/// The agent's side: the record to send as the trailer, or why not.
#[derive(Debug)]
pub struct TrailerSender(SyncSender<Trailer>);

/// A body for `blob`, with the agent's two ends.
pub fn upload_body<B: SealedBlob>(
    blob: B,
) -> (UploadBody<B>, SealedReceiver<B::Sealed>, TrailerSender) {
    let (sealed_tx, sealed_rx) = sync_channel(1);
    let (trailer_tx, trailer_rx) = sync_channel(1);
    (
        UploadBody {
            blob,
            sealed: Some(sealed_tx),
            trailer_rx,
            trailer: None,
            wake: None,
        },
        SealedReceiver {
            rx: sealed_rx,
            got: None,
            stopped: false,
        },
        TrailerSender(trailer_tx),
    )
}

impl<B: SealedBlob> UploadBody<B> {
    /// Also send `wake` a token once the blob is sealed, so that an agent
    /// waiting for any of several uploads learns of it.
    pub fn with_wake(mut self, wake: Sender<()>) -> Self {
        self.wake = Some(wake);
        self
    }
}

impl<S> SealedReceiver<S> {
    /// Whether [`SealedReceiver::wait`] would return at once (the blob is
    /// sealed, or the upload stopped before).
    pub fn ready(&mut self) -> bool {
        if self.got.is_some() || self.stopped {
            return true;
        }
        match self.rx.try_recv() {
            Ok(s) => {
                self.got = Some(s);
                true
            }
            Err(TryRecvError::Empty) => false,
            Err(TryRecvError::Disconnected) => {
                self.stopped = true;
                true
            }
        }
    }

    /// Wait until the whole blob was sealed and sent; `None` if the upload
    /// stopped before (its answer says why).
    pub fn wait(&mut self) -> Option<S> {
        if let Some(s) = self.got.take() {
            return Some(s);
        }
        if self.stopped {
            return None;
        }
        self.rx.recv().ok()
    }
}

impl TrailerSender {
    /// Send `record` as the trailer, then end the body.
    pub fn send(self, record: Vec<u8>) {
        let _ = self.0.send(Trailer::Send(record));
    }

    /// Stop the upload without a trailer.
    pub fn fail(self, why: impl Into<String>) {
        let _ = self.0.send(Trailer::Failed(why.into()));
    }
}

impl<B: SealedBlob> Read for UploadBody<B> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some((t, pos)) = self.trailer.as_mut() {
            let n = (t.len() - *pos).min(out.len());
            out[..n].copy_from_slice(&t[*pos..*pos + n]);
            *pos += n;
            return Ok(n);
        }
        let n = self.blob.read(out)?;
        if n > 0 || out.is_empty() {
            return Ok(n);
        }
        // The blob is complete: hand over what was sealed, then wait for
        // the record (signed in order, journaled first).
        if let Some(tx) = self.sealed.take() {
            let sealed = self
                .blob
                .sealed()
                .ok_or_else(|| io::Error::other("the blob ended without a sealed segment"))?;
            tx.send(sealed)
                .map_err(|_| io::Error::other("the agent stopped before signing the record"))?;
            if let Some(w) = &self.wake {
                let _ = w.send(());
            }
        }
        match self.trailer_rx.recv() {
            Ok(Trailer::Send(t)) => {
                self.trailer = Some((t, 0));
                self.read(out)
            }
            Ok(Trailer::Failed(why)) => Err(io::Error::other(why)),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the agent stopped before sending the record",
            )),
        }
    }
}

/// A stand-in blob for tests: bytes, then their length as "what was sealed".
#[cfg(test)]
pub(crate) struct FakeBlob(pub io::Cursor<Vec<u8>>);

#[cfg(test)]
impl Read for FakeBlob {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.read(out)
    }
}

#[cfg(test)]
impl SealedBlob for FakeBlob {
    type Sealed = u64;
    fn sealed(&self) -> Option<u64> {
        (self.0.position() == self.0.get_ref().len() as u64).then_some(self.0.position())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_blob_wakes_the_agent_and_is_ready() {
        let (wake_tx, wake_rx) = std::sync::mpsc::channel();
        let (body, mut sealed, trailer) = upload_body(blob(1000));
        let mut body = body.with_wake(wake_tx);
        assert!(!sealed.ready(), "nothing read yet");
        let t = std::thread::spawn(move || body.read_to_end(&mut Vec::new()));
        wake_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a token once the blob is sealed");
        assert!(sealed.ready());
        assert_eq!(sealed.wait(), Some(1000));
        trailer.send(b"R".to_vec());
        assert_eq!(t.join().unwrap().unwrap(), 1001);
    }

    fn blob(len: usize) -> FakeBlob {
        FakeBlob(io::Cursor::new(vec![5u8; len]))
    }

    #[test]
    fn the_trailer_follows_the_blob_only_when_given() {
        let (mut body, mut sealed, trailer) = upload_body(blob(100_000));
        let t = std::thread::spawn(move || {
            let mut all = Vec::new();
            body.read_to_end(&mut all).map(|_| all)
        });
        assert_eq!(sealed.wait(), Some(100_000));
        trailer.send(b"RECORD".to_vec());
        let all = t.join().unwrap().unwrap();
        assert_eq!(all.len(), 100_006);
        assert!(all.ends_with(b"RECORD"));
    }

    #[test]
    fn a_refused_or_dropped_trailer_fails_the_body() {
        let (mut body, mut sealed, trailer) = upload_body(blob(10));
        let t = std::thread::spawn(move || body.read_to_end(&mut Vec::new()));
        assert_eq!(sealed.wait(), Some(10));
        trailer.fail("the journal could not be written");
        let e = t.join().unwrap().unwrap_err();
        assert!(e.to_string().contains("journal"), "{e}");

        let (mut body, mut sealed, trailer) = upload_body(blob(10));
        drop(trailer);
        let t = std::thread::spawn(move || body.read_to_end(&mut Vec::new()));
        assert_eq!(sealed.wait(), Some(10));
        assert!(t.join().unwrap().is_err());
    }

    #[test]
    fn an_upload_that_stops_early_hands_over_nothing() {
        let (body, mut sealed, _trailer) = upload_body(blob(10));
        drop(body);
        assert!(sealed.ready());
        assert_eq!(sealed.wait(), None);
    }
}
