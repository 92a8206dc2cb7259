//! Sealed segments (docs/format.md §5.1, §6): the 1452-byte segment header,
//! the key schedule from the two key parts `a` and `b`, sealing a payload
//! into a blob, and opening a blob whole or by byte range.
//!
//! A blob is `header ‖ chunk_0 ‖ … ‖ chunk_{n−1}` ([`crate::stream`]). The
//! header ends with a key commitment: an opener derives the keys, compares
//! the commitment in constant time and refuses the segment on mismatch
//! before decrypting anything ([`SegmentOpener::new`]).

use std::io::{BufRead, Read, Seek, SeekFrom, Write};

use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::blob_tree::BlobHasher;
use crate::epoch::{EPOCH_WRAP_LEN, EpochWrap};
use crate::error::{Error, Result, SegmentFailure};
use crate::identity::VerifyKey;
use crate::ids::{RecordingId, SegmentRef};
use crate::kem::{CAPSULE_LEN, Capsule, CapsuleContext};
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::pq_custody::SegmentCustody;
use crate::secret::Secret32;
use crate::stream::{
    self, CHUNK_SIZE, ChunkCipher, MAX_PLAINTEXT_LEN, SEALED_CHUNK_LEN, StreamEncryptor, TAG_LEN,
    io_error,
};
use crate::wire::{Reader, Writer};

/// Encoded length of a [`SegmentHeader`].
pub const HEADER_LEN: usize = 1452;
/// Length of the header prefix covered by the header hash (everything
/// before `key_commitment`).
pub const HEADER_HASHED_LEN: usize = HEADER_LEN - 32;

const _: () = assert!(
    HEADER_HASHED_LEN == 7 + 1 + 16 + 32 + 4 + 4 + 8 + 8 + 8 + CAPSULE_LEN + EPOCH_WRAP_LEN
);

/// What errors about segment headers name (one name with the capsule's
/// lazy point check, [`crate::kem::Capsule::check_points`]).
const SEGMENT_HEADER: &str = crate::kem::SEGMENT_HEADER_WHAT;

/// How much a header parse checks beyond the layout, for parsing a whole
/// chain quickly ([`crate::chain::records_so_far_lazy`]); the default
/// checks everything.
#[derive(Clone, Copy, Default)]
pub(crate) struct HeaderCheck {
    /// A device key already decoded and checked: a header carrying exactly
    /// its bytes takes it instead of decoding them again (the same bytes
    /// decode to the same key, so nothing is skipped).
    pub known_device_key: Option<VerifyKey>,
    /// Leave the capsule's points to [`Capsule::check_points`].
    pub defer_points: bool,
}

/// What a segment holds (§6.1, §7.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum SegmentKind {
    /// Media bytes (e.g. a byte range of an MP4 between keyframes).
    Media = 0,
    /// A container index, e.g. an MP4 `moov` box.
    ContainerIndex = 1,
    /// Descriptive metadata (officer, GPS track, notes).
    Metadata = 2,
}

impl SegmentKind {
    /// The kind byte of the encoding.
    pub fn to_u8(self) -> u8 {
        self as u8
    }
    /// Parse a kind byte; `None` for values version 1 does not define.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(SegmentKind::Media),
            1 => Some(SegmentKind::ContainerIndex),
            2 => Some(SegmentKind::Metadata),
            _ => None,
        }
    }
}

/// The header fields a device chooses before the key commitment exists
/// (`header[0..1420]`). `chunk_size` is not a field: version 1 fixes it at
/// 65 536.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HeaderFields {
    /// What the segment holds.
    pub kind: SegmentKind,
    /// The recording this segment belongs to.
    pub recording_id: RecordingId,
    /// The sealing device's Ed25519 key.
    pub device_key: VerifyKey,
    /// Zero-based position in the recording.
    pub segment_index: u32,
    /// Media time covered, from the recording's start (inclusive).
    pub media_start_ms: u64,
    /// Media time covered (exclusive); at least `media_start_ms`.
    pub media_end_ms: u64,
    /// Device wall-clock time (UTC ms) at `media_start_ms`.
    pub capture_utc_ms: i64,
    /// Threshold KEM capsule for the custody part `a` (§5.2–5.3).
    pub capsule: Capsule,
    /// The epoch part `b`, wrapped to the vault's epoch key (§5.4).
    pub epoch_wrap: EpochWrap,
}

