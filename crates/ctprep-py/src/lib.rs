//! `ctprep._ctprep`, the extension module under the `ctprep` Python package (python/): numpy arrays
//! in and out of ctprep's kernels, the GIL released while they run.
//!
//! This layer takes arrays already in the layout the kernels want (x-fastest: a numpy array of
//! shape (X, Y, Z) in Fortran order, or any contiguous buffer for the elementwise window) and
//! checks everything else: dtype, rank, shape, options. The Python package turns C-order arrays
//! into that layout without a copy (a transposed view: the axes reversed, the affine's columns
//! with them) and copies only non-contiguous ones. Every failure is a `ctprep.errors` exception
//! carrying the message the command line prints.
#![deny(unsafe_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ctprep_core::{Affine, Exec, Kernel, Threads};
use ctprep_intensity::{Output, Range, Sample, Window, WindowMap};
use ctprep_io::{ErrorKind, ReadOptions, Scaling, Volume, VoxelData, WriteOptions};
use ctprep_projection::{Align, Axis3, Edges, Reduce, SlabProjection};
use ctprep_resample::{Grid, GridConvention, Mode, Plan, Sampling, Shear, Voxel};
use numpy::ndarray::{ArrayView2, IxDyn};
use numpy::{
    Element, PyArray2, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArray2, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// A failure on its way to Python: the `ctprep.errors` class, the message, and for file errors
/// the kind (`truncated`, `bad_magic`, ...) set as the exception's `kind`; or an exception
/// Python raised already (numpy's `MemoryError` for an output it cannot allocate).
struct Fail {
    class: &'static str,
    message: String,
    kind: Option<&'static str>,
    raised: Option<Box<PyErr>>,
}

type R<T> = Result<T, Fail>;

/// A 4x4 float64 numpy affine.
type PyAffine<'py> = Bound<'py, PyArray2<f64>>;

/// A kernel's result: the array, its affine and the kernel's report.
type Placed<'py> = (Bound<'py, PyAny>, PyAffine<'py>, String);

impl Fail {
    fn new(class: &'static str, message: impl Into<String>) -> Fail {
        Fail { class, message: message.into(), kind: None, raised: None }
    }
    fn usage(message: impl Into<String>) -> Fail {
        Fail::new("UsageError", message)
    }
    fn bad(message: impl Into<String>) -> Fail {
        Fail::new("BadInputError", message)
    }

    /// The Python exception (`ctprep.errors.<class>(message)`, with `kind` where known).
    fn into_py(self, py: Python<'_>) -> PyErr {
        if let Some(e) = self.raised {
            return *e;
        }
        let made = (|| -> PyResult<PyErr> {
            let class = py.import("ctprep.errors")?.getattr(self.class)?;
            let value = class.call1((self.message.as_str(),))?;
            if let Some(kind) = self.kind {
                value.setattr("kind", kind)?;
            }
            Ok(PyErr::from_value(value))
        })();
        made.unwrap_or_else(|e| e)
    }
}

impl From<ctprep_io::Error> for Fail {
    fn from(e: ctprep_io::Error) -> Fail {
        let class = match e.kind() {
            ErrorKind::Io => "FileError",
            ErrorKind::UnsupportedDatatype | ErrorKind::UnsupportedEncoding => "UnsupportedError",
            ErrorKind::TooLarge => "LimitError",
            _ => "BadInputError",
        };
        Fail { class, message: e.to_string(), kind: Some(e.kind().name()), raised: None }
    }
}

impl From<PyErr> for Fail {
    fn from(e: PyErr) -> Fail {
        Fail { class: "Error", message: String::new(), kind: None, raised: Some(Box::new(e)) }
    }
}

/// A grid that cannot be planned: too many output voxels is a limit, the rest bad input.
fn plan_fail(e: ctprep_resample::ResampleError) -> Fail {
    match e {
        ctprep_resample::ResampleError::TooLarge { .. } => Fail::new("LimitError", e.to_string()),
        e => Fail::bad(e.to_string()),
    }
}

/// A new zeroed numpy array, allocated by numpy: an allocation it cannot make raises Python's
/// `MemoryError` (rust-numpy's own constructor would panic).
fn zeros<'py, T: Element>(py: Python<'py>, shape: &[usize], fortran: bool) -> R<Bound<'py, PyArrayDyn<T>>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", numpy::dtype::<T>(py))?;
    kwargs.set_item("order", if fortran { "F" } else { "C" })?;
    let a = py.import("numpy")?.getattr("zeros")?.call((shape.to_vec(),), Some(&kwargs))?;
    Ok(a.cast_into::<PyArrayDyn<T>>().map_err(PyErr::from)?)
}

/// Whether numpy calls the array aligned (rust-numpy's slices need it).
fn aligned(a: &Bound<'_, PyUntypedArray>) -> R<bool> {
    Ok(a.getattr("flags")?.getattr("aligned")?.extract::<bool>()?)
}

/// Runs `f` with the GIL released, then turns a failure into the Python exception.
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> R<T> + Send) -> PyResult<T> {
    py.detach(f).map_err(|e| e.into_py(py))
}

/// `kernel` and `threads` as the command line takes them (`auto`, `scalar`, `wide`,
/// `dispatched`; `auto`, `1`, `N`), and for `threads=N` a pool of N threads kept for reuse.
fn exec_of(kernel: Option<&str>, threads: Option<&str>) -> R<(Exec, Option<Arc<rayon::ThreadPool>>)> {
    let kernel: Kernel = kernel.unwrap_or("auto").parse().map_err(|e| Fail::usage(format!("kernel: {e}")))?;
    let threads: Threads = threads.unwrap_or("auto").parse().map_err(|e| Fail::usage(format!("threads: {e}")))?;
    let pool = match threads {
        Threads::Count(n) if n.get() > 1 => Some(pool_of(n.get())?),
        _ => None,
    };
    Ok((Exec::new().kernel(kernel).threads(threads), pool))
}

