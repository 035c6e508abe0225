//! Cubic B-spline resampling (scipy's `map_coordinates(order=3, mode='nearest', prefilter=True)`)
//! next to a memory copy, trilinear on the same plan, and the oracle on a small case.
//!
//! Run: `cargo bench -p ctprep-benches --bench spline` (a few minutes on 2 cores; the cases
//! below in this order). Build with `RUSTFLAGS="-C target-cpu=native"` for the AVX2 / AVX-512
//! widths of `wide` (the default target is SSE2; `dispatched` picks its width at run time).
//!
//! Ids `<case>-<kernel>/<threads>/<output shape>`; `<threads>` is 1 or all cores:
//! - `small_1mm`: a 128x128x60 int16 phantom (0.78 x 0.78 x 2.5 mm) to 1 mm first-centre
//!   (100x100x148 out), cubic: `scalar` (the f64 oracle), `wide` and `dispatched` on one thread,
//!   and the same onto the grid rotated 12 degrees (`small_rot12`, general path), every output
//!   checked against the oracle within `1e-5` of the largest |value| (and, untimed, the
//!   anti-aliased downsampling to 2 mm of `wide` and `dispatched` against the oracle);
//! - `ct_1mm`: the 512x512x300 int16 CT phantom to 1 mm first-centre (400x400x748 float32):
//!   `copy` (the output's bytes copied into a pre-touched buffer: the bandwidth limit),
//!   `cubic-{wide,dispatched}` and `linear-{wide,dispatched}` (`Sampling::new()`: the trilinear
//!   kernels) on 1 and all threads. The oracle would take minutes here: every output is checked
//!   against `cubic-dispatched/all` (or `linear-dispatched/all`) instead, within `1e-5` of the
//!   largest |value|;
//! - `ct_rot12`: the same input onto the 1 mm grid rotated 12 degrees about z around its centre
//!   (same 400x400x748 size, edge clamp as above): the general path, `linear-dispatched` and
//!   `cubic-dispatched` on all threads only; checked against `wide` once (linear within
//!   `4.8e-3` of the largest |value|: the AVX2 kernel's f32 steps, see `ctprep-resample`'s
//!   `avx2.rs`); and the same two onto the grid rotated 12 degrees about x (`ct_rotx12`), about
//!   y (`ct_roty12`) and about the skew axis (1, 1, 1) (`ct_rotxyz12`), the other oblique forms;
//! - `ct_2mm`: the CT to 2 mm first-centre (200x200x375: in-plane shrinks, z grows), cubic on all
//!   threads with and without `antialias(true)` (skimage's Gaussian before downsampling).
//!
//! Throughput counts the output's bytes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use ctprep_benches::ct_phantom;
use ctprep_phantom::Phantom;
use ctprep_resample::{
    Affine, Exec, Grid, GridConvention, Kernel, Plan, Sampling, Threads, Voxel, plan_like, plan_spacing,
    resample_spline_slice_into,
};

fn all_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn size(plan: &Plan) -> String {
    let [mx, my, mz] = plan.grid.shape;
    format!("{mx}x{my}x{mz}")
}

/// The largest |value| (at least 1): the scale of the tolerance.
fn scale(v: &[f32]) -> f32 {
    v.iter().filter(|v| v.is_finite()).fold(1f32, |m, v| m.max(v.abs()))
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0f32, |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) })
}

/// The plan's 1 mm grid rotated `deg` degrees about z around the output grid's centre.
fn rotated(plan: &Plan, input: &Affine, deg: f64) -> Plan {
    rotated_about(plan, input, deg, 2)
}

