//! A phantom as a DICOM CT series: one Explicit VR Little Endian file per slice (CT Image
//! Storage), its pixel data native or RLE Lossless, with the volume's geometry (LPS, as DICOM
//! stores it) and scaling. For benchmarks and tests of DICOM readers; the files carry no
//! patient data.

use std::io::Write as _;
use std::path::Path;

use ctprep_io::Volume;

/// How the pixel data of each file is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelEncoding {
    /// Uncompressed (Explicit VR Little Endian, 1.2.840.10008.1.2.1).
    Native,
    /// RLE Lossless (1.2.840.10008.1.2.5): one fragment per file, two PackBits segments (high
    /// bytes, then low bytes).
    Rle,
}

const CT_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
const ROOT: &str = "1.2.826.0.1.3680043.8.498.7311.900";

/// Writes `ct` (3-D, int16 stored) as a series of DICOM files `IM00001.dcm`... in `dir` (which
/// must exist), slice k of the volume in file k + 1 with InstanceNumber k + 1.
pub fn write_dicom_series(ct: &Volume, dir: &Path, encoding: PixelEncoding) -> std::io::Result<()> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_string());
    let [nx, ny, nz] = ct.dims3().map_err(|e| bad(&e.to_string()))?;
    let data = ct.data().as_slice::<i16>().ok_or_else(|| bad("the phantom must be stored as int16"))?;
    if nx > 65535 || ny > 65535 {
        return Err(bad("more than 65535 rows or columns"));
    }
    let a = ct.affine().0;
    let col = |j: usize| [-a[0][j], -a[1][j], a[2][j]];
    let len = |v: [f64; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let (dx, dy) = (col(0), col(1));
    let (sx, sy) = (len(dx), len(dy));
    let iop: Vec<f64> = dx.iter().map(|v| v / sx).chain(dy.iter().map(|v| v / sy)).collect();
    let (slope, inter) = ct.scaling().map_or((1.0, 0.0), |s| (s.slope, s.inter));
    let plane = nx * ny;
    for k in 0..nz {
        let p = [-(a[0][2] * k as f64 + a[0][3]), -(a[1][2] * k as f64 + a[1][3]), a[2][2] * k as f64 + a[2][3]];
        let pixels = &data[k * plane..(k + 1) * plane];
        // SliceThickness: the slices are contiguous, so the step.
        let bytes = file(k, [nx, ny], &iop, p, [sy, sx], len(col(2)), (slope, inter), pixels, encoding);
        let mut f = std::fs::File::create(dir.join(format!("IM{:05}.dcm", k + 1)))?;
        f.write_all(&bytes)?;
    }
    Ok(())
}

/// Explicit VR little endian element `tag` (group, element) of `vr` holding `value` (padded to
/// an even length with `pad`).
fn element(out: &mut Vec<u8>, tag: (u16, u16), vr: &[u8; 2], value: &[u8]) {
    let pad = if matches!(vr, b"UI" | b"OB") { 0u8 } else { b' ' };
    let mut v = value.to_vec();
    if v.len() % 2 == 1 {
        v.push(pad);
    }
    out.extend_from_slice(&tag.0.to_le_bytes());
    out.extend_from_slice(&tag.1.to_le_bytes());
    out.extend_from_slice(vr);
    if matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT") {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&(v.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(&v);
}

fn ds(v: &[f64]) -> Vec<u8> {
    v.iter().map(|x| format!("{x:.6}")).collect::<Vec<_>>().join("\\").into_bytes()
}

