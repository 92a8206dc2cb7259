//! Decrypting a sealed segment (docs/format.md §6): `SegmentOpener::new`,
//! `SegmentOpener::open_stream` and `SegmentOpener::read_range` against
//! fixed segments sealed with fixed `a` and `b` (see `obhut_fuzz`), with
//! blob bytes from the fuzzer.
//!
//! Must never panic, never return `Ok` with plaintext that differs from
//! what was sealed, and on error must have written only a prefix of the
//! true plaintext (authenticated chunks only).
//!
//! Input layout (14-byte prefix, then a payload):
//!
//! | bytes | meaning |
//! | --- | --- |
//! | 0 | mode % 3: 0 the payload is the whole blob of the one-chunk segment; 1 the payload is a list of edits applied to the real three-chunk blob; 2 the payload is the whole blob of the empty segment |
//! | 1..5 | `read_range` start (u32 BE) |
//! | 5..9 | `read_range` end (u32 BE) |
//! | 9 | bit 0 set: use bytes 10..14 as `read_range`'s `plaintext_len`, else the true length |
//! | 10..14 | claimed plaintext_len (u32 BE) |
//!
//! Edits (mode 1), repeated until the payload ends: an opcode byte, then
//! `op % 6`: 0 xor `blob[off % len]` with `x` (`off` u32 BE, `x` u8;
//! `x = 0` becomes 1); 1 truncate to `off % (len + 1)` (u32 BE); 2 insert
//! `n` (u8) following payload bytes at `off % (len + 1)` (u32 BE); 3 delete
//! `n` (u16 BE) bytes at `off % len` (u32 BE); 4 swap sealed chunks `i` and
//! `j` (u8 each, modulo the chunk count); 5 insert a copy of chunk `i`
//! after chunk `j` (u8 each).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use obhut_core::segment::{HEADER_LEN, SegmentOpener};
use obhut_core::stream::{CHUNK_SIZE, SEALED_CHUNK_LEN};
use obhut_fuzz::OpenFixture;

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// `(start, end)` of sealed chunk `i` in a blob of `len` bytes, clipped.
fn chunk_span(i: usize, len: usize) -> (usize, usize) {
    let s = (HEADER_LEN + i * SEALED_CHUNK_LEN).min(len);
    (s, (s + SEALED_CHUNK_LEN).min(len))
}

fn apply_edits(mut blob: Vec<u8>, mut ops: Input<'_>) -> Vec<u8> {
    let mut count = 0;
    while let Some(op) = ops.u8() {
        count += 1;
        if count > 16 {
            break;
        }
        let len = blob.len();
        let chunks = len
            .saturating_sub(HEADER_LEN)
            .div_ceil(SEALED_CHUNK_LEN)
            .max(1);
        match op % 6 {
            0 => {
                let (Some(off), Some(x)) = (ops.u32(), ops.u8()) else {
                    break;
                };
                if len > 0 {
                    blob[off as usize % len] ^= x.max(1);
                }
            }
            1 => {
                let Some(off) = ops.u32() else { break };
                blob.truncate(off as usize % (len + 1));
            }
            2 => {
                let (Some(off), Some(n)) = (ops.u32(), ops.u8()) else {
                    break;
                };
                let Some(bytes) = ops.take(n as usize) else {
                    break;
                };
                let at = off as usize % (len + 1);
                blob.splice(at..at, bytes.iter().copied());
            }
            3 => {
                let (Some(off), Some(n)) = (ops.u32(), ops.u16()) else {
                    break;
                };
                if len > 0 {
                    let at = off as usize % len;
                    let end = (at + n as usize).min(len);
                    blob.drain(at..end);
                }
            }
            4 => {
                let (Some(i), Some(j)) = (ops.u8(), ops.u8()) else {
                    break;
                };
                let (i, j) = (i as usize % chunks, j as usize % chunks);
                let (a, b) = (chunk_span(i.min(j), len), chunk_span(i.max(j), len));
                if a != b {
                    let mut out = Vec::with_capacity(len);
                    out.extend_from_slice(&blob[..a.0]);
                    out.extend_from_slice(&blob[b.0..b.1]);
                    out.extend_from_slice(&blob[a.1..b.0]);
                    out.extend_from_slice(&blob[a.0..a.1]);
                    out.extend_from_slice(&blob[b.1..]);
                    blob = out;
                }
            }
            _ => {
                let (Some(i), Some(j)) = (ops.u8(), ops.u8()) else {
                    break;
                };
                let (s, e) = chunk_span(i as usize % chunks, len);
                let copy = blob[s..e].to_vec();
                let at = chunk_span(j as usize % chunks, len).1;
                blob.splice(at..at, copy);
            }
        }
    }
    blob
}

