//! The streamed pipeline against the whole-volume stages: every output bit for bit, from files
//! in every storage order and from memory, on one thread and on four workers; damaged files
//! fail and leave nothing.

use std::path::Path;

use ctprep_core::Variant;
use ctprep_intensity::{Range, WindowMap, window_slice_into};
use ctprep_io::{SliceReader, WriteOptions, read_nifti};
use ctprep_pipeline::{Input, MipSize, Outputs, Pipeline, ReadMode, Recipe, plan_grid};
use ctprep_projection::{Align, Edges, SlabProjection, project_slice_into};
use ctprep_render::{PixelMap, Plane, SheetOptions, SliceLayout};
use ctprep_resample::Trilinear;

/// The run's contact sheet of `count` axial slices (the pipeline's own layout, written out
/// again: 6 x 6 slices spread evenly, centred in their intervals, numbered).
fn sheet_options_for(count: usize) -> SheetOptions {
    let every = (count / 36).max(1);
    let cols = 6.min(count);
    let rows = if count >= 36 { 6 } else { (count / cols).max(1) };
    let start = (count - (rows * cols - 1) * every - 1) / 2;
    SheetOptions::new().rows(rows).cols(cols).start(start).every(every).numbers(true)
}

/// The oracle of the streamed pipeline: the whole volume resampled, windowed and projected
/// at once by the kernels with the same variant, and the images of that whole MIP. Every
/// output of the stream is bit-identical to it, for every edge mode and alignment, every
/// variant (one thread and four parallel workers), slabs of 1, 3 and 32 slices.
#[test]
fn streamed_outputs_equal_the_whole_volume_stages() {
    let ct = ctprep_phantom::Phantom::new([23, 19, 40])
        .spacing_mm([0.78, 0.78, 2.5])
        .axcodes("LPS".parse().expect("codes"))
        .ct()
        .expect("phantom");
    let dir = tempfile::tempdir().expect("temp dir");
    let ct_path = dir.path().join("ct.nii.gz");
    ctprep_io::write_nifti(&ct, &ct_path, &WriteOptions::new()).expect("writes");
    // The volume as the file holds it (its affine in float32), for the oracle and the runs
    // from memory alike.
    let ct = read_nifti(&ct_path).expect("reads");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().expect("pool");
    let read_f32 = |p: &Path| read_nifti(p).expect("reads").scaled_f32();
    let mut streamed = 0;
    for (edges, align, k) in [
        (Edges::Shrink, Align::Centre, 5),
        (Edges::Shrink, Align::Start, 2),
        (Edges::Valid, Align::Centre, 4),
        (Edges::Zero, Align::Start, 5),
        (Edges::Shrink, Align::Centre, 1),
        (Edges::Shrink, Align::Centre, 60),
    ] {
        let recipe = Recipe::corrected().mip(MipSize::Slices(k)).mip_align(align).mip_edges(edges);
        // The oracle.
        let plan = plan_grid(ct.dims3().expect("3-D"), ct.affine(), "ct", &recipe).expect("plan");
        let shape = plan.grid.shape;
        let (slope, inter) = ct.scaling().map_or((1.0, 0.0), |s| (s.slope, s.inter));
        let opts = Trilinear::new().scaling(slope, inter);
        let proj = SlabProjection::new(k).align(align).edges(edges);
        let m = proj.output_len(shape[2]).expect("outputs");
        let mip_shape = [shape[0], shape[1], m];
        let mip_affine = proj.output_affine(&plan.grid.affine);
        let map = WindowMap::new(recipe.get_window(), Range::UNIT, None).expect("map");
        for variant in Variant::ALL {
            let mut iso = vec![0f32; plan.output_len()];
            ctprep_io::with_storage!(ct.data(), st => {
                ctprep_resample::resample_linear_slice_into(st.as_slice(), &plan, &opts, &mut iso, variant.exec())
            })
            .expect("resamples");
            let mut windowed = vec![0f32; iso.len()];
            window_slice_into(&iso, &mut windowed, &map, variant.exec()).expect("windows");
            let mut mip = vec![0f32; mip_shape.iter().product()];
            project_slice_into(&windowed, shape, &proj, &mut mip, variant.exec()).expect("projects");
            let pixels = PixelMap::new();
            let mut want_png = Vec::new();
            for plane in Plane::ALL {
                let n = SliceLayout::new(mip_shape, &mip_affine, plane).expect("layout").middle();
                let image = ctprep_render::slice_image(&mip, mip_shape, &mip_affine, plane, n).expect("slice");
                want_png.push(ctprep_render::encode_png(&pixels.apply(&image)).expect("png"));
            }
            let count = SliceLayout::new(mip_shape, &mip_affine, Plane::Axial).expect("layout").slice_count();
            let sheet = ctprep_render::contact_sheet(
                &mip,
                mip_shape,
                &mip_affine,
                Plane::Axial,
                &sheet_options_for(count),
                &pixels,
            )
            .expect("sheet");
            want_png.push(ctprep_render::encode_png(&sheet).expect("png"));
            // The HU range and the window's clipping, counted plainly over the whole volume.
            let (w_lo, w_hi) = (recipe.get_window().lo() as f32, recipe.get_window().hi() as f32);
            let want_hu = (
                iso.iter().copied().fold(f32::INFINITY, f32::min),
                iso.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                iso.iter().filter(|&&v| v < w_lo).count() as u64,
                iso.iter().filter(|&&v| v > w_hi).count() as u64,
            );
            let want_views: Vec<ctprep_render::Gray> = Plane::ALL
                .into_iter()
                .map(|plane| {
                    let n = SliceLayout::new(shape, &plan.grid.affine, plane).expect("layout").middle();
                    ctprep_render::slice_image(&windowed, shape, &plan.grid.affine, plane, n).expect("slice")
                })
                .collect();
            for (slab, from_file) in [(1, false), (3, false), (32, false), (1, true), (3, true), (32, true)] {
                let what = format!("{edges} {align} k={k} {variant} slab {slab} file {from_file}");
                let out = dir.path().join(what.replace(' ', "_"));
                let outputs = Outputs::new(&out).stem("ct").views(slab != 3);
                let input = || match from_file {
                    false => Input::volume(ct.clone(), "ct"),
                    true => Input::Reader(SliceReader::open(&ct_path).expect("opens")),
                };
                let pipeline = Pipeline::new().exec(variant.exec()).slab_slices(slab);
                // Four workers whatever the machine, so parallel slabs run here too.
                let doc = pool.install(|| pipeline.run(input(), &recipe, &outputs)).expect("runs");
                // LPS storage to RAS output: the file's slices come in the output's order,
                // so small slabs stream (large ones, and those of a 60-slice MIP, would
                // need most of the file at once).
                let read = doc.read;
                if !from_file || slab == 1 && k <= 5 {
                    assert_eq!(matches!(read, ReadMode::Streamed(_)), from_file, "{what}");
                }
                streamed += usize::from(matches!(read, ReadMode::Streamed(_)));
                let parallel = doc.workers > 1;
                assert_eq!(parallel, matches!(variant, Variant::Parallel | Variant::Auto), "{what}");
                assert_eq!(doc.output_shape, shape);
                let hu = doc.hu;
                let range = hu.range.expect("values");
                assert_eq!((range[0], range[1], hu.below, hu.above), want_hu, "{what}: HU statistics");
                assert_eq!((hu.nan, hu.count), (0, iso.len() as u64), "{what}");
                if slab == 3 {
                    assert!(doc.views.is_empty(), "{what}: views not asked for");
                } else {
                    let got: Vec<&ctprep_render::Gray> = doc.views.iter().map(|v| &v.image).collect();
                    assert!(got.len() == 3 && got.iter().zip(&want_views).all(|(a, b)| *a == b), "{what}: views");
                }
                let same = |a: &[f32], b: &[f32]| {
                    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
                };
                assert!(same(&read_f32(&out.join("ct_window.nii.gz")), &windowed), "{what}: windowed volume");
                assert!(same(&read_f32(&out.join("ct_mip.nii.gz")), &mip), "{what}: MIP");
                let back = read_nifti(out.join("ct_mip.nii.gz")).expect("reads");
                // The header stores the affine in float32.
                let (a, b) = (back.affine().0, mip_affine.0);
                let close = a.iter().flatten().zip(b.iter().flatten()).all(|(x, y)| (x - y).abs() < 1e-5);
                assert!(close, "{what}: MIP affine {a:?} vs {b:?}");
                let names = ["axial", "coronal", "sagittal"].map(|p| format!("ct_mip_{p}.png"));
                for (name, want) in names.iter().map(String::as_str).chain(["ct_mip_sheet.png"]).zip(&want_png) {
                    assert_eq!(&std::fs::read(out.join(name)).expect("png written"), want, "{what}: {name}");
                }
            }
        }
    }
    // Slab 1 with k <= 5 always streams (20 runs); larger slabs stream in some more.
    assert!(streamed > 30, "{streamed} runs streamed their input");
}

