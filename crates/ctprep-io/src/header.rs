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

/// A header member of [`NiftiHeader`] that the formats store at a fixed offset.
#[derive(Clone, Copy, Debug)]
enum Member {
    DimInfo,
    Dim,
    IntentP,
    IntentCode,
    Datatype,
    Bitpix,
    SliceStart,
    Pixdim,
    VoxOffset,
    SclSlope,
    SclInter,
    SliceEnd,
    SliceCode,
    XyztUnits,
    CalMax,
    CalMin,
    SliceDuration,
    Toffset,
    Descrip,
    AuxFile,
    QformCode,
    SformCode,
    Quatern,
    Qoffset,
    Srow,
    IntentName,
}

/// How a format stores one value of a member.
#[derive(Clone, Copy, Debug)]
enum Stored {
    U8,
    I16,
    I32,
    I64,
    F32,
    F64,
    /// Bytes copied as they are (text), never byte-swapped.
    Text,
}

impl Stored {
    fn size(self) -> usize {
        match self {
            Stored::U8 | Stored::Text => 1,
            Stored::I16 => 2,
            Stored::I32 | Stored::F32 => 4,
            Stored::I64 | Stored::F64 => 8,
        }
    }
}

use Member as M;
use Stored as S;

/// Where each member sits in a NIfTI-1 header (`nifti1.h`); arrays are stored contiguously
/// (`srow_x`, `srow_y`, `srow_z` follow each other as one 12-value array). Parsing and writing
/// both walk this table, so an offset is written down once.
const NIFTI1_FIELDS: [(Member, usize, Stored); 26] = [
    (M::DimInfo, 39, S::U8),
    (M::Dim, 40, S::I16),
    (M::IntentP, 56, S::F32),
    (M::IntentCode, 68, S::I16),
    (M::Datatype, 70, S::I16),
    (M::Bitpix, 72, S::I16),
    (M::SliceStart, 74, S::I16),
    (M::Pixdim, 76, S::F32),
    (M::VoxOffset, 108, S::F32),
    (M::SclSlope, 112, S::F32),
    (M::SclInter, 116, S::F32),
    (M::SliceEnd, 120, S::I16),
    (M::SliceCode, 122, S::U8),
    (M::XyztUnits, 123, S::U8),
    (M::CalMax, 124, S::F32),
    (M::CalMin, 128, S::F32),
    (M::SliceDuration, 132, S::F32),
    (M::Toffset, 136, S::F32),
    (M::Descrip, 148, S::Text),
    (M::AuxFile, 228, S::Text),
    (M::QformCode, 252, S::I16),
    (M::SformCode, 254, S::I16),
    (M::Quatern, 256, S::F32),
    (M::Qoffset, 268, S::F32),
    (M::Srow, 280, S::F32),
    (M::IntentName, 328, S::Text),
];

/// The same for NIfTI-2 (`nifti2.h`).
const NIFTI2_FIELDS: [(Member, usize, Stored); 26] = [
    (M::Datatype, 12, S::I16),
    (M::Bitpix, 14, S::I16),
    (M::Dim, 16, S::I64),
    (M::IntentP, 80, S::F64),
    (M::Pixdim, 104, S::F64),
    (M::VoxOffset, 168, S::I64),
    (M::SclSlope, 176, S::F64),
    (M::SclInter, 184, S::F64),
    (M::CalMax, 192, S::F64),
    (M::CalMin, 200, S::F64),
    (M::SliceDuration, 208, S::F64),
    (M::Toffset, 216, S::F64),
    (M::SliceStart, 224, S::I64),
    (M::SliceEnd, 232, S::I64),
    (M::Descrip, 240, S::Text),
    (M::AuxFile, 320, S::Text),
    (M::QformCode, 344, S::I32),
    (M::SformCode, 348, S::I32),
    (M::Quatern, 352, S::F64),
    (M::Qoffset, 376, S::F64),
    (M::Srow, 400, S::F64),
    (M::SliceCode, 496, S::I32),
    (M::XyztUnits, 500, S::I32),
    (M::IntentCode, 504, S::I32),
    (M::IntentName, 508, S::Text),
    (M::DimInfo, 524, S::U8),
];

/// The magic string: its offset and its value for a single file and for a pair.
const NIFTI1_MAGIC: (usize, &[u8], &[u8]) = (344, b"n+1\0", b"ni1\0");
const NIFTI2_MAGIC: (usize, &[u8], &[u8]) = (4, b"n+2\0\r\n\x1a\n", b"ni2\0\r\n\x1a\n");

