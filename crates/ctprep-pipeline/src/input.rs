//! Reading an input volume, told apart by content: NIfTI, NRRD, or, with the `dicom` feature, a
//! DICOM series (a folder, or one file of the series' folder). Every command reads its volumes
//! through here, so each takes what the others take.

use std::path::Path;

use ctprep_io::{Result, Volume};

/// Whether `path` is read as DICOM: a folder, or a file that is DICOM by content (never false
/// for a folder, so a folder without the `dicom` feature gets that feature's error).
pub fn is_dicom_input(path: &Path) -> bool {
    #[cfg(feature = "dicom")]
    return ctprep_dicom::is_dicom_input(path);
    #[cfg(not(feature = "dicom"))]
    path.is_dir()
}

/// The series a DICOM input reads when its folder holds several (`--series`): a
/// SeriesInstanceUID or an index, as `ctprep info` lists them.
#[cfg(feature = "dicom")]
pub use ctprep_dicom::Pick;

/// How a DICOM input is read (NIfTI and NRRD ignore it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DicomOptions {
    /// The series to read where a folder holds several: a SeriesInstanceUID or an index, as
    /// `ctprep info` lists them.
    pub series: Option<String>,
    /// The real value (HU for CT) the voxels holding PixelPaddingValue are set to; without it
    /// they keep their value and are counted in a note.
    pub fill_padding: Option<f64>,
    /// Uneven slice spacing resampled (linearly along the slice normal onto a uniform stack,
    /// with a note) instead of an error.
    pub resample_uneven: bool,
}

/// The volume at `path`: a NIfTI or NRRD file, or a DICOM series with its only image series.
pub fn read_volume(path: &Path) -> Result<Volume> {
    read_volume_picking(path, None)
}

/// [`read_volume`], with `series` naming the DICOM series to read where a folder holds several
/// (ignored for NIfTI and NRRD).
pub fn read_volume_picking(path: &Path, series: Option<&str>) -> Result<Volume> {
    read_volume_noted(path, series).map(|(v, _)| v)
}

/// [`read_volume_picking`] and what a user should hear about the reading, one line each: the
/// DICOM files skipped and why, a non-CT modality (HU windows may not apply), a single slice's
/// third axis.
pub fn read_volume_noted(path: &Path, series: Option<&str>) -> Result<(Volume, Vec<String>)> {
    read_volume_with(path, &DicomOptions { series: series.map(str::to_string), ..DicomOptions::default() })
}

/// [`read_volume_noted`] with every DICOM option: the series, and the padding fill (the
/// padding voxels' count and value among the notes).
pub fn read_volume_with(path: &Path, dicom: &DicomOptions) -> Result<(Volume, Vec<String>)> {
    if is_dicom_input(path) {
        #[cfg(feature = "dicom")]
        return read_dicom_noted(path, dicom).map(|(v, _, notes)| (v, notes));
        #[cfg(not(feature = "dicom"))]
        {
            let _ = dicom;
            return Err(ctprep_io::Error::new(
                ctprep_io::ErrorKind::InvalidRequest,
                path,
                "a folder: DICOM input needs ctprep built with the `dicom` feature",
            ));
        }
    }
    ctprep_io::read_volume(path).map(|v| (v, Vec::new())).map_err(with_dicom)
}

/// The pipeline's input for `path`: a NIfTI or NRRD file by its path (the run reads its header
/// first, then its slices as the slabs need them), or a DICOM series opened slice by slice
/// ([`open_dicom`]), which streams the same way; with the notes of [`read_volume_noted`] known
/// before the voxels are read, and what to say once they are ([`AfterRead::notes`]).
pub fn pipeline_input(path: &Path, dicom: &DicomOptions) -> Result<(crate::Input, Vec<String>, AfterRead)> {
    if !is_dicom_input(path) {
        return Ok((crate::Input::path(path), Vec::new(), AfterRead::default()));
    }
    #[cfg(feature = "dicom")]
    {
        let o = open_dicom(path, dicom)?;
        Ok((crate::Input::Reader(o.reader), o.notes, AfterRead { padding: Some(o.padding) }))
    }
    #[cfg(not(feature = "dicom"))]
    read_volume_with(path, dicom)
        .map(|(v, notes)| (crate::Input::volume(v, path.display().to_string()), notes, AfterRead::default()))
}

