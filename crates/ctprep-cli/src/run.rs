//! `ctprep run`: the options of the whole recipe, run by `ctprep-pipeline` with a progress bar.

use std::path::PathBuf;

use clap::Args;
use ctprep_core::Exec;
use ctprep_intensity::Window;
use ctprep_pipeline::align::Verdict;
use ctprep_pipeline::{
    Input, LabelInput, LabelInterp, MipSize, Orientation, Outputs, Pipeline, Product, Recipe, RunJson, SchemeUse,
    stem_of,
};
use ctprep_projection::{Align, Edges};
use ctprep_resample::{GridConvention, Scheme, Shear};

use crate::commands::{AxcodesArg, CmdResult, UsageError, parse_axcodes};
use crate::progress::Bars;
use crate::resample::{ConventionArg, InterpArgs, parse_spacing};
use crate::window::parse_pair;

/// Options of `ctprep run`. Every option left out takes the default of `--preset` (the
/// corrected recipe unless `--preset classic`).
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Input CT (.nii, .nii.gz, .hdr/.img, .nrrd or .nhdr, or a DICOM folder or one file of a
    /// series): a 3-D volume in HU (scl_slope/scl_inter
    /// applied). Never modified.
    input: PathBuf,
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
    #[command(flatten)]
    pub(crate) recipe: RecipeArgs,
    /// Kernel and threads of every stage (the slabs run side by side on the threads, each stage
    /// of a slab on one).
    #[command(flatten)]
    pub(crate) exec: crate::commands::ExecArgs,
    /// A label map of the input (NIfTI or NRRD, a layered .seg.nrrd too): checked against the
    /// input's grid first (as `ctprep check`; refused with exit status 3 when it does not
    /// overlap the input, resampled into place with a warning saying how it differed
    /// otherwise), then put on the output grid by nearest neighbour (or one-hot:
    /// --label-interp), its stored type and layers kept, and written as <stem>_label.nii.gz
    /// (never windowed or projected).
    #[arg(long, value_name = "LABEL")]
    label: Option<PathBuf>,
    /// How far (mm) the label's voxel centres may lie from the input's for the grids to count
    /// as the same.
    #[arg(long, value_name = "MM", default_value_t = crate::check::DEFAULT_TOLERANCE_MM, requires = "label")]
    label_tolerance: f64,
    /// Print one JSON object on stdout: stage timings, chosen variants, output paths (and the
    /// label's alignment).
    #[arg(long)]
    json: bool,
}

/// `--label-interp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LabelInterpArg {
    /// The nearest voxel
    Nearest,
    /// Each label's mask interpolated, the highest score wins (nnU-Net)
    Onehot,
}

/// The recipe options shared by `ctprep run` and `ctprep batch`.
#[derive(Debug, Args)]
pub(crate) struct RecipeArgs {
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
    /// Keep a sheared input's lattice (the classic preset does) instead of an orthonormal grid
    /// covering it (the default). ITK-based tools cannot read a sheared output.
    #[arg(long)]
    keep_shear: bool,
    #[command(flatten)]
    interp: InterpArgs,
    /// A named resampling recipe: nnunet = nnU-Net v2's (its target shape on the extent grid,
    /// cubic images with nearest along a thick axis when the spacing is anisotropic, clipped as
    /// skimage clips, one-hot label maps). Sets only the resampling: --convention, --interp /
    /// --order / --mode and --label-interp given with it override its choices. Reads the input
    /// whole.
    #[arg(long, value_name = "NAME", value_parser = ["nnunet"])]
    scheme: Option<String>,
    /// How --label goes onto the output grid: nearest (the default) or onehot (each label's
    /// mask interpolated linearly, the highest score wins: nnU-Net's rule, the default with
    /// --scheme nnunet).
    #[arg(long, value_enum)]
    label_interp: Option<LabelInterpArg>,
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
    pub(crate) gzip_level: u32,
}

