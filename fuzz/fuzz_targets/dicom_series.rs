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
            let whole = s.read();
            // Read slice by slice (as `run` streams it), in pieces that cross slice ends: the
            // same voxels, or an error where the whole read fails.
            if let Ok((mut r, _)) = s.open_with(&ctprep_dicom::ReadOptions::default(), &dir) {
                let n: usize = r.shape().iter().product();
                let mut got: Vec<u8> = Vec::new();
                let ok = ctprep_io::with_dtype!(r.dtype(), T => {
                    let mut buf = vec![T::default(); (g.shape[0] * g.shape[1]).max(1) * 3 / 2 + 1];
                    let mut left = n;
                    let mut ok = true;
                    while left > 0 && ok {
                        let k = buf.len().min(left);
                        ok = r.read_slices(&mut buf[..k]).is_ok();
                        got.extend_from_slice(bytemuck::cast_slice::<T, u8>(&buf[..k]));
                        left -= k;
                    }
                    ok
                });
                match &whole {
                    Ok(v) if ok => assert!(got.as_slice() == v.data().as_bytes(), "streamed voxels differ"),
                    Ok(_) => panic!("the whole read worked, the streamed one failed"),
                    Err(_) => assert!(!ok, "the streamed read worked, the whole one failed"),
                }
            }
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
