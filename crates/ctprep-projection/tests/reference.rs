//! The scalar oracle against references nobody here wrote (fixtures/projection/reference.json,
//! from fixtures/make_reference.py): the classic Python loop (`start` + `zero`, np.amax) and
//! `scipy.ndimage.maximum_filter1d` / `minimum_filter1d(size=k, mode='nearest')` (`centre` +
//! `shrink`, odd k). Max and min select input values, so they must agree exactly.

use ctprep_projection::{Align, Axis3, Edges, Reduce, SlabProjection, project};
use ctprep_testdata::fixtures_dir;
use ndarray::{Array3, ShapeBuilder};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

#[test]
fn scalar_matches_the_classic_loop_and_scipy() {
    let path = fixtures_dir().join("projection/reference.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("reference")).expect("json");
    let shape: Vec<usize> =
        doc["input_shape"].as_array().expect("shape").iter().map(|v| v.as_u64().expect("size") as usize).collect();
    let input = Array3::from_shape_vec((shape[0], shape[1], shape[2]).f(), floats(&doc["input"])).expect("input");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 30);
    for case in cases {
        let axis = [Axis3::X, Axis3::Y, Axis3::Z][case["axis"].as_u64().expect("axis") as usize];
        let k = case["k"].as_u64().expect("k") as usize;
        let align: Align = case["align"].as_str().expect("align").parse().expect("align");
        let edges: Edges = case["edges"].as_str().expect("edges").parse().expect("edges");
        let reduce: Reduce = case["reduce"].as_str().expect("reduce").parse().expect("reduce");
        let p = SlabProjection::new(k).axis(axis).align(align).edges(edges).reduce(reduce);
        let want = floats(&case["out"]);
        for variant in ctprep_testdata::kernels::execs() {
            let (got, _) = project(input.view(), &p, variant).expect("projects");
            assert_eq!(
                got.as_slice_memory_order().expect("contiguous"),
                &want[..],
                "{axis:?} k={k} {align} {edges} {reduce} {variant}"
            );
        }
    }
}
