//! The NIfTI transforms: qform quaternions to matrices and back, and the choice of affine
//! exactly as nibabel's `get_best_affine` makes it (with the fixes nibabel applies on load).

use std::path::Path;

use ctprep_core::{Affine, polar_rotation};

use crate::error::{Error, ErrorKind, Result};
use crate::header::NiftiHeader;

/// Where a volume's affine came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AffineSource {
    /// The sform rows (`sform_code != 0`).
    Sform,
    /// The qform quaternion, pixdim and offsets (`qform_code != 0`, `sform_code == 0`).
    Qform,
    /// Neither code set: a diagonal affine from pixdim, centred, x flipped (nibabel's
    /// `get_base_affine`).
    Fallback,
    /// Set by the program (a new or transformed volume).
    Given,
    /// An NRRD's `space directions` and `space origin` (or, without a `space`, its `spacings`).
    Nrrd,
}

impl AffineSource {
    /// `"sform"`, `"qform"`, `"fallback"` or `"given"`.
    pub fn name(self) -> &'static str {
        match self {
            AffineSource::Sform => "sform",
            AffineSource::Qform => "qform",
            AffineSource::Fallback => "pixdim fallback",
            AffineSource::Given => "given",
            AffineSource::Nrrd => "nrrd space directions",
        }
    }
}

/// nibabel's `quaternion_threshold`: three epsilons of the type the quaternion is stored in
/// (float32 in NIfTI-1, float64 in NIfTI-2). A `1 - (b² + c² + d²)` closer to 0 than this is
/// rounding of a rotation by 180° (w = 0); below minus this, the quaternion is not a rotation.
pub(crate) fn quaternion_threshold(format: crate::NiftiFormat) -> f64 {
    match format {
        crate::NiftiFormat::Nifti1 => 3.0 * f64::from(f32::EPSILON),
        crate::NiftiFormat::Nifti2 => 3.0 * f64::EPSILON,
    }
}

/// The rotation matrix of the unit quaternion with vector part `(b, c, d)` stored as float32
/// (NIfTI-1), the real part filled in as nibabel's `fillpositive` does. `Err` carries
/// `1 - (b² + c² + d²)` when it is negative beyond the threshold (the quaternion is not a
/// rotation).
pub fn quaternion_to_rotation(bcd: [f64; 3]) -> Result<[[f64; 3]; 3], f64> {
    quaternion_rotation(bcd, quaternion_threshold(crate::NiftiFormat::Nifti1))
}

