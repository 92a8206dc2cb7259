//! Comparing two byte streams: where `obhut verify` finds the first byte
//! of a clip that its signed ciphertext does not account for.

use std::io::Read;

/// Where two streams first differ (`None`: equal, same length).
pub(crate) fn first_difference(mut a: impl Read, mut b: impl Read) -> std::io::Result<Option<u64>> {
    let mut at = 0u64;
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut a, &mut x)?;
        let m = read_full(&mut b, &mut y)?;
        if let Some(i) = x[..n.min(m)]
            .iter()
            .zip(&y[..n.min(m)])
            .position(|(p, q)| p != q)
        {
            return Ok(Some(at + i as u64));
        }
        if n != m {
            return Ok(Some(at + n.min(m) as u64));
        }
        if n == 0 {
            return Ok(None);
        }
        at += n as u64;
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
