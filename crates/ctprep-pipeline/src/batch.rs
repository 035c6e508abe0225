//! Datasets, not scans: the recipe over many cases, each written whole or not at all, resumable,
//! one bad case recorded and the others run, spread over machines by shards.
//!
//! ```
//! use ctprep_pipeline::batch::{Batch, cases_from};
//! use ctprep_pipeline::{NoProgress, Product, Recipe};
//!
//! let data = tempfile::tempdir()?;
//! for (i, name) in ["a.nii.gz", "b.nii.gz"].into_iter().enumerate() {
//!     let ct = ctprep_phantom::Phantom::new([24, 20, 8]).seed(i as u64).ct()?;
//!     ctprep_io::write_nifti(&ct, data.path().join(name), &ctprep_io::WriteOptions::new())?;
//! }
//! let out = tempfile::tempdir()?;
//! let cases = cases_from(data.path(), None)?; // a folder, or a .csv / .jsonl manifest
//! let batch = Batch::new(Recipe::corrected()).save(&[Product::Mip]);
//! let first = batch.run(&cases, &cases, out.path(), &NoProgress)?;
//! assert_eq!((first.done, first.failed), (2, 0));
//! assert!(out.path().join("a/a_mip.nii.gz").exists() && out.path().join("a/ctprep.json").exists());
//! let again = batch.run(&cases, &cases, out.path(), &NoProgress)?; // nothing changed: nothing redone
//! assert_eq!(again.skipped, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout of the output folder
//! - `<id>/`: what [`crate::run`] writes for the case, plus [`RECORD`] (`ctprep.json`, a
//!   [`Record`]: recipe, version, inputs and outputs with their BLAKE3 hash, timings, kernels). A
//!   case folder is filled beside its place and renamed into it, so it is always one complete
//!   run's outputs; a failed case leaves an earlier complete folder untouched.
//! - `<id>.failed.json`: the [`FailureRecord`] of a case whose last run failed (removed when it
//!   succeeds).
//! - `summary.csv`, `summary.json`: the [`Summary`] of the last run ([`Summary::write`]).
//! - [`CASES`] (`cases.json`): the ids of the batch's cases, for [`Summary::of_records`].
//! - Temporaries are named `.ctprep-<pid>-...`; while a process runs a case it holds the
//!   case's lock (`.ctprep-lock-<id>`, a [`ctprep_io::NameLock`]), and before running it removes
//!   what killed runs left for that case, whichever machine they ran on.
//!
//! # Resuming
//! A case is skipped when its record names the same ctprep version, the same recipe and
//! outputs, inputs with the same size and BLAKE3 hash, and its output files are all there with
//! their recorded sizes and named after the image; otherwise it is run again ([`Batch::force`]
//! runs every case).

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ctprep_core::{Exec, Threads};
use serde::{Deserialize, Serialize};

use crate::progress::{Progress, Shown, Stage};
use crate::{Input, LabelInput, Outputs, Pipeline, Product, Recipe, RunJson, stem_of};

/// A case's record in its folder.
pub const RECORD: &str = "ctprep.json";
/// Appended to a case id: the record of its failed run, beside the case folders.
pub const FAILED_SUFFIX: &str = ".failed.json";
/// The batch's list of cases in its output folder: every run writes it (the whole list, not
/// its shard's), so that [`Summary::of_records`] knows which cases are missing.
pub const CASES: &str = "cases.json";
/// Names in the output folder that no case may take.
pub const RESERVED_NAMES: [&str; 5] = ["summary.csv", "summary.json", CASES, "slurm-logs", "ctprep-batch.sbatch"];
/// The version written into records and compared on a rerun.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The file name extensions a folder is scanned for.
const IMAGE_EXTENSIONS: [&str; 4] = [".nii.gz", ".nii", ".nrrd", ".nhdr"];
/// A manifest larger than this is refused before it is read (a million cases take ~200 MB).
const MAX_MANIFEST_BYTES: u64 = 1 << 30;

/// Why cases could not be listed or a batch could not start: a file or folder and what is wrong.
/// A failing case is not an error of the batch: it is a [`Status::Failed`] row.
#[derive(Debug, thiserror::Error)]
#[error("{}: {why}", path.display())]
pub struct BatchError {
    /// The manifest, folder or output folder concerned.
    pub path: PathBuf,
    /// What is wrong.
    pub why: String,
}

impl BatchError {
    fn new(path: &Path, why: impl Into<String>) -> BatchError {
        BatchError { path: path.to_owned(), why: why.into() }
    }
}

/// One case of a dataset: an image and optionally its label map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The name of the case's folder in the output folder.
    pub id: String,
    /// The image (NIfTI or NRRD).
    pub image: PathBuf,
    /// Its label map.
    pub label: Option<PathBuf>,
}

/// The cases of `source`, sorted by id: a folder scanned for `*.nii`, `*.nii.gz`, `*.nrrd`,
/// `*.nhdr` (id: the file's stem; with `label_pattern`, such as `{stem}_seg.nrrd` or
/// `../labels/{stem}.nii.gz`, each image's label is that path, and files that are another
/// image's label are not cases), or a manifest: `.csv` with a header naming the columns `id`,
/// `image` and optionally `label`, or `.jsonl` with one object per line with those keys (other
/// columns and keys are ignored). Relative paths are relative to the manifest's folder. Ids
/// must be unique and usable as folder names.
pub fn cases_from(source: &Path, label_pattern: Option<&str>) -> Result<Vec<Case>, BatchError> {
    let mut cases = if source.is_dir() {
        scan_folder(source, label_pattern)?
    } else {
        if label_pattern.is_some() {
            return Err(BatchError::new(
                source,
                "a label pattern applies to a folder of images; a manifest names each label in its `label` column",
            ));
        }
        let lower = source.to_string_lossy().to_ascii_lowercase();
        let text = read_manifest_text(source)?;
        let base = match source.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        if lower.ends_with(".csv") {
            read_csv(source, &text, &base)?
        } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            read_jsonl(source, &text, &base)?
        } else {
            return Err(BatchError::new(
                source,
                "not a folder, a .csv or a .jsonl manifest (the kind is told by the name's extension)",
            ));
        }
    };
    if cases.is_empty() {
        return Err(BatchError::new(source, "no cases"));
    }
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    for c in &cases {
        check_id(&c.id).map_err(|why| BatchError::new(source, format!("case id {:?}: {why}", c.id)))?;
    }
    if let Some(w) = cases.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(BatchError::new(
            source,
            format!("case id {:?} twice ({} and {})", w[0].id, w[0].image.display(), w[1].image.display()),
        ));
    }
    Ok(cases)
}

