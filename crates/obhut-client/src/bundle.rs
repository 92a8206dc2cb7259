//! The evidence bundle's format (docs/bundle.md): names, the manifest, the
//! sample map, the content listing the disclosure signs, the C2SP
//! `tlog-proof` text, and the one derivation of a clean clip from the
//! bundled ciphertext and segment keys that both `obhut export` (to make
//! the clip) and `obhut verify` (to re-make and compare it) run, so the
//! clip a recipient gets is, byte for byte, what the signed ciphertext
//! gives.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path;

use obhut_core::meta_patch::{MetadataPatch, looks_like_patch};
use obhut_core::record::SegmentRecord;
use obhut_core::secret::Secret32;
use obhut_core::segment::{SegmentKind, SegmentOpener};
use obhut_log::Hash;
use obhut_media::plan_clip_with;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The manifest's `format`.
pub const FORMAT: &str = "obhut-export/v1";
/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The checkpoint every proof is against.
pub const CHECKPOINT: &str = "log/checkpoint";
/// Reserved for the chain-of-custody report (issue 19 item 3): its files
/// are listed in the manifest like any other, never in the content listing.
pub const REPORT_DIR: &str = "report";
/// First line of a C2SP tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// The directories whose files make up the content listing (what the
/// disclosure's digest covers): everything handed over but the log
/// material, which proves the disclosure and so cannot be inside it.
pub const CONTENT_DIRS: [&str; 6] = ["clips", "keys", "names", "records", "samples", "segments"];

/// A record's file.
pub fn record_path(rid: &str, index: u32) -> String {
    format!("records/{rid}/{index:06}.rec")
}
/// A segment's ciphertext (its blob, byte for byte).
pub fn segment_path(rid: &str, index: u32) -> String {
    format!("segments/{rid}/{index:06}.seg")
}
/// A recording's sample map.
pub fn samples_path(rid: &str) -> String {
    format!("samples/{rid}.json")
}
/// A recording's clip (`.age` appended when encrypted).
pub fn clip_path(rid: &str, encrypted: bool) -> String {
    format!("clips/{rid}.mp4{}", if encrypted { ".age" } else { "" })
}
/// A recording's segment keys (`.age` appended when encrypted).
pub fn keys_path(rid: &str, encrypted: bool) -> String {
    format!("keys/{rid}.keys{}", if encrypted { ".age" } else { "" })
}
/// The display-name claim (docs/format.md §3.5) of the person or device
/// whose Ed25519 key is `key`.
pub fn name_path(key: &[u8; 32]) -> String {
    format!("names/{}.name", hex::encode(key))
}
/// A log entry's bytes.
pub fn entry_path(index: u64) -> String {
    format!("log/{index}.entry")
}
/// A log entry's inclusion proof.
pub fn proof_path(index: u64) -> String {
    format!("log/{index}.tlog-proof")
}

/// `manifest.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The vault's identity (hex), as signed requests and decisions name it.
    pub vault: String,
    /// The audit log the proofs are for.
    pub log: LogInfo,
    /// The grant.
    pub request: RequestInfo,
    /// age recipients, or `["plaintext"]`.
    pub recipients: Vec<String>,
    /// Whether clips and keys are age-encrypted.
    pub encrypted: bool,
    /// The recordings exported.
    pub recordings: Vec<RecordingInfo>,
    /// Log index of the `disclosed` entry.
    pub disclosure_index: u64,
    /// SHA-256 of the content listing (hex), as the disclosure signs it.
    pub content_digest: String,
    /// Every file of the bundle but this one, sorted by path.
    pub files: Vec<FileInfo>,
}

/// The log, as the exporter trusted it (a verifier should pin its own).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogInfo {
    /// The checkpoint origin.
    pub origin: String,
    /// The log key (C2SP vkey).
    pub vkey: String,
    /// Witness keys (C2SP vkeys).
    pub witnesses: Vec<String>,
    /// Cosignatures required.
    pub witnesses_required: usize,
}

