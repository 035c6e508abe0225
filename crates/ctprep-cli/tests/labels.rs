//! Image and label map on one grid: `ctprep check` names how a label differs from its image
//! (flipped, shifted by one voxel or half a voxel, cropped, stored LPS beside RAS), `run --label`
//! puts it on the output grid, and every command reads and writes NRRD. On the real lung CT and
//! tumour mask of `../shared/data/ct` (pyradiomics' example) where present; the tumour's volume
//! and centroid are checked against `fixtures/nrrd/shared.json` (numpy over SimpleITK's reading).

mod common;

use std::path::{Path, PathBuf};

use common::{ctprep, s, stderr};
use ctprep_io::{Affine, AxCodes, Volume, VoxelData, WriteOptions, read_volume, write_volume};
use ctprep_testdata::{fixtures_dir, shared_data_dir};
use serde_json::Value;

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn lung(shared: &Path) -> (PathBuf, PathBuf) {
    (shared.join("ct/lung1_image.nrrd"), shared.join("ct/lung1_label.nrrd"))
}

/// `check --json` on `image` and `label`: exit code and document.
fn check(image: &Path, label: &Path) -> (Option<i32>, Value) {
    let out = ctprep(&["check", s(image), s(label), "--json"]);
    (out.status.code(), json(&out))
}

/// The label with a new affine (the same voxels), written to `dir/name`.
fn with_affine(label: &Volume, affine: Affine, dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    write_volume(&label.clone().with_affine(affine).expect("finite"), &p, &WriteOptions::new()).expect("writes");
    p
}

#[test]
fn check_names_how_a_label_differs() {
    let Some(shared) = shared_data_dir("check_names_how_a_label_differs") else { return };
    let (image, label_path) = lung(&shared);
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, doc) = check(&image, &label_path);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["verdict"], "aligned");
    assert_eq!(doc["values"][1]["voxels"], 837);

    let label = read_volume(&label_path).expect("reads");
    let a = label.affine().rows();
    let col = |j: usize| [a[0][j], a[1][j], a[2][j]];
    let moved = |d: [f64; 3]| {
        let mut r = a;
        for i in 0..3 {
            r[i][3] += d[i];
        }
        Affine::from_rows(r)
    };
    // One slice up (the z column), half a voxel along x.
    let z = col(2);
    let shifted = with_affine(&label, moved(z), dir.path(), "shifted.nrrd");
    let (code, doc) = check(&image, &shifted);
    assert_eq!((code, doc["verdict"].as_str()), (Some(3), Some("shifted")), "{doc}");
    assert!(doc["differences"][0].as_str().expect("text").contains("1 voxel along z (5 mm)"), "{doc}");
    let x = col(0);
    let half = with_affine(&label, moved([x[0] / 2.0, x[1] / 2.0, x[2] / 2.0]), dir.path(), "half.nii.gz");
    let (code, doc) = check(&image, &half);
    assert_eq!((code, doc["verdict"].as_str()), (Some(3), Some("shifted")), "{doc}");
    assert!(doc["differences"][0].as_str().expect("text").contains("half a voxel along x"), "{doc}");
    // The x axis reversed about the first voxel (data flipped without moving the origin).
    let mut f = a;
    for row in f.iter_mut().take(3) {
        row[0] = -row[0];
    }
    let flipped = with_affine(&label, Affine::from_rows(f), dir.path(), "flipped.nrrd");
    let (code, doc) = check(&image, &flipped);
    assert_eq!((code, doc["verdict"].as_str()), (Some(3), Some("flipped")), "{doc}");
    assert!(doc["differences"][0].as_str().expect("text").contains("flipped along x"), "{doc}");
    // Stored RAS beside the LPS image: the same voxels in another order.
    let ras = dir.path().join("ras.nii.gz");
    write_volume(&label.to_axcodes(AxCodes::RAS).expect("reorients"), &ras, &WriteOptions::new()).expect("writes");
    let (code, doc) = check(&image, &ras);
    assert_eq!((code, doc["verdict"].as_str()), (Some(3), Some("reoriented")), "{doc}");
    assert!(doc["differences"].to_string().contains("label RAS, image LPS"), "{doc}");
    // Cropped to the tumour's neighbourhood: the box is given in image voxels.
    let [nx, ny, _] = label.spatial_shape();
    let (x0, y0, z0, cx, cy, cz) = (180usize, 320usize, 28usize, 60usize, 70usize, 12usize);
    let src = label.data().as_slice::<i16>().expect("int16");
    let mut sub = Vec::with_capacity(cx * cy * cz);
    for k in z0..z0 + cz {
        for j in y0..y0 + cy {
            sub.extend_from_slice(&src[x0 + nx * (j + ny * k)..x0 + cx + nx * (j + ny * k)]);
        }
    }
    let origin = label.affine().apply([x0 as f64, y0 as f64, z0 as f64]);
    let mut c = a;
    for i in 0..3 {
        c[i][3] = origin[i];
    }
    let cropped = dir.path().join("cropped.nrrd");
    let v = Volume::new(VoxelData::from_vec(sub), &[cx, cy, cz], Affine::from_rows(c)).expect("valid");
    write_volume(&v, &cropped, &WriteOptions::new()).expect("writes");
    let (code, doc) = check(&image, &cropped);
    assert_eq!((code, doc["verdict"].as_str()), (Some(3), Some("cropped")), "{doc}");
    assert_eq!(doc["image_box"], serde_json::json!([[180, 239], [320, 389], [28, 39]]), "{doc}");
    assert_eq!(doc["values"][1]["voxels"], 837, "the crop keeps the whole tumour");
    // Text output says the same, with the exit status.
    let out = ctprep(&["check", s(&image), s(&cropped)]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NOT aligned (cropped)") && text.contains("x 180..239, y 320..389, z 28..39"), "{text}");
    assert!(stderr(&out).contains("not aligned"), "{}", stderr(&out));
}

