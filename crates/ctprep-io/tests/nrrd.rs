//! The NRRD reader and writer against what SimpleITK and pynrrd read from the same files,
//! recorded by `fixtures/make_nrrd_reference.py` in `fixtures/nrrd/reference.json` (small inputs
//! covering every supported field and encoding, and broken ones), `shared.json` (the real NRRD
//! files of `../shared/data/ct`) and `written.json` (the NRRD files ctprep writes, in
//! `fixtures/nrrd/written/`, read back by both).
//!
//! `CTPREP_WRITE_NRRD_FIXTURES=1 cargo test -p ctprep-io --test nrrd` rewrites
//! `fixtures/nrrd/written/` (then rerun the fixture script).

use std::path::{Path, PathBuf};

use ctprep_io::{
    Affine, ByteOrder, DataType, ErrorKind, NrrdEncoding, SliceReader, Volume, VoxelData, WriteOptions, read_volume,
    write_volume,
};
use ctprep_testdata::{fixtures_dir, shared_data_dir};
use serde_json::Value;

fn load(name: &str) -> Value {
    let p = fixtures_dir().join("nrrd").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).expect("reads the reference")).expect("valid JSON")
}

fn matrix(v: &Value) -> [[f64; 4]; 4] {
    let mut m = [[0.0; 4]; 4];
    for (r, row) in v.as_array().expect("rows").iter().enumerate() {
        for (c, x) in row.as_array().expect("row").iter().enumerate() {
            m[r][c] = x.as_f64().expect("number");
        }
    }
    m
}

/// The values as f64 (NaN for null), for any stored type.
fn values_f64(v: &Volume) -> Vec<f64> {
    fn go<T: ctprep_io::Element>(d: &VoxelData) -> Vec<f64> {
        d.as_slice::<T>().expect("type").iter().map(|x| x.to_f64()).collect()
    }
    match v.dtype() {
        DataType::U8 => go::<u8>(v.data()),
        DataType::I8 => go::<i8>(v.data()),
        DataType::U16 => go::<u16>(v.data()),
        DataType::I16 => go::<i16>(v.data()),
        DataType::U32 => go::<u32>(v.data()),
        DataType::I32 => go::<i32>(v.data()),
        DataType::U64 => go::<u64>(v.data()),
        DataType::I64 => go::<i64>(v.data()),
        DataType::F32 => go::<f32>(v.data()),
        DataType::F64 => go::<f64>(v.data()),
    }
}

fn json_values(v: &Value) -> Vec<f64> {
    v.as_array().expect("values").iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect()
}

