//! `ctprep run`: the whole classic recipe, made correct: read, reorient (as a resampling
//! grid, never a copy), resample, window, thick-slab MIP, and the outputs (NIfTI volumes, PNG
//! slices and a contact sheet of the MIP).
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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use ctprep_core::{Exec, Threads, Voxel};
use ctprep_intensity::{Range, Window, WindowMap, window_slice_into};
use ctprep_io::{
    AxCodes, Element, NiftiStream, Packer, Piece, PixelMap, Plane, Reorientation, SheetOptions, SliceCapture,
    SliceLayout, SliceReader, Storage, Volume, VoxelData, WriteOptions, read_nifti, write_png,
};
use ctprep_projection::{Align, Axis3, Edges, Projector, Reduce, SlabProjection};
use ctprep_resample::{GridConvention, Plan, Resampler, Trilinear, input_slices_for, plan_like, plan_spacing};
use serde::Serialize;

use crate::commands::{AxcodesArg, CmdResult, UsageError, parse_axcodes};
use crate::progress::Stage;
use crate::resample::{ConventionArg, parse_spacing};
use crate::window::parse_pair;

/// Options of `ctprep run`. Every option left out takes the default of `--preset` (the
/// corrected recipe unless `--preset classic`).
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Input CT (.nii, .nii.gz, .hdr or .img): a 3-D volume in HU (scl_slope/scl_inter
    /// applied). Never modified.
    input: PathBuf,
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// `classic`: the classic Python recipe exactly (axcodes keep, grid seed, window
    /// -100..1000, MIP of 5 slices with start alignment and the last 5 slices left 0). Any other
    /// name is a window preset (lung, mediastinum, soft-tissue, bone, brain, liver, stroke,
    /// classic-window) applied to the corrected recipe.
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
    /// Voxel axis order of the outputs: canonical (closest to RAS; default), keep, or three
    /// letters (LPS, PIR, ...). Done by resampling onto the reoriented grid: no extra copy.
    #[arg(long, value_parser = parse_axcodes)]
    axcodes: Option<AxcodesArg>,
    /// Target spacing in mm along the output's voxel axes: one number or SX,SY,SZ (default 1).
    #[arg(long, value_name = "MM", value_parser = parse_spacing)]
    spacing: Option<[f64; 3]>,
    /// Grid convention of the resampling (default first-centre; see `ctprep resample --help`).
    #[arg(long, value_enum)]
    convention: Option<ConventionArg>,
    /// The HU window LO,HI mapped to [0, 1] (default -100,1000).
    #[arg(long, value_parser = parse_pair, allow_hyphen_values = true, value_name = "LO,HI")]
    window: Option<(f64, f64)>,
    /// MIP slab thickness in slices along the output's z axis (default 5).
    #[arg(long, value_name = "K", conflicts_with = "mip_mm")]
    mip: Option<usize>,
    /// MIP slab thickness in mm: round(MM / spacing), at least 1.
    #[arg(long, value_name = "MM")]
    mip_mm: Option<f64>,
    /// MIP window alignment: centre (default: slice i is the MIP of the slab centred on it) or
    /// start (slices i..i+k-1, the classic recipe).
    #[arg(long)]
    mip_align: Option<Align>,
    /// MIP ends: shrink (default: slabs truncated at the ends), valid (full slabs only) or zero
    /// (the classic recipe: slabs reaching the last slice are 0).
    #[arg(long)]
    mip_edges: Option<Edges>,
    /// What to write into DIR, comma-separated: volume (the windowed volume), mip (the MIP
    /// volume), png (the MIP's middle axial, coronal and sagittal slices), sheet (a contact
    /// sheet of the MIP's axial slices). Default: all four.
    #[arg(long, value_delimiter = ',', value_parser = ["volume", "mip", "png", "sheet"])]
    save: Option<Vec<String>>,
    /// gzip level of the .nii.gz outputs (0-9).
    #[arg(long, default_value_t = ctprep_io::DEFAULT_GZIP_LEVEL, value_parser = clap::value_parser!(u32).range(0..=9))]
    gzip_level: u32,
    /// Kernel and threads of every stage (the slabs run side by side on the threads, each stage
    /// of a slab on one).
    #[command(flatten)]
    pub(crate) exec: crate::commands::ExecArgs,
    /// Print one JSON object on stdout: stage timings, chosen variants, output paths.
    #[arg(long)]
    json: bool,
}

/// The resolved settings of a run.
#[derive(Clone, Debug)]
pub(crate) struct Recipe {
    pub(crate) axcodes: AxcodesArg,
    pub(crate) spacing: [f64; 3],
    pub(crate) convention: GridConvention,
    pub(crate) window: Window,
    pub(crate) mip: MipSize,
    pub(crate) align: Align,
    pub(crate) edges: Edges,
    pub(crate) save: Vec<String>,
}

/// The MIP thickness as given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum MipSize {
    Slices(usize),
    Mm(f64),
}

impl RunArgs {
    /// No input, every option left out: [`RunArgs::recipe`] gives the corrected recipe.
    pub(crate) fn defaults() -> RunArgs {
        RunArgs {
            input: PathBuf::new(),
            out: PathBuf::new(),
            preset: None,
            axcodes: None,
            spacing: None,
            convention: None,
            window: None,
            mip: None,
            mip_mm: None,
            mip_align: None,
            mip_edges: None,
            save: None,
            gzip_level: ctprep_io::DEFAULT_GZIP_LEVEL,
            exec: crate::commands::ExecArgs::default(),
            json: false,
        }
    }

