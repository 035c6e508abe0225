//! rayon over runs of consecutive output slices (along z), each running the single-thread
//! kernels of [`crate::simd`] with row operations compiled for the instruction set found at run
//! time ([`crate::dispatch`]). Runs write disjoint slices of the output; each keeps its own
//! cache of resampled input slices, so a run re-reads at most two input slices another run
//! also reads.

use std::ops::Range;

use rayon::prelude::*;

use crate::dispatch::Plain;
use crate::{Plan, Trilinear, Voxel, simd};

/// Output slices per run: four runs per thread balance uneven runs (edges filled, slices that
/// need fewer input slices) at the cost of two extra input slices each.
fn runs(zs: Range<usize>) -> Vec<Range<usize>> {
    let count = (rayon::current_num_threads() * 4).clamp(1, zs.len().max(1));
    let per = zs.len().div_ceil(count).max(1);
    zs.clone().step_by(per).map(|s| s..(s + per).min(zs.end)).collect()
}

fn split<'a, T>(dst: &'a mut [T], runs: &[Range<usize>], plane: usize) -> Vec<(Range<usize>, &'a mut [T])> {
    let mut rest = dst;
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        let (head, tail) = rest.split_at_mut(r.len() * plane);
        out.push((r.clone(), head));
        rest = tail;
    }
    out
}

/// Trilinear resampling on the rayon thread pool.
pub fn resample_linear<T: Voxel>(src: &[T], plan: &Plan, opts: &Trilinear, dst: &mut [f32]) {
    resample_linear_slices(src, 0, plan, opts, 0..plan.grid.shape[2], dst);
}

/// Trilinear resampling of output slices `zs` into `dst` (those slices only) on the rayon
/// thread pool, from `src` holding the input slices (along z) from `first` on.
pub fn resample_linear_slices<T: Voxel>(
    src: &[T],
    first: usize,
    plan: &Plan,
    opts: &Trilinear,
    zs: Range<usize>,
    dst: &mut [f32],
) {
    let plane = plan.grid.shape[0] * plan.grid.shape[1];
    let jobs = split(dst, &runs(zs), plane);
    if plan.map.is_diagonal() {
        let kernel = simd::Separable::new(plan, opts);
        jobs.into_par_iter().for_each(|(zs, out)| kernel.run::<T, Plain>(src, first, zs, out));
    } else {
        jobs.into_par_iter().for_each(|(zs, out)| simd::general_linear(src, first, plan, opts, zs, out));
    }
}

/// Nearest-neighbour resampling on the rayon thread pool.
pub fn resample_nearest<T: Voxel>(src: &[T], plan: &Plan, fill: Option<T>, dst: &mut [T]) {
    let plane = plan.grid.shape[0] * plan.grid.shape[1];
    let jobs = split(dst, &runs(0..plan.grid.shape[2]), plane);
    jobs.into_par_iter().for_each(|(zs, out)| simd::resample_nearest(src, plan, fill, out, zs));
}
