//! NIfTI-1/2 reading and writing that agrees with nibabel, for CT volumes.
//!
//! - **Read** `.nii` (memory-mapped), `.nii.gz` (any number of gzip members, zlib-rs) and
//!   `.hdr`/`.img` pairs; NIfTI-1 and NIfTI-2; both byte orders; u8 i8 u16 i16 u32 i32 u64 i64
//!   f32 f64. Data stays in its stored type; [`Volume::scaled_f32`] applies `scl_slope` /
//!   `scl_inter` by nibabel's rules. Extensions are kept as raw bytes. [`SliceReader`] reads
//!   the header, then the voxels a few slices at a time, for stages that never hold the input
//!   whole.
//! - **Affine** chosen exactly as nibabel's `get_best_affine` (sform, else qform with qfac 0
//!   read as 1, else the pixdim fallback); axis codes as `aff2axcodes`; reorientation as
//!   `as_reoriented` / `as_closest_canonical`, every voxel keeping its world position.
//! - **Write** `.nii` / `.nii.gz` with sform and qform both set, through a temporary file;
//!   [`NiftiStream`] writes one whose voxels arrive slab by slab, compressed on any thread.
//! - **Images** (feature `png`, on by default): PNG slices and contact sheets in radiological
//!   display orientation derived from the affine, gathered from the stored voxels without a copy
//!   of the volume (the [`image`] module).
//! - **Errors** name the file, the field and the value; sizes are checked against the file and
//!   the [`Limits`] before any allocation; nothing panics on bad input.
//!
//! ```
//! use ctprep_core::Affine;
//! use ctprep_io::{AxCodes, Volume, VoxelData, WriteOptions, read_nifti, write_nifti};
//!
//! // A 4x3x2 int16 volume stored LPS, 0.8 x 0.8 x 2.5 mm.
//! let values: Vec<i16> = (0..24).collect();
//! let affine = Affine::from_spacing_origin([-0.8, -0.8, 2.5], [10.0, 20.0, -5.0]);
//! let ct = Volume::new(VoxelData::from_vec(values), &[4, 3, 2], affine)?;
//! assert_eq!(ct.axcodes_string(), "LPS");
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("ct.v2.nii.gz");
//! write_nifti(&ct.to_axcodes(AxCodes::RAS)?, &path, &WriteOptions::new())?;
//! let back = read_nifti(&path)?;
//! assert_eq!(back.axcodes_string(), "RAS");
//! assert_eq!(back.shape(), &[4, 3, 2]);
//! # Ok::<(), ctprep_io::Error>(())
//! ```
#![deny(unsafe_code)] // One audited exception: the read-only memory map in `read.rs`.

mod buffer;
mod data;
mod datatype;
mod deflate;
mod error;
mod header;
#[cfg(feature = "png")]
pub mod image;
mod orientation;
mod read;
mod volume;
mod write;
mod xform;

pub use data::{Storage, VoxelData};
pub use datatype::{CodeLookup, DataType, Element, ParseDataTypeError};
pub use error::{Error, ErrorKind, Result};
pub use header::{ByteOrder, NIFTI1_HEADER_SIZE, NIFTI2_HEADER_SIZE, NiftiFormat, NiftiHeader};
#[cfg(feature = "png")]
pub use image::{
    Bits, Gray, ParseBitsError, ParsePlaneError, PixelMap, Pixels, Plane, SEPARATOR_PX, SheetOptions, SliceCapture,
    SliceLayout, contact_sheet, encode_png, slice_image, write_png,
};
pub use orientation::{AxCodes, AxisDir, ParseAxCodesError, Reorientation, axcodes_string, io_orientation};
pub use read::{Limits, ReadOptions, SliceReader, read_nifti, read_nifti_with};
pub use volume::{Conversion, Extension, Scaling, Stats, Volume};
pub use write::{
    Completed, DEFAULT_GZIP_LEVEL, NiftiStream, Packer, Piece, WriteOptions, header_for, nifti_output_kind, write_nifti,
};
pub use xform::{
    AffineSource, QformFields, best_affine, effective_xform_code, qform_from_affine, quaternion_to_rotation,
    rotation_to_quaternion,
};
