//! 8/16-bit stored values to u8 in integer and `f32` arithmetic, used only after checking it
//! against the oracle on every one of the 256 or 65,536 possible inputs: where the check passes
//! the kernel is bit-identical to [`crate::scalar`] for any volume, by exhaustion.
//!
//! It applies when the stored values map to HU by an integer shift (no scaling, or slope 1 with
//! an integer intercept) and the window bounds are integers: then `d = clamp(v, lo, hi) - lo` is
//! an exact integer, `d * 255` is exact in `f32`, and one correctly rounded division by the
//! window width gives the quotient, rounded half to even. A plain loop of these operations
//! vectorises to 16 lanes on AVX-512, where the oracle's `f64` arithmetic does 8.

use crate::{Output, Sample, WindowMap, scalar};

/// The integer form of a map: bounds in stored units, width and output span as `f32`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    lo: i32,
    hi: i32,
    span: f32,
    width: f32,
}

/// The integer form of `map` for `T` into `O`, when one exists (u8 output, 8/16-bit input,
/// integral shift and bounds); it still has to pass [`verify`].
pub fn plan<T: Sample, O: Output>(map: &WindowMap) -> Option<Plan> {
    let is_u8 = O::RANGE.is_some_and(|r| r.a == 0.0 && r.b == 255.0);
    if !is_u8 || T::LUT_SIZE.is_none() || map.a != 0.0 || map.span != 255.0 {
        return None;
    }
    let shift = if map.scaled {
        if map.slope != 1.0 || map.inter.fract() != 0.0 || map.inter.abs() > 1e6 {
            return None;
        }
        map.inter
    } else {
        0.0
    };
    let (lo, hi) = (map.lo - shift, map.hi - shift);
    if lo.fract() != 0.0 || hi.fract() != 0.0 || lo.abs() > 1e6 || hi.abs() > 1e6 || map.width > 65535.0 {
        return None;
    }
    Some(Plan { lo: lo as i32, hi: hi as i32, span: 255.0, width: map.width as f32 })
}

/// Runs the integer kernel (a plain loop; [`crate::dispatch::int16`] compiles it per
/// instruction set).
#[inline(always)]
pub fn run<T: Sample, O: Output>(src: &[T], p: &Plan, out: &mut [O]) {
    assert_eq!(src.len(), out.len(), "input and output lengths differ");
    for (o, &v) in out.iter_mut().zip(src) {
        let d = v.to_i32().clamp(p.lo, p.hi) - p.lo;
        *o = O::from_small_f32((d as f32 * p.span) / p.width);
    }
}

/// Whether the kernel gives the oracle's output for every possible value of `T`.
pub fn verify<T: Sample, O: Output>(p: &Plan, map: &WindowMap) -> bool {
    let Some(n) = T::LUT_SIZE else { return false };
    let all: Vec<T> = (0..n).map(T::from_lut_index).collect();
    let mut got = vec![O::default(); n];
    crate::dispatch::int16(&all, p, &mut got);
    all.iter().zip(&got).all(|(&v, g)| scalar::one::<T, O>(v, map) == *g)
}
