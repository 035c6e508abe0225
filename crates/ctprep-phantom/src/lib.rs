//! Deterministic synthetic CT phantoms in Hounsfield units (HU), for tests, benchmarks, the
//! xtask and the demo.
//!
//! The phantom is a torso in air: a body ellipse of soft tissue with a fat layer, two lungs in
//! the upper half, a liver on the patient's **right** below them, an aorta on the **left**, a
//! vertebra **posterior**, ribs, and a little deterministic noise. It is asymmetric on purpose:
//! any flip or axis swap shows. Anatomy is defined in world RAS+ coordinates, normalised to
//! the field of view, so a phantom stored in any axis codes holds the same world content,
//! voxel for voxel (noise included).
//!
//! ```
//! use ctprep_phantom::{Phantom, StoredType};
//!
//! let p = Phantom::new([64, 64, 24]).spacing_mm([0.78, 0.78, 2.5]).axcodes("LPS".parse()?).seed(1);
//! let ct = p.ct()?;
//! assert_eq!(ct.axcodes_string(), "LPS");
//! let s = ct.stats();
//! assert!(s.min.unwrap() <= -1000.0 && s.max.unwrap() >= 1000.0);
//!
//! let u16_ct = p.stored(StoredType::U16).ct()?; // stored + 1024, scl_inter = -1024
//! assert_eq!(u16_ct.scaled_f32(), ct.scaled_f32());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

use ctprep_core::Affine;
use ctprep_io::{AxCodes, Volume, VoxelData};

/// HU of the tissues.
pub mod dicom;

pub mod hu {
    /// Air outside the body (and the clamp floor of CT).
    pub const AIR: f64 = -1024.0;
    /// Subcutaneous fat.
    pub const FAT: f64 = -100.0;
    /// Muscle and other soft tissue.
    pub const SOFT_TISSUE: f64 = 40.0;
    /// Aerated lung.
    pub const LUNG: f64 = -850.0;
    /// Liver parenchyma.
    pub const LIVER: f64 = 60.0;
    /// Contrast-filled aorta.
    pub const AORTA: f64 = 250.0;
    /// Cancellous bone of the vertebral body.
    pub const CANCELLOUS_BONE: f64 = 400.0;
    /// Cortical bone (vertebral rim, ribs).
    pub const CORTICAL_BONE: f64 = 1500.0;
}

/// Label values of [`Phantom::labels`].
pub mod label {
    /// Outside the body.
    pub const BACKGROUND: u8 = 0;
    /// Soft tissue.
    pub const SOFT_TISSUE: u8 = 1;
    /// Subcutaneous fat.
    pub const FAT: u8 = 2;
    /// The right lung (patient's right, +x in RAS).
    pub const LUNG_RIGHT: u8 = 3;
    /// The left lung.
    pub const LUNG_LEFT: u8 = 4;
    /// The liver (patient's right).
    pub const LIVER: u8 = 5;
    /// The vertebra (posterior).
    pub const SPINE: u8 = 6;
    /// Ribs.
    pub const RIBS: u8 = 7;
    /// The aorta (patient's left of the spine).
    pub const AORTA: u8 = 8;
}

/// How the HU values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum StoredType {
    /// int16 HU, no scaling (the usual CT storage).
    #[default]
    I16,
    /// uint16 of HU + 1024 with `scl_inter = -1024` (as many scanners export).
    U16,
}

/// A phantom description: shape, spacing and axis codes of the stored volume, stored type,
/// noise and seed. Every setter's default is in its doc.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phantom {
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    axcodes: AxCodes,
    stored: StoredType,
    noise_hu: f64,
    seed: u64,
}

impl Phantom {
    /// A phantom of `shape` voxels (in storage order). Defaults: 1 mm isotropic, RAS, int16,
    /// noise 10 HU, seed 0.
    pub fn new(shape: [usize; 3]) -> Phantom {
        Phantom { shape, spacing_mm: [1.0; 3], axcodes: AxCodes::RAS, stored: StoredType::I16, noise_hu: 10.0, seed: 0 }
    }

