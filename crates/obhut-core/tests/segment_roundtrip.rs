//! Sealing and opening segments (docs/format.md §5.1, §6): round trips at
//! chunk boundaries and random sizes, streaming and random access, the blob
//! length formula and ciphertext hash, the key commitment, and range reads
//! that touch only the chunks they need.

use crate::segment_support;

use std::io::{BufRead, BufReader, Cursor, Read, Seek, SeekFrom};

use obhut_core::chain::verify_blob;
use obhut_core::error::{Error, SegmentFailure};
use obhut_core::record::SegmentRecord;
use obhut_core::secret::Secret32;
use obhut_core::segment::{
    FnSource, HEADER_LEN, SegmentHeader, SegmentKeys, SegmentOpener, blob_len, ciphertext_hasher,
    seal_payload, seal_payload_reader,
};
use obhut_core::stream::{
    CHUNK_SIZE, PlaintextReader, SEAL_BATCH, SEALED_CHUNK_LEN, StreamEncryptor,
};
use proptest::prelude::*;
use segment_support::{Recording, Segment, data, open, parts, seal_with, segment_failure};

fn check_round_trip(seg: &Segment, ranges: &[(u64, u64)]) {
    let len = seg.plaintext.len() as u64;
    assert_eq!(seg.sealed.plaintext_len, len);
    assert_eq!(seg.blob.len() as u64, blob_len(len));
    assert_eq!(seg.sealed.blob_len(), blob_len(len));
    let mut h = ciphertext_hasher();
    h.update(&seg.blob);
    assert_eq!(*h.finalize().as_bytes(), seg.sealed.ciphertext_hash);
    assert_eq!(
        SegmentHeader::from_bytes(&seg.blob[..HEADER_LEN]).unwrap(),
        seg.sealed.header
    );
    // Streaming open, from the header bytes as a record would carry them.
    let opener = SegmentOpener::new(&seg.blob[..HEADER_LEN], &seg.parts()).unwrap();
    assert_eq!(open(&opener, &seg.blob).unwrap(), seg.plaintext);
    // Random access.
    let mut src = Cursor::new(&seg.blob);
    for &(s, e) in ranges {
        let mut out = Vec::new();
        let n = opener.read_range(&mut src, len, s, e, &mut out).unwrap();
        assert_eq!(n, e - s);
        assert_eq!(
            out,
            &seg.plaintext[s as usize..e as usize],
            "range {s}..{e}"
        );
    }
}

fn ranges_for(len: u64, picks: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = vec![(0, len), (len, len)];
    if len > 0 {
        out.push((len - 1, len));
        out.push((0, 1));
    }
    for &(x, y) in picks {
        if len > 0 {
            let (s, e) = (x % (len + 1), y % (len + 1));
            out.push((s.min(e), s.max(e)));
        }
    }
    out
}

