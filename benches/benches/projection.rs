//! Sliding-slab MIP on the 512x512x300 CT phantom (as float32 HU) next to a memory copy.
//!
//! Run: `cargo bench -p ctprep-benches --bench projection`, then
//! `cargo xtask bench-report --group projection`.
//!
//! Ids are `mip_k<k>-<kernel>/<threads>/512x512x300` (start alignment, shrink edges: as many
//! output as input slices), `mip_k05_x-...` (the same along x, the contiguous axis) and
//! `whole_z-<kernel>/<threads>` (one slice), on 1 thread and all; `mip_k<k>-copy` and `whole_z-copy` copy
//! the same number of bytes (input read + output written, half each way). Throughput counts
//! bytes read + written. Every timed output is compared with the naive oracle's, bit for bit.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctprep_benches::ct_phantom;
use ctprep_projection::{Axis3, Exec, Kernel, Reduce, SlabProjection, Threads, project_slice_into, whole_axis};

const SIZE: &str = "512x512x300";

fn projection(c: &mut Criterion) {
    let ct = ct_phantom();
    let shape = ct.dims3().expect("3-D");
    let src = ct.scaled_f32();
    drop(ct);
    let mut g = c.benchmark_group("projection");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4));
    let slabs = [
        ("mip_k05", SlabProjection::new(5)),
        ("mip_k31", SlabProjection::new(31)),
        ("whole_z", whole_axis(Axis3::Z, Reduce::Max, shape[2])),
        // Along x, the contiguous axis (a C-order numpy array's last): rows of one value.
        ("mip_k05_x", SlabProjection::new(5).axis(Axis3::X)),
    ];
    for (name, p) in slabs {
        let a = p.get_axis().index();
        let m = p.output_len(shape[a]).expect("length");
        let out_len = src.len() / shape[a] * m;
        let bytes = (src.len() + out_len) * 4;
        g.throughput(Throughput::Bytes(bytes as u64));
        let mut want = vec![0f32; out_len];
        project_slice_into(&src, shape, &p, &mut want, Exec::SCALAR).expect("projects");

        let from = vec![1u8; bytes / 2];
        let mut to = vec![0u8; bytes / 2];
        g.bench_function(BenchmarkId::new(format!("{name}-copy"), SIZE), |b| {
            b.iter(|| to.copy_from_slice(black_box(&from)));
            assert_eq!(to, from);
        });
        drop((from, to));

        let mut out = vec![0f32; out_len];
        let all = std::thread::available_parallelism().map_or(1, |n| n.get());
        let execs = Kernel::ALL.into_iter().flat_map(|k| [1, all].map(|t| (k, t)));
        for (kernel, threads) in execs.filter(|&(k, t)| k != Kernel::Scalar || t == 1) {
            let variant = Exec::new().kernel(kernel).threads(Threads::count(threads));
            g.bench_function(BenchmarkId::new(format!("{name}-{kernel}/{threads}"), SIZE), |b| {
                out.fill(-1.0);
                b.iter(|| project_slice_into(black_box(&src), shape, &p, &mut out, variant).expect("projects"));
                assert!(
                    out.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{name}-{variant} differs from the oracle"
                );
            });
        }
    }
    g.finish();
}

criterion_group!(benches, projection);
criterion_main!(benches);
