//! The real DICOM files of `../shared/data/dicom` (facts from its README, read there with
//! pydicom and dcm2niix).

mod common;

use std::path::PathBuf;

use common::floats;
use ctprep_dicom::find;

fn dicom(test: &str, folder: &str) -> Option<PathBuf> {
    Some(ctprep_testdata::shared_data_dir(test)?.join("dicom").join(folder))
}

#[test]
fn three_slice_series_in_order_with_its_geometry() {
    let Some(dir) = dicom("three_slice_series_in_order_with_its_geometry", "dcmqi-23x38x3") else { return };
    let found = find(&dir).expect("as written");
    assert_eq!(found.series.len(), 1, "{found:?}");
    let s = &found.series[0];
    let g = s.geometry().expect("as written");
    assert_eq!(g.shape, [23, 38, 3]);
    assert!((g.spacing[0] - 0.7).abs() < 1e-6 && (g.spacing[1] - 0.7).abs() < 1e-6, "{:?}", g.spacing);
    assert!((g.spacing[2] - 2.5).abs() < 1e-4, "{:?}", g.spacing);
    assert!(g.tilt_degrees < 1e-6);
    // Axial, IOP 1\0\0\0\1\0: x to the patient's left (RAS -x), y posterior (RAS -y), z up.
    let m = g.affine.0;
    assert!((m[0][0] + 0.7).abs() < 1e-6 && (m[1][1] + 0.7).abs() < 1e-6 && (m[2][2] - 2.5).abs() < 1e-4, "{m:?}");
    let v = s.read().expect("as written");
    assert_eq!(v.shape(), &[23, 38, 3]);
    // Opening one file of the series finds the same series.
    let one = find(&s.files[0].path).expect("as written");
    assert_eq!(one.series[0].slices.len(), 3);
}

#[test]
fn multiframe_equals_the_slice_series() {
    let Some(dir) = dicom("multiframe_equals_the_slice_series", "dcmqi-23x38x3") else { return };
    let mf = dir.with_file_name("dcmqi-23x38x3-multiframe");
    let (a, b) = (find(&dir).expect("as written"), find(&mf).expect("as written"));
    let (ga, gb) = (a.series[0].geometry().expect("as written"), b.series[0].geometry().expect("as written"));
    assert_eq!(ga.shape, gb.shape);
    for r in 0..4 {
        for c in 0..4 {
            assert!((ga.affine.0[r][c] - gb.affine.0[r][c]).abs() < 1e-4, "{:?} vs {:?}", ga.affine, gb.affine);
        }
    }
    let (va, vb) = (a.series[0].read().expect("as written"), b.series[0].read().expect("as written"));
    assert_eq!(va.dtype(), vb.dtype());
    assert_eq!(va.data().as_bytes(), vb.data().as_bytes());
}

#[test]
fn rle_decodes_to_the_uncompressed_pixels() {
    let Some(rle) = dicom("rle_decodes_to_the_uncompressed_pixels", "wg04-CT2_RLE") else { return };
    let unc = rle.with_file_name("wg04-CT2_UNC");
    let (a, b) = (find(&rle).expect("as written"), find(&unc).expect("as written"));
    let (va, vb) = (a.series[0].read().expect("as written"), b.series[0].read().expect("as written"));
    assert_eq!(va.shape(), &[512, 512, 1]);
    assert_eq!(va.data().as_bytes(), vb.data().as_bytes());
    // pydicom 3.0.2: CT2_UNC's pixels sum to -197733355, from -2048 to 1433.
    let values = vb.data().as_slice::<i16>().expect("int16");
    assert_eq!(values.iter().map(|&x| i64::from(x)).sum::<i64>(), -197733355);
    assert_eq!((values.iter().min(), values.iter().max()), (Some(&-2048), Some(&1433)));
    assert!(a.series[0].geometry().expect("as written").single_slice_note.is_some());
}

#[test]
fn big_endian_reads_the_same_values_as_little_endian_would() {
    let Some(dir) = dicom("big_endian_reads_the_same_values_as_little_endian_would", "pydicom-MR_small_bigendian")
    else {
        return;
    };
    let found = find(&dir).expect("as written");
    let v = found.series[0].read().expect("as written");
    assert_eq!(v.shape(), &[64, 64, 1]);
    // pydicom 3.0.2's pixel_array of the file: sum 2125338, min 127, max 2145, first row
    // starting 905, 1019, 1227, 1259.
    let values = v.data().as_slice::<i16>().expect("int16");
    assert_eq!(values.iter().map(|&x| i64::from(x)).sum::<i64>(), 2125338);
    assert_eq!((values.iter().min(), values.iter().max()), (Some(&127), Some(&2145)));
    assert_eq!(&values[..4], &[905, 1019, 1227, 1259]);
}

