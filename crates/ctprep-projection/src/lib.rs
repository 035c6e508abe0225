//! Sliding thick-slab projections (MIP, MinIP, mean) along any axis, at a cost per voxel that
//! does not grow with the slab thickness, and whole-axis projections.
//!
//! Output slice `j` reduces the input slices of its window along the axis:
//!
//! | alignment | window of output `j` (anchor `p = j * stride`) |
//! |---|---|
//! | `start` | `p ..= p + k - 1` (the classic recipe) |
//! | `centre` | `p - k/2 ..= p - k/2 + k - 1` (`scipy.ndimage.maximum_filter1d`, origin 0) |
//!
//! | edges | output slices | windows that leave the volume |
//! |---|---|---|
//! | `shrink` | `ceil(n / stride)` | truncated to the volume (max/min equal scipy's `mode='nearest'`) |
//! | `valid` | only full windows: `(n - k) / stride + 1` | not produced (`k > n` is an error) |
//! | `zero` | `ceil(n / stride)` | 0, and so is any window reaching the last slice: exactly the classic `for i in range(n - k)` loop, which leaves slices `n - k .. n - 1` at 0 |
//!
//! Reductions follow numpy: NaN in a window gives NaN (max, min and mean alike). `-0.0` is
//! read as `+0.0`, so the result never depends on the order of reduction.
//!
//! ```
//! use ctprep_projection::{Align, Edges, Exec, Reduce, SlabProjection, project};
//! use ndarray::{Array3, ShapeBuilder};
//!
//! let ct = Array3::from_shape_fn((4, 3, 10).f(), |(x, y, z)| (x + y + z) as f32);
//! let mip = SlabProjection::new(5).reduce(Reduce::Max).align(Align::Start).edges(Edges::Zero);
//! let (out, report) = project(ct.view(), &mip, Exec::default())?;
//! println!("{report}"); // "dispatched (avx2), 1 thread"
//! assert_eq!(out.dim(), (4, 3, 10));
//! assert_eq!(out[[0, 0, 0]], 4.0); // max of slices 0..=4
//! assert_eq!(out[[0, 0, 5]], 0.0); // the classic recipe leaves the last k slices at 0
//! # Ok::<(), ctprep_projection::ProjectionError>(())
//! ```
//!
//! # How to choose a kernel
//! [`Exec`] holds two knobs, the single-thread [`Kernel`] and the [`Threads`]:
//! - [`Kernel::Scalar`] ([`scalar`]): the naive loop over the k slices of every window,
//!   O(n k): the oracle, always on one thread.
//! - [`Kernel::Wide`] ([`simd`]): van Herk / Gil-Werman for max and min (a running prefix and
//!   suffix per block of k slices; each window is one max of a suffix and a prefix: 3
//!   operations per voxel whatever k), prefix sums in `f64` for the mean, on `wide` `f32x8` rows.
//! - [`Kernel::Dispatched`] ([`dispatch`]): the same O(1) kernel with its row operations as
//!   plain loops compiled per instruction set and chosen at run time, streaming stores for
//!   large outputs. [`Kernel::Auto`] (the default) runs these.
//!
//! [`Threads::One`] keeps the call on the calling thread; [`Threads::Auto`] (the default)
//! splits inputs of at least [`ctprep_core::PARALLEL_MIN_VOXELS`] voxels over the rayon pool
//! ([`parallel`]: by column ranges or runs of tasks, four jobs per thread); [`Threads::Count`]
//! always splits. The [`Report`] names the kernel, its instruction set and the threads.
//!
//! Along an axis whose rows are shorter than 32 values (x, the contiguous axis: a C-order numpy
//! array's last), the fast kernels run on tiles transposed to 128-value rows and back, the same
//! arithmetic per voxel: 13x faster than row operations on single values (`mip_k05_x` in the
//! projection bench; see docs/BENCHMARKS.md).
//!
//! Max and min are bit-identical across kernels; the mean agrees within 1e-6 of the largest
//! magnitude in the volume (prefix sums in `f64` reassociate the additions). A caller that
//! projects slab after slab keeps a [`Projector`], which owns the scratch rows.
#![deny(unsafe_code)] // Only `multiversion`'s generated dispatch (see `dispatch.rs`) needs it.

pub mod dispatch;
pub mod parallel;
pub mod scalar;
pub mod simd;
pub mod stream;
mod tiled;

use std::fmt;
use std::str::FromStr;

use ctprep_core::Affine;
use ndarray::{Array3, ArrayView3, ShapeBuilder};

