//! The general path's tricubic blocks in AVX2 intrinsics: eight output voxels, each the sum of
//! its 16 rows of 4 coefficients weighted along y and z, then along x, in exactly the order of
//! [`crate::general::Lanes::tricubic`] (so the same bits as the other block kernels, `wide` and
//! the portable loops; the per-voxel sum is within `f32` rounding of them). Chosen at run
//! time where the CPU has AVX2 (the `dispatched` kernel): the portable loops compile to
//! scalar inserts and 128-bit sums there (the bench's cubic skew rotation took 2.46 s with
//! them, 1.86 s with this block).
//!
//! Layout: voxels `k` and `k + 4` share a register, one in each 128-bit half, so a row of each
//! is one 16-byte load per half and the weights of a row are an in-half broadcast of the row's
//! weight vector; a 4 x 4 transpose per half then puts the four x taps of all eight voxels in
//! four registers in lane order, where the x weights apply as they are.
#![allow(unsafe_code)] // `std::arch` intrinsics and unchecked loads, each with its proof.

use std::arch::x86_64::*;

/// Whether this CPU runs [`tricubic_block`].
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx2")
}

/// The tricubic values of eight lanes from the coefficients `c`: lane `l`'s row `r`
/// (`r = c1 + 4 c2`, y tap `c1`, z tap `c2`) at `c[base[l] + rows[r]..][..4]`, its y and z
/// weights `wy[c1][l]`, `wz[c2][l]`, its x weights `wx[..][l]`; per lane
/// `a = Σr (wy wz)[r] row_r` in row order, then `((a0 wx0 + a1 wx1) + a2 wx2) + a3 wx3`.
///
/// # Panics
/// If a lane's rows reach past `c` (`base[l] + rows[15] + 4 > c.len()`), or the rows' offsets
/// do not grow.
#[target_feature(enable = "avx2")]
pub(crate) fn tricubic_block(
    c: &[f32],
    base: &[usize; 8],
    rows: &[usize; 16],
    wx: &[[f32; 8]; 4],
    wy: &[[f32; 8]; 4],
    wz: &[[f32; 8]; 4],
) -> [f32; 8] {
    assert!(rows.windows(2).all(|r| r[0] <= r[1]), "tricubic rows out of order");
    let end = base.iter().max().map_or(0, |&b| b) + rows[15];
    assert!(end.checked_add(4).is_some_and(|e| e <= c.len()), "tricubic taps past the coefficients");
    let p = c.as_ptr();
    // SAFETY: every lane's row `r` starts at `base[l] + rows[r] <= base[l] + rows[15]` and
    // its 4 values end within `c` (asserted above); unaligned loads.
    let row = |l: usize, r: usize| unsafe { _mm_loadu_ps(p.add(base[l] + rows[r])) };
    let load = |v: &[f32; 8]| {
        // SAFETY: `v` holds 8 `f32`; unaligned load.
        unsafe { _mm256_loadu_ps(v.as_ptr()) }
    };
    let wy = wy.map(|w| load(&w));
    let wz = wz.map(|w| load(&w));
    // Voxels `k` and `k + 4`: rows in the two halves, accumulated in row order per voxel
    // (the first row's product as it is: `0 + x` would turn -0.0 into 0.0).
    let mut acc = [_mm256_setzero_ps(); 4];
    for r in 0..16 {
        let w = _mm256_mul_ps(wy[r % 4], wz[r / 4]);
        let spread = [
            _mm256_permute_ps::<0x00>(w),
            _mm256_permute_ps::<0x55>(w),
            _mm256_permute_ps::<0xAA>(w),
            _mm256_permute_ps::<0xFF>(w),
        ];
        for k in 0..4 {
            let v = _mm256_set_m128(row(k + 4, r), row(k, r));
            let t = _mm256_mul_ps(spread[k], v);
            acc[k] = if r == 0 { t } else { _mm256_add_ps(acc[k], t) };
        }
    }
    // Per half, a 4 x 4 transpose: register `i` holds every voxel's `a_i`, in lane order.
    let (t0, t1) = (_mm256_unpacklo_ps(acc[0], acc[1]), _mm256_unpackhi_ps(acc[0], acc[1]));
    let (t2, t3) = (_mm256_unpacklo_ps(acc[2], acc[3]), _mm256_unpackhi_ps(acc[2], acc[3]));
    let a = [
        _mm256_shuffle_ps::<0x44>(t0, t2),
        _mm256_shuffle_ps::<0xEE>(t0, t2),
        _mm256_shuffle_ps::<0x44>(t1, t3),
        _mm256_shuffle_ps::<0xEE>(t1, t3),
    ];
    let px: [__m256; 4] = std::array::from_fn(|i| _mm256_mul_ps(a[i], load(&wx[i])));
    let sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(px[0], px[1]), px[2]), px[3]);
    let mut out = [0f32; 8];
    // SAFETY: `out` holds 8 `f32`; unaligned store.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sum) };
    out
}
