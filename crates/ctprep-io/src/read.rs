//! Reading NIfTI-1/2 files: `.nii` (memory-mapped), `.nii.gz` (any number of gzip members),
//! and `.hdr`/`.img` pairs (either part may be gzipped), with every size checked against the
//! file and the [`Limits`] before anything is allocated.

use std::fs::File;
use std::io::{ErrorKind as IoKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
#[cfg(feature = "mmap")]
use std::sync::Arc;

#[cfg(feature = "gzip")]
#[cfg(feature = "mmap")]
use crate::buffer::{HUGE_BUFFER_BYTES, fill_with_prefault, huge_zeroed};
use crate::data::{Storage, VoxelData};
use crate::datatype::{CodeLookup, DataType, Element};
use crate::error::{Error, ErrorKind, Result};
use crate::header::{ByteOrder, NiftiHeader, sniff};
use crate::volume::{Extension, Scaling, Volume};
use crate::xform::best_affine;

/// Deflate cannot expand data by more than 1032:1, so a gzip file of `n` bytes decompresses
/// to at most about `1032 n` bytes: a header promising more is wrong, and is refused before any
/// allocation.
#[cfg(feature = "gzip")]
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Upper bounds on what a read may allocate, checked against the header before allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest voxel count accepted. Default 2^31 (a 1290^3 volume).
    pub max_voxels: u64,
    /// Largest data size in bytes accepted. Default 16 GiB.
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_voxels: 1 << 31, max_bytes: 16 << 30 }
    }
}

impl Limits {
    /// The voxel count of a volume of `shape` stored as `dtype`, or why it is beyond these
    /// limits (or this machine's address space): the one size check of every volume ctprep
    /// reads or makes, before anything is allocated.
    pub fn check(&self, shape: &[usize], dtype: DataType) -> std::result::Result<usize, String> {
        let n = shape.iter().fold(1u64, |n, &d| n.saturating_mul(d as u64));
        if n > self.max_voxels {
            return Err(format!("dim = {shape:?} is {n} voxels, more than the limit of {}", self.max_voxels));
        }
        let nbytes = n.saturating_mul(dtype.size() as u64);
        if nbytes > self.max_bytes {
            return Err(format!(
                "dim = {shape:?} of {dtype} is {nbytes} bytes, more than the limit of {}",
                self.max_bytes
            ));
        }
        usize::try_from(n).map_err(|_| format!("{n} voxels do not fit in this machine's address space"))
    }
}

/// How to read a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    limits: Limits,
    mmap: bool,
    gzip_threads: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { limits: Limits::default(), mmap: true, gzip_threads: 1 }
    }
}

impl ReadOptions {
    /// The defaults: [`Limits::default`], memory-mapping on.
    pub fn new() -> ReadOptions {
        ReadOptions::default()
    }

    /// Size limits (default [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> ReadOptions {
        self.limits = limits;
        self
    }

    /// Whether an uncompressed little-endian `.nii` is memory-mapped instead of read into
    /// memory (default `true`; without the `mmap` feature files are always read). A mapped file must not be truncated by another process while
    /// the volume is alive.
    pub fn mmap(mut self, on: bool) -> ReadOptions {
        self.mmap = on;
        self
    }

    /// Threads that decode a streamed gzip file's independent pieces ahead of the reader
    /// ([`SliceReader`]; default 1: the reading thread decodes them). Files ctprep writes carry
    /// a piece index that allows this, as do BGZF and mgzip files; others are decoded serially.
    pub fn gzip_threads(mut self, threads: usize) -> ReadOptions {
        self.gzip_threads = threads.max(1);
        self
    }
}

/// Reads a NIfTI file with the default options.
///
/// ```no_run
/// let ct = ctprep_io::read_nifti("ct.nii.gz")?;
/// println!("{:?} {} {}", ct.shape(), ct.dtype(), ct.axcodes_string());
/// # Ok::<(), ctprep_io::Error>(())
/// ```
pub fn read_nifti(path: impl AsRef<Path>) -> Result<Volume> {
    read_nifti_with(path, &ReadOptions::default())
}