/// Whether `id` can name a case folder: not empty, at most 200 bytes, no path separator or
/// control character, not hidden (`.`: temporaries start so), not one of [`RESERVED_NAMES`], not
/// ending in [`FAILED_SUFFIX`].
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty".to_owned());
    }
    if id.len() > 200 {
        return Err("longer than 200 bytes".to_owned());
    }
    if id.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err("holds a path separator or a control character".to_owned());
    }
    if id.starts_with('.') {
        return Err("starts with '.' (hidden; ctprep's temporaries start so)".to_owned());
    }
    if RESERVED_NAMES.contains(&id) || id.ends_with(FAILED_SUFFIX) {
        return Err("is a name the batch's own files take".to_owned());
    }
    Ok(())
}

fn read_manifest_text(path: &Path) -> Result<String, BatchError> {
    let meta = std::fs::metadata(path).map_err(|e| BatchError::new(path, format!("cannot read: {e}")))?;
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(BatchError::new(path, format!("{} bytes: larger than a manifest can be (1 GiB)", meta.len())));
    }
    let bytes = std::fs::read(path).map_err(|e| BatchError::new(path, format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| BatchError::new(path, format!("not UTF-8 text (byte {} is not)", e.utf8_error().valid_up_to())))?;
    // A byte order mark, as spreadsheet programs write.
    Ok(text.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(text))
}

/// `case` with its paths, as written in a manifest, taken relative to `base` unless absolute.
fn resolved(case: Case, base: &Path) -> Case {
    let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
    Case { image: resolve(case.image), label: case.label.map(resolve), ..case }
}

fn read_csv(path: &Path, text: &str, base: &Path) -> Result<Vec<Case>, BatchError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| BatchError::new(path, format!("header line: {e}")))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(id), Some(image)) = (column("id"), column("image")) else {
        return Err(BatchError::new(
            path,
            format!(
                "the header line must name the columns id and image (and optionally label); it has: {}",
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let label = column("label");
    let mut cases = Vec::new();
    for record in reader.records() {
        let r = record.map_err(|e| BatchError::new(path, e.to_string()))?;
        let line = r.position().map_or(0, csv::Position::line);
        let field = |i: usize| r.get(i).unwrap_or("");
        if (0..r.len()).all(|i| field(i).is_empty()) {
            continue;
        }
        let case = case_of(field(id), field(image), label.map(field))
            .map_err(|why| BatchError::new(path, format!("line {line}: {why}")))?;
        cases.push(resolved(case, base));
    }
    Ok(cases)
}

/// A case from a manifest's fields (paths not yet resolved); an empty label is none.
fn case_of(id: &str, image: &str, label: Option<&str>) -> Result<Case, String> {
    if id.is_empty() {
        return Err("empty id".to_owned());
    }
    if image.is_empty() {
        return Err(format!("case {id:?}: empty image path"));
    }
    Ok(Case {
        id: id.to_owned(),
        image: PathBuf::from(image),
        label: label.filter(|l| !l.is_empty()).map(PathBuf::from),
    })
}

fn read_jsonl(path: &Path, text: &str, base: &Path) -> Result<Vec<Case>, BatchError> {
    #[derive(Deserialize)]
    struct Line {
        id: serde_json::Value,
        image: String,
        #[serde(default)]
        label: Option<String>,
    }
    let mut cases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |why: String| BatchError::new(path, format!("line {}: {why}", n + 1));
        let l: Line = serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
        // Numeric ids, as pandas writes them, are taken as their text.
        let id = match l.id {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            other => return Err(at(format!("id {other}: expected a string or a number"))),
        };
        let case = case_of(id.trim(), l.image.trim(), l.label.as_deref().map(str::trim)).map_err(at)?;
        cases.push(resolved(case, base));
    }
    Ok(cases)
}

fn scan_folder(dir: &Path, label_pattern: Option<&str>) -> Result<Vec<Case>, BatchError> {
    if let Some(p) = label_pattern
        && !p.contains("{stem}")
    {
        return Err(BatchError::new(
            dir,
            format!("label pattern {p:?} has no {{stem}}: every image would share one label"),
        ));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| BatchError::new(dir, format!("cannot list: {e}")))?;
    let mut images = Vec::new();
    for e in entries {
        let e = e.map_err(|e| BatchError::new(dir, format!("cannot list: {e}")))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let lower = name.to_ascii_lowercase();
        let is_image = IMAGE_EXTENSIONS.iter().any(|x| lower.ends_with(x) && lower.len() > x.len());
        if is_image && !name.starts_with('.') && e.path().is_file() {
            images.push(e.path());
        }
    }
    images.sort();
    let label_of = |img: &Path| label_pattern.map(|p| dir.join(p.replace("{stem}", &stem_of(img))));
    let labels: HashSet<PathBuf> = images.iter().filter_map(|i| label_of(i)).collect();
    if let Some(p) = label_pattern
        && images.iter().any(|i| label_of(i).as_ref() == Some(i))
    {
        return Err(BatchError::new(dir, format!("label pattern {p:?} names the images themselves")));
    }
    let cases: Vec<Case> = images
        .iter()
        .filter(|i| !labels.contains(*i))
        .map(|i| Case { id: stem_of(i), image: i.clone(), label: label_of(i) })
        .collect();
    if cases.is_empty() {
        return Err(BatchError::new(dir, "no .nii, .nii.gz, .nrrd or .nhdr images in this folder"));
    }
    Ok(cases)
}

/// One share of a dataset for one machine or array task: the cases whose index in the list
/// sorted by id is `index` modulo `count`. Shards are disjoint and together cover every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl Shard {
    /// Shard `index` of `count` (`index < count`).
    pub fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: needs 0 <= I < N"));
        }
        Ok(Shard { index, count })
    }

    /// The shard a scheduler's environment gives, and where it came from: a Slurm job array
    /// task (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`, with `SLURM_ARRAY_TASK_MIN` and
    /// `SLURM_ARRAY_TASK_STEP` when set), or a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`,
    /// with the job's completions count passed as `JOB_COMPLETIONS`). `None` outside either.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<(Shard, &'static str)>, String> {
        let num = |name: &str| -> Result<Option<usize>, String> {
            var(name)
                .map(|v| v.trim().parse::<usize>().map_err(|_| format!("{name}={v:?} is not a whole number")))
                .transpose()
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let count =
                num("SLURM_ARRAY_TASK_COUNT")?.ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let index = id.checked_sub(min).ok_or("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")? / step;
            return Shard::new(index, count).map(|s| Some((s, "SLURM_ARRAY_TASK_ID"))).map_err(|e| {
                format!("{e} (from SLURM_ARRAY_TASK_ID; an array of N tasks over a batch is --array=0-<N-1>)")
            });
        }
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            let count = num("JOB_COMPLETIONS")?.ok_or(
                "JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not: pass the job's completions count as \
                 JOB_COMPLETIONS in its environment",
            )?;
            return Shard::new(index, count).map(|s| Some((s, "JOB_COMPLETION_INDEX")));
        }
        Ok(None)
    }

    /// The cases of this shard, from `cases` sorted by id (as [`cases_from`] returns them).
    pub fn select(self, cases: &[Case]) -> Vec<Case> {
        cases.iter().enumerate().filter(|(i, _)| i % self.count == self.index).map(|(_, c)| c.clone()).collect()
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?}: expected I/N, e.g. 0/4 (shard I of N, from 0)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        Shard::new(i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A file of a case's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// `image` or `label` for an input; the product (`volume`, `mip`, `png`, `sheet`, `label`)
    /// for an output.
    pub role: String,
    /// An input's path as the batch was given it; an output's file name in the case folder.
    pub path: String,
    /// Its size.
    pub bytes: u64,
    /// Its BLAKE3 hash, as `b3sum` prints it.
    pub blake3: String,
}

