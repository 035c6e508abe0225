//! `ctprep window`: clip HU to a window and map it linearly, straight from the stored type.

use std::path::{Path, PathBuf};

use clap::Args;
use ctprep_intensity::{Output, Range, Window, WindowMap};

use crate::commands::{CmdResult, UsageError, check_output_path};

/// Options of `ctprep window`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["window", "level", "preset"])))]
pub(crate) struct WindowArgs {
    /// Input file (.nii, .nii.gz, .hdr/.img, .nrrd or .nhdr), or a DICOM folder (or one file of a
    /// series: its series). Never modified.
    input: PathBuf,
    /// Output file: .nii, .nii.gz, .nrrd or .nhdr; same shape, affine and header as the input.
    pub(crate) output: PathBuf,
    /// The window LO,HI in HU (e.g. -100,1000).
    #[arg(long, value_parser = parse_pair, allow_hyphen_values = true)]
    window: Option<(f64, f64)>,
    /// Window centre in HU (with --width): the window is LEVEL - WIDTH/2 .. LEVEL + WIDTH/2.
    #[arg(long, requires = "width", allow_hyphen_values = true)]
    level: Option<f64>,
    /// Window width in HU (with --level).
    #[arg(long, requires = "level")]
    width: Option<f64>,
    /// A named window: classic (-100..1000), lung (-1350..150), mediastinum (-125..225),
    /// soft-tissue (-160..240), bone (-500..1300), brain (0..80), liver (-20..140), stroke (8..48).
    #[arg(long)]
    preset: Option<String>,
    /// Output values A,B for the window's ends (f32 output only; default 0,1).
    #[arg(long, value_parser = parse_pair, allow_hyphen_values = true)]
    range: Option<(f64, f64)>,
    /// Output type: f32, or u8 / u16 for images (the window maps to 0..255 / 0..65535,
    /// rounded to nearest, NaN to 0).
    #[arg(long, default_value = "f32", value_parser = ["f32", "u8", "u16"])]
    dtype: String,
    #[command(flatten)]
    pub(crate) exec: crate::commands::ExecArgs,
    /// gzip level for .nii.gz and gzip-encoded NRRD output (0-9).
    #[arg(long, default_value_t = ctprep_io::DEFAULT_GZIP_LEVEL, value_parser = clap::value_parser!(u32).range(0..=9))]
    gzip_level: u32,
}

pub(crate) fn parse_pair(s: &str) -> Result<(f64, f64), String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let [a, b] = parts.as_slice() else { return Err(format!("{s:?}: expected two numbers A,B")) };
    let p = |v: &str| v.parse::<f64>().map_err(|_| format!("{v:?} is not a number"));
    Ok((p(a)?, p(b)?))
}

/// The window that `--window LO,HI`, `--level L --width W` or `--preset NAME` names (at most one
/// of them; `None` when none is given), or a message for a usage error.
pub(crate) fn pick_window(
    window: Option<(f64, f64)>,
    level_width: Option<(f64, f64)>,
    preset: Option<&str>,
) -> Result<Option<Window>, String> {
    let w = match (window, level_width, preset) {
        (None, None, None) => return Ok(None),
        (Some((lo, hi)), None, None) => Window::new(lo, hi),
        (None, Some((l, w)), None) => Window::from_level_width(l, w),
        (None, None, Some(name)) => Window::preset(name),
        _ => return Err("give exactly one of --window, --level/--width, --preset".to_owned()),
    };
    w.map(Some).map_err(|e| e.to_string())
}

impl WindowArgs {
    /// The window the options name; an error message for clap when they are inconsistent.
    pub(crate) fn window(&self) -> Result<Window, String> {
        pick_window(self.window, self.level.zip(self.width), self.preset.as_deref())?
            .ok_or_else(|| "give exactly one of --window, --level/--width, --preset".to_owned())
    }

    pub(crate) fn check_range(&self) -> Result<Option<Range>, String> {
        match (self.range, self.dtype.as_str()) {
            (None, _) => Ok(None),
            (Some(_), "u8" | "u16") => {
                Err(format!("--range applies to f32 output; {} output uses its full range", self.dtype))
            }
            (Some((a, b)), _) => Range::new(a, b).map(Some).map_err(|e| e.to_string()),
        }
    }
}

/// Windows `args.input` into `args.output` as stored type `O`, a few slices at a time.
fn window_file<O: Output + ctprep_io::Element>(
    args: &WindowArgs,
    window: Window,
    range: Option<Range>,
) -> Result<ctprep_pipeline::StageReport, Box<dyn std::error::Error>> {
    let header = crate::input::open_reader(&args.input)?;
    crate::commands::warn_if_not_hu(&args.input, header.dtype(), header.scaling(), (window.lo(), window.hi()));
    let scaling = header.scaling().map(|s| (s.slope, s.inter));
    let map = WindowMap::for_output::<O>(window, range, scaling)?;
    let bars = crate::progress::Bars::default();
    let pipeline = ctprep_pipeline::Pipeline::new().exec(args.exec.exec()).progress(&bars);
    Ok(pipeline.window_to::<O>(ctprep_pipeline::Input::Reader(header), &map, &args.output, args.gzip_level)?)
}

pub(crate) fn run(args: &WindowArgs) -> CmdResult {
    let window = args.window().map_err(UsageError)?;
    let range = args.check_range().map_err(UsageError)?;
    check_output_path(&args.input, &args.output)?;
    // Streamed: the input is read, windowed and compressed a few slices at a time.
    let report = match args.dtype.as_str() {
        "u8" => window_file::<u8>(args, window, range)?,
        "u16" => window_file::<u16>(args, window, range)?,
        _ => window_file::<f32>(args, window, range)?,
    }
    .kernel;
    let r = range.unwrap_or(Range::UNIT);
    let to = if args.dtype == "f32" { format!("[{}, {}]", r.a, r.b) } else { format!("the full {} range", args.dtype) };
    crate::sayln!(
        "wrote {}: window {}..{} HU -> {to} as {} ({report})",
        display(&args.output),
        window.lo(),
        window.hi(),
        args.dtype,
    )?;
    Ok(())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
