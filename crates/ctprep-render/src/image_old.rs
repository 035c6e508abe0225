//! PNG slices and contact sheets in radiological display orientation, gathered straight from the
//! stored voxels: no reoriented copy of the volume is made.
//!
//! # Display convention
//! World coordinates are NIfTI's RAS+, as nibabel defines them: x increases toward the patient's
//! **right**, y toward **anterior**, z toward **superior**. Each image is drawn as a radiologist
//! reads it:
//!
//! | plane | slices perpendicular to | image top | image left | slice N counts |
//! |---|---|---|---|---|
//! | [`Plane::Axial`] | z | anterior | patient's right | inferior -> superior |
//! | [`Plane::Coronal`] | y | superior | patient's right | posterior -> anterior |
//! | [`Plane::Sagittal`] | x | superior | anterior | patient's left -> right |
//!
//! Axial images are seen from the feet, coronal ones from the front, sagittal ones from the
//! patient's left. Both image axes run toward *decreasing* RAS coordinates (left to right on the
//! screen is R -> L or A -> P; top to bottom is A -> P or S -> I), and slice N is the N-th slice
//! in *increasing* RAS coordinate along the plane's normal, so sagittal slice 0 is the patient's
//! leftmost one.
//!
//! Which stored axis plays which role comes from the affine's axis codes: for each voxel axis
//! the closest world axis and its direction, exactly as nibabel's `io_orientation` (and
//! [`crate::io_orientation`]). A volume stored in any axis order (LPS, RAS, PIR, ASL...) gives
//! the same image, byte for byte, and the same anatomical slice has the same N. Oblique affines
//! use their closest axes: the voxels are shown on their own grid, permuted and flipped, never
//! resampled, exactly what [`Volume::to_closest_canonical`] would give. One pixel per voxel:
//! non-square voxels (0.78 x 2.5 mm in a coronal slice) are not stretched.
//!
//! # Pixel values
//! A [`PixelMap`] turns real values into 8- or 16-bit grey levels. Without a window the values
//! are taken as already in [0, 1]: `round(255 v)` or `round(65535 v)`, rounded to nearest with
//! ties to even (as `np.rint`; 0.5 gives 127.5 -> **128** and 32767.5 -> **32768**), values
//! outside [0, 1] clamped, NaN -> 0. With a [`Window`] `lo..hi` (HU), `v` is first mapped by
//! `(v - lo) / (hi - lo)`; this is [`ctprep_intensity::WindowMap`]'s integer form, so the pixels
//! equal `ctprep window --dtype u8` (or `u16`) voxel for voxel.
//!
//! # Contact sheets
//! [`contact_sheet`] lays out `rows x cols` panels (the classic `sample_stack`: default 6 x 6,
//! slices 10, 13, 16, ...) row by row, separated by [`SEPARATOR_PX`] pixels of a fixed mid grey,
//! optionally with each slice's N in the top-left corner in a built-in 3 x 5 digit font. Slices
//! past the end are an error naming how many slices there are, never a silent blank panel.
//!
//! # Files
//! [`write_png`] writes a grey-level PNG (no time stamp or other varying chunk, so equal images
//! give equal bytes) through a temporary file in the target folder renamed when complete, as
//! [`crate::write_nifti`] does: a failed write leaves no partial file.
//!
//! ```
//! use ctprep_core::Affine;
//! use ctprep_intensity::Window;
//! use ctprep_io::{Plane, PixelMap, SheetOptions, Volume, VoxelData};
//!
//! // A 4x3x2 int16 volume stored LPS.
//! let values: Vec<i16> = (0..24).map(|v| v * 10).collect();
//! let ct = Volume::new(VoxelData::from_vec(values), &[4, 3, 2], Affine::from_spacing_origin([-1.0, -1.0, 2.0], [0.0; 3]))?;
//! let axial = ct.slice_image(Plane::Axial, 1)?;
//! assert_eq!((axial.width, axial.height), (4, 3));
//! // LPS stores x from the patient's right to left and y from anterior to posterior: the
//! // display order, so the first pixel is the first voxel of slice 1.
//! assert_eq!(axial.values[0], 120.0);
//!
//! let map = PixelMap::new().window(Window::new(0.0, 230.0).expect("a valid window"));
//! let sheet = ct.contact_sheet(Plane::Axial, &SheetOptions::new().rows(1).cols(2).start(0).every(1), &map)?;
//! assert_eq!((sheet.width, sheet.height), (4 + 2 + 4, 3));
//! let png = ctprep_io::encode_png(&sheet)?;
//! assert_eq!(&png[1..4], b"PNG");
//! # Ok::<(), ctprep_io::Error>(())
//! ```
#![forbid(unsafe_code)]

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ctprep_core::Affine;
use ctprep_intensity::{Output, Range, Window, WindowMap};

use crate::datatype::Element;
use crate::error::{Error, ErrorKind, Result};
use crate::orientation::{axcodes_string, io_orientation};
use crate::volume::Volume;
use crate::write::write_atomically;

/// The pixels between two panels of a contact sheet.
pub const SEPARATOR_PX: usize = 2;

/// The slice plane, named by the world axis the slices are perpendicular to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Plane {
    /// Perpendicular to z (inferior-superior): anterior up, the patient's right on the left.
    Axial,
    /// Perpendicular to y (posterior-anterior): superior up, the patient's right on the left.
    Coronal,
    /// Perpendicular to x (left-right): superior up, anterior on the left.
    Sagittal,
}

impl Plane {
    /// The three planes.
    pub const ALL: [Plane; 3] = [Plane::Axial, Plane::Coronal, Plane::Sagittal];

    /// The world axis the slices are perpendicular to (0 = x, 1 = y, 2 = z); slice N counts
    /// along it toward increasing RAS coordinate.
    pub fn normal_axis(self) -> usize {
        match self {
            Plane::Axial => 2,
            Plane::Coronal => 1,
            Plane::Sagittal => 0,
        }
    }

    /// The world axes along the image's columns (left to right) and rows (top to bottom);
    /// both run toward decreasing RAS coordinate.
    pub fn display_axes(self) -> [usize; 2] {
        match self {
            Plane::Axial => [0, 1],
            Plane::Coronal => [0, 2],
            Plane::Sagittal => [1, 2],
        }
    }

    /// `axial`, `coronal` or `sagittal`.
    pub fn name(self) -> &'static str {
        match self {
            Plane::Axial => "axial",
            Plane::Coronal => "coronal",
            Plane::Sagittal => "sagittal",
        }
    }
}

