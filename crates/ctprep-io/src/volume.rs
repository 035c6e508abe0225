//! [`Volume`]: stored voxel values with their shape, affine, scaling and the header they came
//! from; the operations that keep all of those consistent (reorientation, type conversion).

use std::path::{Path, PathBuf};

use ctprep_core::Affine;
use ndarray::{ArrayView3, ShapeBuilder};

use crate::data::{Storage, VoxelData};
use crate::datatype::{DataType, Element};
use crate::error::{Error, ErrorKind, Result};
use crate::header::NiftiHeader;
use crate::orientation::{AxCodes, Reorientation, axcodes_string};
use crate::with_storage;
use crate::xform::AffineSource;

/// `real = slope * stored + inter`: how stored values become real values (Hounsfield units).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scaling {
    /// `scl_slope`: finite and non-zero.
    pub slope: f64,
    /// `scl_inter`: finite.
    pub inter: f64,
}

impl Scaling {
    /// The scaling nibabel applies for header values `scl_slope`, `scl_inter`: `Ok(None)` (no
    /// scaling) when the slope is 0 or not finite, whatever the intercept, or when the pair is
    /// the identity (1, 0); an error message when the slope is valid and the intercept is not.
    pub fn from_header(slope: f64, inter: f64) -> Result<Option<Scaling>, String> {
        if slope == 0.0 || !slope.is_finite() {
            return Ok(None);
        }
        if !inter.is_finite() {
            return Err(format!(
                "scl_slope = {slope} is valid but scl_inter = {inter} is not (nibabel refuses this too)"
            ));
        }
        if slope == 1.0 && inter == 0.0 {
            return Ok(None);
        }
        Ok(Some(Scaling { slope, inter }))
    }

    /// Whether the scaling changes nothing.
    pub fn is_identity(&self) -> bool {
        self.slope == 1.0 && self.inter == 0.0
    }

    /// The real value of stored value `v`: `v * slope + inter` in `f64`, as nibabel scales.
    #[inline]
    pub fn apply(&self, v: f64) -> f64 {
        v * self.slope + self.inter
    }
}

/// A NIfTI header extension, kept as raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// `ecode` (for example 6 = comment, 4 = AFNI).
    pub code: i32,
    /// The content, without the 8-byte esize/ecode prefix (padding included).
    pub data: Vec<u8>,
}

/// Summary statistics of the real (scaled) values, NaN ignored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Smallest value, `None` when every value is NaN.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Mean of the non-NaN values.
    pub mean: Option<f64>,
    /// How many values are NaN.
    pub nan_count: usize,
}

/// What a type conversion did to the values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conversion {
    /// The largest |converted - real| over all voxels (0 when exact).
    pub max_abs_change: f64,
}

/// A volume: voxel values in their stored type, x-fastest, with shape, affine and scaling.
///
/// Indexing is `[x, y, z]` like nibabel; memory is x-fastest (Fortran order), the NIfTI byte
/// order on disk, so reading is a copy (or a memory map) and never a transpose.
#[derive(Clone, Debug)]
pub struct Volume {
    pub(crate) header: NiftiHeader,
    pub(crate) shape: Vec<usize>,
    pub(crate) data: VoxelData,
    pub(crate) affine: Affine,
    pub(crate) affine_source: AffineSource,
    pub(crate) scaling: Option<Scaling>,
    pub(crate) extensions: Vec<Extension>,
    pub(crate) path: Option<PathBuf>,
    /// The NRRD header the volume was read from, kept so that it is written back.
    pub(crate) nrrd: Option<Box<crate::nrrd::NrrdHeader>>,
}

fn memory_path() -> PathBuf {
    PathBuf::from("<in-memory volume>")
}

