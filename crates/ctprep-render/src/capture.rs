//! Slices kept from a volume that streams past slab by slab ([`SliceCapture`]).

use ctprep_core::Affine;

use crate::error::{RenderError, Result, memory_path};
use crate::grey::{Gray, PixelMap, Pixels};
use crate::layout::{Plane, SliceLayout};
use crate::sheet::{SheetOptions, build_sheet};

/// Slices of one plane kept from a volume that streams past as slabs of whole stored z slices,
/// so the volume is never held whole: its images are those [`slice_image`](crate::slice_image) and
/// [`contact_sheet`](crate::contact_sheet) give for the whole volume, bit for bit. It keeps only the stored slices
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
        self.take_as(z0, slab, |v| v)
    }

    /// [`SliceCapture::take`] from values of another type, each kept one converted by `to_f32`
    /// (only the kept ones are).
    pub fn take_as<T: Copy>(&mut self, z0: usize, slab: &[T], to_f32: impl Fn(T) -> f32) -> Result<()> {
        let [nx, ny, nz] = self.layout.shape;
        let plane = nx * ny;
        let z1 = z0.checked_add(slab.len() / plane).filter(|&z1| z1 <= nz && slab.len().is_multiple_of(plane));
        let Some(z1) = z1 else {
            return Err(RenderError::invalid(
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
                        let dst = &mut self.values[s as usize * plane..][..plane];
                        dst.iter_mut().zip(src).for_each(|(d, &v)| *d = to_f32(v));
                    }
                }
                1 => {
                    for (y, &s) in self.slot.iter().enumerate().filter(|(_, s)| **s != u32::MAX) {
                        let dst = (s as usize + sy * z) * sx;
                        let row = &src[y * nx..][..nx];
                        self.values[dst..dst + nx].iter_mut().zip(row).for_each(|(d, &v)| *d = to_f32(v));
                    }
                }
                _ => {
                    for (x, &s) in self.slot.iter().enumerate().filter(|(_, s)| **s != u32::MAX) {
                        for y in 0..ny {
                            self.values[s as usize + sx * (y + ny * z)] = to_f32(src[y * nx + x]);
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
            return Err(RenderError::invalid(p, format!("{} slice {n} was not kept", self.layout.plane)));
        }
        Ok(())
    }

    /// Display slice `slice` (kept), as [`slice_image`](crate::slice_image) gives it.
    pub fn image(&self, slice: usize) -> Result<Gray> {
        self.check_kept(slice)?;
        let (width, height) = (self.layout.width, self.layout.height);
        let mut values = vec![0.0; width * height];
        self.layout.gather_into(slice, &|o| self.get(o), &mut values);
        Ok(Gray { width, height, values })
    }

    /// The contact sheet of kept slices, as [`contact_sheet`](crate::contact_sheet) gives it.
    pub fn sheet(&self, sheet: &SheetOptions, map: &PixelMap) -> Result<Pixels> {
        let p = memory_path();
        for n in sheet.panel_slices_for(self.layout.plane, self.layout.count, &p)? {
            self.check_kept(n)?;
        }
        build_sheet(&self.layout, sheet, map, &|o| self.get(o), &p)
    }
}
