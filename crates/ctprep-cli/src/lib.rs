//! The `ctprep` command line as a library: [`try_run`] parses a command line and runs it, so the
//! binary is a thin `main` and the fuzz targets drive the same code in-process.
//!
//! Exit codes: 0 success; 1 bad input or a failed operation, with one line on stderr
//! `error: <file>: <what and why>`; 2 usage errors (clap's, and option values that make no sense
//! together, such as an empty window); 3 a label map that is not on its image's grid (`check`),
//! or cannot be placed on it (`run --label`). `batch` exits 1 when any of its cases failed.
#![forbid(unsafe_code)]

/// `print!` that returns the error instead of panicking, and takes a reader that went away
/// (`ctprep info ct.nii.gz | head -3`) as success: the work is done, nobody reads the rest.
macro_rules! say {
    ($($arg:tt)*) => { $crate::write_stdout(format_args!($($arg)*)) };
}

/// `println!` as [`say!`].
macro_rules! sayln {
    ($($arg:tt)*) => { $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {say, sayln};

/// Writes to stdout for [`say!`]: a broken pipe is success.
fn write_stdout(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

mod batch;
mod check;
mod commands;
#[cfg(feature = "dicom")]
mod dicom;
mod images;
mod input;
mod mip;
mod progress;
mod resample;
mod run;
mod signals;
mod tune;
mod window;

use std::ffi::OsString;
use std::sync::OnceLock;

use clap::{CommandFactory, FromArgMatches};

/// Why a command line failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure {
    /// clap refused the arguments, or was asked for `--help` / `--version`: print it with
    /// [`clap::Error::exit`] (or [`clap::Error::print`]); its exit code is
    /// [`clap::Error::exit_code`].
    Clap(clap::Error),
    /// Option values that make no sense together: exit code 2.
    Usage(String),
    /// Bad input or a failed operation: exit code 1.
    Failed(String),
    /// A label map not on its image's grid (`check`), or one that cannot be placed on it
    /// (`run --label`): exit code 3.
    NotAligned(String),
    /// A file that could not be read or written, with its [`ctprep_io::ErrorKind`]: exit code 1.
    File(ctprep_io::Error),
}

impl Failure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Clap(e) => e.exit_code(),
            Failure::Usage(_) => 2,
            Failure::Failed(_) | Failure::File(_) => 1,
            Failure::NotAligned(_) => 3,
        }
    }
}

impl std::fmt::Display for Failure {
    /// The message `ctprep` prints on stderr, on one line (control characters escaped), after
    /// `error: ` (clap's own message for [`Failure::Clap`]).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Clap(e) => write!(f, "{e}"),
            Failure::Usage(m) => write!(f, "{}\n\nFor more information, try '--help'.", one_line(m)),
            Failure::Failed(m) | Failure::NotAligned(m) => f.write_str(&one_line(m)),
            Failure::File(e) => f.write_str(&one_line(&e.to_string())),
        }
    }
}

impl std::error::Error for Failure {}

/// Parses `args` (the program name first, as [`std::env::args_os`] gives it) and runs the
/// command. Progress goes to stderr (when it is a terminal); results go to stdout and to the
/// files the command names.
pub fn try_run<I, T>(args: I) -> Result<(), Failure>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // clap keeps a `'static` long version.
    static VERSION: OnceLock<String> = OnceLock::new();
    let version = VERSION.get_or_init(commands::long_version).as_str();
    let matches = commands::Cli::command().long_version(version).try_get_matches_from(args).map_err(Failure::Clap)?;
    let cli = commands::Cli::from_arg_matches(&matches).map_err(Failure::Clap)?;
    batch::keep_matches(&matches);
    commands::run(cli).map_err(failure)
}

/// Parses a `run` or `batch` command line (the program name first) and runs it as the binary
/// does with `--json`, returning that JSON document instead of printing it: for programs that
/// embed ctprep (its Python package). No signal handler is installed and nothing goes to stdout;
/// progress bars (on a terminal) and warnings still go to stderr. A batch whose cases failed
/// returns its summary all the same (their count in `failed`); `batch --slurm` is refused.
pub fn json_of<I, T>(args: I) -> Result<String, Failure>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = commands::Cli::command().try_get_matches_from(args).map_err(Failure::Clap)?;
    let cli = commands::Cli::from_arg_matches(&matches).map_err(Failure::Clap)?;
    commands::json_doc(cli).map_err(failure)
}

/// Parses a `run` or `batch` command line (the program name first) and checks its recipe and
/// outputs as the command would before reading anything; runs nothing.
pub fn check_args<I, T>(args: I) -> Result<(), Failure>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = commands::Cli::command().try_get_matches_from(args).map_err(Failure::Clap)?;
    let cli = commands::Cli::from_arg_matches(&matches).map_err(Failure::Clap)?;
    commands::check_doc(&cli).map_err(failure)
}

/// A command's error as the failure it is.
fn failure(e: Box<dyn std::error::Error>) -> Failure {
    match e.downcast::<commands::UsageError>() {
        Ok(usage) => Failure::Usage(usage.0),
        Err(e) => match e.downcast::<check::NotAligned>() {
            Ok(n) => Failure::NotAligned(n.0),
            Err(e) => match e.downcast::<ctprep_io::Error>() {
                Ok(io) => Failure::File(*io),
                Err(e) => match e.downcast::<ctprep_pipeline::PipelineError>() {
                    Ok(p) => match *p {
                        ctprep_pipeline::PipelineError::Io(io) => Failure::File(io),
                        p => Failure::Failed(p.to_string()),
                    },
                    Err(e) => Failure::Failed(e.to_string()),
                },
            },
        },
    }
}

/// `message` with its control characters escaped as Rust escapes them (`\n`, `\u{1b}`): a file
/// name holding a newline or a terminal escape sequence can neither split the one-line error
/// nor reach the terminal.
pub(crate) fn one_line(message: &str) -> String {
    message.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
}
