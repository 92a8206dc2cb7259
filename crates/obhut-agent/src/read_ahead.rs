//! A segment's plaintext, read ahead of its sealing on a thread of its own.
//!
//! Each upload thread seals and sends its segment, pulling plaintext as
//! the connection takes blob bytes ([`crate::body`]). Reading the source
//! file there leaves the disk idle whenever that thread waits: for the
//! vault to take bytes, or for a core (the benchmark's vault shares two
//! with the agent). The kernel's own read-ahead does not help then, since
//! it advances only when the reader reads. A [`ReadAhead`] keeps up to
//! [`DEPTH`] blocks of [`BLOCK`] bytes read from the segment's range on a
//! thread of its own, so the disk goes on reading while the upload thread
//! seals or waits. The 1 GiB ingest of `scripts/bench-vault` took 6–12 %
//! less time with it (four A/B comparisons of five interleaved rounds,
//! page cache dropped; BENCHMARKS.md), though the agent spends about
//! 0.1 CPU-s per GiB more (one more copy, block → upload buffer, which
//! the sealer now saves for three chunks in four by encrypting out of
//! the block through [`BufRead`]). 256 KiB
//! blocks four deep measured best; 1 MiB blocks gained less, 4 MiB
//! nothing, and deeper queues no more.
//!
//! Memory: `DEPTH + 1` blocks per segment in flight (1.25 MiB), allocated
//! once and reused; they hold footage, so they are wiped when dropped.

use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use obhut_media::Blank;

use zeroize::Zeroizing;

/// Bytes per read.
pub const BLOCK: usize = 256 * 1024;

/// Blocks read and not yet taken, at most.
pub const DEPTH: usize = 4;

/// The page size the page-cache hint rounds to (larger pages only leave a
/// few more cached).
const PAGE: u64 = 4096;

type Buffer = Zeroizing<Vec<u8>>;

/// A block the reader thread filled: `buf[..len]`.
struct Filled {
    buf: Buffer,
    len: usize,
}

/// `[offset, offset + len)` of a file as a reader, read ahead by a thread
/// (module docs). Reads end early if the file ends early, as a
/// `File::take` would; the caller checks the length it got. A read error
/// is returned once and then ends the reader for good.
pub struct ReadAhead {
    filled: Receiver<io::Result<Filled>>,
    /// Taken blocks go back to the thread through this.
    free: SyncSender<Buffer>,
    current: Option<(Filled, usize)>,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Ended,
    Failed,
}

impl std::fmt::Debug for ReadAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReadAhead({:?})", self.state)
    }
}

impl ReadAhead {
    /// Start reading `len` bytes of `file` from `offset` on a new thread,
    /// which ends at the end of the range, at the file's end, at an error
    /// or when the reader is dropped.
    pub fn start(file: File, offset: u64, len: u64) -> io::Result<ReadAhead> {
        Self::start_blanked(file, offset, len, Arc::from([]))
    }

    /// As [`ReadAhead::start`], with the bytes of `blanks` (sorted; the
    /// file's descriptive metadata, [`crate::cut`]) blanked in each block
    /// as it is read, before it reaches the sealer.
    pub fn start_blanked(
        file: File,
        offset: u64,
        len: u64,
        blanks: Arc<[Blank]>,
    ) -> io::Result<ReadAhead> {
        let (filled_tx, filled) = sync_channel(DEPTH);
        // One more buffer than the queue holds: the one being taken.
        let (free, free_rx) = sync_channel(DEPTH + 1);
        for _ in 0..=DEPTH {
            free.try_send(Zeroizing::new(vec![0u8; BLOCK]))
                .map_err(|_| io::Error::other("read-ahead buffers"))?;
        }
        std::thread::Builder::new()
            .name("obhut-read-ahead".into())
            .spawn(move || read_range(file, offset, len, &blanks, &free_rx, &filled_tx))?;
        Ok(ReadAhead {
            filled,
            free,
            current: None,
            state: State::Reading,
        })
    }
}

