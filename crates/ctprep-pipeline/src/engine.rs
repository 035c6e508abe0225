//! The streamed run: read, reorient (as a resampling grid, never a copy), resample, window,
//! thick-slab MIP, and the outputs (NIfTI volumes, PNG slices and a contact sheet of the MIP).
//!
//! Everything streams, slab by slab of output slices ([`SLAB`]): a reading thread decodes the
//! input slices each batch of slabs reads into reused window buffers ([`read_windows`]), ahead
//! of the workers; each slab is resampled from its window (with the `k - 1` slices its MIP
//! windows reach), windowed, projected and compressed on a worker, and the slabs' pieces are
//! appended to the `.nii.gz` files in order while the next slabs compute. The PNGs keep only the
//! slices they show. An input whose slices do not follow the output's z (stored flipped or
//! permuted), or whose windows would need more than a quarter of it, is read whole first
//! ([`worth_streaming`]; with many workers the batches shrink first). Memory: three input
//! windows and the slices two windows share (or the whole input), per worker two slab buffers
//! (slabs grow to `k` slices for thicker MIPs), plus the compressed pieces in flight; neither
//! the resampled volume nor the MIP is ever held whole (unless one MIP window spans most of the
//! volume), and nothing is widened to `f64`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ctprep_core::{Exec, Kernel, Source, Threads, Voxel};
use ctprep_intensity::{Output, Range, Window, WindowMap, WindowStats, window_slice_into};
use ctprep_io::{
    AxCodes, Completed, Element, NiftiStream, Packer, Piece, Reorientation, SliceReader, Storage, Volume, VoxelData,
    WriteOptions, read_volume,
};
use ctprep_projection::{Axis3, Projector, Reduce, SlabProjection};
use ctprep_render::{PixelMap, Plane, SheetOptions, SliceCapture, SliceLayout, encode_png};
use ctprep_resample::{Plan, Resampler, Sampling, plan_like, plan_spacing_with, spline_input_slices_for};

use crate::align::GridInfo;
use crate::error::{PipelineError, panic_message};
use crate::progress::{NoProgress, Progress, Shown, Stage};
use crate::recipe::{MipSize, Orientation, Outputs, Product, Recipe, stem_of};
use crate::report::{CpuTimes, LabelReport, ReadMode, RunReport, StageKernels, StageSources, Timings, Written};

type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// The output grid of `recipe` for an input of `shape` and `affine`: the input grid
/// reoriented (geometry only) to the recipe's axis codes, then planned for its spacing (and
/// made orthonormal when the input is sheared, unless the recipe keeps shear); the plan maps
/// the input's own voxels onto it.
pub fn plan_grid(shape: [usize; 3], affine: &ctprep_core::Affine, input: &str, recipe: &Recipe) -> Result<Plan> {
    Ok(plan_run(shape, affine, input, recipe)?.plan)
}

/// What a run resamples with: the plan onto its output grid, the image's options (the recipe's,
/// or its scheme's for this input), and a label map's: one-hot options, or `None` for nearest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunPlan {
    /// Input onto output grid.
    pub plan: Plan,
    /// The image's interpolation (scaling left to the run).
    pub image: ctprep_resample::Sampling,
    /// One-hot options for a label map, or `None`: nearest neighbour.
    pub label: Option<ctprep_resample::Sampling>,
    /// The scheme's separate axis (an input voxel axis), if any.
    pub separate: Option<usize>,
}

/// [`plan_grid`] with the interpolation: a scheme is planned on the input's own voxel axes (as
/// its tool does; the target spacing taken along the output axis each input axis becomes) and
/// its grid then reoriented with the rest.
pub fn plan_run(shape: [usize; 3], affine: &ctprep_core::Affine, input: &str, recipe: &Recipe) -> Result<RunPlan> {
    let grid_err = |why: String| PipelineError::Grid { input: input.to_owned(), why };
    let target: Option<AxCodes> = match recipe.get_orientation() {
        Orientation::Keep => None,
        Orientation::Canonical => Some(AxCodes::RAS),
        Orientation::Codes(c) => Some(c),
    };
    let reorientation = match target {
        None => None,
        Some(t) => {
            let codes = AxCodes::of_affine(affine).ok_or_else(|| {
                grid_err(format!(
                    "cannot reorient: the affine has a degenerate axis (axis codes {})",
                    ctprep_io::axcodes_string(affine)
                ))
            })?;
            Some(Reorientation::between(codes, t))
        }
    };
    let reorient = |shape: [usize; 3], affine: &ctprep_core::Affine| match &reorientation {
        None => (shape, *affine),
        Some(ro) => (ro.output_shape(shape), affine.matmul(&ro.inverse_index_map(shape))),
    };
    let (r_shape, r_affine) = reorient(shape, affine);
    let onehot = recipe.get_label_interp() == crate::recipe::LabelInterp::Onehot;
    if let Some(u) = recipe.get_scheme() {
        // The output axis each input axis becomes: the reoriented column that is ± its own.
        let lin = affine.linear();
        let rlin = r_affine.linear();
        let along = |a: usize| (0..3).find(|&k| (0..3).all(|r| rlin[r][k].abs() == lin[r][a].abs())).unwrap_or(a);
        let target_mm: [f64; 3] = std::array::from_fn(|a| recipe.get_spacing_mm()[along(a)]);
        let sp =
            ctprep_resample::plan_scheme(u.scheme, shape, affine, target_mm).map_err(|e| grid_err(e.to_string()))?;
        let plan = if u.grid {
            let (g_shape, g_affine) = reorient(sp.plan.grid.shape, &sp.plan.grid.affine);
            let mut plan = plan_like(shape, affine, ctprep_resample::Grid { shape: g_shape, affine: g_affine })
                .map_err(|e| grid_err(e.to_string()))?;
            // The scheme's own positions (scipy zoom's rounding), on the reoriented axes.
            plan.map.zoom = ctprep_resample::ZoomAxes::reoriented(sp.zoom, &plan.map, plan.grid.shape);
            plan
        } else {
            let grid = plan_spacing_with(
                r_shape,
                &r_affine,
                recipe.get_spacing_mm(),
                recipe.get_convention(),
                recipe.get_shear(),
            )
            .map_err(|e| grid_err(e.to_string()))?
            .grid;
            plan_like(shape, affine, grid).map_err(|e| grid_err(e.to_string()))?
        };
        let image = if u.image { sp.image } else { recipe.get_sampling() };
        return Ok(RunPlan { plan, image, label: onehot.then_some(sp.label), separate: sp.separate });
    }
    let grid =
        plan_spacing_with(r_shape, &r_affine, recipe.get_spacing_mm(), recipe.get_convention(), recipe.get_shear())
            .map_err(|e| grid_err(e.to_string()))?
            .grid;
    let plan = plan_like(shape, affine, grid).map_err(|e| grid_err(e.to_string()))?;
    // No mode: a label's outside is 0 (SimpleITK's rule), as with nearest.
    let label = onehot.then(ctprep_resample::Sampling::new);
    Ok(RunPlan { plan, image: recipe.get_sampling(), label, separate: None })
}

/// Whether two maps agree within 1e-9 voxels per output voxel (a label on its image's grid,
/// its affine as stored).
fn same_map(a: &ctprep_resample::VoxelMap, b: &ctprep_resample::VoxelMap) -> bool {
    (0..3).all(|r| (a.offset[r] - b.offset[r]).abs() <= 1e-9 * (1.0 + b.offset[r].abs()))
        && (0..3).all(|r| (0..3).all(|c| (a.linear[r][c] - b.linear[r][c]).abs() <= 1e-9))
}

/// Panels of the run's contact sheet.
const SHEET_ROWS: usize = 6;
const SHEET_COLS: usize = 6;

/// The run's contact sheet of `count` axial slices: `SHEET_ROWS x SHEET_COLS` slices spread
/// evenly, centred in their intervals, numbered; fewer slices than panels, as many full rows
/// as there are slices for.
fn sheet_options(count: usize) -> SheetOptions {
    let panels = SHEET_ROWS * SHEET_COLS;
    let every = (count / panels).max(1);
    let cols = SHEET_COLS.min(count);
    let rows = if count >= panels { SHEET_ROWS } else { (count / cols).max(1) };
    let start = (count - (rows * cols - 1) * every - 1) / 2;
    SheetOptions::new().rows(rows).cols(cols).start(start).every(every).numbers(true)
}

/// One PNG of the MIP, kept slice by slice as the MIP streams past.
struct Picture {
    product: Product,
    path: std::path::PathBuf,
    what: Shows,
    capture: Mutex<SliceCapture>,
}

/// What a [`Picture`] shows.
enum Shows {
    Slice(usize),
    Sheet(SheetOptions),
}

/// The PNGs asked for (values in [0, 1], 8-bit, radiological display orientation): the middle
/// slice of each plane (`<stem>_mip_axial.png`, ...) and the contact sheet of axial slices
/// (`<stem>_mip_sheet.png`).
fn pictures(shape: [usize; 3], affine: &ctprep_core::Affine, outputs: &Outputs, stem: &str) -> Result<Vec<Picture>> {
    let mut out = Vec::new();
    let image_err = |path: &std::path::Path, e: ctprep_render::RenderError| PipelineError::Image {
        path: path.to_owned(),
        why: e.to_string(),
    };
    for plane in Plane::ALL.into_iter().filter(|_| outputs.wants(Product::Png)) {
        let path = outputs.path_with(stem, Product::Png, plane.name());
        let middle = SliceLayout::new(shape, affine, plane).map_err(|e| image_err(&path, e))?.middle();
        let capture = SliceCapture::new(shape, affine, plane, &[middle]).map_err(|e| image_err(&path, e))?;
        out.push(Picture { product: Product::Png, path, what: Shows::Slice(middle), capture: Mutex::new(capture) });
    }
    if outputs.wants(Product::Sheet) {
        let path = outputs.path_with(stem, Product::Sheet, "axial");
        let count = SliceLayout::new(shape, affine, Plane::Axial).map_err(|e| image_err(&path, e))?.slice_count();
        let opts = sheet_options(count);
        let slices = opts.panel_slices(Plane::Axial, count).map_err(|e| image_err(&path, e))?;
        let capture = SliceCapture::new(shape, affine, Plane::Axial, &slices).map_err(|e| image_err(&path, e))?;
        out.push(Picture { product: Product::Sheet, path, what: Shows::Sheet(opts), capture: Mutex::new(capture) });
    }
    Ok(out)
}

