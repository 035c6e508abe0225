//! The general path's trilinear blocks for `int16` input in AVX2 intrinsics: eight output
//! voxels at a time, their taps and weights in `f32x8` / `i32x8` registers, the taps of each
//! voxel read in pairs along x (`v[i]` and `v[i + 1]` in one 32-bit load or gather lane, or
//! from planes built for the purpose, below), and the blends in `f32x8`. Chosen at run time
//! where the CPU has AVX2 (the `dispatched` kernel).
//!
//! Positions: each block's first position in `f64` exactly as [`crate::VoxelMap::apply`], the
//! other seven lanes stepped from it in `f32` ([`axis_taps32`]): within 8e-4 voxel of the
//! oracle's positions on inputs up to 4096 voxels per axis (tested), so this kernel's outputs
//! differ from the other kernels' by at most that shift of the sample (8e-4 of the difference
//! between neighbours per axis); the taps and blends are the per-voxel code's at those
//! positions in each path's blend order (below), bit for bit (tested): orders other than the
//! oracle's x, y, z add a few `f32` roundings. Axes the rows do not move along (an in-plane
//! rotation's z) and larger
//! inputs keep `f64` positions, and the fill rule always tests the `f64` positions.
//!
//! Maps about z ([`group_axis`] z: the input's z from the output's z alone, x and y from x and
//! y; in-plane rotations and obliques, the rotated bench grid) take [`grouped_slices`]: the
//! output rows between the same two input slices share their positions, so each block's
//! bilinear values in both slices are computed once (from each slice's rows interleaved with
//! the next, [`row_pairs`], built once per input slice: two 8-byte loads per voxel inside them)
//! and only the blend along z runs per row. Maps about y ([`group_axis`] y) take [`y_first`]:
//! per output y its two input x-z planes blended along y once, then each row read from that
//! plane as below; blends in the order y, x, z.
//!
//! Rows along the input's x at a fixed y and z ([`rows_along_x`]: rotations about x, the grids
//! of gantry-tilted inputs) take [`fixed_rows`]: each row's four input rows blended once, then
//! interpolated along x.
//!
//! Other in-plane maps (the input's z from the output's z alone, [`z_first`], but x or y moving
//! with the output's z: an in-plane rotation combined with a shear along z) take
//! [`slice_z_first`]: each output slice blends its two input planes along z once, into a plane
//! whose rows are interleaved with the next ones ([`interleave_rows`]), so one 16-byte load
//! reads a voxel's four in-plane taps ([`Blocks::plane_row`]); blends in the order z, x, y. The
//! blocks of a row whose every lane lies inside the plane (found per row from its start and
//! step, [`interior`]) take those loads unclamped ([`interior_block`]); the others gather 64-bit
//! (row, next row) pairs with clamped taps. Both give the same bits as the per-voxel code in
//! that order (tested).
//!
//! Every other map (about a skew axis: each input axis moves along every output axis) takes
//! [`Blocks::row`], in tiles of output rows through the slices asked for: the blocks inside the
//! input on every axis read each voxel's four x pairs by gathers on Intel cores, by plain loads
//! elsewhere ([`direct_block`]: whichever measured faster there), their rows prefetched a row
//! ahead; the others gather them with clamped taps ([`Blocks::block`]); blends in the oracle's
//! order.
//!
//! Why `int16` only: it is what CT is stored as, and its pairs fit one 32-bit lane; other types
//! take the portable blocks.
#![allow(unsafe_code)] // `std::arch` intrinsics and gathers, each with its proof.

use std::arch::x86_64::*;
use std::ops::Range;

use crate::Plan;
use crate::simd::Scale;

/// Whether this CPU runs [`linear_i16`].
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx2")
}

/// Trilinear, output slices `zs` into `dst` (those slices), from `src` holding the input
/// slices from `first` on; the caller checked [`available`] and [`crate::general::blocks`].
pub(crate) fn linear_i16(
    src: &[i16],
    first: usize,
    plan: &Plan,
    fill: Option<f32>,
    scale: Scale,
    zs: Range<usize>,
    dst: &mut [f32],
) {
    linear_i16_reading(src, first, plan, (fill, scale), zs, dst, gathers_win());
}

/// [`linear_i16`], the general blocks inside the input read by gathers or by plain loads
/// (`gathers`, [`direct_block`]): the same bits either way (tested).
pub(crate) fn linear_i16_reading(
    src: &[i16],
    first: usize,
    plan: &Plan,
    (fill, scale): (Option<f32>, Scale),
    zs: Range<usize>,
    dst: &mut [f32],
    gathers: bool,
) {
    assert!(available(), "the AVX2 kernel runs only where the CPU has AVX2");
    // SAFETY: the CPU has AVX2 (asserted above).
    unsafe {
        if fill.is_some() {
            linear_i16_avx2::<true>(src, first, plan, (fill, scale), zs, dst, gathers);
        } else {
            linear_i16_avx2::<false>(src, first, plan, (fill, scale), zs, dst, gathers);
        }
    }
}

/// One axis of eight lanes: the taps as [`crate::linear_tap`] computes them (the position
/// clamped to `[0, n - 1]`, floor, weight, the neighbour's offset 0 where the weight is 0).
#[derive(Clone, Copy)]
struct AxisTaps {
    /// The floor's index (not yet scaled by the stride).
    i: __m256i,
    /// The weight `x - floor(x)` as `f32`.
    w: __m256,
    /// All ones where the weight is not 0.
    next: __m256i,
    /// All ones where the position is in `[-0.5, n - 0.5)` (SimpleITK's fill rule; only with
    /// `FILL`).
    inside: __m256i,
}

#[target_feature(enable = "avx2")]
fn axis_taps<const FILL: bool>(start: f64, step: f64, j: __m256d, j4: __m256d, n: usize) -> AxisTaps {
    let (start, step) = (_mm256_set1_pd(start), _mm256_set1_pd(step));
    let (zero, last) = (_mm256_setzero_pd(), _mm256_set1_pd((n - 1) as f64));
    let (lo, hi) = (_mm256_set1_pd(-0.5), _mm256_set1_pd(n as f64 - 0.5));
    // The four-lane halves: positions `start + step * jx` (as `VoxelMap::apply`), then the taps.
    let half = |j: __m256d| {
        let x = _mm256_add_pd(start, _mm256_mul_pd(step, j));
        let inside = if FILL {
            _mm256_and_pd(_mm256_cmp_pd::<_CMP_GE_OQ>(x, lo), _mm256_cmp_pd::<_CMP_LT_OQ>(x, hi))
        } else {
            _mm256_castsi256_pd(_mm256_set1_epi32(-1))
        };
        // `max(x, 0)` then `min(.., last)`: the second operand where the first is NaN, so as
        // `if x > 0 { x } else { 0 }` and `if x < last { x } else { last }`.
        let c = _mm256_min_pd(_mm256_max_pd(x, zero), last);
        let i = _mm256_cvttpd_epi32(c);
        let t = _mm256_sub_pd(c, _mm256_cvtepi32_pd(i));
        let next = _mm256_cmp_pd::<_CMP_NEQ_UQ>(t, zero);
        (i, _mm256_cvtpd_ps(t), next, inside)
    };
    let (i0, w0, n0, in0) = half(j);
    let (i1, w1, n1, in1) = half(j4);
    AxisTaps {
        i: _mm256_set_m128i(i1, i0),
        w: _mm256_set_m128(w1, w0),
        next: narrow(n0, n1),
        inside: if FILL { narrow(in0, in1) } else { _mm256_set1_epi32(-1) },
    }
}

/// [`axis_taps`] from positions stepped in `f32` within the block: the block's first
/// position `start + step * jx0` in `f64` (as [`crate::VoxelMap::apply`]), rounded to `f32`,
/// plus `l` steps in `f32`; the taps as there, in `f32`. For the plans [`steps32`] admits
/// each position that reaches the taps (in `[-1, n]`) is within 8e-4 voxel of the `f64` one: the
/// block start's rounding, half an `f32` ulp below 8192 (4.9e-4), the step's rounding over 7
/// lanes and the product's (4.2e-5), the sum's below 4096 (2.5e-4) (`position32`, tested). The fill
/// rule still tests the `f64` positions, so no voxel changes between fill and value.
#[target_feature(enable = "avx2")]
fn axis_taps32<const FILL: bool>(start: f64, step: f64, jx0: usize, j: __m256d, j4: __m256d, n: usize) -> AxisTaps {
    let s = start + step * jx0 as f64;
    let lanes = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
    let x = _mm256_add_ps(_mm256_set1_ps(s as f32), _mm256_mul_ps(_mm256_set1_ps(step as f32), lanes));
    // As in `axis_taps`: `max` then `min` take the bound where `x` is NaN.
    let c = _mm256_min_ps(_mm256_max_ps(x, _mm256_setzero_ps()), _mm256_set1_ps((n - 1) as f32));
    let i = _mm256_cvttps_epi32(c);
    // `c - floor(c)` is exact in `f32` (`c >= 0`).
    let t = _mm256_sub_ps(c, _mm256_cvtepi32_ps(i));
    let next = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_NEQ_UQ>(t, _mm256_setzero_ps()));
    let inside = if FILL { axis_taps::<true>(start, step, j, j4, n).inside } else { _mm256_set1_epi32(-1) };
    AxisTaps { i, w: t, next, inside }
}

