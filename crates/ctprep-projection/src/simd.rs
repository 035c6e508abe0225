//! O(1) per voxel whatever the slab thickness, on `wide` `f32x8` rows.
//!
//! Max and min (van Herk / Gil-Werman): the axis is cut into blocks of k slices. A window of at
//! most k slices either ends its block (its value is a running maximum from the block's end, a
//! suffix: this covers windows truncated at the volume's end), starts it without reaching its
//! end (a running maximum from the start, a prefix: windows truncated at the volume's start), or
//! spans two blocks (the max of the first block's suffix and the second's prefix): three
//! operations per voxel for any k.
//!
//! Mean: prefix sums in `f64` per column, one subtraction per output voxel.
//!
//! Work is split into tasks that own a contiguous part of the output: the output slices whose
//! windows start in the same block b (per outer index). A task walks the columns in chunks of
//! [`cols_for`] columns; for each chunk it computes block b's suffix rows backward, then runs
//! forward through block b + 1 keeping one prefix row and writing every spanning window as soon
//! as its last slice is read. Block b + 1's rows are read from memory once, by the forward pass,
//! and again from cache as the next task's suffix. There is no separate scan for NaN: every row
//! operation also reports whether it read a NaN or an infinity, and a chunk that did is redone
//! with the naive loop, so their semantics are the oracle's.

#![allow(clippy::eq_op)] // `v - v` is the finiteness test: +0.0 for finite values, NaN otherwise.

use std::ops::Range;

use wide::f32x8;

use crate::scalar::{canon, reduce_column};
use crate::{Reduce, SlabProjection};

/// Scratch budget per task: the k suffix rows of a block, the k input rows of the next block
/// (read again as the next task's suffix) and one prefix row, for one column chunk. 1 MiB, the
/// L2 size, by measurement: at k = 31 a 256 KiB budget (4 KiB rows) took 1.3x the time of 1 MiB
/// (16 KiB rows), long rows keeping the prefetchers streaming; k = 5 did not care.
pub const SCRATCH_BYTES: usize = 1 << 20;

/// Columns per chunk for slabs of `k` slices: as wide as the scratch budget allows (long rows
/// keep the hardware prefetcher streaming), between 512 and 65,536.
pub fn cols_for(k: usize) -> usize {
    (SCRATCH_BYTES / ((2 * k.max(1) + 1) * 4)).clamp(512, 65536) / 8 * 8
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

/// Projects `src` into `dst` on one thread with `wide` vectors; whether a window held a NaN or
/// an infinity (those chunks took the naive loop).
pub fn project(
    src: &[f32],
    dims: (usize, usize, usize),
    p: &SlabProjection,
    windows: &[Option<(usize, usize)>],
    dst: &mut [f32],
) -> bool {
    project_with::<Wide>(src, dims, p, windows, dst, &mut Scratch::default())
}

/// Projects `src` into `dst` on one thread with the row operations `R` and the scratch rows
/// `scratch` (kept by a [`crate::Projector`] between calls).
pub(crate) fn project_with<R: RowOps>(
    src: &[f32],
    dims: (usize, usize, usize),
    p: &SlabProjection,
    windows: &[Option<(usize, usize)>],
    dst: &mut [f32],
    scratch: &mut Scratch,
) -> bool {
    let all = tasks(p, windows, dims.2);
    let stream = crate::stream::worth_it(dst);
    run_tasks::<R>(src, dims, p, windows, &all, 0..dims.0, Rows::Packed(dst), stream, scratch)
}

/// Runs consecutive tasks on the columns `columns`, column chunk by column chunk, so that the
/// rows of block b + 1 read by one task's forward pass are still in cache when the next task
/// reads them backward for its suffix: every input row comes from memory once. `rows` holds
/// the tasks' output rows cut to `columns`, one after another (all of each row when `columns` is
/// `0..inner`). Returns whether a window held a NaN or an infinity.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_tasks<R: RowOps>(
    src: &[f32],
    dims: (usize, usize, usize),
    p: &SlabProjection,
    windows: &[Option<(usize, usize)>],
    tasks: &[Task],
    columns: Range<usize>,
    mut rows: Rows<'_, '_>,
    stream: bool,
    scratch: &mut Scratch,
) -> bool {
    // A single window per outer index starts the first block (every alignment and edge rule
    // anchors output 0 at slice 0), so it needs at most one scratch row: the widest chunks.
    let pitch = columns.len();
    let width = if windows.len() == 1 { 1 << 16 } else { cols_for(p.k()) };
    let stream = stream && R::STREAMS;
    let mut non_finite = false;
    let mut c0 = columns.start;
    while c0 < columns.end {
        let cols = (columns.end - c0).min(width);
        let mut offset = 0;
        for &t in tasks {
            let len = t.j1 - t.j0;
            let chunk = Chunk { src, dims, windows, t, c0, cols, origin: columns.start, pitch, stream };
            non_finite |= chunk.run::<R>(p, &mut rows.part(offset, len, pitch), scratch);
            offset += len;
        }
        c0 += cols;
    }
    if stream {
        crate::stream::fence();
    }
    non_finite
}

