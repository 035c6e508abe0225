//! O(1) per voxel whatever the slab thickness, on `wide` `f32x8` rows.
//!
//! Max and min (van Herk / Gil-Werman): the axis is cut into blocks of k slices; within each
//! block a running maximum from the block's start (prefix) and from its end (suffix) is kept.
//! A window of at most k slices either starts a block (its value is a prefix), ends one (a
//! suffix: this covers windows truncated at the volume's end), or spans two (the max of the
//! first block's suffix and the second's prefix): three operations per voxel for any k.
//!
//! Mean: prefix sums in `f64` per column, one subtraction per output voxel.
//!
//! Work is split into tasks that own a contiguous part of the output: the output slices whose
//! windows start in the same block (per outer index). Each task walks the columns in chunks of
//! [`cols_for`] columns so its prefix and suffix rows stay in cache. A chunk holding NaN or infinities
//! (checked as it is read) is redone with the naive loop, so their semantics are the oracle's.

use wide::f32x8;

use crate::scalar::{canon, reduce_column};
use crate::{Reduce, SlabProjection};

/// Scratch budget per task: three blocks of k rows (suffix, prefix, next prefix) of a column
/// chunk stay within ~768 KiB, inside the L2 cache of these machines.
pub const SCRATCH_BYTES: usize = 768 << 10;

/// Columns per chunk for slabs of `k` slices: as wide as the scratch budget allows (long rows
/// keep the hardware prefetcher streaming), between 1,024 and 16,384.
pub fn cols_for(k: usize) -> usize {
    (SCRATCH_BYTES / (3 * k.max(1) * 4)).clamp(1024, 16384) / 8 * 8
}

/// A run of output slices `j0..j1` (for one outer index) whose windows start in block `block`
/// (or are all zero: `block == None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Task {
    pub(crate) outer: usize,
    pub(crate) j0: usize,
    pub(crate) j1: usize,
    pub(crate) block: Option<usize>,
}

/// The tasks, in output order (so their regions tile the output).
pub(crate) fn tasks(p: &SlabProjection, windows: &[Option<(usize, usize)>], outer: usize) -> Vec<Task> {
    let k = p.k();
    let mut per_outer = Vec::new();
    for (j, w) in windows.iter().enumerate() {
        let block = w.map(|(s, _)| s / k);
        match per_outer.last_mut() {
            Some(Task { j1, block: b, .. }) if *b == block => *j1 = j + 1,
            _ => per_outer.push(Task { outer: 0, j0: j, j1: j + 1, block }),
        }
    }
    (0..outer).flat_map(|o| per_outer.iter().map(move |t| Task { outer: o, ..*t })).collect()
}

/// Projects `src` into `dst` on one thread with `wide` vectors.
pub fn project(
    src: &[f32],
    dims: (usize, usize, usize),
    p: &SlabProjection,
    windows: &[Option<(usize, usize)>],
    non_finite: bool,
    dst: &mut [f32],
) {
    project_with::<Wide>(src, dims, p, windows, non_finite, dst);
}

/// Projects `src` into `dst` on one thread with the row operations `R`.
pub(crate) fn project_with<R: RowOps>(
    src: &[f32],
    dims: (usize, usize, usize),
    p: &SlabProjection,
    windows: &[Option<(usize, usize)>],
    non_finite: bool,
    dst: &mut [f32],
) {
    let all = tasks(p, windows, dims.2);
    run_tasks::<R>(src, dims, p, windows, non_finite, &all, dst, &mut Scratch::default());
}

/// Runs consecutive tasks whose output regions together form `region`, column chunk by column
/// chunk, so that the prefix of block b + 1 computed for one task serves as the next task's
/// block prefix while it is still in cache: every input row comes from memory once.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_tasks<R: RowOps>(
    src: &[f32],
    dims: (usize, usize, usize),
    p: &SlabProjection,
    windows: &[Option<(usize, usize)>],
    non_finite: bool,
    tasks: &[Task],
    region: &mut [f32],
    scratch: &mut Scratch,
) {
    let inner = dims.0;
    let width = cols_for(p.k());
    let mut c0 = 0;
    while c0 < inner {
        let cols = (inner - c0).min(width);
        let mut carried: Option<(usize, usize)> = None;
        let mut offset = 0;
        for &t in tasks {
            let len = (t.j1 - t.j0) * inner;
            carried = run_chunk::<R>(
                src,
                dims,
                p,
                windows,
                non_finite,
                t,
                &mut region[offset..offset + len],
                c0,
                cols,
                carried,
                scratch,
            );
            offset += len;
        }
        c0 += cols;
    }
}

/// Reusable per-task buffers.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    suffix: Vec<f32>,
    prefix: Vec<f32>,
    next: Vec<f32>,
    sums: Vec<f64>,
}

#[inline(always)]
fn load(row: &[f32]) -> f32x8 {
    f32x8::from(<[f32; 8]>::try_from(&row[..8]).expect("8 values"))
}

