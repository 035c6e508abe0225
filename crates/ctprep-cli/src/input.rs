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

/// What the inputs opened so far have to say once their voxels are read ([`late_notes`]).
static AFTER: std::sync::Mutex<Vec<ctprep_pipeline::input::AfterRead>> = std::sync::Mutex::new(Vec::new());

/// The notes of the inputs opened so far whose voxels have all been read since (the padding
/// voxels of a DICOM series read slice by slice), on stderr, each once; inputs whose reader
/// is gone with slices unread (a run that failed) are let go, so a long-lived process (the
/// Python module) keeps nothing of them.
pub(crate) fn late_notes() {
    let mut after = AFTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    after.retain(|a| {
        let notes = a.notes();
        for n in &notes {
            eprintln!("note: {}", crate::one_line(n));
        }
        notes.is_empty() && !a.done()
    });
}

/// The pipeline's input for `path`: a file it streams, or a DICOM series (the one `--series`
/// names) whose slices are decoded as the run reads them, its notes on stderr.
pub(crate) fn pipeline_input(path: &Path) -> Result<Input> {
    let options = dicom();
    if options.fill_padding.is_some() && !ctprep_pipeline::input::is_dicom_input(path) {
        eprintln!("note: {}: not DICOM: --fill-padding changes nothing", path.display());
    }
    let (input, notes, after) = ctprep_pipeline::input::pipeline_input(path, &options)?;
    for n in notes {
        eprintln!("note: {}", crate::one_line(&n));
    }
    AFTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(after);
    Ok(input)
}

/// A reader of the input at `path`: the file's header now and its slices as they are read; a
/// DICOM series (the one `--series` names) with every file's header read now, its slices
/// decoded as they are read.
pub(crate) fn open_reader(path: impl AsRef<Path>) -> Result<SliceReader> {
    let path = path.as_ref();
    match pipeline_input(path)? {
        Input::Reader(r) => Ok(r),
        Input::Volume { volume, .. } => Ok(SliceReader::from_volume(volume)),
        _ => SliceReader::open(path).map_err(ctprep_pipeline::input::with_dicom),
    }
}
