//! The one scope assembler: the segments of a grant, decrypted and laid
//! out as a file. `obhut open` calls it with ciphertext from the vault;
//! where the ciphertext comes from is a [`Blobs`] (tests and benchmarks
//! also pass the device's own), how it is laid out a [`Layout`]. MP4 hole
//! headers come from `obhut-media` ([`CutPlan::hole_headers`]).

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};

use obhut_core::access::GrantKeys;
use obhut_core::blob_tree::VerifiedTree;
use obhut_core::meta_patch::{MAX_PATCH_BYTES, MetadataPatch, looks_like_patch};
use obhut_core::record::SegmentRecord;
use obhut_core::segment::{FnSource, RangeSource, SegmentKind};
use obhut_media::{Cut, CutKind, CutPlan};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::reader::Reader;
use crate::scope::{Resolved, is_media};

/// How the media segments in scope are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// As the original file: every segment in scope at its original
    /// offset, zeros (a sparse hole) where segments stay sealed, with the
    /// `free` box headers `obhut-media` places so that a player reading
    /// the container index plays the scope; the original's length. A whole
    /// recording gives a byte-identical copy.
    Original,
    /// The segments in scope back to back, in order. A whole recording
    /// gives a byte-identical copy.
    Packed,
}

/// Where the ciphertext of a segment comes from.
pub trait Blobs {
    /// The whole blob of `record`'s segment.
    fn whole(&mut self, record: &SegmentRecord) -> Result<Box<dyn Read + '_>>;
    /// Random access to the blob of `record`'s segment (range reads).
    fn ranged(&mut self, record: &SegmentRecord) -> Result<Box<dyn RangeSource + '_>>;
}

/// Told about progress while assembling.
pub trait Progress {
    /// `n` more plaintext bytes written.
    fn bytes(&mut self, n: u64) {
        let _ = n;
    }
    /// A segment opened.
    fn opened(&mut self, record: &SegmentRecord) {
        let _ = record;
    }
}

impl Progress for () {}

/// What [`assemble`] or [`assemble_range`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Assembled {
    /// Media (and container-index) segments opened.
    pub media_segments: u32,
    /// Metadata segments opened (sidecars and the metadata patch).
    pub metadata_segments: u32,
    /// Metadata segments written to the metadata output (sidecars).
    pub metadata_written: u32,
    /// Whether the recording's metadata patch (docs/format.md §7.4) was
    /// applied to the media output.
    pub patched: bool,
    /// Plaintext bytes written to the media output.
    pub bytes: u64,
}

impl Assembled {
    /// All segments opened.
    pub fn segments(&self) -> u32 {
        self.media_segments + self.metadata_segments
    }
}

/// Counts what goes through to the progress.
struct Counting<'p, W> {
    inner: W,
    progress: &'p mut dyn Progress,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.bytes(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn open_whole(
    keys: &GrantKeys,
    blobs: &mut impl Blobs,
    r: &SegmentRecord,
    out: impl Write,
) -> Result<()> {
    let blob = blobs.whole(r)?;
    keys.open_segment(r, blob, out)
        .map_err(|source| Error::Segment {
            segment: r.segment_ref(),
            source,
        })?;
    Ok(())
}

/// Opens a covered metadata segment: a metadata patch (docs/format.md
/// §7.4) is returned, checked, to be applied to the media; anything else
/// (a sidecar) goes to `metadata` if given. A segment too large to be a
/// patch is a sidecar and streams through.
fn open_metadata<W: Write + ?Sized>(
    keys: &GrantKeys,
    blobs: &mut impl Blobs,
    r: &SegmentRecord,
    media_len: u64,
    metadata: Option<&mut W>,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    if r.plaintext_len() > MAX_PATCH_BYTES {
        if let Some(m) = metadata {
            open_whole(keys, blobs, r, m)?;
        }
        return Ok(None);
    }
    let mut plain = Zeroizing::new(Vec::new());
    open_whole(keys, blobs, r, &mut *plain)?;
    if !looks_like_patch(&plain) {
        if let Some(m) = metadata {
            m.write_all(&plain).map_err(Error::Write)?;
        }
        return Ok(None);
    }
    let bad = |source| Error::MetadataPatch {
        segment: r.segment_ref(),
        source,
    };
    MetadataPatch::parse(&plain)
        .and_then(|p| p.check_file_len(media_len))
        .map_err(bad)?;
    Ok(Some(plain))
}