/// [`quaternion_to_rotation`] with the threshold of the stored type.
fn quaternion_rotation(bcd: [f64; 3], threshold: f64) -> Result<[[f64; 3]; 3], f64> {
    let [x, y, z] = bcd;
    let w2 = 1.0 - (x * x + y * y + z * z);
    // A w2 within the threshold of 0 is a rotation by (nearly) 180 degrees whose b, c, d were
    // rounded: w is 0, not the square root of the rounding (which would turn the axes by up to
    // 0.03 degrees for a float32 quaternion).
    let w = if w2.abs() < threshold {
        0.0
    } else if w2 < 0.0 {
        return Err(w2);
    } else {
        w2.sqrt()
    };
    // nibabel's quat2mat, normalising by the squared norm.
    let nq = w * w + x * x + y * y + z * z;
    if nq < f64::EPSILON {
        return Ok([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    }
    let s = 2.0 / nq;
    let (xs, ys, zs) = (x * s, y * s, z * s);
    let (wx, wy, wz) = (w * xs, w * ys, w * zs);
    let (xx, xy, xz) = (x * xs, x * ys, x * zs);
    let (yy, yz, zz) = (y * ys, y * zs, z * zs);
    Ok([[1.0 - (yy + zz), xy - wz, xz + wy], [xy + wz, 1.0 - (xx + zz), yz - wx], [xz - wy, yz + wx, 1.0 - (xx + yy)]])
}

/// The unit quaternion `(w, x, y, z)` of a rotation matrix, with `w >= 0` (Shepperd's method).
pub fn rotation_to_quaternion(r: [[f64; 3]; 3]) -> [f64; 4] {
    let tr = r[0][0] + r[1][1] + r[2][2];
    let q = if tr > 0.0 {
        let s = (tr + 1.0).sqrt() * 2.0;
        [0.25 * s, (r[2][1] - r[1][2]) / s, (r[0][2] - r[2][0]) / s, (r[1][0] - r[0][1]) / s]
    } else if r[0][0] > r[1][1] && r[0][0] > r[2][2] {
        let s = (1.0 + r[0][0] - r[1][1] - r[2][2]).sqrt() * 2.0;
        [(r[2][1] - r[1][2]) / s, 0.25 * s, (r[0][1] + r[1][0]) / s, (r[0][2] + r[2][0]) / s]
    } else if r[1][1] > r[2][2] {
        let s = (1.0 + r[1][1] - r[0][0] - r[2][2]).sqrt() * 2.0;
        [(r[0][2] - r[2][0]) / s, (r[0][1] + r[1][0]) / s, 0.25 * s, (r[1][2] + r[2][1]) / s]
    } else {
        let s = (1.0 + r[2][2] - r[0][0] - r[1][1]).sqrt() * 2.0;
        [(r[1][0] - r[0][1]) / s, (r[0][2] + r[2][0]) / s, (r[1][2] + r[2][1]) / s, 0.25 * s]
    };
    let n = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    let sign = if q[0] < 0.0 { -1.0 } else { 1.0 };
    q.map(|v| sign * v / n)
}

/// The qform fields that represent an affine: what nibabel's `set_qform` writes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QformFields {
    /// `pixdim[0]`: +1 or -1.
    pub qfac: f64,
    /// `pixdim[1..4]`: the column norms.
    pub pixdim: [f64; 3],
    /// `quatern_b, quatern_c, quatern_d`.
    pub quatern: [f64; 3],
    /// `qoffset_x, qoffset_y, qoffset_z`.
    pub qoffset: [f64; 3],
}

/// The qform closest to `affine` (shears are dropped, as nibabel's `set_qform` drops them), or
/// `None` when a column is zero and no rotation can be represented.
pub fn qform_from_affine(affine: &Affine) -> Option<QformFields> {
    let l = affine.linear();
    let zooms = affine.spacing();
    if zooms.iter().any(|z| *z == 0.0 || !z.is_finite()) {
        return None;
    }
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            r[i][j] = l[i][j] / zooms[j];
        }
    }
    let det = Affine::from_parts(r, [0.0; 3]).det3();
    let qfac = if det > 0.0 { 1.0 } else { -1.0 };
    if qfac < 0.0 {
        for row in r.iter_mut() {
            row[2] = -row[2];
        }
    }
    let pr = polar_rotation(r, None);
    let q = rotation_to_quaternion(pr);
    Some(QformFields { qfac, pixdim: zooms, quatern: [q[1], q[2], q[3]], qoffset: affine.translation() })
}

/// `pixdim[1..4]` after nibabel's load-time fixes (negative values become positive), checked
/// for the use the affine makes of them: NaN, infinite or zero spacing is an error naming the
/// field.
fn spatial_pixdim(h: &NiftiHeader, path: &Path, used_by: &str) -> Result<[f64; 3]> {
    let mut p = [0.0; 3];
    for (i, v) in p.iter_mut().enumerate() {
        let raw = h.pixdim[i + 1];
        if !raw.is_finite() || raw == 0.0 {
            return Err(Error::new(
                ErrorKind::BadPixdim,
                path,
                format!("pixdim[{}] = {raw}: the {used_by} needs a finite, non-zero voxel size", i + 1),
            ));
        }
        *v = raw.abs();
    }
    Ok(p)
}

/// A `qform_code`/`sform_code` as nibabel uses it: codes outside 0..=5 (unknown, scanner,
/// aligned, Talairach, MNI, template) are reset to 0 on load.
pub fn effective_xform_code(code: i32) -> i32 {
    if (0..=5).contains(&code) { code } else { 0 }
}

