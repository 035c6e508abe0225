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