/// The plan's grid rotated `deg` degrees about world axis `axis` (x, y, z, or 3: the skew axis
/// (1, 1, 1)) around its centre.
fn rotated_about(plan: &Plan, input: &Affine, deg: f64, axis: usize) -> Plan {
    let [mx, my, mz] = plan.grid.shape;
    let c = plan.grid.affine.apply([(mx as f64 - 1.0) / 2.0, (my as f64 - 1.0) / 2.0, (mz as f64 - 1.0) / 2.0]);
    let (s, co) = deg.to_radians().sin_cos();
    let r = match axis {
        0 => [[1.0, 0.0, 0.0], [0.0, co, -s], [0.0, s, co]],
        1 => [[co, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, co]],
        2 => [[co, -s, 0.0], [s, co, 0.0], [0.0, 0.0, 1.0]],
        _ => {
            // Rodrigues: I + sin K + (1 - cos) K^2, K the cross-product matrix of the unit axis.
            let k = 1.0 / 3f64.sqrt();
            let kx = [[0.0, -k, k], [k, 0.0, -k], [-k, k, 0.0]];
            std::array::from_fn(|i| {
                std::array::from_fn(|j| {
                    let kk: f64 = (0..3).map(|l| kx[i][l] * kx[l][j]).sum();
                    f64::from(u8::from(i == j)) + s * kx[i][j] + (1.0 - co) * kk
                })
            })
        }
    };
    let shift: [f64; 3] = std::array::from_fn(|i| c[i] - (0..3).map(|k| r[i][k] * c[k]).sum::<f64>());
    let affine = Affine::from_parts(r, shift).matmul(&plan.grid.affine);
    plan_like(plan.input_shape, input, Grid { shape: plan.grid.shape, affine }).expect("plans")
}

fn group(c: &mut Criterion) -> BenchmarkGroup<'_, WallTime> {
    let mut g = c.benchmark_group("spline");
    g.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(3));
    g
}

/// Times `name-kernel/threads` for each (kernel, threads), every output within `tol` times the
/// largest |value| of `want`.
#[allow(clippy::too_many_arguments)] // The case, its data and what to time.
fn timed<T: Voxel>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    src: &[T],
    plan: &Plan,
    opts: &Sampling,
    execs: &[(Kernel, usize)],
    want: &[f32],
    out: &mut [f32],
    tol: f32,
) {
    let tol = tol * scale(want);
    let size = size(plan);
    for &(kernel, threads) in execs {
        let exec = Exec::new().kernel(kernel).threads(Threads::count(threads));
        g.bench_function(BenchmarkId::new(format!("{name}-{kernel}/{threads}"), &size), |b| {
            out.fill(f32::NAN);
            b.iter(|| resample_spline_slice_into(black_box(src), plan, opts, out, exec).expect("resamples"));
            let d = worst(out, want);
            assert!(d <= tol, "{name}-{kernel}/{threads}: differs from the reference by {d} (tolerance {tol})");
        });
    }
}

fn copy_row(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, plan: &Plan) {
    let len = plan.output_len() * 4;
    let from = vec![1u8; len];
    let mut to = vec![0u8; len];
    g.bench_function(BenchmarkId::new(format!("{name}-copy"), size(plan)), |b| {
        b.iter(|| to.copy_from_slice(black_box(&from)));
        assert_eq!(to, from);
    });
}

fn reference<T: Voxel>(src: &[T], plan: &Plan, opts: &Sampling, kernel: Kernel, threads: usize) -> Vec<f32> {
    let mut want = vec![0f32; plan.output_len()];
    let exec = Exec::new().kernel(kernel).threads(Threads::count(threads));
    resample_spline_slice_into(src, plan, opts, &mut want, exec).expect("reference");
    want
}

