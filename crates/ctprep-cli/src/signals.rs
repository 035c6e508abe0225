//! Ctrl-C, SIGTERM and SIGHUP: once no output is being renamed into place, the command's
//! temporary files (and lock files) are removed from the folders it writes into (an earlier
//! output it had moved aside goes back), then the process exits 130. Outputs already in place
//! (a batch's finished cases) stay.

use std::path::PathBuf;
use std::sync::Mutex;

/// The folders the running command writes into.
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Cleans up `dirs` if the process is interrupted. Installing the handler can fail only if
/// another one exists; the command then runs without it.
pub(crate) fn clean_on_interrupt(dirs: Vec<PathBuf>) {
    if let Ok(mut d) = DIRS.lock() {
        *d = dirs;
    }
    let _ = ctrlc::set_handler(|| {
        // Never in the middle of renaming outputs into place; the guard is never given back.
        let placing = ctprep_io::placing_lock();
        std::mem::forget(placing);
        if let Ok(dirs) = DIRS.lock() {
            for d in dirs.iter() {
                ctprep_io::remove_own_temporaries(d);
            }
        }
        eprintln!("interrupted: unfinished outputs removed");
        std::process::exit(130);
    });
}