/// A thread pool of `n` threads, made once per size (at most 4 per core, as the command line).
fn pool_of(n: usize) -> R<Arc<rayon::ThreadPool>> {
    static POOLS: Mutex<Option<HashMap<usize, Arc<rayon::ThreadPool>>>> = Mutex::new(None);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let most = (4 * cores).max(4);
    if n > most {
        return Err(Fail::usage(format!("threads={n}: more than {most} (4 per core of this machine's {cores})")));
    }
    let mut pools = POOLS.lock().map_err(|_| Fail::new("Error", "the thread pools' lock is poisoned"))?;
    let pools = pools.get_or_insert_with(HashMap::new);
    if let Some(p) = pools.get(&n) {
        return Ok(p.clone());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| Fail::new("Error", format!("cannot start {n} threads: {e}")))?;
    let pool = Arc::new(pool);
    pools.insert(n, pool.clone());
    Ok(pool)
}

/// Runs `f` in `pool` when there is one, else on the calling thread (rayon's global pool).
fn in_pool<T: Send>(pool: Option<&Arc<rayon::ThreadPool>>, f: impl FnOnce() -> T + Send) -> T {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// A 4x4 float64 array as an affine: finite, last row 0 0 0 1.
fn affine_of(a: &PyReadonlyArray2<'_, f64>) -> R<Affine> {
    let v: ArrayView2<'_, f64> = a.as_array();
    if v.shape() != [4, 4] {
        return Err(Fail::bad(format!("affine: shape {:?}, expected (4, 4)", v.shape())));
    }
    let mut rows = [[0.0; 4]; 4];
    for (i, row) in rows.iter_mut().enumerate() {
        for (j, x) in row.iter_mut().enumerate() {
            *x = v[[i, j]];
        }
    }
    let affine = Affine(rows);
    if !rows.iter().flatten().all(|x| x.is_finite()) || rows[3] != [0.0, 0.0, 0.0, 1.0] {
        return Err(Fail::bad(format!("affine: {rows:?} is not a finite affine (last row 0, 0, 0, 1)")));
    }
    Ok(affine)
}

fn affine_to_py<'py>(py: Python<'py>, a: &Affine) -> PyAffine<'py> {
    let rows: Vec<Vec<f64>> = a.0.iter().map(|r| r.to_vec()).collect();
    PyArray2::from_vec2(py, &rows).unwrap_or_else(|_| unreachable!("four rows of four"))
}

fn scaling_of(scaling: Option<(f64, f64)>) -> R<Option<Scaling>> {
    match scaling {
        None => Ok(None),
        // Stricter than a header's scl_slope (where 0 means "no scaling"): a caller's pair is
        // used as given.
        Some((slope, inter)) if slope.is_finite() && slope != 0.0 && inter.is_finite() => {
            Ok(Some(Scaling { slope, inter }))
        }
        Some((slope, inter)) => Err(Fail::bad(format!(
            "scaling ({slope}, {inter}): the slope must be finite and not 0, the intercept finite"
        ))),
    }
}

/// Runs `$body` with `$t` the Rust type of the numpy array `$a`'s dtype (native byte order), or
/// fails naming the dtype.
macro_rules! by_dtype {
    ($py:expr, $a:expr, $t:ident => $body:expr) => {{
        let dt = $a.dtype();
        by_dtype!(@try $py, dt, $t, $body; u8, i8, u16, i16, u32, i32, u64, i64, f32, f64)
    }};
    (@try $py:expr, $dt:ident, $t:ident, $body:expr; $first:ty $(, $rest:ty)*) => {
        if $dt.is_equiv_to(&numpy::dtype::<$first>($py)) {
            type $t = $first;
            $body
        } else {
            by_dtype!(@try $py, $dt, $t, $body; $($rest),*)
        }
    };
    (@try $py:expr, $dt:ident, $t:ident, $body:expr;) => {
        Err(Fail::new(
            "UnsupportedError",
            format!(
                "dtype {}: ctprep takes (u)int8/16/32/64, float32 or float64 in native byte order \
                 (convert with array.astype(...))",
                $dt
            ),
        ))
    };
}

/// The data of `a` (dtype `T`) as one x-fastest slice, with its shape: `a` must be Fortran-
/// contiguous (any array of 0 or 1 dimensions is).
fn fortran_slice<'a, T: Element>(a: &'a numpy::PyReadonlyArrayDyn<'_, T>, what: &str) -> R<&'a [T]> {
    if !a.is_fortran_contiguous() {
        return Err(Fail::bad(format!("{what}: the array is not Fortran-contiguous (the package passes it so)")));
    }
    a.as_slice().map_err(|_| Fail::bad(format!("{what}: the array is not contiguous, or not aligned")))
}

fn shape3(a: &Bound<'_, PyUntypedArray>, what: &str) -> R<[usize; 3]> {
    match a.shape() {
        [x, y, z] if x * y * z > 0 => Ok([*x, *y, *z]),
        [_, _, _] => Err(Fail::bad(format!("{what}: shape {:?} has an empty axis", a.shape()))),
        s => Err(Fail::bad(format!("{what}: a 3-D array is needed, this one has shape {s:?}"))),
    }
}

