//! The NRRD reader on any bytes as an attached `.nrrd`: no panic, no giant allocation; memory-
//! mapped, read and (for files without layers) slice-by-slice reads agree; a volume that reads is
//! written back as NRRD (attached gzip, detached raw big-endian) and read again unchanged, and
//! exercised as any volume (reoriented, written as NIfTI).
#![no_main]

use ctprep_fuzz::{file, nrrd_roundtrip, read_sliced, read_whole};
use ctprep_io::{ReadOptions, read_volume_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = file("in.nrrd", data);
    let whole = read_whole(&p, true);
    assert_eq!(read_whole(&p, false), whole, "mapped and read agree");
    if let Ok(v) = read_volume_with(&p, &ReadOptions::new().mmap(false)) {
        if !v.nrrd_header().is_some_and(|h| h.layered()) {
            assert_eq!(read_sliced(&p), whole, "whole and sliced agree");
        }
        if v.nrrd_header().is_some() {
            nrrd_roundtrip(&v);
        }
    }
});
