//! One file's header: the attributes that group files into series and place their slices, read
//! from the element structure [`scan::parse`] checked (no DICOM parser sees a file's bytes: a
//! parser that reads a malformed structure otherwise than the check would read garbage as a
//! length and allocate it).

use std::path::{Path, PathBuf};

use crate::scan::{self, Elem, Parsed, Start};
use dicom_core::Tag;
use dicom_dictionary_std::tags;

/// SOP classes that hold no image (structured reports, presentation states, RT structures,
/// key objects, segmentations): skipped with their name.
const NON_IMAGE: [(&str, &str); 6] = [
    ("1.2.840.10008.5.1.4.1.1.88.", "structured report (SR)"),
    ("1.2.840.10008.5.1.4.1.1.11.", "presentation state (PR)"),
    ("1.2.840.10008.5.1.4.1.1.481.3", "RT structure set (RTSTRUCT)"),
    ("1.2.840.10008.5.1.4.1.1.481.", "RT object"),
    ("1.2.840.10008.5.1.4.1.1.66.4", "segmentation (SEG)"),
    ("1.2.840.10008.5.1.4.1.1.88.59", "key object selection (KO)"),
];

/// What one image file says about its slices.
#[derive(Clone, Debug)]
pub struct FileInfo {
    pub path: PathBuf,
    pub transfer_syntax: String,
    pub sop_class: String,
    pub modality: String,
    pub series_uid: String,
    pub series_description: String,
    pub series_number: Option<i64>,
    pub image_type: Vec<String>,
    pub rows: usize,
    pub columns: usize,
    pub frames: usize,
    /// (0028,0030): the spacing between rows, then between columns, in mm.
    pub pixel_spacing: [f64; 2],
    pub slice_thickness: Option<f64>,
    pub orientation: [f64; 6],
    /// ImagePositionPatient of each frame (LPS mm).
    pub positions: Vec<[f64; 3]>,
    pub slope: f64,
    pub intercept: f64,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub signed: bool,
    pub padding: Option<i64>,
    pub acquisition_number: Option<i64>,
    /// TemporalPositionIdentifier (0020,0100).
    pub temporal_position: Option<i64>,
    pub instance_number: Option<i64>,
    pub manufacturer: String,
    /// The acquisition fields a sidecar keeps ([`SIDECAR_FIELDS`]), those present, in that order.
    pub acquisition: Vec<(&'static str, Field)>,
    /// The dates, ISO 8601 (`AcquisitionDateTime`, `SeriesDate`, `StudyDate`, those present):
    /// written to a sidecar only when asked.
    pub dates: Vec<(&'static str, String)>,
}

/// One sidecar value.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    Text(String),
    Texts(Vec<String>),
    Number(f64),
    Numbers(Vec<f64>),
}

/// How a sidecar field is read from its element.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// The text, values joined by backslashes.
    Text,
    /// Each value.
    Texts,
    /// The first number.
    Number,
    /// The first number divided by 1000 (ms to s).
    Milli,
    /// A DICOM time (HHMMSS.FFFFFF) as HH:MM:SS.ffffff.
    Time,
}

/// The acquisition fields of a sidecar, named as dcm2niix's BIDS sidecar names them, and their
/// elements. Nothing that identifies a patient (name, ID, birth date, sex, age, weight, address),
/// no institution, station, operator or physician, no dates (those come only with `dates`).
pub const SIDECAR_FIELDS: [(&str, Tag); 19] = [
    ("Modality", tags::MODALITY),
    ("Manufacturer", tags::MANUFACTURER),
    ("ManufacturersModelName", tags::MANUFACTURER_MODEL_NAME),
    ("SoftwareVersions", tags::SOFTWARE_VERSIONS),
    ("BodyPartExamined", tags::BODY_PART_EXAMINED),
    ("PatientPosition", tags::PATIENT_POSITION),
    ("SeriesDescription", tags::SERIES_DESCRIPTION),
    ("ProtocolName", tags::PROTOCOL_NAME),
    ("SeriesNumber", tags::SERIES_NUMBER),
    ("AcquisitionNumber", tags::ACQUISITION_NUMBER),
    ("ImageType", tags::IMAGE_TYPE),
    ("ScanOptions", tags::SCAN_OPTIONS),
    ("SliceThickness", tags::SLICE_THICKNESS),
    ("KVP", tags::KVP),
    ("ConvolutionKernel", tags::CONVOLUTION_KERNEL),
    ("XRayTubeCurrent", tags::X_RAY_TUBE_CURRENT),
    ("XRayExposure", tags::EXPOSURE),
    ("ExposureTime", tags::EXPOSURE_TIME),
    ("AcquisitionTime", tags::ACQUISITION_TIME),
];

