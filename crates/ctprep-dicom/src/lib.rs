//! DICOM CT series into [`ctprep_io::Volume`]s.
//!
//! - Files are found by content ([`scan::recognise`]: the `DICM` magic, or a data set that
//!   starts as one), never by extension; `DICOMDIR`, `.DS_Store` and other files are skipped.
//! - Each file's elements are read by [`scan::parse`], every length checked against the bytes
//!   left (a corrupt length is an error, not a 4 GB allocation); headers and pixels come from
//!   that tree, files in parallel. No DICOM parser reads the files' bytes (dicom-rs's read
//!   malformed structures otherwise than a check before it could); dicom-rs decodes JPEG on
//!   objects built from checked values.
//! - Non-image objects (SR, PR, RTSTRUCT, KO, SEG) and localizers are skipped with one line
//!   each; the rest are split into series by SeriesInstanceUID and orientation, and a series
//!   that holds its positions more than once by acquisition (one volume per AcquisitionNumber,
//!   then TemporalPositionIdentifier); one orientation in two matrix sizes is an error.
//! - Geometry ([`Geometry`]): slices ordered by their position along the slice normal (row x
//!   column cosines), never by file name or InstanceNumber; the slice step from the positions
//!   (never SliceThickness or SpacingBetweenSlices), gantry tilt kept as the affine's true
//!   third column; LPS to RAS. Voxels stay in the files' order: x along each row (the column
//!   index), y down the rows, z along the normal. dcm2niix reverses the rows (its `flipY`);
//!   every voxel still lands at the same world point, and keeping the stored order lets the
//!   pixel data go into the volume without a flip, as ITK and SimpleITK read it.
#![forbid(unsafe_code)]

pub mod header;
mod rle;
pub mod scan;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ctprep_core::Affine;
use ctprep_io::{DataType, Error, ErrorKind, Result, Volume, VoxelData};
use dicom_transfer_syntax_registry::TransferSyntaxIndex;
use rayon::prelude::*;

pub use header::{Field, FileInfo, SIDECAR_FIELDS, Skipped};

/// RLE Lossless (PS3.5 Annex G).
const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Files larger than this are not single CT images or CT series frames (a 4096 x 4096 x 2000
/// multi-frame file is 64 GB; the header check reads the whole file into memory).
const MAX_FILE_BYTES: u64 = 1 << 34;

/// One image series: its files, and its slices in order along the normal.
#[derive(Clone, Debug)]
pub struct Series {
    pub uid: String,
    pub description: String,
    pub modality: String,
    pub files: Vec<FileInfo>,
    /// Each slice as (file index, frame index), ordered along the slice normal.
    pub slices: Vec<(usize, usize)>,
    /// Set when the SeriesInstanceUID holds the same positions more than once (a dynamic scan)
    /// and this series is one of its acquisitions: (AcquisitionNumber,
    /// TemporalPositionIdentifier).
    pub acquisition: Option<Acquisition>,
}

/// An acquisition of a series: (AcquisitionNumber, TemporalPositionIdentifier).
pub type Acquisition = (Option<i64>, Option<i64>);

/// What a folder (or one file's folder) holds.
#[derive(Clone, Debug, Default)]
pub struct Found {
    pub series: Vec<Series>,
    /// DICOM files that are not part of a volume, with why (one line each).
    pub skipped: Vec<Skipped>,
    /// Files that are not DICOM (by content).
    pub not_dicom: Vec<PathBuf>,
}

fn err(kind: ErrorKind, path: &Path, message: impl Into<String>) -> Error {
    Error::new(kind, path, message)
}

/// Whether the file at `path` is DICOM by content.
pub fn is_dicom(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 132];
    let Ok(mut f) = std::fs::File::open(path) else { return false };
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    scan::recognise(&head[..n]).is_some()
}

/// The files of `path`: a folder's regular files (not recursive), or, for one file, every file
/// of its folder.
fn folder_files(path: &Path) -> Result<(PathBuf, Vec<PathBuf>)> {
    let dir = if path.is_dir() { path.to_path_buf() } else { path.parent().unwrap_or(Path::new(".")).to_path_buf() };
    let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, "list", e))?;
    let mut files = Vec::new();
    for e in entries {
        let e = e.map_err(|e| Error::io(&dir, "list", e))?;
        if e.file_type().map(|t| t.is_file()).unwrap_or(false) {
            files.push(e.path());
        }
    }
    files.sort();
    Ok((dir, files))
}

/// Read one file's header (or why it is skipped, or `None` when it is not DICOM).
fn file_header(path: &Path) -> Result<Option<header::Header>> {
    let len = std::fs::metadata(path).map_err(|e| Error::io(path, "stat", e))?.len();
    if len > MAX_FILE_BYTES {
        return Err(err(ErrorKind::TooLarge, path, format!("{len} bytes: larger than any CT DICOM file")));
    }
    if !is_dicom(path) {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, "read", e))?;
    let Some(start) = scan::recognise(&bytes) else { return Ok(None) };
    header::read(path, &bytes, start).map(Some).map_err(|m| err(ErrorKind::BadHeader, path, m))
}

/// The series of a folder, or of the folder of one file (`path`): headers read in parallel,
/// non-images and localizers skipped, the rest split into series (SeriesInstanceUID, then
/// orientation, acquisition where positions repeat) and each series' slices ordered along its normal.
pub fn find(path: &Path) -> Result<Found> {
    let (_, files) = folder_files(path)?;
    let headers: Vec<(PathBuf, Option<header::Header>)> =
        files.par_iter().map(|f| file_header(f).map(|h| (f.clone(), h))).collect::<Result<_>>()?;
    let mut found = Found::default();
    let mut images = Vec::new();
    for (path, h) in headers {
        match h {
            None => found.not_dicom.push(path),
            Some(header::Header::Skip(s)) => found.skipped.push(s),
            Some(header::Header::Image(info)) => images.push(*info),
        }
    }
    // Split: series UID, then orientation (to 1e-4) and matrix size.
    let key = |f: &FileInfo| {
        let o: Vec<i64> = f.orientation.iter().map(|v| (v * 1e4).round() as i64).collect();
        (f.series_uid.clone(), o, f.rows, f.columns)
    };
    let mut groups: Vec<(_, Vec<FileInfo>)> = Vec::new();
    for f in images {
        let k = key(&f);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, files)) => files.push(f),
            None => groups.push((k, vec![f])),
        }
    }
    // Slices of one series and orientation with two matrix sizes cannot form one stack.
    for (i, (k, files)) in groups.iter().enumerate() {
        let other = groups.iter().enumerate().find(|(j, (g, _))| *j != i && g.0 == k.0 && g.1 == k.1);
        if let Some((_, (g, others))) = other
            && (files.len(), &files[0].path) < (others.len(), &others[0].path)
        {
            return Err(err(
                ErrorKind::BadHeader,
                &files[0].path,
                format!(
                    "slices of one series and orientation with mixed matrix sizes: this file is {} x {} (columns x rows; {} such), {} others are {} x {} (such as {})",
                    k.3,
                    k.2,
                    files.len(),
                    others.len(),
                    g.3,
                    g.2,
                    others[0].path.display()
                ),
            ));
        }
    }
    // A group of a few slices in another orientation than a larger group of the same series:
    // localizers not marked as such.
    let mut series = Vec::new();
    for (i, (k, files)) in groups.iter().enumerate() {
        let largest = groups.iter().filter(|(g, _)| g.0 == k.0).map(|(_, f)| f.len()).max().unwrap_or(0);
        if files.len() <= 3
            && files.len() < largest
            && groups.iter().enumerate().any(|(j, (g, _))| j != i && g.0 == k.0)
        {
            for f in files {
                found.skipped.push(Skipped {
                    path: f.path.clone(),
                    why: "a localizer (another orientation than the rest of its series)".into(),
                });
            }
            continue;
        }
        series.extend(acquisitions(files.clone()));
    }
    for (files, acquisition) in series {
        found.series.push(Series { acquisition, ..order(files)? });
    }
    found.series.sort_by(|a, b| {
        (&a.uid, a.acquisition, a.files[0].path.as_path()).cmp(&(&b.uid, b.acquisition, b.files[0].path.as_path()))
    });
    Ok(found)
}