/// Files in every storage order give the outputs of the volume in memory, byte for byte:
/// streamed when the file's slices follow the output's z (LPS, RAS to RAS), read whole when
/// they run the other way (LPI) or along another axis (PIR), for each kind of variant, on
/// four workers whatever the machine. With 10 mm output slices and a 1-slice MIP the
/// windows leave slices out, which the reading thread skips.
#[test]
fn file_inputs_stream_or_are_read_whole_with_the_same_outputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().expect("pool");
    let coarse = Recipe::corrected().spacing_mm([1.0, 1.0, 10.0]).mip(MipSize::Slices(1));
    let recipes = [("default", Recipe::corrected(), 4), ("coarse z", coarse, 1)];
    for (codes, streams) in [("LPS", true), ("RAS", true), ("LPI", false), ("PIR", false)] {
        // 40 slices along the output's z: enough for the windows of a batch of two slabs.
        let shape = if codes == "PIR" { [17, 40, 21] } else { [21, 17, 40] };
        let ct = ctprep_phantom::Phantom::new(shape)
            .spacing_mm([0.78, 0.78, 2.5])
            .axcodes(codes.parse().expect("codes"))
            .ct()
            .expect("phantom");
        let path = dir.path().join(format!("{codes}.nii.gz"));
        ctprep_io::write_nifti(&ct, &path, &WriteOptions::new()).expect("writes");
        for ((what, recipe, slab), variant) in recipes.iter().flat_map(|r| [(r, Variant::Scalar), (r, Variant::Auto)]) {
            let run = |input: Input, name: &str| {
                let out = dir.path().join(format!("{codes}_{what}_{variant}_{name}").replace(' ', "_"));
                let pipeline = Pipeline::new().exec(variant.exec()).slab_slices(*slab);
                let doc = pool.install(|| pipeline.run(input, recipe, &Outputs::new(&out).stem("ct"))).expect("runs");
                let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&out)
                    .expect("outputs")
                    .map(|e| e.expect("entry").path())
                    .map(|p| {
                        (p.file_name().expect("name").to_string_lossy().into_owned(), std::fs::read(&p).expect("reads"))
                    })
                    .collect();
                files.sort();
                (doc, files)
            };
            // The file read whole (its affine in float32, its header fields).
            let (whole_doc, want) = run(Input::volume(read_nifti(&path).expect("reads"), "ct"), "memory");
            let (doc, got) = run(Input::path(&path), "file");
            let case = format!("{codes} {what} {variant}");
            assert_eq!(whole_doc.read, ReadMode::Whole);
            assert_eq!(matches!(doc.read, ReadMode::Streamed(_)), streams, "{case}");
            let names = |f: &[(String, Vec<u8>)]| f.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
            assert_eq!(names(&got), names(&want), "{case}");
            assert_eq!(got.len(), 6, "{case}: {:?}", names(&got));
            for ((name, a), (_, b)) in got.iter().zip(&want) {
                assert!(a == b, "{case}: {name} differs between the file and the volume in memory");
            }
        }
    }
}

