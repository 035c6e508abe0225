//! Property test: planning a grid under any convention, for any shape, spacing and target
//! spacing, never overflows or panics: it gives a grid within `MAX_OUTPUT_VOXELS` of at least
//! one voxel per axis, or an error.

use ctprep_resample::{Affine, GridConvention, MAX_OUTPUT_VOXELS, plan_spacing};
use proptest::prelude::*;

/// Positive numbers over many orders of magnitude, 1e-12 to 1e12.
fn magnitude() -> impl Strategy<Value = f64> {
    (-12i32..=12, 1.0f64..10.0).prop_map(|(e, m)| m * 10f64.powi(e))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn grids_never_overflow(
        shape in prop::array::uniform3(prop_oneof![1usize..64, 1usize..usize::MAX]),
        spacing in prop::array::uniform3(magnitude()),
        target in prop::array::uniform3(magnitude()),
        convention in 0usize..4,
    ) {
        let affine = Affine::from_spacing_origin(spacing, [0.0; 3]);
        let convention = GridConvention::ALL[convention];
        if let Ok(plan) = plan_spacing(shape, &affine, target, convention) {
            let s = plan.grid.shape;
            prop_assert!(s.iter().all(|&d| d >= 1), "{s:?}");
            let n = s.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            prop_assert!(n.is_some_and(|n| n <= MAX_OUTPUT_VOXELS), "{s:?}");
            prop_assert_eq!(plan.output_len(), n.unwrap_or(0));
        }
    }
}
