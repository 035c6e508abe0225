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

mod cases;
mod figures;
mod page;
mod records;

pub use cases::{Case, Shard, cases_from, check_id};
pub use figures::{FIGURES_VERSION, Figures, LabelVolume, THUMB_PX, ViewFiles, make_figures, view_names};
pub use page::{REPORT, ReportOutcome, write_report};
pub use records::{CaseList, FailureRecord, FileRecord, Record, Row, Status, Summary, write_case_list};

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ctprep_core::{Exec, Threads};

use crate::progress::{Progress, Shown, Stage};
use crate::{Input, LabelInput, Outputs, Pipeline, Product, Recipe, RunJson, stem_of};
use records::{read_json, row_of, write_file};

/// A case's record in its folder.
pub const RECORD: &str = "ctprep.json";
/// Appended to a case id: the record of its failed run, beside the case folders.
pub const FAILED_SUFFIX: &str = ".failed.json";
/// The batch's list of cases in its output folder: every run writes it (the whole list, not
/// its shard's), so that [`Summary::of_records`] knows which cases are missing.
pub const CASES: &str = "cases.json";
/// Names in the output folder that no case may take.
pub const RESERVED_NAMES: [&str; 6] =
    ["summary.csv", "summary.json", CASES, "slurm-logs", "ctprep-batch.sbatch", page::REPORT];
/// The version written into records and compared on a rerun.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

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
    dicom: crate::input::DicomOptions,
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
            dicom: crate::input::DicomOptions::default(),
        }
    }

    /// How DICOM images are read (the padding fill, uneven spacing; the series is each case's).
    pub fn dicom(mut self, options: crate::input::DicomOptions) -> Self {
        self.dicom = options;
        self
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
        let outputs =
            Outputs::new(tmp.path()).stem(stem.clone()).save(&self.save).gzip_level(self.gzip_level).views(true);
        let label = match &case.label {
            Some(p) => Some(LabelInput::path(p).map_err(|e| e.to_string())?.tolerance_mm(self.label_tolerance_mm)),
            None => None,
        };
        let input = if crate::input::is_dicom_input(&case.image) {
            let options =
                crate::input::DicomOptions { series: case.series.map(|i| i.to_string()), ..self.dicom.clone() };
            crate::input::pipeline_input(&case.image, &options).map_err(|e| e.to_string())?.0
        } else {
            Input::path(&case.image)
        };
        let report = Pipeline::new()
            .exec(exec)
            .run_with_label(input, label, &self.recipe, &outputs)
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
        let figures = make_figures(tmp.path(), &stem, &written, Some(&report), 1);
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
            figures: Some(figures),
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| e.to_string())?;
        std::fs::write(tmp.path().join(RECORD), json)
            .map_err(|e| format!("{}: cannot write: {e}", dir.join(RECORD).display()))?;
        ctprep_io::place_folder(tmp, &dir).map_err(|e| e.to_string())?;
        Ok((Status::Done, row_of(&record)))
    }
}

/// Whether two records' inputs are the same files: role, size and hash (not the path: a dataset
/// moved elsewhere is still done).
fn same_inputs(a: &[FileRecord], b: &[FileRecord]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.role == y.role && x.bytes == y.bytes && x.blake3 == y.blake3)
}

/// The size and BLAKE3 hash of `path`, as a [`FileRecord`] of `role`.
/// The size and BLAKE3 hash of the file at `path`; of a folder (a DICOM series), of its files
/// (not below it, hidden ones left out) in name order, each name hashed before its bytes.
fn hash_file(role: &str, path: &Path) -> Result<FileRecord, String> {
    let fail = |e: std::io::Error| format!("{}: cannot read: {e}", path.display());
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    let files = if path.is_dir() {
        let mut files = Vec::new();
        for e in std::fs::read_dir(path).map_err(fail)? {
            let e = e.map_err(fail)?;
            if e.file_type().is_ok_and(|t| t.is_file()) && !e.file_name().to_string_lossy().starts_with('.') {
                files.push(e.path());
            }
        }
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    for file in &files {
        let fail = |e: std::io::Error| format!("{}: cannot read: {e}", file.display());
        if path.is_dir() {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            h.update(&(name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
        }
        let mut f = std::fs::File::open(file).map_err(fail)?;
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
