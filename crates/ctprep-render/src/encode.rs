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
    let bad = |m: String| Err(RenderError::invalid(path, m));
    // The PNG format limits each side to 2^31 - 1.
    let side = |n: usize| u32::try_from(n).ok().filter(|&v| v >= 1 && v <= i32::MAX as u32);
    let (Some(w), Some(h)) = (side(image.width), side(image.height)) else {
        return bad(format!("a PNG cannot be {} x {} pixels", image.width, image.height));
    };
    if image.width.checked_mul(image.height) != Some(image.values.len()) {
        return bad(format!("{} values for a {} x {} image", image.values.len(), image.width, image.height));
    }
    let max = image.bits.max_value();
    if let Some(v) = image.values.iter().find(|&&v| v > max) {
        return bad(format!("grey level {v} does not fit {} bits", image.bits));
    }
    let data: Vec<u8> = match image.bits {
        Bits::Eight => image.values.iter().map(|&v| v as u8).collect(),
        Bits::Sixteen => image.values.iter().flat_map(|v| v.to_be_bytes()).collect(),
    };
    let mut out = Vec::new();
    let perr = |e: png::EncodingError| RenderError::invalid(path, format!("cannot encode the PNG: {e}"));
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(match image.bits {
        Bits::Eight => png::BitDepth::Eight,
        Bits::Sixteen => png::BitDepth::Sixteen,
    });
    // Fixed rather than left to the crate's defaults, so the bytes do not change with them.
    enc.set_compression(png::Compression::Balanced);
    enc.set_filter(png::Filter::Adaptive);
    let mut writer = enc.write_header().map_err(perr)?;
    writer.write_image_data(&data).map_err(perr)?;
    writer.finish().map_err(perr)?;
    Ok(out)
}

/// Writes `image` to `path` as a grey PNG of its bit depth, through a temporary file in the
/// same folder renamed when complete (nothing appears at `path` when encoding or writing fails).
pub fn write_png(path: impl AsRef<Path>, image: &Pixels) -> Result<()> {
    let path = path.as_ref();
    let bytes = encode_png_for(image, path)?;
    ctprep_io::write_atomically(path, |mut file| {
        file.write_all(&bytes).map_err(|e| RenderError::io(path, "write", e))?;
        file.flush().map_err(|e| RenderError::io(path, "write", e))
    })
}