/// `ctprep.json`: what a case's folder holds and how it was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The case.
    pub id: String,
    /// The ctprep that made it.
    pub ctprep_version: String,
    /// The recipe and outputs ([`Batch::recipe_json`]).
    pub recipe: serde_json::Value,
    /// The inputs read.
    pub inputs: Vec<FileRecord>,
    /// The files written into the case folder (besides this record).
    pub outputs: Vec<FileRecord>,
    /// When the case finished, in seconds since 1970.
    pub finished_unix_s: f64,
    /// Wall time of the case: hashing, the run, the record.
    pub seconds: f64,
    /// Of which hashing the inputs and outputs.
    pub hash_seconds: f64,
    /// The run's report: shapes, kernels, stage timings.
    pub run: RunJson,
}

/// `<id>.failed.json`: a case whose last run failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The case.
    pub id: String,
    /// The ctprep that ran it.
    pub ctprep_version: String,
    /// The recipe and outputs.
    pub recipe: serde_json::Value,
    /// The image, as given.
    pub image: String,
    /// Its label, as given.
    pub label: Option<String>,
    /// Why it failed, on one line.
    pub error: String,
    /// When, in seconds since 1970.
    pub finished_unix_s: f64,
    /// Wall time until it failed.
    pub seconds: f64,
    /// The `finished_unix_s` of the case's [`Record`] when it failed (its earlier complete run),
    /// if it had one: the failure is the case's latest word only while that record is still
    /// there (a later success replaces it), whatever the clocks of the machines involved.
    #[serde(default)]
    pub record_finished_unix_s: Option<f64>,
}

/// How a case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Run now.
    Done,
    /// Its record matched: nothing to do.
    Skipped,
    /// Failed: its error is recorded, its earlier outputs (if any) kept.
    Failed,
    /// Not run: another process (another shard, on this machine or another) holds the case's
    /// lock and is running it.
    Busy,
    /// In a summary of records ([`Summary::of_records`]): a case of the batch's list with no
    /// record at all (not run yet, or its run was killed).
    Missing,
}

impl Status {
    /// `done`, `skipped`, `failed`, `busy`, `missing`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Busy => "busy",
            Status::Missing => "missing",
        }
    }
}

/// One case of a [`Summary`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The case.
    pub id: String,
    /// How it ended.
    pub status: Status,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its inputs' size.
    pub input_bytes: u64,
    /// Its wall time (0 when skipped).
    pub seconds: f64,
    /// Its run's wall time per step (`read`, `stream`, `png`, `total`); empty when it did not run.
    pub timings_s: BTreeMap<String, f64>,
    /// Its run's thread time per stage; empty when it did not run.
    pub cpu_s: BTreeMap<String, f64>,
}

