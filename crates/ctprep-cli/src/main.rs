//! The `ctprep` command line: every CT preprocessing stage as a subcommand.
//!
//! Exit codes: 0 success; 1 bad input or a failed operation, with one line on stderr
//! `error: <file>: <what and why>`; 2 usage errors (clap's, and option values that make no sense
//! together, such as an empty window).
#![forbid(unsafe_code)]

mod commands;
mod images;
mod mip;
mod progress;
mod resample;
mod run;
mod signals;
mod window;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    // Leaked once per process: clap keeps a `'static` long version.
    let version: &'static str = Box::leak(commands::long_version().into_boxed_str());
    let matches = commands::Cli::command().long_version(version).get_matches();
    let cli = match commands::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<commands::UsageError>() => {
            eprintln!("error: {}\n\nFor more information, try '--help'.", one_line(&e.to_string()));
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {}", one_line(&e.to_string()));
            ExitCode::from(1)
        }
    }
}

/// `message` with its control characters escaped as Rust escapes them (`\n`, `\u{1b}`): a file
/// name holding a newline or a terminal escape sequence can neither split the one-line error
/// nor reach the terminal.
fn one_line(message: &str) -> String {
    message.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
}