impl Picture {
    /// The PNG, complete in a temporary file beside its path (placed with the other outputs).
    fn write(&self) -> Result<Completed> {
        let fail = |why: String| PipelineError::Image { path: self.path.clone(), why };
        let map = PixelMap::new();
        let capture = self.capture.lock().map_err(|_| fail("a slab worker panicked".to_owned()))?;
        let pixels = match &self.what {
            Shows::Slice(n) => map.apply(&capture.image(*n).map_err(|e| fail(e.to_string()))?),
            Shows::Sheet(opts) => capture.sheet(opts, &map).map_err(|e| fail(e.to_string()))?,
        };
        let bytes = encode_png(&pixels).map_err(|e| fail(e.to_string()))?;
        Completed::create(&self.path, |mut file| {
            use std::io::Write as _;
            file.write_all(&bytes).map_err(|e| fail(format!("cannot write: {e}")))
        })
    }
}

/// Stored output slices (along z) per slab of the streamed pipeline: each slab also computes
/// the `k - 1` slices around it that its MIP windows reach, so larger slabs redo less; smaller
/// ones touch less fresh memory (per worker two buffers of `SLAB + k - 1` planes), which costs
/// more than the redone slices. 16 was faster and smaller than 32 on the 512x512x300 run
/// (docs/PIPELINE.md). The slabs also set where `ctprep run`'s compressed pieces end, so
/// changing it changes its `.nii.gz` bytes (not their values).
pub const SLAB: usize = 16;

/// One slab of the streamed pipeline: windowed slices `z0..z1` (what it adds to the windowed
/// volume), the MIP outputs `j0..j1` anchored in them, and the windowed slices `lo..hi` those
/// outputs' windows reach (always covering `z0..z1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slab {
    z0: usize,
    z1: usize,
    j0: usize,
    j1: usize,
    lo: usize,
    hi: usize,
}

/// The slabs of `slab` slices covering `n` slices projected by `proj` (`m` outputs): every
/// output belongs to exactly one slab, in order.
fn slabs(n: usize, proj: &SlabProjection, m: usize, slab: usize) -> Vec<Slab> {
    let mut out = Vec::new();
    let mut j = 0;
    let slab = slab.max(1);
    for z0 in (0..n).step_by(slab) {
        let z1 = (z0 + slab).min(n);
        let j0 = j;
        while j < m && proj.anchor_slice(j) < z1 {
            j += 1;
        }
        let (mut lo, mut hi) = (z0, z1);
        for (s, e) in (j0..j).filter_map(|jj| proj.window(jj, n)) {
            (lo, hi) = (lo.min(s), hi.max(e + 1));
        }
        out.push(Slab { z0, z1, j0, j1: j, lo, hi });
    }
    out
}

/// A worker's buffers, reused from slab to slab: huge-page mappings sized for the largest slab,
/// so a worker faults its pages in once, a few hundred at most.
struct Scratch {
    /// The resampled slices `lo..hi` of a slab, then their sliding projection.
    a: Storage<f32>,
    /// The windowed slices.
    b: Storage<f32>,
    /// The slab's MIP outputs when they are not a contiguous part of the projection.
    gathered: Vec<f32>,
    /// The resampler's working planes and the projection's scratch rows, kept from slab to
    /// slab for the same reason as the buffers above.
    resampler: Resampler,
    projector: Projector,
}

/// The first stage of a slab: resampling onto the output grid (options with the input's
/// scaling), the output's slices resampled whole before the slabs ([`Pipeline::prepare`]), or
/// the input's own slices scaled to real values (`v * slope + inter` in `f64`, as
/// [`Volume::scaled_f32`]).
enum First<'a> {
    Resample { plan: &'a Plan, opts: Sampling, kernel: ctprep_core::Kernel },
    Whole { values: &'a [f32], kernel: &'a str },
    Scale(Option<ctprep_io::Scaling>),
}

impl First<'_> {
    /// The input slices that output slices `zs` read.
    fn needs(&self, zs: std::ops::Range<usize>) -> std::ops::Range<usize> {
        match self {
            First::Resample { plan, opts, kernel } => spline_input_slices_for(plan, opts, zs, *kernel),
            First::Whole { .. } => 0..0,
            First::Scale(_) => zs,
        }
    }
}

/// What [`Pipeline::prepare`] made of the input: maybe read whole, the resampling's options
/// (with the input's range when clipping), and the whole resampled output when the slabs cannot
/// resample alone.
struct Prepared {
    input: Opened,
    opts: Sampling,
    whole: Option<(Vec<f32>, String)>,
}

/// A one-layer label map that the slabs put on the output grid, slab by slab.
struct LabelJob<'a> {
    volume: &'a Volume,
    /// The label onto the whole output grid.
    plan: Plan,
    /// One-hot options, or `None`: nearest neighbour.
    onehot: Option<Sampling>,
    packer: Packer,
}

impl LabelJob<'_> {
    /// Packs into `piece` the label on output slices `z0..z1`, by nearest neighbour (0 outside):
    /// the values of the whole grid's resampling, wherever the slabs are cut. With `seen`, also
    /// keeps its captured slices and counts its values.
    fn slab(
        &self,
        z0: usize,
        z1: usize,
        kernel: Kernel,
        piece: &mut Piece,
        seen: Option<&LabelSeen>,
        input: &str,
    ) -> Result<()> {
        fn place<T: Voxel + Element>(
            job: &LabelJob<'_>,
            src: &[T],
            zs: std::ops::Range<usize>,
            kernel: Kernel,
            piece: &mut Piece,
            seen: Option<&LabelSeen>,
        ) -> std::result::Result<(), String> {
            let [mx, my, _] = job.plan.grid.shape;
            let z0 = zs.start;
            let mut out = vec![T::default(); zs.len() * mx * my];
            match &job.onehot {
                // Outside the input: 0 by SimpleITK's rule without a mode, else the mode's.
                Some(opts) => {
                    let fill = opts.get_mode().is_none().then(T::default);
                    ctprep_resample::resample_onehot_slices_into(src, &job.plan, opts, fill, zs, &mut out)
                }
                None => ctprep_resample::resample_nearest_slices_into(
                    src,
                    &job.plan,
                    Some(T::default()),
                    zs,
                    &mut out,
                    kernel,
                )
                .map(|_| ()),
            }
            .map_err(|e| e.to_string())?;
            if let Some(seen) = seen {
                for c in &seen.captures {
                    let mut c = c.lock().map_err(|_| "a slab worker panicked holding a lock".to_owned())?;
                    c.take_as(z0, &out, |v: T| v.to_f64() as f32).map_err(|e| e.to_string())?;
                }
                let mut counts = crate::report::Counts::default();
                counts.add_stored(&out);
                seen.counts.lock().map_err(|_| "a slab worker panicked holding a lock".to_owned())?.merge(counts);
            }
            job.packer.pack(&out, piece).map_err(|e| e.to_string())
        }
        ctprep_io::with_storage!(self.volume.data(), st => place(self, st.as_slice(), z0..z1, kernel, piece, seen))
            .map_err(|why| PipelineError::kernel(input, "label", why))
    }
}

/// The label map's slices kept for [`RunReport::views`] (in the views' order) and its values
/// counted, as the slabs pass.
struct LabelSeen {
    captures: Vec<Mutex<SliceCapture>>,
    counts: Mutex<crate::report::Counts>,
}

/// What one slab hands to the writer.
#[derive(Default)]
struct SlabOut {
    volume: Piece,
    mip: Piece,
    /// The label map on the slab's output slices `z0..z1`.
    label: Piece,
    /// The slab's values of each output when the writer packs them itself ([`Aligned`]).
    raw_volume: Vec<f32>,
    raw_mip: Vec<f32>,
    /// Thread time in resample, window, MIP, compression.
    cpu: [Duration; 4],
    /// Which kernels ran (resample, window, MIP).
    kernels: [String; 3],
    /// Where their kernel and threads came from.
    sources: [Source; 3],
    /// The slab's own output slices in HU, before the window.
    hu: WindowStats,
}

/// Everything the slab workers share.
struct Job<'a> {
    first: First<'a>,
    /// The output planes' shape.
    plane_shape: [usize; 2],
    /// Values per input slice.
    input_plane: usize,
    /// Slices of the input.
    input_slices: usize,
    window: Option<WindowMap>,
    /// The window whose clipping the slabs count, when they do.
    counted: Option<Window>,
    /// The projection run over each slab's slices: the run's alignment, `shrink` edges,
    /// stride 1 (its windows inside a slab are the whole volume's; see [`slabs`]).
    sub_proj: SlabProjection,
    proj: SlabProjection,
    /// Slices of the windowed volume.
    n: usize,
    plane: usize,
    /// Packers of the outputs each slab compresses itself.
    volume: Option<Packer>,
    mip: Option<Packer>,
    /// Outputs whose values each slab hands to the writer as they are.
    raw_volume: bool,
    raw_mip: bool,
    pictures: &'a [Picture],
    /// The windowed volume's slices kept for [`RunReport::views`].
    views: &'a [(Plane, usize, Mutex<SliceCapture>)],
    /// The label's, with its values counted.
    label_seen: Option<&'a LabelSeen>,
    /// The label map each slab puts on its output slices, when the run has one of one layer.
    label: Option<LabelJob<'a>>,
    /// Every stage's kernel, always on the calling (slab worker) thread.
    kernel: Exec,
    scratch: Mutex<Vec<Scratch>>,
    /// Values of each scratch buffer: the most slices a slab computes, times the plane.
    scratch_len: usize,
    input: &'a str,
}

