//! NRRD (teem's "nearly raw raster data", the format of 3D Slicer and dcmqi): the header parsed
//! and checked, its geometry turned into the RAS affine, the voxels read through the same sources
//! as NIfTI; and NRRD written (attached `.nrrd` or detached `.nhdr` + data file, raw or gzip,
//! either byte order) in the LPS space 3D Slicer writes.
//!
//! Supported: `NRRD0001`-`NRRD0005`; every NIfTI integer and float type under each of its teem
//! names; encodings `raw` and `gzip` (`gz`); `endian`; `byte skip` (-1 included, raw only) and
//! `line skip`; `data file` naming one file; `space` RAS, LAS, LPS,
//! `scanner-xyz` and `3D-right-handed` (read as LPS, as ITK does); `space directions` (any
//! non-singular directions, `none` for non-spatial axes), `space origin`; `spacings` and
//! `axis mins` when there is no `space`; `kinds`; `measurement frame` and every other field and
//! key/value pair kept and written back. A leading non-spatial axis (`list`, `vector`, `complex`...,
//! as in a multi-layer `.seg.nrrd`) is read as layers: the volume's last axis.
//!
//! Refused with an error naming the field: encodings `ascii`/`text`, `hex`, `bzip2`; type `block`;
//! `data file: LIST` and formatted multi-file lists; `3D-left-handed` and 4-D `-time` spaces; a
//! non-spatial axis between spatial ones; more than three spatial axes.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ctprep_core::Affine;

use crate::datatype::DataType;
use crate::error::{Error, ErrorKind, Result};
use crate::header::ByteOrder;

/// The longest header read before giving up on finding its end (the blank line).
const MAX_HEADER_BYTES: usize = 1 << 20;

/// How the voxels of an NRRD are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NrrdEncoding {
    /// The bytes as they are.
    Raw,
    /// A gzip stream.
    Gzip,
}

impl NrrdEncoding {
    /// The name written in the header.
    pub fn name(self) -> &'static str {
        match self {
            NrrdEncoding::Raw => "raw",
            NrrdEncoding::Gzip => "gzip",
        }
    }
}

/// The `space` of an NRRD: the world frame its directions and origin are given in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NrrdSpace {
    /// `right-anterior-superior` (`RAS`).
    Ras,
    /// `left-anterior-superior` (`LAS`).
    Las,
    /// `left-posterior-superior` (`LPS`), 3D Slicer's and DICOM's frame.
    Lps,
    /// `scanner-xyz`: read as LPS (ITK's reading).
    ScannerXyz,
    /// `3D-right-handed`: read as LPS (ITK's reading).
    RightHanded3D,
}

impl NrrdSpace {
    fn parse(s: &str) -> Option<NrrdSpace> {
        let base = s.trim().to_ascii_lowercase();
        let space = match base.as_str() {
            "right-anterior-superior" | "ras" => NrrdSpace::Ras,
            "left-anterior-superior" | "las" => NrrdSpace::Las,
            "left-posterior-superior" | "lps" => NrrdSpace::Lps,
            "scanner-xyz" => NrrdSpace::ScannerXyz,
            "3d-right-handed" => NrrdSpace::RightHanded3D,
            _ => return None,
        };
        Some(space)
    }

    /// The name written in the header.
    pub fn name(self) -> &'static str {
        match self {
            NrrdSpace::Ras => "right-anterior-superior",
            NrrdSpace::Las => "left-anterior-superior",
            NrrdSpace::Lps => "left-posterior-superior",
            NrrdSpace::ScannerXyz => "scanner-xyz",
            NrrdSpace::RightHanded3D => "3D-right-handed",
        }
    }

    /// The signs that take this space's coordinates to RAS.
    fn to_ras(self) -> [f64; 3] {
        match self {
            NrrdSpace::Ras => [1.0, 1.0, 1.0],
            NrrdSpace::Las => [-1.0, 1.0, 1.0],
            NrrdSpace::Lps | NrrdSpace::ScannerXyz | NrrdSpace::RightHanded3D => [-1.0, -1.0, 1.0],
        }
    }
}

/// An NRRD header: the fields ctprep reads, parsed and checked, and everything else kept as text
/// so that a file written back carries it.
#[derive(Clone, Debug, PartialEq)]
pub struct NrrdHeader {
    /// The format version of the magic (`NRRD0004` is 4).
    pub version: u8,
    /// The voxel type.
    pub dtype: DataType,
    /// `sizes`, fastest axis first.
    pub sizes: Vec<usize>,
    /// `encoding`.
    pub encoding: NrrdEncoding,
    /// `endian` (little when the file does not say, which it need not for one-byte types).
    pub byte_order: ByteOrder,
    /// `byte skip` (-1: the data are the file's last bytes).
    pub byte_skip: i64,
    /// `line skip`.
    pub line_skip: u64,
    /// `data file`, as written (relative to the header's folder), for a detached header.
    pub data_file: Option<String>,
    /// `space`.
    pub space: Option<NrrdSpace>,
    /// `space directions`, one per axis, `None` for `none`.
    pub space_directions: Option<Vec<Option<[f64; 3]>>>,
    /// `space origin`.
    pub space_origin: Option<[f64; 3]>,
    /// `spacings` (NaN for `nan`).
    pub spacings: Option<Vec<f64>>,
    /// `axis mins` (NaN for `nan`).
    pub axis_mins: Option<Vec<f64>>,
    /// `kinds`, as written.
    pub kinds: Option<Vec<String>>,
    /// `measurement frame`, as vectors (columns) in the order written.
    pub measurement_frame: Option<Vec<[f64; 3]>>,
    /// Every other field, name and value as written (`content`, `space units`, `labels`...).
    pub other_fields: Vec<(String, String)>,
    /// The key/value pairs (`key:=value`).
    pub key_values: Vec<(String, String)>,
    /// The bytes of the header, blank line included: where attached data start.
    pub header_bytes: usize,
}

