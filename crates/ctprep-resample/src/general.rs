//! The general path (maps that are not a scale and shift per axis: oblique, permuted, sheared
//! grids) in blocks of eight output voxels along a row, bit for bit what the per-voxel code
//! gives (the oracle's positions and taps, `f32` sums in the oracle's order).
//!
//! Per block: the eight positions `start + step * jx` in `f64` (the row's start once per row,
//! no running sum: each is [`crate::VoxelMap::apply`] bit for bit), the taps and weights of
//! all lanes in loops without branches (they vectorise), the taps' values gathered, and the
//! weighted sums across the eight lanes at once, in `wide` `f32x8` ([`Wide`]) or in plain
//! loops compiled per instruction set ([`Plain`]). Trilinear blocks clamp per lane (every tap
//! in range, no per-voxel fallback); spline blocks leave lanes that need a boundary rule (a
//! fold, a fill tap) to the per-voxel code. Tricubic maps that fix an input axis over a set of
//! output voxels weight its four coefficient planes once (each within `f32` rounding of the
//! per-voxel sum, like every tricubic block): in-plane maps per output slice along z
//! ([`bicubic_slice`]), maps about y per output y along y ([`bicubic_y_first`]), rows along
//! the input's x per row along y and z ([`bicubic_row_x`]); the others run in tiles of 16 rows
//! through the slices asked for (cache reuse), their blocks in AVX2 intrinsics in the
//! `dispatched` kernel where the CPU has AVX2 ([`crate::cubic_avx2`], the same bits). `int16`
//! trilinear input takes the AVX2 kernel where the CPU has it ([`crate::avx2`]: loads and
//! gathers, positions stepped in `f32` within a block, within 8e-4 voxel of these).

#![allow(unsafe_code)] // Unchecked loads and float-to-int conversions, each with its proof.

use wide::{f32x4, f32x8};

use crate::dispatch::Plain;
use crate::simd::{Scale, Wide, blend32};
use crate::spline::{Axis, Mode};
use crate::{Plan, Voxel};

/// Output voxels per block.
const L: usize = 8;

/// The eight-lane arithmetic of the general path; every implementation computes each lane's
/// value with the same operations in the same order, so all are bit-identical.
pub(crate) trait Lanes {
    /// `blend32(a[l], b[l], w[l])` for every lane.
    fn blend(a: &[f32; L], b: &[f32; L], w: &[f32; L]) -> [f32; L];
    /// `acc[l] += w[l] * v[l]` for every lane.
    fn mul_acc(acc: &mut [f32; L], w: &[f32; L], v: &[f32; L]);
    /// One tricubic sample from its 16 rows of 4 coefficients (`rows(r)`, `r = c1 + 4 c2`):
    /// `a = Σr wyz[r] row_r` over the rows in order (4 values at once), then
    /// `((a0 wx0 + a1 wx1) + a2 wx2) + a3 wx3`.
    fn tricubic(rows: impl Fn(usize) -> [f32; 4], wx: &[f32; 4], wyz: &[f32; 16]) -> f32;
    /// [`Lanes::tricubic`] of two lanes at once, bit for bit: `rows(r)` holds the first lane's
    /// row `r` then the second's, `wx` their x weights, `wyz(r)` their weights of row `r`.
    fn tricubic2(rows: impl Fn(usize) -> [f32; 8], wx: &[f32; 8], wyz: impl Fn(usize) -> [f32; 2]) -> [f32; 2];
    /// Whether [`crate::cubic_avx2::tricubic_block`] computes this implementation's tricubic
    /// blocks (the same bits: it sums in [`Lanes::tricubic`]'s order).
    fn tricubic_avx2() -> bool {
        false
    }
}

/// Two lanes' weights `[a, b]` spread over the 4 values of each lane's row.
#[inline(always)]
fn spread(w: [f32; 2]) -> [f32; 8] {
    [w[0], w[0], w[0], w[0], w[1], w[1], w[1], w[1]]
}

/// `((p0 + p1) + p2) + p3` of each lane's half.
#[inline(always)]
fn halves(p: [f32; 8]) -> [f32; 2] {
    [((p[0] + p[1]) + p[2]) + p[3], ((p[4] + p[5]) + p[6]) + p[7]]
}

impl Lanes for Wide {
    #[inline(always)]
    fn blend(a: &[f32; L], b: &[f32; L], w: &[f32; L]) -> [f32; L] {
        let (a, b, w) = (f32x8::from(*a), f32x8::from(*b), f32x8::from(*w));
        a.simd_eq(b).select(a, a + w * (b - a)).to_array()
    }

    #[inline(always)]
    fn mul_acc(acc: &mut [f32; L], w: &[f32; L], v: &[f32; L]) {
        *acc = (f32x8::from(*acc) + f32x8::from(*w) * f32x8::from(*v)).to_array();
    }

    #[inline(always)]
    fn tricubic(rows: impl Fn(usize) -> [f32; 4], wx: &[f32; 4], wyz: &[f32; 16]) -> f32 {
        let mut a = f32x4::splat(wyz[0]) * f32x4::from(rows(0));
        for (r, &w) in wyz.iter().enumerate().skip(1) {
            a += f32x4::splat(w) * f32x4::from(rows(r));
        }
        let p = (a * f32x4::from(*wx)).to_array();
        ((p[0] + p[1]) + p[2]) + p[3]
    }

    #[inline(always)]
    fn tricubic2(rows: impl Fn(usize) -> [f32; 8], wx: &[f32; 8], wyz: impl Fn(usize) -> [f32; 2]) -> [f32; 2] {
        let mut a = f32x8::from(spread(wyz(0))) * f32x8::from(rows(0));
        for r in 1..16 {
            a += f32x8::from(spread(wyz(r))) * f32x8::from(rows(r));
        }
        halves((a * f32x8::from(*wx)).to_array())
    }
}

impl Lanes for Plain {
    fn tricubic_avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        return crate::cubic_avx2::available();
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    #[inline(always)]
    fn blend(a: &[f32; L], b: &[f32; L], w: &[f32; L]) -> [f32; L] {
        std::array::from_fn(|l| blend32(a[l], b[l], w[l]))
    }

    #[inline(always)]
    fn mul_acc(acc: &mut [f32; L], w: &[f32; L], v: &[f32; L]) {
        for l in 0..L {
            acc[l] += w[l] * v[l];
        }
    }

    #[inline(always)]
    fn tricubic(rows: impl Fn(usize) -> [f32; 4], wx: &[f32; 4], wyz: &[f32; 16]) -> f32 {
        let first = rows(0);
        let mut a: [f32; 4] = std::array::from_fn(|i| wyz[0] * first[i]);
        for (r, &w) in wyz.iter().enumerate().skip(1) {
            let row = rows(r);
            for i in 0..4 {
                a[i] += w * row[i];
            }
        }
        let p: [f32; 4] = std::array::from_fn(|i| a[i] * wx[i]);
        ((p[0] + p[1]) + p[2]) + p[3]
    }

    #[inline(always)]
    fn tricubic2(rows: impl Fn(usize) -> [f32; 8], wx: &[f32; 8], wyz: impl Fn(usize) -> [f32; 2]) -> [f32; 2] {
        let (w, first) = (spread(wyz(0)), rows(0));
        let mut a: [f32; 8] = std::array::from_fn(|i| w[i] * first[i]);
        for r in 1..16 {
            let (w, row) = (spread(wyz(r)), rows(r));
            for i in 0..8 {
                a[i] += w[i] * row[i];
            }
        }
        halves(std::array::from_fn(|i| a[i] * wx[i]))
    }
}

/// The positions along output row `(jy, jz)`: voxel `jx` at `start + step * jx` per input
/// axis, as [`crate::VoxelMap::apply`] computes it.
struct Row {
    start: [f64; 3],
    step: [f64; 3],
}

/// `0, 1, .. 7`: lane `l` of the block at `jx0` is output voxel `jx0 + l`, and
/// `jx0 as f64 + LANE[l]` is `(jx0 + l) as f64` exactly (both below 2^53), without a 64-bit
/// integer conversion per lane.
const LANE: [f64; L] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];

impl Row {
    fn new(plan: &Plan, jy: usize, jz: usize) -> Row {
        let l = &plan.map.linear;
        Row { start: plan.map.row_start(jy, jz), step: [l[0][0], l[1][0], l[2][0]] }
    }

    /// The input positions of output voxels `jx0 .. jx0 + 8` along input axis `a`.
    #[inline(always)]
    fn positions(&self, a: usize, jx0: usize) -> [f64; L] {
        let j = jx0 as f64;
        std::array::from_fn(|l| self.start[a] + self.step[a] * (j + LANE[l]))
    }
}