/// Block `b`'s clamped taps along an axis of `n` voxels, for a row starting at `start` and
/// moving `step` per voxel along it: the row's `fixed` taps where it does not move along the
/// axis (step 0), else [`axis_taps32`]'s where `f32_steps`, else [`axis_taps`]'s.
#[inline]
#[target_feature(enable = "avx2")]
fn block_taps<const FILL: bool>(
    start: f64,
    step: f64,
    fixed: AxisTaps,
    b: usize,
    n: usize,
    f32_steps: bool,
) -> AxisTaps {
    if step == 0.0 {
        return fixed;
    }
    let j = _mm256_add_pd(_mm256_set1_pd((b * 8) as f64), _mm256_setr_pd(0.0, 1.0, 2.0, 3.0));
    let j4 = _mm256_add_pd(j, _mm256_set1_pd(4.0));
    if f32_steps { axis_taps32::<FILL>(start, step, b * 8, j, j4, n) } else { axis_taps::<FILL>(start, step, j, j4, n) }
}

/// The whole blocks of eight output voxels inside both ranges (of [`interior`]).
pub(crate) fn whole_blocks(a: Range<usize>, b: Range<usize>) -> Range<usize> {
    a.start.max(b.start).div_ceil(8)..a.end.min(b.end) / 8
}

/// Whether [`axis_taps32`] keeps its bound for `plan`: every input axis at most 4096 voxels
/// and every step at most 64 voxels (a block's first position, where its taps matter, is then
/// below 8192 in magnitude).
fn steps32(plan: &Plan) -> bool {
    plan.input_shape.iter().all(|&n| n <= 4096) && (0..3).all(|a| plan.map.linear[a][0].abs() <= 64.0)
}

/// The position of output voxel `j` along each input axis as [`linear_i16`] computes its
/// taps: `f64` on axes the rows do not move along, [`axis_taps32`]'s otherwise (where
/// [`steps32`] admits the plan), else [`crate::VoxelMap::apply`]'s.
#[cfg(test)]
pub(crate) fn position32(plan: &Plan, j: [usize; 3]) -> [f64; 3] {
    let exact = plan.map.apply(j);
    let start = plan.map.row_start(j[1], j[2]);
    let (jx0, l) = (j[0] / 8 * 8, (j[0] % 8) as f32);
    std::array::from_fn(|a| {
        let step = plan.map.linear[a][0];
        if step == 0.0 || !steps32(plan) {
            exact[a]
        } else {
            let s = (start[a] + step * jx0 as f64) as f32;
            (s + step as f32 * l) as f64
        }
    })
}

/// Two times four 64-bit masks (all ones or all zeros) as eight 32-bit ones, in order.
#[target_feature(enable = "avx2")]
fn narrow(a: __m256d, b: __m256d) -> __m256i {
    // Within each 128-bit half: a's two masks, then b's; then the 64-bit pairs in order.
    let m = _mm256_shuffle_ps::<0b10_00_10_00>(_mm256_castpd_ps(a), _mm256_castpd_ps(b));
    _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_castps_si256(m))
}

/// `a + w * (b - a)` per lane: [`crate::simd::blend32`] for finite `a` and `b` (where it
/// keeps `a` when `a == b`, this adds `w * 0`), and every value here comes from `int16`.
#[target_feature(enable = "avx2")]
fn blend(a: __m256, b: __m256, w: __m256) -> __m256 {
    _mm256_add_ps(a, _mm256_mul_ps(w, _mm256_sub_ps(b, a)))
}

/// The low and high `int16` of each 32-bit lane, as `f32`.
#[target_feature(enable = "avx2")]
fn pair(v: __m256i) -> (__m256, __m256) {
    let low = _mm256_srai_epi32::<16>(_mm256_slli_epi32::<16>(v));
    let high = _mm256_srai_epi32::<16>(v);
    (_mm256_cvtepi32_ps(low), _mm256_cvtepi32_ps(high))
}

/// Whether the input's z depends on the output's z alone while x or y moves with the output's
/// z (maps neither [`grouped`] nor [`rows_along_x`]): each output slice then reads one input
/// plane pair with one weight, and [`slice_z_first`] blends that pair first.
pub(crate) fn z_first(plan: &Plan) -> bool {
    let l = &plan.map.linear;
    l[2][0] == 0.0 && l[2][1] == 0.0 && !grouped(plan) && !rows_along_x(plan)
}

/// Whether each output row runs along the input's x at a fixed y and z (rotations about x,
/// the orthonormal grids of gantry-tilted inputs), and the map is not [`grouped`]: then
/// [`fixed_rows`] blends each row's four input rows along y and z once and interpolates
/// along x from the blended row.
pub(crate) fn rows_along_x(plan: &Plan) -> bool {
    let l = &plan.map.linear;
    l[1][0] == 0.0 && l[2][0] == 0.0 && l[0][0] != 0.0 && !grouped(plan)
}

/// Output slice `jz` when [`z_first`]: the slice's two input planes blended along z once
/// ([`interleave_rows`]), then each row from that plane ([`Blocks::plane_row`]). The order of
/// the blends is z, x, y (the oracle's is x, y, z): values within a few `f32` roundings of it.
#[target_feature(enable = "avx2")]
fn slice_z_first<const FILL: bool>(
    blocks: &Blocks<'_, FILL>,
    jz: usize,
    out: &mut [f32],
    plane: &mut Vec<f32>,
    starts: &mut [Vec<f32>; 2],
) {
    let plan = blocks.plan;
    let [nx, ny, nz] = plan.input_shape;
    let mx = plan.grid.shape[0];
    let z = plan.map.row_start(0, jz)[2];
    if FILL && !(z >= -0.5 && z < nz as f64 - 0.5) {
        out.fill(blocks.fill.unwrap_or(0.0));
        return;
    }
    let tz = crate::linear_tap(z, nz, false);
    let nxy = nx * ny;
    let slice = |i: usize| &blocks.src[(i - blocks.first) * nxy..][..nxy];
    let (a, b) = (slice(tz.i0), slice(tz.i1));
    interleave_rows(|y| &a[y * nx..][..nx], |y| &b[y * nx..][..nx], tz.w as f32, nx, ny, plane);
    for (jy, out_row) in out.chunks_exact_mut(mx).enumerate() {
        blocks.plane_row(plane, 1, 0, ny, plan.map.row_start(jy, jz), out_row, starts);
    }
}

/// Output slices `zs` into `dst` when [`group_axis`] is y (rotations about y): the input's y
/// depends on the output's y alone and its x and z do not, so per output y the two input
/// x-z planes are blended along y once into one plane ([`interleave_rows`], rows along z: only
/// the slices `zs` reach, [`reached_slices`]), then each row of that y from it
/// ([`Blocks::plane_row`]). The order of the blends is y, x, z: within a few `f32` roundings
/// of the oracle's, the same bits as the per-voxel code in this order (tested). With `FILL`,
/// the rows whose y is outside are filled.
#[target_feature(enable = "avx2")]
fn y_first<const FILL: bool>(blocks: &Blocks<'_, FILL>, zs: Range<usize>, dst: &mut [f32]) {
    let plan = blocks.plan;
    let [nx, ny, _] = plan.input_shape;
    let [mx, my, _] = plan.grid.shape;
    if zs.is_empty() {
        return;
    }
    let held = blocks.src.len() / (nx * ny);
    let (base, rows) = reached_slices(plan, &zs, blocks.first..blocks.first + held);
    let (mut plane, mut starts) = (Vec::new(), [Vec::new(), Vec::new()]);
    for jy in 0..my {
        let y = plan.map.row_start(jy, 0)[1];
        let out_rows = (0..zs.len()).map(|k| (k * my + jy) * mx);
        if FILL && !(y >= -0.5 && y < ny as f64 - 0.5) {
            for at in out_rows {
                dst[at..][..mx].fill(blocks.fill.unwrap_or(0.0));
            }
            continue;
        }
        let ty = crate::linear_tap(y, ny, false);
        // Row `r` of the plane at input y `i`: input slice `base + r`.
        let row = |i: usize, r: usize| &blocks.src[((base + r - blocks.first) * ny + i) * nx..][..nx];
        interleave_rows(|r| row(ty.i0, r), |r| row(ty.i1, r), ty.w as f32, nx, rows, &mut plane);
        for (jz, at) in zs.clone().zip(out_rows) {
            blocks.plane_row(&plane, 2, base, rows, plan.map.row_start(jy, jz), &mut dst[at..][..mx], &mut starts);
        }
    }
}

