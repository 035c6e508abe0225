//! For 8- and 16-bit stored types: a table holding the scalar kernel's output for every possible
//! stored value, then one lookup per voxel. Bit-identical to [`crate::scalar`] by construction.

use crate::{Output, Sample, WindowMap, scalar};

/// The table of outputs for every value of `T` (256 or 65,536 entries), or `None` for types
/// too wide to tabulate.
pub fn table<T: Sample, O: Output>(map: &WindowMap) -> Option<Vec<O>> {
    let n = T::LUT_SIZE?;
    Some((0..n).map(|i| scalar::one::<T, O>(T::from_lut_index(i), map)).collect())
}

/// Looks every value up in a table made by [`table`].
///
/// # Panics
/// When the lengths differ or the table is too short for `T`.
pub fn apply<T: Sample, O: Output>(src: &[T], table: &[O], out: &mut [O]) {
    assert_eq!(src.len(), out.len(), "input and output lengths differ");
    for (o, &v) in out.iter_mut().zip(src) {
        *o = table[v.lut_index()];
    }
}

/// Windows `src` into `out` through a table; types without one fall back to [`crate::dispatch`].
pub fn window<T: Sample, O: Output>(src: &[T], map: &WindowMap, out: &mut [O]) {
    match table::<T, O>(map) {
        Some(t) => apply(src, &t, out),
        None => crate::dispatch::window(src, map, out),
    }
}