/// The outcome of a batch: counts, per-stage time totals, throughput and one row per case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Cases.
    pub cases: usize,
    /// Run and written.
    pub done: usize,
    /// Already done (their records matched).
    pub skipped: usize,
    /// Failed.
    pub failed: usize,
    /// Running elsewhere (another process held their locks).
    #[serde(default)]
    pub busy: usize,
    /// In a summary of records: cases of the batch's list without any record.
    #[serde(default)]
    pub missing: usize,
    /// Wall time of the whole batch; for a summary of records ([`Summary::of_records`]), the
    /// sum of the cases' times.
    pub wall_s: f64,
    /// Whether this summary was made from the records in a folder rather than by a run.
    #[serde(default)]
    pub of_records: bool,
    /// In a summary of records: records found of cases not in the batch's list (left out).
    #[serde(default)]
    pub not_listed: usize,
    /// The cases run, per minute of wall time.
    pub cases_per_min: f64,
    /// The inputs of the cases run, in MB (10^6 bytes) per second of wall time.
    pub input_mb_per_s: f64,
    /// Per step, the sum over the cases run of their wall time.
    pub timings_s: BTreeMap<String, f64>,
    /// Per stage, the sum over the cases run of their thread time.
    pub cpu_s: BTreeMap<String, f64>,
    /// One row per case, by id.
    pub rows: Vec<Row>,
}

impl Summary {
    fn of(mut rows: Vec<Row>, wall_s: f64) -> Summary {
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
        let ran: Vec<&Row> = rows.iter().filter(|r| r.status == Status::Done).collect();
        let mut timings_s = BTreeMap::new();
        let mut cpu_s = BTreeMap::new();
        for r in &ran {
            for (k, v) in &r.timings_s {
                *timings_s.entry(k.clone()).or_insert(0.0) += v;
            }
            for (k, v) in &r.cpu_s {
                *cpu_s.entry(k.clone()).or_insert(0.0) += v;
            }
        }
        let bytes: u64 = ran.iter().map(|r| r.input_bytes).sum();
        let per = |x: f64| if wall_s > 0.0 { x / wall_s } else { 0.0 };
        Summary {
            cases: rows.len(),
            done: ran.len(),
            skipped: count(Status::Skipped),
            failed: count(Status::Failed),
            busy: count(Status::Busy),
            missing: count(Status::Missing),
            wall_s,
            of_records: false,
            not_listed: 0,
            cases_per_min: per(60.0 * ran.len() as f64),
            input_mb_per_s: per(bytes as f64 / 1e6),
            timings_s,
            cpu_s,
            rows,
        }
    }

    /// The summary of the records in `out` (every shard's, after they all ran). The cases are
    /// those of the batch's list ([`CASES`], written by every run); a case is failed when its
    /// [`FailureRecord`] was written over the record now in its folder (or none), done when
    /// its folder holds a [`Record`], missing otherwise. Records of cases not in the list are
    /// left out (`not_listed` counts them). A record that cannot be read is a failed row. Without
    /// a list (a folder of an older ctprep), every record found is a case. `wall_s` is the sum
    /// of the cases' times.
    pub fn of_records(out: &Path) -> Result<Summary, BatchError> {
        let entries = std::fs::read_dir(out).map_err(|e| BatchError::new(out, format!("cannot list: {e}")))?;
        let mut done: BTreeMap<String, Result<Record, BatchError>> = BTreeMap::new();
        let mut failed: BTreeMap<String, Result<FailureRecord, BatchError>> = BTreeMap::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Some(id) = name.strip_suffix(FAILED_SUFFIX) {
                failed.insert(id.to_owned(), read_json(&e.path()));
            } else if e.path().join(RECORD).is_file() {
                done.insert(name, read_json(&e.path().join(RECORD)));
            }
        }
        let listed: Option<CaseList> = match read_json::<CaseList>(&out.join(CASES)) {
            Ok(l) => Some(l),
            Err(_) if !out.join(CASES).exists() => None,
            Err(e) => return Err(e),
        };
        if listed.is_none() && done.is_empty() && failed.is_empty() {
            return Err(BatchError::new(out, "no case records here (is this a batch's --out folder?)"));
        }
        let ids: Vec<String> = match &listed {
            Some(l) => l.ids.clone(),
            None => done
                .keys()
                .chain(failed.keys())
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let not_listed = done.keys().chain(failed.keys()).filter(|id| !wanted.contains(id.as_str())).count();
        let bare = |id: &str, status, error: Option<String>, seconds| Row {
            id: id.to_owned(),
            status,
            error,
            input_bytes: 0,
            seconds,
            timings_s: BTreeMap::new(),
            cpu_s: BTreeMap::new(),
        };
        let mut rows = Vec::with_capacity(ids.len());
        for id in &ids {
            let record = done.get(id);
            let row = match (failed.get(id), record) {
                (Some(Err(e)), _) | (_, Some(Err(e))) => bare(id, Status::Failed, Some(e.to_string()), 0.0),
                (Some(Ok(f)), r)
                    if f.record_finished_unix_s == r.and_then(|r| r.as_ref().ok()).map(|r| r.finished_unix_s) =>
                {
                    bare(id, Status::Failed, Some(f.error.clone()), f.seconds)
                }
                (_, Some(Ok(r))) => row_of(r),
                (_, None) => bare(id, Status::Missing, None, 0.0),
            };
            rows.push(row);
        }
        let wall = rows.iter().map(|r| r.seconds).sum();
        Ok(Summary { of_records: true, not_listed, ..Summary::of(rows, wall) })
    }

