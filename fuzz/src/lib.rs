//! What the fuzz targets share: a scratch folder for the files the readers open, and the read
//! of one file by every path ctprep-io has, reduced to one comparable outcome (shape, type,
//! stored bytes, affine, scaling).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ctprep_io::{
    AxCodes, ByteOrder, NrrdEncoding, ReadOptions, SliceReader, Volume, WriteOptions, read_nifti_with,
    read_volume_with, write_nifti, write_volume,
};

/// A folder of this process for the files a target writes, `ctprep-fuzz-<pid>` on tmpfs when
/// there is one. libFuzzer ends the process with `exit`, so nothing removes it then: each
/// process first removes the folders of processes that no longer run.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        if let Ok(entries) = std::fs::read_dir(&base) {
            for e in entries.filter_map(Result::ok) {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("ctprep-fuzz-").and_then(|p| p.parse::<u32>().ok())
                    && !Path::new(&format!("/proc/{pid}")).exists()
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(format!("ctprep-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        dir
    })
}

/// `bytes` written to `name` in the scratch folder.
pub fn file(name: &str, bytes: &[u8]) -> PathBuf {
    let p = scratch().join(name);
    std::fs::write(&p, bytes).expect("scratch file written");
    p
}

/// What a read gave: the stored bytes, shape, type and affine of the volume, or that it failed.
/// Two ways of reading one file must give the same outcome.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Read { shape: Vec<usize>, dtype: ctprep_io::DataType, bytes: Vec<u8>, affine: [u64; 16], scaling: Option<[u64; 2]> },
    Failed,
}

fn outcome_of(v: &Volume) -> Outcome {
    Outcome::Read {
        shape: v.shape().to_vec(),
        dtype: v.dtype(),
        bytes: v.data().as_bytes().to_vec(),
        affine: affine_bits(v),
        scaling: scaling_bits(v),
    }
}

/// Reads `path` whole (memory-mapped or read, as `mmap` says) and checks that what can be done
/// with a volume that read without error does not fail unexpectedly.
pub fn read_whole(path: &Path, mmap: bool) -> Outcome {
    match read_volume_with(path, &ReadOptions::new().mmap(mmap)) {
        Ok(v) => {
            exercise(&v);
            outcome_of(&v)
        }
        Err(e) => {
            check_error(&e, path);
            Outcome::Failed
        }
    }
}

/// Reads `path` a few slices at a time with [`SliceReader`], in its stored type.
pub fn read_sliced(path: &Path) -> Outcome {
    let mut r = match SliceReader::open(path) {
        Ok(r) => r,
        Err(e) => {
            check_error(&e, path);
            return Outcome::Failed;
        }
    };
    let template = r.template().clone();
    let shape = r.shape().to_vec();
    let dtype = r.dtype();
    let n: usize = shape.iter().product();
    let bytes = match read_stored(&mut r, n) {
        Ok(b) => b,
        Err(e) => {
            check_error(&e, path);
            return Outcome::Failed;
        }
    };
    if let Err(e) = r.finish() {
        check_error(&e, path);
        return Outcome::Failed;
    }
    Outcome::Read { shape, dtype, bytes, affine: affine_bits(&template), scaling: scaling_bits(&template) }
}

/// The scaling's bits.
fn scaling_bits(v: &Volume) -> Option<[u64; 2]> {
    v.scaling().map(|s| [s.slope.to_bits(), s.inter.to_bits()])
}

/// The affine's bits, so NaN compares equal to itself.
fn affine_bits(v: &Volume) -> [u64; 16] {
    let mut bits = [0u64; 16];
    for (i, b) in bits.iter_mut().enumerate() {
        *b = v.affine().0[i / 4][i % 4].to_bits();
    }
    bits
}