/// Whether the general path can run in blocks: the map is the affine one (a named scheme's
/// zoom positions take the per-voxel code), and tap offsets fit an `i32` (the input, padded,
/// has fewer than 2^31 values: every CT).
pub(crate) fn blocks(plan: &Plan) -> bool {
    let padded = plan.input_shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n + 32));
    plan.map.zoom.is_none() && padded.is_some_and(|v| v < i32::MAX as usize)
}

/// The taps of eight lanes along one axis of `n` voxels (stride `stride`), exactly
/// [`crate::linear_tap`]'s: the position clamped to `[0, n - 1]`, its floor's offset in `at`,
/// the weight in `w`, the second tap's offset from the first in `next` (0 where the weight is
/// 0, so an integral position never reads its neighbour). Lane loops without branches or
/// 64-bit conversions, so they vectorise.
#[inline(always)]
fn linear_axis(x: &[f64; L], n: usize, stride: i32, at: &mut [i32; L], w: &mut [f32; L], next: &mut [i32; L]) {
    let last = (n - 1) as f64;
    for l in 0..L {
        let x = if x[l] > 0.0 { x[l] } else { 0.0 };
        let x = if x < last { x } else { last };
        // SAFETY: `x` is in `[0, n - 1]` (positions are finite: the map is a finite affine)
        // and `n < 2^31` ([`blocks`]), so the truncation is in range.
        let i = unsafe { x.to_int_unchecked::<i32>() };
        let t = x - i as f64;
        at[l] = i * stride;
        next[l] = if t != 0.0 { stride } else { 0 };
        w[l] = t as f32;
    }
}

/// Trilinear, output slices `zs` into `dst` (those slices), from `src` holding the input slices
/// from `first` on: [`crate::simd::general_linear`] bit for bit.
#[allow(clippy::too_many_arguments)] // The kernel's data, its options and the slices.
#[inline(always)]
fn linear_blocks<T: Voxel, O: Lanes>(
    src: &[T],
    first: usize,
    plan: &Plan,
    fill: Option<f32>,
    scale: Scale,
    zs: std::ops::Range<usize>,
    dst: &mut [f32],
) {
    let [nx, ny, nz] = plan.input_shape;
    let [mx, my, _] = plan.grid.shape;
    let n = [nx, ny, nz];
    let stride = [1, nx as i32, (nx * ny) as i32];
    let below = (first * nx * ny) as i32;
    let limit = |a: usize| (-0.5, n[a] as f64 - 0.5);
    for (jz, out) in zs.zip(dst.chunks_exact_mut(mx * my)) {
        for (jy, out_row) in out.chunks_exact_mut(mx).enumerate() {
            let row = Row::new(plan, jy, jz);
            for (b, o) in out_row.chunks_mut(L).enumerate() {
                let p: [[f64; L]; 3] = std::array::from_fn(|a| row.positions(a, b * L));
                // SimpleITK's fill rule: lanes outside `[-0.5, n - 0.5)` on any axis.
                let mut inside = [true; L];
                if fill.is_some() {
                    for (a, p) in p.iter().enumerate() {
                        let (lo, hi) = limit(a);
                        for l in 0..L {
                            inside[l] &= p[l] >= lo && p[l] < hi;
                        }
                    }
                    if !inside[..o.len()].contains(&true) {
                        o.fill(fill.unwrap_or(0.0));
                        continue;
                    }
                }
                let (mut at, mut w, mut next) = ([[0i32; L]; 3], [[0f32; L]; 3], [[0i32; L]; 3]);
                for a in 0..3 {
                    linear_axis(&p[a], n[a], stride[a], &mut at[a], &mut w[a], &mut next[a]);
                }
                let base: [i32; L] = std::array::from_fn(|l| at[0][l] + at[1][l] + at[2][l] - below);
                let top = (0..L).map(|l| base[l] + next[0][l] + next[1][l] + next[2][l]).max().unwrap_or(0);
                // Every tap of a lane is at most its base plus its three steps (all taps are in
                // the input: clamped per axis), and the bases are at least 0 (`first` is at or
                // below every z tap): one check for the block's 64 loads.
                assert!(
                    (top as usize) < src.len() && base.iter().all(|&b| b >= 0),
                    "general linear: taps outside the input slices held"
                );
                let v = |i: i32| {
                    // SAFETY: `0 <= i <= top < src.len()` (checked above).
                    unsafe { src.get_unchecked(i as usize) }.to_f32()
                };
                let mut c = [[0f32; L]; 8];
                for l in 0..L {
                    let (b, sx, sy, sz) = (base[l], next[0][l], next[1][l], next[2][l]);
                    c[0][l] = v(b);
                    c[1][l] = v(b + sx);
                    c[2][l] = v(b + sy);
                    c[3][l] = v(b + sy + sx);
                    c[4][l] = v(b + sz);
                    c[5][l] = v(b + sz + sx);
                    c[6][l] = v(b + sz + sy);
                    c[7][l] = v(b + sz + sy + sx);
                }
                let l00 = O::blend(&c[0], &c[1], &w[0]);
                let l10 = O::blend(&c[2], &c[3], &w[0]);
                let l01 = O::blend(&c[4], &c[5], &w[0]);
                let l11 = O::blend(&c[6], &c[7], &w[0]);
                let p0 = O::blend(&l00, &l10, &w[1]);
                let p1 = O::blend(&l01, &l11, &w[1]);
                let v = O::blend(&p0, &p1, &w[2]);
                let f = fill.unwrap_or(0.0);
                for (l, o) in o.iter_mut().enumerate() {
                    *o = if inside[l] { v[l] * scale.slope + scale.inter } else { f };
                }
            }
        }
    }
}

/// [`linear_blocks`] with `wide` lanes.
pub(crate) fn linear_wide<T: Voxel>(
    src: &[T],
    first: usize,
    plan: &Plan,
    fill: Option<f32>,
    scale: Scale,
    zs: std::ops::Range<usize>,
    dst: &mut [f32],
) {
    linear_blocks::<T, Wide>(src, first, plan, fill, scale, zs, dst);
}

/// The coefficients and their layout for [`spline_blocks`].
pub(crate) struct Coefficients<'a> {
    pub(crate) c: &'a [f32],
    pub(crate) axes: &'a [Axis; 3],
}

/// The taps of eight lanes along `axis` where no boundary rule touches them: the first tap's
/// index and the weights, as [`Axis::taps_at`] and [`crate::spline::weights`] give them there; `false` in
/// `ok` where that code must decide (a fold, a clamp, a fill tap, SimpleITK's fill rule, NaN).
/// Lane loops without branches (a match on the order outside them), so they vectorise.
///
/// With `far`, a cubic `edge` axis also takes the lanes all of whose taps clamp to one end
/// (more than a voxel beyond the padded coefficients): that end's coefficient with weight 1,
/// where the per-voxel code sums the same coefficient with the four weights (1 up to rounding).
#[inline(always)]
fn spline_taps(axis: &Axis, far: bool, x: &[f64; L], start: &mut [i32; L], w: &mut [[f32; L]; 4], ok: &mut [bool; L]) {
    let pad = axis.pad as f64;
    let len = axis.len() as f64;
    let cc: [f64; L] = std::array::from_fn(|l| x[l] + pad);
    let inside: [bool; L] = if axis.box_fill {
        let n = axis.n as f64 - 0.5;
        std::array::from_fn(|l| x[l] >= -0.5 && x[l] < n)
    } else {
        [true; L]
    };
    match axis.order {
        3 => {
            let mut fine = [false; L];
            for l in 0..L {
                let c = if cc[l] >= 1.0 && cc[l] < len - 2.0 { cc[l] } else { 1.0 };
                fine[l] = cc[l] >= 1.0 && cc[l] < len - 2.0;
                let i = trunc(c);
                start[l] = i - 1;
                let y = c - i as f64;
                let z = 1.0 - y;
                let w1 = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0;
                let w2 = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0;
                let w0 = z * z * z / 6.0;
                let w3 = 1.0 - w0 - w1 - w2;
                (w[0][l], w[1][l], w[2][l], w[3][l]) = (w0 as f32, w1 as f32, w2 as f32, w3 as f32);
            }
            if far && axis.mode == Mode::Edge && !axis.box_fill && axis.len() >= 4 {
                let last = axis.len() as i32 - 4;
                for l in 0..L {
                    let (below, above) = (cc[l] < -1.0, cc[l] >= len);
                    if below || above {
                        fine[l] = true;
                        start[l] = if below { 0 } else { last };
                        let t = if below { 0 } else { 3 };
                        for (k, wk) in w.iter_mut().enumerate() {
                            wk[l] = if k == t { 1.0 } else { 0.0 };
                        }
                    }
                }
            }
            for l in 0..L {
                ok[l] &= inside[l] && fine[l];
            }
        }
        1 => {
            for l in 0..L {
                let c = if cc[l] >= 0.0 && cc[l] < len - 1.0 { cc[l] } else { 0.0 };
                ok[l] &= inside[l] && cc[l] >= 0.0 && cc[l] < len - 1.0;
                let i = trunc(c);
                start[l] = i;
                let w0 = 1.0 - (c - i as f64);
                (w[0][l], w[1][l]) = (w0 as f32, (1.0 - w0) as f32);
            }
        }
        _ => {
            for l in 0..L {
                let c = if cc[l] >= -0.5 && cc[l] < len - 0.5 { cc[l] } else { 0.0 };
                ok[l] &= inside[l] && cc[l] >= -0.5 && cc[l] < len - 0.5;
                start[l] = trunc(c + 0.5);
                w[0][l] = 1.0;
            }
        }
    }
}

