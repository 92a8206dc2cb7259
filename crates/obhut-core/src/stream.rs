//! STREAM over AES-256-GCM: the chunked payload encryption of a sealed
//! segment (docs/format.md §6.2).
//!
//! The plaintext is cut into chunks of [`CHUNK_SIZE`] bytes; the last chunk
//! holds 0 … 65 536 bytes and is empty only if it is the only chunk. Chunk
//! `i` is encrypted under the segment's payload key with the nonce
//! `i as 11-byte big-endian ‖ last_flag` and the header hash as associated
//! data, and stored as `ciphertext ‖ 16-byte tag`.
//!
//! Truncation is detectable by construction:
//! - [`StreamEncryptor`] writes the final chunk (the only one with
//!   `last_flag = 1`) only in [`StreamEncryptor::finish`]; an encryptor that
//!   is dropped early leaves a stream that every reader rejects;
//! - [`decrypt_stream`] reads one byte past each full chunk to learn whether
//!   it is the last, and writes a chunk's plaintext only after that chunk
//!   authenticated; a stream that ends without a final chunk is an error,
//!   never a short read.
//!
//! [`ChunkCipher`] exposes the per-chunk operation so that a pipelined sealer
//! (encrypt on one thread, hash and write on another) can be built on it.

use std::io::{BufRead, ErrorKind, Read, Write};

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result, SegmentFailure};
use crate::ids::SegmentRef;
use crate::secret::Secret32;

mod gcm;
pub(crate) use gcm::GcmKey;
mod open;
pub use open::{OPEN_BATCH, SealedReader, decrypt_stream};

/// Plaintext bytes per chunk (every chunk but the last is exactly this long).
pub const CHUNK_SIZE: usize = 65_536;
/// AES-GCM tag length appended to every chunk.
pub const TAG_LEN: usize = 16;
/// Stored length of a full chunk: ciphertext and tag.
pub const SEALED_CHUNK_LEN: usize = CHUNK_SIZE + TAG_LEN;
/// At most 2^32 chunks per segment (§6.2), keeping GCM within its limits.
pub const MAX_CHUNKS: u64 = 1 << 32;
/// Largest plaintext of one segment: 2^32 chunks of 64 KiB (256 TiB).
pub const MAX_PLAINTEXT_LEN: u64 = MAX_CHUNKS * CHUNK_SIZE as u64;

/// Number of chunks holding `plaintext_len` bytes: `max(1, ⌈len / 65 536⌉)`.
pub fn chunk_count(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(CHUNK_SIZE as u64).max(1)
}

/// Plaintext length of chunk `index` of a `plaintext_len`-byte payload
/// (`index` must be below [`chunk_count`]).
pub fn chunk_plaintext_len(plaintext_len: u64, index: u64) -> usize {
    let start = index.saturating_mul(CHUNK_SIZE as u64);
    // At most CHUNK_SIZE, so the cast cannot truncate.
    plaintext_len.saturating_sub(start).min(CHUNK_SIZE as u64) as usize
}

/// Total stored length of the chunks of a `plaintext_len`-byte payload
/// (without the header): `max(1, ⌈len / 65 536⌉)·16 + len`.
pub fn sealed_payload_len(plaintext_len: u64) -> u64 {
    chunk_count(plaintext_len)
        .saturating_mul(TAG_LEN as u64)
        .saturating_add(plaintext_len)
}

/// The 12-byte nonce of chunk `index`: `index` as 11-byte big-endian, then
/// `0x01` for the final chunk, else `0x00`.
pub fn chunk_nonce(index: u64, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[3..11].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

/// The AES-256-GCM key schedule of one segment's payload key, bound to its
/// header hash and the segment it belongs to (for error messages).
///
/// The payload key bytes are not kept: only the expanded key schedule in
/// AWS-LC, which is wiped when the cipher is dropped (see `GcmKey`).
/// `Debug` shows only the segment.
pub struct ChunkCipher {
    key: GcmKey,
    aad: [u8; 32],
    segment: SegmentRef,
}

impl core::fmt::Debug for ChunkCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ChunkCipher({}, key <redacted>)", self.segment)
    }
}