/// Reads a NIfTI or NRRD file: a dict of the array (stored type, Fortran order: the decoded
/// buffer moved into numpy, or with `mmap` a read-only view of the file's mapping where the file
/// allows one), the affine and the header fields. A DICOM series (a folder, or one file of the
/// series) is read whole as the CLI reads it (`series`, `fill_padding`, `uneven` as its global
/// options), its header holding `dicom`: the series and the notes of the reading.
#[pyfunction]
#[pyo3(signature = (path, mmap = false, series = None, fill_padding = None, uneven = None))]
fn read<'py>(
    py: Python<'py>,
    path: PathBuf,
    mmap: bool,
    series: Option<String>,
    fill_padding: Option<f64>,
    uneven: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    if ctprep_pipeline::input::is_dicom_input(&path) {
        return read_dicom(py, path, series, fill_padding, uneven);
    }
    let v = detached(py, || Ok(ctprep_io::read_volume_with(&path, &ReadOptions::new().mmap(mmap))?))?;
    volume_dict(py, v)
}

/// [`read`] of a DICOM series (in a build without the `dicom` feature, an error saying so).
fn read_dicom<'py>(
    py: Python<'py>,
    path: PathBuf,
    series: Option<String>,
    fill_padding: Option<f64>,
    uneven: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    #[cfg(not(feature = "dicom"))]
    {
        let _ = (series, fill_padding, uneven);
        Err(Fail::bad(format!("{}: DICOM input needs ctprep built with the `dicom` feature", path.display()))
            .into_py(py))
    }
    #[cfg(feature = "dicom")]
    {
        let resample_uneven = match uneven.as_deref() {
            None | Some("error") => false,
            Some("resample") => true,
            Some(other) => {
                return Err(Fail::usage(format!("uneven {other:?}: expected \"error\" or \"resample\"")).into_py(py));
            }
        };
        if fill_padding.is_some_and(|v| !v.is_finite()) {
            return Err(Fail::usage("fill_padding: a finite number is needed").into_py(py));
        }
        let options = ctprep_pipeline::input::DicomOptions { series, fill_padding, resample_uneven };
        let (v, s, notes) = detached(py, || Ok(ctprep_pipeline::input::read_dicom_noted(&path, &options)?))?;
        let d = volume_dict(py, v)?;
        d.set_item("format", "dicom")?;
        let info = PyDict::new(py);
        info.set_item("series_uid", &s.uid)?;
        info.set_item("series_description", &s.description)?;
        info.set_item("modality", &s.modality)?;
        info.set_item("slices", s.slices.len())?;
        info.set_item("files", s.files.len())?;
        info.set_item("acquisition_number", s.acquisition.and_then(|a| a.0))?;
        info.set_item("notes", notes)?;
        d.get_item("header")?.ok_or_else(|| Fail::bad("no header").into_py(py))?.set_item("dicom", info)?;
        Ok(d)
    }
}

/// A volume as the dict `read` returns, its voxels moved into numpy.
fn volume_dict(py: Python<'_>, v: Volume) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("path", v.display_path().to_string_lossy().into_owned())?;
    d.set_item("format", v.format_name())?;
    d.set_item("affine", affine_to_py(py, v.affine()))?;
    d.set_item("spacing", PyTuple::new(py, v.spacing())?)?;
    d.set_item("axcodes", v.axcodes_string())?;
    d.set_item("scaling", v.scaling().map(|s| (s.slope, s.inter)))?;
    d.set_item("header", header_dict(py, &v)?)?;
    let shape = v.shape().to_vec();
    d.set_item("array", voxels_array(py, v.into_data(), &shape)?)?;
    Ok(d)
}

/// The voxels a numpy array views: the array's base object, so they live as long as it does.
#[pyclass(frozen, module = "ctprep._ctprep")]
struct Voxels {
    _data: VoxelData,
}

/// A numpy array (Fortran order, `shape`) over `data` without a copy. Decoded voxels (an owned
/// vector, or the anonymous mapping large volumes are decoded into) are writable; a file
/// mapping is read-only, so a write raises instead of faulting.
fn voxels_array<'py>(py: Python<'py>, mut data: VoxelData, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    let mapped = data.is_mapped();
    let dtype = data.dtype();
    // `make_mut` copies nothing here: the volume holds the only reference to its decoded buffer.
    let ptr: *mut u8 = if mapped {
        ctprep_io::with_storage!(&data, s => s.as_slice().as_ptr().cast_mut().cast::<u8>())
    } else {
        ctprep_io::with_storage!(&mut data, s => s.make_mut().as_mut_ptr().cast::<u8>())
    };
    let owner = Bound::new(py, Voxels { _data: data })?.into_any();
    let array = ctprep_io::with_dtype!(dtype, T => {
        use numpy::ndarray::{ArrayViewMutD, ShapeBuilder};
        // SAFETY: `ptr` is the start of `shape`'s product of aligned values of `T` (the
        // volume's voxels), which `owner` now holds. The buffer does not move with its owner
        // (a vector's heap block, or a mapping), nothing in Rust reads or writes it again, and
        // it is freed or unmapped only when `owner` is dropped, which numpy does after the
        // array (its base) goes. A file mapping is made read-only below before Python sees it.
        #[allow(unsafe_code)]
        let array = unsafe {
            let view = ArrayViewMutD::from_shape_ptr(IxDyn(shape).f(), ptr.cast::<T>());
            PyArrayDyn::<T>::borrow_from_array(&view, owner)
        };
        array.into_any()
    });
    if mapped {
        array.getattr("flags")?.setattr("writeable", false)?;
    }
    Ok(array)
}

