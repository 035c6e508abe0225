//! Display layout from the affine: which stored axis runs along each image axis and which way,
//! per [`Plane`], computed once per volume ([`SliceLayout`]).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ctprep_core::Affine;
use ctprep_io::{axcodes_string, io_orientation};

use crate::error::{RenderError, Result, memory_path};
use crate::grey::Gray;

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
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "axial" | "z" => Ok(Plane::Axial),
            "coronal" | "y" => Ok(Plane::Coronal),
            "sagittal" | "x" => Ok(Plane::Sagittal),
            _ => Err(ParsePlaneError(s.to_owned())),
        }
    }
}

/// Where one plane's slices sit in an x-fastest volume: image size, slice count, and the
/// strides (with flips) that gather a slice in display orientation. Computed once from the
/// shape and the affine, then reused for every slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceLayout {
    pub(crate) plane: Plane,
    pub(crate) shape: [usize; 3],
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) count: usize,
    /// Offset of column 0, row 0 of slice 0.
    pub(crate) origin: isize,
    pub(crate) col_step: isize,
    pub(crate) row_step: isize,
    pub(crate) slice_step: isize,
    /// The stored voxel axis normal to the plane.
    pub(crate) normal_voxel_axis: usize,
}

impl SliceLayout {
    /// The layout of `plane` for a volume of `shape` (x-fastest) and `affine`; an error when a
    /// size is 0 or the affine has a degenerate axis.
    pub fn new(shape: [usize; 3], affine: &Affine, plane: Plane) -> Result<SliceLayout> {
        SliceLayout::for_file(shape, affine, plane, &memory_path())
    }

    pub(crate) fn for_file(shape: [usize; 3], affine: &Affine, plane: Plane, path: &Path) -> Result<SliceLayout> {
        let voxels = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if shape.contains(&0) || voxels.is_none_or(|n| n > isize::MAX as usize) {
            return Err(RenderError::invalid(path, format!("shape {shape:?}: no {plane} slices")));
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
                return Err(RenderError::invalid(
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

    pub(crate) fn check_index(&self, index: usize, path: &Path) -> Result<()> {
        if index < self.count {
            return Ok(());
        }
        Err(RenderError::invalid(
            path,
            format!(
                "slice {index} is out of range: the {} plane has {} slices, 0 to {}",
                self.plane,
                self.count,
                self.count - 1
            ),
        ))
    }

    pub(crate) fn check_len(&self, len: usize, path: &Path) -> Result<()> {
        let n: usize = self.shape.iter().product();
        if len == n {
            return Ok(());
        }
        Err(RenderError::invalid(
            path,
            format!("{len} values given for a volume of shape {:?} ({n} voxels)", self.shape),
        ))
    }

    /// Gathers slice `index` (in range) through `get` (stored offset to real value, or label).
    pub(crate) fn gather_into<T>(&self, index: usize, get: &impl Fn(usize) -> T, out: &mut [T]) {
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
            return Err(RenderError::invalid(
                p,
                format!("output buffer holds {} values, the slice has {} x {}", out.len(), self.width, self.height),
            ));
        }
        self.gather_into(index, &|i| values[i], out);
        Ok(())
    }
}

/// Slice `index` of `plane` from an x-fastest volume of `shape` and `affine`, in radiological
/// display orientation (see the [crate docs](crate)). An error names the range when `index` is
/// out of it.
pub fn slice_image(values: &[f32], shape: [usize; 3], affine: &Affine, plane: Plane, index: usize) -> Result<Gray> {
    let layout = SliceLayout::new(shape, affine, plane)?;
    let mut out = vec![0.0; layout.width * layout.height];
    layout.slice_into(values, index, &mut out)?;
    Ok(Gray { width: layout.width, height: layout.height, values: out })
}