impl NrrdHeader {
    /// Whether the first axis is a non-spatial one that the volume holds as layers (its last
    /// axis), as in a multi-layer `.seg.nrrd`.
    pub fn layered(&self) -> bool {
        self.sizes.len() > 1 && self.spatial_axes().first().is_some_and(|&a| a != 0)
    }

    /// The spatial axes: those with a direction; without `space directions`, the first three
    /// whose `kinds` are domain kinds (as teem's `nrrdDomainAxesGet`, which ITK follows).
    fn spatial_axes(&self) -> Vec<usize> {
        match &self.space_directions {
            Some(d) => (0..d.len()).filter(|&i| d[i].is_some()).collect(),
            None => {
                let domain = |i: usize| {
                    self.kinds.as_ref().is_none_or(|k| {
                        matches!(k[i].to_ascii_lowercase().as_str(), "domain" | "space" | "time" | "???" | "none")
                    })
                };
                (0..self.sizes.len()).filter(|&i| domain(i)).take(3).collect()
            }
        }
    }

    /// The volume's shape: spatial axes first (padded with 1 to three when the file has other
    /// axes too), then the other axes, a leading layer axis moved last.
    pub fn volume_shape(&self) -> Vec<usize> {
        let spatial = self.spatial_axes().len();
        let pad = if spatial < 3 && self.sizes.len() > spatial { 3 - spatial } else { 0 };
        let (lead, rest) =
            if self.layered() { (Some(self.sizes[0]), &self.sizes[1..]) } else { (None, &self.sizes[..]) };
        let mut s = rest[..spatial].to_vec();
        s.extend(std::iter::repeat_n(1, pad));
        s.extend_from_slice(&rest[spatial..]);
        s.extend(lead);
        s
    }
}

/// The data file a detached NRRD header names (resolved against its folder); `None` for a file
/// that is not an NRRD or holds its data itself.
pub fn nrrd_data_file(path: impl AsRef<Path>) -> Result<Option<PathBuf>> {
    let path = path.as_ref();
    if !crate::read::starts_as_nrrd(path)? {
        return Ok(None);
    }
    let h = read_header(path)?;
    Ok(h.data_file.map(|name| {
        let p = Path::new(&name);
        if p.is_absolute() { p.to_path_buf() } else { path.parent().unwrap_or(Path::new(".")).join(p) }
    }))
}

/// Whether `first` (a file's first bytes) starts an NRRD.
pub(crate) fn is_nrrd(first: &[u8]) -> bool {
    first.len() >= 4 && &first[..4] == b"NRRD"
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadHeader, path, msg)
}

/// Reads the header text of `path` (up to the blank line, or the end of a detached header).
pub(crate) fn read_header(path: &Path) -> Result<NrrdHeader> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut r = BufReader::new(file.take(MAX_HEADER_BYTES as u64 + 1));
    let mut lines = Vec::new();
    let mut consumed = 0usize;
    let mut ended = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line).map_err(|e| Error::io(path, "read", e))?;
        if n == 0 {
            break;
        }
        consumed += n;
        if consumed > MAX_HEADER_BYTES {
            return Err(bad(
                path,
                format!("no end of the NRRD header (a blank line) in its first {MAX_HEADER_BYTES} bytes"),
            ));
        }
        let had_newline = line.last() == Some(&b'\n');
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.is_empty() && had_newline {
            ended = true;
            break;
        }
        lines.push(text.to_string());
        if !had_newline {
            break;
        }
    }
    let h = parse_header(&lines, consumed, path)?;
    if !ended && h.data_file.is_none() {
        return Err(bad(
            path,
            "the NRRD header has no blank line after it and no `data file`: there are no voxel data",
        ));
    }
    Ok(h)
}

