//! The CT phantom written as a DICOM series (`ctprep_phantom::dicom`, native and RLE) reads
//! back as the same volume: voxels in the same order, the same affine.

use ctprep_dicom::{Pick, read};
use ctprep_phantom::dicom::{PixelEncoding, write_dicom_series};
use ctprep_phantom::{Phantom, StoredType};

#[test]
fn phantom_series_read_back_as_written() {
    for (codes, encoding) in [("LPS", PixelEncoding::Native), ("RAS", PixelEncoding::Rle), ("LPS", PixelEncoding::Rle)]
    {
        let ct = Phantom::new([37, 29, 11])
            .spacing_mm([0.7, 0.8, 2.5])
            .axcodes(codes.parse().expect("codes"))
            .stored(StoredType::I16)
            .seed(3)
            .ct()
            .expect("phantom");
        let dir = tempfile::tempdir().expect("temp dir");
        write_dicom_series(&ct, dir.path(), encoding).expect("written");
        let (v, series) = read(dir.path(), &Pick::Only).expect("read back");
        assert_eq!(series.slices.len(), 11);
        assert_eq!(v.shape(), ct.shape(), "{codes} {encoding:?}");
        assert_eq!(v.data().as_bytes(), ct.data().as_bytes(), "{codes} {encoding:?}");
        for r in 0..3 {
            for c in 0..4 {
                let (a, b) = (v.affine().0[r][c], ct.affine().0[r][c]);
                assert!((a - b).abs() < 1e-5, "{codes} {encoding:?}: {:?} vs {:?}", v.affine(), ct.affine());
            }
        }
    }
}