/// The affine nibabel's `get_best_affine` gives for this header (codes as
/// [`effective_xform_code`]): sform if `sform_code != 0`,
/// else qform if `qform_code != 0`, else the pixdim fallback. `shape3` is the spatial shape
/// (missing dimensions as 1).
pub fn best_affine(h: &NiftiHeader, shape3: [usize; 3], path: &Path) -> Result<(Affine, AffineSource)> {
    if effective_xform_code(h.sform_code) != 0 {
        return Ok((sform_affine(h, path)?, AffineSource::Sform));
    }
    if effective_xform_code(h.qform_code) != 0 {
        return Ok((qform_affine(h, path)?, AffineSource::Qform));
    }
    let pixdim = spatial_pixdim(h, path, "fallback affine (qform_code = sform_code = 0)")?;
    let a = fallback_affine(shape3, pixdim);
    if !a.is_affine() {
        return Err(Error::new(
            ErrorKind::BadHeader,
            path,
            format!(
                "pixdim[1..4] = {pixdim:?}: the fallback affine (qform_code = sform_code = 0) of a {shape3:?} volume centred on the origin is not finite"
            ),
        ));
    }
    Ok((a, AffineSource::Fallback))
}

/// The sform's affine (`srow_x/y/z`), whatever `sform_code` says.
pub fn sform_affine(h: &NiftiHeader, path: &Path) -> Result<Affine> {
    let mut rows = [[0.0; 4]; 4];
    rows[..3].copy_from_slice(&h.srow);
    rows[3] = [0.0, 0.0, 0.0, 1.0];
    let a = Affine::from_rows(rows);
    if !a.is_affine() {
        return Err(Error::new(ErrorKind::BadHeader, path, format!("srow_x/y/z = {:?}: not finite", h.srow)));
    }
    Ok(a)
}

/// The qform's affine (quaternion, `pixdim`, `qfac`, `qoffset`), whatever `qform_code` says:
/// what ITK-based readers use when the sform is sheared.
pub fn qform_affine(h: &NiftiHeader, path: &Path) -> Result<Affine> {
    let pixdim = spatial_pixdim(h, path, "qform")?;
    // Each field named for what is wrong with it: a NaN quaternion is not the offset's fault.
    if h.quatern.iter().any(|v| !v.is_finite()) {
        return Err(Error::new(ErrorKind::BadHeader, path, format!("quatern_b/c/d = {:?}: not finite", h.quatern)));
    }
    let r = quaternion_rotation(h.quatern, quaternion_threshold(h.format)).map_err(|w2| {
        Error::new(
            ErrorKind::BadHeader,
            path,
            format!("quatern_b/c/d = {:?}: b²+c²+d² exceeds 1 by {}, not a rotation", h.quatern, -w2),
        )
    })?;
    // nibabel reads a qfac (pixdim[0]) other than -1 as 1.
    let qfac = if h.pixdim[0] == -1.0 { -1.0 } else { 1.0 };
    let scale = [pixdim[0], pixdim[1], pixdim[2] * qfac];
    let mut lin = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            lin[i][j] = r[i][j] * scale[j];
        }
    }
    if h.qoffset.iter().any(|v| !v.is_finite()) {
        return Err(Error::new(ErrorKind::BadHeader, path, format!("qoffset_x/y/z = {:?}: not finite", h.qoffset)));
    }
    let a = Affine::from_parts(lin, h.qoffset);
    if !a.is_affine() {
        return Err(Error::new(ErrorKind::BadHeader, path, "the qform's affine is not finite".to_owned()));
    }
    Ok(a)
}

