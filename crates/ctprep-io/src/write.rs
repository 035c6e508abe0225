//! Writing NIfTI-1 (or NIfTI-2 when a dimension or a float field needs it) `.nii` and `.nii.gz`: sform and
//! qform both set and consistent, written to a temporary file in the target folder and renamed
//! into place, so an interrupted write leaves no partial file.

use std::io::{BufWriter, Seek, Write};
use std::path::Path;

use crate::datatype::{DataType, Element};
use crate::error::{Error, ErrorKind, Result};
use crate::header::{ByteOrder, NiftiFormat, NiftiHeader};
use crate::nrrd::NrrdEncoding;
use crate::volume::Volume;
use crate::xform::qform_from_affine;

/// The default gzip level for `.nii.gz` output.
///
/// Chosen by measurement (the README's "gzip level" section): level 1, the fastest, gives 2.87x on
/// the int16 CT phantom and 3.61x on `ctprep run`'s float32 MIP; levels 3 and 6 gain 4-9 % in size
/// for 1.1-2x the time. See `ctprep_gzip` for what level 1 means here.
pub const DEFAULT_GZIP_LEVEL: u32 = 1;

/// How to write a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    gzip_level: u32,
    nrrd_encoding: NrrdEncoding,
    nrrd_byte_order: ByteOrder,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            gzip_level: DEFAULT_GZIP_LEVEL,
            nrrd_encoding: NrrdEncoding::Gzip,
            nrrd_byte_order: ByteOrder::Little,
        }
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

    /// The encoding of NRRD voxel data (default gzip, as 3D Slicer writes); NIfTI output is
    /// gzipped by its name (`.nii.gz`) instead.
    pub fn nrrd_encoding(mut self, encoding: NrrdEncoding) -> WriteOptions {
        self.nrrd_encoding = encoding;
        self
    }

    /// The byte order of NRRD voxel data (default little); NIfTI is always written little-endian.
    pub fn nrrd_byte_order(mut self, order: ByteOrder) -> WriteOptions {
        self.nrrd_byte_order = order;
        self
    }
}

/// The file format an output path asks for, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// `.nii`.
    Nifti,
    /// `.nii.gz`.
    NiftiGz,
    /// `.nrrd`: header and data in one file.
    Nrrd,
    /// `.nhdr`: a detached header beside its data file (`<stem>.raw` or `<stem>.raw.gz`).
    Nhdr,
}

impl OutputFormat {
    /// The format `path` names (`.nii`, `.nii.gz`, `.nrrd`, `.nhdr`, any case), if any.
    pub fn of(path: &Path) -> Option<OutputFormat> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        let stem_len = |ext: &str| name.len().checked_sub(ext.len()).filter(|&n| n > 0 && name.ends_with(ext));
        if stem_len(".nii.gz").is_some() {
            Some(OutputFormat::NiftiGz)
        } else if stem_len(".nii").is_some() {
            Some(OutputFormat::Nifti)
        } else if stem_len(".nrrd").is_some() {
            Some(OutputFormat::Nrrd)
        } else if stem_len(".nhdr").is_some() {
            Some(OutputFormat::Nhdr)
        } else {
            None
        }
    }

    /// Whether it is NRRD (`.nrrd` or `.nhdr`).
    pub fn is_nrrd(self) -> bool {
        matches!(self, OutputFormat::Nrrd | OutputFormat::Nhdr)
    }

    /// What a user types for it.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Nifti => ".nii",
            OutputFormat::NiftiGz => ".nii.gz",
            OutputFormat::Nrrd => ".nrrd",
            OutputFormat::Nhdr => ".nhdr",
        }
    }
}

/// `path`'s format; an error naming the file when its name asks for none, or for gzip in a
/// build without the `gzip` feature.
fn output_format(path: &Path, opts: &WriteOptions) -> Result<OutputFormat> {
    let f = OutputFormat::of(path).ok_or_else(|| {
        Error::new(ErrorKind::InvalidRequest, path, "output file name must end in .nii, .nii.gz, .nrrd or .nhdr")
    })?;
    let gz = f == OutputFormat::NiftiGz || (f.is_nrrd() && opts.nrrd_encoding == NrrdEncoding::Gzip);
    if gz && !cfg!(feature = "gzip") {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            path,
            "ctprep-io was built without gzip support (feature `gzip`): cannot write gzip-compressed data",
        ));
    }
    Ok(f)
}

/// Writes `vol` to `path` in the format its name asks for: [`write_nifti`] for `.nii` and
/// `.nii.gz`, [`write_nrrd`] for `.nrrd` and `.nhdr`.
pub fn write_volume(vol: &Volume, path: impl AsRef<Path>, opts: &WriteOptions) -> Result<()> {
    let path = path.as_ref();
    if output_format(path, opts)?.is_nrrd() { write_nrrd(vol, path, opts) } else { write_nifti(vol, path, opts) }
}

/// The data file ctprep writes beside a detached header `path` (`ct.nhdr` → `ct.raw.gz` for
/// gzip, `ct.raw` for raw data).
pub fn detached_data_path(path: &Path, encoding: NrrdEncoding) -> std::path::PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = &name[..name.len().saturating_sub(5)];
    let ext = if encoding == NrrdEncoding::Gzip { "raw.gz" } else { "raw" };
    path.with_file_name(format!("{stem}.{ext}"))
}

