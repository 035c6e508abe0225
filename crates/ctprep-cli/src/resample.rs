//! `ctprep resample`: a volume onto a new voxel grid (a target spacing under a named grid
//! convention, or another image's grid): trilinear or cubic B-spline for images, nearest
//! neighbour for label maps, under scipy's boundary modes.

use crate::progress::step;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use ctprep_io::{Element, Scaling, Volume, VoxelData, WriteOptions, write_volume};
use ctprep_resample::{
    Exec, Grid, GridConvention, Interp, Mode, Plan, Report, ResampleError, Sampling, Scheme, Shear, Trilinear, Voxel,
    plan_like, plan_scheme, plan_spacing_with, resample_linear_slice_into, resample_nearest_mode_into,
    resample_nearest_slice_into, resample_onehot_into, resample_spline_slice_into,
};

use crate::commands::{
    CmdResult, DtypeArg, UsageError, check_output_path, convert_to, fmt_num, parse_dtype, read_whole,
};
use crate::progress::Bars;
use ctprep_pipeline::{Input, Pipeline};

/// Options of `ctprep resample`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("grid").required(true).args(["spacing", "like"])))]
pub(crate) struct ResampleArgs {
    /// Input file (.nii, .nii.gz, .hdr/.img, .nrrd or .nhdr) or a DICOM folder (or one file of a
    /// series): a 3-D volume. Never modified.
    input: PathBuf,
    /// Output file: .nii, .nii.gz, .nrrd or .nhdr.
    pub(crate) output: PathBuf,
    /// Target spacing in mm along the voxel axes i, j, k: one number (isotropic) or three,
    /// SX,SY,SZ. The output keeps the input's direction cosines; a sheared input (a gantry tilt
    /// stored as axes that are not perpendicular) gets the closest orthonormal directions and
    /// a grid covering the whole input, unless --keep-shear.
    #[arg(long, value_name = "MM", value_parser = parse_spacing)]
    spacing: Option<[f64; 3]>,
    /// With --spacing: keep a sheared input's lattice instead of an orthonormal grid. nibabel
    /// reads such a file as ctprep does; ITK-based tools (SimpleITK, ITK-SNAP, 3D Slicer)
    /// cannot represent shear and refuse it.
    #[arg(long, requires = "spacing")]
    keep_shear: bool,
    /// Resample onto the grid (3-D shape and affine) of this NIfTI or NRRD file instead of a
    /// spacing.
    #[arg(long, value_name = "REF")]
    like: Option<PathBuf>,
    /// Where the output voxels of --spacing go (output sizes and the tools each matches: see
    /// --help).
    ///
    /// For an axis of n voxels of spacing s and a target spacing t, the output has m voxels
    /// (default first-centre; with --scheme, the scheme's grid):
    #[arg(long, value_enum, conflicts_with = "like")]
    convention: Option<ConventionArg>,
    #[command(flatten)]
    pub(crate) interp: InterpArgs,
    /// A named resampling recipe, with --spacing. nnunet: nnU-Net v2's resample_data_or_seg_to_shape
    /// exactly: the target shape round(s/t n) (halves to even) on the extent grid, cubic
    /// (order 3, mode edge) clipped to the input's range, and when the spacing (or the target)
    /// is anisotropic (largest/smallest > 3, one axis largest) nearest along that axis with
    /// each slice clipped to its own range; with --interp onehot, label maps one-hot with
    /// linear masks (nearest along that axis). --convention, --interp, --order and --mode
    /// given with it override its choices. Reads the input whole.
    #[arg(long, value_name = "NAME", value_parser = ["nnunet"], requires = "spacing", conflicts_with = "like")]
    scheme: Option<String>,
    /// Stored type of the output. `keep`: float32 for linear and cubic, the input's type and scaling for
    /// nearest. Any other type stores the real values, rounded to nearest for integer types (a
    /// value outside the type's range is an error, never a wrap; rounding is reported on stderr).
    #[arg(long, default_value = "keep", value_parser = parse_dtype)]
    dtype: DtypeArg,
    #[command(flatten)]
    pub(crate) exec: crate::commands::ExecArgs,
    /// Print one JSON object on stdout instead of the summary line: shapes, spacing, grid,
    /// interpolation, the kernel and path that ran, how the input was read, stage timings.
    #[arg(long)]
    json: bool,
    /// gzip level for .nii.gz and gzip-encoded NRRD output (0-9).
    #[arg(long, default_value_t = ctprep_io::DEFAULT_GZIP_LEVEL, value_parser = clap::value_parser!(u32).range(0..=9))]
    gzip_level: u32,
}

