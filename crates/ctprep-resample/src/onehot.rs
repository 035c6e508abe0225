//! One-hot resampling of label maps: each label's mask interpolated (order 0 or 1 per axis, in
//! `f64`), every output voxel taking the label whose mask scores highest, as nnU-Net's
//! `resize_segmentation` does it (batchgenerators 0.25.5, `_resample_seg_by_argmax` with its
//! default `seg_tiebreak='nearest'`):
//! - a label's score is the interpolated mask, clipped to `[0, 1]` (skimage's `clip=True`);
//! - the highest score wins; a voxel whose nearest-neighbour label shares the highest score
//!   (and scores above 0) takes the nearest neighbour's label, any other tie the smallest label;
//! - a map of one label gives that label everywhere.
//!
//! Only the labels among a voxel's taps can score, so each voxel sums its own taps' weights per
//! label: memory is that of the output, whatever the number of labels. Exact ties depend on
//! the order the weights are summed in (the masks are `f64` in both): this sums in the order
//! x, then y, then z; nnU-Net in its own axis order.

use std::ops::Range;

use crate::spline::{Axis, FILL_TAP, Mode, Sampling};
use crate::{Plan, ResampleError, Result, Voxel};

/// Taps of one output index along one axis: up to two coefficients with weights, and the
/// nearest voxel (for the tie rule); `None` where SimpleITK's fill rule puts the fill value.
#[derive(Clone, Copy, Debug)]
struct Taps {
    k: usize,
    idx: [usize; 2],
    w: [f64; 2],
    nearest: usize,
}

fn axis_taps(axis: &Axis, nearest: &Axis, x: f64) -> Option<Taps> {
    let (mut idx, mut w) = ([0usize; 4], [0f64; 4]);
    if !axis.taps_at(x, &mut idx, &mut w) {
        return None;
    }
    let (mut nidx, mut nw) = ([0usize; 4], [0f64; 4]);
    nearest.taps_at(x, &mut nidx, &mut nw);
    let k = axis.taps();
    Some(Taps { k, idx: [idx[0], idx[k - 1]], w: [w[0], if k > 1 { w[1] } else { 0.0 }], nearest: nidx[0] })
}

/// Checks the options of one-hot resampling: orders 0 or 1.
pub(crate) fn check(opts: &Sampling) -> Result<()> {
    opts.check()?;
    if opts.get_orders().iter().any(|&o| o > 1) {
        return Err(ResampleError::BadParameter(format!(
            "one-hot label masks of orders {:?}: orders 0 (nearest) and 1 (linear) are supported",
            opts.get_orders()
        )));
    }
    Ok(())
}

/// The label of one output voxel from its taps along each axis.
#[inline]
fn vote<T: Voxel>(src: &[T], n: [usize; 3], t: [&Taps; 3], fill: T) -> T {
    let at = |i: usize, j: usize, k: usize| -> T {
        if i == FILL_TAP || j == FILL_TAP || k == FILL_TAP { fill } else { src[i + n[0] * (j + n[1] * k)] }
    };
    let mut labels = [T::default(); 8];
    let mut scores = [0f64; 8];
    let mut count = 0;
    for c2 in 0..t[2].k {
        for c1 in 0..t[1].k {
            for c0 in 0..t[0].k {
                let label = at(t[0].idx[c0], t[1].idx[c1], t[2].idx[c2]);
                let w = t[0].w[c0] * t[1].w[c1] * t[2].w[c2];
                match labels[..count].iter().position(|&l| l == label) {
                    Some(p) => scores[p] += w,
                    None => {
                        labels[count] = label;
                        scores[count] = w;
                        count += 1;
                    }
                }
            }
        }
    }
    let nearest = at(t[0].nearest, t[1].nearest, t[2].nearest);
    let mut best: Option<(T, f64)> = None;
    let mut nearest_score = 0.0;
    for (&label, &score) in labels[..count].iter().zip(&scores[..count]) {
        let score = score.clamp(0.0, 1.0);
        if label == nearest {
            nearest_score = score;
        }
        best = match best {
            None => Some((label, score)),
            Some((l, s)) if score > s || (score == s && label < l) => Some((label, score)),
            b => b,
        };
    }
    match best {
        Some((_, top)) if nearest_score > 0.0 && nearest_score == top => nearest,
        Some((label, _)) => label,
        None => nearest,
    }
}

/// One-hot resampling of output slices `zs` into `dst` (those slices); `src` is the whole
/// label map. Per-axis tap tables for diagonal maps, each voxel's taps otherwise.
pub(crate) fn slices<T: Voxel>(src: &[T], plan: &Plan, opts: &Sampling, fill: T, zs: Range<usize>, dst: &mut [T]) {
    let axes = Axis::of(plan, opts);
    let nearest = plan.input_shape.map(|n| Axis::new(n, 0, opts));
    let n = plan.input_shape;
    let [mx, my, _] = plan.grid.shape;
    if plan.map.is_diagonal() {
        let table = |a: usize, m: usize| -> Vec<Option<Taps>> {
            (0..m)
                .map(|j| {
                    let mut at = [0; 3];
                    at[a] = j;
                    axis_taps(&axes[a], &nearest[a], plan.map.apply(at)[a])
                })
                .collect()
        };
        let (tx, ty) = (table(0, mx), table(1, my));
        for (jz, out) in zs.zip(dst.chunks_exact_mut(mx * my)) {
            let mut at = [0; 3];
            at[2] = jz;
            let Some(tz) = axis_taps(&axes[2], &nearest[2], plan.map.apply(at)[2]) else {
                out.fill(fill);
                continue;
            };
            for (row, ty) in out.chunks_exact_mut(mx).zip(&ty) {
                let Some(ty) = ty else {
                    row.fill(fill);
                    continue;
                };
                for (o, tx) in row.iter_mut().zip(&tx) {
                    *o = tx.as_ref().map_or(fill, |tx| vote(src, n, [tx, ty, &tz], fill));
                }
            }
        }
        return;
    }
    for (jz, out) in zs.zip(dst.chunks_exact_mut(mx * my)) {
        for jy in 0..my {
            for jx in 0..mx {
                let p = plan.map.apply([jx, jy, jz]);
                let t: Vec<Option<Taps>> = (0..3).map(|a| axis_taps(&axes[a], &nearest[a], p[a])).collect();
                out[jx + mx * jy] = match (&t[0], &t[1], &t[2]) {
                    (Some(a), Some(b), Some(c)) => vote(src, n, [a, b, c], fill),
                    _ => fill,
                };
            }
        }
    }
}

/// The mode's fill label: the fill value of constant mode or of SimpleITK's rule, else unused.
pub(crate) fn fill_label<T: Voxel>(opts: &Sampling, fill: Option<T>) -> Result<T> {
    match (opts.get_mode(), fill) {
        (Some(Mode::Constant), None) => Err(ResampleError::BadParameter("mode constant needs a fill value".into())),
        (_, f) => Ok(f.unwrap_or_default()),
    }
}
