//! Damaged files never panic: every fixture, truncated at many points and with bytes flipped
//! (in the header fields that drive allocation and in the data), must either read or fail with
//! an error naming the file. Deterministic: the mutations come from a fixed-seed generator.

use std::panic::{AssertUnwindSafe, catch_unwind};

use ctprep_io::{ErrorKind, read_nifti};
use ctprep_testdata::fixtures_dir;

/// SplitMix64: a small deterministic generator for the mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn damaged_files_give_errors_not_panics() {
    let dir = fixtures_dir().join("nifti");
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut rng = Rng(2026);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".nii") || p.to_string_lossy().ends_with(".nii.gz"))
        .collect();
    inputs.sort();
    assert!(inputs.len() > 40, "expected the fixture files in {}", dir.display());
    let (mut read, mut failed) = (0, 0);
    for src in &inputs {
        let bytes = std::fs::read(src).expect("read fixture");
        let name = src.file_name().and_then(|n| n.to_str()).unwrap_or("x.nii").to_owned();
        for round in 0..40 {
            let mut b = bytes.clone();
            match round % 4 {
                // Truncate anywhere.
                0 => b.truncate(rng.below(b.len())),
                // Flip a few bytes anywhere.
                1 => {
                    for _ in 0..1 + rng.below(4) {
                        let i = rng.below(b.len());
                        b[i] ^= 1 << rng.below(8);
                    }
                }
                // Scribble over the fields that drive sizes: dim, datatype, bitpix, vox_offset,
                // the extension flag (NIfTI-1 offsets; in gzip files this corrupts the stream).
                2 => {
                    let fields = [40usize, 42, 44, 46, 48, 70, 72, 108, 110, 348, 352];
                    let at = fields[rng.below(fields.len())];
                    if at + 2 <= b.len() {
                        let v = rng.next().to_le_bytes();
                        b[at..at + 2].copy_from_slice(&v[..2]);
                    }
                }
                // Random garbage of the same length after the first bytes.
                _ => {
                    let from = rng.below(b.len());
                    for x in &mut b[from..] {
                        *x = rng.next() as u8;
                    }
                }
            }
            let path = tmp.path().join(format!("m{round}_{name}"));
            std::fs::write(&path, &b).expect("write mutant");
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                read_nifti(&path).map(|v| {
                    // Whatever reads must also survive the operations a user runs next.
                    let _ = v.stats();
                    let _ = v.to_closest_canonical();
                })
            }));
            match outcome {
                Err(_) => panic!("reading a damaged {name} (mutation {round}) panicked"),
                Ok(Ok(())) => read += 1,
                Ok(Err(e)) => {
                    failed += 1;
                    assert!(e.to_string().contains(&format!("m{round}_{name}")), "error does not name the file: {e}");
                    assert_ne!(
                        e.kind(),
                        ErrorKind::InvalidRequest,
                        "{name}: damaged input reported as a bad request: {e}"
                    );
                }
            }
            std::fs::remove_file(&path).expect("cleanup");
        }
    }
    assert!(failed > 0 && read > 0, "mutations should both break and spare files ({read} read, {failed} failed)");
}
