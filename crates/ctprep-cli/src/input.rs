//! The commands' input volumes: NIfTI, NRRD or DICOM by content, the DICOM series the global
//! `--series` names, its padding set as `--fill-padding` says.

use std::path::Path;
use std::sync::OnceLock;

use ctprep_io::{Result, SliceReader, Volume};
use ctprep_pipeline::Input;
use ctprep_pipeline::input::DicomOptions;

static DICOM: OnceLock<DicomOptions> = OnceLock::new();

/// The `--series`, `--fill-padding` and `--uneven` of this process's command line (set once, before any
/// read).
pub(crate) fn set_dicom(series: Option<String>, fill_padding: Option<f64>, resample_uneven: bool) {
    let _ = DICOM.set(DicomOptions { series, fill_padding, resample_uneven });
}

pub(crate) fn dicom() -> DicomOptions {
    DICOM.get().cloned().unwrap_or_default()
}

/// The volume at `path`.
pub(crate) fn read_volume(path: impl AsRef<Path>) -> Result<Volume> {
    let path = path.as_ref();
    let options = dicom();
    if options.fill_padding.is_some() && !ctprep_pipeline::input::is_dicom_input(path) {
        eprintln!("note: {}: not DICOM: --fill-padding changes nothing", path.display());
    }
    let (v, notes) = ctprep_pipeline::input::read_volume_with(path, &options)?;
    for n in notes {
        eprintln!("note: {}", crate::one_line(&n));
    }
    Ok(v)
}

/// The DICOM series at `path` (the one `--series` names) and its volume, its notes on stderr.
#[cfg(feature = "dicom")]
pub(crate) fn read_dicom(path: &Path) -> Result<(Volume, ctprep_dicom::Series)> {
    let (v, s, notes) = ctprep_pipeline::input::read_dicom_noted(path, &dicom())?;
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
