//! Resampling CT volumes onto a new voxel grid: named grid conventions for spacing changes,
//! trilinear interpolation for images and nearest neighbour for label maps, and resampling
//! onto another image's grid, with the output affine kept true.
//!
//! The primitive maps an input (data, affine) onto an output grid (shape, affine): every
//! output voxel centre is a world point, that point a continuous input index `x` ([`VoxelMap`]),
//! and the value there is interpolated. [`plan_spacing`] builds the output grid for a target
//! spacing under a [`GridConvention`]; [`plan_like`] takes another image's grid.
//!
//! ```
//! use ctprep_resample::{Affine, Exec, GridConvention, Trilinear, plan_spacing, resample_linear};
//! use ndarray::{Array3, ShapeBuilder};
//!
//! // 0.78 x 0.78 x 2.5 mm voxels to 1 mm isotropic.
//! let affine = Affine::from_spacing_origin([0.78, 0.78, 2.5], [0.0; 3]);
//! let ct = Array3::from_shape_fn((20, 20, 6).f(), |(x, y, z)| (x + y) as i16 * 10 - 1000 + z as i16);
//! let plan = plan_spacing([20, 20, 6], &affine, [1.0; 3], GridConvention::FirstCentre)?;
//! assert_eq!(plan.grid.shape, [16, 16, 14]); // round(19 * 0.78 + 1), round(5 * 2.5 + 1): halves to even
//! let (out, report) = resample_linear(ct.view(), &plan, &Trilinear::new(), Exec::default())?;
//! assert_eq!(out.dim(), (16, 16, 14));
//! assert_eq!(out[[0, 0, 0]], -1000.0); // the first output voxel sits on the first input voxel
//! println!("{report}"); // "dispatched (avx2), 1 thread, separable path"
//! # Ok::<(), ctprep_resample::ResampleError>(())
//! ```
//!
//! # Semantics
//! - **Positions.** Output voxel `j` samples input index `x = linear · j + offset`, computed
//!   in `f64` by [`VoxelMap::apply`] in every variant.
//! - **Linear.** Trilinear on the real values (`slope * stored + inter` with
//!   [`Trilinear::scaling`]), written as `f32`. Each 1-D step is `a + w (b - a)`, and exactly
//!   `a` when `a == b`, so a constant region stays exactly constant. NaN in any of the up to 8
//!   voxels a sample uses gives NaN.
//! - **Nearest.** The voxel at `floor(x + 0.5)` per axis (halves round up), in the stored type:
//!   labels never blend.
//! - **Outside the input.** By default positions clamp to the edge (scipy `mode='nearest'`,
//!   replicate). With a fill value, a sample whose index along any axis lies outside
//!   `[-0.5, n - 0.5)` (outside the voxel boxes) takes the fill value; inside that range it is
//!   interpolated with its index clamped to `[0, n - 1]` (as ITK / SimpleITK's
//!   `ResampleImageFilter`).
//!
//! # How to choose a kernel
//! [`Exec`] holds two knobs, the single-thread [`Kernel`] and the [`Threads`]:
//! - [`Kernel::Scalar`] ([`scalar`]): for every output voxel, its position, its 8 (or 1) taps,
//!   and the trilinear sum in `f64`: the oracle, always on one thread.
//! - [`Kernel::Wide`] ([`simd`]): when the map is diagonal (a scale and shift per axis, flips
//!   included: every spacing change), the separable path: 1-D linear passes, shrinking axes
//!   first, one output slice at a time (input slices resampled in-plane once each and kept while
//!   output slices need them, or, when the slice axis shrinks, slices blended first), with
//!   `wide` `f32x8` row blends; the in-plane gathers are scalar (`wide` has no gather). Other
//!   maps (oblique, permuted) take the general path: the oracle's positions and taps in blocks of
//!   eight output voxels (scalar gathers, `f32x8` blends), bit for bit its per-voxel form.
//! - [`Kernel::Dispatched`] ([`dispatch`]): the same separable path with its row operations as
//!   plain loops compiled per instruction set and chosen at run time (AVX-512 / AVX2 in a
//!   portable binary). On the general path, `int16` input on a CPU with AVX2 takes an AVX2
//!   kernel: hardware gathers, positions stepped in `f32` within blocks of eight (within 8e-4
//!   voxel of the oracle's on inputs up to 4096 voxels per axis), and for in-plane maps (the
//!   input's z from the output's z alone) the slice's two input planes blended along z first.
//!   [`Kernel::Auto`] (the default) runs these.
//!
//! [`Threads::One`] keeps the call on the calling thread; [`Threads::Auto`] (the default)
//! splits outputs of at least [`ctprep_core::PARALLEL_MIN_VOXELS`] voxels into runs of output
//! slices over the rayon pool ([`parallel`]: four runs per thread); [`Threads::Count`] always
//! splits. The [`Report`] names the kernel, its instruction set, the threads and the path.

//! Any range of output slices can be resampled alone ([`resample_linear_slices_into`]), and from
//! only the input slices it reads ([`input_slices_for`], [`resample_linear_slices_from`]), bit
//! for bit as in the whole output: for producers that stream slab by slab. Such a producer
//! keeps a [`Resampler`]: it owns the separable path's working planes, so slab after slab
//! reuses memory already faulted in instead of asking the allocator again.
//!
//! Nearest is bit-identical across kernels. Linear agrees with the oracle within
//! `1e-5 · max(1, max |value|, max |slope · stored|, |inter|)` (it interpolates in `f32`, and
//! applies the scaling after interpolating, which commutes with it up to rounding, a rounding of
//! the terms' size when they cancel); the AVX2 `int16` general-path kernel, within that plus
//! 8e-4 of the largest difference between neighbours along each axis (its `f32` steps).
#![deny(unsafe_code)] // Only `multiversion`'s generated dispatch (`dispatch.rs`) and the general path's blocks (`general.rs`, `avx2.rs`) need it.

