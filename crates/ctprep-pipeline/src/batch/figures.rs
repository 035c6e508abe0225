//! What a case's card in the report shows besides its record ([`Figures`]): thumbnails of the
//! windowed output with the label drawn over them, each with a full-size image, and the label
//! values' volumes. A batch makes them as each case finishes, from the slices its run kept and
//! its label output; `ctprep report` makes them for folders written before, from the outputs.
//! Making them never fails a case: what cannot be shown is said in [`Figures::missing`].

use std::path::Path;

use ctprep_core::{Affine, Voxel};
use ctprep_io::{Element, ReadOptions, SliceReader};
use ctprep_render::{
    Gray, Labels, OverlayStyle, PixelMap, Pixels, Plane, SliceCapture, SliceLayout, overlay, write_png, write_png_rgb,
};
use serde::{Deserialize, Serialize};

use super::records::FileRecord;
use crate::RunReport;
use crate::report::{Counts, MAX_LABEL_VALUES};

/// The version of [`Figures`]: figures of another version are made again.
pub const FIGURES_VERSION: u32 = 1;
/// The longest side of a thumbnail, in pixels.
pub const THUMB_PX: usize = 160;
/// Slices read at a time when streaming an output.
const CHUNK_BYTES: usize = 8 << 20;

/// The figures of one case, kept in its record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// [`FIGURES_VERSION`].
    pub version: u32,
    /// What the thumbnails show: `volume` (the windowed volume's middle slices) or `mip` (the
    /// MIP's); `None` without thumbnails.
    pub source: Option<String>,
    /// The thumbnails, axial, coronal, sagittal.
    pub views: Vec<ViewFiles>,
    /// The label's values other than 0, ascending, with their volumes.
    pub labels: Vec<LabelVolume>,
    /// Layers of a layered label map (only the first is drawn and counted).
    pub label_layers: Option<usize>,
    /// What could not be shown, one line each.
    pub missing: Vec<String>,
}

/// One plane's thumbnail and full-size image, in the case folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewFiles {
    /// `axial`, `coronal` or `sagittal`.
    pub plane: String,
    /// The thumbnail's file name.
    pub thumb: String,
    /// The full-size image's file name.
    pub full: String,
    /// The thumbnail's size in pixels.
    pub width: usize,
    /// The thumbnail's height in pixels.
    pub height: usize,
}

/// A label value and how much of the output it covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelVolume {
    /// The value.
    pub value: i64,
    /// Its voxels on the output grid.
    pub voxels: u64,
    /// Their volume in millilitres.
    pub ml: f64,
}

/// The file names of a case's images: `<stem>_thumb_<plane>.png`, `<stem>_view_<plane>.png`.
pub fn view_names(stem: &str, plane: Plane) -> (String, String) {
    (format!("{stem}_thumb_{}.png", plane.name()), format!("{stem}_view_{}.png", plane.name()))
}

