//! Opening a chunk stream (docs/format.md §6.2): out of place from the
//! reader's own buffer, as sealing reads its plaintext
//! ([`super::StreamEncryptor::copy_from`]).

use std::io::{BufRead, Read, Write};

use zeroize::Zeroizing;

use super::{
    CHUNK_SIZE, ChunkCipher, MAX_CHUNKS, SEALED_CHUNK_LEN, TAG_LEN, fill_buf_or, io_error,
    read_full, read_through,
};
use crate::error::{Result, SegmentFailure};

/// Sealed chunks [`SealedReader`] reads, and [`decrypt_stream`] writes
/// the plaintext of, at a time.
///
/// One chunk at a time cost the one-thread file → file open a read and a
/// write system call per 64 KiB, and fed BLAKE3 updates of 65 552 bytes,
/// each of which starts and ends inside a 1 KiB BLAKE3 chunk that the
/// hasher finishes block by block instead of 16 chunks at once
/// (BENCHMARKS.md, issue 17: `_blake3_compress_in_place` was a fifth of
/// the hashing). Eight chunks (512 KiB of ciphertext and of plaintext)
/// keep both buffers within a core's L2 cache.
pub const OPEN_BATCH: usize = 8;

const READ: &str = "reading a sealed chunk";
const WRITE: &str = "writing plaintext";

/// Decrypt a whole chunk stream (the blob after its header) from `reader`,
/// writing plaintext to `out`; returns the plaintext length.
///
/// A chunk that lies whole in the reader's buffer is opened out of place
/// from there, with no copy into a buffer of ours first (a blob in memory
/// is a `&[u8]`; a file or socket goes through a [`SealedReader`]). Only
/// a chunk that crosses the end of the reader's buffer is gathered.
///
/// Plaintext of a chunk reaches `out` only after that chunk authenticated,
/// and only once it is known whether the chunk is the last; it is written
/// up to [`OPEN_BATCH`] chunks at a time. On error `out` has received the
/// plaintext of the chunks before the failing one: treat it as incomplete
/// (write to a temporary file and keep it only on `Ok`).
///
/// Errors name the segment and chunk: [`SegmentFailure::ChunkAuthentication`]
/// (altered, reordered or spliced chunk), [`SegmentFailure::Truncated`]
/// (the stream ends without a final chunk), [`SegmentFailure::TrailingData`]
/// (data after a final full chunk, or an empty final chunk after a full one,
/// which only a key holder can write and §6.2 forbids; data appended to a
/// short final chunk makes that chunk fail authentication instead).
pub fn decrypt_stream(
    cipher: &ChunkCipher,
    reader: &mut impl BufRead,
    out: &mut impl Write,
) -> Result<u64> {
    Opening {
        cipher,
        plain: Zeroizing::new(vec![0u8; OPEN_BATCH * CHUNK_SIZE]),
        opened: 0,
        index: 0,
        total: 0,
    }
    .run(reader, out)
}

/// The state of one [`decrypt_stream`].
struct Opening<'c> {
    cipher: &'c ChunkCipher,
    /// Plaintext of authenticated chunks not yet written. Out of place so
    /// that a chunk that fails under one `last` flag can be tried under
    /// the other (AWS-LC wipes the output of a failed open, not its input).
    plain: Zeroizing<Vec<u8>>,
    opened: usize,
    index: u64,
    total: u64,
}

/// How a chunk in hand turned out.
enum Step {
    /// A non-final chunk, opened into `plain`; the stream goes on.
    More,
    /// The final chunk, opened into `plain`.
    Done,
}