impl RecipeArgs {
    /// The recipe: the preset's, overridden by every option given.
    pub(crate) fn recipe(&self) -> Result<Recipe, UsageError> {
        let classic = self.preset.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("classic"));
        let mut r = if classic { Recipe::classic() } else { Recipe::corrected() };
        let preset_window = match &self.preset {
            Some(p) if !classic => Some(Window::preset(p).map_err(|e| UsageError(format!("--preset {p}: {e}")))?),
            _ => None,
        };
        if preset_window.is_some() && self.window.is_some() {
            return Err(UsageError("--window and a window --preset conflict: give one".to_owned()));
        }
        if let Some((lo, hi)) = self.window {
            r = r.window(Window::new(lo, hi).map_err(|e| UsageError(format!("--window: {e}")))?);
        } else if let Some(w) = preset_window {
            r = r.window(w);
        }
        match (self.mip, self.mip_mm) {
            (Some(0), _) => return Err(UsageError("--mip must be at least 1".to_owned())),
            (Some(k), _) => r = r.mip(MipSize::Slices(k)),
            (None, Some(mm)) if mm.is_finite() && mm > 0.0 => r = r.mip(MipSize::Mm(mm)),
            (None, Some(mm)) => return Err(UsageError(format!("--mip-mm {mm}: must be positive and finite"))),
            (None, None) => {}
        }
        if let Some(a) = self.axcodes {
            r = r.orientation(match a {
                AxcodesArg::Keep => Orientation::Keep,
                AxcodesArg::Canonical => Orientation::Canonical,
                AxcodesArg::Codes(c) => Orientation::Codes(c),
            });
        }
        if let Some(s) = self.spacing {
            r = r.spacing_mm(s);
        }
        if let Some(c) = self.convention {
            r = r.convention(GridConvention::from(c));
        }
        if self.keep_shear {
            r = r.shear(Shear::Keep);
        }
        if let Some(a) = self.mip_align {
            r = r.mip_align(a);
        }
        if let Some(e) = self.mip_edges {
            r = r.mip_edges(e);
        }
        let how = self.interp.interpolation()?;
        if how.is_onehot() {
            return Err(UsageError(
                "--interp onehot is for label maps: use --label-interp onehot for the --label of run and batch".into(),
            ));
        }
        r = r.sampling(how.sampling(1.0, 0.0).antialias(self.interp.antialias));
        if let Some(name) = &self.scheme {
            if classic {
                return Err(UsageError(format!(
                    "--scheme {name} with --preset classic: the classic preset is a whole recipe of its own"
                )));
            }
            self.interp.check_scheme(name)?;
            let scheme: Scheme = name.parse().map_err(|e: ctprep_resample::ResampleError| UsageError(e.to_string()))?;
            r = r.scheme(Some(SchemeUse { scheme, grid: self.convention.is_none(), image: !self.interp.any() }));
        }
        if let Some(l) = self.label_interp {
            r = r.label_interp(Some(match l {
                LabelInterpArg::Nearest => LabelInterp::Nearest,
                LabelInterpArg::Onehot => LabelInterp::Onehot,
            }));
        }
        Ok(r)
    }

    /// The products of `--save` (all four when absent).
    pub(crate) fn products(&self) -> Result<Vec<Product>, UsageError> {
        match &self.save {
            Some(save) => {
                save.iter().map(|s| s.parse()).collect::<Result<_, _>>().map_err(|e| UsageError(format!("--save: {e}")))
            }
            None => Ok(Product::ALL.to_vec()),
        }
    }
}

impl RunArgs {
    /// The recipe of the options.
    pub(crate) fn recipe(&self) -> Result<Recipe, UsageError> {
        self.recipe.recipe()
    }

    /// The outputs: into `--out`, named after the input, the products of `--save`.
    pub(crate) fn outputs(&self) -> Result<Outputs, UsageError> {
        Ok(Outputs::new(&self.out)
            .stem(stem_of(&self.input))
            .gzip_level(self.recipe.gzip_level)
            .save(&self.recipe.products()?))
    }
}

/// Runs `input` through the pipeline with progress bars on stderr.
pub(crate) fn run_pipeline(
    input: Input,
    recipe: &Recipe,
    outputs: &Outputs,
    exec: Exec,
) -> Result<RunJson, Box<dyn std::error::Error>> {
    run_with_label(input, None, recipe, outputs, exec)
}