/// The files of one stack split by acquisition (AcquisitionNumber, then
/// TemporalPositionIdentifier) when it holds a position more than once and those tell the
/// repeats apart (a dynamic scan: one volume per acquisition, as dcm2niix's 4-D volumes);
/// otherwise the files as they are (a sequential scan numbers each rotation's slices as an
/// acquisition of their own, at positions of their own: one volume, as dcm2niix makes it).
fn acquisitions(files: Vec<FileInfo>) -> Vec<(Vec<FileInfo>, Option<Acquisition>)> {
    let n = directions(&files[0].orientation).2;
    let mut along: Vec<f64> = files.iter().flat_map(|f| f.positions.iter().map(|p| dot(*p, n))).collect();
    along.sort_by(f64::total_cmp);
    let repeats = along.windows(2).any(|w| (w[1] - w[0]).abs() < 1e-3);
    let tag = |f: &FileInfo| (f.acquisition_number, f.temporal_position);
    let mut parts: Vec<(Acquisition, Vec<FileInfo>)> = Vec::new();
    for f in files {
        match parts.iter_mut().find(|(t, _)| *t == tag(&f)) {
            Some((_, fs)) => fs.push(f),
            None => parts.push((tag(&f), vec![f])),
        }
    }
    if repeats && parts.len() > 1 {
        parts.into_iter().map(|(t, fs)| (fs, Some(t))).collect()
    } else {
        vec![(parts.into_iter().flat_map(|(_, fs)| fs).collect(), None)]
    }
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

/// The row and column direction cosines and the slice normal of an orientation.
fn directions(o: &[f64; 6]) -> ([f64; 3], [f64; 3], [f64; 3]) {
    let r = [o[0], o[1], o[2]];
    let c = [o[3], o[4], o[5]];
    (r, c, cross(r, c))
}

/// A series from its files: slices ordered along the normal; two at the same position are an
/// error naming both files.
fn order(files: Vec<FileInfo>) -> Result<Series> {
    let first = &files[0];
    let (r, c, n) = directions(&first.orientation);
    let norm = dot(n, n).sqrt();
    if !(0.99..=1.01).contains(&dot(r, r).sqrt()) || !(0.99..=1.01).contains(&dot(c, c).sqrt()) || norm < 0.99 {
        return Err(err(
            ErrorKind::BadHeader,
            &first.path,
            format!("ImageOrientationPatient {:?}: not two perpendicular unit vectors", first.orientation),
        ));
    }
    let mut slices: Vec<(f64, usize, usize)> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        for (k, p) in f.positions.iter().enumerate() {
            slices.push((dot(*p, n), i, k));
        }
    }
    slices.sort_by(|a, b| a.0.total_cmp(&b.0));
    for w in slices.windows(2) {
        if (w[1].0 - w[0].0).abs() < 1e-3 {
            let (a, b) = (&files[w[0].1].path, &files[w[1].1].path);
            let what = if a == b {
                format!("frames {} and {} are at the same position along the slice normal", w[0].2, w[1].2)
            } else {
                format!("{} and {} are at the same position along the slice normal", a.display(), b.display())
            };
            return Err(err(ErrorKind::BadHeader, a, what));
        }
    }
    Ok(Series {
        uid: first.series_uid.clone(),
        description: first.series_description.clone(),
        modality: first.modality.clone(),
        slices: slices.iter().map(|s| (s.1, s.2)).collect(),
        files,
        acquisition: None,
    })
}

/// Where a series' voxels are.
#[derive(Clone, Debug)]
pub struct Geometry {
    /// Columns, rows, slices.
    pub shape: [usize; 3],
    /// Voxel to world (RAS mm): x along each row, y down the rows, z along the normal.
    pub affine: Affine,
    /// The in-plane spacing (along a row, down a column) and the slice step's length, mm.
    pub spacing: [f64; 3],
    /// The angle between the slice step and the normal, degrees (gantry tilt; 0 for one slice).
    pub tilt_degrees: f64,
    /// The largest relative difference of a step along the normal from the median step.
    pub step_spread: f64,
    /// Set when the series has one slice: the third axis is SliceThickness (or 1 mm) along the
    /// normal, as this says.
    pub single_slice_note: Option<String>,
    /// Set when uneven slices are resampled onto this uniform stack ([`Uneven`]): what was done.
    pub resampled: Option<String>,
}

/// What uneven slice spacing (a step more than 1 % from the median step: a missing slice, a
/// protocol of mixed thicknesses) does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Uneven {
    /// An error naming where.
    #[default]
    Error,
    /// Interpolate linearly along the slice normal, from the slices at their true positions,
    /// onto a uniform stack from the first slice to the last at about the median step (real
    /// values as float32).
    Linear,
    /// The same grid, each slice taken from the nearest slice (stored values kept: label maps).
    Nearest,
}

/// Uniform stacks from uneven slices hold at most this many times the slices read (a step far
/// larger than the median is a misplaced slice, not a gap to fill).
const MAX_RESAMPLED_GROWTH: usize = 4;

impl Series {
    /// The position of slice `s` (in order).
    fn position(&self, s: usize) -> [f64; 3] {
        let (f, k) = self.slices[s];
        self.files[f].positions[k]
    }

