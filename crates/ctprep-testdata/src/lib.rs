//! Test support shared by the ctprep crates: where the committed fixtures and the shared real
//! data live, and the nibabel expectations written by `fixtures/make_reference.py`.
//!
//! Tests compare against values nobody here computed: nibabel's, recorded once by the script
//! and committed, so `cargo test` needs no Python.
//!
//! [`kernels`] holds what every kernel test shares: the awkward shapes, the value generator and
//! the property-test macro [`oracle_proptests!`].
#![forbid(unsafe_code)]

pub mod kernels;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_else(|_| PathBuf::from("../.."))
}

/// `fixtures/` at the workspace root.
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("fixtures")
}

/// The shared real data (`$CTPREP_SHARED_DATA`, else `../shared/data` beside the workspace),
/// or `None` with a message on stderr saying the tests that need it are skipped. A skip is also
/// logged, one line with the test's name, to `$CTPREP_SKIP_LOG` when set (`cargo xtask test`
/// counts them at the end of the run).
pub fn shared_data_dir(test: &str) -> Option<PathBuf> {
    let dir =
        std::env::var_os("CTPREP_SHARED_DATA").map(PathBuf::from).unwrap_or_else(|| repo_root().join("../shared/data"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED {test}: the shared data folder {} is absent (set CTPREP_SHARED_DATA)", dir.display());
        if let Some(log) = std::env::var_os("CTPREP_SKIP_LOG") {
            use std::io::Write as _;
            // Appends of one short line are atomic, so test threads and binaries may share it.
            let line = format!("{test}\n");
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .and_then(|mut f| f.write_all(line.as_bytes()));
        }
        None
    }
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// What nibabel reports for a reoriented image.
#[derive(Clone, Debug, PartialEq)]
pub struct Oriented {
    /// nibabel's `ornt` rows: (output axis, flip).
    pub ornt: Vec<[i64; 2]>,
    /// Shape after reorientation.
    pub shape: Vec<usize>,
    /// Affine after reorientation.
    pub affine: [[f64; 4]; 4],
    /// Axis codes after reorientation.
    pub axcodes: String,
    /// SHA-256 of the unscaled data, little-endian, Fortran order.
    pub raw_sha256: String,
}

/// The expectations for one file (see fixtures/README.md for the schema).
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    /// Path relative to the reference file's base folder.
    pub path: String,
    /// What is odd about the file.
    pub note: String,
    /// `None` when the file must read; `Some(kind)` when it must fail with that error kind.
    pub error: Option<String>,
    /// What nibabel did with the file.
    pub nibabel: String,
    /// The remaining fields exist when the file must read.
    pub ok: Option<ExpectedOk>,
}

/// The expectations for a file that reads.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedOk {
    pub format: String,
    pub shape: Vec<usize>,
    pub datatype: String,
    pub byte_order: String,
    pub affine: [[f64; 4]; 4],
    pub axcodes: String,
    pub zooms: Vec<f64>,
    pub qform_code: i64,
    pub sform_code: i64,
    /// Raw header values; NaN for null.
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    pub raw_sha256: String,
    /// Scaled values as float32, Fortran order, NaN for null (small files only).
    pub scaled: Option<Vec<f32>>,
    pub canonical: Option<Oriented>,
    pub reoriented: BTreeMap<String, Oriented>,
}

/// A reference file: the generator's versions and one entry per file.
#[derive(Clone, Debug)]
pub struct Reference {
    /// Versions of Python, nibabel and numpy that wrote it.
    pub generator: Value,
    /// The entries.
    pub files: Vec<Expected>,
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            "nan" | "NaN" => Some(f64::NAN),
            _ => None,
        },
        _ => None,
    }
}

fn affine(v: &Value) -> Result<[[f64; 4]; 4], String> {
    let mut a = [[0.0; 4]; 4];
    for (r, row) in a.iter_mut().enumerate() {
        for (c, x) in row.iter_mut().enumerate() {
            *x = num(&v[r][c]).ok_or_else(|| format!("affine[{r}][{c}] = {}", v[r][c]))?;
        }
    }
    Ok(a)
}

fn usizes(v: &Value) -> Result<Vec<usize>, String> {
    v.as_array()
        .ok_or_else(|| format!("not an array: {v}"))?
        .iter()
        .map(|x| x.as_u64().map(|u| u as usize).ok_or_else(|| format!("not a size: {x}")))
        .collect()
}

fn string(v: &Value, key: &str) -> Result<String, String> {
    v[key].as_str().map(str::to_owned).ok_or_else(|| format!("missing string {key:?}"))
}

fn oriented(v: &Value) -> Result<Option<Oriented>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let ornt = v["ornt"]
        .as_array()
        .ok_or("missing ornt")?
        .iter()
        .map(|r| Ok([r[0].as_f64().ok_or("ornt")? as i64, r[1].as_f64().ok_or("ornt")? as i64]))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Some(Oriented {
        ornt,
        shape: usizes(&v["shape"])?,
        affine: affine(&v["affine"])?,
        axcodes: string(v, "axcodes")?,
        raw_sha256: string(v, "raw_sha256")?,
    }))
}

