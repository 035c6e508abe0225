//! What a run computes ([`Recipe`]) and what it writes where ([`Outputs`]).

use std::path::{Path, PathBuf};

use ctprep_intensity::Window;
use ctprep_io::AxCodes;
use ctprep_projection::{Align, Edges};
use ctprep_resample::{GridConvention, Sampling, Scheme, Shear};

use crate::error::PipelineError;

/// The voxel axis order of the outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    /// The input's own axis order (the classic recipe).
    Keep,
    /// The axis order closest to RAS (nibabel's `as_closest_canonical`).
    Canonical,
    /// These axis codes (LPS, PIR, ...).
    Codes(AxCodes),
}

/// The thickness of the MIP slab.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MipSize {
    /// This many output slices (at least 1).
    Slices(usize),
    /// `round(mm / spacing)` output slices, at least 1 (`mm` positive and finite).
    Mm(f64),
}

/// The recipe of a run: reorient (by resampling onto the reoriented grid, never a copy),
/// resample to a spacing under a grid convention, window HU to [0, 1], thick-slab MIP along
/// the output's z axis.
///
/// Two named starting points: [`Recipe::corrected`] (the default) and [`Recipe::classic`] (the
/// classic Python recipe exactly); each setter changes one choice.
///
/// ```
/// use ctprep_pipeline::{MipSize, Recipe};
///
/// let r = Recipe::corrected().spacing_mm([0.8, 0.8, 1.0]).window_preset("lung")?.mip(MipSize::Mm(10.0));
/// assert_eq!(r.get_window().lo(), -1350.0);
/// # Ok::<(), ctprep_pipeline::PipelineError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    orientation: Orientation,
    spacing_mm: [f64; 3],
    convention: GridConvention,
    shear: Shear,
    window: Window,
    mip: MipSize,
    mip_align: Align,
    mip_edges: Edges,
    sampling: Sampling,
    scheme: Option<SchemeUse>,
    label_interp: Option<LabelInterp>,
}

/// How a run puts a label map on its output grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LabelInterp {
    /// The nearest voxel (the default without a scheme).
    Nearest,
    /// One-hot: each label's mask interpolated (linear; nearest along an axis the image takes
    /// by nearest neighbour), the highest score winning (nnU-Net's rule).
    Onehot,
}

impl LabelInterp {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LabelInterp::Nearest => "nearest",
            LabelInterp::Onehot => "onehot",
        }
    }
}

/// A named resampling scheme and which of its choices the recipe takes (the others were given
/// explicitly: they override the scheme's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SchemeUse {
    /// The scheme.
    pub scheme: Scheme,
    /// The scheme's grid (target shape and positions) rather than the recipe's convention.
    pub grid: bool,
    /// The scheme's image interpolation (orders, mode, clipping) rather than the recipe's.
    pub image: bool,
}

/// The window of both presets: -100..1000 HU.
fn default_window() -> Window {
    Window::preset("classic").unwrap_or_else(|_| unreachable!("the classic window preset exists"))
}

impl Default for Recipe {
    fn default() -> Self {
        Recipe::corrected()
    }
}

impl Recipe {
    /// The corrected recipe: reoriented to the axis order closest to RAS, 1 mm isotropic on the
    /// `first-centre` grid (orthonormal: a sheared input's shear removed), window -100..1000 HU,
    /// MIP of 5 slices centred on each slice with the slabs shrunk at the ends.
    pub fn corrected() -> Recipe {
        Recipe {
            orientation: Orientation::Canonical,
            spacing_mm: [1.0; 3],
            convention: GridConvention::FirstCentre,
            shear: Shear::Remove,
            window: default_window(),
            mip: MipSize::Slices(5),
            mip_align: Align::Centre,
            mip_edges: Edges::Shrink,
            sampling: Sampling::new(),
            scheme: None,
            label_interp: None,
        }
    }

