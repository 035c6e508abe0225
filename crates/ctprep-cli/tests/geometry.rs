//! Output grids every reader agrees on (issue: sheared, gantry-tilted inputs). nibabel reads a
//! NIfTI file's sform; SimpleITK reads the qform when the sform is sheared or disagrees
//! (`ctprep-io/tests/readers.rs` pins that against SimpleITK). So every output ctprep chooses
//! the grid of must have a qform that agrees with its sform at the volume's corners, and an
//! orthonormal grid; a sheared input gets one that covers it.

mod common;

use std::path::{Path, PathBuf};

use common::{ctprep, s, stderr};
use ctprep_core::Affine;
use ctprep_io::{SliceReader, WriteOptions, qform_affine, read_nifti, sform_affine, write_nifti};
use ctprep_phantom::Phantom;

/// The corner voxel centres of a grid.
fn corners(a: &Affine, shape: [usize; 3]) -> Vec<[f64; 3]> {
    (0..8).map(|c| a.apply([0, 1, 2].map(|ax| if (c >> ax) & 1 == 0 { 0.0 } else { shape[ax] as f64 - 1.0 }))).collect()
}

/// How far apart (mm) a file's sform and qform put its farthest corner voxel centre.
fn sform_qform_mm(path: &Path) -> f64 {
    let r = SliceReader::open(path).expect("reads");
    let h = r.template().header();
    assert!(
        h.sform_code > 0 && h.qform_code > 0,
        "{}: both codes set ({}, {})",
        path.display(),
        h.sform_code,
        h.qform_code
    );
    let shape = r.dims3().expect("3-D");
    let (sf, qf) = (sform_affine(h, path).expect("sform"), qform_affine(h, path).expect("qform"));
    corners(&sf, shape)
        .iter()
        .zip(corners(&qf, shape))
        .map(|(p, q)| (0..3).map(|k| (p[k] - q[k]).powi(2)).sum::<f64>().sqrt())
        .fold(0.0, f64::max)
}

/// A phantom CT with `affine`'s linear part, written as a scanner writes a tilted CT: sform
/// sheared (code 2), qform the closest rotation (code 2, patched in: ctprep itself writes 0).
fn input(dir: &Path, name: &str, linear: [[f64; 3]; 3]) -> PathBuf {
    let ct = Phantom::new([40, 36, 24]).ct().expect("phantom");
    let ct = ct.with_affine(Affine::from_parts(linear, [-20.0, -18.0, -30.0])).expect("affine");
    let path = dir.join(name);
    write_nifti(&ct, &path, &WriteOptions::new()).expect("writes");
    let mut b = std::fs::read(&path).expect("reads");
    b[252..254].copy_from_slice(&2i16.to_le_bytes());
    std::fs::write(&path, b).expect("writes");
    path
}

fn tilted(deg: f64, flip_x: bool) -> [[f64; 3]; 3] {
    let t = deg.to_radians();
    [[if flip_x { -0.8 } else { 0.8 }, 0.0, 0.0], [0.0, 0.8, 2.0 * t.sin()], [0.0, 0.0, 2.0 * t.cos()]]
}

fn oblique() -> [[f64; 3]; 3] {
    let (s, c) = 0.4f64.sin_cos();
    [[0.8 * c, -0.8 * s, 0.0], [0.8 * s, 0.8 * c, 0.0], [0.0, 0.0, 2.0]]
}

/// Every input voxel centre lies within the output's voxel boxes (first-centre reaches half a
/// step past the last centre at most).
fn covers(input: &Path, output: &Path) {
    let i = SliceReader::open(input).expect("input");
    let o = SliceReader::open(output).expect("output");
    let (ishape, oshape) = (i.dims3().expect("3-D"), o.dims3().expect("3-D"));
    let inv = o.affine().inverse().expect("invertible");
    for w in corners(i.affine(), ishape) {
        let j = inv.apply(w);
        for ax in 0..3 {
            assert!(
                j[ax] >= -0.5 - 1e-6 && j[ax] <= oshape[ax] as f64 - 0.5 + 1e-6,
                "{}: input corner at output index {j:?} of {oshape:?}",
                output.display()
            );
        }
    }
}

#[test]
fn sheared_inputs_give_orthonormal_outputs_every_reader_agrees_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, linear, deg) in
        [("tilted.nii", tilted(20.0, false), 20.0), ("tilted_lps.nii", tilted(-12.0, true), 12.0)]
    {
        let ct = input(dir.path(), name, linear);
        let out = dir.path().join(format!("iso_{name}.gz"));
        let o = ctprep(&["resample", s(&ct), s(&out), "--spacing", "1", "--quiet"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("of shear removed"), "{name}");
        let a = *SliceReader::open(&out).expect("reads").affine();
        assert!(a.shear_degrees() < 1e-6, "{name}: {}", a.shear_degrees());
        assert!(sform_qform_mm(&out) < 1e-4, "{name}: {} mm", sform_qform_mm(&out));
        covers(&ct, &out);
        assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));

        let run_dir = dir.path().join(format!("run_{name}"));
        let o = ctprep(&["run", s(&ct), "--out", s(&run_dir), "--save", "volume,mip", "--quiet"]);
        assert!(o.status.success(), "{}", stderr(&o));
        for f in std::fs::read_dir(&run_dir).expect("outputs") {
            let p = f.expect("entry").path();
            assert!(sform_qform_mm(&p) < 1e-4, "{}", p.display());
            assert!(SliceReader::open(&p).expect("reads").affine().shear_degrees() < 1e-6);
        }

        // --keep-shear: the input's lattice; qform_code 0 (a qform cannot hold shear), with a warning.
        let kept = dir.path().join(format!("kept_{name}.gz"));
        let o = ctprep(&["resample", s(&ct), s(&kept), "--spacing", "1", "--keep-shear", "--quiet"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains("warning") && stderr(&o).contains("shear"), "{}", stderr(&o));
        let r = SliceReader::open(&kept).expect("reads");
        assert_eq!(r.template().header().qform_code, 0);
        assert!((r.affine().shear_degrees() - deg).abs() < 1e-3, "{name}: {}", r.affine().shear_degrees());
    }
}

