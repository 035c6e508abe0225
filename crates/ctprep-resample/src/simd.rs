//! The fast single-thread kernels: the separable path on `wide` `f32x8` rows for diagonal maps,
//! the general per-voxel path for the others, and nearest neighbour.
//!
//! Separable trilinear, one output slice (along z) at a time:
//! - In-plane, two 1-D passes: a blend of whole rows along y (vectorised) and a gather along x
//!   (scalar: `wide` has no gather). Which goes first is chosen by a cost model that counts a
//!   gather as four row-blend values, so the axis that shrinks is done first.
//! - Along z, either each input slice is resampled in-plane once and kept (two slots) while
//!   output slices need it, then pairs are blended into the output (`cache` mode, when z grows
//!   or keeps its size); or the two input slices are blended first and the blend is resampled
//!   in-plane (`z-first` mode, when fewer output slices than used input slices).
//!
//! The scaling is applied in the last in-plane pass; fill values are written over the output
//! rows and columns whose taps are outside (a contiguous range per axis, as positions are
//! monotonic along each axis).

use std::ops::Range;

use wide::f32x8;

use crate::{Plan, Trilinear, Voxel, linear_tap, nearest_index};

/// `y = v * slope + inter`, applied as a row is written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// Multiplier.
    pub slope: f32,
    /// Offset.
    pub inter: f32,
}

impl Scale {
    /// No scaling.
    pub const IDENTITY: Scale = Scale { slope: 1.0, inter: 0.0 };
}

/// A 1-D tap in `f32`: `v[i0] + w (v[i1] - v[i0])`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tap32 {
    /// First voxel.
    pub i0: usize,
    /// Second voxel (equal to `i0` when `w == 0`).
    pub i1: usize,
    /// Weight of the second voxel.
    pub w: f32,
}

/// The row operations of the separable path. Every implementation computes
/// [`blend32`] then `* slope + inter` per value, in that order, so all are bit-identical.
pub trait RowOps {
    /// `dst[i] = blend(a[i], b[i], w) * slope + inter`.
    fn blend<S: Voxel>(dst: &mut [f32], a: &[S], b: &[S], w: f32, scale: Scale);
    /// `dst[j] = blend(row[t.i0], row[t.i1], t.w) * slope + inter` for the taps `t` of `dst`.
    fn gather<S: Voxel>(dst: &mut [f32], row: &[S], taps: &[Tap32], scale: Scale);
    /// The general path's output slices `zs` (see [`general_linear`]), in blocks of eight
    /// voxels with these row operations' lanes.
    fn general<S: Voxel>(src: &[S], first: usize, plan: &Plan, opts: &Trilinear, zs: Range<usize>, dst: &mut [f32]);
}

/// The 1-D blend in `f32`: `a + w (b - a)`, exactly `a` when `a == b`.
#[inline(always)]
pub fn blend32(a: f32, b: f32, w: f32) -> f32 {
    if a == b { a } else { a + w * (b - a) }
}

#[inline(always)]
fn load8<S: Voxel>(s: &[S]) -> f32x8 {
    // Callers pass `chunks_exact(8)` pieces: the conversion of a fixed-size array vectorises.
    let s: &[S; 8] = s.try_into().unwrap_or_else(|_| unreachable!("8 values"));
    f32x8::from(s.map(|v| v.to_f32()))
}

/// [`RowOps`] on `wide` `f32x8` vectors (width fixed at compile time).
#[derive(Debug)]
pub struct Wide;