impl Opening<'_> {
    fn run(mut self, reader: &mut impl BufRead, out: &mut impl Write) -> Result<u64> {
        // A chunk that crosses the end of the reader's buffer (allocated
        // on first use; ciphertext only).
        let mut gathered: Vec<u8> = Vec::new();
        loop {
            if self.opened == self.plain.len() {
                self.flush(out)?;
            }
            let avail = fill_buf_or(reader, READ)?;
            let step = if avail.len() > SEALED_CHUNK_LEN {
                // Every whole chunk with more after it (not the final one)
                // that `plain` has room for, consumed at once: a hashing
                // reader then hashes them in one update.
                let room = (self.plain.len() - self.opened) / CHUNK_SIZE;
                let mut at = 0;
                while at < room * SEALED_CHUNK_LEN && avail.len() - at > SEALED_CHUNK_LEN {
                    self.open_followed(&avail[at..at + SEALED_CHUNK_LEN], out)?;
                    at += SEALED_CHUNK_LEN;
                }
                reader.consume(at);
                Step::More
            } else if avail.len() == SEALED_CHUNK_LEN {
                self.open_at_buffer_end(reader, out)?
            } else {
                gathered.clear();
                gathered.reserve(SEALED_CHUNK_LEN);
                while gathered.len() < SEALED_CHUNK_LEN {
                    let avail = fill_buf_or(reader, READ)?;
                    if avail.is_empty() {
                        break;
                    }
                    let n = avail.len().min(SEALED_CHUNK_LEN - gathered.len());
                    gathered.extend_from_slice(&avail[..n]);
                    reader.consume(n);
                }
                let more =
                    gathered.len() == SEALED_CHUNK_LEN && !fill_buf_or(reader, READ)?.is_empty();
                if more {
                    self.open_followed(&gathered, out)?
                } else {
                    self.open_last(&gathered, out)?
                }
            };
            if let Step::Done = step {
                self.flush(out)?;
                return Ok(self.total);
            }
        }
    }

    /// Write the plaintext held so far.
    fn flush(&mut self, out: &mut impl Write) -> Result<()> {
        out.write_all(&self.plain[..self.opened])
            .map_err(io_error(WRITE))?;
        self.total += self.opened as u64;
        self.opened = 0;
        Ok(())
    }

    /// Fail with `failure`, `out` having received the chunks before the
    /// failing one (as it would have one by one).
    fn fail<T>(&mut self, out: &mut impl Write, failure: SegmentFailure) -> Result<T> {
        self.flush(out)?;
        Err(self.cipher.failure(failure))
    }

    /// Open `sealed` as chunk `index` under `last` into the next slot of
    /// `plain`.
    fn try_open(&mut self, sealed: &[u8], last: bool) -> bool {
        let (ct, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag);
        let dst = &mut self.plain[self.opened..self.opened + ct.len()];
        self.cipher
            .open_chunk_into(self.index, last, ct, &t, dst)
            .is_ok()
    }

    /// Count the chunk just opened into `plain`.
    fn advance(&mut self, out: &mut impl Write, len: usize) -> Result<()> {
        self.opened += len;
        self.index += 1;
        if self.index >= MAX_CHUNKS {
            return self.fail(out, SegmentFailure::TrailingData);
        }
        Ok(())
    }

    /// A whole chunk known to have more data after it.
    fn open_followed(&mut self, sealed: &[u8], out: &mut impl Write) -> Result<Step> {
        if self.try_open(sealed, false) {
            self.advance(out, CHUNK_SIZE)?;
            return Ok(Step::More);
        }
        let failure = if self.try_open(sealed, true) {
            SegmentFailure::TrailingData
        } else {
            SegmentFailure::ChunkAuthentication { chunk: self.index }
        };
        self.fail(out, failure)
    }

    /// A whole chunk that ends the reader's buffer: whether more follows
    /// shows only once it is consumed, so it is opened out of place first
    /// (as non-final, then as final) and its plaintext kept back until
    /// the reader says. A reader whose buffer holds a whole number of
    /// chunks ([`SealedReader`]) ends every buffer so.
    fn open_at_buffer_end(
        &mut self,
        reader: &mut impl BufRead,
        out: &mut impl Write,
    ) -> Result<Step> {
        let avail = fill_buf_or(reader, READ)?;
        let sealed = &avail[..SEALED_CHUNK_LEN];
        let last = if self.try_open(sealed, false) {
            false
        } else if self.try_open(sealed, true) {
            true
        } else {
            let chunk = self.index;
            return self.fail(out, SegmentFailure::ChunkAuthentication { chunk });
        };
        reader.consume(SEALED_CHUNK_LEN);
        let more = !fill_buf_or(reader, READ)?.is_empty();
        match (last, more) {
            (false, true) => {
                self.advance(out, CHUNK_SIZE)?;
                Ok(Step::More)
            }
            // Cut at a chunk boundary: the plaintext is not released.
            (false, false) => {
                let chunks_read = self.index + 1;
                self.fail(out, SegmentFailure::Truncated { chunks_read })
            }
            (true, true) => self.fail(out, SegmentFailure::TrailingData),
            (true, false) => {
                self.opened += CHUNK_SIZE;
                Ok(Step::Done)
            }
        }
    }

    /// What is left when the stream ended: it must be the final chunk.
    fn open_last(&mut self, sealed: &[u8], out: &mut impl Write) -> Result<Step> {
        if sealed.len() < TAG_LEN {
            let chunks_read = self.index;
            return self.fail(out, SegmentFailure::Truncated { chunks_read });
        }
        if self.try_open(sealed, true) {
            if sealed.len() == TAG_LEN && self.index > 0 {
                // Non-canonical: the full chunk before should have been
                // the final one. Only a key holder can produce this;
                // refused so that every reader agrees (§6.2).
                return self.fail(out, SegmentFailure::TrailingData);
            }
            self.opened += sealed.len() - TAG_LEN;
            return Ok(Step::Done);
        }
        // A full chunk that authenticates as non-final means the stream
        // was cut at a chunk boundary. Its plaintext is not released.
        let failure = if sealed.len() == SEALED_CHUNK_LEN && self.try_open(sealed, false) {
            SegmentFailure::Truncated {
                chunks_read: self.index + 1,
            }
        } else {
            SegmentFailure::ChunkAuthentication { chunk: self.index }
        };
        self.fail(out, failure)
    }
}