/// Reads a NIfTI file.
pub fn read_nifti_with(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Volume> {
    let path = path.as_ref();
    let opened = Opened::header(path, opts)?;
    #[cfg(all(feature = "gzip", feature = "mmap"))]
    if opened.img_path.is_none() && opened.src.is_gzip() {
        let data_offset = opened.data_offset();
        opened.src.check_size(data_offset + opened.layout.nbytes, &opened.layout)?;
        if let Some((head, data)) = read_gzip_whole(&opened.hdr_path, &opened.layout, &opened.header, data_offset) {
            let start = (opened.header.format.header_size()).min(head.len());
            let extensions = parse_extensions(&head[start..], &opened.hdr_path);
            let Opened { header, layout, hdr_path, .. } = opened;
            return finish(header, layout, extensions, data, path, &hdr_path);
        }
    }
    let (mut at, extensions) = opened.at_data()?;
    let swap = at.header.byte_order != ByteOrder::native();
    let data = at.src.read_data(&at.layout, swap, opts.mmap)?;
    finish(at.header, at.layout, extensions, data, path, &at.hdr_path)
}

/// A file whose header has been read and checked.
struct Opened {
    header: NiftiHeader,
    layout: Layout,
    hdr_path: PathBuf,
    img_path: Option<PathBuf>,
    /// Positioned just after the header.
    src: Source,
}

impl Opened {
    /// Reads and checks the header of `path` (the `.hdr` of a pair).
    fn header(path: &Path, opts: &ReadOptions) -> Result<Opened> {
        let (hdr_path, img_path) = pair_paths(path);
        let mut src = Source::open(&hdr_path)?;
        let mut first4 = [0u8; 4];
        if src.read_exact(&mut first4).is_err() || sniff(first4).is_none() {
            return Err(not_nifti(&hdr_path));
        }
        let format = sniff(first4).map_or(crate::header::NIFTI1_HEADER_SIZE, |(f, _)| f.header_size());
        let mut hbytes = vec![0u8; format];
        hbytes[..4].copy_from_slice(&first4);
        src.read_exact(&mut hbytes[4..])?;
        let header = NiftiHeader::parse(&hbytes, &hdr_path)?;
        let paired = img_path.is_some();
        if header.single_file == paired {
            let (want, got) =
                if paired { ("ni1/ni2 (a .hdr/.img pair)", "n+1/n+2") } else { ("n+1/n+2 (a single .nii)", "ni1/ni2") };
            return Err(Error::new(
                ErrorKind::BadMagic,
                &hdr_path,
                format!("magic is {got}, expected {want} for this file name"),
            ));
        }
        let layout = Layout::of(&header, &hdr_path, &opts.limits)?;
        // In a single file the voxels cannot start inside the header (nibabel refuses such a
        // file too); 0, which some writers leave, means right after it.
        let first = header.format.header_size() as u64 + 4;
        if img_path.is_none() && layout.vox_offset != 0 && layout.vox_offset < first {
            return Err(Error::new(
                ErrorKind::BadHeader,
                &hdr_path,
                format!("vox_offset = {}: inside the {first}-byte header and extension flag", layout.vox_offset),
            ));
        }
        Ok(Opened { header, layout, hdr_path, img_path, src })
    }

    /// Where the voxels of a single file start: `vox_offset`, and never inside the header.
    fn data_offset(&self) -> u64 {
        self.layout.vox_offset.max(self.header.format.header_size() as u64 + 4)
    }

    /// The extensions, and the source of the voxel data (the `.img` of a pair) positioned at
    /// its first voxel, once the file is known to be long enough.
    fn at_data(mut self) -> Result<(Opened, Vec<Extension>)> {
        let hsize = self.header.format.header_size() as u64;
        let extensions = if let Some(img_path) = &self.img_path {
            let rest = self.src.read_rest(1 << 24)?;
            let extensions = parse_extensions(&rest, &self.hdr_path);
            let mut img = Source::open(img_path)?;
            img.check_size(self.layout.vox_offset + self.layout.nbytes, &self.layout)?;
            img.skip(self.layout.vox_offset)?;
            self.src = img;
            extensions
        } else {
            let data_offset = self.data_offset();
            self.src.check_size(data_offset + self.layout.nbytes, &self.layout)?;
            let between = self.src.read_exact_vec((data_offset - hsize) as usize)?;
            parse_extensions(&between, &self.hdr_path)
        };
        Ok((self, extensions))
    }
}

/// A NIfTI file read slice by slice: the header at once ([`SliceReader::open`]), then the voxels
/// a few z slices at a time, in file order ([`SliceReader::read_slices`]), so a stage that works
/// slab by slab never holds the whole input. `.nii`, `.nii.gz` (any number of members) and
/// `.hdr`/`.img` pairs, both byte orders; the checks of [`read_nifti`] (sizes against the file
/// and the limits before anything is read, truncation, corrupt gzip data, the gzip trailers in
/// [`SliceReader::finish`]) with the same errors.
///
/// ```no_run
/// use ctprep_io::SliceReader;
/// let mut r = SliceReader::open("ct.nii.gz")?;
/// let [nx, ny, nz] = r.dims3()?;
/// let mut slab = vec![0i16; nx * ny * 8];
/// for first in (0..nz).step_by(8) {
///     let n = 8.min(nz - first);
///     r.read_slices(&mut slab[..n * nx * ny])?;
///     // ... slices first..first + n
/// }
/// r.finish()?;
/// # Ok::<(), ctprep_io::Error>(())
/// ```
pub struct SliceReader {
    /// One voxel with the file's header fields, affine, scaling, extensions and path.
    template: Volume,
    shape: Vec<usize>,
    dtype: DataType,
    description: String,
    src: Source,
    swap: bool,
    /// Values read so far.
    read: usize,
    n_voxels: usize,
    /// An NRRD whose layers are stored fastest: its slices are not contiguous.
    layered: bool,
}

impl std::fmt::Debug for SliceReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SliceReader")
            .field("path", &self.template.display_path())
            .field("shape", &self.shape)
            .field("dtype", &self.dtype)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl SliceReader {
    /// Opens `path` and reads its header with the default options.
    pub fn open(path: impl AsRef<Path>) -> Result<SliceReader> {
        SliceReader::open_with(path, &ReadOptions::default())
    }

    /// Opens `path` and reads its header (the limits of `opts` apply; the file is never mapped).
    pub fn open_with(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<SliceReader> {
        let path = path.as_ref();
        if starts_as_nrrd(path)? {
            let mut o = OpenedNrrd::open(path, opts)?;
            let (shape, dtype, n_voxels, description) =
                (o.layout.shape.clone(), o.layout.dtype, o.layout.n_voxels, o.layout.describe());
            let template = o.volume(VoxelData::from_vec(vec![0f32]), vec![1, 1, 1], path);
            // One layer stored first is the same bytes as no layer axis.
            let layered = o.header.layered() && o.header.sizes[0] > 1;
            o.src.set_gzip_threads(opts.gzip_threads);
            return Ok(SliceReader {
                template,
                shape,
                dtype,
                description,
                src: o.src,
                swap: o.swap,
                read: 0,
                n_voxels,
                layered,
            });
        }
        let (at, extensions) = Opened::header(path, opts)?.at_data()?;
        let Opened { header, layout, hdr_path, mut src, .. } = at;
        src.set_gzip_threads(opts.gzip_threads);
        let swap = header.byte_order != ByteOrder::native();
        let (shape, dtype, n_voxels, description) =
            (layout.shape.clone(), layout.dtype, layout.n_voxels, layout.describe());
        // The affine of the whole file's shape (a fallback affine depends on it), one voxel.
        let mut template = finish(header, layout, extensions, VoxelData::from_vec(vec![0f32]), path, &hdr_path)?;
        template.shape = vec![1, 1, 1];
        Ok(SliceReader { template, shape, dtype, description, src, swap, read: 0, n_voxels, layered: false })
    }

    /// A reader of a volume already in memory (a DICOM series, read whole: its slices' order is
    /// known only once every file's header is read), so that every consumer of a reader takes it.
    pub fn from_volume(mut volume: Volume) -> SliceReader {
        let data = std::mem::replace(&mut volume.data, VoxelData::from_vec(vec![0f32]));
        let shape = std::mem::replace(&mut volume.shape, vec![1, 1, 1]);
        let dtype = data.dtype();
        let n_voxels = data.len();
        let path = volume.display_path();
        SliceReader {
            template: volume,
            shape,
            dtype,
            description: format!("{n_voxels} {dtype} values in memory"),
            src: Source::Memory { data, pos: 0, path },
            swap: false,
            read: 0,
            n_voxels,
            layered: false,
        }
    }

    /// A reader of the stored values `source` decodes slice by slice (a DICOM series, one file
    /// per slice: `ctprep-dicom`), so that consumers that stream a file stream it too.
    /// `template` holds the volume's affine, scaling and path (its voxels are not read); `shape`
    /// and `dtype` are the whole volume's.
    pub fn from_source(
        mut template: Volume,
        shape: Vec<usize>,
        dtype: DataType,
        source: Box<dyn SliceSource>,
    ) -> SliceReader {
        template.data = VoxelData::from_vec(vec![0f32]);
        template.shape = vec![1, 1, 1];
        let n_voxels = shape.iter().product();
        let path = template.display_path();
        SliceReader {
            template,
            shape,
            dtype,
            description: format!("{n_voxels} {dtype} values, {}", source.describe()),
            src: Source::Slices { source, path },
            swap: false,
            read: 0,
            n_voxels,
            layered: false,
        }
    }

    /// The whole volume this reader reads, independently of what it has read so far: the file
    /// read again, or (a reader of a volume in memory) a copy of it.
    pub fn read_whole(&self) -> Result<Volume> {
        if let Source::Memory { data, .. } = &self.src {
            let mut v = self.template.clone();
            v.data = data.clone();
            v.shape = self.shape.clone();
            return Ok(v);
        }
        if let Source::Slices { source, .. } = &self.src {
            return source.read_whole();
        }
        read_volume(self.template.display_path())
    }

    /// How the file's bytes are decoded as they are read.
    pub fn decoding(&self) -> Decoding {
        match &self.src {
            Source::Plain { .. } => Decoding::Plain,
            Source::Memory { .. } => Decoding::Memory,
            Source::Slices { .. } => Decoding::Slices,
            #[cfg(feature = "gzip")]
            Source::Gzip { dec, .. } if dec.in_pieces() => Decoding::GzipPieces,
            #[cfg(feature = "gzip")]
            Source::Gzip { .. } => Decoding::GzipStream,
        }
    }

    /// The shape, all dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The 3-D shape, or an error when a fourth or later dimension is larger than 1 (as
    /// [`Volume::dims3`]).
    pub fn dims3(&self) -> Result<[usize; 3]> {
        if self.shape.iter().skip(3).product::<usize>() != 1 {
            return Err(self.template.error(
                ErrorKind::InvalidRequest,
                format!("this operation needs a 3-D volume, the data has shape {:?}", self.shape),
            ));
        }
        Ok(self.spatial_shape())
    }

    /// The first three sizes (1 where there are fewer), as [`Volume::spatial_shape`] of the
    /// whole file.
    pub fn spatial_shape(&self) -> [usize; 3] {
        let mut s = [1; 3];
        for (d, v) in s.iter_mut().zip(&self.shape) {
            *d = *v;
        }
        s
    }

    /// The stored type.
    pub fn dtype(&self) -> DataType {
        self.dtype
    }

    /// The voxel-to-world affine, as [`Volume::affine`] of the whole file.
    pub fn affine(&self) -> &ctprep_core::Affine {
        self.template.affine()
    }

    /// The scaling of the stored values, as [`Volume::scaling`] of the whole file.
    pub fn scaling(&self) -> Option<Scaling> {
        self.template.scaling()
    }

    /// A one-voxel `float32` volume with the file's header fields, affine, extensions and path:
    /// the template of outputs made from this file ([`Volume::derived`], a
    /// [`crate::NiftiStream`]).
    pub fn template(&self) -> &Volume {
        &self.template
    }

    /// The stored values read so far.
    pub fn values_read(&self) -> usize {
        self.read
    }

    /// Reads the next `dst.len()` stored values (native byte order, unscaled) in file order:
    /// whole z slices when `dst` holds a multiple of `nx * ny` values. `T` must be the stored
    /// type; asking for more values than are left is an error.
    pub fn read_slices<T: Element>(&mut self, dst: &mut [T]) -> Result<()> {
        if T::DTYPE != self.dtype {
            return Err(self
                .template
                .error(ErrorKind::InvalidRequest, format!("the data is {}, not {}", self.dtype, T::DTYPE)));
        }
        if self.layered {
            return Err(self.template.error(
                ErrorKind::InvalidRequest,
                "a layered NRRD stores its layers fastest, so it cannot be read slice by slice: read it whole",
            ));
        }
        let left = self.n_voxels - self.read;
        if dst.len() > left {
            return Err(self.template.error(
                ErrorKind::InvalidRequest,
                format!("{} values asked for, {left} of the {} voxels are left", dst.len(), self.n_voxels),
            ));
        }
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(dst);
        let r = match &mut self.src {
            Source::Memory { data, pos, .. } => {
                // `dst` fits in what is left (checked above).
                bytes.copy_from_slice(&data.as_bytes()[*pos..*pos + bytes.len()]);
                *pos += bytes.len();
                Ok(())
            }
            Source::Plain { file, .. } => file.read_exact(bytes),
            #[cfg(feature = "gzip")]
            Source::Gzip { dec, .. } => dec.read_exact(bytes),
            Source::Slices { source, .. } => {
                source.read_next(bytes, self.read)?;
                Ok(())
            }
        };
        r.map_err(|e| self.src.read_error(e, &format!("voxel data ({})", self.description)))?;
        if self.swap {
            dst.iter_mut().for_each(|x| *x = x.swap_bytes());
        }
        self.read += dst.len();
        Ok(())
    }

    /// Reads what is left of the voxels (discarding it) and, for gzip, to the end of the last
    /// member, so its CRC and length are checked: a file cut short or corrupt after the slices
    /// read so far is an error here.
    pub fn finish(mut self) -> Result<()> {
        let left = (self.n_voxels - self.read) as u64 * self.dtype.size() as u64;
        let what = format!("voxel data ({})", self.description);
        let got = match &mut self.src {
            Source::Memory { .. } | Source::Slices { .. } => return Ok(()),
            Source::Plain { file, .. } => std::io::copy(&mut file.take(left), &mut std::io::sink()),
            #[cfg(feature = "gzip")]
            Source::Gzip { dec, .. } => std::io::copy(&mut dec.take(left), &mut std::io::sink()),
        };
        let got = got.map_err(|e| self.src.read_error(e, &what))?;
        if got < left {
            return Err(self.src.read_error(IoKind::UnexpectedEof.into(), &what));
        }
        #[cfg(feature = "gzip")]
        if let Source::Gzip { dec, .. } = &mut self.src {
            let r = std::io::copy(dec, &mut std::io::sink());
            r.map_err(|e| self.src.read_error(e, "gzip trailer"))?;
        }
        Ok(())
    }
}

/// Builds the volume once header and data are read.
fn finish(
    header: NiftiHeader,
    layout: Layout,
    extensions: Vec<Extension>,
    data: VoxelData,
    path: &Path,
    hdr_path: &Path,
) -> Result<Volume> {
    let (affine, affine_source) = best_affine(&header, layout.shape3(), hdr_path)?;
    Ok(Volume {
        shape: layout.shape,
        data,
        affine,
        affine_source,
        scaling: layout.scaling,
        extensions,
        path: Some(path.to_path_buf()),
        header,
        nrrd: None,
    })
}

/// The `.hdr` and `.img` of a pair when `path` names either; `(path, None)` for a single file.
fn pair_paths(path: &Path) -> (PathBuf, Option<PathBuf>) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    for (from, to) in [(".hdr", ".img"), (".img", ".hdr")] {
        for gz in ["", ".gz"] {
            let suffix = format!("{from}{gz}");
            if lower.ends_with(&suffix) {
                let stem = &name[..name.len() - suffix.len()];
                // Keep the case of the extension: X.HDR pairs with X.IMG.
                let ext = &name[name.len() - suffix.len()..name.len() - gz.len()];
                let other_ext: String = to
                    .chars()
                    .zip(ext.chars())
                    .map(|(t, e)| if e.is_ascii_uppercase() { t.to_ascii_uppercase() } else { t })
                    .collect();
                let other = path.with_file_name(format!("{stem}{other_ext}{}", &name[name.len() - gz.len()..]));
                return if from == ".hdr" {
                    (path.to_path_buf(), Some(other))
                } else {
                    (other, Some(path.to_path_buf()))
                };
            }
        }
    }
    (path.to_path_buf(), None)
}

/// What the header says the data is, validated.
pub(crate) struct Layout {
    shape: Vec<usize>,
    dtype: DataType,
    n_voxels: usize,
    nbytes: u64,
    vox_offset: u64,
    scaling: Option<Scaling>,
}

impl Layout {
    fn of(h: &NiftiHeader, path: &Path, limits: &Limits) -> Result<Layout> {
        let err = |kind, msg: String| Error::new(kind, path, msg);
        let ndim = h.dim[0];
        if !(1..=7).contains(&ndim) {
            return Err(err(ErrorKind::BadDim, format!("dim[0] = {ndim}: the number of dimensions must be 1 to 7")));
        }
        let mut shape = Vec::with_capacity(ndim as usize);
        let mut n: u64 = 1;
        for i in 1..=ndim as usize {
            let d = h.dim[i];
            if d <= 0 {
                return Err(err(ErrorKind::BadDim, format!("dim[{i}] = {d}: every size must be at least 1")));
            }
            n = n.saturating_mul(d as u64);
            shape.push(d as usize);
        }
        let dtype = match DataType::from_nifti_code(i32::from(h.datatype)) {
            CodeLookup::Supported(t) => t,
            CodeLookup::Unsupported(name) => {
                return Err(err(
                    ErrorKind::UnsupportedDatatype,
                    format!(
                        "datatype = {} ({name}): unsupported datatype; ctprep reads u8 i8 u16 i16 u32 i32 u64 i64 f32 f64",
                        h.datatype
                    ),
                ));
            }
            CodeLookup::Unknown => {
                return Err(err(
                    ErrorKind::UnknownDatatype,
                    format!("datatype = {}: not a NIfTI datatype code", h.datatype),
                ));
            }
        };
        let n_voxels = limits.check(&shape, dtype).map_err(|m| err(ErrorKind::TooLarge, m))?;
        let nbytes = (n_voxels as u64).saturating_mul(dtype.size() as u64);
        let vo = h.vox_offset;
        if !(0.0..=1e15).contains(&vo) {
            return Err(err(ErrorKind::BadHeader, format!("vox_offset = {vo}: must be a non-negative byte offset")));
        }
        let scaling = Scaling::from_header(h.scl_slope, h.scl_inter).map_err(|m| err(ErrorKind::InvalidScaling, m))?;
        Ok(Layout { shape, dtype, n_voxels, nbytes, vox_offset: vo as u64, scaling })
    }

    fn shape3(&self) -> [usize; 3] {
        let mut s = [1; 3];
        for (d, v) in s.iter_mut().zip(&self.shape) {
            *d = *v;
        }
        s
    }

    fn describe(&self) -> String {
        format!("shape {:?} of {} = {} bytes of voxel data", self.shape, self.dtype, self.nbytes)
    }
}

/// Extensions between the header and the data: kept as raw bytes, never a reason to reject a
/// file. A malformed one ends the list (what came before it is kept).
fn parse_extensions(bytes: &[u8], _path: &Path) -> Vec<Extension> {
    let mut out = Vec::new();
    if bytes.len() < 4 || bytes[0] == 0 {
        return out;
    }
    // The extender is followed by (esize, ecode, data) records; esize counts its own 8 bytes.
    // The header's byte order is unknown here, so accept the reading that gives a sane size.
    let mut off = 4;
    while off + 8 <= bytes.len() {
        let le = i32::from_le_bytes([bytes[off], bytes[off + 1], bytes[off + 2], bytes[off + 3]]);
        let be = i32::from_be_bytes([bytes[off], bytes[off + 1], bytes[off + 2], bytes[off + 3]]);
        let fits = |s: i32| s >= 8 && off + s as usize <= bytes.len();
        let (esize, big) = if fits(le) {
            (le, false)
        } else if fits(be) {
            (be, true)
        } else {
            break;
        };
        let code_bytes = [bytes[off + 4], bytes[off + 5], bytes[off + 6], bytes[off + 7]];
        let code = if big { i32::from_be_bytes(code_bytes) } else { i32::from_le_bytes(code_bytes) };
        out.push(Extension { code, data: bytes[off + 8..off + esize as usize].to_vec() });
        off += esize as usize;
    }
    out
}

/// How a [`SliceReader`]'s file is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoding {
    /// Not compressed.
    Plain,
    /// gzip, one serial deflate stream (ctprep-gzip's streaming decoder).
    GzipStream,
    /// gzip in independent pieces decoded whole by libdeflate: a piece index (ctprep's own
    /// files), or BGZF / mgzip members.
    GzipPieces,
    /// Voxels already in memory ([`SliceReader::from_volume`]).
    Memory,
    /// Slices decoded as they are read by a [`SliceSource`] (a DICOM series: its files).
    Slices,
}