/// `c` truncated, for `c` in `[0, len]` of an axis [`blocks`] admits (below 2^31): every
/// spline lane's clamped position.
#[inline(always)]
fn trunc(c: f64) -> i32 {
    debug_assert!((0.0..i32::MAX as f64).contains(&c), "{c}");
    // SAFETY: the callers clamp `c` into `[0, len]` (a finite value; a NaN position fails
    // the clamp's comparisons and takes the fixed value), and `len < 2^31` ([`blocks`]).
    unsafe { c.to_int_unchecked::<i32>() }
}

/// B-spline of any orders, output slices `zs` into `dst`, from the padded `f32` coefficients
/// of the whole input: the per-voxel sum of `bspline::general` bit for bit (lanes that need a
/// boundary rule are computed by `one`, that per-voxel code).
#[inline(always)]
fn spline_blocks<O: Lanes>(
    k: &Coefficients<'_>,
    plan: &Plan,
    zs: std::ops::Range<usize>,
    dst: &mut [f32],
    one: &(dyn Fn([usize; 3]) -> f32 + Sync),
) {
    let [mx, my, _] = plan.grid.shape;
    let axes = k.axes;
    let ks = axes.map(|a| a.taps());
    let z_first = ks == [4; 3] && plan.map.linear[2][0] == 0.0 && plan.map.linear[2][1] == 0.0;
    let mut plane = Vec::new();
    if ks == [4; 3] && !z_first && y_grouped(plan) {
        return bicubic_y_first(k, plan, zs, dst, one, &mut plane, |jy, jz, out_row| {
            spline_row::<O>(k, plan, jy, jz, out_row, one)
        });
    }
    if !z_first {
        // Rows in tiles of `TILE` rows through all the slices asked for: the coefficients a
        // tile's rows reach in one slice are mostly reached again in the next, while still in
        // cache (as in the AVX2 linear kernel; measured on the bench's skew rotation: 16 rows
        // 0.72x the time of whole slices, 4 and 32 rows within the noise of 16).
        const TILE: usize = 16;
        let l = &plan.map.linear;
        let along_x = ks == [4; 3] && l[1][0] == 0.0 && l[2][0] == 0.0;
        for y0 in (0..my).step_by(TILE) {
            for (jz, out) in zs.clone().zip(dst.chunks_exact_mut(mx * my)) {
                for jy in y0..(y0 + TILE).min(my) {
                    let out_row = &mut out[jy * mx..][..mx];
                    if !(along_x && bicubic_row_x(k, plan, jy, jz, out_row, one, &mut plane)) {
                        spline_row::<O>(k, plan, jy, jz, out_row, one);
                    }
                }
            }
        }
        return;
    }
    for (jz, out) in zs.zip(dst.chunks_exact_mut(mx * my)) {
        // The input's z depends on the output's z alone (in-plane rotations and shears): the
        // slice's 4 coefficient planes weighted along z once, then 4 x 4 taps per voxel
        // instead of 4 x 4 x 4.
        let (mut sz, mut wz, mut okz) = ([0i32; L], [[0f32; L]; 4], [true; L]);
        spline_taps(&axes[2], true, &Row::new(plan, 0, jz).positions(2, 0), &mut sz, &mut wz, &mut okz);
        if okz[0] {
            let wz = [wz[0][0], wz[1][0], wz[2][0], wz[3][0]];
            bicubic_slice(k, plan, jz, sz[0] as usize, wz, out, one, &mut plane);
            continue;
        }
        for (jy, out_row) in out.chunks_exact_mut(mx).enumerate() {
            spline_row::<O>(k, plan, jy, jz, out_row, one);
        }
    }
}

/// Output row `(jy, jz)` of a tricubic map whose rows run along the input's x at a fixed y and
/// z (rotations about x, the grids of gantry-tilted inputs), when neither needs a boundary
/// rule (else `false`, nothing written): the row's 16 coefficient rows weighted along y, then
/// z, once into `row` (over the x range the row reaches, [`cubic_rows`]), then per voxel its 4
/// taps along x: within `f32` rounding of the per-voxel sum (x first there). Lanes that need a
/// boundary rule on x take `one`.
#[inline(always)]
fn bicubic_row_x(
    k: &Coefficients<'_>,
    plan: &Plan,
    jy: usize,
    jz: usize,
    out_row: &mut [f32],
    one: &(dyn Fn([usize; 3]) -> f32 + Sync),
    row: &mut Vec<f32>,
) -> bool {
    let axes = k.axes;
    let [px, py, _] = axes.map(|a| a.len());
    let r = Row::new(plan, jy, jz);
    let (mut s, mut w, mut ok) = ([[0i32; L]; 3], [[[0f32; L]; 4]; 3], [true; L]);
    for a in 1..3 {
        spline_taps(&axes[a], true, &r.positions(a, 0), &mut s[a], &mut w[a], &mut ok);
    }
    if !ok[0] {
        return false;
    }
    let (y0, z0) = (s[1][0] as usize, s[2][0] as usize);
    let xs = cubic_rows(plan, &axes[0], 0, [jy, jy], [jz, jz]);
    let n = xs.len();
    // Four rows weighted along y (one per z tap), then those along z, into `row`'s last `n`.
    row.resize(5 * n, 0.0);
    let (planes, row) = row.split_at_mut(4 * n);
    let coef = |c1: usize, c2: usize| &k.c[((z0 + c2) * py + y0 + c1) * px + xs.start..][..n];
    let wy: [f32; 4] = std::array::from_fn(|c| w[1][c][0]);
    let wz: [f32; 4] = std::array::from_fn(|c| w[2][c][0]);
    for (c2, plane) in planes.chunks_exact_mut(n).enumerate() {
        let c: [&[f32]; 4] = std::array::from_fn(|c1| coef(c1, c2));
        for ((((p, &c0), &c1), &c2), &c3) in plane.iter_mut().zip(c[0]).zip(c[1]).zip(c[2]).zip(c[3]) {
            *p = ((wy[0] * c0 + wy[1] * c1) + wy[2] * c2) + wy[3] * c3;
        }
    }
    let p: [&[f32]; 4] = std::array::from_fn(|c2| &planes[c2 * n..][..n]);
    for ((((o, &p0), &p1), &p2), &p3) in row.iter_mut().zip(p[0]).zip(p[1]).zip(p[2]).zip(p[3]) {
        *o = ((wz[0] * p0 + wz[1] * p1) + wz[2] * p2) + wz[3] * p3;
    }
    for (b, o) in out_row.chunks_mut(L).enumerate() {
        let mut ok = [true; L];
        spline_taps(&axes[0], true, &r.positions(0, b * L), &mut s[0], &mut w[0], &mut ok);
        for (l, o) in o.iter_mut().enumerate() {
            if !ok[l] {
                *o = one([b * L + l, jy, jz]);
                continue;
            }
            // `row` holds every tap the lanes without a boundary rule reach.
            let t = &row[s[0][l] as usize - xs.start..][..4];
            *o = ((w[0][0][l] * t[0] + w[0][1][l] * t[1]) + w[0][2][l] * t[2]) + w[0][3][l] * t[3];
        }
    }
    true
}

/// Whether the input's y depends on the output's y alone and x and z do not depend on it
/// (rotations about y): every output row at one y reads the same 4 coefficient planes along y
/// with the same weights.
pub(crate) fn y_grouped(plan: &Plan) -> bool {
    let l = &plan.map.linear;
    [0, 2].iter().all(|&b| l[1][b] == 0.0 && l[b][1] == 0.0)
}

