//! Every gzip stream among the shared real data and the committed fixtures (`.nii.gz`, gzipped
//! `.hdr`/`.img`, and the data of gzip-encoded NRRD files) decodes to exactly the bytes flate2
//! (zlib-rs, the decoder ctprep-io streamed with before `GzipReader`) gives, on one thread and on
//! two, and `SliceReader` gives the voxels a whole read gives. Nobody's files were written by
//! ctprep here, so these are the serial stream decoder's and the sized-member paths' cases; the
//! indexed ones are in ctprep-gzip's tests.
#![cfg(feature = "gzip")]

use std::io::Read;
use std::path::{Path, PathBuf};

use ctprep_io::{SliceReader, read_volume};
use ctprep_testdata::{fixtures_dir, shared_data_dir};

/// Every file under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("a readable folder").flatten() {
            let p = e.path();
            if p.is_dir() { todo.push(p) } else { out.push(p) }
        }
    }
    out.sort();
    out
}

/// Where the gzip stream of `bytes` starts: at 0 for a gzip file, after the blank line of an
/// attached gzip-encoded NRRD header; `None` for anything else.
fn gzip_start(bytes: &[u8]) -> Option<usize> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Some(0);
    }
    if bytes.starts_with(b"NRRD") {
        let end = bytes.windows(2).position(|w| w == b"\n\n")? + 2;
        let header = std::str::from_utf8(&bytes[..end]).ok()?;
        let gz = header.lines().any(|l| matches!(l.trim(), "encoding: gzip" | "encoding: gz"));
        return (gz && bytes[end..].starts_with(&[0x1f, 0x8b])).then_some(end);
    }
    None
}

fn check_folder(dir: &Path) -> usize {
    let mut checked = 0;
    for path in files(dir) {
        let bytes = std::fs::read(&path).expect("reads");
        let Some(start) = gzip_start(&bytes) else { continue };
        let gz = &bytes[start..];
        let mut want = Vec::new();
        let theirs = flate2::read::MultiGzDecoder::new(gz).read_to_end(&mut want);
        for threads in [1, 2] {
            let mut got = Vec::new();
            let ours = ctprep_gzip::GzipReader::new(gz).threads(threads).read_to_end(&mut got);
            match (&theirs, ours) {
                (Ok(_), Ok(_)) => assert!(got == want, "{}: other bytes on {threads} thread(s)", path.display()),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("{}: flate2 {a:?}, GzipReader {b:?} on {threads} thread(s)", path.display()),
            }
        }
        checked += 1;
        // The streamed read of a volume gives the whole read's voxels.
        let Ok(whole) = read_volume(&path) else { continue };
        let Ok(mut r) = SliceReader::open(&path) else { panic!("{}: reads whole, not streamed", path.display()) };
        if whole.data().as_bytes().len() > 64 << 20 {
            continue;
        }
        let n: usize = r.shape().iter().product();
        ctprep_io::with_dtype!(r.dtype(), T => {
            let mut v = vec![T::default(); n];
            match r.read_slices(&mut v) {
                // A layered NRRD stores its layers fastest: it is read whole only.
                Err(e) if e.to_string().contains("layered") => continue,
                r => r.expect("streams"),
            }
            r.finish().expect("the trailer checks");
            let streamed: &[u8] = bytemuck::cast_slice(&v);
            assert!(streamed == whole.data().as_bytes(), "{}: streamed and whole reads differ", path.display());
        });
    }
    checked
}

#[test]
fn fixture_gzip_streams_decode_as_flate2_decodes_them() {
    let n = check_folder(&fixtures_dir());
    assert!(n >= 10, "only {n} gzip streams among the fixtures");
}

#[test]
fn shared_gzip_streams_decode_as_flate2_decodes_them() {
    let Some(dir) = shared_data_dir("shared_gzip_streams_decode_as_flate2_decodes_them") else { return };
    let n = check_folder(&dir);
    assert!(n >= 50, "only {n} gzip streams in {}", dir.display());
}

/// A volume ctprep wrote (with a piece index) reads whole, its pieces decoded in parallel, to the
/// voxels written; damaged, it fails naming the file, whole or streamed.
#[test]
fn own_files_read_whole_in_pieces_and_fail_clearly_when_damaged() {
    use ctprep_io::{Volume, VoxelData, WriteOptions, write_nifti};
    let dir = tempfile::tempdir().expect("temp dir");
    // 3.2 MB of int16 "tissue" with air around it.
    let n = 128 * 128 * 100;
    let values: Vec<i16> =
        (0..n as u64).map(|i| if i % 128 < 20 { -1000 } else { (i * 7919 % 2001) as i16 - 1000 }).collect();
    let ct =
        Volume::new(VoxelData::from_vec(values), &[128, 128, 100], ctprep_core::Affine::IDENTITY).expect("a volume");
    let path = dir.path().join("ct.nii.gz");
    write_nifti(&ct, &path, &WriteOptions::new()).expect("writes");
    let back = read_volume(&path).expect("reads");
    assert!(back.data().as_bytes() == ct.data().as_bytes() && back.affine() == ct.affine());
    let mut bytes = std::fs::read(&path).expect("reads");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    let bad = dir.path().join("bad.nii.gz");
    std::fs::write(&bad, &bytes).expect("writes");
    let e = read_volume(&bad).expect_err("corrupt");
    assert!(e.to_string().contains("bad.nii.gz"), "{e}");
    let streamed = SliceReader::open(&bad).and_then(SliceReader::finish).expect_err("corrupt");
    assert!(streamed.to_string().contains("bad.nii.gz"), "{streamed}");
}
