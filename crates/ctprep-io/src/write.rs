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
    header_with(vol, vol.shape(), vol.affine())
}

/// [`header_for`] a volume like `vol` but of `shape` and `affine`.
fn header_with(vol: &Volume, shape: &[usize], a: &ctprep_core::Affine) -> NiftiHeader {
    let mut h = vol.header().clone();
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
    let head = head_bytes(vol, &header_for(vol));
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

/// The bytes before the voxels: header `h`, the extension flag and `vol`'s extensions.
fn head_bytes(vol: &Volume, h: &NiftiHeader) -> Vec<u8> {
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
    head
}

/// Creates `path` through a temporary file in its folder: `write` fills the file, which is then
/// renamed onto `path`. When `write` fails (or the process dies) no partial `path` appears; the
/// temporary file is removed.
pub(crate) fn write_atomically(path: &Path, write: impl FnOnce(&std::fs::File) -> Result<()>) -> Result<()> {
    let tmp = temp_file_for(path)?;
    write(tmp.as_file())?;
    persist(tmp, path)
}

/// A temporary file (removed when dropped) in `path`'s folder, readable like any output.
fn temp_file_for(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ctprep-").suffix(".tmp");
    // tempfile creates private (0600) files; an output should be readable like any other.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    builder.tempfile_in(dir).map_err(|e| Error::io(path, &format!("create a temporary file in {}", dir.display()), e))
}

/// Renames the finished temporary file onto `path`.
fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
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
/// Each piece is its own raw deflate stream fragment ended by a sync flush (an empty stored
/// block: byte-aligned, not final); an empty final block ends the stream. No piece refers back
/// into another, so the concatenation is one valid deflate stream and the file is a single gzip
/// member: every gzip reader reads it, including those that stop after the first member
/// (nifti-rs, flate2's `GzDecoder`). The bytes written do not depend on the thread count.
///
/// Levels: 0 stores; 2-9 are zlib's levels; 1 (the fastest) is zlib's level 2 matcher, or our
/// runs + Huffman encoder ([`crate::deflate`]) when a sample of the piece shows it compresses
/// within 5 % as well (windowed float volumes, whose clipped background is runs of one value:
/// 3.4-4.3x faster than zlib-rs's run-length strategy there and 0.3 % smaller, 6-9x faster than
/// its matcher). zlib's own level 1 (`deflate_quick`) is not used: 1.6x larger on CT (see
/// `DEFAULT_GZIP_LEVEL`).
fn gzip_to(w: &mut (impl Write + Send), head: &[u8], data: &[u8], level: u32) -> std::io::Result<()> {
    use rayon::prelude::*;
    let mut member = GzipMember::start(w, head)?;
    let pieces = data.len().div_ceil(PIECE);
    // Pieces are compressed a batch at a time; while one batch is written out (in order, with its
    // CRCs combined) the next is compressed, so the threads do not wait for the file.
    let batch = 4 * rayon::current_num_threads().max(1);
    let compress_batch = |first: usize, bufs: &mut Vec<Piece>| -> std::io::Result<()> {
        let n = batch.min(pieces.saturating_sub(first));
        bufs.resize_with(n, Piece::default);
        bufs.par_iter_mut().enumerate().try_for_each(|(j, out)| {
            let i = first + j;
            out.pack(&data[i * PIECE..((i + 1) * PIECE).min(data.len())], true, level)
        })
    };
    let mut ready = Vec::new();
    let mut next = Vec::new();
    compress_batch(0, &mut ready)?;
    for first in (batch..pieces + batch).step_by(batch) {
        let (written, compressed) =
            rayon::join(|| ready.iter().try_for_each(|p| member.add(w, p)), || compress_batch(first, &mut next));
        written?;
        compressed?;
        std::mem::swap(&mut ready, &mut next);
    }
    member.end(w)
}

/// The CRC-32 (gzip's) and length of a run of bytes: libdeflate's vectorised CRC (about 10x
/// flate2's on these machines: it was 4 % of `ctprep run`'s profile), runs joined with zlib-rs's
/// `crc32_combine`.
#[derive(Clone, Copy, Debug, Default)]
struct Crc32 {
    sum: u32,
    len: u64,
}

impl Crc32 {
    fn update(&mut self, bytes: &[u8]) {
        let mut c = libdeflater::Crc::with_initial(self.sum);
        c.update(bytes);
        self.sum = c.sum();
        self.len += bytes.len() as u64;
    }

    /// Appends the run `next` describes.
    fn combine(&mut self, next: &Crc32) {
        self.sum = zlib_rs::crc32::crc32_combine(self.sum, next.sum, next.len);
        self.len += next.len;
    }

    fn sum(&self) -> u32 {
        self.sum
    }
}

/// A gzip member being written: the CRC and length of what its deflate stream holds so far.
struct GzipMember {
    crc: Crc32,
    len: u64,
}

impl GzipMember {
    /// Writes the gzip header, then `head` as stored (uncompressed) deflate blocks, none final.
    fn start(w: &mut impl Write, head: &[u8]) -> std::io::Result<GzipMember> {
        // gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS unknown.
        const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
        w.write_all(&GZIP_HEADER)?;
        for chunk in head.chunks(STORED_MAX) {
            w.write_all(&stored_block_header(chunk.len() as u16, false))?;
            w.write_all(chunk)?;
        }
        let mut crc = Crc32::default();
        crc.update(head);
        Ok(GzipMember { crc, len: head.len() as u64 })
    }

    /// Writes a compressed piece (a fragment ending in a sync flush).
    fn add(&mut self, w: &mut impl Write, piece: &Piece) -> std::io::Result<()> {
        w.write_all(&piece.bytes)?;
        self.crc.combine(&piece.crc);
        self.len += piece.len as u64;
        Ok(())
    }

    /// Ends the deflate stream (an empty final stored block) and the member (CRC-32, ISIZE).
    fn end(self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(&stored_block_header(0, true))?;
        w.write_all(&self.crc.sum().to_le_bytes())?;
        // ISIZE: the uncompressed length modulo 2^32.
        w.write_all(&(self.len as u32).to_le_bytes())
    }
}

/// Voxel bytes made ready for a file by [`Packer::pack_f32`]: compressed for `.nii.gz`, copied as
/// they are for `.nii`. Reusable: packing again keeps the allocation.
#[derive(Debug, Default)]
pub struct Piece {
    bytes: Vec<u8>,
    crc: Crc32,
    len: usize,
}

impl Piece {
    /// How many voxel bytes it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no voxel bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Replaces the contents with `data`: for gzip, independently compressed [`PIECE`]-byte
    /// fragments at `level` (see [`gzip_to`]), each ended by a sync flush.
    fn pack(&mut self, data: &[u8], gz: bool, level: u32) -> std::io::Result<()> {
        self.bytes.clear();
        self.len = data.len();
        self.crc = Crc32::default();
        if !gz {
            self.bytes.extend_from_slice(data);
            return Ok(());
        }
        for piece in data.chunks(PIECE) {
            self.crc.update(piece);
            compress_piece(piece, &mut self.bytes, piece_encoder(piece, level))?;
        }
        Ok(())
    }
}

/// Packs voxel bytes for one [`NiftiStream`]; cheap to clone, so every worker can hold one.
#[derive(Clone, Debug)]
pub struct Packer {
    gz: bool,
    level: u32,
    path: std::sync::Arc<Path>,
}

impl Packer {
    /// Makes `piece` hold `values` (the next voxels of the stream, in file order), compressed for
    /// `.nii.gz`. Pieces are independent: any thread may pack any of them.
    pub fn pack_f32(&self, values: &[f32], piece: &mut Piece) -> Result<()> {
        let bytes: &[u8] = bytemuck::cast_slice(values);
        let fail = |e: std::io::Error| Error::io(&*self.path, "compress the voxels of", e);
        if cfg!(target_endian = "little") {
            return piece.pack(bytes, self.gz, self.level).map_err(fail);
        }
        let swapped: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        piece.pack(&swapped, self.gz, self.level).map_err(fail)
    }
}

/// A `.nii` or `.nii.gz` written while its voxels are still being computed, so a producer never
/// holds the whole volume: [`NiftiStream::packer`] packs (compresses) slabs on any thread,
/// [`NiftiStream::append`] writes them in file order, [`NiftiStream::finish`] checks that
/// exactly the header's voxel count arrived and renames the file into place. Dropped before
/// `finish` (an error, a panic), it leaves no file behind. The bytes are those of
/// [`write_nifti`] of the same volume except where the compressed pieces split.
#[derive(Debug)]
pub struct NiftiStream {
    path: std::path::PathBuf,
    tmp: tempfile::NamedTempFile,
    w: BufWriter<std::fs::File>,
    member: Option<GzipMember>,
    packer: Packer,
    expected: u64,
    written: u64,
}

impl std::fmt::Debug for GzipMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzipMember").field("len", &self.len).finish()
    }
}