/// Parses header lines (the magic first).
pub(crate) fn parse_header(lines: &[String], header_bytes: usize, path: &Path) -> Result<NrrdHeader> {
    let magic = lines.first().map(String::as_str).unwrap_or("");
    let version = match magic.strip_prefix("NRRD000").and_then(|v| v.parse::<u8>().ok()) {
        Some(v) if (1..=5).contains(&v) => v,
        _ => return Err(bad(path, format!("magic = {magic:?}: not an NRRD0001-NRRD0005 header"))),
    };
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut key_values = Vec::new();
    for line in &lines[1..] {
        if line.starts_with('#') {
            continue;
        }
        let field = line.find(": ");
        let kv = line.find(":=");
        match (field, kv) {
            (Some(f), Some(k)) if k < f => key_values.push((line[..k].to_string(), line[k + 2..].to_string())),
            (None, Some(k)) => key_values.push((line[..k].to_string(), line[k + 2..].to_string())),
            (Some(f), _) => fields.push((line[..f].trim().to_ascii_lowercase(), line[f + 2..].trim().to_string())),
            (None, None) if line.trim().is_empty() => {}
            (None, None) => {
                return Err(bad(path, format!("header line {line:?} is neither `field: value` nor `key:=value`")));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (name, _) in &fields {
        if !seen.insert(canonical(name)) {
            return Err(bad(path, format!("field `{name}` is given twice")));
        }
    }
    let get = |names: &[&str]| fields.iter().find(|(n, _)| names.contains(&n.as_str())).map(|(_, v)| v.as_str());
    let need = |name: &str| get(&[name]).ok_or_else(|| bad(path, format!("the NRRD header has no `{name}` field")));

    let type_name = need("type")?;
    let dtype = parse_type(type_name, path)?;
    let dim_text = need("dimension")?;
    let dimension: usize = dim_text
        .parse()
        .ok()
        .filter(|d| (1..=16).contains(d))
        .ok_or_else(|| bad(path, format!("dimension = {dim_text:?}: must be a whole number from 1 to 16")))?;
    let sizes_text = need("sizes")?;
    let sizes: Vec<usize> = sizes_text
        .split_whitespace()
        .map(|s| s.parse::<usize>().ok().filter(|&n| n > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| bad(path, format!("sizes = {sizes_text:?}: every size must be a whole number of at least 1")))?;
    if sizes.len() != dimension {
        return Err(bad(path, format!("sizes = {sizes_text:?} gives {} sizes for dimension {dimension}", sizes.len())));
    }
    let encoding = match need("encoding")?.to_ascii_lowercase().as_str() {
        "raw" => NrrdEncoding::Raw,
        "gzip" | "gz" => NrrdEncoding::Gzip,
        e @ ("ascii" | "text" | "txt" | "hex" | "bzip2" | "bz2" | "zrl") => {
            return Err(Error::new(
                ErrorKind::UnsupportedEncoding,
                path,
                format!(
                    "encoding = {e}: unsupported NRRD encoding; ctprep reads raw and gzip (re-save the file with one of them, e.g. in 3D Slicer)"
                ),
            ));
        }
        e => return Err(bad(path, format!("encoding = {e:?}: not an NRRD encoding"))),
    };
    let byte_order = match get(&["endian"]).map(str::to_ascii_lowercase).as_deref() {
        Some("little") => ByteOrder::Little,
        Some("big") => ByteOrder::Big,
        Some(e) => return Err(bad(path, format!("endian = {e:?}: must be little or big"))),
        None if dtype.size() > 1 => {
            return Err(bad(path, format!("no `endian` field: needed for {dtype} data, whose bytes have an order")));
        }
        None => ByteOrder::Little,
    };
    let int_field = |names: &[&str], what: &str| -> Result<Option<i64>> {
        get(names)
            .map(|v| v.parse::<i64>().map_err(|_| bad(path, format!("{what} = {v:?}: not a whole number"))))
            .transpose()
    };
    let byte_skip = int_field(&["byte skip", "byteskip"], "byte skip")?.unwrap_or(0);
    if byte_skip < -1 {
        return Err(bad(path, format!("byte skip = {byte_skip}: must be -1 or more")));
    }
    if byte_skip == -1 && encoding != NrrdEncoding::Raw {
        return Err(bad(path, "byte skip = -1 (data at the end of the file) is only defined for raw encoding"));
    }
    let line_skip = int_field(&["line skip", "lineskip"], "line skip")?.unwrap_or(0);
    let line_skip =
        u64::try_from(line_skip).map_err(|_| bad(path, format!("line skip = {line_skip}: must be 0 or more")))?;
    let data_file = match get(&["data file", "datafile"]) {
        None => None,
        // teem's rule: `LIST`, or a format with an integer field (`ct%03d.raw 1 10 1`), names
        // several files; any other value is one file name, spaces included.
        Some(v) if v.starts_with("LIST") || (v.contains('%') && v.split_whitespace().count() > 1) => {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                path,
                format!(
                    "data file = {v:?}: data split over several files is not supported; ctprep reads one data file"
                ),
            ));
        }
        Some(v) => Some(v.to_string()),
    };
    let space = match get(&["space"]) {
        None => None,
        Some(v) => Some(NrrdSpace::parse(v).ok_or_else(|| {
            let lower = v.to_ascii_lowercase();
            if lower.ends_with("-time") || ["rast", "last", "lpst"].contains(&lower.as_str()) {
                Error::new(
                    ErrorKind::InvalidRequest,
                    path,
                    format!("space = {v}: a 4-D (time) space is not supported; ctprep reads 3-D spaces"),
                )
            } else if lower.starts_with("3d-left-handed") {
                Error::new(
                    ErrorKind::InvalidRequest,
                    path,
                    format!("space = {v}: a left-handed space has no RAS equivalent; ctprep reads RAS, LAS, LPS, scanner-xyz and 3D-right-handed"),
                )
            } else {
                bad(path, format!("space = {v:?}: not an NRRD space ctprep knows (RAS, LAS, LPS, scanner-xyz, 3D-right-handed)"))
            }
        })?),
    };
    if let Some(sd) = get(&["space dimension"])
        && sd != "3"
    {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            path,
            format!("space dimension = {sd}: ctprep reads 3-D spaces only"),
        ));
    }

    let space_directions = match get(&["space directions"]) {
        None => None,
        Some(v) => {
            let items = split_vectors(v, path, "space directions")?;
            if items.len() != dimension {
                return Err(bad(
                    path,
                    format!("space directions = {v:?} gives {} entries for dimension {dimension}", items.len()),
                ));
            }
            Some(items)
        }
    };
    let space_origin = match get(&["space origin"]) {
        None => None,
        Some(v) => match split_vectors(v, path, "space origin")?.as_slice() {
            [Some(o)] => Some(*o),
            _ => return Err(bad(path, format!("space origin = {v:?}: must be one vector (x,y,z)"))),
        },
    };
    if space_directions.is_some() != space.is_some() && space_directions.is_some() {
        return Err(bad(path, "`space directions` without `space`: the directions' frame is unknown"));
    }
    let per_axis_numbers = |name: &str| -> Result<Option<Vec<f64>>> {
        let Some(v) = get(&[name]) else { return Ok(None) };
        let nums: Option<Vec<f64>> = v
            .split_whitespace()
            .map(|s| if s.eq_ignore_ascii_case("nan") { Some(f64::NAN) } else { s.parse::<f64>().ok() })
            .collect();
        match nums {
            Some(n) if n.len() == dimension => Ok(Some(n)),
            _ => Err(bad(path, format!("{name} = {v:?}: need {dimension} numbers (or nan)"))),
        }
    };
    let spacings = per_axis_numbers("spacings")?;
    let axis_mins = per_axis_numbers("axis mins")?;
    let kinds = match get(&["kinds"]) {
        None => None,
        Some(v) => {
            let k: Vec<String> = v.split_whitespace().map(str::to_string).collect();
            if k.len() != dimension {
                return Err(bad(path, format!("kinds = {v:?} gives {} kinds for dimension {dimension}", k.len())));
            }
            Some(k)
        }
    };
    let measurement_frame = match get(&["measurement frame"]) {
        None => None,
        Some(v) => {
            let vs = split_vectors(v, path, "measurement frame")?;
            let vs: Option<Vec<[f64; 3]>> = vs.into_iter().collect();
            match vs {
                Some(m) if m.len() == 3 => Some(m),
                _ => return Err(bad(path, format!("measurement frame = {v:?}: must be three vectors"))),
            }
        }
    };
    const KNOWN: &[&str] = &[
        "type",
        "dimension",
        "sizes",
        "encoding",
        "endian",
        "byte skip",
        "line skip",
        "data file",
        "space",
        "space dimension",
        "space directions",
        "space origin",
        "spacings",
        "axis mins",
        "kinds",
        "measurement frame",
    ];
    let other_fields = fields.iter().filter(|(n, _)| !KNOWN.contains(&canonical(n))).cloned().collect();
    let h = NrrdHeader {
        version,
        dtype,
        sizes,
        encoding,
        byte_order,
        byte_skip,
        line_skip,
        data_file,
        space,
        space_directions,
        space_origin,
        spacings,
        axis_mins,
        kinds,
        measurement_frame,
        other_fields,
        key_values,
        header_bytes,
    };
    check_axes(&h, path)?;
    Ok(h)
}

