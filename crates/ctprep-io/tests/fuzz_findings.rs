//! What the fuzz targets (fuzz/) found, kept as regression tests.

use ctprep_io::{Affine, ErrorKind, NiftiFormat, Volume, VoxelData, WriteOptions, read_nifti, write_nifti};

/// A 5x6x7 int16 volume with this affine.
fn volume(affine: Affine) -> Volume {
    let values: Vec<i16> = (0..5 * 6 * 7).collect();
    Volume::new(VoxelData::from_vec(values), &[5, 6, 7], affine).expect("a volume")
}

/// nifti_read: a volume whose affine holds values beyond float32's range was written as
/// NIfTI-1 with infinities in its sform, a file ctprep itself then refused. Such a volume is
/// written as NIfTI-2 (float64 fields) and reads back with the same affine.
#[test]
fn affines_beyond_float32_are_written_as_nifti2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge.nii");
    let affine = Affine::from_spacing_origin([0.8, 1e39, 2.5], [1.0, -4e39, 3.0]);
    write_nifti(&volume(affine), &path, &WriteOptions::new()).expect("writes");
    let back = read_nifti(&path).expect("reads back");
    assert_eq!(back.header().format, NiftiFormat::Nifti2);
    assert_eq!(*back.affine(), affine);

    // An ordinary affine stays NIfTI-1.
    let path = dir.path().join("plain.nii");
    write_nifti(&volume(Affine::from_spacing_origin([0.8, 0.8, 2.5], [0.0; 3])), &path, &WriteOptions::new())
        .expect("writes");
    assert_eq!(read_nifti(&path).expect("reads").header().format, NiftiFormat::Nifti1);
}

/// nifti_read: with both transform codes 0, a pixdim near float64's largest value made the
/// fallback affine's origin (the volume centred on the world origin) infinite, and the volume
/// was read with it. It is refused, naming pixdim.
#[test]
fn a_fallback_affine_that_overflows_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fallback.nii");
    write_nifti(&volume(Affine::from_spacing_origin([0.8, 1e39, 2.5], [0.0; 3])), &path, &WriteOptions::new())
        .expect("writes");
    let mut bytes = std::fs::read(&path).expect("reads");
    assert_eq!(&bytes[..4], &540i32.to_le_bytes(), "NIfTI-2");
    // qform_code and sform_code (int32 at 344 and 348) to 0; pixdim[2] (float64 at 120).
    bytes[344..352].fill(0);
    bytes[120..128].copy_from_slice(&1.6e308f64.to_le_bytes());
    std::fs::write(&path, &bytes).expect("writes");
    let err = read_nifti(&path).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::BadHeader, "{err}");
    assert!(err.to_string().contains("pixdim"), "{err}");
    assert!(err.to_string().contains("fallback.nii"), "{err}");
}

/// nrrd_read: a file whose `kinds` (no directions) made its first axis layers and left another
/// non-spatial axis after its one spatial axis was read as a 5-D volume that wrote back without
/// its layer axis. A layer axis with more axes after the spatial ones is refused, naming them.
#[test]
fn a_layer_axis_with_trailing_axes_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("odd.nrrd");
    let mut bytes =
        b"NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 4 2\nkinds: list domain vector\nencoding: raw\n\n".to_vec();
    bytes.extend_from_slice(&[7u8; 16]);
    std::fs::write(&path, &bytes).expect("writes");
    let e = ctprep_io::read_volume(&path).expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(e.to_string().contains("layer axis") && e.to_string().contains("odd.nrrd"), "{e}");
}
