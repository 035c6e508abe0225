//! NIfTI-1/2 reading and writing that agrees with nibabel, and NRRD that agrees with ITK, for CT
//! volumes.
//!
//! - **Read** `.nii` (memory-mapped), `.nii.gz` (any number of gzip members: libdeflate for a
//!   single member read whole, `ctprep_gzip::GzipReader` streaming otherwise, which decodes the
//!   pieces of ctprep's own indexed files with libdeflate, on [`ReadOptions::gzip_threads`]) and
//!   `.hdr`/`.img` pairs; NIfTI-1 and NIfTI-2; both byte orders; u8 i8 u16 i16 u32 i32 u64 i64
//!   f32 f64. Data stays in its stored type; [`Volume::scaled_f32`] applies `scl_slope` /
//!   `scl_inter` by nibabel's rules. Extensions are kept as raw bytes. [`SliceReader`] reads
//!   the header, then the voxels a few slices at a time, for stages that never hold the input
//!   whole.
//! - **Affine** chosen exactly as nibabel's `get_best_affine` (sform, else qform with qfac 0
//!   read as 1, else the pixdim fallback); axis codes as `aff2axcodes`; reorientation as
//!   `as_reoriented` / `as_closest_canonical`, every voxel keeping its world position.
//! - **Write** `.nii` / `.nii.gz` with sform and qform both set, through a temporary file;
//!   [`NiftiStream`] writes one whose voxels (of any stored type) arrive slab by slab,
//!   compressed on any thread. The gzip writer is the `ctprep-gzip` crate's.
//! - **Errors** name the file, the field and the value; sizes are checked against the file and
//!   the [`Limits`] before any allocation; nothing panics on bad input.
//!
//! - **NRRD** (3D Slicer, dcmqi): [`read_volume`] tells NIfTI and NRRD apart by content and
//!   [`write_volume`] picks the format by the output's name. Attached `.nrrd` and detached
//!   `.nhdr`, raw and gzip, both byte orders; the geometry in RAS as ITK reads it; a multi-layer
//!   `.seg.nrrd`'s layers as the last axis; fields and key/value pairs kept ([`NrrdHeader`]).
//!   Written in LPS as 3D Slicer writes it, reading back to exactly the same affine.
//!
//! PNG slices and contact sheets of volumes are the `ctprep-render` crate's.
//!
//! # Features
//! - `gzip` (default): `.nii.gz` reading (`ctprep-gzip`'s streaming reader, libdeflate) and writing (`ctprep-gzip`,
//!   rayon). Without it a `.nii.gz` (or gzipped `.hdr`/`.img`) is an error naming the file:
//!   "built without gzip support".
//! - `mmap` (default): `.nii` voxels memory-mapped instead of read, and large voxel buffers in
//!   anonymous mappings advised to use huge pages (memmap2, libc). Without it every read goes
//!   into a plain vector and the crate has no unsafe code.
//!
//! With neither, the dependencies are ctprep-core, ndarray, bytemuck, thiserror and tempfile.
//! [`Affine`] and [`ndarray`] are re-exported, so a reader needs only this crate.
//!
//! ```
//! use ctprep_io::{Affine, AxCodes, Volume, VoxelData, WriteOptions, read_nifti, write_nifti};
//!
//! // A 4x3x2 int16 volume stored LPS, 0.8 x 0.8 x 2.5 mm.
//! let values: Vec<i16> = (0..24).collect();
//! let affine = Affine::from_spacing_origin([-0.8, -0.8, 2.5], [10.0, 20.0, -5.0]);
//! let ct = Volume::new(VoxelData::from_vec(values), &[4, 3, 2], affine)?;
//! assert_eq!(ct.axcodes_string(), "LPS");
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join(if cfg!(feature = "gzip") { "ct.v2.nii.gz" } else { "ct.v2.nii" });
//! write_nifti(&ct.to_axcodes(AxCodes::RAS)?, &path, &WriteOptions::new())?;
//! let back = read_nifti(&path)?;
//! assert_eq!(back.axcodes_string(), "RAS");
//! assert_eq!(back.shape(), &[4, 3, 2]);
//! # Ok::<(), ctprep_io::Error>(())
//! ```
// Two audited exceptions, both with the `mmap` feature: the read-only memory map in `read.rs` and
// the prefault `madvise` in `buffer.rs`.
#![cfg_attr(feature = "mmap", deny(unsafe_code))]
#![cfg_attr(not(feature = "mmap"), forbid(unsafe_code))]

#[cfg(feature = "mmap")]
mod buffer;
mod data;
mod datatype;
mod error;
mod header;
mod nrrd;
mod orientation;
mod read;
mod volume;
mod write;
mod xform;

pub use ctprep_core::Affine;
pub use data::{Storage, VoxelData};
pub use datatype::{CodeLookup, DataType, Element, ParseDataTypeError};
pub use error::{Error, ErrorKind, Result};
pub use header::{ByteOrder, NIFTI1_HEADER_SIZE, NIFTI2_HEADER_SIZE, NiftiFormat, NiftiHeader};
pub use ndarray;
pub use nrrd::{NrrdEncoding, NrrdHeader, NrrdSpace, nrrd_data_file};
pub use orientation::{AxCodes, AxisDir, ParseAxCodesError, Reorientation, axcodes_string, io_orientation};
pub use read::{
    Decoding, Limits, ReadOptions, SliceReader, SliceSource, read_nifti, read_nifti_with, read_nrrd_with, read_volume,
    read_volume_with,
};
pub use volume::{Conversion, Extension, Scaling, Stats, Volume};
pub use write::{
    Completed, DEFAULT_GZIP_LEVEL, NameLock, NiftiStream, OutputFormat, Packer, Piece, WriteOptions,
    detached_data_path, header_for, nifti_output_kind, persist_all, place_folder, placing_lock, remove_own_temporaries,
    remove_stale_temporaries, remove_stale_temporaries_of, remove_temporaries_of, temp_folder_for, write_atomically,
    write_atomically_named, write_nifti, write_nrrd, write_volume,
};
pub use xform::{
    AffineSource, QformFields, best_affine, effective_xform_code, qform_affine, qform_from_affine,
    quaternion_to_rotation, rotation_to_quaternion, sform_affine, sform_qform_distance,
};

/// The examples of this crate's README.md, compiled as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
