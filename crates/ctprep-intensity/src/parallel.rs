//! rayon over independent chunks, each running the fastest exact single-thread kernel (see
//! [`crate::window_slice_into`]), set up once and shared by the tasks.

use rayon::prelude::*;

use crate::{Best, Output, Sample, WindowMap};

/// Voxels per rayon task: 256 Ki voxels (1 MiB of f32 output) keeps each task well above
/// rayon's per-task overhead (~microseconds) while leaving enough tasks to balance two threads
/// on a 64 Mi-voxel volume.
pub const CHUNK: usize = 1 << 18;

/// Windows `src` into `out` on the rayon thread pool with the auto kernel (see
/// [`crate::window_slice_into`]).
///
/// # Panics
/// When the lengths differ (the public entry points check them first).
pub fn window<T: Sample, O: Output>(src: &[T], map: &WindowMap, out: &mut [O]) {
    run(&Best::<O>::choose::<T>(src.len(), map), src, map, out);
}

pub(crate) fn run<T: Sample, O: Output>(best: &Best<O>, src: &[T], map: &WindowMap, out: &mut [O]) {
    assert_eq!(src.len(), out.len(), "input and output lengths differ");
    out.par_chunks_mut(CHUNK).zip(src.par_chunks(CHUNK)).for_each(|(o, s)| best.run(s, map, o));
}