    /// The series' geometry; uneven spacing (a step more than 1 % from the median step) is an
    /// error naming where.
    pub fn geometry(&self) -> Result<Geometry> {
        self.geometry_with(Uneven::Error)
    }

    /// The position of each slice along the normal (in order).
    fn along_normal(&self) -> Vec<f64> {
        let n = directions(&self.files[0].orientation).2;
        (0..self.slices.len()).map(|s| dot(self.position(s), n)).collect()
    }

    /// [`Series::geometry`], uneven spacing handled as `uneven` says: with [`Uneven::Linear`] or
    /// [`Uneven::Nearest`], the uniform stack [`Series::read_with`] resamples onto (from the
    /// first slice to the last, `round(span / median step) + 1` slices).
    pub fn geometry_with(&self, uneven: Uneven) -> Result<Geometry> {
        let first = &self.files[0];
        let (r, c, n) = directions(&first.orientation);
        let [dr, dc] = first.pixel_spacing;
        let mut count = self.slices.len();
        let p0 = self.position(0);
        let mut resampled = None;
        let (step, tilt, spread, note) = if count == 1 {
            let t = first.slice_thickness.filter(|t| *t > 0.0);
            let note = match t {
                Some(t) => format!("one slice: its third axis is SliceThickness ({t} mm) along the normal"),
                None => "one slice and no SliceThickness: its third axis is 1 mm along the normal".into(),
            };
            let t = t.unwrap_or(1.0);
            (n.map(|v| v * t), 0.0, 0.0, Some(note))
        } else {
            let along = self.along_normal();
            let mut steps: Vec<f64> = along.windows(2).map(|w| w[1] - w[0]).collect();
            let mut sorted = steps.clone();
            sorted.sort_by(f64::total_cmp);
            let median = sorted[sorted.len() / 2];
            let mut spread = 0f64;
            let worst = steps.iter().map(|s| (s - median).abs() / median).fold(0f64, f64::max);
            if worst > 0.01 && uneven != Uneven::Error {
                let span = along[count - 1] - along[0];
                let m = (span / median).round() as usize + 1;
                if !(2..=MAX_RESAMPLED_GROWTH * count).contains(&m) {
                    return Err(err(
                        ErrorKind::BadHeader,
                        &self.files[self.slices[0].0].path,
                        format!(
                            "uneven slice spacing too far from even to resample: {count} slices over {span:.3} mm, median step {median:.3} mm"
                        ),
                    ));
                }
                let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
                resampled = Some(format!(
                    "uneven slice spacing (steps {lo:.3} to {hi:.3} mm): {} along the normal onto {m} slices {:.3} mm apart",
                    if uneven == Uneven::Linear { "interpolated linearly" } else { "nearest slices taken" },
                    span / (m - 1) as f64
                ));
                spread = worst;
                count = m;
            }
            for (i, s) in steps.iter_mut().enumerate() {
                let rel = (*s - median).abs() / median;
                if rel > 0.01 && resampled.is_none() {
                    let (fa, fb) = (self.slices[i].0, self.slices[i + 1].0);
                    return Err(err(
                        ErrorKind::BadHeader,
                        &self.files[fa].path,
                        format!(
                            "uneven slice spacing: {:.3} mm between this slice ({:.3} mm along the normal) and {} ({:.3} mm), the median step is {median:.3} mm",
                            *s,
                            along[i],
                            self.files[fb].path.display(),
                            along[i + 1]
                        ),
                    ));
                }
                spread = spread.max(rel);
            }
            let pl = self.position(self.slices.len() - 1);
            let step: [f64; 3] = std::array::from_fn(|a| (pl[a] - p0[a]) / (count - 1) as f64);
            let len = dot(step, step).sqrt();
            let tilt = (dot(step, n) / len).clamp(-1.0, 1.0).acos().to_degrees();
            (step, tilt, spread, None)
        };
        // LPS columns: x along the row (spacing between columns), y down the column (between rows).
        let lps = [r.map(|v| v * dc), c.map(|v| v * dr), step];
        let mut m = [[0.0; 3]; 3];
        for (col, v) in lps.iter().enumerate() {
            for row in 0..3 {
                // LPS to RAS: negate x and y.
                // `+ 0.0`: no negative zeros in the affine.
                m[row][col] = if row < 2 { -v[row] } else { v[row] } + 0.0;
            }
        }
        let origin = [-p0[0] + 0.0, -p0[1] + 0.0, p0[2] + 0.0];
        Ok(Geometry {
            shape: [first.columns, first.rows, count],
            affine: Affine::from_parts(m, origin),
            spacing: [dc, dr, dot(step, step).sqrt()],
            tilt_degrees: tilt,
            step_spread: spread,
            single_slice_note: note,
            resampled,
        })
    }

    /// Read the series into a volume: stored integers with the shared RescaleSlope /
    /// RescaleIntercept as the volume's scaling, or `float32` real values where they differ
    /// between slices.
    pub fn read(&self) -> Result<Volume> {
        self.read_with(&ReadOptions::default()).map(|(v, _)| v)
    }