/// The grid conventions by their command-line names, with the help text of each; mapped one to
/// one onto [`GridConvention`] (a unit test checks the names agree).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ConventionArg {
    /// m = ceil((n-1) s/t): the points j t < (n-1) s from the first voxel centre (the classic
    /// scipy RegularGridInterpolator recipe)
    Seed,
    /// m = round((n-1) s/t + 1), halves to even: from the first voxel centre to the point
    /// closest to the last (MONAI Spacing; SimpleITK recipes that keep the origin)
    #[value(alias = "first-center")]
    FirstCentre,
    /// m = floor(n s/t), centred on the input's centre (TorchIO since 2025: flip-equivariant)
    #[value(alias = "centered")]
    Centred,
    /// m = round(n s/t) over the input's extent; the spacing becomes s n/m (scipy
    /// ndimage.zoom with grid_mode=True)
    Extent,
}

impl From<ConventionArg> for GridConvention {
    fn from(c: ConventionArg) -> GridConvention {
        match c {
            ConventionArg::Seed => GridConvention::Seed,
            ConventionArg::FirstCentre => GridConvention::FirstCentre,
            ConventionArg::Centred => GridConvention::Centred,
            ConventionArg::Extent => GridConvention::Extent,
        }
    }
}

/// How `resample`, `run` and `batch` interpolate: the options they share.
#[derive(Debug, Clone, Args)]
pub(crate) struct InterpArgs {
    /// How values between voxel centres are found [default: linear].
    ///
    /// linear: trilinear on the real (scaled) values, written as float32 (images). cubic: the
    /// cubic B-spline through the samples (scipy's map_coordinates(order=3, prefilter=True)),
    /// float32 (images; it can overshoot near sharp edges: see --clip-input-range). nearest:
    /// the nearest voxel, keeping the stored type and its scl_slope/scl_inter exactly (label
    /// maps stay integer; labels never blend). onehot (resample only; run and batch take
    /// --label-interp): label maps, each label's mask interpolated, the highest score wins.
    #[arg(long, value_enum)]
    pub(crate) interp: Option<InterpArg>,
    /// The spline order, as scipy's `order`: 0 (nearest), 1 (linear) or 3 (cubic), one for
    /// every axis or three, OX,OY,OZ along the voxel axes i, j, k (3,3,0: cubic in-plane,
    /// nearest between slices, nnU-Net's recipe for thick slices). Instead of --interp.
    #[arg(long, value_name = "ORDER", value_parser = parse_orders)]
    pub(crate) order: Option<[u8; 3]>,
    /// What lies beyond the input's edge, for every order (scipy's definitions, which a
    /// cubic spline's prefilter follows too). Default: edge, and with --fill SimpleITK's rule.
    #[arg(long, value_enum)]
    pub(crate) mode: Option<ModeArg>,
    /// The value of samples outside the input, in real units (HU: -1024 is air). With --mode
    /// constant, the constant beyond the edge (scipy's cval). Without --mode, a sample whose
    /// index along any axis lies outside [-0.5, n - 0.5) (outside the voxel boxes) takes it,
    /// and inside that margin the index clamps to the edge voxel (as SimpleITK); with no --fill
    /// either, every sample clamps to the edge. With nearest it must be exactly a stored value
    /// ((V - scl_inter) / scl_slope representable in the stored type); otherwise finite.
    #[arg(long, value_name = "V", allow_hyphen_values = true)]
    pub(crate) fill: Option<f64>,
    /// Clip the output to the input's range of values (skimage's resize(clip=True)): a cubic
    /// spline's overshoot never goes below the input's minimum (air) or above its maximum.
    #[arg(long)]
    pub(crate) clip_input_range: bool,
    /// Smooth before downsampling, as skimage's resize(anti_aliasing=True): a Gaussian of sigma
    /// = (n/m - 1)/2 voxels per axis where n voxels become m < n, under the --mode, truncated at
    /// 4 sigma. Streams: each slab smooths only the input slices it reads.
    #[arg(long)]
    pub(crate) antialias: bool,
}