#[cfg(target_arch = "x86_64")]
mod avx2;
pub mod bspline;
#[cfg(target_arch = "x86_64")]
mod cubic_avx2;
pub mod dispatch;
mod general;
pub mod grid;
pub mod onehot;
pub mod parallel;
pub mod scalar;
pub mod scheme;
pub mod simd;
pub mod spline;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use ndarray::{Array3, ArrayView3, ShapeBuilder};

use ctprep_core::Stage;
pub use ctprep_core::{Affine, Exec, Isa, Kernel, Source, Threads, Variant, Voxel};
pub use grid::{
    Grid, GridConvention, MAX_OUTPUT_VOXELS, Plan, Shear, VoxelMap, ZoomAxes, plan_like, plan_spacing,
    plan_spacing_with,
};
pub use scheme::{Scheme, SchemePlan, plan_scheme};
pub use spline::{Mode, Sampling};

/// An invalid resampling request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ResampleError {
    /// An option value that makes no sense (a spacing of 0, an unknown name, a fill value the
    /// output type cannot hold).
    #[error("{0}")]
    BadParameter(String),
    /// An affine or shape that cannot be resampled (singular, not finite, empty axes, buffers
    /// that do not fit).
    #[error("{0}")]
    BadGeometry(String),
    /// An output grid larger than [`MAX_OUTPUT_VOXELS`].
    #[error("the output grid {shape:?} would hold {voxels} voxels, more than the limit of {limit}")]
    TooLarge {
        /// The output shape.
        shape: [usize; 3],
        /// Its voxel count.
        voxels: u128,
        /// The limit.
        limit: usize,
    },
}

type Result<T, E = ResampleError> = std::result::Result<T, E>;

/// How values between voxel centres are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Interp {
    /// Trilinear (images).
    #[default]
    Linear,
    /// Nearest neighbour (label maps: integer types stay integer).
    Nearest,
    /// Cubic B-spline with scipy's prefilter (images).
    Cubic,
}

impl Interp {
    /// The spline order of the interpolation.
    pub fn order(self) -> u8 {
        match self {
            Interp::Nearest => 0,
            Interp::Linear => 1,
            Interp::Cubic => 3,
        }
    }
}

impl fmt::Display for Interp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Interp::Linear => "linear",
            Interp::Nearest => "nearest",
            Interp::Cubic => "cubic",
        })
    }
}

impl FromStr for Interp {
    type Err = ResampleError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "linear" | "trilinear" => Ok(Interp::Linear),
            "nearest" => Ok(Interp::Nearest),
            "cubic" => Ok(Interp::Cubic),
            _ => Err(ResampleError::BadParameter(format!("interpolation {s:?}: expected linear, nearest or cubic"))),
        }
    }
}

/// Options of trilinear resampling. Every setter's doc gives its default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trilinear {
    fill: Option<f32>,
    slope: f64,
    inter: f64,
}

impl Default for Trilinear {
    fn default() -> Self {
        Trilinear::new()
    }
}

impl Trilinear {
    /// Edge clamp, no scaling.
    pub fn new() -> Trilinear {
        Trilinear { fill: None, slope: 1.0, inter: 0.0 }
    }

    /// The value of samples outside the input's voxel boxes (default `None`: clamp to the
    /// edge). In output (real) units: `-1024` is air in CT.
    pub fn fill(mut self, fill: Option<f32>) -> Self {
        self.fill = fill;
        self
    }

    /// Real value = `slope * stored + inter` (default 1 and 0). Use the volume's effective
    /// scaling: a slope of 0 or non-finite means none (nibabel's rule, applied by the caller).
    pub fn scaling(mut self, slope: f64, inter: f64) -> Self {
        self.slope = slope;
        self.inter = inter;
        self
    }

    /// The fill value, if any.
    pub fn get_fill(&self) -> Option<f32> {
        self.fill
    }

    /// `(slope, inter)`.
    pub fn get_scaling(&self) -> (f64, f64) {
        (self.slope, self.inter)
    }
}

/// Which algorithm ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Path {
    /// Per-voxel taps from the full map (the oracle, and oblique or permuted maps).
    General,
    /// 1-D passes along each axis (diagonal maps).
    Separable,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Path::General => "general",
            Path::Separable => "separable",
        })
    }
}

/// What a call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// The kernel that ran (never [`Kernel::Auto`]: that runs [`Kernel::Dispatched`]).
    pub kernel: Kernel,
    /// The instruction set it ran with.
    pub isa: Isa,
    /// The threads the work was split for (1: the calling thread alone).
    pub threads: usize,
    /// The algorithm.
    pub path: Path,
    /// Where the kernel and threads came from (what was asked, the profile, the fallback).
    pub source: Source,
}

impl Report {
    fn new(kernel: Kernel, threads: usize, path: Path, source: Source) -> Report {
        let isa = if kernel == Kernel::Dispatched { Isa::detected() } else { Isa::target() };
        Report { kernel, isa, threads, path, source }
    }
}

impl fmt::Display for Report {
    /// `dispatched (avx2), 4 threads, separable path`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.threads == 1 { "" } else { "s" };
        write!(f, "{} ({}), {} thread{s}, {} path", self.kernel, self.isa.name(), self.threads, self.path)
    }
}

/// Reusable state of trilinear resampling: the separable path's working planes (up to a few
/// planes of the output and the input per task), kept from call to call.
///
/// A caller that resamples slab after slab (`ctprep run`: one slab per rayon worker) keeps one
/// `Resampler` per worker, so every call reuses memory already faulted in instead of asking the
/// allocator for fresh pages; the free functions ([`resample_linear_slices_from`] ...) make a
/// fresh one per call. Results never depend on what an earlier call left in it.
#[derive(Debug, Default)]
pub struct Resampler {
    /// One set of planes per task of the last split (one for a single thread).
    planes: Vec<simd::Planes>,
    /// The B-spline kernel's slab buffers.
    spline: bspline::SlabScratch,
}

impl Resampler {
    /// A resampler holding no memory yet.
    pub fn new() -> Resampler {
        Resampler::default()
    }

