//! The images of a [`Volume`] gathered from its stored voxels, any stored type, without a
//! copy of the volume ([`VolumeImages`]).

use ctprep_core::Voxel;
use ctprep_io::Volume;

use crate::error::Result;
use crate::grey::{Gray, PixelMap, Pixels};
use crate::layout::{Plane, SliceLayout};
use crate::sheet::{SheetOptions, build_sheet};

/// Runs `$go` with a closure from a stored offset to the real (scaled) value, monomorphised per
/// stored type: `scl_slope * v + scl_inter` in `f64`, rounded once to `f32`, exactly as
/// [`Volume::scaled_f32`] computes each voxel.
macro_rules! with_real_values {
    ($vol:expr, $get:ident => $go:expr) => {{
        let scaling = $vol.scaling();
        ctprep_io::with_storage!($vol.data(), s => {
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

/// The images of a volume: real (scaled) values of any stored type, gathered from the stored
/// data without copying the volume; errors name the volume's file.
pub trait VolumeImages {
    /// The layout of `plane` for this 3-D volume (size, slice count).
    fn slice_layout(&self, plane: Plane) -> Result<SliceLayout>;

    /// Slice `index` of `plane` in radiological display orientation. Equal to
    /// [`slice_image`](crate::slice_image) of [`Volume::scaled_f32`].
    fn slice_image(&self, plane: Plane, index: usize) -> Result<Gray>;

    /// A contact sheet of `plane`: [`contact_sheet`](crate::contact_sheet) of the real values.
    fn contact_sheet(&self, plane: Plane, sheet: &SheetOptions, map: &PixelMap) -> Result<Pixels>;
}

impl VolumeImages for Volume {
    fn slice_layout(&self, plane: Plane) -> Result<SliceLayout> {
        SliceLayout::for_file(self.dims3()?, self.affine(), plane, &self.display_path())
    }

    fn slice_image(&self, plane: Plane, index: usize) -> Result<Gray> {
        let layout = self.slice_layout(plane)?;
        layout.check_index(index, &self.display_path())?;
        let mut out = vec![0.0; layout.width * layout.height];
        with_real_values!(self, get => layout.gather_into(index, &get, &mut out));
        Ok(Gray { width: layout.width, height: layout.height, values: out })
    }

    fn contact_sheet(&self, plane: Plane, sheet: &SheetOptions, map: &PixelMap) -> Result<Pixels> {
        let layout = self.slice_layout(plane)?;
        let path = self.display_path();
        with_real_values!(self, get => build_sheet(&layout, sheet, map, &get, &path))
    }
}
