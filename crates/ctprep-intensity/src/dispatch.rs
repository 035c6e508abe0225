//! Plain loops compiled for several instruction sets and chosen at run time ([`ctprep_core::dispatched`]):
//! the oracle's own loop, and the verified integer kernel, so a portable binary built for the
//! default x86-64 target still runs AVX2 or AVX-512 code where the machine has it.
//!
//! The loops are the scalar code; Rust never fuses a multiply and an add on its own, so every
//! instruction-set version gives the oracle's results bit for bit.
#![allow(unsafe_code)] // multiversion's generated dispatch calls `#[target_feature]` functions.

use crate::int16::Plan;
use crate::{Output, Sample, WindowMap, scalar};

ctprep_core::dispatched! {
    /// The oracle's loop ([`scalar::window`]), compiled per instruction set.
    pub fn window<T: Sample, O: Output>(src: &[T], map: &WindowMap, out: &mut [O]) {
        assert_eq!(src.len(), out.len(), "input and output lengths differ");
        for (o, &v) in out.iter_mut().zip(src) {
            *o = scalar::one(v, map);
        }
    }

    /// The verified integer kernel ([`crate::int16::run`]), compiled per instruction set.
    pub fn int16<T: Sample, O: Output>(src: &[T], plan: &Plan, out: &mut [O]) {
        crate::int16::run(src, plan, out);
    }

    /// The window statistics' lanes ([`crate::stats`]), compiled per instruction set.
    pub fn window_stats(values: &[f32], lo: f32, hi: f32) -> crate::WindowStats {
        crate::stats::lanes(values, lo, hi)
    }
}