impl InterpArgs {
    /// The options checked together.
    pub(crate) fn interpolation(&self) -> Result<Interpolation, UsageError> {
        let it = Interpolation::from_args(self.interp, self.order, self.mode, self.fill, self.clip_input_range)?;
        if self.antialias && (it.is_nearest() || it.is_onehot()) {
            return Err(UsageError("--antialias smooths images: nearest and one-hot labels take no smoothing".into()));
        }
        Ok(it)
    }

    /// Refuses the options a scheme does not combine with: it clips (or not) and smooths (or
    /// not) as its tool does, and images take no fill value there.
    pub(crate) fn check_scheme(&self, scheme: &str) -> Result<(), UsageError> {
        let onehot = self.interp == Some(InterpArg::Onehot);
        let given = [
            ("--fill", self.fill.is_some() && !onehot),
            ("--clip-input-range", self.clip_input_range),
            ("--antialias", self.antialias),
        ];
        match given.iter().find(|(_, on)| *on) {
            Some((name, _)) => Err(UsageError(format!(
                "--scheme {scheme} with {name}: the scheme sets how it clips and smooths, and its images take no fill value"
            ))),
            None => Ok(()),
        }
    }

    /// Whether any option of the interpolation was given (they override a scheme's).
    pub(crate) fn any(&self) -> bool {
        self.interp.is_some_and(|i| i != InterpArg::Onehot)
            || self.order.is_some()
            || self.mode.is_some()
            || self.fill.is_some()
            || self.clip_input_range
            || self.antialias
    }
}

/// `--interp`, by the command line's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum InterpArg {
    /// Trilinear (order 1): images.
    Linear,
    /// Cubic B-spline with scipy's prefilter (order 3): images.
    Cubic,
    /// The nearest voxel (order 0), in the stored type: label maps.
    Nearest,
    /// Each label's mask interpolated (linear, or --order), the highest score wins, in the
    /// stored type: label maps (nnU-Net's rule)
    Onehot,
}

impl From<InterpArg> for Interp {
    fn from(i: InterpArg) -> Interp {
        match i {
            InterpArg::Linear => Interp::Linear,
            InterpArg::Cubic => Interp::Cubic,
            InterpArg::Nearest | InterpArg::Onehot => Interp::Nearest,
        }
    }
}

/// `--mode`, by the command line's names, with scipy's and skimage's for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    /// a a | a b c d | d d: the edge value repeats (scipy 'nearest', skimage 'edge')
    Edge,
    /// k k | a b c d | k k: the --fill value (scipy 'grid-constant', skimage 'constant')
    Constant,
    /// b a | a b c d | d c: mirrored at the voxels' outer edge (scipy 'reflect', skimage
    /// 'symmetric')
    Reflect,
    /// c b | a b c d | c b: mirrored at the edge voxel's centre (scipy 'mirror', skimage
    /// 'reflect')
    Mirror,
    /// c d | a b c d | a b: periodic (scipy 'grid-wrap', skimage 'wrap')
    Wrap,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Edge => Mode::Edge,
            ModeArg::Constant => Mode::Constant,
            ModeArg::Reflect => Mode::Reflect,
            ModeArg::Mirror => Mode::Mirror,
            ModeArg::Wrap => Mode::Wrap,
        }
    }
}

pub(crate) fn parse_orders(s: &str) -> Result<[u8; 3], String> {
    let one = |p: &str| -> Result<u8, String> {
        match p.trim() {
            "0" => Ok(0),
            "1" => Ok(1),
            "3" => Ok(3),
            other => Err(format!("{other:?}: a spline order is 0 (nearest), 1 (linear) or 3 (cubic)")),
        }
    };
    let parts: Vec<&str> = s.split(',').collect();
    match parts.as_slice() {
        [o] => Ok([one(o)?; 3]),
        [x, y, z] => Ok([one(x)?, one(y)?, one(z)?]),
        _ => Err(format!("{s:?}: expected one order (every axis) or three, OX,OY,OZ")),
    }
}

/// What `resample` interpolates with: the orders, mode, fill and clipping, checked together.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Interpolation {
    pub(crate) orders: [u8; 3],
    pub(crate) mode: Option<Mode>,
    pub(crate) fill: Option<f64>,
    pub(crate) clip: bool,
    pub(crate) onehot: bool,
}