    /// [`Series::read`] as `options` say, and the voxels that hold their file's
    /// PixelPaddingValue (0028,0120): counted, and set to the real value `fill_padding` when
    /// given (stored as `(fill - intercept) / slope`, which must then be a whole number; with
    /// per-slice scaling, or interpolated slices, the value itself). Uneven slices resample
    /// as [`ReadOptions::uneven`] says ([`Series::geometry_with`]).
    pub fn read_with(&self, options: &ReadOptions) -> Result<(Volume, Option<Padding>)> {
        let plan = self.plan(options)?;
        let fill = options.fill_padding;
        let Plan { ref g, shared, fill_stored, lo, hi, linear, .. } = plan;
        let [nx, ny, nz] = g.shape;
        let plane = nx * ny;
        let first = &self.files[0];
        let shape = [nx, ny, nz];
        if plan.streams() {
            // One file per slice: each decoded straight into its plane of the volume, in
            // parallel (the volume and a plane per thread in memory, never a second volume).
            fn whole<T: Out>(s: &Series, plan: &Plan, n: usize) -> Result<(VoxelData, usize)> {
                let mut v = vec![T::default(); n];
                let count = s.fill(plan, &mut v, 0)?;
                Ok((VoxelData::from_vec(v), count))
            }
            let n = plane * nz;
            let (data, count) = match plan.dtype {
                DataType::I16 => whole::<i16>(self, &plan, n)?,
                DataType::U16 => whole::<u16>(self, &plan, n)?,
                DataType::I32 => whole::<i32>(self, &plan, n)?,
                _ => whole::<f32>(self, &plan, n)?,
            };
            return Ok((plan.volume(data, &shape)?, plan.padding(count)));
        }
        // Multi-frame files, resampled stacks: each file's frames decoded once, in parallel, as
        // i32 stored values.
        let mut decoded: Vec<Vec<i32>> = self.files.par_iter().map(read_pixels).collect::<Result<_>>()?;
        // Padding: counted over the slices read (every frame of every file is one), replaced
        // where a fill is given (the float branch below reads `padded` for that).
        let mut padded = vec![Vec::new(); self.files.len()];
        let mut count = 0;
        for ((f, d), mark) in self.files.iter().zip(&mut decoded).zip(&mut padded) {
            let Some(p) = f.padding else { continue };
            *mark = d.iter().map(|&v| i64::from(v) == p).collect::<Vec<bool>>();
            count += mark.iter().filter(|&&m| m).count();
            if let Some(s) = fill_stored {
                for (v, &m) in d.iter_mut().zip(mark.iter()) {
                    if m {
                        *v = s;
                    }
                }
            }
        }
        // Each output slice from input slices (a, b) with the weight `w` of b: the slice itself,
        // or, on the uniform stack of uneven slices, the two around its position.
        let nin = self.slices.len();
        let sources: Vec<(usize, usize, f64)> = if g.resampled.is_some() {
            let along = self.along_normal();
            let (a0, al) = (along[0], along[nin - 1]);
            (0..nz)
                .map(|o| {
                    let t = a0 + (al - a0) * o as f64 / (nz - 1) as f64;
                    let j = along.partition_point(|&a| a <= t).clamp(1, nin - 1) - 1;
                    (j, j + 1, ((t - along[j]) / (along[j + 1] - along[j])).clamp(0.0, 1.0))
                })
                .collect()
        } else {
            (0..nz).map(|s| (s, s, 0.0)).collect()
        };
        let nearest = |s: usize| {
            let (a, b, w) = sources[s];
            if w > 0.5 { b } else { a }
        };
        let value = |s: usize, i: usize| {
            let (f, k) = self.slices[nearest(s)];
            decoded[f][k * plane + i]
        };
        let mut vol = if shared && !linear {
            let data = if lo >= i64::from(i16::MIN) && hi <= i64::from(i16::MAX) {
                VoxelData::from_vec(
                    (0..nz)
                        .flat_map(|s| (0..plane).map(move |i| (s, i)))
                        .map(|(s, i)| value(s, i) as i16)
                        .collect::<Vec<i16>>(),
                )
            } else if lo >= 0 && hi <= i64::from(u16::MAX) {
                VoxelData::from_vec(
                    (0..nz)
                        .flat_map(|s| (0..plane).map(move |i| (s, i)))
                        .map(|(s, i)| value(s, i) as u16)
                        .collect::<Vec<u16>>(),
                )
            } else {
                VoxelData::from_vec(
                    (0..nz)
                        .flat_map(|s| (0..plane).map(move |i| (s, i)))
                        .map(|(s, i)| value(s, i))
                        .collect::<Vec<i32>>(),
                )
            };
            let v = Volume::new(data, &shape, g.affine)?;
            if (first.slope, first.intercept) == (1.0, 0.0) { v } else { v.with_scaling(first.slope, first.intercept)? }
        } else {
            // The real value of input slice `s` at `i`.
            let real = |s: usize, i: usize| {
                let (fi, k) = self.slices[s];
                let f = &self.files[fi];
                match fill {
                    Some(v) if padded[fi].get(k * plane + i) == Some(&true) => v,
                    _ => f64::from(decoded[fi][k * plane + i]) * f.slope + f.intercept,
                }
            };
            let data: Vec<f32> = (0..nz)
                .flat_map(|s| (0..plane).map(move |i| (s, i)))
                .map(|(s, i)| {
                    let (a, b, w) = sources[s];
                    if !linear {
                        real(nearest(s), i) as f32
                    } else if w == 0.0 {
                        real(a, i) as f32
                    } else {
                        let (va, vb) = (real(a, i), real(b, i));
                        (va + (vb - va) * w) as f32
                    }
                })
                .collect();
            Volume::new(VoxelData::from_vec(data), &shape, g.affine)?
        };
        vol = vol.with_affine(g.affine)?;
        Ok((vol, plan.padding(count)))
    }

    /// A reader of the volume [`Series::read_with`] reads, named `path` (the folder or file
    /// the user gave): a series of one file per slice is decoded slice by slice as the reader
    /// is read (each batch of slices in parallel), so a stage that streams a NIfTI file streams
    /// the series too; any other (multi-frame files, resampled slices) is read whole first. The
    /// voxels are the same either way. The [`PaddingCount`] counts the padding voxels of the
    /// slices read so far.
    pub fn open_with(&self, options: &ReadOptions, path: &Path) -> Result<(ctprep_io::SliceReader, PaddingCount)> {
        let plan = self.plan(options)?;
        let count = PaddingCount {
            plan: Arc::new(plan.clone()),
            voxels: Arc::new(AtomicUsize::new(0)),
            read: Arc::new(AtomicUsize::new(0)),
        };
        if !plan.streams() {
            let (v, padding) = self.read_with(options)?;
            count.add(padding.map_or(0, |p| p.voxels), v.data().len());
            return Ok((ctprep_io::SliceReader::from_volume(v.with_path(path)), count));
        }
        fn template<T: Out>(plan: &Plan) -> Result<Volume> {
            plan.volume(VoxelData::from_vec(vec![T::default()]), &[1, 1, 1])
        }
        let template = match plan.dtype {
            DataType::I16 => template::<i16>(&plan)?,
            DataType::U16 => template::<u16>(&plan)?,
            DataType::I32 => template::<i32>(&plan)?,
            _ => template::<f32>(&plan)?,
        };
        let pool =
            decode_pool().map_err(|e| Error::io(path, "start the decoding threads", std::io::Error::other(e)))?;
        let source = SeriesSlices {
            pool,
            series: self.clone(),
            plan: plan.clone(),
            options: *options,
            path: path.to_path_buf(),
            count: count.clone(),
        };
        let reader = ctprep_io::SliceReader::from_source(
            template.with_path(path),
            plan.g.shape.to_vec(),
            plan.dtype,
            Box::new(source),
        );
        Ok((reader, count))
    }