/// Decrypt the segments of `rec` in scope into `media` in `layout`, and
/// its metadata segments (if in scope): a metadata patch is applied to
/// the media (giving back the camera's file where the layout is the
/// original's), a sidecar goes into `metadata` (if given). On error the
/// outputs hold partial plaintext: discard them.
pub fn assemble(
    keys: &GrantKeys,
    rec: &Resolved,
    layout: Layout,
    blobs: &mut impl Blobs,
    media: &mut File,
    mut metadata: Option<&mut dyn Write>,
    progress: &mut dyn Progress,
) -> Result<Assembled> {
    let mut done = Assembled::default();
    let mut offset = 0u64;
    let media_len: u64 = rec
        .records
        .iter()
        .filter(|r| is_media(r))
        .map(SegmentRecord::plaintext_len)
        .sum();
    let all_media = rec
        .records
        .iter()
        .enumerate()
        .all(|(i, r)| !is_media(r) || rec.in_scope.contains(&i));
    let mut patches = Vec::new();
    {
        // One buffered writer for the packed layout, one per segment (after
        // a seek) for the original one.
        let mut packed = BufWriter::with_capacity(1 << 20, &mut *media);
        for (i, r) in rec.records.iter().enumerate() {
            let covered = rec.in_scope.contains(&i);
            if !is_media(r) {
                if covered {
                    let had = metadata.is_some();
                    match open_metadata(keys, blobs, r, media_len, metadata.as_deref_mut())? {
                        Some(patch) => patches.push(patch),
                        None if had => done.metadata_written += 1,
                        None => continue,
                    }
                    done.metadata_segments += 1;
                    progress.opened(r);
                }
                continue;
            }
            if covered {
                match layout {
                    Layout::Packed => {
                        let w = Counting {
                            inner: &mut packed,
                            progress: &mut *progress,
                        };
                        open_whole(keys, blobs, r, w)?;
                    }
                    Layout::Original => {
                        let f = packed.get_mut();
                        f.seek(SeekFrom::Start(offset)).map_err(Error::Write)?;
                        let mut w = Counting {
                            inner: BufWriter::with_capacity(1 << 20, &mut **f),
                            progress: &mut *progress,
                        };
                        open_whole(keys, blobs, r, &mut w)?;
                        w.flush().map_err(Error::Write)?;
                    }
                }
                done.media_segments += 1;
                done.bytes += r.plaintext_len();
                progress.opened(r);
            }
            offset += r.plaintext_len();
        }
        packed.flush().map_err(Error::Write)?;
    }
    if layout == Layout::Original {
        // Sealed segments at the end still count for the original's length.
        media.set_len(offset).map_err(Error::Write)?;
        apply_patches(&patches, media)?;
        done.patched = !patches.is_empty();
        for (at, header) in hole_headers(rec) {
            media
                .seek(SeekFrom::Start(at))
                .and_then(|_| media.write_all(&header))
                .map_err(Error::Write)?;
        }
    }
    if layout == Layout::Packed && all_media {
        // Every media segment back to back is the original layout.
        apply_patches(&patches, media)?;
        done.patched = !patches.is_empty();
    }
    Ok(done)
}