/// Output rows of a run of tasks, each cut to the run's columns, one after another.
pub(crate) enum Rows<'a, 'b> {
    /// Packed in one slice, row after row (all columns, or the rows of one column range).
    Packed(&'a mut [f32]),
    /// One slice per row: a column range of rows that lie apart in the output, so that jobs
    /// owning different column ranges of the same rows hold disjoint borrows.
    Cut(&'a mut [&'b mut [f32]]),
}

impl<'b> Rows<'_, 'b> {
    /// Rows `first..first + len`, with `pitch` values per row.
    fn part(&mut self, first: usize, len: usize, pitch: usize) -> Rows<'_, 'b> {
        match self {
            Rows::Packed(region) => Rows::Packed(&mut region[first * pitch..(first + len) * pitch]),
            Rows::Cut(rows) => Rows::Cut(&mut rows[first..first + len]),
        }
    }

    /// Row `i`, with `pitch` values per row.
    fn row(&mut self, i: usize, pitch: usize) -> &mut [f32] {
        match self {
            Rows::Packed(region) => &mut region[i * pitch..(i + 1) * pitch],
            Rows::Cut(rows) => rows[i],
        }
    }
}

/// Reusable per-task buffers. Every use writes the rows it reads first, so what an earlier call
/// left in them never reaches an output.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    suffix: Vec<f32>,
    prefix: Vec<f32>,
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

/// `v - v`: `+0.0` (all bits clear) for a finite value, NaN for a NaN or an infinity; OR-ed
/// over a row, any set bit says the row is not all finite.
#[inline(always)]
pub(crate) fn non_finite_bits(v: f32) -> u32 {
    (v - v).to_bits()
}

/// The row operations of the O(1) algorithm. Those that read input rows return whether the
/// row held a NaN or an infinity; their results are only used when it did not.
pub(crate) trait RowOps {
    /// Whether `advance` and `put` honour `stream`.
    const STREAMS: bool;
    /// `dst = canon(input)`.
    fn first(dst: &mut [f32], input: &[f32]) -> bool;
    /// `dst = pick(prev, canon(input))`.
    fn next(dst: &mut [f32], prev: &[f32], input: &[f32], max: bool) -> bool;
    /// `dst = pick(dst, canon(input))`, in place.
    fn accumulate(dst: &mut [f32], input: &[f32], max: bool) -> bool;
    /// `acc = pick(acc, canon(input))` in place, then `out = pick(suffix, acc)`: one step of the
    /// forward pass that completes one window. `stream`: `out` may be written with streaming
    /// stores ([`crate::stream`]).
    fn advance(acc: &mut [f32], input: &[f32], suffix: &[f32], out: &mut [f32], max: bool, stream: bool) -> bool;
    /// `out = row`, streamed if `stream` allows.
    fn put(out: &mut [f32], row: &[f32], stream: bool);
    /// `dst = pick(a, b)`, both canonical and finite.
    fn combine(dst: &mut [f32], a: &[f32], b: &[f32], max: bool);
}

