//! CT intensity windowing: clip Hounsfield units to a window and map them linearly to an output
//! range, in one pass straight from the stored type (with its `scl_slope` / `scl_inter`).
//!
//! `y = a + (clamp(v, lo, hi) - lo) / (hi - lo) * (b - a)`, default `[a, b] = [0, 1]`; NaN in, NaN
//! out (as `np.clip`). Integer outputs (u8, u16) map the window onto their full range and round
//! to nearest, ties to even (`np.rint`); NaN becomes 0.
//!
//! ```
//! use ctprep_intensity::{Exec, Range, Window, WindowMap, window_slice_into};
//!
//! // int16 stored values with scl_inter = -1024, the classic -100..1000 HU window, to [0, 1].
//! let stored: Vec<i16> = vec![0, 924, 1024, 2024, 3000];
//! let map = WindowMap::new(Window::new(-100.0, 1000.0)?, Range::UNIT, Some((1.0, -1024.0)))?;
//! let mut out = vec![0f32; stored.len()];
//! let report = window_slice_into(&stored, &mut out, &map, Exec::default())?;
//! assert_eq!(out, [0.0, 0.0, 100.0 / 1100.0, 1.0, 1.0]);
//! assert_eq!(report.threads, 1); // five voxels never leave the calling thread
//! println!("ran {report}"); // "dispatched (avx2), 1 thread"
//! # Ok::<(), ctprep_intensity::IntensityError>(())
//! ```
//!
//! # How to choose a kernel
//! [`Exec`] holds two knobs: the single-thread [`Kernel`] and the [`Threads`]. Every kernel
//! computes the same `f64` operations in the same order (no fused multiply-add), so all are
//! bit-identical to the oracle, and all are within one f32 ulp of numpy's float64 recipe
//! rounded to float32, fractional slopes included. They differ in speed only:
//! - [`Kernel::Scalar`] ([`scalar`]): the plain per-voxel loop, the oracle; always one thread.
//! - [`Kernel::Wide`] ([`simd`]): the same arithmetic on `wide` `f64x4` vectors, whose width
//!   is fixed when compiling ([`Isa::target`]).
//! - [`Kernel::Dispatched`] ([`dispatch`]): the oracle's own loop compiled per instruction set
//!   and chosen at run time (AVX-512 / AVX2 in a portable binary).
//! - [`Kernel::Auto`] (the default): the fastest exact one: for 8/16-bit inputs a table of the
//!   oracle's output for every value ([`lut`]), or for 8/16-bit to u8 an integer kernel verified
//!   against the oracle on every possible input ([`int16`]); the dispatched loop otherwise.
//!
//! [`Threads::One`] keeps the call on the calling thread (for callers that already run calls
//! side by side); [`Threads::Auto`] (the default) splits large buffers over the rayon pool in
//! chunks ([`parallel`]); [`Threads::Count`] always splits. The [`Report`] names the kernel
//! that ran ([`RanKernel`]), its instruction set and the threads.
#![deny(unsafe_code)] // Only `multiversion`'s generated dispatch (see `dispatch.rs`) needs it.

pub mod dispatch;
pub mod int16;
pub mod lut;
pub mod parallel;
pub mod scalar;
pub mod simd;
mod stats;

use std::fmt;

use ndarray::{Array3, ArrayView3, ArrayViewMut3, Axis, ShapeBuilder};

use ctprep_core::Stage;
pub use ctprep_core::{Exec, Isa, Kernel, Source, Threads, Variant, Voxel};
pub use stats::WindowStats;

