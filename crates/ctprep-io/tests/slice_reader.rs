//! `SliceReader` against `read_nifti`: every fixture that reads gives the same shape, type,
//! affine, scaling and bytes read a slice, three slices or the whole volume at a time; every
//! fixture that fails fails with the same error kind; damaged files never panic.

use std::path::Path;

use ctprep_io::{DataType, Element, ErrorKind, SliceReader, read_nifti};
use ctprep_testdata::{fixtures_dir, load_reference};

/// All the voxels of `path`, `per` planes at a time (the last read takes what is left), as
/// native-order bytes; then `finish`.
fn read_in_slices(path: &Path, per: usize) -> ctprep_io::Result<(SliceReader, Vec<u8>)> {
    fn typed<T: Element>(r: &mut SliceReader, per: usize) -> ctprep_io::Result<Vec<u8>> {
        let s = r.shape();
        let plane = s[0] * s.get(1).copied().unwrap_or(1);
        let total: usize = s.iter().product();
        let per = per.min(total.div_ceil(plane));
        let mut all: Vec<T> = Vec::with_capacity(total);
        let mut buf = vec![T::zeroed(); plane * per];
        while all.len() < total {
            let n = (plane * per).min(total - all.len());
            r.read_slices(&mut buf[..n])?;
            all.extend_from_slice(&buf[..n]);
        }
        assert_eq!(r.values_read(), total);
        Ok(bytemuck::cast_slice(&all).to_vec())
    }
    let mut r = SliceReader::open(path)?;
    let bytes = ctprep_io::with_dtype!(r.dtype(), T => typed::<T>(&mut r, per))?;
    let info = SliceReader::open(path)?;
    r.finish()?;
    Ok((info, bytes))
}

#[test]
fn slices_read_like_the_whole_file() {
    let dir = fixtures_dir();
    let reference = load_reference(&dir.join("nifti/reference.json")).expect("fixtures/nifti/reference.json");
    let (mut same, mut failing) = (0, 0);
    for f in &reference.files {
        let path = dir.join(&f.path);
        match read_nifti(&path) {
            Ok(v) => {
                for per in [1, 3, 1 << 20] {
                    let (r, bytes) = read_in_slices(&path, per).unwrap_or_else(|e| panic!("{}: {e}", f.path));
                    assert_eq!(r.shape(), v.shape(), "{}", f.path);
                    assert_eq!(r.dtype(), v.dtype(), "{}", f.path);
                    assert_eq!(r.affine(), v.affine(), "{}", f.path);
                    assert_eq!(format!("{:?}", r.scaling()), format!("{:?}", v.scaling()), "{}", f.path);
                    // Debug text: scl_slope may be NaN, which is never equal to itself.
                    assert_eq!(format!("{:?}", r.template().header()), format!("{:?}", v.header()), "{}", f.path);
                    assert_eq!(r.template().extensions(), v.extensions(), "{}", f.path);
                    assert_eq!(bytes, v.data().as_bytes(), "{} read {per} planes at a time", f.path);
                    assert_eq!(r.dims3().ok(), v.dims3().ok(), "{}", f.path);
                }
                same += 1;
            }
            Err(want) => {
                let got = read_in_slices(&path, 2).err().unwrap_or_else(|| panic!("{}: read by slices", f.path));
                assert_eq!(got.kind(), want.kind(), "{}: {got} against {want}", f.path);
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
                assert!(got.to_string().contains(name), "{}: the error does not name the file: {got}", f.path);
                failing += 1;
            }
        }
    }
    assert!(same > 30 && failing > 5, "{same} fixtures read, {failing} fail");
}

#[test]
fn misuse_is_an_error() {
    let dir = fixtures_dir().join("nifti");
    let path = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| read_nifti(p).is_ok_and(|v| v.dtype() == DataType::I16 && v.data().len() > 1))
        .expect("an int16 fixture");
    let mut r = SliceReader::open(&path).expect("opens");
    let n: usize = r.shape().iter().product();
    let mut wrong = vec![0f32; 1];
    assert_eq!(r.read_slices(&mut wrong).expect_err("wrong type").kind(), ErrorKind::InvalidRequest);
    let mut too_many = vec![0i16; n + 1];
    assert_eq!(r.read_slices(&mut too_many).expect_err("past the end").kind(), ErrorKind::InvalidRequest);
    assert_eq!(r.values_read(), 0);
    let mut one = vec![0i16; 1];
    r.read_slices(&mut one).expect("the first voxel");
    // Finishing early reads (and checks) the rest.
    r.finish().expect("finishes");
}

/// Truncated and scribbled files fail with an error naming the file, at open, while reading or
/// at `finish`, and never panic.
#[test]
fn damaged_files_give_errors_not_panics() {
    let dir = fixtures_dir().join("nifti");
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".nii") || p.to_string_lossy().ends_with(".nii.gz"))
        .collect();
    inputs.sort();
    let mut state = 7u64;
    let mut below = |n: usize| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) % n.max(1) as u64) as usize
    };
    let (mut read, mut failed) = (0, 0);
    for src in &inputs {
        let bytes = std::fs::read(src).expect("read fixture");
        let name = src.file_name().and_then(|n| n.to_str()).unwrap_or("x.nii").to_owned();
        for round in 0..12 {
            let mut b = bytes.clone();
            if round % 2 == 0 {
                b.truncate(below(b.len()));
            } else {
                let i = below(b.len());
                b[i] ^= 1 << below(8);
            }
            let path = tmp.path().join(format!("m{round}_{name}"));
            std::fs::write(&path, &b).expect("write mutant");
            let outcome = std::panic::catch_unwind(|| read_in_slices(&path, 2).map(|_| ()));
            match outcome {
                Err(_) => panic!("reading a damaged {name} (mutation {round}) by slices panicked"),
                Ok(Ok(())) => read += 1,
                Ok(Err(e)) => {
                    failed += 1;
                    assert!(e.to_string().contains(&format!("m{round}_{name}")), "error does not name the file: {e}");
                }
            }
        }
    }
    assert!(failed > 0 && read > 0, "mutations should both break and spare files ({read} read, {failed} failed)");
}
