//! Every variant against the scalar oracle, bit for bit: all input and output types, scaled and
//! unscaled, on the shared table of awkward shapes (1 voxel, lane width -1 / exact / +1, odd
//! sizes, more than one parallel chunk, lookup-table sizes) and on non-contiguous views, with
//! NaN, infinities and -0 in float inputs.

use ctprep_intensity::{
    Kernel, Output, Range, Sample, Variant, Window, WindowMap, dispatch, int16, lut, parallel, scalar, simd, window,
    window_into,
};
use ndarray::{Array3, ShapeBuilder, s};

/// Shapes around the SIMD width (4 lanes of f64), odd sizes, and sizes past the lookup-table
/// threshold and the parallel chunk (2^18 voxels).
const SHAPES: [[usize; 3]; 10] = [
    [1, 1, 1],
    [3, 1, 1],
    [4, 1, 1],
    [5, 1, 1],
    [7, 5, 3],
    [8, 3, 2],
    [9, 2, 3],
    [33, 17, 5],
    [64, 64, 70],
    [131, 67, 31],
];

/// Deterministic values spread over a type's range, with specials for floats.
trait Gen: Sample + PartialEq + std::fmt::Debug {
    fn make(i: u64) -> Self;
}

fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 31)
}

macro_rules! gen_int {
    ($($t:ty),*) => {$(impl Gen for $t { fn make(i: u64) -> Self { mix(i) as $t } })*};
}
gen_int!(u8, i8, u16, i16);
impl Gen for i32 {
    fn make(i: u64) -> Self {
        // Mostly HU-like values, some extremes.
        if i.is_multiple_of(17) { mix(i) as i32 } else { (mix(i) % 5000) as i32 - 2000 }
    }
}
impl Gen for f32 {
    fn make(i: u64) -> Self {
        match i % 23 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            3 => -0.0,
            _ => (mix(i) % 400_000) as f32 / 100.0 - 2000.0,
        }
    }
}
impl Gen for f64 {
    fn make(i: u64) -> Self {
        f64::from(f32::make(i)) + if i.is_multiple_of(5) { 1e-9 } else { 0.0 }
    }
}

trait Bits: Output {
    fn bits(self) -> u64;
}
impl Bits for f32 {
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}
impl Bits for u8 {
    fn bits(self) -> u64 {
        u64::from(self)
    }
}
impl Bits for u16 {
    fn bits(self) -> u64 {
        u64::from(self)
    }
}

fn maps<O: Output>() -> Vec<WindowMap> {
    let w = Window::new(-100.0, 1000.0).expect("window");
    let lung = Window::preset("lung").expect("preset");
    vec![
        WindowMap::for_output::<O>(w, None, None).expect("map"),
        WindowMap::for_output::<O>(w, None, Some((1.0, -1024.0))).expect("map"),
        WindowMap::for_output::<O>(lung, Some(Range::new(-1.0, 1.0).expect("range")), Some((7.1098, -1024.0)))
            .expect("map"),
        WindowMap::for_output::<O>(w, Some(Range::new(1.0, 0.0).expect("range")), Some((0.5, 3.25))).expect("map"),
    ]
}

fn same<O: Bits>(what: &str, got: &[O], want: &[O]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a.bits() != b.bits()) {
        panic!("{what}: voxel {i} differs from scalar: {} vs {}", got[i].bits(), want[i].bits());
    }
}

fn check<T: Gen, O: Bits>() {
    let tname = std::any::type_name::<T>();
    let oname = std::any::type_name::<O>();
    for (mi, map) in maps::<O>().iter().enumerate() {
        for shape in SHAPES {
            let n: usize = shape.iter().product();
            let src: Vec<T> = (0..n as u64).map(T::make).collect();
            let mut want = vec![O::default(); n];
            scalar::window(&src, map, &mut want);
            let what = |v: &str| format!("{tname}->{oname} map {mi} shape {shape:?} {v}");
            let mut got = vec![O::default(); n];
            simd::window(&src, map, &mut got);
            same(&what("simd"), &got, &want);
            parallel::window(&src, map, &mut got);
            same(&what("parallel"), &got, &want);
            dispatch::window(&src, map, &mut got);
            same(&what("dispatched"), &got, &want);
            if T::LUT_SIZE.is_some() {
                lut::window(&src, map, &mut got);
                same(&what("lut"), &got, &want);
            }
            if let Some(plan) = int16::plan::<T, O>(map).filter(|p| int16::verify::<T, O>(p, map)) {
                int16::run(&src, &plan, &mut got);
                same(&what("verified-int"), &got, &want);
                dispatch::int16(&src, &plan, &mut got);
                same(&what("verified-int dispatched"), &got, &want);
            }
            for variant in [Variant::Simd, Variant::Parallel, Variant::Auto] {
                let a = Array3::from_shape_vec(shape.f(), src.clone()).expect("shape");
                let (out, report) = window::<T, O>(a.view(), map, variant).expect("runs");
                assert_ne!(report.variant, Variant::Auto);
                same(&what(&format!("{variant} via ndarray")), out.as_slice_memory_order().expect("contiguous"), &want);
            }
        }
        // Non-contiguous: every other x, reversed z, a permuted view; output C-ordered.
        let a = Array3::from_shape_fn((11, 6, 5).f(), |(x, y, z)| T::make((x + 11 * y + 66 * z) as u64));
        for view in [a.slice(s![..;2, .., ..;-1]), a.view().permuted_axes([2, 0, 1])] {
            let mut want = Array3::<O>::default(view.raw_dim());
            window_into(view, want.view_mut(), map, Variant::Scalar).expect("runs");
            for variant in [Variant::Simd, Variant::Parallel, Variant::Auto] {
                let mut got = Array3::<O>::default(view.raw_dim());
                window_into(view, got.view_mut(), map, variant).expect("runs");
                let g: Vec<O> = got.iter().copied().collect();
                let w: Vec<O> = want.iter().copied().collect();
                same(&format!("{tname}->{oname} map {mi} non-contiguous {variant}"), &g, &w);
                // The scalar oracle on a view equals the oracle on each value.
                for (o, &v) in want.iter().zip(view.iter()) {
                    let mut one = [O::default()];
                    scalar::window(&[v], map, &mut one);
                    assert_eq!(o.bits(), one[0].bits());
                }
            }
        }
    }
}

