//! Shared vocabulary of the ctprep crates: how a kernel call runs ([`Exec`]: a [`Kernel`] and
//! [`Threads`]), which instruction set it runs with ([`Isa`]), the stored voxel types
//! ([`Voxel`]) and the voxel-to-world [`Affine`] every stage keeps true.
//!
//! This crate is deliberately tiny so that a tool author who takes one kernel crate (just the
//! MIP, just the resampler) pulls in nothing else.
//!
//! ```
//! use ctprep_core::{Affine, Exec, Kernel, Threads, Variant};
//!
//! let exec: Exec = "simd".parse::<Variant>().unwrap().exec();
//! assert_eq!(exec, Exec::new().kernel(Kernel::Wide).threads(Threads::One));
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
mod exec;
mod isa;
pub mod profile;
mod voxel;

pub use affine::{Affine, SHEAR_TOLERANCE, polar_rotation, symmetric_eigen3};
pub use exec::{Exec, Kernel, PARALLEL_MIN_VOXELS, ParseExecError, Threads, Variant};
pub use isa::{Isa, cpu_offers};
pub use profile::{Pick, Planned, Profile, Source, Stage};
pub use voxel::Voxel;

/// Compiles the functions it wraps once per instruction-set level (x86-64-v4 with AVX-512,
/// x86-64-v3 with AVX2, x86-64-v2) plus the baseline, and picks one at run time
/// (`multiversion`): one list of targets for every kernel crate. The calling crate must depend
/// on `multiversion` and allow `unsafe_code` where it is used (the generated dispatch calls
/// `#[target_feature]` functions).
///
/// Rust never fuses a multiply and an add on its own, so every version computes the same
/// results bit for bit.
#[macro_export]
macro_rules! dispatched {
    ($($item:item)*) => {$(
        #[::multiversion::multiversion(targets(
            "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx512vbmi2+avx2+fma+bmi1+bmi2+lzcnt+popcnt+sse4.2",
            "x86_64+avx2+fma+bmi1+bmi2+lzcnt+popcnt+sse4.2",
            "x86_64+sse4.2"
        ))]
        $item
    )*};
}

/// The examples of this crate's README.md, compiled as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
