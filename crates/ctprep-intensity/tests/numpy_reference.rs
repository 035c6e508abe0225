//! The scalar oracle against numpy (fixtures/intensity/reference.json, written by
//! fixtures/make_reference.py): `np.clip` then the linear map in float64, rounded to float32,
//! must agree within one f32 ulp; u8/u16 outputs (`np.rint`) exactly, except at exact .5 ties
//! where one f64 rounding step may tip the result by one.

use ctprep_intensity::{Output, Range, Sample, Window, WindowMap, scalar};
use ctprep_testdata::fixtures_dir;
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    // The fixtures write NaN as null and infinities as "inf" / "-inf".
    let one = |x: &Value| match x.as_str() {
        Some("inf") => f64::INFINITY,
        Some("-inf") => f64::NEG_INFINITY,
        _ => x.as_f64().unwrap_or(f64::NAN),
    };
    v.as_array().expect("array").iter().map(one).collect()
}

fn ulps(a: f32, b: f32) -> u32 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() { 0 } else { u32::MAX };
    }
    if a == b {
        return 0;
    }
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 { i32::MIN - i } else { i }
    };
    key(a).abs_diff(key(b))
}

fn run<T: Sample, O: Output>(values: &[f64], map: &WindowMap, conv: fn(f64) -> T) -> Vec<O> {
    let src: Vec<T> = values.iter().map(|&v| conv(v)).collect();
    let mut out = vec![O::default(); src.len()];
    scalar::window(&src, map, &mut out);
    out
}

fn check_case<T: Sample>(case: &Value, conv: fn(f64) -> T) -> usize {
    let dtype = case["dtype"].as_str().expect("dtype");
    let values = floats(&case["values"]);
    let w = floats(&case["window"]);
    let r = floats(&case["range"]);
    let scaling = case["scaling"].as_array().map(|s| (s[0].as_f64().expect("slope"), s[1].as_f64().expect("inter")));
    let window = Window::new(w[0], w[1]).expect("window");
    let fmap =
        WindowMap::for_output::<f32>(window, Some(Range::new(r[0], r[1]).expect("range")), scaling).expect("map");
    let got: Vec<f32> = run::<T, f32>(&values, &fmap, conv);
    let want = floats(&case["f32"]);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let w = *w as f32;
        assert!(ulps(*g, w) <= 1, "{dtype} {scaling:?}: value {} -> {g}, numpy {w}", values[i]);
    }
    let unrounded = floats(&case["u8_unrounded"]);
    let near_tie = |y: f64| (y - y.floor() - 0.5).abs() < 1e-9;
    let u8s: Vec<u8> = run::<T, u8>(&values, &WindowMap::for_output::<u8>(window, None, scaling).expect("map"), conv);
    for (i, (g, w)) in u8s.iter().zip(case["u8"].as_array().expect("u8")).enumerate() {
        let w = w.as_u64().expect("u8") as i64;
        let ok = i64::from(*g) == w || (near_tie(unrounded[i]) && (i64::from(*g) - w).abs() == 1);
        assert!(ok, "{dtype}: value {} -> u8 {g}, numpy {w}", values[i]);
    }
    let u16s: Vec<u16> =
        run::<T, u16>(&values, &WindowMap::for_output::<u16>(window, None, scaling).expect("map"), conv);
    for (i, (g, w)) in u16s.iter().zip(case["u16"].as_array().expect("u16")).enumerate() {
        let w = w.as_u64().expect("u16") as i64;
        let y16 = unrounded[i] / 255.0 * 65535.0;
        let ok = i64::from(*g) == w || (near_tie(y16) && (i64::from(*g) - w).abs() == 1);
        assert!(ok, "{dtype}: value {} -> u16 {g}, numpy {w}", values[i]);
    }
    values.len()
}

#[test]
fn scalar_matches_numpy() {
    let path = fixtures_dir().join("intensity/reference.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("reference")).expect("json");
    let mut checked = 0;
    for case in doc["cases"].as_array().expect("cases") {
        checked += match case["dtype"].as_str().expect("dtype") {
            "uint8" => check_case::<u8>(case, |v| v as u8),
            "int8" => check_case::<i8>(case, |v| v as i8),
            "uint16" => check_case::<u16>(case, |v| v as u16),
            "int16" => check_case::<i16>(case, |v| v as i16),
            "int32" => check_case::<i32>(case, |v| v as i32),
            "float32" => check_case::<f32>(case, |v| v as f32),
            "float64" => check_case::<f64>(case, |v| v),
            other => panic!("unexpected dtype {other}"),
        };
    }
    assert!(checked > 2000, "only {checked} values checked");
}
