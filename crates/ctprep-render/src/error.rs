//! The one error type of ctprep-render: every message names the file (or `<in-memory volume>`).

use std::path::{Path, PathBuf};

/// An error making or writing an image.
///
/// The `Display` form is one line: `<file>: <what and why>`, as ctprep-io's errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The request does not fit the data: a slice out of range, a sheet past the last slice, a
    /// degenerate affine, sizes that do not match, grey levels beyond the bit depth.
    #[error("{}: {message}", path.display())]
    InvalidRequest {
        /// The file (or `<in-memory volume>`).
        path: PathBuf,
        /// What was asked and why it cannot be done.
        message: String,
    },
    /// The operating system refused a write or rename.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done ("write", ...).
        action: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The volume cannot be shown (not 3-D, for example): ctprep-io's error, which names its file.
    #[error(transparent)]
    Volume(#[from] ctprep_io::Error),
}

impl RenderError {
    pub(crate) fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> RenderError {
        RenderError::InvalidRequest { path: path.into(), message: message.into() }
    }

    pub(crate) fn io(path: &Path, action: &str, source: std::io::Error) -> RenderError {
        RenderError::Io { path: path.to_owned(), action: action.to_owned(), source }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            RenderError::InvalidRequest { path, .. } | RenderError::Io { path, .. } => path,
            RenderError::Volume(e) => e.path(),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = RenderError> = std::result::Result<T, E>;

/// The name errors give a volume that did not come from a file.
pub(crate) fn memory_path() -> PathBuf {
    PathBuf::from("<in-memory volume>")
}