macro_rules! all_outputs {
    ($($name:ident: $t:ty),*) => {$(
        #[test]
        fn $name() {
            check::<$t, f32>();
            check::<$t, u8>();
            check::<$t, u16>();
        }
    )*};
}
all_outputs!(from_u8: u8, from_i8: i8, from_u16: u16, from_i16: i16, from_i32: i32, from_f32: f32, from_f64: f64);

#[test]
fn nan_in_nan_out_and_integer_outputs_give_zero() {
    let map = WindowMap::new(Window::new(0.0, 10.0).expect("window"), Range::UNIT, None).expect("map");
    let src = [f32::NAN, -5.0, 5.0, 15.0, f32::INFINITY];
    for variant in [Variant::Scalar, Variant::Simd, Variant::Parallel] {
        let mut out = [0f32; 5];
        ctprep_intensity::window_slice_into(&src, &mut out, &map, variant).expect("runs");
        assert!(out[0].is_nan(), "{variant}");
        assert_eq!(&out[1..], &[0.0, 0.5, 1.0, 1.0], "{variant}");
        let u8map = WindowMap::for_output::<u8>(Window::new(0.0, 10.0).expect("window"), None, None).expect("map");
        let mut q = [7u8; 5];
        ctprep_intensity::window_slice_into(&src, &mut q, &u8map, variant).expect("runs");
        // 0.5 * 255 = 127.5 rounds to even: 128.
        assert_eq!(q, [0, 0, 128, 255, 255], "{variant}");
    }
}

#[test]
fn the_choice_of_kernel_is_reported() {
    use ctprep_intensity::Report;
    let w = Window::new(-100.0, 1000.0).expect("window");
    let map = WindowMap::new(w, Range::UNIT, None).expect("map");
    let big: Vec<i16> = (0..(1 << 20) as u64).map(i16::make).collect();
    let mut out = vec![0f32; big.len()];
    let run = |v: Variant, src: &[i16], out: &mut [f32]| {
        ctprep_intensity::window_slice_into(src, out, &map, v).expect("runs")
    };
    let isa = dispatch::isa();
    assert_eq!(run(Variant::Scalar, &big, &mut out), Report { variant: Variant::Scalar, kernel: Kernel::Scalar, isa });
    assert_eq!(run(Variant::Simd, &big, &mut out), Report { variant: Variant::Simd, kernel: Kernel::Wide, isa });
    assert_eq!(run(Variant::Parallel, &big, &mut out).kernel, Kernel::Table, "16-bit to f32 uses the table");
    let auto = run(Variant::Auto, &big, &mut out);
    assert!(auto.kernel == Kernel::Table && auto.variant != Variant::Auto);
    let r = run(Variant::Auto, &big[..1000], &mut out[..1000]);
    assert_eq!(r, Report { variant: Variant::Simd, kernel: Kernel::Dispatched, isa }, "small inputs skip the table");
    // 16-bit HU to u8 with an integral window: the verified integer kernel.
    let u8map = WindowMap::for_output::<u8>(w, None, None).expect("map");
    let mut q = vec![0u8; big.len()];
    let r = ctprep_intensity::window_slice_into(&big, &mut q, &u8map, Variant::Parallel).expect("runs");
    assert_eq!(r.kernel, Kernel::VerifiedInt);
    // A fractional slope has no integer form: the table.
    let frac = WindowMap::for_output::<u8>(w, None, Some((7.1098, -1024.0))).expect("map");
    assert!(int16::plan::<i16, u8>(&frac).is_none());
    let r = ctprep_intensity::window_slice_into(&big, &mut q, &frac, Variant::Parallel).expect("runs");
    assert_eq!(r.kernel, Kernel::Table);
}

#[test]
fn integer_outputs_round_exact_halves_to_even() {
    // 110 HU into a 1100 HU window is exactly 25.5 of 255: rounds to 26 (even), as np.rint.
    let map = WindowMap::for_output::<u8>(Window::new(0.0, 1100.0).expect("window"), None, None).expect("map");
    let src: Vec<i16> = vec![110, 330, 550, 770, 990];
    for variant in [Variant::Scalar, Variant::Simd, Variant::Parallel, Variant::Auto] {
        let mut q = vec![0u8; src.len()];
        ctprep_intensity::window_slice_into(&src, &mut q, &map, variant).expect("runs");
        assert_eq!(q, [26, 76, 128, 178, 230], "{variant}");
    }
}