/// Writes `vol` as NRRD: `.nrrd` (header and data in one file) or `.nhdr` (a detached header
/// and its data file `<stem>.raw.gz` / `<stem>.raw`, both appearing together). The geometry is
/// written in LPS (`space: left-posterior-superior`), as 3D Slicer writes it, in numbers that
/// read back to exactly this affine; the data in the encoding and byte order of `opts`. A
/// volume read from NRRD keeps its layers (as a leading `list` axis), measurement frame, other
/// fields and key/value pairs. NRRD has no scaling: a scaled volume is written as its real
/// values in float32, as ITK writes it.
pub fn write_nrrd(vol: &Volume, path: impl AsRef<Path>, opts: &WriteOptions) -> Result<()> {
    let path = path.as_ref();
    let format = output_format(path, opts)?;
    if !format.is_nrrd() {
        return Err(Error::new(ErrorKind::InvalidRequest, path, "an NRRD file name must end in .nrrd or .nhdr"));
    }
    let scaled;
    let vol = if vol.scaling().is_some() {
        scaled = vol.with_data(crate::VoxelData::from_vec(vol.scaled_f32()))?;
        &scaled
    } else {
        vol
    };
    let interleaved;
    let vol = if crate::nrrd::writes_layers(vol.nrrd_header(), vol.shape()) {
        interleaved = vol.with_data(layers_first(vol.data(), vol.shape()[3]))?;
        &interleaved
    } else {
        vol
    };
    let (enc, order) = (opts.nrrd_encoding, opts.nrrd_byte_order);
    let data = ordered_bytes(vol, order);
    let write_data = |w: &mut BufWriter<&std::fs::File>, at: &Path| -> Result<()> {
        match enc {
            NrrdEncoding::Gzip => {
                gzip_to(w, &[], &data, opts.gzip_level).map_err(|e| Error::io(at, "compress the volume and write", e))
            }
            NrrdEncoding::Raw => w.write_all(&data).map_err(|e| Error::io(at, "write", e)),
        }
    };
    let header = |data_file: Option<&str>| {
        crate::nrrd::header_text(vol.nrrd_header(), vol.dtype(), vol.shape(), vol.affine(), enc, order, data_file)
    };
    if format == OutputFormat::Nrrd {
        let mut head = header(None);
        head.push('\n');
        return write_atomically(path, |file| {
            let mut w = BufWriter::with_capacity(1 << 20, file);
            w.write_all(head.as_bytes()).map_err(|e| Error::io(path, "write", e))?;
            write_data(&mut w, path)?;
            w.flush().map_err(|e| Error::io(path, "write", e))
        });
    }
    let data_path = detached_data_path(path, enc);
    let data_name = data_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let data_file = Completed::create(&data_path, |file| {
        let mut w = BufWriter::with_capacity(1 << 20, file);
        write_data(&mut w, &data_path)?;
        w.flush().map_err(|e| Error::io(&data_path, "write", e))
    })?;
    let head = header(Some(&data_name));
    let header_file =
        Completed::create(path, |mut file| file.write_all(head.as_bytes()).map_err(|e| Error::io(path, "write", e)))?;
    persist_all(vec![data_file, header_file])
}

/// Data with its last axis (of `layers`) moved first, fastest: how NRRD stores layers.
fn layers_first(data: &crate::VoxelData, layers: usize) -> crate::VoxelData {
    fn typed<T: Element>(src: &[T], layers: usize) -> crate::VoxelData {
        let n = src.len() / layers;
        let mut out = vec![T::zeroed(); src.len()];
        for (v, group) in out.chunks_exact_mut(layers).enumerate() {
            for (l, x) in group.iter_mut().enumerate() {
                *x = src[l * n + v];
            }
        }
        crate::VoxelData::from_vec(out)
    }
    crate::with_storage!(data, s => typed(s.as_slice(), layers))
}

