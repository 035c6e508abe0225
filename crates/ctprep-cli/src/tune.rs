//! `ctprep tune`: every stage's kernels and thread counts measured on this machine, next to a
//! copy of the same bytes; the winners written as a profile that `auto` then follows
//! ([`load`] at start-up, from `--profile`, `CTPREP_PROFILE` or the user's config folder).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use ctprep_core::{Exec, Isa, Kernel, Pick, Profile, Stage, Threads};
use ctprep_intensity::{Range, Window, WindowMap, window_slice_into};
use ctprep_projection::{Align, Edges, Projector, SlabProjection};
use ctprep_resample::{Affine, Grid, GridConvention, Resampler, Trilinear, plan_like, plan_spacing};
use serde::{Deserialize, Serialize};

use crate::commands::{CmdResult, UsageError};

/// The profile format's version; a profile of another version is ignored with a warning.
const FORMAT: u32 = 1;

/// Options of `ctprep tune`.
#[derive(Debug, Args)]
pub(crate) struct TuneArgs {
    /// Smaller size classes and fewer repetitions: under 10 s instead of under 60 s.
    #[arg(long)]
    quick: bool,
    /// Where to write the profile (default: $XDG_CONFIG_HOME/ctprep/profile.json, else
    /// ~/.config/ctprep/profile.json), which every later command's `auto` follows.
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Print the profile (JSON) on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

/// The machine and binary a profile was measured on: a profile of another is ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    cpu: String,
    cores: usize,
    cpu_offers: Vec<String>,
    version: String,
    target_features: Vec<String>,
}

impl Fingerprint {
    pub(crate) fn here() -> Fingerprint {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
                })
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
        Fingerprint {
            cpu,
            cores: cores(),
            cpu_offers: ctprep_core::cpu_offers().iter().map(ToString::to_string).collect(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            target_features: target_features(),
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// The instruction-set features this binary was compiled to assume.
fn target_features() -> Vec<String> {
    let mut f = Vec::new();
    macro_rules! feature {
        ($($name:tt),*) => { $( if cfg!(target_feature = $name) { f.push($name.to_owned()); } )* };
    }
    feature!("sse2", "sse4.1", "sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "neon");
    f
}

/// One kernel and thread count measured on one size class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Figure {
    kernel: String,
    threads: usize,
    /// Median seconds per call.
    median_s: f64,
    /// (slowest - fastest) / median over the repetitions.
    spread: f64,
    /// Input plus output bytes per second, in GB/s.
    gb_s: f64,
    /// The median over the copy baseline's: how many copies of the same bytes one call costs.
    vs_copy: f64,
}

/// A size class of a stage: its figures and winner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Class {
    name: String,
    voxels: usize,
    /// The copy baseline's median seconds (input bytes copied into an output of the same size).
    copy_s: f64,
    figures: Vec<Figure>,
    winner: PickJson,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PickJson {
    min_voxels: usize,
    /// scalar, wide, dispatched, or auto (the crate's own best exact kernel, a table say).
    kernel: String,
    threads: usize,
    /// The fastest kernel on one thread (for callers that fix one thread).
    single_thread_kernel: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct StageJson {
    picks: Vec<PickJson>,
    classes: Vec<Class>,
}

/// A profile as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ProfileJson {
    ctprep_profile: u32,
    fingerprint: Fingerprint,
    stages: BTreeMap<String, StageJson>,
}

impl ProfileJson {
    /// The profile `auto` follows, or why this one cannot be used here.
    fn profile(&self) -> Result<Profile, String> {
        if self.ctprep_profile != FORMAT {
            return Err(format!("format {} (this ctprep reads {FORMAT})", self.ctprep_profile));
        }
        let here = Fingerprint::here();
        if self.fingerprint != here {
            return Err(format!(
                "measured on another machine or build ({} with {} cores, ctprep {}; this is {} with {} cores, ctprep {}); run `ctprep tune` here",
                self.fingerprint.cpu,
                self.fingerprint.cores,
                self.fingerprint.version,
                here.cpu,
                here.cores,
                here.version
            ));
        }
        let mut p = Profile::new();
        for (name, s) in &self.stages {
            let stage = Stage::from_name(name).ok_or_else(|| format!("unknown stage {name:?}"))?;
            if s.picks.iter().any(|p| p.threads == 0) {
                return Err(format!("{name}: a pick of 0 threads"));
            }
            let picks = s
                .picks
                .iter()
                .map(|p| {
                    let kernel = p.kernel.parse::<Kernel>().map_err(|e| format!("{name}: {e}"))?;
                    let single = p.single_thread_kernel.parse::<Kernel>().map_err(|e| format!("{name}: {e}"))?;
                    Ok(Pick { min_voxels: p.min_voxels, kernel, threads: p.threads, single })
                })
                .collect::<Result<Vec<Pick>, String>>()?;
            p = p.with(stage, &picks);
        }
        Ok(p)
    }
}

/// Where `auto`'s profile is looked for when neither `--profile` nor `CTPREP_PROFILE` names one.
pub(crate) fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("ctprep").join("profile.json"))
}