use ctprep_core::Stage;
pub use ctprep_core::{Exec, Isa, Kernel, Source, Threads, Variant};

/// An invalid projection request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// k or stride of 0, or a slab thickness that is not positive and finite.
    #[error("{0}")]
    BadParameter(String),
    /// `valid` edges with a window longer than the axis.
    #[error("slab of {k} slices is longer than the {n} slices along the axis: `valid` edges leave no full window")]
    NoFullWindow {
        /// Window length.
        k: usize,
        /// Axis length.
        n: usize,
    },
}

type Result<T, E = ProjectionError> = std::result::Result<T, E>;

/// A voxel axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Axis3 {
    /// The first index (i).
    X,
    /// The second index (j).
    Y,
    /// The third index (k): axial slices in most CT.
    #[default]
    Z,
}

impl Axis3 {
    /// 0, 1 or 2.
    pub fn index(self) -> usize {
        match self {
            Axis3::X => 0,
            Axis3::Y => 1,
            Axis3::Z => 2,
        }
    }
}

impl FromStr for Axis3 {
    type Err = ProjectionError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "x" | "0" => Ok(Axis3::X),
            "y" | "1" => Ok(Axis3::Y),
            "z" | "2" => Ok(Axis3::Z),
            _ => Err(ProjectionError::BadParameter(format!("axis {s:?}: expected x, y or z"))),
        }
    }
}

/// How a window's values become one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Reduce {
    /// Maximum intensity projection.
    #[default]
    Max,
    /// Minimum intensity projection.
    Min,
    /// Mean.
    Mean,
}

/// Where a window sits relative to its output slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Align {
    /// Window `p ..= p + k - 1`.
    #[default]
    Start,
    /// Window centred on `p` (for even k, one more slice before `p` than after).
    Centre,
}

/// What happens to windows that leave the volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Edges {
    /// Truncate them.
    #[default]
    Shrink,
    /// Drop them: only full windows.
    Valid,
    /// Set them to 0, as the classic recipe does (see the crate docs).
    Zero,
}

macro_rules! named {
    ($t:ty, $($v:ident = $n:literal),*) => {
        impl FromStr for $t {
            type Err = ProjectionError;
            fn from_str(s: &str) -> Result<Self> {
                $(if s.eq_ignore_ascii_case($n) { return Ok(<$t>::$v); })*
                Err(ProjectionError::BadParameter(format!("{s:?}: expected one of {}", [$($n),*].join(", "))))
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $(<$t>::$v => $n),* })
            }
        }
    };
}
named!(Reduce, Max = "max", Min = "min", Mean = "mean");
named!(Align, Start = "start", Centre = "centre");
named!(Edges, Shrink = "shrink", Valid = "valid", Zero = "zero");

/// A sliding-slab projection. Every setter's doc gives its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlabProjection {
    k: usize,
    axis: Axis3,
    reduce: Reduce,
    align: Align,
    edges: Edges,
    stride: usize,
}

impl SlabProjection {
    /// A slab of `k` slices (at least 1). Defaults: axis z, max, start, shrink, stride 1.
    pub fn new(k: usize) -> SlabProjection {
        SlabProjection {
            k: k.max(1),
            axis: Axis3::Z,
            reduce: Reduce::Max,
            align: Align::Start,
            edges: Edges::Shrink,
            stride: 1,
        }
    }

    /// The number of slices in a slab `slab_mm` thick with slices `spacing_mm` apart:
    /// `round(slab_mm / spacing_mm)` (halves away from zero), at least 1.
    pub fn slices_for_mm(slab_mm: f64, spacing_mm: f64) -> Result<usize> {
        if !(slab_mm.is_finite() && slab_mm > 0.0 && spacing_mm.is_finite() && spacing_mm > 0.0) {
            return Err(ProjectionError::BadParameter(format!(
                "slab {slab_mm} mm with slices {spacing_mm} mm apart: both must be positive and finite"
            )));
        }
        Ok(((slab_mm / spacing_mm).round() as usize).max(1))
    }