/// The tumour on the run's 1 mm RAS grid: every labelled output voxel takes the label of the
/// input voxel nearest to it, the volume stays within 5 % and the centroid within half an
/// output voxel of SimpleITK's reading of the original.
#[test]
fn run_label_keeps_the_tumour_in_place() {
    let Some(shared) = shared_data_dir("run_label_keeps_the_tumour_in_place") else { return };
    let (image, label_path) = lung(&shared);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = ctprep(&["run", s(&image), "--label", s(&label_path), "--out", s(dir.path()), "--json", "--save", "mip"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["label"]["verdict"], "aligned");
    let placed_path = dir.path().join("lung1_image_label.nii.gz");
    assert_eq!(doc["outputs"]["label"][0].as_str(), Some(s(&placed_path)));
    let placed = read_volume(&placed_path).expect("reads");
    let input = read_volume(&label_path).expect("reads");
    assert_eq!(placed.dtype(), input.dtype(), "stored type kept");
    assert_eq!(placed.axcodes_string(), "RAS");
    assert_eq!(placed.spacing(), [1.0; 3]);
    let inv = input.affine().inverse().expect("invertible");
    let [nx, ny, nz] = input.spatial_shape();
    let src = input.data().as_slice::<i16>().expect("int16");
    let dst = placed.data().as_slice::<i16>().expect("int16");
    let [ox, oy, _] = placed.spatial_shape();
    let (mut n, mut sum) = (0usize, [0.0f64; 3]);
    for (idx, &v) in dst.iter().enumerate() {
        let (i, j, k) = (idx % ox, (idx / ox) % oy, idx / (ox * oy));
        let w = placed.affine().apply([i as f64, j as f64, k as f64]);
        let p = inv.apply(w);
        let r = p.map(|c| c.round());
        let inside = r[0] >= 0.0
            && r[1] >= 0.0
            && r[2] >= 0.0
            && (r[0] as usize) < nx
            && (r[1] as usize) < ny
            && (r[2] as usize) < nz;
        let want = if inside { src[r[0] as usize + nx * (r[1] as usize + ny * r[2] as usize)] } else { 0 };
        // Points exactly between two input voxels may round either way.
        let tie = p.iter().any(|c| (c - c.floor() - 0.5).abs() < 1e-6);
        assert!(v == want || tie, "output voxel {i},{j},{k}: {v}, nearest input voxel holds {want}");
        if v != 0 {
            n += 1;
            for a in 0..3 {
                sum[a] += w[a];
            }
        }
    }
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures_dir().join("nrrd/shared.json")).expect("reads"))
            .expect("JSON");
    let lung_label = reference["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == "ct/lung1_label.nrrd")
        .expect("recorded");
    let want_ml = lung_label["nonzero"]["volume_ml"].as_f64().expect("ml");
    let got_ml = n as f64 / 1000.0;
    assert!((got_ml - want_ml).abs() / want_ml < 0.05, "tumour {got_ml} ml, SimpleITK's reading {want_ml} ml");
    let centroid: Vec<f64> = lung_label["nonzero"]["centroid_ras_mm"]
        .as_array()
        .expect("c")
        .iter()
        .map(|c| c.as_f64().expect("mm"))
        .collect();
    let d = (0..3).map(|a| (sum[a] / n as f64 - centroid[a]).powi(2)).sum::<f64>().sqrt();
    assert!(d < 0.5, "centroid moved {d} mm");
}

