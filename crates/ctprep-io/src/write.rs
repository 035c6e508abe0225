//! Writing NIfTI-1 (or NIfTI-2 when a dimension needs it) `.nii` and `.nii.gz`: sform and
//! qform both set and consistent, written to a temporary file in the target folder and renamed
//! into place, so an interrupted write leaves no partial file.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::buffer::huge_zeroed;
use crate::error::{Error, ErrorKind, Result};
use crate::header::{ByteOrder, NiftiFormat, NiftiHeader};
use crate::volume::Volume;
use crate::xform::qform_from_affine;

/// The default gzip level for `.nii.gz` output.
///
/// Chosen by measurement on the 512x512x300 int16 CT phantom (`cargo bench -p ctprep-benches
/// --bench io -- gzip_level`; the README's "gzip level" table): libdeflate's level 1 compresses it
/// 2.93x in ~0.42 s, levels 2-6 gain at most 4 % in size for 1.7-6x the time.
pub const DEFAULT_GZIP_LEVEL: u32 = 1;

/// How to write a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    gzip_level: u32,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions { gzip_level: DEFAULT_GZIP_LEVEL }
    }
}

impl WriteOptions {
    /// The defaults: gzip level [`DEFAULT_GZIP_LEVEL`].
    pub fn new() -> WriteOptions {
        WriteOptions::default()
    }

    /// The gzip level for `.nii.gz` (0 = stored, 9 = smallest; default [`DEFAULT_GZIP_LEVEL`]).
    /// Values above 9 are treated as 9.
    pub fn gzip_level(mut self, level: u32) -> WriteOptions {
        self.gzip_level = level.min(9);
        self
    }
}

/// Whether `path` names a gzip-compressed NIfTI (`.nii.gz`), a plain one (`.nii`), or neither.
pub fn nifti_output_kind(path: &Path) -> Option<bool> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".nii.gz") && name.len() > 7 {
        Some(true)
    } else if name.ends_with(".nii") && name.len() > 4 {
        Some(false)
    } else {
        None
    }
}

/// The header `write_nifti` writes for `vol`: the source header's descriptive fields kept,
/// dims, datatype, scaling and both transforms set from the volume.
pub fn header_for(vol: &Volume) -> NiftiHeader {
    let mut h = vol.header().clone();
    let shape = vol.shape();
    let needs_v2 = shape.iter().any(|&d| d > i16::MAX as usize);
    h.format = if needs_v2 || h.format == NiftiFormat::Nifti2 { NiftiFormat::Nifti2 } else { NiftiFormat::Nifti1 };
    h.byte_order = ByteOrder::Little;
    h.single_file = true;
    h.dim = [1; 8];
    h.dim[0] = shape.len() as i64;
    for (i, d) in shape.iter().enumerate() {
        h.dim[i + 1] = *d as i64;
    }
    let dtype = vol.dtype();
    h.datatype = dtype.nifti_code();
    h.bitpix = (dtype.size() * 8) as i16;
    let (slope, inter) = vol.scaling().map_or((1.0, 0.0), |s| (s.slope, s.inter));
    h.scl_slope = slope;
    h.scl_inter = inter;
    let ext_bytes: usize = vol.extensions().iter().map(|e| padded_ext_len(e.data.len())).sum();
    h.vox_offset = (h.format.header_size() + 4 + ext_bytes) as f64;

    // Codes: kept from the source where set; a transform the source lacked takes the other's
    // code; a volume with neither (pixdim fallback) or a new one gets 1 (scanner).
    let sform_code = if h.sform_code > 0 {
        h.sform_code
    } else if h.qform_code > 0 {
        h.qform_code
    } else {
        1
    };
    let qform_code = if h.qform_code > 0 { h.qform_code } else { sform_code };
    let a = vol.affine();
    let rows = a.rows();
    h.srow = [rows[0], rows[1], rows[2]];
    h.sform_code = sform_code;
    match qform_from_affine(a) {
        Some(q) => {
            h.qform_code = qform_code;
            h.pixdim[0] = q.qfac;
            h.pixdim[1..4].copy_from_slice(&q.pixdim);
            h.quatern = q.quatern;
            h.qoffset = q.qoffset;
        }
        None => {
            // A zero-length column has no rotation: only the sform can carry this affine.
            h.qform_code = 0;
            h.pixdim[0] = 1.0;
            h.pixdim[1..4].copy_from_slice(&a.spacing());
            h.quatern = [0.0; 3];
            h.qoffset = a.translation();
        }
    }
    h
}

fn padded_ext_len(data_len: usize) -> usize {
    (data_len + 8).div_ceil(16) * 16
}