/// Makes the figures of the case in `dir` whose outputs are `outputs` (named after `stem`)
/// and writes its images there. `run` is what its run kept, when it kept views
/// ([`crate::RunReport::views`]); otherwise the thumbnails come from the windowed volume or
/// the MIP file, and the label's slices and values from the label output.
pub fn make_figures(
    dir: &Path,
    stem: &str,
    outputs: &[FileRecord],
    run: Option<&RunReport>,
    gzip_threads: usize,
) -> Figures {
    let mut fig = Figures {
        version: FIGURES_VERSION,
        source: None,
        views: Vec::new(),
        labels: Vec::new(),
        label_layers: None,
        missing: Vec::new(),
    };
    // Only regular files named plainly in the case's folder (a record could name anything).
    let file = |role: &str| {
        let o = outputs.iter().find(|o| o.role == role)?;
        let p = dir.join(&o.path);
        (super::page::plain_name(&o.path) && std::fs::metadata(&p).is_ok_and(|m| m.is_file())).then_some(p)
    };
    let opts = ReadOptions::new().gzip_threads(gzip_threads.max(1));
    // The grey slices and the grid they lie on.
    let grey: Option<Slices> =
        match (run, file("volume").map(|p| ("volume", p)).or_else(|| file("mip").map(|p| ("mip", p)))) {
            (Some(r), _) if !r.views.is_empty() => {
                fig.source = Some("volume".to_owned());
                let slices = r.views.iter().map(|v| (v.plane, v.slice, v.image.clone())).collect();
                Some((slices, r.output_shape, r.output_affine))
            }
            (_, Some((what, path))) => match middle_slices(&path, &opts) {
                Ok(g) => {
                    fig.source = Some(what.to_owned());
                    Some(g)
                }
                Err(e) => {
                    fig.missing.push(format!("thumbnails: {e}"));
                    None
                }
            },
            (_, None) => {
                let saved = outputs.iter().any(|o| o.role == "volume" || o.role == "mip");
                fig.missing.push(if saved {
                    "thumbnails: the windowed volume and the MIP are not files of the case's folder".to_owned()
                } else {
                    "thumbnails: neither the windowed volume nor the MIP was saved".to_owned()
                });
                None
            }
        };
    // The run's own label slices and counts (a label of one layer), else the label output's.
    let seen = run.filter(|r| !r.views.is_empty() && r.views.iter().all(|v| v.labels.is_some()));
    let labels = match (seen, file("label")) {
        (Some(r), _) => {
            let ml = r.output_affine.det3().abs() / 1000.0;
            match &r.label_values {
                Some(v) => {
                    fig.labels = v
                        .iter()
                        .map(|&(value, voxels)| LabelVolume { value, voxels, ml: voxels as f64 * ml })
                        .collect();
                }
                None => fig
                    .missing
                    .push(format!("label volumes: more than {MAX_LABEL_VALUES} distinct values (not a label map?)")),
            }
            Some(r.views.iter().filter_map(|v| v.labels.clone()).collect())
        }
        (None, Some(path)) => match read_label(&path, &opts, grey.as_ref().map(|(p, s, a)| (p.as_slice(), *s, a))) {
            Ok(l) => {
                match l.volumes {
                    Some(v) => fig.labels = v,
                    None => fig.missing.push(format!(
                        "label volumes: more than {MAX_LABEL_VALUES} distinct values (not a label map?)"
                    )),
                }
                fig.label_layers = l.layers;
                if let Some(why) = l.not_drawn {
                    fig.missing.push(format!("label: {why}"));
                }
                l.slices
            }
            Err(e) => {
                fig.missing.push(format!("label: {e}"));
                None
            }
        },
        (None, None) => {
            if let Some(o) = outputs.iter().find(|o| o.role == "label") {
                fig.missing.push(format!("label: its output {} is not a file of the case's folder", o.path));
            }
            None
        }
    };
    if let Some((planes, _, _)) = grey {
        render(dir, stem, planes, labels, &mut fig);
    }
    fig
}

/// Writes each plane's full-size image and thumbnail (with `labels` drawn over them when given).
fn render(dir: &Path, stem: &str, planes: Vec<Slice>, labels: Option<Vec<Labels>>, fig: &mut Figures) {
    let map = PixelMap::new();
    for (i, (plane, _, gray)) in planes.into_iter().enumerate() {
        let full = map.apply(&gray);
        let label = labels.as_ref().and_then(|l| l.get(i));
        let f = (full.width.max(full.height)).div_ceil(THUMB_PX).max(1);
        let thumb = shrink_grey(&full, f);
        let (thumb_name, full_name) = view_names(stem, plane);
        let written = match label {
            Some(l) => overlay(&full, l, &OverlayStyle::new())
                .and_then(|rgb| write_png_rgb(dir.join(&full_name), &rgb))
                .and_then(|()| overlay(&thumb, &shrink_labels(l, f), &OverlayStyle::new()))
                .and_then(|rgb| write_png_rgb(dir.join(&thumb_name), &rgb)),
            None => write_png(dir.join(&full_name), &full).and_then(|()| write_png(dir.join(&thumb_name), &thumb)),
        };
        match written {
            Ok(()) => fig.views.push(ViewFiles {
                plane: plane.name().to_owned(),
                thumb: thumb_name,
                full: full_name,
                width: thumb.width,
                height: thumb.height,
            }),
            Err(e) => fig.missing.push(format!("{} thumbnail: {e}", plane.name())),
        }
    }
}

