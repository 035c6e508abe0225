//! The gzip readers on any bytes as a `.nii.gz`: the whole-buffer decoder (libdeflate, one
//! member) and the streaming one (zlib-rs, any number of members, slice by slice) never panic
//! and agree: the same volume, or both refuse (corrupt data, a bad CRC or length, truncation).
#![no_main]

use ctprep_fuzz::{file, read_sliced, read_whole};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = file("in.nii.gz", data);
    let whole = read_whole(&p, true);
    assert_eq!(read_sliced(&p), whole, "whole and streamed gzip reads agree");
});