impl Interpolation {
    /// From the command line's options; the usage errors name the options.
    pub(crate) fn from_args(
        interp: Option<InterpArg>,
        order: Option<[u8; 3]>,
        mode: Option<ModeArg>,
        fill: Option<f64>,
        clip: bool,
    ) -> Result<Interpolation, UsageError> {
        let onehot = interp == Some(InterpArg::Onehot);
        if let (Some(i), Some(_), false) = (interp, order, onehot) {
            return Err(UsageError(format!(
                "--interp {} and --order: give one (--order alone is scipy's order; with --interp onehot it sets the masks' order)",
                Interp::from(i)
            )));
        }
        let orders = match (onehot, order) {
            (true, Some(o)) if o.iter().any(|&x| x > 1) => {
                return Err(UsageError(format!(
                    "--interp onehot --order {}: the masks take order 0 or 1",
                    o.map(|x| x.to_string()).join(",")
                )));
            }
            (true, o) => o.unwrap_or([1; 3]),
            (false, o) => o.or(interp.map(|i| [Interp::from(i).order(); 3])).unwrap_or([1; 3]),
        };
        let mode = mode.map(Mode::from);
        match (mode, fill) {
            (Some(Mode::Constant), None) => {
                return Err(UsageError("--mode constant needs --fill V, the value beyond the edge".into()));
            }
            (Some(m), Some(f)) if m != Mode::Constant => {
                return Err(UsageError(format!(
                    "--fill {f} with --mode {m}: a fill value applies to --mode constant, or without --mode (SimpleITK's rule)"
                )));
            }
            _ => {}
        }
        let it = Interpolation { orders, mode, fill, clip, onehot };
        if let Some(f) = fill
            && !it.is_nearest()
            && !(f as f32).is_finite()
        {
            return Err(UsageError(format!("--fill {f}: the fill value of linear or cubic resampling must be finite")));
        }
        if clip && (it.is_nearest() || onehot) {
            return Err(UsageError(
                "--clip-input-range: nearest neighbour only copies voxels, so its output never leaves the input's range"
                    .into(),
            ));
        }
        Ok(it)
    }

    /// Nearest along every axis: voxels copied in the stored type.
    pub(crate) fn is_nearest(&self) -> bool {
        self.orders == [0; 3] && !self.onehot
    }

    /// One-hot label resampling.
    pub(crate) fn is_onehot(&self) -> bool {
        self.onehot
    }

    /// The library's options.
    pub(crate) fn sampling(&self, slope: f64, inter: f64) -> Sampling {
        Sampling::new()
            .orders(self.orders)
            .mode(self.mode)
            .fill(self.fill.map(|f| f as f32))
            .scaling(slope, inter)
            .clip_input_range(self.clip)
    }

    /// `linear`, `cubic`, `nearest` or `orders 3,3,0`, then the mode and clipping.
    pub(crate) fn describe(&self) -> String {
        let mut s = match self.orders {
            _ if self.onehot => format!("onehot (masks of orders {})", self.orders.map(|o| o.to_string()).join(",")),
            [0, 0, 0] => "nearest".to_owned(),
            [1, 1, 1] => "linear".to_owned(),
            [3, 3, 3] => "cubic".to_owned(),
            [a, b, c] => format!("orders {a},{b},{c}"),
        };
        if let Some(m) = self.mode {
            s += &format!(", mode {m}");
        }
        if self.clip {
            s += ", clipped to the input's range";
        }
        s
    }
}

pub(crate) fn parse_spacing(s: &str) -> Result<[f64; 3], String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let num = |p: &str| -> Result<f64, String> {
        let v: f64 = p.parse().map_err(|_| format!("{p:?} is not a number"))?;
        if v.is_finite() && v > 0.0 { Ok(v) } else { Err(format!("{p} mm: a spacing must be positive and finite")) }
    };
    match parts.as_slice() {
        [one] => Ok([num(one)?; 3]),
        [x, y, z] => Ok([num(x)?, num(y)?, num(z)?]),
        _ => Err(format!("{s:?}: expected one spacing in mm (isotropic) or three, SX,SY,SZ")),
    }
}

