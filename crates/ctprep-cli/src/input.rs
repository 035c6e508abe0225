//! The commands' input volumes: NIfTI, NRRD or DICOM by content, the DICOM series the global
//! `--series` names.

use std::path::Path;
use std::sync::OnceLock;

use ctprep_io::{Result, SliceReader, Volume};
use ctprep_pipeline::Input;

static SERIES: OnceLock<Option<String>> = OnceLock::new();

/// The `--series` of this process's command line (set once, before any read).
pub(crate) fn set_series(series: Option<String>) {
    let _ = SERIES.set(series);
}

fn series() -> Option<&'static str> {
    SERIES.get().and_then(|s| s.as_deref())
}

/// The volume at `path`.
pub(crate) fn read_volume(path: impl AsRef<Path>) -> Result<Volume> {
    let (v, notes) = ctprep_pipeline::input::read_volume_noted(path.as_ref(), series())?;
    for n in notes {
        eprintln!("note: {}", crate::one_line(&n));
    }
    Ok(v)
}

/// The DICOM series at `path` (the one `--series` names) and its volume, its notes on stderr.
#[cfg(feature = "dicom")]
pub(crate) fn read_dicom(path: &Path) -> Result<(Volume, ctprep_dicom::Series)> {
    let (v, s, notes) = ctprep_pipeline::input::read_dicom_noted(path, series())?;
    for n in notes {
        eprintln!("note: {}", crate::one_line(&n));
    }
    Ok((v, s))
}

/// The pipeline's input for `path`: a file it streams, or a DICOM series read whole first (the
/// series `--series` names, its notes on stderr).
pub(crate) fn pipeline_input(path: &Path) -> Result<Input> {
    if ctprep_pipeline::input::is_dicom_input(path) {
        let volume = read_volume(path)?;
        return Ok(Input::Volume { volume, name: path.display().to_string() });
    }
    Ok(Input::path(path))
}

/// A reader of the input at `path`: the file's header now and its slices as they are read,
/// or a DICOM series read whole (the series `--series` names).
pub(crate) fn open_reader(path: impl AsRef<Path>) -> Result<SliceReader> {
    let path = path.as_ref();
    if ctprep_pipeline::input::is_dicom_input(path) {
        return Ok(SliceReader::from_volume(read_volume(path)?));
    }
    SliceReader::open(path).map_err(ctprep_pipeline::input::with_dicom)
}
