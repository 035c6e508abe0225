//! Axis codes and reorientation, as nibabel's `io_orientation`, `aff2axcodes`,
//! `ornt_transform`, `apply_orientation` and `inv_ornt_aff` define them.
//!
//! An *orientation* says, for each voxel axis, which world axis it follows most closely
//! (0 = x, left-right; 1 = y, posterior-anterior; 2 = z, inferior-superior) and whether the
//! index increases toward R/A/S (+1) or L/P/I (-1).

use std::fmt;
use std::str::FromStr;

use ctprep_core::{Affine, polar_rotation};

/// One voxel axis's orientation: world axis and direction (+1 toward R/A/S, -1 toward L/P/I).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AxisDir {
    /// The world axis: 0 = x (L-R), 1 = y (P-A), 2 = z (I-S).
    pub axis: usize,
    /// +1 or -1.
    pub sign: i8,
}

const LABELS: [[char; 2]; 3] = [['L', 'R'], ['P', 'A'], ['I', 'S']];

impl AxisDir {
    /// The letter this direction points toward (`R`, `L`, `A`, `P`, `S`, `I`).
    pub fn letter(self) -> char {
        LABELS[self.axis][usize::from(self.sign > 0)]
    }

    fn from_letter(c: char) -> Option<AxisDir> {
        let c = c.to_ascii_uppercase();
        LABELS.iter().enumerate().find_map(|(axis, pair)| {
            pair.iter().position(|&l| l == c).map(|i| AxisDir { axis, sign: if i == 1 { 1 } else { -1 } })
        })
    }
}

/// nibabel's `io_orientation(affine)`: per voxel axis, the closest world axis and direction,
/// or `None` for an axis whose column is (numerically) zero.
///
/// The shear-free rotation closest to the affine's direction matrix is found by polar
/// decomposition; then axes are assigned greedily in voxel-axis order, each taking the world
/// axis of largest absolute component not yet taken, so ties resolve exactly as nibabel's.
pub fn io_orientation(affine: &Affine) -> [Option<AxisDir>; 3] {
    let l = affine.linear();
    let zooms = affine.spacing();
    let mut rs = l;
    for row in rs.iter_mut() {
        for (c, v) in row.iter_mut().enumerate() {
            if zooms[c] != 0.0 {
                *v /= zooms[c];
            }
        }
    }
    let mut r = polar_rotation(rs, None);
    let mut out = [None; 3];
    for (in_ax, o) in out.iter_mut().enumerate() {
        let col = [r[0][in_ax], r[1][in_ax], r[2][in_ax]];
        // numpy's allclose(col, 0): |v| <= 1e-8 for every entry.
        if col.iter().all(|v| v.abs() <= 1e-8) {
            continue;
        }
        let mut best = 0;
        for k in 1..3 {
            if col[k].abs() > col[best].abs() {
                best = k;
            }
        }
        *o = Some(AxisDir { axis: best, sign: if col[best] < 0.0 { -1 } else { 1 } });
        r[best] = [0.0; 3];
    }
    out
}

/// Three axis-code letters, one per voxel axis, naming the direction each index increases
/// toward: `RAS`, `LPS`, `PIR`... (nibabel's `aff2axcodes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AxCodes([AxisDir; 3]);

impl AxCodes {
    /// Right, anterior, superior: NIfTI's canonical orientation.
    pub const RAS: AxCodes =
        AxCodes([AxisDir { axis: 0, sign: 1 }, AxisDir { axis: 1, sign: 1 }, AxisDir { axis: 2, sign: 1 }]);

    /// The codes of an affine, or `None` when an axis is degenerate.
    pub fn of_affine(affine: &Affine) -> Option<AxCodes> {
        let o = io_orientation(affine);
        Some(AxCodes([o[0]?, o[1]?, o[2]?]))
    }

    /// The per-axis directions.
    pub fn dirs(&self) -> [AxisDir; 3] {
        self.0
    }
}

