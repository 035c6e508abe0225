//! B-spline interpolation of order 0, 1 or 3 per axis under scipy's boundary modes: the
//! definitions every kernel follows, and the oracle.
//!
//! The value at continuous input index `x` is scipy's `map_coordinates(order, mode, prefilter=True)`
//! along each axis, as a tensor product over the three axes (one axis may be cubic and another
//! nearest: nnU-Net's anisotropic recipe):
//! - **Coefficients.** Along a cubic axis the samples are first turned into B-spline
//!   coefficients by scipy's recursive prefilter (pole `√3 - 2`, gain 6, the causal and
//!   anti-causal start values of the mode; [`prefilter_line`]). For `edge` and `constant` scipy
//!   first pads the axis by 12 samples (the edge value, or the fill value) and filters the
//!   padded line with the `reflect` or `mirror` start: so does this crate, and its padded
//!   coefficients are what the taps read. Order 0 and 1 take the samples as they are.
//! - **Taps.** At `x` (shifted by the padding) an odd order reads `order + 1` coefficients from
//!   `floor(x) - order / 2`, order 0 the one at `floor(x + 0.5)` (halves round up); the weights
//!   are scipy's (`get_spline_interpolation_weights`, the last one `1 -` the others).
//! - **Outside.** `reflect`, `mirror` and `wrap` first fold `x` into the axis, then fold the
//!   taps that fall outside (scipy's `map_coordinate`); `edge` clamps the taps; `constant`
//!   gives the taps outside the (padded) coefficients the fill value. Without a mode the
//!   default of this crate holds: `edge`, and with a fill value SimpleITK's rule (a sample
//!   whose index along any axis lies outside `[-0.5, n - 0.5)` takes the fill value).
//!
//! The prefilter's start values sum over the whole axis, so a coefficient depends on every
//! sample of its line; but the pole's powers fall below 1e-7 within 13 samples, so a sample's
//! influence on coefficients more than 13 samples away is below `f32` resolution.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use crate::{Plan, ResampleError, Result, Voxel};

/// The pole of the cubic B-spline prefilter, `√3 - 2` (scipy's constant).
pub const POLE: f64 = -0.267_949_192_431_122_7;

/// Samples scipy pads a cubic axis with before prefiltering in the `edge` and `constant` modes.
pub const SCIPY_PAD: usize = 12;

/// What samples outside the input are (scipy's boundary modes, by the names of numpy's `pad`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The edge sample repeats: `a a a | a b c d | d d d` (scipy `nearest`, skimage `edge`).
    Edge,
    /// The fill value: `k k k | a b c d | k k k` (scipy `grid-constant`, skimage `constant`).
    Constant,
    /// Mirrored about the edge of the voxel: `c b a | a b c d | d c b` (scipy `reflect`,
    /// skimage `symmetric`).
    Reflect,
    /// Mirrored about the edge voxel's centre: `d c b | a b c d | c b a` (scipy `mirror`,
    /// skimage `reflect`).
    Mirror,
    /// Periodic: `b c d | a b c d | a b c` (scipy `grid-wrap`, skimage `wrap`).
    Wrap,
}

impl Mode {
    /// Every mode, in the order `--help` lists them.
    pub const ALL: [Mode; 5] = [Mode::Edge, Mode::Constant, Mode::Reflect, Mode::Mirror, Mode::Wrap];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Edge => "edge",
            Mode::Constant => "constant",
            Mode::Reflect => "reflect",
            Mode::Mirror => "mirror",
            Mode::Wrap => "wrap",
        }
    }

    /// scipy.ndimage's name of the same mode.
    pub fn scipy(self) -> &'static str {
        match self {
            Mode::Edge => "nearest",
            Mode::Constant => "grid-constant",
            Mode::Reflect => "reflect",
            Mode::Mirror => "mirror",
            Mode::Wrap => "grid-wrap",
        }
    }

    /// scikit-image's (and numpy.pad's) name of the same mode.
    pub fn skimage(self) -> &'static str {
        match self {
            Mode::Edge => "edge",
            Mode::Constant => "constant",
            Mode::Reflect => "symmetric",
            Mode::Mirror => "reflect",
            Mode::Wrap => "wrap",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = ResampleError;
    fn from_str(s: &str) -> Result<Self> {
        Mode::ALL.into_iter().find(|m| m.name() == s.to_ascii_lowercase()).ok_or_else(|| {
            ResampleError::BadParameter(format!(
                "boundary mode {s:?}: expected one of edge, constant, reflect, mirror, wrap"
            ))
        })
    }
}

/// Options of B-spline resampling: the order per axis, the boundary mode, the fill value and
/// the scaling. Every setter's doc gives its default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    orders: [u8; 3],
    mode: Option<Mode>,
    fill: Option<f32>,
    slope: f64,
    inter: f64,
    clip: bool,
    range: Option<(f32, f32)>,
    clip_axis: Option<usize>,
    antialias: bool,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling::new()
    }
}

impl Sampling {
    /// Linear along every axis, no mode (edge clamp), no scaling.
    pub fn new() -> Sampling {
        Sampling {
            orders: [1; 3],
            mode: None,
            fill: None,
            slope: 1.0,
            inter: 0.0,
            clip: false,
            range: None,
            clip_axis: None,
            antialias: false,
        }
    }

    /// One spline order for every axis: 0 (nearest), 1 (linear) or 3 (cubic B-spline).
    pub fn order(self, order: u8) -> Self {
        self.orders([order; 3])
    }

    /// The spline order along each input axis (default 1, 1, 1).
    pub fn orders(mut self, orders: [u8; 3]) -> Self {
        self.orders = orders;
        self
    }