impl Job<'_> {
    /// The error for a lock that a panicking worker left poisoned.
    fn poisoned(&self) -> PipelineError {
        PipelineError::Panicked {
            input: self.input.to_owned(),
            why: "a slab worker panicked holding a lock".to_owned(),
        }
    }

    /// Computes slab `s` from `src`, the input slices from `first` on (at least those the slab reads).
    fn compute<T: Voxel>(&self, src: &[T], first: usize, s: &Slab, out: &mut SlabOut) -> Result<()> {
        let popped = self.scratch.lock().map_err(|_| self.poisoned())?.pop();
        let mut scratch = match popped {
            Some(sc) => sc,
            None => {
                let zeroed = || {
                    Storage::zeroed(self.scratch_len)
                        .map_err(|e| PipelineError::read(self.input, format!("cannot allocate a slab buffer: {e}")))
                };
                Scratch {
                    a: zeroed()?,
                    b: zeroed()?,
                    gathered: Vec::new(),
                    resampler: Resampler::new(),
                    projector: Projector::new(),
                }
            }
        };
        let r = self.compute_with(src, first, s, out, &mut scratch);
        self.scratch.lock().map_err(|_| self.poisoned())?.push(scratch);
        r
    }

    fn compute_with<T: Voxel>(
        &self,
        src: &[T],
        first: usize,
        s: &Slab,
        out: &mut SlabOut,
        sc: &mut Scratch,
    ) -> Result<()> {
        let plane = self.plane;
        let input = self.input;
        let mut clock = Instant::now();
        let mut lap = |i: usize, out: &mut SlabOut| {
            let now = Instant::now();
            out.cpu[i] += now - clock;
            clock = now;
        };
        out.cpu = [Duration::ZERO; 4];
        let len = (s.hi - s.lo) * plane;
        let (mut a, mut b) = (&mut sc.a.make_mut()[..len], &mut sc.b.make_mut()[..len]);
        match &self.first {
            First::Resample { plan, opts, .. } => {
                let r = (sc.resampler.spline_slices_from(src, first, plan, opts, s.lo..s.hi, a, self.kernel))
                    .map_err(|e| PipelineError::kernel(input, "resample", e))?;
                out.kernels[0] = r.to_string();
                out.sources[0] = r.source;
            }
            First::Whole { values, kernel } => {
                a.copy_from_slice(&values[s.lo * plane..s.hi * plane]);
                out.kernels[0] = (*kernel).to_owned();
            }
            First::Scale(scaling) => {
                let from = &src[(s.lo - first) * plane..(s.hi - first) * plane];
                match scaling {
                    None => a.iter_mut().zip(from).for_each(|(o, v)| *o = v.to_f64() as f32),
                    Some(sc) => {
                        a.iter_mut().zip(from).for_each(|(o, v)| *o = (v.to_f64() * sc.slope + sc.inter) as f32)
                    }
                }
            }
        }
        lap(0, out);
        // The volume's values end in `a`; `b` is free for the projection.
        if let Some(w) = self.counted {
            out.hu = WindowStats::of(&a[(s.z0 - s.lo) * plane..(s.z1 - s.lo) * plane], w);
        }
        if let Some(w) = &self.window {
            let r = window_slice_into(&*a, &mut *b, w, self.kernel)
                .map_err(|e| PipelineError::kernel(input, "window", e))?;
            out.kernels[1] = r.to_string();
            out.sources[1] = r.source;
            std::mem::swap(&mut a, &mut b);
        }
        lap(1, out);
        if let Some(l) = &self.label {
            l.slab(s.z0, s.z1, self.kernel.kernel, &mut out.label, self.label_seen, input)?;
            lap(0, out);
        }
        let volume = &a[(s.z0 - s.lo) * plane..(s.z1 - s.lo) * plane];
        for (_, _, c) in self.views {
            let took = c.lock().map_err(|_| self.poisoned())?.take(s.z0, volume);
            took.map_err(|e| PipelineError::kernel(input, "views", e))?;
        }
        if let Some(p) = &self.volume {
            p.pack::<f32>(volume, &mut out.volume)?;
        } else if self.raw_volume {
            out.raw_volume.clear();
            out.raw_volume.extend_from_slice(volume);
        }
        lap(3, out);
        if self.mip.is_none() && !self.raw_mip && self.pictures.is_empty() {
            return Ok(());
        }
        let sub = [self.plane_shape[0], self.plane_shape[1], s.hi - s.lo];
        let (a, b) = (b, a);
        let r = (sc.projector.project_slice_into(b, sub, &self.sub_proj, a, self.kernel))
            .map_err(|e| PipelineError::kernel(input, "MIP", e))?;
        out.kernels[2] = r.to_string();
        out.sources[2] = r.source;
        // Output j is the sub-projection's slice at its anchor, or 0 where it has no window.
        let windows: Vec<Option<(usize, usize)>> = (s.j0..s.j1).map(|j| self.proj.window(j, self.n)).collect();
        let first = (s.j0 < s.j1).then(|| self.proj.anchor_slice(s.j0) - s.lo);
        let contiguous = self.proj.get_stride() == 1 && windows.iter().all(Option::is_some);
        let mip: &[f32] = match first {
            None => &[],
            Some(f) if contiguous => &a[f * plane..(f + s.j1 - s.j0) * plane],
            Some(_) => {
                sc.gathered.resize((s.j1 - s.j0) * plane, 0.0);
                for ((j, w), dst) in (s.j0..s.j1).zip(&windows).zip(sc.gathered.chunks_exact_mut(plane)) {
                    match w {
                        Some(_) => {
                            let f = self.proj.anchor_slice(j) - s.lo;
                            dst.copy_from_slice(&a[f * plane..(f + 1) * plane]);
                        }
                        None => dst.fill(0.0),
                    }
                }
                &sc.gathered
            }
        };
        for p in self.pictures {
            p.capture
                .lock()
                .map_err(|_| self.poisoned())?
                .take(s.j0, mip)
                .map_err(|e| PipelineError::Image { path: p.path.clone(), why: e.to_string() })?;
        }
        lap(2, out);
        if let Some(p) = &self.mip {
            p.pack::<f32>(mip, &mut out.mip)?;
        } else if self.raw_mip {
            out.raw_mip.clear();
            out.raw_mip.extend_from_slice(mip);
        }
        lap(3, out);
        Ok(())
    }

    /// Runs every batch of slabs (`batches`: ranges of `slabs`, one slab each unless
    /// `parallel`), each from its window of input slices from `feed`. In parallel the slabs of a
    /// batch run side by side on the rayon pool while the previous batch is handed to `sink`, in
    /// order; else one after another.
    fn run<T: Voxel + Element>(
        &self,
        feed: &mut Feed<'_, T>,
        slabs: &[Slab],
        batches: &[std::ops::Range<usize>],
        parallel: bool,
        mut sink: impl FnMut(&SlabOut) -> Result<()> + Send,
    ) -> Result<()> {
        use rayon::prelude::*;
        if !parallel {
            let mut out = SlabOut::default();
            for b in batches {
                let w = feed.next()?;
                for s in &slabs[b.clone()] {
                    self.compute(feed.slice(&w), w.first, s, &mut out)?;
                    sink(&out)?;
                }
                feed.give_back(w);
            }
            return Ok(());
        }
        let compute_batch = |b: &std::ops::Range<usize>, src: &[T], first: usize, outs: &mut Vec<SlabOut>| {
            let todo = &slabs[b.clone()];
            outs.resize_with(todo.len(), SlabOut::default);
            outs.par_iter_mut().zip(todo).try_for_each(|(out, s)| self.compute(src, first, s, out))
        };
        let (mut ready, mut next) = (Vec::new(), Vec::new());
        let Some(b0) = batches.first() else { return Ok(()) };
        let mut window = feed.next()?;
        compute_batch(b0, feed.slice(&window), window.first, &mut ready)?;
        for t in 1..=batches.len() {
            // The batch after the last computes nothing; it only lets the last one be written.
            let (b, w) = match batches.get(t) {
                Some(b) => (b.clone(), feed.next()?),
                None => (0..0, InputSlab::empty()),
            };
            feed.give_back(std::mem::replace(&mut window, w));
            let src = feed.slice(&window);
            let (written, computed) = rayon::join(
                || ready.iter().try_for_each(&mut sink),
                || compute_batch(&b, src, window.first, &mut next),
            );
            written?;
            computed?;
            std::mem::swap(&mut ready, &mut next);
        }
        Ok(())
    }
}

/// Input slices `first..first + len` of the volume for one batch of slabs: part of the whole
/// volume in memory, or a buffer filled by the reading thread.
struct InputSlab<T: Element> {
    first: usize,
    len: usize,
    buf: Option<Storage<T>>,
}

impl<T: Element> InputSlab<T> {
    fn empty() -> InputSlab<T> {
        InputSlab { first: 0, len: 0, buf: None }
    }
}

/// What the reading thread sends: the next batch's window, or why it stopped.
type Fed<T> = Result<InputSlab<T>>;

/// Where the batches' input slices come from.
enum Feed<'a, T: Element> {
    /// The whole volume, in memory.
    Whole { data: &'a [T], plane: usize },
    /// Windows read from the file batch by batch by [`read_windows`], on its own thread; used
    /// buffers go back to it.
    Read {
        rx: std::sync::mpsc::Receiver<Fed<T>>,
        free: std::sync::mpsc::Sender<Storage<T>>,
        plane: usize,
        /// The file, for errors.
        input: &'a str,
    },
}

impl<T: Element> Feed<'_, T> {
    /// The next batch's window.
    fn next(&mut self) -> Result<InputSlab<T>> {
        match self {
            Feed::Whole { data, plane } => Ok(InputSlab { first: 0, len: data.len() / (*plane).max(1), buf: None }),
            Feed::Read { rx, input, .. } => {
                rx.recv().map_err(|_| PipelineError::read(input, "the reading thread stopped"))?
            }
        }
    }

    /// The values of window `w`.
    fn slice<'s>(&'s self, w: &'s InputSlab<T>) -> &'s [T] {
        match (self, &w.buf) {
            (Feed::Whole { data, .. }, _) => data,
            (Feed::Read { plane, .. }, Some(b)) => &b.as_slice()[..w.len * plane],
            (Feed::Read { .. }, None) => &[],
        }
    }

    /// Hands a window's buffer back for reuse once its batch is done.
    fn give_back(&mut self, w: InputSlab<T>) {
        if let (Feed::Read { free, .. }, Some(b)) = (self, w.buf) {
            // The reading thread may have finished: then the buffer is simply dropped.
            let _ = free.send(b);
        }
    }
}

/// Buffers of windows in use at once: one computing, one ready, one being read.
const WINDOW_BUFFERS: usize = 3;