/// The thread: fill free buffers with the range, in order.
fn read_range(
    mut file: File,
    offset: u64,
    mut left: u64,
    blanks: &[Blank],
    free: &Receiver<Buffer>,
    filled: &SyncSender<io::Result<Filled>>,
) {
    if let Err(e) = file.seek(SeekFrom::Start(offset)) {
        let _ = filled.send(Err(e));
        return;
    }
    let mut at = offset;
    while left > 0 {
        // Err: the reader is gone, and with it the need for more.
        let Ok(mut buf) = free.recv() else { return };
        let want = usize::try_from(left).unwrap_or(BLOCK).min(BLOCK);
        match read_full(&mut file, &mut buf[..want]) {
            Ok(len) => {
                obhut_media::blank_window(blanks, at, &mut buf[..len]);
                // After the first block, from the start of the page the
                // block shares with the previous one (read in full by now):
                // the kernel drops only whole pages inside the range, so an
                // unaligned segment would otherwise keep one page per block.
                let from = if at > offset { at - at % PAGE } else { at };
                drop_cached(&file, from, (at - from) as usize + len);
                if filled.send(Ok(Filled { buf, len })).is_err() || len < want {
                    return;
                }
                at += len as u64;
                left -= len as u64;
            }
            Err(e) => {
                let _ = filled.send(Err(e));
                return;
            }
        }
    }
}

/// Drop pages just read from the page cache (`posix_fadvise(DONTNEED)`).
/// Footage is read once, to be sealed, and then usually deleted or moved
/// (`--after`); caching it only pushes out pages worth keeping, as backup
/// tools that read a file once (Borg, for one) avoid too. Freed pages are
/// also what the next blocks are read into: on this project's 2-core VM
/// the 1 GiB ingest of `scripts/bench-vault` took 13 % less time with the
/// agent alone doing this (one A/B), 5–10 % with the vault dropping its
/// written blobs as well (four A/Bs; BENCHMARKS.md). Only a hint: a
/// failure is ignored.
#[cfg(target_os = "linux")]
fn drop_cached(file: &File, offset: u64, len: usize) {
    if let Some(len) = std::num::NonZeroU64::new(len as u64) {
        let _ = rustix::fs::fadvise(file, offset, Some(len), rustix::fs::Advice::DontNeed);
    }
}

#[cfg(not(target_os = "linux"))]
fn drop_cached(_file: &File, _offset: u64, _len: usize) {}

/// Fill `buf` unless the file ends first; returns the bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl ReadAhead {
    /// Make `current` a block with bytes not yet taken, receiving the next
    /// one when it is used up; false at the end of the range.
    fn next_bytes(&mut self) -> io::Result<bool> {
        loop {
            if let Some((block, taken)) = self.current.as_ref() {
                if *taken < block.len {
                    return Ok(true);
                }
                if let Some((block, _)) = self.current.take() {
                    // Full only if the thread ended; then it needs none.
                    let _ = self.free.try_send(block.buf);
                }
            }
            match self.state {
                State::Reading => {}
                State::Ended => return Ok(false),
                State::Failed => return Err(io::Error::other("reading the source failed earlier")),
            }
            match self.filled.recv() {
                Ok(Ok(block)) if block.len > 0 => self.current = Some((block, 0)),
                Ok(Ok(_)) | Err(_) => self.state = State::Ended,
                Ok(Err(e)) => {
                    self.state = State::Failed;
                    return Err(e);
                }
            }
        }
    }
}