impl fmt::Display for Plane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a string that names no plane.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid plane {0:?}: expected axial (or z), coronal (or y), sagittal (or x)")]
pub struct ParsePlaneError(pub String);

impl FromStr for Plane {
    type Err = ParsePlaneError;

    /// `axial` / `z`, `coronal` / `y`, `sagittal` / `x`, any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "axial" | "z" => Ok(Plane::Axial),
            "coronal" | "y" => Ok(Plane::Coronal),
            "sagittal" | "x" => Ok(Plane::Sagittal),
            _ => Err(ParsePlaneError(s.to_owned())),
        }
    }
}

/// A grey-level image of real values (HU, or [0, 1]), row by row from the top:
/// `values[row * width + col]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Gray {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` values, top row first.
    pub values: Vec<f32>,
}

fn memory_path() -> PathBuf {
    PathBuf::from("<in-memory volume>")
}

/// Where one plane's slices sit in an x-fastest volume: image size, slice count, and the
/// strides (with flips) that gather a slice in display orientation. Computed once from the
/// shape and the affine, then reused for every slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceLayout {
    plane: Plane,
    shape: [usize; 3],
    width: usize,
    height: usize,
    count: usize,
    /// Offset of column 0, row 0 of slice 0.
    origin: isize,
    col_step: isize,
    row_step: isize,
    slice_step: isize,
    /// The stored voxel axis normal to the plane.
    normal_voxel_axis: usize,
}

impl SliceLayout {
    /// The layout of `plane` for a volume of `shape` (x-fastest) and `affine`; an error when a
    /// size is 0 or the affine has a degenerate axis.
    pub fn new(shape: [usize; 3], affine: &Affine, plane: Plane) -> Result<SliceLayout> {
        SliceLayout::for_file(shape, affine, plane, &memory_path())
    }

    fn for_file(shape: [usize; 3], affine: &Affine, plane: Plane, path: &Path) -> Result<SliceLayout> {
        let voxels = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if shape.contains(&0) || voxels.is_none_or(|n| n > isize::MAX as usize) {
            return Err(Error::new(ErrorKind::InvalidRequest, path, format!("shape {shape:?}: no {plane} slices")));
        }
        let orientation = io_orientation(affine);
        // Per world axis: the voxel axis that follows it and whether it points the same way.
        let mut by_world = [None; 3];
        for (voxel_axis, d) in orientation.iter().enumerate() {
            if let Some(d) = d {
                by_world[d.axis] = Some((voxel_axis, d.sign > 0));
            }
        }
        let stride = [1, shape[0] as isize, (shape[0] * shape[1]) as isize];
        let mut origin = 0isize;
        // (size, step) per world axis; display axes run toward decreasing RAS, the normal
        // toward increasing RAS.
        let mut axis = |w: usize, decreasing: bool| -> Result<(usize, isize)> {
            let Some((v, positive)) = by_world[w] else {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    path,
                    format!(
                        "cannot orient a {plane} view: the affine has a degenerate axis (axis codes {})",
                        axcodes_string(affine)
                    ),
                ));
            };
            let n = shape[v];
            // Stepping the voxel index forward moves toward increasing RAS when `positive`.
            let forward = positive != decreasing;
            if !forward {
                origin += (n as isize - 1) * stride[v];
            }
            Ok((n, if forward { stride[v] } else { -stride[v] }))
        };
        let [cw, rw] = plane.display_axes();
        let (width, col_step) = axis(cw, true)?;
        let (height, row_step) = axis(rw, true)?;
        let (count, slice_step) = axis(plane.normal_axis(), false)?;
        // `axis` returned, so the normal's world axis has a voxel axis.
        let normal_voxel_axis = by_world[plane.normal_axis()].map_or(2, |(v, _)| v);
        Ok(SliceLayout {
            plane,
            shape,
            width,
            height,
            count,
            origin,
            col_step,
            row_step,
            slice_step,
            normal_voxel_axis,
        })
    }

    /// The plane.
    pub fn plane(&self) -> Plane {
        self.plane
    }

    /// Image columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Image rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// How many slices the plane has (N runs from 0 to `slice_count() - 1`).
    pub fn slice_count(&self) -> usize {
        self.count
    }

    /// The middle slice, `slice_count() / 2` (the default of `ctprep png`).
    pub fn middle(&self) -> usize {
        self.count / 2
    }

    /// The stored voxel index `[i, j, k]` shown at `col`, `row` of slice `index` (all in range).
    pub fn voxel_index(&self, index: usize, col: usize, row: usize) -> [usize; 3] {
        let o = self.offset(index, col, row);
        let (nx, ny) = (self.shape[0], self.shape[1]);
        [o % nx, (o / nx) % ny, o / (nx * ny)]
    }

    #[inline]
    fn offset(&self, index: usize, col: usize, row: usize) -> usize {
        // Every (index, col, row) in range is a voxel of the volume, whose size fits isize.
        (self.origin + index as isize * self.slice_step + row as isize * self.row_step + col as isize * self.col_step)
            as usize
    }

    fn check_index(&self, index: usize, path: &Path) -> Result<()> {
        if index < self.count {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::InvalidRequest,
            path,
            format!(
                "slice {index} is out of range: the {} plane has {} slices, 0 to {}",
                self.plane,
                self.count,
                self.count - 1
            ),
        ))
    }

    fn check_len(&self, len: usize, path: &Path) -> Result<()> {
        let n: usize = self.shape.iter().product();
        if len == n {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::InvalidRequest,
            path,
            format!("{len} values given for a volume of shape {:?} ({n} voxels)", self.shape),
        ))
    }

    /// Gathers slice `index` (in range) through `get` (stored offset to real value).
    fn gather_into(&self, index: usize, get: &impl Fn(usize) -> f32, out: &mut [f32]) {
        for (row, dst) in out.chunks_exact_mut(self.width).enumerate() {
            let base = self.offset(index, 0, row) as isize;
            for (col, d) in dst.iter_mut().enumerate() {
                *d = get((base + col as isize * self.col_step) as usize);
            }
        }
    }

    /// Writes slice `index` of `values` (x-fastest, this layout's shape) into `out`, which must
    /// hold `width() * height()` values: the reusable form of [`slice_image`].
    pub fn slice_into(&self, values: &[f32], index: usize, out: &mut [f32]) -> Result<()> {
        let p = memory_path();
        self.check_len(values.len(), &p)?;
        self.check_index(index, &p)?;
        if out.len() != self.width * self.height {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                p,
                format!("output buffer holds {} values, the slice has {} x {}", out.len(), self.width, self.height),
            ));
        }
        self.gather_into(index, &|i| values[i], out);
        Ok(())
    }
}