impl HeaderFields {
    /// The segment these fields describe, for error messages.
    pub fn segment_ref(&self) -> SegmentRef {
        SegmentRef {
            recording: self.recording_id,
            index: self.segment_index,
        }
    }

    /// The segment identity the capsule's validity proof is bound to (§5.3).
    pub fn capsule_context(&self) -> CapsuleContext {
        CapsuleContext {
            recording_id: self.recording_id,
            device_key: self.device_key.to_bytes(),
            segment_index: self.segment_index,
            kind: self.kind.to_u8(),
            media_start_ms: self.media_start_ms,
            media_end_ms: self.media_end_ms,
            capture_utc_ms: self.capture_utc_ms,
        }
    }

    /// Check the constraints of §6.1 that the types do not express.
    pub fn validate(&self) -> Result<()> {
        if self.media_end_ms < self.media_start_ms {
            return Err(Error::Malformed {
                what: SEGMENT_HEADER,
                reason: "media_end_ms is before media_start_ms",
            });
        }
        Ok(())
    }

    fn encode(&self, w: &mut Writer) {
        w.u8(self.kind.to_u8())
            .bytes(&self.recording_id.0)
            .bytes(&self.device_key.to_bytes())
            .u32(self.segment_index)
            .u32(CHUNK_SIZE as u32)
            .u64(self.media_start_ms)
            .u64(self.media_end_ms)
            .i64(self.capture_utc_ms);
        self.capsule.encode(w);
        self.epoch_wrap.encode(w);
    }

    /// `header[0..1420]`: preamble and fields, without the commitment.
    pub fn to_hashed_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::SEGMENT_HEADER, VERSION, SUITE_V1);
        self.encode(&mut w);
        let out = w.into_vec();
        debug_assert_eq!(out.len(), HEADER_HASHED_LEN);
        out
    }

    /// `header_hash = Digest("obhut/v1/header-hash", header[0..1420])`:
    /// the associated data of every chunk and the HKDF info of K.
    pub fn header_hash(&self) -> [u8; 32] {
        labels::digest(labels::HEADER_HASH, &[&self.to_hashed_bytes()])
    }
}

/// A segment header (§6.1): the fields and the key commitment. Parsing
/// validates every field (points, keys, kind, chunk size, media times) but
/// not the commitment, which needs the keys ([`SegmentOpener`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SegmentHeader {
    /// Everything before the commitment.
    pub fields: HeaderFields,
    /// `HKDF-Expand(K, "obhut/v1/key-commitment", 32)` (§5.1).
    pub key_commitment: [u8; 32],
}

impl SegmentHeader {
    /// The 1452-byte encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.fields.to_hashed_bytes();
        out.extend_from_slice(&self.key_commitment);
        out
    }

    /// Parse exactly [`HEADER_LEN`] bytes, refusing trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse(bytes, HeaderCheck::default())
    }

    /// [`SegmentHeader::from_bytes`] with the checks `check` relaxes.
    pub(crate) fn parse(bytes: &[u8], check: HeaderCheck) -> Result<Self> {
        let mut r = Reader::new(SEGMENT_HEADER, bytes);
        r.preamble(magic::SEGMENT_HEADER, VERSION, SUITE_V1)?;
        let kind = SegmentKind::from_u8(r.u8("kind")?).ok_or(Error::Malformed {
            what: SEGMENT_HEADER,
            reason: "unknown segment kind",
        })?;
        let recording_id = RecordingId(r.array("recording_id")?);
        let key_bytes = r.array::<32>("device_key")?;
        let device_key = match check.known_device_key {
            Some(k) if k.to_bytes() == key_bytes => k,
            _ => VerifyKey::from_bytes(&key_bytes, SEGMENT_HEADER, "device_key")?,
        };
        let segment_index = r.u32("segment_index")?;
        if r.u32("chunk_size")? != CHUNK_SIZE as u32 {
            return Err(Error::Malformed {
                what: SEGMENT_HEADER,
                reason: "chunk_size is not 65 536",
            });
        }
        let media_start_ms = r.u64("media_start_ms")?;
        let media_end_ms = r.u64("media_end_ms")?;
        let capture_utc_ms = r.i64("capture_utc_ms")?;
        let capsule = Capsule::read_checking(&mut r, !check.defer_points)?;
        let epoch_wrap = EpochWrap::read(&mut r)?;
        let key_commitment = r.array("key_commitment")?;
        r.finish()?;
        let fields = HeaderFields {
            kind,
            recording_id,
            device_key,
            segment_index,
            media_start_ms,
            media_end_ms,
            capture_utc_ms,
            capsule,
            epoch_wrap,
        };
        fields.validate()?;
        Ok(SegmentHeader {
            fields,
            key_commitment,
        })
    }

    /// The header hash (§6.1), over `header[0..1420]`.
    pub fn header_hash(&self) -> [u8; 32] {
        self.fields.header_hash()
    }

    /// The segment this header describes.
    pub fn segment_ref(&self) -> SegmentRef {
        self.fields.segment_ref()
    }
}

