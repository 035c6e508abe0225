//! The fast B-spline kernels (orders 0, 1, 3 per axis, every mode): the oracle's definitions
//! ([`crate::spline`]) computed in `f32` with row operations.
//!
//! Separable path (diagonal maps), input plane by input plane (along z), in parallel:
//! the plane's real values padded as the modes pad, prefiltered along x (each row in `f64`)
//! when x is cubic, interpolated along x (a gather of `order + 1` taps per output), prefiltered
//! along y (rows as the elements of the recursion) when y is cubic, interpolated along y
//! (weighted sums of rows). The planes (`mx * my` values each, one per input slice) are then
//! prefiltered along z when z is cubic (planes as the elements, each operation split over
//! the threads) and summed into the output planes. The prefilter's start values drop weights
//! below 1e-12 (the pole's 21st power): far below `f32` resolution.
//!
//! General path (other maps): the whole padded volume prefiltered along each cubic axis the
//! same way, then per output voxel the tensor-product sum over its taps (from the oracle's
//! positions), in `f32`.

use std::ops::Range;

use rayon::prelude::*;
use wide::f32x8;

use crate::dispatch::Plain;
use crate::simd::Wide;
use crate::spline::{Axis, FILL_TAP, Mode, Sampling, Starts, clip_output, gain, prefilter_line_with};
use crate::{Plan, Voxel};

/// Weights of the prefilter's start values below this are dropped.
const START_CUT: f64 = 1e-12;

/// Values per task when one row operation is split over threads.
const CHUNK: usize = 1 << 14;

/// The row operations of the B-spline kernels. Every implementation computes each value in
/// the same order (`konst + w0 r0`, then `+ wk rk` for each further row), so all are
/// bit-identical.
pub trait SplineOps {
    /// `dst[j] = konst[j] + Σk w[j K + k] row[idx[j K + k]]` (`K` taps per output).
    fn gather(dst: &mut [f32], row: &[f32], table: &Table);
    /// `dst[i] = konst + Σk w[k] rows[k][i]` (1 to 4 rows).
    fn combine(dst: &mut [f32], rows: &[&[f32]], w: &[f32], konst: f32);
    /// `dst[i] += a * src[i]`.
    fn axpy(dst: &mut [f32], src: &[f32], a: f32);
    /// `dst[i] = a * (next[i] - dst[i])`.
    fn back(dst: &mut [f32], next: &[f32], a: f32);
}

/// The taps of every output index along one axis of a diagonal map.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Taps per output.
    pub k: usize,
    /// Coefficient indices, `k` per output (a fill tap reads index 0 with weight 0).
    pub idx: Vec<usize>,
    /// Weights, `k` per output.
    pub w: Vec<f32>,
    /// The fill taps' share: `fill * Σ` of their weights, per output.
    pub konst: Vec<f32>,
    /// The outputs inside (SimpleITK's fill rule: the others are the fill value).
    pub inside: Vec<bool>,
    /// The outputs all of whose taps are fill taps: `konst` alone (written over the sum, which
    /// reads an arbitrary coefficient with weight 0).
    pub all_fill: Vec<bool>,
}

impl Table {
    /// Along input axis `a` of a diagonal map.
    pub(crate) fn new(plan: &Plan, a: usize, axis: &Axis, fill: f32) -> Table {
        let m = plan.grid.shape[a];
        let k = axis.taps();
        let mut t = Table { k, idx: Vec::with_capacity(m * k), w: Vec::with_capacity(m * k), ..Table::default() };
        let (mut idx, mut w) = ([0usize; 4], [0f64; 4]);
        for j in 0..m {
            let mut at = [0; 3];
            at[a] = j;
            if !axis.taps_at(plan.map.apply(at)[a], &mut idx, &mut w) {
                // The whole sample is the fill value (written over it at the end).
                t.idx.extend(std::iter::repeat_n(0, k));
                t.w.extend(std::iter::repeat_n(0.0, k));
                t.konst.push(fill);
                t.inside.push(false);
                t.all_fill.push(true);
                continue;
            }
            // A fill tap reads one of the same output's own coefficients with weight 0, so a
            // NaN elsewhere in the line cannot reach it through 0 * NaN.
            let real = (0..k).find(|&l| idx[l] != FILL_TAP);
            let mut konst = 0.0;
            for l in 0..k {
                if idx[l] == FILL_TAP {
                    konst += w[l];
                    t.idx.push(real.map_or(0, |r| idx[r]));
                    t.w.push(0.0);
                } else {
                    t.idx.push(idx[l]);
                    t.w.push(w[l] as f32);
                }
            }
            t.konst.push((konst * fill as f64) as f32);
            t.inside.push(true);
            t.all_fill.push(real.is_none());
        }
        t
    }