    /// The axis (default z).
    pub fn axis(mut self, axis: Axis3) -> Self {
        self.axis = axis;
        self
    }
    /// The reduction (default max).
    pub fn reduce(mut self, reduce: Reduce) -> Self {
        self.reduce = reduce;
        self
    }
    /// The alignment (default start).
    pub fn align(mut self, align: Align) -> Self {
        self.align = align;
        self
    }
    /// The edge rule (default shrink).
    pub fn edges(mut self, edges: Edges) -> Self {
        self.edges = edges;
        self
    }
    /// Output every `stride`-th slice (default 1; 0 is read as 1).
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride.max(1);
        self
    }

    /// Slab thickness in slices.
    pub fn k(&self) -> usize {
        self.k
    }
    /// The axis.
    pub fn get_axis(&self) -> Axis3 {
        self.axis
    }
    /// The reduction.
    pub fn get_reduce(&self) -> Reduce {
        self.reduce
    }
    /// The alignment.
    pub fn get_align(&self) -> Align {
        self.align
    }
    /// The edge rule.
    pub fn get_edges(&self) -> Edges {
        self.edges
    }
    /// The stride.
    pub fn get_stride(&self) -> usize {
        self.stride
    }

    /// This projection for an axis of `n` slices, its thickness cut to what can change a
    /// window: every window of a slab of 2n + 1 or more slices already spans the whole axis
    /// (shrunk), or none is full (`zero`, `valid`), so a thicker slab gives the same windows and
    /// the same output, and keeps its parity (the output affine of an even centred slab sits
    /// half a slice earlier). The kernels run on this, so an absurd thickness (`--slab
    /// 18446744073709551615`, or millimetres over a near-zero spacing) costs nothing.
    pub fn for_slices(&self, n: usize) -> SlabProjection {
        let cap = 2 * n.max(1) + 1;
        let k = if self.k <= cap { self.k } else { cap + usize::from(self.k.is_multiple_of(2)) };
        SlabProjection { k, ..*self }
    }

    /// The number of output slices for `n` input slices.
    pub fn output_len(&self, n: usize) -> Result<usize> {
        match self.edges {
            Edges::Valid if self.k > n => Err(ProjectionError::NoFullWindow { k: self.k, n }),
            Edges::Valid => Ok((n - self.k) / self.stride + 1),
            _ => Ok(n.div_ceil(self.stride)),
        }
    }

    /// The anchor slice `p` of output `j`.
    fn anchor(&self, j: usize) -> isize {
        let h = if self.align == Align::Centre { (self.k / 2) as isize } else { 0 };
        let first = if self.edges == Edges::Valid { h } else { 0 };
        first + (j * self.stride) as isize
    }

    /// The input slice output `j` is anchored at: the first slice of its window (`start`
    /// alignment) or the slice `k / 2` after it (`centre`), before truncation at the ends. It
    /// grows with `j`, by the stride.
    pub fn anchor_slice(&self, j: usize) -> usize {
        // `first` is 0 or k / 2: never negative.
        self.anchor(j) as usize
    }

    /// The input slices `s ..= e` that output `j` reduces, or `None` when it is 0 (`zero`
    /// edges). `n` input slices.
    pub fn window(&self, j: usize, n: usize) -> Option<(usize, usize)> {
        let this = self.for_slices(n);
        let h = if this.align == Align::Centre { (this.k / 2) as isize } else { 0 };
        let s = this.anchor(j) - h;
        let e = s + this.k as isize - 1;
        match self.edges {
            // The classic loop `for i in range(n - k)`: full windows that end before the last slice.
            Edges::Zero => (s >= 0 && e < n as isize - 1).then_some((s as usize, e as usize)),
            _ => Some((s.max(0) as usize, e.min(n as isize - 1) as usize)),
        }
    }

    /// All windows, for `n` input slices.
    pub fn windows(&self, n: usize) -> Result<Vec<Option<(usize, usize)>>> {
        Ok((0..self.output_len(n)?).map(|j| self.window(j, n)).collect())
    }

    /// The continuous input index along the axis that output slice `j` sits at: the window's
    /// centre for `centre` alignment, the anchor slice for `start` alignment and `zero` edges
    /// (so the output overlays the input slice it starts at, like the classic recipe).
    pub fn output_position(&self, j: usize) -> f64 {
        let p = self.anchor(j) as f64;
        if self.align == Align::Centre && self.edges != Edges::Zero && self.k.is_multiple_of(2) { p - 0.5 } else { p }
    }

    /// The output affine: the input's, with the axis column scaled by the stride and the origin
    /// moved to output slice 0's position, so the output overlays the input in any viewer.
    pub fn output_affine(&self, affine: &Affine) -> Affine {
        let a = self.axis.index();
        let mut m = Affine::IDENTITY;
        m.0[a][a] = self.stride as f64;
        m.0[a][3] = self.output_position(0);
        affine.matmul(&m)
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
    /// Whether a window read a NaN or an infinity: the column chunks that did were redone with
    /// the naive loop, whose NaN semantics are numpy's. Found while the kernel reads its rows (no
    /// separate pass over the volume); always `false` for `scalar`, which has no fast path to leave.
    pub non_finite: bool,
    /// Where the kernel and threads came from (what was asked, the profile, the fallback).
    pub source: Source,
}

