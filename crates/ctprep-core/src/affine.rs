//! The voxel-to-world affine: a 4x4 `f64` matrix mapping a voxel index `(i, j, k, 1)` to world
//! millimetres in NIfTI's RAS+ frame, with the few pieces of linear algebra every stage needs
//! (inverse, spacing, polar decomposition).

use std::fmt;

/// The largest |cosine| between two voxel axes that still counts as perpendicular (an angle
/// within 0.0057° of 90°): ITK's own tolerance (`sform_is_orthonormal`, ITK 5.4). Below it
/// SimpleITK reads the sform as nibabel does; above it, it falls back to the qform, which
/// cannot hold shear. float32 storage of a rotation, and direction cosines rounded to six
/// decimals, stay far below; the gantry tilts CT stores as shear are degrees (cosines of 0.01
/// and more).
pub const SHEAR_TOLERANCE: f64 = 1e-4;

/// A 4x4 affine matrix, row-major, mapping voxel indices to world millimetres (RAS+).
///
/// The last row is expected to be `0 0 0 1`; [`Affine::is_affine`] checks it.
#[derive(Clone, Copy, PartialEq)]
pub struct Affine(pub [[f64; 4]; 4]);

impl fmt::Debug for Affine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl Default for Affine {
    fn default() -> Self {
        Affine::IDENTITY
    }
}

impl Affine {
    /// The identity: voxel index equals world millimetres.
    pub const IDENTITY: Affine =
        Affine([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]);

    /// Builds an affine from its four rows.
    pub const fn from_rows(rows: [[f64; 4]; 4]) -> Affine {
        Affine(rows)
    }

    /// Builds an affine from a 3x3 linear part (rows) and a translation.
    pub fn from_parts(linear: [[f64; 3]; 3], translation: [f64; 3]) -> Affine {
        let mut m = Affine::IDENTITY;
        for r in 0..3 {
            m.0[r][..3].copy_from_slice(&linear[r]);
            m.0[r][3] = translation[r];
        }
        m
    }

    /// A diagonal affine with the given spacing (mm) and origin (world position of voxel 0).
    pub fn from_spacing_origin(spacing_mm: [f64; 3], origin: [f64; 3]) -> Affine {
        let mut lin = [[0.0; 3]; 3];
        for (a, row) in lin.iter_mut().enumerate() {
            row[a] = spacing_mm[a];
        }
        Affine::from_parts(lin, origin)
    }

    /// The rows of the matrix.
    pub const fn rows(&self) -> [[f64; 4]; 4] {
        self.0
    }

    /// The upper-left 3x3 block: the columns are the world steps of one voxel along i, j, k.
    pub fn linear(&self) -> [[f64; 3]; 3] {
        let mut l = [[0.0; 3]; 3];
        for (r, row) in l.iter_mut().enumerate() {
            row.copy_from_slice(&self.0[r][..3]);
        }
        l
    }

    /// The world position of voxel (0, 0, 0).
    pub fn translation(&self) -> [f64; 3] {
        [self.0[0][3], self.0[1][3], self.0[2][3]]
    }

    /// Whether the last row is exactly `0 0 0 1` and every entry is finite.
    pub fn is_affine(&self) -> bool {
        self.0[3] == [0.0, 0.0, 0.0, 1.0] && self.0.iter().flatten().all(|v| v.is_finite())
    }

    /// Maps a (continuous) voxel index to world millimetres.
    pub fn apply(&self, p: [f64; 3]) -> [f64; 3] {
        let m = &self.0;
        let mut out = [0.0; 3];
        for (r, o) in out.iter_mut().enumerate() {
            *o = m[r][0] * p[0] + m[r][1] * p[1] + m[r][2] * p[2] + m[r][3];
        }
        out
    }