    /// Writes `summary.csv` (one line per case: id, status, seconds, input bytes, each step's
    /// time, error) and `summary.json` (this summary) into `out`, each atomically.
    pub fn write(&self, out: &Path) -> Result<(), BatchError> {
        let steps = ["read", "stream", "png", "total"];
        let mut csv = csv::Writer::from_writer(Vec::new());
        let header = ["id", "status", "seconds", "input_bytes", "read_s", "stream_s", "png_s", "total_s", "error"];
        let csv_err = |e: csv::Error| BatchError::new(&out.join("summary.csv"), e.to_string());
        csv.write_record(header).map_err(csv_err)?;
        for r in &self.rows {
            let mut line =
                vec![r.id.clone(), r.status.name().to_owned(), format!("{:.3}", r.seconds), r.input_bytes.to_string()];
            line.extend(steps.iter().map(|s| r.timings_s.get(*s).map_or(String::new(), |v| format!("{v:.3}"))));
            line.push(r.error.clone().unwrap_or_default());
            csv.write_record(&line).map_err(csv_err)?;
        }
        let bytes = csv.into_inner().map_err(|e| BatchError::new(&out.join("summary.csv"), e.to_string()))?;
        write_file(&out.join("summary.csv"), &bytes)?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| BatchError::new(out, e.to_string()))?;
        write_file(&out.join("summary.json"), &json)
    }

    /// The table printed at the end of a batch: counts, time per step, throughput, the failures.
    pub fn table(&self) -> String {
        let time = if self.of_records { "the cases' times summed" } else { "wall time" };
        let mut s =
            format!("cases {}: {} done, {} skipped, {} failed", self.cases, self.done, self.skipped, self.failed);
        for (n, what) in [(self.busy, "busy elsewhere"), (self.missing, "missing")] {
            if n > 0 {
                s.push_str(&format!(", {n} {what}"));
            }
        }
        s.push_str(&format!("; {time} {:.1} s\n", self.wall_s));
        if self.not_listed > 0 {
            s.push_str(&format!("{} records of cases not in the batch's list left out\n", self.not_listed));
        }
        if self.done > 0 {
            let per = if self.of_records { " of case time" } else { "" };
            s.push_str(&format!(
                "throughput: {:.1} cases/min, {:.1} MB/s of input{per}\n",
                self.cases_per_min, self.input_mb_per_s
            ));
            let steps: Vec<String> = self.timings_s.iter().map(|(k, v)| format!("{k} {v:.1} s")).collect();
            s.push_str(&format!("wall time summed over the cases run: {}\n", steps.join(", ")));
            let cpu: Vec<String> = self.cpu_s.iter().map(|(k, v)| format!("{k} {v:.1} s")).collect();
            s.push_str(&format!("thread time summed over the cases run: {}\n", cpu.join(", ")));
        }
        for r in self.rows.iter().filter(|r| r.status == Status::Failed) {
            s.push_str(&format!("failed {}: {}\n", r.id, r.error.as_deref().unwrap_or("")));
        }
        let missing: Vec<&str> =
            self.rows.iter().filter(|r| r.status == Status::Missing).map(|r| r.id.as_str()).take(20).collect();
        if !missing.is_empty() {
            let more = if self.missing > missing.len() { ", ..." } else { "" };
            s.push_str(&format!("missing: {}{more}\n", missing.join(", ")));
        }
        s
    }
}