impl fmt::Display for Report {
    /// `dispatched (avx2), 4 threads`, and `, NaN/inf present: exact fallback` when it applies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.threads == 1 { "" } else { "s" };
        write!(f, "{} ({}), {} thread{s}", self.kernel, self.isa.name(), self.threads)?;
        if self.non_finite {
            f.write_str(", NaN/inf present: exact fallback")?;
        }
        Ok(())
    }
}

/// Reusable state of projections: the O(1) kernel's scratch rows (up to a few MiB per task),
/// kept from call to call.
///
/// A caller that projects slab after slab (`ctprep run`: one slab per rayon worker) keeps one
/// `Projector` per worker, so every call reuses memory already faulted in; the free functions
/// ([`project_slice_into`], [`project`]) make a fresh one per call. Results never depend on
/// what an earlier call left in it.
#[derive(Debug, Default)]
pub struct Projector {
    /// One scratch per job of the last split (one for a single thread).
    scratch: Vec<simd::Scratch>,
}

impl Projector {
    /// A projector holding no memory yet.
    pub fn new() -> Projector {
        Projector::default()
    }

    /// As [`project_slice_into`], with this projector's scratch.
    pub fn project_slice_into(
        &mut self,
        src: &[f32],
        shape: [usize; 3],
        p: &SlabProjection,
        dst: &mut [f32],
        exec: Exec,
    ) -> Result<Report> {
        let n = shape[p.axis.index()];
        let m = p.output_len(n)?;
        let p = &p.for_slices(n);
        let (inner, _, outer) = split(shape, p.axis);
        if src.len() != inner * n * outer || dst.len() != inner * m * outer {
            return Err(ProjectionError::BadParameter(format!(
                "buffers of {} and {} values do not fit shape {shape:?} projected to {m} slices",
                src.len(),
                dst.len()
            )));
        }
        let planned = exec.plan(Stage::Mip, src.len(), rayon::current_num_threads());
        let kernel = if planned.kernel == Kernel::Auto { Kernel::Dispatched } else { planned.kernel };
        let threads = planned.threads;
        let windows = p.windows(n)?;
        let dims = (inner, n, outer);
        if self.scratch.is_empty() {
            self.scratch.push(simd::Scratch::default());
        }
        let isa = if kernel == Kernel::Dispatched { Isa::detected() } else { Isa::target() };
        if kernel != Kernel::Scalar && tiled::worth_it(dims) {
            let (bad, jobs) = if kernel == Kernel::Wide {
                tiled::project::<simd::Wide>(src, dims, p, &windows, dst, threads, &mut self.scratch)
            } else {
                tiled::project::<dispatch::Plain>(src, dims, p, &windows, dst, threads, &mut self.scratch)
            };
            return Ok(Report { kernel, isa, threads: threads.min(jobs), non_finite: bad, source: planned.source });
        }
        let one = &mut self.scratch[0];
        let (non_finite, threads) = match (kernel, threads) {
            (Kernel::Scalar, _) => {
                scalar::project(src, dims, &windows, p.reduce, dst);
                (false, 1)
            }
            (Kernel::Wide, 1) => (simd::project_with::<simd::Wide>(src, dims, p, &windows, dst, one), 1),
            (_, 1) => (simd::project_with::<dispatch::Plain>(src, dims, p, &windows, dst, one), 1),
            (Kernel::Wide, t) => {
                let (bad, jobs) =
                    parallel::project_with::<simd::Wide>(src, dims, p, &windows, dst, t, &mut self.scratch);
                (bad, t.min(jobs))
            }
            (_, t) => {
                let (bad, jobs) =
                    parallel::project_with::<dispatch::Plain>(src, dims, p, &windows, dst, t, &mut self.scratch);
                (bad, t.min(jobs))
            }
        };
        Ok(Report { kernel, isa, threads, non_finite, source: planned.source })
    }
}