/// Writes each entry of the (checked) metadata patches at its offset.
fn apply_patches(patches: &[Zeroizing<Vec<u8>>], media: &mut File) -> Result<()> {
    for plain in patches {
        // Checked in `open_metadata`.
        let Ok(patch) = MetadataPatch::parse(plain) else {
            continue;
        };
        for e in patch.entries() {
            media
                .seek(SeekFrom::Start(e.offset))
                .and_then(|_| media.write_all(e.data))
                .map_err(Error::Write)?;
        }
    }
    Ok(())
}

/// The `free` box headers of the original layout: `obhut-media`'s, for
/// the plan rebuilt from the records (the requester has no file to plan;
/// `CutPlan::from_cuts` says how the layout is told from the cuts).
pub fn hole_headers(rec: &Resolved) -> Vec<(u64, Vec<u8>)> {
    let mut cuts = Vec::new();
    let mut selected = Vec::new();
    let mut offset = 0u64;
    for (i, r) in rec.records.iter().enumerate().filter(|(_, r)| is_media(r)) {
        let f = &r.header().fields;
        let len = r.plaintext_len();
        if rec.in_scope.contains(&i) {
            selected.push(cuts.len());
        }
        cuts.push(Cut {
            range: offset..offset + len,
            kind: if f.kind == SegmentKind::ContainerIndex {
                CutKind::ContainerIndex
            } else {
                CutKind::Media
            },
            media_start_ms: f.media_start_ms,
            media_end_ms: f.media_end_ms,
        });
        offset += len;
    }
    CutPlan::from_cuts(cuts).hole_headers(&selected)
}

/// The media segments of `rec` that bytes `[start, end)` (`end`: the
/// media's end if `None`) touch, each with its own `[start, end)`; refused
/// unless the whole range lies in segments in scope.
pub fn check_range(
    rec: &Resolved,
    start: u64,
    end: Option<u64>,
) -> Result<Vec<(&SegmentRecord, u64, u64)>> {
    let mut offset = 0u64;
    let mut spans = Vec::new();
    for (i, r) in rec.records.iter().enumerate().filter(|(_, r)| is_media(r)) {
        spans.push((rec.in_scope.contains(&i), r, offset));
        offset += r.plaintext_len();
    }
    let len = offset;
    let end = end.unwrap_or(len);
    if start >= len || end > len {
        return Err(Error::RangeOutside { start, end, len });
    }
    let wanted: Vec<_> = spans
        .iter()
        .filter(|(_, r, s)| s + r.plaintext_len() > start && *s < end)
        .collect();
    if let Some((_, r, s)) = wanted.iter().find(|(covered, ..)| !covered) {
        return Err(Error::RangeNotCovered {
            start: start.max(*s),
            end: end.min(s + r.plaintext_len()),
            segment: r.segment_ref().index,
            covered: spans
                .iter()
                .filter(|(covered, ..)| *covered)
                .map(|(_, r, s)| (*s, s + r.plaintext_len()))
                .collect(),
        });
    }
    Ok(wanted
        .into_iter()
        .map(|(_, r, s)| (*r, start.max(*s) - s, end.min(s + r.plaintext_len()) - s))
        .collect())
}

/// Writes through, with the metadata patches' bytes laid over the file's
/// bytes from `pos` on.
struct Patching<'p, W> {
    inner: W,
    pos: u64,
    patches: &'p [MetadataPatch<'p>],
}

