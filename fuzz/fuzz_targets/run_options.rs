//! `ctprep run` on a small CT phantom with any options after the input: arguments are the
//! input's NUL-separated pieces. No panic, no hang, and the output folder is transactional:
//! after a failure it holds exactly what it held before (earlier outputs intact, no temporary
//! files); after a success it holds no temporary files.
//!
//! The words `LABEL`, `SHIFTED`, `LAYERS` and `FAR` stand for label maps in the scratch folder
//! (the phantom's own labels; the same one slice up, as NRRD; a two-layer `.seg.nrrd` on the
//! phantom's grid; one that does not overlap the phantom), so `--label` is fuzzed too: a label
//! that cannot be placed must fail the run and leave the folder as it was.
//!
//! `--out` stays the fuzzer's scratch folder: inputs that name another one are skipped, so a
//! run never writes outside it. Spacings under 0.1 mm are skipped too: on this 10 x 9 x 15 mm
//! phantom they ask for hundreds of millions of voxels, within the 2^31-voxel limit and so
//! legitimately slow (tens of seconds under the sanitizer), which the fuzzer reports as hangs.
#![no_main]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ctprep_fuzz::scratch;
use ctprep_phantom::Phantom;
use libfuzzer_sys::fuzz_target;

/// The input CT: 7x6x5 voxels of 1.5 x 1.5 x 3 mm, written once per process.
fn input() -> &'static Path {
    static CT: OnceLock<PathBuf> = OnceLock::new();
    CT.get_or_init(|| {
        let ct = Phantom::new([7, 6, 5]).spacing_mm([1.5, 1.5, 3.0]).ct().expect("phantom");
        let p = scratch().join("ct.nii.gz");
        ctprep_io::write_nifti(&ct, &p, &ctprep_io::WriteOptions::new()).expect("phantom written");
        p
    })
}

/// The label maps the words `LABEL`, `SHIFTED`, `LAYERS` and `FAR` stand for, written once.
fn labels() -> &'static BTreeMap<&'static str, PathBuf> {
    static LABELS: OnceLock<BTreeMap<&'static str, PathBuf>> = OnceLock::new();
    LABELS.get_or_init(|| {
        use ctprep_io::{Affine, WriteOptions, write_volume};
        let phantom = Phantom::new([7, 6, 5]).spacing_mm([1.5, 1.5, 3.0]);
        let label = phantom.labels().expect("labels");
        let a = label.affine().rows();
        let moved = |dz: f64, dx: f64| {
            let mut r = a;
            r[0][3] += dx;
            r[2][3] += dz;
            Affine::from_rows(r)
        };
        let mut out = BTreeMap::new();
        let write = |name: &str, v: &ctprep_io::Volume| {
            let p = scratch().join(name);
            write_volume(v, &p, &WriteOptions::new()).expect("label written");
            p
        };
        out.insert("LABEL", write("label.nii.gz", &label));
        out.insert("SHIFTED", write("shifted.nrrd", &label.clone().with_affine(moved(a[2][2], 0.0)).expect("affine")));
        out.insert("FAR", write("far.nii.gz", &label.clone().with_affine(moved(0.0, 1e4)).expect("affine")));
        // Two layers stored layer-fastest, as 3D Slicer's .seg.nrrd.
        let n = label.data().len();
        let mut seg = b"NRRD0004\ntype: uint8\ndimension: 4\nspace: right-anterior-superior\n".to_vec();
        let c = |j: usize| format!("({},{},{})", a[0][j], a[1][j], a[2][j]);
        seg.extend(format!("sizes: 2 7 6 5\nspace directions: none {} {} {}\nkinds: list domain domain domain\nencoding: raw\nspace origin: ({},{},{})\n\n", c(0), c(1), c(2), a[0][3], a[1][3], a[2][3]).into_bytes());
        let values = ctprep_io::Volume::scaled_f32(&label);
        for v in values.iter().take(n) {
            seg.push(u8::from(*v > 0.0));
            seg.push(u8::from(*v > 1.0));
        }
        let p = scratch().join("layers.seg.nrrd");
        std::fs::write(&p, &seg).expect("layers written");
        out.insert("LAYERS", p);
        out
    })
}

/// Every file of `dir` with its contents.
fn listing(dir: &Path) -> BTreeMap<OsString, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return BTreeMap::new() };
    entries.filter_map(Result::ok).map(|e| (e.file_name(), std::fs::read(e.path()).unwrap_or_default())).collect()
}

/// Whether a `--spacing` value (`--spacing V` or `--spacing=V`, one number or three) has a
/// component under 0.1 mm.
fn asks_for_a_fine_grid(options: &[OsString]) -> bool {
    let fine = |v: &[u8]| {
        String::from_utf8_lossy(v).split(',').any(|c| c.trim().parse::<f64>().is_ok_and(|x| x.abs() < 0.1 && x != 0.0))
    };
    options.iter().enumerate().any(|(i, a)| {
        let a = a.as_encoded_bytes();
        if let Some(v) = a.strip_prefix(b"--spacing=") {
            return fine(v);
        }
        a == b"--spacing" && options.get(i + 1).is_some_and(|v| fine(v.as_encoded_bytes()))
    })
}

fuzz_target!(|data: &[u8]| {
    let options: Vec<OsString> = if data.is_empty() {
        Vec::new()
    } else {
        data.split(|&b| b == 0).map(|a| OsString::from_vec(a.to_vec())).collect()
    };
    if options.iter().any(|a| a.as_encoded_bytes().starts_with(b"--out")) || asks_for_a_fine_grid(&options) {
        return;
    }
    let out = scratch().join("out");
    let _ = std::fs::create_dir_all(&out);
    let before = listing(&out);
    let mut args: Vec<OsString> = ["ctprep", "--quiet", "run"].map(OsString::from).to_vec();
    args.push(input().into());
    args.push("--out".into());
    args.push(out.clone().into());
    let labels = labels();
    args.extend(options.into_iter().map(|o| match o.to_str().and_then(|w| labels.get(w)) {
        Some(p) => p.clone().into_os_string(),
        None => o,
    }));

    let result = ctprep_cli::try_run(args);
    let after = listing(&out);
    assert!(
        !after.keys().any(|n| n.as_encoded_bytes().starts_with(b".ctprep-")),
        "no temporary file is left: {:?} after {result:?}",
        after.keys().collect::<Vec<_>>()
    );
    if let Err(e) = &result {
        let text = e.to_string();
        assert!(!text.is_empty(), "a failure says why");
        if matches!(e, ctprep_cli::Failure::Failed(_) | ctprep_cli::Failure::File(_)) {
            assert!(!text.contains('\n'), "a failed run's error is one line: {text:?}");
        }
        assert!(after == before, "a failed run leaves the folder as it was: {e}");
    }
});