    /// The classic Python recipe exactly: the input's axis order kept, 1 mm on the `seed` grid
    /// of the input's own lattice (scipy's RegularGridInterpolator recipe, which knows nothing
    /// of shear), window -100..1000 HU, MIP of slices `i..i+4` with the slabs that reach the
    /// last slice left 0.
    pub fn classic() -> Recipe {
        Recipe {
            orientation: Orientation::Keep,
            convention: GridConvention::Seed,
            shear: Shear::Keep,
            mip_align: Align::Start,
            mip_edges: Edges::Zero,
            ..Recipe::corrected()
        }
    }

    /// The axis order of the outputs (default [`Orientation::Canonical`]; classic: `Keep`).
    pub fn orientation(mut self, orientation: Orientation) -> Self {
        self.orientation = orientation;
        self
    }

    /// The output spacing in mm along the output's voxel axes (default 1 mm isotropic). Checked
    /// when the run plans its grid: each must be positive and finite.
    pub fn spacing_mm(mut self, spacing_mm: [f64; 3]) -> Self {
        self.spacing_mm = spacing_mm;
        self
    }

    /// The grid convention of the resampling (default `first-centre`; classic: `seed`).
    pub fn convention(mut self, convention: GridConvention) -> Self {
        self.convention = convention;
        self
    }

    /// What the grid does with a sheared input (default [`Shear::Remove`]: an orthonormal
    /// grid every reader agrees on; classic: `Keep`, the input's lattice).
    pub fn shear(mut self, shear: Shear) -> Self {
        self.shear = shear;
        self
    }

