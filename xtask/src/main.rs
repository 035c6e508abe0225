//! Developer tasks for the ctprep workspace: `cargo xtask phantom ...` writes a synthetic CT,
//! `cargo xtask bench-report` turns criterion's estimates into Markdown tables, and with `--write`
//! puts them into docs/BENCHMARKS.md as this machine's section; `cargo xtask test` runs the
//! whole test suite and says at the end which tests skipped for lack of the shared real data;
//! `cargo xtask fuzz` runs the fuzz targets for a bounded time and `cargo xtask fuzz-corpus`
//! rebuilds their seed corpus.
#![forbid(unsafe_code)]

mod fuzz;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ctprep_io::{AxCodes, WriteOptions, write_nifti};
use ctprep_phantom::{Phantom, StoredType};
use serde_json::Value;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Developer tasks for ctprep")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Write a deterministic CT phantom (HU) and optionally its label map.
    ///
    /// Example: cargo xtask phantom --shape 512x512x300 --spacing 0.78,0.78,2.5 --axcodes LPS
    /// --dtype i16 --seed 1 --out ct.nii.gz
    Phantom {
        /// Shape in voxels, in storage order: 512x512x300 or 512,512,300.
        #[arg(long, value_parser = parse_triple::<usize>)]
        shape: [usize; 3],
        /// Voxel spacing in mm per stored axis: one number or three (0.78,0.78,2.5).
        #[arg(long, default_value = "1", value_parser = parse_spacing)]
        spacing: [f64; 3],
        /// Axis codes of the stored volume (RAS, LPS, PIR, ...).
        #[arg(long, default_value = "RAS")]
        axcodes: AxCodes,
        /// Stored type: i16 (HU) or u16 (HU + 1024 with scl_inter = -1024).
        #[arg(long, default_value = "i16", value_parser = parse_stored)]
        dtype: StoredType,
        /// Noise seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Noise amplitude in HU.
        #[arg(long, default_value_t = 10.0)]
        noise: f64,
        /// Output file (.nii or .nii.gz).
        #[arg(long)]
        out: PathBuf,
        /// Also write the matching uint8 label map here.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// gzip level for .nii.gz outputs (0-9).
        #[arg(long, default_value_t = ctprep_io::DEFAULT_GZIP_LEVEL, value_parser = clap::value_parser!(u32).range(0..=9))]
        gzip_level: u32,
        /// Also write the CT as a DICOM series (one file per slice) into this folder (created).
        #[arg(long, value_name = "DIR")]
        dicom: Option<PathBuf>,
        /// With --dicom: RLE Lossless pixel data instead of uncompressed.
        #[arg(long, requires = "dicom")]
        rle: bool,
    },
    /// Run the criterion benches (`cargo bench -p ctprep-benches`, filtered to `--group`), then
    /// print their estimates as Markdown tables: kernel/threads, size, time, GB/s, ratio to the
    /// `copy` row of the same size, speed-up over the `scalar` row. `--existing` reports what
    /// criterion already wrote instead of running anything.
    BenchReport {
        /// Where criterion wrote its results.
        #[arg(long, default_value = "target/criterion")]
        criterion_dir: PathBuf,
        /// Only this group (for example io_read, or threads); all groups when absent. Also the
        /// criterion filter of the run.
        #[arg(long)]
        group: Option<String>,
        /// Report the results already under --criterion-dir; run nothing.
        #[arg(long)]
        existing: bool,
        /// Also put the tables into this Markdown file (for example docs/BENCHMARKS.md) as this
        /// machine's section: a `## Machine: ...` heading, the environment, the tables. A section
        /// with the same heading is replaced; otherwise the section is appended.
        #[arg(long, value_name = "FILE")]
        write: Option<PathBuf>,
    },
    /// Time `ctprep batch` over N generated phantoms against a shell loop of `ctprep run` and the
    /// same recipe in SimpleITK (benches/peers/batch_bench.sh): builds the release binary, then
    /// prints wall time, cases/min, cases/min per core and peak memory of each. SimpleITK comes
    /// from $PYTHON (pip install -r benches/peers/requirements.txt); --no-simpleitk leaves it out.
    ///
    /// Example: cargo xtask bench-batch --cases 6 --shape 512x512x300
    BenchBatch {
        /// How many phantoms.
        #[arg(long, default_value_t = 8)]
        cases: usize,
        /// Their shape (0.78 x 0.78 x 2.5 mm, int16, LPS).
        #[arg(long, default_value = "512x512x300")]
        shape: String,
        /// Where the phantoms and outputs go.
        #[arg(long, default_value = "/tmp/batchbench")]
        workdir: PathBuf,
        /// Leave the SimpleITK loop out.
        #[arg(long)]
        no_simpleitk: bool,
    },
    /// Run `cargo test --workspace --exclude ctprep-py` (with any further arguments; the Python
    /// package has `cargo xtask pytest`), then say how many tests
    /// skipped because the shared real data (`../shared/data`, or `$CTPREP_SHARED_DATA`) is
    /// absent, and which.
    Test {
        /// Arguments passed on to `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The Python package's tests: into a virtual environment (`--venv`, made when missing
    /// with `--python`), install the pinned test requirements (python/requirements-test.txt)
    /// and the package built from this checkout (`pip install ./python`, a release build by
    /// maturin), then run pytest on python/tests with any further arguments. Needs Python 3.11
    /// or newer (the pinned numpy and scipy need it; the package itself takes 3.9) with pip and
    /// venv, and the package index (or a pip cache).
    Pytest {
        /// The virtual environment to use (made when missing).
        #[arg(long, default_value = "target/py-venv")]
        venv: PathBuf,
        /// The Python that makes the environment.
        #[arg(long, default_value = "python3")]
        python: String,
        /// Arguments passed on to pytest.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run every cargo-fuzz target (fuzz/fuzz_targets) for a bounded time, one after the
    /// other, and print executions and findings per target. Needs cargo-fuzz (`cargo install
    /// cargo-fuzz --locked`); builds with RUSTC_BOOTSTRAP=1, so a stable toolchain does.
    /// Findings are saved to fuzz/artifacts/<target>/ and make the task fail.
    ///
    /// Example: cargo xtask fuzz --seconds 1200 --target nifti_read
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only this target (repeat for several): nifti_header, nifti_read, nrrd_read, gzip_read,
        /// gzip_stream, deflate_roundtrip, run_options, batch_manifest, dicom_file, dicom_series.
        #[arg(long)]
        target: Vec<String>,
        /// libFuzzer's sanitizer: address (the default), or none (builds and runs faster).
        #[arg(long, default_value = "address", value_parser = ["address", "none"])]
        sanitizer: String,
        /// Seconds one input may take before it counts as a hang.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Rebuild the committed seed corpus (fuzz/corpus/<target>/) from the fixtures: the small
    /// NIfTI fixtures plain and gzipped, header mutants, encoder data, run option lists.
    FuzzCorpus,
}

/// `cargo xtask bench-batch`: the release binary, then benches/peers/batch_bench.sh.
fn bench_batch(cases: usize, shape: &str, workdir: &Path, no_simpleitk: bool) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
    let built = std::process::Command::new("cargo")
        .current_dir(root)
        .args(["build", "--release", "--locked", "-p", "ctprep-cli", "--bin", "ctprep"])
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !built.success() {
        return Err(format!("cargo build --release failed ({built})"));
    }
    let mut bench = std::process::Command::new("bash");
    bench.current_dir(root).arg("benches/peers/batch_bench.sh").arg(cases.to_string()).arg(shape).arg(workdir);
    if no_simpleitk {
        bench.env("SKIP_SITK", "1");
    }
    match bench.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("benches/peers/batch_bench.sh failed ({s})")),
        Err(e) => Err(format!("cannot run bash: {e}")),
    }
}