#[inline(always)]
fn wide_pick(a: f32x8, v: f32x8, max: bool) -> f32x8 {
    if max { a.fast_max(v) } else { a.fast_min(v) }
}

/// Whether any lane of an OR of `v - v` values has a bit set.
#[inline(always)]
fn wide_flag(bits: f32x8) -> bool {
    bits.to_array().iter().any(|b| b.to_bits() != 0)
}

/// [`RowOps`] on `wide` `f32x8` vectors (width fixed at compile time).
pub(crate) struct Wide;

impl RowOps for Wide {
    const STREAMS: bool = false;

    fn first(dst: &mut [f32], input: &[f32]) -> bool {
        let chunks = dst.len() / 8 * 8;
        let mut bits = f32x8::ZERO;
        let mut tail = 0;
        for c in (0..chunks).step_by(8) {
            // + 0.0 reads -0.0 as +0.0.
            let v = load(&input[c..]) + f32x8::ZERO;
            bits |= v - v;
            store(&mut dst[c..], v);
        }
        for c in chunks..dst.len() {
            dst[c] = canon(input[c]);
            tail |= non_finite_bits(input[c]);
        }
        wide_flag(bits) || tail != 0
    }

    fn next(dst: &mut [f32], prev: &[f32], input: &[f32], max: bool) -> bool {
        let chunks = dst.len() / 8 * 8;
        let mut bits = f32x8::ZERO;
        let mut tail = 0;
        for c in (0..chunks).step_by(8) {
            let v = load(&input[c..]) + f32x8::ZERO;
            bits |= v - v;
            store(&mut dst[c..], wide_pick(load(&prev[c..]), v, max));
        }
        for c in chunks..dst.len() {
            dst[c] = pick(prev[c], canon(input[c]), max);
            tail |= non_finite_bits(input[c]);
        }
        wide_flag(bits) || tail != 0
    }

    fn accumulate(dst: &mut [f32], input: &[f32], max: bool) -> bool {
        let chunks = dst.len() / 8 * 8;
        let mut bits = f32x8::ZERO;
        let mut tail = 0;
        for c in (0..chunks).step_by(8) {
            let v = load(&input[c..]) + f32x8::ZERO;
            bits |= v - v;
            let a = wide_pick(load(&dst[c..]), v, max);
            store(&mut dst[c..], a);
        }
        for c in chunks..dst.len() {
            dst[c] = pick(dst[c], canon(input[c]), max);
            tail |= non_finite_bits(input[c]);
        }
        wide_flag(bits) || tail != 0
    }

    /// Ignores `stream`: `wide` has no streaming store.
    fn advance(acc: &mut [f32], input: &[f32], suffix: &[f32], out: &mut [f32], max: bool, _: bool) -> bool {
        let chunks = acc.len() / 8 * 8;
        let mut bits = f32x8::ZERO;
        let mut tail = 0;
        for c in (0..chunks).step_by(8) {
            let v = load(&input[c..]) + f32x8::ZERO;
            bits |= v - v;
            let a = wide_pick(load(&acc[c..]), v, max);
            store(&mut acc[c..], a);
            store(&mut out[c..], wide_pick(load(&suffix[c..]), a, max));
        }
        for c in chunks..acc.len() {
            acc[c] = pick(acc[c], canon(input[c]), max);
            out[c] = pick(suffix[c], acc[c], max);
            tail |= non_finite_bits(input[c]);
        }
        wide_flag(bits) || tail != 0
    }

    fn put(out: &mut [f32], row: &[f32], _: bool) {
        out.copy_from_slice(row);
    }

    fn combine(dst: &mut [f32], a: &[f32], b: &[f32], max: bool) {
        let chunks = dst.len() / 8 * 8;
        for c in (0..chunks).step_by(8) {
            store(&mut dst[c..], wide_pick(load(&a[c..]), load(&b[c..]), max));
        }
        for c in chunks..dst.len() {
            dst[c] = pick(a[c], b[c], max);
        }
    }
}