    /// the stored type, the padding fill.
    fn plan(&self, options: &ReadOptions) -> Result<Plan> {
        let fill = options.fill_padding;
        let g = self.geometry_with(options.uneven)?;
        let first = &self.files[0];
        for f in &self.files {
            if (f.bits_allocated, f.bits_stored, f.signed) != (first.bits_allocated, first.bits_stored, first.signed) {
                return Err(err(
                    ErrorKind::BadHeader,
                    &f.path,
                    format!(
                        "BitsAllocated {}, BitsStored {}, PixelRepresentation {} differ from {}'s",
                        f.bits_allocated,
                        f.bits_stored,
                        u8::from(f.signed),
                        first.path.display()
                    ),
                ));
            }
        }
        let shared = self.files.iter().all(|f| (f.slope, f.intercept) == (first.slope, first.intercept));
        // With shared scaling, `fill` as a stored value.
        let linear = g.resampled.is_some() && options.uneven == Uneven::Linear;
        let fill_stored = match fill {
            Some(v) if shared && !linear => {
                let s = (v - first.intercept) / first.slope;
                if !(s.is_finite() && s.fract() == 0.0 && s.abs() <= f64::from(i32::MAX)) {
                    return Err(err(
                        ErrorKind::InvalidRequest,
                        &first.path,
                        format!(
                            "padding fill {v}: not a stored value of this series ((value - RescaleIntercept {}) / RescaleSlope {} = {s}); pick one that is",
                            first.intercept, first.slope
                        ),
                    ));
                }
                Some(s as i32)
            }
            _ => None,
        };
        let padding = self.files.iter().find_map(|f| f.padding);
        // The stored type: what the pixel format holds, and the fill where it replaces padding.
        let (mut lo, mut hi) = stored_range(first);
        if let Some(s) = fill_stored.filter(|_| padding.is_some()) {
            (lo, hi) = (lo.min(i64::from(s)), hi.max(i64::from(s)));
        }
        let dtype = if !shared || linear {
            DataType::F32
        } else if lo >= i64::from(i16::MIN) && hi <= i64::from(i16::MAX) {
            DataType::I16
        } else if lo >= 0 && hi <= i64::from(u16::MAX) {
            DataType::U16
        } else {
            DataType::I32
        };
        let frames = self.files.iter().all(|f| f.frames == 1);
        Ok(Plan {
            g,
            shared,
            linear,
            fill,
            fill_stored,
            padding,
            lo,
            hi,
            dtype,
            frames,
            slope: first.slope,
            intercept: first.intercept,
        })
    }