    /// As [`resample_linear_slices_from`], with this resampler's planes.
    #[allow(clippy::too_many_arguments)] // The free function's arguments and the receiver.
    pub fn linear_slices_from<T: Voxel>(
        &mut self,
        src: &[T],
        first: usize,
        plan: &Plan,
        opts: &Trilinear,
        zs: std::ops::Range<usize>,
        dst: &mut [f32],
        exec: Exec,
    ) -> Result<Report> {
        linear_slices_from(src, first, plan, opts, zs, dst, exec, &mut self.planes)
    }

    /// As [`resample_linear_slices_into`], with this resampler's planes.
    pub fn linear_slices_into<T: Voxel>(
        &mut self,
        src: &[T],
        plan: &Plan,
        opts: &Trilinear,
        zs: std::ops::Range<usize>,
        dst: &mut [f32],
        exec: Exec,
    ) -> Result<Report> {
        check_input(plan, src.len())?;
        self.linear_slices_from(src, 0, plan, opts, zs, dst, exec)
    }

    /// As [`resample_spline_slices_from`], with this resampler's buffers.
    #[allow(clippy::too_many_arguments)] // The free function's arguments and the receiver.
    pub fn spline_slices_from<T: Voxel>(
        &mut self,
        src: &[T],
        first: usize,
        plan: &Plan,
        opts: &Sampling,
        zs: std::ops::Range<usize>,
        dst: &mut [f32],
        exec: Exec,
    ) -> Result<Report> {
        if opts.is_trilinear() {
            return self.linear_slices_from(src, first, plan, &opts.trilinear(), zs, dst, exec);
        }
        spline_slices_from(src, first, plan, opts, zs, dst, exec, &mut self.spline)
    }

    /// As [`resample_linear_slice_into`], with this resampler's planes.
    pub fn linear_slice_into<T: Voxel>(
        &mut self,
        src: &[T],
        plan: &Plan,
        opts: &Trilinear,
        dst: &mut [f32],
        exec: Exec,
    ) -> Result<Report> {
        self.linear_slices_into(src, plan, opts, 0..plan.grid.shape[2], dst, exec)
    }
}

/// One tap of a 1-D linear interpolation: value `v[i0] + w (v[i1] - v[i0])`, or the fill
/// value when `!inside`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Tap {
    pub(crate) i0: usize,
    pub(crate) i1: usize,
    pub(crate) w: f64,
    pub(crate) inside: bool,
}

/// The linear tap at continuous index `x` of an axis of `n` voxels: clamped to `[0, n - 1]`,
/// and outside when filling and `x` is not in `[-0.5, n - 0.5)`. An integral `x` uses one
/// voxel (`i1 == i0`, `w == 0`), so it never depends on its neighbour.
#[inline]
pub(crate) fn linear_tap(x: f64, n: usize, fill: bool) -> Tap {
    if fill && !(x >= -0.5 && x < n as f64 - 0.5) {
        return Tap { i0: 0, i1: 0, w: 0.0, inside: false };
    }
    let last = n - 1;
    if x >= last as f64 {
        return Tap { i0: last, i1: last, w: 0.0, inside: true };
    }
    if x <= 0.0 || x.is_nan() {
        return Tap { i0: 0, i1: 0, w: 0.0, inside: true };
    }
    let f = x.floor();
    let i0 = f as usize;
    let w = x - f;
    Tap { i0, i1: if w == 0.0 { i0 } else { i0 + 1 }, w, inside: true }
}

/// The nearest voxel to continuous index `x` (halves round up), clamped; `None` when filling
/// and `x` is outside `[-0.5, n - 0.5)`.
#[inline]
pub(crate) fn nearest_index(x: f64, n: usize, fill: bool) -> Option<usize> {
    if fill && !(x >= -0.5 && x < n as f64 - 0.5) {
        return None;
    }
    let i = (x + 0.5).floor();
    Some(if i >= (n - 1) as f64 {
        n - 1
    } else if i > 0.0 {
        i as usize
    } else {
        0
    })
}

/// The 1-D blend `a + w (b - a)`, exactly `a` when `a == b`: every variant uses this formula,
/// in `f64` (oracle) or `f32`.
#[inline(always)]
pub(crate) fn blend64(a: f64, b: f64, w: f64) -> f64 {
    if a == b { a } else { a + w * (b - a) }
}

/// The volume as x-fastest contiguous values: borrowed when it already is, else copied.
fn fortran<'a, T: Voxel>(src: &'a ArrayView3<'_, T>) -> Cow<'a, [T]> {
    if let Some(s) = src.t().to_slice() {
        return Cow::Borrowed(s);
    }
    let (a, b, c) = src.dim();
    let owned = Array3::from_shape_fn((a, b, c).f(), |(i, j, k)| src[[i, j, k]]);
    Cow::Owned(owned.into_raw_vec_and_offset().0)
}

fn check_buffers(plan: &Plan, src_len: usize, dst_len: usize) -> Result<()> {
    let n: usize = plan.input_shape.iter().product();
    if src_len != n || dst_len != plan.output_len() {
        return Err(ResampleError::BadGeometry(format!(
            "buffers of {src_len} and {dst_len} values do not fit the plan {:?} -> {:?}",
            plan.input_shape, plan.grid.shape
        )));
    }
    Ok(())
}

fn check_input(plan: &Plan, len: usize) -> Result<()> {
    let n: usize = plan.input_shape.iter().product();
    if len != n {
        return Err(ResampleError::BadGeometry(format!(
            "{len} input values do not fit the plan {:?} -> {:?}",
            plan.input_shape, plan.grid.shape
        )));
    }
    Ok(())
}

