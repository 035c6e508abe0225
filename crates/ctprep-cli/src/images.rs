//! `ctprep png` and `ctprep sheet`: one slice, or a contact sheet of slices, as a PNG in
//! radiological display orientation (derived from the affine, whatever the storage order).

use crate::progress::step;
use std::path::{Path, PathBuf};

use crate::input::read_volume;
use clap::Args;
use ctprep_intensity::Window;
use ctprep_render::{
    Bits, OverlayStyle, PixelMap, Plane, SheetOptions, VolumeImages, label_slice, labelled_sheet, write_png,
    write_png_rgb,
};

use crate::commands::{CmdResult, UsageError, same_file};
use crate::window::{parse_pair, pick_window};

/// The optional window, given as `ctprep window` takes it.
#[derive(Debug, Args)]
pub(crate) struct WindowOpts {
    /// The window LO,HI in HU mapped to black..white (e.g. -160,240). Without a window the
    /// values are taken as already in [0, 1].
    #[arg(long, value_parser = parse_pair, allow_hyphen_values = true, conflicts_with_all = ["level", "preset"])]
    window: Option<(f64, f64)>,
    /// Window centre in HU (with --width): the window is LEVEL - WIDTH/2 .. LEVEL + WIDTH/2.
    #[arg(long, requires = "width", allow_hyphen_values = true, conflicts_with = "preset")]
    level: Option<f64>,
    /// Window width in HU (with --level).
    #[arg(long, requires = "level")]
    width: Option<f64>,
    /// A named window: classic (-100..1000), lung (-1350..150), mediastinum (-125..225),
    /// soft-tissue (-160..240), bone (-500..1300), brain (0..80), liver (-20..140), stroke (8..48).
    #[arg(long)]
    preset: Option<String>,
}

impl WindowOpts {
    fn pixel_map(&self, bits: Bits) -> Result<PixelMap, UsageError> {
        let w = pick_window(self.window, self.level.zip(self.width), self.preset.as_deref()).map_err(UsageError)?;
        let map = PixelMap::new().bits(bits);
        Ok(match w {
            Some(w) => map.window(w),
            None => map,
        })
    }
}

/// Options of `ctprep png`.
#[derive(Debug, Args)]
pub(crate) struct PngArgs {
    /// Input file (.nii, .nii.gz, .hdr/.img, .nrrd or .nhdr) or a DICOM folder (or one file of a
    /// series): a 3-D volume. Never modified.
    input: PathBuf,
    /// Output file, .png (grey, 8 or 16 bits).
    pub(crate) output: PathBuf,
    /// axial (or z), coronal (or y), sagittal (or x).
    #[arg(long, default_value = "axial")]
    plane: Plane,
    /// The slice N, counted toward increasing RAS coordinate: axial from inferior to superior,
    /// coronal from posterior to anterior, sagittal from the patient's left to right.
    /// Default: the middle slice (count / 2).
    #[arg(long)]
    slice: Option<usize>,
    #[command(flatten)]
    window: WindowOpts,
    /// Bits per pixel: 8 (round(255 v)) or 16 (round(65535 v)), ties to even, NaN black.
    #[arg(long, default_value = "8")]
    bits: Bits,
    /// A label map on the input's grid (NIfTI or NRRD, as `ctprep run --label` writes it) drawn
    /// over the slice: each value in its colour (a palette readers with colour-vision
    /// deficiencies can tell apart; value v takes colour (v - 1) mod 16), an outline where it
    /// meets another value, a 35 % fill inside, 0 left grey. The PNG becomes 8-bit RGB.
    #[arg(long, value_name = "LABEL")]
    label: Option<PathBuf>,
}

/// Options of `ctprep sheet`.
#[derive(Debug, Args)]
pub(crate) struct SheetArgs {
    /// Input file (.nii, .nii.gz, .hdr/.img, .nrrd or .nhdr) or a DICOM folder (or one file of a
    /// series): a 3-D volume. Never modified.
    input: PathBuf,
    /// Output file, .png (grey, 8 or 16 bits).
    pub(crate) output: PathBuf,
    /// axial (or z), coronal (or y), sagittal (or x).
    #[arg(long, default_value = "axial")]
    plane: Plane,
    /// Panel rows.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..))]
    rows: u32,
    /// Panel columns.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..))]
    cols: u32,
    /// The first panel's slice N (numbered as --slice of `ctprep png`).
    #[arg(long, default_value_t = 10)]
    start: usize,
    /// The slice step between panels.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    every: u32,
    /// Draw each panel's slice number in its top-left corner.
    #[arg(long)]
    numbers: bool,
    #[command(flatten)]
    window: WindowOpts,
    /// Bits per pixel: 8 or 16.
    #[arg(long, default_value = "8")]
    bits: Bits,
    /// A label map on the input's grid drawn over every panel, as `ctprep png --label` draws it
    /// (8-bit RGB).
    #[arg(long, value_name = "LABEL")]
    label: Option<PathBuf>,
}