/// Equal as bits after widening: NaN equals NaN, -0 differs from 0.
fn same_values(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

/// Exact u64/i64 values where JSON holds them as integers (f64 would round beyond 2^53).
fn same_integers(v: &Volume, want: &Value) -> bool {
    let want = want.as_array().expect("values");
    match v.dtype() {
        DataType::U64 => {
            let got = v.data().as_slice::<u64>().expect("u64");
            got.len() == want.len() && got.iter().zip(want).all(|(g, w)| w.as_u64() == Some(*g))
        }
        DataType::I64 => {
            let got = v.data().as_slice::<i64>().expect("i64");
            got.len() == want.len() && got.iter().zip(want).all(|(g, w)| w.as_i64() == Some(*g))
        }
        _ => {
            let (got, want) = (values_f64(v), json_values(&Value::Array(want.clone())));
            if let Some(i) = (0..got.len().min(want.len())).find(|&i| !same_values(&got[i..=i], &want[i..=i])) {
                eprintln!("first difference at {i}: {} vs {}", got[i], want[i]);
            }
            same_values(&got, &want)
        }
    }
}

fn kind_of(name: &str) -> Vec<ErrorKind> {
    match name {
        "unsupported_encoding" => vec![ErrorKind::UnsupportedEncoding],
        "unsupported_datatype" => vec![ErrorKind::UnsupportedDatatype],
        "bad_header" => vec![ErrorKind::BadHeader, ErrorKind::UnknownDatatype],
        "truncated" => vec![ErrorKind::Truncated],
        "corrupt_gzip" => vec![ErrorKind::CorruptGzip],
        "too_large" => vec![ErrorKind::TooLarge],
        "missing_data_file" => vec![ErrorKind::Io],
        other => panic!("unknown error kind {other} in the reference"),
    }
}

#[test]
fn reads_what_simpleitk_and_pynrrd_read() {
    let reference = load("reference.json");
    let files = reference["files"].as_array().expect("files");
    let mut checked = 0;
    for f in files {
        let rel = f["path"].as_str().expect("path");
        let path = fixtures_dir().join(rel);
        if f["expect"] == "error" {
            let err = read_volume(&path).expect_err(rel);
            let kinds = kind_of(f["error_kind"].as_str().expect("kind"));
            assert!(kinds.contains(&err.kind()), "{rel}: {:?} ({err}), want {kinds:?}", err.kind());
            assert!(
                err.to_string().contains(path.file_stem().expect("present").to_str().expect("present")),
                "{err} names the file"
            );
            // The slice reader refuses it too, at open or when reading.
            let streamed = SliceReader::open(&path).and_then(|mut r| {
                let mut buf = vec![0u8; 0];
                r.read_slices(&mut buf).and_then(|()| r.finish())
            });
            assert!(streamed.is_err() || f["error_kind"] == "truncated" || f["error_kind"] == "corrupt_gzip", "{rel}");
            checked += 1;
            continue;
        }
        let v = read_volume(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(v.format_name(), "nrrd");
        assert_eq!(v.dtype().numpy_name(), f["dtype"].as_str().expect("dtype"), "{rel}");
        let sizes: Vec<usize> =
            f["file_sizes"].as_array().expect("sizes").iter().map(|x| x.as_u64().expect("size") as usize).collect();
        let file_order = &f["values_file_order"];
        if v.nrrd_header().expect("nrrd").layered() {
            // Layers move from the fastest axis to the last.
            let (l, n) = (sizes[0], sizes[1..].iter().product::<usize>());
            assert_eq!(v.shape(), &[&sizes[1..], &[l]].concat()[..], "{rel}");
            let want = json_values(file_order);
            let got = values_f64(&v);
            for layer in 0..l {
                for i in 0..n {
                    assert_eq!(got[layer * n + i], want[i * l + layer], "{rel} layer {layer} voxel {i}");
                }
            }
        } else {
            assert_eq!(v.shape(), &sizes[..], "{rel}");
            assert!(same_integers(&v, file_order), "{rel}: values differ");
        }
        if f["affine_ras"].is_array() {
            let want = matrix(&f["affine_ras"]);
            assert_eq!(v.affine().rows(), want, "{rel}: affine (SimpleITK's, in RAS)");
        } else {
            assert!(f["sitk_error"].is_string(), "{rel}: no affine recorded and no SimpleITK error");
        }
        checked += 1;
    }
    assert!(checked >= 35, "only {checked} fixtures checked");
}

#[test]
fn slice_reader_gives_the_whole_reads_values() {
    let reference = load("reference.json");
    for f in reference["files"].as_array().expect("files") {
        let rel = f["path"].as_str().expect("path");
        if f["expect"] != "ok" {
            continue;
        }
        let path = fixtures_dir().join(rel);
        let whole = read_volume(&path).expect("reads");
        let mut r = SliceReader::open(&path).expect("opens");
        assert_eq!(r.shape(), whole.shape());
        assert_eq!(r.affine(), whole.affine());
        if whole.nrrd_header().expect("nrrd").layered() {
            let mut buf = vec![0u8; 1];
            let e = r.read_slices(&mut buf).expect_err("layered files are read whole");
            assert!(e.to_string().contains("layer"), "{e}");
            continue;
        }
        fn slabs<T: ctprep_io::Element>(r: &mut SliceReader, n: usize, step: usize) -> Vec<T> {
            let mut out = vec![T::zeroed(); n];
            for chunk in out.chunks_mut(step) {
                r.read_slices(chunk).expect("reads");
            }
            out
        }
        let n = whole.data().len();
        let step = whole.shape()[0] * whole.shape().get(1).copied().unwrap_or(1);
        let got = match whole.dtype() {
            DataType::I16 => VoxelData::from_vec(slabs::<i16>(&mut r, n, step)),
            DataType::F32 => VoxelData::from_vec(slabs::<f32>(&mut r, n, step)),
            DataType::U8 => VoxelData::from_vec(slabs::<u8>(&mut r, n, step)),
            DataType::U16 => VoxelData::from_vec(slabs::<u16>(&mut r, n, step)),
            DataType::I32 => VoxelData::from_vec(slabs::<i32>(&mut r, n, step)),
            DataType::U32 => VoxelData::from_vec(slabs::<u32>(&mut r, n, step)),
            DataType::I8 => VoxelData::from_vec(slabs::<i8>(&mut r, n, step)),
            DataType::I64 => VoxelData::from_vec(slabs::<i64>(&mut r, n, step)),
            DataType::U64 => VoxelData::from_vec(slabs::<u64>(&mut r, n, step)),
            DataType::F64 => VoxelData::from_vec(slabs::<f64>(&mut r, n, step)),
        };
        r.finish().expect("the rest and the gzip trailer check");
        assert_eq!(got.as_bytes(), whole.data().as_bytes(), "{rel}");
    }
}

/// Every way of writing NRRD (attached and detached, raw and gzip, both byte orders) reads back
/// as the same volume: values, exactly the same affine, layers, key/value pairs and fields.
#[test]
fn round_trips_keep_values_and_geometry_exactly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let reference = load("reference.json");
    let mut n = 0;
    for f in reference["files"].as_array().expect("files") {
        if f["expect"] != "ok" {
            continue;
        }
        let src = read_volume(fixtures_dir().join(f["path"].as_str().expect("path"))).expect("reads");
        for (name, enc, order) in [
            ("a.nrrd", NrrdEncoding::Gzip, ByteOrder::Little),
            ("b.nrrd", NrrdEncoding::Raw, ByteOrder::Big),
            ("c.nhdr", NrrdEncoding::Gzip, ByteOrder::Big),
            ("d.nhdr", NrrdEncoding::Raw, ByteOrder::Little),
        ] {
            let p = dir.path().join(name);
            write_volume(&src, &p, &WriteOptions::new().nrrd_encoding(enc).nrrd_byte_order(order)).expect("writes");
            let back = read_volume(&p).expect("reads back");
            assert_eq!(back.shape(), src.shape(), "{name}");
            assert_eq!(back.data().as_bytes(), src.data().as_bytes(), "{name}");
            assert_eq!(back.affine(), src.affine(), "{name}: geometry must survive exactly");
            let (h, s) = (back.nrrd_header().expect("nrrd"), src.nrrd_header().expect("nrrd"));
            assert_eq!(h.layered(), s.layered());
            assert_eq!(h.key_values, s.key_values);
            assert_eq!(h.measurement_frame, s.measurement_frame);
            assert_eq!(h.encoding, enc);
            assert_eq!(h.byte_order, if src.dtype().size() > 1 { order } else { ByteOrder::Little });
            // Value ranges may not hold for the values written; every other field is kept.
            for field in
                s.other_fields.iter().filter(|(n, _)| !["min", "max", "old min", "old max"].contains(&n.as_str()))
            {
                assert!(h.other_fields.contains(field), "{name}: field {field:?} lost");
            }
            n += 1;
        }
        // Through NIfTI and back: the same voxels, the geometry to float32 precision.
        if !src.nrrd_header().expect("nrrd").layered() {
            let p = dir.path().join("e.nii.gz");
            write_volume(&src, &p, &WriteOptions::new()).expect("writes NIfTI");
            let p2 = dir.path().join("f.nrrd");
            write_volume(&read_volume(&p).expect("reads"), &p2, &WriteOptions::new()).expect("writes NRRD");
            let back = read_volume(&p2).expect("reads");
            assert_eq!(back.data().as_bytes(), src.data().as_bytes());
            assert!(back.affine().max_abs_diff(src.affine()) < 1e-4, "{:?} vs {:?}", back.affine(), src.affine());
        }
    }
    assert!(n >= 80);
}

#[test]
fn a_file_that_is_neither_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes, looks) in [
        ("a.nii", b"hello world, this is text".to_vec(), "text \"hello world, thi"),
        ("b.nii", [&[0x89u8][..], b"PNG\r\n\x1a\n", &[0u8; 400][..]].concat(), "PNG"),
        ("c.nii", [&[0u8; 128][..], b"DICM", &[0u8; 400][..]].concat(), "DICOM"),
        ("d.nii", b"ab".to_vec(), "only 2 bytes"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes).expect("writes");
        let e = read_volume(&p).expect_err(name).to_string();
        assert!(e.contains("not a NIfTI or NRRD file") && e.contains(looks) && e.contains(name), "{e}");
    }
}