    /// Fills `dst` with the volume's values from value `at` on (a series of one file per
    /// slice: [`Plan::streams`]), each slice's file decoded in parallel, the values it holds
    /// put as `plan` says; returns how many of them were padding.
    fn fill<T: Out>(&self, plan: &Plan, dst: &mut [T], at: usize) -> Result<usize> {
        let [nx, ny, nz] = plan.g.shape;
        let plane = nx * ny;
        if plane == 0 || at.checked_add(dst.len()).is_none_or(|end| end > plane * nz) {
            return Err(err(
                ErrorKind::InvalidRequest,
                &self.files[0].path,
                format!("values {at}.. (+{}) asked for, the volume holds {}", dst.len(), plane * nz),
            ));
        }
        // (slice, first value in it, its part of `dst`)
        let mut parts = Vec::new();
        let (mut rest, mut pos) = (dst, at);
        while !rest.is_empty() {
            let from = pos % plane;
            let n = (plane - from).min(rest.len());
            let (part, tail) = rest.split_at_mut(n);
            parts.push((pos / plane, from, part));
            (rest, pos) = (tail, pos + n);
        }
        let counts = parts
            .into_par_iter()
            .map(|(slice, from, part)| {
                let (fi, k) = self.slices[slice];
                let f = &self.files[fi];
                with_pixels(f, |p| {
                    let first = k * plane + from;
                    let mut n = 0;
                    p.each(first, part, |d, x| {
                        let pad = f.padding.is_some_and(|p| i64::from(x) == p);
                        n += usize::from(pad);
                        *d = T::put(plan, f, x, pad);
                    });
                    n
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        Ok(counts.iter().sum())
    }
}

/// How a series' stored values become the volume's ([`Series::plan`]).
#[derive(Clone, Debug)]
struct Plan {
    g: Geometry,
    /// Every slice has the same RescaleSlope and RescaleIntercept.
    shared: bool,
    /// Uneven slices interpolated linearly onto a uniform stack.
    linear: bool,
    fill: Option<f64>,
    /// The fill as a stored value (shared scaling, no interpolation).
    fill_stored: Option<i32>,
    /// A PixelPaddingValue of the series' files.
    padding: Option<i64>,
    /// The range of stored values (the pixel format's, and the fill).
    lo: i64,
    hi: i64,
    /// The volume's type: stored integers with shared scaling, else float32 real values.
    dtype: DataType,
    /// Every file holds one frame.
    frames: bool,
    slope: f64,
    intercept: f64,
}

impl Plan {
    /// One file per slice, no interpolated slices: each output slice is one file's, so the
    /// slices can be decoded one by one ([`Series::fill`]).
    fn streams(&self) -> bool {
        self.frames && self.g.resampled.is_none()
    }

    /// The stored value `x` as the volume keeps it: the fill where it is padding.
    fn stored(&self, x: i32, pad: bool) -> i32 {
        match (pad, self.fill_stored) {
            (true, Some(s)) => s,
            _ => x,
        }
    }

    /// The volume of `data` in `shape`, its affine and scaling as the series'.
    fn volume(&self, data: VoxelData, shape: &[usize]) -> Result<Volume> {
        let mut v = Volume::new(data, shape, self.g.affine)?;
        if self.shared && !self.linear && (self.slope, self.intercept) != (1.0, 0.0) {
            v = v.with_scaling(self.slope, self.intercept)?;
        }
        v.with_affine(self.g.affine)
    }

    /// The padding report of `count` voxels.
    fn padding(&self, count: usize) -> Option<Padding> {
        self.padding.map(|value| Padding {
            value,
            real: value as f64 * self.slope + self.intercept,
            voxels: count,
            filled: self.fill.filter(|_| count > 0),
        })
    }
}

/// The padding voxels of a series read through [`Series::open_with`]'s reader, counted as its
/// slices are decoded.
#[derive(Clone, Debug)]
pub struct PaddingCount {
    plan: Arc<Plan>,
    voxels: Arc<AtomicUsize>,
    /// Values decoded so far.
    read: Arc<AtomicUsize>,
}

impl PaddingCount {
    fn add(&self, voxels: usize, read: usize) {
        self.voxels.fetch_add(voxels, Ordering::Relaxed);
        self.read.fetch_add(read, Ordering::Relaxed);
    }

    /// The padding of the whole volume, as [`Series::read_with`] reports it, once every slice
    /// has been read (`None` before, and for a series without PixelPaddingValue).
    pub fn padding(&self) -> Option<Padding> {
        let [nx, ny, nz] = self.plan.g.shape;
        if self.read.load(Ordering::Relaxed) < nx * ny * nz {
            return None;
        }
        self.plan.padding(self.voxels.load(Ordering::Relaxed))
    }

    /// Whether every slice has been read.
    pub fn complete(&self) -> bool {
        let [nx, ny, nz] = self.plan.g.shape;
        self.read.load(Ordering::Relaxed) >= nx * ny * nz
    }

    /// Whether the count will not change again: every slice read, or the reader dropped with
    /// slices unread (a run that failed); so a caller holding counts for notes to come can let
    /// go of this one. A clone of this count keeps it open.
    pub fn done(&self) -> bool {
        self.complete() || Arc::strong_count(&self.read) == 1
    }
}

/// The threads that decode streamed series ([`Series::open_with`]), one per core, started once:
/// not rayon's global pool, whose threads may all be waiting for the slices a reader decodes
/// (pipelines started from them); these threads only decode, so they never wait on a reader.
fn decode_pool() -> std::result::Result<&'static rayon::ThreadPool, String> {
    static POOL: std::sync::OnceLock<std::result::Result<rayon::ThreadPool, String>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(1, usize::from);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(n).thread_name(|i| format!("ctprep-dicom-{i}"));
        pool.build().map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// A series of one file per slice, decoded as a [`ctprep_io::SliceReader`] asks, on the
/// [`decode_pool`].
struct SeriesSlices {
    pool: &'static rayon::ThreadPool,
    series: Series,
    plan: Plan,
    options: ReadOptions,
    path: PathBuf,
    count: PaddingCount,
}

impl ctprep_io::SliceSource for SeriesSlices {
    fn read_next(&mut self, dst: &mut [u8], at: usize) -> Result<()> {
        fn go<T: Out>(s: &SeriesSlices, dst: &mut [u8], at: usize) -> Result<usize> {
            let bytes = dst.len();
            let values: &mut [T] = bytemuck::try_cast_slice_mut(dst).map_err(|e| {
                err(ErrorKind::InvalidRequest, &s.path, format!("a buffer of {bytes} bytes for {}: {e}", T::DTYPE))
            })?;
            s.series.fill(&s.plan, values, at)
        }
        let padded = self.pool.install(|| match self.plan.dtype {
            DataType::I16 => go::<i16>(self, dst, at),
            DataType::U16 => go::<u16>(self, dst, at),
            DataType::I32 => go::<i32>(self, dst, at),
            _ => go::<f32>(self, dst, at),
        })?;
        self.count.add(padded, dst.len() / self.plan.dtype.size());
        Ok(())
    }

    fn read_whole(&self) -> Result<Volume> {
        let (v, padding) = self.pool.install(|| self.series.read_with(&self.options))?;
        self.count.add(padding.map_or(0, |p| p.voxels), v.data().len());
        Ok(v.with_path(&self.path))
    }

    fn describe(&self) -> String {
        format!("{} DICOM files", self.series.files.len())
    }
}

/// A type a series' volume holds: stored integers (shared scaling), or `float32` real values.
trait Out: ctprep_io::Element + Default + bytemuck::Pod {
    fn put(plan: &Plan, f: &FileInfo, x: i32, pad: bool) -> Self;
}

impl Out for i16 {
    fn put(plan: &Plan, _: &FileInfo, x: i32, pad: bool) -> i16 {
        plan.stored(x, pad) as i16
    }
}

impl Out for u16 {
    fn put(plan: &Plan, _: &FileInfo, x: i32, pad: bool) -> u16 {
        plan.stored(x, pad) as u16
    }
}

impl Out for i32 {
    fn put(plan: &Plan, _: &FileInfo, x: i32, pad: bool) -> i32 {
        plan.stored(x, pad)
    }
}

impl Out for f32 {
    fn put(plan: &Plan, f: &FileInfo, x: i32, pad: bool) -> f32 {
        match (pad, plan.fill) {
            (true, Some(v)) => v as f32,
            _ => (f64::from(x) * f.slope + f.intercept) as f32,
        }
    }
}

/// How [`Series::read_with`] reads.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReadOptions {
    /// The real value the voxels holding PixelPaddingValue are set to.
    pub fill_padding: Option<f64>,
    /// What uneven slice spacing does.
    pub uneven: Uneven,
}

/// The voxels of a series that hold its PixelPaddingValue (outside the scanner's field of view).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Padding {
    /// PixelPaddingValue, stored.
    pub value: i64,
    /// Its real value (with the first slice's RescaleSlope / RescaleIntercept).
    pub real: f64,
    /// How many voxels hold it.
    pub voxels: usize,
    /// The real value they were set to, when a fill was given and any held it.
    pub filled: Option<f64>,
}

/// The range of stored values a file's pixel format can hold.
fn stored_range(f: &FileInfo) -> (i64, i64) {
    let b = u32::from(f.bits_stored);
    if f.signed { (-(1i64 << (b - 1)), (1i64 << (b - 1)) - 1) } else { (0, (1i64 << b) - 1) }
}

/// A file's pixel data as stored values (masked to BitsStored, sign-extended where signed),
/// all frames, row by row.
fn read_pixels(f: &FileInfo) -> Result<Vec<i32>> {
    with_pixels(f, |p| {
        let mut out = vec![0; p.len()];
        p.each(0, &mut out, |d, x| *d = x);
        out
    })
}

/// A file's decoded pixel data (all frames, row by row), its stored values read by
/// [`Pixels::get`].
struct Pixels<'a> {
    bytes: &'a [u8],
    width: usize,
    bits: u32,
    signed: bool,
}

impl Pixels<'_> {
    /// How many values.
    fn len(&self) -> usize {
        self.bytes.len() / self.width
    }

    /// `f(d, value)` for each `d` of `dst` and the values from `start` on, in order (the
    /// sample width matched once, not per value). `dst` must fit in the values.
    #[inline]
    fn each<D>(&self, start: usize, dst: &mut [D], mut f: impl FnMut(&mut D, i32)) {
        let (bits, signed) = (self.bits, self.signed);
        let shift = 32 - bits;
        let mask = if bits == 32 { u32::MAX } else { (1u32 << bits) - 1 };
        // Keep the low BitsStored bits; sign-extend them where the values are signed.
        let fix = move |v: u32| -> i32 {
            let low = v & mask;
            if signed { ((low << shift) as i32) >> shift } else { low as i32 }
        };
        let w = self.width;
        let bytes = &self.bytes[start * w..(start + dst.len()) * w];
        match w {
            1 => dst.iter_mut().zip(bytes).for_each(|(d, &b)| f(d, fix(u32::from(b)))),
            2 => dst
                .iter_mut()
                .zip(bytes.chunks_exact(2))
                .for_each(|(d, b)| f(d, fix(u32::from(u16::from_le_bytes([b[0], b[1]]))))),
            _ => dst
                .iter_mut()
                .zip(bytes.chunks_exact(4))
                .for_each(|(d, b)| f(d, fix(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))),
        }
    }
}

