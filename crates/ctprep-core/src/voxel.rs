//! The stored voxel types kernels read: the ten numeric types NIfTI volumes hold, with the
//! conversions every kernel needs.

/// A stored voxel type (u8 i8 u16 i16 u32 i32 u64 i64 f32 f64).
///
/// Kernel crates take data in its stored type and convert as they read, so a volume is never
/// widened to `f64` as a whole.
pub trait Voxel: Copy + Default + PartialEq + PartialOrd + Send + Sync + std::fmt::Debug + 'static {
    /// numpy's name for the type (`"int16"`, `"float32"`, ...).
    const NAME: &'static str;
    /// The value as `f64` (exact for every type but the 64-bit integers beyond 2^53).
    fn to_f64(self) -> f64;
    /// The value as `f32`, rounded to nearest (exact for the 8- and 16-bit integers and `f32`).
    fn to_f32(self) -> f32;
    /// `v` as this type when it is exactly representable (integers: an integral value in
    /// range; `f32`: a value that survives the round trip), else `None`.
    fn from_f64_exact(v: f64) -> Option<Self>;
}

macro_rules! voxel_int {
    ($($t:ty = $name:literal),*) => {$(
        impl Voxel for $t {
            const NAME: &'static str = $name;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn to_f32(self) -> f32 {
                self as f32
            }
            fn from_f64_exact(v: f64) -> Option<Self> {
                // `as` saturates, so an integral value that comes back unchanged (compared as
                // i128, which holds 2^64 exactly) was in range.
                let t = v as $t;
                (v.fract() == 0.0 && t as i128 == v as i128).then_some(t)
            }
        }
    )*};
}
voxel_int!(
    u8 = "uint8",
    i8 = "int8",
    u16 = "uint16",
    i16 = "int16",
    u32 = "uint32",
    i32 = "int32",
    u64 = "uint64",
    i64 = "int64"
);

impl Voxel for f32 {
    const NAME: &'static str = "float32";
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f64_exact(v: f64) -> Option<Self> {
        let t = v as f32;
        (f64::from(t) == v || v.is_nan()).then_some(t)
    }
}

impl Voxel for f64 {
    const NAME: &'static str = "float64";
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn from_f64_exact(v: f64) -> Option<Self> {
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_conversions() {
        assert_eq!(u8::from_f64_exact(255.0), Some(255));
        assert_eq!(u8::from_f64_exact(256.0), None);
        assert_eq!(u8::from_f64_exact(-1.0), None);
        assert_eq!(u64::from_f64_exact(18_446_744_073_709_551_616.0), None);
        assert_eq!(i64::from_f64_exact(-9_223_372_036_854_775_808.0), Some(i64::MIN));
        assert_eq!(i16::from_f64_exact(-1024.0), Some(-1024));
        assert_eq!(i16::from_f64_exact(0.5), None);
        assert_eq!(i32::from_f64_exact(f64::NAN), None);
        assert_eq!(f32::from_f64_exact(0.1), None);
        assert_eq!(f32::from_f64_exact(-1024.0), Some(-1024.0));
        assert!(f32::from_f64_exact(f64::NAN).is_some_and(f32::is_nan));
        assert_eq!(i16::NAME, "int16");
        assert_eq!((-3i16).to_f32(), -3.0);
    }
}
