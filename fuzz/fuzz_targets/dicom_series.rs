//! Series assembly: up to eight files cut from the input at each `|||` (each a DICOM file or
//! not), gathered into series, ordered and read (uneven slices resampled too): no panic, and the
//! slices of each series are ordered along its normal with no two at one position.
#![no_main]

use ctprep_fuzz::scratch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = scratch().join("dicom_series");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a folder");
    let mut rest = data;
    let mut n = 0;
    while n < 8 && !rest.is_empty() {
        let cut = rest.windows(3).position(|w| w == b"|||").unwrap_or(rest.len());
        std::fs::write(dir.join(format!("f{n}")), &rest[..cut]).expect("written");
        rest = rest.get(cut + 3..).unwrap_or(&[]);
        n += 1;
    }
    let Ok(found) = ctprep_dicom::find(&dir) else { return };
    for s in &found.series {
        assert!(!s.slices.is_empty());
        if let Ok(g) = s.geometry() {
            assert_eq!(g.shape[2], s.slices.len());
            let _ = s.read();
        }
        // Uneven slices onto a uniform stack, the padding filled: bounded, no panic.
        for uneven in [ctprep_dicom::Uneven::Linear, ctprep_dicom::Uneven::Nearest] {
            if let Ok(g) = s.geometry_with(uneven) {
                assert!(g.shape[2] <= 4 * s.slices.len());
                let options = ctprep_dicom::ReadOptions { fill_padding: Some(-1024.0), uneven };
                let _ = s.read_with(&options);
            }
        }
    }
});