fn kind(name: &str) -> Kind {
    match name {
        "ImageType" => Kind::Texts,
        "SeriesNumber" | "AcquisitionNumber" | "SliceThickness" | "KVP" | "XRayTubeCurrent" | "XRayExposure" => {
            Kind::Number
        }
        "ExposureTime" => Kind::Milli,
        "AcquisitionTime" => Kind::Time,
        _ => Kind::Text,
    }
}

/// A DICOM time `HHMMSS.FFFFFF` (or `HH:MM:SS`, or fewer parts) as `HH:MM:SS.ffffff`; `None`
/// when it is not one.
pub(crate) fn iso_time(t: &str) -> Option<String> {
    let t = t.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits: String = whole.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() % 2 == 1 || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let part = |i: usize| digits.get(2 * i..2 * i + 2).unwrap_or("00");
    Some(format!("{}:{}:{}.{:0<6}", part(0), part(1), part(2), frac))
}

/// A DICOM date `YYYYMMDD` (or `YYYY.MM.DD`) as `YYYY-MM-DD`.
pub(crate) fn iso_date(d: &str) -> Option<String> {
    let digits: String = d.trim().chars().filter(|c| *c != '.').collect();
    (digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{}-{}-{}", &digits[..4], &digits[4..6], &digits[6..]))
}

fn sidecar_fields(obj: Set<'_>) -> Vec<(&'static str, Field)> {
    let mut out = Vec::new();
    for (name, tag) in SIDECAR_FIELDS {
        let Some(v) = obj.get(tag) else { continue };
        let texts: Vec<String> = v.strings().into_iter().filter(|s| !s.is_empty()).collect();
        if texts.is_empty() {
            continue;
        }
        let field = match kind(name) {
            Kind::Text => Some(Field::Text(texts.join("\\"))),
            Kind::Texts => Some(Field::Texts(texts)),
            Kind::Number => float(obj, tag).map(Field::Number),
            Kind::Milli => float(obj, tag).map(|v| Field::Number(v / 1000.0)),
            Kind::Time => iso_time(&texts[0]).map(Field::Text),
        };
        if let Some(f) = field {
            out.push((name, f));
        }
    }
    out
}

fn dates(obj: Set<'_>) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let date = |tag| iso_date(&text(obj, tag));
    if let Some(d) = date(tags::ACQUISITION_DATE) {
        let t = iso_time(&text(obj, tags::ACQUISITION_TIME)).unwrap_or_else(|| "00:00:00.000000".into());
        out.push(("AcquisitionDateTime", format!("{d}T{t}")));
    }
    for (name, tag) in [("SeriesDate", tags::SERIES_DATE), ("StudyDate", tags::STUDY_DATE)] {
        if let Some(d) = date(tag) {
            out.push((name, d));
        }
    }
    out
}

/// A file that is DICOM but not an image of a volume: why it is skipped.
#[derive(Clone, Debug)]
pub struct Skipped {
    pub path: PathBuf,
    pub why: String,
}

/// The outcome of reading one file's header.
#[derive(Debug)]
pub enum Header {
    Image(Box<FileInfo>),
    Skip(Skipped),
}

/// A data set (or a sequence item) of a parsed file.
#[derive(Clone, Copy)]
pub(crate) struct Set<'a> {
    data: &'a [u8],
    little: bool,
    elements: &'a [Elem],
}

/// One element of a [`Set`].
#[derive(Clone, Copy)]
pub(crate) struct Val<'a> {
    set: Set<'a>,
    elem: &'a Elem,
}

