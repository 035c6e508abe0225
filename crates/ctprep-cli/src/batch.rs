//! `ctprep batch`: the recipe of `ctprep run` over a dataset (ctprep-pipeline's `batch`), with
//! a bar over the cases, a summary table, shards and a Slurm array script.

use std::ffi::OsString;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::Args;
use clap::parser::ValueSource;
use ctprep_pipeline::batch::{Batch, Shard, Summary, cases_from};

use crate::commands::{CmdResult, ExecArgs, UsageError};
use crate::run::RecipeArgs;

/// The parsed command line of the running `batch`, for the options its Slurm script passes on.
static MATCHES: Mutex<Option<clap::ArgMatches>> = Mutex::new(None);

/// Keeps `batch`'s parsed command line (see [`MATCHES`]).
pub(crate) fn keep_matches(m: &clap::ArgMatches) {
    if let Some(("batch", sub)) = m.subcommand()
        && let Ok(mut kept) = MATCHES.lock()
    {
        *kept = Some(sub.clone());
    }
}

/// Options of `ctprep batch`.
#[derive(Debug, Args)]
pub(crate) struct BatchArgs {
    /// The cases: a folder of images (*.nii, *.nii.gz, *.nrrd, *.nhdr; the id of each is its
    /// name's stem) and of DICOM series, found by content in it and below (one case per series;
    /// the id is the series folder's path relative to DIR with _ for /, plus _series<i> where a
    /// folder holds several), or a manifest: .csv with a header line naming the columns id,
    /// image and optionally label, or .jsonl with one {"id": ..., "image": ..., "label": ...}
    /// per line (an image may be a DICOM folder). Paths in a manifest are relative to its folder.
    #[arg(required_unless_present = "summary", value_name = "MANIFEST|DIR")]
    source: Option<PathBuf>,
    /// Output folder: DIR/<id>/ per case (what `ctprep run` writes, plus ctprep.json),
    /// DIR/<id>.failed.json per failed case, DIR/summary.csv and summary.json.
    #[arg(long, value_name = "DIR", required_unless_present = "summary")]
    pub(crate) out: Option<PathBuf>,
    #[command(flatten)]
    recipe: RecipeArgs,
    /// Kernel and threads within each case (with --threads auto, the cases running at once
    /// share the cores).
    #[command(flatten)]
    exec: ExecArgs,
    /// With a folder: each image's label map, its name made from the image's stem, e.g.
    /// '{stem}_seg.nrrd' or '../labels/{stem}.nii.gz' (relative to the folder). Label files
    /// are not cases themselves; an image whose label is missing fails.
    #[arg(long, value_name = "PATTERN")]
    label_pattern: Option<String>,
    /// How far (mm) a label's voxel centres may lie from its image's for the grids to count
    /// as the same (see `ctprep run --label`).
    #[arg(long, value_name = "MM", default_value_t = crate::check::DEFAULT_TOLERANCE_MM)]
    label_tolerance: f64,
    /// Cases run at once (default: one per core, each on one thread: measured faster than one
    /// case at a time on all cores, see docs/BENCHMARKS.md). Memory grows with it: about
    /// 60 MB per 512x512x300 case on one thread.
    #[arg(long, value_name = "N")]
    jobs: Option<NonZeroUsize>,
    /// Run every case again, even those whose record matches.
    #[arg(long)]
    force: bool,
    /// Only shard I of N: the cases whose index in the id-sorted list is I modulo N. Default:
    /// from a Slurm array task (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) or a Kubernetes
    /// Indexed Job (JOB_COMPLETION_INDEX, and JOB_COMPLETIONS set to its completions), else
    /// every case (--shard 0/1: every case inside another array job too). A shard writes no
    /// summary files: run `ctprep batch --summary DIR` after all.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Write DIR/ctprep-batch.sbatch, a Slurm job array script whose task I runs shard I of
    /// this batch (same options), and print its path; submit it with --submit or `sbatch
    /// DIR/ctprep-batch.sbatch`. Resubmitting it (or one task: sbatch --array=I) runs only the
    /// cases not yet done.
    #[arg(long, conflicts_with = "shard")]
    slurm: bool,
    /// With --slurm: array tasks (default: one per case, at most 100).
    #[arg(long, value_name = "N", requires = "slurm")]
    array_size: Option<NonZeroUsize>,
    /// With --slurm: more sbatch options, written into the script as #SBATCH lines, separated
    /// by spaces (no quotes; not --array), e.g. "--partition=cpu --time=02:00:00 --cpus-per-task=4".
    #[arg(long, value_name = "OPTIONS", requires = "slurm", allow_hyphen_values = true)]
    sbatch_args: Option<String>,
    /// With --slurm: submit the script with sbatch (prints sbatch's job id line).
    #[arg(long, requires = "slurm")]
    submit: bool,
    /// Summarise the records in DIR (every shard's, after all ran) instead of running:
    /// prints the table, writes DIR/summary.csv and DIR/summary.json; exit status 1 when any
    /// case of the batch's list failed or has no record (missing).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["source", "out", "slurm", "shard", "force"])]
    summary: Option<PathBuf>,
    /// Print the summary as one JSON object on stdout (the table still goes to stderr).
    #[arg(long)]
    json: bool,
    /// Also write DIR/report.html, the page that shows every case (see `ctprep report`).
    /// Not with shards: run `ctprep report DIR` after all of them.
    #[arg(long, conflicts_with_all = ["shard", "slurm"])]
    report: bool,
}