/// An invalid window, range, scaling or buffer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum IntensityError {
    /// `lo >= hi`, or a bound is not finite.
    #[error("window {lo}..{hi}: need finite bounds with lo < hi and a finite width")]
    BadWindow {
        /// Lower bound (HU).
        lo: f64,
        /// Upper bound (HU).
        hi: f64,
    },
    /// A level/width pair with a width that is not positive and finite.
    #[error("level {level}, width {width}: need a finite level and a positive, finite width")]
    BadLevelWidth {
        /// Window centre.
        level: f64,
        /// Window width.
        width: f64,
    },
    /// An output range with a non-finite bound.
    #[error("output range {a}..{b}: need finite bounds and a finite span")]
    BadRange {
        /// Value for the window's lower bound.
        a: f64,
        /// Value for the window's upper bound.
        b: f64,
    },
    /// A scaling whose slope is zero or not finite, or whose intercept is not finite.
    #[error("scaling slope {slope}, intercept {inter}: need a finite, non-zero slope and a finite intercept")]
    BadScaling {
        /// `scl_slope`.
        slope: f64,
        /// `scl_inter`.
        inter: f64,
    },
    /// A preset name that is not one of [`PRESETS`].
    #[error("unknown window preset {0:?}: expected one of {names}", names = preset_names())]
    UnknownPreset(String),
    /// Input and output sizes differ.
    #[error("input has shape {input:?} but the output has shape {output:?}")]
    ShapeMismatch {
        /// Input shape.
        input: Vec<usize>,
        /// Output shape.
        output: Vec<usize>,
    },
}

type Result<T, E = IntensityError> = std::result::Result<T, E>;

/// A HU window `[lo, hi]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    lo: f64,
    hi: f64,
}

impl Window {
    /// The window `[lo, hi]`; `lo < hi`, both finite, and so its width (`-1e308..1e308` would
    /// map every value to 0 through an infinite width).
    pub fn new(lo: f64, hi: f64) -> Result<Window> {
        if !(lo.is_finite() && hi.is_finite() && lo < hi && (hi - lo).is_finite()) {
            return Err(IntensityError::BadWindow { lo, hi });
        }
        Ok(Window { lo, hi })
    }

    /// The window centred on `level` with total `width`: `[level - width/2, level + width/2]`
    /// (the form deep-learning pipelines use; DICOM's VOI LUT shifts both ends by half a unit).
    pub fn from_level_width(level: f64, width: f64) -> Result<Window> {
        if !(level.is_finite() && width.is_finite() && width > 0.0) {
            return Err(IntensityError::BadLevelWidth { level, width });
        }
        Window::new(level - width / 2.0, level + width / 2.0)
    }

    /// A named window from [`PRESETS`] (case-insensitive).
    pub fn preset(name: &str) -> Result<Window> {
        let p = PRESETS
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| IntensityError::UnknownPreset(name.to_owned()))?;
        Window::new(p.lo, p.hi)
    }

    /// The lower bound (HU).
    pub fn lo(&self) -> f64 {
        self.lo
    }

    /// The upper bound (HU).
    pub fn hi(&self) -> f64 {
        self.hi
    }
}

/// A named window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preset {
    /// Name used by `--preset`.
    pub name: &'static str,
    /// Lower bound (HU).
    pub lo: f64,
    /// Upper bound (HU).
    pub hi: f64,
    /// What it shows.
    pub shows: &'static str,
}

/// The named windows, as level/width in the usual radiology values (lo = L - W/2, hi = L + W/2).
pub const PRESETS: [Preset; 8] = [
    Preset { name: "classic", lo: -100.0, hi: 1000.0, shows: "the classic deep-learning recipe's window" },
    Preset { name: "lung", lo: -1350.0, hi: 150.0, shows: "lung parenchyma (L -600, W 1500)" },
    Preset { name: "mediastinum", lo: -125.0, hi: 225.0, shows: "mediastinum (L 50, W 350)" },
    Preset { name: "soft-tissue", lo: -160.0, hi: 240.0, shows: "abdominal soft tissue (L 40, W 400)" },
    Preset { name: "bone", lo: -500.0, hi: 1300.0, shows: "bone (L 400, W 1800)" },
    Preset { name: "brain", lo: 0.0, hi: 80.0, shows: "brain (L 40, W 80)" },
    Preset { name: "liver", lo: -20.0, hi: 140.0, shows: "liver (L 60, W 160)" },
    Preset { name: "stroke", lo: 8.0, hi: 48.0, shows: "acute stroke (L 28, W 40)" },
];

fn preset_names() -> String {
    PRESETS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// The values the window's ends map to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// Value of `lo` and below.
    pub a: f64,
    /// Value of `hi` and above.
    pub b: f64,
}