    /// The settings: the preset's, overridden by every option given.
    pub(crate) fn recipe(&self) -> Result<Recipe, UsageError> {
        let classic = self.preset.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("classic"));
        let preset_window = match &self.preset {
            Some(p) if !classic => Some(Window::preset(p).map_err(|e| UsageError(format!("--preset {p}: {e}")))?),
            _ => None,
        };
        if preset_window.is_some() && self.window.is_some() {
            return Err(UsageError("--window and a window --preset conflict: give one".to_owned()));
        }
        let window = match (self.window, preset_window) {
            (Some((lo, hi)), _) => Window::new(lo, hi).map_err(|e| UsageError(format!("--window: {e}")))?,
            (None, Some(w)) => w,
            (None, None) => Window::new(-100.0, 1000.0).map_err(|e| UsageError(e.to_string()))?,
        };
        let mip = match (self.mip, self.mip_mm) {
            (Some(0), _) => return Err(UsageError("--mip must be at least 1".to_owned())),
            (Some(k), _) => MipSize::Slices(k),
            (None, Some(mm)) if mm.is_finite() && mm > 0.0 => MipSize::Mm(mm),
            (None, Some(mm)) => return Err(UsageError(format!("--mip-mm {mm}: must be positive and finite"))),
            (None, None) => MipSize::Slices(5),
        };
        let save = self.save.clone().unwrap_or_else(|| ["volume", "mip", "png", "sheet"].map(String::from).to_vec());
        Ok(Recipe {
            axcodes: self.axcodes.unwrap_or(if classic { AxcodesArg::Keep } else { AxcodesArg::Canonical }),
            spacing: self.spacing.unwrap_or([1.0; 3]),
            convention: self
                .convention
                .map_or(if classic { GridConvention::Seed } else { GridConvention::FirstCentre }, GridConvention::from),
            window,
            mip,
            align: self.mip_align.unwrap_or(if classic { Align::Start } else { Align::Centre }),
            edges: self.mip_edges.unwrap_or(if classic { Edges::Zero } else { Edges::Shrink }),
            save,
        })
    }
}

/// `--json` output.
#[derive(Debug, Serialize)]
pub(crate) struct RunJson {
    input: String,
    input_shape: [usize; 3],
    output_shape: [usize; 3],
    output_spacing_mm: [f64; 3],
    axcodes: String,
    convention: &'static str,
    window: [f64; 2],
    mip_slices: usize,
    mip_align: String,
    mip_edges: String,
    variants: BTreeMap<&'static str, String>,
    /// Wall time per step: read, stream (resample, window, MIP and compression, slab by slab),
    /// png, total.
    pub(crate) timings_s: BTreeMap<&'static str, f64>,
    /// Thread time summed over the slabs, per stage of the stream: resample, window, mip,
    /// compress, write (appending to the files, on the writing thread); and read, the reading
    /// thread's (decoding the input slab by slab; 0 when it was read whole).
    cpu_s: BTreeMap<&'static str, f64>,
    pub(crate) outputs: BTreeMap<&'static str, Vec<String>>,
}

/// The output grid: the input grid (`shape`, `affine`) reoriented (geometry only) to the
/// target axis codes, then planned for the target spacing; the plan maps the input's own voxels
/// onto it.
pub(crate) fn plan_grid(
    shape: [usize; 3],
    affine: &ctprep_core::Affine,
    input: &str,
    recipe: &Recipe,
) -> Result<Plan, Box<dyn std::error::Error>> {
    let target: Option<AxCodes> = match recipe.axcodes {
        AxcodesArg::Keep => None,
        AxcodesArg::Canonical => Some(AxCodes::RAS),
        AxcodesArg::Codes(c) => Some(c),
    };
    let (r_shape, r_affine) = match target {
        None => (shape, *affine),
        Some(t) => {
            let codes = AxCodes::of_affine(affine).ok_or_else(|| {
                format!(
                    "{input}: cannot reorient: the affine has a degenerate axis (axis codes {})",
                    ctprep_io::axcodes_string(affine)
                )
            })?;
            let ro = Reorientation::between(codes, t);
            (ro.output_shape(shape), affine.matmul(&ro.inverse_index_map(shape)))
        }
    };
    let grid =
        plan_spacing(r_shape, &r_affine, recipe.spacing, recipe.convention).map_err(|e| format!("{input}: {e}"))?.grid;
    Ok(plan_like(shape, affine, grid).map_err(|e| format!("{input}: {e}"))?)
}

/// The file name stem of the input: `ct` for `ct.nii.gz`.
fn stem(p: &Path) -> String {
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "ct".to_owned());
    for ext in [".nii.gz", ".nii", ".hdr", ".img"] {
        if let Some(s) = name.strip_suffix(ext) {
            return s.to_owned();
        }
    }
    name
}

/// File name suffixes of the NIfTI outputs, after `<stem>_`.
const VOLUME_SUFFIX: &str = "window.nii.gz";
const MIP_SUFFIX: &str = "mip.nii.gz";

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
    kind: &'static str,
    path: PathBuf,
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
fn pictures(
    shape: [usize; 3],
    affine: &ctprep_core::Affine,
    dir: &Path,
    stem: &str,
    png: bool,
    sheet: bool,
) -> Result<Vec<Picture>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for plane in Plane::ALL.into_iter().filter(|_| png) {
        let middle = SliceLayout::new(shape, affine, plane)?.middle();
        out.push(Picture {
            kind: "png",
            path: dir.join(format!("{stem}_mip_{}.png", plane.name())),
            what: Shows::Slice(middle),
            capture: Mutex::new(SliceCapture::new(shape, affine, plane, &[middle])?),
        });
    }
    if sheet {
        let count = SliceLayout::new(shape, affine, Plane::Axial)?.slice_count();
        let opts = sheet_options(count);
        let slices = opts.panel_slices(Plane::Axial, count)?;
        out.push(Picture {
            kind: "sheet",
            path: dir.join(format!("{stem}_mip_sheet.png")),
            what: Shows::Sheet(opts),
            capture: Mutex::new(SliceCapture::new(shape, affine, Plane::Axial, &slices)?),
        });
    }
    Ok(out)
}

