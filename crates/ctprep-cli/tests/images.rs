//! `ctprep png` and `ctprep sheet` end to end: the same picture, byte for byte, whatever the
//! storage order; the right way up (asserted on the phantom's anatomy and on marker voxels);
//! 8- and 16-bit grey levels read back from the files; contact-sheet geometry; exit codes,
//! messages and no partial output on bad input.

mod common;

use common::{ctprep, s, stderr};

use std::path::{Path, PathBuf};

use ctprep_core::Affine;
use ctprep_io::{AxCodes, Volume, VoxelData, WriteOptions, write_nifti};
use ctprep_phantom::Phantom;

fn run_ok(args: &[&str]) -> String {
    let out = ctprep(args);
    assert!(out.status.success(), "ctprep {args:?} failed: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The phantom's RAS shape: 48 voxels left-right, 40 posterior-anterior, 20 inferior-superior.
const RAS_SHAPE: [usize; 3] = [48, 40, 20];
const RAS_SPACING: [f64; 3] = [0.8, 0.9, 2.5];

/// The same phantom (same world content, voxel for voxel) stored in axis codes `codes`.
fn phantom(codes: &str, noise_hu: f64) -> Volume {
    let c: AxCodes = codes.parse().expect("axis codes");
    let dirs = c.dirs();
    let shape = dirs.map(|d| RAS_SHAPE[d.axis]);
    let spacing = dirs.map(|d| RAS_SPACING[d.axis]);
    let v = Phantom::new(shape).spacing_mm(spacing).axcodes(c).noise_hu(noise_hu).seed(3).ct().expect("phantom");
    assert_eq!(v.axcodes_string(), codes);
    v
}

fn write(dir: &Path, name: &str, v: &Volume) -> PathBuf {
    let p = dir.join(name);
    write_nifti(v, &p, &WriteOptions::new()).expect("writes");
    p
}

/// A decoded grey PNG.
#[derive(Debug, PartialEq)]
struct Png {
    width: usize,
    height: usize,
    bits: u8,
    values: Vec<u16>,
}

impl Png {
    fn at(&self, col: usize, row: usize) -> u16 {
        self.values[row * self.width + col]
    }

    /// (col, row) of every pixel for which `f` holds.
    fn find(&self, f: impl Fn(u16) -> bool) -> Vec<(usize, usize)> {
        (0..self.values.len()).filter(|&i| f(self.values[i])).map(|i| (i % self.width, i / self.width)).collect()
    }
}

fn read_png(path: &Path) -> Png {
    let file = std::fs::File::open(path).expect("the PNG exists");
    let mut dec = png::Decoder::new(std::io::BufReader::new(file)).read_info().expect("a PNG");
    let mut buf = vec![0; dec.output_buffer_size().expect("size")];
    let info = dec.next_frame(&mut buf).expect("one frame");
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let buf = &buf[..info.buffer_size()];
    let (bits, values) = match info.bit_depth {
        png::BitDepth::Eight => (8, buf.iter().map(|&b| u16::from(b)).collect()),
        png::BitDepth::Sixteen => (16, buf.chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]])).collect()),
        d => panic!("unexpected bit depth {d:?}"),
    };
    Png { width: info.width as usize, height: info.height as usize, bits, values }
}

/// Files left in `dir` (outputs and any stray temporary file).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("lists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const ORDERS: [&str; 5] = ["LPS", "RAS", "PIR", "ASL", "ILP"];

#[test]
fn every_storage_order_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    let inputs: Vec<PathBuf> = ORDERS.iter().map(|c| write(d, &format!("ct_{c}.nii.gz"), &phantom(c, 10.0))).collect();
    let cases: [&[&str]; 6] = [
        &["png", "--preset", "soft-tissue"],
        &["png", "--slice", "3", "--window", "-1000,400", "--bits", "16"],
        &["sheet", "--rows", "2", "--cols", "3", "--start", "1", "--every", "3", "--preset", "lung"],
        &["sheet", "--rows", "3", "--cols", "2", "--start", "0", "--every", "2", "--numbers", "--preset", "bone"],
        &[
            "sheet",
            "--rows",
            "1",
            "--cols",
            "4",
            "--start",
            "5",
            "--every",
            "1",
            "--numbers",
            "--bits",
            "16",
            "--level",
            "40",
            "--width",
            "400",
        ],
        &["png", "--slice", "0", "--preset", "classic"],
    ];
    for plane in ["axial", "coronal", "sagittal"] {
        for (ci, case) in cases.iter().enumerate() {
            let mut first: Option<Vec<u8>> = None;
            for (input, codes) in inputs.iter().zip(ORDERS) {
                let out = d.join(format!("{plane}_{ci}_{codes}.png"));
                let mut args = vec![case[0], s(input), s(&out), "--plane", plane];
                args.extend_from_slice(&case[1..]);
                run_ok(&args);
                let bytes = std::fs::read(&out).expect("reads");
                match &first {
                    None => first = Some(bytes),
                    Some(f) => assert!(*f == bytes, "{plane} {case:?}: {codes} differs from {}", ORDERS[0]),
                }
            }
        }
    }
}