/// The grant an export is of.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RequestInfo {
    /// Request hash, hex.
    pub hash: String,
    /// Log index of its `access-requested` entry.
    pub index: u64,
}

/// One exported recording.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RecordingInfo {
    /// Recording id, hex.
    pub id: String,
    /// Its clip's path.
    pub clip: String,
    /// Its keys' path.
    pub keys: String,
    /// Its sample map's path.
    pub samples: String,
    /// The segments exported (indexes).
    pub segments: Vec<u32>,
}

/// One file and its hashes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileInfo {
    /// Path relative to the bundle, `/`-separated.
    pub path: String,
    /// Length in bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// BLAKE3 (plain hash mode), hex.
    pub blake3: String,
}

/// A recording's sample map: how the original file is laid out from the
/// exported segments, and where each byte of the clip comes from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SampleMap {
    /// Recording id, hex.
    pub recording: String,
    /// Length of the recording's media file.
    pub media_len: u64,
    /// The media window clipped (ms), `[start, end)`.
    pub window_ms: [u64; 2],
    /// The exported segments and where their plaintext sits.
    pub segments: Vec<MapSegment>,
    /// `free` box headers written over sealed spans (offset, hex).
    pub fill: Vec<Fill>,
    /// Length of the clip.
    pub clip_len: u64,
    /// Bytes of the clip made by the remux (`ftyp`, the C2PA box if any,
    /// `moov`, `mdat` header): `[0, head_len)`.
    pub head_len: u64,
    /// Length of the C2PA manifest box right after `ftyp` (0: none). Its
    /// bytes are the clip's own, not derived: a verifier takes them from
    /// the clip and derives the rest around them (docs/bundle.md §3).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub c2pa_len: u64,
    /// The rest of the clip, piece by piece, each a run of one segment's
    /// plaintext.
    pub pieces: Vec<Piece>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An exported segment in the sample map.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MapSegment {
    /// Segment index.
    pub index: u32,
    /// `media`, `index` or `metadata`.
    pub kind: String,
    /// Offset of its plaintext in the media file (media and index
    /// segments; 0 for metadata).
    pub offset: u64,
    /// Plaintext length (the record's).
    pub plaintext_len: u64,
    /// The record's signed ciphertext hash (BLAKE3, hex).
    pub ciphertext_hash: String,
}

/// Bytes written over the layout.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Fill {
    /// Offset in the media file.
    pub offset: u64,
    /// The bytes, hex.
    pub hex: String,
}

/// A run of clip bytes copied from one segment's plaintext.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Piece {
    /// Offset in the clip.
    pub clip_offset: u64,
    /// Length.
    pub len: u64,
    /// Segment index.
    pub segment: u32,
    /// Offset in that segment's plaintext.
    pub plaintext_offset: u64,
}

/// SHA-256 and BLAKE3 of a file, streamed.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, [u8; 32], [u8; 32])> {
    let mut f = File::open(path)?;
    let mut sha = Sha256::new();
    let mut b3 = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        sha.update(&buf[..k]);
        b3.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, sha.finalize().into(), *b3.finalize().as_bytes()))
}

/// Whether `path` (bundle-relative) is in the content listing.
pub fn is_content(path: &str) -> bool {
    CONTENT_DIRS
        .iter()
        .any(|d| path.strip_prefix(d).is_some_and(|r| r.starts_with('/')))
}

/// The content listing: `<sha256 hex>  <path>\n` for every content file,
/// sorted by path (the output of `sha256sum` run in the bundle), and its
/// SHA-256, which the disclosure signs.
pub fn content_listing(files: &[FileInfo]) -> (String, [u8; 32]) {
    let mut sorted: Vec<&FileInfo> = files.iter().filter(|f| is_content(&f.path)).collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let listing: String = sorted
        .iter()
        .map(|f| format!("{}  {}\n", f.sha256, f.path))
        .collect();
    let digest = Sha256::digest(listing.as_bytes()).into();
    (listing, digest)
}

