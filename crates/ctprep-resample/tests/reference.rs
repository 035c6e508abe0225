//! The kernels against references nobody here wrote (fixtures/resample/reference.json, from
//! fixtures/make_reference.py): the classic recipe's `scipy.interpolate.RegularGridInterpolator`
//! (`seed`), `scipy.ndimage.map_coordinates(order=1 or 0, mode='nearest')` at each convention's
//! points, `scipy.ndimage.zoom(grid_mode=True)` (`extent`), and SimpleITK's
//! `ResampleImageFilter` (linear and nearest, with a fill value) onto an oblique grid.
//! Shapes must match exactly, affines within 1e-9 mm, linear values within 1e-3 HU, nearest
//! exactly.

use ctprep_resample::{
    Affine, Grid, GridConvention, Plan, Trilinear, plan_like, plan_spacing, resample_linear, resample_nearest,
};
use ctprep_testdata::fixtures_dir;
use ndarray::{Array3, ShapeBuilder};
use serde_json::Value;

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

fn shape(v: &Value) -> [usize; 3] {
    let s = numbers(v);
    [s[0] as usize, s[1] as usize, s[2] as usize]
}

fn affine(v: &Value) -> Affine {
    let rows: Vec<Vec<f64>> = v.as_array().expect("rows").iter().map(numbers).collect();
    Affine::from_rows(std::array::from_fn(|r| std::array::from_fn(|c| rows[r][c])))
}

#[test]
fn kernels_match_scipy_and_simpleitk() {
    let path = fixtures_dir().join("resample/reference.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("reference")).expect("json");
    let input = |name: &str| {
        let i = &doc["inputs"][name];
        let [a, b, c] = shape(&i["shape"]);
        (Array3::from_shape_vec((a, b, c).f(), numbers(&i["values"])).expect("input"), [a, b, c])
    };
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 13, "every convention, nearest and the SimpleITK cases");
    let mut conventions_seen = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let (data, in_shape) = input(case["input"].as_str().expect("input"));
        let in_affine = affine(&case["input_affine"]);
        let plan: Plan = match case["convention"].as_str() {
            Some(c) => {
                let convention: GridConvention = c.parse().expect("convention");
                conventions_seen.insert(convention.name());
                let t = numbers(&case["spacing"]);
                plan_spacing(in_shape, &in_affine, [t[0], t[1], t[2]], convention).expect("plans")
            }
            None => {
                let like = &case["like"];
                plan_like(in_shape, &in_affine, Grid { shape: shape(&like["shape"]), affine: affine(&like["affine"]) })
                    .expect("plans")
            }
        };
        assert_eq!(plan.grid.shape, shape(&case["output_shape"]), "{name}: output shape");
        let want_affine = affine(&case["output_affine"]);
        for r in 0..4 {
            for c in 0..4 {
                let (g, w) = (plan.grid.affine.0[r][c], want_affine.0[r][c]);
                assert!((g - w).abs() <= 1e-9, "{name}: output affine [{r}][{c}] {g} vs {w}");
            }
        }
        let want = numbers(&case["output"]);
        let skip: Vec<usize> = case["skip"]
            .as_array()
            .map(|s| s.iter().map(|v| v.as_u64().expect("index") as usize).collect())
            .unwrap_or_default();
        let fill = case["fill"].as_f64();
        for variant in ctprep_testdata::kernels::execs() {
            let got: Vec<f64> = match case["interp"].as_str().expect("interp") {
                "linear" => {
                    let f32_input = data.mapv(|v| v as f32);
                    let opts = Trilinear::new().fill(fill.map(|f| f as f32));
                    let (out, _) = resample_linear(f32_input.view(), &plan, &opts, variant).expect("resamples");
                    out.as_slice_memory_order().expect("x-fastest").iter().map(|&v| f64::from(v)).collect()
                }
                _ => {
                    let labels = data.mapv(|v| v as u8);
                    let (out, _) =
                        resample_nearest(labels.view(), &plan, fill.map(|f| f as u8), variant).expect("resamples");
                    out.as_slice_memory_order().expect("x-fastest").iter().map(|&v| f64::from(v)).collect()
                }
            };
            assert_eq!(got.len(), want.len(), "{name}");
            let tol = if case["interp"] == "linear" { 1e-3 } else { 0.0 };
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                if skip.contains(&i) {
                    continue;
                }
                assert!((g - w).abs() <= tol, "{name} {variant}: voxel {i}: {g} vs reference {w}");
            }
        }
    }
    assert_eq!(conventions_seen.len(), 4, "all four conventions are pinned: {conventions_seen:?}");
}