impl<const FILL: bool> Blocks<'_, FILL> {
    /// One output row (starting at `start`) from a plane [`interleave_rows`] built (already
    /// blended across the third axis): `rows` rows along input axis `q` (y or z) from input
    /// index `base` on, of `nx` values along x. Per block of eight the taps along x and `q`,
    /// each voxel's four values by one load ([`interior_block`]) where every lane is inside
    /// the plane, else by four gathers of four 64-bit (row, next row) pairs from clamped taps;
    /// blended along x, then `q`. `starts` is working space.
    #[allow(clippy::too_many_arguments)] // The plane, where it lies, the row and its output.
    #[target_feature(enable = "avx2")]
    fn plane_row(
        &self,
        plane: &[f32],
        q: usize,
        base: usize,
        rows: usize,
        start: [f64; 3],
        out: &mut [f32],
        starts: &mut [Vec<f32>; 2],
    ) {
        let plan = self.plan;
        let n = plan.input_shape;
        let nx = n[0];
        let mx = out.len();
        let (fill, scale) = (self.fill, self.scale);
        let ptr = plane.as_ptr().cast::<f64>();
        let (slope, inter) = (_mm256_set1_ps(scale.slope), _mm256_set1_ps(scale.inter));
        let fill_v = _mm256_set1_ps(fill.unwrap_or(0.0));
        let vsy = _mm256_set1_epi32(nx as i32);
        let below = _mm256_set1_epi32(base as i32);
        // The row's start and step along x and along the plane's rows (input axis `q`).
        let (start, step, axis) = ([start[0], start[q]], [plan.map.linear[0][0], plan.map.linear[q][0]], [0, q]);
        let lanes32 = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
        // The lanes' offsets from the block's first position, as `axis_taps32` steps them.
        let offsets: [__m256; 2] = std::array::from_fn(|a| _mm256_mul_ps(_mm256_set1_ps(step[a] as f32), lanes32));
        let zero = _mm256_setzero_pd();
        let fixed: [AxisTaps; 2] = std::array::from_fn(|a| axis_taps::<FILL>(start[a], 0.0, zero, zero, n[axis[a]]));
        // The blocks whose every lane is inside the plane on both axes take `interior_block`.
        let inner = if self.f32_steps {
            whole_blocks(interior(start[0], step[0], nx, mx), interior(start[1] - base as f64, step[1], rows, mx))
        } else {
            0..0
        };
        for a in 0..2 {
            block_starts(start[a], step[a], inner.clone(), &mut starts[a]);
        }
        for (b, o) in out.chunks_mut(8).enumerate() {
            if inner.contains(&b) {
                let tap = |a: usize| unclamped_taps(&fixed[a], step[a] != 0.0, starts[a][b - inner.start], offsets[a]);
                let (tq, wq) = tap(1);
                // SAFETY: the block is interior: its x taps are in `[0, nx - 2]`, its row taps
                // in `[0, rows - 2]`, so each pair and the next row's are in the plane.
                let v = unsafe { interior_block(plane.as_ptr(), tap(0), (_mm256_sub_epi32(tq, below), wq), vsy) };
                // SAFETY: `o` holds 8 `f32` (`inner` holds whole blocks); unaligned store.
                unsafe { _mm256_storeu_ps(o.as_mut_ptr(), _mm256_add_ps(_mm256_mul_ps(v, slope), inter)) };
                continue;
            }
            let taps = |a: usize| block_taps::<FILL>(start[a], step[a], fixed[a], b, n[axis[a]], self.f32_steps);
            let (tx, mut tq) = (taps(0), taps(1));
            let inside = _mm256_and_si256(tx.inside, tq.inside);
            let len = o.len();
            if FILL && (_mm256_movemask_ps(_mm256_castsi256_ps(inside)) as u32) & ((1 << len) - 1) == 0 {
                o.fill(fill.unwrap_or(0.0));
                continue;
            }
            // The plane's rows: a tap of the row's voxels below `base` or past the rows, or
            // on the last row with a weight towards the next, would be an error of the caller's
            // (it holds every slice the taps reach) or of the rows the plane was built from (all
            // of them for `slice_z_first`, `reached_slices` for `y_first`); on the input's last
            // row the weight is 0. The lanes past the row's end are clamped into the plane
            // (their values not stored).
            tq.i = _mm256_sub_epi32(tq.i, below);
            let last = _mm256_set1_epi32(rows as i32 - 1);
            let out_of_rows = _mm256_or_si256(
                _mm256_or_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), tq.i), _mm256_cmpgt_epi32(tq.i, last)),
                _mm256_and_si256(tq.next, _mm256_cmpeq_epi32(tq.i, last)),
            );
            let used = _mm256_cmpgt_epi32(_mm256_set1_epi32(len as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            assert!(_mm256_testz_si256(out_of_rows, used) == 1, "general linear: taps outside the input slices held");
            tq.i = _mm256_min_epi32(_mm256_max_epi32(tq.i, _mm256_setzero_si256()), last);
            // Where the row weight is 0 (the last row clamped, or on a row) the next row's
            // value enters only as `0 * (next - this)` with finite values, as in
            // `interior_block`.
            let i0 = _mm256_add_epi32(tx.i, _mm256_mullo_epi32(tq.i, vsy));
            // SAFETY: every index is in `[0, rows * nx - 1]` (taps clamped per axis), so the
            // element at `i + 1` is at most the padding one; gathers need no alignment.
            let (x0, x1) = unsafe {
                let g = |i: __m256i| {
                    let lo = _mm256_i32gather_pd::<8>(ptr, _mm256_castsi256_si128(i));
                    let hi = _mm256_i32gather_pd::<8>(ptr, _mm256_extracti128_si256::<1>(i));
                    split(lo, hi)
                };
                (g(i0), g(_mm256_add_epi32(i0, _mm256_set1_epi32(1))))
            };
            let v = blend(blend(x0.0, x1.0, tx.w), blend(x0.1, x1.1, tx.w), tq.w);
            let v = _mm256_add_ps(_mm256_mul_ps(v, slope), inter);
            store::<FILL>(o, v, fill_v, inside);
        }
    }
}

/// The output voxels `j < m` of a row whose position `p + j * s` along an axis of `n` voxels
/// lies in `[MARGIN, n - 1 - MARGIN]` (none where `n < 2`), a conservative range: one voxel
/// in from each end for the divisions' rounding. With `MARGIN` above `axis_taps32`'s bound
/// (8e-4 voxel) the block positions there are in `(0, n - 1)`: taps need no clamping and the
/// next voxel along the axis is in the input.
pub(crate) fn interior(p: f64, s: f64, n: usize, m: usize) -> Range<usize> {
    const MARGIN: f64 = 1e-3;
    let (lo, hi) = (MARGIN, n as f64 - 1.0 - MARGIN);
    if !(lo < hi && p.is_finite() && s.is_finite()) {
        return 0..0;
    }
    if s == 0.0 {
        return if (lo..=hi).contains(&p) { 0..m } else { 0..0 };
    }
    let (a, b) = ((lo - p) / s, (hi - p) / s);
    let (a, b) = if s > 0.0 { (a, b) } else { (b, a) };
    let (first, last) = ((a.ceil() + 1.0).max(0.0), (b.floor() - 1.0).min(m as f64 - 1.0));
    if first <= last { first as usize..last as usize + 1 } else { 0..0 }
}

/// A block's taps `(i, w)` along an axis where every lane is inside (`interior`, positions
/// positive: truncation is the floor): the row's `fixed` taps where the row does not move along
/// the axis, else the block's first position `start` plus the lanes' `offsets`, as
/// [`axis_taps32`] steps them, unclamped.
#[inline]
#[target_feature(enable = "avx2")]
fn unclamped_taps(fixed: &AxisTaps, moves: bool, start: f32, offsets: __m256) -> (__m256i, __m256) {
    if moves {
        let x = _mm256_add_ps(_mm256_set1_ps(start), offsets);
        let i = _mm256_cvttps_epi32(x);
        (i, _mm256_sub_ps(x, _mm256_cvtepi32_ps(i)))
    } else {
        (fixed.i, fixed.w)
    }
}

/// The first positions of the row's `blocks`, `start + step * jx0` in `f64` rounded to `f32`,
/// as [`axis_taps32`] computes them (four blocks per instruction instead of one by one).
#[target_feature(enable = "avx2")]
fn block_starts(start: f64, step: f64, blocks: Range<usize>, out: &mut Vec<f32>) {
    out.clear();
    let (s, d) = (_mm256_set1_pd(start), _mm256_set1_pd(step));
    let mut j = _mm256_add_pd(_mm256_set1_pd((blocks.start * 8) as f64), _mm256_setr_pd(0.0, 8.0, 16.0, 24.0));
    for _ in (0..blocks.len()).step_by(4) {
        let mut four = [0f32; 4];
        // SAFETY: `four` holds 4 `f32`; unaligned store.
        unsafe { _mm_storeu_ps(four.as_mut_ptr(), _mm256_cvtpd_ps(_mm256_add_pd(s, _mm256_mul_pd(d, j)))) };
        out.extend_from_slice(&four);
        j = _mm256_add_pd(j, _mm256_set1_pd(32.0));
    }
}

