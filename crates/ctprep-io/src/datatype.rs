//! The voxel types ctprep reads and writes, their NIfTI codes and numpy names, and the
//! [`Element`] trait that lets generic code work on any of them.

use std::fmt;
use std::str::FromStr;

use crate::data::{Storage, VoxelData};

/// A stored voxel type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `uint8`, NIfTI code 2.
    U8,
    /// `int8`, NIfTI code 256.
    I8,
    /// `uint16`, NIfTI code 512.
    U16,
    /// `int16`, NIfTI code 4: the usual CT storage.
    I16,
    /// `uint32`, NIfTI code 768.
    U32,
    /// `int32`, NIfTI code 8.
    I32,
    /// `uint64`, NIfTI code 1280.
    U64,
    /// `int64`, NIfTI code 1024.
    I64,
    /// `float32`, NIfTI code 16.
    F32,
    /// `float64`, NIfTI code 64.
    F64,
}

/// What a NIfTI datatype code means to ctprep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeLookup {
    /// A type ctprep reads and writes.
    Supported(DataType),
    /// A type NIfTI defines but ctprep does not handle, with its NIfTI name.
    Unsupported(&'static str),
    /// Not a NIfTI datatype code.
    Unknown,
}

impl DataType {
    /// Every supported type.
    pub const ALL: [DataType; 10] = [
        DataType::U8,
        DataType::I8,
        DataType::U16,
        DataType::I16,
        DataType::U32,
        DataType::I32,
        DataType::U64,
        DataType::I64,
        DataType::F32,
        DataType::F64,
    ];

    /// The NIfTI `datatype` code.
    pub fn nifti_code(self) -> i16 {
        match self {
            DataType::U8 => 2,
            DataType::I16 => 4,
            DataType::I32 => 8,
            DataType::F32 => 16,
            DataType::F64 => 64,
            DataType::I8 => 256,
            DataType::U16 => 512,
            DataType::U32 => 768,
            DataType::I64 => 1024,
            DataType::U64 => 1280,
        }
    }

    /// Classifies a NIfTI `datatype` code.
    pub fn from_nifti_code(code: i32) -> CodeLookup {
        if let Some(t) = DataType::ALL.into_iter().find(|t| i32::from(t.nifti_code()) == code) {
            return CodeLookup::Supported(t);
        }
        match code {
            1 => CodeLookup::Unsupported("binary (1 bit)"),
            32 => CodeLookup::Unsupported("complex64"),
            128 => CodeLookup::Unsupported("RGB24"),
            1536 => CodeLookup::Unsupported("float128"),
            1792 => CodeLookup::Unsupported("complex128"),
            2048 => CodeLookup::Unsupported("complex256"),
            2304 => CodeLookup::Unsupported("RGBA32"),
            _ => CodeLookup::Unknown,
        }
    }

    /// Bytes per voxel.
    pub fn size(self) -> usize {
        match self {
            DataType::U8 | DataType::I8 => 1,
            DataType::U16 | DataType::I16 => 2,
            DataType::U32 | DataType::I32 | DataType::F32 => 4,
            DataType::U64 | DataType::I64 | DataType::F64 => 8,
        }
    }

    /// numpy's name for the type (`"int16"`, `"float32"`...), as nibabel reports it.
    pub fn numpy_name(self) -> &'static str {
        match self {
            DataType::U8 => "uint8",
            DataType::I8 => "int8",
            DataType::U16 => "uint16",
            DataType::I16 => "int16",
            DataType::U32 => "uint32",
            DataType::I32 => "int32",
            DataType::U64 => "uint64",
            DataType::I64 => "int64",
            DataType::F32 => "float32",
            DataType::F64 => "float64",
        }
    }

    /// The short name used on the command line (`"i16"`, `"f32"`...).
    pub fn short_name(self) -> &'static str {
        match self {
            DataType::U8 => "u8",
            DataType::I8 => "i8",
            DataType::U16 => "u16",
            DataType::I16 => "i16",
            DataType::U32 => "u32",
            DataType::I32 => "i32",
            DataType::U64 => "u64",
            DataType::I64 => "i64",
            DataType::F32 => "f32",
            DataType::F64 => "f64",
        }
    }

    /// Whether the type is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, DataType::F32 | DataType::F64)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.numpy_name())
    }
}

/// The error for a type name that is not a supported voxel type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown voxel type {0:?}: expected one of u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 (or numpy names)")]
pub struct ParseDataTypeError(pub String);

impl FromStr for DataType {
    type Err = ParseDataTypeError;

    /// Accepts the short names (`i16`) and numpy's (`int16`), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DataType::ALL
            .into_iter()
            .find(|t| t.short_name().eq_ignore_ascii_case(s) || t.numpy_name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseDataTypeError(s.to_owned()))
    }
}

