//! Shared vocabulary of the ctprep crates: which kernel variant runs ([`Variant`]) and the
//! voxel-to-world [`Affine`] every stage keeps true.
//!
//! This crate is deliberately tiny so that a tool author who takes one kernel crate (just the
//! MIP, just the resampler) pulls in nothing else.
//!
//! ```
//! use ctprep_core::{Affine, Variant};
//!
//! let v: Variant = "simd".parse().unwrap();
//! assert_eq!(v, Variant::Simd);
//!
//! // 0.78 x 0.78 x 2.5 mm voxels, origin at (-200, -200, 0).
//! let a = Affine::from_rows([
//!     [0.78, 0.0, 0.0, -200.0],
//!     [0.0, 0.78, 0.0, -200.0],
//!     [0.0, 0.0, 2.5, 0.0],
//!     [0.0, 0.0, 0.0, 1.0],
//! ]);
//! assert_eq!(a.apply([1.0, 2.0, 3.0]), [-199.22, -198.44, 7.5]);
//! assert_eq!(a.spacing(), [0.78, 0.78, 2.5]);
//! ```
#![forbid(unsafe_code)]

mod affine;
mod variant;

pub use affine::{Affine, polar_rotation, symmetric_eigen3};
pub use variant::{ParseVariantError, Variant};