#[test]
fn the_phantom_is_the_right_way_up() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    for codes in ["LPS", "PIR", "ASL"] {
        let input = write(d, "ct.nii.gz", &phantom(codes, 0.0));
        let png = |plane: &str, slice: usize, window: &str| -> Png {
            let out = d.join("x.png");
            run_ok(&["png", s(&input), s(&out), "--plane", plane, "--slice", &slice.to_string(), "--window", window]);
            read_png(&out)
        };
        // Axial slice 6 of 20 (z = -0.37 of the field of view): liver, no lungs, no ribs.
        // Soft-tissue window: liver (60 HU) is round(255 * 220 / 400) = 140, soft tissue
        // (40 HU) 127.5 -> 128.
        let ax = png("axial", 6, "-160,240");
        assert_eq!((ax.width, ax.height), (48, 40));
        let liver = ax.find(|v| v == 140);
        assert!(liver.len() > 100, "{codes}: {} liver pixels", liver.len());
        assert!(liver.iter().all(|&(c, _)| c < ax.width / 2), "{codes}: liver must be on the image's left");
        assert!(ax.find(|v| v == 128).len() > 100, "{codes}: soft tissue");
        // Bone window 300..1700: only the vertebra (> 300 HU) is above 0, and it is in the
        // bottom half (posterior), centred left-right; the aorta (250 HU) is not.
        let bone = png("axial", 6, "300,1700").find(|v| v > 0);
        assert!(bone.len() > 10, "{codes}: {} bone pixels", bone.len());
        assert!(bone.iter().all(|&(_, r)| r >= ax.height / 2), "{codes}: spine must be at the bottom");
        assert!(bone.iter().all(|&(c, _)| c.abs_diff(ax.width / 2) <= ax.width / 8), "{codes}: spine off centre");
        // The aorta (250 HU, the patient's left of the spine) is on the image's right.
        let aorta = png("axial", 6, "245,255").find(|v| v == 128);
        assert!(!aorta.is_empty() && aorta.iter().all(|&(c, _)| c > ax.width / 2), "{codes}: aorta {aorta:?}");

        // Coronal slice 20 of 40 (through the lungs and liver): lung (-850 HU) in a
        // -900..-800 window is 128, and lies in the upper part; liver below it, on the left.
        let co = png("coronal", 20, "-900,-800");
        assert_eq!((co.width, co.height), (48, 20));
        let lung = co.find(|v| v == 128);
        assert!(lung.len() > 50, "{codes}: {} lung pixels", lung.len());
        let mean_row = lung.iter().map(|&(_, r)| r).sum::<usize>() as f64 / lung.len() as f64;
        assert!(mean_row < co.height as f64 / 2.0, "{codes}: lungs must be superior (top), mean row {mean_row}");
        assert!(lung.iter().all(|&(_, r)| r < co.height * 6 / 10), "{codes}: lung in the lower 40 %");
        let liver = png("coronal", 20, "-160,240").find(|v| v == 140);
        assert!(!liver.is_empty() && liver.iter().all(|&(c, _)| c < co.width / 2), "{codes}: coronal liver");
        let liver_top = liver.iter().map(|&(_, r)| r).min().unwrap_or(0);
        assert!(liver_top as f64 > mean_row, "{codes}: the liver lies below the lungs");

        // Sagittal slice 24 of 48 (the midline): the vertebral body (cancellous bone, 400 HU:
        // 128 in a 395..405 window; ribs and the cortical rim are 1500 HU, 255) is posterior,
        // on the image's right.
        let sa = png("sagittal", 24, "395,405");
        assert_eq!((sa.width, sa.height), (40, 20));
        let bone = sa.find(|v| v == 128);
        assert!(bone.len() > 10, "{codes}: {} vertebra pixels", bone.len());
        assert!(bone.iter().all(|&(c, _)| c >= sa.width / 2), "{codes}: sagittal spine must be on the right");
        // Sagittal slice 32 (x = +0.36, through the right lung and the liver): lung at the top,
        // liver below it.
        let lung = png("sagittal", 32, "-900,-800").find(|v| v == 128);
        let liver = png("sagittal", 32, "-160,240").find(|v| v == 140);
        assert!(lung.len() > 20 && liver.len() > 20, "{codes}: {} lung, {} liver pixels", lung.len(), liver.len());
        let lowest_lung = lung.iter().map(|&(_, r)| r).max().unwrap_or(usize::MAX);
        let top_liver = liver.iter().map(|&(_, r)| r).min().unwrap_or(0);
        assert!(
            lowest_lung < top_liver,
            "{codes}: sagittal lung rows end at {lowest_lung}, liver starts at {top_liver}"
        );
    }
}

