//! rayon over the O(1) kernel's tasks (row operations compiled per instruction set, see
//! [`crate::dispatch`]): each task owns a contiguous part of the output (the
//! slices whose windows start in one block, for one outer index), so the tasks write disjoint
//! slices with no synchronisation.

use rayon::prelude::*;

use crate::SlabProjection;
use crate::dispatch::Plain;
use crate::simd::{Scratch, run_tasks, tasks};

/// Projects `src` into `dst` on the rayon thread pool: the task list is cut into a few runs of
/// consecutive tasks per thread (each run reads its input once, see
/// [`crate::simd::run_tasks`]); runs own disjoint, contiguous parts of the output.
pub fn project(
    src: &[f32],
    dims: (usize, usize, usize),
    p: &SlabProjection,
    windows: &[Option<(usize, usize)>],
    non_finite: bool,
    dst: &mut [f32],
) {
    let inner = dims.0;
    let all = tasks(p, windows, dims.2);
    // Four runs per thread balance uneven runs; each extra run re-reads one block of input.
    let runs = (rayon::current_num_threads() * 4).clamp(1, all.len().max(1));
    let per = all.len().div_ceil(runs).max(1);
    let mut jobs = Vec::with_capacity(runs);
    let mut rest = dst;
    for group in all.chunks(per) {
        let len: usize = group.iter().map(|t| (t.j1 - t.j0) * inner).sum();
        let (region, tail) = rest.split_at_mut(len);
        jobs.push((group, region));
        rest = tail;
    }
    jobs.into_par_iter().for_each_init(Scratch::default, |scratch, (group, region)| {
        run_tasks::<Plain>(src, dims, p, windows, non_finite, group, region, scratch);
    });
}