impl NiftiFormat {
    fn fields(self) -> &'static [(Member, usize, Stored); 26] {
        match self {
            NiftiFormat::Nifti1 => &NIFTI1_FIELDS,
            NiftiFormat::Nifti2 => &NIFTI2_FIELDS,
        }
    }

    fn magic(self) -> (usize, &'static [u8], &'static [u8]) {
        match self {
            NiftiFormat::Nifti1 => NIFTI1_MAGIC,
            NiftiFormat::Nifti2 => NIFTI2_MAGIC,
        }
    }
}

/// A member's values in the model, whatever their Rust type.
enum Values<'h> {
    I64(&'h mut [i64]),
    I32(&'h mut i32),
    I16(&'h mut i16),
    U8(&'h mut u8),
    F64(&'h mut [f64]),
    Text(&'h mut [u8]),
}

/// One number on its way between the model and the bytes. Integers and floats stay apart so
/// 64-bit dims survive exactly; `as` casts between them are the C header's conversions.
#[derive(Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

impl Num {
    fn i64(self) -> i64 {
        match self {
            Num::I(v) => v,
            Num::F(v) => v as i64,
        }
    }

    fn f64(self) -> f64 {
        match self {
            Num::I(v) => v as f64,
            Num::F(v) => v,
        }
    }
}

impl Values<'_> {
    /// How many values the member has.
    fn len(&self) -> usize {
        match self {
            Values::I64(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::Text(v) => v.len(),
            Values::I32(_) | Values::I16(_) | Values::U8(_) => 1,
        }
    }

    fn get(&self, i: usize) -> Num {
        match self {
            Values::I64(v) => Num::I(v[i]),
            Values::I32(v) => Num::I(i64::from(**v)),
            Values::I16(v) => Num::I(i64::from(**v)),
            Values::U8(v) => Num::I(i64::from(**v)),
            Values::F64(v) => Num::F(v[i]),
            Values::Text(v) => Num::I(i64::from(v[i])),
        }
    }

    fn set(&mut self, i: usize, n: Num) {
        match self {
            Values::I64(v) => v[i] = n.i64(),
            Values::I32(v) => **v = n.i64() as i32,
            Values::I16(v) => **v = n.i64() as i16,
            Values::U8(v) => **v = n.i64() as u8,
            Values::F64(v) => v[i] = n.f64(),
            Values::Text(v) => v[i] = n.i64() as u8,
        }
    }
}

impl NiftiHeader {
    /// The model's values of `m`.
    fn values(&mut self, m: Member) -> Values<'_> {
        match m {
            M::DimInfo => Values::U8(&mut self.dim_info),
            M::Dim => Values::I64(&mut self.dim),
            M::IntentP => Values::F64(&mut self.intent_p),
            M::IntentCode => Values::I32(&mut self.intent_code),
            M::Datatype => Values::I16(&mut self.datatype),
            M::Bitpix => Values::I16(&mut self.bitpix),
            M::SliceStart => Values::I64(std::slice::from_mut(&mut self.slice_start)),
            M::Pixdim => Values::F64(&mut self.pixdim),
            M::VoxOffset => Values::F64(std::slice::from_mut(&mut self.vox_offset)),
            M::SclSlope => Values::F64(std::slice::from_mut(&mut self.scl_slope)),
            M::SclInter => Values::F64(std::slice::from_mut(&mut self.scl_inter)),
            M::SliceEnd => Values::I64(std::slice::from_mut(&mut self.slice_end)),
            M::SliceCode => Values::I32(&mut self.slice_code),
            M::XyztUnits => Values::I32(&mut self.xyzt_units),
            M::CalMax => Values::F64(std::slice::from_mut(&mut self.cal_max)),
            M::CalMin => Values::F64(std::slice::from_mut(&mut self.cal_min)),
            M::SliceDuration => Values::F64(std::slice::from_mut(&mut self.slice_duration)),
            M::Toffset => Values::F64(std::slice::from_mut(&mut self.toffset)),
            M::Descrip => Values::Text(&mut self.descrip),
            M::AuxFile => Values::Text(&mut self.aux_file),
            M::QformCode => Values::I32(&mut self.qform_code),
            M::SformCode => Values::I32(&mut self.sform_code),
            M::Quatern => Values::F64(&mut self.quatern),
            M::Qoffset => Values::F64(&mut self.qoffset),
            M::Srow => Values::F64(self.srow.as_flattened_mut()),
            M::IntentName => Values::Text(&mut self.intent_name),
        }
    }
}

/// Reads the value of type `ty` at `off` of a header of either byte order.
fn read_num(b: &[u8], off: usize, ty: Stored, big: bool) -> Num {
    let mut a = [0u8; 8];
    let n = ty.size();
    a[..n].copy_from_slice(&b[off..off + n]);
    if big && !matches!(ty, S::Text) {
        a[..n].reverse();
    }
    match ty {
        S::U8 | S::Text => Num::I(i64::from(a[0])),
        S::I16 => Num::I(i64::from(i16::from_le_bytes([a[0], a[1]]))),
        S::I32 => Num::I(i64::from(i32::from_le_bytes([a[0], a[1], a[2], a[3]]))),
        S::I64 => Num::I(i64::from_le_bytes(a)),
        S::F32 => Num::F(f64::from(f32::from_le_bytes([a[0], a[1], a[2], a[3]]))),
        S::F64 => Num::F(f64::from_le_bytes(a)),
    }
}

/// Writes `n` as type `ty` at `off` of a header of either byte order.
fn write_num(b: &mut [u8], off: usize, ty: Stored, big: bool, n: Num) {
    let le: Vec<u8> = match ty {
        S::U8 | S::Text => vec![n.i64() as u8],
        S::I16 => (n.i64() as i16).to_le_bytes().to_vec(),
        S::I32 => (n.i64() as i32).to_le_bytes().to_vec(),
        S::I64 => n.i64().to_le_bytes().to_vec(),
        S::F32 => (n.f64() as f32).to_le_bytes().to_vec(),
        S::F64 => n.f64().to_le_bytes().to_vec(),
    };
    let dst = &mut b[off..off + le.len()];
    dst.copy_from_slice(&le);
    if big && !matches!(ty, S::Text) {
        dst.reverse();
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
                    "not a NIfTI or NRRD file: it starts with {} (as NIfTI, sizeof_hdr = {}: expected 348 or 540 in either byte order)",
                    describe_start(bytes),
                    i32::from_le_bytes(first4),
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
        let bytes = &bytes[..size];
        let big = byte_order == ByteOrder::Big;
        let (at, single, pair) = format.magic();
        let magic = &bytes[at..at + single.len()];
        let single_file = if magic == single {
            true
        } else if magic == pair {
            false
        } else {
            let expected = match format {
                NiftiFormat::Nifti1 => "n+1 or ni1",
                NiftiFormat::Nifti2 => "n+2 or ni2 followed by \\0\\r\\n\\x1a\\n",
            };
            return Err(bad_magic(path, magic, expected));
        };
        let mut h = NiftiHeader { format, byte_order, single_file, ..NiftiHeader::default() };
        for &(member, off, ty) in format.fields() {
            let mut values = h.values(member);
            for i in 0..values.len() {
                values.set(i, read_num(bytes, off + i * ty.size(), ty, big));
            }
        }
        Ok(h)
    }

    /// The header as bytes in its own format and byte order (348 or 540 bytes; the extension
    /// flag and extensions are not included).
    pub fn to_bytes(&self) -> Vec<u8> {
        let size = self.format.header_size();
        let mut b = vec![0u8; size];
        let big = self.byte_order == ByteOrder::Big;
        write_num(&mut b, 0, S::I32, big, Num::I(size as i64));
        if self.format == NiftiFormat::Nifti1 {
            // `regular`: 'r', as nibabel writes it (unused by NIfTI-1 readers).
            b[38] = b'r';
        }
        let (at, single, pair) = self.format.magic();
        let magic = if self.single_file { single } else { pair };
        b[at..at + magic.len()].copy_from_slice(magic);
        // `values` is the one accessor parsing and writing share, and it lends the members
        // mutably: writing reads them from a copy.
        let mut h = self.clone();
        for &(member, off, ty) in self.format.fields() {
            let values = h.values(member);
            for i in 0..values.len() {
                write_num(&mut b, off + i * ty.size(), ty, big, values.get(i));
            }
        }
        b
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

/// What the first bytes of a file look like, for an error about a file that is neither NIfTI nor
/// NRRD.
pub(crate) fn describe_start(b: &[u8]) -> String {
    let kind = if b.starts_with(b"NRRD") {
        Some("an NRRD header")
    } else if b.get(128..132) == Some(b"DICM") {
        Some("a DICOM preamble (DICM at byte 128)")
    } else if b.starts_with(b"\x89PNG") {
        Some("a PNG signature")
    } else if b.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("a JPEG signature")
    } else if b.starts_with(b"PK\x03\x04") {
        Some("a zip signature")
    } else if b.starts_with(b"BZh") {
        Some("a bzip2 signature")
    } else if b.starts_with(&[0x1f, 0x8b]) {
        Some("a gzip signature")
    } else {
        None
    };
    let head = &b[..b.len().min(16)];
    let text = head.iter().all(|&c| c == b'\n' || c == b'\r' || c == b'\t' || (0x20..0x7f).contains(&c));
    match (kind, text) {
        (Some(k), _) => format!("{k} (bytes {:02x?})", &b[..b.len().min(4)]),
        (None, true) => format!("text {:?}", String::from_utf8_lossy(head)),
        (None, false) => format!("bytes {head:02x?}"),
    }
}

/// Text of a NUL-padded byte field.
pub(crate) fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
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