/// How far apart (mm) the sform and the qform put a `shape3` volume's corner voxel centres, at
/// the corner where they differ most: what separates nibabel's reading (the sform) from ITK's
/// when it falls back to the qform. `None` unless both codes are set and both transforms read.
pub fn sform_qform_distance(h: &NiftiHeader, shape3: [usize; 3], path: &Path) -> Option<f64> {
    if effective_xform_code(h.sform_code) == 0 || effective_xform_code(h.qform_code) == 0 {
        return None;
    }
    let (s, q) = (sform_affine(h, path).ok()?, qform_affine(h, path).ok()?);
    let n = shape3.map(|d| d.saturating_sub(1) as f64);
    let mut worst: f64 = 0.0;
    for corner in 0..8 {
        let c = [0, 1, 2].map(|a| if (corner >> a) & 1 == 0 { 0.0 } else { n[a] });
        let (ws, wq) = (s.apply(c), q.apply(c));
        worst = worst.max((0..3).map(|k| (ws[k] - wq[k]).powi(2)).sum::<f64>().sqrt());
    }
    Some(worst)
}

/// nibabel's `shape_zoom_affine(shape, zooms, x_flip=True)`: voxel centre of the volume at the
/// world origin, x flipped (radiological convention of ANALYZE).
pub(crate) fn fallback_affine(shape3: [usize; 3], zooms: [f64; 3]) -> Affine {
    let z = [-zooms[0], zooms[1], zooms[2]];
    let mut origin = [0.0; 3];
    for a in 0..3 {
        origin[a] = -((shape3[a] as f64 - 1.0) / 2.0) * z[a];
    }
    Affine::from_spacing_origin(z, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quaternion_round_trip() {
        let (s, c) = 0.35f64.sin_cos();
        let r = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]];
        let q = rotation_to_quaternion(r);
        assert!(q[0] >= 0.0);
        let back = quaternion_to_rotation([q[1], q[2], q[3]]).expect("rotation");
        for i in 0..3 {
            for j in 0..3 {
                assert!((back[i][j] - r[i][j]).abs() < 1e-12);
            }
        }
        // A 180-degree rotation (w = 0) and an out-of-range quaternion.
        let flip = [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]];
        let q = rotation_to_quaternion(flip);
        assert_eq!(quaternion_to_rotation([q[1], q[2], q[3]]), Ok(flip));
        assert!(quaternion_to_rotation([1.0, 0.5, 0.0]).is_err());
    }

    #[test]
    fn a_half_turn_rounded_to_float32_has_w_zero() {
        // x flipped and a 6 degree tilt, with qfac -1: a rotation by nearly 180 degrees about y,
        // whose float32 b, c, d leave 1 - (b² + c² + d²) at 6e-8. nibabel (and nifti_io) take
        // w = 0 there; its square root, 2.4e-4, turned the axes by 0.03 degrees.
        let bcd = [0.0, f64::from(0.998_629_5f32), f64::from(0.052_335_955f32)];
        let r = quaternion_to_rotation(bcd).expect("rotation");
        let n2: f64 = bcd.iter().map(|v| v * v).sum();
        let want = |i: usize, j: usize| 2.0 * bcd[i] * bcd[j] / n2 - if i == j { 1.0 } else { 0.0 };
        for (i, row) in r.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                assert!((v - want(i, j)).abs() < 1e-12, "[{i}][{j}] {v} vs {}", want(i, j));
            }
        }
        // Stored as float64 (NIfTI-2), the same w2 is a real, small w.
        assert!(
            quaternion_rotation(bcd, quaternion_threshold(crate::NiftiFormat::Nifti2)).expect("rotation")[0][0] > -1.0
        );
    }

    #[test]
    fn qform_of_a_left_handed_affine_has_negative_qfac() {
        let a = Affine::from_spacing_origin([-0.7, 0.7, 2.5], [100.0, -90.0, 5.0]);
        let q = qform_from_affine(&a).expect("representable");
        assert_eq!(q.qfac, -1.0);
        assert_eq!(q.pixdim, [0.7, 0.7, 2.5]);
        // Rebuild the affine from the fields as a reader would.
        let r = quaternion_to_rotation(q.quatern).expect("rotation");
        let scale = [q.pixdim[0], q.pixdim[1], q.pixdim[2] * q.qfac];
        let mut lin = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                lin[i][j] = r[i][j] * scale[j];
            }
        }
        assert!(Affine::from_parts(lin, q.qoffset).max_abs_diff(&a) < 1e-12);
    }
}
