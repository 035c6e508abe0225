//! What a run did: shapes, geometry, kernels, times and the files written.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ctprep_core::Voxel;
use std::time::Duration;

use ctprep_core::{Affine, Source};
use ctprep_projection::{Align, Edges};
use ctprep_resample::GridConvention;

use crate::recipe::Product;

/// How the input's voxels were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// A few slices at a time on a thread of their own, ahead of the slabs: never held whole;
    /// the file decoded as it says.
    Streamed(ctprep_io::Decoding),
    /// The whole volume at once (an input in memory, or a file whose slices do not follow the
    /// output's z, or whose slab windows would need most of it).
    Whole,
}

impl ReadMode {
    /// A short description for reports.
    pub fn describe(self) -> String {
        match self {
            ReadMode::Streamed(ctprep_io::Decoding::Plain) => "slab by slab, on its own thread".to_owned(),
            ReadMode::Streamed(d) => format!("slab by slab, on its own thread; {}", d.describe()),
            ReadMode::Whole => "whole volume".to_owned(),
        }
    }
}

/// Which kernel ran in each stage (each kernel's own report, as text).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageKernels {
    /// The resampling kernel and its path (separable or general).
    pub resample: String,
    /// The window kernel.
    pub window: String,
    /// The MIP kernel; `None` when no MIP was needed.
    pub mip: Option<String>,
    /// Where each stage's kernel and threads came from: as asked, the installed profile
    /// (`ctprep tune`), or the fallback rule.
    pub sources: StageSources,
}

/// Where each stage's kernel and threads came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageSources {
    /// The resampling stage's.
    pub resample: Source,
    /// The window stage's.
    pub window: Source,
    /// The MIP stage's; `None` when no MIP was needed.
    pub mip: Option<Source>,
}

/// Wall time of each step of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// Reading the header, and the whole input when it is not streamed.
    pub read: Duration,
    /// Resample, window, MIP, compression and writing, slab by slab (the streamed input's
    /// reading overlaps it).
    pub stream: Duration,
    /// Making and writing the PNGs.
    pub png: Duration,
    /// The whole run.
    pub total: Duration,
}

/// Thread time summed over the slabs, per stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Resampling.
    pub resample: Duration,
    /// Windowing.
    pub window: Duration,
    /// The MIP (and keeping the slices the PNGs show).
    pub mip: Duration,
    /// Compressing the `.nii.gz` pieces.
    pub compress: Duration,
    /// Appending the pieces to the files, on the writing thread.
    pub write: Duration,
    /// The reading thread's decoding (zero when the input was read whole).
    pub read: Duration,
}

/// One file a run wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// What it holds.
    pub product: Product,
    /// Where it is.
    pub path: PathBuf,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RunReport {
    /// The input's name (its path, or the name given for a volume in memory).
    pub input: String,
    /// The input's shape.
    pub input_shape: [usize; 3],
    /// The input's voxel-to-world affine.
    pub input_affine: Affine,
    /// The resampled (and windowed) volume's shape.
    pub output_shape: [usize; 3],
    /// Its voxel-to-world affine.
    pub output_affine: Affine,
    /// Its spacing (mm).
    pub output_spacing_mm: [f64; 3],
    /// Its axis codes (`RAS`, ...).
    pub axcodes: String,
    /// The grid convention.
    pub convention: GridConvention,
    /// The HU window.
    pub window: [f64; 2],
    /// The MIP's shape.
    pub mip_shape: [usize; 3],
    /// The MIP's affine.
    pub mip_affine: Affine,
    /// MIP slab thickness in slices.
    pub mip_slices: usize,
    /// MIP alignment.
    pub mip_align: Align,
    /// MIP ends.
    pub mip_edges: Edges,
    /// How the input was read.
    pub read: ReadMode,
    /// The kernels of each stage.
    pub kernels: StageKernels,
    /// Slabs computed side by side (1: one after another on the calling thread).
    pub workers: usize,
    /// Wall times.
    pub timings: Timings,
    /// Thread times.
    pub cpu: CpuTimes,
    /// The files written, in [`Product`] order.
    pub outputs: Vec<Written>,
    /// The label map, when the run had one.
    pub label: Option<LabelReport>,
    /// The output's values in HU before the window: range and clipping.
    pub hu: ctprep_intensity::WindowStats,
    /// With [`crate::Outputs::views`]: the windowed volume's middle slice of each plane, in
    /// radiological display orientation (axial, coronal, sagittal).
    pub views: Vec<View>,
    /// With [`crate::Outputs::views`] and a label map of one layer: its values other than 0,
    /// ascending, with their voxels on the output grid (`None` with more than 4,096 values).
    pub label_values: Option<Vec<(i64, u64)>>,
}

/// A slice of the windowed volume, as [`ctprep_render::slice_image`] shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// Its plane.
    pub plane: ctprep_render::Plane,
    /// Its display index in that plane.
    pub slice: usize,
    /// Its values in [0, 1].
    pub image: ctprep_render::Gray,
    /// The label map's same slice on the output grid, when the run had one of one layer.
    pub labels: Option<ctprep_render::Labels>,
}

/// What a run did with its label map.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelReport {
    /// The label's name (its path).
    pub input: String,
    /// Its shape (spatial axes, then layers).
    pub input_shape: Vec<usize>,
    /// How its grid related to the image's.
    pub alignment: crate::align::Alignment,
    /// Its shape on the output grid.
    pub output_shape: Vec<usize>,
    /// Its stored type, kept.
    pub dtype: ctprep_io::DataType,
}

