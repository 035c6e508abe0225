//! The thread sweep behind `ctprep_core::PARALLEL_MIN_VOXELS`: every kernel crate's kernels on
//! work from a quarter to four times that size, on 1 to all available threads (modelled on
//! fast_image_resize's `benches/bench_threads.rs`).
//!
//! Run: `cargo bench -p ctprep-benches --bench threads`, then
//! `cargo xtask bench-report --group threads`. The threshold is where, for every kernel, two
//! threads first beat one; rerun this on a new machine before changing it.
//!
//! Ids are `<stage>-<kernel>/<threads>/<voxels>`, voxels zero-padded so they sort:
//! - `window`: int16 stored values (scl_inter -1024) to float32, the classic window;
//! - `resample`: int16 at 0.78 x 0.78 x 2.5 mm to 1 mm (voxels counts the output);
//! - `mip`: a sliding MIP of 5 slices over float32.
//!
//! Each call runs inside a rayon pool of exactly `<threads>` threads with
//! `Threads::Count(<threads>)` (`Threads::One` for 1). Throughput counts the voxels written.
//! Each timed output is checked against the one-thread output of the same kernel, bit for bit.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctprep_core::{Affine, Exec, Kernel, PARALLEL_MIN_VOXELS, Threads};
use ctprep_intensity::{Range, Window, WindowMap, window_slice_into};
use ctprep_projection::{Projector, SlabProjection};
use ctprep_resample::{GridConvention, Resampler, Trilinear, plan_spacing};

/// Work sizes around the threshold: a quarter, a half, once, twice and four times.
fn sizes() -> [usize; 5] {
    [
        PARALLEL_MIN_VOXELS / 4,
        PARALLEL_MIN_VOXELS / 2,
        PARALLEL_MIN_VOXELS,
        PARALLEL_MIN_VOXELS * 2,
        PARALLEL_MIN_VOXELS * 4,
    ]
}

fn hu(i: usize) -> i16 {
    let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    (x % 2600) as i16 - 26
}

/// A 512-wide plane count for `voxels`: (512, rows, slices) with 8 slices along z.
fn shape_for(voxels: usize) -> [usize; 3] {
    [512, (voxels / 512 / 8).max(1), 8]
}

/// Runs `f(exec)` for each thread count in its own pool of that many threads.
fn sweep(c: &mut Criterion, stage: &str, voxels: usize, f: &mut (dyn FnMut(Exec) -> Vec<u32> + Send)) {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut g = c.benchmark_group("threads");
    g.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(voxels as u64));
    for kernel in [Kernel::Wide, Kernel::Auto] {
        let want = f(Exec::new().kernel(kernel).threads(Threads::One));
        for threads in 1..=all {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            let exec = Exec::new().kernel(kernel).threads(Threads::count(threads));
            g.bench_function(BenchmarkId::new(format!("{stage}-{kernel}/{threads}"), format!("{voxels:08}")), |b| {
                b.iter(|| pool.install(|| f(black_box(exec))));
                assert!(pool.install(|| f(exec)) == want, "{stage} {kernel} on {threads} threads differs");
            });
        }
    }
    g.finish();
}

fn threads(c: &mut Criterion) {
    let window = Window::new(-100.0, 1000.0).expect("window");
    let map = WindowMap::new(window, Range::UNIT, Some((1.0, -1024.0))).expect("map");
    for voxels in sizes() {
        let src: Vec<i16> = (0..voxels).map(|i| hu(i) + 1024).collect();
        let mut out = vec![0f32; voxels];
        sweep(c, "window", voxels, &mut |exec| {
            window_slice_into(&src, &mut out, &map, exec).expect("windows");
            out.iter().map(|v| v.to_bits()).collect()
        });

        // The input shape whose 1 mm output has about `voxels` voxels.
        let [ox, oy, oz] = shape_for(voxels);
        let input =
            [(ox as f64 / 0.78) as usize, (oy as f64 / 0.78).max(1.0) as usize, (oz as f64 / 2.5).max(2.0) as usize];
        let affine = Affine::from_spacing_origin([0.78, 0.78, 2.5], [0.0; 3]);
        let plan = plan_spacing(input, &affine, [1.0; 3], GridConvention::FirstCentre).expect("plans");
        let ct: Vec<i16> = (0..input.iter().product()).map(hu).collect();
        let mut iso = vec![0f32; plan.output_len()];
        let mut resampler = Resampler::new();
        sweep(c, "resample", plan.output_len(), &mut |exec| {
            resampler.linear_slice_into(&ct, &plan, &Trilinear::new(), &mut iso, exec).expect("resamples");
            iso.iter().map(|v| v.to_bits()).collect()
        });

        let shape = shape_for(voxels);
        let vol: Vec<f32> = (0..shape.iter().product()).map(|i| f32::from(hu(i))).collect();
        let mut mip = vec![0f32; vol.len()];
        let mut projector = Projector::new();
        let p = SlabProjection::new(5);
        sweep(c, "mip", vol.len(), &mut |exec| {
            projector.project_slice_into(&vol, shape, &p, &mut mip, exec).expect("projects");
            mip.iter().map(|v| v.to_bits()).collect()
        });
    }
}

criterion_group!(benches, threads);
criterion_main!(benches);
