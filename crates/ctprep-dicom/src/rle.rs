//! RLE Lossless (DICOM PS3.5 Annex G) for one-sample images: each frame a fragment of a
//! 64-byte header (the segment count, then up to 15 segment offsets) and one PackBits segment
//! per byte of a sample, most significant first. Every count and offset is checked: a short or
//! corrupt segment is an error, never a read past the fragment or a short frame.

/// Decode `frag` (one frame) into `dst`: `dst.len() / width` samples of `width` bytes,
/// little-endian.
pub(crate) fn decode_frame(frag: &[u8], width: usize, dst: &mut [u8]) -> Result<(), String> {
    if frag.len() < 64 {
        return Err(format!("{} bytes: shorter than the 64-byte RLE header", frag.len()));
    }
    let u32_at = |i: usize| u32::from_le_bytes([frag[i], frag[i + 1], frag[i + 2], frag[i + 3]]) as usize;
    let segments = u32_at(0);
    if segments != width {
        return Err(format!("{segments} segments for {width}-byte samples"));
    }
    let offsets: Vec<usize> = (0..segments).map(|s| u32_at(4 + 4 * s)).collect();
    let pixels = dst.len() / width;
    for (s, &start) in offsets.iter().enumerate() {
        let end = offsets.get(s + 1).copied().unwrap_or(frag.len());
        if start < 64 || start > end || end > frag.len() {
            return Err(format!("segment {s} at bytes {start}..{end} of a {}-byte fragment", frag.len()));
        }
        // Segment s holds byte (width - 1 - s) of each sample (most significant first).
        let byte = width - 1 - s;
        let mut seg = &frag[start..end];
        let mut at = 0;
        while at < pixels {
            let Some((&n, rest)) = seg.split_first() else {
                return Err(format!("segment {s} ends after {at} of {pixels} bytes"));
            };
            let n = n as i8;
            if n >= 0 {
                let count = n as usize + 1;
                let (run, rest) = rest
                    .split_at_checked(count)
                    .ok_or_else(|| format!("segment {s}: a literal run of {count} past its end"))?;
                if at + count > pixels {
                    return Err(format!("segment {s} holds more than {pixels} bytes"));
                }
                for (k, &b) in run.iter().enumerate() {
                    dst[(at + k) * width + byte] = b;
                }
                at += count;
                seg = rest;
            } else if n != -128 {
                let count = 1 - n as isize;
                let count = count as usize;
                let (&b, rest) = rest.split_first().ok_or_else(|| format!("segment {s}: a repeat run past its end"))?;
                if at + count > pixels {
                    return Err(format!("segment {s} holds more than {pixels} bytes"));
                }
                for k in 0..count {
                    dst[(at + k) * width + byte] = b;
                }
                at += count;
                seg = rest;
            } else {
                seg = rest;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(offsets: &[u32]) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(&(offsets.len() as u32).to_le_bytes());
        for (i, o) in offsets.iter().enumerate() {
            h[4 + 4 * i..8 + 4 * i].copy_from_slice(&o.to_le_bytes());
        }
        h
    }

    #[test]
    fn decodes_literal_and_repeat_runs_into_little_endian_samples() {
        // Four 16-bit samples 0x0102, 0x0102, 0x0304, 0x0506: MSB segment 01 01 03 05 as a
        // repeat of 2 and a literal of 2; LSB segment 02 02 04 06 as a literal of 4.
        let msb = [0xFFu8, 0x01, 0x01, 0x03, 0x05];
        let lsb = [0x03u8, 0x02, 0x02, 0x04, 0x06];
        let mut frag = header(&[64, 64 + msb.len() as u32]);
        frag.extend(msb);
        frag.extend(lsb);
        let mut dst = [0u8; 8];
        decode_frame(&frag, 2, &mut dst).expect("decodes");
        assert_eq!(dst, [0x02, 0x01, 0x02, 0x01, 0x04, 0x03, 0x06, 0x05]);
    }

    #[test]
    fn corrupt_segments_are_errors() {
        let mut dst = [0u8; 8];
        // Too short for the header; wrong segment count; offset past the fragment; a segment
        // that ends early; a literal run past its end; a run past the frame.
        assert!(decode_frame(&[0; 10], 2, &mut dst).is_err());
        assert!(decode_frame(&header(&[64]), 2, &mut dst).is_err());
        assert!(decode_frame(&header(&[64, 9999]), 2, &mut dst).is_err());
        let mut f = header(&[64, 66]);
        f.extend([0x00, 0x01, 0x00, 0x02]);
        assert!(decode_frame(&f, 2, &mut dst).expect_err("an error").contains("ends after"));
        let mut f = header(&[64, 66]);
        f.extend([0x05, 0x01]);
        assert!(decode_frame(&f, 2, &mut dst).is_err());
        let mut f = header(&[64, 66]);
        f.extend([0xF0, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00]);
        assert!(decode_frame(&f, 2, &mut dst).expect_err("an error").contains("more than"));
    }
}