#[test]
fn boundary_sizes_round_trip() {
    let rec = Recording::new();
    let c = CHUNK_SIZE;
    for (i, len) in [0, 1, c - 1, c, c + 1, 2 * c, 2 * c + 1, 3 * c - 1]
        .into_iter()
        .enumerate()
    {
        let seg = rec.seal(i as u32, data(len, i as u64));
        let l = len as u64;
        let cs = c as u64;
        let picks = [(cs - 1, cs + 1), (cs, 2 * cs), (1, l.saturating_sub(1))];
        check_round_trip(&seg, &ranges_for(l, &picks));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    #[test]
    fn random_sizes_round_trip(
        len in prop_oneof![
            Just(0usize), Just(1), Just(65_535), Just(65_536), Just(65_537),
            2usize..(5 * 65_536),
        ],
        seed in any::<u64>(),
        picks in proptest::collection::vec((any::<u64>(), any::<u64>()), 4),
    ) {
        let rec = Recording::new();
        let seg = rec.seal(0, data(len, seed));
        check_round_trip(&seg, &ranges_for(len as u64, &picks));
    }
}

/// A `Read + Seek` source that counts what is read from it.
struct Counting<R> {
    inner: R,
    bytes: u64,
    reads: Vec<(u64, usize)>,
}

impl<R: Read + Seek> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let at = self.inner.stream_position()?;
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        self.reads.push((at, n));
        Ok(n)
    }
}
impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn range_reads_touch_only_the_covering_chunks() {
    let rec = Recording::new();
    let len = 5 * CHUNK_SIZE + 1234;
    let seg = rec.seal(0, data(len, 7));
    let opener = seg.opener();
    let c = CHUNK_SIZE as u64;
    let sealed = SEALED_CHUNK_LEN as u64;
    let cases: [(u64, u64, u64); 6] = [
        // (start, end, sealed bytes that must be read)
        (10, 20, sealed),                            // inside chunk 0
        (2 * c + 5, 3 * c, sealed),                  // tail of chunk 2
        (c - 1, c + 1, 2 * sealed),                  // straddles chunks 0 and 1
        (c, 4 * c, 3 * sealed),                      // exactly chunks 1..=3
        (5 * c, 5 * c + 1, 1234 + 16),               // the short final chunk
        (4 * c + 1, len as u64, sealed + 1234 + 16), // last two chunks
    ];
    for (start, end, expect) in cases {
        let mut src = Counting {
            inner: Cursor::new(&seg.blob),
            bytes: 0,
            reads: Vec::new(),
        };
        let mut out = Vec::new();
        opener
            .read_range(&mut src, len as u64, start, end, &mut out)
            .unwrap();
        assert_eq!(out, &seg.plaintext[start as usize..end as usize]);
        assert_eq!(src.bytes, expect, "range {start}..{end}: {:?}", src.reads);
        // Every read starts at or after the first covering chunk.
        let first = HEADER_LEN as u64 + (start / c) * sealed;
        assert!(src.reads.iter().all(|&(at, _)| at >= first));
    }

    // The same through a closure source (e.g. an HTTP range fetch).
    let mut fetched = Vec::new();
    let mut src = FnSource(|offset: u64, buf: &mut [u8]| {
        fetched.push((offset, buf.len()));
        let o = offset as usize;
        let b = seg
            .blob
            .get(o..o + buf.len())
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(b);
        Ok(())
    });
    let mut out = Vec::new();
    opener
        .read_range(&mut src, len as u64, 3 * c + 1, 3 * c + 2, &mut out)
        .unwrap();
    assert_eq!(out, &seg.plaintext[3 * CHUNK_SIZE + 1..3 * CHUNK_SIZE + 2]);
    assert_eq!(
        fetched,
        vec![(HEADER_LEN as u64 + 3 * sealed, SEALED_CHUNK_LEN)]
    );
}

#[test]
fn ranges_outside_the_segment_are_refused() {
    let rec = Recording::new();
    let seg = rec.seal(4, data(100, 1));
    let opener = seg.opener();
    for (s, e, len) in [(0, 101, 100), (50, 40, 100), (0, 1, 1 << 60)] {
        let e2 = opener
            .read_range(&mut Cursor::new(&seg.blob), len, s, e, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(
            segment_failure(e2, seg.segment_ref()),
            SegmentFailure::RangeOutOfBounds { .. }
        ));
    }
}

#[test]
fn wrong_keys_fail_the_key_commitment_before_decrypting() {
    let rec = Recording::new();
    let seg = rec.seal(2, data(70_000, 3));
    let other = Secret32::new([0x42; 32]);
    for (a, b, c) in [
        (&other, &seg.b, &seg.c),
        (&seg.a, &other, &seg.c),
        (&seg.a, &seg.b, &other),
        (&seg.b, &seg.a, &seg.c),
        (&seg.a, &seg.c, &seg.b),
    ] {
        let e = SegmentOpener::new(&seg.blob[..HEADER_LEN], &parts(a, b, c)).unwrap_err();
        assert_eq!(
            segment_failure(e, seg.segment_ref()),
            SegmentFailure::KeyCommitment
        );
    }
    // A header field changed (here the media time, which parses fine): the
    // derived K changes, so the commitment fails too.
    let mut h = seg.sealed.header.clone();
    h.fields.media_end_ms += 1;
    let e = SegmentOpener::from_header(&h, &seg.parts()).unwrap_err();
    assert_eq!(
        segment_failure(e, seg.segment_ref()),
        SegmentFailure::KeyCommitment
    );
    // The commitment is what the key schedule says it is.
    let keys = SegmentKeys::derive(&seg.parts(), &seg.fields);
    assert_eq!(keys.commitment(), &seg.sealed.header.key_commitment);
    assert_eq!(keys.header_hash(), &seg.sealed.header.header_hash());
    assert!(!format!("{keys:?}").contains(&hex::encode(keys.expose_payload_key().expose())));
}

/// A reader that hands out a few bytes at a time and is sometimes
/// interrupted.
struct Trickle<'a> {
    data: &'a [u8],
    calls: usize,
}

