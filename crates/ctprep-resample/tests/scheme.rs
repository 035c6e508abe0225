//! Against the references of fixtures/resample/resize.json (fixtures/make_resize_reference.py):
//! nnU-Net v2's own `resample_data_or_seg_to_shape` (nnunetv2 2.8.1, batchgenerators 0.25.5)
//! on CT-like images and label maps, every branch of its separate-z rule; skimage's `resize`
//! (0.26.0) for every order x mode, clipping and anti-aliasing; scipy's `zoom(grid_mode=True)`.
//! Images within 1e-4 of the data's range (every kernel); labels exactly (the cases are free of
//! exact ties, whose winner depends on the order weights are summed in).

use ctprep_resample::{
    Affine, Exec, Grid, Mode, Sampling, Scheme, plan_like, plan_scheme, resample_onehot_into, resample_spline,
};
use ctprep_testdata::fixtures_dir;
use ndarray::{Array3, ShapeBuilder};
use serde_json::Value;

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

fn doc() -> Value {
    let path = fixtures_dir().join("resample/resize.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("reference")).expect("json")
}

fn input(doc: &Value, name: &str) -> ([usize; 3], Vec<f64>) {
    let i = &doc["inputs"][name];
    let s = numbers(&i["shape"]);
    ([s[0] as usize, s[1] as usize, s[2] as usize], numbers(&i["values"]))
}

fn three(v: &Value) -> [f64; 3] {
    let n = numbers(v);
    [n[0], n[1], n[2]]
}

/// The extent grid of `m` voxels over an input of `n` on the identity affine (skimage's and
/// scipy zoom's `grid_mode=True`).
fn extent(n: [usize; 3], m: [usize; 3]) -> Grid {
    let step: [f64; 3] = std::array::from_fn(|a| n[a] as f64 / m[a] as f64);
    Grid {
        shape: m,
        affine: Affine::from_parts(
            [[step[0], 0.0, 0.0], [0.0, step[1], 0.0], [0.0, 0.0, step[2]]],
            std::array::from_fn(|a| 0.5 * step[a] - 0.5),
        ),
    }
}

fn assert_close(got: &[f32], want: &[f64], span: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g as f64 - w).abs() <= 1e-4 * span, "{what}: voxel {i}: {g} vs reference {w}");
    }
}

#[test]
fn nnunet_scheme_matches_nnunet() {
    let doc = doc();
    let cases = doc["nnunet"].as_array().expect("cases");
    assert!(cases.len() >= 10, "every branch of the separate-z rule");
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let (shape, image) = input(&doc, case["image"].as_str().expect("image"));
        let (_, label) = input(&doc, case["label"].as_str().expect("label"));
        let current = three(&case["current_spacing"]);
        let target = three(&case["target_spacing"]);
        let affine = Affine::from_spacing_origin(current, [0.0; 3]);
        let s = plan_scheme(Scheme::NnUnet, shape, &affine, target).expect("plans");
        let want_shape = numbers(&case["target_shape"]).iter().map(|&v| v as usize).collect::<Vec<_>>();
        assert_eq!(s.plan.grid.shape.as_slice(), want_shape.as_slice(), "{name}: target shape");
        assert_eq!(s.separate, case["separate_axis"].as_u64().map(|a| a as usize), "{name}: separate axis");
        let image32 =
            Array3::from_shape_vec((shape[0], shape[1], shape[2]).f(), image.iter().map(|&v| v as f32).collect())
                .expect("image");
        let span = image.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            - image.iter().copied().fold(f64::INFINITY, f64::min);
        let want = numbers(&case["image_values"]);
        for exec in ctprep_testdata::kernels::execs() {
            let (out, _) = resample_spline(image32.view(), &s.plan, &s.image, exec).expect("resamples");
            assert_close(
                out.as_slice_memory_order().expect("x-fastest"),
                &want,
                span,
                &format!("{name} image {exec:?}"),
            );
        }
        let labels: Vec<u8> = label.iter().map(|&v| v as u8).collect();
        let want: Vec<u8> = numbers(&case["label_values"]).iter().map(|&v| v as u8).collect();
        assert_eq!(case["label_tie_free"], Value::Bool(true), "{name}: the reference has no exact ties");
        for exec in ctprep_testdata::kernels::execs() {
            let mut out = vec![0u8; s.plan.output_len()];
            resample_onehot_into(&labels, &s.plan, &s.label, None, &mut out, exec).expect("resamples");
            let wrong = out.iter().zip(&want).filter(|(a, b)| a != b).count();
            assert_eq!(wrong, 0, "{name} label {exec:?}: {wrong} of {} voxels differ", out.len());
        }
    }
}

fn mode_of(skimage: &str) -> Mode {
    match skimage {
        "edge" => Mode::Edge,
        "constant" => Mode::Constant,
        "symmetric" => Mode::Reflect,
        "reflect" => Mode::Mirror,
        "wrap" => Mode::Wrap,
        other => panic!("skimage mode {other}"),
    }
}

#[test]
fn skimage_resize_and_scipy_zoom_match() {
    let doc = doc();
    let mut seen = 0;
    for case in doc["skimage_resize"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let (shape, values) = input(&doc, case["input"].as_str().expect("input"));
        let m: Vec<usize> = numbers(&case["output_shape"]).iter().map(|&v| v as usize).collect();
        let plan = plan_like(shape, &Affine::IDENTITY, extent(shape, [m[0], m[1], m[2]])).expect("plans");
        let mode = mode_of(case["mode"].as_str().expect("mode"));
        let order = case["order"].as_u64().expect("order") as u8;
        let opts = Sampling::new()
            .order(order)
            .mode(Some(mode))
            .fill((mode == Mode::Constant).then(|| case["cval"].as_f64().expect("cval") as f32))
            .clip_input_range(case["clip"].as_bool().expect("clip"))
            .antialias(case["anti_aliasing"].as_bool().expect("anti_aliasing"));
        let data =
            Array3::from_shape_vec((shape[0], shape[1], shape[2]).f(), values.iter().map(|&v| v as f32).collect())
                .expect("input");
        let span = 2000.0f64.max(case["cval"].as_f64().unwrap_or(0.0).abs() + 1000.0);
        let want = numbers(&case["values"]);
        for exec in ctprep_testdata::kernels::execs() {
            let (out, _) = resample_spline(data.view(), &plan, &opts, exec).expect("resamples");
            assert_close(out.as_slice_memory_order().expect("x-fastest"), &want, span, &format!("{name} {exec:?}"));
        }
        seen += 1;
    }
    assert!(seen >= 300, "every order x mode, clipped or not, anti-aliased or not: {seen}");
    for case in doc["scipy_zoom"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let (shape, values) = input(&doc, case["input"].as_str().expect("input"));
        let m: Vec<usize> = numbers(&case["output_shape"]).iter().map(|&v| v as usize).collect();
        let plan = plan_like(shape, &Affine::IDENTITY, extent(shape, [m[0], m[1], m[2]])).expect("plans");
        let data =
            Array3::from_shape_vec((shape[0], shape[1], shape[2]).f(), values.iter().map(|&v| v as f32).collect())
                .expect("input");
        let (out, _) =
            resample_spline(data.view(), &plan, &Sampling::new().order(3), Exec::default()).expect("resamples");
        assert_close(out.as_slice_memory_order().expect("x-fastest"), &numbers(&case["values"]), 2000.0, name);
    }
}