/// The options of `batch` an array task does not take over: where the cases and outputs are
/// (passed absolute), the Slurm options themselves, --force (a resubmitted array would redo
/// every case), the global --profile (passed absolute) and --quiet (every task gets it).
const NOT_PASSED_ON: [&str; 12] = [
    "source",
    "out",
    "slurm",
    "array_size",
    "sbatch_args",
    "submit",
    "summary",
    "force",
    "shard",
    "profile",
    "quiet",
    "report",
];

impl BatchArgs {
    /// Whether `--slurm` was given.
    pub(crate) fn slurm(&self) -> bool {
        self.slurm
    }

    /// Checks the recipe and the products without running anything.
    pub(crate) fn check(&self) -> Result<(), UsageError> {
        self.recipe.recipe()?;
        self.recipe.products()?;
        Ok(())
    }
}

pub(crate) fn run(args: &BatchArgs) -> CmdResult {
    match outcome(args)? {
        Some((summary, written)) => {
            // The table first, then the page (also when cases failed: that is when it helps).
            let finished = finish(&summary, args.json, written.as_deref());
            report_if_asked(args, &summary, written.as_deref())?;
            finished
        }
        None => Ok(()),
    }
}

/// With `--report`: the page of the folder the summary went to.
pub(crate) fn report_if_asked(
    args: &BatchArgs,
    summary: &Summary,
    written: Option<&Path>,
) -> Result<(), Box<dyn std::error::Error>> {
    if let (true, Some(dir)) = (args.report, written) {
        report(dir, Some(summary), None)?;
    }
    Ok(())
}

/// A batch's summary and the folder its summary files went to (none for a shard).
type Outcome = (Summary, Option<PathBuf>);

/// The batch's [`Outcome`], or `None` for `--slurm`, which writes (and submits) a script
/// instead of running cases.
pub(crate) fn outcome(args: &BatchArgs) -> Result<Option<Outcome>, Box<dyn std::error::Error>> {
    if let Some(dir) = &args.summary {
        let summary = Summary::of_records(dir)?;
        summary.write(dir)?;
        return Ok(Some((summary, Some(dir.clone()))));
    }
    let (Some(source), Some(out)) = (&args.source, &args.out) else {
        return Err(UsageError("give the cases (a folder or a manifest) and --out DIR".to_owned()).into());
    };
    if !(args.label_tolerance.is_finite() && args.label_tolerance >= 0.0) {
        return Err(UsageError(format!("--label-tolerance {}: must be 0 or more mm", args.label_tolerance)).into());
    }
    let recipe = args.recipe.recipe()?;
    let products = args.recipe.products()?;
    let exec = args.exec.exec();
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    if let ctprep_core::Threads::Count(n) = exec.threads {
        crate::commands::check_thread_count("--threads", n.get())?;
    }
    if let Some(j) = args.jobs {
        crate::commands::check_thread_count("--jobs", j.get())?;
    }
    let all = cases_from(source, args.label_pattern.as_deref())?;
    if args.slurm {
        slurm(args, source, out, &all)?;
        return Ok(None);
    }
    let (cases, shard) = match args.shard {
        Some(s) => (s.select(&all), Some((s, "--shard"))),
        None => match Shard::from_env(|k| std::env::var(k).ok()).map_err(UsageError)? {
            Some((s, from)) => (s.select(&all), Some((s, from))),
            None => (all.clone(), None),
        },
    };
    if let (Some((_, from)), true) = (shard, args.report) {
        return Err(UsageError(format!(
            "--report with a shard (from {from}): run `ctprep report {}` after all the shards",
            out.display()
        ))
        .into());
    }
    if let Some((s, from)) = shard {
        eprintln!("shard {s} (from {from}): {} of {} cases", cases.len(), all.len());
    }
    // One case per core unless threads per case were asked for; with `auto` threads the cases
    // running at once share the cores.
    let jobs = args.jobs.map_or_else(
        || match exec.threads {
            ctprep_core::Threads::Count(n) => (cores / n.get()).max(1),
            _ => cores,
        },
        NonZeroUsize::get,
    );
    let batch = Batch::new(recipe)
        .save(&products)
        .gzip_level(args.recipe.gzip_level)
        .label_tolerance_mm(args.label_tolerance)
        .exec(exec)
        .jobs(jobs)
        .force(args.force)
        .dicom(crate::input::dicom());
    let bars = crate::progress::Bars::default();
    let summary = batch.run(&cases, &all, out, &bars)?;
    if shard.is_none() {
        summary.write(out)?;
    }
    Ok(Some((summary, shard.is_none().then(|| out.clone()))))
}