    /// The output indices whose sample is inside, as one range (positions are monotonic).
    fn inside_range(&self) -> Range<usize> {
        let first = self.inside.iter().position(|&b| b).unwrap_or(self.inside.len());
        let end = self.inside.iter().rposition(|&b| b).map_or(first, |e| e + 1);
        first..end
    }
}

#[inline(always)]
fn load8(s: &[f32]) -> f32x8 {
    let s: &[f32; 8] = s.try_into().unwrap_or_else(|_| unreachable!("8 values"));
    f32x8::from(*s)
}

impl SplineOps for Wide {
    fn gather(dst: &mut [f32], row: &[f32], t: &Table) {
        gather_plain(dst, row, t);
    }

    fn combine(dst: &mut [f32], rows: &[&[f32]], w: &[f32], konst: f32) {
        let n = dst.len();
        let body = n / 8 * 8;
        let k8 = f32x8::splat(konst);
        let w8: Vec<f32x8> = w.iter().map(|&w| f32x8::splat(w)).collect();
        for (c, d) in dst[..body].chunks_exact_mut(8).enumerate() {
            let at = c * 8;
            let mut acc = k8 + w8[0] * load8(&rows[0][at..at + 8]);
            for (r, wr) in rows[1..].iter().zip(&w8[1..]) {
                acc += *wr * load8(&r[at..at + 8]);
            }
            d.copy_from_slice(&acc.to_array());
        }
        combine_tail(&mut dst[body..], rows, w, konst, body);
    }

    fn axpy(dst: &mut [f32], src: &[f32], a: f32) {
        let body = dst.len() / 8 * 8;
        let a8 = f32x8::splat(a);
        for (d, s) in dst[..body].chunks_exact_mut(8).zip(src[..body].chunks_exact(8)) {
            d.copy_from_slice(&(load8(d) + a8 * load8(s)).to_array());
        }
        for (d, s) in dst[body..].iter_mut().zip(&src[body..]) {
            *d += a * s;
        }
    }

    fn back(dst: &mut [f32], next: &[f32], a: f32) {
        let body = dst.len() / 8 * 8;
        let a8 = f32x8::splat(a);
        for (d, s) in dst[..body].chunks_exact_mut(8).zip(next[..body].chunks_exact(8)) {
            d.copy_from_slice(&(a8 * (load8(s) - load8(d))).to_array());
        }
        for (d, s) in dst[body..].iter_mut().zip(&next[body..]) {
            *d = a * (s - *d);
        }
    }
}

/// `combine` for the values from `from` on, one at a time.
fn combine_tail(dst: &mut [f32], rows: &[&[f32]], w: &[f32], konst: f32, from: usize) {
    for (i, d) in dst.iter_mut().enumerate() {
        let mut acc = konst + w[0] * rows[0][from + i];
        for (r, wr) in rows[1..].iter().zip(&w[1..]) {
            acc += wr * r[from + i];
        }
        *d = acc;
    }
}

fn gather_plain(dst: &mut [f32], row: &[f32], t: &Table) {
    let k = t.k;
    for (j, d) in dst.iter_mut().enumerate() {
        let (idx, w) = (&t.idx[j * k..j * k + k], &t.w[j * k..j * k + k]);
        let mut acc = t.konst[j] + w[0] * row[idx[0]];
        for l in 1..k {
            acc += w[l] * row[idx[l]];
        }
        *d = acc;
    }
}