thread_local! {
    /// The file being decoded on this thread: one buffer reused file after file, so a series
    /// does not fault in a fresh buffer per file.
    static FILE_BYTES: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `use_pixels` of a file's pixel data, decoded (all frames, row by row, little endian), its
/// length checked against Rows x Columns x frames.
fn with_pixels<R>(f: &FileInfo, use_pixels: impl FnOnce(&Pixels<'_>) -> R) -> Result<R> {
    FILE_BYTES.with(|buf| {
        // A decoder that re-enters (none does) would find the buffer taken: read into a new one.
        match buf.try_borrow_mut() {
            Ok(mut b) => decode_pixels(f, &mut b, use_pixels),
            Err(_) => decode_pixels(f, &mut Vec::new(), use_pixels),
        }
    })
}

fn decode_pixels<R>(f: &FileInfo, bytes: &mut Vec<u8>, use_pixels: impl FnOnce(&Pixels<'_>) -> R) -> Result<R> {
    use dicom_pixeldata::PixelDecoder;
    use std::io::Read;
    let path = f.path.as_path();
    bytes.clear();
    std::fs::File::open(path).and_then(|mut file| file.read_to_end(bytes)).map_err(|e| Error::io(path, "read", e))?;
    // A one-off large file (a multi-frame series) does not stay held by the thread.
    if bytes.capacity() > 64 << 20 && bytes.len() < bytes.capacity() / 4 {
        bytes.shrink_to_fit();
    }
    let bytes = &bytes[..];
    let start = scan::recognise(bytes).ok_or_else(|| err(ErrorKind::BadMagic, path, "no longer a DICOM file"))?;
    let parsed = header::parse(bytes, start).map_err(|m| err(ErrorKind::BadHeader, path, m))?;
    let ts = parsed.ts.clone();
    let known = dicom_transfer_syntax_registry::TransferSyntaxRegistry.get(&ts);
    match known {
        None => return Err(err(ErrorKind::UnsupportedEncoding, path, format!("unknown transfer syntax {ts}"))),
        Some(t) if !t.can_decode_all() => {
            return Err(err(
                ErrorKind::UnsupportedEncoding,
                path,
                format!("transfer syntax {ts} ({}) is not supported by this build", t.name()),
            ));
        }
        Some(_) => {}
    }
    let pixels = header::Set::of(&parsed)
        .get(dicom_dictionary_std::tags::PIXEL_DATA)
        .ok_or_else(|| err(ErrorKind::Truncated, path, "no Pixel Data (7FE0,0010)"))?;
    let values = f.rows * f.columns * f.frames;
    let width = usize::from(f.bits_allocated / 8);
    // What the header promises must fit what the file can hold before a decoder allocates it:
    // native pixel data is in the file; compressed data decodes to at most 1024 times its size
    // (RLE tops out at 64, lossless JPEG at 16 for 16-bit samples).
    let need = values * width;
    let native = known.is_some_and(|t| !t.is_encapsulated_pixel_data());
    let room = if native { bytes.len() } else { bytes.len().saturating_mul(1024) };
    if need > room {
        return Err(err(
            ErrorKind::Truncated,
            path,
            format!(
                "Rows {} x Columns {} x {} frames need {need} bytes of pixels, more than this {}-byte file can hold",
                f.rows,
                f.columns,
                f.frames,
                bytes.len()
            ),
        ));
    }
    // Fragments after the basic offset table (the first item, possibly empty).
    let fragments: Vec<&[u8]> = pixels.fragments().into_iter().skip(1).collect();
    let decoded: std::borrow::Cow<'_, [u8]> = if native && (parsed.little || width == 1) {
        // Little endian native data: read where it lies in the file's bytes.
        std::borrow::Cow::Borrowed(pixels.bytes())
    } else if native {
        // Explicit VR big endian: each sample's bytes reversed, to little endian.
        let mut v = pixels.bytes().to_vec();
        v.chunks_exact_mut(width).for_each(<[u8]>::reverse);
        std::borrow::Cow::Owned(v)
    } else if known.is_some_and(|t| t.uid() == RLE_LOSSLESS) {
        // Our own RLE decoder: dicom-rs's indexes its segments without checks (a short segment
        // panics), and this one decodes each frame straight into its place.
        let frame = f.rows * f.columns * width;
        if fragments.len() != f.frames {
            return Err(err(
                ErrorKind::BadHeader,
                path,
                format!("RLE pixel data: {} fragments for {} frames (one per frame)", fragments.len(), f.frames),
            ));
        }
        let mut out = vec![0u8; need];
        for (k, (frag, dst)) in fragments.iter().zip(out.chunks_exact_mut(frame)).enumerate() {
            rle::decode_frame(frag, width, dst)
                .map_err(|m| err(ErrorKind::BadHeader, path, format!("RLE frame {k}: {m}")))?;
        }
        std::borrow::Cow::Owned(out)
    } else {
        // The other codecs (JPEG) through dicom-rs, on an object built here from the checked
        // header values and fragments (its parser never reads the file).
        use dicom_core::value::{PixelFragmentSequence, Value};
        use dicom_core::{DataElement, PrimitiveValue, VR};
        use dicom_dictionary_std::tags;
        let us = |tag, v: usize| DataElement::new(tag, VR::US, PrimitiveValue::from(v as u16));
        let frags: Vec<Vec<u8>> = fragments.iter().map(|f| f.to_vec()).collect();
        let obj = dicom_object::InMemDicomObject::from_element_iter([
            us(tags::ROWS, f.rows),
            us(tags::COLUMNS, f.columns),
            us(tags::SAMPLES_PER_PIXEL, 1),
            us(tags::BITS_ALLOCATED, usize::from(f.bits_allocated)),
            us(tags::BITS_STORED, usize::from(f.bits_stored)),
            us(tags::HIGH_BIT, usize::from(f.bits_stored) - 1),
            us(tags::PIXEL_REPRESENTATION, usize::from(f.signed)),
            DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("MONOCHROME2")),
            DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from(f.frames.to_string())),
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OB,
                Value::PixelSequence(PixelFragmentSequence::new(Vec::<u32>::new(), frags)),
            ),
        ]);
        let meta = dicom_object::FileMetaTableBuilder::new()
            .transfer_syntax(ts.as_str())
            .media_storage_sop_class_uid(f.sop_class.as_str())
            .media_storage_sop_instance_uid("1.2.3")
            .build()
            .map_err(|e| err(ErrorKind::BadHeader, path, format!("{e}")))?;
        let file = obj.with_exact_meta(meta);
        // The codecs index their input with unchecked assumptions; a malformed stream must be
        // an error naming the file, not a panic of the whole command.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            file.decode_pixel_data().map(|d| d.data().to_vec()).map_err(|e| format!("{e}"))
        }))
        .unwrap_or_else(|_| Err("the pixel data decoder failed on this file".into()))
        .map(std::borrow::Cow::Owned)
        .map_err(|m| err(ErrorKind::BadHeader, path, format!("pixel data: {m}")))?
    };
    if decoded.len() < values * width {
        return Err(err(
            ErrorKind::Truncated,
            path,
            format!("pixel data holds {} bytes, Rows x Columns x frames needs {}", decoded.len(), values * width),
        ));
    }
    let pixels = Pixels { bytes: &decoded[..values * width], width, bits: u32::from(f.bits_stored), signed: f.signed };
    Ok(use_pixels(&pixels))
}

