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

/// The DICOM series at `path` (a folder, or one file of the series' folder) as `dicom` says:
/// its volume, the series (its files' headers, for a sidecar), and the notes of
/// [`read_volume_noted`].
#[cfg(feature = "dicom")]
pub fn read_dicom_noted(path: &Path, dicom: &DicomOptions) -> Result<(Volume, ctprep_dicom::Series, Vec<String>)> {
    let pick: Pick = dicom.series.as_deref().map(|s| s.parse().unwrap_or_default()).unwrap_or_default();
    let found = ctprep_dicom::find(path)?;
    let s = ctprep_dicom::pick_found(&found, path, &pick)?;
    let options = ctprep_dicom::ReadOptions {
        fill_padding: dicom.fill_padding,
        uneven: if dicom.resample_uneven { ctprep_dicom::Uneven::Linear } else { ctprep_dicom::Uneven::Error },
    };
    let (volume, padding) = s.read_with(&options).map_err(|e| {
        if e.message().starts_with("uneven slice spacing:") {
            let hint = format!("{} (--uneven resample interpolates onto a uniform stack)", e.message());
            ctprep_io::Error::new(e.kind(), e.path(), hint)
        } else {
            e
        }
    })?;
    let volume = volume.with_path(path);
    let s = s.clone();
    let mut notes: Vec<String> =
        found.skipped.iter().map(|k| format!("skipped {}: {}", k.path.display(), k.why)).collect();
    match padding {
        Some(p) if p.voxels > 0 => notes.push(match p.filled {
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
        _ if dicom.fill_padding.is_some() => {
            notes.push(format!(
                "{}: no voxel holds a PixelPaddingValue: --fill-padding changes nothing",
                path.display()
            ));
        }
        _ => {}
    }
    if !s.modality.eq_ignore_ascii_case("CT") {
        notes.push(format!("{}: modality {}, not CT: HU windows may not apply", path.display(), s.modality));
    }
    let g = s.geometry_with(options.uneven)?;
    for note in [g.single_slice_note, g.resampled].into_iter().flatten() {
        notes.push(format!("{}: {note}", path.display()));
    }
    Ok((volume, s, notes))
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
