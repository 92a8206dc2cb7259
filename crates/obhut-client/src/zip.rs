//! `obhut export --zip`: the bundle directory as one ZIP file (PKWARE
//! APPNOTE 6.3, stored entries only: the clips and keys are already
//! compressed or encrypted, so deflate would gain nothing). No ZIP64: a
//! bundle whose files or total reach 4 GiB is refused; keep the directory.

use std::io::{Read, Write};
use std::path::Path;

use crate::bundle::FileInfo;

/// Why the ZIP could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    /// The bundle needs ZIP64 (a file or the archive at 4 GiB or more).
    #[error("the bundle is too large for a ZIP without ZIP64 ({0} bytes); keep the directory")]
    TooLarge(u64),
    /// Reading or writing.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    for (i, e) in t.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *e = c;
    }
    t
}

fn crc32(table: &[u32; 256], crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for b in data {
        c = table[((c ^ u32::from(*b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// Write every file of `files` (bundle-relative, from `dir`) and then the
/// manifest into `out` as a ZIP of stored entries under `prefix/`.
pub fn write_zip(
    dir: &Path,
    prefix: &str,
    files: &[FileInfo],
    manifest: &str,
    out: &mut dyn Write,
) -> Result<(), ZipError> {
    let table = crc_table();
    let limit = u64::from(u32::MAX);
    let mut central = Vec::new();
    let mut offset = 0u64;
    let mut count = 0u16;
    let mut names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    names.push(manifest);
    for rel in names {
        let mut data = Vec::new();
        std::fs::File::open(dir.join(rel))?.read_to_end(&mut data)?;
        let size = data.len() as u64;
        if size >= limit || offset >= limit {
            return Err(ZipError::TooLarge(offset + size));
        }
        let crc = crc32(&table, 0, &data);
        let name = format!("{prefix}/{rel}");
        let name_len = u16::try_from(name.len()).map_err(|_| ZipError::TooLarge(offset))?;
        let mut h = Vec::with_capacity(30 + name.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes()); // version needed
        h.extend_from_slice(&0u16.to_le_bytes()); // flags
        h.extend_from_slice(&0u16.to_le_bytes()); // stored
        h.extend_from_slice(&0u16.to_le_bytes()); // time 00:00
        h.extend_from_slice(&0x21u16.to_le_bytes()); // date 1980-01-01
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&(size as u32).to_le_bytes());
        h.extend_from_slice(&(size as u32).to_le_bytes());
        h.extend_from_slice(&name_len.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        out.write_all(&h)?;
        out.write_all(&data)?;
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&(20u16 | (3 << 8)).to_le_bytes()); // made by: Unix
        // Version needed … extra length, as in the local header.
        central.extend_from_slice(&h[4..30]);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&(0o100_600u32 << 16).to_le_bytes());
        central.extend_from_slice(&(offset as u32).to_le_bytes());
        central.extend_from_slice(name.as_bytes());
        offset += h.len() as u64 + size;
        count = count.checked_add(1).ok_or(ZipError::TooLarge(offset))?;
    }
    if offset >= limit {
        return Err(ZipError::TooLarge(offset));
    }
    let mut end = Vec::with_capacity(22);
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0u8; 4]);
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&(central.len() as u32).to_le_bytes());
    end.extend_from_slice(&(offset as u32).to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    out.write_all(&central)?;
    out.write_all(&end)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32_of_the_check_string() {
        let t = super::crc_table();
        assert_eq!(super::crc32(&t, 0, b"123456789"), 0xcbf4_3926);
    }
}
