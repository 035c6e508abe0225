//! `ctprep mip`: sliding thick-slab (or whole-axis) maximum / minimum / mean projections.

use crate::progress::step;
use std::path::PathBuf;

use clap::Args;
use ctprep_io::{Volume, VoxelData, WriteOptions, write_volume};
use ctprep_projection::{
    Align, Axis3, Edges, Reduce, SlabProjection, project_slice_into, whole_axis, whole_axis_affine,
};

use crate::commands::{CmdResult, UsageError, check_output_path, read_whole};

/// Options of `ctprep mip`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("thickness").required(true).args(["slab", "slab_mm", "whole"])))]
pub(crate) struct MipArgs {
    /// Input file (.nii, .nii.gz, .hdr/.img, .nrrd or .nhdr) or a DICOM folder (or one file of a
    /// series): a 3-D volume. Never modified.
    input: PathBuf,
    /// Output file: .nii, .nii.gz, .nrrd or .nhdr (float32 values of the scaled input).
    pub(crate) output: PathBuf,
    /// Slab thickness in slices.
    #[arg(long)]
    slab: Option<usize>,
    /// Slab thickness in mm, converted with the axis spacing: round(MM / spacing), at least 1.
    #[arg(long)]
    slab_mm: Option<f64>,
    /// Project the whole axis into one slice.
    #[arg(long)]
    whole: bool,
    /// The axis of the slabs (voxel axis: x, y or z).
    #[arg(long, default_value = "z")]
    axis: Axis3,
    /// max (MIP), min (MinIP) or mean.
    #[arg(long, default_value = "max")]
    reduce: Reduce,
    /// start: output slice i reduces slices i..i+k-1 (the classic recipe); centre: a window
    /// centred on slice i (scipy's maximum_filter1d).
    #[arg(long, default_value = "start")]
    align: Align,
    /// shrink: windows truncated at the volume ends; valid: only full windows; zero: the
    /// classic recipe exactly (windows reaching the last slice give 0).
    #[arg(long, default_value = "shrink")]
    edges: Edges,
    /// Output every S-th slice.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    stride: u64,
    #[command(flatten)]
    pub(crate) exec: crate::commands::ExecArgs,
    /// gzip level for .nii.gz and gzip-encoded NRRD output (0-9).
    #[arg(long, default_value_t = ctprep_io::DEFAULT_GZIP_LEVEL, value_parser = clap::value_parser!(u32).range(0..=9))]
    gzip_level: u32,
}

pub(crate) fn run(args: &MipArgs) -> CmdResult {
    if args.slab == Some(0) {
        return Err(UsageError("--slab must be at least 1".to_owned()).into());
    }
    check_output_path(&args.input, &args.output)?;
    // The header alone plans the projection; the voxels are read as it needs them.
    let header = step("read header", || crate::input::open_reader(&args.input))?;
    let shape = header.dims3()?;
    let a = args.axis.index();
    let n = shape[a];
    let p = if args.whole {
        whole_axis(args.axis, args.reduce, n)
    } else {
        let k = match (args.slab, args.slab_mm) {
            (Some(k), _) => k,
            (None, Some(mm)) if !(mm.is_finite() && mm > 0.0) => {
                return Err(UsageError(format!("--slab-mm {mm}: must be positive and finite")).into());
            }
            // The option is sound: a spacing that is not is the file's fault (exit 1, one line).
            (None, Some(mm)) => SlabProjection::slices_for_mm(mm, header.template().spacing()[a])
                .map_err(|e| format!("{}: {e}", args.input.display()))?,
            _ => unreachable!("clap requires one of --slab, --slab-mm, --whole"),
        };
        SlabProjection::new(k)
            .axis(args.axis)
            .reduce(args.reduce)
            .align(args.align)
            .edges(args.edges)
            .stride(args.stride as usize)
    };
    let m = p.output_len(n).map_err(|e| format!("{}: {e}", args.input.display()))?;
    if !args.whole && ctprep_pipeline::projection_streams(&p) {
        // Along z, max or min: streamed slab by slab, in bounded memory.
        let bars = crate::progress::Bars::default();
        let r = ctprep_pipeline::Pipeline::new().exec(args.exec.exec()).progress(&bars).project_to(
            ctprep_pipeline::Input::Reader(header),
            &p,
            &args.output,
            args.gzip_level,
        )?;
        crate::sayln!(
            "wrote {}: {} of {} slices along {:?} -> {:?} ({}, input read {})",
            args.output.display(),
            args.reduce,
            p.k(),
            args.axis,
            r.output_shape,
            r.kernel,
            r.read.describe()
        )?;
        return Ok(());
    }
    let v = read_whole(header)?;
    let mut out_shape = shape;
    out_shape[a] = m;
    let src = v.scaled_f32();
    let mut dst = vec![0f32; out_shape.iter().product()];
    let report = step("project", || project_slice_into(&src, shape, &p, &mut dst, args.exec.exec()))
        .map_err(|e| format!("{}: {e}", args.input.display()))?;
    let affine = if args.whole { whole_axis_affine(v.affine(), args.axis, n) } else { p.output_affine(v.affine()) };
    let out: Volume = v.derived(VoxelData::from_vec(dst), &out_shape, affine)?;
    step("write", || write_volume(&out, &args.output, &WriteOptions::new().gzip_level(args.gzip_level)))?;
    crate::sayln!(
        "wrote {}: {} of {} slices along {:?} -> {:?} ({report})",
        args.output.display(),
        args.reduce,
        p.k(),
        args.axis,
        out_shape,
    )?;
    Ok(())
}