/// Refuses an output that is the input, or that is not named .png.
fn check_png_output(input: &Path, output: &Path) -> CmdResult {
    if same_file(input, output) {
        return Err(format!("{}: refusing to write onto the input file", output.display()).into());
    }
    let png = output.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !png || output.file_stem().is_none() {
        return Err(format!("{}: output file name must end in .png", output.display()).into());
    }
    Ok(())
}

/// The label map of `--label`, checked against the image's grid.
fn read_label(
    label: Option<&Path>,
    image: &ctprep_io::Volume,
) -> Result<Option<ctprep_io::Volume>, Box<dyn std::error::Error>> {
    let Some(path) = label else { return Ok(None) };
    let labels = step("read label", || read_volume(path))?;
    ctprep_render::check_same_grid(image, &labels)?;
    Ok(Some(labels))
}

/// `--label` with `--bits 16` is a usage error (the overlay is 8-bit RGB), found before any read.
fn check_label_bits(label: Option<&Path>, bits: Bits) -> Result<(), UsageError> {
    if label.is_some() && bits == Bits::Sixteen {
        return Err(UsageError("--label draws an 8-bit colour PNG: leave out --bits 16".to_owned()));
    }
    Ok(())
}

fn describe(window: Option<Window>, bits: Bits) -> String {
    match window {
        Some(w) => format!("{bits}-bit, window {}..{} HU", w.lo(), w.hi()),
        None => format!("{bits}-bit, values taken as [0, 1]"),
    }
}

pub(crate) fn run_png(args: &PngArgs) -> CmdResult {
    let map = args.window.pixel_map(args.bits)?;
    check_label_bits(args.label.as_deref(), args.bits)?;
    check_png_output(&args.input, &args.output)?;
    let v = step("read", || read_volume(&args.input))?;
    if let Some(w) = map.get_window() {
        crate::commands::warn_if_not_hu(&args.input, v.dtype(), v.scaling(), (w.lo(), w.hi()));
    }
    let labels = read_label(args.label.as_deref(), &v)?;
    let layout = v.slice_layout(args.plane)?;
    let n = args.slice.unwrap_or(layout.middle());
    let image = map.apply(&v.slice_image(args.plane, n)?);
    match &labels {
        Some(l) => {
            let rgb = ctprep_render::overlay(&image, &label_slice(l, args.plane, n)?, &OverlayStyle::new())?;
            write_png_rgb(&args.output, &rgb)?;
        }
        None => write_png(&args.output, &image)?,
    }
    crate::sayln!(
        "wrote {}: {} slice {n} of 0 to {} ({} x {} px, {})",
        args.output.display(),
        args.plane,
        layout.slice_count() - 1,
        image.width,
        image.height,
        describe(map.get_window(), args.bits) + if labels.is_some() { ", label drawn over it" } else { "" }
    )?;
    Ok(())
}

pub(crate) fn run_sheet(args: &SheetArgs) -> CmdResult {
    let map = args.window.pixel_map(args.bits)?;
    check_label_bits(args.label.as_deref(), args.bits)?;
    check_png_output(&args.input, &args.output)?;
    let v = step("read", || read_volume(&args.input))?;
    if let Some(w) = map.get_window() {
        crate::commands::warn_if_not_hu(&args.input, v.dtype(), v.scaling(), (w.lo(), w.hi()));
    }
    let opts = SheetOptions::new()
        .rows(args.rows as usize)
        .cols(args.cols as usize)
        .start(args.start)
        .every(args.every as usize)
        .numbers(args.numbers);
    let labels = read_label(args.label.as_deref(), &v)?;
    let (width, height) = match &labels {
        Some(l) => {
            let rgb = labelled_sheet(&v, l, args.plane, &opts, &map, &OverlayStyle::new())?;
            write_png_rgb(&args.output, &rgb)?;
            (rgb.width, rgb.height)
        }
        None => {
            let sheet = v.contact_sheet(args.plane, &opts, &map)?;
            write_png(&args.output, &sheet)?;
            (sheet.width, sheet.height)
        }
    };
    let slices = opts.panel_slices(args.plane, v.slice_layout(args.plane)?.slice_count())?;
    let shown = match slices.as_slice() {
        [a] => format!("slice {a}"),
        [a, b] => format!("slices {a} and {b}"),
        [a, b, .., z] => format!("slices {a}, {b}, ..., {z}"),
        [] => String::new(),
    };
    crate::sayln!(
        "wrote {}: {} x {} {} {shown} ({} x {} px, {})",
        args.output.display(),
        args.rows,
        args.cols,
        args.plane,
        width,
        height,
        describe(map.get_window(), args.bits) + if labels.is_some() { ", labels drawn over them" } else { "" }
    )?;
    Ok(())
}
