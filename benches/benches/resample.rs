//! Resampling kernels next to a memory copy of the output bytes.
//!
//! Run: `cargo bench -p ctprep-benches --bench resample`, then
//! `cargo xtask bench-report --group resample`. Build with `RUSTFLAGS="-C target-cpu=native"`
//! for the AVX2 / AVX-512 widths of `wide` (the default target is SSE2).
//!
//! Cases (ids `<case>-<kernel>/<threads>/<output shape>`, every kernel on 1 thread and all):
//! - `ct_1mm`: the 512x512x300 int16 CT phantom (0.78 x 0.78 x 2.5 mm) to 1 mm under
//!   `first-centre` (400x400x748 float32 out): separable path, z grows;
//! - `up2_128`: a 128^3 float32 volume at 2 mm to 1 mm (255^3 out): separable, every axis grows;
//! - `oblique_256`: a 256^3 int16 volume onto the same grid rotated 5 degrees about z, fill
//!   -1024 (general path).
//!
//! `<case>-copy` copies the output's bytes with `copy_from_slice` into a pre-touched buffer:
//! the bandwidth limit for writing the output. Throughput counts the output bytes. Every
//! timed output is checked against the scalar oracle (within the documented tolerance).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctprep_benches::ct_phantom;
use ctprep_resample::{
    Affine, Exec, Grid, GridConvention, Kernel, Plan, Threads, Trilinear, Voxel, plan_like, plan_spacing,
    resample_linear_slice_into,
};

fn case<T: Voxel>(c: &mut Criterion, name: &str, src: &[T], plan: &Plan, opts: &Trilinear) {
    let [mx, my, mz] = plan.grid.shape;
    let size = format!("{mx}x{my}x{mz}");
    let out_len = plan.output_len();
    let mut g = c.benchmark_group("resample");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Bytes((out_len * 4) as u64));

    let from = vec![1u8; out_len * 4];
    let mut to = vec![0u8; out_len * 4];
    g.bench_function(BenchmarkId::new(format!("{name}-copy"), &size), |b| {
        b.iter(|| to.copy_from_slice(black_box(&from)));
        assert_eq!(to, from);
    });
    drop((from, to));

    let mut want = vec![0f32; out_len];
    resample_linear_slice_into(src, plan, opts, &mut want, Exec::SCALAR).expect("oracle");
    let scale = want.iter().filter(|v| v.is_finite()).fold(1f32, |m, v| m.max(v.abs()));
    let mut out = vec![0f32; out_len];
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let execs = Kernel::ALL.into_iter().flat_map(|k| [1, all].map(|t| (k, t)));
    for (kernel, threads) in execs.filter(|&(k, t)| k != Kernel::Scalar || t == 1) {
        let variant = Exec::new().kernel(kernel).threads(Threads::count(threads));
        g.bench_function(BenchmarkId::new(format!("{name}-{kernel}/{threads}"), &size), |b| {
            out.fill(f32::NAN);
            b.iter(|| resample_linear_slice_into(black_box(src), plan, opts, &mut out, variant).expect("resamples"));
            let worst = out.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst <= 1e-5 * scale, "{name}-{variant}: differs from the oracle by {worst}");
        });
    }
    g.finish();
}

fn resample(c: &mut Criterion) {
    let ct = ct_phantom();
    let shape = ct.dims3().expect("3-D");
    let plan = plan_spacing(shape, ct.affine(), [1.0; 3], GridConvention::FirstCentre).expect("plans");
    let src = ct.data().as_slice::<i16>().expect("int16 phantom");
    case(c, "ct_1mm", src, &plan, &Trilinear::new());
    drop(ct);

    let n = 128;
    let vol: Vec<f32> = (0..n * n * n).map(|i| ((i * 7919) % 2500) as f32 - 1024.0).collect();
    let a = Affine::from_spacing_origin([2.0; 3], [0.0; 3]);
    let plan = plan_spacing([n; 3], &a, [1.0; 3], GridConvention::FirstCentre).expect("plans");
    case(c, "up2_128", &vol, &plan, &Trilinear::new());
    drop(vol);

    let n = 256;
    let vol: Vec<i16> = (0..n * n * n).map(|i| ((i * 7919) % 2500) as i16 - 1024).collect();
    let a = Affine::from_spacing_origin([1.0; 3], [0.0; 3]);
    let (s, co) = 5f64.to_radians().sin_cos();
    let centre = (n as f64 - 1.0) / 2.0;
    let lin = [[co, -s, 0.0], [s, co, 0.0], [0.0, 0.0, 1.0]];
    // Rotated about the volume's centre.
    let origin = [centre - (co * centre - s * centre), centre - (s * centre + co * centre), 0.0];
    let grid = Grid { shape: [n; 3], affine: Affine::from_parts(lin, origin) };
    let plan = plan_like([n; 3], &a, grid).expect("plans");
    case(c, "oblique_256", &vol, &plan, &Trilinear::new().fill(Some(-1024.0)));
}

criterion_group!(benches, resample);
criterion_main!(benches);