/// The three parts a segment key is derived from (§5.1): the custody part
/// `a` (threshold KEM, §5.2), the epoch part `b` (§5.4) and the
/// post-quantum custody part `c` (§5.6). Each is zeroized on drop;
/// `Debug` is redacted.
pub struct KeyParts {
    /// Custody part a.
    pub a: Secret32,
    /// Epoch part b.
    pub b: Secret32,
    /// Post-quantum custody part c.
    pub c: Secret32,
}

impl core::fmt::Debug for KeyParts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("KeyParts(<redacted>)")
    }
}

/// The keys of one segment, derived from `a`, `b`, `c` and the header hash
/// (§5.1). The payload key is zeroized on drop; `Debug` is redacted.
pub struct SegmentKeys {
    payload_key: Secret32,
    commitment: [u8; 32],
    header_hash: [u8; 32],
    segment: SegmentRef,
}

impl core::fmt::Debug for SegmentKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SegmentKeys({}, <redacted>)", self.segment)
    }
}

impl SegmentKeys {
    /// `K = HKDF(salt = "obhut/v1/segment-key", ikm = a ‖ b ‖ c, info = header_hash, 32)`,
    /// then the payload key and the commitment by HKDF-Expand from K.
    pub fn derive(parts: &KeyParts, fields: &HeaderFields) -> Self {
        Self::from_segment_key(&Self::segment_key(parts, fields), fields)
    }

    /// The segment key `K` alone (§5.1): what an export bundle carries for
    /// each exported segment (docs/bundle.md §4), bound to this one header
    /// and revealing nothing of `a`, `b` or `c`.
    pub fn segment_key(parts: &KeyParts, fields: &HeaderFields) -> Secret32 {
        let header_hash = fields.header_hash();
        let mut ikm = Zeroizing::new([0u8; 96]);
        ikm[..32].copy_from_slice(parts.a.expose());
        ikm[32..64].copy_from_slice(parts.b.expose());
        ikm[64..].copy_from_slice(parts.c.expose());
        Secret32::filled_by(|k| {
            Hkdf::<Sha256>::new(Some(labels::SEGMENT_KEY), &ikm[..]).expand(&header_hash, k)
        })
        .expect("32 bytes is a valid HKDF-SHA256 output length")
    }

    /// The payload key and commitment from a segment key `K` (§5.1).
    pub fn from_segment_key(k: &Secret32, fields: &HeaderFields) -> Self {
        let header_hash = fields.header_hash();
        let prk = Hkdf::<Sha256>::from_prk(&k.expose()[..])
            .expect("K is exactly one SHA-256 output long");
        let payload_key = Secret32::filled_by(|out| prk.expand(labels::PAYLOAD_KEY, out))
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut commitment = [0u8; 32];
        prk.expand(labels::KEY_COMMITMENT, &mut commitment)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        SegmentKeys {
            payload_key,
            commitment,
            header_hash,
            segment: fields.segment_ref(),
        }
    }

    /// The key commitment to store at the end of the header.
    pub fn commitment(&self) -> &[u8; 32] {
        &self.commitment
    }

    /// The header hash the keys were derived from.
    pub fn header_hash(&self) -> &[u8; 32] {
        &self.header_hash
    }