#[test]
fn unsupported_transfer_syntax_is_named() {
    // JPEG-LS and JPEG 2000: features off by default (`jpegls`, `jpeg2000`).
    for (folder, uid) in [("wg04-CT1_JLSL", "1.2.840.10008.1.2.4.80"), ("wg04-CT2_J2KI", "1.2.840.10008.1.2.4.91")] {
        let Some(dir) = dicom("unsupported_transfer_syntax_is_named", folder) else { return };
        let found = find(&dir).expect("as written");
        let e = found.series[0].read().expect_err("an error").to_string();
        assert!(e.contains(uid) && e.contains(folder) && e.contains("not supported by this build"), "{e}");
    }
}

/// dcm2niix's view of each shared folder (`fixtures/dicom/shared_reference.json`): every voxel
/// of ours at the world point of dcm2niix's voxel (its rows reversed, its flipY) within 1e-3
/// mm, and its sampled values there.
#[test]
fn shared_series_land_where_dcm2niix_puts_them() {
    let Some(root) = dicom("shared_series_land_where_dcm2niix_puts_them", "") else { return };
    let path = ctprep_testdata::fixtures_dir().join("dicom/shared_reference.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("shared_reference.json")).expect("JSON");
    let mut checked = 0;
    for folder in json["folders"].as_array().expect("folders") {
        let name = folder["folder"].as_str().expect("name");
        let Some(out) = folder["dcm2niix"]["outputs"].as_array().and_then(|o| o.first()) else {
            continue; // dcm2niix read nothing (JPEG-LS): CT1_UNC is the reference there.
        };
        if name.contains("J2KI") {
            continue; // JPEG 2000: not in the default build (the error is tested above).
        }
        let nifti = &out["nifti"];
        let s: Vec<Vec<f64>> = nifti["sform"].as_array().expect("sform").iter().map(floats).collect();
        let found = find(&root.join(name)).expect("reads");
        let series = &found.series[0];
        let g = series.geometry().expect("placed");
        let n = g.shape;
        let mut worst = 0f64;
        for z in 0..n[2] {
            for y in 0..n[1] {
                for x in [0, n[0] / 2, n[0] - 1] {
                    let ours = g.affine.apply([x as f64, y as f64, z as f64]);
                    let ijk = [x as f64, (n[1] - 1 - y) as f64, z as f64];
                    for r in 0..3 {
                        let theirs = (0..3).map(|k| s[r][k] * ijk[k]).sum::<f64>() + s[r][3];
                        worst = worst.max((theirs - ours[r]).abs());
                    }
                }
            }
        }
        assert!(worst < 1e-3, "{name}: {worst} mm from dcm2niix's voxel");
        let v = series.read().expect("reads");
        let vals = v.scaled_f32();
        for (idx, want) in
            nifti["sample_indices"].as_array().expect("indices").iter().zip(floats(&nifti["sample_values"]))
        {
            let i: Vec<usize> = floats(idx).iter().map(|&f| f as usize).collect();
            let got = f64::from(vals[i[0] + n[0] * ((n[1] - 1 - i[1]) + n[1] * i[2])]);
            assert!((got - want).abs() < 1e-3, "{name}: dcm2niix voxel {i:?}: {got} vs {want}");
        }
        checked += 1;
    }
    assert_eq!(checked, 7, "every folder dcm2niix reads, but JPEG 2000");
}

/// SimpleITK's view of each shared folder it reads as one 3-D series (recorded in
/// `shared_reference.json`): the same in-plane grid (and slice step where there are several)
/// within 1e-4 mm and the same real values (sum).
#[test]
fn shared_series_lie_where_simpleitk_puts_them() {
    let Some(root) = dicom("shared_series_lie_where_simpleitk_puts_them", "") else { return };
    let path = ctprep_testdata::fixtures_dir().join("dicom/shared_reference.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("shared_reference.json")).expect("JSON");
    let mut compared = 0;
    for folder in json["folders"].as_array().expect("folders") {
        let name = folder["folder"].as_str().expect("name");
        // JPEG-LS and JPEG 2000: features off by default (their error is tested above).
        if name.contains("JLS") || name.contains("J2K") {
            continue;
        }
        let Some(theirs) = folder["simpleitk"]["series"].as_array().and_then(|s| s.first()) else { continue };
        if theirs["size"].as_array().expect("size").len() != 3 {
            continue; // the multi-frame file, read by SimpleITK as 4-D
        }
        let found = find(&root.join(name)).expect("reads");
        common::same_as_simpleitk(name, &found.series[0], theirs);
        compared += 1;
    }
    assert!(compared >= 5, "only {compared} folders compared");
}