impl Decoding {
    /// A short description for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Decoding::Plain => "not compressed",
            Decoding::GzipStream => "gzip, one serial stream",
            Decoding::GzipPieces => "gzip in independent pieces (libdeflate)",
            Decoding::Memory => "in memory",
            Decoding::Slices => "decoded slice by slice",
        }
    }
}

/// Stored values decoded slice by slice outside this crate (a DICOM series, one file per slice,
/// in `ctprep-dicom`), read through a [`SliceReader`] ([`SliceReader::from_source`]) as a
/// file's are.
pub trait SliceSource: Send {
    /// Fills `dst` with the bytes (native byte order) of the stored values from value `at` on:
    /// `dst.len()` is a whole number of values of the reader's type, within the volume (the
    /// reader checks both), usually whole z slices.
    fn read_next(&mut self, dst: &mut [u8], at: usize) -> Result<()>;

    /// The whole volume, read afresh (for the stages that do not stream).
    fn read_whole(&self) -> Result<Volume>;

    /// What is decoded, for error messages (`"300 DICOM files"`).
    fn describe(&self) -> String;
}

/// A file being read: plain (seekable, mappable) or gzip-compressed (a stream).
pub(crate) enum Source {
    /// Voxel bytes in memory, native byte order ([`SliceReader::from_volume`]).
    Memory {
        data: VoxelData,
        pos: usize,
        path: PathBuf,
    },
    Plain {
        file: File,
        path: PathBuf,
        len: u64,
        pos: u64,
    },
    #[cfg(feature = "gzip")]
    Gzip {
        dec: Box<ctprep_gzip::GzipReader<'static>>,
        path: PathBuf,
        compressed_len: u64,
    },
    /// Slices decoded by another crate ([`SliceReader::from_source`]).
    Slices {
        source: Box<dyn SliceSource>,
        path: PathBuf,
    },
}