fn spline(c: &mut Criterion) {
    let all = all_threads();
    let cubic = Sampling::new().order(3);
    let linear = Sampling::new();

    // The oracle's case: small enough for the f64 scalar kernel.
    let small = Phantom::new([128, 128, 60])
        .spacing_mm([0.78, 0.78, 2.5])
        .axcodes("LPS".parse().expect("valid axis codes"))
        .seed(1)
        .ct()
        .expect("valid phantom");
    let shape = small.dims3().expect("3-D");
    let src = small.data().as_slice::<i16>().expect("int16 phantom");
    let plan = plan_spacing(shape, small.affine(), [1.0; 3], GridConvention::FirstCentre).expect("plans");
    let rot = rotated(&plan, small.affine(), 12.0);
    {
        let mut g = group(c);
        g.throughput(Throughput::Bytes((plan.output_len() * 4) as u64));
        let mut out = vec![0f32; plan.output_len()];
        let one = [(Kernel::Scalar, 1), (Kernel::Wide, 1), (Kernel::Dispatched, 1)];
        let want = reference(src, &plan, &cubic, Kernel::Scalar, 1);
        timed(&mut g, "small_1mm_cubic", src, &plan, &cubic, &one, &want, &mut out, 1e-5);
        let want = reference(src, &rot, &cubic, Kernel::Scalar, 1);
        timed(&mut g, "small_rot12_cubic", src, &rot, &cubic, &one, &want, &mut out, 1e-5);
        g.finish();
        // The anti-aliased downsampling (in-plane 0.78 -> 2 mm) against the oracle, once.
        let aa = cubic.antialias(true);
        let plan2 = plan_spacing(shape, small.affine(), [2.0; 3], GridConvention::FirstCentre).expect("plans");
        let want = reference(src, &plan2, &aa, Kernel::Scalar, 1);
        for kernel in [Kernel::Wide, Kernel::Dispatched] {
            let got = reference(src, &plan2, &aa, kernel, all);
            let (d, tol) = (worst(&got, &want), 1e-5 * scale(&want));
            assert!(d <= tol, "small_2mm antialias {kernel}: differs from the oracle by {d} (tolerance {tol})");
        }
    }
    drop(small);

    let ct = ct_phantom();
    let shape = ct.dims3().expect("3-D");
    let src = ct.data().as_slice::<i16>().expect("int16 phantom");
    let plan = plan_spacing(shape, ct.affine(), [1.0; 3], GridConvention::FirstCentre).expect("plans");
    let both = [(Kernel::Wide, 1), (Kernel::Wide, all), (Kernel::Dispatched, 1), (Kernel::Dispatched, all)];
    {
        let mut g = group(c);
        g.throughput(Throughput::Bytes((plan.output_len() * 4) as u64));
        copy_row(&mut g, "ct_1mm", &plan);
        let mut out = vec![0f32; plan.output_len()];
        let want = reference(src, &plan, &cubic, Kernel::Dispatched, all);
        timed(&mut g, "ct_1mm_cubic", src, &plan, &cubic, &both, &want, &mut out, 1e-5);
        let want = reference(src, &plan, &linear, Kernel::Dispatched, all);
        timed(&mut g, "ct_1mm_linear", src, &plan, &linear, &both, &want, &mut out, 1e-5);
        drop(want);

        // The general path on the same output size, all threads only.
        let rot = rotated(&plan, ct.affine(), 12.0);
        // The AVX2 int16 trilinear kernel steps positions in f32 (within 8e-4 voxel per axis)
        // and blends in-plane maps z first: within 8e-4 of the neighbour differences per axis.
        for (name, opts, tol) in [("ct_rot12_linear", &linear, 4.8e-3), ("ct_rot12_cubic", &cubic, 1e-5)] {
            let want = reference(src, &rot, opts, Kernel::Wide, all);
            timed(&mut g, name, src, &rot, opts, &[(Kernel::Dispatched, all)], &want, &mut out, tol);
        }
        // About the other axes: x (rows along the input's x: the tilt case), y, and the skew
        // axis (1, 1, 1) (every input axis moves along every output axis).
        for (axis, about) in [(0, "x"), (1, "y"), (3, "xyz")] {
            let rot = rotated_about(&plan, ct.affine(), 12.0, axis);
            for (order, opts, tol) in [("linear", &linear, 4.8e-3), ("cubic", &cubic, 1e-5)] {
                let want = reference(src, &rot, opts, Kernel::Wide, all);
                let name = format!("ct_rot{about}12_{order}");
                timed(&mut g, &name, src, &rot, opts, &[(Kernel::Dispatched, all)], &want, &mut out, tol);
            }
        }
        g.finish();
    }

    // Anti-aliasing: the Gaussian before a shrinking resample (in-plane 0.78 -> 2 mm).
    let plan = plan_spacing(shape, ct.affine(), [2.0; 3], GridConvention::FirstCentre).expect("plans");
    let mut g = group(c);
    g.throughput(Throughput::Bytes((plan.output_len() * 4) as u64));
    let mut out = vec![0f32; plan.output_len()];
    for (name, opts) in [("ct_2mm_cubic", cubic), ("ct_2mm_cubic_antialias", cubic.antialias(true))] {
        let want = reference(src, &plan, &opts, Kernel::Wide, all);
        timed(&mut g, name, src, &plan, &opts, &[(Kernel::Dispatched, all)], &want, &mut out, 1e-5);
    }
    g.finish();
}

criterion_group!(benches, spline);
criterion_main!(benches);