/// Slices of one plane kept from a volume that streams past as slabs of whole stored z slices,
/// so the volume is never held whole: its images are those [`slice_image`] and
/// [`contact_sheet`] give for the whole volume, bit for bit. It keeps only the stored slices
/// (along whichever voxel axis is normal to the plane) that the asked-for display slices are.
#[derive(Clone, Debug)]
pub struct SliceCapture {
    layout: SliceLayout,
    /// The stored voxel axis normal to the plane.
    axis: usize,
    /// Per stored index along `axis`: its place among the kept slices, or `u32::MAX`.
    slot: Vec<u32>,
    /// The kept slices as an x-fastest volume: the whole shape with `axis` cut to the kept count.
    sub: [usize; 3],
    values: Vec<f32>,
}

impl SliceCapture {
    /// Keeps display slices `slices` of `plane` (numbered as in [`SliceLayout`]) of a volume of
    /// `shape` and `affine`; an error when one is out of range.
    pub fn new(shape: [usize; 3], affine: &Affine, plane: Plane, slices: &[usize]) -> Result<SliceCapture> {
        let p = memory_path();
        let layout = SliceLayout::for_file(shape, affine, plane, &p)?;
        let axis = layout.normal_voxel_axis;
        let mut slot = vec![u32::MAX; shape[axis]];
        let mut kept = 0u32;
        for &n in slices {
            layout.check_index(n, &p)?;
            let stored = layout.voxel_index(n, 0, 0)[axis];
            if slot[stored] == u32::MAX {
                slot[stored] = kept;
                kept += 1;
            }
        }
        let mut sub = shape;
        sub[axis] = kept as usize;
        Ok(SliceCapture { layout, axis, slot, sub, values: vec![0.0; sub.iter().product()] })
    }

    /// Copies what it keeps from `slab`: whole stored z slices `z0..`, x-fastest.
    pub fn take(&mut self, z0: usize, slab: &[f32]) -> Result<()> {
        let [nx, ny, nz] = self.layout.shape;
        let plane = nx * ny;
        let z1 = z0.checked_add(slab.len() / plane).filter(|&z1| z1 <= nz && slab.len().is_multiple_of(plane));
        let Some(z1) = z1 else {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                memory_path(),
                format!(
                    "{} values from stored slice {z0} are not whole slices of shape {:?}",
                    slab.len(),
                    self.layout.shape
                ),
            ));
        };
        let [sx, sy, _] = self.sub;
        for z in z0..z1 {
            let src = &slab[(z - z0) * plane..][..plane];
            match self.axis {
                2 => {
                    if let Some(&s) = self.slot.get(z).filter(|&&s| s != u32::MAX) {
                        self.values[s as usize * plane..][..plane].copy_from_slice(src);
                    }
                }
                1 => {
                    for (y, &s) in self.slot.iter().enumerate().filter(|(_, s)| **s != u32::MAX) {
                        let dst = (s as usize + sy * z) * sx;
                        self.values[dst..dst + nx].copy_from_slice(&src[y * nx..][..nx]);
                    }
                }
                _ => {
                    for (x, &s) in self.slot.iter().enumerate().filter(|(_, s)| **s != u32::MAX) {
                        for y in 0..ny {
                            self.values[s as usize + sx * (y + ny * z)] = src[y * nx + x];
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The kept value at whole-volume offset `o` (a kept slice's voxel).
    fn get(&self, o: usize) -> f32 {
        let [nx, ny, _] = self.layout.shape;
        let mut idx = [o % nx, (o / nx) % ny, o / (nx * ny)];
        idx[self.axis] = self.slot[idx[self.axis]] as usize;
        self.values[idx[0] + self.sub[0] * (idx[1] + self.sub[1] * idx[2])]
    }

    fn check_kept(&self, n: usize) -> Result<()> {
        let p = memory_path();
        self.layout.check_index(n, &p)?;
        if self.slot[self.layout.voxel_index(n, 0, 0)[self.axis]] == u32::MAX {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                p,
                format!("{} slice {n} was not kept", self.layout.plane),
            ));
        }
        Ok(())
    }

    /// Display slice `slice` (kept), as [`slice_image`] gives it.
    pub fn image(&self, slice: usize) -> Result<Gray> {
        self.check_kept(slice)?;
        let (width, height) = (self.layout.width, self.layout.height);
        let mut values = vec![0.0; width * height];
        self.layout.gather_into(slice, &|o| self.get(o), &mut values);
        Ok(Gray { width, height, values })
    }

    /// The contact sheet of kept slices, as [`contact_sheet`] gives it.
    pub fn sheet(&self, sheet: &SheetOptions, map: &PixelMap) -> Result<Pixels> {
        let p = memory_path();
        for n in sheet.panel_slices_for(self.layout.plane, self.layout.count, &p)? {
            self.check_kept(n)?;
        }
        build_sheet(&self.layout, sheet, map, &|o| self.get(o), &p)
    }
}

/// Slice `index` of `plane` from an x-fastest volume of `shape` and `affine`, in radiological
/// display orientation (see the [module docs](self)). An error names the range when `index` is
/// out of it.
pub fn slice_image(values: &[f32], shape: [usize; 3], affine: &Affine, plane: Plane, index: usize) -> Result<Gray> {
    let layout = SliceLayout::new(shape, affine, plane)?;
    let mut out = vec![0.0; layout.width * layout.height];
    layout.slice_into(values, index, &mut out)?;
    Ok(Gray { width: layout.width, height: layout.height, values: out })
}

/// PNG bit depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Bits {
    /// 8 bits per pixel, 0..255.
    #[default]
    Eight,
    /// 16 bits per pixel, 0..65535.
    Sixteen,
}

impl Bits {
    /// 8 or 16.
    pub fn count(self) -> u8 {
        match self {
            Bits::Eight => 8,
            Bits::Sixteen => 16,
        }
    }

    /// White: 255 or 65535.
    pub fn max_value(self) -> u16 {
        match self {
            Bits::Eight => 255,
            Bits::Sixteen => 65535,
        }
    }

    /// The contact sheet's separator grey: 128 (8-bit) or 32896 = 128 * 257 (16-bit), the
    /// same grey at both depths.
    pub fn separator_value(self) -> u16 {
        match self {
            Bits::Eight => 128,
            Bits::Sixteen => 128 * 257,
        }
    }
}

impl fmt::Display for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.count())
    }
}