#[test]
fn run_label_refuses_a_label_elsewhere_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let image = fixtures_dir().join("nrrd/lps_raw_le_i16.nrrd");
    let v = read_volume(&image).expect("reads");
    let far = with_affine(&v, Affine::from_spacing_origin([1.0; 3], [900.0, 0.0, 0.0]), dir.path(), "far.nrrd");
    let out_dir = dir.path().join("out");
    let out = ctprep(&["run", s(&image), "--label", s(&far), "--out", s(&out_dir), "--spacing", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot be placed") && stderr(&out).contains("no overlap"), "{}", stderr(&out));
    assert!(!out_dir.exists(), "a refused run leaves nothing");
    // A shifted label is placed, with a warning saying how it differed.
    let a = v.affine().rows();
    let mut r = a;
    r[2][3] += a[2][2];
    let up = with_affine(&v, Affine::from_rows(r), dir.path(), "up.nrrd");
    let out =
        ctprep(&["run", s(&image), "--label", s(&up), "--out", s(&out_dir), "--spacing", "1", "--save", "volume"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning:") && stderr(&out).contains("1 voxel along z"), "{}", stderr(&out));
    assert!(out_dir.join("lps_raw_le_i16_label.nii.gz").exists());
}

/// A layered `.seg.nrrd` keeps its layers through `run --label`, each put in place alone.
#[test]
fn layered_labels_keep_their_layers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seg = fixtures_dir().join("nrrd/layers_seg.nrrd");
    let layers = read_volume(&seg).expect("reads");
    assert_eq!(layers.shape(), &[5, 4, 3, 2]);
    // An image on the segmentation's grid.
    let ct: Vec<i16> = (0..60).map(|i| i * 10 - 300).collect();
    let image = dir.path().join("ct.nrrd");
    let v = Volume::new(VoxelData::from_vec(ct), &[5, 4, 3], *layers.affine()).expect("valid");
    write_volume(&v, &image, &WriteOptions::new()).expect("writes");
    let out = ctprep(&["check", s(&image), s(&seg)]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let out_dir = dir.path().join("out");
    let out = ctprep(&[
        "run",
        s(&image),
        "--label",
        s(&seg),
        "--out",
        s(&out_dir),
        "--axcodes",
        "keep",
        "--spacing",
        "0.8,0.8,2.5",
        "--save",
        "volume",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let placed = read_volume(out_dir.join("ct_label.nii.gz")).expect("reads");
    assert_eq!(placed.shape(), layers.shape(), "the same grid, both layers");
    assert_eq!(placed.data().as_bytes(), layers.data().as_bytes(), "on its own grid nearest changes nothing");
}

/// Every command that takes a NIfTI file takes an NRRD, and writes one when the output's name
/// asks for it.
#[test]
fn every_command_reads_and_writes_nrrd() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = fixtures_dir().join("nrrd/lps_gzip_be_f32.nrrd");
    let p = |name: &str| dir.path().join(name);
    let out = ctprep(&["info", s(&src), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let info = json(&out);
    assert_eq!((info["format"].as_str(), info["byte_order"].as_str()), (Some("nrrd"), Some("big")));
    let n = |name: &str| p(name).display().to_string();
    let src_s = s(&src);
    let (a_nii, b_nhdr, w_nrrd, w_nhdr, m_nrrd) = (n("a.nii.gz"), n("b.nhdr"), n("w.nrrd"), n("w.nhdr"), n("m.nrrd"));
    let (r_nrrd, r2_nhdr, a_png, s_png, run_dir) = (n("r.nrrd"), n("r2.nhdr"), n("a.png"), n("s.png"), n("run"));
    let runs: [&[&str]; 10] = [
        &["convert", src_s, &a_nii],
        &["convert", &a_nii, &b_nhdr],
        &["window", src_s, &w_nrrd, "--window", "-50,50"],
        &["window", src_s, &w_nhdr, "--window", "-50,50", "--dtype", "u8"],
        &["mip", src_s, &m_nrrd, "--slab", "2"],
        &["resample", src_s, &r_nrrd, "--spacing", "1"],
        &["resample", src_s, &r2_nhdr, "--like", &r_nrrd, "--interp", "nearest"],
        &["png", src_s, &a_png],
        &["sheet", src_s, &s_png, "--rows", "1", "--cols", "3", "--start", "0", "--every", "1"],
        &["run", src_s, "--out", &run_dir, "--spacing", "1"],
    ];
    for args in runs {
        let out = ctprep(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let original = read_volume(&src).expect("reads");
    let back = read_volume(p("b.nhdr")).expect("reads");
    assert_eq!(back.data().as_bytes(), original.data().as_bytes());
    assert!(back.affine().max_abs_diff(original.affine()) < 1e-5, "through NIfTI's float32 and back");
    assert!(p("b.raw.gz").exists() && p("w.raw.gz").exists());
    for f in ["w.nrrd", "w.nhdr", "m.nrrd", "r.nrrd", "r2.nhdr"] {
        let v = read_volume(p(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(v.format_name(), "nrrd", "{f}");
    }
    assert_eq!(
        read_volume(p("w.nrrd")).expect("reads").affine(),
        original.affine(),
        "window keeps the geometry exactly"
    );
    assert!(p("run/lps_gzip_be_f32_window.nii.gz").exists(), "run names outputs after the NRRD's stem");
}

#[test]
fn guards_warn_about_silent_traps() {
    let dir = tempfile::tempdir().expect("temp dir");
    let labels: Vec<u8> = (0..8 * 8 * 4).map(|i| u8::from(i % 7 == 0) * 2).collect();
    let label = dir.path().join("seg.nii.gz");
    let v = Volume::new(VoxelData::from_vec(labels), &[8, 8, 4], Affine::IDENTITY).expect("valid");
    write_volume(&v, &label, &WriteOptions::new()).expect("writes");
    let out = ctprep(&["resample", s(&label), s(&dir.path().join("r.nii.gz")), "--spacing", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("looks like a label map") && stderr(&out).contains("--interp nearest"),
        "{}",
        stderr(&out)
    );
    let out =
        ctprep(&["resample", s(&label), s(&dir.path().join("r.nii.gz")), "--spacing", "2", "--interp", "nearest"]);
    assert!(!stderr(&out).contains("label map"), "{}", stderr(&out));
    // uint8 0..255 without scaling is not HU.
    let out = ctprep(&["window", s(&label), s(&dir.path().join("w.nii.gz")), "--preset", "bone"]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("cannot be Hounsfield units"), "{}", stderr(&out));
    // A CT in int16 raises neither.
    let ct = fixtures_dir().join("nrrd/lps_raw_le_i16.nrrd");
    let out = ctprep(&["window", s(&ct), s(&dir.path().join("w2.nii.gz")), "--preset", "bone"]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

/// `check --tolerance`, `info --counts` and `run --label-tolerance` through the command line.
#[test]
fn tolerances_and_counts_through_the_cli() {
    let dir = tempfile::tempdir().expect("temp dir");
    let image = fixtures_dir().join("nrrd/lps_raw_le_i16.nrrd");
    let v = read_volume(&image).expect("reads");
    // Half a voxel (0.4 mm) along x: not aligned at 0.01 mm, aligned at 0.5 mm.
    let a = v.affine().rows();
    let mut r = a;
    r[0][3] += a[0][0] / 2.0;
    let labels: Vec<u8> = (0..60).map(|i| (i % 3) as u8).collect();
    let label = Volume::new(VoxelData::from_vec(labels), &[5, 4, 3], Affine::from_rows(r)).expect("valid");
    let half = dir.path().join("half.nrrd");
    write_volume(&label, &half, &WriteOptions::new()).expect("writes");
    assert_eq!(ctprep(&["check", s(&image), s(&half)]).status.code(), Some(3));
    let out = ctprep(&["check", s(&image), s(&half), "--tolerance", "0.5", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(json(&out)["tolerance_mm"], 0.5);
    assert_eq!(ctprep(&["check", s(&image), s(&half), "--tolerance", "-1"]).status.code(), Some(2));
    // The value table: 20 voxels of each of 0, 1, 2; 0.8 x 0.8 x 2.5 mm = 1.6 ul each.
    let out = ctprep(&["info", s(&half), "--counts", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let values = json(&out)["values"].clone();
    assert_eq!(values.as_array().map(Vec::len), Some(3), "{values}");
    assert_eq!(values[2]["value"], 2.0);
    assert_eq!(values[2]["voxels"], 20);
    assert!((values[2]["ml"].as_f64().expect("ml") - 0.032).abs() < 1e-12, "{values}");
    let text = String::from_utf8_lossy(&ctprep(&["info", s(&half), "--counts"]).stdout).into_owned();
    assert!(text.contains("counts") && text.contains("0.032"), "{text}");
    // run: the same label is placed silently within --label-tolerance, with a warning without.
    let out_dir = dir.path().join("out");
    let args = |tol: &'static str| {
        vec!["run", s(&image), "--label", s(&half), "--out", s(&out_dir), "--save", "volume", "--label-tolerance", tol]
    };
    let out = ctprep(&args("0.01"));
    assert!(out.status.success() && stderr(&out).contains("half a voxel"), "{}", stderr(&out));
    let out = ctprep(&args("0.5"));
    assert!(out.status.success() && !stderr(&out).contains("warning"), "{}", stderr(&out));
    assert_eq!(ctprep(&args("nan")).status.code(), Some(2));
}
