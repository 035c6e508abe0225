//! Writing NIfTI-1 (or NIfTI-2 when a dimension needs it) `.nii` and `.nii.gz`: sform and
//! qform both set and consistent, written to a temporary file in the target folder and renamed
//! into place, so an interrupted write leaves no partial file.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::header::{ByteOrder, NiftiFormat, NiftiHeader};
use crate::volume::Volume;
use crate::xform::qform_from_affine;

/// The default gzip level for `.nii.gz` output.
///
/// Chosen by measurement (the README's "gzip level" section): level 1, the fastest, gives 2.87x on
/// the int16 CT phantom and 3.61x on `ctprep run`'s float32 MIP; levels 3 and 6 gain 4-9 % in size
/// for 1.1-2x the time. See `gzip_to` for what level 1 means here.
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
            gzip_to(&mut w, &head, &data, opts.gzip_level)
                .map_err(|e| Error::io(path, "compress the volume and write", e))?;
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

/// Voxel bytes per independently compressed piece of a `.nii.gz`: large enough that starting
/// each piece with an empty dictionary costs nothing measurable, small enough that a few pieces
/// per thread keep the threads busy and the buffers small.
const PIECE: usize = 4 << 20;

/// Writes one gzip member holding `head` then `data` to `w`: the header as uncompressed
/// (stored) deflate blocks, then the voxels in [`PIECE`]-byte pieces compressed in parallel
/// (rayon), four per thread at a time, and written in order while the next batch compresses.
///
/// Each piece is its own raw deflate stream (zlib-rs) ended by a sync flush (an empty stored
/// block: byte-aligned, not final) except the last, which ends the stream. No piece refers back
/// into another, so the concatenation is one valid deflate stream and the file is a single gzip
/// member: every gzip reader reads it, including those that stop after the first member (nifti-rs,
/// flate2's `GzDecoder`). The bytes written do not depend on the thread count.
///
/// Levels: 0 stores; 2-9 are zlib's levels; 1 (the fastest) is zlib's level 2 matcher, or our
/// runs + Huffman encoder ([`crate::deflate`]) when a sample of the piece shows it compresses
/// within 5 % as well (windowed float volumes, whose clipped background is runs of one value:
/// 3.4-4.3x faster than zlib-rs's run-length strategy there and 0.3 % smaller, 6-9x faster than
/// its matcher). zlib's own level 1 (`deflate_quick`) is not used: 1.6x larger on CT (see
/// `DEFAULT_GZIP_LEVEL`).
fn gzip_to(w: &mut (impl Write + Send), head: &[u8], data: &[u8], level: u32) -> std::io::Result<()> {
    use rayon::prelude::*;
    // gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS unknown.
    const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    w.write_all(&GZIP_HEADER)?;
    let mut crc = flate2::Crc::new();
    crc.update(head);
    let pieces = data.len().div_ceil(PIECE);
    for (i, chunk) in head.chunks(STORED_MAX).enumerate() {
        // A stored block: BFINAL (set only when there are no voxels after it), BTYPE 00 (the rest
        // of the byte is padding), then LEN and its one's complement, little-endian.
        let last = pieces == 0 && (i + 1) * STORED_MAX >= head.len();
        w.write_all(&stored_block_header(chunk.len() as u16, last))?;
        w.write_all(chunk)?;
    }
    if head.is_empty() && pieces == 0 {
        w.write_all(&stored_block_header(0, true))?;
    }
    // Pieces are compressed a batch at a time; while one batch is written out (in order, with its
    // CRCs combined) the next is compressed, so the threads do not wait for the file.
    let batch = 4 * rayon::current_num_threads().max(1);
    let compress_batch = |first: usize, bufs: &mut Vec<(Vec<u8>, flate2::Crc)>| -> std::io::Result<()> {
        let n = batch.min(pieces.saturating_sub(first));
        bufs.resize_with(n, || (Vec::new(), flate2::Crc::new()));
        bufs.par_iter_mut().enumerate().try_for_each(|(j, (out, c))| {
            let i = first + j;
            let piece = &data[i * PIECE..((i + 1) * PIECE).min(data.len())];
            *c = flate2::Crc::new();
            c.update(piece);
            compress_piece(piece, out, level, i + 1 == pieces)
        })
    };
    let mut ready = Vec::new();
    let mut next = Vec::new();
    compress_batch(0, &mut ready)?;
    for first in (batch..pieces + batch).step_by(batch) {
        let (written, compressed) = rayon::join(
            || -> std::io::Result<()> {
                for (out, c) in &ready {
                    w.write_all(out)?;
                    crc.combine(c);
                }
                Ok(())
            },
            || compress_batch(first, &mut next),
        );
        written?;
        compressed?;
        std::mem::swap(&mut ready, &mut next);
    }
    w.write_all(&crc.sum().to_le_bytes())?;
    // ISIZE: the uncompressed length modulo 2^32.
    w.write_all(&((head.len() + data.len()) as u32).to_le_bytes())
}

/// The 5 bytes starting a stored deflate block of `len` bytes.
pub(crate) fn stored_block_header(len: u16, last: bool) -> [u8; 5] {
    let [l0, l1] = len.to_le_bytes();
    let [n0, n1] = (!len).to_le_bytes();
    [u8::from(last), l0, l1, n0, n1]
}

/// How one piece is compressed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum PieceEncoder {
    /// Our runs + Huffman encoder ([`crate::deflate`]).
    Runs,
    /// zlib-rs with this configuration.
    Zlib(zlib_rs::DeflateConfig),
}