/// Oblique inputs, and inputs whose axes are off perpendicular by less than ITK's own tolerance
/// (a cosine of 1e-5 here: direction cosines rounded to a few decimals), are resampled exactly
/// as before: the separable path, the same bytes whichever the shear policy, no warning.
#[test]
fn unsheared_inputs_are_resampled_as_before() {
    let dir = tempfile::tempdir().expect("temp dir");
    let nearly = {
        let c = 1e-5f64;
        [[0.8, 0.0, 0.0], [0.0, 0.8, 2.0 * c], [0.0, 0.0, 2.0 * (1.0 - c * c).sqrt()]]
    };
    for (name, linear) in [("oblique.nii", oblique()), ("nearly.nii", nearly)] {
        let ct = input(dir.path(), name, linear);
        let (a, b) = (dir.path().join("a.nii.gz"), dir.path().join("b.nii.gz"));
        for (out, extra) in [(&a, None), (&b, Some("--keep-shear"))] {
            let mut args = vec!["resample", s(&ct), s(out), "--spacing", "1.1", "--quiet"];
            args.extend(extra);
            let o = ctprep(&args);
            assert!(o.status.success(), "{}", stderr(&o));
            let summary = String::from_utf8_lossy(&o.stdout);
            assert!(summary.contains("separable path") && !summary.contains("shear"), "{name}: {summary}");
            assert!(!stderr(&o).contains("warning"), "{name}: {}", stderr(&o));
        }
        assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"), "{name}: the policy changes nothing");
        assert!(SliceReader::open(&a).expect("reads").template().header().qform_code > 0, "{name}");
        if name == "oblique.nii" {
            assert!(sform_qform_mm(&a) < 1e-4);
        }
    }
}

/// The gantry-tilted head CT of the shared data onto 1 mm: the grid and the HU values of scipy's
/// map_coordinates (order 1) at 3000 output voxels (fixtures/resample/shared_sheared.json), and
/// every NIfTI file of the shared data through `resample` and `run`: sform and qform agree.
#[test]
fn shared_data_outputs_agree_between_readers() {
    let Some(data) = ctprep_testdata::shared_data_dir("shared_data_outputs_agree_between_readers") else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ctprep_testdata::fixtures_dir().join("resample/shared_sheared.json"))
            .expect("reference"),
    )
    .expect("json");
    let src = data.join(reference["file"].as_str().expect("file"));
    let out = dir.path().join("head_1mm.nii.gz");
    let o = ctprep(&["resample", s(&src), s(&out), "--spacing", "1", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = read_nifti(&out).expect("reads");
    let want_shape: Vec<usize> =
        reference["output_shape"].as_array().expect("shape").iter().map(|x| x.as_u64().expect("n") as usize).collect();
    assert_eq!(v.shape(), &want_shape[..]);
    let want_affine: Vec<Vec<f64>> = serde_json::from_value(reference["output_affine"].clone()).expect("affine");
    for (r, want_row) in want_affine.iter().enumerate() {
        for (c, want) in want_row.iter().enumerate() {
            // Written as float32 (NIfTI-1): within its rounding of entries up to 120 mm.
            assert!((v.affine().0[r][c] - want).abs() < 2e-5, "affine [{r}][{c}]");
        }
    }
    let vals = v.view3::<f32>().expect("float32");
    let idx: Vec<Vec<usize>> = serde_json::from_value(reference["indices"].clone()).expect("indices");
    let want: Vec<f64> = serde_json::from_value(reference["values"].clone()).expect("values");
    let mut worst: f64 = 0.0;
    for (i, w) in idx.iter().zip(&want) {
        worst = worst.max((f64::from(vals[[i[0], i[1], i[2]]]) - w).abs());
    }
    // float32 blends of HU values up to 1800: a few thousandths of a HU.
    assert!(worst < 0.01, "max |ctprep - scipy| = {worst} HU");
    covers(&src, &out);
    assert!(sform_qform_mm(&out) < 1e-4);

    let mut checked = 0;
    for entry in std::fs::read_dir(data.join("ct")).expect("ct folder") {
        let p = entry.expect("entry").path();
        if !p.to_string_lossy().ends_with(".nii.gz") {
            continue;
        }
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        let out = dir.path().join(format!("r_{name}"));
        let o = ctprep(&["resample", s(&p), s(&out), "--spacing", "1.5", "--quiet"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(sform_qform_mm(&out) < 1e-4, "{name}: {} mm", sform_qform_mm(&out));
        let run_dir = dir.path().join(format!("run_{name}"));
        let o = ctprep(&["run", s(&p), "--out", s(&run_dir), "--save", "mip", "--spacing", "1.5", "--quiet"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        for f in std::fs::read_dir(&run_dir).expect("outputs") {
            let f = f.expect("entry").path();
            assert!(sform_qform_mm(&f) < 1e-4, "{}", f.display());
        }
        checked += 1;
    }
    assert!(checked >= 3, "the shared data's CT NIfTI files");
}