/// The error for a bit depth other than 8 or 16.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bit depth {0:?}: PNG output is 8 or 16 bits")]
pub struct ParseBitsError(pub String);

impl FromStr for Bits {
    type Err = ParseBitsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "8" => Ok(Bits::Eight),
            "16" => Ok(Bits::Sixteen),
            _ => Err(ParseBitsError(s.to_owned())),
        }
    }
}

/// How real values become grey levels: an optional window, then the bit depth.
///
/// `level = round(max * (clamp(v, lo, hi) - lo) / (hi - lo))`, ties to even, NaN -> 0, with
/// `max` 255 or 65535 and `[lo, hi]` the window, [0, 1] without one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelMap {
    window: Option<Window>,
    bits: Bits,
    map: WindowMap,
}

impl Default for PixelMap {
    fn default() -> Self {
        PixelMap::new()
    }
}

impl PixelMap {
    /// The defaults: no window (values taken as already in [0, 1]), 8 bits.
    pub fn new() -> PixelMap {
        PixelMap::build(None, Bits::Eight)
    }

    fn build(window: Option<Window>, bits: Bits) -> PixelMap {
        let w = window.unwrap_or_else(|| Window::new(0.0, 1.0).expect("[0, 1] is a valid window"));
        let range = Range::new(0.0, f64::from(bits.max_value())).expect("a finite range");
        let map = WindowMap::new(w, range, None).expect("no scaling is always valid");
        PixelMap { window, bits, map }
    }

    /// The window `lo..hi` mapped to black..white (default: none, values in [0, 1]).
    pub fn window(self, window: Window) -> PixelMap {
        PixelMap::build(Some(window), self.bits)
    }

    /// The bit depth (default [`Bits::Eight`]).
    pub fn bits(self, bits: Bits) -> PixelMap {
        PixelMap::build(self.window, bits)
    }

    /// The window, if any.
    pub fn get_window(&self) -> Option<Window> {
        self.window
    }

    /// The bit depth.
    pub fn get_bits(&self) -> Bits {
        self.bits
    }

    /// The grey level of one value.
    #[inline]
    pub fn level(&self, v: f32) -> u16 {
        let y = self.map.apply_as(f64::from(v), true);
        match self.bits {
            Bits::Eight => u16::from(u8::from_mapped(y)),
            Bits::Sixteen => u16::from_mapped(y),
        }
    }

    /// The grey levels of an image.
    pub fn apply(&self, image: &Gray) -> Pixels {
        Pixels {
            width: image.width,
            height: image.height,
            bits: self.bits,
            values: image.values.iter().map(|&v| self.level(v)).collect(),
        }
    }
}

/// Grey levels ready for a PNG, row by row from the top: `values[row * width + col]`, each at
/// most `bits.max_value()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pixels {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// The bit depth the values use.
    pub bits: Bits,
    /// `width * height` grey levels, top row first.
    pub values: Vec<u16>,
}

/// The layout of a contact sheet. Every setter's doc states its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SheetOptions {
    rows: usize,
    cols: usize,
    start: usize,
    every: usize,
    numbers: bool,
}

impl Default for SheetOptions {
    fn default() -> Self {
        SheetOptions { rows: 6, cols: 6, start: 10, every: 3, numbers: false }
    }
}

impl SheetOptions {
    /// The classic `sample_stack` defaults: 6 x 6 panels, slices 10, 13, 16, ..., no numbers.
    pub fn new() -> SheetOptions {
        SheetOptions::default()
    }

    /// Panel rows, at least 1 (default 6).
    pub fn rows(mut self, rows: usize) -> SheetOptions {
        self.rows = rows;
        self
    }

    /// Panel columns, at least 1 (default 6).
    pub fn cols(mut self, cols: usize) -> SheetOptions {
        self.cols = cols;
        self
    }

    /// The first panel's slice (default 10).
    pub fn start(mut self, start: usize) -> SheetOptions {
        self.start = start;
        self
    }

    /// The slice step from panel to panel, at least 1 (default 3).
    pub fn every(mut self, every: usize) -> SheetOptions {
        self.every = every;
        self
    }

    /// Whether each panel shows its slice number in its top-left corner (default false).
    pub fn numbers(mut self, numbers: bool) -> SheetOptions {
        self.numbers = numbers;
        self
    }

    /// The sheet's width and height for panels of `panel_width x panel_height`:
    /// `cols * panel_width + (cols - 1) * SEPARATOR_PX` by `rows * panel_height + (rows - 1) *
    /// SEPARATOR_PX`; `None` when a count is 0 or the size overflows.
    pub fn size(&self, panel_width: usize, panel_height: usize) -> Option<(usize, usize)> {
        let side = |n: usize, px: usize| n.checked_mul(px)?.checked_add(n.checked_sub(1)?.checked_mul(SEPARATOR_PX)?);
        Some((side(self.cols, panel_width)?, side(self.rows, panel_height)?))
    }

    /// The slices of the panels, row by row: `start, start + every, ...`, `rows * cols` of
    /// them; an error when a count is 0 or a slice is past the last of `count`.
    pub fn panel_slices(&self, plane: Plane, count: usize) -> Result<Vec<usize>> {
        self.panel_slices_for(plane, count, &memory_path())
    }

    fn panel_slices_for(&self, plane: Plane, count: usize, path: &Path) -> Result<Vec<usize>> {
        let bad = |m: String| Err(Error::new(ErrorKind::InvalidRequest, path, m));
        for (name, v) in [("rows", self.rows), ("cols", self.cols), ("every", self.every)] {
            if v == 0 {
                return bad(format!("contact sheet {name} must be at least 1"));
            }
        }
        let panels = self.rows.checked_mul(self.cols);
        let last = panels.and_then(|p| (p - 1).checked_mul(self.every)).and_then(|d| d.checked_add(self.start));
        match last {
            Some(last) if last < count => Ok((0..self.rows * self.cols).map(|i| self.start + i * self.every).collect()),
            _ => {
                let (r, c, s, e) = (self.rows, self.cols, self.start, self.every);
                let asked = match last {
                    Some(last) if r * c > 2 => format!("slices {s}, {}, ..., {last}", s + e),
                    Some(last) if r * c == 2 => format!("slices {s} and {last}"),
                    Some(_) => format!("slice {s}"),
                    None => format!("slices from {s} every {e}, past any volume"),
                };
                bad(format!(
                    "the contact sheet ({r} x {c} panels from slice {s} every {e}) needs {asked}, but the {plane} \
                     plane has {count} slices, 0 to {}",
                    count.saturating_sub(1)
                ))
            }
        }
    }
}

