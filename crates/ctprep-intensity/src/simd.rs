//! The map on `wide` `f64x4` vectors: the scalar operations in the same order (no fused
//! multiply-add), so the results are bit-identical to [`crate::scalar`].
//!
//! Work goes in blocks of [`BLOCK`] voxels kept in L1: a plain loop widens the block to `f64`
//! (which compiles to vector conversions), the map runs on `wide` vectors in place, and a plain
//! loop narrows the results to the output type. Converting lane by lane inside the vector loop
//! instead was slower than the scalar kernel.
//!
//! `wide` fixes the vector width at compile time: SSE2 pairs on the default x86-64 target,
//! AVX / AVX-512 with `-C target-cpu=native` (or `x86-64-v3`).

use wide::f64x4;

use crate::{Output, Sample, WindowMap};

/// Voxels per block: 256 f64 (2 KiB) stay in L1 with their input and output.
pub const BLOCK: usize = 256;

/// Windows `src` into `out`.
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
    let width = f64x4::splat(map.width);
    let mut buf = [f64x4::ZERO; BLOCK / 4];
    for (s, o) in src.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
        let vals: &mut [f64; BLOCK] = bytemuck::cast_mut(&mut buf);
        // Widen (vectorised by the compiler); a short last block is padded with zeros.
        for (d, v) in vals.iter_mut().zip(s) {
            *d = v.to_f64();
        }
        let lanes = s.len().div_ceil(4);
        for x in &mut buf[..lanes] {
            let v = if SCALED { *x * slope + inter } else { *x };
            let nan = v.simd_ne(v);
            // maxpd(lo, x) then minpd(hi, c), as the scalar code spells out.
            let c = hi.fast_min(lo.fast_max(v));
            let y = if O::INTEGER { a + ((c - lo) * span) / width } else { a + ((c - lo) * inv) * span };
            *x = nan.select(v, y);
        }
        let vals: &[f64; BLOCK] = bytemuck::cast_ref(&buf);
        // Narrow (vectorised by the compiler).
        for (d, v) in o.iter_mut().zip(vals) {
            *d = O::from_mapped(*v);
        }
    }
}