fn parse_triple<T: std::str::FromStr>(s: &str) -> Result<[T; 3], String> {
    let parts: Vec<&str> = s.split([',', 'x']).map(str::trim).collect();
    let [a, b, c] = parts.as_slice() else { return Err(format!("{s:?}: expected three values, e.g. 512x512x300")) };
    let p = |v: &str| v.parse::<T>().map_err(|_| format!("{v:?} in {s:?} is not a valid number"));
    Ok([p(a)?, p(b)?, p(c)?])
}

fn parse_spacing(s: &str) -> Result<[f64; 3], String> {
    if let Ok(v) = s.trim().parse::<f64>() {
        return Ok([v; 3]);
    }
    parse_triple::<f64>(s)
}

fn parse_stored(s: &str) -> Result<StoredType, String> {
    match s.to_ascii_lowercase().as_str() {
        "i16" | "int16" => Ok(StoredType::I16),
        "u16" | "uint16" => Ok(StoredType::U16),
        _ => Err(format!("{s:?}: expected i16 or u16")),
    }
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Phantom { shape, spacing, axcodes, dtype, seed, noise, out, labels, gzip_level, dicom, rle } => {
            let p = Phantom::new(shape).spacing_mm(spacing).axcodes(axcodes).stored(dtype).seed(seed).noise_hu(noise);
            phantom(&p, &out, labels.as_deref(), gzip_level).and_then(|()| match dicom {
                Some(dir) => {
                    let encoding = if rle { PixelEncoding::Rle } else { PixelEncoding::Native };
                    let ct = p.ct().map_err(|e| e.to_string())?;
                    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                    write_dicom_series(&ct, &dir, encoding).map_err(|e| format!("{}: {e}", dir.display()))?;
                    println!("wrote {} ({encoding:?} DICOM series)", dir.display());
                    Ok(())
                }
                None => Ok(()),
            })
        }
        Task::BenchReport { criterion_dir, group, existing, write } => {
            if existing { Ok(()) } else { run_benches(group.as_deref()) }
                .and_then(|()| bench_report(&criterion_dir, group.as_deref(), write.as_deref()))
        }
        Task::Test { args } => return test(&args),
        Task::Pytest { venv, python, args } => pytest(&venv, &python, &args),
        Task::BenchBatch { cases, shape, workdir, no_simpleitk } => bench_batch(cases, &shape, &workdir, no_simpleitk),
        Task::Fuzz { seconds, target, sanitizer, timeout } => fuzz::fuzz(seconds, &target, &sanitizer, timeout),
        Task::FuzzCorpus => fuzz::corpus(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// `cargo test --workspace ARGS` with `CTPREP_SKIP_LOG` set, so each test that skips for lack
/// of the shared data adds a line (`ctprep_testdata::shared_data_dir`); the count comes last.
fn test(args: &[String]) -> ExitCode {
    let log = std::env::temp_dir().join(format!("ctprep-skipped-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        // The Python extension (ctprep-py) is tested from Python: `cargo xtask pytest`.
        .args(["test", "--workspace", "--exclude", "ctprep-py"])
        .args(args)
        .env("CTPREP_SKIP_LOG", &log)
        .status();
    let skipped = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    println!("{}", skip_summary(&skipped));
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(s.code().map_or(1, |c| c.clamp(1, 255) as u8)),
        Err(e) => {
            eprintln!("error: cannot run cargo test: {e}");
            ExitCode::from(1)
        }
    }
}

/// `cargo xtask pytest`: the venv, the pinned requirements, the package, pytest.
fn pytest(venv: &Path, python: &str, args: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let venv = root.join(venv);
    let bin = venv.join("bin");
    // As `activate` does: the build backend runs the `maturin` the environment installed.
    let mut dirs = vec![bin.clone()];
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    let path = std::env::join_paths(dirs).map_err(|e| format!("PATH: {e}"))?;
    let run = |program: &Path, words: &[&str]| -> Result<(), String> {
        eprintln!("+ {} {}", program.display(), words.join(" "));
        let status = std::process::Command::new(program)
            .args(words)
            .current_dir(&root)
            .env("PATH", &path)
            .env("VIRTUAL_ENV", &venv)
            // maturin builds with the committed Cargo.lock, as `cargo xtask test --locked` does.
            .env("MATURIN_PEP517_ARGS", "--locked")
            .status()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{} {} failed ({status})", program.display(), words.join(" ")))
        }
    };
    if !bin.join("python").exists() {
        run(Path::new(python), &["-m", "venv", &venv.to_string_lossy()])?;
    }
    let py = bin.join("python");
    run(&py, &["-m", "pip", "install", "--quiet", "--upgrade", "pip"])?;
    run(&py, &["-m", "pip", "install", "--quiet", "-r", "python/requirements-test.txt"])?;
    // The build requirements (maturin) are in the requirements file: no isolated build env.
    run(
        &py,
        &["-m", "pip", "install", "--quiet", "--no-build-isolation", "--force-reinstall", "--no-deps", "./python"],
    )?;
    let mut words = vec!["-m", "pytest", "python/tests"];
    words.extend(args.iter().map(String::as_str));
    run(&py, &words)
}

/// The workspace root (this crate's parent folder).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The closing line of `cargo xtask test`: how many tests skipped for lack of the shared data
/// (one log line each), and their names.
fn skip_summary(log: &str) -> String {
    let mut names: Vec<&str> = log.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    names.sort_unstable();
    names.dedup();
    match names.len() {
        0 => "shared data: no test skipped".to_owned(),
        n => format!("shared data: {n} tests SKIPPED, the shared data folder is absent: {}", names.join(", ")),
    }
}

use ctprep_phantom::dicom::{PixelEncoding, write_dicom_series};

fn phantom(p: &Phantom, out: &Path, labels: Option<&Path>, level: u32) -> Result<(), String> {
    let opts = WriteOptions::new().gzip_level(level);
    let ct = p.ct().map_err(|e| e.to_string())?;
    write_nifti(&ct, out, &opts).map_err(|e| e.to_string())?;
    println!("wrote {} ({:?} {} {})", out.display(), ct.shape(), ct.dtype(), ct.axcodes_string());
    if let Some(l) = labels {
        write_nifti(&p.labels().map_err(|e| e.to_string())?, l, &opts).map_err(|e| e.to_string())?;
        println!("wrote {}", l.display());
    }
    Ok(())
}

/// One benchmark's result.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    group: String,
    function: String,
    size: String,
    mean_ns: f64,
    bytes: Option<f64>,
}

/// Reads one `new/` folder of criterion's output.
fn read_row(new_dir: &Path) -> Result<Row, String> {
    let read = |f: &str| -> Result<Value, String> {
        let p = new_dir.join(f);
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
    };
    let b = read("benchmark.json")?;
    let e = read("estimates.json")?;
    Ok(Row {
        group: b["group_id"].as_str().unwrap_or_default().to_owned(),
        function: b["function_id"].as_str().unwrap_or_default().to_owned(),
        size: b["value_str"].as_str().unwrap_or_default().to_owned(),
        mean_ns: e["mean"]["point_estimate"].as_f64().ok_or_else(|| format!("{}: no mean", new_dir.display()))?,
        bytes: b["throughput"]["Bytes"].as_f64(),
    })
}

/// Every `<group>/<function>/<size>/new` under the criterion folder.
fn collect(dir: &Path) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.file_name().is_some_and(|n| n == "new") && p.join("benchmark.json").is_file() {
                rows.push(read_row(&p)?);
            } else if p.is_dir() && p.file_name().is_some_and(|n| n != "report" && n != "base" && n != "change") {
                stack.push(p);
            }
        }
    }
    Ok(rows)
}

