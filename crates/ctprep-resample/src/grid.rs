//! Output grids: where the new voxels go for a spacing change under each named convention, or
//! the grid of a reference image, and the voxel-to-voxel map the kernels follow.

use std::fmt;
use std::str::FromStr;

use ctprep_core::Affine;

use crate::{ResampleError, Result};

/// The largest output a plan accepts, in voxels (2^31, the io crate's default limit).
pub const MAX_OUTPUT_VOXELS: usize = 1 << 31;

/// Where the output samples of a spacing change sit. For an axis of `n` input voxels of
/// spacing `s` and a target spacing `t` (`r = s / t`), output index `j` samples the input at
/// continuous index `x(j)`:
///
/// | convention | output size `m` | `x(j)` | matches |
/// |---|---|---|---|
/// | `seed` | `ceil((n-1) s / t)`: the points `j t < (n-1) s` | `j t / s` | the classic scipy `RegularGridInterpolator` recipe (`np.arange(0, x[-1], t)`) |
/// | `first-centre` | `round((n-1) s / t + 1)`, halves to even | `j t / s` | MONAI `Spacing` (`np.round(extent + 1)`); SimpleITK recipes that keep the origin |
/// | `centred` | `floor(n s / t)` | `(n-1)/2 - (m-1) t / (2 s) + j t / s` | TorchIO since its 2025 change: flip-equivariant |
/// | `extent` | `round(n s / t)`, halves to even | `(j + 0.5) n / m - 0.5` | `scipy.ndimage.zoom(grid_mode=True)`; the spacing becomes `s n / m` |
///
/// Every size is at least 1 (a single-voxel axis stays one voxel under `seed` too, where the
/// classic recipe would give an empty array).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum GridConvention {
    /// The classic recipe's grid: from the first voxel centre, points strictly before the last.
    Seed,
    /// From the first voxel centre to the closest point to the last (the default).
    #[default]
    FirstCentre,
    /// Centred on the input's centre (flip-equivariant).
    Centred,
    /// The voxel boxes' extent kept (the spacing adjusts).
    Extent,
}

impl GridConvention {
    /// All conventions, in the table's order.
    pub const ALL: [GridConvention; 4] =
        [GridConvention::Seed, GridConvention::FirstCentre, GridConvention::Centred, GridConvention::Extent];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            GridConvention::Seed => "seed",
            GridConvention::FirstCentre => "first-centre",
            GridConvention::Centred => "centred",
            GridConvention::Extent => "extent",
        }
    }

    /// The output size along one axis whose voxel centres span `centres` mm ((n-1) s on an
    /// axis of n voxels of s mm) and whose voxel boxes span `boxes` mm (n s), for a target
    /// spacing of `t` mm. `nudge` is added before `floor` and taken off before `ceil`: 0 on the
    /// table's exact spans; a sheared grid's projected spans carry a few ulps of rounding that
    /// must not tip a whole number of voxels one way or the other.
    fn size(self, centres: f64, boxes: f64, t: f64, nudge: f64) -> usize {
        let at_least_one = |m: f64| if m >= 1.0 { m as usize } else { 1 };
        match self {
            // Written as numpy evaluates the classic recipe: x[-1] = (n-1) * s, then
            // len(np.arange(0, x[-1], t)) = ceil(x[-1] / t).
            GridConvention::Seed => at_least_one((centres / t - nudge).ceil()),
            GridConvention::FirstCentre => at_least_one((centres / t + 1.0).round_ties_even()),
            GridConvention::Centred => at_least_one((boxes / t + nudge).floor()),
            GridConvention::Extent => at_least_one((boxes / t).round_ties_even()),
        }
    }

    /// Output size, step (input voxels per output voxel) and `x(0)` for one axis.
    fn axis(self, n: usize, s: f64, t: f64) -> (usize, f64, f64) {
        let nf = n as f64;
        let m = self.size((nf - 1.0) * s, nf * s, t, 0.0);
        match self {
            GridConvention::Seed | GridConvention::FirstCentre => (m, t / s, 0.0),
            GridConvention::Centred => {
                let step = t / s;
                (m, step, (nf - 1.0) / 2.0 - (m as f64 - 1.0) * step / 2.0)
            }
            GridConvention::Extent => {
                let step = nf / m as f64;
                (m, step, 0.5 * step - 0.5)
            }
        }
    }
}

