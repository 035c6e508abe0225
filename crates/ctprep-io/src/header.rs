//! The NIfTI-1 (348-byte) and NIfTI-2 (540-byte) headers, parsed into one model and written back.
//!
//! Field offsets follow `nifti1.h` and `nifti2.h`. NIfTI-1's `f32`/`i16` fields are widened to
//! `f64`/`i64` exactly, so both formats share one struct and one set of checks.

use std::path::Path;

use crate::error::{Error, ErrorKind, Result};

/// NIfTI-1 header size in bytes.
pub const NIFTI1_HEADER_SIZE: usize = 348;
/// NIfTI-2 header size in bytes.
pub const NIFTI2_HEADER_SIZE: usize = 540;

/// Which NIfTI version a header is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NiftiFormat {
    /// NIfTI-1: 348-byte header, `i16` dims, `f32` fields.
    Nifti1,
    /// NIfTI-2: 540-byte header, `i64` dims, `f64` fields.
    Nifti2,
}

impl NiftiFormat {
    /// `"nifti1"` or `"nifti2"`.
    pub fn name(self) -> &'static str {
        match self {
            NiftiFormat::Nifti1 => "nifti1",
            NiftiFormat::Nifti2 => "nifti2",
        }
    }

    /// The header size in bytes.
    pub fn header_size(self) -> usize {
        match self {
            NiftiFormat::Nifti1 => NIFTI1_HEADER_SIZE,
            NiftiFormat::Nifti2 => NIFTI2_HEADER_SIZE,
        }
    }
}

/// The byte order of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Least significant byte first (x86, ARM).
    Little,
    /// Most significant byte first.
    Big,
}

impl ByteOrder {
    /// `"little"` or `"big"`.
    pub fn name(self) -> &'static str {
        match self {
            ByteOrder::Little => "little",
            ByteOrder::Big => "big",
        }
    }

    /// The byte order of this machine.
    pub fn native() -> ByteOrder {
        if cfg!(target_endian = "little") { ByteOrder::Little } else { ByteOrder::Big }
    }
}

/// A NIfTI header, NIfTI-1 or NIfTI-2, with every field of the format.
///
/// Values are as stored in the file (no fixes applied); the checks and nibabel's fixes happen
/// when a [`crate::Volume`] is built from it.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)] // The fields are the NIfTI fields of the same names (nifti1.h documents them).
pub struct NiftiHeader {
    pub format: NiftiFormat,
    pub byte_order: ByteOrder,
    /// `true` for a single `.nii` file (`n+1` / `n+2`), `false` for a `.hdr`/`.img` pair.
    pub single_file: bool,
    pub dim_info: u8,
    pub dim: [i64; 8],
    pub intent_p: [f64; 3],
    pub intent_code: i32,
    pub datatype: i16,
    pub bitpix: i16,
    pub slice_start: i64,
    pub pixdim: [f64; 8],
    pub vox_offset: f64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub slice_end: i64,
    pub slice_code: i32,
    pub xyzt_units: i32,
    pub cal_max: f64,
    pub cal_min: f64,
    pub slice_duration: f64,
    pub toffset: f64,
    pub descrip: [u8; 80],
    pub aux_file: [u8; 24],
    pub qform_code: i32,
    pub sform_code: i32,
    pub quatern: [f64; 3],
    pub qoffset: [f64; 3],
    pub srow: [[f64; 4]; 3],
    pub intent_name: [u8; 16],
}

impl Default for NiftiHeader {
    fn default() -> Self {
        NiftiHeader {
            format: NiftiFormat::Nifti1,
            byte_order: ByteOrder::Little,
            single_file: true,
            dim_info: 0,
            dim: [3, 1, 1, 1, 1, 1, 1, 1],
            intent_p: [0.0; 3],
            intent_code: 0,
            datatype: 0,
            bitpix: 0,
            slice_start: 0,
            pixdim: [1.0; 8],
            vox_offset: 0.0,
            scl_slope: 1.0,
            scl_inter: 0.0,
            slice_end: 0,
            slice_code: 0,
            // Millimetres and seconds.
            xyzt_units: 2 | 8,
            cal_max: 0.0,
            cal_min: 0.0,
            slice_duration: 0.0,
            toffset: 0.0,
            descrip: [0; 80],
            aux_file: [0; 24],
            qform_code: 0,
            sform_code: 0,
            quatern: [0.0; 3],
            qoffset: [0.0; 3],
            srow: [[0.0; 4]; 3],
            intent_name: [0; 16],
        }
    }
}