impl SplineOps for Plain {
    fn gather(dst: &mut [f32], row: &[f32], t: &Table) {
        match t.k {
            1 => gather_n::<1>(dst, row, &t.idx, &t.w, &t.konst),
            2 => gather_n::<2>(dst, row, &t.idx, &t.w, &t.konst),
            _ => gather_n::<4>(dst, row, &t.idx, &t.w, &t.konst),
        }
    }

    fn combine(dst: &mut [f32], rows: &[&[f32]], w: &[f32], konst: f32) {
        match rows.len() {
            1 => combine_n::<1>(dst, [rows[0]], [w[0]], konst),
            2 => combine_n::<2>(dst, [rows[0], rows[1]], [w[0], w[1]], konst),
            4 => combine_n::<4>(dst, [rows[0], rows[1], rows[2], rows[3]], [w[0], w[1], w[2], w[3]], konst),
            _ => combine_tail(dst, rows, w, konst, 0),
        }
    }

    fn axpy(dst: &mut [f32], src: &[f32], a: f32) {
        axpy_rows(dst, src, a);
    }

    fn back(dst: &mut [f32], next: &[f32], a: f32) {
        back_rows(dst, next, a);
    }
}

ctprep_core::dispatched! {
    fn gather_n<const K: usize>(dst: &mut [f32], row: &[f32], idx: &[usize], w: &[f32], konst: &[f32]) {
        for (((d, i), w), k) in dst.iter_mut().zip(idx.chunks_exact(K)).zip(w.chunks_exact(K)).zip(konst) {
            let mut acc = k + w[0] * row[i[0]];
            for l in 1..K {
                acc += w[l] * row[i[l]];
            }
            *d = acc;
        }
    }

    fn combine_n<const K: usize>(dst: &mut [f32], rows: [&[f32]; K], w: [f32; K], konst: f32) {
        let n = dst.len();
        let rows = rows.map(|r| &r[..n]);
        for i in 0..n {
            let mut acc = konst + w[0] * rows[0][i];
            for l in 1..K {
                acc += w[l] * rows[l][i];
            }
            dst[i] = acc;
        }
    }

    fn axpy_rows(dst: &mut [f32], src: &[f32], a: f32) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d += a * s;
        }
    }

    fn back_rows(dst: &mut [f32], next: &[f32], a: f32) {
        for (d, s) in dst.iter_mut().zip(next) {
            *d = a * (s - *d);
        }
    }
}

/// `dst = Σ (j, w) in terms: w * elem(j)` over elements of `len` values laid end to end in
/// `buf`, into `dst` (a scratch element).
fn start_value<O: SplineOps>(dst: &mut [f32], buf: &[f32], len: usize, terms: &[(usize, f64)]) {
    let elem = |j: usize| &buf[j * len..(j + 1) * len];
    dst.fill(0.0);
    for &(j, w) in terms {
        O::axpy(dst, elem(j), w as f32);
    }
}

/// The cubic prefilter along the elements of `buf` (`n` elements of `len` values end to end:
/// the rows of a plane, or the planes of a volume), each operation on whole elements; split
/// over the threads in pieces of [`CHUNK`] values when `par`.
fn prefilter_elements<O: SplineOps>(buf: &mut [f32], len: usize, mode: Mode, scratch: &mut Vec<f32>, par: bool) {
    let n = buf.len() / len.max(1);
    if n < 2 || len == 0 {
        return;
    }
    let starts = Starts::new(n, mode, START_CUT);
    let z = crate::spline::POLE as f32;
    let g = gain() as f32;
    let each = |f: &(dyn Fn(&mut [f32], &[f32]) + Sync), dst: &mut [f32], src: &[f32]| {
        if par && len > CHUNK {
            dst.par_chunks_mut(CHUNK).zip(src.par_chunks(CHUNK)).for_each(|(d, s)| f(d, s));
        } else {
            f(dst, src);
        }
    };
    // The gain, applied as scipy does before the passes.
    if par && buf.len() > CHUNK {
        buf.par_chunks_mut(CHUNK).for_each(|c| c.iter_mut().for_each(|v| *v *= g));
    } else {
        buf.iter_mut().for_each(|v| *v *= g);
    }
    scratch.resize(len, 0.0);
    start_value::<O>(scratch, buf, len, &starts.causal);
    buf[..len].copy_from_slice(scratch);
    for i in 1..n {
        let (prev, cur) = buf.split_at_mut(i * len);
        each(&|d, s| O::axpy(d, s, z), &mut cur[..len], &prev[(i - 1) * len..]);
    }
    start_value::<O>(scratch, buf, len, &starts.anticausal);
    buf[(n - 1) * len..].copy_from_slice(scratch);
    for i in (0..n - 1).rev() {
        let (cur, next) = buf.split_at_mut((i + 1) * len);
        each(&|d, s| O::back(d, s, z), &mut cur[i * len..], &next[..len]);
    }
}

