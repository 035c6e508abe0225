//! The row operations of [`crate::simd`] as plain loops compiled for several instruction sets
//! and chosen at run time ([`ctprep_core::dispatched`]): AVX-512 or AVX2 in a portable binary,
//! where `wide`'s width is fixed when compiling. `parallel` and `auto` use these.
#![allow(unsafe_code)] // multiversion's generated dispatch calls `#[target_feature]` functions.

use std::ops::Range;

use crate::simd::{RowOps, Scale, Tap32, blend32, general_linear, scale_of};
use crate::{Plan, Trilinear, Voxel, general};

/// [`RowOps`] as runtime-dispatched plain loops.
#[derive(Debug)]
pub struct Plain;

impl RowOps for Plain {
    fn blend<S: Voxel>(dst: &mut [f32], a: &[S], b: &[S], w: f32, scale: Scale) {
        blend_rows(dst, a, b, w, scale);
    }

    fn gather<S: Voxel>(dst: &mut [f32], row: &[S], taps: &[Tap32], scale: Scale) {
        gather_row(dst, row, taps, scale);
    }

    fn general<S: Voxel>(src: &[S], first: usize, plan: &Plan, opts: &Trilinear, zs: Range<usize>, dst: &mut [f32]) {
        if general::blocks(plan) {
            #[cfg(target_arch = "x86_64")]
            if std::any::TypeId::of::<S>() == std::any::TypeId::of::<i16>() && crate::avx2::available() {
                // SAFETY: `S` is `i16` (same type id), so the slice is a slice of `i16`.
                let src = unsafe { std::slice::from_raw_parts(src.as_ptr().cast::<i16>(), src.len()) };
                return crate::avx2::linear_i16(src, first, plan, opts.get_fill(), scale_of(opts), zs, dst);
            }
            general::linear_plain(src, first, plan, opts.get_fill(), scale_of(opts), zs, dst);
        } else {
            general_linear(src, first, plan, opts, zs, dst);
        }
    }
}

ctprep_core::dispatched! {
    fn blend_rows<S: Voxel>(dst: &mut [f32], a: &[S], b: &[S], w: f32, scale: Scale) {
        for ((d, &a), &b) in dst.iter_mut().zip(a).zip(b) {
            *d = blend32(a.to_f32(), b.to_f32(), w) * scale.slope + scale.inter;
        }
    }

    fn gather_row<S: Voxel>(dst: &mut [f32], row: &[S], taps: &[Tap32], scale: Scale) {
        for (d, t) in dst.iter_mut().zip(taps) {
            *d = blend32(row[t.i0].to_f32(), row[t.i1].to_f32(), t.w) * scale.slope + scale.inter;
        }
    }
}
