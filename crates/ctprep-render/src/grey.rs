//! Grey levels: real-valued images ([`Gray`]), the map to 8- or 16-bit levels ([`PixelMap`],
//! [`Bits`]) and the result ([`Pixels`]).

use std::fmt;
use std::str::FromStr;

use ctprep_intensity::{Output, Range, Window, WindowMap};

/// A grey-level image of real values (HU, or [0, 1]), row by row from the top:
/// `values[row * width + col]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Gray {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` values, top row first.
    pub values: Vec<f32>,
}

/// PNG bit depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Bits {
    /// 8 bits per pixel, 0..255.
    #[default]
    Eight,
    /// 16 bits per pixel, 0..65535.
    Sixteen,
}

impl Bits {
    /// 8 or 16.
    pub fn count(self) -> u8 {
        match self {
            Bits::Eight => 8,
            Bits::Sixteen => 16,
        }
    }

    /// White: 255 or 65535.
    pub fn max_value(self) -> u16 {
        match self {
            Bits::Eight => 255,
            Bits::Sixteen => 65535,
        }
    }

    /// The contact sheet's separator grey: 128 (8-bit) or 32896 = 128 * 257 (16-bit), the
    /// same grey at both depths.
    pub fn separator_value(self) -> u16 {
        match self {
            Bits::Eight => 128,
            Bits::Sixteen => 128 * 257,
        }
    }
}

impl fmt::Display for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.count())
    }
}

/// The error for a bit depth other than 8 or 16.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bit depth {0:?}: PNG output is 8 or 16 bits")]
pub struct ParseBitsError(pub String);

impl FromStr for Bits {
    type Err = ParseBitsError;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim() {
            "8" => Ok(Bits::Eight),
            "16" => Ok(Bits::Sixteen),
            _ => Err(ParseBitsError(s.to_owned())),
        }
    }
}

/// How real values become grey levels: an optional window, then the bit depth.
///
/// `level = round(max * (clamp(v, lo, hi) - lo) / (hi - lo))`, ties to even, NaN -> 0, with
/// `max` 255 or 65535 and `[lo, hi]` the window, [0, 1] without one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelMap {
    window: Option<Window>,
    pub(crate) bits: Bits,
    map: WindowMap,
}

impl Default for PixelMap {
    fn default() -> Self {
        PixelMap::new()
    }
}

impl PixelMap {
    /// The defaults: no window (values taken as already in [0, 1]), 8 bits.
    pub fn new() -> PixelMap {
        PixelMap::build(None, Bits::Eight)
    }

    fn build(window: Option<Window>, bits: Bits) -> PixelMap {
        let w = window.unwrap_or_else(|| Window::new(0.0, 1.0).expect("[0, 1] is a valid window"));
        let range = Range::new(0.0, f64::from(bits.max_value())).expect("a finite range");
        let map = WindowMap::new(w, range, None).expect("no scaling is always valid");
        PixelMap { window, bits, map }
    }

    /// The window `lo..hi` mapped to black..white (default: none, values in [0, 1]).
    pub fn window(self, window: Window) -> PixelMap {
        PixelMap::build(Some(window), self.bits)
    }

    /// The bit depth (default [`Bits::Eight`]).
    pub fn bits(self, bits: Bits) -> PixelMap {
        PixelMap::build(self.window, bits)
    }

    /// The window, if any.
    pub fn get_window(&self) -> Option<Window> {
        self.window
    }

    /// The bit depth.
    pub fn get_bits(&self) -> Bits {
        self.bits
    }

    /// The grey level of one value.
    #[inline]
    pub fn level(&self, v: f32) -> u16 {
        let y = self.map.apply_as(f64::from(v), true);
        match self.bits {
            Bits::Eight => u16::from(u8::from_mapped(y)),
            Bits::Sixteen => u16::from_mapped(y),
        }
    }

    /// The grey levels of an image.
    pub fn apply(&self, image: &Gray) -> Pixels {
        Pixels {
            width: image.width,
            height: image.height,
            bits: self.bits,
            values: image.values.iter().map(|&v| self.level(v)).collect(),
        }
    }
}

/// Grey levels ready for a PNG, row by row from the top: `values[row * width + col]`, each at
/// most `bits.max_value()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pixels {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// The bit depth the values use.
    pub bits: Bits,
    /// `width * height` grey levels, top row first.
    pub values: Vec<u16>,
}