/// One column chunk `c0..c0 + cols` of one task (output slices `t.j0..t.j1` of outer index
/// `t.outer`).
struct Chunk<'a> {
    src: &'a [f32],
    dims: (usize, usize, usize),
    windows: &'a [Option<(usize, usize)>],
    t: Task,
    c0: usize,
    cols: usize,
    /// The first column and the length of the task's output rows.
    origin: usize,
    pitch: usize,
    /// Whether output rows may be streamed (the whole output is large).
    stream: bool,
}

impl Chunk<'_> {
    /// Input row `i` (along the axis) of the chunk.
    fn row(&self, i: usize) -> &[f32] {
        let (inner, n, _) = self.dims;
        let at = (self.t.outer * n + i) * inner + self.c0;
        &self.src[at..at + self.cols]
    }

    /// The window of output slice `j`.
    fn window(&self, j: usize) -> (usize, usize) {
        self.windows[j].expect("a task with a block has windows")
    }

    /// The chunk's part of output row `j`, in the task's `rows`.
    fn out<'r>(&self, rows: &'r mut Rows<'_, '_>, j: usize) -> &'r mut [f32] {
        &mut rows.row(j - self.t.j0, self.pitch)[self.c0 - self.origin..][..self.cols]
    }

    /// Every window of the task by the naive loop (chunks that read a NaN or an infinity).
    fn naive(&self, rows: &mut Rows<'_, '_>, reduce: Reduce) {
        let (inner, n, _) = self.dims;
        let base = self.t.outer * n * inner;
        for j in self.t.j0..self.t.j1 {
            let w = self.window(j);
            for (o, c) in self.out(rows, j).iter_mut().zip(self.c0..) {
                *o = reduce_column(self.src, base, inner, c, w, reduce);
            }
        }
    }

    /// Projects the chunk into the task's output `rows`; whether a window held a NaN or an infinity.
    fn run<R: RowOps>(&self, p: &SlabProjection, rows: &mut Rows<'_, '_>, scratch: &mut Scratch) -> bool {
        let Some(b) = self.t.block else {
            for j in self.t.j0..self.t.j1 {
                self.out(rows, j).fill(0.0);
            }
            return false;
        };
        let reduce = p.get_reduce();
        let non_finite = match reduce {
            Reduce::Max | Reduce::Min => self.extreme::<R>(p.k(), b, reduce == Reduce::Max, rows, scratch),
            Reduce::Mean => self.mean(rows, scratch),
        };
        if non_finite {
            self.naive(rows, reduce);
        }
        non_finite
    }

    /// Max or min of every window of the task; whether an input row read held a NaN or an
    /// infinity (the caller then redoes the chunk). Reads exactly the rows the windows cover.
    fn extreme<R: RowOps>(
        &self,
        k: usize,
        b: usize,
        max: bool,
        rows: &mut Rows<'_, '_>,
        scratch: &mut Scratch,
    ) -> bool {
        let (_, n, _) = self.dims;
        let cols = self.cols;
        let t = self.t;
        let (b_lo, b_hi) = (b * k, ((b + 1) * k).min(n) - 1);
        let n_lo = b_hi + 1;
        let mut bad = false;
        let js = t.j0..t.j1;

        if js.len() == 1 && self.window(t.j0) == (b_lo, b_hi) {
            // One window over the whole block (a whole-axis projection): a running reduction
            // straight into the output row.
            let out = self.out(rows, t.j0);
            bad |= R::first(out, self.row(b_lo));
            for i in b_lo + 1..=b_hi {
                bad |= R::accumulate(out, self.row(i), max);
            }
            return bad;
        }

        // Suffix rows b_hi down to the earliest start of a window reaching the block's end.
        let suffix_lo = js.clone().map(|j| self.window(j)).filter(|&(_, e)| e >= b_hi).map(|(s, _)| s).min();
        if let Some(lo) = suffix_lo {
            let need = (b_hi - lo + 1) * cols;
            if scratch.suffix.len() < need {
                scratch.suffix.resize(need, 0.0);
            }
            let suffix = &mut scratch.suffix[..need];
            let last = (b_hi - lo) * cols;
            bad |= R::first(&mut suffix[last..], self.row(b_hi));
            for i in (lo..b_hi).rev() {
                let (here, above) = suffix.split_at_mut((i + 1 - lo) * cols);
                bad |= R::next(&mut here[(i - lo) * cols..], &above[..cols], self.row(i), max);
            }
            for j in js.clone() {
                if let (s, e) = self.window(j)
                    && e == b_hi
                {
                    R::put(self.out(rows, j), &suffix[(s - lo) * cols..(s - lo + 1) * cols], self.stream);
                }
            }
        }
        let suffix_lo = suffix_lo.unwrap_or(b_lo);
        if scratch.prefix.len() < cols {
            scratch.prefix.resize(cols, 0.0);
        }

        // Windows that start the block and end before its end (truncated at the volume's start):
        // a running prefix from the block's start.
        let short = |j: usize| matches!(self.window(j), (s, e) if s == b_lo && e < b_hi);
        if let Some(top) = js.clone().filter(|&j| short(j)).map(|j| self.window(j).1).max() {
            let acc = &mut scratch.prefix[..cols];
            for i in b_lo..=top {
                bad |= if i == b_lo { R::first(acc, self.row(i)) } else { R::accumulate(acc, self.row(i), max) };
                for j in js.clone().filter(|&j| short(j) && self.window(j).1 == i) {
                    R::put(self.out(rows, j), acc, self.stream);
                }
            }
        }

        // Windows spanning blocks b and b + 1: forward through block b + 1, each window written
        // when its last row has been read.
        if let Some(top) = js.clone().map(|j| self.window(j).1).filter(|&e| e > b_hi).max() {
            let acc = &mut scratch.prefix[..cols];
            let suffix = &scratch.suffix;
            let srow = |s: usize| &suffix[(s - suffix_lo) * cols..(s - suffix_lo + 1) * cols];
            for i in n_lo..=top {
                let mut ending = js.clone().filter(|&j| self.window(j).1 == i);
                match (ending.next(), ending.next()) {
                    (Some(j), None) if i > n_lo => {
                        let s = self.window(j).0;
                        let out = self.out(rows, j);
                        bad |= R::advance(acc, self.row(i), srow(s), out, max, self.stream);
                    }
                    _ => {
                        bad |=
                            if i == n_lo { R::first(acc, self.row(i)) } else { R::accumulate(acc, self.row(i), max) };
                        for j in js.clone().filter(|&j| self.window(j).1 == i) {
                            let s = self.window(j).0;
                            R::combine(self.out(rows, j), srow(s), acc, max);
                        }
                    }
                }
            }
        }
        bad
    }

    /// Mean of every window of the task by prefix sums over the rows the windows touch; whether
    /// one of them held a NaN or an infinity.
    fn mean(&self, rows: &mut Rows<'_, '_>, scratch: &mut Scratch) -> bool {
        let cols = self.cols;
        let js = self.t.j0..self.t.j1;
        let lo = js.clone().map(|j| self.window(j).0).min().expect("a task has windows");
        let hi = js.clone().map(|j| self.window(j).1).max().expect("a task has windows");
        let sum_rows = hi - lo + 2;
        scratch.sums.clear();
        scratch.sums.resize(sum_rows * cols, 0.0);
        let mut bits = 0u32;
        for i in lo..=hi {
            let input = self.row(i);
            let (before, after) = scratch.sums.split_at_mut((i - lo + 1) * cols);
            let prev = &before[(i - lo) * cols..];
            for ((s, &pv), &x) in after[..cols].iter_mut().zip(prev).zip(input) {
                bits |= non_finite_bits(x);
                *s = pv + f64::from(canon(x));
            }
        }
        if bits != 0 {
            return true;
        }
        for j in js {
            let (s, e) = self.window(j);
            let count = (e - s + 1) as f64;
            let top = &scratch.sums[(e - lo + 1) * cols..(e - lo + 2) * cols];
            let bottom = &scratch.sums[(s - lo) * cols..(s - lo + 1) * cols];
            for ((o, &tv), &bv) in self.out(rows, j).iter_mut().zip(top).zip(bottom) {
                *o = ((tv - bv) / count) as f32;
            }
        }
        false
    }
}
