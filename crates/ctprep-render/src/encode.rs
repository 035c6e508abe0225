//! PNG encoding: grey, 8 or 16 bits, no ancillary chunks, fixed encoder settings, so equal
//! images give equal bytes.

use std::io::Write;
use std::path::Path;

use crate::error::{RenderError, Result, memory_path};
use crate::grey::{Bits, Pixels};

/// The PNG encoding of `image` (grey, 8 or 16 bits, no ancillary chunks): the bytes
/// [`write_png`] writes.
pub fn encode_png(image: &Pixels) -> Result<Vec<u8>> {
    encode_png_for(image, &memory_path())
}

fn encode_png_for(image: &Pixels, path: &Path) -> Result<Vec<u8>> {
    let (w, h) = checked_size(image.width, image.height, image.values.len(), path)?;
    let max = image.bits.max_value();
    if let Some(v) = image.values.iter().find(|&&v| v > max) {
        return Err(RenderError::invalid(path, format!("grey level {v} does not fit {} bits", image.bits)));
    }
    let (data, depth): (Vec<u8>, _) = match image.bits {
        Bits::Eight => (image.values.iter().map(|&v| v as u8).collect(), png::BitDepth::Eight),
        Bits::Sixteen => (image.values.iter().flat_map(|v| v.to_be_bytes()).collect(), png::BitDepth::Sixteen),
    };
    encode_samples(w, h, png::ColorType::Grayscale, depth, &data, path)
}

/// The PNG sides of a `width` x `height` image of `len` pixels, or why there is no such PNG.
pub(crate) fn checked_size(width: usize, height: usize, len: usize, path: &Path) -> Result<(u32, u32)> {
    // The PNG format limits each side to 2^31 - 1.
    let side = |n: usize| u32::try_from(n).ok().filter(|&v| v >= 1 && v <= i32::MAX as u32);
    let (Some(w), Some(h)) = (side(width), side(height)) else {
        return Err(RenderError::invalid(path, format!("a PNG cannot be {width} x {height} pixels")));
    };
    if width.checked_mul(height) != Some(len) {
        return Err(RenderError::invalid(path, format!("{len} values for a {width} x {height} image")));
    }
    Ok((w, h))
}

/// The PNG of `data` (rows of samples, top first): no ancillary chunks and settings fixed
/// rather than left to the crate's defaults, so equal images give equal bytes.
pub(crate) fn encode_samples(
    w: u32,
    h: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
    path: &Path,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let perr = |e: png::EncodingError| RenderError::invalid(path, format!("cannot encode the PNG: {e}"));
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(color);
    enc.set_depth(depth);
    enc.set_compression(png::Compression::Balanced);
    enc.set_filter(png::Filter::Adaptive);
    let mut writer = enc.write_header().map_err(perr)?;
    writer.write_image_data(data).map_err(perr)?;
    writer.finish().map_err(perr)?;
    Ok(out)
}

/// Writes `image` to `path` as a grey PNG of its bit depth, through a temporary file in the
/// same folder renamed when complete (nothing appears at `path` when encoding or writing fails).
pub fn write_png(path: impl AsRef<Path>, image: &Pixels) -> Result<()> {
    let path = path.as_ref();
    write_bytes(path, &encode_png_for(image, path)?)
}

/// Writes `bytes` to `path` through a temporary file renamed when complete.
pub(crate) fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    ctprep_io::write_atomically(path, |mut file| {
        file.write_all(bytes).map_err(|e| RenderError::io(path, "write", e))?;
        file.flush().map_err(|e| RenderError::io(path, "write", e))
    })
}