impl Range {
    /// `[0, 1]`, the default.
    pub const UNIT: Range = Range { a: 0.0, b: 1.0 };

    /// The range `[a, b]` (both finite, and so `b - a`; `a > b` inverts the map).
    pub fn new(a: f64, b: f64) -> Result<Range> {
        if !(a.is_finite() && b.is_finite() && (b - a).is_finite()) {
            return Err(IntensityError::BadRange { a, b });
        }
        Ok(Range { a, b })
    }
}

impl Default for Range {
    fn default() -> Self {
        Range::UNIT
    }
}

/// The per-voxel map every variant computes, with its constants precomputed:
/// `x = v * slope + inter` (when scaled), `c = min(hi, max(lo, x))`, then
/// `y = a + ((c - lo) * (1 / (hi - lo))) * (b - a)` for float outputs, or
/// `y = a + ((c - lo) * (b - a)) / (hi - lo)` for integer outputs, all in `f64`; NaN stays NaN.
///
/// The integer form divides so that an exact half (a HU value on a rounding boundary, as
/// 110 HU into a 1100 HU window gives 25.5) is exactly representable and rounds half to even
/// every time; the reciprocal form would round such ties by accident of its last bit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowMap {
    pub(crate) scaled: bool,
    pub(crate) slope: f64,
    pub(crate) inter: f64,
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    pub(crate) width: f64,
    pub(crate) inv_width: f64,
    pub(crate) a: f64,
    pub(crate) span: f64,
}

/// 2^52: adding it to an `f64` in [0, 2^51) rounds it to an integer, ties to even, identically
/// in scalar and vector code, and leaves that integer in the low mantissa bits.
pub(crate) const ROUND_MAGIC: f64 = 4_503_599_627_370_496.0;

impl WindowMap {
    /// The map of `window` onto `range`, reading stored values scaled by `(slope, inter)`
    /// (`None`: the values are already real values).
    pub fn new(window: Window, range: Range, scaling: Option<(f64, f64)>) -> Result<WindowMap> {
        let (scaled, slope, inter) = match scaling {
            None => (false, 1.0, 0.0),
            Some((slope, inter)) => {
                if !(slope.is_finite() && slope != 0.0 && inter.is_finite()) {
                    return Err(IntensityError::BadScaling { slope, inter });
                }
                (!(slope == 1.0 && inter == 0.0), slope, inter)
            }
        };
        Ok(WindowMap {
            scaled,
            slope,
            inter,
            lo: window.lo,
            hi: window.hi,
            width: window.hi - window.lo,
            inv_width: 1.0 / (window.hi - window.lo),
            a: range.a,
            span: range.b - range.a,
        })
    }

    /// The map for an output type: `[0, 1]` for `f32` unless a range is given; the full
    /// range of `u8` / `u16` for those.
    pub fn for_output<O: Output>(
        window: Window,
        range: Option<Range>,
        scaling: Option<(f64, f64)>,
    ) -> Result<WindowMap> {
        WindowMap::new(window, O::RANGE.or(range).unwrap_or(Range::UNIT), scaling)
    }

    /// The oracle: one stored value to its mapped `f64`, for float outputs.
    #[inline(always)]
    pub fn apply(&self, v: f64) -> f64 {
        self.apply_as(v, false)
    }

    /// The oracle for float (`integer == false`) or integer outputs.
    #[inline(always)]
    pub fn apply_as(&self, v: f64, integer: bool) -> f64 {
        let x = if self.scaled { v * self.slope + self.inter } else { v };
        if x.is_nan() {
            return x;
        }
        // Written as the x86 `maxpd` / `minpd` instructions the vector code uses.
        let c = if self.lo > x { self.lo } else { x };
        let c = if self.hi < c { self.hi } else { c };
        if integer {
            self.a + ((c - self.lo) * self.span) / self.width
        } else {
            self.a + ((c - self.lo) * self.inv_width) * self.span
        }
    }
}