/// A contact sheet of `plane` from an x-fastest volume of `shape` and `affine` (see
/// [`SheetOptions`] for the layout), with grey levels from `map`.
pub fn contact_sheet(
    values: &[f32],
    shape: [usize; 3],
    affine: &Affine,
    plane: Plane,
    sheet: &SheetOptions,
    map: &PixelMap,
) -> Result<Pixels> {
    let p = memory_path();
    let layout = SliceLayout::for_file(shape, affine, plane, &p)?;
    layout.check_len(values.len(), &p)?;
    build_sheet(&layout, sheet, map, &|i| values[i], &p)
}

fn build_sheet(
    layout: &SliceLayout,
    sheet: &SheetOptions,
    map: &PixelMap,
    get: &impl Fn(usize) -> f32,
    path: &Path,
) -> Result<Pixels> {
    let slices = sheet.panel_slices_for(layout.plane, layout.count, path)?;
    let (pw, ph) = (layout.width, layout.height);
    // Every panel is a different slice, so the sheet holds at most the volume's voxels plus
    // separators: its size is bounded by the input's.
    let (width, height) = sheet
        .size(pw, ph)
        .filter(|(w, h)| w.checked_mul(*h).is_some())
        .ok_or_else(|| Error::new(ErrorKind::InvalidRequest, path, "the contact sheet is too large"))?;
    let mut values = vec![map.bits.separator_value(); width * height];
    let mut panel = vec![0.0f32; pw * ph];
    let scale = (pw.min(ph) / 64).max(1);
    for (i, &n) in slices.iter().enumerate() {
        layout.gather_into(n, get, &mut panel);
        let (x0, y0) = ((i % sheet.cols) * (pw + SEPARATOR_PX), (i / sheet.cols) * (ph + SEPARATOR_PX));
        for (row, src) in panel.chunks_exact(pw).enumerate() {
            let dst = &mut values[(y0 + row) * width + x0..][..pw];
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = map.level(v);
            }
        }
        if sheet.numbers {
            let mut canvas = Canvas { values: &mut values, stride: width, x0, y0, width: pw, height: ph };
            draw_number(&mut canvas, n, scale, map.bits.max_value());
        }
    }
    Ok(Pixels { width, height, bits: map.bits, values })
}

/// One panel of a sheet: drawing is clipped to it.
struct Canvas<'a> {
    values: &'a mut [u16],
    stride: usize,
    x0: usize,
    y0: usize,
    width: usize,
    height: usize,
}

impl Canvas<'_> {
    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, v: u16) {
        for yy in y..(y + h).min(self.height) {
            let row = (self.y0 + yy) * self.stride + self.x0;
            for xx in x..(x + w).min(self.width) {
                self.values[row + xx] = v;
            }
        }
    }
}

/// The digits 0-9, 3 x 5 pixels each: one row per byte, the high bit of the three the left.
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b001, 0b001, 0b001],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// Draws `n` in white on a black box in the panel's top-left corner, each font pixel
/// `scale x scale`, a one-font-pixel margin around the digits, clipped to the panel.
fn draw_number(canvas: &mut Canvas<'_>, n: usize, scale: usize, white: u16) {
    let digits: Vec<usize> = n.to_string().bytes().map(|b| usize::from(b - b'0')).collect();
    let box_w = (digits.len() * 4 + 1) * scale;
    canvas.fill(0, 0, box_w, 7 * scale, 0);
    for (k, &d) in digits.iter().enumerate() {
        for (r, bits) in DIGITS[d].iter().enumerate() {
            for c in 0..3 {
                if bits & (0b100 >> c) != 0 {
                    canvas.fill((1 + k * 4 + c) * scale, (1 + r) * scale, scale, scale, white);
                }
            }
        }
    }
}

/// The PNG encoding of `image` (grey, 8 or 16 bits, no ancillary chunks): the bytes
/// [`write_png`] writes.
pub fn encode_png(image: &Pixels) -> Result<Vec<u8>> {
    encode_png_for(image, &memory_path())
}

fn encode_png_for(image: &Pixels, path: &Path) -> Result<Vec<u8>> {
    let bad = |m: String| Err(Error::new(ErrorKind::InvalidRequest, path, m));
    // The PNG format limits each side to 2^31 - 1.
    let side = |n: usize| u32::try_from(n).ok().filter(|&v| v >= 1 && v <= i32::MAX as u32);
    let (Some(w), Some(h)) = (side(image.width), side(image.height)) else {
        return bad(format!("a PNG cannot be {} x {} pixels", image.width, image.height));
    };
    if image.width.checked_mul(image.height) != Some(image.values.len()) {
        return bad(format!("{} values for a {} x {} image", image.values.len(), image.width, image.height));
    }
    let max = image.bits.max_value();
    if let Some(v) = image.values.iter().find(|&&v| v > max) {
        return bad(format!("grey level {v} does not fit {} bits", image.bits));
    }
    let data: Vec<u8> = match image.bits {
        Bits::Eight => image.values.iter().map(|&v| v as u8).collect(),
        Bits::Sixteen => image.values.iter().flat_map(|v| v.to_be_bytes()).collect(),
    };
    let mut out = Vec::new();
    let perr =
        |e: png::EncodingError| Error::new(ErrorKind::InvalidRequest, path, format!("cannot encode the PNG: {e}"));
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(match image.bits {
        Bits::Eight => png::BitDepth::Eight,
        Bits::Sixteen => png::BitDepth::Sixteen,
    });
    // Fixed rather than left to the crate's defaults, so the bytes do not change with them.
    enc.set_compression(png::Compression::Balanced);
    enc.set_filter(png::Filter::Adaptive);
    let mut writer = enc.write_header().map_err(perr)?;
    writer.write_image_data(&data).map_err(perr)?;
    writer.finish().map_err(perr)?;
    Ok(out)
}

/// Writes `image` to `path` as a grey PNG of its bit depth, through a temporary file in the
/// same folder renamed when complete (nothing appears at `path` when encoding or writing fails).
pub fn write_png(path: impl AsRef<Path>, image: &Pixels) -> Result<()> {
    let path = path.as_ref();
    let bytes = encode_png_for(image, path)?;
    write_atomically(path, |mut file| {
        file.write_all(&bytes).map_err(|e| Error::io(path, "write", e))?;
        file.flush().map_err(|e| Error::io(path, "write", e))
    })
}

