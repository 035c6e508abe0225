//! Label maps drawn over grey images: each label value in its colour, an outline where the label
//! meets another value and a translucent fill inside; background (0) left grey.
//!
//! Colours come from [`PALETTE`], chosen so that readers with the common colour-vision
//! deficiencies can tell them apart: the Okabe-Ito palette (without its black, invisible on CT)
//! followed by Paul Tol's "muted" scheme; label `v` takes `PALETTE[(v - 1) mod 16]`, so values
//! 1 to 16 all differ and larger ones repeat (a legend says which is which).

use std::path::Path;

use ctprep_io::Volume;

use crate::encode::{checked_size, encode_samples, write_bytes};
use crate::error::{RenderError, Result, memory_path};
use crate::grey::{Bits, PixelMap, Pixels};
use crate::layout::{Plane, SliceLayout};
use crate::sheet::{SEPARATOR_PX, SheetOptions, draw_number_into};

/// The label colours, in order: label `v` (not 0) is `PALETTE[(v - 1) mod 16]`.
pub const PALETTE: [[u8; 3]; 16] = [
    [230, 159, 0],   // Okabe-Ito orange
    [86, 180, 233],  // sky blue
    [0, 158, 115],   // bluish green
    [240, 228, 66],  // yellow
    [0, 114, 178],   // blue
    [213, 94, 0],    // vermillion
    [204, 121, 167], // reddish purple
    [204, 102, 119], // Tol muted rose
    [51, 34, 136],   // indigo
    [221, 204, 119], // sand
    [17, 119, 51],   // green
    [136, 204, 238], // cyan
    [136, 34, 85],   // wine
    [68, 170, 153],  // teal
    [153, 153, 51],  // olive
    [170, 68, 153],  // purple
];

/// The colour of label `value` (0 has none: it is not drawn).
pub fn label_colour(value: i64) -> Option<[u8; 3]> {
    (value != 0).then(|| PALETTE[(value - 1).rem_euclid(PALETTE.len() as i64) as usize])
}

/// How labels are drawn (defaults: outline on, fill at 35 % opacity).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OverlayStyle {
    fill_opacity: f32,
    outline: bool,
}

impl Default for OverlayStyle {
    fn default() -> Self {
        OverlayStyle { fill_opacity: 0.35, outline: true }
    }
}

impl OverlayStyle {
    /// The default style.
    pub fn new() -> OverlayStyle {
        OverlayStyle::default()
    }

    /// The opacity of the fill inside each label, 0 (none) to 1 (solid); clamped to that range.
    pub fn fill_opacity(mut self, opacity: f32) -> Self {
        self.fill_opacity = if opacity.is_nan() { 0.0 } else { opacity.clamp(0.0, 1.0) };
        self
    }

    /// Whether the outline (label pixels next to another value) is drawn in full colour.
    pub fn outline(mut self, on: bool) -> Self {
        self.outline = on;
        self
    }
}

/// A label map's slice in display orientation, row by row from the top:
/// `values[row * width + col]` is the label there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labels {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` label values, top row first.
    pub values: Vec<i64>,
}

/// An 8-bit RGB image, row by row from the top: `values[row * width + col]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgb {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` pixels, top row first.
    pub values: Vec<[u8; 3]>,
}

/// `grey` with `labels` (the same size) drawn over it: a label pixel with a 4-neighbour of
/// another value is outline, drawn in the label's colour; other label pixels blend the colour
/// into the grey at the style's opacity; label 0 stays grey. 16-bit grey is shown by its high
/// byte.
pub fn overlay(grey: &Pixels, labels: &Labels, style: &OverlayStyle) -> Result<Rgb> {
    if (grey.width, grey.height) != (labels.width, labels.height) || labels.values.len() != grey.values.len() {
        return Err(RenderError::invalid(
            memory_path(),
            format!(
                "a {} x {} label image cannot be drawn over a {} x {} image",
                labels.width, labels.height, grey.width, grey.height
            ),
        ));
    }
    let (w, h) = (grey.width, grey.height);
    let to8 = |v: u16| match grey.bits {
        Bits::Eight => v as u8,
        Bits::Sixteen => (v >> 8) as u8,
    };
    let a = style.fill_opacity;
    let mut values = Vec::with_capacity(w * h);
    for row in 0..h {
        for col in 0..w {
            let i = row * w + col;
            let g = to8(grey.values[i]);
            let l = labels.values[i];
            let Some(c) = label_colour(l) else {
                values.push([g, g, g]);
                continue;
            };
            let differs = |r: usize, c: usize| labels.values[r * w + c] != l;
            let edge = style.outline
                && ((col > 0 && differs(row, col - 1))
                    || (col + 1 < w && differs(row, col + 1))
                    || (row > 0 && differs(row - 1, col))
                    || (row + 1 < h && differs(row + 1, col)));
            values.push(if edge { c } else { c.map(|ch| blend(g, ch, a)) });
        }
    }
    Ok(Rgb { width: w, height: h, values })
}