/// The voxel bytes in byte order `order` (a borrow when it is this machine's).
fn ordered_bytes(vol: &Volume, order: ByteOrder) -> std::borrow::Cow<'_, [u8]> {
    let bytes = vol.data().as_bytes();
    let size = vol.dtype().size();
    if order == ByteOrder::native() || size == 1 {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut v = bytes.to_vec();
    v.chunks_exact_mut(size).for_each(<[u8]>::reverse);
    std::borrow::Cow::Owned(v)
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

/// Whether `path` is to be gzipped; an error naming the file when it is neither `.nii` nor
/// `.nii.gz`, or is `.nii.gz` in a build without the `gzip` feature.
fn output_kind(path: &Path) -> Result<bool> {
    let gz = nifti_output_kind(path)
        .ok_or_else(|| Error::new(ErrorKind::InvalidRequest, path, "output file name must end in .nii or .nii.gz"))?;
    if gz && !cfg!(feature = "gzip") {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            path,
            "ctprep-io was built without gzip support (feature `gzip`): cannot write a .nii.gz",
        ));
    }
    Ok(gz)
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
    // code; a volume with neither (pixdim fallback) or a new one gets 1 (scanner). A code the
    // standard does not define (1-5) is written as 2 (aligned), nibabel's code for a
    // transform whose space it is not told; copying it would write an invalid file.
    let valid = |c: i32| if (1..=5).contains(&c) { c } else { 2 };
    let sform_code = if h.sform_code > 0 {
        valid(h.sform_code)
    } else if h.qform_code > 0 {
        valid(h.qform_code)
    } else {
        1
    };
    let qform_code = if h.qform_code > 0 { valid(h.qform_code) } else { sform_code };
    let rows = a.rows();
    h.srow = [rows[0], rows[1], rows[2]];
    h.sform_code = sform_code;
    match qform_from_affine(a) {
        // A qform is a rotation, spacing and qfac: it cannot hold shear. Its fields still carry
        // the closest rotation, but code 0 says not to use them (ITK then refuses the file
        // instead of silently reading another geometry than the sform's).
        Some(q) => {
            h.qform_code = if a.is_sheared() { 0 } else { qform_code };
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
    // NIfTI-1 stores these as float32: a finite value beyond its range would be written as
    // infinity, a file no reader accepts. NIfTI-2 stores them as float64.
    if h.format == NiftiFormat::Nifti1 && !float_fields(&h).iter().all(|&v| !v.is_finite() || (v as f32).is_finite()) {
        h.format = NiftiFormat::Nifti2;
        h.vox_offset = (h.format.header_size() + 4 + ext_bytes) as f64;
    }
    h
}

/// Every floating-point field of a header.
fn float_fields(h: &NiftiHeader) -> Vec<f64> {
    let scalars = [h.vox_offset, h.scl_slope, h.scl_inter, h.cal_max, h.cal_min, h.slice_duration, h.toffset];
    let arrays = h.intent_p.iter().chain(&h.pixdim).chain(&h.quatern).chain(&h.qoffset).chain(h.srow.iter().flatten());
    arrays.chain(&scalars).copied().collect()
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
    let gz = output_kind(path)?;
    let head = head_bytes(vol, &header_for(vol));
    write_atomically(path, |file| {
        let werr = |e| Error::io(path, "write", e);
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let data = ordered_bytes(vol, ByteOrder::Little);
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

/// Writes one gzip member holding `head` (as stored blocks, readable without inflating) then
/// `data`, compressed in parallel, with a piece index: [`ctprep_gzip::write_gzip_indexed`].
#[cfg(feature = "gzip")]
fn gzip_to(w: &mut (impl Write + Seek + Send), head: &[u8], data: &[u8], level: u32) -> std::io::Result<()> {
    ctprep_gzip::write_gzip_indexed(w, head, data, level)
}

#[cfg(not(feature = "gzip"))]
fn gzip_to(_: &mut (impl Write + Seek + Send), _: &[u8], _: &[u8], _: u32) -> std::io::Result<()> {
    // `output_kind` refuses a .nii.gz first; this is never reached.
    Err(std::io::Error::other("built without gzip support"))
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

/// Creates `path` through a temporary file in its folder (readable like any output): `write`
/// fills the file, which is then renamed onto `path`. When `write` fails (or the process dies)
/// no partial `path` appears; the temporary file is removed. Every ctprep output is written so.
pub fn write_atomically<E: From<Error>>(
    path: &Path,
    write: impl FnOnce(&std::fs::File) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let tmp = temp_file_for(path)?;
    write(tmp.as_file())?;
    Ok(persist(tmp, path)?)
}

/// [`write_atomically`] with the temporary file named after `path`
/// (`.ctprep-<pid>-new-XXXXXX-<its name>.tmp`), so that [`remove_stale_temporaries_of`] can
/// tell by name whose leftover it is.
pub fn write_atomically_named<E: From<Error>>(
    path: &Path,
    write: impl FnOnce(&std::fs::File) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    // Under the lock, so that no temporary appears once a signal handler holds it.
    let slot = {
        let _placing = placing_lock();
        slot_for(path, "new")?
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&slot)
        .map_err(|e| Error::io(path, "open a temporary file for", e))?;
    write(&file)?;
    drop(file);
    slot.persist(path).map_err(|e| Error::io(path, "rename the finished temporary file to", e.error))?;
    Ok(())
}

/// A temporary file (removed when dropped) in `path`'s folder, readable like any output.
fn temp_file_for(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let prefix = temp_prefix();
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // tempfile creates private (0600) files; an output should be readable like any other.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    builder.tempfile_in(dir).map_err(|e| temp_error(path, dir, e))
}

/// Why no temporary file could be made in `dir` for `path`: a missing folder said plainly (the
/// temporary file's random name means nothing to the user), anything else as the system says it.
fn temp_error(path: &Path, dir: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound && !dir.is_dir() {
        return Error::new(ErrorKind::Io, path, format!("cannot write: the folder {} does not exist", dir.display()));
    }
    Error::io(path, &format!("create a temporary file in {}", dir.display()), e)
}

/// The name prefix of this process's temporary files: `.ctprep-<pid>-`, so that a later run can
/// tell the leftovers of a killed process ([`remove_stale_temporaries`]) from a live one's.
fn temp_prefix() -> String {
    format!(".ctprep-{}-", std::process::id())
}

/// Removes the temporary files (`.ctprep-<pid>-*.tmp`) that processes no longer running left in
/// `dir` (killed while writing, or while placing their outputs); returns how many. An earlier
/// output that a killed [`persist_all`] had moved aside goes back to its path when nothing took
/// its place. Files of running processes, and every other file, are left alone. Where the
/// running processes cannot be listed (no `/proc`), nothing is removed.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    if !can_list_processes() {
        return 0;
    }
    clean_temporaries(dir, |pid, _| pid != std::process::id() && !process_runs(pid))
}

/// [`remove_stale_temporaries`] for the temporaries (files and folders) that stand for paths
/// named as `mine` accepts (`ct` for `.ctprep-<pid>-new-XXXXXX-ct.tmp`), this process's own
/// included: for a caller that has written none of those names yet.
pub fn remove_stale_temporaries_of(dir: &Path, mine: impl Fn(&str) -> bool) -> usize {
    if !can_list_processes() {
        return 0;
    }
    clean_temporaries(dir, |pid, original| {
        original.is_some_and(&mine) && (pid == std::process::id() || !process_runs(pid))
    })
}

/// Removes every temporary (of any process) standing for a path named as `mine` accepts: for a
/// caller that holds a lock on those names, so that no live process can be writing them,
/// wherever it runs (a folder shared between machines) and whatever its pid.
pub fn remove_temporaries_of(dir: &Path, mine: impl Fn(&str) -> bool) -> usize {
    clean_temporaries(dir, |_, original| original.is_some_and(&mine))
}

/// Whether running processes can be listed (`/proc`).
fn can_list_processes() -> bool {
    Path::new("/proc/self").exists()
}

/// Whether process `pid` runs on this machine.
fn process_runs(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes this process's own temporary files from `dir` (for a signal handler: the process is
/// about to exit), putting back any earlier output moved aside whose path is empty, and the
/// files of the [`NameLock`]s it holds there.
pub fn remove_own_temporaries(dir: &Path) -> usize {
    let mut removed = clean_temporaries(dir, |pid, _| pid == std::process::id());
    if let Ok(held) = HELD.lock() {
        removed += held.iter().filter(|p| p.parent() == Some(dir) && std::fs::remove_file(p).is_ok()).count();
    }
    removed
}

/// The temporary files of `dir` whose process `gone` accepts, cleaned up so the folder holds
/// one run's complete outputs: when that process had begun placing its outputs (its
/// `commit` marker is there), the outputs it had not placed yet are placed and the earlier ones
/// it moved aside removed (roll forward); otherwise its new outputs are removed and every
/// earlier one goes back to its path (roll back). Its other temporary files are removed.
fn clean_temporaries(dir: &Path, gone: impl Fn(u32, Option<&str>) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    // (pid, kind, original name, path) of each temporary file of a process `gone` accepts.
    let mut found: Vec<(u32, &'static str, Option<String>, std::path::PathBuf)> = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(".ctprep-")) else { continue };
        let Some((pid, tail)) = rest.split_once('-') else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if !rest.ends_with(".tmp") || !e.file_type().is_ok_and(|t| t.is_file() || t.is_dir()) {
            continue;
        }
        // `old-XXXXXX-<name>.tmp` / `new-XXXXXX-<name>.tmp`: see `slot_for`.
        let (kind, original) = match ["old-", "new-"].iter().find(|k| tail.starts_with(**k)) {
            Some(k) => {
                let n = tail[k.len()..].get(SLOT_RAND + 1..).and_then(|t| t.strip_suffix(".tmp"));
                (if *k == "old-" { "old" } else { "new" }, n.filter(|n| !n.is_empty()).map(str::to_owned))
            }
            None if tail == COMMIT_MARKER => ("commit", None),
            None => ("other", None),
        };
        if !gone(pid, original.as_deref()) {
            continue;
        }
        found.push((pid, kind, original, e.path()));
    }
    let committing = |pid: u32| found.iter().any(|f| f.0 == pid && f.1 == "commit");
    let mut cleaned = 0;
    // New outputs first (placed or removed), then the earlier ones (removed or put back), the
    // marker last: a clean-up cut short is taken up again from where it stopped.
    for pass in ["new", "old", "other", "commit"] {
        for (pid, kind, original, path) in found.iter().filter(|f| f.1 == pass) {
            let forward = committing(*pid);
            let done = match (*kind, original) {
                ("new", Some(n)) if forward => std::fs::rename(path, dir.join(n)).is_ok(),
                ("old", Some(n)) if !forward && !dir.join(n).exists() => std::fs::rename(path, dir.join(n)).is_ok(),
                _ => remove_any(path),
            };
            cleaned += usize::from(done);
        }
    }
    cleaned
}

/// Removes a file, or a folder with everything in it (retried a few times: a folder another
/// thread is still writing into can gain entries while it is emptied).
fn remove_any(path: &Path) -> bool {
    if !path.is_dir() {
        return std::fs::remove_file(path).is_ok();
    }
    (0..4).any(|_| std::fs::remove_dir_all(path).is_ok())
}

/// The name (after `.ctprep-<pid>-`) of the marker a process writes once every new output of a
/// [`persist_all`] is complete and named, before it moves any earlier file aside.
const COMMIT_MARKER: &str = "commit.tmp";

/// Random characters in the name of a file moved aside or about to be placed.
const SLOT_RAND: usize = 6;

/// A free name beside `path`: `.ctprep-<pid>-<kind>-XXXXXX-<its name>.tmp`, `kind` `old` (an
/// earlier file moved aside) or `new` (a complete output about to be placed), so a later
/// clean-up knows what it is and where it goes.
fn slot_for(path: &Path, kind: &str) -> Result<tempfile::TempPath> {
    slot(path, kind, 0o644, |b, dir| b.tempfile_in(dir).map(tempfile::NamedTempFile::into_temp_path))
}

/// [`slot_for`] as an empty folder; its mode before the umask is 0o777, as `mkdir` gives.
fn slot_folder(path: &Path, kind: &str) -> Result<tempfile::TempDir> {
    slot(path, kind, 0o777, |b, dir| b.tempdir_in(dir))
}

/// Makes the slot `make` creates (a file or a folder) under [`slot_for`]'s name, with `mode`.
fn slot<T>(
    path: &Path,
    kind: &str,
    mode: u32,
    make: impl FnOnce(&tempfile::Builder<'_, '_>, &Path) -> std::io::Result<T>,
) -> Result<T> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (prefix, suffix) = (format!("{}{kind}-", temp_prefix()), format!("-{name}.tmp"));
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(&suffix).rand_bytes(SLOT_RAND);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(mode));
    #[cfg(not(unix))]
    let _ = mode;
    make(&builder, dir).map_err(|e| temp_error(path, dir, e))
}

/// Renames the finished temporary file onto `path`.
fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    tmp.persist(path).map_err(|e| Error::io(path, "rename the finished temporary file to", e.error))?;
    Ok(())
}

/// Voxel bytes made ready for a file by [`Packer::pack`]: compressed for `.nii.gz`, copied as
/// they are for `.nii`. Reusable: packing again keeps the allocation.
#[derive(Debug, Default)]
pub struct Piece {
    /// The bytes of a `.nii` piece.
    raw: Vec<u8>,
    /// The compressed bytes of a `.nii.gz` piece.
    #[cfg(feature = "gzip")]
    gz: ctprep_gzip::Piece,
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

    /// Replaces the contents with `data`: for gzip, independently compressed fragments at
    /// `level` (see [`ctprep_gzip::Piece::compress`]).
    fn pack(&mut self, data: &[u8], gz: bool, level: u32) -> std::io::Result<()> {
        self.raw.clear();
        self.len = data.len();
        if gz {
            #[cfg(feature = "gzip")]
            return self.gz.compress(data, level);
            #[cfg(not(feature = "gzip"))]
            return Err(std::io::Error::other(format!("built without gzip support: cannot compress at level {level}")));
        }
        self.raw.extend_from_slice(data);
        Ok(())
    }
}

/// Packs voxel bytes for one [`NiftiStream`]; cheap to clone, so every worker can hold one.
#[derive(Clone, Debug)]
pub struct Packer {
    gz: bool,
    level: u32,
    dtype: DataType,
    /// Whether the file's byte order is not this machine's.
    swap: bool,
    path: std::sync::Arc<Path>,
}

impl Packer {
    /// Makes `piece` hold `values` (the next voxels of the stream, in file order, in the stream's
    /// stored type), compressed for `.nii.gz`. Pieces are independent: any thread may pack any
    /// of them. An error when `T` is not the stream's type.
    pub fn pack<T: Element>(&self, values: &[T], piece: &mut Piece) -> Result<()> {
        if T::DTYPE != self.dtype {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                &*self.path,
                format!("{} voxels given to a stream of {}", T::DTYPE, self.dtype),
            ));
        }
        let fail = |e: std::io::Error| Error::io(&*self.path, "compress the voxels of", e);
        if !self.swap {
            return piece.pack(bytemuck::cast_slice(values), self.gz, self.level).map_err(fail);
        }
        let swapped: Vec<T> = values.iter().map(|v| v.swap_bytes()).collect();
        piece.pack(bytemuck::cast_slice(&swapped), self.gz, self.level).map_err(fail)
    }
}