impl NiftiStream {
    /// Starts `path` (`.nii` or `.nii.gz`) for a float32 volume of `shape` and `affine` whose
    /// other header fields, scaling and extensions are `template`'s (a float32 volume whose own
    /// voxels are not written), and writes its header.
    pub fn create(
        template: &Volume,
        shape: &[usize],
        affine: ctprep_core::Affine,
        path: impl AsRef<Path>,
        opts: &WriteOptions,
    ) -> Result<NiftiStream> {
        let path = path.as_ref();
        let gz = nifti_output_kind(path).ok_or_else(|| {
            Error::new(ErrorKind::InvalidRequest, path, "output file name must end in .nii or .nii.gz")
        })?;
        if template.dtype() != crate::DataType::F32 {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                path,
                format!("a stream writes float32 voxels, not {}", template.dtype()),
            ));
        }
        let voxels = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        let expected = voxels.and_then(|n| n.checked_mul(template.dtype().size() as u64)).ok_or_else(|| {
            Error::new(ErrorKind::InvalidRequest, path, format!("shape {shape:?} is too large to write"))
        })?;
        let head = head_bytes(template, &header_with(template, shape, &affine));
        let tmp = temp_file_for(path)?;
        let file = tmp.as_file().try_clone().map_err(|e| Error::io(path, "open the temporary file of", e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let werr = |e| Error::io(path, "write", e);
        let member = if gz {
            Some(GzipMember::start(&mut w, &head).map_err(werr)?)
        } else {
            w.write_all(&head).map_err(werr)?;
            None
        };
        let packer = Packer { gz, level: opts.gzip_level, path: path.into() };
        Ok(NiftiStream { path: path.to_owned(), tmp, w, member, packer, expected, written: 0 })
    }

    /// The packer for this file's pieces.
    pub fn packer(&self) -> Packer {
        self.packer.clone()
    }

    /// Writes `piece`, packed by this stream's packer, as the next voxels; an error when it would
    /// run past the header's voxel count.
    pub fn append(&mut self, piece: &Piece) -> Result<()> {
        let total = self.written + piece.len as u64;
        if total > self.expected {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                &self.path,
                format!("{total} voxel bytes given for a header of {} bytes", self.expected),
            ));
        }
        let r = match &mut self.member {
            Some(m) => m.add(&mut self.w, piece),
            None => self.w.write_all(&piece.bytes),
        };
        r.map_err(|e| Error::io(&self.path, "write", e))?;
        self.written = total;
        Ok(())
    }

    /// Ends the file and renames it into place; an error (and no file) when fewer voxels than the
    /// header's arrived.
    pub fn finish(self) -> Result<()> {
        self.complete()?.persist()
    }

    /// Ends the file without renaming it into place yet (see [`Completed::persist`]), so that a
    /// producer of several files can give up on all of them until each is complete; an error
    /// (and no file) when fewer voxels than the header's arrived.
    pub fn complete(mut self) -> Result<Completed> {
        if self.written != self.expected {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                &self.path,
                format!("only {} of the header's {} voxel bytes given", self.written, self.expected),
            ));
        }
        let werr = |e| Error::io(&self.path, "write", e);
        if let Some(m) = self.member.take() {
            m.end(&mut self.w).map_err(werr)?;
        }
        self.w.flush().map_err(werr)?;
        Ok(Completed { path: self.path, tmp: self.tmp })
    }
}

