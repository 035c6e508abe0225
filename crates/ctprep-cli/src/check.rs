//! `ctprep check IMAGE LABEL`: whether a label map lies on its image's grid, how it differs
//! when it does not, and the label values present.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::input::read_volume;
use clap::Args;
use ctprep_io::Volume;
use ctprep_pipeline::align::{Alignment, GridInfo, LabelValue, compare, value_counts};
use serde::Serialize;

use crate::commands::{CmdResult, UsageError, fmt_num};
use crate::progress::step;

pub(crate) use ctprep_pipeline::align::DEFAULT_TOLERANCE_MM;

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The image (.nii, .nii.gz, .hdr/.img, .nrrd or .nhdr, or a DICOM folder or file).
    pub image: PathBuf,
    /// Its label map (any of the same formats; a layered .seg.nrrd too).
    pub label: PathBuf,
    /// Print one JSON object instead of text: image, label, tolerance_mm, aligned, verdict,
    /// differences, overlap, max_corner_mm, image_box, voxel_map, notes, values.
    #[arg(long)]
    pub json: bool,
    /// How far (mm) a label voxel centre may lie from the image's for the grids to count as
    /// the same.
    #[arg(long, value_name = "MM", default_value_t = DEFAULT_TOLERANCE_MM)]
    pub tolerance: f64,
}

/// Exit status 3: the check ran and the label is not on the image's grid (or, for `run --label`,
/// cannot be placed on it).
#[derive(Debug)]
pub(crate) struct NotAligned(pub String);

impl std::fmt::Display for NotAligned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotAligned {}

#[derive(Serialize)]
struct GridJson {
    path: String,
    format: &'static str,
    shape: Vec<usize>,
    datatype: &'static str,
    spacing: [f64; 3],
    axcodes: String,
    affine: [[f64; 4]; 4],
}

#[derive(Serialize)]
struct ValueJson {
    value: f64,
    voxels: u64,
    ml: f64,
}

#[derive(Serialize)]
struct CheckJson {
    image: GridJson,
    label: GridJson,
    tolerance_mm: f64,
    aligned: bool,
    verdict: &'static str,
    differences: Vec<String>,
    overlap: f64,
    max_corner_mm: Option<f64>,
    image_box: Option<[[i64; 2]; 3]>,
    voxel_map: [[f64; 4]; 4],
    notes: Vec<String>,
    values: Option<Vec<ValueJson>>,
    values_error: Option<String>,
}

fn grid_json(path: &Path, v: &Volume, shape: &[usize]) -> GridJson {
    GridJson {
        path: path.display().to_string(),
        format: v.format_name(),
        shape: shape.to_vec(),
        datatype: v.dtype().numpy_name(),
        spacing: v.spacing(),
        axcodes: v.axcodes_string(),
        affine: v.affine().rows(),
    }
}

/// The spatial grid of a volume (a layered label's layers share it).
pub(crate) fn grid_of(v: &Volume) -> GridInfo {
    GridInfo { shape: v.spatial_shape(), affine: *v.affine() }
}

/// What each file's own header says that a user should know when pairing it: a NIfTI whose
/// sform and qform disagree is read differently by nibabel and ITK.
pub(crate) fn header_notes(path: &Path, v: &Volume, shape: [usize; 3], tolerance: f64) -> Vec<String> {
    let mut notes = Vec::new();
    if v.nrrd_header().is_none()
        && let Some(mm) = ctprep_io::sform_qform_distance(v.header(), shape, &v.display_path())
        && mm > tolerance
    {
        notes.push(format!(
            "{}: its sform and qform differ by {} mm at the farthest corner: nibabel and ctprep read the sform, ITK-based tools (SimpleITK, ITK-SNAP, 3D Slicer) the qform",
            path.display(),
            fmt_num(mm)
        ));
    }
    if v.affine().is_sheared() {
        notes.push(format!(
            "{}: its voxel axes are {}° from perpendicular (shear)",
            path.display(),
            fmt_num(v.affine().shear_degrees())
        ));
    }
    notes
}

/// The label value table, as text.
pub(crate) fn values_text(values: &[LabelValue]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "  {:>10} {:>12} {:>12}", "value", "voxels", "ml");
    for l in values {
        let _ = writeln!(s, "  {:>10} {:>12} {:>12}", fmt_num(l.value), l.voxels, fmt_num(l.ml));
    }
    s
}

