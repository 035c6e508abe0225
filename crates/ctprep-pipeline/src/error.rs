//! The one error type of the pipeline.

use std::path::PathBuf;

/// Why a run failed. Every variant names the file it concerns; a failed run leaves no output
/// behind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// Reading the input or writing an output (the message names the file).
    #[error(transparent)]
    Io(#[from] ctprep_io::Error),
    /// A choice of the recipe or the options that cannot be run.
    #[error("{0}")]
    Recipe(String),
    /// The input cannot be put on the output grid (degenerate axes, a grid too large, ...).
    #[error("{input}: {why}")]
    Grid {
        /// The input.
        input: String,
        /// What is wrong.
        why: String,
    },
    /// A kernel refused its arguments.
    #[error("{input}: {stage}: {why}")]
    Kernel {
        /// The input.
        input: String,
        /// `resample`, `window`, `MIP` or `label`.
        stage: &'static str,
        /// The kernel's error.
        why: String,
    },
    /// Reading the input slab by slab failed in a way the reader did not report itself (the
    /// reading thread stopped or panicked, the file changed while read).
    #[error("{input}: {why}")]
    Read {
        /// The input.
        input: String,
        /// What happened.
        why: String,
    },
    /// The label map cannot be put on the image's grid (it does not overlap it).
    #[error("{label}: cannot be placed on the grid of {image}: {why}")]
    LabelNotPlaceable {
        /// The label map.
        label: String,
        /// The image.
        image: String,
        /// How the grids differ.
        why: String,
    },
    /// A PNG could not be made or written.
    #[error("{path}: {why}")]
    Image {
        /// The PNG.
        path: PathBuf,
        /// What happened.
        why: String,
    },
    /// The output folder could not be created.
    #[error("{path}: cannot create the folder: {source}")]
    OutputDir {
        /// The folder.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A worker thread panicked.
    #[error("{input}: a worker panicked: {why}")]
    Panicked {
        /// The input.
        input: String,
        /// The panic's message.
        why: String,
    },
}

impl PipelineError {
    pub(crate) fn kernel(input: &str, stage: &'static str, e: impl std::fmt::Display) -> PipelineError {
        PipelineError::Kernel { input: input.to_owned(), stage, why: e.to_string() }
    }

    pub(crate) fn read(input: &str, why: impl Into<String>) -> PipelineError {
        PipelineError::Read { input: input.to_owned(), why: why.into() }
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}