    /// The boundary mode (default `None`: edge, with SimpleITK's fill rule when there is a
    /// fill value). [`Mode::Constant`] needs a fill value.
    pub fn mode(mut self, mode: Option<Mode>) -> Self {
        self.mode = mode;
        self
    }

    /// The fill value in real units (default none): the constant of [`Mode::Constant`], or
    /// without a mode the value of samples outside `[-0.5, n - 0.5)` along any axis.
    pub fn fill(mut self, fill: Option<f32>) -> Self {
        self.fill = fill;
        self
    }

    /// Real value = `slope * stored + inter` (default 1 and 0).
    pub fn scaling(mut self, slope: f64, inter: f64) -> Self {
        self.slope = slope;
        self.inter = inter;
        self
    }

    /// Clip the output to the input's range of real values (skimage's `resize(clip=True)`;
    /// default off, as scipy). A cubic spline overshoots near sharp edges; clipping keeps, for
    /// instance, no value below the input's air.
    pub fn clip_input_range(mut self, clip: bool) -> Self {
        self.clip = clip;
        self
    }

    /// The input's range of real values `(min, max)` for [`Sampling::clip_input_range`], when
    /// the caller knows it (default: computed from the input; a caller that resamples slab by
    /// slab from part of the input must give it).
    pub fn input_range(mut self, range: Option<(f32, f32)>) -> Self {
        self.range = range;
        self
    }

    /// With [`Sampling::clip_input_range`]: clip each output voxel to the range of the input
    /// slice along `axis` that it reads (nnU-Net's slice-by-slice resize clips each slice to its
    /// own range; the axis is resampled by nearest neighbour there). Default `None`: the whole
    /// input's range. Needs the whole input.
    pub fn clip_per_slice(mut self, axis: Option<usize>) -> Self {
        self.clip_axis = axis;
        self
    }

    /// Smooth before downsampling (skimage's `resize(anti_aliasing=True)`; default off): a
    /// Gaussian of `sigma = max(0, (n / m - 1) / 2)` per axis from the shape ratio (input `n`,
    /// output `m` voxels), under the boundary mode, truncated at 4 sigma (scipy's
    /// `gaussian_filter`). Needs the whole input.
    pub fn antialias(mut self, on: bool) -> Self {
        self.antialias = on;
        self
    }

    /// Whether to smooth before downsampling.
    pub fn get_antialias(&self) -> bool {
        self.antialias
    }

    /// The axis of [`Sampling::clip_per_slice`], if any.
    pub fn get_clip_axis(&self) -> Option<usize> {
        self.clip_axis
    }

    /// The input range given, if any.
    pub fn get_input_range(&self) -> Option<(f32, f32)> {
        self.range
    }

    /// The orders per axis.
    pub fn get_orders(&self) -> [u8; 3] {
        self.orders
    }

    /// The boundary mode, if any.
    pub fn get_mode(&self) -> Option<Mode> {
        self.mode
    }

    /// The fill value, if any.
    pub fn get_fill(&self) -> Option<f32> {
        self.fill
    }

    /// `(slope, inter)`.
    pub fn get_scaling(&self) -> (f64, f64) {
        (self.slope, self.inter)
    }

    /// Whether the output is clipped to the input's range.
    pub fn get_clip(&self) -> bool {
        self.clip
    }

    /// Whether these options are plain trilinear with this crate's default boundary rule (the
    /// [`crate::Trilinear`] kernels, which also stream slab by slab).
    pub fn is_trilinear(&self) -> bool {
        self.orders == [1; 3]
            && matches!(self.mode, None | Some(Mode::Edge))
            && !self.clip
            && !self.antialias
            && (self.mode.is_none() || self.fill.is_none())
    }

    /// The options as [`crate::Trilinear`] options (order and mode aside).
    pub fn trilinear(&self) -> crate::Trilinear {
        crate::Trilinear::new().fill(self.fill).scaling(self.slope, self.inter)
    }

    /// Checks the options: orders 0, 1 or 3, a fill value with [`Mode::Constant`] and none
    /// with the other modes, a finite scaling.
    pub fn check(&self) -> Result<()> {
        if let Some(o) = self.orders.iter().find(|o| !matches!(o, 0 | 1 | 3)) {
            return Err(ResampleError::BadParameter(format!(
                "spline order {o}: expected 0 (nearest), 1 (linear) or 3 (cubic)"
            )));
        }
        match (self.mode, self.fill) {
            (Some(Mode::Constant), None) => {
                return Err(ResampleError::BadParameter("mode constant needs a fill value".into()));
            }
            (Some(m), Some(f)) if m != Mode::Constant => {
                return Err(ResampleError::BadParameter(format!(
                    "a fill value ({f}) applies to mode constant or to no mode (SimpleITK's rule), not to mode {m}"
                )));
            }
            _ => {}
        }
        if !(self.slope.is_finite() && self.inter.is_finite()) {
            return Err(ResampleError::BadParameter(format!(
                "scaling slope {} and intercept {} must be finite",
                self.slope, self.inter
            )));
        }
        Ok(())
    }
}

/// One input axis as the taps see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Axis {
    /// Input samples.
    pub(crate) n: usize,
    /// Spline order (0, 1, 3).
    pub(crate) order: u8,
    pub(crate) mode: Mode,
    /// Coefficients padded on each side (scipy's prepadding of cubic `edge` and `constant`).
    pub(crate) pad: usize,
    /// SimpleITK's rule: samples outside `[-0.5, n - 0.5)` are the fill value.
    pub(crate) box_fill: bool,
}

/// The tap index that reads the fill value instead of a coefficient.
pub(crate) const FILL_TAP: usize = usize::MAX;

impl Axis {
    pub(crate) fn new(n: usize, order: u8, opts: &Sampling) -> Axis {
        let mode = opts.mode.unwrap_or(Mode::Edge);
        let pad = if order > 1 && matches!(mode, Mode::Edge | Mode::Constant) { SCIPY_PAD } else { 0 };
        Axis { n, order, mode, pad, box_fill: opts.mode.is_none() && opts.fill.is_some() }
    }