/// A buffered reader of a sealed blob or chunk stream for
/// [`decrypt_stream`] when the bytes come from a plain [`Read`] (a file, a
/// socket): one read fills [`OPEN_BATCH`] sealed chunks, and every read
/// after the `lead` bytes before the first chunk (the blob's header, or
/// 0 for a bare chunk stream) starts at a chunk boundary, so that each
/// chunk lies whole in the buffer and is opened where it lies (short
/// reads of the inner reader are repeated until the batch is full).
pub struct SealedReader<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    lead: u64,
    /// Stream offset of `buf[end]`.
    offset: u64,
}

impl<R> core::fmt::Debug for SealedReader<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SealedReader({} bytes buffered)", self.end - self.pos)
    }
}

impl<R: Read> SealedReader<R> {
    /// Buffer `inner`, whose first chunk starts after `lead` bytes.
    pub fn new(inner: R, lead: usize) -> Self {
        SealedReader {
            inner,
            buf: vec![0u8; lead + OPEN_BATCH * SEALED_CHUNK_LEN],
            pos: 0,
            end: 0,
            lead: lead as u64,
            offset: 0,
        }
    }

    /// Bytes to read next so that the read ends at a chunk boundary.
    fn want(&self) -> usize {
        let batch = OPEN_BATCH * SEALED_CHUNK_LEN;
        match self.lead.checked_sub(self.offset) {
            // Still in the lead: at most lead + batch, the buffer's size.
            Some(rest) => (rest as usize).saturating_add(batch).min(self.buf.len()),
            None => {
                let into = ((self.offset - self.lead) % SEALED_CHUNK_LEN as u64) as usize;
                batch - into
            }
        }
    }
}

impl<R: Read> Read for SealedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        read_through(self, out)
    }
}

impl<R: Read> BufRead for SealedReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos == self.end {
            let want = self.want();
            self.pos = 0;
            self.end = read_full(&mut self.inner, &mut self.buf[..want])?;
            self.offset += self.end as u64;
        }
        Ok(&self.buf[self.pos..self.end])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.end);
    }
}