fn row_of(d: &Record) -> Row {
    Row {
        id: d.id.clone(),
        status: Status::Done,
        error: None,
        input_bytes: d.inputs.iter().map(|f| f.bytes).sum(),
        seconds: d.seconds,
        timings_s: d.run.timings_s.clone(),
        cpu_s: d.run.cpu_s.clone(),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, BatchError> {
    let bytes = std::fs::read(path).map_err(|e| BatchError::new(path, format!("cannot read: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| BatchError::new(path, format!("not a ctprep record: {e}")))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BatchError> {
    use std::io::Write;
    ctprep_io::write_atomically_named(path, |mut f| {
        f.write_all(bytes).map_err(|e| ctprep_io::Error::io(path, "write", e))
    })
    .map_err(|e: ctprep_io::Error| BatchError::new(path, e.to_string()))
}

/// The recipe over many cases: the [`Recipe`], the products, how many cases run at once
/// (`jobs`) and the kernels and threads within each (`exec`).
#[derive(Clone, Debug)]
pub struct Batch {
    recipe: Recipe,
    save: Vec<Product>,
    gzip_level: u32,
    label_tolerance_mm: f64,
    exec: Exec,
    jobs: usize,
    force: bool,
}

impl Batch {
    /// `recipe` over the cases, every product, one case at a time on every thread (see
    /// [`Batch::jobs`]).
    pub fn new(recipe: Recipe) -> Batch {
        Batch {
            recipe,
            save: Product::ALL.to_vec(),
            gzip_level: ctprep_io::DEFAULT_GZIP_LEVEL,
            label_tolerance_mm: crate::align::DEFAULT_TOLERANCE_MM,
            exec: Exec::default(),
            jobs: 1,
            force: false,
        }
    }

    /// The products written per case (as [`Outputs::save`]).
    pub fn save(mut self, products: &[Product]) -> Self {
        self.save = Outputs::new(".").save(products).products().to_vec();
        self
    }

    /// The gzip level of the `.nii.gz` outputs.
    pub fn gzip_level(mut self, level: u32) -> Self {
        self.gzip_level = level.min(9);
        self
    }

    /// How far a label's voxel centres may lie from its image's (as [`LabelInput::tolerance_mm`]).
    pub fn label_tolerance_mm(mut self, mm: f64) -> Self {
        self.label_tolerance_mm = mm;
        self
    }

    /// The kernels and threads of each case; with `Threads::Auto` each of the `jobs` cases
    /// running at once gets an equal share of the cores.
    pub fn exec(mut self, exec: Exec) -> Self {
        self.exec = exec;
        self
    }

    /// How many cases run at once (at least 1).
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// Run every case, even those whose record matches.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// What a record's `recipe` holds: the recipe's choices ([`Recipe::to_json`]) with the
    /// products saved, the gzip level and, for a case with a label, the label tolerance.
    pub fn recipe_json(&self, with_label: bool) -> serde_json::Value {
        let mut v = self.recipe.to_json();
        if let Some(o) = v.as_object_mut() {
            o.insert("save".to_owned(), self.save.iter().map(|p| p.name()).collect::<Vec<_>>().into());
            o.insert("gzip_level".to_owned(), self.gzip_level.into());
            if with_label {
                o.insert("label_tolerance_mm".to_owned(), self.label_tolerance_mm.into());
            }
        }
        v
    }

    /// Runs `cases` into `out` (created if missing), `jobs` at a time, reporting one part of
    /// [`Stage::Cases`] per case to `progress`. A failing case is a [`Status::Failed`] row (and
    /// its `<id>.failed.json`); the batch goes on. Each case runs under a lock of its own in
    /// `out`, so a case another process is running (on this machine or another sharing the
    /// folder) is [`Status::Busy`], and what killed runs left for a case is cleaned before it
    /// runs. `all` is the whole batch's list of cases (of which `cases` may be a shard), written
    /// to [`CASES`]. Errs only when `out` cannot be made or written, or threads cannot start.
    pub fn run(
        &self,
        cases: &[Case],
        all: &[Case],
        out: &Path,
        progress: &dyn Progress,
    ) -> Result<Summary, BatchError> {
        let t0 = Instant::now();
        write_case_list(out, all)?;
        ctprep_io::remove_stale_temporaries_of(out, |name| RESERVED_NAMES.contains(&name));
        let jobs = self.jobs.min(cases.len()).max(1);
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let threads = match self.exec.threads {
            Threads::One => 1,
            Threads::Count(n) => n.get(),
            _ => (cores / jobs).max(1),
        };
        // A case on one thread needs no pool; a lone case with `Auto` threads (or as many as the
        // current pool has) takes the current pool, as `run` does. Only cases that each need
        // several threads get a pool of their own: its coordinating thread (which waits on the
        // reading thread) is then one of its workers, measured slower than coordinating from
        // outside.
        let lone = jobs == 1
            && match self.exec.threads {
                Threads::Count(n) => n.get() == rayon::current_num_threads(),
                t => t == Threads::Auto,
            };
        let exec = if threads == 1 { self.exec.threads(Threads::One) } else { self.exec };
        let mut pools = Vec::with_capacity(jobs);
        for _ in 0..jobs {
            pools.push(match threads > 1 && !lone {
                true => Some(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .map_err(|e| BatchError::new(out, format!("cannot start {threads} threads: {e}")))?,
                ),
                false => None,
            });
        }
        let next = AtomicUsize::new(0);
        let rows: Mutex<Vec<Row>> = Mutex::new(Vec::with_capacity(cases.len()));
        let shown = Shown::start(progress, Stage::Cases, Some(cases.len() as u64));
        let joined: Result<(), BatchError> = std::thread::scope(|s| {
            let handles: Vec<_> = pools
                .into_iter()
                .map(|pool| {
                    let (next, rows, shown) = (&next, &rows, &shown);
                    s.spawn(move || {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(case) = cases.get(i) else { break };
                            let row = match &pool {
                                Some(p) => p.install(|| self.run_case(case, out, exec)),
                                None => self.run_case(case, out, exec),
                            };
                            if let Ok(mut r) = rows.lock() {
                                r.push(row);
                            }
                            shown.advance();
                        }
                    })
                })
                .collect();
            for h in handles {
                if let Err(p) = h.join() {
                    return Err(BatchError::new(
                        out,
                        format!("a job panicked: {}", crate::error::panic_message(p.as_ref())),
                    ));
                }
            }
            Ok(())
        });
        drop(shown);
        joined?;
        let rows = rows.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(Summary::of(rows, t0.elapsed().as_secs_f64()))
    }

    /// One case, whatever happens: done, skipped, busy or failed (recorded in `<id>.failed.json`).
    fn run_case(&self, case: &Case, out: &Path, exec: Exec) -> Row {
        let t0 = Instant::now();
        let failed_path = out.join(format!("{}{FAILED_SUFFIX}", case.id));
        let bare = |status, error: Option<String>, input_bytes| Row {
            id: case.id.clone(),
            status,
            error,
            input_bytes,
            seconds: t0.elapsed().as_secs_f64(),
            timings_s: BTreeMap::new(),
            cpu_s: BTreeMap::new(),
        };
        let lock = match ctprep_io::NameLock::take(out, &case.id) {
            Ok(Some(l)) => l,
            Ok(None) => return bare(Status::Busy, None, 0),
            Err(e) => return bare(Status::Failed, Some(e.to_string()), 0),
        };
        // What killed runs left for this case: no live process writes it while the lock is held.
        ctprep_io::remove_temporaries_of(out, |name| {
            name == case.id || name.strip_suffix(FAILED_SUFFIX) == Some(case.id.as_str())
        });
        let dir = out.join(&case.id);
        let earlier = read_json::<Record>(&dir.join(RECORD)).ok().map(|r| r.finished_unix_s);
        // A panic in one case is that case's failure.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.try_case(case, out, exec)))
            .unwrap_or_else(|p| Err(format!("panicked: {}", crate::error::panic_message(p.as_ref()))));
        let row = match outcome {
            Ok((status, row)) => {
                let _ = std::fs::remove_file(&failed_path);
                Row { status, ..row }
            }
            Err(error) => {
                let error = error.replace(['\n', '\r'], " ");
                let record = FailureRecord {
                    id: case.id.clone(),
                    ctprep_version: VERSION.to_owned(),
                    recipe: self.recipe_json(case.label.is_some()),
                    image: case.image.display().to_string(),
                    label: case.label.as_ref().map(|l| l.display().to_string()),
                    error: error.clone(),
                    finished_unix_s: unix_now(),
                    seconds: t0.elapsed().as_secs_f64(),
                    record_finished_unix_s: earlier,
                };
                let written = serde_json::to_vec_pretty(&record)
                    .map_err(|e| BatchError::new(&failed_path, e.to_string()))
                    .and_then(|bytes| write_file(&failed_path, &bytes));
                let error = match written {
                    Ok(()) => error,
                    Err(e) => format!("{error} (and its failure record could not be written: {e})"),
                };
                let inputs = std::iter::once(&case.image).chain(&case.label);
                bare(
                    Status::Failed,
                    Some(error),
                    inputs.filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum(),
                )
            }
        };
        drop(lock);
        row
    }

    fn try_case(&self, case: &Case, out: &Path, exec: Exec) -> Result<(Status, Row), String> {
        let t0 = Instant::now();
        let dir = out.join(&case.id);
        let mut inputs = vec![hash_file("image", &case.image)?];
        if let Some(l) = &case.label {
            inputs.push(hash_file("label", l)?);
        }
        let hashed = t0.elapsed();
        // Placing the case folder would replace an input that lies inside it.
        if let Ok(d) = dir.canonicalize() {
            for p in std::iter::once(&case.image).chain(&case.label) {
                if p.canonicalize().is_ok_and(|p| p.starts_with(&d)) {
                    return Err(format!(
                        "{}: lies inside the case's output folder {}, which the batch replaces",
                        p.display(),
                        d.display()
                    ));
                }
            }
        }
        let recipe = self.recipe_json(case.label.is_some());
        let input_bytes = inputs.iter().map(|f| f.bytes).sum();
        let stem = stem_of(&case.image);
        if !self.force
            && let Ok(r) = read_json::<Record>(&dir.join(RECORD))
            && r.ctprep_version == VERSION
            && r.recipe == recipe
            && same_inputs(&r.inputs, &inputs)
            // Outputs are named after the image: a renamed image gives other names.
            && r.outputs.iter().all(|o| o.path.starts_with(&format!("{stem}_")))
            && r.outputs.iter().all(|o| std::fs::metadata(dir.join(&o.path)).is_ok_and(|m| m.len() == o.bytes))
        {
            let row =
                Row { input_bytes, seconds: 0.0, timings_s: BTreeMap::new(), cpu_s: BTreeMap::new(), ..row_of(&r) };
            return Ok((Status::Skipped, row));
        }
        let tmp = ctprep_io::temp_folder_for(&dir).map_err(|e| e.to_string())?;
        let outputs = Outputs::new(tmp.path()).stem(stem).save(&self.save).gzip_level(self.gzip_level);
        let label = match &case.label {
            Some(p) => Some(LabelInput::path(p).map_err(|e| e.to_string())?.tolerance_mm(self.label_tolerance_mm)),
            None => None,
        };
        let report = Pipeline::new()
            .exec(exec)
            .run_with_label(Input::path(&case.image), label, &self.recipe, &outputs)
            .map_err(|e| e.to_string())?;
        let mut run = RunJson::from(&report);
        let t_out = Instant::now();
        let mut written = Vec::new();
        for w in &report.outputs {
            let name = w.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let mut f = hash_file(w.product.name(), &w.path)?;
            f.path = name;
            written.push(f);
        }
        // The run's paths point into the temporary folder: name them where they end up.
        for paths in run.outputs.values_mut() {
            for p in paths.iter_mut() {
                if let Some(name) = Path::new(p.as_str()).file_name() {
                    *p = dir.join(name).display().to_string();
                }
            }
        }
        let hash_seconds = (hashed + t_out.elapsed()).as_secs_f64();
        let record = Record {
            id: case.id.clone(),
            ctprep_version: VERSION.to_owned(),
            recipe,
            inputs,
            outputs: written,
            finished_unix_s: unix_now(),
            seconds: t0.elapsed().as_secs_f64(),
            hash_seconds,
            run,
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| e.to_string())?;
        std::fs::write(tmp.path().join(RECORD), json)
            .map_err(|e| format!("{}: cannot write: {e}", dir.join(RECORD).display()))?;
        ctprep_io::place_folder(tmp, &dir).map_err(|e| e.to_string())?;
        Ok((Status::Done, row_of(&record)))
    }
}

/// [`CASES`]: the ids of a batch's cases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseList {
    /// The ctprep that wrote it.
    pub ctprep_version: String,
    /// Every case of the batch (not one shard's), by id.
    pub ids: Vec<String>,
}

/// Writes [`CASES`] into `out` (created if missing): the ids of `all`. Shards of one batch
/// write the same list.
pub fn write_case_list(out: &Path, all: &[Case]) -> Result<(), BatchError> {
    std::fs::create_dir_all(out).map_err(|e| BatchError::new(out, format!("cannot create the folder: {e}")))?;
    let list = CaseList { ctprep_version: VERSION.to_owned(), ids: all.iter().map(|c| c.id.clone()).collect() };
    let bytes = serde_json::to_vec_pretty(&list).map_err(|e| BatchError::new(&out.join(CASES), e.to_string()))?;
    write_file(&out.join(CASES), &bytes)
}

/// Whether two records' inputs are the same files: role, size and hash (not the path: a dataset
/// moved elsewhere is still done).
fn same_inputs(a: &[FileRecord], b: &[FileRecord]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.role == y.role && x.bytes == y.bytes && x.blake3 == y.blake3)
}

/// The size and BLAKE3 hash of `path`, as a [`FileRecord`] of `role`.
fn hash_file(role: &str, path: &Path) -> Result<FileRecord, String> {
    let fail = |e: std::io::Error| format!("{}: cannot read: {e}", path.display());
    let mut f = std::fs::File::open(path).map_err(fail)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(e)),
        };
        h.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(FileRecord {
        role: role.to_owned(),
        path: path.display().to_string(),
        bytes,
        blake3: h.finalize().to_hex().to_string(),
    })
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).expect("writes");
    }

    #[test]
    fn manifests_csv_and_jsonl() {
        let d = tempfile::tempdir().expect("dir");
        let m = d.path().join("cases.csv");
        write(
            &m,
            "\u{feff}ID, image ,label,site\nb,scans/b.nii.gz,,x\n\"a,1\",/abs/a.nrrd,\"labels/a, seg.nrrd\",y\n\n",
        );
        let cases = cases_from(&m, None).expect("reads");
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].id, "a,1");
        assert_eq!(cases[0].image, Path::new("/abs/a.nrrd"));
        assert_eq!(cases[0].label.as_deref(), Some(d.path().join("labels/a, seg.nrrd").as_path()));
        assert_eq!((cases[1].image.clone(), cases[1].label.clone()), (d.path().join("scans/b.nii.gz"), None));

        let j = d.path().join("cases.jsonl");
        write(&j, "{\"id\": 7, \"image\": \"x.nii\"}\n\n{\"id\": \"y\", \"image\": \"y.nii\", \"label\": null}\n");
        let cases = cases_from(&j, None).expect("reads");
        assert_eq!(cases.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["7", "y"]);

        for (name, text, why) in [
            ("a.csv", "id,path\nx,y\n", "must name the columns id and image"),
            ("b.csv", "id,image\nx,a.nii\nx,b.nii\n", "twice"),
            ("c.csv", "id,image\n../up,a.nii\n", "path separator"),
            ("d.csv", "id,image\n.hidden,a.nii\n", "starts with '.'"),
            ("e.csv", "id,image\nsummary.json,a.nii\n", "batch's own files"),
            ("f.csv", "id,image\nx,\n", "line 2: case \"x\": empty image"),
            ("g.csv", "id,image\nx,a.nii,extra\n", "line: 2, byte: 9): found record with 3 fields"),
            ("h.jsonl", "{\"id\": \"x\"}\n", "line 1: missing field `image`"),
            ("i.jsonl", "{\"id\": [1], \"image\": \"a\"}\n", "expected a string or a number"),
            ("j.txt", "id,image\n", "not a folder, a .csv or a .jsonl"),
            ("k.csv", "id,image\n", "no cases"),
        ] {
            let p = d.path().join(name);
            write(&p, text);
            let e = cases_from(&p, None).expect_err(name).to_string();
            assert!(e.contains(why) && e.contains(name), "{name}: {e}");
        }
        let e = cases_from(&m, Some("{stem}_seg.nrrd")).expect_err("pattern on a manifest").to_string();
        assert!(e.contains("label pattern applies to a folder"), "{e}");
        assert!(cases_from(&d.path().join("missing.csv"), None).is_err());
    }

    #[test]
    fn folders_pair_labels_by_pattern() {
        let d = tempfile::tempdir().expect("dir");
        for n in ["ct1.nii.gz", "ct1_seg.nrrd", "ct2.NRRD", ".hidden.nii", "notes.txt", "ct3.nhdr", "ct3.raw"] {
            write(&d.path().join(n), "");
        }
        std::fs::create_dir(d.path().join("sub.nii")).expect("mkdir");
        let all = cases_from(d.path(), None).expect("scans");
        assert_eq!(all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["ct1", "ct1_seg", "ct2", "ct3"]);
        let paired = cases_from(d.path(), Some("{stem}_seg.nrrd")).expect("scans");
        assert_eq!(paired.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["ct1", "ct2", "ct3"]);
        assert_eq!(paired[0].label.as_deref(), Some(d.path().join("ct1_seg.nrrd").as_path()));
        assert_eq!(paired[1].label.as_deref(), Some(d.path().join("ct2_seg.nrrd").as_path()), "missing: fails later");
        assert!(cases_from(d.path(), Some("seg.nrrd")).expect_err("no {stem}").to_string().contains("no {stem}"));
        let empty = tempfile::tempdir().expect("dir");
        assert!(cases_from(empty.path(), None).expect_err("empty").to_string().contains("no .nii"));
        write(&d.path().join("ct2.nii"), "");
        assert!(cases_from(d.path(), None).expect_err("two ct2").to_string().contains("\"ct2\" twice"));
    }

    #[test]
    fn shards_split_and_come_from_the_environment() {
        let cases: Vec<Case> =
            (0..10).map(|i| Case { id: format!("c{i}"), image: PathBuf::from("x"), label: None }).collect();
        let mut seen: Vec<String> = Vec::new();
        for i in 0..3 {
            let s: Shard = format!("{i}/3").parse().expect("parses");
            seen.extend(s.select(&cases).into_iter().map(|c| c.id));
        }
        seen.sort();
        assert_eq!(seen, cases.iter().map(|c| c.id.clone()).collect::<Vec<_>>());
        assert_eq!(Shard::new(1, 3).map(|s| s.select(&cases).len()), Ok(3));
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        fn env(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
            let pairs = pairs.to_vec();
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        }
        assert_eq!(Shard::from_env(env(&[])), Ok(None));
        assert_eq!(
            Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "4")])),
            Ok(Some((Shard { index: 2, count: 4 }, "SLURM_ARRAY_TASK_ID")))
        );
        let from_one = [("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "1")];
        assert_eq!(Shard::from_env(env(&from_one)).map(|s| s.map(|s| s.0)), Ok(Some(Shard { index: 3, count: 4 })));
        assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "4")])).is_err());
        assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "x")])).is_err());
        assert!(
            Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "1")])).expect_err("no count").contains("JOB_COMPLETIONS")
        );
        assert_eq!(
            Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "1"), ("JOB_COMPLETIONS", "2")])).map(|s| s.map(|s| s.0)),
            Ok(Some(Shard { index: 1, count: 2 }))
        );
    }
}