/// Distinct label values counted; a map with more is not a label map (its volumes are left out).
pub(crate) const MAX_LABEL_VALUES: usize = 4096;

/// Voxels per label value: small non-negative integers in a table, others in a map, until
/// there are too many distinct values to be a label map.
#[derive(Default)]
pub(crate) struct Counts {
    table: Vec<u64>,
    other: BTreeMap<i64, u64>,
    too_many: bool,
}

impl Counts {
    /// Values known to be table indices (`u8`, `u16`), counted by runs: a label map is long
    /// runs of one value, and incrementing one counter voxel after voxel would wait on the
    /// previous increment every time. The table grows to the largest value seen.
    pub(crate) fn add_indexed(&mut self, mut values: impl Iterator<Item = usize>) {
        let Some(mut cur) = values.next() else { return };
        let mut run = 1u64;
        let end = |table: &mut Vec<u64>, i: usize, n: u64| {
            if i >= table.len() {
                table.resize(i + 1, 0);
            }
            table[i] += n;
        };
        for i in values {
            if i == cur {
                run += 1;
            } else {
                end(&mut self.table, cur, run);
                (cur, run) = (i, 1);
            }
        }
        end(&mut self.table, cur, run);
    }

    pub(crate) fn add<T: Voxel>(&mut self, values: &[T]) {
        if self.too_many {
            return;
        }
        if self.table.len() < 1 << 16 {
            self.table.resize(1 << 16, 0);
        }
        for &v in values {
            let v = v.to_f64();
            // A NaN counts as 0 (`as` makes it so), a fraction as its integer part, as the
            // overlay draws them.
            let k = v as i64;
            if (0..1 << 16).contains(&k) && k as f64 == v {
                self.table[k as usize] += 1;
            } else {
                *self.other.entry(k).or_insert(0) += 1;
                if self.other.len() > MAX_LABEL_VALUES {
                    self.too_many = true;
                    return;
                }
            }
        }
    }

    /// Adds the voxels of `values` in their stored type: `u8` and `u16` index the table.
    pub(crate) fn add_stored<T: ctprep_io::Element>(&mut self, values: &[T]) {
        match T::DTYPE {
            ctprep_io::DataType::U8 => self.add_indexed(values.iter().map(|v| v.to_f64() as u8 as usize)),
            ctprep_io::DataType::U16 => self.add_indexed(values.iter().map(|v| v.to_f64() as u16 as usize)),
            _ => self.add(values),
        }
    }

    /// Adds `o`'s counts to these.
    pub(crate) fn merge(&mut self, o: Counts) {
        if o.too_many || self.too_many {
            self.too_many = true;
            return;
        }
        if self.table.len() < o.table.len() {
            self.table.resize(o.table.len(), 0);
        }
        self.table.iter_mut().zip(&o.table).for_each(|(a, b)| *a += b);
        for (k, n) in o.other {
            *self.other.entry(k).or_insert(0) += n;
        }
        self.too_many = self.other.len() > MAX_LABEL_VALUES;
    }

    /// The counts of values other than 0, ascending; `None` when there were too many values.
    pub(crate) fn values(self) -> Option<Vec<(i64, u64)>> {
        let mut all = self.other;
        for (v, &n) in self.table.iter().enumerate().filter(|(_, n)| **n > 0) {
            *all.entry(v as i64).or_insert(0) += n;
        }
        all.remove(&0);
        (!self.too_many && all.len() <= MAX_LABEL_VALUES).then(|| all.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain count: every value, NaN as 0, fractions cut toward 0, 0 left out.
    fn plain(values: &[f64]) -> Vec<(i64, u64)> {
        let mut m = BTreeMap::new();
        for &v in values {
            *m.entry(v as i64).or_insert(0u64) += 1;
        }
        m.remove(&0);
        m.into_iter().collect()
    }

    #[test]
    fn label_counts_match_the_plain_count_in_every_type_and_split() {
        let values: Vec<u16> = (0..5000u32).map(|i| [0, 0, 3, 3, 3, 7, 0, 65535, 1][(i * i % 9) as usize]).collect();
        let want = plain(&values.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
        let mut whole = Counts::default();
        whole.add_stored(&values);
        assert_eq!(whole.values(), Some(want.clone()));
        // Split anywhere (runs cut at the seams), merged: the same.
        let mut merged = Counts::default();
        for part in values.chunks(777) {
            let mut c = Counts::default();
            c.add_stored(part);
            merged.merge(c);
        }
        assert_eq!(merged.values(), Some(want));
        let u8s: Vec<u8> = vec![0, 0, 2, 2, 255, 2, 0];
        let mut c = Counts::default();
        c.add_stored(&u8s);
        assert_eq!(c.values(), Some(vec![(2, 3), (255, 1)]));
        // Other types: negatives, fractions and NaN as the overlay draws them.
        let f: Vec<f32> = vec![-2.0, 1.5, f32::NAN, 70000.0, 0.0, -2.0];
        let mut c = Counts::default();
        c.add_stored(&f);
        let got = c.values();
        assert_eq!(got, Some(plain(&f.iter().map(|&v| f64::from(v)).collect::<Vec<_>>())));
        assert_eq!(got, Some(vec![(-2, 2), (1, 1), (70000, 1)]));
        let many: Vec<i32> = (0..(MAX_LABEL_VALUES as i32 + 10)).map(|i| -i).collect();
        let mut c = Counts::default();
        c.add_stored(&many);
        assert_eq!(c.values(), None);
    }
}