/// A synthetic CT phantom in HU (`ctprep-phantom`) and, with `labels`, its uint8 label map:
/// dicts as `read` returns.
#[pyfunction]
#[pyo3(signature = (shape, spacing = [1.0; 3], axcodes = "RAS", dtype = "int16", noise = 10.0, seed = 0, labels = false))]
#[allow(clippy::too_many_arguments)]
fn phantom<'py>(
    py: Python<'py>,
    shape: [usize; 3],
    spacing: [f64; 3],
    axcodes: &str,
    dtype: &str,
    noise: f64,
    seed: u64,
    labels: bool,
) -> PyResult<(Bound<'py, PyDict>, Option<Bound<'py, PyDict>>)> {
    let made = (|| -> R<(Volume, Option<Volume>)> {
        let codes: ctprep_io::AxCodes =
            axcodes.parse().map_err(|e: ctprep_io::ParseAxCodesError| Fail::usage(format!("axcodes: {}", e.0)))?;
        let stored = match dtype {
            "int16" => ctprep_phantom::StoredType::I16,
            "uint16" => ctprep_phantom::StoredType::U16,
            other => return Err(Fail::usage(format!("dtype {other:?}: expected int16 or uint16"))),
        };
        let p = ctprep_phantom::Phantom::new(shape)
            .spacing_mm(spacing)
            .axcodes(codes)
            .stored(stored)
            .noise_hu(noise)
            .seed(seed);
        py.detach(|| Ok((p.ct()?, if labels { Some(p.labels()?) } else { None })))
    })();
    let (ct, lab) = made.map_err(|e| e.into_py(py))?;
    Ok((volume_dict(py, ct)?, lab.map(|l| volume_dict(py, l)).transpose()?))
}

/// The header as a dict: NIfTI's fields (nibabel's names), and an NRRD's own fields under `nrrd`.
fn header_dict<'py>(py: Python<'py>, v: &Volume) -> PyResult<Bound<'py, PyDict>> {
    let h = v.header();
    let d = PyDict::new(py);
    let text = |b: &[u8]| String::from_utf8_lossy(b.split(|c| *c == 0).next().unwrap_or(&[])).into_owned();
    d.set_item("sizeof_hdr", if matches!(h.format, ctprep_io::NiftiFormat::Nifti2) { 540 } else { 348 })?;
    d.set_item("dim", h.dim.to_vec())?;
    d.set_item("pixdim", h.pixdim.to_vec())?;
    d.set_item("datatype", v.dtype().numpy_name())?;
    d.set_item("byte_order", v.nrrd_header().map_or(h.byte_order, |n| n.byte_order).name())?;
    d.set_item("vox_offset", h.vox_offset)?;
    d.set_item("scl_slope", h.scl_slope)?;
    d.set_item("scl_inter", h.scl_inter)?;
    d.set_item("qform_code", v.xform_codes().0)?;
    d.set_item("sform_code", v.xform_codes().1)?;
    d.set_item("quatern", h.quatern.to_vec())?;
    d.set_item("qoffset", h.qoffset.to_vec())?;
    d.set_item("srow", h.srow.iter().map(|r| r.to_vec()).collect::<Vec<_>>())?;
    d.set_item("intent_code", h.intent_code)?;
    d.set_item("intent_name", text(&h.intent_name))?;
    d.set_item("xyzt_units", h.xyzt_units)?;
    d.set_item("cal_min", h.cal_min)?;
    d.set_item("cal_max", h.cal_max)?;
    d.set_item("dim_info", h.dim_info)?;
    d.set_item("descrip", text(&h.descrip))?;
    d.set_item("aux_file", text(&h.aux_file))?;
    d.set_item("shear_degrees", v.affine().shear_degrees())?;
    if let Some(n) = v.nrrd_header() {
        let nd = PyDict::new(py);
        nd.set_item("sizes", n.sizes.clone())?;
        nd.set_item("encoding", format!("{:?}", n.encoding).to_lowercase())?;
        nd.set_item("space", n.space.map(|s| format!("{s:?}")))?;
        nd.set_item(
            "space_directions",
            n.space_directions.clone().map(|v| v.into_iter().map(|o| o.map(|d| d.to_vec())).collect::<Vec<_>>()),
        )?;
        nd.set_item("space_origin", n.space_origin.map(|o| o.to_vec()))?;
        nd.set_item("kinds", n.kinds.clone())?;
        nd.set_item("data_file", n.data_file.clone())?;
        d.set_item("nrrd", nd)?;
    }
    Ok(d)
}