impl ChunkCipher {
    /// Key schedule for `payload_key`, authenticating `header_hash` with
    /// every chunk. `segment` names the segment in errors.
    pub fn new(payload_key: &Secret32, header_hash: [u8; 32], segment: SegmentRef) -> Self {
        ChunkCipher {
            key: GcmKey::new(payload_key),
            aad: header_hash,
            segment,
        }
    }

    /// The segment this cipher belongs to.
    pub fn segment(&self) -> SegmentRef {
        self.segment
    }

    fn failure(&self, failure: SegmentFailure) -> Error {
        Error::Segment {
            segment: self.segment,
            failure,
        }
    }

    fn check_seal(index: u64, len: usize) -> Result<()> {
        if len > CHUNK_SIZE {
            return Err(Error::Malformed {
                what: "segment payload",
                reason: "a chunk is longer than 65 536 bytes",
            });
        }
        if index >= MAX_CHUNKS {
            return Err(too_long());
        }
        Ok(())
    }

    /// Encrypt chunk `index` in place and return its tag. `chunk` holds at
    /// most [`CHUNK_SIZE`] bytes; `last` marks the final chunk. The caller is
    /// responsible for the chunking rules of §6.2 (full chunks except the
    /// last; an empty chunk only as the sole chunk); [`StreamEncryptor`]
    /// follows them.
    pub fn seal_chunk(&self, index: u64, last: bool, chunk: &mut [u8]) -> Result<[u8; TAG_LEN]> {
        Self::check_seal(index, chunk.len())?;
        self.key
            .seal_in_place(chunk_nonce(index, last), &self.aad, chunk)
            .ok_or_else(aead_refused)
    }

    /// Encrypt chunk `index` from `plaintext` into `out` (the same length),
    /// leaving `plaintext` as it was, and return its tag: the out-of-place
    /// form of [`ChunkCipher::seal_chunk`], which saves a sealer the copy
    /// from its read buffer into its output buffer.
    pub fn seal_chunk_into(
        &self,
        index: u64,
        last: bool,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        Self::check_seal(index, plaintext.len())?;
        if out.len() != plaintext.len() {
            return Err(Error::Malformed {
                what: "segment payload",
                reason: "the output of a chunk is not as long as its plaintext",
            });
        }
        self.key
            .seal_into(chunk_nonce(index, last), &self.aad, plaintext, out)
            .ok_or_else(aead_refused)
    }

