//! The one error type of ctprep-io: every message names the file, and where it applies the
//! header field and its value.

use std::path::PathBuf;

/// What went wrong, in the categories tests and callers branch on.
///
/// The names match the `error` field of `fixtures/nifti/reference.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system refused an open, read, write or rename.
    Io,
    /// The file (or its decompressed stream) ends before the header says it should.
    Truncated,
    /// The gzip stream is damaged (bad deflate data or CRC).
    CorruptGzip,
    /// The magic string is not that of NIfTI-1 or NIfTI-2.
    BadMagic,
    /// A header field that is not otherwise classified is invalid (sizeof_hdr, vox_offset...).
    BadHeader,
    /// The datatype code is not one NIfTI defines.
    UnknownDatatype,
    /// A NIfTI datatype that ctprep does not handle (complex, RGB, float128, bit).
    UnsupportedDatatype,
    /// An NRRD encoding ctprep does not read (ascii, hex, bzip2).
    UnsupportedEncoding,
    /// `dim[]` is invalid (number of dimensions, zero or negative sizes).
    BadDim,
    /// The volume is larger than the [`crate::Limits`] allow.
    TooLarge,
    /// `pixdim[]` is invalid where the affine needs it (NaN, infinite, zero).
    BadPixdim,
    /// A valid `scl_slope` with a NaN or infinite `scl_inter`.
    InvalidScaling,
    /// The caller asked for something the data cannot give (3-D operation on 4-D data, an
    /// orientation of a degenerate affine, a lossy type conversion, a bad file name).
    InvalidRequest,
}

impl ErrorKind {
    /// The snake_case name used in fixtures and JSON output.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::Truncated => "truncated",
            ErrorKind::CorruptGzip => "corrupt_gzip",
            ErrorKind::BadMagic => "bad_magic",
            ErrorKind::BadHeader => "bad_header",
            ErrorKind::UnknownDatatype => "unknown_datatype",
            ErrorKind::UnsupportedDatatype => "unsupported_datatype",
            ErrorKind::UnsupportedEncoding => "unsupported_encoding",
            ErrorKind::BadDim => "bad_dim",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::BadPixdim => "bad_pixdim",
            ErrorKind::InvalidScaling => "invalid_scaling",
            ErrorKind::InvalidRequest => "invalid_request",
        }
    }
}

/// An error reading, writing or transforming a volume.
///
/// The `Display` form is one line: `<file>: <what and why>`, ready for `error: ` in front.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("{}: {message}", path.display())]
pub struct Error {
    kind: ErrorKind,
    path: PathBuf,
    message: String,
    #[source]
    source: Option<std::io::Error>,
}

impl Error {
    /// A new error about `path`.
    pub fn new(kind: ErrorKind, path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
        Error { kind, path: path.into(), message: message.into(), source: None }
    }

    /// An operating-system error while doing `action` (for example "open", "read").
    pub fn io(path: impl Into<PathBuf>, action: &str, source: std::io::Error) -> Error {
        Error {
            kind: ErrorKind::Io,
            path: path.into(),
            message: format!("cannot {action}: {source}"),
            source: Some(source),
        }
    }

    /// The category of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file the error is about (`<memory>` for volumes not read from a file).
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The message without the file name.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