    /// The matrix product `self * rhs` (apply `rhs` first).
    pub fn matmul(&self, rhs: &Affine) -> Affine {
        let mut out = [[0.0; 4]; 4];
        for (r, row) in out.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = (0..4).map(|k| self.0[r][k] * rhs.0[k][c]).sum();
            }
        }
        Affine(out)
    }

    /// The voxel spacing in millimetres: the length of each column of the linear part.
    pub fn spacing(&self) -> [f64; 3] {
        let l = self.linear();
        let mut s = [0.0; 3];
        for (c, v) in s.iter_mut().enumerate() {
            *v = (0..3).map(|r| l[r][c] * l[r][c]).sum::<f64>().sqrt();
        }
        s
    }

    /// The determinant of the linear part (negative for a left-handed voxel frame).
    pub fn det3(&self) -> f64 {
        det3(&self.linear())
    }

    /// The inverse affine (world to voxel), or `None` when the linear part is singular.
    pub fn inverse(&self) -> Option<Affine> {
        let l = self.linear();
        let d = det3(&l);
        if d == 0.0 || !d.is_finite() {
            return None;
        }
        let mut inv = [[0.0; 3]; 3];
        for (r, row) in inv.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                // Adjugate: cofactor of (c, r).
                let (r1, r2) = ((c + 1) % 3, (c + 2) % 3);
                let (c1, c2) = ((r + 1) % 3, (r + 2) % 3);
                *v = (l[r1][c1] * l[r2][c2] - l[r1][c2] * l[r2][c1]) / d;
            }
        }
        let t = self.translation();
        let mut ti = [0.0; 3];
        for (r, v) in ti.iter_mut().enumerate() {
            *v = -(0..3).map(|k| inv[r][k] * t[k]).sum::<f64>();
        }
        Some(Affine::from_parts(inv, ti))
    }

    /// The largest angle, in degrees, by which two voxel axes (columns of the linear part) are
    /// away from perpendicular: 0 for an orthogonal grid (oblique or not), the gantry tilt for a
    /// tilted CT stored as sheared. Zero-length columns count as perpendicular.
    pub fn shear_degrees(&self) -> f64 {
        let cos = self.max_column_cosine();
        (cos.clamp(0.0, 1.0).asin()).to_degrees()
    }

    /// Whether the voxel axes are not perpendicular: some pair's cosine exceeds
    /// [`SHEAR_TOLERANCE`]. A rotation stored as float32 (a NIfTI-1 sform) stays well below it.
    pub fn is_sheared(&self) -> bool {
        self.max_column_cosine() > SHEAR_TOLERANCE
    }

    /// The largest |cosine| of the angle between two columns of the linear part.
    fn max_column_cosine(&self) -> f64 {
        let l = self.linear();
        let s = self.spacing();
        let mut worst: f64 = 0.0;
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            if s[a] > 0.0 && s[b] > 0.0 {
                let dot: f64 = (0..3).map(|r| l[r][a] * l[r][b]).sum();
                worst = worst.max((dot / (s[a] * s[b])).abs());
            }
        }
        worst
    }

    /// The axes made perpendicular: each column keeps its length (the spacing), the directions
    /// become the orthogonal matrix closest to the unit columns (polar decomposition, which keeps
    /// the handedness), the translation stays. An affine that is not sheared is returned as is,
    /// bit for bit. `None` when a column has zero length.
    pub fn without_shear(&self) -> Option<Affine> {
        if !self.is_sheared() {
            return Some(*self);
        }
        let q = self.closest_orthogonal_axes()?;
        let s = self.spacing();
        let mut lin = [[0.0; 3]; 3];
        for r in 0..3 {
            for c in 0..3 {
                lin[r][c] = q[r][c] * s[c];
            }
        }
        Some(Affine::from_parts(lin, self.translation()))
    }

    /// The orthogonal matrix closest to the unit voxel axes (polar decomposition: each axis keeps
    /// its sense, the determinant its sign), as columns; `None` when an axis has zero or
    /// non-finite length.
    pub fn closest_orthogonal_axes(&self) -> Option<[[f64; 3]; 3]> {
        let l = self.linear();
        let s = self.spacing();
        if s.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return None;
        }
        let mut unit = [[0.0; 3]; 3];
        for r in 0..3 {
            for c in 0..3 {
                unit[r][c] = l[r][c] / s[c];
            }
        }
        Some(polar_rotation(unit, None))
    }

    /// The largest absolute difference between two affines, entry by entry.
    pub fn max_abs_diff(&self, other: &Affine) -> f64 {
        self.0.iter().flatten().zip(other.0.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
    }
}