    /// The AES-256-GCM open [`ChunkCipher::open_chunk`] performs, with a
    /// caller's nonce and associated data, for external test vectors
    /// (Wycheproof). `false` when the tag does not verify.
    #[cfg(any(test, feature = "test-util"))]
    pub fn gcm_open_raw(
        key: &Secret32,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> bool {
        GcmKey::new(key).open_in_place(*nonce, aad, buf, tag)
    }

    /// The AES-256-GCM seal [`ChunkCipher::seal_chunk`] performs, with a
    /// caller's nonce and associated data, for external test vectors.
    #[cfg(any(test, feature = "test-util"))]
    pub fn gcm_seal_raw(
        key: &Secret32,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> [u8; TAG_LEN] {
        GcmKey::new(key)
            .seal_in_place(*nonce, aad, buf)
            .expect("a test vector's plaintext fits AES-GCM")
    }

    /// Authenticate and, only if that succeeds, decrypt chunk `index` in
    /// place. On failure the error is
    /// [`SegmentFailure::ChunkAuthentication`] naming the chunk, and `chunk`
    /// holds no plaintext (AWS-LC overwrites it with zeros; the ciphertext
    /// is gone too, so a caller that wants to try the other `last` flag
    /// uses [`ChunkCipher::open_chunk_into`]).
    pub fn open_chunk(
        &self,
        index: u64,
        last: bool,
        chunk: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        if chunk.len() > CHUNK_SIZE || index >= MAX_CHUNKS {
            return Err(self.failure(SegmentFailure::ChunkAuthentication { chunk: index }));
        }
        if self
            .key
            .open_in_place(chunk_nonce(index, last), &self.aad, chunk, tag)
        {
            Ok(())
        } else {
            Err(self.failure(SegmentFailure::ChunkAuthentication { chunk: index }))
        }
    }

    /// Authenticate chunk `index` and decrypt it from `ciphertext` into
    /// `out` (the same length), leaving `ciphertext` as it was. On failure
    /// the error is [`SegmentFailure::ChunkAuthentication`] and `out` holds
    /// zeros.
    pub fn open_chunk_into(
        &self,
        index: u64,
        last: bool,
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut [u8],
    ) -> Result<()> {
        if ciphertext.len() > CHUNK_SIZE || index >= MAX_CHUNKS {
            return Err(self.failure(SegmentFailure::ChunkAuthentication { chunk: index }));
        }
        if self
            .key
            .open_into(chunk_nonce(index, last), &self.aad, ciphertext, tag, out)
        {
            Ok(())
        } else {
            Err(self.failure(SegmentFailure::ChunkAuthentication { chunk: index }))
        }
    }
}

fn aead_refused() -> Error {
    Error::Malformed {
        what: "segment payload",
        reason: "AES-GCM refused the chunk",
    }
}

fn too_long() -> Error {
    Error::Malformed {
        what: "segment payload",
        reason: "longer than 2^32 chunks (256 TiB)",
    }
}

/// Read until `buf` is full or the reader reports end of input; returns the
/// number of bytes read. Retries on `Interrupted`.
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Fill `dst[from..CHUNK_SIZE]` from `reader`, then, if the chunk is
/// full, read up to `TAG_LEN` bytes of look-ahead into the tag area.
/// Returns the chunk bytes held and the look-ahead bytes read (0 when the
/// input ended).
fn fill_with_look_ahead(
    reader: &mut impl Read,
    dst: &mut [u8; SEALED_CHUNK_LEN],
    from: usize,
) -> Result<(usize, usize)> {
    let filled = from
        + read_full(reader, &mut dst[from..CHUNK_SIZE]).map_err(io_error("reading plaintext"))?;
    if filled < CHUNK_SIZE {
        return Ok((filled, 0));
    }
    let ahead = read_some(reader, &mut dst[CHUNK_SIZE..]).map_err(io_error("reading plaintext"))?;
    Ok((filled, ahead))
}

/// One `read` call, retried on `Interrupted`.
fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// `fill_buf`, retried on `Interrupted`.
fn fill_buf_retrying(reader: &mut impl BufRead) -> Result<&[u8]> {
    fill_buf_or(reader, "reading plaintext")
}

/// [`fill_buf_retrying`] with the error's context.
fn fill_buf_or<'r>(reader: &'r mut impl BufRead, context: &'static str) -> Result<&'r [u8]> {
    let empty = loop {
        match reader.fill_buf() {
            Ok(buf) => break buf.is_empty(),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(context)(e)),
        }
    };
    if empty {
        // The end of the input: no second read, which could fail anew.
        return Ok(&[]);
    }
    // The buffer is filled, so this returns it without reading; asked for
    // again because today's borrow checker cannot return the first
    // borrow from inside the retry loop.
    reader.fill_buf().map_err(io_error(context))
}

pub(crate) fn io_error(context: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Chunks [`StreamEncryptor::copy_from`] seals and writes at a time (and
/// a [`PlaintextReader`] reads): one write call per 256 KiB instead of per
/// 64 KiB, and the ciphertext (256 KiB) stays within a core's L2 cache
/// between sealing, hashing and writing (issue 17, BENCHMARKS.md).
pub const SEAL_BATCH: usize = 4;

/// Encrypts a payload chunk by chunk and writes `ciphertext ‖ tag` for each
/// chunk to `out`, in constant memory: one chunk buffer, reused, in which
/// [`StreamEncryptor::update`] encrypts in place; [`StreamEncryptor::copy_from`]
/// adds [`SEAL_BATCH`] chunks of output while it runs and encrypts out of
/// place from its reader's buffer.
///
/// A full chunk is held back until more input arrives, because only then is
/// it known not to be the last. Call [`StreamEncryptor::finish`] to write the
/// final chunk: without it the output has no final chunk and every reader
/// rejects it as truncated.
pub struct StreamEncryptor<W: Write> {
    cipher: ChunkCipher,
    out: W,
    /// `CHUNK_SIZE + TAG_LEN` bytes: the chunk, then room for its tag (also
    /// used as a small look-ahead area by [`StreamEncryptor::copy_from`]).
    buf: Zeroizing<Vec<u8>>,
    filled: usize,
    next_chunk: u64,
    plaintext_len: u64,
}

impl<W: Write> core::fmt::Debug for StreamEncryptor<W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "StreamEncryptor({}, {} chunks written)",
            self.cipher.segment, self.next_chunk
        )
    }
}

