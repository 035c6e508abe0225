//! What a run did: shapes, geometry, kernels, times and the files written.

use std::path::PathBuf;
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