/// Runs `$go` with a closure from a stored offset to the real (scaled) value, monomorphised per
/// stored type: `scl_slope * v + scl_inter` in `f64`, rounded once to `f32`, exactly as
/// [`Volume::scaled_f32`] computes each voxel.
macro_rules! with_real_values {
    ($vol:expr, $get:ident => $go:expr) => {{
        let scaling = $vol.scaling();
        crate::with_storage!($vol.data(), s => {
            let src = s.as_slice();
            match scaling {
                None => {
                    let $get = |i: usize| src[i].to_f64() as f32;
                    $go
                }
                Some(sc) => {
                    let $get = |i: usize| sc.apply(src[i].to_f64()) as f32;
                    $go
                }
            }
        })
    }};
}

impl Volume {
    /// The layout of `plane` for this 3-D volume (size, slice count); errors name the file.
    pub fn slice_layout(&self, plane: Plane) -> Result<SliceLayout> {
        SliceLayout::for_file(self.dims3()?, self.affine(), plane, &self.display_path())
    }

    /// Slice `index` of `plane` in radiological display orientation, real (scaled) values of
    /// any stored type, gathered from the stored data without copying the volume. Equal to
    /// [`slice_image`] of [`Volume::scaled_f32`].
    pub fn slice_image(&self, plane: Plane, index: usize) -> Result<Gray> {
        let layout = self.slice_layout(plane)?;
        layout.check_index(index, &self.display_path())?;
        let mut out = vec![0.0; layout.width * layout.height];
        with_real_values!(self, get => layout.gather_into(index, &get, &mut out));
        Ok(Gray { width: layout.width, height: layout.height, values: out })
    }

