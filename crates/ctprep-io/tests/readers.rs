//! Which transform SimpleITK (and so ITK-SNAP and 3D Slicer) reads, recorded by the fixture script
//! in `fixtures/nifti/readers.json`: for fixtures whose sform is sheared or disagrees with the
//! qform it reads the qform, which [`ctprep_io::qform_affine`] computes as it does; so a file
//! whose sform and qform agree is read alike by nibabel (the sform) and ITK (either).

use ctprep_io::{NiftiHeader, qform_affine, read_nifti, sform_affine};
use ctprep_testdata::fixtures_dir;
use serde_json::Value;

fn points(v: &Value) -> Vec<[f64; 3]> {
    v.as_array()
        .expect("corners")
        .iter()
        .map(|p| {
            let p: Vec<f64> = p.as_array().expect("point").iter().map(|x| x.as_f64().expect("number")).collect();
            [p[0], p[1], p[2]]
        })
        .collect()
}

/// The corner voxel centres in the order of Python's `itertools.product([0, nx-1], [0, ny-1], [0, nz-1])`.
fn corners(a: &ctprep_io::Affine, shape: [usize; 3]) -> Vec<[f64; 3]> {
    let mut out = Vec::new();
    for i in [0, shape[0] - 1] {
        for j in [0, shape[1] - 1] {
            for k in [0, shape[2] - 1] {
                out.push(a.apply([i as f64, j as f64, k as f64]));
            }
        }
    }
    out
}

fn max_distance(a: &[[f64; 3]], b: &[[f64; 3]]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(p, q)| (0..3).map(|k| (p[k] - q[k]).powi(2)).sum::<f64>().sqrt()).fold(0.0, f64::max)
}

#[test]
fn simpleitk_reads_the_transform_ctprep_says() {
    let dir = fixtures_dir();
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("nifti/readers.json")).expect("reference"))
        .expect("json");
    let files = doc["files"].as_array().expect("files");
    assert!(files.len() >= 5);
    let mut qform_reads = 0;
    for f in files {
        let rel = f["file"].as_str().expect("file");
        let v = read_nifti(dir.join(rel)).expect("reads");
        let h: &NiftiHeader = v.header();
        let shape = v.spatial_shape();
        let path = dir.join(rel);
        let ours_s = corners(&sform_affine(h, &path).expect("sform"), shape);
        let ours_q = corners(&qform_affine(h, &path).expect("qform"), shape);
        assert!(max_distance(&ours_s, &points(&f["nibabel_sform_corners"])) < 1e-6, "{rel}: sform");
        assert!(max_distance(&ours_q, &points(&f["nibabel_qform_corners"])) < 1e-6, "{rel}: qform");
        let itk = points(&f["simpleitk_corners"]);
        match f["simpleitk_reads"].as_str() {
            Some("sform") => assert!(max_distance(&ours_s, &itk) < 1e-4, "{rel}"),
            Some("qform") => {
                qform_reads += 1;
                assert!(max_distance(&ours_q, &itk) < 1e-4, "{rel}");
            }
            other => panic!("{rel}: SimpleITK reads {other:?}"),
        }
        if v.affine().is_sheared() {
            assert_eq!(f["simpleitk_reads"], "qform", "{rel}: a sheared sform is never what ITK reads");
        }
    }
    assert!(qform_reads >= 2, "the sheared and the disagreeing fixtures are read from the qform");
}