impl<W: Write> StreamEncryptor<W> {
    /// Start encrypting to `out`.
    pub fn new(cipher: ChunkCipher, out: W) -> Self {
        StreamEncryptor {
            cipher,
            out,
            buf: Zeroizing::new(vec![0u8; SEALED_CHUNK_LEN]),
            filled: 0,
            next_chunk: 0,
            plaintext_len: 0,
        }
    }

    /// Add plaintext.
    pub fn update(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            if self.filled == CHUNK_SIZE {
                // More input follows, so the buffered chunk is not the last.
                self.emit(false)?;
            }
            let n = (CHUNK_SIZE - self.filled).min(data.len());
            self.buf[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
        }
        Ok(())
    }

    /// Add all plaintext from `reader` until it reports end of input.
    /// Returns the bytes read.
    ///
    /// Seals out of place from the reader's own buffer into an output
    /// buffer laid out as the blob is (`ciphertext ‖ tag` per chunk), up to
    /// [`SEAL_BATCH`] chunks per write, while the ciphertext is still in
    /// cache (a hashing writer, [`crate::segment::HashingWriter`], hashes
    /// it there): plaintext the caller already holds (a slice, a read-ahead
    /// block, a [`PlaintextReader`]'s buffer) is not copied first. Only a
    /// chunk that crosses the end of the reader's buffer is gathered into
    /// the encryptor's own. The last chunk is held back for
    /// [`StreamEncryptor::finish`], as with [`StreamEncryptor::update`].
    pub fn copy_from(&mut self, reader: &mut impl BufRead) -> Result<u64> {
        let before = self.plaintext_len + self.filled as u64;
        let mut output = vec![0u8; SEAL_BATCH * SEALED_CHUNK_LEN];
        loop {
            if self.filled == 0 {
                let avail = fill_buf_retrying(reader)?;
                if avail.is_empty() {
                    break;
                }
                let chunks = (avail.len() / CHUNK_SIZE).min(SEAL_BATCH);
                if chunks > 0 {
                    // More bytes after the last chunk prove it is not the
                    // final one; otherwise the reader is asked below.
                    let proven = avail.len() > chunks * CHUNK_SIZE;
                    for i in 0..chunks {
                        let plain = &avail[i * CHUNK_SIZE..(i + 1) * CHUNK_SIZE];
                        let sealed = &mut output[i * SEALED_CHUNK_LEN..(i + 1) * SEALED_CHUNK_LEN];
                        let (ct, tag_area) = sealed.split_at_mut(CHUNK_SIZE);
                        let index = self.next_chunk + i as u64;
                        tag_area.copy_from_slice(
                            &self.cipher.seal_chunk_into(index, false, plain, ct)?,
                        );
                    }
                    reader.consume(chunks * CHUNK_SIZE);
                    let ended = !proven && fill_buf_retrying(reader)?.is_empty();
                    let kept = if ended { chunks - 1 } else { chunks };
                    if ended {
                        self.take_back(
                            &mut output[kept * SEALED_CHUNK_LEN..chunks * SEALED_CHUNK_LEN],
                            kept,
                        )?;
                    }
                    self.next_chunk += kept as u64;
                    self.plaintext_len += (kept * CHUNK_SIZE) as u64;
                    self.out
                        .write_all(&output[..kept * SEALED_CHUNK_LEN])
                        .map_err(io_error("writing a sealed chunk"))?;
                    if ended {
                        break;
                    }
                    continue;
                }
            }
            // Less than a chunk in the reader's buffer: gather one.
            while self.filled < CHUNK_SIZE {
                let avail = fill_buf_retrying(reader)?;
                if avail.is_empty() {
                    break;
                }
                let n = avail.len().min(CHUNK_SIZE - self.filled);
                self.buf[self.filled..self.filled + n].copy_from_slice(&avail[..n]);
                reader.consume(n);
                self.filled += n;
            }
            if self.filled < CHUNK_SIZE || fill_buf_retrying(reader)?.is_empty() {
                break;
            }
            self.emit(false)?;
        }
        Ok(self.plaintext_len + self.filled as u64 - before)
    }