/// The gzip member of a `.nii.gz` stream.
#[cfg(feature = "gzip")]
type Member = ctprep_gzip::GzipMember;

/// Without the `gzip` feature no stream has a member.
#[cfg(not(feature = "gzip"))]
#[derive(Debug)]
enum Member {}

/// Starts the member with a piece index for `data_len` bytes after `head`, so that ctprep reads
/// it back in parallel.
#[cfg(feature = "gzip")]
fn start_member(w: &mut (impl Write + Seek), head: &[u8], data_len: u64) -> std::io::Result<Member> {
    Member::start_indexed(w, head, data_len)
}

#[cfg(not(feature = "gzip"))]
fn start_member(_: &mut (impl Write + Seek), _: &[u8], _: u64) -> std::io::Result<Member> {
    Err(std::io::Error::other("built without gzip support"))
}

#[cfg(feature = "gzip")]
fn add_to_member(m: &mut Member, w: &mut impl Write, piece: &Piece) -> std::io::Result<()> {
    m.add(w, &piece.gz)
}

#[cfg(not(feature = "gzip"))]
fn add_to_member(m: &mut Member, _: &mut impl Write, _: &Piece) -> std::io::Result<()> {
    match *m {}
}

#[cfg(feature = "gzip")]
fn end_member(m: Member, w: &mut (impl Write + Seek)) -> std::io::Result<()> {
    m.end_indexed(w)
}

#[cfg(not(feature = "gzip"))]
fn end_member(m: Member, _: &mut (impl Write + Seek)) -> std::io::Result<()> {
    match m {}
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
    member: Option<Member>,
    packer: Packer,
    expected: u64,
    written: u64,
    /// The detached header of an `.nhdr` (`path` is then its data file).
    header: Option<Completed>,
}