/// Writes `array` (Fortran-contiguous, any rank from 1 to 7) with `affine` to `path`, in the
/// format its name asks for.
#[pyfunction]
#[pyo3(signature = (path, array, affine, scaling = None, gzip_level = ctprep_io::DEFAULT_GZIP_LEVEL))]
fn write(
    py: Python<'_>,
    path: PathBuf,
    array: &Bound<'_, PyUntypedArray>,
    affine: PyReadonlyArray2<'_, f64>,
    scaling: Option<(f64, f64)>,
    gzip_level: u32,
) -> PyResult<()> {
    let go = || -> R<()> {
        if gzip_level > 9 {
            return Err(Fail::usage(format!("gzip_level {gzip_level}: must be 0 to 9")));
        }
        let affine = affine_of(&affine)?;
        let shape = array.shape().to_vec();
        if shape.is_empty() || shape.len() > 7 {
            return Err(Fail::bad(format!("array: {} dimensions; NIfTI and NRRD hold 1 to 7", shape.len())));
        }
        if !aligned(array)? {
            return Err(Fail::bad("array: not aligned (the package copies such arrays first)"));
        }
        // One copy into the file's x-fastest order, whatever the array's layout.
        let data = by_dtype!(py, array, T => {
            let a = array.cast::<PyArrayDyn<T>>().map_err(|e| Fail::bad(e.to_string()))?.readonly();
            let view = a.as_array();
            Ok(py.detach(|| match view.as_slice_memory_order() {
                Some(s) if view.t().is_standard_layout() => VoxelData::from_vec(s.to_vec()),
                _ => VoxelData::from_vec(view.t().iter().copied().collect()),
            }))
        })?;
        let mut v = Volume::new(data, &shape, affine)?;
        if let Some(s) = scaling_of(scaling)? {
            v = v.with_scaling(s.slope, s.inter)?;
        }
        let opts = WriteOptions::new().gzip_level(gzip_level);
        py.detach(|| ctprep_io::write_volume(&v, &path, &opts)).map_err(Fail::from)
    };
    go().map_err(|e| e.into_py(py))
}

/// Windows `array` (any contiguous array: the map is elementwise) into a new array of the same
/// shape and order: `dtype` float32, uint8 or uint16.
#[pyfunction]
#[pyo3(signature = (array, lo, hi, out_lo = 0.0, out_hi = 1.0, dtype = "float32", scaling = None, kernel = None, threads = None))]
#[allow(clippy::too_many_arguments)]
fn window<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyUntypedArray>,
    lo: f64,
    hi: f64,
    out_lo: f64,
    out_hi: f64,
    dtype: &str,
    scaling: Option<(f64, f64)>,
    kernel: Option<&str>,
    threads: Option<&str>,
) -> PyResult<(Bound<'py, PyAny>, String)> {
    let go = || -> R<(Bound<'py, PyAny>, String)> {
        let w = Window::new(lo, hi).map_err(|e| Fail::usage(format!("window: {e}")))?;
        let range = Range::new(out_lo, out_hi).map_err(|e| Fail::usage(format!("out_range: {e}")))?;
        let scaling = scaling_of(scaling)?.map(|s| (s.slope, s.inter));
        // Integer outputs take their type's whole range (the package refuses another).
        let map = |range: Option<Range>| -> R<WindowMap> {
            match dtype {
                "uint8" => WindowMap::for_output::<u8>(w, range, scaling),
                "uint16" => WindowMap::for_output::<u16>(w, range, scaling),
                _ => WindowMap::for_output::<f32>(w, range, scaling),
            }
            .map_err(|e| Fail::bad(e.to_string()))
        };
        let map = map(Some(range))?;
        let (exec, pool) = exec_of(kernel, threads)?;
        if !(array.is_c_contiguous() || array.is_fortran_contiguous()) {
            return Err(Fail::bad("array: not contiguous (the package copies such arrays first)"));
        }
        let fortran = !array.is_c_contiguous();
        by_dtype!(py, array, T => {
            let a = array.cast::<PyArrayDyn<T>>().map_err(|e| Fail::bad(e.to_string()))?.readonly();
            match dtype {
                "float32" => window_as::<T, f32>(py, &a, fortran, &map, exec, pool.as_ref()),
                "uint8" => window_as::<T, u8>(py, &a, fortran, &map, exec, pool.as_ref()),
                "uint16" => window_as::<T, u16>(py, &a, fortran, &map, exec, pool.as_ref()),
                other => Err(Fail::usage(format!("dtype {other:?}: expected float32, uint8 or uint16"))),
            }
        })
    };
    go().map_err(|e| e.into_py(py))
}

fn window_as<'py, T: Sample + Element, O: Output + Element>(
    py: Python<'py>,
    a: &numpy::PyReadonlyArrayDyn<'py, T>,
    fortran: bool,
    map: &WindowMap,
    exec: Exec,
    pool: Option<&Arc<rayon::ThreadPool>>,
) -> R<(Bound<'py, PyAny>, String)> {
    let src = a.as_slice().map_err(|_| Fail::bad("array: not contiguous, or not aligned"))?;
    let out = zeros::<O>(py, a.shape(), fortran)?;
    let mut rw = out.readwrite();
    let dst = rw.as_slice_mut().map_err(|_| Fail::bad("output: not contiguous"))?;
    let report = py
        .detach(|| in_pool(pool, || ctprep_intensity::window_slice_into(src, dst, map, exec)))
        .map_err(|e| Fail::bad(e.to_string()))?;
    drop(rw);
    Ok((out.into_any(), report.to_string()))
}

/// The stored value whose real value is exactly `fill`, or why there is none (nearest keeps
/// the stored type).
fn stored_fill<T: Voxel>(fill: f64, scaling: Option<Scaling>) -> R<T> {
    let stored = scaling.map_or(fill, |s| (fill - s.inter) / s.slope);
    T::from_f64_exact(stored).ok_or_else(|| {
        Fail::usage(format!(
            "fill {fill}: nearest keeps the stored type ({}){}, and the stored value {stored} is not one of it",
            T::NAME,
            if scaling.is_some() { " and scaling" } else { "" }
        ))
    })
}