/// One input plane (along z) as padded real values (`px * py`, x-fastest): the samples scaled,
/// the padding of each axis filled as its mode pads (the edge value, or the fill value).
fn load_plane<T: Voxel>(plane: &[T], axes: &[Axis; 3], opts: &Sampling, out: &mut Vec<f32>) {
    let [px, py, _] = axes.map(|a| a.len());
    let ([nx, ny, _], [ax, ay, _]) = (axes.map(|a| a.n), axes.map(|a| a.pad));
    let (slope, inter) = opts.get_scaling();
    let fill = opts.get_fill().unwrap_or(0.0);
    out.resize(px * py, 0.0);
    let constant = axes.iter().any(|a| a.mode == Mode::Constant);
    for y in 0..ny {
        let row = &mut out[(y + ay) * px..(y + ay + 1) * px];
        for (o, v) in row[ax..ax + nx].iter_mut().zip(&plane[y * nx..(y + 1) * nx]) {
            *o = (slope * v.to_f64() + inter) as f32;
        }
        let (first, last) = if constant { (fill, fill) } else { (row[ax], row[ax + nx - 1]) };
        row[..ax].fill(first);
        row[ax + nx..].fill(last);
    }
    for y in (0..ay).chain(ay + ny..py) {
        if constant {
            out[y * px..(y + 1) * px].fill(fill);
        } else {
            let from = y.clamp(ay, ay + ny - 1);
            out.copy_within(from * px..(from + 1) * px, y * px);
        }
    }
}

/// The cubic prefilter along x of every row of `buf` (rows of `px` values), each row in `f64`.
fn prefilter_rows_x(buf: &mut [f32], axis: &Axis, line: &mut Vec<f64>) {
    let px = axis.len();
    if axis.order != 3 || px < 2 {
        return;
    }
    let starts = Starts::new(px, axis.mode, 0.0);
    for row in buf.chunks_exact_mut(px) {
        line.clear();
        line.extend(row.iter().map(|&v| v as f64));
        prefilter_line_with(line, &starts);
        for (r, l) in row.iter_mut().zip(line.iter()) {
            *r = *l as f32;
        }
    }
}

/// Working memory of one task of the plane stage.
#[derive(Debug, Default)]
struct Scratch {
    padded: Vec<f32>,
    along_x: Vec<f32>,
    line: Vec<f64>,
    start: Vec<f32>,
}

/// Input slices (along z) past the taps of a slab that a cubic z axis's prefilter reads: the
/// pole's 13th power is 3.7e-8, so a start value cut there changes the slab's coefficients by
/// less than `f32` resolves (tested against the whole volume).
pub const HALO: usize = 13;

/// Output slices per task when the whole output is resampled: large, so the halo's prefilter
/// work is small beside the slab's own.
const WHOLE_SLAB: usize = 128;

/// The separable kernel's per-call state.
pub(crate) struct Separable<'a> {
    plan: &'a Plan,
    opts: Sampling,
    axes: [Axis; 3],
    tables: [Table; 3],
}