    /// The axes of a plan's input.
    pub(crate) fn of(plan: &Plan, opts: &Sampling) -> [Axis; 3] {
        std::array::from_fn(|a| Axis::new(plan.input_shape[a], opts.orders[a], opts))
    }

    /// Coefficients along this axis (samples and padding).
    pub(crate) fn len(&self) -> usize {
        self.n + 2 * self.pad
    }

    /// Taps per sample.
    pub(crate) fn taps(&self) -> usize {
        self.order as usize + 1
    }

    /// The taps of the sample at continuous input index `x`: `order + 1` indices into the
    /// padded coefficients (or [`FILL_TAP`]) and their weights; `false` when the whole sample
    /// is the fill value (SimpleITK's rule, or a position that is not a number).
    pub(crate) fn taps_at(&self, x: f64, idx: &mut [usize; 4], w: &mut [f64; 4]) -> bool {
        if self.box_fill && !(x >= -0.5 && x < self.n as f64 - 0.5) {
            return false;
        }
        let len = self.len() as i64;
        let mut cc = x + self.pad as f64;
        let folds = !matches!(self.mode, Mode::Edge | Mode::Constant);
        if folds {
            cc = map_coordinate(cc, len, self.mode);
        }
        // scipy takes a position it cannot place (NaN) as the fill value.
        if cc.is_nan() || (folds && cc <= -1.0) {
            return false;
        }
        // Positions far outside (beyond what an i64 holds, or what the folds resolve in f64)
        // read the same taps as any position a few voxels out: clamped there, the taps never
        // overflow.
        let lenf = len as f64;
        if folds {
            if !(cc > -1.0 && cc < lenf) {
                cc = cc.clamp(0.0, (lenf - 1.0).max(0.0));
            }
        } else {
            cc = cc.clamp(-8.0, lenf + 8.0);
        }
        let order = self.order as i64;
        let start = if order & 1 == 1 { cc.floor() as i64 - order / 2 } else { (cc + 0.5).floor() as i64 - order / 2 };
        let edge = start < 0 || start + order >= len;
        for (l, slot) in idx.iter_mut().take(self.taps()).enumerate() {
            let i = start + l as i64;
            *slot = if self.mode == Mode::Constant {
                if i < 0 || i >= len { FILL_TAP } else { i as usize }
            } else if edge {
                map_coordinate(i as f64, len, self.mode) as usize
            } else {
                i as usize
            };
        }
        weights(cc, self.order, w);
        true
    }
}

/// scipy's `map_coordinate`: `x` folded into `[0, len - 1]`-ish by the mode (truncating
/// divisions as the C code does; `edge` clamps, `constant` gives -1).
pub(crate) fn map_coordinate(mut x: f64, len: i64, mode: Mode) -> f64 {
    let lenf = len as f64;
    if x < 0.0 {
        match mode {
            Mode::Mirror if len > 1 => {
                let sz2 = (2 * len - 2) as f64;
                x += sz2 * ((-x / sz2) as i64) as f64;
                x = if x <= (1 - len) as f64 { x + sz2 } else { -x };
            }
            Mode::Reflect if len > 1 => {
                let sz2 = (2 * len) as f64;
                if x < -sz2 {
                    x += sz2 * ((-x / sz2) as i64) as f64;
                }
                x = if x < -lenf { x + sz2 } else { -x - 1.0 };
            }
            Mode::Wrap if len > 1 => x += lenf * (((-1.0 - x) / lenf) as i64 + 1) as f64,
            Mode::Constant => x = -1.0,
            _ => x = 0.0,
        }
    } else if x > lenf - 1.0 {
        match mode {
            Mode::Mirror if len > 1 => {
                let sz2 = (2 * len - 2) as f64;
                x -= sz2 * ((x / sz2) as i64) as f64;
                if x >= lenf {
                    x = sz2 - x;
                }
            }
            Mode::Reflect if len > 1 => {
                let sz2 = (2 * len) as f64;
                x -= sz2 * ((x / sz2) as i64) as f64;
                if x >= lenf {
                    x = sz2 - x - 1.0;
                }
            }
            Mode::Wrap if len > 1 => x -= lenf * ((x / lenf) as i64) as f64,
            Mode::Constant => x = -1.0,
            Mode::Edge => x = lenf - 1.0,
            _ => x = 0.0,
        }
    }
    x
}

/// scipy's `get_spline_interpolation_weights` for orders 0, 1 and 3.
pub(crate) fn weights(x: f64, order: u8, w: &mut [f64; 4]) {
    match order {
        0 => w[0] = 1.0,
        1 => {
            let t = x - x.floor();
            w[0] = 1.0 - t;
            w[1] = 1.0 - w[0];
        }
        _ => {
            let y = x - x.floor();
            let z = 1.0 - y;
            w[1] = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0;
            w[2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0;
            w[0] = z * z * z / 6.0;
            w[3] = 1.0 - w[0] - w[1] - w[2];
        }
    }
}

/// The start values of the cubic prefilter on a line of `n > 1` coefficients, as weights on
/// the line: the causal pass starts with `c[0] = Σ causal[j] c[j]` (the gained samples), the
/// anti-causal with `c[n-1] = Σ anticausal[j] c[j]` (after the causal pass). scipy's
/// `_init_causal_*` / `_init_anticausal_*` of the mode (`edge` uses `reflect`'s, `constant`
/// `mirror`'s, both on the padded line), written as weights so rows of a plane can be filtered
/// together. Weights below `cut` are dropped (0 keeps all).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Starts {
    pub(crate) causal: Vec<(usize, f64)>,
    pub(crate) anticausal: Vec<(usize, f64)>,
}

