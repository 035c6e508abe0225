//! Developer tasks for the ctprep workspace: `cargo xtask phantom ...` writes a synthetic CT,
//! `cargo xtask bench-report` turns criterion's estimates into Markdown tables, `cargo xtask
//! test` runs the whole test suite and says at the end which tests skipped for lack of the
//! shared real data.
#![forbid(unsafe_code)]

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
    },
    /// Print criterion's estimates as Markdown tables: variant, size, time, GB/s, ratio to the
    /// `copy` row of the same size, speed-up over the `scalar` row.
    BenchReport {
        /// Where criterion wrote its results.
        #[arg(long, default_value = "target/criterion")]
        criterion_dir: PathBuf,
        /// Only this group (for example io_read); all groups when absent.
        #[arg(long)]
        group: Option<String>,
    },
    /// Run `cargo test --workspace` (with any further arguments), then say how many tests
    /// skipped because the shared real data (`../shared/data`, or `$CTPREP_SHARED_DATA`) is
    /// absent, and which.
    Test {
        /// Arguments passed on to `cargo test --workspace`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
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
        Task::Phantom { shape, spacing, axcodes, dtype, seed, noise, out, labels, gzip_level } => {
            let p = Phantom::new(shape).spacing_mm(spacing).axcodes(axcodes).stored(dtype).seed(seed).noise_hu(noise);
            phantom(&p, &out, labels.as_deref(), gzip_level)
        }
        Task::BenchReport { criterion_dir, group } => {
            bench_report(&criterion_dir, group.as_deref()).map(|t| print!("{t}"))
        }
        Task::Test { args } => return test(&args),
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
        .args(["test", "--workspace"])
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

fn environment() -> String {
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
    let flags = std::env::var("RUSTFLAGS").unwrap_or_else(|_| "(none: default target features)".to_owned());
    format!("CPU: {cpu}; cores: {cores}; {rustc}; RUSTFLAGS: {flags}\n")
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
        // Ids are `variant` or `kernel-variant`; baselines are `copy` / `scalar` of the same kernel.
        let find = |of: &Row, base: &str| {
            let want = match of.function.rsplit_once('-') {
                Some((kernel, _)) => format!("{kernel}-{base}"),
                None => base.to_owned(),
            };
            rs.iter().find(|r| r.function == want && r.size == of.size).map(|r| r.mean_ns)
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

fn bench_report(dir: &Path, group: Option<&str>) -> Result<String, String> {
    let mut rows = collect(dir)?;
    if let Some(g) = group {
        rows.retain(|r| r.group == g);
    }
    if rows.is_empty() {
        return Err(format!("no criterion results under {} (run cargo bench first)", dir.display()));
    }
    Ok(format!("{}{}", environment(), render(&rows)))
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
    fn reads_criterion_files() {
        let dir = tempfile_dir();
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

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-test-{}", std::process::id()));
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
    fn argument_parsing() {
        assert_eq!(parse_triple::<usize>("512x512x300"), Ok([512, 512, 300]));
        assert_eq!(parse_spacing("1.5"), Ok([1.5; 3]));
        assert_eq!(parse_spacing("0.78,0.78,2.5"), Ok([0.78, 0.78, 2.5]));
        assert!(parse_triple::<usize>("5x5").is_err());
        assert!(parse_stored("f32").is_err());
    }
}
