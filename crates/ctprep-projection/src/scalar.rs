//! The oracle: for every output slice and every column, the naive loop over the k slices of its
//! window (O(n k)).

use crate::Reduce;

/// `-0.0` read as `+0.0`, so max and min do not depend on the order of reduction.
#[inline(always)]
pub(crate) fn canon(v: f32) -> f32 {
    v + 0.0
}

/// Max with NaN propagation (numpy's `amax`).
#[inline(always)]
pub(crate) fn max_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if b > a {
        b
    } else {
        a
    }
}

/// Min with NaN propagation (numpy's `amin`).
#[inline(always)]
pub(crate) fn min_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if b < a {
        b
    } else {
        a
    }
}

/// The reduction of column `c` of rows `s..=e` (row `i` starts at `base + i * inner`).
#[inline]
pub(crate) fn reduce_column(
    src: &[f32],
    base: usize,
    inner: usize,
    c: usize,
    (s, e): (usize, usize),
    reduce: Reduce,
) -> f32 {
    let v = |i: usize| canon(src[base + i * inner + c]);
    match reduce {
        Reduce::Max => (s + 1..=e).fold(v(s), |m, i| max_nan(m, v(i))),
        Reduce::Min => (s + 1..=e).fold(v(s), |m, i| min_nan(m, v(i))),
        Reduce::Mean => {
            let sum: f64 = (s..=e).map(|i| f64::from(v(i))).sum();
            (sum / (e - s + 1) as f64) as f32
        }
    }
}

/// Projects `src` (x-fastest, seen as `[outer][n][inner]`) into `dst` (`[outer][m][inner]`,
/// `m = windows.len()`); `None` windows give 0.
pub fn project(
    src: &[f32],
    (inner, n, outer): (usize, usize, usize),
    windows: &[Option<(usize, usize)>],
    reduce: Reduce,
    dst: &mut [f32],
) {
    let m = windows.len();
    for o in 0..outer {
        let base = o * n * inner;
        for (j, w) in windows.iter().enumerate() {
            let row = &mut dst[(o * m + j) * inner..(o * m + j + 1) * inner];
            match w {
                None => row.fill(0.0),
                Some(w) => {
                    for (c, out) in row.iter_mut().enumerate() {
                        *out = reduce_column(src, base, inner, c, *w, reduce);
                    }
                }
            }
        }
    }
}
