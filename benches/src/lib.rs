//! Helpers shared by the ctprep benchmarks: the standard phantom and output checks.
#![forbid(unsafe_code)]

use ctprep_io::Volume;
use ctprep_phantom::Phantom;

/// The benchmark CT: 512x512x300 int16, 0.78 x 0.78 x 2.5 mm, LPS, seed 1 (157,286,400 voxel bytes).
pub fn ct_phantom() -> Volume {
    Phantom::new([512, 512, 300])
        .spacing_mm([0.78, 0.78, 2.5])
        .axcodes("LPS".parse().expect("valid axis codes"))
        .seed(1)
        .ct()
        .expect("the benchmark phantom is valid")
}

/// A wrapping sum of every stored i16: touches every value, so lazy pages are counted.
pub fn checksum_i16(values: &[i16]) -> i64 {
    values.iter().map(|&v| i64::from(v)).sum()
}

/// A wrapping sum over bytes viewed as little-endian i16 (for the copy baseline).
pub fn checksum_i16_bytes(bytes: &[u8]) -> i64 {
    bytes.chunks_exact(2).map(|c| i64::from(i16::from_le_bytes([c[0], c[1]]))).sum()
}