/// What an input's reading has to say once its voxels have been read: the padding voxels of a
/// DICOM series read slice by slice.
#[derive(Clone, Debug, Default)]
pub struct AfterRead {
    #[cfg(feature = "dicom")]
    padding: Option<DicomPadding>,
}

impl AfterRead {
    /// One line each; nothing before every slice has been read.
    pub fn notes(&self) -> Vec<String> {
        #[cfg(feature = "dicom")]
        return self.padding.as_ref().and_then(DicomPadding::note).into_iter().collect();
        #[cfg(not(feature = "dicom"))]
        Vec::new()
    }

    /// Whether [`AfterRead::notes`] will not change again: every slice read, or the input's
    /// reader dropped with slices unread (a run that failed); nothing to wait for then.
    pub fn done(&self) -> bool {
        #[cfg(feature = "dicom")]
        return self.padding.as_ref().is_none_or(|p| p.count.done());
        #[cfg(not(feature = "dicom"))]
        true
    }
}

/// The DICOM series at `path` (a folder, or one file of the series' folder) as `dicom` says:
/// its volume, the series (its files' headers, for a sidecar), and the notes of
/// [`read_volume_noted`].
#[cfg(feature = "dicom")]
pub fn read_dicom_noted(path: &Path, dicom: &DicomOptions) -> Result<(Volume, ctprep_dicom::Series, Vec<String>)> {
    let (mut notes, s, options) = pick_dicom(path, dicom)?;
    let (volume, padding) = s.read_with(&options).map_err(uneven_hint)?;
    let volume = volume.with_path(path);
    notes.extend(padding_note(path, padding, dicom.fill_padding));
    notes.extend(series_notes(path, &s, &options)?);
    Ok((volume, s, notes))
}

/// A DICOM series opened to be read slice by slice ([`open_dicom`]).
#[cfg(feature = "dicom")]
#[derive(Debug)]
pub struct OpenedDicom {
    /// The series' voxels: each slice's file decoded as the reader reads it (one file per
    /// slice), or the volume read whole (multi-frame files, resampled slices).
    pub reader: ctprep_io::SliceReader,
    /// The series (its files' headers).
    pub series: ctprep_dicom::Series,
    /// What a user should hear before the voxels are read (as [`read_volume_noted`]'s notes,
    /// without the padding's).
    pub notes: Vec<String>,
    /// What the padding note needs once the slices are read ([`DicomPadding::note`]).
    pub padding: DicomPadding,
}

/// The padding voxels of an [`OpenedDicom`]'s series, counted as its reader reads.
#[cfg(feature = "dicom")]
#[derive(Clone, Debug)]
pub struct DicomPadding {
    path: std::path::PathBuf,
    fill: Option<f64>,
    count: ctprep_dicom::PaddingCount,
}

#[cfg(feature = "dicom")]
impl DicomPadding {
    /// The padding note of [`read_volume_noted`] once every slice has been read (`None` before,
    /// or when there is nothing to say).
    pub fn note(&self) -> Option<String> {
        if !self.count.complete() {
            return None;
        }
        padding_note(&self.path, self.count.padding(), self.fill)
    }
}

/// The DICOM series at `path` as `dicom` says, opened to be read slice by slice: its headers
/// read, its geometry and stored type known, each slice's file decoded as the reader reads it,
/// so that a run streams the series as it streams a NIfTI file (the same voxels as
/// [`read_dicom_noted`]).
#[cfg(feature = "dicom")]
pub fn open_dicom(path: &Path, dicom: &DicomOptions) -> Result<OpenedDicom> {
    let (mut notes, s, options) = pick_dicom(path, dicom)?;
    let (reader, count) = s.open_with(&options, path).map_err(uneven_hint)?;
    notes.extend(series_notes(path, &s, &options)?);
    let padding = DicomPadding { path: path.to_path_buf(), fill: dicom.fill_padding, count };
    Ok(OpenedDicom { reader, series: s, notes, padding })
}