/// [`Blocks::plane_row`]'s block where every lane is inside the plane (`interior`): the taps
/// `(i, w)` along x and the plane's rows `r` (input y or z, counted from the plane's first row)
/// unclamped, each voxel's four values by one 16-byte load from the interleaved plane (`(x, r)`,
/// `(x, r + 1)`, `(x + 1, r)`, `(x + 1, r + 1)`), transposed into four vectors of eight lanes.
/// Where the row weight is 0 the blend adds `0 * (upper - lower)` to a value that is never
/// `-0.0`: the same bits as the clamped block's.
///
/// # Safety
/// Every lane's 16 bytes at element `i = x + nx * r` of `plane` (8 bytes per element) are
/// readable: the block is interior.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn interior_block(plane: *const f32, x: (__m256i, __m256), y: (__m256i, __m256), vsy: __m256i) -> __m256 {
    let mut at = [0i32; 8];
    // SAFETY: `at` holds 8 `i32`; unaligned store.
    unsafe { _mm256_storeu_si256(at.as_mut_ptr().cast(), _mm256_add_epi32(x.0, _mm256_mullo_epi32(y.0, vsy))) };
    // SAFETY: the caller's promise (indices are non-negative).
    let load = |k: usize| unsafe { _mm_loadu_ps(plane.add(2 * at[k] as usize)) };
    // Voxels k and k + 4 in the two halves, then a 4x4 transpose within each half.
    let t: [__m256; 4] = std::array::from_fn(|k| _mm256_set_m128(load(k + 4), load(k)));
    let (u0, u1) = (_mm256_unpacklo_ps(t[0], t[1]), _mm256_unpackhi_ps(t[0], t[1]));
    let (u2, u3) = (_mm256_unpacklo_ps(t[2], t[3]), _mm256_unpackhi_ps(t[2], t[3]));
    let (lower0, upper0) = (_mm256_shuffle_ps::<0x44>(u0, u2), _mm256_shuffle_ps::<0xEE>(u0, u2));
    let (lower1, upper1) = (_mm256_shuffle_ps::<0x44>(u1, u3), _mm256_shuffle_ps::<0xEE>(u1, u3));
    blend(blend(lower0, lower1, x.1), blend(upper0, upper1, x.1), y.1)
}

/// Two input planes of `ny` rows of `nx` values (row `y` is `a(y)`, `b(y)`: two input slices
/// for [`slice_z_first`], two x-z planes with rows along z for [`y_first`]) blended with weight
/// `wz` (`a + wz * (b - a)` in `f32`, as the oracle), each row interleaved with the next one
/// (the last row with itself) into `plane`: element `y * nx + x` (two `f32`) holds rows `y`
/// and `y + 1` at `x`; one element of padding.
#[target_feature(enable = "avx2")]
fn interleave_rows<'a>(
    a: impl Fn(usize) -> &'a [i16],
    b: impl Fn(usize) -> &'a [i16],
    wz: f32,
    nx: usize,
    ny: usize,
    plane: &mut Vec<f32>,
) {
    // Every element is written below; the padding one is set to 0 (read with weight 0).
    plane.resize(2 * (nx * ny + 1), 0.0);
    let last = plane.len() - 2;
    plane[last..].fill(0.0);
    if ny == 0 {
        return;
    }
    let w = _mm256_set1_ps(wz);
    let whole = nx / 8 * 8;
    // Row `y` blended as the oracle does into `out` (`nx` values).
    let blended = |y: usize, out: &mut [f32]| {
        let (a, b) = (a(y), b(y));
        for (x, o) in (0..whole).step_by(8).zip(out.chunks_exact_mut(8)) {
            // SAFETY: `x + 8 <= nx` (whole chunks only), so 8 `i16` from `x` are in both rows;
            // `o` holds 8 `f32`; unaligned loads and store.
            unsafe {
                let at =
                    |v: &[i16]| _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm_loadu_si128(v.as_ptr().add(x).cast())));
                let (a, b) = (at(a), at(b));
                _mm256_storeu_ps(o.as_mut_ptr(), _mm256_add_ps(a, _mm256_mul_ps(w, _mm256_sub_ps(b, a))));
            }
        }
        for x in whole..nx {
            let (a, b) = (f32::from(a[x]), f32::from(b[x]));
            out[x] = a + wz * (b - a);
        }
    };
    // Each row blended once: this row and the next.
    let (mut this, mut next) = (vec![0f32; nx], vec![0f32; nx]);
    blended(0, &mut this);
    for (y, out) in plane.chunks_exact_mut(2 * nx).take(ny).enumerate() {
        if y + 1 < ny {
            blended(y + 1, &mut next);
        } else {
            next.copy_from_slice(&this);
        }
        for (x, o) in (0..whole).step_by(8).zip(out.chunks_exact_mut(16)) {
            // SAFETY: `x + 8 <= nx`: 8 `f32` from `x` in both rows; `o` holds 16 `f32`;
            // unaligned loads and stores.
            unsafe {
                let (l, u) = (_mm256_loadu_ps(this.as_ptr().add(x)), _mm256_loadu_ps(next.as_ptr().add(x)));
                let (lo, hi) = (_mm256_unpacklo_ps(l, u), _mm256_unpackhi_ps(l, u));
                _mm256_storeu_ps(o.as_mut_ptr(), _mm256_permute2f128_ps::<0x20>(lo, hi));
                _mm256_storeu_ps(o.as_mut_ptr().add(8), _mm256_permute2f128_ps::<0x31>(lo, hi));
            }
        }
        for x in whole..nx {
            out[2 * x] = this[x];
            out[2 * x + 1] = next[x];
        }
        std::mem::swap(&mut this, &mut next);
    }
}

/// A block's values into its output `o` (8 values, fewer at a row's end): the fill value in
/// lanes outside the input with `FILL`.
#[inline]
#[target_feature(enable = "avx2")]
fn store<const FILL: bool>(o: &mut [f32], v: __m256, fill: __m256, inside: __m256i) {
    let v = if FILL { _mm256_blendv_ps(fill, v, _mm256_castsi256_ps(inside)) } else { v };
    if o.len() == 8 {
        // SAFETY: `o` holds 8 `f32`; unaligned store.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), v) };
    } else {
        let mut all = [0f32; 8];
        // SAFETY: `all` holds 8 `f32`; unaligned store.
        unsafe { _mm256_storeu_ps(all.as_mut_ptr(), v) };
        o.copy_from_slice(&all[..o.len()]);
    }
}

/// Two gathers of four 64-bit pairs as the eight first values and the eight second.
#[target_feature(enable = "avx2")]
fn split(lo: __m256d, hi: __m256d) -> (__m256, __m256) {
    let (lo, hi) = (_mm256_castpd_ps(lo), _mm256_castpd_ps(hi));
    // Within each 128-bit half: lo's two pairs then hi's; then the 64-bit groups in order.
    let a = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
    let b = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
    let order = |v: __m256| _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)));
    (order(a), order(b))
}

/// The general blocks' data and constants ([`Blocks::block`]).
struct Blocks<'a, const FILL: bool> {
    src: &'a [i16],
    first: usize,
    plan: &'a Plan,
    fill: Option<f32>,
    scale: Scale,
    f32_steps: bool,
    /// Whether [`direct_block`] gathers ([`gathers_win`]).
    gathers: bool,
}