impl NiftiStream {
    /// Starts `path` (`.nii` or `.nii.gz`) for a volume of `shape` and `affine` stored in
    /// `template`'s type, whose other header fields, scaling and extensions are `template`'s
    /// (its own voxels are not written), and writes its header. Every packed slab must be of
    /// that type ([`Packer::pack`]).
    pub fn create(
        template: &Volume,
        shape: &[usize],
        affine: ctprep_core::Affine,
        path: impl AsRef<Path>,
        opts: &WriteOptions,
    ) -> Result<NiftiStream> {
        let path = path.as_ref();
        let format = output_format(path, opts)?;
        let dtype = template.dtype();
        let voxels = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        let expected = voxels.and_then(|n| n.checked_mul(dtype.size() as u64)).ok_or_else(|| {
            Error::new(ErrorKind::InvalidRequest, path, format!("shape {shape:?} is too large to write"))
        })?;
        let (head, gz, order, head_in_member) = match format {
            OutputFormat::Nifti | OutputFormat::NiftiGz => (
                head_bytes(template, &header_with(template, shape, &affine)),
                format == OutputFormat::NiftiGz,
                ByteOrder::Little,
                true,
            ),
            OutputFormat::Nrrd | OutputFormat::Nhdr => {
                if template.scaling().is_some() {
                    return Err(Error::new(
                        ErrorKind::InvalidRequest,
                        path,
                        "NRRD has no scl_slope/scl_inter: scaled values cannot be streamed into it (write float32 values)",
                    ));
                }
                if crate::nrrd::writes_layers(template.nrrd_header(), shape) {
                    return Err(Error::new(
                        ErrorKind::InvalidRequest,
                        path,
                        "a layered NRRD stores its layers fastest, so it cannot be written as a stream: write the whole volume (write_nrrd)",
                    ));
                }
                let (enc, order) = (opts.nrrd_encoding, opts.nrrd_byte_order);
                let data_path = (format == OutputFormat::Nhdr).then(|| detached_data_path(path, enc));
                let data_name =
                    data_path.as_ref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
                let mut text = crate::nrrd::header_text(
                    template.nrrd_header(),
                    dtype,
                    shape,
                    &affine,
                    enc,
                    order,
                    data_name.as_deref(),
                );
                if data_path.is_none() {
                    text.push('\n');
                }
                (text.into_bytes(), enc == NrrdEncoding::Gzip, order, false)
            }
        };
        // A detached header is complete now; the stream writes its data file.
        let (header, path) = if format == OutputFormat::Nhdr {
            let header =
                Completed::create(path, |mut file| file.write_all(&head).map_err(|e| Error::io(path, "write", e)))?;
            (Some(header), detached_data_path(path, opts.nrrd_encoding))
        } else {
            (None, path.to_path_buf())
        };
        let head = if header.is_some() { Vec::new() } else { head };
        let path = path.as_path();
        let tmp = temp_file_for(path)?;
        let file = tmp.as_file().try_clone().map_err(|e| Error::io(path, "open the temporary file of", e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let werr = |e| Error::io(path, "write", e);
        let member = if gz {
            // NIfTI's header is inside the gzip stream, NRRD's before it.
            if !head_in_member {
                w.write_all(&head).map_err(werr)?;
            }
            Some(start_member(&mut w, if head_in_member { &head } else { &[] }, expected).map_err(werr)?)
        } else {
            w.write_all(&head).map_err(werr)?;
            None
        };
        let swap = order != ByteOrder::native() && dtype.size() > 1;
        let packer = Packer { gz, level: opts.gzip_level, dtype, swap, path: path.into() };
        Ok(NiftiStream { path: path.to_owned(), tmp, w, member, packer, expected, written: 0, header })
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
            Some(m) => add_to_member(m, &mut self.w, piece),
            None => self.w.write_all(&piece.raw),
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
            end_member(m, &mut self.w).map_err(werr)?;
        }
        self.w.flush().map_err(werr)?;
        let data = Completed { path: self.path, tmp: self.tmp, data_file: None };
        Ok(match self.header {
            Some(mut h) => {
                h.data_file = Some(Box::new(data));
                h
            }
            None => data,
        })
    }
}

/// A complete [`NiftiStream`] file not yet at its path: dropped, it is removed. A detached NRRD
/// header carries its data file, placed with it.
#[derive(Debug)]
pub struct Completed {
    path: std::path::PathBuf,
    tmp: tempfile::NamedTempFile,
    data_file: Option<Box<Completed>>,
}

impl Completed {
    /// A complete output written by `write` into a temporary file beside `path`, not yet at
    /// `path` (see [`persist_all`]).
    pub fn create<E: From<Error>>(
        path: impl AsRef<Path>,
        write: impl FnOnce(&std::fs::File) -> std::result::Result<(), E>,
    ) -> std::result::Result<Completed, E> {
        let path = path.as_ref();
        let tmp = temp_file_for(path)?;
        write(tmp.as_file())?;
        Ok(Completed { path: path.to_owned(), tmp, data_file: None })
    }