fn det3(l: &[[f64; 3]; 3]) -> f64 {
    l[0][0] * (l[1][1] * l[2][2] - l[1][2] * l[2][1]) - l[0][1] * (l[1][0] * l[2][2] - l[1][2] * l[2][0])
        + l[0][2] * (l[1][0] * l[2][1] - l[1][1] * l[2][0])
}

/// Eigen-decomposition of a symmetric 3x3 matrix by cyclic Jacobi rotations.
///
/// Returns the eigenvalues and the matrix whose columns are the matching unit eigenvectors.
/// Accurate to a few ulps for the well-conditioned matrices that affines produce.
pub fn symmetric_eigen3(a: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    let mut a = a;
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _sweep in 0..64 {
        let off = a[0][1].abs() + a[0][2].abs() + a[1][2].abs();
        let scale = a[0][0].abs() + a[1][1].abs() + a[2][2].abs();
        if off == 0.0 || off <= scale * 1e-18 {
            break;
        }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q] == 0.0 {
                continue;
            }
            // The classic rotation that zeroes a[p][q] (Numerical Recipes' stable form).
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            for row in a.iter_mut() {
                let (akp, akq) = (row[p], row[q]);
                row[p] = c * akp - s * akq;
                row[q] = s * akp + c * akq;
            }
            let (rp, rq) = (a[p], a[q]);
            for k in 0..3 {
                a[p][k] = c * rp[k] - s * rq[k];
                a[q][k] = s * rp[k] + c * rq[k];
            }
            for row in v.iter_mut() {
                let (vp, vq) = (row[p], row[q]);
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    ([a[0][0], a[1][1], a[2][2]], v)
}

/// The rotation part of the polar decomposition of `m`: the orthogonal matrix closest to `m`
/// (numpy's `P[:, keep] @ Qs[keep]` from `svd(m)`, as nibabel's `io_orientation` and `set_qform`
/// compute it).
///
/// Singular values at or below `tol` are dropped, so a rank-deficient `m` gives a partial
/// rotation with zero columns; `None` uses numpy's default rank tolerance
/// (`max(S) * 3 * f64::EPSILON`).
pub fn polar_rotation(m: [[f64; 3]; 3], tol: Option<f64>) -> [[f64; 3]; 3] {
    // m = P S Q^T  =>  m^T m = Q S^2 Q^T, and the kept part of P Q^T is sum_i (m q_i / s_i) q_i^T.
    let mut mtm = [[0.0; 3]; 3];
    for (r, row) in mtm.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| m[k][r] * m[k][c]).sum();
        }
    }
    let (lambda, q) = symmetric_eigen3(mtm);
    let s: Vec<f64> = lambda.iter().map(|l| l.max(0.0).sqrt()).collect();
    let smax = s.iter().copied().fold(0.0, f64::max);
    let tol = tol.unwrap_or(smax * 3.0 * f64::EPSILON);
    let mut out = [[0.0; 3]; 3];
    for i in 0..3 {
        if s[i] <= tol {
            continue;
        }
        let qi = [q[0][i], q[1][i], q[2][i]];
        let mut pi = [0.0; 3];
        for (r, p) in pi.iter_mut().enumerate() {
            *p = (0..3).map(|k| m[r][k] * qi[k]).sum::<f64>() / s[i];
        }
        for r in 0..3 {
            for c in 0..3 {
                out[r][c] += pi[r] * qi[c];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rot_z(deg: f64) -> [[f64; 3]; 3] {
        let (s, c) = deg.to_radians().sin_cos();
        [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    }

    #[test]
    fn shear_is_measured_and_removed() {
        // Oblique but orthogonal: no shear, returned bit for bit.
        let r = rot_z(23.0);
        let oblique = Affine::from_parts(
            [[r[0][0] * 0.8, r[0][1] * 0.8, 0.0], [r[1][0] * 0.8, r[1][1] * 0.8, 0.0], [0.0, 0.0, 2.5]],
            [1.0, 2.0, 3.0],
        );
        assert!(!oblique.is_sheared());
        assert!(oblique.shear_degrees() < 1e-9);
        assert_eq!(oblique.without_shear(), Some(oblique));
        // A gantry tilt of 20 degrees: the z column leans toward y.
        let t = 20f64.to_radians();
        let tilted =
            Affine::from_parts([[-0.5, 0.0, 0.0], [0.0, 0.5, 2.0 * t.sin()], [0.0, 0.0, 2.0 * t.cos()]], [0.0; 3]);
        assert!(tilted.is_sheared());
        assert!((tilted.shear_degrees() - 20.0).abs() < 1e-9, "{}", tilted.shear_degrees());
        let fixed = tilted.without_shear().expect("full rank");
        assert!(!fixed.is_sheared(), "{}", fixed.shear_degrees());
        assert!(fixed.shear_degrees() < 1e-9);
        for (a, b) in fixed.spacing().iter().zip(tilted.spacing()) {
            assert!((a - b).abs() < 1e-12);
        }
        assert_eq!(fixed.translation(), tilted.translation());
        assert!(fixed.det3() < 0.0, "handedness kept");
        // Each axis keeps its direction's sense.
        let (lf, lt) = (fixed.linear(), tilted.linear());
        for c in 0..3 {
            let dot: f64 = (0..3).map(|r| lf[r][c] * lt[r][c]).sum();
            assert!(dot > 0.0);
        }
        assert_eq!(Affine::from_spacing_origin([1.0, 0.0, 1.0], [0.0; 3]).without_shear().map(|_| ()), Some(()));
    }

    #[test]
    fn inverse_round_trips() {
        let a = Affine::from_parts(rot_z(30.0), [10.0, -5.0, 3.0]);
        let a = a.matmul(&Affine::from_spacing_origin([0.7, 0.8, 2.5], [0.0; 3]));
        let inv = a.inverse().expect("invertible");
        assert!(a.matmul(&inv).max_abs_diff(&Affine::IDENTITY) < 1e-12);
        let p = [3.0, 4.0, 5.0];
        let back = inv.apply(a.apply(p));
        for k in 0..3 {
            assert!((back[k] - p[k]).abs() < 1e-12);
        }
        assert!(Affine::from_spacing_origin([1.0, 0.0, 1.0], [0.0; 3]).inverse().is_none());
    }

    #[test]
    fn polar_of_scaled_rotation_is_the_rotation() {
        let r = rot_z(40.0);
        let mut m = r;
        for row in m.iter_mut() {
            row[0] *= 0.5;
            row[2] *= 3.0;
        }
        let p = polar_rotation(m, None);
        for i in 0..3 {
            for j in 0..3 {
                assert!((p[i][j] - r[i][j]).abs() < 1e-12, "{p:?}");
            }
        }
    }

    #[test]
    fn polar_of_rank_deficient_drops_the_null_direction() {
        let m = [[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]];
        let p = polar_rotation(m, None);
        assert_eq!(p, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]);
    }

    #[test]
    fn eigen_of_symmetric_matrix() {
        let a = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 1.0]];
        let (l, v) = symmetric_eigen3(a);
        for i in 0..3 {
            for r in 0..3 {
                let av: f64 = (0..3).map(|k| a[r][k] * v[k][i]).sum();
                assert!((av - l[i] * v[r][i]).abs() < 1e-12);
            }
        }
    }
}