    /// Voxel spacing in mm per stored axis (default 1, 1, 1).
    pub fn spacing_mm(mut self, spacing_mm: [f64; 3]) -> Phantom {
        self.spacing_mm = spacing_mm;
        self
    }

    /// Axis codes of the stored volume (default RAS).
    pub fn axcodes(mut self, axcodes: AxCodes) -> Phantom {
        self.axcodes = axcodes;
        self
    }

    /// Stored type (default [`StoredType::I16`]).
    pub fn stored(mut self, stored: StoredType) -> Phantom {
        self.stored = stored;
        self
    }

    /// Amplitude of the uniform noise in HU (default 10; 0 for none).
    pub fn noise_hu(mut self, noise_hu: f64) -> Phantom {
        self.noise_hu = noise_hu;
        self
    }

    /// Noise seed (default 0).
    pub fn seed(mut self, seed: u64) -> Phantom {
        self.seed = seed;
        self
    }

    fn check(&self) -> Result<(), ctprep_io::Error> {
        let bad = |m: String| Err(ctprep_io::Error::new(ctprep_io::ErrorKind::InvalidRequest, "<phantom>", m));
        if self.shape.contains(&0) {
            return bad(format!("shape {:?}: every size must be at least 1", self.shape));
        }
        if self.spacing_mm.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return bad(format!("spacing {:?} mm: must be positive and finite", self.spacing_mm));
        }
        if !self.noise_hu.is_finite() || self.noise_hu < 0.0 {
            return bad(format!("noise {} HU: must be finite and non-negative", self.noise_hu));
        }
        // A phantom is made whole in memory: within the limits of a volume ctprep would read.
        if let Err(why) = ctprep_io::Limits::default().check(&self.shape, ctprep_io::DataType::F32) {
            return Err(ctprep_io::Error::new(ctprep_io::ErrorKind::TooLarge, "<phantom>", why));
        }
        Ok(())
    }

    /// Shape, spacing and affine of the same phantom stored RAS (world axis order).
    fn ras_grid(&self) -> ([usize; 3], Affine) {
        let mut shape = [0; 3];
        let mut spacing = [0.0; 3];
        for (k, d) in self.axcodes.dirs().iter().enumerate() {
            shape[d.axis] = self.shape[k];
            spacing[d.axis] = self.spacing_mm[k];
        }
        // The volume centre sits at the world origin.
        let origin: [f64; 3] = std::array::from_fn(|a| -(shape[a] as f64 - 1.0) / 2.0 * spacing[a]);
        (shape, Affine::from_spacing_origin(spacing, origin))
    }

    /// Fills a RAS-ordered buffer by evaluating `f` on normalised coordinates (each in
    /// [-1, 1] across the field of view), then reorients it to the requested axis codes.
    fn build<T: ctprep_io::Element>(&self, f: impl Fn(Tissue, usize) -> T) -> Result<Volume, ctprep_io::Error> {
        self.check()?;
        let (shape, affine) = self.ras_grid();
        let norm = |i: usize, n: usize| {
            if n > 1 { 2.0 * i as f64 / (n - 1) as f64 - 1.0 } else { 0.0 }
        };
        let mut out = Vec::with_capacity(shape.iter().product());
        for k in 0..shape[2] {
            let z = norm(k, shape[2]);
            for j in 0..shape[1] {
                let y = norm(j, shape[1]);
                for i in 0..shape[0] {
                    let x = norm(i, shape[0]);
                    out.push(f(tissue([x, y, z]), out.len()));
                }
            }
        }
        let ras = Volume::new(VoxelData::from_vec(out), &shape, affine)?;
        ras.to_axcodes(self.axcodes)
    }

    /// The CT volume in HU, stored as [`StoredType`] says.
    pub fn ct(&self) -> Result<Volume, ctprep_io::Error> {
        let noise = |index: usize| -> f64 {
            if self.noise_hu == 0.0 {
                return 0.0;
            }
            let h = splitmix64(self.seed ^ splitmix64(index as u64));
            // 53 random bits to [-1, 1).
            ((h >> 11) as f64 / (1u64 << 52) as f64 - 1.0) * self.noise_hu
        };
        let value = |t: Tissue, index: usize| (t.hu() + noise(index)).round().clamp(hu::AIR, 3071.0);
        match self.stored {
            StoredType::I16 => self.build(|t, i| value(t, i) as i16),
            StoredType::U16 => self.build(|t, i| (value(t, i) - hu::AIR) as u16)?.with_scaling(1.0, hu::AIR),
        }
    }

    /// The matching label map (uint8, values in [`label`]) on the same grid.
    pub fn labels(&self) -> Result<Volume, ctprep_io::Error> {
        self.build(|t, _| t.label())
    }
}

