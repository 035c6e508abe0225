//! rayon over the O(1) kernel's tasks (row operations compiled per instruction set, see
//! [`crate::dispatch`]): each task owns a contiguous part of the output (the
//! slices whose windows start in one block, for one outer index), so the tasks write disjoint
//! slices with no synchronisation. A whole-axis projection along the last axis has one task:
//! its output row is cut into column ranges instead.

use rayon::prelude::*;

use crate::SlabProjection;
use crate::dispatch::Plain;
use crate::simd::{Scratch, run_tasks, tasks};

/// Projects `src` into `dst` on the rayon thread pool: the task list is cut into a few runs of
/// consecutive tasks per thread (each run reads its input once, see
/// [`crate::simd::run_tasks`]); runs own disjoint, contiguous parts of the output. Returns
/// whether a window held a NaN or an infinity.
pub fn project(
    src: &[f32],
    dims: (usize, usize, usize),
    p: &SlabProjection,
    windows: &[Option<(usize, usize)>],
    dst: &mut [f32],
) -> bool {
    let inner = dims.0;
    let all = tasks(p, windows, dims.2);
    let stream = crate::stream::worth_it(dst);
    let threads = rayon::current_num_threads();
    if windows.len() == 1 && !all.is_empty() && all.len() < threads * 4 {
        // One output row per outer index, and few of them (a whole-axis projection along the
        // last axis): cut each row's columns instead.
        let pieces = (threads * 4).div_ceil(all.len());
        let width = inner.div_ceil(pieces).next_multiple_of(8).max(8);
        let jobs: Vec<_> = all
            .iter()
            .zip(dst.chunks_mut(inner.max(1)))
            .flat_map(|(t, row)| row.chunks_mut(width).enumerate().map(move |(i, piece)| (t, i * width, piece)))
            .collect();
        return jobs
            .into_par_iter()
            .map_init(Scratch::default, |scratch, (t, c0, piece)| {
                let columns = c0..c0 + piece.len();
                run_tasks::<Plain>(src, dims, p, windows, std::slice::from_ref(t), columns, piece, stream, scratch)
            })
            .reduce(|| false, |a, b| a | b);
    }
    // Four runs per thread balance uneven runs; each extra run re-reads one block of input.
    let runs = (threads * 4).clamp(1, all.len().max(1));
    let per = all.len().div_ceil(runs).max(1);
    let mut jobs = Vec::with_capacity(runs);
    let mut rest = dst;
    for group in all.chunks(per) {
        let len: usize = group.iter().map(|t| (t.j1 - t.j0) * inner).sum();
        let (region, tail) = rest.split_at_mut(len);
        jobs.push((group, region));
        rest = tail;
    }
    jobs.into_par_iter()
        .map_init(Scratch::default, |scratch, (group, region)| {
            run_tasks::<Plain>(src, dims, p, windows, group, 0..inner, region, stream, scratch)
        })
        .reduce(|| false, |a, b| a | b)
}
