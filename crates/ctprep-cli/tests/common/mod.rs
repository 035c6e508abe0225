//! Helpers shared by the CLI's end-to-end tests: running the `ctprep` binary.
#![allow(dead_code)] // Each test file uses its own subset.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `ctprep` binary built for these tests.
pub(crate) fn ctprep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ctprep")).args(args).output().expect("ctprep runs")
}

/// A path as a command-line argument.
pub(crate) fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// What the command wrote on stderr.
pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