/// Resamples `array` (3-D, Fortran order) onto a spacing under a convention, or onto the grid
/// `like` = (shape, affine): float32 real values (linear) or the stored type (nearest).
#[pyfunction]
#[pyo3(signature = (array, affine, spacing = None, like = None, convention = None, interp = None, order = None, mode = None, fill = None, clip_input_range = false, antialias = false, scheme = None, keep_shear = false, scaling = None, kernel = None, threads = None))]
#[allow(clippy::too_many_arguments)]
fn resample<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyUntypedArray>,
    affine: PyReadonlyArray2<'py, f64>,
    spacing: Option<[f64; 3]>,
    like: Option<([usize; 3], PyReadonlyArray2<'py, f64>)>,
    convention: Option<&str>,
    interp: Option<&str>,
    order: Option<[u8; 3]>,
    mode: Option<&str>,
    fill: Option<f64>,
    clip_input_range: bool,
    antialias: bool,
    scheme: Option<&str>,
    keep_shear: bool,
    scaling: Option<(f64, f64)>,
    kernel: Option<&str>,
    threads: Option<&str>,
) -> PyResult<Placed<'py>> {
    let go = || -> R<Placed<'py>> {
        let onehot = interp == Some("onehot");
        let orders = match (interp, order) {
            (Some("onehot"), o) => match o {
                Some(o) if o.iter().any(|&x| x > 1) => {
                    return Err(Fail::usage(format!("interp onehot, order {o:?}: the masks take order 0 or 1")));
                }
                o => o.unwrap_or([1; 3]),
            },
            (Some(_), Some(_)) => {
                return Err(Fail::usage(
                    "give interp or order, not both (order with interp='onehot' sets the masks' order)",
                ));
            }
            (Some(i), None) => {
                let i: ctprep_resample::Interp =
                    i.parse().map_err(|e: ctprep_resample::ResampleError| Fail::usage(e.to_string()))?;
                [i.order(); 3]
            }
            (None, Some(o)) => o,
            (None, None) => [1; 3],
        };
        let mode: Option<Mode> = mode
            .map(|m| m.parse().map_err(|e: ctprep_resample::ResampleError| Fail::usage(e.to_string())))
            .transpose()?;
        let nearest = orders == [0; 3] && !onehot;
        if clip_input_range && (nearest || onehot) {
            return Err(Fail::usage(
                "clip_input_range: nearest neighbour and one-hot labels never leave the input's values",
            ));
        }
        let shape = shape3(array, "array")?;
        let affine = affine_of(&affine)?;
        let scaling = scaling_of(scaling)?;
        let (exec, pool) = exec_of(kernel, threads)?;
        if scheme.is_some() && ((fill.is_some() && !onehot) || clip_input_range || antialias) {
            return Err(Fail::usage(
                "scheme with fill, clip_input_range or antialias: the scheme sets how it clips and smooths, and its images take no fill value",
            ));
        }
        if antialias && (nearest || onehot) {
            return Err(Fail::usage("antialias smooths images: nearest and one-hot labels take no smoothing"));
        }
        let scheme = match (scheme, spacing) {
            (None, _) => None,
            (Some(name), Some(s)) => {
                let scheme: ctprep_resample::Scheme =
                    name.parse().map_err(|e: ctprep_resample::ResampleError| Fail::usage(e.to_string()))?;
                Some(ctprep_resample::plan_scheme(scheme, shape, &affine, s).map_err(plan_fail)?)
            }
            (Some(name), None) => {
                return Err(Fail::usage(format!("scheme {name:?} needs spacing (the target spacing)")));
            }
        };
        let own = (interp.is_some() && !onehot)
            || order.is_some()
            || mode.is_some()
            || fill.is_some()
            || clip_input_range
            || antialias;
        let plan: Plan = match (spacing, like) {
            (Some(_), None) if scheme.is_some() && convention.is_none() => {
                scheme.as_ref().map(|s| s.plan).ok_or_else(|| Fail::bad("scheme"))?
            }
            (Some(s), None) => {
                if !s.iter().all(|v| v.is_finite() && *v > 0.0) {
                    return Err(Fail::usage(format!("spacing {s:?}: each must be positive and finite")));
                }
                let convention: GridConvention = convention
                    .unwrap_or("first-centre")
                    .parse()
                    .map_err(|e: ctprep_resample::ResampleError| Fail::usage(e.to_string()))?;
                let shear = if keep_shear { Shear::Keep } else { Shear::Remove };
                ctprep_resample::plan_spacing_with(shape, &affine, s, convention, shear).map_err(plan_fail)?
            }
            (None, Some((like_shape, like_affine))) => {
                if like_shape.contains(&0) {
                    return Err(Fail::bad(format!("like: shape {like_shape:?} has an empty axis")));
                }
                let grid = Grid { shape: like_shape, affine: affine_of(&like_affine)? };
                ctprep_resample::plan_like(shape, &affine, grid).map_err(plan_fail)?
            }
            _ => return Err(Fail::usage("give spacing or like (one of them)")),
        };
        let out_shape = plan.grid.shape;
        let out_affine = affine_to_py(py, &plan.grid.affine);
        let (out, report) = if onehot || nearest {
            // Label maps: the stored type in and out, one-hot or nearest.
            let masks = match &scheme {
                Some(s) if order.is_none() && mode.is_none() => s.label,
                _ => Sampling::new().orders(orders).mode(mode),
            };
            by_dtype!(py, array, T => {
                let fill = fill.map(|f| stored_fill::<T>(f, scaling)).transpose()?;
                let a = array.cast::<PyArrayDyn<T>>().map_err(|e| Fail::bad(e.to_string()))?.readonly();
                let src = fortran_slice(&a, "array")?;
                let out = zeros::<T>(py, &out_shape, true)?;
                let mut rw = out.readwrite();
                let dst = rw.as_slice_mut().map_err(|_| Fail::bad("output: not contiguous"))?;
                let r = py.detach(|| in_pool(pool.as_ref(), || match (onehot, mode) {
                    (true, _) => ctprep_resample::resample_onehot_into(src, &plan, &masks, fill, dst, exec),
                    (false, None) => ctprep_resample::resample_nearest_slice_into(src, &plan, fill, dst, exec),
                    (false, Some(m)) => ctprep_resample::resample_nearest_mode_into(src, &plan, m, fill, dst, exec),
                }))
                .map_err(|e| Fail::usage(e.to_string()))?;
                drop(rw);
                Ok::<_, Fail>((out.into_any(), r.to_string()))
            })?
        } else {
            let fill = match fill {
                Some(f) if !(f as f32).is_finite() => {
                    return Err(Fail::usage(format!(
                        "fill {f}: the fill value of linear or cubic resampling must be finite"
                    )));
                }
                f => f.map(|f| f as f32),
            };
            let (slope, inter) = scaling.map_or((1.0, 0.0), |s| (s.slope, s.inter));
            let opts = match &scheme {
                Some(s) if !own => s.image,
                _ => Sampling::new()
                    .orders(orders)
                    .mode(mode)
                    .fill(fill)
                    .clip_input_range(clip_input_range)
                    .antialias(antialias),
            }
            .scaling(slope, inter);
            opts.check().map_err(|e| Fail::usage(e.to_string()))?;
            by_dtype!(py, array, T => {
                let a = array.cast::<PyArrayDyn<T>>().map_err(|e| Fail::bad(e.to_string()))?.readonly();
                let src = fortran_slice(&a, "array")?;
                let out = zeros::<f32>(py, &out_shape, true)?;
                let mut rw = out.readwrite();
                let dst = rw.as_slice_mut().map_err(|_| Fail::bad("output: not contiguous"))?;
                let r = py.detach(|| in_pool(pool.as_ref(), || ctprep_resample::resample_spline_slice_into(src, &plan, &opts, dst, exec)))
                    .map_err(|e| Fail::bad(e.to_string()))?;
                drop(rw);
                Ok::<_, Fail>((out.into_any(), r.to_string()))
            })?
        };
        Ok((out, out_affine, report))
    };
    go().map_err(|e| e.into_py(py))
}

