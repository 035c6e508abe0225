//! The map on `wide` `f64x4` vectors: the scalar operations in the same order (no fused
//! multiply-add), so the results are bit-identical to [`crate::scalar`].
//!
//! `wide` fixes the vector width at compile time: SSE2 pairs on the default x86-64 target,
//! AVX with `-C target-cpu=native` (or `x86-64-v3`).

use wide::f64x4;

use crate::{Output, ROUND_MAGIC, Sample, WindowMap, scalar};

/// Windows `src` into `out`, four voxels at a time, the tail through the scalar kernel.
///
/// # Panics
/// When the lengths differ (the public entry points check them first).
pub fn window<T: Sample, O: Output>(src: &[T], map: &WindowMap, out: &mut [O]) {
    assert_eq!(src.len(), out.len(), "input and output lengths differ");
    if map.scaled {
        run::<T, O, true>(src, map, out);
    } else {
        run::<T, O, false>(src, map, out);
    }
}

#[inline(always)]
fn run<T: Sample, O: Output, const SCALED: bool>(src: &[T], map: &WindowMap, out: &mut [O]) {
    let (slope, inter) = (f64x4::splat(map.slope), f64x4::splat(map.inter));
    let (lo, hi) = (f64x4::splat(map.lo), f64x4::splat(map.hi));
    let (inv, a, span) = (f64x4::splat(map.inv_width), f64x4::splat(map.a), f64x4::splat(map.span));
    let magic = f64x4::splat(ROUND_MAGIC);
    let mut s_chunks = src.chunks_exact(4);
    let mut o_chunks = out.chunks_exact_mut(4);
    for (s, o) in (&mut s_chunks).zip(&mut o_chunks) {
        let x = f64x4::from([s[0].to_f64(), s[1].to_f64(), s[2].to_f64(), s[3].to_f64()]);
        let x = if SCALED { x * slope + inter } else { x };
        let nan = x.simd_ne(x);
        // maxpd(lo, x) then minpd(hi, c), as the scalar code spells out.
        let c = hi.fast_min(lo.fast_max(x));
        let t = (c - lo) * inv;
        let y = nan.select(x, a + t * span);
        let y = if O::INTEGER { (y + magic) - magic } else { y };
        let y = y.to_array();
        for (d, v) in o.iter_mut().zip(y) {
            *d = O::from_mapped(v);
        }
    }
    scalar::window(s_chunks.remainder(), map, o_chunks.into_remainder());
}
