//! The gzip readers on any bytes as a `.nii.gz`: the whole-buffer decoder (libdeflate, one
//! member) and the streaming one (ctprep-gzip's `GzipReader`, any number of members, slice by
//! slice) never panic and agree: the same volume, or both refuse (corrupt data, a bad CRC or
//! length, truncation). One difference is allowed: a piece index that contradicts its stream is
//! refused by the streaming reader ("piece ..."), where the whole-buffer decoder ignores it.
#![no_main]

use ctprep_fuzz::{Outcome, file, read_sliced, read_whole};
use ctprep_io::SliceReader;
use libfuzzer_sys::fuzz_target;

/// Whether the streaming reader refuses `path` for one of its pieces (`finish` reads the rest).
fn refused_for_a_piece(path: &std::path::Path) -> bool {
    let refused = SliceReader::open(path).and_then(SliceReader::finish);
    refused.is_err_and(|e| e.to_string().contains("piece "))
}

fuzz_target!(|data: &[u8]| {
    let p = file("in.nii.gz", data);
    let whole = read_whole(&p, true);
    let sliced = read_sliced(&p);
    if sliced == Outcome::Failed && whole != Outcome::Failed && refused_for_a_piece(&p) {
        return;
    }
    assert_eq!(sliced, whole, "whole and streamed gzip reads agree");
});