/// Reads the profile named by `given` (`--profile`), else `CTPREP_PROFILE`, else the default
/// path (when that file exists), and installs it for this process. A profile that does not
/// read, parse or match this machine is ignored with one warning on stderr; `auto` then uses
/// the fallback rule. Returns the path of the installed profile.
pub(crate) fn load(given: Option<&Path>) -> Option<PathBuf> {
    let (path, named) = match (given, std::env::var_os("CTPREP_PROFILE").filter(|v| !v.is_empty())) {
        (Some(p), _) => (p.to_path_buf(), true),
        (None, Some(p)) => (PathBuf::from(p), true),
        (None, None) => (default_path()?, false),
    };
    if !named && !path.exists() {
        return None;
    }
    let parsed = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read it: {e}"))
        .and_then(|t| serde_json::from_str::<ProfileJson>(&t).map_err(|e| format!("not a ctprep profile: {e}")))
        .and_then(|j| j.profile());
    match parsed {
        Ok(p) => {
            // Installed once per process; a second command in one process keeps the first.
            let _ = ctprep_core::profile::install(p);
            Some(path)
        }
        Err(why) => {
            eprintln!(
                "warning: profile {}: {}; auto uses the fallback rule",
                crate::one_line(&path.display().to_string()),
                crate::one_line(&why)
            );
            None
        }
    }
}

/// The size classes of a run: (name, voxels as x, y, z).
fn classes(quick: bool) -> Vec<(&'static str, [usize; 3])> {
    if quick {
        vec![("small", [64, 64, 4]), ("medium", [256, 256, 4])]
    } else {
        vec![("small", [64, 64, 16]), ("medium", [256, 256, 16]), ("ct-slab", [512, 512, 16])]
    }
}

/// The candidates of a stage: every kernel on 1 thread, the non-oracle ones on 2..cores.
fn candidates(with_auto: bool) -> Vec<(Kernel, usize)> {
    let mut c = vec![(Kernel::Scalar, 1)];
    let mut kernels = vec![Kernel::Wide, Kernel::Dispatched];
    if with_auto {
        kernels.push(Kernel::Auto);
    }
    for t in 1..=cores() {
        for &k in &kernels {
            c.push((k, t));
        }
    }
    c
}

/// Median and spread of `f`'s time: at least 3 calls, more until `budget` is spent (at most 60).
fn measure(budget: Duration, mut f: impl FnMut()) -> (f64, f64) {
    f(); // warm caches and pools
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 3 || (start.elapsed() < budget && times.len() < 60) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let spread = if median > 0.0 { (times[times.len() - 1] - times[0]) / median } else { 0.0 };
    (median, spread)
}

