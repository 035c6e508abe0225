//! The streamed CT preprocessing pipeline as a library: read, reorient (as a resampling grid,
//! never a copy), resample, window HU to [0, 1], thick-slab MIP, and the outputs (the windowed
//! and MIP volumes as `.nii.gz`, PNGs of the MIP in radiological orientation, a contact sheet),
//! slab by slab of output slices, so that neither the input, the resampled volume nor the MIP
//! is held whole.
//!
//! ```
//! use ctprep_pipeline::{Input, MipSize, Outputs, Product, Recipe};
//!
//! let dir = tempfile::tempdir()?;
//! let ct = ctprep_phantom::Phantom::new([40, 32, 12]).spacing_mm([0.8, 0.8, 2.5]).ct()?;
//! let recipe = Recipe::corrected().spacing_mm([1.5; 3]).mip(MipSize::Mm(6.0));
//! let outputs = Outputs::new(dir.path()).stem("phantom").save(&[Product::Mip, Product::Png]);
//! let report = ctprep_pipeline::run(Input::volume(ct, "phantom"), &recipe, &outputs)?;
//! assert_eq!(report.mip_slices, 4);
//! assert_eq!(report.outputs.len(), 4); // the MIP volume and three PNGs
//! println!("{} -> {:?} in {:?}; resampled by {}", report.input, report.output_shape, report.timings.total, report.kernels.resample);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`Recipe`] says what is computed ([`Recipe::corrected`], the default, or
//!   [`Recipe::classic`], the classic Python recipe exactly); [`Outputs`] what is written where;
//!   [`Input`] a file (streamed) or a volume in memory.
//! - [`Pipeline`] says how: the kernel of every stage, the slab workers (`threads`: one per
//!   thread of the current rayon pool by default), the slab size, a [`Progress`] receiver. The
//!   free function [`run`] uses its defaults. The standalone stages stream to one file each:
//!   [`Pipeline::resample_to`], [`Pipeline::window_to`], [`Pipeline::project_to`].
//! - [`RunReport`] holds named stage times, the kernels that ran, shapes, affines and paths;
//!   [`PipelineError`] names the file. A failed run leaves no output behind.
//!
//! # Memory
//! Three windows of input slices (or the whole input, when its slices do not follow the
//! output's z), per worker two slab buffers of `max(SLAB, k) + k - 1` output planes (k = the
//! MIP's thickness), and the compressed pieces of one batch of slabs. On a 512x512x300 CT to
//! 1 mm: about 100 MB.
#![forbid(unsafe_code)]

pub mod align;
pub mod batch;
mod engine;
mod error;
pub mod input;
mod json;
mod progress;
mod recipe;
mod report;

pub use engine::{
    Input, LabelInput, Pipeline, RunPlan, SLAB, StageReport, plan_grid, plan_run, projection_streams, run,
};
pub use error::PipelineError;
pub use json::{HuJson, LabelJson, RunJson};
pub use progress::{NoProgress, Progress, Stage};
pub use recipe::{LabelInterp, MipSize, Orientation, Outputs, Product, Recipe, SchemeUse, stem_of};
pub use report::{CpuTimes, LabelReport, ReadMode, RunReport, StageKernels, StageSources, Timings, View, Written};

/// The examples of this crate's README.md, compiled as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
