//! One DICOM file's bytes: recognised (or not), its structure checked, its header read, and, if
//! it is an image, its pixels decoded: no panic, and every error names the file.
#![no_main]

use ctprep_fuzz::scratch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = scratch().join("dicom_file");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a folder");
    let p = dir.join("slice");
    std::fs::write(&p, data).expect("written");
    match ctprep_dicom::find(&dir) {
        Ok(found) => {
            for s in &found.series {
                if let Err(e) = s.read() {
                    assert!(e.to_string().contains("slice"), "{e}");
                }
            }
        }
        Err(e) => assert!(e.to_string().contains("slice"), "{e}"),
    }
});