/// The one spelling of a field with several (`byteskip` is `byte skip`).
fn canonical(name: &str) -> &str {
    match name {
        "byteskip" => "byte skip",
        "lineskip" => "line skip",
        "datafile" => "data file",
        "centerings" => "centers",
        n => n,
    }
}

/// Refuses axis layouts ctprep cannot place in space.
fn check_axes(h: &NrrdHeader, path: &Path) -> Result<()> {
    let spatial = h.spatial_axes();
    if spatial.len() > 3 {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            path,
            format!("{} axes have space directions: ctprep reads at most three spatial axes", spatial.len()),
        ));
    }
    if spatial.is_empty() {
        return Err(bad(path, "space directions are all `none`: no spatial axis"));
    }
    // Spatial axes must be consecutive, after at most one leading layer axis.
    let first = spatial[0];
    if first > 1 || spatial.iter().enumerate().any(|(i, &a)| a != first + i) {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            path,
            format!(
                "spatial axes {spatial:?} of {} axes: ctprep reads spatial axes in a row, after at most one leading non-spatial (layer) axis",
                h.sizes.len()
            ),
        ));
    }
    if first == 1 && spatial.len() + 1 < h.sizes.len() {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            path,
            "a layer axis before the spatial axes and more axes after them: not supported",
        ));
    }
    if h.sizes.len() > 7 {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            path,
            format!("{} axes: ctprep reads at most 7", h.sizes.len()),
        ));
    }
    Ok(())
}