/// The kernel `exec` runs (auto: the profile's pick, else the dispatched loops), the runs of
/// output slices `zs` it is split into, the threads they are for (1: one run, on the calling
/// thread), and where the choice came from.
fn split_for(
    exec: Exec,
    zs: std::ops::Range<usize>,
    work: usize,
) -> (Kernel, Vec<std::ops::Range<usize>>, usize, Source) {
    let planned = exec.plan(Stage::Resample, work, rayon::current_num_threads());
    let kernel = if planned.kernel == Kernel::Auto { Kernel::Dispatched } else { planned.kernel };
    let runs = parallel::runs(zs.clone(), planned.threads);
    let threads = planned.threads.min(runs.len()).max(1);
    if threads == 1 { (kernel, vec![zs], 1, planned.source) } else { (kernel, runs, threads, planned.source) }
}

/// Trilinear resampling of `src` (x-fastest, `plan.input_shape`) into `dst` (x-fastest,
/// `plan.grid.shape`), real values as `f32`.
pub fn resample_linear_slice_into<T: Voxel>(
    src: &[T],
    plan: &Plan,
    opts: &Trilinear,
    dst: &mut [f32],
    exec: Exec,
) -> Result<Report> {
    // The slices function checks the buffers against the whole output.
    Resampler::new().linear_slice_into(src, plan, opts, dst, exec)
}

/// Trilinear resampling of the output slices `zs` only (along the output's z axis) into `dst`,
/// which holds exactly those slices (`zs.len()` planes of `mx * my` values): each slice gets the
/// values it gets from [`resample_linear_slice_into`] with the same kernel, bit for bit. For
/// producers that stream an output slab by slab and never hold it whole; one that runs slabs
/// side by side asks for [`Threads::One`] and keeps a [`Resampler`] per worker.
pub fn resample_linear_slices_into<T: Voxel>(
    src: &[T],
    plan: &Plan,
    opts: &Trilinear,
    zs: std::ops::Range<usize>,
    dst: &mut [f32],
    exec: Exec,
) -> Result<Report> {
    Resampler::new().linear_slices_into(src, plan, opts, zs, dst, exec)
}

/// The input slices (along the input's z axis) that trilinear resampling of the output slices
/// `zs` reads. Exact when the input's z index depends on the output's z alone (every spacing
/// change, flips and in-plane permutations included); every slice otherwise. Empty when no
/// output slice reads any (all of them outside the input, with a fill value).
pub fn input_slices_for(plan: &Plan, opts: &Trilinear, zs: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let nz = plan.input_shape[2];
    let l = &plan.map.linear[2];
    if l[0] != 0.0 || l[1] != 0.0 {
        return 0..nz;
    }
    let (mut lo, mut hi) = (usize::MAX, 0);
    for jz in zs {
        // The z position of every voxel of output slice jz: the other terms are exact zeros.
        let t = linear_tap(plan.map.apply([0, 0, jz])[2], nz, opts.fill.is_some());
        if t.inside {
            lo = lo.min(t.i0.min(t.i1));
            hi = hi.max(t.i0.max(t.i1) + 1);
        }
    }
    if lo >= hi { 0..0 } else { lo..hi }
}

/// As [`resample_linear_slices_into`], from part of the input: `src` holds the input slices
/// (along its z axis, `nx * ny` values each) from `first` on, and must hold every slice
/// [`input_slices_for`] names for `zs`. For producers that read the input slab by slab too and
/// never hold it whole. The output is bit for bit that of the whole input.
pub fn resample_linear_slices_from<T: Voxel>(
    src: &[T],
    first: usize,
    plan: &Plan,
    opts: &Trilinear,
    zs: std::ops::Range<usize>,
    dst: &mut [f32],
    exec: Exec,
) -> Result<Report> {
    Resampler::new().linear_slices_from(src, first, plan, opts, zs, dst, exec)
}

#[allow(clippy::too_many_arguments)] // The public function's arguments and the planes.
fn linear_slices_from<T: Voxel>(
    src: &[T],
    first: usize,
    plan: &Plan,
    opts: &Trilinear,
    zs: std::ops::Range<usize>,
    dst: &mut [f32],
    exec: Exec,
    planes: &mut Vec<simd::Planes>,
) -> Result<Report> {
    let [mx, my, mz] = plan.grid.shape;
    let [nx, ny, nz] = plan.input_shape;
    let plane_in = nx * ny;
    if zs.start > zs.end || zs.end > mz || dst.len() != zs.len() * mx * my {
        return Err(ResampleError::BadGeometry(format!(
            "a buffer of {} values does not fit output slices {zs:?} of the plan {:?} -> {:?}",
            dst.len(),
            plan.input_shape,
            plan.grid.shape
        )));
    }
    let held = first..first.saturating_add(src.len() / plane_in.max(1));
    let need = input_slices_for(plan, opts, zs.clone());
    let holds = need.is_empty() || (held.start <= need.start && need.end <= held.end);
    if !src.len().is_multiple_of(plane_in.max(1)) || held.end > nz || !holds {
        return Err(ResampleError::BadGeometry(format!(
            "{} input values from slice {first} do not hold the input slices {need:?} that output slices {zs:?} of the plan {:?} -> {:?} read",
            src.len(),
            plan.input_shape,
            plan.grid.shape
        )));
    }
    if !(opts.slope.is_finite() && opts.inter.is_finite()) {
        return Err(ResampleError::BadParameter(format!(
            "scaling slope {} and intercept {} must be finite",
            opts.slope, opts.inter
        )));
    }
    let (kernel, runs, threads, source) = split_for(exec, zs.clone(), dst.len());
    let separable = plan.map.is_diagonal();
    if planes.is_empty() {
        planes.push(simd::Planes::default());
    }
    match (kernel, threads) {
        (Kernel::Scalar, _) => scalar::resample_linear_slices(src, first, plan, opts, zs, dst),
        (Kernel::Wide, 1) => {
            simd::resample_linear_with::<T, simd::Wide>(src, first, plan, opts, dst, zs, &mut planes[0])
        }
        (Kernel::Wide, _) => {
            parallel::resample_linear_slices::<T, simd::Wide>(src, first, plan, opts, &runs, dst, planes)
        }
        (_, 1) => simd::resample_linear_with::<T, dispatch::Plain>(src, first, plan, opts, dst, zs, &mut planes[0]),
        (_, _) => parallel::resample_linear_slices::<T, dispatch::Plain>(src, first, plan, opts, &runs, dst, planes),
    }
    let path = if kernel == Kernel::Scalar || !separable { Path::General } else { Path::Separable };
    Ok(Report::new(kernel, threads, path, source))
}

