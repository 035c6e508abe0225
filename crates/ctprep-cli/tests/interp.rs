//! `ctprep resample` with cubic B-splines, per-axis orders and boundary modes: the file holds
//! what the library computes (bit for bit, same kernel), on the planned grid; nearest under a
//! mode keeps the stored type; the report line names what ran.

mod common;

use common::{ctprep, s, stderr};

use ctprep_io::{WriteOptions, read_nifti, write_nifti};
use ctprep_phantom::Phantom;
use ctprep_resample::{
    Exec, GridConvention, Kernel, Mode, Sampling, plan_spacing, resample_nearest_mode_into, resample_spline_slice_into,
};

fn phantom() -> Phantom {
    Phantom::new([23, 19, 9]).spacing_mm([0.78, 0.78, 2.5]).axcodes("LPS".parse().expect("codes")).seed(5)
}

#[test]
fn cubic_orders_and_modes_write_what_the_library_computes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let src = tmp.path().join("ct.nii.gz");
    write_nifti(&phantom().ct().expect("phantom"), &src, &WriteOptions::new()).expect("writes");
    let v = read_nifti(&src).expect("reads back");
    let stored = v.data().as_slice::<i16>().expect("int16 phantom");
    let (slope, inter) = v.scaling().map_or((1.0, 0.0), |sc| (sc.slope, sc.inter));
    let shape = [23, 19, 9];
    for (args, opts, says) in [
        (vec!["--interp", "cubic"], Sampling::new().order(3), "cubic"),
        (vec!["--order", "3"], Sampling::new().order(3), "cubic"),
        (vec!["--order", "3,3,0"], Sampling::new().orders([3, 3, 0]), "orders 3,3,0"),
        (vec!["--order", "1", "--mode", "reflect"], Sampling::new().mode(Some(Mode::Reflect)), "linear, mode reflect"),
        (
            vec!["--interp", "cubic", "--mode", "constant", "--fill", "-1024"],
            Sampling::new().order(3).mode(Some(Mode::Constant)).fill(Some(-1024.0)),
            "cubic, mode constant",
        ),
        (vec!["--interp", "cubic", "--fill", "-1024"], Sampling::new().order(3).fill(Some(-1024.0)), "cubic"),
        (vec!["--interp", "cubic", "--mode", "wrap"], Sampling::new().order(3).mode(Some(Mode::Wrap)), "mode wrap"),
        (
            vec!["--interp", "cubic", "--mode", "mirror", "--clip-input-range"],
            Sampling::new().order(3).mode(Some(Mode::Mirror)).clip_input_range(true),
            "clipped to the input's range",
        ),
    ] {
        let dst = tmp.path().join("out.nii.gz");
        let mut all = vec!["resample", s(&src), s(&dst), "--spacing", "1.1,0.6,1.3", "--kernel", "dispatched"];
        all.extend(args.iter().copied());
        let out = ctprep(&all);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains(says), "{args:?}: {said}");
        let plan = plan_spacing(shape, v.affine(), [1.1, 0.6, 1.3], GridConvention::FirstCentre).expect("plans");
        let mut want = vec![0f32; plan.output_len()];
        let exec = Exec::new().kernel(Kernel::Dispatched);
        resample_spline_slice_into(stored, &plan, &opts.scaling(slope, inter), &mut want, exec).expect("resamples");
        let got = read_nifti(&dst).expect("output");
        assert_eq!(got.shape(), plan.grid.shape.as_slice(), "{args:?}");
        assert_eq!(got.data().as_slice::<f32>().expect("float32"), want.as_slice(), "{args:?}");
        if opts.get_clip() {
            let lo = stored.iter().min().copied().unwrap_or(0) as f32 * slope as f32 + inter as f32;
            assert!(want.iter().all(|&x| x >= lo), "clipped at the input's minimum");
        }
    }
}