fn trickle(data: &[u8]) -> Trickle<'_> {
    Trickle { data, calls: 0 }
}
impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(5) {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = (self.calls % 7 + 1).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The pull form serves exactly the bytes the push form writes, whatever
/// the read sizes on either side, and describes the same segment.
#[test]
fn the_sealing_reader_gives_the_blob_seal_payload_writes() {
    let rec = Recording::new();
    let (fields, a, b) = rec.fields(0);
    for len in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE + 5,
    ] {
        let pt = data(len, 13);
        let seg = seal_with(fields.clone(), a.clone(), b.clone(), pt.clone());
        for out_piece in [
            1usize,
            4093,
            SEALED_CHUNK_LEN - 1,
            SEALED_CHUNK_LEN,
            SEALED_CHUNK_LEN + 7,
            2 * SEALED_CHUNK_LEN,
            4 * SEALED_CHUNK_LEN,
            1 << 20,
        ] {
            // The plaintext's reader: buffering a few bytes at a time
            // (chunks read into the caller's buffer), whole (chunks sealed
            // out of place from the reader's buffer), or in buffers that
            // end inside chunks (both).
            for source in 0..3 {
                let plaintext: Box<dyn BufRead + '_> = match source {
                    0 => Box::new(BufReader::new(trickle(&pt))),
                    1 => Box::new(&pt[..]),
                    _ => Box::new(BufReader::with_capacity(3 * CHUNK_SIZE / 2 + 7, &pt[..])),
                };
                let mut r = seal_payload_reader(
                    fields.clone(),
                    seg.sealed.custody.clone(),
                    &seg.parts(),
                    plaintext,
                )
                .unwrap();
                assert!(r.sealed().is_none(), "nothing is sealed before the end");
                let mut blob = Vec::new();
                let mut buf = vec![0u8; out_piece];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => blob.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                assert!(
                    blob == seg.blob,
                    "len {len}, reads of {out_piece}, source {source}"
                );
                assert_eq!(r.sealed(), Some(&seg.sealed));
                assert_eq!(r.read(&mut buf).unwrap(), 0, "stays at its end");
            }
        }
    }
}

/// Reads that switch between buffers with and without room for a whole
/// sealed chunk (sealed in place, or through the reader's own buffer)
/// still give the blob, byte for byte, and its hash.
#[test]
fn the_sealing_reader_mixes_in_place_and_buffered_chunks() {
    let rec = Recording::new();
    let (fields, a, b) = rec.fields(0);
    for len in [2 * CHUNK_SIZE, 2 * CHUNK_SIZE + 1, 7 * CHUNK_SIZE + 4099] {
        let pt = data(len, 17);
        let seg = seal_with(fields.clone(), a.clone(), b.clone(), pt.clone());
        for pattern in [
            &[SEALED_CHUNK_LEN, 5, 2 * SEALED_CHUNK_LEN + 3, 1][..],
            &[700, SEALED_CHUNK_LEN + 1, SEALED_CHUNK_LEN - 1][..],
        ] {
            let mut r = seal_payload_reader(
                fields.clone(),
                seg.sealed.custody.clone(),
                &seg.parts(),
                BufReader::new(trickle(&pt)),
            )
            .unwrap();
            let mut blob = Vec::new();
            for &size in pattern.iter().cycle() {
                let mut buf = vec![0u8; size];
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                blob.extend_from_slice(&buf[..n]);
            }
            assert_eq!(blob, seg.blob, "len {len}, reads {pattern:?}");
            assert_eq!(r.sealed(), Some(&seg.sealed));
        }
    }
}

/// A failing plaintext source fails the reader, for good.
#[test]
fn the_sealing_reader_fails_with_its_source() {
    struct Broken(usize);
    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk gone"));
            }
            let n = self.0.min(buf.len());
            buf[..n].fill(7);
            self.0 -= n;
            Ok(n)
        }
    }
    let rec = Recording::new();
    let (fields, a, b) = rec.fields(0);
    let seg = seal_with(fields.clone(), a, b, Vec::new());
    let mut r = seal_payload_reader(
        fields,
        seg.sealed.custody.clone(),
        &seg.parts(),
        BufReader::new(Broken(CHUNK_SIZE * 2)),
    )
    .unwrap();
    let mut sink = Vec::new();
    let e = r.read_to_end(&mut sink).unwrap_err();
    assert!(e.to_string().contains("disk gone"), "{e}");
    assert!(r.read(&mut [0u8; 16]).is_err());
    assert!(r.sealed().is_none());
}

