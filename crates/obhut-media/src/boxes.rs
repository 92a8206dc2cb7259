//! A minimal ISO BMFF (ISO/IEC 14496-12) box reader: box headers from a
//! `Read + Seek` at the top level, and in-memory child iteration and field
//! reading for the boxes the planner needs. Every size is checked against
//! the space its parent (or the file) has left before it is used.

use std::io::{Read, Seek, SeekFrom};

use crate::error::{FourCc, MediaError};
use crate::limits::{MAX_INDEX_BOX_BYTES, MAX_TOP_LEVEL_BOXES};

/// Box types that may open an ISO BMFF file; anything else is not MP4.
const FIRST_BOX_TYPES: &[&[u8; 4]] = &[
    b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"meta", b"moof",
    b"sidx",
];

/// A top-level box: where it starts and ends in the file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TopBox {
    pub fourcc: FourCc,
    pub start: u64,
    pub end: u64,
}

impl TopBox {
    pub fn is(&self, t: &[u8; 4]) -> bool {
        self.fourcc.0 == *t
    }
}

pub(crate) fn read_at(
    src: &mut (impl Read + Seek),
    offset: u64,
    buf: &mut [u8],
) -> Result<(), MediaError> {
    let io = |source| MediaError::Io {
        offset,
        len: buf.len() as u64,
        source,
    };
    src.seek(SeekFrom::Start(offset)).map_err(io)?;
    src.read_exact(buf).map_err(|source| MediaError::Io {
        offset,
        len: buf.len() as u64,
        source,
    })
}

/// Does the source open like an ISO BMFF file? (A well-formed first box
/// header of a known top-level type.)
pub(crate) fn looks_like_mp4(src: &mut (impl Read + Seek), len: u64) -> Result<bool, MediaError> {
    if len < 8 {
        return Ok(false);
    }
    let mut h = [0u8; 8];
    read_at(src, 0, &mut h)?;
    let size = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let t: [u8; 4] = [h[4], h[5], h[6], h[7]];
    Ok(FIRST_BOX_TYPES.iter().any(|k| **k == t) && (size == 0 || size == 1 || size >= 8))
}

/// Walks the top-level boxes of `0..len`.
pub(crate) fn top_level(src: &mut (impl Read + Seek), len: u64) -> Result<Vec<TopBox>, MediaError> {
    let mut boxes = Vec::new();
    let mut pos = 0u64;
    while pos < len {
        let left = len - pos;
        if left < 8 {
            return Err(MediaError::malformed(
                FourCc::FILE,
                pos,
                format!("{left} trailing bytes are too short for a box header"),
            ));
        }
        if boxes.len() >= MAX_TOP_LEVEL_BOXES {
            return Err(MediaError::Limit {
                fourcc: FourCc::FILE,
                offset: 0,
                what: "number of top-level boxes",
                value: boxes.len() as u64 + 1,
                limit: MAX_TOP_LEVEL_BOXES as u64,
            });
        }
        let mut h = [0u8; 16];
        read_at(src, pos, &mut h[..8])?;
        let fourcc = FourCc([h[4], h[5], h[6], h[7]]);
        let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let size = match size32 {
            0 => left,
            1 => {
                if left < 16 {
                    return Err(MediaError::malformed(
                        fourcc,
                        pos,
                        "64-bit size field runs past the end of the file",
                    ));
                }
                read_at(src, pos + 8, &mut h[8..16])?;
                let s = u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
                if s < 16 {
                    return Err(MediaError::malformed(
                        fourcc,
                        pos,
                        format!("64-bit size {s} is smaller than its 16-byte header"),
                    ));
                }
                s
            }
            s => u64::from(s),
        };
        if size < 8 {
            return Err(MediaError::malformed(
                fourcc,
                pos,
                format!("size {size} is smaller than its 8-byte header"),
            ));
        }
        if size > left {
            return Err(MediaError::malformed(
                fourcc,
                pos,
                format!("size {size} runs past the end of the file ({left} bytes left)"),
            ));
        }
        boxes.push(TopBox {
            fourcc,
            start: pos,
            end: pos + size,
        });
        pos += size;
    }
    Ok(boxes)
}

