//! What every kernel test shares: one table of awkward shapes, one value generator, the
//! kernel × threads combinations, and one property-test macro ([`crate::oracle_proptests!`])
//! that checks a crate's kernels against its scalar oracle.

use ctprep_core::{Exec, Kernel, Threads};
use ndarray::{Array3, ArrayView3, Axis, Slice};
use proptest::prelude::*;

/// Shapes that trip kernels up: one voxel; rows of the 4- and 8-lane widths -1 / exact / +1 and
/// of 16 +1; odd sizes; single rows and single slices; a volume of several 8-slice blocks.
pub const AWKWARD_SHAPES: [[usize; 3]; 14] = [
    [1, 1, 1],
    [3, 1, 1],
    [4, 1, 1],
    [5, 1, 1],
    [7, 3, 5],
    [8, 2, 9],
    [9, 4, 6],
    [17, 1, 3],
    [1, 7, 9],
    [5, 1, 13],
    [7, 5, 3],
    [9, 2, 3],
    [17, 13, 11],
    [33, 17, 5],
];

/// Cases per property test: enough to meet every shape of the table a few times, few enough
/// that the kernel tests stay fast.
pub const PROPTEST_CASES: u32 = 64;

/// The shapes property tests draw from: the table, or any small shape.
pub fn arb_shape() -> impl Strategy<Value = [usize; 3]> {
    prop_oneof![
        proptest::sample::select(AWKWARD_SHAPES.to_vec()),
        (1usize..40, 1usize..12, 1usize..12).prop_map(|(x, y, z)| [x, y, z]),
    ]
}

/// Every kernel × threads combination a test runs against the oracle: the oracle itself once
/// (it always runs on one thread), every other kernel on one thread, on the pool when large
/// enough, and split for three threads whatever the size.
pub fn execs() -> Vec<Exec> {
    let mut out = vec![Exec::SCALAR];
    for kernel in [Kernel::Wide, Kernel::Dispatched, Kernel::Auto] {
        for threads in [Threads::One, Threads::Auto, Threads::count(3)] {
            out.push(Exec::new().kernel(kernel).threads(threads));
        }
    }
    out
}

/// A 64-bit mix (splitmix64's finaliser): deterministic, well spread values from an index.
pub fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 31)
}

/// Deterministic test values of a stored type: spread over the type's range for the 8/16-bit
/// types, mostly HU-like for the wider ones, with NaN, infinities and -0 among the floats.
pub trait Gen: Copy {
    /// Value number `i`.
    fn make(i: u64) -> Self;
}

macro_rules! gen_small {
    ($($t:ty),*) => {$(impl Gen for $t { fn make(i: u64) -> Self { mix(i) as $t } })*};
}
gen_small!(u8, i8, u16, i16);

impl Gen for i32 {
    fn make(i: u64) -> Self {
        if i.is_multiple_of(17) { mix(i) as i32 } else { (mix(i) % 5000) as i32 - 2000 }
    }
}

impl Gen for f32 {
    fn make(i: u64) -> Self {
        match mix(i ^ 0x5555) % 23 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            3 => -0.0,
            _ => (mix(i) % 400_000) as f32 / 100.0 - 2000.0,
        }
    }
}

impl Gen for f64 {
    fn make(i: u64) -> Self {
        f64::from(f32::make(i)) + if i.is_multiple_of(5) { 1e-9 } else { 0.0 }
    }
}

/// `n` values from `seed` on.
pub fn values<T: Gen>(n: usize, seed: u64) -> Vec<T> {
    (0..n as u64).map(|i| T::make(seed.wrapping_add(i))).collect()
}

/// `n` finite values (no NaN or infinity) from `seed` on, for kernels whose fast path only
/// holds for finite input.
pub fn finite_values(n: usize, seed: u64) -> Vec<f32> {
    (0..n as u64).map(|i| (mix(seed.wrapping_add(i)) % 400_000) as f32 / 100.0 - 2000.0).collect()
}

/// The volume as the kernels meet it: contiguous x-fastest, and two non-contiguous views
/// (every other x with z reversed, and a permutation of the axes).
pub fn views<T>(a: &Array3<T>) -> Vec<(&'static str, ArrayView3<'_, T>)> {
    // Sliced by hand: `s!` expands to code that `forbid(unsafe_code)` rejects.
    let mut strided = a.view();
    strided.slice_axis_inplace(Axis(0), Slice::new(0, None, 2));
    strided.invert_axis(Axis(2));
    vec![
        ("contiguous", a.view()),
        ("every other x, z reversed", strided),
        ("permuted", a.view().permuted_axes([2, 0, 1])),
    ]
}

/// Defines, in a module `$module`, one property test per [`execs`] combination that calls
/// `$check(shape: [usize; 3], seed: u64, exec: Exec)` on shapes from [`arb_shape`]; `$check`
/// panics when the kernel disagrees with the oracle (bit for bit, or within the crate's
/// documented tolerance), and proptest shrinks the shape and seed.
#[macro_export]
macro_rules! oracle_proptests {
    ($module:ident, $check:ident) => {
        mod $module {
            use $crate::kernels::ctprep_core::{Exec, Kernel, Threads};
            $crate::oracle_proptests!(@each $check;
                scalar_one = Exec::SCALAR,
                wide_one = Exec::new().kernel(Kernel::Wide).threads(Threads::One),
                wide_auto = Exec::new().kernel(Kernel::Wide).threads(Threads::Auto),
                wide_three = Exec::new().kernel(Kernel::Wide).threads(Threads::count(3)),
                dispatched_one = Exec::new().kernel(Kernel::Dispatched).threads(Threads::One),
                dispatched_auto = Exec::new().kernel(Kernel::Dispatched).threads(Threads::Auto),
                dispatched_three = Exec::new().kernel(Kernel::Dispatched).threads(Threads::count(3)),
                auto_one = Exec::new().kernel(Kernel::Auto).threads(Threads::One),
                auto_auto = Exec::new(),
                auto_three = Exec::new().kernel(Kernel::Auto).threads(Threads::count(3))
            );
        }
    };
    (@each $check:ident; $($name:ident = $exec:expr),*) => {
        $crate::kernels::proptest::proptest! {
            #![proptest_config($crate::kernels::proptest::prelude::ProptestConfig {
                cases: $crate::kernels::PROPTEST_CASES,
                // Integration tests have no lib.rs beside them to persist failures next to.
                failure_persistence: None,
                ..$crate::kernels::proptest::prelude::ProptestConfig::default()
            })]
            $(
                #[test]
                fn $name(shape in $crate::kernels::arb_shape(), seed in 0u64..1 << 48) {
                    super::$check(shape, seed, $exec);
                }
            )*
        }
    };
}

#[doc(hidden)]
pub use {ctprep_core, proptest};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execs_cover_every_kernel_and_the_floats_have_specials() {
        let e = execs();
        for k in Kernel::ALL {
            assert!(e.iter().any(|x| x.kernel == k));
        }
        let v: Vec<f32> = values(1000, 7);
        assert!(v.iter().any(|x| x.is_nan()) && v.iter().any(|x| x.is_infinite()));
        assert!(finite_values(1000, 7).iter().all(|x| x.is_finite()));
    }
}