impl fmt::Display for GridConvention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GridConvention {
    type Err = ResampleError;
    fn from_str(s: &str) -> Result<Self> {
        let canon = s.to_ascii_lowercase().replace('_', "-");
        let canon = match canon.as_str() {
            "first-center" => "first-centre",
            "centered" => "centred",
            other => other,
        };
        GridConvention::ALL.into_iter().find(|c| c.name() == canon).ok_or_else(|| {
            ResampleError::BadParameter(format!(
                "grid convention {s:?}: expected one of seed, first-centre, centred, extent"
            ))
        })
    }
}

/// A voxel grid: a shape and the affine placing it in the world (RAS+ mm).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    /// Voxels along i, j, k.
    pub shape: [usize; 3],
    /// Voxel index to world millimetres.
    pub affine: Affine,
}

/// The map from an output voxel index `j` to the input's continuous index
/// `x = linear · j + offset`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VoxelMap {
    /// Rows: input axes; columns: output axes.
    pub linear: [[f64; 3]; 3],
    /// The input index of output voxel (0, 0, 0).
    pub offset: [f64; 3],
    /// scipy `zoom(grid_mode=True)`'s positions instead (see [`ZoomAxes`]), rounded as scipy
    /// rounds them, so interpolation weights agree with scipy's bit for bit (named schemes set
    /// it on their extent grids; `linear` and `offset` then hold the same map up to rounding).
    pub zoom: Option<ZoomAxes>,
}

/// Positions `x_a = (j' + 0.5) * zoom_a - 0.5` of an extent grid, where `j'` is the index along
/// the output axis `from[a]` that input axis `a` runs along, counted from the other end when
/// `flip[a]` (an output reoriented from the input's own axes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZoomAxes {
    /// Input voxels per output voxel, per input axis.
    pub zoom: [f64; 3],
    /// The output axis each input axis runs along.
    pub from: [usize; 3],
    /// Whether it runs the other way.
    pub flip: [bool; 3],
    /// Output voxels along each input axis.
    pub len: [usize; 3],
}

impl ZoomAxes {
    /// The extent grid's positions on the input's own axes.
    pub fn identity(zoom: [f64; 3], len: [usize; 3]) -> ZoomAxes {
        ZoomAxes { zoom, from: [0, 1, 2], flip: [false; 3], len }
    }

    /// The same positions for a map whose linear part is a signed permutation of `zoom` (the
    /// grid reoriented): `None` when it is not one.
    pub fn reoriented(zoom: [f64; 3], map: &VoxelMap, shape: [usize; 3]) -> Option<ZoomAxes> {
        let mut z = ZoomAxes::identity(zoom, [0; 3]);
        for (a, (row, za)) in map.linear.iter().zip(zoom).enumerate() {
            let k = (0..3).find(|&k| row[k] != 0.0)?;
            if (0..3).any(|c| c != k && row[c] != 0.0) || ((row[k].abs() - za).abs() > 1e-9 * za) {
                return None;
            }
            z.from[a] = k;
            z.flip[a] = row[k] < 0.0;
            z.len[a] = shape[k];
        }
        Some(z)
    }
}