/// Trilinear resampling of a volume (any layout) into a new x-fastest `f32` array.
pub fn resample_linear<T: Voxel>(
    src: ArrayView3<'_, T>,
    plan: &Plan,
    opts: &Trilinear,
    exec: Exec,
) -> Result<(Array3<f32>, Report)> {
    let data = fortran(&src);
    let mut out = vec![0f32; plan.output_len()];
    let report = resample_linear_slice_into(&data, plan, opts, &mut out, exec)?;
    Ok((into_array(out, plan)?, report))
}

/// Nearest-neighbour resampling of `src` into `dst` in the stored type (x-fastest buffers);
/// `fill` for samples outside the input (default: clamp to the edge).
///
/// Nearest only copies voxels: every kernel but the oracle runs the same index tables and row
/// copies (plain code compiled for the target), and the report names the kernel asked for.
pub fn resample_nearest_slice_into<T: Voxel>(
    src: &[T],
    plan: &Plan,
    fill: Option<T>,
    dst: &mut [T],
    exec: Exec,
) -> Result<Report> {
    check_buffers(plan, src.len(), dst.len())?;
    let (kernel, runs, threads, source) = split_for(exec, 0..plan.grid.shape[2], dst.len());
    let separable = plan.map.is_diagonal();
    match (kernel, threads) {
        (Kernel::Scalar, _) => scalar::resample_nearest(src, plan, fill, dst),
        (_, 1) => simd::resample_nearest(src, plan, fill, dst, 0..plan.grid.shape[2]),
        (_, _) => parallel::resample_nearest(src, plan, fill, dst, &runs),
    }
    let path = if kernel == Kernel::Scalar || !separable { Path::General } else { Path::Separable };
    let mut report = Report::new(kernel, threads, path, source);
    report.isa = Isa::target();
    Ok(report)
}

/// Nearest-neighbour resampling of the output slices `zs` only (along the output's z axis) into
/// `dst` (those slices, x-fastest), on the calling thread: the values [`resample_nearest_slice_into`]
/// gives those slices, whatever range they are computed in (for a stage that streams slabs).
pub fn resample_nearest_slices_into<T: Voxel>(
    src: &[T],
    plan: &Plan,
    fill: Option<T>,
    zs: std::ops::Range<usize>,
    dst: &mut [T],
    kernel: Kernel,
) -> Result<Report> {
    let [nx, ny, nz] = plan.input_shape;
    let [mx, my, mz] = plan.grid.shape;
    if src.len() != nx * ny * nz || zs.start > zs.end || zs.end > mz || dst.len() != (zs.end - zs.start) * mx * my {
        return Err(ResampleError::BadGeometry(format!(
            "buffers of {} and {} values for slices {zs:?} of {:?} from {:?}",
            src.len(),
            dst.len(),
            plan.grid.shape,
            plan.input_shape
        )));
    }
    let kernel = if kernel == Kernel::Auto { Kernel::Dispatched } else { kernel };
    match kernel {
        Kernel::Scalar => scalar::resample_nearest_slices(src, plan, fill, dst, zs),
        _ => simd::resample_nearest(src, plan, fill, dst, zs),
    }
    let path = if kernel == Kernel::Scalar || !plan.map.is_diagonal() { Path::General } else { Path::Separable };
    let mut report = Report::new(kernel, 1, path, Source::Asked);
    report.isa = Isa::target();
    Ok(report)
}

/// Nearest-neighbour resampling of a volume (any layout) into a new x-fastest array of the
/// same type.
pub fn resample_nearest<T: Voxel>(
    src: ArrayView3<'_, T>,
    plan: &Plan,
    fill: Option<T>,
    exec: Exec,
) -> Result<(Array3<T>, Report)> {
    let data = fortran(&src);
    let mut out = vec![T::default(); plan.output_len()];
    let report = resample_nearest_slice_into(&data, plan, fill, &mut out, exec)?;
    Ok((into_array(out, plan)?, report))
}

/// B-spline resampling (order 0, 1 or 3 per axis, any boundary mode: see [`spline`]) of `src`
/// (x-fastest, `plan.input_shape`) into `dst` (x-fastest, `plan.grid.shape`), real values as
/// `f32`. Plain trilinear options ([`Sampling::is_trilinear`]) run the trilinear kernels,
/// bit for bit as [`resample_linear_slice_into`].
pub fn resample_spline_slice_into<T: Voxel>(
    src: &[T],
    plan: &Plan,
    opts: &Sampling,
    dst: &mut [f32],
    exec: Exec,
) -> Result<Report> {
    opts.check()?;
    check_buffers(plan, src.len(), dst.len())?;
    if opts.is_trilinear() {
        return resample_linear_slice_into(src, plan, &opts.trilinear(), dst, exec);
    }
    let (kernel, _, threads, source) = split_for(exec, 0..plan.grid.shape[2], dst.len());
    let separable = plan.map.is_diagonal();
    let par = threads > 1;
    if opts.get_antialias() && kernel != Kernel::Scalar {
        // Smoothed as real values, resampled, then clipped to the unsmoothed input's range.
        let smooth: Vec<f32> = spline::gaussian(src, plan.input_shape, spline::antialias_sigma(plan), opts)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let inner = antialiased(opts);
        let mut report = resample_spline_slice_into(&smooth, plan, &inner, dst, exec)?;
        spline::clip_output(src, plan, opts, 0, dst);
        report.source = source;
        return Ok(report);
    }
    match (kernel, separable) {
        (Kernel::Scalar, _) => spline::resample_spline(src, plan, opts, dst),
        (Kernel::Wide, true) => bspline::separable::<T, simd::Wide>(src, plan, opts, dst, par),
        (Kernel::Wide, false) => bspline::general::<T, simd::Wide>(src, plan, opts, dst, par, general::spline_wide),
        (_, true) => bspline::separable::<T, dispatch::Plain>(src, plan, opts, dst, par),
        (_, false) => bspline::general::<T, dispatch::Plain>(src, plan, opts, dst, par, general::spline_plain),
    }
    let path = if kernel == Kernel::Scalar || !separable { Path::General } else { Path::Separable };
    let threads = if kernel == Kernel::Scalar { 1 } else { threads };
    Ok(Report::new(kernel, threads, path, source))
}

