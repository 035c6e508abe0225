//! `cargo xtask fuzz`: every cargo-fuzz target for a bounded time, with a summary of executions
//! and findings; `cargo xtask fuzz-corpus`: the committed seed corpus, rebuilt from the fixtures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The targets in `fuzz/fuzz_targets`, in the order they run.
pub(crate) const TARGETS: [&str; 10] = [
    "nifti_header",
    "nifti_read",
    "nrrd_read",
    "gzip_read",
    "gzip_stream",
    "deflate_roundtrip",
    "run_options",
    "batch_manifest",
    "dicom_file",
    "dicom_series",
];

/// The workspace root (xtask lives one folder below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// One target's run: how many inputs it executed, and whether it found anything.
struct Ran {
    target: String,
    runs: Option<u64>,
    corpus: Option<u64>,
    ok: bool,
    log: PathBuf,
}

/// Runs each of `targets` (all when empty) for `seconds`, one after the other: first from the
/// committed seeds (`fuzz/corpus/<target>`, read only), then from what earlier runs here kept
/// (`target/fuzz-corpus/<target>`, where libFuzzer adds what it finds). A crash, a timeout, a
/// leak or an out-of-memory input is saved to `fuzz/artifacts/<target>/` and fails the task.
pub(crate) fn fuzz(seconds: u64, targets: &[String], sanitizer: &str, timeout: u64) -> Result<(), String> {
    let root = root();
    let chosen: Vec<String> = if targets.is_empty() { TARGETS.map(str::to_owned).to_vec() } else { targets.to_vec() };
    for t in &chosen {
        if !TARGETS.contains(&t.as_str()) {
            return Err(format!("no fuzz target {t:?}; the targets are {}", TARGETS.join(", ")));
        }
    }
    let fuzz_ok =
        Command::new("cargo").args(["fuzz", "--version"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !fuzz_ok.is_ok_and(|s| s.success()) {
        return Err("cargo-fuzz is not installed: cargo install cargo-fuzz --locked".to_owned());
    }
    // cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses=sancov-module); a stable
    // toolchain accepts them with RUSTC_BOOTSTRAP=1.
    let build = |extra: &[&str]| {
        Command::new("cargo")
            .current_dir(&root)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "build", "--fuzz-dir", "fuzz", "--sanitizer", sanitizer])
            .args(extra)
            .status()
    };
    match build(&[]) {
        Ok(s) if s.success() => {}
        Ok(s) => return Err(format!("cargo fuzz build failed ({s})")),
        Err(e) => return Err(format!("cannot run cargo fuzz build: {e}")),
    }
    let logs = root.join("target/fuzz-logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let mut ran = Vec::new();
    for t in &chosen {
        let work = root.join("target/fuzz-corpus").join(t);
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        let seeds = root.join("fuzz/corpus").join(t);
        let log = logs.join(format!("{t}.log"));
        let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        println!("fuzz {t}: {seconds} s (log {})", log.display());
        let status = Command::new("cargo")
            .current_dir(&root)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "--fuzz-dir", "fuzz", "--sanitizer", sanitizer, t])
            .arg(&work)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-timeout={timeout}"))
            .arg("-rss_limit_mb=4096")
            // A single allocation over 512 MB for inputs of a few KB is the giant allocation the
            // readers must never make.
            .arg("-malloc_limit_mb=512")
            .arg("-print_final_stats=1")
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .status()
            .map_err(|e| format!("cannot run cargo fuzz run {t}: {e}"))?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let r = Ran {
            target: t.clone(),
            runs: stat(&text, "stat::number_of_executed_units:"),
            corpus: count_files(&work),
            ok: status.success(),
            log: log.clone(),
        };
        if !r.ok {
            eprintln!("{}", tail(&text, 40));
        }
        ran.push(r);
    }
    println!("{}", summary(&ran, seconds));
    if ran.iter().all(|r| r.ok) { Ok(()) } else { Err("a fuzz target found a problem (see above)".to_owned()) }
}

/// The value of a `-print_final_stats` line.
fn stat(log: &str, key: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| l.trim().strip_prefix(key)).and_then(|v| v.trim().parse().ok())
}

