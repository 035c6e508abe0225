//! The row operations of [`crate::simd`] as plain loops compiled for several instruction sets and
//! chosen at run time ([`ctprep_core::dispatched`]): AVX-512 or AVX2 in a portable binary,
//! where `wide`'s width is fixed when compiling. `parallel` and `auto` use these.
#![allow(unsafe_code)] // multiversion's generated dispatch calls `#[target_feature]` functions.

use crate::simd::RowOps;

/// [`RowOps`] as runtime-dispatched plain loops.
pub(crate) struct Plain;

impl RowOps for Plain {
    fn first(dst: &mut [f32], input: &[f32]) {
        first(dst, input);
    }

    fn next(dst: &mut [f32], prev: &[f32], input: &[f32], max: bool) {
        if max { next::<true>(dst, prev, input) } else { next::<false>(dst, prev, input) }
    }

    fn accumulate(dst: &mut [f32], input: &[f32], max: bool) {
        if max { accumulate::<true>(dst, input) } else { accumulate::<false>(dst, input) }
    }
}

/// The larger (`MAX`) or smaller of two finite values, `a` if equal; as `maxps`/`minps`.
#[inline(always)]
fn pick<const MAX: bool>(a: f32, v: f32) -> f32 {
    if (MAX && v > a) || (!MAX && v < a) { v } else { a }
}

ctprep_core::dispatched! {
    fn first(dst: &mut [f32], input: &[f32]) {
        for (d, &v) in dst.iter_mut().zip(input) {
            // + 0.0 reads -0.0 as +0.0.
            *d = v + 0.0;
        }
    }

    fn next<const MAX: bool>(dst: &mut [f32], prev: &[f32], input: &[f32]) {
        for ((d, &a), &v) in dst.iter_mut().zip(prev).zip(input) {
            *d = pick::<MAX>(a, v + 0.0);
        }
    }

    fn accumulate<const MAX: bool>(dst: &mut [f32], input: &[f32]) {
        for (d, &v) in dst.iter_mut().zip(input) {
            *d = pick::<MAX>(*d, v + 0.0);
        }
    }
}