    /// A contact sheet of `plane` from the real (scaled) values: [`contact_sheet`] without
    /// copying the volume; errors name the file.
    pub fn contact_sheet(&self, plane: Plane, sheet: &SheetOptions, map: &PixelMap) -> Result<Pixels> {
        let layout = self.slice_layout(plane)?;
        let path = self.display_path();
        with_real_values!(self, get => build_sheet(&layout, sheet, map, &get, &path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::VoxelData;
    use crate::orientation::AxCodes;

    /// A RAS volume of `shape` whose value is 1 at `marker` and 0 elsewhere.
    fn marker_volume(shape: [usize; 3], marker: [usize; 3]) -> Volume {
        let mut v = vec![0.0f32; shape.iter().product()];
        v[marker[0] + shape[0] * (marker[1] + shape[1] * marker[2])] = 1.0;
        let a = Affine::from_spacing_origin([0.7, 0.9, 2.0], [-3.0, 4.0, 10.0]);
        Volume::new(VoxelData::from_vec(v), &shape, a).expect("valid")
    }

    fn codes(s: &str) -> AxCodes {
        s.parse().expect("axis codes")
    }

    /// Where the single bright pixel of an image is.
    fn bright(g: &Gray) -> Option<(usize, usize)> {
        let i = g.values.iter().position(|&v| v == 1.0)?;
        Some((i % g.width, i / g.width))
    }

    const ORDERS: [&str; 8] = ["RAS", "LPS", "PIR", "ASL", "ILP", "SRA", "LAI", "PSR"];

    #[test]
    fn plane_names_parse() {
        for (s, p) in [("axial", Plane::Axial), ("Z", Plane::Axial), ("coronal", Plane::Coronal), ("y", Plane::Coronal)]
        {
            assert_eq!(s.parse::<Plane>(), Ok(p));
        }
        assert_eq!("SAGITTAL".parse::<Plane>(), Ok(Plane::Sagittal));
        assert_eq!("x".parse::<Plane>(), Ok(Plane::Sagittal));
        assert!("transverse".parse::<Plane>().is_err());
        assert_eq!("16".parse::<Bits>(), Ok(Bits::Sixteen));
        assert!("12".parse::<Bits>().is_err());
    }

    /// A marker at a known RAS index lands where the convention says, in every storage order.
    #[test]
    fn marker_lands_where_the_convention_says() {
        let shape = [5, 6, 7];
        // x = 4 (toward the patient's right), y = 1 (posterior), z = 5 (superior).
        let m = [4, 1, 5];
        let ras = marker_volume(shape, m);
        for order in ORDERS {
            let v = ras.to_axcodes(codes(order)).expect("reorients");
            assert_eq!(v.axcodes_string(), order);
            // Axial slice z: the patient's right on the left (col = nx-1-x), anterior up (row = ny-1-y).
            let g = v.slice_image(Plane::Axial, m[2]).expect("in range");
            assert_eq!((g.width, g.height), (5, 6), "{order}");
            assert_eq!(bright(&g), Some((0, 4)), "{order} axial");
            // Coronal slice y: right on the left, superior up (row = nz-1-z).
            let g = v.slice_image(Plane::Coronal, m[1]).expect("in range");
            assert_eq!((g.width, g.height), (5, 7), "{order}");
            assert_eq!(bright(&g), Some((0, 1)), "{order} coronal");
            // Sagittal slice x: anterior on the left (col = ny-1-y), superior up.
            let g = v.slice_image(Plane::Sagittal, m[0]).expect("in range");
            assert_eq!((g.width, g.height), (6, 7), "{order}");
            assert_eq!(bright(&g), Some((4, 1)), "{order} sagittal");
            // The neighbouring slices do not hold it.
            assert_eq!(bright(&v.slice_image(Plane::Axial, m[2] - 1).expect("in range")), None);
        }
    }

    /// The oracle: reorient the whole volume to RAS, then index it naively.
    fn naive(v: &Volume, plane: Plane, n: usize) -> Gray {
        let ras = v.to_closest_canonical().expect("oriented");
        let [nx, ny, nz] = ras.dims3().expect("3-D");
        let vals = ras.scaled_f32();
        let at = |x: usize, y: usize, z: usize| vals[x + nx * (y + ny * z)];
        let (w, h) = match plane {
            Plane::Axial => (nx, ny),
            Plane::Coronal => (nx, nz),
            Plane::Sagittal => (ny, nz),
        };
        let mut out = Vec::with_capacity(w * h);
        for r in 0..h {
            for c in 0..w {
                out.push(match plane {
                    Plane::Axial => at(nx - 1 - c, ny - 1 - r, n),
                    Plane::Coronal => at(nx - 1 - c, n, nz - 1 - r),
                    Plane::Sagittal => at(n, ny - 1 - c, nz - 1 - r),
                });
            }
        }
        Gray { width: w, height: h, values: out }
    }

    fn counting_volume(shape: [usize; 3]) -> Volume {
        let n: usize = shape.iter().product();
        let v: Vec<i16> = (0..n).map(|i| i as i16).collect();
        Volume::new(VoxelData::from_vec(v), &shape, Affine::from_spacing_origin([1.0, 1.5, 2.5], [0.0; 3]))
            .expect("valid")
            .with_scaling(0.5, -10.0)
            .expect("valid scaling")
    }

    #[test]
    fn every_slice_matches_the_reoriented_oracle() {
        let ras = counting_volume([4, 3, 5]);
        for order in ORDERS {
            let v = ras.to_axcodes(codes(order)).expect("reorients");
            let flat = v.scaled_f32();
            for plane in Plane::ALL {
                let layout = v.slice_layout(plane).expect("oriented");
                assert_eq!(layout.slice_count(), [4, 3, 5][plane.normal_axis()]);
                for n in 0..layout.slice_count() {
                    let want = naive(&v, plane, n);
                    let got = v.slice_image(plane, n).expect("in range");
                    assert_eq!(got, want, "{order} {plane} {n}");
                    let raw = slice_image(&flat, v.dims3().expect("3-D"), v.affine(), plane, n).expect("in range");
                    assert_eq!(raw, want, "{order} {plane} {n} from f32");
                    // The same picture from the RAS volume: storage order does not matter.
                    assert_eq!(got, ras.slice_image(plane, n).expect("in range"));
                }
            }
        }
    }

    #[test]
    fn voxel_index_names_the_stored_voxel() {
        let v = counting_volume([4, 3, 5]).to_axcodes(codes("PIR")).expect("reorients");
        let layout = v.slice_layout(Plane::Coronal).expect("oriented");
        let g = v.slice_image(Plane::Coronal, 1).expect("in range");
        let raw = v.data().as_slice::<i16>().expect("i16");
        let shape = v.dims3().expect("3-D");
        for row in 0..g.height {
            for col in 0..g.width {
                let [i, j, k] = layout.voxel_index(1, col, row);
                let stored = raw[i + shape[0] * (j + shape[1] * k)];
                assert_eq!(g.values[row * g.width + col], f32::from(stored) * 0.5 - 10.0);
            }
        }
    }

    #[test]
    fn oblique_affines_use_the_closest_axes() {
        let ras = counting_volume([4, 3, 5]);
        for order in ["RAS", "LPS", "PIR"] {
            let v = ras.to_axcodes(codes(order)).expect("reorients");
            // Rotate the world by 20 degrees about z: still closest to the same axes.
            let (c, s) = (20f64.to_radians().cos(), 20f64.to_radians().sin());
            let rot = Affine::from_parts([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], [0.0; 3]);
            let oblique = v.clone().with_affine(rot.matmul(v.affine())).expect("valid");
            assert_eq!(oblique.axcodes_string(), order);
            for plane in Plane::ALL {
                assert_eq!(
                    oblique.slice_image(plane, 1).expect("in range"),
                    v.slice_image(plane, 1).expect("in range")
                );
            }
        }
    }

    #[test]
    fn out_of_range_and_degenerate_inputs_are_errors() {
        let v = counting_volume([4, 3, 5]);
        let err = v.slice_image(Plane::Axial, 5).expect_err("past the end");
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(err.to_string().contains("slice 5 is out of range: the axial plane has 5 slices, 0 to 4"), "{err}");
        let flat = Affine::from_spacing_origin([1.0, 1.0, 0.0], [0.0; 3]);
        let err = slice_image(&[0.0; 60], [4, 3, 5], &flat, Plane::Coronal, 0).expect_err("degenerate");
        assert!(err.to_string().contains("degenerate axis (axis codes RA?)"), "{err}");
        let err = slice_image(&[0.0; 59], [4, 3, 5], &Affine::IDENTITY, Plane::Coronal, 0).expect_err("short");
        assert!(err.to_string().contains("59 values"), "{err}");
        assert!(slice_image(&[], [0, 3, 5], &Affine::IDENTITY, Plane::Axial, 0).is_err());
        let layout = SliceLayout::new([4, 3, 5], &Affine::IDENTITY, Plane::Axial).expect("valid");
        assert!(layout.slice_into(&[0.0; 60], 0, &mut [0.0; 11]).is_err());
    }

    #[test]
    fn grey_levels_round_half_to_even_clamp_and_zero_nan() {
        let g = Gray { width: 8, height: 1, values: vec![0.0, 0.5, 1.0, f32::NAN, -0.2, 1.7, f32::INFINITY, 0.25] };
        let p8 = PixelMap::new().apply(&g);
        assert_eq!(p8.values, [0, 128, 255, 0, 0, 255, 255, 64]);
        let p16 = PixelMap::new().bits(Bits::Sixteen).apply(&g);
        assert_eq!(p16.values, [0, 32768, 65535, 0, 0, 65535, 65535, 16384]);
        // Ties go to even: 1, 3, 5 HU in a 0..510 window are 0.5, 1.5, 2.5 grey levels.
        let w = Window::new(0.0, 510.0).expect("valid");
        let g = Gray { width: 4, height: 1, values: vec![1.0, 3.0, 5.0, -1000.0] };
        assert_eq!(PixelMap::new().window(w).apply(&g).values, [0, 2, 2, 0]);
        // The same numbers `ctprep window --dtype u8` computes.
        let map = WindowMap::for_output::<u8>(w, None, None).expect("valid");
        for v in [1.0f32, 3.0, 5.0, 77.0, 300.5] {
            assert_eq!(
                PixelMap::new().window(w).level(v),
                u16::from(u8::from_mapped(map.apply_as(f64::from(v), true)))
            );
        }
    }

    #[test]
    fn sheet_layout_and_errors() {
        let v = counting_volume([4, 3, 5]);
        let opts = SheetOptions::new().rows(2).cols(2).start(1).every(1);
        let map = PixelMap::new().window(Window::new(-10.0, 20.0).expect("valid"));
        let s = v.contact_sheet(Plane::Axial, &opts, &map).expect("fits");
        assert_eq!((s.width, s.height), (2 * 4 + 2, 2 * 3 + 2));
        assert_eq!(opts.size(4, 3), Some((10, 8)));
        // Panel 3 (bottom right) is slice 4, separators are grey.
        let want = map.apply(&v.slice_image(Plane::Axial, 4).expect("in range"));
        for r in 0..3 {
            assert_eq!(s.values[(5 + r) * 10 + 6..][..4], want.values[r * 4..][..4]);
        }
        assert!(s.values[4..6].iter().all(|&x| x == 128));
        assert!(s.values[3 * 10..5 * 10].iter().all(|&x| x == 128));
        // Past the end: says what exists and what was asked.
        let err = v.contact_sheet(Plane::Axial, &SheetOptions::new(), &map).expect_err("5 slices only");
        assert!(
            err.to_string().contains("needs slices 10, 13, ..., 115, but the axial plane has 5 slices, 0 to 4"),
            "{err}"
        );
        assert!(v.contact_sheet(Plane::Axial, &opts.rows(0), &map).is_err());
        assert!(v.contact_sheet(Plane::Axial, &opts.every(0), &map).is_err());
        let huge = SheetOptions::new().rows(usize::MAX).cols(3);
        let err = v.contact_sheet(Plane::Axial, &huge, &map).expect_err("overflows");
        assert!(err.to_string().contains("past any volume"), "{err}");
    }

    #[test]
    fn numbers_are_drawn_in_the_corner() {
        let v = Volume::new(VoxelData::from_vec(vec![0.5f32; 40 * 30 * 20]), &[40, 30, 20], Affine::IDENTITY)
            .expect("valid");
        let opts = SheetOptions::new().rows(1).cols(2).start(7).every(11);
        let plain = v.contact_sheet(Plane::Axial, &opts, &PixelMap::new()).expect("fits");
        let s = v.contact_sheet(Plane::Axial, &opts.numbers(true), &PixelMap::new()).expect("fits");
        // "7" in the first panel: its box (5 x 7) and the digit's top bar.
        assert_eq!(s.values[0], 0);
        assert_eq!(&s.values[82 + 1..82 + 4], &[255, 255, 255]);
        assert_eq!(s.values[82 + 4], 0, "the box's margin is black");
        assert_eq!(s.values[82 + 5], 128, "mid grey (0.5) right of the box");
        // "18" in the second panel, whose box is 9 wide.
        let x0 = 40 + SEPARATOR_PX;
        assert_eq!(s.values[82 + x0 + 8], 0);
        assert_eq!(s.values[82 + x0 + 9], 128, "mid grey (0.5) right of the box");
        // Outside the boxes the sheet is unchanged.
        let diff = s.values.iter().zip(&plain.values).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 5 * 7 + 9 * 7);
    }

    #[test]
    fn png_bytes_round_trip_and_are_deterministic() {
        let px = Pixels { width: 3, height: 2, bits: Bits::Sixteen, values: vec![0, 1, 256, 32768, 65535, 7] };
        let a = encode_png(&px).expect("encodes");
        assert_eq!(a, encode_png(&px).expect("encodes"));
        let mut dec = png::Decoder::new(std::io::Cursor::new(&a)).read_info().expect("a PNG");
        let mut buf = vec![0; dec.output_buffer_size().expect("size")];
        let info = dec.next_frame(&mut buf).expect("one frame");
        assert_eq!((info.width, info.height, info.bit_depth), (3, 2, png::BitDepth::Sixteen));
        let back: Vec<u16> =
            buf[..info.buffer_size()].chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]])).collect();
        assert_eq!(back, px.values);
        let bad = Pixels { bits: Bits::Eight, ..px.clone() };
        assert!(encode_png(&bad).expect_err("65535 in 8 bits").to_string().contains("does not fit 8 bits"));
        assert!(encode_png(&Pixels { width: 0, height: 0, bits: Bits::Eight, values: vec![] }).is_err());

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.png");
        write_png(&path, &px).expect("writes");
        assert_eq!(std::fs::read(&path).expect("reads"), a);
        // A failed write leaves nothing behind.
        let missing = dir.path().join("no/such/dir/x.png");
        assert!(write_png(&missing, &px).is_err());
        assert!(write_png(dir.path().join("y.png"), &bad).is_err());
        let names: Vec<_> =
            std::fs::read_dir(dir.path()).expect("lists").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, ["x.png"]);
    }

    /// Slices kept from a volume streamed in slabs of any size, in any storage order and any
    /// plane (shapes with sides of 1 too), give the images and sheets of the whole volume bit for
    /// bit; slices not kept, slabs not of whole slices, and slices out of range are errors.
    #[test]
    fn captured_slices_equal_the_whole_volume_images() {
        let map = PixelMap::new();
        for shape in [[4, 3, 5], [1, 3, 4], [3, 1, 4], [5, 4, 1], [6, 5, 7]] {
            let ras = counting_volume(shape);
            for order in ORDERS {
                let v = ras.to_axcodes(codes(order)).expect("reorients");
                let vals = v.scaled_f32();
                let vshape = v.dims3().expect("3-D");
                let plane_len = vshape[0] * vshape[1];
                for plane in Plane::ALL {
                    let layout = SliceLayout::new(vshape, v.affine(), plane).expect("layout");
                    let count = layout.slice_count();
                    let sheet = SheetOptions::new().rows(1).cols(count.min(2)).start(0).every(1).numbers(true);
                    let keep = [layout.middle(), 0, 1.min(count - 1)];
                    for slab in [1, 2, vshape[2]] {
                        let mut c = SliceCapture::new(vshape, v.affine(), plane, &keep).expect("capture");
                        // Slabs in reverse order: the capture does not care.
                        let starts: Vec<usize> = (0..vshape[2]).step_by(slab).collect();
                        for &z0 in starts.iter().rev() {
                            let z1 = (z0 + slab).min(vshape[2]);
                            c.take(z0, &vals[z0 * plane_len..z1 * plane_len]).expect("takes");
                        }
                        for n in keep {
                            let want = slice_image(&vals, vshape, v.affine(), plane, n).expect("slice");
                            assert_eq!(c.image(n).expect("kept"), want, "{shape:?} {order} {plane} {n}");
                        }
                        let want = contact_sheet(&vals, vshape, v.affine(), plane, &sheet, &map).expect("sheet");
                        assert_eq!(c.sheet(&sheet, &map).expect("kept"), want, "{shape:?} {order} {plane} sheet");
                        if count > 2 {
                            assert!(c.image(count - 1).is_err(), "slice {} was not kept", count - 1);
                        }
                        assert!(c.image(count).is_err());
                        assert!(c.take(0, &vec![0.0; plane_len + 1]).is_err(), "not whole slices");
                        assert!(c.take(vshape[2], &vals[..plane_len]).is_err(), "past the last slice");
                    }
                    assert!(SliceCapture::new(vshape, v.affine(), plane, &[count]).is_err());
                }
            }
        }
    }
}
