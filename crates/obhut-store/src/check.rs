//! The operator's full check (`obhut check`, docs/vault.md §6.1), written
//! against the traits: every index row against its blob (present, as long
//! as its signed record says, with the record's BLAKE3), every blob
//! against a row, and the stored audit-log tree against its latest signed
//! checkpoint. Memory stays bounded: one blob is streamed through one
//! buffer at a time, and the log is folded into a compact range.

use std::collections::BTreeSet;
use std::fmt;

use obhut_core::record::SegmentRecord;
use obhut_core::segment::ciphertext_hasher;
use obhut_log::{Checkpoint, CompactRange, Hash, Note};
use tokio::io::AsyncReadExt;

use crate::{BlobKey, BlobStore, IndexStore, LogStore, Result};

/// Bytes read per step while hashing a blob.
const BUF: usize = 256 * 1024;
/// Leaf hashes read per query while folding the log.
const LEAVES_PER_QUERY: u32 = 1000;
/// Hashes per stored tile (C2SP tlog-tiles).
const TILE_WIDTH: u64 = 256;

/// One disagreement [`check_store`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// An index row whose blob is absent (data loss).
    MissingBlob(BlobKey),
    /// A blob without an index row (a crash between publish and commit,
    /// or a file put there by hand).
    OrphanBlob(BlobKey),
    /// The blob is shorter than its record says (truncated).
    ShortBlob {
        /// The segment.
        key: BlobKey,
        /// Length from the signed record.
        expected: u64,
        /// Bytes stored.
        got: u64,
    },
    /// The blob is longer than its record says.
    LongBlob {
        /// The segment.
        key: BlobKey,
        /// Length from the signed record.
        expected: u64,
        /// Bytes stored.
        got: u64,
    },
    /// The blob's BLAKE3 differs from its record's `ciphertext_hash`.
    HashMismatch(BlobKey),
    /// The stored record does not parse, its device signature fails, or
    /// it names another segment than its row.
    BadRecord {
        /// The segment (of the row).
        key: BlobKey,
        /// Why.
        reason: String,
    },
    /// The stored audit log disagrees with its latest signed checkpoint.
    Log(String),
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seg = |f: &mut fmt::Formatter<'_>, k: &BlobKey| {
            write!(f, "recording {} segment {}: ", k.recording, k.index)
        };
        match self {
            Finding::MissingBlob(k) => {
                seg(f, k)?;
                f.write_str("blob is missing (the index has its row)")
            }
            Finding::OrphanBlob(k) => {
                seg(f, k)?;
                f.write_str("blob has no index row (orphan)")
            }
            Finding::ShortBlob { key, expected, got } => {
                seg(f, key)?;
                write!(
                    f,
                    "stored blob is shorter than its record ({got} of {expected} bytes)"
                )
            }
            Finding::LongBlob { key, expected, got } => {
                seg(f, key)?;
                write!(
                    f,
                    "stored blob is longer than its record ({got}, record says {expected} bytes)"
                )
            }
            Finding::HashMismatch(k) => {
                seg(f, k)?;
                f.write_str("stored blob does not match its record's BLAKE3 (changed bytes)")
            }
            Finding::BadRecord { key, reason } => {
                seg(f, key)?;
                write!(f, "stored record is not valid: {reason}")
            }
            Finding::Log(what) => write!(f, "audit log: {what}"),
        }
    }
}

impl Finding {
    /// A short machine name of the finding (for `--json`).
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::MissingBlob(_) => "missing-blob",
            Finding::OrphanBlob(_) => "orphan-blob",
            Finding::ShortBlob { .. } => "short-blob",
            Finding::LongBlob { .. } => "long-blob",
            Finding::HashMismatch(_) => "hash-mismatch",
            Finding::BadRecord { .. } => "bad-record",
            Finding::Log(_) => "log",
        }
    }

    /// The segment concerned, if any.
    pub fn key(&self) -> Option<BlobKey> {
        match self {
            Finding::MissingBlob(k) | Finding::OrphanBlob(k) | Finding::HashMismatch(k) => Some(*k),
            Finding::ShortBlob { key, .. }
            | Finding::LongBlob { key, .. }
            | Finding::BadRecord { key, .. } => Some(*key),
            Finding::Log(_) => None,
        }
    }
}

/// What [`check_store`] looked at and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Index rows checked.
    pub segments: u64,
    /// Blob bytes hashed.
    pub bytes_hashed: u64,
    /// Audit-log entries folded (the latest checkpoint's size).
    pub log_entries: u64,
    /// Every disagreement, rows first (in key order), then orphans, then
    /// the log.
    pub findings: Vec<Finding>,
}

/// The full check. Read-only; run it on stores no vault writes to (an
/// upload between the listing of blobs and of rows would look like an
/// orphan).
pub async fn check_store(index: &impl IndexStore, blobs: &impl BlobStore) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let stored: BTreeSet<BlobKey> = blobs.list().await?.into_iter().collect();
    let rows: BTreeSet<BlobKey> = index
        .segment_keys()
        .await?
        .into_iter()
        .map(|(recording, index)| BlobKey { recording, index })
        .collect();
    let mut buf = vec![0u8; BUF];
    for key in &rows {
        report.segments += 1;
        if let Some(f) = check_segment(index, blobs, *key, &mut buf, &mut report).await? {
            report.findings.push(f);
        }
    }
    report
        .findings
        .extend(stored.difference(&rows).map(|k| Finding::OrphanBlob(*k)));
    let (entries, log) = check_log(index).await?;
    report.log_entries = entries;
    report.findings.extend(log.into_iter().map(Finding::Log));
    Ok(report)
}