    /// Where it goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file into place (a detached header's data file first).
    pub fn persist(self) -> Result<()> {
        if self.data_file.is_some() {
            return persist_all(vec![self]);
        }
        persist(self.tmp, &self.path)
    }
}

/// Places `files` together: every one at its path, or, when any step fails, none, and the
/// files they were replacing back where they were. Each new file is first renamed
/// `.ctprep-<pid>-new-…`, then a `commit` marker is written, then each earlier file is moved
/// aside (`.ctprep-<pid>-old-…`) and the new one renamed onto its path; the marker and the
/// earlier files are removed last. A process killed in between leaves a folder that
/// [`remove_stale_temporaries`] completes: rolled forward to every new output when the marker
/// is there, back to every earlier one when it is not.
pub fn persist_all(files: Vec<Completed>) -> Result<()> {
    let _placing = placing_lock();
    // Data files before the detached headers that name them.
    let mut flat = Vec::with_capacity(files.len());
    for mut f in files {
        if let Some(d) = f.data_file.take() {
            flat.push(*d);
        }
        flat.push(f);
    }
    let files = flat;
    let Some(first) = files.first() else { return Ok(()) };
    let dir = match first.path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    // 1. Every new file under its `new-` name (removed again, unplaced, if anything fails).
    let mut staged: Vec<(std::path::PathBuf, tempfile::TempPath)> = Vec::new();
    for f in files {
        let slot = slot_for(&f.path, "new")?;
        f.tmp.persist(&slot).map_err(|e| Error::io(&f.path, "rename the finished temporary file for", e.error))?;
        staged.push((f.path, slot));
    }
    // 2. The marker: from here on a clean-up rolls forward.
    let marker = dir.join(format!("{}{COMMIT_MARKER}", temp_prefix()));
    std::fs::write(&marker, b"").map_err(|e| Error::io(&marker, "write", e))?;
    // 3. Each earlier file aside, each new one onto its path.
    let mut placed: Vec<(std::path::PathBuf, Option<tempfile::TempPath>)> = Vec::new();
    let mut result = Ok(());
    let mut pending = staged.into_iter();
    for (path, new) in pending.by_ref() {
        let aside = match std::fs::symlink_metadata(&path) {
            Ok(_) => match slot_for(&path, "old").and_then(|slot| {
                std::fs::rename(&path, &slot)
                    .map(|()| slot)
                    .map_err(|e| Error::io(&path, "move the earlier file aside to replace", e))
            }) {
                Ok(slot) => Some(slot),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            },
            Err(_) => None,
        };
        match new.persist(&path) {
            Ok(_) => placed.push((path, aside)),
            Err(e) => {
                if let Some(slot) = aside {
                    let _ = std::fs::rename(&slot, &path);
                }
                result = Err(Error::io(&path, "rename the finished temporary file to", e.error));
                break;
            }
        }
    }
    if result.is_err() {
        // The files not placed are removed as their paths drop.
        drop(pending);
        for (path, aside) in placed.into_iter().rev() {
            let _ = std::fs::remove_file(&path);
            if let Some(slot) = aside {
                let _ = std::fs::rename(&slot, &path);
            }
        }
    }
    let _ = std::fs::remove_file(&marker);
    // On success the earlier files, moved aside, are removed as their paths drop.
    result
}

/// Held while outputs are being renamed into place ([`persist_all`], [`place_folder`]): a signal
/// handler takes it before [`remove_own_temporaries`], so the process never exits half-way
/// through placing (the guard of a handler about to exit is never given back).
pub fn placing_lock() -> std::sync::MutexGuard<'static, ()> {
    static PLACING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    PLACING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A lock on a name in a folder, between processes (on this machine, or on others sharing the
/// folder where its file system supports `flock`): the file `.ctprep-lock-<name>` there, locked
/// while held and removed when let go, so a folder keeps no lock files. The kernel lets go of a
/// killed process's lock; the next process to take it removes the file. A signal handler's
/// [`remove_own_temporaries`] removes the lock files this process holds.
#[derive(Debug)]
pub struct NameLock {
    file: std::fs::File,
    path: std::path::PathBuf,
}

/// The lock files this process holds, for [`remove_own_temporaries`].
static HELD: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

impl NameLock {
    /// The lock on `name` in `dir`, or `None` when another process holds it.
    pub fn take(dir: &Path, name: &str) -> Result<Option<NameLock>> {
        let path = dir.join(format!(".ctprep-lock-{name}"));
        loop {
            // Under the placing lock: no lock file appears once a signal handler holds it.
            let placing = placing_lock();
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, "open the lock file", e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, "lock", e)),
            }
            // The holder before us may have removed the file after we opened it: a lock on a
            // file no longer at `path` locks nothing. Then again, on the new one.
            if same_file(&file, &path) {
                if let Ok(mut held) = HELD.lock() {
                    held.push(path.clone());
                }
                drop(placing);
                return Ok(Some(NameLock { file, path }));
            }
        }
    }
}

impl Drop for NameLock {
    fn drop(&mut self) {
        // Removed while still locked: whoever opens the path next makes a new file.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
        if let Ok(mut held) = HELD.lock() {
            held.retain(|p| p != &self.path);
        }
    }
}

/// Whether `file` is the file now at `path`.
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// An empty temporary folder beside `path` (`.ctprep-<pid>-new-XXXXXX-<its name>.tmp`), removed
/// when dropped, to fill and then put at `path` whole with [`place_folder`]. A killed process's
/// leftover is removed by [`remove_stale_temporaries`]. Made under [`placing_lock`], so none
/// appears once a signal handler holds it.
pub fn temp_folder_for(path: &Path) -> Result<tempfile::TempDir> {
    let _placing = placing_lock();
    slot_folder(path, "new")
}

