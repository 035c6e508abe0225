//! What a batch keeps: each case's record, failure records, the case list, and the summary of
//! a run or of the records.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{BatchError, CASES, Case, FAILED_SUFFIX, Figures, RECORD, VERSION};
use crate::RunJson;

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
    /// What the report's card shows besides: thumbnails, label volumes (absent from records
    /// written before; `ctprep report` makes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<Figures>,
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
    pub(super) fn of(mut rows: Vec<Row>, wall_s: f64) -> Summary {
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
        Summary::of_records_listed(out, true)
    }

    /// [`Summary::of_records`], ignoring the batch's list when `use_list` is false (every
    /// record found is a case).
    pub(super) fn of_records_listed(out: &Path, use_list: bool) -> Result<Summary, BatchError> {
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
            _ if !use_list => None,
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
                // The folder names the case, whatever its record says.
                (_, Some(Ok(r))) => Row { id: id.clone(), ..row_of(r) },
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

pub(super) fn row_of(d: &Record) -> Row {
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

pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, BatchError> {
    let bytes = std::fs::read(path).map_err(|e| BatchError::new(path, format!("cannot read: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| BatchError::new(path, format!("not a ctprep record: {e}")))
}

pub(super) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BatchError> {
    use std::io::Write;
    ctprep_io::write_atomically_named(path, |mut f| {
        f.write_all(bytes).map_err(|e| ctprep_io::Error::io(path, "write", e))
    })
    .map_err(|e: ctprep_io::Error| {
        // The error names the file already; the BatchError names it once.
        let why = e.to_string();
        let why = why.strip_prefix(&format!("{}: ", path.display())).map_or(why.clone(), str::to_owned);
        BatchError::new(path, why)
    })
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