#[allow(clippy::too_many_arguments)] // One file's attributes.
fn file(
    k: usize,
    [nx, ny]: [usize; 2],
    iop: &[f64],
    position: [f64; 3],
    spacing: [f64; 2],
    thickness: f64,
    (slope, inter): (f64, f64),
    pixels: &[i16],
    encoding: PixelEncoding,
) -> Vec<u8> {
    let ts = match encoding {
        PixelEncoding::Native => "1.2.840.10008.1.2.1",
        PixelEncoding::Rle => "1.2.840.10008.1.2.5",
    };
    let instance = format!("{ROOT}.3.{}", k + 1);
    let mut meta = Vec::new();
    element(&mut meta, (2, 1), b"OB", &[0, 1]);
    element(&mut meta, (2, 2), b"UI", CT_IMAGE.as_bytes());
    element(&mut meta, (2, 3), b"UI", instance.as_bytes());
    element(&mut meta, (2, 0x10), b"UI", ts.as_bytes());
    element(&mut meta, (2, 0x12), b"UI", format!("{ROOT}.0").as_bytes());
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    element(&mut out, (2, 0), b"UL", &(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta);
    let us = |v: usize| (v as u16).to_le_bytes();
    element(&mut out, (8, 0x16), b"UI", CT_IMAGE.as_bytes());
    element(&mut out, (8, 0x18), b"UI", instance.as_bytes());
    element(&mut out, (8, 0x60), b"CS", b"CT");
    element(&mut out, (8, 0x103E), b"LO", b"ctprep phantom");
    element(&mut out, (0x18, 0x50), b"DS", &ds(&[thickness]));
    element(&mut out, (0x20, 0x0D), b"UI", format!("{ROOT}.1").as_bytes());
    element(&mut out, (0x20, 0x0E), b"UI", format!("{ROOT}.2").as_bytes());
    element(&mut out, (0x20, 0x11), b"IS", b"1");
    element(&mut out, (0x20, 0x13), b"IS", (k + 1).to_string().as_bytes());
    element(&mut out, (0x20, 0x32), b"DS", &ds(&position));
    element(&mut out, (0x20, 0x37), b"DS", &ds(iop));
    element(&mut out, (0x28, 0x02), b"US", &us(1));
    element(&mut out, (0x28, 0x04), b"CS", b"MONOCHROME2");
    element(&mut out, (0x28, 0x10), b"US", &us(ny));
    element(&mut out, (0x28, 0x11), b"US", &us(nx));
    element(&mut out, (0x28, 0x30), b"DS", &ds(&spacing));
    element(&mut out, (0x28, 0x100), b"US", &us(16));
    element(&mut out, (0x28, 0x101), b"US", &us(16));
    element(&mut out, (0x28, 0x102), b"US", &us(15));
    element(&mut out, (0x28, 0x103), b"US", &us(1));
    element(&mut out, (0x28, 0x1052), b"DS", &ds(&[inter]));
    element(&mut out, (0x28, 0x1053), b"DS", &ds(&[slope]));
    let raw: Vec<u8> = pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
    match encoding {
        PixelEncoding::Native => element(&mut out, (0x7FE0, 0x10), b"OW", &raw),
        PixelEncoding::Rle => {
            out.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00]);
            out.extend_from_slice(b"OB\0\0");
            out.extend_from_slice(&u32::MAX.to_le_bytes());
            let item = |out: &mut Vec<u8>, body: &[u8]| {
                out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
                out.extend_from_slice(&(body.len() as u32).to_le_bytes());
                out.extend_from_slice(body);
            };
            item(&mut out, &[]);
            item(&mut out, &rle_frame(&raw));
            out.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        }
    }
    out
}

/// One frame of 16-bit little-endian samples as RLE Lossless: the header (2 segments and
/// their offsets), the high bytes' segment, the low bytes' segment, each PackBits-encoded
/// and padded to an even length.
fn rle_frame(raw: &[u8]) -> Vec<u8> {
    let high: Vec<u8> = raw.chunks_exact(2).map(|c| c[1]).collect();
    let low: Vec<u8> = raw.chunks_exact(2).map(|c| c[0]).collect();
    let mut segments = [packbits(&high), packbits(&low)];
    for s in &mut segments {
        if s.len() % 2 == 1 {
            s.push(0x80); // a no-op byte (PackBits -128)
        }
    }
    let mut out = Vec::with_capacity(64 + segments[0].len() + segments[1].len());
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&64u32.to_le_bytes());
    out.extend_from_slice(&(64 + segments[0].len() as u32).to_le_bytes());
    out.resize(64, 0);
    out.extend_from_slice(&segments[0]);
    out.extend_from_slice(&segments[1]);
    out
}

/// PackBits (PS3.5 G.3.1): runs of 3 to 128 equal bytes as (1 - n, byte), the rest as
/// literals of at most 128 bytes (n - 1, bytes).
fn packbits(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + b.len() / 64 + 2);
    let mut i = 0;
    while i < b.len() {
        let run = b[i..].iter().take(128).take_while(|&&x| x == b[i]).count();
        if run >= 3 {
            out.push((1i16 - run as i16) as i8 as u8);
            out.push(b[i]);
            i += run;
            continue;
        }
        // A literal up to the next run of 3 (or 128 bytes).
        let start = i;
        while i < b.len() && i - start < 128 {
            if i + 2 < b.len() && b[i] == b[i + 1] && b[i] == b[i + 2] {
                break;
            }
            i += 1;
        }
        out.push((i - start - 1) as u8);
        out.extend_from_slice(&b[start..i]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::packbits;

    /// PackBits decoded back (PS3.5 G.3.2).
    fn unpack(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let n = b[i] as i8;
            i += 1;
            if n >= 0 {
                out.extend_from_slice(&b[i..i + n as usize + 1]);
                i += n as usize + 1;
            } else if n != -128 {
                out.extend(std::iter::repeat_n(b[i], (1 - i16::from(n)) as usize));
                i += 1;
            }
        }
        out
    }

    #[test]
    fn packbits_round_trips() {
        let mut cases: Vec<Vec<u8>> = vec![vec![], vec![7], vec![1, 1], vec![1, 1, 1], vec![5; 300]];
        cases.push((0..=255).collect());
        cases.push((0..1000).map(|i| if i % 7 < 4 { 9 } else { (i % 256) as u8 }).collect());
        for c in cases {
            assert_eq!(unpack(&packbits(&c)), c, "{c:?}");
        }
    }
}