/// Reads a whole top-level box (header included) into memory, refusing
/// boxes above [`MAX_INDEX_BOX_BYTES`].
pub(crate) fn load(src: &mut (impl Read + Seek), b: &TopBox) -> Result<Vec<u8>, MediaError> {
    let size = b.end - b.start;
    if size > MAX_INDEX_BOX_BYTES {
        return Err(MediaError::Limit {
            fourcc: b.fourcc,
            offset: b.start,
            what: "box size",
            value: size,
            limit: MAX_INDEX_BOX_BYTES,
        });
    }
    // `size` is bounded by the file length (checked by `top_level`) and
    // by the limit above, so this allocation is bounded too.
    let mut buf = vec![0u8; size as usize];
    read_at(src, b.start, &mut buf)?;
    Ok(buf)
}

/// A box held in memory: its type, absolute offset and payload (after the
/// header).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bx<'a> {
    pub fourcc: FourCc,
    pub offset: u64,
    header: usize,
    pub payload: &'a [u8],
}

impl<'a> Bx<'a> {
    /// Parses the box that fills `buf` exactly (a loaded top-level box).
    pub fn whole(buf: &'a [u8], offset: u64) -> Result<Bx<'a>, MediaError> {
        let mut it = Children::new(buf, offset, FourCc::FILE, offset);
        match it.next() {
            Some(r) => r,
            None => Err(MediaError::malformed(FourCc::FILE, offset, "empty box")),
        }
    }

    pub fn is(&self, t: &[u8; 4]) -> bool {
        self.fourcc.0 == *t
    }

    pub fn children(&self) -> Children<'a> {
        Children::new(
            self.payload,
            self.payload_offset(),
            self.fourcc,
            self.offset,
        )
    }

    /// Length of the header (8, or 16 with a 64-bit size).
    pub fn header_len(&self) -> usize {
        self.header
    }

    /// One past the box's last byte, in the file.
    pub fn end(&self) -> u64 {
        self.payload_offset()
            .saturating_add(self.payload.len() as u64)
    }

    fn payload_offset(&self) -> u64 {
        self.offset.saturating_add(self.header as u64)
    }

    /// The first child of type `t`.
    pub fn child(&self, t: &[u8; 4]) -> Result<Option<Bx<'a>>, MediaError> {
        for c in self.children() {
            let c = c?;
            if c.is(t) {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// The first child of type `t`, or a `Missing` error.
    pub fn need(&self, t: &[u8; 4]) -> Result<Bx<'a>, MediaError> {
        self.child(t)?.ok_or(MediaError::Missing {
            parent: self.fourcc,
            offset: self.offset,
            child: FourCc(*t),
        })
    }

    /// A field reader over the payload.
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            buf: self.payload,
            pos: 0,
            fourcc: self.fourcc,
            offset: self.offset,
        }
    }

    /// A field reader after the full-box header, with (version, flags).
    pub fn full(&self) -> Result<(u8, u32, Fields<'a>), MediaError> {
        let mut f = self.fields();
        let vf = f.u32("version and flags")?;
        Ok(((vf >> 24) as u8, vf & 0x00ff_ffff, f))
    }

    pub fn err(&self, what: impl Into<String>) -> MediaError {
        MediaError::malformed(self.fourcc, self.offset, what)
    }
}

/// Iterates the child boxes packed in a payload. After an error it stops.
pub(crate) struct Children<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
    parent: FourCc,
    parent_offset: u64,
    failed: bool,
}

impl<'a> Children<'a> {
    fn new(buf: &'a [u8], base: u64, parent: FourCc, parent_offset: u64) -> Self {
        // `base` is the absolute offset of `buf[0]`.
        Children {
            buf,
            pos: 0,
            base,
            parent,
            parent_offset,
            failed: false,
        }
    }