    /// The input ended right after chunk `next_chunk + offset`, sealed into
    /// `sealed` as if more followed: it is the final chunk. Its plaintext
    /// goes back into the chunk buffer (decrypted out of `sealed`, once per
    /// payload at most) and is held for [`StreamEncryptor::finish`].
    fn take_back(&mut self, sealed: &mut [u8], offset: usize) -> Result<()> {
        let (ct, tag) = split_chunk(sealed);
        let index = self.next_chunk + offset as u64;
        self.cipher
            .open_chunk_into(index, false, ct, &tag, &mut self.buf[..CHUNK_SIZE])?;
        self.filled = CHUNK_SIZE;
        Ok(())
    }

    /// Read plaintext from `reader`, straight into the chunk buffer, until
    /// one chunk has been written to the output (`Ok(true)`) or the input
    /// ended (`Ok(false)`; only [`StreamEncryptor::finish`] writes more).
    /// The pull form of [`StreamEncryptor::copy_from`]: a caller serving
    /// the output as a reader calls it whenever it has served everything.
    pub fn step(&mut self, reader: &mut impl Read) -> Result<bool> {
        loop {
            if self.filled == CHUNK_SIZE {
                // Look ahead into the tag area: if anything follows, the
                // buffered chunk is not the last.
                let n = read_some(reader, &mut self.buf[CHUNK_SIZE..])
                    .map_err(io_error("reading plaintext"))?;
                if n == 0 {
                    return Ok(false);
                }
                let mut ahead = [0u8; TAG_LEN];
                ahead[..n].copy_from_slice(&self.buf[CHUNK_SIZE..CHUNK_SIZE + n]);
                self.emit(false)?;
                self.buf[..n].copy_from_slice(&ahead[..n]);
                ahead.zeroize();
                self.filled = n;
                return Ok(true);
            }
            let n = read_some(reader, &mut self.buf[self.filled..CHUNK_SIZE])
                .map_err(io_error("reading plaintext"))?;
            if n == 0 {
                return Ok(false);
            }
            self.filled += n;
        }
    }