#[test]
fn scaled_volumes_become_float32_real_values_in_nrrd() {
    let dir = tempfile::tempdir().expect("temp dir");
    let v = Volume::new(VoxelData::from_vec(vec![0u8, 1, 2, 255]), &[2, 2, 1], Affine::IDENTITY)
        .expect("valid")
        .with_scaling(2.5, -1024.0)
        .expect("valid scaling");
    let p = dir.path().join("s.nrrd");
    write_volume(&v, &p, &WriteOptions::new()).expect("writes");
    let back = read_volume(&p).expect("reads");
    assert_eq!(back.dtype(), DataType::F32);
    assert_eq!(back.data().as_slice::<f32>(), Some(&[-1024.0f32, -1021.5, -1019.0, -386.5][..]));
}

/// The files of `fixtures/nrrd/written/`: what ctprep writes for a few sources and options.
fn written_cases() -> Vec<(&'static str, &'static str, WriteOptions)> {
    let o = WriteOptions::new();
    vec![
        ("lps_raw_le_i16.nrrd", "i16_gzip_le.nrrd", o),
        ("lps_gzip_be_f32.nrrd", "f32_raw_be.nrrd", o.nrrd_encoding(NrrdEncoding::Raw).nrrd_byte_order(ByteOrder::Big)),
        ("ras_oblique_u8.nrrd", "u8_oblique_gzip.nhdr", o),
        ("las_i32.nrrd", "i32_raw_be.nhdr", o.nrrd_encoding(NrrdEncoding::Raw).nrrd_byte_order(ByteOrder::Big)),
        ("layers_seg.nrrd", "layers_gzip.nrrd", o),
        ("extra_fields.nrrd", "extra_fields_raw_le.nrrd", o.nrrd_encoding(NrrdEncoding::Raw)),
        ("u64.nrrd", "u64_gzip_be.nrrd", o.nrrd_byte_order(ByteOrder::Big)),
    ]
}