impl<'a> Set<'a> {
    pub(crate) fn of(parsed: &'a Parsed<'a>) -> Set<'a> {
        Set { data: &parsed.data, little: parsed.little, elements: &parsed.elements }
    }

    pub(crate) fn get(self, tag: Tag) -> Option<Val<'a>> {
        self.elements.iter().find(|e| e.tag == tag).map(|elem| Val { set: self, elem })
    }
}

impl<'a> Val<'a> {
    pub(crate) fn bytes(self) -> &'a [u8] {
        &self.set.data[self.elem.value.clone()]
    }

    pub(crate) fn fragments(self) -> Vec<&'a [u8]> {
        self.elem.fragments.iter().map(|r| &self.set.data[r.clone()]).collect()
    }

    fn items(self) -> Vec<Set<'a>> {
        self.elem.items.iter().map(|i| Set { elements: i, ..self.set }).collect()
    }

    /// The value as text (trailing spaces and NULs trimmed, values split at backslashes).
    fn strings(self) -> Vec<String> {
        let t = String::from_utf8_lossy(self.bytes());
        t.split('\\').map(|v| v.trim_matches([' ', '\0']).to_string()).collect()
    }

    /// The value as numbers: decimal and integer strings parsed, binary numbers decoded in the
    /// file's byte order; `None` where one does not parse.
    fn numbers(self) -> Option<Vec<f64>> {
        let b = self.bytes();
        let little = self.set.little;
        let n2 = |c: &[u8]| if little { [c[0], c[1]] } else { [c[1], c[0]] };
        let n4 = |c: &[u8]| if little { [c[0], c[1], c[2], c[3]] } else { [c[3], c[2], c[1], c[0]] };
        let n8 = |c: &[u8]| {
            let mut a: [u8; 8] = c.try_into().unwrap_or_default();
            if !little {
                a.reverse();
            }
            a
        };
        Some(match self.elem.vr.as_ref().map(|v| &v[..]) {
            Some(b"US") => b.chunks_exact(2).map(|c| f64::from(u16::from_le_bytes(n2(c)))).collect(),
            Some(b"SS") => b.chunks_exact(2).map(|c| f64::from(i16::from_le_bytes(n2(c)))).collect(),
            Some(b"UL") => b.chunks_exact(4).map(|c| f64::from(u32::from_le_bytes(n4(c)))).collect(),
            Some(b"SL") => b.chunks_exact(4).map(|c| f64::from(i32::from_le_bytes(n4(c)))).collect(),
            Some(b"FL") => b.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes(n4(c)))).collect(),
            Some(b"FD") => b.chunks_exact(8).map(|c| f64::from_le_bytes(n8(c))).collect(),
            _ => {
                let v: Option<Vec<f64>> = self.strings().iter().map(|s| s.parse::<f64>().ok()).collect();
                v?
            }
        })
    }
}

/// Parse `bytes` (the whole file, `start` as [`scan::recognise`] found it).
pub(crate) fn parse(bytes: &[u8], start: Start) -> Result<Parsed<'_>, String> {
    scan::parse(bytes, start)
}

fn text(obj: Set<'_>, tag: Tag) -> String {
    obj.get(tag).map(|v| v.strings().join("\\")).unwrap_or_default()
}

fn int(obj: Set<'_>, tag: Tag) -> Option<i64> {
    let v = *obj.get(tag)?.numbers()?.first()?;
    (v.fract() == 0.0 && v.abs() < 9e15).then_some(v as i64)
}

fn float(obj: Set<'_>, tag: Tag) -> Option<f64> {
    obj.get(tag)?.numbers()?.first().copied().filter(|v| v.is_finite())
}

fn floats<const N: usize>(e: Option<Val<'_>>) -> Option<[f64; N]> {
    let v = e?.numbers()?;
    let a: [f64; N] = v.get(..N)?.try_into().ok()?;
    a.iter().all(|x| x.is_finite()).then_some(a)
}

/// PixelPaddingValue (0028,0120): US or SS as the pixels are unsigned or signed, which an
/// implicit-VR file does not say (its 2 bytes are read by PixelRepresentation then).
fn padding_value(obj: Set<'_>, signed: bool) -> Option<i64> {
    let v = obj.get(tags::PIXEL_PADDING_VALUE)?;
    match v.elem.vr.as_ref().map(|v| &v[..]) {
        Some(b"US" | b"SS") => int(obj, tags::PIXEL_PADDING_VALUE),
        _ => {
            let b: [u8; 2] = v.bytes().get(..2)?.try_into().ok()?;
            let b = if v.set.little { b } else { [b[1], b[0]] };
            Some(if signed { i64::from(i16::from_le_bytes(b)) } else { i64::from(u16::from_le_bytes(b)) })
        }
    }
}

