//! The row operations of [`crate::simd`] as plain loops compiled for several instruction sets and
//! chosen at run time ([`ctprep_core::dispatched`]): AVX-512 or AVX2 in a portable binary,
//! where `wide`'s width is fixed when compiling. `parallel` and `auto` use these.
#![allow(unsafe_code)] // multiversion's generated dispatch calls `#[target_feature]` functions.

use crate::simd::{RowOps, non_finite_bits};
use crate::stream;

/// [`RowOps`] as runtime-dispatched plain loops.
pub(crate) struct Plain;

impl RowOps for Plain {
    const STREAMS: bool = true;

    fn first(dst: &mut [f32], input: &[f32]) -> bool {
        first(dst, input) != 0
    }

    fn next(dst: &mut [f32], prev: &[f32], input: &[f32], max: bool) -> bool {
        (if max { next::<true>(dst, prev, input) } else { next::<false>(dst, prev, input) }) != 0
    }

    fn accumulate(dst: &mut [f32], input: &[f32], max: bool) -> bool {
        (if max { accumulate::<true>(dst, input) } else { accumulate::<false>(dst, input) }) != 0
    }

    fn advance(acc: &mut [f32], input: &[f32], suffix: &[f32], out: &mut [f32], max: bool, stream: bool) -> bool {
        (match (max, stream) {
            (true, true) => stream::advance::<true>(acc, input, suffix, out),
            (false, true) => stream::advance::<false>(acc, input, suffix, out),
            (true, false) => advance::<true>(acc, input, suffix, out),
            (false, false) => advance::<false>(acc, input, suffix, out),
        }) != 0
    }

    fn put(out: &mut [f32], row: &[f32], stream: bool) {
        if stream { stream::copy(out, row) } else { out.copy_from_slice(row) }
    }

    fn combine(dst: &mut [f32], a: &[f32], b: &[f32], max: bool) {
        if max { combine::<true>(dst, a, b) } else { combine::<false>(dst, a, b) }
    }
}

/// The larger (`MAX`) or smaller of two finite values, `a` if equal; as `maxps`/`minps`.
#[inline(always)]
pub(crate) fn pick<const MAX: bool>(a: f32, v: f32) -> f32 {
    if (MAX && v > a) || (!MAX && v < a) { v } else { a }
}

// Each function that reads an input row returns the OR of `non_finite_bits` over it: non-zero
// when the row held a NaN or an infinity. `+ 0.0` reads -0.0 as +0.0.
ctprep_core::dispatched! {
    fn first(dst: &mut [f32], input: &[f32]) -> u32 {
        let mut bits = 0;
        for (d, &v) in dst.iter_mut().zip(input) {
            bits |= non_finite_bits(v);
            *d = v + 0.0;
        }
        bits
    }

    fn next<const MAX: bool>(dst: &mut [f32], prev: &[f32], input: &[f32]) -> u32 {
        let mut bits = 0;
        for ((d, &a), &v) in dst.iter_mut().zip(prev).zip(input) {
            bits |= non_finite_bits(v);
            *d = pick::<MAX>(a, v + 0.0);
        }
        bits
    }

    fn accumulate<const MAX: bool>(dst: &mut [f32], input: &[f32]) -> u32 {
        let mut bits = 0;
        for (d, &v) in dst.iter_mut().zip(input) {
            bits |= non_finite_bits(v);
            *d = pick::<MAX>(*d, v + 0.0);
        }
        bits
    }

    fn advance<const MAX: bool>(acc: &mut [f32], input: &[f32], suffix: &[f32], out: &mut [f32]) -> u32 {
        let mut bits = 0;
        for (((a, &v), &s), o) in acc.iter_mut().zip(input).zip(suffix).zip(out.iter_mut()) {
            bits |= non_finite_bits(v);
            *a = pick::<MAX>(*a, v + 0.0);
            *o = pick::<MAX>(s, *a);
        }
        bits
    }

    fn combine<const MAX: bool>(dst: &mut [f32], a: &[f32], b: &[f32]) {
        for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
            *d = pick::<MAX>(x, y);
        }
    }
}

/// The dispatched `advance` without streaming stores (the fallback of [`crate::stream`] off x86-64).
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn advance_plain<const MAX: bool>(acc: &mut [f32], input: &[f32], suffix: &[f32], out: &mut [f32]) -> u32 {
    advance::<MAX>(acc, input, suffix, out)
}