/// The volume as x-fastest contiguous values: borrowed when it already is, else copied.
fn fortran<'a>(src: &'a ArrayView3<'_, f32>) -> std::borrow::Cow<'a, [f32]> {
    if let Some(s) = src.t().to_slice() {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut owned = Array3::<f32>::zeros(src.raw_dim().f());
    owned.assign(src);
    std::borrow::Cow::Owned(owned.into_raw_vec_and_offset().0)
}

/// The shape as (inner, n, outer): values before the axis, along it, after it.
pub(crate) fn split(shape: [usize; 3], axis: Axis3) -> (usize, usize, usize) {
    let a = axis.index();
    let inner: usize = shape[..a].iter().product();
    let outer: usize = shape[a + 1..].iter().product();
    (inner, shape[a], outer)
}

/// Projects `src` into `dst`, an x-fastest buffer of the output shape (the input's, with the
/// axis of length [`SlabProjection::output_len`]), as `exec` says (see the crate docs).
pub fn project_slice_into(
    src: &[f32],
    shape: [usize; 3],
    p: &SlabProjection,
    dst: &mut [f32],
    exec: Exec,
) -> Result<Report> {
    Projector::new().project_slice_into(src, shape, p, dst, exec)
}

/// Projects a volume (any layout) into a new x-fastest array.
pub fn project(src: ArrayView3<'_, f32>, p: &SlabProjection, exec: Exec) -> Result<(Array3<f32>, Report)> {
    let shape = [src.dim().0, src.dim().1, src.dim().2];
    let mut out_shape = shape;
    out_shape[p.axis.index()] = p.output_len(shape[p.axis.index()])?;
    let data = fortran(&src);
    let mut out = vec![0f32; out_shape.iter().product()];
    let report = project_slice_into(&data, shape, p, &mut out, exec)?;
    let arr = Array3::from_shape_vec((out_shape[0], out_shape[1], out_shape[2]).f(), out)
        .map_err(|e| ProjectionError::BadParameter(e.to_string()))?;
    Ok((arr, report))
}

/// The whole-axis projection of an axis of `n` slices: one window covering it, giving a
/// volume with that axis of length 1. Place it with [`whole_axis_affine`].
pub fn whole_axis(axis: Axis3, reduce: Reduce, n: usize) -> SlabProjection {
    SlabProjection::new(n.max(1)).axis(axis).reduce(reduce).align(Align::Start).edges(Edges::Valid)
}

/// The affine of a whole-axis projection: the single slice sits at the centre of the axis.
pub fn whole_axis_affine(affine: &Affine, axis: Axis3, n: usize) -> Affine {
    let a = axis.index();
    let mut m = Affine::IDENTITY;
    m.0[a][3] = (n as f64 - 1.0) / 2.0;
    affine.matmul(&m)
}

/// The examples of this crate's README.md, compiled as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[cfg(test)]
mod thickness_tests {
    use super::*;

    /// Past 2n + 1 slices a thicker slab changes neither a window nor the output affine, and
    /// the cut keeps small slabs as they are.
    #[test]
    fn slabs_thicker_than_twice_the_axis_are_cut_without_changing_anything() {
        let affine = Affine::from_spacing_origin([0.8, 0.8, 2.5], [1.0, 2.0, 3.0]);
        for n in [1, 2, 3, 7, 10] {
            for align in [Align::Start, Align::Centre] {
                for edges in [Edges::Shrink, Edges::Zero] {
                    for stride in [1, 3] {
                        for k in
                            [1, 2, 5, 2 * n, 2 * n + 1, 2 * n + 2, 2 * n + 3, 999, 1000, usize::MAX - 1, usize::MAX]
                        {
                            let p = SlabProjection::new(k).align(align).edges(edges).stride(stride);
                            let cut = p.for_slices(n);
                            assert!(cut.k() <= 2 * n + 2 && cut.k() % 2 == k % 2, "{n} {k}");
                            if k <= 2 * n + 1 {
                                assert_eq!(cut, p);
                            }
                            // The reference: a slab of 4n + 4 slices of the same parity, small
                            // enough for the plain window arithmetic.
                            let wide = SlabProjection::new(4 * n + 4 + k % 2).align(align).edges(edges).stride(stride);
                            if k > 2 * n + 1 {
                                assert_eq!(p.windows(n).ok(), wide.windows(n).ok(), "{n} {k} {align} {edges}");
                                assert_eq!(p.output_affine(&affine), wide.output_affine(&affine), "{n} {k}");
                            }
                            assert_eq!(cut.windows(n).ok(), p.windows(n).ok(), "{n} {k} {align} {edges}");
                        }
                    }
                }
            }
        }
    }
}