/// The reading thread: for each batch's input slices `needs[t]` (in order, never moving back),
/// a window holding them, sent on `tx`. The slices two windows share are copied from the last
/// one, the others read from the file exactly once, in order; the buffers are reused.
/// Afterwards the rest of the file is read, so a gzip trailer is checked. Returns the thread
/// time spent reading and copying.
fn read_windows<T: Element>(
    mut reader: SliceReader,
    needs: &[std::ops::Range<usize>],
    plane: usize,
    tx: std::sync::mpsc::SyncSender<Fed<T>>,
    free: std::sync::mpsc::Receiver<Storage<T>>,
) -> Duration {
    let mut busy = Duration::ZERO;
    let cap = needs.iter().map(|n| n.len()).max().unwrap_or(0) * plane;
    let input = reader.template().display_path().display().to_string();
    let mut made = 0;
    // Slices `carry_first..next` of the last window, which the next window starts with.
    let (mut carry, mut carry_first, mut next): (Vec<T>, usize, usize) = (Vec::new(), 0, 0);
    for (t, need) in needs.iter().enumerate() {
        if need.is_empty() {
            if tx.send(Ok(InputSlab::empty())).is_err() {
                return busy;
            }
            continue;
        }
        let mut buf = if made < WINDOW_BUFFERS {
            made += 1;
            match Storage::<T>::zeroed(cap) {
                Ok(b) => b,
                Err(e) => {
                    let _ = tx.send(Err(PipelineError::read(&input, format!("cannot allocate an input buffer: {e}"))));
                    return busy;
                }
            }
        } else {
            match free.recv() {
                Ok(b) => b,
                Err(_) => return busy,
            }
        };
        let clock = Instant::now();
        let filled = (|| -> Result<()> {
            // Windows never move back (`worth_streaming`): what they share is in `carry`.
            if need.end < next || (need.start < next && need.start < carry_first) {
                return Err(PipelineError::read(
                    &input,
                    format!("input windows {need:?} out of order after slices up to {next}"),
                ));
            }
            let dst = &mut buf.make_mut()[..need.len() * plane];
            let kept = if need.start < next {
                let from = need.start - carry_first;
                let kept = &carry[from * plane..];
                dst[..kept.len()].copy_from_slice(kept);
                next - need.start
            } else {
                0
            };
            // Slices no batch reads, then the new ones.
            let mut skip = need.start.saturating_sub(next);
            while skip > 0 {
                let n = skip.min(need.len());
                reader.read_slices(&mut dst[..n * plane])?;
                skip -= n;
            }
            reader.read_slices(&mut dst[kept * plane..])?;
            next = need.end;
            // What the next non-empty window shares with this one.
            let after = needs[t + 1..].iter().find(|n| !n.is_empty()).map_or(next, |n| n.start.max(need.start));
            carry_first = after.min(next);
            carry.clear();
            carry.extend_from_slice(&dst[(carry_first - need.start) * plane..]);
            Ok(())
        })();
        busy += clock.elapsed();
        let window = filled.map(|()| InputSlab { first: need.start, len: need.len(), buf: Some(buf) });
        let stop = window.is_err();
        if tx.send(window).is_err() || stop {
            return busy;
        }
    }
    let clock = Instant::now();
    if let Err(e) = reader.finish() {
        let _ = tx.send(Err(e.into()));
    }
    busy + clock.elapsed()
}

/// The batches of `slabs` (`per` slabs each) and the input slices each batch reads.
fn batches(
    slabs: &[Slab],
    per: usize,
    first: &First<'_>,
) -> (Vec<std::ops::Range<usize>>, Vec<std::ops::Range<usize>>) {
    let per = per.max(1);
    let ranges: Vec<_> = (0..slabs.len()).step_by(per).map(|b| b..(b + per).min(slabs.len())).collect();
    let needs = ranges
        .iter()
        .map(|r| {
            let (mut lo, mut hi) = (usize::MAX, 0);
            for s in &slabs[r.clone()] {
                let n = first.needs(s.lo..s.hi);
                if !n.is_empty() {
                    (lo, hi) = (lo.min(n.start), hi.max(n.end));
                }
            }
            if lo < hi { lo..hi } else { 0..0 }
        })
        .collect();
    (ranges, needs)
}

/// Whether reading the input slab by slab pays for the batches' windows `needs` of the `nz`
/// input slices: they can be read in one pass (none starts or ends before the one before),
/// and the window buffers with the slices two windows share hold no more than the whole
/// volume would.
fn worth_streaming(needs: &[std::ops::Range<usize>], nz: usize) -> bool {
    let longest = needs.iter().map(|n| n.len()).max().unwrap_or(0);
    if longest * (WINDOW_BUFFERS + 1) > nz {
        return false;
    }
    let mut last = 0..0;
    for n in needs.iter().filter(|n| !n.is_empty()) {
        if n.start < last.start || n.end < last.end {
            return false;
        }
        last = n.clone();
    }
    true
}

/// [`Job::run`] with the batches' input slices read from `reader` on a thread of its own, ahead
/// of the slabs; returns that thread's busy time. The reading thread stops when the run stops
/// early (its channels close), and its last word, the check of the file's end, is awaited.
fn run_read<T: Voxel + Element>(
    job: &Job<'_>,
    reader: SliceReader,
    slabs: &[Slab],
    ranges: &[std::ops::Range<usize>],
    needs: &[std::ops::Range<usize>],
    parallel: bool,
    sink: impl FnMut(&SlabOut) -> Result<()> + Send,
) -> Result<Duration> {
    let plane = job.input_plane;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Fed<T>>(1);
        let (free, free_rx) = std::sync::mpsc::channel();
        let reading = scope.spawn(move || read_windows::<T>(reader, needs, plane, tx, free_rx));
        let mut feed = Feed::Read { rx, free, plane, input: job.input };
        let mut r = job.run(&mut feed, slabs, ranges, parallel, sink);
        if let (Ok(()), Feed::Read { rx, .. }) = (&r, &feed) {
            // After the last window: an error at the end of the file, or the channel closing.
            if let Ok(Err(e)) = rx.recv() {
                r = Err(e);
            }
        }
        drop(feed);
        let busy = reading.join().map_err(|p| {
            PipelineError::read(job.input, format!("the reading thread panicked: {}", panic_message(&*p)))
        })?;
        r.map(|()| busy)
    })
}

/// Compares `label`'s grid with the image's: the report of a label that can be placed, else
/// [`PipelineError::LabelNotPlaceable`].
fn check_label(label: &LabelInput, image: GridInfo, image_name: &str, plan: &Plan) -> Result<LabelReport> {
    let v = &label.volume;
    let lgrid = GridInfo { shape: v.spatial_shape(), affine: *v.affine() };
    let alignment = crate::align::compare(&image, &lgrid, label.tolerance_mm);
    if !alignment.can_be_placed() {
        return Err(PipelineError::LabelNotPlaceable {
            label: label.name.clone(),
            image: image_name.to_owned(),
            why: alignment.differences.join("; "),
        });
    }
    let mut output_shape = plan.grid.shape.to_vec();
    output_shape.extend_from_slice(&v.shape()[3.min(v.shape().len())..]);
    Ok(LabelReport {
        input: label.name.clone(),
        input_shape: v.shape().to_vec(),
        alignment,
        output_shape,
        dtype: v.dtype(),
    })
}

/// A label map to put on a run's output grid ([`Pipeline::run_with_label`]). Read whole (label
/// maps are small and compress well); placed slab by slab in the run's streamed pass.
#[derive(Debug)]
pub struct LabelInput {
    volume: Volume,
    name: String,
    tolerance_mm: f64,
}

impl LabelInput {
    /// The label map in `path` (NIfTI or NRRD, a layered `.seg.nrrd` too), read whole.
    pub fn path(path: impl AsRef<std::path::Path>) -> Result<LabelInput> {
        let path = path.as_ref();
        Ok(LabelInput::volume(read_volume(path)?, path.display().to_string()))
    }

    /// A label map in memory named `name` in reports and errors.
    pub fn volume(volume: Volume, name: impl Into<String>) -> LabelInput {
        LabelInput { volume, name: name.into(), tolerance_mm: crate::align::DEFAULT_TOLERANCE_MM }
    }

    /// How far (mm) its voxel centres may lie from the image's for the grids to count as the
    /// same (default 0.01).
    pub fn tolerance_mm(mut self, mm: f64) -> LabelInput {
        self.tolerance_mm = mm;
        self
    }
}

/// The pipeline's input.
#[derive(Debug)]
#[non_exhaustive]
pub enum Input {
    /// A file (`.nii`, `.nii.gz`, `.hdr`/`.img`): its header is read first, then its voxels slab
    /// by slab on a thread of their own as the slabs need them (so the input is never held
    /// whole), or all at once when that does not pay: the output's slabs do not follow the
    /// file's slice order (the output's z axis is not the file's, or runs the other way), or
    /// even a batch of one slab would need more than a quarter of the file.
    Path(std::path::PathBuf),
    /// A file whose header has been read ([`SliceReader::open`]).
    Reader(SliceReader),
    /// A volume in memory, with the name reports give it.
    Volume {
        /// The volume (3-D, scaling and affine as read).
        volume: Volume,
        /// Its name in reports and errors.
        name: String,
    },
}

impl Input {
    /// A file.
    pub fn path(path: impl Into<std::path::PathBuf>) -> Input {
        Input::Path(path.into())
    }

    /// A volume in memory named `name` in reports and errors.
    pub fn volume(volume: Volume, name: impl Into<String>) -> Input {
        Input::Volume { volume, name: name.into() }
    }
}

/// How a run executes: the kernels, the slab workers, the progress display. The recipe and the
/// outputs say what it computes; these choices never change a byte of the outputs.
#[derive(Clone, Copy)]
pub struct Pipeline<'p> {
    exec: Exec,
    slab_slices: usize,
    progress: &'p dyn Progress,
}

impl std::fmt::Debug for Pipeline<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("exec", &self.exec).field("slab_slices", &self.slab_slices).finish()
    }
}

impl Default for Pipeline<'_> {
    fn default() -> Self {
        Pipeline::new()
    }
}

