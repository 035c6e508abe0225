//! Progress on stderr for steps that can take more than a second: a spinner with the step's
//! name and elapsed time (indicatif), hidden when stderr is not a terminal or with `--quiet`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// `--quiet`: no progress display at all.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences (or not) every [`Stage`] of this process.
pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether progress is drawn: not with `--quiet`, not when stderr is not a terminal.
fn visible() -> bool {
    !QUIET.load(Ordering::Relaxed) && std::io::stderr().is_terminal()
}

/// One step of a command, shown while it runs.
#[derive(Debug)]
pub(crate) struct Stage {
    bar: ProgressBar,
    started: Instant,
}

impl Stage {
    /// Starts showing `name` (nothing is drawn with `--quiet` or when stderr is not a terminal).
    pub(crate) fn start(name: &'static str) -> Stage {
        let bar = if !visible() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed_precise}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(name);
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        };
        Stage { bar, started: Instant::now() }
    }

    /// Starts showing `name` with a bar of `len` parts (hidden as [`Stage::start`]).
    pub(crate) fn counted(name: &'static str, len: u64) -> Stage {
        let bar = if !visible() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new(len);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed_precise} (eta {eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(name);
            bar
        };
        Stage { bar, started: Instant::now() }
    }

    /// One more part done (any thread).
    pub(crate) fn inc(&self) {
        self.bar.inc(1);
    }

    /// Stops showing the step; its duration.
    pub(crate) fn finish(self) -> Duration {
        let d = self.started.elapsed();
        self.bar.finish_and_clear();
        d
    }
}

/// Runs `f` while showing `name`.
pub(crate) fn step<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    let stage = Stage::start(name);
    let out = f();
    stage.finish();
    out
}

/// The pipeline's stages shown as [`Stage`]s: a spinner, or a bar where the parts are counted.
#[derive(Debug, Default)]
pub(crate) struct Bars {
    shown: std::sync::Mutex<Vec<(ctprep_pipeline::Stage, Stage)>>,
}

impl ctprep_pipeline::Progress for Bars {
    fn start(&self, stage: ctprep_pipeline::Stage, parts: Option<u64>) {
        let bar = match parts {
            Some(n) => Stage::counted(stage.name(), n),
            None => Stage::start(stage.name()),
        };
        if let Ok(mut shown) = self.shown.lock() {
            shown.push((stage, bar));
        }
    }

    fn advance(&self, stage: ctprep_pipeline::Stage) {
        if let Ok(shown) = self.shown.lock()
            && let Some((_, bar)) = shown.iter().find(|(s, _)| *s == stage)
        {
            bar.inc();
        }
    }

    fn finish(&self, stage: ctprep_pipeline::Stage) {
        if let Ok(mut shown) = self.shown.lock()
            && let Some(i) = shown.iter().position(|(s, _)| *s == stage)
        {
            shown.remove(i).1.finish();
        }
    }
}