    /// The payload key (for test vectors and audits; named to be greppable).
    pub fn expose_payload_key(&self) -> &Secret32 {
        &self.payload_key
    }

    /// Compare `commitment` with the derived one in constant time;
    /// [`SegmentFailure::KeyCommitment`] on mismatch.
    pub fn check_commitment(&self, commitment: &[u8; 32]) -> Result<()> {
        if bool::from(self.commitment.ct_eq(commitment)) {
            Ok(())
        } else {
            Err(Error::Segment {
                segment: self.segment,
                failure: SegmentFailure::KeyCommitment,
            })
        }
    }

    /// The chunk cipher (payload key schedule bound to the header hash).
    pub fn chunk_cipher(&self) -> ChunkCipher {
        ChunkCipher::new(&self.payload_key, self.header_hash, self.segment)
    }
}

/// A new BLAKE3 hasher for the ciphertext hash of a blob (§6.3): derive-key
/// mode with context `obhut/v1/ciphertext-hash`. Feed it every blob byte,
/// header included.
pub fn ciphertext_hasher() -> blake3::Hasher {
    blake3::Hasher::new_derive_key(labels::CIPHERTEXT_HASH)
}

/// Blob length of a segment with `plaintext_len` bytes of plaintext:
/// `1452 + max(1, ⌈len / 65 536⌉)·16 + len` (§6.2).
pub fn blob_len(plaintext_len: u64) -> u64 {
    (HEADER_LEN as u64).saturating_add(stream::sealed_payload_len(plaintext_len))
}

/// A writer that feeds everything written to the ciphertext hash and counts
/// it, then passes it on.
#[derive(Debug)]
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: BlobHasher,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wrap `inner` with a fresh [`ciphertext_hasher`].
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: BlobHasher::new(),
            written: 0,
        }
    }
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
    /// The writer, the hash of everything written, and its length.
    pub fn finish(self) -> (W, [u8; 32], u64) {
        (self.inner, self.hasher.finalize(), self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(buf)?;
        self.hasher.update(buf);
        self.written += buf.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What sealing produced: the header (with commitment) and what the device
/// signs in the segment record.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SealedSegment {
    /// The header written at the start of the blob.
    pub header: SegmentHeader,
    /// Plaintext bytes sealed.
    pub plaintext_len: u64,
    /// BLAKE3 ciphertext hash of the whole blob (§6.3).
    pub ciphertext_hash: [u8; 32],
    /// The shares of `c` (and, at a run's start, the run) for the record.
    pub custody: SegmentCustody,
}

impl SealedSegment {
    /// Length of the blob that was written.
    pub fn blob_len(&self) -> u64 {
        blob_len(self.plaintext_len)
    }
}

/// Seal a payload (§6.4 steps 3–4): derive the keys from `parts` and the
/// header fields, write the header with its commitment to `writer`, then
/// stream `reader`'s plaintext through STREAM, hashing every blob byte.
/// Chunks are sealed out of place from `reader`'s own buffer (wrap a plain
/// [`Read`] in a [`crate::stream::PlaintextReader`]). Memory is constant
/// (one chunk buffer, and while it runs 256 KiB of sealed chunks:
/// [`StreamEncryptor::copy_from`]); the writer is flushed at the end.
///
/// `custody` is the record's custody block made with `parts.c`
/// ([`crate::pq_custody::CustodyRun::seal_c`]). The caller zeroizes
/// `parts` (dropping it does).
pub fn seal_payload<R: BufRead, W: Write>(
    fields: HeaderFields,
    custody: SegmentCustody,
    parts: &KeyParts,
    mut reader: R,
    writer: W,
) -> Result<SealedSegment> {
    fields.validate()?;
    let keys = SegmentKeys::derive(parts, &fields);
    let header = SegmentHeader {
        key_commitment: *keys.commitment(),
        fields,
    };
    let mut out = HashingWriter::new(writer);
    out.write_all(&header.to_bytes())
        .map_err(io_error("writing the segment header"))?;
    let mut enc = StreamEncryptor::new(keys.chunk_cipher(), out);
    drop(keys);
    enc.copy_from(&mut reader)?;
    let (mut out, plaintext_len) = enc.finish()?;
    out.flush()
        .map_err(io_error("flushing the sealed segment"))?;
    let (_, ciphertext_hash, written) = out.finish();
    debug_assert_eq!(written, blob_len(plaintext_len));
    Ok(SealedSegment {
        header,
        plaintext_len,
        ciphertext_hash,
        custody,
    })
}

/// The pull form of [`seal_payload`]: the blob (header, then the sealed
/// chunks) as a reader, sealing `plaintext` chunk by chunk as it is read
/// and hashing every blob byte it serves. Lets the thread that sends a
/// blob also seal it, with no pipe between a sealer and a sender. Memory
/// is constant (one chunk buffer and one output buffer). Once `read`
/// returned 0, [`SealingReader::sealed`] gives the segment's description;
/// a read error (the plaintext's, or sealing's) ends it for good.
///
/// A caller's buffer with room for a whole sealed chunk gets the chunk
/// sealed in it, with no copy through the output buffer: encrypted out of
/// place from the plaintext reader's own buffer when that holds the whole
/// chunk ([`BufRead`]; the agent's read-ahead blocks), else read into the
/// caller's buffer and encrypted in place. The bytes served by one `read`
/// are hashed in one BLAKE3 update while they are in cache. Smaller
/// buffers are served from the output buffer. The blob is the same either
/// way.
pub struct SealingReader<R: BufRead> {
    header: SegmentHeader,
    custody: SegmentCustody,
    plaintext: R,
    enc: Option<StreamEncryptor<Vec<u8>>>,
    /// Blob bytes produced and not yet served (the header first).
    out: Vec<u8>,
    served: usize,
    /// Set once the final chunk is produced.
    plaintext_len: Option<u64>,
    hasher: BlobHasher,
    sealed: Option<SealedSegment>,
    failed: bool,
}

impl<R: BufRead> core::fmt::Debug for SealingReader<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SealingReader({})", self.header.segment_ref())
    }
}

