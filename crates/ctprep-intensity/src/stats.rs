//! What a window does to a volume: its values' range and how many the window clips at each
//! end ([`WindowStats`]), counted as the volume passes slab by slab.

use crate::Window;

/// The range of some values and how many of them a window clips.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WindowStats {
    /// The smallest and largest value (NaN left out); `None` when there is no other value.
    pub range: Option<[f32; 2]>,
    /// Values below the window's bottom (mapped to its lowest output).
    pub below: u64,
    /// Values above the window's top (mapped to its highest output).
    pub above: u64,
    /// NaN values.
    pub nan: u64,
    /// Values counted.
    pub count: u64,
}

impl WindowStats {
    /// The statistics of `values` against `window` (its bounds as `f32`), in loops compiled per
    /// instruction set and chosen at run time.
    pub fn of(values: &[f32], window: Window) -> WindowStats {
        let (lo, hi) = (window.lo() as f32, window.hi() as f32);
        let mut total = WindowStats::default();
        // The lanes' u32 counts cannot overflow within a block.
        for block in values.chunks(1 << 24) {
            total.merge(&crate::dispatch::window_stats(block, lo, hi));
        }
        total
    }

    /// The share of the values below and above the window (0 when there are none).
    pub fn clipped_shares(&self) -> [f64; 2] {
        let share = |n: u64| if self.count == 0 { 0.0 } else { n as f64 / self.count as f64 };
        [share(self.below), share(self.above)]
    }

    /// Adds `o`'s values to these.
    pub fn merge(&mut self, o: &WindowStats) {
        self.range = match (self.range, o.range) {
            (Some(a), Some(b)) => Some([a[0].min(b[0]), a[1].max(b[1])]),
            (a, b) => a.or(b),
        };
        self.below += o.below;
        self.above += o.above;
        self.nan += o.nan;
        self.count += o.count;
    }
}

/// [`WindowStats::of`] for at most `u32::MAX` values: lane-wise minima, maxima and counts the
/// compiler turns into vector code. A NaN fails every comparison, so it is never a minimum or
/// maximum and counts only as NaN.
#[inline(always)]
pub(crate) fn lanes(values: &[f32], lo: f32, hi: f32) -> WindowStats {
    let mut acc =
        Lanes { mn: [f32::INFINITY; L], mx: [f32::NEG_INFINITY; L], below: [0; L], above: [0; L], nan: [0; L] };
    let mut chunks = values.chunks_exact(L);
    for c in &mut chunks {
        acc.add(c.try_into().expect("chunks_exact gives L values"), lo, hi);
    }
    // The tail as one more chunk padded with NaN, taken back out of the NaN count.
    let rest = chunks.remainder();
    let mut c = [f32::NAN; L];
    c[..rest.len()].copy_from_slice(rest);
    acc.add(&c, lo, hi);
    for n in &mut acc.nan[rest.len()..] {
        *n -= 1;
    }
    let sum = |c: [u32; L]| c.iter().map(|&n| u64::from(n)).sum::<u64>();
    let lo_v = acc.mn.into_iter().fold(f32::INFINITY, f32::min);
    let hi_v = acc.mx.into_iter().fold(f32::NEG_INFINITY, f32::max);
    WindowStats {
        range: (lo_v <= hi_v).then_some([lo_v, hi_v]),
        below: sum(acc.below),
        above: sum(acc.above),
        nan: sum(acc.nan),
        count: values.len() as u64,
    }
}

/// Lanes of [`lanes`].
const L: usize = 16;

/// Per-lane minima, maxima and counts.
struct Lanes {
    mn: [f32; L],
    mx: [f32; L],
    below: [u32; L],
    above: [u32; L],
    nan: [u32; L],
}

impl Lanes {
    #[inline(always)]
    fn add(&mut self, c: &[f32; L], lo: f32, hi: f32) {
        for (i, &v) in c.iter().enumerate() {
            self.mn[i] = if v < self.mn[i] { v } else { self.mn[i] };
            self.mx[i] = if v > self.mx[i] { v } else { self.mx[i] };
            self.below[i] += u32::from(v < lo);
            self.above[i] += u32::from(v > hi);
            self.nan[i] += u32::from(v.is_nan());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain definition, one value at a time.
    fn oracle(values: &[f32], lo: f32, hi: f32) -> WindowStats {
        let finite: Vec<f32> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        WindowStats {
            range: (!finite.is_empty()).then(|| {
                [
                    finite.iter().copied().fold(f32::INFINITY, f32::min),
                    finite.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                ]
            }),
            below: values.iter().filter(|&&v| v < lo).count() as u64,
            above: values.iter().filter(|&&v| v > hi).count() as u64,
            nan: values.iter().filter(|v| v.is_nan()).count() as u64,
            count: values.len() as u64,
        }
    }

    #[test]
    fn matches_the_plain_count_on_awkward_lengths_and_nan() {
        let window = Window::new(-100.0, 300.0).expect("window");
        for n in [0usize, 1, 15, 16, 17, 31, 33, 1001] {
            let values: Vec<f32> = (0..n)
                .map(|i| match i % 7 {
                    0 => f32::NAN,
                    3 => -1024.0 + i as f32,
                    5 => 3000.0 - i as f32,
                    _ => (i as f32 * 37.0) % 500.0 - 150.0,
                })
                .collect();
            let got = WindowStats::of(&values, window);
            assert_eq!(got, oracle(&values, -100.0, 300.0), "{n} values");
            // Split anywhere and merged, the same.
            let (a, b) = values.split_at(n / 3);
            let mut merged = WindowStats::of(a, window);
            merged.merge(&WindowStats::of(b, window));
            assert_eq!(merged, got, "{n} values split");
        }
        let all_nan = WindowStats::of(&[f32::NAN; 20], window);
        assert_eq!((all_nan.range, all_nan.nan, all_nan.clipped_shares()), (None, 20, [0.0, 0.0]));
        let edges = WindowStats::of(&[-100.0, 300.0, -100.5, 300.5], window);
        assert_eq!((edges.below, edges.above, edges.range), (1, 1, Some([-100.5, 300.5])));
    }
}