/// A complete [`NiftiStream`] file not yet at its path: dropped, it is removed.
#[derive(Debug)]
pub struct Completed {
    path: std::path::PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl Completed {
    /// Renames the file into place.
    pub fn persist(self) -> Result<()> {
        persist(self.tmp, &self.path)
    }
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

/// How much larger than zlib's matcher (on the samples) the run encoder may be and still be
/// chosen at level 1 (the matcher is 6-9x slower). 15 % was tried: it cut `ctprep convert`'s
/// int16 CT write from about 1.26 to 1.0 s but grew the file 6 % (54.8 -> 58.1 MB).
const RUNS_SLACK_PERCENT: usize = 5;

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
    // A few hundred bytes either way on 64 KiB of samples (all-zero data: 132 against 264) are
    // no reason for the slower encoder.
    let close = runs <= zlib + 4 * SAMPLE / 64;
    if close || runs.saturating_mul(100) <= zlib.saturating_mul(100 + RUNS_SLACK_PERCENT) {
        PieceEncoder::Runs
    } else {
        PieceEncoder::Zlib(matcher)
    }
}

/// The length of `input` compressed on its own with `config` (into `out`, large enough).
fn deflate_len(input: &[u8], out: &mut [u8], config: zlib_rs::DeflateConfig) -> Option<usize> {
    let mut d = zlib_rs::Deflate::new_with_config(config);
    match d.compress(input, out, zlib_rs::DeflateFlush::Finish) {
        Ok(zlib_rs::Status::StreamEnd) => Some(d.total_out() as usize),
        _ => None,
    }
}

/// Appends `piece` to `out` as a raw deflate fragment that refers to nothing before it, ended
/// by a sync flush.
fn compress_piece(piece: &[u8], out: &mut Vec<u8>, encoder: PieceEncoder) -> std::io::Result<()> {
    let config = match encoder {
        PieceEncoder::Runs => {
            crate::deflate::compress(piece, out, false);
            return Ok(());
        }
        PieceEncoder::Zlib(config) => config,
    };
    // Room for the worst case (stored blocks) plus the flush marker.
    let start = out.len();
    out.resize(start + zlib_rs::compress_bound(piece.len()) + 16, 0);
    let mut d = zlib_rs::Deflate::new_with_config(config);
    d.compress(piece, &mut out[start..], zlib_rs::DeflateFlush::SyncFlush)
        .map_err(|e| std::io::Error::other(format!("deflate: {e:?}")))?;
    if d.total_in() as usize != piece.len() {
        return Err(std::io::Error::other("deflate did not finish a piece in its worst-case bound"));
    }
    out.truncate(start + d.total_out() as usize);
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
        // All zeros: both encoders take a few hundred bytes, the matcher half as many; no reason
        // for the slower one.
        assert_eq!(piece_encoder(&vec![0u8; PIECE / 2], 1), PieceEncoder::Runs);
        assert_eq!(zlib(piece_encoder(tissue, 1)), (2, zlib_rs::Strategy::Default));
        assert_eq!(zlib(piece_encoder(zeros, 6)), (6, zlib_rs::Strategy::Default));
        assert_eq!(zlib(piece_encoder(zeros, 0)).0, 0);
    }