/// A float volume of `ras_shape` holding 1.0 at RAS voxel `marker`, 0 elsewhere, stored in
/// `codes` (optionally rotated 15 degrees about z: an oblique affine with the same codes).
fn marker(ras_shape: [usize; 3], m: [usize; 3], codes: &str, oblique: bool) -> Volume {
    let mut v = vec![0.0f32; ras_shape.iter().product()];
    v[m[0] + ras_shape[0] * (m[1] + ras_shape[1] * m[2])] = 1.0;
    let a = Affine::from_spacing_origin([1.0, 1.2, 3.0], [-20.0, 7.0, 100.0]);
    let ras = Volume::new(VoxelData::from_vec(v), &ras_shape, a).expect("valid");
    let mut out = ras.to_axcodes(codes.parse().expect("codes")).expect("reorients");
    if oblique {
        let (c, s) = (15f64.to_radians().cos(), 15f64.to_radians().sin());
        let rot = Affine::from_parts([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], [0.0; 3]);
        out = out.clone().with_affine(rot.matmul(out.affine())).expect("valid");
    }
    assert_eq!(out.axcodes_string(), codes);
    out
}

#[test]
fn a_marker_voxel_lands_where_the_convention_says() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    let shape = [7, 6, 5];
    // x = 5 of 7 (toward the patient's right), y = 1 of 6 (posterior), z = 3 of 5 (superior).
    let m = [5, 1, 3];
    for codes in ["RAS", "LPS", "PIR", "ASL", "ILP", "SRA"] {
        for oblique in [false, true] {
            let input = write(d, "m.nii", &marker(shape, m, codes, oblique));
            for (plane, slice, size, at) in [
                // Axial: right on the left (col = 7-1-5), anterior up (row = 6-1-1).
                ("axial", m[2], (7, 6), (1, 4)),
                // Coronal: right on the left, superior up (row = 5-1-3).
                ("coronal", m[1], (7, 5), (1, 1)),
                // Sagittal: anterior on the left (col = 6-1-1), superior up.
                ("sagittal", m[0], (6, 5), (4, 1)),
            ] {
                let out = d.join("m.png");
                run_ok(&["png", s(&input), s(&out), "--plane", plane, "--slice", &slice.to_string()]);
                let p = read_png(&out);
                assert_eq!((p.width, p.height), size, "{codes} {plane}");
                assert_eq!(p.find(|v| v > 0), [at], "{codes} oblique={oblique} {plane}");
                assert_eq!(p.at(at.0, at.1), 255);
            }
            // The neighbouring axial slices are empty.
            let out = d.join("n.png");
            run_ok(&["png", s(&input), s(&out), "--slice", &(m[2] + 1).to_string()]);
            assert!(read_png(&out).find(|v| v > 0).is_empty(), "{codes}");
        }
    }
}