/// A C2SP tlog-proof (no extra data).
pub fn tlog_proof(index: u64, proof: &[Hash], checkpoint: &[u8]) -> Vec<u8> {
    let mut out = format!("{TLOG_PROOF_HEADER}\nindex {index}\n");
    for h in proof {
        out.push_str(&h.to_base64());
        out.push('\n');
    }
    out.push('\n');
    let mut out = out.into_bytes();
    out.extend_from_slice(checkpoint);
    out
}

/// A parsed tlog-proof: index, proof hashes, the checkpoint's bytes.
pub type ParsedProof = (u64, Vec<Hash>, Vec<u8>);

/// Parse a C2SP tlog-proof; the reason it is malformed otherwise.
pub fn parse_tlog_proof(bytes: &[u8]) -> Result<ParsedProof, &'static str> {
    let split = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or("no empty line before the checkpoint")?;
    let head = std::str::from_utf8(&bytes[..split]).map_err(|_| "not UTF-8")?;
    let checkpoint = bytes[split + 2..].to_vec();
    let mut lines = head.split('\n');
    if lines.next() != Some(TLOG_PROOF_HEADER) {
        return Err("the first line is not c2sp.org/tlog-proof@v1");
    }
    let mut line = lines.next().ok_or("no index line")?;
    if line.starts_with("extra ") {
        line = lines.next().ok_or("no index line")?;
    }
    let index = line.strip_prefix("index ").ok_or("no index line")?;
    if index.is_empty() || (index.len() > 1 && index.starts_with('0')) {
        return Err("the index is not a decimal without leading zeroes");
    }
    let index: u64 = index
        .parse()
        .map_err(|_| "the index is not a decimal without leading zeroes")?;
    let proof = lines
        .map(|l| Hash::from_base64(l).ok_or("a proof line is not a base64 SHA-256 hash"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((index, proof, checkpoint))
}

/// The name of a segment kind in the sample map.
pub fn kind_name(kind: SegmentKind) -> &'static str {
    match kind {
        SegmentKind::Media => "media",
        SegmentKind::ContainerIndex => "index",
        SegmentKind::Metadata => "metadata",
    }
}

/// Why a clip could not be derived.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    /// A segment's key does not open it (commitment), or its ciphertext is
    /// not the signed one.
    #[error("segment {index}: {source}")]
    Segment {
        /// The segment.
        index: u32,
        /// Why.
        source: obhut_core::Error,
    },
    /// No key for an exported segment.
    #[error("segment {index}: no key in the bundle")]
    NoKey {
        /// The segment.
        index: u32,
    },
    /// A segment or fill lies outside the media file.
    #[error("the sample map's layout does not fit the media file: {0}")]
    Layout(String),
    /// The remux refused the laid-out file.
    #[error("no clip can be made: {0}")]
    Clip(obhut_media::MediaError),
    /// Reading or writing.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// An exported segment as the derivation takes it: its record, its
/// ciphertext file, and its offset in the media file.
#[derive(Debug)]
pub struct Exported<'a> {
    /// The device-signed record.
    pub record: &'a SegmentRecord,
    /// The bundled ciphertext.
    pub blob: &'a Path,
    /// Offset of its plaintext in the media file (media and index kinds).
    pub offset: u64,
}

