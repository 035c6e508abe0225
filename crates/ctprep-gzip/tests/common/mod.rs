//! What the decoder tests share: reading a whole stream in reads of a given size, and flate2's
//! answer for the same bytes.

use std::io::Read;

/// Everything `r` gives, in reads of `chunk` bytes.
pub(crate) fn read_in_chunks(r: &mut impl Read, chunk: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; chunk];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// flate2's (zlib-rs's) decoding of every member of `gz`.
pub(crate) fn theirs(gz: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz).read_to_end(&mut out)?;
    Ok(out)
}
