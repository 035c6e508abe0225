//! A run's report as JSON: what `ctprep run --json` prints and a batch's case record holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Product, RunReport};

/// A [`RunReport`] as plain data: `ctprep run --json` prints it, a batch's case record keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunJson {
    /// The input, as named.
    pub input: String,
    /// The input's voxel shape.
    pub input_shape: [usize; 3],
    /// The input's spacing (the affine's column lengths; absent from older records).
    #[serde(default)]
    pub input_spacing_mm: Option<[f64; 3]>,
    /// The input's axis codes.
    #[serde(default)]
    pub input_axcodes: Option<String>,
    /// The input's shear in degrees (0: orthogonal axes; a tilted gantry's CT is sheared).
    #[serde(default)]
    pub input_shear_degrees: Option<f64>,
    /// The output grid's shape.
    pub output_shape: [usize; 3],
    /// The output grid's spacing.
    pub output_spacing_mm: [f64; 3],
    /// The outputs' axis codes.
    pub axcodes: String,
    /// The grid convention.
    pub convention: String,
    /// The HU window mapped to [0, 1].
    pub window: [f64; 2],
    /// The MIP's thickness in slices.
    pub mip_slices: usize,
    /// The MIP's alignment.
    pub mip_align: String,
    /// The MIP's ends.
    pub mip_edges: String,
    /// Which kernel ran per stage, how the input was read, and whether the slabs ran side by side.
    pub variants: BTreeMap<String, String>,
    /// Per stage, where its kernel and threads came from: `asked` (--kernel and --threads),
    /// `profile` (`ctprep tune`'s, for an auto knob) or `fallback` (no profile).
    pub kernel_sources: BTreeMap<String, String>,
    /// Wall time per step: read, stream (resample, window, MIP and compression, slab by slab),
    /// png, total.
    pub timings_s: BTreeMap<String, f64>,
    /// Thread time summed over the slabs, per stage of the stream: resample, window, mip,
    /// compress, write (appending to the files, on the writing thread); and read, the reading
    /// thread's (decoding the input slab by slab; 0 when it was read whole).
    pub cpu_s: BTreeMap<String, f64>,
    /// The paths written, per product.
    pub outputs: BTreeMap<String, Vec<String>>,
    /// With --label: its path, how its grid related to the input's (verdict, differences),
    /// its shape before and after, and its stored type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<LabelJson>,
    /// The output's values in HU before the window: range and clipping (absent from records
    /// written before ctprep counted them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hu: Option<HuJson>,
}

/// The output's values in HU before the window, in `run --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HuJson {
    /// The smallest and largest value (NaN left out); `None` when every value is NaN, or when
    /// one end is infinite (`infinite`).
    pub range: Option<[f32; 2]>,
    /// Whether the values reach an infinity (JSON has no number for it).
    #[serde(default)]
    pub infinite: bool,
    /// The share of voxels below the window (mapped to 0).
    pub below_window: f64,
    /// The share of voxels above it (mapped to 1).
    pub above_window: f64,
    /// NaN voxels.
    pub nan_voxels: u64,
}

/// The label of a run, in `run --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelJson {
    /// The label map, as named.
    pub input: String,
    /// How its grid relates to the image's ([`crate::align::Verdict::name`]).
    pub verdict: String,
    /// The differences, one line each.
    pub differences: Vec<String>,
    /// The share of the label's box inside the image's.
    pub overlap: f64,
    /// Its shape before.
    pub input_shape: Vec<usize>,
    /// Its shape on the output grid.
    pub output_shape: Vec<usize>,
    /// Its stored type (numpy's name).
    pub datatype: String,
}

