//! The synthetic series of `fixtures/dicom` (written by `fixtures/make_dicom_reference.py` with
//! pydicom; `truth` is each series as written: its affine in ctprep's voxel order and its real
//! values; `dcm2niix` what dcm2niix v1.0.20260724 made of it).

mod common;

use std::path::PathBuf;

use ctprep_dicom::{Pick, ReadOptions, Series, Uneven, find};

fn fill(v: f64) -> ReadOptions {
    ReadOptions { fill_padding: Some(v), ..ReadOptions::default() }
}
use serde_json::Value;

fn reference() -> (PathBuf, Vec<Value>) {
    let dir = ctprep_testdata::fixtures_dir().join("dicom");
    let text = std::fs::read_to_string(dir.join("reference.json")).expect("fixtures/dicom/reference.json");
    let json: Value = serde_json::from_str(&text).expect("JSON");
    (dir, json["cases"].as_array().expect("cases").clone())
}

fn case<'a>(cases: &'a [Value], name: &str) -> &'a Value {
    cases.iter().find(|c| c["case"] == name).unwrap_or_else(|| panic!("case {name}"))
}

use common::floats;

/// `series` read and compared with `truth`: shape, affine (RAS) within 1e-4 mm, real values.
fn check(name: &str, series: &Series, truth: &Value) {
    let g = series.geometry().unwrap_or_else(|e| panic!("{name}: {e}"));
    let shape: Vec<usize> = floats(&truth["shape"]).iter().map(|&v| v as usize).collect();
    assert_eq!(g.shape.to_vec(), shape, "{name}");
    if let Some(want) = truth["affine_ras"].as_array() {
        for (r, row) in want.iter().enumerate() {
            for (c, w) in floats(row).iter().enumerate() {
                assert!((g.affine.0[r][c] - w).abs() < 1e-4, "{name}: affine {:?} vs {want:?}", g.affine.0);
            }
        }
    } else {
        // One slice (no step): the in-plane columns and the origin, from its orientation,
        // spacing and position (LPS to RAS).
        let (o, ps, p) =
            (floats(&truth["ImageOrientationPatient"]), floats(&truth["PixelSpacing"]), floats(&truth["positions"][0]));
        let ras = |v: f64, r: usize| if r < 2 { -v } else { v };
        for r in 0..3 {
            let want = [ras(o[r] * ps[1], r), ras(o[3 + r] * ps[0], r), ras(p[r], r)];
            let got = [g.affine.0[r][0], g.affine.0[r][1], g.affine.0[r][3]];
            for (a, b) in got.iter().zip(want) {
                assert!((a - b).abs() < 1e-4, "{name}: row {r}: {got:?} vs {want:?}");
            }
        }
        assert!(g.single_slice_note.is_some(), "{name}");
    }
    let v = series.read().unwrap_or_else(|e| panic!("{name}: {e}"));
    let got = v.scaled_f32();
    let hu = floats(&truth["hu"]);
    assert_eq!(got.len(), hu.len(), "{name}");
    for (i, (g, w)) in got.iter().zip(&hu).enumerate() {
        assert!((f64::from(*g) - w).abs() < 1e-3, "{name}: voxel {i}: {g} vs {w}");
    }
}