/// Reads every voxel of `r` in its stored type, in slabs of up to three slices.
fn read_stored(r: &mut SliceReader, n: usize) -> ctprep_io::Result<Vec<u8>> {
    macro_rules! each {
        ($($dt:ident => $t:ty),*) => {
            match r.dtype() {
                $(ctprep_io::DataType::$dt => {
                    let mut all: Vec<$t> = vec![Default::default(); n];
                    let slice = slice_len(r, n);
                    for chunk in all.chunks_mut(3 * slice.max(1)) {
                        r.read_slices(chunk)?;
                    }
                    let mut bytes = Vec::with_capacity(n * std::mem::size_of::<$t>());
                    for v in all {
                        bytes.extend_from_slice(&v.to_ne_bytes());
                    }
                    Ok(bytes)
                })*
            }
        };
    }
    each!(U8 => u8, I8 => i8, U16 => u16, I16 => i16, U32 => u32, I32 => i32, U64 => u64, I64 => i64,
          F32 => f32, F64 => f64)
}

/// Voxels per z slice (the first two axes), never more than the volume.
fn slice_len(r: &SliceReader, n: usize) -> usize {
    let s = r.shape();
    let per = s.first().copied().unwrap_or(1).saturating_mul(s.get(1).copied().unwrap_or(1));
    per.min(n)
}

/// Every error names its file and has a message on one line's worth of text.
pub fn check_error(e: &ctprep_io::Error, path: &Path) {
    assert_eq!(e.path(), path, "the error names the file read: {e}");
    assert!(!e.message().is_empty(), "the error says what is wrong");
}

/// What a user does with a volume once read: scaling, statistics, reorientation, and a write
/// and read back that keeps every stored value and the affine.
pub fn exercise(v: &Volume) {
    let _ = v.stats();
    let _ = v.scaled_f32();
    let _ = v.axcodes_string();
    if let Ok(ras) = v.to_axcodes(AxCodes::RAS) {
        assert_eq!(ras.data().len(), v.data().len(), "reorientation keeps every voxel");
    }
    let out = scratch().join("roundtrip.nii");
    match write_nifti(v, &out, &WriteOptions::new()) {
        Ok(()) => {
            let back = read_nifti_with(&out, &ReadOptions::new().mmap(false)).expect("a file ctprep wrote reads back");
            assert_eq!(back.shape(), v.shape());
            assert_eq!(back.data().as_bytes(), v.data().as_bytes(), "the stored values survive a write and read");
            // The affine as written: exactly, or rounded to float32 in a NIfTI-1 file.
            let nifti1 = back.header().format == ctprep_io::NiftiFormat::Nifti1;
            for (r, row) in v.affine().0.iter().enumerate() {
                for (c, &x) in row.iter().enumerate() {
                    let want = if nifti1 { f64::from(x as f32) } else { x };
                    assert_eq!(back.affine().0[r][c], want, "affine [{r}][{c}] survives a write and read");
                }
            }
            assert_eq!(scaling_bits(&back), scaling_bits(v), "the scaling survives a write and read");
        }
        Err(e) => check_error(&e, &out),
    }
}

/// An NRRD written back as `.nrrd` (gzip, little-endian) and `.nhdr` (raw, big-endian) reads
/// back with every stored value, exactly the same affine, its layers and key/value pairs.
pub fn nrrd_roundtrip(v: &Volume) {
    for (name, opts) in [
        ("back.nrrd", WriteOptions::new()),
        ("back.nhdr", WriteOptions::new().nrrd_encoding(NrrdEncoding::Raw).nrrd_byte_order(ByteOrder::Big)),
    ] {
        let out = scratch().join(name);
        match write_volume(v, &out, &opts) {
            Ok(()) => {
                let back =
                    read_volume_with(&out, &ReadOptions::new().mmap(false)).expect("an NRRD ctprep wrote reads back");
                assert_eq!(back.shape(), v.shape(), "{name}");
                assert_eq!(back.dtype(), v.dtype(), "{name}");
                assert_eq!(back.data().as_bytes(), v.data().as_bytes(), "{name}: the values survive");
                assert_eq!(back.affine(), v.affine(), "{name}: the geometry survives exactly");
                let (h, s) = (back.nrrd_header().expect("nrrd"), v.nrrd_header().expect("nrrd"));
                assert_eq!(h.layered(), s.layered(), "{name}");
                assert_eq!(h.key_values, s.key_values, "{name}");
            }
            Err(e) => check_error(&e, &out),
        }
    }
}