#[test]
fn grey_levels_at_8_and_16_bits() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    // One axial row along x (RAS): the image shows it from the patient's right (high x) to
    // the left, so column c holds x = 7 - c.
    let x_values = [0.5f32, 1.0, f32::NAN, -0.5, 2.0, 0.25, 0.0, 1.0 / 3.0];
    let v = Volume::new(VoxelData::from_vec(x_values.to_vec()), &[8, 1, 1], Affine::IDENTITY).expect("valid");
    let input = write(d, "v.nii", &v);
    let mut shown = x_values;
    shown.reverse();
    let out8 = d.join("v8.png");
    let text = run_ok(&["png", s(&input), s(&out8)]);
    assert!(text.contains("8-bit, values taken as [0, 1]"), "{text}");
    let p8 = read_png(&out8);
    assert_eq!((p8.width, p8.height, p8.bits), (8, 1, 8));
    // 0.5 -> 127.5 -> 128 (ties to even), 1 -> 255, NaN -> 0, clamped, 1/3 -> 85.
    let want8: Vec<u16> = [85, 0, 64, 255, 0, 0, 255, 128].to_vec();
    assert_eq!(p8.values, want8, "shown left to right: {shown:?}");
    let out16 = d.join("v16.png");
    run_ok(&["png", s(&input), s(&out16), "--bits", "16"]);
    let p16 = read_png(&out16);
    assert_eq!(p16.bits, 16);
    // 0.5 -> 32767.5 -> 32768, 1 -> 65535, 1/3 (as float32) -> 21845.
    assert_eq!(p16.values, [21845, 0, 16384, 65535, 0, 0, 65535, 32768]);

    // With a window the grey levels equal `ctprep window --dtype u8` voxel for voxel.
    let ct = phantom("LPS", 10.0);
    let input = write(d, "ct.nii.gz", &ct);
    let w8 = d.join("w8.nii");
    run_ok(&["window", s(&input), s(&w8), "--window", "-160,240", "--dtype", "u8"]);
    let windowed = ctprep_io::read_nifti(&w8).expect("reads");
    let png = d.join("ct.png");
    run_ok(&["png", s(&input), s(&png), "--slice", "7", "--window", "-160,240"]);
    let from_window =
        ctprep_render::VolumeImages::slice_image(&windowed, ctprep_render::Plane::Axial, 7).expect("in range");
    let p = read_png(&png);
    assert_eq!(p.values, from_window.values.iter().map(|&v| v as u16).collect::<Vec<_>>());
}

#[test]
fn contact_sheet_geometry() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    let input = write(d, "ct.nii.gz", &phantom("PIR", 10.0));
    for (plane, panel) in [("axial", (48, 40)), ("coronal", (48, 20)), ("sagittal", (40, 20))] {
        for bits in ["8", "16"] {
            let (rows, cols, start, every) = (3usize, 4usize, 2usize, 1usize);
            let out = d.join("sheet.png");
            let text = run_ok(&[
                "sheet",
                s(&input),
                s(&out),
                "--plane",
                plane,
                "--rows",
                &rows.to_string(),
                "--cols",
                &cols.to_string(),
                "--start",
                &start.to_string(),
                "--every",
                &every.to_string(),
                "--preset",
                "soft-tissue",
                "--bits",
                bits,
            ]);
            assert!(text.contains("slices 2, 3, ..., 13"), "{text}");
            let sheet = read_png(&out);
            let (pw, ph) = panel;
            assert_eq!(sheet.width, cols * pw + (cols - 1) * 2, "{plane}");
            assert_eq!(sheet.height, rows * ph + (rows - 1) * 2, "{plane}");
            let grey = if bits == "8" { 128 } else { 32896 };
            // Separators: the 2-pixel columns and rows between panels are one fixed grey.
            for c in 1..cols {
                for x in c * (pw + 2) - 2..c * (pw + 2) {
                    assert!((0..sheet.height).all(|y| sheet.at(x, y) == grey), "{plane} column {x}");
                }
            }
            for r in 1..rows {
                for y in r * (ph + 2) - 2..r * (ph + 2) {
                    assert!((0..sheet.width).all(|x| sheet.at(x, y) == grey), "{plane} row {y}");
                }
            }
            // Every panel is the `png` of its slice.
            for i in 0..rows * cols {
                let one = d.join("one.png");
                let n = start + i * every;
                run_ok(&[
                    "png",
                    s(&input),
                    s(&one),
                    "--plane",
                    plane,
                    "--slice",
                    &n.to_string(),
                    "--preset",
                    "soft-tissue",
                    "--bits",
                    bits,
                ]);
                let one = read_png(&one);
                let (x0, y0) = ((i % cols) * (pw + 2), (i / cols) * (ph + 2));
                for y in 0..ph {
                    for x in 0..pw {
                        assert_eq!(sheet.at(x0 + x, y0 + y), one.at(x, y), "{plane} panel {i} at {x},{y}");
                    }
                }
            }
        }
    }
    // Defaults: 6 x 6 from slice 10 every 3 need 116 slices; the sagittal plane has 48.
    let out = d.join("default.png");
    let o = ctprep(&["sheet", s(&input), s(&out), "--plane", "sagittal"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("needs slices 10, 13, ..., 115, but the sagittal plane has 48 slices, 0 to 47"),
        "{}",
        stderr(&o)
    );
    // With --numbers only the corner boxes change.
    let plain = d.join("plain.png");
    let numbered = d.join("numbered.png");
    let base = ["--rows", "1", "--cols", "2", "--start", "4", "--every", "9", "--preset", "soft-tissue"];
    run_ok(&[&["sheet", s(&input), s(&plain)][..], &base[..]].concat());
    run_ok(&[&["sheet", s(&input), s(&numbered), "--numbers"][..], &base[..]].concat());
    let (a, b) = (read_png(&plain), read_png(&numbered));
    let changed = b.find(|_| true).into_iter().filter(|&(x, y)| a.at(x, y) != b.at(x, y)).collect::<Vec<_>>();
    // "4" and "13" in boxes of 5 x 7 and 9 x 7 pixels at the panels' top-left corners.
    assert!(!changed.is_empty() && changed.iter().all(|&(x, y)| y < 7 && (x < 5 || (50..59).contains(&x))));
    assert_eq!(b.at(1, 1), 255, "the 4's top-left pixel is white");
    assert_eq!(b.at(0, 0), 0, "the box is black");
}

