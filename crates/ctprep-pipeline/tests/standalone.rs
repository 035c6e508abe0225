//! The standalone stages streamed to a file (`Pipeline::resample_to`, `project_to`,
//! `window_to`) write exactly the bytes `write_nifti` writes for the whole-volume result: outputs
//! of several 4 MiB gzip pieces, `.nii` and `.nii.gz`, from a file (streamed or read whole) and
//! from memory, on one thread and on four workers, with slabs that end anywhere in a piece.

use std::path::Path;

use ctprep_core::{Exec, Threads};
use ctprep_intensity::{Output, Range, Window, WindowMap};
use ctprep_io::{Element, Volume, VoxelData, WriteOptions, read_nifti, write_nifti};
use ctprep_pipeline::{Input, Pipeline, ReadMode, projection_streams};
use ctprep_projection::{Align, Edges, Reduce, SlabProjection, project_slice_into};
use ctprep_resample::{GridConvention, Sampling, Trilinear, plan_spacing, resample_linear_slice_into};

/// An int16 CT with `scl_inter` stored LPS (its slices follow RAS output's z), written to `dir`.
fn phantom(dir: &Path, shape: [usize; 3]) -> (std::path::PathBuf, Volume) {
    let ct = ctprep_phantom::Phantom::new(shape)
        .spacing_mm([0.9, 0.9, 2.0])
        .axcodes("LPS".parse().expect("codes"))
        .ct()
        .expect("phantom");
    let path = dir.join("ct.nii.gz");
    write_nifti(&ct, &path, &WriteOptions::new()).expect("writes");
    (path.clone(), read_nifti(&path).expect("reads"))
}

/// The file `write_nifti` writes for `values` on `template`'s header, shape and affine.
fn whole_bytes<T: Element>(
    dir: &Path,
    template: &Volume,
    values: Vec<T>,
    shape: [usize; 3],
    affine: ctprep_core::Affine,
    name: &str,
) -> Vec<u8> {
    let v = template.derived(VoxelData::from_vec(values), &shape, affine).expect("volume");
    let path = dir.join(format!("want_{name}"));
    write_nifti(&v, &path, &WriteOptions::new()).expect("writes");
    std::fs::read(path).expect("reads")
}

/// The ways to run a stage: one thread or four workers, slabs of 3 or 16 slices, the `auto`
/// kernels (the resampler's are exact to each other, not to the scalar oracle: its crate's
/// documented tolerance).
fn pipelines() -> Vec<(String, Pipeline<'static>, rayon::ThreadPool)> {
    let mut out = Vec::new();
    for (threads, workers) in [(Threads::One, 1), (Threads::Auto, 4)] {
        for slab in [3, 16] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(workers).build().expect("pool");
            let p = Pipeline::new().exec(Exec::new().threads(threads)).slab_slices(slab);
            out.push((format!("{workers} workers, slab {slab}"), p, pool));
        }
    }
    out
}