/// The machine the benchmarks ran on, as the report's header states it.
#[derive(Clone, Debug, PartialEq)]
struct Environment {
    cpu: String,
    cores: usize,
    memory: String,
    rustc: String,
    rustflags: Option<String>,
    target_features: String,
    date: String,
}

impl Environment {
    /// The `## Machine: ...` heading that names this machine's section in docs/BENCHMARKS.md:
    /// CPU, cores and, when set, RUSTFLAGS (a native build is a section of its own).
    fn heading(&self) -> String {
        let flags = self.rustflags.as_ref().map_or(String::new(), |f| format!(", RUSTFLAGS={f}"));
        format!("## Machine: {}, {} cores{flags}", self.cpu, self.cores)
    }

    /// One line: CPU, cores, rustc, target features, date.
    fn line(&self) -> String {
        let flags = self.rustflags.as_deref().unwrap_or("(none: default target features)");
        format!(
            "CPU: {}; cores: {}; memory: {}; {}; RUSTFLAGS: {flags}; target features: {}; date: {}\n",
            self.cpu, self.cores, self.memory, self.rustc, self.target_features, self.date
        )
    }
}

fn environment() -> Environment {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let rustflags = std::env::var("RUSTFLAGS").ok().filter(|f| !f.trim().is_empty());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned())))
        .and_then(|kb| kb.trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or_else(|| "unknown".to_owned(), |kb| format!("{:.1} GiB", kb / (1024.0 * 1024.0)));
    // The target features the benches were compiled with: rustc's view under these RUSTFLAGS.
    let mut cfg = std::process::Command::new("rustc");
    cfg.args(["--print", "cfg"]);
    if let Some(f) = &rustflags {
        cfg.args(f.split_whitespace());
    }
    let target_features = cfg
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("target_feature=\"").map(|f| f.trim_end_matches('"').to_owned()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    Environment { cpu, cores, memory, rustc, rustflags, target_features, date: civil_date(days as i64) }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (UTC), by Howard Hinnant's `civil_from_days`:
/// one date needs no calendar crate.
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `doc` with the section that starts at the line `heading` (up to the next `## ` heading) replaced
/// by `section`, or with `section` appended when no such line exists.
fn merge_section(doc: &str, heading: &str, section: &str) -> String {
    let section = section.trim_end();
    let mut lines: Vec<&str> = doc.lines().collect();
    let start = lines.iter().position(|l| l.trim_end() == heading);
    let Some(start) = start else {
        let mut out = doc.trim_end().to_owned();
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(section);
        out.push('\n');
        return out;
    };
    let end = lines[start + 1..].iter().position(|l| l.starts_with("## ")).map_or(lines.len(), |i| start + 1 + i);
    let replaced: Vec<&str> = section.lines().chain(if end < lines.len() { Some("") } else { None }).collect();
    lines.splice(start..end, replaced);
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Why there is nothing to report, and how to make something: a fresh clone has no criterion folder.
fn no_results(dir: &Path) -> String {
    format!(
        "no benchmark results yet: {} does not exist or holds no criterion estimates.\n\
         Run a benchmark first, for example `cargo bench -p ctprep-benches --bench io` (benches: io, intensity, \
         projection, resample, pipeline), then `cargo xtask bench-report` again.",
        dir.display()
    )
}

/// The Markdown tables, one per group.
fn render(rows: &[Row]) -> String {
    let mut groups: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        groups.entry(&r.group).or_default().push(r);
    }
    let mut out = String::new();
    for (group, mut rs) in groups {
        rs.sort_by(|a, b| a.size.cmp(&b.size).then(a.function.cmp(&b.function)));
        // Ids are `variant`, `stage-variant` or `stage-kernel/threads`; the baselines are the
        // `copy` and the `scalar` (or `scalar/1`) rows of the same stage and size.
        let find = |of: &Row, base: &str| {
            let stage = of.function.rsplit_once('-').map(|(stage, _)| stage);
            let wants: Vec<String> = match stage {
                Some(st) => vec![format!("{st}-{base}"), format!("{st}-{base}/1")],
                None => vec![base.to_owned(), format!("{base}/1")],
            };
            rs.iter().find(|r| wants.contains(&r.function) && r.size == of.size).map(|r| r.mean_ns)
        };
        let _ = writeln!(out, "\n### {group}\n");
        let _ = writeln!(out, "| variant | size | time (ms) | GB/s | vs copy | vs scalar |");
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
        for r in &rs {
            let gbs = r.bytes.map(|b| b / r.mean_ns);
            let ratio = |base: Option<f64>| base.map_or("".to_owned(), |b| format!("{:.2}x", b / r.mean_ns));
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {} | {} | {} |",
                r.function,
                r.size,
                r.mean_ns / 1e6,
                gbs.map_or("".to_owned(), |g| format!("{g:.2}")),
                ratio(find(r, "copy")),
                ratio(find(r, "scalar")),
            );
        }
    }
    out
}

/// `cargo bench -p ctprep-benches`, every bench or those matching `group` (criterion's filter).
fn run_benches(group: Option<&str>) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut c = std::process::Command::new(cargo);
    c.args(["bench", "-p", "ctprep-benches"]);
    if let Some(g) = group {
        c.args(["--", g]);
    }
    match c.status() {
        Ok(st) if st.success() => Ok(()),
        Ok(st) => Err(format!("cargo bench failed ({st})")),
        Err(e) => Err(format!("cannot run cargo bench: {e}")),
    }
}

