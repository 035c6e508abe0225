//! NIfTI read throughput on the 512x512x300 int16 CT phantom, next to a memory-copy baseline, and
//! the gzip level trade-off for writing.
//!
//! Run: `cargo bench -p ctprep-benches --bench io`, then `cargo xtask bench-report --group io_read`.
//!
//! - `io_read/copy`: copy 157,286,400 bytes between two pre-allocated, pre-touched buffers (the
//!   memory-bandwidth limit); `copy_checksum` adds the same checksum pass the readers do.
//! - `io_read/nii_mmap`: `read_nifti` of the `.nii` (memory-mapped) plus a checksum of every value, so
//!   the page mapping is paid inside the timing.
//! - `io_read/nii_read`: the same with memory-mapping off (read into a new buffer).
//! - `io_read/nii_gz`: `read_nifti` of the `.nii.gz` (decoded on one thread; a helper thread
//!   faults the new buffer's pages in beside it) plus the checksum.
//! - `io_read/gunzip_only`: libdeflate alone decoding the same `.nii.gz`, already in memory, into
//!   a pre-touched buffer, plus the checksum: the decoder's limit on this data.
//! - `io_read/nii_gz_sliced`: `SliceReader` over the `.nii.gz` in slabs of 16 slices into one
//!   reused buffer, plus the checksum: the streamed read of `ctprep run`, without the run;
//!   `nii_gz_sliced_2t` with two threads decoding its pieces ahead (`gzip_threads(2)`).
//! - `io_read/gunzip_zune`: zune-inflate (pure Rust, whole buffer, it allocates the output)
//!   decoding the same `.nii.gz` from memory: a candidate measured for the streaming inflater.
//! - `io_read/gunzip_ctprep`: ctprep-gzip's streaming reader (`GzipReader`), same slabs, on one
//!   thread: the file's pieces (its header indexes them) decoded whole by libdeflate;
//!   `gunzip_ctprep_2t` on two threads; `gunzip_ctprep_serial` the same data written without
//!   the index, so decoded as one stream by GzipReader's own decoder (other writers' files).
//! - `io_read/gunzip_stream`: flate2 on zlib-rs (the slice reader's decoder) alone, streaming the
//!   in-memory `.nii.gz` into the same reused 16-slice buffer, plus the checksum: how much of the
//!   streamed read is inflate itself.
//! - `gzip_level/write/L`: `write_nifti` to `.nii.gz` at level L; sizes are printed once per level;
//!   `gzip_level/f32_window/L`: the same CT windowed to [0, 1] as float32 (what `ctprep run` writes).
//!
//! Every timed read checks its checksum against the phantom's.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctprep_benches::{checksum_i16, checksum_i16_bytes, ct_phantom};
use ctprep_io::{ReadOptions, VoxelData, WriteOptions, read_nifti, read_nifti_with, write_nifti};

const SIZE: &str = "512x512x300";