impl RowOps for Wide {
    fn blend<S: Voxel>(dst: &mut [f32], a: &[S], b: &[S], w: f32, scale: Scale) {
        let n = dst.len();
        let (a, b) = (&a[..n], &b[..n]);
        let body = n / 8 * 8;
        let (w8, s8, i8) = (f32x8::splat(w), f32x8::splat(scale.slope), f32x8::splat(scale.inter));
        let rows = dst[..body].chunks_exact_mut(8).zip(a[..body].chunks_exact(8)).zip(b[..body].chunks_exact(8));
        for ((d, a), b) in rows {
            let (va, vb) = (load8(a), load8(b));
            let mixed = va.simd_eq(vb).select(va, va + w8 * (vb - va));
            d.copy_from_slice(&(mixed * s8 + i8).to_array());
        }
        for c in body..n {
            dst[c] = blend32(a[c].to_f32(), b[c].to_f32(), w) * scale.slope + scale.inter;
        }
    }

    fn gather<S: Voxel>(dst: &mut [f32], row: &[S], taps: &[Tap32], scale: Scale) {
        for (d, t) in dst.iter_mut().zip(taps) {
            *d = blend32(row[t.i0].to_f32(), row[t.i1].to_f32(), t.w) * scale.slope + scale.inter;
        }
    }

    fn general<S: Voxel>(src: &[S], first: usize, plan: &Plan, opts: &Trilinear, zs: Range<usize>, dst: &mut [f32]) {
        if crate::general::blocks(plan) {
            crate::general::linear_wide(src, first, plan, opts.get_fill(), scale_of(opts), zs, dst);
        } else {
            general_linear(src, first, plan, opts, zs, dst);
        }
    }
}

/// The options' scaling in `f32`.
pub(crate) fn scale_of(opts: &Trilinear) -> Scale {
    let (slope, inter) = opts.get_scaling();
    Scale { slope: slope as f32, inter: inter as f32 }
}

/// Everything the separable linear kernel needs, derived once per call from the plan.
#[derive(Clone, Debug)]
pub(crate) struct Separable {
    n: [usize; 3],
    m: [usize; 3],
    taps: [Vec<Tap32>; 3],
    /// The output indices whose taps are inside the input, per axis.
    inside: [Range<usize>; 3],
    fill: f32,
    scale: Scale,
    /// In-plane order: blend rows along y first, then gather along x.
    y_first: bool,
    /// For x first: the input rows the y taps use.
    rows: Range<usize>,
    /// Blend input slices along z before the in-plane passes.
    z_first: bool,
}

/// The output indices `0..m` along `axis` whose samples are inside, with every tap.
fn axis_taps(plan: &Plan, axis: usize, fill: bool) -> (Vec<Tap32>, Range<usize>) {
    let n = plan.input_shape[axis];
    let mut taps = Vec::with_capacity(plan.grid.shape[axis]);
    let (mut first, mut end) = (None, 0);
    for j in 0..plan.grid.shape[axis] {
        let mut at = [0; 3];
        at[axis] = j;
        // The oracle's position for any voxel of this index: the other terms are exact zeros.
        let t = linear_tap(plan.map.apply(at)[axis], n, fill);
        if t.inside {
            first.get_or_insert(j);
            end = j + 1;
        }
        taps.push(Tap32 { i0: t.i0, i1: t.i1, w: t.w as f32 });
    }
    let inside = first.map_or(0..0, |f| f..end);
    (taps, inside)
}

/// Relative cost of a gathered value against a row-blended one (measured: the gather runs at
/// about a quarter of the vectorised blend's rate).
const GATHER_COST: usize = 4;