impl<const FILL: bool> Blocks<'_, FILL> {
    /// The taps of the row starting at `start` along the axes it does not move along.
    #[target_feature(enable = "avx2")]
    fn fixed(&self, start: [f64; 3]) -> [AxisTaps; 3] {
        let zero = _mm256_setzero_pd();
        std::array::from_fn(|a| axis_taps::<FILL>(start[a], 0.0, zero, zero, self.plan.input_shape[a]))
    }

    /// Block `b` of the row starting at `start` (`fixed` its [`Blocks::fixed`] taps) into `o`
    /// (8 values, fewer at the row's end): clamped taps on every axis, four 32-bit gathers of
    /// x pairs from the input, blends in the oracle's order x, y, z.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn block(&self, start: [f64; 3], fixed: &[AxisTaps; 3], b: usize, o: &mut [f32]) {
        let (src, plan) = (self.src, self.plan);
        let n = plan.input_shape;
        let [nx, ny, nz] = n;
        let l = &plan.map.linear;
        let step = [l[0][0], l[1][0], l[2][0]];
        let (sy, sz) = (nx as i32, (nx * ny) as i32);
        let below = _mm256_set1_epi32((self.first * nx * ny) as i32);
        let (vsy, vsz) = (_mm256_set1_epi32(sy), _mm256_set1_epi32(sz));
        let (slope, inter) = (_mm256_set1_ps(self.scale.slope), _mm256_set1_ps(self.scale.inter));
        let fill_v = _mm256_set1_ps(self.fill.unwrap_or(0.0));
        // A 32-bit gather at index `i` reads `src[i]` and `src[i + 1]`: indices up to `len - 2`.
        // (`len - 2` fits an `i32`: the input has fewer than 2^31 values, `general::blocks`;
        // a one-value input gives -1, so every block loads one by one.)
        let limit = _mm256_set1_epi32(src.len() as i32 - 2);
        let taps = |a: usize, n: usize| block_taps::<FILL>(start[a], step[a], fixed[a], b, n, self.f32_steps);
        let (tx, ty, tz) = (taps(0, nx), taps(1, ny), taps(2, nz));
        let inside = _mm256_and_si256(_mm256_and_si256(tx.inside, ty.inside), tz.inside);
        let inside_bits = _mm256_movemask_ps(_mm256_castsi256_ps(inside)) as u32;
        let lanes_used = (1u32 << o.len()) - 1;
        if FILL && inside_bits & lanes_used == 0 {
            o.fill(self.fill.unwrap_or(0.0));
            return;
        }
        let base = _mm256_sub_epi32(
            _mm256_add_epi32(_mm256_add_epi32(tx.i, _mm256_mullo_epi32(ty.i, vsy)), _mm256_mullo_epi32(tz.i, vsz)),
            below,
        );
        let dy = _mm256_and_si256(ty.next, vsy);
        let dz = _mm256_and_si256(tz.next, vsz);
        let (mut base, mut i10) = (base, _mm256_add_epi32(base, dy));
        let (mut i01, mut i11) = (_mm256_add_epi32(base, dz), _mm256_add_epi32(i10, dz));
        let mut next_x = tx.next;
        if o.len() < 8 {
            // The lanes past the row's end (values not stored) read lane 0's taps, its four
            // indices and whether it reads the next voxel along x: their own may lie outside
            // the slices held where the rows move along z.
            let used = _mm256_cmpgt_epi32(_mm256_set1_epi32(o.len() as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            let first_lane =
                |v: __m256i| _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(v, _mm256_setzero_si256()), v, used);
            (base, i10, i01, i11) = (first_lane(base), first_lane(i10), first_lane(i01), first_lane(i11));
            next_x = first_lane(next_x);
        }
        // Every index is in `[base, i11]`. A gather reads `src[i + 1]` too: a block whose
        // last tap is the held slices' last value (x clamped at the far corner) loads
        // its pairs one by one.
        assert!(
            _mm256_testz_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), base), _mm256_set1_epi32(-1)) == 1,
            "general linear: taps below the input slices held"
        );
        let far = _mm256_cmpgt_epi32(i11, limit);
        let ptr = src.as_ptr().cast::<i32>();
        let [g00, g10, g01, g11] = if _mm256_testz_si256(far, far) == 1 {
            // SAFETY: every index `i` gathered is in `[0, len - 2]` (checked above), so
            // the 4 bytes at `src[i]` are in the slice.
            unsafe { gather_pairs(ptr, [base, i10, i01, i11]) }
        } else {
            // The block reaches the held slices' last value: the same pairs by checked
            // loads, the second value `src[i + 1]` only where the x weight is not 0.
            let lanes = |v: __m256i| -> [i32; 8] {
                let mut out = [0i32; 8];
                // SAFETY: `out` holds 8 `i32`; unaligned store.
                unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) };
                out
            };
            let dx = lanes(_mm256_and_si256(next_x, _mm256_set1_epi32(1)));
            let pairs = |v: __m256i| {
                let at = lanes(v);
                let p: [i32; 8] = std::array::from_fn(|l| {
                    let i = at[l] as usize;
                    i32::from(src[i] as u16) | (i32::from(src[i + dx[l] as usize]) << 16)
                });
                _mm256_setr_epi32(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7])
            };
            [pairs(base), pairs(i10), pairs(i01), pairs(i11)]
        };
        // Where the x weight is 0 the oracle reads `v[i]` twice; the pair's second value
        // then enters only as `w * (b - a)` with `w == 0` and finite values: `a` either way.
        let (a00, b00) = pair(g00);
        let (a10, b10) = pair(g10);
        let (a01, b01) = pair(g01);
        let (a11, b11) = pair(g11);
        let l00 = blend(a00, b00, tx.w);
        let l10 = blend(a10, b10, tx.w);
        let l01 = blend(a01, b01, tx.w);
        let l11 = blend(a11, b11, tx.w);
        let p0 = blend(l00, l10, ty.w);
        let p1 = blend(l01, l11, ty.w);
        let v = _mm256_add_ps(_mm256_mul_ps(blend(p0, p1, tz.w), slope), inter);
        store::<FILL>(o, v, fill_v, inside);
    }
}

/// A block of the general path wholly inside the slices held (`interior` on every axis), from
/// each lane's index `at` of its first tap in `src` (unclamped taps, z counted from the first
/// slice held) and the weights `w` along x, y, z: each voxel's four x pairs (rows `y`, `y + 1`
/// in slices `z`, `z + 1`), the four vectors [`Blocks::block`] gathers, by four 8-lane gathers
/// where `gathers`, else by four 4-byte loads per voxel transposed into them; blends in its
/// order x, y, z, so the same bits either way.
///
/// # Safety
/// Every lane's taps and their next voxels along each axis are in `src`: the block is interior.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn direct_block(
    src: &[i16],
    at: &[i32; 8],
    w: &[__m256; 3],
    strides: Strides,
    scale: (__m256, __m256),
) -> __m256 {
    let Strides { nx, nxy, gathers } = strides;
    let taps = if gathers {
        let p = src.as_ptr().cast::<i32>();
        // SAFETY: `at` holds 8 `i32`; unaligned load.
        let i = unsafe { _mm256_loadu_si256(at.as_ptr().cast()) };
        let (i10, i01) =
            (_mm256_add_epi32(i, _mm256_set1_epi32(nx as i32)), _mm256_add_epi32(i, _mm256_set1_epi32(nxy as i32)));
        let i11 = _mm256_add_epi32(i10, _mm256_set1_epi32(nxy as i32));
        // SAFETY: the caller's promise: the 4 bytes at `src[i]` of each row are in `src`.
        unsafe { gather_pairs(p, [i, i10, i01, i11]) }
    } else {
        let p = src.as_ptr();
        // SAFETY: the caller's promise: index `i` and `i + 1` of each of the four rows are in `src`.
        let voxel = |k: usize| unsafe {
            let p = p.add(at[k] as usize);
            let read = |o: usize| std::ptr::read_unaligned(p.add(o).cast::<i32>());
            let v = _mm_cvtsi32_si128(read(0));
            let v = _mm_insert_epi32::<1>(v, read(nx));
            let v = _mm_insert_epi32::<2>(v, read(nxy));
            _mm_insert_epi32::<3>(v, read(nxy + nx))
        };
        // Voxels k and k + 4 in the two halves, then a 4x4 transpose within each half.
        let t4: [__m256; 4] = std::array::from_fn(|k| _mm256_castsi256_ps(_mm256_set_m128i(voxel(k + 4), voxel(k))));
        let (u0, u1) = (_mm256_unpacklo_ps(t4[0], t4[1]), _mm256_unpackhi_ps(t4[0], t4[1]));
        let (u2, u3) = (_mm256_unpacklo_ps(t4[2], t4[3]), _mm256_unpackhi_ps(t4[2], t4[3]));
        [
            _mm256_shuffle_ps::<0x44>(u0, u2),
            _mm256_shuffle_ps::<0xEE>(u0, u2),
            _mm256_shuffle_ps::<0x44>(u1, u3),
            _mm256_shuffle_ps::<0xEE>(u1, u3),
        ]
        .map(|v| _mm256_castps_si256(v))
    };
    let [(a00, b00), (a10, b10), (a01, b01), (a11, b11)] = taps.map(|v| pair(v));
    let wx = w[0];
    let p0 = blend(blend(a00, b00, wx), blend(a10, b10, wx), w[1]);
    let p1 = blend(blend(a01, b01, wx), blend(a11, b11, wx), w[1]);
    _mm256_add_ps(_mm256_mul_ps(blend(p0, p1, w[2]), scale.0), scale.1)
}

/// The 32-bit values (pairs of `int16`) at each lane's index of each of the four index
/// vectors `at`, by four 8-lane gathers (no alignment needed).
///
/// # Safety
/// The 4 bytes at element `i` of `p` (counted in `int16`) are readable for every lane `i`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn gather_pairs(p: *const i32, at: [__m256i; 4]) -> [__m256i; 4] {
    // SAFETY: the caller's promise.
    at.map(|i| unsafe { _mm256_i32gather_epi32::<2>(p, i) })
}

/// The input's strides along y and z (in values) and how [`direct_block`] reads its taps.
#[derive(Clone, Copy)]
struct Strides {
    nx: usize,
    nxy: usize,
    /// Gathers, where they measured faster than plain loads ([`gathers_win`]).
    gathers: bool,
}

/// Whether [`direct_block`] gathers: on Intel cores, where four 8-lane gathers per block
/// measured 5-9 % faster than the plain loads on a quiet host (model 167; within noise of them
/// under load); on AMD cores the plain loads measured at least as fast (Zen 3).
fn gathers_win() -> bool {
    static INTEL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INTEL.get_or_init(|| {
        // Leaf 0: the vendor string in EBX, EDX, ECX.
        let id = __cpuid(0);
        [id.ebx, id.edx, id.ecx].map(u32::to_le_bytes).concat() == *b"GenuineIntel"
    })
}

