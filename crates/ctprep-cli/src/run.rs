//! `ctprep run`: the whole classic recipe, made correct: read, reorient (as a resampling
//! grid, never a copy), resample, window, thick-slab MIP, and the outputs (NIfTI volumes, PNG
//! slices and a contact sheet of the MIP).
//!
//! Memory: the input, one `f32` buffer of the resampled grid (windowed in place), and the MIP's
//! `f32` buffer; the input is released once resampled. Nothing is widened to `f64`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use ctprep_intensity::{Kernel, Range, Variant, Window, WindowMap, window_slice_into};
use ctprep_io::{
    AxCodes, PixelMap, Plane, SheetOptions, SliceLayout, Storage, Volume, VoxelData, WriteOptions, contact_sheet,
    read_nifti, slice_image, write_nifti, write_png,
};
use ctprep_projection::{Align, Axis3, Edges, Reduce, SlabProjection, project_slice_into};
use ctprep_resample::{GridConvention, Plan, Trilinear, plan_like, plan_spacing, resample_linear_slice_into};
use rayon::prelude::*;
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
    /// Kernel variant of every stage: scalar (the reference loops), simd, parallel, or auto.
    #[arg(long, default_value = "auto")]
    variant: Variant,
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
            variant: Variant::Auto,
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
    pub(crate) timings_s: BTreeMap<&'static str, f64>,
    pub(crate) outputs: BTreeMap<&'static str, Vec<String>>,
}

/// The output grid: the input grid reoriented (geometry only) to the target axis codes, then
/// planned for the target spacing; the plan maps the input's own voxels onto it.
pub(crate) fn plan_grid(v: &Volume, recipe: &Recipe) -> Result<Plan, Box<dyn std::error::Error>> {
    let shape = v.dims3()?;
    let input = v.display_path();
    let target: Option<AxCodes> = match recipe.axcodes {
        AxcodesArg::Keep => None,
        AxcodesArg::Canonical => Some(AxCodes::RAS),
        AxcodesArg::Codes(c) => Some(c),
    };
    let (r_shape, r_affine) = match target {
        None => (shape, *v.affine()),
        Some(t) => {
            let ro = v.reorientation_to(t)?;
            (ro.output_shape(shape), v.affine().matmul(&ro.inverse_index_map(shape)))
        }
    };
    let grid = plan_spacing(r_shape, &r_affine, recipe.spacing, recipe.convention)
        .map_err(|e| format!("{}: {e}", input.display()))?
        .grid;
    Ok(plan_like(shape, v.affine(), grid).map_err(|e| format!("{}: {e}", input.display()))?)
}

/// Windows `values` in place to [0, 1] (chunks copied through a small scratch buffer, so the
/// kernels keep their separate input and output).
pub(crate) fn window_in_place(values: &mut [f32], window: Window, variant: Variant) -> Result<String, String> {
    let map =
        WindowMap::new(window, Range::new(0.0, 1.0).map_err(|e| e.to_string())?, None).map_err(|e| e.to_string())?;
    const CHUNK: usize = 1 << 15;
    // The kernel each chunk ran (an enum, not a name, per chunk); the first is reported.
    let one = |tmp: &mut Vec<f32>, chunk: &mut [f32], v: Variant| {
        tmp.clear();
        tmp.extend_from_slice(chunk);
        window_slice_into(&tmp[..], chunk, &map, v).map(|r| r.kernel).map_err(|e| e.to_string())
    };
    let parallel = match variant {
        Variant::Parallel => true,
        Variant::Auto => values.len() >= ctprep_intensity::AUTO_PARALLEL_MIN && rayon::current_num_threads() > 1,
        _ => false,
    };
    let single = if parallel { Variant::Auto } else { variant };
    let kernels: Vec<Kernel> = if parallel {
        values.par_chunks_mut(CHUNK).map_init(Vec::new, |tmp, c| one(tmp, c, single)).collect::<Result<_, _>>()?
    } else {
        let mut tmp = Vec::new();
        values.chunks_mut(CHUNK).map(|c| one(&mut tmp, c, single)).collect::<Result<_, _>>()?
    };
    let kernel = kernels.first().map_or("none", |k| k.name());
    Ok(if parallel { format!("parallel ({kernel})") } else { format!("{variant} ({kernel})") })
}