/// The encoder for `piece` at gzip level `level` (see [`gzip_to`]).
fn piece_encoder(piece: &[u8], level: u32) -> PieceEncoder {
    use zlib_rs::{DeflateConfig, Strategy};
    let config = |level: u32| DeflateConfig {
        level: level as i32,
        window_bits: -15,
        strategy: Strategy::Default,
        ..DeflateConfig::default()
    };
    if level != 1 {
        return PieceEncoder::Zlib(config(level.min(9)));
    }
    let matcher = config(2);
    // Four 16 KiB samples spread over the piece, compressed both ways.
    const SAMPLE: usize = 16 << 10;
    if piece.len() < 4 * SAMPLE {
        return PieceEncoder::Zlib(matcher);
    }
    let step = (piece.len() - SAMPLE) / 3;
    let samples = || (0..4).map(|k| &piece[k * step..k * step + SAMPLE]);
    let mut out = vec![0u8; zlib_rs::compress_bound(SAMPLE)];
    let zlib: usize = samples().map(|s| deflate_len(s, &mut out, matcher).unwrap_or(usize::MAX / 8)).sum();
    let runs: usize = samples()
        .map(|s| {
            out.clear();
            crate::deflate::compress(s, &mut out, true);
            out.len()
        })
        .sum();
    if runs * 100 <= zlib * 105 { PieceEncoder::Runs } else { PieceEncoder::Zlib(matcher) }
}

/// The length of `input` compressed on its own with `config` (into `out`, large enough).
fn deflate_len(input: &[u8], out: &mut [u8], config: zlib_rs::DeflateConfig) -> Option<usize> {
    let mut d = zlib_rs::Deflate::new_with_config(config);
    match d.compress(input, out, zlib_rs::DeflateFlush::Finish) {
        Ok(zlib_rs::Status::StreamEnd) => Some(d.total_out() as usize),
        _ => None,
    }
}

/// Compresses `piece` into `out` (cleared first) as a raw deflate fragment: ended by a sync
/// flush, or, when `last`, by the end of the stream.
fn compress_piece(piece: &[u8], out: &mut Vec<u8>, level: u32, last: bool) -> std::io::Result<()> {
    let config = match piece_encoder(piece, level) {
        PieceEncoder::Runs => {
            out.clear();
            crate::deflate::compress(piece, out, last);
            return Ok(());
        }
        PieceEncoder::Zlib(config) => config,
    };
    // Room for the worst case (stored blocks) plus the flush marker.
    out.clear();
    out.resize(zlib_rs::compress_bound(piece.len()) + 16, 0);
    let mut d = zlib_rs::Deflate::new_with_config(config);
    let flush = if last { zlib_rs::DeflateFlush::Finish } else { zlib_rs::DeflateFlush::SyncFlush };
    let status = d.compress(piece, out, flush).map_err(|e| std::io::Error::other(format!("deflate: {e:?}")))?;
    let done = if last { status == zlib_rs::Status::StreamEnd } else { d.total_in() as usize == piece.len() };
    if !done {
        return Err(std::io::Error::other("deflate did not finish a piece in its worst-case bound"));
    }
    out.truncate(d.total_out() as usize);
    Ok(())
}

/// The most bytes one stored deflate block holds.
pub(crate) const STORED_MAX: usize = 65_535;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Bytes with zero runs (a clipped background) in the first half and noisy int16 "tissue" in
    /// the second, `len` long.
    fn mixed(len: usize) -> Vec<u8> {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if i < len / 2 {
                    if (i / 4096).is_multiple_of(3) { (state >> 56) as u8 } else { 0 }
                } else if i % 2 == 0 {
                    (40 + (state >> 61)) as u8
                } else {
                    0
                }
            })
            .collect()
    }

    fn gunzip_single_member(bytes: &[u8]) -> Vec<u8> {
        // `GzDecoder` stops after the first member: the whole content must be in it.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).expect("valid gzip");
        out
    }

    #[test]
    fn parallel_pieces_make_one_member_independent_of_threads() {
        let head = vec![7u8; 70_000]; // two stored blocks
        for len in [0, 1, PIECE - 1, PIECE, 2 * PIECE + 12_345] {
            let data = mixed(len);
            for level in [0, 1, 2, 6] {
                let write = |threads: usize| {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
                    let mut out = Vec::new();
                    pool.install(|| gzip_to(&mut out, &head, &data, level)).expect("compresses");
                    out
                };
                let one = write(1);
                assert_eq!(one, write(2), "len {len} level {level}: bytes depend on the thread count");
                let back = gunzip_single_member(&one);
                assert_eq!(back.len(), head.len() + len, "len {len} level {level}");
                assert!(back[..head.len()] == head[..] && back[head.len()..] == data[..], "len {len} level {level}");
            }
        }
        let mut out = Vec::new();
        gzip_to(&mut out, &[], &[], 1).expect("empty");
        assert!(gunzip_single_member(&out).is_empty());
    }

    #[test]
    fn level_one_uses_the_run_encoder_only_where_it_pays() {
        let data = mixed(2 * PIECE);
        let (zeros, tissue) = data.split_at(PIECE);
        let zlib = |encoder| match encoder {
            PieceEncoder::Zlib(c) => (c.level, c.strategy),
            PieceEncoder::Runs => panic!("expected zlib, got the run encoder"),
        };
        assert_eq!(piece_encoder(zeros, 1), PieceEncoder::Runs);
        assert_eq!(zlib(piece_encoder(tissue, 1)), (2, zlib_rs::Strategy::Default));
        assert_eq!(zlib(piece_encoder(zeros, 6)), (6, zlib_rs::Strategy::Default));
        assert_eq!(zlib(piece_encoder(zeros, 0)).0, 0);
    }
}