impl Separable {
    pub(crate) fn new(plan: &Plan, opts: &Trilinear) -> Separable {
        let filling = opts.get_fill().is_some();
        let [(tx, ix), (ty, iy), (tz, iz)] = [0, 1, 2].map(|a| axis_taps(plan, a, filling));
        let [nx, ny, _] = plan.input_shape;
        let [mx, _, _] = plan.grid.shape;
        let rows = if iy.is_empty() {
            0..0
        } else {
            let lo = ty[iy.clone()].iter().map(|t| t.i0.min(t.i1)).min().unwrap_or(0);
            let hi = ty[iy.clone()].iter().map(|t| t.i0.max(t.i1)).max().unwrap_or(0);
            lo..hi + 1
        };
        let out_rows = iy.len();
        let y_first_cost = nx * out_rows + GATHER_COST * mx * out_rows;
        let x_first_cost = GATHER_COST * mx * rows.len() + mx * out_rows;
        let plane_cost = y_first_cost.min(x_first_cost);
        let mut used: Vec<usize> = tz[iz.clone()].iter().flat_map(|t| [t.i0, t.i1]).collect();
        used.sort_unstable();
        used.dedup();
        let blends = iz.len() * mx * out_rows;
        let cache_cost = used.len() * plane_cost + blends;
        let z_first_cost = iz.len() * (nx * ny + plane_cost);
        let (slope, inter) = opts.get_scaling();
        Separable {
            n: plan.input_shape,
            m: plan.grid.shape,
            taps: [tx, ty, tz],
            inside: [ix, iy, iz],
            fill: opts.get_fill().unwrap_or(0.0),
            scale: Scale { slope: slope as f32, inter: inter as f32 },
            y_first: y_first_cost <= x_first_cost,
            rows,
            z_first: z_first_cost < cache_cost,
        }
    }

    /// Resamples one input plane (`nx * ny` values) to one output plane (`mx * my`), scaled,
    /// fill values written.
    fn plane<S: Voxel, R: RowOps>(&self, src: &[S], tmp: &mut Vec<f32>, out: &mut [f32]) {
        let ([nx, _, _], [mx, _, _]) = (self.n, self.m);
        let (tx, ty) = (&self.taps[0], &self.taps[1]);
        let ys = self.inside[1].clone();
        if self.y_first {
            tmp.resize(nx * self.m[1], 0.0);
            for jy in ys.clone() {
                let t = ty[jy];
                let (a, b) = (&src[t.i0 * nx..][..nx], &src[t.i1 * nx..][..nx]);
                R::blend(&mut tmp[jy * nx..][..nx], a, b, t.w, Scale::IDENTITY);
            }
            for jy in ys.clone() {
                R::gather(&mut out[jy * mx..][..mx], &tmp[jy * nx..][..nx], tx, self.scale);
            }
        } else {
            tmp.resize(mx * self.n[1], 0.0);
            for iy in self.rows.clone() {
                R::gather(&mut tmp[iy * mx..][..mx], &src[iy * nx..][..nx], tx, Scale::IDENTITY);
            }
            for jy in ys.clone() {
                let t = ty[jy];
                let (a, b) = (&tmp[t.i0 * mx..][..mx], &tmp[t.i1 * mx..][..mx]);
                R::blend(&mut out[jy * mx..][..mx], a, b, t.w, self.scale);
            }
        }
        let xs = self.inside[0].clone();
        if ys.len() < self.m[1] || xs.len() < mx {
            out[..ys.start * mx].fill(self.fill);
            out[ys.end * mx..].fill(self.fill);
            for jy in ys {
                let row = &mut out[jy * mx..][..mx];
                row[..xs.start].fill(self.fill);
                row[xs.end..].fill(self.fill);
            }
        }
    }