impl Picture {
    fn write(&self) -> Result<(), Box<dyn std::error::Error>> {
        let map = PixelMap::new();
        let capture = self.capture.lock().map_err(|_| "a slab worker panicked")?;
        let pixels = match &self.what {
            Shows::Slice(n) => map.apply(&capture.image(*n)?),
            Shows::Sheet(opts) => capture.sheet(opts, &map)?,
        };
        write_png(&self.path, &pixels)?;
        Ok(())
    }
}

/// How a pipeline run writes and reports.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) out: PathBuf,
    pub(crate) stem: String,
    pub(crate) gzip_level: u32,
    pub(crate) exec: Exec,
    /// The input's name in reports, when it is not a file (the demo's phantom).
    pub(crate) label: Option<String>,
}

pub(crate) fn run(args: &RunArgs) -> CmdResult {
    let recipe = args.recipe()?;
    let settings = Settings {
        out: args.out.clone(),
        stem: stem(&args.input),
        gzip_level: args.gzip_level,
        exec: args.exec.exec(),
        label: None,
    };
    for p in [
        settings.out.join(format!("{}_{VOLUME_SUFFIX}", settings.stem)),
        settings.out.join(format!("{}_{MIP_SUFFIX}", settings.stem)),
    ] {
        crate::commands::check_output_path(&args.input, &p)?;
    }
    let stage = Stage::start("read");
    let reader = SliceReader::open(&args.input)?;
    let read = stage.finish();
    let mut doc = pipeline(Input::File(reader), &recipe, &settings)?;
    *doc.timings_s.entry("read").or_default() += read.as_secs_f64();
    *doc.timings_s.entry("total").or_default() += read.as_secs_f64();
    if args.json {
        println!("{}", serde_json::to_string(&doc)?);
    } else {
        print!("{}", doc.summary());
    }
    Ok(())
}