/// The first item of sequence `tag` in `obj`.
fn first_item(obj: Set<'_>, tag: Tag) -> Option<Set<'_>> {
    obj.get(tag)?.items().first().copied()
}

/// Functional group macro `seq`: the frame's own, else the shared one.
fn functional_group<'a>(shared: Option<Set<'a>>, frame: Option<Set<'a>>, seq: Tag) -> Option<Set<'a>> {
    frame.and_then(|f| first_item(f, seq)).or_else(|| shared.and_then(|s| first_item(s, seq)))
}

/// Rows x Columns x frames above this is not a CT volume's file (the limit a corrupt header
/// must pass before anything is allocated for it).
pub const MAX_VALUES_PER_FILE: usize = 1 << 31;

/// The header of the file at `path` (whose bytes are `bytes`).
pub fn read(path: &Path, bytes: &[u8], start: Start) -> Result<Header, String> {
    let parsed = parse(bytes, start)?;
    let (obj, ts) = (Set::of(&parsed), parsed.ts.clone());
    let sop_class = text(obj, tags::SOP_CLASS_UID);
    let skip = |why: String| Ok(Header::Skip(Skipped { path: path.to_path_buf(), why }));
    if let Some((_, name)) = NON_IMAGE.iter().find(|(p, _)| sop_class.starts_with(p)) {
        return skip(format!("not an image: {name}"));
    }
    let image_type: Vec<String> = text(obj, tags::IMAGE_TYPE).split('\\').map(|s| s.trim().to_string()).collect();
    if image_type.iter().any(|t| t == "LOCALIZER") {
        return skip("a localizer (ImageType LOCALIZER)".into());
    }
    let Some(rows) = int(obj, tags::ROWS) else {
        return skip("no Rows: not an image".into());
    };
    let columns = int(obj, tags::COLUMNS).ok_or("Rows without Columns")?;
    let frames = int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1);
    if rows <= 0 || columns <= 0 || frames <= 0 {
        return Err(format!("Rows {rows} x Columns {columns} x {frames} frames: not a size"));
    }
    let (rows, columns, frames) = (rows as usize, columns as usize, frames as usize);
    let values = rows.checked_mul(columns).and_then(|v| v.checked_mul(frames));
    if values.is_none_or(|v| v > MAX_VALUES_PER_FILE) {
        return Err(format!("Rows {rows} x Columns {columns} x {frames} frames is beyond any CT file"));
    }
    let samples = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    if samples != 1 {
        return Err(format!("{samples} samples per pixel: only grey-level (1) images are read"));
    }
    let bits_allocated = int(obj, tags::BITS_ALLOCATED).unwrap_or(16);
    let bits_stored = int(obj, tags::BITS_STORED).unwrap_or(bits_allocated);
    if !matches!(bits_allocated, 8 | 16 | 32) || bits_stored < 1 || bits_stored > bits_allocated {
        return Err(format!("BitsAllocated {bits_allocated}, BitsStored {bits_stored}: not readable"));
    }
    let signed = int(obj, tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1;

    // Enhanced multi-frame: the functional groups (shared, else per frame).
    let shared = first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let per_frame: Vec<Set<'_>> =
        obj.get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE).map(|e| e.items()).unwrap_or_default();
    let macro_of = |frame, seq| functional_group(shared, frame, seq);
    let first_frame = per_frame.first().copied();
    let orientation = floats::<6>(obj.get(tags::IMAGE_ORIENTATION_PATIENT))
        .or_else(|| {
            floats::<6>(macro_of(first_frame, tags::PLANE_ORIENTATION_SEQUENCE)?.get(tags::IMAGE_ORIENTATION_PATIENT))
        })
        .ok_or("no ImageOrientationPatient (0020,0037): cannot place the image")?;
    let pixel_spacing = floats::<2>(obj.get(tags::PIXEL_SPACING))
        .or_else(|| floats::<2>(macro_of(first_frame, tags::PIXEL_MEASURES_SEQUENCE)?.get(tags::PIXEL_SPACING)))
        .ok_or("no PixelSpacing (0028,0030)")?;
    if pixel_spacing.iter().any(|&s| s <= 0.0) {
        return Err(format!("PixelSpacing {pixel_spacing:?}: not positive"));
    }
    let positions: Vec<[f64; 3]> = if frames > 1 && !per_frame.is_empty() {
        if per_frame.len() != frames {
            return Err(format!("{frames} frames but {} per-frame functional groups", per_frame.len()));
        }
        per_frame
            .iter()
            .enumerate()
            .map(|(i, f)| {
                floats::<3>(
                    first_item(*f, tags::PLANE_POSITION_SEQUENCE).and_then(|p| p.get(tags::IMAGE_POSITION_PATIENT)),
                )
                .ok_or(format!("frame {i}: no ImagePositionPatient"))
            })
            .collect::<Result<_, _>>()?
    } else {
        let p = floats::<3>(obj.get(tags::IMAGE_POSITION_PATIENT))
            .or_else(|| {
                floats::<3>(macro_of(first_frame, tags::PLANE_POSITION_SEQUENCE)?.get(tags::IMAGE_POSITION_PATIENT))
            })
            .ok_or("no ImagePositionPatient (0020,0032): cannot place the image")?;
        if frames > 1 {
            return Err(format!("{frames} frames without per-frame positions"));
        }
        vec![p]
    };
    let transform = macro_of(first_frame, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE);
    let slope = float(obj, tags::RESCALE_SLOPE).or_else(|| float(transform?, tags::RESCALE_SLOPE)).unwrap_or(1.0);
    let intercept =
        float(obj, tags::RESCALE_INTERCEPT).or_else(|| float(transform?, tags::RESCALE_INTERCEPT)).unwrap_or(0.0);
    if slope == 0.0 {
        return Err("RescaleSlope 0".into());
    }
    let slice_thickness = float(obj, tags::SLICE_THICKNESS)
        .or_else(|| float(macro_of(first_frame, tags::PIXEL_MEASURES_SEQUENCE)?, tags::SLICE_THICKNESS));
    Ok(Header::Image(Box::new(FileInfo {
        path: path.to_path_buf(),
        transfer_syntax: ts,
        sop_class,
        modality: text(obj, tags::MODALITY),
        series_uid: text(obj, tags::SERIES_INSTANCE_UID),
        series_description: text(obj, tags::SERIES_DESCRIPTION),
        series_number: int(obj, tags::SERIES_NUMBER),
        image_type,
        rows,
        columns,
        frames,
        pixel_spacing,
        slice_thickness,
        orientation,
        positions,
        slope,
        intercept,
        bits_allocated: bits_allocated as u16,
        bits_stored: bits_stored as u16,
        signed,
        padding: padding_value(obj, signed),
        acquisition_number: int(obj, tags::ACQUISITION_NUMBER),
        temporal_position: int(obj, tags::TEMPORAL_POSITION_IDENTIFIER),
        instance_number: int(obj, tags::INSTANCE_NUMBER),
        manufacturer: text(obj, tags::MANUFACTURER),
        acquisition: sidecar_fields(obj),
        dates: dates(obj),
    })))
}

#[cfg(test)]
mod tests {
    use super::{iso_date, iso_time};

    #[test]
    fn dicom_times_and_dates_in_iso_form() {
        assert_eq!(iso_time("120000").as_deref(), Some("12:00:00.000000"));
        assert_eq!(iso_time("094906.9").as_deref(), Some("09:49:06.900000"));
        assert_eq!(iso_time("1130").as_deref(), Some("11:30:00.000000"));
        assert_eq!(iso_time("11:29:36.5 ").as_deref(), Some("11:29:36.500000"));
        for bad in ["", "1", "12a000", "120000.1234567", "1200000"] {
            assert_eq!(iso_time(bad), None, "{bad}");
        }
        assert_eq!(iso_date("20240102").as_deref(), Some("2024-01-02"));
        assert_eq!(iso_date("2024.01.02").as_deref(), Some("2024-01-02"));
        assert_eq!(iso_date("202401"), None);
    }
}