#[test]
fn every_readable_case_has_its_true_geometry_and_values() {
    let (dir, cases) = reference();
    let single = [
        "axial_lps",
        "oblique",
        "tilt",
        "implicit_le",
        "no_preamble",
        "big_endian",
        "rle",
        "bits12",
        "uint16",
        "per_slice_rescale",
        "enhanced",
        "not_dicom",
        "coronal",
        "sagittal",
        "uint12",
        "jpeg_lossless",
    ];
    for name in single {
        let c = case(&cases, name);
        let found = find(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(found.series.len(), 1, "{name}: {found:?}");
        check(name, &found.series[0], &c["truth"][0]);
    }
}

#[test]
fn the_stored_type_follows_the_pixel_format() {
    let (dir, _) = reference();
    let dtype = |name: &str| {
        find(&dir.join(name)).expect("as written").series[0].read().expect("as written").dtype().to_string()
    };
    assert_eq!(dtype("axial_lps"), "int16");
    // 40000 stored: beyond int16, so uint16 with the intercept as scaling.
    assert_eq!(dtype("uint16"), "uint16");
    // Slopes that differ between slices: real values.
    assert_eq!(dtype("per_slice_rescale"), "float32");
    // Signed 12-bit values fit int16; so do unsigned 12-bit ones (0 to 4095).
    assert_eq!(dtype("bits12"), "int16");
    assert_eq!(dtype("uint12"), "int16");
}

#[test]
fn voxels_land_where_dcm2niix_puts_them() {
    // dcm2niix stores the rows reversed (its flipY); every voxel must still be at the same
    // world point, within 1e-3 mm. Not the gantry-tilted case: dcm2niix's un-resliced output
    // drops the tilt's shear from its sform (its `sform_max_abs_diff` to the true geometry is
    // the 0.67 mm per slice the positions step off the normal); ctprep keeps the true step.
    let (dir, cases) = reference();
    for name in [
        "axial_lps",
        "oblique",
        "implicit_le",
        "no_preamble",
        "big_endian",
        "rle",
        "uint16",
        "enhanced",
        "coronal",
        "sagittal",
        "uint12",
        "jpeg_lossless",
    ] {
        let c = case(&cases, name);
        let out = &c["dcm2niix"]["outputs"][0];
        let flips = &out["matches_truth"][0];
        let nifti = &out["nifti"];
        let s: Vec<Vec<f64>> = nifti["sform"].as_array().expect("as written").iter().map(floats).collect();
        let found = find(&dir.join(name)).expect("as written");
        let g = found.series[0].geometry().expect("as written");
        let n = g.shape;
        let mut worst = 0f64;
        for z in 0..n[2] {
            for y in 0..n[1] {
                for x in 0..n[0] {
                    let ours = g.affine.apply([x as f64, y as f64, z as f64]);
                    let flip = |f: &str, i: usize, len: usize| if flips[f] == true { len - 1 - i } else { i };
                    let ijk = [flip("flip_columns", x, n[0]), flip("flip_rows", y, n[1]), flip("flip_slices", z, n[2])];
                    for r in 0..3 {
                        let theirs = (0..3).map(|k| s[r][k] * ijk[k] as f64).sum::<f64>() + s[r][3];
                        worst = worst.max((theirs - ours[r]).abs());
                    }
                }
            }
        }
        assert!(worst < 1e-3, "{name}: {worst} mm from dcm2niix's voxel");
        // And the values there: dcm2niix's samples at its indices.
        let v = found.series[0].read().expect("as written");
        let vals = v.scaled_f32();
        for (idx, want) in
            nifti["sample_indices"].as_array().expect("as written").iter().zip(floats(&nifti["sample_values"]))
        {
            let i: Vec<usize> = floats(idx).iter().map(|&f| f as usize).collect();
            let flip = |f: &str, i: usize, len: usize| if flips[f] == true { len - 1 - i } else { i };
            let (x, y, z) =
                (flip("flip_columns", i[0], n[0]), flip("flip_rows", i[1], n[1]), flip("flip_slices", i[2], n[2]));
            let got = f64::from(vals[x + n[0] * (y + n[1] * z)]);
            assert!((got - want).abs() < 1e-3, "{name}: dcm2niix voxel {i:?}: {got} vs {want}");
        }
    }
}

#[test]
fn localizers_and_non_images_are_skipped_with_a_line_each() {
    let (dir, cases) = reference();
    let found = find(&dir.join("localizer")).expect("as written");
    assert_eq!(found.series.len(), 1);
    assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
    assert!(found.skipped[0].why.contains("localizer"), "{:?}", found.skipped);
    check("localizer", &found.series[0], &case(&cases, "localizer")["truth"][0]);
    let found = find(&dir.join("not_dicom")).expect("as written");
    // DICOMDIR is DICOM (no image: skipped); `.DS_Store` and the text file are not DICOM.
    assert_eq!(found.not_dicom.len(), 2, "{found:?}");
    assert_eq!(found.skipped.len(), 1, "{found:?}");
}

#[test]
fn two_series_in_one_folder_are_two() {
    let (dir, cases) = reference();
    let found = find(&dir.join("two_series")).expect("as written");
    assert_eq!(found.series.len(), 2);
    for t in case(&cases, "two_series")["truth"].as_array().expect("as written") {
        let s = found
            .series
            .iter()
            .find(|s| s.description == t["label"].as_str().expect("as written"))
            .expect("by description");
        check("two_series", s, t);
    }
}

#[test]
fn bad_series_and_files_are_one_clear_error() {
    let (dir, _) = reference();
    // Uneven spacing: names the slices around the gap.
    let e = find(&dir.join("uneven")).expect("as written").series[0].geometry().expect_err("an error").to_string();
    assert!(e.contains("uneven slice spacing") && e.contains("5.000 mm"), "{e}");
    // Two slices at one position: names both files.
    let e = find(&dir.join("duplicate")).expect_err("an error").to_string();
    assert!(e.contains("IM0005.dcm") && e.contains("IM0006.dcm") && e.contains("same position"), "{e}");
    for (name, what) in
        [("truncated", "IM0001"), ("bad_length", "declares 4294967280 bytes"), ("huge_matrix", "beyond any CT file")]
    {
        let e = match find(&dir.join(name)) {
            Err(e) => e.to_string(),
            Ok(found) => found.series[0].read().expect_err("an error").to_string(),
        };
        assert!(e.contains(what) && e.contains(name), "{name}: {e}");
    }
}

/// PixelPaddingValue: counted; with a fill, exactly those voxels change (stored value with
/// shared scaling, the real value itself with per-slice scaling); a fill that is no stored
/// value is an error.
#[test]
fn padding_voxels_are_counted_and_filled_where_asked() {
    let (dir, cases) = reference();
    let c = case(&cases, "bits12");
    let shape: Vec<usize> = floats(&c["truth"][0]["shape"]).iter().map(|&v| v as usize).collect();
    let at: Vec<usize> = c["padding_voxels"]
        .as_array()
        .expect("voxels")
        .iter()
        .map(|p| {
            let p: Vec<usize> = floats(p).iter().map(|&v| v as usize).collect();
            p[0] + shape[0] * (p[1] + shape[1] * p[2])
        })
        .collect();
    let pad = c["padding_value"].as_f64().expect("value");
    let hu = floats(&c["truth"][0]["hu"]);
    let found = find(&dir.join("bits12")).expect("found");
    let series = &found.series[0];
    let (v, p) = series.read_with(&ReadOptions::default()).expect("read");
    let p = p.expect("the files' PixelPaddingValue");
    assert_eq!((p.value as f64, p.real, p.voxels, p.filled), (pad, pad, at.len(), None));
    let (w, p) = series.read_with(&fill(-1024.0)).expect("read");
    assert_eq!(p.expect("padding").filled, Some(-1024.0));
    assert_eq!(w.dtype(), v.dtype());
    for (i, (a, b)) in v.scaled_f32().iter().zip(w.scaled_f32()).enumerate() {
        assert_eq!(f64::from(*a), hu[i], "voxel {i}");
        let want = if at.contains(&i) { -1024.0 } else { *a };
        assert_eq!(b, want, "voxel {i}");
    }
    // Per-slice scaling: float32 real values, the fill written as given.
    let mut mixed = series.clone();
    mixed.files[0].slope = 2.0;
    let (m, _) = mixed.read_with(&fill(-1024.5)).expect("read");
    assert_eq!(m.dtype().to_string(), "float32");
    let plane = shape[0] * shape[1];
    for (i, b) in m.scaled_f32().iter().enumerate() {
        let slope = if mixed.slices[i / plane].0 == 0 { 2.0 } else { 1.0 };
        let want = if at.contains(&i) { -1024.5 } else { hu[i] * slope };
        assert_eq!(f64::from(*b), want, "voxel {i}");
    }
    let e = series.read_with(&fill(-1024.5)).expect_err("no stored value").to_string();
    assert!(e.contains("not a stored value") && e.contains("-1024.5"), "{e}");
    // No PixelPaddingValue: nothing to count.
    let plain = find(&dir.join("axial_lps")).expect("found");
    assert_eq!(plain.series[0].read_with(&fill(-1024.0)).expect("read").1, None);
}

/// One series holding its positions twice (AcquisitionNumber 1 and 2, a dynamic scan) is two
/// volumes, one per acquisition (dcm2niix makes them one 4-D volume); a sequential scan whose
/// acquisitions sit at positions of their own stays one volume (as dcm2niix makes it).
#[test]
fn repeated_positions_split_by_acquisition() {
    let (dir, cases) = reference();
    let c = case(&cases, "two_acquisitions");
    let found = find(&dir.join("two_acquisitions")).expect("as written");
    assert_eq!(found.series.len(), 2, "{found:?}");
    let dcm2niix = floats(&c["dcm2niix"]["outputs"][0]["nifti"]["shape"]);
    assert_eq!(dcm2niix, [7.0, 5.0, 4.0, 2.0], "dcm2niix's one 4-D volume");
    for (i, (s, truth)) in found.series.iter().zip(c["truth"].as_array().expect("truth")).enumerate() {
        assert_eq!(s.acquisition, Some((Some(i as i64 + 1), None)));
        assert_eq!(s.slices.len() as f64, dcm2niix[2]);
        check("two_acquisitions", s, truth);
    }
    assert!(found.series[1].summary().contains("AcquisitionNumber 2"), "{}", found.series[1].summary());
    // The UID names both: picking by it is an error listing them; an index picks one.
    let path = dir.join("two_acquisitions");
    let e = found.pick(&path, &Pick::Uid(found.series[0].uid.clone())).expect_err("ambiguous").to_string();
    assert!(e.contains("2 acquisitions") && e.contains("1: "), "{e}");
    assert!(std::ptr::eq(found.pick(&path, &Pick::Index(1)).expect("picked"), &found.series[1]));

    let c = case(&cases, "acquisition_groups");
    let found = find(&dir.join("acquisition_groups")).expect("as written");
    assert_eq!(found.series.len(), 1, "{found:?}");
    assert_eq!(found.series[0].acquisition, None);
    assert_eq!(c["dcm2niix"]["outputs"].as_array().expect("outputs").len(), 1);
    check("acquisition_groups", &found.series[0], &c["truth"][0]);
}

/// Slices of one series' orientation in two matrix sizes: one error naming a file of the
/// fewer and both sizes (dcm2niix splits the odd slice off and warns of the gap it leaves).
#[test]
fn mixed_matrix_sizes_in_one_stack_are_an_error() {
    let (dir, cases) = reference();
    let odd = case(&cases, "mixed_matrix")["odd_file"].as_str().expect("name").to_string();
    let e = find(&dir.join("mixed_matrix")).expect_err("an error").to_string();
    assert!(e.contains(&odd) && e.contains("mixed matrix sizes") && e.contains("8 x 5") && e.contains("7 x 5"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
}

/// Uneven spacing (one slice missing from a 2.5 mm stack): an error by default; resampled
/// linearly it is the whole 6-slice stack `uneven_filled` (the values are linear along z, so
/// interpolation across the gap is exact), which dcm2niix's equalised copy also equals; with
/// nearest slices the stored values of the nearest slice, type kept.
#[test]
fn uneven_slices_resample_onto_a_uniform_stack_when_asked() {
    let (dir, cases) = reference();
    let c = case(&cases, "uneven");
    let filled = c["truth"].as_array().expect("truth").iter().find(|t| t["label"] == "uneven_filled").expect("filled");
    let eq = c["dcm2niix"]["outputs"].as_array().expect("outputs").iter().find(|o| o["file"] == "uneven_1_Eq_1.nii");
    assert_eq!(eq.expect("dcm2niix's equalised copy")["matches_truth"][0]["series"], "uneven_filled");
    let found = find(&dir.join("uneven")).expect("as written");
    let s = &found.series[0];
    assert!(s.geometry().is_err() && s.read().is_err());
    let linear = ReadOptions { uneven: Uneven::Linear, ..ReadOptions::default() };
    let g = s.geometry_with(Uneven::Linear).expect("resampled");
    assert!(g.resampled.as_deref().is_some_and(|n| n.contains("onto 6 slices 2.500 mm apart")), "{g:?}");
    let want = floats(&filled["affine_ras"][2]);
    assert!((g.affine.0[2][2] - want[2]).abs() < 1e-9 && (g.affine.0[2][3] - want[3]).abs() < 1e-9, "{g:?}");
    let (v, _) = s.read_with(&linear).expect("resampled");
    assert_eq!(v.dtype().to_string(), "float32");
    let hu = floats(&filled["hu"]);
    assert_eq!(v.shape(), &[7, 5, 6]);
    for (i, (a, b)) in v.scaled_f32().iter().zip(&hu).enumerate() {
        assert!((f64::from(*a) - b).abs() < 1e-3, "voxel {i}: {a} vs {b}");
    }
    // Nearest: the missing slice (k 3 at 7.5 mm, midway between 5 and 10) takes the lower one.
    let nearest = ReadOptions { uneven: Uneven::Nearest, ..ReadOptions::default() };
    let (n, _) = s.read_with(&nearest).expect("resampled");
    assert_eq!(n.dtype().to_string(), "int16");
    let plane = 35;
    let got = n.scaled_f32();
    for k in 0..6 {
        let from = if k == 3 { 2 } else { k };
        for i in 0..plane {
            assert_eq!(f64::from(got[k * plane + i]), hu[from * plane + i], "slice {k} voxel {i}");
        }
    }
    // Even series are not touched.
    let even = find(&dir.join("axial_lps")).expect("as written");
    assert_eq!(even.series[0].geometry_with(Uneven::Linear).expect("even").resampled, None);
}

/// SimpleITK's ImageSeriesReader (recorded: `simpleitk` of each case) puts every series
/// ctprep reads on the same grid (size, spacing, direction and origin, LPS to RAS, within
/// 1e-4 mm) with the same real values (sum, and ten sampled voxels). Where the two part ways,
/// SimpleITK is the one that errs, and the test says how: it stacks the coronal localizer into
/// the axial series, stacks both acquisitions of a dynamic scan into one volume, reads the
/// enhanced multi-frame file as a 4-D image of one volume, and rounds per-slice rescaled values
/// to whole numbers. A single slice's third axis: SimpleITK 1 mm, ctprep SliceThickness.
#[test]
fn series_lie_where_simpleitk_puts_them() {
    let (dir, cases) = reference();
    let mut compared = 0;
    for name in [
        "axial_lps",
        "oblique",
        "implicit_le",
        "no_preamble",
        "big_endian",
        "bits12",
        "uint16",
        "coronal",
        "sagittal",
        "uint12",
        "acquisition_groups",
        "two_series",
        "not_dicom",
        "jpeg_lossless",
    ] {
        let found = find(&dir.join(name)).expect("as written");
        for theirs in case(&cases, name)["simpleitk"]["series"].as_array().expect("series") {
            let uid = theirs["series_uid"].as_str().expect("uid");
            let s = found.series.iter().find(|s| s.uid == uid).unwrap_or_else(|| panic!("{name}: {uid}"));
            common::same_as_simpleitk(name, s, theirs);
            compared += 1;
        }
    }
    assert_eq!(compared, 15);
    // Where SimpleITK errs: the localizer stacked in (6 slices, ctprep 5 and a skipped file) ...
    let sitk = |name: &str| case(&cases, name)["simpleitk"]["series"][0]["size"].clone();
    assert_eq!(sitk("localizer"), serde_json::json!([7, 5, 6]));
    assert_eq!(find(&dir.join("localizer")).expect("as written").series[0].slices.len(), 5);
    // ... both acquisitions in one volume (8 slices, two at each position) ...
    assert_eq!(sitk("two_acquisitions"), serde_json::json!([7, 5, 8]));
    // ... the multi-frame file as one 4-D volume ...
    assert_eq!(sitk("enhanced"), serde_json::json!([7, 5, 5, 1]));
    // ... and per-slice RescaleSlope / RescaleIntercept (0.5, 1.25, -1030.5) rounded to whole
    // numbers: its sum is not the truth's, ctprep's (float32 real values) is.
    let c = case(&cases, "per_slice_rescale");
    let truth: f64 = floats(&c["truth"][0]["hu"]).iter().sum();
    let ours: f64 = find(&dir.join("per_slice_rescale")).expect("as written").series[0]
        .read()
        .expect("read")
        .scaled_f32()
        .iter()
        .map(|&x| f64::from(x))
        .sum();
    let theirs = c["simpleitk"]["series"][0]["sum"].as_f64().expect("sum");
    assert!((ours - truth).abs() < 1e-3 && (theirs - truth).abs() > 1.0, "{ours} {theirs} {truth}");
}

/// The reader of [`Series::open_with`] gives [`Series::read_with`]'s voxels, whatever the pieces
/// asked for (whole slices, one value, a slice and a half, odd counts across slice ends), and
/// counts the padding voxels read; multi-frame files and resampled stacks (read whole) too.
#[test]
fn the_slice_reader_gives_the_whole_reads_voxels() {
    fn pieces<T: ctprep_io::Element + Default>(r: &mut ctprep_io::SliceReader, n: usize, sizes: &[usize]) -> Vec<u8> {
        let mut out: Vec<T> = Vec::new();
        let mut left = n;
        for &k in sizes.iter().cycle() {
            if left == 0 {
                break;
            }
            let mut buf = vec![T::default(); k.min(left)];
            r.read_slices(&mut buf).expect("read");
            out.extend_from_slice(&buf);
            left -= buf.len();
        }
        bytemuck::cast_slice(&out).to_vec()
    }
    let (dir, _) = reference();
    let uneven = ReadOptions { uneven: Uneven::Linear, ..ReadOptions::default() };
    for (name, options) in [
        ("bits12", ReadOptions::default()),
        ("bits12", fill(-1024.0)),
        ("axial_lps", ReadOptions::default()),
        ("per_slice_rescale", ReadOptions::default()),
        ("uint16", ReadOptions::default()),
        ("rle", ReadOptions::default()),
        ("jpeg_lossless", ReadOptions::default()),
        ("jpeg_baseline", ReadOptions::default()),
        ("big_endian", ReadOptions::default()),
        ("enhanced", ReadOptions::default()),
        ("uneven", uneven),
    ] {
        let found = find(&dir.join(name)).expect("found");
        let series = &found.series[0];
        let (whole, padding) = series.read_with(&options).expect("read whole");
        let n = whole.data().len();
        let plane = whole.shape()[0] * whole.shape()[1];
        for sizes in [vec![plane], vec![1], vec![plane + plane / 2], vec![7, plane - 3, 2 * plane + 5]] {
            let (mut r, count) = series.open_with(&options, &dir.join(name)).expect("opened");
            assert_eq!((r.shape(), r.dtype(), r.affine()), (whole.shape(), whole.dtype(), whole.affine()), "{name}");
            assert_eq!(format!("{:?}", r.scaling()), format!("{:?}", whole.scaling()), "{name}");
            let streams = !matches!(name, "enhanced" | "uneven");
            let decoding = if streams { ctprep_io::Decoding::Slices } else { ctprep_io::Decoding::Memory };
            assert_eq!(r.decoding(), decoding, "{name}");
            if streams {
                assert_eq!(count.padding(), None, "{name}: nothing counted before the slices are read");
                assert!(!count.done(), "{name}: the reader still holds the count");
            }
            let got = ctprep_io::with_dtype!(r.dtype(), T => pieces::<T>(&mut r, n, &sizes));
            assert_eq!(got, whole.data().as_bytes(), "{name} in pieces of {sizes:?}");
            assert_eq!(count.padding(), padding, "{name}");
            assert!(count.done(), "{name}: every slice read");
            // Nothing is left to read.
            let mut one = vec![0u8; whole.dtype().size()];
            let more =
                ctprep_io::with_dtype!(r.dtype(), T => r.read_slices(bytemuck::cast_slice_mut::<u8, T>(&mut one)));
            assert!(more.is_err(), "{name}");
            r.finish().expect("finished");
        }
        // A streamed reader dropped with slices unread (a run that failed) leaves its count
        // done, never complete; a series read whole is counted whole when opened.
        let (mut r, count) = series.open_with(&options, &dir.join(name)).expect("opened");
        let mut first = vec![0u8; plane * whole.dtype().size()];
        ctprep_io::with_dtype!(r.dtype(), T => r.read_slices(bytemuck::cast_slice_mut::<u8, T>(&mut first)))
            .expect("one slice");
        let streams = !matches!(name, "enhanced" | "uneven");
        assert_eq!(count.done(), !streams, "{name}: slices left and a reader to read them");
        drop(r);
        assert!(count.done(), "{name}: the reader gone");
        assert_eq!(count.complete(), !streams, "{name}: slices left unread");
        let (r, _) = series.open_with(&options, &dir.join(name)).expect("opened");
        let again = r.read_whole().expect("whole");
        assert_eq!(again.data().as_bytes(), whole.data().as_bytes(), "{name}");
        assert_eq!(again.display_path(), dir.join(name), "{name}");
    }
}

/// JPEG baseline is lossy, and decoders may round a value of the inverse DCT differently:
/// ctprep's decode (jpeg-decoder, through dicom-rs) is within 1 of libjpeg-turbo's (the
/// truth the script recorded), of dcm2niix's and of SimpleITK's (GDCM) at every voxel they
/// recorded, on the true geometry.
#[test]
fn jpeg_baseline_decodes_within_one_of_every_reference() {
    let (dir, cases) = reference();
    let c = case(&cases, "jpeg_baseline");
    let found = find(&dir.join("jpeg_baseline")).expect("as written");
    let series = &found.series[0];
    let v = series.read().expect("read");
    assert_eq!(v.dtype().to_string(), "int16");
    let got = v.scaled_f32();
    let truth = floats(&c["truth"][0]["hu"]);
    let worst = got.iter().zip(&truth).map(|(a, b)| (f64::from(*a) - b).abs()).fold(0.0, f64::max);
    assert!(worst <= 1.0, "{worst} from libjpeg-turbo's decode");
    // The values are not all equal, or the check above could not fail.
    assert!(truth.iter().any(|&t| t != truth[0]));
    let [nx, ny, nz] = series.geometry().expect("placed").shape;
    // dcm2niix: every value, its rows reversed.
    let theirs = floats(&c["dcm2niix"]["outputs"][0]["nifti"]["values"]);
    assert_eq!(theirs.len(), nx * ny * nz);
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let (a, b) = (f64::from(got[x + nx * (y + ny * z)]), theirs[x + nx * (ny - 1 - y + ny * z)]);
                assert!((a - b).abs() <= 1.0, "({x}, {y}, {z}): {a} vs dcm2niix {b}");
            }
        }
    }
    // SimpleITK: its ten samples.
    let sitk = &c["simpleitk"]["series"][0];
    for (ijk, want) in sitk["sample_indices"].as_array().expect("indices").iter().zip(floats(&sitk["samples"])) {
        let i: Vec<usize> = floats(ijk).iter().map(|&f| f as usize).collect();
        let a = f64::from(got[i[0] + nx * (i[1] + ny * i[2])]);
        assert!((a - want).abs() <= 1.0, "{i:?}: {a} vs SimpleITK {want}");
    }
}