#[inline(always)]
fn store(row: &mut [f32], v: f32x8) {
    row[..8].copy_from_slice(&v.to_array());
}

/// Max or min of two finite values, the larger (smaller) one, either if equal.
#[inline(always)]
pub(crate) fn pick(a: f32, v: f32, max: bool) -> f32 {
    if max {
        if v > a { v } else { a }
    } else if v < a {
        v
    } else {
        a
    }
}

/// The three row operations of the O(1) algorithm, on finite values.
pub(crate) trait RowOps {
    /// `dst = canon(input)`.
    fn first(dst: &mut [f32], input: &[f32]);
    /// `dst = pick(prev, canon(input))`.
    fn next(dst: &mut [f32], prev: &[f32], input: &[f32], max: bool);
    /// `dst = pick(dst, canon(input))`, in place.
    fn accumulate(dst: &mut [f32], input: &[f32], max: bool);
}

/// [`RowOps`] on `wide` `f32x8` vectors (width fixed at compile time).
pub(crate) struct Wide;

impl RowOps for Wide {
    fn first(dst: &mut [f32], input: &[f32]) {
        let chunks = dst.len() / 8 * 8;
        for c in (0..chunks).step_by(8) {
            store(&mut dst[c..], load(&input[c..]) + f32x8::ZERO);
        }
        for c in chunks..dst.len() {
            dst[c] = canon(input[c]);
        }
    }

    fn next(dst: &mut [f32], prev: &[f32], input: &[f32], max: bool) {
        let chunks = dst.len() / 8 * 8;
        for c in (0..chunks).step_by(8) {
            // + 0.0 reads -0.0 as +0.0.
            let (a, v) = (load(&prev[c..]), load(&input[c..]) + f32x8::ZERO);
            store(&mut dst[c..], if max { a.fast_max(v) } else { a.fast_min(v) });
        }
        for c in chunks..dst.len() {
            dst[c] = pick(prev[c], canon(input[c]), max);
        }
    }

    fn accumulate(dst: &mut [f32], input: &[f32], max: bool) {
        let chunks = dst.len() / 8 * 8;
        for c in (0..chunks).step_by(8) {
            let (a, v) = (load(&dst[c..]), load(&input[c..]) + f32x8::ZERO);
            store(&mut dst[c..], if max { a.fast_max(v) } else { a.fast_min(v) });
        }
        for c in chunks..dst.len() {
            dst[c] = pick(dst[c], canon(input[c]), max);
        }
    }
}

/// Running max (or min) over rows `lo..=hi` of the column chunk, forward (prefix) or backward
/// (suffix), into `buf` (row `i` at `(i - lo) * cols`). Values must be finite.
#[allow(clippy::too_many_arguments)]
fn scan<R: RowOps>(
    src: &[f32],
    base: usize,
    inner: usize,
    c0: usize,
    cols: usize,
    (lo, hi): (usize, usize),
    forward: bool,
    max: bool,
    buf: &mut Vec<f32>,
) {
    let need = (hi - lo + 1) * cols;
    if buf.len() < need {
        buf.resize(need, 0.0);
    }
    let mut prev: Option<usize> = None;
    for step in 0..=(hi - lo) {
        let i = if forward { lo + step } else { hi - step };
        let input = &src[base + i * inner + c0..base + i * inner + c0 + cols];
        let r = (i - lo) * cols;
        match prev {
            None => R::first(&mut buf[r..r + cols], input),
            Some(q) if q < r => {
                let (before, after) = buf.split_at_mut(r);
                R::next(&mut after[..cols], &before[q..q + cols], input, max);
            }
            Some(q) => {
                let (before, after) = buf.split_at_mut(q);
                R::next(&mut before[r..r + cols], &after[..cols], input, max);
            }
        }
        prev = Some(r);
    }
}

/// Whether rows `lo..=hi` of the column chunk hold a NaN or an infinity.
fn non_finite_rows(src: &[f32], base: usize, inner: usize, c0: usize, cols: usize, (lo, hi): (usize, usize)) -> bool {
    (lo..=hi).any(|i| src[base + i * inner + c0..base + i * inner + c0 + cols].iter().any(|v| !v.is_finite()))
}