impl Starts {
    pub(crate) fn new(n: usize, mode: Mode, cut: f64) -> Starts {
        let z = POLE;
        let mut a = vec![0.0; n];
        let mut b = vec![0.0; n];
        match mode {
            Mode::Mirror | Mode::Constant => {
                // scipy's reflect start is exact; this one (whole-sample symmetry) too.
                let zn1 = z.powi(n as i32 - 1);
                a[0] += 1.0;
                a[n - 1] += zn1;
                let mut zi = z;
                for i in 1..n - 1 {
                    a[i] += zi;
                    a[n - 1 - i] += zi * zn1;
                    zi *= z;
                }
                let d = 1.0 - zn1 * zn1;
                a.iter_mut().for_each(|v| *v /= d);
                let k = z / (z * z - 1.0);
                b[n - 2] += z * k;
                b[n - 1] += k;
            }
            Mode::Wrap => {
                a[0] = 1.0;
                let mut zi = z;
                for i in 1..n {
                    a[n - i] += zi;
                    zi *= z;
                }
                let d = 1.0 - zi;
                a.iter_mut().for_each(|v| *v /= d);
                b[n - 1] = 1.0;
                let mut zi = z;
                for bi in b.iter_mut().take(n - 1) {
                    *bi += zi;
                    zi *= z;
                }
                let k = z / (zi - 1.0);
                b.iter_mut().for_each(|v| *v *= k);
            }
            Mode::Reflect | Mode::Edge => {
                // scipy 1.17 (the pinned reference) accumulates the start in c[0] itself, so the
                // loop's last term reads the partial sum P in place of the sample c[0]:
                // S = P + z^(n-1) (c[n-1] + z^n P). The upstream fix (scipy #24615, after 1.17)
                // changes results by about z^(2n-1): 1e-5 relative on 5 samples, nothing past 8.
                let zn = z.powi(n as i32);
                let mut p = vec![0.0; n];
                p[0] += 1.0;
                p[n - 1] += zn;
                let mut zi = z;
                for i in 1..n - 1 {
                    p[i] += zi;
                    p[n - 1 - i] += zi * zn;
                    zi *= z;
                }
                // zi is z^(n-1) here.
                let mut s: Vec<f64> = p.iter().map(|v| v * (1.0 + zi * zn)).collect();
                s[n - 1] += zi;
                let k = z / (1.0 - zn * zn);
                a[0] = 1.0;
                for (ai, si) in a.iter_mut().zip(&s) {
                    *ai += si * k;
                }
                b[n - 1] = z / (z - 1.0);
            }
        }
        let keep = |v: Vec<f64>| v.into_iter().enumerate().filter(|&(_, w)| w != 0.0 && w.abs() >= cut).collect();
        Starts { causal: keep(a), anticausal: keep(b) }
    }
}

/// The gain of the cubic prefilter, `(1 - z)(1 - 1/z)` (6 up to rounding), applied first.
pub(crate) fn gain() -> f64 {
    (1.0 - POLE) * (1.0 - 1.0 / POLE)
}

/// scipy's cubic prefilter of one line in place (`spline_filter1d(order=3)` on the line): the
/// gain, the causal pass from its start value, the anti-causal pass from its. A line of one
/// sample is left as it is (as scipy).
pub fn prefilter_line(c: &mut [f64], mode: Mode) {
    if c.len() > 1 {
        prefilter_line_with(c, &Starts::new(c.len(), mode, 0.0));
    }
}

pub(crate) fn prefilter_line_with(c: &mut [f64], starts: &Starts) {
    let n = c.len();
    let (z, g) = (POLE, gain());
    c.iter_mut().for_each(|v| *v *= g);
    c[0] = starts.causal.iter().map(|&(j, w)| w * c[j]).sum();
    for i in 1..n {
        c[i] += z * c[i - 1];
    }
    c[n - 1] = starts.anticausal.iter().map(|&(j, w)| w * c[j]).sum();
    for i in (0..n - 1).rev() {
        c[i] = z * (c[i + 1] - c[i]);
    }
}

/// The padded coefficients of a whole volume in `f64` (x-fastest): real values, padded along
/// each axis as its mode pads, prefiltered along each cubic axis.
pub(crate) fn coefficients64<T: Voxel>(src: &[T], axes: &[Axis; 3], opts: &Sampling) -> Vec<f64> {
    let [px, py, pz] = axes.map(|a| a.len());
    let (slope, inter) = opts.get_scaling();
    let fill = opts.fill.unwrap_or(0.0) as f64;
    let [nx, ny, _] = axes.map(|a| a.n);
    let pad = axes.map(|a| a.pad);
    let mut c = vec![0.0; px * py * pz];
    for z in 0..pz {
        for y in 0..py {
            for x in 0..px {
                let p = [x, y, z];
                let inside = (0..3).all(|a| p[a] >= pad[a] && p[a] < pad[a] + axes[a].n);
                // Padding: the fill value (constant), else the nearest sample (edge).
                c[x + px * (y + py * z)] = if !inside && axes.iter().any(|a| a.mode == Mode::Constant) {
                    fill
                } else {
                    let [i, j, k] = std::array::from_fn(|a| p[a].saturating_sub(pad[a]).min(axes[a].n - 1));
                    slope * src[i + nx * (j + ny * k)].to_f64() + inter
                };
            }
        }
    }
    let mut line = Vec::new();
    for (a, axis) in axes.iter().enumerate() {
        if axis.order != 3 || axis.len() < 2 {
            continue;
        }
        let starts = Starts::new(axis.len(), axis.mode, 0.0);
        let stride = [1, px, px * py][a];
        let dims = [px, py, pz];
        let (o1, o2) = match a {
            0 => (1, 2),
            1 => (0, 2),
            _ => (0, 1),
        };
        let strides = [1, px, px * py];
        for u in 0..dims[o2] {
            for v in 0..dims[o1] {
                let base = u * strides[o2] + v * strides[o1];
                line.clear();
                line.extend((0..axis.len()).map(|i| c[base + i * stride]));
                prefilter_line_with(&mut line, &starts);
                for (i, &l) in line.iter().enumerate() {
                    c[base + i * stride] = l;
                }
            }
        }
    }
    c
}