/// The clip of one recording from its exported segments: each decrypted
/// with its key `K` (its ciphertext checked against the signed hash),
/// laid out at its offset in a scratch file of `media_len` bytes (zeros
/// elsewhere) with the `fill` headers, a metadata patch among them
/// applied, then remuxed for `window` (`obhut_media::plan_clip_with`,
/// `c2pa_box` after `ftyp`: empty, or the clip's C2PA manifest box) into
/// `out`. Returns the clip's head length and its pieces, each a run of one
/// segment's plaintext.
pub fn derive_clip(
    segments: &[Exported<'_>],
    keys: &BTreeMap<u32, Secret32>,
    media_len: u64,
    fill: &[(u64, Vec<u8>)],
    window: Range<u64>,
    c2pa_box: &[u8],
    out: &mut dyn Write,
) -> Result<(u64, Vec<Piece>), DeriveError> {
    let mut scratch = tempfile::tempfile()?;
    scratch.set_len(media_len)?;
    let mut present: Vec<(Range<u64>, u32)> = Vec::new();
    let mut patches = Vec::new();
    for s in segments {
        let index = s.record.segment_ref().index;
        let k = keys.get(&index).ok_or(DeriveError::NoKey { index })?;
        let bad = |source| DeriveError::Segment { index, source };
        let opener = SegmentOpener::from_segment_key(s.record.header(), k).map_err(bad)?;
        let blob = File::open(s.blob)?;
        let mut hashed = HashCheck::new(BufReader::new(blob));
        let len = s.record.plaintext_len();
        if s.record.header().fields.kind == SegmentKind::Metadata {
            let mut plain = Zeroizing::new(Vec::new());
            opener.open_stream(&mut hashed, &mut *plain).map_err(bad)?;
            hashed.check(s.record).map_err(bad)?;
            if looks_like_patch(&plain) {
                patches.push(plain);
            }
            continue;
        }
        if s.offset.checked_add(len).is_none_or(|end| end > media_len) {
            return Err(DeriveError::Layout(format!(
                "segment {index} at {} + {len} bytes ends past {media_len}",
                s.offset
            )));
        }
        scratch.seek(SeekFrom::Start(s.offset))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut scratch);
        opener.open_stream(&mut hashed, &mut w).map_err(bad)?;
        w.flush()?;
        drop(w);
        hashed.check(s.record).map_err(bad)?;
        present.push((s.offset..s.offset + len, index));
    }
    for plain in &patches {
        let patch = MetadataPatch::parse(plain)
            .and_then(|p| p.check_file_len(media_len).map(|()| p))
            .map_err(|e| DeriveError::Layout(format!("metadata patch: {e}")))?;
        for e in patch.entries() {
            scratch.seek(SeekFrom::Start(e.offset))?;
            scratch.write_all(e.data)?;
        }
    }
    for (at, bytes) in fill {
        if at
            .checked_add(bytes.len() as u64)
            .is_none_or(|end| end > media_len)
        {
            return Err(DeriveError::Layout(format!(
                "a fill at {at} ends past {media_len}"
            )));
        }
        scratch.seek(SeekFrom::Start(*at))?;
        scratch.write_all(bytes)?;
    }
    present.sort_by_key(|(r, _)| r.start);
    let ranges: Vec<Range<u64>> = present.iter().map(|(r, _)| r.clone()).collect();
    scratch.seek(SeekFrom::Start(0))?;
    let plan = plan_clip_with(
        &mut BufReader::new(&mut scratch),
        media_len,
        &ranges,
        window,
        c2pa_box,
    )
    .map_err(DeriveError::Clip)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
    w.write_all(&plan.head)?;
    let mut pieces = Vec::new();
    let mut at = plan.head.len() as u64;
    for copy in &plan.copies {
        // Split the copy where it crosses from one segment into the next.
        let mut pos = copy.start;
        while pos < copy.end {
            let Some((r, index)) = present.iter().find(|(r, _)| r.start <= pos && pos < r.end)
            else {
                return Err(DeriveError::Layout(format!(
                    "the remux copies byte {pos}, which no exported segment holds"
                )));
            };
            let end = copy.end.min(r.end);
            pieces.push(Piece {
                clip_offset: at,
                len: end - pos,
                segment: *index,
                plaintext_offset: pos - r.start,
            });
            at += end - pos;
            pos = end;
        }
        scratch.seek(SeekFrom::Start(copy.start))?;
        let want = copy.end - copy.start;
        let n = std::io::copy(&mut (&mut scratch).take(want), &mut w)?;
        if n != want {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    w.flush()?;
    Ok((plan.head.len() as u64, pieces))
}

/// Hashes what the opener reads, so the ciphertext is checked against the
/// record's signed length and BLAKE3 hash after decryption.
struct HashCheck<R> {
    inner: R,
    hasher: blake3::Hasher,
    read: u64,
}

impl<R: Read> HashCheck<R> {
    fn new(inner: R) -> Self {
        HashCheck {
            inner,
            hasher: obhut_core::segment::ciphertext_hasher(),
            read: 0,
        }
    }

    fn check(&mut self, record: &SegmentRecord) -> obhut_core::Result<()> {
        // Anything after the last chunk is part of the blob too.
        let mut rest = Vec::new();
        self.read_to_end(&mut rest)
            .map_err(|source| obhut_core::Error::Io {
                context: "reading a bundled segment",
                source,
            })?;
        let segment = record.segment_ref();
        if self.read != record.blob_len() {
            return Err(obhut_core::Error::Segment {
                segment,
                failure: obhut_core::error::SegmentFailure::LengthMismatch {
                    field: "blob length",
                    expected: record.blob_len(),
                    found: self.read,
                },
            });
        }
        if self.hasher.finalize().as_bytes() != record.ciphertext_hash() {
            return Err(obhut_core::Error::Segment {
                segment,
                failure: obhut_core::error::SegmentFailure::HashMismatch,
            });
        }
        Ok(())
    }
}

impl<R: Read> Read for HashCheck<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// The segment keys file: `<index> <K hex>\n` per segment, in index order.
pub fn keys_text(keys: &BTreeMap<u32, Secret32>) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::new());
    for (i, k) in keys {
        s.push_str(&format!("{i} {}\n", hex::encode(k.expose())));
    }
    s
}