/// The input slices (along its z axis) that B-spline resampling of output slices `zs` with
/// `kernel` reads: the taps, and along a cubic z the prefilter's halo of [`bspline::HALO`]
/// slices each side (every slice when the z axis wraps); every slice for the oracle (its
/// prefilter reads whole lines) and for maps that are not axis-aligned. Empty when no output
/// slice reads any. Plain trilinear options: [`input_slices_for`].
pub fn spline_input_slices_for(
    plan: &Plan,
    opts: &Sampling,
    zs: std::ops::Range<usize>,
    kernel: Kernel,
) -> std::ops::Range<usize> {
    if opts.is_trilinear() {
        return input_slices_for(plan, &opts.trilinear(), zs);
    }
    if kernel == Kernel::Scalar || !plan.map.is_diagonal() || opts.check().is_err() {
        return 0..plan.input_shape[2];
    }
    if opts.get_antialias() {
        // The smoothed slices the resampling reads, and the input slices their Gaussian reads.
        let smooth = bspline::Separable::new(plan, &antialiased(opts)).needs(zs);
        let sigma = spline::antialias_sigma(plan);
        return spline::gaussian_input_slices(plan.input_shape[2], sigma[2], opts, smooth);
    }
    bspline::Separable::new(plan, opts).needs(zs)
}

/// The options that resample the smoothed (real-valued) input of an anti-aliased resampling.
fn antialiased(opts: &Sampling) -> Sampling {
    opts.antialias(false).clip_input_range(false).scaling(1.0, 0.0)
}

/// B-spline resampling of output slices `zs` into `dst` (those slices), from `src` holding the
/// input slices from `first` on, at least [`spline_input_slices_for`]: for producers that
/// stream slab by slab (one that runs slabs side by side asks for [`Threads::One`] and keeps a
/// [`Resampler`] per worker). Along a cubic z each slab prefilters its own window of input
/// slices, so a slab's values differ from the whole output's by less than `1e-6` of the data's
/// range (the halo); along other axes they are the same. Clipping needs the input's range
/// ([`Sampling::input_range`]) unless `src` is the whole input.
#[allow(clippy::too_many_arguments)] // The slab, the plan and the options.
pub fn resample_spline_slices_from<T: Voxel>(
    src: &[T],
    first: usize,
    plan: &Plan,
    opts: &Sampling,
    zs: std::ops::Range<usize>,
    dst: &mut [f32],
    exec: Exec,
) -> Result<Report> {
    Resampler::new().spline_slices_from(src, first, plan, opts, zs, dst, exec)
}

#[allow(clippy::too_many_arguments)] // The public function's arguments and the buffers.
fn spline_slices_from<T: Voxel>(
    src: &[T],
    first: usize,
    plan: &Plan,
    opts: &Sampling,
    zs: std::ops::Range<usize>,
    dst: &mut [f32],
    exec: Exec,
    scratch: &mut bspline::SlabScratch,
) -> Result<Report> {
    opts.check()?;
    let [mx, my, mz] = plan.grid.shape;
    let [nx, ny, nz] = plan.input_shape;
    let plane_in = nx * ny;
    if zs.start > zs.end || zs.end > mz || dst.len() != zs.len() * mx * my {
        return Err(ResampleError::BadGeometry(format!(
            "a buffer of {} values does not fit output slices {zs:?} of the plan {:?} -> {:?}",
            dst.len(),
            plan.input_shape,
            plan.grid.shape
        )));
    }
    let (kernel, _, threads, source) = split_for(exec, zs.clone(), dst.len());
    let held = first..first.saturating_add(src.len() / plane_in.max(1));
    let need = spline_input_slices_for(plan, opts, zs.clone(), kernel);
    let holds = need.is_empty() || (held.start <= need.start && need.end <= held.end);
    if !src.len().is_multiple_of(plane_in.max(1)) || held.end > nz || !holds {
        return Err(ResampleError::BadGeometry(format!(
            "{} input values from slice {first} do not hold the input slices {need:?} that output slices {zs:?} of the plan {:?} -> {:?} read",
            src.len(),
            plan.input_shape,
            plan.grid.shape
        )));
    }
    let whole = first == 0 && held.end == nz;
    // Clipping per slice, and skimage's constant-mode rule (which reads the whole output's
    // range), need the whole volume; else the input's range must be given.
    let clip_whole = opts.get_clip_axis().is_some() || opts.get_mode() == Some(Mode::Constant);
    if opts.get_clip() && (opts.get_input_range().is_none() || clip_whole) && !whole {
        return Err(ResampleError::BadParameter(
            "clipping part of the output needs the input's range (Sampling::input_range), and per slice or in constant mode the whole input".into(),
        ));
    }
    let separable = plan.map.is_diagonal();
    let par = threads > 1;
    if opts.get_antialias() && separable && kernel != Kernel::Scalar {
        // The smoothed slices this slab reads, from the input slices their Gaussian reads
        // (bit for bit those of the whole volume), then resampled as any slab.
        let inner = antialiased(opts);
        let smooth_need = bspline::Separable::new(plan, &inner).needs(zs.clone());
        let sigma = spline::antialias_sigma(plan);
        let smooth: Vec<f32> = spline::gaussian_slices(src, first, plan.input_shape, sigma, opts, smooth_need.clone())
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let z0 = zs.start;
        let mut report = spline_slices_from(&smooth, smooth_need.start, plan, &inner, zs, dst, exec, scratch)?;
        spline::clip_output(src, plan, opts, z0, dst);
        report.source = source;
        return Ok(report);
    }
    if opts.get_antialias() {
        // The oracle and the general path smooth the whole input (`need` was every slice):
        // resampled whole.
        let mut all = vec![0f32; plan.output_len()];
        let report = resample_spline_slice_into(src, plan, opts, &mut all, exec)?;
        dst.copy_from_slice(&all[zs.start * mx * my..zs.end * mx * my]);
        return Ok(report);
    }
    if kernel == Kernel::Scalar {
        // The oracle reads the whole input: `need` was every slice.
        spline::resample_spline_slices(src, plan, opts, zs, dst);
    } else if !separable {
        // The general path prefilters the whole input (every slice was needed) for any slab:
        // callers that stream should resample such grids whole.
        let mut all = vec![0f32; plan.output_len()];
        match kernel {
            Kernel::Wide => bspline::general::<T, simd::Wide>(src, plan, opts, &mut all, par, general::spline_wide),
            _ => bspline::general::<T, dispatch::Plain>(src, plan, opts, &mut all, par, general::spline_plain),
        }
        dst.copy_from_slice(&all[zs.start * mx * my..zs.end * mx * my]);
    } else {
        let k = bspline::Separable::new(plan, opts);
        let z0 = zs.start;
        match kernel {
            Kernel::Wide => k.slices::<T, simd::Wide>(src, first, zs, dst, scratch, par),
            _ => k.slices::<T, dispatch::Plain>(src, first, zs, dst, scratch, par),
        }
        spline::clip_output(src, plan, opts, z0, dst);
    }
    let path = if kernel == Kernel::Scalar || !separable { Path::General } else { Path::Separable };
    let threads = if kernel == Kernel::Scalar { 1 } else { threads };
    Ok(Report::new(kernel, threads, path, source))
}