/// Asks for the cache lines of the four input rows under four of a block's lanes (`at`: its
/// lanes' first taps): about a skew axis each block's taps reach rows and slices no hardware
/// prefetcher predicts. [`Blocks::row`] asks as it computes each block's taps, a row ahead of
/// their loads; lanes 0, 2, 5 and 7 measured fastest on an Intel host (of lanes 0 and 7, 0, 3
/// and 7, or all eight; into L1 or L2 alike).
#[inline]
#[target_feature(enable = "avx2")]
fn prefetch_block(src: &[i16], at: &[i32; 8], nx: usize, nxy: usize) {
    let p = src.as_ptr();
    for l in [0, 2, 5, 7] {
        let q = p.wrapping_add(at[l] as usize);
        for o in [0, nx, nxy, nxy + nx] {
            // A prefetch never faults; the address is one of the block's own taps.
            _mm_prefetch::<_MM_HINT_T0>(q.wrapping_add(o).cast::<i8>());
        }
    }
}

#[target_feature(enable = "avx2")]
fn linear_i16_avx2<const FILL: bool>(
    src: &[i16],
    first: usize,
    plan: &Plan,
    (fill, scale): (Option<f32>, Scale),
    zs: Range<usize>,
    dst: &mut [f32],
    gathers: bool,
) {
    let [mx, my, _] = plan.grid.shape;
    let blocks = Blocks::<FILL> { src, first, plan, fill, scale, f32_steps: steps32(plan), gathers };
    match group_axis(plan) {
        Some(2) => return grouped_slices(&blocks, zs, dst),
        Some(_) => return y_first(&blocks, zs, dst),
        None => {}
    }
    if rows_along_x(plan) {
        fixed_rows(&blocks, zs, dst);
        return;
    }
    if z_first(plan) {
        let (mut plane, mut starts) = (Vec::new(), [Vec::new(), Vec::new()]);
        for (jz, out) in zs.zip(dst.chunks_exact_mut(mx * my)) {
            slice_z_first(&blocks, jz, out, &mut plane, &mut starts);
        }
        return;
    }
    // Rows in tiles of `TILE` rows through all the slices asked for: the input a tile's rows
    // reach in one slice is mostly reached again in the next, while still in cache (a whole
    // slice's rows reach too much of the input when the map tilts the output's slices across
    // the input's). 16 rows measured fastest of 4, 8, 16 and 64 on the bench's skew rotation.
    const TILE: usize = 16;
    let mut starts = [Vec::new(), Vec::new(), Vec::new()];
    let mut work = (Vec::new(), Vec::new());
    for y0 in (0..my).step_by(TILE) {
        for (jz, out) in zs.clone().zip(dst.chunks_exact_mut(mx * my)) {
            for jy in y0..(y0 + TILE).min(my) {
                blocks.row(jy, jz, &mut out[jy * mx..][..mx], &mut starts, &mut work);
            }
        }
    }
}

impl<const FILL: bool> Blocks<'_, FILL> {
    /// Output row `(jy, jz)` of the general path into `out`: the blocks interior on every axis
    /// (z within the slices held) by [`direct_block`], the others by [`Blocks::block`];
    /// `starts` and `work` are working space (the blocks' first positions, the interior
    /// blocks' indices and weights).
    #[target_feature(enable = "avx2")]
    fn row(
        &self,
        jy: usize,
        jz: usize,
        out: &mut [f32],
        starts: &mut [Vec<f32>; 3],
        work: &mut (Vec<[i32; 8]>, Vec<[__m256; 3]>),
    ) {
        let plan = self.plan;
        let [nx, ny, _] = plan.input_shape;
        let held = self.src.len() / (nx * ny);
        let mx = out.len();
        let step: [f64; 3] = std::array::from_fn(|a| plan.map.linear[a][0]);
        let start = plan.map.row_start(jy, jz);
        let fixed = self.fixed(start);
        let inner = if self.f32_steps {
            let r = |a: usize, p: f64, n: usize| interior(p, step[a], n, mx);
            let xy = whole_blocks(r(0, start[0], nx), r(1, start[1], ny));
            let z = r(2, start[2] - self.first as f64, held);
            let inner = xy.start.max(z.start.div_ceil(8))..xy.end.min(z.end / 8);
            if inner.is_empty() { 0..0 } else { inner }
        } else {
            0..0
        };
        for a in 0..3 {
            block_starts(start[a], step[a], inner.clone(), &mut starts[a]);
        }
        let lanes32 = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
        // The lanes' offsets from the block's first position, as `axis_taps32` steps them.
        let offsets: [__m256; 3] = std::array::from_fn(|a| _mm256_mul_ps(_mm256_set1_ps(step[a] as f32), lanes32));
        let scale = (_mm256_set1_ps(self.scale.slope), _mm256_set1_ps(self.scale.inter));
        let below = _mm256_set1_epi32(self.first as i32);
        let (vsy, vsz) = (_mm256_set1_epi32(nx as i32), _mm256_set1_epi32((nx * ny) as i32));
        // The interior blocks' indices and weights first, each block's rows prefetched as its
        // indices are known, then their loads: the loads then find their rows in cache and issue
        // without waiting on the tap arithmetic (one pass measured 10 % slower, prefetching
        // eight blocks ahead of the loads instead 12-15 % slower, on the bench's skew rotation).
        let (idx, ws) = &mut *work;
        idx.clear();
        ws.clear();
        for ((&x, &y), &z) in starts[0].iter().zip(&starts[1]).zip(&starts[2]) {
            let tap = |a: usize, s: f32| unclamped_taps(&fixed[a], step[a] != 0.0, s, offsets[a]);
            let (tx, ty, tz) = (tap(0, x), tap(1, y), tap(2, z));
            let i = _mm256_add_epi32(
                _mm256_add_epi32(tx.0, _mm256_mullo_epi32(ty.0, vsy)),
                _mm256_mullo_epi32(_mm256_sub_epi32(tz.0, below), vsz),
            );
            let mut at = [0i32; 8];
            // SAFETY: `at` holds 8 `i32`; unaligned store.
            unsafe { _mm256_storeu_si256(at.as_mut_ptr().cast(), i) };
            prefetch_block(self.src, &at, nx, nx * ny);
            idx.push(at);
            ws.push([tx.1, ty.1, tz.1]);
        }
        let strides = Strides { nx, nxy: nx * ny, gathers: self.gathers };
        let (head, rest) = out.split_at_mut(inner.start * 8);
        let (middle, tail) = rest.split_at_mut(inner.len() * 8);
        for (b, o) in head.chunks_mut(8).enumerate() {
            self.block(start, &fixed, b, o);
        }
        for (o, (at, w)) in middle.chunks_exact_mut(8).zip(idx.iter().zip(ws.iter())) {
            // SAFETY: the block is interior on every axis, z within the slices held: each
            // lane's taps and their next voxels along x, y and z are in `src`.
            let v = unsafe { direct_block(self.src, at, w, strides, scale) };
            // SAFETY: `o` holds 8 `f32` (`chunks_exact_mut`); unaligned store.
            unsafe { _mm256_storeu_ps(o.as_mut_ptr(), v) };
        }
        for (b, o) in tail.chunks_mut(8).enumerate() {
            self.block(start, &fixed, inner.end + b, o);
        }
    }
}

/// The input axis (z, else y) that depends on the same output axis alone while the other two
/// input axes do not depend on that output axis (rotations and obliques about it: the rotated
/// bench grid about z): every output row at one index along it samples the same two input
/// planes across it with one weight. About z, the rows of neighbouring output slices between
/// the same two input slices share their in-plane positions too, and [`grouped_slices`]
/// interpolates those once for all of them; about y, [`y_first`] blends the two planes first.
pub(crate) fn group_axis(plan: &Plan) -> Option<usize> {
    let l = &plan.map.linear;
    [2, 1].into_iter().find(|&a| (0..3).filter(|&b| b != a).all(|b| l[a][b] == 0.0 && l[b][a] == 0.0))
}

/// Whether [`group_axis`] finds an axis.
pub(crate) fn grouped(plan: &Plan) -> bool {
    group_axis(plan).is_some()
}

