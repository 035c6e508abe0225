//! Progress of a run, for a caller that shows it: the CLI draws bars, a library caller may
//! log or ignore it.

/// A stage of a run that reports progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Reading the input whole (when reading it slab by slab does not pay).
    Read,
    /// Resample, window, MIP and compression, slab by slab (with a part count).
    Stream,
    /// Writing the PNGs.
    Png,
    /// The cases of a batch (with a part count).
    Cases,
    /// The report's thumbnails and figures of cases that lack them (with a part count).
    Figures,
}

impl Stage {
    /// A short name for a display.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Read => "read",
            Stage::Stream => "resample, window, MIP, compress",
            Stage::Png => "png",
            Stage::Cases => "cases",
            Stage::Figures => "thumbnails",
        }
    }
}

/// Receives a run's progress; every method does nothing by default. Called from any thread.
pub trait Progress: Sync {
    /// `stage` starts; `parts` is how many [`Progress::advance`] calls will follow, if known.
    fn start(&self, stage: Stage, parts: Option<u64>) {
        let _ = (stage, parts);
    }

    /// One part of `stage` is done.
    fn advance(&self, stage: Stage) {
        let _ = stage;
    }

    /// `stage` is over (also after a failure).
    fn finish(&self, stage: Stage) {
        let _ = stage;
    }
}

/// Shows nothing: the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// `start` now and `finish` when dropped, so a failing stage is finished too.
pub(crate) struct Shown<'a> {
    progress: &'a dyn Progress,
    stage: Stage,
}

impl<'a> Shown<'a> {
    pub(crate) fn start(progress: &'a dyn Progress, stage: Stage, parts: Option<u64>) -> Shown<'a> {
        progress.start(stage, parts);
        Shown { progress, stage }
    }

    pub(crate) fn advance(&self) {
        self.progress.advance(self.stage);
    }
}

impl Drop for Shown<'_> {
    fn drop(&mut self) {
        self.progress.finish(self.stage);
    }
}