/// `image` reduced `f` times: each pixel the rounded mean of its block (a short last block
/// averages what it has).
fn shrink_grey(image: &Pixels, f: usize) -> Pixels {
    if f == 1 {
        return image.clone();
    }
    let (w, h) = (image.width.div_ceil(f), image.height.div_ceil(f));
    let mut values = Vec::with_capacity(w * h);
    for row in 0..h {
        for col in 0..w {
            let (mut sum, mut n) = (0u64, 0u64);
            for r in row * f..((row + 1) * f).min(image.height) {
                for c in col * f..((col + 1) * f).min(image.width) {
                    sum += u64::from(image.values[r * image.width + c]);
                    n += 1;
                }
            }
            values.push(((sum + n / 2) / n) as u16);
        }
    }
    Pixels { width: w, height: h, bits: image.bits, values }
}

/// `labels` reduced `f` times to the label at each block's centre (clamped into the image), so
/// outlines stay sharp and no value is invented.
fn shrink_labels(labels: &Labels, f: usize) -> Labels {
    let (w, h) = (labels.width.div_ceil(f), labels.height.div_ceil(f));
    let mut values = Vec::with_capacity(w * h);
    for row in 0..h {
        for col in 0..w {
            let (r, c) = ((row * f + f / 2).min(labels.height - 1), (col * f + f / 2).min(labels.width - 1));
            values.push(labels.values[r * labels.width + c]);
        }
    }
    Labels { width: w, height: h, values }
}

/// A display slice: its plane, index and values.
type Slice = (Plane, usize, Gray);
/// Slices and the grid (shape, affine) they were taken from.
type Slices = (Vec<Slice>, [usize; 3], Affine);
/// What [`stream`] hands each chunk of slices to.
type EachChunk<'a> = dyn FnMut(usize, &mut [f32]) -> Result<(), String> + 'a;

/// The middle slice of each plane of a float volume file, streamed.
fn middle_slices(path: &Path, opts: &ReadOptions) -> Result<Slices, String> {
    let mut r = SliceReader::open_with(path, opts).map_err(|e| e.to_string())?;
    let (shape, affine) = (r.dims3().map_err(|e| e.to_string())?, *r.affine());
    let mut caps = Vec::new();
    for plane in Plane::ALL {
        let middle = SliceLayout::new(shape, &affine, plane).map_err(|e| e.to_string())?.middle();
        caps.push((plane, middle, SliceCapture::new(shape, &affine, plane, &[middle]).map_err(|e| e.to_string())?));
    }
    let scaling = r.scaling().map(|s| (s.slope, s.inter));
    stream(&mut r, shape, |z0, values| {
        if let Some((slope, inter)) = scaling {
            values.iter_mut().for_each(|v| *v = (f64::from(*v) * slope + inter) as f32);
        }
        for (_, _, c) in &mut caps {
            c.take(z0, values).map_err(|e| e.to_string())?;
        }
        Ok(())
    })?;
    let mut planes = Vec::new();
    for (plane, middle, c) in caps {
        planes.push((plane, middle, c.image(middle).map_err(|e| e.to_string())?));
    }
    Ok((planes, shape, affine))
}

/// Reads the first `shape[2]` slices of `r` in chunks, as `f32`, handing each to `each` with
/// its first slice.
fn stream(
    r: &mut SliceReader,
    shape: [usize; 3],
    mut each: impl FnMut(usize, &mut [f32]) -> Result<(), String>,
) -> Result<(), String> {
    fn go<T: Element + Voxel>(r: &mut SliceReader, shape: [usize; 3], each: &mut EachChunk<'_>) -> Result<(), String> {
        let plane = shape[0] * shape[1];
        let per = (CHUNK_BYTES / (plane * 4).max(1)).max(1);
        let mut raw = vec![T::default(); per.min(shape[2]) * plane];
        let mut values = vec![0f32; raw.len()];
        let mut z = 0;
        while z < shape[2] {
            let n = per.min(shape[2] - z);
            r.read_slices(&mut raw[..n * plane]).map_err(|e| e.to_string())?;
            for (o, v) in values.iter_mut().zip(&raw[..n * plane]) {
                *o = v.to_f64() as f32;
            }
            each(z, &mut values[..n * plane])?;
            z += n;
        }
        Ok(())
    }
    ctprep_io::with_dtype!(r.dtype(), T => go::<T>(r, shape, &mut each))
}