/// The stored value whose real value is exactly `fill`, or why there is none.
fn stored_fill<T: Voxel>(fill: f64, scaling: Option<Scaling>) -> Result<T, String> {
    let stored = scaling.map_or(fill, |sc| (fill - sc.inter) / sc.slope);
    if let Some(t) = T::from_f64_exact(stored) {
        return Ok(t);
    }
    let why = if T::NAME.starts_with("float") {
        "is not exactly representable in it"
    } else if stored.fract() != 0.0 || !stored.is_finite() {
        "is not an integer"
    } else {
        "is outside its range"
    };
    Err(match scaling {
        None => format!("--fill {fill}: nearest keeps the stored type ({}), and {fill} {why}", T::NAME),
        Some(sc) => format!(
            "--fill {fill}: nearest keeps the stored type ({}) and scaling, and the stored value ({fill} - {}) / {} = {stored} {why}",
            T::NAME,
            fmt_num(sc.inter),
            fmt_num(sc.slope),
        ),
    })
}

/// Linear or B-spline resampling straight from the stored type, the scaling fused: float32
/// real values (plain trilinear runs the trilinear kernels).
fn interpolate(v: &Volume, plan: &Plan, opts: &Sampling, exec: Exec) -> Result<(Vec<f32>, Report), ResampleError> {
    let (slope, inter) = v.scaling().map_or((1.0, 0.0), |s| (s.slope, s.inter));
    let opts = opts.scaling(slope, inter);
    let mut dst = vec![0f32; plan.output_len()];
    let report = if opts.is_trilinear() {
        let opts: Trilinear = opts.trilinear();
        ctprep_io::with_storage!(v.data(), st => resample_linear_slice_into(st.as_slice(), plan, &opts, &mut dst, exec))?
    } else {
        ctprep_io::with_storage!(v.data(), st => resample_spline_slice_into(st.as_slice(), plan, &opts, &mut dst, exec))?
    };
    Ok((dst, report))
}

/// One-hot label resampling in the stored type (`masks`: the masks' orders and mode).
fn onehot(
    v: &Volume,
    plan: &Plan,
    masks: &Sampling,
    fill: Option<f64>,
    exec: Exec,
) -> Result<(VoxelData, Report), Box<dyn std::error::Error>> {
    fn go<T: Voxel + Element>(
        src: &[T],
        plan: &Plan,
        masks: &Sampling,
        fill: Option<f64>,
        scaling: Option<Scaling>,
        exec: Exec,
    ) -> Result<(VoxelData, Report), Box<dyn std::error::Error>> {
        let fill = fill.map(|f| stored_fill::<T>(f, scaling)).transpose().map_err(UsageError)?;
        let mut dst = vec![T::default(); plan.output_len()];
        let report = resample_onehot_into(src, plan, masks, fill, &mut dst, exec)?;
        Ok((VoxelData::from_vec(dst), report))
    }
    ctprep_io::with_storage!(v.data(), st => go(st.as_slice(), plan, masks, fill, v.scaling(), exec))
}

/// Nearest-neighbour resampling in the stored type, under the mode when one is given.
fn nearest(
    v: &Volume,
    plan: &Plan,
    how: &Interpolation,
    exec: Exec,
) -> Result<(VoxelData, Report), Box<dyn std::error::Error>> {
    fn go<T: Voxel + Element>(
        src: &[T],
        plan: &Plan,
        how: &Interpolation,
        scaling: Option<Scaling>,
        exec: Exec,
    ) -> Result<(VoxelData, Report), Box<dyn std::error::Error>> {
        let fill = how.fill.map(|f| stored_fill::<T>(f, scaling)).transpose().map_err(UsageError)?;
        let mut dst = vec![T::default(); plan.output_len()];
        let report = match how.mode {
            None | Some(Mode::Edge) => resample_nearest_slice_into(src, plan, fill, &mut dst, exec)?,
            Some(mode) => resample_nearest_mode_into(src, plan, mode, fill, &mut dst, exec)?,
        };
        Ok((VoxelData::from_vec(dst), report))
    }
    ctprep_io::with_storage!(v.data(), st => go(st.as_slice(), plan, how, v.scaling(), exec))
}