/// The oracle: for every output voxel its position from the full map, its taps along each axis
/// and the tensor-product sum over the `f64` coefficients, written as `f32`; then clipped to the
/// input's range when asked. `src` holds the whole input.
pub fn resample_spline<T: Voxel>(src: &[T], plan: &Plan, opts: &Sampling, dst: &mut [f32]) {
    resample_spline_slices(src, plan, opts, 0..plan.grid.shape[2], dst);
}

/// The oracle for output slices `zs` only, into `dst` (those slices); `src` holds the whole
/// input (the prefilter reads every slice).
pub fn resample_spline_slices<T: Voxel>(
    src: &[T],
    plan: &Plan,
    opts: &Sampling,
    zs: std::ops::Range<usize>,
    dst: &mut [f32],
) {
    if opts.antialias {
        // Smoothed in f64, resampled as real values; clipped to the unsmoothed input's range.
        let smooth = gaussian(src, plan.input_shape, antialias_sigma(plan), opts);
        let inner = Sampling { antialias: false, clip: false, slope: 1.0, inter: 0.0, ..*opts };
        let z0 = zs.start;
        resample_spline_slices(&smooth, plan, &inner, zs, dst);
        clip_output(src, plan, opts, z0, dst);
        return;
    }
    let axes = Axis::of(plan, opts);
    let c = coefficients64(src, &axes, opts);
    let [px, py, _] = axes.map(|a| a.len());
    let [mx, my, _] = plan.grid.shape;
    let fill = opts.fill.unwrap_or(0.0) as f64;
    let (mut idx, mut w) = ([[0usize; 4]; 3], [[0f64; 4]; 3]);
    let zs_start = zs.start;
    for (k, jz) in zs.enumerate() {
        for jy in 0..my {
            for jx in 0..mx {
                let p = plan.map.apply([jx, jy, jz]);
                let inside = (0..3).all(|a| axes[a].taps_at(p[a], &mut idx[a], &mut w[a]));
                let out = &mut dst[jx + mx * (jy + my * k)];
                if !inside {
                    *out = fill as f32;
                    continue;
                }
                let [kx, ky, kz] = axes.map(|a| a.taps());
                let mut sum = 0.0;
                for c2 in 0..kz {
                    for c1 in 0..ky {
                        for c0 in 0..kx {
                            let (i, j, k) = (idx[0][c0], idx[1][c1], idx[2][c2]);
                            let v = if i == FILL_TAP || j == FILL_TAP || k == FILL_TAP {
                                fill
                            } else {
                                c[i + px * (j + py * k)]
                            };
                            let wt = if axes[0].order == 0 { 1.0 } else { w[0][c0] }
                                * if axes[1].order == 0 { 1.0 } else { w[1][c1] }
                                * if axes[2].order == 0 { 1.0 } else { w[2][c2] };
                            sum += v * wt;
                        }
                    }
                }
                *out = sum as f32;
            }
        }
    }
    clip_output(src, plan, opts, zs_start, dst);
}

/// Nearest neighbour under `mode` for output slices `zs` into `dst` (those slices): per-axis
/// index tables when `tables` (diagonal maps), else each voxel's indices from its position.
pub(crate) fn nearest_mode<T: Voxel>(
    src: &[T],
    plan: &Plan,
    mode: Mode,
    fill: T,
    dst: &mut [T],
    zs: std::ops::Range<usize>,
    tables: bool,
) {
    let axes = plan.input_shape.map(|n| Axis { n, order: 0, mode, pad: 0, box_fill: false });
    let [nx, ny, _] = plan.input_shape;
    let [mx, my, _] = plan.grid.shape;
    let (mut idx, mut w) = ([0usize; 4], [0f64; 4]);
    let mut index = |a: usize, x: f64| -> Option<usize> {
        let inside = axes[a].taps_at(x, &mut idx, &mut w);
        (inside && idx[0] != FILL_TAP).then_some(idx[0])
    };
    if tables {
        let table = |a: usize, m: usize, index: &mut dyn FnMut(usize, f64) -> Option<usize>| -> Vec<Option<usize>> {
            (0..m)
                .map(|j| {
                    let mut at = [0; 3];
                    at[a] = j;
                    index(a, plan.map.apply(at)[a])
                })
                .collect()
        };
        let tx = table(0, mx, &mut index);
        let ty = table(1, my, &mut index);
        for (jz, out) in zs.zip(dst.chunks_exact_mut(mx * my)) {
            let mut at = [0; 3];
            at[2] = jz;
            let Some(z) = index(2, plan.map.apply(at)[2]) else {
                out.fill(fill);
                continue;
            };
            for (row, y) in out.chunks_exact_mut(mx).zip(&ty) {
                let Some(y) = y else {
                    row.fill(fill);
                    continue;
                };
                let from = &src[(y + ny * z) * nx..][..nx];
                for (o, x) in row.iter_mut().zip(&tx) {
                    *o = x.map_or(fill, |x| from[x]);
                }
            }
        }
        return;
    }
    for (jz, out) in zs.zip(dst.chunks_exact_mut(mx * my)) {
        for jy in 0..my {
            for jx in 0..mx {
                let p = plan.map.apply([jx, jy, jz]);
                out[jx + mx * jy] = match (index(0, p[0]), index(1, p[1]), index(2, p[2])) {
                    (Some(x), Some(y), Some(z)) => src[x + nx * (y + ny * z)],
                    _ => fill,
                };
            }
        }
    }
}

