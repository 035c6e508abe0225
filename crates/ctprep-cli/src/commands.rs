//! Subcommand definitions (clap) and their implementations.

use crate::progress::step;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::input::read_volume;
use clap::{Parser, Subcommand};
use ctprep_core::{Exec, Isa, Kernel, Threads, Variant};
use ctprep_io::{AxCodes, DataType, Volume, WriteOptions, write_nifti, write_volume};
use ctprep_phantom::{Phantom, StoredType};
use serde::Serialize;

/// Fast, correct CT preprocessing: NIfTI, NRRD or DICOM in, training-ready volumes and images out.
#[derive(Debug, Parser)]
#[command(name = "ctprep", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
    /// No progress display on stderr (it is also hidden when stderr is not a terminal).
    #[arg(long, global = true)]
    quiet: bool,
    /// The profile `auto` follows (written by `ctprep tune`). Default: $CTPREP_PROFILE, else
    /// $XDG_CONFIG_HOME/ctprep/profile.json (~/.config/ctprep/profile.json) when it exists; a
    /// profile of another machine or build is ignored with a warning.
    #[arg(long, global = true, value_name = "PATH")]
    profile: Option<PathBuf>,
    /// With DICOM input whose folder holds two or more image series: the one to read, by index
    /// or SeriesInstanceUID as `ctprep info FOLDER` lists them (without it such a folder is an
    /// error listing them; one file of a series reads that series).
    #[arg(long, global = true, value_name = "INDEX|UID")]
    series: Option<String>,
    /// With DICOM input: set the voxels that hold the series' PixelPaddingValue (outside the
    /// scanner's field of view) to this real value (HU for CT), e.g. -1024. Without it they keep
    /// their value and a note counts them. With shared RescaleSlope / RescaleIntercept the value
    /// must be a whole stored value ((V - intercept) / slope).
    #[arg(long, global = true, value_name = "V", allow_negative_numbers = true, value_parser = parse_finite)]
    fill_padding: Option<f64>,
    /// With DICOM input: what slices unevenly spaced along the normal (a step more than 1 % off
    /// the median: a missing slice, mixed thicknesses) do: `error` (the default) names where;
    /// `resample` interpolates linearly along the normal, from the slices at their true
    /// positions, onto a uniform stack from the first slice to the last at about the median
    /// step (float32 real values), and says so.
    #[arg(long, global = true, value_name = "error|resample", value_parser = ["error", "resample"])]
    uneven: Option<String>,
}