/// Parses `(x,y,z) none (x,y,z)...` into vectors (`None` for `none`).
fn split_vectors(v: &str, path: &Path, field: &str) -> Result<Vec<Option<[f64; 3]>>> {
    let mut out = Vec::new();
    let mut rest = v.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("none") {
            out.push(None);
            rest = r.trim_start();
            continue;
        }
        let err = || bad(path, format!("{field} = {v:?}: expected vectors like (1,0,0) or none"));
        let inner = rest.strip_prefix('(').ok_or_else(err)?;
        let close = inner.find(')').ok_or_else(err)?;
        let nums: Vec<f64> = inner[..close]
            .split(',')
            .map(|s| {
                let s = s.trim();
                if s.eq_ignore_ascii_case("nan") { Some(f64::NAN) } else { s.parse::<f64>().ok() }
            })
            .collect::<Option<_>>()
            .ok_or_else(err)?;
        let [x, y, z] = nums[..] else {
            return Err(bad(path, format!("{field} = {v:?}: vectors must have three components")));
        };
        if ![x, y, z].iter().all(|c| c.is_finite()) {
            return Err(bad(path, format!("{field} = {v:?}: components must be finite")));
        }
        out.push(Some([x, y, z]));
        rest = inner[close + 1..].trim_start();
    }
    Ok(out)
}

fn parse_type(t: &str, path: &Path) -> Result<DataType> {
    let norm = t.trim().to_ascii_lowercase();
    Ok(match norm.as_str() {
        "signed char" | "int8" | "int8_t" => DataType::I8,
        "uchar" | "unsigned char" | "uint8" | "uint8_t" => DataType::U8,
        "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => DataType::I16,
        "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => DataType::U16,
        "int" | "signed int" | "int32" | "int32_t" => DataType::I32,
        "uint" | "unsigned int" | "uint32" | "uint32_t" => DataType::U32,
        "longlong"
        | "long long"
        | "long long int"
        | "signed long long"
        | "signed long long int"
        | "int64"
        | "int64_t" => DataType::I64,
        "ulonglong" | "unsigned long long" | "unsigned long long int" | "uint64" | "uint64_t" => DataType::U64,
        "float" => DataType::F32,
        "double" => DataType::F64,
        "block" => {
            return Err(Error::new(
                ErrorKind::UnsupportedDatatype,
                path,
                "type = block: unsupported NRRD type; ctprep reads u8 i8 u16 i16 u32 i32 u64 i64 f32 f64",
            ));
        }
        _ => return Err(Error::new(ErrorKind::UnknownDatatype, path, format!("type = {t:?}: not an NRRD type"))),
    })
}

/// The teem name ctprep writes for a type.
fn type_name(t: DataType) -> &'static str {
    match t {
        DataType::I8 => "int8",
        DataType::U8 => "uint8",
        DataType::I16 => "short",
        DataType::U16 => "ushort",
        DataType::I32 => "int",
        DataType::U32 => "uint",
        DataType::I64 => "int64",
        DataType::U64 => "uint64",
        DataType::F32 => "float",
        DataType::F64 => "double",
    }
}