impl fmt::Display for AxCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.0 {
            write!(f, "{}", d.letter())?;
        }
        Ok(())
    }
}

/// The error for a string that is not three axis letters naming three different axes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid axis codes {0:?}: expected three letters, one from each of L/R, P/A, I/S (e.g. RAS, LPS, PIR)")]
pub struct ParseAxCodesError(pub String);

impl FromStr for AxCodes {
    type Err = ParseAxCodesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseAxCodesError(s.to_owned());
        let dirs: Vec<AxisDir> = s.chars().map(AxisDir::from_letter).collect::<Option<_>>().ok_or_else(err)?;
        let [a, b, c] = <[AxisDir; 3]>::try_from(dirs).map_err(|_| err())?;
        if a.axis == b.axis || a.axis == c.axis || b.axis == c.axis {
            return Err(err());
        }
        Ok(AxCodes([a, b, c]))
    }
}

/// `aff2axcodes` as a string, `?` for a degenerate axis (what `ctprep info` prints).
pub fn axcodes_string(affine: &Affine) -> String {
    io_orientation(affine).iter().map(|d| d.map_or('?', AxisDir::letter)).collect()
}

/// A flip-and-permute of the three spatial axes: input axis `k` becomes output axis
/// `to[k].axis`, reversed when `to[k].sign` is -1 (nibabel's `ornt` array, the argument of
/// `apply_orientation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reorientation {
    /// Per input axis: the output axis it becomes and whether it is reversed.
    pub to: [AxisDir; 3],
}

impl Reorientation {
    /// The transform that leaves the data as it is.
    pub const IDENTITY: Reorientation = Reorientation { to: AxCodes::RAS.0 };

    /// nibabel's `ornt_transform(start, end)`: the transform taking data in orientation
    /// `start` to orientation `end`.
    pub fn between(start: AxCodes, end: AxCodes) -> Reorientation {
        let mut to = [AxisDir { axis: 0, sign: 1 }; 3];
        for (end_in, e) in end.0.iter().enumerate() {
            for (start_in, s) in start.0.iter().enumerate() {
                if e.axis == s.axis {
                    to[start_in] = AxisDir { axis: end_in, sign: if s.sign == e.sign { 1 } else { -1 } };
                }
            }
        }
        Reorientation { to }
    }

    /// Whether the transform changes nothing.
    pub fn is_identity(&self) -> bool {
        *self == Reorientation::IDENTITY
    }

    /// The output shape for an input of shape `shape`.
    pub fn output_shape(&self, shape: [usize; 3]) -> [usize; 3] {
        let mut out = [0; 3];
        for k in 0..3 {
            out[self.to[k].axis] = shape[k];
        }
        out
    }

    /// nibabel's `inv_ornt_aff(ornt, shape)`: maps an output voxel index to the input voxel
    /// index it came from. The reoriented affine is `affine * inverse_index_map(shape)`.
    pub fn inverse_index_map(&self, shape: [usize; 3]) -> Affine {
        let mut rows = [[0.0; 4]; 4];
        rows[3][3] = 1.0;
        for (k, row) in rows.iter_mut().take(3).enumerate() {
            let d = self.to[k];
            row[d.axis] = f64::from(d.sign);
            row[3] = if d.sign < 0 { shape[k] as f64 - 1.0 } else { 0.0 };
        }
        Affine::from_rows(rows)
    }