impl<'p> Pipeline<'p> {
    /// The defaults: `auto` kernels, one slab per thread of the current rayon pool, slabs of
    /// [`SLAB`] output slices, no progress display.
    pub fn new() -> Pipeline<'static> {
        Pipeline { exec: Exec::new(), slab_slices: SLAB, progress: &NoProgress }
    }

    /// The kernel of every stage (default [`Kernel::Auto`]). Each runs on its slab's worker
    /// alone: the slabs are the parallelism.
    pub fn kernel(mut self, kernel: Kernel) -> Self {
        self.exec.kernel = kernel;
        self
    }

    /// The slab workers (default [`Threads::Auto`]: one per thread of the current rayon pool;
    /// `One`: every slab on the calling thread; `Count(n)`: batches of n slabs on the current
    /// pool).
    pub fn threads(mut self, threads: Threads) -> Self {
        self.exec.threads = threads;
        self
    }

    /// Both knobs at once.
    pub fn exec(mut self, exec: Exec) -> Self {
        self.exec = exec;
        self
    }

    /// The slab workers: how many slabs run side by side.
    fn workers(&self) -> usize {
        self.exec.threads.resolve(usize::MAX, rayon::current_num_threads()).max(1)
    }

    /// Output slices per slab (default [`SLAB`]; at least the MIP's thickness is used).
    pub fn slab_slices(mut self, slices: usize) -> Self {
        self.slab_slices = slices.max(1);
        self
    }

    /// Where progress goes (default nowhere).
    pub fn progress<'q>(self, progress: &'q dyn Progress) -> Pipeline<'q> {
        Pipeline { exec: self.exec, slab_slices: self.slab_slices, progress }
    }

    /// Runs `recipe` on `input`, writing `outputs`: every output complete before any is at its
    /// path, and none left behind by a failed run.
    pub fn run(&self, input: Input, recipe: &Recipe, outputs: &Outputs) -> Result<RunReport> {
        self.run_with_label(input, None, recipe, outputs)
    }

    /// [`Pipeline::run`] with a label map: checked against the input's grid first (refused with
    /// [`PipelineError::LabelNotPlaceable`] when it does not overlap it; [`RunReport::label`]
    /// says how it differed otherwise), then put on the run's output grid by nearest neighbour,
    /// its stored type and layers kept, and written as `<stem>_label.nii.gz` with the other
    /// outputs (never windowed or projected).
    pub fn run_with_label(
        &self,
        input: Input,
        label: Option<LabelInput>,
        recipe: &Recipe,
        outputs: &Outputs,
    ) -> Result<RunReport> {
        let t_all = Instant::now();
        recipe.check()?;
        let input = open(input)?;
        let stem = match (outputs.get_stem(), &input) {
            (Some(s), _) => s.to_owned(),
            (None, Opened::File(r, _)) => stem_of(&r.template().display_path()),
            (None, Opened::Whole(..)) => "ct".to_owned(),
        };
        let existed = outputs.dir().exists();
        let mut report = self.run_opened(input, label, &stem, recipe, outputs).inspect_err(|_| {
            // A folder this failed run created is removed again when it is still empty.
            if !existed {
                let _ = std::fs::remove_dir(outputs.dir());
            }
        })?;
        report.timings.total = t_all.elapsed();
        Ok(report)
    }

    fn run_opened(
        &self,
        input: Opened,
        label: Option<LabelInput>,
        stem: &str,
        recipe: &Recipe,
        outputs: &Outputs,
    ) -> Result<RunReport> {
        let mut timings = Timings::default();
        std::fs::create_dir_all(outputs.dir())
            .map_err(|source| PipelineError::OutputDir { path: outputs.dir().to_owned(), source })?;
        // What a killed run left behind in this folder.
        ctprep_io::remove_stale_temporaries(outputs.dir());
        if let Opened::File(_, read) = &input {
            timings.read = *read;
        }
        let input_name = input.name();
        let (input_shape, affine, scaling) = match &input {
            Opened::Whole(v, _) => (v.dims3()?, *v.affine(), v.scaling()),
            Opened::File(r, _) => (r.dims3()?, *r.affine(), r.scaling()),
        };
        let run_plan = plan_run(input_shape, &affine, &input_name, recipe)?;
        let plan = run_plan.plan;
        let out_shape = plan.grid.shape;
        let scaling = scaling.map_or((1.0, 0.0), |s| (s.slope, s.inter));
        let t_prepare = Instant::now();
        let prepared = self.prepare(input, &plan, run_plan.image.scaling(scaling.0, scaling.1))?;
        if prepared.whole.is_some() || prepared.opts.get_clip() {
            timings.read += t_prepare.elapsed();
        }
        let input = prepared.input;
        let meta = input.meta();
        let k = match recipe.get_mip() {
            MipSize::Slices(k) => k,
            MipSize::Mm(mm) => SlabProjection::slices_for_mm(mm, plan.output_spacing()[2])
                .map_err(|e| PipelineError::Recipe(format!("MIP thickness {mm} mm: {e}")))?,
        };
        let (align, edges) = (recipe.get_mip_align(), recipe.get_mip_edges());
        // Thicker than the volume can use is the same projection (`for_slices`), at no cost.
        let proj = SlabProjection::new(k)
            .axis(Axis3::Z)
            .reduce(Reduce::Max)
            .align(align)
            .edges(edges)
            .for_slices(out_shape[2]);
        let k_used = proj.k();
        let m = proj.output_len(out_shape[2]).map_err(|e| PipelineError::kernel(&input_name, "MIP", e))?;
        let mip_shape = [out_shape[0], out_shape[1], m];
        let mip_affine = proj.output_affine(&plan.grid.affine);

        let wopts = WriteOptions::new().gzip_level(outputs.get_gzip_level());
        let path_of = |p: Product| outputs.path_with(stem, p, "axial");
        // The label first: one that cannot be placed fails the run before any work. A label of
        // one layer is placed slab by slab with the other outputs; the layers of a layered one
        // follow each other in its file, so it is placed whole.
        let image_grid = GridInfo { shape: input_shape, affine };
        let mut label_stream: Option<NiftiStream> = None;
        let mut label_volume: Option<Volume> = None;
        let (label_file, label_report) = match label {
            Some(l) if l.volume.volume_count() > 1 && run_plan.label.is_some() => {
                return Err(PipelineError::Recipe(format!(
                    "{}: a layered label map ({} layers) is placed by nearest neighbour; one-hot placement takes a label map of one layer",
                    l.name,
                    l.volume.volume_count()
                )));
            }
            Some(l) if l.volume.volume_count() > 1 => {
                let (file, report) =
                    self.place_label(l, image_grid, &input_name, &plan, &path_of(Product::Label), &wopts)?;
                (Some(file), Some(report))
            }
            Some(l) => {
                let report = check_label(&l, image_grid, &input_name, &plan)?;
                let out_shape3 = plan.grid.shape;
                let mut shape = out_shape3.to_vec();
                shape.extend_from_slice(&l.volume.shape()[3.min(l.volume.shape().len())..]);
                // A one-voxel template of the label's type, header and scaling.
                let one = ctprep_io::with_dtype!(l.volume.dtype(), T => VoxelData::from_vec(vec![T::default()]));
                let mut template = l.volume.derived(one, &[1, 1, 1], *l.volume.affine())?;
                if let Some(sc) = l.volume.scaling() {
                    template = template.with_scaling(sc.slope, sc.inter)?;
                }
                label_stream =
                    Some(NiftiStream::create(&template, &shape, plan.grid.affine, path_of(Product::Label), &wopts)?);
                label_volume = Some(l.volume);
                (None, Some(report))
            }
            None => (None, None),
        };
        // A template for the outputs' headers.
        let template = meta.derived(VoxelData::from_vec(vec![0f32]), &[1, 1, 1], plan.grid.affine)?;
        let stream = |p: Product, shape: &[usize], affine| -> Result<_, ctprep_io::Error> {
            outputs.wants(p).then(|| NiftiStream::create(&template, shape, affine, path_of(p), &wopts)).transpose()
        };
        let mut volume = stream(Product::Volume, &out_shape, plan.grid.affine)?;
        let mut mip = stream(Product::Mip, &mip_shape, mip_affine)?;
        let pictures = pictures(mip_shape, &mip_affine, outputs, stem)?;
        let mut views = Vec::new();
        for plane in Plane::ALL.into_iter().filter(|_| outputs.get_views()) {
            let fail = |e: ctprep_render::RenderError| PipelineError::kernel(&input_name, "views", e);
            let middle = SliceLayout::new(out_shape, &plan.grid.affine, plane).map_err(fail)?.middle();
            let capture = SliceCapture::new(out_shape, &plan.grid.affine, plane, &[middle]).map_err(fail)?;
            views.push((plane, middle, Mutex::new(capture)));
        }

        let workers = self.workers();
        // At least k slices per slab, so a slab never computes more than about twice its own
        // slices, however thick the MIP.
        let slabs = slabs(out_shape[2], &proj, m, self.slab_slices.max(k_used));
        let label_job = match (&label_volume, &label_stream) {
            (Some(volume), Some(stream)) => {
                let mut label_plan = plan_like(volume.spatial_shape(), volume.affine(), plan.grid)
                    .map_err(|e| PipelineError::Grid { input: input_name.clone(), why: e.to_string() })?;
                if label_plan.input_shape == plan.input_shape && same_map(&label_plan.map, &plan.map) {
                    // A label on the image's grid takes the image's positions (a scheme's exact ones).
                    label_plan.map = plan.map;
                }
                Some(LabelJob { volume, plan: label_plan, onehot: run_plan.label, packer: stream.packer() })
            }
            _ => None,
        };
        let label_seen = match (&label_job, views.is_empty()) {
            (Some(_), false) => {
                let mut captures = Vec::new();
                for (plane, slice, _) in &views {
                    let c = SliceCapture::new(out_shape, &plan.grid.affine, *plane, &[*slice])
                        .map_err(|e| PipelineError::kernel(&input_name, "views", e))?;
                    captures.push(Mutex::new(c));
                }
                Some(LabelSeen { captures, counts: Mutex::new(crate::report::Counts::default()) })
            }
            _ => None,
        };
        let job = Job {
            label: label_job,
            first: match &prepared.whole {
                Some((values, kernel)) => First::Whole { values, kernel },
                None => First::Resample { plan: &plan, opts: prepared.opts, kernel: self.exec.kernel },
            },
            plane_shape: [out_shape[0], out_shape[1]],
            input_plane: input_shape[0] * input_shape[1],
            input_slices: input_shape[2],
            counted: Some(recipe.get_window()),
            window: Some(
                WindowMap::new(recipe.get_window(), Range::UNIT, None)
                    .map_err(|e| PipelineError::kernel(&input_name, "window", e))?,
            ),
            sub_proj: SlabProjection::new(k_used).axis(Axis3::Z).reduce(Reduce::Max).align(align),
            proj,
            n: out_shape[2],
            plane: out_shape[0] * out_shape[1],
            volume: volume.as_ref().map(NiftiStream::packer),
            mip: mip.as_ref().map(NiftiStream::packer),
            raw_volume: false,
            raw_mip: false,
            pictures: &pictures,
            views: &views,
            label_seen: label_seen.as_ref(),
            // The slabs are the parallelism: each kernel runs on its slab's worker alone.
            kernel: self.exec.threads(Threads::One),
            scratch: Mutex::new(Vec::new()),
            scratch_len: slabs.iter().map(|s| s.hi - s.lo).max().unwrap_or(0) * out_shape[0] * out_shape[1],
            input: &input_name,
        };
        // Batches of one slab per worker: the batch being written holds its compressed pieces,
        // so fewer in flight means less fresh memory. A file is read slab by slab when that
        // pays; with many workers, batches shrink until it does.
        let mut cpu = [Duration::ZERO; 6];
        let mut hu = WindowStats::default();
        let mut kernels: Option<([String; 3], [Source; 3])> = None;
        let shown = std::sync::OnceLock::new();
        let sink = |out: &SlabOut| -> Result<()> {
            let t = Instant::now();
            for (stream, piece) in [(&mut volume, &out.volume), (&mut mip, &out.mip), (&mut label_stream, &out.label)] {
                if let Some(s) = stream {
                    s.append(piece)?;
                }
            }
            for (c, d) in cpu.iter_mut().zip(out.cpu) {
                *c += d;
            }
            cpu[4] += t.elapsed();
            kernels.get_or_insert_with(|| (out.kernels.clone(), out.sources));
            hu.merge(&out.hu);
            if let Some(s) = shown.get() {
                Shown::advance(s);
            }
            Ok(())
        };
        let driven = self.drive(&job, input, &slabs, workers, &mut timings, &shown, sink)?;
        let (read_mode, read_cpu, t_stream) = driven;
        cpu[5] += read_cpu;
        // Every output complete before any is at its path: a failure leaves none of them.
        let t = Instant::now();
        let mut done = Vec::new();
        for (product, s) in [(Product::Volume, volume), (Product::Mip, mip), (Product::Label, label_stream)] {
            if let Some(s) = s {
                done.push((product, path_of(product), s.complete()?));
            }
        }
        cpu[4] += t.elapsed();
        timings.stream = t_stream.elapsed();
        drop(shown.into_inner());
        let ([resample, window, mip_kernel], [resample_source, window_source, mip_source]) =
            kernels.unwrap_or_default();

        let mut written: Vec<Written> = Vec::new();
        let mut files: Vec<Completed> = Vec::new();
        if !pictures.is_empty() {
            let _shown = Shown::start(self.progress, Stage::Png, None);
            let t = Instant::now();
            for p in &pictures {
                files.push(p.write()?);
                written.push(Written { product: p.product, path: p.path.clone() });
            }
            timings.png = t.elapsed();
        }
        for (product, path, file) in done {
            files.push(file);
            written.push(Written { product, path });
        }
        if let Some(file) = label_file {
            written.push(Written { product: Product::Label, path: file.path().to_owned() });
            files.push(file);
        }
        drop(label_volume);
        // All outputs appear together, or none do and the earlier ones stay.
        ctprep_io::persist_all(files)?;
        written.sort_by_key(|w| w.product);
        let poisoned = || PipelineError::Panicked {
            input: input_name.clone(),
            why: "a slab worker panicked holding a lock".to_owned(),
        };
        let (label_captures, label_values) = match label_seen {
            Some(seen) => (
                seen.captures.into_iter().map(Some).collect(),
                seen.counts.into_inner().map_err(|_| poisoned())?.values(),
            ),
            None => (views.iter().map(|_| None).collect::<Vec<_>>(), None),
        };
        let mut kept = Vec::new();
        for ((plane, slice, c), l) in views.into_iter().zip(label_captures) {
            let image = c.into_inner().map_err(|_| poisoned())?.image(slice);
            let image = image.map_err(|e| PipelineError::kernel(&input_name, "views", e))?;
            let labels = match l {
                Some(l) => {
                    let g = l.into_inner().map_err(|_| poisoned())?.image(slice);
                    let g = g.map_err(|e| PipelineError::kernel(&input_name, "views", e))?;
                    let values = g.values.iter().map(|&v| v as i64).collect();
                    Some(ctprep_render::Labels { width: g.width, height: g.height, values })
                }
                None => None,
            };
            kept.push(crate::report::View { plane, slice, image, labels });
        }
        let views = kept;
        let [resample_cpu, window_cpu, mip_cpu, compress, write, read] = cpu;
        Ok(RunReport {
            input: input_name,
            input_shape,
            input_affine: affine,
            output_shape: out_shape,
            output_affine: plan.grid.affine,
            output_spacing_mm: plan.output_spacing(),
            axcodes: ctprep_io::axcodes_string(&plan.grid.affine),
            convention: recipe.grid_convention(),
            window: [recipe.get_window().lo(), recipe.get_window().hi()],
            mip_shape,
            mip_affine,
            mip_slices: k,
            mip_align: align,
            mip_edges: edges,
            read: read_mode,
            kernels: StageKernels {
                sources: StageSources {
                    resample: resample_source,
                    window: window_source,
                    mip: (!mip_kernel.is_empty()).then_some(mip_source),
                },
                resample,
                window,
                mip: (!mip_kernel.is_empty()).then_some(mip_kernel),
            },
            workers,
            timings,
            cpu: CpuTimes { resample: resample_cpu, window: window_cpu, mip: mip_cpu, compress, write, read },
            outputs: written,
            label: label_report,
            hu,
            views,
            label_values,
        })
    }
    /// Checks `label` against the image grid, puts it on the output grid of `plan` by nearest
    /// neighbour (outside the label: 0) and writes it, not yet in place, to `path`.
    fn place_label(
        &self,
        label: LabelInput,
        image: GridInfo,
        image_name: &str,
        plan: &Plan,
        path: &std::path::Path,
        wopts: &WriteOptions,
    ) -> Result<(Completed, LabelReport)> {
        let report = check_label(&label, image, image_name, plan)?;
        let LabelInput { volume, name, .. } = label;
        let lgrid = GridInfo { shape: volume.spatial_shape(), affine: *volume.affine() };
        let lplan = plan_like(lgrid.shape, &lgrid.affine, plan.grid)
            .map_err(|e| PipelineError::Grid { input: name.clone(), why: e.to_string() })?;
        let layers = volume.volume_count();
        let (n_in, n_out) = (lgrid.shape.iter().product::<usize>(), plan.output_len());
        let exec = self.exec;
        fn place<T: Voxel + Element>(
            src: &[T],
            plan: &Plan,
            layers: usize,
            (n_in, n_out): (usize, usize),
            exec: Exec,
        ) -> std::result::Result<VoxelData, String> {
            let mut out = vec![T::default(); n_out * layers];
            for (s, d) in src.chunks_exact(n_in).zip(out.chunks_exact_mut(n_out)) {
                ctprep_resample::resample_nearest_slice_into(s, plan, Some(T::default()), d, exec)
                    .map_err(|e| e.to_string())?;
            }
            Ok(VoxelData::from_vec(out))
        }
        let data =
            ctprep_io::with_storage!(volume.data(), st => place(st.as_slice(), &lplan, layers, (n_in, n_out), exec))
                .map_err(|why| PipelineError::kernel(&name, "resample", why))?;
        let mut shape = plan.grid.shape.to_vec();
        shape.extend_from_slice(&volume.shape()[3.min(volume.shape().len())..]);
        let mut placed = volume.derived(data, &shape, plan.grid.affine)?;
        if let Some(sc) = volume.scaling() {
            placed = placed.with_scaling(sc.slope, sc.inter)?;
        }
        let mut stream = NiftiStream::create(&placed, &shape, plan.grid.affine, path, wopts)?;
        let packer = stream.packer();
        // Pieces of 4 MiB compressed side by side, appended in order.
        fn pack_all<T: Element>(values: &[T], packer: &Packer) -> Result<Vec<Piece>, ctprep_io::Error> {
            use rayon::prelude::*;
            let chunks: Vec<&[T]> = values.chunks(((4 << 20) / size_of::<T>()).max(1)).collect();
            let mut pieces: Vec<Piece> = Vec::new();
            pieces.resize_with(chunks.len(), Piece::default);
            pieces.par_iter_mut().zip(chunks).try_for_each(|(piece, chunk)| packer.pack(chunk, piece))?;
            Ok(pieces)
        }
        let pieces = ctprep_io::with_storage!(placed.data(), st => pack_all(st.as_slice(), &packer))?;
        for p in &pieces {
            stream.append(p)?;
        }
        let file = stream.complete()?;
        Ok((file, report))
    }

    /// Runs `job` over `slabs` from `input` on `workers` slab workers, each finished slab handed
    /// to `sink` in order: the file read slab by slab on a thread of its own when that pays (with
    /// many workers, batches shrink until it does), else read whole first (added to
    /// `timings.read`). `shown` gets the stream's progress display once it starts. Returns how
    /// the input was read, the reading thread's busy time and when the stream started.
    #[allow(clippy::too_many_arguments)]
    fn drive<'s>(
        &'s self,
        job: &Job<'_>,
        mut input: Opened,
        slabs: &[Slab],
        workers: usize,
        timings: &mut Timings,
        shown: &std::sync::OnceLock<Shown<'s>>,
        sink: impl FnMut(&SlabOut) -> Result<()> + Send,
    ) -> Result<(ReadMode, Duration, Instant)> {
        let parallel = workers > 1;
        let nz = job.input_slices;
        let mut per = workers;
        let (mut ranges, mut needs) = batches(slabs, per, &job.first);
        if matches!(input, Opened::File(..)) {
            while per > 1 && !worth_streaming(&needs, nz) {
                per /= 2;
                (ranges, needs) = batches(slabs, per, &job.first);
            }
        }
        if let Opened::File(r, _) = &input
            && !worth_streaming(&needs, nz)
        {
            let _shown = Shown::start(self.progress, Stage::Read, None);
            let t = Instant::now();
            let v = r.read_whole()?;
            // The file read again: the plan was made from the header read first.
            let same = v.shape() == r.shape()
                && v.dtype() == r.dtype()
                && v.affine() == r.affine()
                && format!("{:?}", v.scaling()) == format!("{:?}", r.scaling());
            if !same {
                return Err(PipelineError::read(job.input, "the file changed while it was being read"));
            }
            timings.read += t.elapsed();
            input = Opened::Whole(v, job.input.to_owned());
        }
        let _ = shown.set(Shown::start(self.progress, Stage::Stream, Some(slabs.len() as u64)));
        let t_stream = Instant::now();
        let read_mode = match &input {
            Opened::File(r, _) => ReadMode::Streamed(r.decoding()),
            Opened::Whole(..) => ReadMode::Whole,
        };
        let read_cpu = match input {
            Opened::Whole(v, _) => {
                ctprep_io::with_storage!(v.data(), st => {
                    let mut feed = Feed::Whole { data: st.as_slice(), plane: job.input_plane };
                    job.run(&mut feed, slabs, &ranges, parallel, sink)
                })?;
                Duration::ZERO
            }
            Opened::File(r, _) => {
                ctprep_io::with_dtype!(r.dtype(), T => run_read::<T>(job, r, slabs, &ranges, &needs, parallel, sink))?
            }
        };
        Ok((read_mode, read_cpu, t_stream))
    }
}