impl VoxelMap {
    /// The map `input⁻¹ · output` between two grids' affines. Entries smaller than 1e-10 of
    /// their column's length are set to exactly 0 (rounding noise of the inverse; at most
    /// 1e-7 voxels over 1000 voxels), so grids that differ only in spacing and origin give an
    /// axis-aligned map.
    pub fn between(input: &Affine, output: &Affine) -> Result<VoxelMap> {
        for (what, a) in [("input", input), ("output", output)] {
            if !a.is_affine() {
                return Err(ResampleError::BadGeometry(format!("the {what} affine {a:?} is not a finite affine")));
            }
        }
        let inv = input
            .inverse()
            .ok_or_else(|| ResampleError::BadGeometry(format!("the input affine {input:?} is singular")))?;
        let m = inv.matmul(output);
        let mut linear = [[0.0; 3]; 3];
        for c in 0..3 {
            let norm = (0..3).map(|r| m.0[r][c] * m.0[r][c]).sum::<f64>().sqrt();
            if norm == 0.0 {
                return Err(ResampleError::BadGeometry(format!("the output affine {output:?} is singular")));
            }
            for (r, row) in linear.iter_mut().enumerate() {
                let v = m.0[r][c];
                row[c] = if v.abs() <= 1e-10 * norm { 0.0 } else { v };
            }
        }
        Ok(VoxelMap { linear, offset: [m.0[0][3], m.0[1][3], m.0[2][3]], zoom: None })
    }

    /// The input continuous index of output voxel `j`: for an affine map, the row's start
    /// ([`VoxelMap::row_start`]) plus `jx` steps, no running sum. Every kernel computes positions
    /// this way, in this order, so their taps agree bit for bit (for a diagonal map this is
    /// `scale * j + offset` per axis exactly).
    #[inline(always)]
    pub fn apply(&self, j: [usize; 3]) -> [f64; 3] {
        if let Some(z) = &self.zoom {
            return std::array::from_fn(|i| {
                let k = j[z.from[i]];
                let k = if z.flip[i] { z.len[i].saturating_sub(1 + k) } else { k };
                (k as f64 + 0.5) * z.zoom[i] - 0.5
            });
        }
        let start = self.row_start(j[1], j[2]);
        std::array::from_fn(|r| start[r] + self.linear[r][0] * j[0] as f64)
    }

    /// The input continuous index of output voxel `(0, jy, jz)` for an affine map: each
    /// voxel of that row is at `start + step * jx` ([`VoxelMap::apply`]), the step being the
    /// first column of the linear part. Kernels that step along rows start from this.
    #[inline(always)]
    pub fn row_start(&self, jy: usize, jz: usize) -> [f64; 3] {
        let (b, c) = (jy as f64, jz as f64);
        let l = &self.linear;
        std::array::from_fn(|r| l[r][1] * b + l[r][2] * c + self.offset[r])
    }

    /// Whether input axis `a` depends on output axis `a` only (a scale, possibly negative,
    /// and a shift per axis: the separable fast path). Permutations take the general path.
    pub fn is_diagonal(&self) -> bool {
        (0..3).all(|r| (0..3).all(|c| r == c || self.linear[r][c] == 0.0) && self.linear[r][r] != 0.0)
    }
}

/// An input grid mapped onto an output grid: what a resampling kernel needs besides the data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// The input's shape.
    pub input_shape: [usize; 3],
    /// The output grid.
    pub grid: Grid,
    /// Output voxel index to input continuous index.
    pub map: VoxelMap,
}

impl Plan {
    /// The number of output voxels.
    pub fn output_len(&self) -> usize {
        self.grid.shape.iter().product()
    }

    /// The output spacing in mm (the column lengths of the output affine).
    pub fn output_spacing(&self) -> [f64; 3] {
        self.grid.affine.spacing()
    }
}

fn check_shape(what: &str, shape: [usize; 3]) -> Result<()> {
    if shape.contains(&0) {
        return Err(ResampleError::BadGeometry(format!("the {what} shape {shape:?} has an empty axis")));
    }
    let voxels = shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
    match voxels {
        Some(v) if v <= MAX_OUTPUT_VOXELS => Ok(()),
        _ => Err(ResampleError::TooLarge {
            shape,
            voxels: shape.iter().fold(1u128, |a, &n| a.saturating_mul(n as u128)),
            limit: MAX_OUTPUT_VOXELS,
        }),
    }
}