/// A zeroed `f32` buffer for a stage's output (huge pages: few first-touch faults).
fn buffer(len: usize, input: &str) -> Result<Storage<f32>, String> {
    Storage::zeroed(len).map_err(|e| format!("{input}: cannot allocate {} MB for the output: {e}", (len * 4) >> 20))
}

/// Whether [`mip_in_place`] computes this projection: windows truncated at the ends (so a
/// window inside a slab of the volume is the same window as in the whole volume) and one output
/// slice per input slice.
fn in_place_ok(proj: &SlabProjection) -> bool {
    proj.get_edges() == Edges::Shrink && proj.get_stride() == 1
}

/// Output slices per slab of [`mip_in_place`]: large enough that the k - 1 slices each slab
/// projects twice cost little, small enough that the slab buffers stay a few tens of MB.
const MIP_SLAB: usize = 64;

/// The projection `proj` along z of `vol` (x-fastest, `shape`), written over `vol`.
///
/// Slab by slab: each slab's windows (the slab and the `k - 1` slices around it) are projected
/// straight from `vol` into one of two slab buffers, and a slab's outputs are copied back only
/// once the next slab has been projected, since that one still reads the first slices before it.
/// (The slab after next starts more than `k` slices later, past every slice written back by
/// then.) One extra pass over the volume, the copy back; max and min select values, so the
/// result is bit-identical to projecting the whole volume at once.
pub(crate) fn mip_in_place(
    vol: &mut [f32],
    shape: [usize; 3],
    proj: &SlabProjection,
    variant: Variant,
) -> Result<ctprep_projection::Report, ctprep_projection::ProjectionError> {
    let plane = shape[0] * shape[1];
    let n = shape[2];
    let k = proj.k();
    let before = if proj.get_align() == Align::Centre { k / 2 } else { 0 };
    let after = k - 1 - before;
    let mut bufs: [Vec<f32>; 2] = [Vec::new(), Vec::new()];
    // The slab projected but not yet copied back: its buffer, its first and end output slices,
    // and the first input slice its buffer starts at.
    let mut pending: Option<(usize, usize, usize, usize)> = None;
    let mut report: Option<ctprep_projection::Report> = None;
    let mut j0 = 0;
    let mut which = 0;
    let write_back = |vol: &mut [f32], bufs: &[Vec<f32>; 2], (b, j0, j1, s): (usize, usize, usize, usize)| {
        vol[j0 * plane..j1 * plane].copy_from_slice(&bufs[b][(j0 - s) * plane..(j1 - s) * plane]);
    };
    while j0 < n {
        // At least k slices, so the slab after next reads nothing written back before it.
        let j1 = (j0 + MIP_SLAB.max(k)).min(n);
        let s = j0.saturating_sub(before);
        let e = (j1 - 1 + after).min(n - 1);
        let sub = [shape[0], shape[1], e - s + 1];
        let buf = &mut bufs[which];
        buf.resize((e - s + 1) * plane, 0.0);
        let r = project_slice_into(&vol[s * plane..(e + 1) * plane], sub, proj, buf, variant)?;
        // Non-finite values anywhere make the whole projection's report say so.
        let non_finite = r.non_finite || report.is_some_and(|p| p.non_finite);
        report = Some(ctprep_projection::Report { non_finite, ..r });
        if let Some(p) = pending.take() {
            write_back(vol, &bufs, p);
        }
        pending = Some((which, j0, j1, s));
        which = 1 - which;
        j0 = j1;
    }
    if let Some(p) = pending {
        write_back(vol, &bufs, p);
    }
    // An empty volume has no slices: nothing ran, report the variant asked for.
    Ok(report.unwrap_or(ctprep_projection::Report { variant, non_finite: false }))
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

/// Panels of the run's contact sheet.
const SHEET_ROWS: usize = 6;
const SHEET_COLS: usize = 6;

/// PNGs of the MIP (values in [0, 1], 8-bit): the middle slice of each plane
/// (`<stem>_mip_axial.png`, ...) and a contact sheet of axial slices spread evenly over the
/// volume (`<stem>_mip_sheet.png`, numbered), all in radiological display orientation.
fn mip_images(
    mip: &[f32],
    shape: [usize; 3],
    affine: &ctprep_core::Affine,
    dir: &Path,
    stem: &str,
    png: bool,
    sheet: bool,
) -> Result<Vec<(&'static str, PathBuf)>, Box<dyn std::error::Error>> {
    let map = PixelMap::new();
    let mut written = Vec::new();
    if png {
        for plane in Plane::ALL {
            let layout = SliceLayout::new(shape, affine, plane)?;
            let image = slice_image(mip, shape, affine, plane, layout.middle())?;
            let path = dir.join(format!("{stem}_mip_{}.png", plane.name()));
            write_png(&path, &map.apply(&image))?;
            written.push(("png", path));
        }
    }
    if sheet {
        let n = SliceLayout::new(shape, affine, Plane::Axial)?.slice_count();
        let panels = SHEET_ROWS * SHEET_COLS;
        // Evenly spread: `panels` slices when there are enough, centred in their intervals.
        let every = (n / panels).max(1);
        // Fewer slices than panels: as many full rows as there are slices for.
        let cols = SHEET_COLS.min(n);
        let rows = if n >= panels { SHEET_ROWS } else { (n / cols).max(1) };
        let used = rows * cols;
        let start = (n - (used - 1) * every - 1) / 2;
        let opts = SheetOptions::new().rows(rows).cols(cols).start(start).every(every).numbers(true);
        let image = contact_sheet(mip, shape, affine, Plane::Axial, &opts, &map)?;
        let path = dir.join(format!("{stem}_mip_sheet.png"));
        write_png(&path, &image)?;
        written.push(("sheet", path));
    }
    Ok(written)
}

/// How a pipeline run writes and reports.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) out: PathBuf,
    pub(crate) stem: String,
    pub(crate) gzip_level: u32,
    pub(crate) variant: Variant,
    /// The input's name in reports, when it is not a file (the demo's phantom).
    pub(crate) label: Option<String>,
}

