//! ctprep-io against nibabel: every fixture written by `fixtures/make_reference.py` and every
//! NIfTI file of the shared real data must read with nibabel's shape, type, affine, axis codes,
//! scaling and values, reorient to nibabel's data and affine, survive a write/read round trip,
//! and (for the broken ones) fail with the expected error kind.

use std::path::Path;

use ctprep_io::{AxCodes, Volume, WriteOptions, read_nifti, write_nifti};
use ctprep_testdata::{
    ExpectedOk, Mismatches, Oriented, Reference, fixtures_dir, load_reference, sha256_hex, shared_data_dir,
};

/// Affines must agree with nibabel to this absolute tolerance (mm); the bound.
const AFFINE_TOL: f64 = 1e-6;
/// min / max / mean must agree to this relative tolerance.
const STATS_REL: f64 = 1e-5;

fn raw_sha(v: &Volume) -> String {
    // Storage is native order; these tests run on little-endian machines like the references.
    const { assert!(cfg!(target_endian = "little"), "the references hash little-endian bytes") };
    sha256_hex(v.data().as_bytes())
}

fn same_f64(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn check_oriented(m: &mut Mismatches, name: &str, what: &str, v: &Volume, o: &Oriented) {
    m.check(v.shape() == o.shape.as_slice(), || format!("{name}: {what} shape {:?}, nibabel {:?}", v.shape(), o.shape));
    if what.starts_with("written") {
        // NIfTI-1 stores the affine as float32: a written entry can only equal nibabel's value
        // rounded to float32 (half an ulp is 3.8e-6 for a 110 mm offset).
        m.affine_f32(name, &format!("{what} affine"), &v.affine().rows(), &o.affine, AFFINE_TOL);
    } else {
        m.affine(name, &format!("{what} affine"), &v.affine().rows(), &o.affine, AFFINE_TOL);
    }
    m.check(v.axcodes_string() == o.axcodes, || {
        format!("{name}: {what} axcodes {}, nibabel {}", v.axcodes_string(), o.axcodes)
    });
    m.check(raw_sha(v) == o.raw_sha256, || format!("{name}: {what} data differ from nibabel's"));
}

fn check_volume(m: &mut Mismatches, name: &str, v: &Volume, e: &ExpectedOk) {
    let h = v.header();
    m.check(h.format.name() == e.format, || format!("{name}: format {}, nibabel {}", h.format.name(), e.format));
    m.check(v.shape() == e.shape.as_slice(), || format!("{name}: shape {:?}, nibabel {:?}", v.shape(), e.shape));
    m.check(v.dtype().numpy_name() == e.datatype, || format!("{name}: datatype {}, nibabel {}", v.dtype(), e.datatype));
    m.check(h.byte_order.name() == e.byte_order, || {
        format!("{name}: byte order {}, nibabel {}", h.byte_order.name(), e.byte_order)
    });
    m.affine(name, "affine", &v.affine().rows(), &e.affine, AFFINE_TOL);
    m.check(v.axcodes_string() == e.axcodes, || {
        format!("{name}: axcodes {}, nibabel {}", v.axcodes_string(), e.axcodes)
    });
    let (q, s) = v.xform_codes();
    m.check(i64::from(q) == e.qform_code, || format!("{name}: qform_code {q}, nibabel {}", e.qform_code));
    m.check(i64::from(s) == e.sform_code, || format!("{name}: sform_code {s}, nibabel {}", e.sform_code));
    m.check(same_f64(h.scl_slope, e.scl_slope) && same_f64(h.scl_inter, e.scl_inter), || {
        format!("{name}: scl {} {}, nibabel {} {}", h.scl_slope, h.scl_inter, e.scl_slope, e.scl_inter)
    });
    let s = v.stats();
    m.close(name, "min", s.min, e.min, STATS_REL);
    m.close(name, "max", s.max, e.max, STATS_REL);
    m.close(name, "mean", s.mean, e.mean, STATS_REL);
    m.check(raw_sha(v) == e.raw_sha256, || format!("{name}: stored data differ from nibabel's"));
    if let Some(want) = &e.scaled {
        let got = v.scaled_f32();
        // nibabel scales in float64 and we round that once to f32: the values must agree exactly.
        let bad = got.iter().zip(want).position(|(a, b)| !(a == b || (a.is_nan() && b.is_nan())));
        m.check(got.len() == want.len() && bad.is_none(), || {
            let i = bad.unwrap_or(0);
            format!("{name}: scaled value {i} is {:?}, nibabel {:?}", got.get(i), want.get(i))
        });
    }
    if let Some(c) = &e.canonical {
        match v.to_closest_canonical() {
            Ok(canon) => {
                check_oriented(m, name, "canonical", &canon, c);
                check_transform(m, name, "canonical", v, AxCodes::RAS, c);
                round_trip(m, name, &canon, c);
            }
            Err(err) => m.0.push(format!("{name}: canonical failed: {err}")),
        }
    }
    for (codes, o) in &e.reoriented {
        let Ok(target) = codes.parse::<AxCodes>() else {
            m.0.push(format!("{name}: bad axcodes {codes} in the reference"));
            continue;
        };
        match v.to_axcodes(target) {
            Ok(r) => {
                check_oriented(m, name, codes, &r, o);
                check_transform(m, name, codes, v, target, o);
            }
            Err(err) => m.0.push(format!("{name}: reorientation to {codes} failed: {err}")),
        }
    }
}

/// Our flip/permute must be nibabel's `ornt` row for row.
fn check_transform(m: &mut Mismatches, name: &str, what: &str, v: &Volume, target: AxCodes, o: &Oriented) {
    if let Ok(t) = v.reorientation_to(target) {
        let ours: Vec<[i64; 2]> = t.to.iter().map(|d| [d.axis as i64, i64::from(d.sign)]).collect();
        m.check(ours == o.ornt, || format!("{name}: {what} ornt {ours:?}, nibabel {:?}", o.ornt));
    }
}

/// Writing the canonical volume and reading it back gives the same data, affine and scaling
/// (both .nii and .nii.gz, with a dotted name).
fn round_trip(m: &mut Mismatches, name: &str, canon: &Volume, c: &Oriented) {
    let dir = tempfile::tempdir().expect("temp dir");
    for file in ["out.v2.nii", "out.v2.nii.gz"] {
        let p = dir.path().join(file);
        if let Err(err) = write_nifti(canon, &p, &WriteOptions::new()) {
            m.0.push(format!("{name}: writing {file} failed: {err}"));
            continue;
        }
        match read_nifti(&p) {
            Ok(back) => {
                check_oriented(m, name, &format!("written {file}"), &back, c);
                m.check(back.scaling() == canon.scaling(), || {
                    format!("{name}: {file} scaling {:?} != {:?}", back.scaling(), canon.scaling())
                });
                // Both codes set, except a sheared grid's qform: 0 (a qform cannot hold shear).
                let qform_ok = (back.header().qform_code > 0) != canon.affine().is_sheared();
                m.check(qform_ok && back.header().sform_code > 0, || format!("{name}: {file} codes not set"));
            }
            Err(err) => m.0.push(format!("{name}: reading back {file} failed: {err}")),
        }
    }
}

fn check_reference(reference: &Reference, base: &Path) -> (Mismatches, usize) {
    let mut m = Mismatches::default();
    let mut n = 0;
    for f in &reference.files {
        n += 1;
        let path = base.join(&f.path);
        match (read_nifti(&path), &f.ok, &f.error) {
            (Ok(v), Some(e), _) => check_volume(&mut m, &f.path, &v, e),
            (Err(err), Some(_), _) => m.0.push(format!("{}: failed to read: {err}", f.path)),
            (Ok(_), None, want) => m.0.push(format!("{}: read, but must fail with {want:?} ({})", f.path, f.note)),
            (Err(err), None, want) => {
                m.check(Some(err.kind().name()) == want.as_deref(), || {
                    format!("{}: error kind {} ({err}), expected {want:?}", f.path, err.kind().name())
                });
                let msg = err.to_string();
                m.check(msg.contains(path.file_name().and_then(|s| s.to_str()).unwrap_or("?")), || {
                    format!("{}: error message does not name the file: {msg}", f.path)
                });
            }
        }
    }
    (m, n)
}

#[test]
fn fixtures_match_nibabel() {
    let dir = fixtures_dir();
    let reference = load_reference(&dir.join("nifti/reference.json")).expect("fixtures/nifti/reference.json");
    let (m, n) = check_reference(&reference, &dir);
    m.finish(n);
}

#[test]
fn shared_data_matches_nibabel() {
    let Some(shared) = shared_data_dir("shared_data_matches_nibabel") else {
        return;
    };
    let reference =
        load_reference(&fixtures_dir().join("shared_expectations.json")).expect("fixtures/shared_expectations.json");
    let (m, n) = check_reference(&reference, &shared);
    m.finish(n);
}

#[test]
fn shared_orientation_files_reorient_to_identical_data() {
    let Some(shared) = shared_data_dir("shared_orientation_files_reorient_to_identical_data") else {
        return;
    };
    let dir = shared.join("nifti-headers/orientations");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("orientations folder").filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    assert_eq!(files.len(), 48, "expected the 48 axis orders in {}", dir.display());
    let mut first: Option<(std::path::PathBuf, Volume)> = None;
    let mut codes = std::collections::BTreeSet::new();
    for f in files {
        let v = read_nifti(&f).expect("reads");
        codes.insert(v.axcodes_string());
        let c = v.to_closest_canonical().expect("canonical");
        assert_eq!(c.axcodes_string(), "RAS", "{}", f.display());
        match &first {
            None => first = Some((f, c)),
            Some((p0, c0)) => {
                assert_eq!(c.shape(), c0.shape(), "{} vs {}", f.display(), p0.display());
                assert_eq!(c.data().as_bytes(), c0.data().as_bytes(), "{} vs {}", f.display(), p0.display());
                // Each file stores its affine as float32, so the same geometry written in 48 axis
                // orders agrees to float32 rounding (one ulp of a 10 mm offset is 1e-6 mm).
                for (a, b) in c.affine().rows().iter().flatten().zip(c0.affine().rows().iter().flatten()) {
                    let tol = 4.0 * f64::from(f32::EPSILON) * a.abs().max(b.abs()).max(1.0);
                    assert!((a - b).abs() <= tol, "{} vs {}: affine entries {a} and {b}", f.display(), p0.display());
                }
            }
        }
    }
    assert_eq!(codes.len(), 48, "the 48 files should cover 48 distinct axis codes: {codes:?}");
}