/// Start sealing a payload as a reader ([`SealingReader`]): derive the keys
/// from `parts` and the header fields, as [`seal_payload`] does. The caller
/// zeroizes `parts` (dropping it does); the reader keeps only the chunk
/// cipher.
pub fn seal_payload_reader<R: BufRead>(
    fields: HeaderFields,
    custody: SegmentCustody,
    parts: &KeyParts,
    plaintext: R,
) -> Result<SealingReader<R>> {
    fields.validate()?;
    let keys = SegmentKeys::derive(parts, &fields);
    let header = SegmentHeader {
        key_commitment: *keys.commitment(),
        fields,
    };
    let out = header.to_bytes();
    let enc = StreamEncryptor::new(keys.chunk_cipher(), Vec::with_capacity(SEALED_CHUNK_LEN));
    drop(keys);
    Ok(SealingReader {
        header,
        custody,
        plaintext,
        enc: Some(enc),
        out,
        served: 0,
        plaintext_len: None,
        hasher: BlobHasher::new(),
        sealed: None,
        failed: false,
    })
}

impl<R: BufRead> SealingReader<R> {
    /// The sealed segment (plaintext length and ciphertext hash), once the
    /// whole blob was read.
    pub fn sealed(&self) -> Option<&SealedSegment> {
        self.sealed.as_ref()
    }

    /// Copy pending output bytes into `buf`; returns how many.
    fn drain_out(&mut self, buf: &mut [u8]) -> usize {
        let n = (self.out.len() - self.served).min(buf.len());
        buf[..n].copy_from_slice(&self.out[self.served..self.served + n]);
        self.served += n;
        n
    }

    /// Fill `buf` with the next blob bytes: pending output first, then
    /// whole chunks sealed in place while they fit, else the next chunk
    /// through the output buffer. Returns 0 only at the end of the blob.
    fn serve(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut n = self.drain_out(buf);
        while self.served == self.out.len() {
            let Some(enc) = self.enc.as_mut() else {
                break;
            };
            if let Some(dst) = buf[n..].first_chunk_mut::<SEALED_CHUNK_LEN>() {
                if enc.seal_next_from_buf(&mut self.plaintext, dst)? {
                    n += SEALED_CHUNK_LEN;
                    continue;
                }
                self.finish_stream()?;
            } else if n > 0 {
                break;
            } else {
                self.refill()?;
            }
            n += self.drain_out(&mut buf[n..]);
        }
        Ok(n)
    }