/// One axis's taps of eight lanes as [`spline_taps`] gives them: first taps, weights, and the
/// lanes that need no boundary rule.
type LaneTaps = ([i32; L], [[f32; L]; 4], [bool; L]);

/// The spline taps of a row's blocks along the input axes `axis` (`far` as [`spline_taps`]
/// takes it): an axis the row does not move along (step 0: an in-plane rotation's z) has the
/// same taps in every block, computed once per row.
struct RowTaps<'a, const N: usize> {
    axes: &'a [Axis; 3],
    row: &'a Row,
    axis: [usize; N],
    far: bool,
    fixed: [LaneTaps; N],
}

impl<'a, const N: usize> RowTaps<'a, N> {
    #[inline(always)]
    fn new(axes: &'a [Axis; 3], row: &'a Row, axis: [usize; N], far: bool) -> Self {
        let mut fixed: [LaneTaps; N] = [([0i32; L], [[0f32; L]; 4], [true; L]); N];
        for (&a, f) in axis.iter().zip(fixed.iter_mut()) {
            if row.step[a] == 0.0 {
                spline_taps(&axes[a], far, &row.positions(a, 0), &mut f.0, &mut f.1, &mut f.2);
            }
        }
        RowTaps { axes, row, axis, far, fixed }
    }

    /// Block `b`'s first taps and weights per axis, and which lanes need no boundary rule on
    /// any of them.
    #[inline(always)]
    #[allow(clippy::type_complexity)] // The three per-lane arrays `spline_taps` fills.
    fn block(&self, b: usize) -> ([[i32; L]; N], [[[f32; L]; 4]; N], [bool; L]) {
        let (mut start, mut w, mut ok) = ([[0i32; L]; N], [[[0f32; L]; 4]; N], [true; L]);
        for (i, &a) in self.axis.iter().enumerate() {
            if self.row.step[a] == 0.0 {
                (start[i], w[i]) = (self.fixed[i].0, self.fixed[i].1);
                for (ok, &f) in ok.iter_mut().zip(&self.fixed[i].2) {
                    *ok &= f;
                }
            } else {
                let p = self.row.positions(a, b * L);
                spline_taps(&self.axes[a], self.far, &p, &mut start[i], &mut w[i], &mut ok);
            }
        }
        (start, w, ok)
    }
}

/// Output row `(jy, jz)` of [`spline_blocks`] into `out_row`: per block of eight lanes the taps
/// on each axis, the sums in lanes (tricubic: 16 rows of 4 per lane), `one` for the lanes that
/// need a boundary rule.
#[inline(always)]
fn spline_row<O: Lanes>(
    k: &Coefficients<'_>,
    plan: &Plan,
    jy: usize,
    jz: usize,
    out_row: &mut [f32],
    one: &(dyn Fn([usize; 3]) -> f32 + Sync),
) {
    let axes = k.axes;
    let [px, py, _] = axes.map(|a| a.len());
    let ks = axes.map(|a| a.taps());
    let stride = [1, px, px * py];
    let row = Row::new(plan, jy, jz);
    let taps = RowTaps::new(axes, &row, [0, 1, 2], ks == [4; 3]);
    #[cfg(target_arch = "x86_64")]
    let avx2 = ks == [4; 3] && O::tricubic_avx2();
    #[cfg(target_arch = "x86_64")]
    let rows: [usize; 16] = std::array::from_fn(|r| stride[1] * (r % 4) + stride[2] * (r / 4));
    for (b, o) in out_row.chunks_mut(L).enumerate() {
        let len = o.len();
        let (start, w, ok) = taps.block(b);
        if (0..len).all(|l| !ok[l]) {
            for (l, o) in o.iter_mut().enumerate() {
                *o = one([b * L + l, jy, jz]);
            }
            continue;
        }
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // Every lane's first tap on each axis is within `[0, axis.len() - 4]` (`spline_taps`
            // clamps those of lanes that need a boundary rule and of the lanes past the row's
            // end; an axis shorter than 4 has no lane without one, and such blocks were left
            // above), so every lane's rows are in the coefficients; `one` replaces the lanes
            // that need a boundary rule.
            let base: [usize; L] = std::array::from_fn(|l| {
                start[0][l] as usize + stride[1] * start[1][l] as usize + stride[2] * start[2][l] as usize
            });
            // SAFETY: `avx2` holds only where the CPU has AVX2 (`Lanes::tricubic_avx2`).
            let v = unsafe { crate::cubic_avx2::tricubic_block(k.c, &base, &rows, &w[0], &w[1], &w[2]) };
            for (l, o) in o.iter_mut().enumerate() {
                *o = if ok[l] { v[l] } else { one([b * L + l, jy, jz]) };
            }
            continue;
        }
        if ks == [4; 3] {
            // Tricubic: each lane's 16 rows of 4 coefficients as 4-value vectors (16
            // loads, not 64), weighted by y and z first, x last; two lanes at a time.
            let wyz: [[f32; L]; 16] = std::array::from_fn(|r| {
                let (wy, wz) = (&w[1][r % 4], &w[2][r / 4]);
                std::array::from_fn(|l| wy[l] * wz[l])
            });
            let foot = |l: usize| {
                let base = start[0][l] as usize + px * start[1][l] as usize + stride[2] * start[2][l] as usize;
                // One bounds check for the lane's whole footprint.
                &k.c[base..base + 3 * stride[2] + 3 * stride[1] + 4]
            };
            let row = |foot: &[f32], r: usize| -> [f32; 4] {
                let at = stride[1] * (r % 4) + stride[2] * (r / 4);
                foot[at..at + 4].try_into().unwrap_or_else(|_| unreachable!("4 values"))
            };
            let wx = |l: usize| [w[0][0][l], w[0][1][l], w[0][2][l], w[0][3][l]];
            let mut l = 0;
            while l < len {
                if l + 1 < len && ok[l] && ok[l + 1] {
                    let (fa, fb) = (foot(l), foot(l + 1));
                    let rows = |r: usize| {
                        let (a, b) = (row(fa, r), row(fb, r));
                        [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
                    };
                    let (xa, xb) = (wx(l), wx(l + 1));
                    let wx2 = [xa[0], xa[1], xa[2], xa[3], xb[0], xb[1], xb[2], xb[3]];
                    let v = O::tricubic2(rows, &wx2, |r| [wyz[r][l], wyz[r][l + 1]]);
                    (o[l], o[l + 1]) = (v[0], v[1]);
                    l += 2;
                    continue;
                }
                o[l] = if ok[l] {
                    let f = foot(l);
                    let wyz_l: [f32; 16] = std::array::from_fn(|r| wyz[r][l]);
                    O::tricubic(|r| row(f, r), &wx(l), &wyz_l)
                } else {
                    one([b * L + l, jy, jz])
                };
                l += 1;
            }
            continue;
        }
        // Each lane's taps, row by row (`ks[0]` consecutive coefficients), lanes last.
        let mut v = [[[0f32; L]; 4]; 16];
        for l in 0..len {
            if !ok[l] {
                continue;
            }
            let base = start[0][l] as usize + px * start[1][l] as usize + stride[2] * start[2][l] as usize;
            for c2 in 0..ks[2] {
                for c1 in 0..ks[1] {
                    let from = base + stride[1] * c1 + stride[2] * c2;
                    let row = &k.c[from..from + ks[0]];
                    for (c0, &x) in row.iter().enumerate() {
                        v[c1 + 4 * c2][c0][l] = x;
                    }
                }
            }
        }
        let mut acc = [0f32; L];
        for c2 in 0..ks[2] {
            let mut plane = [0f32; L];
            for c1 in 0..ks[1] {
                let mut line = [0f32; L];
                for c0 in 0..ks[0] {
                    O::mul_acc(&mut line, &w[0][c0], &v[c1 + 4 * c2][c0]);
                }
                O::mul_acc(&mut plane, &w[1][c1], &line);
            }
            O::mul_acc(&mut acc, &w[2][c2], &plane);
        }
        for l in 0..len {
            o[l] = if ok[l] { acc[l] } else { one([b * L + l, jy, jz]) };
        }
    }
}