impl<W: Write> Write for Patching<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = if self.patches.is_empty() {
            self.inner.write(buf)?
        } else {
            let mut b = Zeroizing::new(buf[..buf.len().min(1 << 16)].to_vec());
            for p in self.patches {
                p.apply_window(self.pos, &mut b);
            }
            self.inner.write_all(&b)?;
            b.len()
        };
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypt bytes `[start, end)` (`end`: the media's end if `None`) of the
/// media of `rec` into `out`, reading only the chunks that cover them,
/// with the recording's metadata in place if its metadata patch is in
/// scope (docs/format.md §7.4). The whole range must lie in segments in
/// scope ([`check_range`]); that is checked before anything is read.
pub fn assemble_range(
    keys: &GrantKeys,
    rec: &Resolved,
    start: u64,
    end: Option<u64>,
    blobs: &mut impl Blobs,
    out: &mut dyn Write,
    progress: &mut dyn Progress,
) -> Result<Assembled> {
    let wanted = check_range(rec, start, end)?;
    let mut done = Assembled::default();
    let media_len: u64 = rec
        .records
        .iter()
        .filter(|r| is_media(r))
        .map(SegmentRecord::plaintext_len)
        .sum();
    let mut plains = Vec::new();
    for (i, r) in rec.records.iter().enumerate() {
        if !is_media(r) && rec.in_scope.contains(&i) {
            let none: Option<&mut dyn Write> = None;
            if let Some(plain) = open_metadata(keys, blobs, r, media_len, none)? {
                plains.push(plain);
                done.metadata_segments += 1;
                progress.opened(r);
            }
        }
    }
    // Checked in `open_metadata`.
    let patches: Vec<MetadataPatch<'_>> = plains
        .iter()
        .filter_map(|p| MetadataPatch::parse(p).ok())
        .collect();
    done.patched = !patches.is_empty();
    let mut w = Counting {
        inner: Patching {
            inner: BufWriter::new(out),
            pos: start,
            patches: &patches,
        },
        progress,
    };
    for (r, a, b) in wanted {
        let mut source = blobs.ranged(r)?;
        let mut source = FnSource(|at: u64, buf: &mut [u8]| source.read_exact_at(at, buf));
        keys.read_range(r, &mut source, a, b, &mut w)
            .map_err(|source| Error::Segment {
                segment: r.segment_ref(),
                source,
            })?;
        done.media_segments += 1;
        done.bytes += b - a;
        w.progress.opened(r);
    }
    w.flush().map_err(Error::Write)?;
    Ok(done)
}

/// Ciphertext from the vault: each blob streamed, ranges as HTTP Range
/// requests.
#[derive(Debug)]
pub struct VaultBlobs<'r, 'k>(pub &'r Reader<'k>);

impl Blobs for VaultBlobs<'_, '_> {
    fn whole(&mut self, r: &SegmentRecord) -> Result<Box<dyn Read + '_>> {
        let seg = r.segment_ref();
        Ok(self.0.blob(seg.recording, seg.index, None)?)
    }

    /// Each read fetches the whole 16 KiB groups around it and checks them
    /// against the record's signed `ciphertext_hash` through the blob's group
    /// tree (docs/format.md §6.5) before a byte is decrypted: AES-GCM tags
    /// alone would accept chunks forged by anyone holding the segment key
    /// (a past grantee, with the vault).
    fn ranged(&mut self, r: &SegmentRecord) -> Result<Box<dyn RangeSource + '_>> {
        let seg = r.segment_ref();
        let tree_bytes = self.0.blob_tree(seg.recording, seg.index)?;
        let tree =
            VerifiedTree::check(r.blob_len(), r.ciphertext_hash(), &tree_bytes).map_err(|e| {
                Error::Forged {
                    segment: seg,
                    source: e,
                }
            })?;
        let reader = self.0;
        Ok(Box::new(FnSource(
            move |at: u64, buf: &mut [u8]| -> std::io::Result<()> {
                let end = at + buf.len() as u64;
                let (from, to) = tree.cover(at, end);
                if to < end {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                let mut groups = Vec::with_capacity((to - from) as usize);
                reader
                    .blob(seg.recording, seg.index, Some((from, to)))
                    .map_err(|e| std::io::Error::other(e.to_string()))?
                    .take(to - from)
                    .read_to_end(&mut groups)?;
                tree.check_groups(from, &groups).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{seg}: {e}"))
                })?;
                let skip = (at - from) as usize;
                buf.copy_from_slice(&groups[skip..skip + buf.len()]);
                Ok(())
            },
        )))
    }
}