#[test]
fn sealing_is_deterministic_and_independent_of_read_sizes() {
    let rec = Recording::new();
    let (fields, a, b) = rec.fields(0);
    for len in [
        0,
        5,
        CHUNK_SIZE,
        CHUNK_SIZE + 3,
        2 * CHUNK_SIZE,
        SEAL_BATCH * CHUNK_SIZE,
        2 * SEAL_BATCH * CHUNK_SIZE,
    ] {
        let pt = data(len, 11);
        let seg = seal_with(fields.clone(), a.clone(), b.clone(), pt.clone());
        // A trickling reader, and a file-like one whose reads end exactly
        // at chunk boundaries (its last chunk is sealed as not final, then
        // taken back).
        for buffered in [false, true] {
            let mut blob = Vec::new();
            let reader = PlaintextReader::new(if buffered {
                Box::new(&pt[..]) as Box<dyn Read>
            } else {
                Box::new(trickle(&pt))
            });
            let sealed = seal_payload(
                fields.clone(),
                seg.sealed.custody.clone(),
                &seg.parts(),
                reader,
                &mut blob,
            )
            .unwrap();
            assert_eq!(blob, seg.blob, "len {len}, buffered {buffered}");
            assert_eq!(sealed, seg.sealed);
        }
        // Pushing plaintext in odd pieces through the encryptor.
        let keys = SegmentKeys::derive(&seg.parts(), &fields);
        let mut enc = StreamEncryptor::new(keys.chunk_cipher(), Vec::new());
        for piece in pt.chunks(9_999) {
            enc.update(piece).unwrap();
        }
        let (chunks, n) = enc.finish().unwrap();
        assert_eq!(n, len as u64);
        assert_eq!(chunks, seg.blob[HEADER_LEN..]);
        // Opening through a trickling reader.
        let mut out = Vec::new();
        seg.opener()
            .open_stream(trickle(&seg.blob), &mut out)
            .unwrap();
        assert_eq!(out, pt);
    }
}

#[test]
fn sealed_segment_signs_into_a_record_that_verifies_the_blob() {
    let rec = Recording::new();
    let seg = rec.seal(0, data(3 * CHUNK_SIZE + 17, 5));
    let record = rec.record(&seg, [0; 32], true);
    let parsed = SegmentRecord::from_bytes(&record.to_bytes()).unwrap();
    assert_eq!(parsed, record);
    assert_eq!(parsed.blob_len(), seg.blob.len() as u64);
    verify_blob(&parsed, &seg.blob[..]).unwrap();
    // The opener takes the header straight from the verified record.
    let opener = SegmentOpener::from_header(parsed.header(), &seg.parts()).unwrap();
    let mut out = Vec::new();
    opener
        .read_range(
            &mut Cursor::new(&seg.blob),
            parsed.plaintext_len(),
            0,
            parsed.plaintext_len(),
            &mut out,
        )
        .unwrap();
    assert_eq!(out, seg.plaintext);
}

#[test]
fn header_rejects_bad_fields() {
    let rec = Recording::new();
    let seg = rec.seal(0, Vec::new());
    let good = seg.blob[..HEADER_LEN].to_vec();
    let reject = |bytes: &[u8]| SegmentHeader::from_bytes(bytes).unwrap_err();
    // Trailing and missing bytes.
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(
        reject(&long),
        Error::TrailingBytes { count: 1, .. }
    ));
    assert!(matches!(
        reject(&good[..HEADER_LEN - 1]),
        Error::Truncated { .. }
    ));
    // Wrong magic, version, suite.
    let mut m = good.clone();
    m[0] = b'X';
    assert!(matches!(reject(&m), Error::BadMagic { .. }));
    let mut v = good.clone();
    v[4] = 2;
    assert!(matches!(
        reject(&v),
        Error::UnsupportedVersion { found: 2, .. }
    ));
    let mut s = good.clone();
    s[6] = 2;
    assert!(matches!(reject(&s), Error::UnsupportedSuite { .. }));
    // Unknown kind; chunk size other than 65 536; media end before start.
    let mut k = good.clone();
    k[7] = 3;
    assert!(matches!(reject(&k), Error::Malformed { .. }));
    let cs = 7 + 1 + 16 + 32 + 4;
    let mut c = good.clone();
    c[cs..cs + 4].copy_from_slice(&32_768u32.to_be_bytes());
    assert!(matches!(reject(&c), Error::Malformed { .. }));
    let mut t = good.clone();
    t[cs + 12..cs + 20].copy_from_slice(&0u64.to_be_bytes()); // end 0 < start 1
    t[cs + 4..cs + 12].copy_from_slice(&1u64.to_be_bytes());
    assert!(matches!(reject(&t), Error::Malformed { .. }));
    // Canonical: parse-then-serialize is the identity.
    assert_eq!(SegmentHeader::from_bytes(&good).unwrap().to_bytes(), good);
    assert_eq!(good.len(), HEADER_LEN);
}