/// Parse a keys file; the line number of the first malformed line.
pub fn parse_keys(text: &str) -> Result<BTreeMap<u32, Secret32>, usize> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let (i, k) = line.split_once(' ').ok_or(n + 1)?;
        let i: u32 = i.parse().map_err(|_| n + 1)?;
        let mut b = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(k, &mut b[..]).map_err(|_| n + 1)?;
        if out.insert(i, Secret32::new(*b)).is_some() {
            return Err(n + 1);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tlog_proof_round_trips_and_strangers_are_refused() {
        let h = Hash([7; 32]);
        let cp = b"origin\n5\nAAAA\n\n\xe2\x80\x94 origin sig\n";
        let p = tlog_proof(3, &[h, h], cp);
        assert_eq!(parse_tlog_proof(&p).unwrap(), (3, vec![h, h], cp.to_vec()));
        let p0 = tlog_proof(0, &[], cp);
        assert_eq!(parse_tlog_proof(&p0).unwrap().0, 0);
        for bad in [
            &b"c2sp.org/tlog-proof@v2\nindex 1\n\nx"[..],
            b"c2sp.org/tlog-proof@v1\nindex 01\n\nx",
            b"c2sp.org/tlog-proof@v1\nindex 1\nnot-base64\n\nx",
            b"c2sp.org/tlog-proof@v1\nindex 1",
        ] {
            assert!(parse_tlog_proof(bad).is_err());
        }
    }

    #[test]
    fn keys_round_trip() {
        let mut keys = BTreeMap::new();
        keys.insert(3, Secret32::new([1; 32]));
        keys.insert(9, Secret32::new([2; 32]));
        let text = keys_text(&keys);
        let back = parse_keys(&text).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[&9].expose(), &[2; 32]);
        assert_eq!(parse_keys("3 zz\n").err(), Some(1));
    }
}