#[test]
fn nearest_under_a_mode_keeps_the_stored_type() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let src = tmp.path().join("seg.nii.gz");
    let label = phantom().labels().expect("labels");
    write_nifti(&label, &src, &WriteOptions::new()).expect("writes");
    let v = read_nifti(&src).expect("reads back");
    let dst = tmp.path().join("seg_r.nii.gz");
    let out =
        ctprep(&["resample", s(&src), s(&dst), "--spacing", "0.5,1.7,1", "--interp", "nearest", "--mode", "mirror"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = read_nifti(&dst).expect("output");
    assert_eq!(got.data().dtype(), v.data().dtype(), "nearest keeps the stored type");
    let plan = plan_spacing([23, 19, 9], v.affine(), [0.5, 1.7, 1.0], GridConvention::FirstCentre).expect("plans");
    let stored = v.data().as_slice::<u8>().expect("uint8 labels");
    let mut want = vec![0u8; plan.output_len()];
    resample_nearest_mode_into(stored, &plan, Mode::Mirror, None, &mut want, Exec::SCALAR).expect("resamples");
    assert_eq!(got.data().as_slice::<u8>().expect("uint8"), want.as_slice());
    // Constant with a label value outside the stored type is refused, naming why.
    let out = ctprep(&[
        "resample",
        s(&src),
        s(&dst),
        "--spacing",
        "1",
        "--interp",
        "nearest",
        "--mode",
        "constant",
        "--fill",
        "-1",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--fill -1"), "{}", stderr(&out));
}

/// `--scheme nnunet` (images and, with `--interp onehot`, labels) and `--antialias` write what
/// the library's scheme plan and kernels compute, bit for bit (these read the input whole).
#[test]
fn scheme_onehot_and_antialias_write_what_the_library_computes() {
    use ctprep_resample::{Scheme, plan_scheme, resample_onehot_into};
    let tmp = tempfile::tempdir().expect("temp dir");
    let p = Phantom::new([23, 19, 9]).spacing_mm([0.78, 0.78, 3.5]).seed(5);
    let (ct_path, seg_path) = (tmp.path().join("ct.nii.gz"), tmp.path().join("seg.nii.gz"));
    write_nifti(&p.ct().expect("phantom"), &ct_path, &WriteOptions::new()).expect("writes");
    write_nifti(&p.labels().expect("labels"), &seg_path, &WriteOptions::new()).expect("writes");
    let ct = read_nifti(&ct_path).expect("reads back");
    let seg = read_nifti(&seg_path).expect("reads back");
    let stored = ct.data().as_slice::<i16>().expect("int16");
    let (slope, inter) = ct.scaling().map_or((1.0, 0.0), |sc| (sc.slope, sc.inter));
    let sp = plan_scheme(Scheme::NnUnet, [23, 19, 9], ct.affine(), [1.0, 1.0, 1.0]).expect("plans");
    assert_eq!(sp.separate, Some(2), "3.5 / 0.78 > 3: z apart");
    // The image.
    let dst = tmp.path().join("ct_nn.nii.gz");
    let out = ctprep(&["resample", s(&ct_path), s(&dst), "--spacing", "1", "--scheme", "nnunet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nnunet"), "{}", String::from_utf8_lossy(&out.stdout));
    let mut want = vec![0f32; sp.plan.output_len()];
    resample_spline_slice_into(stored, &sp.plan, &sp.image.scaling(slope, inter), &mut want, Exec::default())
        .expect("resamples");
    let got = read_nifti(&dst).expect("output");
    assert_eq!(got.shape(), sp.plan.grid.shape.as_slice());
    assert_eq!(got.data().as_slice::<f32>().expect("float32"), want.as_slice(), "scheme image");
    // The label map, one-hot with the scheme's masks.
    let dst = tmp.path().join("seg_nn.nii.gz");
    let out =
        ctprep(&["resample", s(&seg_path), s(&dst), "--spacing", "1", "--scheme", "nnunet", "--interp", "onehot"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let labels = seg.data().as_slice::<u8>().expect("uint8");
    let mut want = vec![0u8; sp.plan.output_len()];
    resample_onehot_into(labels, &sp.plan, &sp.label, None, &mut want, Exec::default()).expect("resamples");
    let got = read_nifti(&dst).expect("output");
    assert_eq!(got.data().as_slice::<u8>().expect("uint8"), want.as_slice(), "scheme label");
    // Anti-aliased downsampling.
    let dst = tmp.path().join("ct_aa.nii.gz");
    let out =
        ctprep(&["resample", s(&ct_path), s(&dst), "--spacing", "2.1,1.7,3.5", "--interp", "cubic", "--antialias"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = plan_spacing([23, 19, 9], ct.affine(), [2.1, 1.7, 3.5], GridConvention::FirstCentre).expect("plans");
    let opts = Sampling::new().order(3).antialias(true).scaling(slope, inter);
    let mut want = vec![0f32; plan.output_len()];
    resample_spline_slice_into(stored, &plan, &opts, &mut want, Exec::default()).expect("resamples");
    let got = read_nifti(&dst).expect("output");
    assert_eq!(got.data().as_slice::<f32>().expect("float32"), want.as_slice(), "anti-aliased");
    // Nonsense pairs are usage errors naming the options.
    for (args, names) in [
        (vec!["--like", s(&ct_path), "--scheme", "nnunet"], "--scheme"),
        (vec!["--spacing", "1", "--scheme", "nnformer"], "nnformer"),
        (vec!["--spacing", "1", "--interp", "onehot", "--order", "3"], "--order"),
        (vec!["--spacing", "1", "--interp", "linear", "--order", "1"], "--order"),
        (vec!["--spacing", "1", "--interp", "onehot", "--clip-input-range"], "--clip-input-range"),
    ] {
        let mut all = vec!["resample", s(&seg_path), s(&dst)];
        all.extend(args.iter().copied());
        let out = ctprep(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(names), "{args:?}: {}", stderr(&out));
    }
}

/// `run --scheme nnunet --label`: the windowed volume is the scheme's image windowed, the label
/// the scheme's one-hot result; `--scheme` with the classic preset and `--interp onehot` for
/// the image are usage errors.
#[test]
fn run_with_the_nnunet_scheme() {
    use ctprep_resample::{Scheme, plan_scheme, resample_onehot_into};
    let tmp = tempfile::tempdir().expect("temp dir");
    let p = Phantom::new([23, 19, 9]).spacing_mm([0.78, 0.78, 3.5]).axcodes("LPS".parse().expect("axis codes")).seed(6);
    let (ct_path, seg_path) = (tmp.path().join("ct.nii.gz"), tmp.path().join("seg.nii.gz"));
    write_nifti(&p.ct().expect("phantom"), &ct_path, &WriteOptions::new()).expect("writes");
    write_nifti(&p.labels().expect("labels"), &seg_path, &WriteOptions::new()).expect("writes");
    let out_dir = tmp.path().join("out");
    let out = ctprep(&[
        "run",
        s(&ct_path),
        "--out",
        s(&out_dir),
        "--label",
        s(&seg_path),
        "--scheme",
        "nnunet",
        "--axcodes",
        "keep",
        "--save",
        "volume",
        "--window",
        "-1000,1000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ct = read_nifti(&ct_path).expect("reads back");
    let seg = read_nifti(&seg_path).expect("reads back");
    let sp = plan_scheme(Scheme::NnUnet, [23, 19, 9], ct.affine(), [1.0; 3]).expect("plans");
    let (slope, inter) = ct.scaling().map_or((1.0, 0.0), |sc| (sc.slope, sc.inter));
    let mut hu = vec![0f32; sp.plan.output_len()];
    let stored = ct.data().as_slice::<i16>().expect("int16");
    resample_spline_slice_into(stored, &sp.plan, &sp.image.scaling(slope, inter), &mut hu, Exec::default())
        .expect("resamples");
    let got = read_nifti(out_dir.join("ct_window.nii.gz")).expect("window");
    assert_eq!(got.shape(), sp.plan.grid.shape.as_slice());
    let got = got.data().as_slice::<f32>().expect("float32");
    for (i, (g, h)) in got.iter().zip(&hu).enumerate() {
        let w = ((h.clamp(-1000.0, 1000.0) + 1000.0) / 2000.0).clamp(0.0, 1.0);
        assert!((g - w).abs() <= 1e-6, "voxel {i}: {g} vs {w}");
    }
    let mut want = vec![0u8; sp.plan.output_len()];
    let labels = seg.data().as_slice::<u8>().expect("uint8");
    resample_onehot_into(labels, &sp.plan, &sp.label, None, &mut want, Exec::default()).expect("resamples");
    let got = read_nifti(out_dir.join("ct_label.nii.gz")).expect("label");
    assert_eq!(got.data().as_slice::<u8>().expect("uint8"), want.as_slice(), "one-hot label");
    // Reoriented to RAS (x and y of this LPS phantom flipped), the scheme keeps nnU-Net's own
    // positions: the same label and image values, mirrored.
    let ras_dir = tmp.path().join("ras");
    let out = ctprep(&[
        "run",
        s(&ct_path),
        "--out",
        s(&ras_dir),
        "--label",
        s(&seg_path),
        "--scheme",
        "nnunet",
        "--save",
        "volume",
        "--window",
        "-1000,1000",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["convention"], "extent", "the scheme's grid is the extent convention");
    let [mx, my, mz] = sp.plan.grid.shape;
    let mirrored = |v: &[u8]| -> Vec<u8> {
        (0..mx * my * mz)
            .map(|i| v[(mx - 1 - i % mx) + mx * ((my - 1 - (i / mx) % my) + my * (i / (mx * my)))])
            .collect()
    };
    let ras = read_nifti(ras_dir.join("ct_label.nii.gz")).expect("label");
    assert_eq!(ras.data().as_slice::<u8>().expect("uint8"), mirrored(&want).as_slice(), "RAS label mirrors LPS");
    for args in [
        vec!["--scheme", "nnunet", "--preset", "classic"],
        vec!["--interp", "onehot"],
        vec!["--scheme", "nnunet", "--clip-input-range"],
        vec!["--scheme", "nnunet", "--fill", "-1024"],
        vec!["--interp", "nearest", "--antialias"],
    ] {
        let mut all = vec!["run", s(&ct_path), "--out", s(&out_dir)];
        all.extend(args.iter().copied());
        let out = ctprep(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

/// `resample --json`: one object naming the path, kernel and stage timings, for the streamed
/// (cubic) and the whole (one-hot, nearest) ways alike.
#[test]
fn resample_json_reports_path_kernel_and_timings() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let src = tmp.path().join("ct.nii.gz");
    write_nifti(&phantom().ct().expect("phantom"), &src, &WriteOptions::new()).expect("writes");
    let dst = tmp.path().join("out.nii.gz");
    for (args, path, stages) in [
        (vec!["--interp", "cubic"], "separable", vec!["read", "stream", "total"]),
        (vec!["--interp", "nearest"], "separable", vec!["read", "resample", "write", "total"]),
        (vec!["--interp", "onehot"], "separable", vec!["read", "resample", "write", "total"]),
    ] {
        let mut all = vec!["resample", s(&src), s(&dst), "--spacing", "1.3", "--json"];
        all.extend(args.iter().copied());
        let out = ctprep(&all);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        assert_eq!(doc["path"], path, "{args:?}: {doc}");
        assert!(doc["kernel"].as_str().is_some_and(|k| k.contains("path")), "{doc}");
        assert_eq!(doc["output_shape"].as_array().map(Vec::len), Some(3));
        for stage in stages {
            assert!(doc["timings_s"][stage].as_f64().is_some_and(|t| t >= 0.0), "{args:?}: {stage} in {doc}");
        }
    }
}