/// One row against its record and blob.
async fn check_segment(
    index: &impl IndexStore,
    blobs: &impl BlobStore,
    key: BlobKey,
    buf: &mut [u8],
    report: &mut CheckReport,
) -> Result<Option<Finding>> {
    let Some(row) = index.segment(key.recording, key.index).await? else {
        // Gone since the listing: nothing to compare.
        return Ok(None);
    };
    // Presence first: a row whose blob is gone is data loss whatever its
    // record says.
    let Some(got) = blobs.len(key).await? else {
        return Ok(Some(Finding::MissingBlob(key)));
    };
    let bad = |reason: String| Ok(Some(Finding::BadRecord { key, reason }));
    let record = match SegmentRecord::from_bytes(&row.record) {
        Ok(r) => r,
        Err(e) => return bad(e.to_string()),
    };
    let named = record.segment_ref();
    if named.recording != key.recording || named.index != key.index {
        return bad(format!("it names {named}"));
    }
    let expected = record.blob_len();
    if got < expected {
        return Ok(Some(Finding::ShortBlob { key, expected, got }));
    }
    if got > expected {
        return Ok(Some(Finding::LongBlob { key, expected, got }));
    }
    let mut reader = blobs.get_range(key, 0, got).await?;
    let mut hasher = ciphertext_hasher();
    let mut read: u64 = 0;
    loop {
        let n = reader
            .read(buf)
            .await
            .map_err(|source| crate::StoreError::Io {
                op: "reading the blob of",
                path: format!("{}/{}", key.recording, key.index).into(),
                source,
            })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        read += n as u64;
    }
    report.bytes_hashed += read;
    if read != expected {
        return Ok(Some(Finding::ShortBlob {
            key,
            expected,
            got: read,
        }));
    }
    if hasher.finalize().as_bytes() != record.ciphertext_hash() {
        return Ok(Some(Finding::HashMismatch(key)));
    }
    Ok(None)
}

/// Fold the sequenced leaf hashes up to the latest checkpoint's size:
/// the root must be the checkpoint's, and every stored tile hash the one
/// the fold computes. Returns the size and what disagreed. The
/// checkpoint's signature is not checked here (the log key lives in the
/// keystore); `obhut audit verify` checks it from outside.
pub(crate) async fn check_log(index: &impl LogStore) -> Result<(u64, Vec<String>)> {
    let mut out = Vec::new();
    let Some(cp) = index.log_checkpoint().await? else {
        return Ok((0, out));
    };
    let parsed = Note::parse(&cp.note)
        .ok()
        .and_then(|n| Checkpoint::parse_text(n.text()).ok());
    let Some(signed) = parsed else {
        out.push(format!(
            "the latest checkpoint (size {}) does not parse",
            cp.size
        ));
        return Ok((cp.size, out));
    };
    if signed.size != cp.size {
        out.push(format!(
            "the latest checkpoint says size {} but is stored as size {}",
            signed.size, cp.size
        ));
    }
    let mut tree = CompactRange::new();
    let mut tiles = TileCache::default();
    let mut bad_tiles: BTreeSet<(u8, u64)> = BTreeSet::new();
    while tree.size() < cp.size {
        let from = tree.size();
        let want = u32::try_from((cp.size - from).min(u64::from(LEAVES_PER_QUERY)))
            .unwrap_or(LEAVES_PER_QUERY);
        let leaves = index.log_leaf_hashes(from, want).await?;
        if leaves.is_empty() {
            out.push(format!(
                "entries from {from} are missing below the checkpoint's size {}",
                cp.size
            ));
            return Ok((cp.size, out));
        }
        for leaf in leaves {
            let mut visited = Vec::new();
            tree.append_visit(Hash(leaf), |level, i, h| {
                if level % 8 == 0 {
                    visited.push((level / 8, i, *h));
                }
            });
            for (tile_level, i, h) in visited {
                let tile = (tile_level, i / TILE_WIDTH);
                if bad_tiles.contains(&tile) {
                    continue;
                }
                if tiles.hash(index, tile, i % TILE_WIDTH).await? != Some(h) {
                    bad_tiles.insert(tile);
                    out.push(format!(
                        "stored tile {}/{} disagrees with the entries' hashes",
                        tile.0, tile.1
                    ));
                }
            }
        }
    }
    if tree.root() != signed.root {
        out.push(format!(
            "the entries do not hash to the latest checkpoint's root (size {})",
            cp.size
        ));
    }
    Ok((cp.size, out))
}

/// The last tile read per level (the fold walks each level left to right).
#[derive(Default)]
struct TileCache {
    tiles: Vec<Option<(u64, Vec<u8>)>>,
}

impl TileCache {
    async fn hash(
        &mut self,
        index: &impl LogStore,
        (level, n): (u8, u64),
        at: u64,
    ) -> Result<Option<Hash>> {
        let l = usize::from(level);
        if self.tiles.len() <= l {
            self.tiles.resize(l + 1, None);
        }
        if self.tiles[l].as_ref().is_none_or(|(m, _)| *m != n) {
            let t = index.log_tile(level, n).await?.unwrap_or_default();
            self.tiles[l] = Some((n, t));
        }
        let Some((_, t)) = &self.tiles[l] else {
            return Ok(None);
        };
        let start = usize::try_from(at * 32).unwrap_or(usize::MAX);
        Ok(t.get(start..start.saturating_add(32))
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(Hash))
    }
}