    /// The HU window mapped to [0, 1] (default -100..1000).
    pub fn window(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// A named window (`lung`, `bone`, ...; see `ctprep_intensity::PRESETS`).
    pub fn window_preset(self, name: &str) -> Result<Self, PipelineError> {
        let w = Window::preset(name).map_err(|e| PipelineError::Recipe(e.to_string()))?;
        Ok(self.window(w))
    }

    /// The MIP slab thickness (default 5 slices). Checked when the run starts.
    pub fn mip(mut self, mip: MipSize) -> Self {
        self.mip = mip;
        self
    }

    /// Which slices each MIP slab covers (default centred; classic: start).
    pub fn mip_align(mut self, align: Align) -> Self {
        self.mip_align = align;
        self
    }

    /// What the MIP does at the ends (default shrink; classic: zero).
    pub fn mip_edges(mut self, edges: Edges) -> Self {
        self.mip_edges = edges;
        self
    }

    /// How the resampling interpolates (default trilinear, edge clamp): B-spline orders per
    /// axis, boundary mode, fill value, clipping to the input's range. Its scaling is ignored
    /// (the run applies the input's).
    pub fn sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// How the resampling interpolates.
    pub fn get_sampling(&self) -> Sampling {
        self.sampling
    }

    /// A named resampling scheme (default none): [`Scheme::NnUnet`] sets the grid (its target
    /// shape on the extent grid), the image's interpolation (cubic, nearest along a separate
    /// axis, clipped) and one-hot labels, each unless [`SchemeUse`] says the recipe's own
    /// choice overrides it. The window and projections stay the recipe's.
    pub fn scheme(mut self, scheme: Option<SchemeUse>) -> Self {
        self.scheme = scheme;
        self
    }

    /// The scheme, if any.
    pub fn get_scheme(&self) -> Option<SchemeUse> {
        self.scheme
    }

    /// How a label map goes onto the output grid (default: nearest, or one-hot with a scheme).
    pub fn label_interp(mut self, how: Option<LabelInterp>) -> Self {
        self.label_interp = how;
        self
    }

    /// How a label map goes onto the output grid.
    pub fn get_label_interp(&self) -> LabelInterp {
        match (self.label_interp, self.scheme) {
            (Some(l), _) => l,
            (None, Some(_)) => LabelInterp::Onehot,
            (None, None) => LabelInterp::Nearest,
        }
    }

    /// The output axis order.
    pub fn get_orientation(&self) -> Orientation {
        self.orientation
    }

    /// The output spacing (mm).
    pub fn get_spacing_mm(&self) -> [f64; 3] {
        self.spacing_mm
    }

    /// The grid convention.
    pub fn get_convention(&self) -> GridConvention {
        self.convention
    }

    /// The convention the output grid follows: a scheme's own when the recipe takes its grid
    /// (nnU-Net's is the extent convention), else [`Recipe::get_convention`].
    pub fn grid_convention(&self) -> GridConvention {
        match self.scheme {
            Some(u) if u.grid => GridConvention::Extent,
            _ => self.convention,
        }
    }

    /// What the grid does with a sheared input.
    pub fn get_shear(&self) -> Shear {
        self.shear
    }

    /// The HU window.
    pub fn get_window(&self) -> Window {
        self.window
    }

    /// The MIP thickness.
    pub fn get_mip(&self) -> MipSize {
        self.mip
    }

    /// The MIP alignment.
    pub fn get_mip_align(&self) -> Align {
        self.mip_align
    }

    /// The MIP ends.
    pub fn get_mip_edges(&self) -> Edges {
        self.mip_edges
    }

    /// Every choice of the recipe as JSON (a batch's records compare it): `orientation`
    /// (`keep`, `canonical` or axis codes), `spacing_mm`, `convention`, `shear` (`remove` or
    /// `keep`), `window` ([lo, hi]), `mip` (`{"slices": k}` or `{"mm": x}`), `mip_align`,
    /// `mip_edges`, and `resample` (`orders`, `mode`, `fill`, `clip`) when it is not plain
    /// trilinear (so records of earlier versions, which had none, still compare equal).
    pub fn to_json(&self) -> serde_json::Value {
        let orientation = match self.orientation {
            Orientation::Keep => "keep".to_owned(),
            Orientation::Canonical => "canonical".to_owned(),
            Orientation::Codes(c) => c.to_string(),
        };
        let mip = match self.mip {
            MipSize::Slices(k) => serde_json::json!({ "slices": k }),
            MipSize::Mm(mm) => serde_json::json!({ "mm": mm }),
        };
        let mut doc = serde_json::json!({
            "orientation": orientation,
            "spacing_mm": self.spacing_mm,
            "convention": self.grid_convention().name(),
            "shear": match self.shear { Shear::Keep => "keep", _ => "remove" },
            "window": [self.window.lo(), self.window.hi()],
            "mip": mip,
            "mip_align": self.mip_align.to_string(),
            "mip_edges": self.mip_edges.to_string(),
        });
        let s = self.sampling;
        if !(s.is_trilinear() && s.get_fill().is_none()) {
            doc["resample"] = serde_json::json!({
                "orders": s.get_orders(),
                "mode": s.get_mode().map(|m| m.name()),
                "fill": s.get_fill(),
                "clip": s.get_clip(),
                "antialias": s.get_antialias(),
            });
        }
        if let Some(u) = self.scheme {
            doc["scheme"] = serde_json::json!({ "name": u.scheme.name(), "grid": u.grid, "image": u.image });
        }
        if self.get_label_interp() != LabelInterp::Nearest {
            doc["label_interp"] = serde_json::json!(self.get_label_interp().name());
        }
        doc
    }

    /// Checks what can be checked without an input.
    pub(crate) fn check(&self) -> Result<(), PipelineError> {
        self.sampling.check().map_err(|e| PipelineError::Recipe(e.to_string()))?;
        match self.mip {
            MipSize::Slices(0) => Err(PipelineError::Recipe("the MIP needs at least 1 slice".to_owned())),
            MipSize::Mm(mm) if !(mm.is_finite() && mm > 0.0) => {
                Err(PipelineError::Recipe(format!("MIP thickness {mm} mm: must be positive and finite")))
            }
            _ => Ok(()),
        }
    }
}

/// One product of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Product {
    /// The windowed volume: `<stem>_window.nii.gz`.
    Volume,
    /// The MIP volume: `<stem>_mip.nii.gz`.
    Mip,
    /// The MIP's middle axial, coronal and sagittal slices: `<stem>_mip_axial.png`, ...
    Png,
    /// A contact sheet of the MIP's axial slices: `<stem>_mip_sheet.png`.
    Sheet,
    /// The label map put on the output grid: `<stem>_label.nii.gz`. Written when the run has a
    /// label ([`crate::LabelInput`]); not one of [`Product::ALL`], which `--save` chooses from.
    Label,
}