/// The tissue at a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tissue {
    Air,
    Fat,
    Soft,
    LungRight,
    LungLeft,
    Liver,
    Aorta,
    SpineCancellous,
    SpineCortical,
    Rib,
}

impl Tissue {
    fn hu(self) -> f64 {
        match self {
            Tissue::Air => hu::AIR,
            Tissue::Fat => hu::FAT,
            Tissue::Soft => hu::SOFT_TISSUE,
            Tissue::LungRight | Tissue::LungLeft => hu::LUNG,
            Tissue::Liver => hu::LIVER,
            Tissue::Aorta => hu::AORTA,
            Tissue::SpineCancellous => hu::CANCELLOUS_BONE,
            Tissue::SpineCortical | Tissue::Rib => hu::CORTICAL_BONE,
        }
    }

    fn label(self) -> u8 {
        match self {
            Tissue::Air => label::BACKGROUND,
            Tissue::Fat => label::FAT,
            Tissue::Soft => label::SOFT_TISSUE,
            Tissue::LungRight => label::LUNG_RIGHT,
            Tissue::LungLeft => label::LUNG_LEFT,
            Tissue::Liver => label::LIVER,
            Tissue::Aorta => label::AORTA,
            Tissue::SpineCancellous | Tissue::SpineCortical => label::SPINE,
            Tissue::Rib => label::RIBS,
        }
    }
}

/// `(x/a)^2 + (y/b)^2` for an ellipse centred at (cx, cy).
fn ellipse(x: f64, y: f64, cx: f64, cy: f64, a: f64, b: f64) -> f64 {
    let (u, v) = ((x - cx) / a, (y - cy) / b);
    u * u + v * v
}

/// The anatomy, in normalised RAS coordinates: x toward the patient's right, y anterior,
/// z superior, each in [-1, 1] over the field of view.
fn tissue([x, y, z]: [f64; 3]) -> Tissue {
    let body = ellipse(x, y, 0.0, 0.0, 0.85, 0.62);
    if body > 1.0 {
        return Tissue::Air;
    }
    // Spine: posterior (negative y), the whole height.
    let vertebra = ellipse(x, y, 0.0, -0.36, 0.11, 0.1);
    if vertebra <= 1.0 {
        return if vertebra > 0.6 { Tissue::SpineCortical } else { Tissue::SpineCancellous };
    }
    if ellipse(x, y, 0.0, -0.5, 0.03, 0.07) <= 1.0 {
        return Tissue::SpineCortical;
    }
    // Aorta: anterior-left of the spine (negative x is the patient's left).
    if ellipse(x, y, -0.1, -0.2, 0.06, 0.06) <= 1.0 {
        return Tissue::Aorta;
    }
    let thorax = z > -0.15;
    // Ribs: a thin ring inside the body wall, every 0.16 in z within the thorax.
    let ring = ellipse(x, y, 0.0, 0.0, 0.74, 0.53);
    if thorax && (0.93..=1.0).contains(&ring) && (z + 0.15).rem_euclid(0.16) < 0.05 {
        return Tissue::Rib;
    }
    if ellipse(x, y, 0.0, 0.0, 0.78, 0.56) > 1.0 {
        return Tissue::Fat;
    }
    if thorax && z < 0.92 {
        if ellipse(x, y, 0.34, 0.04, 0.26, 0.36) <= 1.0 {
            return Tissue::LungRight;
        }
        if ellipse(x, y, -0.36, 0.04, 0.24, 0.34) <= 1.0 {
            return Tissue::LungLeft;
        }
    }
    // Liver: the patient's right, below the lungs.
    if (-0.75..=-0.1).contains(&z) && ellipse(x, y, 0.32, 0.02, 0.34, 0.38) <= 1.0 {
        return Tissue::Liver;
    }
    Tissue::Soft
}