impl Volume {
    /// A new volume from values, shape (1 to 7 dimensions) and affine.
    ///
    /// The header is fresh: qform and sform codes 1 (scanner), units mm and s, no scaling.
    pub fn new(data: VoxelData, shape: &[usize], affine: Affine) -> Result<Volume> {
        let p = memory_path();
        if shape.is_empty() || shape.len() > 7 || shape.contains(&0) {
            return Err(Error::new(ErrorKind::BadDim, p, format!("shape {shape:?}: need 1 to 7 non-zero sizes")));
        }
        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if n != Some(data.len()) {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                p,
                format!("shape {shape:?} does not match the {} values given", data.len()),
            ));
        }
        if !affine.is_affine() {
            return Err(Error::new(ErrorKind::InvalidRequest, p, format!("affine {affine:?} is not a finite affine")));
        }
        let header = NiftiHeader { qform_code: 1, sform_code: 1, ..NiftiHeader::default() };
        Ok(Volume {
            header,
            shape: shape.to_vec(),
            data,
            affine,
            affine_source: AffineSource::Given,
            scaling: None,
            extensions: Vec::new(),
            path: None,
            nrrd: None,
        })
    }

    /// The same volume with stored values scaled by `slope`, `inter` (for example u16 with
    /// inter -1024 for CT). The slope must be finite and non-zero, the intercept finite;
    /// (1, 0) means no scaling.
    pub fn with_scaling(mut self, slope: f64, inter: f64) -> Result<Volume> {
        match Scaling::from_header(slope, inter) {
            Ok(s) if slope.is_finite() && slope != 0.0 => {
                self.scaling = s;
                Ok(self)
            }
            Ok(_) => {
                Err(self.error(ErrorKind::InvalidScaling, format!("scl_slope = {slope}: must be finite and non-zero")))
            }
            Err(m) => Err(self.error(ErrorKind::InvalidScaling, m)),
        }
    }

    /// The same volume (shape, affine, header fields, extensions) holding other values, unscaled:
    /// for stages that transform values voxel by voxel. `cal_min`/`cal_max` are reset (they
    /// described the old values).
    pub fn with_data(&self, data: VoxelData) -> Result<Volume> {
        if data.len() != self.data.len() {
            return Err(self.error(
                ErrorKind::InvalidRequest,
                format!("{} new values for a volume of {} voxels", data.len(), self.data.len()),
            ));
        }
        let mut header = self.header.clone();
        header.cal_min = 0.0;
        header.cal_max = 0.0;
        Ok(Volume {
            header,
            shape: self.shape.clone(),
            data,
            affine: self.affine,
            affine_source: self.affine_source,
            scaling: None,
            extensions: self.extensions.clone(),
            path: self.path.clone(),
            nrrd: self.nrrd.clone(),
        })
    }

    /// A volume on another grid (new values, shape and affine) that keeps this one's header
    /// fields, codes and extensions: for stages that resample or project. Unscaled.
    pub fn derived(&self, data: VoxelData, shape: &[usize], affine: Affine) -> Result<Volume> {
        let fresh = Volume::new(data, shape, affine).map_err(|e| self.error(e.kind(), e.message()))?;
        let mut header = self.header.clone();
        header.cal_min = 0.0;
        header.cal_max = 0.0;
        Ok(Volume {
            header,
            extensions: self.extensions.clone(),
            path: self.path.clone(),
            nrrd: self.nrrd.clone(),
            ..fresh
        })
    }

    /// The same volume with a new affine (for example after resampling).
    pub fn with_affine(mut self, affine: Affine) -> Result<Volume> {
        if !affine.is_affine() {
            return Err(self.error(ErrorKind::InvalidRequest, format!("affine {affine:?} is not a finite affine")));
        }
        self.affine = affine;
        self.affine_source = AffineSource::Given;
        Ok(self)
    }

    /// The same volume named after `path` (the file or folder it was read from: errors and
    /// reports name it), for volumes read by other crates (a DICOM series).
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Volume {
        self.path = Some(path.into());
        self
    }

    /// The file this volume was read from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The name used in error messages: the file, or `<in-memory volume>`.
    pub fn display_path(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(memory_path)
    }

    pub(crate) fn error(&self, kind: ErrorKind, message: impl Into<String>) -> Error {
        Error::new(kind, self.display_path(), message)
    }

    /// The NRRD header this volume was read from (its fields and key/value pairs are written back
    /// to an NRRD output), `None` for a NIfTI or new volume.
    pub fn nrrd_header(&self) -> Option<&crate::nrrd::NrrdHeader> {
        self.nrrd.as_deref()
    }

    /// The file format the volume was read from: `"nifti1"`, `"nifti2"` or `"nrrd"` (a new
    /// volume: `"nifti1"`).
    pub fn format_name(&self) -> &'static str {
        if self.nrrd.is_some() { "nrrd" } else { self.header.format.name() }
    }

    /// The header as read (values as stored, no fixes), or the fresh header of a new volume.
    pub fn header(&self) -> &NiftiHeader {
        &self.header
    }

    /// The shape, all dimensions, as nibabel's `img.shape`.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The first three dimensions (missing ones as 1).
    pub fn spatial_shape(&self) -> [usize; 3] {
        let mut s = [1; 3];
        for (d, v) in s.iter_mut().zip(&self.shape) {
            *d = *v;
        }
        s
    }

    /// How many 3-D volumes the data holds (the product of dimensions 4 and up).
    pub fn volume_count(&self) -> usize {
        self.shape.iter().skip(3).product()
    }

    /// The 3-D shape, or an error saying the operation needs 3-D data when a fourth or later
    /// dimension is larger than 1.
    pub fn dims3(&self) -> Result<[usize; 3]> {
        if self.volume_count() != 1 {
            return Err(self.error(
                ErrorKind::InvalidRequest,
                format!("this operation needs a 3-D volume, the data has shape {:?}", self.shape),
            ));
        }
        Ok(self.spatial_shape())
    }

    /// The stored values.
    pub fn data(&self) -> &VoxelData {
        &self.data
    }

    /// The stored values, consuming the volume.
    pub fn into_data(self) -> VoxelData {
        self.data
    }

    /// The stored type.
    pub fn dtype(&self) -> DataType {
        self.data.dtype()
    }

    /// A 3-D `[x, y, z]` view of the stored values, when `T` is the stored type and the volume
    /// is 3-D.
    pub fn view3<T: Element>(&self) -> Result<ArrayView3<'_, T>> {
        let [nx, ny, nz] = self.dims3()?;
        let slice = self.data.as_slice::<T>().ok_or_else(|| {
            self.error(ErrorKind::InvalidRequest, format!("data is {}, not {}", self.dtype(), T::DTYPE))
        })?;
        ArrayView3::from_shape((nx, ny, nz).f(), slice)
            .map_err(|e| self.error(ErrorKind::InvalidRequest, format!("cannot view as 3-D: {e}")))
    }

    /// The voxel-to-world affine (RAS+ mm), chosen as nibabel's `get_best_affine`.
    pub fn affine(&self) -> &Affine {
        &self.affine
    }

    /// `qform_code` and `sform_code` as nibabel uses them (invalid codes read as 0).
    pub fn xform_codes(&self) -> (i32, i32) {
        (
            crate::xform::effective_xform_code(self.header.qform_code),
            crate::xform::effective_xform_code(self.header.sform_code),
        )
    }

    /// Where the affine came from.
    pub fn affine_source(&self) -> AffineSource {
        self.affine_source
    }

    /// The voxel spacing in mm: the column lengths of the affine.
    pub fn spacing(&self) -> [f64; 3] {
        self.affine.spacing()
    }

    /// The axis codes (`RAS`, `LPS`...), `None` when the affine is degenerate.
    pub fn axcodes(&self) -> Option<AxCodes> {
        AxCodes::of_affine(&self.affine)
    }

    /// The axis codes as nibabel's `aff2axcodes` prints them, `?` for a degenerate axis.
    pub fn axcodes_string(&self) -> String {
        axcodes_string(&self.affine)
    }

    /// The scaling that turns stored values into real values, `None` when there is none.
    pub fn scaling(&self) -> Option<Scaling> {
        self.scaling
    }

    /// The header extensions, as raw bytes.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// Writes the real (scaled) values as `f32` into `out`, which must hold one value per
    /// voxel. The scaling is computed in `f64` and rounded once, as nibabel's float64 result
    /// rounded to float32.
    pub fn scaled_f32_into(&self, out: &mut [f32]) -> Result<()> {
        if out.len() != self.data.len() {
            return Err(self.error(
                ErrorKind::InvalidRequest,
                format!("output buffer holds {} values, the volume has {}", out.len(), self.data.len()),
            ));
        }
        fn go<T: Element>(src: &[T], scaling: Option<Scaling>, out: &mut [f32]) {
            match scaling {
                None => out.iter_mut().zip(src).for_each(|(o, v)| *o = v.to_f64() as f32),
                Some(s) => out.iter_mut().zip(src).for_each(|(o, v)| *o = s.apply(v.to_f64()) as f32),
            }
        }
        with_storage!(&self.data, s => go(s.as_slice(), self.scaling, out));
        Ok(())
    }

    /// The real (scaled) values as a new `f32` vector, x-fastest.
    pub fn scaled_f32(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.data.len()];
        // The length matches by construction.
        let _ = self.scaled_f32_into(&mut out);
        out
    }

    /// Minimum, maximum and mean of the real (scaled) values, NaN ignored, computed in `f64`.
    pub fn stats(&self) -> Stats {
        fn go<T: Element>(src: &[T], scaling: Option<Scaling>) -> Stats {
            let s = scaling.unwrap_or(Scaling { slope: 1.0, inter: 0.0 });
            let (mut min, mut max, mut sum, mut n, mut nan) =
                (f64::INFINITY, f64::NEG_INFINITY, 0.0f64, 0usize, 0usize);
            for v in src {
                let x = s.apply(v.to_f64());
                if x.is_nan() {
                    nan += 1;
                    continue;
                }
                min = min.min(x);
                max = max.max(x);
                sum += x;
                n += 1;
            }
            if n == 0 {
                return Stats { min: None, max: None, mean: None, nan_count: nan };
            }
            Stats { min: Some(min), max: Some(max), mean: Some(sum / n as f64), nan_count: nan }
        }
        with_storage!(&self.data, s => go(s.as_slice(), self.scaling))
    }

    /// The volume flipped and permuted by `t`, every voxel keeping its world position
    /// (nibabel's `as_reoriented`). Dimensions beyond the third are carried along.
    pub fn reorient(&self, t: Reorientation) -> Volume {
        if t.is_identity() {
            return self.clone();
        }
        let shape3 = self.spatial_shape();
        let n3 = shape3.iter().product::<usize>();
        fn go<T: Element>(src: &[T], t: Reorientation, shape3: [usize; 3], n3: usize) -> VoxelData {
            let mut out = vec![T::zeroed(); src.len()];
            for (s, o) in src.chunks_exact(n3).zip(out.chunks_exact_mut(n3)) {
                t.apply_into(s, shape3, o);
            }
            T::wrap(Storage::from_vec(out))
        }
        let data = with_storage!(&self.data, s => go(s.as_slice(), t, shape3, n3));
        let out3 = t.output_shape(shape3);
        let mut shape = self.shape.clone();
        if shape.len() < 3 {
            shape.resize(3, 1);
        }
        shape[..3].copy_from_slice(&out3);
        let mut header = self.header.clone();
        header.dim_info = permute_dim_info(header.dim_info, &t);
        Volume {
            header,
            shape,
            data,
            affine: self.affine.matmul(&t.inverse_index_map(shape3)),
            affine_source: AffineSource::Given,
            scaling: self.scaling,
            extensions: self.extensions.clone(),
            path: self.path.clone(),
            nrrd: self.nrrd.clone(),
        }
    }

    /// The transform that takes this volume to axis codes `target`; an error when the affine
    /// is degenerate and has no orientation.
    pub fn reorientation_to(&self, target: AxCodes) -> Result<Reorientation> {
        let codes = self.axcodes().ok_or_else(|| {
            self.error(
                ErrorKind::InvalidRequest,
                format!("cannot reorient: the affine has a degenerate axis (axis codes {})", self.axcodes_string()),
            )
        })?;
        Ok(Reorientation::between(codes, target))
    }

    /// The volume reoriented to `target` axis codes (nibabel: `as_reoriented(ornt_transform(...))`).
    pub fn to_axcodes(&self, target: AxCodes) -> Result<Volume> {
        Ok(self.reorient(self.reorientation_to(target)?))
    }

    /// The volume in the orientation closest to RAS (nibabel's `as_closest_canonical`).
    pub fn to_closest_canonical(&self) -> Result<Volume> {
        self.to_axcodes(AxCodes::RAS)
    }

    /// The volume with its real values stored as `target`, unscaled.
    ///
    /// Integer targets round to nearest (ties to even); a NaN or a value outside the target's
    /// range is an error naming the first such voxel, never a silent wrap or clamp. The report
    /// says how far the largest rounding moved a value.
    pub fn convert(&self, target: DataType) -> Result<(Volume, Conversion)> {
        if target == self.dtype() && self.scaling.is_none_or(|s| s.is_identity()) {
            let mut v = self.clone();
            v.scaling = None;
            return Ok((v, Conversion { max_abs_change: 0.0 }));
        }
        fn to<T: Element, U: Element>(vol: &Volume, src: &[U]) -> Result<(VoxelData, f64)> {
            let s = vol.scaling.unwrap_or(Scaling { slope: 1.0, inter: 0.0 });
            let mut out = Vec::with_capacity(src.len());
            let mut worst = 0.0f64;
            for (i, v) in src.iter().enumerate() {
                let real = s.apply(v.to_f64());
                let Some(c) = T::from_f64_rounded(real) else {
                    return Err(vol.error(
                        ErrorKind::InvalidRequest,
                        format!("cannot store as {}: voxel {i} has value {real}, outside its range", T::DTYPE),
                    ));
                };
                let d = (c.to_f64() - real).abs();
                if d > worst {
                    worst = d;
                }
                out.push(c);
            }
            Ok((T::wrap(Storage::from_vec(out)), worst))
        }
        fn from<T: Element>(vol: &Volume) -> Result<(VoxelData, f64)> {
            with_storage!(&vol.data, s => to::<T, _>(vol, s.as_slice()))
        }
        let (data, worst) = match target {
            DataType::U8 => from::<u8>(self)?,
            DataType::I8 => from::<i8>(self)?,
            DataType::U16 => from::<u16>(self)?,
            DataType::I16 => from::<i16>(self)?,
            DataType::U32 => from::<u32>(self)?,
            DataType::I32 => from::<i32>(self)?,
            DataType::U64 => from::<u64>(self)?,
            DataType::I64 => from::<i64>(self)?,
            DataType::F32 => from::<f32>(self)?,
            DataType::F64 => from::<f64>(self)?,
        };
        let mut v = self.clone();
        v.data = data;
        v.scaling = None;
        // Display range and intent belonged to the old values.
        v.header.cal_min = 0.0;
        v.header.cal_max = 0.0;
        Ok((v, Conversion { max_abs_change: worst }))
    }
}

