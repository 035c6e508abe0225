//! rayon over the O(1) kernel's tasks (row operations compiled per instruction set, see
//! [`crate::dispatch`]): each task owns a contiguous part of the output (the
//! slices whose windows start in one block, for one outer index), so the tasks write disjoint
//! slices with no synchronisation.

use rayon::prelude::*;

use crate::SlabProjection;
use crate::dispatch::Plain;
use crate::simd::{Scratch, run_task, tasks};

/// Projects `src` into `dst` on the rayon thread pool.
pub fn project(
    src: &[f32],
    dims: (usize, usize, usize),
    p: &SlabProjection,
    windows: &[Option<(usize, usize)>],
    non_finite: bool,
    dst: &mut [f32],
) {
    let inner = dims.0;
    let tasks = tasks(p, windows, dims.2);
    let mut regions = Vec::with_capacity(tasks.len());
    let mut rest = dst;
    for t in &tasks {
        let (region, tail) = rest.split_at_mut((t.j1 - t.j0) * inner);
        regions.push(region);
        rest = tail;
    }
    tasks.into_par_iter().zip(regions).for_each_init(Scratch::default, |scratch, (t, region)| {
        run_task::<Plain>(src, dims, p, windows, non_finite, t, region, scratch);
    });
}