    /// Seal the next chunk straight into `dst` (ciphertext ‖ tag), reading
    /// its plaintext from `reader` into `dst` itself, when more input
    /// follows it (so it is not the last): the pull form's way around a
    /// copy through the output ([`crate::segment::SealingReader`] seals
    /// into its caller's buffer). Returns false when the input ended
    /// first: what was read is then held back for
    /// [`StreamEncryptor::finish`], and the plaintext that passed through
    /// `dst` is wiped from it. On an error `dst` is wiped as well.
    pub fn seal_next_into(
        &mut self,
        reader: &mut impl Read,
        dst: &mut [u8; SEALED_CHUNK_LEN],
    ) -> Result<bool> {
        // Bytes of this chunk that an earlier look-ahead read.
        let carried = self.filled;
        dst[..carried].copy_from_slice(&self.buf[..carried]);
        let (filled, ahead) = match fill_with_look_ahead(reader, dst, carried) {
            Ok(x) => x,
            Err(e) => {
                dst.zeroize();
                return Err(e);
            }
        };
        if ahead == 0 {
            self.buf[..filled].copy_from_slice(&dst[..filled]);
            self.filled = filled;
            dst[..filled].zeroize();
            return Ok(false);
        }
        let mut next = [0u8; TAG_LEN];
        next[..ahead].copy_from_slice(&dst[CHUNK_SIZE..CHUNK_SIZE + ahead]);
        let (chunk, tag_area) = dst.split_at_mut(CHUNK_SIZE);
        let tag = match self.cipher.seal_chunk(self.next_chunk, false, chunk) {
            Ok(t) => t,
            Err(e) => {
                next.zeroize();
                dst.zeroize();
                return Err(e);
            }
        };
        tag_area.copy_from_slice(&tag);
        self.buf[..ahead].copy_from_slice(&next[..ahead]);
        next.zeroize();
        self.filled = ahead;
        self.plaintext_len += CHUNK_SIZE as u64;
        self.next_chunk += 1;
        Ok(true)
    }

    /// As [`StreamEncryptor::seal_next_into`], from a buffered reader,
    /// which lets the sealer look ahead without taking bytes: when the
    /// reader's buffer holds the whole next chunk, the chunk is encrypted
    /// out of place from that buffer straight into `dst`, with no copy of
    /// the plaintext into `dst` first (a chunk that turns out to be the
    /// final one is taken back, [`StreamEncryptor::finish`] seals it).
    /// Otherwise (a chunk that crosses into the reader's next buffer, the
    /// end of the input, bytes held back by an earlier call) it is
    /// gathered into `dst` and encrypted in place. The look-ahead stays in
    /// the reader, so the chunk after a gathered one is again sealed out
    /// of place.
    pub fn seal_next_from_buf(
        &mut self,
        reader: &mut impl BufRead,
        dst: &mut [u8; SEALED_CHUNK_LEN],
    ) -> Result<bool> {
        if self.filled == 0 {
            let avail = fill_buf_retrying(reader)?;
            if avail.len() >= CHUNK_SIZE {
                let proven = avail.len() > CHUNK_SIZE;
                let (ct, tag_area) = dst.split_at_mut(CHUNK_SIZE);
                let tag = self.cipher.seal_chunk_into(
                    self.next_chunk,
                    false,
                    &avail[..CHUNK_SIZE],
                    ct,
                )?;
                tag_area.copy_from_slice(&tag);
                reader.consume(CHUNK_SIZE);
                // A chunk that ends the reader's buffer (every fourth of
                // the agent's read-ahead blocks) is not the last if the
                // reader has more.
                if !proven && fill_buf_retrying(reader)?.is_empty() {
                    self.take_back(&mut dst[..], 0)?;
                    return Ok(false);
                }
                self.plaintext_len += CHUNK_SIZE as u64;
                self.next_chunk += 1;
                return Ok(true);
            }
        }
        match self.gather_and_seal(reader, dst) {
            Ok(more) => Ok(more),
            Err(e) => {
                dst.zeroize();
                Err(e)
            }
        }
    }

    /// The gathering half of [`StreamEncryptor::seal_next_from_buf`]; the
    /// caller wipes `dst` on an error.
    fn gather_and_seal(
        &mut self,
        reader: &mut impl BufRead,
        dst: &mut [u8; SEALED_CHUNK_LEN],
    ) -> Result<bool> {
        let mut filled = self.filled;
        dst[..filled].copy_from_slice(&self.buf[..filled]);
        while filled < CHUNK_SIZE {
            let avail = fill_buf_retrying(reader)?;
            if avail.is_empty() {
                break;
            }
            let n = avail.len().min(CHUNK_SIZE - filled);
            dst[filled..filled + n].copy_from_slice(&avail[..n]);
            reader.consume(n);
            filled += n;
        }
        // Whether anything follows, without taking it.
        let more = filled == CHUNK_SIZE && !fill_buf_retrying(reader)?.is_empty();
        if !more {
            // Held back for `finish` (the input ended).
            self.buf[..filled].copy_from_slice(&dst[..filled]);
            self.filled = filled;
            dst[..filled].zeroize();
            return Ok(false);
        }
        let (chunk, tag_area) = dst.split_at_mut(CHUNK_SIZE);
        let tag = self.cipher.seal_chunk(self.next_chunk, false, chunk)?;
        tag_area.copy_from_slice(&tag);
        self.filled = 0;
        self.plaintext_len += CHUNK_SIZE as u64;
        self.next_chunk += 1;
        Ok(true)
    }