/// What a spacing change does with an input grid whose axes are not perpendicular (a gantry
/// tilt stored as shear).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Shear {
    /// The output grid is orthonormal: the closest rotation to the input's axes (polar
    /// decomposition), so every reader (nibabel's sform, ITK's qform) sees the same geometry.
    #[default]
    Remove,
    /// The output keeps the input's sheared lattice (only ctprep and nibabel read it alike).
    Keep,
}

/// Plans a spacing change: the input grid (`shape`, `affine`) resampled to `spacing_mm`
/// (per voxel axis) under `convention`, with a sheared input's grid made orthonormal
/// ([`Shear::Remove`]; see [`plan_spacing_with`]).
pub fn plan_spacing(
    shape: [usize; 3],
    affine: &Affine,
    spacing_mm: [f64; 3],
    convention: GridConvention,
) -> Result<Plan> {
    plan_spacing_with(shape, affine, spacing_mm, convention, Shear::Remove)
}

/// Plans a spacing change. When the input's axes are perpendicular (any orientation, oblique
/// included; see [`Affine::is_sheared`]) or `shear` is [`Shear::Keep`], the output affine keeps
/// the input's direction cosines, scales its columns to the new spacing and moves its origin
/// to the world position of `x(0)`: the convention's table, axis by axis, on the separable path.
///
/// A sheared input under [`Shear::Remove`] gets an orthonormal grid: its axes are
/// [`Affine::closest_orthogonal_axes`] (each axis keeping its sense), and on
/// each output axis the input's voxel centres (`seed`, `first-centre`) or voxel boxes
/// (`centred`, `extent`), projected onto that axis, take the place of the `(n - 1) s` or
/// `n s` millimetres of the table: `seed` and `first-centre` start at the lowest projected
/// centre, `centred` is centred on the projected centres' midpoint, `extent` divides the
/// projected boxes' span into whole voxels. As on an unsheared grid, `first-centre` and
/// `extent` cover the input's whole world box, `seed` and `centred` may stop up to one output
/// voxel short. The output is resampled on the general path.
pub fn plan_spacing_with(
    shape: [usize; 3],
    affine: &Affine,
    spacing_mm: [f64; 3],
    convention: GridConvention,
    shear: Shear,
) -> Result<Plan> {
    check_shape("input", shape)?;
    if let Some(t) = spacing_mm.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
        return Err(ResampleError::BadParameter(format!("target spacing {t} mm: must be positive and finite")));
    }
    if !affine.is_affine() || affine.inverse().is_none() {
        return Err(ResampleError::BadGeometry(format!(
            "the input affine {affine:?} is not an invertible finite affine"
        )));
    }
    if shear == Shear::Remove && affine.is_sheared() {
        return plan_orthonormal(shape, affine, spacing_mm, convention);
    }
    let s = affine.spacing();
    let mut out_shape = [0; 3];
    let mut m = Affine::IDENTITY;
    let mut linear = [[0.0; 3]; 3];
    let mut offset = [0.0; 3];
    for a in 0..3 {
        let (n, step, x0) = convention.axis(shape[a], s[a], spacing_mm[a]);
        out_shape[a] = n;
        m.0[a][a] = step;
        m.0[a][3] = x0;
        linear[a][a] = step;
        offset[a] = x0;
    }
    check_shape("output", out_shape)?;
    Ok(Plan {
        input_shape: shape,
        grid: Grid { shape: out_shape, affine: affine.matmul(&m) },
        map: VoxelMap { linear, offset, zoom: None },
    })
}

