//! The `ctprep` command line: every CT preprocessing stage as a subcommand (the work is in the
//! `ctprep_cli` library and the crates it calls).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use ctprep_cli::Failure;

fn main() -> ExitCode {
    match ctprep_cli::try_run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Clap(e)) => e.exit(),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