/// SplitMix64: a fast, well-mixed hash for deterministic noise.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hu_at_world(v: &Volume, p: [f64; 3]) -> f64 {
        let inv = v.affine().inverse().expect("invertible");
        let idx = inv.apply(p).map(|c| c.round() as usize);
        let s = v.spatial_shape();
        v.scaled_f32()[idx[0] + s[0] * (idx[1] + s[1] * idx[2])] as f64
    }

    #[test]
    fn same_world_content_in_every_orientation() {
        let base = Phantom::new([40, 32, 20]).spacing_mm([1.0, 1.25, 2.0]).seed(3);
        let ras = base.ct().expect("phantom");
        for codes in ["LPS", "PIR", "ASL"] {
            let c: AxCodes = codes.parse().expect("codes");
            // The same anatomy stored another way: shape and spacing follow the stored axes.
            let mut shape = [0; 3];
            let mut sp = [0.0; 3];
            for (k, d) in c.dirs().iter().enumerate() {
                shape[k] = [40, 32, 20][d.axis];
                sp[k] = [1.0, 1.25, 2.0][d.axis];
            }
            let v = base.axcodes(c).spacing_mm(sp);
            let v = Phantom { shape, ..v }.ct().expect("phantom");
            assert_eq!(v.axcodes_string(), codes);
            let back = v.to_closest_canonical().expect("oriented");
            assert_eq!(back.data().as_bytes(), ras.data().as_bytes(), "{codes}");
            assert!(back.affine().max_abs_diff(ras.affine()) < 1e-9);
        }
    }

    #[test]
    fn anatomy_is_where_it_should_be() {
        let v = Phantom::new([96, 96, 40]).axcodes("LPS".parse().expect("codes")).noise_hu(0.0).ct().expect("phantom");
        // World RAS: +x patient's right, -y posterior. Field of view is 95 mm in x/y, 39 in z.
        assert_eq!(hu_at_world(&v, [0.0, -17.0, 0.0]), hu::CANCELLOUS_BONE); // spine, posterior
        assert_eq!(hu_at_world(&v, [15.5, 0.0, 10.0]), hu::LUNG); // right lung, superior
        assert_eq!(hu_at_world(&v, [15.5, 0.0, -8.0]), hu::LIVER); // liver, right, inferior
        assert_eq!(hu_at_world(&v, [-15.5, 0.0, -8.0]), hu::SOFT_TISSUE); // no liver on the left
        assert_eq!(hu_at_world(&v, [-4.75, -9.5, 0.0]), hu::AORTA); // aorta, left of midline
        assert_eq!(hu_at_world(&v, [0.0, 40.0, 0.0]), hu::AIR); // in front of the body
        let l = Phantom::new([96, 96, 40]).labels().expect("labels");
        assert_eq!(l.dtype(), ctprep_io::DataType::U8);
        assert_eq!(hu_at_world(&l, [15.5, 0.0, -8.0]), f64::from(label::LIVER));
    }

    #[test]
    fn deterministic_and_seeded() {
        let a = Phantom::new([16, 16, 8]).seed(1).ct().expect("phantom");
        let b = Phantom::new([16, 16, 8]).seed(1).ct().expect("phantom");
        let c = Phantom::new([16, 16, 8]).seed(2).ct().expect("phantom");
        assert_eq!(a.data().as_bytes(), b.data().as_bytes());
        assert_ne!(a.data().as_bytes(), c.data().as_bytes());
        assert!(Phantom::new([0, 4, 4]).ct().is_err());
        assert!(Phantom::new([4, 4, 4]).spacing_mm([1.0, -1.0, 1.0]).ct().is_err());
    }
}

/// The examples of this crate's README.md, compiled as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