/// [`plan_spacing_with`] for a sheared input under [`Shear::Remove`].
fn plan_orthonormal(
    shape: [usize; 3],
    affine: &Affine,
    spacing_mm: [f64; 3],
    convention: GridConvention,
) -> Result<Plan> {
    // The output axes: the closest orthogonal matrix to the input's unit axes.
    let q = affine
        .closest_orthogonal_axes()
        .ok_or_else(|| ResampleError::BadGeometry(format!("the input affine {affine:?} has a zero-length axis")))?;
    // The input's voxel-centre corners and voxel-box corners, projected onto each output axis.
    let project = |lo: [f64; 3], hi: [f64; 3]| {
        let mut range = [[f64::INFINITY, f64::NEG_INFINITY]; 3];
        for corner in 0..8 {
            let idx = [0, 1, 2].map(|a| if (corner >> a) & 1 == 0 { lo[a] } else { hi[a] });
            let w = affine.apply(idx);
            for (a, r) in range.iter_mut().enumerate() {
                let u: f64 = (0..3).map(|k| q[k][a] * w[k]).sum();
                r[0] = r[0].min(u);
                r[1] = r[1].max(u);
            }
        }
        range
    };
    let n = shape.map(|v| v as f64);
    let centres = project([0.0; 3], [n[0] - 1.0, n[1] - 1.0, n[2] - 1.0]);
    let boxes = project([-0.5; 3], [n[0] - 0.5, n[1] - 0.5, n[2] - 0.5]);
    let mut out_shape = [0; 3];
    let mut step = [0.0; 3];
    let mut start = [0.0; 3];
    for a in 0..3 {
        let t = spacing_mm[a];
        let [clo, chi] = centres[a];
        let [blo, bhi] = boxes[a];
        let m = convention.size(chi - clo, bhi - blo, t, 1e-9);
        // The spacing, and the first output voxel in mm along the axis.
        let (st, u0) = match convention {
            GridConvention::Seed | GridConvention::FirstCentre => (t, clo),
            GridConvention::Centred => (t, (clo + chi) / 2.0 - (m as f64 - 1.0) * t / 2.0),
            GridConvention::Extent => {
                let st = (bhi - blo) / m as f64;
                (st, blo + st / 2.0)
            }
        };
        out_shape[a] = m;
        step[a] = st;
        start[a] = u0;
    }
    check_shape("output", out_shape)?;
    let mut lin = [[0.0; 3]; 3];
    let mut origin = [0.0; 3];
    for r in 0..3 {
        for c in 0..3 {
            lin[r][c] = q[r][c] * step[c];
        }
        origin[r] = (0..3).map(|c| q[r][c] * start[c]).sum();
    }
    plan_like(shape, affine, Grid { shape: out_shape, affine: Affine::from_parts(lin, origin) })
}

