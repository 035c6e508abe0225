//! Intensity windowing kernels next to a memory-copy baseline.
//!
//! Run: `cargo bench -p ctprep-benches --bench intensity`, then
//! `cargo xtask bench-report --group intensity`. Build with `RUSTFLAGS="-C target-cpu=native"` for
//! the AVX-512 widths of `wide` (the default target is SSE2).
//!
//! Kernels (the classic -100..1000 HU window to [0, 1]):
//! - `f32_to_f32`: float32 HU in, float32 out (4 + 4 bytes per voxel);
//! - `i16_scaled_to_f32`: int16 stored values with scl_inter -1024 in, float32 out (2 + 4 bytes);
//! - `i16_to_u8`: int16 HU in, uint8 image values out (2 + 1 bytes).
//!
//! Ids are `<case>-<kernel>/<threads>/<voxels>`: kernels scalar, wide (compile-time width),
//! dispatched (the oracle's loop compiled per instruction set, chosen at run time), auto (the
//! fastest exact kernel: the table for 16-bit to f32, the verified integer kernel for i16 to
//! u8), on 1 thread and on all of them; `lut` (the table alone, one thread; 16-bit input only);
//! and `<case>-copy`, a `copy_from_slice` of (in + out) / 2 bytes, which moves the same number
//! of bytes as the kernel reads and writes (the bandwidth limit).
//! Throughput is bytes read + written. Each timed output is checked against the scalar oracle.
//!
//! `window_stats-dispatched/<voxels>`: [`WindowStats::of`] over float32 HU (the range and the
//! clipped counts `run` reports), next to `window_stats-copy`, a copy moving as many bytes as it reads.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctprep_intensity::{
    Exec, Kernel, Output, Range, Sample, Threads, Window, WindowMap, WindowStats, lut, scalar, window_slice_into,
};

const SIZES: [(usize, &str); 2] = [(1 << 20, "01Mi"), (1 << 26, "64Mi")];

fn hu(i: usize) -> f64 {
    // A CT-like spread: mostly -1024..1500 with structure, deterministic.
    let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    (x % 2600) as f64 - 1050.0
}

fn kernel<T: Sample + Copy, O: Output + PartialEq + std::fmt::Debug>(
    c: &mut Criterion,
    name: &str,
    make: fn(f64) -> T,
    scaling: Option<(f64, f64)>,
) {
    let window = Window::new(-100.0, 1000.0).expect("window");
    let map =
        WindowMap::for_output::<O>(window, Some(Range::UNIT).filter(|_| O::RANGE.is_none()), scaling).expect("map");
    let mut g = c.benchmark_group("intensity");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for (n, label) in SIZES {
        let src: Vec<T> = (0..n).map(|i| make(hu(i))).collect();
        let mut want = vec![O::default(); n];
        scalar::window(&src, &map, &mut want);
        let mut out = vec![O::default(); n];
        let bytes = n * (size_of::<T>() + size_of::<O>());
        g.throughput(Throughput::Bytes(bytes as u64));

        let half = bytes / 2;
        let from = vec![1u8; half];
        let mut to = vec![0u8; half];
        g.bench_function(BenchmarkId::new(format!("{name}-copy"), label), |b| {
            b.iter(|| to.copy_from_slice(black_box(&from)));
            assert_eq!(to, from);
        });
        drop((from, to));

        let mut run = |variant: &str, f: &dyn Fn(&[T], &mut [O])| {
            g.bench_function(BenchmarkId::new(format!("{name}-{variant}"), label), |b| {
                out.iter_mut().for_each(|o| *o = O::default());
                b.iter(|| f(black_box(&src), &mut out));
                assert!(out == want, "{name}-{variant}/{label} differs from the scalar oracle");
            });
        };
        let all = std::thread::available_parallelism().map_or(1, |n| n.get());
        for kernel in Kernel::ALL {
            for threads in [1, all] {
                if kernel == Kernel::Scalar && threads > 1 {
                    continue;
                }
                let exec = Exec::new().kernel(kernel).threads(Threads::count(threads));
                run(&format!("{kernel}/{threads}"), &|s, o| {
                    window_slice_into(s, o, &map, exec).expect("runs");
                });
            }
        }
        if T::LUT_SIZE.is_some() {
            run("lut/1", &|s, o| lut::window(s, &map, o));
        }
    }
    g.finish();
}

fn intensity(c: &mut Criterion) {
    kernel::<f32, f32>(c, "f32_to_f32", |v| v as f32, None);
    kernel::<i16, f32>(c, "i16_scaled_to_f32", |v| (v + 1024.0) as i16, Some((1.0, -1024.0)));
    kernel::<i16, u8>(c, "i16_to_u8", |v| v as i16, None);
    stats(c);
}

fn stats(c: &mut Criterion) {
    let window = Window::new(-100.0, 1000.0).expect("window");
    let mut g = c.benchmark_group("intensity");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for (n, label) in SIZES {
        let src: Vec<f32> = (0..n).map(|i| hu(i) as f32).collect();
        let want = (src.iter().filter(|&&v| v < -100.0).count(), src.iter().filter(|&&v| v > 1000.0).count());
        g.throughput(Throughput::Bytes(4 * n as u64));
        let from = vec![1u8; 2 * n];
        let mut to = vec![0u8; 2 * n];
        g.bench_function(BenchmarkId::new("window_stats-copy", label), |b| {
            b.iter(|| to.copy_from_slice(black_box(&from)));
            assert_eq!(to, from);
        });
        drop((from, to));
        g.bench_function(BenchmarkId::new("window_stats-dispatched", label), |b| {
            let mut got = WindowStats::default();
            b.iter(|| got = WindowStats::of(black_box(&src), window));
            assert_eq!((got.below as usize, got.above as usize), want);
        });
    }
    g.finish();
}

criterion_group!(benches, intensity);
criterion_main!(benches);
