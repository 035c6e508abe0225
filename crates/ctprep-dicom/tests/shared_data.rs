//! The real DICOM files of `../shared/data/dicom` (facts from its README, read there with
//! pydicom and dcm2niix).

use std::path::PathBuf;

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
    let Some(dir) = dicom("unsupported_transfer_syntax_is_named", "wg04-CT1_JLSL") else { return };
    let found = find(&dir).expect("as written");
    let e = found.series[0].read().expect_err("an error").to_string();
    assert!(e.contains("1.2.840.10008.1.2.4.80") && e.contains("CT1_JLSL"), "{e}");
}