    /// Output slices `zs` into `dst` (exactly those slices), from `src` holding the input
    /// slices from `first` on.
    pub(crate) fn run<T: Voxel, R: RowOps>(
        &self,
        src: &[T],
        first: usize,
        zs: Range<usize>,
        dst: &mut [f32],
        planes: &mut Planes,
    ) {
        let plane_in = self.n[0] * self.n[1];
        let plane_out = self.m[0] * self.m[1];
        let slice = |i: usize| &src[(i - first) * plane_in..(i - first + 1) * plane_in];
        {
            let Planes { tmp, blended, cache } = planes;
            // Two slots of resampled input slices, keyed by input slice index (none yet: the planes
            // kept from an earlier call are only reused for their memory).
            for slot in cache.iter_mut() {
                slot.0 = usize::MAX;
            }
            for (jz, out) in zs.zip(dst.chunks_exact_mut(plane_out)) {
                if !self.inside[2].contains(&jz) {
                    out.fill(self.fill);
                    continue;
                }
                let t = self.taps[2][jz];
                if self.z_first {
                    blended.resize(plane_in, 0.0);
                    R::blend(blended, slice(t.i0), slice(t.i1), t.w, Scale::IDENTITY);
                    self.plane::<f32, R>(blended, tmp, out);
                    continue;
                }
                for need in [t.i0, t.i1] {
                    if cache.iter().all(|c| c.0 != need) {
                        let slot = cache.iter().position(|c| c.0 != t.i0 && c.0 != t.i1).unwrap_or(0);
                        let (key, plane) = &mut cache[slot];
                        plane.resize(plane_out, 0.0);
                        self.plane::<T, R>(slice(need), tmp, plane);
                        *key = need;
                    }
                }
                let find = |i: usize| cache.iter().find(|c| c.0 == i).map_or(&[][..], |c| &c.1[..]);
                let (p0, p1) = (find(t.i0), find(t.i1));
                if t.i0 == t.i1 {
                    out.copy_from_slice(p0);
                } else {
                    R::blend(out, p0, p1, t.w, Scale::IDENTITY);
                }
            }
        }
    }
}

/// The working planes of one task of [`Separable::run`]: kept by a [`crate::Resampler`] from
/// call to call, so slab after slab reuses memory already faulted in. Whatever a call leaves in
/// them is seen by the next, so `run` never reads what it has not written in the same call.
#[derive(Debug, Default)]
pub(crate) struct Planes {
    tmp: Vec<f32>,
    blended: Vec<f32>,
    cache: [(usize, Vec<f32>); 2],
}

/// The general path for output slices `zs`, voxel by voxel: the oracle's positions and taps,
/// blended in `f32` in the oracle's order (x, then y, then z), scaled last; `src` holds the
/// input slices from `first` on. [`RowOps::general`] computes the same in blocks.
pub(crate) fn general_linear<T: Voxel>(
    src: &[T],
    first: usize,
    plan: &Plan,
    opts: &Trilinear,
    zs: Range<usize>,
    dst: &mut [f32],
) {
    let [mx, my, _] = plan.grid.shape;
    let (fill, scale) = (opts.get_fill(), scale_of(opts));
    for (jz, out) in zs.zip(dst.chunks_exact_mut(mx * my)) {
        for jy in 0..my {
            for (jx, o) in out[jy * mx..(jy + 1) * mx].iter_mut().enumerate() {
                *o = linear_voxel(src, first, plan, fill, scale, [jx, jy, jz]);
            }
        }
    }
}

/// Output voxel `j` of the general trilinear path, from `src` holding the input slices from
/// `first` on: the oracle's taps and blends.
#[inline]
pub(crate) fn linear_voxel<T: Voxel>(
    src: &[T],
    first: usize,
    plan: &Plan,
    fill: Option<f32>,
    scale: Scale,
    j: [usize; 3],
) -> f32 {
    let [nx, ny, nz] = plan.input_shape;
    let v = |x: usize, y: usize, z: usize| src[x + nx * (y + ny * (z - first))].to_f32();
    let p = plan.map.apply(j);
    let tx = linear_tap(p[0], nx, fill.is_some());
    let ty = linear_tap(p[1], ny, fill.is_some());
    let tz = linear_tap(p[2], nz, fill.is_some());
    if let (Some(f), false) = (fill, tx.inside && ty.inside && tz.inside) {
        return f;
    }
    let (wx, wy, wz) = (tx.w as f32, ty.w as f32, tz.w as f32);
    let line = |y: usize, z: usize| blend32(v(tx.i0, y, z), v(tx.i1, y, z), wx);
    let plane = |z: usize| blend32(line(ty.i0, z), line(ty.i1, z), wy);
    blend32(plane(tz.i0), plane(tz.i1), wz) * scale.slope + scale.inter
}

