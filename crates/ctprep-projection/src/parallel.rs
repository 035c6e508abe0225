//! rayon over the O(1) kernel's tasks, with the row operations of the kernel asked for (`wide`,
//! or compiled per instruction set: [`crate::dispatch`]). Two ways to share the work, both writing disjoint parts of the output
//! with no synchronisation:
//!
//! - **by column range**, when the rows are long (a projection along z): every job runs all
//!   the tasks on its own range of columns, so each input row is read from memory once, and the
//!   jobs are equal in size whatever k. Cutting by task instead left ten tasks for k = 31 on 300
//!   slices, which two threads cannot share evenly, and made every run re-read a block. On the
//!   512x512x300 bench (README, "projection") k = 31 took 1.24x the time of k = 5 and 0.62x the
//!   copy's throughput that way; with the column split, 0.98x k = 5 and 0.72x the copy;
//! - **by task runs** otherwise (short rows, many outer indices: projections along x or y):
//!   runs of consecutive tasks, each owning a contiguous part of the output.

use rayon::prelude::*;

use crate::SlabProjection;
use crate::dispatch::Plain;
use crate::simd::{RowOps, Rows, Scratch, run_tasks, tasks};

/// Jobs per thread: rayon balances uneven progress (one hyperthread sharing its core with the
/// other) by stealing whole jobs.
const JOBS_PER_THREAD: usize = 4;

/// Fewest columns per job in the column split: 64 KiB of each row, so every job still streams
/// long rows (see [`crate::simd::SCRATCH_BYTES`]).
const MIN_JOB_COLUMNS: usize = 16 * 1024;

/// Projects `src` into `dst` on the rayon thread pool (jobs for all its threads) with the
/// dispatched row operations. Returns whether a window held a NaN or an infinity.
pub fn project(
    src: &[f32],
    dims: (usize, usize, usize),
    p: &SlabProjection,
    windows: &[Option<(usize, usize)>],
    dst: &mut [f32],
) -> bool {
    project_with::<Plain>(src, dims, p, windows, dst, rayon::current_num_threads(), &mut Vec::new()).0
}

/// Projects `src` into `dst` on the rayon thread pool in jobs for `threads` threads, with the
/// row operations `R` and one scratch from `scratch` per job (made when missing). Returns
/// whether a window held a NaN or an infinity, and the number of jobs.
pub(crate) fn project_with<R: RowOps>(
    src: &[f32],
    dims: (usize, usize, usize),
    p: &SlabProjection,
    windows: &[Option<(usize, usize)>],
    dst: &mut [f32],
    threads: usize,
    scratch: &mut Vec<Scratch>,
) -> (bool, usize) {
    let inner = dims.0;
    let all = tasks(p, windows, dims.2);
    let stream = crate::stream::worth_it(dst);
    let jobs = threads * JOBS_PER_THREAD;
    if inner >= 2 * MIN_JOB_COLUMNS {
        // Long rows: cut the columns. Widths are whole cache lines (16 floats), so no two jobs
        // write into one line with streaming stores.
        let pieces = jobs.min(inner / MIN_JOB_COLUMNS);
        let width = inner.div_ceil(pieces).next_multiple_of(16);
        let mut cut: Vec<Vec<&mut [f32]>> =
            (0..inner.div_ceil(width)).map(|_| Vec::with_capacity(dst.len() / inner)).collect();
        for row in dst.chunks_mut(inner) {
            for (piece, part) in cut.iter_mut().zip(row.chunks_mut(width)) {
                piece.push(part);
            }
        }
        let n = cut.len();
        if scratch.len() < n {
            scratch.resize_with(n, Scratch::default);
        }
        let bad = cut
            .into_par_iter()
            .enumerate()
            .zip(scratch[..n].par_iter_mut())
            .map(|((i, mut piece), scratch)| {
                let columns = i * width..((i + 1) * width).min(inner);
                run_tasks::<R>(src, dims, p, windows, &all, columns, Rows::Cut(&mut piece), stream, scratch)
            })
            .reduce(|| false, |a, b| a | b);
        return (bad, n);
    }

    // Runs of consecutive tasks; each run after the first re-reads one block of input.
    let runs = jobs.clamp(1, all.len().max(1));
    let per = all.len().div_ceil(runs).max(1);
    let mut work = Vec::with_capacity(runs);
    let mut rest = dst;
    for group in all.chunks(per) {
        let len: usize = group.iter().map(|t| (t.j1 - t.j0) * inner).sum();
        let (region, tail) = rest.split_at_mut(len);
        work.push((group, region));
        rest = tail;
    }
    let n = work.len();
    if scratch.len() < n {
        scratch.resize_with(n, Scratch::default);
    }
    let bad = work
        .into_par_iter()
        .zip(scratch[..n].par_iter_mut())
        .map(|((group, region), scratch)| {
            run_tasks::<R>(src, dims, p, windows, group, 0..inner, Rows::Packed(region), stream, scratch)
        })
        .reduce(|| false, |a, b| a | b);
    (bad, n)
}