/// Which series to read when a folder holds several: its SeriesInstanceUID, or its index in
/// [`Found::series`] (as `ctprep info` lists them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Pick {
    /// The only image series (two or more are an error listing them).
    #[default]
    Only,
    Index(usize),
    Uid(String),
}

impl std::str::FromStr for Pick {
    type Err = std::convert::Infallible;

    /// A number is an index, anything else a SeriesInstanceUID.
    fn from_str(s: &str) -> std::result::Result<Pick, Self::Err> {
        Ok(match s.parse::<usize>() {
            Ok(i) => Pick::Index(i),
            Err(_) => Pick::Uid(s.to_string()),
        })
    }
}

impl Series {
    /// A BIDS-style sidecar of the series, as dcm2niix names its fields: the acquisition
    /// fields of its first slice's file ([`SIDECAR_FIELDS`], those present), `SeriesInstanceUID`,
    /// `ImageOrientationPatientDICOM`, `GantryTiltDegrees` (the angle between the slice step and
    /// the normal, from the positions) and, with `keep_dates`, the dates (`AcquisitionDateTime`,
    /// `SeriesDate`, `StudyDate`). No field that identifies the patient, and no date without
    /// `keep_dates` (dcm2niix's default anonymisation keeps none either).
    pub fn sidecar(&self, keep_dates: bool) -> Result<Vec<(&'static str, Field)>> {
        let g = self.geometry()?;
        let f = &self.files[self.slices[0].0];
        let mut out = f.acquisition.clone();
        out.push(("SeriesInstanceUID", Field::Text(self.uid.clone())));
        out.push(("ImageOrientationPatientDICOM", Field::Numbers(f.orientation.to_vec())));
        out.push(("GantryTiltDegrees", Field::Number((g.tilt_degrees * 1e4).round() / 1e4)));
        if keep_dates {
            out.extend(f.dates.iter().map(|(k, v)| (*k, Field::Text(v.clone()))));
        }
        Ok(out)
    }

    /// One line for listings: UID, description, slices, size, spacing.
    pub fn summary(&self) -> String {
        let f = &self.files[0];
        let spacing = match self.geometry() {
            Ok(g) => format!("{:.3} x {:.3} x {:.3} mm", g.spacing[0], g.spacing[1], g.spacing[2]),
            Err(_) => "uneven or unplaceable".to_string(),
        };
        let part = match self.acquisition {
            Some((a, t)) => {
                let a = a.map(|a| format!(" AcquisitionNumber {a}")).unwrap_or_default();
                let t = t.map(|t| format!(" TemporalPositionIdentifier {t}")).unwrap_or_default();
                format!(" ({}),", format!("{a}{t}").trim_start())
            }
            None => String::new(),
        };
        format!(
            "{} \"{}\"{part} {}, {} slices of {} x {}, {spacing}",
            self.uid,
            self.description,
            self.modality,
            self.slices.len(),
            f.columns,
            f.rows
        )
    }
}

impl Found {
    /// The series `pick` names; with [`Pick::Only`], two or more series are an error listing
    /// each (index, UID, description, slices, size, spacing).
    pub fn pick(&self, path: &Path, pick: &Pick) -> Result<&Series> {
        let listing =
            || self.series.iter().enumerate().map(|(i, s)| format!("; {i}: {}", s.summary())).collect::<String>();
        match pick {
            Pick::Only => match self.series.len() {
                0 => Err(err(ErrorKind::BadMagic, path, "no DICOM image series here")),
                1 => Ok(&self.series[0]),
                n => Err(err(
                    ErrorKind::InvalidRequest,
                    path,
                    format!("{n} image series, pick one with --series INDEX|UID{}", listing()),
                )),
            },
            Pick::Index(i) => self.series.get(*i).ok_or_else(|| {
                err(ErrorKind::InvalidRequest, path, format!("no series {i}; the series here{}", listing()))
            }),
            Pick::Uid(uid) => {
                let named: Vec<&Series> = self.series.iter().filter(|s| &s.uid == uid).collect();
                match named[..] {
                    [one] => Ok(one),
                    [] => Err(err(
                        ErrorKind::InvalidRequest,
                        path,
                        format!("no series {uid}; the series here{}", listing()),
                    )),
                    _ => Err(err(
                        ErrorKind::InvalidRequest,
                        path,
                        format!("series {uid} holds {} acquisitions, pick one by index{}", named.len(), listing()),
                    )),
                }
            }
        }
    }
}

/// Whether `path` is DICOM input: a folder, or a file that is DICOM by content.
pub fn is_dicom_input(path: &Path) -> bool {
    path.is_dir() || is_dicom(path)
}

/// Read the series `pick` names from `path` (a folder, or one file of the series' folder).
pub fn read(path: &Path, pick: &Pick) -> Result<(Volume, Series)> {
    read_found(&find(path)?, path, pick)
}

/// [`read`] from what [`find`] found at `path`.
pub fn read_found(found: &Found, path: &Path, pick: &Pick) -> Result<(Volume, Series)> {
    let series = pick_found(found, path, pick)?;
    Ok((series.read()?.with_path(path), series.clone()))
}

/// The series `pick` names among what [`find`] found at `path`; a file given alone stands for
/// its own series among the folder's others.
pub fn pick_found<'a>(found: &'a Found, path: &Path, pick: &Pick) -> Result<&'a Series> {
    let own = (path.is_file() && *pick == Pick::Only)
        .then(|| found.series.iter().find(|s| s.files.iter().any(|f| f.path == path)))
        .flatten();
    match own {
        Some(s) => Ok(s),
        None => found.pick(path, pick),
    }
}