pub(crate) fn run(args: &ResampleArgs) -> CmdResult {
    let how = args.interp.interpolation()?;
    check_output_path(&args.input, &args.output)?;
    if let Some(reference) = &args.like {
        check_output_path(reference, &args.output)?;
    }
    let input = args.input.display();
    // The header alone plans the grid; the voxels are read as the resampling needs them.
    let header = step("read header", || crate::input::open_reader(&args.input))?;
    let shape = header.dims3()?;
    if !how.is_nearest() && !how.is_onehot() {
        crate::commands::warn_if_label_map(&args.input);
    }
    let scheme = match &args.scheme {
        Some(name) => {
            args.interp.check_scheme(name)?;
            let scheme: Scheme = name.parse().map_err(|e: ResampleError| UsageError(e.to_string()))?;
            let spacing = args.spacing.unwrap_or([1.0; 3]);
            Some(plan_scheme(scheme, shape, header.affine(), spacing).map_err(|e| format!("{input}: {e}"))?)
        }
        None => None,
    };
    let (plan, placement) = match (args.spacing, &args.like) {
        (Some(_), _) if scheme.is_some() && args.convention.is_none() => {
            let s = scheme.as_ref().unwrap_or_else(|| unreachable!("matched"));
            let sep = s.separate.map_or(String::new(), |a| format!(", axis {a} apart (nearest)"));
            (s.plan, format!("{} scheme: extent grid{sep}", args.scheme.as_deref().unwrap_or("")))
        }
        (Some(spacing), _) => {
            let convention = GridConvention::from(args.convention.unwrap_or(ConventionArg::FirstCentre));
            let shear = if args.keep_shear { Shear::Keep } else { Shear::Remove };
            let plan = plan_spacing_with(shape, header.affine(), spacing, convention, shear)
                .map_err(|e| format!("{input}: {e}"))?;
            let mut placement = convention.name().to_owned();
            if header.affine().is_sheared() && !args.keep_shear {
                placement += &format!(", {}° of shear removed", fmt_num(header.affine().shear_degrees()));
            }
            (plan, placement)
        }
        (None, Some(reference)) => {
            let r = step("read reference", || crate::input::open_reader(reference))?;
            let grid = Grid { shape: r.dims3()?, affine: *r.affine() };
            let plan = plan_like(shape, header.affine(), grid)
                .map_err(|e| format!("{input}: onto the grid of {}: {e}", reference.display()))?;
            (plan, format!("grid of {}", reference.display()))
        }
        (None, None) => unreachable!("clap requires one of --spacing, --like"),
    };
    // The scheme's choices unless options of the command line override them.
    let own = args.interp.any();
    let image = match &scheme {
        Some(s) if !own => s.image,
        _ => how.sampling(1.0, 0.0).antialias(args.interp.antialias),
    };
    let masks = match &scheme {
        Some(s) if args.interp.order.is_none() && args.interp.mode.is_none() => s.label,
        _ => Sampling::new().orders(how.orders).mode(how.mode),
    };
    let how_said = match (&scheme, own, how.is_onehot()) {
        (Some(_), false, false) => format!("{} (cubic, clipped)", args.scheme.as_deref().unwrap_or("")),
        (Some(_), _, true) => format!("{} label masks, onehot", args.scheme.as_deref().unwrap_or("")),
        _ => how.describe(),
    };
    let t_start = Instant::now();
    if !how.is_nearest() && !how.is_onehot() && matches!(args.dtype, DtypeArg::Keep) {
        // Float32 output: streamed slab by slab, in bounded memory.
        let bars = Bars::default();
        let r = Pipeline::new().exec(args.exec.exec()).progress(&bars).resample_to(
            Input::Reader(header),
            &plan,
            &image,
            &args.output,
            args.gzip_level,
        )?;
        let timings = [("read", r.timings.read), ("stream", r.timings.stream), ("total", r.timings.total)];
        return finish(args, shape, &plan, &placement, &how_said, &r.kernel, &r.read.describe(), &timings);
    }
    let v = read_whole(header)?;
    let t_read = t_start.elapsed();
    let (data, scaling, report) = if how.is_onehot() || how.is_nearest() {
        let labels = |v: &Volume| {
            if how.is_onehot() {
                onehot(v, &plan, &masks, how.fill, args.exec.exec())
            } else {
                nearest(v, &plan, &how, args.exec.exec())
            }
        };
        let (data, report) = step("resample", || labels(&v))
            .map_err(|e| if e.is::<UsageError>() { e } else { format!("{input}: {e}").into() })?;
        (data, v.scaling(), report)
    } else {
        let (dst, report) = step("resample", || interpolate(&v, &plan, &image, args.exec.exec()))
            .map_err(|e| format!("{input}: {e}"))?;
        (VoxelData::from_vec(dst), None, report)
    };
    let mut out = v.derived(data, &plan.grid.shape, plan.grid.affine)?;
    if let Some(sc) = scaling {
        out = out.with_scaling(sc.slope, sc.inter)?;
    }
    if let DtypeArg::To(t) = args.dtype {
        out = convert_to(&out, t, &args.input)?;
    }
    let t_resample = t_start.elapsed().saturating_sub(t_read);
    let t = Instant::now();
    step("write", || write_volume(&out, &args.output, &WriteOptions::new().gzip_level(args.gzip_level)))?;
    let timings = [("read", t_read), ("resample", t_resample), ("write", t.elapsed()), ("total", t_start.elapsed())];
    finish(args, shape, &plan, &placement, &how_said, &report.to_string(), "whole volume", &timings)
}

