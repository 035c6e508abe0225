//! B-spline resampling against scipy (fixtures/resample/spline.json, from
//! fixtures/make_spline_reference.py): `scipy.ndimage.map_coordinates(order, mode,
//! prefilter=True)` for orders 0, 1, 3 and per-axis orders, in every boundary mode, on inputs of
//! 1 to 9 voxels per axis, up, down, shifted, flipped and oblique maps. Every kernel and thread
//! count is held to the same bound: 1e-4 of the data range (the inputs span -1000..1000, so
//! 0.2); the `f64` oracle to 1e-6 of it.

use ctprep_resample::{
    Affine, Exec, Grid, Kernel, Mode, Sampling, plan_like, resample_nearest_mode_into, resample_spline,
};
use ctprep_testdata::fixtures_dir;
use ndarray::{Array3, ShapeBuilder};
use serde_json::Value;

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

#[test]
fn every_order_and_mode_matches_scipy() {
    let path = fixtures_dir().join("resample/spline.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("reference")).expect("json");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() > 300, "every order x mode x map");
    let mut worst = [0f64; 2];
    let mut nearest_cases = 0;
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let input = &doc["inputs"][case["input"].as_str().expect("input")];
        let s = numbers(&input["shape"]);
        let shape = [s[0] as usize, s[1] as usize, s[2] as usize];
        let data = Array3::from_shape_vec((shape[0], shape[1], shape[2]).f(), numbers(&input["values"]))
            .expect("input")
            .mapv(|v| v as f32);
        let rows: Vec<Vec<f64>> = case["linear"].as_array().expect("linear").iter().map(numbers).collect();
        let off = numbers(&case["offset"]);
        let o = numbers(&case["output_shape"]);
        let affine = Affine::from_rows(std::array::from_fn(|r| {
            if r == 3 { [0.0, 0.0, 0.0, 1.0] } else { [rows[r][0], rows[r][1], rows[r][2], off[r]] }
        }));
        let grid = Grid { shape: [o[0] as usize, o[1] as usize, o[2] as usize], affine };
        let plan = plan_like(shape, &Affine::IDENTITY, grid).expect("plans");
        let orders = numbers(&case["orders"]).iter().map(|&v| v as u8).collect::<Vec<_>>();
        let mode: Option<Mode> = case["mode"].as_str().map(|m| m.parse().expect("mode"));
        let opts = Sampling::new()
            .orders([orders[0], orders[1], orders[2]])
            .mode(mode)
            .fill(case["fill"].as_f64().map(|f| f as f32));
        let want = numbers(&case["values"]);
        for exec in ctprep_testdata::kernels::execs() {
            let (out, report) = resample_spline(data.view(), &plan, &opts, exec).expect("resamples");
            let got = out.as_slice_memory_order().expect("x-fastest");
            assert_eq!(got.len(), want.len(), "{name}");
            let oracle = exec.kernel == Kernel::Scalar;
            let tol = if oracle { 2e-3 } else { 0.2 };
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                let err = (g as f64 - w).abs();
                worst[usize::from(!oracle)] = worst[usize::from(!oracle)].max(err);
                assert!(err <= tol, "{name} {exec:?} ({report}): voxel {i}: {g} vs scipy {w}");
            }
            // Nearest under a mode in the stored type: the very voxels scipy picks.
            if let (Some(mode), [0, 0, 0]) = (mode, orders.as_slice()) {
                let src = data.as_slice_memory_order().expect("x-fastest");
                let mut out = vec![0f32; plan.output_len()];
                let fill = case["fill"].as_f64().map(|f| f as f32);
                resample_nearest_mode_into(src, &plan, mode, fill, &mut out, exec).expect("resamples");
                let want32: Vec<f32> = want.iter().map(|&w| w as f32).collect();
                assert_eq!(out, want32, "{name} {exec:?}: nearest in the stored type");
                nearest_cases += 1;
            }
        }
    }
    assert!(nearest_cases >= 5 * 10, "nearest in every mode: {nearest_cases}");
    println!("largest differences from scipy: oracle {:.2e}, fast kernels {:.2e}", worst[0], worst[1]);
}

#[test]
fn every_kernel_refuses_bad_options() {
    let data = Array3::<i16>::zeros((3, 3, 3).f());
    let grid = Grid { shape: [2, 2, 2], affine: Affine::IDENTITY };
    let plan = plan_like([3, 3, 3], &Affine::IDENTITY, grid).expect("plans");
    for opts in [
        Sampling::new().order(2),
        Sampling::new().order(3).mode(Some(Mode::Constant)),
        Sampling::new().order(3).mode(Some(Mode::Wrap)).fill(Some(0.0)),
    ] {
        assert!(resample_spline(data.view(), &plan, &opts, Exec::default()).is_err(), "{opts:?}");
    }
}
