//! `ctprep png --label` and `ctprep sheet --label` end to end: the label drawn in colour where it
//! is and nowhere else, the same picture whatever the storage order, the grey sheet's geometry,
//! and refusals (a label on another grid, 16 bits) with no output left behind.

mod common;

use common::{ctprep, s, stderr};

use std::path::{Path, PathBuf};

use ctprep_io::{AxCodes, Volume, WriteOptions, read_volume, write_nifti};
use ctprep_phantom::Phantom;
use ctprep_render::{PALETTE, Plane, label_slice};

/// The phantom CT and its label map stored in `codes`, written into `dir`.
fn pair(dir: &Path, codes: &str) -> (PathBuf, PathBuf) {
    let c: AxCodes = codes.parse().expect("codes");
    let ras = [48, 40, 20];
    let shape = c.dirs().map(|d| ras[d.axis]);
    let p = Phantom::new(shape).spacing_mm([1.0, 1.0, 2.0]).axcodes(c).seed(5);
    let write = |name: &str, v: &Volume| {
        let path = dir.join(name);
        write_nifti(v, &path, &WriteOptions::new()).expect("writes");
        path
    };
    (
        write(&format!("ct_{codes}.nii.gz"), &p.ct().expect("ct")),
        write(&format!("seg_{codes}.nii.gz"), &p.labels().expect("labels")),
    )
}

/// A decoded 8-bit PNG: colour type, width, height, samples.
fn read_png(path: &Path) -> (png::ColorType, usize, usize, Vec<u8>) {
    let file = std::fs::File::open(path).expect("the PNG exists");
    let mut dec = png::Decoder::new(std::io::BufReader::new(file)).read_info().expect("a PNG");
    let mut buf = vec![0; dec.output_buffer_size().expect("size")];
    let info = dec.next_frame(&mut buf).expect("one frame");
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.color_type, info.width as usize, info.height as usize, buf)
}

fn ok(args: &[&str]) {
    let out = ctprep(args);
    assert!(out.status.success(), "ctprep {args:?}: {}", stderr(&out));
}

#[test]
fn png_label_colours_the_label_and_nothing_else_in_any_storage_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ct, seg) = pair(dir.path(), "LPS");
    let grey = dir.path().join("grey.png");
    let coloured = dir.path().join("coloured.png");
    ok(&["png", s(&ct), s(&grey), "--plane", "coronal", "--preset", "soft-tissue"]);
    ok(&["png", s(&ct), s(&coloured), "--plane", "coronal", "--preset", "soft-tissue", "--label", s(&seg)]);
    let (gt, w, h, g) = read_png(&grey);
    let (ct_type, cw, chh, c) = read_png(&coloured);
    assert_eq!((gt, ct_type), (png::ColorType::Grayscale, png::ColorType::Rgb));
    assert_eq!((cw, chh), (w, h));
    let labels = read_volume(&seg).expect("labels");
    let layout_labels = label_slice(&labels, Plane::Coronal, 40 / 2).expect("middle coronal slice");
    assert_eq!((layout_labels.width, layout_labels.height), (w, h));
    let mut seen = std::collections::BTreeSet::new();
    for (i, &l) in layout_labels.values.iter().enumerate() {
        let px = [c[3 * i], c[3 * i + 1], c[3 * i + 2]];
        if l == 0 {
            assert_eq!(px, [g[i]; 3], "pixel {i}: no label, the grey level");
        } else {
            assert_ne!(px, [g[i]; 3], "pixel {i}: label {l} drawn");
            if px == PALETTE[(l - 1) as usize % 16] {
                seen.insert(l);
            }
        }
    }
    assert!(seen.len() >= 3, "several labels' outlines in their own colours: {seen:?}");
    // Stored PIR, the same anatomy: the same picture, byte for byte.
    let (ct2, seg2) = pair(dir.path(), "PIR");
    let other = dir.path().join("pir.png");
    ok(&["png", s(&ct2), s(&other), "--plane", "coronal", "--preset", "soft-tissue", "--label", s(&seg2)]);
    assert_eq!(std::fs::read(&other).expect("reads"), std::fs::read(&coloured).expect("reads"));
}

#[test]
fn sheet_label_keeps_the_grey_sheets_geometry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ct, seg) = pair(dir.path(), "RAS");
    let grey = dir.path().join("grey.png");
    let coloured = dir.path().join("coloured.png");
    let common = ["--rows", "2", "--cols", "3", "--start", "2", "--every", "3", "--numbers", "--preset", "lung"];
    let mut a = vec!["sheet", s(&ct), s(&grey)];
    a.extend(common);
    ok(&a);
    let mut b = vec!["sheet", s(&ct), s(&coloured), "--label", s(&seg)];
    b.extend(common);
    ok(&b);
    let (_, w, h, g) = read_png(&grey);
    let (t, cw, chh, c) = read_png(&coloured);
    assert_eq!((t, cw, chh), (png::ColorType::Rgb, w, h));
    let coloured_pixels = (0..w * h).filter(|&i| c[3 * i..3 * i + 3] != [g[i]; 3]).count();
    assert!(coloured_pixels > w * h / 20, "{coloured_pixels} of {} pixels carry a label", w * h);
}

#[test]
fn labels_off_the_grid_and_16_bits_are_refused_without_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ct, _) = pair(dir.path(), "RAS");
    let (_, seg_lps) = pair(dir.path(), "LPS");
    // LPS-stored labels have the RAS image's voxel count but not its grid.
    let out = dir.path().join("x.png");
    for (args, code, says) in [
        (vec!["png", s(&ct), s(&out), "--label", s(&seg_lps)], 1, "not on the grid"),
        (vec!["sheet", s(&ct), s(&out), "--label", s(&seg_lps)], 1, "not on the grid"),
        (vec!["png", s(&ct), s(&out), "--label", s(&seg_lps), "--bits", "16"], 2, "--bits 16"),
        (vec!["png", s(&ct), s(&out), "--label", "/nonexistent/seg.nii.gz"], 1, "/nonexistent/seg.nii.gz"),
    ] {
        let o = ctprep(&args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
        assert!(!out.exists(), "{args:?} left an output");
    }
}

#[test]
fn a_real_multi_label_map_over_its_ct() {
    let Some(shared) = ctprep_testdata::shared_data_dir("a_real_multi_label_map_over_its_ct") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("seg.png");
    let ct = shared.join("ct/ts_example_ct_sm.nii.gz");
    let seg = shared.join("ct/ts_example_seg.nii.gz");
    ok(&[
        "sheet",
        s(&ct),
        s(&out),
        "--plane",
        "coronal",
        "--rows",
        "1",
        "--cols",
        "3",
        "--start",
        "40",
        "--every",
        "10",
        "--preset",
        "soft-tissue",
        "--label",
        s(&seg),
    ]);
    let (t, w, h, c) = read_png(&out);
    assert_eq!(t, png::ColorType::Rgb);
    let colours: std::collections::HashSet<[u8; 3]> =
        (0..w * h).map(|i| [c[3 * i], c[3 * i + 1], c[3 * i + 2]]).filter(|p| PALETTE.contains(p)).collect();
    assert!(colours.len() >= 5, "outlines of many of the 41 labels: {} palette colours", colours.len());
}
