use super::*;
use crate::ids::RecordingId;

fn cipher(key: u8) -> ChunkCipher {
    ChunkCipher::new(
        &Secret32::new([key; 32]),
        [7; 32],
        SegmentRef {
            recording: RecordingId([1; 16]),
            index: 3,
        },
    )
}

fn seal(data: &[u8]) -> Vec<u8> {
    let mut enc = StreamEncryptor::new(cipher(9), Vec::new());
    enc.update(data).unwrap();
    let (out, len) = enc.finish().unwrap();
    assert_eq!(len, data.len() as u64);
    out
}

#[test]
fn nonce_layout() {
    assert_eq!(chunk_nonce(0, false), [0; 12]);
    let n = chunk_nonce(0x0102_0304, true);
    assert_eq!(n, [0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 1]);
    assert_eq!(chunk_count(0), 1);
    assert_eq!(chunk_count(65_536), 1);
    assert_eq!(chunk_count(65_537), 2);
    assert_eq!(sealed_payload_len(0), 16);
    assert_eq!(sealed_payload_len(65_537), 65_537 + 32);
    assert_eq!(chunk_plaintext_len(65_537, 1), 1);
    assert_eq!(chunk_plaintext_len(65_537, 0), CHUNK_SIZE);
}

#[test]
fn chunk_layout_and_round_trip() {
    for len in [
        0usize,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        2 * CHUNK_SIZE,
    ] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let sealed = seal(&data);
        assert_eq!(sealed.len() as u64, sealed_payload_len(len as u64), "{len}");
        let mut out = Vec::new();
        let n = decrypt_stream(&cipher(9), &mut &sealed[..], &mut out).unwrap();
        assert_eq!(n, len as u64);
        assert_eq!(out, data);
        // Same plaintext through `copy_from` gives the same bytes.
        let mut enc = StreamEncryptor::new(cipher(9), Vec::new());
        enc.copy_from(&mut &data[..]).unwrap();
        assert_eq!(enc.finish().unwrap().0, sealed);
    }
}

/// A reader that hands out at most 1000 bytes per read.
struct Trickle<'a>(&'a [u8]);
impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(1000);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// `copy_from` (batched, out of place) writes the bytes `update` (one
/// chunk, in place) writes, also after an `update`, from a buffer that
/// ends exactly at a chunk (the final chunk is then sealed as if more
/// followed and taken back) and from a reader that returns short reads.
#[test]
fn copy_from_batches_equal_update() {
    for chunks in [
        1,
        SEAL_BATCH - 1,
        SEAL_BATCH,
        SEAL_BATCH + 1,
        2 * SEAL_BATCH,
        3 * SEAL_BATCH,
    ] {
        for extra in [0usize, 1, CHUNK_SIZE - 1] {
            let len = chunks * CHUNK_SIZE + extra;
            let data: Vec<u8> = (0..len).map(|i| (i % 249) as u8).collect();
            let sealed = seal(&data);
            for head in [0usize, 5, CHUNK_SIZE, CHUNK_SIZE + 3] {
                let head = head.min(len);
                for kind in 0..3 {
                    let mut enc = StreamEncryptor::new(cipher(9), Vec::new());
                    enc.update(&data[..head]).unwrap();
                    let rest = &data[head..];
                    let n = match kind {
                        0 => enc.copy_from(&mut &rest[..]),
                        1 => enc.copy_from(&mut PlaintextReader::new(rest)),
                        _ => enc.copy_from(&mut PlaintextReader::new(Trickle(rest))),
                    }
                    .unwrap();
                    assert_eq!(n, (len - head) as u64);
                    let (out, total) = enc.finish().unwrap();
                    assert_eq!(total, len as u64);
                    assert!(
                        out == sealed,
                        "{chunks} chunks + {extra}, head {head}, reader {kind}"
                    );
                }
            }
        }
    }
}

/// A `BufRead` lending blocks of four chunks, as the agent's
/// read-ahead does; counts the chunks taken whole out of a block that
/// has more after them (sealed out of place).
struct Blocks<'a> {
    data: &'a [u8],
    in_block: usize,
    whole: usize,
}
impl Read for Blocks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.fill_buf()?.len().min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.consume(n);
        Ok(n)
    }
}
impl BufRead for Blocks<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.in_block == 0 {
            self.in_block = self.data.len().min(4 * CHUNK_SIZE);
        }
        Ok(&self.data[..self.in_block])
    }
    fn consume(&mut self, n: usize) {
        if n == CHUNK_SIZE && self.in_block > CHUNK_SIZE {
            self.whole += 1;
        }
        self.data = &self.data[n..];
        self.in_block -= n;
    }
}