/// The files of `path` (a folder, or one file's folder), the series `dicom` picks, and how to
/// read it.
#[cfg(feature = "dicom")]
fn pick_dicom(
    path: &Path,
    dicom: &DicomOptions,
) -> Result<(Vec<String>, ctprep_dicom::Series, ctprep_dicom::ReadOptions)> {
    let pick: Pick = dicom.series.as_deref().map(|s| s.parse().unwrap_or_default()).unwrap_or_default();
    let mut found = ctprep_dicom::find(path)?;
    let at = {
        let s = ctprep_dicom::pick_found(&found, path, &pick)?;
        found.series.iter().position(|x| std::ptr::eq(x, s)).unwrap_or_default()
    };
    let series = found.series.swap_remove(at);
    let options = ctprep_dicom::ReadOptions {
        fill_padding: dicom.fill_padding,
        uneven: if dicom.resample_uneven { ctprep_dicom::Uneven::Linear } else { ctprep_dicom::Uneven::Error },
    };
    Ok((skipped_notes(&found), series, options))
}

/// An uneven-spacing error with the option that resamples instead.
#[cfg(feature = "dicom")]
fn uneven_hint(e: ctprep_io::Error) -> ctprep_io::Error {
    if e.message().starts_with("uneven slice spacing:") {
        let hint = format!("{} (--uneven resample interpolates onto a uniform stack)", e.message());
        ctprep_io::Error::new(e.kind(), e.path(), hint)
    } else {
        e
    }
}

/// One line per DICOM file skipped, and why.
#[cfg(feature = "dicom")]
fn skipped_notes(found: &ctprep_dicom::Found) -> Vec<String> {
    found.skipped.iter().map(|k| format!("skipped {}: {}", k.path.display(), k.why)).collect()
}

/// The padding voxels counted (and set to the fill), or a fill that changed nothing.
#[cfg(feature = "dicom")]
fn padding_note(path: &Path, padding: Option<ctprep_dicom::Padding>, fill: Option<f64>) -> Option<String> {
    match padding {
        Some(p) if p.voxels > 0 => Some(match p.filled {
            Some(v) => format!(
                "{}: {} voxels held PixelPaddingValue {} (outside the field of view): set to {v}",
                path.display(),
                p.voxels,
                p.real
            ),
            None => format!(
                "{}: {} voxels hold PixelPaddingValue {} (outside the field of view; --fill-padding V sets them to V)",
                path.display(),
                p.voxels,
                p.real
            ),
        }),
        _ if fill.is_some() => {
            Some(format!("{}: no voxel holds a PixelPaddingValue: --fill-padding changes nothing", path.display()))
        }
        _ => None,
    }
}

/// A non-CT modality, a single slice's third axis, slices resampled.
#[cfg(feature = "dicom")]
fn series_notes(path: &Path, s: &ctprep_dicom::Series, options: &ctprep_dicom::ReadOptions) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    if !s.modality.eq_ignore_ascii_case("CT") {
        notes.push(format!("{}: modality {}, not CT: HU windows may not apply", path.display(), s.modality));
    }
    let g = s.geometry_with(options.uneven)?;
    for note in [g.single_slice_note, g.resampled].into_iter().flatten() {
        notes.push(format!("{}: {note}", path.display()));
    }
    Ok(notes)
}

/// An error about a file that is none of the formats read: with the `dicom` feature, the
/// message names DICOM among them.
pub fn with_dicom(e: ctprep_io::Error) -> ctprep_io::Error {
    #[cfg(feature = "dicom")]
    if e.message().contains("not a NIfTI or NRRD file") {
        let message = e.message().replace("not a NIfTI or NRRD file", "not a NIfTI, NRRD or DICOM file");
        return ctprep_io::Error::new(e.kind(), e.path(), message);
    }
    e
}