/// The exec of a candidate: its kernel on a pool of its threads (or the calling thread).
fn run_on<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    if threads <= 1 {
        return f();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

fn exec_of(kernel: Kernel, threads: usize) -> Exec {
    Exec::new().kernel(kernel).threads(Threads::count(threads))
}

/// One stage on one class: each candidate's figures, the copy baseline, the winner.
fn class_figures(
    name: &str,
    voxels: usize,
    bytes: usize,
    budget: Duration,
    cands: &[(Kernel, usize)],
    mut call: impl FnMut(Exec) + Send,
) -> Class {
    let src = vec![1u8; bytes / 2];
    let mut dst = vec![0u8; bytes / 2];
    let (copy_s, _) = measure(budget, || dst.copy_from_slice(std::hint::black_box(&src)));
    let mut figures = Vec::new();
    for &(kernel, threads) in cands {
        let exec = exec_of(kernel, threads);
        let (median_s, spread) = run_on(threads, || measure(budget, || call(exec)));
        figures.push(Figure {
            kernel: kernel.name().to_owned(),
            threads,
            median_s,
            spread,
            gb_s: bytes as f64 / median_s / 1e9,
            vs_copy: median_s / copy_s.max(1e-12),
        });
    }
    // The fallback rule's own choice for this class: the crate's best kernel (auto; for the
    // stages whose auto is the dispatched loops, those), threads by the size threshold.
    let fallback_kernel = if cands.iter().any(|c| c.0 == Kernel::Auto) { "auto" } else { "dispatched" };
    let pair = choose(&figures, |_| true, fallback_kernel, Threads::Auto.resolve(voxels, cores()));
    let single = choose(&figures, |f| f.threads == 1, fallback_kernel, 1);
    let winner = PickJson {
        min_voxels: voxels,
        kernel: pair.map_or_else(|| "auto".to_owned(), |f| f.kernel.clone()),
        threads: pair.map_or(1, |f| f.threads),
        single_thread_kernel: single.map_or_else(|| "auto".to_owned(), |f| f.kernel.clone()),
    };
    Class { name: name.to_owned(), voxels, copy_s, figures, winner }
}

/// The fastest of the figures `among` accepts, unless it is not clearly faster than the
/// fallback rule's own choice (`kernel` on `threads`), which is then kept: the difference is
/// noise.
fn choose<'f>(
    figures: &'f [Figure],
    among: impl Fn(&Figure) -> bool,
    kernel: &str,
    threads: usize,
) -> Option<&'f Figure> {
    let fallback = figures.iter().find(|f| among(f) && f.kernel == kernel && f.threads == threads);
    let best = figures.iter().filter(|f| among(f)).min_by(|a, b| a.median_s.total_cmp(&b.median_s));
    match (best, fallback) {
        (Some(b), Some(f)) if !clearly_faster(b, f) => Some(f),
        (b, _) => b,
    }
}

/// How much faster a candidate must be than the fallback's choice to replace it.
const MARGIN: f64 = 0.05;

/// Whether `a` beats `b` by more than [`MARGIN`] of `b`'s median.
fn clearly_faster(a: &Figure, b: &Figure) -> bool {
    a.median_s < b.median_s * (1.0 - MARGIN)
}