/// Sealing from lent blocks gives `update`'s bytes, whether the input
/// ends inside a block or exactly at a block's end (the final chunk is
/// then first sealed as if more followed, and taken back).
#[test]
fn sealing_from_blocks_stays_out_of_place() {
    for (len, whole) in [
        (12 * CHUNK_SIZE + 100, 9),
        (12 * CHUNK_SIZE, 9),
        (4 * CHUNK_SIZE, 3),
        (CHUNK_SIZE, 0),
        (100, 0),
    ] {
        let data: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
        let sealed = seal(&data);
        let mut reader = Blocks {
            data: &data,
            in_block: 0,
            whole: 0,
        };
        let mut enc = StreamEncryptor::new(cipher(9), Vec::new());
        let mut blob = Vec::new();
        let mut dst = [0u8; SEALED_CHUNK_LEN];
        while enc.seal_next_from_buf(&mut reader, &mut dst).unwrap() {
            blob.extend_from_slice(&dst);
        }
        let (last, total) = enc.finish().unwrap();
        blob.extend_from_slice(&last);
        assert_eq!(total, len as u64);
        assert!(blob == sealed, "len {len}");
        // Three chunks of each full block are taken whole with more after
        // them in the block (the fourth, which ends its block, is sealed
        // out of place as well, but the count cannot tell it apart).
        assert_eq!(reader.whole, whole, "len {len}");
    }
}

/// Streams longer than one read batch: round trip, and the errors
/// name the right chunk with exactly the chunks before it written.
#[test]
fn batches_keep_the_chunk_rules() {
    for chunks in [
        OPEN_BATCH - 1,
        OPEN_BATCH,
        OPEN_BATCH + 1,
        2 * OPEN_BATCH + 3,
    ] {
        for extra in [0usize, 1, CHUNK_SIZE - 1] {
            let len = chunks * CHUNK_SIZE + extra;
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let sealed = seal(&data);
            let mut out = Vec::new();
            let n = decrypt_stream(&cipher(9), &mut &sealed[..], &mut out).unwrap();
            assert_eq!((n, &out), (len as u64, &data), "{chunks} chunks + {extra}");
        }
    }
    let data = vec![3u8; (2 * OPEN_BATCH + 2) * CHUNK_SIZE + 5];
    let sealed = seal(&data);
    // Cut at the chunk boundary after a whole batch.
    let cut = &sealed[..OPEN_BATCH * SEALED_CHUNK_LEN];
    let mut out = Vec::new();
    let e = decrypt_stream(&cipher(9), &mut &cut[..], &mut out).unwrap_err();
    assert!(matches!(
        e,
        Error::Segment {
            failure: SegmentFailure::Truncated { chunks_read },
            ..
        } if chunks_read == OPEN_BATCH as u64
    ));
    assert_eq!(out.len(), (OPEN_BATCH - 1) * CHUNK_SIZE);
    // A flipped byte in chunk OPEN_BATCH + 2 (the third of the second batch).
    let bad = OPEN_BATCH + 2;
    let mut altered = sealed.clone();
    altered[bad * SEALED_CHUNK_LEN + 7] ^= 1;
    let mut out = Vec::new();
    let e = decrypt_stream(&cipher(9), &mut &altered[..], &mut out).unwrap_err();
    assert!(matches!(
        e,
        Error::Segment {
            failure: SegmentFailure::ChunkAuthentication { chunk },
            ..
        } if chunk == bad as u64
    ));
    assert_eq!(out, data[..bad * CHUNK_SIZE]);
}

#[test]
fn wrong_key_and_dropped_encryptor_are_rejected() {
    let sealed = seal(b"hello");
    let e = decrypt_stream(&cipher(8), &mut &sealed[..], &mut Vec::new()).unwrap_err();
    assert!(matches!(
        e,
        Error::Segment {
            failure: SegmentFailure::ChunkAuthentication { chunk: 0 },
            ..
        }
    ));
    // An encryptor dropped without finish() wrote only non-final chunks.
    let mut out = Vec::new();
    {
        let mut enc = StreamEncryptor::new(cipher(9), &mut out);
        enc.update(&[0u8; CHUNK_SIZE + 1]).unwrap();
    }
    let e = decrypt_stream(&cipher(9), &mut &out[..], &mut Vec::new()).unwrap_err();
    assert!(matches!(
        e,
        Error::Segment {
            failure: SegmentFailure::Truncated { chunks_read: 1 },
            ..
        }
    ));
}