/// What a label output gives the card.
struct LabelFigures {
    /// `None` when it holds too many distinct values to count.
    volumes: Option<Vec<LabelVolume>>,
    layers: Option<usize>,
    /// Its slices at the grey slices, when it lies on their grid.
    slices: Option<Vec<Labels>>,
    not_drawn: Option<String>,
}

/// Counts the label file's values (its first layer) and keeps its slices at `grey`'s, when it
/// lies on their grid (same shape, corners within 0.01 mm).
fn read_label(
    path: &Path,
    opts: &ReadOptions,
    grey: Option<(&[Slice], [usize; 3], &Affine)>,
) -> Result<LabelFigures, String> {
    let mut r = SliceReader::open_with(path, opts).map_err(|e| e.to_string())?;
    let shape = r.spatial_shape();
    let affine = *r.affine();
    let layers = r.shape().iter().skip(3).product::<usize>();
    let mut caps = Vec::new();
    let mut not_drawn = None;
    match grey {
        Some((planes, g_shape, g_affine))
            if g_shape == shape
                && ctprep_render::corners_apart_mm(shape, &affine, g_affine) <= ctprep_render::SAME_GRID_MM =>
        {
            for (plane, slice, _) in planes {
                caps.push((*slice, SliceCapture::new(shape, &affine, *plane, &[*slice]).map_err(|e| e.to_string())?));
            }
        }
        Some(_) => not_drawn = Some("not on the thumbnails' grid (the MIP's), so not drawn".to_owned()),
        None => {}
    }
    // In the stored type: only the kept voxels are converted, the counts take the values as
    // they are.
    fn pass<T: Element + Voxel>(
        r: &mut SliceReader,
        shape: [usize; 3],
        caps: &mut [(usize, SliceCapture)],
        counts: &mut Counts,
    ) -> Result<(), String> {
        let plane = shape[0] * shape[1];
        let per = (CHUNK_BYTES / (plane * size_of::<T>()).max(1)).max(1);
        let mut raw = vec![T::default(); per.min(shape[2]) * plane];
        let mut z = 0;
        while z < shape[2] {
            let n = per.min(shape[2] - z);
            let chunk = &mut raw[..n * plane];
            r.read_slices(chunk).map_err(|e| e.to_string())?;
            for (_, c) in caps.iter_mut() {
                c.take_as(z, chunk, |v: T| v.to_f64() as f32).map_err(|e| e.to_string())?;
            }
            counts.add_stored(chunk);
            z += n;
        }
        Ok(())
    }
    let mut counts = Counts::default();
    ctprep_io::with_dtype!(r.dtype(), T => pass::<T>(&mut r, shape, &mut caps, &mut counts))?;
    let ml_per_voxel = affine.det3().abs() / 1000.0;
    let volumes = counts.values().map(|v| {
        v.into_iter().map(|(value, voxels)| LabelVolume { value, voxels, ml: voxels as f64 * ml_per_voxel }).collect()
    });
    let slices = if caps.is_empty() {
        None
    } else {
        let mut out = Vec::new();
        for (slice, c) in caps {
            let g = c.image(slice).map_err(|e| e.to_string())?;
            out.push(Labels {
                width: g.width,
                height: g.height,
                values: g.values.iter().map(|&v| if v.is_nan() { 0 } else { v as i64 }).collect(),
            });
        }
        Some(out)
    };
    Ok(LabelFigures { volumes, layers: (layers > 1).then_some(layers), slices, not_drawn })
}