/// Every stage on every class of this run.
fn tune_stages(quick: bool) -> Result<BTreeMap<String, StageJson>, Box<dyn std::error::Error>> {
    let budget = Duration::from_millis(if quick { 15 } else { 400 });
    let mut stages = BTreeMap::new();
    let window = WindowMap::new(Window::new(-100.0, 1000.0)?, Range::UNIT, None)?;
    for stage in Stage::ALL {
        let mut classes_out = Vec::new();
        for (name, shape) in classes(quick) {
            let n: usize = shape.iter().product();
            let class = match stage {
                Stage::WindowInt => {
                    let src: Vec<i16> = (0..n).map(|i| ((i * 7919) % 3000) as i16 - 1024).collect();
                    let mut out = vec![0f32; n];
                    class_figures(name, n, n * 6, budget, &candidates(true), |e| {
                        let _ = window_slice_into(&src, &mut out, &window, e);
                    })
                }
                Stage::WindowFloat => {
                    let src: Vec<f32> = (0..n).map(|i| ((i * 7919) % 3000) as f32 - 1024.5).collect();
                    let mut out = vec![0f32; n];
                    class_figures(name, n, n * 8, budget, &candidates(true), |e| {
                        let _ = window_slice_into(&src, &mut out, &window, e);
                    })
                }
                Stage::Mip => {
                    let src: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
                    let mut out = vec![0f32; n];
                    let mut projector = Projector::new();
                    let slabs: Vec<SlabProjection> = [5, 31]
                        .iter()
                        .map(|&k| SlabProjection::new(k).align(Align::Centre).edges(Edges::Shrink).for_slices(shape[2]))
                        .collect();
                    // MIP of 5 and of 31 slices: the winner is the fastest over both.
                    class_figures(name, n, n * 8 * 2, budget, &candidates(false), |e| {
                        for p in &slabs {
                            let _ = projector.project_slice_into(&src, shape, p, &mut out, e);
                        }
                    })
                }
                Stage::Resample => {
                    let src: Vec<i16> = (0..n).map(|i| ((i * 7919) % 3000) as i16 - 1024).collect();
                    let a = Affine::from_spacing_origin([0.8, 0.8, 2.5], [0.0; 3]);
                    let separable = plan_spacing(shape, &a, [1.0, 1.0, 2.0], GridConvention::FirstCentre)?;
                    // A grid turned by 12 degrees about z: the general path.
                    let (s, c) = 12f64.to_radians().sin_cos();
                    let turned = Affine::from_parts([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 2.0]], [2.0, -3.0, 1.0]);
                    let general = plan_like(shape, &a, Grid { shape: separable.grid.shape, affine: turned })?;
                    let m = separable.output_len();
                    let mut out = vec![0f32; m];
                    let opts = Trilinear::new();
                    let mut r = Resampler::new();
                    // Separable and general: the winner is the fastest over both.
                    class_figures(name, m, (n * 2 + m * 4) * 2, budget, &candidates(false), |e| {
                        for p in [&separable, &general] {
                            let _ = r.linear_slices_from(&src, 0, p, &opts, 0..p.grid.shape[2], &mut out, e);
                        }
                    })
                }
            };
            classes_out.push(class);
        }
        let picks = classes_out.iter().map(|c| c.winner.clone()).collect();
        stages.insert(stage.name().to_owned(), StageJson { picks, classes: classes_out });
    }
    Ok(stages)
}

/// The table `ctprep tune` prints.
fn table(stages: &BTreeMap<String, StageJson>) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for (name, st) in stages {
        for c in &st.classes {
            let _ = writeln!(
                s,
                "{name} / {} ({} voxels): copy {:.3} ms; best on one thread: {}",
                c.name,
                c.voxels,
                c.copy_s * 1e3,
                c.winner.single_thread_kernel
            );
            for f in &c.figures {
                let win = f.kernel == c.winner.kernel && f.threads == c.winner.threads;
                let fastest = c.figures.iter().all(|g| g.median_s >= f.median_s);
                let _ = writeln!(
                    s,
                    "  {:<11} {:>2} thr  {:>9.3} ms  ±{:>4.0}%  {:>6.2} GB/s  {:>6.2}x copy{}",
                    f.kernel,
                    f.threads,
                    f.median_s * 1e3,
                    f.spread * 100.0,
                    f.gb_s,
                    f.vs_copy,
                    match (win, fastest) {
                        (true, _) => "  <- winner",
                        (false, true) => "  (fastest, within 5% of the fallback's choice: not picked)",
                        _ => "",
                    }
                );
            }
        }
    }
    s
}

pub(crate) fn run(args: &TuneArgs) -> CmdResult {
    let path = match &args.output {
        Some(p) => p.clone(),
        None => default_path()
            .ok_or_else(|| UsageError("no config folder ($XDG_CONFIG_HOME or $HOME): give --output PATH".to_owned()))?,
    };
    let started = Instant::now();
    let stages = crate::progress::step("measure", || tune_stages(args.quick))?;
    let doc = ProfileJson { ctprep_profile: FORMAT, fingerprint: Fingerprint::here(), stages };
    let text = serde_json::to_string_pretty(&doc)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create the folder: {e}", dir.display()))?;
    }
    ctprep_io::write_atomically(&path, |mut f| {
        use std::io::Write;
        f.write_all(text.as_bytes()).map_err(|e| ctprep_io::Error::io(&path, "write", e))
    })?;
    if args.json {
        crate::sayln!("{text}")?;
    } else {
        crate::say!("{}", table(&doc.stages))?;
        crate::sayln!(
            "wrote {} in {:.1} s ({}; dispatched kernels run with {}): `auto` follows it from now on",
            path.display(),
            started.elapsed().as_secs_f64(),
            doc.fingerprint.cpu,
            Isa::detected()
        )?;
    }
    Ok(())
}