/// Every shape of reader buffer gives the same plaintext and the same
/// errors: buffers of one byte, shorter than a tag, one byte either side
/// of a sealed chunk (the chunk that ends a buffer is opened before it is
/// known whether more follows), [`SealedReader`] over whole reads and over
/// short ones, after a lead.
#[test]
fn opening_from_any_buffer_gives_the_same_answer() {
    /// Opens the stream into the given plaintext buffer.
    type Open<'o> = dyn FnMut(&mut Vec<u8>) -> Result<u64> + 'o;
    fn each_reader(sealed: &[u8], check: &mut dyn FnMut(&mut Open<'_>, String)) {
        for cap in [
            1usize,
            7,
            SEALED_CHUNK_LEN - 1,
            SEALED_CHUNK_LEN,
            SEALED_CHUNK_LEN + 1,
            2 * SEALED_CHUNK_LEN,
        ] {
            check(
                &mut |out| {
                    decrypt_stream(
                        &cipher(9),
                        &mut std::io::BufReader::with_capacity(cap, sealed),
                        out,
                    )
                },
                format!("BufReader of {cap}"),
            );
        }
        for lead in [0usize, 1, 1452] {
            let mut blob = vec![0xeeu8; lead];
            blob.extend_from_slice(sealed);
            for trickle in [false, true] {
                check(
                    &mut |out| {
                        let inner: Box<dyn Read> = if trickle {
                            Box::new(Trickle(&blob))
                        } else {
                            Box::new(&blob[..])
                        };
                        let mut r = SealedReader::new(inner, lead);
                        let mut head = vec![0u8; lead];
                        assert_eq!(read_full(&mut r, &mut head).unwrap(), lead);
                        decrypt_stream(&cipher(9), &mut r, out)
                    },
                    format!("SealedReader, lead {lead}, trickle {trickle}"),
                );
            }
        }
    }
    for len in [
        0usize,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        2 * CHUNK_SIZE,
        3 * CHUNK_SIZE + 5,
        OPEN_BATCH * CHUNK_SIZE,
    ] {
        let data: Vec<u8> = (0..len).map(|i| (i % 239) as u8).collect();
        let sealed = seal(&data);
        each_reader(&sealed, &mut |open, what| {
            let mut out = Vec::new();
            assert_eq!(open(&mut out).unwrap(), len as u64, "{len}: {what}");
            assert!(out == data, "{len}: {what}");
        });
    }
    let data: Vec<u8> = (0..3 * CHUNK_SIZE).map(|i| (i % 233) as u8).collect();
    let sealed = seal(&data);
    let expect = |stream: &[u8], failure: SegmentFailure, released: usize| {
        each_reader(stream, &mut |open, what| {
            let mut out = Vec::new();
            match open(&mut out) {
                Err(Error::Segment { failure: f, .. }) if f == failure => {}
                other => panic!("{failure:?}: {what}: {other:?}"),
            }
            assert!(out == data[..released], "{failure:?}: {what}");
        });
    };
    // Cut at a chunk boundary: the last whole chunk is withheld.
    expect(
        &sealed[..2 * SEALED_CHUNK_LEN],
        SegmentFailure::Truncated { chunks_read: 2 },
        CHUNK_SIZE,
    );
    expect(&[], SegmentFailure::Truncated { chunks_read: 0 }, 0);
    // A byte after the final full chunk.
    let mut longer = sealed.clone();
    longer.push(0);
    expect(&longer, SegmentFailure::TrailingData, 2 * CHUNK_SIZE);
    let mut altered = sealed.clone();
    altered[SEALED_CHUNK_LEN + 3] ^= 1;
    expect(
        &altered,
        SegmentFailure::ChunkAuthentication { chunk: 1 },
        CHUNK_SIZE,
    );
}

/// After its lead, a [`SealedReader`] reads whole batches of sealed chunks
/// that start at chunk boundaries, also from a reader of short reads.
#[test]
fn sealed_reader_reads_at_chunk_boundaries() {
    let blob = vec![1u8; 1452 + 3 * OPEN_BATCH * SEALED_CHUNK_LEN];
    let batch = OPEN_BATCH * SEALED_CHUNK_LEN;
    let mut r = SealedReader::new(&blob[..], 1452);
    assert_eq!(r.fill_buf().unwrap().len(), 1452 + batch);
    r.consume(1452 + batch);
    assert_eq!(r.fill_buf().unwrap().len(), batch);
    // Reads short of a batch (1000 bytes at a time) are repeated until the
    // batch is full.
    let mut r = SealedReader::new(Trickle(&blob[..]), 1452);
    assert_eq!(r.fill_buf().unwrap().len(), 1452 + batch);
}