/// [`run_pipeline`] with a label map: a label that cannot be placed is exit status 3; one placed
/// from another grid gets a warning saying how it differed.
fn run_with_label(
    input: Input,
    label: Option<LabelInput>,
    recipe: &Recipe,
    outputs: &Outputs,
    exec: Exec,
) -> Result<RunJson, Box<dyn std::error::Error>> {
    let bars = Bars::default();
    let report = match Pipeline::new().exec(exec).progress(&bars).run_with_label(input, label, recipe, outputs) {
        Err(e @ ctprep_pipeline::PipelineError::LabelNotPlaceable { .. }) => {
            return Err(Box::new(crate::check::NotAligned(e.to_string())));
        }
        r => r?,
    };
    if let Some(l) = &report.label
        && !l.alignment.is_aligned()
    {
        let kind = if l.alignment.verdict == Verdict::Reoriented { "note" } else { "warning" };
        eprintln!(
            "{kind}: {}: not on the grid of {} ({}); put on the output grid all the same:\n{}",
            crate::one_line(&l.input),
            crate::one_line(&report.input),
            l.alignment.verdict.name(),
            crate::check::alignment_text(&l.alignment).trim_end()
        );
    }
    if let Some(w) = report.outputs.iter().find(|w| matches!(w.product, Product::Volume | Product::Mip)) {
        crate::commands::warn_if_sheared(&w.path, &report.output_affine);
    }
    Ok(RunJson::from(&report))
}

pub(crate) fn run(args: &RunArgs) -> CmdResult {
    let doc = doc(args)?;
    if args.json {
        crate::sayln!("{}", serde_json::to_string(&doc)?)?;
    } else {
        crate::say!("{}", doc.summary())?;
    }
    Ok(())
}

/// Runs the command and returns what `--json` prints.
pub(crate) fn doc(args: &RunArgs) -> Result<RunJson, Box<dyn std::error::Error>> {
    let recipe = args.recipe()?;
    let outputs = args.outputs()?;
    for p in [Product::Volume, Product::Mip] {
        crate::commands::check_output_path(&args.input, &outputs.path(p))?;
    }
    if let Ok(r) = ctprep_io::SliceReader::open(&args.input) {
        let w = recipe.get_window();
        crate::commands::warn_if_not_hu(&args.input, r.dtype(), r.scaling(), (w.lo(), w.hi()));
    }
    let label = match &args.label {
        Some(p) => {
            if !(args.label_tolerance.is_finite() && args.label_tolerance >= 0.0) {
                return Err(
                    UsageError(format!("--label-tolerance {}: must be 0 or more mm", args.label_tolerance)).into()
                );
            }
            crate::commands::check_output_path(p, &outputs.path(Product::Label))?;
            Some(crate::progress::step("read label", || LabelInput::path(p))?.tolerance_mm(args.label_tolerance))
        }
        None => None,
    };
    run_with_label(crate::input::pipeline_input(&args.input)?, label, &recipe, &outputs, args.exec.exec())
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
        assert_eq!(recipe(&[]).expect("defaults"), Recipe::corrected());
        assert_eq!(recipe(&["--preset", "classic"]).expect("classic"), Recipe::classic());
        let lung = recipe(&["--preset", "lung", "--mip", "9"]).expect("lung");
        assert_eq!(
            (lung.get_window().lo(), lung.get_window().hi(), lung.get_mip()),
            (-1350.0, 150.0, MipSize::Slices(9))
        );
        let c = recipe(&["--preset", "classic", "--mip-align", "centre", "--axcodes", "LPS"]).expect("overrides");
        assert_eq!(
            (c.get_convention(), c.get_mip_align(), c.get_mip_edges()),
            (GridConvention::Seed, Align::Centre, Edges::Zero)
        );
        assert_eq!(c.get_orientation(), Orientation::Codes("LPS".parse().expect("codes")));
        assert!(recipe(&["--preset", "lung", "--window", "0,1"]).is_err());
        assert!(recipe(&["--preset", "nonsense"]).is_err());
        assert!(recipe(&["--mip", "0"]).is_err());
        assert!(recipe(&["--mip-mm", "-3"]).is_err());
        assert!(recipe(&["--window", "5,5"]).is_err());
        assert!(recipe(&["--save", "volume,pictures"]).is_err());
        let t = T::try_parse_from(["r", "in.nii.gz", "--out", "d", "--save", "mip,png"]).expect("parses");
        assert_eq!(t.run.outputs().expect("outputs").products(), [Product::Mip, Product::Png]);
    }
}
