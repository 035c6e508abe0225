//! `ctprep run`'s stages on the 512x512x300 int16 CT phantom (LPS, 0.78 x 0.78 x 2.5 mm) with
//! the run's defaults: read the `.nii.gz`, resample onto the 1 mm RAS grid (400x400x748,
//! first-centre: flips only, so the separable path), window -100..1000 HU to [0, 1], MIP of 5
//! slices (centre, shrink), write the MIP as `.nii.gz` (gzip level 1), next to a copy of the
//! 479 MB MIP.
//!
//! The `pipeline_streamed` group runs the whole recipe as one library call
//! (`ctprep_pipeline::run`) next to a copy of the resampled volume's bytes.
//!
//! Run: `cargo bench -p ctprep-benches --bench pipeline`, then
//! `cargo xtask bench-report --group pipeline`. Ids are `<stage>/512x512x300`; every stage
//! runs with `Exec::default()` (auto kernel and threads) into buffers allocated once, so first-touch
//! page faults are not counted (the CLI's `--json` timings include them). Throughput counts the
//! bytes each stage reads plus writes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctprep_benches::ct_phantom;
use ctprep_intensity::{Range, Window, WindowMap, window_slice_into};
use ctprep_io::{AxCodes, VoxelData, WriteOptions, read_nifti, write_nifti};
use ctprep_projection::{Align, Edges, SlabProjection, project_slice_into};
use ctprep_resample::{Exec, GridConvention, Trilinear, plan_like, plan_spacing, resample_linear_slice_into};

const SIZE: &str = "512x512x300";

fn pipeline(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let ct_path = tmp.path().join("ct.nii.gz");
    let ct = ct_phantom();
    write_nifti(&ct, &ct_path, &WriteOptions::new()).expect("writes the phantom");
    let shape = ct.dims3().expect("3-D");
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(5));

    g.throughput(Throughput::Bytes(std::fs::metadata(&ct_path).expect("size").len() + (ct.data().len() * 2) as u64));
    g.bench_function(BenchmarkId::new("read_nii_gz", SIZE), |b| {
        b.iter(|| {
            let v = read_nifti(black_box(&ct_path)).expect("reads");
            assert_eq!(v.dims3().expect("3-D"), shape);
        });
    });

    // The grid `ctprep run` plans: the input grid reoriented to RAS, then 1 mm first-centre.
    let ro = ct.reorientation_to(AxCodes::RAS).expect("orientation");
    let r_affine = ct.affine().matmul(&ro.inverse_index_map(shape));
    let grid =
        plan_spacing(ro.output_shape(shape), &r_affine, [1.0; 3], GridConvention::FirstCentre).expect("plans").grid;
    let plan = plan_like(shape, ct.affine(), grid).expect("plans");
    assert!(plan.map.is_diagonal(), "LPS to RAS is flips only: the separable path");
    let out_shape = plan.grid.shape;
    let n_out = plan.output_len();
    let src = ct.data().as_slice::<i16>().expect("int16");
    let mut iso = vec![0f32; n_out];
    g.throughput(Throughput::Bytes((src.len() * 2 + n_out * 4) as u64));
    g.bench_function(BenchmarkId::new("resample_1mm_ras", SIZE), |b| {
        b.iter(|| resample_linear_slice_into(black_box(src), &plan, &Trilinear::new(), &mut iso, Exec::default()))
    });
    drop(ct);

    let map = WindowMap::new(Window::new(-100.0, 1000.0).expect("window"), Range::new(0.0, 1.0).expect("range"), None)
        .expect("map");
    let mut windowed = vec![0f32; n_out];
    g.throughput(Throughput::Bytes((n_out * 8) as u64));
    g.bench_function(BenchmarkId::new("window", SIZE), |b| {
        b.iter(|| window_slice_into(black_box(&iso), &mut windowed, &map, Exec::default()).expect("windows"))
    });
    assert!(windowed.iter().all(|v| (0.0..=1.0).contains(v)));
    drop(iso);

    let proj = SlabProjection::new(5).align(Align::Centre).edges(Edges::Shrink);
    let mut mip = vec![0f32; n_out];
    g.bench_function(BenchmarkId::new("mip_k5", SIZE), |b| {
        b.iter(|| project_slice_into(black_box(&windowed), out_shape, &proj, &mut mip, Exec::default()).expect("mip"))
    });
    assert!(mip.iter().zip(&windowed).all(|(m, w)| m >= w));
    drop(windowed);

    let from = vec![1u8; n_out * 4];
    let mut to = vec![0u8; n_out * 4];
    g.throughput(Throughput::Bytes((n_out * 8) as u64));
    g.bench_function(BenchmarkId::new("copy", SIZE), |b| {
        b.iter(|| to.copy_from_slice(black_box(&from)));
        assert_eq!(to, from);
    });
    drop((from, to));

    let template = read_nifti(&ct_path).expect("reads");
    let mip_vol =
        template.derived(VoxelData::from_vec(mip), &out_shape, proj.output_affine(&plan.grid.affine)).expect("volume");
    drop(template);
    let mip_path = tmp.path().join("mip.nii.gz");
    g.throughput(Throughput::Bytes((n_out * 4) as u64));
    g.bench_function(BenchmarkId::new("write_mip_gz", SIZE), |b| {
        b.iter(|| write_nifti(black_box(&mip_vol), &mip_path, &WriteOptions::new()).expect("writes"))
    });
    g.finish();
}

/// The whole run as a library call (`ctprep_pipeline::run`, every product, the current rayon
/// pool), from the `.nii.gz` to the four outputs, next to a copy of the resampled volume's
/// float32 bytes: the memory traffic any run must at least make once.
fn pipeline_streamed(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let ct_path = tmp.path().join("ct.nii.gz");
    write_nifti(&ct_phantom(), &ct_path, &WriteOptions::new()).expect("writes the phantom");
    let recipe = ctprep_pipeline::Recipe::corrected();
    let outputs = ctprep_pipeline::Outputs::new(tmp.path().join("out")).stem("ct");
    let probe = ctprep_pipeline::run(ctprep_pipeline::Input::path(&ct_path), &recipe, &outputs).expect("runs");
    let n_out: usize = probe.output_shape.iter().product();
    let mut g = c.benchmark_group("pipeline_streamed");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Bytes((n_out * 4) as u64));
    g.bench_function(BenchmarkId::new("run", SIZE), |b| {
        b.iter(|| {
            let r = ctprep_pipeline::run(ctprep_pipeline::Input::path(black_box(&ct_path)), &recipe, &outputs)
                .expect("runs");
            assert_eq!(r.outputs.len(), probe.outputs.len());
        })
    });
    let from = vec![1u8; n_out * 4];
    let mut to = vec![0u8; n_out * 4];
    g.bench_function(BenchmarkId::new("copy", SIZE), |b| {
        b.iter(|| to.copy_from_slice(black_box(&from)));
        assert_eq!(to, from);
    });
    g.finish();
}

criterion_group!(benches, pipeline, pipeline_streamed);
criterion_main!(benches);