/// The Gaussian's sigma per axis for anti-aliasing a plan's resampling (0: no smoothing).
pub(crate) fn antialias_sigma(plan: &Plan) -> [f64; 3] {
    std::array::from_fn(|a| ((plan.input_shape[a] as f64 / plan.grid.shape[a] as f64 - 1.0) / 2.0).max(0.0))
}

/// scipy's `gaussian_filter(truncate=4)` of the real values of `src` (x-fastest, `shape`) along
/// each axis with `sigma[a] > 1e-15`, in order x, y, z, each line in `f64`, beyond the edge as
/// `mode` extends it (the fill value for constant); the result as `f64`.
pub(crate) fn gaussian<T: Voxel>(src: &[T], shape: [usize; 3], sigma: [f64; 3], opts: &Sampling) -> Vec<f64> {
    gaussian_slices(src, 0, shape, sigma, opts, 0..shape[2])
}

/// The normalised Gaussian of `sigma` truncated at 4 sigma (scipy's), and its radius.
fn gaussian_weights(sd: f64) -> (Vec<f64>, i64) {
    let r = (4.0 * sd + 0.5) as i64;
    let raw: Vec<f64> = (-r..=r).map(|x| (-0.5 / (sd * sd) * (x * x) as f64).exp()).collect();
    let sum: f64 = raw.iter().sum();
    (raw.iter().map(|x| x / sum).collect(), r)
}

/// The input slices (along z) that [`gaussian_slices`] of the smoothed slices `want` reads.
pub(crate) fn gaussian_input_slices(nz: usize, sigma_z: f64, opts: &Sampling, want: Range<usize>) -> Range<usize> {
    if want.is_empty() || sigma_z <= 1e-15 {
        return want;
    }
    let mode = opts.mode.unwrap_or(Mode::Edge);
    let r = gaussian_weights(sigma_z).1;
    let n = nz as i64;
    let (mut lo, mut hi) = (usize::MAX, 0);
    for i in want.start as i64..want.end as i64 {
        for j in i - r..=i + r {
            let at = if (0..n).contains(&j) {
                j as usize
            } else if mode == Mode::Constant {
                continue;
            } else {
                map_coordinate(j as f64, n, mode) as usize
            };
            lo = lo.min(at);
            hi = hi.max(at + 1);
        }
    }
    if lo >= hi {
        // Every tap a fill value: no input slice is read.
        return want.start..want.start;
    }
    lo..hi
}

/// Where tap `j` of a line of `n` values reads: `j` inside, the mode's fold outside, `None` for
/// the fill value (constant mode).
fn tap(j: i64, n: i64, mode: Mode) -> Option<usize> {
    if (0..n).contains(&j) {
        Some(j as usize)
    } else if mode == Mode::Constant {
        None
    } else {
        Some(map_coordinate(j as f64, n, mode) as usize)
    }
}

/// The value of `line` at tap `j`, extended by `mode` (`fill` for constant).
fn extended(line: &[f64], j: i64, mode: Mode, fill: f64) -> f64 {
    tap(j, line.len() as i64, mode).map_or(fill, |j| line[j])
}

/// `acc[p] = Σk w[k] x_k[p]` over lines of `len` values, `x_k` the line `taps[k]` of `v` (or
/// the fill value), summed in tap order from 0 for every `p`.
fn sum_lines(acc: &mut [f64], v: &[f64], len: usize, w: &[f64], taps: &[Option<usize>], fill: f64) {
    acc.fill(0.0);
    for (&wk, t) in w.iter().zip(taps) {
        match t {
            Some(j) => {
                for (a, x) in acc.iter_mut().zip(&v[j * len..(j + 1) * len]) {
                    *a += wk * x;
                }
            }
            None => acc.iter_mut().for_each(|a| *a += wk * fill),
        }
    }
}

/// The Gaussian along y of one slice (`ny` rows of `nx` values) into `out`, row by row.
#[allow(clippy::too_many_arguments)] // The slice, its shape and the filter.
fn add_taps(out: &mut [f64], slice: &[f64], nx: usize, ny: usize, w: &[f64], r: i64, mode: Mode, fill: f64) {
    let mut taps = Vec::with_capacity(w.len());
    for (i, acc) in out.chunks_exact_mut(nx.max(1)).enumerate().take(ny) {
        taps.clear();
        taps.extend((0..w.len() as i64).map(|k| tap(i as i64 + k - r, ny as i64, mode)));
        sum_lines(acc, slice, nx, w, &taps, fill);
    }
}

