//! `ctprep run` end to end: `--preset classic` against the classic Python recipe run by
//! fixtures/make_reference.py (nibabel + scipy RegularGridInterpolator + np.clip + the k-slice
//! loop, fixtures/pipeline/), the corrected defaults on a phantom, `--json`, and errors.

mod common;

use common::{ctprep, s, stderr};

use std::path::Path;

use ctprep_io::{WriteOptions, read_nifti, write_nifti};
use ctprep_phantom::Phantom;
use ctprep_testdata::fixtures_dir;
use serde_json::Value;

fn values(path: &Path) -> (Vec<f32>, [usize; 3], [[f64; 4]; 4]) {
    let v = read_nifti(path).expect("reads");
    (v.scaled_f32(), v.dims3().expect("3-D"), v.affine().rows())
}

#[test]
fn classic_preset_reproduces_the_python_recipe() {
    let dir = fixtures_dir().join("pipeline");
    let (want_iso, shape, want_affine) = values(&dir.join("classic_iso.nii.gz"));
    let (want_mip, mip_shape, _) = values(&dir.join("classic_mip.nii.gz"));
    assert_eq!(shape, [31, 28, 28]);
    for input in ["classic_input.nii.gz", "classic_input_u16.nii.gz"] {
        for variant in ["scalar", "simd", "parallel", "auto"] {
            let tmp = tempfile::tempdir().expect("temp dir");
            let out = ctprep(&[
                "run",
                s(&dir.join(input)),
                "--out",
                s(tmp.path()),
                "--preset",
                "classic",
                "--save",
                "volume,mip",
                "--variant",
                variant,
                "--json",
            ]);
            assert!(out.status.success(), "{input} {variant}: {}", stderr(&out));
            let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
            let stem = input.trim_end_matches(".nii.gz");
            let (iso, got_shape, affine) = values(&tmp.path().join(format!("{stem}_window.nii.gz")));
            let (mip, got_mip_shape, mip_affine) = values(&tmp.path().join(format!("{stem}_mip.nii.gz")));
            assert_eq!((got_shape, got_mip_shape), (shape, mip_shape), "{input} {variant}");
            for (what, got, want) in [("iso", &iso, &want_iso), ("mip", &mip, &want_mip)] {
                let worst = got.iter().zip(want.iter()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(worst <= 1e-4, "{input} {variant} {what}: differs from the recipe by {worst}");
            }
            for (a, b) in [(affine, want_affine), (mip_affine, want_affine)] {
                for r in 0..4 {
                    for c in 0..4 {
                        assert!((a[r][c] - b[r][c]).abs() <= 1e-5, "{input}: affine {a:?} vs {b:?}");
                    }
                }
            }
            assert_eq!(doc["output_shape"], serde_json::json!([31, 28, 28]));
            assert_eq!(doc["convention"], "seed");
            assert_eq!(doc["mip_edges"], "zero");
            for stage in ["read", "stream", "total"] {
                assert!(doc["timings_s"][stage].as_f64().is_some_and(|t| t >= 0.0), "timing of {stage}");
            }
            for stage in ["resample", "window", "mip", "compress", "write", "read"] {
                assert!(doc["cpu_s"][stage].as_f64().is_some_and(|t| t >= 0.0), "thread time of {stage}");
            }
            let parallel = doc["variants"]["mip"].as_str().is_some_and(|v| v.ends_with("parallel slabs"));
            // Parallel slabs need more than one worker (the child's pool is sized as this one).
            let workers = rayon::current_num_threads() > 1;
            assert_eq!(parallel, workers && matches!(variant, "parallel" | "auto"), "{variant}: {}", doc["variants"]);
            // This phantom is too thin to stream (a window would need most of it).
            assert_eq!(doc["variants"]["read"], "whole volume", "{variant}");
            assert_eq!(doc["outputs"]["mip"][0].as_str().map(|p| p.ends_with("_mip.nii.gz")), Some(true));
        }
    }
}

#[test]
fn corrected_defaults_reorient_resample_and_keep_every_slice() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let ct = tmp.path().join("ct.nii.gz");
    let phantom = Phantom::new([48, 40, 14]).spacing_mm([0.78, 0.78, 2.5]).axcodes("LPS".parse().expect("codes"));
    write_nifti(&phantom.ct().expect("phantom"), &ct, &WriteOptions::new()).expect("writes");
    let out_dir = tmp.path().join("out");
    let out = ctprep(&["run", s(&ct), "--out", s(&out_dir), "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for png in ["ct_mip_axial.png", "ct_mip_coronal.png", "ct_mip_sagittal.png", "ct_mip_sheet.png"] {
        let bytes = std::fs::read(out_dir.join(png)).expect("the default --save writes the PNGs");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{png} is a PNG");
        assert!(text.contains(png), "the summary names {png}");
    }
    let w = read_nifti(out_dir.join("ct_window.nii.gz")).expect("windowed volume");
    let m = read_nifti(out_dir.join("ct_mip.nii.gz")).expect("mip");
    assert_eq!(w.axcodes_string(), "RAS", "canonical by default");
    assert_eq!(m.dims3().expect("3-D"), w.dims3().expect("3-D"), "shrink edges keep every slice");
    let sp = w.spacing();
    assert!(sp.iter().all(|s| (s - 1.0).abs() < 1e-5), "1 mm: {sp:?}");
    // Windowed to [0, 1], and the MIP of the last slice is not the classic recipe's 0.
    let wv = w.scaled_f32();
    assert!(wv.iter().all(|v| (0.0..=1.0).contains(v)));
    let mv = m.scaled_f32();
    let [nx, ny, nz] = m.dims3().expect("3-D");
    let last = &mv[(nz - 1) * nx * ny..];
    assert!(last.iter().any(|&v| v > 0.0));
    // A world point keeps its place: the input's centre voxel lies inside the output grid.
    let centre = phantom.ct().expect("phantom").affine().apply([23.5, 19.5, 6.5]);
    let idx = w.affine().inverse().expect("invertible").apply(centre);
    for (i, n) in idx.iter().zip(w.dims3().expect("3-D")) {
        assert!(*i > 0.0 && *i < n as f64 - 1.0, "{idx:?}");
    }
    // MIP >= windowed value everywhere (a max over a window that contains the slice).
    assert!(mv.iter().zip(&wv).all(|(m, w)| m >= w));
}

/// `--json` says how the input was decoded: ctprep's own `.nii.gz` (over 1 MiB, so with a piece
/// index) in independent pieces, the same bytes gzipped without an index as one serial stream;
/// the outputs hold the same voxels either way.
#[test]
fn json_names_the_gzip_decoding_and_the_outputs_do_not_depend_on_it() {
    use std::io::Read;
    let tmp = tempfile::tempdir().expect("temp dir");
    let indexed = tmp.path().join("ct.nii.gz");
    let phantom = Phantom::new([128, 128, 120]).spacing_mm([0.78, 0.78, 2.5]).axcodes("LPS".parse().expect("codes"));
    write_nifti(&phantom.ct().expect("phantom"), &indexed, &WriteOptions::new()).expect("writes");
    let mut raw = Vec::new();
    let file = std::fs::File::open(&indexed).expect("opens");
    ctprep_gzip::GzipReader::new(file).read_to_end(&mut raw).expect("decodes");
    let plain = tmp.path().join("plain.nii.gz");
    let mut gz = Vec::new();
    ctprep_gzip::write_gzip(&mut gz, &[], &raw, 6).expect("compresses");
    std::fs::write(&plain, gz).expect("writes");
    let mut windows = Vec::new();
    for (input, how) in [(&indexed, "gzip in independent pieces (libdeflate)"), (&plain, "gzip, one serial stream")] {
        let out_dir = tmp.path().join(format!("out_{}", windows.len()));
        let out = ctprep(&["run", s(input), "--out", s(&out_dir), "--save", "volume", "--json", "--quiet"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(doc["variants"]["read"], format!("slab by slab, on its own thread; {how}"), "{}", input.display());
        let stem = input.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".nii.gz")).expect("a stem");
        let w = read_nifti(out_dir.join(format!("{stem}_window.nii.gz"))).expect("windowed volume");
        windows.push(w.data().as_bytes().to_vec());
    }
    assert!(windows[0] == windows[1], "the decoding changed the output");
}

#[test]
fn run_errors() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = tmp.path().join("missing.nii.gz");
    let out = ctprep(&["run", s(&missing), "--out", s(&tmp.path().join("o"))]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error:") && err.contains("missing.nii.gz"), "{err}");
    for bad in [
        vec!["--mip", "0"],
        vec!["--window", "5,5"],
        vec!["--preset", "nonsense"],
        vec!["--preset", "lung", "--window", "0,1"],
        vec!["--spacing", "0"],
        vec!["--save", "everything"],
        vec!["--mip", "3", "--mip-mm", "4"],
    ] {
        let mut args = vec!["run", s(&missing), "--out", s(tmp.path())];
        args.extend(bad.iter());
        let out = ctprep(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
}