/// The block read ahead, lent to the sealer: it encrypts whole chunks
/// straight from it into the upload buffer
/// ([`obhut_core::segment::SealingReader`]), with no copy into that buffer
/// first.
impl BufRead for ReadAhead {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if !self.next_bytes()? {
            return Ok(&[]);
        }
        Ok(self
            .current
            .as_ref()
            .map_or(&[][..], |(block, taken)| &block.buf[*taken..block.len]))
    }

    fn consume(&mut self, amt: usize) {
        if let Some((block, taken)) = self.current.as_mut() {
            *taken = (*taken + amt).min(block.len);
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let block = self.fill_buf()?;
        let n = block.len().min(out.len());
        out[..n].copy_from_slice(&block[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// A segment's plaintext: a range of a file, read ahead, or bytes made in
/// memory (the metadata patch, [`crate::cut::patch_bytes`]).
#[derive(Debug)]
pub enum Plaintext {
    /// Read from a file.
    File(ReadAhead),
    /// Made in memory; wiped when dropped.
    Memory(io::Cursor<Zeroizing<Vec<u8>>>),
}

impl BufRead for Plaintext {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Plaintext::File(r) => r.fill_buf(),
            Plaintext::Memory(c) => c.fill_buf(),
        }
    }

    fn consume(&mut self, amt: usize) {
        match self {
            Plaintext::File(r) => r.consume(amt),
            Plaintext::Memory(c) => c.consume(amt),
        }
    }
}

impl Read for Plaintext {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Plaintext::File(r) => r.read(out),
            Plaintext::Memory(c) => c.read(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The file (removed when the path drops, and not held open by it)
    /// and a handle to read it.
    fn file_of(bytes: &[u8]) -> (tempfile::TempPath, File) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f.flush().unwrap();
        let path = f.into_temp_path();
        let file = File::open(&path).unwrap();
        (path, file)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
    }

    fn read_all(mut r: impl Read, piece: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; piece];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                return got;
            }
            got.extend_from_slice(&buf[..n]);
        }
    }

    /// Any range gives exactly the file's bytes there, whatever the read
    /// sizes, including ranges across and ending on block boundaries.
    #[test]
    fn gives_the_range_byte_for_byte() {
        let data = pattern(3 * BLOCK + 1000);
        let (tmp, _) = file_of(&data);
        for (offset, len) in [
            (0, data.len()),
            (0, 0),
            (1, BLOCK),
            (BLOCK - 7, 2 * BLOCK + 14),
            (BLOCK, BLOCK),
            (3 * BLOCK, 1000),
            (5, 3),
        ] {
            for piece in [1, 4093, BLOCK, 3 * BLOCK] {
                let file = File::open(&tmp).unwrap();
                let r = ReadAhead::start(file, offset as u64, len as u64).unwrap();
                assert_eq!(
                    read_all(r, piece),
                    &data[offset..offset + len],
                    "range {offset}+{len}, reads of {piece}"
                );
            }
        }
    }

    /// Through `BufRead` (how the sealer takes whole chunks out of the
    /// blocks), the same bytes, block by block.
    #[test]
    fn lends_its_blocks_byte_for_byte() {
        let data = pattern(3 * BLOCK + 1000);
        let (_tmp, file) = file_of(&data);
        let mut r = ReadAhead::start(file, 5, 2 * BLOCK as u64 + 900).unwrap();
        let mut got = Vec::new();
        loop {
            let block = r.fill_buf().unwrap();
            if block.is_empty() {
                break;
            }
            assert!(block.len() <= BLOCK);
            let take = block.len().min(65_536);
            got.extend_from_slice(&block[..take]);
            r.consume(take);
        }
        assert_eq!(got, &data[5..5 + 2 * BLOCK + 900]);
    }

    /// A file shorter than the range ends the reader at the file's end,
    /// as `take` would; the caller sees the short count.
    #[test]
    fn a_short_file_ends_early() {
        let data = pattern(BLOCK + 10);
        let (_tmp, file) = file_of(&data);
        let r = ReadAhead::start(file, 100, 10 * BLOCK as u64).unwrap();
        assert_eq!(read_all(r, 65_536), &data[100..]);
    }

    /// A read error reaches the reader, and the reader stays failed.
    #[test]
    fn a_read_error_is_returned_and_stays() {
        // A directory opens but cannot be read.
        let dir = tempfile::tempdir().unwrap();
        let file = File::open(dir.path()).unwrap();
        let mut r = ReadAhead::start(file, 0, 10).unwrap();
        let mut buf = [0u8; 4];
        assert!(r.read(&mut buf).is_err());
        assert!(r.read(&mut buf).is_err(), "stays failed");
    }

    /// Dropping the reader mid-range ends its thread, which was waiting
    /// for a free buffer: the file's descriptor is released.
    #[test]
    fn dropping_the_reader_ends_the_thread() {
        let data = pattern(20 * BLOCK);
        let (tmp, file) = file_of(&data);
        let mut r = ReadAhead::start(file, 0, data.len() as u64).unwrap();
        let mut buf = [0u8; 16];
        r.read_exact(&mut buf).unwrap();
        // Let the thread fill every buffer and wait for a free one.
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(r);
        // The thread holds the only handle; wait for it to go.
        let fd_dir = std::path::Path::new("/proc/self/fd");
        let target = tmp.to_path_buf();
        let open_now = || {
            std::fs::read_dir(fd_dir)
                .unwrap()
                .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .any(|p| p == target)
        };
        for _ in 0..200 {
            if !open_now() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the read-ahead thread still holds the file");
    }
}