    /// The output, e.g. to take what was written so far.
    pub fn output_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Encrypt the buffered chunk in place, append its tag, write both.
    fn emit(&mut self, last: bool) -> Result<()> {
        let index = self.next_chunk;
        let (chunk, rest) = self.buf.split_at_mut(self.filled);
        let tag = self.cipher.seal_chunk(index, last, chunk)?;
        rest[..TAG_LEN].copy_from_slice(&tag);
        self.out
            .write_all(&self.buf[..self.filled + TAG_LEN])
            .map_err(io_error("writing a sealed chunk"))?;
        self.plaintext_len += self.filled as u64;
        self.filled = 0;
        self.next_chunk += 1;
        Ok(())
    }

    /// Write the final chunk (empty only if no plaintext was given) and
    /// return the writer and the plaintext length.
    pub fn finish(mut self) -> Result<(W, u64)> {
        self.emit(true)?;
        let StreamEncryptor {
            out, plaintext_len, ..
        } = self;
        Ok((out, plaintext_len))
    }
}

/// A buffered reader of plaintext whose buffer is wiped when it is
/// dropped: the [`BufRead`] for [`StreamEncryptor::copy_from`] (and so
/// [`crate::segment::seal_payload`]) when the plaintext comes from a plain
/// [`Read`], such as a file. One read call fills [`SEAL_BATCH`] chunks,
/// which are then sealed out of place from the buffer.
pub struct PlaintextReader<R> {
    inner: R,
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    end: usize,
}

impl<R> core::fmt::Debug for PlaintextReader<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PlaintextReader({} bytes buffered)", self.end - self.pos)
    }
}

impl<R: Read> PlaintextReader<R> {
    /// Buffer `inner`.
    pub fn new(inner: R) -> Self {
        PlaintextReader {
            inner,
            buf: Zeroizing::new(vec![0u8; SEAL_BATCH * CHUNK_SIZE]),
            pos: 0,
            end: 0,
        }
    }
}

/// `Read` for a reader whose own buffer is the point (`BufRead`): copy
/// out of what `fill_buf` holds, shared by both stream readers.
pub(crate) fn read_through(b: &mut impl BufRead, out: &mut [u8]) -> std::io::Result<usize> {
    let avail = b.fill_buf()?;
    let n = avail.len().min(out.len());
    out[..n].copy_from_slice(&avail[..n]);
    b.consume(n);
    Ok(n)
}

impl<R: Read> Read for PlaintextReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        read_through(self, out)
    }
}

impl<R: Read> BufRead for PlaintextReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
            self.end = self.inner.read(&mut self.buf)?;
        }
        Ok(&self.buf[self.pos..self.end])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.end);
    }
}

/// Split `ciphertext ‖ tag` (at least [`TAG_LEN`] bytes) into the ciphertext
/// and a copy of the tag.
pub(crate) fn split_chunk(sealed: &mut [u8]) -> (&mut [u8], [u8; TAG_LEN]) {
    let (chunk, tag_bytes) = sealed.split_at_mut(sealed.len().saturating_sub(TAG_LEN));
    let mut tag = [0u8; TAG_LEN];
    let n = tag_bytes.len().min(TAG_LEN);
    tag[..n].copy_from_slice(&tag_bytes[..n]);
    (chunk, tag)
}

#[cfg(test)]
mod tests;