impl<'a> Separable<'a> {
    pub(crate) fn new(plan: &'a Plan, opts: &Sampling) -> Separable<'a> {
        let axes = Axis::of(plan, opts);
        let fill = opts.get_fill().unwrap_or(0.0);
        let tables = [0, 1, 2].map(|a| Table::new(plan, a, &axes[a], fill));
        Separable { plan, opts: *opts, axes, tables }
    }

    /// The padded z coefficients output slices `zs` read (none when all of them are fill).
    fn z_taps(&self, zs: Range<usize>) -> Range<usize> {
        let t = &self.tables[2];
        let (mut lo, mut hi) = (usize::MAX, 0);
        for jz in zs.filter(|&jz| t.inside[jz] && !t.all_fill[jz]) {
            for l in 0..t.k {
                lo = lo.min(t.idx[jz * t.k + l]);
                hi = hi.max(t.idx[jz * t.k + l] + 1);
            }
        }
        if lo >= hi { 0..0 } else { lo..hi }
    }

    /// The padded z coefficients a slab computes: its taps and, along a cubic z, the halo
    /// (the whole axis when it wraps: its start values read both ends).
    fn z_window(&self, zs: Range<usize>) -> Range<usize> {
        let az = &self.axes[2];
        let t = self.z_taps(zs);
        if t.is_empty() || az.order != 3 {
            return t;
        }
        if az.mode == Mode::Wrap {
            return 0..az.len();
        }
        t.start.saturating_sub(HALO)..(t.end + HALO).min(az.len())
    }

    /// The input slices that padded z coefficients `win` are made of.
    fn input_slices(&self, win: Range<usize>) -> Range<usize> {
        let az = &self.axes[2];
        if win.is_empty() {
            return 0..0;
        }
        let (pad, nz) = (az.pad as i64, az.n as i64);
        let (lo, hi) = (win.start as i64 - pad, win.end as i64 - pad);
        if az.mode == Mode::Constant {
            // Padding is the fill value: only the real slices are read.
            let (lo, hi) = (lo.clamp(0, nz), hi.clamp(0, nz));
            return lo as usize..hi.max(lo) as usize;
        }
        // Edge padding repeats the edge slice.
        let lo = lo.clamp(0, nz - 1);
        lo as usize..hi.clamp(lo + 1, nz) as usize
    }

    /// The input slices output slices `zs` read.
    pub(crate) fn needs(&self, zs: Range<usize>) -> Range<usize> {
        self.input_slices(self.z_window(zs))
    }

    /// One plane of padded z coefficient `p`: real values of the input slice it stands for
    /// (`src` holds slices from `first` on), or the fill value.
    fn z_plane<T: Voxel>(&self, src: &[T], first: usize, p: usize, out: &mut [f32]) {
        let az = &self.axes[2];
        let plane = self.plan.input_shape[0] * self.plan.input_shape[1];
        let k = p as i64 - az.pad as i64;
        if az.mode == Mode::Constant && !(0..az.n as i64).contains(&k) {
            out.fill(self.opts.get_fill().unwrap_or(0.0));
            return;
        }
        let k = k.clamp(0, az.n as i64 - 1) as usize;
        let (slope, inter) = self.opts.get_scaling();
        for (o, v) in out.iter_mut().zip(&src[(k - first) * plane..(k - first + 1) * plane]) {
            *o = (slope * v.to_f64() + inter) as f32;
        }
    }

    /// One plane (`nx * ny` real values or stored values scaled by `opts`) resampled in-plane
    /// into `out` (`mx * my`).
    fn plane<S: Voxel, O: SplineOps>(&self, src: &[S], opts: &Sampling, s: &mut Scratch, out: &mut [f32]) {
        let [mx, my, _] = self.plan.grid.shape;
        let [ax, ay, _] = &self.axes;
        let (px, py) = (ax.len(), ay.len());
        load_plane(src, &self.axes, opts, &mut s.padded);
        prefilter_rows_x(&mut s.padded, ax, &mut s.line);
        s.along_x.resize(mx * py, 0.0);
        let tx = &self.tables[0];
        for (o, row) in s.along_x.chunks_exact_mut(mx).zip(s.padded.chunks_exact(px)) {
            O::gather(o, row, tx);
            for (v, (&all, &k)) in o.iter_mut().zip(tx.all_fill.iter().zip(&tx.konst)) {
                if all {
                    *v = k;
                }
            }
        }
        if ay.order == 3 {
            prefilter_elements::<O>(&mut s.along_x, mx, ay.mode, &mut s.start, false);
        }
        let t = &self.tables[1];
        for (jy, o) in out.chunks_exact_mut(mx).enumerate().take(my) {
            if t.all_fill[jy] {
                o.fill(t.konst[jy]);
                continue;
            }
            let rows: Vec<&[f32]> =
                t.idx[jy * t.k..(jy + 1) * t.k].iter().map(|&i| &s.along_x[i * mx..(i + 1) * mx]).collect();
            O::combine(o, &rows, &t.w[jy * t.k..(jy + 1) * t.k], t.konst[jy]);
        }
    }

    /// Output slices `zs` into `dst` (exactly those), from `src` holding the input slices from
    /// `first` on (at least [`Separable::needs`]); on the rayon pool when `par`. Along a cubic z
    /// the input slices of the slab's window are prefiltered along z first (with the halo, so
    /// the expensive in-plane passes run only for the slices the taps read); SimpleITK's fill
    /// rule applied; no clipping.
    pub(crate) fn slices<T: Voxel, O: SplineOps>(
        &self,
        src: &[T],
        first: usize,
        zs: Range<usize>,
        dst: &mut [f32],
        s: &mut SlabScratch,
        par: bool,
    ) {
        let [nx, ny, _] = self.plan.input_shape;
        let [mx, my, _] = self.plan.grid.shape;
        let (plane_in, plane_out) = (nx * ny, mx * my);
        let az = &self.axes[2];
        let taps = self.z_taps(zs.clone());
        let t = &self.tables[2];
        if taps.is_empty() {
            // Every sample is (a blend of) the fill value.
            for (jz, o) in zs.clone().zip(dst.chunks_exact_mut(plane_out)) {
                o.fill(t.konst[jz]);
            }
            box_fill(dst, self.plan, &self.tables, &self.opts, zs.start);
            return;
        }
        s.q.resize(taps.len() * plane_out, 0.0);
        let unscaled = self.opts.scaling(1.0, 0.0);
        let run = |items: &mut [f32], f: &(dyn Fn(usize, &mut [f32], &mut Scratch) + Sync), len: usize| {
            if par {
                items.par_chunks_mut(len).enumerate().for_each_init(Scratch::default, |sc, (i, o)| f(i, o, sc));
            } else {
                let mut sc = Scratch::default();
                items.chunks_exact_mut(len).enumerate().for_each(|(i, o)| f(i, o, &mut sc));
            }
        };
        if az.order == 3 {
            let win = self.z_window(zs.clone());
            s.z.resize(win.len() * plane_in, 0.0);
            run(&mut s.z, &|i, o, _| self.z_plane(src, first, win.start + i, o), plane_in);
            prefilter_elements::<O>(&mut s.z, plane_in, az.mode, &mut s.start, par);
            let (z, off) = (&s.z, taps.start - win.start);
            run(
                &mut s.q,
                &|i, o, sc| self.plane::<f32, O>(&z[(off + i) * plane_in..(off + i + 1) * plane_in], &unscaled, sc, o),
                plane_out,
            );
        } else {
            // No padding along z: the taps read input slices themselves.
            run(
                &mut s.q,
                &|i, o, sc| {
                    let k = taps.start + i - first;
                    self.plane::<T, O>(&src[k * plane_in..(k + 1) * plane_in], &self.opts, sc, o)
                },
                plane_out,
            );
        }
        let q = &s.q;
        let row = |i: usize| {
            // A fill tap's weight is 0: any plane serves.
            let i = if taps.contains(&i) { i - taps.start } else { 0 };
            &q[i * plane_out..(i + 1) * plane_out]
        };
        let out_plane = |jz: usize, o: &mut [f32]| {
            if t.all_fill[jz] || !t.inside[jz] {
                o.fill(t.konst[jz]);
                return;
            }
            let rows: Vec<&[f32]> = t.idx[jz * t.k..(jz + 1) * t.k].iter().map(|&i| row(i)).collect();
            O::combine(o, &rows, &t.w[jz * t.k..(jz + 1) * t.k], t.konst[jz]);
        };
        if par {
            dst.par_chunks_mut(plane_out).zip(zs.clone()).for_each(|(o, jz)| out_plane(jz, o));
        } else {
            dst.chunks_exact_mut(plane_out).zip(zs.clone()).for_each(|(o, jz)| out_plane(jz, o));
        }
        box_fill(dst, self.plan, &self.tables, &self.opts, zs.start);
    }
}

/// The buffers of one slab task, kept from slab to slab.
#[derive(Debug, Default)]
pub struct SlabScratch {
    z: Vec<f32>,
    q: Vec<f32>,
    start: Vec<f32>,
}

/// Separable B-spline resampling of the whole output into `dst` with the row operations `O`:
/// slabs of output slices, in parallel on the rayon pool when `par`; then clipped when asked.
pub(crate) fn separable<T: Voxel, O: SplineOps>(src: &[T], plan: &Plan, opts: &Sampling, dst: &mut [f32], par: bool) {
    let k = Separable::new(plan, opts);
    let [mx, my, mz] = plan.grid.shape;
    let plane = mx * my;
    let slabs: Vec<Range<usize>> = (0..mz).step_by(WHOLE_SLAB).map(|z| z..(z + WHOLE_SLAB).min(mz)).collect();
    let jobs: Vec<(Range<usize>, &mut [f32])> = slabs.iter().cloned().zip(dst.chunks_mut(WHOLE_SLAB * plane)).collect();
    if par && jobs.len() > 1 {
        jobs.into_par_iter()
            .for_each_init(SlabScratch::default, |s, (zs, out)| k.slices::<T, O>(src, 0, zs, out, s, false));
    } else {
        let mut s = SlabScratch::default();
        for (zs, out) in jobs {
            k.slices::<T, O>(src, 0, zs, out, &mut s, par);
        }
    }
    clip_output(src, plan, opts, 0, dst);
}

/// The padding planes along z: copies of the edge planes (edge), or the fill value (constant).
fn pad_planes(q: &mut [f32], az: &Axis, plane: usize, fill: f32) {
    let (pad, nz) = (az.pad, az.n);
    for i in (0..pad).chain(pad + nz..az.len()) {
        if az.mode == Mode::Constant {
            q[i * plane..(i + 1) * plane].fill(fill);
        } else {
            let from = i.clamp(pad, pad + nz - 1);
            q.copy_within(from * plane..(from + 1) * plane, i * plane);
        }
    }
}

/// SimpleITK's fill rule: the output voxels outside along any axis take the fill value.
fn box_fill(dst: &mut [f32], plan: &Plan, tables: &[Table; 3], opts: &Sampling, z0: usize) {
    let Some(fill) = opts.get_fill().filter(|_| opts.get_mode().is_none()) else {
        return;
    };
    let [mx, my, _] = plan.grid.shape;
    let [xs, ys, zs] = [0, 1, 2].map(|a| tables[a].inside_range());
    for (jz, p) in (z0..).zip(dst.chunks_exact_mut(mx * my)) {
        if !zs.contains(&jz) {
            p.fill(fill);
            continue;
        }
        for (jy, row) in p.chunks_exact_mut(mx).enumerate() {
            if !ys.contains(&jy) {
                row.fill(fill);
            } else {
                row[..xs.start].fill(fill);
                row[xs.end..].fill(fill);
            }
        }
    }
}

/// The padded coefficients of the whole volume in `f32` (x-fastest), on the rayon pool when
/// `par`: the separable path's plane stage without the interpolation.
fn coefficients32<T: Voxel, O: SplineOps>(src: &[T], axes: &[Axis; 3], opts: &Sampling, par: bool) -> Vec<f32> {
    let [px, py, pz] = axes.map(|a| a.len());
    let [nx, ny, nz] = axes.map(|a| a.n);
    let plane = px * py;
    let mut c = vec![0f32; plane * pz];
    let pad = axes[2].pad;
    let one = |k: usize, out: &mut [f32], s: &mut Scratch| {
        load_plane(&src[k * nx * ny..(k + 1) * nx * ny], axes, opts, &mut s.padded);
        prefilter_rows_x(&mut s.padded, &axes[0], &mut s.line);
        if axes[1].order == 3 {
            prefilter_elements::<O>(&mut s.padded, px, axes[1].mode, &mut s.start, false);
        }
        out.copy_from_slice(&s.padded);
    };
    let real = &mut c[pad * plane..(pad + nz) * plane];
    if par {
        real.par_chunks_mut(plane).enumerate().for_each_init(Scratch::default, |s, (k, out)| one(k, out, s));
    } else {
        let mut s = Scratch::default();
        real.chunks_exact_mut(plane).enumerate().for_each(|(k, out)| one(k, out, &mut s));
    }
    pad_planes(&mut c, &axes[2], plane, opts.get_fill().unwrap_or(0.0));
    if axes[2].order == 3 {
        prefilter_elements::<O>(&mut c, plane, axes[2].mode, &mut Vec::new(), par);
    }
    c
}

/// A block kernel of the general path ([`crate::general`]): output slices into their part of
/// the output, with the per-voxel code for the lanes that need a boundary rule.
pub(crate) type Blocks =
    fn(&crate::general::Coefficients<'_>, &Plan, Range<usize>, &mut [f32], &(dyn Fn([usize; 3]) -> f32 + Sync));

/// The general path: the `f32` coefficients, then per output voxel the oracle's taps summed in
/// `f32` (x, then y, then z), in blocks of eight voxels by `blocks`, on the rayon pool over
/// runs of output slices when `par`.
pub(crate) fn general<T: Voxel, O: SplineOps>(
    src: &[T],
    plan: &Plan,
    opts: &Sampling,
    dst: &mut [f32],
    par: bool,
    blocks: Blocks,
) {
    let axes = Axis::of(plan, opts);
    let c = coefficients32::<T, O>(src, &axes, opts, par);
    let [px, py, _] = axes.map(|a| a.len());
    let [mx, my, _] = plan.grid.shape;
    let fill = opts.get_fill().unwrap_or(0.0);
    let ks = axes.map(|a| a.taps());
    let one = |j: [usize; 3]| {
        let (mut idx, mut w) = ([[0usize; 4]; 3], [[0f64; 4]; 3]);
        let p = plan.map.apply(j);
        if !(0..3).all(|a| axes[a].taps_at(p[a], &mut idx[a], &mut w[a])) {
            return fill;
        }
        let mut acc = 0f32;
        for c2 in 0..ks[2] {
            let mut plane_acc = 0f32;
            for c1 in 0..ks[1] {
                let mut line = 0f32;
                for c0 in 0..ks[0] {
                    let (i, j, k) = (idx[0][c0], idx[1][c1], idx[2][c2]);
                    let v =
                        if i == FILL_TAP || j == FILL_TAP || k == FILL_TAP { fill } else { c[i + px * (j + py * k)] };
                    line += w[0][c0] as f32 * v;
                }
                plane_acc += w[1][c1] as f32 * line;
            }
            acc += w[2][c2] as f32 * plane_acc;
        }
        acc
    };
    let k = crate::general::Coefficients { c: &c, axes: &axes };
    let fast = crate::general::blocks(plan);
    // Runs of output slices, not single slices: the blocks of maps about y build one plane per
    // output y and run, read by every slice of the run.
    let out_slices = |zs: Range<usize>, out: &mut [f32]| {
        if fast {
            blocks(&k, plan, zs, out, &one);
        } else {
            for (jz, out) in zs.zip(out.chunks_exact_mut(mx * my)) {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = one([i % mx, i / mx, jz]);
                }
            }
        }
    };
    let all = 0..plan.grid.shape[2];
    let runs = crate::parallel::runs(all.clone(), rayon::current_num_threads());
    crate::parallel::for_runs(dst, all, &runs, mx * my, par, out_slices);
    clip_output(src, plan, opts, 0, dst);
}