/// An input ready to run: a file whose header has been read (and the time that took), or a
/// volume in memory and its name.
enum Opened {
    File(SliceReader, Duration),
    Whole(Volume, String),
}

/// Runs `recipe` on `input` with the default [`Pipeline`] (auto kernels, the current rayon
/// pool, no progress display), writing `outputs`.
pub fn run(input: Input, recipe: &Recipe, outputs: &Outputs) -> Result<RunReport> {
    Pipeline::new().run(input, recipe, outputs)
}

/// Voxel bytes per independently compressed gzip piece of a `.nii.gz` written whole by
/// [`ctprep_io::write_nifti`]: [`Aligned`] cuts its stream at the same places, so a streamed
/// file is byte for byte the one written whole.
const PIECE_BYTES: usize = ctprep_gzip::PIECE_BYTES;

/// A `.nii`/`.nii.gz` written while its values arrive in slabs of any size, cut into the
/// pieces [`ctprep_io::write_nifti`] cuts the whole volume into (every [`PIECE_BYTES`] from the
/// first voxel), a batch of pieces compressed in parallel at a time: the file is the one
/// `write_nifti` writes for the same volume. Holds at most a batch of pieces.
struct Aligned<T: Element> {
    stream: NiftiStream,
    packer: Packer,
    pending: Vec<T>,
    pieces: Vec<Piece>,
    /// Values per piece, and pieces per batch.
    piece: usize,
    batch: usize,
}

