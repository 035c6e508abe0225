//! Contact sheets: panels of slices with a separator and, optionally, each slice's number in a
//! built-in 3 x 5 digit font.

use std::path::Path;

use ctprep_core::Affine;

use crate::error::{RenderError, Result, memory_path};
use crate::grey::{PixelMap, Pixels};
use crate::layout::{Plane, SliceLayout};

/// The pixels between two panels of a contact sheet.
pub const SEPARATOR_PX: usize = 2;

/// The layout of a contact sheet. Every setter's doc states its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SheetOptions {
    rows: usize,
    cols: usize,
    start: usize,
    every: usize,
    numbers: bool,
}

impl Default for SheetOptions {
    fn default() -> Self {
        SheetOptions { rows: 6, cols: 6, start: 10, every: 3, numbers: false }
    }
}

impl SheetOptions {
    /// The classic `sample_stack` defaults: 6 x 6 panels, slices 10, 13, 16, ..., no numbers.
    pub fn new() -> SheetOptions {
        SheetOptions::default()
    }

    /// Panel rows, at least 1 (default 6).
    pub fn rows(mut self, rows: usize) -> SheetOptions {
        self.rows = rows;
        self
    }

    /// Panel columns, at least 1 (default 6).
    pub fn cols(mut self, cols: usize) -> SheetOptions {
        self.cols = cols;
        self
    }

    /// The first panel's slice (default 10).
    pub fn start(mut self, start: usize) -> SheetOptions {
        self.start = start;
        self
    }

    /// The slice step from panel to panel, at least 1 (default 3).
    pub fn every(mut self, every: usize) -> SheetOptions {
        self.every = every;
        self
    }

    /// Whether each panel shows its slice number in its top-left corner (default false).
    pub fn numbers(mut self, numbers: bool) -> SheetOptions {
        self.numbers = numbers;
        self
    }

    /// Panel columns.
    pub fn get_cols(&self) -> usize {
        self.cols
    }

    /// Whether slice numbers are drawn.
    pub fn get_numbers(&self) -> bool {
        self.numbers
    }

    /// The sheet's width and height for panels of `panel_width x panel_height`:
    /// `cols * panel_width + (cols - 1) * SEPARATOR_PX` by `rows * panel_height + (rows - 1) *
    /// SEPARATOR_PX`; `None` when a count is 0 or the size overflows.
    pub fn size(&self, panel_width: usize, panel_height: usize) -> Option<(usize, usize)> {
        let side = |n: usize, px: usize| n.checked_mul(px)?.checked_add(n.checked_sub(1)?.checked_mul(SEPARATOR_PX)?);
        Some((side(self.cols, panel_width)?, side(self.rows, panel_height)?))
    }

    /// The slices of the panels, row by row: `start, start + every, ...`, `rows * cols` of
    /// them; an error when a count is 0 or a slice is past the last of `count`.
    pub fn panel_slices(&self, plane: Plane, count: usize) -> Result<Vec<usize>> {
        self.panel_slices_for(plane, count, &memory_path())
    }

    pub(crate) fn panel_slices_for(&self, plane: Plane, count: usize, path: &Path) -> Result<Vec<usize>> {
        let bad = |m: String| Err(RenderError::invalid(path, m));
        for (name, v) in [("rows", self.rows), ("cols", self.cols), ("every", self.every)] {
            if v == 0 {
                return bad(format!("contact sheet {name} must be at least 1"));
            }
        }
        let panels = self.rows.checked_mul(self.cols);
        let last = panels.and_then(|p| (p - 1).checked_mul(self.every)).and_then(|d| d.checked_add(self.start));
        match last {
            Some(last) if last < count => Ok((0..self.rows * self.cols).map(|i| self.start + i * self.every).collect()),
            _ => {
                let (r, c, s, e) = (self.rows, self.cols, self.start, self.every);
                let asked = match last {
                    Some(last) if r * c > 2 => format!("slices {s}, {}, ..., {last}", s + e),
                    Some(last) if r * c == 2 => format!("slices {s} and {last}"),
                    Some(_) => format!("slice {s}"),
                    None => format!("slices from {s} every {e}, past any volume"),
                };
                bad(format!(
                    "the contact sheet ({r} x {c} panels from slice {s} every {e}) needs {asked}, but the {plane} \
                     plane has {count} slices, 0 to {}",
                    count.saturating_sub(1)
                ))
            }
        }
    }
}