#[test]
fn bad_input_and_options_fail_cleanly() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    let input = write(d, "ct.nii.gz", &phantom("LPS", 10.0));
    let out = d.join("out.png");
    let o = s(&out);
    let i = s(&input);
    // Bad input: exit 1, one line naming the file and the range.
    for (args, msg) in [
        (
            vec!["png", i, o, "--slice", "20"],
            "ct.nii.gz: slice 20 is out of range: the axial plane has 20 slices, 0 to 19",
        ),
        (
            vec!["png", i, o, "--plane", "sagittal", "--slice", "48"],
            "slice 48 is out of range: the sagittal plane has 48 slices, 0 to 47",
        ),
        (
            vec!["sheet", i, o, "--rows", "2", "--cols", "3", "--start", "10", "--every", "2"],
            "the contact sheet (2 x 3 panels from slice 10 every 2) needs slices 10, 12, ..., 20, but the axial \
             plane has 20 slices, 0 to 19",
        ),
        (vec!["sheet", i, o], "needs slices 10, 13, ..., 115"),
        (vec!["png", i, i], "refusing to write onto the input file"),
        (vec!["png", i, s(&d.join("out.jpg"))], "output file name must end in .png"),
        (vec!["png", s(&d.join("missing.nii.gz")), o], "missing.nii.gz"),
        (vec!["png", i, s(&d.join("no/such/folder/x.png"))], "the folder"),
    ] {
        let r = ctprep(&args);
        let e = stderr(&r);
        assert_eq!(r.status.code(), Some(1), "{args:?}: {e}");
        assert!(e.starts_with("error: ") && e.contains(msg), "{args:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(r.stdout.is_empty());
    }
    // Usage errors: exit 2.
    for args in [
        vec!["sheet", i, o, "--rows", "0"],
        vec!["sheet", i, o, "--cols", "0"],
        vec!["sheet", i, o, "--every", "0"],
        vec!["png", i, o, "--bits", "12"],
        vec!["png", i, o, "--plane", "oblique"],
        vec!["png", i, o, "--slice", "-1"],
        vec!["png", i, o, "--window", "240,-160"],
        vec!["png", i, o, "--window", "-160,240", "--preset", "lung"],
        vec!["png", i, o, "--preset", "nope"],
        vec!["png", i, o, "--level", "40"],
        vec!["sheet", i, o, "--bits", "4"],
    ] {
        let r = ctprep(&args);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {}", stderr(&r));
        assert!(stderr(&r).starts_with("error: "), "{args:?}: {}", stderr(&r));
    }
    // Nothing was written, no temporary file left, the input untouched.
    assert_eq!(names(d), ["ct.nii.gz"]);
    // An existing output is replaced only by a complete file: a failed run leaves it as it was.
    run_ok(&["png", i, o]);
    let before = std::fs::read(&out).expect("reads");
    assert_eq!(ctprep(&["png", i, o, "--slice", "99"]).status.code(), Some(1));
    assert_eq!(std::fs::read(&out).expect("reads"), before);
    assert_eq!(names(d), ["ct.nii.gz", "out.png"]);
}

#[test]
fn help_lists_the_commands_with_examples() {
    let top = run_ok(&["--help"]);
    assert!(top.contains("png") && top.contains("sheet"), "{top}");
    let h = run_ok(&["png", "--help"]);
    assert!(h.contains("ctprep png ct.nii.gz axial.png --preset soft-tissue"), "{h}");
    assert!(h.contains("patient's right"), "{h}");
    let h = run_ok(&["sheet", "--help"]);
    assert!(h.contains("--numbers") && h.contains("ctprep sheet ct.nii.gz sheet.png"), "{h}");
}
