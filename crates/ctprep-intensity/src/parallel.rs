//! rayon over independent chunks, each running the best single-thread kernel: the lookup table
//! for 8/16-bit inputs (built once, shared), the SIMD kernel otherwise.

use rayon::prelude::*;

use crate::{Output, Sample, WindowMap, lut, simd, use_lut};

/// Voxels per rayon task: 256 Ki voxels (1 MiB of f32 output) keeps each task well above
/// rayon's per-task overhead (~microseconds) while leaving enough tasks to balance two threads
/// on a 64 Mi-voxel volume.
pub const CHUNK: usize = 1 << 18;

/// Windows `src` into `out` on the rayon thread pool.
///
/// # Panics
/// When the lengths differ (the public entry points check them first).
pub fn window<T: Sample, O: Output>(src: &[T], map: &WindowMap, out: &mut [O]) {
    assert_eq!(src.len(), out.len(), "input and output lengths differ");
    let table = if use_lut::<T>(src.len()) { lut::table::<T, O>(map) } else { None };
    out.par_chunks_mut(CHUNK).zip(src.par_chunks(CHUNK)).for_each(|(o, s)| match &table {
        Some(t) => lut::apply(s, t, o),
        None => simd::window(s, map, o),
    });
}