/// Puts the folder `filled` (from [`temp_folder_for`]) at `path` whole: an earlier folder there
/// is moved aside (`.ctprep-<pid>-old-…`), `filled` renamed onto `path`, the earlier one
/// removed. When the rename fails the earlier folder goes back. A process killed in between
/// leaves the earlier folder aside, which [`remove_stale_temporaries`] puts back: `path` always
/// holds one complete folder, the earlier or the new.
pub fn place_folder(filled: tempfile::TempDir, path: &Path) -> Result<()> {
    let placing = placing_lock();
    let aside = match std::fs::symlink_metadata(path) {
        Ok(_) => {
            let slot = slot_folder(path, "old")?.keep();
            // A folder renames onto an empty one.
            std::fs::rename(path, &slot).map_err(|e| {
                let _ = std::fs::remove_dir(&slot);
                Error::io(path, "move the earlier folder aside to replace", e)
            })?;
            Some(slot)
        }
        Err(_) => None,
    };
    if let Err(e) = std::fs::rename(filled.path(), path) {
        if let Some(slot) = &aside {
            let _ = std::fs::rename(slot, path);
        }
        return Err(Error::io(path, "rename the finished temporary folder to", e));
    }
    // `filled` is at `path` now: nothing left for it to remove.
    let _ = filled.keep();
    // Removing the earlier folder needs no lock: a leftover is cleaned like any old slot.
    drop(placing);
    if let Some(slot) = aside {
        remove_any(&slot);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{VoxelData, read_nifti};

    /// The names the stream tests write: `.nii.gz` too when gzip is built in.
    const NAMES: &[&str] = if cfg!(feature = "gzip") { &["v.nii", "v.nii.gz"] } else { &["v.nii"] };

    /// More than the gzip writer's 4 MiB pieces, so a slab spans several.
    const BIG: usize = (4 << 20) * 2 + 999;

    /// The decompressed contents of a file written by `write_nifti` or a stream.
    fn raw(p: &Path) -> Vec<u8> {
        let bytes = std::fs::read(p).expect("reads");
        if !p.to_string_lossy().ends_with(".gz") {
            return bytes;
        }
        #[cfg(feature = "gzip")]
        {
            use std::io::Read;
            // `GzDecoder` stops after the first member: the whole content must be in it.
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut out).expect("valid gzip");
            out
        }
        #[cfg(not(feature = "gzip"))]
        unreachable!("no .nii.gz is written without gzip")
    }

    /// A volume streamed in slabs of any size (empty ones too) reads back as the same volume
    /// `write_nifti` writes, `.nii` and `.nii.gz`, header bytes included; too many or too few
    /// voxels are errors that leave no file.
    #[test]
    fn streamed_files_read_back_like_written_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let shape = [37, 29, 23];
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|i| if i % 7 < 3 { 0.0 } else { (i % 1000) as f32 / 999.0 }).collect();
        let affine = ctprep_core::Affine::from_spacing_origin([-0.8, 0.9, 2.5], [10.0, -20.0, 5.0]);
        let vol = Volume::new(VoxelData::from_vec(values.clone()), &shape, affine).expect("volume");
        let template = vol.derived(VoxelData::from_vec(vec![0f32]), &[1, 1, 1], affine).expect("template");
        for name in NAMES {
            let whole = dir.path().join(format!("whole_{name}"));
            write_nifti(&vol, &whole, &WriteOptions::new()).expect("writes");
            for cut in [1, 1000, (4 << 20) / 4 + 3, n] {
                let path = dir.path().join(format!("{cut}_{name}"));
                let mut s =
                    NiftiStream::create(&template, &shape, affine, &path, &WriteOptions::new()).expect("starts");
                let packer = s.packer();
                let mut piece = Piece::default();
                packer.pack::<f32>(&[], &mut piece).expect("packs");
                s.append(&piece).expect("an empty piece");
                for chunk in values.chunks(cut) {
                    packer.pack(chunk, &mut piece).expect("packs");
                    assert_eq!(piece.len(), chunk.len() * 4);
                    s.append(&piece).expect("appends");
                }
                assert!(!path.exists(), "nothing at the path before finish");
                s.finish().expect("finishes");
                let (a, b) = (read_nifti(&path).expect("reads"), read_nifti(&whole).expect("reads"));
                assert_eq!(a.shape(), b.shape());
                assert_eq!(a.affine(), b.affine());
                assert_eq!(a.data().as_bytes(), b.data().as_bytes(), "{name} cut {cut}");
                assert_eq!(raw(&path), raw(&whole), "{name} cut {cut}: file contents");
            }
            let short = dir.path().join(format!("short_{name}"));
            let mut s = NiftiStream::create(&template, &shape, affine, &short, &WriteOptions::new()).expect("starts");
            let mut piece = Piece::default();
            s.packer().pack(&values[..n - 1], &mut piece).expect("packs");
            s.append(&piece).expect("appends");
            let err = s.finish().expect_err("one voxel short");
            assert!(err.to_string().contains("short_v.nii"), "{err}");
            let mut s = NiftiStream::create(&template, &shape, affine, &short, &WriteOptions::new()).expect("starts");
            s.packer().pack(&values[..n - 1], &mut piece).expect("packs");
            s.append(&piece).expect("appends");
            assert!(s.append(&piece).is_err(), "past the header's voxels");
            // Voxels of another type than the stream's.
            let err = s.packer().pack(&[0i16; 4], &mut piece).expect_err("int16 into a float32 stream");
            assert!(err.to_string().contains("int16 voxels given to a stream of float32"), "{err}");
            drop(s);
            assert!(!short.exists(), "no file after a failed stream");
        }
        // More than one gzip piece in one packed slab.
        let big: Vec<f32> = (0..BIG / 4).map(|i| if i % 5 == 0 { 1.0 } else { 0.0 }).collect();
        let big_shape = [big.len(), 1, 1];
        let path = dir.path().join(NAMES[NAMES.len() - 1].replace("v.", "big."));
        let mut s = NiftiStream::create(&template, &big_shape, affine, &path, &WriteOptions::new()).expect("starts");
        let mut piece = Piece::default();
        s.packer().pack(&big, &mut piece).expect("packs");
        s.append(&piece).expect("appends");
        let done = s.complete().expect("completes");
        assert!(!path.exists(), "complete does not rename");
        done.persist().expect("persists");
        assert_eq!(read_nifti(&path).expect("reads").scaled_f32(), big);
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("lists").filter_map(|e| e.ok()).collect();
        assert!(left.iter().all(|e| !e.file_name().to_string_lossy().ends_with(".tmp")), "temporary files left");
    }

    /// Streams of int16 (with scaling) and uint8 voxels, in slabs, read back as the volume
    /// `write_nifti` writes, in their stored type, file bytes included.
    #[test]
    fn integer_streams_round_trip() {
        fn check<T: Element>(values: Vec<T>, scaled: bool, dir: &Path) {
            let shape = [19, 11, 7];
            let affine = ctprep_core::Affine::from_spacing_origin([0.7, -0.7, 3.0], [1.0, 2.0, 3.0]);
            let mut vol = Volume::new(VoxelData::from_vec(values.clone()), &shape, affine).expect("volume");
            if scaled {
                vol = vol.with_scaling(1.0, -1024.0).expect("valid scaling");
            }
            let mut template = vol.derived(VoxelData::from_vec(vec![values[0]]), &[1, 1, 1], affine).expect("template");
            if scaled {
                template = template.with_scaling(1.0, -1024.0).expect("valid scaling");
            }
            for name in NAMES {
                let name = format!("{}_{name}", T::DTYPE);
                let (whole, streamed) = (dir.join(format!("whole_{name}")), dir.join(format!("streamed_{name}")));
                write_nifti(&vol, &whole, &WriteOptions::new()).expect("writes");
                let mut s =
                    NiftiStream::create(&template, &shape, affine, &streamed, &WriteOptions::new()).expect("starts");
                let mut piece = Piece::default();
                for slab in values.chunks(19 * 11 * 2) {
                    s.packer().pack(slab, &mut piece).expect("packs");
                    s.append(&piece).expect("appends");
                }
                s.finish().expect("finishes");
                let back = read_nifti(&streamed).expect("reads");
                assert_eq!(back.dtype(), T::DTYPE);
                assert_eq!(back.data().as_slice::<T>().expect("stored type"), &values[..], "{name}");
                assert_eq!(back.scaling(), vol.scaling(), "{name}");
                assert_eq!(raw(&streamed), raw(&whole), "{name}: file contents");
                let err = NiftiStream::create(&template, &shape, affine, dir.join("f.nii"), &WriteOptions::new())
                    .expect("starts")
                    .packer()
                    .pack(&[0.5f32], &mut piece)
                    .expect_err("float32 into an integer stream");
                assert!(
                    err.to_string().contains(&format!("float32 voxels given to a stream of {}", T::DTYPE)),
                    "{err}"
                );
            }
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let n = 19 * 11 * 7;
        check::<i16>((0..n).map(|i| (i as i16 % 2000) - 1000).collect(), true, dir.path());
        check::<u8>((0..n).map(|i| (i * 7 % 256) as u8).collect(), false, dir.path());
    }

    #[cfg(not(feature = "gzip"))]
    #[test]
    fn gzip_output_is_refused_naming_the_file() {
        let affine = ctprep_core::Affine::IDENTITY;
        let vol = Volume::new(VoxelData::from_vec(vec![0u8; 8]), &[2, 2, 2], affine).expect("volume");
        let dir = tempfile::tempdir().expect("temp dir");
        let err = write_nifti(&vol, dir.path().join("x.nii.gz"), &WriteOptions::new()).expect_err("no gzip");
        assert!(err.to_string().contains("x.nii.gz") && err.to_string().contains("without gzip support"), "{err}");
        let err = NiftiStream::create(&vol, &[2, 2, 2], affine, dir.path().join("y.nii.gz"), &WriteOptions::new())
            .expect_err("no gzip");
        assert!(err.to_string().contains("y.nii.gz") && err.to_string().contains("without gzip support"), "{err}");
    }
}