/// The files ctprep writes are read by SimpleITK and pynrrd (`written.json`) as the volume they
/// were written from: same values, same RAS affine. The committed files are what ctprep writes
/// today, byte for byte, so the readers' record applies to this code.
#[test]
fn simpleitk_and_pynrrd_read_what_ctprep_writes() {
    let out = fixtures_dir().join("nrrd").join("written");
    let regenerate = std::env::var_os("CTPREP_WRITE_NRRD_FIXTURES").is_some();
    let tmp = tempfile::tempdir().expect("temp dir");
    let target = if regenerate { out.clone() } else { tmp.path().to_path_buf() };
    std::fs::create_dir_all(&target).expect("folder");
    if regenerate {
        for (src, name, opts) in written_cases() {
            let v = read_volume(fixtures_dir().join("nrrd").join(src)).expect("reads");
            write_volume(&v, target.join(name), &opts).expect("writes");
        }
        return;
    }
    let written = load("written.json");
    let records = written["files"].as_array().expect("files");
    for (src, name, opts) in written_cases() {
        let v = read_volume(fixtures_dir().join("nrrd").join(src)).expect("reads");
        write_volume(&v, target.join(name), &opts).expect("writes");
        let data_files: Vec<PathBuf> = data_file_names(&target, name);
        for f in std::iter::once(target.join(name)).chain(data_files) {
            let committed = out.join(f.file_name().expect("name"));
            assert_eq!(
                std::fs::read(&f).expect("reads"),
                std::fs::read(&committed).unwrap_or_default(),
                "{} differs from the committed file: rerun with CTPREP_WRITE_NRRD_FIXTURES=1 and the fixture script",
                committed.display()
            );
        }
        let rec = records
            .iter()
            .find(|r| r["path"].as_str().is_some_and(|p| p.ends_with(name)))
            .unwrap_or_else(|| panic!("{name} is not in written.json: rerun the fixture script"));
        assert!(rec["sitk_error"].is_null() && rec["pynrrd_error"].is_null(), "{name}: {rec}");
        assert_eq!(matrix(&rec["affine_ras"]), v.affine().rows(), "{name}: SimpleITK's affine");
        let layered = v.nrrd_header().is_some_and(|h| h.layered());
        if !layered {
            assert!(same_integers(&v, &rec["values_file_order"]), "{name}: values as read by pynrrd");
        } else {
            // Layers are written back as the leading (fastest) axis.
            let l = *v.shape().last().expect("layers");
            let n = v.data().len() / l;
            let want = json_values(&rec["values_file_order"]);
            let got = values_f64(&v);
            assert!((0..n * l).all(|i| want[i] == got[(i % l) * n + i / l]), "{name}: layer order");
            assert_eq!(rec["sitk_components"], l);
        }
        assert_eq!(rec["pynrrd_values_match"], true, "{name}");
        assert_eq!(rec["sitk_values_match"], true, "{name}");
    }
}