/// A file cut short, or whose gzip trailer does not match, fails the run with an error
/// naming it, and leaves no output behind, streamed or not.
#[test]
fn damaged_files_fail_the_run_and_leave_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let recipe = Recipe::corrected();
    // The shape that streams in the test above: the damage is met while reading slabs
    // ("short") or at the end of the file ("late", "crc").
    let ct = ctprep_phantom::Phantom::new([21, 17, 40]).spacing_mm([0.78, 0.78, 2.5]).ct().expect("phantom");
    let path = dir.path().join("ct.nii.gz");
    ctprep_io::write_nifti(&ct, &path, &WriteOptions::new()).expect("writes");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().expect("pool");
    let run = |file: &Path, out: &Path, variant: Variant| {
        let pipeline = Pipeline::new().exec(variant.exec()).slab_slices(4);
        pool.install(|| pipeline.run(Input::path(file), &recipe, &Outputs::new(out).stem("ct")))
            .map_err(|e| e.to_string())
    };
    for variant in [Variant::Scalar, Variant::Auto] {
        let doc = run(&path, &dir.path().join(format!("intact_{variant}")), variant).expect("runs");
        // 28 KB: one fragment, so no piece index; decoded as one stream.
        assert_eq!(doc.read, ReadMode::Streamed(ctprep_io::Decoding::GzipStream), "the intact file streams");
    }
    let bytes = std::fs::read(&path).expect("reads");
    let mut bad_crc = bytes.clone();
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 0xFF;
    for (name, damaged) in [
        ("short", bytes[..bytes.len() * 2 / 3].to_vec()),
        ("late", bytes[..bytes.len() - 6].to_vec()),
        ("crc", bad_crc),
    ] {
        let file = dir.path().join(format!("{name}.nii.gz"));
        std::fs::write(&file, &damaged).expect("writes");
        for variant in [Variant::Scalar, Variant::Auto] {
            let out = dir.path().join(format!("out_{name}_{variant}"));
            let err = run(&file, &out, variant).expect_err("a damaged file fails");
            assert!(err.contains(&format!("{name}.nii.gz")), "{name}: {err}");
            let left: Vec<_> =
                std::fs::read_dir(&out).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
            assert!(left.is_empty(), "{name} {variant}: left {left:?}");
        }
    }
}