/// Trilinear resampling on one thread with `wide` rows (whole output).
pub fn resample_linear<T: Voxel>(src: &[T], plan: &Plan, opts: &Trilinear, dst: &mut [f32]) {
    let mut planes = Planes::default();
    resample_linear_with::<T, Wide>(src, 0, plan, opts, dst, 0..plan.grid.shape[2], &mut planes);
}

/// Trilinear resampling of output slices `zs` into `dst` (those slices only) with the row
/// operations `R`, from `src` holding the input slices (along z) from `first` on.
pub(crate) fn resample_linear_with<T: Voxel, R: RowOps>(
    src: &[T],
    first: usize,
    plan: &Plan,
    opts: &Trilinear,
    dst: &mut [f32],
    zs: Range<usize>,
    planes: &mut Planes,
) {
    if plan.map.is_diagonal() {
        Separable::new(plan, opts).run::<T, R>(src, first, zs, dst, planes);
    } else {
        R::general(src, first, plan, opts, zs, dst);
    }
}

/// Nearest-neighbour resampling of output slices `zs` into `dst` (those slices only): per
/// axis index tables and row gathers for diagonal maps, the oracle's per-voxel indices
/// otherwise. Bit-identical to the oracle (it copies the same voxels).
pub fn resample_nearest<T: Voxel>(src: &[T], plan: &Plan, fill: Option<T>, dst: &mut [T], zs: Range<usize>) {
    let [nx, ny, nz] = plan.input_shape;
    let [mx, my, _] = plan.grid.shape;
    let filling = fill.is_some();
    let f = fill.unwrap_or_default();
    if !plan.map.is_diagonal() {
        for (jz, out) in zs.zip(dst.chunks_exact_mut(mx * my)) {
            for jy in 0..my {
                for (jx, o) in out[jy * mx..(jy + 1) * mx].iter_mut().enumerate() {
                    let p = plan.map.apply([jx, jy, jz]);
                    *o = match (
                        nearest_index(p[0], nx, filling),
                        nearest_index(p[1], ny, filling),
                        nearest_index(p[2], nz, filling),
                    ) {
                        (Some(x), Some(y), Some(z)) => src[x + nx * (y + ny * z)],
                        _ => f,
                    };
                }
            }
        }
        return;
    }
    let index = |axis: usize, j: usize| {
        let mut at = [0; 3];
        at[axis] = j;
        nearest_index(plan.map.apply(at)[axis], plan.input_shape[axis], filling)
    };
    let ix: Vec<Option<usize>> = (0..mx).map(|j| index(0, j)).collect();
    let iy: Vec<Option<usize>> = (0..my).map(|j| index(1, j)).collect();
    for (jz, out) in zs.zip(dst.chunks_exact_mut(mx * my)) {
        let Some(z) = index(2, jz) else {
            out.fill(f);
            continue;
        };
        for (jy, row_out) in out.chunks_exact_mut(mx).enumerate() {
            let Some(y) = iy[jy] else {
                row_out.fill(f);
                continue;
            };
            let row = &src[(y + ny * z) * nx..][..nx];
            for (o, i) in row_out.iter_mut().zip(&ix) {
                *o = i.map_or(f, |i| row[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Affine, GridConvention, plan_spacing, scalar};

    #[test]
    fn modes_follow_the_cost_model() {
        let ct = Affine::from_spacing_origin([0.78, 0.78, 2.5], [0.0; 3]);
        let plan = plan_spacing([512, 512, 300], &ct, [1.0; 3], GridConvention::FirstCentre).expect("plans");
        let k = Separable::new(&plan, &Trilinear::new());
        // z grows: each input slice is resampled in-plane once; in-plane, y (which shrinks) first.
        assert!(!k.z_first && k.y_first);
        let iso = Affine::from_spacing_origin([1.0; 3], [0.0; 3]);
        let plan = plan_spacing([64, 64, 90], &iso, [1.0, 1.0, 2.5], GridConvention::FirstCentre).expect("plans");
        assert!(Separable::new(&plan, &Trilinear::new()).z_first, "z shrinks: slices blended first");
        let plan = plan_spacing([512, 64, 4], &iso, [4.0, 0.5, 1.0], GridConvention::FirstCentre).expect("plans");
        assert!(!Separable::new(&plan, &Trilinear::new()).y_first, "x shrinks fourfold, y doubles: x first");
    }

    /// The planes a resampler keeps between calls hold another job's values (here a wider
    /// volume's, NaN everywhere, whose last cached input slices 1 and 2 are slices the next job
    /// reads too): nothing of them reaches the next job's output.
    #[test]
    fn planes_kept_from_an_earlier_job_do_not_leak() {
        let a = Affine::from_spacing_origin([0.78, 0.78, 2.5], [0.0; 3]);
        let small = plan_spacing([9, 7, 5], &a, [1.0; 3], GridConvention::FirstCentre).expect("plans");
        let src: Vec<i16> = (0..9 * 7 * 5).map(|i| ((i * 7919) % 2500) as i16 - 1024).collect();
        let run = |plan: &Plan, src: &[i16], y_first: bool, z_first: bool, planes: &mut Planes| {
            let k = Separable { y_first, z_first, ..Separable::new(plan, &Trilinear::new()) };
            let mut out = vec![0f32; plan.output_len()];
            k.run::<i16, Wide>(src, 0, 0..plan.grid.shape[2], &mut out, planes);
            out
        };
        let big = plan_spacing([40, 33, 3], &a, [0.5, 0.5, 1.0], GridConvention::FirstCentre).expect("plans");
        let nan = Trilinear::new().fill(Some(f32::NAN)).scaling(f64::NAN, 0.0);
        for (y_first, z_first) in [(false, false), (false, true), (true, false), (true, true)] {
            let fresh = run(&small, &src, y_first, z_first, &mut Planes::default());
            // Fill the kept planes with NaN: a job scaled by NaN, its outside filled with NaN.
            let mut kept = Planes::default();
            let mut out = vec![0f32; big.output_len()];
            let outside = Separable { y_first, z_first, ..Separable::new(&big, &nan) };
            outside.run::<i16, Wide>(&vec![0; 40 * 33 * 3], 0, 0..big.grid.shape[2], &mut out, &mut kept);
            assert!(out.iter().all(|v| v.is_nan()), "the earlier job's planes are NaN");
            let after = run(&small, &src, y_first, z_first, &mut kept);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&after), bits(&fresh), "y_first {y_first} z_first {z_first}");
        }
    }

    #[test]
    fn every_mode_agrees_with_the_oracle() {
        let a = Affine::from_spacing_origin([0.78, 0.9, 2.5], [3.0, -2.0, 1.0]);
        let shape = [13, 11, 9];
        let src: Vec<i16> = (0..13 * 11 * 9).map(|i| ((i * 7919) % 2500) as i16 - 1024).collect();
        for t in [[1.0, 1.0, 1.0], [2.1, 0.45, 3.3], [0.6, 1.7, 0.8]] {
            for c in GridConvention::ALL {
                let plan = plan_spacing(shape, &a, t, c).expect("plans");
                for opts in [Trilinear::new(), Trilinear::new().fill(Some(-2000.0)).scaling(2.0, 24.0)] {
                    let mut want = vec![0f32; plan.output_len()];
                    scalar::resample_linear(&src, &plan, &opts, &mut want);
                    for (y_first, z_first) in [(false, false), (false, true), (true, false), (true, true)] {
                        let k = Separable { y_first, z_first, ..Separable::new(&plan, &opts) };
                        let mut got = vec![f32::NAN; plan.output_len()];
                        k.run::<i16, Wide>(&src, 0, 0..plan.grid.shape[2], &mut got, &mut Planes::default());
                        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                            assert!(
                                (g - w).abs() <= 1e-5 * 5000.0,
                                "{c} {t:?} y_first {y_first} z_first {z_first}: {i}: {g} vs {w}"
                            );
                        }
                    }
                }
            }
        }
    }
}
