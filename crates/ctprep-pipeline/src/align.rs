//! Whether a label map lies on its image's grid, and when it does not, how it differs, in terms a
//! user acts on: flipped or permuted axes, a shift of whole voxels or half a voxel, a crop to a
//! sub-box, another spacing, a rotation. And the label values present, with voxel counts and
//! volumes.
//!
//! ```
//! use ctprep_core::Affine;
//! use ctprep_pipeline::align::{GridInfo, Verdict, compare};
//!
//! let image = GridInfo { shape: [100, 100, 40], affine: Affine::from_spacing_origin([0.8, 0.8, 2.5], [0.0; 3]) };
//! // The same grid, one slice higher: a label saved with the wrong origin.
//! let label = GridInfo { shape: [100, 100, 40], affine: Affine::from_spacing_origin([0.8, 0.8, 2.5], [0.0, 0.0, 2.5]) };
//! let a = compare(&image, &label, 0.01);
//! assert_eq!(a.verdict, Verdict::Shifted);
//! assert!(a.differences[0].contains("1 voxel along z"));
//! ```

use ctprep_core::Affine;
use ctprep_io::{DataType, Volume};

/// A voxel grid: its shape and voxel-to-world affine (RAS, mm).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridInfo {
    /// Voxels along x, y, z.
    pub shape: [usize; 3],
    /// Voxel index to world (mm).
    pub affine: Affine,
}

/// How a label grid relates to its image grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The same grid within the tolerance: voxel (i, j, k) of one is voxel (i, j, k) of the other.
    Aligned,
    /// The same voxel centres in another axis order (flipped and/or permuted axes, as a label
    /// stored LPS beside an image stored RAS): placed exactly by reorienting.
    Reoriented,
    /// Axes reversed (or swapped) so that the label covers other voxels than the image.
    Flipped,
    /// The same axes, moved by whole voxels or a fraction of one (half a voxel: an origin taken
    /// at a voxel corner instead of its centre).
    Shifted,
    /// The same axes and voxel size, covering a sub-box of the image.
    Cropped,
    /// Another box of the same voxel lattice: partly outside the image, or larger.
    Extent,
    /// Another voxel size.
    Spacing,
    /// Axes rotated (or sheared) relative to the image's.
    Rotated,
    /// No voxel of the label lies inside the image: it cannot be placed.
    NoOverlap,
}

impl Verdict {
    /// The snake_case name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Aligned => "aligned",
            Verdict::Reoriented => "reoriented",
            Verdict::Flipped => "flipped",
            Verdict::Shifted => "shifted",
            Verdict::Cropped => "cropped",
            Verdict::Extent => "extent",
            Verdict::Spacing => "spacing",
            Verdict::Rotated => "rotated",
            Verdict::NoOverlap => "no_overlap",
        }
    }
}

/// The comparison of a label grid with its image grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Alignment {
    /// The verdict.
    pub verdict: Verdict,
    /// The differences, one sentence each (empty when aligned).
    pub differences: Vec<String>,
    /// Label voxel index to image voxel index.
    pub voxel_map: Affine,
    /// The largest distance (mm) between a label voxel centre and the image voxel centre of the
    /// same index, over the corners (`None` when the shapes differ).
    pub max_corner_mm: Option<f64>,
    /// The share of the label's volume (its voxels' extent) inside the image's.
    pub overlap: f64,
    /// The image voxels the label covers, per axis `[first, last]`, when its axes are the
    /// image's (up to order and direction) and its offsets are whole voxels.
    pub image_box: Option<[[i64; 2]; 3]>,
}

impl Alignment {
    /// Whether the label lies voxel for voxel on the image's grid.
    pub fn is_aligned(&self) -> bool {
        self.verdict == Verdict::Aligned
    }

    /// Whether the label can be put on the image's grid (it overlaps it).
    pub fn can_be_placed(&self) -> bool {
        self.verdict != Verdict::NoOverlap
    }
}

const AXES: [&str; 3] = ["x", "y", "z"];

fn corners(shape: [usize; 3]) -> Vec<[f64; 3]> {
    let mut out = Vec::with_capacity(8);
    for i in [0, shape[0] - 1] {
        for j in [0, shape[1] - 1] {
            for k in [0, shape[2] - 1] {
                out.push([i as f64, j as f64, k as f64]);
            }
        }
    }
    out
}

fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

fn fmt(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn voxels(n: f64) -> String {
    if (n.abs() - 1.0).abs() < 1e-9 { format!("{} voxel", fmt(n)) } else { format!("{} voxels", fmt(n)) }
}

/// Compares `label`'s grid with `image`'s: the same grid when every corner voxel centre is within
/// `tolerance_mm`, and otherwise how they differ.
pub fn compare(image: &GridInfo, label: &GridInfo, tolerance_mm: f64) -> Alignment {
    let tol = tolerance_mm.max(0.0);
    let max_corner_mm = (image.shape == label.shape).then(|| {
        corners(label.shape).into_iter().map(|c| dist(image.affine.apply(c), label.affine.apply(c))).fold(0.0, f64::max)
    });
    let Some(inv) = image.affine.inverse() else {
        return Alignment {
            verdict: Verdict::NoOverlap,
            differences: vec!["the image's affine is degenerate: no voxel can be placed on it".into()],
            voxel_map: Affine::IDENTITY,
            max_corner_mm,
            overlap: 0.0,
            image_box: None,
        };
    };
    let m = inv.matmul(&label.affine);
    let overlap = overlap_share(&m, image.shape, label.shape);
    let mut a = Alignment {
        verdict: Verdict::Aligned,
        differences: Vec::new(),
        voxel_map: m,
        max_corner_mm,
        overlap,
        image_box: None,
    };
    if max_corner_mm.is_some_and(|d| d <= tol) {
        return a;
    }
    let spacing = image.affine.spacing();
    let lin = m.linear();
    let t = m.translation();
    // Each label axis's nearest image axis, direction and scale.
    let mut to = [0usize; 3];
    let mut sign = [1.0; 3];
    let mut scale = [1.0; 3];
    for j in 0..3 {
        let i = (0..3).max_by(|&a, &b| lin[a][j].abs().total_cmp(&lin[b][j].abs())).unwrap_or(j);
        to[j] = i;
        sign[j] = lin[i][j].signum();
        scale[j] = lin[i][j].abs();
    }
    let is_perm = to[0] != to[1] && to[1] != to[2] && to[0] != to[2];
    // How far (mm) the label's corners are from where the axis-aligned reading puts them.
    let off_axis_mm = corners(label.shape)
        .into_iter()
        .map(|c| {
            let mut exact = [0.0; 3];
            let mut aligned = [0.0; 3];
            for (r, e) in exact.iter_mut().enumerate() {
                *e = (0..3).map(|j| lin[r][j] * c[j]).sum();
            }
            for j in 0..3 {
                aligned[to[j]] += sign[j] * scale[j] * c[j];
            }
            let d = [
                (exact[0] - aligned[0]) * spacing[0],
                (exact[1] - aligned[1]) * spacing[1],
                (exact[2] - aligned[2]) * spacing[2],
            ];
            (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
        })
        .fold(0.0, f64::max);
    if overlap <= 0.0 {
        a.verdict = Verdict::NoOverlap;
        a.differences.push(format!(
            "no overlap: the label's voxels all lie outside the image (its first voxel is at image voxel ({}, {}, {}))",
            fmt(t[0]),
            fmt(t[1]),
            fmt(t[2])
        ));
        return a;
    }
    if !is_perm || off_axis_mm > tol {
        let angle = axis_angle_degrees(&image.affine, &label.affine);
        a.verdict = Verdict::Rotated;
        a.differences.push(format!(
            "rotated: the label's axes are up to {}° from the image's (corners up to {} mm off an axis-aligned reading); resampling places it",
            fmt(angle),
            fmt(off_axis_mm)
        ));
        return a;
    }
    let label_spacing = label.affine.spacing();
    let scale_off = (0..3).any(|j| (scale[j] - 1.0).abs() * (label.shape[j].max(2) - 1) as f64 * spacing[to[j]] > tol);
    if scale_off {
        a.verdict = Verdict::Spacing;
        a.differences.push(format!(
            "another spacing: the label's voxels are {} x {} x {} mm, the image's {} x {} x {} mm; resampling (nearest) places it",
            fmt(label_spacing[0]),
            fmt(label_spacing[1]),
            fmt(label_spacing[2]),
            fmt(spacing[0]),
            fmt(spacing[1]),
            fmt(spacing[2])
        ));
        return a;
    }
    // Axis-aligned with the image's voxel size: image index along `to[j]` = t + sign * k_j.
    let flipped: Vec<usize> = (0..3).filter(|&j| sign[j] < 0.0).collect();
    let permuted = to != [0, 1, 2];
    let mut fractional = Vec::new();
    let mut whole = [0i64; 3];
    for i in 0..3 {
        let r = t[i].round();
        let f = t[i] - r;
        if f.abs() * spacing[i] > tol {
            fractional.push((i, f));
        }
        whole[i] = r as i64;
    }
    if !fractional.is_empty() {
        a.verdict = Verdict::Shifted;
        for (i, f) in fractional {
            let what = if ((f.abs() - 0.5) * spacing[i]).abs() <= tol {
                "half a voxel".to_string()
            } else {
                format!("{} of a voxel", fmt(f.abs()))
            };
            a.differences.push(format!(
                "shifted by {what} along {} ({} mm): voxel centres fall between the image's (an origin at a voxel corner instead of its centre?); resampling (nearest) places it",
                AXES[i],
                fmt(f * spacing[i]),
            ));
        }
        if !flipped.is_empty() || permuted {
            a.differences.push(describe_axes(&to, &sign));
        }
        return a;
    }
    let mut bx = [[0i64; 2]; 3];
    for j in 0..3 {
        let i = to[j];
        let span = (label.shape[j] - 1) as i64;
        bx[i] = if sign[j] > 0.0 { [whole[i], whole[i] + span] } else { [whole[i] - span, whole[i]] };
    }
    a.image_box = Some(bx);
    let full = (0..3).all(|i| bx[i] == [0, image.shape[i] as i64 - 1]);
    let inside = (0..3).all(|i| bx[i][0] >= 0 && bx[i][1] < image.shape[i] as i64);
    if !flipped.is_empty() || permuted {
        // A label in another axis order whose voxels are image voxels: placed exactly, whole or
        // cropped (a 3D Slicer segmentation cropped to its segments, stored LPS beside a RAS
        // image). Otherwise its axes run into other voxels.
        a.verdict = if full {
            Verdict::Reoriented
        } else if inside {
            Verdict::Cropped
        } else {
            Verdict::Flipped
        };
        a.differences.push(describe_axes(&to, &sign));
        if full {
            a.differences.push(format!(
                "the label holds the image's voxels in another order (label {}, image {}): reorienting places it exactly",
                ctprep_io::axcodes_string(&label.affine),
                ctprep_io::axcodes_string(&image.affine)
            ));
            return a;
        }
    } else if image.shape == label.shape && whole == [0; 3] {
        // Within the tolerance along each axis, but not at the corners taken together.
        a.verdict = Verdict::Shifted;
        a.differences.push(format!(
            "offset by ({}, {}, {}) voxels: the corners lie up to {} mm apart, beyond the tolerance",
            fmt(t[0]),
            fmt(t[1]),
            fmt(t[2]),
            fmt(a.max_corner_mm.unwrap_or(0.0))
        ));
        return a;
    } else if image.shape == label.shape {
        a.verdict = Verdict::Shifted;
        for i in 0..3 {
            if whole[i] != 0 {
                a.differences.push(format!(
                    "shifted by {} along {} ({} mm): label voxel {} lies on image voxel {}",
                    voxels(whole[i] as f64),
                    AXES[i],
                    fmt(whole[i] as f64 * spacing[i]),
                    AXES[i].to_owned() + "=0",
                    whole[i]
                ));
            }
        }
    } else if inside {
        a.verdict = Verdict::Cropped;
    } else {
        a.verdict = Verdict::Extent;
    }
    let range = |i: usize| format!("{} {}..{}", AXES[i], bx[i][0], bx[i][1]);
    let covered = format!(
        "image voxels {}, {}, {} of {} x {} x {}",
        range(0),
        range(1),
        range(2),
        image.shape[0],
        image.shape[1],
        image.shape[2]
    );
    match a.verdict {
        Verdict::Cropped => {
            let how = if !flipped.is_empty() || permuted { " (in another axis order: placed exactly)" } else { "" };
            a.differences.push(format!("cropped: the label covers {covered}{how}"))
        }
        Verdict::Extent => a
            .differences
            .push(format!("another box: the label spans {covered} ({}% of it inside the image)", fmt(overlap * 100.0))),
        Verdict::Flipped => {
            a.differences.push(format!("so it covers {covered} ({}% of it inside the image)", fmt(overlap * 100.0)))
        }
        _ => {}
    }
    a
}

fn describe_axes(to: &[usize; 3], sign: &[f64; 3]) -> String {
    let parts: Vec<String> = (0..3)
        .filter(|&j| sign[j] < 0.0 || to[j] != j)
        .map(|j| {
            let dir = if sign[j] < 0.0 { "reversed " } else { "" };
            format!("label {} runs along {dir}image {}", AXES[j], AXES[to[j]])
        })
        .collect();
    let flips: Vec<&str> = (0..3).filter(|&j| sign[j] < 0.0).map(|j| AXES[to[j]]).collect();
    let swapped = to != &[0, 1, 2];
    match (flips.is_empty(), swapped) {
        (false, false) => format!("flipped along {}", flips.join(" and ")),
        _ => {
            format!("axes {}: {}", if flips.is_empty() { "permuted" } else { "permuted and flipped" }, parts.join(", "))
        }
    }
}

/// The share of the label's voxel extent (each voxel ±0.5) inside the image's, from the
/// bounding box of the label's extent in image voxel coordinates.
fn overlap_share(m: &Affine, image: [usize; 3], label: [usize; 3]) -> f64 {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for i in [-0.5, label[0] as f64 - 0.5] {
        for j in [-0.5, label[1] as f64 - 0.5] {
            for k in [-0.5, label[2] as f64 - 0.5] {
                let p = m.apply([i, j, k]);
                for a in 0..3 {
                    lo[a] = lo[a].min(p[a]);
                    hi[a] = hi[a].max(p[a]);
                }
            }
        }
    }
    let mut share = 1.0;
    for a in 0..3 {
        let inside = (hi[a].min(image[a] as f64 - 0.5) - lo[a].max(-0.5)).max(0.0);
        let len = hi[a] - lo[a];
        share *= if len > 0.0 { inside / len } else { 0.0 };
    }
    share
}

/// The largest angle (degrees) between an image axis and the label axis closest to it.
fn axis_angle_degrees(image: &Affine, label: &Affine) -> f64 {
    let (a, b) = (image.linear(), label.linear());
    let col = |m: &[[f64; 3]; 3], j: usize| {
        let v = [m[0][j], m[1][j], m[2][j]];
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(f64::MIN_POSITIVE);
        [v[0] / n, v[1] / n, v[2] / n]
    };
    (0..3)
        .map(|i| {
            let u = col(&a, i);
            (0..3)
                .map(|j| {
                    let v = col(&b, j);
                    (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]).abs().min(1.0)
                })
                .fold(0.0, f64::max)
                .acos()
                .to_degrees()
        })
        .fold(0.0, f64::max)
}

/// One value of a label map: how many voxels hold it and their volume.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelValue {
    /// The value (scaled, as the file means it).
    pub value: f64,
    /// Voxels holding it.
    pub voxels: u64,
    /// Their volume in millilitres.
    pub ml: f64,
}