    /// Produce the next sealed chunk into the (drained) output buffer.
    fn refill(&mut self) -> Result<()> {
        let Some(enc) = self.enc.as_mut() else {
            return Ok(());
        };
        // Reuse the served buffer as the encryptor's output.
        self.out.clear();
        std::mem::swap(enc.output_mut(), &mut self.out);
        self.served = 0;
        let more = enc.step(&mut self.plaintext)?;
        std::mem::swap(enc.output_mut(), &mut self.out);
        if !more {
            self.finish_stream()?;
        }
        Ok(())
    }

    /// The input ended: the final chunk into the (drained) output buffer.
    fn finish_stream(&mut self) -> Result<()> {
        let Some(mut enc) = self.enc.take() else {
            return Ok(());
        };
        enc.output_mut().clear();
        let (last, plaintext_len) = enc.finish()?;
        self.out = last;
        self.served = 0;
        self.plaintext_len = Some(plaintext_len);
        Ok(())
    }
}

impl<R: BufRead> Read for SealingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.failed {
            return Err(std::io::Error::other("sealing failed earlier"));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = match self.serve(buf) {
            Ok(n) => n,
            Err(e) => {
                self.failed = true;
                return Err(std::io::Error::other(e.to_string()));
            }
        };
        if n > 0 {
            self.hasher.update(&buf[..n]);
        } else if self.sealed.is_none()
            && let Some(plaintext_len) = self.plaintext_len
        {
            self.sealed = Some(SealedSegment {
                header: self.header.clone(),
                plaintext_len,
                ciphertext_hash: self.hasher.finalize(),
                custody: self.custody.clone(),
            });
        }
        Ok(n)
    }
}

/// Where [`SegmentOpener::read_range`] fetches blob bytes from: anything
/// that can fill a buffer from a blob offset. Implemented for every
/// `Read + Seek`; wrap a closure in [`FnSource`] for other stores (e.g. an
/// HTTP range request).
pub trait RangeSource {
    /// Fill `buf` with the blob's bytes at `offset .. offset + buf.len()`.
    /// A blob that ends earlier is an `UnexpectedEof` error.
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl<T: Read + Seek> RangeSource for T {
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.seek(SeekFrom::Start(offset))?;
        self.read_exact(buf)
    }
}

/// A [`RangeSource`] from a closure `(offset, buf) -> io::Result<()>`.
pub struct FnSource<F>(pub F);

impl<F> core::fmt::Debug for FnSource<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FnSource")
    }
}

impl<F: FnMut(u64, &mut [u8]) -> std::io::Result<()>> RangeSource for FnSource<F> {
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        (self.0)(offset, buf)
    }
}

/// Opens one segment whose key commitment has been checked: construction
/// fails with [`SegmentFailure::KeyCommitment`] for wrong `a` or `b` (or an
/// altered header), before anything is decrypted.
#[derive(Debug)]
pub struct SegmentOpener {
    header: SegmentHeader,
    header_bytes: Vec<u8>,
    cipher: ChunkCipher,
}

impl SegmentOpener {
    /// Parse a header (e.g. from a signed record) and check its commitment
    /// against the keys derived from `parts`.
    pub fn new(header_bytes: &[u8], parts: &KeyParts) -> Result<Self> {
        let header = SegmentHeader::from_bytes(header_bytes)?;
        Self::from_header(&header, parts)
    }

    /// As [`SegmentOpener::new`], from a parsed header.
    pub fn from_header(header: &SegmentHeader, parts: &KeyParts) -> Result<Self> {
        Self::with_keys(header, SegmentKeys::derive(parts, &header.fields))
    }

    /// As [`SegmentOpener::from_header`], from the segment key `K` (an
    /// export bundle's, docs/bundle.md §4): a `K` of another segment fails
    /// the commitment check.
    pub fn from_segment_key(header: &SegmentHeader, k: &Secret32) -> Result<Self> {
        Self::with_keys(header, SegmentKeys::from_segment_key(k, &header.fields))
    }