/// The range `(min, max)` of the real values (`slope * stored + inter` with the options'
/// scaling) of `src`, NaN ignored; `None` when it holds no number. For
/// [`Sampling::input_range`].
pub fn real_range<T: Voxel>(src: &[T], opts: &Sampling) -> Option<(f32, f32)> {
    spline::input_range(src, opts)
}

/// B-spline resampling of a volume (any layout) into a new x-fastest `f32` array.
pub fn resample_spline<T: Voxel>(
    src: ArrayView3<'_, T>,
    plan: &Plan,
    opts: &Sampling,
    exec: Exec,
) -> Result<(Array3<f32>, Report)> {
    let data = fortran(&src);
    let mut out = vec![0f32; plan.output_len()];
    let report = resample_spline_slice_into(&data, plan, opts, &mut out, exec)?;
    Ok((into_array(out, plan)?, report))
}

/// Nearest-neighbour resampling under a boundary mode (scipy's order 0: the voxel at
/// `floor(x + 0.5)`, folded or clamped by `mode`, or `fill` outside with [`Mode::Constant`]), in
/// the stored type. Every kernel copies the same voxels (per-axis index tables when the map is
/// diagonal; the oracle and other maps index voxel by voxel), so all are bit-identical.
pub fn resample_nearest_mode_into<T: Voxel>(
    src: &[T],
    plan: &Plan,
    mode: Mode,
    fill: Option<T>,
    dst: &mut [T],
    exec: Exec,
) -> Result<Report> {
    check_buffers(plan, src.len(), dst.len())?;
    let fill = match (mode, fill) {
        (Mode::Constant, Some(f)) => f,
        (Mode::Constant, None) => return Err(ResampleError::BadParameter("mode constant needs a fill value".into())),
        (m, Some(_)) => {
            return Err(ResampleError::BadParameter(format!("a fill value applies to mode constant, not to mode {m}")));
        }
        (_, None) => T::default(),
    };
    let (kernel, runs, threads, source) = split_for(exec, 0..plan.grid.shape[2], dst.len());
    let tables = kernel != Kernel::Scalar && plan.map.is_diagonal();
    let plane = plan.grid.shape[0] * plan.grid.shape[1];
    let par = threads > 1 && kernel != Kernel::Scalar;
    parallel::for_runs(dst, 0..plan.grid.shape[2], &runs, plane, par, |zs, out| {
        spline::nearest_mode(src, plan, mode, fill, out, zs, tables)
    });
    let path = if tables { Path::Separable } else { Path::General };
    let threads = if kernel == Kernel::Scalar { 1 } else { threads };
    let mut report = Report::new(kernel, threads, path, source);
    report.isa = Isa::target();
    Ok(report)
}

/// One-hot resampling of a label map (see [`onehot`]: each label's mask interpolated with the
/// options' orders, 0 or 1 per axis, and mode; the highest score wins, nnU-Net's tie rule) into
/// `dst`, in the stored type. `fill`: the label beyond the edge with [`Mode::Constant`], or
/// without a mode outside the voxel boxes (SimpleITK's rule). Every kernel computes the same
/// votes (plain code), so all are bit-identical; threads split runs of output slices.
pub fn resample_onehot_into<T: Voxel>(
    src: &[T],
    plan: &Plan,
    opts: &Sampling,
    fill: Option<T>,
    dst: &mut [T],
    exec: Exec,
) -> Result<Report> {
    check_buffers(plan, src.len(), dst.len())?;
    let opts = opts.fill(fill.map(|f| f.to_f32()));
    onehot::check(&opts)?;
    let fill = onehot::fill_label(&opts, fill)?;
    let (kernel, runs, threads, source) = split_for(exec, 0..plan.grid.shape[2], dst.len());
    let plane = plan.grid.shape[0] * plan.grid.shape[1];
    let par = threads > 1 && kernel != Kernel::Scalar;
    parallel::for_runs(dst, 0..plan.grid.shape[2], &runs, plane, par, |zs, out| {
        onehot::slices(src, plan, &opts, fill, zs, out)
    });
    let path = if plan.map.is_diagonal() { Path::Separable } else { Path::General };
    let threads = if kernel == Kernel::Scalar { 1 } else { threads };
    let mut report = Report::new(kernel, threads, path, source);
    report.isa = Isa::target();
    Ok(report)
}