/// How far (mm) two grids' voxel centres may lie apart for them to count as the same, unless
/// told otherwise: 0.01 mm, far below any scanner's precision and above float rounding.
pub const DEFAULT_TOLERANCE_MM: f64 = 0.01;

/// The most distinct values [`value_counts`] lists.
pub const MAX_LABEL_VALUES: usize = 1000;

/// The distinct values of `v` (over every layer) with their voxel counts and volumes, in
/// increasing order; an error when there are more than [`MAX_LABEL_VALUES`] (not a label map)
/// or a value is NaN.
pub fn value_counts(v: &Volume) -> Result<Vec<LabelValue>, String> {
    use std::collections::BTreeMap;
    let ml_per_voxel = v.affine().det3().abs() / 1000.0;
    let mut counts: BTreeMap<i128, u64> = BTreeMap::new();
    let mut floats: BTreeMap<u64, (f64, u64)> = BTreeMap::new();
    let too_many = || format!("more than {MAX_LABEL_VALUES} distinct values: not a label map");
    fn ints<T: ctprep_io::Element + Into<i128>>(s: &[T], counts: &mut BTreeMap<i128, u64>) -> Result<(), ()> {
        // Runs of one value are common in label maps: count them without a map look-up each.
        let mut iter = s.iter();
        let Some(&first) = iter.next() else { return Ok(()) };
        let (mut cur, mut run) = (first, 1u64);
        for &x in iter {
            if x == cur {
                run += 1;
            } else {
                *counts.entry(cur.into()).or_default() += run;
                if counts.len() > MAX_LABEL_VALUES {
                    return Err(());
                }
                cur = x;
                run = 1;
            }
        }
        *counts.entry(cur.into()).or_default() += run;
        if counts.len() > MAX_LABEL_VALUES { Err(()) } else { Ok(()) }
    }
    let d = v.data();
    let r = match v.dtype() {
        DataType::U8 => ints(d.as_slice::<u8>().unwrap_or_default(), &mut counts),
        DataType::I8 => ints(d.as_slice::<i8>().unwrap_or_default(), &mut counts),
        DataType::U16 => ints(d.as_slice::<u16>().unwrap_or_default(), &mut counts),
        DataType::I16 => ints(d.as_slice::<i16>().unwrap_or_default(), &mut counts),
        DataType::U32 => ints(d.as_slice::<u32>().unwrap_or_default(), &mut counts),
        DataType::I32 => ints(d.as_slice::<i32>().unwrap_or_default(), &mut counts),
        DataType::U64 => ints(d.as_slice::<u64>().unwrap_or_default(), &mut counts),
        DataType::I64 => ints(d.as_slice::<i64>().unwrap_or_default(), &mut counts),
        DataType::F32 | DataType::F64 => {
            let vals: Box<dyn Iterator<Item = f64>> = match d.as_slice::<f32>() {
                Some(s) => Box::new(s.iter().map(|&x| f64::from(x))),
                None => Box::new(d.as_slice::<f64>().unwrap_or_default().iter().copied()),
            };
            for x in vals {
                if x.is_nan() {
                    return Err("NaN values: not a label map".into());
                }
                let x = if x == 0.0 { 0.0 } else { x };
                floats.entry(x.to_bits()).or_insert((x, 0)).1 += 1;
                if floats.len() > MAX_LABEL_VALUES {
                    return Err(too_many());
                }
            }
            Ok(())
        }
    };
    r.map_err(|()| too_many())?;
    let scale = |x: f64| v.scaling().map_or(x, |s| s.apply(x));
    let mut out: Vec<LabelValue> = counts
        .into_iter()
        .map(|(value, n)| LabelValue { value: scale(value as f64), voxels: n, ml: n as f64 * ml_per_voxel })
        .chain(floats.into_values().map(|(value, n)| LabelValue {
            value: scale(value),
            voxels: n,
            ml: n as f64 * ml_per_voxel,
        }))
        .collect();
    out.sort_by(|a, b| a.value.total_cmp(&b.value));
    Ok(out)
}