pub(crate) fn run(args: &RunArgs) -> CmdResult {
    let recipe = args.recipe()?;
    let settings = Settings {
        out: args.out.clone(),
        stem: stem(&args.input),
        gzip_level: args.gzip_level,
        variant: args.variant,
        label: None,
    };
    for p in [
        settings.out.join(format!("{}_window.nii.gz", settings.stem)),
        settings.out.join(format!("{}_mip.nii.gz", settings.stem)),
    ] {
        crate::commands::check_output_path(&args.input, &p)?;
    }
    let stage = Stage::start("read");
    let v = read_nifti(&args.input)?;
    let read = stage.finish();
    let mut doc = pipeline(v, &recipe, &settings)?;
    doc.timings_s.insert("read", read.as_secs_f64());
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

/// Everything after reading: resample, window, MIP, outputs. `v` is released once resampled.
pub(crate) fn pipeline(v: Volume, recipe: &Recipe, settings: &Settings) -> Result<RunJson, Box<dyn std::error::Error>> {
    let t_all = Instant::now();
    let mut timings: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut variants: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut outputs: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut record = |name: &'static str, d: Duration| timings.insert(name, d.as_secs_f64());
    let variant = settings.variant;
    std::fs::create_dir_all(&settings.out)
        .map_err(|e| format!("{}: cannot create the folder: {e}", settings.out.display()))?;
    let out_path = |suffix: &str| settings.out.join(format!("{}_{suffix}", settings.stem));
    let input_name = settings.label.clone().unwrap_or_else(|| v.display_path().display().to_string());
    let input_shape = v.dims3()?;

    let plan = plan_grid(&v, recipe)?;
    let out_shape = plan.grid.shape;
    let stage = Stage::start("resample");
    let scaling = v.scaling().map_or((1.0, 0.0), |s| (s.slope, s.inter));
    let opts = Trilinear::new().scaling(scaling.0, scaling.1);
    let mut iso_buf = buffer(plan.output_len(), &input_name)?;
    let iso = iso_buf.make_mut();
    let report = ctprep_io::with_storage!(v.data(), st => {
        resample_linear_slice_into(st.as_slice(), &plan, &opts, iso, variant)
    })
    .map_err(|e| format!("{input_name}: {e}"))?;
    variants.insert("resample", format!("{} ({} path)", report.variant, report.path));
    record("resample", stage.finish());
    // A template for the outputs' headers; the input's voxels are released here.
    let template = v.derived(VoxelData::from_vec(vec![0f32]), &[1, 1, 1], plan.grid.affine)?;
    drop(v);

    let stage = Stage::start("window");
    variants.insert("window", window_in_place(iso, recipe.window, variant)?);
    record("window", stage.finish());

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
    // The windowed volume is written before the MIP, which may then take its buffer.
    if wants("volume") {
        let stage = Stage::start("write volume");
        let path = out_path("window.nii.gz");
        let vol = template.derived(VoxelData::F32(iso_buf), &out_shape, plan.grid.affine)?;
        write_nifti(&vol, &path, &wopts)?;
        iso_buf = match vol.into_data() {
            VoxelData::F32(st) => st,
            _ => unreachable!("the windowed volume is float32"),
        };
        outputs.insert("volume", vec![path.display().to_string()]);
        record("write_volume", stage.finish());
    }

    let stage = Stage::start("mip");
    let (mip_buf, report) = if in_place_ok(&proj) {
        // Slab by slab over the windowed volume itself: no second volume in memory.
        let report = mip_in_place(iso_buf.make_mut(), out_shape, &proj, variant)
            .map_err(|e| format!("{input_name}: MIP: {e}"))?;
        (iso_buf, format!("{} (in place)", report.variant))
    } else {
        let mut mip_buf = buffer(mip_shape.iter().product(), &input_name)?;
        let report = project_slice_into(iso_buf.as_slice(), out_shape, &proj, mip_buf.make_mut(), variant)
            .map_err(|e| format!("{input_name}: MIP: {e}"))?;
        drop(iso_buf);
        (mip_buf, report.variant.to_string())
    };
    variants.insert("mip", report);
    record("mip", stage.finish());

    if wants("png") || wants("sheet") {
        let stage = Stage::start("png");
        let written = mip_images(
            mip_buf.as_slice(),
            mip_shape,
            &mip_affine,
            &settings.out,
            &settings.stem,
            wants("png"),
            wants("sheet"),
        )?;
        for (kind, path) in written {
            outputs.entry(kind).or_default().push(path.display().to_string());
        }
        record("png", stage.finish());
    }
    if wants("mip") {
        let stage = Stage::start("write mip");
        let path = out_path("mip.nii.gz");
        write_nifti(&template.derived(VoxelData::F32(mip_buf), &mip_shape, mip_affine)?, &path, &wopts)?;
        outputs.insert("mip", vec![path.display().to_string()]);
        record("write_mip", stage.finish());
    }
    record("total", t_all.elapsed());
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
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

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

    #[test]
    fn in_place_mip_equals_the_whole_volume_projection() {
        for shape in [[3, 2, 1], [5, 4, 7], [9, 3, 130], [4, 4, 200]] {
            let len: usize = shape.iter().product();
            let vol: Vec<f32> = (0..len)
                .map(|i| {
                    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                    if h.is_multiple_of(97) { f32::NAN } else { (h % 1000) as f32 / 999.0 }
                })
                .collect();
            for k in [1, 2, 5, 31, 64, 65, 150, 300] {
                for align in [Align::Start, Align::Centre] {
                    let proj = SlabProjection::new(k).align(align).edges(Edges::Shrink);
                    assert!(in_place_ok(&proj));
                    let mut want = vec![0f32; len];
                    project_slice_into(&vol, shape, &proj, &mut want, Variant::Scalar).expect("projects");
                    for variant in [Variant::Scalar, Variant::Parallel, Variant::Auto] {
                        let mut got = vol.clone();
                        mip_in_place(&mut got, shape, &proj, variant).expect("projects");
                        let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "{shape:?} k={k} {align} {variant}");
                    }
                }
            }
        }
        assert!(!in_place_ok(&SlabProjection::new(5).edges(Edges::Zero)));
        assert!(!in_place_ok(&SlabProjection::new(5).stride(2)));
    }

    #[test]
    fn stems() {
        assert_eq!(stem(Path::new("/a/ct.v2.nii.gz")), "ct.v2");
        assert_eq!(stem(Path::new("x.hdr")), "x");
        assert_eq!(stem(Path::new("scan")), "scan");
    }

    #[test]
    fn in_place_window_matches_the_kernel() {
        let values: Vec<f32> = (0..100_000).map(|i| (i % 2500) as f32 - 1200.0).collect();
        let w = Window::new(-100.0, 1000.0).expect("window");
        let map = WindowMap::new(w, Range::new(0.0, 1.0).expect("range"), None).expect("map");
        let mut want = vec![0f32; values.len()];
        window_slice_into(&values, &mut want, &map, Variant::Scalar).expect("windows");
        for variant in Variant::ALL {
            let mut got = values.clone();
            window_in_place(&mut got, w, variant).expect("windows");
            assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{variant}");
        }
    }
}
