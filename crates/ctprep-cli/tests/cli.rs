//! The `ctprep` binary end to end: `info --json` and `convert --axcodes canonical` agree with
//! nibabel on every fixture and shared file; `window`, `mip` and `resample` write what their
//! library calls compute, on the right grid; exit codes, error messages and the
//! no-partial-output rule hold on bad input.

mod common;

use common::{ctprep, s, stderr};

use std::path::{Path, PathBuf};

use ctprep_core::Affine;
use ctprep_io::{DataType, Scaling, Volume, VoxelData, WriteOptions, read_nifti, write_nifti};
use ctprep_phantom::{Phantom, StoredType};
use ctprep_resample::{
    Grid, GridConvention, Report, Trilinear, Variant as ResampleVariant, plan_like, plan_spacing,
    resample_linear_slice_into, resample_nearest_slice_into,
};
use ctprep_testdata::{Mismatches, Reference, fixtures_dir, load_reference, sha256_hex, shared_data_dir};
use serde_json::Value;

const INFO_KEYS: [&str; 17] = [
    "path",
    "format",
    "shape",
    "datatype",
    "byte_order",
    "spacing",
    "affine",
    "axcodes",
    "qform_code",
    "sform_code",
    "scl_slope",
    "scl_inter",
    "min",
    "max",
    "mean",
    "shear_degrees",
    "sform_qform_mm",
];

fn json_f64(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// `info --json` and `convert --axcodes canonical` for every file of a reference.
fn check_cli(reference: &Reference, base: &Path) -> (Mismatches, usize) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut m = Mismatches::default();
    let mut n = 0;
    for (i, f) in reference.files.iter().enumerate() {
        let path = base.join(&f.path);
        let name = f.path.as_str();
        n += 1;
        let out = ctprep(&["info", s(&path), "--json"]);
        let Some(e) = &f.ok else {
            m.check(out.status.code() == Some(1), || format!("{name}: info exit {:?}, expected 1", out.status.code()));
            let err = stderr(&out);
            m.check(
                err.starts_with("error: ") && err.contains(path.file_name().and_then(|x| x.to_str()).unwrap_or("?")),
                || format!("{name}: stderr does not start with 'error:' and name the file: {err}"),
            );
            m.check(out.stdout.is_empty(), || format!("{name}: info printed to stdout on error"));
            continue;
        };
        if !out.status.success() {
            m.0.push(format!("{name}: info failed: {}", stderr(&out)));
            continue;
        }
        let j: Value = match serde_json::from_slice(&out.stdout) {
            Ok(j) => j,
            Err(err) => {
                m.0.push(format!("{name}: info --json is not JSON: {err}"));
                continue;
            }
        };
        let mut keys: Vec<&str> = j.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        keys.sort_unstable();
        let mut want = INFO_KEYS.to_vec();
        want.sort_unstable();
        m.check(keys == want, || format!("{name}: keys {keys:?}, expected exactly {INFO_KEYS:?}"));
        m.check(j["format"] == e.format.as_str(), || format!("{name}: format {}", j["format"]));
        m.check(j["datatype"] == e.datatype.as_str(), || format!("{name}: datatype {}", j["datatype"]));
        m.check(j["byte_order"] == e.byte_order.as_str(), || format!("{name}: byte_order {}", j["byte_order"]));
        m.check(j["axcodes"] == e.axcodes.as_str(), || {
            format!("{name}: axcodes {}, nibabel {}", j["axcodes"], e.axcodes)
        });
        let shape: Vec<usize> = j["shape"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_u64().map(|u| u as usize)).collect())
            .unwrap_or_default();
        m.check(shape == e.shape, || format!("{name}: shape {shape:?}, nibabel {:?}", e.shape));
        m.check(
            j["qform_code"].as_i64() == Some(e.qform_code) && j["sform_code"].as_i64() == Some(e.sform_code),
            || format!("{name}: codes {} {}", j["qform_code"], j["sform_code"]),
        );
        let mut aff = [[f64::NAN; 4]; 4];
        for (r, row) in aff.iter_mut().enumerate() {
            for (c, x) in row.iter_mut().enumerate() {
                *x = json_f64(&j["affine"][r][c]).unwrap_or(f64::NAN);
            }
        }
        m.affine(name, "info affine", &aff, &e.affine, 1e-6);
        m.close(name, "min", json_f64(&j["min"]), e.min, 1e-5);
        m.close(name, "max", json_f64(&j["max"]), e.max, 1e-5);
        m.close(name, "mean", json_f64(&j["mean"]), e.mean, 1e-5);
        m.check(j["spacing"].as_array().is_some_and(|a| a.len() == 3), || format!("{name}: spacing {}", j["spacing"]));

        let Some(c) = &e.canonical else { continue };
        let dst = tmp.path().join(format!("canon{i}.v2.nii.gz"));
        let out = ctprep(&["convert", s(&path), s(&dst), "--axcodes", "canonical"]);
        if !out.status.success() {
            m.0.push(format!("{name}: convert failed: {}", stderr(&out)));
            continue;
        }
        match read_nifti(&dst) {
            Ok(v) => {
                m.check(v.shape() == c.shape.as_slice(), || format!("{name}: converted shape {:?}", v.shape()));
                // NIfTI-1 stores the affine as float32, so the written one matches to float32 rounding.
                m.affine_f32(name, "converted affine", &v.affine().rows(), &c.affine, 1e-6);
                m.check(v.axcodes_string() == c.axcodes, || {
                    format!("{name}: converted axcodes {}", v.axcodes_string())
                });
                m.check(sha256_hex(v.data().as_bytes()) == c.raw_sha256, || {
                    format!("{name}: converted data differ from nibabel's canonical")
                });
            }
            Err(err) => m.0.push(format!("{name}: cannot read the converted file: {err}")),
        }
    }
    (m, n)
}