/// Writes `dir/report.html` (making missing thumbnails `jobs` at a time, default one per core)
/// and says where.
pub(crate) fn report(
    dir: &Path,
    summary: Option<&Summary>,
    jobs: Option<usize>,
) -> Result<ctprep_pipeline::batch::ReportOutcome, Box<dyn std::error::Error>> {
    if let Some(j) = jobs {
        crate::commands::check_thread_count("--jobs", j)?;
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, NonZeroUsize::get));
    let bars = crate::progress::Bars::default();
    let done = ctprep_pipeline::batch::write_report(dir, summary, jobs, &bars)?;
    let made = if done.rendered > 0 { format!(", thumbnails made for {}", done.rendered) } else { String::new() };
    eprintln!("report: {} ({} cases, {} with warnings{made})", done.path.display(), done.cases, done.with_warnings);
    Ok(done)
}

/// Prints the table (and the JSON), and fails when a case failed.
fn finish(summary: &Summary, json: bool, written: Option<&Path>) -> CmdResult {
    eprint!("{}", summary.table());
    if let Some(dir) = written {
        eprintln!("summary: {}, {}", dir.join("summary.csv").display(), dir.join("summary.json").display());
    }
    if json {
        crate::sayln!("{}", serde_json::to_string(summary)?)?;
    }
    let not_done = summary.failed + summary.busy + summary.missing;
    if not_done > 0 {
        let mut why = vec![format!("{} failed", summary.failed)];
        for (n, what) in [(summary.busy, "busy elsewhere"), (summary.missing, "missing")] {
            if n > 0 {
                why.push(format!("{n} {what}"));
            }
        }
        return Err(format!("{not_done} of {} cases not done ({})", summary.cases, why.join(", ")).into());
    }
    Ok(())
}

/// `--slurm`: writes (and with `--submit` submits) the array script, and the batch's case list.
fn slurm(args: &BatchArgs, source: &Path, out: &Path, all: &[ctprep_pipeline::batch::Case]) -> CmdResult {
    let cases = all.len();
    let tasks = args.array_size.map_or(cases.min(100), NonZeroUsize::get).clamp(1, cases.max(1));
    let sbatch = sbatch_lines(args.sbatch_args.as_deref().unwrap_or(""))?;
    let abs = |p: &Path| std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()));
    let (source, out) = (abs(source)?, abs(out)?);
    // Slurm reads `%` in --output as a pattern and cuts #SBATCH lines at spaces.
    let text = out.to_string_lossy();
    if text.contains(['%', ' ', '\t', '\n']) {
        return Err(UsageError(format!(
            "--out {text}: with --slurm, the folder's path may hold no '%' or spaces (Slurm's log path takes it)"
        ))
        .into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot tell where this ctprep is: {e}"))?;
    let mut command: Vec<OsString> =
        vec![exe.into(), "batch".into(), source.into(), "--out".into(), out.clone().into()];
    command.extend(passed_on()?);
    let words: Vec<String> = command.iter().map(|w| shell_quote(w)).collect();
    let logs = out.join("slurm-logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: cannot create the folder: {e}", logs.display()))?;
    ctprep_pipeline::batch::write_case_list(&out, all)?;
    let mut script = String::from("#!/bin/sh\n");
    script.push_str("# Written by `ctprep batch --slurm`: array task I runs shard I of the batch's cases.\n");
    script.push_str("# Resubmitting (all of it, or --array=I for one task) runs only the cases not yet done.\n");
    script.push_str(&format!("# Afterwards: ctprep batch --summary {}\n", shell_quote(out.as_os_str())));
    script.push_str("#SBATCH --job-name=ctprep-batch\n");
    script.push_str(&format!("#SBATCH --array=0-{}\n", tasks - 1));
    script.push_str(&format!("#SBATCH --output={}\n", logs.join("%A_%a.log").display()));
    for line in sbatch {
        script.push_str(&format!("#SBATCH {line}\n"));
    }
    // The shard count is fixed here: a resubmission of some tasks (--array=3) keeps its shards.
    script.push_str(&format!("exec {} --quiet --shard \"$SLURM_ARRAY_TASK_ID/{tasks}\"\n", words.join(" ")));
    let path = out.join("ctprep-batch.sbatch");
    ctprep_io::write_atomically_named(&path, |mut f| {
        use std::io::Write;
        f.write_all(script.as_bytes()).map_err(|e| ctprep_io::Error::io(&path, "write", e))
    })?;
    crate::sayln!("{}", path.display())?;
    eprintln!("{tasks} array tasks over {cases} cases; after them: ctprep batch --summary {}", out.display());
    if args.submit {
        let done = std::process::Command::new("sbatch").arg(&path).output().map_err(|e| {
            format!("cannot run sbatch ({e}): is this a Slurm login node? The script is {}", path.display())
        })?;
        if !done.status.success() {
            return Err(format!(
                "sbatch {} failed ({}): {}",
                path.display(),
                done.status,
                String::from_utf8_lossy(&done.stderr).trim()
            )
            .into());
        }
        crate::say!("{}", String::from_utf8_lossy(&done.stdout))?;
    }
    Ok(())
}

