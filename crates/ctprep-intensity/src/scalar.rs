//! The oracle: one plain loop calling [`WindowMap::apply`] per voxel.

use crate::{Output, Sample, WindowMap};

/// The output value for one stored value: the map, rounded for integer outputs.
#[inline(always)]
pub(crate) fn one<T: Sample, O: Output>(v: T, map: &WindowMap) -> O {
    O::from_mapped(map.apply_as(v.to_f64(), O::INTEGER))
}

/// Windows `src` into `out`.
///
/// # Panics
/// When the lengths differ (the public entry points check them first).
pub fn window<T: Sample, O: Output>(src: &[T], map: &WindowMap, out: &mut [O]) {
    assert_eq!(src.len(), out.len(), "input and output lengths differ");
    for (o, &v) in out.iter_mut().zip(src) {
        *o = one(v, map);
    }
}