/// What windowing needs of a stored voxel type beyond [`Voxel`] (which gives the value as
/// `f64`): the 8- and 16-bit types' integer form and lookup-table index.
pub trait Sample: Voxel {
    /// The value as `i32` for the 8- and 16-bit types ([`int16`]); 0 for the others.
    fn to_i32(self) -> i32;
    /// For 8- and 16-bit types: the number of possible values and this value's index among
    /// them (see [`lut`]).
    const LUT_SIZE: Option<usize>;
    /// The index of this value in a lookup table of `LUT_SIZE` entries.
    fn lut_index(self) -> usize;
    /// The value at `index` of a lookup table.
    fn from_lut_index(index: usize) -> Self;
}

macro_rules! sample {
    ($t:ty, $lut:expr, $idx:expr, $from:expr) => {
        impl Sample for $t {
            #[inline(always)]
            fn to_i32(self) -> i32 {
                let lut: Option<usize> = $lut;
                if lut.is_some() { self as i32 } else { 0 }
            }
            const LUT_SIZE: Option<usize> = $lut;
            #[inline]
            fn lut_index(self) -> usize {
                let f: fn($t) -> usize = $idx;
                f(self)
            }
            #[inline]
            fn from_lut_index(index: usize) -> Self {
                let f: fn(usize) -> $t = $from;
                f(index)
            }
        }
    };
}
sample!(u8, Some(256), |v| v as usize, |i| i as u8);
sample!(i8, Some(256), |v| v as u8 as usize, |i| i as u8 as i8);
sample!(u16, Some(65536), |v| v as usize, |i| i as u16);
sample!(i16, Some(65536), |v| v as u16 as usize, |i| i as u16 as i16);
sample!(u32, None, |_| 0, |_| 0);
sample!(i32, None, |_| 0, |_| 0);
sample!(u64, None, |_| 0, |_| 0);
sample!(i64, None, |_| 0, |_| 0);
sample!(f32, None, |_| 0, |_| 0.0);
sample!(f64, None, |_| 0, |_| 0.0);

/// An output voxel type.
pub trait Output: Copy + Default + PartialEq + Send + Sync + 'static {
    /// The fixed output range of integer types (`None` for floats).
    const RANGE: Option<Range>;
    /// Whether the output is an integer type (rounded to nearest, ties to even).
    const INTEGER: bool;
    /// The output for a mapped value: cast for floats; for integers rounded half to even, NaN
    /// becoming 0.
    fn from_mapped(y: f64) -> Self;
    /// For integer outputs: `q` (in `[0, 2^22)`, not NaN) rounded half to even.
    fn from_small_f32(q: f32) -> Self;
}

/// Rounds `y` in `[0, 2^51)` half to even and returns the integer: adding 2^52 leaves it in the
/// low mantissa bits, so no float-to-integer conversion (which vectorises poorly) is needed.
#[inline(always)]
fn round_bits_f64(y: f64) -> u64 {
    (y + ROUND_MAGIC).to_bits() & 0xF_FFFF_FFFF_FFFF
}

/// The `f32` form of [`round_bits_f64`] for `q` in `[0, 2^22)`.
#[inline(always)]
fn round_bits_f32(q: f32) -> u32 {
    (q + 8_388_608.0).to_bits() & 0x7F_FFFF
}

impl Output for f32 {
    const RANGE: Option<Range> = None;
    const INTEGER: bool = false;
    #[inline(always)]
    fn from_mapped(y: f64) -> f32 {
        y as f32
    }
    #[inline(always)]
    fn from_small_f32(q: f32) -> f32 {
        q
    }
}

impl Output for u8 {
    const RANGE: Option<Range> = Some(Range { a: 0.0, b: 255.0 });
    const INTEGER: bool = true;
    #[inline(always)]
    fn from_mapped(y: f64) -> u8 {
        // y is within [0, 255] or NaN.
        if y.is_nan() { 0 } else { round_bits_f64(y) as u8 }
    }
    #[inline(always)]
    fn from_small_f32(q: f32) -> u8 {
        round_bits_f32(q) as u8
    }
}

impl Output for u16 {
    const RANGE: Option<Range> = Some(Range { a: 0.0, b: 65535.0 });
    const INTEGER: bool = true;
    #[inline(always)]
    fn from_mapped(y: f64) -> u16 {
        if y.is_nan() { 0 } else { round_bits_f64(y) as u16 }
    }
    #[inline(always)]
    fn from_small_f32(q: f32) -> u16 {
        round_bits_f32(q) as u16
    }
}

