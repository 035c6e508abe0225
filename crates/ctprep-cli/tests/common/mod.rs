//! Helpers shared by the CLI's end-to-end tests: running the `ctprep` binary.
#![allow(dead_code)] // Each test file uses its own subset.

use std::path::Path;
use std::process::{Command, Output};

/// The `ctprep` binary built for these tests, with no `ctprep tune` profile: a profile of the
/// machine's user (in ~/.config) would change what `auto` runs and so what the tests see.
pub(crate) fn ctprep_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ctprep"));
    c.env_remove("CTPREP_PROFILE").env("XDG_CONFIG_HOME", "/nonexistent-ctprep-test-config");
    c
}

/// Runs the `ctprep` binary built for these tests (see [`ctprep_command`]).
pub(crate) fn ctprep(args: &[&str]) -> Output {
    ctprep_command().args(args).output().expect("ctprep runs")
}

/// A path as a command-line argument.
pub(crate) fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// What the command wrote on stderr.
pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
