//! The oracle: for every output voxel, its input position from the full map, its taps along
//! each axis, and the trilinear sum in `f64` (or the nearest voxel). Nothing is shared between
//! voxels, so there is nothing to get wrong but the definitions in the crate docs.

use std::ops::Range;

use crate::{Plan, Trilinear, Voxel, blend64, linear_tap, nearest_index};

/// Trilinear resampling, voxel by voxel.
pub fn resample_linear<T: Voxel>(src: &[T], plan: &Plan, opts: &Trilinear, dst: &mut [f32]) {
    resample_linear_slices(src, 0, plan, opts, 0..plan.grid.shape[2], dst);
}

/// Trilinear resampling of output slices `zs` into `dst` (those slices only), voxel by voxel,
/// from `src` holding the input slices (along z) from `first` on.
pub fn resample_linear_slices<T: Voxel>(
    src: &[T],
    first: usize,
    plan: &Plan,
    opts: &Trilinear,
    zs: Range<usize>,
    dst: &mut [f32],
) {
    let [nx, ny, nz] = plan.input_shape;
    let [mx, my, _] = plan.grid.shape;
    let fill = opts.get_fill();
    let (slope, inter) = opts.get_scaling();
    let v = |x: usize, y: usize, z: usize| slope * src[x + nx * (y + ny * (z - first))].to_f64() + inter;
    for (jz, k) in zs.zip(0..) {
        for jy in 0..my {
            for jx in 0..mx {
                let p = plan.map.apply([jx, jy, jz]);
                let tx = linear_tap(p[0], nx, fill.is_some());
                let ty = linear_tap(p[1], ny, fill.is_some());
                let tz = linear_tap(p[2], nz, fill.is_some());
                let out = &mut dst[jx + mx * (jy + my * k)];
                if let (Some(f), false) = (fill, tx.inside && ty.inside && tz.inside) {
                    *out = f;
                    continue;
                }
                let line = |y: usize, z: usize| blend64(v(tx.i0, y, z), v(tx.i1, y, z), tx.w);
                let plane = |z: usize| blend64(line(ty.i0, z), line(ty.i1, z), ty.w);
                *out = blend64(plane(tz.i0), plane(tz.i1), tz.w) as f32;
            }
        }
    }
}

/// Nearest-neighbour resampling, voxel by voxel.
pub fn resample_nearest<T: Voxel>(src: &[T], plan: &Plan, fill: Option<T>, dst: &mut [T]) {
    resample_nearest_slices(src, plan, fill, dst, 0..plan.grid.shape[2]);
}

/// [`resample_nearest`] of the output slices `zs` only, into `dst` (those slices, x-fastest).
pub fn resample_nearest_slices<T: Voxel>(
    src: &[T],
    plan: &Plan,
    fill: Option<T>,
    dst: &mut [T],
    zs: std::ops::Range<usize>,
) {
    let [nx, ny, nz] = plan.input_shape;
    let [mx, my, _] = plan.grid.shape;
    let filling = fill.is_some();
    let z0 = zs.start;
    for jz in zs {
        for jy in 0..my {
            for jx in 0..mx {
                let p = plan.map.apply([jx, jy, jz]);
                let idx = (
                    nearest_index(p[0], nx, filling),
                    nearest_index(p[1], ny, filling),
                    nearest_index(p[2], nz, filling),
                );
                dst[jx + mx * (jy + my * (jz - z0))] = match idx {
                    (Some(x), Some(y), Some(z)) => src[x + nx * (y + ny * z)],
                    // Only reachable when filling.
                    _ => fill.unwrap_or_default(),
                };
            }
        }
    }
}
