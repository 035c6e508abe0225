//! Every kernel × threads against the scalar oracle, bit for bit: all input and output types,
//! scaled and unscaled, on the shared awkward shapes and values (NaN, infinities and -0 among
//! the floats) and non-contiguous views (ctprep-testdata's property test), and on volumes past
//! the lookup-table threshold and the parallel chunk.

use ctprep_intensity::{
    Exec, Kernel, Output, RanKernel, Range, Report, Sample, Threads, Variant, Window, WindowMap, dispatch, int16, lut,
    parallel, scalar, simd, window, window_into,
};
use ctprep_testdata::kernels::{Gen, execs, values, views};
use ndarray::{Array3, ShapeBuilder};

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

/// One type pair on one shape: every view of the volume through `exec`, against the oracle
/// value by value.
fn check_pair<T: Sample + Gen, O: Bits>(shape: [usize; 3], seed: u64, exec: Exec) {
    let n: usize = shape.iter().product();
    let a = Array3::from_shape_vec(shape.f(), values::<T>(n, seed)).expect("shape");
    for (mi, map) in maps::<O>().iter().enumerate() {
        for (name, view) in views(&a) {
            let (got, report) = window::<T, O>(view, map, exec).expect("runs");
            let want: Vec<O> = view
                .iter()
                .map(|&v| {
                    let mut one = [O::default()];
                    scalar::window(&[v], map, &mut one);
                    one[0]
                })
                .collect();
            let what = format!("{} -> {} map {mi} {shape:?} {name} {exec}", T::NAME, std::any::type_name::<O>());
            same(&what, &got.iter().copied().collect::<Vec<_>>(), &want);
            assert!(report.threads >= 1, "{what}");
            if exec.kernel == Kernel::Scalar {
                assert_eq!(report.kernel, RanKernel::Scalar, "{what}");
            }
        }
    }
}

fn check(shape: [usize; 3], seed: u64, exec: Exec) {
    check_pair::<u8, u8>(shape, seed, exec);
    check_pair::<i8, f32>(shape, seed, exec);
    check_pair::<u16, u16>(shape, seed, exec);
    check_pair::<i16, f32>(shape, seed, exec);
    check_pair::<i16, u8>(shape, seed, exec);
    check_pair::<i32, u8>(shape, seed, exec);
    check_pair::<f32, f32>(shape, seed, exec);
    check_pair::<f32, u16>(shape, seed, exec);
    check_pair::<f64, f32>(shape, seed, exec);
}

ctprep_testdata::oracle_proptests!(every_kernel_and_thread_count, check);

/// Past the lookup-table threshold and several parallel chunks (2^18 voxels): the table, the
/// verified integer kernel and the chunked split, for every type pair that has them.
fn check_large<T: Sample + Gen, O: Bits>() {
    for shape in [[64, 64, 70], [131, 67, 31]] {
        let n: usize = shape.iter().product();
        let src: Vec<T> = values(n, 11);
        for (mi, map) in maps::<O>().iter().enumerate() {
            let mut want = vec![O::default(); n];
            scalar::window(&src, map, &mut want);
            let what = |v: &str| format!("{}->{} map {mi} shape {shape:?} {v}", T::NAME, std::any::type_name::<O>());
            let mut got = vec![O::default(); n];
            for (name, f) in [
                ("simd", simd::window::<T, O> as fn(&[T], &WindowMap, &mut [O])),
                ("parallel", parallel::window::<T, O>),
                ("dispatched", dispatch::window::<T, O>),
                ("lut", lut::window::<T, O>),
            ] {
                f(&src, map, &mut got);
                same(&what(name), &got, &want);
            }
            if let Some(plan) = int16::plan::<T, O>(map).filter(|p| int16::verify::<T, O>(p, map)) {
                int16::run(&src, &plan, &mut got);
                same(&what("verified-int"), &got, &want);
            }
            for exec in execs() {
                ctprep_intensity::window_slice_into(&src, &mut got, map, exec).expect("runs");
                same(&what(&exec.to_string()), &got, &want);
            }
        }
    }
}

#[test]
fn large_volumes_agree_with_the_oracle() {
    check_large::<u8, f32>();
    check_large::<i16, u8>();
    check_large::<i16, f32>();
    check_large::<u16, u16>();
    check_large::<f32, f32>();
}