/// Reads fixed-offset fields of either byte order.
struct Fields<'a> {
    b: &'a [u8],
    big: bool,
}

impl Fields<'_> {
    fn arr<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.b[off..off + N]);
        if self.big {
            a.reverse();
        }
        a
    }
    fn i16(&self, off: usize) -> i16 {
        i16::from_le_bytes(self.arr(off))
    }
    fn i32(&self, off: usize) -> i32 {
        i32::from_le_bytes(self.arr(off))
    }
    fn i64(&self, off: usize) -> i64 {
        i64::from_le_bytes(self.arr(off))
    }
    fn f32(&self, off: usize) -> f64 {
        f64::from(f32::from_le_bytes(self.arr(off)))
    }
    fn f64(&self, off: usize) -> f64 {
        f64::from_le_bytes(self.arr(off))
    }
    fn bytes<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.b[off..off + N]);
        a
    }
}

/// The format and byte order announced by the first four bytes (`sizeof_hdr`), if any.
pub(crate) fn sniff(first4: [u8; 4]) -> Option<(NiftiFormat, ByteOrder)> {
    let le = i32::from_le_bytes(first4);
    let be = i32::from_be_bytes(first4);
    match (le, be) {
        (348, _) => Some((NiftiFormat::Nifti1, ByteOrder::Little)),
        (540, _) => Some((NiftiFormat::Nifti2, ByteOrder::Little)),
        (_, 348) => Some((NiftiFormat::Nifti1, ByteOrder::Big)),
        (_, 540) => Some((NiftiFormat::Nifti2, ByteOrder::Big)),
        _ => None,
    }
}