/// A stored voxel type as a file holds it: a [`ctprep_core::Voxel`] (whose `to_f64` and
/// `to_f32` convert it) that is plain old data, with a NIfTI code.
pub trait Element: ctprep_core::Voxel + bytemuck::Pod {
    /// The matching [`DataType`].
    const DTYPE: DataType;
    /// The value with its bytes reversed (for big-endian files).
    fn swap_bytes(self) -> Self;
    /// `v` as this type when it is exactly representable after rounding to nearest and in
    /// range; `None` for NaN or out-of-range values.
    fn from_f64_rounded(v: f64) -> Option<Self>;
    /// Wraps typed storage in the [`VoxelData`] variant of this type.
    fn wrap(storage: Storage<Self>) -> VoxelData;
    /// The storage when `data` holds this type.
    fn storage(data: &VoxelData) -> Option<&Storage<Self>>;
}

macro_rules! int_element {
    ($t:ty, $d:ident) => {
        impl Element for $t {
            const DTYPE: DataType = DataType::$d;
            #[inline]
            fn swap_bytes(self) -> Self {
                <$t>::swap_bytes(self)
            }
            #[inline]
            fn from_f64_rounded(v: f64) -> Option<Self> {
                let r = v.round_ties_even();
                // The bounds are exact in f64 for every type up to 32 bits; for 64-bit types the
                // upper bound rounds up to 2^63 / 2^64, so use a strict comparison there.
                if r >= <$t>::MIN as f64 && r < (<$t>::MAX as f64) + 1.0 { Some(r as $t) } else { None }
            }
            fn wrap(storage: Storage<Self>) -> VoxelData {
                VoxelData::$d(storage)
            }
            fn storage(data: &VoxelData) -> Option<&Storage<Self>> {
                if let VoxelData::$d(s) = data { Some(s) } else { None }
            }
        }
    };
}
int_element!(u8, U8);
int_element!(i8, I8);
int_element!(u16, U16);
int_element!(i16, I16);
int_element!(u32, U32);
int_element!(i32, I32);
int_element!(u64, U64);
int_element!(i64, I64);

impl Element for f32 {
    const DTYPE: DataType = DataType::F32;
    fn wrap(storage: Storage<Self>) -> VoxelData {
        VoxelData::F32(storage)
    }
    fn storage(data: &VoxelData) -> Option<&Storage<Self>> {
        if let VoxelData::F32(s) = data { Some(s) } else { None }
    }
    #[inline]
    fn swap_bytes(self) -> Self {
        f32::from_bits(self.to_bits().swap_bytes())
    }
    #[inline]
    fn from_f64_rounded(v: f64) -> Option<Self> {
        let r = v as f32;
        (r.is_finite() || !v.is_finite()).then_some(r)
    }
}

impl Element for f64 {
    const DTYPE: DataType = DataType::F64;
    fn wrap(storage: Storage<Self>) -> VoxelData {
        VoxelData::F64(storage)
    }
    fn storage(data: &VoxelData) -> Option<&Storage<Self>> {
        if let VoxelData::F64(s) = data { Some(s) } else { None }
    }
    #[inline]
    fn swap_bytes(self) -> Self {
        f64::from_bits(self.to_bits().swap_bytes())
    }
    #[inline]
    fn from_f64_rounded(v: f64) -> Option<Self> {
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for t in DataType::ALL {
            assert_eq!(DataType::from_nifti_code(i32::from(t.nifti_code())), CodeLookup::Supported(t));
            assert_eq!(t.short_name().parse::<DataType>(), Ok(t));
            assert_eq!(t.numpy_name().parse::<DataType>(), Ok(t));
        }
        assert_eq!(DataType::from_nifti_code(32), CodeLookup::Unsupported("complex64"));
        assert_eq!(DataType::from_nifti_code(999), CodeLookup::Unknown);
    }

    #[test]
    fn integer_conversion_checks_range() {
        assert_eq!(i16::from_f64_rounded(-1024.4), Some(-1024));
        assert_eq!(i16::from_f64_rounded(32767.4), Some(32767));
        assert_eq!(i16::from_f64_rounded(32767.6), None);
        assert_eq!(u8::from_f64_rounded(-0.6), None);
        assert_eq!(u8::from_f64_rounded(f64::NAN), None);
        assert_eq!(i64::from_f64_rounded(9.3e18), None);
        assert_eq!(u64::from_f64_rounded(1.8e19), Some(18_000_000_000_000_000_000));
        assert_eq!(f32::from_f64_rounded(1e300), None);
        assert!(f32::from_f64_rounded(f64::NAN).is_some_and(f32::is_nan));
    }
}