/// Output slice `jz` of a tricubic map whose input z is the same over the slice (taps from
/// `z0`, weights `wz`, no boundary rule on z): the plane `Σ wz[c2] C[.., .., z0 + c2]` in that
/// order, then per voxel its 4 rows of 4 values weighted by y (in order) and x, as
/// [`Lanes::tricubic`] sums (z first: within `f32` rounding of the per-voxel sum). Lanes that
/// need a boundary rule in-plane take `one`. Plain code: every variant gives the same bits.
#[allow(clippy::too_many_arguments)] // The coefficients, the slice and its z taps.
#[inline(always)]
fn bicubic_slice(
    k: &Coefficients<'_>,
    plan: &Plan,
    jz: usize,
    z0: usize,
    wz: [f32; 4],
    out: &mut [f32],
    one: &(dyn Fn([usize; 3]) -> f32 + Sync),
    plane: &mut Vec<f32>,
) {
    let [mx, _, _] = plan.grid.shape;
    let axes = k.axes;
    let [px, py, _] = axes.map(|a| a.len());
    let pxy = px * py;
    let c: [&[f32]; 4] = std::array::from_fn(|c2| &k.c[(z0 + c2) * pxy..][..pxy]);
    plane.resize(pxy, 0.0);
    for ((((p, &c0), &c1), &c2), &c3) in plane.iter_mut().zip(c[0]).zip(c[1]).zip(c[2]).zip(c[3]) {
        *p = ((wz[0] * c0 + wz[1] * c1) + wz[2] * c2) + wz[3] * c3;
    }
    for (jy, out_row) in out.chunks_exact_mut(mx).enumerate() {
        plane_row(k, plan, plane, 1, 0, jy, jz, out_row, one);
    }
}

/// Output row `(jy, jz)` from a plane of coefficients already weighted along the third axis:
/// rows along input axis `q` (y or z) from padded index `r0` on, of `px` values along x. Per
/// lane its 4 rows of 4 values weighted along `q` (in order), then x, as [`Lanes::tricubic`]
/// sums; lanes that need a boundary rule on x or `q` take `one`.
#[allow(clippy::too_many_arguments)] // The plane, where it lies, the row and its output.
#[inline(always)]
fn plane_row(
    k: &Coefficients<'_>,
    plan: &Plan,
    plane: &[f32],
    q: usize,
    r0: usize,
    jy: usize,
    jz: usize,
    out_row: &mut [f32],
    one: &(dyn Fn([usize; 3]) -> f32 + Sync),
) {
    let axes = k.axes;
    let px = axes[0].len();
    let row = Row::new(plan, jy, jz);
    let taps = RowTaps::new(axes, &row, [0, q], true);
    for (b, o) in out_row.chunks_mut(L).enumerate() {
        let (start, w, ok) = taps.block(b);
        for (l, o) in o.iter_mut().enumerate() {
            if !ok[l] {
                *o = one([b * L + l, jy, jz]);
                continue;
            }
            // The caller's plane holds every row the lanes without a boundary rule reach.
            let base = start[0][l] as usize + px * (start[1][l] as usize - r0);
            // One bounds check for the lane's footprint.
            let foot = &plane[base..base + 3 * px + 4];
            let mut a = [0f32; 4];
            for c1 in 0..4 {
                let (wq, r) = (w[1][c1][l], &foot[c1 * px..c1 * px + 4]);
                for i in 0..4 {
                    a[i] = if c1 == 0 { wq * r[i] } else { a[i] + wq * r[i] };
                }
            }
            let p: [f32; 4] = std::array::from_fn(|i| a[i] * w[0][i][l]);
            *o = ((p[0] + p[1]) + p[2]) + p[3];
        }
    }
}

/// The padded coefficient indices along input axis `a` that the lanes without a boundary rule
/// of the output voxels `jx` in `[0, mx)`, `jy` in `ys` and `jz` in `zs` read (cubic): from the
/// first tap of the lowest position to the last of the highest. The position is affine in the
/// output index, so its extremes are at the box's corners; a first tap (`spline_taps`'s) is
/// non-decreasing in the position and within `[0, len - 4]`. Widened by 1e-6 voxel for the
/// positions' rounding. The whole axis where a corner is not finite.
fn cubic_rows(plan: &Plan, axis: &Axis, a: usize, ys: [usize; 2], zs: [usize; 2]) -> std::ops::Range<usize> {
    let len = axis.len();
    let last_x = plan.grid.shape[0].saturating_sub(1);
    let corners = [0, last_x]
        .into_iter()
        .flat_map(|jx| ys.into_iter().flat_map(move |jy| zs.into_iter().map(move |jz| [jx, jy, jz])));
    let (lo, hi) = corners
        .map(|j| plan.map.apply(j)[a])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p), hi.max(p)));
    if !(lo.is_finite() && hi.is_finite()) || len < 4 {
        return 0..len;
    }
    let first = |p: f64| {
        let c = (p + axis.pad as f64).clamp(1.0, len as f64 - 2.0);
        (c.floor() as usize - 1).min(len - 4)
    };
    first(lo - 1e-6)..first(hi + 1e-6) + 4
}

/// Output slices `zs` of a tricubic map about y ([`y_grouped`]) into `dst`: per output y whose
/// taps need no boundary rule, the plane `Σ wy[c1] C[.., y0 + c1, ..]` in that order (its rows
/// along z: only those the slices reach, [`cubic_rows`]), then each row of that y from it
/// ([`plane_row`]: z, then x; y first, within `f32` rounding of the per-voxel sum); the other
/// rows by `row` (the general blocks).
#[allow(clippy::too_many_arguments)] // The coefficients, the slices and the fallback.
#[inline(always)]
fn bicubic_y_first(
    k: &Coefficients<'_>,
    plan: &Plan,
    zs: std::ops::Range<usize>,
    dst: &mut [f32],
    one: &(dyn Fn([usize; 3]) -> f32 + Sync),
    plane: &mut Vec<f32>,
    row: impl Fn(usize, usize, &mut [f32]),
) {
    let [mx, my, _] = plan.grid.shape;
    let axes = k.axes;
    let [px, py, _] = axes.map(|a| a.len());
    let pxy = px * py;
    if zs.is_empty() {
        return;
    }
    let rows = cubic_rows(plan, &axes[2], 2, [0, my - 1], [zs.start, zs.end - 1]);
    let out_row = |jz: usize, jy: usize| ((jz - zs.start) * my + jy) * mx;
    for jy in 0..my {
        let (mut y0, mut wy, mut ok) = ([0i32; L], [[0f32; L]; 4], [true; L]);
        spline_taps(&axes[1], true, &Row::new(plan, jy, zs.start).positions(1, 0), &mut y0, &mut wy, &mut ok);
        if !ok[0] {
            for jz in zs.clone() {
                row(jy, jz, &mut dst[out_row(jz, jy)..][..mx]);
            }
            continue;
        }
        let (y0, wy) = (y0[0] as usize, [wy[0][0], wy[1][0], wy[2][0], wy[3][0]]);
        plane.resize(rows.len() * px, 0.0);
        for (r, p) in rows.clone().zip(plane.chunks_exact_mut(px)) {
            let c: [&[f32]; 4] = std::array::from_fn(|c1| &k.c[r * pxy + (y0 + c1) * px..][..px]);
            for ((((p, &c0), &c1), &c2), &c3) in p.iter_mut().zip(c[0]).zip(c[1]).zip(c[2]).zip(c[3]) {
                *p = ((wy[0] * c0 + wy[1] * c1) + wy[2] * c2) + wy[3] * c3;
            }
        }
        for jz in zs.clone() {
            plane_row(k, plan, plane, 2, rows.start, jy, jz, &mut dst[out_row(jz, jy)..][..mx], one);
        }
    }
}

/// [`spline_blocks`] with `wide` lanes.
pub(crate) fn spline_wide(
    k: &Coefficients<'_>,
    plan: &Plan,
    zs: std::ops::Range<usize>,
    dst: &mut [f32],
    one: &(dyn Fn([usize; 3]) -> f32 + Sync),
) {
    spline_blocks::<Wide>(k, plan, zs, dst, one);
}