impl NiftiHeader {
    /// Parses a header from the start of `bytes` (at least 348 or 540 bytes).
    ///
    /// Checks only what is needed to make sense of the bytes: `sizeof_hdr` and the magic.
    /// `path` names the file in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<NiftiHeader> {
        let Some(first4) = bytes.get(..4) else {
            return Err(Error::new(
                ErrorKind::Truncated,
                path,
                format!("file is {} bytes long, too short for a NIfTI header", bytes.len()),
            ));
        };
        let first4: [u8; 4] = [first4[0], first4[1], first4[2], first4[3]];
        let Some((format, byte_order)) = sniff(first4) else {
            return Err(Error::new(
                ErrorKind::BadHeader,
                path,
                format!(
                    "sizeof_hdr = {} (bytes {:02x?}): expected 348 (NIfTI-1) or 540 (NIfTI-2) in either byte order",
                    i32::from_le_bytes(first4),
                    first4
                ),
            ));
        };
        let size = format.header_size();
        if bytes.len() < size {
            return Err(Error::new(
                ErrorKind::Truncated,
                path,
                format!("{} header needs {size} bytes, the file has only {}", format.name(), bytes.len()),
            ));
        }
        let f = Fields { b: &bytes[..size], big: byte_order == ByteOrder::Big };
        let mut h = NiftiHeader { format, byte_order, ..NiftiHeader::default() };
        match format {
            NiftiFormat::Nifti1 => {
                let magic: [u8; 4] = f.bytes(344);
                h.single_file = match &magic {
                    b"n+1\0" => true,
                    b"ni1\0" => false,
                    _ => return Err(bad_magic(path, &magic, "n+1 or ni1")),
                };
                h.dim_info = bytes[39];
                for (i, d) in h.dim.iter_mut().enumerate() {
                    *d = i64::from(f.i16(40 + 2 * i));
                }
                for (i, p) in h.intent_p.iter_mut().enumerate() {
                    *p = f.f32(56 + 4 * i);
                }
                h.intent_code = i32::from(f.i16(68));
                h.datatype = f.i16(70);
                h.bitpix = f.i16(72);
                h.slice_start = i64::from(f.i16(74));
                for (i, p) in h.pixdim.iter_mut().enumerate() {
                    *p = f.f32(76 + 4 * i);
                }
                h.vox_offset = f.f32(108);
                h.scl_slope = f.f32(112);
                h.scl_inter = f.f32(116);
                h.slice_end = i64::from(f.i16(120));
                h.slice_code = i32::from(bytes[122]);
                h.xyzt_units = i32::from(bytes[123]);
                h.cal_max = f.f32(124);
                h.cal_min = f.f32(128);
                h.slice_duration = f.f32(132);
                h.toffset = f.f32(136);
                h.descrip = f.bytes(148);
                h.aux_file = f.bytes(228);
                h.qform_code = i32::from(f.i16(252));
                h.sform_code = i32::from(f.i16(254));
                for i in 0..3 {
                    h.quatern[i] = f.f32(256 + 4 * i);
                    h.qoffset[i] = f.f32(268 + 4 * i);
                }
                for (r, row) in h.srow.iter_mut().enumerate() {
                    for (c, v) in row.iter_mut().enumerate() {
                        *v = f.f32(280 + 16 * r + 4 * c);
                    }
                }
                h.intent_name = f.bytes(328);
            }
            NiftiFormat::Nifti2 => {
                let magic: [u8; 8] = f.bytes(4);
                h.single_file = match &magic {
                    b"n+2\0\r\n\x1a\n" => true,
                    b"ni2\0\r\n\x1a\n" => false,
                    _ => {
                        return Err(bad_magic(path, &magic, "n+2 or ni2 followed by \\0\\r\\n\\x1a\\n"));
                    }
                };
                h.datatype = f.i16(12);
                h.bitpix = f.i16(14);
                for (i, d) in h.dim.iter_mut().enumerate() {
                    *d = f.i64(16 + 8 * i);
                }
                for (i, p) in h.intent_p.iter_mut().enumerate() {
                    *p = f.f64(80 + 8 * i);
                }
                for (i, p) in h.pixdim.iter_mut().enumerate() {
                    *p = f.f64(104 + 8 * i);
                }
                h.vox_offset = f.i64(168) as f64;
                h.scl_slope = f.f64(176);
                h.scl_inter = f.f64(184);
                h.cal_max = f.f64(192);
                h.cal_min = f.f64(200);
                h.slice_duration = f.f64(208);
                h.toffset = f.f64(216);
                h.slice_start = f.i64(224);
                h.slice_end = f.i64(232);
                h.descrip = f.bytes(240);
                h.aux_file = f.bytes(320);
                h.qform_code = f.i32(344);
                h.sform_code = f.i32(348);
                for i in 0..3 {
                    h.quatern[i] = f.f64(352 + 8 * i);
                    h.qoffset[i] = f.f64(376 + 8 * i);
                }
                for (r, row) in h.srow.iter_mut().enumerate() {
                    for (c, v) in row.iter_mut().enumerate() {
                        *v = f.f64(400 + 32 * r + 8 * c);
                    }
                }
                h.slice_code = f.i32(496);
                h.xyzt_units = f.i32(500);
                h.intent_code = f.i32(504);
                h.intent_name = f.bytes(508);
                h.dim_info = bytes[524];
            }
        }
        Ok(h)
    }

    /// The header as bytes in its own format and byte order (348 or 540 bytes; the extension
    /// flag and extensions are not included).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = FieldWriter { b: vec![0u8; self.format.header_size()], big: self.byte_order == ByteOrder::Big };
        match self.format {
            NiftiFormat::Nifti1 => {
                w.put(0, &348i32.to_le_bytes());
                w.b[38] = b'r';
                w.b[39] = self.dim_info;
                for (i, d) in self.dim.iter().enumerate() {
                    w.put(40 + 2 * i, &(*d as i16).to_le_bytes());
                }
                for (i, p) in self.intent_p.iter().enumerate() {
                    w.put(56 + 4 * i, &(*p as f32).to_le_bytes());
                }
                w.put(68, &(self.intent_code as i16).to_le_bytes());
                w.put(70, &self.datatype.to_le_bytes());
                w.put(72, &self.bitpix.to_le_bytes());
                w.put(74, &(self.slice_start as i16).to_le_bytes());
                for (i, p) in self.pixdim.iter().enumerate() {
                    w.put(76 + 4 * i, &(*p as f32).to_le_bytes());
                }
                w.put(108, &(self.vox_offset as f32).to_le_bytes());
                w.put(112, &(self.scl_slope as f32).to_le_bytes());
                w.put(116, &(self.scl_inter as f32).to_le_bytes());
                w.put(120, &(self.slice_end as i16).to_le_bytes());
                w.b[122] = self.slice_code as u8;
                w.b[123] = self.xyzt_units as u8;
                w.put(124, &(self.cal_max as f32).to_le_bytes());
                w.put(128, &(self.cal_min as f32).to_le_bytes());
                w.put(132, &(self.slice_duration as f32).to_le_bytes());
                w.put(136, &(self.toffset as f32).to_le_bytes());
                w.raw(148, &self.descrip);
                w.raw(228, &self.aux_file);
                w.put(252, &(self.qform_code as i16).to_le_bytes());
                w.put(254, &(self.sform_code as i16).to_le_bytes());
                for i in 0..3 {
                    w.put(256 + 4 * i, &(self.quatern[i] as f32).to_le_bytes());
                    w.put(268 + 4 * i, &(self.qoffset[i] as f32).to_le_bytes());
                }
                for (r, row) in self.srow.iter().enumerate() {
                    for (c, v) in row.iter().enumerate() {
                        w.put(280 + 16 * r + 4 * c, &(*v as f32).to_le_bytes());
                    }
                }
                w.raw(328, &self.intent_name);
                w.raw(344, if self.single_file { b"n+1\0" } else { b"ni1\0" });
            }
            NiftiFormat::Nifti2 => {
                w.put(0, &540i32.to_le_bytes());
                w.raw(4, if self.single_file { b"n+2\0\r\n\x1a\n" } else { b"ni2\0\r\n\x1a\n" });
                w.put(12, &self.datatype.to_le_bytes());
                w.put(14, &self.bitpix.to_le_bytes());
                for (i, d) in self.dim.iter().enumerate() {
                    w.put(16 + 8 * i, &d.to_le_bytes());
                }
                for (i, p) in self.intent_p.iter().enumerate() {
                    w.put(80 + 8 * i, &p.to_le_bytes());
                }
                for (i, p) in self.pixdim.iter().enumerate() {
                    w.put(104 + 8 * i, &p.to_le_bytes());
                }
                w.put(168, &(self.vox_offset as i64).to_le_bytes());
                w.put(176, &self.scl_slope.to_le_bytes());
                w.put(184, &self.scl_inter.to_le_bytes());
                w.put(192, &self.cal_max.to_le_bytes());
                w.put(200, &self.cal_min.to_le_bytes());
                w.put(208, &self.slice_duration.to_le_bytes());
                w.put(216, &self.toffset.to_le_bytes());
                w.put(224, &self.slice_start.to_le_bytes());
                w.put(232, &self.slice_end.to_le_bytes());
                w.raw(240, &self.descrip);
                w.raw(320, &self.aux_file);
                w.put(344, &self.qform_code.to_le_bytes());
                w.put(348, &self.sform_code.to_le_bytes());
                for i in 0..3 {
                    w.put(352 + 8 * i, &self.quatern[i].to_le_bytes());
                    w.put(376 + 8 * i, &self.qoffset[i].to_le_bytes());
                }
                for (r, row) in self.srow.iter().enumerate() {
                    for (c, v) in row.iter().enumerate() {
                        w.put(400 + 32 * r + 8 * c, &v.to_le_bytes());
                    }
                }
                w.put(496, &self.slice_code.to_le_bytes());
                w.put(500, &self.xyzt_units.to_le_bytes());
                w.put(504, &self.intent_code.to_le_bytes());
                w.raw(508, &self.intent_name);
                w.b[524] = self.dim_info;
            }
        }
        w.b
    }

    /// The number of dimensions, `dim[0]`.
    pub fn ndim(&self) -> i64 {
        self.dim[0]
    }

    /// `descrip` as text, up to its first NUL.
    pub fn description(&self) -> String {
        c_string(&self.descrip)
    }
}