#[test]
fn resample_to_writes_the_whole_volume_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, ct) = phantom(dir.path(), [128, 112, 30]);
    let shape = ct.dims3().expect("3-D");
    // 0.6 mm: a float32 output of about 3 M voxels, several gzip pieces.
    let plan = plan_spacing(shape, ct.affine(), [0.6; 3], GridConvention::FirstCentre).expect("plan");
    let (slope, inter) = ct.scaling().map_or((1.0, 0.0), |s| (s.slope, s.inter));
    for fill in [None, Some(-1024.0f32)] {
        let opts = Trilinear::new().fill(fill).scaling(slope, inter);
        let mut want = vec![0f32; plan.output_len()];
        ctprep_io::with_storage!(ct.data(), st => resample_linear_slice_into(st.as_slice(), &plan, &opts, &mut want, Exec::new()))
            .expect("resamples");
        assert!(want.len() * 4 > 2 * (4 << 20), "the output spans several pieces: {:?}", plan.grid.shape);
        for ext in ["nii.gz", "nii"] {
            let want =
                whole_bytes(dir.path(), &ct, want.clone(), plan.grid.shape, plan.grid.affine, &format!("res.{ext}"));
            for (what, p, pool) in pipelines() {
                for from_file in [true, false] {
                    let out = dir.path().join(format!("res_{from_file}.{ext}"));
                    let input = if from_file { Input::path(&path) } else { Input::volume(ct.clone(), "ct") };
                    let r = pool
                        .install(|| p.resample_to(input, &plan, &Sampling::new().fill(fill), &out, 1))
                        .expect("resamples");
                    assert_eq!(matches!(r.read, ReadMode::Streamed(_)), from_file, "{what}");
                    assert!(
                        std::fs::read(&out).expect("reads") == want,
                        "{what}, file {from_file}, {ext}, fill {fill:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn project_to_writes_the_whole_volume_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, ct) = phantom(dir.path(), [200, 180, 40]);
    let shape = ct.dims3().expect("3-D");
    let src = ct.scaled_f32();
    for proj in [
        SlabProjection::new(5).align(Align::Centre),
        SlabProjection::new(4).reduce(Reduce::Min).align(Align::Start).edges(Edges::Valid).stride(3),
        SlabProjection::new(5).align(Align::Start).edges(Edges::Zero),
        SlabProjection::new(40),
    ] {
        assert!(projection_streams(&proj));
        let m = proj.output_len(shape[2]).expect("outputs");
        let out_shape = [shape[0], shape[1], m];
        let mut want = vec![0f32; out_shape.iter().product()];
        project_slice_into(&src, shape, &proj, &mut want, Exec::SCALAR).expect("projects");
        let want = whole_bytes(dir.path(), &ct, want, out_shape, proj.output_affine(ct.affine()), "mip.nii.gz");
        for (what, p, pool) in pipelines() {
            let out = dir.path().join("mip.nii.gz");
            pool.install(|| p.project_to(Input::path(&path), &proj, &out, 1)).expect("projects");
            assert!(std::fs::read(&out).expect("reads") == want, "{what}: {proj:?}");
        }
    }
    let mean = SlabProjection::new(5).reduce(Reduce::Mean);
    assert!(!projection_streams(&mean));
    let err = Pipeline::new().project_to(Input::path(&path), &mean, &dir.path().join("m.nii.gz"), 1);
    assert!(err.is_err(), "a mean does not stream");
    assert!(!dir.path().join("m.nii.gz").exists());
}

fn window_case<O: Output + Element>(dir: &Path, path: &Path, ct: &Volume, name: &str) {
    let scaling = ct.scaling().map(|s| (s.slope, s.inter));
    let map = WindowMap::for_output::<O>(Window::new(-1350.0, 150.0).expect("window"), None, scaling).expect("map");
    let (want, _) = ctprep_io::with_storage!(ct.data(), st => {
        let mut out = vec![O::default(); st.len()];
        let r = ctprep_intensity::window_slice_into(st.as_slice(), &mut out, &map, Exec::SCALAR).expect("windows");
        (out, r)
    });
    let shape = ct.dims3().expect("3-D");
    let want = whole_bytes(dir, ct, want, shape, *ct.affine(), name);
    for (what, p, pool) in pipelines() {
        for from_file in [true, false] {
            let out = dir.join(name);
            let input = if from_file { Input::path(path) } else { Input::volume(ct.clone(), "ct") };
            pool.install(|| p.window_to::<O>(input, &map, &out, 1)).expect("windows");
            assert!(std::fs::read(&out).expect("reads") == want, "{what}, file {from_file}: {name}");
        }
    }
}

#[test]
fn window_to_writes_the_whole_volume_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 5.2 M voxels: u8 output over one 4 MiB piece, f32 over five.
    let (path, ct) = phantom(dir.path(), [256, 256, 80]);
    window_case::<u8>(dir.path(), &path, &ct, "w_u8.nii.gz");
    window_case::<u16>(dir.path(), &path, &ct, "w_u16.nii");
    window_case::<f32>(dir.path(), &path, &ct, "w_f32.nii.gz");
}

#[test]
fn damaged_inputs_fail_and_leave_no_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, ct) = phantom(dir.path(), [64, 64, 40]);
    let bytes = std::fs::read(&path).expect("reads");
    let short = dir.path().join("short.nii.gz");
    std::fs::write(&short, &bytes[..bytes.len() * 2 / 3]).expect("writes");
    let plan =
        plan_spacing(ct.dims3().expect("3-D"), ct.affine(), [1.0; 3], GridConvention::FirstCentre).expect("plan");
    let map = WindowMap::new(Window::new(-100.0, 1000.0).expect("window"), Range::UNIT, None).expect("map");
    let p = Pipeline::new().slab_slices(4);
    let out = dir.path().join("out.nii.gz");
    let errs = [
        p.resample_to(Input::path(&short), &plan, &Sampling::new(), &out, 1).map(|_| ()),
        p.project_to(Input::path(&short), &SlabProjection::new(5), &out, 1).map(|_| ()),
        p.window_to::<f32>(Input::path(&short), &map, &out, 1).map(|_| ()),
    ];
    for e in errs {
        let e = e.expect_err("a truncated file fails").to_string();
        assert!(e.contains("short.nii.gz"), "{e}");
        assert!(!out.exists(), "no output after: {e}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")), "temporary files left: {left:?}");
}