/// The summary line, or with `--json` one JSON object: what ran and how long each stage took.
#[allow(clippy::too_many_arguments)] // Everything the summary names.
fn finish(
    args: &ResampleArgs,
    shape: [usize; 3],
    plan: &Plan,
    placement: &str,
    interpolation: &str,
    kernel: &str,
    read: &str,
    timings: &[(&str, std::time::Duration)],
) -> CmdResult {
    let spacing = plan.output_spacing();
    if args.json {
        let path = if kernel.contains("separable path") { "separable" } else { "general" };
        let times: serde_json::Map<String, serde_json::Value> =
            timings.iter().map(|(k, d)| ((*k).to_owned(), serde_json::json!(d.as_secs_f64()))).collect();
        let doc = serde_json::json!({
            "input": args.input.display().to_string(),
            "output": args.output.display().to_string(),
            "input_shape": shape,
            "output_shape": plan.grid.shape,
            "output_spacing_mm": spacing,
            "output_affine": plan.grid.affine.0,
            "grid": placement,
            "interpolation": interpolation,
            "kernel": kernel,
            "path": path,
            "read": read,
            "timings_s": times,
        });
        crate::sayln!("{doc}")?;
        return Ok(());
    }
    let spacing: Vec<String> = spacing.into_iter().map(fmt_num).collect();
    let read = if read == "whole volume" { String::new() } else { format!(", input read {read}") };
    crate::sayln!(
        "wrote {}: {:?} -> {:?}, spacing [{}] mm ({placement}), {interpolation}, {kernel}{read}",
        args.output.display(),
        shape,
        plan.grid.shape,
        spacing.join(", "),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convention_names_match_the_library() {
        for c in GridConvention::ALL {
            let arg = ConventionArg::from_str(c.name(), false).expect("every library convention has a CLI name");
            assert_eq!(GridConvention::from(arg), c);
        }
        assert_eq!(ConventionArg::value_variants().len(), GridConvention::ALL.len());
        assert_eq!(ConventionArg::from_str("centered", false), Ok(ConventionArg::Centred));
    }

    #[test]
    fn spacing_parser() {
        assert_eq!(parse_spacing("1"), Ok([1.0; 3]));
        assert_eq!(parse_spacing("0.8, 0.8,2"), Ok([0.8, 0.8, 2.0]));
        for bad in ["0", "-1", "nan", "inf", "1,2", "1,2,3,4", "a", ""] {
            assert!(parse_spacing(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fill_values_must_be_stored_values() {
        assert_eq!(stored_fill::<u8>(0.0, None), Ok(0));
        assert!(stored_fill::<u8>(300.0, None).is_err());
        assert!(stored_fill::<i16>(0.5, None).is_err());
        let ct = Scaling { slope: 1.0, inter: -1024.0 };
        assert_eq!(stored_fill::<u16>(-1024.0, Some(ct)), Ok(0));
        assert!(stored_fill::<u16>(-2000.0, Some(ct)).is_err());
        // 0.3 / 0.1 is 2.9999999999999996 in f64 (and 3 * 0.1 is not 0.3 either): no stored value.
        assert!(stored_fill::<i16>(0.3, Some(Scaling { slope: 0.1, inter: 0.0 })).is_err());
        assert_eq!(stored_fill::<i16>(0.5, Some(Scaling { slope: 0.25, inter: 0.0 })), Ok(2));
        assert_eq!(stored_fill::<f32>(-1024.0, None), Ok(-1024.0));
        assert!(stored_fill::<f32>(0.1, None).is_err());
    }
}