/// `dim_info` packs the frequency, phase and slice axes (1-based, 0 = unknown) in 2 bits each;
/// after a permutation they name the new axes.
fn permute_dim_info(dim_info: u8, t: &Reorientation) -> u8 {
    let map = |v: u8| -> u8 {
        match v {
            1..=3 => t.to[usize::from(v) - 1].axis as u8 + 1,
            _ => v,
        }
    };
    let freq = map(dim_info & 3);
    let phase = map((dim_info >> 2) & 3);
    let slice = map((dim_info >> 4) & 3);
    freq | (phase << 2) | (slice << 4) | (dim_info & 0xC0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Volume {
        let data: Vec<i16> = (0..24).map(|v| v * 10 - 100).collect();
        Volume::new(
            VoxelData::from_vec(data),
            &[2, 3, 4],
            Affine::from_spacing_origin([-1.0, -1.0, 2.0], [5.0, 5.0, 0.0]),
        )
        .expect("valid")
    }

    #[test]
    fn scaled_values_and_stats() {
        let v = small().with_scaling(2.0, -1024.0).expect("valid scaling");
        let f = v.scaled_f32();
        assert_eq!(f[0], -1224.0);
        assert_eq!(f[23], 2.0 * 130.0 - 1024.0);
        let s = v.stats();
        assert_eq!(s.min, Some(-1224.0));
        assert_eq!(s.max, Some(-764.0));
        assert_eq!(s.nan_count, 0);
        assert!(small().with_scaling(2.0, f64::NAN).is_err());
        assert!(small().with_scaling(0.0, 1.0).is_err());
    }

    #[test]
    fn conversion_refuses_out_of_range_and_reports_rounding() {
        let v = small().with_scaling(0.5, 0.0).expect("valid");
        let (u, c) = v.convert(DataType::I16).expect("fits");
        assert_eq!(c.max_abs_change, 0.0);
        assert_eq!(u.data().as_slice::<i16>().map(|s| s[0]), Some(-50));
        let v = small().with_scaling(0.25, 0.0).expect("valid");
        let (_, c) = v.convert(DataType::I16).expect("fits");
        assert_eq!(c.max_abs_change, 0.5);
        let err = small().convert(DataType::U8).expect_err("negative values");
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(err.to_string().contains("voxel 0 has value -100"), "{err}");
    }

    #[test]
    fn reorientation_to_ras_and_back_is_identity() {
        let v = small();
        assert_eq!(v.axcodes_string(), "LPS");
        let ras = v.to_closest_canonical().expect("oriented");
        assert_eq!(ras.axcodes_string(), "RAS");
        let back = ras.to_axcodes("LPS".parse().expect("codes")).expect("oriented");
        assert_eq!(back.data().as_bytes(), v.data().as_bytes());
        assert!(back.affine().max_abs_diff(v.affine()) < 1e-12);
    }

    #[test]
    fn four_d_is_refused_by_3d_operations() {
        let v = Volume::new(VoxelData::from_vec(vec![0u8; 24]), &[2, 3, 2, 2], Affine::IDENTITY).expect("valid");
        assert_eq!(v.dims3().map_err(|e| e.kind()), Err(ErrorKind::InvalidRequest));
        let one = Volume::new(VoxelData::from_vec(vec![0u8; 12]), &[2, 3, 2, 1], Affine::IDENTITY).expect("valid");
        assert_eq!(one.dims3().ok(), Some([2, 3, 2]));
    }
}