/// The single-thread kernel a call ran (alone, or on each rayon task).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RanKernel {
    /// The oracle loop ([`scalar`]).
    Scalar,
    /// `wide` vectors of the width fixed at compile time ([`simd`]).
    Wide,
    /// The oracle's loop compiled for the best instruction set found at run time ([`dispatch`]).
    Dispatched,
    /// A table of the oracle's output for every 8/16-bit value ([`lut`]).
    Table,
    /// Integer and f32 arithmetic for 8/16-bit values to u8, checked against the oracle for every
    /// possible input before use ([`int16`]), compiled like [`RanKernel::Dispatched`].
    VerifiedInt,
}

impl RanKernel {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            RanKernel::Scalar => "scalar",
            RanKernel::Wide => "wide",
            RanKernel::Dispatched => "dispatched",
            RanKernel::Table => "table",
            RanKernel::VerifiedInt => "verified-int",
        }
    }

    /// The instruction set it runs with: detected at run time for the dispatched loops, the
    /// compile-time target for the others.
    pub fn isa(self) -> Isa {
        match self {
            RanKernel::Dispatched | RanKernel::VerifiedInt => Isa::detected(),
            RanKernel::Scalar | RanKernel::Wide | RanKernel::Table => Isa::target(),
        }
    }
}

impl fmt::Display for RanKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a call did: `table (avx2)`-style kernel and instruction set, and the threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// The single-thread kernel.
    pub kernel: RanKernel,
    /// The instruction set that kernel ran with.
    pub isa: Isa,
    /// The threads the work was split for (1: the calling thread alone).
    pub threads: usize,
    /// Where the kernel and threads came from (what was asked, the profile, the fallback).
    pub source: Source,
}

impl fmt::Display for Report {
    /// `wide (sse2), 1 thread`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.threads == 1 { "" } else { "s" };
        write!(f, "{} ({}), {} thread{s}", self.kernel, self.isa.name(), self.threads)
    }
}

/// The lookup table and the verified integer kernel pay for their set-up (65,536 oracle
/// evaluations for 16-bit inputs, ~0.5 ms) from this many voxels on.
pub const LUT_MIN_VOXELS: usize = 1 << 18;

/// The single-thread kernel of a call, set up once (a table) and shared by its tasks.
#[derive(Clone, Debug)]
pub(crate) enum Best<O> {
    Scalar,
    Wide,
    Dispatched,
    Table(Vec<O>),
    VerifiedInt(int16::Plan),
}

impl<O: Output> Best<O> {
    /// The kernel `kernel` names, [`Kernel::Auto`] being the fastest exact one for `n` values.
    pub(crate) fn new<T: Sample>(kernel: Kernel, n: usize, map: &WindowMap) -> Best<O> {
        match kernel {
            Kernel::Scalar => Best::Scalar,
            Kernel::Wide => Best::Wide,
            Kernel::Dispatched => Best::Dispatched,
            Kernel::Auto => Best::choose::<T>(n, map),
        }
    }

    /// The fastest exact single-thread kernel for `n` values of `T` into `O`.
    pub(crate) fn choose<T: Sample>(n: usize, map: &WindowMap) -> Best<O> {
        let worth = match T::LUT_SIZE {
            Some(256) => true,
            Some(_) => n >= LUT_MIN_VOXELS,
            None => false,
        };
        if !worth {
            return Best::Dispatched;
        }
        if let Some(plan) = int16::plan::<T, O>(map).filter(|p| int16::verify::<T, O>(p, map)) {
            return Best::VerifiedInt(plan);
        }
        lut::table::<T, O>(map).map_or(Best::Dispatched, Best::Table)
    }

    pub(crate) fn kernel(&self) -> RanKernel {
        match self {
            Best::Scalar => RanKernel::Scalar,
            Best::Wide => RanKernel::Wide,
            Best::Dispatched => RanKernel::Dispatched,
            Best::Table(_) => RanKernel::Table,
            Best::VerifiedInt(_) => RanKernel::VerifiedInt,
        }
    }