/// [`resample_onehot_into`] for output slices `zs` only, into `dst` (those slices), on the
/// calling thread; `src` is the whole label map. The values the whole call gives them.
pub fn resample_onehot_slices_into<T: Voxel>(
    src: &[T],
    plan: &Plan,
    opts: &Sampling,
    fill: Option<T>,
    zs: std::ops::Range<usize>,
    dst: &mut [T],
) -> Result<()> {
    let [mx, my, mz] = plan.grid.shape;
    if src.len() != plan.input_shape.iter().product::<usize>()
        || zs.start > zs.end
        || zs.end > mz
        || dst.len() != zs.len() * mx * my
    {
        return Err(ResampleError::BadGeometry(format!(
            "buffers of {} and {} values for slices {zs:?} of {:?} from {:?}",
            src.len(),
            dst.len(),
            plan.grid.shape,
            plan.input_shape
        )));
    }
    let opts = opts.fill(fill.map(|f| f.to_f32()));
    onehot::check(&opts)?;
    let fill = onehot::fill_label(&opts, fill)?;
    onehot::slices(src, plan, &opts, fill, zs, dst);
    Ok(())
}

fn into_array<T>(data: Vec<T>, plan: &Plan) -> Result<Array3<T>> {
    let [a, b, c] = plan.grid.shape;
    Array3::from_shape_vec((a, b, c).f(), data).map_err(|e| ResampleError::BadGeometry(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps() {
        assert_eq!(linear_tap(-3.0, 5, false), Tap { i0: 0, i1: 0, w: 0.0, inside: true });
        assert_eq!(linear_tap(9.0, 5, false), Tap { i0: 4, i1: 4, w: 0.0, inside: true });
        assert_eq!(linear_tap(2.0, 5, false), Tap { i0: 2, i1: 2, w: 0.0, inside: true });
        assert_eq!(linear_tap(2.25, 5, false), Tap { i0: 2, i1: 3, w: 0.25, inside: true });
        assert!(linear_tap(-0.5, 5, true).inside);
        assert_eq!(linear_tap(-0.25, 5, true), Tap { i0: 0, i1: 0, w: 0.0, inside: true });
        assert!(!linear_tap(-0.5000001, 5, true).inside);
        assert!(!linear_tap(4.5, 5, true).inside);
        assert_eq!(linear_tap(4.4, 5, true), Tap { i0: 4, i1: 4, w: 0.0, inside: true });
        assert_eq!(linear_tap(0.7, 1, false), Tap { i0: 0, i1: 0, w: 0.0, inside: true });
        assert_eq!(nearest_index(1.5, 5, false), Some(2));
        assert_eq!(nearest_index(1.49, 5, false), Some(1));
        assert_eq!(nearest_index(-7.0, 5, false), Some(0));
        assert_eq!(nearest_index(70.0, 5, false), Some(4));
        assert_eq!(nearest_index(-0.6, 5, true), None);
        assert_eq!(nearest_index(4.49, 5, true), Some(4));
        assert_eq!(blend64(f64::INFINITY, f64::INFINITY, 0.5), f64::INFINITY);
        assert!(blend64(1.0, f64::NAN, 0.0).is_nan());
    }

    #[test]
    fn names() {
        assert_eq!("nearest".parse::<Interp>(), Ok(Interp::Nearest));
        assert_eq!("Linear".parse::<Interp>(), Ok(Interp::Linear));
        assert_eq!("cubic".parse::<Interp>(), Ok(Interp::Cubic));
        assert!("quadratic".parse::<Interp>().is_err());
        for c in GridConvention::ALL {
            assert_eq!(c.to_string().parse::<GridConvention>(), Ok(c));
        }
    }

    /// Slices computed in any range give the whole run's values, for both kernels, on a
    /// separable grid with exact .5 ties and on an oblique one.
    #[test]
    fn nearest_slices_match_the_whole_volume() {
        let shape = [7, 5, 9];
        let src: Vec<i16> = (0..7 * 5 * 9).map(|i| (i * 37 % 101) as i16).collect();
        let a = Affine::from_spacing_origin([1.0, 1.0, 2.0], [0.0; 3]);
        let (s, c) = (0.3f64.sin(), 0.3f64.cos());
        let oblique = Grid {
            shape: [6, 6, 11],
            affine: Affine::from_rows([
                [c, -s, 0.0, 0.5],
                [s, c, 0.0, -0.5],
                [0.0, 0.0, 1.0, 1.0],
                [0.0, 0.0, 0.0, 1.0],
            ]),
        };
        let plans = [
            plan_spacing(shape, &a, [0.5, 0.5, 1.0], GridConvention::FirstCentre).expect("plan"),
            plan_like(shape, &a, oblique).expect("plan"),
        ];
        for plan in &plans {
            let [mx, my, mz] = plan.grid.shape;
            for kernel in [Kernel::Scalar, Kernel::Wide, Kernel::Dispatched] {
                let mut whole = vec![0i16; plan.output_len()];
                resample_nearest_slice_into(&src, plan, Some(-1), &mut whole, Exec::new().kernel(kernel))
                    .expect("runs");
                for cut in [1, 3, mz - 1] {
                    for zs in [0..cut, cut..mz] {
                        let mut part = vec![0i16; zs.len() * mx * my];
                        resample_nearest_slices_into(&src, plan, Some(-1), zs.clone(), &mut part, kernel)
                            .expect("runs");
                        assert_eq!(part, whole[zs.start * mx * my..zs.end * mx * my], "{kernel:?} {zs:?}");
                    }
                }
            }
        }
        let mut wrong = vec![0i16; 3];
        assert!(resample_nearest_slices_into(&src, &plans[0], None, 0..1, &mut wrong, Kernel::Scalar).is_err());
    }
}