/// The differences of `a` as indented lines, with the share inside the image.
pub(crate) fn alignment_text(a: &Alignment) -> String {
    let mut s = String::new();
    for d in &a.differences {
        let _ = writeln!(s, "  - {d}");
    }
    if !a.is_aligned() {
        let _ = writeln!(
            s,
            "  - {}% of the label's extent lies inside the image",
            fmt_num((a.overlap * 1000.0).round() / 10.0)
        );
    }
    s
}

pub(crate) fn run(args: &CheckArgs) -> CmdResult {
    if !(args.tolerance.is_finite() && args.tolerance >= 0.0) {
        return Err(UsageError(format!("--tolerance {}: must be a distance in mm, 0 or more", args.tolerance)).into());
    }
    // The image's header is all its grid needs; the label is read whole for its values.
    let image_reader = step("read header", || crate::input::open_reader(&args.image))?;
    let image_grid = GridInfo { shape: image_reader.spatial_shape(), affine: *image_reader.affine() };
    let image = image_reader.template().clone();
    let label = step("read", || read_volume(&args.label))?;
    let a = compare(&image_grid, &grid_of(&label), args.tolerance);
    let mut notes = header_notes(&args.image, &image, image_grid.shape, args.tolerance);
    notes.extend(header_notes(&args.label, &label, label.spatial_shape(), args.tolerance));
    let values = value_counts(&label);
    if args.json {
        let doc = CheckJson {
            image: grid_json(&args.image, &image, image_reader.shape()),
            label: grid_json(&args.label, &label, label.shape()),
            tolerance_mm: args.tolerance,
            aligned: a.is_aligned(),
            verdict: a.verdict.name(),
            differences: a.differences.clone(),
            overlap: a.overlap,
            max_corner_mm: a.max_corner_mm,
            image_box: a.image_box,
            voxel_map: a.voxel_map.rows(),
            notes,
            values: values
                .as_ref()
                .ok()
                .map(|v| v.iter().map(|l| ValueJson { value: l.value, voxels: l.voxels, ml: l.ml }).collect()),
            values_error: values.as_ref().err().cloned(),
        };
        crate::sayln!("{}", serde_json::to_string(&doc)?)?;
    } else {
        let mut s = String::new();
        for (what, path, v, full) in
            [("image", &args.image, &image, image_reader.shape()), ("label", &args.label, &label, label.shape())]
        {
            let sp = v.spacing().map(fmt_num);
            let shape: Vec<String> = full.iter().map(ToString::to_string).collect();
            let _ = writeln!(s, "{what:<6} {}", path.display());
            let _ = writeln!(
                s,
                "       {} {}, {} x {} x {} mm, {} ({})",
                shape.join(" x "),
                v.dtype(),
                sp[0],
                sp[1],
                sp[2],
                v.axcodes_string(),
                v.format_name()
            );
            for row in &v.affine().rows()[..3] {
                let cells: Vec<String> =
                    row.iter().map(|x| format!("{:>10}", fmt_num((x * 1e4).round() / 1e4))).collect();
                let _ = writeln!(s, "       [{} ]", cells.join(" "));
            }
        }
        if a.is_aligned() {
            let _ = writeln!(
                s,
                "aligned: the label lies voxel for voxel on the image's grid (corners within {} mm; tolerance {} mm)",
                fmt_num(a.max_corner_mm.unwrap_or(0.0)),
                fmt_num(args.tolerance)
            );
        } else {
            let _ = writeln!(s, "NOT aligned ({}): the label does not lie on the image's grid", a.verdict.name());
            s += &alignment_text(&a);
        }
        for n in &notes {
            let _ = writeln!(s, "note: {n}");
        }
        match &values {
            Ok(v) => {
                let _ = writeln!(s, "label values:");
                s += &values_text(v);
            }
            Err(e) => {
                let _ = writeln!(s, "label values: {e}");
            }
        }
        crate::say!("{s}")?;
    }
    if a.is_aligned() {
        Ok(())
    } else {
        Err(NotAligned(format!(
            "{}: not aligned with {} ({})",
            args.label.display(),
            args.image.display(),
            a.verdict.name()
        ))
        .into())
    }
}
