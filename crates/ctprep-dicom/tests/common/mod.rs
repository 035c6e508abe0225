//! What the DICOM tests share: the comparison with SimpleITK's recorded view of a series.

use ctprep_dicom::Series;
use serde_json::Value;

pub(crate) fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

/// `s` lies where SimpleITK's ImageSeriesReader put it (`theirs`: size where recorded, spacing,
/// direction, origin in LPS) within 1e-4 mm, with the same real values (their sum, and their
/// sampled voxels where recorded). A single slice compares its in-plane columns only:
/// SimpleITK takes 1 mm for the third axis, ctprep SliceThickness (the rule; a note
/// says so).
pub(crate) fn same_as_simpleitk(name: &str, s: &Series, theirs: &Value) {
    let g = s.geometry().unwrap_or_else(|e| panic!("{name}: {e}"));
    if let Some(size) = theirs["size"].as_array() {
        let size: Vec<usize> = size.iter().map(|v| v.as_f64().expect("number") as usize).collect();
        assert_eq!(g.shape.to_vec(), size, "{name}");
    }
    let (sp, d, o) = (floats(&theirs["spacing"]), floats(&theirs["direction"]), floats(&theirs["origin"]));
    for r in 0..3 {
        let ras = if r < 2 { -1.0 } else { 1.0 };
        for c in 0..if s.slices.len() == 1 { 2 } else { 3 } {
            let want = ras * d[3 * r + c] * sp[c];
            assert!((g.affine.0[r][c] - want).abs() < 1e-4, "{name}: {:?} vs {theirs}", g.affine);
        }
        assert!((g.affine.0[r][3] - ras * o[r]).abs() < 1e-4, "{name}: {:?} vs {theirs}", g.affine);
    }
    let real = s.read().unwrap_or_else(|e| panic!("{name}: {e}")).scaled_f32();
    let sum: f64 = real.iter().map(|&x| f64::from(x)).sum();
    let want = theirs["sum"].as_f64().expect("sum");
    assert!((sum - want).abs() <= 1e-6 * want.abs().max(1.0), "{name}: sum {sum} vs SimpleITK {want}");
    let [nx, ny, _] = g.shape;
    if let (Some(at), Some(_)) = (theirs["sample_indices"].as_array(), theirs["samples"].as_array()) {
        for (ijk, w) in at.iter().zip(floats(&theirs["samples"])) {
            let i: Vec<usize> = floats(ijk).iter().map(|&v| v as usize).collect();
            let got = f64::from(real[i[0] + nx * (i[1] + ny * i[2])]);
            assert!((got - w).abs() < 1e-3, "{name}: voxel {i:?}: {got} vs SimpleITK {w}");
        }
    }
}