/// Plans resampling the input grid (`shape`, `affine`) onto another grid, for example a
/// reference image's.
pub fn plan_like(shape: [usize; 3], affine: &Affine, grid: Grid) -> Result<Plan> {
    check_shape("input", shape)?;
    check_shape("output", grid.shape)?;
    Ok(Plan { input_shape: shape, grid, map: VoxelMap::between(affine, &grid.affine)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(s: [f64; 3]) -> Affine {
        Affine::from_spacing_origin(s, [-10.0, 5.0, 30.0])
    }

    #[test]
    fn the_ct_grid_under_each_convention() {
        let a = diag([0.78, 0.78, 2.5]);
        let shape = |c| plan_spacing([512, 512, 300], &a, [1.0; 3], c).expect("plans").grid.shape;
        // seed: ceil(511 * 0.78) = ceil(398.58), ceil(299 * 2.5) = ceil(747.5).
        assert_eq!(shape(GridConvention::Seed), [399, 399, 748]);
        // first-centre: round(399.58) = 400; round(748.5) = 748 (half to even, as MONAI's np.round).
        assert_eq!(shape(GridConvention::FirstCentre), [400, 400, 748]);
        // centred: floor(399.36), floor(750).
        assert_eq!(shape(GridConvention::Centred), [399, 399, 750]);
        // extent: round(399.36), round(750).
        assert_eq!(shape(GridConvention::Extent), [399, 399, 750]);
    }

    #[test]
    fn output_affines_keep_direction_and_move_the_origin() {
        let a = Affine::from_rows([
            [-0.78, 0.0, 0.0, 100.0],
            [0.0, -0.78, 0.0, 120.0],
            [0.0, 0.0, 2.5, -50.0],
            [0.0, 0.0, 0.0, 1.0],
        ]);
        let p = plan_spacing([10, 10, 5], &a, [1.0, 1.0, 1.0], GridConvention::FirstCentre).expect("plans");
        assert_eq!(p.grid.affine.translation(), a.translation());
        let col = p.grid.affine.linear();
        assert!((col[0][0] + 1.0).abs() < 1e-12 && (col[1][1] + 1.0).abs() < 1e-12 && (col[2][2] - 1.0).abs() < 1e-12);
        // centred: the centre of the input stays the centre of the output.
        let p = plan_spacing([10, 10, 5], &a, [1.3, 0.7, 1.9], GridConvention::Centred).expect("plans");
        let centre_in = a.apply([4.5, 4.5, 2.0]);
        let m = p.grid.shape.map(|m| (m as f64 - 1.0) / 2.0);
        let centre_out = p.grid.affine.apply(m);
        for k in 0..3 {
            assert!((centre_in[k] - centre_out[k]).abs() < 1e-9, "{centre_in:?} vs {centre_out:?}");
        }
        // The map equals what the affines say.
        let between = VoxelMap::between(&a, &p.grid.affine).expect("invertible");
        assert!(between.is_diagonal());
        for r in 0..3 {
            assert!((between.offset[r] - p.map.offset[r]).abs() < 1e-9);
            assert!((between.linear[r][r] - p.map.linear[r][r]).abs() < 1e-12);
        }
    }

    #[test]
    fn extent_keeps_the_box_and_single_voxels_stay() {
        let a = diag([2.0, 1.0, 3.0]);
        let p = plan_spacing([5, 1, 4], &a, [3.0, 1.0, 1.0], GridConvention::Extent).expect("plans");
        assert_eq!(p.grid.shape, [3, 1, 12]);
        // The first output box starts where the first input box starts: x(0) - step/2 = -0.5.
        assert!((p.map.offset[0] - p.map.linear[0][0] / 2.0 + 0.5).abs() < 1e-12);
        for c in GridConvention::ALL {
            assert_eq!(plan_spacing([1, 1, 1], &a, [0.1, 7.0, 1.0], c).expect("plans").grid.shape[1], 1, "{c}");
        }
    }

    /// A CT with a 17-degree gantry tilt stored as shear (the z axis leans toward y), in LPS.
    fn tilted() -> Affine {
        let t = 17f64.to_radians();
        Affine::from_rows([
            [-0.7, 0.0, 0.0, 90.0],
            [0.0, -0.7, 2.5 * t.sin(), 110.0],
            [0.0, 0.0, 2.5 * t.cos(), -40.0],
            [0.0, 0.0, 0.0, 1.0],
        ])
    }

    #[test]
    fn sheared_inputs_get_orthonormal_grids_that_cover_them() {
        let a = tilted();
        let shape = [40, 30, 12];
        for c in GridConvention::ALL {
            let p = plan_spacing(shape, &a, [1.0, 1.2, 0.9], c).expect("plans");
            let g = p.grid.affine;
            assert!(g.shear_degrees() < 1e-9, "{c}: {}", g.shear_degrees());
            assert!(!p.map.is_diagonal(), "{c}: the general path");
            let sp = g.spacing();
            if c != GridConvention::Extent {
                for (got, want) in sp.iter().zip([1.0, 1.2, 0.9]) {
                    assert!((got - want).abs() < 1e-12, "{c}: {sp:?}");
                }
            }
            // Same axis codes as the input: each output axis points the input axis's way.
            let (lg, la) = (g.linear(), a.linear());
            for ax in 0..3 {
                assert!((0..3).map(|r| lg[r][ax] * la[r][ax]).sum::<f64>() > 0.0, "{c}: axis {ax}");
            }
            // Every input voxel centre lies within the output's voxel boxes; seed's points stop
            // before the last centre (up to one step short), centred keeps whole voxels of the
            // box only (up to half a step short at each end).
            let inv = g.inverse().expect("invertible");
            let (lo_slack, hi_slack) = match c {
                GridConvention::Seed => (0.5, 1.0),
                GridConvention::Centred => (1.0, 1.0),
                _ => (0.5, 0.5),
            };
            for corner in 0..8 {
                let idx = [0, 1, 2].map(|ax| if (corner >> ax) & 1 == 0 { 0.0 } else { shape[ax] as f64 - 1.0 });
                let j = inv.apply(a.apply(idx));
                for ax in 0..3 {
                    let m = p.grid.shape[ax] as f64;
                    assert!(
                        j[ax] >= -lo_slack - 1e-9 && j[ax] <= m - 1.0 + hi_slack + 1e-9,
                        "{c}: corner {idx:?} at {j:?} of {:?}",
                        p.grid.shape
                    );
                }
            }
        }
        // first-centre starts at the lowest projected centre and ends within half a step of the highest.
        let p = plan_spacing(shape, &a, [1.0; 3], GridConvention::FirstCentre).expect("plans");
        assert_eq!(p.grid.shape[0], 28, "27.3 mm of centres along x at 1 mm: 28 points");
    }

    #[test]
    fn keep_shear_and_unsheared_inputs_plan_as_before() {
        let a = tilted();
        let keep =
            plan_spacing_with([40, 30, 12], &a, [1.0; 3], GridConvention::FirstCentre, Shear::Keep).expect("plans");
        assert!(keep.map.is_diagonal());
        assert!((keep.grid.affine.shear_degrees() - 17.0).abs() < 1e-9);
        // An oblique, unsheared grid: the same plan whichever the policy, bit for bit.
        let (s, c) = 0.3f64.sin_cos();
        let oblique =
            Affine::from_parts([[c * 0.8, -s * 0.8, 0.0], [s * 0.8, c * 0.8, 0.0], [0.0, 0.0, 2.5]], [5.0, 6.0, 7.0]);
        for conv in GridConvention::ALL {
            let removed = plan_spacing([20, 20, 9], &oblique, [1.0; 3], conv).expect("plans");
            let kept = plan_spacing_with([20, 20, 9], &oblique, [1.0; 3], conv, Shear::Keep).expect("plans");
            assert_eq!(removed, kept, "{conv}");
            assert!(removed.map.is_diagonal());
        }
    }

    #[test]
    fn nonsense_is_refused() {
        let a = diag([1.0; 3]);
        assert!(plan_spacing([4, 4, 4], &a, [0.0, 1.0, 1.0], GridConvention::Seed).is_err());
        assert!(plan_spacing([4, 4, 4], &a, [f64::NAN, 1.0, 1.0], GridConvention::Seed).is_err());
        assert!(plan_spacing([0, 4, 4], &a, [1.0; 3], GridConvention::Seed).is_err());
        assert!(matches!(
            plan_spacing([512, 512, 512], &a, [1e-3; 3], GridConvention::Seed),
            Err(ResampleError::TooLarge { .. })
        ));
        let singular = Affine::from_spacing_origin([1.0, 0.0, 1.0], [0.0; 3]);
        assert!(plan_spacing([4, 4, 4], &singular, [1.0; 3], GridConvention::Seed).is_err());
        assert!(plan_like([4, 4, 4], &a, Grid { shape: [2, 2, 2], affine: singular }).is_err());
        assert!("sideways".parse::<GridConvention>().is_err());
        assert_eq!("First_Center".parse::<GridConvention>(), Ok(GridConvention::FirstCentre));
    }
}