fn count_files(dir: &Path) -> Option<u64> {
    Some(std::fs::read_dir(dir).ok()?.filter_map(Result::ok).count() as u64)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn summary(ran: &[Ran], seconds: u64) -> String {
    let mut s = "target              seconds   executions   corpus   result\n".to_owned();
    for r in ran {
        let _ = writeln!(
            s,
            "{:<19} {:>7}   {:>10}   {:>6}   {}",
            r.target,
            seconds,
            r.runs.map_or_else(|| "?".to_owned(), |n| n.to_string()),
            r.corpus.map_or_else(|| "?".to_owned(), |n| n.to_string()),
            if r.ok { "no finding".to_owned() } else { format!("FOUND a problem ({})", r.log.display()) }
        );
    }
    s
}

/// Rebuilds `fuzz/corpus/<target>/` from the fixtures: every small NIfTI fixture (plain and
/// gzipped), header mutants of two of them (each field a reader must check, set to values it
/// must refuse or survive), data for the encoder, and option lists for `run`. Deterministic.
pub(crate) fn corpus() -> Result<(), String> {
    let root = root();
    let dir = root.join("fuzz/corpus");
    let mut niftis: Vec<(String, Vec<u8>)> = Vec::new();
    let mut gzips: Vec<(String, Vec<u8>)> = Vec::new();
    for sub in ["fixtures/nifti", "fixtures/pipeline"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(root.join(sub))
            .map_err(|e| format!("{sub}: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        names.sort();
        for p in names {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            if bytes.len() > 16 << 10 {
                continue;
            }
            if name.ends_with(".nii") {
                niftis.push((name, bytes));
            } else if name.ends_with(".nii.gz") {
                let mut plain = Vec::new();
                if std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut plain).is_ok()
                    && plain.len() <= 16 << 10
                {
                    niftis.push((name.trim_end_matches(".gz").to_owned() + "-from-gz", plain));
                }
                gzips.push((name, bytes));
            }
        }
    }
    let mutants = [("dt_int16.nii", false), ("nifti2.nii", true)]
        .iter()
        .filter_map(|(n, v2)| niftis.iter().find(|(m, _)| m == n).map(|(_, b)| header_mutants(n, b, *v2)))
        .flatten()
        .collect::<Vec<_>>();

    let mut header = Vec::new();
    let mut read = Vec::new();
    for (n, b) in niftis.iter().chain(&mutants) {
        header.push((n.clone(), b[..b.len().min(544)].to_vec()));
        read.push((n.clone(), b.clone()));
    }
    let mut gzip = gzips.clone();
    for (n, b) in &niftis {
        let mut gz = Vec::new();
        ctprep_gzip::write_gzip(&mut gz, &[], b, 1).map_err(|e| e.to_string())?;
        gzip.push((format!("{n}.gz"), gz));
    }
    let deflate = deflate_seeds();
    let run = run_seeds();
    // Every attached NRRD fixture (detached headers need their data file beside them).
    let mut nrrd: Vec<(String, Vec<u8>)> = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(root.join("fixtures/nrrd"))
        .map_err(|e| format!("fixtures/nrrd: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "nrrd"))
        .collect();
    names.sort();
    for p in names {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        nrrd.push((name, std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?));
    }
    for (target, files) in [
        ("nifti_header", header),
        ("nifti_read", read),
        ("nrrd_read", nrrd),
        ("gzip_read", gzip),
        ("deflate_roundtrip", deflate),
        ("run_options", run),
        ("batch_manifest", manifest_seeds()),
        // The gzip fixtures behind a first byte (level 1, reads of 7 bytes).
        ("gzip_stream", gzips.iter().map(|(n, b)| (n.clone(), [&[0x21u8][..], b].concat())).collect()),
    ] {
        let d = dir.join(target);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for (name, bytes) in &files {
            std::fs::write(d.join(name), bytes).map_err(|e| format!("{name}: {e}"))?;
        }
        println!("fuzz/corpus/{target}: {} files", files.len());
    }
    Ok(())
}

/// Manifests for `batch_manifest`: CSV (quoting, a byte order mark, CRLF, extra and missing
/// columns, bad ids) and JSON Lines, each read by the target as both kinds.
fn manifest_seeds() -> Vec<(String, Vec<u8>)> {
    [
        ("plain.csv", "id,image,label\na,a.nii.gz,a_seg.nrrd\nb,/abs/b.nrrd,\n"),
        ("quoted.csv", "\u{feff}ID,Image\r\n\"x,1\",\"dir with \"\"quotes\"\"/x.nii\"\r\n"),
        ("extra.csv", "site,label,image,id\nA,,s1.nii,1\nB,l2.nii,s2.nii,2\n\n"),
        ("bad.csv", "id,image\n../x,a.nii\n.h,b.nii\nx,c.nii,d\n"),
        ("lines.jsonl", "{\"id\": \"a\", \"image\": \"a.nii\", \"label\": null}\n{\"id\": 7, \"image\": \"b.nii\"}\n"),
        ("badlines.jsonl", "{\"id\": [], \"image\": \"a\"}\n{\"image\": 1}\nnot json\n"),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_owned(), t.as_bytes().to_vec()))
    .collect()
}

/// Copies of a little-endian NIfTI-1 (or NIfTI-2) file with one header field changed each.
fn header_mutants(name: &str, base: &[u8], v2: bool) -> Vec<(String, Vec<u8>)> {
    // (field, offset, size in bytes, is float) for NIfTI-1 and NIfTI-2.
    let fields: &[(&str, usize, usize, bool)] = if v2 {
        &[
            ("dim0", 16, 8, false),
            ("dim1", 24, 8, false),
            ("dim3", 40, 8, false),
            ("datatype", 12, 2, false),
            ("bitpix", 14, 2, false),
            ("pixdim3", 128, 8, true),
            ("vox_offset", 168, 8, false),
            ("scl_slope", 176, 8, true),
            ("qform_code", 344, 4, false),
            ("sform_code", 348, 4, false),
            ("quatern_b", 352, 8, true),
            ("srow_x0", 400, 8, true),
        ]
    } else {
        &[
            ("dim0", 40, 2, false),
            ("dim1", 42, 2, false),
            ("dim3", 46, 2, false),
            ("datatype", 70, 2, false),
            ("bitpix", 72, 2, false),
            ("pixdim0", 76, 4, true),
            ("pixdim3", 88, 4, true),
            ("vox_offset", 108, 4, true),
            ("scl_slope", 112, 4, true),
            ("scl_inter", 116, 4, true),
            ("qform_code", 252, 2, false),
            ("sform_code", 254, 2, false),
            ("quatern_b", 256, 4, true),
            ("qoffset_x", 268, 4, true),
            ("srow_x0", 280, 4, true),
        ]
    };
    let ints: [i64; 7] = [0, -1, 1, 7, 9, 32767, i64::from(i32::MAX)];
    let floats: [f64; 6] = [0.0, -1.0, 1e30, f64::NAN, f64::INFINITY, 1e-30];
    let stem = name.trim_end_matches(".nii");
    let mut out = Vec::new();
    for &(field, off, size, float) in fields {
        let values: Vec<Vec<u8>> = if float {
            floats
                .iter()
                .map(|&v| if size == 4 { (v as f32).to_le_bytes().to_vec() } else { v.to_le_bytes().to_vec() })
                .collect()
        } else {
            ints.iter().map(|&v| v.to_le_bytes()[..size].to_vec()).collect()
        };
        for (i, v) in values.iter().enumerate() {
            if off + size > base.len() {
                continue;
            }
            let mut b = base.to_vec();
            b[off..off + size].copy_from_slice(v);
            if b != base {
                out.push((format!("{stem}-{field}-{i}.nii"), b));
            }
        }
    }
    // Truncated at a few places, and byte-swapped sizeof_hdr.
    for cut in [4usize, 100, 347, 351, 352, 353] {
        if cut < base.len() {
            out.push((format!("{stem}-cut-{cut}.nii"), base[..cut].to_vec()));
        }
    }
    let mut swapped = base.to_vec();
    swapped[..4].reverse();
    out.push((format!("{stem}-swapped-sizeof.nii"), swapped));
    out
}

/// Data for the encoder: the first byte is the control byte (level, repetitions).
fn deflate_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let f32s = |vals: &[f32]| vals.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    seeds.push(("empty-level1".to_owned(), vec![1]));
    seeds.push(("zeros".to_owned(), [vec![251], vec![0u8; 64]].concat()));
    seeds.push(("ones-f32".to_owned(), [vec![11], f32s(&[1.0; 16])].concat()));
    let mut noisy = vec![241];
    let mut x = 0x1234_5678u32;
    for i in 0..512 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let v = if i % 64 < 40 { 0.0 } else { (x % 1000) as f32 / 1000.0 };
        noisy.extend_from_slice(&v.to_le_bytes());
    }
    seeds.push(("window-like".to_owned(), noisy));
    seeds.push(("text".to_owned(), [&[6u8][..], b"deflate deflate deflate, run run run run 0000000000"].concat()));
    seeds
}

/// Option lists for `ctprep run`, NUL-separated.
fn run_seeds() -> Vec<(String, Vec<u8>)> {
    let lists: &[(&str, &[&str])] = &[
        ("defaults", &[]),
        ("spacing", &["--spacing", "2"]),
        ("spacing3", &["--spacing", "0.7,1.3,2.5"]),
        ("window", &["--window", "-1000,1000"]),
        ("preset-classic", &["--preset", "classic"]),
        ("preset-lung", &["--preset", "lung", "--save", "mip,png"]),
        ("mip", &["--mip", "3", "--mip-align", "start", "--mip-edges", "zero"]),
        ("mip-mm", &["--mip-mm", "10", "--mip-edges", "valid"]),
        ("axcodes", &["--axcodes", "LPS", "--convention", "centred"]),
        ("save", &["--save", "volume", "--gzip-level", "0"]),
        ("kernel", &["--kernel", "scalar", "--threads", "1"]),
        ("variant", &["--variant", "simd", "--json"]),
        ("label", &["--label", "LABEL", "--json"]),
        ("label-shifted", &["--label", "SHIFTED", "--spacing", "2"]),
        ("label-layers", &["--label", "LAYERS", "--axcodes", "keep"]),
        ("label-far", &["--label", "FAR"]),
        ("label-tolerance", &["--label", "SHIFTED", "--label-tolerance", "5"]),
    ];
    lists.iter().map(|(n, args)| ((*n).to_owned(), args.join("\0").into_bytes())).collect()
}
