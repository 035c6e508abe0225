//! The whole NIfTI reader on any bytes, as a `.nii` (memory-mapped, read into memory, and slice
//! by slice) and gzip-compressed as a `.nii.gz` (whole and slice by slice): no panic, no giant
//! allocation, and every path gives the same volume or all refuse. A volume that reads is
//! reoriented, scaled, written and read back with its values intact.
#![no_main]

use ctprep_fuzz::{file, read_sliced, read_whole};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // An NRRD is recognised by content, and only uncompressed: the `nrrd_read` target's.
    if data.starts_with(b"NRRD") {
        return;
    }
    let nii = file("in.nii", data);
    let mapped = read_whole(&nii, true);
    assert_eq!(read_whole(&nii, false), mapped, "mapped and read .nii agree");
    assert_eq!(read_sliced(&nii), mapped, "whole and sliced .nii agree");

    let mut gz = Vec::new();
    ctprep_gzip::write_gzip(&mut gz, &[], data, 1).expect("gzip into memory");
    let niigz = file("in.nii.gz", &gz);
    let whole = read_whole(&niigz, true);
    assert_eq!(whole, mapped, ".nii and .nii.gz of the same bytes agree");
    assert_eq!(read_sliced(&niigz), whole, "whole and sliced .nii.gz agree");
});
