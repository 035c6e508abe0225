//! A DICOM series in: the 512 x 512 x 300 int16 CT phantom written as 300 DICOM files
//! (`ctprep_phantom::dicom`, uncompressed and RLE Lossless), then
//! - `read-{native,rle}`: `ctprep_dicom::read` (headers in parallel, slices ordered along the
//!   normal, each file decoded straight into its plane of the volume);
//! - `convert-{native,rle}`: that and the `.nii.gz` written at gzip level 1 (`ctprep convert`);
//! - `copy`: a memory copy of the volume's bytes, the floor.
//!
//! dcm2niix and SimpleITK on the same series: `benches/peers/dicom_convert.sh` (one run, ratios
//! in docs/BENCHMARKS.md).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctprep_benches::ct_phantom;
use ctprep_dicom::{Pick, read};
use ctprep_io::WriteOptions;
use ctprep_phantom::dicom::{PixelEncoding, write_dicom_series};

fn dicom(c: &mut Criterion) {
    let ct = ct_phantom();
    let bytes = ct.data().as_bytes().len();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut g = c.benchmark_group("dicom");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Bytes(bytes as u64));
    let size = "512x512x300";
    let from = ct.data().as_bytes().to_vec();
    let mut to = vec![0u8; bytes];
    g.bench_function(BenchmarkId::new("copy", size), |b| b.iter(|| to.copy_from_slice(black_box(&from))));
    for (name, encoding) in [("native", PixelEncoding::Native), ("rle", PixelEncoding::Rle)] {
        let series = dir.path().join(name);
        std::fs::create_dir_all(&series).expect("folder");
        write_dicom_series(&ct, &series, encoding).expect("written");
        let (v, _) = read(&series, &Pick::Only).expect("reads");
        assert_eq!(v.data().as_bytes(), ct.data().as_bytes(), "{name}: read back as written");
        g.bench_function(BenchmarkId::new(format!("read-{name}"), size), |b| {
            b.iter(|| read(black_box(&series), &Pick::Only).expect("reads"));
        });
        let out = dir.path().join(format!("{name}.nii.gz"));
        g.bench_function(BenchmarkId::new(format!("convert-{name}"), size), |b| {
            b.iter(|| {
                let (v, _) = read(black_box(&series), &Pick::Only).expect("reads");
                ctprep_io::write_volume(&v, &out, &WriteOptions::new().gzip_level(1)).expect("written");
            });
        });
    }
    g.finish();
}

criterion_group!(benches, dicom);
criterion_main!(benches);
