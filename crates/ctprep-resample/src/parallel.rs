//! rayon over runs of consecutive output slices (along z), each running the single-thread
//! kernels of [`crate::simd`] with the row operations of the kernel asked for ([`crate::simd::Wide`]
//! or [`crate::dispatch::Plain`]). Runs write disjoint slices of the output; each keeps its own
//! cache of resampled input slices, so a run re-reads at most two input slices another run
//! also reads.

use std::ops::Range;

use rayon::prelude::*;

use crate::dispatch::Plain;
use crate::simd::{Planes, RowOps};
use crate::{Plan, Trilinear, Voxel, simd};

/// The runs of output slices for `threads` threads: four runs per thread balance uneven runs
/// (edges filled, slices that need fewer input slices) at the cost of two extra input slices
/// each.
pub(crate) fn runs(zs: Range<usize>, threads: usize) -> Vec<Range<usize>> {
    let count = (threads * 4).clamp(1, zs.len().max(1));
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

/// `work(zs, out)` for each run of output slices `zs` and its part `out` of `dst` (planes of
/// `plane` values): on the rayon pool when `par`, else once for the whole of `dst` (slices
/// `all`) on the calling thread.
pub(crate) fn for_runs<T: Send>(
    dst: &mut [T],
    all: Range<usize>,
    runs: &[Range<usize>],
    plane: usize,
    par: bool,
    work: impl Fn(Range<usize>, &mut [T]) + Sync,
) {
    if par {
        split(dst, runs, plane).into_par_iter().for_each(|(zs, out)| work(zs, out));
    } else {
        work(all, dst);
    }
}

/// Trilinear resampling on the rayon thread pool (runs for all its threads), with the
/// dispatched row operations.
pub fn resample_linear<T: Voxel>(src: &[T], plan: &Plan, opts: &Trilinear, dst: &mut [f32]) {
    let runs = runs(0..plan.grid.shape[2], rayon::current_num_threads());
    resample_linear_slices::<T, Plain>(src, 0, plan, opts, &runs, dst, &mut Vec::new());
}

/// Trilinear resampling of the output slices `runs` (consecutive) into `dst` (those slices
/// only) on the rayon thread pool with the row operations `R`, from `src` holding the input
/// slices (along z) from `first` on; `planes` holds (or gets) one set of working planes per run.
pub(crate) fn resample_linear_slices<T: Voxel, R: RowOps>(
    src: &[T],
    first: usize,
    plan: &Plan,
    opts: &Trilinear,
    runs: &[Range<usize>],
    dst: &mut [f32],
    planes: &mut Vec<Planes>,
) {
    let plane = plan.grid.shape[0] * plan.grid.shape[1];
    let jobs = split(dst, runs, plane);
    if plan.map.is_diagonal() {
        let kernel = simd::Separable::new(plan, opts);
        if planes.len() < jobs.len() {
            planes.resize_with(jobs.len(), Planes::default);
        }
        let n = jobs.len();
        jobs.into_par_iter()
            .zip(planes[..n].par_iter_mut())
            .for_each(|((zs, out), planes)| kernel.run::<T, R>(src, first, zs, out, planes));
    } else {
        jobs.into_par_iter().for_each(|(zs, out)| R::general(src, first, plan, opts, zs, out));
    }
}

/// Nearest-neighbour resampling of the whole output on the rayon thread pool, in the
/// consecutive runs of output slices `runs`.
pub(crate) fn resample_nearest<T: Voxel>(
    src: &[T],
    plan: &Plan,
    fill: Option<T>,
    dst: &mut [T],
    runs: &[Range<usize>],
) {
    let plane = plan.grid.shape[0] * plan.grid.shape[1];
    for_runs(dst, 0..plan.grid.shape[2], runs, plane, true, |zs, out| simd::resample_nearest(src, plan, fill, out, zs));
}