impl From<&RunReport> for RunJson {
    fn from(r: &RunReport) -> RunJson {
        let how = if r.workers > 1 { "parallel slabs" } else { "one thread" };
        let own = |pairs: Vec<(&str, String)>| pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let mut variants: BTreeMap<String, String> = own(vec![
            ("read", r.read.describe()),
            ("resample", format!("{}, {how}", r.kernels.resample)),
            ("window", format!("{}, {how}", r.kernels.window)),
        ]);
        if let Some(m) = &r.kernels.mip {
            variants.insert("mip".to_owned(), format!("{m}, {how}"));
        }
        let src = &r.kernels.sources;
        let mut kernel_sources: BTreeMap<String, String> =
            own(vec![("resample", src.resample.name().to_owned()), ("window", src.window.name().to_owned())]);
        if let Some(m) = src.mip {
            kernel_sources.insert("mip".to_owned(), m.name().to_owned());
        }
        let secs = |pairs: &[(&str, std::time::Duration)]| {
            pairs.iter().map(|(k, d)| ((*k).to_owned(), d.as_secs_f64())).collect::<BTreeMap<_, _>>()
        };
        let t = &r.timings;
        let mut timings_s = secs(&[("read", t.read), ("stream", t.stream), ("total", t.total)]);
        if r.outputs.iter().any(|w| matches!(w.product, Product::Png | Product::Sheet)) {
            timings_s.insert("png".to_owned(), t.png.as_secs_f64());
        }
        let c = &r.cpu;
        let cpu_s = secs(&[
            ("resample", c.resample),
            ("window", c.window),
            ("mip", c.mip),
            ("compress", c.compress),
            ("write", c.write),
            ("read", c.read),
        ]);
        let mut outputs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for w in &r.outputs {
            outputs.entry(w.product.name().to_owned()).or_default().push(w.path.display().to_string());
        }
        RunJson {
            input: r.input.clone(),
            input_shape: r.input_shape,
            input_spacing_mm: Some(r.input_affine.spacing()),
            input_axcodes: Some(ctprep_io::axcodes_string(&r.input_affine)),
            input_shear_degrees: Some(r.input_affine.shear_degrees()),
            output_shape: r.output_shape,
            output_spacing_mm: r.output_spacing_mm,
            axcodes: r.axcodes.clone(),
            convention: r.convention.name().to_owned(),
            window: r.window,
            mip_slices: r.mip_slices,
            mip_align: r.mip_align.to_string(),
            mip_edges: r.mip_edges.to_string(),
            variants,
            kernel_sources,
            timings_s,
            cpu_s,
            outputs,
            label: r.label.as_ref().map(|l| LabelJson {
                input: l.input.clone(),
                verdict: l.alignment.verdict.name().to_owned(),
                differences: l.alignment.differences.clone(),
                overlap: l.alignment.overlap,
                input_shape: l.input_shape.clone(),
                output_shape: l.output_shape.clone(),
                datatype: l.dtype.numpy_name().to_owned(),
            }),
            hu: (r.hu.count > 0).then(|| {
                let [below_window, above_window] = r.hu.clipped_shares();
                let finite = r.hu.range.filter(|[lo, hi]| lo.is_finite() && hi.is_finite());
                HuJson {
                    range: finite,
                    infinite: r.hu.range.is_some() && finite.is_none(),
                    below_window,
                    above_window,
                    nan_voxels: r.hu.nan,
                }
            }),
        }
    }
}

impl RunJson {
    /// The human-readable report.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}: {:?} -> {:?} {} at {:?} mm ({}), window {}..{} to [0, 1], MIP of {} slices ({}, {})\n",
            self.input,
            self.input_shape,
            self.output_shape,
            self.axcodes,
            self.output_spacing_mm.map(|s| (s * 1e4).round() / 1e4),
            self.convention,
            self.window[0],
            self.window[1],
            self.mip_slices,
            self.mip_align,
            self.mip_edges
        );
        for (kind, paths) in &self.outputs {
            for p in paths {
                s.push_str(&format!("  {kind:<7} {p}\n"));
            }
        }
        let t: Vec<String> = self.timings_s.iter().map(|(k, v)| format!("{k} {v:.3} s")).collect();
        s.push_str(&format!("  timings {}\n", t.join(", ")));
        s
    }
}