fn data_file_names(dir: &Path, name: &str) -> Vec<PathBuf> {
    let Some(stem) = name.strip_suffix(".nhdr") else { return Vec::new() };
    ["raw", "raw.gz"].iter().map(|e| dir.join(format!("{stem}.{e}"))).filter(|p| p.exists()).collect()
}

#[test]
fn real_nrrd_files_read_as_simpleitk_and_pynrrd_read_them() {
    let Some(shared) = shared_data_dir("real_nrrd_files_read_as_simpleitk_and_pynrrd_read_them") else { return };
    let reference = load("shared.json");
    for f in reference["files"].as_array().expect("files") {
        let rel = f["path"].as_str().expect("path");
        let v = read_volume(shared.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let shape: Vec<usize> =
            f["shape"].as_array().expect("shape").iter().map(|x| x.as_u64().expect("present") as usize).collect();
        assert_eq!(v.shape(), &shape[..], "{rel}");
        assert_eq!(v.dtype().numpy_name(), f["dtype"].as_str().expect("present"), "{rel}");
        assert_eq!(v.affine().rows(), matrix(&f["affine_ras"]), "{rel}");
        let vals = values_f64(&v);
        assert_eq!(vals.iter().sum::<f64>(), f["sum"].as_f64().expect("present"), "{rel}");
        assert_eq!(vals.iter().copied().fold(f64::INFINITY, f64::min), f["min"].as_f64().expect("present"));
        assert_eq!(vals.iter().copied().fold(f64::NEG_INFINITY, f64::max), f["max"].as_f64().expect("present"));
        let [nx, ny, _] = v.spatial_shape();
        for key in ["samples", "nonzero_samples"] {
            for s in f[key].as_array().map(Vec::as_slice).unwrap_or_default() {
                let ijk: Vec<usize> =
                    s[0].as_array().expect("present").iter().map(|x| x.as_u64().expect("present") as usize).collect();
                assert_eq!(
                    vals[ijk[0] + nx * (ijk[1] + ny * ijk[2])],
                    s[1].as_f64().expect("present"),
                    "{rel} at {ijk:?}"
                );
            }
        }
        if let Some(counts) = f["value_counts"].as_object() {
            for (value, count) in counts {
                let value: f64 = value.parse().expect("present");
                let got = vals.iter().filter(|&&x| x == value).count();
                assert_eq!(got as u64, count.as_u64().expect("present"), "{rel}: count of {value}");
            }
        }
    }
}

/// A stream into `.nrrd` or `.nhdr` (raw or gzip, either byte order) reads back as the volume
/// written whole; a detached header appears only with its data file.
#[test]
fn streams_write_nrrd_and_detached_headers() {
    use ctprep_io::{NiftiStream, Piece};
    let dir = tempfile::tempdir().expect("temp dir");
    let src = read_volume(fixtures_dir().join("nrrd/ras_oblique_u8.nrrd")).expect("reads");
    let src = src
        .with_data(VoxelData::from_vec(values_f64(&src).iter().map(|&x| x as i16 - 7).collect()))
        .expect("same size");
    let values = src.data().as_slice::<i16>().expect("i16").to_vec();
    for (name, enc, order) in [
        ("s.nrrd", NrrdEncoding::Gzip, ByteOrder::Big),
        ("t.nrrd", NrrdEncoding::Raw, ByteOrder::Little),
        ("u.nhdr", NrrdEncoding::Gzip, ByteOrder::Little),
        ("v.nhdr", NrrdEncoding::Raw, ByteOrder::Big),
    ] {
        let p = dir.path().join(name);
        let opts = WriteOptions::new().nrrd_encoding(enc).nrrd_byte_order(order);
        let mut s = NiftiStream::create(&src, src.shape(), *src.affine(), &p, &opts).expect("starts");
        let packer = s.packer();
        let mut piece = Piece::default();
        for chunk in values.chunks(7) {
            packer.pack(chunk, &mut piece).expect("packs");
            s.append(&piece).expect("appends");
        }
        let done = s.complete().expect("complete");
        assert!(!p.exists(), "{name} appears only when persisted");
        done.persist().expect("placed");
        let back = read_volume(&p).expect("reads");
        assert_eq!(back.data().as_slice::<i16>(), Some(&values[..]), "{name}");
        assert_eq!(back.affine(), src.affine(), "{name}");
    }
    let leftovers = std::fs::read_dir(dir.path())
        .expect("lists")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".ctprep"))
        .count();
    assert_eq!(leftovers, 0);
}