    pub(crate) fn run<T: Sample>(&self, src: &[T], map: &WindowMap, out: &mut [O]) {
        match self {
            Best::Scalar => scalar::window(src, map, out),
            Best::Wide => simd::window(src, map, out),
            Best::Dispatched => dispatch::window(src, map, out),
            Best::Table(t) => lut::apply(src, t, out),
            Best::VerifiedInt(p) => dispatch::int16(src, p, out),
        }
    }
}

/// Windows a contiguous buffer into `out` (same length) as `exec` says.
///
/// [`Kernel::Auto`] runs the fastest exact single-thread kernel: for 8/16-bit inputs of at least
/// [`LUT_MIN_VOXELS`] (any size for 8-bit) the verified integer kernel (u8 output) or the lookup
/// table, else the oracle's loop compiled for the instruction set found at run time. Split over
/// threads, the work goes in tasks of [`parallel::CHUNK`] voxels (so a call of one chunk or less
/// runs on the calling thread). The report says what ran.
pub fn window_slice_into<T: Sample, O: Output>(
    src: &[T],
    out: &mut [O],
    map: &WindowMap,
    exec: Exec,
) -> Result<Report> {
    if src.len() != out.len() {
        return Err(IntensityError::ShapeMismatch { input: vec![src.len()], output: vec![out.len()] });
    }
    let stage = if T::LUT_SIZE.is_some() { Stage::WindowInt } else { Stage::WindowFloat };
    let planned = exec.plan(stage, src.len(), rayon::current_num_threads());
    let best = Best::<O>::new::<T>(planned.kernel, src.len(), map);
    let threads = planned.threads.min(src.len().div_ceil(parallel::CHUNK)).max(1);
    if threads > 1 {
        parallel::run(&best, src, map, out);
    } else {
        best.run(src, map, out);
    }
    let kernel = best.kernel();
    Ok(Report { kernel, isa: kernel.isa(), threads, source: planned.source })
}

/// Windows a 3-D volume into `out` (same shape, any memory layout).
///
/// Contiguous inputs and outputs of the same layout run as one buffer; other layouts run lane by
/// lane along x (slower, same values).
pub fn window_into<T: Sample, O: Output>(
    src: ArrayView3<'_, T>,
    mut out: ArrayViewMut3<'_, O>,
    map: &WindowMap,
    exec: Exec,
) -> Result<Report> {
    if src.shape() != out.shape() {
        return Err(IntensityError::ShapeMismatch { input: src.shape().to_vec(), output: out.shape().to_vec() });
    }
    if src.strides() == out.strides()
        && let (Some(s), Some(o)) = (src.as_slice_memory_order(), out.as_slice_memory_order_mut())
    {
        return window_slice_into(s, o, map, exec);
    }
    // Lane by lane on the calling thread: lanes are too short to share.
    let single = exec.threads(Threads::One);
    let mut scratch_in: Vec<T> = Vec::new();
    let mut scratch_out: Vec<O> = Vec::new();
    let kernel = Best::<O>::new::<T>(exec.kernel, 0, map).kernel();
    let mut report = Report { kernel, isa: kernel.isa(), threads: 1, source: Source::Asked };
    for (s, mut o) in src.lanes(Axis(0)).into_iter().zip(out.lanes_mut(Axis(0))) {
        scratch_in.clear();
        scratch_in.extend(s.iter().copied());
        scratch_out.resize(scratch_in.len(), O::default());
        report = window_slice_into(&scratch_in, &mut scratch_out, map, single)?;
        o.iter_mut().zip(&scratch_out).for_each(|(d, v)| *d = *v);
    }
    Ok(report)
}

/// Windows a 3-D volume into a new x-fastest (Fortran-order) array.
pub fn window<T: Sample, O: Output>(
    src: ArrayView3<'_, T>,
    map: &WindowMap,
    exec: Exec,
) -> Result<(Array3<O>, Report)> {
    let mut out = Array3::<O>::default(src.raw_dim().f());
    let report = window_into(src, out.view_mut(), map, exec)?;
    Ok((out, report))
}

/// The examples of this crate's README.md, compiled as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