/// Output slices `zs` into `dst` when [`rows_along_x`]: per output row its four input rows
/// (y and z taps fixed along the row) blended along y, then z, into one row of `f32`, then per
/// block of eight the x taps as [`Blocks::block`]'s and
/// the two neighbours gathered as one 64-bit lane from the blended row. Blends in the order
/// y, z, x (the oracle's is x, y, z): within a few `f32` roundings of it, the same bits as the
/// per-voxel code in this order (tested). With `FILL`, rows whose y or z is outside are filled.
#[target_feature(enable = "avx2")]
fn fixed_rows<const FILL: bool>(blocks: &Blocks<'_, FILL>, zs: Range<usize>, dst: &mut [f32]) {
    let plan = blocks.plan;
    let [nx, ny, nz] = plan.input_shape;
    let [mx, my, _] = plan.grid.shape;
    let step = plan.map.linear[0][0];
    let (slope, inter) = (_mm256_set1_ps(blocks.scale.slope), _mm256_set1_ps(blocks.scale.inter));
    let fill = blocks.fill.unwrap_or(0.0);
    let fill_v = _mm256_set1_ps(fill);
    let mut row = Vec::new();
    let src = blocks.src;
    for (jz, out) in zs.zip(dst.chunks_exact_mut(mx * my)) {
        for (jy, out_row) in out.chunks_exact_mut(mx).enumerate() {
            let start = plan.map.row_start(jy, jz);
            let inside = |p: f64, n: usize| !FILL || (p >= -0.5 && p < n as f64 - 0.5);
            if !(inside(start[1], ny) && inside(start[2], nz)) {
                out_row.fill(fill);
                continue;
            }
            let (ty, tz) = (crate::linear_tap(start[1], ny, false), crate::linear_tap(start[2], nz, false));
            let at = |y: usize, z: usize| &src[((z - blocks.first) * ny + y) * nx..][..nx];
            blend_rows(
                [at(ty.i0, tz.i0), at(ty.i1, tz.i0), at(ty.i0, tz.i1), at(ty.i1, tz.i1)],
                ty.w as f32,
                tz.w as f32,
                &mut row,
            );
            let ptr = row.as_ptr().cast::<f64>();
            let fixed = blocks.fixed(start);
            for (b, o) in out_row.chunks_mut(8).enumerate() {
                let tx = block_taps::<FILL>(start[0], step, fixed[0], b, nx, blocks.f32_steps);
                let inside = _mm256_and_si256(tx.inside, _mm256_and_si256(fixed[1].inside, fixed[2].inside));
                if FILL && (_mm256_movemask_ps(_mm256_castsi256_ps(inside)) as u32) & ((1 << o.len()) - 1) == 0 {
                    o.fill(fill);
                    continue;
                }
                // SAFETY: the x taps are in `[0, nx - 1]` (clamped) and the row holds `nx + 1`
                // values: each 8-byte read at `row[i]` is inside; gathers need no alignment.
                let (lo, hi) = unsafe {
                    (
                        _mm256_i32gather_pd::<4>(ptr, _mm256_castsi256_si128(tx.i)),
                        _mm256_i32gather_pd::<4>(ptr, _mm256_extracti128_si256::<1>(tx.i)),
                    )
                };
                // Where the x weight is 0 (clamped, or on a voxel) the second value enters as
                // `0 * (next - this)`, finite, to a value that is never `-0.0`: as reading `x` twice.
                let (a, b) = split(lo, hi);
                let v = _mm256_add_ps(_mm256_mul_ps(blend(a, b, tx.w), slope), inter);
                store::<FILL>(o, v, fill_v, inside);
            }
        }
    }
}

/// Four input rows (`[y0 z0, y1 z0, y0 z1, y1 z1]`, as `i16`) blended along y with `wy`, then
/// along z with `wz`, into `row` (`f32`, one value of padding: 0, read with weight 0).
#[target_feature(enable = "avx2")]
fn blend_rows(rows: [&[i16]; 4], wy: f32, wz: f32, row: &mut Vec<f32>) {
    let nx = rows[0].len();
    row.resize(nx + 1, 0.0);
    row[nx] = 0.0;
    let (vy, vz) = (_mm256_set1_ps(wy), _mm256_set1_ps(wz));
    let whole = nx / 8 * 8;
    for (x, o) in (0..whole).step_by(8).zip(row.chunks_exact_mut(8)) {
        // SAFETY: `x + 8 <= nx`: 8 `i16` from `x` in each row; `o` holds 8 `f32`.
        unsafe {
            let [r00, r10, r01, r11] =
                rows.map(|r| _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm_loadu_si128(r.as_ptr().add(x).cast()))));
            let v = blend(blend(r00, r10, vy), blend(r01, r11, vy), vz);
            _mm256_storeu_ps(o.as_mut_ptr(), v);
        }
    }
    let one = |a: i16, b: i16, w: f32| {
        let (a, b) = (f32::from(a), f32::from(b));
        a + w * (b - a)
    };
    for x in whole..nx {
        let (v0, v1) = (one(rows[0][x], rows[1][x], wy), one(rows[2][x], rows[3][x], wy));
        row[x] = v0 + wz * (v1 - v0);
    }
}

/// Output slices `zs` into `dst` when [`group_axis`] is z (rotations about z): runs of output
/// slices whose input z has the same two taps (slices `i0`, `i1`) are done together. Each
/// input slice's rows are interleaved with the next once ([`row_pairs`], kept while the next
/// run uses it: two 8-byte loads hold a voxel's eight taps); then for each output y, the rows
/// of the run sample both slices at the same positions: each block's bilinear values in slice
/// `i0` and slice `i1` are computed once ([`pair_block`]: unclamped taps inside the slice,
/// clamped ones near its edges) and blended along z per row. Blends in the oracle's order x, y,
/// z (tested bit for bit). With `FILL`, slices whose z is outside are filled, and lanes outside
/// in x or y.
#[target_feature(enable = "avx2")]
fn grouped_slices<const FILL: bool>(blocks: &Blocks<'_, FILL>, zs: Range<usize>, dst: &mut [f32]) {
    let plan = blocks.plan;
    let n = plan.input_shape;
    let [nx, ny, nz] = n;
    let [mx, my, _] = plan.grid.shape;
    let mxy = mx * my;
    let step = [plan.map.linear[0][0], plan.map.linear[1][0]];
    let (slope, inter) = (_mm256_set1_ps(blocks.scale.slope), _mm256_set1_ps(blocks.scale.inter));
    let vsy = _mm256_set1_epi32(nx as i32);
    let fill = blocks.fill.unwrap_or(0.0);
    let fill_v = _mm256_set1_ps(fill);
    let lanes32 = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
    // The lanes' offsets from the block's first position, as `axis_taps32` steps them.
    let offsets: [__m256; 2] = std::array::from_fn(|a| _mm256_mul_ps(_mm256_set1_ps(step[a] as f32), lanes32));
    let (mut starts, mut at) = ([Vec::new(), Vec::new()], Vec::new());
    // Two slices as `row_pairs` builds them, with the input index each holds.
    let mut planes: [(Option<usize>, Vec<i16>); 2] = [(None, Vec::new()), (None, Vec::new())];
    let position = |jz: usize| plan.map.row_start(0, jz)[2];
    let tap = |jz: usize| crate::linear_tap(position(jz), nz, false);
    let inside = |jz: usize| !FILL || (position(jz) >= -0.5 && position(jz) < nz as f64 - 0.5);
    // Output row `jy` of output slice `jz` (a row of `dst`).
    let row_at = |jz: usize, jy: usize| (jz - zs.start) * mxy + jy * mx;
    let mut k = zs.start;
    while k < zs.end {
        let t = tap(k);
        let mut end = k + 1;
        while end < zs.end && {
            let u = tap(end);
            (u.i0, u.i1) == (t.i0, t.i1) && inside(end) == inside(k)
        } {
            end += 1;
        }
        let run = k..end;
        k = end;
        if !inside(run.start) {
            dst[(run.start - zs.start) * mxy..(run.end - zs.start) * mxy].fill(fill);
            continue;
        }
        let src = blocks.src;
        // Row `y` of input slice `z` (held from `first` on).
        let input_row = |z: usize, y: usize| &src[((z - blocks.first) * ny + y) * nx..][..nx];
        // The two slices, each kept for the next run (which shares one of them).
        for i in [t.i0, t.i1] {
            if !planes.iter().any(|(at, _)| *at == Some(i)) {
                let keep = [t.i0, t.i1];
                let slot = planes.iter_mut().find(|(at, _)| !at.is_some_and(|a| keep.contains(&a)));
                let (at, plane) = slot.unwrap_or_else(|| unreachable!("two slots for two planes"));
                row_pairs(|r| input_row(i, r), nx, ny, plane);
                *at = Some(i);
            }
        }
        let plane_of = |i: usize| {
            let (_, plane) =
                planes.iter().find(|(at, _)| *at == Some(i)).unwrap_or_else(|| unreachable!("built above"));
            plane.as_ptr()
        };
        let (lower, upper) = (plane_of(t.i0), plane_of(t.i1));
        let weights: Vec<__m256> = run.clone().map(|kk| _mm256_set1_ps(tap(kk).w as f32)).collect();
        for jy in 0..my {
            let start = plan.map.row_start(jy, run.start);
            at.clear();
            at.extend(run.clone().map(|jz| row_at(jz, jy)));
            let inner = if blocks.f32_steps {
                whole_blocks(interior(start[0], step[0], nx, mx), interior(start[1], step[1], ny, mx))
            } else {
                0..0
            };
            for a in 0..2 {
                block_starts(start[a], step[a], inner.clone(), &mut starts[a]);
            }
            let fixed = blocks.fixed(start);
            let put = |dst: &mut [f32], b: usize, v: (__m256, __m256), inside: __m256i| {
                let len = (mx - b * 8).min(8);
                for (&at, &w) in at.iter().zip(&weights) {
                    let value = _mm256_add_ps(_mm256_mul_ps(blend(v.0, v.1, w), slope), inter);
                    store::<FILL>(&mut dst[at + b * 8..][..len], value, fill_v, inside);
                }
            };
            for b in inner.clone() {
                let taps = |a: usize| unclamped_taps(&fixed[a], step[a] != 0.0, starts[a][b - inner.start], offsets[a]);
                // SAFETY: the block is interior: its x taps are in `[0, nx - 2]`, its y taps in
                // `[0, ny - 2]`, so each voxel's element and the next are in the slice.
                let v = unsafe { pair_block(lower, upper, taps(0), taps(1), vsy) };
                put(dst, b, v, _mm256_set1_epi32(-1));
            }
            // The edge blocks: clamped taps, gathered elements.
            for b in (0..mx.div_ceil(8)).filter(|b| !inner.contains(b)) {
                let taps = |a: usize| block_taps::<FILL>(start[a], step[a], fixed[a], b, n[a], blocks.f32_steps);
                let (tx, ty) = (taps(0), taps(1));
                let len = (mx - b * 8).min(8);
                let inside = _mm256_and_si256(tx.inside, ty.inside);
                if FILL && (_mm256_movemask_ps(_mm256_castsi256_ps(inside)) as u32) & ((1 << len) - 1) == 0 {
                    for &at in &at {
                        dst[at + b * 8..][..len].fill(fill);
                    }
                    continue;
                }
                // SAFETY: `row_pairs` wrote `ny` rows of `nx` in both and one element of
                // padding; the taps are clamped into `[0, nx - 1]` and `[0, ny - 1]` (also in
                // the lanes past the row's end), so each lane's element and the next are in the
                // slice.
                let v = unsafe { pair_block(lower, upper, (tx.i, tx.w), (ty.i, ty.w), vsy) };
                put(dst, b, v, inside);
            }
        }
    }
}