/// Text of a NUL-padded byte field.
pub(crate) fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

struct FieldWriter {
    b: Vec<u8>,
    big: bool,
}

impl FieldWriter {
    /// Writes little-endian `le` bytes at `off`, reversed for a big-endian header.
    fn put(&mut self, off: usize, le: &[u8]) {
        let dst = &mut self.b[off..off + le.len()];
        dst.copy_from_slice(le);
        if self.big {
            dst.reverse();
        }
    }
    fn raw(&mut self, off: usize, bytes: &[u8]) {
        self.b[off..off + bytes.len()].copy_from_slice(bytes);
    }
}

fn bad_magic(path: &Path, magic: &[u8], expected: &str) -> Error {
    Error::new(
        ErrorKind::BadMagic,
        path,
        format!("magic = {:?}: not a NIfTI file (expected {expected})", String::from_utf8_lossy(magic)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(format: NiftiFormat, byte_order: ByteOrder) -> NiftiHeader {
        let mut h = NiftiHeader { format, byte_order, ..NiftiHeader::default() };
        h.dim = [4, 5, 6, 7, 2, 1, 1, 1];
        h.datatype = 4;
        h.bitpix = 16;
        h.pixdim = [-1.0, 0.5, 0.75, 2.5, 1.5, 1.0, 1.0, 1.0];
        h.vox_offset = 352.0;
        h.scl_slope = 2.0;
        h.scl_inter = -1024.0;
        h.qform_code = 1;
        h.sform_code = 2;
        h.quatern = [0.25, -0.5, 0.125];
        h.qoffset = [-10.0, 20.5, 3.0];
        h.srow = [[0.5, 0.0, 0.0, -10.0], [0.0, 0.75, 0.0, 20.5], [0.0, 0.0, 2.5, 3.0]];
        h.descrip[..4].copy_from_slice(b"test");
        h.dim_info = 0b0011_1001;
        h.slice_code = 2;
        h.xyzt_units = 10;
        h
    }

    #[test]
    fn round_trips_every_format_and_byte_order() {
        for format in [NiftiFormat::Nifti1, NiftiFormat::Nifti2] {
            for bo in [ByteOrder::Little, ByteOrder::Big] {
                let h = sample(format, bo);
                let bytes = h.to_bytes();
                assert_eq!(bytes.len(), format.header_size());
                let back = NiftiHeader::parse(&bytes, Path::new("x.nii")).expect("parses");
                assert_eq!(back, h, "{format:?} {bo:?}");
            }
        }
    }

    #[test]
    fn rejects_short_and_foreign_headers() {
        let p = Path::new("x.nii");
        let h = sample(NiftiFormat::Nifti1, ByteOrder::Little).to_bytes();
        assert_eq!(NiftiHeader::parse(&h[..200], p).map_err(|e| e.kind()), Err(ErrorKind::Truncated));
        let mut bad = h.clone();
        bad[0] = 0x99;
        assert_eq!(NiftiHeader::parse(&bad, p).map_err(|e| e.kind()), Err(ErrorKind::BadHeader));
        let mut bad = h;
        bad[344..348].copy_from_slice(b"XYZ\0");
        let err = NiftiHeader::parse(&bad, p).expect_err("bad magic");
        assert_eq!(err.kind(), ErrorKind::BadMagic);
        assert!(err.to_string().starts_with("x.nii: magic"), "{err}");
    }
}
