//! What the fuzz targets (fuzz/) found in ctprep-dicom, kept as regression tests; the inputs
//! are in `tests/findings/`.

use std::path::PathBuf;

fn finding(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/findings").join(name)
}

/// dicom_file: a TransferSyntaxUID of RLE Lossless with a trailing newline was not taken for
/// RLE by ctprep's own routing but was by dicom-rs's registry, so dicom-rs's RLE decoder ran,
/// and it indexes a short segment out of bounds (a panic, an abort under the fuzzer). The UID
/// is now trimmed of any whitespace and decoding is routed by the registry's UID: ctprep's
/// checked decoder gives one error naming the file.
#[test]
fn rle_uid_with_a_trailing_newline_is_ours_to_decode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("slice");
    std::fs::copy(finding("rle_uid_with_newline.dcm"), &file).expect("copied");
    let found = ctprep_dicom::find(dir.path()).expect("its header reads");
    let e = found.series[0].read().expect_err("a corrupt RLE segment").to_string();
    assert!(e.contains("slice") && e.contains("RLE frame 0"), "{e}");
}