#[test]
fn nan_in_nan_out_and_integer_outputs_give_zero() {
    let map = WindowMap::new(Window::new(0.0, 10.0).expect("window"), Range::UNIT, None).expect("map");
    let src = [f32::NAN, -5.0, 5.0, 15.0, f32::INFINITY];
    for exec in execs() {
        let mut out = [0f32; 5];
        ctprep_intensity::window_slice_into(&src, &mut out, &map, exec).expect("runs");
        assert!(out[0].is_nan(), "{exec}");
        assert_eq!(&out[1..], &[0.0, 0.5, 1.0, 1.0], "{exec}");
        let u8map = WindowMap::for_output::<u8>(Window::new(0.0, 10.0).expect("window"), None, None).expect("map");
        let mut q = [7u8; 5];
        ctprep_intensity::window_slice_into(&src, &mut q, &u8map, exec).expect("runs");
        // 0.5 * 255 = 127.5 rounds to even: 128.
        assert_eq!(q, [0, 0, 128, 255, 255], "{exec}");
    }
}

#[test]
fn the_choice_of_kernel_is_reported() {
    use ctprep_intensity::{Isa, Source};
    let w = Window::new(-100.0, 1000.0).expect("window");
    let map = WindowMap::new(w, Range::UNIT, None).expect("map");
    let big: Vec<i16> = values((1 << 20) + 3, 5);
    let mut out = vec![0f32; big.len()];
    let run =
        |e: Exec, src: &[i16], out: &mut [f32]| ctprep_intensity::window_slice_into(src, out, &map, e).expect("runs");
    let one = |k: Kernel| Exec::new().kernel(k).threads(Threads::One);
    let (target, detected) = (Isa::target(), Isa::detected());
    let report = |kernel, isa, threads, source| Report { kernel, isa, threads, source };
    assert_eq!(run(Variant::Scalar.exec(), &big, &mut out), report(RanKernel::Scalar, target, 1, Source::Asked));
    assert_eq!(run(Variant::Simd.exec(), &big, &mut out), report(RanKernel::Wide, target, 1, Source::Asked));
    assert_eq!(run(one(Kernel::Dispatched), &big, &mut out), report(RanKernel::Dispatched, detected, 1, Source::Asked));
    assert_eq!(
        run(one(Kernel::Auto), &big, &mut out),
        report(RanKernel::Table, target, 1, Source::Fallback),
        "16-bit to f32: table"
    );
    assert_eq!(run(Exec::SCALAR.threads(Threads::count(4)), &big, &mut out).threads, 1, "the oracle stays on one");
    let four = run(Exec::new().threads(Threads::count(4)), &big, &mut out);
    assert_eq!((four.kernel, four.threads), (RanKernel::Table, 4));
    assert_eq!(four.to_string(), format!("table ({}), 4 threads", target.name()));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
    assert_eq!(pool.install(|| run(Exec::new(), &big, &mut out)).threads, 2, "auto splits large inputs");
    let r = pool.install(|| run(Exec::new(), &big[..1000], &mut out[..1000]));
    assert_eq!(
        r,
        report(RanKernel::Dispatched, detected, 1, Source::Fallback),
        "small inputs skip the table and the pool"
    );
    assert_eq!(r.to_string(), format!("dispatched ({}), 1 thread", detected.name()));
    // 16-bit HU to u8 with an integral window: the verified integer kernel.
    let u8map = WindowMap::for_output::<u8>(w, None, None).expect("map");
    let mut q = vec![0u8; big.len()];
    let r = ctprep_intensity::window_slice_into(&big, &mut q, &u8map, Exec::new()).expect("runs");
    assert_eq!((r.kernel, r.isa), (RanKernel::VerifiedInt, detected));
    // A fractional slope has no integer form: the table.
    let frac = WindowMap::for_output::<u8>(w, None, Some((7.1098, -1024.0))).expect("map");
    assert!(int16::plan::<i16, u8>(&frac).is_none());
    let r = ctprep_intensity::window_slice_into(&big, &mut q, &frac, Exec::new()).expect("runs");
    assert_eq!(r.kernel, RanKernel::Table);
    // Lane by lane through a non-contiguous view: one thread.
    let a = Array3::from_shape_vec((128, 128, 64).f(), big[..1 << 20].to_vec()).expect("shape");
    let mut o = Array3::<f32>::zeros((64, 128, 128));
    let r = window_into(a.view().permuted_axes([2, 0, 1]), o.view_mut(), &map, Exec::new()).expect("runs");
    assert_eq!(r.threads, 1);
}

#[test]
fn integer_outputs_round_exact_halves_to_even() {
    // 110 HU into a 1100 HU window is exactly 25.5 of 255: rounds to 26 (even), as np.rint.
    let map = WindowMap::for_output::<u8>(Window::new(0.0, 1100.0).expect("window"), None, None).expect("map");
    let src: Vec<i16> = vec![110, 330, 550, 770, 990];
    for exec in execs() {
        let mut q = vec![0u8; src.len()];
        ctprep_intensity::window_slice_into(&src, &mut q, &map, exec).expect("runs");
        assert_eq!(q, [26, 76, 128, 178, 230], "{exec}");
    }
}