/// `g` moved toward `c` by `a`, rounded to nearest.
fn blend(g: u8, c: u8, a: f32) -> u8 {
    (f32::from(g) * (1.0 - a) + f32::from(c) * a).round().clamp(0.0, 255.0) as u8
}

/// Checks that `labels` lies on `image`'s grid (same shape, voxel centres within 0.01 mm), so
/// the same display layout shows both.
pub fn check_same_grid(image: &Volume, labels: &Volume) -> Result<()> {
    let (a, b) = (image.dims3()?, labels.dims3()?);
    let far = corners_apart_mm(a, image.affine(), labels.affine());
    if a != b || far.is_nan() || far > SAME_GRID_MM {
        return Err(RenderError::invalid(
            labels.display_path(),
            format!(
                "the label map ({b:?} voxels) is not on the grid of {} ({a:?} voxels{}): put it there first \
                 (`ctprep resample LABEL OUT --like IMAGE --interp nearest`)",
                image.display_path().display(),
                if a == b { format!(", corners {far:.3} mm apart") } else { String::new() },
            ),
        ));
    }
    Ok(())
}

/// How far two grids may put a voxel centre apart (mm) and still be one grid for drawing.
pub const SAME_GRID_MM: f64 = 0.01;

/// The largest distance along any world axis (mm) between where affines `a` and `b` put the
/// corner voxels of a volume of `shape`; NaN when either affine gives NaN (a degenerate one),
/// so that it never counts as close.
pub fn corners_apart_mm(shape: [usize; 3], a: &ctprep_core::Affine, b: &ctprep_core::Affine) -> f64 {
    let corner = |k: usize| [0, 1, 2].map(|d| if k >> d & 1 == 1 { shape[d].saturating_sub(1) as f64 } else { 0.0 });
    (0..8)
        .flat_map(|k| {
            let (x, y) = (a.apply(corner(k)), b.apply(corner(k)));
            (0..3).map(move |d| (x[d] - y[d]).abs())
        })
        .fold(0.0, |far, d| if d.is_nan() || far.is_nan() { f64::NAN } else { far.max(d) })
}

/// Slice `index` of `plane` of a label map, in display orientation: the stored values as
/// integers (a NaN is 0; fractions are cut toward 0).
pub fn label_slice(labels: &Volume, plane: Plane, index: usize) -> Result<Labels> {
    let path = labels.display_path();
    let layout = SliceLayout::for_file(labels.dims3()?, labels.affine(), plane, &path)?;
    layout.check_index(index, &path)?;
    let mut out = vec![0i64; layout.width * layout.height];
    gather_labels(labels, &layout, index, &mut out);
    Ok(Labels { width: layout.width, height: layout.height, values: out })
}

fn gather_labels(labels: &Volume, layout: &SliceLayout, index: usize, out: &mut [i64]) {
    use ctprep_core::Voxel;
    ctprep_io::with_storage!(labels.data(), s => {
        let src = s.as_slice();
        layout.gather_into(index, &|i| { let v = src[i].to_f64(); if v.is_nan() { 0 } else { v as i64 } }, out)
    })
}