ctprep_core::dispatched! {
    /// [`linear_blocks`] with plain lanes, compiled per instruction set.
    pub(crate) fn linear_plain<T: Voxel>(
        src: &[T],
        first: usize,
        plan: &Plan,
        fill: Option<f32>,
        scale: Scale,
        zs: std::ops::Range<usize>,
        dst: &mut [f32],
    ) {
        linear_blocks::<T, Plain>(src, first, plan, fill, scale, zs, dst);
    }

    /// [`spline_blocks`] with plain lanes, compiled per instruction set.
    pub(crate) fn spline_plain(
        k: &Coefficients<'_>,
        plan: &Plan,
        zs: std::ops::Range<usize>,
        dst: &mut [f32],
        one: &(dyn Fn([usize; 3]) -> f32 + Sync),
    ) {
        spline_blocks::<Plain>(k, plan, zs, dst, one);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::blend32;
    use crate::spline::{Mode, Sampling};
    use crate::{Affine, Grid, Trilinear, bspline, plan_like, simd};

    /// Oblique (about z, x, y and a skew axis), permuted and sheared grids around a `shape` input, a
    /// little larger than it (some samples outside) and far larger (most far outside), rows of
    /// 1, 7, 8, 9, 17 and 33 voxels.
    fn plans(shape: [usize; 3]) -> Vec<Plan> {
        let a = Affine::from_spacing_origin([0.78, 0.9, 2.5], [3.0, -2.0, 1.0]);
        let centre = a.apply(shape.map(|n| (n as f64 - 1.0) / 2.0));
        let (s, c) = 17f64.to_radians().sin_cos();
        let lins = [
            [[0.9 * c, -0.8 * s, 0.0], [0.9 * s, 0.8 * c, 0.0], [0.0, 0.0, 2.0]],
            [[0.7, 0.0, 0.0], [0.0, 0.8 * c, -2.0 * s], [0.0, 0.8 * s, 2.0 * c]],
            [[0.0, -0.8, 0.0], [0.0, 0.0, -1.0], [2.0, 0.0, 0.0]],
            [[0.8, 0.3, 0.0], [0.0, 0.85, 0.4], [0.0, 0.0, 1.7]],
            // About y: the AVX2 kernel's y-first planes, the cubic blocks' too.
            [[0.9 * c, 0.0, -2.0 * s], [0.0, 0.8, 0.0], [0.9 * s, 0.0, 2.0 * c]],
            // About a skew axis: every input axis moves along every output axis (the general
            // rows; the AVX2 tricubic blocks).
            [[0.8, -0.2, 0.3], [0.25, 0.85, -0.2], [-0.3, 0.2, 1.7]],
        ];
        let mut out = Vec::new();
        // Spread 1.15 (a few samples outside) and 12 (most of them far outside).
        for (lin, spread) in lins.into_iter().flat_map(|l| [(l, 1.15), (l, 12.0)]) {
            let lin = lin.map(|r| r.map(|v| v * spread));
            for m in [[1, 1, 1], [7, 3, 2], [8, 2, 3], [9, 4, 2], [17, 5, 3], [33, 9, 7]] {
                let half: [f64; 3] =
                    std::array::from_fn(|r| (0..3).map(|k| lin[r][k] * (m[k] as f64 - 1.0) / 2.0).sum());
                let origin: [f64; 3] = std::array::from_fn(|r| centre[r] - half[r]);
                let grid = Grid { shape: m, affine: Affine::from_parts(lin, origin) };
                out.push(plan_like(shape, &a, grid).expect("plans"));
            }
        }
        out
    }

    /// [`Plain`]'s lanes without the AVX2 tricubic block (what CPUs without AVX2 run), so its
    /// loops stay tested where the CPU has AVX2.
    struct Loops;

    impl Lanes for Loops {
        fn blend(a: &[f32; L], b: &[f32; L], w: &[f32; L]) -> [f32; L] {
            Plain::blend(a, b, w)
        }
        fn mul_acc(acc: &mut [f32; L], w: &[f32; L], v: &[f32; L]) {
            Plain::mul_acc(acc, w, v)
        }
        fn tricubic(rows: impl Fn(usize) -> [f32; 4], wx: &[f32; 4], wyz: &[f32; 16]) -> f32 {
            Plain::tricubic(rows, wx, wyz)
        }
        fn tricubic2(rows: impl Fn(usize) -> [f32; 8], wx: &[f32; 8], wyz: impl Fn(usize) -> [f32; 2]) -> [f32; 2] {
            Plain::tricubic2(rows, wx, wyz)
        }
    }

    const SHAPES: [[usize; 3]; 5] = [[1, 1, 1], [2, 3, 2], [9, 7, 5], [17, 4, 3], [5, 1, 6]];

    fn values(n: usize, nan: bool) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let v = ((i * 7919 + 13) % 2500) as f32 - 1024.0;
                if nan && i % 11 == 3 { f32::NAN } else { v }
            })
            .collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// The per-voxel code at the AVX2 kernel's positions ([`crate::avx2::position32`]; the fill
    /// rule on the `f64` positions, as there), blending in its order (y, x, z where
    /// [`crate::avx2::group_axis`] is y, y, z, x where [`crate::avx2::rows_along_x`], z, x, y
    /// where [`crate::avx2::z_first`], else x, y, z).
    #[cfg(target_arch = "x86_64")]
    fn at_positions32(src: &[i16], plan: &Plan, fill: Option<f32>, scale: Scale) -> Vec<f32> {
        let n = plan.input_shape;
        let [mx, my, mz] = plan.grid.shape;
        let mut out = Vec::with_capacity(plan.output_len());
        for j in (0..mz).flat_map(|z| (0..my).flat_map(move |y| (0..mx).map(move |x| [x, y, z]))) {
            let exact = plan.map.apply(j);
            if let Some(f) = fill.filter(|_| (0..3).any(|a| !(exact[a] >= -0.5 && exact[a] < n[a] as f64 - 0.5))) {
                out.push(f);
                continue;
            }
            let p = crate::avx2::position32(plan, j);
            let [tx, ty, tz] = std::array::from_fn(|a| crate::linear_tap(p[a], n[a], false));
            let v = |x: usize, y: usize, z: usize| f32::from(src[x + n[0] * (y + n[1] * z)]);
            let value = if crate::avx2::group_axis(plan) == Some(1) {
                // y, then x, then z.
                let vy = |x: usize, z: usize| blend32(v(x, ty.i0, z), v(x, ty.i1, z), ty.w as f32);
                let line = |z: usize| blend32(vy(tx.i0, z), vy(tx.i1, z), tx.w as f32);
                blend32(line(tz.i0), line(tz.i1), tz.w as f32)
            } else if crate::avx2::rows_along_x(plan) {
                // y, then z, then x.
                let line = |x: usize| {
                    let (near, far) = (tz.i0, tz.i1);
                    let row = |z: usize| blend32(v(x, ty.i0, z), v(x, ty.i1, z), ty.w as f32);
                    blend32(row(near), row(far), tz.w as f32)
                };
                blend32(line(tx.i0), line(tx.i1), tx.w as f32)
            } else if crate::avx2::z_first(plan) {
                // z, then x, then y.
                let vz = |x: usize, y: usize| blend32(v(x, y, tz.i0), v(x, y, tz.i1), tz.w as f32);
                let line = |y: usize| blend32(vz(tx.i0, y), vz(tx.i1, y), tx.w as f32);
                blend32(line(ty.i0), line(ty.i1), ty.w as f32)
            } else {
                let line = |y: usize, z: usize| blend32(v(tx.i0, y, z), v(tx.i1, y, z), tx.w as f32);
                let plane = |z: usize| blend32(line(ty.i0, z), line(ty.i1, z), ty.w as f32);
                blend32(plane(tz.i0), plane(tz.i1), tz.w as f32)
            };
            out.push(value * scale.slope + scale.inter);
        }
        out
    }

    /// The AVX2 kernel's `f32` steps stay within 8e-4 voxel of the oracle's positions wherever
    /// they reach the taps, on axes up to 4096 voxels and steps up to 64 voxels (the bound its
    /// docs state), in every lane of blocks that start far outside the input.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn f32_steps_stay_within_their_bound() {
        let n = [4096, 4096, 4096];
        let mut worst = 0f64;
        let mut seen = 0usize;
        for (k, step) in [0.013, 0.37, 0.7072, 1.0, 1.2799, 3.3333, 17.9, 63.99].into_iter().enumerate() {
            for sign in [1.0, -1.0] {
                let (s, c) = (0.2 + k as f64).sin_cos();
                let linear = [[sign * step * c, 0.9, 0.0], [step * s, -0.4, 0.0], [-0.3 * step, 0.0, 1.0]];
                let offset = [0.5 + 4095.0 * (sign < 0.0) as u8 as f64, 2047.3, 4000.1];
                let mx = (8000.0 / step) as usize + 17;
                let plan = Plan {
                    input_shape: n,
                    grid: Grid { shape: [mx, 3, 1], affine: Affine::IDENTITY },
                    map: crate::VoxelMap { linear, offset, zoom: None },
                };
                for jy in 0..3 {
                    for jx in 0..mx {
                        let (exact, got) = (plan.map.apply([jx, jy, 0]), crate::avx2::position32(&plan, [jx, jy, 0]));
                        for a in 0..3 {
                            if exact[a] >= -1.0 && exact[a] <= n[a] as f64 {
                                worst = worst.max((got[a] - exact[a]).abs());
                                seen += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(seen > 100_000, "only {seen} positions checked");
        assert!(worst <= 8e-4, "f32 steps moved a position by {worst} voxel");
    }

    /// `interior` ranges hold only positions at least 1e-3 voxel inside `[0, n - 1]` and miss at
    /// most two of them (one at each end).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn interior_ranges_are_inside_and_nearly_whole() {
        let mut nonempty = 0;
        for n in [1usize, 2, 3, 9, 512, 4096] {
            for p in [-700.3, -3.0, -0.0004, 0.0, 0.0007, 0.5, 1.9995, 255.25, 4095.0, 5000.0] {
                for s in [-64.0, -1.28, -0.27, -1e-9, 0.0, 1e-9, 0.013, 0.27, 1.0, 1.2799, 7.5, 64.0] {
                    for m in [1usize, 8, 9, 400, 5000] {
                        let r = crate::avx2::interior(p, s, n, m);
                        let at = |j: usize| p + s * j as f64;
                        let inside = |j: usize| at(j) >= 1e-3 && at(j) <= n as f64 - 1.0 - 1e-3;
                        let what = format!("p {p} s {s} n {n} m {m}: {r:?}");
                        assert!(r.end <= m, "{what}");
                        assert!(r.clone().all(inside), "{what}");
                        nonempty += usize::from(!r.is_empty());
                        let all = (0..m).filter(|&j| inside(j)).count();
                        assert!(all <= r.len() + 2, "{what}: {all} voxels inside");
                    }
                }
            }
        }
        assert!(nonempty > 100, "only {nonempty} non-empty ranges");
    }

    /// `n` test values as `int16` where this CPU runs the AVX2 kernel; `None` (the test skipped,
    /// with a message) where it does not.
    #[cfg(target_arch = "x86_64")]
    fn avx2_input(n: usize) -> Option<Vec<i16>> {
        if !crate::avx2::available() {
            eprintln!("skipped: this CPU has no AVX2");
            return None;
        }
        Some(values(n, false).iter().map(|&v| v as i16).collect())
    }

    /// The AVX2 kernel on the maps its paths take, over inputs wide enough for whole blocks
    /// inside the input (their unclamped blocks) and around their edges, against the per-voxel
    /// code at its positions: rotations about z (grouped: two to three output slices per input
    /// plane pair here), about z with a shear along z (z first per slice; rows along x where the
    /// angle is 0), about y and an x-z shear (y first), about x (rows along x), about the skew
    /// axis (1, 1, 1) (the general blocks, gathers or plain loads inside: both); flips, zooms in
    /// and out, with and without fill. Each output slab computed from only the input slices its
    /// taps reach (as the streamed pipeline holds them) gives the same bits.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_special_paths_equal_the_per_voxel_code() {
        let shape = [61, 45, 11];
        let n: usize = shape.iter().product();
        let nxy = shape[0] * shape[1];
        let Some(src) = avx2_input(n) else { return };
        let a = Affine::from_spacing_origin([0.78, 0.9, 2.5], [3.0, -2.0, 1.0]);
        let centre = a.apply(shape.map(|n| (n as f64 - 1.0) / 2.0));
        let (mut interior_blocks, mut kinds) = (0, [0; 5]);
        let cases = ["z", "z-shear", "y", "xz-shear", "x", "skew"].into_iter().flat_map(|about| {
            [0.0, 3.0, 12.0, 17.0, 45.0, 90.0, 161.0, 270.0].into_iter().map(move |deg| (about, deg))
        });
        for (about, deg) in cases {
            for zoom in [0.31, 0.78, 1.0, 1.28, 2.9] {
                let (s, c) = f64::to_radians(deg).sin_cos();
                let lin = match about {
                    "z" => [[zoom * c, -zoom * s, 0.0], [zoom * s, zoom * c, 0.0], [0.0, 0.0, 1.3]],
                    // The in-plane position moves with the output's z (the orthonormal grid of a
                    // tilted input).
                    "z-shear" => [[zoom * c, -zoom * s, 0.0], [zoom * s, zoom * c, 0.37], [0.0, 0.0, 1.3]],
                    "y" => [[zoom * c, 0.0, -1.3 * s], [0.0, 0.8, 0.0], [zoom * s, 0.0, 1.3 * c]],
                    // Grouped across y with z fixed along the rows: the form the streamed
                    // pipeline runs on slabs of the input.
                    "xz-shear" => [[zoom, 0.0, 0.4 + deg / 300.0], [0.0, 0.8, 0.0], [0.0, 0.0, 1.3]],
                    "x" => [[zoom, 0.0, 0.0], [0.0, 0.8 * c, -1.3 * s], [0.0, 0.8 * s, 1.3 * c]],
                    // About (1, 1, 1) (Rodrigues), then the zooms: every input axis moves along
                    // every output axis (the general blocks).
                    _ => {
                        let k = 1.0 / 3f64.sqrt();
                        let kx = [[0.0, -k, k], [k, 0.0, -k], [-k, k, 0.0]];
                        let cols = [zoom, 0.8, 1.3];
                        std::array::from_fn(|i| {
                            std::array::from_fn(|j| {
                                let kk: f64 = (0..3).map(|l| kx[i][l] * kx[l][j]).sum();
                                let r = f64::from(u8::from(i == j)) + s * kx[i][j] + (1.0 - c) * kk;
                                r * cols[j]
                            })
                        })
                    }
                };
                let m = [(50.0 / zoom) as usize + 3, 19, 9];
                let half: [f64; 3] =
                    std::array::from_fn(|r| (0..3).map(|k| lin[r][k] * (m[k] as f64 - 1.0) / 2.0).sum());
                let origin: [f64; 3] = std::array::from_fn(|r| centre[r] - half[r]);
                let plan =
                    plan_like(shape, &a, Grid { shape: m, affine: Affine::from_parts(lin, origin) }).expect("plans");
                let group = crate::avx2::group_axis(&plan);
                let kind =
                    [group == Some(2), group == Some(1), crate::avx2::rows_along_x(&plan), crate::avx2::z_first(&plan)];
                assert!(kind.iter().filter(|&&k| k).count() <= 1, "one path: {kind:?}");
                kinds[kind.iter().position(|&k| k).unwrap_or(4)] += 1;
                // The blocks wholly inside along the axes the rows move along (all three on
                // the general blocks).
                let axes: &[usize] = match kind.iter().position(|&k| k) {
                    Some(1) => &[0, 2],
                    Some(_) => &[0, 1],
                    None => &[0, 1, 2],
                };
                for (jy, jz) in (0..m[1]).flat_map(|jy| (0..m[2]).map(move |jz| (jy, jz))) {
                    let start = plan.map.row_start(jy, jz);
                    let inside = |k: usize| crate::avx2::interior(start[k], plan.map.linear[k][0], shape[k], m[0]);
                    let inner = axes.iter().fold(0..m[0], |r, &k| {
                        let i = inside(k);
                        r.start.max(i.start)..r.end.min(i.end)
                    });
                    interior_blocks += crate::avx2::whole_blocks(inner.clone(), inner).len();
                }
                for opts in [Trilinear::new(), Trilinear::new().fill(Some(-2000.0)).scaling(2.0, 24.0)] {
                    let (fill, scale) = (opts.get_fill(), simd::scale_of(&opts));
                    let what = format!("about {about}, {deg} degrees, zoom {zoom}, fill {fill:?}");
                    let mut avx = vec![3f32; plan.output_len()];
                    crate::avx2::linear_i16(&src, 0, &plan, fill, scale, 0..m[2], &mut avx);
                    let want = at_positions32(&src, &plan, fill, scale);
                    assert_eq!(bits(&avx), bits(&want), "{what}");
                    for gathers in [false, true] {
                        let mut got = vec![4f32; plan.output_len()];
                        crate::avx2::linear_i16_reading(&src, 0, &plan, (fill, scale), 0..m[2], &mut got, gathers);
                        assert_eq!(bits(&got), bits(&want), "{what}, gathers {gathers}");
                    }
                    // Slabs of 2 output slices from the input slices their taps reach.
                    let mxy = m[0] * m[1];
                    for zs in (0..m[2]).step_by(2).map(|z| z..(z + 2).min(m[2])) {
                        let reach = zs.clone().flat_map(|jz| {
                            (0..mxy).map(move |i| crate::avx2::position32(&plan, [i % m[0], i / m[0], jz])[2])
                        });
                        let (lo, hi) = reach.fold((f64::MAX, f64::MIN), |(lo, hi), z| (lo.min(z), hi.max(z)));
                        let first = (lo.floor().max(0.0) as usize).min(shape[2] - 1);
                        let last = (hi.ceil().max(0.0) as usize).min(shape[2] - 1);
                        let mut got = vec![5f32; zs.len() * mxy];
                        let held = &src[first * nxy..(last + 1) * nxy];
                        let gathers = zs.start % 4 == 0;
                        crate::avx2::linear_i16_reading(
                            held,
                            first,
                            &plan,
                            (fill, scale),
                            zs.clone(),
                            &mut got,
                            gathers,
                        );
                        let whole = &avx[zs.start * mxy..zs.end * mxy];
                        assert_eq!(bits(&got), bits(whole), "{what}: slices {zs:?} from input {first}..={last}");
                    }
                }
            }
        }
        assert!(interior_blocks > 5000, "only {interior_blocks} interior blocks");
        // Grouped across z (about z, and 0 degrees about y or x: diagonal maps), across y, rows
        // along x (about x, and the shear at 0 degrees), z first; across y also the x-z shears;
        // across z also the skew rotation at 0 degrees;
        // the general blocks for the skew rotations.
        assert_eq!(kinds, [55, 75, 40, 35, 35], "paths taken");
    }

    /// The AVX2 kernel at the input's far corner: a skew map stepping back along x whose last
    /// (partial) block starts on the input's last value (every axis clamped there) while a lane
    /// past the row's end would have a next voxel along x; and maps about y (the y-first planes)
    /// with nothing to read: no slices held and every output slice outside with a fill value,
    /// or no slices asked for.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_far_corner_and_empty_slabs() {
        let shape = [4, 4, 4];
        let Some(src) = avx2_input(64) else { return };
        let unit = Affine::from_spacing_origin([1.0; 3], [0.0; 3]);
        // Output voxel 8 of each row at x 3.05 (clamped to 3), y and z beyond 3; voxel 9 (past
        // the row's end) at x 2.75.
        let lin = [[-0.3, 0.02, 0.03], [0.05, 0.8, 0.1], [0.04, 0.1, 1.3]];
        let grid = Grid { shape: [9, 2, 2], affine: Affine::from_parts(lin, [5.45, 3.1, 3.2]) };
        let plan = plan_like(shape, &unit, grid).expect("plans");
        assert!(crate::avx2::group_axis(&plan).is_none() && !crate::avx2::rows_along_x(&plan));
        for opts in [Trilinear::new(), Trilinear::new().fill(Some(-2000.0))] {
            let (fill, scale) = (opts.get_fill(), simd::scale_of(&opts));
            let mut got = vec![3f32; plan.output_len()];
            crate::avx2::linear_i16(&src, 0, &plan, fill, scale, 0..2, &mut got);
            assert_eq!(bits(&got), bits(&at_positions32(&src, &plan, fill, scale)), "fill {fill:?}");
        }
        // About y with z fixed along rows, every output slice beyond the input's z.
        let lin = [[0.9, 0.0, 0.4], [0.0, 0.8, 0.0], [0.0, 0.0, 1.3]];
        let grid = Grid { shape: [5, 3, 2], affine: Affine::from_parts(lin, [0.5, 0.5, 9.0]) };
        let plan = plan_like(shape, &unit, grid).expect("plans");
        assert_eq!(crate::avx2::group_axis(&plan), Some(1));
        let opts = Trilinear::new().fill(Some(-2000.0));
        assert!(crate::input_slices_for(&plan, &opts, 0..2).is_empty());
        let (fill, scale) = (opts.get_fill(), simd::scale_of(&opts));
        let mut got = vec![3f32; plan.output_len()];
        crate::avx2::linear_i16(&[], 0, &plan, fill, scale, 0..2, &mut got);
        assert!(got.iter().all(|&v| v == -2000.0), "{got:?}");
        crate::avx2::linear_i16(&[], 0, &plan, fill, scale, 0..0, &mut []);
    }

    #[test]
    fn linear_blocks_equal_the_per_voxel_code() {
        for shape in SHAPES {
            let n: usize = shape.iter().product();
            let ints: Vec<i16> = values(n, false).iter().map(|&v| v as i16).collect();
            let floats = values(n, true);
            for plan in plans(shape) {
                for opts in [Trilinear::new(), Trilinear::new().fill(Some(-2000.0)).scaling(2.0, 24.0)] {
                    let (zs, len) = (0..plan.grid.shape[2], plan.output_len());
                    let check = |want: &[f32], wide: &[f32], plain: &[f32], what: &str| {
                        assert_eq!(bits(wide), bits(want), "wide {what} {shape:?} {:?}", plan.grid);
                        assert_eq!(bits(plain), bits(want), "plain {what} {shape:?} {:?}", plan.grid);
                    };
                    let (mut want, mut wide, mut plain) = (vec![0f32; len], vec![1f32; len], vec![2f32; len]);
                    let (fill, scale) = (opts.get_fill(), simd::scale_of(&opts));
                    simd::general_linear(&ints, 0, &plan, &opts, zs.clone(), &mut want);
                    linear_wide(&ints, 0, &plan, fill, scale, zs.clone(), &mut wide);
                    linear_plain(&ints, 0, &plan, fill, scale, zs.clone(), &mut plain);
                    check(&want, &wide, &plain, "i16");
                    #[cfg(target_arch = "x86_64")]
                    if crate::avx2::available() {
                        let mut avx = vec![3f32; len];
                        crate::avx2::linear_i16(&ints, 0, &plan, fill, scale, zs.clone(), &mut avx);
                        let want = at_positions32(&ints, &plan, fill, scale);
                        assert_eq!(bits(&avx), bits(&want), "avx2 i16 {shape:?} {:?}", plan.grid);
                    }
                    simd::general_linear(&floats, 0, &plan, &opts, zs.clone(), &mut want);
                    linear_wide(&floats, 0, &plan, fill, scale, zs.clone(), &mut wide);
                    linear_plain(&floats, 0, &plan, fill, scale, zs, &mut plain);
                    check(&want, &wide, &plain, "f32+NaN");
                }
            }
        }
    }

    /// The per-voxel code alone: what the blocks must reproduce.
    fn per_voxel(
        _: &Coefficients<'_>,
        plan: &Plan,
        zs: std::ops::Range<usize>,
        dst: &mut [f32],
        one: &(dyn Fn([usize; 3]) -> f32 + Sync),
    ) {
        let [mx, my, _] = plan.grid.shape;
        for (jz, p) in zs.zip(dst.chunks_exact_mut(mx * my)) {
            for (i, o) in p.iter_mut().enumerate() {
                *o = one([i % mx, i / mx, jz]);
            }
        }
    }

    #[test]
    fn spline_blocks_equal_the_per_voxel_code() {
        let mut options = vec![Sampling::new().order(3), Sampling::new().order(3).fill(Some(-3000.0))];
        for mode in Mode::ALL {
            let fill = (mode == Mode::Constant).then_some(-1500.0);
            for orders in [[3, 3, 3], [1, 1, 1], [3, 3, 0], [0, 1, 3]] {
                options.push(Sampling::new().orders(orders).mode(Some(mode)).fill(fill));
            }
        }
        for shape in SHAPES {
            let n: usize = shape.iter().product();
            for nan in [false, true] {
                let src = values(n, nan);
                for plan in plans(shape) {
                    for opts in &options {
                        let len = plan.output_len();
                        let mut want = vec![0f32; len];
                        bspline::general::<f32, Wide>(&src, &plan, opts, &mut want, false, per_voxel);
                        let mut first: Option<Vec<f32>> = None;
                        let variants = [
                            ("wide", spline_wide as bspline::Blocks),
                            ("plain", spline_plain),
                            ("plain loops", spline_blocks::<Loops>),
                        ];
                        for (name, blocks) in variants {
                            for par in [false, true] {
                                let mut got = vec![7f32; len];
                                bspline::general::<f32, Wide>(&src, &plan, opts, &mut got, par, blocks);
                                let what = format!("{name} par {par} {opts:?} {shape:?} nan {nan} {:?}", plan.grid);
                                if opts.get_orders() != [3; 3] {
                                    assert_eq!(bits(&got), bits(&want), "{what}");
                                } else {
                                    // Tricubic sums y and z first: the per-voxel sum up to f32
                                    // rounding of 64 terms.
                                    let scale = want.iter().filter(|v| v.is_finite()).fold(1f32, |m, v| m.max(v.abs()));
                                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                                        let ok = (g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-5 * scale;
                                        assert!(ok, "{what}: voxel {i}: {g} vs {w}");
                                    }
                                }
                                // Every variant and thread count gives the same bits.
                                match &first {
                                    Some(f) => assert_eq!(bits(&got), bits(f), "{what}: differs from wide"),
                                    None => first = Some(got),
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
