//! Named resampling schemes: whole recipes of another tool, reproduced exactly.
//!
//! [`Scheme::NnUnet`] is nnU-Net v2's `resample_data_or_seg_to_shape` as its default CT
//! preprocessing calls it (nnunetv2 2.8.1, `default_resampling.py`; batchgenerators 0.25.5):
//! - **Target shape** `int(round(old_spacing / new_spacing * old_shape))` per axis (Python's
//!   round: halves to even), on the `extent` grid (scipy's `zoom(grid_mode=True)`, which
//!   skimage's `resize` calls): output voxel `j` samples input index `(j + 0.5) n / m - 0.5`.
//! - **Separate z** (`determine_do_sep_z_and_axis`, anisotropy threshold 3): when the input's
//!   largest / smallest spacing exceeds 3, the axis of the largest spacing; else when the
//!   target's does, the target's; in either case only when that axis alone has the largest
//!   spacing. That axis is resampled by nearest neighbour (order 0).
//! - **Images**: cubic B-spline (order 3, mode edge, no anti-aliasing) along the other axes,
//!   clipped as skimage's `resize(clip=True)` clips them: to the input's range, or with a
//!   separate axis to the range of each input slice along it (nnU-Net resizes slice by slice).
//! - **Label maps**: one-hot, each label's mask linear (order 1, 0 along the separate axis),
//!   the highest score winning ([`crate::onehot`]).

use std::fmt;
use std::str::FromStr;

use crate::spline::{Mode, Sampling};

use crate::{Affine, Grid, Plan, ResampleError, Result, plan_like};

/// nnU-Net's anisotropy threshold (`nnunetv2.configuration.ANISO_THRESHOLD`).
pub const NNUNET_ANISOTROPY: f64 = 3.0;

/// A named resampling recipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// nnU-Net v2's resampling (see the module docs).
    NnUnet,
}

impl Scheme {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::NnUnet => "nnunet",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheme {
    type Err = ResampleError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "nnunet" | "nnu-net" => Ok(Scheme::NnUnet),
            _ => Err(ResampleError::BadParameter(format!("scheme {s:?}: expected nnunet"))),
        }
    }
}

/// What a scheme decided for one input: the grid, the separate axis, and the options of the
/// image and of its label maps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SchemePlan {
    /// Input onto output grid.
    pub plan: Plan,
    /// The axis resampled apart by nearest neighbour (nnU-Net's "separate z"), if any.
    pub separate: Option<usize>,
    /// Input voxels per output voxel along each input axis (scipy zoom's scale).
    pub zoom: [f64; 3],
    /// The image's options (orders, mode, clipping; scaling left to the caller).
    pub image: Sampling,
    /// The label maps' one-hot options (orders of the masks, mode).
    pub label: Sampling,
}

/// Axes whose spacing equals the largest, as nnU-Net's `get_lowres_axis` finds them
/// (`max / s == 1`).
fn lowres_axes(s: [f64; 3]) -> Vec<usize> {
    let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (0..3).filter(|&a| max / s[a] == 1.0).collect()
}

fn anisotropic(s: [f64; 3]) -> bool {
    let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = s.iter().copied().fold(f64::INFINITY, f64::min);
    max / min > NNUNET_ANISOTROPY
}

/// nnU-Net's separate axis for spacings `current` and `target` (its
/// `determine_do_sep_z_and_axis` without forcing).
pub fn nnunet_separate_axis(current: [f64; 3], target: [f64; 3]) -> Option<usize> {
    let axes = if anisotropic(current) {
        lowres_axes(current)
    } else if anisotropic(target) {
        lowres_axes(target)
    } else {
        return None;
    };
    (axes.len() == 1).then(|| axes[0])
}

/// nnU-Net's target shape: `int(round(old_spacing / new_spacing * old_shape))`, halves to even
/// (at least 1).
pub fn nnunet_shape(shape: [usize; 3], current: [f64; 3], target: [f64; 3]) -> [usize; 3] {
    std::array::from_fn(|a| ((current[a] / target[a] * shape[a] as f64).round_ties_even() as usize).max(1))
}

/// Plans `scheme` for an input of `shape` on `affine` to `target_mm` spacing along its voxel
/// axes. nnU-Net resamples the voxel array and never looks at the affine, so the output keeps the
/// input's axis directions: a sheared (gantry-tilted) input stays sheared, unlike the
/// conventions' grids, which are orthonormal unless asked to keep the shear.
pub fn plan_scheme(scheme: Scheme, shape: [usize; 3], affine: &Affine, target_mm: [f64; 3]) -> Result<SchemePlan> {
    match scheme {
        Scheme::NnUnet => {
            if !target_mm.iter().all(|t| t.is_finite() && *t > 0.0) {
                return Err(ResampleError::BadParameter(format!(
                    "target spacing {target_mm:?} mm: each must be positive and finite"
                )));
            }
            let current = affine.spacing();
            let m = nnunet_shape(shape, current, target_mm);
            // The extent grid: voxel j of m covers the input's extent as voxel (j+0.5) n/m - 0.5.
            let lin = affine.linear();
            let t = affine.translation();
            let step: [f64; 3] = std::array::from_fn(|a| shape[a] as f64 / m[a] as f64);
            let mut out = [[0.0; 3]; 3];
            let mut origin = t;
            for r in 0..3 {
                for c in 0..3 {
                    out[r][c] = lin[r][c] * step[c];
                    origin[r] += lin[r][c] * (0.5 * step[c] - 0.5);
                }
            }
            let grid = Grid { shape: m, affine: Affine::from_parts(out, origin) };
            let mut plan = plan_like(shape, affine, grid)?;
            // Positions as scipy's zoom computes them (its weights, bit for bit).
            plan.map.zoom = crate::grid::ZoomAxes::reoriented(step, &plan.map, m);
            let separate = nnunet_separate_axis(current, target_mm);
            let mut image = [3u8; 3];
            let mut label = [1u8; 3];
            if let Some(a) = separate {
                image[a] = 0;
                label[a] = 0;
            }
            Ok(SchemePlan {
                plan,
                separate,
                zoom: step,
                image: Sampling::new()
                    .orders(image)
                    .mode(Some(Mode::Edge))
                    .clip_input_range(true)
                    .clip_per_slice(separate),
                // No mode: edge inside the input, and with a fill value (a run's label: 0)
                // nothing outside the label's own voxels.
                label: Sampling::new().orders(label),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separate_axis_follows_nnunet() {
        assert_eq!(nnunet_separate_axis([0.8, 0.8, 3.0], [1.0, 1.0, 1.0]), Some(2));
        assert_eq!(
            nnunet_separate_axis([1.0, 1.0, 3.0], [1.0, 1.0, 1.0]),
            None,
            "a ratio of exactly 3 is not above it"
        );
        assert_eq!(nnunet_separate_axis([1.0, 1.0, 1.0], [0.5, 0.5, 2.0]), Some(2), "the target decides");
        assert_eq!(nnunet_separate_axis([0.24, 1.25, 1.25], [1.0; 3]), None, "two axes share the largest spacing");
        assert_eq!(nnunet_separate_axis([3.5, 0.8, 0.9], [1.0; 3]), Some(0));
        assert_eq!(nnunet_shape([21, 19, 7], [0.8, 0.8, 3.0], [1.0, 1.0, 1.5]), [17, 15, 14]);
        assert_eq!(nnunet_shape([9, 5, 3], [0.5, 1.0, 1.0], [1.0, 1.0, 1.0]), [4, 5, 3], "4.5 -> 4");
        assert_eq!("nnU-Net".parse::<Scheme>(), Ok(Scheme::NnUnet));
    }
}