impl<T: Element> Aligned<T> {
    fn new(stream: NiftiStream) -> Aligned<T> {
        let packer = stream.packer();
        let batch = 4 * rayon::current_num_threads().max(1);
        let piece = PIECE_BYTES / std::mem::size_of::<T>();
        Aligned { stream, packer, pending: Vec::new(), pieces: Vec::new(), piece, batch }
    }

    /// The next values of the volume, in file order.
    fn push(&mut self, values: &[T]) -> Result<()> {
        self.pending.extend_from_slice(values);
        if self.pending.len() >= self.batch * self.piece {
            self.flush(false)?;
        }
        Ok(())
    }

    /// Compresses and writes the whole pieces pending (and the last, partial one with `all`).
    fn flush(&mut self, all: bool) -> Result<()> {
        use rayon::prelude::*;
        let whole = if all { self.pending.len() } else { self.pending.len() / self.piece * self.piece };
        let chunks: Vec<&[T]> = self.pending[..whole].chunks(self.piece).collect();
        self.pieces.resize_with(chunks.len(), Piece::default);
        let packer = &self.packer;
        self.pieces.par_iter_mut().zip(chunks).try_for_each(|(p, c)| packer.pack::<T>(c, p))?;
        for p in &self.pieces {
            self.stream.append(p)?;
        }
        self.pending.drain(..whole);
        Ok(())
    }

    fn complete(mut self) -> Result<ctprep_io::Completed> {
        self.flush(true)?;
        Ok(self.stream.complete()?)
    }
}

/// Values per slab buffer of a standalone stage: 32 MiB of float32, the size of `ctprep run`'s
/// 16 slices of a 700 x 700 plane. Every slab in flight holds a few such buffers (two working
/// ones, its output on the way to the writer), so this bounds the memory of a resampling to a
/// huge grid, whatever its planes.
const SLAB_VALUES: usize = 8 << 20;

/// What a standalone stage ([`Pipeline::resample_to`], [`Pipeline::project_to`]) wrote.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StageReport {
    /// The input's name.
    pub input: String,
    /// The input's shape.
    pub input_shape: [usize; 3],
    /// The output's shape.
    pub output_shape: [usize; 3],
    /// The output's affine.
    pub output_affine: ctprep_core::Affine,
    /// How the input was read.
    pub read: ReadMode,
    /// The kernel of the stage (its report, as text).
    pub kernel: String,
    /// Slabs computed side by side.
    pub workers: usize,
    /// Wall times (`png` is zero).
    pub timings: Timings,
    /// The file written.
    pub output: std::path::PathBuf,
}

/// Whether [`Pipeline::project_to`] streams `proj`: along z, by max or min (a mean's running
/// sums depend on where they start, so a slab's would differ in the last bits from the whole
/// volume's). Other projections read the input whole and hold the output whole.
pub fn projection_streams(proj: &SlabProjection) -> bool {
    proj.get_axis() == Axis3::Z && matches!(proj.get_reduce(), Reduce::Max | Reduce::Min)
}