/// The input slices (as `(first, count)`) that the taps of output slices `zs` can reach, within
/// the slices `held`, for a map whose input z does not depend on the output's y (grouped
/// across y): the range of the positions at the slices' four row ends, widened by 0.01 voxel
/// (above `axis_taps32`'s bound), floored, one slice up for the upper tap, clamped into the
/// input as the taps are. The whole of `held` where a position is not finite (or nothing is
/// held). Building [`y_first`]'s planes only from these slices keeps them small (a run of output
/// slices of a rotation about y reaches a fraction of the input's slices).
fn reached_slices(plan: &Plan, zs: &Range<usize>, held: Range<usize>) -> (usize, usize) {
    let whole = (held.start, held.len());
    let nz = plan.input_shape[2];
    if zs.is_empty() || held.is_empty() || nz == 0 {
        return whole;
    }
    let last_x = plan.grid.shape[0].saturating_sub(1) as f64;
    let z = |jz: usize| {
        let s = plan.map.row_start(0, jz)[2];
        [s, s + plan.map.linear[2][0] * last_x]
    };
    let ends = [z(zs.start), z(zs.end - 1)];
    let (lo, hi) =
        ends.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if !(lo.is_finite() && hi.is_finite()) {
        return whole;
    }
    let top = (nz - 1) as f64;
    let lo = (lo - 0.01).floor().clamp(0.0, top) as usize;
    let hi = ((hi + 0.01).floor() + 1.0).clamp(0.0, top) as usize;
    let (lo, hi) = (lo.max(held.start), hi.min(held.end.saturating_sub(1)));
    if lo > hi { whole } else { (lo, hi - lo + 1) }
}

/// One plane of `rows` rows of `nx` values (row `r` is `row(r)`) with each row interleaved with
/// the next (the last with itself) into `plane`: element `r * nx + x` (two `i16`, 4 bytes)
/// holds rows `r` and `r + 1` at `x`, so the 8 bytes from `(x, r)` hold a voxel's four taps in
/// this plane when `x + 1` is in the row. One element of padding (zeros: read only with
/// weight 0).
#[target_feature(enable = "avx2")]
fn row_pairs<'a>(row: impl Fn(usize) -> &'a [i16], nx: usize, rows: usize, plane: &mut Vec<i16>) {
    plane.resize(2 * (rows * nx + 1), 0);
    let end = plane.len() - 2;
    plane[end..].fill(0);
    for (r, out) in plane.chunks_exact_mut(2 * nx).take(rows).enumerate() {
        let (this, next) = (row(r), row((r + 1).min(rows - 1)));
        let whole = nx / 8 * 8;
        for (x, o) in (0..whole).step_by(8).zip(out.chunks_exact_mut(16)) {
            // SAFETY: `x + 8 <= nx`: 8 `i16` from `x` in each row; `o` holds 16 `i16`.
            unsafe {
                let (a, b) =
                    (_mm_loadu_si128(this.as_ptr().add(x).cast()), _mm_loadu_si128(next.as_ptr().add(x).cast()));
                let o = o.as_mut_ptr().cast::<__m128i>();
                _mm_storeu_si128(o, _mm_unpacklo_epi16(a, b));
                _mm_storeu_si128(o.add(1), _mm_unpackhi_epi16(a, b));
            }
        }
        for x in whole..nx {
            out[2 * x..2 * x + 2].copy_from_slice(&[this[x], next[x]]);
        }
    }
}

/// A block from [`row_pairs`]'s elements of the lower and the upper plane, its taps `(i, w)`
/// along x and the rows unclamped inside the plane or clamped per axis near its edges: each
/// voxel's eight taps by two 8-byte loads (interleaved as lower `(x, r)`, `(x, r + 1)`, upper
/// the same, then both at `x + 1`), widened to `f32` and transposed into eight vectors of eight
/// voxels, then the bilinear values in both planes ([`bilinear_pair`]). Where a weight is 0 (a
/// position on a voxel, or clamped: x at the row's end, whose next element is the next row's
/// first or the padding; the last row, paired with itself) the blend adds `0 * (finite)` to a
/// value that is never `-0.0`: the same bits as the oracle reading the tap twice.
///
/// # Safety
/// Every lane's 8 bytes at element `x + nx * r` of both planes are readable: the taps are in
/// `[0, nx - 1]` and in the plane's rows (its padding element follows the last).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn pair_block(
    lower: *const i16,
    upper: *const i16,
    x: (__m256i, __m256),
    r: (__m256i, __m256),
    vsy: __m256i,
) -> (__m256, __m256) {
    let mut at = [0i32; 8];
    // SAFETY: `at` holds 8 `i32`; unaligned store.
    unsafe { _mm256_storeu_si256(at.as_mut_ptr().cast(), _mm256_add_epi32(x.0, _mm256_mullo_epi32(r.0, vsy))) };
    // SAFETY: the caller's promise (indices are non-negative).
    let load = |k: usize| unsafe {
        let i = 2 * at[k] as usize;
        let (a, b) = (_mm_loadl_epi64(lower.add(i).cast()), _mm_loadl_epi64(upper.add(i).cast()));
        _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm_unpacklo_epi32(a, b)))
    };
    let v: [__m256; 8] = std::array::from_fn(load);
    // 8x8 transpose: `c[t]` is tap `t` of the eight voxels.
    let t: [__m256; 8] = std::array::from_fn(|k| {
        let (a, b) = (v[k / 4 * 4 + k % 4 / 2 * 2], v[k / 4 * 4 + k % 4 / 2 * 2 + 1]);
        if k % 2 == 0 { _mm256_unpacklo_ps(a, b) } else { _mm256_unpackhi_ps(a, b) }
    });
    let u: [__m256; 8] = std::array::from_fn(|k| {
        let h = k / 4 * 4;
        let (a, b) = (t[h + k % 4 / 2], t[h + 2 + k % 4 / 2]);
        if k % 2 == 0 { _mm256_shuffle_ps::<0x44>(a, b) } else { _mm256_shuffle_ps::<0xEE>(a, b) }
    });
    let c: [__m256; 8] = std::array::from_fn(|k| {
        let (a, b) = (u[k % 4], u[4 + k % 4]);
        if k < 4 { _mm256_permute2f128_ps::<0x20>(a, b) } else { _mm256_permute2f128_ps::<0x31>(a, b) }
    });
    bilinear_pair(&c, x.1, r.1)
}

/// The bilinear values in the lower and the upper plane from the eight taps of eight voxels
/// (`c[t]`: lower `(x, r)`, lower `(x, r + 1)`, upper `(x, r)`, upper `(x, r + 1)`, then the
/// same at `x + 1`), blended along x then along the rows.
#[inline]
#[target_feature(enable = "avx2")]
fn bilinear_pair(c: &[__m256; 8], wx: __m256, wr: __m256) -> (__m256, __m256) {
    let lower = blend(blend(c[0], c[4], wx), blend(c[1], c[5], wx), wr);
    let upper = blend(blend(c[2], c[6], wx), blend(c[3], c[7], wx), wr);
    (lower, upper)
}