/// Projects a float32 3-D array (Fortran order) in slabs of `slab` slices (or `slab_mm` mm, or
/// the whole axis) along voxel axis `axis`: the options of `ctprep mip`.
#[pyfunction]
#[pyo3(signature = (array, affine, slab = None, slab_mm = None, whole = false, axis = 2, reduce = "max", align = "start", edges = "shrink", stride = 1, kernel = None, threads = None))]
#[allow(clippy::too_many_arguments)]
fn project<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyUntypedArray>,
    affine: PyReadonlyArray2<'py, f64>,
    slab: Option<usize>,
    slab_mm: Option<f64>,
    whole: bool,
    axis: usize,
    reduce: &str,
    align: &str,
    edges: &str,
    stride: usize,
    kernel: Option<&str>,
    threads: Option<&str>,
) -> PyResult<Placed<'py>> {
    let go = || -> R<Placed<'py>> {
        let shape = shape3(array, "array")?;
        let affine = affine_of(&affine)?;
        let (exec, pool) = exec_of(kernel, threads)?;
        let axis3 = match axis {
            0 => Axis3::X,
            1 => Axis3::Y,
            2 => Axis3::Z,
            _ => return Err(Fail::usage(format!("axis {axis}: expected 0, 1 or 2"))),
        };
        let reduce: Reduce = reduce.parse().map_err(|e| Fail::usage(format!("reduce: {e}")))?;
        let n = shape[axis];
        let p = if whole {
            if slab.is_some() || slab_mm.is_some() {
                return Err(Fail::usage("whole=True projects the whole axis: give no slab or slab_mm"));
            }
            ctprep_projection::whole_axis(axis3, reduce, n)
        } else {
            let k = match (slab, slab_mm) {
                (Some(0), _) => return Err(Fail::usage("slab must be at least 1")),
                (Some(k), None) => k,
                (None, Some(mm)) if !(mm.is_finite() && mm > 0.0) => {
                    return Err(Fail::usage(format!("slab_mm {mm}: must be positive and finite")));
                }
                (None, Some(mm)) => {
                    SlabProjection::slices_for_mm(mm, affine.spacing()[axis]).map_err(|e| Fail::bad(e.to_string()))?
                }
                _ => return Err(Fail::usage("give one of slab, slab_mm or whole=True")),
            };
            if stride == 0 {
                return Err(Fail::usage("stride must be at least 1"));
            }
            let align: Align = align.parse().map_err(|e| Fail::usage(format!("align: {e}")))?;
            let edges: Edges = edges.parse().map_err(|e| Fail::usage(format!("edges: {e}")))?;
            SlabProjection::new(k).axis(axis3).reduce(reduce).align(align).edges(edges).stride(stride)
        };
        let m = p.output_len(n).map_err(|e| Fail::bad(e.to_string()))?;
        let mut out_shape = shape;
        out_shape[axis] = m;
        let out_affine =
            if whole { ctprep_projection::whole_axis_affine(&affine, axis3, n) } else { p.output_affine(&affine) };
        let a = array
            .cast::<PyArrayDyn<f32>>()
            .map_err(|_| Fail::new("UnsupportedError", format!("dtype {}: projections take float32", array.dtype())))?
            .readonly();
        let src = fortran_slice(&a, "array")?;
        let out = zeros::<f32>(py, &out_shape, true)?;
        let mut rw = out.readwrite();
        let dst = rw.as_slice_mut().map_err(|_| Fail::bad("output: not contiguous"))?;
        let r = py
            .detach(|| in_pool(pool.as_ref(), || ctprep_projection::project_slice_into(src, shape, &p, dst, exec)))
            .map_err(|e| Fail::bad(e.to_string()))?;
        drop(rw);
        Ok((out.into_any(), affine_to_py(py, &out_affine), r.to_string()))
    };
    go().map_err(|e| e.into_py(py))
}