#[cfg(test)]
mod placing_tests {
    use super::*;

    fn done(dir: &Path, name: &str, bytes: &[u8]) -> Completed {
        Completed::create(dir.join(name), |mut f: &std::fs::File| {
            f.write_all(bytes).map_err(|e| Error::io(dir, "write", e))
        })
        .expect("staged")
    }

    #[test]
    fn all_or_none_are_placed_and_the_earlier_files_survive() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::write(d.join("a"), b"old a").expect("writes");
        std::fs::write(d.join("b"), b"old b").expect("writes");
        std::fs::create_dir(d.join("c")).expect("mkdir");
        // c is a folder: placing fails after a and b, which go back.
        let err = persist_all(vec![done(d, "a", b"new a"), done(d, "b", b"new b"), done(d, "c", b"new c")]);
        assert!(err.is_err());
        assert_eq!(std::fs::read(d.join("a")).expect("a"), b"old a");
        assert_eq!(std::fs::read(d.join("b")).expect("b"), b"old b");
        assert_eq!(names(d), ["a", "b", "c"], "no temporary left");
        std::fs::remove_dir(d.join("c")).expect("rmdir");
        persist_all(vec![done(d, "a", b"new a"), done(d, "c", b"new c")]).expect("placed");
        assert_eq!(std::fs::read(d.join("a")).expect("a"), b"new a");
        assert_eq!(names(d), ["a", "b", "c"]);
    }

    #[test]
    fn a_dead_process_s_files_are_cleaned_and_moved_aside_ones_go_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let dead = ".ctprep-2147483647-";
        std::fs::write(d.join(format!("{dead}old-abcdef-ct.nii.gz.tmp")), b"earlier").expect("writes");
        std::fs::write(d.join(format!("{dead}old-ghijkl-mip.nii.gz.tmp")), b"earlier mip").expect("writes");
        std::fs::write(d.join("mip.nii.gz"), b"newer mip").expect("writes");
        std::fs::write(d.join(format!("{dead}xyz123.tmp")), b"partial").expect("writes");
        std::fs::write(d.join(".ctprep-1-xyz123.tmp"), b"a live process's").expect("writes");
        if !Path::new("/proc/self").exists() {
            return;
        }
        assert_eq!(remove_stale_temporaries(d), 3);
        assert_eq!(std::fs::read(d.join("ct.nii.gz")).expect("put back"), b"earlier");
        assert_eq!(std::fs::read(d.join("mip.nii.gz")).expect("kept"), b"newer mip");
        assert!(d.join(".ctprep-1-xyz123.tmp").exists());
        assert_eq!(std::fs::read_dir(d).expect("dir").count(), 3);
    }

    /// A folder placed whole replaces the earlier one; a killed placing (the earlier folder
    /// aside, the new one not yet renamed) is put back by the next clean-up, which also removes
    /// the dead process's unplaced folder; `remove_stale_temporaries_of` only touches its names.
    #[test]
    fn folders_are_placed_whole_and_a_killed_placing_is_undone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let case = d.join("case");
        std::fs::create_dir(&case).expect("mkdir");
        std::fs::write(case.join("old"), b"old").expect("writes");
        let filled = temp_folder_for(&case).expect("temp folder");
        std::fs::write(filled.path().join("new"), b"new").expect("writes");
        place_folder(filled, &case).expect("placed");
        assert_eq!(names(&case), ["new"]);
        assert_eq!(names(d), ["case"], "nothing left beside it");
        if !Path::new("/proc/self").exists() {
            return;
        }
        let dead = ".ctprep-2147483647-";
        std::fs::rename(&case, d.join(format!("{dead}old-abcdef-case.tmp"))).expect("aside");
        std::fs::create_dir(d.join(format!("{dead}new-ghijkl-case.tmp"))).expect("mkdir");
        std::fs::write(d.join(format!("{dead}new-ghijkl-case.tmp/x")), b"x").expect("writes");
        std::fs::create_dir(d.join(format!("{dead}new-mnopqr-other.tmp"))).expect("mkdir");
        assert_eq!(remove_stale_temporaries_of(d, |n| n == "case"), 2);
        assert_eq!(names(d), [format!("{dead}new-mnopqr-other.tmp"), "case".to_owned()]);
        assert_eq!(names(&case), ["new"], "the earlier folder is back");
        assert_eq!(remove_stale_temporaries(d), 1);
        assert_eq!(names(d), ["case"]);
    }

    /// The names in `d`, sorted.
    fn names(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// A process killed while placing (its marker written: `a` placed, its earlier file moved
    /// aside, `b` not yet) is rolled forward to every new output; one killed before its marker
    /// (nothing placed, `a` and `b` staged) is rolled back to every earlier one.
    #[test]
    fn a_killed_commit_rolls_forward_with_its_marker_and_back_without() {
        if !Path::new("/proc/self").exists() {
            return;
        }
        let dead = ".ctprep-2147483647-";
        let read = |d: &Path, n: &str| std::fs::read(d.join(n)).expect("reads");
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::write(d.join("a"), b"new a").expect("writes");
        std::fs::write(d.join(format!("{dead}old-aaaaaa-a.tmp")), b"old a").expect("writes");
        std::fs::write(d.join("b"), b"old b").expect("writes");
        std::fs::write(d.join(format!("{dead}new-bbbbbb-b.tmp")), b"new b").expect("writes");
        std::fs::write(d.join(format!("{dead}{COMMIT_MARKER}")), b"").expect("writes");
        assert_eq!(remove_stale_temporaries(d), 3);
        assert_eq!(names(d), ["a", "b"]);
        assert_eq!((read(d, "a"), read(d, "b")), (b"new a".to_vec(), b"new b".to_vec()));

        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::write(d.join("a"), b"old a").expect("writes");
        std::fs::write(d.join("b"), b"old b").expect("writes");
        std::fs::write(d.join(format!("{dead}new-aaaaaa-a.tmp")), b"new a").expect("writes");
        std::fs::write(d.join(format!("{dead}new-bbbbbb-b.tmp")), b"new b").expect("writes");
        assert_eq!(remove_stale_temporaries(d), 2);
        assert_eq!(names(d), ["a", "b"]);
        assert_eq!((read(d, "a"), read(d, "b")), (b"old a".to_vec(), b"old b".to_vec()));
    }
}