fn expected(v: &Value) -> Result<Expected, String> {
    let path = string(v, "path")?;
    let ctx = |e: String| format!("{path}: {e}");
    let is_ok = v["expect"].as_str() == Some("ok");
    let ok = if is_ok {
        let mut reoriented = BTreeMap::new();
        if let Some(m) = v["reoriented"].as_object() {
            for (k, o) in m {
                if let Some(o) = oriented(o).map_err(ctx)? {
                    reoriented.insert(k.clone(), o);
                }
            }
        }
        Some(ExpectedOk {
            format: string(v, "format").map_err(ctx)?,
            shape: usizes(&v["shape"]).map_err(ctx)?,
            datatype: string(v, "datatype").map_err(ctx)?,
            byte_order: string(v, "byte_order").map_err(ctx)?,
            affine: affine(&v["affine"]).map_err(ctx)?,
            axcodes: string(v, "axcodes").map_err(ctx)?,
            zooms: v["zooms"].as_array().map(|a| a.iter().filter_map(num).collect()).unwrap_or_default(),
            qform_code: v["qform_code"].as_i64().ok_or_else(|| ctx("qform_code".into()))?,
            sform_code: v["sform_code"].as_i64().ok_or_else(|| ctx("sform_code".into()))?,
            scl_slope: num(&v["scl_slope"]).unwrap_or(f64::NAN),
            scl_inter: num(&v["scl_inter"]).unwrap_or(f64::NAN),
            min: num(&v["min"]),
            max: num(&v["max"]),
            mean: num(&v["mean"]),
            raw_sha256: string(v, "raw_sha256").map_err(ctx)?,
            scaled: v["scaled"].as_array().map(|a| a.iter().map(|x| num(x).map_or(f32::NAN, |f| f as f32)).collect()),
            canonical: oriented(&v["canonical"]).map_err(ctx)?,
            reoriented,
        })
    } else {
        None
    };
    Ok(Expected {
        note: v["note"].as_str().unwrap_or_default().to_owned(),
        error: if is_ok { None } else { Some(v["error"].as_str().unwrap_or("unspecified").to_owned()) },
        nibabel: v["nibabel"].as_str().unwrap_or_default().to_owned(),
        path,
        ok,
    })
}

/// Loads a reference JSON file.
pub fn load_reference(path: &Path) -> Result<Reference, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let files = v["files"]
        .as_array()
        .ok_or_else(|| format!("{}: no files array", path.display()))?
        .iter()
        .map(expected)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Reference { generator: v["generator"].clone(), files })
}

/// Collects mismatches so a test reports all of them at once.
#[derive(Debug, Default)]
pub struct Mismatches(pub Vec<String>);

impl Mismatches {
    /// Records a mismatch when `ok` is false.
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    /// Records a mismatch when two affines differ by more than `tol` anywhere.
    pub fn affine(&mut self, file: &str, what: &str, got: &[[f64; 4]; 4], want: &[[f64; 4]; 4], tol: f64) {
        let diff = got.iter().flatten().zip(want.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        self.check(diff <= tol, || format!("{file}: {what} differs by {diff:e}: got {got:?}, nibabel {want:?}"));
    }

    /// Like [`Mismatches::affine`] for an affine read back from a NIfTI-1 file, which stores it
    /// as float32: each entry may also differ by its float32 rounding.
    pub fn affine_f32(&mut self, file: &str, what: &str, got: &[[f64; 4]; 4], want: &[[f64; 4]; 4], tol: f64) {
        let bad = got.iter().flatten().zip(want.iter().flatten()).find(|(a, b)| {
            let t = tol.max(b.abs() * f64::from(f32::EPSILON) / 2.0);
            (*a - *b).abs() > t
        });
        self.check(bad.is_none(), || format!("{file}: {what} beyond float32 rounding: got {got:?}, nibabel {want:?}"));
    }

    /// Records a mismatch when two values differ by more than `rel` relative (or absolute,
    /// near zero); both `None` or both NaN count as equal.
    pub fn close(&mut self, file: &str, what: &str, got: Option<f64>, want: Option<f64>, rel: f64) {
        let ok = match (got, want) {
            (None, None) => true,
            (Some(a), Some(b)) if a.is_nan() && b.is_nan() => true,
            (Some(a), Some(b)) if a == b => true,
            (Some(a), Some(b)) => (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0),
            _ => false,
        };
        self.check(ok, || format!("{file}: {what}: got {got:?}, nibabel {want:?}"));
    }

    /// Panics with every mismatch, one per line, when there are any.
    pub fn finish(self, checked: usize) {
        assert!(checked > 0, "no file was checked");
        assert!(self.0.is_empty(), "{} mismatches over {checked} files:\n{}", self.0.len(), self.0.join("\n"));
    }
}