fn parse_finite(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{s}: not a finite number")),
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show a NIfTI or NRRD file's geometry, type, scaling and value range.
    ///
    /// The affine of a NIfTI file is the one nibabel uses (sform if sform_code != 0, else qform,
    /// else the pixdim fallback); of an NRRD, its space directions and origin in RAS, as ITK
    /// reads them; axis codes name the direction each voxel axis increases toward
    /// (RAS, LPS, ...); min, max and mean are of the scaled values (scl_slope/scl_inter
    /// applied), NaN ignored. Shear: how far from perpendicular the voxel axes are (a gantry
    /// tilt stored as shear; ITK-based tools cannot use such an affine); when both codes are
    /// set, how far apart the sform and the qform put the farthest corner voxel.
    Info {
        /// A .nii, .nii.gz, .hdr/.img, .nrrd or .nhdr file, or DICOM: a folder (every series in
        /// it is listed) or one file of a series.
        file: PathBuf,
        /// Print one JSON object: path, format, shape, datatype, byte_order, spacing, affine,
        /// axcodes, qform_code, sform_code, scl_slope, scl_inter, min, max, mean, shear_degrees,
        /// sform_qform_mm (and values, with --counts).
        #[arg(long)]
        json: bool,
        /// Also list every distinct value with its voxel count and volume in ml (for label maps;
        /// at most 1000 values).
        #[arg(long)]
        counts: bool,
    },
    /// Check that a label map lies on its image's grid; say how it differs when it does not.
    ///
    /// Compares the grids (shape, spacing, axis codes, affine): the same grid when every
    /// corner voxel centre agrees within --tolerance. Otherwise names the difference: axes
    /// flipped or permuted (a label stored LPS beside an image stored RAS holds the same voxels
    /// in another order), a shift of whole voxels or half a voxel, a crop to a sub-box (the box
    /// given in image voxels), another spacing, a rotation, no overlap at all. Notes a NIfTI
    /// file whose sform and qform disagree (nibabel and ITK then read different grids), and
    /// lists the label values with voxel counts and volumes in ml.
    ///
    /// Exit status: 0 aligned, 3 not aligned, 1 bad input. Examples:
    ///
    ///   ctprep check ct.nrrd ct_label.nrrd
    ///
    ///   ctprep check ct.nii.gz seg.nii.gz --json --tolerance 0.1
    #[command(verbatim_doc_comment)]
    Check(crate::check::CheckArgs),
    /// Rewrite a NIfTI or NRRD file or a DICOM series: reorient, change the stored type or format, recompress.
    ///
    /// Reorientation flips and permutes the voxel axes and updates the affine so every voxel
    /// keeps its world position (as nibabel's as_closest_canonical). Both sform and qform are
    /// written to NIfTI; NRRD gets space directions and origin that read back exactly. Examples:
    ///
    ///   ctprep convert ct.nii.gz ct_ras.nii.gz --axcodes canonical
    ///
    ///   ctprep convert ct.nii ct_f32.nii.gz --dtype f32 --gzip-level 6
    ///
    ///   ctprep convert seg.nrrd seg.nii.gz
    ///
    ///   ctprep convert dicom_series/ ct.nii.gz --sidecar
    #[command(verbatim_doc_comment)]
    Convert {
        /// Input file (.nii, .nii.gz, .hdr/.img, .nrrd or .nhdr), or a DICOM folder (or one file of a
        /// series: its series). Never modified.
        input: PathBuf,
        /// Output file: .nii, .nii.gz, .nrrd or .nhdr, which picks the format (the name is kept as
        /// given, dots included). NRRD is written in LPS, gzip-encoded, as 3D Slicer writes it.
        output: PathBuf,
        /// Target axis codes: `canonical` (closest to RAS), `keep`, or three letters such as
        /// RAS, LPS, PIR.
        #[arg(long, default_value = "keep", value_parser = parse_axcodes)]
        axcodes: AxcodesArg,
        /// Stored type of the output. `keep` keeps the stored values and their scl_slope /
        /// scl_inter exactly; any other type stores the scaled values, rounded to nearest for
        /// integer types (a value outside the type's range is an error, never a wrap).
        #[arg(long, default_value = "keep", value_parser = parse_dtype)]
        dtype: DtypeArg,
        /// gzip level for .nii.gz and gzip-encoded NRRD output, 0 (stored) to 9 (smallest).
        #[arg(long, default_value_t = ctprep_io::DEFAULT_GZIP_LEVEL, value_parser = clap::value_parser!(u32).range(0..=9))]
        gzip_level: u32,
        /// DICOM input: also write a BIDS-style JSON sidecar beside the output (its name with
        /// .json for the format's extension): Modality, Manufacturer, ManufacturersModelName,
        /// SoftwareVersions, BodyPartExamined, PatientPosition, SeriesDescription, ProtocolName,
        /// SeriesNumber, AcquisitionNumber, ImageType, ScanOptions, SliceThickness, KVP,
        /// ConvolutionKernel, XRayTubeCurrent, XRayExposure, ExposureTime (s), AcquisitionTime,
        /// SeriesInstanceUID, ImageOrientationPatientDICOM, GantryTiltDegrees (from the slice
        /// positions), those present. Nothing that identifies the patient, and no dates.
        #[arg(long)]
        sidecar: bool,
        /// With --sidecar: also write the dates (AcquisitionDateTime, SeriesDate, StudyDate),
        /// which the sidecar leaves out by default.
        #[arg(long, requires = "sidecar")]
        keep_dates: bool,
    },
    /// Clip HU to a window and map it linearly to [0, 1] (or --range, or u8/u16 for images).
    ///
    /// y = a + (clamp(v, lo, hi) - lo) / (hi - lo) * (b - a), computed in one pass from the
    /// stored type with its scl_slope/scl_inter; NaN stays NaN (0 for u8/u16). The output keeps
    /// the input's shape, affine and header. Examples:
    ///
    ///   ctprep window ct.nii.gz ct_w.nii.gz --window -100,1000
    ///
    ///   ctprep window ct.nii.gz lung.nii.gz --preset lung --dtype u8
    ///
    ///   ctprep window ct.nii.gz st.nii.gz --level 40 --width 400 --range -1,1
    #[command(verbatim_doc_comment)]
    Window(crate::window::WindowArgs),
    /// Thick-slab maximum (or minimum, mean) intensity projection, or a whole-axis projection.
    ///
    /// Output slice i reduces a window of k slices along --axis: start alignment uses slices
    /// i..i+k-1 (the classic recipe), centre a window centred on i. Edges: shrink truncates
    /// windows at the ends, valid keeps only full windows, zero reproduces the classic loop
    /// (windows reaching the last slice are 0). The output affine places each slice where its
    /// window is (the window's centre; for start/zero the first slice), so it overlays the input.
    /// Cost per voxel does not depend on k. Examples:
    ///
    ///   ctprep mip ct.nii.gz mip.nii.gz --slab 5
    ///
    ///   ctprep mip ct.nii.gz mip.nii.gz --slab-mm 10 --align centre --stride 2
    ///
    ///   ctprep mip ct.nii.gz coronal.nii.gz --whole --axis y
    #[command(verbatim_doc_comment)]
    Mip(crate::mip::MipArgs),
    /// Resample onto a new voxel grid: a target spacing, or another image's grid.
    ///
    /// Each output voxel centre is mapped through the affines to a continuous input index and
    /// interpolated there: trilinear or cubic B-spline (scipy's map_coordinates, order 1 or 3,
    /// prefilter included) on the real (scaled) values, written as float32, or the nearest voxel
    /// in the stored type with its scl_slope/scl_inter (label maps stay integer, labels never
    /// blend); --order sets one order per axis, --mode what lies beyond the edge (scipy's five
    /// modes). With --spacing the output keeps the input's direction cosines and starts where
    /// --convention puts the first sample, so it overlays the input in any viewer; with --like
    /// it takes the reference's shape and affine. Axis-aligned maps (every spacing change) run
    /// the separable path, others (oblique, permuted) the general path. Examples:
    ///
    ///   ctprep resample ct.nii.gz ct_1mm.nii.gz --spacing 1
    ///
    ///   ctprep resample ct.nii.gz ct_iso.nii.gz --spacing 0.8,0.8,2 --convention centred --fill -1024
    ///
    ///   ctprep resample ct.nii.gz ct_cubic.nii.gz --spacing 1 --interp cubic --mode reflect
    ///
    ///   ctprep resample seg.nii.gz seg_on_ct.nii.gz --like ct.nii.gz --interp nearest
    #[command(verbatim_doc_comment)]
    Resample(crate::resample::ResampleArgs),
    /// Write one slice as a PNG in radiological display orientation.
    ///
    /// The orientation comes from the affine (the closest voxel axis to each world axis, as
    /// nibabel's io_orientation; oblique volumes are not resampled), so a file stored in any
    /// axis order gives the same picture: axial with anterior at the top and the patient's right
    /// on the image's left, coronal with superior at the top and the patient's right on the
    /// left, sagittal with superior at the top and anterior on the left. Slice N counts toward
    /// increasing RAS coordinate (axial inferior to superior, coronal posterior to anterior,
    /// sagittal the patient's left to right); the default is the middle slice. Values map to
    /// grey levels through --window (HU) or, without one, as already in [0, 1]: round(255 v)
    /// or round(65535 v), ties to even, clamped, NaN black. Examples:
    ///
    ///   ctprep png ct.nii.gz axial.png --preset soft-tissue
    ///
    ///   ctprep png ct.nii.gz coronal.png --plane coronal --slice 200 --window -160,240
    ///
    ///   ctprep png ct_w.nii.gz sag.png --plane x --bits 16
    #[command(verbatim_doc_comment)]
    Png(crate::images::PngArgs),
    /// Write a contact sheet: rows x cols slices as one PNG, in radiological orientation.
    ///
    /// Panels show slices START, START + EVERY, ... row by row (the classic sample_stack,
    /// 6 x 6 from slice 10 every 3), separated by 2-pixel mid-grey lines; --numbers writes each
    /// slice's N in its top-left corner. Slices are oriented and numbered as `ctprep png`'s;
    /// a slice past the last one is an error. Examples:
    ///
    ///   ctprep sheet ct.nii.gz sheet.png --preset lung
    ///
    ///   ctprep sheet ct.nii.gz sheet.png --rows 4 --cols 8 --start 0 --every 5 --numbers --window -160,240
    ///
    ///   ctprep sheet ct.nii.gz cor.png --plane coronal --start 100 --every 10 --bits 16 --preset bone
    #[command(verbatim_doc_comment)]
    Sheet(crate::images::SheetArgs),
    /// The whole recipe: resample, window, thick-slab MIP, NIfTI and PNG outputs.
    ///
    /// Reads a CT, reorients it (by resampling onto the reoriented grid: no extra copy),
    /// resamples it to --spacing (1 mm), windows HU to [0, 1] (-100..1000), builds a thick-slab
    /// MIP along the output's z axis (5 slices, centred, ends shrunk), and writes into DIR the
    /// windowed volume, the MIP volume (.nii.gz), PNGs of the MIP's middle axial, coronal and
    /// sagittal slices and a contact sheet of its axial slices, in radiological orientation.
    /// `--preset classic` reproduces the classic Python recipe exactly (nibabel +
    /// RegularGridInterpolator on the `seed` grid, np.clip, the k-slice loop that leaves the
    /// last k slices 0, no reorientation). Examples:
    ///
    ///   ctprep run ct.nii.gz --out prep
    ///
    ///   ctprep run ct.nii.gz --out prep --spacing 1 --window -100,1000 --mip 5 --save mip,png
    ///
    ///   ctprep run ct.nii.gz --out classic --preset classic --json
    ///
    ///   ctprep run ct.nii.gz --out lung --preset lung --mip-mm 10 --spacing 0.8,0.8,1
    #[command(verbatim_doc_comment)]
    Run(crate::run::RunArgs),
    /// The recipe of `run` over a dataset: resumable, one bad case never stops the rest,
    /// spread over a Slurm job array.
    ///
    /// Each case writes into DIR/<id>/ what `ctprep run` writes, plus ctprep.json (recipe,
    /// version, inputs and outputs with size and BLAKE3 hash, timings, kernels). A case folder is
    /// filled beside its place and renamed into it: it holds one complete run or nothing, and
    /// a failed case keeps its earlier outputs. A rerun skips every case whose record matches
    /// (same ctprep, recipe and input contents; --force redoes all), so after a crash or
    /// `kill -9` the rerun finishes the job; it also removes the killed run's temporaries. A
    /// failing case (corrupt file, a label that cannot be placed) is recorded in
    /// DIR/<id>.failed.json and the batch goes on. At the end a table on stderr, and
    /// DIR/summary.csv and summary.json. Exit status: 0 when every case is done, 1 when any
    /// failed (or another process was running it), 2 for usage errors. Examples:
    ///
    ///   ctprep batch scans/ --out prep --label-pattern '{stem}_seg.nrrd'
    ///
    ///   ctprep batch cases.csv --out prep --preset lung --spacing 1.5 --save volume,mip
    ///
    ///   ctprep batch cases.csv --out prep --slurm --array-size 50 --sbatch-args "-p cpu -c 2" --submit
    ///
    ///   ctprep batch --summary prep
    #[command(verbatim_doc_comment)]
    Batch(crate::batch::BatchArgs),
    /// Write DIR/report.html: one page that shows every case of a batch's output folder.
    ///
    /// One card per case: axial, coronal and sagittal thumbnails of the windowed output
    /// (middle slices, radiological orientation) with the label drawn over them (outline and
    /// translucent fill, a colour-blind-safe colour per value, with a legend), each linked to
    /// its full-size image; input and output shape, spacing and axis codes; the HU range and
    /// the share of voxels the window clips; label values with volumes in ml; warnings (label
    /// not aligned, sheared input, values not in HU, heavy clipping, empty label); status
    /// (failed: why) and time. A summary on top; sort, filter (status, warnings, label volume,
    /// HU range, id text) and keyboard navigation (j/k, Enter) in the page. The page is one static file:
    /// open it from disk, nothing is fetched. `batch` makes each case's thumbnails as it
    /// finishes; for cases without them (folders of an older ctprep) this command makes them
    /// from the outputs, in parallel, and keeps them in the records, never rerunning a case.
    /// Example:
    ///
    ///   ctprep batch cases.csv --out prep --report      (or, after shards: ctprep report prep)
    #[command(verbatim_doc_comment)]
    Report {
        /// The batch's output folder.
        dir: PathBuf,
        /// Cases whose thumbnails are made at once (default: one per core).
        #[arg(long, value_name = "N")]
        jobs: Option<std::num::NonZeroUsize>,
        /// Print what was done as one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Measure every stage's kernels and thread counts on this machine; `auto` then runs the
    /// winners.
    ///
    /// Each stage (windowing from 16-bit integers and from floats, MIP of 5 and 31 slices,
    /// separable and general trilinear resampling) runs on size classes up to a full CT slab
    /// (512 x 512 x 16) with every kernel (scalar, wide, dispatched, and for windows auto: the
    /// crate's own best, a lookup table say) on 1 to all cores, next to a copy of the same
    /// bytes. The table shows each one's median time, spread, GB/s and cost in copies. The
    /// fastest wins a class when it beats the fallback rule's own choice by more than 5%; the
    /// winners are written as a profile (with this machine's CPU, cores, instruction sets and
    /// this binary's version) that every later command's `auto` follows. Under 60 s; under 10 s
    /// with --quick. Examples:
    ///
    ///   ctprep tune
    ///
    ///   ctprep tune --quick --output prof.json && ctprep --profile prof.json run ct.nii.gz --out prep --json
    #[command(verbatim_doc_comment)]
    Tune(crate::tune::TuneArgs),
    /// Make a synthetic CT phantom and run the whole recipe (`ctprep run`) on it.
    ///
    /// The phantom is a deterministic torso in Hounsfield units (air, fat, soft tissue, lungs,
    /// a liver on the patient's right, a posterior spine, ribs), stored as a scanner would
    /// store it: int16, 0.78 x 0.78 x 2.5 mm, LPS. The demo writes it (and its label map) into
    /// DIR, prints what `ctprep info` shows, runs `ctprep run` with its defaults on the
    /// phantom in memory and prints where the outputs are.
    Demo {
        /// Folder for the outputs (created if missing).
        #[arg(default_value = "ctprep-demo")]
        dir: PathBuf,
        /// Phantom shape X,Y,Z in voxels.
        #[arg(long, default_value = "256,256,120", value_parser = parse_shape)]
        shape: [usize; 3],
    },
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum AxcodesArg {
    Keep,
    Canonical,
    Codes(AxCodes),
}

pub(crate) fn parse_axcodes(s: &str) -> Result<AxcodesArg, String> {
    match s.to_ascii_lowercase().as_str() {
        "keep" => Ok(AxcodesArg::Keep),
        "canonical" => Ok(AxcodesArg::Canonical),
        _ => s.parse().map(AxcodesArg::Codes).map_err(|e| e.to_string()),
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum DtypeArg {
    Keep,
    To(DataType),
}

pub(crate) fn parse_dtype(s: &str) -> Result<DtypeArg, String> {
    if s.eq_ignore_ascii_case("keep") {
        return Ok(DtypeArg::Keep);
    }
    s.parse().map(DtypeArg::To).map_err(|e: ctprep_io::ParseDataTypeError| e.to_string())
}

fn parse_shape(s: &str) -> Result<[usize; 3], String> {
    let parts: Vec<usize> = s
        .split([',', 'x'])
        .map(|p| p.trim().parse::<usize>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match parts.as_slice() {
        [x, y, z] if *x > 0 && *y > 0 && *z > 0 => Ok([*x, *y, *z]),
        _ => Err(format!("{s:?}: expected three positive sizes, e.g. 256,256,120")),
    }
}

/// A command-line mistake found after parsing (an empty window, an unknown preset): reported
/// like clap's usage errors, with exit code 2.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// An error of a command, printed as `error: <message>`.
pub(crate) type CmdResult = Result<(), Box<dyn std::error::Error>>;

/// The kernel and thread options of every command that runs kernels.
#[derive(Clone, Copy, Debug, Default, clap::Args)]
pub(crate) struct ExecArgs {
    /// Single-thread kernel: scalar (the reference loop, always one thread), wide (`wide` SIMD
    /// vectors of the width fixed when compiling), dispatched (plain loops compiled per
    /// instruction set, chosen at run time), or auto (the fastest exact one; the default).
    #[arg(long, value_name = "KERNEL")]
    kernel: Option<Kernel>,
    /// Threads: N (a pool of N threads), 1 (the main thread only), or auto (all cores for large
    /// volumes; the default).
    #[arg(long, value_name = "N|auto")]
    threads: Option<Threads>,
    /// Shorthand for --kernel and --threads (give one or the other): scalar = scalar on 1
    /// thread, simd = wide on 1, parallel = dispatched on auto, auto = auto on auto.
    #[arg(long, conflicts_with_all = ["kernel", "threads"])]
    variant: Option<Variant>,
}

impl ExecArgs {
    /// The kernel and threads asked for (defaults: auto and auto).
    pub(crate) fn exec(&self) -> Exec {
        match self.variant {
            Some(v) => v.exec(),
            None => Exec::new().kernel(self.kernel.unwrap_or_default()).threads(self.threads.unwrap_or_default()),
        }
    }

    /// For `--threads N`: a pool of N threads for the command to run in (the command's own, not
    /// rayon's global pool, so commands run one after another in one process each get theirs).
    fn pool(&self) -> Result<Option<rayon::ThreadPool>, Box<dyn std::error::Error>> {
        match self.exec().threads {
            Threads::Count(n) => {
                check_thread_count("--threads", n.get())?;
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(n.get())
                    .build()
                    .map_err(|e| format!("cannot start {n} threads: {e}"))?;
                Ok(Some(pool))
            }
            _ => Ok(None),
        }
    }
}

/// Refuses a count of threads (or of jobs, `option`) beyond 4 per core: more than the cores
/// only add overhead, and thousands of threads take seconds to start and gigabytes of address
/// space.
pub(crate) fn check_thread_count(option: &str, n: usize) -> Result<(), UsageError> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let most = (4 * cores).max(4);
    if n > most {
        return Err(UsageError(format!("{option} {n}: more than {most} (4 per core of this machine's {cores})")));
    }
    Ok(())
}

/// `ctprep --version`: the version, the instruction sets this CPU offers, and those the
/// dispatched kernels are compiled for.
pub(crate) fn long_version() -> String {
    let list = |isas: &[Isa]| isas.iter().map(Isa::to_string).collect::<Vec<_>>().join(", ");
    format!(
        "{}
cpu offers: {}
dispatched kernels compiled for: {}; run here with {}
scalar and wide kernels compiled for: {}",
        env!("CARGO_PKG_VERSION"),
        list(&ctprep_core::cpu_offers()),
        list(&Isa::DISPATCH_TARGETS),
        Isa::detected(),
        Isa::target()
    )
}

impl Command {
    /// The volume file a one-file command writes (`convert`, `window`, `mip`, `resample`).
    fn nifti_output(&self) -> Option<&Path> {
        match self {
            Command::Convert { output, .. } => Some(output),
            Command::Window(a) => Some(&a.output),
            Command::Mip(a) => Some(&a.output),
            Command::Resample(a) => Some(&a.output),
            _ => None,
        }
    }

    /// The folders this command writes its outputs into.
    fn output_dirs(&self) -> Vec<PathBuf> {
        let parent = |p: &Path| match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if let Some(out) = self.nifti_output() {
            return vec![parent(out)];
        }
        match self {
            Command::Demo { dir, .. } => vec![dir.clone()],
            Command::Png(a) => vec![parent(&a.output)],
            Command::Sheet(a) => vec![parent(&a.output)],
            Command::Run(a) => vec![a.out.clone()],
            Command::Batch(a) => a.out.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

pub(crate) fn run(cli: Cli) -> CmdResult {
    let pool = match &cli.command {
        Command::Window(a) => a.exec.pool()?,
        Command::Mip(a) => a.exec.pool()?,
        Command::Resample(a) => a.exec.pool()?,
        Command::Run(a) => a.exec.pool()?,
        _ => None,
    };
    match pool {
        // The error crosses back from the pool's thread as text (a boxed error is not `Send`).
        Some(pool) => pool.install(|| run_here(cli).map_err(Sent::from)).map_err(Sent::into_error),
        None => run_here(cli),
    }
}

/// A command's error as it leaves a thread pool.
enum Sent {
    Usage(String),
    Failed(String),
    NotAligned(String),
}

impl From<Box<dyn std::error::Error>> for Sent {
    fn from(e: Box<dyn std::error::Error>) -> Sent {
        match e.downcast::<UsageError>() {
            Ok(u) => Sent::Usage(u.0),
            Err(e) => match e.downcast::<crate::check::NotAligned>() {
                Ok(n) => Sent::NotAligned(n.0),
                Err(e) => Sent::Failed(e.to_string()),
            },
        }
    }
}

impl Sent {
    fn into_error(self) -> Box<dyn std::error::Error> {
        match self {
            Sent::Usage(m) => Box::new(UsageError(m)),
            Sent::Failed(m) => m.into(),
            Sent::NotAligned(m) => Box::new(crate::check::NotAligned(m)),
        }
    }
}

/// `run` or `batch` for [`crate::json_of`]: the JSON document `--json` prints, returned instead
/// of printed. No signal handler (the embedding program keeps its own), nothing on stdout.
pub(crate) fn json_doc(cli: Cli) -> Result<String, Box<dyn std::error::Error>> {
    crate::progress::set_quiet(cli.quiet);
    crate::input::set_dicom(cli.series.clone(), cli.fill_padding, cli.uneven.as_deref() == Some("resample"));
    crate::tune::load(cli.profile.as_deref());
    match cli.command {
        Command::Run(a) => {
            let doc = match a.exec.pool()? {
                Some(pool) => pool.install(|| crate::run::doc(&a).map_err(Sent::from)).map_err(Sent::into_error)?,
                None => crate::run::doc(&a)?,
            };
            crate::input::late_notes();
            Ok(serde_json::to_string(&doc)?)
        }
        Command::Batch(a) if a.slurm() => {
            Err(UsageError("--slurm writes a job script: use the ctprep command line for it".to_owned()).into())
        }
        Command::Batch(a) => match crate::batch::outcome(&a)? {
            Some((summary, written)) => {
                crate::batch::report_if_asked(&a, &summary, written.as_deref())?;
                Ok(serde_json::to_string(&summary)?)
            }
            None => unreachable!("only --slurm has no summary"),
        },
        Command::Report { dir, jobs, .. } => {
            Ok(serde_json::to_string(&crate::batch::report(&dir, None, jobs.map(std::num::NonZeroUsize::get))?)?)
        }
        _ => Err(UsageError("only `run`, `batch` and `report` return a JSON document".to_owned()).into()),
    }
}

/// The checks of [`crate::check_args`]: the recipe and outputs a `run` or `batch` would take.
pub(crate) fn check_doc(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    match &cli.command {
        Command::Run(a) => {
            a.recipe()?;
            a.outputs()?;
        }
        Command::Batch(a) => a.check()?,
        _ => return Err(UsageError("only `run` and `batch` return a JSON document".to_owned()).into()),
    }
    Ok(())
}

/// [`run`] on the current thread pool.
fn run_here(cli: Cli) -> CmdResult {
    crate::progress::set_quiet(cli.quiet);
    crate::input::set_dicom(cli.series.clone(), cli.fill_padding, cli.uneven.as_deref() == Some("resample"));
    // The commands that run kernels follow the profile; `tune` measures the kernels
    // themselves and no profile may steer it.
    if matches!(
        cli.command,
        Command::Window(_)
            | Command::Mip(_)
            | Command::Resample(_)
            | Command::Run(_)
            | Command::Batch(_)
            | Command::Demo { .. }
    ) {
        crate::tune::load(cli.profile.as_deref());
    }
    crate::signals::clean_on_interrupt(cli.command.output_dirs());
    let written = cli.command.nifti_output().map(Path::to_path_buf);
    run_command(cli.command)?;
    crate::input::late_notes();
    // The one-file commands' output grids: the input's (window, mip, convert) or a chosen one.
    // NRRD stores directions, which hold shear.
    if let Some(path) = written
        && ctprep_io::OutputFormat::of(&path).is_some_and(|f| !f.is_nrrd())
        && let Ok(out) = ctprep_io::SliceReader::open(&path)
    {
        warn_if_sheared(&path, out.affine());
    }
    Ok(())
}

/// On stderr, when a window in HU is about to be applied to values that cannot be Hounsfield
/// units: an unsigned stored type without scaling has no negative values, and air is -1000 HU.
pub(crate) fn warn_if_not_hu(path: &Path, dtype: DataType, scaling: Option<ctprep_io::Scaling>, window: (f64, f64)) {
    let unsigned = matches!(dtype, DataType::U8 | DataType::U16 | DataType::U32 | DataType::U64);
    if unsigned && scaling.is_none_or(|s| s.is_identity()) {
        eprintln!(
            "warning: {}: {dtype} values without scl_slope/scl_inter cannot be Hounsfield units (air is -1000 HU), \
             but the window {}..{} assumes HU: check the window, or the file's scaling",
            crate::one_line(&path.display().to_string()),
            fmt_num(window.0),
            fmt_num(window.1)
        );
    }
}

/// On stderr, when linear interpolation is about to blend the values of what looks like a label
/// map (integer values without scaling, at most 64 distinct non-negative ones in its first
/// slices, up to about 4 M voxels): the output would hold values between labels.
pub(crate) fn warn_if_label_map(path: &Path) {
    let Ok(mut r) = ctprep_io::SliceReader::open(path) else { return };
    if r.dtype().is_float() || r.scaling().is_some_and(|s| !s.is_identity()) {
        return;
    }
    let n = r.shape().iter().product::<usize>().min(4 << 20);
    fn few<T: ctprep_io::Element + Into<f64>>(r: &mut ctprep_io::SliceReader, n: usize) -> bool {
        let mut buf = vec![T::zeroed(); n];
        if r.read_slices(&mut buf).is_err() {
            return false;
        }
        let mut seen: Vec<T> = Vec::new();
        for &v in &buf {
            if !seen.contains(&v) {
                if seen.len() == 64 || v.into() < 0.0 {
                    return false;
                }
                seen.push(v);
            }
        }
        true
    }
    let looks = match r.dtype() {
        DataType::U8 => few::<u8>(&mut r, n),
        DataType::I8 => few::<i8>(&mut r, n),
        DataType::U16 => few::<u16>(&mut r, n),
        DataType::I16 => few::<i16>(&mut r, n),
        DataType::U32 => few::<u32>(&mut r, n),
        DataType::I32 => few::<i32>(&mut r, n),
        _ => false,
    };
    if looks {
        eprintln!(
            "warning: {}: looks like a label map ({} with few distinct non-negative values): linear interpolation \
             blends labels into float values between them; use --interp nearest to keep its labels",
            crate::one_line(&path.display().to_string()),
            r.dtype()
        );
    }
}

/// On stderr, when a NIfTI file ctprep wrote has a sheared grid: what that means for readers.
pub(crate) fn warn_if_sheared(path: &Path, affine: &ctprep_core::Affine) {
    if affine.is_sheared() {
        eprintln!(
            "warning: {}: its voxel axes are {}° from perpendicular (shear); NIfTI's qform cannot hold shear, so \
             qform_code is 0: nibabel reads the grid as ctprep does, ITK-based tools (SimpleITK, ITK-SNAP, 3D Slicer) \
             refuse the file. `ctprep resample --spacing` (without --keep-shear) makes an orthonormal grid.",
            crate::one_line(&path.display().to_string()),
            fmt_num(affine.shear_degrees())
        );
    }
}

fn run_command(command: Command) -> CmdResult {
    match command {
        Command::Info { file, json, counts } => info(&file, json, counts),
        Command::Check(args) => crate::check::run(&args),
        Command::Convert { input, output, axcodes, dtype, gzip_level, sidecar, keep_dates } => {
            let sidecar = sidecar.then_some(Sidecar { keep_dates });
            convert(&input, &output, axcodes, dtype, gzip_level, sidecar).map(|_| ())
        }
        Command::Demo { dir, shape } => demo(&dir, shape),
        Command::Window(args) => crate::window::run(&args),
        Command::Mip(args) => crate::mip::run(&args),
        Command::Resample(args) => crate::resample::run(&args),
        Command::Png(args) => crate::images::run_png(&args),
        Command::Sheet(args) => crate::images::run_sheet(&args),
        Command::Run(args) => crate::run::run(&args),
        Command::Batch(args) => crate::batch::run(&args),
        Command::Report { dir, jobs, json } => {
            let done = crate::batch::report(&dir, None, jobs.map(std::num::NonZeroUsize::get))?;
            if json {
                crate::sayln!("{}", serde_json::to_string(&done)?)?;
            }
            Ok(())
        }
        Command::Tune(args) => crate::tune::run(&args),
    }
}

/// `ctprep info --json`: exactly these keys, in this order.
#[derive(Serialize)]
pub(crate) struct InfoJson {
    path: String,
    format: &'static str,
    shape: Vec<usize>,
    datatype: &'static str,
    byte_order: &'static str,
    spacing: [f64; 3],
    affine: [[f64; 4]; 4],
    axcodes: String,
    qform_code: i32,
    sform_code: i32,
    scl_slope: f64,
    scl_inter: f64,
    min: Option<f64>,
    max: Option<f64>,
    mean: Option<f64>,
    shear_degrees: f64,
    sform_qform_mm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<serde_json::Value>,
}

/// How far apart (mm) the sform and the qform put the farthest corner voxel, when both are set
/// (a NIfTI file's).
fn sform_qform_mm(v: &Volume) -> Option<f64> {
    if v.nrrd_header().is_some() {
        return None;
    }
    ctprep_io::sform_qform_distance(v.header(), v.spatial_shape(), &v.display_path())
}

pub(crate) fn info_json(path: &Path, v: &Volume) -> InfoJson {
    let h = v.header();
    let stats = v.stats();
    InfoJson {
        path: path.display().to_string(),
        format: v.format_name(),
        shape: v.shape().to_vec(),
        datatype: v.dtype().numpy_name(),
        byte_order: v.nrrd_header().map_or(h.byte_order, |n| n.byte_order).name(),
        spacing: v.spacing(),
        affine: v.affine().rows(),
        axcodes: v.axcodes_string(),
        qform_code: v.xform_codes().0,
        sform_code: v.xform_codes().1,
        // serde_json writes NaN and infinities as null.
        scl_slope: h.scl_slope,
        scl_inter: h.scl_inter,
        min: stats.min,
        max: stats.max,
        mean: stats.mean,
        shear_degrees: v.affine().shear_degrees(),
        sform_qform_mm: sform_qform_mm(v),
        values: None,
    }
}

fn info(path: &Path, json: bool, counts: bool) -> CmdResult {
    #[cfg(feature = "dicom")]
    if ctprep_pipeline::input::is_dicom_input(path) && !counts {
        return crate::dicom::info(path, json);
    }
    let v = step("read", || read_volume(path))?;
    let values = counts.then(|| ctprep_pipeline::align::value_counts(&v));
    if json {
        let mut doc = info_json(path, &v);
        doc.values = values.map(|r| match r {
            Ok(vals) => serde_json::json!(
                vals.iter()
                    .map(|l| serde_json::json!({"value": l.value, "voxels": l.voxels, "ml": l.ml}))
                    .collect::<Vec<_>>()
            ),
            Err(e) => serde_json::json!({ "error": e }),
        });
        crate::sayln!("{}", serde_json::to_string(&doc)?)?;
    } else {
        let mut s = info_text(path, &v);
        match values {
            Some(Ok(vals)) => {
                s += "  counts\n";
                s += &crate::check::values_text(&vals);
            }
            Some(Err(e)) => s += &format!("  counts      {e}\n"),
            None => {}
        }
        crate::say!("{s}")?;
    }
    Ok(())
}

pub(crate) fn fmt_num(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_owned() } else { s.to_owned() }
}

/// Like [`fmt_num`] with at most 4 decimals (affine entries stored as float32).
fn fmt_num4(v: f64) -> String {
    fmt_num((v * 1e4).round() / 1e4)
}

pub(crate) fn info_text(path: &Path, v: &Volume) -> String {
    let h = v.header();
    let st = v.stats();
    let mut s = String::new();
    let dims: Vec<String> = v.shape().iter().map(ToString::to_string).collect();
    let _ = writeln!(s, "{}", path.display());
    match v.nrrd_header() {
        Some(n) => {
            let _ = writeln!(
                s,
                "  format      nrrd (NRRD000{}, {}-endian, {}, {})",
                n.version,
                n.byte_order.name(),
                n.encoding.name(),
                n.data_file.as_ref().map_or("attached data".to_string(), |f| format!("data file {f}"))
            );
            if n.layered() {
                let kind = n.kinds.as_ref().map_or("not given", |k| k[0].as_str());
                let _ = writeln!(s, "  layers      {} (kind {kind}), the last axis", n.sizes[0]);
            }
        }
        None => {
            let _ = writeln!(
                s,
                "  format      {} ({}-endian, {})",
                h.format.name(),
                h.byte_order.name(),
                if h.single_file { "single file" } else { ".hdr/.img pair" }
            );
        }
    }
    let _ = writeln!(s, "  shape       {}", dims.join(" x "));
    let scaling = match v.scaling() {
        Some(sc) if !sc.is_identity() => format!(", real = {} * stored + {}", fmt_num(sc.slope), fmt_num(sc.inter)),
        _ => String::new(),
    };
    let _ = writeln!(s, "  datatype    {}{scaling}", v.dtype());
    let sp = v.spacing().map(fmt_num);
    let _ = writeln!(s, "  spacing     {} x {} x {} mm", sp[0], sp[1], sp[2]);
    let _ = writeln!(s, "  axcodes     {}", v.axcodes_string());
    if let Some(n) = v.nrrd_header() {
        let space = n.space.map_or("none (ITK's reading: LPS)", |sp| sp.name());
        let _ = writeln!(s, "  affine      from the {} (space {space})", v.affine_source().name());
    } else {
        let _ = writeln!(
            s,
            "  affine      from the {} (qform_code {}, sform_code {})",
            v.affine_source().name(),
            h.qform_code,
            h.sform_code
        );
    }
    for row in v.affine().rows() {
        let cells: Vec<String> = row.iter().map(|x| format!("{:>11}", fmt_num4(*x))).collect();
        let _ = writeln!(s, "             [{} ]", cells.join(" "));
    }
    let shear = v.affine().shear_degrees();
    if v.affine().is_sheared() {
        let _ = writeln!(
            s,
            "  shear       {}° between voxel axes (not perpendicular: {})",
            fmt_num(shear),
            if v.nrrd_header().is_some() {
                "NRRD directions hold it, and ITK reads it from NRRD"
            } else {
                "NIfTI's qform cannot hold it, ITK-based tools cannot use this affine"
            }
        );
    } else {
        let _ = writeln!(s, "  shear       none");
    }
    if let Some(mm) = sform_qform_mm(v) {
        let _ = writeln!(s, "  qform       {} mm from the sform at the farthest corner", fmt_num(mm));
    }
    let opt = |x: Option<f64>| x.map_or("n/a".to_owned(), fmt_num);
    let _ = writeln!(
        s,
        "  values      min {}, max {}, mean {}{}",
        opt(st.min),
        opt(st.max),
        opt(st.mean),
        if st.nan_count > 0 { format!(" ({} NaN ignored)", st.nan_count) } else { String::new() }
    );
    if !v.extensions().is_empty() {
        let codes: Vec<String> = v.extensions().iter().map(|e| e.code.to_string()).collect();
        let _ = writeln!(s, "  extensions  {} (ecode {})", codes.len(), codes.join(", "));
    }
    let d = h.description();
    if !d.trim().is_empty() {
        let _ = writeln!(s, "  descrip     {d}");
    }
    s
}

/// Whether two paths name the same file (the second may not exist yet).
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| -> Option<PathBuf> {
        if let Ok(c) = p.canonicalize() {
            return Some(c);
        }
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.canonicalize().ok()?,
            _ => std::env::current_dir().ok()?,
        };
        Some(parent.join(p.file_name()?))
    };
    matches!((canon(a), canon(b)), (Some(x), Some(y)) if x == y)
}

/// The whole volume whose header `header` read, for the stages that do not stream: an error
/// when the file no longer has that header's shape.
pub(crate) fn read_whole(header: ctprep_io::SliceReader) -> Result<Volume, Box<dyn std::error::Error>> {
    let path = header.template().display_path();
    let v = match header.decoding() {
        // A DICOM series: its headers are read, its slices decoded now (its notes are said).
        ctprep_io::Decoding::Slices | ctprep_io::Decoding::Memory => step("read", || header.read_whole())?,
        _ => step("read", || read_volume(&path))?,
    };
    if v.shape() != header.shape() {
        return Err(format!("{}: the file changed while it was being read", path.display()).into());
    }
    Ok(v)
}

/// Refuses an output that is the input, or that is not named .nii, .nii.gz, .nrrd or .nhdr.
pub(crate) fn check_output_path(input: &Path, output: &Path) -> CmdResult {
    if same_file(input, output) {
        return Err(format!("{}: refusing to write onto the input file", output.display()).into());
    }
    let Some(format) = ctprep_io::OutputFormat::of(output) else {
        return Err(format!("{}: output file name must end in .nii, .nii.gz, .nrrd or .nhdr", output.display()).into());
    };
    // A detached header's data file must not be the input either (or the input's data file).
    if format == ctprep_io::OutputFormat::Nhdr {
        let input_data = ctprep_io::nrrd_data_file(input).ok().flatten();
        for enc in [ctprep_io::NrrdEncoding::Gzip, ctprep_io::NrrdEncoding::Raw] {
            let data = ctprep_io::detached_data_path(output, enc);
            if same_file(input, &data) || input_data.as_deref().is_some_and(|d| same_file(d, &data)) {
                return Err(format!(
                    "{}: refusing to write its data file {} onto the input's data",
                    output.display(),
                    data.display()
                )
                .into());
            }
        }
    }
    Ok(())
}

/// `v` with its real values stored as `t` (`--dtype`), rounding reported on stderr.
pub(crate) fn convert_to(v: &Volume, t: DataType, input: &Path) -> Result<Volume, ctprep_io::Error> {
    let (converted, report) = v.convert(t)?;
    if report.max_abs_change > 0.0 {
        eprintln!(
            "warning: {}: storing as {t} rounded values by up to {} (use --dtype f32 or keep to store them exactly)",
            input.display(),
            fmt_num(report.max_abs_change)
        );
    }
    Ok(converted)
}

/// `convert --sidecar`: what the sidecar holds.
#[derive(Clone, Copy, Debug)]
struct Sidecar {
    keep_dates: bool,
}

/// The sidecar's path: `output` with `.json` for its format's extension.
fn sidecar_path(output: &Path) -> PathBuf {
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let stem = [".nii.gz", ".nii", ".nrrd", ".nhdr", ".hdr"]
        .iter()
        .find(|e| lower.ends_with(*e) && lower.len() > e.len())
        .map_or(&name[..], |e| &name[..name.len() - e.len()]);
    output.with_file_name(format!("{stem}.json"))
}

/// The sidecar of `series` as JSON (keys sorted, as dcm2niix's).
#[cfg(feature = "dicom")]
fn sidecar_json(series: &ctprep_dicom::Series, keep_dates: bool) -> Result<String, ctprep_io::Error> {
    use ctprep_dicom::Field;
    use serde_json::Value;
    let number = |v: f64| {
        if v.fract() == 0.0 && v.abs() < 9e15 { Value::from(v as i64) } else { Value::from(v) }
    };
    let mut map = serde_json::Map::new();
    for (k, f) in series.sidecar(keep_dates)? {
        let v = match f {
            Field::Text(t) => Value::from(t),
            Field::Texts(t) => Value::from(t),
            Field::Number(n) => number(n),
            Field::Numbers(n) => Value::from(n.into_iter().map(number).collect::<Vec<_>>()),
        };
        map.insert(k.to_string(), v);
    }
    map.insert("ConversionSoftware".into(), Value::from("ctprep"));
    map.insert("ConversionSoftwareVersion".into(), Value::from(env!("CARGO_PKG_VERSION")));
    Ok(serde_json::to_string_pretty(&Value::Object(map)).expect("a map of strings and numbers") + "\n")
}

fn convert(
    input: &Path,
    output: &Path,
    axcodes: AxcodesArg,
    dtype: DtypeArg,
    gzip_level: u32,
    sidecar: Option<Sidecar>,
) -> Result<Volume, Box<dyn std::error::Error>> {
    check_output_path(input, output)?;
    let (mut v, sidecar_text) = if let Some(sc) = sidecar {
        if !ctprep_pipeline::input::is_dicom_input(input) {
            return Err(format!(
                "{}: --sidecar writes a DICOM series' acquisition fields: this input is not DICOM",
                input.display()
            )
            .into());
        }
        #[cfg(feature = "dicom")]
        {
            let (v, series) = step("read", || crate::input::read_dicom(input))?;
            (v, Some(sidecar_json(&series, sc.keep_dates)?))
        }
        #[cfg(not(feature = "dicom"))]
        {
            let _ = sc.keep_dates;
            return Err(format!("{}: DICOM input needs ctprep built with the `dicom` feature", input.display()).into());
        }
    } else {
        (step("read", || read_volume(input))?, None::<String>)
    };
    v = match axcodes {
        AxcodesArg::Keep => v,
        AxcodesArg::Canonical => v.to_closest_canonical()?,
        AxcodesArg::Codes(c) => v.to_axcodes(c)?,
    };
    if let DtypeArg::To(t) = dtype {
        v = convert_to(&v, t, input)?;
    }
    if let Some(sc) = v.scaling()
        && ctprep_io::OutputFormat::of(output).is_some_and(|f| f.is_nrrd())
    {
        eprintln!(
            "note: {}: NRRD has no scl_slope/scl_inter: the real values ({} * stored + {}) are written as float32",
            output.display(),
            fmt_num(sc.slope),
            fmt_num(sc.inter)
        );
    }
    step("write", || write_volume(&v, output, &WriteOptions::new().gzip_level(gzip_level)))?;
    if let Some(text) = sidecar_text {
        let path = sidecar_path(output);
        ctprep_io::write_atomically(&path, |mut f| {
            use std::io::Write as _;
            f.write_all(text.as_bytes()).map_err(|e| ctprep_io::Error::io(&path, "write", e))
        })?;
    }
    Ok(v)
}

fn demo(dir: &Path, shape: [usize; 3]) -> CmdResult {
    let phantom =
        Phantom::new(shape).spacing_mm([0.78, 0.78, 2.5]).axcodes("LPS".parse()?).stored(StoredType::I16).seed(1);
    // Made (and its size checked) before the folder, so a refused shape leaves nothing behind.
    let ct = phantom.ct()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create the folder: {e}", dir.display()))?;
    // The inputs are written too, to try the other commands on.
    let ct_path = dir.join("phantom_ct.nii.gz");
    let label_path = dir.join("phantom_labels.nii.gz");
    let opts = WriteOptions::new();
    write_nifti(&ct, &ct_path, &opts)?;
    write_nifti(&phantom.labels()?, &label_path, &opts)?;
    crate::sayln!("A {}x{}x{} CT phantom, as a scanner stores it:", shape[0], shape[1], shape[2])?;
    crate::say!("{}", info_text(&ct_path, &ct))?;
    crate::sayln!("  (its label map: {})\n", label_path.display())?;
    crate::sayln!("ctprep run on it (1 mm, window -100..1000 HU to [0, 1], MIP of 5 slices, reoriented to RAS):")?;
    let recipe = ctprep_pipeline::Recipe::corrected();
    let outputs = ctprep_pipeline::Outputs::new(dir).stem("phantom");
    let input = ctprep_pipeline::Input::volume(ct, format!("phantom ({})", ct_path.display()));
    let doc = crate::run::run_pipeline(input, &recipe, &outputs, Exec::new())?;
    crate::say!("{}", doc.summary())?;
    crate::sayln!(
        "\nOpen the PNGs to look: axial slices show anterior at the top and the patient's right on the left."
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_parsers() {
        assert!(matches!(parse_axcodes("canonical"), Ok(AxcodesArg::Canonical)));
        assert!(matches!(parse_axcodes("LPS"), Ok(AxcodesArg::Codes(_))));
        assert!(parse_axcodes("LPX").is_err());
        assert!(matches!(parse_dtype("int16"), Ok(DtypeArg::To(DataType::I16))));
        assert!(parse_dtype("complex").is_err());
        assert_eq!(parse_shape("4,5,6"), Ok([4, 5, 6]));
        assert_eq!(parse_shape("4x5x6"), Ok([4, 5, 6]));
        assert!(parse_shape("4,0,6").is_err());
        assert!(parse_shape("4,5").is_err());
        assert_eq!(fmt_num(0.780000001), "0.78");
        assert_eq!(fmt_num(-0.0), "0");
    }
}