#[test]
fn info_and_convert_agree_with_nibabel_on_fixtures() {
    let dir = fixtures_dir();
    let reference = load_reference(&dir.join("nifti/reference.json")).expect("reference.json");
    let (m, n) = check_cli(&reference, &dir);
    m.finish(n);
}

#[test]
fn info_and_convert_agree_with_nibabel_on_shared_data() {
    let Some(shared) = shared_data_dir("info_and_convert_agree_with_nibabel_on_shared_data") else {
        return;
    };
    let reference = load_reference(&fixtures_dir().join("shared_expectations.json")).expect("shared_expectations.json");
    let (m, n) = check_cli(&reference, &shared);
    m.finish(n);
}

fn write_phantom(dir: &Path) -> PathBuf {
    let p = dir.join("ct.nii.gz");
    let out = ctprep(&["demo", s(dir), "--shape", "24,20,8"]);
    assert!(out.status.success(), "demo failed: {}", stderr(&out));
    std::fs::rename(dir.join("phantom_ct.nii.gz"), &p).expect("rename");
    p
}

#[test]
fn demo_writes_its_outputs() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = ctprep(&["demo", s(tmp.path()), "--shape", "32,24,10"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("axcodes     LPS"), "{text}");
    for f in ["phantom_ct.nii.gz", "phantom_labels.nii.gz", "phantom_window.nii.gz", "phantom_mip.nii.gz"] {
        assert!(tmp.path().join(f).is_file(), "{f} missing");
        assert!(text.contains(f), "the demo names {f}: {text}");
    }
    // The run's outputs: 1 mm, RAS, windowed to [0, 1].
    let w = read_nifti(tmp.path().join("phantom_window.nii.gz")).expect("reads");
    assert_eq!(w.axcodes_string(), "RAS");
    assert!(w.spacing().iter().all(|s| (s - 1.0).abs() < 1e-5));
    assert!(w.scaled_f32().iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn convert_dtype_and_axcodes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let src = write_phantom(tmp.path());
    let v = read_nifti(&src).expect("reads");
    let dst = tmp.path().join("ct.f32.pir.nii");
    let out = ctprep(&["convert", s(&src), s(&dst), "--axcodes", "PIR", "--dtype", "f32"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let w = read_nifti(&dst).expect("reads");
    assert_eq!(w.axcodes_string(), "PIR");
    assert_eq!(w.dtype(), ctprep_io::DataType::F32);
    // Back to LPS, the values equal the original's real values.
    let back = w.to_axcodes("LPS".parse().expect("codes")).expect("reorients");
    assert_eq!(back.scaled_f32(), v.scaled_f32());
    assert!(back.affine().max_abs_diff(v.affine()) < 1e-5);

    // u8 cannot hold HU: a clear error, exit 1, and no output file.
    let bad = tmp.path().join("ct_u8.nii.gz");
    let out = ctprep(&["convert", s(&src), s(&bad), "--dtype", "u8"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: ") && stderr(&out).contains("outside its range"), "{}", stderr(&out));
    assert!(!bad.exists());
}

#[test]
fn bad_input_gives_exit_1_naming_the_file_and_no_output() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let src = write_phantom(tmp.path());
    let bytes = std::fs::read(&src).expect("read");
    let cut = tmp.path().join("cut.nii.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let dst = tmp.path().join("never.nii.gz");
    let out = ctprep(&["convert", s(&cut), s(&dst)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: ") && err.contains("cut.nii.gz") && err.contains("ends inside"), "{err}");
    assert!(!dst.exists(), "a failed convert must leave no output");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".ctprep-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");

    let out = ctprep(&["info", s(&tmp.path().join("missing.nii"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: ") && stderr(&out).contains("missing.nii"));

    // Writing onto the input is refused and leaves the input intact.
    let out = ctprep(&["convert", s(&src), s(&src), "--axcodes", "canonical"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("refusing to write onto the input"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&src).expect("read"), bytes);

    let out = ctprep(&["convert", s(&src), s(&tmp.path().join("out.png"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(".nii, .nii.gz, .nrrd or .nhdr"));
}

#[test]
fn usage_errors_exit_2_and_help_teaches() {
    for args in [
        vec!["convert", "a.nii"],
        vec!["convert", "a.nii", "b.nii", "--gzip-level", "12"],
        vec!["convert", "a.nii", "b.nii", "--axcodes", "RAX"],
        vec!["convert", "a.nii", "b.nii", "--dtype", "complex64"],
        vec!["frobnicate"],
    ] {
        let out = ctprep(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = ctprep(&["convert", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["--axcodes", "canonical", "--dtype", "--gzip-level", "world position"] {
        assert!(help.contains(word), "convert --help lacks {word}: {help}");
    }
}

#[test]
fn window_keeps_geometry_and_matches_the_library() {
    use ctprep_intensity::{Window, WindowMap, scalar};
    let tmp = tempfile::tempdir().expect("temp dir");
    let src = write_phantom(tmp.path());
    let v = read_nifti(&src).expect("reads");
    for (args, dtype) in [
        (vec!["--window", "-100,1000"], "f32"),
        (vec!["--level", "40", "--width", "400", "--range", "-1,1"], "f32"),
        (vec!["--preset", "lung", "--dtype", "u8", "--variant", "scalar"], "u8"),
        (vec!["--preset", "bone", "--dtype", "u16", "--variant", "parallel"], "u16"),
    ] {
        let dst = tmp.path().join(format!("w_{dtype}_{}.nii.gz", args.len()));
        let mut all = vec!["window", s(&src), s(&dst)];
        all.extend(args.iter().copied());
        let out = ctprep(&all);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let w = read_nifti(&dst).expect("reads");
        assert_eq!(w.shape(), v.shape());
        assert_eq!(w.affine(), v.affine(), "{args:?}: the affine must be kept exactly");
        assert_eq!(w.xform_codes(), v.xform_codes());
        assert_eq!(w.dtype().short_name(), dtype);
        // The values are the library's scalar result on the stored data.
        let stored = v.data().as_slice::<i16>().expect("int16 phantom");
        let window = match args[1] {
            "-100,1000" => Window::new(-100.0, 1000.0),
            "40" => Window::from_level_width(40.0, 400.0),
            "lung" => Window::preset("lung"),
            _ => Window::preset("bone"),
        }
        .expect("window");
        match dtype {
            "f32" => {
                let range = if args.contains(&"--range") {
                    Some(ctprep_intensity::Range::new(-1.0, 1.0).expect("range"))
                } else {
                    None
                };
                let map = WindowMap::for_output::<f32>(window, range, None).expect("map");
                let mut want = vec![0f32; stored.len()];
                scalar::window(stored, &map, &mut want);
                assert_eq!(w.data().as_slice::<f32>(), Some(&want[..]), "{args:?}");
            }
            "u8" => {
                let map = WindowMap::for_output::<u8>(window, None, None).expect("map");
                let mut want = vec![0u8; stored.len()];
                scalar::window(stored, &map, &mut want);
                assert_eq!(w.data().as_slice::<u8>(), Some(&want[..]), "{args:?}");
            }
            _ => {
                let map = WindowMap::for_output::<u16>(window, None, None).expect("map");
                let mut want = vec![0u16; stored.len()];
                scalar::window(stored, &map, &mut want);
                assert_eq!(w.data().as_slice::<u16>(), Some(&want[..]), "{args:?}");
            }
        }
    }
    // Usage errors: exit 2; bad input: exit 1 naming the file; nothing written.
    let dst = tmp.path().join("never.nii.gz");
    for bad in [
        vec!["--window", "5,1"],
        vec!["--window", "0,1", "--preset", "lung"],
        vec!["--preset", "nope"],
        vec!["--level", "40"],
        vec!["--window", "-1,1", "--dtype", "u8", "--range", "0,2"],
        vec![],
    ] {
        let mut all = vec!["window", s(&src), s(&dst)];
        all.extend(bad.iter().copied());
        let out = ctprep(&all);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert!(!dst.exists());
    }
    let out = ctprep(&["window", s(&tmp.path().join("missing.nii")), s(&dst), "--preset", "lung"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.nii"));
}

#[test]
fn mip_values_geometry_and_errors() {
    use ctprep_projection::{Align, Edges, SlabProjection, Variant, project_slice_into};
    let tmp = tempfile::tempdir().expect("temp dir");
    let src = write_phantom(tmp.path()); // 24 x 20 x 8, LPS, 0.78 x 0.78 x 2.5 mm
    let v = read_nifti(&src).expect("reads");
    let shape = v.dims3().expect("3-D");
    for (args, p) in [
        (vec!["--slab", "3"], SlabProjection::new(3)),
        (
            vec!["--slab-mm", "5", "--align", "centre", "--stride", "2"],
            SlabProjection::new(2).align(Align::Centre).stride(2),
        ),
        (vec!["--slab", "4", "--edges", "zero", "--reduce", "min", "--axis", "x"], {
            SlabProjection::new(4)
                .edges(Edges::Zero)
                .reduce(ctprep_projection::Reduce::Min)
                .axis(ctprep_projection::Axis3::X)
        }),
    ] {
        let dst = tmp.path().join(format!("mip{}.nii.gz", args.len()));
        let mut all = vec!["mip", s(&src), s(&dst)];
        all.extend(args.iter().copied());
        let out = ctprep(&all);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let w = read_nifti(&dst).expect("reads");
        let a = p.get_axis().index();
        let mut out_shape = shape;
        out_shape[a] = p.output_len(shape[a]).expect("len");
        assert_eq!(w.shape(), &out_shape[..], "{args:?}");
        let mut want = vec![0f32; out_shape.iter().product()];
        project_slice_into(&v.scaled_f32(), shape, &p, &mut want, Variant::Scalar.exec()).expect("projects");
        assert_eq!(w.data().as_slice::<f32>(), Some(&want[..]), "{args:?}");
        // The output overlays the input: slice j sits at input position output_position(j).
        for j in 0..out_shape[a] {
            let mut idx = [0.0; 3];
            idx[a] = j as f64;
            let mut src_idx = [0.0; 3];
            src_idx[a] = p.output_position(j);
            let (pw, pv) = (w.affine().apply(idx), v.affine().apply(src_idx));
            assert!((0..3).all(|i| (pw[i] - pv[i]).abs() < 1e-4), "{args:?} slice {j}: {pw:?} vs {pv:?}");
        }
    }
    // --whole: one slice at the axis centre.
    let dst = tmp.path().join("whole.nii.gz");
    let out = ctprep(&["mip", s(&src), s(&dst), "--whole", "--axis", "z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let w = read_nifti(&dst).expect("reads");
    assert_eq!(w.shape(), &[shape[0], shape[1], 1]);
    let centre = v.affine().apply([0.0, 0.0, (shape[2] as f64 - 1.0) / 2.0]);
    assert!((w.affine().apply([0.0; 3])[2] - centre[2]).abs() < 1e-4);
    // Errors: usage (exit 2) and impossible requests (exit 1), nothing written.
    let bad = tmp.path().join("never.nii.gz");
    for (args, code) in [
        (vec!["--slab", "0"], 2),
        (vec![], 2),
        (vec!["--slab", "3", "--whole"], 2),
        (vec!["--slab", "3", "--axis", "w"], 2),
        (vec!["--slab", "3", "--stride", "0"], 2),
        (vec!["--slab", "99", "--edges", "valid"], 1),
    ] {
        let mut all = vec!["mip", s(&src), s(&bad)];
        all.extend(args.iter().copied());
        let out = ctprep(&all);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(!bad.exists());
    }
}

/// The resample tests' CT: 40 x 36 x 12 voxels of 0.78 x 0.78 x 2.5 mm, stored LPS as a
/// scanner stores it.
fn resample_phantom() -> Phantom {
    Phantom::new([40, 36, 12]).spacing_mm([0.78, 0.78, 2.5]).axcodes("LPS".parse().expect("codes")).seed(3)
}

/// Writes `v` to `dir/name` and reads it back (the affine as NIfTI stores it, float32).
fn write_volume(dir: &Path, name: &str, v: &Volume) -> (PathBuf, Volume) {
    let p = dir.join(name);
    write_nifti(v, &p, &WriteOptions::new()).expect("writes");
    let back = read_nifti(&p).expect("reads back");
    (p, back)
}

/// Runs `ctprep resample IN OUT ARGS...`, asserting success; returns stdout.
fn resample_ok(src: &Path, dst: &Path, args: &[&str]) -> String {
    let mut all = vec!["resample", s(src), s(dst)];
    all.extend_from_slice(args);
    let out = ctprep(&all);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The library's trilinear result on the stored values (scaling fused), as the CLI calls it.
fn library_linear<T: ctprep_resample::Voxel>(
    src: &[T],
    plan: &ctprep_resample::Plan,
    opts: &Trilinear,
    variant: ResampleVariant,
) -> (Vec<f32>, Report) {
    let mut want = vec![0f32; plan.output_len()];
    let report = resample_linear_slice_into(src, plan, opts, &mut want, variant.exec()).expect("resamples");
    (want, report)
}

#[test]
fn resample_spacing_matches_the_library() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (src, v) = write_volume(tmp.path(), "ct.nii.gz", &resample_phantom().ct().expect("phantom"));
    let shape = v.dims3().expect("3-D");
    let stored = v.data().as_slice::<i16>().expect("int16 phantom");
    for (args, variant, fill) in [
        (vec!["--spacing", "1", "--variant", "scalar"], ResampleVariant::Scalar, None),
        (vec!["--spacing", "1", "--variant", "simd"], ResampleVariant::Simd, None),
        (vec!["--spacing", "1", "--variant", "parallel"], ResampleVariant::Parallel, None),
        (vec!["--spacing", "1", "--variant", "simd", "--fill", "-1024"], ResampleVariant::Simd, Some(-1024.0)),
    ] {
        let dst = tmp.path().join(format!("ct_1mm_{variant}_{}.nii.gz", args.len()));
        let stdout = resample_ok(&src, &dst, &args);
        let plan = plan_spacing(shape, v.affine(), [1.0; 3], GridConvention::FirstCentre).expect("plans");
        let w = read_nifti(&dst).expect("reads");
        assert_eq!(w.shape(), &plan.grid.shape[..], "{args:?}");
        assert!(w.affine().max_abs_diff(&plan.grid.affine) < 1e-4, "{args:?}: {:?}", w.affine());
        assert_eq!(w.dtype(), DataType::F32);
        assert!(w.scaling().is_none());
        let (want, report) = library_linear(stored, &plan, &Trilinear::new().fill(fill), variant);
        assert_eq!(w.data().as_slice::<f32>(), Some(&want[..]), "{args:?}");
        // The scalar oracle runs the general per-voxel loop; the others the separable path.
        let path = if variant == ResampleVariant::Scalar { "general" } else { "separable" };
        assert_eq!(report.path.to_string(), path);
        let line = format!(
            "{shape:?} -> {:?}, spacing [1, 1, 1] mm (first-centre), linear, {} ({}), ",
            plan.grid.shape,
            report.kernel,
            report.isa.name()
        );
        assert!(stdout.contains(&format!(", {path} path")), "{stdout}");
        assert!(stdout.starts_with(&format!("wrote {}: ", dst.display())) && stdout.contains(&line), "{stdout}");
    }
}

#[test]
fn resample_each_convention_gives_the_planned_grid() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (src, v) = write_volume(tmp.path(), "ct.nii.gz", &resample_phantom().ct().expect("phantom"));
    let shape = v.dims3().expect("3-D");
    let spacing = [1.1, 0.9, 1.7];
    let mut shapes = Vec::new();
    for c in GridConvention::ALL {
        let dst = tmp.path().join(format!("ct_{c}.nii"));
        let stdout = resample_ok(&src, &dst, &["--spacing", "1.1,0.9,1.7", "--convention", c.name()]);
        let plan = plan_spacing(shape, v.affine(), spacing, c).expect("plans");
        let w = read_nifti(&dst).expect("reads");
        assert_eq!(w.shape(), &plan.grid.shape[..], "{c}");
        assert!(w.affine().max_abs_diff(&plan.grid.affine) < 1e-4, "{c}: {:?}", w.affine());
        assert!(stdout.contains(&format!("({c})")), "{stdout}");
        shapes.push(plan.grid.shape);
    }
    shapes.dedup();
    assert!(shapes.len() > 1, "the spacing should tell the conventions apart: {shapes:?}");
}

#[test]
fn resample_like_takes_the_reference_grid() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (src, v) = write_volume(tmp.path(), "ct.nii.gz", &resample_phantom().ct().expect("phantom"));
    let shape = v.dims3().expect("3-D");
    let stored = v.data().as_slice::<i16>().expect("int16 phantom");
    // Another placement and orientation: RAS, other spacing and field of view.
    let ras = Phantom::new([30, 26, 10]).spacing_mm([1.1, 0.9, 2.0]).labels().expect("phantom");
    // An oblique grid: 20 degrees about z, 1.5 mm voxels, shifted.
    let (c, sn) = (20f64.to_radians().cos(), 20f64.to_radians().sin());
    let oblique = Affine::from_parts(
        [[1.5 * c, -1.5 * sn, 0.0], [1.5 * sn, 1.5 * c, 0.0], [0.0, 0.0, 2.0]],
        [-12.0, -15.0, -10.0],
    );
    let oblique = Volume::new(VoxelData::from_vec(vec![0u8; 16 * 14 * 9]), &[16, 14, 9], oblique).expect("volume");
    for (name, reference, path) in [("ras", ras, "separable"), ("oblique", oblique, "general")] {
        let (ref_path, r) = write_volume(tmp.path(), &format!("{name}.nii.gz"), &reference);
        let dst = tmp.path().join(format!("ct_on_{name}.nii.gz"));
        let stdout = resample_ok(&src, &dst, &["--like", s(&ref_path), "--variant", "simd"]);
        let w = read_nifti(&dst).expect("reads");
        assert_eq!(w.shape(), r.shape(), "{name}");
        assert!(w.affine().max_abs_diff(r.affine()) < 1e-5, "{name}: {:?} vs {:?}", w.affine(), r.affine());
        let grid = Grid { shape: r.dims3().expect("3-D"), affine: *r.affine() };
        let plan = plan_like(shape, v.affine(), grid).expect("plans");
        let (want, report) = library_linear(stored, &plan, &Trilinear::new(), ResampleVariant::Simd);
        assert_eq!(w.data().as_slice::<f32>(), Some(&want[..]), "{name}");
        assert_eq!(report.path.to_string(), path);
        assert!(stdout.contains(&format!("wide ({}), 1 thread, {path} path", report.isa.name())), "{stdout}");
    }
}

#[test]
fn resample_nearest_keeps_labels() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (src, v) = write_volume(tmp.path(), "seg.nii.gz", &resample_phantom().labels().expect("phantom"));
    let shape = v.dims3().expect("3-D");
    let labels = v.data().as_slice::<u8>().expect("uint8 labels");
    let mut present = [false; 256];
    labels.iter().for_each(|&l| present[usize::from(l)] = true);
    for (args, convention, fill) in [
        (vec!["--spacing", "1", "--interp", "nearest"], GridConvention::FirstCentre, None),
        (
            vec!["--spacing", "0.7,1.3,1", "--interp", "nearest", "--convention", "extent", "--fill", "0"],
            GridConvention::Extent,
            Some(0u8),
        ),
    ] {
        let dst = tmp.path().join(format!("seg_{convention}.nii.gz"));
        let stdout = resample_ok(&src, &dst, &args);
        assert!(stdout.contains(", nearest, "), "{stdout}");
        let w = read_nifti(&dst).expect("reads");
        assert_eq!(w.dtype(), DataType::U8, "{args:?}");
        assert!(w.scaling().is_none());
        let out = w.data().as_slice::<u8>().expect("uint8");
        assert!(out.iter().all(|&l| present[usize::from(l)]), "{args:?}: a label that is not in the input");
        let spacing = if fill.is_some() { [0.7, 1.3, 1.0] } else { [1.0; 3] };
        let plan = plan_spacing(shape, v.affine(), spacing, convention).expect("plans");
        let mut want = vec![0u8; plan.output_len()];
        resample_nearest_slice_into(labels, &plan, fill, &mut want, ResampleVariant::Scalar.exec()).expect("resamples");
        assert_eq!(out, &want[..], "{args:?}");
    }
    // Fill values the labels' type cannot hold are usage errors saying why.
    let dst = tmp.path().join("never.nii.gz");
    for (fill, why) in [("300", "outside its range"), ("0.5", "not an integer"), ("-1", "outside its range")] {
        let out = ctprep(&["resample", s(&src), s(&dst), "--spacing", "1", "--interp", "nearest", "--fill", fill]);
        assert_eq!(out.status.code(), Some(2), "--fill {fill}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("--fill {fill}")) && err.contains("uint8") && err.contains(why), "{err}");
        assert!(!dst.exists());
    }
}

#[test]
fn resample_u16_with_intercept_reads_back_as_hu() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let ct = resample_phantom().stored(StoredType::U16).ct().expect("phantom");
    let (src, v) = write_volume(tmp.path(), "ct_u16.nii.gz", &ct);
    assert_eq!(v.scaling(), Some(Scaling { slope: 1.0, inter: -1024.0 }));
    let shape = v.dims3().expect("3-D");
    let plan = plan_spacing(shape, v.affine(), [1.0; 3], GridConvention::FirstCentre).expect("plans");
    // Linear: float32 HU, unscaled (the intercept applied once, not written again).
    let dst = tmp.path().join("lin.nii.gz");
    resample_ok(&src, &dst, &["--spacing", "1", "--variant", "scalar"]);
    let w = read_nifti(&dst).expect("reads");
    assert_eq!(w.dtype(), DataType::F32);
    assert!(w.scaling().is_none());
    assert_eq!((w.header().scl_slope, w.header().scl_inter), (1.0, 0.0));
    let (want, _) = library_linear(&v.scaled_f32(), &plan, &Trilinear::new(), ResampleVariant::Scalar);
    let got = w.scaled_f32();
    let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-3, "linear HU differ by up to {worst}");
    assert_eq!(w.stats().min, Some(-1024.0), "air must read -1024 HU");
    // Nearest: uint16 stored values with scl_inter -1024 kept; --fill in HU maps to stored 0.
    let dst = tmp.path().join("near.nii.gz");
    resample_ok(&src, &dst, &["--spacing", "1", "--interp", "nearest", "--fill", "-1024"]);
    let w = read_nifti(&dst).expect("reads");
    assert_eq!(w.dtype(), DataType::U16);
    assert_eq!(w.scaling(), Some(Scaling { slope: 1.0, inter: -1024.0 }));
    let mut want = vec![0u16; plan.output_len()];
    let stored = v.data().as_slice::<u16>().expect("uint16");
    resample_nearest_slice_into(stored, &plan, Some(0), &mut want, ResampleVariant::Scalar.exec()).expect("resamples");
    assert_eq!(w.data().as_slice::<u16>(), Some(&want[..]));
    assert_eq!(w.stats().min, Some(-1024.0));
    // -2000 HU would be stored as -976: not a uint16.
    let bad = tmp.path().join("never.nii.gz");
    let out = ctprep(&["resample", s(&src), s(&bad), "--spacing", "1", "--interp", "nearest", "--fill", "-2000"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("-976"), "{}", stderr(&out));
    assert!(!bad.exists());
}

#[test]
fn resample_dtype_converts_after_linear() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (src, v) = write_volume(tmp.path(), "ct.nii.gz", &resample_phantom().ct().expect("phantom"));
    let plan = plan_spacing(v.dims3().expect("3-D"), v.affine(), [1.0; 3], GridConvention::FirstCentre).expect("plans");
    let dst = tmp.path().join("ct_i16.nii.gz");
    let out = ctprep(&["resample", s(&src), s(&dst), "--spacing", "1", "--dtype", "i16", "--variant", "simd"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("warning: ") && stderr(&out).contains("int16"), "{}", stderr(&out));
    let w = read_nifti(&dst).expect("reads");
    assert_eq!(w.dtype(), DataType::I16);
    let stored = v.data().as_slice::<i16>().expect("int16 phantom");
    let want: Vec<i16> = library_linear(stored, &plan, &Trilinear::new(), ResampleVariant::Simd)
        .0
        .iter()
        .map(|&x| f64::from(x).round_ties_even() as i16)
        .collect();
    assert_eq!(w.data().as_slice::<i16>(), Some(&want[..]));
    // HU do not fit uint8: exit 1 naming the input, nothing written.
    let bad = tmp.path().join("never.nii.gz");
    let out = ctprep(&["resample", s(&src), s(&bad), "--spacing", "1", "--dtype", "u8"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: ") && stderr(&out).contains("ct.nii.gz"), "{}", stderr(&out));
    assert!(!bad.exists());
}

#[test]
fn resample_errors_exit_2_for_usage_and_1_for_input() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (src, _) = write_volume(tmp.path(), "ct.nii.gz", &resample_phantom().ct().expect("phantom"));
    let dst = tmp.path().join("never.nii.gz");
    for (args, names) in [
        (vec!["--spacing", "0"], "--spacing"),
        (vec!["--spacing", "-1"], "--spacing"),
        (vec!["--spacing", "1,2"], "1,2"),
        (vec!["--spacing", "nan"], "nan"),
        (vec!["--spacing", "1", "--convention", "bogus"], "bogus"),
        (vec!["--spacing", "1", "--interp", "quadratic"], "quadratic"),
        (vec!["--spacing", "1", "--order", "2"], "--order"),
        (vec!["--spacing", "1", "--order", "3,3"], "3,3"),
        (vec!["--spacing", "1", "--interp", "cubic", "--order", "3"], "--order"),
        (vec!["--spacing", "1", "--mode", "constant"], "--fill"),
        (vec!["--spacing", "1", "--mode", "reflect", "--fill", "0"], "--mode reflect"),
        (vec!["--spacing", "1", "--mode", "grid-wrap"], "grid-wrap"),
        (vec!["--spacing", "1", "--interp", "nearest", "--clip-input-range"], "--clip-input-range"),
        (vec!["--spacing", "1", "--interp", "cubic", "--fill", "nan"], "--fill"),
        (vec!["--spacing", "1", "--fill", "inf"], "--fill"),
        (vec!["--like", s(&src), "--convention", "seed"], "--convention"),
        (vec!["--spacing", "1", "--like", s(&src)], "--like"),
        (vec![], "--spacing"),
    ] {
        let mut all = vec!["resample", s(&src), s(&dst)];
        all.extend(args.iter().copied());
        let out = ctprep(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(names), "{args:?}: {}", stderr(&out));
        assert!(!dst.exists());
    }
    // A missing input: exit 1 naming it.
    let missing = tmp.path().join("missing.nii.gz");
    let out = ctprep(&["resample", s(&missing), s(&dst), "--spacing", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: ") && stderr(&out).contains("missing.nii.gz"), "{}", stderr(&out));
    assert!(!dst.exists());
    // A missing reference: exit 1 naming it.
    let out = ctprep(&["resample", s(&src), s(&dst), "--like", s(&missing)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: ") && stderr(&out).contains("missing.nii.gz"), "{}", stderr(&out));
    // An output grid past the limit: exit 1 naming the input and the shape.
    let out = ctprep(&["resample", s(&src), s(&dst), "--spacing", "0.001"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: ") && err.contains("ct.nii.gz") && err.contains("output grid ["), "{err}");
    // More than one volume: exit 1.
    let four_d =
        Volume::new(VoxelData::from_vec(vec![0i16; 4 * 4 * 4 * 2]), &[4, 4, 4, 2], Affine::IDENTITY).expect("volume");
    let (four_d, _) = write_volume(tmp.path(), "4d.nii.gz", &four_d);
    let out = ctprep(&["resample", s(&four_d), s(&dst), "--spacing", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("4d.nii.gz") && stderr(&out).contains("3-D"), "{}", stderr(&out));
    // Writing onto the input (or the reference) is refused.
    let bytes = std::fs::read(&src).expect("read");
    for args in [vec!["--spacing", "1"], vec!["--like", s(&src)]] {
        let mut all = vec!["resample", s(&src), s(&src)];
        all.extend(args.iter().copied());
        let out = ctprep(&all);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("refusing to write onto the input"), "{}", stderr(&out));
    }
    assert_eq!(std::fs::read(&src).expect("read"), bytes);
    assert!(!dst.exists());
}

#[test]
fn resample_help_names_every_convention() {
    let out = ctprep(&["resample", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for c in GridConvention::ALL {
        assert!(help.contains(&format!("- {}:", c.name())), "resample --help lacks {c}: {help}");
    }
    for word in [
        "--spacing",
        "--like",
        "--fill",
        "--interp",
        "--dtype",
        "MONAI",
        "TorchIO",
        "SimpleITK",
        "[-0.5",
        "--order",
        "--mode",
        "cubic",
        "grid-constant",
        "grid-wrap",
        "'symmetric'",
        "--clip-input-range",
        "map_coordinates",
    ] {
        assert!(help.contains(word), "resample --help lacks {word}: {help}");
    }
}

/// `--kernel` and `--threads` pick one knob each, name what ran, and give the same output as the
/// oracle; `--variant` with either is a usage error; bad values are usage errors.
#[test]
fn kernel_and_threads_options() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (src, _) = write_volume(tmp.path(), "ct.nii.gz", &resample_phantom().ct().expect("phantom"));
    let oracle = tmp.path().join("oracle.nii.gz");
    resample_ok(&src, &oracle, &["--spacing", "1", "--kernel", "scalar"]);
    let want = read_nifti(&oracle).expect("reads");
    for (kernel, threads, says) in
        [("wide", "1", "wide ("), ("dispatched", "3", "dispatched ("), ("auto", "auto", "dispatched (")]
    {
        let dst = tmp.path().join(format!("{kernel}_{threads}.nii.gz"));
        let stdout = resample_ok(&src, &dst, &["--spacing", "1", "--kernel", kernel, "--threads", threads]);
        assert!(stdout.contains(says), "{stdout}");
        let got = read_nifti(&dst).expect("reads");
        let (g, w) = (got.data().as_slice::<f32>().expect("f32"), want.data().as_slice::<f32>().expect("f32"));
        assert!(g.iter().zip(w).all(|(a, b)| (a - b).abs() <= 1e-5 * 3000.0), "{kernel} {threads}");
    }
    for bad in [
        vec!["--variant", "simd", "--kernel", "wide"],
        vec!["--variant", "auto", "--threads", "2"],
        vec!["--kernel", "fast"],
        vec!["--threads", "0"],
    ] {
        let dst = tmp.path().join("bad.nii.gz");
        let mut all = vec!["resample", s(&src), s(&dst), "--spacing", "1"];
        all.extend(bad.iter().copied());
        let out = ctprep(&all);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
}

#[test]
fn version_names_the_instruction_sets() {
    let out = ctprep(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    assert!(text.contains("cpu offers: ") && text.contains("dispatched kernels compiled for: "), "{text}");
}