impl RunJson {
    /// The human-readable report.
    pub(crate) fn summary(&self) -> String {
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

/// Stored output slices (along z) per slab of the streamed pipeline: each slab also computes
/// the `k - 1` slices around it that its MIP windows reach, so larger slabs redo less; smaller
/// ones touch less fresh memory (per worker two buffers of `SLAB + k - 1` planes, 13 MB each for
/// a 400 x 400 plane and k = 5), which costs more than the redone slices on these VMs. On the
/// 512x512x300 phantom, eight interleaved runs each: 16 slices 0.68-0.86 s (median 0.785 s,
/// 233 MB peak RSS), 32 slices 0.65-1.01 s (median 0.90 s, 285 MB).
pub(crate) const SLAB: usize = 16;

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

/// What one slab hands to the writer.
#[derive(Default)]
struct SlabOut {
    volume: Piece,
    mip: Piece,
    /// Thread time in resample, window, MIP, compression.
    cpu: [Duration; 4],
    /// Which kernels ran (resample, window, MIP).
    kernels: [String; 3],
}

/// Everything the slab workers share.
struct Job<'a> {
    plan: &'a Plan,
    opts: Trilinear,
    window: WindowMap,
    /// The projection run over each slab's slices: the run's alignment, `shrink` edges,
    /// stride 1 (its windows inside a slab are the whole volume's; see [`slabs`]).
    sub_proj: SlabProjection,
    proj: SlabProjection,
    /// Slices of the windowed volume.
    n: usize,
    plane: usize,
    volume: Option<Packer>,
    mip: Option<Packer>,
    pictures: &'a [Picture],
    /// Every stage's kernel, always on the calling (slab worker) thread.
    kernel: Exec,
    scratch: Mutex<Vec<Scratch>>,
    /// Values of each scratch buffer: the most slices a slab computes, times the plane.
    scratch_len: usize,
    input: &'a str,
}

impl Job<'_> {
    /// Computes slab `s` from `src`, the input slices from `first` on (at least those the slab reads).
    fn compute<T: Voxel>(&self, src: &[T], first: usize, s: &Slab, out: &mut SlabOut) -> Result<(), String> {
        let popped = self.scratch.lock().map_err(|e| e.to_string())?.pop();
        let mut scratch = match popped {
            Some(sc) => sc,
            None => {
                let zeroed = || {
                    Storage::zeroed(self.scratch_len)
                        .map_err(|e| format!("{}: cannot allocate a slab buffer: {e}", self.input))
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
        self.scratch.lock().map_err(|e| e.to_string())?.push(scratch);
        r
    }

    fn compute_with<T: Voxel>(
        &self,
        src: &[T],
        first: usize,
        s: &Slab,
        out: &mut SlabOut,
        sc: &mut Scratch,
    ) -> Result<(), String> {
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
        let (a, b) = (&mut sc.a.make_mut()[..len], &mut sc.b.make_mut()[..len]);
        let r = (sc.resampler.linear_slices_from(src, first, self.plan, &self.opts, s.lo..s.hi, a, self.kernel))
            .map_err(|e| format!("{input}: {e}"))?;
        out.kernels[0] = r.to_string();
        lap(0, out);
        let r = window_slice_into(&*a, &mut *b, &self.window, self.kernel).map_err(|e| format!("{input}: {e}"))?;
        out.kernels[1] = r.to_string();
        lap(1, out);
        if let Some(p) = &self.volume {
            p.pack_f32(&b[(s.z0 - s.lo) * plane..(s.z1 - s.lo) * plane], &mut out.volume).map_err(|e| e.to_string())?;
        }
        lap(3, out);
        if self.mip.is_none() && self.pictures.is_empty() {
            return Ok(());
        }
        let sub = [self.plan.grid.shape[0], self.plan.grid.shape[1], s.hi - s.lo];
        let r = (sc.projector.project_slice_into(b, sub, &self.sub_proj, a, self.kernel))
            .map_err(|e| format!("{input}: MIP: {e}"))?;
        out.kernels[2] = r.to_string();
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
            p.capture.lock().map_err(|e| e.to_string())?.take(s.j0, mip).map_err(|e| e.to_string())?;
        }
        lap(2, out);
        if let Some(p) = &self.mip {
            p.pack_f32(mip, &mut out.mip).map_err(|e| e.to_string())?;
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
        mut sink: impl FnMut(&SlabOut) -> Result<(), String> + Send,
    ) -> Result<(), String> {
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
type Fed<T> = Result<InputSlab<T>, String>;

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
    fn next(&mut self) -> Result<InputSlab<T>, String> {
        match self {
            Feed::Whole { data, plane } => Ok(InputSlab { first: 0, len: data.len() / (*plane).max(1), buf: None }),
            Feed::Read { rx, input, .. } => rx.recv().map_err(|_| format!("{input}: the reading thread stopped"))?,
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
                    let _ = tx.send(Err(format!("{input}: cannot allocate an input buffer: {e}")));
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
        let filled = (|| -> Result<(), String> {
            // Windows never move back (`worth_streaming`): what they share is in `carry`.
            if need.end < next || (need.start < next && need.start < carry_first) {
                return Err(format!("{input}: input windows {need:?} out of order after slices up to {next}"));
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
                reader.read_slices(&mut dst[..n * plane]).map_err(|e| e.to_string())?;
                skip -= n;
            }
            reader.read_slices(&mut dst[kept * plane..]).map_err(|e| e.to_string())?;
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
        let _ = tx.send(Err(e.to_string()));
    }
    busy + clock.elapsed()
}

/// The batches of `slabs` (`per` slabs each) and the input slices each batch reads.
fn batches(
    slabs: &[Slab],
    per: usize,
    plan: &Plan,
    opts: &Trilinear,
) -> (Vec<std::ops::Range<usize>>, Vec<std::ops::Range<usize>>) {
    let per = per.max(1);
    let ranges: Vec<_> = (0..slabs.len()).step_by(per).map(|b| b..(b + per).min(slabs.len())).collect();
    let needs = ranges
        .iter()
        .map(|r| {
            let (mut lo, mut hi) = (usize::MAX, 0);
            for s in &slabs[r.clone()] {
                let n = input_slices_for(plan, opts, s.lo..s.hi);
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
    sink: impl FnMut(&SlabOut) -> Result<(), String> + Send,
) -> Result<Duration, String> {
    let [nx, ny, _] = job.plan.input_shape;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Fed<T>>(1);
        let (free, free_rx) = std::sync::mpsc::channel();
        let reading = scope.spawn(move || read_windows::<T>(reader, needs, nx * ny, tx, free_rx));
        let mut feed = Feed::Read { rx, free, plane: nx * ny, input: job.input };
        let mut r = job.run(&mut feed, slabs, ranges, parallel, sink);
        if let (Ok(()), Feed::Read { rx, .. }) = (&r, &feed) {
            // After the last window: an error at the end of the file, or the channel closing.
            if let Ok(Err(e)) = rx.recv() {
                r = Err(e);
            }
        }
        drop(feed);
        let busy = reading.join().map_err(|p| {
            let why = p.downcast_ref::<&str>().copied().or(p.downcast_ref::<String>().map(String::as_str));
            format!("{}: the reading thread panicked: {}", job.input, why.unwrap_or("no message"))
        })?;
        r.map(|()| busy)
    })
}

/// Everything after reading: resample, window, MIP and compression, streamed slab by slab so
/// neither the resampled volume nor the MIP is ever held whole; then the PNGs.
pub(crate) fn pipeline(
    input: Input,
    recipe: &Recipe,
    settings: &Settings,
) -> Result<RunJson, Box<dyn std::error::Error>> {
    pipeline_with(input, recipe, settings, SLAB)
}

/// `variants.read` in `--json`: the input read slab by slab, or held whole.
const READ_STREAMED: &str = "slab by slab, on its own thread";
const READ_WHOLE: &str = "whole volume";

/// The pipeline's input.
pub(crate) enum Input {
    /// A volume in memory (the demo's phantom).
    Whole(Volume),
    /// A file whose header has been read: its voxels are read slab by slab, on a thread of their
    /// own, as the slabs need them (so the input is never held whole), or all at once when that
    /// does not pay ([`worth_streaming`]): the output's slabs do not follow the file's slice
    /// order (the output's z axis is not the file's, or runs the other way), or even a batch of
    /// one slab would need more than a quarter of the file.
    File(SliceReader),
}

pub(crate) fn pipeline_with(
    mut input: Input,
    recipe: &Recipe,
    settings: &Settings,
    slab: usize,
) -> Result<RunJson, Box<dyn std::error::Error>> {
    let t_all = Instant::now();
    let mut timings: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut variants: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut outputs: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let exec = settings.exec;
    std::fs::create_dir_all(&settings.out)
        .map_err(|e| format!("{}: cannot create the folder: {e}", settings.out.display()))?;
    let out_path = |suffix: &str| settings.out.join(format!("{}_{suffix}", settings.stem));
    let meta = match &input {
        Input::Whole(v) => v,
        Input::File(r) => r.template(),
    };
    let input_name = settings.label.clone().unwrap_or_else(|| meta.display_path().display().to_string());
    let (input_shape, affine, scaling) = match &input {
        Input::Whole(v) => (v.dims3()?, *v.affine(), v.scaling()),
        Input::File(r) => (r.dims3()?, *r.affine(), r.scaling()),
    };
    let plan = plan_grid(input_shape, &affine, &input_name, recipe)?;
    let out_shape = plan.grid.shape;
    let scaling = scaling.map_or((1.0, 0.0), |s| (s.slope, s.inter));
    let k = match recipe.mip {
        MipSize::Slices(k) => k,
        MipSize::Mm(mm) => SlabProjection::slices_for_mm(mm, plan.output_spacing()[2])
            .map_err(|e| UsageError(format!("--mip-mm: {e}")))?,
    };
    let proj = SlabProjection::new(k).axis(Axis3::Z).reduce(Reduce::Max).align(recipe.align).edges(recipe.edges);
    let m = proj.output_len(out_shape[2]).map_err(|e| format!("{input_name}: MIP: {e}"))?;
    let mip_shape = [out_shape[0], out_shape[1], m];
    let mip_affine = proj.output_affine(&plan.grid.affine);

    let wopts = WriteOptions::new().gzip_level(settings.gzip_level);
    let wants = |what: &str| recipe.save.iter().any(|s| s == what);
    // A template for the outputs' headers.
    let template = meta.derived(VoxelData::from_vec(vec![0f32]), &[1, 1, 1], plan.grid.affine)?;
    let stream = |on: bool, suffix: &str, shape: &[usize], affine| -> Result<_, ctprep_io::Error> {
        on.then(|| NiftiStream::create(&template, shape, affine, out_path(suffix), &wopts)).transpose()
    };
    let mut volume = stream(wants("volume"), VOLUME_SUFFIX, &out_shape, plan.grid.affine)?;
    let mut mip = stream(wants("mip"), MIP_SUFFIX, &mip_shape, mip_affine)?;
    let pictures = pictures(mip_shape, &mip_affine, &settings.out, &settings.stem, wants("png"), wants("sheet"))?;

    let parallel = exec.threads.resolve(usize::MAX) > 1;
    // At least k slices per slab, so a slab never computes more than about twice its own
    // slices, however thick the MIP.
    let slabs = slabs(out_shape[2], &proj, m, slab.max(k));
    let job = Job {
        plan: &plan,
        opts: Trilinear::new().scaling(scaling.0, scaling.1),
        window: WindowMap::new(recipe.window, Range::new(0.0, 1.0)?, None)?,
        sub_proj: SlabProjection::new(k).axis(Axis3::Z).reduce(Reduce::Max).align(recipe.align),
        proj,
        n: out_shape[2],
        plane: out_shape[0] * out_shape[1],
        volume: volume.as_ref().map(NiftiStream::packer),
        mip: mip.as_ref().map(NiftiStream::packer),
        pictures: &pictures,
        // The slabs are the parallelism: each kernel runs on its slab's worker alone.
        kernel: exec.threads(Threads::One),
        scratch: Mutex::new(Vec::new()),
        scratch_len: slabs.iter().map(|s| s.hi - s.lo).max().unwrap_or(0) * out_shape[0] * out_shape[1],
        input: &input_name,
    };
    // Batches of one slab per worker: the batch being written holds its compressed pieces, so
    // fewer in flight means less fresh memory (see the README on page faults). A file is read
    // slab by slab when that pays; with many workers, batches shrink until it does.
    let mut per = if parallel { rayon::current_num_threads() } else { 1 };
    let (mut ranges, mut needs) = batches(&slabs, per, &plan, &job.opts);
    if matches!(input, Input::File(_)) {
        while per > 1 && !worth_streaming(&needs, input_shape[2]) {
            per /= 2;
            (ranges, needs) = batches(&slabs, per, &plan, &job.opts);
        }
    }
    if let Input::File(r) = &input
        && !worth_streaming(&needs, input_shape[2])
    {
        let stage = Stage::start("read");
        let v = read_nifti(r.template().display_path())?;
        // The file read again: the plan was made from the header read first.
        let same = v.shape() == r.shape()
            && v.dtype() == r.dtype()
            && v.affine() == r.affine()
            && format!("{:?}", v.scaling()) == format!("{:?}", r.scaling());
        if !same {
            return Err(format!("{input_name}: the file changed while it was being read").into());
        }
        timings.insert("read", stage.finish().as_secs_f64());
        input = Input::Whole(v);
    }
    let stage = Stage::counted("resample, window, MIP, compress", slabs.len() as u64);
    let mut cpu = [Duration::ZERO; 6];
    let mut kernels: Option<[String; 3]> = None;
    let sink = |out: &SlabOut| -> Result<(), String> {
        let t = Instant::now();
        for (stream, piece) in [(&mut volume, &out.volume), (&mut mip, &out.mip)] {
            if let Some(s) = stream {
                s.append(piece).map_err(|e| e.to_string())?;
            }
        }
        for (c, d) in cpu.iter_mut().zip(out.cpu) {
            *c += d;
        }
        cpu[4] += t.elapsed();
        kernels.get_or_insert_with(|| out.kernels.clone());
        stage.inc();
        Ok(())
    };
    let plane_in = input_shape[0] * input_shape[1];
    let streamed = matches!(input, Input::File(_));
    let read_cpu = match input {
        Input::Whole(v) => {
            ctprep_io::with_storage!(v.data(), st => {
                let mut feed = Feed::Whole { data: st.as_slice(), plane: plane_in };
                job.run(&mut feed, &slabs, &ranges, parallel, sink)
            })?;
            Duration::ZERO
        }
        Input::File(r) => {
            ctprep_io::with_dtype!(r.dtype(), T => run_read::<T>(&job, r, &slabs, &ranges, &needs, parallel, sink))?
        }
    };
    cpu[5] += read_cpu;
    // Every output complete before any is at its path: a failure leaves none of them.
    let t = Instant::now();
    let mut done = Vec::new();
    for (kind, suffix, s) in [("volume", VOLUME_SUFFIX, volume), ("mip", MIP_SUFFIX, mip)] {
        if let Some(s) = s {
            done.push((kind, out_path(suffix), s.complete()?));
        }
    }
    cpu[4] += t.elapsed();
    timings.insert("stream", stage.finish().as_secs_f64());
    variants.insert("read", (if streamed { READ_STREAMED } else { READ_WHOLE }).to_owned());
    let [resample, window, mip_kernel] = kernels.unwrap_or_default();
    let how = if parallel { "parallel slabs" } else { "one thread" };
    variants.insert("resample", format!("{resample}, {how}"));
    variants.insert("window", format!("{window}, {how}"));
    if !mip_kernel.is_empty() {
        variants.insert("mip", format!("{mip_kernel}, {how}"));
    }

    let mut written: Vec<PathBuf> = Vec::new();
    let placed = (|| -> Result<(), Box<dyn std::error::Error>> {
        if !pictures.is_empty() {
            let stage = Stage::start("png");
            for p in &pictures {
                p.write()?;
                written.push(p.path.clone());
                outputs.entry(p.kind).or_default().push(p.path.display().to_string());
            }
            timings.insert("png", stage.finish().as_secs_f64());
        }
        for (kind, path, file) in done {
            file.persist()?;
            written.push(path.clone());
            outputs.insert(kind, vec![path.display().to_string()]);
        }
        Ok(())
    })();
    if let Err(e) = placed {
        // Best effort: the outputs already in place are removed, so none is left from a failed run.
        for p in &written {
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }
    timings.insert("total", t_all.elapsed().as_secs_f64());
    let cpu_s = ["resample", "window", "mip", "compress", "write", "read"]
        .into_iter()
        .zip(cpu.map(|d| d.as_secs_f64()))
        .collect();
    Ok(RunJson {
        input: input_name,
        input_shape,
        output_shape: out_shape,
        output_spacing_mm: plan.output_spacing(),
        axcodes: ctprep_io::axcodes_string(&plan.grid.affine),
        convention: recipe.convention.name(),
        window: [recipe.window.lo(), recipe.window.hi()],
        mip_slices: k,
        mip_align: recipe.align.to_string(),
        mip_edges: recipe.edges.to_string(),
        variants,
        timings_s: timings,
        cpu_s,
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use ctprep_core::Variant;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        run: RunArgs,
    }

    fn recipe(args: &[&str]) -> Result<Recipe, UsageError> {
        let mut all = vec!["ctprep-run", "in.nii.gz", "--out", "d"];
        all.extend_from_slice(args);
        T::try_parse_from(all).map_err(|e| UsageError(e.to_string()))?.run.recipe()
    }

    #[test]
    fn presets_and_overrides() {
        let r = recipe(&[]).expect("defaults");
        assert_eq!(
            (r.convention, r.align, r.edges, r.mip),
            (GridConvention::FirstCentre, Align::Centre, Edges::Shrink, MipSize::Slices(5))
        );
        assert!(matches!(r.axcodes, AxcodesArg::Canonical));
        assert_eq!((r.window.lo(), r.window.hi()), (-100.0, 1000.0));
        let c = recipe(&["--preset", "classic"]).expect("classic");
        assert_eq!((c.convention, c.align, c.edges), (GridConvention::Seed, Align::Start, Edges::Zero));
        assert!(matches!(c.axcodes, AxcodesArg::Keep));
        let lung = recipe(&["--preset", "lung", "--mip", "9"]).expect("lung");
        assert_eq!((lung.window.lo(), lung.window.hi(), lung.mip), (-1350.0, 150.0, MipSize::Slices(9)));
        assert!(recipe(&["--preset", "lung", "--window", "0,1"]).is_err());
        assert!(recipe(&["--preset", "nonsense"]).is_err());
        assert!(recipe(&["--mip", "0"]).is_err());
        assert!(recipe(&["--mip-mm", "-3"]).is_err());
        assert!(recipe(&["--window", "5,5"]).is_err());
        assert!(recipe(&["--save", "volume,pictures"]).is_err());
        assert_eq!(recipe(&["--save", "mip,png"]).expect("save").save, ["mip", "png"]);
    }

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

    /// The oracle of the streamed pipeline: the whole volume resampled, windowed and projected
    /// at once by the kernels with the same variant, and the images of that whole MIP. Every
    /// output of the stream is bit-identical to it, for every edge mode and alignment, every
    /// variant (one thread and four parallel workers), slabs of 1, 3 and 32 slices.
    #[test]
    fn streamed_outputs_equal_the_whole_volume_stages() {
        let ct = ctprep_phantom::Phantom::new([23, 19, 40])
            .spacing_mm([0.78, 0.78, 2.5])
            .axcodes("LPS".parse().expect("codes"))
            .ct()
            .expect("phantom");
        let dir = tempfile::tempdir().expect("temp dir");
        let ct_path = dir.path().join("ct.nii.gz");
        ctprep_io::write_nifti(&ct, &ct_path, &WriteOptions::new()).expect("writes");
        // The volume as the file holds it (its affine in float32), for the oracle and the runs
        // from memory alike.
        let ct = read_nifti(&ct_path).expect("reads");
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().expect("pool");
        let read_f32 = |p: &Path| read_nifti(p).expect("reads").scaled_f32();
        let mut streamed = 0;
        for (edges, align, k) in [
            (Edges::Shrink, Align::Centre, 5),
            (Edges::Shrink, Align::Start, 2),
            (Edges::Valid, Align::Centre, 4),
            (Edges::Zero, Align::Start, 5),
            (Edges::Shrink, Align::Centre, 1),
            (Edges::Shrink, Align::Centre, 60),
        ] {
            let mut args = RunArgs::defaults();
            args.mip = Some(k);
            args.mip_align = Some(align);
            args.mip_edges = Some(edges);
            let recipe = args.recipe().expect("recipe");
            // The oracle.
            let plan = plan_grid(ct.dims3().expect("3-D"), ct.affine(), "ct", &recipe).expect("plan");
            let shape = plan.grid.shape;
            let (slope, inter) = ct.scaling().map_or((1.0, 0.0), |s| (s.slope, s.inter));
            let opts = Trilinear::new().scaling(slope, inter);
            let proj = SlabProjection::new(k).align(align).edges(edges);
            let m = proj.output_len(shape[2]).expect("outputs");
            let mip_shape = [shape[0], shape[1], m];
            let mip_affine = proj.output_affine(&plan.grid.affine);
            let map = WindowMap::new(recipe.window, Range::new(0.0, 1.0).expect("range"), None).expect("map");
            for variant in Variant::ALL {
                let mut iso = vec![0f32; plan.output_len()];
                ctprep_io::with_storage!(ct.data(), st => {
                    ctprep_resample::resample_linear_slice_into(st.as_slice(), &plan, &opts, &mut iso, variant.exec())
                })
                .expect("resamples");
                let mut windowed = vec![0f32; iso.len()];
                window_slice_into(&iso, &mut windowed, &map, variant.exec()).expect("windows");
                let mut mip = vec![0f32; mip_shape.iter().product()];
                ctprep_projection::project_slice_into(&windowed, shape, &proj, &mut mip, variant.exec())
                    .expect("projects");
                let pixels = PixelMap::new();
                let mut want_png = Vec::new();
                for plane in Plane::ALL {
                    let n = SliceLayout::new(mip_shape, &mip_affine, plane).expect("layout").middle();
                    let image = ctprep_io::slice_image(&mip, mip_shape, &mip_affine, plane, n).expect("slice");
                    want_png.push(ctprep_io::encode_png(&pixels.apply(&image)).expect("png"));
                }
                let count = SliceLayout::new(mip_shape, &mip_affine, Plane::Axial).expect("layout").slice_count();
                let sheet = ctprep_io::contact_sheet(
                    &mip,
                    mip_shape,
                    &mip_affine,
                    Plane::Axial,
                    &sheet_options(count),
                    &pixels,
                )
                .expect("sheet");
                want_png.push(ctprep_io::encode_png(&sheet).expect("png"));
                for (slab, from_file) in [(1, false), (3, false), (32, false), (1, true), (3, true), (32, true)] {
                    let what = format!("{edges} {align} k={k} {variant} slab {slab} file {from_file}");
                    let out = dir.path().join(what.replace(' ', "_"));
                    let settings = Settings {
                        out: out.clone(),
                        stem: "ct".to_owned(),
                        gzip_level: 1,
                        exec: variant.exec(),
                        label: None,
                    };
                    let input = || match from_file {
                        false => Input::Whole(ct.clone()),
                        true => Input::File(SliceReader::open(&ct_path).expect("opens")),
                    };
                    // Four workers whatever the machine, so parallel slabs run here too.
                    let doc = pool
                        .install(|| pipeline_with(input(), &recipe, &settings, slab).map_err(|e| e.to_string()))
                        .expect("runs");
                    // LPS storage to RAS output: the file's slices come in the output's order,
                    // so small slabs stream (large ones, and those of a 60-slice MIP, would
                    // need most of the file at once).
                    let read = &doc.variants["read"];
                    if !from_file || slab == 1 && k <= 5 {
                        assert_eq!(read, if from_file { READ_STREAMED } else { READ_WHOLE }, "{what}");
                    }
                    streamed += usize::from(read == READ_STREAMED);
                    let parallel = doc.variants["resample"].ends_with("parallel slabs");
                    assert_eq!(parallel, matches!(variant, Variant::Parallel | Variant::Auto), "{what}");
                    assert_eq!(doc.output_shape, shape);
                    let same = |a: &[f32], b: &[f32]| {
                        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
                    };
                    assert!(same(&read_f32(&out.join("ct_window.nii.gz")), &windowed), "{what}: windowed volume");
                    assert!(same(&read_f32(&out.join("ct_mip.nii.gz")), &mip), "{what}: MIP");
                    let back = read_nifti(out.join("ct_mip.nii.gz")).expect("reads");
                    // The header stores the affine in float32.
                    let (a, b) = (back.affine().0, mip_affine.0);
                    let close = a.iter().flatten().zip(b.iter().flatten()).all(|(x, y)| (x - y).abs() < 1e-5);
                    assert!(close, "{what}: MIP affine {a:?} vs {b:?}");
                    let names = ["axial", "coronal", "sagittal"].map(|p| format!("ct_mip_{p}.png"));
                    for (name, want) in names.iter().map(String::as_str).chain(["ct_mip_sheet.png"]).zip(&want_png) {
                        assert_eq!(&std::fs::read(out.join(name)).expect("png written"), want, "{what}: {name}");
                    }
                }
            }
        }
        // Slab 1 with k <= 5 always streams (20 runs); larger slabs stream in some more.
        assert!(streamed > 30, "{streamed} runs streamed their input");
    }

    /// Files in every storage order give the outputs of the volume in memory, byte for byte:
    /// streamed when the file's slices follow the output's z (LPS, RAS to RAS), read whole when
    /// they run the other way (LPI) or along another axis (PIR), for each kind of variant, on
    /// four workers whatever the machine. With 10 mm output slices and a 1-slice MIP the
    /// windows leave slices out, which the reading thread skips.
    #[test]
    fn file_inputs_stream_or_are_read_whole_with_the_same_outputs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().expect("pool");
        let mut coarse = RunArgs::defaults();
        coarse.spacing = Some([1.0, 1.0, 10.0]);
        coarse.mip = Some(1);
        let recipes = [
            ("default", RunArgs::defaults().recipe().expect("recipe"), 4),
            ("coarse z", coarse.recipe().expect("recipe"), 1),
        ];
        for (codes, streams) in [("LPS", true), ("RAS", true), ("LPI", false), ("PIR", false)] {
            // 40 slices along the output's z: enough for the windows of a batch of two slabs.
            let shape = if codes == "PIR" { [17, 40, 21] } else { [21, 17, 40] };
            let ct = ctprep_phantom::Phantom::new(shape)
                .spacing_mm([0.78, 0.78, 2.5])
                .axcodes(codes.parse().expect("codes"))
                .ct()
                .expect("phantom");
            let path = dir.path().join(format!("{codes}.nii.gz"));
            ctprep_io::write_nifti(&ct, &path, &WriteOptions::new()).expect("writes");
            for ((what, recipe, slab), variant) in
                recipes.iter().flat_map(|r| [(r, Variant::Scalar), (r, Variant::Auto)])
            {
                let run = |input: Input, name: &str| {
                    let out = dir.path().join(format!("{codes}_{what}_{variant}_{name}").replace(' ', "_"));
                    let settings = Settings {
                        out: out.clone(),
                        stem: "ct".to_owned(),
                        gzip_level: 1,
                        exec: variant.exec(),
                        label: None,
                    };
                    let doc = pool
                        .install(|| pipeline_with(input, recipe, &settings, *slab).map_err(|e| e.to_string()))
                        .expect("runs");
                    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&out)
                        .expect("outputs")
                        .map(|e| e.expect("entry").path())
                        .map(|p| {
                            (
                                p.file_name().expect("name").to_string_lossy().into_owned(),
                                std::fs::read(&p).expect("reads"),
                            )
                        })
                        .collect();
                    files.sort();
                    (doc, files)
                };
                // The file read whole (its affine in float32, its header fields).
                let (whole_doc, want) = run(Input::Whole(read_nifti(&path).expect("reads")), "memory");
                let (doc, got) = run(Input::File(SliceReader::open(&path).expect("opens")), "file");
                let case = format!("{codes} {what} {variant}");
                assert_eq!(whole_doc.variants["read"], READ_WHOLE);
                assert_eq!(doc.variants["read"], if streams { READ_STREAMED } else { READ_WHOLE }, "{case}");
                let names = |f: &[(String, Vec<u8>)]| f.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
                assert_eq!(names(&got), names(&want), "{case}");
                assert_eq!(got.len(), 6, "{case}: {:?}", names(&got));
                for ((name, a), (_, b)) in got.iter().zip(&want) {
                    assert!(a == b, "{case}: {name} differs between the file and the volume in memory");
                }
            }
        }
    }

    /// A file cut short, or whose gzip trailer does not match, fails the run with an error
    /// naming it, and leaves no output behind, streamed or not.
    #[test]
    fn damaged_files_fail_the_run_and_leave_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let recipe = RunArgs::defaults().recipe().expect("recipe");
        // The shape that streams in the test above: the damage is met while reading slabs
        // ("short") or at the end of the file ("late", "crc").
        let ct = ctprep_phantom::Phantom::new([21, 17, 40]).spacing_mm([0.78, 0.78, 2.5]).ct().expect("phantom");
        let path = dir.path().join("ct.nii.gz");
        ctprep_io::write_nifti(&ct, &path, &WriteOptions::new()).expect("writes");
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().expect("pool");
        let run = |file: &Path, out: &Path, variant: Variant| {
            let settings = Settings {
                out: out.to_owned(),
                stem: "ct".to_owned(),
                gzip_level: 1,
                exec: variant.exec(),
                label: None,
            };
            let r = SliceReader::open(file).map_err(|e| e.to_string())?;
            pool.install(|| pipeline_with(Input::File(r), &recipe, &settings, 4).map_err(|e| e.to_string()))
        };
        for variant in [Variant::Scalar, Variant::Auto] {
            let doc = run(&path, &dir.path().join(format!("intact_{variant}")), variant).expect("runs");
            assert_eq!(doc.variants["read"], READ_STREAMED, "the intact file streams");
        }
        let bytes = std::fs::read(&path).expect("reads");
        let mut bad_crc = bytes.clone();
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 0xFF;
        for (name, damaged) in [
            ("short", bytes[..bytes.len() * 2 / 3].to_vec()),
            ("late", bytes[..bytes.len() - 6].to_vec()),
            ("crc", bad_crc),
        ] {
            let file = dir.path().join(format!("{name}.nii.gz"));
            std::fs::write(&file, &damaged).expect("writes");
            for variant in [Variant::Scalar, Variant::Auto] {
                let out = dir.path().join(format!("out_{name}_{variant}"));
                let err = run(&file, &out, variant).expect_err("a damaged file fails");
                assert!(err.contains(&format!("{name}.nii.gz")), "{name}: {err}");
                let left: Vec<_> =
                    std::fs::read_dir(&out).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
                assert!(left.is_empty(), "{name} {variant}: left {left:?}");
            }
        }
    }

    #[test]
    fn stems() {
        assert_eq!(stem(Path::new("/a/ct.v2.nii.gz")), "ct.v2");
        assert_eq!(stem(Path::new("x.hdr")), "x");
        assert_eq!(stem(Path::new("scan")), "scan");
    }
}