fn check(fx: &OpenFixture, blob: &[u8], start: u64, end: u64, claimed_len: Option<u64>) {
    let plain = &fx.plaintext[..];

    // Whole-blob decryption.
    let mut out = Vec::new();
    match fx.opener.open_stream(blob, &mut out) {
        Ok(n) => {
            assert_eq!(n, plain.len() as u64, "open_stream: wrong length reported");
            assert!(
                out == plain,
                "open_stream returned Ok with the wrong plaintext"
            );
        }
        Err(_) => {
            assert!(
                plain.starts_with(&out),
                "open_stream released unauthenticated plaintext"
            );
            assert_eq!(
                out.len() % CHUNK_SIZE,
                0,
                "open_stream released a partial chunk"
            );
        }
    }

    // Range decryption.
    let plaintext_len = claimed_len.unwrap_or(plain.len() as u64);
    let mut out = Vec::new();
    let result = fx
        .opener
        .read_range(&mut Cursor::new(blob), plaintext_len, start, end, &mut out);
    let true_len = plain.len() as u64;
    match result {
        Ok(n) if start == end => {
            // An empty range is answered without reading the blob (the
            // claimed length comes from a signed record).
            assert_eq!(n, 0, "read_range: empty range reported bytes");
            assert!(out.is_empty(), "read_range: empty range wrote bytes");
        }
        Ok(n) => {
            assert!(
                end <= true_len && start < end,
                "read_range Ok outside the true plaintext"
            );
            assert_eq!(n, end - start, "read_range: wrong length reported");
            assert!(
                out == plain[start as usize..end as usize],
                "read_range returned Ok with the wrong plaintext"
            );
        }
        Err(_) => {
            if !out.is_empty() {
                assert!(
                    start < true_len,
                    "read_range wrote bytes past the true plaintext"
                );
                assert!(
                    plain[start as usize..].starts_with(&out),
                    "read_range released unauthenticated plaintext"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let (Some(mode), Some(start), Some(end), Some(flags), Some(claimed)) = (
        input.u8(),
        input.u32(),
        input.u32(),
        input.u8(),
        input.u32(),
    ) else {
        return;
    };
    let claimed = (flags & 1 == 1).then_some(u64::from(claimed));
    let (start, end) = (u64::from(start), u64::from(end));
    match mode % 3 {
        1 => {
            let fx = obhut_fuzz::large_segment();
            let blob = apply_edits(fx.blob.clone(), input);
            check(fx, &blob, start, end, claimed);
        }
        m => {
            let fx = if m == 0 {
                obhut_fuzz::small_segment()
            } else {
                obhut_fuzz::empty_segment()
            };
            let blob = input.0;
            // Parsing the blob's header and checking its commitment: with
            // the fixed keys only the real header may pass.
            let parts = obhut_fuzz::fixed_parts();
            if let Ok(op) = SegmentOpener::new(&blob[..blob.len().min(HEADER_LEN)], &parts) {
                let h = op.header().to_bytes();
                assert!(
                    [
                        &obhut_fuzz::small_segment().header,
                        &obhut_fuzz::large_segment().header,
                        &obhut_fuzz::empty_segment().header
                    ]
                    .iter()
                    .any(|real| **real == h),
                    "a header other than the fixtures' passed the key commitment"
                );
            }
            check(fx, blob, start, end, claimed);
        }
    }
});