/// [`gaussian`] of the input slices `want` only (those slices' values, x-fastest), from `src`
/// holding the input slices from `first` on (at least [`gaussian_input_slices`]): bit for bit
/// those slices of the whole volume's result (the same sums in the same order).
pub(crate) fn gaussian_slices<T: Voxel>(
    src: &[T],
    first: usize,
    shape: [usize; 3],
    sigma: [f64; 3],
    opts: &Sampling,
    want: Range<usize>,
) -> Vec<f64> {
    if want.is_empty() {
        return Vec::new();
    }
    let (slope, inter) = opts.get_scaling();
    let plane = shape[0] * shape[1];
    let raw = gaussian_input_slices(shape[2], sigma[2], opts, want.clone());
    let held = &src[(raw.start - first) * plane..(raw.end - first) * plane];
    let mut v: Vec<f64> = held.iter().map(|x| slope * x.to_f64() + inter).collect();
    let mode = opts.mode.unwrap_or(Mode::Edge);
    let fill = opts.fill.unwrap_or(0.0) as f64;
    // In-plane (x, then y): each slice alone, as in the whole volume.
    let [nx, ny, _] = shape;
    if sigma[0] > 1e-15 {
        let (w, r) = gaussian_weights(sigma[0]);
        let mut out = vec![0f64; nx];
        for row in v.chunks_exact_mut(nx.max(1)) {
            for (i, o) in out.iter_mut().enumerate() {
                let mut acc = 0.0;
                for (k, wk) in w.iter().enumerate() {
                    acc += wk * extended(row, i as i64 + k as i64 - r, mode, fill);
                }
                *o = acc;
            }
            row.copy_from_slice(&out);
        }
    }
    if sigma[1] > 1e-15 {
        // Whole rows at a time (the same sum per value, in the same order).
        let (w, r) = gaussian_weights(sigma[1]);
        let mut out = vec![0f64; plane];
        for slice in v.chunks_exact_mut(plane.max(1)) {
            add_taps(&mut out, slice, nx, ny, &w, r, mode, fill);
            slice.copy_from_slice(&out);
        }
    }
    let sd = sigma[2];
    if sd <= 1e-15 {
        return v;
    }
    // Along z: each wanted slice from its taps' slices, every in-plane position at once (the
    // same sum per value, in the same order).
    let (w, r) = gaussian_weights(sd);
    let n = shape[2] as i64;
    let mut res = vec![0f64; want.len() * plane];
    let mut taps = Vec::with_capacity(w.len());
    for (i, acc) in (want.start as i64..).zip(res.chunks_exact_mut(plane.max(1))) {
        taps.clear();
        taps.extend((0..w.len() as i64).map(|k| tap(i + k - r, n, mode).map(|j| j - raw.start)));
        sum_lines(acc, &v, plane, &w, &taps, fill);
    }
    res
}

/// The input's range of real values (NaN ignored), or `None` when it has no number.
pub(crate) fn input_range<T: Voxel>(src: &[T], opts: &Sampling) -> Option<(f32, f32)> {
    let (slope, inter) = opts.get_scaling();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in src {
        let v = v.to_f64();
        if v < lo {
            lo = v;
        }
        if v > hi {
            hi = v;
        }
    }
    if lo > hi {
        return None;
    }
    let (a, b) = (slope * lo + inter, slope * hi + inter);
    Some(((a.min(b)) as f32, (a.max(b)) as f32))
}

/// The clipping the options ask for, on output slices from `z0` on in `dst`: to the input's
/// range, or per input slice along the clip axis; `src` is the whole input for the latter.
pub(crate) fn clip_output<T: Voxel>(src: &[T], plan: &Plan, opts: &Sampling, z0: usize, dst: &mut [f32]) {
    if !opts.clip {
        return;
    }
    let Some(a) = opts.clip_axis.filter(|&a| a < 3) else {
        clip_to_input(src, opts, dst);
        return;
    };
    let n = plan.input_shape;
    let (slope, inter) = opts.get_scaling();
    let (mut lo, mut hi) = (vec![f64::INFINITY; n[a]], vec![f64::NEG_INFINITY; n[a]]);
    for (i, v) in src.iter().enumerate() {
        let at = [i % n[0], (i / n[0]) % n[1], i / (n[0] * n[1])][a];
        let v = v.to_f64();
        if v < lo[at] {
            lo[at] = v;
        }
        if v > hi[at] {
            hi[at] = v;
        }
    }
    let ranges: Vec<Option<(f32, f32)>> = lo
        .iter()
        .zip(&hi)
        .map(|(&l, &h)| {
            let (p, q) = (slope * l + inter, slope * h + inter);
            (l <= h).then(|| (p.min(q) as f32, p.max(q) as f32))
        })
        .collect();
    let nearest = Axis::new(n[a], 0, opts);
    let [mx, my, _] = plan.grid.shape;
    let (mut idx, mut w) = ([0usize; 4], [0f64; 4]);
    for (i, v) in dst.iter_mut().enumerate() {
        let j = [i % mx, (i / mx) % my, z0 + i / (mx * my)];
        if !nearest.taps_at(plan.map.apply(j)[a], &mut idx, &mut w) || idx[0] == FILL_TAP {
            continue;
        }
        if let Some((l, h)) = ranges[idx[0]] {
            if *v < l {
                *v = l;
            } else if *v > h {
                *v = h;
            }
        }
    }
}