    fn parse(&mut self) -> Result<Bx<'a>, MediaError> {
        let rest = &self.buf[self.pos..];
        let at = self.base.saturating_add(self.pos as u64);
        if rest.len() < 8 {
            return Err(MediaError::malformed(
                self.parent,
                self.parent_offset,
                format!(
                    "{} trailing bytes inside the box are too short for a child box header",
                    rest.len()
                ),
            ));
        }
        let fourcc = FourCc([rest[4], rest[5], rest[6], rest[7]]);
        let (size, header) = match u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) {
            0 => (rest.len() as u64, 8usize),
            1 => {
                let Some(l) = rest.get(8..16) else {
                    return Err(MediaError::malformed(
                        fourcc,
                        at,
                        "64-bit size field runs past the end of its parent",
                    ));
                };
                let mut b = [0u8; 8];
                b.copy_from_slice(l);
                (u64::from_be_bytes(b), 16usize)
            }
            s => (u64::from(s), 8usize),
        };
        if size < header as u64 {
            return Err(MediaError::malformed(
                fourcc,
                at,
                format!("size {size} is smaller than its {header}-byte header"),
            ));
        }
        if size > rest.len() as u64 {
            return Err(MediaError::malformed(
                fourcc,
                at,
                format!(
                    "size {size} runs past the end of its parent '{}' ({} bytes left)",
                    self.parent,
                    rest.len()
                ),
            ));
        }
        // size <= rest.len(), so it fits in usize.
        let size = size as usize;
        let payload = &rest[header..size];
        self.pos += size;
        Ok(Bx {
            fourcc,
            offset: at,
            header,
            payload,
        })
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Bx<'a>, MediaError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let r = self.parse();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

/// Big-endian field reader over a payload; errors name the box and field.
#[derive(Clone)]
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    fourcc: FourCc,
    offset: u64,
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], MediaError> {
        match self
            .pos
            .checked_add(n)
            .and_then(|e| self.buf.get(self.pos..e))
        {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(MediaError::malformed(
                self.fourcc,
                self.offset,
                format!("payload too short for {field}"),
            )),
        }
    }

    pub fn skip(&mut self, n: usize, field: &str) -> Result<(), MediaError> {
        self.take(n, field).map(|_| ())
    }

    pub fn u32(&mut self, field: &str) -> Result<u32, MediaError> {
        let s = self.take(4, field)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    pub fn u64(&mut self, field: &str) -> Result<u64, MediaError> {
        let s = self.take(8, field)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(s);
        Ok(u64::from_be_bytes(b))
    }

    pub fn fourcc(&mut self, field: &str) -> Result<FourCc, MediaError> {
        let s = self.take(4, field)?;
        Ok(FourCc([s[0], s[1], s[2], s[3]]))
    }

    /// The rest of the payload.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// A table of `count` entries of `entry` bytes each following here,
    /// checked to fit in the payload before anyone iterates it.
    pub fn table(&mut self, count: u64, entry: usize, what: &str) -> Result<Table<'a>, MediaError> {
        let need = count.checked_mul(entry as u64);
        let have = self.rest().len() as u64;
        match need {
            Some(n) if n <= have => {
                // n <= have <= usize::MAX.
                let data = self.take(n as usize, what)?;
                Ok(Table {
                    data,
                    entry,
                    count: count as usize,
                })
            }
            _ => Err(MediaError::malformed(
                self.fourcc,
                self.offset,
                format!(
                    "{what}: {count} entries of {entry} bytes do not fit in the {have} bytes left"
                ),
            )),
        }
    }
}

/// A checked table of fixed-size big-endian entries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Table<'a> {
    data: &'a [u8],
    entry: usize,
    count: usize,
}

impl<'a> Table<'a> {
    pub fn len(&self) -> usize {
        self.count
    }

    /// Big-endian u32 at `word` (in 4-byte units) of entry `i`; 0 out of range.
    pub fn u32(&self, i: usize, word: usize) -> u32 {
        let at = i
            .checked_mul(self.entry)
            .and_then(|a| a.checked_add(word.checked_mul(4)?));
        match at.and_then(|a| self.data.get(a..a.checked_add(4)?)) {
            Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
            None => 0,
        }
    }

    /// Byte `j` of the table's data (for 1-byte entries); 0 out of range.
    pub fn byte(&self, j: usize) -> u32 {
        self.data.get(j).map_or(0, |b| u32::from(*b))
    }

    /// Big-endian u64 at byte `at` of entry `i`; 0 out of range.
    pub fn u64(&self, i: usize, at: usize) -> u64 {
        let a = i.checked_mul(self.entry).and_then(|a| a.checked_add(at));
        match a.and_then(|a| self.data.get(a..a.checked_add(8)?)) {
            Some(s) => {
                let mut b = [0u8; 8];
                b.copy_from_slice(s);
                u64::from_be_bytes(b)
            }
            None => 0,
        }
    }
}