impl Pipeline<'_> {
    /// Resamples `input` onto the grid of `plan` (made for this input) with `opts` (trilinear,
    /// B-spline orders, boundary mode, fill; the input's scaling is applied here) straight from
    /// the stored type, and writes the float32 result to `output` (`.nii` or `.nii.gz`, gzip
    /// `level`), slab by slab: the bytes of `ctprep_io::write_nifti` of the whole result, in
    /// the memory of `run` (a few slabs of output slices and the input's windows, or the whole
    /// input when its slices do not follow the output's z). B-splines onto a grid that is not
    /// axis-aligned, and clipping to the input's range, read the input whole first.
    pub fn resample_to(
        &self,
        input: Input,
        plan: &Plan,
        opts: &Sampling,
        output: &std::path::Path,
        level: u32,
    ) -> Result<StageReport> {
        let t_all = Instant::now();
        let opened = open(input)?;
        let (scaling, _) = opened.scaling_shape()?;
        let opts = opts.scaling(scaling.map_or(1.0, |s| s.slope), scaling.map_or(0.0, |s| s.inter));
        let t_prepare = Instant::now();
        let prepared = self.prepare(opened, plan, opts)?;
        let prepare = t_prepare.elapsed();
        let first = match &prepared.whole {
            Some((values, kernel)) => First::Whole { values, kernel },
            None => First::Resample { plan, opts: prepared.opts, kernel: self.exec.kernel },
        };
        let mut r = self.stream_one(prepared.input, first, None, plan.grid.shape, plan.grid.affine, output, level)?;
        // Reading the input whole and resampling it before the slabs counts as reading.
        r.timings.read += prepare;
        r.timings.total = t_all.elapsed();
        Ok(r)
    }

    /// Readies B-spline resampling that slabs cannot do alone: onto a grid that is not
    /// axis-aligned (its general path prefilters the whole input), the output is resampled
    /// whole here; clipping to the input's range needs that range, found here. Both read the
    /// input whole. Plain trilinear and axis-aligned B-splines without clipping stream as they
    /// are, anti-aliased ones too (each slab smooths the slices it reads).
    fn prepare(&self, input: Opened, plan: &Plan, opts: Sampling) -> Result<Prepared> {
        // Clipping (skimage's rules need the whole output's range for constant mode, and each
        // input slice's range per slice) is done whole too. So are the oracle and a wrapping
        // z (cubic, or smoothed), whose slabs would each read every slice.
        let wraps = opts.get_mode() == Some(ctprep_resample::Mode::Wrap);
        let every_slice = self.exec.kernel == ctprep_core::Kernel::Scalar
            || (wraps && (opts.get_orders()[2] == 3 || opts.get_antialias()));
        let general = !opts.is_trilinear() && (!plan.map.is_diagonal() || opts.get_clip() || every_slice);
        let clip = opts.get_clip() && opts.get_input_range().is_none();
        if !general && !clip {
            return Ok(Prepared { input, opts, whole: None });
        }
        let name = input.name();
        let volume = match input {
            Opened::Whole(v, _) => v,
            Opened::File(r, _) => r.read_whole()?,
        };
        let mut opts = opts;
        if clip {
            let range =
                ctprep_io::with_storage!(volume.data(), st => ctprep_resample::real_range(st.as_slice(), &opts));
            opts = opts.input_range(range);
        }
        let whole = if general {
            let mut out = vec![0f32; plan.output_len()];
            let exec = self.exec;
            let report = ctprep_io::with_storage!(volume.data(), st => ctprep_resample::resample_spline_slice_into(st.as_slice(), plan, &opts, &mut out, exec))
                .map_err(|e| PipelineError::kernel(&name, "resample", e))?;
            Some((out, report.to_string()))
        } else {
            None
        };
        Ok(Prepared { input: Opened::Whole(volume, name), opts, whole })
    }

    /// Projects `input`'s real values by `proj` and writes the float32 result to `output`
    /// (`.nii` or `.nii.gz`, gzip `level`): slab by slab when [`projection_streams`] (in the
    /// memory of `run`), else an error (project the volume whole with
    /// `ctprep_projection::project_slice_into`).
    pub fn project_to(
        &self,
        input: Input,
        proj: &SlabProjection,
        output: &std::path::Path,
        level: u32,
    ) -> Result<StageReport> {
        let t_all = Instant::now();
        if !projection_streams(proj) {
            return Err(PipelineError::Recipe(format!(
                "a {} projection along {:?} does not stream: project the volume whole",
                proj.get_reduce(),
                proj.get_axis()
            )));
        }
        let opened = open(input)?;
        let (scaling, shape) = opened.scaling_shape()?;
        let name = opened.name();
        let m = proj.output_len(shape[2]).map_err(|e| PipelineError::kernel(&name, "MIP", e))?;
        let affine = proj.output_affine(&opened.affine());
        let mut r =
            self.stream_one(opened, First::Scale(scaling), Some(proj), [shape[0], shape[1], m], affine, output, level)?;
        r.timings.total = t_all.elapsed();
        Ok(r)
    }

    /// Windows `input`'s real values by `map` (made with the input's scaling, see
    /// `ctprep_intensity::WindowMap::for_output`) into stored type `O` and writes the result
    /// to `output` (`.nii` or `.nii.gz`, gzip `level`), a few slices at a time straight from
    /// the file: the bytes of `ctprep_io::write_nifti` of the whole result, holding about
    /// 4 MiB of pieces per thread and as many input slices.
    pub fn window_to<O: Output + Element>(
        &self,
        input: Input,
        map: &WindowMap,
        output: &std::path::Path,
        level: u32,
    ) -> Result<StageReport> {
        let t_all = Instant::now();
        let mut timings = Timings::default();
        let opened = open(input)?;
        let name = opened.name();
        let (_, shape) = opened.scaling_shape()?;
        let affine = opened.affine();
        let template = opened.meta().derived(VoxelData::from_vec(vec![O::default()]), &[1, 1, 1], affine)?;
        let stream = NiftiStream::create(&template, &shape, affine, output, &WriteOptions::new().gzip_level(level))?;
        let mut aligned = Aligned::<O>::new(stream);
        let plane = shape[0] * shape[1];
        // Slices per step: a batch of pieces' worth of values, at least one slice.
        let per = (aligned.batch * aligned.piece / plane.max(1)).max(1);
        let steps = shape[2].div_ceil(per);
        let shown = Shown::start(self.progress, Stage::Stream, Some(steps as u64));
        let t_stream = Instant::now();
        let mut kernel = String::new();
        let mut out: Vec<O> = Vec::new();
        let read = match opened {
            Opened::File(mut r, t) => {
                timings.read = t;
                ctprep_io::with_dtype!(r.dtype(), T => {
                    let mut buf: Vec<T> = Vec::new();
                    for z in (0..shape[2]).step_by(per) {
                        let n = per.min(shape[2] - z) * plane;
                        buf.resize(n, T::default());
                        r.read_slices(&mut buf)?;
                        out.resize(n, O::default());
                        let rep = window_slice_into(&buf, &mut out, map, self.exec)
                            .map_err(|e| PipelineError::kernel(&name, "window", e))?;
                        kernel = rep.to_string();
                        aligned.push(&out)?;
                        shown.advance();
                    }
                });
                let decoding = r.decoding();
                r.finish()?;
                ReadMode::Streamed(decoding)
            }
            Opened::Whole(v, _) => {
                ctprep_io::with_storage!(v.data(), st => {
                    for chunk in st.as_slice().chunks(per * plane) {
                        out.resize(chunk.len(), O::default());
                        let rep = window_slice_into(chunk, &mut out, map, self.exec)
                            .map_err(|e| PipelineError::kernel(&name, "window", e))?;
                        kernel = rep.to_string();
                        aligned.push(&out)?;
                        shown.advance();
                    }
                });
                ReadMode::Whole
            }
        };
        aligned.complete()?.persist()?;
        timings.stream = t_stream.elapsed();
        drop(shown);
        timings.total = t_all.elapsed();
        Ok(StageReport {
            input: name,
            input_shape: shape,
            output_shape: shape,
            output_affine: affine,
            read,
            kernel,
            workers: 1,
            timings,
            output: output.to_owned(),
        })
    }

    /// One stage streamed from `input` to one file: `first` (resampling or the scaled input)
    /// and, with `proj`, its projection along z.
    #[allow(clippy::too_many_arguments)]
    fn stream_one(
        &self,
        input: Opened,
        first: First<'_>,
        proj: Option<&SlabProjection>,
        out_shape: [usize; 3],
        out_affine: ctprep_core::Affine,
        output: &std::path::Path,
        level: u32,
    ) -> Result<StageReport> {
        let mut timings = Timings::default();
        let name = input.name();
        let (_, input_shape) = input.scaling_shape()?;
        if let Opened::File(_, t) = &input {
            timings.read = *t;
        }
        // The volume before any projection: the grid resampled onto, or the input's.
        let n = match &first {
            First::Resample { plan, .. } => plan.grid.shape[2],
            First::Whole { values, .. } => values.len() / (out_shape[0] * out_shape[1]).max(1),
            First::Scale(_) => input_shape[2],
        };
        let (k, sub_proj, whole_proj) = match proj.map(|p| p.for_slices(n)) {
            Some(p) => {
                (p.k(), SlabProjection::new(p.k()).axis(Axis3::Z).reduce(p.get_reduce()).align(p.get_align()), p)
            }
            None => (1, SlabProjection::new(1), SlabProjection::new(1)),
        };
        let m = whole_proj.output_len(n).map_err(|e| PipelineError::kernel(&name, "MIP", e))?;
        let template = input.meta().derived(VoxelData::from_vec(vec![0f32]), &[1, 1, 1], out_affine)?;
        let stream =
            NiftiStream::create(&template, &out_shape, out_affine, output, &WriteOptions::new().gzip_level(level))?;
        let mut aligned = Aligned::<f32>::new(stream);
        let workers = self.workers();
        let plane_shape = [out_shape[0], out_shape[1]];
        // Slabs of at most SLAB_VALUES values (fewer slices of large planes: the file's bytes do
        // not depend on where slabs end here), but never thinner than the projection.
        let per_slab = (SLAB_VALUES / (plane_shape[0] * plane_shape[1]).max(1)).clamp(1, self.slab_slices);
        let slabs = slabs(n, &whole_proj, m, per_slab.max(k));
        let job = Job {
            label: None,
            first,
            plane_shape,
            input_plane: input_shape[0] * input_shape[1],
            input_slices: input_shape[2],
            window: None,
            counted: None,
            sub_proj,
            proj: whole_proj,
            n,
            plane: plane_shape[0] * plane_shape[1],
            volume: None,
            mip: None,
            raw_volume: proj.is_none(),
            raw_mip: proj.is_some(),
            pictures: &[],
            views: &[],
            label_seen: None,
            kernel: self.exec.threads(Threads::One),
            scratch: Mutex::new(Vec::new()),
            scratch_len: slabs.iter().map(|s| s.hi - s.lo).max().unwrap_or(0) * plane_shape[0] * plane_shape[1],
            input: &name,
        };
        let mut kernel: Option<String> = None;
        let shown = std::sync::OnceLock::new();
        let projects = proj.is_some();
        let sink = |out: &SlabOut| -> Result<()> {
            aligned.push(if projects { &out.raw_mip } else { &out.raw_volume })?;
            kernel.get_or_insert_with(|| out.kernels[if projects { 2 } else { 0 }].clone());
            if let Some(s) = shown.get() {
                Shown::advance(s);
            }
            Ok(())
        };
        let (read, _, t_stream) = self.drive(&job, input, &slabs, workers, &mut timings, &shown, sink)?;
        aligned.complete()?.persist()?;
        timings.stream = t_stream.elapsed();
        drop(shown.into_inner());
        Ok(StageReport {
            input: name,
            input_shape,
            output_shape: out_shape,
            output_affine: out_affine,
            read,
            kernel: kernel.unwrap_or_default(),
            workers,
            timings,
            output: output.to_owned(),
        })
    }
}

/// Opens `input`: a file's header is read (and the time it took kept).
fn open(input: Input) -> Result<Opened> {
    Ok(match input {
        Input::Path(p) if crate::input::is_dicom_input(&p) => {
            // A DICOM series: every file's header read (its slices' order along the normal is
            // known only then), its slices decoded as the slabs need them.
            let t = Instant::now();
            match crate::input::pipeline_input(&p, &crate::input::DicomOptions::default())?.0 {
                Input::Reader(r) => Opened::File(r, t.elapsed()),
                Input::Volume { volume, name } => Opened::Whole(volume, name),
                Input::Path(_) => unreachable!("a DICOM input opens as a reader"),
            }
        }
        Input::Path(p) => {
            let t = Instant::now();
            let r = SliceReader::open(&p).map_err(crate::input::with_dicom)?;
            Opened::File(r, t.elapsed())
        }
        Input::Reader(r) => Opened::File(r, Duration::ZERO),
        Input::Volume { volume, name } => Opened::Whole(volume, name),
    })
}

impl Opened {
    fn meta(&self) -> &Volume {
        match self {
            Opened::File(r, _) => r.template(),
            Opened::Whole(v, _) => v,
        }
    }

    fn name(&self) -> String {
        match self {
            Opened::File(r, _) => r.template().display_path().display().to_string(),
            Opened::Whole(_, name) => name.clone(),
        }
    }

    fn affine(&self) -> ctprep_core::Affine {
        *self.meta().affine()
    }

    fn scaling_shape(&self) -> Result<(Option<ctprep_io::Scaling>, [usize; 3])> {
        Ok(match self {
            Opened::File(r, _) => (r.scaling(), r.dims3()?),
            Opened::Whole(v, _) => (v.scaling(), v.dims3()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctprep_projection::{Align, Edges};

    /// Every output slice of the whole volume belongs to one slab, in order, and each slab's
    /// computed slices cover the windows of its outputs.
    #[test]
    fn slabs_partition_the_outputs() {
        for n in [1, 2, 7, 33, 64] {
            for k in [1, 2, 5, 40] {
                for align in [Align::Start, Align::Centre] {
                    for edges in [Edges::Shrink, Edges::Valid, Edges::Zero] {
                        let proj = SlabProjection::new(k).align(align).edges(edges);
                        let Ok(m) = proj.output_len(n) else { continue };
                        for slab in [1, 3, 32] {
                            let all = slabs(n, &proj, m, slab);
                            assert_eq!(all.first().map(|s| (s.z0, s.j0)), Some((0, 0)));
                            assert_eq!(all.last().map(|s| (s.z1, s.j1)), Some((n, m)));
                            for w in all.windows(2) {
                                assert_eq!((w[0].z1, w[0].j1), (w[1].z0, w[1].j0), "{n} {k} {align} {edges} {slab}");
                            }
                            for s in &all {
                                assert!(s.lo <= s.z0 && s.z1 <= s.hi && s.hi <= n);
                                for j in s.j0..s.j1 {
                                    let a = proj.anchor_slice(j);
                                    assert!(s.z0 <= a && a < s.z1);
                                    if let Some((lo, hi)) = proj.window(j, n) {
                                        assert!(s.lo <= lo && hi < s.hi, "{n} {k} {align} {edges} {slab} j {j}");
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