impl Source {
    /// Opens `path` at byte `at` for data encoded as `gzip` or not (an NRRD's data).
    fn open_at(path: &Path, at: u64, gzip: bool) -> Result<Source> {
        let mut file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let len = file.metadata().map_err(|e| Error::io(path, "stat", e))?.len();
        file.seek(SeekFrom::Start(at)).map_err(|e| Error::io(path, "seek", e))?;
        if !gzip {
            return Ok(Source::Plain { file, path: path.to_path_buf(), len, pos: at });
        }
        #[cfg(not(feature = "gzip"))]
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            path,
            "gzip-encoded NRRD data, but ctprep-io was built without gzip support (feature `gzip`)",
        ));
        #[cfg(feature = "gzip")]
        Ok(Source::Gzip {
            dec: Box::new(ctprep_gzip::GzipReader::new(file)),
            path: path.to_path_buf(),
            compressed_len: len - at.min(len),
        })
    }

    /// Opens `path`, recognising gzip by its magic bytes rather than by the file name.
    fn open(path: &Path) -> Result<Source> {
        let mut file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let len = file.metadata().map_err(|e| Error::io(path, "stat", e))?.len();
        let mut magic = [0u8; 2];
        let got = read_up_to(&mut file, &mut magic).map_err(|e| Error::io(path, "read", e))?;
        file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(path, "seek", e))?;
        #[cfg(not(feature = "gzip"))]
        if got == 2 && magic == [0x1f, 0x8b] {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                path,
                "a gzip-compressed file, but ctprep-io was built without gzip support (feature `gzip`)",
            ));
        }
        #[cfg(feature = "gzip")]
        if got == 2 && magic == [0x1f, 0x8b] {
            return Ok(Source::Gzip {
                dec: Box::new(ctprep_gzip::GzipReader::new(file)),
                path: path.to_path_buf(),
                compressed_len: len,
            });
        }
        Ok(Source::Plain { file, path: path.to_path_buf(), len, pos: 0 })
    }

    /// Threads that decode a gzip stream's independent pieces ahead of its reader.
    fn set_gzip_threads(&mut self, threads: usize) {
        #[cfg(feature = "gzip")]
        if let Source::Gzip { dec, .. } = self {
            dec.set_threads(threads);
        }
        #[cfg(not(feature = "gzip"))]
        let _ = threads;
    }

    #[cfg(all(feature = "gzip", feature = "mmap"))]
    fn is_gzip(&self) -> bool {
        matches!(self, Source::Gzip { .. })
    }

    fn path(&self) -> &Path {
        match self {
            Source::Memory { path, .. } | Source::Slices { path, .. } => path,
            Source::Plain { path, .. } => path,
            #[cfg(feature = "gzip")]
            Source::Gzip { path, .. } => path,
        }
    }

    /// Maps a read failure to the right category: early end is truncation, anything a gzip
    /// decoder rejects is corruption.
    fn read_error(&self, e: std::io::Error, what: &str) -> Error {
        match (self, e.kind()) {
            (_, IoKind::UnexpectedEof) => {
                let stream = if matches!(self, Source::Plain { .. }) { "file" } else { "decompressed stream" };
                Error::new(ErrorKind::Truncated, self.path(), format!("the {stream} ends inside the {what}"))
            }
            #[cfg(feature = "gzip")]
            (Source::Gzip { .. }, IoKind::InvalidInput | IoKind::InvalidData | IoKind::Other) => {
                Error::new(ErrorKind::CorruptGzip, self.path(), format!("corrupt gzip data in the {what}: {e}"))
            }
            _ => Error::io(self.path(), "read", e),
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        let r = match self {
            Source::Memory { data, pos, .. } => match data.as_bytes().get(*pos..*pos + buf.len()) {
                Some(b) => {
                    buf.copy_from_slice(b);
                    *pos += buf.len();
                    Ok(())
                }
                None => Err(IoKind::UnexpectedEof.into()),
            },
            Source::Plain { file, pos, .. } => {
                *pos += buf.len() as u64;
                file.read_exact(buf)
            }
            #[cfg(feature = "gzip")]
            Source::Gzip { dec, .. } => dec.read_exact(buf),
            Source::Slices { .. } => Err(IoKind::Unsupported.into()),
        };
        r.map_err(|e| self.read_error(e, "header"))
    }

    fn read_exact_vec(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut v = vec![0u8; n];
        self.read_exact(&mut v)?;
        Ok(v)
    }

    /// Everything left, up to `max` bytes (the extensions of a `.hdr`).
    fn read_rest(&mut self, max: u64) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        let r = match self {
            Source::Memory { data, pos, .. } => {
                let bytes = data.as_bytes();
                let end = bytes.len().min(pos.saturating_add(max as usize));
                v.extend_from_slice(&bytes[(*pos).min(end)..end]);
                *pos = end;
                Ok(v.len())
            }
            Source::Plain { file, .. } => file.take(max).read_to_end(&mut v),
            #[cfg(feature = "gzip")]
            Source::Gzip { dec, .. } => dec.take(max).read_to_end(&mut v),
            Source::Slices { .. } => Err(IoKind::Unsupported.into()),
        };
        r.map_err(|e| self.read_error(e, "header extensions"))?;
        Ok(v)
    }

    fn skip(&mut self, n: u64) -> Result<()> {
        match self {
            Source::Slices { path, .. } => {
                Err(Error::new(ErrorKind::InvalidRequest, path.as_path(), "decoded slices have no header to skip"))
            }
            Source::Memory { data, pos, path } => {
                if (data.as_bytes().len() - *pos) as u64 >= n {
                    *pos += n as usize;
                    Ok(())
                } else {
                    Err(Error::new(ErrorKind::Truncated, path.as_path(), "the data ends before vox_offset"))
                }
            }
            Source::Plain { file, pos, path, .. } => {
                *pos += n;
                file.seek(SeekFrom::Start(*pos)).map_err(|e| Error::io(path.as_path(), "seek", e))?;
                Ok(())
            }
            #[cfg(feature = "gzip")]
            Source::Gzip { dec, .. } => {
                let got = std::io::copy(&mut dec.take(n), &mut std::io::sink())
                    .map_err(|e| self.read_error(e, "header padding"))?;
                if got < n {
                    return Err(Error::new(
                        ErrorKind::Truncated,
                        self.path(),
                        "the decompressed stream ends before vox_offset",
                    ));
                }
                Ok(())
            }
        }
    }

    /// Refuses, before allocating, a header that promises more bytes than the file can hold.
    fn check_size(&self, needed: u64, layout: &Layout) -> Result<()> {
        match self {
            Source::Plain { len, path, .. } if *len < needed => Err(Error::new(
                ErrorKind::Truncated,
                path,
                format!(
                    "the header describes {} ending at byte {needed} (vox_offset {}), but the file has only {len} bytes",
                    layout.describe(),
                    layout.vox_offset
                ),
            )),
            #[cfg(feature = "gzip")]
            Source::Gzip { compressed_len, path, .. }
                if compressed_len.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1 << 16) < needed =>
            {
                Err(Error::new(
                    ErrorKind::Truncated,
                    path,
                    format!(
                        "the header describes {}, but a gzip file of {compressed_len} bytes cannot decompress to more than {} bytes",
                        layout.describe(),
                        compressed_len.saturating_mul(MAX_DEFLATE_RATIO)
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Reads the voxel data at the current position: a zero-copy map when allowed and
    /// possible, else into a new buffer, byte-swapped to native order.
    fn read_data(&mut self, layout: &Layout, swap: bool, mmap: bool) -> Result<VoxelData> {
        fn typed<T: Element>(src: &mut Source, layout: &Layout, swap: bool, mmap: bool) -> Result<VoxelData> {
            // Without the `mmap` feature there is nothing to map: every read is a plain read.
            #[cfg(not(feature = "mmap"))]
            let _ = mmap;
            #[cfg(feature = "mmap")]
            if let (true, false, Source::Plain { file, pos, .. }) = (mmap, swap, &*src)
                && let Some(map) = map_file(file)
                && let Some(s) = Storage::<T>::mapped(Arc::new(map), *pos as usize, layout.n_voxels)
            {
                return Ok(T::wrap(s));
            }
            let mut buf = VoxelBuffer::<T>::new(layout.n_voxels)?;
            let r = buf.fill(|bytes| match src {
                Source::Memory { .. } | Source::Slices { .. } => unreachable!("a file's reader reads files"),
                Source::Plain { file, .. } => file.read_exact(bytes),
                #[cfg(feature = "gzip")]
                Source::Gzip { dec, .. } => dec.read_exact(bytes),
            });
            r.map_err(|e| src.read_error(e, &format!("voxel data ({})", layout.describe())))?;
            #[cfg(feature = "gzip")]
            if let Source::Gzip { dec, .. } = src {
                // Read to the end so the last member's CRC and length are checked.
                let r = std::io::copy(dec, &mut std::io::sink());
                r.map_err(|e| src.read_error(e, "gzip trailer"))?;
            }
            if swap {
                buf.values_mut().iter_mut().for_each(|x| *x = x.swap_bytes());
            }
            Ok(T::wrap(buf.into_storage()))
        }
        crate::with_dtype!(layout.dtype, T => typed::<T>(self, layout, swap, mmap))
    }
}

/// Reads a NIfTI or NRRD file, told apart by content (an NRRD starts with `NRRD`), with the
/// default options.
///
/// ```no_run
/// let label = ctprep_io::read_volume("lung1_label.nrrd")?;
/// println!("{:?} {} {}", label.shape(), label.dtype(), label.axcodes_string());
/// # Ok::<(), ctprep_io::Error>(())
/// ```
pub fn read_volume(path: impl AsRef<Path>) -> Result<Volume> {
    read_volume_with(path, &ReadOptions::default())
}

/// Reads a NIfTI or NRRD file, told apart by content.
pub fn read_volume_with(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Volume> {
    let path = path.as_ref();
    if starts_as_nrrd(path)? { read_nrrd_with(path, opts) } else { read_nifti_with(path, opts) }
}

/// Reads an NRRD file (attached `.nrrd` or a detached header such as `.nhdr`): see the
/// [`crate::NrrdHeader`] docs for what is read and what is refused. Geometry becomes the RAS
/// affine; a leading layer axis becomes the volume's last axis.
pub fn read_nrrd_with(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Volume> {
    let path = path.as_ref();
    let mut o = OpenedNrrd::open(path, opts)?;
    let data = o.src.read_data(&o.layout, o.swap, opts.mmap)?;
    let data = if o.header.layered() { layers_last(data, o.header.sizes[0]) } else { data };
    let shape = o.layout.shape.clone();
    Ok(o.volume(data, shape, path))
}

/// The error for a file that does not start as a NIfTI header: what its first bytes (decompressed,
/// when gzipped) look like.
fn not_nifti(path: &Path) -> Error {
    let mut first = vec![0u8; 352];
    let mut source = match Source::open(path) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let got = match &mut source {
        Source::Memory { .. } | Source::Slices { .. } => unreachable!("opened from a file"),
        Source::Plain { file, .. } => read_up_to(file, &mut first),
        #[cfg(feature = "gzip")]
        Source::Gzip { dec, .. } => read_up_to(dec, &mut first),
    };
    let got = match got {
        Ok(n) => n,
        Err(e) => return source.read_error(e, "header"),
    };
    first.truncate(got);
    if got < 4 {
        return Error::new(
            ErrorKind::Truncated,
            path,
            format!(
                "not a NIfTI or NRRD file: it holds only {got} bytes{}",
                if got > 0 { format!(" ({})", crate::header::describe_start(&first)) } else { String::new() }
            ),
        );
    }
    match NiftiHeader::parse(&first, path) {
        Err(e) => e,
        Ok(_) => Error::new(ErrorKind::Truncated, path, "the file ends inside the NIfTI header"),
    }
}

/// Whether `path` starts with the NRRD magic.
pub(crate) fn starts_as_nrrd(path: &Path) -> Result<bool> {
    let mut file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut first = [0u8; 4];
    let got = read_up_to(&mut file, &mut first).map_err(|e| Error::io(path, "read", e))?;
    Ok(crate::nrrd::is_nrrd(&first[..got]))
}

/// An NRRD whose header is read and checked, its data source at the first voxel byte.
struct OpenedNrrd {
    header: crate::nrrd::NrrdHeader,
    layout: Layout,
    src: Source,
    swap: bool,
    affine: ctprep_core::Affine,
}

impl OpenedNrrd {
    fn open(path: &Path, opts: &ReadOptions) -> Result<OpenedNrrd> {
        use crate::nrrd::NrrdEncoding;
        let header = crate::nrrd::read_header(path)?;
        let n_voxels = opts
            .limits
            .check(&header.sizes, header.dtype)
            .map_err(|m| Error::new(ErrorKind::TooLarge, path, m.replacen("dim = ", "sizes = ", 1)))?;
        let nbytes = (n_voxels as u64).saturating_mul(header.dtype.size() as u64);
        let affine = crate::nrrd::affine(&header, path)?;
        let (file, at, after) = crate::nrrd::data_location(&header, path, nbytes)?;
        let gzip = header.encoding == NrrdEncoding::Gzip;
        let layout = Layout {
            shape: header.volume_shape(),
            dtype: header.dtype,
            n_voxels,
            nbytes,
            vox_offset: at,
            scaling: None,
        };
        let mut src = Source::open_at(&file, at, gzip)?;
        if let Source::Plain { len, .. } = &src
            && *len < at + nbytes
        {
            return Err(Error::new(
                ErrorKind::Truncated,
                &file,
                format!(
                    "the NRRD header describes {} from byte {at}, but the file has only {len} bytes",
                    layout.describe()
                ),
            ));
        }
        src.check_size(nbytes + after, &layout)?;
        if after > 0 {
            src.skip(after)?;
        }
        let swap = header.byte_order != ByteOrder::native();
        Ok(OpenedNrrd { header, layout, src, swap, affine })
    }

    /// The volume of `data` (of `shape`) with this file's geometry and NRRD fields.
    fn volume(&mut self, data: VoxelData, shape: Vec<usize>, path: &Path) -> Volume {
        let mut h = NiftiHeader { qform_code: 1, sform_code: 1, ..NiftiHeader::default() };
        h.dim = [1; 8];
        h.dim[0] = shape.len() as i64;
        for (i, d) in shape.iter().enumerate() {
            h.dim[i + 1] = *d as i64;
        }
        h.datatype = self.header.dtype.nifti_code();
        h.bitpix = (self.header.dtype.size() * 8) as i16;
        h.pixdim[1..4].copy_from_slice(&self.affine.spacing());
        let rows = self.affine.rows();
        h.srow = [rows[0], rows[1], rows[2]];
        // The qform NIfTI would carry for this affine, so the header describes one geometry.
        match crate::xform::qform_from_affine(&self.affine) {
            Some(q) if !self.affine.is_sheared() => {
                h.pixdim[0] = q.qfac;
                h.pixdim[1..4].copy_from_slice(&q.pixdim);
                h.quatern = q.quatern;
                h.qoffset = q.qoffset;
            }
            _ => h.qform_code = 0,
        }
        Volume {
            header: h,
            shape,
            data,
            affine: self.affine,
            affine_source: crate::xform::AffineSource::Nrrd,
            scaling: None,
            extensions: Vec::new(),
            path: Some(path.to_path_buf()),
            nrrd: Some(Box::new(self.header.clone())),
        }
    }
}

/// Data stored layer-fastest (`[L, x, y, z]`) reordered with the layer axis last.
fn layers_last(data: VoxelData, layers: usize) -> VoxelData {
    fn typed<T: Element>(src: &[T], layers: usize) -> VoxelData {
        let n = src.len() / layers;
        let mut out = vec![T::zeroed(); src.len()];
        for (v, group) in src.chunks_exact(layers).enumerate() {
            for (l, &x) in group.iter().enumerate() {
                out[l * n + v] = x;
            }
        }
        VoxelData::from_vec(out)
    }
    crate::with_storage!(&data, s => typed(s.as_slice(), layers))
}

/// A new zeroed buffer for `n` values, filled through its bytes: a `Vec` for small volumes; for
/// large ones an anonymous mapping advised to use transparent huge pages, which makes the first
/// touch of a volume cost a few hundred page faults instead of one per 4 KiB.
enum VoxelBuffer<T: Element> {
    Small(Vec<T>),
    #[cfg(feature = "mmap")]
    Large(memmap2::MmapMut, std::marker::PhantomData<T>),
}

impl<T: Element> VoxelBuffer<T> {
    fn new(n: usize) -> Result<VoxelBuffer<T>> {
        let bytes = n * size_of::<T>();
        #[cfg(feature = "mmap")]
        if bytes >= HUGE_BUFFER_BYTES {
            let map = huge_zeroed(bytes)
                .map_err(|e| Error::io("<memory>", &format!("allocate {bytes} bytes for the voxel data"), e))?;
            return Ok(VoxelBuffer::Large(map, std::marker::PhantomData));
        }
        Ok(VoxelBuffer::Small(vec![T::zeroed(); bytes / size_of::<T>()]))
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            VoxelBuffer::Small(v) => bytemuck::cast_slice_mut(v),
            #[cfg(feature = "mmap")]
            VoxelBuffer::Large(m, _) => &mut m[..],
        }
    }

    /// Runs `f` on the bytes, a large buffer's pages faulted in beside it
    /// ([`fill_with_prefault`]).
    fn fill<R>(&mut self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        #[cfg(feature = "mmap")]
        if let VoxelBuffer::Large(m, _) = self {
            return fill_with_prefault(m, f);
        }
        f(self.bytes_mut())
    }

    fn values_mut(&mut self) -> &mut [T] {
        // A fresh mapping is page-aligned, so the cast cannot fail.
        bytemuck::cast_slice_mut(self.bytes_mut())
    }

    fn into_storage(self) -> Storage<T> {
        match self {
            VoxelBuffer::Small(v) => Storage::from_vec(v),
            #[cfg(feature = "mmap")]
            VoxelBuffer::Large(m, _) => {
                let n = m.len() / size_of::<T>();
                Storage::anon(m, 0, n).expect("a fresh mapping is aligned and sized for its values")
            }
        }
    }
}

/// The fast path for a single-member `.nii.gz`: the whole file decoded at once by libdeflate
/// straight into the buffer that becomes the voxel storage: its pieces in parallel when the
/// header carries a piece index ([`ctprep_gzip::decode_indexed_whole`]), else on this thread
/// with the pages faulted in by a helper thread ([`fill_with_prefault`]). `None` whenever it does not apply (the gzip trailer's size is not
/// the one the header promises, as for multi-member files; misaligned data; any decoding
/// error), and the caller then streams the file, which handles every case and names errors
/// precisely.
#[cfg(all(feature = "gzip", feature = "mmap"))]
fn read_gzip_whole(path: &Path, layout: &Layout, h: &NiftiHeader, data_offset: u64) -> Option<(Vec<u8>, VoxelData)> {
    let file = File::open(path).ok()?;
    let map = map_file(&file);
    let owned;
    let comp: &[u8] = match &map {
        Some(m) => m,
        None => {
            owned = std::fs::read(path).ok()?;
            &owned
        }
    };
    let total = usize::try_from(data_offset.checked_add(layout.nbytes)?).ok()?;
    let trailer = comp.len().checked_sub(4).and_then(|i| comp.get(i..))?;
    if u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]) != total as u32 {
        return None;
    }
    let offset = data_offset as usize;
    let swap = h.byte_order != ByteOrder::native();
    fn typed<T: Element>(
        comp: &[u8],
        total: usize,
        offset: usize,
        n: usize,
        swap: bool,
    ) -> Option<(Vec<u8>, VoxelData)> {
        if !offset.is_multiple_of(align_of::<T>()) {
            return None;
        }
        let mut out = huge_zeroed(total).ok()?;
        // A file with a piece index (ctprep's own) decodes its pieces in parallel; any other, or
        // one whose index does not hold, whole on this thread.
        if ctprep_gzip::decode_indexed_whole(comp, &mut out).is_none() {
            // One member spanning the whole file only: after a first member that already holds
            // the volume, more members (or bytes) are the stream reader's to decode or refuse.
            let decode = |buf: &mut [u8]| ctprep_gzip::decode_one_member_whole(comp, buf);
            if fill_with_prefault(&mut out, decode)? != total {
                return None;
            }
        }
        if swap {
            let values: &mut [T] = bytemuck::try_cast_slice_mut(&mut out[offset..]).ok()?;
            values.iter_mut().for_each(|x| *x = x.swap_bytes());
        }
        let head = out[..offset].to_vec();
        Some((head, T::wrap(Storage::anon(out, offset, n)?)))
    }
    let (n, t) = (layout.n_voxels, (comp, total, offset));
    crate::with_dtype!(layout.dtype, T => typed::<T>(t.0, t.1, t.2, n, swap))
}

/// Memory-maps a file read-only; `None` when the system refuses (the caller then reads it).
#[cfg(feature = "mmap")]
#[allow(unsafe_code)]
fn map_file(file: &File) -> Option<memmap2::Mmap> {
    // SAFETY: the map is read-only and private to this process. memmap2 cannot rule out another
    // process truncating or rewriting the file while it is mapped; ctprep never writes to its
    // inputs (outputs go to a temporary file renamed into place, which leaves a mapped inode
    // intact), and `ReadOptions::mmap(false)` avoids mapping where other writers may exist.
    unsafe { memmap2::Mmap::map(file) }.ok()
}

/// Reads until `buf` is full or the file ends; returns how many bytes were read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == IoKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_paths_keep_case_and_gzip() {
        assert_eq!(pair_paths(Path::new("a/ct.nii")), (PathBuf::from("a/ct.nii"), None));
        assert_eq!(
            pair_paths(Path::new("a/x.v2.hdr")),
            (PathBuf::from("a/x.v2.hdr"), Some(PathBuf::from("a/x.v2.img")))
        );
        assert_eq!(pair_paths(Path::new("X.IMG")), (PathBuf::from("X.HDR"), Some(PathBuf::from("X.IMG"))));
        assert_eq!(pair_paths(Path::new("x.hdr.gz")), (PathBuf::from("x.hdr.gz"), Some(PathBuf::from("x.img.gz"))));
    }

    #[cfg(not(feature = "gzip"))]
    #[test]
    fn gzip_input_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ct.nii.gz");
        std::fs::write(&path, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]).expect("writes");
        let err = read_nifti(&path).expect_err("no gzip");
        assert!(err.to_string().contains("ct.nii.gz") && err.to_string().contains("without gzip support"), "{err}");
    }

    #[cfg(all(feature = "gzip", feature = "mmap"))]
    #[test]
    fn whole_buffer_gzip_path_is_taken_only_for_single_member_files() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("temp dir");
        let values: Vec<i16> = (0..4096).map(|i| (i * 7 % 2000 - 1000) as i16).collect();
        let vol = crate::Volume::new(VoxelData::from_vec(values.clone()), &[16, 16, 16], ctprep_core::Affine::IDENTITY)
            .expect("valid");
        let plain = dir.path().join("v.nii");
        crate::write_nifti(&vol, &plain, &crate::WriteOptions::new()).expect("writes");
        let bytes = std::fs::read(&plain).expect("reads");
        let gz = |parts: &[&[u8]]| -> Vec<u8> {
            let mut out = Vec::new();
            for p in parts {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(3));
                e.write_all(p).expect("compresses");
                out.extend(e.finish().expect("finishes"));
            }
            out
        };
        let single = dir.path().join("single.nii.gz");
        let multi = dir.path().join("multi.nii.gz");
        std::fs::write(&single, gz(&[&bytes])).expect("writes");
        std::fs::write(&multi, gz(&[&bytes[..1000], &bytes[1000..]])).expect("writes");
        let header = NiftiHeader::parse(&bytes, &plain).expect("header");
        let layout = Layout::of(&header, &plain, &Limits::default()).expect("layout");
        let (head, data) = read_gzip_whole(&single, &layout, &header, 352).expect("fast path applies");
        assert_eq!(head.len(), 352);
        assert_eq!(data.as_slice::<i16>(), Some(&values[..]));
        assert!(read_gzip_whole(&multi, &layout, &header, 352).is_none(), "multi-member must stream");
        // Both read the same through the public API.
        for p in [&single, &multi] {
            assert_eq!(read_nifti(p).expect("reads").data().as_slice::<i16>(), Some(&values[..]));
        }
    }

    #[test]
    fn malformed_extensions_are_kept_up_to_the_fault() {
        let mut b = vec![1, 0, 0, 0];
        b.extend_from_slice(&16i32.to_le_bytes());
        b.extend_from_slice(&6i32.to_le_bytes());
        b.extend_from_slice(b"hello\0\0\0");
        b.extend_from_slice(&0i32.to_le_bytes()); // esize 0: malformed, ends the list
        b.extend_from_slice(&[0; 12]);
        let e = parse_extensions(&b, Path::new("x"));
        assert_eq!(e, vec![Extension { code: 6, data: b"hello\0\0\0".to_vec() }]);
    }
}
