//! `run` with B-spline resampling: the streamed windowed volume against the whole volume
//! resampled by the library and windowed, from files stored in several axis orders (LPS: a
//! flip, the slabs stream; PIR: a permutation, resampled whole first) and with clipping to the
//! input's range (its range found first). Along a cubic z the slabs prefilter their own windows, so
//! the bound is 1e-6 of the data's range before the window (a windowed value in [0, 1] moves by
//! at most that over the window's width); other runs are bit for bit.

use ctprep_core::Exec;
use ctprep_intensity::{Range, WindowMap, window_slice_into};
use ctprep_io::{WriteOptions, read_nifti};
use ctprep_pipeline::{Input, Outputs, Pipeline, Product, Recipe, plan_grid};
use ctprep_resample::{Mode, Sampling, resample_spline_slice_into};

#[test]
fn spline_runs_match_the_whole_volume() {
    let dir = tempfile::tempdir().expect("temp dir");
    for codes in ["LPS", "PIR"] {
        let ct = ctprep_phantom::Phantom::new([21, 17, 64])
            .spacing_mm([0.78, 0.78, 2.5])
            .axcodes(codes.parse().expect("codes"))
            .seed(9)
            .ct()
            .expect("phantom");
        let path = dir.path().join(format!("{codes}.nii.gz"));
        ctprep_io::write_nifti(&ct, &path, &WriteOptions::new()).expect("writes");
        let ct = read_nifti(&path).expect("reads");
        let (slope, inter) = ct.scaling().map_or((1.0, 0.0), |s| (s.slope, s.inter));
        for (sampling, exact) in [
            (Sampling::new().order(3), false),
            (Sampling::new().orders([3, 3, 0]), true),
            (Sampling::new().order(3).mode(Some(Mode::Reflect)).clip_input_range(true), false),
            (Sampling::new().order(1).mode(Some(Mode::Constant)).fill(Some(-1024.0)), true),
        ] {
            let recipe = Recipe::corrected().sampling(sampling);
            let plan = plan_grid(ct.dims3().expect("3-D"), ct.affine(), "ct", &recipe).expect("plan");
            let opts = sampling.scaling(slope, inter);
            let mut iso = vec![0f32; plan.output_len()];
            ctprep_io::with_storage!(ct.data(), st => resample_spline_slice_into(st.as_slice(), &plan, &opts, &mut iso, Exec::default()))
                .expect("resamples");
            let map = WindowMap::new(recipe.get_window(), Range::UNIT, None).expect("map");
            let mut want = vec![0f32; iso.len()];
            window_slice_into(&iso, &mut want, &map, Exec::default()).expect("windows");
            let out = dir.path().join(format!("{codes}_{:?}", sampling.get_orders()));
            let outputs = Outputs::new(&out).stem("ct").save(&[Product::Volume]);
            let report = Pipeline::new().run(Input::path(&path), &recipe, &outputs).expect("runs");
            let got = read_nifti(out.join("ct_window.nii.gz")).expect("output");
            let got = got.data().as_slice::<f32>().expect("float32");
            assert_eq!(got.len(), want.len());
            // Cubic z onto an axis-aligned grid is computed slab by slab (from a file or, when
            // clipping, from the volume read whole); a permuted grid is resampled whole first.
            let streamed = codes == "LPS" && sampling.get_orders()[2] == 3;
            let width = (recipe.get_window().hi() - recipe.get_window().lo()) as f32;
            let tol = if exact || !streamed { 0.0 } else { 1e-6 * 4000.0 / width };
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= tol, "{codes} {sampling:?}: voxel {i}: {g} vs whole {w} ({report:?})");
            }
            let json = Recipe::to_json(&recipe);
            assert_eq!(json["resample"]["orders"], serde_json::json!(sampling.get_orders()), "{json}");
        }
    }
    // Plain trilinear keeps the recipe's JSON of earlier versions (batch records compare it).
    assert!(Recipe::corrected().to_json().get("resample").is_none());
}