/// nibabel's reorientation to `target` (`canonical` = closest to RAS, or three axis codes): for
/// each input axis, the output axis it becomes and its sign; and the new affine.
#[pyfunction]
fn reorientation<'py>(
    py: Python<'py>,
    shape: [usize; 3],
    affine: PyReadonlyArray2<'py, f64>,
    target: &str,
) -> PyResult<(Vec<(usize, i8)>, PyAffine<'py>)> {
    let go = || -> R<(Vec<(usize, i8)>, Affine)> {
        let affine = affine_of(&affine)?;
        let target: ctprep_io::AxCodes = if target.eq_ignore_ascii_case("canonical") {
            ctprep_io::AxCodes::RAS
        } else {
            target.parse().map_err(|e: ctprep_io::ParseAxCodesError| Fail::usage(format!("axcodes: {}", e.0)))?
        };
        let codes = ctprep_io::AxCodes::of_affine(&affine).ok_or_else(|| {
            Fail::bad(format!(
                "cannot reorient: the affine has a degenerate axis (axis codes {})",
                ctprep_io::axcodes_string(&affine)
            ))
        })?;
        let t = ctprep_io::Reorientation::between(codes, target);
        let to = t.to.iter().map(|d| (d.axis, d.sign)).collect();
        Ok((to, affine.matmul(&t.inverse_index_map(shape))))
    };
    let (to, a) = go().map_err(|e| e.into_py(py))?;
    Ok((to, affine_to_py(py, &a)))
}

/// nibabel's `aff2axcodes` as a string (`?` for a degenerate axis).
#[pyfunction]
fn axcodes(py: Python<'_>, affine: PyReadonlyArray2<'_, f64>) -> PyResult<String> {
    let a = affine_of(&affine).map_err(|e| e.into_py(py))?;
    Ok(ctprep_io::axcodes_string(&a))
}

/// Runs a `run` or `batch` command line (without the program name) and returns its JSON
/// document (`ctprep_cli::json_of`), the GIL released throughout.
#[pyfunction]
fn cli_json(py: Python<'_>, args: Vec<String>) -> PyResult<String> {
    detached(py, || {
        let argv = std::iter::once("ctprep".to_owned()).chain(args);
        ctprep_cli::json_of(argv).map_err(failure)
    })
}

/// Checks a `run` or `batch` command line without running it.
#[pyfunction]
fn cli_check(py: Python<'_>, args: Vec<String>) -> PyResult<()> {
    let argv = std::iter::once("ctprep".to_owned()).chain(args);
    ctprep_cli::check_args(argv).map_err(|e| failure(e).into_py(py))
}

fn failure(f: ctprep_cli::Failure) -> Fail {
    use ctprep_cli::Failure;
    match f {
        // clap's message and its tips, without the usage line and the pointer to `--help`.
        Failure::Clap(e) => {
            let text = e.render().to_string();
            let kept: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:"))
                .filter(|l| !l.starts_with("For more information"))
                .collect();
            Fail::usage(kept.join("\n").trim().trim_start_matches("error: ").to_owned())
        }
        Failure::Usage(m) => Fail::usage(m),
        Failure::NotAligned(m) => Fail::new("NotAlignedError", m),
        Failure::File(e) => Fail::from(e),
        other => Fail::new("Error", other.to_string()),
    }
}

/// The window of a named preset (`lung`, `bone`, ...), as (lo, hi) in HU.
#[pyfunction]
fn window_preset(py: Python<'_>, name: &str) -> PyResult<(f64, f64)> {
    let w = Window::preset(name).map_err(|e| Fail::usage(format!("preset: {e}")).into_py(py))?;
    Ok((w.lo(), w.hi()))
}

/// Every window preset: (name, lo, hi, what it shows).
#[pyfunction]
fn window_presets() -> Vec<(&'static str, f64, f64, &'static str)> {
    ctprep_intensity::PRESETS.iter().map(|p| (p.name, p.lo, p.hi, p.shows)).collect()
}

/// The version, and the instruction sets the dispatched kernels run with here.
#[pyfunction]
fn build_info() -> (String, String) {
    (env!("CARGO_PKG_VERSION").to_owned(), ctprep_core::Isa::detected().to_string())
}

#[pymodule]
fn _ctprep(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Voxels>()?;
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_function(wrap_pyfunction!(write, m)?)?;
    m.add_function(wrap_pyfunction!(phantom, m)?)?;
    m.add_function(wrap_pyfunction!(window, m)?)?;
    m.add_function(wrap_pyfunction!(resample, m)?)?;
    m.add_function(wrap_pyfunction!(project, m)?)?;
    m.add_function(wrap_pyfunction!(reorientation, m)?)?;
    m.add_function(wrap_pyfunction!(axcodes, m)?)?;
    m.add_function(wrap_pyfunction!(cli_json, m)?)?;
    m.add_function(wrap_pyfunction!(cli_check, m)?)?;
    m.add_function(wrap_pyfunction!(build_info, m)?)?;
    m.add_function(wrap_pyfunction!(window_preset, m)?)?;
    m.add_function(wrap_pyfunction!(window_presets, m)?)?;
    Ok(())
}