/// One column chunk `c0..c0 + cols` of one task (output slices `t.j0..t.j1` of outer index
/// `t.outer`, whose region is `region`). `carried` says which (outer, block) prefix
/// `scratch.next` holds from the previous task; returns what it holds afterwards.
#[allow(clippy::too_many_arguments)]
fn run_chunk<R: RowOps>(
    src: &[f32],
    (inner, n, _outer): (usize, usize, usize),
    p: &SlabProjection,
    windows: &[Option<(usize, usize)>],
    non_finite: bool,
    t: Task,
    region: &mut [f32],
    c0: usize,
    cols: usize,
    carried: Option<(usize, usize)>,
    scratch: &mut Scratch,
) -> Option<(usize, usize)> {
    let Some(b) = t.block else {
        for j in t.j0..t.j1 {
            region[(j - t.j0) * inner + c0..(j - t.j0) * inner + c0 + cols].fill(0.0);
        }
        return None;
    };
    let k = p.k();
    let base = t.outer * n * inner;
    let reduce = p.get_reduce();
    let (b_lo, b_hi) = (b * k, ((b + 1) * k).min(n) - 1);
    let has_next = (b + 1) * k < n;
    let (n_lo, n_hi) = ((b + 1) * k, ((b + 2) * k).min(n).saturating_sub(1));
    let naive = |region: &mut [f32]| {
        for j in t.j0..t.j1 {
            let w = windows[j].expect("a task with a block has windows");
            for c in c0..c0 + cols {
                region[(j - t.j0) * inner + c] = reduce_column(src, base, inner, c, w, reduce);
            }
        }
    };
    match reduce {
        Reduce::Max | Reduce::Min => {
            let max = reduce == Reduce::Max;
            // Only a volume known to hold NaN or infinities pays for checking each chunk.
            let rows = (b_lo, if has_next { n_hi } else { b_hi });
            if non_finite && non_finite_rows(src, base, inner, c0, cols, rows) {
                naive(region);
                return None;
            }
            if !has_next && t.j1 - t.j0 == 1 && windows[t.j0] == Some((b_lo, b_hi)) {
                // One window over the whole block (a whole-axis projection): a running reduction
                // straight into the output row.
                let out = &mut region[c0..c0 + cols];
                R::first(out, &src[base + b_lo * inner + c0..base + b_lo * inner + c0 + cols]);
                for i in b_lo + 1..=b_hi {
                    R::accumulate(out, &src[base + i * inner + c0..base + i * inner + c0 + cols], max);
                }
                return None;
            }
            scan::<R>(src, base, inner, c0, cols, (b_lo, b_hi), false, max, &mut scratch.suffix);
            if carried == Some((t.outer, b)) {
                std::mem::swap(&mut scratch.prefix, &mut scratch.next);
            } else {
                scan::<R>(src, base, inner, c0, cols, (b_lo, b_hi), true, max, &mut scratch.prefix);
            }
            if has_next {
                scan::<R>(src, base, inner, c0, cols, (n_lo, n_hi), true, max, &mut scratch.next);
            }
            for j in t.j0..t.j1 {
                let (s, e) = windows[j].expect("a task with a block has windows");
                let out = &mut region[(j - t.j0) * inner + c0..(j - t.j0) * inner + c0 + cols];
                if e <= b_hi {
                    // Within block b: a prefix when the window starts the block, else a suffix
                    // (then it ends the block or the volume).
                    let row = if s == b_lo {
                        &scratch.prefix[(e - b_lo) * cols..]
                    } else {
                        &scratch.suffix[(s - b_lo) * cols..]
                    };
                    out.copy_from_slice(&row[..cols]);
                } else {
                    let su = &scratch.suffix[(s - b_lo) * cols..(s - b_lo + 1) * cols];
                    let pr = &scratch.next[(e - n_lo) * cols..(e - n_lo + 1) * cols];
                    // Both rows are canonical already; `next` leaves them unchanged but for the max.
                    R::next(out, su, pr, max);
                }
            }
            has_next.then_some((t.outer, b + 1))
        }
        Reduce::Mean => {
            if non_finite {
                naive(region);
                return None;
            }
            // Prefix sums over the rows the task's windows touch.
            let lo = windows[t.j0].map_or(0, |w| w.0);
            let hi = windows[t.j0..t.j1].iter().flatten().map(|w| w.1).max().unwrap_or(lo);
            let rows = hi - lo + 2;
            scratch.sums.clear();
            scratch.sums.resize(rows * cols, 0.0);
            for i in lo..=hi {
                let input = &src[base + i * inner + c0..base + i * inner + c0 + cols];
                let (before, after) = scratch.sums.split_at_mut((i - lo + 1) * cols);
                let prev = &before[(i - lo) * cols..];
                for ((s, &pv), &x) in after[..cols].iter_mut().zip(prev).zip(input) {
                    *s = pv + f64::from(canon(x));
                }
            }
            for j in t.j0..t.j1 {
                let (s, e) = windows[j].expect("a task with a block has windows");
                let count = (e - s + 1) as f64;
                let out = &mut region[(j - t.j0) * inner + c0..(j - t.j0) * inner + c0 + cols];
                let top = &scratch.sums[(e - lo + 1) * cols..(e - lo + 2) * cols];
                let bottom = &scratch.sums[(s - lo) * cols..(s - lo + 1) * cols];
                for ((o, &tv), &bv) in out.iter_mut().zip(top).zip(bottom) {
                    *o = ((tv - bv) / count) as f32;
                }
            }
            None
        }
    }
}
