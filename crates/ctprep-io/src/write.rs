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

/// One gzip member holding `head` then `data`, compressed by libdeflate at `level` (0-9).
///
/// libdeflate compresses whole buffers, so the two parts are first joined in one (a copy of the
/// voxel bytes, ~10 ms for 157 MB against ~420 ms of compression); a single member keeps the
/// file readable by every gzip reader, including those that stop after the first member.
fn gzip_whole(head: &[u8], data: &[u8], level: u32) -> std::io::Result<(memmap2::MmapMut, usize)> {
    let total = head.len() + data.len();
    let mut input = huge_zeroed(total)?;
    input[..head.len()].copy_from_slice(head);
    input[head.len()..total].copy_from_slice(data);
    let lvl = libdeflater::CompressionLvl::new(level.min(9) as i32)
        .map_err(|e| std::io::Error::other(format!("gzip level {level}: {e:?}")))?;
    let mut c = libdeflater::Compressor::new(lvl);
    let mut out = huge_zeroed(c.gzip_compress_bound(total))?;
    let n = c.gzip_compress(&input[..total], &mut out).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    Ok((out, n))
}

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