/// Writes `vol` to `path` (`.nii` or `.nii.gz`, chosen by the name; dotted names such as
/// `ct.v2.nii.gz` are kept as given).
///
/// The data is written little-endian in its stored type with its scaling. The file appears
/// only when complete: it is written to a temporary file in the same folder and renamed.
pub fn write_nifti(vol: &Volume, path: impl AsRef<Path>, opts: &WriteOptions) -> Result<()> {
    let path = path.as_ref();
    let gz = nifti_output_kind(path)
        .ok_or_else(|| Error::new(ErrorKind::InvalidRequest, path, "output file name must end in .nii or .nii.gz"))?;
    let h = header_for(vol);
    let mut head = h.to_bytes();
    let exts = vol.extensions();
    head.extend_from_slice(&[u8::from(!exts.is_empty()), 0, 0, 0]);
    for e in exts {
        let len = padded_ext_len(e.data.len());
        head.extend_from_slice(&(len as i32).to_le_bytes());
        head.extend_from_slice(&e.code.to_le_bytes());
        head.extend_from_slice(&e.data);
        head.resize(head.len() + len - 8 - e.data.len(), 0);
    }

    write_atomically(path, |file| {
        let werr = |e| Error::io(path, "write", e);
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let data = little_endian_bytes(vol);
        if gz {
            let (compressed, n) =
                gzip_whole(&head, &data, opts.gzip_level).map_err(|e| Error::io(path, "compress the volume for", e))?;
            w.write_all(&compressed[..n]).map_err(werr)?;
        } else {
            w.write_all(&head).map_err(werr)?;
            w.write_all(&data).map_err(werr)?;
        }
        w.flush().map_err(werr)
    })
}

/// Creates `path` through a temporary file in its folder: `write` fills the file, which is then
/// renamed onto `path`. When `write` fails (or the process dies) no partial `path` appears; the
/// temporary file is removed.
pub(crate) fn write_atomically(path: &Path, write: impl FnOnce(&std::fs::File) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ctprep-").suffix(".tmp");
    // tempfile creates private (0600) files; an output should be readable like any other.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let tmp = builder
        .tempfile_in(dir)
        .map_err(|e| Error::io(path, &format!("create a temporary file in {}", dir.display()), e))?;
    write(tmp.as_file())?;
    tmp.persist(path).map_err(|e| Error::io(path, "rename the finished temporary file to", e.error))?;
    Ok(())
}

/// One gzip member holding `head` then `data`, `data` compressed by libdeflate at `level` (0-9).
///
/// libdeflate compresses whole buffers only, and joining the header and the voxels in one
/// buffer cost a copy of the voxels (479 MB for a float32 volume of 1 mm CT). Instead the deflate
/// stream starts with the header bytes as uncompressed (stored) blocks, which end on a byte
/// boundary, followed by libdeflate's raw deflate stream of the voxels: one valid stream, one
/// gzip member, so every gzip reader reads it (including those that stop after the first
/// member). The voxels' stream never refers back into the header; the header is a few hundred
/// bytes, so nothing is lost in compression.
fn gzip_whole(head: &[u8], data: &[u8], level: u32) -> std::io::Result<(memmap2::MmapMut, usize)> {
    let lvl = libdeflater::CompressionLvl::new(level.min(9) as i32)
        .map_err(|e| std::io::Error::other(format!("gzip level {level}: {e:?}")))?;
    let mut c = libdeflater::Compressor::new(lvl);
    // gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS unknown.
    const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let stored_blocks = head.len().div_ceil(STORED_MAX).max(1);
    let cap = GZIP_HEADER.len() + stored_blocks * 5 + head.len() + c.deflate_compress_bound(data.len()) + 8;
    let mut out = huge_zeroed(cap)?;
    out[..GZIP_HEADER.len()].copy_from_slice(&GZIP_HEADER);
    let mut pos = GZIP_HEADER.len();
    let mut chunks: Vec<&[u8]> = head.chunks(STORED_MAX).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    for chunk in chunks {
        // A stored block, not the last one: BFINAL 0, BTYPE 00 (the rest of the byte is padding),
        // then LEN and its one's complement, little-endian.
        let len = chunk.len() as u16;
        out[pos] = 0;
        out[pos + 1..pos + 3].copy_from_slice(&len.to_le_bytes());
        out[pos + 3..pos + 5].copy_from_slice(&(!len).to_le_bytes());
        out[pos + 5..pos + 5 + chunk.len()].copy_from_slice(chunk);
        pos += 5 + chunk.len();
    }
    let n = c.deflate_compress(data, &mut out[pos..]).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    pos += n;
    let mut crc = libdeflater::Crc::new();
    crc.update(head);
    crc.update(data);
    out[pos..pos + 4].copy_from_slice(&crc.sum().to_le_bytes());
    // ISIZE: the uncompressed length modulo 2^32.
    out[pos + 4..pos + 8].copy_from_slice(&((head.len() + data.len()) as u32).to_le_bytes());
    Ok((out, pos + 8))
}

/// The most bytes one stored deflate block holds.
const STORED_MAX: usize = 65_535;

/// The voxel bytes in little-endian order (a borrow on little-endian machines).
fn little_endian_bytes(vol: &Volume) -> std::borrow::Cow<'_, [u8]> {
    let bytes = vol.data().as_bytes();
    let size = vol.dtype().size();
    if cfg!(target_endian = "little") || size == 1 {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut v = bytes.to_vec();
    v.chunks_exact_mut(size).for_each(<[u8]>::reverse);
    std::borrow::Cow::Owned(v)
}
