//! The canonical binary encoding shared by every structure
//! (docs/format.md §1.2): big-endian fixed-width integers, fixed-size byte
//! arrays, and byte strings prefixed by a `u32` length. There is exactly one
//! encoding of each value; parsers reject trailing bytes, so that
//! parse-then-serialize returns the input.

use crate::error::{Error, Result};

/// Upper bound on any length-prefixed field, so a forged length cannot make a
/// parser allocate gigabytes. Segment payloads are streamed, never framed by
/// this encoding.
pub const MAX_FIELD_LEN: usize = 16 * 1024 * 1024;

/// Appends canonical encodings to a byte vector.
#[derive(Default, Debug)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }
    /// A writer that starts with a structure's magic, version and suite.
    pub fn with_preamble(magic: &[u8; 4], version: u8, suite: u16) -> Self {
        let mut w = Writer::new();
        w.bytes(magic);
        w.u8(version);
        w.u16(suite);
        w
    }
    /// One byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    /// Big-endian `u16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Big-endian `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Big-endian `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Big-endian two's-complement `i64` (UTC milliseconds).
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Raw bytes of a fixed-size field.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    /// A `u32` length followed by the bytes.
    ///
    /// # Panics
    /// If `v` is longer than [`MAX_FIELD_LEN`]: our own encoders never build
    /// such a field, so this is a programming error, not input.
    pub fn var_bytes(&mut self, v: &[u8]) -> &mut Self {
        assert!(v.len() <= MAX_FIELD_LEN, "field longer than MAX_FIELD_LEN");
        self.u32(v.len() as u32);
        self.bytes(v)
    }
    /// A UTF-8 string, encoded as [`Writer::var_bytes`].
    pub fn string(&mut self, v: &str) -> &mut Self {
        self.var_bytes(v.as_bytes())
    }
    /// Bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }
    /// Finish and return the encoding.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads canonical encodings from a byte slice. Every error names the
/// structure (`what`) and the field that could not be read.
#[derive(Debug)]
pub struct Reader<'a> {
    what: &'static str,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Start reading `buf` as a `what` (used in error messages).
    pub fn new(what: &'static str, buf: &'a [u8]) -> Self {
        Reader { what, buf, pos: 0 }
    }

    /// The structure name given at construction.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Unread bytes.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Check magic, version and suite, in that order, so that a file of the
    /// wrong kind is reported as such rather than as a version mismatch.
    pub fn preamble(&mut self, magic: &[u8; 4], version: u8, suite: u16) -> Result<()> {
        let found = self.array::<4>("magic")?;
        if &found != magic {
            return Err(Error::BadMagic { what: self.what });
        }
        let v = self.u8("version")?;
        if v != version {
            return Err(Error::UnsupportedVersion {
                what: self.what,
                found: v,
            });
        }
        let s = self.u16("suite")?;
        if s != suite {
            return Err(Error::UnsupportedSuite {
                what: self.what,
                found: s,
            });
        }
        Ok(())
    }

    /// Take `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::Truncated {
                what: self.what,
                field,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }
    /// A fixed-size array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }
    /// One byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8> {
        Ok(self.take(1, field)?[0])
    }
    /// A byte that must be 0 or 1.
    pub fn bool(&mut self, field: &'static str) -> Result<bool> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Error::Malformed {
                what: self.what,
                reason: "a flag byte is neither 0 nor 1",
            }),
        }
    }
    /// Big-endian `u16`.
    pub fn u16(&mut self, field: &'static str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }
    /// Big-endian `u32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }
    /// Big-endian `u64`.
    pub fn u64(&mut self, field: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }
    /// Big-endian `i64`.
    pub fn i64(&mut self, field: &'static str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }
    /// A `u32`-length-prefixed byte string of at most `max` bytes.
    pub fn var_bytes(&mut self, field: &'static str, max: usize) -> Result<&'a [u8]> {
        let len = self.u32(field)? as usize;
        if len > max.min(MAX_FIELD_LEN) {
            return Err(Error::FieldTooLong {
                what: self.what,
                field,
                len,
                max: max.min(MAX_FIELD_LEN),
            });
        }
        self.take(len, field)
    }
    /// A length-prefixed UTF-8 string of at most `max` bytes.
    pub fn string(&mut self, field: &'static str, max: usize) -> Result<&'a str> {
        let b = self.var_bytes(field, max)?;
        core::str::from_utf8(b).map_err(|_| Error::Malformed {
            what: self.what,
            reason: "a text field is not valid UTF-8",
        })
    }
    /// Require that everything was consumed.
    pub fn finish(self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(Error::TrailingBytes {
                what: self.what,
                count: self.remaining(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_trailing_bytes() {
        let mut w = Writer::with_preamble(b"TEST", 1, 1);
        w.u32(7).var_bytes(b"abc").i64(-5);
        let enc = w.into_vec();
        let mut r = Reader::new("test", &enc);
        r.preamble(b"TEST", 1, 1).unwrap();
        assert_eq!(r.u32("n").unwrap(), 7);
        assert_eq!(r.var_bytes("s", 10).unwrap(), b"abc");
        assert_eq!(r.i64("t").unwrap(), -5);
        r.finish().unwrap();

        let mut longer = enc.clone();
        longer.push(0);
        let mut r = Reader::new("test", &longer);
        r.preamble(b"TEST", 1, 1).unwrap();
        r.take(enc.len() - 7, "body").unwrap();
        assert!(matches!(
            r.finish(),
            Err(Error::TrailingBytes { count: 1, .. })
        ));
    }

    #[test]
    fn errors_name_the_field() {
        let mut r = Reader::new("thing", &[0, 0, 0, 9, 1]);
        let e = r.var_bytes("name", 100).unwrap_err();
        assert_eq!(e.to_string(), "thing: input ends early while reading name");
        let mut r = Reader::new("thing", &[0xff, 0xff, 0xff, 0xff]);
        let e = r.var_bytes("name", 100).unwrap_err();
        assert!(e.to_string().contains("name"), "{e}");
    }
}