/// skimage's clip: values below the input's minimum become it, above its maximum likewise
/// (NaN stays NaN); the range given with the options, else the input's.
pub(crate) fn clip_to_input<T: Voxel>(src: &[T], opts: &Sampling, dst: &mut [f32]) {
    if let Some((mut lo, mut hi)) = opts.range.or_else(|| input_range(src, opts)) {
        // skimage keeps the fill value of constant mode when it lies outside the input's range
        // but inside the output's (its `_clip_warp_output`).
        if let (Some(Mode::Constant), Some(k)) = (opts.mode, opts.fill)
            && !(lo..=hi).contains(&k)
        {
            let (omin, omax) = dst
                .iter()
                .filter(|v| !v.is_nan())
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            if omin <= k && k <= omax {
                lo = lo.min(k);
                hi = hi.max(k);
            }
        }
        for v in dst.iter_mut() {
            if *v < lo {
                *v = lo;
            } else if *v > hi {
                *v = hi;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scipy 1.17.1's in-place start values, transcribed from its ni_splines.c, against the weights.
    fn scipy_filter(c: &mut [f64], mode: Mode) {
        let n = c.len();
        let z = POLE;
        let g = gain();
        c.iter_mut().for_each(|v| *v *= g);
        match mode {
            Mode::Mirror | Mode::Constant => {
                let zn1 = z.powi(n as i32 - 1);
                let mut zi = z;
                c[0] += zn1 * c[n - 1];
                for i in 1..n - 1 {
                    c[0] += zi * (c[i] + zn1 * c[n - 1 - i]);
                    zi *= z;
                }
                c[0] /= 1.0 - zn1 * zn1;
            }
            Mode::Wrap => {
                let mut zi = z;
                for i in 1..n {
                    c[0] += zi * c[n - i];
                    zi *= z;
                }
                c[0] /= 1.0 - zi;
            }
            Mode::Reflect | Mode::Edge => {
                // scipy 1.17.1's ni_splines.c, aliasing of c[0] included.
                let zn = z.powi(n as i32);
                let mut zi = z;
                let c0 = c[0];
                c[0] += zn * c[n - 1];
                for i in 1..n {
                    c[0] += zi * (c[i] + zn * c[n - 1 - i]);
                    zi *= z;
                }
                c[0] *= z / (1.0 - zn * zn);
                c[0] += c0;
            }
        }
        for i in 1..n {
            c[i] += z * c[i - 1];
        }
        match mode {
            Mode::Mirror | Mode::Constant => c[n - 1] = (z * c[n - 2] + c[n - 1]) * z / (z * z - 1.0),
            Mode::Wrap => {
                let mut zi = z;
                for i in 0..n - 1 {
                    c[n - 1] += zi * c[i];
                    zi *= z;
                }
                c[n - 1] *= z / (zi - 1.0);
            }
            Mode::Reflect | Mode::Edge => c[n - 1] *= z / (z - 1.0),
        }
        for i in (0..n - 1).rev() {
            c[i] = z * (c[i + 1] - c[i]);
        }
    }

    #[test]
    fn start_weights_are_scipys_starts() {
        for n in [2, 3, 4, 5, 8, 31] {
            for mode in Mode::ALL {
                let line: Vec<f64> = (0..n).map(|i| ((i * 37 % 11) as f64 - 4.0) * 1.5).collect();
                let (mut a, mut b) = (line.clone(), line.clone());
                prefilter_line(&mut a, mode);
                scipy_filter(&mut b, mode);
                for (x, y) in a.iter().zip(&b) {
                    assert!((x - y).abs() <= 1e-12 * 20.0, "{mode} n {n}: {a:?} vs {b:?}");
                }
            }
        }
    }

    /// The prefiltered coefficients interpolate: the cubic spline through them passes through
    /// every sample (exactly, in exact arithmetic, for mirror and wrap; reflect's start has
    /// scipy 1.17's error of about z^(2n-1), 2e-10 on 9 samples).
    #[test]
    fn cubic_interpolates_the_samples() {
        for mode in [Mode::Mirror, Mode::Reflect, Mode::Wrap] {
            let n = 9;
            let line: Vec<f64> = (0..n).map(|i| ((i * 7 % 5) as f64) - 2.0).collect();
            let mut c = line.clone();
            prefilter_line(&mut c, mode);
            let axis = Axis { n, order: 3, mode, pad: 0, box_fill: false };
            let (mut idx, mut w) = ([0; 4], [0.0; 4]);
            for (i, want) in line.iter().enumerate() {
                assert!(axis.taps_at(i as f64, &mut idx, &mut w));
                let got: f64 = (0..4).map(|k| c[idx[k]] * w[k]).sum();
                let tol = if mode == Mode::Reflect { 1e-8 } else { 1e-12 };
                assert!((got - want).abs() < tol, "{mode} {i}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn folding_follows_scipy() {
        // reflect: ... b a | a b c d e | e d ...
        assert_eq!(map_coordinate(-1.0, 5, Mode::Reflect), 0.0);
        assert_eq!(map_coordinate(-2.0, 5, Mode::Reflect), 1.0);
        assert_eq!(map_coordinate(5.0, 5, Mode::Reflect), 4.0);
        assert_eq!(map_coordinate(-0.25, 5, Mode::Reflect), -0.75);
        // mirror: ... c b | a b c d e | d c ...
        assert_eq!(map_coordinate(-1.0, 5, Mode::Mirror), 1.0);
        assert_eq!(map_coordinate(5.0, 5, Mode::Mirror), 3.0);
        assert_eq!(map_coordinate(-9.0, 5, Mode::Mirror), 1.0);
        // wrap: ... d e | a b c d e | a b ...
        assert_eq!(map_coordinate(-1.0, 5, Mode::Wrap), 4.0);
        assert_eq!(map_coordinate(5.0, 5, Mode::Wrap), 0.0);
        assert_eq!(map_coordinate(-0.5, 5, Mode::Wrap), 4.5);
        assert_eq!(map_coordinate(-3.0, 1, Mode::Mirror), 0.0);
        assert_eq!(map_coordinate(7.0, 5, Mode::Edge), 4.0);
    }

    #[test]
    fn options_are_checked() {
        assert!(Sampling::new().order(2).check().is_err());
        assert!(Sampling::new().mode(Some(Mode::Constant)).check().is_err());
        assert!(Sampling::new().mode(Some(Mode::Constant)).fill(Some(-1024.0)).check().is_ok());
        assert!(Sampling::new().mode(Some(Mode::Reflect)).fill(Some(0.0)).check().is_err());
        assert!(Sampling::new().fill(Some(0.0)).order(3).check().is_ok());
        assert!(Sampling::new().scaling(f64::NAN, 0.0).check().is_err());
        assert!(Sampling::new().is_trilinear() && Sampling::new().fill(Some(1.0)).is_trilinear());
        assert!(!Sampling::new().order(3).is_trilinear());
        assert!(!Sampling::new().mode(Some(Mode::Reflect)).is_trilinear());
        for m in Mode::ALL {
            assert_eq!(m.name().parse::<Mode>(), Ok(m));
        }
        assert!("grid-wrap".parse::<Mode>().is_err());
    }
}