/// The options given on this command line that every array task takes over, as given.
fn passed_on() -> Result<Vec<OsString>, Box<dyn std::error::Error>> {
    let missing = "the command line to pass on is not at hand";
    let m = MATCHES.lock().map_err(|_| missing)?.clone().ok_or(missing)?;
    let cmd = <crate::commands::Cli as clap::CommandFactory>::command();
    let batch = cmd.find_subcommand("batch").ok_or(missing)?;
    let mut words = Vec::new();
    for arg in batch.get_arguments() {
        let id = arg.get_id().as_str();
        if NOT_PASSED_ON.contains(&id) || m.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        if arg.get_action().takes_values() {
            // `--long=value`: a value starting with '-' stays a value.
            for v in m.get_raw(id).into_iter().flatten() {
                let mut w = OsString::from(format!("--{long}="));
                w.push(v);
                words.push(w);
            }
        } else {
            words.push(OsString::from(format!("--{long}")));
        }
    }
    if let Some(p) = m.get_one::<PathBuf>("profile") {
        let mut w = OsString::from("--profile=");
        w.push(std::path::absolute(p)?);
        words.push(w);
    }
    Ok(words)
}

/// `--sbatch-args` as `#SBATCH` lines: each word starting with `-` begins a line, the words
/// after it (an option's value) join it.
fn sbatch_lines(s: &str) -> Result<Vec<String>, UsageError> {
    if s.contains(['"', '\'', '\\', '\n', '#']) {
        return Err(UsageError(format!(
            "--sbatch-args {s:?}: options separated by spaces, without quotes, backslashes or '#'"
        )));
    }
    if s.split_whitespace().any(|w| w.starts_with("-a") || w.starts_with("--array")) {
        return Err(UsageError(format!("--sbatch-args {s:?}: the array is --array-size's (the shards follow it)")));
    }
    let mut lines: Vec<String> = Vec::new();
    for w in s.split_whitespace() {
        match lines.last_mut() {
            Some(line) if !w.starts_with('-') => {
                line.push(' ');
                line.push_str(w);
            }
            _ if w.starts_with('-') => lines.push(w.to_owned()),
            _ => return Err(UsageError(format!("--sbatch-args {s:?}: {w:?} is not an option (they start with -)"))),
        }
    }
    Ok(lines)
}

/// `w` quoted for sh: as it is when it holds only safe characters, else in single quotes.
fn shell_quote(w: &std::ffi::OsStr) -> String {
    let s = w.to_string_lossy();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=,:@%+".contains(c)) {
        return s.into_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbatch_options_and_quoting() {
        assert_eq!(
            sbatch_lines(" -p cpu --time=01:00:00  -c 4 --exclusive").expect("splits"),
            ["-p cpu", "--time=01:00:00", "-c 4", "--exclusive"]
        );
        assert!(sbatch_lines("cpu -p").is_err());
        assert!(sbatch_lines("--comment='x y'").is_err());
        assert!(sbatch_lines("").expect("empty").is_empty());
        assert_eq!(shell_quote("/a/b-c_d.nii.gz".as_ref()), "/a/b-c_d.nii.gz");
        assert_eq!(shell_quote("it's here".as_ref()), r"'it'\''s here'");
        assert_eq!(shell_quote("".as_ref()), "''");
        assert_eq!(shell_quote("$HOME".as_ref()), "'$HOME'");
    }
}