    /// A volume streamed in slabs of any size (empty ones too) reads back as the same volume
    /// `write_nifti` writes, `.nii` and `.nii.gz`, header bytes included; too many or too few
    /// voxels are errors that leave no file.
    #[test]
    fn streamed_files_read_back_like_written_ones() {
        use crate::{VoxelData, read_nifti};
        let dir = tempfile::tempdir().expect("temp dir");
        let shape = [37, 29, 23];
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|i| if i % 7 < 3 { 0.0 } else { (i % 1000) as f32 / 999.0 }).collect();
        let affine = ctprep_core::Affine::from_spacing_origin([-0.8, 0.9, 2.5], [10.0, -20.0, 5.0]);
        let vol = Volume::new(VoxelData::from_vec(values.clone()), &shape, affine).expect("volume");
        let template = vol.derived(VoxelData::from_vec(vec![0f32]), &[1, 1, 1], affine).expect("template");
        for name in ["v.nii", "v.nii.gz"] {
            let whole = dir.path().join(format!("whole_{name}"));
            write_nifti(&vol, &whole, &WriteOptions::new()).expect("writes");
            for cut in [1, 1000, PIECE / 4 + 3, n] {
                let path = dir.path().join(format!("{cut}_{name}"));
                let mut s =
                    NiftiStream::create(&template, &shape, affine, &path, &WriteOptions::new()).expect("starts");
                let packer = s.packer();
                let mut piece = Piece::default();
                packer.pack_f32(&[], &mut piece).expect("packs");
                s.append(&piece).expect("an empty piece");
                for chunk in values.chunks(cut) {
                    packer.pack_f32(chunk, &mut piece).expect("packs");
                    assert_eq!(piece.len(), chunk.len() * 4);
                    s.append(&piece).expect("appends");
                }
                assert!(!path.exists(), "nothing at the path before finish");
                s.finish().expect("finishes");
                let (a, b) = (read_nifti(&path).expect("reads"), read_nifti(&whole).expect("reads"));
                assert_eq!(a.shape(), b.shape());
                assert_eq!(a.affine(), b.affine());
                assert_eq!(a.data().as_bytes(), b.data().as_bytes(), "{name} cut {cut}");
                let raw = |p: &Path| {
                    let bytes = std::fs::read(p).expect("reads");
                    if name.ends_with(".gz") { gunzip_single_member(&bytes) } else { bytes }
                };
                assert_eq!(raw(&path), raw(&whole), "{name} cut {cut}: file contents");
            }
            let short = dir.path().join(format!("short_{name}"));
            let mut s = NiftiStream::create(&template, &shape, affine, &short, &WriteOptions::new()).expect("starts");
            let mut piece = Piece::default();
            s.packer().pack_f32(&values[..n - 1], &mut piece).expect("packs");
            s.append(&piece).expect("appends");
            let err = s.finish().expect_err("one voxel short");
            assert!(err.to_string().contains("short_v.nii"), "{err}");
            let mut s = NiftiStream::create(&template, &shape, affine, &short, &WriteOptions::new()).expect("starts");
            s.packer().pack_f32(&values[..n - 1], &mut piece).expect("packs");
            s.append(&piece).expect("appends");
            assert!(s.append(&piece).is_err(), "past the header's voxels");
            drop(s);
            assert!(!short.exists(), "no file after a failed stream");
        }
        let int16 = vol.derived(VoxelData::from_vec(vec![0i16]), &[1, 1, 1], affine).expect("template");
        let bad = dir.path().join("i16.nii.gz");
        let err = NiftiStream::create(&int16, &shape, affine, &bad, &WriteOptions::new()).expect_err("not float32");
        assert!(err.to_string().contains("float32"), "{err}");
        // More than one 4 MiB piece in one packed slab.
        let big: Vec<f32> = (0..(PIECE / 4) * 2 + 999).map(|i| if i % 5 == 0 { 1.0 } else { 0.0 }).collect();
        let big_shape = [big.len(), 1, 1];
        let path = dir.path().join("big.nii.gz");
        let mut s = NiftiStream::create(&template, &big_shape, affine, &path, &WriteOptions::new()).expect("starts");
        let mut piece = Piece::default();
        s.packer().pack_f32(&big, &mut piece).expect("packs");
        s.append(&piece).expect("appends");
        let done = s.complete().expect("completes");
        assert!(!path.exists(), "complete does not rename");
        done.persist().expect("persists");
        assert_eq!(read_nifti(&path).expect("reads").scaled_f32(), big);
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("lists").filter_map(|e| e.ok()).collect();
        assert!(left.iter().all(|e| !e.file_name().to_string_lossy().ends_with(".tmp")), "temporary files left");
    }
}