/// Whether `v` looks like a label map: integer stored values (unscaled), non-negative, at most
/// 64 distinct ones. Reads every voxel.
pub fn looks_like_label_map(v: &Volume) -> bool {
    if v.dtype().is_float() || v.scaling().is_some_and(|s| !s.is_identity()) {
        return false;
    }
    match value_counts(v) {
        Ok(values) => values.len() <= 64 && values.iter().all(|l| l.value >= 0.0),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(shape: [usize; 3], spacing: [f64; 3], origin: [f64; 3]) -> GridInfo {
        GridInfo { shape, affine: Affine::from_spacing_origin(spacing, origin) }
    }

    #[test]
    fn verdicts() {
        let img = grid([20, 16, 8], [0.8, 0.8, 2.5], [-5.0, 3.0, 10.0]);
        let c = |l: &GridInfo| compare(&img, l, 0.01);
        assert_eq!(c(&img).verdict, Verdict::Aligned);
        assert_eq!(c(&grid([20, 16, 8], [0.8, 0.8, 2.5], [-5.0, 3.0, 12.5])).verdict, Verdict::Shifted);
        let half = c(&grid([20, 16, 8], [0.8, 0.8, 2.5], [-5.4, 3.0, 10.0]));
        assert_eq!(half.verdict, Verdict::Shifted);
        assert!(half.differences[0].contains("half a voxel along x"), "{:?}", half.differences);
        let crop = c(&grid([10, 8, 4], [0.8, 0.8, 2.5], [-5.0 + 0.8 * 3.0, 3.0 + 0.8, 10.0 + 2.5 * 2.0]));
        assert_eq!(crop.verdict, Verdict::Cropped);
        assert_eq!(crop.image_box, Some([[3, 12], [1, 8], [2, 5]]));
        assert!(crop.differences[0].contains("x 3..12, y 1..8, z 2..5"), "{:?}", crop.differences);
        assert_eq!(c(&grid([20, 16, 8], [1.0, 1.0, 1.0], [-5.0, 3.0, 10.0])).verdict, Verdict::Spacing);
        assert_eq!(c(&grid([20, 16, 8], [0.8, 0.8, 2.5], [500.0, 3.0, 10.0])).verdict, Verdict::NoOverlap);
        // The same voxels stored with x and y reversed (LPS beside RAS).
        let a = img.affine.rows();
        let lps = Affine::from_rows([
            [-a[0][0], 0.0, 0.0, a[0][3] + a[0][0] * 19.0],
            [0.0, -a[1][1], 0.0, a[1][3] + a[1][1] * 15.0],
            a[2],
            a[3],
        ]);
        let r = c(&GridInfo { shape: img.shape, affine: lps });
        assert_eq!(r.verdict, Verdict::Reoriented, "{:?}", r.differences);
        // A crop of the image's voxels stored with x reversed.
        let crop_lps = Affine::from_rows([[-a[0][0], 0.0, 0.0, a[0][3] + a[0][0] * 12.0], a[1], a[2], a[3]]);
        let r = c(&GridInfo { shape: [10, 16, 8], affine: crop_lps });
        assert_eq!(r.verdict, Verdict::Cropped, "{:?}", r.differences);
        assert_eq!(r.image_box, Some([[3, 12], [0, 15], [0, 7]]));
        // Reversed about the first voxel: only a sliver overlaps.
        let flipped = Affine::from_rows([[-a[0][0], 0.0, 0.0, a[0][3]], a[1], a[2], a[3]]);
        let f = c(&GridInfo { shape: img.shape, affine: flipped });
        assert_eq!(f.verdict, Verdict::Flipped, "{:?}", f.differences);
        assert!(f.differences[0].contains("flipped along x"), "{:?}", f.differences);
        // Rotated by 10 degrees about z.
        let (s, co) = (10f64.to_radians().sin(), 10f64.to_radians().cos());
        let rot = Affine::from_rows([
            [0.8 * co, -0.8 * s, 0.0, -5.0],
            [0.8 * s, 0.8 * co, 0.0, 3.0],
            [0.0, 0.0, 2.5, 10.0],
            [0.0, 0.0, 0.0, 1.0],
        ]);
        let r = c(&GridInfo { shape: img.shape, affine: rot });
        assert_eq!(r.verdict, Verdict::Rotated);
        assert!(r.differences[0].contains("10°"), "{:?}", r.differences);
    }

    #[test]
    fn counts_values_and_volumes() {
        let v = Volume::new(
            ctprep_io::VoxelData::from_vec(vec![0u8, 0, 1, 1, 1, 3, 0, 0]),
            &[2, 2, 2],
            Affine::from_spacing_origin([1.0, 2.0, 5.0], [0.0; 3]),
        )
        .expect("valid");
        let c = value_counts(&v).expect("labels");
        assert_eq!(c.iter().map(|l| (l.value, l.voxels)).collect::<Vec<_>>(), vec![(0.0, 4), (1.0, 3), (3.0, 1)]);
        assert!((c[1].ml - 0.03).abs() < 1e-12);
        assert!(looks_like_label_map(&v));
        let ct = Volume::new(
            ctprep_io::VoxelData::from_vec((0..2000).map(|i| i as i16 - 1000).collect::<Vec<_>>()),
            &[20, 10, 10],
            Affine::IDENTITY,
        )
        .expect("valid");
        assert!(value_counts(&ct).is_err());
        assert!(!looks_like_label_map(&ct));
    }
}