/// A contact sheet of `plane` from an x-fastest volume of `shape` and `affine` (see
/// [`SheetOptions`] for the layout), with grey levels from `map`.
pub fn contact_sheet(
    values: &[f32],
    shape: [usize; 3],
    affine: &Affine,
    plane: Plane,
    sheet: &SheetOptions,
    map: &PixelMap,
) -> Result<Pixels> {
    let p = memory_path();
    let layout = SliceLayout::for_file(shape, affine, plane, &p)?;
    layout.check_len(values.len(), &p)?;
    build_sheet(&layout, sheet, map, &|i| values[i], &p)
}

pub(crate) fn build_sheet(
    layout: &SliceLayout,
    sheet: &SheetOptions,
    map: &PixelMap,
    get: &impl Fn(usize) -> f32,
    path: &Path,
) -> Result<Pixels> {
    let slices = sheet.panel_slices_for(layout.plane, layout.count, path)?;
    let (pw, ph) = (layout.width, layout.height);
    // Every panel is a different slice, so the sheet holds at most the volume's voxels plus
    // separators: its size is bounded by the input's.
    let (width, height) = sheet
        .size(pw, ph)
        .filter(|(w, h)| w.checked_mul(*h).is_some())
        .ok_or_else(|| RenderError::invalid(path, "the contact sheet is too large"))?;
    let mut values = vec![map.bits.separator_value(); width * height];
    let mut panel = vec![0.0f32; pw * ph];
    let scale = (pw.min(ph) / 64).max(1);
    for (i, &n) in slices.iter().enumerate() {
        layout.gather_into(n, get, &mut panel);
        let (x0, y0) = ((i % sheet.cols) * (pw + SEPARATOR_PX), (i / sheet.cols) * (ph + SEPARATOR_PX));
        for (row, src) in panel.chunks_exact(pw).enumerate() {
            let dst = &mut values[(y0 + row) * width + x0..][..pw];
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = map.level(v);
            }
        }
        if sheet.numbers {
            let mut canvas = Canvas { values: &mut values, stride: width, x0, y0, width: pw, height: ph };
            draw_number(&mut canvas, n, scale, map.bits.max_value());
        }
    }
    Ok(Pixels { width, height, bits: map.bits, values })
}

/// Draws `n` into the top-left corner of one panel as [`build_sheet`] does; returns the number
/// box's width and height (clipped to the panel), where an overlay must leave the digits alone.
pub(crate) fn draw_number_into(panel: &mut Pixels, n: usize) -> (usize, usize) {
    let (width, height) = (panel.width, panel.height);
    let scale = (width.min(height) / 64).max(1);
    let white = panel.bits.max_value();
    let mut canvas = Canvas { values: &mut panel.values, stride: width, x0: 0, y0: 0, width, height };
    draw_number(&mut canvas, n, scale, white);
    let digits = n.to_string().len();
    (((digits * 4 + 1) * scale).min(width), (7 * scale).min(height))
}

/// One panel of a sheet: drawing is clipped to it.
struct Canvas<'a> {
    values: &'a mut [u16],
    stride: usize,
    x0: usize,
    y0: usize,
    width: usize,
    height: usize,
}

impl Canvas<'_> {
    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, v: u16) {
        for yy in y..(y + h).min(self.height) {
            let row = (self.y0 + yy) * self.stride + self.x0;
            for xx in x..(x + w).min(self.width) {
                self.values[row + xx] = v;
            }
        }
    }
}

/// The digits 0-9, 3 x 5 pixels each: one row per byte, the high bit of the three the left.
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b001, 0b001, 0b001],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// Draws `n` in white on a black box in the panel's top-left corner, each font pixel
/// `scale x scale`, a one-font-pixel margin around the digits, clipped to the panel.
fn draw_number(canvas: &mut Canvas<'_>, n: usize, scale: usize, white: u16) {
    let digits: Vec<usize> = n.to_string().bytes().map(|b| usize::from(b - b'0')).collect();
    let box_w = (digits.len() * 4 + 1) * scale;
    canvas.fill(0, 0, box_w, 7 * scale, 0);
    for (k, &d) in digits.iter().enumerate() {
        for (r, bits) in DIGITS[d].iter().enumerate() {
            for c in 0..3 {
                if bits & (0b100 >> c) != 0 {
                    canvas.fill((1 + k * 4 + c) * scale, (1 + r) * scale, scale, scale, white);
                }
            }
        }
    }
}