fn io_read(c: &mut Criterion) {
    let ct = ct_phantom();
    let bytes = ct.data().as_bytes().to_vec();
    let want = checksum_i16(ct.data().as_slice::<i16>().expect("int16 phantom"));
    let dir = tempfile::tempdir().expect("temp dir");
    let nii = dir.path().join("ct.nii");
    let niigz = dir.path().join("ct.nii.gz");
    write_nifti(&ct, &nii, &WriteOptions::new()).expect("write .nii");
    write_nifti(&ct, &niigz, &WriteOptions::new()).expect("write .nii.gz");
    drop(ct);

    let mut g = c.benchmark_group("io_read");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(6));
    g.throughput(Throughput::Bytes(bytes.len() as u64));

    let mut dst = vec![1u8; bytes.len()];
    g.bench_function(BenchmarkId::new("copy", SIZE), |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&bytes));
            black_box(&dst);
        });
        assert_eq!(checksum_i16_bytes(&dst), want);
    });
    g.bench_function(BenchmarkId::new("copy_checksum", SIZE), |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&bytes));
            assert_eq!(checksum_i16_bytes(black_box(&dst)), want);
        })
    });
    drop(dst);
    let read = |opts: ReadOptions, path: &std::path::Path| {
        let v = read_nifti_with(path, &opts).expect("reads");
        assert_eq!(checksum_i16(v.data().as_slice::<i16>().expect("int16")), want);
    };
    g.bench_function(BenchmarkId::new("nii_mmap", SIZE), |b| b.iter(|| read(ReadOptions::new(), &nii)));
    g.bench_function(BenchmarkId::new("nii_read", SIZE), |b| b.iter(|| read(ReadOptions::new().mmap(false), &nii)));
    g.bench_function(BenchmarkId::new("nii_gz", SIZE), |b| {
        b.iter(|| {
            let v = read_nifti(&niigz).expect("reads");
            assert_eq!(checksum_i16(v.data().as_slice::<i16>().expect("int16")), want);
        })
    });
    let comp = std::fs::read(&niigz).expect("reads the .nii.gz");
    let isize = u32::from_le_bytes(comp[comp.len() - 4..].try_into().expect("a gzip trailer"));
    let mut out = vec![1u8; isize as usize];
    let mut decoder = libdeflater::Decompressor::new();
    g.bench_function(BenchmarkId::new("gunzip_only", SIZE), |b| {
        b.iter(|| {
            let n = decoder.gzip_decompress(black_box(&comp), &mut out).expect("decodes");
            assert_eq!(n, out.len());
            assert_eq!(checksum_i16_bytes(black_box(&out[out.len() - bytes.len()..])), want);
        })
    });
    g.bench_function(BenchmarkId::new("gunzip_zune", SIZE), |b| {
        let options = zune_inflate::DeflateOptions::default().set_size_hint(out.len()).set_limit(out.len() + 1);
        b.iter(|| {
            let mut d = zune_inflate::DeflateDecoder::new_with_options(black_box(&comp), options);
            let v = d.decode_gzip().expect("decodes");
            assert_eq!(v.len(), out.len());
            assert_eq!(checksum_i16_bytes(black_box(&v[v.len() - bytes.len()..])), want);
        })
    });
    let plane = 512 * 512;
    let mut slab = vec![0i16; 16 * plane];
    // The slabs `SliceReader` gives with `opts`, summed.
    let mut sliced = |opts: &ReadOptions| {
        let mut r = ctprep_io::SliceReader::open_with(&niigz, opts).expect("opens");
        let (mut left, mut sum) = (300usize, 0i64);
        while left > 0 {
            let n = left.min(16);
            r.read_slices(&mut slab[..n * plane]).expect("reads");
            sum += checksum_i16(&slab[..n * plane]);
            left -= n;
        }
        r.finish().expect("the trailer checks");
        assert_eq!(sum, want);
    };
    g.bench_function(BenchmarkId::new("nii_gz_sliced", SIZE), |b| b.iter(|| sliced(&ReadOptions::new())));
    g.bench_function(BenchmarkId::new("nii_gz_sliced_2t", SIZE), |b| {
        b.iter(|| sliced(&ReadOptions::new().gzip_threads(2)))
    });
    drop(slab);
    let mut buf = vec![0u8; 16 * plane * 2];
    // A streaming decoder's output in 16-slice slabs after the 352-byte NIfTI head, summed.
    let mut slabs = |d: &mut dyn std::io::Read| {
        let mut head = [0u8; 352];
        d.read_exact(&mut head).expect("the NIfTI head");
        let (mut left, mut sum) = (300usize, 0i64);
        while left > 0 {
            let n = left.min(16) * plane * 2;
            d.read_exact(&mut buf[..n]).expect("decodes");
            sum += checksum_i16_bytes(&buf[..n]);
            left -= left.min(16);
        }
        assert_eq!(sum, want);
    };
    g.bench_function(BenchmarkId::new("gunzip_stream", SIZE), |b| {
        b.iter(|| slabs(&mut flate2::bufread::MultiGzDecoder::new(black_box(&comp[..]))))
    });
    g.bench_function(BenchmarkId::new("gunzip_ctprep", SIZE), |b| {
        b.iter(|| {
            let mut r = ctprep_gzip::GzipReader::new(black_box(&comp[..]));
            slabs(&mut r);
            assert!(r.pieces_decoded() > 1, "the piece index is used");
        })
    });
    g.bench_function(BenchmarkId::new("gunzip_ctprep_2t", SIZE), |b| {
        b.iter(|| slabs(&mut ctprep_gzip::GzipReader::new(black_box(&comp[..])).threads(2)))
    });
    let mut serial = Vec::new();
    ctprep_gzip::write_gzip(&mut serial, &out[..352], &out[352..], 1).expect("compresses");
    drop(out);
    g.bench_function(BenchmarkId::new("gunzip_ctprep_serial", SIZE), |b| {
        b.iter(|| {
            let mut r = ctprep_gzip::GzipReader::new(black_box(&serial[..]));
            slabs(&mut r);
            assert_eq!(r.pieces_decoded(), 0, "no piece index");
        })
    });
    g.finish();
}

fn gzip_level(c: &mut Criterion) {
    let ct = ct_phantom();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut g = c.benchmark_group("gzip_level");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(8));
    // The int16 CT at each level, then (`f32_window/L`) the CT windowed to [0, 1] as float32, the
    // kind of volume `ctprep run` writes (a clipped background of exact zeros).
    let windowed = ct
        .derived(
            VoxelData::from_vec(
                ct.data()
                    .as_slice::<i16>()
                    .expect("int16")
                    .iter()
                    .map(|&v| ((f32::from(v) + 100.0) / 1100.0).clamp(0.0, 1.0))
                    .collect(),
            ),
            ct.shape(),
            *ct.affine(),
        )
        .expect("windowed volume");
    let cases = [0u32, 1, 2, 3, 6]
        .map(|l| ("write", &ct, l))
        .into_iter()
        .chain([1u32, 2].map(|l| ("f32_window", &windowed, l)));
    for (name, ct, level) in cases {
        let n = ct.data().as_bytes().len() as u64;
        g.throughput(Throughput::Bytes(n));
        let path = dir.path().join(format!("{name}{level}.nii.gz"));
        let opts = WriteOptions::new().gzip_level(level);
        write_nifti(ct, &path, &opts).expect("writes");
        let size = std::fs::metadata(&path).expect("stat").len();
        eprintln!(
            "{name} gzip level {level}: {:.1} MB ({:.2}x smaller than the voxel bytes)",
            size as f64 / 1e6,
            n as f64 / size as f64
        );
        let back = read_nifti(&path).expect("reads back");
        assert_eq!(back.data().as_bytes(), ct.data().as_bytes());
        g.bench_function(BenchmarkId::new(name, level), |b| b.iter(|| write_nifti(ct, &path, &opts).expect("writes")));
    }
    g.finish();
}

criterion_group!(benches, io_read, gzip_level);
criterion_main!(benches);