impl Product {
    /// All products, in the order reports list them.
    pub const ALL: [Product; 4] = [Product::Volume, Product::Mip, Product::Png, Product::Sheet];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Product::Volume => "volume",
            Product::Mip => "mip",
            Product::Png => "png",
            Product::Sheet => "sheet",
            Product::Label => "label",
        }
    }
}

impl std::str::FromStr for Product {
    type Err = PipelineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Product::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| PipelineError::Recipe(format!("unknown product {s:?}: expected volume, mip, png or sheet")))
    }
}

/// Where a run writes and what: into a folder, files named `<stem>_<product>`.
///
/// ```
/// use ctprep_pipeline::{Outputs, Product};
///
/// let out = Outputs::new("prep").stem("ct").save(&[Product::Mip, Product::Png]);
/// assert_eq!(out.path(Product::Mip), std::path::Path::new("prep/ct_mip.nii.gz"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outputs {
    dir: PathBuf,
    stem: Option<String>,
    save: Vec<Product>,
    gzip_level: u32,
    views: bool,
}

/// File name suffixes of the NIfTI outputs, after `<stem>_`.
const VOLUME_SUFFIX: &str = "window.nii.gz";
const MIP_SUFFIX: &str = "mip.nii.gz";

impl Outputs {
    /// Every product into `dir` (created if missing), named after the input file (`ct` for
    /// `ct.nii.gz`; `ct` for an input in memory), gzip level
    /// [`ctprep_io::DEFAULT_GZIP_LEVEL`].
    pub fn new(dir: impl Into<PathBuf>) -> Outputs {
        Outputs {
            dir: dir.into(),
            stem: None,
            save: Product::ALL.to_vec(),
            gzip_level: ctprep_io::DEFAULT_GZIP_LEVEL,
            views: false,
        }
    }

    /// Whether the run keeps the middle slice of each plane of the windowed volume in memory
    /// ([`crate::RunReport::views`], for thumbnails), whatever is saved (default off).
    pub fn views(mut self, on: bool) -> Self {
        self.views = on;
        self
    }

    /// Whether the run keeps the views.
    pub fn get_views(&self) -> bool {
        self.views
    }

    /// The file name stem (default: the input file's name without `.nii.gz`, `.nii`, `.hdr`,
    /// `.img`).
    pub fn stem(mut self, stem: impl Into<String>) -> Self {
        self.stem = Some(stem.into());
        self
    }

    /// The products to write (default all four). An empty list computes and writes nothing.
    pub fn save(mut self, products: &[Product]) -> Self {
        let mut p = products.to_vec();
        p.sort();
        p.dedup();
        self.save = p;
        self
    }

    /// The gzip level of the `.nii.gz` outputs, 0-9 (default 1; above 9 is 9).
    pub fn gzip_level(mut self, level: u32) -> Self {
        self.gzip_level = level.min(9);
        self
    }

    /// The output folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The products written.
    pub fn products(&self) -> &[Product] {
        &self.save
    }

    /// Whether `p` is written.
    pub fn wants(&self, p: Product) -> bool {
        self.save.contains(&p)
    }

    /// The gzip level.
    pub fn get_gzip_level(&self) -> u32 {
        self.gzip_level
    }

