//! The row operations of [`crate::simd`] as plain loops compiled for several instruction sets and
//! chosen at run time (`multiversion`): AVX-512 or AVX2 in a portable binary, where `wide`'s
//! width is fixed when compiling. `parallel` and `auto` use these.
#![allow(unsafe_code)] // multiversion's generated dispatch calls `#[target_feature]` functions.

use multiversion::multiversion;

use crate::simd::RowOps;

/// [`RowOps`] as runtime-dispatched plain loops.
pub(crate) struct Plain;

impl RowOps for Plain {
    fn first(dst: &mut [f32], input: &[f32]) {
        first(dst, input);
    }

    fn next(dst: &mut [f32], prev: &[f32], input: &[f32], max: bool) {
        if max { next_max(dst, prev, input) } else { next_min(dst, prev, input) }
    }

    fn accumulate(dst: &mut [f32], input: &[f32], max: bool) {
        if max { acc_max(dst, input) } else { acc_min(dst, input) }
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx512vbmi2+avx2+fma+bmi1+bmi2+lzcnt+popcnt+sse4.2",
    "x86_64+avx2+fma+bmi1+bmi2+lzcnt+popcnt+sse4.2",
    "x86_64+sse4.2"
))]
fn acc_max(dst: &mut [f32], input: &[f32]) {
    for (d, &v) in dst.iter_mut().zip(input) {
        let v = v + 0.0;
        *d = if v > *d { v } else { *d };
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx512vbmi2+avx2+fma+bmi1+bmi2+lzcnt+popcnt+sse4.2",
    "x86_64+avx2+fma+bmi1+bmi2+lzcnt+popcnt+sse4.2",
    "x86_64+sse4.2"
))]
fn acc_min(dst: &mut [f32], input: &[f32]) {
    for (d, &v) in dst.iter_mut().zip(input) {
        let v = v + 0.0;
        *d = if v < *d { v } else { *d };
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx512vbmi2+avx2+fma+bmi1+bmi2+lzcnt+popcnt+sse4.2",
    "x86_64+avx2+fma+bmi1+bmi2+lzcnt+popcnt+sse4.2",
    "x86_64+sse4.2"
))]
fn first(dst: &mut [f32], input: &[f32]) {
    for (d, &v) in dst.iter_mut().zip(input) {
        // + 0.0 reads -0.0 as +0.0.
        *d = v + 0.0;
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx512vbmi2+avx2+fma+bmi1+bmi2+lzcnt+popcnt+sse4.2",
    "x86_64+avx2+fma+bmi1+bmi2+lzcnt+popcnt+sse4.2",
    "x86_64+sse4.2"
))]
fn next_max(dst: &mut [f32], prev: &[f32], input: &[f32]) {
    for ((d, &a), &v) in dst.iter_mut().zip(prev).zip(input) {
        let v = v + 0.0;
        *d = if v > a { v } else { a };
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx512vbmi2+avx2+fma+bmi1+bmi2+lzcnt+popcnt+sse4.2",
    "x86_64+avx2+fma+bmi1+bmi2+lzcnt+popcnt+sse4.2",
    "x86_64+sse4.2"
))]
fn next_min(dst: &mut [f32], prev: &[f32], input: &[f32]) {
    for ((d, &a), &v) in dst.iter_mut().zip(prev).zip(input) {
        let v = v + 0.0;
        *d = if v < a { v } else { a };
    }
}
