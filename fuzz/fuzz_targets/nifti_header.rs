//! The NIfTI-1/2 header parser on any bytes: no panic; a parsed header written back and parsed
//! again gives the same bytes; the affine is chosen or refused without panicking.
#![no_main]

use std::path::Path;

use ctprep_io::{NiftiHeader, best_affine};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.nii");
    let Ok(h) = NiftiHeader::parse(data, path) else { return };
    let bytes = h.to_bytes();
    assert_eq!(bytes.len(), h.format.header_size());
    let again = NiftiHeader::parse(&bytes, path).expect("a header ctprep wrote parses");
    assert_eq!(again.to_bytes(), bytes, "writing a parsed header is a fixed point");
    let _ = h.description();
    let shape = [1, 2, 3].map(|i| h.dim[i].clamp(0, 1 << 20) as usize);
    if let Err(e) = best_affine(&h, shape, path) {
        assert_eq!(e.path(), path);
    }
});