    /// Applies the transform to one x-fastest volume of shape `shape`, writing x-fastest output
    /// into `out` (same length).
    pub fn apply_into<T: Copy>(&self, src: &[T], shape: [usize; 3], out: &mut [T]) {
        let n = shape[0] * shape[1] * shape[2];
        assert_eq!(src.len(), n, "source length does not match its shape");
        assert_eq!(out.len(), n, "output length does not match the source");
        if n == 0 {
            return;
        }
        let in_stride = [1isize, shape[0] as isize, (shape[0] * shape[1]) as isize];
        let out_shape = self.output_shape(shape);
        // For each output axis: the input stride one output step moves by.
        let mut step = [0isize; 3];
        let mut start = 0isize;
        for k in 0..3 {
            let d = self.to[k];
            step[d.axis] = in_stride[k] * isize::from(d.sign);
            if d.sign < 0 {
                start += (shape[k] as isize - 1) * in_stride[k];
            }
        }
        let mut o = 0usize;
        for z in 0..out_shape[2] {
            for y in 0..out_shape[1] {
                let row = start + z as isize * step[2] + y as isize * step[1];
                let dst = &mut out[o..o + out_shape[0]];
                match step[0] {
                    1 => dst.copy_from_slice(&src[row as usize..row as usize + out_shape[0]]),
                    -1 => {
                        let lo = row as usize + 1 - out_shape[0];
                        dst.copy_from_slice(&src[lo..=row as usize]);
                        dst.reverse();
                    }
                    s => {
                        for (x, d) in dst.iter_mut().enumerate() {
                            *d = src[(row + x as isize * s) as usize];
                        }
                    }
                }
                o += out_shape[0];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_codes() {
        for s in ["RAS", "LPS", "PIR", "ASL", "IRP"] {
            assert_eq!(s.parse::<AxCodes>().map(|c| c.to_string()), Ok(s.to_owned()));
        }
        assert_eq!("lps".parse::<AxCodes>().map(|c| c.to_string()), Ok("LPS".to_owned()));
        for bad in ["RAX", "RRS", "RA", "RASL", "LRS", ""] {
            assert!(bad.parse::<AxCodes>().is_err(), "{bad}");
        }
    }

    #[test]
    fn axcodes_of_lps_affine() {
        let a = Affine::from_spacing_origin([-0.78, -0.78, 2.5], [0.0; 3]);
        assert_eq!(axcodes_string(&a), "LPS");
        let pir = Affine::from_rows([
            [0.0, 0.0, 1.0, 0.0],
            [-1.0, 0.0, 0.0, 0.0],
            [0.0, -1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]);
        assert_eq!(axcodes_string(&pir), "PIR");
        let mut pil = pir;
        pil.0[0][2] = -1.0;
        assert_eq!(axcodes_string(&pil), "PIL");
        let flat = Affine::from_spacing_origin([1.0, 1.0, 0.0], [0.0; 3]);
        assert_eq!(axcodes_string(&flat), "RA?");
    }

    #[test]
    fn reorientation_keeps_world_positions() {
        // A 3x4x5 PIR volume whose value is its linear index; reorient to RAS and check that
        // every voxel's world position (through the new affine) holds the same value.
        let shape = [3, 4, 5];
        let a = Affine::from_rows([
            [0.0, 0.0, 2.0, 7.0],
            [-1.5, 0.0, 0.0, 3.0],
            [0.0, -0.5, 0.0, -1.0],
            [0.0, 0.0, 0.0, 1.0],
        ]);
        let codes = AxCodes::of_affine(&a).expect("oriented");
        assert_eq!(codes.to_string(), "PIR");
        let t = Reorientation::between(codes, AxCodes::RAS);
        let src: Vec<usize> = (0..60).collect();
        let mut out = vec![0; 60];
        t.apply_into(&src, shape, &mut out);
        let os = t.output_shape(shape);
        let new_aff = a.matmul(&t.inverse_index_map(shape));
        assert_eq!(axcodes_string(&new_aff), "RAS");
        let inv = a.inverse().expect("invertible");
        for z in 0..os[2] {
            for y in 0..os[1] {
                for x in 0..os[0] {
                    let w = new_aff.apply([x as f64, y as f64, z as f64]);
                    let i = inv.apply(w).map(|v| v.round() as usize);
                    let v = out[x + os[0] * (y + os[1] * z)];
                    assert_eq!(v, i[0] + shape[0] * (i[1] + shape[1] * i[2]));
                }
            }
        }
    }
}
