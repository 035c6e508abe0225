//! PNG slices and contact sheets of CT volumes in radiological display orientation, gathered
//! straight from the stored voxels: no reoriented copy of the volume is made.
//!
//! # Modules
//! - display layout from the affine: [`Plane`], [`SliceLayout`], [`slice_image`];
//! - streamed capture: [`SliceCapture`] keeps the slices it needs from slabs going past;
//! - grey levels: [`Gray`] (real values), [`PixelMap`] and [`Bits`], [`Pixels`];
//! - sheets: [`contact_sheet`], [`SheetOptions`], [`SEPARATOR_PX`];
//! - PNG: [`encode_png`], [`write_png`];
//! - label maps drawn over images: [`overlay`], [`labelled_sheet`], [`label_slice`], [`Rgb`]
//!   ([`encode_png_rgb`], [`write_png_rgb`]), colours from [`PALETTE`] (see "Label overlays");
//! - [`VolumeImages`]: the same for a [`ctprep_io::Volume`] of any stored type, with scaling.
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
//! [`ctprep_io::io_orientation`]). A volume stored in any axis order (LPS, RAS, PIR, ASL...) gives
//! the same image, byte for byte, and the same anatomical slice has the same N. Oblique affines
//! use their closest axes: the voxels are shown on their own grid, permuted and flipped, never
//! resampled, exactly what [`ctprep_io::Volume::to_closest_canonical`] would give. One pixel per voxel:
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
//! # Label overlays
//! A label map on the image's grid ([`check_same_grid`]) is drawn over the grey image: each
//! non-zero value in its colour from [`PALETTE`] (Okabe-Ito without black, then Paul Tol's
//! muted scheme: told apart by readers with the common colour-vision deficiencies; value `v`
//! takes entry `(v - 1) mod 16`), full colour on its outline (label pixels with a 4-neighbour
//! of another value, within the panel), blended into the grey inside at 35 % opacity
//! ([`OverlayStyle`]); value 0 is left grey. The result is an 8-bit RGB PNG.
//!
//! # Files
//! [`write_png`] writes a grey-level PNG (no time stamp or other varying chunk, so equal images
//! give equal bytes) through a temporary file in the target folder renamed when complete, as
//! [`ctprep_io::write_nifti`] does: a failed write leaves no partial file.
//!
//! ```
//! use ctprep_intensity::Window;
//! use ctprep_io::{Affine, Volume, VoxelData};
//! use ctprep_render::{PixelMap, Plane, SheetOptions, VolumeImages};
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
//! let png = ctprep_render::encode_png(&sheet)?;
//! assert_eq!(&png[1..4], b"PNG");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors
//! One type, [`RenderError`]: every message names the file (or `<in-memory volume>`), the
//! plane and the slice range where they apply.
//!
//! # Features
//! None. ctprep-io is used with its default features (the volumes come from `.nii.gz` files).
#![forbid(unsafe_code)]

mod capture;
mod encode;
mod error;
mod grey;
mod layout;
mod overlay;
mod sheet;
#[cfg(test)]
mod tests;
mod volume;

pub use capture::SliceCapture;
pub use encode::{encode_png, write_png};
pub use error::{RenderError, Result};
pub use grey::{Bits, Gray, ParseBitsError, PixelMap, Pixels};
pub use layout::{ParsePlaneError, Plane, SliceLayout, slice_image};
pub use overlay::{
    Labels, OverlayStyle, PALETTE, Rgb, SAME_GRID_MM, check_same_grid, corners_apart_mm, encode_png_rgb, label_colour,
    label_slice, labelled_sheet, overlay, write_png_rgb,
};
pub use sheet::{SEPARATOR_PX, SheetOptions, contact_sheet};
pub use volume::VolumeImages;

/// The examples of this crate's README.md, compiled as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
