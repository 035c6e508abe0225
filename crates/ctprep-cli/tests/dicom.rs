//! DICOM input on the command line (`fixtures/dicom`, written by pydicom; `reference.json` has
//! each series as written): every command that reads a volume takes a folder or one file of a
//! series, and the output carries the series' true geometry.
#![cfg(feature = "dicom")]

mod common;

use std::path::PathBuf;

use common::{ctprep, s, stderr};
use ctprep_io::read_volume;

fn case(name: &str) -> PathBuf {
    ctprep_testdata::fixtures_dir().join("dicom").join(name)
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn run_on_a_folder_names_outputs_after_it() {
    let out = tempfile::tempdir().expect("temp dir");
    let o = ctprep(&["run", s(&case("axial_lps")), "--out", s(out.path())]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = read_volume(out.path().join("axial_lps_window.nii.gz")).expect("the windowed volume");
    // The same as `run` on the series converted to NIfTI first.
    let nifti = out.path().join("converted.nii");
    assert!(ctprep(&["convert", s(&case("axial_lps")), s(&nifti)]).status.success());
    let out3 = tempfile::tempdir().expect("temp dir");
    let o = ctprep(&["run", s(&nifti), "--out", s(out3.path())]);
    assert!(o.status.success(), "{}", stderr(&o));
    let w = read_volume(out3.path().join("converted_window.nii.gz")).expect("the windowed volume");
    assert_eq!(v.shape(), w.shape());
    assert_eq!(v.affine(), w.affine());
    assert_eq!(v.data().as_bytes(), w.data().as_bytes());
    assert!(v.shape()[2] > 6, "resampled to 1 mm: {:?}", v.shape());
    // One file of the series: the same series, named after its folder.
    let out2 = tempfile::tempdir().expect("temp dir");
    let o = ctprep(&["run", s(&case("axial_lps").join("IM0003.dcm")), "--out", s(out2.path())]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out2.path().join("axial_lps_window.nii.gz").exists());
}

#[test]
fn convert_writes_the_true_geometry() {
    let out = tempfile::tempdir().expect("temp dir");
    let dst = out.path().join("oblique.nii");
    let o = ctprep(&["convert", s(&case("oblique")), s(&dst)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = read_volume(&dst).expect("written");
    let text = std::fs::read_to_string(ctprep_testdata::fixtures_dir().join("dicom/reference.json")).expect("ref");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let truth =
        &json["cases"].as_array().expect("cases").iter().find(|c| c["case"] == "oblique").expect("oblique")["truth"][0];
    for (r, row) in truth["affine_ras"].as_array().expect("affine").iter().enumerate() {
        for (c, w) in row.as_array().expect("row").iter().enumerate() {
            // Written as float32.
            let w = w.as_f64().expect("number");
            assert!((v.affine().0[r][c] - w).abs() < 1e-4, "{:?} vs {truth}", v.affine());
        }
    }
    assert_eq!(v.dtype().to_string(), "int16");
}

#[test]
fn info_lists_every_series_and_exits_0() {
    let o = ctprep(&["info", s(&case("two_series"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("format      dicom") && text.contains("series 0") && text.contains("series 1"), "{text}");
    let o = ctprep(&["info", "--json", s(&case("tilt"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(doc["format"], "dicom");
    let tilt = doc["dicom"]["series"][0]["gantry_tilt_degrees"].as_f64().expect("tilt");
    assert!((tilt - 15.0).abs() < 1e-6, "{doc}");
    assert_eq!(doc["shape"], serde_json::json!([7, 5, 5]));
}

#[test]
fn two_series_need_series_to_pick_one() {
    let out = tempfile::tempdir().expect("temp dir");
    let dst = out.path().join("b.nii");
    let o = ctprep(&["convert", s(&case("two_series")), s(&dst)]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("2 image series") && e.contains("0: ") && e.contains("1: ") && e.contains("\"B\""), "{e}");
    assert!(!dst.exists(), "no output on error");
    let o = ctprep(&["--series", "1", "convert", s(&case("two_series")), s(&dst)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_volume(&dst).expect("written").dims3().expect("3-D"), [7, 5, 5]);
}

#[test]
fn bad_dicom_is_one_line_naming_the_file() {
    for (name, what) in [("uneven", "uneven slice spacing"), ("duplicate", "same position"), ("truncated", "IM0001")] {
        let out = tempfile::tempdir().expect("temp dir");
        let o = ctprep(&["run", s(&case(name)), "--out", s(out.path())]);
        assert_eq!(o.status.code(), Some(1), "{name}");
        let e = stderr(&o);
        assert!(e.contains(what) && e.contains(name) && e.lines().count() == 1, "{name}: {e}");
        assert_eq!(std::fs::read_dir(out.path()).expect("listed").count(), 0, "{name}: nothing written");
    }
}

#[test]
fn every_volume_command_gives_what_it_gives_on_the_converted_nifti() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Axial: an affine float32 holds exactly, so the converted file's grid is the series' own.
    let nifti = dir.path().join("axial.nii");
    let series = case("axial_lps");
    assert!(ctprep(&["convert", s(&series), s(&nifti)]).status.success());
    let same = |what: &str, a: &std::path::Path, b: &std::path::Path| {
        let (a, b) = (read_volume(a).expect("written"), read_volume(b).expect("written"));
        assert_eq!((a.shape(), a.affine()), (b.shape(), b.affine()), "{what}");
        assert_eq!(a.data().as_bytes(), b.data().as_bytes(), "{what}");
    };
    for (what, args) in [
        ("resample", vec!["resample", "--spacing", "1"]),
        ("resample cubic", vec!["resample", "--spacing", "1", "--interp", "cubic"]),
        ("mip", vec!["mip", "--slab", "3"]),
        ("window", vec!["window", "--preset", "soft-tissue"]),
    ] {
        let (from_dicom, from_nifti) = (dir.path().join("a.nii"), dir.path().join("b.nii"));
        let mut a = args.clone();
        a.extend([s(&series), s(&from_dicom)]);
        let o = ctprep(&a);
        assert!(o.status.success(), "{what}: {}", stderr(&o));
        let mut b = args.clone();
        b.extend([s(&nifti), s(&from_nifti)]);
        assert!(ctprep(&b).status.success(), "{what}");
        same(what, &from_dicom, &from_nifti);
    }
    // `check`: the series and its conversion lie on one grid.
    let o = ctprep(&["check", s(&series), s(&nifti)]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A gantry-tilted series resamples onto an orthonormal grid (the general path).
    let out = dir.path().join("tilt_1mm.nii");
    let o = ctprep(&["resample", "--spacing", "1", s(&case("tilt")), s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("15° of shear removed"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!read_volume(&out).expect("written").affine().is_sheared());
}

#[test]
fn not_a_volume_names_dicom_among_the_formats() {
    let dir = tempfile::tempdir().expect("temp dir");
    let junk = dir.path().join("notes.nii");
    std::fs::write(&junk, b"hello, this is not an image at all").expect("written");
    let o = ctprep(&["info", s(&junk)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a NIfTI, NRRD or DICOM file"), "{}", stderr(&o));
}

#[test]
fn skipped_files_and_other_modalities_are_one_line_each() {
    let dir = tempfile::tempdir().expect("temp dir");
    let o = ctprep(&["convert", s(&case("localizer")), s(&dir.path().join("a.nii"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("note: skipped") && e.contains("IM0000.dcm") && e.contains("localizer"), "{e}");
    let o = ctprep(&["run", s(&case("localizer")), "--out", s(dir.path())]);
    assert!(o.status.success() && stderr(&o).contains("IM0000.dcm"), "{}", stderr(&o));
}

/// The keys `convert --sidecar` may write (README's list): anything else is a leak.
const SIDECAR_KEYS: [&str; 27] = [
    "Modality",
    "Manufacturer",
    "ManufacturersModelName",
    "SoftwareVersions",
    "BodyPartExamined",
    "PatientPosition",
    "SeriesDescription",
    "ProtocolName",
    "SeriesNumber",
    "AcquisitionNumber",
    "ImageType",
    "ScanOptions",
    "SliceThickness",
    "KVP",
    "ConvolutionKernel",
    "XRayTubeCurrent",
    "XRayExposure",
    "ExposureTime",
    "AcquisitionTime",
    "SeriesInstanceUID",
    "ImageOrientationPatientDICOM",
    "GantryTiltDegrees",
    "ConversionSoftware",
    "ConversionSoftwareVersion",
    "AcquisitionDateTime",
    "SeriesDate",
    "StudyDate",
];

/// `convert --sidecar` of `folder` into `dir`: the sidecar's JSON (its keys all documented).
fn sidecar_of(folder: &std::path::Path, dir: &std::path::Path, keep_dates: bool) -> serde_json::Value {
    let out = dir.join("series.nii.gz");
    let mut args = vec!["convert", s(folder), s(&out), "--sidecar"];
    if keep_dates {
        args.push("--keep-dates");
    }
    let o = ctprep(&args);
    assert!(o.status.success(), "{}: {}", folder.display(), stderr(&o));
    let text = std::fs::read_to_string(dir.join("series.json")).expect("the sidecar beside the volume");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    for k in doc.as_object().expect("an object").keys() {
        assert!(SIDECAR_KEYS.contains(&k.as_str()), "{}: undocumented key {k}", folder.display());
    }
    doc
}

/// Every field both ctprep's and dcm2niix's sidecar hold has the same value (dcm2niix writes
/// its short vendor name for Manufacturer, "GE" for "GE MEDICAL SYSTEMS": compared as a
/// prefix); returns how many fields were compared.
fn same_as_dcm2niix(what: &str, ours: &serde_json::Value, theirs: &serde_json::Value) -> usize {
    let mut compared = 0;
    for (k, v) in ours.as_object().expect("an object") {
        let Some(w) = theirs.get(k) else { continue };
        // The multi-frame file's ManufacturerModelName (0008,1090) reads "None" (pydicom too);
        // dcm2niix reports another element's text there.
        if k.starts_with("ConversionSoftware") || (what == "dcmqi-23x38x3-multiframe" && k == "ManufacturersModelName")
        {
            continue;
        }
        if k == "Manufacturer" {
            let (v, w) = (v.as_str().expect("text").to_lowercase(), w.as_str().expect("text").to_lowercase());
            assert!(v.starts_with(&w), "{what}: Manufacturer {v} vs dcm2niix {w}");
        } else if let (Some(a), Some(b)) = (v.as_f64(), w.as_f64()) {
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{what}: {k} {v} vs dcm2niix {w}");
        } else if k == "ImageOrientationPatientDICOM" {
            // dcm2niix prints the cosines to 6 decimals.
            let (a, b) = (v.as_array().expect("numbers"), w.as_array().expect("numbers"));
            assert_eq!(a.len(), b.len(), "{what}: {k}");
            for (a, b) in a.iter().zip(b) {
                let (a, b) = (a.as_f64().expect("number"), b.as_f64().expect("number"));
                assert!((a - b).abs() <= 5e-7, "{what}: {k} {v} vs dcm2niix {w}");
            }
        } else {
            assert_eq!(v, w, "{what}: {k}");
        }
        compared += 1;
    }
    compared
}

#[test]
fn sidecar_matches_dcm2niix_and_holds_no_patient_field() {
    let text = std::fs::read_to_string(ctprep_testdata::fixtures_dir().join("dicom/reference.json")).expect("ref");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut compared = 0;
    for c in json["cases"].as_array().expect("cases") {
        let outputs = c["dcm2niix"]["outputs"].as_array().expect("outputs");
        let name = c["case"].as_str().expect("name");
        // ctprep refuses uneven spacing and two slices at one place (tested above); two
        // acquisitions are two series here (dcm2niix: one 4-D volume).
        if c["expect"] != "ok" || outputs.len() != 1 || ["uneven", "duplicate", "two_acquisitions"].contains(&name) {
            continue;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let ours = sidecar_of(&case(name), dir.path(), false);
        compared += same_as_dcm2niix(name, &ours, &outputs[0]["sidecar"]);
        // The fixtures' patient name, ID and dates (pydicom wrote them into every file).
        let text = ours.to_string();
        for leak in ["Fixture", "CTPREP0001", "2024", "20240102"] {
            assert!(!text.contains(leak), "{name}: {leak} in {text}");
        }
    }
    assert!(compared >= 40, "only {compared} fields compared with dcm2niix");
    // Dates only when asked, in ISO form; and the tilt from the positions.
    let dir = tempfile::tempdir().expect("temp dir");
    let doc = sidecar_of(&case("tilt"), dir.path(), true);
    assert_eq!(doc["AcquisitionDateTime"], "2024-01-02T12:00:00.000000");
    assert_eq!(doc["StudyDate"], "2024-01-02");
    assert!((doc["GantryTiltDegrees"].as_f64().expect("tilt") - 15.0).abs() < 1e-3, "{doc}");
    assert!(!doc.to_string().contains("Fixture"), "{doc}");
    // Not DICOM: a clear error, nothing written; --keep-dates alone is a usage error.
    let nifti = ctprep_testdata::fixtures_dir().join("pipeline/classic_input.nii.gz");
    let o = ctprep(&["convert", s(&nifti), s(&dir.path().join("n.nii")), "--sidecar"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not DICOM") && !dir.path().join("n.nii").exists(), "{}", stderr(&o));
    let o = ctprep(&["convert", s(&case("tilt")), s(&dir.path().join("k.nii")), "--keep-dates"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// The real series of `../shared/data/dicom`: their sidecars against dcm2niix's.
#[test]
fn sidecar_of_real_series_matches_dcm2niix() {
    let Some(shared) = ctprep_testdata::shared_data_dir("sidecar_of_real_series_matches_dcm2niix") else {
        return;
    };
    let text = std::fs::read_to_string(ctprep_testdata::fixtures_dir().join("dicom/shared_reference.json"))
        .expect("shared reference");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut compared = 0;
    for f in json["folders"].as_array().expect("folders") {
        let name = f["folder"].as_str().expect("name");
        let outputs = f["dcm2niix"]["outputs"].as_array().expect("outputs");
        // JPEG-LS and JPEG 2000 need features off by default (their error is tested elsewhere).
        if outputs.len() != 1 || name.contains("JLS") || name.contains("J2K") {
            continue;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let ours = sidecar_of(&shared.join("dicom").join(name), dir.path(), false);
        compared += same_as_dcm2niix(name, &ours, &outputs[0]["sidecar"]);
    }
    assert!(compared >= 40, "only {compared} fields compared with dcm2niix");
}

#[test]
fn padding_is_reported_and_filled_with_fill_padding() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (kept, filled) = (dir.path().join("kept.nii"), dir.path().join("filled.nii"));
    let o = ctprep(&["convert", s(&case("bits12")), s(&kept)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("4 voxels hold PixelPaddingValue -2000"), "{}", stderr(&o));
    let o = ctprep(&["--fill-padding", "-1024", "convert", s(&case("bits12")), s(&filled)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("set to -1024"), "{}", stderr(&o));
    let (a, b) = (read_volume(&kept).expect("written"), read_volume(&filled).expect("written"));
    let changed: Vec<(f32, f32)> = a.scaled_f32().into_iter().zip(b.scaled_f32()).filter(|(a, b)| a != b).collect();
    assert_eq!(changed, vec![(-2000.0, -1024.0); 4]);
    // Commands that read the series slice by slice say it once the slices are read.
    for args in [
        vec!["run", s(&case("bits12")), "--out", s(dir.path())],
        vec!["window", "--preset", "bone", s(&case("bits12")), s(&dir.path().join("w.nii"))],
    ] {
        let o = ctprep(&[&["--fill-padding", "-1024"][..], &args[..]].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        let said = stderr(&o)
            .matches("4 voxels held PixelPaddingValue -2000 (outside the field of view): set to -1024")
            .count();
        assert_eq!(said, 1, "{args:?}: {}", stderr(&o));
    }
    // `info` says it, in text and JSON; a fill that is no stored value is one error line.
    let o = ctprep(&["info", s(&case("bits12"))]);
    assert!(stdout(&o).contains("PixelPaddingValue -2000: 4 voxels"), "{}", stdout(&o));
    let o = ctprep(&["--fill-padding", "-1024", "info", "--json", s(&case("bits12"))]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(doc["dicom"]["padding"]["voxels"], 4);
    assert_eq!(doc["dicom"]["padding"]["filled_with"], -1024.0);
    assert_eq!(doc["min"], -1024.0, "{doc}");
    let o = ctprep(&["--fill-padding", "0.5", "convert", s(&case("bits12")), s(&dir.path().join("x.nii"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a stored value") && stderr(&o).lines().count() == 1, "{}", stderr(&o));
    assert!(!dir.path().join("x.nii").exists());
}

#[test]
fn uneven_spacing_is_an_error_unless_resampled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let o = ctprep(&["run", s(&case("uneven")), "--out", s(dir.path())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--uneven resample"), "{}", stderr(&o));
    let o = ctprep(&["--uneven", "resample", "run", s(&case("uneven")), "--out", s(dir.path())]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("interpolated linearly along the normal onto 6 slices"), "{}", stderr(&o));
    assert!(dir.path().join("uneven_window.nii.gz").exists());
    // The same volume `convert` writes: 6 slices 2.5 mm apart.
    let out = dir.path().join("u.nii");
    assert!(ctprep(&["--uneven", "resample", "convert", s(&case("uneven")), s(&out)]).status.success());
    let v = read_volume(&out).expect("written");
    assert_eq!((v.shape(), v.affine().0[2][2]), (&[7usize, 5, 6][..], 2.5));
    let o = ctprep(&["--uneven", "sometimes", "info", s(&case("uneven"))]);
    assert_eq!(o.status.code(), Some(2));
}

/// Copies the files of fixture `name` into `to` (created).
fn copy_case(name: &str, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("folder");
    for e in std::fs::read_dir(case(name)).expect("listed") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, to.join(p.file_name().expect("named"))).expect("copied");
    }
}

#[test]
fn batch_finds_dicom_series_below_its_folder_one_case_each() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in");
    copy_case("axial_lps", &input.join("p1").join("ct"));
    copy_case("two_series", &input.join("p2"));
    copy_case("localizer", &input.join("p3"));
    std::fs::copy(
        ctprep_testdata::fixtures_dir().join("pipeline/classic_input.nii.gz"),
        input.join("nifti_case.nii.gz"),
    )
    .expect("copied");
    let out = dir.path().join("out");
    let o = ctprep(&["batch", s(&input), "--out", s(&out), "--save", "volume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut ids: Vec<String> = std::fs::read_dir(&out)
        .expect("listed")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.contains('.'))
        .collect();
    ids.sort();
    assert_eq!(ids, ["nifti_case", "p1_ct", "p2_series0", "p2_series1", "p3"]);
    // Each DICOM case holds what `run` makes of its series (series 1 of p2: "B", 5 slices 3 mm).
    let run_out = dir.path().join("run");
    let o = ctprep(&["--series", "1", "run", s(&input.join("p2")), "--out", s(&run_out), "--save", "volume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = read_volume(out.join("p2_series1").join("p2_window.nii.gz")).expect("batch output");
    let b = read_volume(run_out.join("p2_window.nii.gz")).expect("run output");
    assert_eq!((a.shape(), a.affine(), a.data().as_bytes()), (b.shape(), b.affine(), b.data().as_bytes()));
    // Run again: every case skipped (a folder's files are its input hash); a changed file re-runs it.
    let o = ctprep(&["batch", s(&input), "--out", s(&out), "--save", "volume"]);
    let said = |o: &std::process::Output| format!("{}{}", stdout(o), stderr(o));
    assert!(said(&o).contains("0 done, 5 skipped"), "{}", said(&o));
    let f = input.join("p1").join("ct").join("IM0001.dcm");
    let mut bytes = std::fs::read(&f).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&f, bytes).expect("written");
    let o = ctprep(&["batch", s(&input), "--out", s(&out), "--save", "volume"]);
    assert!(said(&o).contains("1 done, 4 skipped"), "{}", said(&o));
}

/// `run` on a series of one file per slice streams it (each slab's slices decoded as the slabs
/// need them, as a NIfTI file's are read), native and RLE, and writes what `run` writes from the
/// series converted to NIfTI first, byte for byte; `resample` and `mip` too.
#[test]
fn run_streams_a_series_and_writes_what_the_converted_file_gives() {
    use ctprep_phantom::dicom::{PixelEncoding, write_dicom_series};
    // Spacing and origin that float32 holds exactly: the converted file's grid is the series' own.
    let ct = ctprep_phantom::Phantom::new([61, 47, 120])
        .spacing_mm([0.75, 0.75, 1.5])
        .stored(ctprep_phantom::StoredType::I16)
        .seed(5)
        .ct()
        .expect("phantom");
    for encoding in [PixelEncoding::Native, PixelEncoding::Rle] {
        let dir = tempfile::tempdir().expect("temp dir");
        let series = dir.path().join("series");
        std::fs::create_dir(&series).expect("made");
        write_dicom_series(&ct, &series, encoding).expect("written");
        let nifti = dir.path().join("series.nii");
        assert!(ctprep(&["convert", s(&series), s(&nifti)]).status.success());
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let args = ["--spacing", "1.1", "--mip", "9", "--json"];
        let o = ctprep(&[&["run", s(&series), "--out", s(&a)][..], &args[..]].concat());
        assert!(o.status.success(), "{encoding:?}: {}", stderr(&o));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert_eq!(
            doc["variants"]["read"], "slab by slab, on its own thread; decoded slice by slice",
            "{encoding:?}: {doc}"
        );
        let o = ctprep(&[&["run", s(&nifti), "--out", s(&b)][..], &args[..]].concat());
        assert!(o.status.success(), "{encoding:?}: {}", stderr(&o));
        let mut names: Vec<_> = std::fs::read_dir(&a).expect("listed").map(|e| e.expect("entry").file_name()).collect();
        names.sort();
        assert!(names.len() >= 2, "{names:?}");
        for name in names {
            let (x, y) = (a.join(&name), b.join(&name));
            if !name.to_string_lossy().contains(".nii") {
                let (x, y) = (std::fs::read(&x).expect("written"), std::fs::read(&y).expect("written"));
                assert!(x == y, "{encoding:?} {name:?}: the files differ");
                continue;
            }
            let (x, y) = (read_volume(&x).expect("written"), read_volume(&y).expect("written"));
            assert_eq!((x.shape(), x.affine()), (y.shape(), y.affine()), "{encoding:?} {name:?}");
            assert!(x.data().as_bytes() == y.data().as_bytes(), "{encoding:?} {name:?}: the voxels differ");
        }
        for cmd in [vec!["resample", "--spacing", "1.1"], vec!["mip", "--slab", "9"]] {
            let (x, y) = (dir.path().join("x.nii"), dir.path().join("y.nii"));
            let o = ctprep(&[&cmd[..], &[s(&series), s(&x)][..]].concat());
            assert!(o.status.success(), "{cmd:?}: {}", stderr(&o));
            assert!(ctprep(&[&cmd[..], &[s(&nifti), s(&y)][..]].concat()).status.success());
            let (x, y) = (read_volume(&x).expect("written"), read_volume(&y).expect("written"));
            assert!(x.data().as_bytes() == y.data().as_bytes(), "{cmd:?}: the voxels differ");
        }
    }
}