/// A contact sheet of `image` with `labels` (on its grid, see [`check_same_grid`]) drawn over
/// each panel: the panels, separators and numbers of [`crate::VolumeImages::contact_sheet`],
/// outlines computed within each panel.
pub fn labelled_sheet(
    image: &Volume,
    labels: &Volume,
    plane: Plane,
    sheet: &SheetOptions,
    map: &PixelMap,
    style: &OverlayStyle,
) -> Result<Rgb> {
    use crate::volume::VolumeImages;
    check_same_grid(image, labels)?;
    let path = image.display_path();
    let layout = image.slice_layout(plane)?;
    let slices = sheet.panel_slices_for(plane, layout.slice_count(), &path)?;
    let (pw, ph) = (layout.width(), layout.height());
    let (width, height) = sheet
        .size(pw, ph)
        .filter(|(w, h)| w.checked_mul(*h).is_some())
        .ok_or_else(|| RenderError::invalid(&path, "the contact sheet is too large"))?;
    let sep = (map.get_bits().separator_value() >> if map.get_bits() == Bits::Sixteen { 8 } else { 0 }) as u8;
    let mut values = vec![[sep; 3]; width * height];
    let mut lab = Labels { width: pw, height: ph, values: vec![0; pw * ph] };
    let cols = sheet.get_cols();
    for (i, &n) in slices.iter().enumerate() {
        let mut grey = map.apply(&image.slice_image(plane, n)?);
        gather_labels(labels, &layout, n, &mut lab.values);
        if sheet.get_numbers() {
            let (bw, bh) = draw_number_into(&mut grey, n);
            for row in lab.values.chunks_exact_mut(pw).take(bh) {
                row[..bw].fill(0);
            }
        }
        let panel = overlay(&grey, &lab, style)?;
        let (x0, y0) = ((i % cols) * (pw + SEPARATOR_PX), (i / cols) * (ph + SEPARATOR_PX));
        for (row, src) in panel.values.chunks_exact(pw).enumerate() {
            values[(y0 + row) * width + x0..][..pw].copy_from_slice(src);
        }
    }
    Ok(Rgb { width, height, values })
}

/// The PNG encoding of an RGB image (8 bits per channel, no ancillary chunks, fixed settings:
/// equal images give equal bytes).
pub fn encode_png_rgb(image: &Rgb) -> Result<Vec<u8>> {
    encode_rgb_for(image, &memory_path())
}

fn encode_rgb_for(image: &Rgb, path: &Path) -> Result<Vec<u8>> {
    let (w, h) = checked_size(image.width, image.height, image.values.len(), path)?;
    let data: Vec<u8> = image.values.iter().flatten().copied().collect();
    encode_samples(w, h, png::ColorType::Rgb, png::BitDepth::Eight, &data, path)
}