    fn with_keys(header: &SegmentHeader, keys: SegmentKeys) -> Result<Self> {
        keys.check_commitment(&header.key_commitment)?;
        Ok(SegmentOpener {
            header: header.clone(),
            header_bytes: header.to_bytes(),
            cipher: keys.chunk_cipher(),
        })
    }

    /// The header whose commitment was checked.
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// The segment being opened.
    pub fn segment_ref(&self) -> SegmentRef {
        self.header.segment_ref()
    }

    fn failure(&self, failure: SegmentFailure) -> Error {
        Error::Segment {
            segment: self.segment_ref(),
            failure,
        }
    }

    /// Decrypt a whole blob (header included) from `blob` to `out`; returns
    /// the plaintext length. The blob's header must equal this opener's
    /// ([`SegmentFailure::HeaderMismatch`]); then the chunks are decrypted as
    /// in [`stream::decrypt_stream`], which states what `out` has received
    /// when an error is returned.
    pub fn open_stream(&self, blob: impl Read, out: impl Write) -> Result<u64> {
        self.open_buffered(stream::SealedReader::new(blob, HEADER_LEN), out)
    }

    /// [`SegmentOpener::open_stream`] from a buffered reader (a blob in
    /// memory as a `&[u8]`): every chunk that lies whole in the reader's
    /// buffer is decrypted from there, without a copy
    /// ([`stream::decrypt_stream`]).
    pub fn open_buffered(&self, mut blob: impl BufRead, mut out: impl Write) -> Result<u64> {
        let mut header = [0u8; HEADER_LEN];
        let n = stream::read_full(&mut blob, &mut header)
            .map_err(io_error("reading the segment header"))?;
        if n != HEADER_LEN || header[..] != self.header_bytes[..] {
            return Err(self.failure(SegmentFailure::HeaderMismatch));
        }
        let len = stream::decrypt_stream(&self.cipher, &mut blob, &mut out)?;
        out.flush().map_err(io_error("flushing plaintext"))?;
        Ok(len)
    }

    /// Decrypt plaintext bytes `start .. end` of a segment of `plaintext_len`
    /// bytes (from the signed record) to `out`, reading only the chunks that
    /// cover the range from `source` (the blob, addressed by blob offset).
    /// The chunk at index `⌈plaintext_len / 65 536⌉ − 1` is opened as the
    /// final chunk, so a record's length and the blob must agree. Returns
    /// the bytes written (`end − start`).
    pub fn read_range(
        &self,
        source: &mut impl RangeSource,
        plaintext_len: u64,
        start: u64,
        end: u64,
        out: &mut impl Write,
    ) -> Result<u64> {
        if start > end || end > plaintext_len || plaintext_len > MAX_PLAINTEXT_LEN {
            return Err(self.failure(SegmentFailure::RangeOutOfBounds {
                start,
                end,
                len: plaintext_len,
            }));
        }
        if start == end {
            return Ok(0);
        }
        let chunk = CHUNK_SIZE as u64;
        let last_chunk = stream::chunk_count(plaintext_len) - 1;
        let first = start / chunk;
        let last = (end - 1) / chunk;
        let mut buf = Zeroizing::new(vec![0u8; SEALED_CHUNK_LEN]);
        for index in first..=last {
            let len = stream::chunk_plaintext_len(plaintext_len, index);
            let offset = HEADER_LEN as u64 + index * SEALED_CHUNK_LEN as u64;
            let sealed = &mut buf[..len + TAG_LEN];
            source.read_exact_at(offset, sealed).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    self.failure(SegmentFailure::Truncated { chunks_read: index })
                } else {
                    Error::Io {
                        context: "reading a sealed chunk",
                        source: e,
                    }
                }
            })?;
            let (plain, tag) = stream::split_chunk(sealed);
            self.cipher
                .open_chunk(index, index == last_chunk, plain, &tag)?;
            let chunk_start = index * chunk;
            // Both bounds lie within this chunk, so they fit in usize.
            let from = (start.max(chunk_start) - chunk_start) as usize;
            let to = (end.min(chunk_start + len as u64) - chunk_start) as usize;
            out.write_all(&plain[from..to])
                .map_err(io_error("writing plaintext"))?;
        }
        Ok(end - start)
    }
}