/// Prints the report, and with `write` puts it into that Markdown file as this machine's section.
fn bench_report(dir: &Path, group: Option<&str>, write: Option<&Path>) -> Result<(), String> {
    let env = environment();
    let tables = report_tables(dir, group)?;
    print!("{}{tables}", env.line());
    if let Some(path) = write {
        write_section(path, &env, &tables)?;
        eprintln!("wrote the section \"{}\" into {}", env.heading(), path.display());
    }
    Ok(())
}

/// The Markdown tables of every group (or of `group`), or the message saying how to make results.
fn report_tables(dir: &Path, group: Option<&str>) -> Result<String, String> {
    if !dir.is_dir() {
        return Err(no_results(dir));
    }
    let mut rows = collect(dir)?;
    if rows.is_empty() {
        return Err(no_results(dir));
    }
    if let Some(g) = group {
        rows.retain(|r| r.group == g);
        if rows.is_empty() {
            return Err(format!("no results for the group {g:?} under {}", dir.display()));
        }
    }
    Ok(render(&rows))
}

/// Replaces or appends this machine's section (heading, environment line, tables) in `path`,
/// creating the file when it does not exist.
fn write_section(path: &Path, env: &Environment, tables: &str) -> Result<(), String> {
    let doc = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".to_owned(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let heading = env.heading();
    let section = format!("{heading}\n\n{}{tables}", env.line());
    std::fs::write(path, merge_section(&doc, &heading, &section)).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(function: &str, mean_ns: f64) -> Row {
        Row { group: "g".into(), function: function.into(), size: "64".into(), mean_ns, bytes: Some(1e9) }
    }

    #[test]
    fn table_ratios() {
        let t = render(&[row("copy", 1e8), row("scalar", 4e8), row("simd", 2e8)]);
        // 1e9 bytes in 0.2 s is 5 GB/s; copy is 2x faster than simd (0.50x), simd is 2x scalar.
        assert!(t.contains("| simd | 64 | 200.00 | 5.00 | 0.50x | 2.00x |"), "{t}");
        assert!(t.contains("| copy | 64 | 100.00 | 10.00 | 1.00x | 4.00x |"), "{t}");
    }

    #[test]
    fn kernel_prefixed_ids_use_their_own_baselines() {
        let t = render(&[
            row("a-copy", 1e8),
            row("a-scalar", 4e8),
            row("a-simd", 2e8),
            row("b-copy", 5e7),
            row("b-simd", 1e8),
        ]);
        assert!(t.contains("| a-simd | 64 | 200.00 | 5.00 | 0.50x | 2.00x |"), "{t}");
        assert!(t.contains("| b-simd | 64 | 100.00 | 10.00 | 0.50x |  |"), "{t}");
    }

    #[test]
    fn kernel_thread_ids_use_the_one_thread_oracle() {
        let t = render(&[
            row("mip-copy", 1e8),
            row("mip-scalar/1", 8e8),
            row("mip-dispatched/2", 2e8),
            row("mip_k31-dispatched/1", 4e8),
        ]);
        assert!(t.contains("| mip-dispatched/2 | 64 | 200.00 | 5.00 | 0.50x | 4.00x |"), "{t}");
        assert!(t.contains("| mip-scalar/1 | 64 | 800.00 | 1.25 | 0.12x | 1.00x |"), "{t}");
        assert!(t.contains("| mip_k31-dispatched/1 | 64 | 400.00 | 2.50 |  |  |"), "{t}");
    }

    #[test]
    fn reads_criterion_files() {
        let dir = tempfile_dir("reads");
        let new = dir.join("io_read/copy/512/new");
        std::fs::create_dir_all(&new).expect("mkdir");
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"io_read","function_id":"copy","value_str":"512","throughput":{"Bytes":1000}}"#,
        )
        .expect("write");
        std::fs::write(new.join("estimates.json"), r#"{"mean":{"point_estimate":2000.0}}"#).expect("write");
        let rows = collect(&dir).expect("reads");
        assert_eq!(
            rows,
            vec![Row {
                group: "io_read".into(),
                function: "copy".into(),
                size: "512".into(),
                mean_ns: 2000.0,
                bytes: Some(1000.0)
            }]
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    /// A folder of its own per test: the tests of one process run side by side.
    fn tempfile_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn skip_summaries_count_each_test_once() {
        assert_eq!(skip_summary(""), "shared data: no test skipped");
        let s = skip_summary("b_test\na_test\nb_test\n");
        assert_eq!(s, "shared data: 2 tests SKIPPED, the shared data folder is absent: a_test, b_test");
    }

    #[test]
    fn missing_criterion_folder_says_how_to_make_results() {
        let base = tempfile_dir("missing");
        let dir = base.join("target/criterion");
        let err = report_tables(&dir, None).expect_err("no results");
        assert!(err.starts_with("no benchmark results yet"), "{err}");
        assert!(err.contains("cargo bench -p ctprep-benches --bench io"), "{err}");
        // An empty folder (criterion created, nothing run) says the same.
        std::fs::create_dir_all(&dir).expect("mkdir");
        assert!(report_tables(&dir, None).expect_err("empty").starts_with("no benchmark results yet"));
        std::fs::remove_dir_all(&base).expect("cleanup");
    }

    #[test]
    fn section_appended_then_replaced() {
        let doc = "# Benchmarks\n\nIntro.\n\n## Machine: A, 2 cores\n\nold A\n";
        let appended = merge_section(doc, "## Machine: B, 4 cores", "## Machine: B, 4 cores\n\nfirst B\n");
        assert_eq!(appended, format!("{}\n## Machine: B, 4 cores\n\nfirst B\n", doc));
        // Replacing B keeps A and the intro; replacing A (not last) keeps B and one blank line.
        let b = merge_section(&appended, "## Machine: B, 4 cores", "## Machine: B, 4 cores\n\nsecond B\n");
        assert_eq!(
            b,
            "# Benchmarks\n\nIntro.\n\n## Machine: A, 2 cores\n\nold A\n\n## Machine: B, 4 cores\n\nsecond B\n"
        );
        let a = merge_section(&b, "## Machine: A, 2 cores", "## Machine: A, 2 cores\n\nnew A\n");
        assert_eq!(
            a,
            "# Benchmarks\n\nIntro.\n\n## Machine: A, 2 cores\n\nnew A\n\n## Machine: B, 4 cores\n\nsecond B\n"
        );
        // Idempotent: writing the same section twice changes nothing.
        assert_eq!(merge_section(&a, "## Machine: A, 2 cores", "## Machine: A, 2 cores\n\nnew A\n"), a);
    }

    #[test]
    fn write_section_into_a_file() {
        let dir = tempfile_dir("write");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("BENCHMARKS.md");
        let env = Environment {
            cpu: "Test CPU".into(),
            cores: 2,
            memory: "23.5 GiB".into(),
            rustc: "rustc 1.89.0".into(),
            rustflags: None,
            target_features: "fxsr sse sse2".into(),
            date: "2026-12-05".into(),
        };
        let tables = render(&[row("copy", 1e8), row("simd", 2e8)]);
        write_section(&path, &env, &tables).expect("writes a new file");
        write_section(&path, &env, &tables).expect("replaces its own section");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.matches("## Machine: Test CPU, 2 cores").count(), 1, "{text}");
        assert!(
            text.starts_with("# Benchmarks\n\n## Machine: Test CPU, 2 cores\n\nCPU: Test CPU; cores: 2;"),
            "{text}"
        );
        assert!(text.contains("date: 2026-12-05"), "{text}");
        assert!(text.contains("| simd | 64 | 200.00 | 5.00 | 0.50x |  |"), "{text}");
        let native = Environment { rustflags: Some("-C target-cpu=native".into()), ..env };
        write_section(&path, &native, &tables).expect("a second section");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("## Machine: Test CPU, 2 cores, RUSTFLAGS=-C target-cpu=native"), "{text}");
        assert_eq!(text.matches("## Machine: ").count(), 2, "{text}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(20_792), "2026-12-05");
    }

    #[test]
    fn argument_parsing() {
        assert_eq!(parse_triple::<usize>("512x512x300"), Ok([512, 512, 300]));
        assert_eq!(parse_spacing("1.5"), Ok([1.5; 3]));
        assert_eq!(parse_spacing("0.78,0.78,2.5"), Ok([0.78, 0.78, 2.5]));
        assert!(parse_triple::<usize>("5x5").is_err());
        assert!(parse_stored("f32").is_err());
    }
}