/// Writes an RGB image as a PNG through a temporary file renamed when complete, as
/// [`crate::write_png`] does.
pub fn write_png_rgb(path: impl AsRef<Path>, image: &Rgb) -> Result<()> {
    let path = path.as_ref();
    write_bytes(path, &encode_rgb_for(image, path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctprep_core::Affine;
    use ctprep_io::VoxelData;

    fn grey(w: usize, h: usize, v: u16) -> Pixels {
        Pixels { width: w, height: h, bits: Bits::Eight, values: vec![v; w * h] }
    }

    /// Labels from rows of digits (one character per pixel).
    fn labels(rows: &[&str]) -> Labels {
        let values: Vec<i64> = rows.iter().flat_map(|r| r.bytes().map(|b| i64::from(b - b'0'))).collect();
        Labels { width: rows[0].len(), height: rows.len(), values }
    }

    #[test]
    fn outline_where_the_label_meets_another_value_fill_inside_nothing_on_zero() {
        let l = labels(&["000033", "022233", "022233", "022233", "000033"]);
        let out = overlay(&grey(6, 5, 100), &l, &OverlayStyle::new()).expect("same size");
        let two = PALETTE[1];
        let three = PALETTE[2];
        let fill = |c: [u8; 3]| c.map(|ch| blend(100, ch, 0.35));
        #[rustfmt::skip]
        let want = [
            [100; 3], [100; 3], [100; 3], [100; 3], three, fill(three),
            [100; 3], two, two, two, three, fill(three),
            [100; 3], two, fill(two), two, three, fill(three),
            [100; 3], two, two, two, three, fill(three),
            [100; 3], [100; 3], [100; 3], [100; 3], three, fill(three),
        ];
        // Label 3 touches the image's right edge: the edge is not an outline, its inner column
        // is (it meets 2 and 0).
        for (i, (got, want)) in out.values.iter().zip(want).enumerate() {
            assert_eq!(*got, want, "pixel ({}, {})", i % 6, i / 6);
        }
        assert_eq!(fill(two), [(100.0 * 0.65 + 86.0 * 0.35f32).round() as u8, 128, 147]);
    }

    #[test]
    fn colours_per_value_and_style() {
        let distinct: std::collections::HashSet<[u8; 3]> = (1..=16).filter_map(label_colour).collect();
        assert_eq!(distinct.len(), 16);
        assert_eq!(label_colour(0), None);
        assert_eq!(label_colour(1), Some(PALETTE[0]));
        assert_eq!(label_colour(17), Some(PALETTE[0]));
        assert_eq!(label_colour(-1), Some(PALETTE[14]));
        let l = labels(&["111", "111", "111"]);
        let solid = overlay(&grey(3, 3, 7), &l, &OverlayStyle::new().outline(false).fill_opacity(1.0)).expect("size");
        assert!(solid.values.iter().all(|&p| p == PALETTE[0]));
        let clear = overlay(&grey(3, 3, 7), &l, &OverlayStyle::new().outline(false).fill_opacity(0.0)).expect("size");
        assert!(clear.values.iter().all(|&p| p == [7; 3]));
        assert!(overlay(&grey(3, 2, 7), &l, &OverlayStyle::new()).is_err());
        // 16-bit grey is shown by its high byte.
        let g16 = Pixels { width: 1, height: 1, bits: Bits::Sixteen, values: vec![0xAB12] };
        let out = overlay(&g16, &labels(&["0"]), &OverlayStyle::new()).expect("size");
        assert_eq!(out.values, [[0xAB; 3]]);
    }

    fn volume(values: Vec<i16>, shape: [usize; 3], affine: Affine) -> Volume {
        Volume::new(VoxelData::from_vec(values), &shape, affine).expect("volume")
    }

    #[test]
    fn label_slices_follow_the_display_layout_and_grids_must_match() {
        use crate::volume::VolumeImages;
        let shape = [4, 3, 2];
        let lps = Affine::from_spacing_origin([-1.0, -1.0, 2.0], [0.0; 3]);
        let lab = volume((0..24).map(|v| (v % 5) as i16).collect(), shape, lps);
        let as_image = lab.slice_image(Plane::Coronal, 1).expect("slice");
        let as_labels = label_slice(&lab, Plane::Coronal, 1).expect("slice");
        assert_eq!((as_labels.width, as_labels.height), (as_image.width, as_image.height));
        assert!(as_labels.values.iter().zip(&as_image.values).all(|(l, g)| *l as f32 == *g));
        let image = volume(vec![0; 24], shape, lps);
        check_same_grid(&image, &lab).expect("same grid");
        let moved = volume(vec![0; 24], shape, Affine::from_spacing_origin([-1.0, -1.0, 2.0], [0.5, 0.0, 0.0]));
        assert!(check_same_grid(&moved, &lab).expect_err("half a voxel apart").to_string().contains("0.500 mm"));
        let other = volume(vec![0; 12], [4, 3, 1], lps);
        assert!(check_same_grid(&other, &lab).is_err());
    }

    #[test]
    fn labelled_sheets_have_the_grey_sheets_geometry_and_leave_numbers_alone() {
        use crate::volume::VolumeImages;
        let shape = [8, 6, 5];
        let ras = Affine::from_spacing_origin([1.0; 3], [0.0; 3]);
        let image = volume((0..240).collect(), shape, ras);
        let lab = volume(vec![4; 240], shape, ras);
        let opts = SheetOptions::new().rows(2).cols(2).start(0).every(1).numbers(true);
        let map = PixelMap::new().window(ctprep_intensity::Window::new(0.0, 240.0).expect("window"));
        let grey = image.contact_sheet(Plane::Axial, &opts, &map).expect("sheet");
        let rgb = labelled_sheet(&image, &lab, Plane::Axial, &opts, &map, &OverlayStyle::new()).expect("sheet");
        assert_eq!((rgb.width, rgb.height), (grey.width, grey.height));
        for (i, (c, g)) in rgb.values.iter().zip(&grey.values).enumerate() {
            let (x, y) = (i % grey.width, i / grey.width);
            let in_panel = x % (8 + SEPARATOR_PX) < 8 && y % (6 + SEPARATOR_PX) < 6;
            let in_number_box = x % (8 + SEPARATOR_PX) < 5 && y % (6 + SEPARATOR_PX) < 7;
            if !in_panel || in_number_box {
                assert_eq!(*c, [*g as u8; 3], "pixel ({x}, {y}): separators and numbers stay grey");
            } else {
                assert_ne!(*c, [*g as u8; 3], "pixel ({x}, {y}): label 4 is drawn");
            }
        }
        let off = volume(vec![4; 240], shape, Affine::from_spacing_origin([2.0; 3], [0.0; 3]));
        assert!(labelled_sheet(&image, &off, Plane::Axial, &opts, &map, &OverlayStyle::new()).is_err());
        let png = encode_png_rgb(&rgb).expect("encodes");
        assert_eq!(&png[1..4], b"PNG");
    }
}