    /// The stem given, or `None` when it comes from the input.
    pub fn get_stem(&self) -> Option<&str> {
        self.stem.as_deref()
    }

    /// The path of a NIfTI product (`Volume`, `Mip`), or of the axial PNG for `Png` and the
    /// sheet for `Sheet`, under the stem given (or `ct`).
    pub fn path(&self, p: Product) -> PathBuf {
        self.path_with(self.stem.as_deref().unwrap_or("ct"), p, "axial")
    }

    pub(crate) fn path_with(&self, stem: &str, p: Product, plane: &str) -> PathBuf {
        let name = match p {
            Product::Volume => format!("{stem}_{VOLUME_SUFFIX}"),
            Product::Mip => format!("{stem}_{MIP_SUFFIX}"),
            Product::Png => format!("{stem}_mip_{plane}.png"),
            Product::Sheet => format!("{stem}_mip_sheet.png"),
            Product::Label => format!("{stem}_label.nii.gz"),
        };
        self.dir.join(name)
    }
}

/// The file name stem of an input: `ct` for `ct.nii.gz`.
pub fn stem_of(p: &Path) -> String {
    // A DICOM input names its outputs after its folder (one file of a series: the file's folder).
    if crate::input::is_dicom_input(p) {
        let dir = if p.is_dir() { Some(p) } else { p.parent() };
        if let Some(name) = dir
            .and_then(|d| d.canonicalize().ok())
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        {
            return name;
        }
    }
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "ct".to_owned());
    let lower = name.to_ascii_lowercase();
    for ext in [".nii.gz", ".nii", ".hdr.gz", ".img.gz", ".hdr", ".img", ".nrrd", ".nhdr"] {
        if lower.ends_with(ext) && name.len() > ext.len() {
            return name[..name.len() - ext.len()].to_owned();
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_differ_where_documented() {
        let (c, k) = (Recipe::corrected(), Recipe::classic());
        assert_eq!(
            (c.orientation, c.convention, c.shear, c.mip_align, c.mip_edges),
            (Orientation::Canonical, GridConvention::FirstCentre, Shear::Remove, Align::Centre, Edges::Shrink)
        );
        assert_eq!(
            (k.orientation, k.convention, k.shear, k.mip_align, k.mip_edges),
            (Orientation::Keep, GridConvention::Seed, Shear::Keep, Align::Start, Edges::Zero)
        );
        assert_eq!((c.window, c.mip, c.spacing_mm), (k.window, k.mip, k.spacing_mm));
        assert_eq!((c.window.lo(), c.window.hi()), (-100.0, 1000.0));
        assert!(Recipe::corrected().mip(MipSize::Slices(0)).check().is_err());
        assert!(Recipe::corrected().mip(MipSize::Mm(f64::NAN)).check().is_err());
        assert!(Recipe::corrected().window_preset("nonsense").is_err());
    }

    #[test]
    fn stems_and_names() {
        assert_eq!(stem_of(Path::new("/a/ct.v2.nii.gz")), "ct.v2");
        assert_eq!(stem_of(Path::new("x.hdr")), "x");
        assert_eq!(stem_of(Path::new("d/lung1_image.nrrd")), "lung1_image");
        assert_eq!(stem_of(Path::new("CT.NHDR")), "CT");
        assert_eq!(stem_of(Path::new("scan")), "scan");
        let o = Outputs::new("d").stem("s").save(&[Product::Sheet, Product::Mip, Product::Mip]);
        assert_eq!(o.products(), [Product::Mip, Product::Sheet]);
        assert_eq!(o.path(Product::Volume), Path::new("d/s_window.nii.gz"));
        assert_eq!(o.path_with("s", Product::Png, "coronal"), Path::new("d/s_mip_coronal.png"));
        assert_eq!("PNG".parse::<Product>().ok(), Some(Product::Png));
    }
}