/// The RAS voxel-to-world affine of the volume's axes (layer axis excluded), as ITK reads it:
/// directions and origin taken to RAS from the header's space; without a `space`, ITK's
/// reading as an LPS grid: `spacings` (1 where missing), and the origin teem's
/// `nrrdOriginCalculate` derives from `axis mins` (cell-centred unless `centers` says `node`).
pub(crate) fn affine(h: &NrrdHeader, path: &Path) -> Result<Affine> {
    let spatial = h.spatial_axes();
    let mut cols: Vec<[f64; 3]> = Vec::new();
    let mut origin = [0.0; 3];
    let signs;
    match (&h.space, &h.space_directions) {
        (Some(space), Some(dirs)) => {
            signs = space.to_ras();
            cols.extend(spatial.iter().filter_map(|&a| dirs[a]));
            if let Some(o) = h.space_origin {
                origin = o;
            }
        }
        (space, _) => {
            signs = space.map_or([-1.0, -1.0, 1.0], NrrdSpace::to_ras);
            let spacing = |a: usize| {
                let s = h.spacings.as_ref().map_or(f64::NAN, |s| s[a]);
                if s.is_finite() && s != 0.0 { s } else { 1.0 }
            };
            for (i, &a) in spatial.iter().enumerate() {
                let mut c = [0.0; 3];
                c[i] = spacing(a);
                cols.push(c);
            }
            if let Some(o) = teem_origin(h, &spatial) {
                origin[..o.len()].copy_from_slice(&o);
            }
            if let Some(o) = h.space_origin {
                origin = o;
            }
        }
    }
    // In RAS; fewer than three spatial axes get unit columns normal to the others.
    let mut ras: Vec<[f64; 3]> = cols.iter().map(|c| [signs[0] * c[0], signs[1] * c[1], signs[2] * c[2]]).collect();
    let unit = |v: [f64; 3]| {
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if n > 0.0 && n.is_finite() { Some([v[0] / n, v[1] / n, v[2] / n]) } else { None }
    };
    let cross =
        |a: [f64; 3], b: [f64; 3]| [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
    if ras.len() == 1 {
        // The coordinate axis least parallel to the one column, made perpendicular to it.
        let c = ras[0];
        let least = (0..3).min_by(|&x, &y| c[x].abs().total_cmp(&c[y].abs())).unwrap_or(0);
        let mut e = [0.0; 3];
        e[least] = 1.0;
        ras.push(unit(cross(cross(c, e), c)).unwrap_or(e));
    }
    if ras.len() == 2 {
        ras.push(unit(cross(ras[0], ras[1])).unwrap_or([0.0, 0.0, 1.0]));
    }
    let mut rows = [[0.0; 4]; 4];
    for r in 0..3 {
        for (c, col) in ras.iter().enumerate() {
            rows[r][c] = col[r] + 0.0; // + 0.0: no -0 in the affine
        }
        rows[r][3] = signs[r] * origin[r] + 0.0;
    }
    rows[3] = [0.0, 0.0, 0.0, 1.0];
    let a = Affine::from_rows(rows);
    if !a.is_affine() || a.det3() == 0.0 || !a.det3().is_finite() {
        return Err(bad(
            path,
            format!("space directions {cols:?}: the axes are degenerate (no voxel-to-world inverse)"),
        ));
    }
    Ok(a)
}

/// teem's `nrrdOriginCalculate` with ITK's default of cell centering: per spatial axis
/// `min + spacing / 2` (cell) or `min` (node), the spacing from `spacings` or else from `axis
/// maxs`; `None` unless every spatial axis has a min and a spacing or max.
fn teem_origin(h: &NrrdHeader, spatial: &[usize]) -> Option<Vec<f64>> {
    let mins = h.axis_mins.as_ref()?;
    let field = |name: &str| {
        h.other_fields.iter().find(|(n, _)| canonical(n) == name).map(|(_, v)| v.split_whitespace().collect::<Vec<_>>())
    };
    let maxs = field("axis maxs");
    let centers = field("centers");
    let mut out = Vec::new();
    for &a in spatial {
        let min = mins[a];
        if !min.is_finite() {
            return None;
        }
        let node = centers.as_ref().and_then(|c| c.get(a)).is_some_and(|c| c.eq_ignore_ascii_case("node"));
        let spacing = h.spacings.as_ref().map_or(f64::NAN, |s| s[a]);
        let spacing = if spacing.is_finite() {
            spacing
        } else {
            let max = maxs.as_ref().and_then(|m| m.get(a)).and_then(|m| m.parse::<f64>().ok())?;
            let denom = if node { h.sizes[a] as f64 - 1.0 } else { h.sizes[a] as f64 };
            if !(max.is_finite() && denom > 0.0) {
                return None;
            }
            (max - min) / denom
        };
        out.push(if node { min } else { min + spacing / 2.0 });
    }
    Some(out)
}

/// Where the voxel bytes of `h` (read from `path`) are: the file, the offset of the encoded data
/// within it (line skip applied; byte skip too for raw data), and the bytes to skip after
/// decoding (gzip's byte skip).
pub(crate) fn data_location(h: &NrrdHeader, path: &Path, nbytes: u64) -> Result<(PathBuf, u64, u64)> {
    let (file, start) = match &h.data_file {
        None => (path.to_path_buf(), h.header_bytes as u64),
        Some(name) => {
            let p = Path::new(name);
            let p = if p.is_absolute() { p.to_path_buf() } else { path.parent().unwrap_or(Path::new(".")).join(p) };
            if !p.is_file() {
                return Err(Error::new(
                    ErrorKind::Io,
                    path,
                    format!("data file = {name}: {} does not exist or is not a file", p.display()),
                ));
            }
            (p, 0)
        }
    };
    let mut f = std::fs::File::open(&file).map_err(|e| Error::io(&file, "open", e))?;
    let len = f.metadata().map_err(|e| Error::io(&file, "stat", e))?.len();
    let mut at = start;
    if h.line_skip > 0 {
        f.seek(SeekFrom::Start(at)).map_err(|e| Error::io(&file, "seek", e))?;
        let mut r = BufReader::new(f);
        let mut line = Vec::new();
        for i in 0..h.line_skip {
            line.clear();
            let n = (&mut r).take(1 << 20).read_until(b'\n', &mut line).map_err(|e| Error::io(&file, "read", e))?;
            if n == 0 || line.last() != Some(&b'\n') {
                return Err(Error::new(
                    ErrorKind::Truncated,
                    &file,
                    format!(
                        "line skip = {}: the data file ends (or has a line over 1 MiB) after {i} lines",
                        h.line_skip
                    ),
                ));
            }
            at += n as u64;
        }
    }
    let mut after = 0;
    match (h.encoding, h.byte_skip) {
        (NrrdEncoding::Raw, -1) => {
            if len < at + nbytes {
                return Err(Error::new(
                    ErrorKind::Truncated,
                    &file,
                    format!(
                        "byte skip = -1: the data need {nbytes} bytes, the file has {} after the header",
                        len - at.min(len)
                    ),
                ));
            }
            at = len - nbytes;
        }
        (NrrdEncoding::Raw, s) => at += s as u64,
        (NrrdEncoding::Gzip, s) => after = s as u64,
    }
    Ok((file, at, after))
}

/// The header text ctprep writes for a volume of `shape` (spatial axes first, a layer axis last
/// when `layered`), stored as `dtype`, with `affine` (RAS), in the LPS space.
pub(crate) fn header_text(
    source: Option<&NrrdHeader>,
    dtype: DataType,
    shape: &[usize],
    affine: &Affine,
    encoding: NrrdEncoding,
    byte_order: ByteOrder,
    data_file: Option<&str>,
) -> String {
    use std::fmt::Write;
    let layered = writes_layers(source, shape);
    let spatial = shape.len().min(3);
    let mut sizes: Vec<usize> = shape.to_vec();
    if layered {
        sizes.rotate_right(1);
    }
    let rows = affine.rows();
    let lps = |r: usize, c: usize| if r < 2 { -rows[r][c] } else { rows[r][c] };
    let vec = |v: [f64; 3]| format!("({},{},{})", num(v[0]), num(v[1]), num(v[2]));
    let mut dirs: Vec<String> = (0..spatial).map(|c| vec([lps(0, c), lps(1, c), lps(2, c)])).collect();
    let mut kinds: Vec<&str> = vec!["domain"; spatial];
    for _ in spatial..shape.len() {
        dirs.push("none".into());
        kinds.push("list");
    }
    if layered {
        dirs.rotate_right(1);
        kinds.rotate_right(1);
    }
    let mut t = String::new();
    let _ = writeln!(t, "NRRD0004");
    let _ = writeln!(t, "# Complete NRRD file format specification at:");
    let _ = writeln!(t, "# http://teem.sourceforge.net/nrrd/format.html");
    let _ = writeln!(t, "type: {}", type_name(dtype));
    let _ = writeln!(t, "dimension: {}", sizes.len());
    let _ = writeln!(t, "space: left-posterior-superior");
    let _ = writeln!(t, "sizes: {}", sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "));
    let _ = writeln!(t, "space directions: {}", dirs.join(" "));
    let _ = writeln!(t, "kinds: {}", kinds.join(" "));
    if dtype.size() > 1 {
        let _ = writeln!(t, "endian: {}", if byte_order == ByteOrder::Big { "big" } else { "little" });
    }
    let _ = writeln!(t, "encoding: {}", encoding.name());
    let _ = writeln!(t, "space origin: {}", vec([lps(0, 3), lps(1, 3), lps(2, 3)]));
    if let Some(name) = data_file {
        let _ = writeln!(t, "data file: {name}");
    }
    if let Some(src) = source {
        if let Some(m) = &src.measurement_frame {
            // Its vectors are in world coordinates: from the source's space to LPS.
            let from = src.space.map_or([-1.0, -1.0, 1.0], NrrdSpace::to_ras);
            let to_lps = [-from[0], -from[1], from[2]];
            let m: Vec<String> =
                m.iter().map(|v| vec([v[0] * to_lps[0], v[1] * to_lps[1], v[2] * to_lps[2]])).collect();
            let _ = writeln!(t, "measurement frame: {}", m.join(" "));
        }
        // Per-axis fields follow the source's axes, and fields and pairs that describe the grid
        // its grid: both are kept only when the volume is still on it. Value ranges (`min`,
        // `old max`...) may no longer hold and are never kept.
        let same_grid = src.volume_shape() == shape && affine_of(src).is_some_and(|a| a.max_abs_diff(affine) == 0.0);
        for (name, value) in &src.other_fields {
            const PER_AXIS: &[&str] =
                &["space units", "labels", "units", "centers", "thicknesses", "axis mins", "axis maxs"];
            const VALUES: &[&str] = &["min", "max", "old min", "old max", "block size", "number"];
            let drop = (PER_AXIS.contains(&canonical(name)) && !same_grid) || VALUES.contains(&canonical(name));
            if !drop {
                let _ = writeln!(t, "{name}: {value}");
            }
        }
        for (k, v) in &src.key_values {
            // 3D Slicer's segment extents and reference-grid offsets are in the source's voxels.
            if same_grid || !k.contains("Extent") {
                let _ = writeln!(t, "{k}:={v}");
            }
        }
    }
    t
}

/// Whether a volume of `shape` from `source` is written with its last axis as leading layers
/// (the data then interleaved, layers fastest).
pub(crate) fn writes_layers(source: Option<&NrrdHeader>, shape: &[usize]) -> bool {
    source.is_some_and(NrrdHeader::layered) && shape.len() == 4
}

/// The affine of a header's geometry, when it has one.
fn affine_of(h: &NrrdHeader) -> Option<Affine> {
    affine(h, Path::new("")).ok()
}

/// A number as the shortest text that reads back as the same `f64`.
fn num(v: f64) -> String {
    if v == 0.0 { "0".into() } else { format!("{v}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NrrdHeader> {
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        parse_header(&lines, text.len(), Path::new("t.nrrd"))
    }

    const BASE: &str = "NRRD0004\ntype: short\ndimension: 3\nsizes: 5 4 3\nendian: little\nencoding: raw\n";

    #[test]
    fn lps_directions_become_ras() {
        let h = parse(&format!(
            "{BASE}space: left-posterior-superior\nspace directions: (0.8,0,0) (0,0.8,0) (0,0,2.5)\nspace origin: (-100.5,-80.25,30)\n"
        ))
        .expect("parses");
        let a = affine(&h, Path::new("t")).expect("affine");
        assert_eq!(
            a.rows(),
            [[-0.8, 0.0, 0.0, 100.5], [0.0, -0.8, 0.0, 80.25], [0.0, 0.0, 2.5, 30.0], [0.0, 0.0, 0.0, 1.0]]
        );
        // Written back in LPS, the numbers are those read.
        let t = header_text(Some(&h), h.dtype, &h.sizes, &a, NrrdEncoding::Raw, ByteOrder::Little, None);
        assert!(t.contains("space directions: (0.8,0,0) (0,0.8,0) (0,0,2.5)\n"), "{t}");
        assert!(t.contains("space origin: (-100.5,-80.25,30)\n"), "{t}");
    }

    #[test]
    fn layered_files_move_the_layer_axis_last() {
        let h = parse(
            "NRRD0004\ntype: uchar\ndimension: 4\nsizes: 2 5 4 3\nencoding: gzip\nspace: LPS\nspace directions: none (1,0,0) (0,1,0) (0,0,1)\nkinds: list domain domain domain\nSegment0_Name:=liver\n",
        )
        .expect("parses");
        assert!(h.layered());
        assert_eq!(h.volume_shape(), vec![5, 4, 3, 2]);
        assert_eq!(h.key_values, vec![("Segment0_Name".to_string(), "liver".to_string())]);
        let a = affine(&h, Path::new("t")).expect("affine");
        let t = header_text(Some(&h), h.dtype, &h.volume_shape(), &a, NrrdEncoding::Gzip, ByteOrder::Little, None);
        assert!(t.contains("sizes: 2 5 4 3\n") && t.contains("space directions: none (1,0,0)"), "{t}");
        assert!(t.contains("kinds: list domain domain domain\n") && t.contains("Segment0_Name:=liver\n"), "{t}");
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (format!("{BASE}space: LPS\nspace directions: (1,0,0) (0,1,0)\n"), "space directions"),
            ("NRRD0004\ntype: short\ndimension: 3\nsizes: 5 4\nendian: little\nencoding: raw\n".into(), "sizes"),
            ("NRRD0004\ntype: short\ndimension: 3\nsizes: 5 -4 3\nendian: little\nencoding: raw\n".into(), "sizes"),
            ("NRRD0004\ntype: short\ndimension: 3\nsizes: 5 4 3\nencoding: raw\n".into(), "endian"),
            ("NRRD0004\ntype: short\ndimension: 3\nsizes: 5 4 3\nendian: little\nencoding: bzip2\n".into(), "bzip2"),
            ("NRRD0004\ntype: quaternion\ndimension: 3\nsizes: 5 4 3\nencoding: raw\n".into(), "type"),
            (format!("{BASE}space: LPS\nspace directions: (1,0,0) (0,zz,0) (0,0,1)\n"), "space directions"),
            (format!("{BASE}space: 3D-left-handed\n"), "left-handed"),
            ("NRRD0009\n".into(), "magic"),
            (format!("{BASE}sizes: 1 1 1\n"), "twice"),
        ];
        for (text, field) in cases {
            let e = parse(&text).expect_err(&text);
            assert!(e.to_string().contains(field), "{e} should name {field}");
        }
    }

    #[test]
    fn odd_axis_layouts() {
        // Two spatial axes after a layer axis: padded to three, the layers last.
        let h = parse(
            "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 5 4\nencoding: raw\nspace: LPS\nspace directions: none (1,0,0) (0,1,0)\n",
        )
        .expect("parses");
        assert_eq!(h.volume_shape(), vec![5, 4, 1, 2]);
        // Without directions, `kinds` say which axes are spatial.
        let h = parse(
            "NRRD0004\ntype: uchar\ndimension: 4\nsizes: 3 5 4 6\nencoding: raw\nkinds: vector domain domain domain\n",
        )
        .expect("parses");
        assert!(h.layered());
        assert_eq!(h.volume_shape(), vec![5, 4, 6, 3]);
        // One name with spaces is one data file; a format with %d is several.
        let h = parse(&format!("{BASE}data file: my scan.raw\n")).expect("parses");
        assert_eq!(h.data_file.as_deref(), Some("my scan.raw"));
        assert!(parse(&format!("{BASE}data file: ct%03d.raw 1 3 1\n")).is_err());
        let e = parse(&format!("{BASE}space: right-anterior-superior-time\n")).expect_err("4-D space");
        assert!(e.to_string().contains("time"), "{e}");
    }

    #[test]
    fn fewer_spatial_axes_get_the_same_geometry_in_any_space() {
        // The same 2-D grid stored LAS and LPS: one affine, third column included.
        let las = parse("NRRD0004\ntype: uchar\ndimension: 2\nsizes: 5 4\nencoding: raw\nspace: LAS\nspace directions: (0.5,0,0) (0,0.5,0.1)\nspace origin: (1,2,3)\n")
            .expect("parses");
        let lps = parse("NRRD0004\ntype: uchar\ndimension: 2\nsizes: 5 4\nencoding: raw\nspace: LPS\nspace directions: (0.5,0,0) (0,-0.5,0.1)\nspace origin: (1,-2,3)\n")
            .expect("parses");
        let p = Path::new("t");
        assert_eq!(affine(&las, p).expect("affine"), affine(&lps, p).expect("affine"));
        // A 1-D file along y, written in LPS and read back: the same affine.
        let ras = parse(
            "NRRD0004\ntype: uchar\ndimension: 1\nsizes: 5\nencoding: raw\nspace: RAS\nspace directions: (0,2,0)\n",
        )
        .expect("parses");
        let a = affine(&ras, p).expect("a 1-D axis along y is not degenerate");
        let text = header_text(Some(&ras), DataType::U8, &[5], &a, NrrdEncoding::Raw, ByteOrder::Little, None);
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let back = parse_header(&lines, text.len(), p).expect("parses");
        assert_eq!(affine(&back, p).expect("affine"), a);
    }
}
